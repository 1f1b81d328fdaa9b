"""SQL for the harm tables (migration 10): weight sets, populations, partner indicators,
and the harm-weighted count that the harm index is built on.

The weighted count runs inside DuckDB: pivoting and weighting millions of
records in pandas would first materialise them all (docs/architecture.md, Store).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from realimpact.errors import ValidationError
from realimpact.store.connection import Store
from realimpact.store.queries import month_bounds

# -- weight sets -------------------------------------------------------------


def save_weight_set(store: Store, ws: dict[str, Any]) -> None:
    with store.transaction() as con:
        con.execute("DELETE FROM harm_weights WHERE name = ?", [ws["name"]])
        con.execute("DELETE FROM harm_weight_sets WHERE name = ?", [ws["name"]])
        con.execute(
            "INSERT INTO harm_weight_sets (name, kind, title, unit, method, source, details)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                ws["name"],
                ws["kind"],
                ws["name"],
                ws["unit"],
                ws["method"],
                ws["source"],
                json.dumps(ws["details"]),
            ],
        )
        con.executemany(
            "INSERT INTO harm_weights (name, crime_type, weight) VALUES (?, ?, ?)",
            [[ws["name"], ct, w] for ct, w in ws["weights"].items()],
        )


def load_weight_set(store: Store, name: str) -> dict[str, Any] | None:
    row = store.con.execute(
        "SELECT name, kind, unit, method, source, details FROM harm_weight_sets WHERE name = ?",
        [name],
    ).fetchone()
    if row is None:
        return None
    w = store.con.execute(
        "SELECT crime_type, weight FROM harm_weights WHERE name = ?", [name]
    ).fetchall()
    return {
        "name": row[0],
        "kind": row[1],
        "unit": row[2] or "",
        "method": row[3] or "",
        "source": row[4] or "",
        "details": json.loads(row[5] or "{}"),
        "weights": dict(w),
    }


def weight_set_names(store: Store) -> list[str]:
    return [
        r[0]
        for r in store.con.execute("SELECT name FROM harm_weight_sets ORDER BY name").fetchall()
    ]


def weight_set_summaries(store: Store) -> list[dict[str, Any]]:
    rows = store.con.execute(
        "SELECT name, kind, unit FROM harm_weight_sets ORDER BY name"
    ).fetchall()
    return [{"name": n, "kind": k, "unit": u or ""} for n, k, u in rows]


# -- populations -------------------------------------------------------------


def replace_population(store: Store, info: dict[str, Any], values: pd.DataFrame) -> None:
    """Replace the population of ``info['layer']`` (area_id, value) in one transaction."""
    with store.transaction() as con:
        con.execute("DELETE FROM populations WHERE layer = ?", [info["layer"]])
        con.execute("DELETE FROM population_sets WHERE layer = ?", [info["layer"]])
        con.execute(
            "INSERT INTO population_sets (layer, source, sha256, id_field, value_field, n_areas,"
            " total) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                info["layer"],
                info["source"],
                info["sha256"],
                info["id_field"],
                info["value_field"],
                info["n_areas"],
                info["total"],
            ],
        )
        frame = values.assign(layer=info["layer"])[["layer", "area_id", "value"]]
        con.register("_pop_in", frame)
        try:
            con.execute("INSERT INTO populations SELECT layer, area_id, value FROM _pop_in")
        finally:
            con.unregister("_pop_in")


def population_info(store: Store, layer: str) -> dict[str, Any] | None:
    df = store.sql("SELECT * FROM population_sets WHERE layer = ?", [layer])
    return None if df.empty else df.iloc[0].to_dict()


def population(store: Store, layer: str) -> pd.DataFrame:
    return store.sql(
        "SELECT area_id, value AS population FROM populations WHERE layer = ?", [layer]
    )


def population_match(store: Store, layer: str, table: str = "crimes") -> dict[str, int]:
    """How many areas with records have a population (LSOA11 records vs LSOA21 census...)."""
    if layer != "lsoa" or table != "crimes":
        return {}
    row = store.con.execute(
        """
        WITH rec AS (SELECT DISTINCT lsoa_code AS area_id FROM crimes WHERE lsoa_code IS NOT NULL)
        SELECT count(*), count(p.area_id) FROM rec LEFT JOIN populations p
          ON p.layer = ? AND p.area_id = rec.area_id
        """,
        [layer],
    ).fetchone()
    return {"areas_with_records": int(row[0]), "areas_matched": int(row[1])}


# -- partner indicators -------------------------------------------------------


def partner_file_present(store: Store, sha256: str, spec: str) -> bool:
    return bool(
        store.scalar(
            "SELECT count(*) FROM partner_files WHERE sha256 = ? AND spec = ?", [sha256, spec]
        )
    )


def insert_partner_rows(store: Store, meta: dict[str, Any], rows: pd.DataFrame) -> int:
    """Insert one partner file and its rows atomically; returns its partner_file_id."""
    with store.transaction() as con:
        fid = int(con.execute("SELECT nextval('partner_file_ids')").fetchone()[0])
        con.execute(
            "INSERT INTO partner_files (partner_file_id, path, sha256, spec, rows)"
            " VALUES (?, ?, ?, ?, ?)",
            [fid, meta["path"], meta["sha256"], meta["spec"], len(rows)],
        )
        cols = [
            "partner_file_id",
            "line",
            "layer",
            "area_id",
            "longitude",
            "latitude",
            "easting",
            "northing",
            "period",
            "indicator",
            "value",
            "source",
        ]
        frame = rows.assign(partner_file_id=fid)[cols]
        con.register("_partner_in", frame)
        try:
            con.execute(
                f"INSERT INTO partner_indicators ({', '.join(cols)}) SELECT * FROM _partner_in"
            )
        finally:
            con.unregister("_partner_in")
    return fid


def partner_values(
    store: Store,
    layer: str,
    indicators: Sequence[str] | None = None,
    period: str = "month",
) -> pd.DataFrame:
    """Sum of partner indicator values per area, period, indicator for rows given by area.

    Rows given as points are kept in the store with their coordinates; they
    join an area layer once assigned (not done here).
    """
    where, params = ["layer = ?"], [layer]
    if indicators:
        where.append(f"indicator IN ({', '.join('?' for _ in indicators)})")
        params += list(indicators)
    conv = _period_sql(period, "period")
    # only monthly partner rows can be rolled up; a yearly value stays as it is
    # and joins a yearly index only
    per = f"CASE WHEN regexp_full_match(period, '\\d{{4}}-\\d{{2}}') THEN {conv} ELSE period END"
    return store.sql(
        f"SELECT area_id, {per} AS period, indicator, sum(value) AS value"
        f" FROM partner_indicators WHERE {' AND '.join(where)} GROUP BY ALL ORDER BY ALL",
        params,
    )


def partner_summary(store: Store) -> pd.DataFrame:
    return store.sql(
        "SELECT indicator, source, coalesce(layer, '(points)') AS layer, count(*) AS rows,"
        " min(period) AS period_min, max(period) AS period_max, sum(value) AS total"
        " FROM partner_indicators GROUP BY ALL ORDER BY ALL"
    )


# -- harm-weighted counts ----------------------------------------------------

PERIODS = ("month", "quarter", "year", "all")


def _period_sql(period: str, col: str = "r.month") -> str:
    if period == "month":
        return col
    if period == "quarter":
        return (
            f"substr({col}, 1, 4) || '-Q' || "
            f"CAST((CAST(substr({col}, 6, 2) AS INTEGER) + 2) // 3 AS VARCHAR)"
        )
    if period == "year":
        return f"substr({col}, 1, 4)"
    if period == "all":
        return "'all'"
    raise ValidationError(f"--period: {period!r} is not one of {', '.join(PERIODS)}")


CACHE_SLOTS = 16


def _category_expr(table: str, category_map: dict[str, str | None] | None) -> str:
    if table == "crimes":
        return "r.crime_type"
    if table == "stop_searches":
        if not category_map:
            raise ValidationError("stop_searches needs an object-of-search map")
        cases = " ".join(
            f"WHEN r.object_of_search = {_lit(k)} THEN {_lit(v)}"
            for k, v in category_map.items()
            if v is not None
        )
        return f"(CASE {cases} ELSE NULL END)"
    raise ValidationError(f"harm index reads crimes or stop_searches, not {table!r}")


def _direct_counts(
    store: Store,
    categories: Sequence[str],
    layer: str,
    period: str,
    table: str,
    month_from: str | None,
    month_to: str | None,
    category_map: dict[str, str | None] | None,
    names: Sequence[str] | None = None,
    force: str | None = None,
) -> tuple[str, list]:
    """SQL counting records per area, period and category (one column per category)."""
    from realimpact.store.queries import _area_source, _where

    src, area = _area_source(store, layer, table)
    cat_expr = _category_expr(table, category_map)
    where, params = _where(table, None, month_from, month_to, None, store=store, force=force)
    names = names or categories
    in_cats = ", ".join(_lit(c) for c in categories)
    counts = ", ".join(
        f"count(*) FILTER (WHERE {cat_expr} = {_lit(c)})::INTEGER AS {_ident(n)}"
        for c, n in zip(categories, names, strict=True)
    )
    sql = (
        f"SELECT {area} AS area_id, {_period_sql(period)} AS period, {counts} FROM {src}"
        f" WHERE {area} IS NOT NULL AND {cat_expr} IN ({in_cats}) AND {where} GROUP BY ALL"
    )
    return sql, params


def _fingerprint(
    store: Store, layer: str, table: str, slots: Sequence[str], category_map: dict | None
) -> str:
    """Changes whenever the cached counts could: new records, a new layer, new categories."""
    n, lo, hi = store.con.execute(
        f"SELECT count(*), min(file_id), max(file_id) FROM {table}"
    ).fetchone()
    parts: list[Any] = [n, lo, hi, list(slots), category_map]
    if layer != "lsoa" or table != "crimes":
        parts.append(
            store.con.execute(
                "SELECT any_value(created_at)::VARCHAR, any_value(n_areas) FROM layers"
                " WHERE layer = ?",
                [layer],
            ).fetchone()
        )
        parts.append(
            store.scalar(
                "SELECT count(*) FROM assignment_log WHERE layer = ? AND record_table = ?",
                [layer, table],
            )
        )
    return json.dumps(parts, default=str, sort_keys=True)


def _ensure_cache(
    store: Store,
    slots: Sequence[str],
    layer: str,
    table: str,
    category_map: dict[str, str | None] | None,
) -> bool:
    """Build or refresh the monthly cache for (layer, table); False if it cannot be used."""
    if store.read_only or len(slots) > CACHE_SLOTS:
        return False
    if layer != "lsoa" or table != "crimes":
        from realimpact.store.queries import _area_source

        _area_source(store, layer, table)  # assigns new files first: part of the fingerprint
    fp = _fingerprint(store, layer, table, slots, category_map)
    have = store.scalar(
        "SELECT fingerprint FROM harm_cache_state WHERE layer = ? AND record_table = ?",
        [layer, table],
    )
    if have == fp:
        return True
    names = [f"c{i:02d}" for i in range(1, len(slots) + 1)]
    body, params = _direct_counts(
        store, slots, layer, "month", table, None, None, category_map, names
    )
    fill = "".join(f", 0 AS c{i:02d}" for i in range(len(slots) + 1, CACHE_SLOTS + 1))
    with store.transaction() as con:
        con.execute(
            "DELETE FROM harm_count_cache WHERE layer = ? AND record_table = ?", [layer, table]
        )
        con.execute(
            "DELETE FROM harm_cache_state WHERE layer = ? AND record_table = ?", [layer, table]
        )
        con.execute(
            f"INSERT INTO harm_count_cache SELECT {_lit(layer)}, {_lit(table)}, area_id,"
            f" period, * EXCLUDE (area_id, period){fill} FROM ({body})",
            params,
        )
        con.execute(
            "INSERT INTO harm_cache_state (layer, record_table, fingerprint) VALUES (?, ?, ?)",
            [layer, table, fp],
        )
    return True


def category_counts(
    store: Store,
    categories: Sequence[str],
    layer: str = "lsoa",
    period: str = "month",
    table: str = "crimes",
    month_from: str | None = None,
    month_to: str | None = None,
    category_map: dict[str, str | None] | None = None,
    slots: Sequence[str] | None = None,
    *,
    force: str | None = None,
) -> dict[str, np.ndarray]:
    """Per area and period, one count column per category (only non-empty cells).

    ``force`` keeps one force's records (read directly: the monthly cache
    pools forces).

    ``table='crimes'`` counts by crime type; ``table='stop_searches'`` by object
    of search mapped to a crime type through ``category_map`` (objects mapped
    to None are left out). ``slots`` is the full, fixed category list the
    monthly cache is laid out by (``categories`` must be drawn from it); when
    given and the store is writable, the counts come from that cache, rebuilt
    only when the records change. Returns numpy arrays (area_id, period,
    categories...): a 400,000-row pandas conversion costs more than the query.
    """
    _period_sql(period)  # validate before anything runs
    if (
        force is None
        and slots is not None
        and _ensure_cache(store, slots, layer, table, category_map)
    ):
        cols = {c: f"c{slots.index(c) + 1:02d}" for c in categories}
        nonzero = " + ".join(cols.values())
        where = ["layer = ?", "record_table = ?", f"({nonzero}) > 0"]
        params: list[Any] = [layer, table]
        month_clauses, month_params = month_bounds(month_from, month_to)
        where += month_clauses
        params += month_params
        if period == "month":
            sel = ", ".join(f"{s} AS {_ident(c)}" for c, s in cols.items())
            sql = f"SELECT area_id, month AS period, {sel} FROM harm_count_cache"
            tail = ""
        else:
            sel = ", ".join(f"sum({s})::INTEGER AS {_ident(c)}" for c, s in cols.items())
            sql = (
                f"SELECT area_id, {_period_sql(period, 'month')} AS period, {sel}"
                " FROM harm_count_cache"
            )
            tail = " GROUP BY ALL"
        return store.con.execute(f"{sql} WHERE {' AND '.join(where)}{tail}", params).fetchnumpy()
    sql, params = _direct_counts(
        store, categories, layer, period, table, month_from, month_to, category_map, force=force
    )
    return store.con.execute(sql, params).fetchnumpy()


def area_forces(
    store: Store, layer: str, table: str, force: str | None = None
) -> dict[str, tuple[str, ...]]:
    """Forces (by name) with records of ``table`` in each area of ``layer``, over the whole store.

    An area belongs to the forces that record crime in it; its area-months
    exist only in months one of them published.
    """
    from realimpact.store.forces import FORCE_COLUMN, force_name
    from realimpact.store.queries import _area_source, _where

    src, area = _area_source(store, layer, table)
    col = FORCE_COLUMN[table]
    where, params = _where(table, None, None, None, None, store=store, force=force)
    rows = store.con.execute(
        f"SELECT DISTINCT {area}, r.{col} FROM {src}"
        f" WHERE {area} IS NOT NULL AND r.{col} IS NOT NULL AND {where}",
        params,
    ).fetchall()
    out: dict[str, set[str]] = {}
    for a, f in rows:
        out.setdefault(str(a), set()).add(force_name(f))
    return {a: tuple(sorted(fs)) for a, fs in out.items()}


def _lit(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def _ident(s: str) -> str:
    return '"' + str(s).replace('"', '""') + '"'


def other_crime_types(
    store: Store,
    known: Sequence[str],
    month_from: str | None = None,
    month_to: str | None = None,
    *,
    force: str | None = None,
) -> dict[str, int]:
    """Records per crime type that is none of ``known`` (e.g. pre-2013 "Violent crime").

    The harm index is laid out by today's police.uk categories; a type outside
    them is left out, and this says how many records that was.
    """
    from realimpact.store.forces import force_clause

    where, params = month_bounds(month_from, month_to)
    where.append("crime_type NOT IN ({})".format(", ".join("?" for _ in known)))
    params += list(known)
    fwhere, fparams = force_clause(store, "crimes", force, alias="")
    where.append(fwhere)
    params += fparams
    rows = store.con.execute(
        f"SELECT crime_type, count(*) FROM crimes WHERE {' AND '.join(where)}"
        " GROUP BY crime_type ORDER BY 2 DESC, 1",
        params,
    ).fetchall()
    return {str(t): int(n) for t, n in rows if t is not None}
