"""An automated attacker on the shared market summaries (issue 12).

It reads only what ``markets rank|list|show|disruptions --audience partner|public``
print, and tries to get back what was withheld: a registry id or an assessor
anywhere in the output; a withheld disruption count from the published
margins (the 4P x impact table, its row and column totals, the total, and
the with-evidence and flagged counts, solved as integer programs by the
library's own auditor, which tests/test_disclosure_package.py checks against
brute force); a rank that pins a withheld row. It is first shown to recover
the counts from the unprotected table (the analyst output published with only
the small cells blanked), so it can fail.

Registries: the demo city's (written by the simulator) and one built here
over the real City of London store, with disruptions whose table has small
cells.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from realimpact.cli import app
from realimpact.disclosure.audit import disclosed_range, feasible_intervals
from realimpact.disclosure.contract import numeric_strings
from realimpact.simulate import SimulationParams, simulate_city
from realimpact.sources.police_uk import ingest_police_uk
from realimpact.store import Store
from tests.conftest import POLICE_UK

COL = POLICE_UK / "city_of_london"

COL_REGISTRY = """
markets:
  - {id: m-col-1, level: street, selling_modes: [open-street], commodities: [crack, heroin],
     areas: {lsoa: [E01000001, E01000002]}, groups: [g-col-1],
     description: "run by the brother of a known user (intelligence)"}
  - {id: m-col-2, level: street, selling_modes: [arrange-to-meet], commodities: [cocaine],
     areas: {lsoa: [E01000005]}}
groups:
  - {id: g-col-1, type: dealing-group, commodities: [crack]}
places:
  - {id: p-col-1, type: crack-house, first_seen: 2019-06, markets: [m-col-1],
     areas: {lsoa: [E01000001]}}
assessments:
  - entity: m-col-1
    date: 2020-01-15
    assessor: DC Jane Example
    harms:
      - {harm_id: hm-social-loc-fear-crime-anti-social, impact: 4, likelihood: 4,
         confidence: B, evidence: "CHIS report 123 says ..."}
    position: {capability: 3, capacity: 4, confidence: B}
  - entity: m-col-2
    date: 2020-01-15
    assessor: DC Jane Example
    harms:
      - {harm_id: hm-social-loc-fear-crime-anti-social, impact: 2, likelihood: 3,
         confidence: C}
    position: {capability: 2, capacity: 2, confidence: C}
disruptions:
"""


def _disruptions(n_small: int) -> str:
    """Disruptions: many 'pursue' of moderate impact, a few of the rest (small cells)."""
    rows = []
    spec = [("pursue", "moderate", 12), ("pursue", "minor", 7), ("prevent", "minor", 6)]
    spec += [("protect", "major", n_small), ("prepare", "minor", 2)]
    k = 0
    for cat, imp, n in spec:
        for _ in range(n):
            k += 1
            rows.append(
                f"  - {{id: d-{k}, entity: m-col-1, date: 2020-02-{1 + k % 27:02d}, "
                f"category: {cat}, impact: {imp}, description: 'warrant at flat {k}', "
                f"evidence_refs: [crimint-{k}]}}"
            )
    return "\n".join(rows) + "\n"


def _cli(*args):
    env = {k: v for k, v in os.environ.items() if k != "REALIMPACT_STORE"}
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


@pytest.fixture(scope="module")
def col_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("col")
    path = d / "col.duckdb"
    with Store(path) as st:
        assert ingest_police_uk([COL], st).ok
    reg = d / "registry.yaml"
    reg.write_text(COL_REGISTRY + _disruptions(3), "utf-8")
    r = _cli("markets", "import", reg, "--store", path)
    assert r.exit_code == 0, r.output
    return path


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("demo")
    sim = simulate_city(d / "data", SimulationParams(seed=1, n_areas=60))
    path = d / "demo.duckdb"
    r = _cli("markets", "import", sim.files["markets"][0], "--store", path)
    assert r.exit_code == 0, r.output
    return path


def _json(*args) -> dict:
    r = _cli(*args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def _ids(store: Path) -> set[str]:
    data = _json("markets", "list", "--store", store)
    return {e["id"] for e in data["entities"]}


# --- the attacker on the disruptions table --------------------------------------------------


def solve_table(pub: dict, threshold: int) -> dict[tuple, tuple[float, float]]:
    """What the published table and margins leave possible for each withheld cell."""
    cats = list(pub["table"])
    imps = [k for k in pub["by_impact"] if k not in FLAGS]
    values: dict[tuple, float | None] = {}
    for c in cats:
        for i in imps:
            values[("t", c, i)] = pub["table"][c][i]
        values[("c", c)] = pub["by_category"][c]
    for i in imps:
        values[("i", i)] = pub["by_impact"][i]
    values[("n",)] = pub["count"]
    values[("ev",)], values[("fl",)] = pub["with_evidence"], pub["flagged"]
    rels = [(("c", c), [("t", c, i) for i in imps]) for c in cats]
    rels += [(("i", i), [("t", c, i) for c in cats]) for i in imps]
    rels += [(("n",), [("c", c) for c in cats]), (("n",), [("i", i) for i in imps])]
    rels += [(("n",), [("ev",), ("noev",)]), (("n",), [("fl",), ("nofl",)])]
    published = {k: v for k, v in values.items() if v is not None}

    def said(holder: dict, key: str) -> str:
        return "primary" if key in (holder.get("below_threshold") or []) else "masked"

    unknown: dict = {("noev",): (0, float("inf")), ("nofl",): (0, float("inf"))}
    for c in cats:
        for i in imps:
            if pub["table"][c][i] is None:
                unknown[("t", c, i)] = disclosed_range(said(pub["table"][c], i), threshold)
        if pub["by_category"][c] is None:
            unknown[("c", c)] = disclosed_range(said(pub["by_category"], c), threshold)
    for i in imps:
        if pub["by_impact"][i] is None:
            unknown[("i", i)] = disclosed_range(said(pub["by_impact"], i), threshold)
    for k, cell in (("count", ("n",)), ("with_evidence", ("ev",)), ("flagged", ("fl",))):
        if pub[k] is None:
            unknown[cell] = disclosed_range(said(pub, k), threshold)
    return feasible_intervals(rels, published, unknown)


def recovered(
    truth: dict, intervals: dict[tuple, tuple[float, float]], threshold: int
) -> list[tuple]:
    """Withheld cells pinned, or true small counts narrowed below 1..threshold-1."""
    out = []
    for cell, (lo, hi) in intervals.items():
        v = truth.get(cell)
        if v is None:
            continue
        if lo == hi or (0 < v < threshold and (lo > 1 or hi < threshold - 1)):
            out.append((cell, v, lo, hi))
    return out


FLAGS = ("suppressed", "below_threshold")


def truth_of(full: dict) -> dict[tuple, int]:
    t = {}
    for c, row in full["table"].items():
        for i, v in row.items():
            if i not in FLAGS:
                t[("t", c, i)] = v
        t[("c", c)] = full["by_category"][c]
    for i, v in full["by_impact"].items():
        if i not in FLAGS:
            t[("i", i)] = v
    t[("n",)] = full["count"]
    t[("ev",)], t[("fl",)] = full["with_evidence"], full["flagged"]
    return t


def naive(full: dict, threshold: int) -> dict:
    """The unprotected shared table: small cells blanked one at a time, margins kept."""
    pub = json.loads(json.dumps(full))
    for row in pub["table"].values():
        for i, v in list(row.items()):
            if 0 < v < threshold:
                row[i] = None
                row.setdefault("below_threshold", []).append(i)
    for holder in (pub["by_category"], pub["by_impact"]):
        for k, v in list(holder.items()):
            if 0 < v < threshold:
                holder[k] = None
                holder.setdefault("below_threshold", []).append(k)
    return pub


def test_attacker_recovers_counts_from_the_unprotected_table(col_store: Path) -> None:
    full = _json("markets", "disruptions", "--store", col_store)
    pub = naive(full, 5)
    got = recovered(truth_of(full), solve_table(pub, 5), 5)
    # e.g. protect/major = 3 is the protect row total minus its published zeros
    assert got, "the attack should work on the unprotected table"
    assert any(cell == ("t", "protect", "major") and lo == hi == 3 for cell, _, lo, hi in got)


@pytest.mark.parametrize("audience,threshold", [("partner", 5), ("public", 10)])
def test_shared_disruptions_give_nothing_back(
    col_store: Path, audience: str, threshold: int, tmp_path: Path
) -> None:
    full = _json("markets", "disruptions", "--store", col_store)
    out = tmp_path / "disruptions.json"
    pub = _json(
        "markets", "disruptions", "--audience", audience, "--store", col_store, "--out", out
    )
    assert json.loads(out.read_text("utf-8")) == pub
    manifest = json.loads((tmp_path / "manifest.json").read_text("utf-8"))
    assert manifest["audience"] == audience and manifest["withheld"]["primary"] > 0
    assert numeric_strings(pub) == []
    text = json.dumps(pub)
    assert "crimint" not in text and "warrant" not in text and "m-col-1" not in text
    assert "disruptions" not in pub and "by_entity" not in pub
    truth = truth_of(full)
    shown = {k: v for k, v in truth_of(pub).items() if v is not None}
    assert [k for k in shown if 0 < truth[k] < threshold] == []  # no small count shown
    if audience == "partner":  # public counts are rounded to 5: the exact system does not hold
        assert recovered(truth, solve_table(pub, threshold), threshold) == []


@pytest.mark.parametrize("which", ["col", "demo"])
@pytest.mark.parametrize("audience", ["partner", "public"])
def test_shared_rank_list_show_carry_no_ids_or_names(
    which: str, audience: str, col_store: Path, demo_store: Path
) -> None:
    store = col_store if which == "col" else demo_store
    ids = _ids(store)
    analyst = _json("markets", "rank", "--store", store)
    for cmd in (["rank"], ["list"], ["show", sorted(i for i in ids if i.startswith("m-"))[0]]):
        pub = _json("markets", *cmd, "--audience", audience, "--store", store)
        text = json.dumps(pub)
        leaked = [i for i in ids if f'"{i}"' in text]
        assert leaked == [], (cmd, leaked)
        assert "Jane Example" not in text and "CHIS" not in text and "brother" not in text
        assert numeric_strings(pub) == []
        assert pub["disclosure"]["audience"] == audience
    pub = _json("markets", "rank", "--audience", audience, "--store", store)
    # rank is kept with its basis: the published scores order the published ranks, no gaps
    ranks = [it["rank"] for it in pub["items"]]
    assert ranks == list(range(1, len(ranks) + 1))
    scores = [it["score"] for it in pub["items"]]
    assert scores == sorted(scores, reverse=True)
    kept = [it for it in analyst["items"] if audience == "partner" or it["kind"] != "place"]
    assert scores == [it["score"] for it in kept]
    if audience == "public":
        lst = _json("markets", "list", "--audience", audience, "--store", store)
        assert all(e["kind"] != "place" for e in lst["entities"])  # premises: not public


def test_bad_audience_and_sharing_config_exit_2(col_store: Path, tmp_path: Path) -> None:
    r = _cli("markets", "rank", "--audience", "everyone", "--store", col_store)
    assert r.exit_code == 2 and "--audience" in r.output
    cfg = tmp_path / "sharing.yaml"
    cfg.write_text("profiles: {partner: {threshold: 1}}\n", "utf-8")
    r = _cli("markets", "rank", "--audience", "partner", "--sharing-config", cfg, "--store",
             col_store)  # fmt: skip
    assert r.exit_code == 2 and "sharing.yaml" in r.output and "threshold" in r.output
