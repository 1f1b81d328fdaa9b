"""Interrupted time series against statsmodels' formula API fitted independently (1e-6).

The test builds its own design with patsy formulas (calendar-month factor or
Fourier terms written out here) and fits statsmodels; realimpact builds its
design matrix separately. Real series: City of London street crime
(../shared/data/police_uk/city_of_london/street), March 2020 lockdown as the break.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from realimpact.errors import ValidationError
from realimpact.evaluation.its import its_counts

TOL = 1e-6


@pytest.fixture(scope="module")
def col_drugs(data_dir) -> pd.Series:
    files = sorted((data_dir / "police_uk" / "city_of_london" / "street").glob("*.csv"))
    df = pd.concat([pd.read_csv(f, usecols=["Month", "Crime type", "LSOA code"]) for f in files])
    d = df[(df["Crime type"] == "Drugs") & (df["LSOA code"] == "E01032739")]
    s = d.groupby("Month").size()
    months = sorted(df["Month"].unique())
    return s.reindex(months, fill_value=0)


def _frame(s: pd.Series, start: str) -> pd.DataFrame:
    d = pd.DataFrame({"y": s.to_numpy(dtype=float)})
    d["time"] = np.arange(len(s), dtype=float)
    d["post"] = (s.index >= start).astype(float)
    d["time_since"] = np.maximum(0, d["time"] - d["time"][d["post"] == 1].min()) * d["post"]
    d["moy"] = [int(m[5:7]) for m in s.index]
    return d


def test_its_fourier_matches_statsmodels_formula(col_drugs):
    res = its_counts(col_drugs, start="2020-03")
    d = _frame(col_drugs, "2020-03")
    f = (
        "y ~ time + post + time_since + np.sin(2*np.pi*(moy-1)/12) + np.cos(2*np.pi*(moy-1)/12)"
        " + np.sin(4*np.pi*(moy-1)/12) + np.cos(4*np.pi*(moy-1)/12)"
    )
    ref = smf.glm(f, d, family=sm.families.Poisson()).fit(scale="X2")
    assert res.level.estimate == pytest.approx(ref.params["post"], abs=TOL)
    assert res.level.se == pytest.approx(ref.bse["post"], abs=TOL)
    assert res.slope.estimate == pytest.approx(ref.params["time_since"], abs=TOL)
    assert res.slope.se == pytest.approx(ref.bse["time_since"], abs=TOL)
    assert res.n == 36
    # the lockdown emptied the City: recorded drugs offences fell at the break
    assert res.level.estimate < 0


def test_its_month_dummies_and_hac_match_statsmodels(col_drugs):
    res = its_counts(col_drugs, start="2020-03", seasonality="months", errors="hac", maxlags=2)
    d = _frame(col_drugs, "2020-03")
    ref = smf.glm("y ~ time + post + time_since + C(moy)", d, family=sm.families.Poisson()).fit(
        cov_type="HAC", cov_kwds={"maxlags": 2}
    )
    assert res.level.estimate == pytest.approx(ref.params["post"], abs=TOL)
    assert res.level.se == pytest.approx(ref.bse["post"], abs=TOL)
    assert res.slope.se == pytest.approx(ref.bse["time_since"], abs=TOL)


def test_its_counterfactual_and_count_effect(col_drugs):
    res = its_counts(col_drugs, start="2020-03")
    pre = [m for m in col_drugs.index if m < "2020-03"]
    post = [m for m in col_drugs.index if m >= "2020-03"]
    # before the start the counterfactual is the fit itself
    assert np.allclose(res.fitted[pre], res.counterfactual[pre], rtol=1e-12)
    assert res.count_effect.estimate == pytest.approx(
        res.fitted[post].sum() - res.counterfactual[post].sum(), rel=1e-12
    )
    assert res.placebo is not None and res.placebo.extra["fake_start"] < "2020-03"


def test_its_needs_a_baseline():
    s = pd.Series([5, 6, 7, 4, 5], index=["2020-01", "2020-02", "2020-03", "2020-04", "2020-05"])
    with pytest.raises(ValidationError, match="baseline months"):
        its_counts(s, start="2020-03")
