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

from realimpact._progress import ProgressFn
from realimpact.errors import InputError, RejectedFileError, ValidationError
from realimpact.geo.crs import BNG
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


def read_boundaries(
    path: str | os.PathLike, id_field: str | None = None, name_field: str | None = None
) -> pd.DataFrame:
    """Read polygons (shapefile, GeoJSON, GeoPackage) as BNG shapely geometries.

    Returns columns area_id, name, geometry. Raises InputError naming the file
    and the problem (no CRS, unknown field, duplicate ids, non-polygons).
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
    fields = [f for f in table.column_names if f != meta["geometry_name"]]
    geom_col = meta["geometry_name"] or "wkb_geometry"
    if geom_col not in table.column_names:
        raise RejectedFileError("has no geometry column", source=label)
    if table.num_rows == 0:
        raise RejectedFileError("holds no features", source=label)

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
    ids = pd.Series(table[idf].to_pylist(), dtype=object)
    if ids.isna().any() or (ids.astype(str).str.strip() == "").any():
        raise ValidationError(f"field {idf!r} has empty area ids", source=label)
    ids = ids.astype(str).str.strip()
    dup = ids[ids.duplicated()]
    if len(dup):
        raise ValidationError(
            f"field {idf!r} has duplicate area ids (e.g. {dup.iloc[0]!r}); pick a unique --id-field",
            source=label,
        )
    names = table[namef].to_pylist() if namef else [None] * len(ids)

    geoms = shapely.from_wkb(np.asarray(table[geom_col].to_pylist(), dtype=object))
    if pd.isna(geoms).any():
        raise ValidationError("some features have no geometry", source=label)
    kinds = set(shapely.get_type_id(geoms).tolist())
    if not kinds <= {3, 6}:  # Polygon, MultiPolygon
        raise ValidationError("areas must be polygons or multipolygons", source=label)

    crs = meta.get("crs")
    if not crs:
        raise ValidationError("has no coordinate reference system (.prj missing?)", source=label)
    src = CRS.from_user_input(crs)
    if not src.equals(CRS.from_user_input(BNG)):
        tr = Transformer.from_crs(src, BNG, always_xy=True)
        geoms = shapely.transform(
            geoms, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))
        )
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        geoms[invalid] = shapely.make_valid(geoms[invalid])
    df = pd.DataFrame({"area_id": ids.to_numpy(), "name": names, "geometry": geoms})
    df.attrs.update(id_field=idf, name_field=namef)
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
) -> dict:
    """Load a polygon file as area layer ``layer`` (replacing a layer of that name)."""
    _check_layer_name(layer)
    df = read_boundaries(path, id_field, name_field)
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
    df["geometry"] = shapely.from_wkb(df.pop("geom").to_numpy())
    return df[["area_id", "name", "geometry", "area_m2"]]


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
        geoms = shapely.from_wkb(areas["geom"].to_numpy())
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
