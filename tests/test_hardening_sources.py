"""Issue 13: population and partner CSVs given every wrong type, header, encoding and shape.

Both readers are all or none (their docstrings say why), so every case is
either exit 0 with the data stored as the real file would have it, or exit 2
with ONE line naming the file, the physical line (header = 1) and the field,
and the store as it was before. Never exit 1. Each case is a mutation of a
real file (Census 2021 usual residents; NDTMS deaths in drug treatment by LA)
written to tmp_path.
"""

from __future__ import annotations

import csv
import gzip
import io
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from realimpact.cli import app
from realimpact.csv_safe import FORMULA_PREFIXES
from realimpact.store import Store
from tests.conftest import DATA

CENSUS = DATA / "population" / "census2021_lsoa_respop_workdaypop.csv"
NDTMS = DATA / "drugs" / "ndtms_deaths_in_drug_treatment_by_LA.csv"
MANCHESTER21 = DATA / "boundaries" / "manchester_lsoa_2021" / "england_lsoa_2021.shp"
CITY = DATA / "police_uk" / "city_of_london" / "street"
CITY_BOUNDS = DATA / "boundaries" / "london_lsoa_2011" / "E09000001.geojson"

POP_ARGS = ["--id-field", "geography_code", "--value-field", "respop"]
PARTNER_ARGS = ["--source", "NDTMS", "--indicator", "deaths_in_treatment", "--value-field", "count",
                "--period-field", "period", "--layer", "la", "--area-field", "area_code"]  # fmt: skip
POP_TABLES = ("populations", "population_sets")
PARTNER_TABLES = ("partner_files", "partner_indicators")


def run(args: list[str]) -> tuple[int, str, str]:
    """(exit code, stdout, the one error line); exit 1 (a bug) fails the test at once."""
    res = CliRunner().invoke(app, args)
    assert res.exit_code in (0, 2), (res.exit_code, res.output, res.exception)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    if res.exit_code == 2:
        assert len(lines) == 1, res.stderr
        return 2, res.stdout, lines[0]
    return 0, res.stdout, ""


def dump(store: Path, tables: tuple[str, ...]) -> list:
    """Every row of ``tables`` but the load time, which a re-ingest may renew."""
    out = []
    with Store(store, read_only=True) as st:
        for t in tables:
            cols = [c for c in st.sql(f"DESCRIBE {t}")["column_name"] if c != "ingested_at"]
            out.append(st.con.execute(f"SELECT {', '.join(cols)} FROM {t} ORDER BY ALL").fetchall())
    return out


def census_head(n: int = 300) -> bytes:
    """The header and first ``n`` rows of the real census file (LF, quoted as published)."""
    return b"".join(CENSUS.read_bytes().splitlines(keepends=True)[: n + 1])


def replace_line(data: bytes, lineno: int, new: bytes) -> bytes:
    lines = data.split(b"\n")
    lines[lineno - 1] = new
    return b"\n".join(lines)


def cells(line: bytes) -> list[str]:
    return next(csv.reader([line.decode()]))


def row(values: list[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(values)
    return buf.getvalue().encode()


# -- population --------------------------------------------------------------


@pytest.fixture(scope="module")
def pop_base(tmp_path_factory) -> Path:
    """A store holding a good population (the first 300 census rows), built once."""
    base = tmp_path_factory.mktemp("pop")
    store = base / "s.duckdb"
    good = base / "good.csv"
    good.write_bytes(census_head())
    rc, _, err = run(["ingest", "population", str(good), *POP_ARGS, "--store", str(store)])
    assert rc == 0, err
    assert ("lsoa", "E01011954", 2284.0) in dump(store, ("populations",))[0]
    return store


@pytest.fixture
def pop_store(pop_base: Path, tmp_path: Path) -> Path:
    """A copy of ``pop_base``, which no refused file may touch."""
    return Path(shutil.copy(pop_base, tmp_path / "s.duckdb"))


def pop_refused(store: Path, path: Path, *named: str, args: list[str] = POP_ARGS) -> str:
    before = dump(store, POP_TABLES)
    rc, _, line = run(["ingest", "population", str(path), *args, "--store", str(store)])
    assert rc == 2
    assert line.startswith(f"error: {path}"), line
    for n in named:
        assert n in line, line
    assert dump(store, POP_TABLES) == before
    return line


def pop_accepted(store: Path, path: Path, args: list[str] = POP_ARGS) -> dict[str, float]:
    rc, _, err = run(["ingest", "population", str(path), *args, "--store", str(store)])
    assert rc == 0, err
    return {a: v for _, a, v in dump(store, ("populations",))[0]}


GOOD_POP = {cells(ln)[1]: float(cells(ln)[2]) for ln in census_head().splitlines()[1:]}


@pytest.mark.parametrize(
    "value",
    ["ten", "12%", "1_000", "0.001", "1.5", "-5", "+7", "nan", "NaN", "inf", "-inf", "1e308",
     "1e3", "0x10", "1,23", "1 234", "", "   ", "99999999999"],
)  # fmt: skip
def test_population_value_of_a_wrong_type_is_refused(pop_store, tmp_path, value):
    data = census_head()
    c = cells(data.split(b"\n")[41])
    c[2] = value
    bad = tmp_path / "bad.csv"
    bad.write_bytes(replace_line(data, 42, row(c)))
    pop_refused(pop_store, bad, "line 42", "respop")


@pytest.mark.parametrize(("value", "want"), [('"1,234"', 1234.0), ("0", 0.0), ("2284.0", 2284.0),
                                             (" 17 ", 17.0)])  # fmt: skip
def test_population_plain_counts_are_read(pop_store, tmp_path, value, want):
    data = census_head()
    line = data.split(b"\n")[1]  # Hartlepool 001A
    f = tmp_path / "ok.csv"
    f.write_bytes(replace_line(data, 2, line.rsplit(b",", 2)[0] + b"," + value.encode() + b",1"))
    got = pop_accepted(pop_store, f)
    assert got["E01011954"] == want and len(got) == len(GOOD_POP)


@pytest.mark.parametrize(
    "code",
    ["2284", "Hartlepool 001A", "E06000001", "e01011954", '=HYPERLINK("http://x")', "+E01011954",
     "-E01011954", "@SUM(A1)", "", "   ", "E0101\t1954"],
)  # fmt: skip
def test_population_id_that_is_not_an_lsoa_code_is_refused(pop_store, tmp_path, code):
    data = census_head()
    c = cells(data.split(b"\n")[9])
    c[1] = code
    bad = tmp_path / "bad.csv"
    bad.write_bytes(replace_line(data, 10, row(c)))
    line = pop_refused(pop_store, bad, "line 10", "geography_code")
    assert "\t" not in line


def test_population_codes_are_stripped_and_a_duplicate_is_refused_naming_both_lines(
    pop_store, tmp_path
):
    data = census_head()
    spaced = data.replace(b'"E01011954"', b'" E01011954 "')
    f = tmp_path / "spaced.csv"
    f.write_bytes(spaced)
    assert pop_accepted(pop_store, f) == GOOD_POP
    # the same LSOA again (with other spacing) at the end: refused, never summed or dropped
    dup = tmp_path / "dup.csv"
    dup.write_bytes(data + b'"Hartlepool 001A","E01011954 ",99,1\n')
    pop_refused(pop_store, dup, "'E01011954' appears more than once", "lines 2, 302")


@pytest.mark.parametrize(
    ("header", "args", "ok"),
    [
        (b'" geography "," geography_code ","respop ","wkdpop"', POP_ARGS, True),
        (b'"geography","GEOGRAPHY_CODE","RESPOP","wkdpop"', POP_ARGS, True),
        (b'"geography","geography_code","respop","wkdpop"',
         ["--id-field", " Geography_Code ", "--value-field", "RESPOP"], True),
        (b'"geography","geography_code","respop","respop"', POP_ARGS, False),
        (b'"geography","code","respop","wkdpop"', POP_ARGS, False),
        (b'"geography","geography_code","Respop","RESPOP"', POP_ARGS, False),
    ],
)  # fmt: skip
def test_population_header_names(pop_store, tmp_path, header, args, ok):
    lines = census_head().split(b"\n")
    f = tmp_path / "h.csv"
    f.write_bytes(b"\n".join([header, *lines[1:]]))
    if ok:
        assert pop_accepted(pop_store, f, args) == GOOD_POP
    else:
        line = pop_refused(pop_store, f, args=args)
        assert any(s in line for s in ("more than once", "is not a column", "differ only in case"))


def test_population_extra_columns_are_ignored(pop_store, tmp_path):
    lines = census_head().split(b"\n")
    out = [lines[0] + b',"note"'] + [ln + b',"=cmd()"' for ln in lines[1:-1]] + [b""]
    f = tmp_path / "extra.csv"
    f.write_bytes(b"\n".join(out))
    assert pop_accepted(pop_store, f) == GOOD_POP


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b"\xef\xbb\xbf" + b,
        lambda b: b.replace(b"\n", b"\r\n"),
        lambda b: b.replace(b"\n", b"\r"),
        lambda b: b.replace(b"Hartlepool 001B", b"King\x92s Lynn 001B"),  # Windows-1252
        # UTF-8 text with one stray byte, in a column the reader does not use
        lambda b: b.replace(b"Hartlepool 001B", "Caf\u00e9".encode() + b" M\xf4n"),
        lambda b: b.replace(b"\n", b"\n\n", 3),  # empty lines
        lambda b: b + b",,,\n   \n",  # a spreadsheet's empty rows, a whitespace-only line
    ],
    ids=["bom", "crlf", "cr", "cp1252", "stray-byte-unused", "empty-lines", "blank-rows"],
)
def test_population_encodings_and_line_endings_read_the_same(pop_store, tmp_path, mutate):
    f = tmp_path / "m.csv"
    f.write_bytes(mutate(census_head()))
    assert pop_accepted(pop_store, f) == GOOD_POP


def test_population_full_census_with_crlf_and_bom(tmp_path):
    store = tmp_path / "s.duckdb"
    f = tmp_path / "census.csv"
    f.write_bytes(b"\xef\xbb\xbf" + CENSUS.read_bytes().replace(b"\n", b"\r\n"))
    rc, _, err = run(["ingest", "population", str(f), *POP_ARGS, "--store", str(store)])
    assert rc == 0, err
    with Store(store, read_only=True) as st:
        assert st.scalar("SELECT count(*) FROM populations") == 35_672
        assert st.scalar("SELECT sum(value) FROM populations") == 59_597_601  # data/README.md


def test_population_line_numbers_are_physical(pop_store, tmp_path):
    lines = census_head().split(b"\n")
    # an empty line, a whitespace-only line and a name holding a line break before line 9
    body = [
        lines[0],
        lines[1],
        b"",
        lines[2],
        b"  ",
        b'"Hartle\npool","E01011970",1070,1',
        *lines[5:],
    ]
    c = cells(lines[5])
    c[2] = "lots"
    body[6] = row(c)
    f = tmp_path / "phys.csv"
    data = b"\n".join(body)
    f.write_bytes(data)
    assert b",lots," in data.split(b"\n")[7]  # physical line 8
    pop_refused(pop_store, f, "line 8", "respop", "'lots'")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty file"),
        (b" \r\n\t\n", "empty file"),
        (b'"geography","geography_code","respop","wkdpop"\n', "no data rows"),
        (bytes(range(256)) * 8, "binary"),
        (None, "gzip"),  # the real census file, gzipped
        (b"PK\x03\x04" + b"\x14" * 40, "xlsx"),
        (b'"g","geography_code","respop"\n"a","E01011954",5\n"b","E01011969"\n', "line 3: 2 field"),
        (b'"g","geography_code","respop"\n"a","E01011954",5,6\n', "line 2: 4 field"),
        (b'"g","geography_code","respop"\n"a,"E01011954",5\n"b","E01011969",6\n', "line 2"),
        (b'"g","geography_code","respop"\n"a","E01011954",5\n"b"x,"E01011969",6\n', "line 3"),
        (b'"g","geography_code","respop"\n"a","E01011954",5\x81\n', "line 2: respop"),
        ("g,geography_code,respop\nCaf\u00e9,E01011954,1\n".encode() + b"b,E0101\xf41969,2\n",
         "line 3: geography_code"),
    ],
    ids=["empty", "blank", "header-only", "binary", "gzip", "zip", "short-row", "long-row",
         "unclosed-quote", "stray-quote", "cp1252-undefined-byte", "stray-byte-in-id"],
)  # fmt: skip
def test_population_unreadable_files_are_refused(pop_store, tmp_path, content, needle):
    f = tmp_path / "bad.csv"
    f.write_bytes(gzip.compress(CENSUS.read_bytes()) if content is None else content)
    pop_refused(pop_store, f, needle)


def test_population_reingest_and_bad_after_good(pop_base, pop_store, tmp_path):
    good = pop_base.parent / "good.csv"  # the file pop_store holds
    before = dump(pop_store, POP_TABLES)
    assert pop_accepted(pop_store, good) == GOOD_POP
    assert dump(pop_store, POP_TABLES) == before
    bad = tmp_path / "half.csv"
    bad.write_bytes(census_head(600) + b'"x","E01099999",-1,0\n')  # 600 good rows, then one bad
    pop_refused(pop_store, bad, "line 602", "respop")


def test_population_unknown_layer_and_areas_of_a_polygon_layer(tmp_path):
    store = tmp_path / "s.duckdb"
    rc, _, err = run(["ingest", "boundaries", str(MANCHESTER21), "--layer", "man21",
                      "--id-field", "lsoa21cd", "--store", str(store)])  # fmt: skip
    assert rc == 0, err
    args = [*POP_ARGS, "--store", str(store)]
    rc, _, line = run(["ingest", "population", str(CENSUS), "--layer", "ward", *args])
    assert rc == 2 and "--layer" in line and "'ward'" in line
    # the national table over one city's polygons: loaded, and the ids not in the layer counted
    rc, out, err = run(["ingest", "population", str(CENSUS), "--layer", "man21", "--json", *args])
    assert rc == 0, err
    import json

    res = json.loads(out)
    assert res["ids_not_in_layer"]["unknown"] == 35_672 - 295
    assert res["match"] == {"basis": "areas of the layer", "areas": 295, "areas_matched": 295}
    before = dump(store, POP_TABLES)
    # a file none of whose ids is an area of the layer: wrong column or layer, refused
    f = tmp_path / "wrong.csv"
    f.write_bytes(b'"geography","geography_code","respop","wkdpop"\n"a","E01011954",5,1\n')
    pop_refused(store, f, "none of the 1 ids", "'man21'", args=[*POP_ARGS, "--layer", "man21"])
    assert dump(store, POP_TABLES) == before


# -- partner -----------------------------------------------------------------


@pytest.fixture(scope="module")
def partner_base(tmp_path_factory) -> Path:
    """A store holding the real NDTMS file, built once."""
    store = tmp_path_factory.mktemp("partner") / "s.duckdb"
    rc, _, err = run(["ingest", "partner", str(NDTMS), *PARTNER_ARGS, "--store", str(store)])
    assert rc == 0, err
    return store


@pytest.fixture
def partner_store(partner_base: Path, tmp_path: Path) -> Path:
    """A copy of ``partner_base``, which no refused file may touch."""
    return Path(shutil.copy(partner_base, tmp_path / "s.duckdb"))


def partner_run(store: Path, path: Path, args: list[str] = PARTNER_ARGS) -> tuple[int, str, str]:
    return run(["ingest", "partner", str(path), *args, "--json", "--store", str(store)])


def partner_refused(store: Path, path: Path, *named: str, args: list[str] = PARTNER_ARGS) -> str:
    if not store.exists():
        Store(store).close()
    before = dump(store, PARTNER_TABLES)
    rc, _, line = partner_run(store, path, args)
    assert rc == 2
    assert str(path) in line, line
    for n in named:
        assert n in line, line
    assert dump(store, PARTNER_TABLES) == before
    return line


def ndtms_with(tmp_path: Path, col: int, value: str, lineno: int = 30) -> Path:
    data = NDTMS.read_bytes()
    c = cells(data.split(b"\n")[lineno - 1])
    c[col] = value
    f = tmp_path / "bad.csv"
    f.write_bytes(replace_line(data, lineno, row(c)))
    return f


@pytest.mark.parametrize(
    "value",
    ["lots", "12%", "1_000", "1e308", "1e3", "inf", "nan", "1,23", "1,2,3", "0x10",
     "10000000000000", "--5", "1 234"],
)  # fmt: skip
def test_partner_value_of_a_wrong_type_is_refused(partner_store, tmp_path, value):
    partner_refused(partner_store, ndtms_with(tmp_path, 3, value), "line 30", "count")


@pytest.mark.parametrize(
    "period",
    ["2022-13", "2022-00", "0000-01", "9999", "1989", "2101-01", "2019-02-30", "2019-01-99",
     "2022Q5", "Jan-22", "01/2022", "22", "2022-01-01T00:00:00", "", "  ", "20222"],
)  # fmt: skip
def test_partner_period_malformed_or_out_of_range_is_refused(partner_store, tmp_path, period):
    partner_refused(partner_store, ndtms_with(tmp_path, 0, period), "line 30", "period")


@pytest.mark.parametrize(("period", "want"), [("2022-1", "2022-01"), ("2020-02-29", "2020-02"),
                                              ("2022 Q3", "2022-Q3"), (" 2022 ", "2022")])  # fmt: skip
def test_partner_period_shapes_accepted(tmp_path, period, want):
    store = tmp_path / "s.duckdb"
    rc, _, err = partner_run(store, ndtms_with(tmp_path, 0, period))
    assert rc == 0, err
    with Store(store, read_only=True) as st:
        assert st.scalar("SELECT period FROM partner_indicators WHERE line = 30") == want


@pytest.mark.parametrize(
    ("col", "value", "named"),
    [
        (1, "", "area id"),
        (1, "   ", "area id"),
        (1, "=E06000001", "area id"),
        (1, "@SUM(A1)", "area id"),
        (1, "E060\t00001", "area id"),
    ],
)
def test_partner_area_id_refused(partner_store, tmp_path, col, value, named):
    partner_refused(partner_store, ndtms_with(tmp_path, col, value), "line 30", named)


def test_partner_la_codes_offered_as_lsoa_are_refused(partner_store):
    args = [*PARTNER_ARGS[:-4], "--layer", "lsoa", "--area-field", "area_code"]
    assert PARTNER_ARGS[-4:-2] == ["--layer", "la"]
    partner_refused(partner_store, NDTMS, "line 2", "'E06000001' is not an LSOA code", args=args)


@pytest.mark.parametrize(
    "value", ["=cmd|' /C calc'!A0", "+1", "-x", "@SUM(A1)", "", "a\tb", "x" * 300]
)
@pytest.mark.parametrize("role", ["indicator", "source"])
def test_partner_indicator_and_source_labels_refused(partner_store, tmp_path, value, role):
    f = ndtms_with(tmp_path, 2, value)  # area_name, used as the indicator or the source
    args = ["--value-field", "count", "--period-field", "period", "--layer", "la",
            "--area-field", "area_code"]  # fmt: skip
    other = ["--source", "NDTMS"] if role == "indicator" else ["--indicator", "x"]
    if role == "indicator":
        by_column = ["--indicator-field", "area_name"]
    else:  # source_field is a spec key (no option)
        spec = tmp_path / "spec.yaml"
        spec.write_text("source_field: area_name\n", encoding="utf-8")
        by_column = ["--spec", str(spec)]
    line = partner_refused(partner_store, f, "line 30", f"{role} (area_name)",
                           args=[*args, *other, *by_column])  # fmt: skip
    assert "\t" not in line
    if value.strip() and "\t" not in value:
        # a constant given as an option is checked the same way (and names the option)
        before = dump(partner_store, PARTNER_TABLES)
        rc, _, line = run(["ingest", "partner", str(NDTMS), *args, *other, f"--{role}", value,
                           "--store", str(partner_store)])  # fmt: skip
        assert rc == 2 and role in line and "spreadsheet formula" in line, line
        assert dump(partner_store, PARTNER_TABLES) == before


@pytest.mark.parametrize("key", ["indicator", "value_field", "period_field", "layer", "area_field",
                                 "source"])  # fmt: skip
@pytest.mark.parametrize("value", ["5", "2.5", "[a]", "{a: 1}", "true", "''", "'  '"])
def test_partner_spec_field_of_a_wrong_type(partner_store, tmp_path, key, value):
    spec = {"indicator": "x", "value_field": "count", "period_field": "period", "layer": "la",
            "area_field": "area_code", "source": "NDTMS"}  # fmt: skip
    text = "".join(f"{k}: {value if k == key else v}\n" for k, v in spec.items())
    f = tmp_path / "spec.yaml"
    f.write_text(text, encoding="utf-8")
    before = dump(partner_store, PARTNER_TABLES)
    rc, _, line = run(["ingest", "partner", str(NDTMS), "--spec", str(f), "--store",
                       str(partner_store)])  # fmt: skip
    assert rc == 2 and str(f) in line and key in line, line
    assert dump(partner_store, PARTNER_TABLES) == before


@pytest.mark.parametrize(
    ("header", "args", "ok"),
    [
        (b" period , area_code ,area_name, count ", PARTNER_ARGS, True),
        (b"PERIOD,Area_Code,area_name,COUNT", PARTNER_ARGS, True),
        (b"period,area_code,count,count", PARTNER_ARGS, False),
        (b"period,area,area_name,count", PARTNER_ARGS, False),
        (b"period,area_code,Count,COUNT", PARTNER_ARGS, False),
    ],
)
def test_partner_header_names(tmp_path, header, args, ok):
    store = tmp_path / "s.duckdb"
    lines = NDTMS.read_bytes().split(b"\n")
    f = tmp_path / "h.csv"
    f.write_bytes(b"\n".join([header, *lines[1:]]))
    if ok:
        rc, _, err = partner_run(store, f, args)
        assert rc == 0, err
        assert dump(store, ("partner_indicators",))[0] == dump_ndtms(tmp_path)
    else:
        line = partner_refused(store, f, args=args)
        assert any(s in line for s in ("more than once", "is not a column", "differ only in case"))


def dump_ndtms(tmp_path: Path) -> list:
    """The rows the real NDTMS file gives (without file ids), for comparison."""
    store = tmp_path / "ref.duckdb"
    if not store.exists():
        assert partner_run(store, NDTMS)[0] == 0
    return dump(store, ("partner_indicators",))[0]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b"\xef\xbb\xbf" + b,
        lambda b: b.replace(b"\n", b"\r\n"),
        lambda b: b.replace(b"\n", b"\r"),
        lambda b: b.replace(b",Hartlepool,", b",King\x92s Lynn,"),
        lambda b: b.replace(b",Hartlepool,", b",Caf\xc3\xa9\xf4,", 1),
    ],
    ids=["bom", "crlf", "cr", "cp1252", "stray-byte-unused"],
)
def test_partner_encodings_and_line_endings(tmp_path, mutate):
    ref = dump_ndtms(tmp_path)
    store = tmp_path / "s.duckdb"
    f = tmp_path / "m.csv"
    f.write_bytes(mutate(NDTMS.read_bytes()))
    rc, _, err = partner_run(store, f)
    assert rc == 0, err
    assert dump(store, ("partner_indicators",))[0] == ref


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty file"),
        (b"period,area_code,area_name,count\n", "no data rows"),
        (bytes(range(256)) * 8, "binary"),
        (b"period,area_code,area_name,count\n2022,E06000001,x\n", "line 2: 3 field"),
        (b"period,area_code,area_name,count\n2022,E06000001,\xff\xfe\x81,5\n", None),
        (b"period,area_code,area_name,count\n2022,E06000001,x,*\n", "every count value is missing"),
    ],
)
def test_partner_unreadable_files(partner_store, tmp_path, content, needle):
    f = tmp_path / "bad.csv"
    f.write_bytes(content)
    if needle is None:  # an undecodable byte in a column not used: the row still loads
        rc, _, err = partner_run(partner_store, f)
        assert rc == 0, err
        return
    partner_refused(partner_store, f, needle)


def test_partner_stray_byte_in_a_used_column_is_refused(partner_store, tmp_path):
    data = NDTMS.read_bytes().replace(b",Hartlepool,", b",Caf\xc3\xa9,", 1)
    data = data.replace(b"E06000002", b"E0600\xf40002")
    f = tmp_path / "bad.csv"
    f.write_bytes(data)
    partner_refused(partner_store, f, "line 3", "area_code", "not valid text")


def test_partner_reingest_resave_and_bad_after_good(partner_store, tmp_path):
    import json

    before = dump(partner_store, PARTNER_TABLES)
    # the same file again, and re-saved with CRLF and a BOM: nothing added
    crlf = tmp_path / "crlf.csv"
    crlf.write_bytes(b"\xef\xbb\xbf" + NDTMS.read_bytes().replace(b"\n", b"\r\n"))
    for f in (NDTMS, crlf):
        rc, out, err = partner_run(partner_store, f)
        assert rc == 0 and json.loads(out)["status"] == "already_present", err
    assert dump(partner_store, PARTNER_TABLES) == before
    # a file good for 280 rows, then a bad one: none of its rows lands
    lines = NDTMS.read_bytes().split(b"\n")
    f = tmp_path / "late.csv"
    f.write_bytes(b"\n".join([*lines[:281], b"2024,E06000001,Hartlepool,lots", *lines[281:]]))
    partner_refused(partner_store, f, "line 282", "count", "'lots'")


def test_partner_rows_sharing_a_key_are_kept_and_reported(tmp_path):
    import json

    store = tmp_path / "s.duckdb"
    lines = NDTMS.read_bytes().split(b"\n")
    f = tmp_path / "twice.csv"
    f.write_bytes(b"\n".join([*lines[:-1], lines[1], b""]))
    rc, out, err = partner_run(store, f)
    assert rc == 0, err
    res = json.loads(out)
    assert res["rows_sharing_a_key"] == {"rows": 2, "first_lines": [2, len(lines)]}
    rc, out, _ = run(["ingest", "partner", str(f), *PARTNER_ARGS, "--store", str(tmp_path / "t")])
    assert "their values add up" in " ".join(out.split())


@pytest.mark.parametrize(("lon", "lat"), [("-1,2155", "54,6863"), ("nan", "54.6863"),
                                          ("-1.2155", ""), ("1e1", "54.6"), ("-1.2", "inf")])  # fmt: skip
def test_partner_points_must_be_plain_decimals_in_the_uk(tmp_path, lon, lat):
    f = tmp_path / "pts.csv"
    f.write_bytes(row(["lon", "lat", "when", "n"]) + b"\n" + row(["-1.2155", "54.6863", "2019-03-15", "2"])
                  + b"\n" + row([lon, lat, "2019-03-16", "1"]) + b"\n")  # fmt: skip
    store = tmp_path / "s.duckdb"
    args = ["--indicator", "naloxone", "--value-field", "n", "--period-field", "when",
            "--lon-field", "lon", "--lat-field", "lat"]  # fmt: skip
    partner_refused(store, f, "line 3", "lon/lat", args=args)


# -- formula-shaped ids on a layer that has them reach exports escaped ----------


def test_formula_ids_from_population_and_partner_are_escaped_in_exports(tmp_path):
    import geopandas as gpd

    evil = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "E01000001", "E01000002"]
    store = tmp_path / "s.duckdb"
    files = [str(CITY / f"2018-{m:02d}-city-of-london-street.csv") for m in (1, 2)]
    assert run(["ingest", "police-uk", *files, "--store", str(store)])[0] == 0
    g = gpd.read_file(CITY_BOUNDS)[["geometry"]].copy()
    g["code"] = evil
    gj = tmp_path / "evil.geojson"
    g.to_file(gj, driver="GeoJSON")
    assert run(["ingest", "boundaries", str(gj), "--layer", "evil", "--id-field", "code",
                "--store", str(store)])[0] == 0  # fmt: skip
    pop = tmp_path / "pop.csv"
    pop.write_bytes(b"code,residents\n" + b"".join(row([e, "100"]) + b"\n" for e in evil))
    assert run(["ingest", "population", str(pop), "--layer", "evil", "--id-field", "code",
                "--value-field", "residents", "--store", str(store)])[0] == 0  # fmt: skip
    part = tmp_path / "part.csv"
    part.write_bytes(b"area,month,n\n" + b"".join(row([e, "2018-01", "3"]) + b"\n" for e in evil))
    assert run(["ingest", "partner", str(part), "--indicator", "amb", "--value-field", "n",
                "--period-field", "month", "--layer", "evil", "--area-field", "area",
                "--store", str(store)])[0] == 0  # fmt: skip
    out = tmp_path / "index.csv"
    rc, _, err = run(["harm", "index", "--layer", "evil", "--partner", "amb", "--out", str(out),
                      "--store", str(store)])  # fmt: skip
    assert rc == 0, err
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    ids = {r[0] for r in rows[1:]}
    assert {"'" + e for e in evil[:4]} <= ids
    assert not any(c.startswith(FORMULA_PREFIXES) for r in rows for c in r if not _number(c))
    header = rows[0]
    assert "population" in header and any("amb" in h for h in header)


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
