"""Issue 13: every field of a plan given a wrong type is a message (exit 2 or 0), never a crash.

The shipped City of London plan has each field in turn (top level and nested)
replaced by an int, a list, a mapping, text and null; `plan validate` must
report it (or accept it) and never exit 1.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from realimpact.cli import app
from realimpact.plans.model import load_plan, parse_plan
from realimpact.plans.validate import validate_plan
from realimpact.store import Store

EXAMPLE = (
    Path(__file__).resolve().parents[1] / "examples" / "plans" / "city-of-london-lockdown-2020.yaml"
)
WRONG: list[Any] = [7, ["x", 1], {"a": 1}, "text", None, [[1, 2]], 2.5, True]


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every field path of a plan mapping (keys and list indices), top level first."""
    out: list[tuple] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append((*prefix, k))
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:2]):  # the first two items of a list stand for the rest
            out.append((*prefix, i))
            out += _paths(v, (*prefix, i))
    return out


def _replaced(raw: dict, path: tuple, value: Any) -> dict:
    d = copy.deepcopy(raw)
    node = d
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = copy.deepcopy(value)
    return d


RAW = yaml.safe_load(EXAMPLE.read_text("utf-8"))
PATHS = _paths(RAW)


def _name(path: tuple) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path).lstrip(".")


def test_the_paths_cover_top_level_and_nested_fields() -> None:
    names = {_name(p) for p in PATHS}
    assert {
        "areas.target",
        "indicators[0].baseline",
        "indicators[0].baseline.from",
        "harms[0]",
    } <= names
    assert {"start", "targets.selling_modes", "unintended_consequences[0].monitor"} <= names


@pytest.mark.parametrize("path", PATHS, ids=_name)
def test_every_field_of_a_wrong_type_is_a_message_not_a_crash(path: tuple) -> None:
    for value in WRONG:
        plan = parse_plan(_replaced(RAW, path, value), "plan.yaml")
        result = validate_plan(plan, None)  # must not raise
        for issue in result.errors + result.warnings:
            assert len(str(issue)) < 1000


@pytest.fixture(scope="module")
def col_store(tmp_path_factory: pytest.TempPathFactory, shared: Path) -> Path:
    from realimpact.sources.police_uk import ingest_police_uk

    path = tmp_path_factory.mktemp("col") / "col.duckdb"
    with Store(path) as st:
        assert ingest_police_uk([shared / "data" / "police_uk" / "city_of_london"], st).ok
    return path


def test_wrong_types_against_a_store_never_crash(col_store: Path) -> None:
    """With data to check against, the checks that read areas, windows and crime types."""
    with Store(col_store, read_only=True) as st:
        for path in PATHS:
            for value in (7, ["x", 1], {"a": 1}):
                plan = parse_plan(_replaced(RAW, path, value), "plan.yaml")
                validate_plan(plan, st, require_data=True)


def test_cli_exits_2_or_0_never_1(col_store: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    seen = 0
    # the CLI path once per top-level and second-level field (the library test above
    # covers every field); each run opens the store, so the sample is kept small
    for path in [p for p in PATHS if len(p) <= 2]:
        for value in (7, {"a": 1}):
            f = tmp_path / "p.yaml"
            f.write_text(yaml.safe_dump(_replaced(RAW, path, value)), "utf-8")
            r = runner.invoke(app, ["plan", "validate", str(f), "--store", str(col_store)])
            assert r.exit_code in (0, 2), (_name(path), value, r.stderr, r.exception)
            if r.exit_code == 2:
                assert r.stderr.strip(), _name(path)
            seen += 1
    assert seen > 40


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("id: x\nstart: 2024-99-01\n", "not valid YAML"),
        ("[" * 500 + "]" * 500, "nested more than"),
        ("a: &a [*a]\n", "recursive alias"),
        ("id: " + "9" * 6000 + "\n", "not valid YAML"),
    ],
)
def test_load_plan_refuses_hostile_yaml_with_one_line(
    tmp_path: Path, text: str, expect: str
) -> None:
    from realimpact.errors import InputError

    f = tmp_path / "p.yaml"
    f.write_text(text, "utf-8")
    with pytest.raises(InputError) as e:
        load_plan(f)
    assert expect in str(e.value) and str(f) in str(e.value)
    assert "\n" not in str(e.value) and len(str(e.value)) < 500
