"""Read-side queries the analyses share: counts and points per area and month.

Aggregation happens inside DuckDB; only small frames reach Python (docs/architecture.md:
materialising millions of rows as pandas costs more than the ingest).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from realimpact.errors import ValidationError
from realimpact.store import areas as store_areas
from realimpact.store.connection import RECORD_TABLES, Store

# Columns an analysis may group or filter by, per table.
GROUPABLE = {
    "crimes": {"month", "crime_type", "last_outcome", "falls_within", "lsoa_code"},
    "outcomes": {"month", "outcome_type", "falls_within", "lsoa_code"},
    "stop_searches": {
        "month", "object_of_search", "outcome", "legislation", "type", "gender",
        "age_range", "officer_defined_ethnicity", "outcome_linked_to_object", "force",
    },
}  # fmt: skip


def month_bounds(
    month_from: str | None, month_to: str | None, column: str = "month"
) -> tuple[list[str], list[str]]:
    """SQL clauses and parameters keeping ``column`` within the inclusive month range.

    'YYYY-MM' strings sort as months, so the bounds are plain string comparisons.
    """
    clauses, params = [], []
    if month_from:
        clauses.append(f"{column} >= ?")
        params.append(month_from)
    if month_to:
        clauses.append(f"{column} <= ?")
        params.append(month_to)
    return clauses, params


def _where(
    table: str,
    crime_types: Sequence[str] | None,
    month_from: str | None,
    month_to: str | None,
    filters: dict[str, Sequence[str]] | None,
    alias: str = "r",
    *,
    store: Store | None = None,
    force: str | None = None,
) -> tuple[str, list]:
    clauses, params = [], []
    if force is not None:
        if store is None:
            raise ValueError("a force filter needs the store")
        from realimpact.store.forces import force_clause

        clause, vals = force_clause(store, table, force, alias)
        clauses.append(clause)
        params += vals
    if crime_types:
        if table != "crimes":
            raise ValidationError(f"--crime-type applies to street crimes, not {table}")
        clauses.append(f"{alias}.crime_type IN ({', '.join('?' for _ in crime_types)})")
        params += list(crime_types)
    month_clauses, month_params = month_bounds(month_from, month_to, f"{alias}.month")
    clauses += month_clauses
    params += month_params
    for col, values in (filters or {}).items():
        if col not in GROUPABLE[table]:
            raise ValidationError(f"cannot filter {table} by {col!r}")
        clauses.append(f"{alias}.{col} IN ({', '.join('?' for _ in values)})")
        params += list(values)
    return (" AND ".join(clauses) or "TRUE"), params


def _area_source(store: Store, layer: str, table: str) -> tuple[str, str]:
    """FROM clause and area-id expression for a (layer, table) pair."""
    if layer == "lsoa" and table in ("crimes", "outcomes"):
        return f"{table} r", "r.lsoa_code"
    if store_areas.layer_info(store, layer) is None:
        if layer == "lsoa":
            raise ValidationError(
                "--layer lsoa: stop and search records carry no LSOA code;"
                " load LSOA boundaries with `realimpact ingest boundaries PATH --layer lsoa`"
            )
        raise ValidationError(
            f"--layer {layer!r}: no such layer; layers are: {', '.join(store.layer_names())}"
        )
    from realimpact.geo.areas import assign_records

    assign_records(store, layer, (table,))
    return (
        f"{table} r JOIN assignments a ON a.layer = '{layer}' AND a.record_table = '{table}'"
        " AND a.file_id = r.file_id AND a.line = r.line",
        "a.area_id",
    )


def record_counts(
    store: Store,
    layer: str = "lsoa",
    table: str = "crimes",
    by: Sequence[str] = ("month", "crime_type"),
    crime_types: Sequence[str] | None = None,
    month_from: str | None = None,
    month_to: str | None = None,
    filters: dict[str, Sequence[str]] | None = None,
    *,
    force: str | None = None,
) -> pd.DataFrame:
    """Counts of records per area and ``by`` columns (only non-zero cells).

    Columns: area_id, *by, n. Records without an area (no LSOA code, or
    outside every polygon) are left out; zero cells are the caller's to add
    because only the caller knows the full area x period frame it wants --
    and only in months the force published (:func:`months_present` with
    ``force``), since a month with no file is unknown, not zero. ``force``
    (a name or slug, see :mod:`realimpact.store.forces`) keeps one force's
    records; None keeps every force.
    """
    if table not in RECORD_TABLES:
        raise ValidationError(f"unknown table {table!r}; use one of {', '.join(RECORD_TABLES)}")
    bad = [b for b in by if b not in GROUPABLE[table]]
    if bad:
        raise ValidationError(f"cannot group {table} by {', '.join(bad)}")
    src, area = _area_source(store, layer, table)
    where, params = _where(
        table, crime_types, month_from, month_to, filters, store=store, force=force
    )
    cols = "".join(f", r.{b}" for b in by)
    return store.sql(
        f"SELECT {area} AS area_id{cols}, count(*) AS n FROM {src}"
        f" WHERE {area} IS NOT NULL AND {where} GROUP BY ALL ORDER BY ALL",
        params,
    )


def record_points(
    store: Store,
    table: str = "crimes",
    crime_types: Sequence[str] | None = None,
    month_from: str | None = None,
    month_to: str | None = None,
    filters: dict[str, Sequence[str]] | None = None,
    *,
    force: str | None = None,
) -> pd.DataFrame:
    """file_id, line, month, [crime_type,] easting, northing of records with coordinates."""
    if table not in RECORD_TABLES:
        raise ValidationError(f"unknown table {table!r}; use one of {', '.join(RECORD_TABLES)}")
    where, params = _where(
        table, crime_types, month_from, month_to, filters, store=store, force=force
    )
    extra = ", r.crime_type" if table == "crimes" else ""
    return store.sql(
        f"SELECT r.file_id, r.line, r.month{extra}, r.easting, r.northing FROM {table} r"
        f" WHERE r.has_coords AND {where} ORDER BY r.file_id, r.line",
        params,
    )


def months_present(store: Store, table: str = "crimes", *, force: str | None = None) -> list[str]:
    """Distinct months held for a table, sorted; with ``force``, that force's months only.

    A month outside this list was not published (for that force): it is
    unknown, and every analysis leaves it out rather than count it as zero.
    """
    if table not in RECORD_TABLES:
        raise ValidationError(f"unknown table {table!r}")
    where, params = "TRUE", []
    if force is not None:
        from realimpact.store.forces import force_clause

        where, params = force_clause(store, table, force, alias="")
    return [
        r[0]
        for r in store.con.execute(
            f"SELECT DISTINCT month FROM {table} WHERE {where} ORDER BY 1", params
        ).fetchall()
    ]


def forces_in_store(store: Store) -> list[str]:
    """Forces with records in the store, by street-file name (see store.forces)."""
    from realimpact.store.forces import forces_in_store as _forces

    return _forces(store)


def resolve_force(store: Store, name: str) -> str:
    """The store's name of force ``name`` (name or slug); InputError listing forces if none."""
    from realimpact.store.forces import resolve_force as _resolve

    return _resolve(store, name)


def load_layer(store: Store, layer: str) -> pd.DataFrame:
    """area_id, name, geometry of a layer (see :func:`realimpact.geo.areas.load_layer`)."""
    from realimpact.geo.areas import load_layer as _load

    return _load(store, layer)
