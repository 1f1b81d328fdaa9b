"""Estimators against the simulator's truth: effects recovered, no effect not claimed.

The DiD here is realimpact's (``realimpact.evaluation.did.did_counts``) run on
counts drawn by ``simulate_counts``; the truth is the rate ratio built into the
simulation. Fixed seeds keep the test deterministic.
"""

from __future__ import annotations

import math

import pytest

from realimpact.simulate import simulate_counts

TYPES = ("Anti-social behaviour", "Violence and sexual offences", "Drugs")


def _did(sim, crime_type: str):
    from realimpact.evaluation.did import did_counts

    months = [m for m in sim.months if "2023-01" <= m <= "2024-06"]
    c = sim.counts[sim.counts["crime_type"] == crime_type]
    return did_counts(
        c, sim.roles["target"], sim.roles["control"], start=sim.op_start, months=months
    )


def test_large_effect_is_recovered_within_its_interval() -> None:
    sim = simulate_counts(seed=21, effects={"Anti-social behaviour": 0.6})
    r = _did(sim, "Anti-social behaviour")
    assert r.ci_low <= math.log(0.6) <= r.ci_high
    assert r.ci_high < 0 and r.p < 0.01


def test_no_effect_is_not_claimed_more_often_than_stated() -> None:
    """With every true effect 1, 'p < 0.05' may occur about 5% of the time.

    60 tests (20 seeds x 3 crime types): at a true 5% rate, 9 or more
    rejections has probability 0.008 (binomial), so more than 8 fails.
    """
    rejected = 0
    total = 0
    for seed in range(100, 120):
        sim = simulate_counts(seed=seed, effects={}, buffer_effects={})
        for ct in TYPES:
            r = _did(sim, ct)
            total += 1
            rejected += r.p < 0.05
    assert total == 60
    assert rejected <= 8, f"{rejected} of {total} null operations claimed an effect"


@pytest.mark.parametrize("mode", ["displacement", "diffusion"])
def test_buffer_response_has_the_true_sign(mode: str) -> None:
    """The buffer's DiD against control shows displacement (up) or diffusion (down)."""
    sim = simulate_counts(seed=8, displacement=mode, buffer_effects={"Anti-social behaviour": 1.4})
    from realimpact.evaluation.did import did_counts

    c = sim.counts[sim.counts["crime_type"] == "Anti-social behaviour"]
    months = [m for m in sim.months if "2023-01" <= m <= "2024-06"]
    r = did_counts(c, sim.roles["buffer"], sim.roles["control"], start=sim.op_start, months=months)
    true = sim.truth["Anti-social behaviour"]["buffer_rate_ratio"]
    assert r.ci_low <= math.log(true) <= r.ci_high
    assert (r.estimate > 0) == (mode == "displacement")
