"""Benchmark: what disclosure control costs, analyst against partner against public.

Issue 12's target: suppression adds under 10% to the run time of
``harm index`` and ``evaluate`` on the Merseyside data. One run prints, for
each audience, the wall time of

* ``harm index`` by LSOA and month (``realimpact.harm.sharing.shared_harm_index``,
  what ``realimpact harm index --audience A`` calls), and
* ``evaluate`` of the illustrative Liverpool plan: the evaluation plus
  ``write_evaluation(..., audience=A)`` (results.json, report.html and, when
  shared, the protected results and manifest.json), what
  ``realimpact evaluate PLAN --audience A --out DIR`` does,

each the median of 3 in-process runs after one warm-up (the audiences taking
turns, so a change in the machine's load falls on all alike), and the ratio to
the analyst's time; the fastest run of each is printed below it. The store is built once in a temporary folder from the real
Merseyside street files of both data trees and the Merseyside 2011 LSOA
boundaries (read in place).

    python benchmarks/disclosure.py [--repeat 3] [--store PATH] [--profile harm|evaluate]

``--profile`` runs cProfile on the partner run of one product and prints the
top functions, to see where the disclosure step spends its time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
if not SHARED.is_dir():
    SHARED = Path("/work/shared")
DATA = SHARED / "data"
REPO = Path(__file__).resolve().parents[1]
PLAN = REPO / "examples" / "plans" / "liverpool-city-centre-illustrative.yaml"
AUDIENCES = ("analyst", "partner", "public")
TARGET = 1.10


def street_dirs() -> list[Path]:
    dirs = [DATA / "police_uk" / "merseyside"]
    more = DATA / "police_uk_more" / "merseyside"
    if more.is_dir():
        dirs.append(more)
    return dirs


def build(path: Path) -> None:
    from realimpact.geo.areas import ingest_boundaries
    from realimpact.sources.police_uk import ingest_police_uk
    from realimpact.store import Store

    with Store(path) as st:
        res = ingest_police_uk(street_dirs(), st)
        assert res.ok, [f.error for f in res.files if getattr(f, "error", None)]
    import geopandas as gpd
    import pandas as pd

    bounds = DATA / "boundaries" / "merseyside_lsoa_2011"
    frames = [gpd.read_file(p) for p in sorted(bounds.glob("*.geojson"))]
    with tempfile.TemporaryDirectory() as tmp:
        allb = Path(tmp) / "merseyside_lsoa_2011.geojson"
        gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs).to_file(allb)
        with Store(path) as st:
            ingest_boundaries(allb, st, layer="lsoa", id_field="LSOA11CD", name_field="LSOA11NM")


def median_time(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up: caches, imports, numba
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def harm_run(st, audience: str) -> Callable[[], object]:
    from realimpact.disclosure.profiles import get_profile
    from realimpact.harm.sharing import shared_harm_index

    prof = get_profile(audience)
    return lambda: shared_harm_index(st, prof, layer="lsoa", period="month", weights="cchi")


def evaluate_run(st, audience: str, out: Path) -> Callable[[], object]:
    from realimpact.disclosure.profiles import get_profile
    from realimpact.evaluation.engine import evaluate
    from realimpact.report import write_evaluation

    prof = get_profile(audience)

    def run() -> object:
        res = evaluate(PLAN, st)
        return write_evaluation(res.to_dict(), out / audience, audience=audience, profile=prof)

    return run


def interleaved_times(
    fns: dict[str, Callable[[], object]], repeat: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Median and fastest seconds per audience, the audiences taking turns in each round.

    One audience's runs all after another's let a change in the machine's load
    (it is shared) fall on one audience only: the ratios then swung by a third
    from run to run. Taking turns spreads it over all of them alike.
    """
    for fn in fns.values():
        fn()  # warm-up: caches, imports, numba
    runs: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            runs[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in runs.items()}, {k: min(v) for k, v in runs.items()}


def disclosure_step(st, repeat: int) -> dict[str, tuple[float, float]]:
    """Seconds of the protection itself (on a finished index / results dict), by audience.

    The whole-run ratios compare different work as well as the protection: an
    analyst's report draws every record point, a shared one does not, so a
    shared ``evaluate`` can be faster than the analyst's. This times only the
    step a shared run adds, against the analyst's whole run.
    """
    from realimpact.disclosure.profiles import get_profile
    from realimpact.evaluation.engine import evaluate
    from realimpact.evaluation.sharing import safe_results
    from realimpact.harm.index import harm_index
    from realimpact.harm.sharing import safe_index
    from realimpact.harm.weights import get_weights

    ws = get_weights("cchi", st)
    base_h = median_time(lambda: harm_index(st, weights=ws, layer="lsoa", period="month"), repeat)
    df = harm_index(st, weights=ws, layer="lsoa", period="month")
    res = evaluate(PLAN, st).to_dict()
    base_e = median_time(lambda: evaluate(PLAN, st).to_dict(), repeat)
    out = {}
    salt = "crimes|lsoa"
    for aud in ("partner", "public"):
        prof = get_profile(aud)
        out[f"harm index: safe_index ({aud})"] = (
            median_time(lambda p=prof: safe_index(df, p, ws.weights, salt=salt), repeat),
            base_h,
        )
        out[f"evaluate: safe_results ({aud})"] = (
            median_time(lambda p=prof: safe_results(res, p), repeat),
            base_e,
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--store", type=Path, default=None, help="reuse (or build) this store")
    ap.add_argument("--profile", choices=("harm", "evaluate"), default=None)
    a = ap.parse_args()
    from realimpact.store import Store

    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} "
        "(wall-clock; other work on the machine inflates every figure alike)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = a.store or Path(tmp) / "merseyside.duckdb"
        if not path.exists():
            t = time.perf_counter()
            build(path)
            print(f"built store from {', '.join(map(str, street_dirs()))} and boundaries "
                  f"in {time.perf_counter() - t:.1f} s")  # fmt: skip
        with Store(path) as st:
            n = st.scalar("SELECT count(*) FROM crimes")
            months = st.scalar("SELECT count(DISTINCT month) FROM crimes")
            print(f"store: {n:,} crimes over {months} months")
            if a.profile:
                fn = (
                    harm_run(st, "partner")
                    if a.profile == "harm"
                    else evaluate_run(st, "partner", Path(tmp))
                )
                fn()
                prof = cProfile.Profile()
                prof.enable()
                fn()
                prof.disable()
                pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
                return
            rows = []
            for product in ("harm index (LSOA x month)", "evaluate (Liverpool plan)"):
                fns = {
                    aud: harm_run(st, aud)
                    if product.startswith("harm")
                    else evaluate_run(st, aud, Path(tmp))
                    for aud in AUDIENCES
                }
                times, fastest = interleaved_times(fns, a.repeat)
                rows.append((product, times, fastest))
            step = disclosure_step(st, a.repeat)
    print(
        f"\nmedian of {a.repeat} runs after one warm-up, the audiences taking turns,"
        " seconds (ratio to analyst); below it the fastest run of each"
    )
    print(f"{'':28s}" + "".join(f"{aud:>20s}" for aud in AUDIENCES))
    missed = []
    for product, times, fastest in rows:
        cells = []
        for aud in AUDIENCES:
            r = times[aud] / times["analyst"]
            cells.append(f"{times[aud]:9.3f} ({r:5.3f}x)")
            if aud != "analyst" and r >= TARGET:
                missed.append(f"{product} {aud}: {r:.3f}x")
        print(f"{product:28s}" + "".join(f"{c:>20s}" for c in cells))
        cells = [
            f"{fastest[aud]:9.3f} ({fastest[aud] / fastest['analyst']:5.3f}x)" for aud in AUDIENCES
        ]
        print(f"{'  fastest':28s}" + "".join(f"{c:>20s}" for c in cells))
    print("\nthe disclosure step alone (same medians), against the analyst's whole run:")
    for name, (secs, base) in step.items():
        print(f"  {name:44s} {secs:7.3f} s  = {100 * secs / base:5.1f}% of {base:.3f} s")
    print(f"target: every shared ratio below {TARGET:.2f}x (suppression adds under 10%)")
    print("missed: " + "; ".join(missed) if missed else "all within target")


if __name__ == "__main__":
    main()
