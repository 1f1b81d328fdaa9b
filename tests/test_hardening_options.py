"""Issue 13: bad options and files exit 2 with one line naming what is wrong.

A folder given as ``--out FILE``, absurd displacement counts, an unknown
audience, a reversed period, population counts that are not whole numbers
written plainly, a blank crime type; and user text with ``$`` in a chart.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from realimpact.cli import app
from tests.conftest import DATA

CITY = DATA / "police_uk" / "city_of_london" / "street"


@pytest.fixture(scope="module")
def city_store(tmp_path_factory) -> Path:
    store = tmp_path_factory.mktemp("city") / "city.duckdb"
    files = [str(CITY / f"2018-{m:02d}-city-of-london-street.csv") for m in (1, 2, 3)]
    res = CliRunner().invoke(app, ["ingest", "police-uk", *files, "--store", str(store)])
    assert res.exit_code == 0, res.output
    return store


def _refused(args: list[str], *named: str) -> str:
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    for n in named:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "cmd",
    [
        ["harm", "index"],
        ["hotspots", "gi", "--layer", "lsoa"],
        ["hotspots", "emerging", "--layer", "lsoa"],
        ["hotspots", "kde"],
    ],
)
def test_out_file_that_is_a_folder(city_store, tmp_path, cmd):
    folder = tmp_path / "results.csv"  # a folder, even with a file's suffix
    folder.mkdir()
    _refused([*cmd, "--out", str(folder), "--store", str(city_store)], "--out", "folder")
    _refused([*cmd, "--out", str(tmp_path), "--store", str(city_store)], "--out")


def test_map_that_is_a_folder(city_store, tmp_path):
    folder = tmp_path / "map.png"
    folder.mkdir()
    _refused(["harm", "index", "--map", str(folder), "--store", str(city_store)], "--map", "folder")


DISP = ["evaluate", "displacement", "--buffer", "10,12", "--control", "100,100"]


@pytest.mark.parametrize("target", ["1e308,1e308", "1e13,5", "inf,1", "nan,2"])
def test_displacement_absurd_counts(target):
    _refused([*DISP, "--target", target], "--target")


def test_displacement_large_counts_compute():
    big = "1e12,9e11"
    res = CliRunner().invoke(app, ["evaluate", "displacement", "--target", big, "--buffer", big,
                                   "--control", big, "--buffer-control", big, "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output


def test_displacement_unknown_audience():
    line = _refused([*DISP, "--target", "50,30", "--audience", "everyone"], "--audience")
    assert "analyst" in line and "partner" in line and "public" in line


@pytest.mark.parametrize("audience", ["partner", "public"])
def test_shared_displacement_withholds_measures_that_give_a_small_count_back(audience):
    """--audience used to be accepted and ignored: the buffer measure gave a buffer of 4 back."""
    small = ["evaluate", "displacement", "--target", "50,30", "--buffer", "20,4",
             "--control", "40,38", "--buffer-control", "30,31", "--json"]  # fmt: skip
    res = CliRunner().invoke(app, [*small, "--audience", audience])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    assert all(v is None for k, v in got["wdq"].items() if k not in ("suppressed",))
    assert set(got["wdq"]["suppressed"]) >= {"buffer_measure", "wdq", "gross_effect"}
    assert got["wdd"]["estimate"] is None and "--buffer after" in got["notes"][-1]
    # counts all at or above the threshold: the measures are given as for the analyst
    big = [a.replace("20,4", "20,14") for a in small]
    shared = json.loads(CliRunner().invoke(app, [*big, "--audience", audience]).stdout)
    analyst = json.loads(CliRunner().invoke(app, big).stdout)
    assert shared["wdq"] == analyst["wdq"]
    text = CliRunner().invoke(app, [*small[:-1], "--audience", audience]).output
    assert "withheld" in text and "undefined" not in text and "suppressed" not in text


@pytest.mark.parametrize(
    ("cmd", "first", "last"),
    [
        (["hotspots", "gi", "--layer", "lsoa"], "--period-from", "--period-to"),
        (["hotspots", "emerging", "--layer", "lsoa"], "--period-from", "--period-to"),
        (["hotspots", "kde"], "--period-from", "--period-to"),
        (["harm", "index"], "--from", "--to"),
    ],
)
def test_reversed_period(city_store, cmd, first, last):
    line = _refused([*cmd, first, "2020-05", last, "2020-01", "--store", str(city_store)])
    assert f"{first} 2020-05 is after {last} 2020-01" in line


@pytest.mark.parametrize(
    "cmd", [["harm", "index"], ["hotspots", "gi", "--layer", "lsoa"], ["hotspots", "kde"]]
)
@pytest.mark.parametrize("blank", ["\t", " ", ""])
def test_blank_crime_type(city_store, cmd, blank):
    _refused([*cmd, "--crime-type", blank, "--store", str(city_store)], "--crime-type", "blank")


def test_crime_type_is_stripped(city_store):
    res = CliRunner().invoke(app, ["harm", "index", "--crime-type", " Drugs\t", "--json",
                                   "--store", str(city_store)])  # fmt: skip
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("value", ["1_000", "0.001", "12.5", "1e3", "-5", "+7", "1,23", "nan"])
def test_population_must_be_whole_plain_counts(city_store, tmp_path, value):
    f = tmp_path / "pop.csv"
    f.write_text(f'code,residents\nE01000001,1500\nE01000002,"{value}"\n', "utf-8")
    line = _refused(["ingest", "population", str(f), "--id-field", "code",
                     "--value-field", "residents", "--store", str(city_store)],
                    str(f), "line 3", "residents")  # fmt: skip
    assert "whole count" in line


def test_population_plain_counts_accepted(city_store, tmp_path):
    f = tmp_path / "pop.csv"
    f.write_text('code,residents\nE01000001,1500\nE01000002,"1,234"\nE01000003,125.0\n', "utf-8")
    res = CliRunner().invoke(app, ["ingest", "population", str(f), "--id-field", "code",
                                   "--value-field", "residents", "--json",
                                   "--store", str(city_store)])  # fmt: skip
    assert res.exit_code == 0, res.output


LABELS = [r"$\bogus{x}$ visits", "$5 + $10 fines"]


def test_dollar_signs_in_chart_text_are_literal():
    from realimpact.report import charts

    svgs = [
        charts.bar_chart([(LABELS[0], 1.0), (LABELS[1], -2.0)], LABELS[1], LABELS[0]),
        charts.forest_chart(
            [{"label": LABELS[0], "rr": 0.8, "lo": 0.6, "hi": 1.1}], LABELS[1], "rate ratio"
        ),
        charts.survey_chart([{"label": LABELS[1], "diff": 0.3}], LABELS[0]),
        charts.series_chart(
            ["2024-01", "2024-02"], {LABELS[0]: [3, 4]}, None, None, None, LABELS[1]
        ),
    ]
    for svg in svgs:
        assert svg is not None
        texts = " ".join(re.findall(r"<text[^>]*>(.*?)</text>", svg, flags=re.S))
        assert "$" in texts and "\\$" not in texts


def test_report_with_dollar_labels_renders(tmp_path):
    from realimpact.report import render_report
    from tests._report_fixture import results

    res = results()
    for ind, label in zip(res["indicators"], LABELS, strict=False):
        ind["label"] = label
    html = render_report(res, tmp_path).read_text("utf-8")
    svg_text = " ".join(re.findall(r"<text[^>]*>(.*?)</text>", html, flags=re.S))
    assert r"$\bogus{x}$ visits" in svg_text and "$5 + $10 fines" in svg_text


def test_dollar_signs_in_map_text(tmp_path):
    import shapely

    from realimpact.hotspots.maps import choropleth_map, hotspot_map

    geoms = [shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)]
    r = choropleth_map(geoms, [1.0, 2.0], tmp_path / "c.png", title=LABELS[0], label=LABELS[1],
                       note=LABELS[1])  # fmt: skip
    assert Path(r["path"]).stat().st_size > 0
    r = hotspot_map(geoms, ["hot-99", "not-significant"], tmp_path / "h.png", title=LABELS[0],
                    note=LABELS[1])  # fmt: skip
    assert Path(r["path"]).stat().st_size > 0
