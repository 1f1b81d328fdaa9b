"""Disruption records: 4P, impact levels under written criteria, flags on unevidenced claims."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from realimpact.cli import app
from realimpact.errors import ValidationError
from realimpact.markets import registry
from realimpact.markets.disruptions import add_disruption, disruption_flags, disruption_summary
from realimpact.store import Store

GOOD_EVIDENCE = "Line inactive for 10 weeks; no runners seen in three weekly observations."


@pytest.fixture
def store() -> Store:
    s = Store(":memory:")
    registry.add_entity(s, "group", {"id": "g-1", "type": "county-line"})
    registry.add_entity(s, "group", {"id": "g-2", "type": "ocg", "status": "archived"})
    yield s
    s.close()


def _d(**kw: object) -> dict:
    base = {
        "entity": "g-1",
        "date": "2020-03-01",
        "category": "pursue",
        "impact": "minor",
        "planned": True,
        "capability_evidence": GOOD_EVIDENCE,
    }
    return {**base, **kw}


@pytest.mark.parametrize(
    ("kw", "flags"),
    [
        ({}, []),
        ({"capability_evidence": None}, ["no evidence of impact on capability"]),
        ({"capability_evidence": "Phone seized"}, ["evidence of impact under 5 words"]),
        ({"impact": "moderate"}, ["moderate impact claimed without an evidence reference"]),
        ({"impact": "moderate", "evidence_refs": ["intel-1"]}, []),
        (
            {"impact": "major", "evidence_refs": ["intel-1"]},
            ["major impact claimed but the entity is still active"],
        ),
        ({"impact": "major", "evidence_refs": ["r"], "entity": "g-2"}, []),
        ({"planned": False}, ["not a planned, targeted event"]),
    ],
)
def test_flags(store: Store, kw: dict, flags: list[str]) -> None:
    assert add_disruption(store, _d(**kw))["flags"] == flags


def test_summary_counts_and_flags(store: Store) -> None:
    add_disruption(store, _d())
    add_disruption(store, _d(category="protect", impact="moderate", evidence_refs=["x"]))
    add_disruption(store, _d(entity="g-2", impact="major", capability_evidence=None))
    add_disruption(store, _d(date="2019-01-01", category="prevent"))
    s = disruption_summary(store)
    assert s["count"] == 4
    assert s["by_category"] == {"prepare": 0, "prevent": 1, "protect": 1, "pursue": 2}
    assert s["by_impact"] == {"minor": 2, "moderate": 1, "major": 1}
    assert s["table"]["pursue"] == {"minor": 1, "moderate": 0, "major": 1}
    assert s["pursue_share"] == 0.5
    assert s["with_evidence"] == 3
    assert s["flagged"] == 1  # the major one: no evidence, and no reference
    flagged = [d for d in s["disruptions"] if d["flags"]]
    assert [d["entity_id"] for d in flagged] == ["g-2"] and len(flagged[0]["flags"]) == 2
    assert [d["date"] for d in s["disruptions"]] == sorted(d["date"] for d in s["disruptions"])
    assert disruption_summary(store, since="2020-01-01")["count"] == 3
    assert disruption_summary(store, entity="g-2")["count"] == 1
    assert set(s["criteria"]) == {"minor", "moderate", "major"}


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (
            {"category": "punish"},
            "category: unknown value 'punish'; allowed: prepare, prevent, protect, pursue",
        ),
        ({"impact": "huge"}, "impact: unknown value 'huge'; allowed: minor, moderate, major"),
        ({"entity": "g-404"}, "entity: 'g-404' is not in the registry"),
        ({"date": None}, "date: required"),
        ({"planned": "maybe"}, "planned: 'maybe' is not true or false"),
    ],
)
def test_bad_disruptions(store: Store, kw: dict, message: str) -> None:
    with pytest.raises(ValidationError) as e:
        add_disruption(store, _d(**kw))
    assert message in str(e.value)
    assert store.scalar("SELECT count(*) FROM market_disruptions") == 0


def test_ids_are_unique(store: Store) -> None:
    a = add_disruption(store, _d())
    b = add_disruption(store, _d(id="d-00002"))
    c = add_disruption(store, _d())
    assert (a["disruption_id"], b["disruption_id"]) == ("d-00001", "d-00002")
    assert c["disruption_id"] == "d-00003"
    with pytest.raises(ValidationError, match="already recorded"):
        add_disruption(store, _d(id="d-00001"))


def test_flag_function_is_pure() -> None:
    d = {"impact": "major", "capability_evidence": "", "evidence_refs": [], "planned": None}
    assert disruption_flags(d, "archived") == [
        "no evidence of impact on capability",
        "major impact claimed without an evidence reference",
    ]


def test_cli_disrupt_and_summary(tmp_path: Path) -> None:
    runner = CliRunner()
    st = str(tmp_path / "s.duckdb")
    runner.invoke(app, ["markets", "add", "group", "g-1", "--type", "county-line", "--store", st])
    r = runner.invoke(
        app,
        [
            "markets",
            "disrupt",
            "g-1",
            "--date",
            "2020-03-01",
            "--category",
            "pursue",
            "--impact",
            "major",
            "--store",
            st,
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "no evidence of impact on capability" in json.loads(r.stdout)["flags"]
    r = runner.invoke(app, ["markets", "disruptions", "--store", st, "--json"])
    out = json.loads(r.stdout)
    assert out["count"] == 1 and out["flagged"] == 1
    r = runner.invoke(
        app,
        [
            "markets",
            "disrupt",
            "g-1",
            "--date",
            "2020-03-01",
            "--category",
            "punish",
            "--impact",
            "major",
            "--store",
            st,
        ],
    )
    assert r.exit_code == 2 and "category: unknown value 'punish'" in r.stderr
