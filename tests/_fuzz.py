"""Fuzzing police.uk ingest (issue 13): mutations of real files, an independent oracle, a checker.

Three parts, shared by ``tests/test_fuzz_ingest.py`` (a short derandomised run)
and ``benchmarks/fuzz.py`` (long runs):

- :func:`inputs`, a Hypothesis strategy: one to three entries (CSV files or zips
  of them), each built from the first lines of a REAL police.uk file read in
  place from the shared data folder, then mutated (line endings, BOM, header
  edits, quotes, encodings, months and dates, coordinates, field counts, blank
  lines, huge fields);
- :func:`expect`, the oracle: from a file's bytes alone, with Python's ``csv``
  module and the rules of docs/ingest.md, the data rows, the physical line each
  starts on, which must or may be quarantined, and whether the file must or may
  be rejected. It shares no code with ``realimpact`` on purpose: a bug copied
  into the oracle would hide itself;
- :func:`check`, which runs the real CLI in-process (``realimpact ingest
  police-uk --json``) on a fresh copy of a seeded store, twice, and returns the
  broken promises as readable strings (empty list: none).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import sys
import tempfile
import traceback
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path

from hypothesis import strategies as st

# Huge fields are several MB: Python's csv module refuses fields over 128 KiB by default.
csv.field_size_limit(sys.maxsize)


def _shared_data() -> Path:
    """The shared data folder, found the way tests/conftest.py finds it (not imported:
    benchmarks/fuzz.py uses this module without pytest)."""
    env = os.environ.get("REALIMPACT_SHARED")
    repo = Path(__file__).resolve().parents[1]
    for c in [*([Path(env)] if env else []), repo.parent / "shared", Path("/work/shared")]:
        if (c / "data").is_dir():
            return c / "data"
    raise RuntimeError("cannot find ../shared/data beside the checkout (set REALIMPACT_SHARED)")


DATA = _shared_data()
PUK = DATA / "police_uk"
PUK_MORE = DATA / "police_uk_more"

# Real files, read in place; only their first lines are used (each input stays fast).
BASES: tuple[Path, ...] = (
    PUK / "city_of_london/street/2020-05-city-of-london-street.csv",
    PUK / "city_of_london/street/2019-06-city-of-london-street.csv",
    PUK / "merseyside/street/2018-10-merseyside-street.csv",
    PUK / "durham/street/2019-01-durham-street.csv",
    PUK / "city_of_london/stop_and_search/2018-02-city-of-london-stop-and-search.csv",
    PUK / "greater_manchester/2019-06-greater-manchester-stop-and-search.csv",
    PUK / "metropolitan/stop_and_search/2019-02-metropolitan-stop-and-search.csv",
    PUK_MORE / "city_of_london/outcomes/2019-08-city-of-london-outcomes.csv",
    PUK_MORE / "city_of_london/outcomes/2016-01-city-of-london-outcomes.csv",
    # re-saved by a spreadsheet (CRLF, TRUE/FALSE, "Oct-17"): see its README.txt
    PUK_MORE / "malformed/merseyside_stop_and_search_excel_resaved/2018-02-merseyside-stop-and-search.csv",
)  # fmt: skip
# The store every check starts from: previous contents must survive every input.
SEED = PUK / "city_of_london/street/2020-04-city-of-london-street.csv"
MAX_BASE_ROWS = 60

# -- the documented formats (docs/ingest.md, written out again, not imported) --

_STREET = ("Crime ID", "Month", "Reported by", "Falls within", "Longitude", "Latitude",
           "Location", "LSOA code", "LSOA name", "Crime type", "Last outcome category")  # fmt: skip
_SEARCH = ("Type", "Date", "Part of a policing operation", "Latitude", "Longitude", "Gender",
           "Age range", "Officer-defined ethnicity", "Legislation", "Object of search",
           "Outcome")  # fmt: skip
_OUTCOMES = ("Crime ID", "Month", "Reported by", "Falls within", "Longitude", "Latitude",
             "Location", "LSOA code", "LSOA name", "Outcome type")  # fmt: skip
KIND_COLUMNS: dict[str, tuple[frozenset[str], frozenset[str]]] = {  # kind: (required, optional)
    "street": (frozenset(_STREET), frozenset({"Context"})),
    "stop_search": (
        frozenset(_SEARCH),
        frozenset(
            {
                "Policing operation",
                "Self-defined ethnicity",
                "Outcome linked to object of search",
                "Removal of more than just outer clothing",
            }
        ),
    ),
    "outcomes": (frozenset(_OUTCOMES), frozenset()),
}
TABLES = {"street": "crimes", "stop_search": "stop_searches", "outcomes": "outcomes"}
BOOL_FIELDS = ("Part of a policing operation", "Outcome linked to object of search",
               "Removal of more than just outer clothing")  # fmt: skip
UK_BOX = (-8.9, 2.0, 49.0, 61.0)  # lon min, lon max, lat min, lat max
COORD = "coordinates"  # the quarantine may name either Longitude or Latitude for a pair


# -- inputs ----------------------------------------------------------------------


@dataclass
class CsvEntry:
    """One CSV file of an input (top-level, or a member of a zip)."""

    name: str
    data: bytes
    notes: list[str] = field(default_factory=list)


@dataclass
class ZipEntry:
    """A zip archive of CSV members (plus, maybe, a member that is not a CSV)."""

    name: str
    members: list[CsvEntry]
    deflate: bool = True
    extra_txt: bool = False

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        method = zipfile.ZIP_DEFLATED if self.deflate else zipfile.ZIP_STORED
        with zipfile.ZipFile(buf, "w", method) as zf:
            if self.extra_txt:
                zf.writestr("README.txt", b"not a csv\n")
            for m in self.members:
                zf.writestr(m.name, m.data)
        return buf.getvalue()


@dataclass
class FuzzInput:
    """What one ingest command is given: files and zips in a folder, passed as the
    folder or one by one (both are processed in name order here)."""

    entries: list[CsvEntry | ZipEntry]
    as_folder: bool = False

    def __repr__(self) -> str:
        # Hypothesis prints a failing example: several MB of bytes would drown the report
        if self.size() <= 4000:
            return self.to_python()
        return f"<FuzzInput {self.size():,} bytes: {self.describe()}>"

    def sources(self, folder: Path) -> list[tuple[str, bytes]]:
        """(label the CLI reports, bytes) of every CSV, in the order they are ingested."""
        out = []
        for e in sorted(self.entries, key=lambda e: e.name):
            if isinstance(e, CsvEntry):
                out.append((str(folder / e.name), e.data))
            else:
                for m in sorted(e.members, key=lambda m: m.name):
                    out.append((f"{folder / e.name}!{m.name}", m.data))
        return out

    def write(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for e in sorted(self.entries, key=lambda e: e.name):
            p = folder / e.name
            p.write_bytes(e.data if isinstance(e, CsvEntry) else e.to_bytes())
            paths.append(p)
        return paths

    def size(self) -> int:
        return sum(
            len(e.data) if isinstance(e, CsvEntry) else sum(len(m.data) for m in e.members)
            for e in self.entries
        )

    def describe(self) -> str:
        parts = []
        for e in self.entries:
            if isinstance(e, CsvEntry):
                parts.append(f"{e.name} [{'; '.join(e.notes)}]")
            else:
                inner = ", ".join(f"{m.name} [{'; '.join(m.notes)}]" for m in e.members)
                parts.append(f"{e.name} {{{inner}}}")
        return " | ".join(parts)

    def to_python(self) -> str:
        """The input as a Python literal (for a reproducer)."""
        lines = [f"FuzzInput(as_folder={self.as_folder!r}, entries=["]
        for e in self.entries:
            if isinstance(e, CsvEntry):
                lines.append(f"    CsvEntry({e.name!r}, {e.data!r}),")
            else:
                lines.append(f"    ZipEntry({e.name!r}, deflate={e.deflate!r}, "
                             f"extra_txt={e.extra_txt!r}, members=[")  # fmt: skip
                lines += [f"        CsvEntry({m.name!r}, {m.data!r})," for m in e.members]
                lines.append("    ]),")
        lines.append("])")
        return "\n".join(lines)


@cache
def _base(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and first rows of a real file, as values (the real files are clean)."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = []
        for row in reader:
            if row:
                rows.append(row)
            if len(rows) >= MAX_BASE_ROWS:
                break
    return header, rows


def _raw(value: str) -> str:
    """A value as a CSV cell (the real files quote nothing, but keep it exact)."""
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


@dataclass
class Doc:
    """A file being mutated: raw header cells, rows of raw cells or raw lines, and how
    it will be written out."""

    kind: str
    header: list[str]
    rows: list[list[str] | str]
    eol: str = "\n"
    mixed: list[str] | None = None
    final_eol: bool = True
    encoding: str = "utf-8"
    bom: bool = False
    stray: list[tuple[int, int, bytes]] = field(default_factory=list)  # (line, pos, byte)
    cut: int = 0
    huge: bool = False
    notes: list[str] = field(default_factory=list)

    def col(self, name: str) -> int | None:
        names = [h.strip() for h in self.header]
        return names.index(name) if name in names else None

    def data_rows(self) -> list[int]:
        return [i for i, r in enumerate(self.rows) if isinstance(r, list)]

    def to_bytes(self) -> bytes:
        lines = [",".join(self.header)] + [
            ",".join(r) if isinstance(r, list) else r for r in self.rows
        ]
        enc = [ln.encode(self.encoding, errors="replace") for ln in lines]
        for line, pos, byte in self.stray:
            if 0 < line < len(enc):
                b = enc[line]
                p = pos % (len(b) + 1)
                enc[line] = b[:p] + byte + b[p:]
        out = bytearray(b"\xef\xbb\xbf" if self.bom else b"")
        for i, b in enumerate(enc):
            out += b
            if i < len(enc) - 1 or self.final_eol:
                eol = self.mixed[i % len(self.mixed)] if self.mixed else self.eol
                out += eol.encode()
        if self.cut:
            del out[max(1, len(out) - self.cut) :]
        return bytes(out)


_MULTIBYTE = ("Café", "Łódź", "東京", "naïve — ‘x’", "😀", "Straße ½")
_CP1252_TEXT = ("Café", "£5 – ‘quoted’", "naïve…", "Ÿ€")
_STRAY_BYTES = (b"\xe9", b"\xa3", b"\x92", b"\x96", b"\x80", b"\x81", b"\xc3", b"\xff")
_BAD_MONTHS = ("2020-13", "2020-00", "2020-5", "20-05", "May 2020", "", "infinity", "2020-05-01",
               "2020/05", "garbage", "2020-05x", "2020-1O")  # fmt: skip
_GOOD_MONTHS = ("2019-12", "1990-01", "2030-11")
_BAD_DATES = ("infinity", "epoch", "-2020-03-01T00:00:00+00:00", "294246-01-01", "", "garbage",
              "1900-01-01T00:00:00+00:00", "2200-05-01T10:00:00+00:00", "2018-13-01T10:00:00+00:00",
              "2018-02-30T10:00:00+00:00", "2018-02-01T10:61:00+00:00", "01/02/2018 10:00",
              "2018-02-01T10:00:00+00:00junk", "now", "2018-2-1")  # fmt: skip
_GOOD_DATES = ("2018-02-01", "2018-02-01T10:00:00Z", "2018-02-28T23:59:59.5+01:00",
               "1990-01-01T00:00:00+00:00", "2018-02-01 10:00")  # fmt: skip
_COORDS = ("nan", "NaN", "inf", "-inf", "Infinity", "", "abc", "1e400", "100.5", "-120.0",
           "0", "2.5", "48.9", "61.5", "-8.95", "1.99", "51.5", "-0.1", "52", "1e1")  # fmt: skip
_BOOLS = ("True", "False", "", "TRUE", "false", "yes", "1", "Tru")
_WS_LINES = ("", "", "   ", "\t", " \t ", '""', ",,,", " , ")


def _pick(draw: st.DrawFn, seq: list | tuple) -> object:
    return seq[draw(st.integers(0, 10_000)) % len(seq)]


def _row_index(draw: st.DrawFn, doc: Doc) -> int | None:
    rows = doc.data_rows()
    return _pick(draw, rows) if rows else None


def _set_cell(doc: Doc, r: int, name: str, value: str) -> bool:
    c = doc.col(name)
    row = doc.rows[r]
    if c is None or not isinstance(row, list) or c >= len(row):
        return False
    row[c] = value
    return True


# Each mutation edits the Doc in place and returns a note (None: nothing applied).


def m_header_spaces(draw: st.DrawFn, doc: Doc) -> str | None:
    c = draw(st.integers(0, len(doc.header) - 1))
    doc.header[c] = _pick(draw, (" ", "", "  ")) + doc.header[c] + _pick(draw, (" ", "\t", ""))
    return f"header spaces col {c}"


def m_header_case(draw: st.DrawFn, doc: Doc) -> str | None:
    c = draw(st.integers(0, len(doc.header) - 1))
    doc.header[c] = _pick(draw, (str.lower, str.upper, str.title))(doc.header[c])
    return f"header case col {c}"


def m_header_duplicate(draw: st.DrawFn, doc: Doc) -> str | None:
    a, b = draw(st.integers(0, len(doc.header) - 1)), draw(st.integers(0, len(doc.header) - 1))
    if a == b:
        return None
    doc.header[b] = doc.header[a]
    return f"header col {b} named as col {a}"


def m_column_dropped(draw: st.DrawFn, doc: Doc) -> str | None:
    if len(doc.header) < 2:
        return None
    c = draw(st.integers(0, len(doc.header) - 1))
    rows_too = draw(st.booleans())
    name = doc.header.pop(c)
    if rows_too:
        for r in doc.rows:
            if isinstance(r, list) and c < len(r):
                r.pop(c)
    return f"column {name!r} dropped from header{' and rows' if rows_too else ''}"


def m_columns_reordered(draw: st.DrawFn, doc: Doc) -> str | None:
    n = len(doc.header)
    perm = draw(st.permutations(range(n)))
    rows_too = draw(st.booleans())
    doc.header = [doc.header[i] for i in perm]
    if rows_too:
        for k, r in enumerate(doc.rows):
            if isinstance(r, list) and len(r) == n:
                doc.rows[k] = [r[i] for i in perm]
    return f"columns reordered {list(perm)}{' with rows' if rows_too else ' (header only)'}"


def _cell(draw: st.DrawFn, doc: Doc) -> tuple[int, int] | None:
    r = _row_index(draw, doc)
    if r is None:
        return None
    row = doc.rows[r]
    return r, draw(st.integers(0, 40)) % max(1, len(row))


def m_quotes(draw: st.DrawFn, doc: Doc) -> str | None:
    rc = _cell(draw, doc)
    if rc is None:
        return None
    r, c = rc
    row = doc.rows[r]
    if c >= len(row):
        return None
    v = row[c]
    how = _pick(draw, ("comma", "newline", "plain", "escaped", "stray", "unbalanced", "after"))
    if how == "comma":
        row[c] = f'"{v}, and more"'
    elif how == "newline":
        brk = _pick(draw, ("\n", "\r\n", "\r", "\n\n"))
        row[c] = f'"{v}{brk}second line"'
    elif how == "plain":
        row[c] = f'"{v}"'
    elif how == "escaped":
        row[c] = f'"{v} ""quoted"""'
    elif how == "stray":
        row[c] = f'{v[:3]}"{v[3:]}'
    elif how == "unbalanced":
        row[c] = f'"{v}'
    else:
        row[c] = f'"{v}"after'
    return f"quotes {how} row {r} col {c}"


def m_multibyte(draw: st.DrawFn, doc: Doc) -> str | None:
    rc = _cell(draw, doc)
    if rc is None:
        return None
    r, c = rc
    row = doc.rows[r]
    if c >= len(row):
        return None
    row[c] = row[c] + " " + str(_pick(draw, _MULTIBYTE))
    return f"UTF-8 text row {r} col {c}"


def m_windows_1252(draw: st.DrawFn, doc: Doc) -> str | None:
    doc.encoding = "cp1252"
    for _ in range(draw(st.integers(0, 3))):
        rc = _cell(draw, doc)
        if rc is not None:
            r, c = rc
            if c < len(doc.rows[r]):
                doc.rows[r][c] += " " + str(_pick(draw, _CP1252_TEXT))
    return "Windows-1252 file"


def m_stray_byte(draw: st.DrawFn, doc: Doc) -> str | None:
    r = _row_index(draw, doc)
    if r is None:
        return None
    byte = _pick(draw, _STRAY_BYTES)
    doc.stray.append((r + 1, draw(st.integers(0, 400)), byte))
    if draw(st.booleans()):  # a file that is UTF-8 elsewhere
        r2 = _row_index(draw, doc)
        c = doc.col("Location") or doc.col("Object of search") or 0
        if r2 is not None and c < len(doc.rows[r2]):
            doc.rows[r2][c] += " Café"
    return f"stray byte {byte!r} line {r + 2}"


def m_month(draw: st.DrawFn, doc: Doc) -> str | None:
    r = _row_index(draw, doc)
    if r is None:
        return None
    if doc.col("Date") is not None:
        v = str(_pick(draw, _BAD_DATES + _GOOD_DATES))
        return f"Date {v!r} row {r}" if _set_cell(doc, r, "Date", v) else None
    v = str(_pick(draw, _BAD_MONTHS + _GOOD_MONTHS))
    return f"Month {v!r} row {r}" if _set_cell(doc, r, "Month", v) else None


def m_coords(draw: st.DrawFn, doc: Doc) -> str | None:
    r = _row_index(draw, doc)
    if r is None:
        return None
    name = _pick(draw, ("Longitude", "Latitude"))
    v = str(_pick(draw, _COORDS))
    done = _set_cell(doc, r, name, v)
    if draw(st.booleans()):  # the other one too
        other = "Latitude" if name == "Longitude" else "Longitude"
        _set_cell(doc, r, other, str(_pick(draw, _COORDS)))
    return f"{name} {v!r} row {r}" if done else None


def m_bools(draw: st.DrawFn, doc: Doc) -> str | None:
    r = _row_index(draw, doc)
    if r is None:
        return None
    name = _pick(draw, BOOL_FIELDS)
    v = str(_pick(draw, _BOOLS))
    if doc.col(name) is None:
        name, v = "Crime type", ""
    return f"{name} {v!r} row {r}" if _set_cell(doc, r, name, v) else None


def m_field_count(draw: st.DrawFn, doc: Doc) -> str | None:
    r = _row_index(draw, doc)
    if r is None:
        return None
    row = doc.rows[r]
    delta = draw(st.integers(-3, 3).filter(bool))
    if delta < 0:
        del row[delta:]
    else:
        row += ["extra"] * delta
    return f"row {r} {delta:+d} fields"


def m_lines_inserted(draw: st.DrawFn, doc: Doc) -> str | None:
    pos = draw(st.integers(0, len(doc.rows)))
    text = str(_pick(draw, _WS_LINES))
    doc.rows.insert(pos, text)
    return f"line {text!r} inserted before row {pos}"


def m_line_endings(draw: st.DrawFn, doc: Doc) -> str | None:
    how = _pick(draw, ("\n", "\r\n", "\r", "mixed"))
    if how == "mixed":
        doc.mixed = draw(st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=2, max_size=5))
    else:
        doc.eol, doc.mixed = how, None
    doc.final_eol = draw(st.integers(0, 4)) > 0
    return f"line endings {how!r}{'' if doc.final_eol else ', no final line break'}"


def m_bom(draw: st.DrawFn, doc: Doc) -> str | None:
    doc.bom = True
    return "BOM"


def m_truncated(draw: st.DrawFn, doc: Doc) -> str | None:
    doc.cut = draw(st.integers(1, 60))
    return f"last {doc.cut} bytes cut"


def m_rows_dropped(draw: st.DrawFn, doc: Doc) -> str | None:
    keep = draw(st.integers(0, 2))
    doc.rows = doc.rows[:keep]
    return f"only {keep} rows"


def m_row_duplicated(draw: st.DrawFn, doc: Doc) -> str | None:
    r = _row_index(draw, doc)
    if r is None:
        return None
    doc.rows.insert(r, list(doc.rows[r]))
    return f"row {r} duplicated"


def m_huge_field(draw: st.DrawFn, doc: Doc) -> str | None:
    rc = _cell(draw, doc)
    if rc is None:
        return None
    r, c = rc
    mb = draw(st.sampled_from([3, 5, 9]))
    filler = _pick(draw, ("x", "ab ", "é"))
    n = (mb << 20) // len(filler.encode())
    doc.rows[r][c] = filler * n
    doc.huge = True
    return f"{mb} MB field row {r} col {c}"


MUTATIONS = (
    m_header_spaces, m_header_case, m_header_duplicate, m_column_dropped, m_columns_reordered,
    m_quotes, m_quotes, m_multibyte, m_windows_1252, m_stray_byte, m_month, m_month, m_coords,
    m_coords, m_bools, m_field_count, m_field_count, m_lines_inserted, m_lines_inserted,
    m_line_endings, m_line_endings, m_bom, m_truncated, m_rows_dropped, m_row_duplicated,
)  # fmt: skip


@st.composite
def csv_files(draw: st.DrawFn, huge: int = 0, max_mutations: int = 5) -> CsvEntry:
    """One mutated real file; one in ``huge`` gets a field of several MB (0: none), so
    the short CI run can keep those few and long runs can have more."""
    path = draw(st.sampled_from(BASES))
    header, rows = _base(path)
    n = draw(st.integers(1, 40))
    kind = (
        "stop_search" if "Date" in header else "outcomes" if "Outcome type" in header else "street"
    )
    doc = Doc(kind, [_raw(h) for h in header], [[_raw(v) for v in r] for r in rows[:n]])
    # the excel re-saved base is CRLF: keep its line endings unless a mutation changes them
    if b"\r\n" in path.open("rb").read(2000):
        doc.eol = "\r\n"
    notes = [f"{path.name} first {len(doc.rows)} rows"]
    for _ in range(draw(st.integers(0, max_mutations))):
        mut = draw(st.sampled_from(MUTATIONS))
        note = mut(draw, doc)
        if note:
            notes.append(note)
    if huge and draw(st.integers(0, huge - 1)) == 0:
        note = m_huge_field(draw, doc)
        if note:
            notes.append(note)
    return CsvEntry(path.name, doc.to_bytes(), notes)


@st.composite
def inputs(draw: st.DrawFn, huge: int = 0, max_entries: int = 3) -> FuzzInput:
    """An ingest command's input: CSVs and zips of CSVs, sometimes with a copy of a file
    (the same content, or a CRLF/BOM copy: reported already_present)."""
    entries: list[CsvEntry | ZipEntry] = []
    made: list[CsvEntry] = []
    for i in range(draw(st.integers(1, max_entries))):
        if draw(st.integers(0, 3)) == 0:
            members = []
            for j in range(draw(st.integers(1, 3))):
                f = draw(csv_files(huge=huge))
                members.append(CsvEntry(f"2020-05/{j:02d}-{f.name}", f.data, f.notes))
            made += members
            entries.append(ZipEntry(f"{i:02d}-archive.zip", members, draw(st.booleans()),
                                    draw(st.integers(0, 3)) == 0))  # fmt: skip
        else:
            f = draw(csv_files(huge=huge))
            f.name = f"{i:02d}-{f.name}"
            made.append(f)
            entries.append(f)
    if draw(st.integers(0, 5)) == 0:
        src = _pick(draw, made)
        how = _pick(draw, ("same", "crlf", "bom"))
        data = {"same": src.data, "crlf": src.data.replace(b"\n", b"\r\n"),
                "bom": b"\xef\xbb\xbf" + src.data.removeprefix(b"\xef\xbb\xbf")}[how]  # fmt: skip
        entries.append(
            CsvEntry(f"{len(entries):02d}-copy.csv", data, [f"{how} copy of {src.name}"])
        )
    return FuzzInput(entries, as_folder=draw(st.booleans()))


# -- the oracle ----------------------------------------------------------------------


@dataclass
class Expect:
    """What docs/ingest.md promises for one file, computed from its bytes alone."""

    reject: str  # "must" | "may" | "no"
    why: str = ""
    kind: str | None = None
    key: bytes = b""  # the identity: content without BOM, with LF line endings
    lines: list[int] = field(default_factory=list)  # physical first line of each data row
    must_bad: dict[int, set[str | None]] = field(default_factory=dict)  # line: fields allowed
    may_bad: dict[int, set[str | None]] = field(default_factory=dict)
    blank: set[int] = field(default_factory=set)  # whitespace-only lines ("blank line")


_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_NONFINITE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
_MONTH_RE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
_ISO = re.compile(
    r"(?P<y>[0-9]{4})-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?"
)


def _physical_lines(text: str) -> list[str]:
    """The lines of ``text`` with their breaks (LF, CRLF or CR), for csv.reader."""
    out, start = [], 0
    for m in re.finditer(r"\r\n|\r|\n", text):
        out.append(text[start : m.end()])
        start = m.end()
    if start < len(text):
        out.append(text[start:])
    return out


def _has_utf8_sequence(data: bytes) -> bool:
    """Whether the bytes hold one well-formed UTF-8 multi-byte character somewhere."""
    for m in re.finditer(rb"[\xc2-\xf4][\x80-\xbf]", data):  # candidates, then decoded
        for n in (2, 3, 4):
            try:
                if len(data[m.start() : m.start() + n].decode("utf-8")) == 1:
                    return True
            except UnicodeDecodeError:
                continue
    return False


def _number(s: str) -> float | None:
    """A coordinate as a number, or None when it is not one (text)."""
    t = s.strip()
    if _NUMBER.fullmatch(t):
        return float(t)
    if t.lower() in _NONFINITE:
        return math.nan
    return None


def _date_ok(s: str) -> bool:
    t = s.strip()
    m = _ISO.fullmatch(t)
    if not m or not 1990 <= int(m["y"]) <= 2100:
        return False
    try:
        datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _row_faults(kind: str, names: list[str], values: list[str]) -> tuple[set, set]:
    """(fields a row breaks for sure, fields it may break) by the documented rules."""
    v = dict(zip(names, values, strict=True))
    must: set[str | None] = set()
    may: set[str | None] = set()
    if kind in ("street", "outcomes"):
        if not _MONTH_RE.fullmatch(v.get("Month", "").strip()):
            must.add("Month")
    elif not _date_ok(v.get("Date", "")):
        must.add("Date")
    lon_s, lat_s = v.get("Longitude", "").strip(), v.get("Latitude", "").strip()
    if lon_s or lat_s:
        lon, lat = _number(lon_s), _number(lat_s)
        if (
            lon is None
            or lat is None
            or not (math.isfinite(lon) and math.isfinite(lat))
            or not (UK_BOX[0] <= lon <= UK_BOX[1] and UK_BOX[2] <= lat <= UK_BOX[3])
        ):
            must.add(COORD)
    if kind == "street" and not v.get("Crime type", "").strip():
        must.add("Crime type")
    if kind == "stop_search":
        for b in BOOL_FIELDS:
            t = v.get(b, "").strip()
            if t.lower() not in ("true", "false", ""):
                must.add(b)
            elif t not in ("True", "False", ""):
                may.add(b)  # docs say True/False; other cases are not promised either way
    return must, may


def _kind(names: list[str]) -> str | None:
    got = set(names)
    for kind, (required, optional) in KIND_COLUMNS.items():
        if required <= got <= required | optional:
            return kind
    return None


def expect(data: bytes) -> Expect:
    """The documented behaviour for a file of these bytes (docs/ingest.md)."""
    content = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    key = _LINE_BREAK.sub(b"\n", content)
    if not content.strip():
        return Expect("must", "empty file", key=key)
    if b"\x00" in content:
        return Expect("must", "binary", key=key)
    # docs/ingest.md, "Encodings": decided per file. A file holding UTF-8 text and a byte
    # that is not UTF-8 stays UTF-8 and the rows with the bad byte are quarantined; only a
    # file with no UTF-8 sequence at all is Windows-1252 (identified by its decoded text).
    try:
        content.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        if _has_utf8_sequence(content):
            encoding = "mixed"
        else:
            try:
                key = _LINE_BREAK.sub(b"\n", content.decode("cp1252").encode("utf-8"))
                encoding = "cp1252"
            except UnicodeDecodeError:
                return Expect("must", "neither UTF-8 nor Windows-1252", key=key)

    def decode(cell: str) -> str:
        raw = cell.encode("latin-1")
        if encoding == "cp1252":
            return raw.decode("cp1252")
        return raw.decode("utf-8", errors="replace")

    # structure with latin-1: one char per byte, so ',', '"', CR and LF are exactly the bytes
    text = content.decode("latin-1")
    phys = _physical_lines(text)
    first = phys[0].rstrip("\r\n") if phys else ""
    if not first.strip():
        return Expect("must", "line 1 is not a header row", key=key)
    rows: list[tuple[int, list[str]]] = []
    reader = csv.reader(iter(phys))
    prev = 0
    header_end = 0
    for row in reader:
        if row:
            rows.append((prev + 1, row))
            header_end = header_end or reader.line_num
        prev = reader.line_num
    strict_ok = True
    try:
        for _ in csv.reader(iter(phys), strict=True):
            pass
    except csv.Error:
        strict_ok = False  # a quote never closed, or text after a closing quote
    header = rows[0][1]
    names = [decode(h).strip() for h in header]
    if len(set(names)) < len(names):
        return Expect("must", "a header name given twice", key=key)
    kind = _kind(names)
    if kind is None:
        return Expect("must", "header matches no police.uk kind", key=key)
    exp = Expect("no", kind=kind, key=key)
    if not strict_ok:
        exp.reject, exp.why = "may", "quotes that are not RFC 4180 (never closed, or text after)"
    elif header_end > 1:
        exp.reject, exp.why = "may", "a header name holding a line break"
    for line, row in rows[1:]:
        exp.lines.append(line)
        values = [decode(c) for c in row]
        damaged = encoding == "mixed" and any("\ufffd" in x for x in values)
        if len(row) == 1 and row[0] and not values[0].strip():
            exp.must_bad[line] = {None}
            exp.blank.add(line)
        elif len(row) != len(names):
            exp.must_bad[line] = {None}
        else:
            must, may = _row_faults(kind, names, values)
            if damaged:
                must |= {n for n, x in zip(names, values, strict=True) if "\ufffd" in x}
            if must:
                exp.must_bad[line] = must | may
            elif may:
                exp.may_bad[line] = may
    return exp


# -- running the CLI and checking ------------------------------------------------------


@cache
def _seed_store() -> Path:
    """A store holding one real file, built once per process, copied for every check."""
    from realimpact.sources.police_uk import ingest_police_uk

    folder = Path(tempfile.mkdtemp(prefix="ri-fuzz-seed-"))
    path = folder / "seed.duckdb"
    r = ingest_police_uk([SEED], path)
    assert r.ok, r.to_dict()
    return path


def _snapshot(path: Path) -> dict:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:

        def q(sql: str) -> list[tuple]:
            return con.execute(sql).fetchall()

        return {
            "counts": {
                t: q(f"SELECT count(*) FROM {t}")[0][0]
                for t in ("crimes", "stop_searches", "outcomes", "quarantine")
            },
            "files": {
                r[0]: r[1:]
                for r in q(
                    "SELECT path, file_id, kind, rows_read, rows_inserted, rows_quarantined, sha256"
                    " FROM source_files"
                )
            },
            "lines": {
                (t, fid): sorted(x for (x,) in q(f"SELECT line FROM {t} WHERE file_id = {fid}"))
                for t in TABLES.values()
                for (fid,) in q(f"SELECT DISTINCT file_id FROM {t}")
            },
            "quarantine": {
                fid: sorted(rest, key=lambda x: x[0])
                for fid, rest in _group(q("SELECT file_id, line, field, reason FROM quarantine"))
            },
        }
    finally:
        con.close()


def _group(rows: list[tuple]) -> list[tuple[int, list[tuple]]]:
    out: dict[int, list[tuple]] = {}
    for fid, *rest in rows:
        out.setdefault(fid, []).append(tuple(rest))
    return list(out.items())


@dataclass
class Outcome:
    """One check: the exit codes seen and the violations (empty: every promise kept)."""

    violations: list[str]
    exit_codes: tuple[int, ...] = ()
    statuses: tuple[str, ...] = ()


@cache
def _command() -> object:
    """``realimpact.cli.app`` as a Click command, built once: Typer rebuilds it on every
    ``CliRunner.invoke`` (0.2 s, half the time of a small ingest)."""
    import typer.main

    from realimpact.cli import app

    return typer.main.get_command(app)


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """The real CLI in-process; returns (exit code, stdout, stderr + any traceback)."""
    from unittest import mock

    import typer.testing

    from realimpact.cli import app

    env = {k: v for k, v in os.environ.items() if k != "REALIMPACT_STORE"}
    if hasattr(typer.testing, "_get_command"):
        with mock.patch.object(typer.testing, "_get_command", lambda _app: _command()):
            r = typer.testing.CliRunner().invoke(app, args, env=env)
    else:  # a Typer without that name: build the command every time (slower, same result)
        r = typer.testing.CliRunner().invoke(app, args, env=env)
    err = r.stderr
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        err += "".join(traceback.format_exception(r.exception))
    return r.exit_code, r.stdout, err


def _one_line(s: str, n: int = 300) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 3] + "..."


def check(inp: FuzzInput, workdir: Path | None = None) -> Outcome:
    """Ingest ``inp`` into a copy of the seeded store, twice, and list the promises broken."""
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="ri-fuzz-")) if own else workdir
    try:
        return _check(inp, work)
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


def _check(inp: FuzzInput, work: Path) -> Outcome:
    folder = work / "in"
    paths = inp.write(folder)
    store = work / "s.duckdb"
    shutil.copyfile(_seed_store(), store)
    before = _snapshot(store)
    args = ["ingest", "police-uk", *([str(folder)] if inp.as_folder else map(str, paths)),
            "--store", str(store), "--json"]  # fmt: skip
    v: list[str] = []
    code, out, err = run_cli(args)
    if code not in (0, 2):
        return Outcome([f"exit code {code}: {_one_line(err, 2000)}"], (code,))
    try:
        res = json.loads(out)
    except ValueError:
        return Outcome([f"--json stdout is not one JSON object: {out[:200]!r}"], (code,))
    files = res["files"]
    sources = inp.sources(folder)
    labels = [f["path"] for f in files]
    if labels != [s for s, _ in sources]:
        return Outcome(
            [f"files reported {labels} != files given {[s for s, _ in sources]}"], (code,)
        )
    rejected = any(f["status"] == "rejected" for f in files)
    if code != (2 if rejected else 0):
        v.append(f"exit code {code} but {'a' if rejected else 'no'} file was rejected")
    after = _snapshot(store)
    # previous contents survive
    for p, row in before["files"].items():
        if after["files"].get(p) != row:
            v.append(f"seeded source file {p} changed: {row} -> {after['files'].get(p)}")
    for k, lines in before["lines"].items():
        if after["lines"].get(k) != lines:
            v.append(f"seeded rows {k} changed")
    for fid, q in before["quarantine"].items():
        if after["quarantine"].get(fid) != q:
            v.append(f"seeded quarantine of file {fid} changed")
    # identity: the seed's content, then each file ingested in this command
    seen = {(expect(SEED.read_bytes()).key, "street")}
    delta = {"crimes": 0, "stop_searches": 0, "outcomes": 0, "quarantine": 0}
    for f, (label, data) in zip(files, sources, strict=True):
        e = expect(data)
        name = label.rsplit("/", 1)[-1]
        status = f["status"]
        dup = e.kind is not None and (e.key, e.kind) in seen
        if status == "rejected":
            if "\n" in (f["error"] or "") or not f["error"]:
                v.append(f"{name}: rejection message is not one line: {f['error']!r}")
            if label in after["files"]:
                v.append(f"{name}: rejected but recorded in source_files")
            if e.reject == "no" or dup:
                v.append(f"{name}: rejected ({_one_line(f['error'] or '')}) but the docs promise"
                         f" it is {'already_present' if dup else 'ingested'}")  # fmt: skip
            continue
        if e.reject == "must":
            v.append(f"{name}: {status}, but must be rejected ({e.why})")
            continue
        if f["kind"] != e.kind:
            v.append(f"{name}: kind {f['kind']} != {e.kind}")
            continue
        if status == "already_present":
            if not dup:
                v.append(f"{name}: already_present, but no earlier file had this content")
            if label in after["files"]:
                v.append(f"{name}: already_present but recorded in source_files")
            continue
        if dup:
            v.append(f"{name}: ingested again, but an earlier file had the same content")
        seen.add((e.key, e.kind))
        v += _check_file(name, f, e, after, label)
        delta[TABLES[e.kind]] += f["rows_inserted"]
        delta["quarantine"] += f["rows_quarantined"]
    for t, d in delta.items():
        got = after["counts"][t] - before["counts"][t]
        if got != d:
            v.append(f"table {t} grew by {got}, the report says {d}")
    new = set(after["files"]) - set(before["files"])
    want_new = {f["path"] for f in files if f["status"] == "ingested"}
    if new != want_new:
        v.append(f"source_files gained {sorted(new)}, ingested {sorted(want_new)}")
    # a second ingest of the same input adds nothing
    code2, out2, err2 = run_cli(args)
    if code2 not in (0, 2):
        v.append(f"second ingest: exit code {code2}: {_one_line(err2, 2000)}")
        return Outcome(v, (code, code2), tuple(f["status"] for f in files))
    try:
        files2 = json.loads(out2)["files"]
    except (ValueError, KeyError, TypeError):
        v.append(
            f"second ingest: --json stdout is not the result ({out2[:200]!r}): {_one_line(err2, 500)}"
        )
        return Outcome(v, (code, code2), tuple(f["status"] for f in files))
    for f1, f2 in zip(files, files2, strict=True):
        want = "rejected" if f1["status"] == "rejected" else "already_present"
        if f2["status"] != want:
            v.append(
                f"second ingest: {f2['path'].rsplit('/', 1)[-1]} is {f2['status']}, not {want}"
            )
    if code2 != code:
        v.append(f"second ingest: exit code {code2}, first {code}")
    if _snapshot(store) != after:
        v.append("second ingest changed the store")
    return Outcome(v, (code, code2), tuple(f["status"] for f in files))


def _check_file(name: str, f: dict, e: Expect, after: dict, label: str) -> list[str]:
    v = []
    ins, qua, read = f["rows_inserted"], f["rows_quarantined"], f["rows_read"]
    if ins + qua != len(e.lines) or read != len(e.lines):
        v.append(f"{name}: inserted {ins} + quarantined {qua} (read {read}) != {len(e.lines)}"
                 " data rows (csv module)")  # fmt: skip
    rec = after["files"].get(label)
    if rec is None:
        return [*v, f"{name}: ingested but not in source_files"]
    fid, kind, s_read, s_ins, s_qua, _ = rec
    if (s_read, s_ins, s_qua) != (read, ins, qua) or kind != e.kind:
        v.append(
            f"{name}: source_files says {(kind, s_read, s_ins, s_qua)}, report {(read, ins, qua)}"
        )
    stored = after["lines"].get((TABLES[e.kind], fid), [])
    quarantined = after["quarantine"].get(fid, [])
    if len(stored) != ins or len(quarantined) != qua:
        v.append(f"{name}: {len(stored)} rows and {len(quarantined)} quarantined in the store,"
                 f" the report says {ins} and {qua}")  # fmt: skip
    qlines = [line for line, _, _ in quarantined]
    if sorted(stored + qlines) != e.lines:
        missing = sorted(set(e.lines) - set(stored) - set(qlines))
        extra = sorted(set(stored + qlines) - set(e.lines))
        twice = sorted({x for x in stored + qlines if (stored + qlines).count(x) > 1})
        v.append(f"{name}: stored + quarantined lines are not the data rows' physical lines:"
                 f" missing {missing[:10]}, not a row start {extra[:10]}, twice {twice[:10]}")  # fmt: skip
    qmap = {line: (fld, why) for line, fld, why in quarantined}
    for line, fields in e.must_bad.items():
        if line not in qmap:
            v.append(f"{name}: line {line} must be quarantined ({_fields(fields)}), it was stored")
        else:
            fld = COORD if qmap[line][0] in ("Longitude", "Latitude") else qmap[line][0]
            if fld not in {COORD if x in ("Longitude", "Latitude") else x for x in fields}:
                v.append(f"{name}: line {line} quarantined for {qmap[line][0]!r}"
                         f" ({qmap[line][1]}), expected one of {_fields(fields)}")  # fmt: skip
            if line in e.blank and qmap[line][1] != "blank line":
                v.append(f"{name}: line {line} is whitespace only, reason {qmap[line][1]!r}")
    for line, (fld, why) in qmap.items():
        if line not in e.must_bad and line not in e.may_bad:
            v.append(f"{name}: line {line} quarantined ({fld}: {_one_line(why, 120)}) but it"
                     " breaks no rule")  # fmt: skip
    return v


def _fields(fields: set) -> str:
    return ", ".join(sorted("field count" if x is None else str(x) for x in fields))
