"""Market summaries made safe for an audience (docs/sharing.md, docs/markets.md).

The markets package owns its outputs (``markets rank``, ``list``, ``show``,
``disruptions``), so it owns the adapter between them and the generic
machinery of :mod:`realimpact.disclosure` (which knows no analysis).

What a partner or the public must not get from a market summary, and why:

* **Pseudonymous ids** (``m-col-1``, ``g-col-1``, assessment and disruption
  ids): the registry's ids are the key to the analyst's intelligence records;
  an id in a partner's hands links every later release about the same market.
  Shared rows are labelled by their published rank (``market ranked 2``) or
  their position in the list, never by id, and links become counts.
* **People and free text**: the assessor, a description, the evidence lines
  of a judgement, a disruption's evidence references. They are intelligence,
  not statistics. Prefilled evidence (record counts and CCHI harm of the
  market's areas from the store) is dropped too: its harm total is a sum of
  public weights times counts and would decompose like the harm index's did.
* **Places** are premises (a crack house, a cuckooed flat): a point in all but
  name, so the public list leaves them out; partners see a place's type and
  its areas, not its id.
* **Counts** (the disruptions table by 4P and impact) go through
  :func:`realimpact.disclosure.suppress.protect` as one linked table (cells,
  row and column margins, the total, and the with-evidence and flagged counts
  against the total), so a withheld cell cannot be worked out from the
  margins; shares computed from a withheld count are withheld.

The priority score is a judgement (impact x likelihood x position on 1-5
scales), not a count, so it is published, and with it the rank: the basis of
every published rank is beside it. Ranks of the entities left out (places for
the public) are recomputed among the rows published, so no gap in the order
points at a withheld row.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from realimpact.disclosure.contract import withhold
from realimpact.disclosure.manifest import build_manifest
from realimpact.disclosure.profiles import FREE_TEXT_KEYS, Profile
from realimpact.disclosure.rounding import round_to_base
from realimpact.disclosure.suppress import LinkedTable, protect

#: per-entity attributes a shared summary may carry (everything else is dropped)
_ATTRS = ("kind", "level", "type", "selling_modes", "commodities", "status", "first_seen",
          "last_seen")  # fmt: skip
#: per-harm fields of a score breakdown a shared summary may carry (no evidence text)
_BREAKDOWN = ("harm_id", "impact", "likelihood", "weight", "contribution", "confidence")


def _areas(areas: list[str], profile: Profile, counts: Counter) -> list[str]:
    """``layer:area`` entries at layers this audience may be shown."""
    keep = [a for a in areas if profile.layer_allowed(a.split(":", 1)[0])]
    counts["dropped"] += len(areas) - len(keep)
    return keep


def _entity(e: dict[str, Any], profile: Profile, counts: Counter) -> dict[str, Any]:
    out = {k: e[k] for k in _ATTRS if k in e}
    out["areas"] = _areas(list(e.get("areas") or []), profile, counts)
    out["links"] = len(e.get("links") or [])
    counts["dropped"] += 1 + sum(1 for k in e if k not in _ATTRS and k not in ("id", "areas"))
    return out


def _shared_for(profile: Profile, kind: str | None) -> bool:
    """False for entities this audience does not see at all (places for the public)."""
    return not (kind == "place" and profile.drop_keys >= FREE_TEXT_KEYS)


def _manifest(profile: Profile, counts: Counter, product: str, sources: dict) -> dict[str, Any]:
    m = build_manifest(profile, counts, product=product, sources=sources)
    m["method"] = {
        "ids": "registry ids, assessors, free text and evidence are not shared; rows are "
        "labelled by rank or position",
        "rank": "the priority score (a judgement on 1-5 scales, not a count) is published, "
        "so rank is kept; ranks are recomputed among the rows shared",
    }
    return m


def safe_rank(result: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """``markets rank`` output fit for ``profile``'s audience (analyst: unchanged)."""
    if not profile.suppresses:
        return result
    counts: Counter = Counter()
    kept = [it for it in result.get("items", []) if _shared_for(profile, it.get("kind"))]
    counts["dropped"] += len(result.get("items", [])) - len(kept)
    label: dict[str, str] = {}
    items = []
    for i, it in enumerate(kept, start=1):
        label[it["id"]] = f"{it.get('kind') or 'entity'} ranked {i}"
        items.append(
            {
                "rank": i,
                "label": label[it["id"]],
                "kind": it.get("kind"),
                "score": it["score"],
                "harm_score": it["harm_score"],
                "position": it["position"],
                "confidence": {"grade": it["confidence"]["grade"]},
                "breakdown": [{k: b[k] for k in _BREAKDOWN if k in b} for b in it["breakdown"]],
            }
        )
        counts["dropped"] += 3  # id, assessment id, assessment date
    out: dict[str, Any] = {
        "method": result["method"],
        "as_of": result.get("as_of"),
        "weights": {k: v for k, v in (result.get("weights") or {}).items() if k != "source"},
        "top": result.get("top"),
        "items": items,
        "unassessed": len(result.get("unassessed") or []),
    }
    if isinstance(out["weights"].get("survey"), dict):
        sv = dict(out["weights"]["survey"])
        for k in ("respondents", "ratings"):
            if profile.is_small(sv.get(k)):
                withhold(sv, k, small=True)
                counts["primary"] += 1
        if sv.get("n_per_harm"):
            sv.pop("n_per_harm")  # per-harm respondent counts: small cells of a survey
            counts["dropped"] += 1
        out["weights"]["survey"] = sv
    s = result.get("sensitivity")
    if s:
        out["sensitivity"] = {
            k: s[k]
            for k in (
                "factors",
                "top",
                "n_moves",
                "n_membership_changes",
                "n_order_changes",
                "min_kendall_tau",
            )
            if k in s
        }
        out["sensitivity"]["stable_top"] = [label[x] for x in s.get("stable_top", []) if x in label]
        counts["dropped"] += len(s.get("moves") or [])  # per-move id lists
    out["disclosure"] = _manifest(
        profile, counts, "markets rank", {"as_of": result.get("as_of"), "entities": len(items)}
    )
    return out


def safe_list(result: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """``markets list`` output fit for ``profile``'s audience (analyst: unchanged)."""
    if not profile.suppresses:
        return result
    counts: Counter = Counter()
    ents = [e for e in result.get("entities", []) if _shared_for(profile, e.get("kind"))]
    counts["dropped"] += len(result.get("entities", [])) - len(ents)
    # listed by kind and attributes, not in the store's (id) order: the order would hint at ids
    shared = sorted(
        (_entity(e, profile, counts) for e in ents),
        key=lambda x: (x.get("kind") or "", repr(sorted(x.items()))),
    )
    for i, e in enumerate(shared, start=1):
        e["label"] = f"{e.get('kind') or 'entity'} {i}"
    return {
        "count": len(shared),
        "entities": shared,
        "disclosure": _manifest(profile, counts, "markets list", {"entities": len(shared)}),
    }


def safe_show(result: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """``markets show ID`` output fit for ``profile``'s audience (analyst: unchanged).

    The id the analyst asked for is not repeated; assessments keep their
    version, date and scores (judgements), not the assessor, the evidence or
    the prefilled counts; disruptions and indicator notes become counts by
    category, protected like any other table.
    """
    if not profile.suppresses:
        return result
    counts: Counter = Counter()
    e = result["entity"]
    if not _shared_for(profile, e.get("kind")):
        from realimpact.errors import ValidationError

        raise ValidationError(
            f"--audience {profile.name}: a {e.get('kind')} is a premises, not shown to this audience"
        )
    ent = _entity(e, profile, counts)
    assessments = []
    for a in result.get("assessments") or []:
        assessments.append(
            {
                "version": a["version"],
                "assessed_on": str(a["assessed_on"]),
                "score": a["score"],
                "harm_score": a["harm_score"],
                "position": a["position"],
                "confidence": {"grade": a["confidence"]["grade"]},
                "breakdown": [{k: b[k] for k in _BREAKDOWN if k in b} for b in a["breakdown"]],
            }
        )
        counts["dropped"] += 2  # assessment id, assessor
    if result.get("latest_assessment"):
        counts["dropped"] += 1  # the stored assessment with its evidence and prefill
    dis = Counter(str(d.get("category")) for d in result.get("disruptions") or [])
    obs = Counter(str(o.get("indicator_id")) for o in result.get("indicator_observations") or [])
    disruptions = _protected_counts(dict(dis), profile, counts)
    indicators = _protected_counts(dict(obs), profile, counts)
    counts["dropped"] += len(result.get("disruptions") or []) + len(
        result.get("indicator_observations") or []
    )
    return {
        "entity": ent,
        "linked": dict(Counter(x.get("kind") for x in result.get("linked") or [])),
        "assessments": assessments,
        "disruptions": disruptions,
        "indicator_observations": indicators,
        "disclosure": _manifest(profile, counts, "markets show", {}),
    }


def _protected_counts(
    parts: dict[str, int], profile: Profile, counts: Counter
) -> dict[str, Any]:  # fmt: skip
    """``{by: {name: n}, total: n}`` with small counts and what gives them back withheld."""
    t = LinkedTable()
    for k, v in parts.items():
        t.add(("p", k), v)
    t.add(("total",), sum(parts.values()), cost=1e6)
    t.relate(("total",), [("p", k) for k in parts])
    res = protect(t, profile.threshold)
    by: dict[str, Any] = {k: _pub(v, profile) for k, v in parts.items()}
    out: dict[str, Any] = {"by": by, "total": _pub(sum(parts.values()), profile)}
    for k in parts:
        kind = res.kind(("p", k))
        if kind:
            withhold(by, k, small=kind == "primary")
            counts[kind] += 1
    kind = res.kind(("total",))
    if kind or res.unresolved:
        withhold(out, "total", small=kind == "primary")
        counts[kind or "secondary"] += 1
    return out


def _pub(v: int, profile: Profile) -> int:
    return round_to_base(v, profile.rounding) if profile.rounding > 1 else int(v)


def safe_disruptions(result: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """``markets disruptions`` fit for ``profile``'s audience (analyst: unchanged).

    One linked table: the 4P x impact cells, their row and column margins,
    the total, and the total split two other ways (with or without evidence
    of impact on capability; flagged or not). The splits' complements are
    hidden cells (never published), so the with-evidence count cannot be
    subtracted from the total to give a small "without" back unnoticed.
    """
    if not profile.suppresses:
        return result
    counts: Counter = Counter()
    table = result["table"]
    cats = list(table)
    imps = list(result["by_impact"])
    n = int(result["count"])
    t = LinkedTable()
    for c in cats:
        for i in imps:
            t.add(("t", c, i), table[c][i])
    for c in cats:
        t.add(("c", c), result["by_category"][c], cost=1e3 + result["by_category"][c])
        t.relate(("c", c), [("t", c, i) for i in imps])
    for i in imps:
        t.add(("i", i), result["by_impact"][i], cost=1e3 + result["by_impact"][i])
        t.relate(("i", i), [("t", c, i) for c in cats])
    t.add(("n",), n, cost=1e6)
    t.relate(("n",), [("c", c) for c in cats])
    t.relate(("n",), [("i", i) for i in imps])
    ev, fl = int(result["with_evidence"]), int(result["flagged"])
    t.add(("ev",), ev, cost=1e4 + ev)
    t.add(("noev",), n - ev, hidden=True)
    t.relate(("n",), [("ev",), ("noev",)])
    t.add(("fl",), fl, cost=1e4 + fl)
    t.add(("nofl",), n - fl, hidden=True)
    t.relate(("n",), [("fl",), ("nofl",)])
    res = protect(t, profile.threshold)
    unresolved = bool(res.unresolved)

    def pub(cell: tuple, value: int, holder: dict, key: str) -> None:
        holder[key] = _pub(value, profile)
        kind = res.kind(cell) or ("secondary" if unresolved else None)
        if kind:
            withhold(holder, key, small=kind == "primary")
            counts[kind] += 1

    out_table: dict[str, dict[str, Any]] = {}
    for c in cats:
        row: dict[str, Any] = {}
        for i in imps:
            pub(("t", c, i), table[c][i], row, i)
        out_table[c] = row
    by_cat: dict[str, Any] = {}
    for c in cats:
        pub(("c", c), result["by_category"][c], by_cat, c)
    by_imp: dict[str, Any] = {}
    for i in imps:
        pub(("i", i), result["by_impact"][i], by_imp, i)
    out: dict[str, Any] = {
        "count": None,
        "by_category": by_cat,
        "by_impact": by_imp,
        "table": out_table,
        "pursue_share": None,
        "with_evidence": None,
        "flagged": None,
        "criteria": result.get("criteria"),
    }
    pub(("n",), n, out, "count")
    pub(("ev",), ev, out, "with_evidence")
    pub(("fl",), fl, out, "flagged")
    if by_cat.get("pursue") is not None and out["count"] and "pursue" in cats:
        from realimpact.disclosure.rounding import round_digits

        share = result["pursue_share"]
        out["pursue_share"] = round_digits(share, profile.derived_digits or 2)
    else:
        withhold(out, "pursue_share")
        counts["derived"] += 1
    counts["dropped"] += len(result.get("disruptions") or []) + len(result.get("by_entity") or {})
    out["disclosure"] = _manifest(profile, counts, "markets disruptions", {"disruptions": "4P"})
    return out
