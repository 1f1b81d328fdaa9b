"""The operation plan the simulated force wrote before it started (docs/architecture.md contract).

Written before the operation, as the source documents ask (UK Drug Policy Commission (2009) Moving towards Real Impact Drug Enforcement principles, Home Office (2003) Disrupting crack markets
section 4): harms targeted with their mechanism, tactics for an open street
market, outcome indicators with a baseline, outputs kept as outputs, expected
displacement, unintended consequences with mitigations, and partners for
post-operation support.

Harm, tactic and unintended-consequence ids are those of the project's
catalogues (``realimpact harm taxonomy``, ``realimpact plan catalogue``).
"""

from __future__ import annotations

from typing import Any

from realimpact.simulate.params import SimulationParams

OPERATION_NAME = "Operation Clean Sweep"

# indicator id -> (kind, source, crime types)
INDICATORS: dict[str, tuple[str, str, list[str]]] = {
    "violence": ("outcome", "police_uk", ["Violence and sexual offences"]),
    "asb": ("outcome", "police_uk", ["Anti-social behaviour"]),
    "robbery": ("outcome", "police_uk", ["Robbery"]),
    "theft-from-person": ("outcome", "police_uk", ["Theft from the person"]),
    "weapons": ("outcome", "police_uk", ["Possession of weapons"]),
    "drugs-crime": ("output", "police_uk", ["Drugs"]),
}


def crime_indicators() -> dict[str, list[str]]:
    return {k: v[2] for k, v in INDICATORS.items()}


def build_plan(
    params: SimulationParams,
    roles: dict[str, list[str]],
    market_id: str,
    windows: dict[str, dict[str, str]],
) -> dict[str, Any]:
    from realimpact.simulate.crimes import months_from

    op = months_from(params.op_start, params.op_months)
    indicators: list[dict[str, Any]] = []
    for ind, (kind, source, types) in INDICATORS.items():
        indicators.append(
            {
                "id": ind,
                # what a reader of the report sees: police.uk's own crime type names
                "label": "Drugs crime" if types == ["Drugs"] else ", ".join(types),
                "kind": kind,
                "source": source,
                "crime_types": types,
                "baseline": dict(windows["baseline"]),
                "follow_up": dict(windows["follow_up"]),
            }
        )
    indicators.append(
        {
            "id": "stop-search",
            "label": "Stop and search for drugs",
            "kind": "output",
            "source": "stop_search",
            "crime_types": ["Controlled drugs"],
            "baseline": dict(windows["baseline"]),
            "follow_up": dict(windows["follow_up"]),
        }
    )
    # survey waves: two months before the start and in the last operation month
    for who, panel in (("residents", True), ("professionals", False)):
        indicators.append(
            {
                "id": f"{who}-views",
                "label": f"{who.capitalize()}' views (survey)",
                "kind": "outcome",
                "source": f"survey:{who}",
                "panel": panel,
                "questions": ["feel_safe", "dealing_problem", "confidence_police"],
                "file": f"survey-{who}.csv",
                "baseline": dict(windows["baseline"]),
                "follow_up": dict(windows["follow_up"]),
            }
        )
    return {
        "id": f"op-{params.city_name.lower()}-clean-sweep",
        "title": f"{OPERATION_NAME}: closing the open street market in central {params.city_name}",
        "start": op[0],
        "end": op[-1],
        "targets": {"markets": [market_id], "selling_modes": ["open-street"], "level": "street"},
        "areas": {
            "layer": "lsoa",
            "target": roles["target"],
            "buffer": roles["buffer"],
            "control": roles["control"],
        },
        "harms": [
            {
                "id": "ph-increase-violence",
                "mechanism": "Removing the open market's dealers and their protection removes "
                "the disputes over territory and debt that drive street violence.",
            },
            {
                "id": "ph-victim-crime-asb",
                "mechanism": "Closing the open market ends the gathering of buyers and dealers "
                "and the litter, noise and intimidation residents report.",
            },
            {
                "id": "ph-fear-of-crime-asb",
                "mechanism": "Visible patrols and environmental work give the streets back to "
                "residents; their survey answers show whether they feel it.",
            },
        ],
        "tactics": list(TACTICS),
        "indicators": indicators,
        "displacement": {
            "expected": "Spatial displacement of street dealing to the surrounding streets "
            "(buffer) and tactical displacement to arrange-to-meet selling "
            "(Home Office (2003) Disrupting crack markets, Table 3.2).",
            "types": ["geographical", "tactical"],
            "mitigation": "Patrols and environmental work extended to the buffer streets; "
            "intelligence on new phone lines shared with the middle-market team.",
        },
        "unintended_consequences": [
            {
                "id": "enf-drug-debt-violence",
                "mitigation": "Intelligence-led arrests timed with outreach; watch for debt "
                "violence after seizures.",
                "monitor": "violence",
            },
            {
                "id": "enf-criminal-record",
                "mitigation": "Divert users found in possession to treatment (drugs "
                "possession warnings, arrest referral).",
                "monitor": "drugs-crime",
            },
            {
                "id": "enf-geographical-displacement",
                "mitigation": "Buffer streets patrolled and monitored from the first week.",
                "monitor": "asb",
            },
            {
                "id": "enf-displacement-to-sensitive-places",
                "mitigation": "Schools and estates near the buffer briefed; patrol routes cover "
                "them at closing times.",
                "monitor": "asb",
            },
            {
                "id": "enf-turf-war",
                "mitigation": "Intelligence on rival groups reviewed weekly; violence and weapons "
                "monitored in target and buffer.",
                "monitor": "weapons",
            },
            {
                "id": "enf-tactical-displacement",
                "mitigation": "Middle-market team follows new phone lines and delivery runners.",
                "monitor": "weapons",
            },
            {
                "id": "enf-stigmatisation",
                "mitigation": "Searches on reasonable grounds only, body-worn video reviewed "
                "monthly with the community scrutiny panel; children referred to safeguarding.",
                "monitor": "stop-search",
            },
        ],
        "partners": ["housing", "treatment", "children's services"],
        "support": {
            "treatment_capacity": "Extra assessment slots at the local treatment service during "
            "and for three months after the operation.",
            "vulnerable_tenants": "Housing officers visit vulnerable tenants at risk of "
            "cuckooing; closure orders paired with rehousing support.",
            "children": "Children's services review every child searched or found working "
            "for the market.",
        },
    }


# Tactics listed for open street markets in Home Office (2003) Disrupting crack markets, Table 3.1 (catalogue ids).
TACTICS = (
    "visible-street-patrols",
    "stop-and-search",
    "cctv",
    "environmental-work",
    "community-intelligence",
    "arrest-referral",
    "treatment-surge",
    "diversion-dmi",
)
