"""What the store holds, per table: rows, months, forces, source files."""

from __future__ import annotations

import os

from realimpact.errors import InputError
from realimpact.store.connection import RECORD_TABLES, Store, using_store
from realimpact.store.forces import FORCE_COLUMN, force_key, force_name, missing_months


def _by_force(st: Store, table: str) -> list[dict]:
    """Rows and months per force of one table, forces named as street files name them.

    Months are counted per force, never pooled: two forces of five and 36
    months are not "36 months" of either. ``missing`` lists the months inside
    a force's first..last month it did not publish.
    """
    col = FORCE_COLUMN[table]
    df = st.sql(
        f"SELECT {col} AS force, month, count(*) AS n FROM {table}"
        f" WHERE {col} IS NOT NULL GROUP BY ALL ORDER BY ALL"
    )
    groups: dict[str, dict] = {}
    for raw, month, n in zip(df["force"], df["month"], df["n"], strict=True):
        g = groups.setdefault(force_name(raw), {"months": set(), "rows": 0})
        g["months"].add(str(month))
        g["rows"] += int(n)
    out = []
    for name in sorted(groups):
        ms = sorted(groups[name]["months"])
        out.append(
            {
                "force": name,
                "key": force_key(name),
                "rows": groups[name]["rows"],
                "months": len(ms),
                "month_min": ms[0],
                "month_max": ms[-1],
                "missing": missing_months(ms),
            }
        )
    return out


def store_status(store: Store | str | os.PathLike | None = None) -> dict:
    """Summary used by ``realimpact status``; cheap (aggregates only)."""
    with using_store(store, read_only=True) as st:
        tables = {}
        for t in RECORD_TABLES:
            rows, months, mmin, mmax, files = st.con.execute(
                f"SELECT count(*), count(DISTINCT month), min(month), max(month),"
                f" count(DISTINCT file_id) FROM {t}"
            ).fetchall()[0]
            by_force = _by_force(st, t)
            forces = [f["force"] for f in by_force]
            kind = {"crimes": "street", "stop_searches": "stop_search", "outcomes": "outcomes"}[t]
            quarantined = st.scalar("SELECT count(*) FROM quarantine WHERE kind = ?", [kind])
            no_coords = st.scalar(f"SELECT count(*) FROM {t} WHERE NOT has_coords")
            tables[t] = {
                "rows": int(rows),
                "months": int(months),
                "month_min": mmin,
                "month_max": mmax,
                "forces": forces,
                "by_force": by_force,
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

    Rows are never silently dropped: this is where an analyst sees
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
