"""Health, login and logout: the routes open to anyone."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from realimpact.web import security
from realimpact.web.access import Viewer, audit_event, client_address, guarded
from realimpact.web.render import page


def _local(next_url: str | None) -> str:
    """Only a path on this server: a login link must not send a user elsewhere."""
    if next_url and next_url.startswith("/") and not next_url.startswith(("//", "/\\")):
        return next_url
    return "/"


@guarded("open")
async def healthz(request: Request, viewer: Viewer) -> Response:
    return JSONResponse({"ok": True})


def _login_form(request: Request, viewer: Viewer, *, status_code: int = 200, message: str = "",
                username: str = "", next_url: str = "/") -> Response:  # fmt: skip
    response = page(request, viewer, "login.html", status_code=status_code,
                    message=message, username=username, next=next_url)  # fmt: skip
    # for scripts: the token to send back as the `csrf` field or X-CSRF-Token header
    response.headers["X-CSRF-Token"] = viewer.csrf_token
    return response


@guarded("open")
async def login_form(request: Request, viewer: Viewer) -> Response:
    return _login_form(request, viewer, next_url=_local(request.query_params.get("next")))


@guarded("open")
async def login(request: Request, viewer: Viewer) -> Response:
    from realimpact.store import web as store_web
    from realimpact.web.accounts import check_login, new_token

    form = await request.form()
    name = str(form.get("username") or "")[:200]
    password = str(form.get("password") or "")
    next_url = _local(str(form.get("next") or ""))
    state = request.app.state
    keys = [f"user:{name.lower()}", f"addr:{client_address(request)}"]
    wait = state.throttle.retry_after(keys)
    if wait is not None:
        response = _login_form(request, viewer, status_code=429, username=name, next_url=next_url,
                               message=f"Too many failed logins; try again in {wait} s.")  # fmt: skip
        response.headers["Retry-After"] = str(wait)
        return response
    row = await state.db.run(store_web.get_user, name) if name else None
    account = await run_in_threadpool(check_login, row, password)
    if account is None:
        state.throttle.failed(keys)
        await audit_event(request, viewer, "login_failed", name or None, None)
        return _login_form(request, viewer, status_code=401, username=name, next_url=next_url,
                           message="Wrong user name or password.")  # fmt: skip
    state.throttle.succeeded(keys[0])
    token, hashed = new_token()
    await state.db.run(store_web.insert_session, hashed, account["name"], security.SESSION_SECONDS)
    await audit_event(request, viewer, "login", account["name"], account["role"])
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(
        security.SESSION_COOKIE,
        state.signer.sign_session(token),
        max_age=security.SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@guarded("member")
async def logout(request: Request, viewer: Viewer) -> Response:
    from realimpact.store import web as store_web
    from realimpact.web.accounts import token_hash

    raw = request.cookies.get(security.SESSION_COOKIE, "")
    token = request.app.state.signer.unsign_session(raw)
    if token:
        await request.app.state.db.run(store_web.end_session, token_hash(token))
    await audit_event(request, viewer, "logout", viewer.user, viewer.role)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(security.SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
