"""`realimpact status`: what the store holds."""

from __future__ import annotations

from typing import Annotated

import typer

from realimpact.cli._common import JsonOpt, StoreOpt, Table, emit, esc, handle_errors, out


def register(app: typer.Typer) -> None:
    @app.command("status")
    def status(store: StoreOpt = None, json: JsonOpt = False) -> None:
        """Report per table: rows, months covered, forces, source files."""
        from realimpact.store.status import store_status

        with handle_errors():
            result = store_status(store)
        emit(result, json, _render)

    @app.command("quarantine")
    def quarantine(
        file: Annotated[
            str | None, typer.Option("--file", help="Only files whose path contains this text.")
        ] = None,
        limit: Annotated[int, typer.Option("--limit", help="Rows to show.")] = 50,
        store: StoreOpt = None,
        json: JsonOpt = False,
    ) -> None:
        """Show rows set aside at ingest: file, line, field, reason and the row's text."""
        from realimpact.store.status import quarantine_rows

        with handle_errors():
            result = quarantine_rows(store, file=file, limit=limit)
        emit(result, json, _render_quarantine)


def _render_quarantine(result: dict) -> None:
    if not result["total"]:
        out.print("no quarantined rows")
        return
    t = Table("kind", "field", "rows", title="quarantined rows by field")
    for r in result["by_field"]:
        t.add_row(r["kind"], r["field"], f"{r['n']:,}")
    out.print(t)
    rows = Table("file", "line", "field", "reason", "row")
    rows.columns[0].overflow = "fold"
    for r in result["rows"]:
        name = str(r["path"]).rsplit("/", 1)[-1]
        # row text is user data; Table shows it as written, "[x]" included
        rows.add_row(
            name, str(r["line"]), r["field"] or "-", r["reason"], (r["raw"] or "")[:60],
        )  # fmt: skip
    out.print(rows)
    if result["total"] > len(result["rows"]):
        out.print(f"showing {len(result['rows'])} of {result['total']:,}; use --limit or --json")


def _render(result: dict) -> None:
    out.print(f"store [bold]{esc(result['store'])}[/] (schema v{result['schema_version']})")
    t = Table("table", "rows", "months", "forces", "files", "quarantined")
    for name, s in result["tables"].items():
        months = f"{s['month_min']}..{s['month_max']} ({s['months']})" if s["months"] else "-"
        if len(s.get("by_force", [])) > 1:  # months are per force, never pooled
            months = f"{s['month_min']}..{s['month_max']} (per force below)"
        t.add_row(
            name,
            f"{s['rows']:,}",
            months,
            esc(", ".join(s["forces"])) or "-",
            str(s["files"]),
            f"{s['quarantined']:,}",
        )
    out.print(t)
    ft = Table("table", "force", "rows", "months", "missing months", title="months per force")
    for name, s in result["tables"].items():
        for f in s.get("by_force", []):
            gaps = f["missing"]
            shown = ", ".join(gaps[:4]) + (f" and {len(gaps) - 4} more" if len(gaps) > 4 else "")
            ft.add_row(
                name,
                esc(f["force"]),
                f"{f['rows']:,}",
                f"{f['month_min']}..{f['month_max']} ({f['months']})",
                shown or "-",
            )
    if ft.row_count:
        out.print(ft)
    if result["layers"]:
        lt = Table("layer", "kind", "areas")
        for layer in result["layers"]:
            lt.add_row(layer["layer"], layer["kind"], f"{layer['n_areas']:,}")
        out.print(lt)
