"""`realimpact plan validate` on real police.uk data (City of London, 2017-12..2020-11)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from realimpact.plans.model import parse_plan
from realimpact.plans.validate import validate_plan
from realimpact.store import Store

EXAMPLE = (
    Path(__file__).resolve().parents[1] / "examples" / "plans" / "city-of-london-lockdown-2020.yaml"
)


@pytest.fixture(scope="module")
def col_store(tmp_path_factory: pytest.TempPathFactory, shared: Path) -> Path:
    from realimpact.sources.police_uk import ingest_police_uk

    path = tmp_path_factory.mktemp("col") / "col.duckdb"
    with Store(path) as st:
        result = ingest_police_uk([shared / "data" / "police_uk" / "city_of_london"], st)
        assert result.ok
    return path


@pytest.fixture
def store(col_store: Path):
    with Store(col_store, read_only=True) as st:
        yield st


@pytest.fixture
def raw() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text("utf-8"))


def _validate(raw: dict[str, Any], store: Store | None):
    return validate_plan(parse_plan(copy.deepcopy(raw), "plan.yaml"), store, require_data=True)


def _errors(result) -> dict[str, str]:
    return {i.field: i.message for i in result.errors}


def test_city_of_london_lockdown_plan_validates(store: Store) -> None:
    result = validate_plan(EXAMPLE, store, require_data=True)
    assert result.valid, result.lines()
    assert result.data_checked
    # Every area code of the plan is an LSOA code police.uk gave in this data.
    codes = set(store.sql("SELECT DISTINCT lsoa_code FROM crimes")["lsoa_code"])
    plan = parse_plan(yaml.safe_load(EXAMPLE.read_text("utf-8")))
    assert set(plan.areas.all_ids()) <= codes


def test_missing_baseline_fails_with_the_right_message(store: Store, raw: dict) -> None:
    for ind in raw["indicators"]:
        del ind["baseline"]
    result = _validate(raw, store)
    assert not result.valid
    errs = _errors(result)
    for k, ind in enumerate(raw["indicators"]):
        if ind["kind"] == "outcome":
            assert errs[f"indicators[{k}].baseline"].startswith(
                "missing; impact needs data from before"
            )


def test_baseline_must_end_before_start_and_hold_data(store: Store, raw: dict) -> None:
    raw["indicators"][0]["baseline"] = {"from": "2019-06", "to": "2020-03"}
    raw["indicators"][1]["baseline"] = {"from": "2015-01", "to": "2015-12"}  # before the data
    errs = _errors(_validate(raw, store))
    assert (
        errs["indicators[0].baseline"] == "ends 2020-03, not before the operation starts (2020-03)"
    )
    assert errs["indicators[1].baseline"].startswith(
        "no police_uk records (Violence and sexual offences, Robbery, Possession of weapons) "
        "in the store for 2015-01..2015-12"
    )


def test_overlapping_areas_fail_with_the_right_message(store: Store, raw: dict) -> None:
    raw["areas"]["control"].append("E01032739")  # the target
    raw["areas"]["buffer"].append("E01032740")  # a control
    errs = [i for i in _validate(raw, store).errors if i.field == "areas"]
    msgs = sorted(i.message for i in errs)
    rule = "target, buffer and control areas must not overlap"
    assert msgs == [
        f"E01032739 listed as both target and control; {rule}",
        f"E01032740 listed as both buffer and control; {rule}",
    ]


def test_unknown_areas_layers_and_crime_types(store: Store, raw: dict) -> None:
    raw["areas"]["control"] = ["E01032740", "E09999999"]
    raw["indicators"][1]["crime_types"] = ["Violence and sexual offences", "Robbery", "Violence"]
    errs = _errors(_validate(raw, store))
    assert errs["areas.control"].startswith("not in layer 'lsoa' of the store: E09999999")
    assert errs["indicators[1].crime_types"].startswith("no crime type Violence in the store")
    raw["areas"]["layer"] = "ward"
    assert _errors(_validate(raw, store))["areas.layer"].startswith("no layer 'ward' in the store")


def test_every_gap_is_reported_at_once(store: Store, raw: dict) -> None:
    raw["harms"][0].pop("mechanism")
    raw["harms"][1]["id"] = "fear-of-crime"
    raw["tactics"] = ["visible-street-patrols", "jump-on"]
    for ind in raw["indicators"]:
        ind["kind"] = "output"
    raw["displacement"] = {}
    raw["unintended_consequences"] = [
        {"id": "ph-increase-violence", "mitigation": "x"},
        {"id": "enf-turf-war", "monitor": "nothing"},
    ]
    result = _validate(raw, store)
    errs = _errors(result)
    assert errs["harms[0].mechanism"].startswith("missing; say how the tactics")
    assert errs["harms[1].id"].startswith("unknown harm 'fear-of-crime'")
    assert errs["tactics[1]"].startswith("unknown tactic 'jump-on' (did you mean 'jump-ons'?)")
    assert errs["indicators"].startswith("no outcome indicator")
    assert errs["displacement.expected"].startswith("missing; say where and how")
    assert "is a harm of drug markets, not of enforcement" in errs["unintended_consequences[0].id"]
    assert errs["unintended_consequences[1].mitigation"].startswith("missing")
    assert errs["unintended_consequences[1].monitor"] == "no indicator 'nothing' in the plan"
    assert len(result.errors) == 8
    assert all("\n" not in line for line in result.lines())


def test_tactic_not_listed_for_the_selling_mode_warns(store: Store, raw: dict) -> None:
    raw["tactics"] = ["visible-street-patrols", "test-purchase"]
    result = _validate(raw, store)
    assert result.valid
    warns = {i.field: i.message for i in result.warnings}
    assert warns["tactics[1]"].startswith(
        "'test-purchase' is not listed for selling mode open-street in Home Office (2003) Disrupting crack markets, Table 3.1"
    )
    raw["targets"]["selling_modes"] = ["open-street", "arrange-to-meet"]
    assert "tactics[1]" not in {i.field for i in _validate(raw, store).warnings}
    raw["targets"]["selling_modes"] = ["street corner"]
    assert _errors(_validate(raw, store))["targets.selling_modes[0]"].startswith(
        "unknown selling mode 'street corner'"
    )


def test_crack_house_tactics_call_for_post_operation_support(store: Store, raw: dict) -> None:
    raw["targets"]["selling_modes"] = ["crack-house"]
    raw["tactics"] = ["warrants-and-raids", "civil-closure"]
    errs = _errors(_validate(raw, store))
    assert errs["support.treatment_capacity"].startswith(
        "missing; warrants-and-raids, civil-closure call for treatment capacity"
    )
    assert "vulnerable tenants" in errs["support.vulnerable_tenants"]
    assert "children" in errs["support.children"]
    raw["support"] = {
        "treatment_capacity": "outreach clinic with 20 places for 8 weeks",
        "vulnerable_tenants": "housing team rehouses taken-over tenants the same day",
        "children": "children's services on call for every warrant",
    }
    errs = _errors(_validate(raw, store))
    assert not [f for f in errs if f.startswith("support")]
    warns = " ".join(i.message for i in _validate(raw, store).warnings)
    assert "enf-harm-to-dealers-families" in warns  # a risk of raids the plan does not list


def test_geometric_overlap_in_a_polygon_layer(store: Store, raw: dict, tmp_path: Path) -> None:
    import numpy as np
    import shapely

    from realimpact.store import areas as store_areas

    path = tmp_path / "poly.duckdb"
    with Store(path) as st:
        boxes = {"A": shapely.box(0, 0, 100, 100), "B": shapely.box(50, 50, 150, 150),
                 "C": shapely.box(300, 300, 400, 400),
                 "D": shapely.box(100, -100, 200, 0)}  # touches A at a corner  # fmt: skip
        import pandas as pd

        bounds = np.array([g.bounds for g in boxes.values()])
        df = pd.DataFrame({
            "area_id": list(boxes), "name": list(boxes),
            "geom": [shapely.to_wkb(g) for g in boxes.values()],
            "area_m2": [g.area for g in boxes.values()],
            "minx": bounds[:, 0], "miny": bounds[:, 1], "maxx": bounds[:, 2], "maxy": bounds[:, 3],
        })  # fmt: skip
        store_areas.replace_layer(st, {"layer": "mine", "kind": "boundaries"}, df)
        raw["areas"] = {"layer": "mine", "target": ["A"], "buffer": ["C", "D"], "control": ["B"]}
        errs = [i.message for i in _validate(raw, st).errors if i.field == "areas"]
    assert errs == ["target A and control B overlap on the ground; areas must not overlap"]


def test_cli_exit_codes_and_json(col_store: Path, tmp_path: Path, raw: dict) -> None:
    from typer.testing import CliRunner

    from realimpact.cli import app

    def run(*args: str):
        return CliRunner().invoke(app, ["plan", "validate", *args, "--store", str(col_store)])

    ok = run(str(EXAMPLE), "--json")
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout)["valid"] is True
    raw["areas"]["buffer"].append("E01032739")
    del raw["indicators"][0]["baseline"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw), encoding="utf-8")
    res = run(str(bad))
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert any(
        line.startswith("error: areas: E01032739 listed as both target and buffer")
        for line in lines
    )
    assert any(line.startswith("error: indicators[0].baseline: missing") for line in lines)
    js = run(str(bad), "--json")
    assert js.exit_code == 2
    obj = json.loads(js.stdout)
    assert obj["valid"] is False and obj["n_errors"] == len(obj["errors"]) == 2
    # The real entry point: exit status 2 and a one-line message for a file that is not YAML.
    notyaml = tmp_path / "x.yaml"
    notyaml.write_text("id: [\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "realimpact", "plan", "validate", str(notyaml),
         "--store", str(col_store)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().startswith("error:") and "x.yaml: not valid YAML" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_no_store_is_an_error_for_the_cli(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "realimpact", "plan", "validate", str(EXAMPLE),
         "--store", str(tmp_path / "none.duckdb")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "none.duckdb: store does not exist" in proc.stderr
    assert not (tmp_path / "none.duckdb").exists()


def test_selling_modes_come_from_the_market_registry(
    col_store: Path, tmp_path: Path, raw: dict
) -> None:
    import shutil

    from realimpact.markets.registry import add_entity

    path = tmp_path / "reg.duckdb"
    shutil.copy(col_store, path)
    with Store(path) as st:
        spec = {"id": "m-col-1", "level": "street", "selling_modes": ["crack-house"]}
        add_entity(st, "market", spec)
        raw["targets"] = {"markets": ["m-col-1"]}  # no selling_modes in the plan
        result = _validate(raw, st)
        warns = {i.field: i.message for i in result.warnings}
        assert warns["tactics[0]"].startswith(
            "'visible-street-patrols' is not listed for selling mode crack-house"
        )
        raw["targets"] = {"markets": ["m-col-9"]}
        errs = _errors(_validate(raw, st))
        assert errs["targets.markets[0]"] == "no market 'm-col-9' in the market registry"


def test_partner_and_survey_baselines(col_store: Path, tmp_path: Path, raw: dict) -> None:
    import shutil

    from realimpact.sources.partner import ingest_partner, read_spec

    path = tmp_path / "partner.duckdb"
    shutil.copy(col_store, path)
    csv = tmp_path / "treatment.csv"
    months = [f"2019-{m:02d}" for m in range(6, 13)]  # covers only part of the baseline
    csv.write_text(
        "area,period,n\n" + "".join(f"E01032739,{m},{i + 3}\n" for i, m in enumerate(months)),
        encoding="utf-8",
    )
    spec = read_spec(
        None,
        indicator="treatment_entries",
        value_field="n",
        period_field="period",
        layer="lsoa",
        area_field="area",
        source="test",
    )
    with Store(path) as st:
        ingest_partner(csv, st, spec=spec)
        ind = {
            "id": "treatment",
            "kind": "indirect",
            "source": "partner:treatment_entries",
            "baseline": {"from": "2019-03", "to": "2020-02"},
        }
        raw["indicators"].append(ind)
        result = _validate(raw, st)
        assert "indicators[4].baseline" not in {i.field for i in result.errors + result.warnings}
        ind["baseline"] = {"from": "2018-01", "to": "2018-12"}
        assert _errors(_validate(raw, st))["indicators[4].baseline"].startswith(
            "partner indicator 'treatment_entries' has no values in the store for 2018-01..2018-12"
        )
        ind["source"] = "survey:residents"
        ind["file"] = str(tmp_path / "residents.csv")
        assert _errors(_validate(raw, st))["indicators[4].file"].endswith(
            "residents.csv: no such file"
        )


def test_survey_file_must_hold_baseline_responses(store: Store, raw: dict, tmp_path: Path) -> None:
    survey = tmp_path / "residents.csv"
    survey.write_text(
        "respondent,wave,month,question,score\n"
        "R1,before,2020-02,feel_safe,2\nR1,after,2020-06,feel_safe,4\n",
        encoding="utf-8",
    )
    ind = {"id": "residents", "kind": "outcome", "source": "survey:residents", "panel": True,
           "file": "residents.csv", "baseline": {"from": "2020-01", "to": "2020-02"},
           "follow_up": {"from": "2020-06", "to": "2020-06"}}  # fmt: skip
    raw["indicators"].append(ind)
    plan = parse_plan(copy.deepcopy(raw), str(tmp_path / "plan.yaml"))  # file beside the plan
    result = validate_plan(plan, store)
    assert "indicators[4].baseline" not in {i.field for i in result.errors + result.warnings}
    assert plan.indicators[4].extra["panel"] is True
    raw["indicators"][4]["baseline"] = {"from": "2019-06", "to": "2019-12"}
    plan = parse_plan(copy.deepcopy(raw), str(tmp_path / "plan.yaml"))
    errs = _errors(validate_plan(plan, store))
    assert errs["indicators[4].baseline"].startswith(
        "residents.csv has no rows with a month in 2019-06..2019-12"
    )


def test_illustrative_closure_plan_validates(store: Store) -> None:
    plan = EXAMPLE.parent / "crack-house-closures-illustrative.yaml"
    result = validate_plan(plan, store, require_data=True)
    assert result.valid, result.lines()
    # Only the survey and partner baselines, which are not in the store, are left to check.
    assert {i.field for i in result.warnings} == {
        "indicators[2].baseline",
        "indicators[3].baseline",
        "indicators[4].baseline",
    }
