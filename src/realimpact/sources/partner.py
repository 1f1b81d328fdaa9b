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
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from realimpact._progress import ProgressFn
from realimpact.errors import RejectedFileError, ValidationError
from realimpact.sources.population import _field, parse_number, read_table
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
    """'2019-1' -> '2019-01', '2019-01-31' -> '2019-01', '2019Q2' -> '2019-Q2', '2019'."""
    v = str(value).strip()
    if m := re.fullmatch(r"(\d{4})-(\d{1,2})(?:-\d{1,2})?", v):
        return f"{m[1]}-{int(m[2]):02d}" if 1 <= int(m[2]) <= 12 else None
    if m := re.fullmatch(r"(\d{4})\s*-?\s*Q([1-4])", v, re.IGNORECASE):
        return f"{m[1]}-Q{m[2]}"
    if re.fullmatch(r"\d{4}", v):
        return v
    return None


def ingest_partner(
    path: str | os.PathLike,
    store: Store | str | os.PathLike | None = None,
    *,
    spec: dict[str, Any],
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Ingest one partner CSV by ``spec`` (see module doc); all rows or none land.

    Re-ingesting the same file with the same spec adds nothing.
    """
    with using_store(store) as st:
        label = str(path)
        df, raw = read_table(path)
        if df.empty:
            raise RejectedFileError(f"{label}: no data rows")
        sha = hashlib.sha256(raw).hexdigest()
        spec_json = json.dumps(spec, sort_keys=True)
        from realimpact.store import harm as store_harm

        if store_harm.partner_file_present(st, sha, spec_json):
            return {"path": label, "status": "already_present", "rows_inserted": 0}
        rows = _rows(df, spec, label)
        fid = store_harm.insert_partner_rows(
            st, {"path": label, "sha256": sha, "spec": spec_json}, rows["frame"]
        )
        if progress:
            progress("partner indicators", 1, 1)
        return {
            "path": label,
            "status": "ingested",
            "partner_file_id": fid,
            "rows_read": len(df),
            "rows_inserted": len(rows["frame"]),
            "rows_skipped_missing": rows["skipped"],
            "indicators": sorted(rows["frame"]["indicator"].unique().tolist()),
            "periods": [rows["frame"]["period"].min(), rows["frame"]["period"].max()],
            "layer": spec.get("layer"),
        }


def _rows(df: pd.DataFrame, spec: dict[str, Any], label: str) -> dict[str, Any]:
    lines = np.arange(2, len(df) + 2)
    val_col = _field(df, spec["value_field"], label, "value_field")
    raw_vals = df[val_col].str.strip()
    missing = raw_vals.str.lower().isin(MISSING_MARKS).to_numpy()
    values = raw_vals.map(parse_number).to_numpy(dtype=float)
    bad = ~missing & ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"{label}: line {lines[i]}: {val_col} {raw_vals.iloc[i]!r} is not a number"
        )
    per_col = _field(df, spec["period_field"], label, "period_field")
    periods = df[per_col].map(normalise_period)
    if periods.isna().any():
        i = int(np.flatnonzero(periods.isna().to_numpy())[0])
        raise ValidationError(
            f"{label}: line {lines[i]}: {per_col} {df[per_col].iloc[i]!r} is not a period"
            " (YYYY-MM, YYYY-MM-DD, YYYY-Qn or YYYY)"
        )
    if spec.get("indicator_field"):
        ind = df[_field(df, spec["indicator_field"], label, "indicator_field")].str.strip()
    else:
        ind = pd.Series(str(spec["indicator"]), index=df.index)
    if (ind == "").any():
        i = int(np.flatnonzero((ind == "").to_numpy())[0])
        raise ValidationError(f"{label}: line {lines[i]}: indicator is empty")
    if spec.get("source_field"):
        src = df[_field(df, spec["source_field"], label, "source_field")].str.strip()
    else:
        src = pd.Series(str(spec.get("source") or Path(label).name), index=df.index)
    frame = pd.DataFrame(
        {"line": lines, "period": periods, "indicator": ind, "value": values, "source": src}
    )
    nan = np.full(len(df), np.nan)
    if spec.get("area_field"):
        ids = df[_field(df, spec["area_field"], label, "area_field")].str.strip()
        if (ids == "").any():
            i = int(np.flatnonzero((ids == "").to_numpy())[0])
            raise ValidationError(f"{label}: line {lines[i]}: area id is empty")
        frame["layer"] = str(spec["layer"])
        frame["area_id"] = ids.to_numpy()
        frame["longitude"] = frame["latitude"] = frame["easting"] = frame["northing"] = nan
    else:
        from realimpact.geo.crs import in_uk, to_bng

        lon = df[_field(df, spec["lon_field"], label, "lon_field")].map(parse_number).to_numpy()
        lat = df[_field(df, spec["lat_field"], label, "lat_field")].map(parse_number).to_numpy()
        outside = ~in_uk(lon, lat)
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise ValidationError(
                f"{label}: line {lines[i]}: lon/lat ({lon[i]}, {lat[i]})"
                " is missing or outside the UK"
            )
        x, y = to_bng(lon, lat)
        frame["layer"] = None
        frame["area_id"] = None
        frame["longitude"], frame["latitude"], frame["easting"], frame["northing"] = lon, lat, x, y
    frame = frame[~missing].reset_index(drop=True)
    if frame.empty:
        raise RejectedFileError(f"{label}: every {val_col} value is missing")
    frame["line"] = frame["line"].astype("int32")
    return {"frame": frame, "skipped": int(missing.sum())}


def partner_indicators(store: Store) -> list[dict[str, Any]]:
    """What partner data the store holds (indicator, source, layer, rows, periods, total)."""
    from realimpact.store import harm as store_harm

    df = store_harm.partner_summary(store)
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in df.to_dict("records")
    ]
