"""Prioritisation: the score checked by hand, community weights, and the +-25 % sensitivity check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from realimpact.cli import app
from realimpact.errors import ValidationError
from realimpact.markets import registry
from realimpact.markets.ranking import load_weights, rank, rank_assessments
from realimpact.markets.sensitivity import sensitivity_check
from realimpact.store import Store

H1, H2 = "ph-increase-violence", "ph-risk-exploitation"


def _a(
    entity: str, harms: list[tuple[str, int, int, str]], cap: int, capa: int, conf: str = "B"
) -> dict:
    return {
        "entity_id": entity,
        "harms": [
            {"harm_id": h, "impact": i, "likelihood": lk, "confidence": c} for h, i, lk, c in harms
        ],
        "capability": cap,
        "capacity": capa,
        "position_confidence": conf,
    }


# Small case worked by hand:
#   A: h1 4x3 = 12, h2 2x5 = 10 -> harm 22; position (3+4)/2 = 3.5 -> score 77
#   B: h1 5x5 = 25              -> harm 25; position (2+2)/2 = 2   -> score 50
CASE = [_a("A", [(H1, 4, 3, "A"), (H2, 2, 5, "B")], 3, 4), _a("B", [(H1, 5, 5, "A")], 2, 2)]


def test_rank_by_hand() -> None:
    items = rank_assessments(CASE)
    assert [(i["id"], i["rank"], i["score"]) for i in items] == [("A", 1, 77.0), ("B", 2, 50.0)]
    a = items[0]
    assert a["harm_score"] == 22 and a["position"] == 3.5
    assert [(b["harm_id"], b["contribution"]) for b in a["breakdown"]] == [(H1, 12.0), (H2, 10.0)]


@pytest.mark.parametrize(
    ("weights", "pos_w", "expected"),
    [
        ({H1: 2.0}, 1.0, [("A", 119.0), ("B", 100.0)]),  # A (24+10)*3.5, B 50*2
        ({H1: 0.5}, 1.0, [("A", 56.0), ("B", 25.0)]),  # A (6+10)*3.5, B 12.5*2
        ({}, 0.0, [("B", 25.0), ("A", 22.0)]),  # position ignored: harm alone
        ({H2: 0.0}, 1.0, [("B", 50.0), ("A", 42.0)]),  # A 12*3.5
    ],
)
def test_weights_by_hand(weights: dict, pos_w: float, expected: list) -> None:
    items = rank_assessments(CASE, harm_weights=weights, position_weight=pos_w)
    assert [(i["id"], i["score"]) for i in items] == [(e, pytest.approx(s)) for e, s in expected]


def test_ties_broken_by_id() -> None:
    same = [_a("z", [(H1, 2, 2, "A")], 2, 2), _a("a", [(H1, 2, 2, "A")], 2, 2)]
    assert [i["id"] for i in rank_assessments(same)] == ["a", "z"]


def test_sensitivity_by_hand() -> None:
    # P: h1 4x4 = 16, position 3 -> 48;  Q: h2 5x5 = 25, position 2 -> 50. Top 1 = Q.
    # position x1.25: P 16*3**1.25 = 63.2 > Q 25*2**1.25 = 59.5 -> P enters
    # position x0.75: P 36.5 < Q 42.0;  h1 x1.25: P 60 > 50 -> P enters;  h1 x0.75: P 36
    # h2 x0.75: Q 37.5 < 48 -> P enters;  h2 x1.25: Q 62.5
    case = [_a("P", [(H1, 4, 4, "A")], 3, 3), _a("Q", [(H2, 5, 5, "A")], 2, 2)]
    s = sensitivity_check(case, None, None, top=1)
    assert s["base_top"] == ["Q"]
    changed = {(m["weight"], m["factor"]) for m in s["moves"] if m["entered"]}
    assert changed == {("position", 1.25), (H1, 1.25), (H2, 0.75)}
    assert s["n_moves"] == 6 and s["n_membership_changes"] == 3
    assert s["stable_top"] == []
    for m in s["moves"]:
        assert m["kendall_tau"] == (-1.0 if m["entered"] else 1.0)


def test_uniform_scaling_never_changes_order() -> None:
    base = [i["id"] for i in rank_assessments(CASE, harm_weights={H1: 1.0, H2: 1.0})]
    scaled = [i["id"] for i in rank_assessments(CASE, harm_weights={H1: 1.25, H2: 1.25})]
    assert base == scaled


def test_load_weights(tmp_path: Path) -> None:
    y = tmp_path / "w.yaml"
    y.write_text(f"weights:\n  {H1}: 2\n  {H2}: 0.5\n")
    assert load_weights(y) == {H1: 2.0, H2: 0.5}
    c = tmp_path / "w.csv"
    c.write_text(f"harm_id,weight\n{H1},1.5\n")
    assert load_weights(c) == {H1: 1.5}
    c.write_text("harm_id,weight\nph-made-up,1\n")
    with pytest.raises(ValidationError, match="ph-made-up: not a harm id"):
        load_weights(c)
    c.write_text(f"harm_id,weight\n{H1},-1\n")
    with pytest.raises(ValidationError, match="weight '-1' is not a number >= 0"):
        load_weights(c)


def test_rank_from_store_uses_latest_version_and_lists_unassessed() -> None:
    from realimpact.markets.assessment import assess

    st = Store(":memory:")
    try:
        for eid in ("A", "B", "C"):
            registry.add_entity(st, "market", {"id": eid, "level": "street"})
        pos = {"capability": 3, "capacity": 4, "confidence": "B"}
        assess(
            st,
            {
                "entity": "A",
                "date": "2020-01-01",
                "harms": [{"harm_id": H1, "impact": 1, "likelihood": 1, "confidence": "A"}],
                "position": pos,
            },
        )
        assess(
            st,
            {
                "entity": "A",
                "date": "2020-05-01",
                "harms": [{"harm_id": H1, "impact": 5, "likelihood": 5, "confidence": "A"}],
                "position": pos,
            },
        )
        assess(
            st,
            {
                "entity": "B",
                "date": "2020-01-01",
                "harms": [{"harm_id": H1, "impact": 3, "likelihood": 3, "confidence": "A"}],
                "position": pos,
            },
        )
        now = rank(st)
        assert [(i["id"], i["score"]) for i in now["items"]] == [("A", 87.5), ("B", 31.5)]
        assert now["unassessed"] == ["C"]
        before = rank(st, as_of="2020-02-01")
        assert [(i["id"], i["score"]) for i in before["items"]] == [("B", 31.5), ("A", 3.5)]
    finally:
        st.close()


def test_cli_rank_json_with_weights(tmp_path: Path) -> None:
    from importlib import resources

    example = str(resources.files("realimpact.markets").joinpath("data", "example_registry.yaml"))
    runner = CliRunner()
    st = str(tmp_path / "s.duckdb")
    assert runner.invoke(app, ["markets", "import", example, "--store", st]).exit_code == 0
    w = tmp_path / "w.yaml"
    w.write_text(f"{H2}: 2\n")
    r = runner.invoke(
        app, ["markets", "rank", "--weights", str(w), "--top", "5", "--store", st, "--json"]
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["weights"]["harms"] == {H2: 2.0}
    # every score is recomputable from its own breakdown
    for it in out["items"]:
        harm = sum(b["weight"] * b["impact"] * b["likelihood"] for b in it["breakdown"])
        assert it["score"] == pytest.approx(harm * ((it["capability"] + it["capacity"]) / 2))
        assert it["confidence"]["grade"] in "ABC"
    assert out["sensitivity"]["top"] == 5
    assert [i["rank"] for i in out["items"]] == list(range(1, len(out["items"]) + 1))


def test_survey_weights_mean_rating(tmp_path: Path) -> None:
    from realimpact.markets.assessment import assess
    from realimpact.markets.ranking import weights_from_survey

    survey = tmp_path / "survey.csv"
    survey.write_text(f"respondent,harm_id,rating\nr1,{H1},5\nr2,{H1},3\nr1,{H2},2\n")
    w, info = weights_from_survey(survey)
    assert w == {H1: 4.0, H2: 2.0}  # mean of (5, 3); the single rating 2
    assert info["respondents"] == 2 and info["n_per_harm"] == {H1: 2, H2: 1}
    st = Store(":memory:")
    try:
        registry.add_entity(st, "market", {"id": "A", "level": "street"})
        harms = [
            {"harm_id": H1, "impact": 4, "likelihood": 3, "confidence": "A"},
            {"harm_id": H2, "impact": 2, "likelihood": 5, "confidence": "B"},
            {"harm_id": "ph-overdose-death", "impact": 5, "likelihood": 1, "confidence": "B"},
        ]
        pos = {"capability": 3, "capacity": 4, "confidence": "B"}
        assess(st, {"entity": "A", "date": "2020-01-01", "harms": harms, "position": pos})
        res = rank(st, survey=survey)
        # (4*4*3 + 2*2*5 + 1*5*1) * 3.5 = (48 + 20 + 5) * 3.5
        assert res["items"][0]["score"] == pytest.approx(73 * 3.5)
        assert res["weights"]["survey"]["unrated_harms"] == ["ph-overdose-death"]
        with pytest.raises(ValidationError, match="not both"):
            rank(st, survey=survey, weights={H1: 1.0})
    finally:
        st.close()


def test_cli_rank_top_shows_only_the_top(tmp_path: Path) -> None:
    """Issue 11: `markets rank --top 2` printed every entity."""
    from importlib import resources

    example = str(resources.files("realimpact.markets").joinpath("data", "example_registry.yaml"))
    runner = CliRunner()
    st = str(tmp_path / "s.duckdb")
    assert runner.invoke(app, ["markets", "import", example, "--store", st]).exit_code == 0
    full = json.loads(runner.invoke(app, ["markets", "rank", "--store", st, "--json"]).stdout)
    assert len(full["items"]) > 2
    r = runner.invoke(app, ["markets", "rank", "--top", "2", "--store", st])
    assert r.exit_code == 0, r.output
    shown = [it["id"] for it in full["items"] if it["rank"] <= 2]
    hidden = [it["id"] for it in full["items"] if it["rank"] > 2]
    assert all(i in r.stdout for i in shown)
    assert not any(f" {i} " in r.stdout for i in hidden)
    assert f"top 2 of {len(full['items'])} ranked shown" in r.stdout
