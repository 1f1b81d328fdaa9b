"""A map of the harm index: where harm, not volume, is concentrated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from realimpact.errors import InputError

__all__ = ["harm_map"]


def harm_map(
    index: pd.DataFrame, areas: pd.DataFrame, path: str | Path, *, period: str | None = None
) -> dict[str, Any]:
    """PNG of one period of a harm index (default: its last) in quantile classes.

    ``index`` is :func:`realimpact.harm.index.harm_index` output (or its
    :func:`~realimpact.harm.index.partner_index`, whose blanked areas are
    hatched, not coloured); ``areas`` has ``area_id`` and ``geometry`` (BNG).
    """
    from realimpact.hotspots.maps import choropleth_map

    if index.empty:
        raise InputError(f"--map {path}: the index is empty: nothing to map")
    if areas["geometry"].isna().any():
        raise InputError(
            f"--map {path}: layer {index.attrs.get('layer', '?')!r} has no boundaries; load them"
            " with `realimpact ingest boundaries` or map a grid layer"
        )
    periods = sorted(index["period"].unique())
    period = period or periods[-1]
    rows = index[index["period"] == period]
    merged = areas[["area_id", "geometry"]].merge(rows, on="area_id", how="left")
    partner = index.attrs.get("audience") in ("partner", "public")
    weights = index.attrs.get("weights") or {}
    note = (
        f"harm in {weights.get('unit', '?')}; five quantile classes of the areas with harm;"
        f" {len(merged):,} areas; no basemap"
        + (
            f"; {index.attrs.get('audience')} view: areas below"
            f" {index.attrs.get('suppression_threshold', 5)} records or with a dominated harm"
            " not shown"
            if partner
            else ""
        )
    )
    result = choropleth_map(
        merged["geometry"],
        merged["harm"].fillna(0.0),
        path,
        title=f"Harm index - {index.attrs.get('layer', '')}, {period}",
        label=f"harm, weights {weights.get('name', '?')}",
        note=note,
        hidden=merged["suppressed"].fillna(False).astype(bool) if partner else None,
    )
    result["period"] = period
    return result
