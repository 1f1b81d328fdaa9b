"""The Results Analysis report: self-contained, readable, outputs apart, partner-safe."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from realimpact.errors import ValidationError
from realimpact.report import partner_results, render_report
from tests._report_fixture import results

# anything that would make a browser fetch: src/href/url()/@import to a network address
RESOURCE = re.compile(
    r"""(?:src|href|xlink:href|action|poster)\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|url\(\s*["']?\s*(?:https?:)?//|@import""",
    re.I,
)


def _section(html: str, sid: str) -> str:
    start = html.index(f'<section id="{sid}"')
    end = html.find("<section", start + 10)
    return html[start : end if end > 0 else len(html)]


@pytest.fixture
def analyst(tmp_path: Path) -> str:
    return render_report(results(), tmp_path).read_text("utf-8")


@pytest.fixture
def partner(tmp_path: Path) -> str:
    p = render_report(results(), tmp_path, "partner", filename="partner.html")
    return p.read_text("utf-8")


def test_self_contained_offline(analyst: str, partner: str) -> None:
    for html in (analyst, partner):
        assert not RESOURCE.search(html)
        assert "<script" not in html and "<link" not in html and "<img" not in html
        assert html.count("<svg") >= 4  # charts are inline SVG


def test_answers_the_chief_inspectors_questions(analyst: str) -> None:
    for sid in (
        "summary",
        "planned",
        "done",
        "changed",
        "where",
        "whom",
        "balance",
        "confidence",
        "next",
    ):
        assert f'<section id="{sid}"' in analyst
    changed = _section(analyst, "changed")
    assert "Verdict: fell (rate ratio 0.68, 95% CI 0.58–0.80, difference-in-differences)" in changed
    assert "Increase in violence" in _section(analyst, "planned")  # harm name from taxonomy
    confidence = _section(analyst, "confidence")
    assert "level 4 of 5" in confidence
    assert "rest on 2 target areas" in confidence  # limitation stated where it applies
    assert "Sustain the gains" in _section(analyst, "next")


def test_outputs_ledger_is_kept_apart_from_outcomes(analyst: str) -> None:
    done, changed = _section(analyst, "done"), _section(analyst, "changed")
    assert "activity, not impact" in analyst
    assert "Drugs" in done and "Find rate" in done
    assert ">Drugs<" not in changed  # the output never appears as an outcome
    assert "Anti-social behaviour" in changed and "Anti-social behaviour" not in done
    # monthly rates, not totals over windows of different length: 240/12 and 190/6
    assert "20.0 a month before (12 months) → 31.7 a month after (6 months)" in done
    assert ">240<" not in done and ">190<" not in done


def test_partner_version_drops_points_ids_and_small_counts(analyst: str, partner: str) -> None:
    assert "m-secret-market-7" not in partner
    assert "<image" in analyst and "<image" not in partner  # rasterised record points
    assert "Partner version" in partner and "fewer than 5" in partner
    safe = partner_results(results())
    rob = next(i for i in safe["indicators"] if i["id"] == "robbery")
    # the JSON contract: null plus the field named, never "<5" in a numeric field
    assert rob["buffer"]["after"] is None and rob["target"]["before"] == 38
    assert "after" in rob["buffer"]["suppressed"] and "after" in rob["buffer"]["below_threshold"]
    assert rob["wdq"]["gross_effect"] is None  # would reveal the hidden count
    assert "gross_effect" in rob["wdq"]["suppressed"]
    assert all(r["n"] is None or r["n"] == 0 or r["n"] >= 5 for r in rob["monthly"])
    assert any(r["n"] is None and r["suppressed"] == ["n"] for r in rob["monthly"])
    assert "points" not in safe["map"] and "targets" not in safe["plan"]
    ledger = safe["outputs_ledger"]["drugs_crimes"]["after"]["nfa"]
    assert ledger["k"] is None and ledger["share"] is None
    monitored = next(iter(safe["net_harm"]["operation_harms"]))
    assert monitored["before_per_month"] == 20.0  # drugs-crime counts are not small
    small = results()
    small["indicators"][1]["target"]["after"] = 3  # robbery in the target: 3 crimes
    small["net_harm"]["operation_harms"].append(
        {"id": "enf-turf-war", "monitor": "robbery", "before_per_month": 3.2,
         "after_per_month": 0.5, "change_pct": -84.0}
    )  # fmt: skip
    safe2 = partner_results(small)
    assert safe2["net_harm"]["operation_harms"][-1]["after_per_month"] is None
    assert safe2["net_harm"]["operation_harms"][0]["after_per_month"] == 31.7
    assert "withheld" in _section(partner, "changed")  # robbery chart not drawn from gaps
    assert "withheld" not in _section(analyst, "changed")


def test_truth_section_only_for_analysts_with_truth(tmp_path: Path) -> None:
    # asb's interval is 0.58-0.80: 0.90 lies outside; robbery's 0.30-1.24 holds 0.50
    truth = {"indicators": {"asb": {"rate_ratio": 0.9}, "robbery": {"rate_ratio": 0.5}}}
    a = render_report(results(), tmp_path, extras={"truth": truth}).read_text("utf-8")
    sec = _section(a, "truth")
    assert re.search(r"0\.900</td>.*?class=\"bad\">no<", sec, re.S)
    assert re.search(r"0\.500</td>.*?class=\"good\">yes<", sec, re.S)
    p = render_report(results(), tmp_path, "partner", extras={"truth": truth}).read_text("utf-8")
    assert 'id="truth"' not in p


def test_bad_input_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"^--audience"):
        render_report(results(), tmp_path, "everyone")
    with pytest.raises(ValidationError, match=r"^results"):
        render_report({"plan_id": "x"}, tmp_path)


def test_engine_call_style_with_a_file_path(tmp_path: Path) -> None:
    """The evaluation engine passes DIR/report.html; the report lands there."""
    p = render_report(results(), tmp_path / "out" / "report.html", audience="analyst")
    assert p == tmp_path / "out" / "report.html" and p.is_file()


def test_minimal_contract_dict_renders(tmp_path: Path) -> None:
    minimal = {
        "plan_id": "p1",
        "indicators": [
            {
                "id": "v",
                "kind": "outcome",
                "target": {"before": 10, "after": 5},
                "buffer": {"before": 8, "after": 8},
                "control": {"before": 20, "after": 19},
                "wdq": {
                    "gross_effect": 5,
                    "net_effect": 4.5,
                    "success_measure": -0.25,
                    "buffer_measure": 0.02,
                    "wdq": -0.08,
                    "total_net_effect": 4.0,
                },
                "did": {"estimate": -0.6, "se": 0.3, "ci_low": -1.19, "ci_high": -0.01, "p": 0.045},
            }
        ],
        "net_harm": {},
    }
    html = render_report(minimal, tmp_path).read_text("utf-8")
    # no verdict in old results: one is read from the DiD interval, exp(-0.6) = 0.549
    assert "V: fell (rate ratio 0.55, 95% CI 0.30–0.99, difference-in-differences)" in html


def test_unbounded_interval_renders_as_such(tmp_path: Path) -> None:
    """A wild bootstrap with one target area may not bound the interval (City of London)."""
    data = results()
    for ind in data["indicators"]:
        if isinstance(ind.get("did"), dict):
            ind["did"].update(ci_low=None, ci_high=None, rr_low=None, rr_high=None)
    truth = {"indicators": {"asb": {"rate_ratio": 0.9}}}
    for ind in data["indicators"]:
        ind.pop("verdict", None)  # old results: the verdict is read from the DiD
    html = render_report(data, tmp_path, extras={"truth": truth}).read_text("utf-8")
    assert "interval not bounded" not in html.lower()
    glance = _section(html, "summary")
    assert "Anti-social behaviour: could not be estimated with these areas (" in glance
    assert "could not be estimated with these areas" in _section(html, "truth")
