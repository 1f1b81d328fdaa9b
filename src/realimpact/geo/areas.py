"""Area layers: boundaries from files, square grids, and point-in-polygon.

Every geometry is held in British National Grid metres (EPSG:27700) so areas,
distances and grid cells mean the same everywhere. Assigning records to areas
is vectorised: a grid layer is pure arithmetic (floor division), any other
layer uses one shapely STRtree query for all points of a file.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError

from realimpact._progress import ProgressFn
from realimpact.errors import InputError, RejectedFileError, ValidationError
from realimpact.geo.crs import BNG, UK_LAT, UK_LON, in_uk_bng
from realimpact.store import RECORD_TABLES, Store, using_store
from realimpact.store import areas as store_areas

LAYER_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_GRID_CELLS = 2_000_000
# Fields tried, in order, when --id-field is not given.
ID_CANDIDATES = ("code", "LSOA21CD", "LSOA11CD", "MSOA21CD", "MSOA11CD", "WD22CD", "id", "ID")
NAME_CANDIDATES = ("name", "LSOA21NM", "LSOA11NM", "MSOA21NM", "MSOA11NM", "WD22NM", "NAME")


def _check_layer_name(layer: str) -> None:
    if not LAYER_RE.match(layer):
        raise ValidationError(
            f"--layer {layer!r}: use lower-case letters, digits and _ (start with a letter)"
        )


_POLYGONAL = (3, 6)  # shapely type ids of Polygon, MultiPolygon
_GEOM_TYPES = (
    "Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString",
    "MultiPolygon", "GeometryCollection", "CircularString", "CompoundCurve", "CurvePolygon",
    "MultiCurve", "MultiSurface",
)  # fmt: skip


def _type_name(type_id: int) -> str:
    return _GEOM_TYPES[type_id] if 0 <= type_id < len(_GEOM_TYPES) else f"geometry type {type_id}"


def _id_text(value: object) -> str | None:
    """An area id as text; None when the feature has none.

    Numeric id fields are common (FID, OBJECTID; a shapefile number field with
    decimals is read as a float), and 17.0 must become '17', not '17.0', or it
    will never match the same area written anywhere else.
    """
    if value is None:
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).strip()
    return text or None


def _crs_text(crs: CRS) -> str:
    auth = crs.to_authority()
    return ":".join(auth) if auth else crs.name


def _extent_text(b: np.ndarray) -> str:
    return f"x {b[0]:.6g}..{b[2]:.6g}, y {b[1]:.6g}..{b[3]:.6g}"


def _in_lon_lat_box(b: np.ndarray) -> bool:
    """Whether bounds (minx, miny, maxx, maxy) lie in the UK longitude/latitude box."""
    return bool(UK_LON[0] <= b[0] and b[2] <= UK_LON[1] and UK_LAT[0] <= b[1] and b[3] <= UK_LAT[1])


def _layer_bounds(geoms: np.ndarray) -> np.ndarray:
    b = shapely.bounds(geoms)
    return np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()])


def _decode(wkb: list, label: str, ids: pd.Series) -> np.ndarray:
    """WKB -> shapely, naming the first feature GEOS cannot read instead of failing with it.

    Curved geometries (CurvePolygon, MultiSurface from a GeoPackage) are the
    usual case: shapely raises NotImplementedError for them.
    """
    arr = np.asarray(wkb, dtype=object)
    unreadable = (shapely.errors.GEOSException, NotImplementedError)
    try:
        return shapely.from_wkb(arr, on_invalid="raise")
    except unreadable:
        for i, w in enumerate(arr):
            try:
                shapely.from_wkb(w, on_invalid="raise")
            except unreadable as e:
                hint = (
                    "; linearise curves first, e.g. ogr2ogr -nlt MULTIPOLYGON"
                    if isinstance(e, NotImplementedError)
                    else ""
                )
                raise ValidationError(
                    f"feature {ids.iloc[i]!r}: geometry cannot be read"
                    f" ({str(e).splitlines()[0]}){hint}",
                    source=label,
                ) from None
        raise


def _check_shapes(geoms: np.ndarray, ids: pd.Series, label: str) -> np.ndarray:
    """Refuse features that are not one non-empty 2D (multi)polygon with finite vertices.

    Z (and M) values are dropped: an area's outline is its footprint, and a 3D
    WKB in the store would reach code that assumes x, y only.
    """
    missing = np.flatnonzero(pd.isna(geoms))
    if len(missing):
        raise ValidationError(
            f"feature {ids.iloc[missing[0]]!r} has no geometry (null)"
            + (f", and {len(missing) - 1} more" if len(missing) > 1 else ""),
            source=label,
        )
    kinds = shapely.get_type_id(geoms)
    wrong = np.flatnonzero(~np.isin(kinds, _POLYGONAL))
    if len(wrong):
        i = wrong[0]
        raise ValidationError(
            f"feature {ids.iloc[i]!r} is a {_type_name(int(kinds[i]))}; areas must be polygons"
            " or multipolygons",
            source=label,
        )
    empty = np.flatnonzero(shapely.is_empty(geoms))
    if len(empty):
        raise ValidationError(f"feature {ids.iloc[empty[0]]!r} has an empty geometry", source=label)
    geoms = shapely.force_2d(geoms)
    _check_finite(geoms, ids, label, "has a NaN or infinite vertex")
    return geoms


def _check_finite(geoms: np.ndarray, ids: pd.Series, label: str, what: str) -> None:
    xy, idx = shapely.get_coordinates(geoms, return_index=True)
    bad = ~np.isfinite(xy).all(axis=1)
    if bad.any():
        raise ValidationError(f"feature {ids.iloc[idx[bad][0]]!r} {what}", source=label)


def _source_crs(meta: dict, crs: str | None, geoms: np.ndarray, label: str) -> CRS:
    """The file's CRS (or the one the caller says it is), refusing coordinates that contradict it.

    A CRS label is only a claim: BNG metres written with a WGS84 label (or in a
    GeoJSON with no crs member, which RFC 7946 makes WGS84) would otherwise be
    "projected" into a layer of 0 km² and replace a good one.
    """
    given = crs or meta.get("crs")
    b = _layer_bounds(geoms)
    if not given:
        look = (
            "; its coordinates look like longitude/latitude (EPSG:4326)" if _in_lon_lat_box(b)
            else "; its coordinates look like British National Grid metres (EPSG:27700)"
            if bool(in_uk_bng(b)[0]) else ""
        )  # fmt: skip
        raise RejectedFileError(
            f"has no coordinate reference system (.prj missing?){look}; give the file's CRS with --crs",
            source=label,
        )
    try:
        src = CRS.from_user_input(given)
    except CRSError as e:
        raise RejectedFileError(
            f"coordinate reference system not understood ({str(e).splitlines()[0]})", source=label
        ) from None
    if src.is_geographic:
        mx, my = max(abs(b[0]), abs(b[2])), max(abs(b[1]), abs(b[3]))
        if mx > 180 or my > 90:
            axis, v = ("x", mx) if mx > 180 else ("y", my)
            said = (
                "GeoJSON is WGS84 longitude/latitude (RFC 7946): reproject it"
                if not crs and Path(label).suffix.lower() in (".geojson", ".json")
                else f"read as {_crs_text(src)}"
            )
            raise RejectedFileError(
                f"coordinates are not degrees: {axis} up to {v:.0f} (metres? {said}, or give"
                " the file's CRS with --crs)",
                source=label,
            )
    elif max(abs(b[0]), abs(b[2])) <= 180 and max(abs(b[1]), abs(b[3])) <= 90:
        raise RejectedFileError(
            f"coordinates look like degrees ({_extent_text(b)}) but the CRS {_crs_text(src)}"
            " is projected (metres); give the file's CRS with --crs",
            source=label,
        )
    return src


def _to_bng(geoms: np.ndarray, src: CRS, ids: pd.Series, label: str) -> np.ndarray:
    """Project to BNG and refuse anything that does not land in the UK."""
    if not src.equals(CRS.from_user_input(BNG)):
        try:
            tr = Transformer.from_crs(src, BNG, always_xy=True)
        except ProjError as e:
            raise RejectedFileError(
                f"cannot project {_crs_text(src)} to British National Grid ({e})", source=label
            ) from None
        raw = geoms
        geoms = shapely.transform(
            geoms, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))
        )
        _check_finite(
            geoms, ids, label, f"cannot be projected from {_crs_text(src)} to British National Grid"
        )
    else:
        raw = None
    inside = in_uk_bng(shapely.bounds(geoms))
    if inside.all():
        return geoms
    b = _layer_bounds(geoms)
    where = f"E {b[0]:.0f}..{b[2]:.0f}, N {b[1]:.0f}..{b[3]:.0f} in British National Grid"
    if raw is not None and src.is_geographic:
        r = _layer_bounds(raw)
        if _in_lon_lat_box(r[[1, 0, 3, 2]]):  # would be in the UK read the other way round
            raise RejectedFileError(
                f"coordinates look like latitude, longitude ({_extent_text(r)}): the axis order is"
                " swapped; write them as longitude, latitude (x = longitude)",
                source=label,
            )
    if not inside.any():
        raise RejectedFileError(
            f"the areas lie outside the UK ({where}); is the file's CRS ({_crs_text(src)}) right?",
            source=label,
        )
    i = np.flatnonzero(~inside)[0]
    raise ValidationError(
        f"feature {ids.iloc[i]!r} lies outside the UK ({_extent_text(shapely.bounds(geoms[i]))}"
        " in British National Grid metres)",
        source=label,
    )


def _polygonal_part(g: shapely.Geometry) -> shapely.Geometry:
    """The polygons of a make_valid result; the collapsed lines and points are dropped.

    make_valid returns a GeometryCollection when part of a ring collapses (a
    spike, a repeated vertex); the collapsed part has no area, so dropping it
    changes nothing an area layer measures.
    """
    if shapely.get_type_id(g) in _POLYGONAL:
        return g
    polys = [p for p in shapely.get_parts(shapely.get_parts(g)) if shapely.get_type_id(p) == 3]
    return shapely.multipolygons(polys) if polys else shapely.Polygon()


def _repair(geoms: np.ndarray, ids: pd.Series, label: str) -> tuple[np.ndarray, list[str]]:
    """make_valid self-intersecting or badly nested rings; refuse features with no area.

    Repair is right for what real boundary files carry (ONS polygons with nested
    shells, a bow-tie from generalisation): the result keeps a positive area, and
    a note names the features and how much their area changed.
    A feature whose outline encloses nothing (collinear or repeated vertices)
    has no repair that is not invented, so the file is refused naming it.
    """
    notes: list[str] = []
    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    if len(invalid):
        before = float(shapely.area(geoms[invalid]).sum())
        geoms = geoms.copy()
        fixed = shapely.make_valid(geoms[invalid])
        geoms[invalid] = [_polygonal_part(g) for g in fixed]
    area = shapely.area(geoms)
    flat = np.flatnonzero(~(area > 0))
    if len(flat):
        raise ValidationError(
            f"feature {ids.iloc[flat[0]]!r} has zero area (its vertices are collinear or"
            " repeated); fix or drop it"
            + (f" ({len(flat) - 1} more such features)" if len(flat) > 1 else ""),
            source=label,
        )
    if len(invalid):
        after = float(area[invalid].sum())
        change = f"{(after - before) / before:+.1%}" if before > 0 else "from zero"
        notes.append(
            f"{len(invalid)} invalid polygon(s) (self-intersecting or nested rings) repaired with"
            f" make_valid, e.g. {ids.iloc[invalid[0]]!r} (their area changed {change});"
            " check them on a map"
        )
    return geoms, notes


def read_boundaries(
    path: str | os.PathLike,
    id_field: str | None = None,
    name_field: str | None = None,
    *,
    crs: str | None = None,
) -> pd.DataFrame:
    """Read polygons (shapefile, GeoJSON, GeoPackage) as BNG shapely geometries.

    Returns columns area_id, name, geometry. Every way a file can yield a
    silently wrong layer raises an InputError naming the file (and the feature,
    by its id) instead: no or contradictory CRS, coordinates outside the UK
    once projected, null / empty / non-polygon / NaN / zero-area features,
    missing or duplicate ids. ``crs`` overrides the file's CRS (for a file that
    has none or a wrong one). Notes on repairs are in ``df.attrs["notes"]``.
    """
    import pyogrio

    path = Path(path)
    label = str(path)
    if not path.exists():
        raise InputError("no such file or directory", source=label)
    try:
        meta, table = pyogrio.read_arrow(path)
    except Exception as e:  # pyogrio raises DataSourceError and friends
        raise RejectedFileError(
            f"not a readable boundary file ({str(e).splitlines()[0]})", source=label
        ) from None
    if table.num_rows == 0:
        raise RejectedFileError("holds no features", source=label)
    fields = [f for f in table.column_names if f != meta["geometry_name"]]
    geom_col = meta["geometry_name"] or "wkb_geometry"
    if geom_col not in table.column_names:
        raise RejectedFileError("has no geometry column", source=label)

    def pick(given: str | None, candidates: tuple[str, ...], what: str) -> str | None:
        if given is not None:
            if given not in fields:
                raise ValidationError(
                    f"{what} {given!r} not found; fields are: {', '.join(fields)}", source=label
                )
            return given
        lower = {f.lower(): f for f in fields}
        for c in candidates:
            if c.lower() in lower:
                return lower[c.lower()]
        return None

    idf = pick(id_field, ID_CANDIDATES, "--id-field")
    if idf is None:
        raise ValidationError(
            f"cannot tell which field is the area id; pass --id-field (fields: {', '.join(fields)})",
            source=label,
        )
    namef = pick(name_field, NAME_CANDIDATES, "--name-field")
    ids = pd.Series([_id_text(v) for v in table[idf].to_pylist()], dtype=object)
    if ids.isna().any():
        n = int(ids.isna().sum())
        raise ValidationError(
            f"field {idf!r} has empty area ids (feature #{int(np.flatnonzero(ids.isna())[0]) + 1}"
            f" of {len(ids)} has none{f', {n - 1} more' if n > 1 else ''})",
            source=label,
        )
    dup = ids[ids.duplicated()]
    if len(dup):
        raise ValidationError(
            f"field {idf!r} has duplicate area ids (e.g. {dup.iloc[0]!r}); pick a unique --id-field",
            source=label,
        )
    names = table[namef].to_pylist() if namef else [None] * len(ids)

    # NaN vertices make GEOS warn on every call; each is refused below instead
    with np.errstate(invalid="ignore"):
        geoms = _check_shapes(_decode(table[geom_col].to_pylist(), label, ids), ids, label)
        src = _source_crs(meta, crs, geoms, label)
        geoms = _to_bng(geoms, src, ids, label)
        geoms, notes = _repair(geoms, ids, label)
    df = pd.DataFrame({"area_id": ids.to_numpy(), "name": names, "geometry": geoms})
    df.attrs.update(id_field=idf, name_field=namef, notes=notes)
    return df


def _areas_frame(df: pd.DataFrame) -> pd.DataFrame:
    geoms = df["geometry"].to_numpy()
    b = shapely.bounds(geoms)
    return pd.DataFrame(
        {
            "area_id": df["area_id"].astype(str).to_numpy(),
            "name": df["name"].to_numpy(),
            "geom": shapely.to_wkb(geoms),
            "area_m2": shapely.area(geoms),
            "minx": b[:, 0], "miny": b[:, 1], "maxx": b[:, 2], "maxy": b[:, 3],
        }
    )  # fmt: skip


def ingest_boundaries(
    path: str | os.PathLike,
    store: Store | str | os.PathLike | None = None,
    *,
    layer: str,
    id_field: str | None = None,
    name_field: str | None = None,
    crs: str | None = None,
) -> dict:
    """Load a polygon file as area layer ``layer`` (replacing a layer of that name).

    The file is read and checked in full before the store is touched, so a
    refused file leaves the existing layer exactly as it was.
    """
    _check_layer_name(layer)
    df = read_boundaries(path, id_field, name_field, crs=crs)
    with using_store(store) as st:
        areas = _areas_frame(df)
        store_areas.replace_layer(
            st,
            {"layer": layer, "kind": "boundaries", "source": str(path),
             "id_field": df.attrs["id_field"], "name_field": df.attrs["name_field"]},
            areas,
        )  # fmt: skip
        return {
            "layer": layer,
            "kind": "boundaries",
            "source": str(path),
            "id_field": df.attrs["id_field"],
            "name_field": df.attrs["name_field"],
            "n_areas": len(areas),
            "total_area_km2": float(areas["area_m2"].sum() / 1e6),
            "bounds": [float(areas["minx"].min()), float(areas["miny"].min()),
                       float(areas["maxx"].max()), float(areas["maxy"].max())],
            "notes": list(df.attrs["notes"]),
        }  # fmt: skip


def grid_cells(
    extent: tuple[float, float, float, float], cell: float
) -> tuple[pd.DataFrame, tuple[float, float, int, int]]:
    """Square cells snapped to multiples of ``cell`` covering ``extent``.

    Returns the cells (area_id = 'E<easting>N<northing>' of the lower-left
    corner, so ids are stable across runs and readable on a map) and the grid
    origin and shape for fast assignment.
    """
    minx, miny, maxx, maxy = extent
    x0 = math.floor(minx / cell) * cell
    y0 = math.floor(miny / cell) * cell
    nx = max(1, math.floor((maxx - x0) / cell) + 1)
    ny = max(1, math.floor((maxy - y0) / cell) + 1)
    if nx * ny > MAX_GRID_CELLS:
        raise ValidationError(
            f"--cell {cell:g}: the data's extent needs {nx * ny:,} cells (limit {MAX_GRID_CELLS:,});"
            " use a larger cell"
        )
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="xy")
    xs = x0 + ix.ravel() * cell
    ys = y0 + iy.ravel() * cell
    geoms = shapely.box(xs, ys, xs + cell, ys + cell)
    ids = np.char.add(
        np.char.add("E", xs.astype(np.int64).astype(str)),
        np.char.add("N", ys.astype(np.int64).astype(str)),
    )
    df = pd.DataFrame({"area_id": ids.astype(object), "name": None, "geometry": geoms})
    return df, (x0, y0, nx, ny)


def parse_extent(text: str) -> tuple[float, float, float, float]:
    """'XMIN,YMIN,XMAX,YMAX' in BNG metres -> a box, or a ValidationError naming --extent."""
    try:
        x0, y0, x1, y1 = (float(v) for v in text.split(","))
    except ValueError:
        raise ValidationError(
            f"--extent {text!r}: expected XMIN,YMIN,XMAX,YMAX in metres (EPSG:27700)"
        ) from None
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or x1 <= x0 or y1 <= y0:
        raise ValidationError(f"--extent {text!r}: XMAX and YMAX must exceed XMIN and YMIN")
    return x0, y0, x1, y1


def build_grid(
    store: Store | str | os.PathLike | None = None,
    *,
    cell: float,
    layer: str,
    extent: tuple[float, float, float, float] | None = None,
    force: str | None = None,
) -> dict:
    """Create (or replace) a square-grid layer over the records' extent.

    ``force`` limits the extent to one force's records (``Falls within`` for
    street crimes, the file-name force for stop and search), since a grid over
    two distant forces is mostly empty sea and countryside.
    """
    _check_layer_name(layer)
    if not (cell > 0 and math.isfinite(cell)):
        raise ValidationError(f"--cell {cell!r}: must be a positive number of metres")
    if layer == "lsoa":
        raise ValidationError("--layer 'lsoa': reserved for LSOA areas; name the grid e.g. grid250")
    with using_store(store) as st:
        info = store_areas.layer_info(st, layer)
        if info is not None and info.get("kind") != "grid":
            # rebuilding a grid is routine; silently replacing loaded boundaries loses them
            raise ValidationError(
                f"--layer {layer!r}: already holds {info.get('kind')} areas, which a grid"
                " would replace; choose another name"
            )
        ext = extent or store_areas.points_extent(st, force)
        if ext is None:
            where = f" for force {force!r}" if force else ""
            raise InputError(
                f"the store holds no records with coordinates{where}; ingest data first"
            )
        notes = [] if extent else _stray_records_note(st, ext, force)
        df, (x0, y0, nx, ny) = grid_cells(ext, cell)
        areas = _areas_frame(df)
        store_areas.replace_layer(
            st, {"layer": layer, "kind": "grid", "source": f"grid {cell:g} m", "cell_size": cell},
            areas,
        )  # fmt: skip
        return {
            "layer": layer, "kind": "grid", "cell_size": cell, "n_areas": len(areas),
            "origin": [x0, y0], "columns": nx, "rows": ny, "notes": notes,
        }  # fmt: skip


def _stray_records_note(st: Store, ext: tuple[float, ...], force: str | None) -> list[str]:
    """A note when a few distant records stretch the grid far beyond the bulk of them.

    police.uk files carry some records geocoded far from their force (one
    Durham file reaches Cornwall): the grid then covers mostly empty country,
    costing time and memory in every analysis of the layer.
    """
    # 0.25% off each side of each axis: by the union bound the box holds >= 99%
    bulk = store_areas.points_extent(st, force, trim=0.0025)
    if bulk is None:
        return []
    full_km2 = (ext[2] - ext[0]) * (ext[3] - ext[1]) / 1e6
    bulk_km2 = max((bulk[2] - bulk[0]) * (bulk[3] - bulk[1]) / 1e6, 1.0)
    if full_km2 <= 4 * bulk_km2:
        return []
    box = ",".join(
        str(int(v))
        for v in (
            math.floor(bulk[0] / 1000) * 1000, math.floor(bulk[1] / 1000) * 1000,
            math.ceil(bulk[2] / 1000) * 1000, math.ceil(bulk[3] / 1000) * 1000,
        )
    )  # fmt: skip
    return [
        f"the grid covers {full_km2:,.0f} km² but 99% of the records lie within"
        f" {bulk_km2:,.0f} km²: a few distant records (often mis-geocoded) stretch it;"
        f" --extent {box} covers the bulk"
    ]


def load_layer(store: Store, layer: str) -> pd.DataFrame:
    """area_id, name, geometry (shapely, BNG) of a layer.

    The ``lsoa`` layer without boundaries comes back with the LSOA codes the
    records carry and ``geometry`` None.
    """
    info = store_areas.layer_info(store, layer)
    if info is None:
        if layer == "lsoa":
            df = store_areas.lsoa_codes(store)
            df["geometry"] = None
            return df
        raise ValidationError(
            f"--layer {layer!r}: no such layer; layers are: {', '.join(store.layer_names())}"
        )
    df = store_areas.layer_areas(store, layer)
    df["geometry"] = _stored_geometries(layer, df.pop("geom").to_numpy(), df["area_id"])
    return df[["area_id", "name", "geometry", "area_m2"]]


def _stored_geometries(layer: str, wkb: np.ndarray, ids: pd.Series) -> np.ndarray:
    """Decode a stored layer, refusing areas an older version let in unchecked.

    Before intake checked geometries, a NaN vertex or a zero-area outline
    (stored as lines) could be saved; GEOS then fails deep inside weights or
    point-in-polygon with an exception that reads like a bug. Said here, once,
    as what it is: a layer to load again.
    """
    with np.errstate(invalid="ignore"):
        geoms = shapely.from_wkb(wkb, on_invalid="ignore")
        problem = np.full(len(geoms), "", dtype=object)
        kinds = shapely.get_type_id(geoms)
        problem[~np.isin(kinds, _POLYGONAL)] = "no polygon geometry"
        problem[(problem == "") & shapely.is_empty(geoms)] = "an empty geometry"
        xy, idx = shapely.get_coordinates(geoms, return_index=True)
        nonfinite = np.unique(idx[~np.isfinite(xy).all(axis=1)])
        problem[nonfinite[problem[nonfinite] == ""]] = "a NaN or infinite vertex"
    bad = np.flatnonzero(problem != "")
    if len(bad):
        i = bad[0]
        raise ValidationError(
            f"--layer {layer!r}: area {ids.iloc[i]!r} has {problem[i]} (stored by an older"
            f" version{f', {len(bad) - 1} more such areas' if len(bad) > 1 else ''}); load the"
            f" boundaries again with `realimpact ingest boundaries PATH --layer {layer}`"
        )
    return geoms


def points_in_polygons(x: np.ndarray, y: np.ndarray, geoms: np.ndarray) -> np.ndarray:
    """Index of the polygon holding each point (-1 if none); boundary ties go to the lowest index."""
    out = np.full(len(x), -1, dtype=np.int64)
    if len(x) == 0 or len(geoms) == 0:
        return out
    tree = shapely.STRtree(geoms)
    pts = shapely.points(x, y)
    pi, gi = tree.query(pts, predicate="intersects")
    if len(pi):
        order = np.lexsort((gi, pi))
        pi, gi = pi[order], gi[order]
        first = np.r_[True, pi[1:] != pi[:-1]]
        out[pi[first]] = gi[first]
    return out


def _grid_lookup(info: dict, areas: pd.DataFrame):
    """Floor-division assignment for grid layers (exact, no geometry needed).

    The cell ids are laid out once as a (rows, columns) array, so a file's
    points are assigned by integer arithmetic and one fancy-index lookup.
    """
    cell = float(info["cell_size"])
    x0 = float(areas["minx"].min())
    y0 = float(areas["miny"].min())
    nx = round((float(areas["maxx"].max()) - x0) / cell)
    ny = round((float(areas["maxy"].max()) - y0) / cell)
    table = np.full((ny, nx), None, dtype=object)
    cx = np.rint((areas["minx"].to_numpy() - x0) / cell).astype(np.int64)
    cy = np.rint((areas["miny"].to_numpy() - y0) / cell).astype(np.int64)
    table[cy, cx] = areas["area_id"].to_numpy(dtype=object)

    def assign(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ix = np.floor((x - x0) / cell).astype(np.int64)
        iy = np.floor((y - y0) / cell).astype(np.int64)
        ok = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
        res = np.full(len(x), None, dtype=object)
        res[ok] = table[iy[ok], ix[ok]]
        return res

    return assign


def assign_records(
    store: Store,
    layer: str,
    tables: tuple[str, ...] = RECORD_TABLES,
    *,
    progress: ProgressFn | None = None,
) -> int:
    """Assign every not-yet-assigned record with coordinates to ``layer``'s areas.

    Work is done per source file and remembered, so calling this again after a
    new ingest costs only the new files. Returns the number of files processed.
    """
    info = store_areas.layer_info(store, layer)
    if info is None:
        raise ValidationError(f"--layer {layer!r}: no boundaries or grid loaded for this layer")
    todo = [(t, f) for t in tables for f in store_areas.unassigned_files(store, layer, t)]
    if not todo:
        return 0
    areas = store_areas.layer_areas(store, layer)
    if info["kind"] == "grid":
        lookup = _grid_lookup(info, areas)
    else:
        geoms = _stored_geometries(layer, areas["geom"].to_numpy(), areas["area_id"])
        ids = areas["area_id"].to_numpy(dtype=object)
        tree_geoms = geoms

        def lookup(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            idx = points_in_polygons(x, y, tree_geoms)
            res = np.full(len(x), None, dtype=object)
            res[idx >= 0] = ids[idx[idx >= 0]]
            return res

    for table, file_id in todo:
        lines, x, y = store_areas.file_points(store, table, file_id)
        area = lookup(x, y)
        hit = pd.notna(area)
        store_areas.save_assignments(
            store, layer, table, file_id, lines[hit], np.asarray(area[hit], dtype=object)
        )
        if progress:
            progress(f"assigning records to {layer}", 1, len(todo))
    return len(todo)
