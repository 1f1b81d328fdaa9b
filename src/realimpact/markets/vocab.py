"""Controlled vocabularies of the market registry, loaded from cited package data.

The words analysts use for markets (level, selling mode, commodity ...) come
from the source documents, so that two analysts recording the same market use
the same words and a count by selling mode means something. The values live in
``data/vocabularies.yaml`` with the document and section each one comes from;
the scoring scales in ``data/scales.yaml``; the Project Linctus checklist in
``data/linctus.yaml``.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

import yaml

from realimpact._yaml import quote, type_name
from realimpact.errors import ValidationError

VOCABULARIES = (
    "level",
    "selling_mode",
    "commodity",
    "group_type",
    "place_type",
    "status",
    "four_p",
    "impact_level",
)


def _load(name: str) -> dict[str, Any]:
    text = resources.files("realimpact.markets").joinpath("data", name).read_text("utf-8")
    return yaml.safe_load(text)


@cache
def vocabularies() -> dict[str, dict[str, Any]]:
    """Every vocabulary: ``{name: {field, description, values: [{id, label, source ...}]}}``."""
    return _load("vocabularies.yaml")


@cache
def scales() -> dict[str, dict[str, Any]]:
    """Scoring scales (impact, likelihood, capability, capacity, confidence)."""
    return _load("scales.yaml")


@cache
def linctus_indicators() -> list[dict[str, Any]]:
    """Project Linctus indicators (Home Office (2003) Disrupting crack markets, section 3.3) in the guide's order."""
    return sorted(_load("linctus.yaml")["indicators"], key=lambda d: d["order"])


def allowed(name: str) -> list[str]:
    """The ids of one vocabulary, in the documented order."""
    return [v["id"] for v in vocabularies()[name]["values"]]


def check(name: str, value: Any, *, field: str | None = None) -> str:
    """Return ``value`` if it is in vocabulary ``name``; else raise naming field and choices.

    Values are compared after lower-casing and turning spaces/underscores into
    hyphens, so 'Open street' and 'open_street' both mean ``open-street``.
    """
    field = field or vocabularies()[name]["field"]
    ids = allowed(name)
    if isinstance(value, dict | list | tuple | set):
        raise ValidationError(
            f"{field}: expected one value, got {type_name(value)}; allowed: {', '.join(ids)}"
        )
    norm = normalise(value)
    if norm not in ids:
        raise ValidationError(f"{field}: unknown value {quote(value)}; allowed: {', '.join(ids)}")
    return norm


def check_many(
    name: str, values: Iterable[Any] | str | None, *, field: str | None = None
) -> list[str]:
    """Validate a list (or a ';'/','-separated string) against a vocabulary; keep order, drop repeats."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [v for v in values.replace(";", ",").split(",") if v.strip()]
    elif not isinstance(values, list | tuple):
        field = field or vocabularies()[name]["field"]
        raise ValidationError(f"{field}: expected a list, got {type_name(values)}")
    out: list[str] = []
    for v in values:
        n = check(name, v, field=field)
        if n not in out:
            out.append(n)
    return out


def normalise(value: Any) -> str:
    return str(value).strip().lower().replace("_", "-").replace(" ", "-")


def check_scale(name: str, value: Any, *, field: str) -> int:
    """An integer score on a 1-5 scale of ``scales.yaml``; anything else is a ValidationError."""
    keys = sorted(int(k) for k in scales()[name]["values"])
    try:
        f = float(value)
    except (TypeError, ValueError):
        f = float("nan")
    if f != f or f != int(f) or int(f) not in keys:
        raise ValidationError(
            f"{field}: {quote(value)} is not a {name} score; allowed: {', '.join(map(str, keys))}"
        )
    return int(f)


def check_confidence(value: Any, *, field: str) -> str:
    """A confidence grade A (high), B (medium) or C (low)."""
    grades = list(scales()["confidence"]["values"])
    v = "" if isinstance(value, dict | list | tuple | set) else str(value).strip().upper()
    aliases = {"HIGH": "A", "MEDIUM": "B", "LOW": "C"}
    v = aliases.get(v, v)
    if v not in grades:
        raise ValidationError(
            f"{field}: {quote(value)} is not a confidence grade; allowed: {', '.join(grades)}"
            " (or high, medium, low)"
        )
    return v


def vocabulary_table(name: str) -> list[dict[str, Any]]:
    """Rows for display/JSON: id, label, definition/criteria, source."""
    rows = []
    for v in vocabularies()[name]["values"]:
        src = v.get("source", {})
        rows.append(
            {
                "id": v["id"],
                "label": v.get("label", v["id"]),
                "definition": v.get("definition") or v.get("criteria") or "",
                "source": f"seed {src.get('doc', '?')} {src.get('section', '')}".strip(),
            }
        )
    return rows
