"""The synthetic city: LSOA-like areas with population, deprivation and streets.

Areas are Voronoi cells of jittered grid points (real LSOAs are irregular,
compact and of similar population, which Voronoi cells of an even point
pattern imitate well). Deprivation is a smooth field peaking near the centre
plus noise, because drug markets and crime concentrate in deprived inner
areas (Home Office (2003) Disrupting crack markets, section 2). Each area gets a handful of named street points:
police.uk publishes every crime at one of a fixed set of anonymised "On or near
..." locations, and so does the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from realimpact.errors import ValidationError
from realimpact.simulate.params import SimulationParams

AREA_SPACING_M = 600.0  # distance between neighbouring area seeds (inner-city LSOA size)
STREETS_PER_AREA = 12

_STREET_STEMS = (
    "Albert",
    "Victoria",
    "Church",
    "Mill",
    "Station",
    "Park",
    "Queen",
    "King",
    "High",
    "Chapel",
    "School",
    "Bridge",
    "Market",
    "Grove",
    "Elm",
    "Oak",
    "Ash",
    "Beech",
    "Cedar",
    "Holly",
    "Rose",
    "Cross",
    "Castle",
    "Abbey",
    "Canal",
    "Dock",
    "Forge",
    "Tanner",
    "Weaver",
    "Cooper",
    "Wellington",
    "Nelson",
    "Clarence",
    "Stanley",
    "Derby",
    "Lime",
    "Moss",
    "Heath",
    "Brook",
    "Meadow",
    "Orchard",
    "Spring",
    "Windsor",
    "York",
    "Lancaster",
    "Garden",
    "Hill",
)
_STREET_SUFFIXES = (
    "Road",
    "Street",
    "Lane",
    "Close",
    "Avenue",
    "Drive",
    "Way",
    "Place",
    "Crescent",
    "Terrace",
    "Walk",
    "Court",
)
_PLACES = (
    "Supermarket",
    "Parking Area",
    "Petrol Station",
    "Shopping Area",
    "Nightclub",
    "Sports/Recreation Area",
    "Further/Higher Educational Building",
    "Hospital",
)


@dataclass(frozen=True)
class City:
    """Areas and street points of one synthetic city (BNG metres).

    Attributes
    ----------
    areas : DataFrame area_id, name, msoa, population, imd_score, imd_decile,
        cx, cy (centroid), geometry (shapely Polygon, EPSG:27700).
    streets : DataFrame street_id, area_idx, easting, northing, location
        (the police.uk "On or near ..." text).
    """

    areas: pd.DataFrame
    streets: pd.DataFrame

    @property
    def n_areas(self) -> int:
        return len(self.areas)


def _area_code(i: int) -> str:
    # E0199xxxx: LSOA-shaped (E01 + 6 digits) yet beyond every real 2011/2021 code.
    return f"E0199{i + 1:04d}"


def build_city(params: SimulationParams, rng: np.random.Generator) -> City:
    """Lay out areas, population, deprivation and street points."""
    n = params.n_areas
    if n < 20:
        raise ValidationError("--areas: needs at least 20 areas for target, buffer and control")
    side = int(np.ceil(np.sqrt(n)))
    gx, gy = np.meshgrid(np.arange(side), np.arange(side))
    pts = np.column_stack([gx.ravel(), gy.ravel()]).astype(float)
    # keep the n grid nodes nearest the centre: a roughly round city
    centre = (side - 1) / 2.0
    order = np.argsort(np.hypot(pts[:, 0] - centre, pts[:, 1] - centre), kind="stable")
    pts = pts[order[:n]]
    pts += rng.uniform(-0.3, 0.3, size=pts.shape)
    xy = (pts - centre) * AREA_SPACING_M
    xy[:, 0] += params.centre_easting
    xy[:, 1] += params.centre_northing

    seeds = shapely.points(xy)
    hull = shapely.buffer(shapely.convex_hull(shapely.multipoints(xy)), AREA_SPACING_M / 2)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=hull))
    # voronoi output order is not the input order: match each seed to its cell
    tree = shapely.STRtree(cells)
    seed_idx, cell_idx = tree.query(seeds, predicate="within")
    cell_of = np.empty(n, dtype=int)
    cell_of[seed_idx] = cell_idx
    geoms = shapely.intersection(cells[cell_of], hull)
    geoms = shapely.set_precision(geoms, 0.01)

    dist = np.hypot(xy[:, 0] - params.centre_easting, xy[:, 1] - params.centre_northing)
    radius = max(dist.max(), 1.0)
    imd = 45.0 * np.exp(-((dist / (0.55 * radius)) ** 2)) + 8.0 + rng.gamma(2.0, 4.0, size=n)
    imd = np.round(imd, 2)
    # IMD decile 1 = most deprived, ranked within the city
    rank = pd.Series(-imd).rank(method="first").to_numpy()
    decile = np.ceil(rank / n * 10).astype(int)
    population = np.round(rng.normal(1550, 220, size=n).clip(1000, 2600)).astype(int)

    msoa = np.arange(n) // 5 + 1
    letter = np.array(list("ABCDE"))[np.arange(n) % 5]
    cent = shapely.get_coordinates(shapely.centroid(geoms))
    areas = pd.DataFrame(
        {
            "area_id": [_area_code(i) for i in range(n)],
            "name": [f"{params.city_name} {m:03d}{c}" for m, c in zip(msoa, letter, strict=True)],
            "msoa": [f"{params.city_name} {m:03d}" for m in msoa],
            "population": population,
            "imd_score": imd,
            "imd_decile": decile,
            "cx": cent[:, 0],
            "cy": cent[:, 1],
            "geometry": geoms,
        }
    )
    streets = _streets(areas, rng)
    return City(areas=areas, streets=streets)


def _streets(areas: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """STREETS_PER_AREA named points strictly inside each area (police.uk snap points)."""
    k = STREETS_PER_AREA
    geoms = areas["geometry"].to_numpy()
    xs = np.empty((len(areas), k))
    ys = np.empty((len(areas), k))
    for i, g0 in enumerate(geoms):
        # 10 m inside the edge, so rounding lon/lat to 6 decimals (about 0.1 m)
        # can never move a point into the neighbouring area
        g = g0.buffer(-10.0)
        minx, miny, maxx, maxy = g.bounds
        got = 0
        while got < k:  # rejection sampling: cells are convex-ish, ~80% accepted
            cx = rng.uniform(minx, maxx, size=4 * k)
            cy = rng.uniform(miny, maxy, size=4 * k)
            inside = shapely.contains_xy(g, cx, cy)
            take = min(k - got, int(inside.sum()))
            xs[i, got : got + take] = cx[inside][:take]
            ys[i, got : got + take] = cy[inside][:take]
            got += take
    n_names = len(_STREET_STEMS) * len(_STREET_SUFFIXES)
    name_idx = rng.integers(0, n_names, size=xs.size)
    names = np.array(
        [f"On or near {s} {x}" for s in _STREET_STEMS for x in _STREET_SUFFIXES], dtype=object
    )[name_idx]
    place = rng.random(xs.size) < 0.08
    names[place] = np.array([f"On or near {p}" for p in _PLACES], dtype=object)[
        rng.integers(0, len(_PLACES), size=int(place.sum()))
    ]
    return pd.DataFrame(
        {
            "street_id": np.arange(xs.size),
            "area_idx": np.repeat(np.arange(len(areas)), k),
            "easting": np.round(xs.ravel(), 1),
            "northing": np.round(ys.ravel(), 1),
            "location": names,
        }
    )


def choose_roles(
    city: City, market_xy: tuple[float, float], params: SimulationParams
) -> dict[str, list[int]]:
    """Target = areas nearest the operation's market, buffer = the next ring,
    control = areas at least one buffer-width further out, most like the target
    in deprivation (a matched comparison group, as evaluations should use)."""
    a = city.areas
    d = np.hypot(a["cx"].to_numpy() - market_xy[0], a["cy"].to_numpy() - market_xy[1])
    order = np.argsort(d, kind="stable")
    n_t, n_b, n_c = params.role_sizes()
    if n_t + n_b + n_c > city.n_areas:
        raise ValidationError(
            f"n_target+n_buffer+n_control: {n_t + n_b + n_c} areas asked, city has {city.n_areas}"
        )
    target = order[:n_t]
    buffer = order[n_t : n_t + n_b]
    gap = d[buffer].max() + AREA_SPACING_M
    far = order[n_t + n_b :]
    far = far[d[far] >= gap] if (d[far] >= gap).sum() >= n_c else far
    imd = a["imd_score"].to_numpy()
    similar = far[np.argsort(np.abs(imd[far] - imd[target].mean()), kind="stable")]
    control = np.sort(similar[:n_c])
    return {
        "target": sorted(int(i) for i in target),
        "buffer": sorted(int(i) for i in buffer),
        "control": [int(i) for i in control],
    }
