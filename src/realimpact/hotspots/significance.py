"""Multiple-testing correction and hot/cold classes, in one place.

A map of 10,000 cells tested at 5 % shows ~500 "hot spots" from noise alone;
that is the complaint about tools that leave correction to the user. Every
local statistic here goes through :func:`adjust` (Benjamini-Hochberg false
discovery rate by default, Bonferroni or none on request) and :func:`classify`
(ESRI/GeoDa-style confidence bins on the *adjusted* p-value, direction from
the sign of the z-score).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr  # scipy.stats would add ~1 s to every cold CLI call

from realimpact.errors import InputError

__all__ = ["CLASSES", "CORRECTIONS", "NO_NEIGHBOURS", "adjust", "classify", "p_from_z"]

CORRECTIONS = ("fdr_bh", "bonferroni", "none")
CLASSES = ("hot-99", "hot-95", "hot-90", "not-significant", "cold-90", "cold-95", "cold-99")
NO_NEIGHBOURS = "no-neighbours"
"""Class of an area without neighbours: no local statistic exists, nothing is tested."""

_LEVELS = ((0.01, "99"), (0.05, "95"), (0.10, "90"))


def p_from_z(z: np.ndarray) -> np.ndarray:
    """Two-sided normal p-value of a z-score (NaN stays NaN)."""
    return 2.0 * ndtr(-np.abs(np.asarray(z, dtype=float)))


def adjust(p: np.ndarray, method: str = "fdr_bh") -> np.ndarray:
    """Adjusted p-values over the finite entries of ``p`` (NaN = not tested).

    ``fdr_bh`` is Benjamini & Hochberg (1995): ``p_(i) * m / i`` made monotone from the
    largest p down (the same numbers as ``scipy.stats.false_discovery_control`` and
    statsmodels' ``multipletests(method="fdr_bh")``, checked in the tests);
    ``bonferroni`` multiplies by the number of tests (capped at 1).
    """
    if method not in CORRECTIONS:
        raise InputError(f"--correction: {method!r} is not one of {', '.join(CORRECTIONS)}")
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if not ok.any():
        return out
    if method == "none":
        out[ok] = p[ok]
    elif method == "bonferroni":
        out[ok] = np.minimum(1.0, p[ok] * ok.sum())
    else:
        out[ok] = _bh(p[ok])
    return out


def classify(z: np.ndarray, p_adjusted: np.ndarray) -> np.ndarray:
    """``hot-99 ... cold-99`` from the z sign and the adjusted two-sided p.

    ``hot-99`` means adjusted p <= 0.01 and z > 0; areas with NaN p (no
    neighbours) get :data:`NO_NEIGHBOURS`.
    """
    z = np.asarray(z, dtype=float)
    p = np.asarray(p_adjusted, dtype=float)
    out = np.full(z.shape, "not-significant", dtype=object)
    for level, name in reversed(_LEVELS):  # widest first, narrower overwrite
        sig = np.isfinite(p) & (p <= level)
        out[sig & (z > 0)] = f"hot-{name}"
        out[sig & (z < 0)] = f"cold-{name}"
    out[~np.isfinite(p) | ~np.isfinite(z)] = NO_NEIGHBOURS
    return out


def _bh(p: np.ndarray) -> np.ndarray:
    m = len(p)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    scaled = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(scaled, 1.0)
    return out
