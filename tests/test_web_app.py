"""`realimpact serve` in process (Starlette TestClient): every route for every role."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from realimpact.web.accounts import add_user
from realimpact.web.app import create_app
from realimpact.web.security import LoginThrottle
from tests.conftest import DATA, POLICE_UK

STREET = sorted((POLICE_UK / "city_of_london" / "street").glob("*.csv"))[:6]
BOUNDARY = DATA / "boundaries" / "london_lsoa_2011" / "E09000001.geojson"
EVIL = "<script>alert('x')</script> 001A"
PASSWORDS = {"ann": "analyst-pw", "pat": "partner-pw", "adm": "admin-pw"}
ROLES = {"ann": "analyst", "pat": "partner", "adm": "admin"}

PAGES = ["/", "/harm", "/map"]
API = ["/api/status", "/api/harm-index", "/api/areas?layer=lsoa", "/api/me"]
ANALYST_ONLY = ["/api/quarantine"]
ADMIN_ONLY = ["/audit", "/api/audit"]


@pytest.fixture(scope="module")
def web_store(tmp_path_factory) -> Path:
    """City of London, six months, its LSOA boundaries with a script in one name; 3 accounts."""
    from realimpact.geo.areas import ingest_boundaries
    from realimpact.sources.police_uk import ingest_police_uk

    base = tmp_path_factory.mktemp("web")
    store = base / "web.duckdb"
    gj = json.loads(BOUNDARY.read_text())
    gj["features"][0]["properties"]["LSOA11NM"] = EVIL
    bounds = base / "city.geojson"
    bounds.write_text(json.dumps(gj))
    ingest_police_uk(STREET, store=store)
    ingest_boundaries(bounds, store, layer="lsoa", id_field="LSOA11CD", name_field="LSOA11NM")
    for name, pw in PASSWORDS.items():
        add_user(store, name, ROLES[name], pw)
    return store


@pytest.fixture(scope="module")
def web_app(web_store: Path):
    app = create_app(web_store)
    yield app
    app.state.db.close()


def _client(app) -> TestClient:
    return TestClient(app, follow_redirects=False)


def login(app, name: str, password: str | None = None) -> TestClient:
    c = _client(app)
    token = c.get("/login").headers["x-csrf-token"]
    r = c.post("/login", data={"username": name, "password": password or PASSWORDS[name],
                               "csrf": token})  # fmt: skip
    assert r.status_code == 303, r.text
    return c


def test_healthz_and_login_open_to_anyone(web_app) -> None:
    c = _client(web_app)
    assert c.get("/healthz").json() == {"ok": True}
    r = c.get("/login")
    assert r.status_code == 200 and 'name="username"' in r.text and 'name="password"' in r.text
    token = r.headers["x-csrf-token"]
    assert f'value="{token}"' in r.text  # the form carries the same token scripts read


@pytest.mark.parametrize("path", PAGES + ADMIN_ONLY[:1])
def test_pages_redirect_to_login_without_a_session(web_app, path: str) -> None:
    r = _client(web_app).get(path)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("path", API + ANALYST_ONLY + ADMIN_ONLY[1:])
def test_api_is_401_without_a_session(web_app, path: str) -> None:
    r = _client(web_app).get(path)
    assert r.status_code == 401 and "error" in r.json()


@pytest.mark.parametrize("user", ["ann", "pat", "adm"])
def test_members_reach_pages_and_api(web_app, user: str) -> None:
    c = login(web_app, user)
    for path in PAGES + API:
        r = c.get(path)
        assert r.status_code == 200, (user, path, r.text[:200])
    me = c.get("/api/me").json()
    assert me["role"] == ROLES[user]
    assert (
        me["audience"]
        == {"analyst": "analyst", "admin": "analyst", "partner": "partner"}[ROLES[user]]
    )


def test_partner_cannot_reach_analyst_or_admin_routes(web_app) -> None:
    c = login(web_app, "pat")
    for path in ANALYST_ONLY + ADMIN_ONLY:
        assert c.get(path).status_code == 403, path
    a = login(web_app, "ann")
    assert a.get("/api/quarantine").status_code == 200
    for path in ADMIN_ONLY:
        assert a.get(path).status_code == 403, path
    adm = login(web_app, "adm")
    for path in ADMIN_ONLY + ANALYST_ONLY:
        assert adm.get(path).status_code == 200, path


def test_partner_never_gets_analyst_values(web_app) -> None:
    full = login(web_app, "ann").get("/api/harm-index").json()
    shared = login(web_app, "pat").get("/api/harm-index").json()
    assert full["audience"] == "analyst" and shared["audience"] == "partner"
    small = {(r["area_id"], r["period"]): r["count"] for r in full["rows"] if 0 < r["count"] < 5}
    assert small, "the test store must have small counts to hide"
    by_key = {(r["area_id"], r["period"]): r for r in shared["rows"]}
    assert set(small) & set(by_key)
    for key, n in small.items():
        if key in by_key:  # withheld, or a stand-in: never the analyst's count
            got = by_key[key]["count"]
            assert got is None or got >= 5, by_key[key]
            assert got != n
    types = set(full["crime_types"])
    assert not any(types & set(r) for r in shared["rows"])  # no per-type counts
    assert any(types & set(r) for r in full["rows"])
    # the HTML table is the same frame
    page = login(web_app, "pat").get("/harm").text
    assert "partner view" in page and "Anti-social behaviour</th>" not in page
    # status: no file paths or store location for partners
    st = login(web_app, "pat").get("/api/status").json()
    assert "source_files" not in st and "store" not in st and st["tables"]["crimes"]["rows"] > 0
    assert "source_files" in login(web_app, "ann").get("/api/status").json()


def test_bad_parameters_are_400(web_app) -> None:
    r = login(web_app, "ann").get("/api/harm-index?period=fortnight")
    assert r.status_code == 400 and "fortnight" in r.json()["error"]


def test_script_in_area_name_is_escaped(web_app) -> None:
    c = login(web_app, "ann")
    page = c.get("/harm?period=all").text
    assert "&lt;script&gt;alert(" in page
    assert "<script>alert(" not in page
    areas = c.get("/api/areas?layer=lsoa")
    assert areas.headers["content-type"].startswith("application/json")
    assert EVIL in [f["properties"]["name"] for f in areas.json()["features"]]


def test_post_without_csrf_is_403(web_app) -> None:
    c = _client(web_app)
    c.get("/login")  # has the cookie, not the token
    r = c.post("/login", data={"username": "ann", "password": PASSWORDS["ann"]})
    assert r.status_code == 403
    r = c.post("/login", data={"username": "ann", "password": PASSWORDS["ann"], "csrf": "0" * 64})
    assert r.status_code == 403
    fresh = _client(web_app)  # no cookie at all
    token = c.get("/login").headers["x-csrf-token"]
    assert (
        fresh.post("/login", data={"username": "ann", "password": "x", "csrf": token}).status_code
        == 403
    )
    # a logged-in session cannot log out without the token either; with it, it can
    s = login(web_app, "ann")
    assert s.post("/logout").status_code == 403
    assert s.get("/api/me").status_code == 200
    token = s.get("/api/me").json()["csrf"]
    assert (
        s.post(
            "/logout", headers={"X-CSRF-Token": token, "Origin": "https://evil.example"}
        ).status_code
        == 403
    )
    r = s.post("/logout", headers={"X-CSRF-Token": token})
    assert r.status_code == 303
    assert s.get("/api/me").status_code == 401  # the session is over on the server


def test_session_cookie_attributes(web_app) -> None:
    c = _client(web_app)
    token = c.get("/login").headers["x-csrf-token"]
    r = c.post("/login", data={"username": "pat", "password": PASSWORDS["pat"], "csrf": token})
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("ri_session=")
    low = cookie.lower()
    assert "httponly" in low and "samesite=strict" in low and "max-age=28800" in low
    # a forged or tampered cookie is no session
    c.cookies.set("ri_session", c.cookies["ri_session"][:-2] + "xx")
    assert c.get("/api/me").status_code == 401


def test_wrong_password_is_401_and_audited(web_app) -> None:
    c = _client(web_app)
    token = c.get("/login").headers["x-csrf-token"]
    r = c.post("/login", data={"username": "ann", "password": "nope", "csrf": token})
    assert r.status_code == 401 and "Wrong user name or password" in r.text
    rows = login(web_app, "adm").get("/api/audit").json()["rows"]
    assert any(x["action"] == "login_failed" and x["user"] == "ann" for x in rows)


def test_views_and_exports_are_audited(web_app) -> None:
    login(web_app, "pat").get("/api/harm-index?layer=lsoa&period=year")
    rows = login(web_app, "adm").get("/api/audit").json()["rows"]
    hit = [x for x in rows if x["object"] == "/api/harm-index?layer=lsoa&period=year"]
    assert hit and hit[0]["user"] == "pat" and hit[0]["action"] == "export"
    assert hit[0]["audience"] == "partner" and hit[0]["remote"]


def test_login_is_throttled(web_store: Path) -> None:
    now = [1000.0]
    app = create_app(web_store, throttle=LoginThrottle(clock=lambda: now[0]))
    try:
        c = _client(app)
        token = c.get("/login").headers["x-csrf-token"]

        def attempt(name: str, pw: str):
            return c.post("/login", data={"username": name, "password": pw, "csrf": token})

        for _ in range(5):
            assert attempt("pat", "guess").status_code == 401
        r = attempt("pat", PASSWORDS["pat"])  # even the right password waits
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 300
        now[0] += 301
        assert attempt("pat", PASSWORDS["pat"]).status_code == 303
        # per address: five different names from one address
        for i in range(5):
            attempt(f"nobody{i}", "guess")
        assert attempt("ann", PASSWORDS["ann"]).status_code == 429
    finally:
        app.state.db.close()


@pytest.mark.parametrize("path", ["/healthz", "/login", "/api/status", "/", "/static/app.css",
                                  "/nowhere"])  # fmt: skip
def test_security_headers_on_every_response(web_app, path: str) -> None:
    r = _client(web_app).get(path)
    h = r.headers
    assert h["content-security-policy"].startswith("default-src 'self'")
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    assert h["x-frame-options"] == "DENY"


def test_pages_have_no_inline_script_and_no_other_host(web_app) -> None:
    import re

    c = login(web_app, "ann")
    for path in [*PAGES, "/login", "/public"]:
        html = c.get(path).text
        for m in re.finditer(r"<script([^>]*)>(.*?)</script>", html, re.S):
            assert 'src="/static/' in m.group(1) and not m.group(2).strip(), (path, m.group(0))
        assert "http://" not in html and "https://" not in html, path


def test_public_page_and_its_switch(web_store: Path, web_app) -> None:
    r = _client(web_app).get("/public")
    assert r.status_code == 200 and "You said, we did" in r.text
    off = create_app(web_store, public_page=False)
    try:
        assert _client(off).get("/public").status_code == 404
    finally:
        off.state.db.close()


def test_removed_user_is_logged_out(web_store: Path) -> None:
    from realimpact.web.accounts import remove_user

    add_user(web_store, "tmp", "partner", "tmp-pw")
    app = create_app(web_store)
    try:
        c = login(app, "tmp", "tmp-pw")
        assert c.get("/api/me").status_code == 200
        remove_user(app.state.db.store, "tmp")
        assert c.get("/api/me").status_code == 401
    finally:
        app.state.db.close()


def test_every_route_goes_through_the_guard(web_app) -> None:
    """The one place: a route added without `guarded` would skip role and audience."""
    from starlette.routing import Mount, Route

    for route in web_app.routes:
        if isinstance(route, Mount):
            assert route.path == "/static"
            continue
        assert isinstance(route, Route)
        assert getattr(route.endpoint, "realimpact_level", None), route.path


def test_vendored_assets_are_served(web_app) -> None:
    c = _client(web_app)
    for path in ["/static/vendor/htmx/htmx.min.js", "/static/vendor/maplibre-gl/maplibre-gl-csp.js",
                 "/static/vendor/maplibre-gl/maplibre-gl-csp-worker.js",
                 "/static/vendor/maplibre-gl/maplibre-gl.css", "/static/map.js"]:  # fmt: skip
        assert c.get(path).status_code == 200, path
