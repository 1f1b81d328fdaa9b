"""A month missing from the data is never a zero (ITS).

City of London street crime, 36 real months. One store holds every month,
another every file but 2019-06: the interrupted time series on the second must
equal the fit on the first with 2019-06 genuinely absent, and must differ from
the fit with 2019-06 counted as zero.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from realimpact.evaluation.its import its_counts
from realimpact.sources.police_uk import ingest_police_uk
from realimpact.store import open_store
from realimpact.store.queries import months_present, record_counts
from tests.conftest import DATA

STREET = DATA / "police_uk" / "city_of_london" / "street"
MORE = DATA / "police_uk_more" / "city_of_london" / "street"


def _drugs(path) -> pd.Series:
    with open_store(path) as st:
        c = record_counts(st, by=("month",), crime_types=["Drugs"])
    return c.groupby("month")["n"].sum()


@pytest.fixture(scope="module")
def stores(city_street_gap_stores):
    return city_street_gap_stores


def test_its_with_a_month_removed_equals_the_month_absent(stores):
    full, holed = stores
    with open_store(holed) as st:
        assert "2019-06" not in months_present(st, "crimes")
        assert len(months_present(st, "crimes")) == 35
    s_holed = _drugs(holed)
    s_full = _drugs(full)
    assert len(s_full) == 36 and s_full["2019-06"] > 0
    absent = s_full.drop("2019-06")
    r = its_counts(s_holed, start="2020-03")
    r_abs = its_counts(absent, start="2020-03")
    assert r.n == r_abs.n == 35
    assert r.level.estimate == pytest.approx(r_abs.level.estimate, rel=1e-10)
    assert r.slope.estimate == pytest.approx(r_abs.slope.estimate, rel=1e-10)
    assert r.level.p == pytest.approx(r_abs.level.p, rel=1e-8)
    # the figure the issue gives for this series with the month left out
    assert r.level.estimate == pytest.approx(-0.72, abs=0.01)
    assert any("2019-06" in w and "not counted as zero" in w for w in r.warnings)
    assert "2019-06" not in r.fitted.index
    # counted as zero it is a different (wrong) answer
    zero = pd.concat([s_holed, pd.Series({"2019-06": 0})]).sort_index()
    r_zero = its_counts(zero, start="2020-03")
    assert r_zero.n == 36
    assert abs(r_zero.level.estimate - r.level.estimate) > 0.1


def test_its_time_index_counts_calendar_months_across_a_gap():
    """2016-01..2017-06 + 2017-12..2020-11: the 5-month gap is a gap, not five zeros."""
    months_more = [f.name[:7] for f in sorted(MORE.glob("*.csv"))]
    assert "2017-07" not in months_more and "2016-01" in months_more
    s = pd.Series({"2016-01": 10.0, "2016-02": 12.0})
    # the design sees calendar months: 2017-12 is 23 months after 2016-01
    from realimpact.evaluation.its import its_design

    idx = ["2016-01", "2016-02", "2017-06", "2017-12", "2018-01", "2018-02"]
    d = its_design(idx, "2017-12", seasonality="none")
    assert list(d["time"]) == [0, 1, 17, 23, 24, 25]
    assert list(d["time_since"]) == [0, 0, 0, 0, 1, 2]
    assert s.sum() > 0


def test_its_real_gap_2017(tmp_path):
    """The City series with its real 2017-07..11 gap: left out, not five zero months."""
    st_path = tmp_path / "s.duckdb"
    files = sorted(MORE.glob("2016-*.csv")) + sorted(MORE.glob("2017-*.csv"))
    files += sorted(STREET.glob("2017-*.csv")) + sorted(STREET.glob("2018-*.csv"))
    ingest_police_uk(files, store=st_path)
    s = _drugs(st_path)
    assert "2017-08" not in s.index and len(s) == 18 + 13
    r = its_counts(s, start="2018-01")
    assert r.n == 31
    assert any("5 month(s) missing" in w for w in r.warnings)
    span = pd.Index([f"{y}-{m:02d}" for y in (2016, 2017, 2018) for m in range(1, 13)])
    zero = s.reindex(span, fill_value=0)
    r_zero = its_counts(zero, start="2018-01")
    # left out: rate ratio ~1.31, not significant; five invented zero months just
    # before the start fake a significant near-tripling
    assert np.exp(r.level.estimate) == pytest.approx(1.31, abs=0.01)
    assert r.level.p > 0.05
    assert np.exp(r_zero.level.estimate) > 2.5 and r_zero.level.p < 0.05
