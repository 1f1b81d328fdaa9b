"""`realimpact demo`: the whole pipeline on a synthetic city, end to end through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests._browser import network, probe


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("demo")
    r = subprocess.run(
        [sys.executable, "-m", "realimpact", "demo", "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)  # one JSON object, nothing else on stdout
    doc["_stderr"] = r.stderr
    return doc


def test_every_stage_ran(demo: dict) -> None:
    names = [s["name"] for s in demo["steps"]]
    assert names[0].startswith("simulate") and names[-1].startswith("compare")
    assert [s for s in demo["steps"] if s["status"] != "done"] == []
    assert "✓ ingest" in demo["_stderr"]  # progress shown on stderr, stage by stage
    for key in ("report", "partner_report", "public_report", "results", "store"):
        assert Path(demo[key]).is_file(), key
    res = json.loads(Path(demo["results"]).read_text())
    assert res["plan_id"] == "op-synthton-clean-sweep"
    assert {i["kind"] for i in res["indicators"]} >= {"outcome", "output"}


def test_evaluation_recovers_the_true_effect(demo: dict) -> None:
    """ASB: true rate ratio 0.75 (truth.json) lies in the 95% interval, which excludes 1."""
    truth = json.loads((Path(demo["out_dir"]) / "data" / "truth.json").read_text())
    asb = next(c for c in demo["comparison"] if c["indicator"] == "asb")
    assert asb["true_rr"] == truth["indicators"]["asb"]["rate_ratio"] == pytest.approx(0.75)
    assert asb["ci_low"] <= asb["true_rr"] <= asb["ci_high"]
    assert asb["ci_high"] < 1
    assert len(demo["comparison"]) == 5


def test_demo_reports_open_cleanly_and_partner_is_safe(demo: dict) -> None:
    analyst = Path(demo["report"]).read_text("utf-8")
    partner = Path(demo["partner_report"]).read_text("utf-8")
    assert 'id="truth"' in analyst and 'id="truth"' not in partner
    assert "m-synthton-1" not in partner  # market ids are pseudonymous ids
    for page in (Path(demo["report"]), Path(demo["partner_report"])):
        seen = probe(page.as_uri())
        assert network(seen["requests"], page.as_uri()) == []
        assert seen["console"] == [] and seen["exceptions"] == [] and seen["log"] == []
