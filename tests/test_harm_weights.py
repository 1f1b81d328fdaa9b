"""Harm weights: the CCHI derivation re-done from the shared CSV, user and community sets,
and bad input (clear error, exit 2, store unchanged)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from realimpact.cli import app
from realimpact.errors import InputError, ValidationError
from realimpact.harm.taxonomy import harm_ids
from realimpact.harm.weights import (
    CRIME_TYPES,
    cchi_subgroup_map,
    cchi_weights,
    community_weights,
    count_weights,
    crime_type_harm_links,
    derive_cchi,
    get_weights,
    object_of_search_map,
    read_survey,
    read_weights_file,
)
from realimpact.store import Store

CCHI_CSV = "data/harm_weights/cchi2026_subgroup_medians_isthisben.csv"


def test_shipped_cchi_table_rederived_from_shared_csv(shared: Path) -> None:
    """Count-weighted mean of CCHI subgroup medians per police.uk category, by plain pandas."""
    df = pd.read_csv(shared / CCHI_CSV)
    df["days_x_n"] = df["cchi_days"] * df["national_count_2024_25"]
    g = df.groupby("category")[["days_x_n", "national_count_2024_25"]].sum()
    expected = g["days_x_n"] / g["national_count_2024_25"]
    shipped = cchi_weights().weights
    assert set(expected.index) == set(CRIME_TYPES) - {"Anti-social behaviour"}
    for ct, w in expected.items():
        assert shipped[ct] == pytest.approx(w, rel=1e-12), ct
    # ASB has no CCHI value: documented choice of 1 day (the lowest weight)
    assert shipped["Anti-social behaviour"] == 1.0 == min(shipped.values())
    # the package's own derivation reproduces the shipped table, and its hash
    d = derive_cchi(shared / CCHI_CSV)
    assert d["weights"] == shipped
    assert d["sha256"] == cchi_weights().details["source_sha256"]
    # our mapping file agrees with the category column of the source
    assert cchi_subgroup_map() == dict(zip(df["prc_subgroup"], df["category"], strict=True))


def test_cchi_published_medians() -> None:
    """data/README.md: robbery 365 days; drug trafficking 5 and possession 3 (so Drugs in 3..5)."""
    w = cchi_weights().weights
    assert w["Robbery"] == 365.0
    assert 3.0 < w["Drugs"] < 5.0
    assert w["Violence and sexual offences"] > w["Drugs"]


def test_count_set_is_all_ones() -> None:
    assert count_weights().weights == dict.fromkeys(CRIME_TYPES, 1.0)


def test_link_and_object_maps_are_valid(shared: Path) -> None:
    links = crime_type_harm_links()
    assert set(links) == set(CRIME_TYPES)
    valid = set(harm_ids())
    assert {h for hs in links.values() for h in hs} <= valid
    oos = object_of_search_map()
    assert {v for v in oos.values() if v is not None} <= set(CRIME_TYPES)
    seen = set()
    for f in (shared / "data/police_uk/city_of_london/stop_and_search").glob("*.csv"):
        seen |= set(pd.read_csv(f, usecols=["Object of search"])["Object of search"].dropna())
    assert seen <= set(oos)


def _yaml(tmp_path: Path, body: str, name: str = "w.yaml") -> Path:
    p = tmp_path / name
    p.write_text(body, encoding="utf-8")
    return p


def test_user_weights_yaml_with_default(tmp_path: Path) -> None:
    p = _yaml(tmp_path, "unit: points\ndefault: 0.5\nweights:\n  Drugs: 10\n  Robbery: 4\n")
    ws = read_weights_file(p, "mine")
    assert ws.name == "mine" and ws.weights["Drugs"] == 10.0 and ws.weights["Burglary"] == 0.5
    assert list(ws.weights) == list(CRIME_TYPES)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("weights:\n  Drug: 1\n", "unknown crime type 'Drug' (did you mean 'Drugs'?)"),
        ("default: 1\nweights:\n  Drugs: -2\n", "negative"),
        ("default: 1\nweights:\n  Drugs: lots\n", "not a number"),
        ("default: 1\nweights:\n  Drugs: .nan\n", "not a finite number"),
        ("default: 1\nweights:\n  Drugs: true\n", "not a number"),
        ("weights:\n  Drugs: 1\n", "missing"),
        ("default: -1\nweights:\n  Drugs: 1\n", "default"),
        ("just: text\n", "weights:"),
        ("weights: [1, 2\n", "not valid YAML"),
    ],
)
def test_bad_weights_file(tmp_path: Path, body: str, needle: str) -> None:
    p = _yaml(tmp_path, body)
    with pytest.raises(InputError) as e:
        read_weights_file(p)
    assert needle in str(e.value)
    assert str(e.value).startswith(str(p))


def _rows(store_path: Path, table: str) -> list:
    with Store(store_path, read_only=True) as st:
        return (
            st.con.execute(f"SELECT * EXCLUDE (created_at) FROM {table} ORDER BY ALL").fetchall()
            if table == "harm_weight_sets"
            else st.con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        )


def test_cli_weights_store_then_bad_file_changes_nothing(tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    runner = CliRunner()
    good = _yaml(tmp_path, "default: 1\nweights:\n  Drugs: 7\n", "good.yaml")
    res = runner.invoke(
        app, ["harm", "weights", "force", "--file", str(good), "--store", str(store), "--json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["weights"]["Drugs"] == 7.0
    before = (_rows(store, "harm_weight_sets"), _rows(store, "harm_weights"))
    for body in [
        "default: 1\nweights:\n  Drugz: 1\n",
        "default: 1\nweights:\n  Drugs: -1\n",
        "default: 1\nweights:\n  Drugs: many\n",
    ]:
        bad = _yaml(tmp_path, body, "bad.yaml")
        res = runner.invoke(
            app, ["harm", "weights", "force", "--file", str(bad), "--store", str(store)]
        )
        assert res.exit_code == 2, res.output
        assert res.stderr.count("\n") == 1 and "bad.yaml" in res.stderr
        assert (_rows(store, "harm_weight_sets"), _rows(store, "harm_weights")) == before
    res = runner.invoke(app, ["harm", "weights", "force", "--store", str(store), "--json"])
    assert json.loads(res.stdout)["weights"]["Drugs"] == 7.0
    res = runner.invoke(app, ["harm", "weights", "--store", str(store), "--json"])
    assert [s["name"] for s in json.loads(res.stdout)["sets"]] == ["cchi", "count", "force"]
    res = runner.invoke(
        app, ["harm", "weights", "cchi", "--file", str(good), "--store", str(store)]
    )
    assert res.exit_code == 2 and "reserved" in res.stderr


def test_cli_weights_shipped_needs_no_store(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["harm", "weights", "cchi", "--json"])
    assert res.exit_code == 0
    assert json.loads(res.stdout)["weights"] == cchi_weights().weights
    assert not (tmp_path / "realimpact.duckdb").exists()


# -- community priority weights -----------------------------------------------


def _survey(tmp_path: Path, rows: list[tuple], name: str = "survey.csv") -> Path:
    p = tmp_path / name
    pd.DataFrame(rows, columns=["respondent", "harm_id", "rating"]).to_csv(p, index=False)
    return p


def test_community_weights_by_hand(tmp_path: Path) -> None:
    rows = [
        ("r1", "ph-increase-violence", 5),
        ("r2", "ph-increase-violence", 4),
        ("r1", "ph-fear-of-crime-asb", 2),
        ("r3", "ph-fear-of-crime-asb", 3),
        ("r2", "ph-normalisation-drug-use-supply", 5),
        ("r3", "ph-overdose-death", 3),
        ("r1", "enf-turf-war", 4),
    ]
    ws = community_weights(_survey(tmp_path, rows), "residents")
    score = {
        "ph-increase-violence": 4.5,
        "ph-fear-of-crime-asb": 2.5,
        "ph-normalisation-drug-use-supply": 5.0,
        "ph-overdose-death": 3.0,
    }
    links = crime_type_harm_links()
    for ct in CRIME_TYPES:
        rated = [score[h] for h in links[ct] if h in score]
        expected = sum(rated) / len(rated) if rated else 1.0
        assert ws.weights[ct] == pytest.approx(expected), ct
    assert ws.weights["Drugs"] == pytest.approx(4.0)  # normalisation 5, overdose 3
    assert ws.weights["Shoplifting"] == 1.0 and "Shoplifting" in ws.details["unrated"]
    assert ws.details["respondents"] == 3
    assert ws.details["unlinked_harms"] == ["enf-turf-war"]


@pytest.mark.parametrize(
    ("rating", "needle"),
    [
        ("6", "outside 1-5"),
        ("0", "outside 1-5"),
        ("3.5", "outside 1-5"),
        ("high", "outside 1-5"),
        ("", "outside 1-5"),
    ],
)
def test_survey_bad_rating(tmp_path: Path, rating: str, needle: str) -> None:
    p = tmp_path / "s.csv"
    p.write_text(
        f"respondent,harm_id,rating\nr1,ph-related-crime,3\nr2,ph-related-crime,{rating}\n"
    )
    with pytest.raises(ValidationError) as e:
        read_survey(p)
    assert str(e.value).startswith(f"{p}: line 3: rating") and needle in str(e.value)


def test_survey_bad_harm_and_duplicates(tmp_path: Path) -> None:
    p = _survey(tmp_path, [("r1", "ph-related-crim", 3)])
    with pytest.raises(ValidationError, match="not in the taxonomy"):
        read_survey(p)
    p = _survey(tmp_path, [("r1", "ph-related-crime", 3), ("r1", "ph-related-crime", 4)])
    with pytest.raises(ValidationError, match=r"more than once \(lines 2, 3\)"):
        read_survey(p)


def test_cli_survey_bad_rating_exit_2_store_unchanged(tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    runner = CliRunner()
    good = _survey(tmp_path, [("r1", "ph-increase-violence", 5)], "good.csv")
    res = runner.invoke(
        app, ["harm", "weights", "community", "--survey", str(good), "--store", str(store)]
    )
    assert res.exit_code == 0, res.output
    before = (_rows(store, "harm_weight_sets"), _rows(store, "harm_weights"))
    bad = _survey(
        tmp_path, [("r1", "ph-increase-violence", 5), ("r2", "ph-related-crime", 9)], "bad.csv"
    )
    res = runner.invoke(
        app, ["harm", "weights", "community", "--survey", str(bad), "--store", str(store)]
    )
    assert res.exit_code == 2
    assert "bad.csv: line 3: rating '9' is outside 1-5" in res.stderr
    assert (_rows(store, "harm_weight_sets"), _rows(store, "harm_weights")) == before
    with Store(store, read_only=True) as st:
        assert get_weights("community", st).weights["Violence and sexual offences"] == 5.0
