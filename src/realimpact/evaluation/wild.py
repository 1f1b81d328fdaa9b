"""Wild cluster score bootstrap (restricted) for a Poisson two-way fixed-effects slope.

Why: a difference-in-differences on a real operation has few *treated* areas
(8 target areas in the default simulated city), and cluster-robust Wald tests
over-reject when the treated clusters are few, even read with t(G-1)
(MacKinnon and Webb 2017, J. Applied Econometrics 32(2); 2018, Econometrics
Journal 21(2), "The wild bootstrap for few (treated) clusters"). The wild
cluster bootstrap with the null imposed (WCR) is their remedy; for a
maximum-likelihood model such as Poisson the cheap form perturbs the scores
instead of re-fitting (Kline and Santos 2012, J. Econometric Methods 1(1),
"A score based approach to wild bootstrap inference"; Roodman, MacKinnon,
Nielsen and Webb 2019, Stata Journal 19(1), ``boottest``).

For H0: beta = b0 the model is fitted with ``b0 * x`` as an offset (area and
month effects only; closed under iterative proportional fitting), the
regressor is partialled out of the fixed effects with the restricted weights
``mu0`` (Frisch-Waugh-Lovell), and the cluster scores are
``S_g = sum_i x~_i (y_i - mu0_i)``. The statistic is the cluster-robust score
statistic ``sum S_g / sqrt(sum S_g^2)``; each bootstrap draw multiplies the
scores of a whole cluster by a Webb six-point weight ``v_g``. The p-value is
the share of draws at least as extreme. The interval is the set of ``b0`` not
rejected, found by root search with the same draws for every ``b0`` (so the
p-value moves smoothly in ``b0``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from realimpact.errors import ValidationError
from realimpact.evaluation.fixed_effects import demean

__all__ = ["WildResult", "webb_weights", "wild_score_bootstrap", "wild_score_test"]

# Webb (2014, Queen's Economics Working Paper 1315) six-point distribution:
# mean 0, variance 1, and 6^G distinct sign patterns instead of Rademacher's 2^G.
_WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])


def webb_weights(n_draws: int, n_clusters: int, seed: int) -> np.ndarray:
    """(n_draws, n_clusters) Webb six-point weights from a seeded generator."""
    rng = np.random.default_rng(seed)
    return _WEBB[rng.integers(0, 6, size=(n_draws, n_clusters))]


@dataclass(frozen=True)
class WildResult:
    """Wild cluster restricted score bootstrap for one slope.

    Attributes
    ----------
    p : float
        Bootstrap p-value of H0: beta = 0 (two-sided, symmetric).
    ci_low, ci_high : float
        Interval by test inversion (beta values the bootstrap does not reject at
        1 - level); NaN where the search found no bound.
    draws : int
        Bootstrap draws (Webb weights, one per cluster per draw).
    n_clusters : int
    seed : int
    """

    p: float
    ci_low: float
    ci_high: float
    draws: int
    n_clusters: int
    seed: int


def _restricted_mu(
    y: np.ndarray, off: np.ndarray, a: np.ndarray, t: np.ndarray, na: int, nt: int
) -> np.ndarray:
    """Two-way Poisson fit with a fixed offset by iterative proportional fitting.

    The area and month sums of the fitted means equal those of the counts at
    the maximum likelihood; alternating those two scalings converges to it.
    """
    ya = np.bincount(a, weights=y, minlength=na)
    yt = np.bincount(t, weights=y, minlength=nt)
    la, lt = np.zeros(na), np.zeros(nt)
    e = np.exp(off)
    for _ in range(10_000):
        ma = np.bincount(a, weights=e * np.exp(lt[t]), minlength=na)
        new_la = np.log(ya) - np.log(ma)
        mt = np.bincount(t, weights=e * np.exp(new_la[a]), minlength=nt)
        new_lt = np.log(yt) - np.log(mt)
        step = max(np.max(np.abs(new_la - la)), np.max(np.abs(new_lt - lt)))
        la, lt = new_la, new_lt
        if step < 1e-12:
            break
    return np.exp(la[a] + lt[t] + off)


class _Problem:
    """The data of one test, set up once; ``stat(b0)`` is cheap."""

    def __init__(
        self,
        y: np.ndarray,
        x: np.ndarray,
        area: Sequence,
        month: Sequence,
        cluster: Sequence,
        draws: int,
        seed: int,
    ) -> None:
        y = np.asarray(y, dtype=float)
        x = np.asarray(x, dtype=float)
        a, ua = pd.factorize(np.asarray(area), sort=False)
        t, ut = pd.factorize(np.asarray(month), sort=False)
        # Areas or months with no counts at all have a fixed effect of -inf and
        # carry no information: drop them, as the fit does.
        keep = (np.bincount(a, weights=y, minlength=len(ua)) > 0)[a]
        keep &= (np.bincount(t, weights=y, minlength=len(ut)) > 0)[t]
        self.y, self.x = y[keep], x[keep]
        self.a, _ = pd.factorize(a[keep], sort=False)
        self.t, _ = pd.factorize(t[keep], sort=False)
        self.na, self.nt = int(self.a.max()) + 1, int(self.t.max()) + 1
        self.g, gu = pd.factorize(np.asarray(cluster)[keep], sort=False)
        self.G = len(gu)
        if self.G < 2:
            raise ValidationError("the wild bootstrap needs at least 2 clusters", source="cluster")
        self.v = webb_weights(draws, self.G, seed)

    def scores(self, b0: float) -> np.ndarray:
        mu0 = _restricted_mu(self.y, b0 * self.x, self.a, self.t, self.na, self.nt)
        xt = demean(self.x, [self.a, self.t], mu0)
        return np.bincount(self.g, weights=xt * (self.y - mu0), minlength=self.G)

    def pvalue(self, b0: float) -> float:
        s = self.scores(b0)
        den = np.sqrt(np.sum(s * s))
        if den == 0:
            return 1.0
        stat = abs(s.sum()) / den
        vs = self.v * s
        boot = np.abs(vs.sum(axis=1)) / np.sqrt(np.sum(vs * vs, axis=1))
        # Ties count half each side, so a discrete null distribution is not conservative.
        return float((np.sum(boot > stat) + 0.5 * np.sum(boot == stat) + 1) / (len(boot) + 1))


def wild_score_test(
    y: np.ndarray,
    x: np.ndarray,
    area: Sequence,
    month: Sequence,
    *,
    b0: float = 0.0,
    cluster: Sequence | None = None,
    draws: int = 999,
    seed: int = 0,
) -> float:
    """Bootstrap p-value of H0: beta = ``b0`` (clusters default to the areas)."""
    prob = _Problem(y, x, area, month, area if cluster is None else cluster, draws, seed)
    return prob.pvalue(b0)


def wild_score_bootstrap(
    y: np.ndarray,
    x: np.ndarray,
    area: Sequence,
    month: Sequence,
    *,
    estimate: float,
    se: float,
    cluster: Sequence | None = None,
    level: float = 0.95,
    draws: int = 999,
    seed: int = 0,
) -> WildResult:
    """p-value for beta = 0 and an interval by inverting the bootstrap test.

    ``estimate`` and ``se`` (the Wald fit) only seed the root search for the
    interval bounds; the bounds themselves come from the bootstrap.
    """
    prob = _Problem(y, x, area, month, area if cluster is None else cluster, draws, seed)
    alpha = 1.0 - level
    p0 = prob.pvalue(0.0)
    step = se if np.isfinite(se) and se > 0 else 1.0

    # p moves in steps of 1/(draws + 1); "not rejected" is p >= alpha (the engine
    # claims an effect at p < alpha), so aim between that step and the next.
    half = 0.5 / (draws + 1)

    def f(b: float) -> float:
        return prob.pvalue(b) - (alpha - half)

    bounds = []
    for sign in (-1.0, 1.0):
        inner, outer = estimate, estimate + sign * 2.0 * step
        found = False
        for _ in range(8):
            if f(outer) < 0:
                found = True
                break
            inner, outer = outer, estimate + 2.0 * (outer - estimate)
        if not found or f(inner) < 0:
            bounds.append(float("nan"))
            continue
        lo_, hi_ = sorted((inner, outer))
        bounds.append(float(optimize.brentq(f, lo_, hi_, xtol=1e-4 * step)))
    return WildResult(p0, bounds[0], bounds[1], draws, prob.G, seed)
