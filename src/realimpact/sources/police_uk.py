"""Reader and validator for data.police.uk monthly CSV files.

Three kinds are accepted (street-level crime, stop and search, outcomes), as
single CSVs, folders (searched recursively) or the zip archives the site
publishes. The kind is read from the header row, never from the file name,
because renamed downloads are common.

Faithfulness rules (docs/architecture.md):
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from realimpact._progress import ProgressFn
from realimpact.errors import RejectedFileError
from realimpact.geo.crs import to_bng
from realimpact.store import Store, using_store
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
_KIND_LABEL = {"street": "street", "outcomes": "outcomes", "stop_search": "stop-and-search"}
TABLE_FOR_KIND = {"street": "crimes", "outcomes": "outcomes", "stop_search": "stop_searches"}

_FORCE_FROM_NAME = re.compile(
    r"^\d{4}-\d{2}-(?P<force>.+?)-(street|stop-and-search|outcomes)\.csv$"
)


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
            f"header looks like a police.uk {_KIND_LABEL[kind]} file but has " + " and ".join(parts)
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
                        n
                        for n in zf.namelist()
                        if n.lower().endswith(".csv") and not n.endswith("/")
                    )
            except (zipfile.BadZipFile, OSError, EOFError) as e:
                yield FileResult(
                    str(path),
                    error=f"{path}: not a readable zip archive (truncated or corrupt: {e})",
                )
                continue
            if not members:
                yield FileResult(str(path), error=f"{path}: zip archive holds no .csv files")
            for m in members:
                yield _Source(f"{path}!{m}", path, m)
        else:
            yield _Source(str(path), path)


# -- decoding and parsing ---------------------------------------------------


def _check_text(raw: bytes, label: str) -> None:
    """Reject what is plainly not a CSV before any parsing."""
    if not raw or raw.isspace():
        raise RejectedFileError(f"{label}: file is empty")
    if b"\x00" in raw[:65536]:
        raise RejectedFileError(f"{label}: binary content, not a CSV file")


def _decode(raw: bytes, label: str) -> tuple[bytes, str]:
    """Return UTF-8 bytes without BOM and the encoding found (utf-8, utf-8-sig, cp1252)."""
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


def _header(raw: bytes, label: str) -> list[str]:
    """The header row, decoded as UTF-8 (BOM skipped) or else Windows-1252."""
    import csv

    end = raw.find(b"\n")
    first = (raw if end < 0 else raw[:end]).rstrip(b"\r").removeprefix(b"\xef\xbb\xbf")
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        text = first.decode("cp1252", errors="replace")
    if not text.strip():
        raise RejectedFileError(f"{label}: first line is empty (no header row)")
    return next(csv.reader([text]))


_COORDS = ("Longitude", "Latitude")


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_large_string(t) or pa.types.is_string(t)


def _parse_fast(raw: bytes, columns: list[str]) -> pa.Table | None:
    """Parse a well-formed UTF-8 file with pandas' C parser, or return None.

    Measured on the national year (benchmarks/ingest.py) this parser is about
    3x faster than DuckDB's or pyarrow's CSV readers on 2 cores. Type inference
    is kept only where it is exact: coordinates that all parse as numbers stay
    numbers (pandas 3 rounds them correctly; a test checks a real file against
    Python's ``float``); any other column pandas did not keep as text is re-read
    as text, so "007" stays "007". None sends the file to the careful reader
    (:func:`_parse`): bytes that are not UTF-8, a row with too many fields, a
    coordinate read as NaN (``nan`` is data to quarantine, not a missing value)
    or a quoted line break (line numbers would drift). Rows with too *few*
    fields, which pandas pads silently, are caught by :func:`_fields_complete`.
    """
    import warnings

    import pandas as pd

    def read(**kw: object) -> pd.DataFrame:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(
                io.BytesIO(raw), header=0, names=columns, keep_default_na=False,
                encoding="utf-8", engine="c", **kw,
            )  # fmt: skip

    try:
        df = read()
    except (pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError, ValueError):
        return None
    # a first data row with extra fields makes pandas take them as an index
    if df.empty or not isinstance(df.index, pd.RangeIndex) or df.index.start != 0:
        return None
    table = pa.Table.from_pandas(df, preserve_index=False)
    quoted = b'"' in raw
    retext = []
    for name, col in zip(table.column_names, table.columns, strict=True):
        if _is_text(col.type):
            if col.null_count:
                return None
            if quoted and pc.any(pc.match_substring_regex(col, "[\r\n]")).as_py():
                return None
        elif name in _COORDS and (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
            if col.null_count:
                return None
        else:
            retext.append(name)
    if retext:
        try:
            text = read(usecols=retext, dtype=str)
        except (pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError, ValueError):
            return None
        for name in retext:
            table = table.set_column(
                table.column_names.index(name), name, pa.array(text[name], pa.large_string())
            )
    for name in _COORDS:
        if name in table.column_names and pa.types.is_integer(table[name].type):
            i = table.column_names.index(name)
            table = table.set_column(i, name, table[name].cast(pa.float64()))
    return table


def _fields_complete(table: pa.Table, raw: bytes, commas: int) -> bool:
    """True when every row had all its fields: the file's commas add up.

    pandas pads a short row with empty fields instead of reporting it, so the
    commas are counted instead: header + (columns - 1) per row + those inside
    quoted values. A short row and a long one cannot cancel out, because
    pandas refuses long rows.
    """
    end = raw.find(b"\n")
    header_commas = (raw if end < 0 else raw[:end]).count(b",")
    inside = 0
    if b'"' in raw:
        for col in table.columns:
            if _is_text(col.type):
                inside += pc.sum(pc.count_substring(col, ",")).as_py() or 0
    return commas == header_commas + (table.num_columns - 1) * table.num_rows + inside


def _parse(
    data: bytes, columns: list[str], label: str
) -> tuple[pa.Table, list[tuple[int | None, str]]]:
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


# -- the ingest -------------------------------------------------------------


def _digest(data: bytes) -> tuple[str, int]:
    """sha256 of the content and its number of commas, in one pass that
    releases the GIL (hashlib and numpy), so it runs beside the parser."""
    h = hashlib.sha256()
    view = memoryview(data)
    commas = 0
    step = 1 << 23
    for i in range(0, len(data), step):
        chunk = view[i : i + step]
        h.update(chunk)
        commas += int(np.count_nonzero(np.frombuffer(chunk, np.uint8) == ord(",")))
    return h.hexdigest(), commas


def _ingest_one(store: Store, src: _Source) -> FileResult:
    res = FileResult(src.label)
    raw = src.read_bytes()
    _check_text(raw, src.label)
    header = _header(raw, src.label)
    try:
        kind = detect_kind(header)
    except RejectedFileError as e:
        raise RejectedFileError(f"{src.label}: {e}") from None
    res.kind = kind

    # Fast path: pandas' C parser while another thread hashes the bytes.
    # Files it cannot read exactly (not UTF-8, a row with the wrong field
    # count) are re-read through pyarrow, which reports each malformed row.
    with ThreadPoolExecutor(1) as pool:
        digest = pool.submit(_digest, raw)
        table = _parse_fast(raw, header)
        sha, commas = digest.result()
    if table is not None and not _fields_complete(table, raw, commas):
        table = None
    if store_records.file_present(store, sha, kind):
        res.status = "already_present"
        return res
    malformed: list[tuple[int | None, str]] = []
    encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"
    if table is None:
        data, encoding = _decode(raw, src.label)
        table, malformed = _parse(data, header, src.label)
        lines = _line_numbers(table.num_rows, [num for num, _ in malformed if num is not None])
        del data
    else:
        lines = _line_numbers(table.num_rows, [])
    del raw
    staged = store_records.stage_arrow(store, table, lines)
    del table
    force = None
    if kind == "stop_search":
        m = _FORCE_FROM_NAME.match(src.name)
        force = m.group("force") if m else None
    try:
        with store.transaction():
            file_id = store.next_file_id()
            inserted, quarantined = store_records.load_stage(
                store,
                kind=kind,
                table=TABLE_FOR_KIND[kind],
                columns=header,
                file_id=file_id,
                project=to_bng,
                extra={"force": force} if kind == "stop_search" else None,
                malformed=malformed,
            )
            if kind != "stop_search":
                forces = store_records.file_forces(store, TABLE_FOR_KIND[kind], file_id)
                force = ", ".join(forces) or None
            res.rows_read = staged + len(malformed)
            res.rows_inserted = inserted
            res.rows_quarantined = quarantined
            store_records.insert_source_file(
                store,
                file_id=file_id,
                path=src.label,
                sha256=sha,
                kind=kind,
                force=force,
                encoding=encoding,
                rows_read=res.rows_read,
                rows_inserted=inserted,
                rows_quarantined=quarantined,
            )
    finally:
        store_records.drop_stage(store)
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
    result = IngestResult()
    with using_store(store) as st:
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
    return result
