"""Emerging (space-time) hot spots: Gi* per month plus a Mann-Kendall trend.

Python had no emerging hot spot analysis (ArcGIS Pro's *Emerging Hot Spot
Analysis*, R's ``sfdep::emerging_hotspot_analysis``). The method:

1. Gi* for every area in every month (same weights; analytical z by default,
   conditional permutations on request), p-values corrected *within each
   month* (BH FDR by default). A month is a hot (cold) bin when the corrected
   p <= ``alpha`` and z > 0 (z < 0).
2. A Mann-Kendall test on each area's series of monthly Gi* z-scores
   (:mod:`realimpact.hotspots.mann_kendall`), significant at ``trend_alpha``.
3. Categories, following ESRI's documented definitions ("How Emerging Hot Spot
   Analysis works"), evaluated in this order for hot spots (cold spots mirror
   them with hot and cold swapped); "90 %" means at least 90 % of the months:

   ================ ===========================================================
   intensifying     hot in the final month and in >= 90 % of months; z trend
                    significantly increasing
   diminishing      hot in the final month and in >= 90 % of months; z trend
                    significantly decreasing
   persistent       hot in the final month and in >= 90 % of months; no
                    significant trend
   oscillating      hot in the final month, < 90 % hot, and a significant cold
                    spot in some earlier month
   new              hot in the final month only, never significant before
   consecutive      hot in an unbroken run of >= 2 final months, never
                    significant before the run, < 90 % hot
   sporadic         hot in the final month, < 90 % hot, hot on and off before,
                    never cold
   historical       not hot in the final month, but hot in >= 90 % of months
   no-pattern       none of the above
   ================ ===========================================================

   Like sfdep, "never significant before" counts cold bins too, so a place that
   was cold and is now hot is *oscillating*, not *new*.

Differences from ArcGIS: Gi* here uses spatial neighbours within each month
(ArcGIS can add neighbouring time steps); a month with no records at all is an
error (it usually means missing data, and Gi* is undefined), not a silent zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from realimpact._progress import ProgressFn
from realimpact.errors import InputError
from realimpact.geo.weights import SpatialWeights
from realimpact.hotspots.gi import GiStar
from realimpact.hotspots.inference import resolve_seed
from realimpact.hotspots.mann_kendall import mann_kendall

__all__ = ["CATEGORIES", "EmergingHotSpots", "classify_series"]

_KINDS = (
    "new", "consecutive", "intensifying", "persistent", "diminishing",
    "sporadic", "oscillating", "historical",
)  # fmt: skip
CATEGORIES = (
    *(f"{k}-hot" for k in _KINDS),
    *(f"{k}-cold" for k in _KINDS),
    "no-pattern",
)


def _classify_side(
    bins: np.ndarray, sign: int, trend_sig: bool, trend_s: float, share: float
) -> str | None:
    """Category for one side (sign=+1 hot, -1 cold), or None if it does not apply."""
    mine = bins == sign
    other = bins == -sign
    name = "hot" if sign > 0 else "cold"
    frac = mine.mean()
    if not mine[-1]:
        return f"historical-{name}" if frac >= share else None
    if frac >= share:
        if trend_sig and sign * trend_s > 0:
            return f"intensifying-{name}"
        if trend_sig and sign * trend_s < 0:
            return f"diminishing-{name}"
        return f"persistent-{name}"
    if other[:-1].any():
        return f"oscillating-{name}"
    run = 0
    for b in mine[::-1]:
        if not b:
            break
        run += 1
    if (bins[: len(bins) - run] == 0).all():
        return f"new-{name}" if run == 1 else f"consecutive-{name}"
    return f"sporadic-{name}"


def classify_series(
    bins: np.ndarray,
    trend_p: float,
    trend_s: float,
    trend_alpha: float = 0.05,
    share: float = 0.9,
) -> str:
    """Category of one area from its monthly bins (+1 hot, -1 cold, 0 neither) and trend.

    ``trend_s`` is the Mann-Kendall S of the area's z-scores (its sign is the
    direction), ``trend_p`` its p-value. Rules in the module docstring; when
    the final month is significant its side decides (a place hot for years and
    cold now is *oscillating cold*, not *historical hot*).
    """
    bins = np.asarray(bins, dtype=int)
    sig = bool(trend_p <= trend_alpha)
    if bins[-1] != 0:  # significant now: the final month's side decides (never None)
        return _classify_side(bins, int(bins[-1]), sig, trend_s, share) or "no-pattern"
    for sign in (+1, -1):  # only 'historical' remains possible
        cat = _classify_side(bins, sign, sig, trend_s, share)
        if cat is not None:
            return cat
    return "no-pattern"


class EmergingHotSpots:
    """Space-time hot spots over consecutive periods.

    Parameters
    ----------
    values : DataFrame or ndarray
        ``(n_areas, n_periods)`` values (counts or harm-weighted), rows in
        ``weights.ids`` order; a DataFrame is aligned by its index (area ids)
        and its columns are the periods.
    weights : SpatialWeights
    periods : sequence of str, optional
        Period labels (``YYYY-MM``) when ``values`` is an array.
    transform, permutations, seed, correction, inference :
        As :class:`realimpact.hotspots.gi.GiStar` (``permutations=0``: normal
        p-values); with Monte Carlo permutations period ``t`` uses seed ``seed + t``.
    alpha : float
        Corrected p-value at or below which a month is a hot/cold bin (default 0.05).
    trend_alpha : float
        Significance of the Mann-Kendall trend (default 0.05).

    Attributes
    ----------
    ids, periods : ndarray
    z : ndarray (n_areas, n_periods)   Gi* z per area and period.
    p_adjusted : ndarray (n_areas, n_periods)
    bins : ndarray of int (n_areas, n_periods)   +1 hot, -1 cold, 0 neither.
    trend_z, trend_p, trend_tau : ndarray   Mann-Kendall on each area's z-scores.
    category : ndarray of str   See :data:`CATEGORIES`.
    notes : list of str   Caveats worth printing (short series, islands).
    seed : int or None
    """

    def __init__(
        self,
        values: Any,
        weights: SpatialWeights,
        *,
        periods: Sequence[str] | None = None,
        transform: str = "B",
        permutations: int = 0,
        seed: int | None = None,
        correction: str = "fdr_bh",
        alpha: float = 0.05,
        trend_alpha: float = 0.05,
        inference: str = "auto",
        progress: ProgressFn | None = None,
    ) -> None:
        if isinstance(values, pd.DataFrame):
            ids = pd.Index(weights.ids)
            missing = ids.difference(values.index)
            if len(missing):
                raise InputError(f"value: no values for area {missing[0]!r} of the weights")
            periods = [str(c) for c in values.columns]
            mat = values.reindex(ids).to_numpy(dtype=float)
        else:
            mat = np.asarray(values, dtype=float)
            if mat.ndim != 2 or mat.shape[0] != weights.n:
                raise InputError(
                    f"value: expected an array of shape ({weights.n}, n_periods), got {mat.shape}"
                )
            periods = (
                list(periods) if periods is not None else [str(i) for i in range(mat.shape[1])]
            )
        n_t = mat.shape[1]
        if n_t < 3:
            raise InputError(
                f"period: emerging hot spots need at least 3 periods, got {n_t} "
                "(widen --period-from/--period-to)"
            )
        if not (0 < alpha < 1 and 0 < trend_alpha < 1):
            raise InputError("alpha: significance levels must lie between 0 and 1")
        self.ids = weights.ids
        self.periods = np.asarray(periods, dtype=object)
        self.values = mat
        self.alpha = alpha
        self.trend_alpha = trend_alpha
        self.correction = correction
        self.permutations = permutations
        self.notes: list[str] = []
        if n_t < 10:
            self.notes.append(
                f"only {n_t} periods: ArcGIS asks for at least 10 before trusting the trend test"
            )
        self.z = np.full(mat.shape, np.nan)
        self.p_adjusted = np.full(mat.shape, np.nan)
        base_seed = resolve_seed(seed) if permutations and inference != "exact" else None
        limited: list[tuple[str, str]] = []
        for t in range(n_t):
            if mat[:, t].sum() == 0:
                raise InputError(
                    f"period {periods[t]}: no records in this period; every period in the range "
                    "needs data (missing month?) - narrow --period-from/--period-to to skip it"
                )
            try:
                g = GiStar(
                    mat[:, t], weights, transform=transform, permutations=permutations,
                    seed=None if base_seed is None else base_seed + t, correction=correction,
                    inference=inference,
                )  # fmt: skip
            except InputError as e:
                raise InputError(f"period {periods[t]}: {e}") from None
            self.inference = g.inference
            if g.notes:
                limited.append((periods[t], g.notes[0]))
            self.z[:, t] = g.z
            self.p_adjusted[:, t] = g.p_adjusted
            if progress:
                progress("Gi* per period", 1, n_t)
        self.seed = base_seed if self.inference == "permutation" else None
        if limited:
            self.notes.append(
                f"in {len(limited)} of {n_t} periods, e.g. {limited[0][0]}: {limited[0][1]}"
            )
        self.islands = list(weights.islands)
        if self.islands:
            self.notes.append(f"{len(self.islands)} area(s) without neighbours: not classified")
        sig = np.isfinite(self.p_adjusted) & (self.p_adjusted <= alpha)
        self.bins = np.where(sig, np.sign(self.z), 0).astype(int)
        ok = np.isfinite(self.z).all(axis=1)
        self.trend_z = np.full(weights.n, np.nan)
        self.trend_p = np.full(weights.n, np.nan)
        self.trend_tau = np.full(weights.n, np.nan)
        trend_s = np.zeros(weights.n)
        if ok.any():
            mk = mann_kendall(self.z[ok], alpha=trend_alpha)
            self.trend_z[ok], self.trend_p[ok], self.trend_tau[ok] = mk.z, mk.p, mk.tau
            trend_s[ok] = mk.s
        self.category = np.array(
            [
                classify_series(self.bins[i], self.trend_p[i], trend_s[i], trend_alpha)
                if ok[i]
                else "no-neighbours"
                for i in range(weights.n)
            ],
            dtype=object,
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per area: category, trend and how often it was hot/cold."""
        return pd.DataFrame(
            {
                "area_id": self.ids,
                "category": self.category,
                "trend_z": self.trend_z,
                "trend_p": self.trend_p,
                "trend_tau": self.trend_tau,
                "n_hot": (self.bins > 0).sum(axis=1),
                "n_cold": (self.bins < 0).sum(axis=1),
                "final_z": self.z[:, -1],
                "final_bin": np.where(
                    self.bins[:, -1] > 0, "hot", np.where(self.bins[:, -1] < 0, "cold", "-")
                ),
            }
        )

    def category_counts(self) -> dict[str, int]:
        counts = pd.Series(self.category).value_counts()
        return {c: int(counts.get(c, 0)) for c in (*CATEGORIES, "no-neighbours")}

    def summary(self) -> dict[str, Any]:
        return {
            "analysis": "emerging hot spots (Gi* per period + Mann-Kendall)",
            "n_areas": len(self.ids),
            "periods": [str(self.periods[0]), str(self.periods[-1])],
            "n_periods": len(self.periods),
            "alpha": self.alpha,
            "trend_alpha": self.trend_alpha,
            "correction": self.correction,
            "permutations": self.permutations,
            "inference": self.inference,
            "seed": self.seed,
            "categories": {k: v for k, v in self.category_counts().items() if v},
            "notes": self.notes,
        }
