"""The CLI contract (docs/architecture.md, "CLI (contract)"), checked end to end in subprocesses.

Every command group is run the way a script would run it: ``--json`` must put
exactly one JSON object on stdout and nothing else; bad input must exit 2
with one non-empty line on stderr naming the file or option at fault, never a
traceback and never exit 1 ("internal error"); and a command that fails must
leave the store as it was.

One store of real police.uk records (City of London) and one small synthetic
city (``realimpact simulate``: boundaries, plan, registry) are built once for
the module; the file stays well under a minute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

# -- running the CLI ------------------------------------------------------------------


def _cmd(line: str) -> list[str]:
    """Arguments written as one line (no quoting needed in these tests)."""
    return line.split()


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "REALIMPACT_STORE"}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "realimpact", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def _no_traceback(p: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in p.stderr, p.stderr
    assert "Traceback" not in p.stdout, p.stdout


def _json_ok(args: list[str], cwd: Path) -> dict[str, Any]:
    """Run a command with --json; it must succeed and print exactly one JSON object."""
    p = _run([*args, "--json"], cwd)
    _no_traceback(p)
    assert p.returncode == 0, f"exit {p.returncode}: {p.stderr}"
    obj = json.loads(p.stdout)  # the whole of stdout, so any stray print fails here
    assert isinstance(obj, dict), type(obj)
    assert p.stdout.count("\n") == 1 and p.stdout.endswith("\n"), p.stdout[:200]
    return obj


def _snapshot(cwd: Path, store: str) -> tuple[dict, dict]:
    """What a failed command must not change: tables, layers, and the whole registry."""
    status = _json_ok(["status", "--store", store], cwd)
    status.pop("store", None)
    registry = _json_ok(["markets", "export", "--store", store], cwd)
    return status, registry


# -- the shared stores ------------------------------------------------------------------


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory, shared: Path) -> Path:
    d = tmp_path_factory.mktemp("cli_contract")
    sim = _json_ok(
        _cmd(
            "simulate --out sim --areas 20 --months 15 --start 2023-01 --op-start 2024-01"
            " --op-months 3 --seed 3"
        ),
        d,
    )
    assert (d / sim["plan"]).is_file()
    col = _json_ok(
        ["ingest", "police-uk", str(shared / "data/police_uk/city_of_london"),
         "--store", "col.duckdb"],
        d,
    )  # fmt: skip
    assert col["totals"]["rows_inserted"] > 1000
    _json_ok(["ingest", "police-uk", "sim/street", "sim/stop_and_search", "--store", "sim.duckdb"],
             d)  # fmt: skip
    gpkg = next((d / "sim" / "boundaries").glob("*.gpkg"))
    _json_ok(["ingest", "boundaries", str(gpkg), "--layer", "lsoa", "--store", "sim.duckdb"], d)
    _json_ok(["markets", "import", "sim/markets.yaml", "--store", "sim.duckdb"], d)
    # wrong kinds of file
    (d / "bad.txt").write_text("hello world\n")
    (d / "wrong.csv").write_text("a,b\n1,2\n")
    (d / "broken.yaml").write_text("foo: [1, 2\n")
    (d / "list.yaml").write_text("- just\n- a list\n")
    (d / "folder").mkdir()
    return d


# -- (a) --json prints one object, nothing else ---------------------------------------------

SIM = ["--store", "sim.duckdb"]
COL = ["--store", "col.duckdb"]

GOOD = [
    ["status", *COL],
    ["areas", "grid", "--cell", "500", "--layer", "grid500", *SIM],
    ["harm", "taxonomy", "--kind", "priority"],
    ["harm", "index", "--period", "year", "--top", "2", *COL],
    ["hotspots", "gi", "--layer", "lsoa", "--permutations", "99", "--seed", "1", *SIM],
    ["hotspots", "kde", "--cell", "250", "--crime-type", "Drugs", *COL],
    ["markets", "rank", *SIM],
    ["markets", "warning", "--n-sim", "99", *SIM],
    ["markets", "export", *SIM],
    ["plan", "new"],
    ["plan", "validate", "sim/plan.yaml", *SIM],
    _cmd("evaluate displacement --target 9,3 --buffer 5,4 --control 20,21 --buffer-control 6,6"),
]


@pytest.mark.parametrize("args", GOOD, ids=lambda a: " ".join(a[:3]))
def test_json_is_one_object_on_stdout(work: Path, args: list[str]) -> None:
    obj = _json_ok(args, work)
    assert obj  # an empty object would say nothing


def test_evaluate_json_and_quiet_stderr(work: Path) -> None:
    """One JSON object; model-fitting warnings (statsmodels' perfect separation on sparse
    series) go into the results, not hundreds of lines on stderr; an interval too wide to
    exponentiate is reported unbounded (null), not an OverflowError."""
    p = _run(["evaluate", "sim/plan.yaml", "--out", "evaluation", *SIM, "--json"], work)
    _no_traceback(p)
    assert p.returncode == 0, p.stderr
    assert "Warning" not in p.stderr, p.stderr[:500]
    result = json.loads(p.stdout)
    assert result["plan_id"] and len(result["indicators"]) >= 5
    assert (work / "evaluation" / "results.json").is_file()


# -- (b), (c) bad input: exit 2, one line naming the culprit, no traceback --------------------

# (arguments, text the one stderr line must contain: the file or option at fault)
BAD = [
    (["status", "--store", "nofolder/x.duckdb"], "nofolder/x.duckdb"),
    (["status", "--store", "bad.txt"], "bad.txt"),
    (["status", "--store", "folder"], "folder"),
    (["status", "--nope"], "--nope"),
    (["areas", "grid", "--cell", "-5", "--layer", "g", *SIM], "--cell"),
    (["harm", "taxonomy", "--kind", "nope"], "--kind"),
    (["harm", "index", "--table", "nope", *COL], "--table"),
    (["harm", "index", "--from", "2024-13", *COL], "--from"),
    (["harm", "index", "--out", "nofolder/x.csv", *COL], "nofolder"),
    (["hotspots", "gi", "--layer", "nolayer", *SIM], "--layer"),
    (["hotspots", "kde", "--out", "x.txt", *COL], "x.txt"),
    (["markets", "warning", "--scope", "layer", "--layer", "nolayer", *SIM], "--layer"),
    (["markets", "import", "wrong.csv", *SIM], "wrong.csv"),
    (["markets", "show", "m-unknown", *SIM], "m-unknown"),
    (["plan", "catalogue", "tactics", "--level", "street"], "--level"),
    (["plan", "validate", "list.yaml", *SIM], "list.yaml"),
    (["evaluate", "sim/plan.yaml", "--out", "bad.txt", *SIM], "bad.txt"),
    (["ingest", "police-uk", "missing.csv", *SIM], "missing.csv"),
    (["ingest", "boundaries", "wrong.csv", "--layer", "b", *SIM], "wrong.csv"),
    (["simulate", "--out", "bad.txt"], "bad.txt"),
]


@pytest.mark.parametrize("args,names", BAD, ids=lambda a: " ".join(a[:3]) if isinstance(a, list)
                         else None)  # fmt: skip
def test_bad_input_exits_2_with_one_line(work: Path, args: list[str], names: str) -> None:
    p = _run([*args, "--json"], work)
    _no_traceback(p)
    assert p.returncode == 2, f"exit {p.returncode}: {p.stderr}"
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, p.stderr
    assert names in lines[0], lines[0]
    # a partial report (ingest police-uk lists each file) is still one JSON object
    assert p.stdout == "" or isinstance(json.loads(p.stdout), dict), p.stdout[:200]


def test_invalid_plan_with_json_says_why_on_stderr(work: Path) -> None:
    """`plan validate --json` puts every gap in the JSON, and still one line on stderr."""
    (work / "gaps").mkdir(exist_ok=True)
    plan = work / "gaps" / "plan.yaml"  # without the survey CSVs that sit beside the original
    plan.write_text((work / "sim" / "plan.yaml").read_text())
    p = _run(["plan", "validate", str(plan), *SIM, "--json"], work)
    assert p.returncode == 2
    result = json.loads(p.stdout)
    assert result["valid"] is False and result["n_errors"] >= 1
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "plan.yaml" in lines[0], p.stderr


# -- (d) a failed command changes nothing ---------------------------------------------------

# Commands that would write to the store if they got that far.
FAILING_WRITES = [
    ["ingest", "police-uk", "sim/street", "bad.txt"],
    _cmd(
        "ingest partner wrong.csv --indicator x --value-field b --period-field a --layer lsoa"
        " --area-field a"
    ),
    ["areas", "grid", "--cell", "500", "--layer", "lsoa"],
    ["markets", "import", "sim/markets.yaml"],
    ["markets", "add", "market", "m-new", "--level", "street", "--first-seen", "2024-99"],
]


def test_failed_commands_leave_the_store_unchanged(work: Path) -> None:
    before = _snapshot(work, "sim.duckdb")
    for args in FAILING_WRITES:
        p = _run([*args, *SIM, "--json"], work)
        _no_traceback(p)
        assert p.returncode == 2, f"{args}: exit {p.returncode}: {p.stderr}"
    assert _snapshot(work, "sim.duckdb") == before
