"""WGS84 <-> British National Grid (EPSG:27700).

Distances, grids and kernels need metres, so every point is also kept in BNG.
One cached transformer: building a pyproj Transformer costs ~50 ms.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from pyproj import Transformer

WGS84 = "EPSG:4326"
BNG = "EPSG:27700"

# Generous box around the UK incl. Northern Ireland, Channel Islands and Shetland;
# police.uk points outside it are data errors (e.g. swapped lat/lon, 0,0).
UK_LON = (-8.9, 2.0)
UK_LAT = (49.0, 61.0)
# The same box in British National Grid metres: UK_LON x UK_LAT projected with its edges
# densified (BNG's grid lines are not meridians, so the corners alone would miss the
# bulge), rounded outward to the km. tests/test_hardening_boundaries.py re-derives it, so
# the two definitions cannot drift apart. Boundary files must lie inside it: anything
# outside came through a wrong CRS (metres read as degrees, swapped axes, Web Mercator
# read as BNG), not from a real UK area.
UK_BNG = (-105_000.0, -100_000.0, 693_000.0, 1_255_000.0)  # xmin, ymin, xmax, ymax


@cache
def _to_bng() -> Transformer:
    return Transformer.from_crs(WGS84, BNG, always_xy=True)


@cache
def _to_wgs84() -> Transformer:
    return Transformer.from_crs(BNG, WGS84, always_xy=True)


def to_bng(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitude/latitude (degrees) -> easting/northing (metres); NaN stays NaN."""
    x, y = _to_bng().transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.asarray(x, float), np.asarray(y, float)


def to_wgs84(easting: np.ndarray, northing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Easting/northing (metres) -> longitude/latitude (degrees)."""
    lon, lat = _to_wgs84().transform(np.asarray(easting, float), np.asarray(northing, float))
    return np.asarray(lon, float), np.asarray(lat, float)


def in_uk(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """True where a WGS84 point lies in the UK bounding box."""
    lon = np.asarray(lon, float)
    lat = np.asarray(lat, float)
    return (lon >= UK_LON[0]) & (lon <= UK_LON[1]) & (lat >= UK_LAT[0]) & (lat <= UK_LAT[1])


def in_uk_bng(bounds: np.ndarray) -> np.ndarray:
    """True per row of ``bounds`` (minx, miny, maxx, maxy in BNG) that lies inside ``UK_BNG``.

    NaN bounds (an empty geometry) fail, so an unprojectable feature cannot pass.
    """
    b = np.asarray(bounds, float).reshape(-1, 4)
    return (
        (b[:, 0] >= UK_BNG[0]) & (b[:, 1] >= UK_BNG[1])
        & (b[:, 2] <= UK_BNG[2]) & (b[:, 3] <= UK_BNG[3])
    )  # fmt: skip
