"""A synthetic city with known truth, written in the real input formats.

``simulate_city(out_dir, params)`` lays out LSOA-like areas, drug markets,
14 police.uk crime types, stop and search, a community survey and one
harm-focused operation whose true effect on every crime type is known, then
writes them as police.uk CSVs, a boundaries GeoPackage, a survey CSV, an
operation plan and ``truth.json``. Because the files are in the real formats
they go through the same ingest and evaluation as real data; because the truth
is known, the estimators can be checked against it (``benchmarks/validation.py``).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from realimpact._progress import ProgressFn
from realimpact.errors import ValidationError
from realimpact.periods import check_month
from realimpact.simulate.params import CRIME_TYPES, SimulationParams


@dataclass
class SimulationResult:
    """Where the files went and what the truth is.

    Attributes
    ----------
    out_dir : the folder written.
    files : role -> list of paths (street, stop_and_search, boundaries, survey,
        population, markets, plan, truth).
    truth : the content of ``truth.json``.
    counts : rows written per kind (street, stop_and_search, survey).
    """

    out_dir: Path
    files: dict[str, list[Path]] = field(default_factory=dict)
    truth: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def plan_path(self) -> Path:
        return self.files["plan"][0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "files": {k: [str(p) for p in v] for k, v in self.files.items()},
            "counts": self.counts,
            "plan": str(self.plan_path),
            "truth": str(self.files["truth"][0]),
        }


def _check(params: SimulationParams) -> None:
    import pandas as pd

    # Messages name the CLI flags; each maps one-to-one to a SimulationParams field.
    start = pd.Period(check_month(params.start, "--start"), freq="M")
    op = pd.Period(check_month(params.op_start, "--op-start"), freq="M")
    if params.displacement not in ("displacement", "diffusion", "none"):
        raise ValidationError(
            f"--displacement: {params.displacement!r} is not one of displacement, diffusion, none"
        )
    if params.months < 6:
        raise ValidationError("--months: at least 6 months of records are needed")
    first_base = op - params.baseline_months
    last = start + params.months - 1
    if first_base < start:
        raise ValidationError(
            f"--op-start: baseline of {params.baseline_months} months would start {first_base}, "
            f"before the records start ({start})"
        )
    if op + params.op_months - 1 > last:
        raise ValidationError(f"--op-months: operation would run past the last month ({last})")
    for field_name, effects in (
        ("--effect", params.effects),
        ("--buffer-effect", params.buffer_effects),
    ):
        for name, v in effects.items():
            if name not in CRIME_TYPES:
                raise ValidationError(f"{field_name}: {name!r} is not a police.uk crime type")
            if not (isinstance(v, int | float) and v > 0 and math.isfinite(v)):
                raise ValidationError(f"{field_name}: {name} rate ratio must be positive, got {v}")
    if params.dispersion is not None and params.dispersion <= 0:
        raise ValidationError("--dispersion: must be positive (0 for Poisson)")


def simulate_city(
    out_dir: str | Path,
    params: SimulationParams | None = None,
    progress: ProgressFn | None = None,
    **overrides: Any,
) -> SimulationResult:
    """Simulate a city and write it under ``out_dir``; return paths and truth.

    Same ``params`` (seed included) -> byte-identical files.
    """
    from realimpact.geo.crs import to_wgs84
    from realimpact.simulate import city as city_mod
    from realimpact.simulate import crimes, markets, plan, truth, writer

    params = replace(params or SimulationParams(), **overrides)
    _check(params)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValidationError(f"--out {out}: is a file; give a folder (created if missing)")
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(params.seed)
    step = _stepper(progress, 7)

    city = city_mod.build_city(params, rng)
    mkts = markets.place_markets(city, params, rng)
    mw = markets.market_weights(city, mkts)
    op_market = mkts[0]
    roles = city_mod.choose_roles(city, (op_market.easting, op_market.northing), params)
    step("simulate: city and markets")

    exp = crimes.expected_counts(city, params, mw, roles, rng)
    counts = crimes.draw_counts(exp.mu, params.dispersion, rng)
    rows = crimes.crime_rows(counts, exp, city, rng)
    st = rows["street"].to_numpy()
    rows["location"] = np.where(st >= 0, city.streets["location"].to_numpy()[np.maximum(st, 0)], "")
    s_mu, s_mu0 = crimes.expected_searches(city, params, mw, exp)
    s_counts = rng.poisson(s_mu)
    s_rows = crimes.search_rows(s_counts, exp, city, rng, plan.OPERATION_NAME)
    survey = crimes.survey_rows(city, params, roles, rng)
    step("simulate: crimes, searches, survey")

    lonlat = to_wgs84(city.streets["easting"].to_numpy(), city.streets["northing"].to_numpy())
    slug = params.city_name.lower()
    force = f"{params.city_name} Police"
    files: dict[str, list[Path]] = {}
    files["street"] = writer.write_street(rows, city.areas, lonlat, force, slug, out)
    step("simulate: street files")
    files["stop_and_search"] = writer.write_searches(s_rows, lonlat, slug, exp.months, out)
    step("simulate: stop and search files")
    files["boundaries"] = [
        writer.write_boundaries(city.areas, out / "boundaries" / f"{slug}_lsoa.gpkg")
    ]
    pop = city.areas[["area_id", "population"]]
    files["population"] = [out / "population.csv"]
    writer.write_csv(pop, files["population"][0])
    files["survey"] = []
    for name, part in survey.groupby("survey", sort=True):
        path = out / f"survey-{name}.csv"
        writer.write_csv(part.drop(columns="survey"), path)
        files["survey"].append(path)
    step("simulate: boundaries, population, survey")

    ids = city.areas["area_id"].to_numpy()
    role_ids = {r: [str(ids[i]) for i in v] for r, v in roles.items()}
    market_docs = [m.to_dict(str(ids[m.area_idx])) for m in mkts]
    win = truth.windows(params)
    assessed = f"{win['baseline']['to']}-28"
    files["markets"] = [
        writer.write_yaml(
            markets.registry_document(city, mkts, assessed, exp.months[0]),
            out / "markets.yaml",
            header=f"# Drug markets of the synthetic city {params.city_name} (seed {params.seed}).\n"
            "# Import: realimpact markets import markets.yaml\n",
        )
    ]
    plan_doc = plan.build_plan(params, role_ids, op_market.market_id, win)
    files["plan"] = [
        writer.write_yaml(
            plan_doc,
            out / "plan.yaml",
            header="# Operation plan written before the operation (realimpact simulate).\n"
            "# Validate: realimpact plan validate plan.yaml\n",
        )
    ]
    step("simulate: markets and plan")

    t = truth.build_truth(params, exp, s_mu, s_mu0, plan.crime_indicators())
    doc: dict[str, Any] = {
        "generator": "realimpact.simulate",
        "seed": params.seed,
        "params": params.to_dict(),
        "city": {
            "name": params.city_name,
            "force": force,
            "n_areas": city.n_areas,
            "population": int(city.areas["population"].sum()),
            "months": {"from": exp.months[0], "to": exp.months[-1]},
            "crs": "EPSG:27700",
        },
        "operation": {
            "plan_id": plan_doc["id"],
            "name": plan.OPERATION_NAME,
            "market_id": op_market.market_id,
            "start": plan_doc["start"],
            "end": plan_doc["end"],
            "areas": role_ids,
        },
        **t,
        "markets": market_docs,
        "rows": {
            "street": len(rows),
            "street_unlocated": int((rows["area_idx"] < 0).sum()),
            "stop_and_search": len(s_rows),
            "survey": len(survey),
        },
        "files": {k: [str(p.relative_to(out)) for p in v] for k, v in files.items()},
    }
    files["truth"] = [writer.write_json(_round(doc), out / "truth.json")]
    step("simulate: truth")
    return SimulationResult(
        out_dir=out,
        files=files,
        truth=doc,
        counts={"street": len(rows), "stop_and_search": len(s_rows), "survey": len(survey)},
    )


@dataclass
class SimulatedCounts:
    """Area-month counts held in memory (no files): for estimator studies.

    Attributes
    ----------
    counts : DataFrame area_id, month, crime_type, n (every area, month and type).
    roles : role -> area ids (target, buffer, control).
    months : every month simulated. op_start : first operation month.
    truth : per crime type, {rate_ratio, buffer_rate_ratio, expected{role{before, after}}}.
    """

    counts: Any
    roles: dict[str, list[str]]
    months: list[str]
    op_start: str
    truth: dict[str, Any]


def simulate_counts(params: SimulationParams | None = None, **overrides: Any) -> SimulatedCounts:
    """Draw the same city and counts as :func:`simulate_city`, without writing anything.

    The draws follow the same order, so for equal params the counts equal the
    located street rows that :func:`simulate_city` writes, area by area.
    """
    import pandas as pd

    from realimpact.simulate import city as city_mod
    from realimpact.simulate import crimes, markets

    params = replace(params or SimulationParams(), **overrides)
    _check(params)
    rng = np.random.default_rng(params.seed)
    city = city_mod.build_city(params, rng)
    mkts = markets.place_markets(city, params, rng)
    mw = markets.market_weights(city, mkts)
    roles = city_mod.choose_roles(city, (mkts[0].easting, mkts[0].northing), params)
    exp = crimes.expected_counts(city, params, mw, roles, rng)
    y = crimes.draw_counts(exp.mu, params.dispersion, rng)
    ids = city.areas["area_id"].to_numpy()
    a, t, c = np.indices(y.shape)
    counts = pd.DataFrame(
        {
            "area_id": ids[a.ravel()],
            "month": np.array(exp.months)[t.ravel()],
            "crime_type": np.array(CRIME_TYPES)[c.ravel()],
            "n": y.ravel(),
        }
    )
    from realimpact.simulate import truth as truth_mod

    no_search = np.zeros(exp.mu.shape[:2])
    t_doc = truth_mod.build_truth(params, exp, no_search, no_search, {})
    return SimulatedCounts(
        counts=counts,
        roles={r: [str(ids[i]) for i in v] for r, v in roles.items()},
        months=exp.months,
        op_start=params.op_start,
        truth=t_doc["effects"],
    )


def _round(o: Any) -> Any:
    """Round floats to 10 significant digits: truth.json identical across platforms' last bits."""
    if isinstance(o, float):
        return float(f"{o:.10g}")
    if isinstance(o, dict):
        return {k: _round(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_round(v) for v in o]
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(f"{float(o):.10g}")
    return o


def _stepper(progress: ProgressFn | None, total: int):
    def step(desc: str) -> None:
        if progress:
            progress("simulate", 1, total)

    return step


def files_digest(out_dir: str | Path) -> dict[str, str]:
    """sha256 of every file under ``out_dir`` (relative path -> hex): for reproducibility checks."""
    root = Path(out_dir)
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


__all__ = [
    "CRIME_TYPES",
    "SimulatedCounts",
    "SimulationParams",
    "SimulationResult",
    "files_digest",
    "simulate_city",
    "simulate_counts",
]
