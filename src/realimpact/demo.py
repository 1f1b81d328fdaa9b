"""``run_demo``: the whole idea in one call, on a synthetic city with known truth.

simulate -> ingest -> harm index -> hot spots -> market ranking -> plan
validation -> evaluation -> Results Analysis report, then the estimated
effects set beside the true ones. Beside the analyst's ``report.html`` and
``results.json`` the demo writes the versions a partnership and the public
would be given, ``partner/`` and ``public/`` (each ``report.html``,
``results.json`` and ``manifest.json``, made by the same
:func:`realimpact.report.write_evaluation` a user calls with ``--audience``),
so the first thing a new user sees is what each audience may be shown. Each stage calls the same library function
a user would; stages whose package is not installed (or fails) are recorded
as skipped with the reason, so the demo degrades instead of dying.

The demo uses its own store (``OUT/realimpact.duckdb``) unless one is given:
synthetic records must never mix with a user's real data.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realimpact._progress import ProgressFn
from realimpact.errors import InputError

# on_step(name, status, seconds, summary): status is "done", "skipped" or "failed"
StepFn = Callable[[str, str, float, str], None]
DEMO_SEED = 1


@dataclass
class DemoResult:
    """What the demo did and where it put things.

    Attributes
    ----------
    out_dir, store : folders and files used.
    report, results : paths of the analyst's report.html and results.json.
    partner_report, public_report : partner/report.html and public/report.html (each folder
        also has its results.json and manifest.json: what was withheld, by rule).
    steps : [{name, status, seconds, summary}] in order.
    comparison : [{indicator, label, true_rr, estimate_rr, ci_low, ci_high, covered}] per
        outcome indicator with a known truth.
    seconds : wall time of the whole run.
    """

    out_dir: Path
    store: Path
    report: Path | None = None
    partner_report: Path | None = None
    public_report: Path | None = None
    results: Path | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    comparison: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "store": str(self.store),
            "report": str(self.report) if self.report else None,
            "partner_report": str(self.partner_report) if self.partner_report else None,
            "public_report": str(self.public_report) if self.public_report else None,
            "results": str(self.results) if self.results else None,
            "steps": self.steps,
            "comparison": self.comparison,
            "seconds": round(self.seconds, 2),
        }


class _Stages:
    """Runs named stages, timing each and turning a missing package into 'skipped'."""

    def __init__(
        self, result: DemoResult, total: int, progress: ProgressFn | None, on_step: StepFn | None
    ) -> None:
        self.result, self.total, self.progress, self.on_step = result, total, progress, on_step

    def run(self, name: str, fn: Callable[[], str], *, required: bool = False) -> bool:
        t0 = time.perf_counter()
        try:
            summary, status = fn(), "done"
        except (ImportError, AttributeError) as e:
            if required:
                raise
            summary, status = f"not available in this installation ({e})", "skipped"
        except Exception as e:
            if required:
                raise
            summary, status = f"{type(e).__name__}: {e}".splitlines()[0], "failed"
        secs = time.perf_counter() - t0
        self.result.steps.append(
            {"name": name, "status": status, "seconds": round(secs, 2), "summary": summary}
        )
        if self.progress:
            self.progress("demo", 1, self.total)
        if self.on_step:
            self.on_step(name, status, secs, summary)
        return status == "done"


def run_demo(
    out_dir: str | Path = "realimpact-demo",
    store: str | Path | None = None,
    progress: ProgressFn | None = None,
    *,
    seed: int = DEMO_SEED,
    on_step: StepFn | None = None,
    n_areas: int = 120,
) -> DemoResult:
    """Run the whole pipeline on a fresh synthetic city; return paths and the comparison.

    ``store`` defaults to ``out_dir/realimpact.duckdb``, recreated on every run
    so the demo always starts clean; a store you name is used as it is.
    """
    from realimpact.simulate import SimulationParams, simulate_city
    from realimpact.store import open_store

    t_start = time.perf_counter()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file; give a folder (created if missing)")
    if store is not None:
        open_store(store).close()  # a bad --store fails now, not after the city is simulated
    out.mkdir(parents=True, exist_ok=True)
    store_path = Path(store) if store is not None else out / "realimpact.duckdb"
    if store is None:
        for p in (store_path, store_path.with_name(store_path.name + ".wal")):
            p.unlink(missing_ok=True)
    res = DemoResult(out_dir=out, store=store_path)
    st_ = _Stages(res, 9, progress, on_step)
    ctx: dict[str, Any] = {}

    def simulate() -> str:
        sim = simulate_city(out / "data", SimulationParams(seed=seed, n_areas=n_areas))
        ctx["sim"] = sim
        t = sim.truth
        return (
            f"{t['city']['n_areas']} areas, {t['city']['population']:,} residents, "
            f"{sim.counts['street']:,} street crimes and {sim.counts['stop_and_search']:,} "
            f"searches over {t['params']['months']} months"
        )

    st_.run("simulate a city with known truth", simulate, required=True)
    sim = ctx["sim"]
    stor = open_store(store_path)
    try:
        _pipeline(st_, stor, sim, out, ctx, res)
    finally:
        stor.close()
    res.seconds = time.perf_counter() - t_start
    return res


def _pipeline(
    st_: _Stages, stor: Any, sim: Any, out: Path, ctx: dict[str, Any], res: DemoResult
) -> None:
    truth = sim.truth
    win = truth["windows"]

    def ingest() -> str:
        from realimpact.sources.police_uk import ingest_police_uk

        r = ingest_police_uk([sim.out_dir / "street", sim.out_dir / "stop_and_search"], stor)
        bad = [f for f in r.files if getattr(f, "error", None)]
        if bad:
            raise RuntimeError(bad[0].error)
        parts = [f"{len(r.files)} police.uk files"]
        try:
            from realimpact.geo.areas import ingest_boundaries

            b = ingest_boundaries(
                sim.files["boundaries"][0],
                stor,
                layer="lsoa",
                id_field="LSOA11CD",
                name_field="LSOA11NM",
            )
            parts.append(f"{b['n_areas']} boundaries")
        except ImportError:
            parts.append("no boundaries (geo not installed)")
        try:
            from realimpact.sources.population import ingest_population

            ingest_population(
                sim.files["population"][0],
                stor,
                layer="lsoa",
                id_field="area_id",
                value_field="population",
            )
            parts.append("population")
        except ImportError:
            pass
        n = stor.scalar("SELECT count(*) FROM crimes")
        return f"{', '.join(parts)}; {n:,} crimes in the store"

    st_.run("ingest police.uk files, boundaries, population", ingest, required=True)

    def harm() -> str:
        from realimpact.harm import harm_index

        df = harm_index(
            stor,
            layer="lsoa",
            period="month",
            weights="cchi",
            month_from=win["baseline"]["from"],
            month_to=win["baseline"]["to"],
        )
        per_area = df.groupby("area_id")["harm"].sum().sort_values(ascending=False)
        ctx["harm"] = per_area
        target = set(truth["operation"]["areas"]["target"])
        top10 = list(per_area.index[:10])
        return (
            f"baseline harm (CCHI days) by area: {sum(a in target for a in top10)} of the "
            f"top 10 areas are in the operation's target"
        )

    st_.run("harm index", harm)

    def hotspots() -> str:
        from realimpact.geo.areas import load_layer
        from realimpact.geo.weights import build_weights
        from realimpact.hotspots.gi import GiStar

        layer = load_layer(stor, "lsoa")
        values = ctx["harm"].reindex(layer["area_id"]).fillna(0.0)
        w = build_weights(layer["area_id"].tolist(), layer["geometry"].tolist(), "queen")
        gi = GiStar(values.to_numpy(), w, permutations=999, seed=0)
        hot = {
            str(a)
            for a, c in zip(gi.ids, gi.hotspot_class, strict=True)
            if str(c).startswith("hot")
        }
        ctx["layer"] = layer
        target = set(truth["operation"]["areas"]["target"])
        return (
            f"Gi* on baseline harm, queen contiguity, 999 permutations, FDR: {len(hot)} "
            f"hot spot areas (90% or more), {len(hot & target)} of them in the target"
        )

    st_.run("harm hot spots (Gi*)", hotspots)

    def markets() -> str:
        from realimpact.markets.ranking import rank
        from realimpact.markets.registry import import_registry

        import_registry(stor, sim.files["markets"][0])
        r = rank(stor, sensitivity=False)
        items = r.get("ranked") or r.get("items") or r.get("ranking") or []
        top = items[0]["id"] if items else "none"
        truth_top = truth["operation"]["market_id"]
        return (
            f"{len(truth['markets'])} markets imported; ranked first: {top} "
            f"(the operation's market: {truth_top})"
        )

    st_.run("market registry and priority ranking", markets)

    def validate() -> str:
        from realimpact.plans.validate import validate_plan

        v = validate_plan(sim.plan_path, stor)
        ctx["validation"] = v
        return f"plan {v.plan_id}: {len(v.errors)} errors, {len(v.warnings)} warnings" + (
            f" (first: {v.errors[0].field}: {v.errors[0].message})" if v.errors else ""
        )

    st_.run("validate the operation plan", validate)

    def evaluate() -> str:
        import pandas as pd

        from realimpact.evaluation.engine import evaluate as _evaluate

        surveys = {p.stem.removeprefix("survey-"): pd.read_csv(p) for p in sim.files["survey"]}
        ev = _evaluate(sim.plan_path, stor, surveys=surveys)
        ctx["results"] = ev.to_dict()
        n_out = sum(1 for i in ev.indicators if i.kind == "outcome")
        changed = sum(
            1 for i in ev.indicators if i.verdict and i.verdict["change"] in ("fell", "rose")
        )
        return f"{len(ev.indicators)} indicators ({n_out} outcomes, {changed} with a clear change)"

    st_.run("evaluate (WDQ, WDD, DiD, ITS, surveys, net harm)", evaluate)

    def report() -> str:
        from realimpact.report import write_evaluation

        results = ctx.get("results")
        if results is None:
            raise RuntimeError("no evaluation results to report")
        extras = {"truth": truth}  # the analyst's page only: shared renders drop it
        files = write_evaluation(results, out, "analyst", extras=extras)
        res.results, res.report = Path(files["results"]), Path(files["report"])
        withheld = {}
        for audience in ("partner", "public"):
            shared = write_evaluation(results, out / audience, audience, extras=extras)
            setattr(res, f"{audience}_report", Path(shared["report"]))
            w = json.loads(Path(shared["manifest"]).read_text("utf-8"))["withheld"]
            withheld[audience] = sum(
                w.get(k, 0) for k in ("primary", "secondary", "masked", "derived")
            )
        return (
            f"results.json and {res.report.name} (analyst); partner/ and public/ with "
            f"report.html, results.json, manifest.json ({withheld['partner']} and "
            f"{withheld['public']} figures withheld)"
        )

    st_.run("write the Results Analysis report", report)

    def compare() -> str:
        res.comparison = compare_with_truth(ctx.get("results") or {}, truth)
        if not res.comparison:
            raise RuntimeError("no outcome estimates to compare")
        hit = sum(1 for c in res.comparison if c["covered"])
        return f"{hit} of {len(res.comparison)} 95% intervals contain the true effect"

    st_.run("compare estimates with the truth", compare)


def compare_with_truth(results: dict[str, Any], truth: dict[str, Any]) -> list[dict[str, Any]]:
    """Estimated DiD rate ratio beside the true one, for each outcome indicator."""
    out = []
    tind = truth.get("indicators", {})
    for ind in results.get("indicators", []):
        did = ind.get("did") or {}
        tid = ind.get("id")
        if ind.get("kind") != "outcome" or tid not in tind or "estimate" not in did:
            continue
        true_rr = float(tind[tid]["rate_ratio"])
        lo, hi = math.exp(did["ci_low"]), math.exp(did["ci_high"])
        out.append(
            {
                "indicator": tid,
                "label": ind.get("label") or tid,
                "crime_types": tind[tid].get("crime_types"),
                "true_rr": true_rr,
                "estimate_rr": math.exp(did["estimate"]),
                "ci_low": lo,
                "ci_high": hi,
                "p": did.get("p"),
                "covered": lo <= true_rr <= hi,
            }
        )
    return out
