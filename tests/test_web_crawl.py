"""Crawl the web app as a partner and as the public: nothing their profile withholds leaks.

The demo city (store, plan, the analyst's results) is served; the crawler
follows every link, script, image and map data source from ``/`` and
``/public``, then calls every ``/api/*`` route with its documented
parameters. Each response is checked against what the analyst gets of the
same run:

* no figure the partner/public version of the evaluation withholds (its
  distinctive estimates, in JSON or in the report's wording), no Gi* z or p;
* no small count of the harm index where the shared version blanks it;
* no point coordinates of a record (lon/lat pairs from the police.uk files);
* no 64-hex id (pseudonymous ids, police.uk Crime IDs) but the viewer's own
  CSRF token;
* no file path of the store or its source files.
"""

from __future__ import annotations

import csv
import html
import json
import re
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from realimpact.web.app import create_app
from tests.test_web_evaluations import PLAN_ID, DemoCity, demo_city, login  # noqa: F401

LINK = re.compile(r'(?:href|src|action|data-geojson|data-classes)="([^"]+)"')
HEX64 = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")
PAIR = re.compile(r"(-?\d{1,3}\.\d{3,})\s*,\s*(-?\d{1,3}\.\d{3,})")
API = [
    "/api/status",
    "/api/me",
    "/api/areas?layer=lsoa",
    "/api/harm-index",
    "/api/harm-index?layer=lsoa&period=quarter&weights=cchi",
    "/api/harm-index?period=year&weights=count",
    "/api/evaluations",
    f"/api/evaluations/{PLAN_ID}",
    "/api/hotspots/gi?layer=lsoa",
    "/api/hotspots/gi?layer=lsoa&period-from=2023-01&period-to=2023-12&weights=cchi",
]
EXTRA_PAGES = ["/hotspots?run=1&layer=lsoa", "/harm?period=quarter"]


@pytest.fixture(scope="module")
def served(demo_city: DemoCity):  # noqa: F811
    app = create_app(demo_city.store)
    app.state.evaluations.import_file(demo_city.results)
    yield app
    app.state.db.close()


def _walk(full: Any, shared: Any, path: str, out: list[tuple[str, float]]) -> None:
    """Analyst numbers whose place in the shared version is empty (withheld or dropped)."""
    if isinstance(full, dict):
        for k, v in full.items():
            if isinstance(shared, dict) and k in shared:
                _walk(v, shared[k], f"{path}.{k}", out)
            elif isinstance(v, int | float) and not isinstance(v, bool):
                out.append((f"{path}.{k}", float(v)))
    elif isinstance(full, list) and isinstance(shared, list) and len(full) == len(shared):
        for i, (a, b) in enumerate(zip(full, shared, strict=True)):
            _walk(a, b, f"{path}[{i}]", out)
    elif isinstance(full, int | float) and not isinstance(full, bool) and shared is None:
        out.append((path, float(full)))


def _numbers(o: Any) -> set[str]:
    if isinstance(o, dict):
        return set().union(*(_numbers(v) for v in o.values())) if o else set()
    if isinstance(o, list):
        return set().union(*(_numbers(v) for v in o)) if o else set()
    if isinstance(o, float):
        return {json.dumps(o)}
    return set()


def _distinctive(values: list[tuple[str, float]], shared: Any) -> set[str]:
    """Withheld estimates as JSON writes them: non-integers of 6+ significant characters
    that the shared version does not publish elsewhere (a WDD's dispersion is shown
    with its indicator though withheld in the net harm by crime type; 9/14 is a rate
    in one place and a share in another)."""
    out = set()
    for _, v in values:
        s = json.dumps(v)
        if v != int(v) and len(s.lstrip("-0.")) >= 6:
            out.add(s)
    return out - _numbers(shared)


def _report_fragments(full: dict, shared: dict, audience: str) -> set[str]:
    """'rate ratio X, 95% CI Y-Z' of every verdict the shared report does not show."""
    from realimpact.report.render import build_view

    a = {g["id"]: g["line"] for g in build_view(full, "analyst", 5)["glance"]}
    thr = int(shared.get("suppression_threshold") or 5)
    s = {g["id"]: g["line"] for g in build_view(shared, audience, thr)["glance"]}
    out = set()
    for iid, line in s.items():
        if "not shown" in line and iid in a:
            m = re.search(r"rate ratio [0-9.]+, 95% CI [0-9.]+–[0-9.]+", a[iid])
            if m:
                out.add(m.group(0))
    return out


def _record_pairs(data_dir: Path) -> set[tuple[float, float]]:
    pairs = set()
    for f in sorted((data_dir / "street").rglob("*.csv")):
        with f.open(newline="") as fh:
            for row in csv.DictReader(fh):
                if row["Longitude"] and row["Latitude"]:
                    pairs.add((round(float(row["Longitude"]), 5), round(float(row["Latitude"]), 5)))
    return pairs


def _crawl(c: TestClient, starts: list[str]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    todo = deque(starts)
    while todo:
        url = todo.popleft()
        if url in seen:
            continue
        r = c.get(url)
        seen[url] = r
        ctype = r.headers.get("content-type", "")
        if r.status_code != 200 or "html" not in ctype:
            continue
        for raw in LINK.findall(r.text):
            link = html.unescape(raw).split("#", 1)[0]
            parts = urlsplit(link)
            if not link.startswith("/") or link.startswith("//") or parts.netloc:
                continue
            if link.startswith("/static/vendor/") or link == "/logout" or link.endswith(".pdf"):
                continue  # third-party files; the POST-only logout; a PDF is checked elsewhere
            if link not in seen:
                todo.append(link)
    return seen


@pytest.fixture(scope="module")
def reference(served, demo_city: DemoCity) -> dict[str, Any]:  # noqa: F811
    ann = login(served, "ann")
    full_eval = ann.get(f"/api/evaluations/{PLAN_ID}").json()
    full_gi = ann.get("/api/hotspots/gi?layer=lsoa").json()
    full_harm = {
        p: ann.get("/api/harm-index", params={"period": p}).json() for p in ("month", "quarter")
    }
    return {
        "eval": full_eval,
        "gi": full_gi,
        "harm": full_harm,
        "pairs": _record_pairs(demo_city.out / "data"),
        "paths": {str(demo_city.out), str(demo_city.store), demo_city.out.name},
    }


def _check(url: str, text: str, forbidden: set[str], ref: dict, csrf_token: str) -> list[str]:
    bad = []
    for s in forbidden:
        if s in text:
            bad.append(f"{url}: withheld value {s}")
    for h in HEX64.findall(text):
        if h.lower() != csrf_token.lower():
            bad.append(f"{url}: 64-hex id {h[:12]}...")
    for p in ref["paths"]:
        if p in text:
            bad.append(f"{url}: file path {p}")
    for lon, lat in PAIR.findall(text):
        if (round(float(lon), 5), round(float(lat), 5)) in ref["pairs"]:
            bad.append(f"{url}: record coordinates {lon},{lat}")
    return bad


@pytest.mark.parametrize("who", ["pat", None])
def test_crawl_finds_nothing_the_profile_withholds(served, reference, who: str | None) -> None:
    audience = "partner" if who else "public"
    c = login(served, who) if who else TestClient(served, follow_redirects=False)
    # the viewer's own CSRF token is the one 64-hex string a page may carry
    token = c.get("/api/me").json()["csrf"] if who else c.get("/login").headers["x-csrf-token"]
    shared_eval = c.get(f"/api/evaluations/{PLAN_ID}")
    if who is None:
        assert shared_eval.status_code == 401
        from realimpact.disclosure.profiles import get_profile

        shared = served.state.evaluations.for_profile(PLAN_ID, get_profile("public"))
    else:
        shared = shared_eval.json()
        assert shared["audience"] == "partner"
    withheld: list[tuple[str, float]] = []
    _walk(reference["eval"], shared, "$", withheld)
    assert withheld, "the demo evaluation must have figures the shared version withholds"
    forbidden = _distinctive(withheld, shared) | _report_fragments(
        reference["eval"], shared, audience
    )
    forbidden |= {json.dumps(float(r[k])) for r in reference["gi"]["rows"]
                  for k in ("gi_z", "p_norm") if r.get(k) is not None}  # fmt: skip
    assert len(forbidden) > 20

    starts = ["/", "/public"] + (API + EXTRA_PAGES if who else [])
    seen = _crawl(c, starts)
    problems = []
    for url, r in seen.items():
        if who:  # a partner reaches every page linked for them
            if r.status_code != 200:
                problems.append(f"{url}: HTTP {r.status_code}")
        else:  # the public reaches the public page and its links, nothing else
            public_ok = url.startswith(("/public", "/login", "/static/"))
            if public_ok and r.status_code != 200:
                problems.append(f"{url}: HTTP {r.status_code}")
            if not public_ok and r.status_code not in (303, 401):
                problems.append(f"{url}: public got HTTP {r.status_code}")
        problems += _check(url, r.text, forbidden, reference, token)
    assert problems == []
    visited = set(seen)
    if who:
        for must in ("/evaluations", f"/evaluations/{PLAN_ID}",
                     f"/evaluations/{PLAN_ID}/results.json", "/hotspots", "/map?layer=lsoa"):  # fmt: skip
            assert must in visited, must
        # harm index: the analyst's small counts are blank in every shared row
        for period, full in reference["harm"].items():
            shared_rows = c.get("/api/harm-index", params={"period": period}).json()["rows"]
            small = {(r["area_id"], r["period"]) for r in full["rows"] if 0 < r["count"] < 5}
            got = {(r["area_id"], r["period"]): r["count"] for r in shared_rows}
            leaked = [k for k in small if k in got and got[k] is not None and got[k] < 5]
            assert leaked == []
    else:
        assert f"/public/{PLAN_ID}/map.svg" in visited
        assert "/" in visited and seen["/"].status_code == 303  # no login: no dashboard
    # every API route answered (401 for the public), none with analyst values
    for url in API:
        r = c.get(url)
        assert r.status_code == (200 if who else 401), (url, r.text[:200])
        if who and url.startswith("/api/evaluations/"):
            assert r.json()["audience"] == audience
