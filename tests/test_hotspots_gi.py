"""Gi*: agreement with esda (PySAL), harm weights, permutation inference, bad input.

Independent references:
* ``spatial_reference/esda_reference_values.json`` - values computed by esda
  (see ``spatial_reference`` in ``shared/data/MANIFEST.csv``);
* ``esda.G_Local(star=True)`` run inside the tests on the same data.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import esda
import libpysal
import numpy as np
import pandas as pd
import pytest
import shapely

from realimpact.errors import InputError
from realimpact.geo import weights as W
from realimpact.hotspots.gi import GiStar, harm_values
from realimpact.hotspots.inference import count_extremes, pseudo_p

TOL = 1e-6  # acceptance: z-scores equal esda's to 1e-6


@pytest.fixture(scope="module")
def ref(shared: Path) -> dict:
    return json.loads(
        (shared / "data" / "spatial_reference" / "esda_reference_values.json").read_text()
    )


def _esda_gistar(y, w, transform="B", permutations=0, seed=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # esda's 'alternative will change' notice
        return esda.G_Local(
            y,
            w,
            transform=transform,
            star=True,
            permutations=permutations,
            seed=seed,
            n_jobs=1,  # esda's parallel path compiles for ~20 s more; one core is enough here
        )


# -- analytical z: published/reference values --------------------------------------------


def test_columbus_gistar_binary_matches_esda_reference(columbus, ref):
    df, gal = columbus
    w = W.from_neighbours(gal.neighbors, ids=gal.id_order)
    g = GiStar(df["CRIME"].to_numpy(), w, permutations=0)
    expected = np.array(ref["columbus_CRIME_GiStar_binary_first5_Zs"])
    np.testing.assert_allclose(g.z[:5], expected, atol=TOL, rtol=0)


@pytest.mark.parametrize("transform", ["B", "R"])
def test_columbus_gistar_all_areas_match_esda(columbus, transform):
    df, gal = columbus
    w = W.from_neighbours(gal.neighbors, ids=gal.id_order)
    g = GiStar(df["CRIME"].to_numpy(), w, transform=transform, permutations=0)
    e = _esda_gistar(df["CRIME"].to_numpy(), gal, transform=transform)
    np.testing.assert_allclose(g.z, e.Zs, atol=TOL, rtol=0)
    np.testing.assert_allclose(g.Gs, e.Gs, atol=1e-12, rtol=0)


def test_esda_docstring_points_distance_band(ref):
    # esda's own doctest data: six points, DistanceBand(threshold=15), Gi* binary.
    pts = [(10, 10), (20, 10), (40, 10), (15, 20), (30, 20), (30, 30)]
    y = np.array([2, 3, 3.2, 5, 8, 7])
    x_, y_ = zip(*pts, strict=True)
    w = W.from_points(range(6), x_, y_, band=15)
    g = GiStar(y, w, permutations=0)
    np.testing.assert_allclose(g.z, ref["esda_test_points_GiStar_B_Zs"], atol=TOL, rtol=0)


# -- the Merseyside acceptance: 250 m grid over Drugs crimes -------------------------------


@pytest.fixture(scope="module")
def merseyside_grid(shared: Path):
    """Counts of Drugs crimes on a full 250 m lattice over their extent (built here, not by us)."""
    from pyproj import Transformer

    files = sorted((shared / "data" / "police_uk" / "merseyside" / "street").glob("*.csv"))
    df = pd.concat([pd.read_csv(f, usecols=["Longitude", "Latitude", "Crime type"]) for f in files])
    d = df[df["Crime type"] == "Drugs"].dropna(subset=["Longitude", "Latitude"])
    x, y = Transformer.from_crs(4326, 27700, always_xy=True).transform(
        d["Longitude"].to_numpy(), d["Latitude"].to_numpy()
    )
    cell = 250.0
    x0, y0 = np.floor(x.min() / cell) * cell, np.floor(y.min() / cell) * cell
    col = ((x - x0) // cell).astype(int)
    row = ((y - y0) // cell).astype(int)
    nrows, ncols = row.max() + 1, col.max() + 1
    counts = np.zeros(nrows * ncols)
    np.add.at(counts, row * ncols + col, 1)
    return counts, nrows, ncols, (x0, y0, cell)


@pytest.fixture(scope="module")
def merseyside_esda(merseyside_grid):
    counts, nrows, ncols, _ = merseyside_grid
    w = libpysal.weights.lat2W(nrows, ncols, rook=False)
    return _esda_gistar(counts, w, permutations=999, seed=12345)


def test_merseyside_grid_z_equals_esda(merseyside_grid, merseyside_esda):
    counts, nrows, ncols, (x0, y0, cell) = merseyside_grid
    # build our weights from the cell polygons, as a grid layer in the store would be
    r, c = np.divmod(np.arange(nrows * ncols), ncols)
    boxes = shapely.box(x0 + c * cell, y0 + r * cell, x0 + (c + 1) * cell, y0 + (r + 1) * cell)
    w = W.from_polygons(np.arange(nrows * ncols), boxes, "queen")
    assert counts.sum() == 3711  # Drugs rows with coordinates, 2018-10..2019-02
    g = GiStar(counts, w, permutations=0)
    np.testing.assert_allclose(g.z, merseyside_esda.Zs, atol=TOL, rtol=0)


def test_merseyside_grid_pseudo_p_within_monte_carlo_error(merseyside_grid, merseyside_esda):
    counts, nrows, ncols, _ = merseyside_grid
    w = W.lattice(nrows, ncols, "queen")
    R = 999
    g = GiStar(counts, w, permutations=R, seed=7, alternative="directed", inference="permutation")
    e = merseyside_esda
    # (1) Null distributions: esda's simulated Gi* per cell, counted tie-exactly the same
    # way as ours, must give the same p up to Monte Carlo error of two independent runs.
    tol = 1e-9 / counts.sum()
    ge = (e.rGs >= e.Gs[:, None] - tol).sum(axis=1)
    le = (e.rGs <= e.Gs[:, None] + tol).sum(axis=1)
    p_esda_null = pseudo_p(ge, le, R, "two-sided")
    p_ours = pseudo_p(g._n_ge, g._n_le, R, "two-sided")
    se = np.sqrt(2 * p_ours * (1 - p_ours) / R) + 2 / (R + 1)
    assert np.all(np.abs(p_ours - p_esda_null) <= 5 * se)
    assert abs(np.mean(p_ours - p_esda_null)) < 0.002
    # (2) esda's own p_sim ('directed', one-sided in the observed tail) where ties are
    # decided exactly in esda too: cells whose draws never tie the observed value, and
    # cells whose whole neighbourhood, self included, is empty (G* = 0 exactly). Elsewhere
    # esda's fastmath rounding decides >= vs < for tied sums (e.g. 5/S vs 5*(1/S)), so
    # its p there is not a well-defined target.
    nbr_sum = W.lattice(nrows, ncols, "queen").sparse() @ counts
    exact = ((ge + le) == R) | ((nbr_sum == 0) & (counts == 0))
    assert exact.sum() > 10000
    d = g.p_sim[exact] - e.p_sim[exact]
    se1 = np.sqrt(2 * g.p_sim[exact] * (1 - g.p_sim[exact]) / R) + 2 / (R + 1)
    assert np.all(np.abs(d) <= 5 * se1)
    # (3) the exact null (no Monte Carlo) agrees with esda's simulated null within
    # esda's own Monte Carlo error
    x = GiStar(counts, w, permutations=R, inference="exact")
    assert x.inference == "exact"
    se_e = np.sqrt(x.p_sim * (1 - x.p_sim) / R) + 2 / (R + 1)
    assert np.all(np.abs(x.p_sim - p_esda_null) <= 5 * se_e)
    # with no 1/(R+1) floor, FDR-corrected classes are reachable on a 24,633-cell grid:
    # the cell with esda's largest z is a hot spot
    assert x.hotspot_class[np.argmax(e.Zs)] == "hot-99"


# -- harm weights must matter ------------------------------------------------------------


def _two_cluster_counts() -> pd.DataFrame:
    """10x10 lattice: many Drugs crimes top-left, fewer but violent crimes bottom-right."""
    rows = []
    for r in range(10):
        for c in range(10):
            aid = r * 10 + c
            rows.append((aid, "Drugs", 5 if (r < 3 and c < 3) else (1 if (r + c) % 4 == 0 else 0)))
            rows.append((aid, "Violence and sexual offences", 2 if (r > 6 and c > 6) else 0))
    return pd.DataFrame(rows, columns=["area_id", "crime_type", "n"])


def test_harm_weights_change_where_the_hot_spot_is():
    counts = _two_cluster_counts()
    w = W.lattice(10, 10, "queen")
    plain = GiStar(harm_values(counts, area_ids=range(100)), w, permutations=0)
    weighted = GiStar(
        harm_values(
            counts, {"Drugs": 5.0, "Violence and sexual offences": 120.0}, area_ids=range(100)
        ),
        w,
        permutations=0,
    )
    top_left = [r * 10 + c for r in range(3) for c in range(3)]
    bottom_right = [r * 10 + c for r in range(7, 10) for c in range(7, 10)]
    assert int(np.argmax(plain.z)) in top_left
    assert int(np.argmax(weighted.z)) in bottom_right
    assert plain.z[11] > plain.z[88] and weighted.z[88] > weighted.z[11]


def test_harm_values_sum_count_times_weight_and_fill_zero():
    counts = pd.DataFrame(
        {"area_id": ["a", "a", "b"], "crime_type": ["Drugs", "Robbery", "Drugs"], "n": [2, 1, 3]}
    )
    v = harm_values(counts, {"Drugs": 5.0, "Robbery": 365.0}, area_ids=["a", "b", "c"])
    assert v.to_dict() == {"a": 375.0, "b": 15.0, "c": 0.0}
    with pytest.raises(InputError, match="Robbery"):
        harm_values(counts, {"Drugs": 5.0})


def test_harm_values_agree_with_the_harm_index():
    # the Gi* value is the same number the harm issue's index ranks areas by
    from realimpact.harm.index import harm_index_from_counts
    from realimpact.harm.weights import get_weights

    cchi = get_weights("cchi")
    counts = _two_cluster_counts().assign(month="2019-01")
    counts = counts[counts["n"] > 0]
    idx = harm_index_from_counts(counts, cchi).set_index("area_id")["harm"]
    ours = harm_values(counts, cchi.weights)
    pd.testing.assert_series_equal(
        ours.sort_index(),
        idx.sort_index().astype(float),
        check_names=False,
        check_index_type=False,
    )


# -- permutation inference ---------------------------------------------------------------


def test_same_seed_same_p_and_seed_recorded():
    rng = np.random.default_rng(3)
    y = rng.poisson(2.0, 400).astype(float)
    w = W.lattice(20, 20, "queen")
    a = GiStar(y, w, permutations=199, seed=11, inference="permutation")
    b = GiStar(y, w, permutations=199, seed=11, inference="permutation")
    c = GiStar(y, w, permutations=199, seed=12, inference="permutation")
    np.testing.assert_array_equal(a.p_sim, b.p_sim)
    assert not np.array_equal(a.p_sim, c.p_sim)
    d = GiStar(y, w, permutations=99, inference="permutation")  # no seed: drawn and recorded
    assert isinstance(d.seed, int)
    again = GiStar(y, w, permutations=99, seed=d.seed, inference="permutation")
    np.testing.assert_array_equal(again.p_sim, d.p_sim)


def test_exact_null_equals_full_enumeration():
    from itertools import combinations

    from realimpact.hotspots.inference import exact_p, exact_tails

    rng = np.random.default_rng(8)
    y = rng.poisson(1.5, 12).astype(float)
    nbrs = {i: [j for j in range(12) if j != i and (i * 7 + j * 3) % 5 == 0] for i in range(12)}
    nbrs = {i: (v or [(i + 1) % 12]) for i, v in nbrs.items()}
    w = W.from_neighbours(nbrs, ids=range(12))
    ge, le, lt = exact_tails(y, w.indptr, w.indices)
    for i in range(12):
        k = int(w.cardinalities[i])
        obs = y[w.indices[w.indptr[i] : w.indptr[i + 1]]].sum()
        pool = np.delete(y, i)
        sums = np.array([sum(c) for c in combinations(pool, k)])
        assert ge[i] == pytest.approx(np.mean(sums >= obs), abs=1e-12)
        assert le[i] == pytest.approx(np.mean(sums <= obs), abs=1e-12)
        assert lt[i] == pytest.approx(np.mean(sums < obs), abs=1e-12)
    two = exact_p(ge, le, lt, "two-sided")
    np.testing.assert_allclose(two, np.minimum(1, 2 * np.minimum(ge, le)))


def test_inference_auto_uses_exact_for_counts_and_permutations_otherwise():
    w = W.lattice(8, 8, "queen")
    counts = np.random.default_rng(2).poisson(2.0, 64).astype(float)
    assert GiStar(counts, w, permutations=99).inference == "exact"
    assert GiStar(counts, w, permutations=0).inference == "normal"
    # mixed harm weights: not a common multiple of whole numbers (one weight times
    # counts is, and gets the exact null: see the scale test)
    harm = counts * 2.5 + np.random.default_rng(3).uniform(0.01, 0.1, 64)
    g = GiStar(harm, w, permutations=99, seed=1)
    assert g.inference == "permutation" and g.seed == 1
    with pytest.raises(InputError, match="--inference exact"):
        GiStar(harm, w, permutations=99, inference="exact")


def test_alternatives_relate_as_documented():
    rng = np.random.default_rng(5)
    y = rng.gamma(2.0, 1.0, 400)  # continuous: no ties
    w = W.lattice(20, 20, "rook")
    ge, le = count_extremes(y, w.indptr, w.indices, 499, seed=1)
    assert np.all(ge + le == 499)  # no ties with continuous data
    greater, lesser = pseudo_p(ge, le, 499, "greater"), pseudo_p(ge, le, 499, "lesser")
    two = pseudo_p(ge, le, 499, "two-sided")
    directed = pseudo_p(ge, le, 499, "directed")
    np.testing.assert_allclose(two, np.minimum(1, 2 * np.minimum(greater, lesser)))
    # esda's directed rule: min(ge, R - ge), which without ties is min(ge, le)
    np.testing.assert_allclose(directed, np.minimum(greater, lesser))


def test_permutation_null_matches_brute_force_small_case():
    # Exhaustive check on 5 areas: site 0 has neighbours {1, 2}; the exact null of its
    # neighbour sum is every 2-subset of the other 4 values, each equally likely.
    from itertools import combinations

    y = np.array([1.0, 4.0, 0.0, 2.0, 7.0])
    w = W.from_neighbours({0: [1, 2], 1: [0], 2: [0], 3: [4], 4: [3]}, ids=range(5))
    R = 20000
    ge, le = count_extremes(y, w.indptr, w.indices, R, seed=3)
    sums = [a + b for a, b in combinations([4.0, 0.0, 2.0, 7.0], 2)]
    exact_ge = np.mean([s >= 4.0 for s in sums])
    exact_le = np.mean([s <= 4.0 for s in sums])
    assert abs(ge[0] / R - exact_ge) < 0.02
    assert abs(le[0] / R - exact_le) < 0.02


# -- bad input ---------------------------------------------------------------------------


def test_empty_layer_is_a_clear_error():
    with pytest.raises(InputError, match="empty layer"):
        W.from_polygons([], [], "queen")
    with pytest.raises(InputError, match="empty layer"):
        W.from_neighbours({})


def test_all_zero_values_is_a_clear_error():
    with pytest.raises(InputError, match="all values are zero"):
        GiStar(np.zeros(9), W.lattice(3, 3), permutations=0)


def test_constant_and_negative_and_nan_values_are_clear_errors():
    w = W.lattice(3, 3)
    with pytest.raises(InputError, match="same value"):
        GiStar(np.ones(9), w, permutations=0)
    with pytest.raises(InputError, match="negative"):
        GiStar(np.r_[-1.0, np.ones(8)], w, permutations=0)
    with pytest.raises(InputError, match="NaN"):
        GiStar(np.r_[np.nan, np.arange(8.0)], w, permutations=0)
    with pytest.raises(InputError, match="no value for 1 area"):
        GiStar(pd.Series({i: 1.0 + i for i in range(8)}), w, permutations=0)


def test_islands_are_reported_and_not_tested():
    # two 2x2 blocks of squares and one isolated square: the isolated one is an island
    boxes = [shapely.box(c, r, c + 1, r + 1) for r in range(2) for c in range(2)]
    boxes += [shapely.box(c + 5, r, c + 6, r + 1) for r in range(2) for c in range(2)]
    boxes += [shapely.box(20, 20, 21, 21)]
    w = W.from_polygons([f"a{i}" for i in range(9)], boxes, "queen")
    assert w.islands == ["a8"]
    g = GiStar(np.array([5, 6, 7, 5, 0, 1, 0, 1, 3.0]), w, permutations=99, seed=1)
    assert g.islands == ["a8"]
    assert g.hotspot_class[8] == "no-neighbours"
    assert np.isnan(g.z[8]) and np.isnan(g.p_adjusted[8])
    assert np.isfinite(g.z[:8]).all() and np.isfinite(g.p_adjusted[:8]).all()
    assert g.summary()["weights"]["islands"] == ["a8"]


def test_all_islands_is_a_clear_error():
    boxes = [shapely.box(3 * i, 0, 3 * i + 1, 1) for i in range(4)]
    w = W.from_polygons(range(4), boxes, "queen")
    with pytest.raises(InputError, match="every area is an island"):
        GiStar(np.arange(1.0, 5.0), w, permutations=0)


def test_bad_options_are_clear_errors():
    w = W.lattice(3, 3)
    y = np.arange(9.0)
    with pytest.raises(InputError, match="transform"):
        GiStar(y, w, transform="X")
    with pytest.raises(InputError, match="correction"):
        GiStar(y, w, correction="holm")
    with pytest.raises(InputError, match="seed"):
        GiStar(y, w, permutations=9, seed=-1)


def test_islands_export_as_null_not_nan(tmp_path):
    import json as _json

    from realimpact.hotspots.export import write_areas

    boxes = [shapely.box(c, r, c + 1, r + 1) for r in range(3) for c in range(3)]
    boxes.append(shapely.box(10, 10, 11, 11))
    w = W.from_polygons([f"a{i}" for i in range(10)], boxes, "queen")
    g = GiStar(np.arange(1.0, 11.0), w, permutations=19, seed=1)
    frame = g.to_frame()
    frame["geometry"] = boxes
    write_areas(frame, tmp_path / "g.geojson")
    text = (tmp_path / "g.geojson").read_text()
    assert "NaN" not in text
    island = next(
        f["properties"] for f in _json.loads(text)["features"] if f["properties"]["area_id"] == "a9"
    )
    assert island["gi_z"] is None and island["hotspot_class"] == "no-neighbours"
    write_areas(frame, tmp_path / "g.csv")
    csv = pd.read_csv(tmp_path / "g.csv").set_index("area_id")
    assert np.isnan(csv.loc["a9", "gi_z"]) and "nan" not in (tmp_path / "g.csv").read_text().lower()


def test_one_weight_times_counts_gets_the_exact_null_of_the_counts():
    """Gi* is scale-free: harm = 3.658 x Drugs counts must give the counts' exact p."""
    rng = np.random.default_rng(7)
    w = W.lattice(12, 12, "queen")
    counts = rng.poisson(2.0, 144).astype(float)
    counts[0] = 1.0  # the smallest positive value is one crime
    plain = GiStar(counts, w, permutations=999, seed=1)
    harm = GiStar(counts * 3.658, w, permutations=999, seed=1)
    assert plain.inference == harm.inference == "exact"
    np.testing.assert_allclose(harm.z, plain.z, rtol=0, atol=1e-12)
    np.testing.assert_allclose(harm.p_sim, plain.p_sim, rtol=0, atol=1e-12)
    mixed = counts * 3.658
    mixed[5] += 0.5  # no longer one weight times whole numbers
    assert GiStar(mixed, w, permutations=99, seed=1).inference == "permutation"
