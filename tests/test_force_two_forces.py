"""Issue 11 item 7: force-aware everywhere, on a real two-force store.

City of London street crime 2017-12..2020-11 (36 months) and Merseyside
2018-10..2019-02 (5 months), with both forces' stop and search. No area-month
outside its force's published months may appear in a harm index, hot spot,
market warning or outputs ledger; ``--force`` takes a name or a slug.
"""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
from typer.testing import CliRunner

from realimpact.cli import app
from realimpact.evaluation.indicators import search_outputs
from realimpact.harm.index import harm_index
from realimpact.hotspots.layers import hotspots_emerging, hotspots_gi
from realimpact.markets.warning import emerging_market_warning
from realimpact.sources.police_uk import ingest_police_uk
from realimpact.store import open_store
from realimpact.store.forces import force_key, force_name, forces_in_store, resolve_force
from realimpact.store.queries import months_present, record_counts
from realimpact.store.status import store_status
from tests.conftest import DATA

CITY = DATA / "police_uk" / "city_of_london"
MERSEY = DATA / "police_uk" / "merseyside" / "street"
MERSEY_SS = DATA / "police_uk_more" / "merseyside" / "stop_and_search"
BOUNDS = DATA / "boundaries"


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    base = tmp_path_factory.mktemp("two_forces")
    path = base / "two.duckdb"
    ingest_police_uk([CITY / "street", MERSEY, CITY / "stop_and_search", MERSEY_SS], store=path)
    # one polygon layer over both forces: the City's 6 LSOAs and Liverpool's 298
    gj = base / "city_liverpool.geojson"
    parts = [gpd.read_file(BOUNDS / "london_lsoa_2011" / "E09000001.geojson"),
             gpd.read_file(BOUNDS / "merseyside_lsoa_2011" / "E08000012.geojson")]  # fmt: skip
    pd.concat(parts)[["LSOA11CD", "LSOA11NM", "geometry"]].to_file(gj, driver="GeoJSON")
    res = CliRunner().invoke(app, ["ingest", "boundaries", str(gj), "--layer", "cl",
                                   "--id-field", "LSOA11CD", "--store", str(path)])  # fmt: skip
    assert res.exit_code == 0, res.output
    return path


CITY_MONTHS = [f"{y}-{m:02d}" for y in range(2017, 2021) for m in range(1, 13)
               if "2017-12" <= f"{y}-{m:02d}" <= "2020-11"]  # fmt: skip
MERSEY_MONTHS = ["2018-10", "2018-11", "2018-12", "2019-01", "2019-02"]


def _area_force(st) -> dict[str, set[str]]:
    df = st.sql("SELECT DISTINCT lsoa_code, falls_within FROM crimes WHERE lsoa_code IS NOT NULL")
    out: dict[str, set[str]] = {}
    for a, f in zip(df["lsoa_code"], df["falls_within"], strict=True):
        out.setdefault(a, set()).add(f)
    return out


def test_force_names_are_one_name():
    assert force_key("City of London Police") == force_key("city-of-london") == "city-of-london"
    assert force_name("merseyside") == "Merseyside Police"
    assert force_name("metropolitan") == "Metropolitan Police Service"
    assert force_key("Devon & Cornwall Police") == "devon-and-cornwall"
    assert force_name("greater-manchester") == "Greater Manchester Police"


def test_status_months_per_force_with_stop_search_named_like_street(two):
    s = store_status(two)
    ss = s["tables"]["stop_searches"]
    assert ss["forces"] == ["City of London Police", "Merseyside Police"]
    by = {f["force"]: f for f in s["tables"]["crimes"]["by_force"]}
    assert by["City of London Police"]["months"] == 36
    assert by["Merseyside Police"]["months"] == 5
    assert by["Merseyside Police"]["month_min"] == "2018-10"
    sby = {f["force"]: f for f in ss["by_force"]}
    assert sby["Merseyside Police"]["months"] == 3 and sby["Merseyside Police"]["missing"] == []
    res = CliRunner().invoke(app, ["status", "--store", str(two)])
    assert res.exit_code == 0 and "months per force" in res.output


def test_resolve_force_and_months_present(two):
    with open_store(two) as st:
        assert forces_in_store(st) == ["City of London Police", "Merseyside Police"]
        assert resolve_force(st, "MERSEYSIDE") == "Merseyside Police"
        assert resolve_force(st, "city of london police") == "City of London Police"
        assert months_present(st, "crimes", force="merseyside") == MERSEY_MONTHS
        assert months_present(st, "stop_searches", force="Merseyside Police") == [
            "2019-07", "2019-08", "2019-09",
        ]  # fmt: skip
        assert len(months_present(st, "crimes")) == 36  # default unchanged: every force
        c = record_counts(st, by=("month",), force="merseyside")
        assert set(c["month"]) == set(MERSEY_MONTHS)
        assert int(c["n"].sum()) == 66_359 - int(
            st.scalar(
                "SELECT count(*) FROM crimes WHERE lsoa_code IS NULL"
                " AND falls_within = 'Merseyside Police'"
            )
        )


def test_harm_index_has_no_area_month_outside_its_force(two):
    with open_store(two) as st:
        df = harm_index(st, period="month")
        forces = _area_force(st)
    months = {"City of London Police": set(CITY_MONTHS), "Merseyside Police": set(MERSEY_MONTHS)}
    ok = [
        any(p in months[f] for f in forces.get(a, set()))
        for a, p in zip(df["area_id"], df["period"], strict=True)
    ]
    assert all(ok)
    # Liverpool's busiest LSOA: no row in 2017-12, a month Merseyside never published
    liv = df[df["area_id"].map(lambda a: "Merseyside Police" in forces.get(a, set()))]
    busiest = liv.groupby("area_id")["harm"].sum().idxmax()
    assert set(df.loc[df["area_id"] == busiest, "period"]) == set(MERSEY_MONTHS)
    dec = df[df["period"] == "2017-12"]
    assert len(dec) == 121 and dec["rank"].max() <= 121  # City areas only
    assert any("2 forces with different months" in n for n in df.attrs["notes"])
    # ranks are within the areas present: 2018-10 ranks City and Merseyside together
    oct_ = df[df["period"] == "2018-10"]
    assert sorted(oct_["rank"])[0] == 1 and len(oct_) > 900


def test_harm_index_force_option(two):
    r = CliRunner()
    a = json.loads(r.invoke(app, ["harm", "index", "--force", "merseyside", "--json",
                                  "--store", str(two)]).stdout)  # fmt: skip
    b = json.loads(r.invoke(app, ["harm", "index", "--force", "Merseyside Police", "--json",
                                  "--store", str(two)]).stdout)  # fmt: skip
    assert a["rows"] == b["rows"] and a["force"] == "Merseyside Police"
    assert {row["period"] for row in a["rows"]} == set(MERSEY_MONTHS)
    bad = r.invoke(app, ["harm", "index", "--force", "Kent", "--store", str(two)])
    assert bad.exit_code == 2
    assert "no force 'Kent'" in bad.stderr and "Merseyside Police (merseyside)" in bad.stderr
    q = json.loads(r.invoke(app, ["harm", "index", "--force", "merseyside", "--period",
                                  "quarter", "--json", "--store", str(two)]).stdout)  # fmt: skip
    q1 = [row for row in q["rows"] if row["period"] == "2019-Q1"]
    assert q1 and all(row["months"] == 2 and not row["complete"] for row in q1)
    assert any("2019-Q1 (2 of 3 months)" in n for n in q["notes"])


def test_hot_spots_pool_only_shared_months_or_one_force(two):
    pooled = hotspots_gi(two, "cl", crime_types=["Drugs"], permutations=0)
    assert any("only the 5 month(s) all published" in n for n in pooled.notes)
    with open_store(two) as st:
        c = record_counts(st, layer="cl", by=("month",), crime_types=["Drugs"])
    c = c[c["month"].isin(MERSEY_MONTHS)]
    assert int(pooled.count.sum()) == int(c["n"].sum())
    one = hotspots_gi(two, "cl", crime_types=["Drugs"], permutations=0, force="city-of-london")
    with open_store(two) as st:
        cc = record_counts(st, layer="cl", by=("month",), crime_types=["Drugs"],
                           force="City of London Police")  # fmt: skip
    assert int(one.count.sum()) == int(cc["n"].sum()) and one.params["force"]
    assert not any("published different months" in n for n in one.notes)
    eh, _, params = hotspots_emerging(two, "cl", crime_types=["Drugs"], permutations=0)
    assert list(eh.periods) == MERSEY_MONTHS and params["force"] is None
    res = CliRunner().invoke(app, ["hotspots", "gi", "--layer", "cl", "--crime-type", "Drug",
                                   "--store", str(two)])  # fmt: skip
    assert res.exit_code == 2 and "did you mean 'Drugs'" in res.stderr
    assert "--period " not in res.stderr


def test_market_warning_tests_only_published_months(two):
    with open_store(two) as st:
        r = emerging_market_warning(st, scope="layer", layer="cl", n_sim=99, show_all=True)
        f = emerging_market_warning(st, force="merseyside", n_sim=99, show_all=True)
    months = {"city-of-london": CITY_MONTHS, "merseyside": MERSEY_MONTHS}
    tested = [t for t in r["tests"] if t.get("tested")]
    assert tested
    for t in tested:
        own = months[t["unit"].split("/", 1)[0]]
        assert t["baseline"][0] in own and t["monitor"][1] in own
    assert {t["unit"] for t in f["tests"]} == {"merseyside"} and f["force"] == "Merseyside Police"
    res = CliRunner().invoke(app, ["markets", "warning", "--force", "nowhere", "--store", str(two)])
    assert res.exit_code == 2 and "forces:" in res.stderr


def test_stop_search_ledger_counts_the_forces_its_find_rate_uses(two):
    with open_store(two) as st:
        led = search_outputs(st, objects=["Controlled drugs"], baseline=("2019-01", "2019-06"),
                             follow_up=("2019-07", "2019-09"))  # fmt: skip
        city = search_outputs(st, objects=["Controlled drugs"], baseline=("2019-01", "2019-06"),
                              follow_up=("2019-07", "2019-09"), force="city-of-london")  # fmt: skip
    # Merseyside searched only in the follow-up: left out of every measure, said so
    assert led["forces"] == ["City of London Police"]
    assert led["forces_left_out"] == ["Merseyside Police"] and led["notes"]
    assert led["after"]["searches"] == city["after"]["searches"]
    assert led["after"]["find_rate"] == city["after"]["find_rate"]
    assert led["after"]["months_by_force"] == {"City of London Police": 3}
