"""The disclosure package on its own: profiles and config, perturbation, rounding, dominance,
secondary suppression on hand-checkable tables, and the audit against brute force."""

from __future__ import annotations

import itertools

import pytest
from typer.testing import CliRunner

from realimpact.cli import app
from realimpact.disclosure.audit import feasible_intervals
from realimpact.disclosure.dominance import dominated, harm_band
from realimpact.disclosure.perturb import cell_noise, perturb_count
from realimpact.disclosure.profiles import AUDIENCES, check_audience, get_profile
from realimpact.disclosure.rounding import round_to_base
from realimpact.disclosure.suppress import LinkedTable, audit_table, protect
from realimpact.errors import ValidationError


def test_profiles_and_overrides(tmp_path):
    assert AUDIENCES == ("analyst", "partner", "public")
    assert get_profile("analyst").threshold == 0 and get_profile("partner").threshold == 5
    pub = get_profile("public")
    assert (pub.threshold, pub.rounding, pub.finest_layer) == (10, 5, "lsoa")
    assert not pub.layer_allowed("grid250") and pub.layer_allowed("msoa")
    cfg = tmp_path / "sharing.yaml"
    cfg.write_text("profiles:\n  partner: {threshold: 7}\nsharing:\n  agreement: ISA-1\n"
                   "  review_date: 2026-03-31\n", "utf-8")  # fmt: skip
    p = get_profile("partner", cfg)
    assert p.threshold == 7 and p.sharing.agreement == "ISA-1"
    assert p.sharing.review_date == "2026-03-31"
    secret = {"profiles": {"public": {"perturbation": {"max": 2, "key": "s3cret-key"}}}}
    assert "s3cret-key" not in str(get_profile("public", secret).rules())  # never in a manifest
    assert check_audience("public", AUDIENCES) == "public"
    with pytest.raises(ValidationError, match="--audience"):
        check_audience("public")  # commands that did not opt in refuse the public


@pytest.mark.parametrize(
    ("text", "match"),
    [("profiles:\n  partner: {threshold: 1}\n", "below the lowest"),
     ("profiles:\n  partner: {threshold: five}\n", "whole number"),
     ("profiles:\n  everyone: {}\n", "not an audience"),
     ("sharing:\n  review_date: soon\n", "review_date"),
     ("sharing:\n  agreemnt: x\n", "unknown field"),
     ("other: 1\n", "unknown field")],
)  # fmt: skip
def test_bad_config_is_named_and_exit_2(tmp_path, text, match):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text, "utf-8")
    with pytest.raises(ValidationError, match=match) as e:
        get_profile("partner", cfg)
    assert str(cfg) in str(e.value.source or "")
    r = CliRunner().invoke(app, ["evaluate", str(tmp_path / "missing-plan.yaml"), "--out",
                                 str(tmp_path / "o"), "--audience", "partner",
                                 "--sharing-config", str(cfg)])  # fmt: skip
    assert r.exit_code == 2, r.output
    assert not (tmp_path / "o").exists()


def test_cell_key_perturbation_is_deterministic_per_cell():
    a = [cell_noise(f"plan|drugs|target|2020-{m:02d}", "k" * 10, 2) for m in range(1, 13)]
    assert a == [cell_noise(f"plan|drugs|target|2020-{m:02d}", "k" * 10, 2) for m in range(1, 13)]
    assert len(set(a)) > 1 and all(-2 <= x <= 2 for x in a)
    assert a != [
        cell_noise(f"plan|drugs|target|2020-{m:02d}", "other-key", 2) for m in range(1, 13)
    ]
    assert (
        perturb_count(0, "x", "k" * 10, 2, 10) == 0
        and perturb_count(11, "x", "k" * 10, 2, 10) >= 10
    )


def test_rounding_and_dominance():
    assert [round_to_base(v, 5) for v in (10, 12, 13, 22, 23)] == [10, 10, 15, 20, 25]
    assert dominated({"Homicide": (1, 5475.0), "Drugs": (20, 20 * 14.0)}, threshold=5, share=0.5)
    assert not dominated(
        {"Violence": (10, 3650.0), "Drugs": (20, 20 * 14.0)}, threshold=5, share=0.5
    )
    assert harm_band(1234) == "1,000-5,000"


def test_secondary_suppression_of_the_city_of_london_buffer_months():
    """[5, 4, 9, 4] beside 22: hiding the 4s alone gives both back; one more month closes it."""
    t = LinkedTable()
    for m, v in zip("abcd", [5, 4, 9, 4], strict=True):
        t.add(m, v)
    t.add("T", 22, cost=1e6)
    t.relate("T", list("abcd"))
    leaks = audit_table(t, 5, {"b", "d"}, set())
    assert {x.cell for x in leaks} == {"b", "d"} and all(x.low == x.high == 4 for x in leaks)
    p = protect(t, 5)
    assert p.primary == {"b", "d"} and p.secondary == {"a"} and not p.unresolved


def test_two_dimensional_table_protects_along_both_margins():
    """Months by role with role totals and month totals (time x geography)."""
    vals = {("r1", "m1"): 3, ("r1", "m2"): 20, ("r2", "m1"): 15, ("r2", "m2"): 12}
    t = LinkedTable()
    for c, v in vals.items():
        t.add(c, v)
    for r in ("r1", "r2"):
        t.add(("R", r), sum(v for c, v in vals.items() if c[0] == r), cost=1e6)
        t.relate(("R", r), [c for c in vals if c[0] == r])
    for m in ("m1", "m2"):
        t.add(("M", m), sum(v for c, v in vals.items() if c[1] == m), cost=1e6)
        t.relate(("M", m), [c for c in vals if c[1] == m])
    p = protect(t, 5)
    assert not audit_table(t, 5, p.primary, p.secondary)
    assert p.secondary == {("r1", "m2"), ("r2", "m1"), ("r2", "m2")}  # the classic 4-cell cycle


def _brute(relations, published, unknown):
    cells = sorted(unknown)
    seen = {c: set() for c in cells}
    for combo in itertools.product(*(range(unknown[c][0], unknown[c][1] + 1) for c in cells)):
        v = dict(published) | dict(zip(cells, combo, strict=True))
        if all(v[t] == sum(v[p] for p in ps) for t, ps in relations):
            for c, x in zip(cells, combo, strict=True):
                seen[c].add(x)
    return {c: (min(s), max(s)) for c, s in seen.items()}


@pytest.mark.parametrize("seed", range(6))
def test_audit_agrees_with_brute_force(seed):
    import random

    rnd = random.Random(seed)
    vals = {f"x{i}": rnd.choice([1, 2, 3, 4, 6, 8]) for i in range(5)}
    rels = [("T1", ["x0", "x1", "x2"]), ("T2", ["x2", "x3", "x4"])]
    vals["T1"] = vals["x0"] + vals["x1"] + vals["x2"]
    vals["T2"] = vals["x2"] + vals["x3"] + vals["x4"]
    hidden = rnd.sample([f"x{i}" for i in range(5)], 3)
    unknown = {c: (1, 12) for c in hidden}
    published = {c: v for c, v in vals.items() if c not in unknown}
    assert feasible_intervals(rels, published, unknown) == _brute(rels, published, unknown)
