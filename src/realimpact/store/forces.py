"""Police forces: one name per force, whichever file it came from.

Street and outcomes files name the force in "Falls within" ("City of London
Police"); stop-and-search files carry no force column, so the store takes the
force from the file name ("city-of-london"). :func:`force_key` maps both to
the police.uk slug and :func:`force_name` to the name the street files use,
so ``status``, ``--force`` and every table name a force the same way.

A force "published" a month of a records table when the store holds records
of that force in that month (:func:`force_months`); a month it did not
publish is unknown, never a zero.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from realimpact.errors import InputError, ValidationError
from realimpact.store.connection import RECORD_TABLES, Store

# police.uk force slugs (stop-and-search file names, the API) and the names
# street files give in "Falls within".
FORCE_NAMES: dict[str, str] = {
    "avon-and-somerset": "Avon and Somerset Constabulary",
    "bedfordshire": "Bedfordshire Police",
    "btp": "British Transport Police",
    "cambridgeshire": "Cambridgeshire Constabulary",
    "cheshire": "Cheshire Constabulary",
    "city-of-london": "City of London Police",
    "cleveland": "Cleveland Police",
    "cumbria": "Cumbria Constabulary",
    "derbyshire": "Derbyshire Constabulary",
    "devon-and-cornwall": "Devon & Cornwall Police",
    "dorset": "Dorset Police",
    "durham": "Durham Constabulary",
    "dyfed-powys": "Dyfed-Powys Police",
    "essex": "Essex Police",
    "gloucestershire": "Gloucestershire Constabulary",
    "greater-manchester": "Greater Manchester Police",
    "gwent": "Gwent Police",
    "hampshire": "Hampshire Constabulary",
    "hertfordshire": "Hertfordshire Constabulary",
    "humberside": "Humberside Police",
    "kent": "Kent Police",
    "lancashire": "Lancashire Constabulary",
    "leicestershire": "Leicestershire Police",
    "lincolnshire": "Lincolnshire Police",
    "merseyside": "Merseyside Police",
    "metropolitan": "Metropolitan Police Service",
    "norfolk": "Norfolk Constabulary",
    "north-wales": "North Wales Police",
    "north-yorkshire": "North Yorkshire Police",
    "northamptonshire": "Northamptonshire Police",
    "northern-ireland": "Police Service of Northern Ireland",
    "northumbria": "Northumbria Police",
    "nottinghamshire": "Nottinghamshire Police",
    "south-wales": "South Wales Police",
    "south-yorkshire": "South Yorkshire Police",
    "staffordshire": "Staffordshire Police",
    "suffolk": "Suffolk Constabulary",
    "surrey": "Surrey Police",
    "sussex": "Sussex Police",
    "thames-valley": "Thames Valley Police",
    "warwickshire": "Warwickshire Police",
    "west-mercia": "West Mercia Police",
    "west-midlands": "West Midlands Police",
    "west-yorkshire": "West Yorkshire Police",
    "wiltshire": "Wiltshire Police",
}
_ALIASES = {
    "british-transport": "btp",
    "police-service-of-northern-ireland": "northern-ireland",
    "psni": "northern-ireland",
    "devon-cornwall": "devon-and-cornwall",
    "met": "metropolitan",
    "metropolitan-police": "metropolitan",
    "gmp": "greater-manchester",
}

# The column naming a record's force, per records table.
FORCE_COLUMN = {"crimes": "falls_within", "outcomes": "falls_within", "stop_searches": "force"}


def _slugify(name: str) -> str:
    s = str(name).strip().lower().replace("&", " and ")
    for suffix in (" police service", " police force", " constabulary", " police"):
        if s.endswith(suffix):
            s = s[: -len(suffix)]
    return re.sub(r"[^a-z0-9]+", "-", s).strip("-")


def force_key(name: str) -> str:
    """The police.uk slug of a force: 'City of London Police' -> 'city-of-london'.

    Accepts a street-file name, a slug or a stop-and-search file-name force,
    in any case. A force not in :data:`FORCE_NAMES` keys as its own slug.
    """
    s = _slugify(name)
    return _ALIASES.get(s, s)


def force_name(name: str) -> str:
    """The name street files use: 'city-of-london' -> 'City of London Police'."""
    key = force_key(name)
    if key in FORCE_NAMES:
        return FORCE_NAMES[key]
    raw = str(name).strip()
    return raw if " " in raw or raw[:1].isupper() else key.replace("-", " ").title()


def _raw_forces(store: Store, table: str) -> list[str]:
    col = FORCE_COLUMN[table]
    if not store.table_exists(table):
        return []
    return [
        str(r[0])
        for r in store.con.execute(
            f"SELECT DISTINCT {col} FROM {table} WHERE {col} IS NOT NULL ORDER BY 1"
        ).fetchall()
    ]


def forces_in_store(store: Store, tables: Sequence[str] = RECORD_TABLES) -> list[str]:
    """Every force with records in ``tables``, by its street-file name, sorted."""
    names = {force_name(f) for t in tables for f in _raw_forces(store, t)}
    return sorted(names)


def resolve_force(store: Store, name: str, tables: Sequence[str] = RECORD_TABLES) -> str:
    """The store's name for the force ``name`` (name or slug, any case).

    Raises InputError (exit 2) listing the forces the store holds when
    ``name`` is none of them.
    """
    key = force_key(name)
    held = forces_in_store(store, tables)
    for f in held:
        if force_key(f) == key:
            return f
    listed = ", ".join(f"{f} ({force_key(f)})" for f in held) or "none (ingest police.uk files)"
    raise InputError(f"--force: no force {name!r} in the store; forces: {listed}")


def force_values(store: Store, table: str, force: str) -> list[str]:
    """Values of ``table``'s force column naming ``force`` (may be empty)."""
    if table not in FORCE_COLUMN:
        raise ValidationError(f"unknown table {table!r}; use one of {', '.join(RECORD_TABLES)}")
    key = force_key(force)
    return [f for f in _raw_forces(store, table) if force_key(f) == key]


def force_clause(
    store: Store, table: str, force: str | None, alias: str = "r"
) -> tuple[str, list[str]]:
    """SQL clause (and parameters) keeping the records of ``force``; TRUE for None."""
    if force is None:
        return "TRUE", []
    vals = force_values(store, table, force)
    if not vals:
        return "FALSE", []
    col = f"{alias}.{FORCE_COLUMN[table]}" if alias else FORCE_COLUMN[table]
    return f"{col} IN ({', '.join('?' for _ in vals)})", vals


def force_months(
    store: Store, table: str = "crimes", force: str | None = None
) -> dict[str, list[str]]:
    """Months each force published in ``table`` (records held), by force name, sorted.

    ``force`` keeps one force. Records with no force are left out.
    """
    if table not in FORCE_COLUMN:
        raise ValidationError(f"unknown table {table!r}; use one of {', '.join(RECORD_TABLES)}")
    if not store.table_exists(table):
        return {}
    col = FORCE_COLUMN[table]
    where, params = force_clause(store, table, force, alias="")
    rows = store.con.execute(
        f"SELECT DISTINCT {col}, month FROM {table} WHERE {col} IS NOT NULL AND {where}"
        " ORDER BY 1, 2",
        params,
    ).fetchall()
    out: dict[str, set[str]] = {}
    for f, m in rows:
        out.setdefault(force_name(f), set()).add(str(m))
    return {f: sorted(ms) for f, ms in sorted(out.items())}


def month_runs(months: Sequence[str]) -> list[list[str]]:
    """Sorted months split into runs of consecutive calendar months."""
    from realimpact.periods import month_index

    ms = sorted(set(months))
    if not ms:
        return []
    idx = month_index(ms)
    runs: list[list[str]] = [[ms[0]]]
    for prev, cur, m in zip(idx[:-1], idx[1:], ms[1:], strict=True):
        if cur == prev + 1:
            runs[-1].append(m)
        else:
            runs.append([m])
    return runs


def missing_months(months: Sequence[str]) -> list[str]:
    """Calendar months inside the span of ``months`` that ``months`` lacks."""
    from realimpact.periods import month_index

    ms = sorted(set(months))
    if len(ms) < 2:
        return []
    lo, hi = (int(x) for x in month_index([ms[0], ms[-1]]))
    have = set(ms)
    span = [f"{m // 12:04d}-{m % 12 + 1:02d}" for m in range(lo, hi + 1)]
    return [m for m in span if m not in have]
