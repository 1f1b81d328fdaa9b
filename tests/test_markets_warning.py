"""Emerging-market warning on the real Merseyside and City of London police.uk data."""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from realimpact.cli import app
from realimpact.errors import ValidationError
from realimpact.markets import registry
from realimpact.markets.warning import (
    emerging_market_warning,
    force_key,
    record_indicator,
    split_months,
)
from realimpact.store import Store

EXAMPLE = str(resources.files("realimpact.markets").joinpath("data", "example_registry.yaml"))


@pytest.fixture(scope="module")
def real_store(tmp_path_factory: pytest.TempPathFactory, shared: Path) -> Path:
    from realimpact.sources.police_uk import ingest_police_uk

    path = tmp_path_factory.mktemp("warn") / "real.duckdb"
    pu = shared / "data" / "police_uk"
    with Store(path) as st:
        res = ingest_police_uk([pu / "city_of_london", pu / "merseyside"], st)
        assert res.ok
    return path


@pytest.fixture
def store(real_store: Path, tmp_path: Path) -> Store:
    """A private copy, so tests that write to the registry do not meet each other."""
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(real_store.read_bytes())
    s = Store(copy)
    yield s
    s.close()


def _summary(shared: Path) -> pd.DataFrame:
    return pd.read_csv(
        shared / "data" / "police_uk" / "street_monthly_summary.csv", dtype={"month": str}
    )


def test_force_report_on_real_data(store: Store, shared: Path) -> None:
    rep = emerging_market_warning(store)
    assert set(rep["checklist"]) == {"city-of-london", "merseyside"}
    for rows in rep["checklist"].values():
        assert [r["order"] for r in rep["checklist"]["merseyside"]] == list(range(1, 20))
        assert {r["status"] for r in rows if r["test"] == "manual"} == {"not tested"}
    # seizures (stop and search) exist for the City only
    units = {(t["unit"], t["indicator"]) for t in rep["tests"] or []} or None
    assert units is None  # tests are listed only with show_all
    tested = {(f["unit"], f["indicator"]) for f in rep["fired"]}
    assert all(u in ("city-of-london", "merseyside") for u, _ in tested)
    assert rep["n_tested"] == 4 + 4 + 1  # 4 crime indicators per force + City seizures
    assert rep["max_expected_false_alarms"] == pytest.approx(0.05 * rep["n_tested"])
    print(
        "\nfired (force, default halves):",
        [(f["unit"], f["indicator"], f["first_alarm"]) for f in rep["fired"]],
    )


def test_drugs_series_matches_independent_counts(store: Store, shared: Path) -> None:
    """Baseline/monitor means and the CUSUM path equal a recount from the published summary."""
    rep = emerging_market_warning(store, baseline_to="2020-02", show_all=True)
    summ = _summary(shared)
    for force, months_b, months_m in [
        ("city_of_london", ("2017-12", "2020-02"), ("2020-03", "2020-11")),
        (
            "merseyside",
            ("2018-10", "2019-02"),
            None,
        ),  # Merseyside ends before 2020-03: nothing to monitor
    ]:
        t = next(
            t
            for t in rep["tests"]
            if t["unit"] == force_key(force) and t["indicator"] == "increased-availability"
        )
        s = summ[summ["force"] == force].set_index("month")["drugs"]
        if months_m is None:
            assert t["tested"] is False
            continue
        base = s[(s.index >= months_b[0]) & (s.index <= months_b[1])]
        mon = s[(s.index >= months_m[0]) & (s.index <= months_m[1])]
        assert t["baseline"] == list(months_b) and t["monitor"] == list(months_m)
        assert t["baseline_mean"] == pytest.approx(base.mean())
        assert t["monitor_counts"] == mon.tolist()
        k = base.mean() * 0.5 / math.log(1.5)
        path = np.maximum.accumulate(np.zeros(len(mon)))
        acc = 0.0
        for i, x in enumerate(mon):
            acc = max(0.0, acc + x - k)
            path[i] = acc
        assert t["statistic"] == pytest.approx(path.max())
        assert t["fired"] == (t["p_value"] <= 0.05)
    print(
        "\nCity of London, baseline to 2020-02:",
        [(f["indicator"], f["first_alarm"], round(f["p_value"], 3)) for f in rep["fired"]],
    )


def test_layer_scope_real_data(store: Store) -> None:
    rep = emerging_market_warning(store, scope="layer", layer="lsoa", n_sim=199)
    assert rep["n_tested"] > 1000
    assert any("increased-seizures" in n and "LSOA code" in n for n in rep["notes"])
    # only units with something fired are listed, and each fired test is in its unit's checklist
    for f in rep["fired"]:
        row = next(r for r in rep["checklist"][f["unit"]] if r["id"] == f["indicator"])
        assert row["status"] == "fired" and row["when"] == f["first_alarm"]
    assert rep["max_expected_false_alarms"] == pytest.approx(0.05 * rep["n_tested"])


def test_entity_scope_with_registry_and_manual_indicators(store: Store) -> None:
    registry.import_registry(store, EXAMPLE)
    record_indicator(
        store,
        {
            "entity": "m-col-estate",
            "indicator": "homes-taken-over",
            "date": "2020-05-01",
            "evidence": "Housing officer report",
        },
    )
    rep = emerging_market_warning(
        store, scope="entity", entity="m-col-estate", baseline_to="2020-02"
    )
    rows = {r["id"]: r for r in rep["checklist"]["m-col-estate"]}
    # p-col-flat-1 (crack-house, first seen 2020-06) is linked to the market
    assert rows["crack-house-reports"]["status"] == "fired"
    assert rows["crack-house-reports"]["when"] == "2020-06"
    assert rows["homes-taken-over"]["status"] == "recorded"
    assert rows["homes-taken-over"]["recorded"][0]["evidence"] == "Housing officer report"
    assert rows["homes-taken-over"]["evidence"] == "recorded 2020-05-01: Housing officer report"
    assert rows["increased-availability"]["status"] in ("fired", "not fired")
    with pytest.raises(ValidationError, match="has no areas"):
        emerging_market_warning(store, scope="entity", entity="m-col-middle")


def test_partner_series_is_tested(store: Store, tmp_path: Path) -> None:
    months = [f"2019-{m:02d}" for m in range(1, 13)] + [f"2020-{m:02d}" for m in range(1, 13)]
    before, after = (
        [5, 4, 6, 5, 5, 4, 6, 5, 4, 5, 6, 5, 5, 4, 6],
        [12, 14, 13, 15, 12, 14, 13, 15, 14],
    )
    n = [*before, *after]  # a step in 2020-04
    p = tmp_path / "treatment.csv"
    pd.DataFrame({"indicator": "social-costs", "month": months, "n": n}).to_csv(p, index=False)
    rep = emerging_market_warning(store, series=p)
    f = next(f for f in rep["fired"] if f["unit"] == "partner")
    assert f["indicator"] == "social-costs"
    assert "2020-04" <= f["first_alarm"] <= "2020-06"  # the step is in 2020-04; no alarm before it
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"indicator": ["rumours"], "month": ["2020-01"], "n": [1]}).to_csv(
        bad, index=False
    )
    with pytest.raises(ValidationError, match="line 2: indicator: 'rumours'"):
        emerging_market_warning(store, series=bad)


def test_split_months() -> None:
    ms = [f"2020-{m:02d}" for m in range(1, 8)]
    assert split_months(ms) == (ms[:3], ms[3:])
    assert split_months(ms, (None, "2020-02")) == (ms[:2], ms[2:])
    assert split_months(ms, (None, None), ("2020-05", "2020-06")) == (ms[:4], ms[4:6])


def test_cli_warning_json_on_real_data(store: Store) -> None:
    path = store.path
    store.close()
    r = CliRunner().invoke(
        app, ["markets", "warning", "--baseline-to", "2020-02", "--store", path, "--json"]
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["scope"] == "force" and out["n_tested"] >= 5
    for bad in ("2020-2", "2020-13", "2020-00"):
        r = CliRunner().invoke(app, ["markets", "warning", "--baseline-to", bad, "--store", path])
        assert r.exit_code == 2 and f"--baseline-to: '{bad}' is not a month" in r.stderr


def test_entity_with_no_records_of_a_type_counts_zeros(store: Store) -> None:
    """An LSOA with Drugs crime but no robbery: the robbery series is zeros, still tested."""
    area = store.sql(
        "SELECT lsoa_code FROM crimes WHERE falls_within = 'City of London Police'"
        " AND lsoa_code IS NOT NULL GROUP BY 1"
        " HAVING sum((crime_type IN ('Robbery', 'Possession of weapons'))::INT) = 0"
        " AND sum((crime_type = 'Drugs')::INT) > 0 LIMIT 1"
    )["lsoa_code"]
    assert len(area) == 1
    registry.add_entity(
        store, "market", {"id": "m-z", "level": "street", "areas": {"lsoa": [area[0]]}}
    )
    rep = emerging_market_warning(store, scope="entity", entity="m-z")
    row = next(r for r in rep["checklist"]["m-z"] if r["id"] == "other-criminality")
    assert row["status"] == "not fired"
    assert row["evidence"].startswith("0.0/month")
