"""Market registry: add, import (all or nothing), export round trip, links and areas."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from realimpact.cli import app
from realimpact.errors import InputError, ValidationError
from realimpact.markets import registry
from realimpact.store import Store

EXAMPLE = Path(str(resources.files("realimpact.markets").joinpath("data", "example_registry.yaml")))


@pytest.fixture
def store() -> Store:
    s = Store(":memory:")
    yield s
    s.close()


def _counts(s: Store) -> tuple[int, int, int, int]:
    return tuple(
        int(s.scalar(f"SELECT count(*) FROM {t}"))
        for t in ("market_entities", "market_links", "market_assessments", "market_disruptions")
    )  # type: ignore[return-value]


def test_add_list_show(store: Store) -> None:
    registry.add_entity(store, "group", {"id": "g-1", "type": "OCG", "commodities": ["Crack"]})
    registry.add_entity(
        store,
        "market",
        {
            "id": "m-1",
            "level": "Street",
            "selling_modes": "open street;arrange-to-meet",
            "areas": ["lsoa:E01000001", "lsoa:E01000002"],
            "links": ["g-1"],
        },
    )
    listed = registry.list_entities(store)
    assert listed["count"] == 2
    m = next(e for e in listed["entities"] if e["id"] == "m-1")
    assert m["level"] == "street"
    assert m["selling_modes"] == ["open-street", "arrange-to-meet"]
    assert m["areas"] == ["lsoa:E01000001", "lsoa:E01000002"]
    # links read both ways
    shown = registry.show_entity(store, "g-1")
    assert shown["linked"] == [{"id": "m-1", "kind": "market"}]
    assert shown["entity"]["type"] == "ocg"


def test_duplicate_needs_replace_and_kind_cannot_change(store: Store) -> None:
    registry.add_entity(store, "market", {"id": "m-1", "level": "street"})
    with pytest.raises(ValidationError, match="already in the registry"):
        registry.add_entity(store, "market", {"id": "m-1", "level": "middle"})
    registry.add_entity(store, "market", {"id": "m-1", "level": "middle"}, replace=True)
    assert registry.list_entities(store)["entities"][0]["level"] == "middle"
    with pytest.raises(ValidationError, match="cannot become a group"):
        registry.add_entity(store, "group", {"id": "m-1", "type": "ocg"}, replace=True)


@pytest.mark.parametrize(
    ("kind", "spec", "message"),
    [
        ("market", {"id": "m 1", "level": "street"}, "id: 'm 1' is not a valid id"),
        ("market", {"id": "m-1"}, "level: required for a market"),
        ("market", {"id": "m-1", "level": "retail"}, "level: unknown value 'retail'"),
        (
            "market",
            {"id": "m-1", "level": "street", "commodities": ["khat"]},
            "commodity: unknown value 'khat'",
        ),
        (
            "market",
            {"id": "m-1", "level": "street", "name": "Big Dave"},
            "name: unknown field for a market",
        ),
        ("group", {"id": "g-1", "type": "gang"}, "type: unknown value 'gang'"),
        (
            "place",
            {"id": "p-1", "type": "crack-house", "first_seen": "June"},
            "first_seen: 'June' is not a date",
        ),
        (
            "market",
            {"id": "m-1", "level": "street", "areas": ["E01000001"]},
            "must be LAYER:AREA_ID",
        ),
        (
            "market",
            {"id": "m-1", "level": "street", "links": ["g-404"]},
            "'g-404' is not in the registry",
        ),
    ],
)
def test_bad_entities_are_rejected_with_the_field(
    store: Store, kind: str, spec: dict, message: str
) -> None:
    with pytest.raises(ValidationError) as e:
        registry.add_entity(store, kind, spec)
    assert message in str(e.value)
    assert _counts(store) == (0, 0, 0, 0)


def test_import_example_and_round_trip(store: Store, tmp_path: Path) -> None:
    res = registry.import_registry(store, EXAMPLE)
    src = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    assert res["entities"] == {
        "market": len(src["markets"]),
        "group": len(src["groups"]),
        "place": len(src["places"]),
    }
    assert res["assessments"] == len(src["assessments"])
    assert res["disruptions"] == len(src["disruptions"])
    out = tmp_path / "export.yaml"
    registry.export_registry(store, out)
    other = Store(":memory:")
    try:
        registry.import_registry(other, out)
        assert registry.registry_document(other) == registry.registry_document(store)
    finally:
        other.close()


def test_import_is_all_or_nothing(store: Store, tmp_path: Path) -> None:
    registry.add_entity(store, "market", {"id": "m-keep", "level": "street"})
    before = _counts(store)
    data = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    data["disruptions"][-1]["category"] = (
        "punish"  # last item bad: everything before it must vanish
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data), "utf-8")
    with pytest.raises(ValidationError) as e:
        registry.import_registry(store, bad)
    assert str(e.value).startswith(f"{bad}: disruptions[2].category: unknown value 'punish'")
    assert _counts(store) == before


def test_import_rejects_unknown_section_and_bad_yaml(store: Store, tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("people:\n  - {id: x}\n", "utf-8")
    with pytest.raises(ValidationError, match="people: unknown section"):
        registry.import_registry(store, p)
    p.write_text("markets: [\n", "utf-8")
    with pytest.raises(InputError, match="not valid YAML"):
        registry.import_registry(store, p)


def test_csv_export_import(store: Store, tmp_path: Path) -> None:
    registry.import_registry(store, EXAMPLE)
    out = tmp_path / "entities.csv"
    registry.export_registry(store, out)
    other = Store(":memory:")
    try:
        registry.import_registry(other, out)
        assert registry.list_entities(other) == registry.list_entities(store)
    finally:
        other.close()


def test_csv_import_error_names_line(store: Store, tmp_path: Path) -> None:
    p = tmp_path / "e.csv"
    p.write_text(
        "id,kind,level,selling_modes\nm-1,market,street,open-street\nm-2,market,street,drive-thru\n"
    )
    with pytest.raises(ValidationError) as e:
        registry.import_registry(store, p)
    assert "line 3: selling_mode: unknown value 'drive-thru'" in str(e.value)
    assert _counts(store) == (0, 0, 0, 0)


def test_areas_checked_against_a_loaded_layer(store: Store) -> None:
    store.con.execute("INSERT INTO layers (layer, kind, n_areas) VALUES ('beat', 'boundaries', 1)")
    store.con.execute("INSERT INTO areas (layer, area_id) VALUES ('beat', 'B1')")
    registry.add_entity(
        store, "market", {"id": "m-1", "level": "street", "areas": {"beat": ["B1"]}}
    )
    with pytest.raises(ValidationError, match="beat:B9 is not an area of layer 'beat'"):
        registry.add_entity(
            store, "market", {"id": "m-2", "level": "street", "areas": {"beat": ["B9"]}}
        )


def test_cli_add_list_show_export_json(tmp_path: Path) -> None:
    runner = CliRunner()
    st = str(tmp_path / "s.duckdb")
    r = runner.invoke(
        app,
        [
            "markets",
            "add",
            "market",
            "m-1",
            "--level",
            "street",
            "--selling-mode",
            "open-street",
            "--area",
            "lsoa:E01000001",
            "--store",
            st,
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {
        "id": "m-1",
        "kind": "market",
        "added": 1,
        "updated": 0,
        "notes": ["no records in the store yet; lsoa area ids were not checked"],
    }
    r = runner.invoke(app, ["markets", "list", "--store", st, "--json"])
    assert json.loads(r.stdout)["entities"][0]["selling_modes"] == ["open-street"]
    r = runner.invoke(app, ["markets", "show", "m-1", "--store", st, "--json"])
    assert json.loads(r.stdout)["entity"]["areas"] == ["lsoa:E01000001"]
    r = runner.invoke(app, ["markets", "show", "nope", "--store", st])
    assert r.exit_code == 2
    r = runner.invoke(app, ["markets", "export", "--format", "csv", "--store", st])
    assert r.exit_code == 0
    assert r.stdout.splitlines()[1].startswith("m-1,market,street,")


def test_update_keeps_what_is_not_given(store: Store) -> None:
    registry.add_entity(store, "group", {"id": "g-1", "type": "ocg"})
    registry.add_entity(
        store,
        "market",
        {"id": "m-1", "level": "street", "areas": ["lsoa:E01000001"], "links": ["g-1"]},
    )
    registry.add_entity(store, "market", {"id": "m-1", "level": "middle"}, merge=True)
    m = registry.list_entities(store, "market")["entities"][0]
    assert (m["level"], m["areas"], m["links"]) == ("middle", ["lsoa:E01000001"], ["g-1"])
    # an import-style replace is the whole new definition
    registry.add_entity(store, "market", {"id": "m-1", "level": "street"}, replace=True)
    m = registry.list_entities(store, "market")["entities"][0]
    assert (m["level"], m["areas"], m["links"]) == ("street", [], [])


def test_entity_areas_include_linked_places_and_fall_back_to_links(store: Store) -> None:
    registry.import_registry(store, EXAMPLE)
    # m-col-estate: its own two LSOAs plus its crack house's (already among them)
    assert registry.entity_areas(store, "m-col-estate") == [
        ("lsoa", "E01000002"),
        ("lsoa", "E01000005"),
    ]
    # a group with no areas borrows those of the market it runs
    assert registry.entity_areas(store, "g-col-line-a") == registry.entity_areas(
        store, "m-col-station"
    )
    assert registry.entity_areas(store, "m-col-middle") == []


def test_lsoa_codes_checked_against_records(store: Store) -> None:
    store.con.execute(
        "INSERT INTO crimes (file_id, line, month, has_coords, crime_type, lsoa_code)"
        " VALUES (1, 2, '2020-01', false, 'Drugs', 'E01000001')"
    )
    res = registry.add_entity(
        store,
        "market",
        {"id": "m-1", "level": "street", "areas": ["lsoa:E01000001", "lsoa:E01999999"]},
    )
    assert res["notes"] == ["m-1: lsoa E01999999 not in any stored record"]
    assert registry.list_entities(store)["entities"][0]["areas"] == [
        "lsoa:E01000001",
        "lsoa:E01999999",
    ]


def test_cli_add_prints_its_notes_without_json(tmp_path: Path) -> None:
    """Issue 11: `markets add` hid its notes (unknown layer, unknown area) unless --json."""
    from realimpact.sources.police_uk import ingest_police_uk
    from tests.conftest import DATA

    st = str(tmp_path / "s.duckdb")
    ingest_police_uk(
        sorted((DATA / "police_uk" / "city_of_london" / "street").glob("2019-0[1-2]*.csv")),
        store=st,
    )
    runner = CliRunner()
    r = runner.invoke(app, ["markets", "add", "place", "P9", "--type", "residential", "--area", "beats:B1",
                            "--area", "lsoa:E09999999", "--store", st])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "added place P9" in r.stdout
    assert "layer 'beats' not loaded" in r.stderr
    assert "lsoa E09999999 not in any stored record" in r.stderr
