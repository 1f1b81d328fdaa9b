"""An automated attacker on the evaluation's shared outputs (issue 12).

It reads only what a partner or the public is given (results.json, and the
figures the report prints) and tries to get every withheld count back:

* linear differencing: months against the before/after totals, indicators
  whose crime types make up another's, the outputs ledger against target +
  buffer, solved by integer programming written here (``scipy.optimize.milp``),
  not by ``realimpact.disclosure.audit``;
* algebra: per-month rates times months, the WDQ success and buffer measures
  solved for a withheld total (``Ca = Ta / (success_measure + Tb/Cb)``), the
  WDD's ``n`` (the sum of the six totals);
* structure: a design published although a count it is computed from is withheld.

A leak is a withheld value recovered exactly, or a value shown as "fewer than
N" left with fewer possible values than 1..N-1. The attacker is first shown to
find the known leak in today's (pre-issue-12) partner output of the City of
London plan, rebuilt here with a frozen copy of the old algorithm; then the new
partner and public outputs of that plan and of the demo city must not leak.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp
from typer.testing import CliRunner

from realimpact.cli import app
from tests.conftest import POLICE_UK

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "examples" / "plans" / "city-of-london-lockdown-2020.yaml"
COL = POLICE_UK / "city_of_london"
BOUNDARY = POLICE_UK.parent / "boundaries" / "london_lsoa_2011" / "E09000001.geojson"
ROLES = ("target", "buffer", "control")
WHEN = ("before", "after")
CAP = 10_000


def _cli(*args):
    env = {k: v for k, v in os.environ.items() if k != "REALIMPACT_STORE"}
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


# --- reading what was published ------------------------------------------------------------


def _hidden(obj: dict, key: str) -> str | None:
    """'small' (shown as fewer than N), 'withheld', or None (published)."""
    v = obj.get(key)
    if isinstance(v, str) and re.fullmatch(r"<\d+", v):  # the old contract
        return "small"
    if key in (obj.get("below_threshold") or []):
        return "small"
    if v is None and key in (obj.get("suppressed") or []):
        return "withheld"
    return None


def _num(v):
    return v if isinstance(v, int | float) and not isinstance(v, bool) else None


def _window(ind: dict, when: str) -> list[str]:
    w = ind.get("baseline" if when == "before" else "follow_up") or {}
    return [m for m in ind.get("months_held") or [] if w.get("from") <= m <= w.get("to")]


class Published:
    """Cells (value or None) with their disclosed range, and the sums a reader knows."""

    def __init__(self, results: dict, threshold: int):
        self.t = threshold
        rules = (results.get("disclosure") or {}).get("rules") or {}
        # a rounded count is only known to within half the base
        self.slack = int(rules.get("rounding") or 1) // 2
        self.value: dict = {}
        self.kind: dict = {}
        self.rel: list = []
        for ind in results["indicators"]:
            iid = ind["id"]
            recs = {}
            for r in ind.get("monthly") or []:
                recs[(r["role"], r["month"])] = r
            for role in ROLES:
                blk = ind.get(role)
                if not isinstance(blk, dict):
                    continue
                for when in WHEN:
                    tc = ("t", iid, role, when)
                    self._cell(tc, blk, when)
                    months = _window(ind, when)
                    if not any(k[0] == role for k in recs) or not months:
                        continue
                    parts = []
                    for m in months:
                        mc = ("m", iid, role, m)
                        self._cell(mc, recs.get((role, m), {"n": 0}), "n")
                        parts.append(mc)
                    self.rel.append((tc, parts))
                    if self.kind.get(tc) == "small":  # its months may be anything
                        for p in parts:
                            if self.kind.get(p):
                                self.kind[p] = "any"
        # categories: an indicator whose types are the union of others'
        inds = results["indicators"]
        for whole in inds:
            types = set(whole.get("crime_types") or [])
            others = [o for o in inds if o is not whole and o.get("source") == whole.get("source")
                      and o.get("baseline") == whole.get("baseline") and o.get("crime_types")
                      and set(o["crime_types"]) <= types]  # fmt: skip
            for k in range(1, len(others) + 1):
                for combo in itertools.combinations(others, k):
                    sets = [set(o["crime_types"]) for o in combo]
                    if sum(map(len, sets)) == len(types) and set().union(*sets) == types:
                        for c in [c for c in self.value if c[1] == whole["id"]]:
                            parts = [(c[0], o["id"], *c[2:]) for o in combo]
                            if all(p in self.value for p in parts):
                                self.rel.append((c, parts))
        led = (results.get("outputs_ledger") or {}).get("drugs_crimes")
        if isinstance(led, dict):
            match = [i for i in inds if i.get("source") == "police_uk"
                     and set(i.get("crime_types") or []) == set(led.get("crime_types") or [])]  # fmt: skip
            for when in WHEN:
                blk = led.get(when) or {}
                c = ("ledger", when)
                self._cell(c, blk, "crimes")
                for i in match:
                    self.rel.append(
                        (c, [("t", i["id"], "target", when), ("t", i["id"], "buffer", when)])
                    )

    def _cell(self, cell, obj: dict, key: str) -> None:
        h = _hidden(obj, key)
        self.kind[cell] = h
        self.value[cell] = None if h else _num(obj.get(key))

    def range(self, cell) -> tuple[int, int]:
        k = self.kind.get(cell)
        v = self.value.get(cell)
        if not k and v:  # a rounded published count
            return max(v - self.slack, 0), v + self.slack
        if k == "small":
            return 1, self.t - 1
        if k == "withheld":
            return self.t, CAP
        return 0, CAP

    def unknowns(self) -> list:
        hidden = [c for c, v in self.value.items() if v is None and self.kind.get(c)]
        if not self.slack:
            return hidden
        return hidden + [c for c, v in self.value.items() if v and not self.kind.get(c)]


def linear_attack(pub: Published) -> dict:
    """Integer programming over every published sum: the interval left to each withheld cell."""
    unk = pub.unknowns()
    if not unk:
        return {}
    ix = {c: i for i, c in enumerate(unk)}
    rows, rhs = [], []
    for total, parts in pub.rel:
        cells = [(total, -1.0)] + [(p, 1.0) for p in parts]
        if not any(c in ix for c, _ in cells):
            continue
        if any(c not in ix and pub.value.get(c) is None for c, _ in cells):
            continue  # a cell neither shown nor withheld: the sum is of no use
        row, const = np.zeros(len(unk)), 0.0
        for c, s in cells:
            if c in ix:
                row[ix[c]] += s
            else:
                const += s * pub.value[c]
        rows.append(row)
        rhs.append(-const)
    lo = np.array([pub.range(c)[0] for c in unk], float)
    hi = np.array([pub.range(c)[1] for c in unk], float)
    out = {c: (pub.range(c)[0], pub.range(c)[1]) for c in unk}
    if not rows:
        return out
    cons = LinearConstraint(np.array(rows), rhs, rhs)
    for c, i in ix.items():
        got = []
        for sense in (1, -1):
            obj = np.zeros(len(unk))
            obj[i] = sense
            r = milp(obj, constraints=cons, bounds=Bounds(lo, hi), integrality=np.ones(len(unk)))
            assert r.status == 0, r.message
            got.append(round(r.x[i]))
        out[c] = (got[0], got[1])
    return out


def algebra_attack(results: dict, pub: Published, intervals: dict) -> dict:
    """Candidate values of withheld totals left by the published rates and measures."""
    cand = {c: set(range(lo, min(hi, 400) + 1)) for c, (lo, hi) in intervals.items() if c[0] == "t"}
    digits = ((results.get("disclosure") or {}).get("rules") or {}).get("derived_digits")
    tol = 0.5 * 10**-digits + 1e-12 if digits is not None else 1e-9
    if pub.slack:  # rates and measures of rounded counts: solved within the rounding
        return cand
    for ind in results["indicators"]:
        iid = ind["id"]

        def tot(role, when, iid=iid):
            return ("t", iid, role, when)

        for role in ROLES:  # a rate times its months
            blk = ind.get(role) or {}
            for when in WHEN:
                pm, mo = _num(blk.get(f"per_month_{when}")), _num(blk.get(f"months_{when}"))
                c = tot(role, when)
                if c in cand and pm is not None and mo:
                    cand[c] &= {round(pm * mo)}
        eqs = []
        w = ind.get("wdq") or {}
        if _num(w.get("success_measure")) is not None:
            eqs.append(((tot("target", "before"), tot("target", "after"), tot("control", "before"),
                         tot("control", "after")), w["success_measure"],
                        lambda tb, ta, cb, ca: ta / ca - tb / cb))  # fmt: skip
        if _num(w.get("buffer_measure")) is not None:
            eqs.append(((tot("buffer", "before"), tot("buffer", "after"), tot("control", "before"),
                         tot("control", "after")), w["buffer_measure"],
                        lambda bb, ba, cb, ca: ba / ca - bb / cb))  # fmt: skip
        wdd = ind.get("wdd") or {}
        if _num(wdd.get("n")) is not None and wdd.get("scale") == "count":
            cells = tuple(tot(r, x) for r in ROLES for x in WHEN)
            eqs.append((cells, wdd["n"], lambda *v: sum(v)))
        for cells, target, f in eqs:
            known = {c: pub.value.get(c) for c in cells}
            free = [c for c in cells if known[c] is None]
            if not free or len(free) > 2 or any(c not in cand for c in free):
                continue
            keep = {c: set() for c in free}
            for combo in itertools.product(*(sorted(cand[c]) for c in free)):
                vals = dict(known) | dict(zip(free, combo, strict=True))
                try:
                    y = f(*(vals[c] for c in cells))
                except ZeroDivisionError:
                    continue
                if math.isclose(y, target, rel_tol=1e-9, abs_tol=tol):
                    for c, v in zip(free, combo, strict=True):
                        keep[c].add(v)
            for c in free:
                cand[c] &= keep[c]
    return cand


def structural_leaks(results: dict) -> list[str]:
    """A design published although a count it is computed from is withheld."""
    out = []
    for ind in results["indicators"]:
        totals = {(r, w): _hidden(ind.get(r) or {}, w) for r in ROLES for w in WHEN if ind.get(r)}
        months = {r["role"] for r in ind.get("monthly") or [] if _hidden(r, "n")}
        checks = {
            "wdq": any(totals.values()),
            "wdd": any(totals.values()),
            "did": any(v for (r, _), v in totals.items() if r != "buffer")
            or bool(months - {"buffer"}),
            "its": any(v for (r, _), v in totals.items() if r == "target") or "target" in months,
        }
        for blk, hidden in checks.items():
            b = ind.get(blk)
            if (
                hidden
                and isinstance(b, dict)
                and _num(
                    b.get(
                        "estimate",
                        (b.get("level") or {}).get("estimate")
                        if isinstance(b.get("level"), dict)
                        else None,
                    )
                )
                is not None
            ):
                out.append(f"{ind['id']}.{blk} published over withheld counts")
            if (
                hidden
                and blk == "wdq"
                and isinstance(b, dict)
                and _num(b.get("success_measure")) is not None
            ):
                out.append(f"{ind['id']}.wdq published over withheld counts")
    return out


def attack(results: dict, threshold: int) -> list[str]:
    """Every leak the attacker finds, in words."""
    pub = Published(results, threshold)
    intervals = linear_attack(pub)
    cand = algebra_attack(results, pub, intervals)
    found = []
    for c, (lo, hi) in intervals.items():
        if not pub.kind.get(c):
            continue  # a published (rounded) count: not a secret
        possible = set(range(lo, min(hi, 400) + 1)) & cand.get(c, set(range(lo, min(hi, 400) + 1)))
        if hi > 400:
            possible |= {hi}
        if pub.kind[c] == "small" and not set(range(1, threshold)) <= possible:
            found.append(f"{c}: shown as fewer than {threshold}, only {sorted(possible)} possible")
        elif len(possible) <= 1:
            found.append(f"{c}: withheld, recovered as {sorted(possible)}")
    return found + structural_leaks(results)


# --- today's partner output, frozen (report/safe.py before issue 12) --------------------------


def old_partner_results(results: dict, threshold: int = 5) -> dict:
    """The old algorithm, cell by cell: '<5' strings, per-month rates hidden with their total,
    gross/net effects hidden, nothing else (the leak this issue fixes)."""
    counts = {"before", "after", "count", "n", "crimes", "searches", "k", "m"}
    small = f"<{threshold}"

    def walk(o):
        if isinstance(o, dict):
            return {k: (small if k in counts and isinstance(v, int) and 0 < v < threshold else walk(v))
                    for k, v in o.items() if k not in {"points", "markets", "targets", "truth", "files"}}  # fmt: skip
        if isinstance(o, list):
            return [walk(v) for v in o]
        return o

    safe = walk(copy.deepcopy(results))
    for ind in safe["indicators"]:
        hidden = False
        for r in ROLES:
            blk = ind.get(r)
            if isinstance(blk, dict):
                for k in WHEN:
                    if blk.get(k) == small:
                        hidden = True
                        blk[f"per_month_{k}"] = small
        if hidden:
            for b in ("wdq", "did", "wdd"):
                if isinstance(ind.get(b), dict):
                    for k in ("gross_effect", "net_effect", "total_net_effect", "count_effect"):
                        if k in ind[b]:
                            ind[b][k] = small
    return safe


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def col_runs(tmp_path_factory) -> dict:
    """The shipped City of London plan, evaluated for each audience through the CLI."""
    d = tmp_path_factory.mktemp("attack_col")
    store = d / "col.duckdb"
    assert _cli("ingest", "police-uk", COL, "--store", store, "--json").exit_code == 0
    r = _cli("ingest", "boundaries", BOUNDARY, "--layer", "lsoa", "--store", store, "--json")
    assert r.exit_code == 0, r.output
    out = {}
    for aud in ("analyst", "partner", "public"):
        r = _cli("evaluate", PLAN, "--out", d / aud, "--audience", aud, "--store", store, "--json")
        assert r.exit_code == 0, r.output
        out[aud] = d / aud
    return out


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory) -> dict:
    from realimpact.report import write_evaluation

    d = tmp_path_factory.mktemp("attack_demo")
    p = subprocess.run([sys.executable, "-m", "realimpact", "demo", "--out", str(d), "--json"],
                       capture_output=True, text=True, timeout=900)  # fmt: skip
    assert p.returncode == 0, p.stderr
    analyst = json.loads(Path(json.loads(p.stdout)["results"]).read_text("utf-8"))
    out = {}
    for aud in ("partner", "public"):
        write_evaluation(analyst, d / aud, audience=aud)
        out[aud] = d / aud
    return {"analyst": analyst, **out}


def _load(folder: Path) -> dict:
    return json.loads((folder / "results.json").read_text("utf-8"))


# --- (a) the attacker finds today's leak -------------------------------------------------------


def test_attacker_finds_the_known_leak_in_the_old_partner_output(col_runs):
    old = old_partner_results(_load(col_runs["analyst"]))
    leaks = attack(old, 5)
    # buffer follow-up months [5, <5, 9, <5] beside buffer.after = 22: both are 4
    vio = [
        x for x in leaks if "violence-robbery-weapons" in x and "'buffer'" in x and "2020-0" in x
    ]
    assert any("2020-04" in x and "[4]" in x for x in vio), leaks
    assert any("2020-06" in x and "[4]" in x for x in vio), leaks
    # and the old output writes strings into numeric fields
    assert '"<5"' in json.dumps(old)


def test_attacker_solves_wdq_back_to_a_withheld_control_total(col_runs):
    """Ca = Ta / (success_measure + Tb/Cb): a total hidden beside its WDQ comes back."""
    res = _load(col_runs["analyst"])
    ind = next(i for i in res["indicators"] if i["id"] == "drugs-crime")
    ind["control"]["after"] = 3  # as if the control had 3 crimes after, hidden as '<5'
    ind["monthly"] = None  # (its months no longer add up; only the totals matter here)
    res["outputs_ledger"] = None
    ind["wdd"] = None
    w = ind["wdq"]
    w.pop("buffer_measure")
    t, c = ind["target"], ind["control"]
    w["success_measure"] = t["after"] / 3 - t["before"] / c["before"]
    old = old_partner_results(res)
    leaks = attack(old, 5)
    assert any("('t', 'drugs-crime', 'control', 'after')" in x and "[3]" in x for x in leaks), leaks


# --- (b) the new outputs do not leak ---------------------------------------------------------------


@pytest.mark.parametrize("audience", ["partner", "public"])
def test_city_of_london_shared_outputs_do_not_leak(col_runs, audience):
    res = _load(col_runs[audience])
    assert res["audience"] == audience
    t = res["suppression_threshold"]
    assert t == (5 if audience == "partner" else 10)
    assert attack(res, t) == []
    # the regression: the violence buffer months no longer sit beside a total that gives them back
    vio = next(i for i in res["indicators"] if i["id"] == "violence-robbery-weapons")
    fu = [r for r in vio["monthly"] if r["role"] == "buffer" and r["month"] >= "2020-03"]
    assert sum(r["n"] is None for r in fu) >= 3 or vio["buffer"]["after"] is None
    _no_identifiers(col_runs[audience])


def test_a_small_buffer_withholds_displacement_not_the_main_result(col_runs):
    """Drugs: the buffer's follow-up total (11) is withheld, the target and control are not.

    The verdict rests on the WDD's local part (target against control), so partners
    still read that drugs crime fell; only what involves the buffer goes.
    """
    ana = next(i for i in _load(col_runs["analyst"])["indicators"] if i["id"] == "drugs-crime")
    res = _load(col_runs["partner"])
    drugs = next(i for i in res["indicators"] if i["id"] == "drugs-crime")
    assert drugs["buffer"]["after"] is None and drugs["target"]["after"] is not None
    v, va = drugs["verdict"], ana["verdict"]
    assert (v["change"], v["estimate"], v["ci_low"]) == (va["change"], va["estimate"], va["ci_low"])
    assert v["displacement"] is None and "displacement" in v["suppressed"]
    wdd = drugs["wdd"]
    assert wdd["estimate"] is None and wdd["n"] is None
    assert wdd["extra"]["displacement_estimate"] is None
    assert wdd["extra"]["local_estimate"] == ana["wdd"]["extra"]["local_estimate"]
    assert all(drugs["wdq"][k] is None for k in ("success_measure", "buffer_measure"))


@pytest.mark.parametrize("audience", ["partner", "public"])
def test_demo_shared_outputs_do_not_leak(demo_runs, audience):
    res = _load(demo_runs[audience])
    assert attack(res, res["suppression_threshold"]) == []
    _no_identifiers(demo_runs[audience])


def test_public_counts_are_rounded_and_without_free_text(col_runs):
    res = _load(col_runs["public"])
    for ind in res["indicators"]:
        for r in ind["monthly"]:
            assert r["n"] is None or r["n"] == 0 or (r["n"] >= 10 and r["n"] % 5 == 0)
        for role in ROLES:
            v = (ind.get(role) or {}).get("after")
            assert v is None or v % 5 == 0
    text = json.dumps({k: v for k, v in res.items() if k != "disclosure"})
    assert '"mechanism"' not in text and '"mitigation"' not in text


def _no_identifiers(folder: Path) -> None:
    """No point, pseudonymous id, Crime ID, file path, or string in a numeric field."""
    for name in ("results.json", "manifest.json"):
        data = json.loads((folder / name).read_text("utf-8"))
        text = json.dumps(data)

        def keys(o):
            if isinstance(o, dict):
                for k, v in o.items():
                    yield k
                    yield from keys(v)
            elif isinstance(o, list):
                for v in o:
                    yield from keys(v)

        found = set(keys(data))
        for key in ("points", "truth", "markets", "crime_id", "crime_ids", "respondent_id", "path"):
            assert key not in found, (name, key)
        assert not re.search(r"[0-9a-f]{64}", text)  # police.uk Crime IDs are 64 hex digits
        assert str(folder) not in text and "/work/" not in text and ".csv" not in text
        assert not re.search(r'"<\d+"', text)

        def numeric_strings(o, key=""):
            if isinstance(o, dict):
                for k, v in o.items():
                    yield from numeric_strings(v, k)
            elif isinstance(o, list):
                for v in o:
                    yield from numeric_strings(v, key)
            elif isinstance(o, str) and key in {"n", "before", "after", "k", "m", "share",
                                                "estimate", "crimes", "searches"}:  # fmt: skip
                yield key

        assert list(numeric_strings(data)) == [], name
    page = (folder / "report.html").read_text("utf-8")
    assert "<image" not in page and 'id="disclosure"' in page
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    assert set(manifest["sharing"]) == {
        "agreement",
        "lawful_basis",
        "security_marking",
        "review_date",
    }
    assert manifest["withheld"]["primary"] > 0


def test_shared_words_never_give_a_withheld_verdict_away(demo_runs):
    """A withheld verdict is not named among the outcomes "with no clear change" in the next
    steps, and its line says "not shown" once."""
    from realimpact.report.render import verdict_text

    res = _load(demo_runs["public"])
    hidden = [
        i for i in res["indicators"] if "change" in (i.get("verdict") or {}).get("suppressed", [])
    ]
    assert hidden, "the demo's public version withholds some verdicts"
    analyst_steps = " ".join(demo_runs["analyst"]["next_steps"])
    assert any(i["label"] in analyst_steps for i in hidden)  # the analyst's steps name them
    steps = " ".join(res["next_steps"])
    for ind in hidden:
        assert ind["label"] not in steps
        text = verdict_text(ind["verdict"])
        assert text.count("not shown") == 1 and "too small to share" in text, text
    html = (demo_runs["public"] / "report.html").read_text("utf-8")
    assert "not shown: it rests on counts too small" not in html


# --- (c) the net harm total against the withheld counts behind it ------------------------------

Z95 = 1.959963984540054


def _round(x: float, base: float) -> float:
    return float(math.floor(x / base + 0.5) * base) if base > 0 else x


def _tne(tb, ta, bb, ba, cb, ca, phi):
    """Bowers-Johnson total net effect and its delta-method variance (written out again here)."""
    r = ca / cb
    pre, post = tb + bb, ta + ba
    return pre * r - post, (r * r * pre + post + pre * pre * r * r * (1 / ca + 1 / cb)) * phi


def net_harm_attack(shared: dict, analyst: dict) -> list[str]:
    """Each withheld count behind the net harm, tried at every value the other figures leave it.

    Worst case for the publisher: the reader knows every other crime type's part
    of the total (the CCHI weights are public; the other parts may be derived from
    the other totals), recomputes the total for each candidate, rounds it as the
    output does, and keeps the candidates that reproduce every published figure
    (estimate, errors, intervals, p, band, direction). A leak is a candidate ruled out.
    """
    ch = (shared.get("net_harm") or {}).get("crime_harm")
    ach = (analyst.get("net_harm") or {}).get("crime_harm")
    if not isinstance(ch, dict) or not isinstance(ach, dict):
        return []
    base = float(((shared.get("disclosure") or {}).get("rules") or {}).get("harm_rounding") or 0)
    win = analyst["net_harm"]["windows"]
    pub = Published(shared, shared["suppression_threshold"])
    intervals = linear_attack(pub)
    types = {i["id"]: i.get("crime_types") or [] for i in analyst["plan"]["indicators"]}
    rows = {r["crime_type"]: r for r in ach["by_type"]}
    ana = {i["id"]: i for i in analyst["indicators"]}
    shown = {k: ch.get(k) for k in ("estimate", "se", "ci_low", "ci_high", "p")}
    shown |= {f"poisson.{k}": (ch.get("poisson") or {}).get(k) for k in ("se", "ci_low", "ci_high", "p")}  # fmt: skip
    shown |= {"band": ch.get("band"), "change": ch.get("change")}
    numeric = [k for k, v in shown.items() if v is not None]
    found = []
    for cell, (lo, hi) in intervals.items():
        if cell[0] != "t" or not pub.kind.get(cell):
            continue
        _, iid, role, when = cell
        ind = ana.get(iid)
        if ind is None or ind["source"] != "police_uk":
            continue
        if (ind["baseline"], ind["follow_up"]) != (win["baseline"], win["follow_up"]):
            continue
        if len(types[iid]) != 1:  # several types behind one total: a figure over it is unchecked
            if any(k not in ("band", "change") for k in numeric):
                found.append(f"net harm published over withheld {iid} {role} {when}")
            continue
        row = rows[types[iid][0]]
        w, phi = row["weight"], row["dispersion"]
        c = {(r, x): float((ind.get(r) or {}).get(x) or 0) for r in ROLES for x in WHEN}
        tne0, var0 = _tne(*(c[k] for k in [(r, x) for r in ROLES for x in WHEN]), phi)
        var_all = ach["se"] ** 2 - w * w * var0
        var_p_all = ach["poisson"]["se"] ** 2 - w * w * var0 / phi
        kept = []
        tried = range(int(lo), int(min(hi, lo + 400)) + 1)
        for v in tried:
            c2 = dict(c) | {(role, when): float(v)}
            try:
                tne, var = _tne(*(c2[k] for k in [(r, x) for r in ROLES for x in WHEN]), phi)
            except ZeroDivisionError:
                continue
            est = ach["estimate"] + w * (tne - tne0)
            se, sp = math.sqrt(var_all + w * w * var), math.sqrt(var_p_all + w * w * var / phi)
            z = est / se
            got = {
                "estimate": _round(est, base), "se": _round(se, base),
                "ci_low": _round(est - Z95 * se, base), "ci_high": _round(est + Z95 * se, base),
                "p": math.erfc(abs(z) / math.sqrt(2)),
                "poisson.se": _round(sp, base), "poisson.ci_low": _round(est - Z95 * sp, base),
                "poisson.ci_high": _round(est + Z95 * sp, base),
                "poisson.p": math.erfc(abs(est / sp) / math.sqrt(2)),
                "change": "fell" if est - Z95 * se > 0 else "rose" if est + Z95 * se < 0
                else "no_clear_change",
            }  # fmt: skip
            if shown["band"] is not None:
                from realimpact.disclosure.dominance import harm_band

                got["band"] = harm_band(est)
            if all(
                math.isclose(got[k], shown[k], rel_tol=1e-9, abs_tol=1e-9)
                if isinstance(shown[k], float)
                else got[k] == shown[k]
                for k in numeric
            ):
                kept.append(v)
        if len(kept) < len(tried):
            found.append(
                f"{iid} {role} {when}: net harm leaves {len(kept)} of {len(tried)} values"
                f" ({kept[:5]}...)"
            )
    return found


def test_net_harm_attack_narrows_the_withheld_drugs_buffer_when_the_total_is_exact(col_runs):
    """The measured attack on the old partner output: net harm to 10 days beside the
    withheld Drugs buffer follow-up total (11) gives it back exactly (5-12 were possible)."""
    ana, res = _load(col_runs["analyst"]), _load(col_runs["partner"])
    old = copy.deepcopy(res)
    ach = ana["net_harm"]["crime_harm"]
    old["net_harm"]["crime_harm"] = {
        "estimate": _round(ach["estimate"], 10), "se": _round(ach["se"], 10),
        "ci_low": _round(ach["ci_low"], 10), "ci_high": _round(ach["ci_high"], 10),
        "p": ach["p"], "change": ach["change"],
    }  # fmt: skip
    leaks = net_harm_attack(old, ana)
    assert any(x.startswith("drugs-crime buffer after: net harm leaves 1 of 8") for x in leaks), (
        leaks
    )


@pytest.mark.parametrize("audience", ["partner", "public"])
def test_net_harm_never_narrows_a_withheld_count(col_runs, demo_runs, audience):
    for ana, res in (
        (_load(col_runs["analyst"]), _load(col_runs[audience])),
        (demo_runs["analyst"], _load(demo_runs[audience])),
    ):
        assert net_harm_attack(res, ana) == []


def test_partner_net_harm_of_the_city_of_london_is_a_band_said_in_words(col_runs):
    from realimpact.report.render import net_harm_line

    ch = _load(col_runs["partner"])["net_harm"]["crime_harm"]
    assert ch["shown_as"] == "band" and ch["band"] == "10,000-50,000"
    assert ch["estimate"] is None and "estimate" in ch["suppressed"] and ch["p"] is None
    assert ch["change"] == "fell" and ch["direction"] == "prevented"
    line = net_harm_line(ch)
    assert line.startswith("Crime harm fell across target and buffer: between 10,000 and 50,000")
    assert "too small to share" in line
    page = (col_runs["partner"] / "report.html").read_text("utf-8")
    assert "between 10,000 and 50,000" in page and "25,270" not in page


# --- (d) Merseyside: the Liverpool plan over the real force data ---------------------------------

MERSEYSIDE = [POLICE_UK / "merseyside", POLICE_UK.parent / "police_uk_more" / "merseyside"]
LIVERPOOL = ROOT / "examples" / "plans" / "liverpool-city-centre-illustrative.yaml"


@pytest.fixture(scope="module")
def mersey_runs(tmp_path_factory) -> dict:
    """The Liverpool plan over a Merseyside store built as benchmarks/disclosure.py builds it;
    partner also at threshold 30, so that months and totals are withheld and attacked."""
    import geopandas as gpd
    import pandas as pd

    from realimpact.geo.areas import ingest_boundaries
    from realimpact.sources.police_uk import ingest_police_uk
    from realimpact.store import Store

    d = tmp_path_factory.mktemp("attack_mersey")
    store = d / "mersey.duckdb"
    with Store(store) as st:
        assert ingest_police_uk([p for p in MERSEYSIDE if p.is_dir()], st).ok
    frames = [
        gpd.read_file(p)
        for p in sorted(
            (POLICE_UK.parent / "boundaries" / "merseyside_lsoa_2011").glob("*.geojson")
        )
    ]
    allb = d / "merseyside_lsoa_2011.geojson"
    gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs).to_file(allb)
    with Store(store) as st:
        ingest_boundaries(allb, st, layer="lsoa", id_field="LSOA11CD", name_field="LSOA11NM")
    cfg = d / "sharing.yaml"
    cfg.write_text("profiles:\n  partner: {threshold: 30}\n", "utf-8")
    out = {}
    for name, extra in (("analyst", []), ("partner", []), ("public", []),
                        ("partner30", ["--sharing-config", cfg])):  # fmt: skip
        aud = name.rstrip("0123456789")
        r = _cli("evaluate", LIVERPOOL, "--out", d / name, "--audience", aud, *extra,
                 "--store", store, "--json")  # fmt: skip
        assert r.exit_code == 0, r.output
        out[name] = d / name
    return out


@pytest.mark.parametrize("name", ["partner", "public", "partner30"])
def test_merseyside_shared_outputs_do_not_leak(mersey_runs, name):
    res, ana = _load(mersey_runs[name]), _load(mersey_runs["analyst"])
    assert attack(res, res["suppression_threshold"]) == []
    assert net_harm_attack(res, ana) == []
    if name == "partner30":  # the attack has something to work on
        assert res["suppression_threshold"] == 30
        assert res["disclosure"]["withheld"]["primary"] > 0
        assert res["disclosure"]["withheld"]["secondary"] > 0
    if name == "public":
        assert res["disclosure"]["withheld"]["rounded"] > 0
    for f in ("results.json", "manifest.json"):
        text = (mersey_runs[name] / f).read_text("utf-8")
        assert "/work/" not in text and not re.search(r'"<\d+"', text)
        assert not re.search(r"[0-9a-f]{64}", text)


def test_outputs_ledger_does_not_give_a_withheld_buffer_total_back(col_runs):
    """The ledger's Drugs offences in target + buffer (93) beside the target's 82 gave the
    withheld buffer total (11) back, until indicators carried their crime types and the
    audit could link the two; now the ledger figure goes, not the outcome's target total."""
    ana = _load(col_runs["analyst"])
    a_drugs = next(i for i in ana["indicators"] if i["id"] == "drugs-crime")
    assert a_drugs["crime_types"] == ["Drugs"]
    assert ana["outputs_ledger"]["drugs_crimes"]["after"]["crimes"] == (
        a_drugs["target"]["after"] + a_drugs["buffer"]["after"]
    )
    for aud in ("partner", "public"):
        res = _load(col_runs[aud])
        drugs = next(i for i in res["indicators"] if i["id"] == "drugs-crime")
        led = res["outputs_ledger"]["drugs_crimes"]["after"]
        if drugs["buffer"]["after"] is None:
            assert led["crimes"] is None and "crimes" in led["suppressed"]
            assert led.get("per_month") is None
