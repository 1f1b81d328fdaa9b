"""Harm index: realimpact against plain pandas over the raw police.uk CSVs.

Merseyside, Cleveland and Durham street files (2018-10..2019-02, 139,052 rows):
the index computed here with nothing but pandas must match the store-backed
index exactly (counts and ranks) and to float rounding (harm totals).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from realimpact.cli import app
from realimpact.harm.index import harm_index, harm_index_from_counts, partner_index
from realimpact.harm.weights import CRIME_TYPES, cchi_weights, count_weights
from realimpact.sources.police_uk import ingest_police_uk
from realimpact.store import Store

FORCES = ("merseyside", "cleveland", "durham")


@pytest.fixture(scope="module")
def raw(shared: Path) -> pd.DataFrame:
    files = sorted(
        f for force in FORCES for f in (shared / "data/police_uk" / force / "street").glob("*.csv")
    )
    assert len(files) == 15
    return pd.concat(
        (
            pd.read_csv(
                f, usecols=["Month", "Falls within", "LSOA code", "LSOA name", "Crime type"]
            )
            for f in files
        ),
        ignore_index=True,
    )


@pytest.fixture(scope="module")
def store_file(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("harm") / "s.duckdb"
    with Store(path) as st:
        res = ingest_police_uk([shared / "data/police_uk" / f / "street" for f in FORCES], st)
        assert res.ok
    return path


def reference_index(raw: pd.DataFrame, weights: dict[str, float], types=None) -> pd.DataFrame:
    """The harm index by hand: pandas only, no realimpact code."""
    df = raw.dropna(subset=["LSOA code"])
    if types:
        df = df[df["Crime type"].isin(types)]
    types = types or sorted(raw["Crime type"].unique())
    counts = df.groupby(["Month", "LSOA code", "Crime type"]).size().unstack(fill_value=0)
    grid = pd.MultiIndex.from_product(
        [sorted(df["Month"].unique()), sorted(df["LSOA code"].unique())],
        names=["Month", "LSOA code"],
    )
    counts = counts.reindex(index=grid, columns=types, fill_value=0)
    out = counts.reset_index()
    out["count"] = counts.sum(axis=1).to_numpy()
    out["harm"] = sum(counts[t].to_numpy() * weights[t] for t in types)
    out["rank"] = (
        out["harm"].round(9).groupby(out["Month"]).rank(ascending=False, method="min").astype(int)
    )
    return out.rename(columns={"Month": "period", "LSOA code": "area_id"})


def _compare(got: pd.DataFrame, ref: pd.DataFrame, types) -> None:
    key = ["period", "area_id"]
    got = got.sort_values(key, ignore_index=True)
    ref = ref.sort_values(key, ignore_index=True)
    assert len(got) == len(ref)
    assert (got[key].to_numpy() == ref[key].to_numpy()).all()
    for col in [*types, "count", "rank"]:
        np.testing.assert_array_equal(got[col].to_numpy(), ref[col].to_numpy(), err_msg=col)
    np.testing.assert_allclose(got["harm"], ref["harm"], rtol=1e-12)


def test_police_uk_has_the_14_crime_types(raw: pd.DataFrame) -> None:
    assert set(raw["Crime type"]) == set(CRIME_TYPES)


@pytest.mark.parametrize("weights", [cchi_weights(), count_weights()], ids=["cchi", "count"])
def test_harm_index_matches_pandas_over_raw_csvs(
    raw: pd.DataFrame, store_file: Path, weights
) -> None:
    with Store(store_file, read_only=True) as st:
        got = harm_index(st, layer="lsoa", period="month", weights=weights)
    ref = reference_index(raw, weights.weights)
    _compare(got, ref, CRIME_TYPES)
    assert got.attrs["weights"]["name"] == weights.name
    # the count weighting is the plain count
    if weights.name == "count":
        np.testing.assert_array_equal(got["harm"], got["count"])


def test_cached_counts_match_and_follow_new_records(
    raw: pd.DataFrame, store_file: Path, tmp_path: Path
) -> None:
    """A writable store keeps monthly counts in a cache; it must never serve stale counts."""
    path = tmp_path / "w.duckdb"
    path.write_bytes(store_file.read_bytes())
    w = cchi_weights()
    with Store(path) as st:
        cold = harm_index(st, weights=w)
        assert st.scalar("SELECT count(*) FROM harm_cache_state") == 1
        warm = harm_index(st, weights=w)
        _compare(cold, reference_index(raw, w.weights), CRIME_TYPES)
        _compare(warm, reference_index(raw, w.weights), CRIME_TYPES)
        types = ["Robbery", "Burglary"]
        q = harm_index(st, weights=w, period="quarter", crime_types=types, month_from="2018-11")
        # records change (here: one force removed) -> the cache is rebuilt
        st.con.execute("DELETE FROM crimes WHERE falls_within = 'Durham Constabulary'")
        after = harm_index(st, weights=w)
    sub = raw[raw["Month"] >= "2018-11"].assign(Month=lambda d: d["Month"].map(_quarter))
    _compare(q, reference_index(sub, w.weights, types), types)
    kept = raw[raw["Falls within"] != "Durham Constabulary"]
    assert len(kept) < len(raw)
    _compare(after, reference_index(kept, w.weights), CRIME_TYPES)


def _quarter(month: str) -> str:
    return f"{month[:4]}-Q{(int(month[5:]) - 1) // 3 + 1}"


def test_harm_index_crime_type_filter_matches(raw: pd.DataFrame, store_file: Path) -> None:
    types = ["Drugs", "Possession of weapons"]
    with Store(store_file, read_only=True) as st:
        got = harm_index(st, weights="cchi", crime_types=types)
    ref = reference_index(raw, cchi_weights().weights, types)
    _compare(got, ref, types)
    assert "Burglary" not in got.columns


def test_pure_core_matches_store_path(raw: pd.DataFrame, store_file: Path) -> None:
    counts = (
        raw.dropna(subset=["LSOA code"])
        .groupby(["LSOA code", "Month", "Crime type"])
        .size()
        .rename("n")
        .reset_index()
        .rename(columns={"LSOA code": "area_id", "Month": "month", "Crime type": "crime_type"})
    )
    pure = harm_index_from_counts(counts, cchi_weights())
    with Store(store_file, read_only=True) as st:
        stored = harm_index(st, weights="cchi")
    # the store path adds the name police.uk gives each LSOA code, from the raw file
    names = raw.dropna(subset=["LSOA code"]).groupby("LSOA code")["LSOA name"].first()
    assert (stored["name"] == stored["area_id"].map(names)).all()
    pd.testing.assert_frame_equal(
        pure.reset_index(drop=True),
        stored.drop(columns="name").reset_index(drop=True),
        check_like=True,
    )


def test_year_period_sums_months(store_file: Path) -> None:
    with Store(store_file, read_only=True) as st:
        months = harm_index(st, period="month", weights="cchi")
        years = harm_index(st, period="year", weights="cchi")
    months["year"] = months["period"].str[:4]
    by_year = months.groupby(["year", "area_id"])["harm"].sum()
    y = years.set_index(["period", "area_id"])["harm"]
    y.index.names = ["year", "area_id"]
    pd.testing.assert_series_equal(by_year.sort_index(), y.sort_index(), check_names=False)
    assert set(years["period"]) == {"2018", "2019"}


def test_population_rates_and_lsoa_code_mismatch(shared: Path, store_file: Path, tmp_path) -> None:
    """Census 2021 (LSOA21) against 2018-19 records (LSOA11): rates only where ids match."""
    from realimpact.sources.population import ingest_population

    path = tmp_path / "pop.duckdb"
    path.write_bytes(store_file.read_bytes())
    census = shared / "data/population/census2021-ts001-lsoa.csv"
    with Store(path) as st:
        res = ingest_population(
            census,
            st,
            id_field="geography code",
            value_field="Residence type: Total; measures: Value",
        )
        got = harm_index(st, weights="cchi")
    # independent: pandas join of the census table onto the record LSOA codes
    pop = pd.read_csv(census, dtype={"geography code": str})
    pop = pop.set_index("geography code")["Residence type: Total; measures: Value"]
    assert res["total"] == pop.sum() == 59_597_601  # README: sum 59,597,601
    codes = pd.Index(got["area_id"].unique())
    assert res["match"]["areas"] == len(codes)
    assert res["match"]["areas_matched"] == codes.isin(pop.index).sum()
    assert 0 < res["match"]["areas_matched"] < len(codes)  # some LSOA11 codes changed in 2021
    expected = got["harm"] / got["area_id"].map(pop) * 1000
    np.testing.assert_allclose(got["harm_per_1000"], expected, rtol=1e-12)
    assert got["harm_per_1000"].isna().sum() == (~got["area_id"].isin(pop.index)).sum()
    assert got.attrs["population"]["areas_matched"] == res["match"]["areas_matched"]


def test_cli_index_json_and_csv(store_file: Path, tmp_path: Path, raw: pd.DataFrame) -> None:
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "harm",
            "index",
            "--store",
            str(store_file),
            "--layer",
            "lsoa",
            "--period",
            "month",
            "--weights",
            "cchi",
            "--crime-type",
            "Drugs",
            "--json",
            "--top",
            "3",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["weights"]["name"] == "cchi" and data["crime_types"] == ["Drugs"]
    assert {r["rank"] for r in data["rows"]} <= {1, 2, 3}
    # top Drugs LSOA of 2018-10 by hand
    d = raw[(raw["Crime type"] == "Drugs") & (raw["Month"] == "2018-10")]
    top = d["LSOA code"].value_counts()
    first = [r for r in data["rows"] if r["period"] == "2018-10" and r["rank"] == 1]
    assert {r["area_id"] for r in first} == set(top[top == top.iloc[0]].index)
    out = tmp_path / "index.csv"
    res = runner.invoke(app, ["harm", "index", "--store", str(store_file), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stdout == ""
    csv = pd.read_csv(out)
    assert len(csv) == raw["Month"].nunique() * raw["LSOA code"].nunique()


def test_cli_index_bad_options(store_file: Path) -> None:
    runner = CliRunner()
    for args, needle in [
        (["--crime-type", "Drug"], "did you mean 'Drugs'"),
        (["--weights", "nope"], "no weight set 'nope'"),
        (["--period", "week"], "--period"),
        (["--layer", "ward"], "--layer"),
        (["--top", "0"], "--top"),
        (["--from", "2019-13"], "--from: '2019-13' is not a month"),
    ]:
        res = runner.invoke(app, ["harm", "index", "--store", str(store_file), *args])
        assert res.exit_code == 2, (args, res.output)
        assert needle in res.stderr


def _cell_reference(df: pd.DataFrame, keys: list[str], weights: dict[str, float]) -> pd.DataFrame:
    """Counts per (period, cell) and crime type and their harm, by hand with pandas."""
    ref = df.groupby(keys).size().unstack(fill_value=0)
    ref = ref.reindex(columns=list(CRIME_TYPES), fill_value=0)
    ref["harm"] = ref.to_numpy() @ np.array([weights[c] for c in CRIME_TYPES])
    return ref


def _compare_cells(got: pd.DataFrame, ref: pd.DataFrame) -> None:
    """Cells with records match the reference exactly; every other cell is empty."""
    g = got.set_index(["period", "area_id"])
    sub = g.loc[ref.index]
    np.testing.assert_array_equal(
        sub[list(CRIME_TYPES)].to_numpy(), ref[list(CRIME_TYPES)].to_numpy()
    )
    np.testing.assert_allclose(sub["harm"], ref["harm"], rtol=1e-12)
    assert g.drop(ref.index)["count"].sum() == 0


def test_grid_layer_matches_pandas_binning(shared: Path, store_file: Path, tmp_path: Path) -> None:
    """A 1 km grid over Cleveland: points binned by hand with pyproj + floor division."""
    from pyproj import Transformer

    from realimpact.geo.areas import build_grid

    path = tmp_path / "g.duckdb"
    path.write_bytes(store_file.read_bytes())
    files = sorted(shared.glob("data/police_uk/*/street/*.csv"))
    files = [f for f in files if f.parent.parent.name in FORCES]
    df = pd.concat(
        (pd.read_csv(f, usecols=["Month", "Falls within", "Longitude", "Latitude", "Crime type"])
         for f in files),
        ignore_index=True,
    ).dropna(subset=["Longitude", "Latitude"])  # fmt: skip
    x, y = Transformer.from_crs(4326, 27700, always_xy=True).transform(
        df["Longitude"].to_numpy(), df["Latitude"].to_numpy()
    )
    cle = (df["Falls within"] == "Cleveland Police").to_numpy()
    x0, y0 = np.floor(x[cle].min() / 1000) * 1000, np.floor(y[cle].min() / 1000) * 1000
    nx = int(np.floor((x[cle].max() - x0) / 1000)) + 1
    ny = int(np.floor((y[cle].max() - y0) / 1000)) + 1
    ix, iy = np.floor((x - x0) / 1000).astype(int), np.floor((y - y0) / 1000).astype(int)
    inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    df = df[inside].assign(
        cell=[
            f"E{int(x0 + 1000 * i)}N{int(y0 + 1000 * j)}"
            for i, j in zip(ix[inside], iy[inside], strict=True)
        ]
    )
    w = cchi_weights()
    with Store(path) as st:
        info = build_grid(st, cell=1000, layer="grid1k", force="Cleveland Police")
        assert info["n_areas"] == nx * ny
        got = harm_index(st, layer="grid1k", weights=w)
    assert got["area_id"].nunique() == nx * ny  # empty cells are in the index with zeros
    ref = _cell_reference(df, ["Month", "cell", "Crime type"], w.weights)
    _compare_cells(got, ref)


def test_stop_search_index_by_object_of_search(shared: Path) -> None:
    """City of London searches on a 2 km grid, weighted by the crime type of their object."""
    from pyproj import Transformer

    from realimpact.geo.areas import build_grid
    from realimpact.harm.weights import object_of_search_map

    folder = shared / "data/police_uk/city_of_london/stop_and_search"
    df = pd.concat(
        (pd.read_csv(f, usecols=["Date", "Latitude", "Longitude", "Object of search"])
         for f in sorted(folder.glob("*.csv"))),
        ignore_index=True,
    ).dropna(subset=["Latitude", "Longitude"])  # fmt: skip
    oos = object_of_search_map()
    assert (
        oos["Controlled drugs"] == "Drugs" and oos["Offensive weapons"] == "Possession of weapons"
    )
    assert oos["Evidence of offences under the Act"] is None
    df["crime_type"] = df["Object of search"].map(oos)
    x, y = Transformer.from_crs(4326, 27700, always_xy=True).transform(
        df["Longitude"].to_numpy(), df["Latitude"].to_numpy()
    )
    x0, y0 = np.floor(x.min() / 2000) * 2000, np.floor(y.min() / 2000) * 2000
    df["cell"] = [
        f"E{int(x0 + 2000 * i)}N{int(y0 + 2000 * j)}"
        for i, j in zip(np.floor((x - x0) / 2000), np.floor((y - y0) / 2000), strict=True)
    ]
    df["year"] = df["Date"].str[:4]
    df = df.dropna(subset=["crime_type"])
    ref = _cell_reference(df, ["year", "cell", "crime_type"], cchi_weights().weights)
    with Store(":memory:") as st:
        assert ingest_police_uk([folder], st).ok
        build_grid(st, cell=2000, layer="g2k")
        got = harm_index(st, layer="g2k", table="stop_searches", period="year", weights="cchi")
    _compare_cells(got, ref)


def test_partner_index_blanks_small_counts_and_what_reveals_them(
    store_file: Path, tmp_path: Path, raw: pd.DataFrame
) -> None:
    """--audience partner: no count 1-4, nor its harm or rank, nor a per-type count."""
    with Store(store_file, read_only=True) as st:
        full = harm_index(st, layer="lsoa", period="month", weights="cchi")
    out = tmp_path / "partner.csv"
    res = CliRunner().invoke(
        app,
        ["harm", "index", "--store", str(store_file), "--audience", "partner", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out)
    assert not set(CRIME_TYPES) & set(got.columns)
    key = ["period", "area_id"]
    both = full.merge(got, on=key, suffixes=("", "_p"), validate="one_to_one")
    assert len(both) == len(full)
    small = (both["count"] > 0) & (both["count"] < 5)
    assert small.sum() > 1_000  # many LSOA-months have one to four crimes
    # type counts of 1-4 count as fixed stand-ins 1-4 (never 0), so a truly small row is
    # blank, or shown at 5 or more when its stand-ins add up to that; never shown as 1-4
    shown_small = both.loc[small, "count_p"]
    assert (shown_small.isna() | (shown_small >= 5)).all()
    assert shown_small.isna().mean() > 0.5
    assert both.loc[both["count_p"].isna(), "suppressed"].all()
    for col in ("harm", "rank"):
        assert both.loc[both["count_p"].isna(), f"{col}_p"].isna().all()
    big = both["count_p"].notna() & (both["count"] >= 5)
    assert (both.loc[big, "count_p"] >= both.loc[big, "count"] - 4 * 14).all()
    assert (both.loc[both["count"] == 0, "count_p"] == 0).all()
    # an independent count from the raw CSVs: every shown count is >= 5 or 0
    shown = got["count"].dropna()
    assert ((shown == 0) | (shown >= 5)).all()
    assert (pd.Series(got["harm"]).dropna() % 10 == 0).all()  # rounded to 10 days
    assert (tmp_path / "manifest.json").is_file()

    js = CliRunner().invoke(
        app, ["harm", "index", "--store", str(store_file), "--audience", "partner", "--json"]
    )
    data = json.loads(js.stdout)
    assert data["audience"] == "partner" and data["suppression_threshold"] == 5
    assert all(r["count"] in (None, 0) or r["count"] >= 5 for r in data["rows"])
    assert all(not set(CRIME_TYPES) & set(r) for r in data["rows"])

    bad = CliRunner().invoke(
        app, ["harm", "index", "--store", str(store_file), "--audience", "everyone"]
    )
    assert bad.exit_code == 2 and "--audience" in bad.stderr


def test_harm_map_quantile_classes_and_partner_hatching(store_file: Path, tmp_path: Path) -> None:
    """--map: qcut-equal classes; the partner map does not change with the blanked counts."""
    import shapely

    from realimpact.geo.areas import build_grid
    from realimpact.harm.maps import harm_map
    from realimpact.hotspots.maps import quantile_classes

    rng = np.random.default_rng(3)
    for v in (rng.gamma(0.5, 100, 1000), rng.integers(1, 4, 300).astype(float)):
        k, _ = quantile_classes(v)
        np.testing.assert_array_equal(k, pd.qcut(v, 5, labels=False, duplicates="drop"))

    path = tmp_path / "g.duckdb"
    path.write_bytes(store_file.read_bytes())
    with Store(path) as st:
        build_grid(st, cell=2000, layer="grid2k", force="Cleveland Police")
    res = CliRunner().invoke(
        app, ["harm", "index", "--store", str(path), "--layer", "grid2k", "--period", "all",
              "--map", str(tmp_path / "h.png"), "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the partner map: areas with 1-4 records are hatched whatever their count
    xs = np.arange(6) * 100.0
    cells = pd.DataFrame(
        {"area_id": [f"c{i}" for i in range(6)], "geometry": shapely.box(xs, 0, xs + 100, 100)}
    )
    index = pd.DataFrame({"area_id": cells["area_id"], "period": "all",
                          "count": [40.0, 9.0, np.nan, 0.0, np.nan, 12.0],
                          "harm": [900.0, 50.0, np.nan, 0.0, np.nan, 300.0],
                          "suppressed": [False, False, True, False, True, False]})  # fmt: skip
    index.attrs = {"layer": "cells", "audience": "partner", "weights": {"name": "cchi"}}
    a = harm_map(index, cells, tmp_path / "a.png")
    assert (a["areas_shown"], a["areas_hidden"]) == (3, 2)
    analyst = index.assign(count=[40.0, 9.0, 1.0, 0.0, 3.0, 12.0], harm=[900, 50, 2, 0, 7, 300.0])
    analyst.attrs = {"layer": "cells", "weights": {"name": "cchi"}}
    b = harm_map(partner_index(analyst), cells, tmp_path / "b.png")  # true counts 1 and 3
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert b["areas_hidden"] == 2

    bad = CliRunner().invoke(
        app, ["harm", "index", "--store", str(store_file), "--map", str(tmp_path / "x.png")]
    )
    assert bad.exit_code == 2 and "has no boundaries" in bad.stderr
    jpg = CliRunner().invoke(
        app, ["harm", "index", "--store", str(store_file), "--map", str(tmp_path / "x.jpg")]
    )
    assert jpg.exit_code == 2 and ".png" in jpg.stderr
