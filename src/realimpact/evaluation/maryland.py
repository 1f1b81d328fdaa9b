"""Plain-words strength of a design on the Maryland Scientific Methods Scale.

Sherman, Gottfredson, MacKenzie, Eck, Reuter and Bushway (1997), *Preventing
Crime: What Works, What Doesn't, What's Promising*, and Farrington, Gottfredson,
Sherman and Welsh (2002) rank designs from 1 to 5:

1. a correlation at one point in time;
2. before and after in the treated area, no comparable control;
3. before and after in treated and comparable control areas;
4. before and after in several treated and control areas, controlling for
   other influences (or a design that rules out most threats);
5. random assignment of areas to treatment and control.

The College of Policing's EMMIE and What Works Centre treat level 3 as the
minimum for a credible claim of effect. The level stated here is a *ceiling*:
a failed assumption check pulls the sentence down, never the design up.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LEVELS", "sms_statement"]

LEVELS = {
    1: "a correlation at one point in time",
    2: "before and after in the target only, without a comparable control",
    3: "before and after in the target and comparable control areas",
    4: "before and after in several target and control areas, controlling for other influences",
    5: "random assignment of areas to the operation and to control",
}


def sms_statement(
    design: str,
    *,
    n_target: int = 1,
    n_control: int = 0,
    randomised: bool = False,
    checks_failed: list[str] | None = None,
) -> dict[str, Any]:
    """Level and one paragraph a chief inspector can read.

    ``design`` is ``did``, ``wdd``, ``wdq``, ``its``, ``before_after`` or ``survey``.
    """
    failed = list(checks_failed or [])
    if design in ("did", "wdd", "wdq") and n_control > 0:
        level = (
            5 if randomised else (4 if design == "did" and n_target >= 5 and n_control >= 5 else 3)
        )
    elif design in ("its", "before_after", "survey"):
        level = 2
    else:
        level = 1
    words = {
        "did": "difference-in-differences on monthly counts: the target's change is compared "
        "with the control areas' change over the same months",
        "wdd": "weighted displacement difference: before/after counts in target and buffer "
        "compared with control areas",
        "wdq": "weighted displacement quotient: before/after counts in target, buffer and control",
        "its": "interrupted time series: the target's monthly trend before the start is "
        "projected forward and compared with what happened",
        "before_after": "a simple before/after comparison in the target",
        "survey": "survey waves before and after, without a comparison group",
    }.get(design, design)
    text = (
        f"Maryland Scientific Methods Scale level {level} of 5 ({LEVELS[level]}). Design: {words}."
    )
    if level <= 2:
        text += (
            " Anything else that changed at the same time (seasons, a lockdown, a change "
            "in recording) cannot be separated from the operation, so treat any change as "
            "suggestive, not as proof of effect."
        )
    elif level == 3:
        text += (
            " This is the usual minimum for a credible claim, provided the control areas "
            "would have followed the same trend as the target without the operation."
        )
    else:
        text += " A strong quasi-experimental design, if its assumptions hold."
    if failed:
        text += " Caution: " + "; ".join(failed) + "."
    return {
        "level": level,
        "label": LEVELS[level],
        "design": design,
        "statement": text,
        "checks_failed": failed,
    }
