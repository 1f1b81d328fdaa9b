"""Estimator validation study: bias, 95% interval coverage and false-positive rate.

Many simulated cities (``realimpact.simulate.simulate_counts``: different
seeds, true effects including none, displacement into the buffer on, off or
reversed as diffusion) are evaluated with the same estimators and settings
the evaluation engine uses (``realimpact.evaluation.engine._designs``; its
default DiD reading is the wild bootstrap for Poisson, t(G-1) for negbin):

* DiD, target vs control, Poisson two-way fixed effects, errors clustered by
  area (``did_counts``), p-value and interval from t with G - 1 degrees of
  freedom (the default); estimand log(true rate ratio);
* the same fit read with normal critical values (``inference="normal"``), to
  show what the t(G-1) correction changes on identical draws;
* the same model with the wild cluster restricted score bootstrap
  (``inference="wild"``, 999 Webb draws) for the p-value and interval;
* DiD with negative binomial family (same estimand);
* DiD of the buffer vs control (a displacement estimate); estimand log(true
  buffer rate ratio);
* WDD of Wheeler and Ratcliffe with the buffer sharing the target's control
  (``wdd_shared_control``, crimes a month); estimand the WDD of the expected
  counts (the statistic is linear in the counts, so that is its expectation;
  it is not zero under "no effect" when seasons move target and control by
  different absolute amounts, so its p < 0.05 rate there is not a
  false-positive rate);
* the same WDD with its variance scaled by the area-month overdispersion
  (``wdd_dispersion``, ``dispersion=``): the interval the report shows;
* the net harm balance, the harm-weighted total net effect over target and
  buffer (``harm_balance``, Cambridge Crime Harm Index weights over both crime
  types), with the quasi-Poisson interval the report shows (one
  overdispersion factor per crime type, as the engine estimates it) and with
  the Poisson one; estimand the same statistic of the expected counts;
* the WDD's buffer-versus-control part with the same quasi-Poisson error,
  which is what the report's displacement verdict reads; estimand the same
  difference of expected counts;
* ITS level change on the target alone (``its_counts``); estimand log(true
  rate ratio).

For each estimator, scenario and crime type it prints the mean bias, the share
of 95% intervals containing the truth (coverage) and the share of
"p < 0.05" claims (the false-positive rate where the truth is "no effect",
power otherwise). Run::

    python benchmarks/validation.py --seeds 100 [--workers 2] [--json FILE]

Baseline 12 months, follow-up 6, default city (120 areas; 8 target, 14
buffer, 30 control areas), NB2 overdispersion of size 12 per area-month.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from statistics import NormalDist
from typing import Any

TYPES = ("Anti-social behaviour", "Violence and sexual offences")
EFFECT = 0.8
BUFFER = 1.15
SCENARIOS: dict[str, dict[str, Any]] = {
    "no effect": {"effects": {}, "buffer_effects": {}, "displacement": "none"},
    "effect 0.8, no displacement": {"effect": EFFECT, "displacement": "none"},
    "effect 0.8, displacement 1.15": {"effect": EFFECT, "displacement": "displacement"},
    "effect 0.8, diffusion 1/1.15": {"effect": EFFECT, "displacement": "diffusion"},
}


def _params(scenario: str, seed: int):
    from realimpact.simulate import SimulationParams

    sc = SCENARIOS[scenario]
    if "effect" in sc:
        return SimulationParams(
            seed=seed,
            effects=dict.fromkeys(TYPES, sc["effect"]),
            buffer_effects=dict.fromkeys(TYPES, BUFFER),
            displacement=sc["displacement"],
        )
    return SimulationParams(seed=seed, effects={}, buffer_effects={}, displacement="none")


def one_city(task: tuple[str, int]) -> list[dict[str, Any]]:
    """Simulate one city and run every estimator on each crime type."""
    from realimpact.evaluation.did import did_counts
    from realimpact.evaluation.displacement import wdd_dispersion, wdd_shared_control
    from realimpact.evaluation.its import its_counts
    from realimpact.simulate import simulate_counts

    scenario, seed = task
    sim = simulate_counts(_params(scenario, seed))
    months = [m for m in sim.months if "2023-01" <= m <= "2024-06"]
    nb, nf = 12, 6
    rows = []
    tallies: dict[str, Any] = {}
    for ct in TYPES:
        c = sim.counts[(sim.counts["crime_type"] == ct) & sim.counts["month"].isin(months)]
        truth = sim.truth[ct]
        log_rr, log_brr = math.log(truth["rate_ratio"]), math.log(truth["buffer_rate_ratio"])
        null_target = truth["rate_ratio"] == 1.0
        null_buffer = truth["buffer_rate_ratio"] == 1.0

        def add(
            est: str,
            e: float,
            lo: float,
            hi: float,
            p: float,
            true: float,
            null: bool,
            ct: str = ct,
        ) -> None:
            rows.append(
                {
                    "scenario": scenario,
                    "seed": seed,
                    "crime_type": ct,
                    "estimator": est,
                    "truth": true,
                    "error": e - true,
                    "covered": lo <= true <= hi,
                    "claimed": p < 0.05,
                    "null": null,
                }
            )

        for fam in ("poisson", "negbin"):
            r = did_counts(
                c,
                sim.roles["target"],
                sim.roles["control"],
                start=sim.op_start,
                months=months,
                family=fam,
                placebo_starts=[],
            )
            label = (
                "DiD target (poisson, t G-1)" if fam == "poisson" else "DiD target (negbin, t G-1)"
            )
            add(label, r.estimate, r.ci_low, r.ci_high, r.p, log_rr, null_target)
            if fam == "poisson":
                # The same fit read with normal critical values (the former default),
                # so the effect of the t(G-1) correction is measured on identical draws.
                q = NormalDist().inv_cdf(0.975)
                z = NormalDist().cdf(-abs(r.estimate / r.se)) * 2
                lo, hi = r.estimate - q * r.se, r.estimate + q * r.se
                add("DiD target (poisson, normal z)", r.estimate, lo, hi, z, log_rr, null_target)
                w = did_counts(
                    c,
                    sim.roles["target"],
                    sim.roles["control"],
                    start=sim.op_start,
                    months=months,
                    placebo_starts=[],
                    inference="wild",
                    seed=seed,
                )
                add(
                    "DiD target (poisson, wild; report default)",
                    w.estimate,
                    w.ci_low,
                    w.ci_high,
                    w.p,
                    log_rr,
                    null_target,
                )
        r = did_counts(
            c,
            sim.roles["buffer"],
            sim.roles["control"],
            start=sim.op_start,
            months=months,
            placebo_starts=[],
        )
        add(
            "DiD buffer (displacement, t G-1)",
            r.estimate,
            r.ci_low,
            r.ci_high,
            r.p,
            log_brr,
            null_buffer,
        )

        def tot(role: str, after: bool, c=c) -> float:
            part = c[c["area_id"].isin(set(sim.roles[role]))]
            sel = part["month"] >= sim.op_start if after else part["month"] < sim.op_start
            return float(part.loc[sel, "n"].sum())

        obs = {r_: (tot(r_, False), tot(r_, True)) for r_ in ("target", "buffer", "control")}
        w = wdd_shared_control(obs["target"], obs["control"], obs["buffer"], time_weights=(nb, nf))
        ex = truth["expected"]
        true_w = (
            (ex["target"]["after"] / nf - ex["target"]["before"] / nb)
            + (ex["buffer"]["after"] / nf - ex["buffer"]["before"] / nb)
            - 2 * (ex["control"]["after"] / nf - ex["control"]["before"] / nb)
        )
        add(
            "WDD Poisson (published; shown beside)",
            w.estimate,
            w.ci_low,
            w.ci_high,
            w.p,
            true_w,
            null_target and null_buffer,
        )
        phi = wdd_dispersion(
            c,
            sim.roles["target"],
            sim.roles["control"],
            sim.roles["buffer"],
            start=sim.op_start,
            months=months,
        )
        wq = wdd_shared_control(
            obs["target"], obs["control"], obs["buffer"], time_weights=(nb, nf), dispersion=phi
        )
        add(
            "WDD quasi-Poisson (report default)",
            wq.estimate,
            wq.ci_low,
            wq.ci_high,
            wq.p,
            true_w,
            null_target and null_buffer,
        )
        # the buffer's part against the control: what the displacement verdict reads
        de, dse = wq.extra["displacement_estimate"], wq.extra["displacement_se"]
        q = NormalDist().inv_cdf(0.975)
        true_d = (ex["buffer"]["after"] / nf - ex["buffer"]["before"] / nb) - (
            ex["control"]["after"] / nf - ex["control"]["before"] / nb
        )
        add(
            "WDD buffer part, quasi-Poisson (displacement verdict)",
            de,
            de - q * dse,
            de + q * dse,
            2 * NormalDist().cdf(-abs(de / dse)),
            true_d,
            null_buffer,
        )
        series = c[c["area_id"].isin(set(sim.roles["target"]))].groupby("month")["n"].sum()
        its = its_counts(series.reindex(months, fill_value=0), start=sim.op_start)
        add(
            "ITS level (target only)",
            its.level.estimate,
            its.level.ci_low,
            its.level.ci_high,
            its.level.p,
            log_rr,
            null_target,
        )
        tallies[ct] = (obs, truth["expected"], phi)
    rows.extend(_net_harm_rows(scenario, seed, tallies))
    return rows


def _net_harm_rows(scenario: str, seed: int, tallies: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's net harm interval (quasi-Poisson per type) and the Poisson one."""
    from realimpact.evaluation.net_harm import harm_balance
    from realimpact.harm.weights import get_weights

    weights = {k: get_weights("cchi").weights[k] for k in tallies}
    counts = {
        k: {r: obs[r] for r in ("target", "buffer", "control")}
        for k, (obs, _, _) in tallies.items()
    }
    phis = {k: phi for k, (_, _, phi) in tallies.items()}
    true = 0.0
    for k, (_, ex, _) in tallies.items():
        r = ex["control"]["after"] / ex["control"]["before"]
        pre = ex["target"]["before"] + ex["buffer"]["before"]
        post = ex["target"]["after"] + ex["buffer"]["after"]
        true += weights[k] * (pre * r - post)
    nh = harm_balance(counts, weights, dispersion=phis)["crime_harm"]
    null = SCENARIOS[scenario].get("effect") is None
    out = []
    for label, lo, hi, p in (
        ("Net harm quasi-Poisson (report default)", nh["ci_low"], nh["ci_high"], nh["p"]),
        ("Net harm Poisson (shown beside)", nh["poisson"]["ci_low"], nh["poisson"]["ci_high"],
         nh["poisson"]["p"]),
    ):  # fmt: skip
        out.append(
            {
                "scenario": scenario,
                "seed": seed,
                "crime_type": "harm-weighted, both types",
                "estimator": label,
                "truth": true,
                "error": nh["estimate"] - true,
                "covered": lo <= true <= hi,
                "claimed": p < 0.05,
                "null": null,
            }
        )
    return out


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["estimator"], r["scenario"], r["crime_type"])].append(r)
    out = []
    for (est, sc, ct), g in groups.items():
        n = len(g)
        out.append(
            {
                "estimator": est,
                "scenario": sc,
                "crime_type": ct,
                "n": n,
                "truth": sum(r["truth"] for r in g) / n,
                "bias": sum(r["error"] for r in g) / n,
                "coverage": sum(r["covered"] for r in g) / n,
                "claimed": sum(r["claimed"] for r in g) / n,
                "null": g[0]["null"],
            }
        )
    order = list(SCENARIOS)
    out.sort(key=lambda r: (r["estimator"], order.index(r["scenario"]), r["crime_type"]))
    return out


def markdown(summary: list[dict[str, Any]]) -> str:
    lines = [
        "| estimator | scenario | crime type | cities | mean truth | bias | 95% coverage | p<0.05 |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in summary:
        kind = "false positives" if r["null"] else "power"
        if r["null"] and r["estimator"].startswith("WDD"):
            kind = "rejections of WDD = 0; its estimand is not 0 here"
        claim = f"{r['claimed']:.3f} ({kind})"
        lines.append(
            f"| {r['estimator']} | {r['scenario']} | {r['crime_type']} | {r['n']} | "
            f"{r['truth']:+.3f} | {r['bias']:+.3f} | {r['coverage']:.3f} | {claim} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=100, help="cities per scenario")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", help="also write rows and summary to this file")
    args = ap.parse_args()
    tasks = [(sc, 1000 + s) for sc in SCENARIOS for s in range(args.seeds)]
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=args.workers) as ex:
        for part in ex.map(one_city, tasks, chunksize=4):
            rows.extend(part)
    secs = time.perf_counter() - t0
    summary = summarise(rows)
    print(markdown(summary))
    print(f"\n{len(tasks)} cities, {len(rows)} estimates, {secs:.0f} s ({args.workers} workers)")
    overall = defaultdict(list)
    for r in rows:
        overall[r["estimator"]].append(r["covered"])
    print("\ncoverage of 95% intervals over all scenarios (target: 0.92-0.98):")
    for est, cov in sorted(overall.items()):
        c = sum(cov) / len(cov)
        flag = "ok" if 0.92 <= c <= 0.98 else "OUTSIDE 0.92-0.98"
        print(f"  {est:28s} {c:.3f}  {flag}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"summary": summary, "rows": rows, "seconds": secs}, f, indent=1)


if __name__ == "__main__":
    main()
