"""`realimpact simulate`: write a synthetic city with known truth in the real formats."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from realimpact.cli._common import JsonOpt, emit, handle_errors, out


def _parse_effects(values: list[str], option: str) -> dict[str, float]:
    from realimpact.errors import ValidationError

    res: dict[str, float] = {}
    for v in values:
        name, sep, num = v.rpartition("=")
        if not sep:
            raise ValidationError(f"{option}: {v!r} is not CRIME TYPE=RATIO (e.g. 'Robbery=0.8')")
        try:
            res[name.strip()] = float(num)
        except ValueError:
            raise ValidationError(f"{option}: {num!r} in {v!r} is not a number") from None
    return res


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate(
        out_dir: Annotated[
            Path, typer.Option("--out", help="Folder to write (created if missing).")
        ] = Path("synthton"),
        seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 42,
        areas: Annotated[
            int, typer.Option("--areas", help="LSOA-like areas (~1,550 residents each).")
        ] = 120,
        months: Annotated[int, typer.Option(help="Months of records.")] = 30,
        start: Annotated[str, typer.Option(help="First month of records (YYYY-MM).")] = "2022-01",
        op_start: Annotated[str, typer.Option(help="First month of the operation.")] = "2024-01",
        op_months: Annotated[int, typer.Option(help="Months the operation runs.")] = 6,
        effect: Annotated[
            list[str] | None,
            typer.Option(help="True rate ratio in the target, 'TYPE=RATIO' (repeatable)."),
        ] = None,
        buffer_effect: Annotated[
            list[str] | None,
            typer.Option(help="True rate ratio in the buffer, 'TYPE=RATIO' (repeatable)."),
        ] = None,
        no_effect: Annotated[
            bool, typer.Option(help="Set every true effect to 1 (null operation).")
        ] = False,
        displacement: Annotated[
            str, typer.Option(help="displacement | diffusion | none (buffer response).")
        ] = "displacement",
        dispersion: Annotated[
            float, typer.Option(help="Gamma shape of area-month overdispersion; 0 = Poisson.")
        ] = 12.0,
        json: JsonOpt = False,
    ) -> None:
        """Simulate a city with drug markets and one operation whose true effect is known.

        Writes police.uk street and stop-and-search CSVs, a boundaries GeoPackage
        (EPSG:27700), population and survey CSVs, markets.yaml, plan.yaml and
        truth.json under --out.
        """
        from realimpact._progress import rich_progress
        from realimpact.cli._common import progress_enabled
        from realimpact.simulate import SimulationParams, simulate_city
        from realimpact.simulate.params import DEFAULT_BUFFER, DEFAULT_EFFECTS

        with handle_errors():
            effects = dict(DEFAULT_EFFECTS)
            effects.update(_parse_effects(effect or [], "--effect"))
            buffers = dict(DEFAULT_BUFFER)
            buffers.update(_parse_effects(buffer_effect or [], "--buffer-effect"))
            if no_effect:
                effects, buffers = {}, {}
            params = SimulationParams(
                seed=seed,
                n_areas=areas,
                months=months,
                start=start,
                op_start=op_start,
                op_months=op_months,
                effects=effects,
                buffer_effects=buffers,
                displacement=displacement,
                dispersion=dispersion or None,
            )
            with rich_progress(progress_enabled()) as progress:
                result = simulate_city(out_dir, params, progress=progress)
        emit(result.to_dict(), json, _render)


def _render(result: dict) -> None:
    c = result["counts"]
    out.print(
        f"wrote [bold]{result['out_dir']}[/]: {c['street']:,} street rows, "
        f"{c['stop_and_search']:,} stop and search rows, {c['survey']:,} survey rows"
    )
    out.print(f"plan  {result['plan']}")
    out.print(f"truth {result['truth']}")
