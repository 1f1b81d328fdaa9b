"""The JSON API under /api/: the same data as the pages, under the same profile.

Answers are realimpact's JSON (``realimpact._json``: no NaN), the shapes the
CLI's ``--json`` gives for the same question.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realimpact._json import dumps
from realimpact.web import data
from realimpact.web.access import Viewer, guarded
from realimpact.web.routes_views import harm_params


def json_response(obj: object, status_code: int = 200) -> Response:
    return Response(dumps(obj), status_code=status_code, media_type="application/json")


@guarded("member", audit="export")
async def api_status(request: Request, viewer: Viewer) -> Response:
    return json_response(await request.app.state.db.run(data.status, viewer.profile))


@guarded("member", audit="export")
async def api_harm_index(request: Request, viewer: Viewer) -> Response:
    index = await request.app.state.db.run(data.harm_index, viewer.profile, **harm_params(request))
    return json_response(index)


@guarded("member", audit="view")
async def api_areas(request: Request, viewer: Viewer) -> Response:
    layer = request.query_params.get("layer") or "lsoa"
    return json_response(await request.app.state.db.run(data.areas_geojson, viewer.profile, layer))


@guarded("analyst", audit="export")
async def api_quarantine(request: Request, viewer: Viewer) -> Response:
    return json_response(await request.app.state.db.run(data.quarantine, viewer.profile))


@guarded("admin", audit="export")
async def api_audit(request: Request, viewer: Viewer) -> Response:
    return json_response(await request.app.state.db.run(data.audit_log))


@guarded("member")
async def api_me(request: Request, viewer: Viewer) -> Response:
    return json_response({"user": viewer.user, "role": viewer.role, "audience": viewer.audience,
                          "csrf": viewer.csrf_token})  # fmt: skip


routes = [
    Route("/api/status", api_status, methods=["GET"]),
    Route("/api/harm-index", api_harm_index, methods=["GET"]),
    Route("/api/areas", api_areas, methods=["GET"]),
    Route("/api/quarantine", api_quarantine, methods=["GET"]),
    Route("/api/audit", api_audit, methods=["GET"]),
    Route("/api/me", api_me, methods=["GET"]),
]
