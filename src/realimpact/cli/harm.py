"""`realimpact harm ...`: the harm taxonomy, harm weights and the harm index."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from realimpact._progress import rich_progress
from realimpact.cli._common import (
    AudienceOpt,
    CrimeTypeOpt,
    ForceOpt,
    JsonOpt,
    LayerOpt,
    SharingConfigOpt,
    StoreOpt,
    Table,
    emit,
    err,
    esc,
    handle_errors,
    out,
    print_json,
    progress_enabled,
)

harm = typer.Typer(
    help="Harm, not volume: the harm taxonomy, crime harm weights and harm indices.",
    no_args_is_help=True,
)


@harm.command("taxonomy")
def taxonomy(
    kind: Annotated[
        str | None,
        typer.Option("--kind", help="Only one group: matrix, priority or enforcement."),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Print the harm taxonomy, every harm with its id, source and section.

    Groups: the UK Drug Policy Commission (2009) Moving towards Real Impact Drug Enforcement, Figure 1 harm matrix, the N8 Policing Research Partnership (2024) Conceptualising and Evaluating the Impact of Policing Drug Markets, Figure 2 priority
    harms, and harms caused by enforcement itself (enf-*).
    """
    from realimpact.harm.taxonomy import harm_taxonomy

    with handle_errors():
        result = harm_taxonomy(kind)
    emit(result, json, _render_taxonomy)


def _table(title: str, items: list[dict[str, Any]], *cols: str) -> Table:
    """Ids are what users copy into plans and surveys: never cut or wrapped."""
    tab = Table(title=title)
    tab.add_column("id", no_wrap=True, min_width=max(len(h["id"]) for h in items))
    for c in cols:
        tab.add_column(c)
    return tab


def _render_taxonomy(t: dict[str, Any]) -> None:
    if t["matrix"]:
        tab = _table(
            "Harm matrix (UK Drug Policy Commission (2009) Moving towards Real Impact Drug Enforcement, Figure 1)",
            t["matrix"],
            "type",
            "level",
            "harm",
        )
        for h in t["matrix"]:
            tab.add_row(h["id"], h["type"], h["level"], h["name"])
        out.print(tab)
    if t["priority"]:
        n_int = t["priority_survey"]["interviewees"]
        title = f"Priority harms (N8 Policing Research Partnership (2024) Conceptualising and Evaluating the Impact of Policing Drug Markets, Figure 2; {n_int} interviewees)"
        tab = _table(title, t["priority"], "category", "harm", "interviewees")
        for h in t["priority"]:
            n = "?" if h["interviewees"] is None else str(h["interviewees"])
            tab.add_row(h["id"], h["category"], h["name"], n)
        out.print(tab)
    if t["enforcement"]:
        tab = _table("Harms of enforcement itself", t["enforcement"], "harm", "source")
        for h in t["enforcement"]:
            tab.add_row(h["id"], h["name"], f"{h['source'][:3]}: {h['section']}")
        out.print(tab)


@harm.command("weights")
def weights(
    name: Annotated[
        str | None, typer.Argument(help="Weight set: cchi, count, a stored set; omit to list.")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="Store NAME from this weights YAML.")
    ] = None,
    survey: Annotated[
        Path | None,
        typer.Option(
            "--survey",
            help="Store NAME from a residents' survey CSV (respondent, harm_id, rating 1-5).",
        ),
    ] = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Show a harm weight set (weight per police.uk crime type), list them, or store one."""
    from realimpact.harm.weights import harm_weights

    with handle_errors():
        result = harm_weights(name, store, file=file, survey=survey)
    emit(result, json, _render_weights)


def _render_weights(r: dict[str, Any]) -> None:
    if "sets" in r:
        tab = Table("name", "kind", "unit")
        for s in r["sets"]:
            tab.add_row(s["name"], s["kind"], s["unit"])
        out.print(tab)
        return
    tab = Table("crime type", "weight", title=f"{esc(r['name'])} ({r['kind']}): {esc(r['unit'])}")
    for ct, w in r["weights"].items():
        tab.add_row(ct, f"{w:,.4g}")
    out.print(tab)
    if r.get("method"):
        out.print(f"method: {r['method']}")
    if r.get("stored"):
        err.print(f"stored weight set [bold]{esc(r['name'])}[/]")


@harm.command("index")
def index(
    layer: LayerOpt = "lsoa",
    period: Annotated[str, typer.Option("--period", help="month, quarter, year or all.")] = "month",
    weights: Annotated[
        str, typer.Option("--weights", help="Weight set name or YAML path.")
    ] = "cchi",
    crime_type: CrimeTypeOpt = None,
    month_from: Annotated[str | None, typer.Option("--from", help="First month YYYY-MM.")] = None,
    month_to: Annotated[str | None, typer.Option("--to", help="Last month YYYY-MM.")] = None,
    table: Annotated[
        str,
        typer.Option("--table", help="crimes, or stop_searches (weighted by object of search)."),
    ] = "crimes",
    partner: Annotated[
        list[str] | None,
        typer.Option("--partner", help="Partner indicator to show beside crime (repeat)."),
    ] = None,
    compare_weights: Annotated[
        str | None,
        typer.Option("--compare-weights", help="A,B: rank agreement of two weightings instead."),
    ] = None,
    top: Annotated[
        int | None,
        typer.Option(
            "--top",
            min=1,
            help="Only areas ranked <= N per period (comparison: top-N overlap, default 10).",
        ),
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the full index as CSV.")
    ] = None,
    audience: AudienceOpt = "analyst",
    map_path: Annotated[
        Path | None,
        typer.Option("--map", help="Also draw a PNG map of the last period (needs boundaries)."),
    ] = None,
    force: ForceOpt = None,
    sharing_config: SharingConfigOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Harm index per area and period, ranked by harm-weighted total.

    Per area and period: counts by crime type, harm-weighted total, rate per
    1,000 residents (when a population is loaded) and rank. With --audience
    partner or public (docs/sharing.md), crime-type counts below the threshold
    are replaced by fixed stand-ins before anything is summed, rows below it
    are blanked and unranked, harm is rounded (or banded when one small type
    dominates it), per-type counts are left out, and --out/--map files get a
    manifest.json beside them. Months a force did not publish are absent,
    never zero; quarters and years built from fewer months are marked.
    """
    from realimpact.cli.hotspots import check_out_file, clean_crime_types
    from realimpact.csv_safe import write_csv
    from realimpact.disclosure.profiles import get_profile
    from realimpact.errors import InputError
    from realimpact.harm.index import index_to_dict
    from realimpact.harm.sensitivity import compare_weights as compare
    from realimpact.harm.sharing import shared_harm_index
    from realimpact.hotspots.maps import check_map_path
    from realimpact.periods import check_period_order
    from realimpact.store import open_store

    with handle_errors():
        profile = get_profile(audience, sharing_config)
        if compare_weights and profile.suppresses:
            raise InputError(
                f"--compare-weights: rank agreement is for analysts (--audience {audience})"
            )
        crime_type = clean_crime_types(crime_type)
        check_period_order(month_from, month_to, "--from", "--to")
        check_out_file(out_file)
        if json and out_file is not None:
            raise InputError("--json and --out: choose one")
        if map_path is not None:
            check_map_path(map_path)  # before the index is built, not after
        check_out_file(map_path, "--map")
        with open_store(store) as st, rich_progress(progress_enabled()) as progress:
            if compare_weights:
                parts = [p.strip() for p in compare_weights.split(",")]
                if len(parts) != 2 or not all(parts):
                    raise InputError(f"--compare-weights: expected A,B, got {compare_weights!r}")
                if force is not None:
                    result = _compare_force(
                        st, parts, force, layer, period, crime_type, month_from, month_to,
                        top or 10, table,
                    )  # fmt: skip
                    emit(result, json, _render_compare)
                    return
                result = compare(
                    st,
                    parts[0],
                    parts[1],
                    layer=layer,
                    period=period,
                    crime_types=crime_type,
                    month_from=month_from,
                    month_to=month_to,
                    top=top or 10,
                    table=table,
                )
                emit(result, json, _render_compare)
                return
            df = shared_harm_index(
                st,
                profile,
                layer=layer,
                period=period,
                weights=weights,
                crime_types=crime_type,
                month_from=month_from,
                month_to=month_to,
                table=table,
                partner=partner,
                progress=progress,
                force=force,
            )
            if map_path is not None:
                from realimpact.harm.maps import harm_map
                from realimpact.store.queries import load_layer

                drawn = harm_map(df, load_layer(st, layer), map_path)
                _manifest_beside(df, map_path)
                err.print(f"map of {drawn['period']}: {esc(drawn['path'])}")
    if out_file is not None:
        shown = df if top is None else df[df["rank"] <= top]
        with handle_errors():
            write_csv(shown, out_file)  # names from boundary files cannot run as formulas
            _manifest_beside(df, out_file)
        err.print(f"wrote {len(shown):,} rows to {out_file}")
        return
    if json:
        print_json(index_to_dict(df, top))
        return
    _render_index(df, top or 10)


def _manifest_beside(df: Any, path: Path) -> None:
    """A shared file never leaves without its manifest.json (docs/sharing.md)."""
    manifest = df.attrs.get("disclosure")
    if manifest:
        from realimpact.disclosure.manifest import write_manifest

        write_manifest(manifest, Path(path).parent)


def _compare_force(
    st: Any, parts: list[str], force: str, layer: str, period: str, crime_type: Any,
    month_from: str | None, month_to: str | None, top: int, table: str,
) -> dict[str, Any]:  # fmt: skip
    """--compare-weights within one force: both indices from that force's records."""
    from realimpact.harm.index import harm_index
    from realimpact.harm.sensitivity import compare_indices
    from realimpact.harm.weights import get_weights

    wa, wb = (get_weights(p, st) for p in parts)
    kw = dict(layer=layer, period=period, crime_types=crime_type, month_from=month_from,
              month_to=month_to, table=table, force=force)  # fmt: skip
    a, b = harm_index(st, weights=wa, **kw), harm_index(st, weights=wb, **kw)
    return {"layer": layer, "period": period, "force": a.attrs["force"], "weights_a": wa.name,
            "weights_b": wb.name, **compare_indices(a, b, top)}  # fmt: skip


def _render_index(df: Any, top: int) -> None:
    a = df.attrs
    where = f", force [bold]{esc(a['force'])}[/]" if a.get("force") else ""
    out.print(
        f"harm index: layer [bold]{esc(a['layer'])}[/], period {a['period']}{where}, weights"
        f" [bold]{a['weights']['name']}[/] ({a['weights']['unit']})"
    )
    if df.empty:
        out.print("no records in this selection (ingest police.uk data, or widen the filters)")
        return
    cols = ["rank", "area", "count", "harm"]
    rate = "harm_per_1000" in df.columns
    if rate:
        cols.append("harm/1,000")
    for period, g in df.groupby("period", sort=True):
        title = f"{period}: top {top} of {len(g):,}"
        if "complete" in g.columns and not g["complete"].all():
            title += f" (incomplete: {int(g['months'].max())} month(s) published)"
        tab = Table(*cols, title=title)
        for r in g[g["rank"] <= top].sort_values(["rank", "area_id"]).itertuples():
            area = f"{r.area_id} {r.name}" if getattr(r, "name", None) else r.area_id
            row = [str(int(r.rank)), area, f"{int(r.count):,}", f"{r.harm:,.1f}"]
            if a.get("audience") in ("partner", "public"):
                row[3] = f"{r.harm:,.0f}"  # rounded for a shared audience: no false precision
            if rate:
                v = r.harm_per_1000
                row.append("-" if v != v else f"{v:,.1f}")
            tab.add_row(*row)
        out.print(tab)
    for note in a.get("notes") or []:
        out.print(f"note: {esc(note)}")
    p = a.get("population")
    if p:
        out.print(
            f"population: {p['areas_matched']:,} of {p['areas']:,} areas matched ({esc(p['source'])})"
        )
    if a.get("audience") in ("partner", "public"):
        w = (a.get("disclosure") or {}).get("withheld") or {}
        t = a["suppression_threshold"]
        coarse = (
            "; the harm of a longer period leaves out its withheld months"
            if a.get("period") not in (None, "month")
            else ""
        )
        out.print(
            f"{a['audience']} view: counts and harm are close, not exact:"
            f" {w.get('perturbed', 0):,} crime-type counts below {t} were replaced by fixed"
            f" stand-ins of 1-{t - 1}, so no small count can be worked out;"
            f" {w.get('primary', 0):,} area-periods below {t} are blank and unranked;"
            f" {a.get('rows_dominated', 0):,} show harm only as a band (one small type"
            f" dominates){coarse}; per-type counts omitted (docs/sharing.md)"
        )


def _render_compare(r: dict[str, Any]) -> None:
    tab = Table(
        "period",
        "areas",
        "Spearman",
        "Kendall",
        f"top-{r['periods'][0]['top_n'] if r['periods'] else 'N'} overlap",
        title=f"{esc(r['weights_a'])} vs {esc(r['weights_b'])} ({esc(r['layer'])}, {r['period']})",
    )
    for p in r["periods"]:
        tab.add_row(
            str(p["period"]),
            f"{p['areas']:,}",
            f"{p['spearman']:.3f}",
            f"{p['kendall']:.3f}",
            f"{p['top_overlap']} ({p['top_overlap_share']:.0%})",
        )
    out.print(tab)


def register(app: typer.Typer) -> None:
    app.add_typer(harm, name="harm")
