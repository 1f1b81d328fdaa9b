"""A results dict in the results.json contract (DESIGN.md), built by hand for report tests.

Numbers are invented but consistent; small counts (below 5) are planted on
purpose so that partner suppression has something to hide.
"""

from __future__ import annotations

import math
from typing import Any

MONTHS = [f"2023-{m:02d}" for m in range(1, 13)] + [f"2024-{m:02d}" for m in range(1, 7)]


def _did(rr: float, lo: float, hi: float, p: float) -> dict[str, Any]:
    return {
        "estimate": math.log(rr),
        "se": (math.log(hi) - math.log(lo)) / 3.92,
        "ci_low": math.log(lo),
        "ci_high": math.log(hi),
        "p": p,
        "n": 684,
        "scale": "log_rate_ratio",
        "rate_ratio": rr,
        "rr_low": lo,
        "rr_high": hi,
        "pre_trend": {"estimate": 0.01, "se": 0.01, "p": 0.31},
        "placebos": [{"estimate": 0.02, "se": 0.05, "p": 0.62}],
        "warnings": [],
    }


def _monthly(t: list[int], b: list[int], c: list[int]) -> list[dict[str, Any]]:
    return [
        {"month": m, "role": role, "n": n}
        for role, ys in (("target", t), ("buffer", b), ("control", c))
        for m, n in zip(MONTHS, ys, strict=True)
    ]


def results() -> dict[str, Any]:
    asb_t = [80] * 12 + [55] * 6
    rob_t = [3, 4, 2, 6, 3, 1, 4, 2, 3, 5, 2, 3, 1, 2, 0, 3, 1, 2]  # small: suppressed
    return {
        "plan_id": "op-test-sweep",
        "title": "Operation Test Sweep",
        "generated_at": "2024-08-01 09:00 UTC",
        "plan": {
            "id": "op-test-sweep",
            "title": "Operation Test Sweep",
            "start": "2024-01",
            "end": "2024-06",
            "targets": {"markets": ["m-secret-market-7"]},
            "areas": {
                "layer": "lsoa",
                "target": ["E01990001", "E01990002"],
                "buffer": ["E01990003"],
                "control": ["E01990004", "E01990005"],
            },
            "harms": [{"id": "ph-increase-violence", "mechanism": "Fewer disputes over turf."}],
            "tactics": ["visible-street-patrols", "stop-and-search"],
            "indicators": [
                {
                    "id": "asb",
                    "kind": "outcome",
                    "source": "police_uk",
                    "crime_types": ["Anti-social behaviour"],
                    "baseline": {"from": "2023-01", "to": "2023-12"},
                    "follow_up": {"from": "2024-01", "to": "2024-06"},
                },
                {
                    "id": "robbery",
                    "kind": "outcome",
                    "source": "police_uk",
                    "crime_types": ["Robbery"],
                    "baseline": {"from": "2023-01", "to": "2023-12"},
                    "follow_up": {"from": "2024-01", "to": "2024-06"},
                },
                {
                    "id": "drugs-crime",
                    "kind": "output",
                    "source": "police_uk",
                    "crime_types": ["Drugs"],
                    "baseline": {"from": "2023-01", "to": "2023-12"},
                    "follow_up": {"from": "2024-01", "to": "2024-06"},
                },
            ],
            "displacement": {"expected": "Dealing moves to the next streets."},
            "unintended_consequences": [
                {
                    "id": "enf-criminal-record",
                    "mitigation": "Divert to treatment.",
                    "monitor": "drugs-crime",
                }
            ],
            "partners": ["housing", "treatment"],
            "support": {"treatment_capacity": "Extra slots."},
        },
        "indicators": [
            {
                "id": "asb",
                "kind": "outcome",
                "source": "police_uk",
                "target": {"before": 960, "after": 330, "months_before": 12, "months_after": 6},
                "buffer": {"before": 700, "after": 380, "months_before": 12, "months_after": 6},
                "control": {"before": 1200, "after": 610, "months_before": 12, "months_after": 6},
                "wdq": {
                    "gross_effect": 25.0,
                    "net_effect": 26.6,
                    "success_measure": -0.27,
                    "buffer_measure": 0.04,
                    "wdq": -0.15,
                    "total_net_effect": 20.1,
                },
                "wdd": {
                    "estimate": -20.5,
                    "se": 6.0,
                    "ci_low": -32.3,
                    "ci_high": -8.7,
                    "p": 0.0006,
                },
                "did": _did(0.68, 0.58, 0.80, 0.0001),
                "sms": [
                    {
                        "level": 4,
                        "design": "did",
                        "label": "several areas, controls",
                        "statement": "Maryland Scientific Methods Scale level 4 of 5.",
                        "checks_failed": [],
                    }
                ],
                "monthly": _monthly(asb_t, [58] * 12 + [63] * 6, [100] * 18),
                "notes": [],
            },
            {
                "id": "robbery",
                "kind": "outcome",
                "source": "police_uk",
                "target": {"before": 38, "after": 9, "months_before": 12, "months_after": 6},
                "buffer": {"before": 20, "after": 4, "months_before": 12, "months_after": 6},
                "control": {"before": 50, "after": 24, "months_before": 12, "months_after": 6},
                "wdq": {
                    "gross_effect": 1.7,
                    "net_effect": 1.5,
                    "success_measure": -0.33,
                    "buffer_measure": -0.1,
                    "wdq": 0.3,
                    "total_net_effect": 2.2,
                },
                "did": _did(0.61, 0.30, 1.24, 0.17),
                "monthly": _monthly(rob_t, [2] * 18, [4] * 18),
                "notes": [],
            },
            {
                "id": "drugs-crime",
                "kind": "output",
                "source": "police_uk",
                "target": {"before": 240, "after": 190, "months_before": 12, "months_after": 6},
                "control": {"before": 300, "after": 150, "months_before": 12, "months_after": 6},
                "monthly": _monthly([20] * 12 + [31] * 6, [10] * 18, [25] * 18),
                "notes": ["output indicator: a ledger of activity, not a measure of impact"],
            },
            {
                "id": "residents-views",
                "kind": "outcome",
                "source": "survey:residents",
                "survey": [
                    {
                        "group": "residents (target)",
                        "question": "feel_safe",
                        "paired": True,
                        "n_before": 80,
                        "n_after": 80,
                        "result": {
                            "estimate": 0.4,
                            "ci_low": 0.2,
                            "ci_high": 0.6,
                            "p": 0.001,
                            "n": 80,
                            "extra": {"mean_before": 2.6, "mean_after": 3.0},
                        },
                    },
                    {
                        "group": "professionals (target)",
                        "question": "feel_safe",
                        "paired": False,
                        "n_before": 3,
                        "n_after": 4,
                        "result": {
                            "estimate": 0.2,
                            "ci_low": -0.9,
                            "ci_high": 1.3,
                            "p": 0.7,
                            "n": 7,
                            "extra": {"mean_before": 2.7, "mean_after": 2.9},
                        },
                    },
                ],
            },
        ],
        "outputs_ledger": {
            "drugs_crimes": {
                "before": {"crimes": 240, "nfa": {"k": 50, "m": 240, "share": 0.21}},
                "after": {"crimes": 190, "nfa": {"k": 3, "m": 190, "share": 0.016}},
                "scope": "target and buffer areas",
            },
            "drug_searches": {
                "before": {
                    "months": 12,
                    "searches": 410,
                    "find_rate": {"k": 115, "m": 410, "share": 0.28},
                },
                "after": {
                    "months": 6,
                    "searches": 378,
                    "find_rate": {"k": 87, "m": 378, "share": 0.23},
                },
                "find_rate_trend": {"estimate": -0.3, "p": 0.09},
            },
        },
        "net_harm": {
            "crime_harm": {
                "estimate": 5000.0,
                "ci_low": -2000.0,
                "ci_high": 12000.0,
                "p": 0.16,
                "weights": "cchi",
                "unit": "days",
                "by_type": [
                    {"crime_type": "Anti-social behaviour", "harm_prevented": 215.0},
                    {"crime_type": "Robbery", "harm_prevented": 547.5},
                    {"crime_type": "Drugs", "harm_prevented": -184.3},
                ],
            },
            "operation_harms": [
                {
                    "id": "enf-criminal-record",
                    "monitor": "drugs-crime",
                    "mitigation": "Divert to treatment.",
                    "status": "measured",
                    "before_per_month": 20.0,
                    "after_per_month": 31.7,
                    "change_pct": 58.3,
                }
            ],
            "statement": "Harm fell in the target and buffer; drugs records rose.",
        },
        "map": {
            "areas": [
                {
                    "area_id": f"E0199000{i}",
                    "role": r,
                    "wkt": f"POLYGON(({i * 100} 0, {i * 100 + 100} 0, {i * 100 + 100} 100, {i * 100} 100, {i * 100} 0))",
                }
                for i, r in (
                    (1, "target"),
                    (2, "target"),
                    (3, "buffer"),
                    (4, "control"),
                    (5, "control"),
                )
            ],
            "points": [[150.0, 50.0], [160.0, 40.0], [250.0, 20.0]],
        },
        "warnings": [],
    }
