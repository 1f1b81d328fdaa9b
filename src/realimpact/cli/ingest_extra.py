"""`realimpact ingest population` and `realimpact ingest partner`.

Registered on the lead's ``ingest`` group by :func:`register_ingest`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from realimpact.cli._common import JsonOpt, StoreOpt, emit, esc, handle_errors, out


def register_ingest(grp: typer.Typer) -> None:
    @grp.command("population")
    def population(
        path: Annotated[Path, typer.Argument(help="CSV with one row per area.")],
        layer: Annotated[
            str, typer.Option("--layer", help="Area layer the ids belong to.")
        ] = "lsoa",
        id_field: Annotated[str, typer.Option("--id-field", help="Column with area ids.")] = ...,
        value_field: Annotated[
            str, typer.Option("--value-field", help="Column with resident counts.")
        ] = ...,
        store: StoreOpt = None,
        json: JsonOpt = False,
    ) -> None:
        """Load resident population per area, for rates per 1,000 residents.

        Replaces the layer's previous population; reports how many areas matched.
        """
        from realimpact.sources.population import ingest_population

        with handle_errors():
            result = ingest_population(
                path, store, layer=layer, id_field=id_field, value_field=value_field
            )
        emit(result, json, _render_population)

    @grp.command("partner")
    def partner(
        path: Annotated[
            Path, typer.Argument(help="Partner CSV (deaths, treatment, call-outs, survey).")
        ],
        spec: Annotated[Path | None, typer.Option("--spec", help="Mapping spec YAML.")] = None,
        indicator: Annotated[
            str | None, typer.Option("--indicator", help="Indicator name (constant).")
        ] = None,
        indicator_field: Annotated[
            str | None, typer.Option("--indicator-field", help="Column naming the indicator.")
        ] = None,
        value_field: Annotated[
            str | None, typer.Option("--value-field", help="Column with values.")
        ] = None,
        period_field: Annotated[
            str | None, typer.Option("--period-field", help="Column with YYYY-MM / YYYY-Qn / YYYY.")
        ] = None,
        layer: Annotated[str | None, typer.Option("--layer", help="Layer of the area ids.")] = None,
        area_field: Annotated[
            str | None, typer.Option("--area-field", help="Column with area ids.")
        ] = None,
        lon_field: Annotated[
            str | None, typer.Option("--lon-field", help="Column with longitude.")
        ] = None,
        lat_field: Annotated[
            str | None, typer.Option("--lat-field", help="Column with latitude.")
        ] = None,
        source: Annotated[
            str | None, typer.Option("--source", help="Who supplied the data.")
        ] = None,
        store: StoreOpt = None,
        json: JsonOpt = False,
    ) -> None:
        """Load partner indicators (drug deaths, treatment, call-outs ...) by a mapping spec.

        Rows: area or point, period, indicator, value, source. All rows land or
        none; re-ingesting the same file with the same spec adds nothing.
        """
        from realimpact.sources.partner import ingest_partner, read_spec

        with handle_errors():
            s = read_spec(
                spec,
                indicator=indicator,
                indicator_field=indicator_field,
                value_field=value_field,
                period_field=period_field,
                layer=layer,
                area_field=area_field,
                lon_field=lon_field,
                lat_field=lat_field,
                source=source,
            )
            result = ingest_partner(path, store, spec=s)
        emit(result, json, _render_partner)


def _render_population(r: dict[str, Any]) -> None:
    out.print(
        f"population for layer [bold]{esc(r['layer'])}[/]: {r['areas']:,} areas,"
        f" {r['total']:,.0f} residents from {esc(r['source'])}"
    )
    m = r.get("match") or {}
    if m:
        out.print(f"matched {m['areas_matched']:,} of {m['areas']:,} {m['basis']}")
        if m.get("note") and m["areas_matched"] < m["areas"]:
            out.print(m["note"])
    _render_common(r)


def _render_partner(r: dict[str, Any]) -> None:
    if r["status"] == "already_present":
        out.print(f"{esc(r['path'])}: already present with this spec; nothing added")
        return
    out.print(
        f"{esc(r['path'])}: {r['rows_inserted']:,} rows ({esc(', '.join(r['indicators']))},"
        f" {r['periods'][0]}..{r['periods'][1]});"
        f" {r['rows_skipped_missing']:,} missing values skipped"
    )
    shared = r.get("rows_sharing_a_key") or {}
    if shared:
        lines = ", ".join(map(str, shared["first_lines"]))
        out.print(
            f"[yellow]note:[/] {shared['rows']:,} rows share an area (or point), period,"
            f" indicator and source with another (lines {lines}, ...); their values add up"
        )
    _render_common(r)


def _render_common(r: dict[str, Any]) -> None:
    """What both readers report beside the rows: skipped blank rows, unknown ids, notes."""
    if r.get("blank_rows_skipped"):
        out.print(f"{r['blank_rows_skipped']:,} blank rows skipped")
    unknown = r.get("ids_not_in_layer") or {}
    if unknown:
        eg = ", ".join(repr(x) for x in unknown["examples"])
        out.print(
            f"[yellow]note:[/] {unknown['unknown']:,} ids are not areas of layer"
            f" {esc(str(r['layer']))} (e.g. {esc(eg)}); they get no value there"
        )
    for n in r.get("notes") or []:
        out.print(f"[yellow]note:[/] {esc(n)}")
