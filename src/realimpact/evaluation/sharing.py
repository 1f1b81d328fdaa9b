"""An evaluation's ``results.json`` made safe for an audience (docs/sharing.md).

The evaluation owns its results, so it owns the adapter between their
contract (docs/architecture.md) and the generic machinery of
:mod:`realimpact.disclosure`, which knows no analysis; the adapters of the
other outputs (harm index, hot spots, markets) sit in their packages alike.

What it does, for a profile that suppresses (partner, public):

1. Drops identifying fields everywhere (points, ids, file paths, indicator
   ``path``s, a simulation's truth; for the public also free text).
2. Builds one :class:`~realimpact.disclosure.suppress.LinkedTable` of every
   count the results publish: each indicator's monthly counts by role, its
   before/after totals by role (the sum of the months), indicators whose
   crime types make up another's (category margins: Drugs + Violence =
   "Drugs and violence"), and the outputs ledger's crime counts (target +
   buffer of the same crime types). Primary and secondary suppression run
   on it (months are withheld before totals, because every design is
   computed from the totals); a total that is itself small has its months
   masked.
3. Withholds every figure computed from a withheld count: per-month rates;
   the WDQ and WDD when any role total is withheld; the DiD when any target
   or control count is; the ITS when any target month is; a verdict, its
   displacement reading and their sentences with the design they come from;
   the SMS statements of withheld designs; operation harms monitored on
   withheld counts; the per-crime-type net harm breakdown always (each row
   is a count difference times a public weight).
4. Rounds harm figures (``harm_rounding``), and for the public rounds
   published counts to the base and estimates to ``derived_digits``,
   optionally after cell-key perturbation.

The result follows the JSON contract of :mod:`realimpact.disclosure.contract`
and carries ``disclosure`` (the manifest) so a report drawn from it, or from
the file read back, says the same.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections import Counter
from typing import Any

from realimpact.disclosure.audit import feasible_intervals
from realimpact.disclosure.contract import withhold
from realimpact.disclosure.dominance import dominated, harm_band
from realimpact.disclosure.manifest import build_manifest
from realimpact.disclosure.perturb import perturb_count
from realimpact.disclosure.profiles import Profile, get_profile
from realimpact.disclosure.rounding import round_digits, round_harm, round_to_base
from realimpact.disclosure.suppress import (
    LinkedTable,
    Protection,
    is_small,
    protect,
    unknown_ranges,
)
from realimpact.errors import ValidationError

ROLES = ("target", "buffer", "control")
WHEN = ("before", "after")
#: keys that hold counts of people or events, wherever they appear
COUNT_KEYS = frozenset(
    {"before", "after", "count", "value_count", "n_records", "records", "crimes", "searches",
     "k", "m", "n_before", "n_after", "respondents"}
)  # fmt: skip
#: descriptive fields of an estimate block, kept when its numbers are withheld
KEEP_TEXT = frozenset(
    {"name", "scale", "method", "family", "inference", "level", "interval", "per"}
)
TOTAL_COST = 1_000_000.0  # totals go last: every design is computed from them
LEDGER_COST = 100_000.0
SMALL_WORDS = "it rests on counts too small to share"


def partner_results(results: dict[str, Any], threshold: int = 5) -> dict[str, Any]:
    """``results`` made safe for partners with the default partner rules (and ``threshold``)."""
    import dataclasses

    prof = dataclasses.replace(get_profile("partner"), threshold=threshold)
    return safe_results(results, prof)


def safe_results(results: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """A deep copy of ``results`` fit for ``profile``'s audience (see the module docstring)."""
    if profile.name == "analyst":
        return copy.deepcopy(results)
    prior = results.get("disclosure")
    if results.get("audience") == profile.name and isinstance(prior, dict):
        # already made safe: kept as it is, but anything added since (a report's extras) is
        # dropped by the same rules
        return _drop(copy.deepcopy(results), profile.drop_keys, Counter())
    counts: Counter = Counter()
    data = _drop(copy.deepcopy(results), profile.drop_keys, counts)
    layer = str(
        (data.get("areas") or {}).get("layer")
        or ((data.get("plan") or {}).get("areas") or {}).get("layer")
        or ""
    )
    if layer and not profile.layer_allowed(layer):
        raise ValidationError(
            f"--audience {profile.name}: areas on layer {layer!r} are finer than "
            f"{profile.finest_layer}, the finest this audience may be shown"
        )
    t = profile.threshold
    inds = [i for i in data.get("indicators") or [] if isinstance(i, dict)]
    table, where = _linked_table(data, inds, t)
    prot = protect(table, t)
    if prot.unresolved:  # the loop could not close every leak: withhold every count it touches
        for leak in prot.unresolved:
            prot.secondary.add(leak.cell)
    _apply_cells(prot, where, counts)
    for ind in inds:
        _derived(ind, inds, counts)
        if _any_total(ind) or _any_month(ind, ROLES):
            note = (
                f"Some counts are below {t} and are not shown; "
                "figures that would reveal them are withheld."
            )
            notes = ind.setdefault("notes", [])
            if note not in notes:
                notes.append(note)
    _ledger(data, counts, t)
    _net_harm(data, inds, profile, counts)
    _net_harm_guard(data, inds, profile, counts, table, prot)
    _next_steps(data, inds)
    _walk_counts(data, t, counts)
    if profile.rounding > 1 or profile.perturbation:
        _round_counts(data, inds, profile, counts)
    if profile.derived_digits is not None:
        for ind in inds:
            for blk in ("wdq", "wdd", "did", "its", "verdict"):
                if isinstance(ind.get(blk), dict):
                    ind[blk] = _round_floats(ind[blk], profile.derived_digits)
    manifest = build_manifest(
        profile,
        counts,
        product="evaluate",
        sources=_sources(data, inds),
        generated_at=str(data.get("generated_at") or "") or None,
    )
    data["audience"] = profile.name
    data["suppression_threshold"] = t
    data["suppressed_below"] = t  # the name results.json used before issue 12
    data["disclosure"] = manifest
    return data


# --- 1. identifying fields ---------------------------------------------------------------


def _drop(o: Any, keys: frozenset[str], counts: Counter) -> Any:
    if isinstance(o, dict):
        out = {}
        for k, v in o.items():
            if k in keys:
                counts["dropped"] += 1
                continue
            out[k] = _drop(v, keys, counts)
        return out
    if isinstance(o, list):
        return [_drop(v, keys, counts) for v in o]
    return o


# --- 2. the linked table -------------------------------------------------------------------


def _window_months(ind: dict[str, Any], when: str) -> list[str]:
    w = ind.get("baseline" if when == "before" else "follow_up") or {}
    lo, hi = str(w.get("from") or ""), str(w.get("to") or "")
    held = [str(m) for m in ind.get("months_held") or []]
    return [m for m in held if lo <= m <= hi] if lo and hi else []


def _linked_table(
    data: dict[str, Any], inds: list[dict[str, Any]], t: int
) -> tuple[LinkedTable, dict[Any, tuple[str, Any]]]:
    """Every published count as a cell, and the sums that tie them; ``where`` maps a cell to its place."""
    table = LinkedTable()
    where: dict[Any, tuple[str, Any]] = {}
    for ind in inds:
        iid = str(ind.get("id"))
        monthly = ind.get("monthly") if isinstance(ind.get("monthly"), list) else None
        by = {}
        for r in monthly or []:
            if (
                isinstance(r, dict)
                and isinstance(r.get("n"), int | float)
                and not isinstance(r.get("n"), bool)
            ):
                by[(str(r.get("role")), str(r.get("month")))] = r
        roles_with_months = {role for role, _ in by}
        for role in ROLES:
            blk = ind.get(role)
            if not isinstance(blk, dict):
                continue
            for when in WHEN:
                v = blk.get(when)
                if isinstance(v, bool) or not isinstance(v, int | float):
                    continue
                cell = ("t", iid, role, when)
                table.add(cell, v, cost=TOTAL_COST + v)
                where[cell] = ("total", (ind, role, when))
                months = _window_months(ind, when)
                if role not in roles_with_months or not months:
                    continue
                parts = []
                for m in months:
                    mc = ("m", iid, role, m)
                    rec = by.get((role, m))
                    if mc not in table.values:
                        table.add(mc, rec["n"] if rec else 0)
                        where[mc] = ("month", (ind, role, m, rec))
                    parts.append(mc)
                if sum(table.values[p] for p in parts) == v:
                    table.relate(cell, parts)
                    if is_small(v, t):
                        table.mask(parts)  # a small total: say nothing of its months
    _category_relations(table, inds)
    _ledger_relations(table, where, data, inds)
    return table, where


def _types(ind: dict[str, Any]) -> frozenset[str]:
    return frozenset(str(x) for x in ind.get("crime_types") or [])


def _same_frame(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (
        a.get("source") == b.get("source")
        and a.get("baseline") == b.get("baseline")
        and a.get("follow_up") == b.get("follow_up")
    )


def _category_relations(table: LinkedTable, inds: list[dict[str, Any]]) -> None:
    """An indicator whose crime types are the union of others' is their sum, cell by cell."""
    for whole in inds:
        types = _types(whole)
        if not types:
            continue
        others = [
            o
            for o in inds
            if o is not whole and _same_frame(o, whole) and _types(o) and _types(o) <= types
        ]
        for k in range(1, min(4, len(others)) + 1):
            for combo in itertools.combinations(others, k):
                sets = [_types(o) for o in combo]
                if sum(len(s) for s in sets) != len(types) or frozenset().union(*sets) != types:
                    continue
                if k == 1 and str(combo[0].get("id")) < str(whole.get("id")):
                    continue  # two indicators of the same types: one equality is enough
                wid = str(whole.get("id"))
                for cell in [c for c in list(table.values) if c[1] == wid]:
                    parts = [(cell[0], str(o.get("id")), *cell[2:]) for o in combo]
                    if (
                        all(p in table.values for p in parts)
                        and sum(table.values[p] for p in parts) == table.values[cell]
                    ):
                        table.relate(cell, parts)


def _ledger_relations(
    table: LinkedTable, where: dict, data: dict[str, Any], inds: list[dict[str, Any]]
) -> None:
    """The ledger's crimes in target and buffer are the sum of an indicator's two role totals."""
    led = data.get("outputs_ledger")
    if not isinstance(led, dict):
        return
    for name, entry in led.items():
        if not isinstance(entry, dict) or "scope" not in entry or "crime_types" not in entry:
            continue
        types = frozenset(str(x) for x in entry.get("crime_types") or [])
        match = [i for i in inds if i.get("source") == "police_uk" and _types(i) == types]
        for when in WHEN:
            blk = entry.get(when)
            if not isinstance(blk, dict) or not isinstance(blk.get("crimes"), int):
                continue
            cell = ("ledger", name, when, "crimes")
            # the ledger (what was done) goes before an outcome's totals, which every
            # design rests on, but after the months
            table.add(cell, blk["crimes"], cost=LEDGER_COST + blk["crimes"])
            where[cell] = ("ledger", (blk, "crimes"))
            for ind in match:
                parts = [("t", str(ind.get("id")), r, when) for r in ("target", "buffer")]
                if (
                    all(p in table.values for p in parts)
                    and sum(table.values[p] for p in parts) == blk["crimes"]
                ):
                    table.relate(cell, parts)


def _apply_cells(prot: Protection, where: dict, counts: Counter) -> None:
    for cell in sorted(prot.withheld, key=repr):
        kind = prot.kind(cell)
        counts[kind] += 1
        small = kind == "primary"
        place, ref = where.get(cell, (None, None))
        if place == "total":
            ind, role, when = ref
            blk = ind[role]
            withhold(blk, when, small=small)
            withhold(blk, f"per_month_{when}")
        elif place == "month":
            ind, role, m, rec = ref
            if rec is None:  # a masked zero: written out, or its absence would say 0
                rec = {"month": m, "role": role, "n": 0}
                ind.setdefault("monthly", []).append(rec)
            withhold(rec, "n", small=small)
        elif place == "ledger":
            blk, key = ref
            withhold(blk, key, small=small)
            withhold(blk, "per_month")


# --- 3. derived figures --------------------------------------------------------------------


def _withheld(blk: Any, key: str) -> bool:
    return isinstance(blk, dict) and key in (blk.get("suppressed") or [])


def _any_total(ind: dict[str, Any], roles: tuple[str, ...] = ROLES) -> bool:
    return any(_withheld(ind.get(r), w) for r in roles for w in WHEN)


def _any_month(ind: dict[str, Any], roles: tuple[str, ...]) -> bool:
    return any(
        isinstance(r, dict) and r.get("role") in roles and _withheld(r, "n")
        for r in ind.get("monthly") or []
    )


def withhold_block(blk: dict[str, Any], counts: Counter) -> None:
    """Every number of an estimate block withheld; its descriptive text kept."""
    for k in list(blk):
        if k in ("suppressed", "below_threshold"):
            continue
        if k in KEEP_TEXT and not isinstance(blk[k], dict | list):
            continue  # an ITS "level" is a block of numbers, a confidence level is not
        if blk[k] is not None:
            counts["derived"] += 1
        withhold(blk, k)


def _derived(ind: dict[str, Any], inds: list[dict[str, Any]], counts: Counter) -> None:
    totals = _any_total(ind)
    # The WDD's local part (target against control) is the verdict's estimate
    # and needs only the target and control totals: a small buffer withholds
    # the displacement part alone, not the operation's main result.
    local = _any_total(ind, ("target", "control"))
    hide = {
        "wdq": totals,
        "wdd": local,
        "did": _any_total(ind, ("target", "control")) or _any_month(ind, ("target", "control")),
        "its": _any_total(ind, ("target",)) or _any_month(ind, ("target",)),
    }
    hide["wdq_family"] = hide["wdq"]
    for blk, yes in hide.items():
        if yes and isinstance(ind.get(blk), dict):
            withhold_block(ind[blk], counts)
    if totals and not local and isinstance(ind.get("wdd"), dict):
        _withhold_wdd_displacement(ind["wdd"], counts)
    v = ind.get("verdict")
    if isinstance(v, dict):
        _verdict(v, hide, _any_total(ind, ("buffer", "control")), counts)
    for s in ind.get("sms") or []:
        if isinstance(s, dict) and hide.get(str(s.get("design"))):
            s["statement"] = (
                f"Maryland Scientific Methods Scale level {s.get('level')}; details withheld: {SMALL_WORDS}."
            )
            if s.get("checks_failed"):
                withhold(s, "checks_failed")
                counts["derived"] += 1
    series = ind.get("series")
    if isinstance(series, dict) and isinstance(series.get("months"), list):
        hidden = {
            (str(r.get("role")), str(r.get("month")))
            for r in ind.get("monthly") or []
            if isinstance(r, dict) and _withheld(r, "n")
        }
        for role in ROLES:
            ys = series.get(role)
            if isinstance(ys, list):
                idx = [i for i, m in enumerate(series["months"]) if (role, str(m)) in hidden]
                for i in idx:
                    ys[i] = None
                if idx:
                    series[f"{role}_suppressed"] = idx


# WDD figures that include the buffer; local_estimate/local_se (target against
# control) and the dispersion factor stay
WDD_BUFFER_FIELDS = ("estimate", "se", "ci_low", "ci_high", "p", "n", "poisson")
WDD_BUFFER_EXTRA = (
    "z", "displacement_estimate", "displacement_se", "over_follow_up", "over_follow_up_se",
    "poisson",
)  # fmt: skip


def _withhold_wdd_displacement(blk: dict[str, Any], counts: Counter) -> None:
    for obj, fields in ((blk, WDD_BUFFER_FIELDS), (blk.get("extra"), WDD_BUFFER_EXTRA)):
        if isinstance(obj, dict):
            for k in fields:
                if obj.get(k) is not None:
                    counts["derived"] += 1
                withhold(obj, k)


def _verdict(v: dict[str, Any], hide: dict[str, bool], disp_hidden: bool, counts: Counter) -> None:
    def one(x: dict[str, Any]) -> None:
        if hide.get(str(x.get("design"))):
            for k in ("estimate", "ci_low", "ci_high", "change"):
                if x.get(k) is not None:
                    counts["derived"] += 1
                withhold(x, k)
            x["reason"] = SMALL_WORDS

    one(v)
    for s in v.get("sensitivity") or []:
        if isinstance(s, dict):
            one(s)
    if disp_hidden or hide.get("wdd"):
        for k in (
            "displacement",
            "displacement_estimate",
            "displacement_ci_low",
            "displacement_ci_high",
        ):
            if k in v:
                if v[k] is not None:
                    counts["derived"] += 1
                withhold(v, k)
        if "displacement_reason" in v or "displacement" in v:
            v["displacement_reason"] = SMALL_WORDS


# --- the outputs ledger: counts and shares k of m ---------------------------------------------


def _km(blk: dict[str, Any], t: int, counts: Counter) -> bool:
    """A share k of m: k, m and the complement m-k protected; the share goes with them."""
    k, m = blk.get("k"), blk.get("m")
    if not isinstance(k, int) or not isinstance(m, int) or isinstance(k, bool):
        return False
    table = LinkedTable()
    table.add("k", k)
    table.add("m", m, cost=TOTAL_COST + m)
    table.add("j", m - k, hidden=True)
    table.relate("m", ["k", "j"])
    prot = protect(table, t)
    hidden = prot.withheld | {leak.cell for leak in prot.unresolved}
    if is_small(m - k, t) and not hidden & {"k", "m"}:
        hidden.add("k")
    for c in sorted(hidden - {"j"}):
        counts[prot.kind(c) or "secondary"] += 1
        withhold(blk, c, small=prot.kind(c) == "primary")
    if hidden - {"j"} and "share" in blk:
        counts["derived"] += 1
        withhold(blk, "share")
    return bool(hidden - {"j"})


def _ledger(data: dict[str, Any], counts: Counter, t: int) -> None:
    led = data.get("outputs_ledger")
    if not isinstance(led, dict):
        return
    for entry in led.values():
        if not isinstance(entry, dict):
            continue
        touched = False
        for when in WHEN:
            blk = entry.get(when)
            if not isinstance(blk, dict):
                continue
            for key in ("crimes", "searches"):
                if is_small(blk.get(key), t):
                    counts["primary"] += 1
                    withhold(blk, key, small=True)
                    withhold(blk, "per_month")
            for sub in blk.values():
                if isinstance(sub, dict) and "k" in sub and "m" in sub:
                    touched |= _km(sub, t, counts)
            touched |= bool(blk.get("suppressed"))
        for row in entry.get("monthly") or []:
            if not isinstance(row, dict):
                continue
            n = row.get("searches", row.get("crimes"))
            if is_small(n, t):
                counts["primary"] += 1
                withhold(row, "searches" if "searches" in row else "crimes", small=True)
            for share in [k for k in row if k.endswith("share") or k.endswith("rate")]:
                s = row.get(share)
                if not isinstance(s, float | int) or not isinstance(n, int | float):
                    continue
                kk = round(s * n)
                if is_small(n, t) or is_small(kk, t) or is_small(n - kk, t):
                    counts["derived"] += 1
                    withhold(row, share)
                    touched = True
        trend = entry.get("find_rate_trend")
        if touched and isinstance(trend, dict):
            withhold_block(trend, counts)


# --- net harm -----------------------------------------------------------------------------------


def _net_harm(
    data: dict[str, Any], inds: list[dict[str, Any]], profile: Profile, counts: Counter
) -> None:
    net = data.get("net_harm")
    if not isinstance(net, dict):
        return
    ch = net.get("crime_harm")
    if isinstance(ch, dict):
        ch["_exact"] = copy.deepcopy({k: v for k, v in ch.items() if k != "_exact"})
        for k in ("estimate", "se", "ci_low", "ci_high"):
            if k in ch:
                ch[k] = round_harm(ch[k], profile.harm_rounding)
        if isinstance(ch.get("poisson"), dict):
            for k in ("se", "ci_low", "ci_high"):
                if k in ch["poisson"]:
                    ch["poisson"][k] = round_harm(ch["poisson"][k], profile.harm_rounding)
        if ch.get("n") is not None:
            counts["derived"] += 1
            withhold(ch, "n")  # the sum of every count behind it
        if isinstance(ch.get("extra"), dict):
            ch["extra"].pop("z", None)
        for row in ch.get("by_type") or []:
            if isinstance(row, dict):
                for k in ("crimes_prevented", "se", "dispersion", "harm_prevented"):
                    if row.get(k) is not None:
                        counts["derived"] += 1
                    withhold(row, k)
    by_id = {str(i.get("id")): i for i in inds}
    for h in net.get("operation_harms") or []:
        if not isinstance(h, dict):
            continue
        ind = by_id.get(str(h.get("monitor")))
        if ind is None:
            continue
        area = str(h.get("area") or "target+buffer")
        roles = tuple(r for r in ("target", "buffer") if r in area) or ("target",)
        if _any_total(ind, roles):
            for k in ("before_per_month", "after_per_month", "change_pct", "crimes_prevented"):
                if h.get(k) is not None:
                    counts["derived"] += 1
                withhold(h, k)
        rel = h.get("relative_to_control")
        if isinstance(rel, dict) and (_any_total(ind) or _withheld(ind.get("wdd"), "estimate")):
            for k in ("estimate", "ci_low", "ci_high", "change"):
                withhold(rel, k)
            rel["words"] = f"relative to the control: not shown, {SMALL_WORDS}"
            counts["derived"] += 1
        h["summary"] = _harm_summary(h)
    if "statement" in net:
        net["statement"] = _statement(net)


#: the net harm figures a reader can read a withheld count back from
NET_FIELDS = ("estimate", "se", "ci_low", "ci_high", "p")
NET_POISSON = ("se", "ci_low", "ci_high", "p")
#: how far above its lowest possible value a withheld count is tried (as the attacker does)
NET_SPAN = 400
Z95 = 1.959963984540054
NET_BANDED = (
    "Shown as a range: a count behind it is too small to share, "
    "and the exact figure would narrow it down."
)
NET_WITHHELD = (
    "Not shown: a count behind it is too small to share, and even a range would narrow it down."
)


def _net_cells(
    data: dict[str, Any], inds: list[dict[str, Any]], net: dict[str, Any]
) -> list[tuple[Any, dict[str, Any], str, str, frozenset[str]]]:
    """Withheld role totals the net harm is computed from: (cell, indicator, role, when, types).

    The net harm sums every recorded crime type over the first police.uk
    indicator's windows; an indicator of the same source and windows holds
    the same per-type counts, so its withheld totals sit behind it.
    """
    win = net.get("windows") if isinstance(net.get("windows"), dict) else {}
    plan_types = {
        str(i.get("id")): frozenset(str(x) for x in i.get("crime_types") or [])
        for i in ((data.get("plan") or {}).get("indicators") or [])
        if isinstance(i, dict)
    }
    out = []
    for ind in inds:
        if ind.get("source") != "police_uk":
            continue
        if ind.get("baseline") != win.get("baseline") or ind.get("follow_up") != win.get(
            "follow_up"
        ):
            continue
        types = _types(ind) or plan_types.get(str(ind.get("id")), frozenset())
        for role in ROLES:
            for when in WHEN:
                if _withheld(ind.get(role), when):
                    out.append((("t", str(ind.get("id")), role, when), ind, role, when, types))
    return out


def _net_figures(est: float, var: float, var_p: float, base: float) -> dict[str, Any]:
    """The crime harm figures as they would be published (rounded as ``_net_harm`` rounds)."""
    se, sp = math.sqrt(max(var, 0.0)), math.sqrt(max(var_p, 0.0))
    return {
        "estimate": round_harm(est, base),
        "se": round_harm(se, base),
        "ci_low": round_harm(est - Z95 * se, base),
        "ci_high": round_harm(est + Z95 * se, base),
        "p_se": round_harm(sp, base),
        "p_ci_low": round_harm(est - Z95 * sp, base),
        "p_ci_high": round_harm(est + Z95 * sp, base),
        "change": "fell" if est - Z95 * se > 0 else "rose" if est + Z95 * se < 0 else "no",
        "band": (
            ("prevented " if est >= 0 else "added ") + harm_band(est) if math.isfinite(est) else ""
        ),
    }


def _net_excludes(
    cells: list, ind_totals: dict, ch: dict[str, Any], ranges: dict, base: float, keys: tuple
) -> bool | None:
    """Whether the figures ``keys`` rule out a value a withheld count could take.

    The attacker of tests/test_disclosure_attack_evaluation.py, in the worst
    case: every other crime type's part is known, the withheld count is tried
    at each value the other published figures leave it, and the net harm is
    recomputed. None when it cannot be recomputed (a withheld total of several
    crime types: its per-type counts are not in the results).
    """
    from realimpact.evaluation.net_harm import tne_estimate

    rows = {str(r.get("crime_type")): r for r in ch.get("by_type") or [] if isinstance(r, dict)}
    est0, se0 = _f(ch.get("estimate")), _f(ch.get("se"))
    sp0 = _f((ch.get("poisson") or {}).get("se"))
    if est0 is None or se0 is None or sp0 is None:
        return None
    for cell, ind, role, when, types in cells:
        if len(types) != 1 or next(iter(types)) not in rows:
            return None
        row = rows[next(iter(types))]
        w, phi = _f(row.get("weight")), _f(row.get("dispersion")) or 1.0
        tne0, tse0 = _f(row.get("crimes_prevented")), _f(row.get("se"))
        counts = ind_totals.get(str(ind.get("id")))
        if w is None or tne0 is None or tse0 is None or counts is None:
            return None
        lo, hi = ranges.get(cell, (0, math.inf))
        hi = min(hi, lo + NET_SPAN)
        pub = _net_figures(est0, se0**2, sp0**2, base)
        for v in range(int(lo), int(hi) + 1):
            c = dict(counts)
            c[(role, when)] = float(v)
            t = tne_estimate(
                (c[("target", "before")], c[("target", "after")]),
                (c.get(("buffer", "before"), 0.0), c.get(("buffer", "after"), 0.0)),
                (c[("control", "before")], c[("control", "after")]),
                dispersion=phi,
            )
            if not math.isfinite(t.estimate):
                return True  # that value would leave no estimate at all: it is ruled out
            est = est0 - w * tne0 + w * t.estimate
            var = se0**2 - (w * tse0) ** 2 + (w * t.se) ** 2
            var_p = sp0**2 - (w * tse0) ** 2 / phi + (w * t.se) ** 2 / phi
            got = _net_figures(est, var, var_p, base)
            if any(got[k] != pub[k] for k in keys):
                return True
    return False


def _net_harm_guard(
    data: dict[str, Any],
    inds: list[dict[str, Any]],
    profile: Profile,
    counts: Counter,
    table: LinkedTable,
    prot: Protection,
) -> None:
    """The net harm total coarsened or withheld when it would narrow a withheld count.

    With the public CCHI weights, a net harm total published to 10 days moves
    with every crime a withheld count could hide (a Drugs crime is 3.7 days, a
    robbery 365): a reader who knows or derives the other crime types' parts
    tries each value the count could take and keeps those that reproduce the
    published figures. When that rules out any value, the total is shown only
    as a band with its direction; when the band (or whether harm fell) would
    still rule one out, or the type behind the withheld count dominates the
    total, nothing of the total is shown. Runs on the analyst's figures
    (``by_type`` is withheld from the output afterwards, so it reads the copy).
    """
    net = data.get("net_harm")
    ch = net.get("crime_harm") if isinstance(net, dict) else None
    if not isinstance(ch, dict):
        return
    exact = ch.pop("_exact", None) or {}
    cells = _net_cells(data, inds, net)
    if not cells:
        return
    base = profile.harm_rounding
    # what a reader can say of each withheld count from the table alone
    unknown = unknown_ranges(table, profile.threshold, prot.primary, prot.secondary)
    published = {c: v for c, v in table.values.items() if c not in unknown}
    try:
        ranges = feasible_intervals(table.relations, published, unknown)
    except ValueError:
        ranges = unknown
    ind_totals = {}
    for _, ind, _, _, _ in cells:
        iid = str(ind.get("id"))
        ind_totals[iid] = {
            (cell[2], cell[3]): float(v)
            for cell, v in table.values.items()
            if cell[0] == "t" and cell[1] == iid
        }
    rows = {str(r.get("crime_type")): r for r in exact.get("by_type") or [] if isinstance(r, dict)}
    hidden_types = {next(iter(c[4])) for c in cells if len(c[4]) == 1}
    parts = {
        k: (1 if k in hidden_types else profile.threshold, abs(_f(r.get("harm_prevented")) or 0.0))
        for k, r in rows.items()
    }
    dom = profile.dominance_share > 0 and dominated(
        parts, threshold=profile.threshold, share=profile.dominance_share
    )
    if any(len(c[4]) != 1 for c in cells):
        dom = True  # several types behind one withheld total: it cannot be checked, so withheld
    rounded_leaks = _net_excludes(
        cells, ind_totals, exact, ranges, base, ("estimate", "se", "ci_low", "ci_high",
                                                "p_se", "p_ci_low", "p_ci_high", "change")
    )  # fmt: skip
    band_leaks = _net_excludes(cells, ind_totals, exact, ranges, base, ("band", "change"))
    shown = "rounded" if rounded_leaks is False and not dom else "band"
    if shown == "band" and (band_leaks is not False or dom):
        shown = "withheld"
    # p at full precision ties the estimate to its error: never shown beside a withheld count
    for blk in (ch, ch.get("poisson")):
        if isinstance(blk, dict) and blk.get("p") is not None:
            counts["derived"] += 1
            withhold(blk, "p")
    if shown == "rounded":
        return
    for k in ("estimate", "se", "ci_low", "ci_high"):
        if ch.get(k) is not None:
            counts["derived"] += 1
        withhold(ch, k)
    if isinstance(ch.get("poisson"), dict):
        for k in NET_POISSON:
            withhold(ch["poisson"], k)
    est = _f(exact.get("estimate"))
    if shown == "band" and est is not None:
        ch["band"] = harm_band(est)
        ch["direction"] = "prevented" if est >= 0 else "added"
        ch["shown_as"] = "band"
        ch["reason"] = NET_BANDED
    else:
        withhold(ch, "change")
        ch["shown_as"] = "withheld"
        ch["reason"] = NET_WITHHELD
    counts["derived"] += 1
    net["statement"] = _statement(net)


def _next_steps(data: dict[str, Any], inds: list[dict[str, Any]]) -> None:
    """Next steps that would say what a withheld verdict was ("no clear change") lose it."""
    from realimpact.evaluation.engine import ALSO_UNCLEAR

    hidden = {
        str(i.get("label"))
        for i in inds
        if isinstance(i.get("verdict"), dict) and _withheld(i["verdict"], "change")
    }
    steps = data.get("next_steps")
    if not hidden or not isinstance(steps, list):
        return
    kept: list[Any] = []
    for s in steps:
        if isinstance(s, str) and s.startswith(ALSO_UNCLEAR):
            body, sep, tail = s[len(ALSO_UNCLEAR) :].partition("; ")
            shown = [
                str(i.get("label"))
                for i in inds
                if str(i.get("label")) in body and str(i.get("label")) not in hidden
            ]
            if not shown:
                continue
            s = f"{ALSO_UNCLEAR}{', '.join(shown)}{sep}{tail}"
        elif isinstance(s, str) and any(s.startswith(f"{h}: with ") for h in hidden):
            continue  # sizing a follow-up is said only for outcomes without a clear change
        kept.append(s)
    data["next_steps"] = kept


def _f(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


def _harm_summary(h: dict[str, Any]) -> str:
    what = f"{h.get('label') or h.get('id')} ({h.get('monitor_label') or h.get('monitor')})"
    b, a = _f(h.get("before_per_month")), _f(h.get("after_per_month"))
    if b is None or a is None:
        body = f"not shown, {SMALL_WORDS}"
    else:
        body = f"{b:.1f} a month before, {a:.1f} after"
    rel = h.get("relative_to_control")
    if isinstance(rel, dict) and rel.get("words"):
        body += f"; {rel['words']}"
    return f"{what}: {body}"


def _statement(net: dict[str, Any]) -> str:
    ch = net.get("crime_harm") if isinstance(net.get("crime_harm"), dict) else {}
    est, lo, hi = (_f(ch.get(k)) for k in ("estimate", "ci_low", "ci_high"))
    out = []
    unit = ch.get("unit") or "harm units"
    if est is not None:
        ci = f" (95% CI {lo:,.0f} to {hi:,.0f})" if lo is not None and hi is not None else ""
        out.append(f"Crime harm: about {est:,.0f} {unit} prevented in target and buffer{ci}.")
    elif ch.get("shown_as") == "band":
        out.append(
            f"Crime harm: between {str(ch.get('band')).replace('-', ' and ')} {unit} "
            f"{ch.get('direction') or 'prevented'} in target and buffer. {ch.get('reason')}"
        )
    elif ch.get("shown_as") == "withheld":
        out.append(f"Crime harm in target and buffer: {str(ch.get('reason')).lower()}")
    hs = [
        h["summary"]
        for h in net.get("operation_harms") or []
        if isinstance(h, dict) and h.get("summary")
    ]
    if hs:
        out.append("Harms the operation may have caused, as monitored: " + "; ".join(hs) + ".")
    return " ".join(out)


# --- everything else: primary suppression of any count left ---------------------------------


def _walk_counts(o: Any, t: int, counts: Counter) -> None:
    """Counts outside the linked table (surveys, partner tallies): small ones withheld."""
    if isinstance(o, dict):
        if "k" in o and "m" in o and isinstance(o.get("k"), int) and not o.get("suppressed"):
            _km(o, t, counts)
        for k, v in list(o.items()):
            if (k in COUNT_KEYS and is_small(v, t) and k not in (o.get("suppressed") or [])) or (
                k == "n" and is_small(v, t) and isinstance(v, int)
            ):
                counts["primary"] += 1
                withhold(o, k, small=True)
            else:
                _walk_counts(v, t, counts)
    elif isinstance(o, list):
        for v in o:
            _walk_counts(v, t, counts)


# --- 4. rounding and perturbation ----------------------------------------------------------------


def _round_counts(
    data: dict[str, Any], inds: list[dict[str, Any]], profile: Profile, counts: Counter
) -> None:
    plan = str(data.get("plan_id") or "")
    pert = profile.perturbation

    def adjust(value: Any, cell_id: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or value == 0:
            return value
        v = value
        if pert:
            v = perturb_count(v, cell_id, pert.key, pert.max, profile.threshold)
            counts["perturbed"] += v != value
        r = max(round_to_base(v, profile.rounding), profile.threshold)
        counts["rounded"] += r != value
        return r

    for ind in inds:
        iid = str(ind.get("id"))
        for role in ROLES:
            blk = ind.get(role)
            if not isinstance(blk, dict):
                continue
            for when in WHEN:
                if blk.get(when) is not None:
                    blk[when] = adjust(blk[when], f"{plan}|{iid}|{role}|{when}")
                    mo = _f(blk.get(f"months_{when}"))
                    if (
                        mo
                        and f"per_month_{when}" in blk
                        and blk.get(f"per_month_{when}") is not None
                    ):
                        blk[f"per_month_{when}"] = blk[when] / mo
        for r in ind.get("monthly") or []:
            if isinstance(r, dict) and r.get("n") is not None:
                r["n"] = adjust(r["n"], f"{plan}|{iid}|{r.get('role')}|{r.get('month')}")
    led = data.get("outputs_ledger")
    if isinstance(led, dict):
        for name, entry in led.items():
            if not isinstance(entry, dict):
                continue
            for when in WHEN:
                blk = entry.get(when)
                if isinstance(blk, dict):
                    for key in ("crimes", "searches"):
                        if blk.get(key) is not None:
                            blk[key] = adjust(blk[key], f"{plan}|ledger|{name}|{when}|{key}")
                    for sub, km in blk.items():
                        if isinstance(km, dict) and "k" in km:
                            for key in ("k", "m"):
                                if km.get(key) is not None:
                                    km[key] = adjust(
                                        km[key], f"{plan}|ledger|{name}|{when}|{sub}|{key}"
                                    )
            for row in entry.get("monthly") or []:
                if isinstance(row, dict) and row.get("searches") is not None:
                    row["searches"] = adjust(
                        row["searches"], f"{plan}|ledger|{name}|{row.get('month')}"
                    )


def _round_floats(o: Any, digits: int) -> Any:
    if isinstance(o, dict):
        return {k: _round_floats(v, digits) for k, v in o.items()}
    if isinstance(o, list):
        return [_round_floats(v, digits) for v in o]
    if isinstance(o, float):
        return round_digits(o, digits)
    return o


def _sources(data: dict[str, Any], inds: list[dict[str, Any]]) -> dict[str, Any]:
    months = sorted({str(m) for i in inds for m in i.get("months_held") or []})
    return {
        "data": sorted({str(i.get("source")) for i in inds if i.get("source")}),
        "force": data.get("force"),
        "months": {"from": months[0], "to": months[-1]} if months else None,
        "plan": data.get("plan_id"),
    }


def safe_displacement(
    res: dict[str, Any], counts: dict[str, Any], profile: Profile
) -> dict[str, Any]:
    """``evaluate displacement`` made safe for an audience.

    Every measure (WDQ family, WDD) is computed from all six or eight typed
    counts, so with any of them small (1 to threshold-1) each measure would
    give it back: all are withheld, and the counts themselves are not echoed.
    ``counts`` maps the option (``--target`` ...) to its (before, after).
    """
    t = profile.threshold
    out = copy.deepcopy(res)
    out["audience"] = profile.name
    out["suppression_threshold"] = t
    small = [
        f"{name} {when}"
        for name, pair in counts.items()
        if pair is not None
        for when, v in zip(WHEN, pair, strict=True)
        if is_small(v, t)
    ]
    if t and small:
        counts_withheld: Counter = Counter()
        for block in ("wdq", "wdd"):
            if isinstance(out.get(block), dict):
                withhold_block(out[block], counts_withheld)
        out.setdefault("notes", []).append(
            f"every measure withheld: {', '.join(small)} below {t} would be given back by it"
        )
    return out
