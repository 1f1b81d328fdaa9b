"""The app factory of `realimpact serve`.

Starlette (small, well kept, the core FastAPI is built on; no request models
needed here) with Jinja2 pages, HTMX and MapLibre GL JS shipped in
``static/vendor``. One process, holding the store open as its single writer.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from importlib.resources import files

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from realimpact.web import routes_api, routes_auth, routes_evaluations, routes_views
from realimpact.web.db import WebStore
from realimpact.web.evaluations import Shelf
from realimpact.web.security import LoginThrottle, SecurityHeaders, Signer


def create_app(
    store_path: str | os.PathLike | None, *, public_page: bool = True,
    throttle: LoginThrottle | None = None,
) -> Starlette:  # fmt: skip
    """The web app on the store at ``store_path`` (which must exist).

    ``public_page=False`` switches the no-login public page off (404).
    ``throttle`` replaces the login rate limiter (tests pass one with a clock).
    """
    from realimpact.store import web as store_web

    db = WebStore(store_path)
    static = StaticFiles(directory=str(files("realimpact.web") / "static"))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            db.close()

    app = Starlette(
        routes=[
            *routes_auth.routes,
            *routes_views.routes,
            *routes_api.routes,
            *routes_evaluations.routes,
            Mount("/static", app=static, name="static"),
        ],
        middleware=[Middleware(SecurityHeaders)],
        lifespan=lifespan,
    )
    app.state.db = db
    app.state.public_page = public_page
    # finished evaluations: <store>.evaluations/<plan_id>/results.json (web/evaluations.py)
    app.state.evaluations = Shelf(db.store.path)
    app.state.signer = Signer(db.call(store_web.signing_secret))
    app.state.throttle = throttle or LoginThrottle()
    return app
