"""Speed of `plan power`'s core: the vectorised Poisson fixed-effects DiD over simulations.

Prints seconds for one power evaluation (n_sims panels drawn and fitted) at a few
panel sizes, and for statsmodels GLM with dummies fitting the same number of panels
(extrapolated from a few fits), on this machine. Run: python benchmarks/plans_power.py
"""

from __future__ import annotations

import os

# One BLAS thread unless told otherwise: on a small shared machine, threaded BLAS
# oversubscribes the cores and statsmodels' fits slow down fifty-fold.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import statsmodels.api as sm  # noqa: E402

from realimpact.plans.power import fit_did_poisson, simulate_power  # noqa: E402


def panel(a_: int, t_: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mu = np.exp(rng.normal(1.5, 0.7, a_))[:, None] * np.exp(rng.normal(0, 0.2, t_))[None, :]
    return rng.poisson(mu)


def main() -> None:
    for a_, pre, post, sims in ((3, 12, 4, 200), (50, 24, 6, 200), (200, 24, 6, 200)):
        y0 = panel(a_, pre)
        months = [f"{2018 + i // 12}-{i % 12 + 1:02d}" for i in range(pre)]
        follow = [f"2030-{m:02d}" for m in range(1, post + 1)]
        tgt = np.arange(a_) < max(1, a_ // 2)
        t0 = time.perf_counter()
        simulate_power(y0, months, follow, tgt, reductions=np.array([0.2]), n_sims=sims,
                       se="cluster" if a_ >= 20 else "quasi", seed=1)  # fmt: skip
        ours = time.perf_counter() - t0
        # statsmodels GLM with dummies on a few of the same-sized panels
        y = panel(a_, pre + post, seed=2)
        d = np.zeros(y.shape, dtype=float)
        d[tgt, pre:] = 1
        ai, ti = np.indices(y.shape)
        x = pd.get_dummies(pd.DataFrame({"a": ai.ravel(), "t": ti.ravel()}).astype(str),
                           drop_first=True).astype(float)  # fmt: skip
        x["D"] = d.ravel()
        x = sm.add_constant(x)
        k = 5
        t0 = time.perf_counter()
        for _ in range(k):
            sm.GLM(y.ravel(), x, family=sm.families.Poisson()).fit()
        sm_per_fit = (time.perf_counter() - t0) / k
        t0 = time.perf_counter()
        fit_did_poisson(np.broadcast_to(y, (sims, *y.shape)), d.astype(bool), se="cluster")
        fit_only = time.perf_counter() - t0
        print(
            f"{a_:4d} areas x {pre + post:2d} months, {sims} sims: realimpact draw+fit "
            f"{ours:6.2f} s (fit only {fit_only:5.2f} s); statsmodels GLM dummies "
            f"~{sm_per_fit * sims:6.2f} s ({sm_per_fit * 1000:.1f} ms per fit)"
        )


if __name__ == "__main__":
    main()
