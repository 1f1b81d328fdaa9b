"""Poisson CUSUM: Markov-chain run lengths, false-alarm rate on stable series, detection of a step."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from realimpact.errors import ValidationError
from realimpact.markets import cusum

ALPHA = 0.05


def test_markov_chain_exact_small_case() -> None:
    # k = 1 (K = r), h = 0: alarm as soon as S > 0, i.e. a month with x >= 2.
    # No alarm in a month with probability q = P(x <= 1) = e^-mu (1 + mu), so the
    # run length is geometric: ARL = 1 / (1 - q), P(alarm within m) = 1 - q**m.
    mu, r = 0.8, 4
    q = math.exp(-mu) * (1 + mu)
    assert cusum.average_run_length(mu, K=r, H=0, r=r) == pytest.approx(1 / (1 - q))
    assert cusum.false_alarm_probability(mu, K=r, H=0, r=r, window=6) == pytest.approx(1 - q**6)


def _simulated_run_lengths(mu: float, k: float, h: float, n: int, seed: int) -> np.ndarray:
    """Independent check: run the CUSUM month by month until it alarms."""
    rng = np.random.default_rng(seed)
    out = np.empty(n)
    for i in range(n):
        s, t = 0.0, 0
        while True:
            t += 1
            s = max(0.0, s + rng.poisson(mu) - k)
            if s > h + 1e-9:
                break
        out[i] = t
    return out


@pytest.mark.parametrize(("mu", "r", "K", "H"), [(4.0, 4, 19, 24), (0.5, 20, 14, 60)])
def test_markov_chain_arl_matches_simulation(mu: float, r: int, K: int, H: int) -> None:
    arl = cusum.average_run_length(mu, K, H, r)
    sim = _simulated_run_lengths(mu, K / r, H / r, 3000, seed=1)
    se = sim.std(ddof=1) / math.sqrt(len(sim))
    assert abs(arl - sim.mean()) < 3.5 * se, (arl, sim.mean(), se)
    # and the finite-window false-alarm probability
    p = cusum.false_alarm_probability(mu, K, H, r, window=12)
    p_sim = float(np.mean(sim <= 12))
    assert abs(p - p_sim) < 3.5 * math.sqrt(p * (1 - p) / len(sim)) + 1e-3


def test_reference_value_is_lucas_k() -> None:
    # Lucas (1985): k = (mu1 - mu0) / (ln mu1 - ln mu0); for a 50 % rise k = mu0 * 0.5 / ln 1.5.
    assert cusum.reference_value(10.0, 15.0) == pytest.approx(5 / math.log(1.5))
    assert cusum.k_factor(0.5) * 10 == pytest.approx(cusum.reference_value(10.0, 15.0))


@pytest.mark.parametrize(("mu", "nb", "nm"), [(8.0, 12, 12), (0.6, 18, 18), (30.0, 2, 3)])
def test_false_alarm_rate_on_stable_series_within_bound(mu: float, nb: int, nm: int) -> None:
    """Stated bound: P(false alarm in the window) <= alpha for any in-control mean."""
    rng = np.random.default_rng(20240501)
    n = 700
    fired = 0
    for i in range(n):
        x = rng.poisson(mu, nb + nm)
        fired += cusum.cusum_test(x[:nb], x[nb:], alpha=ALPHA, seed=i, with_arl=False).fired
    rate = fired / n
    # within the bound up to Monte Carlo error (3 binomial standard errors)
    assert rate <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / n), rate
    if mu >= 8:  # not vacuous: with enough counts the test uses its false-alarm budget
        assert rate >= 0.02, rate


def test_detects_a_known_step() -> None:
    """Mean 10 for 15 months, then 20 (a doubling) from month 4 of a 12-month window."""
    rng = np.random.default_rng(7)
    step = 3  # index of the first raised month in the monitored window
    delays, early = [], 0
    for i in range(200):
        base = rng.poisson(10, 12)
        mon = np.r_[rng.poisson(10, step), rng.poisson(20, 12 - step)]
        res = cusum.cusum_test(base, mon, seed=i, with_arl=False)
        if res.fired:
            delays.append(res.first_alarm - step)
            early += res.first_alarm < step
    assert len(delays) >= 190  # power >= 95 %
    assert np.median(delays) <= 2
    assert early <= 10  # alarms before the step are false alarms: within alpha


def test_no_alarm_on_a_fall() -> None:
    res = cusum.cusum_test(np.full(12, 40), np.full(12, 20))
    assert not res.fired and res.first_alarm is None and res.statistic == 0.0


def test_result_fields_are_consistent() -> None:
    base = np.array([9, 11, 10, 12, 8, 10, 9, 11, 10, 10, 12, 8])
    mon = np.array([10, 9, 25, 24, 26, 23])
    res = cusum.cusum_test(base, mon, seed=3)
    k = 10.0 * 0.5 / math.log(1.5)
    s, path = 0.0, []
    for x in mon:
        s = max(0.0, s + x - k)
        path.append(s)
    assert res.path == pytest.approx(tuple(path))
    assert res.statistic == pytest.approx(max(path))
    assert res.fired and res.first_alarm == int(np.argmax(np.array(path) > res.h))
    assert 0 < res.p_value <= ALPHA
    assert res.arl0 > len(mon)  # in control, alarms are rarer than the window


def test_dispersion_index_against_scipy() -> None:
    x = np.array([3, 9, 1, 12, 0, 7, 15, 2])
    d = cusum.dispersion_test(x)
    assert d["index"] == pytest.approx(x.var(ddof=1) / x.mean())
    assert d["p_value"] == pytest.approx(stats.chi2.sf(7 * d["index"], 7))
    assert d["p_value"] < 0.01


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"alpha": 1.5}, "--alpha"), ({"shift": 0}, "--shift"), ({"n_sim": 5}, "--n-sim")],
)
def test_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        cusum.cusum_test(np.ones(3), np.ones(3), **kwargs)
    with pytest.raises(ValidationError, match="whole numbers"):
        cusum.cusum_test(np.array([1.5, 2]), np.ones(3))
