"""A month missing from the store is never a zero.

Two stores of real City of London street crime: every month (2017-12..2020-11)
and every file but 2019-06. Each analysis on the second must equal the same
analysis with 2019-06 genuinely absent, and never the one with a zero there:
harm index periods, plan power and market warnings (ITS: test_missing_months_its).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from realimpact.errors import ValidationError
from realimpact.harm.index import harm_index
from realimpact.markets import warning as mw
from realimpact.markets.warning import _police_series, emerging_market_warning
from realimpact.plans.model import Window, load_plan
from realimpact.plans.power import plan_power, simulate_power_its
from realimpact.sources.police_uk import ingest_police_uk
from realimpact.store import Store, open_store
from realimpact.store.queries import record_counts
from tests.conftest import DATA

STREET = DATA / "police_uk" / "city_of_london" / "street"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples/plans/city-of-london-lockdown-2020.yaml"


@pytest.fixture(scope="module")
def stores(city_street_gap_stores):
    return city_street_gap_stores


# -- harm index periods ------------------------------------------------------------


def test_harm_index_quarter_with_a_month_missing_is_flagged_and_sums_what_exists(stores):
    full, holed = stores
    with open_store(holed) as st:
        q = harm_index(st, period="quarter")
    with open_store(full) as st:
        monthly = harm_index(st, period="month")
        q_full = harm_index(st, period="quarter")
    q2 = q[q["period"] == "2019-Q2"].set_index("area_id")
    assert (q2["months"] == 2).all() and not q2["complete"].any()
    assert any("2019-Q2 (2 of 3 months)" in n for n in q.attrs["notes"])
    # the same as the quarter built from the months that exist, 2019-04 and 2019-05
    two = monthly[monthly["period"].isin(["2019-04", "2019-05"])].groupby("area_id")
    assert q2["count"].to_dict() == two["count"].sum().reindex(q2.index).to_dict()
    np.testing.assert_allclose(q2["harm"], two["harm"].sum().reindex(q2.index), rtol=1e-12)
    # the full store's quarter is complete, and larger: 2019-06 was not read as zero
    f2 = q_full[q_full["period"] == "2019-Q2"].set_index("area_id")
    assert f2["complete"].all() and int(f2["count"].sum()) > int(q2["count"].sum())
    # first and last quarters are partial in both stores (2017-12 only, 2020-10..11)
    assert set(q.loc[~q["complete"], "period"]) == {"2017-Q4", "2019-Q2", "2020-Q4"}
    assert set(q_full.loc[~q_full["complete"], "period"]) == {"2017-Q4", "2020-Q4"}


def test_harm_index_month_period_has_no_row_for_the_missing_month(stores):
    _, holed = stores
    with open_store(holed) as st:
        m = harm_index(st, period="month")
        y = harm_index(st, period="year")
    assert "2019-06" not in set(m["period"])
    assert "months" not in m.columns  # a month is whole or absent
    y19 = y[y["period"] == "2019"]
    assert (y19["months"] == 11).all() and not y19["complete"].any()


# -- plan power ------------------------------------------------------------------


def _its_plan():
    plan = load_plan(EXAMPLE)
    plan.areas.control = []
    return plan


def test_power_leaves_a_missing_baseline_month_out(stores):
    full, holed = stores
    plan = _its_plan()
    ind = plan.indicator("violence-robbery-weapons")
    with Store(holed, read_only=True) as st:
        res = plan_power(plan, st, indicator=ind.id, n_sims=60, seed=3)
    assert any("2019-06" in n and "not counted as zero" in n for n in res.notes)
    # the same calculation on the full store's series with 2019-06 genuinely absent
    with open_store(full) as st:
        c = record_counts(st, by=("month",), crime_types=list(ind.crime_types))
    series = c[c["area_id"].isin(plan.areas.target)].groupby("month")["n"].sum()
    months = [m for m in ind.baseline.months if m != "2019-06"]
    follow = plan.follow_up_of(ind).months
    grid = np.array([r["reduction"] for r in res.curve])
    absent, _ = simulate_power_its(
        series.reindex(months).to_numpy(float), months, follow, reductions=grid,
        n_sims=60, se="quasi", seed=3,
    )  # fmt: skip
    np.testing.assert_allclose([r["power"] for r in res.curve], absent)
    assert res.baseline_per_month == pytest.approx(series.reindex(months).mean())
    # with 2019-06 as a zero the baseline mean (and so the answer) is another one
    zero = series.drop("2019-06").reindex(ind.baseline.months, fill_value=0)
    assert zero.mean() < 0.95 * res.baseline_per_month
    as_zero, _ = simulate_power_its(
        zero.to_numpy(float), list(ind.baseline.months), follow, reductions=grid,
        n_sims=60, se="quasi", seed=3,
    )  # fmt: skip
    assert not np.allclose(as_zero, absent)


def test_power_refuses_a_baseline_mostly_missing(stores):
    _, holed = stores
    plan = _its_plan()
    ind = plan.indicator("violence-robbery-weapons")
    ind.baseline = Window("2019-01", "2019-07")  # 7 months, 2019-06 missing -> 6 held: runs
    with Store(holed, read_only=True) as st:
        plan_power(plan, st, indicator=ind.id, n_sims=20, seed=1)
        ind.baseline = Window("2019-02", "2019-07")  # 6 months, one missing -> 5: refused
        with pytest.raises(ValidationError, match=r"only 5 of its 6 months.*2019-06"):
            plan_power(plan, st, indicator=ind.id, n_sims=20, seed=1)


# -- market warnings ---------------------------------------------------------------------


def test_warning_with_a_month_removed_equals_the_month_absent(stores):
    full, holed = stores
    kw = dict(baseline=("2018-06", "2019-08"), monitor=("2019-04", "2019-12"), n_sim=199)
    with open_store(holed) as st:
        got = emerging_market_warning(
            st, baseline_from="2018-06", baseline_to="2019-03", monitor_from="2019-04",
            monitor_to="2019-12", n_sim=199, show_all=True,
        )  # fmt: skip
    with open_store(full) as st:
        frame, coverage, _ = _police_series(st, "force", "lsoa", None, None)
    kw = dict(baseline=("2018-06", "2019-03"), monitor=("2019-04", "2019-12"), n_sim=199)
    absent = mw.test_series(
        frame[frame["month"] != "2019-06"],
        {u: [m for m in ms if m != "2019-06"] for u, ms in coverage.items()},
        **kw,
    )
    zero = mw.test_series(frame[frame["month"] != "2019-06"], coverage, **kw)
    by = {t["indicator"]: t for t in got["tests"] if t["unit"] == "city-of-london"}
    assert by, got["tests"]
    checked = 0
    for t in absent:
        g = by[t["indicator"]]
        assert g["tested"] == t["tested"]
        if not t["tested"]:
            continue
        # the monitored run stops at the gap: 2019-06 is never a month of the CUSUM
        assert g["monitor"] == ["2019-04", "2019-05"] and "2019-06" not in g["not_monitored"]
        assert g["not_monitored"][0] == "2019-07"
        for k in ("statistic", "p_value", "baseline_mean", "monitor_mean", "h", "k"):
            assert g[k] == pytest.approx(t[k]), (t["indicator"], k)
        checked += 1
    assert checked >= 3
    # counted as a zero month the monitored series is another (it runs through 2019-06)
    z = {t["indicator"]: t for t in zero if t.get("tested")}
    assert any(z[i]["monitor"] == ["2019-04", "2019-12"] for i in z)


def test_warning_does_not_bridge_the_38_month_gap(tmp_path):
    """City 2019-01..2020-11 then 2024-02: monitoring stops at 2020-11, it is said why."""
    st_path = tmp_path / "g.duckdb"
    files = sorted(STREET.glob("2019-*.csv")) + sorted(STREET.glob("2020-*.csv"))
    files += sorted((DATA / "police_uk_more" / "city_of_london" / "street").glob("2024-02*.csv"))
    ingest_police_uk(files, store=st_path)
    with open_store(st_path) as st:
        r = emerging_market_warning(st, n_sim=199, show_all=True)
    tested = [t for t in r["tests"] if t.get("tested")]
    assert tested
    for t in tested:
        assert t["monitor"][1] <= "2020-11"
        assert t["not_monitored"] == ["2024-02"]
        assert "38 month(s) missing after 2020-11" in t["gaps"]
        assert "--monitor-from 2024-02" in t["gaps"]
    with open_store(st_path) as st:
        late = emerging_market_warning(st, monitor_from="2024-02", n_sim=199, show_all=True)
    for t in (t for t in late["tests"] if t.get("tested")):
        assert t["monitor"] == ["2024-02", "2024-02"] and "not_monitored" not in t
        assert t["baseline"] == ["2019-01", "2020-11"] and "gaps" not in t


def test_series_frame_helper_is_real_data(stores):
    full, _ = stores
    with open_store(full) as st:
        frame, coverage, _ = _police_series(st, "force", "lsoa", None, None)
    assert isinstance(frame, pd.DataFrame) and len(coverage["city-of-london"]) == 36
