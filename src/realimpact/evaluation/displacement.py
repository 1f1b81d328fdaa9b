"""Displacement and diffusion of benefit from before/after counts.

Two families, both built only from crime counts before (B) and after (A) the
operation in a target area, a buffer around it and comparison areas, because
that is often all an analyst has:

* **Bowers and Johnson (2003)** measures, with the names, formulas and sign
  conventions of Guerette (2009), *Analyzing Crime Displacement and
  Diffusion*, POP Center Problem-Solving Tool Guide No. 10, Appendices B-C.
  With R = response (target) area, D = buffer (displacement) area, C =
  control area and subscripts b/a for before/after:

  - gross effect            GE  = R_b - R_a                 (> 0: crime fell)
  - net effect              NE  = R_b (C_a / C_b) - R_a     (> 0: fell more than control)
  - success measure         SM  = R_a/C_a - R_b/C_b         (< 0: success)
  - buffer measure          BDM = D_a/C_a - D_b/C_b         (> 0: displacement,
                                                             < 0: diffusion)
  - weighted displacement quotient  WDQ = BDM / SM          (> 0: diffusion,
                                                             < 0: displacement; below
                                                             -1 the gain is erased)
  - total net effect        TNE = [R_b (C_a/C_b) - R_a] + [D_b (C_a/C_b) - D_a]
                                                            (crimes prevented, buffer
                                                             included)

  None of these has a standard error; they describe, they do not test.

* **Wheeler and Ratcliffe (2018)**, "A simple weighted displacement difference
  test to evaluate place based crime interventions", *Crime Science* 7:11:

      WDD = (T_a - T_b) - (Ct_a - Ct_b)  +  (D_a - D_b) - (Cd_a - Cd_b)

  where Ct is the target's control and Cd the buffer's own control. Counts
  are treated as independent Poisson, so Var(WDD) is the sum of the eight
  counts; with time or area weights (Wheeler's later extensions, as in the
  ``ptools`` R package) each count is divided by its weight and its variance
  by the weight squared. Negative WDD means crimes prevented. Several crime
  types combine into one harm-weighted WDD as sum(w_k WDD_k) with variance
  sum(w_k^2 Var_k) (Wheeler 2020, "Amending the WDD test to incorporate harm
  weights").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from realimpact.errors import ValidationError
from realimpact.evaluation.results import Estimate

__all__ = [
    "WDQResult",
    "displacement_from_counts",
    "harm_weighted_wdd",
    "parse_pair",
    "wdd",
    "wdd_dispersion",
    "wdd_shared_control",
    "wdq",
]

Pair = tuple[float, float]


# Largest count accepted: far above any area's crimes, far below where the WDD's
# variance (a sum of counts, squared in the z) or the WDQ's ratios overflow.
MAX_COUNT = 1e12


def parse_pair(text: str, field: str) -> Pair:
    """Read ``"B,A"`` (before, after) as two non-negative counts; one-line error otherwise."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 2:
        raise ValidationError(f"expected two counts 'BEFORE,AFTER', got {text!r}", source=field)
    try:
        vals = (float(parts[0]), float(parts[1]))
    except ValueError:
        raise ValidationError(f"counts must be numbers, got {text!r}", source=field) from None
    return _check_pair(vals, field)


def _check_pair(pair: Sequence[float], field: str) -> Pair:
    if len(pair) != 2:
        raise ValidationError("expected (before, after)", source=field)
    b, a = float(pair[0]), float(pair[1])
    for v in (b, a):
        if not math.isfinite(v) or v < 0:
            raise ValidationError(f"counts must be finite and >= 0, got {b:g},{a:g}", source=field)
        if v > MAX_COUNT:
            # squares and products of such counts overflow; no area records a trillion crimes
            raise ValidationError(
                f"counts must be at most {MAX_COUNT:.0e}, got {b:g},{a:g}", source=field
            )
    return b, a


def _div(x: float, y: float) -> float:
    return x / y if y != 0 else float("nan")


@dataclass(frozen=True)
class WDQResult:
    """Bowers and Johnson displacement measures (no uncertainty: descriptive).

    Attributes
    ----------
    gross_effect : float
        R_b - R_a; positive means crime fell in the target area.
    net_effect : float
        R_b (C_a/C_b) - R_a; crimes prevented in the target beyond the control trend.
    success_measure : float
        R_a/C_a - R_b/C_b; negative means the target improved relative to control.
    buffer_measure : float
        D_a/C_a - D_b/C_b; positive suggests displacement, negative diffusion.
    wdq : float
        buffer_measure / success_measure; NaN when the success measure is zero.
    total_net_effect : float
        Net effect in target plus buffer, in crimes (positive = prevented).
    """

    gross_effect: float
    net_effect: float
    success_measure: float
    buffer_measure: float
    wdq: float
    total_net_effect: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @property
    def reading(self) -> str:
        """Plain-words reading of the WDQ, per Guerette (2009) Appendix C."""
        if not math.isfinite(self.wdq):
            return "WDQ undefined (no change in the target relative to control)."
        if self.success_measure >= 0:
            return "The target did not improve relative to control; WDQ is not interpretable."
        if self.wdq > 1:
            return "Diffusion of benefit larger than the effect in the target."
        if self.wdq > 0:
            return "Diffusion of benefit into the buffer."
        if self.wdq == 0:
            return "No displacement or diffusion."
        if self.wdq >= -1:
            return "Some displacement, smaller than the gain in the target."
        return "Displacement erased the gain in the target."


def wdq(target: Sequence[float], buffer: Sequence[float], control: Sequence[float]) -> WDQResult:
    """Bowers and Johnson (2003) measures as given in Guerette (2009), Appendix B.

    Each argument is (before, after) counts for the same before and after periods.
    """
    rb, ra = _check_pair(target, "target")
    db, da = _check_pair(buffer, "buffer")
    cb, ca = _check_pair(control, "control")
    trend = _div(ca, cb)
    success = _div(ra, ca) - _div(rb, cb)
    buf = _div(da, ca) - _div(db, cb)
    ne = rb * trend - ra
    return WDQResult(
        gross_effect=rb - ra,
        net_effect=ne,
        success_measure=success,
        buffer_measure=buf,
        wdq=_div(buf, success),
        total_net_effect=ne + (db * trend - da),
    )


def _diff(pair: Pair, w_pre: float, w_post: float) -> tuple[float, float]:
    """Weighted after-minus-before and its Poisson variance."""
    b, a = pair
    return a / w_post - b / w_pre, a / w_post**2 + b / w_pre**2


def wdd(
    target: Sequence[float],
    control: Sequence[float],
    buffer: Sequence[float] | None = None,
    buffer_control: Sequence[float] | None = None,
    *,
    time_weights: Sequence[float] = (1.0, 1.0),
    area_weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
    level: float = 0.95,
) -> Estimate:
    """Weighted displacement difference of Wheeler and Ratcliffe (2018).

    Parameters
    ----------
    target, control : (before, after)
        Counts in the treated area and its matched control.
    buffer, buffer_control : (before, after), optional
        Counts in the displacement (buffer) area and its own control; both or neither.
    time_weights : (pre, post)
        Lengths of the periods (e.g. (12, 3) months) so the estimate is per unit time.
    area_weights : (control, target, buffer_control, buffer)
        Sizes (or populations) of the four areas, in ``ptools::wdd``'s order.
    level : float
        Confidence level of the interval.

    Returns
    -------
    Estimate
        ``estimate`` = total WDD (negative = crimes prevented), ``se``, ``ci_*``,
        ``p``; ``extra`` holds ``z``, ``local_estimate``, ``local_se``,
        ``displacement_estimate``, ``displacement_se``.
    """
    t = _check_pair(target, "target")
    c = _check_pair(control, "control")
    if (buffer is None) != (buffer_control is None):
        raise ValidationError(
            "give both buffer and buffer_control counts, or neither", source="buffer_control"
        )
    tp, tq = (float(x) for x in time_weights)
    wc, wt, wdc, wd = (float(x) for x in area_weights)
    if min(tp, tq, wc, wt, wdc, wd) <= 0:
        raise ValidationError("weights must be > 0", source="weights")
    dt, vt = _diff(t, tp * wt, tq * wt)
    dc, vc = _diff(c, tp * wc, tq * wc)
    local, var_local = dt - dc, vt + vc
    disp, var_disp = 0.0, 0.0
    n = sum(t) + sum(c)
    if buffer is not None and buffer_control is not None:
        d = _check_pair(buffer, "buffer")
        cd = _check_pair(buffer_control, "buffer_control")
        dd, vd = _diff(d, tp * wd, tq * wd)
        dcd, vcd = _diff(cd, tp * wdc, tq * wdc)
        disp, var_disp = dd - dcd, vd + vcd
        n += sum(d) + sum(cd)
    return Estimate.from_normal(
        "wdd",
        local + disp,
        math.sqrt(var_local + var_disp),
        int(n),
        level=level,
        method="Weighted displacement difference (Wheeler & Ratcliffe 2018), Poisson variance",
        extra={
            "local_estimate": local,
            "local_se": math.sqrt(var_local),
            "displacement_estimate": disp if buffer is not None else None,
            "displacement_se": math.sqrt(var_disp) if buffer is not None else None,
        },
    )


def wdd_shared_control(
    target: Sequence[float],
    control: Sequence[float],
    buffer: Sequence[float] | None = None,
    *,
    time_weights: Sequence[float] = (1.0, 1.0),
    level: float = 0.95,
    dispersion: float = 1.0,
) -> Estimate:
    """WDD when the buffer has no control of its own and shares the target's.

    A plan names one set of control areas. Using it for both halves gives
    ``WDD = dT - dC + dB - dC``; the control change then enters twice, so its
    variance enters four times: Var = Var(dT) + Var(dB) + 4 Var(dC). (Plugging
    the same control into :func:`wdd` twice would understate the error.)
    With ``time_weights = (baseline months, follow-up months)`` the estimate is
    a change in crimes per month; ``extra["over_follow_up"]`` scales it to the
    whole follow-up.

    ``dispersion`` (default 1: Wheeler and Ratcliffe's published Poisson
    variance) multiplies every count's variance, a quasi-Poisson reading for
    counts that vary more than Poisson (see :func:`wdd_dispersion`).
    """
    tp, tq = (float(x) for x in time_weights)
    if min(tp, tq) <= 0:
        raise ValidationError("weights must be > 0", source="time_weights")
    if not (math.isfinite(dispersion) and dispersion > 0):
        raise ValidationError(f"must be > 0, got {dispersion}", source="dispersion")
    dt, vt = _diff(_check_pair(target, "target"), tp, tq)
    dc, vc = _diff(_check_pair(control, "control"), tp, tq)
    est, var = dt - dc, vt + vc
    n = sum(target) + sum(control)
    extra: dict[str, Any] = {
        "local_estimate": dt - dc,
        "local_se": math.sqrt(vt + vc),
        "displacement_estimate": None,
        "displacement_se": None,
    }
    if buffer is not None:
        b = _check_pair(buffer, "buffer")
        db, vb = _diff(b, tp, tq)
        est, var = dt + db - 2 * dc, vt + vb + 4 * vc
        extra.update(displacement_estimate=db - dc, displacement_se=math.sqrt(vb + vc))
        n += sum(b)
    root = math.sqrt(dispersion)
    se = math.sqrt(var) * root
    for k in ("local_se", "displacement_se"):
        if extra[k] is not None:
            extra[k] *= root
    extra.update(
        over_follow_up=est * tq,
        over_follow_up_se=se * tq,
        per="month" if time_weights != (1.0, 1.0) else "period",
        dispersion=float(dispersion),
    )
    variance = (
        "Poisson variance"
        if dispersion == 1.0
        else f"quasi-Poisson variance (Poisson x {dispersion:.2f})"
    )
    return Estimate.from_normal(
        "wdd",
        est,
        se,
        int(n),
        level=level,
        method="WDD (Wheeler & Ratcliffe 2018), buffer sharing the target's control, "
        f"per unit time, {variance}",
        extra=extra,
    )


def wdd_dispersion(
    counts: pd.DataFrame,
    target: Sequence[str],
    control: Sequence[str],
    buffer: Sequence[str] | None = None,
    *,
    start: str,
    months: Sequence[str] | None = None,
) -> float:
    """Overdispersion of area-month counts, as the factor on the WDD's Poisson variance.

    Why: the WDD's variance is the sum of the counts (Poisson). Area-month
    counts of crime vary more than that, and the validation study found the
    Poisson interval held the truth 90% of the time instead of 95%. The WDD
    sums area-months, so the factor it needs is Var(sum) / E(sum) =
    sum Var(y) / sum mu, estimated here by ``sum (y - mu)^2 / sum mu`` from a
    Poisson fit with area and month effects and one change each for the target
    and buffer in the follow-up (so the operation's effect is not mistaken for
    noise), scaled by N / (N - parameters). Floored at 1. Assumes area-months
    are independent given the fit; correlation over months within an area
    would need more.

    ``counts``: ``area_id, month, n`` (missing area-months count as zero).
    """
    from realimpact.evaluation.fixed_effects import fe_glm

    areas = list(dict.fromkeys([*target, *(buffer or []), *control]))
    if months is None:
        months = sorted(counts["month"].astype(str).unique())
    months = sorted(dict.fromkeys(str(m) for m in months))
    grid = pd.MultiIndex.from_product([areas, months], names=["area_id", "month"])
    panel = (
        counts.groupby(["area_id", "month"])["n"].sum().reindex(grid, fill_value=0).reset_index()
    )
    post = (panel["month"] >= start).to_numpy()
    cols = [panel["area_id"].isin(set(target)).to_numpy() & post]
    if buffer:
        cols.append(panel["area_id"].isin(set(buffer)).to_numpy() & post)
    X = np.column_stack(cols).astype(float)
    y = panel["n"].to_numpy(dtype=float)
    fit = fe_glm(y, X, [panel["area_id"].to_numpy(), panel["month"].to_numpy()])
    yk = y[fit.keep]
    n_par = (
        X.shape[1]
        + len(set(panel.loc[fit.keep, "area_id"]))
        + len(set(panel.loc[fit.keep, "month"]))
        - 1
    )
    if fit.n <= n_par or fit.mu.sum() <= 0:
        return 1.0
    phi = float(np.sum((yk - fit.mu) ** 2) / np.sum(fit.mu)) * fit.n / (fit.n - n_par)
    return max(phi, 1.0)


def harm_weighted_wdd(
    parts: Mapping[str, Estimate], weights: Mapping[str, float], *, level: float = 0.95
) -> Estimate:
    """Combine per-crime-type WDDs into one harm-weighted WDD.

    ``parts`` maps crime type to its WDD; ``weights`` maps crime type to a harm
    weight (e.g. Cambridge Crime Harm Index days). Types without a weight are an
    error: silently dropping them would understate harm.
    """
    missing = sorted(set(parts) - set(weights))
    if missing:
        raise ValidationError(f"no harm weight for {', '.join(missing)}", source="harm_weights")
    est = sum(weights[k] * e.estimate for k, e in parts.items())
    var = sum((weights[k] * e.se) ** 2 for k, e in parts.items())
    n = sum(e.n for e in parts.values())
    return Estimate.from_normal(
        "wdd_harm",
        est,
        math.sqrt(var),
        n,
        scale="harm",
        level=level,
        method="Harm-weighted WDD: sum of weight x WDD, variance sum of weight^2 x Var",
        extra={
            "by_type": {
                k: {"weight": weights[k], "estimate": e.estimate, "se": e.se}
                for k, e in parts.items()
            }
        },
    )


def displacement_from_counts(
    target: Sequence[float],
    buffer: Sequence[float],
    control: Sequence[float],
    buffer_control: Sequence[float] | None = None,
    *,
    level: float = 0.95,
) -> dict[str, Any]:
    """The ``evaluate displacement`` contract: WDQ measures, plus WDD when the buffer has a control.

    A zero control count leaves the WDQ measures that divide by it undefined
    (None, with a note saying why); the WDD divides by no count, so it is given
    whatever the counts.
    """
    measures = wdq(target, buffer, control).to_dict()
    undefined = [k for k, v in measures.items() if not math.isfinite(v)]
    res: dict[str, Any] = {
        "wdq": {k: None if k in undefined else v for k, v in measures.items()},
        "wdd": None,
        "notes": [],
    }
    if undefined:
        cb, ca = _check_pair(control, "control")
        zero = [w for w, v in (("before", cb), ("after", ca)) if v == 0]
        why = (
            f"they divide by the control count {' and '.join(zero)}, which "
            + ("is 0" if len(zero) == 1 else "are 0")
            if zero
            else "the success measure is 0 (the target moved exactly as the control did)"
        )
        res["notes"].append(f"{', '.join(k.replace('_', ' ') for k in undefined)} undefined: {why}")
    if buffer_control is not None:
        w = wdd(target, control, buffer, buffer_control, level=level)
        res["wdd"] = {
            "estimate": w.estimate,
            "se": w.se,
            "z": w.extra["z"],
            "ci_low": w.ci_low,
            "ci_high": w.ci_high,
            "p": w.p,
            "local_estimate": w.extra["local_estimate"],
            "local_se": w.extra["local_se"],
            "displacement_estimate": w.extra["displacement_estimate"],
            "displacement_se": w.extra["displacement_se"],
        }
    return res
