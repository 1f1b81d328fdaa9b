"""Write a simulated city in the real formats, so it goes through the real ingest.

Layout of the output folder::

    street/YYYY-MM/YYYY-MM-<city>-street.csv                police.uk street-level crime
    stop_and_search/YYYY-MM/YYYY-MM-<city>-stop-and-search.csv
    boundaries/<city>_lsoa.gpkg                              layer "lsoa", EPSG:27700
    population.csv                                           area_id, population
    survey-residents.csv, survey-professionals.csv           community survey waves (long)
    markets.yaml                                             the market registry
    plan.yaml                                                the operation plan
    truth.json                                               the ground truth

Headers, column order and value vocabularies are those of the data.police.uk
files in ``shared/data/police_uk`` (LF line ends, no quoting unless needed,
coordinates with six decimals, empty strings for missing values).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from realimpact.sources import police_uk

# The writer emits exactly the headers the reader recognises (one definition;
# tests/test_simulate_city.py spells them out independently). Lists, because
# pandas reads a tuple as one key.
STREET_COLUMNS = list(police_uk.STREET_COLUMNS)
SEARCH_COLUMNS = list(police_uk.STOP_SEARCH_COLUMNS)


def _fmt6(x: np.ndarray) -> np.ndarray:
    return np.array([f"{v:.6f}" for v in x], dtype=object)


def write_csv(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, lineterminator="\n")


def write_street(
    rows: pd.DataFrame,
    areas: pd.DataFrame,
    lonlat: tuple[np.ndarray, np.ndarray],
    force: str,
    slug: str,
    out: Path,
    progress=None,
) -> list[Path]:
    """One street CSV per month; rows carry area_idx (-1 = no location) and street."""
    located = rows["area_idx"].to_numpy() >= 0
    st = rows["street"].to_numpy()
    lon = np.full(len(rows), "", dtype=object)
    lat = np.full(len(rows), "", dtype=object)
    lon[located] = _fmt6(lonlat[0][st[located]])
    lat[located] = _fmt6(lonlat[1][st[located]])
    codes = np.append(areas["area_id"].to_numpy(dtype=object), "")
    names = np.append(areas["name"].to_numpy(dtype=object), "")
    ai = np.where(located, rows["area_idx"].to_numpy(), len(areas))
    out_df = pd.DataFrame(
        {
            "Crime ID": rows["Crime ID"].to_numpy(),
            "Month": rows["Month"].to_numpy(),
            "Reported by": force,
            "Falls within": force,
            "Longitude": lon,
            "Latitude": lat,
            "Location": np.where(located, rows["location"].to_numpy(), "No location"),
            "LSOA code": codes[ai],
            "LSOA name": names[ai],
            "Crime type": rows["Crime type"].to_numpy(),
            "Last outcome category": rows["Last outcome category"].to_numpy(),
            "Context": "",
        }
    )[STREET_COLUMNS]
    paths = []
    months = sorted(out_df["Month"].unique())
    for m, part in out_df.groupby("Month", sort=True):
        p = out / "street" / m / f"{m}-{slug}-street.csv"
        write_csv(part, p)
        paths.append(p)
        if progress:
            progress("simulate: writing street files", 1, len(months))
    return paths


def write_searches(
    rows: pd.DataFrame,
    lonlat: tuple[np.ndarray, np.ndarray],
    slug: str,
    months: list[str],
    out: Path,
) -> list[Path]:
    """One stop-and-search CSV per month (a month with no searches still gets its header)."""
    st = rows["street"].to_numpy()
    loc = rows["located"].to_numpy()
    lon = np.full(len(rows), "", dtype=object)
    lat = np.full(len(rows), "", dtype=object)
    lon[loc] = _fmt6(lonlat[0][st[loc]])
    lat[loc] = _fmt6(lonlat[1][st[loc]])
    df = rows.assign(Latitude=lat, Longitude=lon)
    paths = []
    for m in months:
        part = df.loc[df["month"] == m, SEARCH_COLUMNS]
        p = out / "stop_and_search" / m / f"{m}-{slug}-stop-and-search.csv"
        write_csv(part, p)
        paths.append(p)
    return paths


def write_boundaries(areas: pd.DataFrame, path: Path) -> Path:
    """LSOA-like polygons as a GeoPackage in British National Grid (via pyogrio).

    The GeoPackage's last-change timestamp is pinned (GDAL's OGR_CURRENT_DATE)
    so that the same seed gives the same bytes.
    """
    import pyogrio
    import pyogrio.raw
    import shapely
    from pyproj import CRS

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2000-01-01T00:00:00.000Z"})
    try:
        pyogrio.raw.write(
            str(path),
            geometry=shapely.to_wkb(areas["geometry"].to_numpy()),
            field_data=[
                areas["area_id"].to_numpy(dtype=object),
                areas["name"].to_numpy(dtype=object),
                areas["msoa"].to_numpy(dtype=object),
                areas["population"].to_numpy(dtype=np.int64),
                areas["imd_score"].to_numpy(dtype=float),
                areas["imd_decile"].to_numpy(dtype=np.int64),
            ],
            fields=["LSOA11CD", "LSOA11NM", "MSOA11NM", "population", "imd_score", "imd_decile"],
            layer="lsoa",
            driver="GPKG",
            geometry_type="Polygon",
            crs=CRS.from_epsg(27700).to_wkt(),
        )
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})
    return path


def write_yaml(obj: Any, path: Path, header: str = "") -> Path:
    text = yaml.safe_dump(obj, sort_keys=False, allow_unicode=True, width=100)
    path.write_text(header + text, encoding="utf-8")
    return path


def write_json(obj: Any, path: Path) -> Path:
    path.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path
