"""Resident population per area, for harm and crime rates per 1,000 residents.

One population per layer; loading another replaces it (in one transaction, so
a rejected file leaves the old one in place). Ids are matched as given: Census
2021 tables use 2021 LSOA codes while police.uk records before 2022 carry 2011
codes, so some areas get no rate. We report how many matched rather than guess
a lookup (most LSOAs kept their code in 2021; split and merged ones did not).

:func:`read_table` is shared with the partner reader: both are all-or-none, so
a malformed file (binary, broken quoting, a short or long row, a duplicated
header name, a byte that is not text in a used column) is refused naming its
physical line (header = 1) rather than quarantined row by row.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from realimpact._progress import ProgressFn
from realimpact.csv_safe import FORMULA_PREFIXES
from realimpact.errors import InputError, RejectedFileError, ValidationError
from realimpact.store import Store, using_store

# A whole file is refused by these readers (they are all or none: a population
# table or one partner file either lands complete or not at all), so every
# problem below is a RejectedFileError or ValidationError naming the line.

CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
# An LSOA code as police.uk gives them (GSS entity 01: E01000001, W01000001;
# Scottish data zones S01006506). An LA (E06...) or region (E12...) code is
# not one, so a table by local authority offered as ``--layer lsoa`` is refused.
LSOA_CODE = re.compile(r"[EWS]01[0-9]{6}")
# More people than live in the UK (67 million) cannot be one area's residents;
# larger "counts" are a wrong column or a typo, and would swamp every rate.
MAX_POPULATION = 100_000_000
_SHOW = 60  # characters of a user's value quoted in an error


def show(value: object) -> str:
    """``repr`` of a user's value, cut so the error stays one readable line."""
    if not isinstance(value, str):
        text = repr(value)
        return text if len(text) <= _SHOW else text[:_SHOW] + "..."
    if len(value) > _SHOW:
        return repr(value[:_SHOW]) + f"... ({len(value):,} characters)"
    return repr(value)


@dataclass
class CsvTable:
    """A CSV read as text: ``df`` (every cell a ``str``), the physical line of
    each row (header = 1), the bytes read, and an identity that ignores BOM and
    line endings (so a CRLF re-save of a file is the same file)."""

    df: pd.DataFrame
    lines: np.ndarray
    raw: bytes
    sha256: str
    raw_sha256: str
    encoding: str
    blank_rows: int


def _line_at(raw: bytes, offset: int) -> int:
    """Physical line (1-based) of byte ``offset``; CRLF, LF and CR-only all count once."""
    head = raw[:offset]
    return head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n") + 1


def _decode(raw: bytes) -> tuple[str, str]:
    """Text and the encoding found. UTF-8 first, then Windows-1252 (ONS downloads).

    A file that is not valid UTF-8 but holds UTF-8 text elsewhere ("Café" and
    one stray 0xF4) stays UTF-8, as police.uk files do: decoding it as
    Windows-1252 would silently turn every "Café" into "CafÃ©". Bytes that do
    not decode (there, or the five Windows-1252 leaves undefined) become U+FFFD;
    a reader refuses the file only if one lands in a column it uses, since a
    damaged name column does not touch an id or a count.
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if _UTF8_SEQUENCE.search(raw):
        return raw.decode("utf-8", errors="replace"), "utf-8 (damaged)"
    return raw.decode("cp1252", errors="replace"), "cp1252"


_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def read_table(path: str | os.PathLike) -> CsvTable:
    """A CSV as strings (ids keep leading zeros), with the physical line of every row.

    Python's csv module (strict quoting) reads it, so a stray quote, an
    unclosed quote or a row with more or fewer fields than the header is
    refused naming its line rather than padded or shifted. Rows whose every
    field is empty or blank (a spreadsheet's trailing ``,,,`` rows, a
    whitespace-only line) hold no data and are skipped and counted. Header
    names are stripped; a name given twice is refused (which column would a
    field option mean?). A NUL byte or a zip signature means a binary file
    (an .xlsx workbook, a .gz), refused as such.
    """
    p = Path(path)
    label = str(p)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{p}: is a folder, expected a CSV file") from None
    if raw.startswith((b"PK\x03\x04", b"\x1f\x8b")):
        raise RejectedFileError(
            f"{label}: a zip or gzip file (an .xlsx workbook?), not a CSV; save or extract it as CSV"
        )
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise RejectedFileError(
            f"{label}: line {_line_at(raw, nul)}: NUL byte: a binary file, not a CSV"
        )
    text, encoding = _decode(raw)
    if not text.strip():
        raise RejectedFileError(f"{label}: empty file")
    body = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    norm = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    blank = 0
    start = 1
    try:
        for rec in reader:
            if header is None:
                if rec and any(c.strip() for c in rec):
                    header = [c.strip() for c in rec]
                    _check_header(header, label, start)
            elif any(c.strip() for c in rec):
                if len(rec) != len(header):
                    raise RejectedFileError(
                        f"{label}: line {start}: {len(rec)} field(s), the header has {len(header)}"
                    )
                rows.append(rec)
                lines.append(start)
            elif rec:
                blank += 1
            start = reader.line_num + 1
    except csv.Error as e:
        raise RejectedFileError(f"{label}: line {start}: not valid CSV ({e})") from None
    assert header is not None  # text.strip() is not empty
    df = (
        pd.DataFrame(rows, columns=header, dtype=object)
        if rows
        else pd.DataFrame(columns=header, dtype=object)
    )
    return CsvTable(
        df=df,
        lines=np.asarray(lines, dtype=np.int64),
        raw=raw,
        sha256=hashlib.sha256(norm).hexdigest(),
        raw_sha256=hashlib.sha256(raw).hexdigest(),
        encoding=encoding,
        blank_rows=blank,
    )


def _check_header(names: list[str], label: str, line: int) -> None:
    seen: dict[str, int] = {}
    for i, n in enumerate(names, start=1):
        if n and n in seen:
            raise RejectedFileError(
                f"{label}: line {line}: column {show(n)} appears more than once"
                f" (columns {seen[n]} and {i})"
            )
        seen.setdefault(n, i)


def field(df: pd.DataFrame, name: object, label: str, option: str) -> str:
    """The column ``name`` names: exactly, else the one that matches ignoring case.

    Two columns that match ignoring case and none exactly is ambiguous, and
    refused rather than guessed.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"{label}: {option} must name a column, got {show(name)}")
    name = name.strip()
    if name in df.columns:
        return name
    folded = [c for c in df.columns if c.lower() == name.lower()]
    if len(folded) == 1:
        return folded[0]
    if len(folded) > 1:
        raise ValidationError(
            f"{label}: {option} {show(name)} matches columns {', '.join(map(repr, folded))}"
            " (which differ only in case); name one exactly"
        )
    cols = ", ".join(repr(c) for c in df.columns)
    raise ValidationError(f"{label}: {option} {show(name)} is not a column; columns are {cols}")


_field = field  # the name partner.py and older callers import


def check_decoded(t: CsvTable, cols: list[str], label: str) -> None:
    """Refuse a byte that did not decode (U+FFFD, see :func:`_decode`) in a used column."""
    for col in cols:
        bad = t.df[col].str.contains("\ufffd", regex=False)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValidationError(
                f"{label}: line {t.lines[i]}: {col} {show(t.df[col].iloc[i])} holds a byte that"
                f" is not valid text in the file's encoding ({t.encoding}); re-save it as UTF-8"
            )


def text_column(t: CsvTable, col: str, label: str, what: str) -> pd.Series:
    """A used column stripped (`` E01000001`` is ``E01000001``), refusing an empty
    cell or a control character (a tab or line break inside an id), naming its line."""
    s = t.df[col].str.strip()
    for bad, why in (
        (s == "", "is empty"),
        (s.str.contains(CONTROL_CHARS), "holds a control character (tab, line break ...)"),
    ):
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            val = "" if why == "is empty" else f" {show(s.iloc[i])}"
            raise ValidationError(f"{label}: line {t.lines[i]}: {what}{val} {why}")
    return s


def check_area_ids(
    store: Store, layer: str, ids: pd.Series, lines: np.ndarray, label: str, what: str
) -> dict[str, Any]:
    """Area ids against the layer they claim to belong to.

    On the code-only ``lsoa`` layer an id must look like the codes police.uk
    gives (E01000001): a name, a number or a formula there is a wrong column,
    not an area. On a layer of polygons or grid cells, ids that are not areas
    of it are reported (a national table loaded over one city's boundaries is
    the usual case) unless none is, which is a wrong column or layer. For a
    layer not in the store (partner data may come first), an id that begins
    like a spreadsheet formula is refused: no area is called that.
    Returns {"unknown": n, "examples": [...]} for the summary.
    """
    from realimpact.store import areas as store_areas

    info = store_areas.layer_info(store, layer)
    if (info is None and layer == "lsoa") or (info is not None and info.get("kind") == "codes"):
        bad = ~ids.str.fullmatch(LSOA_CODE.pattern)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValidationError(
                f"{label}: line {lines[i]}: {what} {show(ids.iloc[i])} is not an LSOA code"
                " such as E01000001 (is it the code column?)"
            )
        return {}
    if info is None:
        bad = ids.str.startswith(FORMULA_PREFIXES)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValidationError(
                f"{label}: line {lines[i]}: {what} {show(ids.iloc[i])} begins like a"
                " spreadsheet formula (= + - @); no area id does"
            )
        return {}
    known = set(store_areas.layer_areas(store, layer)["area_id"])
    unknown = ~ids.isin(known)
    if unknown.all():
        raise ValidationError(
            f"{label}: {what}: none of the {ids.nunique():,} ids is an area of layer"
            f" {show(layer)} (line {lines[0]}: {show(ids.iloc[0])}); wrong column or layer?"
        )
    u = ids[unknown].drop_duplicates()
    return {"unknown": len(u), "examples": u.head(3).tolist()} if len(u) else {}


def parse_number(s: str) -> float:
    """A number written plainly: 12, -3.5, .5, 1,234 or 1,234.5; anything else is NaN.

    Not 1_000 or 1e3 (Python's float takes both: 1e308 would pass), not 1,23
    (a decimal comma read as a thousands separator would be 123), not 12%.
    """
    text = str(s).strip()
    if not _NUMBER.fullmatch(text):
        return math.nan
    return float(text.replace(",", ""))


_NUMBER = re.compile(r"[+-]?(?:(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)(?:\.[0-9]+)?|\.[0-9]+)")


# A count of residents as census tables write it: 1234, 1,234 (grouped in threes)
# or 1234.0. Not 1_000 or 1e3 (which Python's float() would take), not 0.001 or -5.
_COUNT = re.compile(r"(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)(?:\.0*)?")


def parse_count(s: str) -> float:
    """A whole number of people written plainly, as a float; anything else is NaN."""
    text = str(s).strip()
    if not _COUNT.fullmatch(text):
        return math.nan
    return float(text.replace(",", ""))


def ingest_population(
    path: str | os.PathLike,
    store: Store | str | os.PathLike | None = None,
    *,
    layer: str = "lsoa",
    id_field: str,
    value_field: str,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Load resident population per area of ``layer`` from a CSV.

    All or nothing, by design: a population table is one consistent set (a
    census), and rates from a half-loaded one would look plausible and be
    wrong. So a bad row refuses the whole file (InputError naming the line and
    field) and the layer keeps the population it had; there is no quarantine.

    Every id must be non-empty and unique after stripping (the same area twice
    is refused naming both lines, never summed or one dropped) and, on the
    code-only ``lsoa`` layer, look like an LSOA code; every value a whole
    number 0..MAX_POPULATION written plainly (0 is an area nobody lives in: it
    gets no rate). Rows with every field blank are skipped and counted.
    Returns a summary with how many areas that have records matched an id.
    """
    with using_store(store) as st:
        label = str(path)
        if not isinstance(layer, str) or layer not in st.layer_names():
            raise ValidationError(
                f"--layer: no layer {show(layer)}; layers are: {', '.join(st.layer_names())}"
            )
        t = read_table(path)
        df = t.df
        if df.empty:
            raise RejectedFileError(f"{label}: no data rows")
        idc = field(df, id_field, label, "--id-field")
        valc = field(df, value_field, label, "--value-field")
        if idc == valc:
            raise ValidationError(f"{label}: --id-field and --value-field are both {idc!r}")
        check_decoded(t, [idc, valc], label)
        ids = text_column(t, idc, label, idc)
        lines = pd.Series(t.lines, index=df.index)
        dup = ids.duplicated(keep=False)
        if dup.any():
            first = ids[dup].iloc[0]
            at = ", ".join(map(str, lines[ids == first].tolist()[:5]))
            raise ValidationError(
                f"{label}: {idc}: area id {show(first)} appears more than once (lines {at});"
                f" {int(ids[dup].nunique())} ids are duplicated"
            )
        unknown = check_area_ids(st, layer, ids, t.lines, label, idc)
        raw_vals = df[valc].str.strip()
        values = raw_vals.map(parse_count)
        bad = values.isna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            v = raw_vals.iloc[i]
            what = "is empty" if v == "" else f"{show(v)} is not"
            raise ValidationError(
                f"{label}: line {t.lines[i]}: {valc} {what} a number >= 0"
                " written as a whole count of residents (such as 1234 or 1,234)"
            )
        big = values > MAX_POPULATION
        if big.any():
            i = int(np.flatnonzero(big.to_numpy())[0])
            raise ValidationError(
                f"{label}: line {t.lines[i]}: {valc} {show(raw_vals.iloc[i])} is more residents"
                f" than one area can have (at most {MAX_POPULATION:,})"
            )
        frame = pd.DataFrame({"area_id": ids, "value": values.astype(float)})
        info = {
            "layer": layer,
            "source": label,
            "sha256": t.sha256,
            "id_field": idc,
            "value_field": valc,
            "n_areas": len(frame),
            "total": float(frame["value"].sum()),
        }
        from realimpact.store import harm as store_harm

        store_harm.replace_population(st, info, frame)
        if progress:
            progress("population", 1, 1)
        result = {
            **{k: info[k] for k in ("layer", "source", "id_field", "value_field")},
            "areas": info["n_areas"],
            "total": info["total"],
            "blank_rows_skipped": t.blank_rows,
            "match": match_report(st, layer),
        }
        if unknown:
            result["ids_not_in_layer"] = unknown
        return result


def match_report(store: Store, layer: str) -> dict[str, Any]:
    """How many areas that have records (or polygons) have a population."""
    from realimpact.store import areas as store_areas
    from realimpact.store import harm as store_harm

    info = store_areas.layer_info(store, layer)
    if info is not None and info.get("kind") != "codes":
        areas = store_areas.layer_areas(store, layer)["area_id"]
        pop = set(store_harm.population(store, layer)["area_id"])
        n, m = len(areas), int(areas.isin(pop).sum())
        return {"basis": "areas of the layer", "areas": n, "areas_matched": m}
    r = store_harm.population_match(store, layer)
    if not r:
        return {}
    return {
        "basis": "LSOA codes in street-crime records",
        "areas": r["areas_with_records"],
        "areas_matched": r["areas_matched"],
        "note": (
            "police.uk records before 2022 carry 2011 LSOA codes; a 2021 census table"
            " matches only the LSOAs whose code did not change"
        ),
    }
