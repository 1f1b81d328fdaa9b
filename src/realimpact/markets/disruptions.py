"""Disruption records: what was done to a group or market, and what it changed.

N8 Policing Research Partnership (2024) Conceptualising and Evaluating the Impact of Policing Drug Markets found that "disruption" is the role police rate most important and
the one least well defined: officers disagreed on what counts, struggled to
"evidence impact on the capability of the OCG", recorded most disruptions as
pursue, and celebrated "closed" county lines that soon reappeared. A
disruption record here therefore has to say which group or market it hit, when,
under which of the 4Ps, at which impact level (minor, moderate, major; the
written criteria are in ``data/vocabularies.yaml`` and docs/markets.md), and
what evidence shows the effect on capability. ``disruption_summary`` counts
them and flags the claims a reviewer should question.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from realimpact.errors import ValidationError
from realimpact.markets import vocab
from realimpact.store import Store
from realimpact.store import markets as sql

# Evidence shorter than this many words cannot say what changed and how we know.
MIN_EVIDENCE_WORDS = 5


# The fields of a disruption record; all hold one value but ``evidence_refs`` (a list).
DISRUPTION_FIELDS = (
    "id",
    "entity",
    "date",
    "category",
    "impact",
    "planned",
    "description",
    "capability_evidence",
    "evidence_refs",
)


def parse_disruption(raw: dict[str, Any], where: str = "") -> dict[str, Any]:
    """Validate one disruption record (YAML layout in docs/markets.md)."""
    from realimpact.markets.assessment import _parse_date
    from realimpact.markets.registry import check_id

    if not isinstance(raw, dict):
        raise ValidationError(f"{where.rstrip('.')}: expected a mapping")
    allowed = set(DISRUPTION_FIELDS)
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValidationError(
            f"{where}{unknown[0]}: unknown field; allowed: {', '.join(sorted(allowed))}"
        )
    for req in ("entity", "date", "category", "impact"):
        if raw.get(req) in (None, ""):
            raise ValidationError(f"{where}{req}: required")
    refs = raw.get("evidence_refs") or []
    if isinstance(refs, str):
        refs = [r.strip() for r in refs.replace(";", ",").split(",") if r.strip()]
    planned = raw.get("planned")
    if planned is not None and not isinstance(planned, bool):
        s = str(planned).strip().lower()
        if s not in ("true", "false", "yes", "no"):
            raise ValidationError(f"{where}planned: {planned!r} is not true or false")
        planned = s in ("true", "yes")
    return {
        "disruption_id": check_id(raw["id"], f"{where}id") if raw.get("id") else None,
        "entity_id": check_id(raw["entity"], f"{where}entity"),
        "date": _parse_date(raw["date"], f"{where}date"),
        "category": vocab.check("four_p", raw["category"], field=f"{where}category"),
        "impact": vocab.check("impact_level", raw["impact"], field=f"{where}impact"),
        "planned": planned,
        "description": str(raw["description"]).strip() if raw.get("description") else None,
        "capability_evidence": str(raw["capability_evidence"]).strip()
        if raw.get("capability_evidence")
        else None,
        "evidence_refs": [str(r) for r in refs],
    }


def _write_disruption(store: Store, d: dict[str, Any]) -> str:
    if not sql.entity_exists(store, d["entity_id"]):
        raise ValidationError(f"entity: {d['entity_id']!r} is not in the registry")
    if d["disruption_id"] is None:
        n = sql.next_disruption_number(store)
        while sql.disruption_exists(store, f"d-{n:05d}"):
            n += 1
        d = {**d, "disruption_id": f"d-{n:05d}"}
    elif sql.disruption_exists(store, d["disruption_id"]):
        raise ValidationError(f"id: disruption {d['disruption_id']!r} is already recorded")
    sql.insert_disruption(store, d)
    return d["disruption_id"]


def add_disruption(store: Store, spec: dict[str, Any]) -> dict[str, Any]:
    """Record one disruption (``markets disrupt``); return it with its flags."""
    d = parse_disruption(spec)
    with store.transaction():
        did = _write_disruption(store, d)
    d["disruption_id"] = did
    status = {e["id"]: e["attrs"].get("status") for e in sql.load_entities(store)}
    return {
        **d,
        "date": d["date"].isoformat(),
        "flags": disruption_flags(d, status.get(d["entity_id"])),
    }


def disruption_flags(d: dict[str, Any], entity_status: str | None = None) -> list[str]:
    """Reasons a reviewer should question a disruption claim (empty when none).

    * no evidence of impact on capability, or too little to say what changed;
    * moderate or major claimed without any evidence reference;
    * major claimed while the group or market is not archived (N8 Policing Research Partnership (2024) Conceptualising and Evaluating the Impact of Policing Drug Markets: a line
      "closed" is often soon reopened; major means dismantled);
    * not recorded as a planned, targeted event (N8 Policing Research Partnership (2024) Conceptualising and Evaluating the Impact of Policing Drug Markets: a recording rule).
    """
    flags = []
    ev = d.get("capability_evidence") or ""
    if not ev.strip():
        flags.append("no evidence of impact on capability")
    elif len(ev.split()) < MIN_EVIDENCE_WORDS:
        flags.append(f"evidence of impact under {MIN_EVIDENCE_WORDS} words")
    if d["impact"] in ("moderate", "major") and not d.get("evidence_refs"):
        flags.append(f"{d['impact']} impact claimed without an evidence reference")
    if d["impact"] == "major" and entity_status not in (None, "archived"):
        flags.append(f"major impact claimed but the entity is still {entity_status}")
    if d.get("planned") is False:
        flags.append("not a planned, targeted event")
    return flags


def disruption_summary(
    store: Store, *, entity: str | None = None, since: str | None = None
) -> dict[str, Any]:
    """``realimpact markets disruptions``: counts by 4P and impact, and flagged claims."""
    from realimpact.markets.assessment import _parse_date

    cutoff = _parse_date(since, "--since") if since else None
    status = {e["id"]: e["attrs"].get("status") for e in sql.load_entities(store)}
    if entity is not None and entity not in status:
        raise ValidationError(f"--entity: {entity!r} is not in the registry")
    rows = []
    for d in sql.load_disruptions(store):
        if entity and d["entity_id"] != entity:
            continue
        if cutoff and d["date"] < cutoff:
            continue
        flags = disruption_flags(d, status.get(d["entity_id"]))
        rows.append(
            {
                **d,
                "date": d["date"].isoformat() if isinstance(d["date"], dt.date) else str(d["date"]),
                "flags": flags,
            }
        )
    by_cat = Counter(r["category"] for r in rows)
    by_impact = Counter(r["impact"] for r in rows)
    table = {c: {i: 0 for i in vocab.allowed("impact_level")} for c in vocab.allowed("four_p")}
    for r in rows:
        table[r["category"]][r["impact"]] += 1
    flagged = [r for r in rows if r["flags"]]
    n = len(rows)
    return {
        "count": n,
        "by_category": {c: by_cat.get(c, 0) for c in vocab.allowed("four_p")},
        "by_impact": {i: by_impact.get(i, 0) for i in vocab.allowed("impact_level")},
        "table": table,
        "pursue_share": (by_cat.get("pursue", 0) / n) if n else None,
        "with_evidence": sum(
            1 for r in rows if "no evidence of impact on capability" not in r["flags"]
        ),
        "flagged": len(flagged),
        "by_entity": dict(Counter(r["entity_id"] for r in rows)),
        "disruptions": rows,
        "criteria": {
            v["id"]: " ".join(v["criteria"].split())
            for v in vocab.vocabularies()["impact_level"]["values"]
        },
    }
