"""The demo's shared reports (issue 12): partner/ and public/ beside the analyst's.

``realimpact demo`` writes, beside the analyst's report.html and results.json,
the versions a partnership and the public may be given, each a folder with
report.html, results.json and manifest.json. The public report is opened in
headless Chromium: it renders with no request to any host and no console
error, its page shows the manifest footer, and its manifest lists what was
withheld by rule (counts, never values). A screenshot is saved in tmp_path
for a human to look at.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

from realimpact.disclosure.contract import numeric_strings
from realimpact.disclosure.manifest import RULES
from realimpact.report.pdf import HEADLESS_FLAGS, find_chromium
from tests._browser import network, probe
from tests.test_demo import demo  # noqa: F401  (the module-scoped demo run, shared)

pytestmark = pytest.mark.browser

FACTS = {
    "footer": "(document.querySelector('footer#disclosure') || {innerText: ''}).innerText",
    "truth": "!!document.getElementById('truth')",
    "text": "document.body.innerText",
}


def test_demo_writes_partner_and_public_folders(demo: dict) -> None:  # noqa: F811
    out = Path(demo["out_dir"])
    for aud in ("partner", "public"):
        folder = out / aud
        assert sorted(p.name for p in folder.iterdir()) == [
            "manifest.json",
            "report.html",
            "results.json",
        ], aud
        manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
        assert manifest["audience"] == aud
        res = json.loads((folder / "results.json").read_text("utf-8"))
        assert numeric_strings(res) == []  # null plus a flag, never "<5"
        assert res["files"] == {
            "results": "results.json",
            "report": "report.html",
            "manifest": "manifest.json",
        }  # siblings by name, never the analyst's folder
        assert str(out) not in (folder / "results.json").read_text("utf-8")
    assert Path(demo["partner_report"]) == out / "partner" / "report.html"
    assert Path(demo["public_report"]) == out / "public" / "report.html"
    said = next(s for s in demo["steps"] if s["name"].startswith("write the Results"))["summary"]
    assert "partner/ and public/" in said and "manifest.json" in said


def test_public_manifest_lists_what_was_withheld_by_rule(demo: dict) -> None:  # noqa: F811
    folder = Path(demo["out_dir"]) / "public"
    m = json.loads((folder / "manifest.json").read_text("utf-8"))
    assert m["rules"]["threshold"] == 10 and m["rules"]["rounding"] == 5
    assert set(m["withheld"]) >= set(RULES)
    assert all(isinstance(v, int) and v >= 0 for v in m["withheld"].values())
    assert m["withheld"]["primary"] > 0  # the demo city has small cells: some were withheld
    # counts by rule, no values and no cells: nothing in the manifest names an area or a month
    text = json.dumps(m)
    assert "E0" not in text and "withheld" in m and "cells" not in text
    assert m["sources"]["plan"] == "op-synthton-clean-sweep"
    partner = json.loads((Path(demo["out_dir"]) / "partner" / "manifest.json").read_text("utf-8"))
    assert partner["rules"]["threshold"] == 5
    # the public threshold is higher, so it withholds at least as many counts below it
    assert m["withheld"]["primary"] >= partner["withheld"]["primary"]


def test_public_report_renders_offline_with_its_manifest_footer(
    demo: dict,  # noqa: F811
    tmp_path: Path,
) -> None:
    page = Path(demo["public_report"])
    seen = probe(page.as_uri(), FACTS)
    assert network(seen["requests"], page.as_uri()) == []
    assert seen["console"] == [] and seen["exceptions"] == [] and seen["log"] == []
    facts = seen["values"]
    m = json.loads((page.parent / "manifest.json").read_text("utf-8"))
    footer = facts["footer"]
    assert footer.startswith("Public version")
    assert "counts below 10 not shown, counts rounded to the nearest 5" in footer
    withheld = sum(m["withheld"][k] for k in ("primary", "secondary", "masked", "derived"))
    assert f"{withheld} figures withheld ({m['withheld']['primary']} below 10" in footer
    assert "information sharing agreement: not given" in footer  # a gap shows, not hides
    assert facts["truth"] is False  # the simulation's truth is the analyst's only
    assert "m-synthton" not in facts["text"]  # no pseudonymous market ids
    # the plan's mechanisms are free text, left out for the public: the page says so rather
    # than showing empty cells a resident would read as "nothing was planned"
    assert "(free text is not included in this version)" in facts["text"]
    shot = screenshot(page, tmp_path / "public-report.png")
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 6000) -> Path:
    """A full-height PNG of ``page`` by headless Chromium (``--screenshot``), networking off."""
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        subprocess.run(
            [
                find_chromium(),
                *HEADLESS_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                "--hide-scrollbars",
                f"--screenshot={png}",
                page.as_uri(),
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )
    return png
