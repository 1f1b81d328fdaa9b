"""The operation plan: what an operation targets and how it will be judged, stated up front.

A plan is YAML (contract in docs/architecture.md, "Operation plan"); field meanings are
fixed there and kept here. Parsing is deliberately lenient: a missing or
mistyped field becomes an empty value plus an :class:`Issue`, so that
``realimpact plan validate`` can explain every gap at once instead of stopping
at the first. Code that needs a sound plan (evaluation, power) calls
``load_plan(path, strict=True)`` or checks ``plan.problems``.

Fields beyond the contract (all optional):

* ``targets.selling_modes``: selling modes of the targeted markets (market
  registry vocabulary: open-street, arrange-to-meet, crack-house, ...), used to
  check tactics against Home Office (2003) Disrupting crack markets, Table 3.1;
* ``targets.level``: street | middle | import (Home Office (2003) Disrupting crack markets, Table 4.1);
* ``displacement.types`` (Box A types) and ``displacement.mitigation``;
* ``support``: ``treatment_capacity``, ``vulnerable_tenants``, ``children``:
  post-operation support that tactics such as crack-house closure call for;
* ``design``: did | its | wdd, the primary evaluation design for every
  indicator (an indicator's own ``design`` overrides it); when neither is
  given the evaluation picks one from the areas and months and says why
  (:func:`realimpact.evaluation.verdict.choose_design`);
* ``indicators[].label``: the indicator's name in reports ("Drugs crime");
* ``unintended_consequences[].area``: where the consequence is measured
  (target | buffer | target+buffer); by default displacement-type
  consequences in the buffer, the rest in target and buffer;
* any other key is kept in ``Plan.raw`` (and an indicator's in ``Indicator.extra``).
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from realimpact import _yaml
from realimpact.errors import ValidationError
from realimpact.periods import is_month, month_range

INDICATOR_KINDS = ("output", "outcome", "process", "indirect")
CONSEQUENCE_AREAS = ("target", "buffer", "target+buffer")
SOURCE_KINDS = ("police_uk", "stop_search", "partner", "survey")
DESIGNS = ("did", "its", "wdd")
KNOWN_KEYS = {
    "id",
    "title",
    "description",
    "start",
    "end",
    "targets",
    "areas",
    "harms",
    "tactics",
    "indicators",
    "displacement",
    "unintended_consequences",
    "partners",
    "support",
    "design",
    "notes",
    "owner",
}


def humanise(identifier: str) -> str:
    """ "drugs-crime" -> "Drugs crime": an id a reader can read, when no label was given."""
    words = identifier.replace("_", " ").replace("-", " ").split()
    return " ".join(words)[:1].upper() + " ".join(words)[1:] if words else identifier


@dataclass(frozen=True)
class Issue:
    """One gap in a plan: ``field`` is a path such as ``harms[0].mechanism``."""

    field: str
    message: str
    level: str = "error"  # error | warning

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "level": self.level}


@dataclass(frozen=True)
class Window:
    """A span of calendar months, ``from``..``to`` inclusive (YAML keys ``from``/``to``)."""

    start: str
    end: str

    @property
    def months(self) -> list[str]:
        return month_range(self.start, self.end)

    @property
    def n_months(self) -> int:
        return len(self.months)

    def to_dict(self) -> dict[str, str]:
        return {"from": self.start, "to": self.end}


@dataclass
class Areas:
    """Target, buffer (where displacement may go) and control areas of one layer."""

    layer: str = "lsoa"
    target: list[str] = field(default_factory=list)
    buffer: list[str] = field(default_factory=list)
    control: list[str] = field(default_factory=list)

    def role_of(self) -> dict[str, str]:
        """area id -> role; later roles win where a plan (wrongly) repeats an id."""
        out: dict[str, str] = {}
        for role in ("target", "buffer", "control"):
            for a in getattr(self, role):
                out[a] = role
        return out

    def all_ids(self) -> list[str]:
        return list(dict.fromkeys(self.target + self.buffer + self.control))


@dataclass
class HarmTarget:
    id: str
    mechanism: str | None = None


@dataclass
class Indicator:
    """How one thing will be measured; ``kind`` output | outcome | process | indirect.

    ``source`` is ``police_uk``, ``stop_search``, ``partner:<name>`` or
    ``survey:<name>``; ``crime_types`` narrows police.uk records (for stop and
    search, the ``object_of_search`` values); ``extra`` keeps any other keys
    (survey panel flags, partner file paths ...) for the evaluation.
    """

    id: str
    kind: str | None = None
    source: str | None = None
    crime_types: list[str] = field(default_factory=list)
    baseline: Window | None = None
    follow_up: Window | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    label: str | None = None
    design: str | None = None

    @property
    def display_label(self) -> str:
        """What a reader sees: the plan's ``label``, else the id in words ("drugs-crime" -> "Drugs crime")."""
        return self.label or humanise(self.id)

    @property
    def source_kind(self) -> str | None:
        return None if not self.source else self.source.split(":", 1)[0]

    @property
    def source_name(self) -> str | None:
        if not self.source or ":" not in self.source:
            return None
        return self.source.split(":", 1)[1]

    @property
    def table(self) -> str | None:
        """Store table holding this indicator's records, when it is police.uk data."""
        return {"police_uk": "crimes", "stop_search": "stop_searches"}.get(self.source_kind or "")


@dataclass
class Consequence:
    """An unintended consequence the plan expects, with its mitigation and monitor."""

    id: str
    mitigation: str | None = None
    monitor: str | None = None
    area: str | None = None


@dataclass
class Displacement:
    expected: str | None = None
    types: list[str] = field(default_factory=list)
    mitigation: str | None = None


@dataclass
class Support:
    """Post-operation support (Home Office (2003) Disrupting crack markets, 3.5.2, 3.10.4); free text naming who and how much."""

    treatment_capacity: str | None = None
    vulnerable_tenants: str | None = None
    children: str | None = None


@dataclass
class Targets:
    markets: list[str] = field(default_factory=list)
    selling_modes: list[str] = field(default_factory=list)
    level: str | None = None


@dataclass
class Plan:
    """A parsed operation plan (see the module docstring and docs/architecture.md).

    Attributes
    ----------
    id, title : identity. start, end : first and last month (``YYYY-MM``) of the operation.
    areas : :class:`Areas`. harms : targeted harms with mechanisms. tactics : tactic ids.
    indicators : :class:`Indicator` list. displacement, unintended_consequences, support,
    partners, targets, design : as in the YAML.
    problems : issues found while parsing (types, formats); validation adds the rest.
    raw : the YAML mapping as read. path : file it came from, if any.
    """

    id: str | None = None
    title: str | None = None
    start: str | None = None
    end: str | None = None
    targets: Targets = field(default_factory=Targets)
    areas: Areas = field(default_factory=Areas)
    harms: list[HarmTarget] = field(default_factory=list)
    tactics: list[str] = field(default_factory=list)
    indicators: list[Indicator] = field(default_factory=list)
    displacement: Displacement = field(default_factory=Displacement)
    unintended_consequences: list[Consequence] = field(default_factory=list)
    partners: list[str] = field(default_factory=list)
    support: Support = field(default_factory=Support)
    design: str | None = None
    problems: list[Issue] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    # absolute folder of the plan file when it was read, so data files named
    # beside it resolve the same wherever (and after whatever chdir) it is used
    folder: Path | None = None

    def indicator_file(self, ind: Indicator) -> tuple[str, str, Path] | None:
        """(key, name as written, resolved path) of an indicator's ``file:``/``path:``.

        A relative name is read beside the plan file, never from the current
        folder (``realimpact simulate`` writes plan.yaml next to its CSVs and names
        them bare); a plan built from a mapping resolves against the current folder.
        """
        for key in ("file", "path"):
            name = ind.extra.get(key)
            if name is None or str(name).strip() == "":
                continue
            path = Path(str(name)).expanduser()
            if not path.is_absolute() and self.folder is not None:
                path = self.folder / path
            return key, str(name), path
        return None

    @property
    def operation(self) -> Window | None:
        if self.start and self.end:
            return Window(self.start, self.end)
        return None

    @property
    def effective_design(self) -> str:
        return self.design or ("did" if self.areas.control else "its")

    def indicator(self, indicator_id: str) -> Indicator:
        for ind in self.indicators:
            if ind.id == indicator_id:
                return ind
        raise ValidationError(
            f"indicator {indicator_id!r} is not in plan {self.id!r} "
            f"(has: {', '.join(i.id for i in self.indicators) or 'none'})"
        )

    def follow_up_of(self, ind: Indicator) -> Window | None:
        """An indicator's follow-up window; the operation months when it names none."""
        return ind.follow_up or self.operation

    def to_dict(self) -> dict[str, Any]:
        """The plan in the contract's YAML shape (for results files and round trips)."""
        d: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "start": self.start,
            "end": self.end,
            "targets": {
                "markets": self.targets.markets,
                "selling_modes": self.targets.selling_modes,
                "level": self.targets.level,
            },
            "areas": {
                "layer": self.areas.layer,
                "target": self.areas.target,
                "buffer": self.areas.buffer,
                "control": self.areas.control,
            },
            "harms": [{"id": h.id, "mechanism": h.mechanism} for h in self.harms],
            "tactics": list(self.tactics),
            "indicators": [
                {
                    "id": i.id,
                    "kind": i.kind,
                    "source": i.source,
                    "crime_types": i.crime_types,
                    "baseline": i.baseline.to_dict() if i.baseline else None,
                    "follow_up": i.follow_up.to_dict() if i.follow_up else None,
                    **({"label": i.label} if i.label else {}),
                    **({"design": i.design} if i.design else {}),
                    **i.extra,
                }
                for i in self.indicators
            ],
            "displacement": {
                "expected": self.displacement.expected,
                "types": self.displacement.types,
                "mitigation": self.displacement.mitigation,
            },
            "unintended_consequences": [
                {"id": c.id, "mitigation": c.mitigation, "monitor": c.monitor}
                | ({"area": c.area} if c.area else {})
                for c in self.unintended_consequences
            ],
            "partners": list(self.partners),
            "support": {
                "treatment_capacity": self.support.treatment_capacity,
                "vulnerable_tenants": self.support.vulnerable_tenants,
                "children": self.support.children,
            },
            "design": self.effective_design,
        }
        return d


# -- parsing -------------------------------------------------------------------
class _Parser:
    """Collects type/format issues while building a Plan from a YAML mapping."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def bad(self, path: str, message: str, level: str = "error") -> None:
        self.issues.append(Issue(path, message, level))

    def text(self, d: dict, key: str, path: str) -> str | None:
        v = d.get(key)
        if v is None:
            return None
        if isinstance(v, dict | list):
            self.bad(path, f"expected text, got a {'mapping' if isinstance(v, dict) else 'list'}")
            return None
        s = str(v).strip()
        return s or None

    def strings(self, d: dict, key: str, path: str) -> list[str]:
        v = d.get(key)
        if v is None:
            return []
        if isinstance(v, str):
            v = [p.strip() for p in v.split(",")] if "," in v else [v]
        if not isinstance(v, list):
            self.bad(path, "expected a list")
            return []
        out = []
        for i, x in enumerate(v):
            if isinstance(x, dict | list) or x is None:
                self.bad(f"{path}[{i}]", "expected a plain value")
                continue
            out.append(str(x).strip())
        return [x for x in out if x]

    def month(self, v: Any, path: str) -> str | None:
        if v is None:
            return None
        if isinstance(v, _dt.date):
            return f"{v.year:04d}-{v.month:02d}"
        s = str(v).strip()
        if is_month(s):
            return s
        self.bad(path, f"{s!r} is not a month (YYYY-MM)")
        return None

    def window(self, v: Any, path: str) -> Window | None:
        if v is None:
            return None
        if not isinstance(v, dict):
            self.bad(path, "expected {from: YYYY-MM, to: YYYY-MM}")
            return None
        # YAML 1.1 would read a bare `on`/`off` key as a bool; from/to are safe.
        a = self.month(v.get("from"), f"{path}.from")
        b = self.month(v.get("to"), f"{path}.to")
        if "from" not in v or "to" not in v:
            missing = [k for k in ("from", "to") if k not in v]
            self.bad(
                path, f"missing {' and '.join(missing)} (expected {{from: YYYY-MM, to: YYYY-MM}})"
            )
            return None
        if a is None or b is None:
            return None
        if b < a:
            self.bad(path, f"ends ({b}) before it starts ({a})")
            return None
        return Window(a, b)

    def mapping(self, d: dict, key: str, path: str) -> dict:
        v = d.get(key)
        if v is None:
            return {}
        if not isinstance(v, dict):
            self.bad(path, "expected a mapping")
            return {}
        return v

    def items(self, d: dict, key: str, path: str) -> list[tuple[int, Any]]:
        v = d.get(key)
        if v is None:
            return []
        if not isinstance(v, list):
            self.bad(path, "expected a list")
            return []
        return list(enumerate(v))


def parse_plan(data: Any, source: str | None = None) -> Plan:
    """Build a :class:`Plan` from a YAML mapping; format problems go to ``plan.problems``.

    Raises ValidationError only when ``data`` is not a mapping at all.
    """
    label = source or "plan"
    if not isinstance(data, dict):
        raise ValidationError(f"{label}: a plan must be a YAML mapping (id:, title:, start: ...)")
    p = _Parser()
    data = {str(k): v for k, v in data.items()}
    plan = Plan(raw=data, path=source, folder=Path(source).resolve().parent if source else None)
    plan.id = p.text(data, "id", "id")
    plan.title = p.text(data, "title", "title")
    plan.start = p.month(data.get("start"), "start")
    plan.end = p.month(data.get("end"), "end")

    t = p.mapping(data, "targets", "targets")
    plan.targets = Targets(
        markets=p.strings(t, "markets", "targets.markets"),
        selling_modes=p.strings(t, "selling_modes", "targets.selling_modes"),
        level=p.text(t, "level", "targets.level"),
    )

    a = p.mapping(data, "areas", "areas")
    plan.areas = Areas(
        layer=p.text(a, "layer", "areas.layer") or "lsoa",
        target=p.strings(a, "target", "areas.target"),
        buffer=p.strings(a, "buffer", "areas.buffer"),
        control=p.strings(a, "control", "areas.control"),
    )

    for i, h in p.items(data, "harms", "harms"):
        if isinstance(h, str):
            plan.harms.append(HarmTarget(h.strip()))
        elif isinstance(h, dict):
            hid = p.text(h, "id", f"harms[{i}].id")
            plan.harms.append(
                HarmTarget(hid or "", p.text(h, "mechanism", f"harms[{i}].mechanism"))
            )
        else:
            p.bad(f"harms[{i}]", "expected {id: <harm id>, mechanism: <text>}")

    plan.tactics = p.strings(data, "tactics", "tactics")

    for i, d in p.items(data, "indicators", "indicators"):
        path = f"indicators[{i}]"
        if not isinstance(d, dict):
            p.bad(path, "expected a mapping with id, kind, source, baseline, follow_up")
            continue
        d = {str(k): v for k, v in d.items()}
        known = {"id", "kind", "source", "crime_types", "baseline", "follow_up", "label", "design"}
        plan.indicators.append(
            Indicator(
                id=p.text(d, "id", f"{path}.id") or "",
                kind=p.text(d, "kind", f"{path}.kind"),
                source=p.text(d, "source", f"{path}.source"),
                crime_types=p.strings(d, "crime_types", f"{path}.crime_types"),
                baseline=p.window(d.get("baseline"), f"{path}.baseline"),
                follow_up=p.window(d.get("follow_up"), f"{path}.follow_up"),
                extra={k: v for k, v in d.items() if k not in known},
                label=p.text(d, "label", f"{path}.label"),
                design=p.text(d, "design", f"{path}.design"),
            )
        )

    disp = data.get("displacement")
    if isinstance(disp, str):
        plan.displacement = Displacement(expected=disp.strip() or None)
    else:
        dm = p.mapping(data, "displacement", "displacement")
        plan.displacement = Displacement(
            expected=p.text(dm, "expected", "displacement.expected"),
            types=p.strings(dm, "types", "displacement.types"),
            mitigation=p.text(dm, "mitigation", "displacement.mitigation"),
        )

    for i, c in p.items(data, "unintended_consequences", "unintended_consequences"):
        path = f"unintended_consequences[{i}]"
        if not isinstance(c, dict):
            p.bad(path, "expected {id: <enf-... id>, mitigation: <text>, monitor: <indicator id>}")
            continue
        plan.unintended_consequences.append(
            Consequence(
                id=p.text(c, "id", f"{path}.id") or "",
                mitigation=p.text(c, "mitigation", f"{path}.mitigation"),
                monitor=p.text(c, "monitor", f"{path}.monitor"),
                area=p.text(c, "area", f"{path}.area"),
            )
        )

    plan.partners = p.strings(data, "partners", "partners")
    s = p.mapping(data, "support", "support")
    plan.support = Support(
        treatment_capacity=p.text(s, "treatment_capacity", "support.treatment_capacity"),
        vulnerable_tenants=p.text(s, "vulnerable_tenants", "support.vulnerable_tenants"),
        children=p.text(s, "children", "support.children"),
    )
    plan.design = p.text(data, "design", "design")
    for key in sorted(set(data) - KNOWN_KEYS):
        p.bad(key, "unknown field (ignored; check the spelling)", "warning")
    plan.problems = p.issues
    return plan


def load_plan(path: str | os.PathLike, *, strict: bool = False) -> Plan:
    """Read a plan file. ``strict=True`` raises ValidationError on any format problem.

    Content gaps (no mechanism, overlapping areas ...) are not checked here: see
    :func:`realimpact.plans.validate.validate_plan`.
    """
    p = Path(path)
    if not p.exists():
        raise ValidationError(f"{p}: no such file")
    if p.is_dir():
        raise ValidationError(f"{p}: is a folder, not a plan file")
    # one safe loader for every user YAML: size, alias and depth caps (realimpact._yaml)
    text = _yaml.read_text(p)
    try:
        data = _yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValidationError(f"{p}: {_yaml.describe(e)}") from None
    plan = parse_plan(data, str(p))
    if strict:
        errors = [i for i in plan.problems if i.level == "error"]
        if errors:
            more = (
                f" (and {len(errors) - 1} more; run `realimpact plan validate`)"
                if len(errors) > 1
                else ""
            )
            raise ValidationError(f"{p}: {errors[0]}{more}")
    return plan
