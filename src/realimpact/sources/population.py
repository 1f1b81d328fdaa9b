"""Resident population per area, for harm and crime rates per 1,000 residents.

One population per layer; loading another replaces it (in one transaction, so
a rejected file leaves the old one in place). Ids are matched as given: Census
2021 tables use 2021 LSOA codes while police.uk records before 2022 carry 2011
codes, so some areas get no rate. We report how many matched rather than guess
a lookup (most LSOAs kept their code in 2021; split and merged ones did not).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from realimpact._progress import ProgressFn
from realimpact.errors import InputError, RejectedFileError, ValidationError
from realimpact.store import Store, using_store


def read_table(path: str | os.PathLike) -> tuple[pd.DataFrame, bytes]:
    """CSV as strings (ids keep leading zeros); UTF-8 first, then cp1252 (ONS downloads)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{p}: is a folder, expected a CSV file") from None
    for enc in ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    import io

    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise RejectedFileError(f"{p}: not a readable CSV ({str(e).splitlines()[0]})") from None
    df.columns = [c.strip() for c in df.columns]
    return df, raw


def _field(df: pd.DataFrame, name: str, label: str, option: str) -> str:
    if name in df.columns:
        return name
    folded = {c.lower(): c for c in df.columns}
    if name.lower() in folded:
        return folded[name.lower()]
    cols = ", ".join(repr(c) for c in df.columns)
    raise ValidationError(f"{label}: {option} {name!r} is not a column; columns are {cols}")


def parse_number(s: str) -> float:
    """'1,234' and ' 12.5 ' are numbers; anything else is NaN."""
    try:
        return float(str(s).replace(",", "").strip())
    except ValueError:
        return math.nan


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

    Every id must be non-empty and unique and every value a whole
    number >= 0 written plainly; otherwise nothing is stored and the error names the line. Returns
    a summary with how many areas that have records matched an id.
    """
    with using_store(store) as st:
        label = str(path)
        if layer != "lsoa" and layer not in st.layer_names():
            raise ValidationError(
                f"--layer: no layer {layer!r}; layers are: {', '.join(st.layer_names())}"
            )
        df, raw = read_table(path)
        if df.empty:
            raise RejectedFileError(f"{label}: no data rows")
        idc = _field(df, id_field, label, "--id-field")
        valc = _field(df, value_field, label, "--value-field")
        ids = df[idc].str.strip()
        lines = pd.Series(range(2, len(df) + 2), index=df.index)
        empty = ids == ""
        if empty.any():
            raise ValidationError(f"{label}: line {lines[empty].iloc[0]}: {idc} is empty")
        dup = ids.duplicated(keep=False)
        if dup.any():
            first = ids[dup].iloc[0]
            at = ", ".join(map(str, lines[ids == first].tolist()[:5]))
            raise ValidationError(
                f"{label}: {idc}: area id {first!r} appears more than once (lines {at});"
                f" {int(ids[dup].nunique())} ids are duplicated"
            )
        values = df[valc].map(parse_count)
        bad = values.isna()
        if bad.any():
            i = bad[bad].index[0]
            raise ValidationError(
                f"{label}: line {lines[i]}: {valc} {df.loc[i, valc]!r} is not a number >= 0"
                " written as a whole count of residents (such as 1234 or 1,234)"
            )
        frame = pd.DataFrame({"area_id": ids, "value": values.astype(float)})
        info = {
            "layer": layer,
            "source": label,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "id_field": idc,
            "value_field": valc,
            "n_areas": len(frame),
            "total": float(frame["value"].sum()),
        }
        from realimpact.store import harm as store_harm

        store_harm.replace_population(st, info, frame)
        if progress:
            progress("population", 1, 1)
        return {
            **{k: info[k] for k in ("layer", "source", "id_field", "value_field")},
            "areas": info["n_areas"],
            "total": info["total"],
            "match": match_report(st, layer),
        }


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
