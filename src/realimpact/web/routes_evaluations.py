"""Evaluations (list, report, downloads, run from a plan), Gi* hot spots, the public page.

Every answer is made for the viewer's profile here, from the analyst
results kept by :class:`realimpact.web.evaluations.Shelf`: a partner or the
public can only receive ``safe_results`` of them, never the analyst file.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from realimpact._json import dumps
from realimpact.disclosure.profiles import get_profile
from realimpact.errors import ValidationError
from realimpact.web import data
from realimpact.web.access import Viewer, error, guarded
from realimpact.web.evaluations import PLAN_ID, Shelf, run_uploaded
from realimpact.web.render import page

#: the report's own policy: its styles are inline, it has no script and loads nothing
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none';"
    " form-action 'none'; frame-ancestors 'none'"
)


def shelf(request: Request) -> Shelf:
    return request.app.state.evaluations


def _json(obj: object, status_code: int = 200, filename: str | None = None) -> Response:
    r = Response(dumps(obj), status_code=status_code, media_type="application/json")
    if filename:
        r.headers["content-disposition"] = f'attachment; filename="{filename}"'
    return r


def _plan_id(request: Request) -> str | None:
    pid = request.path_params["plan_id"]
    return pid if PLAN_ID.match(pid) and shelf(request).exists(pid) else None


# -- evaluations ------------------------------------------------------------


@guarded("member", audit="view")
async def evaluations_page(request: Request, viewer: Viewer) -> Response:
    items = await run_in_threadpool(shelf(request).summaries, viewer.profile)
    return page(request, viewer, "evaluations.html", items=items, outcome=None)


@guarded("member", audit="export")
async def api_evaluations(request: Request, viewer: Viewer) -> Response:
    items = await run_in_threadpool(shelf(request).summaries, viewer.profile)
    return _json({"audience": viewer.audience, "evaluations": items})


@guarded("member", audit="export")
async def api_evaluation(request: Request, viewer: Viewer) -> Response:
    pid = _plan_id(request)
    if pid is None:
        return error(request, 404, "no such evaluation")
    return _json(await run_in_threadpool(shelf(request).for_profile, pid, viewer.profile))


@guarded("member", audit="view")
async def evaluation_report(request: Request, viewer: Viewer) -> Response:
    pid = _plan_id(request)
    if pid is None:
        return error(request, 404, "no such evaluation")
    html = await run_in_threadpool(shelf(request).report_html, pid, viewer.profile)
    r = Response(html, media_type="text/html; charset=utf-8")
    r.headers["content-security-policy"] = REPORT_CSP
    return r


@guarded("member", audit="export")
async def evaluation_download(request: Request, viewer: Viewer) -> Response:
    pid = _plan_id(request)
    if pid is None:
        return error(request, 404, "no such evaluation")
    what = request.path_params["file"]
    sh = shelf(request)
    suffix = "" if viewer.audience == "analyst" else f"-{viewer.audience}"
    if what == "results.json":
        body = await run_in_threadpool(sh.for_profile, pid, viewer.profile)
        return _json(body, filename=f"{pid}{suffix}-results.json")
    if what == "report.html":
        html = await run_in_threadpool(sh.report_html, pid, viewer.profile)
        r = Response(html, media_type="text/html; charset=utf-8")
        r.headers["content-security-policy"] = REPORT_CSP
    elif what == "report.pdf":
        pdf = await run_in_threadpool(sh.report_pdf, pid, viewer.profile)  # InputError -> 400
        r = Response(pdf, media_type="application/pdf")
    else:
        return error(request, 404, "no such file")
    r.headers["content-disposition"] = f'attachment; filename="{pid}{suffix}-{what}"'
    return r


@guarded("analyst", audit="export")
async def evaluation_run(request: Request, viewer: Viewer) -> Response:
    """Run an evaluation from an uploaded plan: validated first, its problems shown."""
    form = await request.form()
    upload = form.get("plan")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise ValidationError("choose a plan YAML file", source="plan")
    plan_bytes = await upload.read()
    attachments = {}
    for f in form.getlist("data"):
        if isinstance(f, UploadFile) and f.filename:
            attachments[f.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]] = await f.read()
    outcome = await request.app.state.db.run(run_uploaded, upload.filename, plan_bytes, attachments)
    if not outcome["valid"]:
        items = await run_in_threadpool(shelf(request).summaries, viewer.profile)
        return page(request, viewer, "evaluations.html", status_code=422, items=items,
                    outcome=outcome)  # fmt: skip
    pid = await run_in_threadpool(shelf(request).save, outcome["results"])
    return RedirectResponse(f"/evaluations/{pid}", status_code=303)


# -- hot spots --------------------------------------------------------------


def gi_params(request: Request) -> dict[str, str | None]:
    q = request.query_params
    return {
        "layer": q.get("layer") or "lsoa",
        "period_from": q.get("period-from") or None,
        "period_to": q.get("period-to") or None,
        "weights": q.get("weights") or None,
    }


@guarded("member", audit="export")
async def api_hotspots_gi(request: Request, viewer: Viewer) -> Response:
    return _json(await request.app.state.db.run(data.hotspots_gi, viewer.profile,
                                                **gi_params(request)))  # fmt: skip


@guarded("member", audit="view")
async def hotspots_page(request: Request, viewer: Viewer) -> Response:
    params = gi_params(request)
    layers = await request.app.state.db.run(data.layer_names)
    result = None
    if request.query_params.get("run"):
        result = await request.app.state.db.run(data.hotspots_gi, viewer.profile, **params)
    return page(request, viewer, "hotspots.html", params=params, layers=layers, result=result)


# -- the public page ---------------------------------------------------------


@guarded("public", audit="view")
async def public(request: Request, viewer: Viewer) -> Response:
    """'You said, we did', always under the public profile, whoever is signed in."""
    sh = shelf(request)
    prof = get_profile("public")

    def build() -> list[dict]:
        return [sh.public_summary(pid, prof) for pid in sh.ids()]

    items = await run_in_threadpool(build)
    return page(request, viewer, "public.html", items=items)


@guarded("public", audit="view")
async def public_map(request: Request, viewer: Viewer) -> Response:
    pid = _plan_id(request)
    svg = (
        await run_in_threadpool(shelf(request).map_svg, pid, get_profile("public")) if pid else None
    )
    if svg is None:
        return error(request, 404, "no map")
    r = Response(svg, media_type="image/svg+xml")
    r.headers["content-security-policy"] = REPORT_CSP
    return r


routes = [
    Route("/evaluations", evaluations_page, methods=["GET"]),
    Route("/evaluations", evaluation_run, methods=["POST"]),
    Route("/evaluations/{plan_id}", evaluation_report, methods=["GET"]),
    Route("/evaluations/{plan_id}/{file}", evaluation_download, methods=["GET"]),
    Route("/api/evaluations", api_evaluations, methods=["GET"]),
    Route("/api/evaluations/{plan_id}", api_evaluation, methods=["GET"]),
    Route("/hotspots", hotspots_page, methods=["GET"]),
    Route("/api/hotspots/gi", api_hotspots_gi, methods=["GET"]),
    Route("/public", public, methods=["GET"]),
    Route("/public/{plan_id}/map.svg", public_map, methods=["GET"]),
]
