"""`realimpact markets ...`: registry, harm assessment, ranking, warning, disruptions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from realimpact._progress import rich_progress
from realimpact.cli._common import (
    AudienceOpt,
    ForceOpt,
    JsonOpt,
    SharingConfigOpt,
    StoreOpt,
    Table,
    emit,
    esc,
    handle_errors,
    out,
    print_error,
    progress_enabled,
)

markets = typer.Typer(
    help="Drug markets as objects: registry, harm assessment, priorities, warnings, disruptions.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(markets, name="markets")


def _open(store: Path | None):
    from realimpact.store import open_store

    return open_store(store)


def _f(x: Any, nd: int = 1) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


ShareOutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Also write the output as JSON to this file; for --audience partner|public a"
        " manifest.json is written beside it.",
    ),
]


def _profile(audience: str, sharing_config: Path | None):
    """The audience's profile; a bad --audience or --sharing-config is said before any work."""
    from realimpact.disclosure.profiles import get_profile

    return get_profile(audience, sharing_config)


def _share(result: dict[str, Any], profile, safe, out_file: Path | None) -> dict[str, Any]:
    """``safe(result, profile)``, written to ``out_file`` (with manifest.json when shared)."""
    shared = safe(result, profile)
    if out_file is not None:
        from realimpact._json import write_json
        from realimpact.disclosure.manifest import write_manifest
        from realimpact.errors import InputError

        if out_file.is_dir():
            raise InputError("is a folder; --out takes a file", source=str(out_file))
        out_file.parent.mkdir(parents=True, exist_ok=True)
        write_json(out_file, shared)
        if "disclosure" in shared:
            write_manifest(shared["disclosure"], out_file.parent)
    return shared


def _label(x: dict[str, Any]) -> str:
    return str(x.get("id") or x.get("label") or "")


# -- vocabularies --------------------------------------------------------------------


@markets.command("vocab")
def vocab_cmd(
    name: Annotated[str | None, typer.Argument(help="One vocabulary (default: list them).")] = None,
    json: JsonOpt = False,
) -> None:
    """Print the controlled vocabularies (level, selling_mode, commodity ...) with their sources."""
    from realimpact.errors import ValidationError
    from realimpact.markets import vocab

    with handle_errors():
        if name is None:
            result: dict[str, Any] = {n: vocab.allowed(n) for n in vocab.VOCABULARIES}
        elif name not in vocab.VOCABULARIES:
            raise ValidationError(
                f"NAME: {name!r} is not a vocabulary; allowed: {', '.join(vocab.VOCABULARIES)}"
            )
        else:
            result = {"name": name, "values": vocab.vocabulary_table(name)}

    def render(r: dict[str, Any]) -> None:
        if "values" not in r:
            for n, ids in r.items():
                out.print(f"[bold]{n}[/]: {', '.join(ids)}")
            return
        t = Table("id", "label", "definition / criteria", "source", title=r["name"])
        for v in r["values"]:
            t.add_row(v["id"], v["label"], v["definition"], v["source"])
        out.print(t)

    emit(result, json, render)


# -- registry ------------------------------------------------------------------------


@markets.command("add")
def add_cmd(
    kind: Annotated[str, typer.Argument(help="market, group or place.")],
    entity_id: Annotated[str, typer.Argument(metavar="ID", help="Pseudonymous id (never a name).")],
    level: Annotated[str | None, typer.Option(help="Market level: street, middle, import.")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Group or place type.")] = None,
    selling_mode: Annotated[
        list[str] | None, typer.Option("--selling-mode", help="Repeatable.")
    ] = None,
    commodity: Annotated[list[str] | None, typer.Option("--commodity", help="Repeatable.")] = None,
    status: Annotated[str | None, typer.Option(help="emerging, active, dormant, archived.")] = None,
    first_seen: Annotated[str | None, typer.Option(help="YYYY-MM or YYYY-MM-DD.")] = None,
    last_seen: Annotated[str | None, typer.Option(help="YYYY-MM or YYYY-MM-DD.")] = None,
    description: Annotated[str | None, typer.Option(help="Free text (no names of people).")] = None,
    area: Annotated[
        list[str] | None, typer.Option("--area", help="LAYER:AREA_ID, repeatable.")
    ] = None,
    link: Annotated[
        list[str] | None, typer.Option("--link", help="Id of a linked entity, repeatable.")
    ] = None,
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Update an existing entity: fields given replace theirs."),
    ] = False,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Add a market, group or place to the registry."""
    from realimpact.markets.registry import add_entity

    spec: dict[str, Any] = {"id": entity_id}
    for key, val in (
        ("level", level),
        ("type", type_),
        ("selling_modes", selling_mode),
        ("commodities", commodity),
        ("status", status),
        ("first_seen", first_seen),
        ("last_seen", last_seen),
        ("description", description),
        ("areas", area),
        ("links", link),
    ):
        if val:
            spec[key] = val
    with handle_errors(), _open(store) as st:
        result = add_entity(st, kind.strip().lower(), spec, merge=replace)

    def render(r: dict[str, Any]) -> None:
        out.print(f"{'updated' if r['updated'] else 'added'} {r['kind']} [bold]{esc(r['id'])}[/]")
        for n in r.get("notes") or []:  # unknown layer, area not in any record ...
            print_error(n, "note", "yellow")

    emit(result, json, render)


@markets.command("list")
def list_cmd(
    kind: Annotated[str | None, typer.Option(help="market, group or place.")] = None,
    audience: AudienceOpt = "analyst",
    sharing_config: SharingConfigOpt = None,
    out_file: ShareOutOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """List the registry (partner/public: no ids or free text, links as counts; no places
    for the public)."""
    from realimpact.markets.registry import list_entities
    from realimpact.markets.sharing import safe_list

    with handle_errors():
        prof = _profile(audience, sharing_config)
        with _open(store) as st:
            result = _share(list_entities(st, kind), prof, safe_list, out_file)

    def render(r: dict[str, Any]) -> None:
        t = Table()
        t.add_column("id", no_wrap=True)
        for c in ("kind", "level/type", "selling modes", "commodities", "status", "areas"):
            t.add_column(c)
        t.add_column("links", no_wrap=True)
        for e in r["entities"]:
            links = e["links"]
            t.add_row(
                _label(e),
                e["kind"],
                e.get("level") or e.get("type", ""),
                ", ".join(e.get("selling_modes", [])),
                ", ".join(e.get("commodities", [])),
                e.get("status", ""),
                str(len(e["areas"])),
                "\n".join(links) if isinstance(links, list) else str(links),
            )
        out.print(t)

    emit(result, json, render)


@markets.command("show")
def show_cmd(
    entity_id: Annotated[str, typer.Argument(metavar="ID")],
    audience: AudienceOpt = "analyst",
    sharing_config: SharingConfigOpt = None,
    out_file: ShareOutOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Show one entity: links, areas, assessment versions, disruptions, indicator notes
    (partner/public: scores and counts by category, no ids, assessors or evidence)."""
    from realimpact.markets.registry import show_entity
    from realimpact.markets.sharing import safe_show

    with handle_errors():
        prof = _profile(audience, sharing_config)
        with _open(store) as st:
            result = _share(show_entity(st, entity_id), prof, safe_show, out_file)

    def render(r: dict[str, Any]) -> None:
        if "disclosure" in r:
            out.print_json(data={k: v for k, v in r.items() if k != "disclosure"})
            return
        e = r["entity"]
        out.print(f"[bold]{e['id']}[/] ({e['kind']})")
        for k, v in e.items():
            if k not in ("id", "kind") and v not in (None, [], ""):
                out.print(f"  {k}: {', '.join(v) if isinstance(v, list) else v}")
        if r["assessments"]:
            t = Table(
                "version",
                "assessed on",
                "score",
                "harm",
                "position",
                "confidence",
                title="assessments",
            )
            for a in r["assessments"]:
                t.add_row(
                    str(a["version"]),
                    str(a["assessed_on"]),
                    _f(a["score"]),
                    _f(a["harm_score"]),
                    _f(a["position"]),
                    a["confidence"]["grade"],
                )
            out.print(t)
        for d in r["disruptions"]:
            out.print(
                f"  disruption {d['disruption_id']} {d['date']} {d['category']} {d['impact']}"
            )
        for o in r["indicator_observations"]:
            out.print(
                f"  indicator {o['indicator_id']} seen {o['observed_on']}: {o['evidence'] or ''}"
            )

    emit(result, json, render)


@markets.command("import")
def import_cmd(
    path: Annotated[Path, typer.Argument(help="Registry YAML (or entity CSV).")],
    replace: Annotated[bool, typer.Option("--replace", help="Update entities that exist.")] = False,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Import markets, groups, places, assessments and disruptions: all or nothing."""
    from realimpact.markets.registry import import_registry

    with handle_errors(), _open(store) as st:
        result = import_registry(st, path, replace=replace)

    def render(r: dict[str, Any]) -> None:
        ent = r["entities"]
        out.print(
            f"{esc(r['file'])}: {ent['market']} markets, {ent['group']} groups, {ent['place']} places"
            f" ({r['added']} added, {r['updated']} updated); {r['assessments']} assessments,"
            f" {r['disruptions']} disruptions, {r['indicator_observations']} indicator notes"
        )
        for n in r["notes"]:
            print_error(n, "note", "yellow")

    emit(result, json, render)


@markets.command("export")
def export_cmd(
    path: Annotated[Path | None, typer.Argument(help="Output file (default: stdout).")] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="yaml or csv (default from the suffix).")
    ] = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Export the registry as YAML (everything, re-importable) or CSV (entities)."""
    from realimpact.markets.registry import export_registry

    with handle_errors(), _open(store) as st:
        result = export_registry(st, path, fmt)

    def render(r: dict[str, Any]) -> None:
        if r["text"] is not None:
            typer.echo(r["text"], nl=False)
        else:
            out.print(f"wrote {r['entities']} entities to {esc(r['path'])} ({r['format']})")

    emit(result, json, render)


# -- assessment and ranking ----------------------------------------------------------------


def _parse_harm_opt(spec: str) -> dict[str, Any]:
    from realimpact.errors import ValidationError

    parts = spec.split(":", 4)
    if len(parts) < 4:
        raise ValidationError(
            f"--harm: {spec!r} must be HARM_ID:IMPACT:LIKELIHOOD:CONFIDENCE[:EVIDENCE]"
        )
    h: dict[str, Any] = {
        "harm_id": parts[0],
        "impact": parts[1],
        "likelihood": parts[2],
        "confidence": parts[3],
    }
    if len(parts) == 5:
        h["evidence"] = parts[4]
    return h


@markets.command("assess")
def assess_cmd(
    entity_id: Annotated[
        str, typer.Argument(metavar="ID", help="Market, group or place to assess.")
    ],
    file: Annotated[
        Path | None, typer.Option("--file", help="Assessment YAML (one mapping).")
    ] = None,
    harm: Annotated[
        list[str] | None,
        typer.Option("--harm", help="HARM_ID:IMPACT:LIKELIHOOD:CONFIDENCE[:EVIDENCE], repeatable."),
    ] = None,
    capability: Annotated[int | None, typer.Option(help="1-5.")] = None,
    capacity: Annotated[int | None, typer.Option(help="1-5.")] = None,
    position_confidence: Annotated[str | None, typer.Option(help="A, B or C.")] = None,
    position_evidence: Annotated[str | None, typer.Option()] = None,
    date: Annotated[str | None, typer.Option(help="YYYY-MM-DD (default today).")] = None,
    assessor: Annotated[str | None, typer.Option(help="Role or pseudonym, not a name.")] = None,
    note: Annotated[str | None, typer.Option()] = None,
    prefill: Annotated[
        bool, typer.Option("--prefill/--no-prefill", help="Attach evidence from the store.")
    ] = True,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Record a new, dated version of an entity's harm assessment (old versions are kept)."""

    from realimpact.errors import InputError, ValidationError
    from realimpact.markets.assessment import assess

    with handle_errors():
        spec: dict[str, Any] = {}
        if file is not None:
            if not file.is_file():
                raise InputError("no such file", source=str(file))
            from realimpact._yaml import load_file

            spec = load_file(file) or {}  # size, alias and depth caps: _yaml
            if not isinstance(spec, dict):
                raise ValidationError("expected one assessment mapping", source=str(file))
        spec["entity"] = entity_id
        if harm:
            spec["harms"] = [_parse_harm_opt(h) for h in harm]
        pos = dict(spec.get("position") or {})
        for key, val in (
            ("capability", capability),
            ("capacity", capacity),
            ("confidence", position_confidence),
            ("evidence", position_evidence),
        ):
            if val is not None:
                pos[key] = val
        if pos:
            spec["position"] = pos
        for key, val in (("date", date), ("assessor", assessor), ("note", note)):
            if val is not None:
                spec[key] = val
        with _open(store) as st:
            result = assess(st, spec, prefill=prefill)

    def render(r: dict[str, Any]) -> None:
        out.print(
            f"recorded [bold]{esc(r['assessment_id'])}[/]: score {_f(r['score'])}"
            f" (harm {_f(r['harm_score'])} x position {_f(r['position'])}), confidence {r['confidence']['grade']}"
        )
        if r.get("prefill"):
            out.print(f"evidence from the store: {r['prefill']['summary']}")

    emit(result, json, render)


@markets.command("rank")
def rank_cmd(
    weights: Annotated[
        Path | None,
        typer.Option("--weights", help="Community-priority harm weights (YAML or CSV)."),
    ] = None,
    survey: Annotated[
        Path | None,
        typer.Option(
            "--survey",
            help="Residents' survey CSV (respondent, harm_id, rating 1-5): harm weight = mean rating.",
        ),
    ] = None,
    position_weight: Annotated[
        float, typer.Option(help="Exponent on organisational position.")
    ] = 1.0,
    kind: Annotated[str | None, typer.Option(help="Only markets, groups or places.")] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Use assessments made on or before YYYY-MM-DD.")
    ] = None,
    top: Annotated[
        int | None,
        typer.Option(
            help="Show the N highest ranked (default all); the sensitivity check follows"
            " the top N (default 10)."
        ),
    ] = None,
    sensitivity: Annotated[bool, typer.Option("--sensitivity/--no-sensitivity")] = True,
    audience: AudienceOpt = "analyst",
    sharing_config: SharingConfigOpt = None,
    out_file: ShareOutOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Rank by harm x likelihood x organisational position, with confidence and a sensitivity check.

    Partner/public: rows labelled by rank (no ids, assessors or evidence), the
    score and its breakdown kept (the published basis of the rank).
    """
    from realimpact.markets.ranking import rank
    from realimpact.markets.sharing import safe_rank

    with handle_errors():
        prof = _profile(audience, sharing_config)
        with _open(store) as st:
            result = rank(
                st,
                weights=weights,
                survey=survey,
                position_weight=position_weight,
                kind=kind,
                as_of=as_of,
                top=10 if top is None else top,
                sensitivity=sensitivity,
            )
            result = _share(result, prof, safe_rank, out_file)
    if top is not None and not json:
        result = {**result, "shown": top}
    emit(result, json, _render_rank)


def _render_rank(r: dict[str, Any]) -> None:
    out.print(f"score = {r['method'].split('= ', 1)[1]}")
    t = Table("rank")
    t.add_column("id", no_wrap=True)
    for c in ("kind", "score", "confidence", "harm", "position", "top harms (w x I x L)"):
        t.add_column(c)
    shown = r.get("shown")
    items = r["items"] if shown is None else [it for it in r["items"] if it["rank"] <= shown]
    for it in items:
        top_h = sorted(it["breakdown"], key=lambda b: -b["contribution"])[:3]
        t.add_row(
            str(it["rank"]),
            _label(it),
            it["kind"] or "",
            _f(it["score"]),
            it["confidence"]["grade"],
            _f(it["harm_score"]),
            _f(it["position"]),
            "; ".join(
                f"{b['harm_id']} {b['weight']:.3g}x{b['impact']}x{b['likelihood']}" for b in top_h
            ),
        )
    out.print(t)
    if len(items) < len(r["items"]):
        out.print(f"top {shown} of {len(r['items'])} ranked shown (--json for all)")
    if isinstance(r["unassessed"], int):
        if r["unassessed"]:
            out.print(f"not assessed (not ranked): {r['unassessed']}")
    elif r["unassessed"]:
        out.print(f"not assessed (not ranked): {', '.join(r['unassessed'])}")
    s = r.get("sensitivity")
    if s:
        out.print(
            f"sensitivity: {s['n_moves']} moves of one weight by x{' / x'.join(map(str, s['factors']))};"
            f" top {s['top']} membership changed in {s['n_membership_changes']}, order in"
            f" {s['n_order_changes']}; min Kendall tau {s['min_kendall_tau']:.2f};"
            f" in the top {s['top']} under every move: {', '.join(s['stable_top']) or '-'}"
        )
        for m in s.get("moves") or []:
            if m["entered"] or m["left"]:
                out.print(
                    f"  {m['weight']} x{m['factor']}: in {', '.join(m['entered'])}; out {', '.join(m['left'])}"
                )


# -- warning ---------------------------------------------------------------------------------


@markets.command("warning")
def warning_cmd(
    scope: Annotated[
        str, typer.Option(help="force, layer (each area) or entity (a market's areas).")
    ] = "force",
    layer: Annotated[str, typer.Option(help="Area layer for --scope layer.")] = "lsoa",
    entity: Annotated[str | None, typer.Option(help="Registry id for --scope entity.")] = None,
    baseline_from: Annotated[str | None, typer.Option(help="YYYY-MM")] = None,
    baseline_to: Annotated[str | None, typer.Option(help="YYYY-MM")] = None,
    monitor_from: Annotated[str | None, typer.Option(help="YYYY-MM")] = None,
    monitor_to: Annotated[str | None, typer.Option(help="YYYY-MM")] = None,
    alpha: Annotated[float, typer.Option(help="False-alarm probability per series.")] = 0.05,
    shift: Annotated[float, typer.Option(help="Rise to detect, as a fraction (0.5 = +50%).")] = 0.5,
    n_sim: Annotated[int, typer.Option(help="Monte Carlo draws for the threshold.")] = 999,
    seed: Annotated[int, typer.Option()] = 0,
    series: Annotated[
        Path | None, typer.Option(help="Partner series CSV: indicator, month, n [, unit].")
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Every unit and test, not only those that fired.")
    ] = False,
    force: ForceOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Project Linctus emerging-market checklist; data indicators tested by Poisson CUSUM.

    Each unit is tested on the months its force published: a missing month is
    left out of the baseline, and the CUSUM never bridges a gap (it monitors
    the consecutive months up to it and names the rest).
    """
    from realimpact.markets.warning import emerging_market_warning

    with handle_errors(), _open(store) as st, rich_progress(progress_enabled()) as prog:
        result = emerging_market_warning(
            st,
            scope=scope,
            layer=layer,
            entity=entity,
            baseline_from=baseline_from,
            baseline_to=baseline_to,
            monitor_from=monitor_from,
            monitor_to=monitor_to,
            alpha=alpha,
            shift=shift,
            n_sim=n_sim,
            seed=seed,
            series=series,
            show_all=show_all,
            progress=prog,
            force=force,
        )
    emit(result, json, _render_warning)


def _render_warning(r: dict[str, Any]) -> None:
    out.print(f"method: {r['method']}")
    out.print(
        f"{r['n_tested']} series tested, {r['n_fired']} fired"
        f" (at most {r['max_expected_false_alarms']:.1f} false alarms expected if nothing changed)"
    )
    if r["fired"]:
        t = Table()
        t.add_column("unit", no_wrap=True)
        t.add_column("indicator", no_wrap=True)
        for c in ("from", "baseline/month", "monitored/month", "p", "note"):
            t.add_column(c)
        for f in r["fired"]:
            t.add_row(
                f["unit"],
                f["indicator"],
                f["first_alarm"] or "",
                _f(f["baseline_mean"]),
                _f(f["monitor_mean"]),
                f"{f['p_value']:.3f}",
                "; ".join(
                    x for x in ("overdispersed" if f["overdispersed"] else "", f.get("gaps")) if x
                ),
            )
        out.print(t)
    if r["scope"] != "layer":
        for unit, rows in r["checklist"].items():
            t = Table(
                "#",
                "indicator",
                "test",
                "status",
                "evidence",
                title=f"Project Linctus checklist: {unit}",
            )
            for row in rows:
                t.add_row(
                    str(row["order"]),
                    row["text"],
                    row["test"],
                    row["status"],
                    row.get("evidence") or "",
                )
            out.print(t)
    for n in r["notes"]:
        print_error(n, "note", "yellow")


@markets.command("indicator")
def indicator_cmd(
    entity_id: Annotated[str, typer.Argument(metavar="ID", help="Registry id or LAYER:AREA_ID.")],
    indicator: Annotated[
        str, typer.Argument(help="Project Linctus indicator id (see `markets warning --all`).")
    ],
    date: Annotated[str | None, typer.Option(help="YYYY-MM-DD (default today).")] = None,
    evidence: Annotated[str | None, typer.Option()] = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Record that a Linctus indicator was observed (for the checklist)."""
    from realimpact.markets.warning import record_indicator

    spec = {"entity": entity_id, "indicator": indicator, "date": date, "evidence": evidence}
    with handle_errors(), _open(store) as st:
        result = record_indicator(st, spec)
    emit(
        result,
        json,
        lambda r: out.print(
            f"recorded {esc(r['indicator'])} for {esc(r['entity'])} on {r['date']}"
        ),
    )


# -- disruptions -----------------------------------------------------------------------------


@markets.command("disrupt")
def disrupt_cmd(
    entity_id: Annotated[str, typer.Argument(metavar="ID", help="Group or market disrupted.")],
    date: Annotated[str, typer.Option(help="YYYY-MM-DD.")],
    category: Annotated[str, typer.Option(help="4P: prepare, prevent, protect, pursue.")],
    impact: Annotated[
        str, typer.Option(help="minor, moderate, major (see `markets vocab impact_level`).")
    ],
    capability_evidence: Annotated[
        str | None, typer.Option(help="Evidence of impact on capability.")
    ] = None,
    evidence_ref: Annotated[
        list[str] | None, typer.Option("--evidence-ref", help="Repeatable.")
    ] = None,
    description: Annotated[str | None, typer.Option()] = None,
    planned: Annotated[bool | None, typer.Option("--planned/--unplanned")] = None,
    disruption_id: Annotated[str | None, typer.Option("--id")] = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Record a disruption of a group or market."""
    from realimpact.markets.disruptions import add_disruption

    spec = {
        "id": disruption_id,
        "entity": entity_id,
        "date": date,
        "category": category,
        "impact": impact,
        "capability_evidence": capability_evidence,
        "evidence_refs": evidence_ref or [],
        "description": description,
        "planned": planned,
    }
    with handle_errors(), _open(store) as st:
        result = add_disruption(st, spec)

    def render(r: dict[str, Any]) -> None:
        out.print(
            f"recorded {esc(r['disruption_id'])}: {r['category']} / {r['impact']} on {esc(r['entity_id'])}"
        )
        for f in r["flags"]:
            print_error(f, "flag", "yellow")

    emit(result, json, render)


@markets.command("disruptions")
def disruptions_cmd(
    entity: Annotated[str | None, typer.Option(help="Only this group or market.")] = None,
    since: Annotated[str | None, typer.Option(help="YYYY-MM-DD.")] = None,
    audience: AudienceOpt = "analyst",
    sharing_config: SharingConfigOpt = None,
    out_file: ShareOutOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Summarise disruptions by 4P and impact; flag claims without evidence (partner/public:
    the table only, small counts and what would give them back withheld)."""
    from realimpact.markets.disruptions import disruption_summary
    from realimpact.markets.sharing import safe_disruptions

    with handle_errors():
        prof = _profile(audience, sharing_config)
        with _open(store) as st:
            result = disruption_summary(st, entity=entity, since=since)
            result = _share(result, prof, safe_disruptions, out_file)

    def cell(v: Any) -> str:
        return "withheld" if v is None else str(v)

    def render(r: dict[str, Any]) -> None:
        title = f"{cell(r['count'])} disruptions"
        t = Table("4P", *r["by_impact"].keys(), "total", title=title)
        for cat, row in r["table"].items():
            vals = [v for k, v in row.items() if k not in ("suppressed", "below_threshold")]
            total = r["by_category"].get(cat) if "disclosure" in r else sum(vals)
            t.add_row(cat, *(cell(v) for v in vals), cell(total))
        out.print(t)
        if "disclosure" in r:
            out.print("[dim]withheld: fewer than the threshold, or would give one back[/]")
            return
        if r["pursue_share"] is not None:
            out.print(
                f"pursue share {r['pursue_share']:.0%}; {r['with_evidence']} with evidence of impact on capability"
            )
        ft = Table("id", "entity", "date", "4P", "impact", "flags", title=f"{r['flagged']} flagged")
        for d in r["disruptions"]:
            if d["flags"]:
                ft.add_row(
                    d["disruption_id"],
                    d["entity_id"],
                    d["date"],
                    d["category"],
                    d["impact"],
                    "; ".join(d["flags"]),
                )
        if r["flagged"]:
            out.print(ft)

    emit(result, json, render)
