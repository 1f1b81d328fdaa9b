"""``realimpact plan power``: the smallest harm reduction the planned design could detect.

Home Office (2003) Disrupting crack markets, (4.3) asks for the evaluation to be built before the operation; part
of that is knowing whether it *can* show anything. From the baseline counts of
an outcome indicator in the target and control areas we fit the count model
the evaluation will use, simulate the planned panel (baseline months, then the
follow-up months) with a given reduction in the target areas, fit the
difference-in-differences to every simulated panel, and report the smallest
reduction detected (two-sided test at level ``alpha``, estimate negative) in at
least ``power`` of the simulations.

The model
    y_it ~ NegBin(mu_it, alpha) (Poisson when there is no over-dispersion),
    log mu_it = a_i + g_t + beta * D_it,  D_it = target area i and follow-up month t,
with area effects ``a_i`` and month effects ``g_t`` fitted on the baseline
(Poisson two-way fixed effects), follow-up month effects taken from the same
calendar month of the baseline (seasonality) or their mean, and dispersion by
the Cameron and Trivedi (1990) auxiliary regression,
``alpha = sum((y - mu)^2 - y) / sum(mu^2)``.

Each simulated panel is fitted by Poisson quasi-maximum likelihood with area
and month fixed effects (consistent under over-dispersion), vectorised over
simulations: block coordinate ascent, where each area, month and treatment
block has the exact update ``b += log(sum y / sum mu)``; standard errors come
from the fixed-effects-partialled regressor (Frisch-Waugh-Lovell with weights
mu): model-based, quasi-Poisson (Pearson scale) or clustered by area with
statsmodels' small-sample correction, the last read with t(areas - 1) as the
evaluation reads it. Tests check estimates and standard errors against
``statsmodels`` GLM with dummies.

Plans without control areas (or with ``design: its``) are sized as an
interrupted time series of the target areas' total: the segmented Poisson
regression of Bernal, Cummins and Gasparrini (2017) with level and trend
change and Fourier seasonality, baseline trend and seasonality carried into the
follow-up, the level change tested with quasi-Poisson errors.

Simulations share random numbers across the reductions tried (common random
numbers: counts are drawn once and a reduction thins the treated cells), so the
power curve is smooth in the reduction and the search for the minimum
detectable effect is a plain bisection. The same ``seed`` gives the same answer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from realimpact.errors import ValidationError
from realimpact.plans.model import Indicator, Plan, Window, load_plan
from realimpact.store import Store

SE_TYPES = ("auto", "model", "quasi", "cluster")
#: fewest areas for which "auto" trusts cluster-robust errors
MIN_CLUSTERS = 20


# -- the vectorised Poisson two-way fixed-effects DiD ---------------------------------
@dataclass
class DidFit:
    """Poisson fixed-effects DiD fitted to ``S`` panels at once.

    Attributes
    ----------
    beta, se, z, p : arrays of shape (S,): log rate ratio of the treated cells, its
        standard error, Wald statistic and two-sided p-value (normal reference, as
        statsmodels; t with areas - 1 df for clustered errors, as the evaluation).
    mu : fitted means (S, A, T). converged : bool array (S,). iterations : int.
    """

    beta: np.ndarray
    se: np.ndarray
    z: np.ndarray
    p: np.ndarray
    mu: np.ndarray
    converged: np.ndarray
    iterations: int


def fit_did_poisson(
    y: np.ndarray,
    treated: np.ndarray,
    *,
    se: str = "model",
    tol: float = 1e-10,
    max_iter: int = 20000,
) -> DidFit:
    """Fit ``log mu_it = a_i + g_t + beta D_it`` by Poisson (Q)ML to each panel in ``y``.

    ``y``: counts, shape (A, T) or (S, A, T); ``treated``: 0/1 array (A, T).
    ``se``: ``model`` (Poisson information), ``quasi`` (scaled by Pearson chi2/(N-K))
    or ``cluster`` (by area, with the G/(G-1)*(N-1)/(N-K) correction statsmodels uses).
    """
    y = np.asarray(y, dtype=float)
    single = y.ndim == 2
    if single:
        y = y[None]
    d = np.asarray(treated, dtype=bool)
    if d.shape != y.shape[1:]:
        raise ValidationError(f"treated has shape {d.shape}, counts per panel {y.shape[1:]}")
    if not d.any() or d.all():
        raise ValidationError("treated must mark some but not all area-months")
    s_, a_, t_ = y.shape
    df = d.astype(float)
    row_tot = y.sum(axis=2)
    col_tot = y.sum(axis=1)
    d_tot = (y * df).sum(axis=(1, 2))
    # Work on mu directly: every block update is a multiplication, so no exp() in the loop.
    mu = np.broadcast_to((row_tot / t_)[:, :, None] + 1e-12, y.shape).copy()
    b = np.zeros(s_)
    it, worst = 0, np.inf
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        ra = _ratio(row_tot, mu.sum(axis=2))
        mu *= ra[:, :, None]
        rg = _ratio(col_tot, mu.sum(axis=1))
        mu *= rg[:, None, :]
        rb = _ratio(d_tot, (mu * df).sum(axis=(1, 2)))
        mu *= np.where(d, rb[:, None, None], 1.0)
        with np.errstate(divide="ignore"):
            b += np.log(rb)
        worst = max(_dev(ra, row_tot), _dev(rg, col_tot), _dev(rb, d_tot))
        if worst < tol:
            break
    converged = np.full(s_, worst < tol)

    # Partial the fixed effects out of D with weights mu (alternating projections).
    r = np.broadcast_to(df, mu.shape).copy()
    w_row = np.maximum(mu.sum(axis=2, keepdims=True), 1e-300)
    w_col = np.maximum(mu.sum(axis=1, keepdims=True), 1e-300)
    for _ in range(max_iter):
        step = (mu * r).sum(axis=2, keepdims=True) / w_row
        r -= step
        step2 = (mu * r).sum(axis=1, keepdims=True) / w_col
        r -= step2
        if max(np.abs(step).max(), np.abs(step2).max()) < tol:
            break
    # A panel whose treated cells are all zero has beta = -inf (no finite MLE); like a
    # Wald test from any GLM routine it cannot reject: z and p are NaN, counted as no.
    with np.errstate(divide="ignore", invalid="ignore"):
        info = (mu * r * r).sum(axis=(1, 2))
        n_obs, k = a_ * t_, a_ + t_  # a_i, g_t (T-1 free) and beta
        if se == "model":
            var = 1.0 / info
        elif se == "quasi":
            pearson = ((y - mu) ** 2 / np.maximum(mu, 1e-300)).sum(axis=(1, 2))
            var = pearson / (n_obs - k) / info
        elif se == "cluster":
            score = (r * (y - mu)).sum(axis=2)  # (S, A): one cluster per area
            corr = (a_ / (a_ - 1.0)) * ((n_obs - 1.0) / (n_obs - k))
            var = corr * (score**2).sum(axis=1) / info**2
        else:
            raise ValidationError(f"se: {se!r} is not one of model, quasi, cluster")
        sd = np.sqrt(var)
        z = np.where(np.isfinite(b), b / sd, np.nan)
        # Clustered errors are read with t(G - 1), as the evaluation reads them
        # (evaluation/did.py): with few areas a normal reference overstates power.
        ref = stats.t(a_ - 1) if se == "cluster" else stats.norm
        p = 2 * ref.sf(np.abs(z))
    return DidFit(beta=b, se=sd, z=z, p=p, mu=mu, converged=converged, iterations=it)


def _ratio(total: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    """total / fitted, 0 where the block has no counts (its MLE effect is minus infinity)."""
    return np.divide(total, fitted, out=np.zeros_like(fitted), where=(total > 0) & (fitted > 0))


def _dev(ratio: np.ndarray, total: np.ndarray) -> float:
    """Largest |log ratio| over blocks with counts: zero at the MLE."""
    live = total > 0
    return float(np.abs(np.log(ratio[live])).max()) if live.any() else 0.0


def fit_twoway_poisson(y: np.ndarray, tol: float = 1e-12, max_iter: int = 20000) -> np.ndarray:
    """Fitted means of ``log mu_it = a_i + g_t`` (no treatment): the baseline model.

    For this model the Poisson MLE has a closed form, row total x column total /
    grand total (the independence model of a two-way table).
    """
    y = np.asarray(y, dtype=float)
    return np.outer(y.sum(axis=1), y.sum(axis=0)) / y.sum()


def dispersion(y: np.ndarray, mu: np.ndarray) -> float:
    """NB2 over-dispersion by the Cameron-Trivedi auxiliary regression (0 = Poisson)."""
    y, mu = np.asarray(y, float), np.asarray(mu, float)
    return max(0.0, float(((y - mu) ** 2 - y).sum() / (mu**2).sum()))


# -- interrupted time series (a target series without controls) ---------------------
def its_design_matrix(months: list[str], start: str, harmonics: int = 2) -> np.ndarray:
    """Columns const, time, post, time_since, then sin/cos of 2 pi k m / 12 (k <= harmonics).

    The segmented regression of Bernal, Cummins and Gasparrini (2017): level change
    ``post`` and trend change ``time_since`` at ``start``, Fourier seasonality; the
    same layout as the evaluation's ITS. Seasonal columns constant in the window go.
    """
    idx = np.array([int(m[:4]) * 12 + int(m[5:7]) - 1 for m in months], dtype=float)
    t0 = int(start[:4]) * 12 + int(start[5:7]) - 1
    cols = [np.ones_like(idx), idx - idx[0], (idx >= t0).astype(float), np.maximum(idx - t0, 0)]
    moy = idx % 12
    for k in range(1, harmonics + 1):
        for f in (np.sin, np.cos):
            c = f(2 * np.pi * k * moy / 12)
            if c.std() > 1e-12:
                cols.append(c)
    return np.column_stack(cols)


def fit_poisson_glm(
    y: np.ndarray, x: np.ndarray, *, se: str = "quasi", tol: float = 1e-10, max_iter: int = 100
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poisson GLM (log link) fitted by IRLS to each row of ``y`` (S, T) at once.

    Returns (params (S, p), standard errors (S, p), fitted means (S, T)); ``se`` is
    ``model`` or ``quasi`` (Pearson chi2 / (T - p)), as statsmodels' GLM.
    """
    y = np.atleast_2d(np.asarray(y, dtype=float))
    n, k = x.shape
    eta = np.log(y + 0.5)
    beta = np.zeros((y.shape[0], k))
    ridge = 1e-12 * np.eye(k)  # only matters when a series' weights vanish
    for _ in range(max_iter):
        mu = np.exp(eta)
        z = eta + (y - mu) / mu
        xtwx = np.einsum("tp,st,tq->spq", x, mu, x) + ridge
        xtwz = np.einsum("tp,st->sp", x, mu * z)
        new = np.linalg.solve(xtwx, xtwz[..., None])[..., 0]
        done = np.abs(new - beta).max() < tol
        beta = new
        # A segment of zeros has no finite MLE; bounding eta keeps the weights positive
        # so such a series ends with a huge, non-significant coefficient, as in statsmodels.
        eta = np.clip(beta @ x.T, -30.0, 30.0)
        if done:
            break
    mu = np.exp(eta)
    cov = np.linalg.inv(np.einsum("tp,st,tq->spq", x, mu, x) + ridge)
    var = np.diagonal(cov, axis1=1, axis2=2).copy()
    if se == "quasi":
        var *= (((y - mu) ** 2 / mu).sum(axis=1) / (n - k))[:, None]
    elif se != "model":
        raise ValidationError(f"se: {se!r} is not one of model, quasi (for design its)")
    return beta, np.sqrt(var), mu


def _family(y0: np.ndarray, mu0: np.ndarray, family: str) -> tuple[float, str]:
    """(NB2 dispersion, family): negbin only when asked for or found in the baseline."""
    alpha_nb = dispersion(y0, mu0) if family in ("auto", "negbin") else 0.0
    return alpha_nb, "negbin" if alpha_nb > 0 else "poisson"


def _draw_null_counts(
    mu: np.ndarray, n_sims: int, alpha_nb: float, fam: str, seed: int
) -> tuple[np.ndarray, int]:
    """``n_sims`` count draws with no effect, and the seed that thins them.

    Counts without an effect are drawn once; a reduction r thins the treated cells,
    Binomial(y, 1 - r), which is exactly Poisson(lam (1 - r)) given the gamma mixing.
    Thinning with the same generator state for every r keeps the draws coupled
    (common random numbers), so power rises smoothly with r.
    """
    rng = np.random.default_rng(seed)
    shape = (n_sims, *mu.shape)
    mix = (rng.gamma(1.0 / alpha_nb, alpha_nb, size=shape) if fam == "negbin"
           else np.ones(shape))  # fmt: skip
    y_full = rng.poisson(mu * mix)
    return y_full, int(rng.integers(2**63 - 1))


def simulate_power_its(
    baseline: np.ndarray,
    baseline_months: list[str],
    follow_up_months: list[str],
    *,
    reductions: np.ndarray,
    n_sims: int = 200,
    alpha: float = 0.05,
    se: str = "quasi",
    family: str = "auto",
    seed: int = 0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Power to detect a level fall in one monthly series (segmented regression).

    The baseline trend and seasonality (fitted by Poisson regression) are carried
    into the follow-up; the follow-up is multiplied by ``1 - r``; each simulated series
    is fitted with level and trend change, and the level change tested.
    """
    y0 = np.asarray(baseline, dtype=float)
    months = list(baseline_months) + list(follow_up_months)
    x_all = its_design_matrix(months, follow_up_months[0])
    base_cols = [0, 1, *range(4, x_all.shape[1])]  # without post and time_since
    x0 = x_all[: len(baseline_months)][:, base_cols]
    b0, _, mu0 = fit_poisson_glm(y0[None], x0, se="model")
    alpha_nb, fam = _family(y0, mu0[0], family)
    mu_all = np.exp(x_all[:, base_cols] @ b0[0])
    post = np.arange(len(months)) >= len(baseline_months)
    y_full, thin_seed = _draw_null_counts(mu_all, n_sims, alpha_nb, fam, seed)
    powers = []
    for r in np.asarray(reductions, dtype=float):
        y = y_full.copy()
        if r > 0:
            y[:, post] = np.random.default_rng(thin_seed).binomial(y_full[:, post], 1.0 - r)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            beta, sd, _ = fit_poisson_glm(y, x_all, se=se)
            p = 2 * stats.norm.sf(np.abs(beta[:, 2] / sd[:, 2]))
        powers.append(float(((p < alpha) & (beta[:, 2] < 0)).mean()))
    details = {
        "family": fam,
        "dispersion": alpha_nb,
        "baseline_per_month": float(y0.mean()),
    }
    return np.array(powers), details


# -- the power calculation -------------------------------------------------------------
# Fewest baseline months with data a power calculation runs on (a seasonal
# two-harmonic ITS has 8 parameters; fewer months than that fit nothing).
MIN_BASELINE_MONTHS = 6


def _month_list(months: list[str], shown: int = 6) -> str:
    head = ", ".join(months[:shown])
    return head + (f" and {len(months) - shown} more" if len(months) > shown else "")


@dataclass
class PowerResult:
    """Minimum detectable reduction of one plan indicator (see the module docstring).

    Attributes
    ----------
    mde : smallest relative reduction (0-1) in the target areas' expected counts over
        the follow-up detected with probability >= ``power``; None if not even
        ``max_reduction`` is.
    mde_per_month : the reduction in expected target-area counts per follow-up month
        at ``mde``. baseline_per_month : expected target counts per month (baseline mean).
    size : share of simulations rejecting when there is no effect (should be near
        ``alpha``; far above it means the standard errors are too small).
    curve : ``[{"reduction", "power"}]`` on a grid, for the report.
    family : ``poisson`` or ``negbin``; dispersion : NB2 alpha (0 for Poisson).
    """

    plan_id: str | None
    indicator: str
    design: str
    se_type: str
    family: str
    dispersion: float
    n_target: int
    n_control: int
    baseline: Window
    follow_up_months: int
    baseline_per_month: float
    mde: float | None
    mde_per_month: float | None
    size: float
    power: float
    alpha: float
    n_sims: int
    seed: int
    curve: list[dict[str, float]] = field(default_factory=list)
    dropped_areas: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["baseline"] = self.baseline.to_dict()
        return d


def _pick_indicator(plan: Plan, indicator: str | None) -> Indicator:
    if indicator is not None:
        ind = plan.indicator(indicator)
    else:
        cands = [i for i in plan.indicators if i.kind == "outcome" and i.table and i.baseline]
        if not cands:
            raise ValidationError(
                f"{plan.path or plan.id}: no outcome indicator with police.uk data and a baseline"
                " to compute power for (give --indicator)"
            )
        ind = cands[0]
    if ind.table is None:
        raise ValidationError(
            f"indicators.{ind.id}: power needs counts from the store (police_uk or stop_search),"
            f" not {ind.source}"
        )
    if ind.baseline is None:
        raise ValidationError(f"indicators.{ind.id}.baseline: missing; power is computed from it")
    return ind


def simulate_power(
    baseline: np.ndarray,
    baseline_months: list[str],
    follow_up_months: list[str],
    is_target: np.ndarray,
    *,
    reductions: np.ndarray,
    n_sims: int = 200,
    alpha: float = 0.05,
    se: str = "quasi",
    family: str = "auto",
    seed: int = 0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Power at each reduction in ``reductions`` for a baseline panel (areas x months).

    Library core of :func:`plan_power`, on plain arrays so it is testable without a
    store. Returns (power per reduction, details of the fitted model).
    """
    y0 = np.asarray(baseline, dtype=float)
    is_target = np.asarray(is_target, dtype=bool)
    mu0 = fit_twoway_poisson(y0)
    alpha_nb, fam = _family(y0, mu0, family)
    # Area and month effects of the baseline fit (log scale).
    log_row = np.log(mu0.sum(axis=1))
    log_col = np.log(mu0.sum(axis=0)) - np.log(mu0.sum())
    by_cal: dict[str, list[float]] = {}
    for m, g in zip(baseline_months, log_col, strict=True):
        by_cal.setdefault(m[5:7], []).append(g)
    post_g = np.array([np.mean(by_cal.get(m[5:7], log_col)) for m in follow_up_months])
    g_all = np.concatenate([log_col, post_g])
    mu_sim = np.exp(log_row[:, None] + g_all[None, :])  # (A, T)
    n_pre, n_post = len(baseline_months), len(follow_up_months)
    treated = np.zeros(mu_sim.shape, dtype=bool)
    treated[np.ix_(is_target, np.arange(n_pre, n_pre + n_post))] = True

    y_full, thin_seed = _draw_null_counts(mu_sim, n_sims, alpha_nb, fam, seed)
    treated_counts = y_full[:, treated]
    powers = []
    for r in np.asarray(reductions, dtype=float):
        y = y_full.copy()
        if r > 0:
            y[:, treated] = np.random.default_rng(thin_seed).binomial(treated_counts, 1.0 - r)
        fit = fit_did_poisson(y, treated, se=se)
        hit = (fit.p < alpha) & (fit.beta < 0)
        powers.append(float(hit.mean()))
    details = {
        "family": fam,
        "dispersion": alpha_nb,
        "baseline_per_month": float(mu0[is_target].sum() / n_pre),
        "treated": treated,
    }
    return np.array(powers), details


def plan_power(
    plan: Plan | str | os.PathLike,
    store: Store,
    *,
    indicator: str | None = None,
    n_sims: int = 200,
    power: float = 0.8,
    alpha: float = 0.05,
    se: str = "auto",
    seed: int = 0,
    max_reduction: float = 0.95,
    force: str | None = None,
) -> PowerResult:
    """Minimum detectable reduction for a plan's outcome indicator (see module docstring).

    Baseline months the store holds no data for (for ``force``, if given) are
    left out of the simulated panel with a note -- never counted as zero; with
    fewer than ``MIN_BASELINE_MONTHS`` months left the calculation refuses.
    """
    from realimpact.plans.storedata import area_month_panel, baseline_months_held

    if not isinstance(plan, Plan):
        plan = load_plan(plan, strict=True)
    if se not in SE_TYPES:
        raise ValidationError(f"se: {se!r} is not one of {', '.join(SE_TYPES)}")
    for option, value in (("--power", power), ("--alpha", alpha)):
        if not 0 < value < 1:
            raise ValidationError(f"{option}: {value:g} must lie strictly between 0 and 1")
    if n_sims < 20:
        raise ValidationError(f"sims: {n_sims} is too few (use 20 or more)")
    ind = _pick_indicator(plan, indicator)
    areas = plan.areas
    if not areas.target:
        raise ValidationError(f"{plan.path or plan.id}: areas.target: none to compute power for")
    follow = plan.follow_up_of(ind)
    if follow is None:
        raise ValidationError(f"indicators.{ind.id}.follow_up: missing (and no start/end)")
    notes: list[str] = []
    controlled = plan.effective_design in ("did", "wdd")
    design = "did" if areas.control and controlled else "its"
    if design == "its" and controlled:
        notes.append("no control areas: sized as an interrupted time series of the target areas")
    if design == "did" and plan.effective_design == "wdd":
        notes.append(
            "design wdd: sized as a difference-in-differences of the same target and control"
            " areas (the panel the WDD's counts come from)"
        )
    ids = list(dict.fromkeys(areas.target + (areas.control if design == "did" else [])))
    base_months, absent = baseline_months_held(store, ind, force=force)
    if absent:
        notes.append(
            f"{len(absent)} baseline month(s) with no {ind.table} data in the store"
            f" ({_month_list(absent)}): left out of the baseline, not counted as zero"
        )
    if len(base_months) < MIN_BASELINE_MONTHS:
        raise ValidationError(
            f"indicators.{ind.id}.baseline: only {len(base_months)} of its"
            f" {ind.baseline.n_months} months have {ind.table} data in the store"
            f" (missing: {_month_list(absent)}); power needs at least"
            f" {MIN_BASELINE_MONTHS} months with data, and a missing month is not a zero"
        )
    panel = area_month_panel(store, areas.layer, ind, ids, base_months, force=force)
    wide = panel.pivot(index="area_id", columns="month", values="n").reindex(index=ids)
    months = list(wide.columns)
    dropped: list[str] = []
    if design == "its":
        series = wide.sum(axis=0).to_numpy(dtype=float)
        if series.sum() == 0:
            raise ValidationError(
                f"indicators.{ind.id}.baseline: no records in the target areas in "
                f"{ind.baseline.start}..{ind.baseline.end} to compute power"
            )
        se_used = "quasi" if se in ("auto", "cluster") else se
        if se == "cluster":
            notes.append("one series has no clusters: quasi-Poisson errors used")
        n_target, n_control = len(ids), 0

        def run(rs: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
            return simulate_power_its(
                series,
                months,
                follow.months,
                reductions=rs,
                n_sims=n_sims,
                alpha=alpha,
                se=se_used,
                seed=seed,
            )

    else:
        totals = wide.sum(axis=1)
        dropped = [a for a in ids if totals[a] == 0]
        keep = [a for a in ids if totals[a] > 0]
        is_target = np.array([a in set(areas.target) for a in keep])
        if dropped:
            notes.append(f"areas with no baseline records left out: {', '.join(dropped)}")
        if not is_target.any() or is_target.all():
            raise ValidationError(
                f"indicators.{ind.id}.baseline: target and control areas both need records in "
                f"{ind.baseline.start}..{ind.baseline.end} to compute power"
            )
        se_used = se
        if se == "auto":
            se_used = "cluster" if len(keep) >= MIN_CLUSTERS else "quasi"
            if se_used == "quasi":
                notes.append(
                    f"{len(keep)} areas are too few for cluster-robust errors; quasi-Poisson"
                    " errors used (they ignore correlation between months of an area)"
                )
        y0 = wide.loc[keep].to_numpy(dtype=float)
        n_target, n_control = int(is_target.sum()), int((~is_target).sum())

        def run(rs: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
            return simulate_power(
                y0,
                months,
                follow.months,
                is_target,
                reductions=rs,
                n_sims=n_sims,
                alpha=alpha,
                se=se_used,
                seed=seed,
            )

    grid = np.round(np.arange(0.0, max_reduction + 1e-9, 0.05), 2)
    curve, details = run(grid)
    mde: float | None = None
    if curve[-1] >= power:
        j = 1 + int(np.nonzero(curve[1:] >= power)[0][0])
        lo, hi = float(grid[j - 1]), float(grid[j])
        for _ in range(8):  # bisection to 0.05/256
            mid = (lo + hi) / 2
            if run(np.array([mid]))[0][0] >= power:
                hi = mid
            else:
                lo = mid
        mde = hi
    else:
        notes.append(
            f"even a {max_reduction:.0%} reduction is detected in only {curve[-1]:.0%} of"
            " simulations: the planned design cannot show an effect on this indicator"
        )
    base = details["baseline_per_month"]
    return PowerResult(
        plan_id=plan.id, indicator=ind.id, design=design, se_type=se_used,
        family=details["family"], dispersion=details["dispersion"],
        n_target=n_target, n_control=n_control,
        baseline=ind.baseline, follow_up_months=follow.n_months,
        baseline_per_month=base, mde=mde, mde_per_month=None if mde is None else mde * base,
        size=float(curve[0]), power=power, alpha=alpha, n_sims=n_sims, seed=seed,
        curve=[{"reduction": float(r), "power": float(p)}
               for r, p in zip(grid, curve, strict=True)],
        dropped_areas=dropped, notes=notes,
    )  # fmt: skip
