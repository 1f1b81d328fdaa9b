"""Pages: dashboard, harm index table, map, audit log (the public page: routes_evaluations)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realimpact.web import data
from realimpact.web.access import Viewer, guarded
from realimpact.web.render import page

#: rows a page shows at most; the API and exports give all of them
PAGE_ROWS = 500


def harm_params(request: Request) -> dict[str, str | None]:
    q = request.query_params
    return {
        "layer": q.get("layer") or "lsoa",
        "period": q.get("period") or "month",
        "weights": q.get("weights") or "cchi",
        "force": q.get("force") or None,
    }


@guarded("member", audit="view")
async def dashboard(request: Request, viewer: Viewer) -> Response:
    status = await request.app.state.db.run(data.status, viewer.profile)
    return page(request, viewer, "dashboard.html", status=status)


@guarded("member", audit="view")
async def harm(request: Request, viewer: Viewer) -> Response:
    from realimpact.harm.weights import CRIME_TYPES  # per-type columns: too wide for a page

    params = harm_params(request)
    db = request.app.state.db
    index = await db.run(data.harm_index, viewer.profile, **params)
    layers = await db.run(data.layer_names)
    shown = index["rows"][:PAGE_ROWS]
    wide = set(CRIME_TYPES)
    columns = [c for c in (shown[0] if shown else {}) if c not in wide]
    return page(request, viewer, "harm.html", index=index, shown=shown, columns=columns,
                params=params, layers=layers)  # fmt: skip


@guarded("member")
async def map_page(request: Request, viewer: Viewer) -> Response:
    layers = await request.app.state.db.run(data.layer_names)
    layer = request.query_params.get("layer") or "lsoa"
    return page(request, viewer, "map.html", layer=layer, layers=layers)


@guarded("admin", audit="view")
async def audit(request: Request, viewer: Viewer) -> Response:
    log = await request.app.state.db.run(data.audit_log)
    return page(request, viewer, "audit.html", rows=log["rows"])


routes = [
    Route("/", dashboard, methods=["GET"]),
    Route("/harm", harm, methods=["GET"]),
    Route("/map", map_page, methods=["GET"]),
    Route("/audit", audit, methods=["GET"]),
]
