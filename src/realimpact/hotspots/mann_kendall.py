"""Mann-Kendall trend test, vectorised over many series (one per area).

Emerging hot spots ask "is this place getting hotter?" of every area's monthly
Gi* z-scores: thousands of short series, so the test runs on a 2-D array
instead of a Python loop (pymannkendall, which the tests use as the
independent reference, handles one series at a time).

For a series x_1..x_n (Mann 1945; Kendall 1975; Hipel & McLeod 1994):

    S      = sum_{i<j} sign(x_j - x_i)
    Var(S) = [n(n-1)(2n+5) - sum_g t_g(t_g-1)(2t_g+5)] / 18   (t_g = size of tie group g)
    Z      = (S - 1)/sqrt(Var) if S > 0;  (S + 1)/sqrt(Var) if S < 0;  0 if S = 0
    p      = 2 (1 - Phi(|Z|))                                  (two-sided)
    tau    = S / (n(n-1)/2)                                    (Kendall's tau-a)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from realimpact.errors import InputError

__all__ = ["MannKendall", "mann_kendall"]


@dataclass(frozen=True)
class MannKendall:
    """Per-series results; arrays of length n_series (scalars for one series).

    Attributes
    ----------
    s : ndarray   Mann-Kendall S.
    var_s : ndarray   Variance of S with the tie correction.
    z : ndarray   Continuity-corrected normal score.
    p : ndarray   Two-sided p-value.
    tau : ndarray   Kendall's tau-a, S / (n(n-1)/2).
    trend : ndarray of str   ``increasing``, ``decreasing`` or ``no trend`` at ``alpha``.
    """

    s: np.ndarray
    var_s: np.ndarray
    z: np.ndarray
    p: np.ndarray
    tau: np.ndarray
    trend: np.ndarray
    alpha: float


def _tie_term(x: np.ndarray) -> np.ndarray:
    """sum over tie groups of t(t-1)(2t+5), per row, without a Python loop over rows."""
    m, n = x.shape
    s = np.sort(x, axis=1)
    flat = np.concatenate([s, np.full((m, 1), np.nan)], axis=1).ravel()
    # a run starts wherever the value differs from the one before (NaN sentinels
    # never equal anything, so rows never merge)
    starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]])
    lengths = np.diff(np.r_[starts, len(flat)]).astype(float)
    rows = starts // (n + 1)
    f = lengths * (lengths - 1) * (2 * lengths + 5)
    return np.bincount(rows, weights=f, minlength=m)


def mann_kendall(x: np.ndarray, alpha: float = 0.05) -> MannKendall:
    """Mann-Kendall test on each row of ``x`` (shape ``(n_series, n_times)`` or ``(n_times,)``)."""
    arr = np.asarray(x, dtype=float)
    one = arr.ndim == 1
    if one:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise InputError("series: expected a 1-D series or a 2-D array (series x times)")
    n = arr.shape[1]
    if n < 3:
        raise InputError(f"series: Mann-Kendall needs at least 3 time steps, got {n}")
    if not np.isfinite(arr).all():
        raise InputError("series: contains NaN or infinite values")
    s = np.zeros(arr.shape[0])
    for i in range(n - 1):
        s += np.sign(arr[:, i + 1 :] - arr[:, i : i + 1]).sum(axis=1)
    var_s = (n * (n - 1) * (2 * n + 5) - _tie_term(arr)) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s > 0, (s - 1) / np.sqrt(var_s), np.where(s < 0, (s + 1) / np.sqrt(var_s), 0))
    z = np.where(var_s > 0, z, 0.0)  # a constant series has no trend
    p = 2.0 * ndtr(-np.abs(z))
    tau = s / (n * (n - 1) / 2)
    trend = np.where(p <= alpha, np.where(s > 0, "increasing", "decreasing"), "no trend")
    res = MannKendall(s=s, var_s=var_s, z=z, p=p, tau=tau, trend=trend.astype(object), alpha=alpha)
    if one:
        return MannKendall(
            s=s[0], var_s=var_s[0], z=z[0], p=p[0], tau=tau[0], trend=trend[0], alpha=alpha
        )
    return res
