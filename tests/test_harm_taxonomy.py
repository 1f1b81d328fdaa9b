"""The harm taxonomy against the source documents, parsed here independently of the package."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from realimpact.cli import app
from realimpact.harm.taxonomy import (
    enforcement_harms,
    harm_ids,
    load_taxonomy,
    matrix_harms,
    priority_harms,
)

SEED_000 = "000_f1d980d3e2135e00.txt"
SEED_001 = "001_b57d9bf4d735a16b.txt"


def _seed(shared: Path, name: str) -> str:
    return (shared / "seeds" / name).read_text(encoding="utf-8")


def _figure1_cells(text: str) -> list[tuple[str, str, str]]:
    """(type, level, harm) from the tab-separated rows of UK Drug Policy Commission (2009) Moving towards Real Impact Drug Enforcement, Figure 1.

    Harms in a cell are run together with single spaces; a new harm starts at a
    capital letter or a quote, except inside the names "Criminal Justice System",
    "CJS" and "NHS".
    """
    fig = text[text.index("Figure 1: Summary matrix") :]
    levels = ["individual", "family_peers", "local_community", "national", "international"]
    heads = {
        "HEALTH HARMS": "health",
        "SOCIAL/STRUCTURAL HARMS": "social_structural",
        "ECONOMIC HARMS": "economic",
        "ENVIRONMENTAL HARMS": "environmental",
    }
    out, kind = [], None
    for row in fig.splitlines():
        if row.strip() in heads:
            kind = heads[row.strip()]
            continue
        if kind is None or "<ul" not in row:
            continue
        for level, cell in zip(levels, row.split("\t"), strict=False):
            cell = re.sub(r"<ul[^>]*>", "", cell).strip()
            if not cell:
                continue
            parts = re.split(r" (?=['A-Z])(?!Criminal|Justice|System|CJS|NHS)", cell)
            out += [(kind, level, p.strip()) for p in parts]
    return out


def test_every_figure1_harm_is_in_the_matrix_with_its_source(shared: Path) -> None:
    expected = _figure1_cells(_seed(shared, SEED_001))
    assert len(expected) > 80  # the figure lists 86 examples; guards against a broken parse
    got = {(h["type"], h["level"], h["name"]): h for h in matrix_harms()}
    missing = [e for e in expected if e not in got]
    assert not missing
    assert len(got) == len(expected)  # nothing invented
    for h in got.values():
        assert h["source"] == SEED_001
        assert h["section"].startswith("Figure 1")
    # spot checks read off the figure by eye
    assert ("health", "individual", "Overdose/death") in got
    assert ("environmental", "international", "Chemical waste") in got
    assert ("social_structural", "local_community", "'No go' areas") in got


def _words(s: str) -> list[str]:
    return re.findall(r"[a-z]+", s.lower())


def _fragment_matches(fragment: str, name: str) -> bool:
    """Every word of the fragment is a prefix of a later word of the name, in order.

    The treemap extraction cuts words ("recruitme", "crimin") and drops others.
    """
    name_words = iter(_words(name))
    return all(any(nw.startswith(fw) for nw in name_words) for fw in _words(fragment))


def test_every_figure2_harm_is_present_with_category_count_and_source(shared: Path) -> None:
    text = _seed(shared, SEED_000)
    fig = text[text.index("Figure 2: Drug-related harms") :]
    body = fig[fig.index("been excluded.") :]
    grid = [[c.strip() for c in row.split("\t")] for row in body.splitlines()]
    cells = [c for row in grid for c in row if c]
    counted = [(m[1], int(m[2])) for c in cells if (m := re.fullmatch(r"(.*?),\s*(\d+)", c))]
    # a count wrapped onto the next row of the same treemap column ("... crime," / "16")
    for r, row in enumerate(grid[1:], start=1):
        for c, cell in enumerate(row):
            above = grid[r - 1][c] if c < len(grid[r - 1]) else ""
            if cell.isdigit() and above.endswith(","):
                counted.append((above.rstrip(","), int(cell)))
    assert len(counted) >= 20
    items = priority_harms()
    for fragment, n in counted:
        hits = [h for h in items if _fragment_matches(fragment, h["name"])]
        assert any(h["interviewees"] == n for h in hits), (fragment, n, hits)
    # and the other way: every harm's legible label is in the figure, every count is there
    flat = " ".join(cells)
    for h in items:
        assert h["source"] == SEED_000 and "Figure 2" in h["section"]
        for w in _words(h.get("legible", h["name"])):
            assert w in flat.lower(), (h["id"], w)
        if h["interviewees"] is not None:
            assert any(
                n == h["interviewees"] and _fragment_matches(f, h["name"]) for f, n in counted
            )
    # the caption: 27 harms, 317 responses; what we can read must fit inside that
    assert "representing 27 harms" in fig and "317 responses" in fig
    assert len(items) <= 27
    assert sum(h["interviewees"] or 0 for h in items) <= 317
    assert all(h["interviewees"] is None or h["interviewees"] >= 5 for h in items)


@pytest.mark.parametrize(
    ("harm_id", "category"),
    [
        ("ph-related-crime", "crime"),
        ("ph-overdose-death", "health"),
        ("ph-normalisation-drug-use-supply", "perceptions"),
        ("ph-increase-violence", "violence"),
        ("ph-risk-exploitation", "exploitation"),
        ("ph-degradation-neighbourhoods", "neighbourhoods"),
        ("ph-poverty-debt", "life_chances"),
        ("ph-strain-local-services", "services"),
        ("ph-poor-child-welfare", "children_family"),
    ],
)
def test_figure2_categories(harm_id: str, category: str) -> None:
    assert {h["id"]: h["category"] for h in priority_harms()}[harm_id] == category


def test_enforcement_harms_cover_box_a_and_seed_000(shared: Path) -> None:
    text001 = _seed(shared, SEED_001)
    box = text001[text001.index("BOX A:") : text001.index("Adapted from:")]
    bullets = [b[2:].strip() for b in box.splitlines() if b.startswith("- ")]
    assert len(bullets) == 8
    enf = enforcement_harms()
    box_items = [h for h in enf if h["section"].startswith("Box A")]
    for b in bullets:
        assert any(h["quote"].rstrip(".") in b for h in box_items), b
    ids = {h["id"] for h in enf}
    # the four named in the N8 study's findings
    assert {
        "enf-drug-debt-violence",
        "enf-turf-war",
        "enf-criminal-record",
        "enf-prison-network-building",
    } <= ids
    for h in enf:
        assert h["id"].startswith("enf-")
        # every quote is verbatim in the document the item cites
        assert h["quote"] in _seed(shared, h["source"]), h["id"]
        assert h["monitor"]


def test_ids_unique_and_every_item_sourced(shared: Path) -> None:
    ids = harm_ids()
    assert len(ids) == len(set(ids))
    tax = load_taxonomy()
    for group in ("matrix", "priority", "enforcement"):
        for h in tax[group]:
            assert (shared / "seeds" / h["source"]).is_file()
            assert h["section"]
            assert re.fullmatch(r"[a-z]+(-[a-z0-9]+)+", h["id"])
    # copies: a caller cannot corrupt the package's data
    tax["matrix"].clear()
    assert load_taxonomy()["matrix"]


def test_cli_taxonomy_json() -> None:
    res = CliRunner().invoke(app, ["harm", "taxonomy", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert {h["id"] for h in data["enforcement"]} == {h["id"] for h in enforcement_harms()}
    assert data["counts"]["matrix"] == len(matrix_harms())


def test_cli_taxonomy_table_and_bad_kind() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["harm", "taxonomy", "--kind", "priority"])
    assert res.exit_code == 0
    assert "ph-overdose-death" in res.stdout and "ph-related-crime" in res.stdout
    res = runner.invoke(app, ["harm", "taxonomy", "--kind", "nonsense"])
    assert res.exit_code == 2
