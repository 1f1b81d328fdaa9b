"""The harm index: crime counts per area and period, weighted by harm, ranked.

Two areas with the same number of crimes can differ a hundredfold in harm; the
index makes that visible and ranks areas by harm rather than volume (seed 001:
"new, harm-focused measures should be used"). The arithmetic is a pure function
over a counts frame (:func:`harm_index_from_counts`); :func:`harm_index` reads
the counts from the store, aggregating inside DuckDB.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from realimpact._progress import ProgressFn
from realimpact.errors import ValidationError
from realimpact.harm.weights import (
    CRIME_TYPES,
    WeightSet,
    _suggest,
    get_weights,
    object_of_search_map,
)
from realimpact.periods import check_month

# Harm totals are rounded to this many decimals before ranking, so two areas
# whose weighted sums are equal in exact arithmetic tie whatever the float
# summation order.
RANK_DECIMALS = 9
# Record tables an index can read: crimes by crime type, searches by object of search.
INDEX_TABLES = ("crimes", "stop_searches")


def check_crime_types(crime_types: Sequence[str] | None) -> list[str] | None:
    if not crime_types:
        return None
    for ct in crime_types:
        if ct not in CRIME_TYPES:
            raise ValidationError(
                f"--crime-type: unknown crime type {ct!r}{_suggest(ct, CRIME_TYPES)}"
            )
    return [ct for ct in CRIME_TYPES if ct in set(crime_types)]


def rank_desc(values: pd.Series, by: pd.Series) -> pd.Series:
    """Rank 1 = most harm within each group; ties share the best rank ('min')."""
    return (
        values.round(RANK_DECIMALS).groupby(by).rank(ascending=False, method="min").astype("int64")
    )


def _sorted_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes into the sorted unique values (hash-based: object-array sorts are slow)."""
    codes, uniques = pd.factorize(values)
    uniques = np.asarray(uniques, dtype=object)
    order = np.argsort(uniques)
    remap = np.empty(len(order), dtype=np.int64)
    remap[order] = np.arange(len(order))
    return remap[codes], uniques[order]


def finish_index(
    wide: pd.DataFrame | Mapping[str, np.ndarray],
    weights: dict[str, float],
    categories: Sequence[str],
    population: pd.DataFrame | None = None,
    areas: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Complete wide counts (area_id, period, one column per category; one row per pair).

    Every area (seen in any period, plus ``areas``) gets a row in every period,
    with zero counts where it had none, so ranks compare like with like.
    Columns: area_id, period, <categories>, count, harm, [population,
    count_per_1000, harm_per_1000], rank; sorted by period then area_id.
    Dense numpy throughout: the frame is periods x areas,
    known in advance.
    """
    from scipy.stats import rankdata

    cats = list(categories)
    extra = np.asarray(list(areas or []), dtype=object)
    a_code, all_areas = _sorted_codes(np.concatenate([np.asarray(wide["area_id"]), extra]))
    a_code = a_code[: len(a_code) - len(extra)]
    p_code, periods = _sorted_codes(np.asarray(wide["period"]))
    n_a, n_p = len(all_areas), len(periods)
    cell = p_code * n_a + a_code
    counts = np.zeros((n_p * n_a, len(cats)), dtype=np.int64)
    if cats:
        counts[cell] = np.column_stack([np.asarray(wide[c], dtype=np.int64) for c in cats])
    w = np.array([float(weights[c]) for c in cats], dtype=float)
    harm = counts @ w if cats else np.zeros(n_p * n_a)
    rank = rankdata(-harm.reshape(n_p, n_a).round(RANK_DECIMALS), method="min", axis=1)
    a_idx = np.tile(np.arange(n_a), n_p)
    out = pd.DataFrame(counts, columns=cats)
    out.insert(0, "area_id", all_areas[a_idx])
    out.insert(1, "period", np.repeat(periods, n_a))
    total = counts.sum(axis=1)
    out["count"] = total
    out["harm"] = harm
    if population is not None:
        pos = pd.Index(population["area_id"]).get_indexer(all_areas)
        pop_vals = np.where(pos >= 0, population["population"].to_numpy(float)[pos], np.nan)
        pop = pop_vals[a_idx]
        ok = pop > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            out["population"] = pop
            out["count_per_1000"] = np.where(ok, total / pop * 1000, np.nan)
            out["harm_per_1000"] = np.where(ok, harm / pop * 1000, np.nan)
    out["rank"] = rank.reshape(-1).astype(np.int64)
    return out


def harm_index_from_counts(
    counts: pd.DataFrame,
    weights: WeightSet | dict[str, float],
    population: pd.DataFrame | None = None,
    crime_types: Sequence[str] | None = None,
    period_col: str = "month",
) -> pd.DataFrame:
    """Harm index from long counts (area_id, <period_col>, crime_type, n).

    This is the store-free core, for notebooks and tests; ``population`` is
    (area_id, population).
    """
    w = weights.weights if isinstance(weights, WeightSet) else dict(weights)
    cats = check_crime_types(crime_types) or list(CRIME_TYPES)
    unknown = sorted(set(counts["crime_type"]) - set(CRIME_TYPES))
    if unknown:
        raise ValidationError(f"counts: crime_type: unknown {unknown}")
    sub = counts[counts["crime_type"].isin(cats)].rename(columns={period_col: "period"})
    wide = (
        sub.pivot_table(
            index=["area_id", "period"],
            columns="crime_type",
            values="n",
            aggfunc="sum",
            fill_value=0,
        )
        .reindex(columns=cats, fill_value=0)
        .reset_index()
    )
    wide.columns.name = None
    return finish_index(wide, w, cats, population)


def harm_index(
    store: Any,
    layer: str = "lsoa",
    period: str = "month",
    weights: str | WeightSet = "cchi",
    crime_types: Sequence[str] | None = None,
    month_from: str | None = None,
    month_to: str | None = None,
    table: str = "crimes",
    partner: Sequence[str] | None = None,
    progress: ProgressFn | None = None,
) -> pd.DataFrame:
    """Harm index per area of ``layer`` and ``period`` from the store.

    ``partner`` names partner indicators (``realimpact ingest partner``) to show
    beside crime as columns ``partner:<indicator>`` (summed per area and
    period; not part of ``harm``, whose unit they do not share). Yearly partner
    values appear only in a yearly index.

    ``table='stop_searches'`` weighs searches by the crime type of their object
    of search (data/object_of_search.yaml): where police attention went,
    weighted by the harm it aimed at. The result's ``attrs`` carry the weights
    used and how many areas matched a population (``attrs['population']``).
    """
    from realimpact.store import areas as store_areas
    from realimpact.store import harm as store_harm

    for option, month in (("--from", month_from), ("--to", month_to)):
        if month is not None:
            check_month(month, option)
    if table not in INDEX_TABLES:
        raise ValidationError(f"--table: {table!r} is not one of {', '.join(INDEX_TABLES)}")
    ws = weights if isinstance(weights, WeightSet) else get_weights(weights, store)
    cats = check_crime_types(crime_types) or list(CRIME_TYPES)
    if progress:
        progress("harm index", 0, 2)
    wide = store_harm.category_counts(
        store,
        cats,
        slots=list(CRIME_TYPES),
        layer=layer,
        period=period,
        table=table,
        month_from=month_from,
        month_to=month_to,
        category_map=object_of_search_map() if table == "stop_searches" else None,
    )
    if progress:
        progress("harm index", 1, 2)
    area_ids = None
    info = store_areas.layer_info(store, layer)
    if info is not None and info.get("kind") != "codes":
        area_ids = store_areas.layer_areas(store, layer)["area_id"].tolist()
    pop_info = store_harm.population_info(store, layer)
    pop = store_harm.population(store, layer) if pop_info else None
    out = finish_index(wide, ws.weights, cats, pop, area_ids)
    if partner:
        out = _add_partner(store, out, layer, period, partner)
    if progress:
        progress("harm index", 1, 2)
    out.attrs = {
        "layer": layer,
        "period": period,
        "table": table,
        "weights": {"name": ws.name, "unit": ws.unit, "kind": ws.kind},
        "crime_types": cats,
        "population": _population_report(out, pop_info),
    }
    return out


def _add_partner(
    store: Any, out: pd.DataFrame, layer: str, period: str, indicators: Sequence[str]
) -> pd.DataFrame:
    from realimpact.store import harm as store_harm

    known = set(store_harm.partner_summary(store)["indicator"])
    for ind in indicators:
        if ind not in known:
            raise ValidationError(
                f"--partner: no partner indicator {ind!r};"
                f" loaded: {', '.join(sorted(known)) or 'none'}"
            )
    vals = store_harm.partner_values(store, layer, indicators, period)
    wide = vals.pivot_table(
        index=["area_id", "period"], columns="indicator", values="value", aggfunc="sum"
    )
    wide = wide.reindex(columns=list(indicators))
    wide.columns = [f"partner:{c}" for c in wide.columns]
    merged = out.merge(wide.reset_index(), on=["area_id", "period"], how="left")
    merged.attrs = out.attrs
    return merged


def _population_report(out: pd.DataFrame, pop_info: dict | None) -> dict[str, Any] | None:
    if pop_info is None:
        return None
    areas = out["area_id"].unique()
    matched = out.loc[out["population"].notna(), "area_id"].unique()
    return {
        "source": pop_info["source"],
        "areas": len(areas),
        "areas_matched": len(matched),
        "areas_unmatched": len(areas) - len(matched),
        "note": (
            "rates only where the area id is in the population table; police.uk records"
            " before 2022 carry 2011 LSOA codes and Census 2021 uses 2021 codes"
        ),
    }


def partner_index(df: pd.DataFrame, threshold: int = 5) -> pd.DataFrame:
    """The harm index fit to share with partners (DESIGN.md conventions).

    Counts below ``threshold`` are blanked, and with them the harm, rates and
    rank of that area and period: with public weights, the harm of one or two
    crimes names their type. The per-type columns are dropped, because with
    the total shown a reader could recover any blanked type by subtraction.
    Partner indicator columns are counts too and are blanked on their own.
    """
    from realimpact.report.safe import partner_frame

    partner_cols = [c for c in df.columns if str(c).startswith("partner:")]
    derived = ("harm", "harm_per_1000", "count_per_1000", "rank")
    return partner_frame(
        df,
        counts=["count", *partner_cols],
        guarded={c: "count" for c in derived},
        drop=[c for c in CRIME_TYPES if c in df.columns],
        threshold=threshold,
    )


def index_to_dict(df: pd.DataFrame, top: int | None = None) -> dict[str, Any]:
    """JSON shape of ``harm index``: metadata plus one object per area and period."""
    rows = df if top is None else df[df["rank"] <= top]
    rows = rows.sort_values(["period", "rank", "area_id"])
    return {**df.attrs, "rows_total": len(df), "rows": rows.to_dict(orient="records")}
