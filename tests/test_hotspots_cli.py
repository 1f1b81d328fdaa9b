"""`realimpact hotspots gi|kde|emerging` through the store, on the Merseyside data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from realimpact.cli import app
from realimpact.hotspots.emerging import CATEGORIES

runner = CliRunner()


@pytest.fixture(scope="module")
def store_file(tmp_path_factory, shared: Path) -> Path:
    from realimpact.geo.areas import build_grid
    from realimpact.sources.police_uk import ingest_police_uk
    from realimpact.store import open_store

    path = tmp_path_factory.mktemp("hot") / "mers.duckdb"
    with open_store(path) as st:
        ingest_police_uk([shared / "data" / "police_uk" / "merseyside" / "street"], st)
        build_grid(st, cell=500, layer="grid500", force="Merseyside Police")
    return path


def _run(store: Path, *args: str):
    return runner.invoke(app, [*args, "--store", str(store)])


def _json(res) -> dict:
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def _csv_counts(shared: Path, types: list[str]) -> pd.DataFrame:
    """Crime counts per crime type and 500 m cell id, computed from the CSVs (not our ingest)."""
    from pyproj import Transformer

    files = sorted((shared / "data" / "police_uk" / "merseyside" / "street").glob("*.csv"))
    df = pd.concat([pd.read_csv(f, usecols=["Longitude", "Latitude", "Crime type"]) for f in files])
    df = df[df["Crime type"].isin(types)].dropna(subset=["Longitude", "Latitude"])
    x, y = Transformer.from_crs(4326, 27700, always_xy=True).transform(
        df["Longitude"].to_numpy(), df["Latitude"].to_numpy()
    )
    ids = [f"E{int(a)}N{int(b)}" for a, b in zip(x // 500 * 500, y // 500 * 500, strict=True)]
    return pd.DataFrame({"area_id": ids, "crime_type": df["Crime type"].to_numpy()})


def test_gi_cli_geojson_matches_esda_on_the_stored_grid(store_file, tmp_path, shared):
    import warnings

    import esda
    import libpysal

    out = tmp_path / "gi.geojson"
    res = _json(_run(store_file, "hotspots", "gi", "--layer", "grid500", "--crime-type", "Drugs",
                     "--permutations", "99", "--seed", "3", "--inference", "permutation",
                     "--out", str(out), "--json"))  # fmt: skip
    assert res["seed"] == 3 and res["permutations"] == 99 and res["correction"] == "fdr_bh"
    assert res["inference"] == "permutation"
    gj = json.loads(out.read_text())
    assert "EPSG::27700" in json.dumps(gj["crs"])
    props = pd.DataFrame([f["properties"] for f in gj["features"]])
    assert {"area_id", "value", "gi_z", "p_sim", "p_adjusted", "hotspot_class"} <= set(props)
    assert props[["gi_z", "p_sim", "p_adjusted"]].notna().all().all()
    # values are the Drugs counts per cell, counted independently from the CSVs
    expected = _csv_counts(shared, ["Drugs"])["area_id"].value_counts()
    got = props.set_index("area_id")["value"]
    assert got.sum() == 3711
    pd.testing.assert_series_equal(
        got[got > 0].sort_index(), expected.astype(float).sort_index(),
        check_names=False, check_index_type=False,
    )  # fmt: skip
    # z equals esda's Gi* on the same lattice (ids E<x>N<y>, rows south to north)
    xy = props["area_id"].str.extract(r"E(\d+)N(\d+)").astype(int)
    ncols, nrows = xy[0].nunique(), xy[1].nunique()
    order = np.lexsort((xy[0].to_numpy(), xy[1].to_numpy()))
    w = libpysal.weights.lat2W(nrows, ncols, rook=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        e = esda.G_Local(props["value"].to_numpy()[order], w, transform="B", star=True,
                         permutations=0)  # fmt: skip
    np.testing.assert_allclose(props["gi_z"].to_numpy()[order], e.Zs, atol=1e-6, rtol=0)


def test_gi_cli_harm_weights_enter_the_value(store_file, tmp_path, shared):
    from realimpact.harm.weights import get_weights

    types = ["Drugs", "Possession of weapons", "Robbery"]
    args = ["hotspots", "gi", "--layer", "grid500", "--permutations", "0", "--json"]
    for t in types:
        args += ["--crime-type", t]
    plain_csv, harm_csv = tmp_path / "plain.csv", tmp_path / "harm.csv"
    plain = _json(_run(store_file, *args, "--out", str(plain_csv)))
    harm = _json(_run(store_file, *args, "--weights", "cchi", "--out", str(harm_csv)))
    assert plain["value"] == "count" and harm["harm_weights"] == "cchi"
    cchi = get_weights("cchi").weights
    p = pd.read_csv(plain_csv).set_index("area_id")
    h = pd.read_csv(harm_csv).set_index("area_id")
    assert h["value"].sum() != p["value"].sum()
    assert not np.allclose(h["gi_z"], p["gi_z"])
    # value per cell = sum over types of count x weight, counted from the CSVs
    c = _csv_counts(shared, types)
    expected = c["crime_type"].map(cchi).groupby(c["area_id"]).sum()
    pd.testing.assert_series_equal(
        h.loc[h["value"] > 0, "value"].sort_index(),
        expected.astype(float).sort_index(),
        check_names=False,
    )
    assert "wkt" in h.columns and h["wkt"].str.startswith("POLYGON").all()


def test_gi_cli_gpkg_and_map(store_file, tmp_path):
    import pyogrio

    res = _json(_run(store_file, "hotspots", "gi", "--layer", "grid500", "--crime-type", "Drugs",
                     "--out", str(tmp_path / "g.gpkg"),
                     "--map", str(tmp_path / "g.png"), "--json"))  # fmt: skip
    assert res["inference"] == "exact"  # counts: the exact null is used by default
    assert res["classes"]["hot-99"] > 0 and res["top_hot"][0]["hotspot_class"] == "hot-99"
    info = pyogrio.read_info(tmp_path / "g.gpkg")
    assert info["crs"] == "EPSG:27700" and info["features"] == res["n_areas"]
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period-from", "2020-01", "--period-to", "2020-02"], "no crimes"),
        (["--contiguity", "hex"], "--contiguity"),
        (["--period-from", "2019-13"], "not a month"),
        (["--weights", "nosuchset"], "--weights"),
        (["--out", "x.shp"], "can be written as"),
    ],
)
def test_gi_cli_bad_input_exits_2_with_one_line(store_file, args, message):
    res = _run(store_file, "hotspots", "gi", "--layer", "grid500", "--permutations", "0", *args)
    assert res.exit_code == 2
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_gi_cli_lsoa_without_boundaries_is_explained(store_file):
    res = _run(store_file, "hotspots", "gi", "--layer", "lsoa", "--permutations", "0")
    assert res.exit_code == 2 and "boundaries" in res.stderr


def test_kde_cli_reports_bandwidth_and_cell(store_file, tmp_path):
    res = _json(_run(store_file, "hotspots", "kde", "--crime-type", "Drugs", "--cell", "200",
                     "--out", str(tmp_path / "k.asc"), "--map", str(tmp_path / "k.png"),
                     "--json"))  # fmt: skip
    assert res["cell_m"] == 200 and res["bandwidth_m"] > 0 and res["n_points"] == 3711
    assert res["bandwidth_rule"].startswith("ArcGIS")
    assert (tmp_path / "k.prj").exists() and (tmp_path / "k.png").exists()
    part = _json(_run(store_file, "hotspots", "kde", "--crime-type", "Drugs", "--cell", "200",
                      "--bandwidth", "150", "--audience", "partner",
                      "--out", str(tmp_path / "p.asc"), "--json"))  # fmt: skip
    assert part["audience"] == "partner" and "partner view" in part["notes"][-1]
    # drawn from 200 m cells (the --cell, above the 100 m minimum) with a bandwidth raised to 200 m
    assert part["support_cell_m"] == 200 and part["bandwidth_m"] == 200
    assert part["disclosure"]["withheld"]["primary"] > 0  # many 200 m cells hold 1-4 offences
    assert part["n_points"] is None and {"n_points", "total_weight"} <= set(part["suppressed"])
    grid = np.loadtxt(tmp_path / "p.asc", skiprows=6)
    assert grid.max() == pytest.approx(part["max_density_per_km2"], rel=1e-6)
    man = json.loads((tmp_path / "manifest.json").read_text())
    assert man["audience"] == "partner" and man["files"] == ["p.asc"]


def test_emerging_cli_runs_and_rejects_a_month_without_data(store_file, tmp_path):
    res = _json(_run(store_file, "hotspots", "emerging", "--layer", "grid500", "--crime-type",
                     "Drugs", "--out", str(tmp_path / "e.geojson"), "--json"))  # fmt: skip
    assert res["n_periods"] == 5 and res["periods"] == ["2018-10", "2019-02"]
    assert any("at least 10" in n for n in res["notes"])
    gj = json.loads((tmp_path / "e.geojson").read_text())
    assert {f["properties"]["category"] for f in gj["features"]} <= set(CATEGORIES)
    bad = _run(store_file, "hotspots", "emerging", "--layer", "grid500", "--crime-type", "Drugs",
               "--period-from", "2018-09", "--period-to", "2019-02")  # fmt: skip
    assert bad.exit_code == 2 and "period 2018-09: no records" in bad.stderr


def test_hotspot_map_with_values_crops_to_where_crime_is(tmp_path):
    """On a grid most cells are empty: the map zooms to cells with a value or a class."""
    import shapely

    from realimpact.hotspots.maps import hotspot_map

    xs, ys = np.meshgrid(np.arange(20) * 100.0, np.arange(20) * 100.0)
    cells = shapely.box(xs.ravel(), ys.ravel(), xs.ravel() + 100, ys.ravel() + 100)
    values = np.zeros(len(cells))
    values[
        (xs.ravel() >= 500) & (xs.ravel() < 800) & (ys.ravel() >= 1000) & (ys.ravel() < 1200)
    ] = 3
    classes = np.full(len(cells), "not-significant", dtype=object)
    classes[np.argmax(values)] = "hot-95"
    whole = hotspot_map(cells, classes, tmp_path / "a.png")
    cropped = hotspot_map(cells, classes, tmp_path / "b.png", values=values)
    assert whole["extent"][0] <= 0 and whole["extent"][2] >= 2000
    x0, y0, x1, y1 = cropped["extent"]
    assert 400 < x0 < 500 and 800 < x1 < 900 and 900 < y0 < 1000 and 1200 < y1 < 1300
    assert (tmp_path / "b.png").stat().st_size > 0
    # shade=False (partner maps): the same crop, but no trace of any cell's count
    flat = hotspot_map(cells, classes, tmp_path / "c.png", values=values, shade=False)
    np.testing.assert_array_equal(flat["extent"], cropped["extent"])
    other = values.copy()
    other[other > 0] = np.arange(1, int((other > 0).sum()) + 1)  # 1, 2, 3 ... instead of 3s
    hotspot_map(cells, classes, tmp_path / "d.png", values=other, shade=False)
    hotspot_map(cells, classes, tmp_path / "e.png", values=other)
    assert (tmp_path / "c.png").read_bytes() == (tmp_path / "d.png").read_bytes()
    assert (tmp_path / "b.png").read_bytes() != (tmp_path / "e.png").read_bytes()


def test_gi_partner_output_has_classes_but_no_small_counts_or_z(store_file, tmp_path):
    analyst = tmp_path / "a.csv"
    partner = tmp_path / "p.csv"
    base = ["hotspots", "gi", "--layer", "grid500", "--crime-type", "Drugs",
            "--weights", "cchi", "--permutations", "0"]  # fmt: skip
    a = _json(_run(store_file, *base, "--out", str(analyst), "--json"))
    p = _json(_run(store_file, *base, "--out", str(partner), "--audience", "partner", "--json"))
    fa, fp = pd.read_csv(analyst), pd.read_csv(partner)
    assert {"gi_z", "p_sim", "p_norm", "p_adjusted"} <= set(fa.columns)
    assert not {"gi_z", "p_sim", "p_norm", "p_adjusted"} & set(fp.columns)
    assert fp["area_id"].tolist() == fa["area_id"].tolist()
    assert fp["hotspot_class"].tolist() == fa["hotspot_class"].tolist()
    small = (fa["count"] > 0) & (fa["count"] < 5)
    assert small.any() and (~small & (fa["count"] >= 5)).any()
    assert fp["suppressed"].tolist() == small.tolist()
    assert fp.loc[small, "count"].isna().all()
    np.testing.assert_array_equal(fp.loc[~small, "count"], fa.loc[~small, "count"])
    # harm-weighted values are not shared: beside the count they split into per-type counts
    assert (fa.loc[fa["count"] > 0, "value"] > 0).all() and "value" not in fp.columns
    assert "name" not in fp.columns  # grid cells have no names worth sharing
    assert p["audience"] == "partner" and p["value_total"] is None
    assert "value_total" in p["suppressed"]
    assert all("gi_z" not in r and (r["count"] is None) == ("count" in r.get("suppressed", []))
               for r in p["top_hot"])  # fmt: skip
    man = json.loads((tmp_path / "manifest.json").read_text())
    assert man["product"] == "hotspots gi" and man["withheld"]["primary"] == int(small.sum())
    assert a["classes"] == p["classes"]
