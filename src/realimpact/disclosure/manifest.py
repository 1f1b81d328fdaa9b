"""``manifest.json``: what a shared output is, who it is for, and what was withheld.

Every partner or public output directory carries one (and its HTML/PDF a
footer made from :func:`footer_text`). It lists the audience profile and its
rules, counts of withheld cells by rule (never the values, nor which cells),
the source data and months, when and by which realimpact version it was
made, and the sharing fields the analyst fills in from the sharing config:
information sharing agreement, lawful basis, security marking, review date.
Empty sharing fields are written empty and said as "not given", so a
missing agreement shows rather than hides.

The counts follow the rules: ``primary`` (counts below the threshold),
``secondary`` (withheld so a primary cell cannot be worked out), ``masked``
(parts of a small total, withheld without saying what they are),
``derived`` (figures computed from withheld counts), ``dropped`` (identifying
fields removed), ``rounded`` and ``perturbed`` (published counts changed).
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from realimpact._json import write_json
from realimpact.disclosure.profiles import Profile

RULES = ("primary", "secondary", "masked", "derived", "dropped", "rounded", "perturbed")


def build_manifest(
    profile: Profile,
    counts: Counter | dict[str, int],
    *,
    product: str,
    sources: dict[str, Any] | None = None,
    generated_at: str | None = None,
) -> dict[str, Any]:
    """The manifest as a dict; ``sources`` names the data and months (no file paths)."""
    from realimpact import __version__

    return {
        "product": product,
        "audience": profile.name,
        "rules": profile.rules(),
        "withheld": {r: int(counts.get(r, 0)) for r in RULES},
        "sources": sources or {},
        "generated_at": generated_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "realimpact_version": __version__,
        "sharing": profile.sharing.as_dict(),
    }


def write_manifest(manifest: dict[str, Any], out_dir: str | os.PathLike) -> Path:
    """Write ``out_dir/manifest.json`` atomically (a reader never sees half a file)."""
    return write_json(Path(out_dir) / "manifest.json", manifest)


def footer_text(manifest: dict[str, Any]) -> str:
    """One paragraph for an HTML or PDF footer."""
    sh = manifest.get("sharing") or {}
    rules = manifest.get("rules") or {}
    w = manifest.get("withheld") or {}

    def given(k: str) -> str:
        return str(sh.get(k) or "not given")

    parts = [
        f"{str(manifest.get('audience', '')).capitalize()} version",
        f"security marking: {given('security_marking')}",
        f"information sharing agreement: {given('agreement')}",
        f"lawful basis: {given('lawful_basis')}",
        f"review by: {given('review_date')}",
    ]
    t = rules.get("threshold") or 0
    rule = f"counts below {t} not shown" if t else "nothing suppressed"
    if (rules.get("rounding") or 1) > 1:
        rule += f", counts rounded to the nearest {rules['rounding']}"
    withheld = sum(int(w.get(k, 0)) for k in ("primary", "secondary", "masked", "derived"))
    rule += f"; {withheld} figures withheld ({w.get('primary', 0)} below {t}"
    rule += f", {w.get('secondary', 0)} to protect them, {w.get('derived', 0)} computed from them)"
    return (
        " · ".join(parts)
        + f". Disclosure rules: {rule}. Made {manifest.get('generated_at', '')} by realimpact "
        + f"{manifest.get('realimpact_version', '')}."
    )
