"""How much a priority list depends on its weights: each weight moved by +-25 percent.

Weights (community priorities, the weight on organisational position) are
judgements. If moving one of them by a quarter reshuffles the top ten, the
ranking says more about the weight than about the markets, and the people who
use it should know. Each weight is moved alone (one at a time), up and down;
the report lists for each move which items enter and leave the top N, the
largest rank shift inside the base top N, and Kendall's tau (scipy) between the
base and the moved ranking of all items.

Note: scaling every harm weight by the same factor cannot change the order
(the score is linear in them), so only one-at-a-time moves are informative.
"""

from __future__ import annotations

from typing import Any

from scipy.stats import kendalltau

from realimpact.markets.ranking import rank_assessments

FACTORS = (0.75, 1.25)


def sensitivity_check(
    assessments: list[dict[str, Any]],
    kinds: dict[str, str] | None,
    harm_weights: dict[str, float] | None,
    position_weight: float = 1.0,
    *,
    top: int = 10,
    factors: tuple[float, ...] = FACTORS,
) -> dict[str, Any]:
    """Re-rank under each one-weight move; summarise how the top ``top`` changes."""
    base_w = dict(harm_weights or {})
    base = rank_assessments(assessments, kinds, base_w, position_weight)
    base_rank = {it["id"]: it["rank"] for it in base}
    base_top = [it["id"] for it in base[:top]]
    harm_ids = sorted({h["harm_id"] for a in assessments for h in a["harms"]})
    moves = []
    targets = [("position", None)] + [("harm", h) for h in harm_ids]
    for what, hid in targets:
        for f in factors:
            if what == "position":
                ranked = rank_assessments(assessments, kinds, base_w, position_weight * f)
                label = "position"
                value = position_weight * f
            else:
                w = dict(base_w)
                w[hid] = base_w.get(hid, 1.0) * f
                ranked = rank_assessments(assessments, kinds, w, position_weight)
                label = hid
                value = w[hid]
            new_rank = {it["id"]: it["rank"] for it in ranked}
            new_top = [it["id"] for it in ranked[:top]]
            ids = [it["id"] for it in base]
            tau = (
                float(kendalltau([base_rank[i] for i in ids], [new_rank[i] for i in ids]).statistic)
                if len(ids) > 1
                else 1.0
            )
            moves.append(
                {
                    "weight": label,
                    "factor": f,
                    "value": value,
                    "entered": [i for i in new_top if i not in base_top],
                    "left": [i for i in base_top if i not in new_top],
                    "order_changed": new_top != base_top,
                    "max_rank_shift": max(
                        (abs(new_rank[i] - base_rank[i]) for i in base_top), default=0
                    ),
                    "kendall_tau": tau,
                }
            )
    membership_changes = [m for m in moves if m["entered"] or m["left"]]
    always_top = [i for i in base_top if all(i not in m["left"] for m in moves)]
    return {
        "factors": list(factors),
        "top": top,
        "base_top": base_top,
        "moves": moves,
        "n_moves": len(moves),
        "n_membership_changes": len(membership_changes),
        "n_order_changes": sum(m["order_changed"] for m in moves),
        "stable_top": always_top,
        "min_kendall_tau": min((m["kendall_tau"] for m in moves), default=1.0),
    }
