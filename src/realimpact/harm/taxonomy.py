"""The harm taxonomy: what "harm" means in realimpact, traceable to the source documents.

The taxonomy is data (``data/taxonomy.yaml``), not code, so a reader can check
every harm against the page it came from and a force can read the same list
the software uses. Three groups:

* ``matrix``: UK Drug Policy Commission (2009) Moving towards Real Impact Drug Enforcement, Figure 1, every example harm by type (health,
  social/structural, economic, environmental) and level (individual ... international);
* ``priority``: N8 Policing Research Partnership (2024) Conceptualising and Evaluating the Impact of Policing Drug Markets, Figure 2, the harms police and partners chose to
  prioritise, with their category and how many interviewees chose each;
* ``enforcement``: harms caused by enforcement itself (UK Drug Policy Commission (2009) Moving towards Real Impact Drug Enforcement, Box A and text,
  N8 Policing Research Partnership (2024) Conceptualising and Evaluating the Impact of Policing Drug Markets, College of Policing (2022) Crime Reduction Toolkit: supplier arrest and seizure); this is also the catalogue of unintended consequences
  that an operation plan has to consider.

Ids are stable: an id, once released, always means the same harm.
"""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from typing import Any

import yaml

from realimpact.errors import RealImpactError, ValidationError

GROUPS = {"matrix": "matrix", "priority_harms": "priority", "enforcement_harms": "enforcement"}


@cache
def _raw() -> dict[str, Any]:
    text = resources.files("realimpact.harm").joinpath("data/taxonomy.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    _check(data)
    return data


def _check(data: dict[str, Any]) -> None:
    """Fail loudly if the shipped data breaks its own rules (a packaging bug, not user input)."""
    seen: set[str] = set()
    docs = set(data["documents"])
    for group in GROUPS:
        block = data[group]
        for item in block["items"]:
            hid = item.get("id")
            if not hid or hid in seen:
                raise RealImpactError(f"taxonomy.yaml: missing or duplicate harm id {hid!r}")
            seen.add(hid)
            source = item.get("source", block.get("source"))
            if source not in docs or not item.get("section", block.get("section")):
                raise RealImpactError(f"taxonomy.yaml: {hid} has no known source and section")
    for item in data["enforcement_harms"]["items"]:
        for ref in item.get("related", []):
            if ref not in seen:
                raise RealImpactError(f"taxonomy.yaml: {item['id']} relates to unknown {ref}")


def _items(group: str) -> list[dict[str, Any]]:
    block = _raw()[group]
    out = []
    for item in block["items"]:
        full = {"id": item["id"], "kind": GROUPS[group], "name": item["name"]}
        full.update({k: v for k, v in item.items() if k not in full})
        full.setdefault("source", block.get("source"))
        full.setdefault("section", block.get("section"))
        out.append(copy.deepcopy(full))
    return out


def load_taxonomy() -> dict[str, Any]:
    """The whole taxonomy: vocabularies plus every harm with its source and section.

    Returns a fresh copy each call, so callers may modify it freely.
    """
    raw = _raw()
    return {
        "version": raw["version"],
        "documents": dict(raw["documents"]),
        "harm_types": copy.deepcopy(raw["harm_types"]),
        "harm_levels": copy.deepcopy(raw["harm_levels"]),
        "priority_categories": copy.deepcopy(raw["priority_categories"]),
        "priority_survey": {
            k: raw["priority_harms"][k]
            for k in ("source", "section", "interviewees", "responses", "harms_shown", "note")
        },
        "matrix": matrix_harms(),
        "priority": priority_harms(),
        "enforcement": enforcement_harms(),
    }


def matrix_harms() -> list[dict[str, Any]]:
    """UK Drug Policy Commission (2009) Moving towards Real Impact Drug Enforcement, Figure 1: ``id, kind, name, type, level, source, section``."""
    return _items("matrix")


def priority_harms() -> list[dict[str, Any]]:
    """N8 Policing Research Partnership (2024) Conceptualising and Evaluating the Impact of Policing Drug Markets, Figure 2: ``id, kind, name, category, interviewees (None if illegible), ...``."""
    return _items("priority_harms")


def enforcement_harms() -> list[dict[str, Any]]:
    """Harms of enforcement itself (``enf-*``): the unintended-consequences catalogue.

    Each: ``id, kind, name, source, section, monitor`` (what to watch) and
    optionally ``related`` (ids of matrix/priority harms of the same kind).
    """
    return _items("enforcement_harms")


def all_harms() -> list[dict[str, Any]]:
    return matrix_harms() + priority_harms() + enforcement_harms()


def harm_ids() -> list[str]:
    """Every valid harm id, in taxonomy order (for validating plans and surveys)."""
    return [h["id"] for h in all_harms()]


def get_harm(harm_id: str) -> dict[str, Any]:
    for h in all_harms():
        if h["id"] == harm_id:
            return h
    raise ValidationError(f"unknown harm id {harm_id!r} (see `realimpact harm taxonomy`)")


def harm_taxonomy(kind: str | None = None) -> dict[str, Any]:
    """What ``realimpact harm taxonomy`` prints; ``kind`` narrows to one group."""
    tax = load_taxonomy()
    if kind is not None:
        if kind not in GROUPS.values():
            raise ValidationError(f"--kind: {kind!r} is not one of {', '.join(GROUPS.values())}")
        for other in set(GROUPS.values()) - {kind}:
            tax[other] = []
    tax["counts"] = {k: len(tax[k]) for k in GROUPS.values()}
    return tax
