"""police.uk ingest hardening (issue 13): each case is a minimal mutation of a real file.

For every case: the exit code is 0 or 2 (never 1); rows stored + quarantined equal
the data rows Python's ``csv`` module counts (empty lines, which csv.reader yields
as ``[]``, are no rows; a whitespace-only line is one, quarantined as "blank
line"); quarantine lines are physical lines (header = 1); good files beside a bad
one still ingest.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from realimpact import open_store
from realimpact.errors import RejectedFileError
from realimpact.sources import police_uk
from realimpact.sources.police_uk import ingest_police_uk
from tests.conftest import POLICE_UK

STREET = POLICE_UK / "city_of_london/street/2020-05-city-of-london-street.csv"
STREET2 = POLICE_UK / "city_of_london/street/2020-04-city-of-london-street.csv"
SEARCH = POLICE_UK / "city_of_london/stop_and_search/2018-02-city-of-london-stop-and-search.csv"


def csv_rows(data: bytes) -> int:
    """Data rows as Python's csv module counts them (empty lines yield [] and are skipped)."""
    text = data.decode("utf-8-sig", errors="replace")
    csv.field_size_limit(1 << 30)
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    return len(rows) - 1


def lines_of(data: bytes) -> list[bytes]:
    return data.replace(b"\r\n", b"\n").split(b"\n")


def cli(store: Path, *paths: Path) -> tuple[int, dict, str]:
    p = subprocess.run(
        [sys.executable, "-m", "realimpact", "ingest", "police-uk", *map(str, paths),
         "--store", str(store), "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert p.returncode in (0, 2), p.stderr
    return p.returncode, json.loads(p.stdout), p.stderr


def ingest_bytes(tmp_path: Path, name: str, data: bytes) -> tuple[int, dict, Path]:
    """Write ``data`` as ``name`` and ingest it into a new store: (exit code, result, store)."""
    f = tmp_path / name
    f.write_bytes(data)
    store = tmp_path / "s.duckdb"
    rc, res, _ = cli(store, f)
    return rc, res, store


def check_counts(result: dict, files: dict[str, bytes]) -> None:
    for f in result["files"]:
        if f["status"] == "ingested":
            want = csv_rows(files[Path(f["path"]).name])
            assert f["rows_inserted"] + f["rows_quarantined"] == f["rows_read"] == want, f


def quarantine(store: Path) -> list[tuple]:
    st = open_store(store, read_only=True)
    try:
        return st.con.execute(
            "SELECT regexp_extract(f.path, '[^/!]+$'), q.line, q.field, q.reason"
            " FROM quarantine q JOIN source_files f USING (file_id) ORDER BY 1, 2"
        ).fetchall()
    finally:
        st.close()


# -- 1. header names ----------------------------------------------------------


@pytest.mark.parametrize(
    "old, new",
    [
        (b"Longitude,Latitude,", b"Longitude ,Latitude ,"),
        (b"LSOA code,", b"LSOA code ,"),
        (b",Month,", b", Month,"),
        (b",Crime type,", b", Crime type,"),
    ],
)
def test_header_with_stray_spaces_reads_every_column(tmp_path, old, new):
    orig = STREET.read_bytes()
    head, rest = orig.split(b"\n", 1)
    assert old in head
    mutated = tmp_path / "spaced.csv"
    mutated.write_bytes(head.replace(old, new) + b"\n" + rest)
    ref = open_store(tmp_path / "ref.duckdb")
    ingest_police_uk([STREET], ref)
    st = open_store(tmp_path / "s.duckdb")
    r = ingest_police_uk([mutated], st)
    f = r.files[0]
    assert f.status == "ingested" and f.rows_quarantined == 0
    assert f.rows_inserted == csv_rows(orig)
    q = (
        "SELECT count(*) FILTER (has_coords), count(lsoa_code), count(DISTINCT month),"
        " count(DISTINCT crime_type) FROM crimes"
    )
    assert st.con.execute(q).fetchall() == ref.con.execute(q).fetchall()


def test_duplicate_header_name_is_refused_and_the_others_ingest(tmp_path):
    orig = STREET.read_bytes()
    head, rest = orig.split(b"\n", 1)
    dup = tmp_path / "dup.csv"
    dup.write_bytes(head.replace(b",Context", b",Location") + b"\n" + rest)
    rc, res, err = cli(tmp_path / "s.duckdb", dup, STREET2)
    assert rc == 2
    assert [f["status"] for f in res["files"]] == ["rejected", "ingested"]
    msg = res["files"][0]["error"]
    assert "dup.csv" in msg and "'Location'" in msg and "more than once" in msg
    assert "\n" not in msg and err.count("more than once") == 1


# -- 2. blank lines and physical line numbers ---------------------------------


def _mutate_lines(orig: bytes) -> tuple[bytes, dict[int, str]]:
    """Real street file with an empty line, a whitespace-only line, a quoted
    line break and bad months after them; returns content and {physical line: field}."""
    lines = lines_of(orig)
    assert lines[-1] == b""
    body = lines[1:-1]
    out = [lines[0], *body[:3], b"", *body[3:6], b"   ", *body[6:9]]
    # a quoted Location holding a line break (one record, two physical lines)
    cells = body[9].split(b",")
    cells[6] = b'"On or near\nSomewhere"'
    out.append(b",".join(cells))
    out += body[10:12]
    cells = body[12].split(b",")
    cells[1] = b"2020-13"
    bad = b",".join(cells)
    out.append(bad)
    out += body[13:]
    data = b"\n".join(out) + b"\n"
    phys = data.split(b"\n")
    want = {}
    for i, ln in enumerate(phys, start=1):
        if ln == b"   ":
            want[i] = None
        elif b",2020-13," in ln:
            want[i] = "Month"
    return data, want


@pytest.mark.parametrize("crlf", [False, True])
def test_blank_lines_and_quoted_breaks_keep_physical_line_numbers(tmp_path, crlf):
    data, want = _mutate_lines(STREET.read_bytes())
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    rc, res, store = ingest_bytes(tmp_path, "blank.csv", data)
    assert rc == 0
    check_counts(res, {"blank.csv": data})
    q = quarantine(store)
    assert [(line, field) for _, line, field, _ in q] == sorted(want.items())
    assert [reason for _, line, _, reason in q if want[line] is None] == ["blank line"]
    st = open_store(store, read_only=True)
    loc = st.con.execute("SELECT line, location FROM crimes WHERE location LIKE '%Somewhere'")
    line, text = loc.fetchall()[0]
    assert text == "On or near\nSomewhere"
    assert data.replace(b"\r\n", b"\n").split(b"\n")[line - 1].endswith(b'"On or near')
    st.close()


def test_empty_line_then_bad_row_on_fast_path(tmp_path):
    """No whitespace-only line: the fast parser reads it; lines still physical."""
    lines = lines_of(STREET.read_bytes())
    lines[5] = lines[5].replace(b",2020-05,", b",2020-5,")
    data = b"\n".join([*lines[:3], b"", b"", *lines[3:]])
    f = tmp_path / "gap.csv"
    f.write_bytes(data)
    st = open_store(tmp_path / "s.duckdb")
    r = ingest_police_uk([f], st)
    assert r.files[0].rows_read == csv_rows(data)
    assert st.con.execute("SELECT line, field FROM quarantine").fetchall() == [(8, "Month")]
    assert data.split(b"\n")[7].startswith(lines[5][:20])


# -- 3. CR-only line endings ----------------------------------------------------


def test_cr_only_file_first_in_a_folder_is_read(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    lines = lines_of(STREET.read_bytes())
    lines[4] = lines[4].replace(b",2020-05,", b",May 2020,")
    mac = b"\r".join(lines)
    (folder / "a-mac.csv").write_bytes(mac)
    (folder / "b.csv").write_bytes(STREET2.read_bytes())
    store = tmp_path / "s.duckdb"
    rc, res, _ = cli(store, folder)
    assert rc == 0
    assert [f["status"] for f in res["files"]] == ["ingested", "ingested"]
    check_counts(res, {"a-mac.csv": mac, "b.csv": STREET2.read_bytes()})
    assert [(n, line, field) for n, line, field, _ in quarantine(store)] == [
        ("a-mac.csv", 5, "Month")
    ]


# -- 4. zips --------------------------------------------------------------------


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _patch_member(path: Path, *, flags: int | None = None, method: int | None = None) -> None:
    """Set a member's flag bits / compression method in its local and central headers."""
    b = bytearray(path.read_bytes())
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = b.find(sig)
        if flags is not None:
            b[i + off : i + off + 2] = (int.from_bytes(b[i + off : i + off + 2], "little") | flags).to_bytes(2, "little")  # fmt: skip
        if method is not None:
            b[i + off + 2 : i + off + 4] = method.to_bytes(2, "little")
    path.write_bytes(bytes(b))


def _corrupt_deflate(path: Path) -> None:
    b = bytearray(path.read_bytes())
    start = 30 + b[26] + (b[27] << 8) + b[28] + (b[29] << 8)  # after the local header
    for i in range(start + 10, start + 60):
        b[i] ^= 0x5A
    path.write_bytes(bytes(b))


@pytest.mark.parametrize("damage", ["deflate", "encrypted", "deflate64"])
def test_unreadable_zip_member_is_rejected_and_the_others_ingest(tmp_path, damage):
    folder = tmp_path / "in"
    folder.mkdir()
    z = _zip(folder / "a.zip", {"2020-05/x-street.csv": STREET.read_bytes()})
    if damage == "deflate":
        _corrupt_deflate(z)
    elif damage == "encrypted":
        _patch_member(z, flags=0x1)
    else:
        _patch_member(z, method=9)
    (folder / "b.csv").write_bytes(STREET2.read_bytes())
    rc, res, err = cli(tmp_path / "s.duckdb", folder)
    assert rc == 2
    by = {Path(f["path"]).name: f for f in res["files"]}
    assert by["b.csv"]["status"] == "ingested"
    assert by["b.csv"]["rows_inserted"] == csv_rows(STREET2.read_bytes())
    bad = [f for f in res["files"] if f["status"] == "rejected"]
    assert len(bad) == 1
    assert "a.zip" in bad[0]["error"] and "x-street.csv" in bad[0]["error"]
    assert "\n" not in bad[0]["error"]
    assert "Traceback" not in err


_BOMB_CHILD = """
import json, resource, sys, time
from realimpact.sources import police_uk
police_uk.ZIP_MAX_MEMBER_BYTES = 64 << 20
t = time.monotonic()
r = police_uk.ingest_police_uk([sys.argv[1], sys.argv[2]], sys.argv[3])
print(json.dumps({"seconds": time.monotonic() - t,
    "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    "files": [(f.status, f.error, f.rows_inserted) for f in r.files]}))
"""


def test_zip_bomb_is_refused_without_expanding_it(tmp_path):
    bomb = tmp_path / "bomb.zip"
    head, rest = STREET.read_bytes().split(b"\n", 1)
    row = rest.split(b"\n", 1)[0] + b"\n"
    block = row * ((8 << 20) // len(row))
    with (
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
        zf.open("2020-05/bomb-street.csv", "w", force_zip64=True) as f,
    ):
        f.write(head + b"\n")
        for _ in range(300 // 8):
            f.write(block)
    assert bomb.stat().st_size < 16 << 20
    p = subprocess.run(
        [sys.executable, "-c", _BOMB_CHILD, str(bomb), str(STREET2), str(tmp_path / "s.duckdb")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    (s1, err, _), (s2, _, n2) = out["files"]
    assert s1 == "rejected" and "bomb.zip" in err and "cap" in err
    assert s2 == "ingested" and n2 == csv_rows(STREET2.read_bytes())
    # the limit is the one promised (1 GiB on a 1 GiB bomb); the process's own imports
    # (pandas, pyarrow, DuckDB) take 300-600 MiB of it depending on the machine
    assert out["rss"] < 1 << 30
    assert out["seconds"] < 5


def test_member_cap_streams_past_a_lying_header(tmp_path, monkeypatch):
    """A forged declared size is not trusted: the member is refused, not half-read."""
    z = _zip(tmp_path / "a.zip", {"m.csv": b"x" * (4 << 20)})
    monkeypatch.setattr(police_uk, "ZIP_RATIO_FLOOR_BYTES", 1 << 20)
    monkeypatch.setattr(police_uk, "ZIP_MAX_MEMBER_BYTES", 1 << 20)
    real = zipfile.ZipFile.getinfo

    def lying(self, name):
        info = real(self, name)
        info.file_size = 10  # a forged header
        return info

    monkeypatch.setattr(zipfile.ZipFile, "getinfo", lying)
    with pytest.raises(RejectedFileError) as e:
        police_uk._Source("a.zip!m.csv", z, "m.csv").read_bytes()
    assert "a.zip" in str(e.value)


# -- 5. identity across line endings and BOM ---------------------------------------


def test_crlf_and_bom_copies_are_already_present(tmp_path):
    orig = STREET.read_bytes()
    copies = {
        "crlf.csv": orig.replace(b"\n", b"\r\n"),
        "bom.csv": b"\xef\xbb\xbf" + orig,
        "bomcrlf.csv": b"\xef\xbb\xbf" + orig.replace(b"\n", b"\r\n"),
        "mac.csv": orig.replace(b"\n", b"\r"),
    }
    for name, data in copies.items():
        (tmp_path / name).write_bytes(data)
    store = tmp_path / "s.duckdb"
    rc, res, _ = cli(store, STREET, *(tmp_path / n for n in copies))
    assert rc == 0
    assert [f["status"] for f in res["files"]] == ["ingested"] + ["already_present"] * 4
    st = open_store(store, read_only=True)
    assert st.scalar("SELECT count(*) FROM crimes") == csv_rows(orig)
    st.close()
    # and the other way round: a CRLF file first, then the LF original
    store2 = tmp_path / "s2.duckdb"
    _, res2, _ = cli(store2, tmp_path / "crlf.csv", STREET)
    assert [f["status"] for f in res2["files"]] == ["ingested", "already_present"]


def _with_cafe(orig: bytes) -> bytes:
    """The real file with a UTF-8 "Café" on the first data row's location."""
    head, first, rest = orig.split(b"\n", 2)
    first = first.replace(b"On or near ", "On or near Café ".encode(), 1)
    return b"\n".join([head, first, rest])


@pytest.mark.parametrize("first", ["utf8", "cp1252"])
def test_windows_1252_copy_of_a_utf8_file_is_already_present(tmp_path, first):
    text = _with_cafe(STREET.read_bytes()).decode("utf-8")
    files = {"utf8": text.encode("utf-8"), "cp1252": text.encode("cp1252")}
    order = [first, "cp1252" if first == "utf8" else "utf8"]
    for name in order:
        (tmp_path / f"{name}.csv").write_bytes(files[name])
    store = tmp_path / "s.duckdb"
    rc, res, _ = cli(store, *(tmp_path / f"{n}.csv" for n in order))
    assert rc == 0
    assert [f["status"] for f in res["files"]] == ["ingested", "already_present"]
    st = open_store(store, read_only=True)
    try:
        assert st.scalar("SELECT count(*) FROM crimes") == csv_rows(files["utf8"])
        assert st.scalar("SELECT count(*) FROM crimes WHERE location LIKE '%Café%'") == 1
    finally:
        st.close()


def test_one_stray_windows_1252_byte_quarantines_its_row_and_keeps_utf8_text(tmp_path):
    """A UTF-8 file with one 0xE9: "Café" elsewhere must not become "CafÃ©"."""
    lines = _with_cafe(STREET.read_bytes()).split(b"\n")
    lines[5] = lines[5].replace(b"On or near ", b"On or near Caf\xe9 ", 1)
    data = b"\n".join(lines)
    rc, res, store = ingest_bytes(tmp_path, "stray.csv", data)
    assert rc == 0
    (r,) = res["files"]
    assert (r["rows_inserted"], r["rows_quarantined"]) == (csv_rows(data) - 1, 1)
    assert quarantine(store) == [
        ("stray.csv", 6, "Location",
         "Location holds a byte that is not UTF-8 (the rest of the file is UTF-8)")
    ]  # fmt: skip
    st = open_store(store, read_only=True)
    try:
        locs = [x for (x,) in st.con.execute("SELECT location FROM crimes").fetchall()]
    finally:
        st.close()
    assert sum("Café" in x for x in locs) == 1
    assert not any("Ã" in x or "\ufffd" in x for x in locs)


def test_field_of_9_mb_beside_a_malformed_row_reads_every_other_row(tmp_path):
    """pyarrow refuses a record longer than two parse blocks ("straddling object")."""
    lines = STREET.read_bytes().split(b"\n")
    parts = lines[2].split(b",")
    parts[-1] = b'"' + b"y" * (9 << 20) + b'"'
    lines[2] = b",".join(parts)
    lines[5] += b",extra"
    data = b"\n".join(lines)
    rc, res, store = ingest_bytes(tmp_path, "huge.csv", data)
    assert rc == 0
    (r,) = res["files"]
    assert r["status"] == "ingested"
    assert (r["rows_inserted"], r["rows_quarantined"]) == (csv_rows(data) - 1, 1)
    assert [(line, reason) for _, line, _, reason in quarantine(store)] == [
        (6, "row has 13 fields, expected 12")
    ]
    st = open_store(store, read_only=True)
    try:
        assert st.scalar("SELECT max(length(context)) FROM crimes") == 9 << 20
    finally:
        st.close()


# -- 6. stop-and-search dates ----------------------------------------------------------


def test_stop_search_dates_outside_iso_or_sane_years_are_quarantined(tmp_path):
    lines = lines_of(SEARCH.read_bytes())
    bad = ["infinity", "epoch", "-2020-03-01T00:00:00+00:00", "294246-01-01", "1900-01-01T00:00:00+00:00"]  # fmt: skip
    for i, value in enumerate(bad, start=2):
        cells = lines[i].split(b",")
        cells[1] = value.encode()
        lines[i] = b",".join(cells)
    data = b"\n".join(lines)
    rc, res, store = ingest_bytes(tmp_path, "2018-02-city-of-london-stop-and-search.csv", data)
    assert rc == 0
    check_counts(res, {"2018-02-city-of-london-stop-and-search.csv": data})
    q = quarantine(store)
    assert [(line, field) for _, line, field, _ in q] == [(i, "Date") for i in range(3, 8)]
    assert all("ISO 8601" in reason for *_, reason in q)
    st = open_store(store, read_only=True)
    months = {m for (m,) in st.con.execute("SELECT DISTINCT month FROM stop_searches").fetchall()}
    assert months and all("2017-12" <= m <= "2018-03" for m in months), months
    st.close()


def test_street_months_outside_sane_years_are_quarantined(tmp_path):
    """'0000-01' and '9999-12' match YYYY-MM but are sentinels: status must not show them."""
    lines = STREET.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b",2020-05,", b",0000-01,", 1)
    lines[2] = lines[2].replace(b",2020-05,", b",9999-12,", 1)
    data = b"\n".join(lines)
    rc, _, store = ingest_bytes(tmp_path, "years.csv", data)
    assert rc == 0
    assert [(line, field) for _, line, field, _ in quarantine(store)] == [
        (2, "Month"),
        (3, "Month"),
    ]
    assert "Month '0000-01' is not YYYY-MM in 1990..2100" in quarantine(store)[0][3]
    st = open_store(store, read_only=True)
    try:
        months = {m for (m,) in st.con.execute("SELECT DISTINCT month FROM crimes").fetchall()}
    finally:
        st.close()
    assert months == {"2020-05"}


def test_header_only_file_without_final_line_break_ingests_no_rows(tmp_path):
    """Found by the fuzzer: pyarrow could not skip a header with no line break after it."""
    f = tmp_path / "header.csv"
    f.write_bytes(STREET.read_bytes().split(b"\n", 1)[0])
    rc, res, _ = cli(tmp_path / "s.duckdb", f)
    assert rc == 0
    (r,) = res["files"]
    assert (r["status"], r["rows_read"]) == ("ingested", 0)


def test_stray_quote_in_an_unquoted_value_beside_a_blank_line_keeps_every_row(tmp_path):
    """Found by the fuzzer: 'Dur"ham' made the quote count see a quoted line break, and
    pandas (skipping the whitespace-only line) agreed on the row count, so a row was lost
    and the lines shifted."""
    head, rest = STREET.read_bytes().split(b"\n", 1)
    rows = rest.split(b"\n")[:2]
    rows[0] = rows[0].replace(b"City of London Police,", b'City of "London Police,', 1)
    data = b"\n".join([head, b"   ", *rows]) + b"\n"
    rc, res, store = ingest_bytes(tmp_path, "stray.csv", data)
    assert rc == 0
    (r,) = res["files"]
    assert (r["rows_read"], r["rows_inserted"], r["rows_quarantined"]) == (3, 2, 1)
    assert [(line, reason) for _, line, _, reason in quarantine(store)] == [(2, "blank line")]
    st = open_store(store, read_only=True)
    try:
        assert sorted(x for (x,) in st.con.execute("SELECT line FROM crimes").fetchall()) == [3, 4]
    finally:
        st.close()


# -- everything at once -------------------------------------------------------------


def test_one_command_over_every_mutation_exits_2_and_keeps_the_good_files(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    orig = STREET.read_bytes()
    head, rest = orig.split(b"\n", 1)
    files = {
        "a-mac.csv": orig.replace(b"\n", b"\r"),
        "b-spaces.csv": head.replace(b"Longitude,", b"Longitude ,") + b"\n" + rest,
        "c-dup.csv": head.replace(b",Context", b",Location") + b"\n" + rest,
        "d-blank.csv": _mutate_lines(STREET2.read_bytes())[0],
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    z = _zip(folder / "e.zip", {"m.csv": STREET2.read_bytes()})
    _corrupt_deflate(z)
    store = tmp_path / "s.duckdb"
    rc, res, _ = cli(store, folder)
    assert rc == 2
    status = {Path(f["path"]).name: f["status"] for f in res["files"]}
    assert status == {
        "a-mac.csv": "ingested",
        "b-spaces.csv": "ingested",
        "c-dup.csv": "rejected",
        "d-blank.csv": "ingested",
        "e.zip!m.csv": "rejected",
    }
    check_counts(res, files)
