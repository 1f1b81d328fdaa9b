"""Reader and validator for data.police.uk monthly CSV files.

Three kinds are accepted (street-level crime, stop and search, outcomes), as
single CSVs, folders (searched recursively) or the zip archives the site
publishes. The kind is read from the header row, never from the file name,
because renamed downloads are common.

Faithfulness rules (DESIGN.md, issue 2):
- every data row is either stored or quarantined with its line and reason;
- anti-social behaviour rows (empty Crime ID) are distinct rows, identified by
  source file + line, never merged;
- missing coordinates are allowed (kept, ``has_coords`` false), invalid ones
  are quarantined;
- one transaction per file; the same content (sha256) is never stored twice.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from realimpact._progress import ProgressFn
from realimpact.errors import RejectedFileError
from realimpact.geo.crs import in_uk, to_bng
from realimpact.store import Store, open_store
from realimpact.store import records as store_records

# -- the three formats ------------------------------------------------------

STREET_COLUMNS = (
    "Crime ID", "Month", "Reported by", "Falls within", "Longitude", "Latitude",
    "Location", "LSOA code", "LSOA name", "Crime type", "Last outcome category", "Context",
)  # fmt: skip
OUTCOMES_COLUMNS = (
    "Crime ID", "Month", "Reported by", "Falls within", "Longitude", "Latitude",
    "Location", "LSOA code", "LSOA name", "Outcome type",
)  # fmt: skip
STOP_SEARCH_COLUMNS = (
    "Type", "Date", "Part of a policing operation", "Policing operation", "Latitude",
    "Longitude", "Gender", "Age range", "Self-defined ethnicity", "Officer-defined ethnicity",
    "Legislation", "Object of search", "Outcome", "Outcome linked to object of search",
    "Removal of more than just outer clothing",
)  # fmt: skip

# Columns police.uk has added or dropped over the years; a file may lack these.
OPTIONAL = {"Context", "Policing operation", "Outcome linked to object of search",
            "Removal of more than just outer clothing", "Self-defined ethnicity"}  # fmt: skip

KINDS: dict[str, tuple[str, ...]] = {
    "street": STREET_COLUMNS,
    "outcomes": OUTCOMES_COLUMNS,
    "stop_search": STOP_SEARCH_COLUMNS,
}
TABLE_FOR_KIND = {"street": "crimes", "outcomes": "outcomes", "stop_search": "stop_searches"}

MONTH_RE = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
_FORCE_FROM_NAME = re.compile(r"^\d{4}-\d{2}-(?P<force>.+?)-(street|stop-and-search|outcomes)\.csv$")


def detect_kind(header: list[str]) -> str:
    """Return the police.uk kind of a header row, or raise with what is wrong."""
    cols = [c.strip() for c in header]
    present = set(cols)
    best: tuple[int, str, list[str], list[str]] | None = None
    for kind, expected in KINDS.items():
        missing = [c for c in expected if c not in present and c not in OPTIONAL]
        extra = [c for c in cols if c not in expected]
        if not missing and not extra:
            return kind
        score = len(set(expected) & present)
        if best is None or score > best[0]:
            best = (score, kind, missing, extra)
    assert best is not None
    score, kind, missing, extra = best
    if score >= 5:
        parts = []
        if missing:
            parts.append("missing column(s) " + ", ".join(repr(c) for c in missing))
        if extra:
            parts.append("unexpected column(s) " + ", ".join(repr(c) for c in extra[:5]))
        raise RejectedFileError(
            f"header looks like police.uk {kind.replace('_', '-')} but has "
            + " and ".join(parts)
        )
    shown = ",".join(cols[:6])[:80]
    raise RejectedFileError(
        f"not a police.uk file: header '{shown}' matches none of street, stop-and-search, outcomes"
    )


# -- results ----------------------------------------------------------------


@dataclass
class FileResult:
    """What happened to one input file (one row of ``--json``'s ``files``)."""

    path: str
    kind: str | None = None
    status: str = "rejected"  # ingested | already_present | rejected
    rows_read: int = 0
    rows_inserted: int = 0
    rows_quarantined: int = 0
    error: str | None = None


@dataclass
class IngestResult:
    """Outcome of one ``ingest police-uk`` call; ``ok`` is false if any file was rejected."""

    files: list[FileResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.status == "rejected" for f in self.files)

    def totals(self) -> dict[str, int]:
        return {
            "rows_read": sum(f.rows_read for f in self.files),
            "rows_inserted": sum(f.rows_inserted for f in self.files),
            "rows_quarantined": sum(f.rows_quarantined for f in self.files),
            "files_rejected": sum(f.status == "rejected" for f in self.files),
        }

    def to_dict(self) -> dict:
        return {"files": [asdict(f) for f in self.files], "totals": self.totals()}


# -- finding inputs ---------------------------------------------------------


@dataclass
class _Source:
    label: str  # what the user sees: path, or archive.zip!member
    path: Path
    member: str | None = None

    def read_bytes(self) -> bytes:
        if self.member is None:
            return self.path.read_bytes()
        with zipfile.ZipFile(self.path) as zf:
            return zf.read(self.member)

    @property
    def name(self) -> str:
        return Path(self.member).name if self.member else self.path.name


def _expand(paths: Iterable[str | os.PathLike]) -> Iterator[_Source | FileResult]:
    """Yield sources in a stable order; unreadable inputs come back as rejections."""
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(
                q for q in path.rglob("*")
                if q.is_file() and q.suffix.lower() in (".csv", ".zip")
            )  # fmt: skip
            if not found:
                yield FileResult(str(path), error=f"{path}: folder holds no .csv or .zip files")
            for q in found:
                yield from _expand([q])
        elif not path.exists():
            yield FileResult(str(path), error=f"{path}: no such file or directory")
        elif path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
            try:
                with zipfile.ZipFile(path) as zf:
                    bad = zf.testzip()
                    if bad is not None:
                        raise zipfile.BadZipFile(f"member {bad} is corrupt")
                    members = sorted(
                        n for n in zf.namelist() if n.lower().endswith(".csv") and not n.endswith("/")
                    )
            except (zipfile.BadZipFile, OSError, EOFError) as e:
                yield FileResult(
                    str(path), error=f"{path}: not a readable zip archive (truncated or corrupt: {e})"
                )
                continue
            if not members:
                yield FileResult(str(path), error=f"{path}: zip archive holds no .csv files")
            for m in members:
                yield _Source(f"{path}!{m}", path, m)
        else:
            yield _Source(str(path), path)


# -- decoding and parsing ---------------------------------------------------


def _decode(raw: bytes, label: str) -> tuple[bytes, str]:
    """Return UTF-8 bytes without BOM and the encoding found (utf-8, utf-8-sig, cp1252)."""
    if not raw.strip():
        raise RejectedFileError(f"{label}: file is empty")
    if b"\x00" in raw[:65536]:
        raise RejectedFileError(f"{label}: binary content, not a CSV file")
    enc = "utf-8"
    if raw.startswith(b"\xef\xbb\xbf"):
        raw, enc = raw[3:], "utf-8-sig"
    try:
        raw.decode("utf-8")
        return raw, enc
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252").encode("utf-8"), "cp1252"
    except UnicodeDecodeError as e:
        raise RejectedFileError(
            f"{label}: not text in UTF-8 or Windows-1252 (byte {raw[e.start]:#x} at offset {e.start})"
        ) from None


def _header(data: bytes, label: str) -> list[str]:
    first = data.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8")
    if not first.strip():
        raise RejectedFileError(f"{label}: first line is empty (no header row)")
    import csv

    return next(csv.reader([first]))


def _parse(data: bytes, columns: list[str], label: str) -> tuple[pa.Table, list[tuple[int | None, str]]]:
    """Parse every field as text; rows with the wrong field count come back separately."""

    def read(threads: bool) -> tuple[pa.Table, list[tuple[int | None, str]]]:
        bad: list[tuple[int | None, str]] = []

        def handler(row: pacsv.InvalidRow) -> str:
            bad.append((row.number, row.text))
            return "skip"

        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(use_threads=threads, block_size=1 << 22),
            parse_options=pacsv.ParseOptions(invalid_row_handler=handler, newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in columns},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        return table, bad

    try:
        table, bad = read(True)
        if bad:  # rare: reparse single-threaded so every bad row has its line number
            table, bad = read(False)
    except pa.ArrowInvalid as e:
        raise RejectedFileError(f"{label}: unreadable CSV ({str(e).splitlines()[0]})") from None
    return table, bad


def _line_numbers(n_rows: int, bad_lines: list[int]) -> np.ndarray:
    """Line numbers (header = line 1) of the accepted rows, skipping malformed lines."""
    total = n_rows + len(bad_lines)
    lines = np.arange(2, total + 2, dtype=np.int64)
    if bad_lines:
        lines = lines[~np.isin(lines, np.asarray(bad_lines, dtype=np.int64))]
    return lines


# -- validation -------------------------------------------------------------


def _col(table: pa.Table, name: str) -> pa.ChunkedArray:
    if name in table.column_names:
        return pc.utf8_trim_whitespace(table[name])
    return pa.chunked_array([pa.nulls(table.num_rows, pa.string())])


def _empty_to_null(a: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.if_else(pc.equal(a, ""), pa.scalar(None, pa.string()), a)


class _Checks:
    """Accumulates the first failing rule per row (row index -> (field, reason))."""

    def __init__(self, n: int) -> None:
        self.bad = np.zeros(n, dtype=bool)
        self.reasons: dict[int, tuple[str, str]] = {}

    def add(self, mask: np.ndarray, fieldname: str, why: callable) -> None:
        new = mask & ~self.bad
        for i in np.flatnonzero(new):
            self.reasons[int(i)] = (fieldname, why(int(i)))
        self.bad |= mask


def _to_np_bool(a: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(a, False).to_numpy(zero_copy_only=False), dtype=bool)


def _coords(table: pa.Table, checks: _Checks) -> dict[str, np.ndarray]:
    lon_s = _col(table, "Longitude")
    lat_s = _col(table, "Latitude")
    lon_txt = lon_s.to_numpy(zero_copy_only=False)
    lat_txt = lat_s.to_numpy(zero_copy_only=False)
    lon_empty = _to_np_bool(pc.equal(lon_s, ""))
    lat_empty = _to_np_bool(pc.equal(lat_s, ""))
    lon = _to_float(lon_s)
    lat = _to_float(lat_s)
    checks.add(
        ~lon_empty & np.isnan(lon), "Longitude", lambda i: f"Longitude {lon_txt[i]!r} is not a number"
    )
    checks.add(
        ~lat_empty & np.isnan(lat), "Latitude", lambda i: f"Latitude {lat_txt[i]!r} is not a number"
    )
    checks.add(
        lon_empty ^ lat_empty, "Longitude", lambda i: "only one of Longitude/Latitude is given"
    )
    has = ~np.isnan(lon) & ~np.isnan(lat)
    outside = has & ~in_uk(lon, lat)
    checks.add(outside, "Longitude", lambda i: f"coordinates ({lon[i]}, {lat[i]}) are outside the UK")
    has &= ~outside
    e = np.full(len(lon), np.nan)
    n = np.full(len(lon), np.nan)
    if has.any():
        e[has], n[has] = to_bng(lon[has], lat[has])
    lon = np.where(has, lon, np.nan)
    lat = np.where(has, lat, np.nan)
    return {"longitude": lon, "latitude": lat, "easting": e, "northing": n, "has_coords": has}


def _to_float(a: pa.ChunkedArray) -> np.ndarray:
    """Text -> float64 with NaN for empty or unparsable values (no exceptions)."""
    txt = _empty_to_null(a)
    ok = pc.match_substring_regex(txt, r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")
    clean = pc.if_else(ok, txt, pa.scalar(None, pa.string()))
    return np.asarray(
        pc.cast(clean, pa.float64()).to_numpy(zero_copy_only=False), dtype=float
    )


def _month(table: pa.Table, checks: _Checks) -> pa.ChunkedArray:
    m = _col(table, "Month")
    txt = m.to_numpy(zero_copy_only=False)
    bad = ~_to_np_bool(pc.match_substring_regex(m, MONTH_RE))
    checks.add(bad, "Month", lambda i: f"Month {txt[i]!r} is not YYYY-MM")
    return m


def _bool_col(table: pa.Table, name: str, checks: _Checks) -> pa.Array:
    s = pc.utf8_lower(_col(table, name))
    t = _to_np_bool(pc.equal(s, "true"))
    f = _to_np_bool(pc.equal(s, "false"))
    empty = _to_np_bool(pc.is_null(s)) | _to_np_bool(pc.equal(s, ""))
    txt = _col(table, name).to_numpy(zero_copy_only=False)
    checks.add(~(t | f | empty), name, lambda i: f"{name} {txt[i]!r} is not True/False")
    return pa.array(np.where(empty, None, t), type=pa.bool_(), from_pandas=True)


def _validate(kind: str, table: pa.Table, source_name: str) -> tuple[pa.Table, _Checks]:
    """Typed table of all rows plus the per-row failures; the caller splits them."""
    n = table.num_rows
    checks = _Checks(n)
    cols: dict[str, pa.Array | pa.ChunkedArray | np.ndarray] = {}
    if kind in ("street", "outcomes"):
        cols["month"] = _month(table, checks)
        cols.update(_coords(table, checks))
        cols["crime_id"] = _empty_to_null(_col(table, "Crime ID"))
        cols["reported_by"] = _empty_to_null(_col(table, "Reported by"))
        cols["falls_within"] = _empty_to_null(_col(table, "Falls within"))
        cols["location"] = _empty_to_null(_col(table, "Location"))
        cols["lsoa_code"] = _empty_to_null(_col(table, "LSOA code"))
        cols["lsoa_name"] = _empty_to_null(_col(table, "LSOA name"))
        if kind == "street":
            ct = _col(table, "Crime type")
            checks.add(_to_np_bool(pc.equal(ct, "")), "Crime type", lambda i: "Crime type is empty")
            cols["crime_type"] = ct
            cols["last_outcome"] = _empty_to_null(_col(table, "Last outcome category"))
            cols["context"] = _empty_to_null(_col(table, "Context"))
        else:
            cols["outcome_type"] = _empty_to_null(_col(table, "Outcome type"))
    else:
        cols.update(_stop_search(table, checks, source_name))
    return pa.table(
        {k: (pa.array(v) if isinstance(v, np.ndarray) else v) for k, v in cols.items()}
    ), checks


def _stop_search(table: pa.Table, checks: _Checks, source_name: str) -> dict:
    import pandas as pd

    date_s = _col(table, "Date")
    txt = date_s.to_numpy(zero_copy_only=False)
    dt = pd.to_datetime(pd.Series(txt), errors="coerce", utc=True, format="ISO8601")
    checks.add(
        dt.isna().to_numpy(), "Date", lambda i: f"Date {txt[i]!r} is not an ISO 8601 date-time"
    )
    # police.uk publishes UTC; the month an officer would name is London local time.
    local = dt.dt.tz_convert("Europe/London")
    month = local.dt.strftime("%Y-%m").fillna("")
    m = _FORCE_FROM_NAME.match(source_name)
    cols: dict = {
        "month": pa.array(month.to_numpy(dtype=object), pa.string()),
        **_coords(table, checks),
        "force": pa.array([m.group("force") if m else None] * table.num_rows, pa.string()),
        "type": _empty_to_null(_col(table, "Type")),
        "datetime": pa.array(dt.dt.tz_convert("UTC"), pa.timestamp("us", tz="UTC")),
        "part_of_operation": _bool_col(table, "Part of a policing operation", checks),
        "operation_name": _empty_to_null(_col(table, "Policing operation")),
        "gender": _empty_to_null(_col(table, "Gender")),
        "age_range": _empty_to_null(_col(table, "Age range")),
        "self_defined_ethnicity": _empty_to_null(_col(table, "Self-defined ethnicity")),
        "officer_defined_ethnicity": _empty_to_null(_col(table, "Officer-defined ethnicity")),
        "legislation": _empty_to_null(_col(table, "Legislation")),
        "object_of_search": _empty_to_null(_col(table, "Object of search")),
        "outcome": _empty_to_null(_col(table, "Outcome")),
        "outcome_linked_to_object": _bool_col(table, "Outcome linked to object of search", checks),
        "removal_of_outer_clothing": _bool_col(
            table, "Removal of more than just outer clothing", checks
        ),
    }
    return cols


def _raw_rows(table: pa.Table, idx: np.ndarray) -> list[str]:
    """Rebuild the text of quarantined rows so an analyst can see what was wrong."""
    sub = table.take(pa.array(idx, pa.int64())).to_pylist()
    return [",".join(v or "" for v in row.values()) for row in sub]


# -- the ingest -------------------------------------------------------------


def _ingest_one(store: Store, src: _Source) -> FileResult:
    res = FileResult(src.label)
    raw = src.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    data, encoding = _decode(raw, src.label)
    del raw
    header = _header(data, src.label)
    try:
        kind = detect_kind(header)
    except RejectedFileError as e:
        raise RejectedFileError(f"{src.label}: {e}") from None
    res.kind = kind
    if store_records.file_present(store, sha, kind):
        res.status = "already_present"
        return res

    table, malformed = _parse(data, header, src.label)
    del data
    typed, checks = _validate(kind, table, src.name)
    bad_lines = [num for num, _ in malformed if num is not None]
    lines = _line_numbers(table.num_rows, bad_lines)
    good = ~checks.bad
    n_bad = int(checks.bad.sum())
    res.rows_read = table.num_rows + len(malformed)
    res.rows_inserted = int(good.sum())
    res.rows_quarantined = n_bad + len(malformed)

    quarantine_rows: list[tuple[int | None, str, str | None, str, str]] = []
    if n_bad:
        bad_idx = np.flatnonzero(checks.bad)
        for i, text in zip(bad_idx, _raw_rows(table, bad_idx), strict=True):
            fieldname, reason = checks.reasons[int(i)]
            quarantine_rows.append((int(lines[i]), kind, fieldname, reason, text))
    for num, text in malformed:
        quarantine_rows.append(
            (num, kind, None, f"row has {text.count(',') + 1} fields, expected {len(header)}", text)
        )

    if n_bad:
        typed = typed.filter(pa.array(good))
        lines = lines[good]
    force = None
    if kind != "stop_search" and typed.num_rows:
        fw = pc.unique(typed["falls_within"]).drop_null().to_pylist()
        force = ", ".join(sorted(fw)) if fw else None
    elif kind == "stop_search":
        m = _FORCE_FROM_NAME.match(src.name)
        force = m.group("force") if m else None

    with store.transaction():
        file_id = store.next_file_id()
        store_records.insert_records(
            store,
            TABLE_FOR_KIND[kind],
            typed.append_column("line", pa.array(lines, pa.int32())).append_column(
                "file_id", pa.array(np.full(len(lines), file_id, dtype=np.int32))
            ),
        )
        store_records.insert_quarantine(store, file_id, quarantine_rows)
        store_records.insert_source_file(
            store,
            file_id=file_id,
            path=src.label,
            sha256=sha,
            kind=kind,
            force=force,
            encoding=encoding,
            rows_read=res.rows_read,
            rows_inserted=res.rows_inserted,
            rows_quarantined=res.rows_quarantined,
        )
    res.status = "ingested"
    return res


def ingest_police_uk(
    paths: Iterable[str | os.PathLike],
    store: Store | str | os.PathLike | None = None,
    *,
    progress: ProgressFn | None = None,
) -> IngestResult:
    """Ingest police.uk CSV files, folders and zip archives into the store.

    A rejected file does not stop the others; check ``result.ok``. ``store`` is
    an open :class:`Store` or a path (opened and closed here).
    """
    own = not isinstance(store, Store)
    st = open_store(store) if own else store
    result = IngestResult()
    try:
        sources = list(_expand([paths] if isinstance(paths, str | os.PathLike) else paths))
        for src in sources:
            if isinstance(src, FileResult):
                result.files.append(src)
            else:
                try:
                    result.files.append(_ingest_one(st, src))
                except RejectedFileError as e:
                    msg = str(e)
                    if not msg.startswith(src.label):
                        msg = f"{src.label}: {msg}"
                    result.files.append(FileResult(src.label, error=msg))
                except (OSError, zipfile.BadZipFile) as e:
                    result.files.append(
                        FileResult(src.label, error=f"{src.label}: cannot read ({e})")
                    )
            if progress:
                progress("ingesting police.uk files", 1, len(sources))
    finally:
        if own:
            st.close()
    return result
