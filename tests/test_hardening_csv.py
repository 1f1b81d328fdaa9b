"""Issue 13: CSV exports cannot inject spreadsheet formulas.

A boundary layer whose area ids and names start with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return (OWASP's list) is loaded over real City of
London street crime; every CSV the CLI writes from it must quote those cells
with a leading ``'``, and leave numeric columns (negative numbers too) as numbers.
"""

from __future__ import annotations

import csv
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from typer.testing import CliRunner

from realimpact.cli import app
from realimpact.csv_safe import FORMULA_PREFIXES, spreadsheet_safe, write_csv
from tests.conftest import DATA

CITY = DATA / "police_uk" / "city_of_london" / "street"
BOUNDS = DATA / "boundaries" / "london_lsoa_2011" / "E09000001.geojson"
EVIL = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tTAB", "\rCR"]


@pytest.fixture(scope="module")
def evil_store(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("evil")
    store = base / "evil.duckdb"
    files = [str(CITY / f"2018-{m:02d}-city-of-london-street.csv") for m in range(1, 7)]
    runner = CliRunner()
    res = runner.invoke(app, ["ingest", "police-uk", *files, "--store", str(store)])
    assert res.exit_code == 0, res.output
    g = gpd.read_file(BOUNDS)[["geometry"]].copy()
    assert len(g) == len(EVIL)
    g["code"] = EVIL
    g["name"] = [f"{e} name" for e in EVIL]
    gj = base / "evil.geojson"
    g.to_file(gj, driver="GeoJSON")
    res = runner.invoke(app, ["ingest", "boundaries", str(gj), "--layer", "evil",
                              "--id-field", "code", "--name-field", "name",
                              "--store", str(store)])  # fmt: skip
    assert res.exit_code == 0, res.output
    return store


def _cells(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _assert_safe(path: Path) -> None:
    rows = _cells(path)
    assert len(rows) > 1, f"{path} has no data rows"
    text = "\n".join(",".join(r) for r in rows)
    for row in rows:
        for cell in row:
            if cell.startswith(FORMULA_PREFIXES):
                float(cell)  # only a number (a negative one) may start with '-'
    assert "'=HYPERLINK" in text and "'@SUM(A1)" in text and "'+1" in text  # the ids, quoted


@pytest.mark.parametrize("audience", ["analyst", "partner"])
def test_harm_index_csv_is_spreadsheet_safe(evil_store, tmp_path, audience):
    out = tmp_path / "index.csv"
    res = CliRunner().invoke(app, ["harm", "index", "--layer", "evil", "--period", "all",
                                   "--audience", audience, "--out", str(out),
                                   "--store", str(evil_store)])  # fmt: skip
    assert res.exit_code == 0, res.output
    _assert_safe(out)


@pytest.mark.parametrize("audience", ["analyst", "partner"])
def test_hotspots_gi_csv_is_spreadsheet_safe(evil_store, tmp_path, audience):
    out = tmp_path / "gi.csv"
    res = CliRunner().invoke(app, ["hotspots", "gi", "--layer", "evil", "--permutations", "0",
                                   "--inference", "permutation", "--audience", audience,
                                   "--out", str(out), "--store", str(evil_store)])  # fmt: skip
    assert res.exit_code == 0, res.output
    _assert_safe(out)
    if audience == "analyst":  # gi_z has negative values: written as numbers, unquoted
        df = pd.read_csv(out)
        assert pd.api.types.is_float_dtype(df["gi_z"]) and (df["gi_z"] < 0).any()


def test_hotspots_emerging_csv_is_spreadsheet_safe(evil_store, tmp_path):
    out = tmp_path / "emerging.csv"
    res = CliRunner().invoke(app, ["hotspots", "emerging", "--layer", "evil",
                                   "--permutations", "0", "--inference", "permutation",
                                   "--out", str(out), "--store", str(evil_store)])  # fmt: skip
    assert res.exit_code == 0, res.output
    _assert_safe(out)


def test_spreadsheet_safe_quotes_text_not_numbers(tmp_path):
    df = pd.DataFrame(
        {
            "area": [*EVIL, "plain", None],
            "value": [-1.5, 2.0, -3.0, 4.0, 5.0, 6.0, -7.0, float("nan")],
            "count": [-1, 2, 3, 4, 5, 6, 7, 8],
            "-col": ["-x"] * 8,
        }
    )
    safe = spreadsheet_safe(df)
    assert safe["area"].tolist()[:6] == ["'" + e for e in EVIL]
    assert safe["area"].iloc[6] == "plain" and pd.isna(safe["area"].iloc[7])
    assert safe["value"].equals(df["value"]) and safe["count"].equals(df["count"])
    assert list(safe.columns) == ["area", "value", "count", "'-col"]
    assert df["area"].iloc[0] == EVIL[0]  # the input is not changed
    p = write_csv(df, tmp_path / "x.csv")
    rows = _cells(p)
    assert rows[1][:3] == ["'" + EVIL[0], "-1.5", "-1"]
