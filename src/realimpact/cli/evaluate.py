"""`realimpact evaluate`: judge an operation against its plan, or measure displacement from counts.

Two forms (DESIGN.md contracts "Displacement from counts" and "Evaluation output"):

    realimpact evaluate displacement --target B,A --buffer B,A --control B,A
                                     [--buffer-control B,A] [--json]
    realimpact evaluate PLAN.yaml --out DIR [--json]

One command whose first argument is either the word ``displacement`` or a plan
path: a Typer group cannot take both a subcommand and a positional path.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from realimpact.cli._common import (
    AudienceOpt,
    JsonOpt,
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
        store: StoreOpt = None,
        json: JsonOpt = False,
    ) -> None:
        if what == "displacement":
            with handle_errors():
                result = _displacement(target, buffer, control, buffer_control)
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
        from realimpact.evaluation.engine import evaluate

        with handle_errors(), rich_progress(progress_enabled()) as prog:
            res = evaluate(
                Path(what),
                store,
                out_dir,
                harm_weights=weights,
                family=family,
                audience=audience,
                progress=prog,
                inference=inference,
                pdf=pdf,
            )
            data = res.to_dict()
        emit(data, json, _render_plan)


def _displacement(
    target: str | None, buffer: str | None, control: str | None, buffer_control: str | None
) -> dict[str, Any]:
    from realimpact.errors import ValidationError
    from realimpact.evaluation.displacement import displacement_from_counts, parse_pair

    for name, v in (("--target", target), ("--buffer", buffer), ("--control", control)):
        if v is None:
            raise ValidationError("required for 'evaluate displacement' (counts B,A)", source=name)
    bc = parse_pair(buffer_control, "--buffer-control") if buffer_control is not None else None
    ctl = parse_pair(control, "--control")
    if min(ctl) <= 0:
        # every measure but the gross effect is relative to the control's counts
        raise ValidationError(
            f"before and after must both be > 0, got {control}: the WDQ measures divide by them",
            source="--control",
        )
    return displacement_from_counts(
        parse_pair(target, "--target"), parse_pair(buffer, "--buffer"), ctl, bc
    )


def _f(v: Any, nd: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    return str(v)


def _render_displacement(res: dict[str, Any]) -> None:
    t = Table("measure", "value", title="Bowers & Johnson (2003) measures")
    for k, v in res["wdq"].items():
        undefined = v is None or (isinstance(v, float) and not math.isfinite(v))
        t.add_row(k.replace("_", " "), "undefined" if undefined else _f(v))
    out.print(t)
    w = res["wdd"]
    if w is None:
        out.print("WDD: give --buffer-control to test the change (Wheeler & Ratcliffe 2018)")
        return
    out.print(
        f"WDD {w['estimate']:+,.1f} crimes (SE {w['se']:.1f}, z {w['z']:.2f}, "
        f"95% CI {w['ci_low']:,.1f} to {w['ci_high']:,.1f}); negative = crimes prevented"
    )


def _render_plan(res: dict[str, Any]) -> None:
    out.print(f"[bold]{esc(res['title'] or res['plan_id'])}[/] ({esc(res['plan_id'])})")
    t = Table("indicator", "kind", "target B->A", "DiD rate ratio (95% CI)", "p", "WDQ", "Maryland")
    for i in res["indicators"]:
        tg = i.get("target") or {}
        did = i.get("did") or {}
        rr = "-"
        if did.get("rate_ratio") is not None:
            lo, hi = did.get("rr_low"), did.get("rr_high")
            bounded = lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi)
            # a wild bootstrap with very few target areas may not bound the interval
            rr = f"{did['rate_ratio']:.2f} " + (
                f"({lo:.2f}-{hi:.2f})" if bounded else "(interval not bounded)"
            )
        sms = max((s["level"] for s in i.get("sms") or []), default=None)
        t.add_row(
            i["id"],
            i["kind"],
            f"{_f(tg.get('before'))}->{_f(tg.get('after'))}" if tg else "-",
            rr,
            _f(did.get("p")),
            _f((i.get("wdq") or {}).get("wdq")),
            _f(sms),
        )
    out.print(t)
    readings = {
        (i.get("did") or {}).get("inference") for i in res["indicators"] if i.get("did")
    } - {None}
    if readings:
        names = {"wild": "wild cluster bootstrap", "t": "t with clusters - 1 df", "normal": "z"}
        out.print("DiD p and interval: " + ", ".join(names.get(r, r) for r in sorted(readings)))
    out.print(res["net_harm"].get("statement", ""))
    for w in res.get("warnings", []):
        out.print(f"[yellow]warning:[/] {w}")
    for k, v in res.get("files", {}).items():
        out.print(f"{k}: {v}")
