"""Benchmark: harm index over a 6.5-million-row store, by LSOA and month.

Target: under 1 second warm. Printed beside the equivalent pandas
groupby (counts by LSOA, month and crime type, weighted and ranked) on the same
rows already in memory, timed in the same run.

The store is built from the real Merseyside, Cleveland and Durham street files
(139,052 rows, 5 months) copied 47 times inside DuckDB into later months, so
the index has ~1,750 LSOAs x 235 months (about the size of a year of England's
35,000 LSOAs x 12 months).

    python benchmarks/harm_index.py [--rows 6500000] [--store PATH]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from realimpact.harm.index import harm_index
from realimpact.harm.weights import CRIME_TYPES, cchi_weights
from realimpact.sources.police_uk import ingest_police_uk
from realimpact.store import Store

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
if not SHARED.is_dir():
    SHARED = Path("/work/shared")
FORCES = ("merseyside", "cleveland", "durham")


def build(path: Path, rows: int) -> int:
    with Store(path) as st:
        res = ingest_police_uk([SHARED / "data/police_uk" / f / "street" for f in FORCES], st)
        assert res.ok
        base = st.scalar("SELECT count(*) FROM crimes")
        copies = -(-rows // base) - 1
        with st.transaction() as con:
            con.execute(
                """
                INSERT INTO crimes BY NAME
                SELECT c.* REPLACE (
                    c.file_id + 1000 * k AS file_id,
                    strftime(CAST(c.month || '-01' AS DATE) + INTERVAL (5 * k) MONTH, '%Y-%m')
                        AS month)
                FROM crimes c, range(1, ? + 1) t(k)
                """,
                [copies],
            )
        return int(st.scalar("SELECT count(*) FROM crimes"))


def time_it(fn, repeat: int = 5) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def pandas_index(df: pd.DataFrame, w: dict[str, float]) -> pd.DataFrame:
    counts = df.groupby(["month", "lsoa_code", "crime_type"], observed=True).size()
    wide = counts.unstack(fill_value=0).reindex(columns=list(CRIME_TYPES), fill_value=0)
    grid = pd.MultiIndex.from_product([df["month"].cat.categories, df["lsoa_code"].cat.categories])
    wide = wide.reindex(grid, fill_value=0)
    out = wide.reset_index()
    out["harm"] = wide.to_numpy(dtype=float) @ np.array([w[c] for c in CRIME_TYPES])
    out["rank"] = out["harm"].groupby(out.iloc[:, 0]).rank(ascending=False, method="min")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=6_500_000)
    ap.add_argument("--store", type=Path, default=None, help="reuse (or build) this store")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.store or Path(tmp) / "bench.duckdb"
        t = time.perf_counter()
        n = build(path, args.rows) if not path.exists() else None
        if n:
            print(f"built store: {n:,} crimes in {time.perf_counter() - t:.1f} s")
        with Store(path) as st:
            n = st.scalar("SELECT count(*) FROM crimes")
            st.con.execute("DELETE FROM harm_cache_state")  # start cold
            t = time.perf_counter()
            harm_index(st, weights="cchi")  # cold: counts the records, fills the monthly cache
            cold = time.perf_counter() - t
            ri, idx = time_it(lambda: harm_index(st, weights="cchi"))
            t = time.perf_counter()
            tbl = st.con.sql(
                "SELECT lsoa_code, month, crime_type FROM crimes WHERE lsoa_code IS NOT NULL"
            ).to_arrow_table()
            tbl = tbl.from_arrays(
                [pc.dictionary_encode(c) for c in tbl.columns], names=tbl.column_names
            )
            df = tbl.to_pandas()
            load = time.perf_counter() - t
        w = cchi_weights().weights
        pdt, ref = time_it(lambda: pandas_index(df, w), repeat=3)
        assert len(ref) == len(idx), (len(ref), len(idx))
        np.testing.assert_allclose(
            np.sort(ref["harm"].to_numpy()), np.sort(idx["harm"].to_numpy()), rtol=1e-9
        )
        print(f"rows in store:                {n:,}")
        print(f"index rows (LSOA x month):    {len(idx):,}")
        print(f"realimpact harm_index (cold): {cold:.3f} s  (counts records, fills the cache)")
        print(f"realimpact harm_index (warm): {ri:.3f} s  (median of 5; target < 1 s)")
        print(f"pandas groupby, in memory:    {pdt:.3f} s  (median of 3)")
        print(f"  + loading the rows to pandas first: {load:.3f} s")


if __name__ == "__main__":
    main()
