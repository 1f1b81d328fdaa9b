"""Count regression with high-dimensional fixed effects, fast.

A difference-in-differences on area-month counts needs one fixed effect per
area and per month. With thousands of areas a GLM with dummy columns builds a
dense N x (areas + months) matrix (5,000 areas x 60 months is 300,000 x 5,060,
12 GB) and factorises it every iteration. We never build it: following
Guimaraes and Portugal (2010), Correia, Guimaraes and Zylkin (2020, "ppmlhdfe")
and pyfixest's ``fepois``, each IRLS step is a weighted least-squares fit whose
fixed effects are swept out by *alternating projections* (weighted demeaning
within each fixed-effect group in turn until nothing changes, the
Frisch-Waugh-Lovell theorem making the slope coefficients exact). Each sweep is
O(N) per column; the kernel is compiled with numba.

Covariances are cluster-robust sandwiches built from the demeaned regressors:
by the partitioned inverse, the slope block of the full (dummy) sandwich equals
``A^-1 (sum_g s_g s_g') A^-1`` with ``A = X~' W X~`` and ``s_g`` the cluster
sums of ``x~_i (y_i - mu_i) / (1 + alpha mu_i)``, so no dummy ever appears.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numba
import numpy as np
import pandas as pd

from realimpact.errors import ValidationError

__all__ = ["FEGLMFit", "demean", "fe_glm"]


@numba.njit(cache=True)
def _demean_kernel(x, w, codes, sizes, tol, maxiter):  # pragma: no cover - compiled
    """Weighted alternating projections on a copy of ``x`` (all columns at once).

    One pass over the rows per fixed effect: while subtracting the group means
    of fixed effect j, the weighted sums for fixed effect j+1 are accumulated,
    so a sweep over g fixed effects reads the data g times, not 2g.
    """
    n, k = x.shape
    g = codes.shape[1]
    out = x.copy()
    max_size = 0
    for j in range(g):
        if sizes[j] > max_size:
            max_size = sizes[j]
    inv_sw = np.zeros((g, max_size))
    for j in range(g):
        for i in range(n):
            inv_sw[j, codes[i, j]] += w[i]
        for q in range(sizes[j]):
            inv_sw[j, q] = 1.0 / inv_sw[j, q] if inv_sw[j, q] > 0 else 0.0
    acc = np.zeros((g, max_size, k))
    # sums for the first fixed effect
    for i in range(n):
        q = codes[i, 0]
        wi = w[i]
        for c in range(k):
            acc[0, q, c] += wi * out[i, c]
    sweeps = 0
    for _ in range(maxiter):
        biggest = 0.0
        for j in range(g):
            nxt = (j + 1) % g
            m = sizes[j]
            for q in range(m):
                for c in range(k):
                    acc[j, q, c] *= inv_sw[j, q]
                    a = abs(acc[j, q, c])
                    if a > biggest:
                        biggest = a
            for q in range(sizes[nxt]):
                for c in range(k):
                    acc[nxt, q, c] = 0.0 if nxt != j else acc[nxt, q, c]
            for i in range(n):
                q = codes[i, j]
                r = codes[i, nxt]
                wi = w[i]
                for c in range(k):
                    v = out[i, c] - acc[j, q, c]
                    out[i, c] = v
                    if nxt != j:
                        acc[nxt, r, c] += wi * v
            if nxt == j:
                break
        sweeps += 1
        if biggest < tol or g == 1:
            break
    return out, sweeps


def _codes(fe: Sequence[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    cols, sizes = [], []
    for f in fe:
        f = np.asarray(f)
        if f.shape != (n,):
            raise ValidationError(
                f"fixed effect has {f.shape[0]} rows, expected {n}", source="fixed_effects"
            )
        inv, uniq = pd.factorize(f, sort=False)
        if (inv < 0).any():
            raise ValidationError("fixed effect has missing labels", source="fixed_effects")
        cols.append(inv.astype(np.int64))
        sizes.append(len(uniq))
    return np.ascontiguousarray(np.column_stack(cols)), np.asarray(sizes, dtype=np.int64)


def _drop_zero_groups(codes: np.ndarray, sizes: np.ndarray, y: np.ndarray):
    """Rows to keep (groups with some positive count) and re-numbered codes."""
    keep = np.ones(len(y), dtype=bool)
    for j in range(codes.shape[1]):
        tot = np.bincount(codes[:, j], weights=y, minlength=sizes[j])
        keep &= tot[codes[:, j]] > 0
    if keep.all():
        return keep, codes, sizes
    codes = codes[keep]
    new_sizes = []
    for j in range(codes.shape[1]):
        used = np.zeros(sizes[j], dtype=bool)
        used[codes[:, j]] = True
        remap = np.cumsum(used) - 1
        codes[:, j] = remap[codes[:, j]]
        new_sizes.append(int(used.sum()))
    return keep, np.ascontiguousarray(codes), np.asarray(new_sizes, dtype=np.int64)


@numba.njit(cache=True)
def _working(y, eta, off, a, X):  # pragma: no cover - compiled
    """IRLS working response and weights in one pass: ZX = [z, X], w."""
    n, k = X.shape
    zx = np.empty((n, k + 1))
    w = np.empty(n)
    for i in range(n):
        mu = np.exp(eta[i])
        w[i] = mu / (1.0 + a * mu)
        zx[i, 0] = eta[i] - off[i] + (y[i] - mu) / mu
        for c in range(k):
            zx[i, c + 1] = X[i, c]
    return zx, w


@numba.njit(cache=True)
def _step(zx, dm, beta, off, y, ylogy, a):  # pragma: no cover - compiled
    """New linear predictor (eta = z - residual + offset) and the deviance, one pass.

    Poisson's y log(y / mu) is written y log y - y eta so no log is taken per step.
    """
    n = zx.shape[0]
    k = beta.shape[0]
    eta = np.empty(n)
    dev = 0.0
    inva = 1.0 / a if a > 0 else 0.0
    for i in range(n):
        r = dm[i, 0]
        for c in range(k):
            r -= dm[i, c + 1] * beta[c]
        e = zx[i, 0] - r + off[i]
        eta[i] = e
        mu = np.exp(e)
        yi = y[i]
        if a == 0.0:
            d = ylogy[i] - yi * e - (yi - mu)
        else:
            d = (yi * np.log(yi / mu) if yi > 0 else 0.0) - (yi + inva) * np.log(
                (yi + inva) / (mu + inva)
            )
        dev += 2.0 * d
    return eta, dev


@numba.njit(cache=True)
def _normal_equations(dm, w):  # pragma: no cover - compiled
    """A = X~' W X~ and b = X~' W z~ from dm = [z~, X~] without temporaries."""
    n, k1 = dm.shape
    k = k1 - 1
    A = np.zeros((k, k))
    b = np.zeros(k)
    for i in range(n):
        wi = w[i]
        for c in range(k):
            v = wi * dm[i, c + 1]
            b[c] += v * dm[i, 0]
            for d in range(c + 1):
                A[c, d] += v * dm[i, d + 1]
    for c in range(k):
        for d in range(c):
            A[d, c] = A[c, d]
    return A, b


def demean(
    x: np.ndarray,
    fe: Sequence[np.ndarray],
    weights: np.ndarray | None = None,
    *,
    tol: float = 1e-12,
    maxiter: int = 10_000,
) -> np.ndarray:
    """Residuals of ``x`` (N or N x K) after weighted projection on the fixed effects."""
    x = np.asarray(x, dtype=np.float64)
    one = x.ndim == 1
    x2 = np.ascontiguousarray(x.reshape(len(x), -1))
    w = np.ones(len(x2)) if weights is None else np.asarray(weights, dtype=np.float64)
    codes, sizes = _codes(fe, len(x2))
    out, _ = _demean_kernel(x2, w, codes, sizes, tol, maxiter)
    return out[:, 0] if one else out


@dataclass
class FEGLMFit:
    """A fitted count model with absorbed fixed effects.

    Attributes
    ----------
    coef : ndarray (k,)
        Slope coefficients (log rate ratios).
    cov : ndarray (k, k)
        Covariance of ``coef`` (cluster-robust when clusters were given, else model-based).
    se : ndarray (k,)
        Standard errors, ``sqrt(diag(cov))``.
    mu : ndarray (n_used,)
        Fitted means of the observations used.
    n : int
        Observations used (groups with all-zero outcomes are dropped: their fixed
        effect is minus infinity and they carry no information on the slopes).
    n_dropped : int
        Observations dropped for that reason.
    n_clusters : int | None
        Number of clusters in the sandwich.
    iterations : int
        IRLS iterations.
    converged : bool
    family : str
        ``"poisson"`` or ``"negbin"``.
    alpha : float
        Negative binomial dispersion (0 for Poisson): Var = mu + alpha mu^2.
    keep : ndarray of bool
        Which input rows were used.
    deviance : float
    """

    coef: np.ndarray
    cov: np.ndarray
    mu: np.ndarray
    n: int
    n_dropped: int
    n_clusters: int | None
    iterations: int
    converged: bool
    family: str
    alpha: float
    keep: np.ndarray
    deviance: float
    extra: dict = field(default_factory=dict)

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))


def fe_glm(
    y: np.ndarray,
    X: np.ndarray,
    fe: Sequence[np.ndarray],
    *,
    family: str = "poisson",
    alpha: float = 0.0,
    offset: np.ndarray | None = None,
    cluster: np.ndarray | None = None,
    ssc: str = "fixest",
    tol: float = 1e-10,
    maxiter: int = 100,
) -> FEGLMFit:
    """Fit a Poisson or NB2 (fixed alpha) log-linear model with absorbed fixed effects.

    Parameters
    ----------
    y : counts (N,)
    X : regressors (N, k) without an intercept (the fixed effects hold it).
    fe : one array of group labels per fixed effect (e.g. area, month).
    family : ``"poisson"`` or ``"negbin"``; for ``"negbin"`` give ``alpha``.
    cluster : labels for cluster-robust errors (None: model-based).
    ssc : small-sample correction of the clustered sandwich.
        ``"fixest"`` = G/(G-1) (N-1)/(N-K) with K the slopes plus the levels of
        fixed effects not nested in the clusters (fixest's and pyfixest's default);
        ``"statsmodels"`` = G/(G-1) (N-1)/(N-K) with K every parameter including
        one per fixed-effect level (what a GLM with dummies reports);
        ``"none"`` = the raw sandwich.
    """
    if family not in ("poisson", "negbin"):
        raise ValidationError(f"unknown family {family!r} (poisson | negbin)", source="family")
    y = np.asarray(y, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    n0, k = X.shape
    if y.shape != (n0,):
        raise ValidationError("y and X have different lengths", source="y")
    if np.any(y < 0) or not np.all(np.isfinite(y)):
        raise ValidationError("counts must be finite and >= 0", source="y")
    a = float(alpha) if family == "negbin" else 0.0
    off = np.zeros(n0) if offset is None else np.asarray(offset, dtype=np.float64)

    # Drop groups whose outcome is all zero (their FE diverges to -inf).
    codes, sizes = _codes(fe, n0)
    keep, codes, sizes = _drop_zero_groups(codes, sizes, y)
    if not keep.all():
        y, X, off = y[keep], X[keep], off[keep]
    X = np.ascontiguousarray(X)
    n = len(y)
    if n == 0:
        raise ValidationError("no observations with non-zero counts", source="y")

    eta = np.log((y + y.mean()) / 2.0)  # statsmodels' GLM start
    with np.errstate(divide="ignore", invalid="ignore"):
        ylogy = np.where(y > 0, y * np.log(y), 0.0)
    dev = np.inf
    dev_old = np.inf
    converged = False
    beta = np.zeros(k)
    beta_old = np.full(k, np.inf)
    it = 0
    inner_tol = 1e-8
    dm = w = None
    for it in range(1, maxiter + 1):
        zx, w = _working(y, eta, off, a, X)
        dm, _ = _demean_kernel(zx, w, codes, sizes, inner_tol, 100_000)
        A, rhs = _normal_equations(dm, w)
        if it == 1:
            ss = np.einsum("ij,ij->j", X, w[:, None] * X)
            lost = np.diag(A) < 1e-9 * np.maximum(ss, 1e-300)
            if lost.any():
                raise ValidationError(
                    f"regressor(s) {np.flatnonzero(lost).tolist()} are collinear with the fixed "
                    "effects (e.g. every area treated, or treatment in every month)",
                    source="X",
                )
        beta = np.linalg.solve(A, rhs)
        eta, dev = _step(zx, dm, beta, off, y, ylogy, a)
        step = float(np.max(np.abs(beta - beta_old))) if k else 0.0
        rel = abs(dev - dev_old) / (0.1 + abs(dev))
        beta_old = beta
        if rel < tol and step < 1e-9 and inner_tol <= 1e-13:
            converged = True
            break
        # Inexact projections are fine while IRLS is far from the optimum (it
        # recomputes z from eta every step); tighten as it converges.
        inner_tol = max(1e-13, min(inner_tol, 1e-4 * rel))
        if rel < tol:
            inner_tol = 1e-13
        dev_old = dev
    mu = np.exp(eta)

    # Bread and scores at the final mean. The bread is the observed information
    # (as statsmodels uses for its sandwiches); for Poisson it equals the expected
    # and the last IRLS projection (converged, exact tolerance) is reused.
    if a == 0.0:
        Xt = np.ascontiguousarray(dm[:, 1:])  # demeaned with the last IRLS weights w
    else:
        w = mu * (1.0 + a * y) / (1.0 + a * mu) ** 2
        Xt, _ = _demean_kernel(X, w, codes, sizes, 1e-13, 100_000)
    A = Xt.T @ (w[:, None] * Xt)
    Ainv = np.linalg.inv(A)
    n_clusters = None
    if cluster is None:
        cov = Ainv
    else:
        cl = np.asarray(cluster)[keep]
        ci, uniq = pd.factorize(cl, sort=False)
        G = len(uniq)
        u = (y - mu) / (1.0 + a * mu)
        S = np.column_stack([np.bincount(ci, weights=Xt[:, j] * u, minlength=G) for j in range(k)])
        meat = S.T @ S
        cov = Ainv @ meat @ Ainv
        n_clusters = G
        if ssc == "fixest":
            # fixest / pyfixest default (k_fixef "nonnested"): count fixed-effect
            # levels except those nested in the clusters (one kept per nested FE).
            g = len(sizes)
            df_k = k + int(sizes.sum()) - (g - 1)
            for j in range(g):
                pairs = len(np.unique(codes[:, j].astype(np.int64) * G + ci))
                if pairs == sizes[j]:  # every level inside one cluster
                    df_k -= int(sizes[j]) - 1
            cov *= G / (G - 1) * (n - 1) / (n - df_k)
        elif ssc == "statsmodels":
            K = k + int(sizes.sum()) - (len(sizes) - 1)
            cov *= G / (G - 1) * (n - 1) / (n - K)
        elif ssc != "none":
            raise ValidationError(
                f"unknown ssc {ssc!r} (fixest | statsmodels | none)", source="ssc"
            )
    return FEGLMFit(
        coef=beta,
        cov=cov,
        mu=mu,
        n=n,
        n_dropped=int(n0 - n),
        n_clusters=n_clusters,
        iterations=it,
        converged=converged,
        family=family,
        alpha=a,
        keep=keep,
        deviance=float(dev),
    )
