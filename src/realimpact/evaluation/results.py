"""Result objects shared by every estimator in :mod:`realimpact.evaluation`.

Every design (WDD, DiD, ITS, survey tests, net harm) answers the same five
questions: how big, how uncertain, how sure, from how much data. One small,
immutable type carries those answers so the report, the JSON output and a
notebook user read the same attribute names whatever the method.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from scipy import stats

__all__ = ["Estimate", "normal_ci", "t_ci", "two_sided_p"]


def two_sided_p(z: float, df: float | None = None) -> float:
    """Two-sided p-value of a Wald statistic: standard normal, or Student t when ``df`` is given.

    NaN stays NaN.
    """
    if not math.isfinite(z):
        return float("nan")
    if df is None:
        return float(2.0 * stats.norm.sf(abs(z)))
    return float(2.0 * stats.t.sf(abs(z), df))


def normal_ci(estimate: float, se: float, level: float = 0.95) -> tuple[float, float]:
    """Wald interval; most designs here rest on large-sample normality."""
    q = float(stats.norm.ppf(0.5 + level / 2.0))
    return estimate - q * se, estimate + q * se


def t_ci(estimate: float, se: float, df: float, level: float = 0.95) -> tuple[float, float]:
    """Wald interval with Student t critical values.

    With few clusters a cluster-robust standard error is itself noisy, so
    normal critical values give intervals that are too short; t with G - 1
    degrees of freedom is the usual correction (Cameron and Miller 2015,
    J. Human Resources 50(2), section VI.C; Stata's default after
    ``vce(cluster)`` in linear models).
    """
    q = float(stats.t.ppf(0.5 + level / 2.0, df))
    return estimate - q * se, estimate + q * se


@dataclass(frozen=True)
class Estimate:
    """One estimated effect with its uncertainty.

    Attributes
    ----------
    name : str
        What was estimated (``"did"``, ``"wdd"``, ``"its_level"`` ...).
    estimate : float
        Point estimate, on the scale named by ``scale``.
    se : float
        Standard error of ``estimate``.
    ci_low, ci_high : float
        Confidence interval at ``level`` (default 95 percent).
    p : float
        Two-sided p-value for "no effect".
    n : int
        Observations behind the estimate (area-months, months, respondents,
        or crimes counted, as the method says).
    scale : str
        ``"count"`` (crimes), ``"log_rate_ratio"``, ``"score"`` or ``"harm"``.
    level : float
        Confidence level of the interval.
    method : str
        Short plain-words description of the method and its error model.
    extra : dict
        Method-specific values (rate ratio, z, components...).
    """

    name: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p: float
    n: int
    scale: str = "count"
    level: float = 0.95
    method: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_normal(
        cls,
        name: str,
        estimate: float,
        se: float,
        n: int,
        *,
        scale: str = "count",
        level: float = 0.95,
        method: str = "",
        extra: dict[str, Any] | None = None,
    ) -> Estimate:
        """Build from a point estimate and standard error with a Wald interval and z-test."""
        z = estimate / se if se > 0 else float("nan")
        return cls._wald(
            name, estimate, se, n, normal_ci(estimate, se, level), two_sided_p(z),
            {"z": z, "inference": "normal", **(extra or {})}, scale, level, method,
        )  # fmt: skip

    @classmethod
    def from_t(
        cls,
        name: str,
        estimate: float,
        se: float,
        n: int,
        df: float,
        *,
        scale: str = "count",
        level: float = 0.95,
        method: str = "",
        extra: dict[str, Any] | None = None,
    ) -> Estimate:
        """Like :meth:`from_normal` but with Student t(``df``) interval and p-value.

        ``extra`` records ``t`` (the statistic), ``df`` and ``inference="t"``.
        """
        if not df > 0:
            raise ValueError(f"degrees of freedom must be positive, got {df}")
        t = estimate / se if se > 0 else float("nan")
        return cls._wald(
            name, estimate, se, n, t_ci(estimate, se, df, level), two_sided_p(t, df),
            {"t": t, "df": float(df), "inference": "t", **(extra or {})}, scale, level, method,
        )  # fmt: skip

    @classmethod
    def _wald(
        cls, name: str, estimate: float, se: float, n: int, ci: tuple[float, float], p: float,
        extra: dict[str, Any], scale: str, level: float, method: str,
    ) -> Estimate:  # fmt: skip
        """The one place a Wald-type estimate is assembled, whatever its reference law."""
        lo, hi = ci
        return cls(name, float(estimate), float(se), float(lo), float(hi), p, int(n), scale,
                   level, method, extra)  # fmt: skip

    @property
    def z(self) -> float:
        """Wald statistic estimate / se."""
        return self.estimate / self.se if self.se > 0 else float("nan")

    @property
    def rate_ratio(self) -> tuple[float, float, float] | None:
        """(ratio, low, high) for log-scale estimates; None otherwise."""
        if self.scale != "log_rate_ratio":
            return None
        return _exp(self.estimate), _exp(self.ci_low), _exp(self.ci_high)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON (the results.json contract names are top-level keys)."""
        d = asdict(self)
        rr = self.rate_ratio
        if rr is not None:
            d["rate_ratio"], d["rr_low"], d["rr_high"] = rr
        return d


def _exp(x: float) -> float:
    """exp that saturates to inf: a placebo on a near-empty series can have a log-scale
    interval bound in the thousands, and math.exp would raise instead of saying 'unbounded'."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf
