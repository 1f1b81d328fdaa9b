"""The one place where a request becomes a viewer: role, audience profile, checks, audit.

Every route of the app is declared through :func:`guarded` (checked by
tests/test_web_security.py), which, before the route's code runs:

1. resolves the session cookie to an account and its role (or anonymous);
2. maps the role to a disclosure profile: analyst and admin -> ``analyst``,
   partner -> ``partner``, anonymous -> ``public`` (public pages only);
3. refuses the request when the route's level does not admit the viewer
   (``/api/*`` 401 JSON without a session, pages a redirect to the login
   form; 403 for a signed-in role below the level);
4. checks the CSRF token of every POST (403 without it);

and after it, records the view or export in the audit log. Route code gets the
:class:`Viewer` and passes ``viewer.profile`` to :mod:`.data`, whose every
function takes the profile as a required argument: templates never decide
what an audience may see, and data a profile withholds never leaves the
server.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from realimpact.disclosure.profiles import Profile, get_profile
from realimpact.errors import InputError
from realimpact.web import security

#: the disclosure audience each role reads under
AUDIENCE_OF_ROLE = {"analyst": "analyst", "admin": "analyst", "partner": "partner"}
ANONYMOUS = "anonymous"

#: route levels, from the most open: who each admits
LEVELS: dict[str, frozenset[str]] = {
    "open": frozenset({ANONYMOUS, "partner", "analyst", "admin"}),  # login, health
    "public": frozenset({ANONYMOUS, "partner", "analyst", "admin"}),  # if public_page
    "member": frozenset({"partner", "analyst", "admin"}),
    "analyst": frozenset({"analyst", "admin"}),
    "admin": frozenset({"admin"}),
}


@dataclass(frozen=True)
class Viewer:
    """Who is asking, and under which disclosure profile everything they get is made."""

    user: str | None
    role: str
    profile: Profile
    csrf_cookie: str
    csrf_token: str
    new_csrf: bool  # the cookie is set on this response

    @property
    def audience(self) -> str:
        return self.profile.name

    @property
    def signed_in(self) -> bool:
        return self.user is not None


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def resolve_viewer(request: Request) -> Viewer:
    from realimpact.store import web as store_web
    from realimpact.web.accounts import token_hash

    state = request.app.state
    signer: security.Signer = state.signer
    user = None
    raw = request.cookies.get(security.SESSION_COOKIE)
    token = signer.unsign_session(raw) if raw else None
    if token:
        user = await state.db.run(store_web.session_user, token_hash(token))
    csrf_cookie = request.cookies.get(security.CSRF_COOKIE)
    new_csrf = not csrf_cookie or len(csrf_cookie) > 100
    if new_csrf:
        csrf_cookie = security.new_csrf_cookie()
    role = user["role"] if user else ANONYMOUS
    audience = AUDIENCE_OF_ROLE.get(role, "public")
    return Viewer(
        user=user["name"] if user else None,
        role=role,
        profile=get_profile(audience),
        csrf_cookie=csrf_cookie,
        csrf_token=signer.csrf_token(csrf_cookie),
        new_csrf=new_csrf,
    )


def _same_origin(request: Request) -> bool:
    """A POST naming another origin is refused even with a token (defence in depth)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        # browsers send "null" for a form under Referrer-Policy: no-referrer; the token decides
        return True
    return origin.rstrip("/") == f"{request.url.scheme}://{request.url.netloc}"


async def _csrf_ok(request: Request, viewer: Viewer) -> bool:
    if viewer.new_csrf or not _same_origin(request):
        return False
    token = request.headers.get(security.CSRF_HEADER)
    if token is None:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(security.CSRF_FIELD)
            token = value if isinstance(value, str) else None
    return request.app.state.signer.csrf_ok(viewer.csrf_cookie, token)


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def error(request: Request, status: int, message: str) -> Response:
    """An error as JSON for /api/*, as plain text for pages (no template: nothing to escape)."""
    if is_api(request):
        return JSONResponse({"error": message}, status_code=status)
    return PlainTextResponse(message, status_code=status)


def set_csrf_cookie(response: Response, request: Request, viewer: Viewer) -> None:
    if viewer.new_csrf:
        response.set_cookie(
            security.CSRF_COOKIE,
            viewer.csrf_cookie,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )


Endpoint = Callable[[Request, Viewer], Awaitable[Response]]


def guarded(level: str, *, audit: str | None = None) -> Callable[[Endpoint], Callable]:
    """Declare a route's level (:data:`LEVELS`) and whether a success is audited
    (``"view"`` or ``"export"``)."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")

    def wrap(fn: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(fn)
        async def endpoint(request: Request) -> Response:
            from realimpact.store import web as store_web

            viewer = await resolve_viewer(request)
            if level == "public" and not request.app.state.public_page:
                return error(request, 404, "Not Found")
            if request.method not in ("GET", "HEAD") and not await _csrf_ok(request, viewer):
                response = error(request, 403, "CSRF token missing or wrong; reload the form")
                set_csrf_cookie(response, request, viewer)
                return response
            if viewer.role not in LEVELS[level]:
                if viewer.signed_in:
                    return error(request, 403, "your role may not open this page")
                if is_api(request):
                    return error(request, 401, "log in first (POST /login)")
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response = RedirectResponse(f"/login?next={quote(target)}", status_code=303)
                set_csrf_cookie(response, request, viewer)
                return response
            try:
                response = await fn(request, viewer)
            except InputError as e:
                response = error(request, 400, str(e))
            if audit and response.status_code < 400:
                await request.app.state.db.run(
                    store_web.add_audit,
                    user=viewer.user,
                    role=viewer.role,
                    action=audit,
                    obj=_object(request),
                    audience=viewer.audience,
                    remote=client_address(request),
                )
            set_csrf_cookie(response, request, viewer)
            return response

        endpoint.realimpact_level = level  # type: ignore[attr-defined]
        return endpoint

    return wrap


def _object(request: Request) -> str:
    """What was viewed: the path and its parameters, in a stable order."""
    params = sorted(request.query_params.multi_items())
    q = "&".join(f"{k}={v}" for k, v in params)
    return request.url.path + (f"?{q}" if q else "")


def audit_event(request: Request, viewer: Viewer | None, action: str, user: str | None,
                role: str | None) -> Any:  # fmt: skip
    """Record a login, failed login or logout (awaitable)."""
    from realimpact.store import web as store_web

    return request.app.state.db.run(
        store_web.add_audit,
        user=user,
        role=role,
        action=action,
        obj=request.url.path,
        audience=AUDIENCE_OF_ROLE.get(role or ""),
        remote=client_address(request),
    )
