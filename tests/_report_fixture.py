"""A results dict in the results.json contract (docs/architecture.md), built by hand for report tests.

Numbers are invented but consistent; small counts (below 5) are planted on
purpose so that partner suppression has something to hide. The per-indicator
``verdict`` (one primary design, the others as sensitivity checks), ``areas``
with LSOA names, ``map``, ``validation``, ``flags``, ``next_steps`` and the
labelled ``operation_harms`` follow the issue-11 contract the engine writes.
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


def _sens(design: str, change: str, est, lo, hi, scale: str = "rate_ratio") -> dict[str, Any]:
    labels = {
        "did": "difference-in-differences (Poisson, wild cluster bootstrap)",
        "its": "interrupted time series (quasi-Poisson)",
        "wdd": "weighted displacement difference (quasi-Poisson interval)",
    }
    return {
        "design": design,
        "design_label": labels[design],
        "change": change,
        "estimate": est,
        "ci_low": lo,
        "ci_high": hi,
        "no_change": 1.0 if scale == "rate_ratio" else 0.0,
        "scale": scale,
    }


def _block(areas: int, before: int, after: int, mb: int = 12, ma: int = 6) -> dict[str, Any]:
    return {
        "areas": areas,
        "before": before,
        "after": after,
        "months_before": mb,
        "months_after": ma,
        "per_month_before": before / mb,
        "per_month_after": after / ma,
    }


AREA_NAMES = {
    "E01990001": "Testham 001A",
    "E01990002": "Testham 001B",
    "E01990003": "Testham 002A",
    "E01990004": "Otherton 004C",
    "E01990005": "Otherton 005D",
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
                    "id": "weapons",
                    "kind": "outcome",
                    "source": "police_uk",
                    "crime_types": ["Possession of weapons"],
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
                "label": "Anti-social behaviour",
                "kind": "outcome",
                "source": "police_uk",
                "target": _block(2, 960, 330),
                "buffer": _block(1, 700, 380),
                "control": _block(2, 1200, 610),
                "verdict": {
                    "design": "did",
                    "design_label": "difference-in-differences (Poisson, wild cluster bootstrap)",
                    "design_reason": "declared in the plan",
                    "change": "fell",
                    "estimate": 0.68,
                    "ci_low": 0.58,
                    "ci_high": 0.80,
                    "no_change": 1.0,
                    "scale": "rate_ratio",
                    "displacement": "none_detected",
                    "displacement_estimate": 2.5,
                    "displacement_ci_low": -3.2,
                    "displacement_ci_high": 8.1,
                    "displacement_scale": "crimes",
                    "reason": "95% interval 0.58 to 0.80 excludes no change",
                    "sensitivity": [
                        _sens("wdd", "fell", -20.5, -35.1, -5.9, "crimes_per_month"),
                        _sens("its", "no_clear_change", 0.81, 0.62, 1.06),
                    ],
                },
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
                    "interval": "quasi_poisson",
                    "poisson": {"se": 4.1, "ci_low": -28.5, "ci_high": -12.5, "p": 0.0001},
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
                "label": "Robbery",
                "kind": "outcome",
                "source": "police_uk",
                "target": _block(2, 38, 9),
                "buffer": _block(1, 20, 4),
                "control": _block(2, 50, 24),
                "verdict": {
                    "design": "did",
                    "design_label": "difference-in-differences (Poisson, wild cluster bootstrap)",
                    "design_reason": "declared in the plan",
                    "change": "no_clear_change",
                    "estimate": 0.61,
                    "ci_low": 0.30,
                    "ci_high": 1.24,
                    "no_change": 1.0,
                    "scale": "rate_ratio",
                    "displacement": "diffusion",
                    "displacement_estimate": -1.9,
                    "displacement_ci_low": -3.5,
                    "displacement_ci_high": -0.3,
                    "displacement_scale": "crimes",
                    "reason": "95% interval 0.30 to 1.24 includes no change",
                    "sensitivity": [
                        _sens("its", "not_estimable", 0.7, None, None),
                    ],
                },
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
                "label": "Drugs crime",
                "kind": "output",
                "source": "police_uk",
                "target": _block(2, 240, 190),
                "control": _block(2, 300, 150),
                "verdict": None,
                "monthly": _monthly([20] * 12 + [31] * 6, [10] * 18, [25] * 18),
                "notes": ["output indicator: a ledger of activity, not a measure of impact"],
            },
            {
                "id": "weapons",
                "label": "Possession of weapons",
                "kind": "outcome",
                "source": "police_uk",
                "target": _block(2, 60, 42),
                "buffer": _block(1, 30, 14),
                "control": _block(2, 90, 40),
                "verdict": {
                    "design": "its",
                    "design_label": "interrupted time series (quasi-Poisson)",
                    "design_reason": "default: 2 control areas (DiD needs at least 5)",
                    "change": "not_estimable",
                    "estimate": 1.4,
                    "ci_low": 0.2,
                    "ci_high": None,
                    "no_change": 1.0,
                    "scale": "rate_ratio",
                    "displacement": "not_estimable",
                    "displacement_estimate": None,
                    "displacement_ci_low": None,
                    "displacement_ci_high": None,
                    "displacement_scale": "crimes",
                    "reason": "the upper end of the interval is not bounded with 2 target areas",
                    "sensitivity": [
                        _sens("did", "rose", 1.35, 1.05, 1.74),
                    ],
                },
                "did": _did(1.35, 1.05, 1.74, 0.02)
                | {
                    "placebos": [
                        {"estimate": 0.3, "se": 0.1, "p": 0.01, "extra": {"fake_start": "2023-07"}},
                        {"estimate": 0.02, "se": 0.05, "p": 0.62},
                    ],
                    "warnings": [
                        "placebo start 2023-07 shows a 'significant' effect (p = 0.010); "
                        "the real estimate may reflect something other than the operation"
                    ],
                    "method": "wild cluster bootstrap (999 draws, Webb weights, seed 0)",
                },
                "monthly": _monthly([5] * 12 + [7] * 6, [2] * 12 + [2] * 6, [7] * 12 + [6] * 6),
                "notes": ["difference-in-differences: fewer than 5 control areas (seed 004 4.2.2)"],
            },
            {
                "id": "residents-views",
                "label": "Residents' views",
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
                    "label": "Criminal records making it harder for people to desist from crime",
                    "monitor": "drugs-crime",
                    "monitor_label": "Drugs crime",
                    "area": "target",
                    "mitigation": "Divert to treatment.",
                    "status": "measured",
                    "before_per_month": 20.0,
                    "after_per_month": 31.7,
                    "change_pct": 58.3,
                    "summary": "Drugs crime in the target: 20.0 a month before, 31.7 a month after.",
                },
                {
                    "id": "enf-stigmatisation",
                    "label": "Stigmatisation of communities and groups",
                    "monitor": None,
                    "monitor_label": None,
                    "area": "target",
                    "mitigation": "Body-worn video reviewed monthly.",
                    "status": "not monitored",
                    "summary": "Not monitored: the plan names no indicator for it.",
                },
            ],
            "statement": "Harm fell in the target and buffer; drugs records rose.",
        },
        "force": "Test Constabulary",
        "areas": {
            "layer": "lsoa",
            **{
                role: [{"id": a, "name": AREA_NAMES[a]} for a in ids]
                for role, ids in (
                    ("target", ["E01990001", "E01990002"]),
                    ("buffer", ["E01990003"]),
                    ("control", ["E01990004", "E01990005"]),
                )
            },
        },
        "validation": {"valid": True, "ignored": False, "problems": []},
        "flags": [
            "Only 2 target areas: intervals are wide and a real change of 20% can be missed.",
        ],
        "next_steps": [
            "A follow-up of 6 more months would detect a 20% fall in Robbery (80% power).",
        ],
        "map": {
            "kind": "polygons",
            "reason": None,
            "areas": [
                {
                    "area_id": f"E0199000{i}",
                    "role": r,
                    "name": AREA_NAMES[f"E0199000{i}"],
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
            "points": [
                {"role": "target", "e": 150.0, "n": 50.0},
                {"role": "target", "e": 160.0, "n": 40.0},
                {"role": "buffer", "e": 250.0, "n": 20.0},
                {"role": "control", "e": 420.0, "n": 60.0},
            ],
        },
        "warnings": [],
    }
