"""A plan's survey ``file:`` is read beside the plan, wherever the command runs from.

The city comes from ``realimpact simulate`` (it writes ``plan.yaml`` next to
``survey-residents.csv`` and ``survey-professionals.csv`` and names them bare);
the police.uk files it writes are ingested into a store, and the evaluation is
run from a different working directory. Expected respondent numbers are
counted here from the CSV files with pandas, not taken from our output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from realimpact.errors import InputError, ValidationError
from realimpact.evaluation.engine import evaluate

SEED = 5


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "realimpact", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> dict[str, Path]:
    """Simulated city files under root/city and a store with its police.uk files."""
    from realimpact.markets.registry import import_registry
    from realimpact.sources.police_uk import ingest_police_uk
    from realimpact.store import open_store

    root = tmp_path_factory.mktemp("sim")
    p = _cli("simulate", "--out", "city", "--seed", str(SEED), "--json", cwd=root)
    assert p.returncode == 0, p.stderr
    city = root / "city"
    store = root / "store.duckdb"
    with open_store(store) as st:
        assert ingest_police_uk([city / "street", city / "stop_and_search"], st).ok
        # the plan targets the simulated market: the registry must hold it to validate
        import_registry(st, city / "markets.yaml")
    elsewhere = root / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    return {"root": root, "city": city, "store": store, "elsewhere": elsewhere}


def _answers(csv: Path) -> dict[tuple[str, str, str], int]:
    """(group, question, wave) -> answers in the file, counted with pandas."""
    df = pd.read_csv(csv)
    return {k: int(v) for k, v in df.groupby(["group", "question", "wave"]).size().items()}


def test_cli_reads_survey_files_beside_the_plan_from_another_folder(city):
    plan = Path("..") / ".." / "city" / "plan.yaml"  # relative to the other cwd
    assert (city["elsewhere"] / plan).is_file()
    assert not (city["elsewhere"] / "survey-residents.csv").exists()
    p = _cli(
        "evaluate",
        str(plan),
        "--out",
        "X",
        "--store",
        str(city["store"]),
        "--json",
        cwd=city["elsewhere"],
    )
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert (city["elsewhere"] / "X" / "results.json").is_file()
    by_id = {i["id"]: i for i in data["indicators"]}
    for ind_id, csv in (
        ("residents-views", "survey-residents.csv"),
        ("professionals-views", "survey-professionals.csv"),
    ):
        rows = by_id[ind_id]["survey"]
        expect = _answers(city["city"] / csv)
        # One row per (group, question) of this file, each with its own answer counts.
        assert len(rows) == len(expect) // 2 > 0
        for r in rows:
            assert r["n_before"] == expect[(r["group"], r["question"], "before")]
            assert r["n_after"] == expect[(r["group"], r["question"], "after")]
            assert r["result"] is not None
    assert all(r["paired"] for r in by_id["residents-views"]["survey"])
    assert not any(r["paired"] for r in by_id["professionals-views"]["survey"])


def test_library_resolves_beside_the_plan_not_the_cwd(city, monkeypatch):
    monkeypatch.chdir(city["elsewhere"])
    res = evaluate(city["city"] / "plan.yaml", city["store"])
    assert res.indicator("residents-views").survey
    assert res.indicator("professionals-views").survey


def test_missing_survey_file_exits_2_with_one_line_naming_it(city):
    bad = city["root"] / "bad"
    bad.mkdir(exist_ok=True)
    text = (city["city"] / "plan.yaml").read_text("utf-8")
    (bad / "plan.yaml").write_text(text.replace("survey-residents.csv", "nope.csv"), "utf-8")
    p = _cli(
        "evaluate",
        str(Path("..") / ".." / "bad" / "plan.yaml"),
        "--out",
        "Y",
        "--store",
        str(city["store"]),
        cwd=city["elsewhere"],
    )
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert "file: nope.csv: no such file" in lines[0]
    assert "bad/nope.csv" in lines[0]  # where it looked: beside the plan
    assert p.stdout == ""
    assert not (city["elsewhere"] / "Y" / "results.json").exists()


def test_unreadable_survey_file_is_an_input_error(city, tmp_path):
    plan = yaml.safe_load((city["city"] / "plan.yaml").read_text("utf-8"))
    for ind in plan["indicators"]:
        if ind["id"] == "residents-views":
            ind["file"] = "residents.csv"
    (tmp_path / "residents.csv").write_text("respondent,wave,score\n1,sometime,3\n", "utf-8")
    # the other survey the plan names, so the plan itself validates
    prof = city["city"] / "survey-professionals.csv"
    (tmp_path / prof.name).write_bytes(prof.read_bytes())
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan), "utf-8")
    with pytest.raises(InputError, match=r"residents\.csv: wave: values must be before or after"):
        evaluate(tmp_path / "plan.yaml", city["store"])


def test_plan_mapping_without_a_file_resolves_against_the_cwd(city, monkeypatch):
    plan = yaml.safe_load((city["city"] / "plan.yaml").read_text("utf-8"))
    monkeypatch.chdir(city["city"])
    res = evaluate(plan, city["store"])
    assert res.indicator("residents-views").survey
    monkeypatch.chdir(city["elsewhere"])
    # from the cwd the survey files are not found: the plan fails validation, saying which
    with pytest.raises(ValidationError, match=r"indicators\[\d+\]\.file: survey-\w+\.csv: no such"):
        evaluate(plan, city["store"])
