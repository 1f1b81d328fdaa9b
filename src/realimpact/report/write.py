"""Write an evaluation's files: ``results.json``, ``report.html`` and, on request, ``report.pdf``.

The evaluation engine computes; this writes. The CLI and the demo call
:func:`write_evaluation` with ``EvaluationResult.to_dict()``, so every way of
running an evaluation leaves the same files, and a report is never missing
because one caller forgot to draw it. For a partner or public audience the
results are made safe first (:func:`realimpact.evaluation.sharing.safe_results`) and
the folder also gets ``manifest.json`` (:mod:`realimpact.disclosure.manifest`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from realimpact._json import write_json
from realimpact.disclosure.manifest import write_manifest
from realimpact.disclosure.profiles import AUDIENCES, Profile, check_audience, get_profile
from realimpact.errors import InputError, ValidationError
from realimpact.evaluation.sharing import safe_results
from realimpact.report.pdf import find_chromium, html_to_pdf
from realimpact.report.render import render_report

__all__ = ["write_evaluation"]


def write_evaluation(
    result_dict: dict[str, Any],
    out_dir: str | os.PathLike,
    audience: str = "analyst",
    pdf: bool = False,
    extras: dict[str, Any] | None = None,
    *,
    threshold: int | None = None,
    profile: Profile | None = None,
    config: str | os.PathLike | dict[str, Any] | None = None,
) -> dict[str, str]:
    """Write ``results.json``, ``report.html`` (and ``report.pdf``; ``manifest.json`` when shared).

    Returns ``{"results": path, "report": path[, "pdf": path][, "manifest": path]}``.
    results.json is written atomically (a temporary file replaced into place),
    so a reader never sees half a file. ``audience`` partner or public applies
    that audience's profile (from ``profile``, else :func:`get_profile` with
    the sharing ``config``; ``threshold`` overrides its threshold), so the
    JSON beside a shared report is as safe as the report, and a shared
    results.json names its files without the folder they were written to.
    ``extras`` (a simulation's ``truth``, a ``map``) reach the report only,
    not results.json. With ``pdf=True`` a missing Chromium is reported before
    anything is written, as is a bad sharing config.
    """
    check_audience(audience, AUDIENCES)
    if not isinstance(result_dict, dict) or "indicators" not in result_dict:
        raise ValidationError(
            "results: not a results dict (no 'indicators'; see docs/architecture.md)"
        )
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("is a file; --out takes a folder", source=str(out))
    shared = audience != "analyst"
    prof = None
    if shared:
        prof = profile or get_profile(audience, config)
        if threshold is not None and threshold != prof.threshold:
            prof = dataclasses.replace(prof, threshold=threshold)
    if pdf:
        find_chromium()  # no browser: say so before anything is written
    data = safe_results(result_dict, prof) if prof is not None else result_dict
    out.mkdir(parents=True, exist_ok=True)
    files = {"results": str(out / "results.json"), "report": str(out / "report.html")}
    if pdf:
        files["pdf"] = str(out / "report.pdf")
    if shared:
        files["manifest"] = str(out / "manifest.json")
    body = dict(data)
    # a shared file names its siblings, never the analyst's folders
    listed = {k: Path(v).name for k, v in files.items()} if shared else files
    body["files"] = {**({} if shared else data.get("files") or {}), **listed}
    write_json(out / "results.json", body)
    if shared:
        write_manifest(body["disclosure"], out)
    # render what was written; safe_results sees it is already safe and keeps it
    html = render_report(body, out / "report.html", audience=audience, extras=extras, profile=prof)
    if pdf:
        html_to_pdf(html, out / "report.pdf")
    return files
