"""Fixed-effects count DiD against statsmodels GLM with dummy columns (to 1e-6).

statsmodels is the independent implementation: it builds one dummy per area and
month and runs its own IRLS; realimpact absorbs the fixed effects by alternating
projections and never builds a dummy. Their coefficients and cluster-robust
standard errors must agree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from realimpact.errors import ValidationError
from realimpact.evaluation.did import did_counts
from realimpact.evaluation.fixed_effects import demean, fe_glm
from realimpact.periods import month_index

TOL = 1e-6


def _panel(
    seed: int,
    n_areas: int = 30,
    n_months: int = 18,
    effect: float = -0.3,
    trend: float = 0.0,
    nb_alpha: float = 0.0,
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    area = np.repeat(np.arange(n_areas), n_months)
    month = np.tile(np.arange(n_months), n_areas)
    treated = area < n_areas // 4
    post = month >= (2 * n_months) // 3
    mu = np.exp(
        rng.normal(1.2, 0.6, n_areas)[area]
        + rng.normal(0, 0.2, n_months)[month]
        + effect * (treated & post)
        + trend * treated * (month - n_months / 2) / 12
    )
    y = (
        rng.negative_binomial(1 / nb_alpha, 1 / (1 + nb_alpha * mu))
        if nb_alpha
        else rng.poisson(mu)
    )
    months = [f"{2018 + m // 12}-{m % 12 + 1:02d}" for m in range(n_months)]
    return pd.DataFrame(
        {
            "area_id": [f"A{a:03d}" for a in area],
            "month": [months[m] for m in month],
            "n": y,
            "d": (treated & post).astype(float),
            "treated": treated,
        }
    )


def _statsmodels(df: pd.DataFrame, family, use_correction: bool = True):
    X = pd.get_dummies(df[["area_id", "month"]], drop_first=True, dtype=float)
    X.insert(0, "d", df["d"].to_numpy())
    X = sm.add_constant(X)
    return sm.GLM(df["n"].to_numpy(), X, family=family).fit(
        cov_type="cluster",
        tol=1e-13,
        cov_kwds={"groups": pd.factorize(df["area_id"])[0], "use_correction": use_correction},
    )


def _ours(df: pd.DataFrame, **kw):
    return fe_glm(
        df["n"].to_numpy(),
        df["d"].to_numpy(),
        [df["area_id"].to_numpy(), df["month"].to_numpy()],
        cluster=df["area_id"].to_numpy(),
        **kw,
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_fe_poisson_matches_statsmodels_dummies(seed):
    df = _panel(seed)
    ref = _statsmodels(df, sm.families.Poisson())
    fit = _ours(df, ssc="statsmodels")
    assert fit.converged
    assert fit.coef[0] == pytest.approx(ref.params["d"], abs=TOL)
    assert fit.se[0] == pytest.approx(ref.bse["d"], abs=TOL)
    raw = _statsmodels(df, sm.families.Poisson(), use_correction=False)
    assert _ours(df, ssc="none").se[0] == pytest.approx(raw.bse["d"], abs=TOL)


def test_fe_negative_binomial_matches_statsmodels_at_same_alpha():
    df = _panel(3, nb_alpha=0.4)
    ref = _statsmodels(df, sm.families.NegativeBinomial(alpha=0.4))
    fit = _ours(df, family="negbin", alpha=0.4, ssc="statsmodels")
    assert fit.coef[0] == pytest.approx(ref.params["d"], abs=TOL)
    assert fit.se[0] == pytest.approx(ref.bse["d"], abs=TOL)


def test_all_zero_area_is_dropped_like_removing_it():
    df = _panel(4)
    df.loc[df["area_id"] == "A020", "n"] = 0
    fit = _ours(df, ssc="statsmodels")
    ref = _statsmodels(df[df["area_id"] != "A020"].reset_index(drop=True), sm.families.Poisson())
    assert fit.n_dropped == 18
    assert fit.coef[0] == pytest.approx(ref.params["d"], abs=TOL)
    assert fit.se[0] == pytest.approx(ref.bse["d"], abs=TOL)


def test_demean_equals_residuals_of_weighted_dummy_regression():
    df = _panel(5, n_areas=15, n_months=12)
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=len(df)), rng.gamma(2.0, 1.0, len(df))
    D = sm.add_constant(pd.get_dummies(df[["area_id", "month"]], drop_first=True, dtype=float))
    ref = sm.WLS(x, D, weights=w).fit().resid
    got = demean(x, [df["area_id"].to_numpy(), df["month"].to_numpy()], w)
    assert np.max(np.abs(got - ref)) < 1e-9


def test_regressor_collinear_with_fixed_effects_is_refused():
    df = _panel(6)
    df["d"] = df["treated"].astype(float)  # constant within area: absorbed
    with pytest.raises(ValidationError, match="collinear"):
        _ours(df)


def test_did_counts_equals_statsmodels_and_reports_rate_ratio():
    df = _panel(7)
    target = sorted(df.loc[df["treated"], "area_id"].unique())
    control = sorted(df.loc[~df["treated"], "area_id"].unique())
    res = did_counts(df[["area_id", "month", "n"]], target, control, start="2019-01")
    ref = _statsmodels(df, sm.families.Poisson())
    assert res.estimate == pytest.approx(ref.params["d"], abs=TOL)
    assert res.effect.rate_ratio[0] == pytest.approx(np.exp(ref.params["d"]), rel=TOL)
    assert res.n_clusters == 30 and res.n == len(df)
    # count effect: fitted target-post crimes minus counterfactual with beta = 0
    mu = ref.fittedvalues[(df["d"] == 1).to_numpy()]
    assert res.count_effect == pytest.approx(mu.sum() * (1 - np.exp(-ref.params["d"])), rel=1e-6)
    assert res.pre_trend is not None and len(res.placebos) >= 1


def test_did_pre_trend_check_catches_diverging_trends():
    df = _panel(8, n_areas=60, n_months=36, effect=0.0, trend=0.6)
    target = sorted(df.loc[df["treated"], "area_id"].unique())
    control = sorted(df.loc[~df["treated"], "area_id"].unique())
    res = did_counts(df, target, control, start="2020-01")
    assert res.pre_trend.p < 0.05
    assert any("pre-trend" in w for w in res.warnings)


def test_did_missing_area_months_count_as_zero():
    df = _panel(9)
    target = sorted(df.loc[df["treated"], "area_id"].unique())
    control = sorted(df.loc[~df["treated"], "area_id"].unique())
    full = did_counts(df, target, control, start="2019-01")
    sparse = did_counts(df[df["n"] > 0], target, control, start="2019-01")
    assert sparse.estimate == pytest.approx(full.estimate, abs=1e-12)


def test_did_negbin_uses_estimated_alpha_and_matches_statsmodels():
    df = _panel(10, nb_alpha=0.5)
    target = sorted(df.loc[df["treated"], "area_id"].unique())
    control = sorted(df.loc[~df["treated"], "area_id"].unique())
    res = did_counts(df, target, control, start="2019-01", family="negbin", ssc="statsmodels")
    assert 0.2 < res.alpha < 1.0  # simulated with alpha = 0.5
    ref = _statsmodels(df, sm.families.NegativeBinomial(alpha=res.alpha))
    assert res.estimate == pytest.approx(ref.params["d"], abs=TOL)
    assert res.se == pytest.approx(ref.bse["d"], abs=TOL)


def test_did_input_errors():
    df = _panel(11)
    with pytest.raises(ValidationError, match="both target and control"):
        did_counts(df, ["A000"], ["A000", "A001"], start="2019-01")
    with pytest.raises(ValidationError, match="baseline months"):
        did_counts(df, ["A000"], ["A001"], start="2018-01")
    with pytest.raises(ValidationError, match="no records in the target"):
        did_counts(df, ["Z999"], ["A001", "A002"], start="2019-01")
    with pytest.raises(ValidationError, match="YYYY-MM"):
        month_index(["2019/05"])


def test_did_t_interval_equals_statsmodels_use_t_with_clusters_minus_one_df():
    """statsmodels' ``cov_type="cluster", use_t=True`` uses t with G - 1 df (covtype.py)."""
    df = _panel(12)
    target = sorted(df.loc[df["treated"], "area_id"].unique())
    control = sorted(df.loc[~df["treated"], "area_id"].unique())
    res = did_counts(df, target, control, start="2019-01", ssc="statsmodels", inference="t")
    X = sm.add_constant(pd.get_dummies(df[["area_id", "month"]], drop_first=True, dtype=float))
    X.insert(1, "d", df["d"].to_numpy())
    ref = sm.GLM(df["n"].to_numpy(), X, family=sm.families.Poisson()).fit(
        cov_type="cluster",
        cov_kwds={"groups": pd.factorize(df["area_id"])[0]},
        use_t=True,
        tol=1e-13,
    )
    assert ref.use_t and ref.df_resid_inference == 29
    assert res.inference == "t" and res.df == 29 == res.n_clusters - 1
    assert res.estimate == pytest.approx(ref.params["d"], abs=TOL)
    assert res.se == pytest.approx(ref.bse["d"], abs=TOL)
    lo, hi = ref.conf_int().loc["d"]
    assert res.ci_low == pytest.approx(lo, abs=TOL)
    assert res.ci_high == pytest.approx(hi, abs=TOL)
    assert res.p == pytest.approx(ref.pvalues["d"], abs=TOL)
    d = res.to_dict()
    assert d["inference"] == "t" and d["df"] == 29 and "t with 29 df" in d["method"]


def test_did_t_interval_from_fixest_se_and_scipy_t():
    """inference="t": fixest's small-sample SE (as pyfixest's fepois) read with t(G - 1)."""
    from scipy import stats

    df = _panel(13, n_areas=24)
    target = sorted(df.loc[df["treated"], "area_id"].unique())
    control = sorted(df.loc[~df["treated"], "area_id"].unique())
    res = did_counts(df, target, control, start="2019-01", inference="t")
    fit = _ours(df, ssc="fixest")
    b, se, g = fit.coef[0], fit.se[0], 24
    q = stats.t.ppf(0.975, g - 1)
    assert res.se == pytest.approx(se, abs=1e-12)  # the SE does not change, only the reading
    assert (res.ci_low, res.ci_high) == pytest.approx((b - q * se, b + q * se), abs=1e-9)
    assert res.p == pytest.approx(2 * stats.t.sf(abs(b / se), g - 1), abs=1e-12)
    # The pre-trend test and the placebos are read the same way.
    assert res.pre_trend.extra["inference"] == "t" and res.pre_trend.extra["df"] == g - 1
    assert all(p.extra["df"] == g - 1 for p in res.placebos)
    normal = did_counts(df, target, control, start="2019-01", inference="normal")
    z = stats.norm.ppf(0.975)
    assert normal.inference == "normal" and normal.df is None
    assert normal.se == res.se
    assert (normal.ci_low, normal.ci_high) == pytest.approx((b - z * se, b + z * se), abs=1e-9)
    assert normal.p == pytest.approx(2 * stats.norm.sf(abs(b / se)), abs=1e-12)
    assert normal.ci_high - normal.ci_low < res.ci_high - res.ci_low


def test_did_unknown_inference_is_refused():
    df = _panel(14)
    with pytest.raises(ValidationError, match="inference"):
        did_counts(df, ["A000"], ["A010"], start="2019-01", inference="bootstrap")


def test_few_target_areas_are_warned_about_in_the_direction_of_the_error():
    df = _panel(15, n_areas=12)  # 3 target areas
    target = sorted(df.loc[df["treated"], "area_id"].unique())
    control = sorted(df.loc[~df["treated"], "area_id"].unique())
    assert len(target) == 3
    t = did_counts(df, target, control, start="2019-01", placebo_starts=[], inference="t")
    assert any("3 target area(s)" in w and "too narrow" in w for w in t.warnings)
    w = did_counts(df, target, control, start="2019-01", placebo_starts=[], inference="wild")
    assert any("3 target area(s)" in x and "conservative" in x for x in w.warnings)
    many = did_counts(
        _panel(16, n_areas=40), *_roles(_panel(16, n_areas=40)), start="2019-01", inference="t"
    )
    assert not any("target area(s)" in x for x in many.warnings)


def _roles(df: pd.DataFrame) -> tuple[list[str], list[str]]:
    return (
        sorted(df.loc[df["treated"], "area_id"].unique()),
        sorted(df.loc[~df["treated"], "area_id"].unique()),
    )


def test_empty_group_period_cell_is_refused_not_fitted():
    """Zero crimes in the control areas after the start: the Poisson MLE of the
    rate ratio is infinite, so no number may be reported (it used to show ~1e10)."""
    rows = []
    for area, is_target in (("t1", True), ("t2", True), ("c1", False), ("c2", False)):
        for m, month in enumerate(["2020-01", "2020-02", "2020-03", "2020-04", "2020-05"]):
            post = m >= 3
            n = 0 if (post and not is_target) else 4 + m
            rows.append({"area_id": area, "month": month, "n": n})
    counts = pd.DataFrame(rows)
    with pytest.raises(ValidationError, match=r"control after 2020-04.*not estimable"):
        did_counts(counts, ["t1", "t2"], ["c1", "c2"], start="2020-04")


def _one_target_robbery_panel() -> pd.DataFrame:
    """One target area with 2 robberies a month before and 1 after; five steady controls."""
    months = [f"2020-{m:02d}" for m in range(1, 9)]
    rows = []
    for m, month in enumerate(months):
        rows.append({"area_id": "T", "month": month, "n": 2 if m < 4 else 1})
        for c in range(5):
            rows.append({"area_id": f"C{c}", "month": month, "n": 3 + (m + c) % 3})
    return pd.DataFrame(rows)


def test_did_default_inference_is_the_engines_auto_rule():
    """Issue 11 item 10: the library's default is the CLI's honest one, not t(G-1).

    One target area, 2 -> 1 robberies a month: the cluster-robust t test reads
    that as strong evidence (tiny p), the wild bootstrap does not; the default
    must give the wild result, as `realimpact evaluate` does.
    """
    from realimpact.evaluation.did import FAMILIES, INFERENCE, did_inference

    df = _one_target_robbery_panel()
    kw = {"start": "2020-05", "placebo_starts": []}
    default = did_counts(df, ["T"], [f"C{c}" for c in range(5)], **kw)
    wild = did_counts(df, ["T"], [f"C{c}" for c in range(5)], inference="wild", **kw)
    t = did_counts(df, ["T"], [f"C{c}" for c in range(5)], inference="t", **kw)
    assert default.inference == "wild" == wild.inference
    assert (default.p, default.ci_low, default.ci_high) == (wild.p, wild.ci_low, wild.ci_high)
    assert default.estimate == t.estimate == pytest.approx(np.log(0.5), abs=0.2)
    assert t.p < 0.05 < default.p  # the t reading claims an effect the bootstrap does not
    # negative binomial: no bootstrap, so auto is t(G-1) there, as in the engine
    nb = did_counts(df, ["T"], [f"C{c}" for c in range(5)], family="negbin", **kw)
    assert nb.inference == "t" and nb.df == 5
    assert [did_inference("auto", f) for f in FAMILIES] == ["wild", "t"]
    assert INFERENCE == ("auto", "wild", "t", "normal")
    with pytest.raises(ValidationError, match="inference"):
        did_inference("bootstrap", "poisson")
