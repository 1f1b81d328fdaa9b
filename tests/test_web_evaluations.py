"""Evaluations, Gi* hot spots and the public page of `realimpact serve`, on the demo city.

The demo city (``realimpact demo --out DIR --json``) gives a store, a plan
with survey files, and the analyst's results of its evaluation; the web app
imports those results and must hand each viewer only their audience's
version of them.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from realimpact.cli import app as cli_app
from realimpact.errors import RejectedFileError
from realimpact.web.accounts import add_user
from realimpact.web.app import create_app

PASSWORDS = {"ann": "analyst-pw", "pat": "partner-pw", "adm": "admin-pw"}
ROLES = {"ann": "analyst", "pat": "partner", "adm": "admin"}
PLAN_ID = "op-synthton-clean-sweep"


@dataclass
class DemoCity:
    out: Path
    store: Path
    results: Path
    plan: Path
    serve: str


@pytest.fixture(scope="session")
def demo_city(tmp_path_factory: pytest.TempPathFactory) -> DemoCity:
    out = tmp_path_factory.mktemp("demo-city")
    r = subprocess.run(
        [sys.executable, "-m", "realimpact", "demo", "--out", str(out), "--json"],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)  # --json stays one object: the hint is its `serve` key
    store = Path(doc["store"])
    for name, pw in PASSWORDS.items():
        add_user(store, name, ROLES[name], pw)
    return DemoCity(out, store, Path(doc["results"]), out / "data" / "plan.yaml", doc["serve"])


@pytest.fixture(scope="module")
def web(demo_city: DemoCity):
    app = create_app(demo_city.store)
    app.state.evaluations.import_file(demo_city.results)
    yield app
    app.state.db.close()


def login(app, name: str) -> TestClient:
    c = TestClient(app, follow_redirects=False)
    token = c.get("/login").headers["x-csrf-token"]
    r = c.post("/login", data={"username": name, "password": PASSWORDS[name], "csrf": token})
    assert r.status_code == 303, r.text
    return c


def csrf(c: TestClient) -> str:
    return c.get("/api/me").json()["csrf"]


def test_demo_hint_opens_the_demo_city(demo_city: DemoCity) -> None:
    args = shlex.split(demo_city.serve)
    assert args[:2] == ["realimpact", "serve"]
    assert args[args.index("--store") + 1] == str(demo_city.store)
    assert args[args.index("--import-results") + 1] == str(demo_city.results)


def test_api_evaluations_for_each_audience(web) -> None:
    full = login(web, "ann").get(f"/api/evaluations/{PLAN_ID}").json()
    shared = login(web, "pat").get(f"/api/evaluations/{PLAN_ID}").json()
    assert full["audience"] == "analyst" and "disclosure" not in full
    assert shared["audience"] == "partner" and shared["disclosure"]["audience"] == "partner"
    listing = login(web, "pat").get("/api/evaluations").json()
    assert [e["plan_id"] for e in listing["evaluations"]] == [PLAN_ID]
    assert listing["audience"] == "partner"
    # a count the partner version withholds is not in it: robbery's small target months
    rob_full = next(i for i in full["indicators"] if i["id"] == "robbery")
    rob_shared = next(i for i in shared["indicators"] if i["id"] == "robbery")
    assert rob_full["did"]["estimate"] is not None
    assert rob_shared["did"].get("estimate") is None  # the DiD rests on small counts
    assert TestClient(web).get(f"/api/evaluations/{PLAN_ID}").status_code == 401
    assert login(web, "pat").get("/api/evaluations/nope").status_code == 404
    assert login(web, "pat").get("/api/evaluations/..%2F..%2Fetc").status_code == 404


def test_report_page_is_the_viewers_version(web) -> None:
    ra = login(web, "ann").get(f"/evaluations/{PLAN_ID}")
    rp = login(web, "pat").get(f"/evaluations/{PLAN_ID}")
    assert ra.status_code == rp.status_code == 200
    assert "Partner version" in rp.text and "Partner version" not in ra.text
    # the report's own CSP: inline styles, no script, nothing loaded
    assert "default-src 'none'" in rp.headers["content-security-policy"]
    assert "<script" not in rp.text
    page = login(web, "pat").get("/evaluations")
    assert f'href="/evaluations/{PLAN_ID}"' in page.text
    assert 'enctype="multipart/form-data"' not in page.text  # partners cannot run one


def test_downloads_for_the_viewers_audience_and_audited(web) -> None:
    pat = login(web, "pat")
    r = pat.get(f"/evaluations/{PLAN_ID}/results.json")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert "-partner-results.json" in r.headers["content-disposition"]
    assert r.json()["audience"] == "partner"
    html = pat.get(f"/evaluations/{PLAN_ID}/report.html")
    assert html.status_code == 200 and "Partner version" in html.text
    assert pat.get(f"/evaluations/{PLAN_ID}/other.txt").status_code == 404
    pdf = pat.get(f"/evaluations/{PLAN_ID}/report.pdf")
    try:
        from realimpact.report.pdf import find_chromium

        find_chromium()
        has_browser = True
    except Exception:
        has_browser = False
    if has_browser:
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    else:
        assert pdf.status_code == 400 and "chrom" in pdf.text.lower()
    audit = login(web, "adm").get("/api/audit").json()["rows"]
    objects = {(r["user"], r["action"], r["object"], r["audience"]) for r in audit}
    assert ("pat", "export", f"/evaluations/{PLAN_ID}/results.json", "partner") in objects
    assert ("pat", "export", f"/evaluations/{PLAN_ID}/report.html", "partner") in objects


def test_run_from_an_uploaded_plan(web, demo_city: DemoCity) -> None:
    ann = login(web, "ann")
    data_dir = demo_city.plan.parent
    files = [("plan", ("plan.yaml", demo_city.plan.read_bytes(), "application/x-yaml"))]
    for name in ("survey-residents.csv", "survey-professionals.csv"):
        files.append(("data", (name, (data_dir / name).read_bytes(), "text/csv")))
    # no CSRF token: refused, nothing run
    assert ann.post("/evaluations", files=files).status_code == 403
    # a partner may not run one
    pat = login(web, "pat")
    assert pat.post("/evaluations", files=files, data={"csrf": csrf(pat)}).status_code == 403
    before = demo_city.store.parent / "realimpact.duckdb.evaluations" / PLAN_ID / "results.json"
    old = json.loads(before.read_text())
    r = ann.post("/evaluations", files=files, data={"csrf": csrf(ann)})
    assert r.status_code == 303 and r.headers["location"] == f"/evaluations/{PLAN_ID}"
    new = json.loads(before.read_text())
    assert new["plan_id"] == PLAN_ID and new["generated_at"] >= old["generated_at"]
    assert "files" not in new  # no paths of the machine that ran it


def test_an_invalid_plan_shows_its_problems_and_keeps_the_store(web, demo_city: DemoCity) -> None:
    ann = login(web, "ann")
    evil = "<script>alert(1)</script>"
    bad = f"id: op-bad\ntitle: '{evil}'\nstart: 2024-13\nareas: {{layer: lsoa}}\n"
    listing = ann.get("/api/evaluations").json()["evaluations"]
    r = ann.post("/evaluations", data={"csrf": csrf(ann)},
                 files=[("plan", ("bad.yaml", bad.encode(), "application/x-yaml"))])  # fmt: skip
    assert r.status_code in (400, 422), r.text[:300]
    assert evil not in r.text
    if r.status_code == 422:
        assert 'id="plan-problems"' in r.text and "error" in r.text
    assert ann.get("/api/evaluations").json()["evaluations"] == listing
    assert not (demo_city.store.parent / "realimpact.duckdb.evaluations" / "op-bad").exists()
    empty = ann.post("/evaluations", data={"csrf": csrf(ann)})
    assert empty.status_code == 400 and "plan" in empty.text


def test_import_refuses_a_shared_version(web, demo_city: DemoCity, tmp_path: Path) -> None:
    shared = demo_city.out / "partner" / "results.json"
    with pytest.raises(RejectedFileError, match="analyst"):
        web.state.evaluations.import_file(shared)
    broken = tmp_path / "results.json"
    broken.write_text("{not json")
    with pytest.raises(RejectedFileError):
        web.state.evaluations.import_file(broken)
    assert web.state.evaluations.ids() == [PLAN_ID]


def test_serve_import_results_bad_file_is_exit_2(demo_city: DemoCity, tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("[]")
    r = CliRunner().invoke(
        cli_app, ["serve", "--store", str(demo_city.store), "--import-results", str(bad)]
    )
    assert r.exit_code == 2, r.output
    assert "x.json" in r.output and len(r.output.strip().splitlines()) == 1


def test_gi_api_and_page_by_audience(web) -> None:
    full = login(web, "ann").get("/api/hotspots/gi", params={"layer": "lsoa"}).json()
    shared = login(web, "pat").get("/api/hotspots/gi", params={"layer": "lsoa"}).json()
    assert full["audience"] == "analyst" and "gi_z" in full["rows"][0]
    assert shared["audience"] == "partner" and shared["disclosure"]["audience"] == "partner"
    assert all("gi_z" not in r and "p_adjusted" not in r and "value" not in r
               for r in shared["rows"])  # fmt: skip
    assert "value_total" not in shared or shared["value_total"] is None
    cls = {r["area_id"]: r["hotspot_class"] for r in full["rows"]}
    assert {r["area_id"]: r["hotspot_class"] for r in shared["rows"]} == cls
    period = login(web, "pat").get(
        "/api/hotspots/gi", params={"period-from": "2024-01", "period-to": "2023-01"}
    )
    assert period.status_code == 400 and "error" in period.json()
    page = login(web, "pat").get("/hotspots", params={"run": "1", "layer": "lsoa"})
    assert page.status_code == 200 and 'data-classes="/api/hotspots/gi?' in page.text
    assert "hot-95" in page.text
    audit = login(web, "adm").get("/api/audit").json()["rows"]
    assert any(r["object"].startswith("/api/hotspots/gi") and r["user"] == "pat" for r in audit)


def test_public_page_says_you_said_we_did(web, demo_city: DemoCity) -> None:
    r = TestClient(web).get("/public")
    assert r.status_code == 200
    full = json.loads(demo_city.results.read_text())
    for heading in ("You said", "We did", "What changed", "What happens next"):
        assert heading in r.text
    assert full["title"].split(":")[0] in r.text
    assert "Visible street patrols" in r.text  # a tactic, by its catalogue name
    assert "free text" in r.text  # says the public version leaves the descriptions out
    mech = full["plan"]["harms"][0]["mechanism"]
    assert mech[:40] not in r.text
    assert "residents (target)" in r.text  # what residents said
    assert "not shown in this version" in r.text  # withheld verdicts worded as the report does
    svg = TestClient(web).get(f"/public/{PLAN_ID}/map.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")


def test_public_page_can_be_switched_off(web) -> None:
    web.state.public_page = False
    try:
        c = TestClient(web)
        assert c.get("/public").status_code == 404
        assert c.get(f"/public/{PLAN_ID}/map.svg").status_code == 404
    finally:
        web.state.public_page = True
