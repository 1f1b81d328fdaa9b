"""Per-area tables (harm index, Gi* layers) made fit for an audience: blanks plus a flag.

The CSV/GeoPackage form of the JSON contract: a suppressed cell is empty
(NaN), never the text "<5", and a ``suppressed`` column flags the row, so
numeric columns stay numeric for GIS and spreadsheets. This is primary
suppression cell by cell plus the guarded columns that would give a count
back; the analyses that call it (``harm index``, ``hotspots``) add their own
secondary suppression with :func:`realimpact.disclosure.suppress.protect`
(months against the period total, areas against the all-area total, types
against all crime) and dominance with :mod:`realimpact.disclosure.dominance`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

DEFAULT_THRESHOLD = 5


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
