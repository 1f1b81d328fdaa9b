"""Kernel density: against statsmodels, mass, the bandwidth rule, exports and maps."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from realimpact.errors import InputError
from realimpact.hotspots.export import write_density
from realimpact.hotspots.kde import auto_bandwidth, kernel_density
from realimpact.hotspots.maps import density_map


def _points(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = 335_000 + rng.normal(0, 400, n)
    y = 390_000 + rng.normal(0, 250, n)
    return x, y


@pytest.mark.filterwarnings("ignore::FutureWarning")  # statsmodels' own RNG notice
def test_gaussian_density_matches_statsmodels_kde():
    from statsmodels.nonparametric.kernel_density import KDEMultivariate

    x, y = _points(120)
    h = 150.0
    k = kernel_density(x, y, cell=100, bandwidth=h, kernel="gaussian")
    cx, cy = k.cell_centres()
    sm = KDEMultivariate(np.column_stack([x, y]), var_type="cc", bw=[h, h])
    pick = np.random.default_rng(1).choice(cx.size, 400, replace=False)
    expected = sm.pdf(np.column_stack([cx.ravel()[pick], cy.ravel()[pick]])) * len(x) * 1e6
    got = k.density.ravel()[pick]
    # 5-sigma truncation: each point loses at most exp(-12.5) of its peak value
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * expected.max())


def test_quartic_single_point_peak_and_mass():
    r = 500.0
    k = kernel_density(np.array([400_025.0]), np.array([300_025.0]), cell=50, bandwidth=r)
    # the point sits on a cell centre: peak = 3 / (pi r^2) per m^2
    assert k.density.max() == pytest.approx(3 / (math.pi * r * r) * 1e6, rel=1e-12)
    # integrates to the point's weight (one point), up to grid discretisation
    assert k.density.sum() * (k.cell**2) / 1e6 == pytest.approx(1.0, rel=2e-3)


def test_weights_scale_density_and_are_reported():
    x, y = _points(200)
    plain = kernel_density(x, y, cell=100, bandwidth=300)
    heavy = kernel_density(x, y, np.full(len(x), 5.0), cell=100, bandwidth=300)
    np.testing.assert_allclose(heavy.density, 5 * plain.density, rtol=1e-12)
    assert heavy.weighted and heavy.total_weight == pytest.approx(1000.0)
    # harm weights move the surface: weight only the eastern half
    w = np.where(x > np.median(x), 10.0, 1.0)
    tilted = kernel_density(x, y, w, cell=100, bandwidth=300)
    cx, _ = tilted.cell_centres()
    assert cx.ravel()[np.argmax(tilted.density)] > np.median(x)


def test_auto_bandwidth_follows_the_documented_rule():
    x, y = _points(500, seed=3)
    # ArcGIS Pro: 0.9 * min(SD, sqrt(1/ln 2) * Dm) * n^-0.2, computed here independently
    mx, my = x.mean(), y.mean()
    d = np.hypot(x - mx, y - my)
    sd = math.sqrt(np.mean(d**2))
    dm = float(np.median(d))
    expected = 0.9 * min(sd, math.sqrt(1 / math.log(2)) * dm) * 500**-0.2
    assert auto_bandwidth(x, y) == pytest.approx(expected, rel=2e-3)  # median of even n
    k = kernel_density(x, y, cell=100)
    assert k.bandwidth == pytest.approx(auto_bandwidth(x, y))
    s = k.summary()
    assert s["bandwidth_rule"].startswith("ArcGIS") and s["cell_m"] == 100


def test_bad_input_is_clear():
    with pytest.raises(InputError, match="no points"):
        kernel_density(np.array([]), np.array([]))
    with pytest.raises(InputError, match="kernel"):
        kernel_density(*_points(5), kernel="box")
    with pytest.raises(InputError, match="cell"):
        kernel_density(*_points(5), cell=0)
    with pytest.raises(InputError, match="share one location"):
        kernel_density(np.full(3, 1e5), np.full(3, 1e5))
    with pytest.raises(InputError, match="all point weights are zero"):
        kernel_density(*_points(5), np.zeros(5))
    with pytest.raises(InputError, match="limit"):
        kernel_density(*_points(5), cell=0.01, bandwidth=5000)


def test_exports_geotiff_ascii_geojson_and_png(tmp_path):
    x, y = _points(150)
    k = kernel_density(x, y, cell=100, bandwidth=300)
    # GeoTIFF: georeferenced in EPSG:27700, values intact
    import rasterio

    info = write_density(k, tmp_path / "d.tif")
    with rasterio.open(info["path"]) as src:
        assert src.crs.to_epsg() == 27700
        assert src.transform.c == k.x0 and src.transform.f == k.y1 and src.res == (100, 100)
        np.testing.assert_allclose(src.read(1), k.density.astype("float32"))
    # ESRI ASCII grid + .prj
    info = write_density(k, tmp_path / "d.asc")
    head = (tmp_path / "d.asc").read_text().splitlines()[:6]
    assert head[0].split()[1] == str(k.density.shape[1]) and "cellsize 100" in head[4]
    assert "British_National_Grid" in (tmp_path / "d.prj").read_text()
    # GeoJSON of non-empty cells with the CRS stated
    info = write_density(k, tmp_path / "d.geojson")
    gj = json.loads((tmp_path / "d.geojson").read_text())
    assert "27700" in json.dumps(gj["crs"])
    assert len(gj["features"]) == int((k.density > 0).sum()) == info["features"]
    # PNG map
    png = density_map(k, tmp_path / "d.png")
    assert (tmp_path / "d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png["format"] == "png"
    with pytest.raises(InputError, match="can be written as"):
        write_density(k, tmp_path / "d.shp")


@pytest.mark.parametrize("kernel", ["quartic", "gaussian"])
def test_partner_surface_hides_cells_near_fewer_than_five_incidents(kernel):
    """Each cell is kept iff >= 5 points lie within one bandwidth: checked by brute force."""
    from realimpact.hotspots.kde import suppress_sparse_cells

    rng = np.random.default_rng(7)
    cluster = rng.normal([1000.0, 1000.0], 80.0, size=(40, 2))
    pair = np.array([[4000.0, 4000.0], [4050.0, 4020.0]])  # two incidents: must vanish
    pts = np.vstack([cluster, pair])
    kd = kernel_density(pts[:, 0], pts[:, 1], cell=25.0, bandwidth=300.0, kernel=kernel)
    safe = suppress_sparse_cells(kd, pts[:, 0], pts[:, 1])
    cx, cy = kd.cell_centres()
    d = np.hypot(cx[..., None] - pts[:, 0], cy[..., None] - pts[:, 1])
    enough = (d <= 300.0).sum(axis=-1) >= 5
    kept = enough & (kd.density > 0)
    np.testing.assert_array_equal(safe.density[kept], kd.density[kept])
    assert (safe.density[~enough] == 0).all()
    near_pair = np.hypot(cx - 4025.0, cy - 4010.0) < 300.0
    assert kd.density[near_pair].max() > 0 and safe.density[near_pair].max() == 0
    assert safe.density.max() == kd.density.max()  # the cluster's peak survives
    assert "partner view" in safe.notes[-1] and kd.notes == safe.notes[:-1]
