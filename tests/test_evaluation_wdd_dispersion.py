"""Overdispersion option of the WDD (quasi-Poisson), against the NB2 variance formula.

The published Wheeler and Ratcliffe variance (Poisson) stays the default and is
checked against their worked example in test_evaluation_displacement.py. Here:
with gamma-Poisson (NB2, size k) area-month counts of known means mu, the
variance of a sum of area-months is sum(mu + mu^2 / k), so the factor on the
Poisson variance the WDD needs is 1 + sum(mu^2) / (k sum(mu)); ``wdd_dispersion``
must recover it from the counts alone.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from realimpact.errors import ValidationError
from realimpact.evaluation.displacement import wdd_dispersion, wdd_shared_control


def _city(seed: int, k: float | None, n_areas: int = 60, n_months: int = 24):
    rng = np.random.default_rng(seed)
    area = np.repeat(np.arange(n_areas), n_months)
    month = np.tile(np.arange(n_months), n_areas)
    mu = np.exp(rng.normal(1.8, 0.6, n_areas)[area] + 0.3 * np.sin(month / 2.0))
    lam = mu * rng.gamma(k, 1.0 / k, len(mu)) if k else mu
    months = [f"{2020 + m // 12}-{m % 12 + 1:02d}" for m in range(n_months)]
    df = pd.DataFrame(
        {
            "area_id": [f"A{a:02d}" for a in area],
            "month": [months[m] for m in month],
            "n": rng.poisson(lam),
        }
    )
    ids = [f"A{a:02d}" for a in range(n_areas)]
    return df, mu, ids[:8], ids[8:20], ids[20:], months[12]


def test_dispersion_recovers_the_nb2_factor():
    """One city is noisy (about 10%); over five the mean ratio is within 6% of 1."""
    ratios = []
    for seed in range(1, 6):
        df, mu, target, buffer, control, start = _city(seed, k=4.0)
        expect = 1 + np.sum(mu**2) / (4.0 * np.sum(mu))
        got = wdd_dispersion(df, target, control, buffer, start=start)
        assert got == pytest.approx(expect, rel=0.2)
        ratios.append(got / expect)
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.06)


def test_poisson_counts_give_no_inflation():
    df, _, target, buffer, control, start = _city(2, k=None)
    got = wdd_dispersion(df, target, control, buffer, start=start)
    assert 1.0 <= got < 1.1


def test_dispersion_scales_the_published_variance_and_nothing_else():
    # Wheeler & Ratcliffe (2018) counts, buffer sharing the target's control.
    t, c, b = (207, 110), (308, 318), (178, 157)
    base = wdd_shared_control(t, c, b)
    q = wdd_shared_control(t, c, b, dispersion=2.5)
    var = 2.5 * (sum(t) + sum(b) + 4 * sum(c))  # Var(dT) + Var(dB) + 4 Var(dC), x 2.5
    assert base.se == pytest.approx(math.sqrt(sum(t) + sum(b) + 4 * sum(c)), rel=1e-12)
    assert q.estimate == base.estimate
    assert q.se == pytest.approx(math.sqrt(var), rel=1e-12)
    assert q.extra["dispersion"] == 2.5 and "quasi-Poisson" in q.method
    assert base.extra["dispersion"] == 1.0 and "Poisson variance" in base.method
    with pytest.raises(ValidationError, match="dispersion"):
        wdd_shared_control(t, c, b, dispersion=0)
