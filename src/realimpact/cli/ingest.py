"""`realimpact ingest ...`: bring files into the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from realimpact._progress import rich_progress
from realimpact.cli._common import (
    JsonOpt,
    StoreOpt,
    Table,
    emit,
    esc,
    handle_errors,
    out,
    print_error,
    progress_enabled,
)

ingest = typer.Typer(help="Bring police.uk files, boundaries and partner data into the store.",
                     no_args_is_help=True)  # fmt: skip


@ingest.command("police-uk")
def police_uk(
    paths: Annotated[list[Path], typer.Argument(help="CSV files, folders (recursive) or zips.")],
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Ingest data.police.uk street, stop-and-search and outcomes CSVs (kind read from the header).

    Every row is stored or quarantined with its line and reason; re-ingesting
    the same file adds nothing. Exit code 2 if any file was rejected.
    """
    from realimpact.sources.police_uk import ingest_police_uk

    with handle_errors(), rich_progress(progress_enabled()) as progress:
        result = ingest_police_uk(paths, store, progress=progress)
    for f in result.files:
        if f.error:
            print_error(f.error)
    emit(result.to_dict(), json, _render_police_uk)
    if not result.ok:
        raise typer.Exit(2)


def _render_police_uk(result: dict) -> None:
    t = Table()
    t.add_column("file", overflow="fold")
    t.add_column("kind")
    t.add_column("status")
    for name in ("read", "inserted", "quarantined"):
        t.add_column(name, justify="right")
    for f in result["files"]:
        style = {"ingested": "green", "already_present": "yellow"}.get(f["status"], "red")
        t.add_row(
            Path(f["path"]).name if "!" not in f["path"] else f["path"].split("!")[-1],
            f["kind"] or "-",
            Text(f["status"], style=style),
            f"{f['rows_read']:,}",
            f"{f['rows_inserted']:,}",
            f"{f['rows_quarantined']:,}",
        )
    tot = result["totals"]
    t.add_section()
    t.add_row(
        "total", "", f"{tot['files_rejected']} rejected", f"{tot['rows_read']:,}",
        f"{tot['rows_inserted']:,}", f"{tot['rows_quarantined']:,}",
    )  # fmt: skip
    out.print(t)


@ingest.command("boundaries")
def boundaries(
    path: Annotated[Path, typer.Argument(help="Shapefile, GeoJSON or GeoPackage of polygons.")],
    layer: Annotated[str, typer.Option("--layer", help="Name of the area layer (e.g. lsoa).")],
    id_field: Annotated[str | None, typer.Option("--id-field", help="Field with area ids.")] = None,
    name_field: Annotated[
        str | None, typer.Option("--name-field", help="Field with area names.")
    ] = None,
    crs: Annotated[
        str | None,
        typer.Option(
            "--crs", help="CRS of the file when it has none or a wrong one, e.g. EPSG:27700."
        ),
    ] = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Load polygons as an area layer, reprojected to British National Grid.

    The whole file is checked before the store is touched: a refused file
    (no CRS, metres labelled as degrees, areas outside the UK, a feature with
    no area) leaves the layer already stored as it was.
    """
    from realimpact.geo.areas import ingest_boundaries

    with handle_errors():
        result = ingest_boundaries(
            path, store, layer=layer, id_field=id_field, name_field=name_field, crs=crs
        )

    def show(r: dict) -> None:
        out.print(
            f"layer [bold]{esc(r['layer'])}[/]: {r['n_areas']:,} areas"
            f" ({r['total_area_km2']:.1f} km²) from {esc(r['source'])}"
            f" (id field {esc(r['id_field'])})"
        )
        for n in r.get("notes", []):
            out.print(f"[yellow]note:[/] {esc(n)}")

    emit(result, json, show)


def register(app: typer.Typer) -> None:
    try:
        from realimpact.cli.ingest_extra import register_ingest
    except ModuleNotFoundError as e:
        if e.name != "realimpact.cli.ingest_extra":
            raise
    else:
        register_ingest(ingest)
    app.add_typer(ingest, name="ingest")
