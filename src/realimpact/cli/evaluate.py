"""`realimpact evaluate`: judge an operation against its plan, or measure displacement from counts.

Two forms (docs/architecture.md contracts "Displacement from counts" and "Evaluation output"):

    realimpact evaluate displacement --target B,A --buffer B,A --control B,A
                                     [--buffer-control B,A] [--json]
    realimpact evaluate PLAN.yaml --out DIR [--json]

One command whose first argument is either the word ``displacement`` or a plan
path: a Typer group cannot take both a subcommand and a positional path.
"""

from __future__ import annotations

import json as _json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from realimpact.cli._common import (
    AudienceOpt,
    ForceOpt,
    JsonOpt,
    SharingConfigOpt,
    StoreOpt,
    Table,
    emit,
    esc,
    fail,
    handle_errors,
    out,
)

_HELP = """Evaluate an operation plan, or measure displacement from before/after counts.

\b
  realimpact evaluate PLAN.yaml --out DIR [--pdf] [--json]
      writes DIR/results.json and DIR/report.html (and DIR/report.pdf)
  realimpact evaluate displacement --target B,A --buffer B,A --control B,A
                                   [--buffer-control B,A] [--json]
      B = count before, A = count after; WDQ measures, and the WDD with
      its standard error when --buffer-control is given
"""


def register(app: typer.Typer) -> None:
    @app.command("evaluate", help=_HELP, no_args_is_help=True)
    def evaluate_cmd(
        what: Annotated[
            str,
            typer.Argument(
                metavar="PLAN.yaml|displacement", help="A plan file, or the word 'displacement'."
            ),
        ],
        out_dir: Annotated[
            Path | None, typer.Option("--out", help="Folder for results.json and report.html.")
        ] = None,
        target: Annotated[
            str | None, typer.Option("--target", metavar="B,A", help="Target counts before,after.")
        ] = None,
        buffer: Annotated[
            str | None, typer.Option("--buffer", metavar="B,A", help="Buffer counts before,after.")
        ] = None,
        control: Annotated[
            str | None,
            typer.Option("--control", metavar="B,A", help="Control counts before,after."),
        ] = None,
        buffer_control: Annotated[
            str | None,
            typer.Option(
                "--buffer-control",
                metavar="B,A",
                help="Counts in the buffer's own control (enables the WDD).",
            ),
        ] = None,
        audience: AudienceOpt = "analyst",
        weights: Annotated[
            str,
            typer.Option(
                "--weights",
                help="Harm weights for the net harm "
                "balance: cchi, count, a stored set or a "
                "YAML file.",
            ),
        ] = "cchi",
        family: Annotated[
            str, typer.Option("--family", help="DiD count model: poisson | negbin.")
        ] = "poisson",
        inference: Annotated[
            str,
            typer.Option(
                "--inference",
                help="DiD p-values and intervals: auto (wild cluster bootstrap for poisson, "
                "t with G-1 df for negbin) | wild | t | normal.",
            ),
        ] = "auto",
        pdf: Annotated[
            bool,
            typer.Option(
                "--pdf", help="Also print the report to DIR/report.pdf (headless Chromium)."
            ),
        ] = False,
        force: ForceOpt = None,
        ignore_validation: Annotated[
            bool,
            typer.Option(
                "--ignore-validation",
                help="Evaluate a plan that `plan validate` rejects; the report carries a red"
                " banner listing what failed.",
            ),
        ] = False,
        sharing_config: SharingConfigOpt = None,
        store: StoreOpt = None,
        json: JsonOpt = False,
    ) -> None:
        if what == "displacement":
            with handle_errors():
                result = _displacement(target, buffer, control, buffer_control, audience)
            emit(result, json, _render_displacement)
            return
        if any(v is not None for v in (target, buffer, control, buffer_control)):
            raise fail(
                "evaluate: --target/--buffer/--control/--buffer-control belong to "
                "'evaluate displacement'"
            )
        if out_dir is None:
            raise fail(f"evaluate {what}: --out DIR is required")
        from realimpact._progress import rich_progress
        from realimpact.cli._common import progress_enabled
        from realimpact.disclosure.profiles import get_profile
        from realimpact.evaluation.engine import evaluate
        from realimpact.report import write_evaluation
        from realimpact.report.pdf import find_chromium

        with handle_errors(), rich_progress(progress_enabled()) as prog:
            # a bad --audience, --sharing-config or --out, or no browser for --pdf:
            # said before any work
            profile = get_profile(audience, sharing_config)
            if out_dir.exists() and not out_dir.is_dir():
                raise fail(f"--out: {out_dir} is a file; --out takes a folder")
            if pdf:
                find_chromium()
            res = evaluate(
                Path(what),
                store,
                harm_weights=weights,
                family=family,
                progress=prog,
                inference=inference,
                force=force,
                ignore_validation=ignore_validation,
            )
            files = write_evaluation(
                res.to_dict(), out_dir, audience=audience, pdf=pdf, profile=profile
            )
            files = {k: str(Path(out_dir) / Path(v).name) for k, v in files.items()}
            data = _json.loads(Path(files["results"]).read_text("utf-8"))
        emit(data, json, _render_plan)


def _displacement(
    target: str | None,
    buffer: str | None,
    control: str | None,
    buffer_control: str | None,
    audience: str = "analyst",
) -> dict[str, Any]:
    from realimpact.disclosure.profiles import AUDIENCES, check_audience, get_profile
    from realimpact.errors import ValidationError
    from realimpact.evaluation.displacement import displacement_from_counts, parse_pair
    from realimpact.evaluation.sharing import safe_displacement

    check_audience(audience, AUDIENCES)
    for name, v in (("--target", target), ("--buffer", buffer), ("--control", control)):
        if v is None:
            raise ValidationError("required for 'evaluate displacement' (counts B,A)", source=name)
    counts = {
        "--target": parse_pair(target, "--target"),
        "--buffer": parse_pair(buffer, "--buffer"),
        "--control": parse_pair(control, "--control"),
        "--buffer-control": (
            parse_pair(buffer_control, "--buffer-control") if buffer_control is not None else None
        ),
    }
    # A zero control count leaves the WDQ measures that divide by it undefined
    # (reported as such), never the WDD, which divides by nothing.
    res = displacement_from_counts(*counts.values())
    if audience == "analyst":
        return res
    return safe_displacement(res, counts, get_profile(audience))


def _f(v: Any, nd: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    return str(v)


def _defined(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and not math.isfinite(v))


def _render_displacement(res: dict[str, Any]) -> None:
    t = Table("measure", "value", title="Bowers & Johnson (2003) measures")
    withheld = set(res["wdq"].get("suppressed") or [])
    for k, v in res["wdq"].items():
        if k in ("suppressed", "below_threshold"):
            continue
        shown = "withheld" if k in withheld else _f(v) if _defined(v) else "undefined"
        t.add_row(k.replace("_", " "), shown)
    out.print(t)
    for n in res.get("notes", []):
        out.print(f"[yellow]note:[/] {esc(n)}")
    w = res["wdd"]
    if w is None:
        out.print("WDD: give --buffer-control to test the change (Wheeler & Ratcliffe 2018)")
        return
    if "estimate" in (w.get("suppressed") or []):
        out.print("WDD: withheld (see the note)")
        return
    if not (_defined(w["z"]) and w["se"]):  # every count 0: nothing to test
        out.print(f"WDD {w['estimate']:+,.1f} crimes; z and interval undefined (SE 0)")
        return
    out.print(
        f"WDD {w['estimate']:+,.1f} crimes (SE {w['se']:.1f}, z {w['z']:.2f}, "
        f"95% CI {w['ci_low']:,.1f} to {w['ci_high']:,.1f}); negative = crimes prevented"
    )


def _render_plan(res: dict[str, Any]) -> None:
    from realimpact.report.render import net_harm_line, verdict_line

    out.print(f"[bold]{esc(res['title'] or res['plan_id'])}[/]")
    if res.get("force"):
        out.print(f"force: {esc(res['force'])}")
    val = res.get("validation") or {}
    if val.get("ignored"):
        out.print(
            f"[bold red]The plan fails validation ({len(val['problems'])} problem(s));"
            " evaluated with --ignore-validation:[/]"
        )
        for prob in val["problems"]:
            out.print(f"  [red]-[/] {esc(prob['path'])}: {esc(prob['message'])}")
    for flag in res.get("flags", []):
        out.print(f"[yellow]note:[/] {esc(flag)}")
    t = Table("indicator", "kind", "target a month: before -> after", "verdict")
    for i in res["indicators"]:
        t.add_row(
            i.get("label") or i["id"],
            i["kind"],
            _rates_text(i.get("target")),
            verdict_line("", i.get("verdict"), bool(i.get("buffer"))).removeprefix(": ")
            if i["kind"] in ("outcome", "indirect") else "a ledger of activity, not impact",
        )  # fmt: skip
    out.print(t)
    nh = res["net_harm"]
    out.print(net_harm_line(nh.get("crime_harm")) or nh.get("statement", ""))
    harms = nh.get("operation_harms") or []
    if harms:
        out.print("Harms the operation itself may have caused, where they would show:")
        for h in harms:
            out.print(f"  - {esc(h.get('summary') or h['id'])}")
    for step in res.get("next_steps", []):
        out.print(f"next: {esc(step)}")
    for w in res.get("warnings", []):
        out.print(f"[yellow]warning:[/] {esc(w)}")
    for k, v in res.get("files", {}).items():
        out.print(f"{k}: {esc(str(v))}")


def _rates_text(block: dict[str, Any] | None) -> str:
    """Monthly rates, with the window lengths when they differ ("38.4 (12 mo) -> 20.5 (4 mo)")."""
    if not block or block.get("per_month_before") is None:
        return "-"
    b, a = block["per_month_before"], block["per_month_after"]
    nb, nf = block["months_before"], block["months_after"]
    if nb == nf:
        return f"{b:,.1f} -> {a:,.1f} ({nb} months each)"
    return f"{b:,.1f} ({nb} months) -> {a:,.1f} ({nf} months)"
