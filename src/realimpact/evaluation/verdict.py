"""One verdict per indicator: the primary design decides, the interval speaks.

A report that lets every design compete for the headline says two things
about one indicator ("no clear change" and "benefits spread") and reads a
point value as a finding. This module fixes the reading before any number is
seen:

* the **primary design** is the one the plan declared for the indicator (or
  for the whole plan); failing that, the strongest design the areas and
  months allow, chosen by a stated rule (:func:`choose_design`):
  difference-in-differences with at least ``MIN_DID_CONTROLS`` control areas
  and ``MIN_DID_BASELINE`` baseline months, else the weighted displacement
  difference (WDD) when there is any control, else the interrupted time
  series when the baseline is long enough, else nothing;
* "fell" or "rose" is said only when the primary design's 95% interval
  excludes no change (1 for a rate ratio, 0 for a difference); an interval
  that cannot be bounded is "not estimable", never a result;
* "displacement" or "diffusion of benefits" is said only when the target
  fell and the buffer's change relative to the control, with its
  overdispersion-aware interval, excludes zero; otherwise "none detected",
  with the range not ruled out (a buffer that moved while the target did not
  is said as such, never as displacement or diffusion);
* every other design is kept as a sensitivity check and never headlines.

The result is a plain dict (``results.json`` ``indicators[].verdict``) so
scripts, the report and the web app read the same words.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "DESIGN_LABELS",
    "MIN_DID_BASELINE",
    "MIN_DID_CONTROLS",
    "choose_design",
    "design_reading",
    "displacement_reading",
    "verdict",
]

Z95 = 1.959963984540054  # scipy.stats.norm.ppf(0.975): the 95% Wald intervals read here
MIN_DID_CONTROLS = 5
MIN_DID_BASELINE = 6
MIN_ITS_BASELINE = 6

DESIGN_LABELS = {
    "did": "difference-in-differences",
    "wdd": "weighted displacement difference",
    "its": "interrupted time series",
    "synthetic": "synthetic control",
}

# What each fallback cannot rule out: said beside a defaulted design.
WEAKNESS = {
    "wdd": (
        "it compares before/after changes with the control's and cannot check that the areas"
        " were on parallel trends"
    ),
    "its": (
        "it has no comparison areas, so anything else that changed at the start (a season, a"
        " lockdown, a recording change) is read as the operation's effect"
    ),
}


def choose_design(
    declared: str | None, n_target: int, n_control: int, n_baseline: int
) -> tuple[str | None, str]:
    """(design, why) for one indicator.

    ``declared`` (the indicator's ``design``, else the plan's) always wins: a
    design chosen after seeing the results is no longer a test. The default
    rule prefers the design whose assumptions the data can check.
    """
    if declared:
        return declared, "declared in the plan before the operation"
    if not n_target:
        return None, "no target areas"
    if n_control >= MIN_DID_CONTROLS and n_baseline >= MIN_DID_BASELINE:
        return "did", (
            f"default: {n_control} control areas and {n_baseline} baseline months"
            f" (difference-in-differences needs at least {MIN_DID_CONTROLS} and"
            f" {MIN_DID_BASELINE})"
        )
    short = []
    if n_control < MIN_DID_CONTROLS:
        short.append(f"{_n(n_control, 'control area')} (at least {MIN_DID_CONTROLS} needed)")
    if n_baseline < MIN_DID_BASELINE:
        short.append(f"{_n(n_baseline, 'baseline month')} (at least {MIN_DID_BASELINE} needed)")
    why_not = "difference-in-differences not used: " + " and ".join(short)
    if n_control:
        return "wdd", f"default: {why_not}; the weakness of the WDD: {WEAKNESS['wdd']}"
    if n_baseline >= MIN_ITS_BASELINE:
        return "its", f"default: {why_not}; the weakness of the ITS: {WEAKNESS['its']}"
    return None, (
        f"{why_not}; no control areas and fewer than {MIN_ITS_BASELINE} baseline months for an"
        " interrupted time series"
    )


def _n(k: int, word: str) -> str:
    return f"{k} {word}" + ("" if k == 1 else "s")


def _finite(*xs: Any) -> bool:
    return all(isinstance(x, int | float) and math.isfinite(x) for x in xs)


def _change(lo: float, hi: float, no_change: float) -> str:
    if lo > no_change:
        return "rose"
    if hi < no_change:
        return "fell"
    return "no_clear_change"


def design_reading(design: str, ind: dict[str, Any]) -> dict[str, Any]:
    """The estimate, interval and change that one design gives for an indicator dict.

    ``ind`` is the indicator's ``results.json`` block. Returns ``change =
    "not_estimable"`` with a ``reason`` when the design did not run or could
    not bound its interval.
    """
    out: dict[str, Any] = {"design": design, "design_label": DESIGN_LABELS.get(design, design)}
    block = ind.get(design)
    if design == "did":
        if not block:
            return out | _not(ind, "difference-in-differences")
        inf = block.get("extra", {}).get("inference") or block.get("inference")
        readings = {"wild": "wild cluster bootstrap", "t": "t with clusters - 1 df"}
        out["design_label"] += f", {readings.get(inf, 'normal z')}"
        est, lo, hi = block.get("rate_ratio"), block.get("rr_low"), block.get("rr_high")
        out.update(scale="rate_ratio", no_change=1.0, estimate=est, ci_low=lo, ci_high=hi)
    elif design == "its":
        level = (block or {}).get("level")
        if not level:
            return out | _not(ind, "interrupted time series")
        out["design_label"] += ", level change, quasi-Poisson"
        est, lo, hi = level.get("rate_ratio"), level.get("rr_low"), level.get("rr_high")
        out.update(scale="rate_ratio", no_change=1.0, estimate=est, ci_low=lo, ci_high=hi)
    elif design == "wdd":
        if not block:
            return out | _not(ind, "weighted displacement difference")
        ex = block.get("extra", {})
        est, se = ex.get("local_estimate"), ex.get("local_se")
        lo, hi = (est - Z95 * se, est + Z95 * se) if _finite(est, se) else (None, None)
        quasi = ex.get("interval", "quasi_poisson") == "quasi_poisson"
        out["design_label"] += ", quasi-Poisson interval" if quasi else ", Poisson interval"
        out.update(scale="crimes_per_month", no_change=0.0, estimate=est, ci_low=lo, ci_high=hi)
    else:
        return out | {"change": "not_estimable", "reason": f"design {design!r} is not available"}
    if not _finite(out["estimate"]):
        return out | {"change": "not_estimable", "reason": "the design gave no estimate"}
    if not _finite(out["ci_low"], out["ci_high"]):
        n_t = (ind.get("target") or {}).get("areas")
        n_c = (ind.get("control") or {}).get("areas")
        areas = f" with {_n(n_t, 'target area')} and {_n(n_c or 0, 'control area')}" if n_t else ""
        return out | {
            "change": "not_estimable",
            "reason": f"the 95% interval cannot be bounded{areas}: the data cannot tell an"
            " effect from chance",
        }
    nc, lo, hi = out["no_change"], out["ci_low"], out["ci_high"]
    out["change"] = _change(lo, hi, nc)
    excl = "excludes" if out["change"] != "no_clear_change" else "includes"
    out["reason"] = f"the 95% interval {_num(lo)} to {_num(hi)} {excl} no change ({_num(nc)})"
    return out


def _not(ind: dict[str, Any], what: str) -> dict[str, Any]:
    why = next((n for n in ind.get("notes", []) if what in n), None)
    return {"change": "not_estimable", "reason": why or f"the {what} could not be run"}


def _num(x: float) -> str:
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.2f}"


def displacement_reading(ind: dict[str, Any]) -> dict[str, Any]:
    """Displacement to the buffer from the WDD's buffer-vs-control part (quasi-Poisson).

    Positive and excluding zero: the buffer rose more than the control
    (displacement); negative and excluding zero: it fell more (diffusion of
    benefits); otherwise none detected, with the range that was not ruled out.
    """
    if not ind.get("buffer"):
        return {"displacement": "not_estimable", "displacement_reason": "no buffer areas"}
    w = ind.get("wdd")
    ex = (w or {}).get("extra", {})
    est, se = ex.get("displacement_estimate"), ex.get("displacement_se")
    if not _finite(est, se):
        return {
            "displacement": "not_estimable",
            "displacement_reason": "no control areas to compare the buffer with"
            if not ind.get("control")
            else "the buffer-vs-control difference could not be estimated",
        }
    lo, hi = est - Z95 * se, est + Z95 * se
    if lo > 0:
        kind, words = "displacement", "the buffer rose relative to the control"
    elif hi < 0:
        kind, words = "diffusion", "the buffer fell relative to the control"
    else:
        kind = "none_detected"
        words = f"could not rule out {lo:+.1f} to {hi:+.1f} crimes a month in the buffer"
    return {
        "displacement": kind,
        "displacement_estimate": est,
        "displacement_ci_low": lo,
        "displacement_ci_high": hi,
        "displacement_scale": "crimes_per_month",
        "displacement_reason": f"{words} (95% interval {lo:+.1f} to {hi:+.1f} crimes a month)",
    }


def verdict(ind: dict[str, Any], declared: str | None, n_baseline: int) -> dict[str, Any] | None:
    """The ``verdict`` block of one outcome/indirect indicator (None for outputs/process).

    ``ind`` is the indicator's results block (counts and designs already in it).
    """
    if ind.get("kind") not in ("outcome", "indirect") or not ind.get("target"):
        return None
    n_t = (ind.get("target") or {}).get("areas", 0)
    n_c = (ind.get("control") or {}).get("areas", 0)
    design, why = choose_design(declared, n_t, n_c, n_baseline)
    if design is None:
        v: dict[str, Any] = {
            "design": None,
            "design_label": None,
            "change": "not_estimable",
            "estimate": None,
            "ci_low": None,
            "ci_high": None,
            "no_change": None,
            "scale": None,
            "reason": why,
        }
    else:
        v = design_reading(design, ind)
        for k in ("estimate", "ci_low", "ci_high", "no_change", "scale"):
            v.setdefault(k, None)
    v["design_reason"] = why
    v.update(displacement_reading(ind))
    if v["displacement"] in ("displacement", "diffusion") and v["change"] != "fell":
        # Displacement and diffusion are what an effect in the target does next door;
        # without a clear fall in the target, a change in the buffer is not one of them.
        lo, hi = v["displacement_ci_low"], v["displacement_ci_high"]
        v["displacement"] = "not_estimable"
        v["displacement_reason"] = (
            f"the buffer moved against the control ({lo:+.1f} to {hi:+.1f} crimes a month),"
            " but with no clear fall in the target this is not read as displacement or"
            " diffusion of benefits"
        )
    others = [d for d in ("did", "wdd", "its") if d != design and ind.get(d)]
    v["sensitivity"] = [design_reading(d, ind) for d in others]
    return v
