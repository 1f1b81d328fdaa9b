"""Spatial weights against libpysal; multiple-testing correction against statsmodels."""

from __future__ import annotations

from pathlib import Path

import libpysal
import numpy as np
import pytest
import shapely

from realimpact.errors import InputError
from realimpact.geo import weights as W
from realimpact.hotspots.significance import adjust, classify, p_from_z


def _sets(nbrs: dict) -> dict:
    return {str(k): {str(v) for v in vs} for k, vs in nbrs.items()}


def test_queen_from_polygons_equals_the_published_gal_file(columbus):
    df, gal = columbus
    ids = [str(i) for i in range(1, len(df) + 1)]
    w = W.from_polygons(ids, df.geometry.values, "queen")
    assert _sets(w.neighbours()) == _sets(gal.neighbors)


def test_rook_from_polygons_equals_libpysal(columbus):
    df, _ = columbus
    ours = W.from_polygons(range(len(df)), df.geometry.values, "rook")
    theirs = libpysal.weights.Rook.from_iterable(df.geometry.values)
    assert _sets(ours.neighbours()) == _sets(theirs.neighbors)


@pytest.mark.parametrize("rule", ["queen", "rook"])
def test_lattice_and_grid_polygons_equal_lat2w(rule):
    nr, nc = 7, 9
    ref = libpysal.weights.lat2W(nr, nc, rook=rule == "rook")
    assert _sets(W.lattice(nr, nc, rule).neighbours()) == _sets(ref.neighbors)
    r, c = np.divmod(np.arange(nr * nc), nc)
    boxes = shapely.box(c * 250.0, r * 250.0, (c + 1) * 250.0, (r + 1) * 250.0)
    grid = W.from_polygons(range(nr * nc), boxes, rule)  # square-grid fast path
    assert _sets(grid.neighbours()) == _sets(ref.neighbors)
    # the general geometry path agrees with the fast path (perturb one cell off-grid)
    boxes2 = boxes.copy()
    boxes2[0] = shapely.Polygon([(0, 0), (250, 0), (250, 250), (125, 250.0), (0, 250)])
    general = W.from_polygons(range(nr * nc), boxes2, rule)
    assert _sets(general.neighbours()) == _sets(ref.neighbors)


def test_knn_and_band_equal_libpysal(columbus):
    df, _ = columbus
    x, y = df["X"].to_numpy(), df["Y"].to_numpy()
    pts = np.column_stack([x, y])
    ours = W.from_points(range(len(x)), x, y, k=4)
    theirs = libpysal.weights.KNN.from_array(pts, k=4)
    assert _sets(ours.neighbours()) == _sets(theirs.neighbors)
    ours_b = W.from_points(range(len(x)), x, y, band=3.0)
    theirs_b = libpysal.weights.DistanceBand.from_array(pts, threshold=3.0, binary=True,
                                                         silence_warnings=True)  # fmt: skip
    assert _sets(ours_b.neighbours()) == _sets(theirs_b.neighbors)
    assert ours_b.islands == [i for i, v in theirs_b.neighbors.items() if not v]


def test_parse_contiguity_and_errors():
    assert W.parse_contiguity("queen")["rule"] == "queen"
    assert W.parse_contiguity("knn:6") == {"rule": "knn", "k": 6, "band": None}
    assert W.parse_contiguity("band:400") == {"rule": "band", "k": None, "band": 400.0}
    for bad in ("hex", "knn:", "band:-1", "knn:x"):
        with pytest.raises(InputError, match="--contiguity"):
            W.parse_contiguity(bad)
    with pytest.raises(InputError, match="no geometry"):
        W.from_polygons(["a", "b"], [None, shapely.box(0, 0, 1, 1)])
    with pytest.raises(InputError, match="not unique"):
        W.from_neighbours({"a": []}, ids=["a", "a"])
    with pytest.raises(InputError, match="k must be"):
        W.from_points(range(3), [0, 1, 2], [0, 0, 0], k=3)


# -- significance ------------------------------------------------------------------------


@pytest.mark.parametrize(("ours", "theirs"), [("fdr_bh", "fdr_bh"), ("bonferroni", "bonferroni")])
def test_adjust_matches_statsmodels(ours, theirs):
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(0)
    p = np.r_[rng.uniform(size=200), rng.uniform(0, 1e-3, 20), [0.5, 0.5]]  # with ties
    expected = multipletests(p, method=theirs)[1]
    np.testing.assert_allclose(adjust(p, ours), expected, rtol=1e-12)
    # NaN entries (areas without neighbours) are not counted as tests
    p2 = np.r_[p, np.nan]
    out = adjust(p2, ours)
    assert np.isnan(out[-1])
    np.testing.assert_allclose(out[:-1], expected, rtol=1e-12)


def test_classes_follow_adjusted_p_and_sign():
    z = np.array([3.0, 2.0, 1.7, 0.1, -1.7, -2.0, -3.0, np.nan])
    p = np.array([0.001, 0.03, 0.08, 0.6, 0.08, 0.03, 0.001, np.nan])
    assert classify(z, p).tolist() == [
        "hot-99", "hot-95", "hot-90", "not-significant",
        "cold-90", "cold-95", "cold-99", "no-neighbours",
    ]  # fmt: skip
    assert classify(np.array([2.0]), np.array([0.1]))[0] == "hot-90"  # boundary inclusive
    # two-sided normal p: z = 1.959964 gives 0.05
    assert p_from_z(np.array([1.959963984540054]))[0] == pytest.approx(0.05, abs=1e-12)
    with pytest.raises(InputError, match="correction"):
        adjust(np.array([0.1]), "holm")


def test_queen_and_rook_on_real_lsoa_polygons_equal_libpysal(shared: Path):
    import pyogrio

    shp = shared / "data" / "boundaries" / "manchester_lsoa_2011" / "england_lsoa_2011.shp"
    df = pyogrio.read_dataframe(shp)
    geoms = df.geometry.values
    for rule, cls in (("queen", libpysal.weights.Queen), ("rook", libpysal.weights.Rook)):
        ours = W.from_polygons(range(len(df)), geoms, rule)
        theirs = cls.from_iterable(geoms)
        assert _sets(ours.neighbours()) == _sets(theirs.neighbors), rule
