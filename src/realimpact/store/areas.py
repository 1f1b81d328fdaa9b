"""SQL for area layers and the lazily filled point-in-polygon assignments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from realimpact.store.connection import RECORD_TABLES, Store


def layer_info(store: Store, layer: str) -> dict | None:
    rows = store.sql("SELECT * FROM layers WHERE layer = ?", [layer]).to_dict("records")
    return rows[0] if rows else None


def replace_layer(store: Store, info: dict, areas: pd.DataFrame) -> None:
    """Swap a layer's areas in one transaction; old assignments go with them.

    ``areas`` columns: area_id, name, geom (WKB bytes), area_m2, minx, miny, maxx, maxy.

    The last guard before a layer replaces another: intake refuses bad files
    with a clear message first, so reaching the ValueError here is a bug, and
    it must not cost the user the layer already stored.
    """
    _check_areas(areas)
    layer = info["layer"]
    with store.transaction() as con:
        con.execute("DELETE FROM assignments WHERE layer = ?", [layer])
        con.execute("DELETE FROM assignment_log WHERE layer = ?", [layer])
        con.execute("DELETE FROM areas WHERE layer = ?", [layer])
        con.execute("DELETE FROM layers WHERE layer = ?", [layer])
        con.execute(
            "INSERT INTO layers (layer, kind, source, id_field, name_field, cell_size, n_areas)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [layer, info["kind"], info.get("source"), info.get("id_field"),
             info.get("name_field"), info.get("cell_size"), len(areas)],
        )  # fmt: skip
        tbl = pa.Table.from_pandas(areas.assign(layer=layer), preserve_index=False)
        con.register("_ri_areas", tbl)
        try:
            con.execute("INSERT INTO areas BY NAME SELECT * FROM _ri_areas")
        finally:
            con.unregister("_ri_areas")


def _check_areas(areas: pd.DataFrame) -> None:
    if areas.empty:
        raise ValueError("refusing to store a layer with no areas")
    num = areas[["area_m2", "minx", "miny", "maxx", "maxy"]].to_numpy(dtype=float)
    bad = ~np.isfinite(num).all(axis=1) | ~(num[:, 0] > 0)
    if bad.any():
        raise ValueError(
            f"refusing to store area {areas['area_id'].iloc[int(np.flatnonzero(bad)[0])]!r}:"
            " its area is not positive or its bounds are not finite"
        )
    if areas["area_id"].isna().any() or areas["area_id"].duplicated().any():
        raise ValueError("refusing to store a layer with missing or duplicate area ids")


def layer_areas(store: Store, layer: str) -> pd.DataFrame:
    """A layer's rows; ``geom`` as WKB ``bytes`` (DuckDB hands BLOBs back as bytearray)."""
    df = store.sql(
        "SELECT area_id, name, geom, area_m2, minx, miny, maxx, maxy FROM areas"
        " WHERE layer = ? ORDER BY area_id",
        [layer],
    )
    df["geom"] = [None if g is None else bytes(g) for g in df["geom"]]
    return df


def lsoa_codes(store: Store) -> pd.DataFrame:
    """The code-only ``lsoa`` layer: every LSOA code police.uk gave, with its name."""
    return store.sql(
        "SELECT lsoa_code AS area_id, any_value(lsoa_name) AS name FROM ("
        " SELECT lsoa_code, lsoa_name FROM crimes UNION ALL"
        " SELECT lsoa_code, lsoa_name FROM outcomes) WHERE lsoa_code IS NOT NULL"
        " GROUP BY lsoa_code ORDER BY lsoa_code"
    )


def unassigned_files(store: Store, layer: str, table: str) -> list[int]:
    _check_table(table)
    return [
        r[0]
        for r in store.con.execute(
            f"SELECT DISTINCT file_id FROM {table} WHERE file_id NOT IN ("
            " SELECT file_id FROM assignment_log WHERE layer = ? AND record_table = ?)"
            " ORDER BY file_id",
            [layer, table],
        ).fetchall()
    ]


def file_points(
    store: Store, table: str, file_id: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """line, easting, northing of one file's records that have coordinates."""
    _check_table(table)
    arr = store.con.execute(
        f"SELECT line, easting, northing FROM {table} WHERE file_id = ? AND has_coords",
        [file_id],
    ).fetchnumpy()
    return (
        np.asarray(arr["line"]),
        np.asarray(arr["easting"], float),
        np.asarray(arr["northing"], float),
    )


def save_assignments(
    store: Store, layer: str, table: str, file_id: int, lines: np.ndarray, area_ids: np.ndarray
) -> None:
    """Record one file's point-in-polygon result (and that it was done) atomically."""
    with store.transaction() as con:
        if len(lines):
            tbl = pa.table(
                {
                    "layer": pa.array(np.full(len(lines), layer, dtype=object), pa.string()),
                    "record_table": pa.array(np.full(len(lines), table, dtype=object), pa.string()),
                    "file_id": pa.array(np.full(len(lines), file_id, dtype=np.int32)),
                    "line": pa.array(lines.astype(np.int32)),
                    "area_id": pa.array(area_ids.astype(object), pa.string()),
                }
            )
            con.register("_ri_assign", tbl)
            try:
                con.execute("INSERT INTO assignments BY NAME SELECT * FROM _ri_assign")
            finally:
                con.unregister("_ri_assign")
        con.execute(
            "INSERT INTO assignment_log (layer, record_table, file_id) VALUES (?, ?, ?)",
            [layer, table, file_id],
        )


_FORCE_COL = {"crimes": "falls_within", "outcomes": "falls_within", "stop_searches": "force"}


def points_extent(
    store: Store, force: str | None = None, trim: float = 0.0
) -> tuple[float, float, float, float] | None:
    """Bounding box (BNG) of all records with coordinates, optionally of one force.

    ``trim`` > 0 gives the box of the ``trim`` to ``1 - trim`` quantiles of
    each coordinate instead: where the bulk of the records lie.
    """
    cond = " AND {col} = ?" if force else ""
    parts = " UNION ALL ".join(
        f"SELECT easting, northing FROM {t} WHERE has_coords" + cond.format(col=_FORCE_COL[t])
        for t in RECORD_TABLES
    )
    params = [force] * len(RECORD_TABLES) if force else []
    lo, hi = float(trim), 1.0 - float(trim)
    aggs = (
        f"quantile_cont(easting, {lo}), quantile_cont(northing, {lo}),"
        f" quantile_cont(easting, {hi}), quantile_cont(northing, {hi})"
        if trim
        else "min(easting), min(northing), max(easting), max(northing)"
    )
    row = store.con.execute(f"SELECT {aggs} FROM ({parts})", params).fetchall()[0]
    return None if row[0] is None else tuple(float(v) for v in row)


def _check_table(table: str) -> None:
    if table not in RECORD_TABLES:
        raise ValueError(f"unknown record table {table!r}")


def area_names(store: Store, layer: str, ids: list[str]) -> dict[str, str | None]:
    """Readable names of a layer's areas ("Liverpool 061C" for an LSOA code).

    For ``lsoa`` the name police.uk gives beside each code is used when the
    layer's own boundaries carry none, so names show even with no boundaries.
    """
    names: dict[str, str | None] = {a: None for a in ids}
    if layer_info(store, layer) is not None:
        df = store.sql(
            "SELECT area_id, name FROM areas WHERE layer = ? AND area_id IN"
            f" ({', '.join('?' for _ in ids)})",
            [layer, *ids],
        ) if ids else None  # fmt: skip
        if df is not None:
            names.update({a: n for a, n in zip(df["area_id"], df["name"], strict=True) if n})
    if layer == "lsoa" and ids and any(v is None for v in names.values()):
        want = [a for a, v in names.items() if v is None]
        df = store.sql(
            "SELECT lsoa_code AS area_id, any_value(lsoa_name) AS name FROM crimes"
            f" WHERE lsoa_code IN ({', '.join('?' for _ in want)}) GROUP BY lsoa_code",
            want,
        )
        names.update({a: n for a, n in zip(df["area_id"], df["name"], strict=True) if n})
    return names


def area_points(
    store: Store,
    layer: str,
    ids: list[str],
    *,
    month_from: str,
    month_to: str,
    force: str | None = None,
    limit: int = 4000,
) -> pd.DataFrame:
    """area_id, easting, northing of street records in the listed areas (BNG metres).

    Each area's points, at most ``limit`` in all (a seeded sample beyond),
    so a map can show where a code-only area lies when no boundary is loaded.
    Only ``lsoa`` (through the records' own LSOA codes) or a layer whose
    assignments exist.
    """
    if not ids:
        return pd.DataFrame(columns=["area_id", "easting", "northing"])
    from realimpact.store.forces import force_clause

    marks = ", ".join("?" for _ in ids)
    fwhere, fparams = force_clause(store, "crimes", force)
    cond = f" AND {fwhere}"
    params: list = [*ids, month_from, month_to, *fparams]
    if layer == "lsoa" and layer_info(store, layer) is None:
        src, area = "crimes r", "r.lsoa_code"
    else:
        src = (
            "crimes r JOIN assignments a ON a.layer = ? AND a.record_table = 'crimes'"
            " AND a.file_id = r.file_id AND a.line = r.line"
        )
        area = "a.area_id"
        params = [layer, *params]
    return store.sql(
        f"SELECT {area} AS area_id, r.easting, r.northing FROM {src}"
        f" WHERE {area} IN ({marks}) AND r.has_coords AND r.month BETWEEN ? AND ?{cond}"
        f" USING SAMPLE reservoir({int(limit)} ROWS) REPEATABLE (1)",
        params,
    )


def area_forces(store: Store, layer: str, ids: list[str]) -> list[str]:
    """The forces (street-file names) whose crime records fall in the listed areas.

    A plan's months are the months *its* force published: another force's
    months in the same store are not zeros for these areas.
    """
    from realimpact.store.forces import force_name

    if not ids or not store.table_exists("crimes"):
        return []
    marks = ", ".join("?" for _ in ids)
    if layer == "lsoa" and layer_info(store, layer) is None:
        sql = f"SELECT DISTINCT falls_within FROM crimes WHERE lsoa_code IN ({marks})"
        params: list = list(ids)
    else:
        sql = (
            "SELECT DISTINCT r.falls_within FROM crimes r JOIN assignments a ON a.layer = ?"
            " AND a.record_table = 'crimes' AND a.file_id = r.file_id AND a.line = r.line"
            f" WHERE a.area_id IN ({marks})"
        )
        params = [layer, *ids]
        if layer == "lsoa":  # boundaries loaded: the records' own codes count too
            sql += f" UNION SELECT DISTINCT falls_within FROM crimes WHERE lsoa_code IN ({marks})"
            params += list(ids)
    rows = store.con.execute(sql, params).fetchall()
    return sorted({force_name(r[0]) for r in rows if r[0]})
