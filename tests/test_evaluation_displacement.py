"""Displacement measures: WDD against Wheeler & Ratcliffe (2018), WDQ against its formulas.

Sources of expected numbers
---------------------------
* WDD worked example: Wheeler, A. P. & Ratcliffe, J. H. (2018) "A simple weighted
  displacement difference test to evaluate place based crime interventions",
  Crime Science 7:11. Counts: treated 207 -> 110, control 308 -> 318, displacement
  178 -> 157, displacement control 150 -> 140; published WDD = -118, SE = sqrt(1568),
  z = -2.98, 95% CI -196 to -40. The same numbers are the "Est & Variance Paper" test
  of the authors' R package ptools (tests/testthat/test-wdd.R).
* Time weights: Wheeler (2021-01-09) "The WDD test with different pre/post time
  periods": treated 80 -> 20, control 100 -> 50, two years pre, one year post:
  estimate -20, variance 115.
* Area weights: Wheeler (2021-02-23) "The WDD test with different area sizes", the
  paper's counts with areas (control 0.9, treated 1.2, displacement control 1.6,
  displacement 1.5): values from ptools test-wdd.R "Area Weights".
* WDQ family: Bowers & Johnson (2003, J Quant Criminol 19:275) as given in
  Guerette (2009) POP Center Tool Guide No. 10, Appendix B; no published worked
  example is available here (see ../shared/data/README.md), so the expected values
  are derived in exact rational arithmetic from those formulas in the test itself.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from fractions import Fraction as F

import numpy as np
import pytest

from realimpact.errors import ValidationError
from realimpact.evaluation.displacement import (
    displacement_from_counts,
    harm_weighted_wdd,
    parse_pair,
    wdd,
    wdd_shared_control,
    wdq,
)
from realimpact.evaluation.net_harm import harm_balance, tne_estimate

PAPER = {
    "target": (207, 110),
    "control": (308, 318),
    "buffer": (178, 157),
    "buffer_control": (150, 140),
}


def test_wdd_reproduces_published_worked_example():
    r = wdd(PAPER["target"], PAPER["control"], PAPER["buffer"], PAPER["buffer_control"])
    assert r.estimate == -118
    assert r.se == pytest.approx(math.sqrt(1568), abs=1e-12)
    assert round(r.extra["z"], 2) == -2.98
    assert round(r.ci_low) == -196 and round(r.ci_high) == -40
    # components: local (110-207)-(318-308) = -107; displacement (157-178)-(140-150) = -11
    assert r.extra["local_estimate"] == -107 and r.extra["displacement_estimate"] == -11


def test_wdd_time_weights_blog_example():
    r = wdd((80, 20), (100, 50), time_weights=(2, 1))
    assert r.estimate == pytest.approx(-20, abs=1e-12)
    assert r.se == pytest.approx(math.sqrt(115), abs=1e-12)


def test_wdd_area_weights_ptools_values():
    r = wdd(
        PAPER["target"],
        PAPER["control"],
        PAPER["buffer"],
        PAPER["buffer_control"],
        area_weights=(0.9, 1.2, 1.6, 1.5),
    )
    assert r.estimate == pytest.approx(-99.69444444, abs=1e-7)
    assert r.se == pytest.approx(35.4280755, abs=1e-7)
    assert r.extra["z"] == pytest.approx(-2.813995483, abs=1e-8)
    assert r.ci_low == pytest.approx(-169.1321965, abs=1e-6)
    assert r.ci_high == pytest.approx(-30.25669241, abs=1e-6)


def test_harm_weighted_wdd_is_weighted_sum_with_weighted_variance():
    # ptools::wdd_harm example (robbery, burglary, theft; weights 10, 5, 1).
    parts = {
        "rob": wdd((20, 10), (20, 20)),
        "burg": wdd((25, 20), (30, 30)),
        "theft": wdd((70, 20), (80, 60)),
    }
    r = harm_weighted_wdd(parts, {"rob": 10, "burg": 5, "theft": 1})
    # by the formula: 10(-10) + 5(-5) + 1(-30); 100*70 + 25*105 + 1*230
    assert r.estimate == -155
    assert r.se == pytest.approx(math.sqrt(9855), abs=1e-12)
    with pytest.raises(ValidationError, match="no harm weight for theft"):
        harm_weighted_wdd(parts, {"rob": 10, "burg": 5})


def test_wdq_follows_bowers_johnson_formulas_exactly():
    rb, ra = F(207), F(110)
    db, da = F(178), F(157)
    cb, ca = F(308), F(318)
    r = wdq((207, 110), (178, 157), (308, 318))
    sm = ra / ca - rb / cb
    bdm = da / ca - db / cb
    assert r.gross_effect == float(rb - ra)
    assert r.net_effect == pytest.approx(float(rb * ca / cb - ra), abs=1e-12)
    assert r.success_measure == pytest.approx(float(sm), abs=1e-15)
    assert r.buffer_measure == pytest.approx(float(bdm), abs=1e-15)
    assert r.wdq == pytest.approx(float(bdm / sm), abs=1e-14)
    assert r.total_net_effect == pytest.approx(
        float((rb * ca / cb - ra) + (db * ca / cb - da)), abs=1e-12
    )


@pytest.mark.parametrize(
    ("buffer", "sign", "words"),
    [
        ((100, 140), -1, "displacement"),  # buffer up while target falls: displacement
        ((100, 70), 1, "Diffusion"),
    ],  # buffer falls too: diffusion of benefit
)
def test_wdq_sign_conventions_of_the_pop_guide(buffer, sign, words):
    r = wdq((100, 50), buffer, (200, 200))
    assert r.success_measure < 0  # the target improved relative to control
    assert math.copysign(1, r.wdq) == sign
    assert words in r.reading


def test_wdq_undefined_with_empty_control_is_nan_not_an_error():
    r = wdq((10, 5), (3, 3), (0, 4))
    assert math.isnan(r.net_effect) and math.isnan(r.wdq)


def test_parse_pair_errors_name_the_field():
    assert parse_pair(" 12, 7 ", "--target") == (12.0, 7.0)
    for bad in ("12", "a,b", "-1,3", "1,2,3"):
        with pytest.raises(ValidationError, match=r"^--target: "):
            parse_pair(bad, "--target")


def test_shared_control_variance_matches_simulation():
    # Var(dT + dB - 2 dC) under independent Poisson counts, checked by Monte Carlo.
    rng = np.random.default_rng(7)
    lam = {"t": (60, 40), "b": (50, 55), "c": (80, 70)}
    draws = {k: rng.poisson(v, size=(40_000, 2)) for k, v in lam.items()}
    est = (
        (draws["t"][:, 1] - draws["t"][:, 0])
        + (draws["b"][:, 1] - draws["b"][:, 0])
        - 2 * (draws["c"][:, 1] - draws["c"][:, 0])
    )
    r = wdd_shared_control((60, 40), (80, 70), (50, 55))
    assert r.se**2 == pytest.approx(60 + 40 + 50 + 55 + 4 * (80 + 70))
    assert est.var() == pytest.approx(r.se**2, rel=0.03)


def test_tne_delta_method_se_matches_simulation():
    rng = np.random.default_rng(11)
    n = 60_000
    tb, ta, bb, ba = (rng.poisson(m, n) for m in (120, 70, 90, 85))
    cb, ca = rng.poisson(300, n), rng.poisson(280, n)
    sims = (tb + bb) * ca / cb - (ta + ba)
    r = tne_estimate((120, 70), (90, 85), (300, 280))
    assert r.estimate == pytest.approx((120 + 90) * 280 / 300 - (70 + 85))
    assert sims.std() == pytest.approx(r.se, rel=0.03)


def test_harm_balance_weights_each_type_and_names_unmeasured_harms():
    counts = {
        "Drugs": {"target": (40, 20), "buffer": (10, 12), "control": (50, 50)},
        "Robbery": {"target": (5, 6), "buffer": (2, 2), "control": (10, 10)},
    }
    out = harm_balance(
        counts,
        {"Drugs": 3.0, "Robbery": 365.0},
        operation_harms=[{"id": "children-affected", "status": "not measured"}],
    )
    expect = 3.0 * ((40 + 10) * 1 - (20 + 12)) + 365.0 * ((5 + 2) - (6 + 2))
    assert out["crime_harm"]["estimate"] == pytest.approx(expect)
    assert "children-affected" in out["statement"]
    with pytest.raises(ValidationError, match="Robbery"):
        harm_balance(counts, {"Drugs": 3.0})


def _cli(*args: str) -> subprocess.CompletedProcess:
    """The real console entry point, for exit codes and stream separation."""
    return subprocess.run(
        [sys.executable, "-m", "realimpact", "evaluate", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _run(*args: str):
    from typer.testing import CliRunner

    from realimpact.cli import app

    return CliRunner().invoke(app, ["evaluate", *args])


def test_cli_displacement_contract_json():
    p = _run(
        "displacement",
        "--target",
        "207,110",
        "--buffer",
        "178,157",
        "--control",
        "308,318",
        "--buffer-control",
        "150,140",
        "--json",
    )
    assert p.exit_code == 0, p.output
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1
    res = json.loads(lines[0])
    assert set(res["wdq"]) >= {
        "gross_effect",
        "net_effect",
        "success_measure",
        "buffer_measure",
        "wdq",
        "total_net_effect",
    }
    assert set(res["wdd"]) >= {"estimate", "se", "z", "ci_low", "ci_high"}
    assert res["wdd"]["estimate"] == -118
    assert res == json.loads(
        json.dumps(displacement_from_counts((207, 110), (178, 157), (308, 318), (150, 140)))
    )


def test_cli_displacement_without_buffer_control_has_null_wdd():
    p = _run(
        "displacement",
        "--target",
        "207,110",
        "--buffer",
        "178,157",
        "--control",
        "308,318",
        "--json",
    )
    assert p.exit_code == 0, p.output
    assert json.loads(p.stdout)["wdd"] is None


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("--target", "207", "--buffer", "1,2", "--control", "3,4"), "--target"),
        (("--target", "5,3", "--buffer", "1,2", "--control", "-1,4"), "--control"),
        (("--target", "5,3", "--buffer", "1,x", "--control", "3,4"), "--buffer"),
        # (a zero control count is not bad input: the WDD is still given and the WDQ
        # measures that divide by it are undefined; tests/test_bugs_issue11.py)
    ],
)
def test_cli_displacement_bad_input_exits_2_with_one_line(args, flag):
    p = _cli("displacement", *args)
    assert p.returncode == 2
    assert p.stdout == ""
    assert len(p.stderr.strip().splitlines()) == 1 and flag in p.stderr


def test_cli_displacement_missing_count_is_a_usage_error():
    p = _run("displacement", "--buffer", "1,2", "--control", "3,4")
    assert p.exit_code == 2
    assert "--target" in p.output
