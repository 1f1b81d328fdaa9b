"""The market registry: markets, the groups behind them and the places they use.

No existing tool treats a drug market as an object; the source documents do
(Home Office (2003) Disrupting crack markets, sections 1-2: level, selling mode, commodities, groups, places).
Entities carry pseudonymous ids only: no field asks for, or has room for, a
person's name, so a registry export can travel between analysts without
becoming a nominal list.

Import and export use one YAML layout (CSV for the entity table alone)::

    markets:
      - id: m-col-1
        level: street
        selling_modes: [open-street, arrange-to-meet]
        commodities: [crack, heroin]
        areas: {lsoa: [E01000001, E01000002]}
        groups: [g-col-1]
    groups:
      - {id: g-col-1, type: dealing-group, commodities: [crack]}
    places:
      - {id: p-col-1, type: crack-house, first_seen: 2019-06, markets: [m-col-1]}
    assessments: [...]   # see markets.assessment
    disruptions: [...]   # see markets.disruptions
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import re
from pathlib import Path
from typing import Any

import yaml

from realimpact import _yaml
from realimpact.csv_safe import read_cell, safe_cell
from realimpact.errors import InputError, RejectedFileError, ValidationError
from realimpact.markets import vocab
from realimpact.markets.disruptions import DISRUPTION_FIELDS
from realimpact.store import Store
from realimpact.store import markets as sql

KINDS = ("market", "group", "place")
SECTIONS = {"markets": "market", "groups": "group", "places": "place"}
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")

# Keys allowed per kind (after aliases); anything else is a typo worth an error.
_COMMON = {
    "id",
    "kind",
    "status",
    "description",
    "first_seen",
    "last_seen",
    "areas",
    "markets",
    "groups",
    "places",
    "links",
}
_KEYS = {
    "market": _COMMON | {"level", "selling_modes", "commodities"},
    "group": _COMMON | {"group_type", "commodities"},
    "place": _COMMON | {"place_type"},
}
_ALIASES = {
    "selling_mode": "selling_modes",
    "commodity": "commodities",
    "area": "areas",
    "market": "markets",
    "group": "groups",
    "place": "places",
}
# An entity's own attributes, in the order the CSV and YAML exports write them.
_ATTR_FIELDS = (
    "level",
    "type",
    "selling_modes",
    "commodities",
    "status",
    "first_seen",
    "last_seen",
    "description",
)
CSV_COLUMNS = ["id", "kind", *_ATTR_FIELDS, "areas", "links"]


def check_id(value: Any, field: str = "id") -> str:
    """A pseudonymous id: letters, digits and . _ : - ; no spaces, at most 64 characters."""
    if isinstance(value, dict | list | tuple | set):
        raise ValidationError(f"{field}: expected an id, got {_yaml.type_name(value)}")
    s = "" if value is None else str(value).strip()
    if not ID_RE.match(s):
        raise ValidationError(
            f"{field}: {_yaml.quote(value)} is not a valid id (letters, digits, '.', '_', ':' or '-',"
            " no spaces, up to 64 characters; use a pseudonymous id, never a person's name)"
        )
    return s


def _required_term(d: dict[str, Any], name: str, field: str, kind: str, where: str) -> str:
    """The ``name`` vocabulary term that a ``kind`` must have, checked; ``field`` is its YAML key."""
    if not d.get(name):
        raise ValidationError(
            f"{where}{field}: required for a {kind}; allowed: {', '.join(vocab.allowed(name))}"
        )
    return vocab.check(name, d[name], field=f"{where}{field}")


def _date(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    s = str(value).strip()
    try:  # the pattern alone lets 2024-99 through
        ok = bool(DATE_RE.match(s)) and bool(
            _dt.datetime.strptime(s, "%Y-%m" if len(s) == 7 else "%Y-%m-%d")
        )
    except ValueError:
        ok = False
    if not ok:
        raise ValidationError(
            f"{field}: {_yaml.quote(value)} is not a date (YYYY-MM or YYYY-MM-DD)"
        )
    return s


def parse_areas(value: Any, field: str) -> list[tuple[str, str]]:
    """Areas as ``{layer: [ids]}``, a list of 'layer:id' strings, or one such string."""
    if value is None or value == "":
        return []
    out: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for layer, ids in value.items():
            ids = [ids] if isinstance(ids, str) else list(ids or [])
            out += [(str(layer), str(a).strip()) for a in ids]
    else:
        items = value.replace(";", ",").split(",") if isinstance(value, str) else list(value)
        for item in items:
            item = str(item).strip()
            if not item:
                continue
            if ":" not in item:
                raise ValidationError(
                    f"{field}: {_yaml.quote(item)} must be LAYER:AREA_ID (e.g. lsoa:E01000001)"
                )
            layer, area = item.split(":", 1)
            out.append((layer.strip(), area.strip()))
    for layer, area in out:
        if not layer or not area:
            raise ValidationError(f"{field}: empty layer or area id in {_yaml.quote(value)}")
    return list(dict.fromkeys(out))


def _id_list(value: Any, field: str) -> list[str]:
    if value is None or value == "":
        return []
    items = value.replace(";", ",").split(",") if isinstance(value, str) else list(value)
    return list(dict.fromkeys(check_id(str(v).strip(), field) for v in items if str(v).strip()))


# The registry format's fields by the type each must have (after aliases).
# A list field also takes one text of ';'- or ','-separated values (the CSV layout).
_LIST_FIELDS = ("selling_modes", "commodities", "markets", "groups", "places", "links")
_SCALAR_FIELDS = (
    "id",
    "kind",
    "level",
    "group_type",
    "place_type",
    "status",
    "description",
    "first_seen",
    "last_seen",
)
_SCALAR = (str, int, float, _dt.date)


def _field_name(key: str, kind: str) -> str:
    """The field as the user wrote it (group_type/place_type are written ``type``)."""
    return "type" if key in ("group_type", "place_type") else key


def _check_items(items: list[Any], field: str) -> None:
    for i, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, _SCALAR):
            raise ValidationError(
                f"{field}[{i}]: expected one value (text), got {_yaml.type_name(item)}"
            )


def _check_types(d: dict[str, Any], kind: str, where: str) -> None:
    """Every field of an entity has the type the registry format gives it.

    Run before any value is read, so a number where a list belongs (``selling_modes: 0``)
    is an error naming the field, never a TypeError.
    """
    for key in _SCALAR_FIELDS:
        v = d.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, _SCALAR)):
            if key == "status" and isinstance(v, bool):
                continue  # YAML reads `status: no` as false; the vocabulary check names it
            raise ValidationError(
                f"{where}{_field_name(key, kind)}: expected one value (text),"
                f" got {_yaml.type_name(v)}"
            )
    for key in _LIST_FIELDS:
        v = d.get(key)
        if v is None or isinstance(v, str):
            continue
        if not isinstance(v, list):
            raise ValidationError(f"{where}{key}: expected a list, got {_yaml.type_name(v)}")
        _check_items(v, f"{where}{key}")
    areas = d.get("areas")
    if areas is None or isinstance(areas, str):
        return
    if isinstance(areas, list):
        _check_items(areas, f"{where}areas")
    elif isinstance(areas, dict):
        for layer, ids in areas.items():
            f = f"{where}areas.{_yaml.shorten(layer)}"
            if ids is None or isinstance(ids, str):
                continue
            if not isinstance(ids, list):
                raise ValidationError(
                    f"{f}: expected a list of area ids, got {_yaml.type_name(ids)}"
                )
            _check_items(ids, f)
    else:
        raise ValidationError(
            f"{where}areas: expected a mapping {{layer: [area ids]}} or a list of"
            f" 'layer:area' ids, got {_yaml.type_name(areas)}"
        )


def parse_entity(kind: str, raw: dict[str, Any], where: str = "") -> dict[str, Any]:
    """Validate one entity; return ``{id, kind, attrs, areas, links}``.

    ``where`` prefixes field names in errors (e.g. 'registry.yaml: markets[2].')
    so a message names the exact place of the mistake.
    """
    if kind not in KINDS:
        raise ValidationError(f"{where}kind: {kind!r} is not one of {', '.join(KINDS)}")
    if not isinstance(raw, dict):
        raise ValidationError(
            f"{where.rstrip('.')}: expected a mapping of fields, got {_yaml.type_name(raw)}"
        )
    d: dict[str, Any] = {}
    for k, v in raw.items():
        key = _ALIASES.get(str(k), str(k))
        if key == "type":
            key = {"group": "group_type", "place": "place_type"}.get(kind, "type")
        d[key] = v
    unknown = sorted(set(d) - _KEYS[kind])
    if unknown:
        raise ValidationError(
            f"{where}{_yaml.shorten(unknown[0])}: unknown field for a {kind};"
            f" allowed: {', '.join(sorted(_KEYS[kind]))}"
        )
    _check_types(d, kind, where)
    if d.get("kind") not in (None, kind):
        raise ValidationError(f"{where}kind: {_yaml.quote(d['kind'])} given for a {kind}")
    eid = check_id(d.get("id"), f"{where}id")
    attrs: dict[str, Any] = {}
    if kind == "market":
        attrs["level"] = _required_term(d, "level", "level", kind, where)
        attrs["selling_modes"] = vocab.check_many(
            "selling_mode", d.get("selling_modes"), field=f"{where}selling_mode"
        )
        attrs["commodities"] = vocab.check_many(
            "commodity", d.get("commodities"), field=f"{where}commodity"
        )
    elif kind == "group":
        attrs["type"] = _required_term(d, "group_type", "type", kind, where)
        attrs["commodities"] = vocab.check_many(
            "commodity", d.get("commodities"), field=f"{where}commodity"
        )
    else:
        attrs["type"] = _required_term(d, "place_type", "type", kind, where)
    attrs["status"] = vocab.check("status", d.get("status") or "active", field=f"{where}status")
    attrs["first_seen"] = _date(d.get("first_seen"), f"{where}first_seen")
    attrs["last_seen"] = _date(d.get("last_seen"), f"{where}last_seen")
    if d.get("description") is not None:
        attrs["description"] = str(d["description"])
    links: list[str] = []
    for key in ("markets", "groups", "places", "links"):
        links += _id_list(d.get(key), f"{where}{key}")
    links = [x for x in dict.fromkeys(links) if x != eid]
    return {
        "id": eid,
        "kind": kind,
        "attrs": {k: v for k, v in attrs.items() if v not in (None, "")},
        "areas": parse_areas(d.get("areas"), f"{where}areas"),
        "links": links,
    }


# -- writing -------------------------------------------------------------------


def _check_areas(store: Store, entities: list[dict[str, Any]]) -> list[str]:
    """Areas must exist where their layer is loaded; return notes on what was not checked.

    A layer with areas in the store is checked strictly. LSOA codes without
    boundaries are compared with the codes in the records: an LSOA with no
    recorded crime is legitimate, so a miss is a note, not an error.
    """
    from realimpact.store.areas import lsoa_codes

    notes: set[str] = set()
    known_layers = set(store.sql("SELECT DISTINCT layer FROM areas")["layer"])
    codes: set[str] | None = None
    for e in entities:
        by_layer: dict[str, list[str]] = {}
        for layer, area in e["areas"]:
            by_layer.setdefault(layer, []).append(area)
        for layer, ids in by_layer.items():
            if layer in known_layers:
                found = set(
                    store.sql(
                        "SELECT area_id FROM areas WHERE layer = ? AND area_id IN"
                        f" ({', '.join('?' for _ in ids)})",
                        [layer, *ids],
                    )["area_id"]
                )
                missing = [a for a in ids if a not in found]
                if missing:
                    raise ValidationError(
                        f"{e['id']}.areas: {layer}:{missing[0]} is not an area of layer {layer!r}"
                    )
            elif layer == "lsoa":
                if codes is None:
                    codes = set(lsoa_codes(store)["area_id"])
                if not codes:
                    notes.add("no records in the store yet; lsoa area ids were not checked")
                    continue
                unseen = [a for a in ids if a not in codes]
                if unseen:
                    notes.add(f"{e['id']}: lsoa {', '.join(unseen)} not in any stored record")
            else:
                notes.add(f"layer {layer!r} not loaded in the store; its area ids were not checked")
    return sorted(notes)


def _write_entities(
    store: Store, entities: list[dict[str, Any]], *, replace: bool
) -> dict[str, Any]:
    """Validate cross-references and write (caller holds the transaction)."""
    ids = [e["id"] for e in entities]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ValidationError(f"id: {dup[0]!r} appears more than once")
    existing = {e["id"]: e["kind"] for e in sql.load_entities(store)}
    known = set(existing) | set(ids)
    for e in entities:
        if e["id"] in existing and not replace:
            raise ValidationError(
                f"id: {e['id']!r} is already in the registry (use --replace to update it)"
            )
        if e["id"] in existing and existing[e["id"]] != e["kind"]:
            raise ValidationError(
                f"id: {e['id']!r} is a {existing[e['id']]} already; cannot become a {e['kind']}"
            )
        for link in e["links"]:
            if link not in known:
                raise ValidationError(
                    f"{e['id']}.links: {link!r} is not in the registry or this file"
                )
    notes = _check_areas(store, entities)
    added = updated = 0
    for e in entities:
        if e["id"] in existing:
            updated += 1
        else:
            added += 1
        sql.upsert_entity(store, e["id"], e["kind"], e["attrs"])
        sql.replace_links(store, e["id"], [(link, "linked") for link in e["links"]])
        sql.replace_areas(store, e["id"], e["areas"])
    return {"added": added, "updated": updated, "notes": notes}


def add_entity(
    store: Store,
    kind: str,
    spec: dict[str, Any],
    *,
    replace: bool = False,
    merge: bool = False,
) -> dict[str, Any]:
    """Add one market, group or place; ``replace`` updates an existing one.

    With ``merge`` (what ``markets add --replace`` does) the fields given
    replace the stored ones and the others are kept, so correcting a level
    does not drop the entity's areas and links; without it the spec is the
    whole new definition (what an import file gives).
    """
    if merge and spec.get("id") is not None and sql.entity_exists(store, str(spec["id"])):
        spec = {**_stored_spec(store, str(spec["id"])), **spec}
    entity = parse_entity(kind, spec)
    with store.transaction():
        result = _write_entities(store, [entity], replace=replace or merge)
    return {"id": entity["id"], "kind": kind, **result}


def _stored_spec(store: Store, entity_id: str) -> dict[str, Any]:
    """An entity as the mapping parse_entity reads (own links only)."""
    e = _entity_rows(store)[entity_id]
    spec = {k: v for k, v in e.items() if k not in ("kind", "links", "areas")}
    spec["links"] = _own_links(store, entity_id)
    spec["areas"] = e["areas"]
    return spec


def read_registry_file(path: str | Path) -> dict[str, list[Any]]:
    """Parse a registry YAML (or entity CSV) into sections; errors name the file."""
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", source=str(p))
    if p.suffix.lower() == ".csv":
        try:
            text = p.read_text("utf-8-sig")
        except UnicodeDecodeError:
            raise RejectedFileError("not UTF-8 text", source=str(p)) from None
        return {"entities": _read_csv(text, str(p))}
    # the one safe loader of user YAML: size, alias and depth caps
    data = _yaml.load_file(p, encoding="utf-8-sig")
    if not isinstance(data, dict):
        raise RejectedFileError(
            "expected a mapping with markets/groups/places/assessments/disruptions", source=str(p)
        )
    data = _str_keys(data)
    allowed = {*SECTIONS, "assessments", "disruptions", "indicators", "version"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationError(
            f"{_yaml.shorten(unknown[0])}: unknown section; allowed: {', '.join(sorted(allowed))}",
            source=str(p),
        )
    for key, val in data.items():
        if key != "version" and val is not None and not isinstance(val, list):
            raise ValidationError(
                f"{key}: expected a list, got {_yaml.type_name(val)}", source=str(p)
            )
    for key in ("assessments", "disruptions", "indicators"):
        for i, raw in enumerate(data.get(key) or []):
            _check_record(raw, f"{key}[{i}]", str(p))
    return {k: v or [] for k, v in data.items() if k != "version"}


def _str_keys(value: Any) -> Any:
    """Every mapping key as text (YAML reads `1:` or `yes:` as a number or a bool),
    so that checks sorting or comparing field names never meet a mixed set."""
    if isinstance(value, dict):
        return {str(k): _str_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_str_keys(v) for v in value]
    return value


# Fields of the assessment, disruption and indicator records that hold one value
# or a list; the modules that parse them read the rest.
_RECORD_SCALARS = {
    "assessments": ("entity", "date", "assessor", "note", "version"),
    "disruptions": tuple(f for f in DISRUPTION_FIELDS if f != "evidence_refs"),
    "indicators": ("entity", "indicator", "date", "evidence"),
}


def _check_record(raw: Any, where: str, source: str) -> None:
    """The types of an assessment, disruption or indicator record's fields."""
    section = where.split("[", 1)[0]
    if not isinstance(raw, dict):
        raise ValidationError(
            f"{where}: expected a mapping of fields, got {_yaml.type_name(raw)}", source=source
        )
    for key in _RECORD_SCALARS[section]:
        v = raw.get(key)
        if v is not None and not isinstance(v, _SCALAR):
            raise ValidationError(
                f"{where}.{key}: expected one value, got {_yaml.type_name(v)}", source=source
            )
    if section == "disruptions":
        refs = raw.get("evidence_refs")
        if refs is not None and not isinstance(refs, str):
            if not isinstance(refs, list):
                raise ValidationError(
                    f"{where}.evidence_refs: expected a list, got {_yaml.type_name(refs)}",
                    source=source,
                )
            try:
                _check_items(refs, f"{where}.evidence_refs")
            except ValidationError as e:
                raise ValidationError(str(e), source=source) from None
    if section == "assessments":
        harms = raw.get("harms")
        if harms is not None and not isinstance(harms, list):
            raise ValidationError(
                f"{where}.harms: expected a list, got {_yaml.type_name(harms)}", source=source
            )
        for j, h in enumerate(harms or []):
            if not isinstance(h, dict):
                continue  # the assessment parser names it
            for key, v in h.items():
                if v is not None and not isinstance(v, _SCALAR):
                    raise ValidationError(
                        f"{where}.harms[{j}].{key}: expected one value, got {_yaml.type_name(v)}",
                        source=source,
                    )
        pos = raw.get("position")
        if isinstance(pos, dict):
            for key, v in pos.items():
                if v is not None and not isinstance(v, _SCALAR):
                    raise ValidationError(
                        f"{where}.position.{key}: expected one value, got {_yaml.type_name(v)}",
                        source=source,
                    )


def _read_csv(text: str, label: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in ("id", "kind") if c not in header]
    if missing:
        raise RejectedFileError(
            f"missing column {missing[0]!r} (columns: {', '.join(CSV_COLUMNS)})", source=label
        )
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if unknown:
        raise ValidationError(
            f"{unknown[0]}: unknown column; allowed: {', '.join(CSV_COLUMNS)}", source=label
        )
    rows = []
    for line, row in enumerate(reader, start=2):
        row = {k: read_cell(v) for k, v in row.items() if v not in (None, "")}
        row["_line"] = line
        rows.append(row)
    return rows


def import_registry(store: Store, path: str | Path, *, replace: bool = False) -> dict[str, Any]:
    """Import a registry file: every entity, assessment and disruption lands, or none does."""
    from realimpact.markets import assessment as assess_mod
    from realimpact.markets import disruptions as disr_mod
    from realimpact.markets import warning as warn_mod

    label = str(path)
    data = read_registry_file(path)
    entities: list[dict[str, Any]] = []
    try:
        for row in data.get("entities", []):
            line = row.pop("_line")
            kind = str(row.pop("kind", "")).strip().lower()
            if kind not in KINDS:
                raise ValidationError(
                    f"line {line}: kind: {_yaml.quote(kind)} is not one of {', '.join(KINDS)}"
                )
            if "type" in row and kind == "market":
                raise ValidationError(f"line {line}: type: markets have a level, not a type")
            entities.append(parse_entity(kind, row, f"line {line}: "))
        for section, kind in SECTIONS.items():
            for i, raw in enumerate(data.get(section, [])):
                entities.append(parse_entity(kind, raw, f"{section}[{i}]."))
        with store.transaction():
            result = _write_entities(store, entities, replace=replace)
            n_assess = 0
            for i, raw in enumerate(data.get("assessments", [])):
                assess_mod._write_assessment(
                    store, assess_mod.parse_assessment(raw, f"assessments[{i}].")
                )
                n_assess += 1
            n_disr = 0
            for i, raw in enumerate(data.get("disruptions", [])):
                disr_mod._write_disruption(
                    store, disr_mod.parse_disruption(raw, f"disruptions[{i}].")
                )
                n_disr += 1
            n_obs = 0
            for i, raw in enumerate(data.get("indicators", [])):
                warn_mod._write_observation(
                    store, warn_mod.parse_observation(raw, f"indicators[{i}].")
                )
                n_obs += 1
    except InputError as e:
        if e.source is None:
            raise type(e)(str(e), source=label) from None
        raise
    counts = {k: sum(1 for e in entities if e["kind"] == k) for k in KINDS}
    return {
        "file": label,
        **result,
        "entities": counts,
        "assessments": n_assess,
        "disruptions": n_disr,
        "indicator_observations": n_obs,
    }


# -- reading -------------------------------------------------------------------


def _entity_rows(store: Store) -> dict[str, dict[str, Any]]:
    ents = {
        e["id"]: {"id": e["id"], "kind": e["kind"], **e["attrs"], "areas": [], "links": []}
        for e in sql.load_entities(store)
    }
    for eid, layer, area in sql.load_areas(store):
        if eid in ents:
            ents[eid]["areas"].append(f"{layer}:{area}")
    for a, b, _rel in sql.load_links(store):
        for x, y in ((a, b), (b, a)):  # links read both ways
            if x in ents and y not in ents[x]["links"]:
                ents[x]["links"].append(y)
    for e in ents.values():
        e["links"].sort()
    return ents


def list_entities(store: Store, kind: str | None = None) -> dict[str, Any]:
    """The registry as a list (``markets list``)."""
    if kind is not None and kind not in KINDS:
        raise ValidationError(f"--kind: {kind!r} is not one of {', '.join(KINDS)}")
    ents = [e for e in _entity_rows(store).values() if kind is None or e["kind"] == kind]
    return {"count": len(ents), "entities": ents}


def show_entity(store: Store, entity_id: str) -> dict[str, Any]:
    """One entity with its links, areas, assessment history, disruptions and indicator notes."""
    from realimpact.markets.assessment import score_assessment

    ents = _entity_rows(store)
    if entity_id not in ents:
        raise ValidationError(
            f"id: {entity_id!r} is not in the registry (see `realimpact markets list`)"
        )
    e = ents[entity_id]
    history = sql.load_assessments(store, entity_id)
    return {
        "entity": e,
        "linked": [{"id": x, "kind": ents[x]["kind"]} for x in e["links"] if x in ents],
        "assessments": [
            {
                "assessment_id": a["assessment_id"],
                "version": a["version"],
                "assessed_on": a["assessed_on"],
                "assessor": a["assessor"],
                **score_assessment(a),
            }
            for a in history
        ],
        "latest_assessment": history[-1] if history else None,
        "disruptions": [d for d in sql.load_disruptions(store) if d["entity_id"] == entity_id],
        "indicator_observations": sql.load_indicator_obs(store, entity_id),
    }


def entity_areas(store: Store, entity_id: str) -> list[tuple[str, str]]:
    """(layer, area_id) where an entity operates, for evidence and warnings.

    Its own areas plus those of the places linked to it (a market operates
    where its places are); an entity with neither (a group, a middle market)
    borrows the areas of the entities linked to it directly.
    """
    ents = _entity_rows(store)
    if entity_id not in ents:
        raise ValidationError(f"id: {entity_id!r} is not in the registry")
    e = ents[entity_id]
    areas = list(e["areas"])
    for other in e["links"]:
        if ents.get(other, {}).get("kind") == "place":
            areas += ents[other]["areas"]
    if not areas:
        for other in e["links"]:
            areas += ents.get(other, {}).get("areas", [])
    out = [tuple(a.split(":", 1)) for a in areas]
    return list(dict.fromkeys(out))  # type: ignore[arg-type]


def export_registry(
    store: Store, path: str | Path | None = None, fmt: str | None = None
) -> dict[str, Any]:
    """Write the registry as YAML (everything) or CSV (entities); return what was written.

    The YAML export re-imports into an empty store to the same registry,
    assessments and disruptions (round trip is tested).
    """
    fmt = (fmt or (Path(path).suffix.lstrip(".") if path else "yaml")).lower()
    if fmt in ("yml",):
        fmt = "yaml"
    if fmt not in ("yaml", "csv"):
        raise ValidationError(f"--format: {fmt!r} is not one of yaml, csv")
    ents = _entity_rows(store)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
        w.writeheader()
        for e in ents.values():
            row = {
                "id": e["id"],
                "kind": e["kind"],
                "level": e.get("level", ""),
                "type": e.get("type", ""),
                "selling_modes": ";".join(e.get("selling_modes", [])),
                "commodities": ";".join(e.get("commodities", [])),
                "status": e.get("status", ""),
                "first_seen": e.get("first_seen", ""),
                "last_seen": e.get("last_seen", ""),
                "description": e.get("description", ""),
                "areas": ";".join(e["areas"]),
                "links": ";".join(_own_links(store, e["id"])),
            }
            # names and descriptions are user text: never a formula in a spreadsheet
            w.writerow({k: safe_cell(v) for k, v in row.items()})
        text = buf.getvalue()
    else:
        text = yaml.safe_dump(registry_document(store), sort_keys=False, allow_unicode=True)
    if path:
        Path(path).write_text(text, "utf-8")
    return {
        "format": fmt,
        "path": str(path) if path else None,
        "entities": len(ents),
        "text": None if path else text,
    }


def _own_links(store: Store, entity_id: str) -> list[str]:
    return [b for a, b, _ in sql.load_links(store) if a == entity_id]


def registry_document(store: Store) -> dict[str, Any]:
    """The whole registry as the YAML import layout (plain types only)."""
    ents = _entity_rows(store)
    doc: dict[str, Any] = {"version": 1}
    for section, kind in SECTIONS.items():
        items = []
        for e in ents.values():
            if e["kind"] != kind:
                continue
            item: dict[str, Any] = {"id": e["id"]}
            for key in _ATTR_FIELDS:
                if e.get(key) not in (None, [], ""):
                    item[key] = e[key]
            areas: dict[str, list[str]] = {}
            for a in e["areas"]:
                layer, aid = a.split(":", 1)
                areas.setdefault(layer, []).append(aid)
            if areas:
                item["areas"] = areas
            own = _own_links(store, e["id"])
            if own:
                item["links"] = own
            items.append(item)
        doc[section] = items
    doc["assessments"] = [
        {
            "entity": a["entity_id"],
            "date": str(a["assessed_on"]),
            "version": a["version"],
            **({"assessor": a["assessor"]} if a["assessor"] else {}),
            "harms": [
                {
                    k: h[k]
                    for k in ("harm_id", "impact", "likelihood", "confidence", "evidence")
                    if h[k] is not None
                }
                for h in a["harms"]
            ],
            "position": {
                k: v
                for k, v in (
                    ("capability", a["capability"]),
                    ("capacity", a["capacity"]),
                    ("confidence", a["position_confidence"]),
                    ("evidence", a["position_evidence"]),
                )
                if v is not None
            },
            **({"note": a["note"]} if a["note"] else {}),
        }
        for a in sql.load_assessments(store)
    ]
    doc["disruptions"] = [
        {
            "id": d["disruption_id"],
            "entity": d["entity_id"],
            "date": str(d["date"]),
            "category": d["category"],
            "impact": d["impact"],
            **({"planned": bool(d["planned"])} if d["planned"] is not None else {}),
            **({"description": d["description"]} if d["description"] else {}),
            **(
                {"capability_evidence": d["capability_evidence"]}
                if d["capability_evidence"]
                else {}
            ),
            **({"evidence_refs": d["evidence_refs"]} if d["evidence_refs"] else {}),
        }
        for d in sql.load_disruptions(store)
    ]
    doc["indicators"] = [
        {
            "entity": o["entity_id"],
            "indicator": o["indicator_id"],
            "date": str(o["observed_on"]),
            **({"evidence": o["evidence"]} if o["evidence"] else {}),
        }
        for o in sql.load_indicator_obs(store)
    ]
    return doc
