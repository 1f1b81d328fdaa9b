"""SQL for police.uk records, their source files and the quarantine."""

from __future__ import annotations

import pyarrow as pa

from realimpact.store.connection import Store

_RECORD_TABLES = {"crimes", "stop_searches", "outcomes"}


def file_present(store: Store, sha256: str, kind: str) -> bool:
    """Same content already stored as the same kind: re-ingest adds nothing."""
    return bool(
        store.scalar("SELECT count(*) FROM source_files WHERE sha256 = ? AND kind = ?", [sha256, kind])
    )


def insert_records(store: Store, table: str, rows: pa.Table) -> None:
    """Append an Arrow table whose column names match ``table``'s (any order)."""
    if table not in _RECORD_TABLES:
        raise ValueError(f"unknown record table {table}")
    if rows.num_rows == 0:
        return
    store.con.register("_ri_batch", rows)
    try:
        store.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _ri_batch")
    finally:
        store.con.unregister("_ri_batch")


def insert_quarantine(
    store: Store, file_id: int, rows: list[tuple[int | None, str, str | None, str, str]]
) -> None:
    """rows: (line, kind, field, reason, raw text)."""
    if not rows:
        return
    store.con.executemany(
        "INSERT INTO quarantine (file_id, line, kind, field, reason, raw) VALUES (?, ?, ?, ?, ?, ?)",
        [(file_id, *r) for r in rows],
    )


def insert_source_file(store: Store, **values: object) -> None:
    cols = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    store.con.execute(f"INSERT INTO source_files ({cols}) VALUES ({marks})", list(values.values()))
