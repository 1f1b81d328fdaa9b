"""Regression tests for bugs found by trying the tool as a new user would (CLI, store, plan template, displacement).

The DiD default inference is tested in ``test_evaluation_did.py`` and the
survey checks in ``test_evaluation_surveys.py``; everything here goes through
the command line, in-process (Typer's runner) or as a subprocess where the
terminal matters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from realimpact.cli import app
from tests.conftest import POLICE_UK

STREET = POLICE_UK / "city_of_london" / "street"
EXAMPLE = (
    Path(__file__).resolve().parents[1] / "examples" / "plans" / "city-of-london-lockdown-2020.yaml"
)


def _cli(*args: str | Path):
    env = {k: v for k, v in os.environ.items() if k != "REALIMPACT_STORE"}
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def _subprocess(*args: str | Path, cwd: Path, columns: str = "40"):
    """The CLI as a script runs it: stdout a pipe, never a terminal."""
    env = {k: v for k, v in os.environ.items() if k != "REALIMPACT_STORE"}
    env["COLUMNS"] = columns
    return subprocess.run(
        [sys.executable, "-m", "realimpact", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def col_store(tmp_path_factory) -> Path:
    """City of London street records (36 months), for the commands that need a real store."""
    path = tmp_path_factory.mktemp("bugs") / "col.duckdb"
    r = _cli("ingest", "police-uk", STREET, "--store", path, "--json")
    assert r.exit_code == 0, r.output
    return path


def _bad_street_file(folder: Path, name: str = "2017-12-city-of-london-street.csv") -> Path:
    """A real street file's header and first row, then one short row and one with latitude abc."""
    lines = (STREET / "2017-12-city-of-london-street.csv").read_text("utf-8").splitlines()
    header, good = lines[0], lines[1]
    cols = good.split(",")
    cols[header.split(",").index("Latitude")] = "abc"
    path = folder / name
    path.write_text("\n".join([header, good, "short,row", ",".join(cols)]) + "\n", "utf-8")
    return path


# -- 1. quarantine of a short row together with another bad row ---------------------------


def test_quarantine_shows_a_short_row_beside_a_bad_field(tmp_path: Path) -> None:
    store = tmp_path / "q.duckdb"
    csv = _bad_street_file(tmp_path)
    r = _cli("ingest", "police-uk", csv, "--store", store, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["totals"]["rows_quarantined"] == 2

    shown = _cli("quarantine", "--store", store)
    assert shown.exit_code == 0, shown.output  # was: NotRenderableError, exit 1
    assert "row has 2 fields, expected 12" in shown.output
    assert "Latitude 'abc' is not a number" in shown.output

    rows = json.loads(_cli("quarantine", "--store", store, "--json").output)["rows"]
    assert [(x["line"], x["field"]) for x in rows] == [(3, None), (4, "Latitude")]


def test_store_sql_gives_none_for_null_text(tmp_path: Path) -> None:
    from realimpact.store import Store

    with Store(tmp_path / "s.duckdb") as st:
        df = st.sql("SELECT * FROM (VALUES ('a', 1), (NULL, 2)) t(x, n)")
        assert df["x"].tolist() == ["a", None]
        assert df.to_dict("records")[1] == {"x": None, "n": 2}
        assert df["x"].isna().tolist() == [False, True]


# -- 2. plan new --title with YAML specials ----------------------------------------------

TITLES = [
    "A: B",
    "Op Alpha # phase 2",
    'The "Crack House" closures',
    "it's",
    "- leading dash",
    "{braces}",
    "[brackets], and a comma",
    "two\nlines",
    "yes",
    "2025",
    "  padded  ",
    "&anchor *alias !tag %pct @at `tick",
    "Opération Été",
]


@pytest.mark.parametrize("title", TITLES)
def test_plan_new_title_round_trips(tmp_path: Path, title: str) -> None:
    path = tmp_path / "plan.yaml"
    r = _cli("plan", "new", path, "--title", title)
    assert r.exit_code == 0, r.output
    plan = yaml.safe_load(path.read_text("utf-8"))
    assert plan["title"] == title
    assert plan["id"] == "plan" and plan["start"] == "2025-01"  # the rest still parses
    printed = _cli("plan", "new", "--title", title)
    assert yaml.safe_load(printed.output)["title"] == title


def test_plan_new_title_keeps_one_line_and_the_default_plain() -> None:
    from realimpact.plans.template import plan_template

    text = plan_template(title="a\nb: c")
    assert sum(ln.startswith("title:") for ln in text.splitlines()) == 1
    assert "\nstart: 2025-01 " in text
    assert "\ntitle: REPLACE with a short title\n" in plan_template()


# -- 3. read commands never create a store ----------------------------------------------

READS = [
    ["harm", "index"],
    ["hotspots", "gi", "--layer", "lsoa"],
    ["markets", "list"],
    ["markets", "rank"],
    ["areas", "grid", "--cell", "250", "--layer", "g250"],
    ["plan", "power", str(EXAMPLE)],
    ["evaluate", str(EXAMPLE), "--out", "results"],
]


@pytest.mark.parametrize("args", READS, ids=lambda a: " ".join(a[:2]))
def test_read_commands_refuse_a_missing_store(tmp_path: Path, args: list[str]) -> None:
    store = tmp_path / "missing.duckdb"
    r = _cli(*args, "--store", store)
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(store) in lines[0] and "does not exist" in lines[0], r.output
    assert not store.exists()
    assert not (tmp_path / "results").exists()


def test_default_store_is_not_created_by_a_read(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = _cli("markets", "list")
    assert r.exit_code == 2 and "realimpact.duckdb" in r.output
    assert not (tmp_path / "realimpact.duckdb").exists()


def test_writers_still_create_and_storeless_modes_still_run(tmp_path: Path) -> None:
    store = tmp_path / "new.duckdb"
    r = _cli("evaluate", "displacement", "--target", "9,3", "--buffer", "5,4", "--control",
             "20,21", "--store", store, "--json")  # fmt: skip
    assert r.exit_code == 0 and not store.exists()
    assert _cli("harm", "weights", "cchi", "--store", store).exit_code == 0
    assert not store.exists()
    r = _cli("markets", "add", "market", "m-1", "--level", "street", "--store", store)
    assert r.exit_code == 0, r.output
    assert store.exists()
    listed = json.loads(_cli("markets", "list", "--store", store, "--json").output)
    assert "m-1" in json.dumps(listed)


def test_store_create_false_refuses_a_missing_path(tmp_path: Path) -> None:
    from realimpact.errors import InputError
    from realimpact.store import Store, open_store

    with pytest.raises(InputError, match=r"x\.duckdb: store does not exist"):
        Store(tmp_path / "x.duckdb", create=False)
    with pytest.raises(InputError, match="does not exist"):
        open_store(tmp_path / "x.duckdb", create=False)
    assert not (tmp_path / "x.duckdb").exists()
    open_store(tmp_path / "x.duckdb").close()  # the library default still creates
    open_store(tmp_path / "x.duckdb", create=False).close()


# -- 4. plan power's dispersion ----------------------------------------------------------


def test_plan_power_says_poisson_not_dispersion_zero(col_store: Path) -> None:
    r = _cli("plan", "power", EXAMPLE, "--sims", "40", "--store", col_store)
    assert r.exit_code == 0, r.output
    res = json.loads(
        _cli("plan", "power", EXAMPLE, "--sims", "40", "--store", col_store, "--json").output
    )
    assert res["family"] == "poisson" and res["dispersion"] == 0
    assert "dispersion 0.000" not in r.output
    assert "model: poisson (no over-dispersion)" in r.output


def test_small_dispersion_is_not_rounded_to_zero() -> None:
    from realimpact.cli.plan import dispersion_text

    assert dispersion_text("negbin", 0.00042) == "negbin (NB2 dispersion 0.00042)"
    assert dispersion_text("negbin", 0.5) == "negbin (NB2 dispersion 0.5)"
    assert dispersion_text("poisson", 0.0) == "poisson (no over-dispersion)"


# -- 5. redirected output is not wrapped --------------------------------------------------


def test_redirected_tables_keep_long_file_names_whole(tmp_path: Path) -> None:
    name = "2017-12-city-of-london-street-a-very-long-file-name-for-the-test.csv"
    csv = _bad_street_file(tmp_path, name)
    p = _subprocess("ingest", "police-uk", csv, "--store", "s.duckdb", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert any(name in ln for ln in p.stdout.splitlines()), p.stdout
    q = _subprocess("quarantine", "--store", "s.duckdb", cwd=tmp_path)
    assert q.returncode == 0, q.stderr
    assert sum(name in ln for ln in q.stdout.splitlines()) == 2, q.stdout
    assert any("row has 2 fields, expected 12" in ln for ln in q.stdout.splitlines())
    # in-process (Typer's runner) too
    r = _cli("quarantine", "--store", tmp_path / "s.duckdb")
    assert sum(name in ln for ln in r.output.splitlines()) == 2, r.output


def test_a_terminal_keeps_its_width() -> None:
    import io

    from realimpact.cli._common import UNWRAPPED_WIDTH, _Console

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert _Console(file=io.StringIO()).width == UNWRAPPED_WIDTH
    assert _Console(file=Tty(), width=60).width == 60
    assert _Console(file=Tty(), force_terminal=True).width < UNWRAPPED_WIDTH


# -- 8. evaluate displacement with a zero control count ---------------------------------


@pytest.mark.parametrize(
    "control,undefined",
    [
        ("0,21", {"net_effect", "success_measure", "buffer_measure", "wdq", "total_net_effect"}),
        ("20,0", {"success_measure", "buffer_measure", "wdq"}),
    ],
)
def test_zero_control_still_gives_the_wdd(control: str, undefined: set[str]) -> None:
    args = ["evaluate", "displacement", "--target", "9,3", "--buffer", "5,4",
            "--control", control, "--buffer-control", "6,6"]  # fmt: skip
    r = _cli(*args, "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert {k for k, v in res["wdq"].items() if v is None} == undefined
    assert res["wdq"]["gross_effect"] == 6
    cb, ca = (float(x) for x in control.split(","))
    # WDD = (T_a - T_b) - (C_a - C_b) + (D_a - D_b) - (Cd_a - Cd_b), Var = sum of counts
    assert res["wdd"]["estimate"] == pytest.approx((3 - 9) - (ca - cb) + (4 - 5) - 0)
    assert res["wdd"]["se"] == pytest.approx((9 + 3 + cb + ca + 5 + 4 + 6 + 6) ** 0.5)
    assert "divide by the control count" in res["notes"][0]
    table = _cli(*args)
    assert table.exit_code == 0, table.output
    rows = {ln.split("│")[1].strip(): ln.split("│")[2].strip()
            for ln in table.output.splitlines() if ln.count("│") == 3}  # fmt: skip
    assert {k for k, v in rows.items() if v == "undefined"} == {
        k.replace("_", " ") for k in undefined
    }
    assert "WDD " in table.output and "SE " in table.output


def test_displacement_library_reports_undefined_as_none() -> None:
    from realimpact.evaluation.displacement import displacement_from_counts

    res = displacement_from_counts((10, 5), (3, 3), (0, 4))
    assert res["wdq"]["wdq"] is None and res["wdq"]["gross_effect"] == 5
    assert res["wdd"] is None
    res = displacement_from_counts((100, 50), (30, 40), (200, 200))
    # BDM = 40/200 - 30/200 = 0.05, SM = 50/200 - 100/200 = -0.25: WDQ = -0.2
    assert res["notes"] == [] and res["wdq"]["wdq"] == pytest.approx(-0.2)


def test_a_failed_parse_after_store_does_not_leave_stores_must_exist(tmp_path):
    """A read command whose later option fails to parse must not make every store that
    this process opens afterwards "must exist" (the library creates stores on ingest)."""
    from typer.testing import CliRunner

    from realimpact.cli import app
    from realimpact.store import open_store

    with open_store(tmp_path / "a.duckdb"):
        pass
    for bad in (["--top", "0"], ["--period", "week"], ["--from", "2019-13"], ["--bogus"]):
        r = CliRunner().invoke(app, ["harm", "index", "--store", str(tmp_path / "a.duckdb"), *bad])
        assert r.exit_code == 2, (bad, r.output)
    with open_store(tmp_path / "new.duckdb") as st:  # a writer may still create one
        assert st.path.endswith("new.duckdb")
