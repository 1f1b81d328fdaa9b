"""Harm assessments of markets, groups and places: dated, versioned, never overwritten.

An assessment scores, for one registry entity, each harm it causes (ids from
the harm taxonomy, ``realimpact harm taxonomy``) for impact and likelihood on
the 1-5 scales of ``data/scales.yaml``, plus the organisational position of the
group behind it (capability and capacity, 1-5). Every score carries a
confidence grade (A high, B medium, C low) and free-text evidence: MoRiLE keeps
a confidence score beside the risk score, and N8 Policing Research Partnership (2024) Conceptualising and Evaluating the Impact of Policing Drug Markets shows why evidence must
travel with a judgement (disruption claims that cannot be evidenced).

A new assessment of the same entity is a new version; old versions stay, so a
ranking can be re-run "as of" any date and a change of priority can be traced
to the scores that moved.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from realimpact.errors import ValidationError
from realimpact.markets import vocab
from realimpact.store import Store
from realimpact.store import markets as sql

GRADE_POINTS = {"A": 3, "B": 2, "C": 1}


def _harm_ids() -> set[str]:
    from realimpact.harm.taxonomy import harm_ids

    return set(harm_ids())


def _parse_date(value: Any, field: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValidationError(f"{field}: {value!r} is not a date (YYYY-MM-DD)") from None


def parse_assessment(raw: dict[str, Any], where: str = "") -> dict[str, Any]:
    """Validate an assessment given as a mapping (YAML layout in docs/markets.md)."""
    if not isinstance(raw, dict):
        raise ValidationError(f"{where.rstrip('.')}: expected a mapping, got {raw!r}")
    allowed = {"entity", "date", "assessor", "harms", "position", "note", "version", "prefill"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValidationError(
            f"{where}{unknown[0]}: unknown field; allowed: {', '.join(sorted(allowed))}"
        )
    from realimpact.markets.registry import check_id

    entity = check_id(raw.get("entity"), f"{where}entity")
    date = _parse_date(raw.get("date") or dt.date.today(), f"{where}date")
    harms_raw = raw.get("harms") or []
    if not isinstance(harms_raw, list) or not harms_raw:
        raise ValidationError(f"{where}harms: at least one harm score is required")
    known = _harm_ids()
    harms: list[dict[str, Any]] = []
    for i, h in enumerate(harms_raw):
        f = f"{where}harms[{i}]."
        if not isinstance(h, dict):
            raise ValidationError(
                f"{f.rstrip('.')}: expected a mapping with harm_id, impact, likelihood, confidence"
            )
        extra = sorted(
            set(h) - {"harm_id", "harm", "impact", "likelihood", "confidence", "evidence"}
        )
        if extra:
            raise ValidationError(f"{f}{extra[0]}: unknown field")
        hid = str(h.get("harm_id") or h.get("harm") or "").strip()
        if hid not in known:
            raise ValidationError(
                f"{f}harm_id: {hid!r} is not in the harm taxonomy (see `realimpact harm taxonomy`)"
            )
        if any(x["harm_id"] == hid for x in harms):
            raise ValidationError(f"{f}harm_id: {hid!r} scored twice in one assessment")
        harms.append(
            {
                "harm_id": hid,
                "impact": vocab.check_scale("impact", h.get("impact"), field=f"{f}impact"),
                "likelihood": vocab.check_scale(
                    "likelihood", h.get("likelihood"), field=f"{f}likelihood"
                ),
                "confidence": vocab.check_confidence(h.get("confidence"), field=f"{f}confidence"),
                "evidence": (str(h["evidence"]).strip() or None) if h.get("evidence") else None,
            }
        )
    pos = raw.get("position")
    if not isinstance(pos, dict):
        raise ValidationError(
            f"{where}position: required, with capability, capacity (1-5) and confidence (A/B/C)"
        )
    extra = sorted(set(pos) - {"capability", "capacity", "confidence", "evidence"})
    if extra:
        raise ValidationError(f"{where}position.{extra[0]}: unknown field")
    return {
        "entity_id": entity,
        "assessed_on": date,
        "assessor": str(raw["assessor"]).strip() if raw.get("assessor") else None,
        "harms": harms,
        "capability": vocab.check_scale(
            "capability", pos.get("capability"), field=f"{where}position.capability"
        ),
        "capacity": vocab.check_scale(
            "capacity", pos.get("capacity"), field=f"{where}position.capacity"
        ),
        "position_confidence": vocab.check_confidence(
            pos.get("confidence"), field=f"{where}position.confidence"
        ),
        "position_evidence": str(pos["evidence"]).strip() if pos.get("evidence") else None,
        "note": str(raw["note"]).strip() if raw.get("note") else None,
        "prefill": raw.get("prefill") if isinstance(raw.get("prefill"), dict) else None,
    }


def _write_assessment(store: Store, a: dict[str, Any]) -> dict[str, Any]:
    """Append a new version (caller holds the transaction)."""
    if not sql.entity_exists(store, a["entity_id"]):
        raise ValidationError(f"entity: {a['entity_id']!r} is not in the registry")
    version = sql.next_assessment_version(store, a["entity_id"])
    row = dict(a)
    row["version"] = version
    row["assessment_id"] = f"{a['entity_id']}@v{version}"
    sql.insert_assessment(store, row, a["harms"])
    return {"assessment_id": row["assessment_id"], "entity_id": a["entity_id"], "version": version}


def assess(store: Store, spec: dict[str, Any], *, prefill: bool = True) -> dict[str, Any]:
    """Record a new assessment version of ``spec['entity']``; return its id and score.

    With ``prefill`` the evidence the store holds on the entity's areas
    (record counts and trend, see :func:`prefill_evidence`) is stored with it.
    """
    a = parse_assessment(spec)
    if not sql.entity_exists(store, a["entity_id"]):
        raise ValidationError(f"entity: {a['entity_id']!r} is not in the registry")
    if prefill and a["prefill"] is None:
        a["prefill"] = prefill_evidence(store, a["entity_id"], as_of=a["assessed_on"])
    with store.transaction():
        res = _write_assessment(store, a)
    return {**res, **score_assessment(a), "prefill": a["prefill"]}


def assessment_history(store: Store, entity_id: str) -> list[dict[str, Any]]:
    """Every version of an entity's assessment, oldest first."""
    return sql.load_assessments(store, entity_id)


def latest_assessments(store: Store, as_of: dt.date | str | None = None) -> list[dict[str, Any]]:
    """Per entity, the newest version assessed on or before ``as_of`` (default: all)."""
    cutoff = _parse_date(as_of, "--as-of") if as_of else None
    latest: dict[str, dict[str, Any]] = {}
    for a in sql.load_assessments(store):
        if cutoff and a["assessed_on"] > cutoff:
            continue
        cur = latest.get(a["entity_id"])
        if cur is None or (a["assessed_on"], a["version"]) >= (cur["assessed_on"], cur["version"]):
            latest[a["entity_id"]] = a
    return [latest[k] for k in sorted(latest)]


def score_assessment(
    a: dict[str, Any],
    harm_weights: dict[str, float] | None = None,
    position_weight: float = 1.0,
) -> dict[str, Any]:
    """The priority score of one assessment, with its breakdown (see docs/markets.md).

    score = (sum over harms h of w_h * impact_h * likelihood_h) * position ** w_pos,
    position = (capability + capacity) / 2. Weights default to 1. The
    confidence grade is reported beside the score, never multiplied into it.
    """
    weights = harm_weights or {}
    rows = []
    harm_score = 0.0
    for h in a["harms"]:
        w = float(weights.get(h["harm_id"], 1.0))
        contrib = w * h["impact"] * h["likelihood"]
        harm_score += contrib
        rows.append(
            {
                "harm_id": h["harm_id"],
                "impact": h["impact"],
                "likelihood": h["likelihood"],
                "weight": w,
                "contribution": contrib,
                "confidence": h["confidence"],
            }
        )
    position = (a["capability"] + a["capacity"]) / 2.0
    score = harm_score * position**position_weight
    return {
        "score": score,
        "harm_score": harm_score,
        "position": position,
        "capability": a["capability"],
        "capacity": a["capacity"],
        "position_weight": position_weight,
        "confidence": confidence_summary(rows, a["position_confidence"]),
        "breakdown": rows,
    }


def confidence_summary(rows: list[dict[str, Any]], position_grade: str) -> dict[str, Any]:
    """Overall grade and how much of the harm score rests on each grade.

    Rule (documented, deliberately simple): A when at least two thirds of the
    harm score rests on grade-A scores and the position is graded A; C when more
    than a third rests on grade C or the position is graded C; B otherwise.
    """
    total = sum(r["contribution"] for r in rows) or 1.0
    share = {
        g: sum(r["contribution"] for r in rows if r["confidence"] == g) / total
        for g in GRADE_POINTS
    }
    if share["C"] > 1 / 3 or position_grade == "C":
        grade = "C"
    elif share["A"] >= 2 / 3 and position_grade == "A":
        grade = "A"
    else:
        grade = "B"
    return {"grade": grade, "share": share, "position": position_grade}


# -- evidence from the store -------------------------------------------------------

# Crime-type groups reported with an assessment; the same groups the
# emerging-market warning tests (data/linctus.yaml).
EVIDENCE_GROUPS = {
    "drugs": ["Drugs"],
    "violence": ["Violence and sexual offences"],
    "weapons_robbery": ["Possession of weapons", "Robbery"],
    "acquisitive": [
        "Burglary",
        "Vehicle crime",
        "Shoplifting",
        "Theft from the person",
        "Bicycle theft",
        "Other theft",
    ],
    "asb": ["Anti-social behaviour"],
}


def prefill_evidence(
    store: Store, entity_id: str, *, as_of: dt.date | None = None, months: int = 12
) -> dict[str, Any] | None:
    """Counts and trend of recorded crime in the entity's areas, from the store.

    For each crime-type group: total over the last ``months`` months of data up
    to ``as_of``, the mean of the last 3 months against the mean of the 3 before
    them, and a plain-language line an analyst can paste as evidence. Returns
    None when the entity has no areas or the store has no records for them.
    """
    from realimpact.markets.registry import entity_areas
    from realimpact.store.queries import record_counts

    areas = entity_areas(store, entity_id)
    if not areas or not store.table_exists("crimes"):
        return None
    out: dict[str, Any] = {"areas": [f"{la}:{a}" for la, a in areas], "groups": {}}
    frames = []
    for layer in sorted({la for la, _ in areas}):
        ids = [a for la, a in areas if la == layer]
        try:
            df = record_counts(store, layer=layer, table="crimes", by=("month", "crime_type"))
        except ValidationError:
            continue
        frames.append(df[df["area_id"].isin(ids)])
    if not frames:
        return None
    import pandas as pd

    df = pd.concat(frames)
    if as_of is not None:
        df = df[df["month"] <= f"{as_of:%Y-%m}"]
    if df.empty:
        return None
    all_months = sorted(store.sql("SELECT DISTINCT month FROM crimes ORDER BY month")["month"])
    if as_of is not None:
        all_months = [m for m in all_months if m <= f"{as_of:%Y-%m}"]
    window = all_months[-months:]
    out["months"] = [window[0], window[-1]]
    for name, types in EVIDENCE_GROUPS.items():
        s = (
            df[df["crime_type"].isin(types)]
            .groupby("month")["n"]
            .sum()
            .reindex(window, fill_value=0)
        )
        g: dict[str, Any] = {"total": int(s.sum())}
        if len(window) >= 6:
            last, prev = float(s.iloc[-3:].mean()), float(s.iloc[-6:-3].mean())
            g["last3_mean"], g["prev3_mean"] = last, prev
            g["change_pct"] = None if prev == 0 else 100.0 * (last - prev) / prev
        out["groups"][name] = g
    # Harm, not volume: the same counts weighted by the Cambridge Crime Harm Index
    # (days of imprisonment per crime; realimpact.harm, seed-derived weights).
    from realimpact.harm.weights import cchi_weights

    w = cchi_weights().weights
    df = df.assign(harm=df["n"] * df["crime_type"].map(w).fillna(0.0))
    hs = df.groupby("month")["harm"].sum().reindex(window, fill_value=0.0)
    hg: dict[str, Any] = {"total_days": float(hs.sum()), "weights": "cchi"}
    if len(window) >= 6:
        last, prev = float(hs.iloc[-3:].mean()), float(hs.iloc[-6:-3].mean())
        hg["last3_mean"], hg["prev3_mean"] = last, prev
        hg["change_pct"] = None if prev == 0 else 100.0 * (last - prev) / prev
    out["harm_cchi"] = hg
    drugs = out["groups"]["drugs"]
    out["summary"] = (
        f"{drugs['total']} Drugs crimes recorded in the entity's areas {window[0]}..{window[-1]}"
        + (
            f"; last 3 months {drugs['change_pct']:+.0f}% on the 3 before"
            if drugs.get("change_pct") is not None
            else ""
        )
        + f"; CCHI-weighted harm {hg['total_days']:,.0f} days"
        + (
            f" ({hg['change_pct']:+.0f}% last 3 months on the 3 before)"
            if hg.get("change_pct") is not None
            else ""
        )
    )
    return out


# Name for the top-level ``realimpact`` namespace, where a bare ``assess`` says too little.
assess_market = assess
