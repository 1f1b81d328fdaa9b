"""Upper Poisson CUSUM for monthly counts, with a false-alarm rate that holds by construction.

Statistic (Lucas 1985, "Counted data CUSUM's", Technometrics 27(2):129-144):
``S_0 = 0``, ``S_t = max(0, S_{t-1} + x_t - k)`` over the monitored months, with
the reference value ``k = (mu1 - mu0) / (ln mu1 - ln mu0)`` that is optimal for
a Poisson step from ``mu0`` to ``mu1 = mu0 * (1 + shift)`` (default shift 0.5,
a 50 % rise). An alarm is raised in the first month with ``S_t > h``.

Threshold. The textbook CUSUM sets ``h`` for an in-control ARL at a *known*
``mu0``. Here ``mu0`` is estimated from a short baseline, and a chart tuned to
an underestimate cries wolf more often than its nominal rate (our
simulations of a chart tuned by the Markov chain to the estimated mean,
nominal 0.05: 0.085 to 0.128 for means 2 to 10 and baselines of 2 to 12
months). So the threshold comes from a conditional test instead: if the mean did not change over the baseline and
monitored months, then, given their total N, the counts fall into the months
like a multinomial with equal chances, whatever the mean was. ``mu0`` is the
baseline mean, so ``k = mu0 * shift / ln(1 + shift)``. We draw ``n_sim`` such
multinomial spreads, recompute each draw's own baseline mean and ``k`` and its
CUSUM maximum over the monitored window, and take the Monte Carlo p-value
``(1 + #{null >= observed}) / (n_sim + 1)`` (Barnard 1963; Besag & Clifford
1989). The indicator fires when ``p <= alpha``, which is the same as
``max S_t > h`` for ``h`` the matching order statistic of the null draws. The
probability of a false alarm within the window is then at most ``alpha`` for
any in-control mean: that is the stated bound, and tests measure it on
simulated stable series.

The in-control average run length of the chart at the baseline mean is
reported too, from the Markov chain approximation of Brook & Evans (1972,
Biometrika 59:539-549): with ``k`` rounded to a grid of step ``1/r`` the
CUSUM takes values on that grid only, so the chain over the states
0, 1/r, ..., h is exact for the rounded ``k`` (within 1/(2r) of the true one).

Assumptions, stated so a reader can doubt them: counts are Poisson around a
stable mean (no trend or season) in the months compared; overdispersion makes
alarms commoner than alpha, so :func:`dispersion_test` checks the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats

from realimpact.errors import ValidationError

MAX_STATES = 600


def reference_value(mu0: float, mu1: float) -> float:
    """Lucas's k for a Poisson rise from mu0 to mu1."""
    return (mu1 - mu0) / (np.log(mu1) - np.log(mu0))


def _resolution(k: float) -> int:
    """Grid steps per count: k kept to about 2.5 % (k*r >= 40), 4..400 steps."""
    return int(min(400, max(4, np.ceil(40.0 / k))))


def transition_matrix(mu: float, K: int, H: int, r: int) -> np.ndarray:
    """Sub-stochastic matrix over non-alarm states j = 0..H (S = j / r).

    From state j a count x moves to max(0, j + x r - K); beyond H is the alarm
    (absorbing, left out, so rows sum to P(no alarm next month)).
    """
    n = H + 1
    Q = np.zeros((n, n))
    j = np.arange(n)
    x_max = int((H + K) // r) + 1
    pmf = stats.poisson.pmf(np.arange(x_max + 1), mu)
    for x in range(x_max + 1):
        target = j + x * r - K
        zero = target <= 0
        Q[j[zero], 0] += pmf[x]
        mid = (~zero) & (target <= H)
        Q[j[mid], target[mid]] += pmf[x]
    return Q


def false_alarm_probability(mu: float, K: int, H: int, r: int, window: int) -> float:
    """P(alarm within ``window`` months | counts Poisson(mu)), starting at S = 0."""
    Q = transition_matrix(mu, K, H, r)
    v = np.ones(H + 1)
    for _ in range(window):
        v = Q @ v
    return float(1.0 - v[0])


def average_run_length(mu: float, K: int, H: int, r: int) -> float:
    """Expected months to the first alarm from S = 0 (Brook & Evans)."""
    Q = transition_matrix(mu, K, H, r)
    n = H + 1
    try:
        arl = np.linalg.solve(np.eye(n) - Q, np.ones(n))
    except np.linalg.LinAlgError:
        return float("inf")
    return float(arl[0])


def cusum_path(counts: np.ndarray, k: float) -> np.ndarray:
    """S_t over ``counts`` (no reset after an alarm)."""
    s = 0.0
    out = np.empty(len(counts))
    for t, x in enumerate(np.asarray(counts, dtype=float)):
        s = max(0.0, s + x - k)
        out[t] = s
    return out


@dataclass(frozen=True)
class CusumResult:
    """One monitored series tested for a rise.

    Attributes
    ----------
    baseline_mean : mean count per baseline month.
    monitor_mean : mean count per monitored month.
    pooled_mean : mean over baseline and monitored months.
    k, h : reference value (from the baseline mean) and decision interval (alarm when S_t > h).
    statistic : the largest S_t over the monitored months.
    p_value : Monte Carlo p-value of ``statistic`` given the total count.
    fired : ``p_value <= alpha``.
    first_alarm : index (0-based) of the first monitored month with S_t > h, or None.
    path : S_t per monitored month.
    alpha, shift, n_sim : the settings used.
    arl0 : in-control average run length (months) of the chart at the baseline
        mean (Markov chain approximation); NaN when not computed.
    dispersion : Fisher dispersion index of the baseline and its p-value.
    """

    baseline_mean: float
    monitor_mean: float
    pooled_mean: float
    k: float
    h: float
    statistic: float
    p_value: float
    fired: bool
    first_alarm: int | None
    path: tuple[float, ...]
    alpha: float
    shift: float
    n_sim: int
    arl0: float
    dispersion: dict[str, float | None]


def k_factor(shift: float) -> float:
    """k / mu0 for a rise of ``shift``: Lucas's k is proportional to mu0 for a fixed ratio."""
    return shift / np.log1p(shift)


def _null_max(
    total: int, n_baseline: int, n_monitor: int, shift: float, n_sim: int, seed: int
) -> np.ndarray:
    """CUSUM maxima over the window for ``n_sim`` equal-chance spreads of ``total``."""
    return _null_max_cached(
        int(total), int(n_baseline), int(n_monitor), float(shift), int(n_sim), int(seed)
    )


@lru_cache(maxsize=8192)
def _null_max_cached(
    total: int, nb: int, nm: int, shift: float, n_sim: int, seed: int
) -> np.ndarray:
    # One stream per (seed, total, nb, nm): results do not depend on the order series are tested.
    rng = np.random.default_rng([seed, total, nb, nm])
    months = nb + nm
    # Given the total, the monitored months and the baseline total are
    # multinomial with chances 1/months each and nb/months.
    draws = rng.multinomial(total, np.r_[np.full(nm, 1.0 / months), nb / months], size=n_sim)
    k = k_factor(shift) * draws[:, nm] / nb  # each draw's own baseline mean sets its k
    s = np.zeros(n_sim)
    best = np.zeros(n_sim)
    for t in range(nm):
        s = np.maximum(0.0, s + draws[:, t] - k)
        best = np.maximum(best, s)
    best.setflags(write=False)
    return best


def cusum_test(
    baseline: np.ndarray,
    monitor: np.ndarray,
    *,
    shift: float = 0.5,
    alpha: float = 0.05,
    n_sim: int = 999,
    seed: int = 0,
    with_arl: bool = True,
) -> CusumResult:
    """Test monitored monthly counts for a rise above the baseline (see module docstring)."""
    baseline = np.asarray(baseline, dtype=float)
    monitor = np.asarray(monitor, dtype=float)
    if len(baseline) < 1:
        raise ValidationError("baseline: at least one baseline month is needed")
    if len(monitor) < 1:
        raise ValidationError("monitoring window: at least one month is needed")
    if not 0 < alpha < 1:
        raise ValidationError(f"--alpha: {alpha} must be between 0 and 1")
    if not shift > 0:
        raise ValidationError(f"--shift: {shift} must be > 0 (a rise to detect)")
    if n_sim < 19:
        raise ValidationError(f"--n-sim: {n_sim} must be at least 19")
    if (
        (baseline < 0).any()
        or (monitor < 0).any()
        or not np.all(np.mod(np.r_[baseline, monitor], 1) == 0)
    ):
        raise ValidationError("counts: must be whole numbers >= 0")
    total = int(baseline.sum() + monitor.sum())
    months = len(baseline) + len(monitor)
    pooled = total / months
    mu0 = float(baseline.mean())
    k = k_factor(shift) * mu0
    path = cusum_path(monitor, k)
    stat = float(path.max())
    null = _null_max(total, len(baseline), len(monitor), shift, n_sim, seed)
    p = (1.0 + float(np.sum(null >= stat - 1e-9))) / (n_sim + 1.0)
    c = int(np.floor(alpha * (n_sim + 1))) - 1
    desc = np.sort(null)[::-1]
    h = float(desc[c]) if 0 <= c < n_sim else float("inf")
    fired = p <= alpha
    above = np.nonzero(path > h + 1e-9)[0]
    first = int(above[0]) if fired and len(above) else None
    arl0 = float("nan")  # not computed (asked not to, no baseline events, or too many states)
    if with_arl and mu0 > 0 and np.isfinite(h):
        r = _resolution(k)
        H = int(np.floor(h * r + 1e-9))
        if H <= MAX_STATES * 5:
            arl0 = average_run_length(mu0, max(1, round(k * r)), H, r)
    return CusumResult(
        baseline_mean=float(baseline.mean()),
        monitor_mean=float(monitor.mean()),
        pooled_mean=pooled,
        k=k,
        h=h,
        statistic=stat,
        p_value=p,
        fired=bool(fired),
        first_alarm=first,
        path=tuple(float(x) for x in path),
        alpha=alpha,
        shift=shift,
        n_sim=n_sim,
        arl0=arl0,
        dispersion=dispersion_test(baseline),
    )


def dispersion_test(counts: np.ndarray) -> dict[str, float | None]:
    """Poisson dispersion test of the baseline: index var/mean and its chi-square p-value.

    Under a stable Poisson mean, (n - 1) * var / mean ~ chi2(n - 1) (Fisher's
    index of dispersion); a small p means more variation than Poisson, and then
    the false-alarm bound is optimistic.
    """
    x = np.asarray(counts, dtype=float)
    n = len(x)
    m = float(x.mean()) if n else 0.0
    if n < 3 or m == 0:
        return {"index": None, "p_value": None}
    d = float(x.var(ddof=1) / m)
    p = float(stats.chi2.sf((n - 1) * d, n - 1))
    return {"index": d, "p_value": p}
