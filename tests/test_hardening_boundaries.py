"""Boundary intake hardening (issue 13): every case is a mutation of a real boundary file.

A refused file exits 2 with one line naming the file and the reason, and the
layer already stored stays exactly as it was (same row in ``layers``, same
areas, same WKB bytes). A file that is merely in another CRS or has extra
dimensions must instead be read correctly: same areas as the original.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from realimpact import open_store
from realimpact.cli import app
from realimpact.errors import ValidationError
from realimpact.geo.areas import ingest_boundaries, load_layer, read_boundaries
from realimpact.geo.crs import UK_BNG, UK_LAT, UK_LON
from realimpact.store import areas as store_areas
from tests.conftest import DATA, POLICE_UK

LSOA11 = DATA / "boundaries/manchester_lsoa_2011/england_lsoa_2011.shp"
CITY_LSOA = DATA / "boundaries/london_lsoa_2011/E09000001.geojson"
NORTHUMBERLAND = DATA / "boundaries/northumbria_lsoa_2011/E06000057.geojson"
FIRST = "E01005066"  # id of the shapefile's first feature


@pytest.fixture(scope="module")
def gdf():
    """The real Manchester LSOA11 polygons (British National Grid), read by geopandas."""
    import geopandas as gpd

    return gpd.read_file(LSOA11)


@pytest.fixture(scope="module")
def shp_areas(gdf) -> pd.Series:
    """Independent reference: geopandas' own BNG areas of the shapefile, by code."""
    return pd.Series(gdf.geometry.area.to_numpy(), index=gdf["code"])


@pytest.fixture
def store(tmp_path) -> Path:
    """A store whose 'lsoa' layer holds the good Manchester boundaries."""
    path = tmp_path / "s.duckdb"
    ingest_boundaries(LSOA11, path, layer="lsoa")
    return path


def snapshot(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    st = open_store(path, read_only=True)
    try:
        info = st.sql("SELECT * FROM layers ORDER BY layer")
        return info, store_areas.layer_areas(st, "lsoa")
    finally:
        st.close()


def refused(store: Path, path: Path, *needles: str, extra: tuple[str, ...] = ()) -> str:
    """Ingest ``path`` over the stored layer: exit 2, one line, store untouched."""
    before = snapshot(store)
    res = CliRunner().invoke(
        app, ["ingest", "boundaries", str(path), "--layer", "lsoa", *extra, "--store", str(store)]
    )
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    assert str(path) in lines[0], lines[0]
    for n in needles:
        assert n in lines[0], lines[0]
    after = snapshot(store)
    pd.testing.assert_frame_equal(after[0], before[0])  # incl. created_at: not rewritten
    pd.testing.assert_frame_equal(after[1], before[1])
    assert len(after[1]) == 282
    return lines[0]


def set_geom(gdf, i: int, geom) -> object:
    g = gdf.copy()
    g.loc[i, "geometry"] = geom
    return g


def first_ring(gdf) -> np.ndarray:
    return shapely.get_coordinates(gdf.geometry.iloc[0].exterior)


# -- CRS: a label is a claim the coordinates must agree with --------------------------------


def test_metres_labelled_wgs84_are_refused(store, tmp_path, gdf):
    f = tmp_path / "metres_labelled_wgs84.gpkg"
    gdf.set_crs(4326, allow_override=True).to_file(f, driver="GPKG")
    line = refused(store, f, "coordinates are not degrees: x up to 390350", "metres?")
    assert "EPSG:4326" in line


def test_geojson_without_crs_member_holding_metres_is_refused(store, tmp_path, gdf):
    """RFC 7946: a GeoJSON is WGS84; BNG values in one must not become a 0 km² layer."""
    labelled = tmp_path / "labelled.geojson"
    gdf.set_crs(4326, allow_override=True).to_file(labelled, driver="GeoJSON")
    doc = json.loads(labelled.read_text())
    doc.pop("crs", None)
    f = tmp_path / "no_crs_member.geojson"
    f.write_text(json.dumps(doc))
    assert '"crs"' not in f.read_text()
    refused(store, f, "coordinates are not degrees", "RFC 7946")


def test_shapefile_without_prj_is_refused_with_a_hint(store, tmp_path, gdf):
    f = tmp_path / "noprj.shp"
    gdf.to_file(f)
    f.with_suffix(".prj").unlink()
    refused(store, f, "no coordinate reference system", "British National Grid metres")


def test_swapped_lat_lon_is_refused_as_axis_order(store, tmp_path, gdf):
    swapped = gdf.to_crs(4326)
    swapped.geometry = shapely.transform(swapped.geometry.values, lambda xy: xy[:, ::-1])
    f = tmp_path / "latlon.geojson"
    swapped.to_file(f, driver="GeoJSON")
    refused(store, f, "latitude, longitude", "axis order")


def test_bng_values_labelled_web_mercator_are_refused_as_outside_the_uk(store, tmp_path, gdf):
    """Read as EPSG:3857 the Manchester metres land in the Gulf of Guinea."""
    f = tmp_path / "mislabelled_3857.gpkg"
    gdf.set_crs(3857, allow_override=True).to_file(f, driver="GPKG")
    refused(store, f, "the areas lie outside the UK", "EPSG:3857")


def test_degrees_labelled_bng_are_refused(store, tmp_path, gdf):
    f = tmp_path / "degrees_as_bng.gpkg"
    gdf.to_crs(4326).set_crs(27700, allow_override=True).to_file(f, driver="GPKG")
    refused(store, f, "look like degrees", "EPSG:27700")


def test_one_feature_outside_the_uk_is_named(store, tmp_path, gdf):
    moved = shapely.transform(gdf.geometry.iloc[5], lambda xy: xy + np.array([0.0, 2e6]))
    f = tmp_path / "one_far.gpkg"
    set_geom(gdf, 5, moved).to_file(f, driver="GPKG")
    refused(store, f, f"feature {gdf['code'].iloc[5]!r} lies outside the UK")


@pytest.mark.parametrize("epsg, rtol", [(3857, 1e-6), (4326, 1e-4), (27700, 1e-12)])
def test_other_crs_and_formats_read_correctly(tmp_path, gdf, shp_areas, epsg, rtol):
    """A GeoPackage in Web Mercator, a GeoJSON with an old-style BNG crs member: same areas."""
    ext = "gpkg" if epsg == 3857 else "geojson"
    f = tmp_path / f"in_{epsg}.{ext}"
    gdf.to_crs(epsg).to_file(f, driver="GPKG" if ext == "gpkg" else "GeoJSON")
    if epsg == 27700:
        assert "27700" in json.loads(f.read_text())["crs"]["properties"]["name"]
    df = read_boundaries(f).set_index("area_id")
    np.testing.assert_allclose(
        shapely.area(df.loc[shp_areas.index, "geometry"].to_numpy()), shp_areas, rtol=rtol
    )


def test_crs_can_be_given_for_a_file_without_one(tmp_path, gdf, shp_areas):
    f = tmp_path / "noprj.shp"
    gdf.to_file(f)
    f.with_suffix(".prj").unlink()
    df = read_boundaries(f, crs="EPSG:27700").set_index("area_id")
    np.testing.assert_allclose(
        shapely.area(df.loc[shp_areas.index, "geometry"].to_numpy()), shp_areas, rtol=1e-12
    )


def test_cli_crs_option_reads_a_file_without_one_and_prints_repair_notes(store, tmp_path, gdf):
    """--crs fixes a missing CRS from the command line; a make_valid repair is printed."""
    x0, y0, x1, y1 = gdf.geometry.iloc[0].bounds
    bowtie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)])
    f = tmp_path / "noprj.shp"
    set_geom(gdf, 0, bowtie).to_file(f)
    f.with_suffix(".prj").unlink()
    refused(store, f, "no coordinate reference system", "--crs")
    res = CliRunner().invoke(
        app, ["ingest", "boundaries", str(f), "--layer", "lsoa", "--store", str(store),
              "--crs", "EPSG:27700"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert f"{len(gdf):,} areas" in res.output
    assert "note:" in res.output and FIRST in res.output


def test_uk_bng_box_is_the_lon_lat_box_projected():
    """UK_BNG is written out; it must stay the UK_LON x UK_LAT box in BNG, rounded outward."""
    from pyproj import Transformer

    tr = Transformer.from_crs(4326, 27700, always_xy=True)
    b = tr.transform_bounds(UK_LON[0], UK_LAT[0], UK_LON[1], UK_LAT[1], densify_pts=100)
    want = (
        np.floor(b[0] / 1000) * 1000, np.floor(b[1] / 1000) * 1000,
        np.ceil(b[2] / 1000) * 1000, np.ceil(b[3] / 1000) * 1000,
    )  # fmt: skip
    assert want == UK_BNG


# -- geometry of single features ----------------------------------------------------------


def _collinear(gdf):
    (x0, y0), (x1, y1) = first_ring(gdf)[:2]
    return shapely.Polygon([(x0, y0), (x1, y1), (2 * x1 - x0, 2 * y1 - y0), (x0, y0)])


def _repeated(gdf):
    x, y = first_ring(gdf)[0]
    return shapely.Polygon([(x, y)] * 4)


def _with_vertex(ring: np.ndarray, value: float, axis: int) -> shapely.Polygon:
    c = ring.copy()
    c[3, axis] = value
    with np.errstate(invalid="ignore"):  # GEOS warns on building it; that is the point
        return shapely.Polygon(c)


def _nan(gdf):
    return _with_vertex(first_ring(gdf), np.nan, 0)


def _inf(gdf):
    return _with_vertex(first_ring(gdf), np.inf, 1)


@pytest.mark.parametrize(
    "make, needle",
    [
        (_collinear, "has zero area"),
        (_repeated, "has zero area"),
        (_nan, "NaN or infinite vertex"),
        (_inf, "NaN or infinite vertex"),
        (lambda g: shapely.Polygon(), "empty geometry"),
        (lambda g: None, "has no geometry (null)"),
        (lambda g: shapely.GeometryCollection([g.geometry.iloc[0]]), "is a GeometryCollection"),
        (lambda g: g.geometry.iloc[0].exterior, "is a LineString"),
        (lambda g: g.geometry.iloc[0].centroid, "is a Point"),
    ],
    ids=["collinear", "repeated", "nan", "inf", "empty", "null", "collection", "line", "point"],
)
def test_bad_feature_is_refused_by_its_id(store, tmp_path, gdf, make, needle):
    f = tmp_path / "bad.gpkg"
    set_geom(gdf, 0, make(gdf)).to_file(f, driver="GPKG")
    refused(store, f, f"feature {FIRST!r}", needle)


def test_curved_geometry_is_refused_with_a_hint(store, tmp_path, gdf):
    """A GeoPackage may hold a CurvePolygon, which GEOS cannot read: named, not a crash."""
    import struct

    import pyarrow as pa
    import pyogrio

    ring = first_ring(gdf)
    line = struct.pack("<BII", 1, 2, len(ring)) + ring.astype("<f8").tobytes()
    curve = struct.pack("<BII", 1, 10, 1) + line  # WKB CurvePolygon of one linear ring
    wkb = [curve, *shapely.to_wkb(gdf.geometry.values[1:])]
    f = tmp_path / "curve.gpkg"
    pyogrio.write_arrow(
        pa.table({"code": gdf["code"].tolist(), "geometry": pa.array(wkb, pa.binary())}),
        f, driver="GPKG", geometry_name="geometry", geometry_type="Unknown", crs="EPSG:27700",
    )  # fmt: skip
    refused(store, f, f"feature {FIRST!r}: geometry cannot be read", "linearise curves")


def test_nan_vertex_in_geojson_cli_prints_one_line_and_no_warnings(store, tmp_path):
    """The attack's file: a NaN literal in real GeoJSON. Subprocess, so warnings would show."""
    doc = json.loads(CITY_LSOA.read_text())
    doc["features"][2]["geometry"]["coordinates"][0][3] = [float("nan"), 51.52]
    f = tmp_path / "nan.geojson"
    f.write_text(json.dumps(doc))
    assert "NaN" in f.read_text()
    before = snapshot(store)
    p = subprocess.run(
        [sys.executable, "-m", "realimpact", "ingest", "boundaries", str(f), "--layer", "lsoa",
         "--store", str(store)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip().splitlines() == [
        f"error: {f}: feature {doc['features'][2]['properties']['LSOA11CD']!r} has a NaN or"
        " infinite vertex"
    ]
    pd.testing.assert_frame_equal(snapshot(store)[1], before[1])


def test_three_d_geometry_is_read_as_its_footprint(tmp_path, gdf, shp_areas):
    z = gdf.copy()
    z.geometry = shapely.force_3d(gdf.geometry.values, 120.0)
    f = tmp_path / "z.gpkg"
    z.to_file(f, driver="GPKG")
    st = open_store(tmp_path / "z.duckdb")
    ingest_boundaries(f, st, layer="z")
    layer = load_layer(st, "z").set_index("area_id")
    assert not shapely.has_z(layer["geometry"].to_numpy()).any()
    np.testing.assert_allclose(layer.loc[shp_areas.index, "area_m2"], shp_areas, rtol=1e-12)


def test_self_intersection_is_repaired_with_a_note_and_keeps_its_area(tmp_path, gdf, shp_areas):
    """A bow-tie (two triangles) has a positive area after make_valid: accepted, and said."""
    x0, y0, x1, y1 = gdf.geometry.iloc[0].bounds
    bowtie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)])
    assert not bowtie.is_valid
    f = tmp_path / "bowtie.gpkg"
    set_geom(gdf, 0, bowtie).to_file(f, driver="GPKG")
    st = open_store(tmp_path / "b.duckdb")
    info = ingest_boundaries(f, st, layer="b")
    assert len(info["notes"]) == 1 and f"e.g. {FIRST!r}" in info["notes"][0]
    g = load_layer(st, "b").set_index("area_id").loc[FIRST, "geometry"]
    assert g.geom_type in ("Polygon", "MultiPolygon") and g.is_valid
    assert g.area == pytest.approx((x1 - x0) * (y1 - y0) / 2)  # two triangles of a quarter each


def test_real_invalid_ons_polygon_still_loads_as_a_multipolygon(tmp_path):
    """E01027444 (nested shells) is repaired, stored polygonal, and named in the note."""
    st = open_store(tmp_path / "n.duckdb")
    info = ingest_boundaries(NORTHUMBERLAND, st, layer="n")
    assert info["n_areas"] == 197
    assert "E01027444" in info["notes"][0]
    g = load_layer(st, "n").set_index("area_id").loc["E01027444", "geometry"]
    assert g.geom_type == "MultiPolygon" and g.is_valid and g.area > 0


# -- ids ----------------------------------------------------------------------------------


def test_feature_without_id_value_is_refused_by_position(store, tmp_path, gdf):
    g = gdf.copy()
    g.loc[7, "code"] = None
    f = tmp_path / "noid.gpkg"
    g.to_file(f, driver="GPKG")
    refused(store, f, "empty area ids", "feature #8 of 282")


def test_duplicate_ids_are_refused(store, tmp_path, gdf):
    g = gdf.copy()
    g.loc[1, "code"] = g.loc[0, "code"]
    f = tmp_path / "dup.gpkg"
    g.to_file(f, driver="GPKG")
    refused(store, f, "duplicate area ids", repr(FIRST))


@pytest.mark.parametrize("dtype", ["int64", "float64"])
def test_numeric_id_field_gives_plain_integer_ids(tmp_path, gdf, dtype):
    """A shapefile number field arrives as a float: 17.0 must be stored as '17'."""
    g = gdf.copy()
    g["num"] = np.arange(1, len(g) + 1).astype(dtype)
    f = tmp_path / "num.shp"
    g.to_file(f)
    df = read_boundaries(f, id_field="num")
    assert df["area_id"].tolist() == [str(i) for i in range(1, len(g) + 1)]


# -- whole files that are not boundaries --------------------------------------------------


def test_files_that_are_not_boundary_files_are_refused(store, tmp_path):
    empty = tmp_path / "empty.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}')
    refused(store, empty, "holds no features")
    csv = tmp_path / "summary.geojson"
    csv.write_bytes((POLICE_UK / "street_monthly_summary.csv").read_bytes())
    refused(store, csv, "not a readable boundary file")
    trunc = tmp_path / "truncated.geojson"
    trunc.write_bytes(CITY_LSOA.read_bytes()[:5000])
    refused(store, trunc, "not a readable boundary file")


# -- layers stored by older versions, and the store's own guard ---------------------------


@pytest.fixture(scope="module")
def city_store(tmp_path_factory) -> Path:
    """City of London street crimes with the City's 6 LSOAs loaded as 'lsoa'."""
    from realimpact.sources.police_uk import ingest_police_uk

    path = tmp_path_factory.mktemp("city") / "city.duckdb"
    files = sorted((POLICE_UK / "city_of_london/street").glob("2019-*.csv"))
    ingest_police_uk(files, path)
    ingest_boundaries(CITY_LSOA, path, layer="lsoa")
    return path


def _gi(path: Path):
    return CliRunner().invoke(app, ["hotspots", "gi", "--layer", "lsoa", "--store", str(path)])


def test_hotspots_gi_runs_on_the_good_city_layer(city_store):
    assert _gi(city_store).exit_code == 0


@pytest.mark.parametrize(
    "bad, needle",
    [
        (
            lambda g: _with_vertex(shapely.get_coordinates(g.envelope), np.nan, 0),
            "a NaN or infinite vertex",
        ),
        (lambda g: shapely.multilinestrings([g.exterior]), "no polygon geometry"),
    ],
    ids=["nan", "degenerate-as-lines"],
)
def test_hotspots_gi_on_an_old_bad_layer_is_an_input_error(city_store, tmp_path, bad, needle):
    """What an older version could store (NaN vertex; zero-area outline as lines): exit 2."""
    path = tmp_path / "old.duckdb"
    path.write_bytes(city_store.read_bytes())
    with open_store(path) as st:
        area_id, wkb = st.con.execute(
            "SELECT area_id, geom FROM areas WHERE layer = 'lsoa' ORDER BY area_id LIMIT 1"
        ).fetchone()
        geom = bad(shapely.from_wkb(bytes(wkb)))
        st.con.execute(
            "UPDATE areas SET geom = ? WHERE layer = 'lsoa' AND area_id = ?",
            [shapely.to_wkb(geom), area_id],
        )
    res = _gi(path)
    assert res.exit_code == 2, (res.output, res.exception)
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and f"area {area_id!r} has {needle}" in lines[0], lines
    assert "ingest boundaries" in lines[0]


def test_store_refuses_a_layer_with_no_area_and_keeps_the_old_one(store):
    before = snapshot(store)
    bad = before[1].copy()
    bad.loc[0, "area_m2"] = 0.0
    st = open_store(store)
    try:
        with pytest.raises(ValueError, match="not positive"):
            store_areas.replace_layer(st, {"layer": "lsoa", "kind": "boundaries"}, bad)
    finally:
        st.close()
    pd.testing.assert_frame_equal(snapshot(store)[1], before[1])


def test_read_boundaries_raises_validation_error_not_geos(tmp_path, gdf):
    """The library contract behind the CLI's exit 2: an InputError subclass, naming the feature."""
    f = tmp_path / "nan.gpkg"
    set_geom(gdf, 0, _nan(gdf)).to_file(f, driver="GPKG")
    with pytest.raises(ValidationError, match=f"feature {FIRST!r}"):
        read_boundaries(f)
