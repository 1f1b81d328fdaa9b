"""Partner indicators: drug deaths, treatment entries, ambulance call-outs, survey results.

UK Drug Policy Commission (2009) Moving towards Real Impact Drug Enforcement, Box E lists the sources beyond crime that show real impact (partner
agency data, community surveys, ...). Each arrives in its own CSV shape, so a
small mapping spec says which column is what; every row becomes (area id in a
layer, or a point; period; indicator; value; source) in one generic table that
the harm index can show beside crime.

Spec (YAML file and/or CLI options; options win)::

    indicator: drug_deaths          # a constant ...
    indicator_field: Substance      # ... or a column
    value_field: count
    period_field: period            # YYYY-MM, YYYY-MM-DD, YYYY-Qn or YYYY
    layer: la                       # with area_field ...
    area_field: area_code
    lon_field: lon                  # ... or a point
    lat_field: lat
    source: NDTMS                   # a constant, or source_field: a column

Empty values and the usual suppression marks (``:``, ``*``, ``x``, ``[x]``,
``[c]``, ``..``, ``-``) are skipped and counted, not read as zero; any other
non-number is an error naming the line.

All rows or none land, by design (there is no quarantine): one partner file
is one return from one agency, and a series with some of its rows silently
missing would read as a fall in harm. So the first bad row refuses the file
with its physical line (header = 1) and column, and the store is unchanged.
The rules:

- a value is a number written plainly (``12``, ``-3.5``, ``1,234``); not
  ``1_000``, ``1e3``, ``1,23``, ``12%``, and at most ``MAX_VALUE`` in size;
- a period is one of the four shapes above with a real date and a year in
  ``PERIOD_YEARS`` (the police.uk Date range): ``0000-01`` or ``2019-02-31``
  are typos, not periods;
- indicator names and sources are open vocabulary (each agency names its
  own), but must be text of at most ``MAX_LABEL`` characters without control
  characters and not beginning like a spreadsheet formula (``= + - @``);
- area ids as for population (see ``population.check_area_ids``): LSOA codes
  on the code-only ``lsoa`` layer; on a loaded layer, ids that are not its
  areas are counted in the summary (and the file refused if none is);
- coordinates are plain decimals inside the UK.

Rows with the same area or point, period, indicator and source are kept and
their values add up wherever the indicator is summed (event-level files rely
on that); the summary says how many there are, so a pasted-twice block shows.
Identity (re-ingesting adds nothing) ignores BOM and line endings.
"""

from __future__ import annotations

import json
import math
import os
import re
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from realimpact._progress import ProgressFn
from realimpact.csv_safe import FORMULA_PREFIXES
from realimpact.errors import RejectedFileError, ValidationError
from realimpact.periods import YEARS
from realimpact.sources.population import (
    CONTROL_CHARS,
    CsvTable,
    check_area_ids,
    check_decoded,
    field,
    parse_number,
    read_table,
    show,
    text_column,
)
from realimpact.store import Store, using_store

SPEC_KEYS = {
    "indicator",
    "indicator_field",
    "value_field",
    "period_field",
    "layer",
    "area_field",
    "lon_field",
    "lat_field",
    "source",
    "source_field",
}
MISSING_MARKS = {"", ":", "*", "x", "[x]", "c", "[c]", "..", "-", "na", "n/a", "[z]"}
# one notion of a sane year for every dated input (police.uk Month and Date too)
PERIOD_YEARS = YEARS
# No count or rate a partner reports comes near this; 1e308 would make every sum inf.
MAX_VALUE = 1e12
MAX_LABEL = 200
_COORD = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def read_spec(path: str | os.PathLike | None, **overrides: Any) -> dict[str, Any]:
    """Merge a YAML spec file with CLI options (non-None options win) and check it."""
    spec: dict[str, Any] = {}
    label = "spec"
    if path is not None:
        label = str(path)
        from realimpact._yaml import load_file

        doc = load_file(path)  # size, alias and depth caps; one line naming the file
        if not isinstance(doc, dict):
            raise RejectedFileError(f"{label}: expected a mapping of spec keys")
        unknown = sorted(set(doc) - SPEC_KEYS)
        if unknown:
            raise ValidationError(
                f"{label}: unknown key(s) {', '.join(unknown)};"
                f" keys are {', '.join(sorted(SPEC_KEYS))}"
            )
        spec.update(doc)
    spec.update({k: v for k, v in overrides.items() if v is not None})
    for k in sorted(spec):
        v = spec[k]
        if v is None:  # ``indicator:`` with nothing after it is a key not given
            del spec[k]
        elif not isinstance(v, str):
            raise ValidationError(f"{label}: {k} must be text, got {type(v).__name__} {show(v)}")
        elif not v.strip() or CONTROL_CHARS.search(v):
            raise ValidationError(f"{label}: {k} {show(v)} is blank or holds a control character")
        else:
            spec[k] = v.strip()
    for k in ("indicator", "source"):  # constants become labels, checked as a column's would be
        v = spec.get(k)
        if v is not None and (len(v) > MAX_LABEL or v.startswith(FORMULA_PREFIXES)):
            raise ValidationError(
                f"{label}: {k} {show(v)} must be at most {MAX_LABEL} characters and not begin"
                " like a spreadsheet formula (= + - @)"
            )
    if not spec.get("value_field"):
        raise ValidationError(f"{label}: value_field is required (--value-field)")
    if not spec.get("period_field"):
        raise ValidationError(f"{label}: period_field is required (--period-field)")
    if bool(spec.get("indicator")) == bool(spec.get("indicator_field")):
        raise ValidationError(f"{label}: give exactly one of indicator or indicator_field")
    by_area = bool(spec.get("area_field"))
    by_point = bool(spec.get("lon_field")) or bool(spec.get("lat_field"))
    if by_area == by_point:
        raise ValidationError(f"{label}: give area_field (with layer) or lon_field and lat_field")
    if by_area and not spec.get("layer"):
        raise ValidationError(f"{label}: area_field needs layer (--layer)")
    if by_point and not (spec.get("lon_field") and spec.get("lat_field")):
        raise ValidationError(f"{label}: a point needs both lon_field and lat_field")
    return spec


def normalise_period(value: str) -> str | None:
    """'2019-1' -> '2019-01', '2019-01-31' -> '2019-01', '2019Q2' -> '2019-Q2', '2019'.

    None for anything else, including a day that does not exist (2019-02-31)
    and a year outside PERIOD_YEARS.
    """
    v = str(value).strip()
    if m := re.fullmatch(r"(\d{4})-(\d{1,2})(?:-(\d{1,2}))?", v):
        y, mo = int(m[1]), int(m[2])
        if not 1 <= mo <= 12:
            return None
        if m[3] is not None:
            try:
                date(y, mo, int(m[3]))
            except ValueError:
                return None
        out = f"{m[1]}-{mo:02d}"
    elif m := re.fullmatch(r"(\d{4})\s*-?\s*Q([1-4])", v, re.IGNORECASE):
        out = f"{m[1]}-Q{m[2]}"
    elif re.fullmatch(r"\d{4}", v):
        out = v
    else:
        return None
    return out if PERIOD_YEARS[0] <= int(out[:4]) <= PERIOD_YEARS[1] else None


def ingest_partner(
    path: str | os.PathLike,
    store: Store | str | os.PathLike | None = None,
    *,
    spec: dict[str, Any],
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Ingest one partner CSV by ``spec`` (see module doc); all rows or none land.

    Re-ingesting the same file with the same spec adds nothing, also after a
    re-save with other line endings or a BOM (the identity ignores both). The
    same content under another spec is a new file (its indicator or source may
    differ), so its values may then be counted twice.
    """
    with using_store(store) as st:
        label = str(path)
        t = read_table(path)
        if t.df.empty:
            raise RejectedFileError(f"{label}: no data rows")
        spec_json = json.dumps(spec, sort_keys=True)
        from realimpact.store import harm as store_harm

        # stores made before the identity ignored line endings hold the hash of the bytes
        if store_harm.partner_file_present(
            st, t.sha256, spec_json
        ) or store_harm.partner_file_present(st, t.raw_sha256, spec_json):
            return {"path": label, "status": "already_present", "rows_inserted": 0}
        rows = _rows(t, spec, label, st)
        fid = store_harm.insert_partner_rows(
            st, {"path": label, "sha256": t.sha256, "spec": spec_json}, rows["frame"]
        )
        if progress:
            progress("partner indicators", 1, 1)
        frame = rows["frame"]
        notes = []
        if spec.get("layer") and spec["layer"] not in st.layer_names():
            notes.append(f"layer {spec['layer']!r} is not in the store; its rows wait for it")
        return {
            "path": label,
            "status": "ingested",
            "partner_file_id": fid,
            "rows_read": len(t.df),
            "rows_inserted": len(frame),
            "rows_skipped_missing": rows["skipped"],
            "blank_rows_skipped": t.blank_rows,
            "rows_sharing_a_key": rows["shared"],
            "ids_not_in_layer": rows["unknown"],
            "indicators": sorted(frame["indicator"].unique().tolist()),
            "periods": [frame["period"].min(), frame["period"].max()],
            "layer": spec.get("layer"),
            "notes": notes,
        }


def _first(mask: np.ndarray | pd.Series) -> int:
    return int(np.flatnonzero(np.asarray(mask))[0])


def _label_column(t: CsvTable, col: str, label: str, what: str) -> pd.Series:
    """Indicator or source values: non-empty text, short, no formula start."""
    s = text_column(t, col, label, what)
    for bad, why in (
        (s.str.len() > MAX_LABEL, f"is longer than {MAX_LABEL} characters"),
        (s.str.startswith(FORMULA_PREFIXES), "begins like a spreadsheet formula (= + - @)"),
    ):
        if bad.any():
            i = _first(bad)
            raise ValidationError(f"{label}: line {t.lines[i]}: {what} {show(s.iloc[i])} {why}")
    return s


def _used_columns(df: pd.DataFrame, spec: dict[str, Any], label: str) -> list[str]:
    keys = ("value_field", "period_field", "indicator_field", "source_field", "area_field",
            "lon_field", "lat_field")  # fmt: skip
    return [field(df, spec[k], label, k) for k in keys if spec.get(k)]


def _rows(t: CsvTable, spec: dict[str, Any], label: str, st: Store) -> dict[str, Any]:
    df, lines = t.df, t.lines
    val_col = field(df, spec["value_field"], label, "value_field")
    check_decoded(t, [c for c in _used_columns(df, spec, label) if c], label)
    raw_vals = df[val_col].str.strip()
    missing = raw_vals.str.lower().isin(MISSING_MARKS).to_numpy()
    values = raw_vals.map(parse_number).to_numpy(dtype=float)
    bad = ~missing & ~np.isfinite(values)
    if bad.any():
        i = _first(bad)
        v = raw_vals.iloc[i]
        hint = "; write 12, not 12%" if v.endswith("%") else ""
        raise ValidationError(
            f"{label}: line {lines[i]}: {val_col} {show(v)} is not a number written plainly"
            f" (such as 12, -3.5 or 1,234){hint}"
        )
    big = ~missing & (np.abs(np.where(missing, 0.0, values)) > MAX_VALUE)
    if big.any():
        i = _first(big)
        raise ValidationError(
            f"{label}: line {lines[i]}: {val_col} {show(raw_vals.iloc[i])} is larger than"
            f" any count or rate ({MAX_VALUE:,.0f})"
        )
    per_col = field(df, spec["period_field"], label, "period_field")
    periods = df[per_col].map(normalise_period)
    if periods.isna().any():
        i = _first(periods.isna())
        raise ValidationError(
            f"{label}: line {lines[i]}: {per_col} {show(df[per_col].iloc[i])} is not a period"
            f" (YYYY-MM, YYYY-MM-DD, YYYY-Qn or YYYY; years {PERIOD_YEARS[0]}..{PERIOD_YEARS[1]})"
        )
    if spec.get("indicator_field"):
        ind_col = field(df, spec["indicator_field"], label, "indicator_field")
        ind = _label_column(t, ind_col, label, f"indicator ({ind_col})")
    else:
        ind = pd.Series(str(spec["indicator"]), index=df.index)
    if spec.get("source_field"):
        src_col = field(df, spec["source_field"], label, "source_field")
        src = _label_column(t, src_col, label, f"source ({src_col})")
    else:
        src = pd.Series(str(spec.get("source") or Path(label).name), index=df.index)
    frame = pd.DataFrame(
        {"line": lines, "period": periods, "indicator": ind, "value": values, "source": src}
    )
    nan = np.full(len(df), np.nan)
    unknown: dict[str, Any] = {}
    if spec.get("area_field"):
        area_col = field(df, spec["area_field"], label, "area_field")
        ids = text_column(t, area_col, label, "area id")
        unknown = check_area_ids(st, str(spec["layer"]), ids, lines, label, "area id")
        frame["layer"] = str(spec["layer"])
        frame["area_id"] = ids.to_numpy()
        frame["longitude"] = frame["latitude"] = frame["easting"] = frame["northing"] = nan
        key = ["area_id"]
    else:
        from realimpact.geo.crs import in_uk, to_bng

        lon_col = field(df, spec["lon_field"], label, "lon_field")
        lat_col = field(df, spec["lat_field"], label, "lat_field")
        lon_txt, lat_txt = df[lon_col].str.strip(), df[lat_col].str.strip()
        lon, lat = (
            c.map(lambda v: float(v) if _COORD.fullmatch(v) else np.nan).to_numpy(dtype=float)
            for c in (lon_txt, lat_txt)
        )
        outside = ~in_uk(lon, lat)
        if outside.any():
            i = _first(outside)
            raise ValidationError(
                f"{label}: line {lines[i]}: {lon_col}/{lat_col}"
                f" ({show(lon_txt.iloc[i])}, {show(lat_txt.iloc[i])})"
                " is missing, not a plain decimal or outside the UK"
            )
        x, y = to_bng(lon, lat)
        frame["layer"] = None
        frame["area_id"] = None
        frame["longitude"], frame["latitude"], frame["easting"], frame["northing"] = lon, lat, x, y
        key = ["longitude", "latitude"]
    frame = frame[~missing].reset_index(drop=True)
    if frame.empty:
        raise RejectedFileError(f"{label}: every {val_col} value is missing")
    shared = frame.duplicated([*key, "period", "indicator", "source"], keep=False)
    frame["line"] = frame["line"].astype("int32")
    return {
        "frame": frame,
        "skipped": int(missing.sum()),
        "shared": {
            "rows": int(shared.sum()),
            "first_lines": frame.loc[shared, "line"].head(5).tolist(),
        }
        if shared.any()
        else {},
        "unknown": unknown,
    }


def partner_indicators(store: Store) -> list[dict[str, Any]]:
    """What partner data the store holds (indicator, source, layer, rows, periods, total)."""
    from realimpact.store import harm as store_harm

    df = store_harm.partner_summary(store)
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in df.to_dict("records")
    ]
