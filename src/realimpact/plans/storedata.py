"""What a plan needs from the store: layers, area ids, months held, area-month counts.

Reads only through ``realimpact.store`` (queries, areas, markets), so the plan
checks and the power calculation see the same numbers as the evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from realimpact.plans.model import Indicator
from realimpact.store import Store


def layer_names(store: Store) -> list[str]:
    return store.layer_names()


def existing_area_ids(store: Store, layer: str, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` the layer holds; for ``lsoa`` a code in the records counts too."""
    from realimpact.store import areas as store_areas

    have = set(store_areas.layer_areas(store, layer)["area_id"])
    if layer == "lsoa":
        have |= set(store_areas.lsoa_codes(store)["area_id"])
    return {a for a in ids if a in have}


def area_geometries(store: Store, layer: str, ids: Sequence[str]) -> dict[str, Any]:
    """Shapely geometries (BNG) of the listed areas that have one."""
    import shapely

    from realimpact.store import areas as store_areas

    df = store_areas.layer_areas(store, layer)
    df = df[df["area_id"].isin(list(ids)) & df["geom"].notna()]
    return {a: shapely.from_wkb(g) for a, g in zip(df["area_id"], df["geom"], strict=True)}


def month_counts(store: Store, table: str) -> dict[str, int]:
    """Records held per month in ``table`` (crimes | stop_searches | outcomes)."""
    df = store.sql(f"SELECT month, count(*) AS n FROM {table} GROUP BY month ORDER BY month")
    return dict(zip(df["month"], df["n"].astype(int), strict=True))


def distinct_values(store: Store, table: str, column: str) -> set[str]:
    df = store.sql(f"SELECT DISTINCT {column} AS v FROM {table} WHERE {column} IS NOT NULL")
    return set(df["v"].astype(str))


def _filters(ind: Indicator) -> tuple[list[str] | None, dict[str, list[str]] | None]:
    if not ind.crime_types:
        return None, None
    if ind.table == "crimes":
        return list(ind.crime_types), None
    return None, {"object_of_search": list(ind.crime_types)}


def indicator_month_counts(store: Store, ind: Indicator, months: Sequence[str]) -> dict[str, int]:
    """Matching records per month over the whole store (any area), for the given months."""
    if ind.table is None or not months:
        return {}
    where, params = ["month >= ?", "month <= ?"], [min(months), max(months)]
    if ind.crime_types:
        col = "crime_type" if ind.table == "crimes" else "object_of_search"
        where.append(f"{col} IN ({', '.join('?' for _ in ind.crime_types)})")
        params += list(ind.crime_types)
    df = store.sql(
        f"SELECT month, count(*) AS n FROM {ind.table} WHERE {' AND '.join(where)} GROUP BY month",
        params,
    )
    return dict(zip(df["month"], df["n"].astype(int), strict=True))


def baseline_months_held(
    store: Store, ind: Indicator, *, force: str | None = None
) -> tuple[list[str], list[str]]:
    """(baseline months the store holds ``ind.table`` data for, baseline months it lacks).

    A month with no file is unknown, not zero: callers leave the second list out.
    """
    from realimpact.store.queries import months_present

    months = list(ind.baseline.months) if ind.baseline else []
    held = set(months_present(store, ind.table or "crimes", force=force))
    return [m for m in months if m in held], [m for m in months if m not in held]


def area_month_panel(
    store: Store,
    layer: str,
    ind: Indicator,
    areas: Sequence[str],
    months: Sequence[str],
    *,
    force: str | None = None,
) -> pd.DataFrame:
    """Zero-filled counts: one row per (area, month) for the listed areas and months.

    Columns ``area_id, month, n``. Zeros are filled only in the months given,
    which must be months the store holds data for (:func:`baseline_months_held`):
    a month with no data is unknown, never a zero. Raises ValidationError (from
    the store's queries) when the layer cannot place this indicator's records in areas.
    """
    from realimpact.store.queries import record_counts

    crime_types, filters = _filters(ind)
    counts = record_counts(
        store, layer=layer, table=ind.table or "crimes", by=("month",),
        crime_types=crime_types, month_from=min(months), month_to=max(months), filters=filters,
        force=force,
    )  # fmt: skip
    counts = counts[counts["area_id"].isin(list(areas)) & counts["month"].isin(list(months))]
    full = pd.MultiIndex.from_product([list(areas), list(months)], names=["area_id", "month"])
    n = counts.groupby(["area_id", "month"])["n"].sum().reindex(full, fill_value=0)
    return n.astype(np.int64).reset_index()


def registry_markets(store: Store, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Market-registry attributes of the listed markets found in the store ({} if no registry)."""
    if not ids or not store.table_exists("market_entities"):
        return {}
    from realimpact.store.markets import load_entities

    return {
        e["id"]: e["attrs"] | {"kind": e["kind"]} for e in load_entities(store) if e["id"] in ids
    }


def partner_baseline(store: Store, indicator: str, months: Sequence[str]) -> tuple[int, int]:
    """(rows of partner indicator ``indicator`` in the store, rows inside ``months``).

    Periods may be months, quarters (YYYY-Qn) or years; a quarter or year counts as
    inside when it overlaps the months.
    """
    if not store.table_exists("partner_indicators"):
        return 0, 0
    total = int(store.scalar(
        "SELECT count(*) FROM partner_indicators WHERE indicator = ?", [indicator]
    ))  # fmt: skip
    if total == 0 or not months:
        return total, 0
    quarters = sorted({f"{m[:4]}-Q{(int(m[5:7]) + 2) // 3}" for m in months})
    years = sorted({m[:4] for m in months})
    periods = list(months) + quarters + years
    inside = int(store.scalar(
        "SELECT count(*) FROM partner_indicators WHERE indicator = ? AND period IN"
        f" ({', '.join('?' for _ in periods)})",
        [indicator, *periods],
    ))  # fmt: skip
    return total, inside
