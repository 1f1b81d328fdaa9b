"""Make a results dict safe to share with partners (docs/architecture.md conventions).

Partner and public outputs never contain points, names or pseudonymous ids,
and never show a count below the threshold (default 5): small counts can
identify a victim, a suspect or a household. This module works on the data,
before anything is drawn, so a partner report cannot leak what it was never
given. Derived figures that would let a reader recompute a suppressed count
(gross and net effects, differences of small counts) are suppressed with it.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from realimpact.errors import ValidationError

DEFAULT_THRESHOLD = 5

# keys whose values are counts of people or events
COUNT_KEYS = frozenset(
    {
        "before",
        "after",
        "count",
        "value_count",
        "n_records",
        "records",
        "crimes",
        "searches",
        "k",
        "m",
        "n_before",
        "n_after",
    }
)
# keys that hold identifying detail: dropped from partner outputs
DROP_KEYS = frozenset(
    {
        "points",
        "markets",
        "targets",
        "respondent_id",
        "respondent_ids",
        "names",
        "persons",
        "people",
        "groups",
        "truth",
        "crime_ids",
        "file",
        "files",
        "line",
        "lines",
    }
)
# derived values that difference small counts
DERIVED_FROM_COUNTS = ("gross_effect", "net_effect", "total_net_effect", "count_effect")


class Suppressed(str):
    """A count below the threshold, shown as '<5'; still a str for JSON and templates."""

    __slots__ = ()


def suppressed(threshold: int = DEFAULT_THRESHOLD) -> Suppressed:
    return Suppressed(f"<{threshold}")


def is_small(value: Any, threshold: int = DEFAULT_THRESHOLD) -> bool:
    """True for a count that must not be shown (0 < value < threshold)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return 0 < value < threshold


def suppress_count(value: Any, threshold: int = DEFAULT_THRESHOLD) -> Any:
    return suppressed(threshold) if is_small(value, threshold) else value


def suppress_series(values: list[Any], threshold: int = DEFAULT_THRESHOLD) -> list[Any]:
    """Monthly counts with small cells replaced by None (drawn as gaps)."""
    return [None if is_small(v, threshold) else v for v in values]


def partner_results(results: dict[str, Any], threshold: int = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """A deep copy of ``results`` fit for partners: no points or ids, small counts hidden."""
    safe = _walk(copy.deepcopy(results), threshold)
    for ind in safe.get("indicators", []) or []:
        if not isinstance(ind, dict):
            continue
        hidden = any(
            isinstance((ind.get(r) or {}).get(k), Suppressed)
            for r in ("target", "buffer", "control")
            for k in ("before", "after")
            if isinstance(ind.get(r), dict)
        )
        for r in ("target", "buffer", "control"):
            blk = ind.get(r)
            if isinstance(blk, dict):
                # a monthly rate times the months gives the hidden count back
                for k in ("before", "after"):
                    if isinstance(blk.get(k), Suppressed) and f"per_month_{k}" in blk:
                        blk[f"per_month_{k}"] = suppressed(threshold)
        if hidden:
            v = ind.get("verdict")
            if isinstance(v, dict):
                # crimes moved into the buffer difference the small counts too
                for k in ("displacement_estimate", "displacement_ci_low", "displacement_ci_high"):
                    if k in v and v[k] is not None:
                        v[k] = suppressed(threshold)
            for block in ("wdq", "did", "wdd"):
                b = ind.get(block)
                if isinstance(b, dict):
                    for k in DERIVED_FROM_COUNTS:
                        if k in b:
                            b[k] = suppressed(threshold)
            note = (
                f"Some counts are below {threshold} and are not shown; "
                "figures that would reveal them are withheld."
            )
            notes = ind.setdefault("notes", [])
            if note not in notes:  # results made safe twice say it once
                notes.append(note)
        series = ind.get("series")
        if isinstance(series, dict):
            for role in ("target", "buffer", "control"):
                if isinstance(series.get(role), list):
                    series[role] = suppress_series(series[role], threshold)
    _suppress_operation_harms(safe, threshold)
    m = safe.get("map")
    if isinstance(m, dict):
        m.pop("points", None)
    plan = safe.get("plan")
    if isinstance(plan, dict):
        plan.pop("targets", None)
    safe["audience"] = "partner"
    safe["suppression_threshold"] = threshold
    return safe


def _suppress_operation_harms(safe: dict[str, Any], threshold: int) -> None:
    """Monthly rates of a monitored harm are hidden when the counts behind them are."""
    net = safe.get("net_harm")
    if not isinstance(net, dict):
        return
    by_id = {i.get("id"): i for i in safe.get("indicators", []) or [] if isinstance(i, dict)}
    for h in net.get("operation_harms") or []:
        if not isinstance(h, dict):
            continue
        t = (by_id.get(h.get("monitor")) or {}).get("target")
        if isinstance(t, dict) and any(
            isinstance(t.get(k), Suppressed) for k in ("before", "after")
        ):
            for k in ("before_per_month", "after_per_month", "change_pct", "crimes_prevented"):
                if k in h:
                    h[k] = suppressed(threshold)
            what = h.get("monitor_label") or h.get("label") or "the monitored indicator"
            h["summary"] = f"{what}: counts below {threshold}, not shown"


def _marker(v: Any) -> Any:
    """A '<5' read back from results.json is a suppressed count again, not a word."""
    if isinstance(v, str) and not isinstance(v, Suppressed) and re.fullmatch(r"<\d+", v):
        return Suppressed(v)
    return v


def _walk(o: Any, threshold: int) -> Any:
    if isinstance(o, dict):
        out = {}
        for k, v in o.items():
            if k in DROP_KEYS:
                continue
            if k in COUNT_KEYS:
                out[k] = (
                    suppress_count(_marker(v), threshold)
                    if not isinstance(v, dict | list)
                    else _walk(v, threshold)
                )
            elif k == "n" and isinstance(v, int | float | str):
                out[k] = suppress_count(_marker(v), threshold)
            else:
                out[k] = _walk(v, threshold)
        return out
    if isinstance(o, list):
        return [_walk(v, threshold) for v in o]
    return o


AUDIENCES = ("analyst", "partner")


def check_audience(audience: str) -> str:
    """``audience`` if it is one of :data:`AUDIENCES`, else a ValidationError naming --audience."""
    if audience not in AUDIENCES:
        raise ValidationError(f"--audience: {audience!r} is not one of {', '.join(AUDIENCES)}")
    return audience


def partner_frame(
    frame: pd.DataFrame,
    *,
    counts: Sequence[str],
    guarded: Mapping[str, str] | None = None,
    drop: Sequence[str] = (),
    threshold: int = DEFAULT_THRESHOLD,
) -> pd.DataFrame:
    """A per-area table fit for partners: small counts blanked, with a flag.

    ``counts`` are count columns: a cell with 0 < n < ``threshold`` becomes
    empty (NaN). ``guarded`` maps a derived column (a harm total, a rate, a
    rank, a z-score) to the count column it would reveal: it is blanked
    wherever that count is. ``drop`` removes columns a reader could difference
    against the totals (per-type breakdowns) or invert (z-scores given the
    neighbours' values). Blank plus a ``suppressed`` column, rather than the
    text "<5", keeps numeric columns numeric for GIS and spreadsheets.
    """
    out = frame.drop(columns=[c for c in drop if c in frame.columns]).copy()
    any_small = np.zeros(len(out), dtype=bool)
    small_by_col = {}
    for c in counts:
        if c not in out.columns:
            continue
        v = pd.to_numeric(out[c], errors="coerce").to_numpy(dtype=float)
        small = (v > 0) & (v < threshold)
        small_by_col[c] = small
        any_small |= small
        out[c] = np.where(small, np.nan, v)
    for col, guard in (guarded or {}).items():
        if col in out.columns and guard in small_by_col:
            out[col] = out[col].where(~small_by_col[guard], np.nan)
    out["suppressed"] = any_small
    out.attrs = {
        **frame.attrs,
        "audience": "partner",
        "suppression_threshold": threshold,
        "rows_suppressed": int(any_small.sum()),
    }
    return out
