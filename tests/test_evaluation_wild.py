"""Wild cluster restricted score bootstrap, checked against statsmodels fits.

The independent computation: the restricted model (beta fixed at b0 as an
offset, one dummy per area and month) is fitted by statsmodels' GLM, the
regressor is partialled out of the dummies by statsmodels' WLS with the
restricted means as weights, and the cluster scores, statistic and bootstrap
p-value are formed here with numpy from those fits. realimpact never builds a
dummy (iterative proportional fitting and alternating projections).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from realimpact.errors import ValidationError
from realimpact.evaluation.did import did_counts
from realimpact.evaluation.wild import webb_weights, wild_score_bootstrap, wild_score_test


def _panel(seed: int, n_areas: int = 16, n_months: int = 10, effect: float = -0.3):
    rng = np.random.default_rng(seed)
    area = np.repeat(np.arange(n_areas), n_months)
    month = np.tile(np.arange(n_months), n_areas)
    d = ((area < 5) & (month >= 6)).astype(float)
    mu = np.exp(rng.normal(1.5, 0.5, n_areas)[area] + rng.normal(0, 0.2, n_months)[month])
    y = rng.poisson(mu * np.exp(effect * d) * rng.gamma(8.0, 1 / 8.0, len(area)))
    months = [f"2020-{m + 1:02d}" for m in range(n_months)]
    return pd.DataFrame(
        {
            "area_id": [f"A{a:02d}" for a in area],
            "month": [months[m] for m in month],
            "n": y,
            "d": d,
        }
    )


def _reference_p(df: pd.DataFrame, b0: float, draws: int, seed: int) -> float:
    D = sm.add_constant(pd.get_dummies(df[["area_id", "month"]], drop_first=True, dtype=float))
    y, x = df["n"].to_numpy(float), df["d"].to_numpy()
    mu0 = (
        sm.GLM(y, D, family=sm.families.Poisson(), offset=b0 * x)
        .fit(tol=1e-13)
        .fittedvalues.to_numpy()
    )
    xt = sm.WLS(x, D, weights=mu0).fit().resid
    s = pd.Series(xt * (y - mu0)).groupby(pd.factorize(df["area_id"])[0]).sum().to_numpy()
    stat = abs(s.sum()) / np.sqrt((s**2).sum())
    vs = webb_weights(draws, len(s), seed) * s
    boot = np.abs(vs.sum(axis=1)) / np.sqrt((vs**2).sum(axis=1))
    return (np.sum(boot > stat) + 0.5 * np.sum(boot == stat) + 1) / (draws + 1)


@pytest.mark.parametrize(("seed", "b0"), [(1, 0.0), (2, -0.3), (3, 0.25)])
def test_p_value_equals_statsmodels_restricted_fit(seed, b0):
    df = _panel(seed)
    got = wild_score_test(df["n"], df["d"], df["area_id"], df["month"], b0=b0, draws=499, seed=seed)
    assert got == pytest.approx(_reference_p(df, b0, 499, seed), abs=1e-12)


def test_interval_is_where_the_test_stops_rejecting():
    df = _panel(4)
    args = (df["n"].to_numpy(), df["d"].to_numpy(), df["area_id"], df["month"])
    res = did_counts(
        df,
        [f"A{a:02d}" for a in range(5)],
        [f"A{a:02d}" for a in range(5, 16)],
        start="2020-07",
        placebo_starts=[],
    )
    w = wild_score_bootstrap(*args, estimate=res.estimate, se=res.se, draws=999, seed=0)
    assert w.ci_low < res.estimate < w.ci_high
    # At the MLE the restricted fit is the unrestricted one: the score is zero.
    assert wild_score_test(*args, b0=res.estimate, draws=999, seed=0) > 0.9
    for bound, outward in ((w.ci_low, -1), (w.ci_high, 1)):
        step = 0.02 * res.se
        assert wild_score_test(*args, b0=bound - outward * step, draws=999, seed=0) >= 0.05
        assert wild_score_test(*args, b0=bound + outward * step, draws=999, seed=0) < 0.05


def test_did_wild_keeps_the_estimate_and_says_so():
    df = _panel(5)
    t, c = [f"A{a:02d}" for a in range(5)], [f"A{a:02d}" for a in range(5, 16)]
    tt = did_counts(df, t, c, start="2020-07")
    wb = did_counts(df, t, c, start="2020-07", inference="wild", seed=3)
    assert wb.estimate == tt.estimate and wb.se == tt.se
    assert wb.inference == "wild" and wb.df is None
    assert wb.p == pytest.approx(
        wild_score_test(df["n"], df["d"], df["area_id"], df["month"], draws=999, seed=3)
    )
    assert "wild cluster restricted score bootstrap" in wb.to_dict()["method"]
    again = did_counts(df, t, c, start="2020-07", inference="wild", seed=3)
    assert (again.p, again.ci_low, again.ci_high) == (wb.p, wb.ci_low, wb.ci_high)
    with pytest.raises(ValidationError, match="poisson only"):
        did_counts(df, t, c, start="2020-07", inference="wild", family="negbin")
