"""``realimpact plan validate``: every gap in an operation plan, one line each.

The checks are the source documents' remedy for operations judged by outputs
and evaluated as an afterthought (UK Drug Policy Commission (2009) Moving towards Real Impact Drug Enforcement principles and Box A; Home Office (2003) Disrupting crack markets
sections 3.9 and 4.3): before it starts, a plan must say which harms it
targets and by what mechanism, use tactics suited to how the market sells,
measure at least one outcome (not only outputs) with baseline data already in
hand, keep target, buffer and control areas apart, expect displacement and
harms of its own with mitigations, and line up the support (treatment,
safeguarding of vulnerable tenants and children) that its tactics call for.

Errors make a plan invalid (the CLI exits 2); warnings are advice.
"""

from __future__ import annotations

import difflib
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realimpact.errors import ValidationError
from realimpact.plans import catalogues as cat
from realimpact.plans.model import (
    CONSEQUENCE_AREAS,
    DESIGNS,
    INDICATOR_KINDS,
    SOURCE_KINDS,
    Issue,
    Plan,
    load_plan,
)
from realimpact.store import Store

AREA_ROLES = ("target", "buffer", "control")
PLACEHOLDER = "REPLACE"  # marks text `realimpact plan new` expects the planner to write


@dataclass
class PlanValidation:
    """Result of :func:`validate_plan`.

    Attributes
    ----------
    plan_id : the plan's id (None when missing). path : plan file, if any.
    errors, warnings : lists of :class:`~realimpact.plans.model.Issue`, in plan order.
    valid : True when there are no errors.
    data_checked : whether baseline data and area ids were checked against a store.
    """

    plan_id: str | None
    path: str | None
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    data_checked: bool = False

    @property
    def valid(self) -> bool:
        return not self.errors

    def lines(self) -> list[str]:
        return [f"error: {i}" for i in self.errors] + [f"warning: {i}" for i in self.warnings]

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "path": self.path,
            "valid": self.valid,
            "data_checked": self.data_checked,
            "n_errors": len(self.errors),
            "n_warnings": len(self.warnings),
            "errors": [i.to_dict() for i in self.errors],
            "warnings": [i.to_dict() for i in self.warnings],
        }


class _Out:
    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def error(self, path: str, msg: str) -> None:
        self.issues.append(Issue(path, msg, "error"))

    def warn(self, path: str, msg: str) -> None:
        self.issues.append(Issue(path, msg, "warning"))


def _hint(value: str, choices: list[str]) -> str:
    m = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    return f" (did you mean {m[0]!r}?)" if m else ""


def _fmt_ids(ids: list[str] | set[str], limit: int = 6) -> str:
    ids = sorted(ids)
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


# -- sections --------------------------------------------------------------------
def _identity(plan: Plan, out: _Out) -> None:
    if not plan.id:
        out.error("id", "missing; give the plan a unique id such as op-city-lockdown-2020")
    if not plan.title:
        out.warn("title", "missing; a title tells readers of the report what the operation was")
    if not plan.start:
        out.error("start", "missing; give the first month of the operation (YYYY-MM)")
    if not plan.end:
        out.error("end", "missing; give the last month of the operation (YYYY-MM)")
    if plan.start and plan.end and plan.end < plan.start:
        out.error("end", f"{plan.end} is before start {plan.start}")
    if plan.design and plan.design not in DESIGNS:
        out.error("design", f"{plan.design!r} is not one of {', '.join(DESIGNS)}")


def _areas(plan: Plan, store: Store | None, out: _Out) -> None:
    a = plan.areas
    if not a.target:
        out.error("areas.target", "no target areas; name the areas the operation acts in")
    if not a.buffer:
        out.error(
            "areas.buffer",
            "no buffer areas; without them displacement next door "
            "cannot be measured (Home Office (2003) Disrupting crack markets, 3.9.1 buffer zones)",
        )
    if not a.control:
        msg = (
            "no control areas; without them change cannot be told apart from "
            "what would have happened anyway"
        )
        if plan.design == "its":  # declared: the planner chose the trend alone
            out.warn("areas.control", msg + " (design its relies on the trend alone)")
        else:
            out.error("areas.control", msg)
    for role in AREA_ROLES:
        ids = getattr(a, role)
        dup = sorted({x for x in ids if ids.count(x) > 1})
        if dup:
            out.warn(f"areas.{role}", f"listed more than once: {_fmt_ids(dup)}")
    for i, r1 in enumerate(AREA_ROLES):
        for r2 in AREA_ROLES[i + 1 :]:
            both = set(getattr(a, r1)) & set(getattr(a, r2))
            if both:
                out.error(
                    "areas",
                    f"{_fmt_ids(both)} listed as both {r1} and {r2}; "
                    "target, buffer and control areas must not overlap",
                )
    if store is None:
        return
    layers = store.layer_names()
    if a.layer not in layers:
        out.error("areas.layer", f"no layer {a.layer!r} in the store (layers: {', '.join(layers)})")
        return
    from realimpact.plans import storedata

    present = storedata.existing_area_ids(store, a.layer, a.all_ids())
    for role in AREA_ROLES:
        missing = [x for x in dict.fromkeys(getattr(a, role)) if x not in present]
        if missing:
            out.error(
                f"areas.{role}",
                f"not in layer {a.layer!r} of the store: {_fmt_ids(missing)}"
                + (" (no boundary and no record with that LSOA code)" if a.layer == "lsoa" else ""),
            )
    geoms = storedata.area_geometries(store, a.layer, a.all_ids())
    if len(geoms) > 1:
        _geometric_overlap(plan, geoms, out)


def _geometric_overlap(plan: Plan, geoms: dict[str, Any], out: _Out) -> None:
    """Distinct ids can still overlap on the ground in a user's own layer."""
    from shapely import STRtree

    for i, r1 in enumerate(AREA_ROLES):
        for r2 in AREA_ROLES[i + 1 :]:
            xs = [x for x in dict.fromkeys(getattr(plan.areas, r1)) if x in geoms]
            ys = [y for y in dict.fromkeys(getattr(plan.areas, r2)) if y in geoms and y not in xs]
            if not xs or not ys:
                continue
            tree = STRtree([geoms[y] for y in ys])
            left, right = tree.query([geoms[x] for x in xs], predicate="intersects")
            for li, ri in zip(left, right, strict=True):
                x, y = xs[li], ys[ri]
                if geoms[x].intersection(geoms[y]).area > 1.0:  # touching edges are fine
                    out.error(
                        "areas",
                        f"{r1} {x} and {r2} {y} overlap on the ground; areas must not overlap",
                    )


def _selling_modes(plan: Plan, store: Store | None, out: _Out) -> tuple[list[str], str | None]:
    """Checked selling modes and market level, from the plan and its registry markets."""
    modes: list[str] = []
    level = plan.targets.level
    raw: list[tuple[str, str]] = [
        (f"targets.selling_modes[{i}]", m) for i, m in enumerate(plan.targets.selling_modes)
    ]
    if plan.targets.markets and store is not None:
        from realimpact.plans import storedata

        found = storedata.registry_markets(store, plan.targets.markets)
        if store.table_exists("market_entities"):
            for i, mid in enumerate(plan.targets.markets):
                if mid not in found:
                    out.error(f"targets.markets[{i}]", f"no market {mid!r} in the market registry")
        for mid, attrs in found.items():
            raw += [(f"targets.markets ({mid})", m) for m in attrs.get("selling_modes") or []]
            if not level and attrs.get("level"):
                level = attrs["level"]
    for path, m in raw:
        try:
            modes.append(cat.normalise_selling_mode(m))
        except ValidationError as e:
            if _registry_mode(m):
                out.warn(
                    path,
                    f"selling mode {m!r} has no row in Home Office (2003) Disrupting crack markets, Table 3.1; "
                    "tactics are not checked against it",
                )
            else:
                out.error(path, str(e))
    if level and level not in cat.LEVELS:
        out.error("targets.level", f"{level!r} is not one of {', '.join(cat.LEVELS)}")
        level = None
    return list(dict.fromkeys(modes)), level


def _registry_mode(mode: str) -> bool:
    try:
        from realimpact.markets import vocab

        return mode in vocab.allowed("selling_mode")
    except Exception:  # markets package absent or changed: treat as unknown
        return False


def _harms(plan: Plan, out: _Out) -> None:
    from realimpact.harm.taxonomy import harm_ids

    known = harm_ids()
    if not plan.harms:
        out.error(
            "harms",
            "none listed; name the harms the operation targets "
            "(ids from `realimpact harm taxonomy`), each with its mechanism",
        )
    seen: set[str] = set()
    for i, h in enumerate(plan.harms):
        path = f"harms[{i}]"
        if not h.id:
            out.error(f"{path}.id", "missing; use an id from `realimpact harm taxonomy`")
        elif h.id not in known:
            out.error(
                f"{path}.id",
                f"unknown harm {h.id!r}{_hint(h.id, known)}; see `realimpact harm taxonomy`",
            )
        elif h.id.startswith("enf-"):
            out.warn(
                f"{path}.id",
                f"{h.id!r} is a harm of enforcement itself; list it under "
                "unintended_consequences with a mitigation",
            )
        if h.id and h.id in seen:
            out.warn(f"{path}.id", f"{h.id!r} listed twice")
        seen.add(h.id)
        if not h.mechanism:
            out.error(
                f"{path}.mechanism",
                f"missing; say how the tactics are expected to reduce {h.id or 'this harm'!s}",
            )


def _tactics(plan: Plan, modes: list[str], level: str | None, out: _Out) -> None:
    if not plan.tactics:
        out.error(
            "tactics",
            "none listed; name the tactics (ids from `realimpact plan catalogue tactics`)",
        )
        return
    known = cat.tactic_ids()
    if not modes:
        out.warn(
            "targets.selling_modes",
            "not given (and no registry market gives one); "
            "tactics cannot be checked against how the market sells (Home Office (2003) Disrupting crack markets, Table 3.1)",
        )
    for i, tid in enumerate(plan.tactics):
        path = f"tactics[{i}]"
        if tid not in known:
            out.error(
                path,
                f"unknown tactic {tid!r}{_hint(tid, known)}; "
                "see `realimpact plan catalogue tactics`",
            )
            continue
        t = cat.get_tactic(tid)
        if modes and not any(t.suits(m) for m in modes):
            listed = ", ".join(t.selling_modes)
            out.warn(
                path,
                f"{tid!r} is not listed for selling mode {', '.join(modes)} in Home Office (2003) Disrupting crack markets, "
                f"Table 3.1 (listed for: {listed}); say why it suits this market",
            )
        if level and level not in t.levels:
            out.warn(path, f"{tid!r} is not a {level}-level tactic (levels: {', '.join(t.levels)})")


def _indicators(plan: Plan, store: Store | None, out: _Out) -> None:
    inds = plan.indicators
    if not inds:
        out.error(
            "indicators",
            "none listed; say how impact will be measured (`realimpact plan catalogue indicators`)",
        )
        return
    if not any(i.kind == "outcome" for i in inds):
        out.error(
            "indicators",
            "no outcome indicator; outputs such as arrests and seizures "
            "measure activity, not impact (UK Drug Policy Commission (2009) Moving towards Real Impact Drug Enforcement, 'New measures of impact'; Home Office (2003) Disrupting crack markets, 4.2)",
        )
    ids = [i.id for i in inds]
    # Recorded Drugs offences as the only police.uk outcome: advice, once.
    police_outcomes = [i for i in inds if i.kind == "outcome" and i.source_kind == "police_uk"]
    drugs_only = bool(police_outcomes) and all(i.crime_types == ["Drugs"] for i in police_outcomes)
    crime_types = None
    if store is not None:
        from realimpact.plans import storedata

        crime_types = storedata.distinct_values(store, "crimes", "crime_type")
        objects = storedata.distinct_values(store, "stop_searches", "object_of_search")
    for k, ind in enumerate(inds):
        path = f"indicators[{k}]"
        if not ind.id:
            out.error(f"{path}.id", "missing")
        elif ids.count(ind.id) > 1:
            out.error(f"{path}.id", f"{ind.id!r} used by more than one indicator")
        if not ind.kind:
            out.error(f"{path}.kind", f"missing; one of {', '.join(INDICATOR_KINDS)}")
        elif ind.kind not in INDICATOR_KINDS:
            out.error(f"{path}.kind", f"{ind.kind!r} is not one of {', '.join(INDICATOR_KINDS)}")
        if ind.design and ind.design not in DESIGNS:
            out.error(f"{path}.design", f"{ind.design!r} is not one of {', '.join(DESIGNS)}")
        src_ok = _indicator_source(ind, path, out)
        if src_ok and store is not None and ind.table and ind.crime_types:
            have = crime_types if ind.table == "crimes" else objects
            bad = [c for c in ind.crime_types if c not in have]
            if bad and have:
                label = "crime type" if ind.table == "crimes" else "object of search"
                out.error(
                    f"{path}.crime_types",
                    f"no {label} {_fmt_ids(bad)} in the store "
                    f"{_hint(bad[0], sorted(have)).strip()} (known: {_fmt_ids(have, 8)})",
                )
        if drugs_only and ind.kind == "outcome" and ind.crime_types == ["Drugs"]:
            out.warn(
                f"{path}.crime_types",
                "recorded Drugs offences mostly follow police "
                "activity (searches that find drugs), so alone they behave like an output; "
                "add outcomes such as violence or anti-social behaviour (N8 Policing Research Partnership (2024) Conceptualising and Evaluating the Impact of Policing Drug Markets)",
            )
        _windows(plan, ind, path, out)
        _data_file(plan, ind, path, out)
        if src_ok and ind.baseline and plan.start and ind.baseline.end < plan.start:
            _baseline_data(plan, ind, path, store, out)


def _indicator_source(ind: Any, path: str, out: _Out) -> bool:
    if not ind.source:
        out.error(
            f"{path}.source", "missing; police_uk, stop_search, partner:<name> or survey:<name>"
        )
        return False
    kind = ind.source_kind
    if kind not in SOURCE_KINDS:
        out.error(
            f"{path}.source",
            f"{ind.source!r} is not police_uk, stop_search, partner:<name> or survey:<name>",
        )
        return False
    if kind in ("partner", "survey") and not ind.source_name:
        out.error(f"{path}.source", f"{kind} needs a name, e.g. {kind}:housing")
        return False
    if kind in ("police_uk", "stop_search") and ind.source_name:
        out.error(f"{path}.source", f"{kind} takes no name (got {ind.source!r})")
        return False
    if kind == "police_uk" and not ind.crime_types:
        out.warn(f"{path}.crime_types", "not given; every crime type will be counted")
    return True


def _find_file(plan: Plan, ind: Any) -> tuple[str, str, Path | None] | None:
    """(key, name, path if it exists else None) of an indicator's ``file:``/``path:``."""
    found = plan.indicator_file(ind)
    if found is None:
        return None
    key, name, path = found
    return key, name, path if path.is_file() else None


def _data_file(plan: Plan, ind: Any, path: str, out: _Out) -> None:
    """A survey or partner indicator may name its CSV (``file:``); it must exist."""
    found = plan.indicator_file(ind)
    if found is not None and not found[2].is_file():
        key, name, where = found
        looked = f" (looked for {where}, beside the plan)" if str(where) != str(name) else ""
        out.error(f"{path}.{key}", f"{name}: no such file{looked}")


def _file_baseline(plan: Plan, ind: Any, path: str, out: _Out) -> bool:
    """Check an indicator's own CSV for baseline rows; True when it settled the question.

    A ``month`` column (YYYY-MM) is counted inside the baseline window; without one,
    a ``wave`` column counts as covering the baseline when it has more than one wave.
    """
    found = _find_file(plan, ind)
    if found is None or found[2] is None:
        return found is not None  # a missing file is already an error
    import pandas as pd

    b = ind.baseline
    try:
        head = pd.read_csv(found[2], nrows=0).columns
        if "month" in head:
            months = pd.read_csv(found[2], usecols=["month"], dtype=str)["month"].str.slice(0, 7)
            if not months.between(b.start, b.end).any():
                out.error(
                    f"{path}.baseline",
                    f"{found[1]} has no rows with a month in "
                    f"{b.start}..{b.end}; collect the baseline before the operation",
                )
            return True
        if "wave" in head:
            waves = pd.read_csv(found[2], usecols=["wave"], dtype=str)["wave"].nunique()
            if waves < 2:
                out.warn(
                    f"{path}.baseline",
                    f"{found[1]} has one wave only; a before wave is needed to show change",
                )
            return True
    except (ValueError, OSError, pd.errors.ParserError) as e:
        out.error(f"{path}.{found[0]}", f"{found[1]}: cannot read as CSV ({e})")
        return True
    return False


def _windows(plan: Plan, ind: Any, path: str, out: _Out) -> None:
    b, f = ind.baseline, ind.follow_up
    if b is None:
        if ind.kind == "outcome":
            out.error(
                f"{path}.baseline",
                "missing; impact needs data from before the operation "
                "(Home Office (2003) Disrupting crack markets, 4.3: collect it before the operation starts)",
            )
        elif ind.kind in ("process", "indirect", "output"):
            out.warn(f"{path}.baseline", "missing; change cannot be shown without a baseline")
    elif plan.start and b.end >= plan.start:
        out.error(
            f"{path}.baseline", f"ends {b.end}, not before the operation starts ({plan.start})"
        )
    if f is None:
        if plan.start and plan.end:
            out.warn(
                f"{path}.follow_up",
                f"missing; the operation months {plan.start}..{plan.end} will be used",
            )
    elif plan.start and f.start < plan.start:
        out.error(f"{path}.follow_up", f"starts {f.start}, before the operation ({plan.start})")
    if b is not None and f is not None and f.start <= b.end:
        out.error(
            f"{path}.follow_up", f"starts {f.start}, inside the baseline ({b.start}..{b.end})"
        )


def _baseline_data(plan: Plan, ind: Any, path: str, store: Store | None, out: _Out) -> None:
    b = ind.baseline
    if ind.source_kind == "partner" and store is not None:
        from realimpact.plans import storedata

        total, inside = storedata.partner_baseline(store, ind.source_name, b.months)
        if total and not inside:
            out.error(
                f"{path}.baseline",
                f"partner indicator {ind.source_name!r} has no values "
                f"in the store for {b.start}..{b.end}; ingest the baseline data first",
            )
            return
        if inside:
            return
    if ind.table is None and _file_baseline(plan, ind, path, out):
        return
    if ind.table is None:
        out.warn(
            f"{path}.baseline",
            f"{ind.source} data is not in the store, so the baseline "
            f"{b.start}..{b.end} cannot be checked; collect it before the operation starts",
        )
        return
    if store is None:  # reported once for the whole plan
        return
    from realimpact.plans import storedata

    per_month = storedata.indicator_month_counts(store, ind, b.months)
    what = f"{ind.source} records" + (f" ({', '.join(ind.crime_types)})" if ind.crime_types else "")
    if sum(per_month.values()) == 0:
        out.error(
            f"{path}.baseline",
            f"no {what} in the store for {b.start}..{b.end}; ingest the baseline data first",
        )
        return
    held = storedata.month_counts(store, ind.table)
    gaps = [m for m in b.months if m not in held]
    if gaps:
        out.warn(
            f"{path}.baseline",
            f"the store holds no {ind.table} at all for "
            f"{len(gaps)} of {b.n_months} baseline months ({_fmt_ids(gaps, 4)})",
        )
    if plan.areas.target and plan.areas.layer in store.layer_names():
        try:
            panel = storedata.area_month_panel(
                store, plan.areas.layer, ind, plan.areas.target, b.months
            )
        except ValidationError as e:
            out.warn(
                f"{path}.baseline",
                f"{ind.table} cannot be counted by area in layer "
                f"{plan.areas.layer!r}, only in total ({e})",
            )
            return
        if int(panel["n"].sum()) == 0:
            out.warn(
                f"{path}.baseline",
                f"no {what} in the target areas in {b.start}..{b.end}; "
                "a fall cannot be measured from zero",
            )


def _displacement(plan: Plan, modes: list[str], out: _Out) -> dict[str, list[str]]:
    """Check displacement; return expected enforcement harms -> why (for the next check)."""
    d = plan.displacement
    if not d.expected:
        out.error(
            "displacement.expected",
            "missing; say where and how the market is likely to "
            "move (Home Office (2003) Disrupting crack markets, Table 3.2 and 3.9; `realimpact plan catalogue displacement`)",
        )
    known = [t["id"] for t in cat.displacement_types()]
    for i, t in enumerate(d.types):
        if t not in known:
            out.error(
                f"displacement.types[{i}]",
                f"{t!r} is not one of {', '.join(known)}{_hint(t, known)}",
            )
    risks: dict[str, list[str]] = defaultdict(list)
    tactics = [t for t in plan.tactics if t in cat.tactic_ids()]
    for tid in tactics:
        for h in cat.get_tactic(tid).risks:
            risks[h].append(f"tactic {tid}")
    if modes:
        for row in cat.displacement_for(modes, tactics or None):
            for h in row.consequences:
                risks[h].append(f"Table 3.2 {row.table_row!r}")
    by_type = {t["id"]: t["harm"] for t in cat.displacement_types()}
    for t in d.types:
        if t in by_type:
            risks[by_type[t]].append(f"displacement type {t}")
    return risks


def _consequences(plan: Plan, risks: dict[str, list[str]], out: _Out) -> None:
    from realimpact.harm.taxonomy import harm_ids

    enf = cat.unintended_consequence_ids()
    names = {h["id"]: h["name"] for h in cat.unintended_consequences()}
    every = set(harm_ids())
    ucs = plan.unintended_consequences
    if not ucs:
        out.error(
            "unintended_consequences",
            "none listed; list the harms the operation itself "
            "may cause, each with a mitigation (UK Drug Policy Commission (2009) Moving towards Real Impact Drug Enforcement, Box A; "
            "`realimpact plan catalogue unintended-consequences`)",
        )
    ind_ids = {i.id for i in plan.indicators}
    for i, c in enumerate(ucs):
        path = f"unintended_consequences[{i}]"
        if not c.id:
            out.error(f"{path}.id", "missing; use an enf-* id from the catalogue")
        elif c.id not in enf:
            why = (
                "is a harm of drug markets, not of enforcement"
                if c.id in every
                else "is not in the catalogue"
            )
            out.error(
                f"{path}.id",
                f"{c.id!r} {why}{_hint(c.id, enf)}; "
                "see `realimpact plan catalogue unintended-consequences`",
            )
        if not c.mitigation:
            out.error(
                f"{path}.mitigation",
                f"missing; say how {c.id or 'it'} will be prevented or reduced",
            )
        if c.area and c.area not in CONSEQUENCE_AREAS:
            out.error(f"{path}.area", f"{c.area!r} is not one of {', '.join(CONSEQUENCE_AREAS)}")
        if c.monitor and c.monitor not in ind_ids:
            out.error(
                f"{path}.monitor",
                f"no indicator {c.monitor!r} in the plan{_hint(c.monitor, sorted(ind_ids))}",
            )
        elif not c.monitor:
            out.warn(f"{path}.monitor", f"none; no indicator will show whether {c.id} happened")
    listed = {c.id for c in ucs}
    for h, why in risks.items():
        if h not in listed and h in enf:
            out.warn(
                "unintended_consequences",
                f"{h} ({names[h]}) is a known risk of "
                f"{'; '.join(dict.fromkeys(why))}; list it with a mitigation or say why not",
            )


def _support(plan: Plan, out: _Out) -> None:
    needs: dict[str, list[str]] = defaultdict(list)
    for tid in plan.tactics:
        if tid in cat.tactic_ids():
            for key in cat.get_tactic(tid).support:
                needs[key].append(tid)
    for key, tids in needs.items():
        if not getattr(plan.support, key):
            info = cat.SUPPORT_NEEDS[key]
            out.error(
                f"support.{key}",
                f"missing; {', '.join(tids)} call for {info['what']} (seed {info['source']})",
            )
    if needs and not plan.partners:
        out.warn(
            "partners",
            "none listed; post-operation support needs partners such as "
            "treatment, housing and children's services",
        )


def _placeholders(value: Any, path: str, out: _Out) -> None:
    """Template text left in place is a gap, not an answer."""
    if isinstance(value, dict):
        for k, v in value.items():
            _placeholders(v, f"{path}.{k}" if path else str(k), out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _placeholders(v, f"{path}[{i}]", out)
    elif isinstance(value, str) and PLACEHOLDER in value:
        out.error(path, f"still holds the template's {PLACEHOLDER} text; write the plan's own")


# -- entry point -------------------------------------------------------------------
def validate_plan(
    plan: Plan | str | os.PathLike,
    store: Store | None = None,
    *,
    require_data: bool = False,
    missing_store: str | None = None,
) -> PlanValidation:
    """Check a plan (object or YAML path) and return every gap.

    With ``store``, baseline data, crime types, layers and area ids are checked
    against it. Without one, those checks are skipped with a warning, or fail
    with an error when ``require_data`` (what the CLI asks for: a plan cannot be
    called ready when nobody has looked for its baseline). ``missing_store`` names
    the store file that was asked for but does not exist, for the message.
    """
    if not isinstance(plan, Plan):
        plan = load_plan(plan)
    out = _Out()
    out.issues.extend(plan.problems)
    if store is None:
        (out.error if require_data else out.warn)(
            missing_store or "store",
            ("store does not exist" if missing_store else "no store given")
            + "; baseline data, layers and area ids were not checked (ingest data first)",
        )
    _placeholders(plan.raw, "", out)
    _identity(plan, out)
    modes, level = _selling_modes(plan, store, out)
    _areas(plan, store, out)
    _harms(plan, out)
    _tactics(plan, modes, level, out)
    _indicators(plan, store, out)
    risks = _displacement(plan, modes, out)
    _consequences(plan, risks, out)
    _support(plan, out)
    return PlanValidation(
        plan_id=plan.id,
        path=plan.path,
        errors=[i for i in out.issues if i.level == "error"],
        warnings=[i for i in out.issues if i.level == "warning"],
        data_checked=store is not None,
    )
