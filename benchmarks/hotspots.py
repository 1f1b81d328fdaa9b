"""Gi* speed: realimpact versus esda on a 316 x 316 lattice (99,856 cells), 999 permutations.

Prints, from one run:

* realimpact, cold process with an EMPTY numba cache (fresh interpreter, imports,
  weights, JIT compile, 999 permutations) - what a first-ever run costs;
* realimpact, cold process with the numba cache filled by the run before -
  what every later CLI call costs;
* realimpact warm (same process, already compiled; best of 3);
* realimpact's exact conditional-randomisation null (counts; no Monte Carlo);
* esda ``G_Local(star=True, permutations=999)`` warm (best of 2) and, unless
  ``--quick``, cold (fresh process, numba compile included);
* the ratios, and the largest difference between the two sets of z-scores.

Run: ``python benchmarks/hotspots.py [--quick] [--side 316]``. Timings depend
on the machine; the numbers in docs/hotspots.md say which machine gave them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

SEED = 20240601


def make_values(side: int) -> np.ndarray:
    """Poisson counts with three hot blobs, so there is something to find."""
    rng = np.random.default_rng(SEED)
    r, c = np.divmod(np.arange(side * side), side)
    lam = np.full(side * side, 0.8)
    for cr, cc, rad in (
        (side // 4, side // 4, 6),
        (side // 2, 3 * side // 4, 10),
        (3 * side // 4, side // 3, 4),
    ):
        lam += 6.0 * np.exp(-((r - cr) ** 2 + (c - cc) ** 2) / (2 * rad**2))
    return rng.poisson(lam).astype(float)


RI_SCRIPT = """
import time, sys
t0 = time.perf_counter()
sys.path.insert(0, {bench!r})
from hotspots import make_values
from realimpact.geo.weights import lattice
from realimpact.hotspots.gi import GiStar
t1 = time.perf_counter()
y = make_values({side})
w = lattice({side}, {side}, "queen")
g = GiStar(y, w, permutations=999, seed=1, inference="permutation")
t2 = time.perf_counter()
print(f"{{t1 - t0:.3f}} {{t2 - t1:.3f}}")
"""

ESDA_SCRIPT = """
import time, sys, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
sys.path.insert(0, {bench!r})
from hotspots import make_values
import esda, libpysal
t1 = time.perf_counter()
y = make_values({side})
w = libpysal.weights.lat2W({side}, {side}, rook=False)
g = esda.G_Local(y, w, transform="B", star=True, permutations=999, seed=1)
t2 = time.perf_counter()
print(f"{{t1 - t0:.3f}} {{t2 - t1:.3f}}")
"""


def _cold(script: str, env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    return time.perf_counter() - t0, out.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=316)
    ap.add_argument("--quick", action="store_true", help="skip the esda cold run (~40 s+)")
    args = ap.parse_args()
    side = args.side
    bench = os.path.dirname(os.path.abspath(__file__))
    print(f"lattice {side} x {side} = {side * side:,} cells, queen, binary, 999 permutations")
    print(f"machine: {os.cpu_count()} CPU(s); python {sys.version.split()[0]}")

    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        script = RI_SCRIPT.format(bench=bench, side=side)
        cold_empty, parts_empty = _cold(script, env)
        cold_cached, parts_cached = _cold(script, env)
    imp_e, run_e = (float(x) for x in parts_empty.split())
    imp_c, run_c = (float(x) for x in parts_cached.split())
    print(
        f"realimpact cold, empty numba cache : {cold_empty:6.2f} s wall "
        f"(imports {imp_e:.2f} s, weights+compile+Gi* {run_e:.2f} s)"
    )
    print(
        f"realimpact cold, cached            : {cold_cached:6.2f} s wall "
        f"(imports {imp_c:.2f} s, weights+Gi* {run_c:.2f} s)"
    )

    from realimpact.geo.weights import lattice
    from realimpact.hotspots.gi import GiStar

    y = make_values(side)
    w = lattice(side, side, "queen")
    GiStar(y, w, permutations=999, seed=1, inference="permutation")  # compile / load cache
    warm = []
    for s in range(3):
        t0 = time.perf_counter()
        ours = GiStar(y, w, permutations=999, seed=s, inference="permutation")
        warm.append(time.perf_counter() - t0)
    ri_warm = min(warm)
    print(
        f"realimpact warm (best of 3)        : {ri_warm:6.2f} s (weights built once: "
        f"{sum(warm) / 3:.2f} s mean)"
    )

    GiStar(y, w, permutations=999, inference="exact")  # compile / load cache
    t0 = time.perf_counter()
    exact = GiStar(y, w, permutations=999, inference="exact")
    t_exact = time.perf_counter() - t0
    print(
        f"realimpact exact null (no Monte Carlo): {t_exact:6.2f} s warm; smallest two-sided p "
        f"{np.nanmin(exact.p_sim):.1e} (999 permutations cannot go below {2 / 1000:.0e})"
    )

    import esda
    import libpysal

    warnings.simplefilter("ignore")
    lw = libpysal.weights.lat2W(side, side, rook=False)
    esda.G_Local(
        y[:100],
        libpysal.weights.lat2W(10, 10, rook=False),
        transform="B",
        star=True,
        permutations=9,
        seed=1,
    )  # compile on a toy first
    esda_warm = []
    for s in range(2):
        t0 = time.perf_counter()
        e = esda.G_Local(y, lw, transform="B", star=True, permutations=999, seed=s)
        esda_warm.append(time.perf_counter() - t0)
    e_warm = min(esda_warm)
    print(f"esda G_Local(star=True) warm       : {e_warm:6.2f} s (best of 2)")
    e_cold = None
    if not args.quick:
        e_cold, parts = _cold(ESDA_SCRIPT.format(bench=bench, side=side), dict(os.environ))
        imp, run = (float(x) for x in parts.split())
        print(
            f"esda cold (fresh process)          : {e_cold:6.2f} s wall "
            f"(imports {imp:.2f} s, compile+run {run:.2f} s)"
        )
    dz = float(np.max(np.abs(ours.z - e.Zs)))
    print(f"max |z_realimpact - z_esda|        : {dz:.2e}")
    print(f"speed-up warm vs esda warm         : {e_warm / ri_warm:6.1f}x")
    print(f"speed-up cold(empty) vs esda warm  : {e_warm / cold_empty:6.1f}x")
    if e_cold:
        print(f"speed-up cold(empty) vs esda cold  : {e_cold / cold_empty:6.1f}x")
    print(
        f"targets: >= 10x esda warm -> {'met' if e_warm / ri_warm >= 10 else 'NOT met'}; "
        f"cold < 5 s -> {'met' if cold_empty < 5 else 'NOT met'} (empty cache), "
        f"{'met' if cold_cached < 5 else 'NOT met'} (cached); "
        f"z identical to 1e-6 -> {'yes' if dz <= 1e-6 else 'NO'}"
    )


if __name__ == "__main__":
    main()
