"""Plan YAML parsing (docs/architecture.md "Operation plan" contract) and the `plan new` template."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from realimpact.cli import app
from realimpact.errors import ValidationError
from realimpact.plans.model import Plan, Window, load_plan, parse_plan
from realimpact.plans.template import plan_template, write_plan_template
from realimpact.plans.validate import validate_plan

EXAMPLE = (
    Path(__file__).resolve().parents[1] / "examples" / "plans" / "city-of-london-lockdown-2020.yaml"
)

CONTRACT_EXAMPLE = """
id: op-lockdown-col            # unique
title: Example operation
start: 2020-03                 # first month of the operation
end: 2020-05                   # last month
targets:
  markets: [m-col-street-1]
areas:
  layer: lsoa
  target:  [E01000001, E01000002]
  buffer:  [E01000005]
  control: [E01032739, E01032740]
harms:
  - id: hm-social-loc-fear-crime-anti-social
    mechanism: how the tactics are expected to reduce this harm
tactics: [visible-street-patrols]
indicators:
  - id: drugs-crime
    kind: outcome
    source: police_uk
    crime_types: [Drugs]
    baseline:  {from: 2019-03, to: 2020-02}
    follow_up: {from: 2020-03, to: 2020-05}
displacement:
  expected: short text; types from the catalogue
unintended_consequences:
  - id: enf-geographical-displacement
    mitigation: text
    monitor: drugs-crime
partners: [housing, treatment]
"""


def test_contract_example_parses_with_field_meanings_kept() -> None:
    # The YAML block of docs/architecture.md's "Operation plan (contract)", with real ids filled in.
    plan = parse_plan(yaml.safe_load(CONTRACT_EXAMPLE), "contract.yaml")
    assert plan.problems == []
    assert (plan.id, plan.start, plan.end) == ("op-lockdown-col", "2020-03", "2020-05")
    assert plan.targets.markets == ["m-col-street-1"]
    assert plan.areas.layer == "lsoa"
    assert plan.areas.target == ["E01000001", "E01000002"]
    assert plan.areas.control == ["E01032739", "E01032740"]
    ind = plan.indicators[0]
    assert (ind.kind, ind.source, ind.table, ind.crime_types) == (
        "outcome",
        "police_uk",
        "crimes",
        ["Drugs"],
    )
    assert ind.baseline == Window("2019-03", "2020-02") and ind.baseline.n_months == 12
    assert ind.follow_up.months == ["2020-03", "2020-04", "2020-05"]
    assert plan.unintended_consequences[0].monitor == "drugs-crime"
    assert plan.displacement.expected.startswith("short text")
    assert plan.partners == ["housing", "treatment"]
    assert plan.effective_design == "did"


def test_to_dict_round_trips() -> None:
    plan = load_plan(EXAMPLE)
    again = parse_plan(plan.to_dict(), "again")
    assert again.to_dict() == plan.to_dict()
    json.dumps(plan.to_dict())


def test_months_given_as_dates_are_read_as_months() -> None:
    plan = parse_plan({"id": "x", "start": "2020-03-01", "end": "2020-05"})
    # PyYAML reads an unquoted 2020-03-01 as a date; a string of that form is rejected.
    assert any(i.field == "start" for i in plan.problems)
    plan = parse_plan(yaml.safe_load("id: x\nstart: 2020-03-01\nend: 2020-05\n"))
    assert plan.start == "2020-03" and not plan.problems


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("id: x\nstart: March\n", "start"),
        (
            "id: x\nindicators:\n  - id: a\n    baseline: {from: 2020-05, to: 2020-01}\n",
            "indicators[0].baseline",
        ),
        (
            "id: x\nindicators:\n  - id: a\n    baseline: {from: 2020-01}\n",
            "indicators[0].baseline",
        ),
        ("id: x\nareas: [E01000001]\n", "areas"),
        ("id: x\nharms: {id: a}\n", "harms"),
        ("id: x\ntactcs: [cctv]\n", "tactcs"),
    ],
)
def test_format_problems_name_the_field(text: str, field: str) -> None:
    plan = parse_plan(yaml.safe_load(text), "p.yaml")
    assert field in [i.field for i in plan.problems]


def test_unreadable_files_fail_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"bad.yaml: not valid YAML at line \d"):
        load_plan(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="must be a YAML mapping"):
        load_plan(lst)
    with pytest.raises(ValidationError, match="no such file"):
        load_plan(tmp_path / "missing.yaml")
    typo = tmp_path / "typo.yaml"
    typo.write_text("id: x\nstart: 2020-13\n", encoding="utf-8")
    assert load_plan(typo).start is None
    with pytest.raises(ValidationError, match=r"typo.yaml: start: '2020-13' is not a month"):
        load_plan(typo, strict=True)


def test_template_parses_and_validation_lists_what_to_fill_in() -> None:
    text = plan_template("op-test", start="2020-03", end="2020-05")
    plan = parse_plan(yaml.safe_load(text), "t.yaml")
    assert plan.problems == []
    assert plan.indicators[0].baseline == Window("2019-03", "2020-02")
    result = validate_plan(plan)
    fields = {i.field for i in result.errors}
    assert {"areas.target", "areas.buffer", "areas.control"} <= fields
    assert not result.valid


def test_write_template_refuses_to_overwrite(tmp_path: Path) -> None:
    p = tmp_path / "Op Nightjar.yaml"
    info = write_plan_template(p, start="2021-01", end="2021-02")
    assert info["id"] == "op-nightjar"
    assert load_plan(p).id == "op-nightjar"
    with pytest.raises(ValidationError, match="already exists"):
        write_plan_template(p)
    write_plan_template(p, force=True, plan_id="op-other")
    assert load_plan(p).id == "op-other"


def test_cli_plan_new(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["plan", "new", str(tmp_path / "p.yaml"), "--id", "op-a", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["id"] == "op-a"
    r = runner.invoke(app, ["plan", "new"])
    assert r.exit_code == 0 and isinstance(parse_plan(yaml.safe_load(r.stdout)), Plan)
    proc = subprocess.run(
        [sys.executable, "-m", "realimpact", "plan", "new", str(tmp_path / "p.yaml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "already exists" in proc.stderr and proc.stdout == ""
    proc = subprocess.run(
        [sys.executable, "-m", "realimpact", "plan", "new", "--start", "2020-3"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and "--start" in proc.stderr
