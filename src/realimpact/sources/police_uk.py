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

import csv
import hashlib
import io
import os
import re
import zipfile
import zlib
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

# -- limits ------------------------------------------------------------------

# A zip member is streamed, never trusted: its expanded size is capped at
# ZIP_MAX_MEMBER_BYTES and at ZIP_MAX_RATIO times its compressed size (with a
# floor of ZIP_RATIO_FLOOR_BYTES, so small well-compressed files still pass).
# Real police.uk CSVs compress about 10x; a zip bomb compresses 1000x.
ZIP_MAX_MEMBER_BYTES = 2 << 30
ZIP_MAX_RATIO = 200
ZIP_RATIO_FLOOR_BYTES = 16 << 20

# Errors reading a zip member: corrupt deflate stream, encrypted member,
# unsupported method (deflate64, ...), bad CRC, truncated archive.
_ZIP_ERRORS = (
    zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, EOFError, OSError,
    ValueError,
)  # fmt: skip

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
        try:
            return _read_member(self.path, self.member, self.label)
        except RejectedFileError:
            raise
        except _ZIP_ERRORS as e:
            raise RejectedFileError(
                f"{self.label}: cannot read zip member {self.member!r} of {self.path}"
                f" ({type(e).__name__}: {e})"
            ) from None

    @property
    def name(self) -> str:
        return Path(self.member).name if self.member else self.path.name


def member_cap(compressed: int) -> int:
    """Largest expanded size accepted for a zip member of ``compressed`` bytes."""
    return min(ZIP_MAX_MEMBER_BYTES, max(ZIP_MAX_RATIO * compressed, ZIP_RATIO_FLOOR_BYTES))


def _read_member(path: Path, member: str, label: str) -> bytes:
    """A zip member's bytes, streamed, refused as soon as it expands beyond its cap."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
        cap = member_cap(info.compress_size)

        def refuse(size: str) -> RejectedFileError:
            return RejectedFileError(
                f"{label}: zip member {member!r} of {path} expands to {size} from"
                f" {info.compress_size:,} compressed bytes, over the {cap:,}-byte cap"
                " (a zip bomb or not a police.uk file)"
            )

        if info.file_size > cap:
            raise refuse(f"{info.file_size:,} bytes")
        chunks: list[bytes] = []
        size = 0
        with zf.open(info) as f:
            while chunk := f.read(1 << 22):
                chunks.append(chunk)
                size += len(chunk)
                if size > cap:
                    raise refuse(f"more than {cap:,} bytes")
        return b"".join(chunks)


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
            # Members are not tested here (testzip expands them all, a zip
            # bomb included): each is read, capped, when its turn comes, and
            # a corrupt one is rejected alone.
            try:
                with zipfile.ZipFile(path) as zf:
                    members = sorted(
                        n
                        for n in zf.namelist()
                        if n.lower().endswith(".csv") and not n.endswith("/")
                    )
            except _ZIP_ERRORS as e:
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


def _normalise(raw: bytes) -> tuple[bytes, bool]:
    """The content without BOM and with LF line endings (CRLF and old-Mac CR).

    Both parsers and the identity hash read this, so a CRLF or BOM copy of a
    file is the same file, and a CR-only file has one physical line per CR.
    A CR inside a quoted value becomes LF as well. Returns (content, changed).
    """
    changed = raw.startswith(b"\xef\xbb\xbf")
    data = raw[3:] if changed else raw
    if b"\r" in data:
        changed = True
        data = data.replace(b"\r\n", b"\n")
        if b"\r" in data:
            data = data.replace(b"\r", b"\n")
    return data, changed


# A UTF-8 multi-byte sequence. Text that holds one is UTF-8 (Windows-1252 text
# almost never spells one: "Ã©" is mojibake, not police.uk's place names), so
# bytes that fail to decode in such a file are damage to quarantine, not a
# sign that the whole file is Windows-1252.
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
# what a byte that is not UTF-8 becomes in a UTF-8 file (its rows are quarantined)
INVALID_UTF8 = "\ufffd"


def _decode(raw: bytes, label: str) -> tuple[bytes, str]:
    """UTF-8 bytes without BOM, and the encoding found: utf-8, utf-8-sig, cp1252,
    or ``utf-8-damaged``.

    The encoding is decided per file. A file that is not valid UTF-8 but holds
    UTF-8 text elsewhere ("Café" and one stray 0xE9) stays UTF-8: decoding it
    as Windows-1252 would turn every "Café" into "CafÃ©". Its bad bytes become
    U+FFFD and load_stage quarantines the rows that hold one, so nothing is
    silently altered. A file with no UTF-8 sequence at all is Windows-1252.
    """
    enc = "utf-8"
    if raw.startswith(b"\xef\xbb\xbf"):
        raw, enc = raw[3:], "utf-8-sig"
    try:
        raw.decode("utf-8")
        return raw, enc
    except UnicodeDecodeError:
        pass
    if _UTF8_SEQUENCE.search(raw):
        return raw.decode("utf-8", errors="replace").encode("utf-8"), "utf-8-damaged"
    try:
        return raw.decode("cp1252").encode("utf-8"), "cp1252"
    except UnicodeDecodeError as e:
        raise RejectedFileError(
            f"{label}: not text in UTF-8 or Windows-1252 (byte {raw[e.start]:#x} at offset {e.start})"
        ) from None


def _header(raw: bytes, label: str) -> list[str]:
    """The header row, decoded as UTF-8 (BOM skipped) or else Windows-1252.

    Names are stripped (``Longitude ,`` is ``Longitude``) here, once, so kind
    detection, both parsers and the SQL all see the same names; a name given
    twice is refused (one of the columns would be silently dropped).
    """
    end = raw.find(b"\n")
    first = (raw if end < 0 else raw[:end]).rstrip(b"\r").removeprefix(b"\xef\xbb\xbf")
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        text = first.decode("cp1252", errors="replace")
    if not text.strip():
        raise RejectedFileError(f"{label}: first line is empty (no header row)")
    try:
        names = [c.strip() for c in next(csv.reader([text]))]
    except csv.Error as e:
        raise RejectedFileError(f"{label}: unreadable header row ({e})") from None
    seen: set[str] = set()
    for c in names:
        if c in seen:
            raise RejectedFileError(f"{label}: header names column {c!r} more than once")
        seen.add(c)
    return names


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
    coordinate read as NaN (``nan`` is data to quarantine, not a missing value).
    Rows with too *few* fields, which pandas pads silently, are caught by
    :func:`_fields_complete`; a whitespace-only line, which pandas skips, by
    the row count (:func:`_record_lines`).
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
    retext = []
    for name, col in zip(table.column_names, table.columns, strict=True):
        number = pa.types.is_floating(col.type) or pa.types.is_integer(col.type)
        if _is_text(col.type) or (name in _COORDS and number):
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
    data: bytes, columns: list[str], label: str, *, newlines_in_values: bool = False
) -> tuple[pa.Table, list[tuple[int | None, str]]]:
    """Parse every field as text; rows with the wrong field count come back separately.

    A malformed row's number is its record number (header = 1, empty lines
    not counted), mapped to a physical line by the caller.
    """

    def read(threads: bool, block: int) -> tuple[pa.Table, list[tuple[int | None, str]]]:
        bad: list[tuple[int | None, str]] = []

        def handler(row: pacsv.InvalidRow) -> str:
            bad.append((row.number, row.text))
            return "skip"

        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(
                use_threads=threads, block_size=block, column_names=columns, skip_rows=1
            ),
            parse_options=pacsv.ParseOptions(
                invalid_row_handler=handler, newlines_in_values=newlines_in_values
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in columns},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        return table, bad

    if not data.endswith(b"\n"):
        data += b"\n"  # pyarrow cannot skip a header row that has no line break after it
    block = 1 << 22
    try:
        try:
            table, bad = read(True, block)
        except pa.ArrowInvalid as e:
            if "straddl" not in str(e):
                raise
            # a record longer than two blocks (a field of 8 MB or more): one block
            block = min(len(data) + 1, (1 << 31) - 1)
            table, bad = read(False, block)
        if bad:  # rare: reparse single-threaded so every bad row has its line number
            table, bad = read(False, block)
    except pa.ArrowInvalid as e:
        raise RejectedFileError(f"{label}: unreadable CSV ({str(e).splitlines()[0]})") from None
    return table, bad


@dataclass
class _Scan:
    sha: str
    raw_sha: str | None  # sha256 of the bytes as read, when normalising changed them
    commas: int
    newlines: np.ndarray  # offsets of every LF
    quotes: np.ndarray | None  # offsets of every '"', None when the file has none


def _record_lines(scan: _Scan, size: int) -> tuple[np.ndarray, bool]:
    """Physical line (header = 1) where each non-empty data record starts,
    and whether a quoted value holds a line break.

    Records end at a LF outside quotes (an even number of '"' before it);
    empty lines are no records (both parsers and Python's csv module skip
    them). Vectorised, no loop per row.
    """
    nl = scan.newlines
    # index in ``nl`` of each LF that ends a record
    ends_at = np.arange(len(nl), dtype=np.int64)
    quoted_break = False
    if scan.quotes is not None and len(scan.quotes):
        outside = (np.searchsorted(scan.quotes, nl) & 1) == 0
        quoted_break = not bool(outside.all())
        if quoted_break:
            ends_at = np.flatnonzero(outside)
    term = nl[ends_at]
    starts = np.concatenate(([0], term + 1))
    ends = np.concatenate((term, [size]))
    # a record starting after the LF nl[k] starts on physical line k + 2
    lines = np.concatenate(([1], ends_at + 2))
    return lines[ends > starts][1:], quoted_break


def _csv_record_lines(data: bytes) -> np.ndarray:
    """Slow, exact fallback of :func:`_record_lines` with Python's csv module
    (a '"' inside an unquoted value breaks the quote count)."""
    text = data.decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    lines: list[int] = []
    prev = 0
    limit = csv.field_size_limit(max(len(data), 1 << 17))  # a field may be as long as the file
    try:
        for row in reader:
            if row:
                lines.append(prev + 1)
            prev = reader.line_num
    except csv.Error:
        return np.zeros(0, np.int64)
    finally:
        csv.field_size_limit(limit)
    return np.asarray(lines[1:], np.int64)


# -- the ingest -------------------------------------------------------------


def _digest(data: bytes, raw: bytes | None = None) -> _Scan:
    """sha256 of the normalised content, its commas, LFs and quotes, in one
    pass that releases the GIL (hashlib and numpy), so it runs beside the
    parser. ``raw``, when given, is hashed too (stores made before content was
    normalised hold that hash)."""
    h = hashlib.sha256()
    view = memoryview(data)
    commas = 0
    quoted = b'"' in data
    nls: list[np.ndarray] = []
    quotes: list[np.ndarray] = []
    step = 1 << 23
    for i in range(0, len(data), step):
        chunk = view[i : i + step]
        h.update(chunk)
        arr = np.frombuffer(chunk, np.uint8)
        commas += int(np.count_nonzero(arr == ord(",")))
        nls.append(np.flatnonzero(arr == ord("\n")) + i)
        if quoted:
            quotes.append(np.flatnonzero(arr == ord('"')) + i)
    raw_sha = hashlib.sha256(raw).hexdigest() if raw is not None else None
    return _Scan(
        h.hexdigest(),
        raw_sha,
        commas,
        np.concatenate(nls) if nls else np.zeros(0, np.int64),
        np.concatenate(quotes) if quoted else None,
    )


def _digest_and_lines(data: bytes, raw: bytes | None) -> tuple[_Scan, tuple[np.ndarray, bool]]:
    """Both run on the hashing thread, beside the parser."""
    scan = _digest(data, raw)
    return scan, _record_lines(scan, len(data))


def _ingest_one(store: Store, src: _Source) -> FileResult:
    res = FileResult(src.label)
    raw = src.read_bytes()
    _check_text(raw, src.label)
    encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"
    data, changed = _normalise(raw)
    header = _header(data, src.label)
    try:
        kind = detect_kind(header)
    except RejectedFileError as e:
        raise RejectedFileError(f"{src.label}: {e}") from None
    res.kind = kind

    # Fast path: pandas' C parser while another thread hashes the bytes.
    # Files it cannot read exactly (not UTF-8, a row with the wrong field
    # count) are re-read through pyarrow, which reports each malformed row.
    with ThreadPoolExecutor(1) as pool:
        digest = pool.submit(_digest_and_lines, data, raw if changed else None)
        table = _parse_fast(data, header)
        scan, (record_lines, quoted_break) = digest.result()
    del raw
    sha = scan.sha
    if store_records.file_present(store, [sha, scan.raw_sha], kind):
        res.status = "already_present"
        return res
    if table is not None and quoted_break:
        # the quote count says a value holds a line break; a '"' inside an
        # unquoted value (Dur"ham) fools it, and pandas, reading that '"' as
        # text, could still agree on the count: the csv module settles it
        record_lines = _csv_record_lines(data)
    if table is not None and (
        table.num_rows != len(record_lines) or not _fields_complete(table, data, scan.commas)
    ):
        table = None  # a whitespace-only line (pandas skips it) or a short row
    del scan
    malformed: list[tuple[int | None, str]] = []
    damaged = False
    if table is None:
        text, enc = _decode(data, src.label)
        damaged = enc == "utf-8-damaged"
        if enc == "cp1252":
            # identity is the text, so a Windows-1252 copy of a UTF-8 file (or the
            # reverse) is the same file: hash what was decoded
            encoding, sha = enc, hashlib.sha256(text).hexdigest()
            if store_records.file_present(store, sha, kind):
                res.status = "already_present"
                return res
        table, malformed = _parse(text, header, src.label, newlines_in_values=quoted_break)
        if table.num_rows + len(malformed) != len(record_lines):
            record_lines = _csv_record_lines(text)
        if table.num_rows + len(malformed) != len(record_lines) or any(
            num is None for num, _ in malformed
        ):
            raise RejectedFileError(
                f"{src.label}: cannot tell the line of every row (unbalanced quotes?)"
            )
        del text
        if malformed:
            # record number (header = 1) -> physical line
            idx = np.asarray([num for num, _ in malformed], np.int64) - 2
            malformed = [
                (int(record_lines[i]), t) for i, (_, t) in zip(idx, malformed, strict=True)
            ]
            keep = np.ones(len(record_lines), bool)
            keep[idx] = False
            lines = record_lines[keep]
        else:
            lines = record_lines
    else:
        lines = record_lines
    del data
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
                invalid_text=damaged,
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
                except (*_ZIP_ERRORS, csv.Error, UnicodeError, pa.ArrowException) as e:
                    result.files.append(
                        FileResult(
                            src.label,
                            error=f"{src.label}: cannot read ({type(e).__name__}: {e})",
                        )
                    )
            if progress:
                progress("ingesting police.uk files", 1, len(sources))
    return result
