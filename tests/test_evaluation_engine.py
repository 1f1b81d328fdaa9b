"""End to end on real data: City of London, the March 2020 lockdown as the "operation".

Store: police.uk street crime and stop and search for the City of London
(../shared/data/police_uk/city_of_london, 2017-12..2020-11). Every expected number
is recomputed here independently from the CSV files with pandas (counts, NFA
shares, find rates) or statsmodels (the DiD), never copied from our output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import yaml

from realimpact.errors import ValidationError
from realimpact.evaluation.engine import evaluate

TARGET = ["E01032739"]
BUFFER = ["E01032740", "E01000005"]
CONTROL = ["E01000001", "E01000002", "E01000003", "E01004293", "E01002704", "E01004307"]
BASE, FOLLOW = ("2018-03", "2020-02"), ("2020-03", "2020-08")

PLAN = {
    "id": "op-lockdown-col",
    "title": "City of London: the March 2020 lockdown treated as an intervention",
    "start": "2020-03",
    "end": "2020-05",
    "areas": {"layer": "lsoa", "target": TARGET, "buffer": BUFFER, "control": CONTROL},
    # Harm and tactic ids from the catalogues (realimpact.harm.taxonomy, plans.catalogues).
    "harms": [{"id": "ph-increase-violence", "mechanism": "fewer people about, fewer conflicts"}],
    "tactics": ["visible-street-patrols"],
    "indicators": [
        {
            "id": "drugs-crime",
            "kind": "outcome",
            "source": "police_uk",
            "crime_types": ["Drugs"],
            "baseline": {"from": BASE[0], "to": BASE[1]},
            "follow_up": {"from": FOLLOW[0], "to": FOLLOW[1]},
        },
        {
            "id": "violence",
            "kind": "outcome",
            "source": "police_uk",
            "crime_types": ["Violence and sexual offences"],
            "baseline": {"from": BASE[0], "to": BASE[1]},
            "follow_up": {"from": FOLLOW[0], "to": FOLLOW[1]},
        },
        {
            "id": "drug-searches",
            "kind": "output",
            "source": "stop_search",
            "crime_types": ["Controlled drugs"],
            "baseline": {"from": BASE[0], "to": BASE[1]},
            "follow_up": {"from": FOLLOW[0], "to": FOLLOW[1]},
        },
    ],
    "displacement": {"expected": "spatial, to neighbouring streets"},
    "unintended_consequences": [
        # Real ids from realimpact.harm.taxonomy.enforcement_harms() (the N8 study and UKDPC (2009)).
        {"id": "enf-drug-debt-violence", "mitigation": "patrols", "monitor": "violence"},
        {"id": "enf-harm-to-dealers-families", "mitigation": "safeguarding referrals"},
    ],
    "partners": ["housing"],
}

CRIME_NFA = {
    "Investigation complete; no suspect identified",
    "Unable to prosecute suspect",
    "Formal action is not in the public interest",
    "Further investigation is not in the public interest",
    "Further action is not in the public interest",
}
PENDING = {"Under investigation", "Awaiting court outcome", "Status update unavailable"}


@pytest.fixture(scope="module")
def col(data_dir) -> Path:
    return data_dir / "police_uk" / "city_of_london"


@pytest.fixture(scope="module")
def street(col) -> pd.DataFrame:
    return pd.concat(pd.read_csv(f) for f in sorted((col / "street").glob("*.csv")))


@pytest.fixture(scope="module")
def searches(col) -> pd.DataFrame:
    df = pd.concat(pd.read_csv(f) for f in sorted((col / "stop_and_search").glob("*.csv")))
    df["month"] = df["Date"].str.slice(0, 7)
    return df


@pytest.fixture(scope="module")
def store_file(tmp_path_factory, col) -> Path:
    from realimpact.sources.police_uk import ingest_police_uk
    from realimpact.store import open_store

    path = tmp_path_factory.mktemp("store") / "col.duckdb"
    with open_store(path) as st:
        res = ingest_police_uk([col], st)
        assert res.ok
    return path


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("plan") / "plan.yaml"
    p.write_text(yaml.safe_dump(PLAN, sort_keys=False), "utf-8")
    return p


@pytest.fixture(scope="module")
def run(store_file, plan_file, tmp_path_factory):
    from realimpact.report import write_evaluation

    out = tmp_path_factory.mktemp("out")
    res = evaluate(plan_file, store_file)
    write_evaluation(res.to_dict(), out)
    return res, json.loads((out / "results.json").read_text("utf-8")), out


def _window(df: pd.DataFrame, col: str, w: tuple[str, str]) -> pd.DataFrame:
    return df[(df[col] >= w[0]) & (df[col] <= w[1])]


def test_results_json_contract(run):
    _, d, out = run
    assert d["plan_id"] == "op-lockdown-col"
    assert (out / "report.html").is_file()
    for ind in d["indicators"]:
        assert {"id", "kind", "target", "buffer", "control", "wdq", "did"} <= set(ind)
    drugs = next(i for i in d["indicators"] if i["id"] == "drugs-crime")
    assert set(drugs["wdq"]) == {
        "gross_effect",
        "net_effect",
        "success_measure",
        "buffer_measure",
        "wdq",
        "total_net_effect",
    }
    assert {"estimate", "se", "ci_low", "ci_high", "p"} <= set(drugs["did"])
    assert "net_harm" in d and d["net_harm"]["crime_harm"] is not None


def test_area_counts_equal_independent_csv_counts(run, street):
    _, d, _ = run
    drugs = street[street["Crime type"] == "Drugs"]
    ind = next(i for i in d["indicators"] if i["id"] == "drugs-crime")
    for role, ids in (("target", TARGET), ("buffer", BUFFER), ("control", CONTROL)):
        part = drugs[drugs["LSOA code"].isin(ids)]
        assert ind[role]["before"] == len(_window(part, "Month", BASE))
        assert ind[role]["after"] == len(_window(part, "Month", FOLLOW))


def test_did_equals_statsmodels_on_the_same_panel(run, street):
    res, _, _ = run
    months = sorted(set(_window(street, "Month", (BASE[0], FOLLOW[1]))["Month"]))
    drugs = street[street["Crime type"] == "Drugs"]
    areas = TARGET + CONTROL
    grid = pd.MultiIndex.from_product([areas, months], names=["area", "month"])
    panel = drugs.groupby(["LSOA code", "Month"]).size().reindex(grid, fill_value=0)
    panel = panel.rename("n").reset_index()
    panel["d"] = (panel["area"].isin(TARGET) & (panel["month"] >= FOLLOW[0])).astype(float)
    X = sm.add_constant(pd.get_dummies(panel[["area", "month"]], drop_first=True, dtype=float))
    X.insert(1, "d", panel["d"])
    groups = pd.factorize(panel["area"])[0]
    ref = sm.GLM(panel["n"].to_numpy(), X, family=sm.families.Poisson()).fit(
        tol=1e-13, cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False}
    )
    did = res.indicator("drugs-crime").did
    assert did.estimate == pytest.approx(ref.params["d"], abs=1e-6)
    # fixest small-sample factor: G/(G-1) (N-1)/(N-K), K = 1 slope + month levels
    G, N, K = len(areas), len(panel), 1 + len(months)
    assert did.se == pytest.approx(
        ref.bse["d"] * np.sqrt(G / (G - 1) * (N - 1) / (N - K)), abs=1e-6
    )
    assert any("clusters" in w for w in did.warnings)  # 7 areas: the report must say so


def test_outputs_kept_apart_and_ledger_from_csv(run, street, searches):
    _, d, _ = run
    out_ind = next(i for i in d["indicators"] if i["id"] == "drug-searches")
    assert out_ind["kind"] == "output" and out_ind["did"] is None and out_ind["wdq"] is None
    assert d["sections"]["output"] == ["drug-searches"]
    assert d["sections"]["outcome"] == ["drugs-crime", "violence"]
    # NFA share of drugs crimes in target + buffer, operation window vs baseline
    led = d["outputs_ledger"]["drugs_crimes"]
    drugs = street[(street["Crime type"] == "Drugs") & street["LSOA code"].isin(TARGET + BUFFER)]
    for name, w in (("before", BASE), ("after", ("2020-03", "2020-05"))):
        part = _window(drugs, "Month", w)
        known = part[
            part["Last outcome category"].notna() & ~part["Last outcome category"].isin(PENDING)
        ]
        assert led[name]["nfa"]["k"] == int(known["Last outcome category"].isin(CRIME_NFA).sum())
        assert led[name]["nfa"]["m"] == len(known)
    # find rate of drugs searches: outcome linked to object / searches stating it
    s = searches[searches["Object of search"] == "Controlled drugs"]
    for name, w in (("before", BASE), ("after", ("2020-03", "2020-05"))):
        part = _window(s, "month", w)
        flag = part["Outcome linked to object of search"].dropna().astype(str)
        fr = d["outputs_ledger"]["drug_searches"][name]["find_rate"]
        assert fr["k"] == int((flag == "True").sum()) and fr["m"] == len(flag)
    assert d["outputs_ledger"]["drug_searches"]["find_rate_trend"]["scale"] == "log_odds_per_year"


def test_net_harm_sums_weighted_total_net_effects(store_file, plan_file, street):
    weights = {t: 1.0 for t in street["Crime type"].unique()}
    weights["Robbery"] = 365.0
    res = evaluate(plan_file, store_file, harm_weights=weights)
    nh = res.net_harm
    expect = 0.0
    for t, w in weights.items():
        part = street[street["Crime type"] == t]
        c = {}
        for role, ids in (("target", TARGET), ("buffer", BUFFER), ("control", CONTROL)):
            p = part[part["LSOA code"].isin(ids)]
            c[role] = (len(_window(p, "Month", BASE)), len(_window(p, "Month", FOLLOW)))
        if c["control"][0] and c["control"][1]:
            r = c["control"][1] / c["control"][0]
            expect += w * ((c["target"][0] + c["buffer"][0]) * r - c["target"][1] - c["buffer"][1])
    assert nh["crime_harm"]["estimate"] == pytest.approx(expect, rel=1e-9)
    harms = {h["id"]: h for h in nh["operation_harms"]}
    assert harms["enf-drug-debt-violence"]["status"] == "measured"
    assert harms["enf-harm-to-dealers-families"]["status"] == "not monitored"
    assert harms["enf-harm-to-dealers-families"]["label"] in nh["statement"]


def test_partner_results_suppress_counts_below_five(store_file, plan_file, tmp_path):
    from realimpact.report import write_evaluation

    analyst = evaluate(plan_file, store_file).to_dict()
    write_evaluation(analyst, tmp_path, audience="partner")
    partner = json.loads((tmp_path / "results.json").read_text())
    small = [r for i in analyst["indicators"] for r in i["monthly"] or [] if 0 < r["n"] < 5]
    assert small, "the City's buffer has months with fewer than 5 drugs crimes"
    for i in partner["indicators"]:
        for r in i["monthly"] or []:
            assert not (isinstance(r["n"], int) and 0 < r["n"] < 5)
    assert json.loads((tmp_path / "results.json").read_text())["suppressed_below"] == 5


def test_the_plan_validates_against_the_store(store_file, plan_file):
    """Every id in the test plan is a catalogue id, so `plan validate` finds no error."""
    from realimpact.plans.validate import validate_plan
    from realimpact.store import open_store

    with open_store(store_file) as st:
        v = validate_plan(plan_file, st)
    assert v.valid, v.errors
    assert not [w for w in v.warnings if "unknown" in str(w)]


def test_overlapping_areas_are_refused(store_file):
    bad = json.loads(json.dumps(PLAN))
    bad["areas"]["control"] = CONTROL + TARGET
    with pytest.raises(ValidationError, match="E01032739 in both target and control"):
        evaluate(bad, store_file)


def test_cli_evaluate_plan_json_and_files(store_file, plan_file, tmp_path):
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "realimpact",
            "evaluate",
            str(plan_file),
            "--out",
            str(tmp_path / "o"),
            "--store",
            str(store_file),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["plan_id"] == "op-lockdown-col"
    assert (tmp_path / "o" / "results.json").is_file()
    assert (tmp_path / "o" / "report.html").is_file()


def test_cli_evaluate_needs_out(plan_file):
    from typer.testing import CliRunner

    from realimpact.cli import app

    r = CliRunner().invoke(app, ["evaluate", str(plan_file)])
    assert r.exit_code == 2 and "--out" in r.output


def test_months_without_data_are_left_out_not_zero(store_file):
    late = json.loads(json.dumps(PLAN))
    late["start"], late["end"] = "2020-09", "2020-11"
    late["indicators"] = [
        dict(
            PLAN["indicators"][0],
            baseline={"from": "2019-09", "to": "2020-08"},
            follow_up={"from": "2020-09", "to": "2021-02"},
        )
    ]
    # the plan is cut down to one indicator, so its consequences' monitors are gone
    res = evaluate(late, store_file, ignore_validation=True, next_steps=False)
    ind = res.indicator("drugs-crime")
    assert ind.counts["target"]["months_after"] == 3  # data end 2020-11
    assert any("not counted as zero" in n for n in ind.notes)
    assert ind.did.n_months == 15


def test_missing_store_is_an_input_error_not_an_empty_evaluation(plan_file, tmp_path):
    from realimpact.errors import InputError

    with pytest.raises(InputError, match="store does not exist"):
        evaluate(plan_file, tmp_path / "nope.duckdb")
    assert not (tmp_path / "nope.duckdb").exists()


def test_did_inference_is_stated_and_selectable(run, store_file, plan_file):
    """Default: wild bootstrap for Poisson; ``inference="t"``: t with G - 1 = 6 df (scipy)."""
    from scipy import stats

    res, d, _ = run
    did = next(i for i in d["indicators"] if i["id"] == "drugs-crime")["did"]
    assert did["inference"] == "wild" and "bootstrap" in did["method"]
    t = evaluate(plan_file, store_file, inference="t").indicator("drugs-crime").did
    assert t.inference == "t" and t.df == len(TARGET + CONTROL) - 1 == 6
    assert t.estimate == res.indicator("drugs-crime").did.estimate
    q = stats.t.ppf(0.975, 6)
    assert (t.ci_low, t.ci_high) == pytest.approx(
        (t.estimate - q * t.se, t.estimate + q * t.se), abs=1e-12
    )
    nb = evaluate(plan_file, store_file, family="negbin").indicator("drugs-crime").did
    assert nb.inference == "t"  # the bootstrap is Poisson only
    with pytest.raises(ValidationError, match="--inference"):
        evaluate(plan_file, store_file, inference="bogus")


def test_cli_bad_inference_exits_2_with_one_line(store_file, plan_file, tmp_path):
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "realimpact",
            "evaluate",
            str(plan_file),
            "--out",
            str(tmp_path / "o"),
            "--store",
            str(store_file),
            "--inference",
            "bogus",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and "--inference" in p.stderr
    assert not (tmp_path / "o").exists()


def test_wdd_shows_the_overdispersed_interval_and_keeps_the_published_one(run):
    """Shown WDD: quasi-Poisson; beside it, Wheeler & Ratcliffe's published Poisson variance."""
    _, d, _ = run
    ind = next(i for i in d["indicators"] if i["id"] == "violence")
    w, nb, nf = ind["wdd"], ind["target"]["months_before"], ind["target"]["months_after"]
    var = sum(
        k * (ind[r]["before"] / nb**2 + ind[r]["after"] / nf**2)
        for r, k in (("target", 1), ("buffer", 1), ("control", 4))
    )
    assert w["extra"]["poisson"]["se"] == pytest.approx(np.sqrt(var), rel=1e-12)
    phi = w["extra"]["dispersion"]
    assert phi >= 1.0 and w["extra"]["interval"] == "quasi_poisson"
    assert w["se"] == pytest.approx(np.sqrt(var * phi), rel=1e-12)


EXAMPLE_PLAN = (
    Path(__file__).resolve().parents[1] / "examples/plans/city-of-london-lockdown-2020.yaml"
)


def _evaluate_example(store: Path, out: Path, *args: str, env: dict | None = None):
    """``realimpact evaluate`` on the shipped City of London plan, in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "realimpact", "evaluate", str(EXAMPLE_PLAN), "--out", str(out),
         "--store", str(store), *args],
        capture_output=True, text=True, env=env,
    )  # fmt: skip


def test_shipped_city_of_london_example_evaluates_and_yields_a_report(store_file, tmp_path):
    """Issue 6 acceptance, end to end through the CLI on the example plan in the repo.

    With one target and two control areas the wild bootstrap cannot bound the
    DiD interval; the report and the CLI must say so rather than fail."""
    out = tmp_path / "out"
    proc = _evaluate_example(store_file, out, "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["plan_id"] == "op-col-lockdown-2020"
    html = (out / "report.html").read_text("utf-8")
    assert "What was planned" in html
    dids = [i["did"] for i in d["indicators"] if i.get("did")]
    assert dids and all(x["inference"] == "wild" for x in dids)
    # 3 clusters, 1 treated: no bootstrap draw rejects far from the estimate, so the
    # plan declares the WDD; the DiD stays a sensitivity check that says it cannot tell
    assert any(x["ci_low"] is None for x in dids)
    drugs = next(i for i in d["indicators"] if i["id"] == "drugs-crime")
    assert drugs["verdict"]["design"] == "wdd"
    did = next(s for s in drugs["verdict"]["sensitivity"] if s["design"] == "did")
    assert did["change"] == "not_estimable"
    assert "interval not bounded" not in html and "could not be estimated" in html


@pytest.mark.parametrize(
    ("files", "needle"),
    [
        (["durham/street/2018-10-durham-street.csv"], "none of the plan's 6 areas is in layer"),
        (["city_of_london/street/2018-01-city-of-london-street.csv"], "holds no data for the"),
    ],
)
def test_a_store_without_the_plans_areas_or_months_is_refused(shared, tmp_path, files, needle):
    """Wrong store, layer or months: exit 2 with the reason, and no empty report written."""
    from realimpact.sources.police_uk import ingest_police_uk

    store = tmp_path / "s.duckdb"
    assert ingest_police_uk([shared / "data/police_uk" / f for f in files], store).ok
    out = tmp_path / "out"
    proc = _evaluate_example(store, out)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert (
        len(lines) == 1 and needle in lines[0] and "city-of-london-lockdown-2020.yaml" in lines[0]
    )
    assert not out.exists()


def test_pdf_report_prints_the_same_report(store_file, tmp_path):
    """--pdf: headless Chromium prints report.html; pypdf reads the title back."""
    import pypdf

    out = tmp_path / "out"
    proc = _evaluate_example(store_file, out, "--pdf", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["files"]["pdf"] == str(out / "report.pdf")
    reader = pypdf.PdfReader(out / "report.pdf")
    text = " ".join(page.extract_text() for page in reader.pages)
    assert len(reader.pages) >= 2
    assert "City of London, March 2020 lockdown as a natural experiment" in " ".join(text.split())
    assert not list(out.glob("*.tmp"))


def test_pdf_without_a_browser_is_refused_before_anything_is_written(store_file, tmp_path):
    import os

    out = tmp_path / "out"
    env = {**os.environ, "REALIMPACT_CHROMIUM": str(tmp_path / "no-such-browser")}
    proc = _evaluate_example(store_file, out, "--pdf", env=env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "REALIMPACT_CHROMIUM" in lines[0]
    assert not out.exists()
