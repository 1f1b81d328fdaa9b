"""Interrupted time series: segmented count regression with seasonality.

For one monthly series (crimes in the target area), Bernal, Cummins and
Gasparrini (2017, Int J Epidemiol 46:348, "Interrupted time series regression
for the evaluation of public health interventions: a tutorial"):

    log E[y_t] = b0 + b1 t + b2 post_t + b3 (t - t0) post_t + seasonality_t

``b2`` is the immediate change in level at the start (log rate ratio), ``b3``
the change in monthly trend. Seasonality is either Fourier terms (sin/cos of
2 pi k m / 12; few parameters, good for short series) or calendar-month
dummies. Counts are usually overdispersed and autocorrelated, so errors are
quasi-Poisson (Pearson scale) by default or Newey-West (HAC) on request.

Checks: a placebo interruption inside the baseline, and the Ljung-Box test of
residual autocorrelation. Without a control series the design is at best
level 2 on the Maryland scale: anything else that changed at the same time
(a lockdown, a new recording rule) is indistinguishable from the operation.
"""

from __future__ import annotations

import warnings as _warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.stats.diagnostic import acorr_ljungbox
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

from realimpact.errors import ValidationError
from realimpact.evaluation.results import Estimate
from realimpact.periods import month_index

__all__ = ["ITSResult", "its_counts", "its_design"]


def _month_list(months: Sequence[str], shown: int = 6) -> str:
    head = ", ".join(months[:shown])
    return head + (f" and {len(months) - shown} more" if len(months) > shown else "")


def its_design(
    months: Sequence[str], start: str, seasonality: str = "fourier", harmonics: int = 2
) -> pd.DataFrame:
    """Design matrix: const, time, post, time_since (months), seasonal terms."""
    mi = month_index(list(months))
    t0 = int(month_index([start])[0])
    d = pd.DataFrame({"const": 1.0, "time": (mi - mi[0]).astype(float)})
    d["post"] = (mi >= t0).astype(float)
    d["time_since"] = np.where(mi >= t0, mi - t0, 0).astype(float)
    moy = mi % 12  # 0 = January
    if seasonality == "fourier":
        for k in range(1, harmonics + 1):
            d[f"sin{k}"] = np.sin(2 * np.pi * k * moy / 12)
            d[f"cos{k}"] = np.cos(2 * np.pi * k * moy / 12)
    elif seasonality == "months":
        for m in range(1, 12):
            d[f"m{m + 1:02d}"] = (moy == m).astype(float)
    elif seasonality != "none":
        raise ValidationError(
            f"unknown seasonality {seasonality!r} (fourier | months | none)", source="seasonality"
        )
    # Drop seasonal columns that are constant in this window (short series).
    keep = [
        c for c in d.columns if c in ("const", "time", "post", "time_since") or d[c].std() > 1e-12
    ]
    return d[keep]


@dataclass
class ITSResult:
    """Segmented regression results.

    Attributes
    ----------
    level : Estimate
        Immediate change in level at the start (log rate ratio, ``b2``).
    slope : Estimate
        Change in monthly trend after the start (log scale per month, ``b3``).
    count_effect : Estimate
        Crimes over the follow-up minus the counterfactual with b2 = b3 = 0
        (delta-method standard error); negative = fewer crimes.
    placebo : Estimate | None
        Level change at a fake start inside the baseline (baseline months only).
    ljung_box_p : float
        p-value of the Ljung-Box test of residual autocorrelation (lag 6 or fewer).
    scale : float
        Dispersion (Pearson chi2 / df) used for quasi-Poisson errors.
    n : int
        Months in the series.
    params, bse : pandas.Series
        All coefficients and their standard errors.
    warnings : list[str]
    """

    level: Estimate
    slope: Estimate
    count_effect: Estimate
    placebo: Estimate | None
    ljung_box_p: float
    scale: float
    n: int
    params: pd.Series
    bse: pd.Series
    fitted: pd.Series
    counterfactual: pd.Series
    warnings: list[str] = field(default_factory=list)

    estimate = property(lambda self: self.level.estimate)
    se = property(lambda self: self.level.se)
    ci_low = property(lambda self: self.level.ci_low)
    ci_high = property(lambda self: self.level.ci_high)
    p = property(lambda self: self.level.p)

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level.to_dict(),
            "slope": self.slope.to_dict(),
            "count_effect": self.count_effect.to_dict(),
            "placebo": self.placebo.to_dict() if self.placebo else None,
            "ljung_box_p": self.ljung_box_p,
            "scale": self.scale,
            "n": self.n,
            "fitted": {k: float(v) for k, v in self.fitted.items()},
            "counterfactual": {k: float(v) for k, v in self.counterfactual.items()},
            "warnings": list(self.warnings),
        }


def _fit(y: np.ndarray, X: pd.DataFrame, errors: str, maxlags: int):
    """(fitted GLM, whether statsmodels saw perfect separation).

    A series that is zero in whole stretches (a rare crime type in a few areas)
    makes some fitted means tend to zero; statsmodels then warns once per fit,
    which floods the console. The fact goes into the result's warnings instead.
    """
    if errors not in ("quasi", "hac", "poisson"):
        raise ValidationError(f"unknown errors {errors!r} (quasi | hac | poisson)", source="errors")
    model = sm.GLM(y, X, family=sm.families.Poisson())
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always", PerfectSeparationWarning)
        if errors == "quasi":
            res = model.fit(scale="X2", tol=1e-12)
        elif errors == "hac":
            res = model.fit(cov_type="HAC", cov_kwds={"maxlags": maxlags}, tol=1e-12)
        else:
            res = model.fit(tol=1e-12)
    separated = False
    for w in caught:
        if issubclass(w.category, PerfectSeparationWarning):
            separated = True
        else:  # anything else keeps its normal route
            _warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return res, separated


def its_counts(
    series: pd.Series | pd.DataFrame,
    *,
    start: str,
    seasonality: str = "fourier",
    harmonics: int = 2,
    errors: str = "quasi",
    maxlags: int = 3,
    placebo_start: str | None = None,
    level: float = 0.95,
) -> ITSResult:
    """Segmented Poisson regression of a monthly count series around ``start``.

    ``series`` is indexed by 'YYYY-MM' (or a frame with ``month, n``). A month
    absent from the series is unknown and is left out of the fit -- never
    counted as zero (a month with no crimes must be given as 0). The time
    terms use calendar month numbers, so a gap stays a gap: the trend and the
    months since the start are measured in real months, and the result's
    warnings name the months left out.
    """
    if isinstance(series, pd.DataFrame):
        series = series.groupby("month")["n"].sum()
    s = series.copy()
    s.index = s.index.astype(str)
    if s.index.has_duplicates:
        s = s.groupby(level=0).sum()
    s = s.sort_index()
    s = s[s.notna()].astype(float)
    months = list(s.index)
    if not months:
        raise ValidationError("no months in the series: nothing to model", source="series")
    idx = month_index(months)
    span = [f"{m // 12:04d}-{m % 12 + 1:02d}" for m in range(int(idx[0]), int(idx[-1]) + 1)]
    gaps = sorted(set(span) - set(months))
    pre = [m for m in months if m < start]
    post = [m for m in months if m >= start]
    if len(pre) < 6 or len(post) < 1:
        raise ValidationError(
            f"ITS needs >= 6 baseline months before {start} and >= 1 after; "
            f"got {len(pre)} and {len(post)}",
            source="months",
        )
    if s.sum() == 0:
        raise ValidationError("no records in the series: nothing to model", source="series")
    X = its_design(months, start, seasonality, harmonics)
    res, separated = _fit(s.to_numpy(), X, errors, maxlags)
    params, cov = res.params, res.cov_params()
    q = "ITS segmented Poisson regression" + (
        " (quasi-Poisson errors)" if errors == "quasi" else f" ({errors} errors)"
    )
    n = len(months)
    lvl = Estimate.from_normal(
        "its_level",
        float(params["post"]),
        float(res.bse["post"]),
        n,
        scale="log_rate_ratio",
        level=level,
        method=q,
    )
    slp = Estimate.from_normal(
        "its_slope",
        float(params["time_since"]),
        float(res.bse["time_since"]),
        n,
        scale="log_rate_ratio",
        level=level,
        method=q + "; change in monthly trend",
    )
    Xp = X.loc[X["post"] == 1].to_numpy()
    Xcf = X.loc[X["post"] == 1].copy()
    Xcf["post"] = 0.0
    Xcf["time_since"] = 0.0
    Xcf = Xcf.to_numpy()
    b = params.to_numpy()
    mu_p, mu_cf = np.exp(Xp @ b), np.exp(Xcf @ b)
    eff = float(mu_p.sum() - mu_cf.sum())
    grad = (mu_p[:, None] * Xp).sum(0) - (mu_cf[:, None] * Xcf).sum(0)
    se_eff = float(np.sqrt(grad @ cov.to_numpy() @ grad))
    cnt = Estimate.from_normal(
        "its_count_effect",
        eff,
        se_eff,
        n,
        level=level,
        method=q + "; follow-up total minus counterfactual (delta method)",
    )
    warnings: list[str] = []
    if gaps:
        warnings.append(
            f"{len(gaps)} month(s) missing from the series ({_month_list(gaps)}): left out of"
            " the fit, not counted as zero; time is measured in calendar months"
        )
    if separated:
        warnings.append(
            "some months are fitted as near zero (perfect separation); the level and"
            " trend changes may not be identified"
        )
    resid = np.asarray(res.resid_pearson)
    lags = max(1, min(6, n // 4))
    lb = float(acorr_ljungbox(resid, lags=[lags], return_df=True)["lb_pvalue"].iloc[0])
    if lb < 0.05:
        warnings.append(
            f"residuals are autocorrelated (Ljung-Box p = {lb:.3f}); consider errors='hac'"
        )
    placebo = None
    ps = placebo_start or pre[len(pre) // 2]
    pre_s = s.loc[pre]
    Xpl = its_design(pre, ps, seasonality, harmonics) if len(pre) >= 8 else None
    if Xpl is not None and len(pre) - Xpl.shape[1] < 2:
        # as many coefficients as months: no residual left to judge a change by
        warnings.append(
            f"placebo check skipped: {len(pre)} baseline months are too few for its"
            f" {Xpl.shape[1]} coefficients"
        )
        Xpl = None
    if Xpl is not None and pre[0] < ps <= pre[-1]:
        try:
            rpl, _ = _fit(pre_s.to_numpy(), Xpl, errors, maxlags)
            placebo = Estimate.from_normal(
                "its_placebo",
                float(rpl.params["post"]),
                float(rpl.bse["post"]),
                len(pre),
                scale="log_rate_ratio",
                level=level,
                method=f"placebo ITS on baseline months, fake start {ps}",
                extra={"fake_start": ps},
            )
            if placebo.p < 0.05:
                warnings.append(
                    f"placebo start {ps} shows a 'significant' level change "
                    f"(p = {placebo.p:.3f}); the series has breaks unrelated to "
                    "the operation"
                )
        except (ValueError, np.linalg.LinAlgError):
            placebo = None
    fitted = pd.Series(np.asarray(res.fittedvalues), index=months)
    Xall_cf = X.copy()
    Xall_cf["post"] = 0.0
    Xall_cf["time_since"] = 0.0
    cf = pd.Series(np.exp(Xall_cf.to_numpy() @ b), index=months)
    return ITSResult(
        level=lvl,
        slope=slp,
        count_effect=cnt,
        placebo=placebo,
        ljung_box_p=lb,
        scale=float(res.scale),
        n=n,
        params=params,
        bse=res.bse,
        fitted=fitted,
        counterfactual=cf,
        warnings=warnings,
    )
