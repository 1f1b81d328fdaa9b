"""Harm assessments: validation, versions that are never overwritten, evidence from the store."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from realimpact.cli import app
from realimpact.errors import ValidationError
from realimpact.markets import assessment, registry
from realimpact.store import Store

H1, H2 = "ph-increase-violence", "ph-risk-exploitation"


def _spec(entity: str = "m-1", date: str = "2020-01-01", impact: int = 4) -> dict:
    return {
        "entity": entity,
        "date": date,
        "harms": [
            {"harm_id": H1, "impact": impact, "likelihood": 3, "confidence": "A", "evidence": "x"},
            {"harm_id": H2, "impact": 2, "likelihood": 5, "confidence": "C"},
        ],
        "position": {"capability": 3, "capacity": 4, "confidence": "B"},
    }


@pytest.fixture
def store() -> Store:
    s = Store(":memory:")
    registry.add_entity(s, "market", {"id": "m-1", "level": "street"})
    yield s
    s.close()


def test_versions_are_appended_never_overwritten(store: Store) -> None:
    a1 = assessment.assess(store, _spec(date="2020-01-01", impact=4))
    a2 = assessment.assess(store, _spec(date="2020-06-01", impact=2))
    assert (a1["assessment_id"], a2["assessment_id"]) == ("m-1@v1", "m-1@v2")
    hist = assessment.assessment_history(store, "m-1")
    assert [h["version"] for h in hist] == [1, 2]
    assert [h["harms"][0]["impact"] for h in hist] == [4, 2]  # v1 unchanged by v2
    # latest as of a date picks the version in force then
    assert assessment.latest_assessments(store, "2020-03-01")[0]["version"] == 1
    assert assessment.latest_assessments(store)[0]["version"] == 2
    assert assessment.latest_assessments(store, "2019-12-31") == []


def test_score_by_hand(store: Store) -> None:
    res = assessment.assess(store, _spec(impact=4), prefill=False)
    # harm = 4*3 + 2*5 = 22; position = (3 + 4) / 2 = 3.5; score = 22 * 3.5 = 77
    assert res["harm_score"] == 22
    assert res["position"] == 3.5
    assert res["score"] == pytest.approx(77.0)
    # confidence: 12/22 of the harm score rests on A, 10/22 (> 1/3) on C -> grade C
    assert res["confidence"]["share"]["C"] == pytest.approx(10 / 22)
    assert res["confidence"]["grade"] == "C"


@pytest.mark.parametrize(
    ("grades", "position", "expected"),
    [
        (("A", "A"), "A", "A"),
        (("A", "B"), "A", "B"),
        (("A", "A"), "B", "B"),
        (("A", "A"), "C", "C"),
        (("B", "B"), "A", "B"),
    ],
)
def test_confidence_rule(grades: tuple[str, str], position: str, expected: str) -> None:
    rows = [{"contribution": 10.0, "confidence": g} for g in grades]
    assert assessment.confidence_summary(rows, position)["grade"] == expected


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"harms": [{"harm_id": "ph-nope", "impact": 3, "likelihood": 3, "confidence": "A"}]},
            "harms[0].harm_id: 'ph-nope' is not in the harm taxonomy",
        ),
        (
            {"harms": [{"harm_id": H1, "impact": 7, "likelihood": 3, "confidence": "A"}]},
            "harms[0].impact: 7 is not a impact score",
        ),
        (
            {"harms": [{"harm_id": H1, "impact": 3, "likelihood": 3, "confidence": "Z"}]},
            "harms[0].confidence: 'Z' is not a confidence grade",
        ),
        ({"harms": []}, "harms: at least one harm score is required"),
        ({"position": None}, "position: required"),
        ({"date": "01/02/2020"}, "date: '01/02/2020' is not a date"),
        ({"entity": "m-404"}, "entity: 'm-404' is not in the registry"),
    ],
)
def test_bad_assessments(store: Store, change: dict, message: str) -> None:
    spec = {**_spec(), **change}
    with pytest.raises(ValidationError) as e:
        assessment.assess(store, spec)
    assert message in str(e.value)
    assert store.scalar("SELECT count(*) FROM market_assessments") == 0
    assert store.scalar("SELECT count(*) FROM market_assessment_harms") == 0


def test_prefill_counts_match_the_csv_files(shared: Path, tmp_path: Path) -> None:
    """Evidence from the store equals a count made directly from the police.uk CSVs."""
    from realimpact.sources.police_uk import ingest_police_uk

    street = shared / "data" / "police_uk" / "city_of_london" / "street"
    st = Store(tmp_path / "s.duckdb")
    try:
        files = sorted(street.rglob("*-street.csv"))
        assert ingest_police_uk(files, st).ok
        areas = ["E01032739", "E01032740"]
        registry.add_entity(
            st, "market", {"id": "m-col", "level": "street", "areas": {"lsoa": areas}}
        )
        pre = assessment.prefill_evidence(st, "m-col", as_of=dt.date(2020, 2, 29))
        raw = pd.concat(pd.read_csv(f, usecols=["Month", "LSOA code", "Crime type"]) for f in files)
        raw = raw[raw["LSOA code"].isin(areas) & (raw["Month"] <= "2020-02")]
        months = sorted(raw["Month"].unique())[-12:]
        drugs = (
            raw[(raw["Crime type"] == "Drugs") & raw["Month"].isin(months)].groupby("Month").size()
        )
        drugs = drugs.reindex(months, fill_value=0)
        assert pre["months"] == [months[0], months[-1]] == ["2019-03", "2020-02"]
        assert pre["groups"]["drugs"]["total"] == int(drugs.sum())
        assert pre["groups"]["drugs"]["last3_mean"] == pytest.approx(drugs.iloc[-3:].mean())
        assert pre["groups"]["drugs"]["prev3_mean"] == pytest.approx(drugs.iloc[-6:-3].mean())
        # harm-weighted with the CCHI set of realimpact.harm
        from realimpact.harm.weights import cchi_weights

        w = cchi_weights().weights
        in_window = raw[raw["Month"].isin(months)]
        days = sum(w[ct] * n for ct, n in in_window["Crime type"].value_counts().items())
        assert pre["harm_cchi"]["total_days"] == pytest.approx(days)
        # stored with the assessment
        res = assessment.assess(st, {**_spec("m-col", "2020-02-29")})
        assert assessment.assessment_history(st, "m-col")[0]["prefill"] == json.loads(
            json.dumps(res["prefill"])
        )
    finally:
        st.close()


def test_cli_assess_json_and_bad_harm_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    st = str(tmp_path / "s.duckdb")
    runner.invoke(app, ["markets", "add", "group", "g-1", "--type", "ocg", "--store", st])
    args = [
        "markets",
        "assess",
        "g-1",
        "--harm",
        f"{H1}:4:3:A:two stabbings",
        "--harm",
        f"{H2}:2:5:C",
        "--capability",
        "3",
        "--capacity",
        "4",
        "--position-confidence",
        "B",
        "--date",
        "2020-01-01",
        "--store",
        st,
        "--json",
    ]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["assessment_id"] == "g-1@v1"
    assert out["score"] == pytest.approx(77.0)
    r = runner.invoke(app, [*args[:4], "ph-nope:4:3:A", *args[5:]])
    assert r.exit_code == 2
    assert "not in the harm taxonomy" in r.stderr
