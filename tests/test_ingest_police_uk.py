"""police.uk ingest: faithful row counts, quarantine, rejection, idempotence, encodings."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from realimpact import open_store
from realimpact.sources.police_uk import ingest_police_uk
from tests.conftest import POLICE_UK

STREET_HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,"
    "Crime type,Last outcome category,Context"
)
GOOD_ROW = (
    "abc123,2020-03,City of London Police,City of London Police,-0.112422,51.515381,"
    "On or near Star Yard,E01000914,Camden 028B,Drugs,Under investigation,"
)
ASB_ROW = (
    ",2020-03,City of London Police,City of London Police,-0.112422,51.515381,"
    "On or near Star Yard,E01000914,Camden 028B,Anti-social behaviour,,"
)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "realimpact", *args], capture_output=True, text=True, timeout=300
    )


def write(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


@pytest.fixture(scope="module")
def full_store(tmp_path_factory: pytest.TempPathFactory):
    """All of ../shared/data/police_uk ingested once (about 370k rows)."""
    path = tmp_path_factory.mktemp("full") / "full.duckdb"
    result = ingest_police_uk([POLICE_UK], path)
    st = open_store(path, read_only=True)
    yield st, result
    st.close()


def test_every_police_uk_file_ingests_and_non_police_files_are_rejected(full_store):
    _, result = full_store
    rejected = {Path(f.path).name: f.error for f in result.files if f.status == "rejected"}
    # Not police.uk format: the reduced-column GMP burglary points, the LSOA-joined
    # subset (no coordinates, extra columns) and the two summary tables.
    assert set(rejected) == {
        "gmp_burglary_points_maczokni.csv",
        "gmp_stop_search_2019-06_manchester_with_lsoa11_maczokni.csv",
        "street_monthly_summary.csv",
        "stop_search_monthly_summary.csv",
    }
    msg = rejected["gmp_burglary_points_maczokni.csv"]
    assert "gmp_burglary_points_maczokni.csv" in msg and "not a police.uk file" in msg
    assert "\n" not in msg
    ingested = [f for f in result.files if f.status == "ingested"]
    assert len(ingested) == 107 - 4  # every other CSV in the folder
    assert all(f.rows_read == f.rows_inserted + f.rows_quarantined for f in ingested)


def test_street_counts_match_independent_monthly_summary(full_store):
    st, _ = full_store
    summary = pd.read_csv(POLICE_UK / "street_monthly_summary.csv")
    force_names = {
        "city_of_london": "City of London Police",
        "merseyside": "Merseyside Police",
        "cleveland": "Cleveland Police",
        "durham": "Durham Constabulary",
    }
    ours = st.sql(
        "SELECT falls_within, month, count(*) AS rows,"
        " count(*) FILTER (crime_type = 'Drugs') AS drugs,"
        " count(*) FILTER (crime_type = 'Anti-social behaviour') AS asb,"
        " count(DISTINCT lsoa_code) AS lsoas,"
        " count(*) FILTER (NOT has_coords) AS no_coord"
        " FROM crimes GROUP BY ALL"
    )
    summary["falls_within"] = summary["force"].map(force_names)
    merged = summary.merge(ours, on=["falls_within", "month"], suffixes=("_want", "_got"))
    assert len(merged) == len(summary) == 51
    for col in ("rows", "drugs", "asb", "lsoas", "no_coord"):
        assert (merged[f"{col}_want"] == merged[f"{col}_got"]).all(), col
    # ASB rows have an empty Crime ID and are still distinct rows
    assert st.scalar("SELECT count(*) FROM crimes WHERE crime_id IS NULL") == summary["asb"].sum()


def test_stop_search_counts_match_independent_summary(full_store):
    st, _ = full_store
    summary = pd.read_csv(POLICE_UK / "stop_search_monthly_summary.csv")
    ours = st.sql(
        "SELECT regexp_extract(f.path, '[^/]+$') AS file, count(*) AS rows,"
        " count(*) FILTER (object_of_search = 'Controlled drugs') AS drugs_object,"
        " count(*) FILTER (legislation = 'Misuse of Drugs Act 1971 (section 23)') AS mda_s23"
        " FROM stop_searches s JOIN source_files f USING (file_id) GROUP BY ALL"
    )
    merged = summary.merge(ours, on="file", suffixes=("_want", "_got"))
    assert len(merged) == len(summary)
    for col in ("rows", "drugs_object", "mda_s23"):
        assert (merged[f"{col}_want"] == merged[f"{col}_got"]).all(), col


def test_bng_and_point_in_polygon_agree_with_independent_lsoa_join(tmp_path):
    """GMP June 2019 searches: our BNG + point-in-polygon per LSOA equals the
    LSOA codes maczokni/crime_mapping attached to the same records with sf."""
    from realimpact.geo.areas import ingest_boundaries
    from realimpact.store.queries import record_counts

    st = open_store(tmp_path / "s.duckdb")
    ingest_police_uk(
        [POLICE_UK / "greater_manchester/2019-06-greater-manchester-stop-and-search.csv"], st
    )
    shp = POLICE_UK.parent / "boundaries/manchester_lsoa_2011/england_lsoa_2011.shp"
    ingest_boundaries(shp, st, layer="lsoa")
    ours = record_counts(st, "lsoa", "stop_searches", by=()).set_index("area_id")["n"]
    joined = pd.read_csv(
        POLICE_UK / "greater_manchester/gmp_stop_search_2019-06_manchester_with_lsoa11_maczokni.csv"
    )
    theirs = joined["code"].value_counts()
    both = pd.concat([ours.rename("ours"), theirs.rename("theirs")], axis=1).fillna(0)
    assert both["theirs"].sum() == 435
    assert (both["ours"] == both["theirs"]).all()


def test_invalid_values_are_quarantined_with_line_and_reason(tmp_path):
    f = write(
        tmp_path / "bad.csv",
        [
            STREET_HEADER,
            GOOD_ROW,  # line 2
            GOOD_ROW.replace("51.515381", "abc"),  # line 3
            GOOD_ROW.replace("2020-03", "2020-13"),  # line 4
            GOOD_ROW.replace("-0.112422,51.515381", "40.0,10.0"),  # line 5 outside UK
            GOOD_ROW.replace("-0.112422,51.515381", ","),  # line 6 missing coords: kept
            ASB_ROW,  # line 7
            "x,2020-03,too,few,fields",  # line 8 malformed
            GOOD_ROW.replace("-0.112422", ""),  # line 9 only latitude
        ],
    )
    st = open_store(tmp_path / "s.duckdb")
    r = ingest_police_uk([f], st)
    fr = r.files[0]
    assert (fr.status, fr.rows_read, fr.rows_inserted, fr.rows_quarantined) == ("ingested", 8, 3, 5)
    q = st.sql("SELECT line, field, reason FROM quarantine ORDER BY line")
    assert q["line"].tolist() == [3, 4, 5, 8, 9]
    reasons = dict(zip(q["line"], q["reason"], strict=True))
    assert "Latitude 'abc' is not a number" in reasons[3]
    assert "Month '2020-13' is not YYYY-MM" in reasons[4]
    assert "outside the UK" in reasons[5]
    assert "row has 5 fields, expected 12" in reasons[8]
    assert "only one of" in reasons[9]
    kept = st.sql("SELECT line, has_coords, crime_id FROM crimes ORDER BY line")
    assert kept["line"].tolist() == [2, 6, 7]
    assert kept["has_coords"].tolist() == [True, False, True]
    assert pd.isna(kept["crime_id"].iloc[2])  # ASB row kept with empty Crime ID


def test_fast_parser_keeps_text_and_numbers_exactly(tmp_path):
    """pandas' type inference must not change what a file says."""
    rows = [
        GOOD_ROW.replace("abc123", "007").replace(
            "On or near Star Yard", '"On or near Yard, Star"'
        ),  # line 2
        GOOD_ROW.replace("abc123", "008").replace("51.515381", "nan"),  # line 3
        GOOD_ROW.replace("abc123", "009").replace("-0.112422", "inf"),  # line 4
        GOOD_ROW.replace("abc123", "010").replace("-0.112422", "-0.1124220000000000001"),
    ]
    f = write(tmp_path / "digits.csv", [STREET_HEADER, *rows])
    st = open_store(tmp_path / "s.duckdb")
    r = ingest_police_uk([f], st)
    assert (r.files[0].rows_inserted, r.files[0].rows_quarantined) == (2, 2)
    kept = st.sql("SELECT line, crime_id, location, longitude FROM crimes ORDER BY line")
    assert kept["crime_id"].tolist() == ["007", "010"]  # all-digit ids stay text
    assert kept["location"].iloc[0] == "On or near Yard, Star"
    assert kept["longitude"].tolist() == [-0.112422, float("-0.1124220000000000001")]
    q = st.sql("SELECT line, reason FROM quarantine ORDER BY line")
    assert q["line"].tolist() == [3, 4]
    assert "Latitude 'nan' is not a number" in q["reason"].iloc[0]
    assert "Longitude 'inf' is not a number" in q["reason"].iloc[1]


def test_stored_coordinates_equal_the_text_of_real_files(full_store):
    """Every stored coordinate is the correctly rounded double of the file's text.

    Covers both parser paths: files where every row has coordinates (parsed
    as numbers by pandas) and files with blanks (kept as text, cast in SQL).
    """
    import csv

    st, _ = full_store
    files = st.sql("SELECT file_id, path FROM source_files WHERE kind = 'street'")
    assert len(files) > 50
    got = st.sql("SELECT file_id, line, longitude, latitude FROM crimes WHERE has_coords")
    got = got.set_index(["file_id", "line"])
    expected = {}
    for file_id, path in zip(files["file_id"], files["path"], strict=True):
        with Path(path).open(newline="", encoding="utf-8-sig") as fh:
            for i, r in enumerate(csv.DictReader(fh), start=2):
                if r["Longitude"]:
                    expected[(file_id, i)] = (float(r["Longitude"]), float(r["Latitude"]))
    assert len(expected) == len(got) > 150_000
    exp = pd.DataFrame.from_dict(expected, orient="index", columns=["longitude", "latitude"])
    exp.index = pd.MultiIndex.from_tuples(exp.index, names=["file_id", "line"])
    diff = got.merge(exp, left_index=True, right_index=True, how="outer", suffixes=("", "_text"))
    assert (diff["longitude"] == diff["longitude_text"]).all()
    assert (diff["latitude"] == diff["latitude_text"]).all()


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("wrong.csv", b"a,b,c\n1,2,3\n", "not a police.uk file"),
        ("empty.csv", b"", "file is empty"),
        ("junk.csv", bytes(range(256)) * 20, "binary content"),
        ("truncated.zip", None, "not a readable zip archive"),
    ],
)
def test_rejected_files_do_not_stop_the_others(tmp_path, name, content, reason):
    good = write(tmp_path / "good.csv", [STREET_HEADER, GOOD_ROW, ASB_ROW])
    bad = tmp_path / name
    if content is None:  # a real zip cut in half
        whole = tmp_path / "whole.zip"
        with zipfile.ZipFile(whole, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(
                POLICE_UK / "durham/street/2018-10-durham-street.csv", "2018-10-durham-street.csv"
            )
        data = whole.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
        whole.unlink()
    else:
        bad.write_bytes(content)
    store = tmp_path / "s.duckdb"
    proc = run_cli("ingest", "police-uk", str(bad), str(good), "--store", str(store), "--json")
    assert proc.returncode == 2
    out = json.loads(proc.stdout)
    by_name = {Path(f["path"]).name: f for f in out["files"]}
    assert by_name["good.csv"]["status"] == "ingested"
    assert by_name[name]["status"] == "rejected"
    assert reason in by_name[name]["error"] and name in by_name[name]["error"]
    assert out["totals"] == {
        "rows_read": 2, "rows_inserted": 2, "rows_quarantined": 0, "files_rejected": 1,
    }  # fmt: skip
    err_lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(err_lines) == 1 and name in err_lines[0]


def test_reingest_is_idempotent_and_zip_equals_csv(tmp_path):
    folder = POLICE_UK / "cleveland/street"
    archive = tmp_path / "cleveland.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.glob("*.csv")):
            zf.write(f, f"2018-10/{f.name}")  # police.uk archives nest files in month folders
    st = open_store(tmp_path / "s.duckdb")
    first = ingest_police_uk([archive], st)
    assert first.totals()["rows_inserted"] == 40_898
    again = ingest_police_uk([archive, folder], st)
    assert {f.status for f in again.files} == {"already_present"}
    assert again.totals()["rows_inserted"] == 0
    assert st.scalar("SELECT count(*) FROM crimes") == 40_898
    assert st.scalar("SELECT count(*) FROM source_files") == 5


def test_encodings_cp1252_and_bom(tmp_path):
    row = GOOD_ROW.replace("Star Yard", "Café Street – Müller’s")
    cp = write(tmp_path / "cp1252.csv", [STREET_HEADER, row], encoding="cp1252")
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + (STREET_HEADER + "\n" + ASB_ROW + "\n").encode())
    st = open_store(tmp_path / "s.duckdb")
    r = ingest_police_uk([cp, bom], st)
    assert [f.status for f in r.files] == ["ingested", "ingested"]
    assert st.scalar("SELECT location FROM crimes WHERE crime_id = 'abc123'") == (
        "On or near Café Street – Müller’s"
    )
    enc = dict(
        st.con.execute(
            "SELECT regexp_extract(path, '[^/]+$'), encoding FROM source_files"
        ).fetchall()
    )
    assert enc == {"cp1252.csv": "cp1252", "bom.csv": "utf-8-sig"}
    assert st.scalar("SELECT count(*) FROM crimes WHERE crime_type = 'Anti-social behaviour'") == 1


def test_killed_ingest_leaves_every_file_absent_or_whole(tmp_path):
    """kill -9 part-way through a multi-file ingest: each file is whole or absent."""
    import os
    import signal
    import time

    src = POLICE_UK / "merseyside/street"
    files = []
    for i in range(12):  # 12 distinct files (~13k rows each) so the kill lands mid-command
        for f in sorted(src.glob("*.csv")):
            text = f.read_text()
            p = tmp_path / f"copy{i}-{f.name}"
            # make the content distinct so each copy is a new file to the store
            p.write_text(
                text.replace("Merseyside Police,Merseyside", f"Merseyside Police{i},Merseyside")
            )
            files.append(p)
    store = tmp_path / "s.duckdb"
    proc = subprocess.Popen(
        [sys.executable, "-m", "realimpact", "ingest", "police-uk", *map(str, files),
         "--store", str(store)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.time() + 120
    # wait until a few files have landed, then kill without warning
    while time.time() < deadline:
        time.sleep(0.2)
        if store.exists() and store.stat().st_size > 3_000_000:
            break
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    st = open_store(store)
    per_file = st.sql(
        "SELECT f.file_id, f.rows_inserted, count(c.line) AS n FROM source_files f"
        " LEFT JOIN crimes c USING (file_id) GROUP BY ALL"
    )
    assert 0 < len(per_file) < len(files), "the kill should land part-way through"
    assert (per_file["rows_inserted"] == per_file["n"]).all()
    orphans = st.scalar(
        "SELECT count(*) FROM crimes WHERE file_id NOT IN (SELECT file_id FROM source_files)"
    )
    assert orphans == 0
    st.close()
    # and the store is usable: finishing the job adds exactly the missing files
    r = ingest_police_uk(files, store)
    statuses = [f.status for f in r.files]
    assert statuses.count("already_present") == len(per_file)
    assert statuses.count("ingested") == len(files) - len(per_file)


def test_status_json_reports_tables(tmp_path):
    store = tmp_path / "s.duckdb"
    ingest_police_uk([POLICE_UK / "durham/street"], store)
    proc = run_cli("status", "--store", str(store), "--json")
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    crimes = s["tables"]["crimes"]
    assert crimes["rows"] == 31_795
    assert (crimes["month_min"], crimes["month_max"], crimes["months"]) == ("2018-10", "2019-02", 5)
    assert crimes["forces"] == ["Durham Constabulary"]
    assert crimes["files"] == 5
    assert s["tables"]["stop_searches"]["rows"] == 0


def test_missing_store_folder_is_a_clear_error(tmp_path):
    proc = run_cli("status", "--store", str(tmp_path / "nope" / "s.duckdb"), "--json")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "nope" in proc.stderr


def test_outcomes_file_is_detected_from_its_header(tmp_path):
    header = (
        "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,"
        "LSOA name,Outcome type"
    )
    row = (
        "abc123,2020-04,City of London Police,City of London Police,-0.112422,51.515381,"
        "On or near Star Yard,E01000914,Camden 028B,Offender given a caution"
    )
    f = write(tmp_path / "renamed-download.csv", [header, row, row.replace("abc123", "def456")])
    st = open_store(tmp_path / "s.duckdb")
    r = ingest_police_uk([f], st)
    assert (r.files[0].kind, r.files[0].rows_inserted) == ("outcomes", 2)
    got = st.sql("SELECT crime_id, month, outcome_type, has_coords FROM outcomes ORDER BY crime_id")
    assert got["crime_id"].tolist() == ["abc123", "def456"]
    assert set(got["outcome_type"]) == {"Offender given a caution"}
    assert got["has_coords"].all()


def test_stop_search_month_is_london_local_time(tmp_path):
    """police.uk stamps searches in UTC: 23:01 UTC on 31 May 2019 is June in London."""
    f = POLICE_UK / "greater_manchester/2019-06-greater-manchester-stop-and-search.csv"
    raw = pd.read_csv(f)
    st = open_store(tmp_path / "s.duckdb")
    ingest_police_uk([f], st)
    months = st.sql("SELECT month, count(*) AS n FROM stop_searches GROUP BY 1")
    assert months["month"].tolist() == ["2019-06"]
    assert int(months["n"].iloc[0]) == len(raw)
    first = st.sql(
        "SELECT datetime, force, outcome_linked_to_object FROM stop_searches WHERE line = 2"
    )
    assert str(first["datetime"].iloc[0]).startswith("2019-05-31 23:01:00")
    assert first["force"].iloc[0] == "greater-manchester"
    assert pd.isna(
        first["outcome_linked_to_object"].iloc[0]
    )  # empty in the file: unknown, not False


def test_quarantine_command_lists_what_was_set_aside(tmp_path):
    f = write(
        tmp_path / "bad.csv",
        [
            STREET_HEADER,
            GOOD_ROW.replace("2020-03", "2020-13"),
            GOOD_ROW.replace("Star Yard", "[x]"),
        ],
    )
    store = tmp_path / "s.duckdb"
    ingest_police_uk([f], store)
    proc = run_cli("quarantine", "--store", str(store), "--json")
    assert proc.returncode == 0, proc.stderr
    q = json.loads(proc.stdout)
    assert q["total"] == 1
    assert q["by_field"] == [{"kind": "street", "field": "Month", "n": 1}]
    row = q["rows"][0]
    assert (Path(row["path"]).name, row["line"], row["field"]) == ("bad.csv", 2, "Month")
    assert "2020-13" in row["raw"]
    none = run_cli("quarantine", "--store", str(store), "--file", "other.csv", "--json")
    assert json.loads(none.stdout)["total"] == 0
    bad = run_cli("quarantine", "--store", str(store), "--limit", "-1")
    assert bad.returncode == 2 and "--limit" in bad.stderr


def test_tables_show_user_text_in_square_brackets_as_written(tmp_path):
    """Rich would read "[bold]" in a file name as markup and drop it."""
    f = write(tmp_path / "[bold]lockdown.csv", [STREET_HEADER, GOOD_ROW])
    store = tmp_path / "[red]s.duckdb"
    proc = run_cli("ingest", "police-uk", str(f), "--store", str(store))
    assert proc.returncode == 0, proc.stderr
    assert "[bold]lockdown.csv" in proc.stdout  # a table cell
    status = run_cli("status", "--store", str(store))
    assert status.returncode == 0, status.stderr
    assert "[red]s.duckdb" in status.stdout  # a line of text with markup around it


def test_fast_parser_agrees_with_the_careful_parser_on_every_shared_file():
    """pandas' C parser (fast path) against pyarrow's (careful path), value by value."""
    import numpy as np
    import pyarrow as pa

    from realimpact.errors import RejectedFileError
    from realimpact.sources import police_uk as pu

    compared = 0
    for path in sorted(POLICE_UK.glob("*/*/*.csv")):
        raw = path.read_bytes()
        header = pu._header(raw, str(path))
        try:
            pu.detect_kind(header)
        except RejectedFileError:
            continue  # the GMP burglary points file is not police.uk format
        fast = pu._parse_fast(raw, header)
        assert fast is not None, path
        slow, malformed = pu._parse(pu._decode(raw, str(path))[0], header, str(path))
        assert malformed == [] and fast.num_rows == slow.num_rows
        for col in header:
            a, b = fast[col], slow[col].to_pylist()
            if pa.types.is_floating(a.type):  # numbers only when every row has one
                assert np.array_equal(a.to_numpy(), np.array([float(v) for v in b])), (path, col)
            else:
                assert a.to_pylist() == b, (path, col)
        compared += 1
    assert compared == 102  # the street and stop-and-search files


def test_a_store_in_use_by_another_process_is_a_usage_error(tmp_path):
    """DuckDB allows one writer per file: the second command exits 2 naming the store."""
    import time

    store = tmp_path / "s.duckdb"
    f = write(tmp_path / "a.csv", [STREET_HEADER, GOOD_ROW])
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, duckdb, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
         " time.sleep(60)", str(store)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ready"
        t = time.perf_counter()
        proc = run_cli("ingest", "police-uk", str(f), "--store", str(store))
        assert time.perf_counter() - t < 60  # refused, not waiting for the lock
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(store) in lines[0] and "in use by another process" in lines[0]
