"""Finished evaluations the web app ran or imported, and their versions for each audience.

Design: a folder beside the store, ``<store>.evaluations/<plan_id>/results.json``,
holding the **analyst** results only (what ``realimpact evaluate`` writes,
without its ``files`` paths). A store table would need a migration for what is
one JSON document per plan, written rarely and read whole; the folder is
what ``evaluate --out`` already produces, so an analyst can also drop a
results.json in by hand (or ``realimpact serve --import-results``).

Partner and public versions are never stored: each request makes them from
the analyst file with :func:`realimpact.evaluation.sharing.safe_results` and
the viewer's profile, and reports are drawn by
:func:`realimpact.report.render_report` for that audience, so a viewer can
only ever receive their own audience's version. Plan ids name folders, so
they are checked against :data:`PLAN_ID` before any path is built from them.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any

from realimpact._json import write_json
from realimpact.disclosure.profiles import Profile
from realimpact.errors import RejectedFileError, ValidationError

#: a plan id that may name a folder: no separators, no leading dot
PLAN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")
#: names of data files uploaded beside a plan (survey CSVs its indicators name)
DATA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")
#: the most an uploaded plan or data file may hold (a plan is a few kB)
MAX_UPLOAD = 20 * 1024 * 1024


def check_plan_id(plan_id: str) -> str:
    if not PLAN_ID.match(plan_id or ""):
        raise ValidationError(f"plan id {plan_id!r}: letters, digits, '.', '_' and '-' only")
    return plan_id


class Shelf:
    """The evaluations folder of one store, with the audience versions made on request."""

    def __init__(self, store_path: str) -> None:
        if store_path == ":memory:":
            self._tmp = tempfile.TemporaryDirectory(prefix="realimpact-evaluations-")
            self.folder = Path(self._tmp.name)
        else:
            self.folder = Path(store_path + ".evaluations")
        self._lock = threading.Lock()
        self._reports: dict[tuple[str, str, int], str] = {}

    # -- the analyst files -------------------------------------------------

    def _file(self, plan_id: str) -> Path:
        return self.folder / check_plan_id(plan_id) / "results.json"

    def ids(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(
            p.parent.name
            for p in self.folder.glob("*/results.json")
            if PLAN_ID.match(p.parent.name)
        )

    def exists(self, plan_id: str) -> bool:
        return PLAN_ID.match(plan_id or "") is not None and self._file(plan_id).is_file()

    def analyst(self, plan_id: str) -> dict[str, Any]:
        """The analyst's results (for analysts, and as the source of every shared version)."""
        path = self._file(plan_id)
        if not path.is_file():
            raise KeyError(plan_id)
        return json.loads(path.read_text("utf-8"))

    def save(self, results: dict[str, Any]) -> str:
        """Keep an analyst results dict (atomically: a reader never sees half a file)."""
        check_results(results)
        plan_id = check_plan_id(str(results.get("plan_id") or ""))
        body = {k: v for k, v in results.items() if k != "files"}  # paths of another machine
        target = self._file(plan_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_json(target, body)
        with self._lock:
            self._reports = {k: v for k, v in self._reports.items() if k[0] != plan_id}
        return plan_id

    def import_file(self, path: str | os.PathLike) -> str:
        """Import an analyst results.json (as ``realimpact evaluate --out`` writes it)."""
        p = Path(path)
        try:
            data = json.loads(p.read_text("utf-8"))
        except FileNotFoundError:
            raise RejectedFileError("no such file", source=str(p)) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise RejectedFileError(f"not a results.json ({e})", source=str(p)) from None
        try:
            check_results(data)
        except ValidationError as e:
            raise RejectedFileError(str(e), source=str(p)) from None
        return self.save(data)

    # -- audience versions -------------------------------------------------

    def for_profile(self, plan_id: str, profile: Profile) -> dict[str, Any]:
        """results.json as ``profile``'s audience may have it."""
        from realimpact.evaluation.sharing import safe_results

        data = self.analyst(plan_id)
        if not profile.suppresses:
            return data
        return safe_results(data, profile)

    def summaries(self, profile: Profile) -> list[dict[str, Any]]:
        """One line per evaluation: only fields every audience may see (id, title, dates)."""
        out = []
        for pid in self.ids():
            try:
                d = self.analyst(pid)
            except (OSError, ValueError):
                continue  # a damaged file is left out of the list, not fatal
            plan = d.get("plan") or {}
            out.append(
                {
                    "plan_id": pid,
                    "title": str(d.get("title") or plan.get("title") or pid),
                    "start": plan.get("start"),
                    "end": plan.get("end"),
                    "generated_at": d.get("generated_at"),
                    "audience": profile.name,
                }
            )
        return out

    def report_html(self, plan_id: str, profile: Profile) -> str:
        """The report drawn for ``profile``'s audience (cached until the results change)."""
        from realimpact.report import render_report

        mtime = self._file(plan_id).stat().st_mtime_ns
        key = (plan_id, profile.name, mtime)
        with self._lock:
            if key in self._reports:
                return self._reports[key]
        data = self.for_profile(plan_id, profile)
        with tempfile.TemporaryDirectory(prefix="realimpact-report-") as tmp:
            path = render_report(
                data, tmp, audience=profile.name, profile=profile if profile.suppresses else None
            )
            html = path.read_text("utf-8")
        with self._lock:
            self._reports[key] = html
        return html

    def report_pdf(self, plan_id: str, profile: Profile) -> bytes:
        """The report as PDF (headless Chromium); an InputError when there is none."""
        from realimpact.report.pdf import find_chromium, html_to_pdf

        find_chromium()
        html = self.report_html(plan_id, profile)
        with tempfile.TemporaryDirectory(prefix="realimpact-pdf-") as tmp:
            src = Path(tmp) / "report.html"
            src.write_text(html, "utf-8")
            return html_to_pdf(src, Path(tmp) / "report.pdf").read_bytes()

    def public_summary(self, plan_id: str, profile: Profile) -> dict[str, Any]:
        """'You said, we did' for the public page, worded as the report words it."""
        from realimpact.report.render import build_view

        data = self.for_profile(plan_id, profile)
        threshold = int(data.get("suppression_threshold") or profile.threshold)
        view = build_view(data, profile.name, threshold)
        survey_ids = {
            str(i.get("id"))
            for i in data.get("indicators") or []
            if isinstance(i, dict) and i.get("survey") and not i.get("did")
        }
        from realimpact.disclosure.profiles import FREE_TEXT_KEYS

        dropped = bool(FREE_TEXT_KEYS & profile.drop_keys)  # the plan's descriptions
        return {
            "plan_id": plan_id,
            "title": view["title"],
            "op_from": view["op_from"],
            "op_to": view["op_to"],
            "said": [
                {
                    "label": s.get("label"),
                    "before": s.get("before"),
                    "after": s.get("after"),
                    "evidence": s.get("evidence"),
                }
                for s in view["surveys"]
                if str(s.get("label", "")).lower().startswith("residents")
            ],
            "harms": [h["name"] for h in view["plan"]["harms"]],
            "tactics": view["plan"]["tactics"],
            "free_text_dropped": bool(dropped),
            "changed": [g["line"] for g in view["glance"] if g["id"] not in survey_ids],
            "summary": view["summary"][:1],
            "next": view["next_steps"],
            "n_areas": {k: len(v) for k, v in view["areas"].items()},
            "layer": view["layer"],
            "has_map": bool(view["map_svg"]),
            "footer": view["footer"],
        }

    def map_svg(self, plan_id: str, profile: Profile) -> str | None:
        """The report's map of the plan's areas (LSOA or coarser) for ``profile``."""
        from realimpact.report.render import build_view

        data = self.for_profile(plan_id, profile)
        view = build_view(data, profile.name, int(data.get("suppression_threshold") or 5))
        return view["map_svg"] or None


def check_results(data: Any) -> None:
    if not isinstance(data, dict) or "indicators" not in data or not data.get("plan_id"):
        raise ValidationError("not an evaluation's results.json (no 'plan_id' or 'indicators')")
    if data.get("audience", "analyst") != "analyst":
        raise ValidationError(
            f"a {data.get('audience')} version; import the analyst's results.json"
            " (the web app makes shared versions itself)"
        )


def run_uploaded(
    st: Any, plan_name: str, plan_bytes: bytes, attachments: dict[str, bytes]
) -> dict[str, Any]:
    """Validate, then evaluate, an uploaded plan against the open store.

    Runs under the store's lock (``WebStore.run``). Files the plan names
    (survey CSVs) come as ``attachments`` and sit beside it in a temporary
    folder, as they sit beside a plan on disk. Returns ``{"valid": False,
    "problems": [...]}`` when ``plan validate`` rejects it (nothing run, nothing
    kept), else ``{"valid": True, "results": <analyst results dict>}``.
    """
    from realimpact.evaluation.engine import evaluate
    from realimpact.plans.validate import validate_plan

    if len(plan_bytes) > MAX_UPLOAD or not plan_bytes.strip():
        raise ValidationError("plan: empty or larger than 20 MB", source="plan")
    with tempfile.TemporaryDirectory(prefix="realimpact-plan-") as tmp:
        folder = Path(tmp)
        for name, body in attachments.items():
            if not DATA_NAME.match(name) or len(body) > MAX_UPLOAD:
                raise ValidationError(f"data file {name!r}: bad name or over 20 MB", source="data")
            (folder / name).write_bytes(body)
        path = folder / "plan.yaml"
        path.write_bytes(plan_bytes)
        checked = validate_plan(path, st, require_data=True).to_dict()
        if not checked.get("valid"):
            problems = [
                {"level": lvl, "field": p.get("field"), "message": p.get("message")}
                for lvl in ("errors", "warnings")
                for p in checked.get(lvl) or []
            ]
            return {"valid": False, "plan_id": checked.get("plan_id"), "problems": problems,
                    "plan": plan_name}  # fmt: skip
        res = evaluate(path, st)
        return {"valid": True, "results": res.to_dict()}
