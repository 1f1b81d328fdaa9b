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
