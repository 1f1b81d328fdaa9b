"""`realimpact hotspots ...`: Gi* hot spots, kernel density, emerging hot spots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from realimpact._progress import rich_progress
from realimpact.cli._common import (
    CrimeTypeOpt,
    ForceOpt,
    JsonOpt,
    LayerOpt,
    SharingConfigOpt,
    StoreOpt,
    Table,
    emit,
    esc,
    handle_errors,
    out,
    print_notes_and_outputs,
    progress_enabled,
)
from realimpact.disclosure.contract import withhold
from realimpact.periods import check_period_order

hotspots = typer.Typer(
    help="Where harm concentrates: Gi* hot spots, kernel density, emerging hot spots.",
    no_args_is_help=True,
)

WeightsOpt = Annotated[
    str | None,
    typer.Option(
        "--weights",
        help="Harm weight set (cchi, count, a stored set, or a .yaml file); default plain counts.",
    ),
]
FromOpt = Annotated[str | None, typer.Option("--period-from", help="First month, YYYY-MM.")]
ToOpt = Annotated[str | None, typer.Option("--period-to", help="Last month, YYYY-MM.")]
ContiguityOpt = Annotated[
    str,
    typer.Option("--contiguity", help="Neighbours: queen, rook, knn:K or band:METRES."),
]
TransformOpt = Annotated[
    str, typer.Option("--transform", help="Weights: B (binary) or R (row-standardised).")
]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Seed of the permutations.")]
CorrectionOpt = Annotated[
    str,
    typer.Option("--correction", help="Multiple testing: fdr_bh (default), bonferroni or none."),
]
InferenceOpt = Annotated[
    str,
    typer.Option(
        "--inference",
        help="auto (exact for counts, else permutations), exact, or permutation.",
    ),
]
MapOpt = Annotated[Path | None, typer.Option("--map", help="Also draw a PNG map here.")]
HotAudienceOpt = Annotated[
    str,
    typer.Option(
        "--audience",
        help="analyst | partner | public: what is safe to share (partner: counts below 5"
        " blanked, classes only; public: below 10, rounded to 5). See docs/sharing.md.",
    ),
]
AreasOutOpt = Annotated[
    Path | None, typer.Option("--out", help="Write areas: .geojson, .gpkg or .csv.")
]


def clean_crime_types(crime_types: list[str] | None) -> list[str] | None:
    """Each --crime-type stripped; a blank one (a space, a tab) is refused, not read as 'all'."""
    from realimpact.errors import InputError

    if not crime_types:
        return crime_types
    cleaned = [ct.strip() for ct in crime_types]
    if any(not ct for ct in cleaned):
        raise InputError("--crime-type: a crime type is blank; give one such as 'Drugs'")
    return cleaned


def check_out_file(path: Path | None, option: str = "--out") -> None:
    """A file option must name a file in an existing folder, not a folder."""
    from realimpact.errors import InputError

    if path is None:
        return
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder, expected a file name")
    if not path.resolve().parent.is_dir():
        raise InputError(f"{option} {path}: folder {path.parent} does not exist")


def _layer_info(store: Any, layer: str) -> dict | None:
    """The stored layer's kind and grid cell (None when there is no such layer yet)."""
    from realimpact.store import using_store
    from realimpact.store.areas import layer_info

    with using_store(store) as st:
        return layer_info(st, layer)


def _sources(result: dict[str, Any]) -> dict[str, Any]:
    """What the manifest says of the data: source, crime types, months, force (no paths)."""
    months = result.get("periods")
    return {
        "data": ["police_uk"],
        "crime_types": result.get("crime_types"),
        "months": (
            {"from": months[0], "to": months[-1]}
            if months
            else {"from": result.get("period_from"), "to": result.get("period_to")}
        ),
        "force": result.get("force"),
        "layer": result.get("layer"),
    }


def _share(result: dict[str, Any], profile: Any, counts: Any, product: str) -> None:
    """Add the manifest to ``result`` and write one beside every written file."""
    from realimpact.disclosure.manifest import build_manifest
    from realimpact.hotspots.sharing import write_manifests

    result["audience"] = profile.name
    result["suppression_threshold"] = profile.threshold
    m = build_manifest(profile, counts, product=product, sources=_sources(result))
    result["disclosure"] = m
    if result.get("outputs"):
        # one manifest per folder written to; outputs keep one shape ({"path": ...})
        for i, path in enumerate(write_manifests(m, result["outputs"])):
            result["outputs"]["manifest" if i == 0 else f"manifest_{i + 1}"] = {"path": path}


def _how(r: dict) -> str:
    """How the p-values were obtained, in words for the console and map notes."""
    if r["inference"] == "exact":
        return "exact conditional randomisation"
    if r["inference"] == "permutation":
        return f"{r['permutations']} permutations (seed {r['seed']})"
    return "normal approximation"


def _class_table(counts: dict[str, int], title: str) -> Table:
    t = Table("class", "areas", title=title)
    for k, v in counts.items():
        if v:
            t.add_row(k, f"{v:,}")
    return t


@hotspots.command("gi")
def gi(
    layer: LayerOpt,
    crime_type: CrimeTypeOpt = None,
    weights: WeightsOpt = None,
    period_from: FromOpt = None,
    period_to: ToOpt = None,
    contiguity: ContiguityOpt = "queen",
    transform: TransformOpt = "B",
    permutations: Annotated[
        int, typer.Option("--permutations", help="Conditional permutations (0 = normal p).")
    ] = 999,
    seed: SeedOpt = None,
    correction: CorrectionOpt = "fdr_bh",
    inference: InferenceOpt = "auto",
    out_path: AreasOutOpt = None,
    map_path: MapOpt = None,
    audience: HotAudienceOpt = "analyst",
    sharing_config: SharingConfigOpt = None,
    force: ForceOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Local Getis-Ord Gi* hot spots (harm-weighted with --weights), FDR-corrected.

    With --audience partner or public it writes and prints only what is safe to
    share: hot-spot classes, counts below the threshold blanked (public: the rest
    rounded), no z-scores or p-values, no harm-weighted values, and a
    manifest.json beside every file written.
    """
    from collections import Counter

    from realimpact.disclosure.profiles import get_profile
    from realimpact.hotspots.export import write_areas
    from realimpact.hotspots.layers import hotspots_gi
    from realimpact.hotspots.maps import hotspot_map
    from realimpact.hotspots.sharing import check_layer, names_allowed

    with handle_errors(), rich_progress(progress_enabled()) as progress:
        profile = get_profile(audience, sharing_config)
        crime_type = clean_crime_types(crime_type)
        check_period_order(period_from, period_to, "--period-from", "--period-to")
        check_out_file(out_path)
        check_out_file(map_path, "--map")
        partner = profile.suppresses
        info = _layer_info(store, layer) if partner else None
        check_layer(profile, layer, info)
        res = hotspots_gi(
            store, layer, crime_types=crime_type, harm_weights=weights,
            period_from=period_from, period_to=period_to, contiguity=contiguity,
            transform=transform, permutations=permutations, seed=seed,
            correction=correction, inference=inference, progress=progress, force=force,
        )  # fmt: skip
        frame = res.to_frame()
        withheld: Counter = Counter()
        shared = (
            res.shared_frame(profile, names=names_allowed(profile, layer, info), counts=withheld)
            if partner
            else frame
        )
        result: dict[str, Any] = res.summary()
        outputs = {}
        if out_path is not None:
            outputs["out"] = write_areas(shared, out_path, layer="gi_star")
        if map_path is not None:
            p = res.gi.summary()
            note = f"Gi* ({p['transform']}, {contiguity}), p: {_how(p)}, {p['correction']}"
            # a partner map shows classes only: shading by value would rank small counts
            outputs["map"] = hotspot_map(frame["geometry"], frame["hotspot_class"], map_path,
                                         title=f"Gi* hot spots - {layer}", note=note,
                                         values=frame["value"], shade=not partner)  # fmt: skip
        top = frame[frame["hotspot_class"].str.startswith("hot")].nlargest(10, "gi_z")
        if partner:
            # the ten strongest hot spots, in area order: the z order would rank blanked counts
            rows = shared.loc[sorted(top.index)]
            result["top_hot"] = []
            for r in rows.to_dict("records"):
                row = {"area_id": str(r["area_id"]), "count": r["count"],
                       "hotspot_class": r["hotspot_class"]}  # fmt: skip
                if r["suppressed"]:
                    withhold(row, "count", small=True)
                else:
                    row["count"] = int(row["count"])
                result["top_hot"].append(row)
            # with the shown values, the total would give back the blanked ones
            withhold(result, "value_total")
            result["rows_suppressed"] = int(shared["suppressed"].sum())
        else:
            result["top_hot"] = [
                {"area_id": str(r.area_id), "value": float(r.value), "gi_z": float(r.gi_z),
                 "p_adjusted": float(r.p_adjusted), "hotspot_class": r.hotspot_class}
                for r in top.itertuples()
            ]  # fmt: skip
        result["outputs"] = outputs
        if partner:
            _share(result, profile, withheld, "hotspots gi")

    def render(r: dict) -> None:
        out.print(
            f"Gi* on layer [bold]{esc(r['layer'])}[/]: {r['n_areas']:,} areas, value = {r['value']}"
            f"{' (' + r['harm_weights'] + ')' if r['harm_weights'] else ''}, "
            f"p: {_how(r)}, {r['correction']}"
        )
        out.print(_class_table(r["classes"], "areas per class"))
        if r.get("audience", "analyst") != "analyst":
            out.print(
                f"{r['audience']} view: {r['rows_suppressed']:,} areas with counts below"
                f" {r['suppression_threshold']} blanked; no z-scores, p-values or harm values"
            )
        print_notes_and_outputs(r)

    emit(result, json, render)


@hotspots.command("kde")
def kde(
    cell: Annotated[float, typer.Option("--cell", help="Cell size in metres.")] = 50.0,
    bandwidth: Annotated[
        float | None,
        typer.Option("--bandwidth", help="Metres; default: ArcGIS Pro's automatic rule."),
    ] = None,
    kernel: Annotated[str, typer.Option("--kernel", help="quartic or gaussian.")] = "quartic",
    crime_type: CrimeTypeOpt = None,
    weights: WeightsOpt = None,
    period_from: FromOpt = None,
    period_to: ToOpt = None,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Write the grid: .tif, .asc, .geojson or .gpkg.")
    ] = None,
    map_path: MapOpt = None,
    audience: HotAudienceOpt = "analyst",
    sharing_config: SharingConfigOpt = None,
    force: ForceOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Kernel density surface of crime points (harm-weighted with --weights).

    With --audience partner or public the surface is drawn from incidents summed
    into coarse cells (partner 100 m, public 500 m) with cells below the threshold
    left out, with a bandwidth of at least 200 m (public 500 m): an exact surface
    at police.uk's public snap points solves back to every location's count.
    """
    from collections import Counter

    from realimpact.disclosure.profiles import get_profile
    from realimpact.hotspots.export import write_density
    from realimpact.hotspots.layers import hotspots_kde
    from realimpact.hotspots.maps import density_map
    from realimpact.hotspots.sharing import kde_summary

    with handle_errors():
        profile = get_profile(audience, sharing_config)
        crime_type = clean_crime_types(crime_type)
        check_period_order(period_from, period_to, "--period-from", "--period-to")
        check_out_file(out_path)
        check_out_file(map_path, "--map")
        k = hotspots_kde(
            store, crime_types=crime_type, harm_weights=weights, period_from=period_from,
            period_to=period_to, cell=cell, bandwidth=bandwidth, kernel=kernel, profile=profile,
            force=force, counts=(withheld := Counter()),
        )  # fmt: skip
        result: dict[str, Any] = {**kde_summary(k.summary(), k), "harm_weights": weights,
                                  "audience": audience, "crime_types": crime_type,
                                  "period_from": period_from, "period_to": period_to,
                                  "force": force, "outputs": {}}  # fmt: skip
        if out_path is not None:
            result["outputs"]["out"] = write_density(k, out_path)
        if map_path is not None:
            result["outputs"]["map"] = density_map(k, map_path, title="Kernel density")
        if profile.suppresses:
            _share(result, profile, withheld, "hotspots kde")

    def render(r: dict) -> None:
        n = "a protected grid of" if r["n_points"] is None else f"{r['n_points']:,}"
        out.print(
            f"{r['kernel']} KDE of {n} points: bandwidth {r['bandwidth_m']:.0f} m "
            f"({r['bandwidth_rule']}), cell {r['cell_m']:g} m, {r['rows']} x {r['columns']} cells,"
            f" max {r['max_density_per_km2']:.1f} {r['units']}"
        )
        print_notes_and_outputs(r)

    emit(result, json, render)


@hotspots.command("emerging")
def emerging(
    layer: LayerOpt,
    crime_type: CrimeTypeOpt = None,
    weights: WeightsOpt = None,
    period_from: FromOpt = None,
    period_to: ToOpt = None,
    contiguity: ContiguityOpt = "queen",
    transform: TransformOpt = "B",
    permutations: Annotated[
        int, typer.Option("--permutations", help="Permutations per month (0 = normal p).")
    ] = 999,
    seed: SeedOpt = None,
    correction: CorrectionOpt = "fdr_bh",
    inference: InferenceOpt = "auto",
    alpha: Annotated[float, typer.Option("--alpha", help="Significance of a hot month.")] = 0.05,
    out_path: AreasOutOpt = None,
    map_path: MapOpt = None,
    audience: HotAudienceOpt = "analyst",
    sharing_config: SharingConfigOpt = None,
    force: ForceOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Emerging hot spots: Gi* per month plus a Mann-Kendall trend, ESRI's categories.

    With --audience partner or public: categories, final-month bins and the number
    of hot/cold months only (a month's z-scores give its counts back), and a
    manifest.json beside every file written.
    """
    from collections import Counter

    from realimpact.disclosure.profiles import get_profile
    from realimpact.hotspots.export import write_areas
    from realimpact.hotspots.layers import hotspots_emerging
    from realimpact.hotspots.maps import hotspot_map
    from realimpact.hotspots.sharing import check_layer, emerging_frame, names_allowed

    with handle_errors(), rich_progress(progress_enabled()) as progress:
        profile = get_profile(audience, sharing_config)
        crime_type = clean_crime_types(crime_type)
        check_period_order(period_from, period_to, "--period-from", "--period-to")
        check_out_file(out_path)
        check_out_file(map_path, "--map")
        info = _layer_info(store, layer) if profile.suppresses else None
        check_layer(profile, layer, info)
        eh, areas, params = hotspots_emerging(
            store, layer, crime_types=crime_type, harm_weights=weights,
            period_from=period_from, period_to=period_to, contiguity=contiguity,
            transform=transform, permutations=permutations, seed=seed,
            correction=correction, alpha=alpha, inference=inference, progress=progress,
            force=force,
        )  # fmt: skip
        frame = eh.to_frame()
        frame.insert(1, "name", areas["name"].to_numpy())
        frame["geometry"] = areas["geometry"].to_numpy()
        withheld: Counter = Counter()
        frame = emerging_frame(
            frame, profile, names=names_allowed(profile, layer, info), counts=withheld
        )
        result: dict[str, Any] = {**params, **eh.summary(), "outputs": {}}
        if out_path is not None:
            result["outputs"]["out"] = write_areas(frame, out_path, layer="emerging")
        if map_path is not None:
            result["outputs"]["map"] = hotspot_map(
                frame["geometry"], frame["category"], map_path, palette="emerging",
                title=f"Emerging hot spots - {layer} {params_period(eh)}",
                note=f"Gi* per month ({correction}, alpha {alpha}) + Mann-Kendall",
            )  # fmt: skip
        if profile.suppresses:
            _share(result, profile, withheld, "hotspots emerging")

    def render(r: dict) -> None:
        out.print(
            f"emerging hot spots on [bold]{esc(r['layer'])}[/]: {r['n_areas']:,} areas, "
            f"{r['n_periods']} months {r['periods'][0]}..{r['periods'][1]}"
        )
        out.print(_class_table(r["categories"], "areas per category"))
        print_notes_and_outputs(r)

    emit(result, json, render)


def params_period(eh: Any) -> str:
    return f"{eh.periods[0]}..{eh.periods[-1]}"


def register(app: typer.Typer) -> None:
    app.add_typer(hotspots, name="hotspots")
