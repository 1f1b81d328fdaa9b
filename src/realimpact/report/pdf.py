"""PDF of a Results Analysis report, printed by headless Chromium.

Chromium prints the same self-contained HTML a reader opens, so the PDF
matches the page and the inline SVG charts stay vector, with no second
layout engine to keep in step. The browser is the one the web tests use
(Debian's ``chromium``); it is found on PATH or at ``$REALIMPACT_CHROMIUM``.
Nothing is fetched: the page is a local file with no external resources,
and background networking is switched off.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from realimpact.errors import InputError, RealImpactError

__all__ = ["HEADLESS_FLAGS", "find_chromium", "html_to_pdf"]

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: how realimpact starts Chromium headless (the report tests drive it the same way)
HEADLESS_FLAGS = (
    "--headless",
    # Root (containers, CI) cannot start Chromium's sandbox; the pages opened are
    # realimpact's own local reports, with networking off.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
)


def find_chromium() -> str:
    """Path of a Chromium or Chrome binary, or an InputError saying how to get one."""
    env = os.environ.get("REALIMPACT_CHROMIUM")
    if env:
        found = shutil.which(env)
        if found is None:
            raise InputError(f"REALIMPACT_CHROMIUM={env}: not an executable Chromium or Chrome")
        return found
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise InputError(
        "--pdf needs headless Chromium (Debian: apt-get install chromium) or"
        " REALIMPACT_CHROMIUM set to a Chromium or Chrome binary"
    )


def html_to_pdf(html: str | Path, pdf: str | Path | None = None, *, timeout: float = 120) -> Path:
    """Print ``html`` to ``pdf`` (default: the same name with ``.pdf``) and return its path.

    The PDF is written beside under a temporary name and moved into place only
    once Chromium has produced a complete file, so a failed print never
    leaves a half-written PDF.
    """
    src = Path(html).resolve()
    if not src.is_file():
        raise InputError("no such report", source=str(html))
    out = Path(pdf) if pdf is not None else src.with_suffix(".pdf")
    exe = find_chromium()
    tmp = out.with_name(out.name + ".tmp")
    with tempfile.TemporaryDirectory(prefix="ri-chromium-") as profile:
        cmd = [
            exe, *HEADLESS_FLAGS, f"--user-data-dir={profile}",
            "--no-pdf-header-footer",  # no date, file path or URL printed on the pages
            f"--print-to-pdf={tmp}", src.as_uri(),
        ]  # fmt: skip
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            tmp.unlink(missing_ok=True)
            raise RealImpactError(
                f"{exe}: did not print {src.name} within {timeout:.0f} s"
            ) from None
    ok = tmp.exists() and tmp.stat().st_size > 0 and tmp.read_bytes()[:5] == b"%PDF-"
    if not ok:
        tmp.unlink(missing_ok=True)
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RealImpactError(f"{exe}: printing {src.name} to PDF failed ({last})")
    tmp.replace(out)
    return out
