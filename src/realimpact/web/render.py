"""Templates: Jinja2 with autoescaping on, so every value a page shows is text, never markup.

Templates only lay out what a route hands them; they make no decision about
who may see what (that is :mod:`.access`).
"""

from __future__ import annotations

import functools
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse

from realimpact.web.access import Viewer
from realimpact.web.security import CSRF_FIELD


@functools.cache
def environment() -> Environment:
    # autoescape=True for every template, whatever its name: an area called
    # "<script>" is shown as text
    return Environment(
        loader=PackageLoader("realimpact.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def page(
    request: Request, viewer: Viewer, name: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    html = (
        environment()
        .get_template(name)
        .render(viewer=viewer, csrf_field=CSRF_FIELD, path=request.url.path, **context)
    )
    return HTMLResponse(html, status_code=status_code)
