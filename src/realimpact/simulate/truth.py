"""The ground truth of a simulated city, as the numbers an evaluation should recover.

Every figure here is computed from the expected counts (no noise), so it is
the estimand, not an estimate: the rate ratio a Poisson difference-in-
differences targets, the weighted displacement quotient of the expected counts,
the extra searches the operation caused, the survey shifts.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from realimpact.simulate.crimes import (
    _AGES,
    CHILD_SHARE_OP,
    CRIMINALISING,
    DRUGS_OUTCOMES,
    FIND_RATE,
    FIND_RATE_OP,
    Expected,
    months_from,
    survey_truth,
)
from realimpact.simulate.params import CRIME_TYPES, SimulationParams


def windows(params: SimulationParams) -> dict[str, dict[str, str]]:
    """Baseline = the ``baseline_months`` before the start; follow-up = the operation."""
    op = months_from(params.op_start, params.op_months)
    import pandas as pd

    b0 = str(pd.Period(params.op_start, freq="M") - params.baseline_months)
    b1 = str(pd.Period(params.op_start, freq="M") - 1)
    return {"baseline": {"from": b0, "to": b1}, "follow_up": {"from": op[0], "to": op[-1]}}


def _wdq(r_b: float, r_a: float, b_b: float, b_a: float, c_b: float, c_a: float) -> dict:
    """Bowers and Johnson (2003) measures on expected counts (POP Center guide formulas).

    Effects count crimes prevented (positive = fewer crimes); the success and
    buffer measures are changes in the ratio to control (negative = fewer).
    """
    success = r_a / c_a - r_b / c_b
    buffer = b_a / c_a - b_b / c_b
    return {
        "gross_effect": r_b - r_a,
        "net_effect": r_b * (c_a / c_b) - r_a,
        "success_measure": success,
        "buffer_measure": buffer,
        "wdq": buffer / success if success != 0 else None,
        "total_net_effect": (r_b * c_a / c_b - r_a) + (b_b * c_a / c_b - b_a),
    }


def build_truth(
    params: SimulationParams,
    exp: Expected,
    search_mu: np.ndarray,
    search_mu0: np.ndarray,
    indicator_types: dict[str, list[str]],
) -> dict[str, Any]:
    months = np.array(exp.months)
    win = windows(params)
    before = (months >= win["baseline"]["from"]) & (months <= win["baseline"]["to"])
    after = (months >= win["follow_up"]["from"]) & (months <= win["follow_up"]["to"])
    role_idx = {r: np.array(v) for r, v in exp.roles.items()}

    def tot(mu: np.ndarray, role: str, mask: np.ndarray, cs: list[int]) -> float:
        return float(mu[np.ix_(role_idx[role], mask, cs)].sum())

    effects: dict[str, Any] = {}
    for c, name in enumerate(CRIME_TYPES):
        effects[name] = _type_truth(params, exp, [c], before, after, tot)
        effects[name]["rate_ratio"] = params.effect(name)
        effects[name]["log_rate_ratio"] = math.log(params.effect(name))
        effects[name]["buffer_rate_ratio"] = params.buffer_effect(name)
    indicators = {}
    for ind, types in indicator_types.items():
        cs = [CRIME_TYPES.index(t) for t in types]
        truth = _type_truth(params, exp, cs, before, after, tot)
        cf = truth["expected"]["target"]["after_counterfactual"]
        rr = truth["expected"]["target"]["after"] / cf if cf else 1.0
        truth.update(crime_types=types, rate_ratio=rr, log_rate_ratio=math.log(rr))
        indicators[ind] = truth

    t_idx = role_idx["target"]
    extra_searches = float(search_mu[t_idx][:, after].sum() - search_mu0[t_idx][:, after].sum())
    with_op = float(search_mu[t_idx][:, after].sum())
    without = float(search_mu0[t_idx][:, after].sum())
    child_base = dict(_AGES)["10-17"]
    drugs = CRIME_TYPES.index("Drugs")
    extra_drugs = tot(exp.mu, "target", after, [drugs]) - tot(exp.mu0, "target", after, [drugs])
    crim_share = sum(w for o, w in DRUGS_OUTCOMES if o in CRIMINALISING) / sum(
        w for _, w in DRUGS_OUTCOMES
    )
    harms = {
        "window": win["follow_up"],
        "searches": {"expected": with_op, "counterfactual": without, "extra": extra_searches},
        "searches_no_find": {
            "expected": with_op * (1 - FIND_RATE_OP),
            "counterfactual": without * (1 - FIND_RATE),
            "extra": with_op * (1 - FIND_RATE_OP) - without * (1 - FIND_RATE),
        },
        "searches_of_children": {
            "expected": with_op * (CHILD_SHARE_OP + (1 - CHILD_SHARE_OP) * child_base),
            "counterfactual": without * child_base,
            "extra": with_op * (CHILD_SHARE_OP + (1 - CHILD_SHARE_OP) * child_base)
            - without * child_base,
        },
        "find_rate": {"operation": FIND_RATE_OP, "usual": FIND_RATE},
        "people_criminalised": {
            "extra": extra_drugs * crim_share,
            "note": "extra Drugs records in the target x share of disposals that leave a record",
        },
    }
    return {
        "windows": win,
        "effects": effects,
        "indicators": indicators,
        "enforcement_harms": harms,
        "survey": survey_truth(params),
    }


def _type_truth(params, exp, cs, before, after, tot) -> dict[str, Any]:
    ex: dict[str, dict[str, float]] = {}
    for role in ("target", "buffer", "control"):
        ex[role] = {
            "before": tot(exp.mu, role, before, cs),
            "after": tot(exp.mu, role, after, cs),
            "after_counterfactual": tot(exp.mu0, role, after, cs),
        }
    e = ex
    return {
        "expected": ex,
        "wdq": _wdq(
            e["target"]["before"],
            e["target"]["after"],
            e["buffer"]["before"],
            e["buffer"]["after"],
            e["control"]["before"],
            e["control"]["after"],
        ),
        "buffer_log_rate_ratio": math.log(
            e["buffer"]["after"] / e["buffer"]["after_counterfactual"]
        )
        if e["buffer"]["after_counterfactual"] > 0
        else 0.0,
    }
