"""The planning catalogues: what the source documents say works, moves, or misleads.

The content is data (``plans/data/*.yaml``), each entry cited to a seed document
and section, so a planner can check the software's advice against the page it
came from. This module only loads, checks and indexes it:

* tactics by selling type (Home Office (2003) Disrupting crack markets, Table 3.1, with the evidence notes of its
  sections 3.4-3.10 and the N8 study, Howard (2009) and the College of Policing toolkit);
* likely displacement by market type and intervention (Home Office (2003) Disrupting crack markets, Table 3.2,
  section 3.9) and displacement types (UK Drug Policy Commission (2009) Moving towards Real Impact Drug Enforcement, Box A);
* demand reduction by motivation (Home Office (2003) Disrupting crack markets, Table 3.3);
* information sources for measuring impact (UK Drug Policy Commission (2009) Moving towards Real Impact Drug Enforcement, Box E);
* output indicators by market level (Home Office (2003) Disrupting crack markets, Table 4.1) and outcome, process
  and indirect indicators (Home Office (2003) Disrupting crack markets, section 4.2);
* unintended consequences: the enforcement harms of the harm taxonomy
  (:func:`realimpact.harm.taxonomy.enforcement_harms`), referenced, not copied,
  so one list serves the harm index, plans and evaluation.

Ids are stable slugs: once released an id always means the same thing.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from realimpact.errors import RealImpactError, ValidationError

ALL_MODES = "all"
LEVELS = ("street", "middle", "import")
SUITABILITY_RANK = {
    "more applicable at this level": 3,
    "more applicable": 3,
    "applicable": 2,
    "may be applicable": 1,
    "less applicable": 1,
    "unlikely to be applicable": 0,
    "much less applicable": 0,
    "not applicable": 0,
}

#: Post-operation support a tactic can call for (plan field ``support.<key>``).
SUPPORT_NEEDS: dict[str, dict[str, str]] = {
    "treatment_capacity": {
        "what": "treatment capacity ready for users left without dealers or arrested",
        "source": "004 3.5.2 (users), 3.10.4 (drug services after enforcement)",
    },
    "vulnerable_tenants": {
        "what": "safeguarding and rehousing of vulnerable tenants whose homes were taken over",
        "source": "004 1.4.3, 3.5.1-3.5.3 (vulnerable people)",
    },
    "children": {
        "what": "safeguarding of children in raided or closed homes (Social Services capacity)",
        "source": "004 3.5.2 (risk assessment), 3.10.4 (children needing care)",
    },
}


@dataclass(frozen=True)
class Citation:
    """Where an entry comes from: source document id and section; prints as a citation."""

    doc: str
    section: str

    @property
    def title(self) -> str:
        return documents()[self.doc]["title"]

    @property
    def short(self) -> str:
        """ "Home Office (2003) Disrupting crack markets": author, year, short title."""
        return documents()[self.doc].get("short") or self.title

    def __str__(self) -> str:
        return f"{self.short}, {self.section}"


@dataclass(frozen=True)
class Evidence:
    text: str
    source: Citation


@dataclass(frozen=True)
class SellingMode:
    """A row of Table 3.1 ("Type of selling"); ids match the market registry's vocabulary."""

    id: str
    table_row: str
    aliases: tuple[str, ...]
    considerations: str
    source: Citation


@dataclass(frozen=True)
class Tactic:
    """A method of disruption with the selling modes it is listed for and its evidence.

    Attributes
    ----------
    selling_modes : modes the seeds list it for; ``("all",)`` means every mode.
    risks : enforcement-harm ids (``enf-*``) the seeds say it can cause.
    support : post-operation support keys it calls for (see :data:`SUPPORT_NEEDS`).
    """

    id: str
    name: str
    kind: str
    levels: tuple[str, ...]
    selling_modes: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    risks: tuple[str, ...] = ()
    support: tuple[str, ...] = ()
    table_names: tuple[str, ...] = ()

    def suits(self, selling_mode: str) -> bool:
        return ALL_MODES in self.selling_modes or selling_mode in self.selling_modes

    def to_dict(self) -> dict[str, Any]:
        return _todict(self)


@dataclass(frozen=True)
class DisplacementRow:
    """A row of Table 3.2: market type, suitable interventions, likely displacement."""

    id: str
    table_row: str
    selling_modes: tuple[str, ...]
    interventions: tuple[str, ...]
    likely_displacement: str
    displacement_types: tuple[str, ...]
    other_effects: str
    consequences: tuple[str, ...]
    source: Citation


@dataclass(frozen=True)
class DemandReduction:
    """A row of Table 3.3: a motivation to buy and the responses most and less likely to work."""

    id: str
    motivation: str
    most_likely: tuple[str, ...]
    less_likely: tuple[str, ...]
    providers: tuple[str, ...]
    source: Citation


@dataclass(frozen=True)
class InformationSource:
    id: str
    name: str
    plan_source: str
    source: Citation


@dataclass(frozen=True)
class IndicatorTemplate:
    """A catalogued indicator: ``kind`` is output | outcome | process | indirect.

    ``levels`` (outputs from Table 4.1 only) maps market level to the table's
    suitability words; :meth:`suitability` ranks them 0-3.
    """

    id: str
    kind: str
    text: str
    source: Citation
    group: str | None = None
    measure: str | None = None
    levels: dict[str, str] = field(default_factory=dict)

    def suitability(self, level: str) -> int | None:
        words = self.levels.get(level)
        return None if words is None else SUITABILITY_RANK[words.lower()]


def _todict(obj: Any) -> dict[str, Any]:
    d = asdict(obj)
    return _listify(d)


def _listify(o: Any) -> Any:
    if isinstance(o, dict):
        return {k: _listify(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_listify(v) for v in o]
    return o


# -- loading ----------------------------------------------------------------
def _load(name: str) -> Any:
    text = resources.files("realimpact.plans").joinpath(f"data/{name}").read_text("utf-8")
    return yaml.safe_load(text)


@cache
def documents() -> dict[str, dict[str, str]]:
    """Seed documents by short id (``"004"``) with file name and title."""
    return {str(k): v for k, v in _load("documents.yaml").items()}


def _cite(d: dict[str, Any] | None, default: Citation | None = None) -> Citation:
    if not d:
        if default is None:
            raise RealImpactError("plans catalogue: entry without a source")
        return default
    c = Citation(str(d["doc"]), str(d["section"]))
    if c.doc not in documents():
        raise RealImpactError(f"plans catalogue: unknown source document {c.doc!r}")
    return c


@cache
def _tactics_data() -> tuple[tuple[SellingMode, ...], tuple[Tactic, ...]]:
    raw = _load("tactics.yaml")
    modes = tuple(
        SellingMode(
            id=m["id"],
            table_row=m["table_row"],
            aliases=tuple(m.get("aliases", ())),
            considerations=" ".join(m.get("considerations", "").split()),
            source=_cite(m["source"]),
        )
        for m in raw["selling_modes"]
    )
    tactics = tuple(
        Tactic(
            id=t["id"],
            name=t["name"],
            kind=t["kind"],
            levels=tuple(t["levels"]),
            selling_modes=tuple(t["selling_modes"]),
            evidence=tuple(
                Evidence(" ".join(e["text"].split()), _cite(e["source"])) for e in t["evidence"]
            ),
            risks=tuple(t.get("risks", ())),
            support=tuple(t.get("support", ())),
            table_names=tuple(t.get("table_names", ())),
        )
        for t in raw["tactics"]
    )
    _check_tactics(modes, tactics)
    return modes, tactics


def _check_tactics(modes: tuple[SellingMode, ...], tactics: tuple[Tactic, ...]) -> None:
    """Shipped data must keep its own rules (a packaging bug, not user input)."""
    mode_ids = {m.id for m in modes} | {ALL_MODES}
    seen: set[str] = set()
    for t in tactics:
        if t.id in seen:
            raise RealImpactError(f"tactics.yaml: duplicate tactic id {t.id!r}")
        seen.add(t.id)
        bad = set(t.selling_modes) - mode_ids
        if bad:
            raise RealImpactError(f"tactics.yaml: {t.id} lists unknown selling modes {sorted(bad)}")
        if set(t.support) - set(SUPPORT_NEEDS):
            raise RealImpactError(f"tactics.yaml: {t.id} has unknown support keys")
        if set(t.levels) - set(LEVELS):
            raise RealImpactError(f"tactics.yaml: {t.id} has unknown market levels")


def selling_modes() -> list[SellingMode]:
    """The selling modes of Table 3.1 (plus ``middle-market`` from Table 3.2)."""
    return list(_tactics_data()[0])


def normalise_selling_mode(name: str) -> str:
    """Map a selling mode or one of its aliases (``open_street``) to its id."""
    key = str(name).strip().lower().replace("_", "-").replace(" ", "-")
    for m in selling_modes():
        if key == m.id or key in {a.replace("_", "-") for a in m.aliases}:
            return m.id
    known = [m.id for m in selling_modes()]
    hint = difflib.get_close_matches(key, known, n=1)
    raise ValidationError(
        f"unknown selling mode {name!r}"
        + (f" (did you mean {hint[0]!r}?)" if hint else "")
        + f"; known: {', '.join(known)}"
    )


def tactics() -> list[Tactic]:
    """Every catalogued tactic, in catalogue order."""
    return list(_tactics_data()[1])


def tactic_ids() -> list[str]:
    return [t.id for t in tactics()]


def get_tactic(tactic_id: str) -> Tactic:
    for t in tactics():
        if t.id == tactic_id:
            return t
    hint = difflib.get_close_matches(str(tactic_id), tactic_ids(), n=1)
    raise ValidationError(
        f"unknown tactic {tactic_id!r}"
        + (f" (did you mean {hint[0]!r}?)" if hint else "")
        + " (see `realimpact plan catalogue tactics`)"
    )


def tactics_for(selling_mode: str) -> list[Tactic]:
    """Tactics the seeds list for a selling mode (aliases accepted), including those for all."""
    mode = normalise_selling_mode(selling_mode)
    return [t for t in tactics() if t.suits(mode)]


# -- displacement -------------------------------------------------------------
@cache
def _displacement() -> dict[str, Any]:
    raw = _load("displacement.yaml")
    rows = tuple(
        DisplacementRow(
            id=r["id"],
            table_row=r["table_row"],
            selling_modes=tuple(r["selling_modes"]),
            interventions=tuple(r["interventions"]),
            likely_displacement=r["likely_displacement"],
            displacement_types=tuple(r["displacement_types"]),
            other_effects=r["other_effects"],
            consequences=tuple(r["consequences"]),
            source=_cite(r["source"]),
        )
        for r in raw["market_types"]
    )
    known = set(tactic_ids())
    for r in rows:
        if set(r.interventions) - known:
            raise RealImpactError(f"displacement.yaml: {r.id} names unknown tactics")
    return {"rows": rows, "types": raw["types"], "notes": raw["notes"]}


def displacement_table() -> list[DisplacementRow]:
    """Table 3.2 of Home Office (2003) Disrupting crack markets, one row per market type."""
    return list(_displacement()["rows"])


def displacement_for(
    selling_modes: list[str] | None = None, tactics: list[str] | None = None
) -> list[DisplacementRow]:
    """Table 3.2 rows for the given selling modes and/or tactics (either may be None)."""
    modes = {normalise_selling_mode(m) for m in selling_modes or []}
    tacs = set(tactics or [])
    out = []
    for r in displacement_table():
        if modes and not modes & set(r.selling_modes):
            continue
        if tacs and not tacs & set(r.interventions):
            continue
        out.append(r)
    return out


def displacement_types() -> list[dict[str, Any]]:
    """UK Drug Policy Commission (2009) Moving towards Real Impact Drug Enforcement, Box A displacement types, each linked to its enforcement harm id."""
    return [
        {**{k: v for k, v in t.items() if k != "source"}, "source": _cite(t["source"])}
        for t in _displacement()["types"]
    ]


def displacement_notes() -> list[dict[str, Any]]:
    """Home Office (2003) Disrupting crack markets, section 3.9 (buffer zones, benefits, negative aspects) and UK Drug Policy Commission (2009) Moving towards Real Impact Drug Enforcement."""
    return [
        {"id": n["id"], "text": " ".join(n["text"].split()), "source": _cite(n["source"])}
        for n in _displacement()["notes"]
    ]


# -- demand, information sources, indicators ----------------------------------
@cache
def demand_reduction() -> tuple[DemandReduction, ...]:
    """Table 3.3 of Home Office (2003) Disrupting crack markets: how each motivation to buy is best addressed."""
    return tuple(
        DemandReduction(
            id=r["id"],
            motivation=r["motivation"],
            most_likely=tuple(r["most_likely"]),
            less_likely=tuple(r["less_likely"]),
            providers=tuple(r["providers"]),
            source=_cite(r["source"]),
        )
        for r in _load("demand_reduction.yaml")
    )


@cache
def information_sources() -> tuple[InformationSource, ...]:
    """Box E of UK Drug Policy Commission (2009) Moving towards Real Impact Drug Enforcement: potential information sources for measuring impact."""
    box_e = Citation("001", "Box E")
    return tuple(
        InformationSource(r["id"], r["name"], r["plan_source"], _cite(r.get("source"), box_e))
        for r in _load("information_sources.yaml")
    )


@cache
def _indicators() -> tuple[IndicatorTemplate, ...]:
    raw = _load("indicators.yaml")
    out: list[IndicatorTemplate] = []
    t41 = Citation("004", "4.2.1 Table 4.1")
    for r in raw["outputs"]:
        out.append(IndicatorTemplate(r["id"], "output", r["text"], t41, levels=dict(r["levels"])))
    for r in raw["output_effort"]:
        out.append(IndicatorTemplate(r["id"], "output", r["text"], Citation("004", "4.2.1")))
    for r in raw["output_police_uk"]:
        out.append(IndicatorTemplate(r["id"], "output", r["text"], _cite(r["source"])))
    for r in raw["outcomes"]:
        src = _cite(r.get("source"), Citation("004", "4.2.2"))
        out.append(
            IndicatorTemplate(r["id"], "outcome", r["text"], src, r.get("group"), r.get("measure"))
        )
    for kind, section in (("process", "4.2.3"), ("indirect", "4.2.3 Indirect indicators")):
        for r in raw[kind]:
            src = Citation("004", r.get("section", section))
            out.append(IndicatorTemplate(r["id"], kind, r["text"], src, measure=r.get("measure")))
    for r in out:
        for words in r.levels.values():
            if words.lower() not in SUITABILITY_RANK:
                raise RealImpactError(f"indicators.yaml: {r.id} has unknown suitability {words!r}")
    ids = [r.id for r in out]
    if len(ids) != len(set(ids)):
        raise RealImpactError("indicators.yaml: duplicate indicator ids")
    return tuple(out)


INDICATOR_KINDS = ("output", "outcome", "process", "indirect")


def indicator_catalogue(kind: str | None = None) -> list[IndicatorTemplate]:
    """Catalogued indicators, optionally of one kind (output | outcome | process | indirect)."""
    if kind is not None and kind not in INDICATOR_KINDS:
        raise ValidationError(f"kind: {kind!r} is not one of {', '.join(INDICATOR_KINDS)}")
    return [i for i in _indicators() if kind is None or i.kind == kind]


def output_indicators(level: str | None = None) -> list[IndicatorTemplate]:
    """Table 4.1 outputs; with ``level`` (street | middle | import), most suitable first."""
    outs = [i for i in _indicators() if i.kind == "output" and i.levels]
    if level is None:
        return outs
    if level not in LEVELS:
        raise ValidationError(f"level: {level!r} is not one of {', '.join(LEVELS)}")
    return sorted(outs, key=lambda i: -(i.suitability(level) or 0))


# -- unintended consequences ---------------------------------------------------
def unintended_consequences() -> list[dict[str, Any]]:
    """The unintended-consequences catalogue: the harm taxonomy's enforcement harms.

    UK Drug Policy Commission (2009) Moving towards Real Impact Drug Enforcement, Box A plus the harms of enforcement named in the N8 study and the College of Policing toolkit; kept
    in :mod:`realimpact.harm.taxonomy` so it is one list, not two.
    """
    from realimpact.harm.taxonomy import enforcement_harms

    return enforcement_harms()


def unintended_consequence_ids() -> list[str]:
    return [h["id"] for h in unintended_consequences()]


# -- one entry point for the CLI ----------------------------------------------
CATALOGUES = (
    "tactics",
    "selling-modes",
    "displacement",
    "demand-reduction",
    "information-sources",
    "indicators",
    "unintended-consequences",
)


def plan_catalogue(
    name: str, *, selling_mode: str | None = None, level: str | None = None, kind: str | None = None
) -> dict[str, Any]:
    """What ``realimpact plan catalogue NAME`` prints, as plain data with citations."""
    # An option the chosen catalogue ignores would silently print the unfiltered list.
    for option, value, applies in (
        ("--selling-mode", selling_mode, ("tactics", "displacement")),
        ("--level", level, ("indicators",)),
        ("--kind", kind, ("indicators",)),
    ):
        if value is not None and name in CATALOGUES and name not in applies:
            raise ValidationError(f"{option}: applies only to {' and '.join(applies)}, not {name}")
    if selling_mode is not None:
        try:
            normalise_selling_mode(selling_mode)
        except ValidationError as e:
            raise ValidationError(f"--selling-mode: {e}") from None
    docs = documents()
    if name == "tactics":
        items = tactics_for(selling_mode) if selling_mode else tactics()
        rows = [t.to_dict() for t in items]
    elif name == "selling-modes":
        rows = [_todict(m) for m in selling_modes()]
    elif name == "displacement":
        rows = [_todict(r) for r in displacement_for([selling_mode] if selling_mode else None)]
        return {
            "catalogue": name,
            "items": rows,
            "count": len(rows),
            "types": _listify([{**t, "source": asdict(t["source"])} for t in displacement_types()]),
            "notes": [{**n, "source": asdict(n["source"])} for n in displacement_notes()],
            "documents": docs,
        }
    elif name == "demand-reduction":
        rows = [_todict(r) for r in demand_reduction()]
    elif name == "information-sources":
        rows = [_todict(r) for r in information_sources()]
    elif name == "indicators":
        items = output_indicators(level) if level else indicator_catalogue(kind)
        rows = [_todict(i) for i in items]
    elif name == "unintended-consequences":
        rows = unintended_consequences()
    else:
        raise ValidationError(f"catalogue: {name!r} is not one of {', '.join(CATALOGUES)}")
    return {"catalogue": name, "items": rows, "count": len(rows), "documents": docs}


def catalogue_label(item_id: str) -> str:
    """Readable name of a harm, enforcement harm or tactic id; the id itself when unknown.

    People who read a report never saw the catalogues, so an id alone
    ("enf-turf-war") would hide what the plan said.
    """
    from realimpact.errors import ValidationError
    from realimpact.harm.taxonomy import get_harm

    try:
        return str(get_harm(item_id)["name"])
    except (ValidationError, KeyError):
        pass
    try:
        return str(get_tactic(item_id).name)
    except (ValidationError, KeyError):
        return item_id
