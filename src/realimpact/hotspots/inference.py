"""One conditional-permutation engine for local statistics (numba, parallel over sites).

Conditional randomisation (Anselin 1995): hold the value at site ``i`` fixed,
draw its ``k_i`` neighbours' values at random, without replacement, from the
other ``n - 1`` sites, and see how often the simulated statistic is at least as
extreme as the observed one. Like esda's ``crand``, one ``(R, max_k)`` matrix
of random ids (drawn from ``0..n-2``) is shared by every site, and id ``j`` is
read as ``j + 1`` when ``j >= i`` so the site itself is never drawn.

Why the engine works on the *neighbour sum* and not on the statistic: with
binary or row-standardised weights every neighbour of ``i`` carries the same
weight, so Gi, Gi* and local Moran's I are all monotone functions of
``S_i = sum of neighbour values``. Counting simulated sums ``>=`` and ``<=``
the observed sum therefore gives the permutation distribution of any of them,
with no division per draw, and exactly (integer counts stay integers, so ties
are real ties and not rounding accidents). A relative tolerance of 1e-10 of the
total absorbs rounding when values are non-integer (harm-weighted).

Pseudo p-values are ``(M + 1) / (R + 1)`` (Davison & Hinkley 1997; esda), with
M the number of simulated sums at least as extreme as observed; see
:func:`pseudo_p` for the alternatives.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from numba import njit

from realimpact.errors import InputError

__all__ = ["ALTERNATIVES", "count_extremes", "draw_permutations", "pseudo_p", "resolve_seed"]

ALTERNATIVES = ("two-sided", "directed", "greater", "lesser")


def resolve_seed(seed: int | None) -> int:
    """A concrete seed: the given one, or a fresh one that is recorded on the result."""
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1, dtype=np.uint32)[0])
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(f"--seed: must be a non-negative integer, got {seed!r}")
    return int(seed)


def draw_permutations(n: int, max_k: int, permutations: int, seed: int) -> np.ndarray:
    """``(permutations, max_k)`` ids in ``0..n-2``, distinct within each row.

    The first ``k`` entries of a row are a uniformly random ``k``-subset, for
    every ``k <= max_k``. Small problems shuffle whole rows; large ones with
    small neighbourhoods draw integers and redraw the (rare) rows that repeat an
    id, O(R * max_k) instead of O(R * n); large ones with wide neighbourhoods
    (distance bands) sample each row without replacement.
    """
    if permutations < 1:
        raise InputError(f"--permutations: must be at least 1, got {permutations}")
    pool = n - 1
    if max_k > pool:
        raise InputError(f"weights: a site has {max_k} neighbours but only {pool} other sites")
    rng = np.random.default_rng(seed)
    if max_k == 0:
        return np.zeros((permutations, 0), dtype=np.int64)
    if permutations * pool <= 20_000_000:  # small: shuffle whole rows (<= 160 MB of keys)
        keys = rng.random((permutations, pool))
        return np.argsort(keys, axis=1)[:, :max_k].astype(np.int64)
    if max_k * max_k <= pool // 4:  # repeats are rare: draw and redraw the few bad rows
        out = rng.integers(0, pool, size=(permutations, max_k), dtype=np.int64)
        while True:
            s = np.sort(out, axis=1)
            bad = np.flatnonzero((s[:, 1:] == s[:, :-1]).any(axis=1))
            if not len(bad):
                return out
            out[bad] = rng.integers(0, pool, size=(len(bad), max_k), dtype=np.int64)
    out = np.empty((permutations, max_k), dtype=np.int64)
    for r in range(permutations):  # wide neighbourhoods in a big pool: O(k) per row
        out[r] = rng.choice(pool, size=max_k, replace=False)
    return out


@njit(cache=True, nogil=True)
def _count_kernel(y, indptr, indices, perm, tol, n_ge, n_le, first, last):  # pragma: no cover
    r_total = perm.shape[0]
    for i in range(first, last):
        start = indptr[i]
        k = indptr[i + 1] - start
        if k == 0:
            n_ge[i] = -1
            n_le[i] = -1
            continue
        obs = 0.0
        for m in range(k):
            obs += y[indices[start + m]]
        hi = obs - tol
        lo = obs + tol
        ge = 0
        le = 0
        for r in range(r_total):
            s = 0.0
            for m in range(k):
                j = perm[r, m]
                j += j >= i
                s += y[j]
            ge += s >= hi
            le += s <= lo
        n_ge[i] = ge
        n_le[i] = le


def count_extremes(
    y: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    permutations: int,
    seed: int,
    *,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per site: how many of ``permutations`` random neighbour sums are >= / <= observed.

    Sites without neighbours get -1 in both (no distribution exists). Results do
    not depend on ``threads`` (each site's draws come from the shared id matrix).
    """
    y = np.ascontiguousarray(y, dtype=np.float64)
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    indices = np.ascontiguousarray(indices, dtype=np.int64)
    max_k = int(np.diff(indptr).max()) if len(y) else 0
    perm = draw_permutations(len(y), max_k, permutations, seed)
    tol = 1e-10 * float(np.abs(y).sum())
    n = len(y)
    n_ge = np.empty(n, dtype=np.int64)
    n_le = np.empty(n, dtype=np.int64)
    # Plain threads over a nogil kernel instead of numba's parallel=True: the same
    # speed on a few cores, and it compiles in a third of the time (cold runs matter
    # for a CLI). Chunks are interleaved blocks so dense and sparse rows mix.
    n_threads = max(1, min(threads or _default_threads(), n // 1000 or 1))
    bounds = np.linspace(0, n, 4 * n_threads + 1).astype(np.int64)
    chunks = list(pairwise(bounds))
    if n_threads == 1:
        _count_kernel(y, indptr, indices, perm, tol, n_ge, n_le, 0, n)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(n_threads) as pool:
            list(
                pool.map(
                    lambda c: _count_kernel(y, indptr, indices, perm, tol, n_ge, n_le, c[0], c[1]),
                    chunks,
                )
            )
    return n_ge, n_le


def _default_threads() -> int:
    """Cores this process may use (cgroup/affinity aware where the OS tells)."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS/Windows
        return os.cpu_count() or 1


def pseudo_p(
    n_ge: np.ndarray, n_le: np.ndarray, permutations: int, alternative: str = "two-sided"
) -> np.ndarray:
    """Pseudo p-values ``(M + 1) / (R + 1)`` from the counts of :func:`count_extremes`.

    * ``greater``: M = #(sim >= obs) - a hot-spot test.
    * ``lesser``: M = #(sim <= obs) - a cold-spot test.
    * ``directed``: esda's ``G_Local`` default: M = #(sim >= obs), or
      ``R - M`` when that is smaller - the one-sided p in whichever tail the
      observation falls. Reproduces esda; it is half a two-sided p.
    * ``two-sided`` (default): ``min(1, 2 * min(p_greater, p_lesser))``, the
      honest p for "hot *or* cold", used for the 90/95/99 % classes.

    Sites without neighbours get NaN.
    """
    if alternative not in ALTERNATIVES:
        raise InputError(f"alternative: {alternative!r} is not one of {', '.join(ALTERNATIVES)}")
    r = float(permutations)
    ge = n_ge.astype(float)
    le = n_le.astype(float)
    if alternative == "greater":
        p = (ge + 1) / (r + 1)
    elif alternative == "lesser":
        p = (le + 1) / (r + 1)
    elif alternative == "directed":
        p = (np.minimum(ge, r - ge) + 1) / (r + 1)
    else:
        p = np.minimum(1.0, 2 * (np.minimum(ge, le) + 1) / (r + 1))
    p[n_ge < 0] = np.nan
    return p


# -- exact conditional randomisation for integer values ----------------------------------
#
# Monte Carlo p-values cannot go below 1/(R+1): on a 27,000-cell grid a
# Benjamini-Hochberg correction then needs R in the millions before any cell can
# pass. For integer values (crime counts) the conditional-randomisation null of a
# neighbour sum is computable exactly: the k neighbours are a uniformly random
# k-subset of the other n-1 values, so the number of subsets with sum s is the
# coefficient of x^k t^s in prod_v (sum_j C(c_v, j) x^j t^(v j)) over distinct
# values v with multiplicity c_v. A dynamic programme over distinct values gives
# the whole distribution; tails are sums of positive terms (no cancellation), so
# p-values of 1e-30 are as accurate as p-values of 0.3.

EXACT_MAX_K = 40  # C(n-1, k) must stay inside float64 (n up to ~1e6)
EXACT_MAX_WORK = 4e8  # DP cell updates before we prefer Monte Carlo


@njit(cache=True, nogil=True)
def _subset_sum_counts(values, counts, k, smax):  # pragma: no cover - jitted
    """Number of k-subsets (as float) with each sum 0..smax; values are distinct ints."""
    a = np.zeros((k + 1, smax + 1))
    a[0, 0] = 1.0
    for d in range(values.shape[0]):
        v = values[d]
        c = counts[d]
        if c == 0:
            continue
        new = a.copy()
        b = 1.0
        for t in range(1, min(c, k) + 1):
            b = b * (c - t + 1) / t
            shift = v * t
            if shift > smax:
                break
            for j in range(t, k + 1):
                src = a[j - t]
                dst = new[j]
                for s in range(shift, smax + 1):
                    dst[s] += b * src[s - shift]
        a = new
    return a[k]


def exact_feasible(y: np.ndarray, cardinalities: np.ndarray) -> bool:
    """Integer, non-negative values and a DP small enough to be quick."""
    if not np.all(np.mod(y, 1) == 0) or y.min() < 0:
        return False
    ks = np.unique(cardinalities[cardinalities > 0])
    if not len(ks) or ks.max() > EXACT_MAX_K:
        return False
    distinct = np.unique(y)
    top = np.sort(y)[::-1]
    work = 0.0
    for k in ks:
        smax = top[:k].sum()
        per = len(distinct) * k * min(k, len(y)) * (smax + 1)
        work += per * len(distinct)  # one DP per distinct own value
    return work <= EXACT_MAX_WORK


def exact_tails(
    y: np.ndarray, indptr: np.ndarray, indices: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact P(S >= obs), P(S <= obs), P(S < obs) of each site's neighbour sum.

    Sites without neighbours get NaN. Assumes :func:`exact_feasible`.
    """
    yi = y.astype(np.int64)
    n = len(yi)
    card = np.diff(indptr)
    obs = np.add.reduceat(np.r_[yi[indices], 0], np.minimum(indptr[:-1], len(indices)))
    obs[card == 0] = 0
    values, counts = np.unique(yi, return_counts=True)
    top = np.sort(yi)[::-1]
    p_ge = np.full(n, np.nan)
    p_le = np.full(n, np.nan)
    p_lt = np.full(n, np.nan)
    # one distribution per (k, own value): removing the site's own value from the pool
    for k in np.unique(card[card > 0]):
        smax = int(top[:k].sum())
        at_k = card == k
        for own in np.unique(yi[at_k]):
            c = counts.copy()
            c[np.searchsorted(values, own)] -= 1
            dist = _subset_sum_counts(values, c, int(k), smax)
            total = dist.sum()
            upper = np.cumsum(dist[::-1])[::-1] / total  # P(S >= s)
            lower = np.cumsum(dist) / total  # P(S <= s)
            sites = np.flatnonzero(at_k & (yi == own))
            s = obs[sites]
            p_ge[sites] = upper[s]
            p_le[sites] = lower[s]
            p_lt[sites] = np.where(s > 0, lower[np.maximum(s - 1, 0)], 0.0)
    return p_ge, p_le, p_lt


def exact_p(
    p_ge: np.ndarray, p_le: np.ndarray, p_lt: np.ndarray, alternative: str = "two-sided"
) -> np.ndarray:
    """Exact analogues of :func:`pseudo_p` (the limit R -> infinity)."""
    if alternative not in ALTERNATIVES:
        raise InputError(f"alternative: {alternative!r} is not one of {', '.join(ALTERNATIVES)}")
    if alternative == "greater":
        return p_ge.copy()
    if alternative == "lesser":
        return p_le.copy()
    if alternative == "directed":
        return np.minimum(p_ge, p_lt)
    return np.minimum(1.0, 2 * np.minimum(p_ge, p_le))
