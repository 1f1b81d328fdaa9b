"""`realimpact demo`: the whole pipeline on a synthetic city, in under a minute."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from realimpact.cli._common import JsonOpt, Table, emit, err, esc, handle_errors, out


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out_dir: Annotated[
            Path, typer.Option("--out", help="Folder for the data, store and reports.")
        ] = Path("realimpact-demo"),
        store: Annotated[
            Path | None,
            typer.Option(
                "--store",
                help="Store to use (default OUT/realimpact.duckdb, recreated each run; "
                "REALIMPACT_STORE is ignored so synthetic data never mixes with yours).",
                show_default=False,
            ),
        ] = None,
        seed: Annotated[int, typer.Option(help="Seed of the synthetic city.")] = 1,
        json: JsonOpt = False,
    ) -> None:
        """Simulate a city with known truth, ingest, map harm, rank markets, validate and
        evaluate an operation, write the Results Analysis report, and compare with the truth.

        Beside the analyst's report.html and results.json it writes OUT/partner/ and
        OUT/public/: the versions a partnership and the public may be given, each with its
        report.html, results.json and manifest.json.
        """
        from realimpact.demo import run_demo

        def on_step(name: str, status: str, secs: float, summary: str) -> None:
            mark = {"done": "[green]✓[/]", "skipped": "[yellow]–[/]"}.get(status, "[red]✗[/]")
            err.print(f"{mark} {name} [dim]({secs:.1f} s)[/]: {summary}", highlight=False)

        with handle_errors():
            if err.is_terminal:
                with err.status("realimpact demo: working...", spinner="dots"):
                    result = run_demo(out_dir, store, seed=seed, on_step=on_step)
            else:
                result = run_demo(out_dir, store, seed=seed, on_step=on_step)
        emit({**result.to_dict(), "serve": serve_command(result)}, json, _render)


def serve_command(result: object) -> str:
    """The command that opens the demo city, its evaluation and public page in the web app."""
    import shlex

    store = str(result.store)  # type: ignore[attr-defined]
    cmd = f"realimpact serve --store {shlex.quote(store)}"
    results = getattr(result, "results", None)
    if results:
        cmd += f" --import-results {shlex.quote(str(results))}"
    return cmd


def _render(r: dict) -> None:
    out.print()
    out.print(f"[bold]Report:[/] {esc(r['report'])}")
    if r.get("partner_report"):
        out.print(
            f"[bold]Partner version:[/] {esc(r['partner_report'])}   "
            f"[bold]Public version:[/] {esc(r.get('public_report'))}"
        )
        out.print(
            "[dim]Each shared folder has its report.html, results.json and manifest.json "
            "(what was withheld, by rule).[/]"
        )
    out.print(f"[bold]Results:[/] {esc(r['results'])}   [bold]Store:[/] {esc(r['store'])}")
    if r["comparison"]:
        from rich.text import Text

        t = Table(title="Estimated against true effect (rate ratio in the target areas)")
        for col in ("indicator", "true", "estimated", "95% interval", "contains truth"):
            t.add_column(col, justify="left" if col == "indicator" else "right")
        for c in r["comparison"]:
            t.add_row(
                c.get("label") or c["indicator"],
                f"{c['true_rr']:.2f}",
                f"{c['estimate_rr']:.2f}",
                f"{c['ci_low']:.2f}–{c['ci_high']:.2f}",
                Text("yes", style="green") if c["covered"] else Text("no", style="red"),
            )
        out.print(t)
    bad = [s for s in r["steps"] if s["status"] != "done"]
    if bad:
        out.print(f"[yellow]{len(bad)} step(s) skipped or failed; see above.[/]")
    out.print(f"Finished in {r['seconds']:.1f} s. Open the report in a browser.")
    if r.get("serve"):
        out.print(
            "[bold]Web app:[/] " + esc(r["serve"]) + "   [dim](public page at /public;"
            " add an account first with `realimpact users add NAME --role analyst"
            " --password-stdin --store ...` to log in)[/]"
        )
