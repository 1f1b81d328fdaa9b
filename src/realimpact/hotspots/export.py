"""Write hot-spot results in formats QGIS and ArcGIS open as they are.

* areas (Gi*, emerging): GeoJSON, GeoPackage (via pyogrio/GDAL, CRS
  EPSG:27700 written into the file; GeoJSON carries the legacy ``crs`` member,
  which QGIS and ArcGIS honour) or CSV (attributes plus a ``wkt`` geometry
  column, which QGIS's delimited-text loader reads; give it EPSG:27700);
* density grids (KDE): GeoTIFF (rasterio, when installed), ESRI ASCII grid
  (``.asc`` with a ``.prj`` beside it), or cell polygons as GeoJSON/GeoPackage.

Missing numbers (areas without neighbours) are written as null/empty, never
as the text ``NaN``: a script reading the file must not mistake them for data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from realimpact.errors import InputError

__all__ = ["AREA_FORMATS", "DENSITY_FORMATS", "write_areas", "write_density"]

CRS = "EPSG:27700"
AREA_FORMATS = (".geojson", ".json", ".gpkg", ".csv")
DENSITY_FORMATS = (".tif", ".tiff", ".asc", ".geojson", ".json", ".gpkg")


def _suffix(path: Path, allowed: tuple[str, ...], what: str) -> str:
    suf = path.suffix.lower()
    if suf not in allowed:
        raise InputError(f"--out {path}: {what} can be written as {', '.join(allowed)}")
    if path.is_dir():
        raise InputError(f"--out {path}: is a folder, expected a file name")
    if not path.resolve().parent.is_dir():
        raise InputError(f"--out {path}: folder {path.parent} does not exist")
    return suf


def _prj_wkt() -> str:
    from pyproj import CRS as _CRS

    return _CRS.from_user_input(CRS).to_wkt("WKT1_ESRI")


def _write_vector(path: Path, frame: pd.DataFrame, layer: str) -> None:
    import pyogrio.raw
    import shapely

    geoms = frame["geometry"].to_numpy()
    attrs = frame.drop(columns=["geometry"])
    fields = [str(c) for c in attrs.columns]
    data = []
    for c in attrs.columns:
        col = attrs[c]
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_integer_dtype(col):
            data.append(col.to_numpy())
        elif pd.api.types.is_float_dtype(col):
            data.append(col.to_numpy(dtype=float))  # NaN -> null (nan_as_null)
        else:
            data.append(np.array([None if v is None or v is pd.NA else str(v) for v in col],
                                 dtype=object))  # fmt: skip
    if path.exists():
        path.unlink()  # GDAL would otherwise append or refuse
    driver = "GPKG" if path.suffix.lower() == ".gpkg" else "GeoJSON"
    present = geoms[~shapely.is_missing(geoms)]
    kinds = set(shapely.get_type_id(present).tolist())
    if kinds <= {3, 6}:  # (multi)polygons: LSOAs mix both; one type per layer suits ArcGIS
        gtype, promote = "MultiPolygon", True
    else:
        gtype, promote = "Unknown", False
    pyogrio.raw.write(
        str(path), shapely.to_wkb(geoms), data, fields, layer=layer, driver=driver,
        geometry_type=gtype, crs=CRS, nan_as_null=True, promote_to_multi=promote,
    )  # fmt: skip


def write_areas(
    frame: pd.DataFrame, path: str | Path, *, layer: str = "hotspots"
) -> dict[str, Any]:
    """Write one row per area (``geometry`` column of shapely polygons, BNG)."""
    path = Path(path)
    suf = _suffix(path, AREA_FORMATS, "area results")
    if suf == ".csv":
        import shapely

        out = frame.drop(columns=["geometry"]).copy()
        if "geometry" in frame:
            g = frame["geometry"].to_numpy()
            out["wkt"] = [None if x is None else shapely.to_wkt(x, rounding_precision=2)
                          for x in g]  # fmt: skip
        from realimpact.csv_safe import write_csv

        write_csv(out, path, na_rep="")  # names from boundary files cannot run as formulas
        return {"path": str(path), "format": "csv", "features": len(out), "crs": CRS}
    if "geometry" not in frame or frame["geometry"].isna().any():
        raise InputError(
            f"--out {path}: some areas have no geometry (load boundaries for this layer) - "
            "write .csv instead"
        )
    _write_vector(path, frame, layer)
    return {
        "path": str(path),
        "format": "gpkg" if suf == ".gpkg" else "geojson",
        "features": len(frame),
        "crs": CRS,
    }


def write_density(kde: Any, path: str | Path) -> dict[str, Any]:
    """Write a :class:`~realimpact.hotspots.kde.KernelDensity` grid."""
    path = Path(path)
    suf = _suffix(path, DENSITY_FORMATS, "a density grid")
    nrows, ncols = kde.density.shape
    info = {"path": str(path), "crs": CRS, "cell_m": kde.cell, "rows": nrows, "columns": ncols}
    if suf in (".tif", ".tiff"):
        try:
            import rasterio
        except ImportError:  # pragma: no cover - depends on the install
            raise InputError(
                f"--out {path}: GeoTIFF needs the optional package rasterio "
                "(pip install 'realimpact[raster]'); or write .asc or .geojson"
            ) from None
        with rasterio.open(
            path, "w", driver="GTiff", height=nrows, width=ncols, count=1,
            dtype="float32", crs=CRS, transform=rasterio.Affine(kde.cell, 0.0, kde.x0, 0.0, -kde.cell, kde.y1),
            compress="deflate",
        ) as dst:  # fmt: skip
            dst.write(kde.density.astype("float32"), 1)
            dst.update_tags(
                units="per km2", kernel=kde.kernel, bandwidth_m=f"{kde.bandwidth:.3f}",
                bandwidth_rule=kde.bandwidth_rule,
            )  # fmt: skip
        return {**info, "format": "geotiff"}
    if suf == ".asc":
        x0, y0, _, _ = kde.bounds
        header = (
            f"ncols {ncols}\nnrows {nrows}\nxllcorner {x0:.3f}\nyllcorner {y0:.3f}\n"
            f"cellsize {kde.cell:g}\nNODATA_value -9999\n"
        )
        with open(path, "w") as f:
            f.write(header)
            np.savetxt(f, kde.density, fmt="%.6g")
        path.with_suffix(".prj").write_text(_prj_wkt())
        return {**info, "format": "esri-ascii", "prj": str(path.with_suffix(".prj"))}
    import shapely

    xs, ys = kde.cell_centres()
    keep = kde.density > 0
    half = kde.cell / 2
    cx, cy = xs[keep], ys[keep]
    frame = pd.DataFrame(
        {
            "density": kde.density[keep],
            "geometry": shapely.box(cx - half, cy - half, cx + half, cy + half),
        }
    )
    _write_vector(path, frame, "density")
    return {**info, "format": "gpkg" if suf == ".gpkg" else "geojson", "features": len(frame)}
