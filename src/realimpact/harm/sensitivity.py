"""How much do priorities depend on the weighting? Compare two harm indices.

A ranking of areas by CCHI harm and one by community priorities can agree or
not; users must see how much before acting on either. For each
period: Spearman's rho and Kendall's tau-b between the two harm totals over the
same areas (scipy.stats), and the overlap of the top-N areas.

Areas with no harm under either weighting in a period (no records at all)
are left out of that period's comparison: thousands of tied zeros would
otherwise push every correlation towards 1 and hide real disagreement among
the areas that have crime. Their number is reported as ``areas_without_harm``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from realimpact.errors import ValidationError
from realimpact.harm.index import RANK_DECIMALS, harm_index
from realimpact.harm.weights import WeightSet, get_weights


def compare_indices(a: pd.DataFrame, b: pd.DataFrame, top: int = 10) -> dict[str, Any]:
    """Rank agreement between two harm-index frames (area_id, period, harm)."""
    if top < 1:
        raise ValidationError(f"--top: {top} must be at least 1")
    m = a[["area_id", "period", "harm"]].merge(
        b[["area_id", "period", "harm"]], on=["area_id", "period"], suffixes=("_a", "_b")
    )
    from scipy import stats

    per_period = []
    for period, whole in m.groupby("period", sort=True):
        g = whole[(whole["harm_a"] != 0) | (whole["harm_b"] != 0)]
        ha = g["harm_a"].round(RANK_DECIMALS)
        hb = g["harm_b"].round(RANK_DECIMALS)
        rho = stats.spearmanr(ha, hb).statistic if len(g) > 1 else float("nan")
        tau = stats.kendalltau(ha, hb).statistic if len(g) > 1 else float("nan")
        top_a = _top(g.assign(h=ha), top)
        top_b = _top(g.assign(h=hb), top)
        shared = sorted(top_a & top_b)
        per_period.append(
            {
                "period": period,
                "areas": len(g),
                "areas_without_harm": len(whole) - len(g),
                "spearman": float(rho),
                "kendall": float(tau),
                "top_n": top,
                "top_overlap": len(shared),
                "top_overlap_share": len(shared) / min(top, len(g)) if len(g) else float("nan"),
                "top_a_only": sorted(top_a - top_b),
                "top_b_only": sorted(top_b - top_a),
            }
        )
    return {"periods": per_period, "summary": _summary(per_period)}


def _top(g: pd.DataFrame, n: int) -> set[str]:
    """The n most harmful areas; ties at the cut-off broken by area id for stability."""
    return set(g.sort_values(["h", "area_id"], ascending=[False, True]).head(n)["area_id"])


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    if not rows:
        return {"periods": 0}
    df = pd.DataFrame(rows)
    return {
        "periods": len(df),
        "spearman_mean": float(df["spearman"].mean()),
        "spearman_min": float(df["spearman"].min()),
        "kendall_mean": float(df["kendall"].mean()),
        "kendall_min": float(df["kendall"].min()),
        "top_overlap_share_mean": float(df["top_overlap_share"].mean()),
    }


def compare_weights(
    store: Any,
    weights_a: str | WeightSet,
    weights_b: str | WeightSet,
    layer: str = "lsoa",
    period: str = "month",
    crime_types: Sequence[str] | None = None,
    month_from: str | None = None,
    month_to: str | None = None,
    top: int = 10,
    table: str = "crimes",
) -> dict[str, Any]:
    """``harm index --compare-weights A,B``: the same areas and periods under two weightings."""
    wa = weights_a if isinstance(weights_a, WeightSet) else get_weights(weights_a, store)
    wb = weights_b if isinstance(weights_b, WeightSet) else get_weights(weights_b, store)
    kw = dict(
        layer=layer,
        period=period,
        crime_types=crime_types,
        month_from=month_from,
        month_to=month_to,
        table=table,
    )
    a = harm_index(store, weights=wa, **kw)
    b = harm_index(store, weights=wb, **kw)
    return {
        "layer": layer,
        "period": period,
        "weights_a": wa.name,
        "weights_b": wb.name,
        **compare_indices(a, b, top),
    }
