"""Write an evaluation's files: ``results.json``, ``report.html`` and, on request, ``report.pdf``.

The evaluation engine computes; this writes. The CLI and the demo call
:func:`write_evaluation` with ``EvaluationResult.to_dict()``, so every way of
running an evaluation leaves the same files, and a report is never missing
because one caller forgot to draw it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from realimpact._json import dumps
from realimpact.errors import InputError, ValidationError
from realimpact.report.pdf import find_chromium, html_to_pdf
from realimpact.report.render import render_report
from realimpact.report.safe import DEFAULT_THRESHOLD, check_audience, partner_results

__all__ = ["write_evaluation"]


def write_evaluation(
    result_dict: dict[str, Any],
    out_dir: str | os.PathLike,
    audience: str = "analyst",
    pdf: bool = False,
    extras: dict[str, Any] | None = None,
    *,
    threshold: int = DEFAULT_THRESHOLD,
) -> dict[str, str]:
    """Write ``results.json``, ``report.html`` (and ``report.pdf``) into ``out_dir``.

    Returns ``{"results": path, "report": path[, "pdf": path]}``. results.json
    is written atomically (a temporary file replaced into place), so a reader
    never sees half a file. For ``audience="partner"`` the results are first
    made partner-safe (:func:`realimpact.report.safe.partner_results`) unless
    they already are, so the JSON beside a partner report is as safe as the
    report. ``extras`` (a simulation's ``truth``, a ``map``) reach the report
    only, not results.json. With ``pdf=True`` a missing Chromium is reported
    before anything is written.
    """
    check_audience(audience)
    if not isinstance(result_dict, dict) or "indicators" not in result_dict:
        raise ValidationError(
            "results: not a results dict (no 'indicators'; see docs/architecture.md)"
        )
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("is a file; --out takes a folder", source=str(out))
    if pdf:
        find_chromium()  # no browser: say so before anything is written
    data = result_dict
    if audience == "partner" and result_dict.get("audience") != "partner":
        data = partner_results(result_dict, threshold) | {"suppressed_below": threshold}
    out.mkdir(parents=True, exist_ok=True)
    files = {"results": str(out / "results.json"), "report": str(out / "report.html")}
    if pdf:
        files["pdf"] = str(out / "report.pdf")
    body = dict(data)
    body["files"] = {**(data.get("files") or {}), **files}
    target = out / "results.json"
    tmp = out / f".results.json.{os.getpid()}.tmp"
    try:
        tmp.write_text(dumps(body) + "\n", "utf-8")
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    # render what was written; partner_results is applied again inside (it is idempotent)
    html = render_report(
        body,
        out / "report.html",
        audience=audience,
        threshold=threshold,
        extras=extras,
    )
    if pdf:
        html_to_pdf(html, out / "report.pdf")
    return files
