"""Mann-Kendall against independent implementations; emerging categories on known series."""

from __future__ import annotations

import numpy as np
import pymannkendall as pmk
import pytest
from scipy import stats

from realimpact.errors import InputError
from realimpact.geo import weights as W
from realimpact.hotspots.emerging import EmergingHotSpots, classify_series
from realimpact.hotspots.mann_kendall import mann_kendall

# -- Mann-Kendall ------------------------------------------------------------------------


def test_mann_kendall_matches_pymannkendall_with_ties():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, size=(40, 15)).astype(float)  # many ties
    x[0] = np.arange(15)  # a clean increasing series
    x[1] = 7.0  # constant
    mk = mann_kendall(x)
    for i in range(len(x)):
        r = pmk.original_test(x[i])
        assert mk.s[i] == r.s
        assert mk.var_s[i] == pytest.approx(r.var_s, abs=1e-9)
        assert mk.z[i] == pytest.approx(r.z, abs=1e-12)
        assert mk.p[i] == pytest.approx(r.p, abs=1e-12)
        assert mk.tau[i] == pytest.approx(r.Tau, abs=1e-12)
        assert mk.trend[i] == r.trend


def test_mann_kendall_s_agrees_with_scipy_kendalltau():
    # Without ties Kendall's tau between time and x is S / (n(n-1)/2) (scipy: tau-b = tau-a).
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 12))
    mk = mann_kendall(x)
    for i in range(len(x)):
        tau = stats.kendalltau(np.arange(12), x[i]).statistic
        assert mk.tau[i] == pytest.approx(tau, abs=1e-12)


def test_mann_kendall_one_series_and_bad_input():
    r = mann_kendall(np.array([1.0, 2, 3, 4, 5, 6, 7, 8]))
    assert r.trend == "increasing" and r.s == 28
    with pytest.raises(InputError, match="at least 3"):
        mann_kendall(np.array([1.0, 2.0]))
    with pytest.raises(InputError, match="NaN"):
        mann_kendall(np.array([1.0, np.nan, 3.0]))


# -- category rules on constructed bin series --------------------------------------------

NO_TREND = (0.9, 0.0)  # (trend p, S)
UP = (0.001, 40.0)
DOWN = (0.001, -40.0)


@pytest.mark.parametrize(
    ("bins", "trend", "expected"),
    [
        ([0] * 9 + [1], NO_TREND, "new-hot"),
        ([0] * 7 + [1, 1, 1], NO_TREND, "consecutive-hot"),
        ([1] * 10, UP, "intensifying-hot"),
        ([1] * 10, NO_TREND, "persistent-hot"),
        ([1] * 10, DOWN, "diminishing-hot"),
        ([0, 1, 0, 1, 0, 0, 1, 0, 0, 1], NO_TREND, "sporadic-hot"),
        ([0, -1, 0, 0, 1, 0, 0, 0, 1, 1], NO_TREND, "oscillating-hot"),
        ([-1] + [0] * 8 + [1], NO_TREND, "oscillating-hot"),  # cold before: not 'new'
        ([1] * 9 + [0], NO_TREND, "historical-hot"),
        ([0] * 9 + [-1], NO_TREND, "new-cold"),
        ([0] * 8 + [-1, -1], NO_TREND, "consecutive-cold"),
        ([-1] * 10, DOWN, "intensifying-cold"),
        ([-1] * 10, NO_TREND, "persistent-cold"),
        ([-1] * 10, UP, "diminishing-cold"),
        ([-1, 0, -1, 0, 0, 0, 0, 0, 0, -1], NO_TREND, "sporadic-cold"),
        ([1, 0, 0, 0, 0, 0, 0, 0, 0, -1], NO_TREND, "oscillating-cold"),
        ([-1] * 9 + [0], NO_TREND, "historical-cold"),
        ([1] * 9 + [-1], NO_TREND, "oscillating-cold"),  # the final month decides
        ([0] * 10, NO_TREND, "no-pattern"),
        ([1, 1, 0, 0, 0, 0, 0, 0, 0, 0], NO_TREND, "no-pattern"),
        ([1] * 9 + [1], UP, "intensifying-hot"),
    ],
)
def test_category_rules(bins, trend, expected):
    p, s = trend
    assert classify_series(np.array(bins), p, s) == expected


def test_ninety_percent_rule_boundary():
    # 9 of 10 months hot incl. the final = 90 %: persistent; 8 of 10 with a gap: sporadic.
    assert classify_series(np.array([0] + [1] * 9), 0.9, 0) == "persistent-hot"
    assert classify_series(np.array([0, 0, 1, 1, 1, 0, 1, 1, 1, 1]), 0.9, 0) == "sporadic-hot"


# -- end to end: constructed space-time data with a known answer ---------------------------


def _cube(months: int = 12) -> np.ndarray:
    """15x15 lattice. Block A (top-left) hot every month and growing; block B
    (bottom-right) appears only in the final month; the rest is flat noise."""
    rng = np.random.default_rng(42)
    side = 15
    vals = rng.poisson(1.0, size=(side * side, months)).astype(float)
    r, c = np.divmod(np.arange(side * side), side)
    a = (r < 3) & (c < 3)
    b = (r > 11) & (c > 11)
    for t in range(months):
        vals[a, t] += 8 + 2 * t  # hot and intensifying
    vals[b, -1] += 25  # new in the last month
    return vals, a, b


def test_emerging_end_to_end_finds_the_constructed_patterns():
    vals, _, _ = _cube()
    w = W.lattice(15, 15, "queen")
    periods = [f"2019-{m:02d}" for m in range(1, 13)]
    e = EmergingHotSpots(vals, w, periods=periods)
    centre_a = 1 * 15 + 1
    centre_b = 13 * 15 + 13
    assert e.category[centre_a] == "intensifying-hot"
    assert e.category[centre_b] == "new-hot"
    # z of block A's centre really rises (checked with the independent test)
    assert pmk.original_test(e.z[centre_a]).trend == "increasing"
    df = e.to_frame()
    assert set(df.columns) >= {"area_id", "category", "trend_z", "trend_p", "n_hot"}
    assert not df["category"].isna().any()
    assert e.summary()["n_periods"] == 12


def test_emerging_with_permutations_is_seeded():
    vals, _, _ = _cube(6)
    w = W.lattice(15, 15, "queen")
    a = EmergingHotSpots(vals, w, permutations=99, seed=4, inference="permutation")
    b = EmergingHotSpots(vals, w, permutations=99, seed=4, inference="permutation")
    np.testing.assert_array_equal(a.p_adjusted, b.p_adjusted)
    assert a.seed == 4


def test_period_without_data_is_a_clear_error():
    vals, _, _ = _cube(6)
    vals[:, 3] = 0
    w = W.lattice(15, 15, "queen")
    with pytest.raises(InputError, match=r"period 2019-04: no records"):
        EmergingHotSpots(vals, w, periods=[f"2019-{m:02d}" for m in range(1, 7)])


def test_too_few_periods_and_shape_errors():
    w = W.lattice(3, 3)
    with pytest.raises(InputError, match="at least 3 periods"):
        EmergingHotSpots(np.ones((9, 2)), w)
    with pytest.raises(InputError, match="shape"):
        EmergingHotSpots(np.ones((8, 5)), w)


def test_islands_are_not_classified_and_noted():
    import shapely

    boxes = [shapely.box(c, r, c + 1, r + 1) for r in range(3) for c in range(3)]
    boxes.append(shapely.box(10, 10, 11, 11))
    w = W.from_polygons(range(10), boxes, "queen")
    rng = np.random.default_rng(0)
    vals = rng.poisson(2.0, size=(10, 4)).astype(float) + 1
    e = EmergingHotSpots(vals, w)
    assert e.category[9] == "no-neighbours"
    assert any("without neighbours" in n for n in e.notes)
    assert all(c != "no-neighbours" for c in e.category[:9])
