"""Local Getis-Ord Gi*: where high (harm-weighted) values cluster.

Gi* (Getis & Ord 1992; Ord & Getis 1995) compares the sum of values in an
area's neighbourhood *including the area itself* with what the global mean
would predict. The analytical z-score and its moments follow esda's
``G_Local(star=True)`` exactly (self weight 1 for binary weights, ``1/(k+1)``
for row-standardised), so numbers can be checked against PySAL to 1e-6:

    G*_i   = sum_j w_ij y_j / sum_j y_j
    E[G*_i] = W_i / n                       W_i = sum_j w_ij
    V[G*_i] = W_i (n - W_i) / (n - 1) / n^2 * s^2 / ybar^2   (s^2 population variance)
    z_i    = (G*_i - E) / sqrt(V)

Conditional-permutation pseudo p-values come from
:mod:`realimpact.hotspots.inference`, the correction and classes from
:mod:`realimpact.hotspots.significance`.

Harm enters through the *value*: ``value = sum over crime types of count x
harm weight`` (:func:`harm_values`), so a street of knife crime and a street
of cannabis possession with equal counts are no longer equal hot spots.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from realimpact._progress import ProgressFn
from realimpact.errors import InputError
from realimpact.geo.weights import SpatialWeights
from realimpact.hotspots import inference as engine
from realimpact.hotspots import significance

__all__ = ["GiStar", "harm_values"]

TRANSFORMS = ("B", "R")
INFERENCES = ("auto", "exact", "permutation")


def _align_values(values: Any, weights: SpatialWeights) -> np.ndarray:
    """Values in weights' row order; a Series/dict is matched by area id."""
    if isinstance(values, Mapping):
        values = pd.Series(values, dtype=float)
    if isinstance(values, pd.Series):
        ids = pd.Index(weights.ids)
        missing = ids.difference(values.index)
        if len(missing):
            raise InputError(
                f"value: no value for {len(missing)} area(s) of the weights, e.g. {missing[0]!r}"
            )
        y = values.reindex(ids).to_numpy(dtype=float)
    else:
        y = np.asarray(values, dtype=float).ravel()
        if len(y) != weights.n:
            raise InputError(f"value: {len(y)} values for {weights.n} areas in the weights")
    return y


def _check_values(y: np.ndarray) -> None:
    if len(y) == 0:
        raise InputError("layer: no areas (empty layer); nothing to test")
    if len(y) < 3:
        raise InputError(f"layer: only {len(y)} area(s); Gi* needs at least 3")
    if not np.isfinite(y).all():
        raise InputError("value: contains NaN or infinite values; fill or drop them first")
    if (y < 0).any():
        raise InputError("value: negative values; Gi* is defined for non-negative values only")
    if y.sum() == 0:
        raise InputError(
            "value: all values are zero (no records in the period/crime types chosen); "
            "Gi* is undefined"
        )
    if np.ptp(y) == 0:
        raise InputError(
            "value: every area has the same value; there is no variation to find hot spots in"
        )


class GiStar:
    """Local Getis-Ord Gi* with permutation inference and corrected classes.

    Parameters
    ----------
    values : array-like, pandas Series or mapping
        Non-negative value per area (count or harm-weighted index). A Series
        or mapping is aligned to ``weights.ids`` by id.
    weights : SpatialWeights
        Binary neighbour graph without self links (see
        :mod:`realimpact.geo.weights`); the self weight is added here.
    transform : {"B", "R"}
        Binary (self weight 1) or row-standardised (all weights ``1/(k+1)``).
    permutations : int
        Conditional permutations; 0 uses the analytical normal p-value.
    inference : {"auto", "exact", "permutation"}
        How the conditional-randomisation null is evaluated when
        ``permutations > 0``: ``exact`` enumerates it (integer values such as
        counts; no Monte Carlo error and no 1/(R+1) floor, which matters once p
        is corrected over thousands of areas), ``permutation`` draws
        ``permutations`` random neighbourhoods, ``auto`` (default) uses exact
        where it is feasible (see :func:`~realimpact.hotspots.inference.exact_feasible`).
    seed : int, optional
        Seed of the permutations; recorded on the result when drawn at random.
    alternative : str
        See :func:`realimpact.hotspots.inference.pseudo_p`; ``two-sided``
        (default) drives the classes, ``directed`` reproduces esda's ``p_sim``.
    correction : {"fdr_bh", "bonferroni", "none"}
        Multiple-testing correction applied to the p-values before classifying.

    Attributes
    ----------
    ids : ndarray
        Area ids in row order.
    y : ndarray
        The values tested.
    Gs, EGs, VGs : ndarray
        G*_i, its expectation and variance under the normality assumption.
    z : ndarray
        Analytical z-scores (esda's ``Zs``); NaN for areas without neighbours.
    p_norm : ndarray
        Two-sided normal p-value of ``z``.
    p_sim : ndarray or None
        Conditional-randomisation p-value for ``alternative``: the exact
        probability, or the pseudo p ``(M+1)/(R+1)`` (None without permutations).
    inference : str
        ``exact``, ``permutation`` or ``normal`` (no permutations): how ``p_sim`` was got.
    p_value : ndarray
        The p-value that is corrected: ``p_sim`` if permutations were run
        (and alternative is two-sided or directed), else ``p_norm``.
    p_adjusted : ndarray
        ``p_value`` after ``correction`` over all areas with neighbours.
    hotspot_class : ndarray of str
        ``hot-99 ... cold-99`` or ``no-neighbours``.
    islands : list
        Ids of areas without neighbours (not tested; NaN z and p).
    seed : int or None
    """

    def __init__(
        self,
        values: Any,
        weights: SpatialWeights,
        *,
        transform: str = "B",
        permutations: int = 999,
        seed: int | None = None,
        alternative: str = "two-sided",
        correction: str = "fdr_bh",
        inference: str = "auto",
        progress: ProgressFn | None = None,
    ) -> None:
        transform = transform.upper()
        if inference not in INFERENCES:
            raise InputError(f"--inference: {inference!r} is not one of {', '.join(INFERENCES)}")
        if transform not in TRANSFORMS:
            raise InputError(
                f"--transform: {transform!r} is not B (binary) or R (row-standardised)"
            )
        if alternative not in engine.ALTERNATIVES:
            raise InputError(
                f"alternative: {alternative!r} is not one of {', '.join(engine.ALTERNATIVES)}"
            )
        if correction not in significance.CORRECTIONS:
            raise InputError(
                f"--correction: {correction!r} is not one of {', '.join(significance.CORRECTIONS)}"
            )
        if seed is not None:
            engine.resolve_seed(seed)  # a bad seed is an error even where it goes unused
        if permutations < 0:
            raise InputError(f"--permutations: must be 0 or more, got {permutations}")
        y = _align_values(values, weights)
        _check_values(y)
        if weights.n_islands == weights.n:
            raise InputError(
                "weights: no area has a neighbour (every area is an island); "
                "choose other weights (e.g. knn:8 or a wider band)"
            )
        self.ids = weights.ids
        self.y = y
        self.n = len(y)
        self.weights = weights
        self.transform = transform
        self.permutations = int(permutations)
        self.alternative = alternative
        self.correction = correction
        self.islands = list(weights.islands)
        self._calc()
        self.p_norm = significance.p_from_z(self.z)
        self.seed: int | None = None
        self.p_sim: np.ndarray | None = None
        self.inference = "normal"
        if self.permutations:
            # Gi* and its conditional null are unchanged by scaling y, so harm
            # values that are one weight times counts (a single crime type) get
            # the exact null of the counts instead of a Monte Carlo one.
            y_exact = _as_counts(y)
            exact = inference != "permutation" and engine.exact_feasible(
                y_exact, weights.cardinalities
            )
            if inference == "exact" and not exact:
                raise InputError(
                    "--inference exact: needs integer values (counts, not harm-weighted "
                    f"values) and at most {engine.EXACT_MAX_K} neighbours; use permutation"
                )
            if progress:
                progress("Gi* inference", 0, 1)
            if exact:
                self.inference = "exact"
                p_ge, p_le, p_lt = engine.exact_tails(y_exact, weights.indptr, weights.indices)
                self.p_sim = engine.exact_p(p_ge, p_le, p_lt, alternative)
            else:
                self.inference = "permutation"
                self.seed = engine.resolve_seed(seed)
                n_ge, n_le = engine.count_extremes(
                    y, weights.indptr, weights.indices, self.permutations, self.seed
                )
                self._n_ge, self._n_le = n_ge, n_le
                self.p_sim = engine.pseudo_p(n_ge, n_le, self.permutations, alternative)
            if progress:
                progress("Gi* inference", 1, 1)
            self.p_value = (
                np.minimum(1.0, 2 * self.p_sim) if alternative == "directed" else self.p_sim
            )
        else:
            self.p_value = self.p_norm
        self.p_adjusted = significance.adjust(self.p_value, correction)
        self.hotspot_class = significance.classify(self.z, self.p_adjusted)
        self.notes: list[str] = []
        if self.inference == "permutation":
            self._note_resolution()

    def _note_resolution(self) -> None:
        """Say so when the permutation count, not the data, limits what can be found.

        The smallest pseudo p is 1/(R+1) one-sided (2/(R+1) two-sided); after a
        correction over m areas, areas at that floor may miss the 99 % class or
        every class: then the map reflects R, and the user should hear it.
        """
        p = self.p_value
        ok = np.isfinite(p)
        floor = float(np.nanmin(p)) if ok.any() else 1.0
        at_floor = int((p[ok] <= floor).sum())
        best = float(np.nanmin(self.p_adjusted)) if ok.any() else 1.0
        if at_floor and best > 0.01:  # the floor keeps even the strongest areas out of hot-99
            self.notes.append(
                f"{at_floor} area(s) reach the smallest p that {self.permutations} permutations "
                f"can give ({floor:.2g}); after {self.correction} over {int(ok.sum())} areas the "
                f"smallest adjusted p is {best:.2g}. More permutations "
                f"(e.g. {10 * (self.permutations + 1) - 1}) may find more."
            )

    def _calc(self) -> None:
        y = self.y
        n = self.n
        card = self.weights.cardinalities.astype(float)
        nbr_sum = np.add.reduceat(
            np.concatenate([y[self.weights.indices], [0.0]]),
            np.minimum(self.weights.indptr[:-1], len(self.weights.indices)),
        )
        nbr_sum[card == 0] = 0.0
        if self.transform == "B":
            lag = y + nbr_sum
            w_row = card + 1.0
        else:
            lag = (y + nbr_sum) / (card + 1.0)
            w_row = np.ones(n)
        total = y.sum()
        mean = total / n
        var = (y * y).sum() / n - mean * mean
        self.Gs = lag / total
        self.EGs = w_row / n
        self.VGs = w_row * (n - w_row) / (n - 1) / n**2 * var / mean**2
        z = (self.Gs - self.EGs) / np.sqrt(self.VGs)
        z[card == 0] = np.nan
        self.z = z

    @property
    def Zs(self) -> np.ndarray:  # esda's name, kept for people coming from PySAL
        return self.z

    def to_frame(self) -> pd.DataFrame:
        """One row per area: ``area_id, value, gi_z, p_sim, p_adjusted, hotspot_class``."""
        return pd.DataFrame(
            {
                "area_id": self.ids,
                "value": self.y,
                "gi_z": self.z,
                "p_sim": self.p_sim if self.p_sim is not None else np.full(self.n, np.nan),
                "p_norm": self.p_norm,
                "p_adjusted": self.p_adjusted,
                "hotspot_class": self.hotspot_class,
            }
        )

    def class_counts(self) -> dict[str, int]:
        counts = pd.Series(self.hotspot_class).value_counts()
        names = [*significance.CLASSES, significance.NO_NEIGHBOURS]
        return {c: int(counts.get(c, 0)) for c in names}

    def summary(self) -> dict[str, Any]:
        """What a reader needs to judge the map: method, weights, counts per class."""
        return {
            "statistic": "Getis-Ord Gi*",
            "n_areas": self.n,
            "transform": self.transform,
            "weights": self.weights.summary(),
            "permutations": self.permutations if self.inference == "permutation" else None,
            "inference": self.inference,
            "seed": self.seed,
            "alternative": self.alternative,
            "p_used": "p_sim" if self.p_sim is not None else "p_norm",
            "correction": self.correction,
            "classes": self.class_counts(),
            "value_total": float(self.y.sum()),
            "notes": list(self.notes),
        }

    def __repr__(self) -> str:
        hot = sum(v for k, v in self.class_counts().items() if k.startswith("hot"))
        cold = sum(v for k, v in self.class_counts().items() if k.startswith("cold"))
        return f"GiStar(n={self.n}, hot={hot}, cold={cold}, permutations={self.permutations})"


def harm_values(
    counts: pd.DataFrame,
    harm_weights: Mapping[str, float] | None = None,
    *,
    area_ids: Sequence | None = None,
) -> pd.Series:
    """Value per area: ``sum over crime types of n x weight`` (plain counts without weights).

    ``counts`` has columns ``area_id, crime_type, n`` (extra columns such as
    ``month`` are summed over). Areas in ``area_ids`` without records get 0.
    A crime type present in the counts but missing from ``harm_weights`` is an
    error, not a silent zero: dropping it would hide harm.
    """
    need = {"area_id", "n"} | ({"crime_type"} if harm_weights is not None else set())
    missing = need - set(counts.columns)
    if missing:
        raise InputError(f"counts: missing column(s) {', '.join(sorted(missing))}")
    if harm_weights is None:
        v = counts.groupby("area_id")["n"].sum().astype(float)
    else:
        types = set(counts["crime_type"].dropna().unique())
        unknown = sorted(types - set(harm_weights))
        if unknown:
            raise InputError(
                f"harm weights: no weight for crime type(s) {', '.join(map(repr, unknown))}"
            )
        bad = [
            k
            for k, w in harm_weights.items()
            if not (isinstance(w, int | float) and math.isfinite(w) and w >= 0)
        ]
        if bad:
            raise InputError(f"harm weights: weight of {bad[0]!r} is not a non-negative number")
        w = counts["crime_type"].map(harm_weights).astype(float)
        v = (counts["n"].astype(float) * w).groupby(counts["area_id"]).sum()
    if area_ids is not None:
        extra = pd.Index(v.index).difference(pd.Index(area_ids))
        if len(extra):
            raise InputError(f"counts: {len(extra)} area id(s) not in the layer, e.g. {extra[0]!r}")
        v = v.reindex(pd.Index(area_ids), fill_value=0.0)
    v.index.name = "area_id"
    return v.rename("value")


def _as_counts(y: np.ndarray) -> np.ndarray:
    """``y`` divided by its smallest positive value when that makes it whole numbers.

    Returns ``y`` unchanged otherwise (mixed harm weights, rates), so the caller's
    integer check decides between the exact and the permutation null as before.
    """
    pos = y[y > 0]
    if pos.size == 0:
        return y
    scaled = y / pos.min()
    if np.allclose(scaled, np.round(scaled), rtol=0, atol=1e-9 * max(1.0, scaled.max())):
        return np.round(scaled)
    return y
