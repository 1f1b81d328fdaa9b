"""Fuzzing police.uk ingest (issue 13): mutated real files through the real CLI.

Each example is checked against an oracle that reads the bytes with Python's
``csv`` module and the rules of docs/ingest.md (tests/_fuzz.py): exit code 0 or
2, rows stored + quarantined = the data rows, the store grows by exactly what
is reported, every data row's physical line is stored or quarantined once, a
second ingest adds nothing, a rejected file leaves no trace. The run is
derandomised (the same few hundred inputs every time); ``benchmarks/fuzz.py
--minutes N`` runs the same strategies for longer, with fresh seeds.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from realimpact.sources import police_uk
from tests._fuzz import CsvEntry, FuzzInput, check, csv_files, expect, inputs

# The CI profile, registered here (tests/conftest.py is shared): the same inputs on
# every run, no example database, no deadline (one example is two ingests, 0.2-1 s).
settings.register_profile(
    "realimpact-fuzz-ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CI = settings.get_profile("realimpact-fuzz-ci")


def _report(inp: FuzzInput, violations: list[str]) -> str:
    body = inp.to_python() if inp.size() <= 20_000 else inp.describe()
    return "\n".join(["violations:", *violations, "input:", body])


@settings(CI, max_examples=100)
@given(inputs())
def test_fuzzed_commands_keep_every_promise(inp):
    """CSVs and zips together, sometimes with a copy of a file, as a folder or one by one."""
    outcome = check(inp)
    assert not outcome.violations, _report(inp, outcome.violations)


@settings(CI, max_examples=120)
@given(csv_files(max_mutations=8))
def test_fuzzed_single_files_keep_every_promise(entry):
    """One file at a time with more mutations each: where line numbers go wrong."""
    inp = FuzzInput([CsvEntry("00-" + entry.name, entry.data, entry.notes)])
    outcome = check(inp)
    assert not outcome.violations, _report(inp, outcome.violations)


@settings(CI, max_examples=3)
@given(csv_files(huge=1, max_mutations=4))
def test_fuzzed_files_with_a_field_of_several_mb(entry):
    """A field of 3 to 9 MB (past pyarrow's 4 MB block) beside the other mutations."""
    inp = FuzzInput([CsvEntry("00-" + entry.name, entry.data, entry.notes)])
    outcome = check(inp)
    assert not outcome.violations, _report(inp, outcome.violations)


# -- the oracle itself follows the documented semantics -----------------------------

HEADER = (
    b"Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,"
    b"LSOA name,Crime type,Last outcome category,Context"
)
ROW = b",2020-05,City,City,-0.09,51.52,On or near X,E01,City 001A,Burglary,,"


def test_oracle_counts_physical_lines_for_every_line_ending():
    body = [HEADER, ROW, b"", ROW.replace(b"2020-05", b"2020-13"), b"   ", ROW]
    for eol in (b"\n", b"\r\n", b"\r"):
        e = expect(eol.join(body) + eol)
        assert (e.reject, e.kind) == ("no", "street")
        assert e.lines == [2, 4, 5, 6]
        assert e.must_bad == {4: {"Month"}, 5: {None}} and e.blank == {5}


def test_oracle_follows_a_quoted_line_break_and_the_bom():
    quoted = ROW.replace(b"On or near X", b'"On or near\nX, Y"')
    e = expect(b"\xef\xbb\xbf" + b"\n".join([HEADER, quoted, ROW, b""]))
    assert e.lines == [2, 4] and not e.must_bad
    crlf = expect(b"\r\n".join([HEADER, quoted.replace(b"\n", b"\r\n"), ROW, b""]))
    assert (crlf.lines, crlf.key) == (e.lines, e.key)


def test_oracle_rejects_what_the_docs_refuse_and_tolerates_unclosed_quotes():
    assert expect(b"").reject == "must"
    assert expect(HEADER.replace(b",Context", b",Location") + b"\n" + ROW).reject == "must"
    assert expect(HEADER.replace(b"Month", b"month") + b"\n" + ROW).reject == "must"
    assert expect(b"\n" + HEADER + b"\n" + ROW).reject == "must"
    assert expect(HEADER + b"\n" + ROW.replace(b"On or", b'"On or')).reject == "may"
    # a stray quote inside an unquoted value is plain text (docs: falls back to csv)
    e = expect(HEADER + b"\n" + ROW.replace(b"On or", b'On "or') + b"\n" + ROW)
    assert (e.reject, e.lines, e.must_bad) == ("no", [2, 3], {})


def test_oracle_applies_the_coordinate_and_date_rules():
    for lon, lat, bad in [(b"nan", b"51.5", True), (b"", b"", False), (b"", b"51.5", True),
                          (b"3.5", b"51.5", True), (b"-0.1", b"inf", True), (b"1e0", b"5.1e1", False)]:  # fmt: skip
        e = expect(HEADER + b"\n" + ROW.replace(b"-0.09,51.52", lon + b"," + lat))
        assert (2 in e.must_bad) == bad, (lon, lat)


def test_checker_reports_a_row_lost_by_the_ingest(monkeypatch):
    """The checker can fail: an ingest that silently drops a stored row is caught."""
    real = police_uk.store_records.load_stage

    def lossy(store, **kw):
        inserted, quarantined = real(store, **kw)
        store.con.execute(f"DELETE FROM {kw['table']} WHERE file_id = ? AND line = 3", [kw["file_id"]])  # fmt: skip
        return inserted, quarantined

    monkeypatch.setattr(police_uk.store_records, "load_stage", lossy)
    data = b"\n".join([HEADER, ROW, ROW, ROW, b""])
    violations = check(FuzzInput([CsvEntry("a.csv", data)])).violations
    assert any("grew by 2, the report says 3" in v for v in violations), violations
    assert any("missing [3]" in v for v in violations), violations


def test_oracle_follows_the_per_file_encoding_rules():
    cafe = ROW.replace(b"On or near X", "On or near Café".encode())
    utf8 = b"\n".join([HEADER, cafe, ROW, b""])
    cp = expect(utf8.decode().encode("cp1252"))
    assert (cp.reject, cp.must_bad, cp.key) == ("no", {}, expect(utf8).key)
    stray = expect(b"\n".join([HEADER, cafe, ROW.replace(b"near X", b"near X\xe9"), b""]))
    assert (stray.reject, stray.must_bad) == ("no", {3: {"Location"}})
    assert expect(b"\n".join([HEADER, ROW.replace(b"X", b"X\x81"), b""])).reject == "must"
