"""`realimpact plan power`: the vectorised DiD against statsmodels, power against theory."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
import yaml
from scipy import stats
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

from realimpact.errors import ValidationError
from realimpact.plans.model import Indicator, Window, load_plan
from realimpact.plans.power import (
    dispersion,
    fit_did_poisson,
    fit_poisson_glm,
    fit_twoway_poisson,
    its_design_matrix,
    plan_power,
    simulate_power,
)
from realimpact.store import Store

EXAMPLE = (
    Path(__file__).resolve().parents[1] / "examples" / "plans" / "city-of-london-lockdown-2020.yaml"
)


def _panel(seed: int, a_: int = 7, t_: int = 18, n_treated: int = 3, post: int = 12):
    rng = np.random.default_rng(seed)
    a = rng.normal(1.5, 0.6, a_)
    g = rng.normal(0, 0.3, t_)
    d = np.zeros((a_, t_), dtype=bool)
    d[:n_treated, post:] = True
    mu = np.exp(a[:, None] + g[None, :] - 0.25 * d)
    y = rng.negative_binomial(4, 4 / (4 + mu))
    return y, d


def _statsmodels(y: np.ndarray, d: np.ndarray, se: str):
    a_, t_ = y.shape
    df = pd.DataFrame({
        "y": y.ravel(), "area": np.repeat(np.arange(a_), t_),
        "month": np.tile(np.arange(t_), a_), "D": d.ravel().astype(float),
    })  # fmt: skip
    model = smf.glm("y ~ C(area) + C(month) + D", df, family=sm.families.Poisson())
    if se == "model":
        return model.fit(tol=1e-13)
    if se == "quasi":
        return model.fit(scale="X2", tol=1e-13)
    return model.fit(cov_type="cluster", cov_kwds={"groups": df["area"].to_numpy()}, tol=1e-13)


@pytest.mark.parametrize("se", ["model", "quasi", "cluster"])
def test_did_matches_statsmodels_glm_with_dummies(se: str) -> None:
    # Independent implementation: statsmodels GLM Poisson with area and month dummies
    # (cluster: statsmodels' default small-sample correction). Tolerance 1e-6.
    panels = [_panel(s) for s in (1, 2, 3)]
    d = panels[0][1]
    fit = fit_did_poisson(np.stack([y for y, _ in panels]), d, se=se)
    for k, (y, _) in enumerate(panels):
        ref = _statsmodels(y, d, se)
        assert fit.beta[k] == pytest.approx(ref.params["D"], abs=1e-6)
        assert fit.se[k] == pytest.approx(ref.bse["D"], abs=1e-6)
        if se == "cluster":  # read with t(G - 1), G = areas, like the evaluation
            g = y.shape[0]
            p_ref = 2 * stats.t.sf(abs(ref.params["D"] / ref.bse["D"]), g - 1)
            assert fit.p[k] == pytest.approx(p_ref, abs=1e-6)
            assert fit.p[k] > ref.pvalues["D"]  # statsmodels' normal reference is smaller
        else:
            assert fit.p[k] == pytest.approx(ref.pvalues["D"], abs=1e-6)
    assert fit.converged.all()


def test_baseline_model_and_dispersion_match_statsmodels() -> None:
    y, _ = _panel(5)
    mu = fit_twoway_poisson(y)
    a_, t_ = y.shape
    df = pd.DataFrame({"y": y.ravel(), "area": np.repeat(np.arange(a_), t_),
                       "month": np.tile(np.arange(t_), a_)})  # fmt: skip
    ref = smf.glm("y ~ C(area) + C(month)", df, family=sm.families.Poisson()).fit(tol=1e-13)
    np.testing.assert_allclose(mu.ravel(), ref.fittedvalues, rtol=1e-7)
    # Cameron & Trivedi (1990) auxiliary regression, fitted by statsmodels OLS:
    # ((y - mu)^2 - y) / mu = alpha * mu + e, no constant.
    m = ref.fittedvalues.to_numpy()
    aux = sm.OLS(((df["y"] - m) ** 2 - df["y"]) / m, m).fit()
    assert dispersion(y, mu) == pytest.approx(max(0.0, aux.params.iloc[0]), rel=1e-7)


def test_simulated_power_agrees_with_the_wald_formula() -> None:
    # Poisson data, model-based errors: power(r) = Phi(|log(1-r)| / SE(r) - z_.975) with
    # SE(r) the Fisher-information standard error of beta, computed here by statsmodels
    # on the expected counts. The simulated power should match to Monte Carlo error.
    rng = np.random.default_rng(11)
    a_, pre = 6, 12
    base = np.exp(rng.normal(3.0, 0.3, a_))[:, None] * np.exp(rng.normal(0, 0.1, pre))[None, :]
    months = [f"2019-{m:02d}" for m in range(1, 13)]
    follow = [f"2020-{m:02d}" for m in range(1, 7)]
    is_target = np.array([True, True, False, False, False, False])
    r = 0.15
    sim, details = simulate_power(np.round(base), months, follow, is_target,
                                  reductions=np.array([0.0, r]), n_sims=1500, se="model",
                                  family="poisson", seed=3)  # fmt: skip
    # Expected counts of the simulated panel, from the fitted baseline model.
    mu0 = fit_twoway_poisson(np.round(base))
    g = np.log(mu0.sum(axis=0) / mu0.sum())
    post_g = np.array([g[int(m[5:]) - 1] for m in follow])
    mu = np.exp(np.log(mu0.sum(axis=1))[:, None] + np.concatenate([g, post_g])[None, :])
    treated = details["treated"]
    mu = mu * np.where(treated, 1 - r, 1.0)
    a_idx, t_idx = np.indices(mu.shape)
    df = pd.DataFrame({"y": mu.ravel(), "area": a_idx.ravel(), "month": t_idx.ravel(),
                       "D": treated.ravel().astype(float)})  # fmt: skip
    with warnings.catch_warnings():  # exact expected counts fit perfectly, by design
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        ref = smf.glm("y ~ C(area) + C(month) + D", df, family=sm.families.Poisson()).fit(tol=1e-13)
    se_r = ref.bse["D"]
    z = stats.norm.ppf(0.975)
    theory = stats.norm.cdf(-np.log(1 - r) / se_r - z)
    mc = np.sqrt(theory * (1 - theory) / 1500)
    assert 0.3 < theory < 0.9  # a point on the steep part of the curve
    assert sim[1] == pytest.approx(theory, abs=4 * mc + 0.01)
    assert sim[0] <= 0.025 + 4 * np.sqrt(0.025 * 0.975 / 1500)  # one-sided: reductions only


def test_same_seed_same_answer() -> None:
    y, _ = _panel(8, t_=12)
    months = [f"2019-{m:02d}" for m in range(1, 13)]
    follow = ["2020-01", "2020-02", "2020-03"]
    tgt = np.arange(y.shape[0]) < 3
    one = simulate_power(y, months, follow, tgt, reductions=np.array([0.3]), n_sims=50, seed=4)[0]
    two = simulate_power(y, months, follow, tgt, reductions=np.array([0.3]), n_sims=50, seed=4)[0]
    other = simulate_power(y, months, follow, tgt, reductions=np.array([0.2, 0.3, 0.6]),
                           n_sims=50, seed=5)[0]  # fmt: skip
    assert one[0] == two[0]
    assert other[0] <= other[1] <= other[2]


@pytest.fixture(scope="module")
def col_store(tmp_path_factory: pytest.TempPathFactory, shared: Path) -> Path:
    from realimpact.sources.police_uk import ingest_police_uk

    path = tmp_path_factory.mktemp("colp") / "col.duckdb"
    with Store(path) as st:
        assert ingest_police_uk([shared / "data" / "police_uk" / "city_of_london"], st).ok
    return path


def test_plan_power_on_the_city_of_london_plan(col_store: Path) -> None:
    with Store(col_store, read_only=True) as st:
        res = plan_power(EXAMPLE, st, indicator="violence-robbery-weapons", n_sims=60, seed=1)
        base = st.sql(
            "SELECT count(*) / 12.0 AS n FROM crimes WHERE lsoa_code = 'E01032739' AND month"
            " BETWEEN '2019-03' AND '2020-02' AND crime_type IN"
            " ('Violence and sexual offences', 'Robbery', 'Possession of weapons')"
        )["n"].iloc[0]
        with pytest.raises(ValidationError, match="stop and search records carry no LSOA code"):
            plan_power(EXAMPLE, st, indicator="drug-searches", n_sims=60)
        plan = load_plan(EXAMPLE)
        plan.indicators.append(
            Indicator(
                "residents", "outcome", "survey:residents", baseline=Window("2019-09", "2019-09")
            )
        )
        with pytest.raises(ValidationError, match="not survey:residents"):
            plan_power(plan, st, indicator="residents", n_sims=60)
    assert (res.n_target, res.n_control, res.follow_up_months) == (1, 2, 4)
    assert res.baseline_per_month == pytest.approx(base)
    assert res.mde is not None and 0.05 < res.mde < 0.95
    assert res.mde_per_month == pytest.approx(res.mde * base)
    powers = [c["power"] for c in res.curve]
    assert powers[-1] >= 0.8 and powers[0] < 0.2
    json.dumps(res.to_dict())


def test_cli_plan_power_json(col_store: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "realimpact", "plan", "power", str(EXAMPLE), "--sims", "40",
         "--store", str(col_store), "--json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    obj = json.loads(proc.stdout)
    assert obj["indicator"] == "drugs-crime" and obj["n_sims"] == 40
    bad = subprocess.run(
        [sys.executable, "-m", "realimpact", "plan", "power", str(EXAMPLE), "--indicator", "nope",
         "--store", str(col_store)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "indicator 'nope' is not in plan" in bad.stderr


def test_all_zero_treated_cells_cannot_reject() -> None:
    # No finite MLE exists (beta = -inf); a Wald test cannot reject, so power must not
    # count it. statsmodels on the same data drifts to a huge negative beta with a huge
    # standard error and a p-value near 1.
    y = np.array([[5, 6, 0, 0], [4, 5, 6, 5], [7, 8, 6, 9]])
    d = np.zeros(y.shape, dtype=bool)
    d[0, 2:] = True
    fit = fit_did_poisson(y, d, se="quasi")
    assert fit.beta[0] == -np.inf and np.isnan(fit.p[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = _statsmodels(y, d, "model")
    assert ref.params["D"] < -10 and ref.pvalues["D"] > 0.9
    with pytest.raises(ValidationError, match="some but not all"):
        fit_did_poisson(y, np.zeros(y.shape, dtype=bool))


@pytest.mark.parametrize("se", ["model", "quasi"])
def test_its_glm_matches_statsmodels(se: str) -> None:
    # Independent implementation: statsmodels GLM Poisson (scale="X2" for quasi), 1e-6.
    months = [f"{2018 + i // 12}-{i % 12 + 1:02d}" for i in range(30)]
    x = its_design_matrix(months, "2020-01")
    # const, time, post, time_since and sin/cos for two harmonics
    assert x.shape == (30, 8)
    assert x[:, 2].sum() == 6 and x[-1, 3] == 5
    rng = np.random.default_rng(2)
    y = rng.negative_binomial(6, 6 / (6 + 25 * np.exp(0.01 * np.arange(30))), size=(4, 30))
    beta, sd, _ = fit_poisson_glm(y, x, se=se)
    for k in range(4):
        ref = sm.GLM(y[k], x, family=sm.families.Poisson())
        ref = ref.fit(scale="X2", tol=1e-13) if se == "quasi" else ref.fit(tol=1e-13)
        np.testing.assert_allclose(beta[k], ref.params, atol=1e-6)
        np.testing.assert_allclose(sd[k], ref.bse, atol=1e-6)


def test_plan_without_controls_is_sized_as_its(col_store: Path) -> None:
    plan = load_plan(EXAMPLE)
    plan.areas.control = []
    with Store(col_store, read_only=True) as st:
        res = plan_power(plan, st, indicator="acquisitive-crime", n_sims=60, seed=2)
    assert res.design == "its" and res.n_control == 0
    assert any("interrupted time series" in n for n in res.notes)
    powers = [c["power"] for c in res.curve]
    assert powers[0] < 0.15 and powers[-1] > 0.8
    assert res.mde is not None and 0.05 < res.mde < 0.95


def test_power_and_validation_on_a_grid_layer(col_store: Path, tmp_path: Path) -> None:
    # A polygon layer: records are placed in cells by point-in-polygon the first time
    # (the store's assignment cache), which the CLI's store must allow.
    import shutil

    from typer.testing import CliRunner

    from realimpact.cli import app
    from realimpact.geo.areas import build_grid
    from realimpact.plans.validate import validate_plan
    from realimpact.store.queries import record_counts

    path = tmp_path / "grid.duckdb"
    shutil.copy(col_store, path)
    with Store(path) as st:
        build_grid(st, cell=500, layer="g500", extent=(530500, 180000, 534500, 182500))
        counts = record_counts(st, layer="g500", by=(), crime_types=["Drugs"])
    ranked = counts.sort_values("n", ascending=False)["area_id"].tolist()
    plan = load_plan(EXAMPLE)
    plan.areas.layer = "g500"
    plan.areas.target, plan.areas.buffer, plan.areas.control = ranked[:2], ranked[2:4], ranked[4:9]
    with Store(path) as st:
        result = validate_plan(plan, st, require_data=True)
    assert result.valid, result.lines()
    plan_file = tmp_path / "grid-plan.yaml"
    plan_file.write_text(yaml.safe_dump(plan.to_dict()), encoding="utf-8")
    r = CliRunner().invoke(
        app, ["plan", "power", str(plan_file), "--sims", "40", "--store", str(path), "--json"]
    )
    assert r.exit_code == 0, r.stderr
    obj = json.loads(r.stdout)
    assert (obj["n_target"], obj["n_control"]) == (2, 5) and obj["design"] == "did"
