"""The net harm balance: harm prevented beside the harm the operation caused.

UKDPC (2009, Box A) and the College of Policing (2022) warn that
enforcement can itself cause harm -- violence after seizures destabilise a
market, people criminalised, children and vulnerable tenants affected by
closures. A plan promises to monitor these (``unintended_consequences[].monitor``);
the balance puts them next to the harm-weighted change in crime so the
trade-off is explicit rather than netted away.

Crime side: for each crime type, the Bowers-Johnson total net effect over
target plus buffer,

    TNE = (T_b + B_b) r - (T_a + B_a),   r = C_a / C_b,

is the number of crimes prevented relative to the control trend (positive =
prevented), and the harm prevented is ``sum_k w_k TNE_k`` with harm weights
``w_k`` (e.g. Cambridge Crime Harm Index days). Because r rescales by the
control's own before/after ratio, unequal baseline and follow-up lengths are
handled. Treating all six counts as independent Poisson, the delta method gives

    Var(TNE) ~= r^2 (T_b + B_b) + (T_a + B_a) + (T_b + B_b)^2 r^2 (1/C_a + 1/C_b),

and Var(sum w_k TNE_k) = sum w_k^2 Var(TNE_k).

Real area-month counts vary more than Poisson, so the interval the
evaluation shows multiplies each type's variance by that type's
overdispersion factor phi_k (quasi-Poisson; estimated from the area-month
panel by :func:`realimpact.evaluation.displacement.wdd_dispersion`). The
Poisson reading stays beside it (``crime_harm["poisson"]``). The validation
study (``benchmarks/validation.py``) measures the coverage of both.

Sources: UK Drug Policy Commission (2009) *Moving towards Real Impact Drug
Enforcement*, Box A; College of Policing (2022) *Crime Reduction Toolkit:
supplier arrest and seizure*, "Impact on drug harms".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from realimpact.errors import ValidationError
from realimpact.evaluation.results import Estimate

__all__ = ["harm_balance", "tne_estimate"]

Pair = Sequence[float]


def tne_estimate(
    target: Pair,
    buffer: Pair,
    control: Pair,
    *,
    level: float = 0.95,
    name: str = "tne",
    dispersion: float = 1.0,
) -> Estimate:
    """Total net effect (crimes prevented in target + buffer) with a delta-method SE.

    ``dispersion`` multiplies the Poisson variance (quasi-Poisson); 1 is Poisson.
    """
    if not (math.isfinite(dispersion) and dispersion > 0):
        raise ValidationError(f"must be > 0, got {dispersion}", source="dispersion")
    tb, ta = float(target[0]), float(target[1])
    bb, ba = float(buffer[0]), float(buffer[1])
    cb, ca = float(control[0]), float(control[1])
    if cb <= 0 or ca <= 0:
        return Estimate(
            name,
            float("nan"),
            float("nan"),
            float("nan"),
            float("nan"),
            float("nan"),
            int(tb + ta + bb + ba),
            "count",
            level,
            "undefined: the control area has no crimes in one period",
        )
    r = ca / cb
    pre, post = tb + bb, ta + ba
    est = pre * r - post
    var = (r * r * pre + post + pre * pre * r * r * (1 / ca + 1 / cb)) * dispersion
    error = "Poisson" if dispersion == 1.0 else f"quasi-Poisson (x {dispersion:.2f})"
    return Estimate.from_normal(
        name,
        est,
        math.sqrt(var),
        int(pre + post + cb + ca),
        level=level,
        method=f"Bowers-Johnson total net effect (target + buffer), delta-method {error} SE",
        extra={"dispersion": float(dispersion)},
    )


def harm_balance(
    counts: Mapping[str, Mapping[str, Pair]],
    weights: Mapping[str, float],
    *,
    weights_name: str = "count",
    weights_unit: str = "crimes",
    operation_harms: Sequence[Mapping[str, Any]] = (),
    level: float = 0.95,
    dispersion: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Harm-weighted change in target + buffer beside the operation's own harms.

    Parameters
    ----------
    counts : crime type -> {"target": (b, a), "buffer": (b, a), "control": (b, a)}
    weights : crime type -> harm weight (every type in ``counts`` needs one)
    operation_harms : the monitored consequences, already measured, each a mapping
        with at least ``id`` and ``status`` (the engine builds these)
    dispersion : crime type -> overdispersion factor for the interval (default 1,
        Poisson, for every type); the Poisson reading is always kept beside it.
    """
    missing = sorted(set(counts) - set(weights))
    if missing:
        raise ValidationError(f"no harm weight for {', '.join(missing)}", source="harm_weights")
    by_type = []
    est = var = var_poisson = 0.0
    n = 0
    phis = dict(dispersion or {})
    for k, c in counts.items():
        phi = float(phis.get(k, 1.0))
        t = tne_estimate(
            c["target"], c.get("buffer", (0, 0)), c["control"], level=level, name=f"tne:{k}",
            dispersion=phi,
        )  # fmt: skip
        w = float(weights[k])
        by_type.append(
            {
                "crime_type": k,
                "weight": w,
                "crimes_prevented": t.estimate,
                "se": t.se,
                "dispersion": phi,
                "harm_prevented": w * t.estimate,
            }
        )
        if math.isfinite(t.estimate):
            est += w * t.estimate
            var += (w * t.se) ** 2
            var_poisson += (w * t.se) ** 2 / phi
            n += t.n
    quasi = bool(phis) and any(v != 1.0 for v in phis.values())
    crime = Estimate.from_normal(
        "harm_prevented",
        est,
        math.sqrt(var),
        n,
        scale="harm",
        level=level,
        method=f"harm-weighted total net effect ({weights_name} weights), "
        + (
            "quasi-Poisson interval (overdispersion per crime type)"
            if quasi
            else "Poisson interval"
        ),
    )
    poisson = Estimate.from_normal("harm_prevented", est, math.sqrt(var_poisson), n, level=level)
    measured = [h for h in operation_harms if h.get("status") == "measured"]
    unmeasured = [h for h in operation_harms if h.get("status") != "measured"]
    if crime.ci_low > 0:
        crime_words = (
            f"crime harm fell: about {crime.estimate:,.0f} {weights_unit} prevented in "
            f"target and buffer (95% CI {crime.ci_low:,.0f} to {crime.ci_high:,.0f})"
        )
    elif crime.ci_high < 0:
        crime_words = (
            f"crime harm rose: about {-crime.estimate:,.0f} {weights_unit} more than "
            f"the control trend predicts (95% CI {-crime.ci_high:,.0f} to "
            f"{-crime.ci_low:,.0f})"
        )
    else:
        crime_words = (
            "no clear change in crime harm in target and buffer "
            f"(estimate {crime.estimate:,.0f} {weights_unit} prevented, 95% CI "
            f"{crime.ci_low:,.0f} to {crime.ci_high:,.0f})"
        )
    parts = [crime_words]
    if measured:
        parts.append(
            "harms the operation may have caused, as monitored: "
            + "; ".join(h.get("summary", h["id"]) for h in measured)
        )
    if unmeasured:
        parts.append(
            "promised but not measured: " + ", ".join(h.get("label") or h["id"] for h in unmeasured)
        )
    return {
        "crime_harm": {
            **crime.to_dict(),
            "weights": weights_name,
            "unit": weights_unit,
            "interval": "quasi_poisson" if quasi else "poisson",
            # harm prevented > 0 means harm fell; said only when the interval agrees
            "change": "fell"
            if crime.ci_low > 0
            else "rose"
            if crime.ci_high < 0
            else "no_clear_change",
            "poisson": {k: getattr(poisson, k) for k in ("se", "ci_low", "ci_high", "p")},
            "by_type": by_type,
        },
        "operation_harms": list(operation_harms),
        "statement": ". ".join(p[0].upper() + p[1:] for p in parts) + ".",
    }
