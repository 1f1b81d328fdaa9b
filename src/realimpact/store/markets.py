"""SQL for the market registry tables (migration 20).

The ``markets`` package validates and reasons; this module only moves rows in
and out of DuckDB, so that the database stays the business of ``store``.
Writers expect to run inside ``store.transaction()`` opened by the caller, so a
multi-part change (an entity with its links and areas, an import file) lands
whole or not at all.
"""

from __future__ import annotations

import json
from typing import Any

from realimpact.store.connection import Store

# -- entities ----------------------------------------------------------------


def entity_exists(store: Store, entity_id: str) -> bool:
    return bool(store.scalar("SELECT count(*) FROM market_entities WHERE id = ?", [entity_id]))


def upsert_entity(store: Store, entity_id: str, kind: str, attrs: dict[str, Any]) -> None:
    """Insert, or replace the attributes of, one entity (caller holds the transaction)."""
    if entity_exists(store, entity_id):
        store.con.execute(
            "UPDATE market_entities SET kind = ?, attrs = ?, updated_at = current_timestamp"
            " WHERE id = ?",
            [kind, json.dumps(attrs, sort_keys=True), entity_id],
        )
    else:
        store.con.execute(
            "INSERT INTO market_entities (id, kind, attrs) VALUES (?, ?, ?)",
            [entity_id, kind, json.dumps(attrs, sort_keys=True)],
        )


def _replace_pairs(
    store: Store, table: str, key: str, entity_id: str, pairs: list[tuple[str, str]]
) -> None:
    """Set the rows ``(entity_id, a, b)`` of ``table`` (keyed by column ``key``) to ``pairs``.

    ``table`` and ``key`` come from this module, never from the caller's input.
    """
    store.con.execute(f"DELETE FROM {table} WHERE {key} = ?", [entity_id])
    for a, b in pairs:
        store.con.execute(
            f"INSERT INTO {table} VALUES (?, ?, ?) ON CONFLICT DO NOTHING", [entity_id, a, b]
        )


def replace_links(store: Store, entity_id: str, links: list[tuple[str, str]]) -> None:
    """Set the outgoing links of ``entity_id`` to ``[(to_id, relation)]``."""
    _replace_pairs(store, "market_links", "from_id", entity_id, links)


def replace_areas(store: Store, entity_id: str, areas: list[tuple[str, str]]) -> None:
    """Set the areas of ``entity_id`` to ``[(layer, area_id)]``."""
    _replace_pairs(store, "market_areas", "entity_id", entity_id, areas)


def _fetch(store: Store, query: str, column: str, value: Any, order_by: str) -> list[tuple]:
    """Rows of ``query``, only those with ``column = value`` when a value is given.

    ``column`` and ``order_by`` come from this module, never from the caller's input.
    """
    params: list[Any] = []
    if value:
        query += f" WHERE {column} = ?"
        params.append(value)
    return store.con.execute(f"{query} ORDER BY {order_by}", params).fetchall()


def load_entities(store: Store, kind: str | None = None) -> list[dict[str, Any]]:
    """Every entity as ``{id, kind, attrs, created_at, updated_at}``, ordered by id."""
    q = "SELECT id, kind, attrs, created_at, updated_at FROM market_entities"
    rows = _fetch(store, q, "kind", kind, "id")
    return [
        {
            "id": r[0],
            "kind": r[1],
            "attrs": json.loads(r[2]),
            "created_at": r[3],
            "updated_at": r[4],
        }
        for r in rows
    ]


def load_links(store: Store) -> list[tuple[str, str, str]]:
    return [
        (r[0], r[1], r[2])
        for r in store.con.execute(
            "SELECT from_id, to_id, relation FROM market_links ORDER BY from_id, to_id"
        ).fetchall()
    ]


def load_areas(store: Store) -> list[tuple[str, str, str]]:
    return [
        (r[0], r[1], r[2])
        for r in store.con.execute(
            "SELECT entity_id, layer, area_id FROM market_areas ORDER BY entity_id, layer, area_id"
        ).fetchall()
    ]


# -- assessments ---------------------------------------------------------------


def next_assessment_version(store: Store, entity_id: str) -> int:
    return int(
        store.scalar(
            "SELECT coalesce(max(version), 0) + 1 FROM market_assessments WHERE entity_id = ?",
            [entity_id],
        )
    )


def insert_assessment(store: Store, row: dict[str, Any], harms: list[dict[str, Any]]) -> None:
    """Append one assessment version and its harm scores (never an UPDATE)."""
    store.con.execute(
        "INSERT INTO market_assessments (assessment_id, entity_id, version, assessed_on, assessor,"
        " capability, capacity, position_confidence, position_evidence, note, prefill)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            row["assessment_id"],
            row["entity_id"],
            row["version"],
            row["assessed_on"],
            row.get("assessor"),
            row.get("capability"),
            row.get("capacity"),
            row.get("position_confidence"),
            row.get("position_evidence"),
            row.get("note"),
            json.dumps(row.get("prefill")) if row.get("prefill") is not None else None,
        ],
    )
    for h in harms:
        store.con.execute(
            "INSERT INTO market_assessment_harms VALUES (?, ?, ?, ?, ?, ?)",
            [
                row["assessment_id"],
                h["harm_id"],
                h["impact"],
                h["likelihood"],
                h["confidence"],
                h.get("evidence"),
            ],
        )


def load_assessments(store: Store, entity_id: str | None = None) -> list[dict[str, Any]]:
    """Every assessment version (oldest first per entity) with its harm rows."""
    q = (
        "SELECT assessment_id, entity_id, version, assessed_on, assessor, capability, capacity,"
        " position_confidence, position_evidence, note, prefill, created_at"
        " FROM market_assessments"
    )
    cols = [
        "assessment_id",
        "entity_id",
        "version",
        "assessed_on",
        "assessor",
        "capability",
        "capacity",
        "position_confidence",
        "position_evidence",
        "note",
        "prefill",
        "created_at",
    ]
    rows = [
        dict(zip(cols, r, strict=True))
        for r in _fetch(store, q, "entity_id", entity_id, "entity_id, version")
    ]
    if not rows:
        return []
    harms: dict[str, list[dict[str, Any]]] = {}
    hq = (
        "SELECT assessment_id, harm_id, impact, likelihood, confidence, evidence"
        " FROM market_assessment_harms ORDER BY assessment_id, harm_id"
    )
    for r in store.con.execute(hq).fetchall():
        harms.setdefault(r[0], []).append(
            {
                "harm_id": r[1],
                "impact": r[2],
                "likelihood": r[3],
                "confidence": r[4],
                "evidence": r[5],
            }
        )
    for row in rows:
        row["prefill"] = json.loads(row["prefill"]) if row["prefill"] else None
        row["harms"] = harms.get(row["assessment_id"], [])
    return rows


# -- disruptions ----------------------------------------------------------------


def next_disruption_number(store: Store) -> int:
    return int(store.scalar("SELECT count(*) FROM market_disruptions")) + 1


def disruption_exists(store: Store, disruption_id: str) -> bool:
    return bool(
        store.scalar(
            "SELECT count(*) FROM market_disruptions WHERE disruption_id = ?", [disruption_id]
        )
    )


def insert_disruption(store: Store, row: dict[str, Any]) -> None:
    store.con.execute(
        "INSERT INTO market_disruptions (disruption_id, entity_id, date, category, impact, planned,"
        " description, capability_evidence, evidence_refs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            row["disruption_id"],
            row["entity_id"],
            row["date"],
            row["category"],
            row["impact"],
            row.get("planned"),
            row.get("description"),
            row.get("capability_evidence"),
            json.dumps(row.get("evidence_refs") or []),
        ],
    )


def load_disruptions(store: Store) -> list[dict[str, Any]]:
    cols = [
        "disruption_id",
        "entity_id",
        "date",
        "category",
        "impact",
        "planned",
        "description",
        "capability_evidence",
        "evidence_refs",
        "created_at",
    ]
    rows = store.con.execute(
        f"SELECT {', '.join(cols)} FROM market_disruptions ORDER BY date, disruption_id"
    ).fetchall()
    out = []
    for r in rows:
        d = dict(zip(cols, r, strict=True))
        d["evidence_refs"] = json.loads(d["evidence_refs"]) if d["evidence_refs"] else []
        out.append(d)
    return out


# -- indicator observations ------------------------------------------------------


def insert_indicator_obs(
    store: Store, entity_id: str, indicator_id: str, observed_on: Any, evidence: str | None
) -> None:
    store.con.execute(
        "INSERT INTO market_indicator_obs (entity_id, indicator_id, observed_on, evidence)"
        " VALUES (?, ?, ?, ?)",
        [entity_id, indicator_id, observed_on, evidence],
    )


def load_indicator_obs(store: Store, entity_id: str | None = None) -> list[dict[str, Any]]:
    q = "SELECT entity_id, indicator_id, observed_on, evidence FROM market_indicator_obs"
    rows = _fetch(store, q, "entity_id", entity_id, "observed_on, indicator_id")
    return [
        {"entity_id": r[0], "indicator_id": r[1], "observed_on": r[2], "evidence": r[3]}
        for r in rows
    ]


# -- monthly series for the emerging-market warning -----------------------------

_FORCE_COL = {"crimes": "falls_within", "stop_searches": "force", "outcomes": "falls_within"}


def force_monthly_counts(
    store: Store,
    table: str,
    crime_types: list[str] | None = None,
    filters: dict[str, list[Any]] | None = None,
) -> Any:
    """Counts per (force, month) of one records table: DataFrame force, month, n."""
    if table not in _FORCE_COL:
        raise ValueError(table)
    col = _FORCE_COL[table]
    clauses, params = [f"{col} IS NOT NULL"], []
    if crime_types:
        clauses.append(f"crime_type IN ({', '.join('?' for _ in crime_types)})")
        params += list(crime_types)
    for key, values in (filters or {}).items():
        if key not in ("object_of_search", "outcome_linked_to_object", "falls_within", "force"):
            raise ValueError(key)
        clauses.append(f"{key} IN ({', '.join('?' for _ in values)})")
        params += list(values)
    return store.sql(
        f"SELECT {col} AS force, month, count(*) AS n FROM {table}"
        f" WHERE {' AND '.join(clauses)} GROUP BY ALL ORDER BY ALL",
        params,
    )


def force_months(store: Store, table: str) -> dict[str, list[str]]:
    """Months with any record, per force, for one records table."""
    col = _FORCE_COL[table]
    df = store.sql(
        f"SELECT DISTINCT {col} AS force, month FROM {table} WHERE {col} IS NOT NULL ORDER BY ALL"
    )
    out: dict[str, list[str]] = {}
    for f, m in zip(df["force"], df["month"], strict=True):
        out.setdefault(str(f), []).append(str(m))
    return out


def lsoa_forces(store: Store, codes: list[str]) -> dict[str, list[str]]:
    """Forces whose street crimes fall in each LSOA code (to place an area in a force)."""
    if not codes:
        return {}
    df = store.sql(
        "SELECT DISTINCT lsoa_code, falls_within FROM crimes WHERE falls_within IS NOT NULL"
        f" AND lsoa_code IN ({', '.join('?' for _ in codes)}) ORDER BY ALL",
        list(codes),
    )
    out: dict[str, list[str]] = {}
    for code, force in zip(df["lsoa_code"], df["falls_within"], strict=True):
        out.setdefault(str(code), []).append(str(force))
    return out
