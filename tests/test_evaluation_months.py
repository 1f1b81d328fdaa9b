"""A month missing from the data is never a zero, and one force's months are not another's.

Real data: City of London street files (../shared/data/police_uk/city_of_london)
with the 2019-06 file left out of the store, and a two-force store (City of
London 2017-12..2020-11 beside Merseyside 2018-10..2019-02 + 2019-07..2019-12).
Expected values come from the estimators called directly on counts taken from
the CSV files with pandas, with the month genuinely absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from realimpact.evaluation.did import did_counts
from realimpact.evaluation.engine import evaluate
from realimpact.evaluation.its import its_counts

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "plans"
COL_PLAN = EXAMPLES / "city-of-london-lockdown-2020.yaml"
MERSEY_PLAN = EXAMPLES / "liverpool-city-centre-illustrative.yaml"
GONE = "2019-06"
TARGET, CONTROL = ["E01032739"], ["E01032740", "E01000003"]


@pytest.fixture(scope="module")
def col_dir(data_dir) -> Path:
    return data_dir / "police_uk" / "city_of_london"


@pytest.fixture(scope="module")
def gap_store(tmp_path_factory, col_dir) -> Path:
    """The City's street and search files, all but the street file of 2019-06."""
    from realimpact.sources.police_uk import ingest_police_uk
    from realimpact.store import open_store

    files = [f for f in sorted((col_dir / "street").glob("*.csv")) if not f.name.startswith(GONE)]
    path = tmp_path_factory.mktemp("gap") / "gap.duckdb"
    with open_store(path) as st:
        assert ingest_police_uk([*files, col_dir / "stop_and_search"], st).ok
    return path


@pytest.fixture(scope="module")
def drugs(col_dir) -> pd.DataFrame:
    df = pd.concat(pd.read_csv(f) for f in sorted((col_dir / "street").glob("*.csv")))
    df = df[df["Crime type"] == "Drugs"]
    return (
        df.groupby(["LSOA code", "Month"])
        .size()
        .rename("n")
        .reset_index()
        .rename(columns={"LSOA code": "area_id", "Month": "month"})
    )


def test_a_missing_month_is_left_out_of_did_wdd_and_its(gap_store, drugs):
    res = evaluate(COL_PLAN, gap_store, next_steps=False)
    ind = res.indicator("drugs-crime")
    months = [m for m in pd.period_range("2019-03", "2020-06", freq="M").astype(str)]
    held = [m for m in months if m != GONE]
    absent = drugs[drugs["month"].isin(held)]
    # DiD: as with the month genuinely absent, not as with a zero
    ref = did_counts(absent, TARGET, CONTROL, start="2020-03", months=held, inference="wild")
    assert ind.did.estimate == pytest.approx(ref.estimate, abs=1e-9)
    # (a month that is zero in every area carries no information under month fixed
    # effects, so the DiD cannot tell the two apart; the WDD and the ITS can)
    assert ind.did.n_months == len(held)
    # WDD: totals and monthly rates over the 11 months held
    t = ind.counts["target"]
    before = absent[absent["area_id"].isin(TARGET) & (absent["month"] < "2020-03")]["n"].sum()
    assert t["before"] == before and t["months_before"] == 11
    assert t["per_month_before"] == pytest.approx(before / 11)
    # ITS: the series without the month, not re-expanded with a zero
    series = absent[absent["area_id"].isin(TARGET)].groupby("month")["n"].sum()
    its = its_counts(series.reindex(held, fill_value=0), start="2020-03")
    assert ind.its.level.estimate == pytest.approx(its.level.estimate, abs=1e-9)
    filled = its_counts(series.reindex(months, fill_value=0), start="2020-03")
    assert abs(filled.level.estimate - ind.its.level.estimate) > 1e-4
    # said at the top of the report data, in words
    assert any(GONE in f and "not counted as zero" in f for f in res.context["flags"])


@pytest.fixture(scope="module")
def two_force_store(tmp_path_factory, data_dir) -> Path:
    from realimpact.sources.police_uk import ingest_police_uk
    from realimpact.store import open_store

    path = tmp_path_factory.mktemp("two") / "two.duckdb"
    trees = [data_dir / "police_uk" / "city_of_london", data_dir / "police_uk" / "merseyside",
             data_dir / "police_uk_more" / "merseyside"]  # fmt: skip
    with open_store(path) as st:
        assert ingest_police_uk(trees, st).ok
    return path


def test_two_forces_each_plan_sees_only_its_force(two_force_store, data_dir):
    from realimpact.periods import month_range

    res = evaluate(MERSEY_PLAN, two_force_store, next_steps=False).to_dict()
    assert res["force"] == "Merseyside Police"
    mersey = {f.name[:7] for f in (data_dir / "police_uk" / "merseyside" / "street").glob("*.csv")}
    mersey |= {
        f.name[:7] for f in (data_dir / "police_uk_more" / "merseyside" / "street").glob("*.csv")
    }
    for ind in res["indicators"]:
        # no area-month outside Merseyside's published months anywhere in the output
        assert {r["month"] for r in ind["monthly"]} <= mersey
        assert set(ind["its"]["fitted"]) <= mersey
        base = month_range(ind["baseline"]["from"], ind["baseline"]["to"])
        assert ind["target"]["months_before"] == len(set(base) & mersey)
    # the same plan on a Merseyside-only store gives the same numbers
    from realimpact.sources.police_uk import ingest_police_uk
    from realimpact.store import open_store

    one = two_force_store.parent / "mersey-only.duckdb"
    with open_store(one) as st:
        ingest_police_uk(
            [data_dir / "police_uk" / "merseyside", data_dir / "police_uk_more" / "merseyside"], st
        )
    alone = evaluate(MERSEY_PLAN, one, next_steps=False).to_dict()
    for a, b in zip(res["indicators"], alone["indicators"], strict=True):
        assert json.dumps(a["verdict"], sort_keys=True) == json.dumps(b["verdict"], sort_keys=True)
        assert a["target"] == b["target"] and a["control"] == b["control"]
    # and --force names the force; another force's name gives nothing of Merseyside's
    forced = evaluate(MERSEY_PLAN, two_force_store, force="merseyside", next_steps=False)
    assert forced.to_dict()["indicators"][0]["target"] == res["indicators"][0]["target"]


def test_unknown_force_is_a_clear_error(two_force_store):
    from realimpact.errors import InputError

    with pytest.raises(InputError, match=r"--force: no force 'kent'.*Merseyside Police"):
        evaluate(MERSEY_PLAN, two_force_store, force="kent")
