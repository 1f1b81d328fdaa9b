"""Prioritisation: rank markets, groups and places by a transparent MoRiLE-style score.

N8 Policing Research Partnership (2024) Conceptualising and Evaluating the Impact of Policing Drug Markets reports that forces pursue "mapped organised crime groups that are
identified as the greatest risk through MoRiLE scoring". MoRiLE's tactical
matrix has three parts (harm, likelihood, organisational position) and keeps a
confidence score beside the risk score. realimpact follows that shape with a
score anyone can recompute by hand from the breakdown::

    score = (sum over harms h of  w_h * impact_h * likelihood_h) * position ** w_pos
    position = (capability + capacity) / 2

with community-priority weights ``w_h`` per harm (1 unless given) and a weight
``w_pos`` on organisational position (1 = as scored; 0 = ignore it). Harms add
up because a market that causes several harms is worse than one that causes
one of them. The confidence grade is printed next to the score, not folded in.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from realimpact.errors import InputError, ValidationError
from realimpact.markets.assessment import latest_assessments, score_assessment
from realimpact.store import Store
from realimpact.store import markets as sql


def rank_assessments(
    assessments: list[dict[str, Any]],
    kinds: dict[str, str] | None = None,
    harm_weights: dict[str, float] | None = None,
    position_weight: float = 1.0,
) -> list[dict[str, Any]]:
    """Score and order assessments (one per entity); ties broken by id for a stable order."""
    items = []
    for a in assessments:
        s = score_assessment(a, harm_weights, position_weight)
        items.append(
            {
                "id": a["entity_id"],
                "kind": (kinds or {}).get(a["entity_id"]),
                "assessment_id": a.get("assessment_id"),
                "assessed_on": a.get("assessed_on"),
                **s,
            }
        )
    items.sort(key=lambda x: (-x["score"], x["id"]))
    for i, it in enumerate(items, start=1):
        it["rank"] = i
    return items


def load_weights(path: str | Path) -> dict[str, float]:
    """Community-priority harm weights from YAML (``{harm_id: w}`` or ``{weights: {...}}``) or CSV.

    CSV columns: ``harm_id, weight``. Every id must be in the harm taxonomy and
    every weight a number >= 0 (0 drops a harm from the score).
    """
    from realimpact.harm.taxonomy import harm_ids

    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", source=str(p))
    text = p.read_text("utf-8-sig")
    raw: dict[str, Any]
    if p.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        if not rows or not {"harm_id", "weight"} <= set(rows[0]):
            raise ValidationError("needs columns harm_id, weight", source=str(p))
        raw = {r["harm_id"]: r["weight"] for r in rows}
    else:
        from realimpact._yaml import describe, safe_load

        try:
            data = safe_load(text)
        except yaml.YAMLError as e:
            raise ValidationError(describe(e), source=str(p)) from None
        if isinstance(data, dict) and isinstance(data.get("weights"), dict):
            data = data["weights"]
        if not isinstance(data, dict):
            raise ValidationError("expected a mapping harm_id: weight", source=str(p))
        raw = data
    known = set(harm_ids())
    out: dict[str, float] = {}
    for hid, w in raw.items():
        if hid not in known:
            raise ValidationError(f"{hid}: not a harm id of the taxonomy", source=str(p))
        try:
            f = float(w)
        except (TypeError, ValueError):
            f = float("nan")
        if not f >= 0:
            raise ValidationError(f"{hid}: weight {w!r} is not a number >= 0", source=str(p))
        out[str(hid)] = f
    return out


def weights_from_survey(path: str | Path) -> tuple[dict[str, float], dict[str, Any]]:
    """Community-priority harm weights from a residents' survey (respondent, harm_id, rating).

    Same first step as the harm package's community weights (docs/harm.md):
    a harm's weight is the mean rating (1-5) of the respondents who rated it.
    Harms in an assessment that nobody rated keep weight 1, the bottom of the
    rating scale, and are listed, so a reader sees which scores the survey
    did not speak to.
    """
    from realimpact.harm.weights import read_survey

    df = read_survey(path)
    by_harm = df.groupby("harm_id")["rating"].agg(["mean", "count"])
    weights = {str(h): float(r["mean"]) for h, r in by_harm.iterrows()}
    details = {
        "respondents": int(df["respondent"].nunique()),
        "ratings": len(df),
        "n_per_harm": {str(h): int(r["count"]) for h, r in by_harm.iterrows()},
        "unrated_weight": 1.0,
    }
    return weights, details


def rank(
    store: Store,
    *,
    weights: dict[str, float] | str | Path | None = None,
    survey: str | Path | None = None,
    position_weight: float = 1.0,
    kind: str | None = None,
    as_of: dt.date | str | None = None,
    top: int = 10,
    sensitivity: bool = True,
) -> dict[str, Any]:
    """``realimpact markets rank``: the ranked list, breakdowns and sensitivity check."""
    from realimpact.markets.registry import KINDS
    from realimpact.markets.sensitivity import sensitivity_check

    if kind is not None and kind not in KINDS:
        raise ValidationError(f"--kind: {kind!r} is not one of {', '.join(KINDS)}")
    if top < 1:
        raise ValidationError(f"--top: {top} must be at least 1")
    if not position_weight >= 0:
        raise ValidationError(f"--position-weight: {position_weight} must be >= 0")
    source = None
    survey_info = None
    if survey is not None:
        if weights is not None:
            raise ValidationError("--survey: give either --weights or --survey, not both")
        source = str(survey)
        weights, survey_info = weights_from_survey(survey)
    elif isinstance(weights, str | Path):
        source = str(weights)
        weights = load_weights(weights)
    kinds = {e["id"]: e["kind"] for e in sql.load_entities(store)}
    assessments = [
        a
        for a in latest_assessments(store, as_of)
        if kind is None or kinds.get(a["entity_id"]) == kind
    ]
    unassessed = sorted(
        i
        for i, k in kinds.items()
        if (kind is None or k == kind) and i not in {a["entity_id"] for a in assessments}
    )
    items = rank_assessments(assessments, kinds, weights, position_weight)
    if survey_info is not None:
        used = {h["harm_id"] for a in assessments for h in a["harms"]}
        survey_info["unrated_harms"] = sorted(used - set(weights or {}))
    result: dict[str, Any] = {
        "method": "score = sum_h(w_h * impact_h * likelihood_h) * ((capability + capacity) / 2) ** w_pos",
        "as_of": str(as_of) if as_of else None,
        "weights": {
            "source": source,
            "harms": weights or {},
            "default": 1.0,
            "position": position_weight,
            "survey": survey_info,
        },
        "top": top,
        "items": items,
        "unassessed": unassessed,
    }
    if sensitivity and items:
        result["sensitivity"] = sensitivity_check(
            assessments, kinds, weights, position_weight, top=top
        )
    return result


# Name for the top-level ``realimpact`` namespace, where a bare ``rank`` says too little.
rank_markets = rank
