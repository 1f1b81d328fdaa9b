"""`realimpact status`: what the store holds."""

from __future__ import annotations

import typer
from rich.table import Table

from realimpact.cli._common import JsonOpt, StoreOpt, emit, handle_errors, out


def register(app: typer.Typer) -> None:
    @app.command("status")
    def status(store: StoreOpt = None, json: JsonOpt = False) -> None:
        """Report per table: rows, months covered, forces, source files."""
        from realimpact.store.status import store_status

        with handle_errors():
            result = store_status(store)
        emit(result, json, _render)


def _render(result: dict) -> None:
    out.print(f"store [bold]{result['store']}[/] (schema v{result['schema_version']})")
    t = Table("table", "rows", "months", "forces", "files", "quarantined")
    for name, s in result["tables"].items():
        months = f"{s['month_min']}..{s['month_max']} ({s['months']})" if s["months"] else "-"
        t.add_row(
            name,
            f"{s['rows']:,}",
            months,
            ", ".join(s["forces"]) or "-",
            str(s["files"]),
            f"{s['quarantined']:,}",
        )
    out.print(t)
    if result["layers"]:
        lt = Table("layer", "kind", "areas")
        for layer in result["layers"]:
            lt.add_row(layer["layer"], layer["kind"], f"{layer['n_areas']:,}")
        out.print(lt)
