"""Density surfaces that cannot be inverted back to the counts at each location.

A kernel density surface is linear in the counts at the points it is built
from: ``density(cell) = sum_j n_j K(cell - p_j)``. Where the points are
public (police.uk's snap points are), a least-squares fit of the published
cells against the kernel weights of the points gives every ``n_j`` back,
lone incidents included: blanking sparse cells does not help, because every
kept cell is one more exact equation.

The defence here is to smooth something that holds no small count: the
points are first summed into the cells of a coarse *support grid*, every
support cell with ``0 < n < threshold`` is dropped, the kept counts are
optionally rounded and perturbed (cell key), and the surface is then drawn
from the kept cells' centres with their (protected) counts as masses. The
published surface is a function of the kept support counts only, so

* the most an attacker can solve back is a support cell's count, which is
  zero or at least the threshold (the same as a protected grid table);
* how a support cell's count splits between the locations inside it is not
  in the surface at all, and a dropped cell contributes nothing to it.

This module knows neither police.uk nor the kernel: the caller smooths the
returned centres and masses with its own kernel (any kernel is safe, since
the masses are).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from realimpact.disclosure.perturb import perturb_count
from realimpact.disclosure.rounding import round_harm, round_to_base


@dataclass(frozen=True)
class Support:
    """The protected support of a surface: kept cell centres, their masses and what was done.

    ``masses`` are the protected counts (or, for a weighted surface, the
    rounded weight sums) of the kept cells; ``counts`` the protected counts.
    ``dropped`` is the number of support cells withheld for a small count,
    ``rounded``/``perturbed`` the number of kept cells whose count changed.
    """

    x: np.ndarray
    y: np.ndarray
    masses: np.ndarray
    counts: np.ndarray
    cell: float
    dropped: int
    rounded: int
    perturbed: int

    @property
    def kept(self) -> int:
        return len(self.x)


def protected_support(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None,
    *,
    cell: float,
    threshold: int,
    rounding: int = 1,
    weight_rounding: float = 0.0,
    perturbation: tuple[str, int] | None = None,
    cell_prefix: str = "",
) -> Support:
    """Sum points into a ``cell``-metre grid aligned on multiples of ``cell`` and protect it.

    A support cell with ``0 < count < threshold`` is dropped. Kept counts are
    perturbed with ``perturbation`` = (key, max) (the cell's identity is its
    grid origin, so the same cell gets the same noise in every release, and
    never below the threshold), then rounded to ``rounding``. With
    ``weights`` the mass of a kept cell is its weight sum rounded to
    ``weight_rounding`` (a harm sum at full precision would split back into
    per-type counts with the public weights), scaled like its count.
    """
    if not (cell > 0 and math.isfinite(cell)):
        raise ValueError(f"support cell must be a positive number of metres, got {cell!r}")
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, float)
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(w) & (w > 0)
    x, y, w = x[ok], y[ok], w[ok]
    ix = np.floor(x / cell).astype(np.int64)
    iy = np.floor(y / cell).astype(np.int64)
    keys, inverse = np.unique(np.column_stack([ix, iy]), axis=0, return_inverse=True)
    inverse = np.asarray(inverse).ravel()
    n = np.bincount(inverse, minlength=len(keys)).astype(float)
    wsum = np.bincount(inverse, weights=w, minlength=len(keys))
    small = (n > 0) & (n < threshold) if threshold > 0 else np.zeros(len(n), bool)
    keep = ~small & (n > 0)
    keys, n, wsum = keys[keep], n[keep], wsum[keep]
    counts = n.copy()
    perturbed = rounded = 0
    for i in range(len(counts)):
        c = counts[i]
        if perturbation is not None:
            key, mx = perturbation
            ident = f"{cell_prefix}|{cell:g}|{int(keys[i, 0])}|{int(keys[i, 1])}"
            c = float(perturb_count(int(c), ident, key, mx, threshold))
            perturbed += c != counts[i]
        if rounding > 1:
            r = float(round_to_base(c, rounding))
            rounded += r != c
            c = r
        counts[i] = c
    if weights is None:
        masses = counts.copy()
    else:
        scale = np.divide(counts, n, out=np.ones_like(n), where=n > 0)
        masses = np.array([round_harm(float(v), weight_rounding) for v in wsum * scale])
    return Support(
        x=(keys[:, 0] + 0.5) * cell,
        y=(keys[:, 1] + 0.5) * cell,
        masses=np.asarray(masses, float),
        counts=counts,
        cell=float(cell),
        dropped=int(small.sum()),
        rounded=int(rounded),
        perturbed=int(perturbed),
    )


def round_significant(values: np.ndarray, digits: int = 3) -> np.ndarray:
    """``values`` to ``digits`` significant figures (zeros stay zero): no false precision."""
    v = np.asarray(values, float)
    out = np.zeros_like(v)
    nz = np.isfinite(v) & (v != 0)
    mag = np.floor(np.log10(np.abs(v[nz])))
    scale = 10.0 ** (digits - 1 - mag)
    out[nz] = np.round(v[nz] * scale) / scale
    out[~np.isfinite(v)] = v[~np.isfinite(v)]
    return out
