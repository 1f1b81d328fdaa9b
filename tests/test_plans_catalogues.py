"""The planning catalogues against the source documents they cite (../shared/seeds)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from realimpact.errors import ValidationError
from realimpact.harm.taxonomy import enforcement_harms, harm_ids
from realimpact.plans import catalogues as cat


def _seed(shared: Path, doc: str) -> str:
    return (shared / "seeds" / cat.documents()[doc]["file"]).read_text("utf-8")


def _norm(s: str) -> str:
    """Compare text modulo quotes, dashes and whitespace (the seeds mix them)."""
    s = s.replace("‘", "'").replace("’", "'").replace("–", "-").replace("—", "-")
    return " ".join(s.split()).lower()


def test_every_cited_document_is_a_seed(shared: Path) -> None:
    for doc, meta in cat.documents().items():
        assert (shared / "seeds" / meta["file"]).is_file(), doc


def _table_rows(text: str, header: str) -> list[list[str]]:
    """Tab-separated rows following a table's header line (stops at a blank line)."""
    lines = text.splitlines()
    rows = []
    for i, line in enumerate(lines):
        if line.startswith(header):
            for row in lines[i + 1 :]:
                if not row.strip():
                    break
                rows.append(row.split("\t"))
    return rows


def test_table_3_1_methods_are_all_catalogued_for_their_selling_type(shared: Path) -> None:
    # Source: Home Office (2003) Disrupting crack markets, Table 3.1 "A summary of methods of disruption" (both parts).
    text = _seed(shared, "004")
    rows = _table_rows(text, "Type of selling\tMethod of disruption")
    by_row = {m.table_row: m.id for m in cat.selling_modes()}
    checked = 0
    for row in rows:
        selling, methods = row[0].strip(), row[1]
        mode = next((mid for label, mid in by_row.items() if _norm(label) == _norm(selling)), None)
        if selling == "All":
            mode = "all"
        assert mode is not None, f"Table 3.1 row {selling!r} has no selling mode"
        names = {
            _norm(n)
            for t in cat.tactics()
            if mode in t.selling_modes or (mode != "all" and t.suits(mode))
            for n in t.table_names
        }
        if "<p>" in methods:
            listed = re.findall(r"<p>(.*?)</p>", methods)
        else:  # the continued table runs methods together: consume it name by name
            listed, rest = [], _norm(methods.replace("¹", ""))
            while rest:
                hit = max((n for n in names if rest.startswith(n)), key=len, default=None)
                assert hit is not None, f"{selling}: {rest!r} not catalogued"
                listed.append(hit)
                rest = rest[len(hit) :].strip()
        for m in listed:
            assert _norm(m) in names, f"{selling}: method {m!r} not catalogued"
            checked += 1
    assert len(rows) == 6 and checked >= 30


def test_tactics_for_uses_table_rows_and_aliases() -> None:
    crack = {t.id for t in cat.tactics_for("crack_house")}
    assert {"warrants-and-raids", "civil-closure", "vulnerable-tenant-support"} <= crack
    assert "jump-ons" not in crack
    street = {t.id for t in cat.tactics_for("open-street")}
    assert {"visible-street-patrols", "stop-and-search", "jump-ons", "cctv"} <= street
    assert "warrants-and-raids" not in street
    assert "presumptive-drug-testing" in street  # Table 3.1 row "All"
    assert {t.id for t in cat.tactics_for("closed_street")} == {
        t.id for t in cat.tactics_for("arrange-to-meet")
    }
    with pytest.raises(ValidationError, match="did you mean 'crack-house'"):
        cat.tactics_for("crack-hous")


def test_selling_modes_match_the_market_registry_vocabulary() -> None:
    from realimpact.markets import vocab

    registry = set(vocab.allowed("selling_mode"))
    ours = {m.id for m in cat.selling_modes()}
    # Every Table 3.1 retail row that the registry also names uses the registry's id.
    assert {"open-street", "arrange-to-meet", "crack-house", "house-based"} <= registry & ours


def test_tactic_risks_and_table_3_2_effects_are_enforcement_harms() -> None:
    enf = {h["id"] for h in enforcement_harms()}
    assert all(i.startswith("enf-") for i in enf)
    for t in cat.tactics():
        assert set(t.risks) <= enf, t.id
        assert all(e.text and e.source.doc in cat.documents() for e in t.evidence), t.id
    for r in cat.displacement_table():
        assert set(r.consequences) <= enf, r.id
    for d in cat.displacement_types():
        assert d["harm"] in enf
    assert [h["id"] for h in cat.unintended_consequences()] == [
        h["id"] for h in enforcement_harms()
    ]
    assert set(cat.unintended_consequence_ids()) <= set(harm_ids())


def test_table_3_2_rows_quote_the_guide(shared: Path) -> None:
    # Source: Home Office (2003) Disrupting crack markets, Table 3.2 "Displacement effect as a result of police action".
    text = _norm(_seed(shared, "004"))
    rows = cat.displacement_table()
    assert len(rows) == 5
    for r in rows:
        assert _norm(r.table_row) in text
        for part in re.split(r";\s*", r.likely_displacement):
            assert _norm(part) in text, part
    assert {r.id for r in cat.displacement_for(["open_street"])} == {
        "street-high-visibility",
        "street-low-visibility",
    }
    assert [r.id for r in cat.displacement_for(tactics=["middle-market-intelligence"])] == [
        "middle-market"
    ]


def test_table_3_3_and_box_e_are_complete(shared: Path) -> None:
    # Sources: Home Office (2003) Disrupting crack markets, Table 3.3 (7 motivations); UK Drug Policy Commission (2009) Moving towards Real Impact Drug Enforcement, Box E (16 information sources).
    t004, t001 = _norm(_seed(shared, "004")), _norm(_seed(shared, "001"))
    demand = cat.demand_reduction()
    assert len(demand) == 7
    for d in demand:
        assert _norm(d.motivation) in t004
    box_e = t001[t001.index("box e: potential information sources") :][:1500]
    sources = cat.information_sources()
    assert len(sources) == 16
    for s in sources:
        assert _norm(s.name) in box_e, s.name


def test_table_4_1_suitability_words_match_the_guide(shared: Path) -> None:
    # Source: Home Office (2003) Disrupting crack markets, Table 4.1 "Outputs": suitability by street / middle / import level.
    rows = _table_rows(_seed(shared, "004"), "Indicators for outputs\tStreet")
    seed = {_norm(r[0]).rstrip("."): [_norm(x) for x in r[1:4]] for r in rows}
    outs = cat.output_indicators()
    assert len(outs) == len(seed) == 12
    for o in outs:
        key = _norm(o.text).rstrip(".")
        assert seed[key] == [_norm(o.levels[lv]) for lv in cat.LEVELS], o.id
    street = cat.output_indicators("street")
    assert street[0].suitability("street") == 3
    assert street[-1].suitability("street") <= 1


def test_indicator_catalogue_keeps_kinds_apart(shared: Path) -> None:
    kinds = {k: cat.indicator_catalogue(k) for k in cat.INDICATOR_KINDS}
    assert all(kinds.values())
    text = _norm(_seed(shared, "004"))
    for k in ("process", "indirect"):
        for i in kinds[k]:
            assert _norm(i.text).split(" (")[0] in text, i.id
    with pytest.raises(ValidationError):
        cat.indicator_catalogue("impact")


@pytest.mark.parametrize("name", cat.CATALOGUES)
def test_plan_catalogue_is_plain_json(name: str) -> None:
    import json

    d = cat.plan_catalogue(name)
    assert d["count"] == len(d["items"]) > 0
    json.dumps(d)
