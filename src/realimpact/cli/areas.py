"""`realimpact areas ...`: area layers (grids, listing)."""

from __future__ import annotations

from typing import Annotated

import typer

from realimpact.cli._common import JsonOpt, StoreOpt, Table, emit, esc, handle_errors, out

areas = typer.Typer(help="Area layers: square grids, listing.", no_args_is_help=True)


@areas.command("grid")
def grid(
    cell: Annotated[float, typer.Option("--cell", help="Cell size in metres.")],
    layer: Annotated[str, typer.Option("--layer", help="Name of the new layer, e.g. grid250.")],
    force: Annotated[
        str | None,
        typer.Option("--force", help="Cover only this force's records (e.g. 'Merseyside Police')."),
    ] = None,
    extent: Annotated[
        str | None,
        typer.Option(
            "--extent", metavar="XMIN,YMIN,XMAX,YMAX", help="Cover this box (BNG metres) instead."
        ),
    ] = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Build a square grid over the extent of the stored records."""
    from realimpact.geo.areas import build_grid, parse_extent

    with handle_errors():
        box = parse_extent(extent) if extent is not None else None
        result = build_grid(store, cell=cell, layer=layer, force=force, extent=box)

    def render(r: dict) -> None:
        out.print(
            f"layer [bold]{esc(r['layer'])}[/]: {r['n_areas']:,} cells of {r['cell_size']:g} m"
            f" ({r['columns']} x {r['rows']}) from E{r['origin'][0]:.0f} N{r['origin'][1]:.0f}"
        )
        for n in r["notes"]:
            out.print(f"[yellow]note:[/] {esc(n)}")

    emit(result, json, render)


@areas.command("list")
def list_layers(store: StoreOpt = None, json: JsonOpt = False) -> None:
    """List the area layers in the store."""
    from realimpact.store.status import store_status

    with handle_errors():
        layers = store_status(store)["layers"]

    def render(r: dict) -> None:
        t = Table("layer", "kind", "areas", "source")
        for x in r["layers"]:
            t.add_row(x["layer"], x["kind"], f"{x['n_areas']:,}", str(x.get("source") or "-"))
        out.print(t)

    emit({"layers": layers}, json, render)


def register(app: typer.Typer) -> None:
    app.add_typer(areas, name="areas")
