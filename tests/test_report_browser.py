"""The report opens in headless Chromium with no console errors and no network requests.

A deliberately bad page first checks that the probe really sees both.
Needs Debian's ``chromium`` package (``apt-get install chromium``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from realimpact.report import render_report
from tests._browser import network, probe
from tests._report_fixture import results

pytestmark = pytest.mark.browser


def test_probe_sees_console_errors_and_requests(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!doctype html><title>bad</title><img src='http://127.0.0.1:9/x.png'>"
        "<script>console.error('boom')</script>",
        "utf-8",
    )
    seen = probe(bad.as_uri())
    assert network(seen["requests"], bad.as_uri()) == ["http://127.0.0.1:9/x.png"]
    assert seen["console"]


@pytest.mark.parametrize("audience", ["analyst", "partner"])
def test_report_renders_offline_without_errors(tmp_path: Path, audience: str) -> None:
    page = render_report(
        results(),
        tmp_path,
        audience,
        extras={"truth": {"indicators": {"asb": {"rate_ratio": 0.7}}}},
    )
    seen = probe(page.as_uri())
    assert network(seen["requests"], page.as_uri()) == []
    assert seen["console"] == [] and seen["exceptions"] == []
    assert seen["log"] == []
    assert seen["svg_count"][0] >= 4


#: what a reader sees, read from the rendered page
PAGE_FACTS = {
    "map_width": "(() => { const s = document.querySelector('#map svg');"
    " return s ? s.getBoundingClientRect().width : 0; })()",
    "map_label": "(document.querySelector('#map svg') || {getAttribute: () => ''})"
    ".getAttribute('aria-label')",
    "raster_points": "document.querySelectorAll('#map svg image').length",
    "verdicts": "[...document.querySelectorAll('ul.verdicts li')].map(li => li.innerText)",
    "planned": "document.querySelector('#planned').innerText",
    "banner": "!!document.querySelector('.invalid')",
    "flags_first": "document.querySelector('#flags').getBoundingClientRect().top"
    " < document.querySelector('#summary').getBoundingClientRect().top",
}


@pytest.mark.parametrize("audience", ["analyst", "partner"])
def test_reader_sees_the_map_names_and_one_verdict_each(tmp_path: Path, audience: str) -> None:
    data = results()
    page = render_report(data, tmp_path, audience, filename=f"{audience}.html")
    seen = probe(page.as_uri(), PAGE_FACTS)
    facts = seen["values"]
    assert seen["exceptions"] == [] and network(seen["requests"], page.as_uri()) == []
    assert facts["map_width"] > 200  # the map is drawn, at a readable size
    assert facts["map_label"].startswith("Target, buffer and control areas")
    assert (facts["raster_points"] > 0) == (audience == "analyst")  # no points for partners
    assert "E01990001 Testham 001A" in facts["planned"]
    assert "E01990004 Otherton 004C" in facts["planned"]
    outcomes = [i for i in data["indicators"] if i["kind"] == "outcome"]
    assert len(facts["verdicts"]) == len(outcomes)
    for ind in outcomes:
        mine = [v for v in facts["verdicts"] if v.startswith(ind["label"] + ":")]
        assert len(mine) == 1, ind["label"]
    assert facts["verdicts"][0].startswith("Anti-social behaviour: fell (rate ratio 0.68")
    assert facts["banner"] is False and facts["flags_first"] is True
