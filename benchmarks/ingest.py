"""Ingest speed and memory on a national-year-sized input.

Builds about 6.5 million street-crime rows in 12 monthly police.uk files (real
rows from ../shared/data/police_uk resampled, so values, lengths and empty
fields look like the real thing), then prints from one run:

- realimpact ingest time (fresh process, fresh store) and its peak RSS;
- pandas.read_csv parse time of the same files (the everyday baseline);
- the ratio ingest / pandas;
- two floors for any ingest into the embedded store: DuckDB's own read_csv into
  a persistent table, and the append alone of already-parsed Arrow tables.

Targets: ratio <= 2.0, peak RSS <= 2 GiB.

    python benchmarks/ingest.py [--rows-per-file 540000] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data" / "police_uk"

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from realimpact.sources.police_uk import ingest_police_uk
r = ingest_police_uk(sys.argv[2:], sys.argv[1])
dt = time.perf_counter() - t0
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": dt, "peak_rss_mib": peak_kib / 1024, **r.totals()}))
"""


FLOOR = r"""
import sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?, all_varchar = true) LIMIT 0", [sys.argv[2]])
for f in sys.argv[2:]:
    con.execute("INSERT INTO t SELECT * FROM read_csv(?, all_varchar = true)", [f])
con.close()
"""


# The write alone: each file parsed by pyarrow first (not timed), cut into
# batches of whole DuckDB row groups (the best case), then only INSERT, COMMIT
# and the final checkpoint at close timed. No DuckDB-backed ingest can avoid
# this cost, whatever parser it uses.
APPEND = r"""
import sys, time, duckdb, pyarrow as pa, pyarrow.csv as pc
con = duckdb.connect(sys.argv[1])
spent = 0.0
for i, f in enumerate(sys.argv[2:]):
    tb = pc.read_csv(f, convert_options=pc.ConvertOptions(column_types={"Context": pa.string()}))
    tb = pa.Table.from_batches(tb.combine_chunks().to_batches(245760), schema=tb.schema)
    if i == 0:
        con.execute("CREATE TABLE t AS SELECT * FROM tb LIMIT 0")
    t = time.perf_counter()
    con.execute("BEGIN")
    con.execute("INSERT INTO t SELECT * FROM tb")
    con.execute("COMMIT")
    spent += time.perf_counter() - t
t = time.perf_counter()
con.close()
print(spent + time.perf_counter() - t)
"""


def build_files(folder: Path, rows_per_file: int, seed: int = 1) -> list[Path]:
    real = pd.concat(
        [
            pd.read_csv(f, dtype=str, keep_default_na=False)
            for f in sorted(SHARED.glob("*/street/*.csv"))
        ],
        ignore_index=True,
    )
    rng = np.random.default_rng(seed)
    files = []
    for m in range(1, 13):
        month = f"2019-{m:02d}"
        sample = real.iloc[rng.integers(0, len(real), rows_per_file)].copy()
        sample["Month"] = month
        has_id = sample["Crime ID"] != ""
        ids = [
            hashlib.sha256(f"{month}-{i}".encode()).hexdigest() for i in range(int(has_id.sum()))
        ]
        sample.loc[has_id, "Crime ID"] = ids
        path = folder / f"{month}-national-street.csv"
        sample.to_csv(path, index=False)
        files.append(path)
    return files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows-per-file", type=int, default=540_000)
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ri-bench-ingest-"))
    try:
        t = time.perf_counter()
        files = build_files(work, args.rows_per_file)
        size = sum(f.stat().st_size for f in files)
        print(f"built {len(files)} files, {args.rows_per_file * len(files):,} rows,"
              f" {size / 2**20:,.0f} MiB in {time.perf_counter() - t:.1f} s")  # fmt: skip

        # pandas baseline: parse every file (default C engine, as an analyst would)
        t = time.perf_counter()
        n = 0
        for f in files:
            n += len(pd.read_csv(f))
        pandas_s = time.perf_counter() - t
        print(f"pandas.read_csv: {pandas_s:.2f} s for {n:,} rows (pandas {pd.__version__})")
        # the same with every column as Python objects (pandas 2's default for text)
        t = time.perf_counter()
        for f in files:
            pd.read_csv(f, dtype=object)
        pandas_obj_s = time.perf_counter() - t
        print(f"pandas.read_csv(dtype=object): {pandas_obj_s:.2f} s")

        # the floor for any DuckDB-backed ingest: DuckDB's own reader into a
        # persistent table, no validation, no coordinates, no provenance
        floor_store = work / "floor.duckdb"
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", FLOOR, str(floor_store), *map(str, files)], check=True
        )
        floor_s = time.perf_counter() - t
        floor_store.unlink()
        print(
            f"duckdb read_csv -> persistent table (no validation, reference floor): {floor_s:.2f} s"
        )
        proc = subprocess.run(
            [sys.executable, "-c", APPEND, str(floor_store), *map(str, files)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        append_s = float(proc.stdout.strip().splitlines()[-1])
        floor_store.unlink()
        print(
            f"duckdb append of the already-parsed Arrow tables (write only): {append_s:.2f} s"
            f" = {append_s / pandas_s:.1f}x pandas.read_csv"
        )

        store = work / "bench.duckdb"
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(store), *map(str, files)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        ratio = res["seconds"] / pandas_s
        print(f"realimpact ingest: {res['seconds']:.2f} s, {res['rows_inserted']:,} rows inserted,"
              f" {res['rows_quarantined']:,} quarantined; peak RSS {res['peak_rss_mib']:,.0f} MiB")  # fmt: skip
        print(f"ratio ingest / pandas.read_csv: {ratio:.2f}  (target <= 2.0)")
        print(f"ratio ingest / pandas.read_csv(dtype=object): {res['seconds'] / pandas_obj_s:.2f}")
        print(f"ratio ingest / duckdb floor: {res['seconds'] / floor_s:.2f}")
        print(f"peak RSS: {res['peak_rss_mib'] / 1024:.2f} GiB  (target <= 2 GiB)")
        print(json.dumps({"rows": n, "pandas_s": round(pandas_s, 2),
                          "pandas_object_s": round(pandas_obj_s, 2),
                          "duckdb_floor_s": round(floor_s, 2),
                          "duckdb_append_s": round(append_s, 2),
                          "realimpact_s": round(res["seconds"], 2), "ratio": round(ratio, 2),
                          "peak_rss_mib": round(res["peak_rss_mib"])}))  # fmt: skip
    finally:
        if args.keep:
            print(f"files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
