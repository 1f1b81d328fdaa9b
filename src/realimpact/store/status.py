"""What the store holds, per table: rows, months, forces, source files."""

from __future__ import annotations

import os

from realimpact.errors import InputError
from realimpact.store.connection import RECORD_TABLES, Store, using_store

_FORCE_EXPR = {
    "crimes": "falls_within",
    "outcomes": "falls_within",
    "stop_searches": "force",
}


def store_status(store: Store | str | os.PathLike | None = None) -> dict:
    """Summary used by ``realimpact status``; cheap (aggregates only)."""
    with using_store(store, read_only=True) as st:
        tables = {}
        for t in RECORD_TABLES:
            rows, months, mmin, mmax, files = st.con.execute(
                f"SELECT count(*), count(DISTINCT month), min(month), max(month),"
                f" count(DISTINCT file_id) FROM {t}"
            ).fetchall()[0]
            forces = [
                r[0]
                for r in st.con.execute(
                    f"SELECT DISTINCT {_FORCE_EXPR[t]} FROM {t}"
                    f" WHERE {_FORCE_EXPR[t]} IS NOT NULL ORDER BY 1"
                ).fetchall()
            ]
            kind = {"crimes": "street", "stop_searches": "stop_search", "outcomes": "outcomes"}[t]
            quarantined = st.scalar("SELECT count(*) FROM quarantine WHERE kind = ?", [kind])
            no_coords = st.scalar(f"SELECT count(*) FROM {t} WHERE NOT has_coords")
            tables[t] = {
                "rows": int(rows),
                "months": int(months),
                "month_min": mmin,
                "month_max": mmax,
                "forces": forces,
                "files": int(files),
                "quarantined": int(quarantined),
                "rows_without_coordinates": int(no_coords),
            }
        layers = st.sql("SELECT layer, kind, n_areas, source FROM layers ORDER BY layer")
        layer_list = layers.to_dict("records")
        if "lsoa" not in set(layers["layer"]):
            n = st.scalar(
                "SELECT count(DISTINCT lsoa_code) FROM (SELECT lsoa_code FROM crimes"
                " UNION ALL SELECT lsoa_code FROM outcomes) WHERE lsoa_code IS NOT NULL"
            )
            layer_list.insert(
                0, {"layer": "lsoa", "kind": "codes", "n_areas": int(n), "source": None}
            )
        files = st.sql(
            "SELECT path, kind, rows_read, rows_inserted, rows_quarantined, encoding,"
            " CAST(ingested_at AS VARCHAR) AS ingested_at FROM source_files ORDER BY file_id"
        ).to_dict("records")
        return {
            "store": st.path,
            "schema_version": st.schema_version(),
            "tables": tables,
            "layers": layer_list,
            "source_files": files,
        }


def quarantine_rows(
    store: Store | str | os.PathLike | None = None,
    *,
    file: str | None = None,
    limit: int = 50,
) -> dict:
    """Quarantined rows with their file, line, field, reason and text.

    Rows are never silently dropped (issue 2): this is where an analyst sees
    what was set aside and why. ``file`` keeps files whose path contains it;
    the summary counts every quarantined row, ``rows`` shows the first
    ``limit`` in file and line order.
    """
    if limit < 0:
        raise InputError(f"--limit: {limit} must be 0 or more")
    with using_store(store, read_only=True) as st:
        where, params = "TRUE", []
        if file:
            where, params = "f.path LIKE ?", [f"%{file}%"]
        base = f"FROM quarantine q JOIN source_files f USING (file_id) WHERE {where}"
        by_reason = st.sql(
            "SELECT f.kind, coalesce(q.field, '(row)') AS field, count(*) AS n"
            f" {base} GROUP BY ALL ORDER BY n DESC, field",
            params,
        ).to_dict("records")
        rows = st.sql(
            f"SELECT f.path, q.line, q.kind, q.field, q.reason, q.raw {base}"
            f" ORDER BY q.file_id, q.line LIMIT {int(limit)}",
            params,
        ).to_dict("records")
        total = int(st.scalar(f"SELECT count(*) {base}", params))
    return {"total": total, "by_field": by_reason, "rows": rows, "limit": limit}
