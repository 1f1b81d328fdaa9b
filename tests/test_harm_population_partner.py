"""Population and partner-indicator ingest: real files, bad input, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from realimpact.cli import app
from realimpact.errors import InputError, ValidationError
from realimpact.harm.index import harm_index
from realimpact.sources.partner import ingest_partner, normalise_period, read_spec
from realimpact.sources.police_uk import ingest_police_uk
from realimpact.sources.population import ingest_population
from realimpact.store import Store

CENSUS = "data/population/census2021_lsoa_respop_workdaypop.csv"
NDTMS = "data/drugs/ndtms_deaths_in_drug_treatment_by_LA.csv"


def _dump(store: Path, *tables: str) -> list:
    with Store(store, read_only=True) as st:
        return [st.con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables]


def test_population_from_census_cli(shared: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    res = CliRunner().invoke(
        app,
        [
            "ingest",
            "population",
            str(shared / CENSUS),
            "--layer",
            "lsoa",
            "--id-field",
            "geography_code",
            "--value-field",
            "respop",
            "--store",
            str(store),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["areas"] == 35_672 and data["total"] == 59_597_601  # data/README.md
    with Store(store, read_only=True) as st:
        v = st.scalar("SELECT value FROM populations WHERE area_id = 'E01011954'")
    assert v == 2284  # Hartlepool 001A, first row of the file


def _pop_csv(tmp_path: Path, rows: list[tuple[str, str]], name: str) -> Path:
    p = tmp_path / name
    p.write_text("code,residents\n" + "".join(f"{a},{b}\n" for a, b in rows), encoding="utf-8")
    return p


@pytest.mark.parametrize(
    ("rows", "needle"),
    [
        (
            [("E01000001", "10"), ("E01000002", "5"), ("E01000001", "7")],
            "area id 'E01000001' appears more than once (lines 2, 4)",
        ),
        ([("E01000001", "10"), ("E01000002", "-5")], "line 3: residents '-5' is not a number >= 0"),
        ([("E01000001", "ten")], "line 2: residents 'ten' is not a number >= 0"),
        ([("", "10")], "line 2: code is empty"),
    ],
)
def test_population_bad_file_exit_2_store_unchanged(
    tmp_path: Path, rows: list, needle: str
) -> None:
    store = tmp_path / "s.duckdb"
    good = _pop_csv(tmp_path, [("E01000001", "1500"), ("E01000002", '"1,600"')], "good.csv")
    runner = CliRunner()
    args = ["--id-field", "code", "--value-field", "residents", "--store", str(store)]
    assert runner.invoke(app, ["ingest", "population", str(good), *args]).exit_code == 0
    before = _dump(store, "populations", "population_sets")
    bad = _pop_csv(tmp_path, rows, "bad.csv")
    res = runner.invoke(app, ["ingest", "population", str(bad), *args])
    assert res.exit_code == 2
    assert res.stderr.startswith("error: ") and str(bad) in res.stderr and needle in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert _dump(store, "populations", "population_sets") == before
    assert before[0] == [("lsoa", "E01000001", 1500.0), ("lsoa", "E01000002", 1600.0)]


def test_population_bad_field_and_layer(tmp_path: Path) -> None:
    good = _pop_csv(tmp_path, [("E01000001", "1500")], "good.csv")
    with Store(":memory:") as st:
        with pytest.raises(ValidationError, match="--id-field 'lsoa' is not a column"):
            ingest_population(good, st, id_field="lsoa", value_field="residents")
        with pytest.raises(ValidationError, match="--layer: no layer 'ward'"):
            ingest_population(good, st, layer="ward", id_field="code", value_field="residents")


def test_partner_ndtms_beside_crime(shared: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "indicator: deaths_in_treatment\nvalue_field: count\nperiod_field: period\n"
        "layer: la\narea_field: area_code\nsource: NDTMS\n"
    )
    runner = CliRunner()
    ingest = ["ingest", "partner", str(shared / NDTMS), "--spec", str(spec), "--store", str(store)]
    res = runner.invoke(app, [*ingest, "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    raw = pd.read_csv(shared / NDTMS)
    assert data["rows_inserted"] == len(raw) and data["periods"] == ["2022", "2023"]
    with Store(store, read_only=True) as st:
        total = st.scalar("SELECT sum(value) FROM partner_indicators WHERE area_id = 'E06000001'")
    assert total == raw.loc[raw["area_code"] == "E06000001", "count"].sum()
    # idempotent
    res = runner.invoke(app, [*ingest, "--json"])
    assert json.loads(res.stdout)["status"] == "already_present"
    assert _dump(store, "partner_files")[0][0][4] == len(raw)


def test_partner_column_in_harm_index(shared: Path, tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as st:
        assert ingest_police_uk([shared / "data/police_uk/cleveland/street"], st).ok
        part = tmp_path / "amb.csv"
        part.write_text(
            "lsoa,month,callouts\nE01011954,2018-10,3\nE01011954,2018-11,4\nE01011969,2018-10,*\n"
        )
        spec = read_spec(
            None,
            indicator="ambulance",
            value_field="callouts",
            period_field="month",
            layer="lsoa",
            area_field="lsoa",
        )
        res = ingest_partner(part, st, spec=spec)
        assert res["rows_inserted"] == 2 and res["rows_skipped_missing"] == 1
        month = harm_index(st, partner=["ambulance"])
        year = harm_index(st, period="year", partner=["ambulance"])
        with pytest.raises(ValidationError, match="no partner indicator 'nope'"):
            harm_index(st, partner=["nope"])
    m = month.set_index(["area_id", "period"])["partner:ambulance"]
    assert m[("E01011954", "2018-10")] == 3 and m[("E01011954", "2018-11")] == 4
    assert pd.isna(m[("E01011969", "2018-10")])
    assert year.set_index(["area_id", "period"])["partner:ambulance"][("E01011954", "2018")] == 7


def test_partner_points(tmp_path: Path) -> None:
    p = tmp_path / "pts.csv"
    p.write_text("lon,lat,when,n\n-1.2155,54.6863,2019-03-15,2\n")
    with Store(":memory:") as st:
        spec = read_spec(
            None,
            indicator="naloxone",
            value_field="n",
            period_field="when",
            lon_field="lon",
            lat_field="lat",
        )
        ingest_partner(p, st, spec=spec)
        e, n, per = st.con.execute(
            "SELECT easting, northing, period FROM partner_indicators"
        ).fetchone()
    assert per == "2019-03"
    assert 440_000 < e < 460_000 and 520_000 < n < 540_000  # Hartlepool area in BNG


@pytest.mark.parametrize(
    ("csv", "needle"),
    [
        ("area,per,v\nA,2019-01,1\nB,2019-13,2\n", "line 3: per '2019-13' is not a period"),
        ("area,per,v\nA,2019-01,1\nB,2019-02,lots\n", "line 3: v 'lots' is not a number"),
        ("area,per,v\nA,2019-01,1\n,2019-02,2\n", "line 3: area id is empty"),
        ("area,per,val\nA,2019-01,1\n", "value_field 'v' is not a column"),
    ],
)
def test_partner_bad_rows_store_unchanged(tmp_path: Path, csv: str, needle: str) -> None:
    store = tmp_path / "s.duckdb"
    p = tmp_path / "bad.csv"
    p.write_text(csv)
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "ingest",
            "partner",
            str(p),
            "--indicator",
            "x",
            "--value-field",
            "v",
            "--period-field",
            "per",
            "--layer",
            "lsoa",
            "--area-field",
            "area",
            "--store",
            str(store),
        ],
    )
    assert res.exit_code == 2, res.output
    assert needle in res.stderr and str(p) in res.stderr
    assert _dump(store, "partner_files", "partner_indicators") == [[], []]


def test_partner_spec_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="value_field is required"):
        read_spec(None, indicator="x", period_field="p", layer="l", area_field="a")
    with pytest.raises(InputError, match="exactly one of indicator"):
        read_spec(None, value_field="v", period_field="p", layer="l", area_field="a")
    with pytest.raises(InputError, match="area_field needs layer"):
        read_spec(None, indicator="x", value_field="v", period_field="p", area_field="a")
    spec = tmp_path / "s.yaml"
    spec.write_text("indicatr: x\n")
    with pytest.raises(InputError, match="unknown key"):
        read_spec(spec)


def test_normalise_period() -> None:
    assert normalise_period("2019-1") == "2019-01"
    assert normalise_period("2019-01-31") == "2019-01"
    assert normalise_period("2019Q2") == "2019-Q2"
    assert normalise_period("2019") == "2019"
    assert normalise_period("2019-00") is None
    assert normalise_period("Jan 2019") is None
