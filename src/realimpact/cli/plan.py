"""`realimpact plan`: write, check and size an operation plan before it starts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from realimpact.cli._common import (
    JsonOpt,
    StoreOpt,
    Table,
    emit,
    esc,
    handle_errors,
    out,
    print_error,
    print_json,
)

PlanArg = Annotated[Path, typer.Argument(help="Operation plan (YAML).", show_default=False)]


def _open_store(path: Path | None):  # -> Store | None
    """The store, or None when it does not exist yet (never create one to check a plan).

    Opened for writing because counting records in a polygon layer fills the store's
    point-in-polygon cache the first time.
    """
    from realimpact.store import open_store
    from realimpact.store.connection import resolve_path

    resolved = resolve_path(path)
    if resolved != ":memory:" and not Path(resolved).exists():
        return None
    return open_store(resolved)


def register(app: typer.Typer) -> None:
    grp = typer.Typer(
        help="Operation plans: harms, mechanism, tactics, indicators, displacement, support.",
        no_args_is_help=True,
    )
    app.add_typer(grp, name="plan")

    @grp.command("validate")
    def validate(plan: PlanArg, store: StoreOpt = None, json: JsonOpt = False) -> None:
        """Explain every gap in PLAN, one line each; exit 2 if it is not ready."""
        from realimpact.plans.validate import validate_plan

        with handle_errors():
            from realimpact.store.connection import resolve_path

            st = _open_store(store)
            try:
                result = validate_plan(
                    plan, st, require_data=True, missing_store=None if st else resolve_path(store)
                )
            finally:
                if st is not None:
                    st.close()
        r = result.to_dict()
        emit(r, json, _render_validation)
        if not result.valid:
            if json:  # the gaps are in the JSON; stderr still says why the exit code is 2
                first = r["errors"][0] if r["errors"] else None
                why = f"; first: {first['field']}: {first['message']}" if first else ""
                print_error(f"{plan}: not valid ({r['n_errors']} errors){why}")
            raise typer.Exit(2)

    @grp.command("new")
    def new(
        path: Annotated[
            Path | None, typer.Argument(help="File to write (default: print to stdout).")
        ] = None,
        plan_id: Annotated[str | None, typer.Option("--id", help="Plan id.")] = None,
        title: Annotated[str, typer.Option(help="Plan title.")] = "REPLACE with a short title",
        start: Annotated[str, typer.Option(help="First month (YYYY-MM).")] = "2025-01",
        end: Annotated[str, typer.Option(help="Last month (YYYY-MM).")] = "2025-03",
        force: Annotated[bool, typer.Option("--force", help="Overwrite PATH.")] = False,
        json: JsonOpt = False,
    ) -> None:
        """Write a commented plan template to fill in before the operation."""
        from realimpact.plans.template import plan_template, write_plan_template

        kwargs = {"title": title, "start": start, "end": end}
        if plan_id:
            kwargs["plan_id"] = plan_id
        with handle_errors():
            if path is None:
                text = plan_template(**kwargs)
                if json:
                    print_json({"path": None, "template": text})
                else:
                    typer.echo(text, nl=False)
                return
            result = write_plan_template(path, force=force, **kwargs)
        emit(
            result,
            json,
            lambda r: out.print(
                f"wrote [bold]{esc(r['path'])}[/] (plan id {esc(r['id'])});"
                f" fill it in, then `realimpact plan validate "
                f"{esc(r['path'])}`",
                highlight=False,
            ),
        )

    @grp.command("power")
    def power(
        plan: PlanArg,
        indicator: Annotated[
            str | None, typer.Option(help="Indicator id (default: first outcome with a baseline).")
        ] = None,
        sims: Annotated[int, typer.Option(help="Simulations per reduction tried.")] = 200,
        power_: Annotated[float, typer.Option("--power", help="Target power.")] = 0.8,
        alpha: Annotated[float, typer.Option(help="Two-sided test level.")] = 0.05,
        se: Annotated[str, typer.Option(help="auto | model | quasi | cluster")] = "auto",
        seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
        store: StoreOpt = None,
        json: JsonOpt = False,
    ) -> None:
        """Smallest harm reduction the planned design could detect, by simulation."""
        from realimpact.plans.power import plan_power
        from realimpact.store import open_store
        from realimpact.store.connection import require_existing

        with handle_errors(), open_store(require_existing(store)) as st:
            result = plan_power(
                plan,
                st,
                indicator=indicator,
                n_sims=sims,
                power=power_,
                alpha=alpha,
                se=se,
                seed=seed,
            )
        emit(result.to_dict(), json, _render_power)

    @grp.command("catalogue")
    def catalogue(
        name: Annotated[
            str,
            typer.Argument(
                help="tactics | selling-modes | displacement | "
                "demand-reduction | information-sources | "
                "indicators | unintended-consequences"
            ),
        ],
        selling_mode: Annotated[str | None, typer.Option(help="Only this selling mode.")] = None,
        level: Annotated[
            str | None, typer.Option(help="Outputs for street | middle | import.")
        ] = None,
        kind: Annotated[str | None, typer.Option(help="Indicators of one kind.")] = None,
        json: JsonOpt = False,
    ) -> None:
        """Print a planning catalogue with the source of every entry."""
        from realimpact.plans.catalogues import plan_catalogue

        with handle_errors():
            result = plan_catalogue(name, selling_mode=selling_mode, level=level, kind=kind)
        emit(result, json, _render_catalogue)


def _render_validation(r: dict) -> None:
    for i in r["errors"]:
        print_error(f"{i['field']}: {i['message']}")
    for i in r["warnings"]:
        print_error(f"{i['field']}: {i['message']}", "warning", "yellow")
    verdict = "[bold green]valid[/]" if r["valid"] else "[bold red]not valid[/]"
    out.print(
        f"plan {r['plan_id'] or '?'}: {verdict} ({r['n_errors']} errors, "
        f"{r['n_warnings']} warnings)",
        highlight=False,
    )


_DESIGNS = {
    "did": "DiD with area and month fixed effects",
    "its": "interrupted time series (level and trend change, seasonality)",
}


def dispersion_text(family: str, dispersion: float) -> str:
    """The count model as a reader can check it: never "dispersion 0.000".

    A dispersion of exactly 0 is the Poisson model (the baseline showed no
    over-dispersion, or Poisson was asked for); a small positive NB2 alpha is
    shown to three significant digits, not rounded away to 0.000.
    """
    if dispersion <= 0:
        return f"{family} (no over-dispersion)"
    return f"{family} (NB2 dispersion {dispersion:.3g})"


def _render_power(r: dict) -> None:
    out.print(
        f"plan {esc(r['plan_id'])}, indicator [bold]{esc(r['indicator'])}[/]: {r['n_target']} target"
        f" and {r['n_control']} control areas, baseline {r['baseline']['from']}.."
        f"{r['baseline']['to']}, {r['follow_up_months']} follow-up months",
        highlight=False,
    )
    out.print(
        f"model: {dispersion_text(r['family'], r['dispersion'])}, {_DESIGNS[r['design']]},"
        f" {r['se_type']} errors; {r['n_sims']} simulations, seed {r['seed']}",
        highlight=False,
    )
    if r["mde"] is None:
        out.print(
            f"[bold red]no detectable reduction[/] at {r['power']:.0%} power", highlight=False
        )
    else:
        out.print(
            f"minimum detectable reduction at {r['power']:.0%} power, {r['alpha']:.0%} level:"
            f" [bold]{r['mde']:.0%}[/] (about {r['mde_per_month']:.1f} of "
            f"{r['baseline_per_month']:.1f} records a month in the target areas)",
            highlight=False,
        )
    out.print(f"false-alarm rate with no effect: {r['size']:.1%}", highlight=False)
    for n in r["notes"]:
        print_error(n, "note", "yellow")


def _render_catalogue(r: dict) -> None:
    t = Table("id", "entry", "source", title=f"{r['catalogue']} ({r['count']})")
    for item in r["items"]:
        label = (
            item.get("name")
            or item.get("table_row")
            or item.get("motivation")
            or item.get("text")
            or ""
        )
        src = item.get("source")
        if src is None and item.get("evidence"):
            src = item["evidence"][0]["source"]
        if isinstance(src, dict):
            src = f"seed {src['doc']} {src['section']}"
        elif src is not None and item.get("section"):
            src = f"{src} {item['section']}"
        t.add_row(item["id"], str(label), str(src or ""))
    out.print(t)
