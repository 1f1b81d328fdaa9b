"""SQL for police.uk records: staging, validation, insertion, quarantine.

A file is first *staged*: its parsed Arrow table (every field as text, except
coordinates the parser already read as numbers), plus line numbers, is
registered with DuckDB, then validated and split in SQL: valid rows go to the
record table, invalid ones to ``quarantine`` with the first rule they break.
Doing validation in DuckDB keeps the 6.5-million-row national year inside one
vectorised engine instead of round-tripping strings through Python.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from realimpact.geo.crs import UK_LAT, UK_LON, in_uk
from realimpact.periods import MONTH_PATTERN, YEARS, is_month
from realimpact.store.connection import Store

STAGE = "_ri_stage"  # the parsed file, registered as an Arrow table (with _line)
_RECORD_TABLES = {"crimes", "stop_searches", "outcomes"}
_ROW_GROUP = 122_880  # DuckDB's default row_group_size

# A stop-and-search Date: ISO 8601 (date, optional time and offset), in a sane
# range of years. DuckDB alone accepts 'infinity', 'epoch', '-2020-03-01' and
# year 294246.
ISO_DATETIME = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?)?"
    r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?"
)
DATE_YEARS = YEARS  # kept under its old name for callers


Projector = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def file_present(store: Store, sha256: str | list[str | None], kind: str) -> bool:
    """Same content already stored as the same kind: re-ingest adds nothing.

    ``sha256`` may list several hashes of one file (of its normalised content
    and of its bytes as read, which stores made before normalisation hold).
    """
    shas = [h for h in ([sha256] if isinstance(sha256, str) else sha256) if h]
    marks = ", ".join("?" for _ in shas)
    return bool(
        store.scalar(
            f"SELECT count(*) FROM source_files WHERE sha256 IN ({marks}) AND kind = ?",
            [*shas, kind],
        )
    )


def _q(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'


def stage_arrow(store: Store, table: pa.Table, lines: np.ndarray) -> int:
    """Stage a parsed file, with its line numbers, for validation in SQL.

    The Arrow table is registered, not copied: validation and the insert scan
    it in place, so each row is appended to DuckDB storage only once (the
    append is most of an ingest's time, see benchmarks/ingest.py).
    """
    drop_stage(store)
    tbl = table.append_column("_line", pa.array(lines.astype(np.int32)))
    # Batches that are whole DuckDB row groups: the parallel insert then writes
    # full row groups, instead of fragments that the next checkpoint must merge
    # (measured: 2.7 s and +0.9 GiB at close on the national year otherwise).
    batches = tbl.combine_chunks().to_batches(max_chunksize=2 * _ROW_GROUP)
    tbl = pa.Table.from_batches(batches, schema=tbl.schema)
    store.con.register(STAGE, tbl)
    return tbl.num_rows


def drop_stage(store: Store) -> None:
    store.con.unregister(STAGE)


def _txt(col: str, present: set[str]) -> str:
    """Trimmed text of a staged column, '' when the file lacks that optional column."""
    return f"trim(coalesce({_q(col)}, ''))" if col in present else "''"


def _nullif(col: str, present: set[str]) -> str:
    """Free text is kept exactly as given; only the empty string becomes NULL."""
    return f"nullif({_q(col)}, '')" if col in present else "NULL"


class _Coord:
    """SQL for one coordinate column, staged as text or (already parsed) as DOUBLE."""

    def __init__(self, col: str, present: set[str], numeric: set[str]) -> None:
        if col in numeric:
            self.empty = f"({_q(col)} IS NULL)"
            self.num = _q(col)
            self.text = f"coalesce(CAST({_q(col)} AS VARCHAR), '')"
        else:
            self.text = _txt(col, present)
            self.empty = f"({self.text} = '')"
            self.num = f"TRY_CAST({self.text} AS DOUBLE)"


def _bool(col: str, present: set[str]) -> str:
    t = _txt(col, present)
    return f"CASE lower({t}) WHEN 'true' THEN true WHEN 'false' THEN false END"


def _rules(kind: str, present: set[str], numeric: set[str]) -> list[tuple[str, str, str]]:
    """(field, failing condition, reason expression) in the order they are checked."""
    lon, lat = _Coord("Longitude", present, numeric), _Coord("Latitude", present, numeric)
    rules = []
    if kind in ("street", "outcomes"):
        m = _txt("Month", present)
        rules.append(
            ("Month",
             f"NOT regexp_full_match({m}, '{MONTH_PATTERN}')"
             f" OR TRY_CAST(substr({m}, 1, 4) AS INTEGER) NOT BETWEEN {YEARS[0]} AND {YEARS[1]}",
             f"printf('Month ''%s'' is not YYYY-MM in {YEARS[0]}..{YEARS[1]}', {m})")
        )  # fmt: skip
    else:
        d = _txt("Date", present)
        year = f"TRY_CAST(substr({d}, 1, 4) AS INTEGER)"
        rules.append(
            ("Date",
             f"NOT regexp_full_match({d}, '{ISO_DATETIME}') OR TRY_CAST({d} AS TIMESTAMPTZ) IS NULL"
             f" OR coalesce({year} NOT BETWEEN {DATE_YEARS[0]} AND {DATE_YEARS[1]}, true)",
             f"printf('Date ''%s'' is not an ISO 8601 date-time in {DATE_YEARS[0]}..{DATE_YEARS[1]}',"
             f" {d})")
        )  # fmt: skip
    for name, c in (("Longitude", lon), ("Latitude", lat)):
        rules.append(
            (name, f"NOT {c.empty} AND NOT coalesce(isfinite({c.num}), false)",
             f"printf('{name} ''%s'' is not a number', {c.text})")
        )  # fmt: skip
    rules.append(("Longitude", f"{lon.empty} <> {lat.empty}",
                  "'only one of Longitude/Latitude is given'"))  # fmt: skip
    rules.append(
        ("Longitude",
         f"NOT {lon.empty} AND NOT ({lon.num} BETWEEN {UK_LON[0]} AND {UK_LON[1]}"
         f" AND {lat.num} BETWEEN {UK_LAT[0]} AND {UK_LAT[1]})",
         f"printf('coordinates (%s, %s) are outside the UK', {lon.text}, {lat.text})")
    )  # fmt: skip
    if kind == "street":
        rules.append(("Crime type", f"{_txt('Crime type', present)} = ''", "'Crime type is empty'"))
    if kind == "stop_search":
        for col in ("Part of a policing operation", "Outcome linked to object of search",
                    "Removal of more than just outer clothing"):  # fmt: skip
            t = _txt(col, present)
            rules.append(
                (col, f"lower({t}) NOT IN ('true', 'false', '')",
                 f"printf('{col} ''%s'' is not True/False', {t})")
            )  # fmt: skip
    return rules


def _select_list(kind: str, present: set[str]) -> dict[str, str]:
    """Target column -> SQL expression over the validated stage (alias s, lookup lk)."""
    common = {
        "line": "s._line",
        "longitude": "lk.lon",
        "latitude": "lk.lat",
        "easting": "lk.e",
        "northing": "lk.n",
        "has_coords": "lk.e IS NOT NULL",
    }
    if kind in ("street", "outcomes"):
        cols = {
            "month": _txt("Month", present),
            "crime_id": _nullif("Crime ID", present),
            "reported_by": _nullif("Reported by", present),
            "falls_within": _nullif("Falls within", present),
            "location": _nullif("Location", present),
            "lsoa_code": _nullif("LSOA code", present),
            "lsoa_name": _nullif("LSOA name", present),
        }
        if kind == "street":
            cols |= {
                "crime_type": _txt("Crime type", present),
                "last_outcome": _nullif("Last outcome category", present),
                "context": _nullif("Context", present),
            }
        else:
            cols["outcome_type"] = _nullif("Outcome type", present)
        return common | cols
    ts = f"TRY_CAST({_txt('Date', present)} AS TIMESTAMPTZ)"
    return common | {
        # police.uk publishes UTC; the month an officer would name is London time.
        "month": f"strftime(timezone('Europe/London', {ts}), '%Y-%m')",
        "datetime": ts,
        "type": _nullif("Type", present),
        "part_of_operation": _bool("Part of a policing operation", present),
        "operation_name": _nullif("Policing operation", present),
        "gender": _nullif("Gender", present),
        "age_range": _nullif("Age range", present),
        "self_defined_ethnicity": _nullif("Self-defined ethnicity", present),
        "officer_defined_ethnicity": _nullif("Officer-defined ethnicity", present),
        "legislation": _nullif("Legislation", present),
        "object_of_search": _nullif("Object of search", present),
        "outcome": _nullif("Outcome", present),
        "outcome_linked_to_object": _bool("Outcome linked to object of search", present),
        "removal_of_outer_clothing": _bool("Removal of more than just outer clothing", present),
    }


def _flags(a: np.ndarray) -> np.ndarray:
    return np.asarray(np.ma.filled(a, True), bool)


def _floats(a: np.ndarray) -> np.ndarray:
    return np.asarray(np.ma.filled(np.ma.asarray(a, float), np.nan), float)


def _distinct_values_pass(store: Store, kind: str, present: set[str]) -> bool:
    """True when no row of the stage can break a non-coordinate rule.

    Checked on distinct values (a handful of months and crime types per file)
    instead of per row. Stop-and-search files are small and their rules
    (dates, True/False fields) many, so they always take the row-wise path.
    """
    if kind == "stop_search":
        return False

    def distinct(col: str) -> list[str]:
        # trim the few distinct values, not every row
        return [
            v
            for (v,) in store.con.execute(
                f"SELECT {_txt('v', {'v'})} FROM (SELECT DISTINCT {_q(col)} AS v FROM {STAGE})"
            ).fetchall()
        ]

    if "Month" not in present or not all(
        is_month(m) and YEARS[0] <= int(m[:4]) <= YEARS[1] for m in distinct("Month")
    ):
        return False
    if kind == "street":
        return "Crime type" in present and all(t != "" for t in distinct("Crime type"))
    return True


def load_stage(
    store: Store,
    *,
    kind: str,
    table: str,
    columns: list[str],
    file_id: int,
    project: Projector,
    extra: dict[str, object] | None = None,
    malformed: list[tuple[int | None, str]] = (),
    invalid_text: bool = False,
) -> tuple[int, int]:
    """Validate the staged file and split it into ``table`` and ``quarantine``.

    Must run inside the caller's transaction. ``invalid_text`` says the file
    held bytes that are not UTF-8 (decoded as U+FFFD): rows holding one are
    quarantined rather than stored with a character the source never had. ``project`` maps WGS84 to BNG
    for the file's distinct coordinate pairs only (police.uk snaps points to a
    fixed set of map points, so there are far fewer pairs than rows).
    Returns (rows inserted, rows quarantined).
    """
    if table not in _RECORD_TABLES:
        raise ValueError(f"unknown record table {table}")
    con = store.con
    present = set(columns)
    numeric = {
        name
        for name, typ in con.execute(
            f"SELECT column_name, column_type FROM (DESCRIBE {STAGE})"
        ).fetchall()
        if typ == "DOUBLE"
    }
    rules = _rules(kind, present, numeric)
    if invalid_text:
        rules = [
            (c, f"contains({_txt(c, present)}, '\ufffd')",
             "'" + c.replace("'", "''") + " holds a byte that is not UTF-8"
             " (the rest of the file is UTF-8)'")
            for c in columns if c not in numeric
        ] + rules  # fmt: skip
    any_bad = " OR ".join(f"({cond})" for _, cond, _ in rules)
    lon_c, lat_c = _Coord("Longitude", present, numeric), _Coord("Latitude", present, numeric)
    lon, lat = lon_c.num, lat_c.num

    # Every distinct coordinate pair once: it is validated here and projected
    # here (police.uk snaps points to a fixed set of map points, so there are
    # far fewer pairs than rows; out-of-UK pairs never reach pyproj).
    pts = con.execute(
        f"SELECT DISTINCT {lon_c.empty} AS el, {lat_c.empty} AS ea, {lon} AS lon, {lat} AS lat"
        f" FROM {STAGE}"
    ).fetchnumpy()
    el, ea = _flags(pts["el"]), _flags(pts["ea"])
    lon_v, lat_v = _floats(pts["lon"]), _floats(pts["lat"])
    inside = in_uk(lon_v, lat_v)  # NaN and inf fail the box too
    coords_ok = not np.any(
        (~el & ~np.isfinite(lon_v)) | (~ea & ~np.isfinite(lat_v)) | (el != ea) | (~el & ~inside)
    )
    keep = ~el & ~ea & inside
    lon_v, lat_v = lon_v[keep], lat_v[keep]
    e, n = project(lon_v, lat_v) if len(lon_v) else (lon_v, lat_v)
    # When the distinct values of every checked field pass, no row can fail:
    # the insert then skips the row-wise rules (a fifth of its time).
    clean = coords_ok and not invalid_text and _distinct_values_pass(store, kind, present)
    con.register("_ri_lookup", pa.table({"lon": lon_v, "lat": lat_v, "e": e, "n": n}))
    try:
        sel = _select_list(kind, present) | {"file_id": str(int(file_id))}
        for k, v in (extra or {}).items():
            sel[k] = "NULL" if v is None else "'" + str(v).replace("'", "''") + "'"
        targets = ", ".join(sel)
        exprs = ", ".join(sel.values())
        inserted = con.execute(
            f"INSERT INTO {table} ({targets}) SELECT {exprs} FROM {STAGE} s"
            f" LEFT JOIN _ri_lookup lk ON lk.lon = {lon} AND lk.lat = {lat}"
            + ("" if clean else f" WHERE NOT ({any_bad})")
        ).fetchall()[0][0]
    finally:
        con.unregister("_ri_lookup")
    staged = int(store.scalar(f"SELECT count(*) FROM {STAGE}"))
    quarantined = 0
    if inserted < staged:  # a second pass only for files that have bad rows
        field_case = " ".join(f"WHEN {cond} THEN '{f}'" for f, cond, _ in rules)
        reason_case = " ".join(f"WHEN {cond} THEN {why}" for _, cond, why in rules)
        raw = (
            "concat_ws(',', "
            + ", ".join(f"coalesce(CAST({_q(c)} AS VARCHAR), '')" for c in columns)
            + ")"
        )
        quarantined = con.execute(
            "INSERT INTO quarantine (file_id, line, kind, field, reason, raw)"
            f" SELECT ?, _line, ?, CASE {field_case} END, CASE {reason_case} END, {raw}"
            f" FROM {STAGE} WHERE {any_bad}",
            [file_id, kind],
        ).fetchall()[0][0]
    if malformed:
        con.executemany(
            "INSERT INTO quarantine (file_id, line, kind, field, reason, raw)"
            " VALUES (?, ?, ?, NULL, ?, ?)",
            [
                (file_id, num, kind,
                 "blank line" if not text.strip()
                 else f"row has {text.count(',') + 1} fields, expected {len(columns)}", text)
                for num, text in malformed
            ],
        )  # fmt: skip
    return int(inserted), int(quarantined) + len(malformed)


def file_forces(store: Store, table: str, file_id: int) -> list[str]:
    """Distinct 'Falls within' of one stored file (read back from the compressed column)."""
    if table not in ("crimes", "outcomes"):
        return []
    return [
        r[0]
        for r in store.con.execute(
            f"SELECT DISTINCT falls_within FROM {table} WHERE file_id = ?"
            " AND falls_within IS NOT NULL ORDER BY 1",
            [file_id],
        ).fetchall()
    ]


def insert_source_file(store: Store, **values: object) -> None:
    cols = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    store.con.execute(f"INSERT INTO source_files ({cols}) VALUES ({marks})", list(values.values()))
