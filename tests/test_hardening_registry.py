"""Issue 13: a market registry with a wrong type in any field is exit 2 naming the field.

`selling_modes: 0` was a TypeError (exit 1); every field of the registry
format is now type-checked before anything is stored.
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from realimpact.cli import app
from realimpact.errors import InputError
from realimpact.markets import registry
from realimpact.store import Store

EXAMPLE = Path(str(resources.files("realimpact.markets").joinpath("data", "example_registry.yaml")))
RAW = yaml.safe_load(EXAMPLE.read_text("utf-8"))
TABLES = ("market_entities", "market_links", "market_assessments", "market_disruptions")

# (section, index, field): every list field of the format, in each kind that has it.
LIST_FIELDS = [
    ("markets", 0, "selling_modes"),
    ("markets", 0, "commodities"),
    ("markets", 0, "groups"),
    ("markets", 0, "places"),
    ("markets", 0, "markets"),
    ("markets", 0, "links"),
    ("markets", 0, "areas"),
    ("groups", 0, "commodities"),
    ("groups", 0, "markets"),
    ("places", 0, "markets"),
    ("places", 0, "areas"),
    ("disruptions", 0, "evidence_refs"),
    ("assessments", 0, "harms"),
]
SCALAR_FIELDS = [
    ("markets", 0, "id"),
    ("markets", 0, "level"),
    ("markets", 0, "status"),
    ("markets", 0, "description"),
    ("markets", 0, "first_seen"),
    ("markets", 0, "last_seen"),
    ("groups", 0, "type"),
    ("places", 0, "type"),
    ("disruptions", 0, "entity"),
    ("disruptions", 0, "category"),
    ("disruptions", 0, "description"),
    ("assessments", 0, "assessor"),
    ("assessments", 0, "note"),
]
NOT_A_LIST = [0, 5, 2.5, {"a": 1}, True]
BAD_ITEMS = [[["open-street"]], [{"a": 1}], [None], [[1, 2]]]
NOT_A_VALUE = [["x"], {"a": 1}, [["x"]]]


def _counts(s: Store) -> tuple[int, ...]:
    return tuple(int(s.scalar(f"SELECT count(*) FROM {t}")) for t in TABLES)


@pytest.fixture
def store():
    s = Store(":memory:")
    registry.import_registry(s, EXAMPLE)  # something stored that a refused file must not touch
    yield s
    s.close()


def _write(tmp_path: Path, section: str, i: int, key: str, value: Any) -> Path:
    doc = copy.deepcopy(RAW)
    doc[section][i][key] = value
    # fresh ids, so only the wrong type can make the import fail
    p = tmp_path / "reg.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")
    return p


def _refused(store: Store, path: Path) -> str:
    before = _counts(store)
    with pytest.raises(InputError) as e:
        registry.import_registry(store, path, replace=True)
    assert _counts(store) == before
    msg = str(e.value)
    assert msg.startswith(f"{path}: ") and "\n" not in msg and len(msg) < 500, msg
    return msg


@pytest.mark.parametrize(("section", "i", "key"), LIST_FIELDS, ids=lambda x: str(x))
def test_a_list_field_of_another_type_is_exit_2_naming_it(
    store: Store, tmp_path: Path, section: str, i: int, key: str
) -> None:
    for value in NOT_A_LIST:
        msg = _refused(store, _write(tmp_path, section, i, key, value))
        assert f"{section}[{i}].{key}" in msg, msg
        if section != "assessments" or value not in (0,):
            assert "expected a" in msg, msg
    for value in BAD_ITEMS:
        if key == "harms":
            continue  # items of harms are mappings, checked by the assessment parser
        msg = _refused(store, _write(tmp_path, section, i, key, value))
        assert f"{section}[{i}].{key}" in msg, msg


def test_the_int_message_reads_as_the_issue_asks(store: Store, tmp_path: Path) -> None:
    p = _write(tmp_path, "markets", 0, "selling_modes", 0)
    assert _refused(store, p) == f"{p}: markets[0].selling_modes: expected a list, got int"


@pytest.mark.parametrize(("section", "i", "key"), SCALAR_FIELDS, ids=lambda x: str(x))
def test_a_one_value_field_given_a_list_or_mapping_is_exit_2(
    store: Store, tmp_path: Path, section: str, i: int, key: str
) -> None:
    for value in NOT_A_VALUE:
        msg = _refused(store, _write(tmp_path, section, i, key, value))
        assert f"{section}[{i}].{key}" in msg, msg


@pytest.mark.parametrize("section", ["markets", "groups", "places", "assessments", "disruptions"])
def test_a_section_or_record_of_the_wrong_type(store: Store, tmp_path: Path, section: str) -> None:
    for value in (0, "x", {"a": 1}):
        doc = copy.deepcopy(RAW)
        doc[section] = value
        p = tmp_path / "reg.yaml"
        p.write_text(yaml.safe_dump(doc), "utf-8")
        assert "expected a list" in _refused(store, p)
    for value in (0, "x", [1]):
        doc = copy.deepcopy(RAW)
        doc[section][0] = value
        p = tmp_path / "reg.yaml"
        p.write_text(yaml.safe_dump(doc), "utf-8")
        assert f"{section}[0]" in _refused(store, p)


def test_mixed_key_types_and_areas_mapping_of_numbers(store: Store, tmp_path: Path) -> None:
    doc = copy.deepcopy(RAW)
    doc[1] = "x"  # a number key beside text keys used to make sorted() raise
    p = tmp_path / "reg.yaml"
    p.write_text(yaml.safe_dump(doc), "utf-8")
    assert "1: unknown section" in _refused(store, p)
    doc = copy.deepcopy(RAW)
    doc["markets"][0]["areas"] = {"lsoa": 5}
    p.write_text(yaml.safe_dump(doc), "utf-8")
    assert "markets[0].areas.lsoa: expected a list" in _refused(store, p)


def test_cli_exit_2_never_1_and_store_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    runner = CliRunner()
    assert (
        runner.invoke(app, ["markets", "import", str(EXAMPLE), "--store", str(db)]).exit_code == 0
    )
    with Store(db, read_only=True) as s:
        before = _counts(s)
    for section, i, key in LIST_FIELDS:
        for value in (0, "x" if key == "harms" else {"a": 1}, [[1]]):
            p = _write(tmp_path, section, i, key, value)
            r = runner.invoke(app, ["markets", "import", str(p), "--replace", "--store", str(db)])
            assert r.exit_code == 2, (section, key, value, r.stderr, r.exception)
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and str(p) in lines[0], r.stderr
    with Store(db, read_only=True) as s:
        assert _counts(s) == before
