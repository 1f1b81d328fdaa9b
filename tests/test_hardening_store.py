"""The store refuses files it must not touch (issue 13, store part).

--store may name a DuckDB file someone else made, a store made by a newer
realimpact, or a store that was cut short or damaged on disk. Each is refused
with exit 2 and one line naming the file and why, and left byte for byte as it
was (no .wal beside it either). A new or older store still opens and migrates,
and a .wal left by a killed process is still replayed.

The damaged stores are copies of a real one (one month of City of London street
crime) with bytes flipped in a block a table's data lives in, or cut short.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from realimpact.cli import app
from realimpact.errors import (
    InputError,
    StoreDamagedError,
    StoreError,
    StoreRefusedError,
)
from realimpact.sources.police_uk import ingest_police_uk
from realimpact.store import migrations, open_store
from realimpact.store.connection import Store
from realimpact.store.status import store_status
from tests.conftest import DATA, POLICE_UK

STREET = POLICE_UK / "city_of_london/street/2020-05-city-of-london-street.csv"
STREET2 = POLICE_UK / "city_of_london/street/2020-04-city-of-london-street.csv"
LATEST = max(m[0] for m in migrations.MIGRATIONS)
HEADER = 3 * 4096  # DuckDB's three file headers; blocks follow


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "REALIMPACT_STORE"}


def cli(*args: str | Path):
    return CliRunner().invoke(app, [str(a) for a in args], env=_env())


def refused(res, store: Path, *words: str) -> str:
    """Exit 2 with one line naming the store and saying why."""
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    assert str(store) in lines[0], lines[0]
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def status(store: Path):
    return cli("status", "--store", store)


def ingest(store: Path, *files: Path):
    return cli("ingest", "police-uk", *(files or (STREET2,)), "--store", store)


def untouched(path: Path, before: bytes) -> None:
    assert path.read_bytes() == before, "the refused file was changed"
    assert not Path(f"{path}.wal").exists(), "a .wal was left beside the refused file"


def crime_rows(path: Path) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM crimes").fetchone()[0]
    finally:
        con.close()


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> bytes:
    """The bytes of a real store: one month of City of London street crime, checkpointed."""
    path = tmp_path_factory.mktemp("base") / "base.duckdb"
    assert ingest_police_uk([STREET], store=path).ok
    assert not Path(f"{path}.wal").exists()
    return path.read_bytes()


@pytest.fixture(scope="module")
def layout(base: bytes, tmp_path_factory) -> dict:
    """Block size, and the blocks each table's column data lives in."""
    path = tmp_path_factory.mktemp("layout") / "layout.duckdb"
    path.write_bytes(base)
    con = duckdb.connect(str(path), read_only=True)
    try:
        block_size = con.execute("SELECT block_size FROM pragma_database_size()").fetchone()[0]
        blocks = {
            t: sorted(
                {
                    r[0]
                    for r in con.execute(
                        f"SELECT block_id FROM pragma_storage_info('{t}') WHERE block_id >= 0"
                    ).fetchall()
                }
            )
            for t in ("crimes", "source_files", "_migrations")
        }
    finally:
        con.close()
    assert len(base) == HEADER + block_size * ((len(base) - HEADER) // block_size)
    assert all(blocks.values()), blocks
    return {"block_size": block_size, "blocks": blocks}


def write(tmp_path: Path, data: bytes, name: str = "store.duckdb") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def flipped(data: bytes, offset: int, n: int = 4) -> bytes:
    out = bytearray(data)
    for i in range(n):
        out[offset + i] ^= 0x5A
    return bytes(out)


def block_start(layout: dict, block: int) -> int:
    return HEADER + block * layout["block_size"]


# -- someone else's DuckDB file ----------------------------------------------------------


def _foreign(path: Path, sql: str) -> bytes:
    con = duckdb.connect(str(path))
    con.execute(sql)
    con.close()
    assert not Path(f"{path}.wal").exists()
    return path.read_bytes()


FOREIGN = [
    (
        "CREATE TABLE a (x INT); INSERT INTO a VALUES (1); CREATE TABLE b (y VARCHAR);"
        " CREATE TABLE c (z DOUBLE)",
        "it holds tables a, b, c and no realimpact schema version; use a new --store path",
    ),
    # its own crimes table: migrating used to fail half-way (exit 1)
    (
        "CREATE TABLE crimes (id INT, what VARCHAR); INSERT INTO crimes VALUES (1, 'theft')",
        "it holds table crimes and no realimpact schema version",
    ),
    ("CREATE SEQUENCE source_file_ids", "it holds sequence source_file_ids"),
    ("CREATE SCHEMA s; CREATE TABLE s.t (x INT); CREATE VIEW v AS SELECT 1", "table s.t; view v"),
    # another tool's migration table, not realimpact's
    (
        "CREATE TABLE _migrations (version VARCHAR, applied BOOLEAN);"
        " INSERT INTO _migrations VALUES ('0001_init', true); CREATE TABLE users (id INT)",
        "its _migrations table is not realimpact's",
    ),
    (
        "CREATE TABLE _migrations (id INTEGER, name VARCHAR); INSERT INTO _migrations"
        " VALUES (1, 'create_users'); CREATE TABLE users (id INT)",
        "its _migrations table is not realimpact's",
    ),
]


@pytest.mark.parametrize(
    "sql, why", FOREIGN, ids=["abc", "crimes", "sequence", "schema", "mig1", "mig2"]
)
def test_foreign_duckdb_file_is_refused_unchanged(tmp_path: Path, sql: str, why: str) -> None:
    store = tmp_path / "theirs.duckdb"
    before = _foreign(store, sql)
    for res in (status(store), ingest(store)):
        line = refused(res, store, "not a realimpact store", why)
        assert "Traceback" not in line
        untouched(store, before)
    for read_only in (False, True):
        with pytest.raises(StoreRefusedError) as e:
            open_store(store, read_only=read_only)
        assert isinstance(e.value, InputError) and isinstance(e.value, StoreError)
        untouched(store, before)


def test_foreign_refusal_names_a_few_tables_then_counts(tmp_path: Path) -> None:
    store = tmp_path / "many.duckdb"
    before = _foreign(store, "; ".join(f"CREATE TABLE t{i:02d} (x INT)" for i in range(20)))
    line = refused(status(store), store, "tables t00, t01,", "and 12 more")
    assert "t19" not in line
    untouched(store, before)


def test_empty_duckdb_file_becomes_a_store(tmp_path: Path) -> None:
    """A DuckDB file with nothing in it (what connect() leaves) is a new store, not a foreign one."""
    store = tmp_path / "empty.duckdb"
    duckdb.connect(str(store)).close()
    res = ingest(store, STREET)
    assert res.exit_code == 0, res.output
    assert crime_rows(store) == 226
    with Store(store, read_only=True) as st:
        assert st.schema_version() == LATEST


def test_store_killed_before_its_first_migration_still_opens(tmp_path: Path) -> None:
    """Only an empty _migrations table: what a process killed right after creating it leaves."""
    store = tmp_path / "half.duckdb"
    con = duckdb.connect(str(store))
    con.execute(
        "CREATE TABLE _migrations (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )
    con.close()
    assert store_status(store)["schema_version"] == LATEST


# -- a newer realimpact's store ------------------------------------------------------------


def _newer(tmp_path: Path, base: bytes, mid: int, name: str = "from the future") -> Path:
    store = write(tmp_path, base, "newer.duckdb")
    con = duckdb.connect(str(store))
    con.execute("INSERT INTO _migrations (id, name) VALUES (?, ?)", [mid, name])
    con.execute("CHECKPOINT")
    con.close()
    assert not Path(f"{store}.wal").exists()
    return store


def test_newer_store_is_refused_unchanged(tmp_path: Path, base: bytes) -> None:
    store = _newer(tmp_path, base, LATEST + 79)
    before = store.read_bytes()
    why = f"made by a newer realimpact (schema {LATEST + 79}, this version knows up to {LATEST}): upgrade realimpact"
    for res in (status(store), ingest(store), cli("harm", "index", "--store", store)):
        refused(res, store, why)
        untouched(store, before)
    for read_only in (True, False):
        with pytest.raises(StoreRefusedError, match="newer realimpact"):
            Store(store, read_only=read_only)
        untouched(store, before)
    assert crime_rows(store) == 226  # what it held is still there


def test_store_with_a_migration_this_version_lacks_is_newer(tmp_path: Path, base: bytes) -> None:
    """A newer realimpact may add a migration numbered between two this version knows."""
    known = {m[0] for m in migrations.MIGRATIONS}
    mid = next(i for i in range(2, LATEST) if i not in known)
    store = _newer(tmp_path, base, mid, "later idea")
    before = store.read_bytes()
    refused(status(store), store, "made by a newer realimpact", f"{mid} 'later idea'", "upgrade")
    untouched(store, before)


# -- an older store migrates ------------------------------------------------------------------


@pytest.fixture
def old_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store made by a realimpact that knew only the initial migration, with real records."""
    store = tmp_path / "old.duckdb"
    with monkeypatch.context() as m:
        m.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
        assert ingest_police_uk([STREET], store=store).ok
        with Store(store, read_only=True) as st:
            assert st.schema_version() == 1
            assert not st.table_exists("harm_weight_sets")
    return store


def test_older_store_migrates_on_a_read(old_store: Path) -> None:
    res = cli("status", "--store", old_store, "--json")
    assert res.exit_code == 0, res.output
    with Store(old_store, read_only=True) as st:
        assert st.schema_version() == LATEST
        assert st.table_exists("harm_weight_sets") and st.table_exists("market_entities")
        assert st.scalar("SELECT count(*) FROM crimes") == 226


def test_older_store_migrates_on_a_write(old_store: Path) -> None:
    res = ingest(old_store)
    assert res.exit_code == 0, res.output
    with Store(old_store, read_only=True) as st:
        assert st.schema_version() == LATEST
        assert st.scalar("SELECT count(DISTINCT month) FROM crimes") == 2


def test_damaged_older_store_is_refused_before_migrating(
    tmp_path: Path, old_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migrating writes: an older store is read through first, and left alone if damaged."""
    con = duckdb.connect(str(old_store), read_only=True)
    block = con.execute(
        "SELECT max(block_id) FROM pragma_storage_info('crimes') WHERE block_id >= 0"
    ).fetchone()[0]
    block_size = con.execute("SELECT block_size FROM pragma_database_size()").fetchone()[0]
    con.close()
    store = write(
        tmp_path, flipped(old_store.read_bytes(), HEADER + block * block_size + 100), "d.duckdb"
    )
    before = store.read_bytes()
    for res in (status(store), ingest(store)):
        refused(
            res, store, "store file is damaged or truncated (DuckDB: ", "restore it from a backup"
        )
        untouched(store, before)


# -- damaged and truncated stores --------------------------------------------------------


@pytest.mark.parametrize("table", ["crimes", "source_files", "_migrations"])
def test_flipped_bytes_in_a_data_block_are_refused(
    tmp_path: Path, base: bytes, layout: dict, table: str
) -> None:
    block = layout["blocks"][table][0]
    store = write(tmp_path, flipped(base, block_start(layout, block) + 1000))
    before = store.read_bytes()
    for res in (status(store), ingest(store)):
        line = refused(
            res, store, "store file is damaged or truncated (DuckDB: Corrupt database file",
            "); restore it from a backup",
        )  # fmt: skip
        assert "checksum" in line
        untouched(store, before)


def test_flipped_bytes_in_the_file_header_are_refused(tmp_path: Path, base: bytes) -> None:
    store = write(tmp_path, flipped(base, 4096 + 40))
    before = store.read_bytes()
    for res in (status(store), ingest(store)):
        refused(res, store, "store file is damaged or truncated (DuckDB: ")
        untouched(store, before)


def test_a_block_overwritten_with_another_is_refused(
    tmp_path: Path, base: bytes, layout: dict
) -> None:
    """A whole block replaced by another one (valid checksum, wrong content): DuckDB finds
    mangled segments ("Corrupted ... segment"), not a checksum mismatch."""
    src, dst = layout["blocks"]["crimes"][0], layout["blocks"]["source_files"][0]
    assert src != dst, layout
    bs = layout["block_size"]
    data = bytearray(base)
    data[block_start(layout, dst) : block_start(layout, dst) + bs] = base[
        block_start(layout, src) : block_start(layout, src) + bs
    ]
    store = write(tmp_path, bytes(data))
    before = store.read_bytes()
    for res in (status(store), ingest(store)):
        refused(res, store, "store file is damaged or truncated (DuckDB: ")
        untouched(store, before)


def _cuts(n: int, bs: int) -> list[int]:
    return [12, 100, 4096, 8192, HEADER, HEADER + 1, 20_000, HEADER + bs, n // 2, n - bs, n - 1]


@pytest.mark.parametrize("cut", range(11))
def test_truncated_store_is_refused_unchanged(
    tmp_path: Path, base: bytes, layout: dict, cut: int
) -> None:
    length = _cuts(len(base), layout["block_size"])[cut]
    store = write(tmp_path, base[:length])
    for res in (status(store), ingest(store)):
        refused(res, store, "store file is damaged or truncated (", "restore it from a backup")
        untouched(store, base[:length])
    with pytest.raises(StoreDamagedError):
        store_status(store)
    assert store.stat().st_size == length


def test_a_store_cut_at_its_end_is_caught_by_its_size(tmp_path: Path, base: bytes) -> None:
    """Cut inside its last block: a read might never touch that block, so the size says it."""
    store = write(tmp_path, base[:-1])
    refused(
        status(store), store,
        f"store file is damaged or truncated (it is {len(base) - 1:,} bytes but its header"
        f" describes {len(base):,}); restore it from a backup",
    )  # fmt: skip
    untouched(store, base[:-1])


def test_a_few_bytes_is_not_a_duckdb_file(tmp_path: Path, base: bytes) -> None:
    """Cut inside DuckDB's magic bytes, or not DuckDB at all: exit 2 as before."""
    for i, data in enumerate([base[:7], b"month,crime\n2020-01,x\n"]):
        store = write(tmp_path, data, f"x{i}.duckdb")
        refused(status(store), store, "not a realimpact store (not a DuckDB file)")
        untouched(store, data)


def test_every_block_damaged_in_turn_never_exits_1(
    tmp_path: Path, base: bytes, layout: dict
) -> None:
    """Whatever block is damaged: exit 0 or 2, never an internal error; 2 leaves it as it was.

    (A damaged key index that neither command uses stays unnoticed until one does.)
    """
    bs = layout["block_size"]
    n_blocks = (len(base) - HEADER) // bs
    refusals = 0
    for b in range(n_blocks):
        store = write(tmp_path, flipped(base, block_start(layout, b) + bs // 2), f"b{b}.duckdb")
        before = store.read_bytes()
        for res in (status(store), ingest(store)):
            assert res.exit_code in (0, 2), (b, res.exit_code, res.output)
            if res.exit_code == 2:
                refusals += 1
                refused(res, store, "store file is damaged or truncated")
                untouched(store, before)
    assert refusals >= 2 * len({x for v in layout["blocks"].values() for x in v})


def test_damage_found_by_a_query_is_a_store_damaged_error(
    tmp_path: Path, base: bytes, layout: dict
) -> None:
    """Through the library: damage DuckDB finds only when a query reads the block."""
    store = write(tmp_path, flipped(base, block_start(layout, layout["blocks"]["crimes"][0]) + 500))
    before = store.read_bytes()
    st = open_store(store, read_only=True)  # opening reads no crime records
    try:
        for read in (
            lambda: st.sql("SELECT * FROM crimes"),
            lambda: st.scalar("SELECT max(location) FROM crimes"),
            lambda: st.con.execute("SELECT crime_type FROM crimes").fetchall(),
            lambda: st.con.execute("SELECT crime_type FROM crimes").fetchnumpy(),
            st.verify,
        ):
            with pytest.raises(StoreDamagedError, match="damaged or truncated") as e:
                read()
            assert isinstance(e.value, InputError) and str(e.value).startswith(str(store))
        # a bad query stays what it was: the guard only translates storage errors
        with pytest.raises(duckdb.CatalogException):
            st.sql("SELECT * FROM no_such_table")
    finally:
        st.close()
    untouched(store, before)


def test_ingest_into_a_damaged_store_writes_nothing(
    tmp_path: Path, base: bytes, layout: dict
) -> None:
    """An append to crimes reads none of its damaged blocks; the first write reads them all."""
    store = write(tmp_path, flipped(base, block_start(layout, layout["blocks"]["crimes"][0]) + 500))
    before = store.read_bytes()
    with pytest.raises(StoreDamagedError):
        ingest_police_uk(
            [STREET2, POLICE_UK / "city_of_london/street/2020-03-city-of-london-street.csv"],
            store=store,
        )
    untouched(store, before)


# -- what else: folders, odd files, permissions, a killed writer -----------------------------


def test_folder_and_fifo_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "folder.duckdb"
    folder.mkdir()
    refused(ingest(folder), folder, "is a folder")
    assert list(folder.iterdir()) == []
    fifo = tmp_path / "pipe.duckdb"
    os.mkfifo(fifo)
    refused(ingest(fifo), fifo, "is not a regular file")
    refused(status(fifo), fifo, "is not a regular file")


def _unprivileged(args: list[str | Path], cwd: Path) -> subprocess.CompletedProcess:
    """The CLI as a user the file system can say no to.

    Root may write anything; as root, run in a user namespace where we are an
    unprivileged user who owns the files but holds no capability to override
    their permission bits.
    """
    cmd = [sys.executable, "-m", "realimpact", *map(str, args)]
    if os.geteuid() == 0:
        cmd = ["unshare", "--user", "--map-user=65534", "--map-group=65534", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=_env(), timeout=300)


def _exit_2_naming(p: subprocess.CompletedProcess, name: str, *words: str) -> None:
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, p.stderr
    assert name in lines[0] and "Traceback" not in p.stderr, lines[0]
    for w in words:
        assert w in lines[0], lines[0]


def test_store_that_cannot_be_written_exits_2_naming_it(tmp_path: Path, base: bytes) -> None:
    ro_file = write(tmp_path, base, "readonly.duckdb")
    ro_dir = tmp_path / "locked"
    ro_dir.mkdir()
    inside = write(ro_dir, base, "inside.duckdb")  # writable file, but no room for its .wal
    ro_file.chmod(0o444)
    ro_dir.chmod(0o555)
    try:
        p = _unprivileged(["ingest", "police-uk", STREET2, "--store", "readonly.duckdb"], tmp_path)
        _exit_2_naming(p, "readonly.duckdb", "Permission denied")
        p = _unprivileged(["status", "--store", "readonly.duckdb", "--json"], tmp_path)
        assert p.returncode == 0, p.stderr  # reading needs no write access
        p = _unprivileged(
            ["ingest", "police-uk", STREET2, "--store", "locked/new.duckdb"], tmp_path
        )
        _exit_2_naming(p, "locked/new.duckdb", "Permission denied")
        p = _unprivileged(
            ["ingest", "police-uk", STREET2, "--store", "locked/inside.duckdb"], tmp_path
        )
        _exit_2_naming(p, "locked/inside.duckdb", "cannot write the store", "Permission denied")
    finally:
        ro_dir.chmod(0o755)
        ro_file.chmod(0o644)
    assert sorted(x.name for x in ro_dir.iterdir()) == ["inside.duckdb"]
    assert ro_file.read_bytes() == base and inside.read_bytes() == base


_KILLED_WRITER = """
import os, sys
from realimpact.sources.police_uk import ingest_police_uk
from realimpact.store import open_store
st = open_store(sys.argv[1])
assert ingest_police_uk([sys.argv[2]], store=st).ok
os._exit(0)  # no close, no checkpoint: the ingest is only in the .wal
"""


def test_wal_left_by_a_killed_writer_is_replayed(tmp_path: Path, base: bytes) -> None:
    store = write(tmp_path, base)
    subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, str(store), str(STREET2)],
        check=True, env=_env(), timeout=300,
    )  # fmt: skip
    assert Path(f"{store}.wal").exists(), "the writer should have left its .wal"
    assert store.read_bytes() == base  # the file itself is as before; the WAL holds the rest
    res = cli("status", "--store", store, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["tables"]["crimes"]["rows"] == 226 + 236  # May + April
    res = ingest(store, POLICE_UK / "city_of_london/street/2020-03-city-of-london-street.csv")
    assert res.exit_code == 0, res.output
    with Store(store, read_only=True) as st:
        assert st.scalar("SELECT count(DISTINCT month) FROM crimes") == 3


_KILLED_FOREIGN_WRITER = """
import duckdb, os, sys
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE a (x INT)")
con.execute("CHECKPOINT")
con.execute("INSERT INTO a VALUES (1)")
os._exit(0)
"""


def test_foreign_file_with_a_wal_is_refused_before_recovery(tmp_path: Path) -> None:
    """A writable open would replay the .wal into their file: check it read-only first."""
    theirs = tmp_path / "theirs.duckdb"
    subprocess.run(
        [sys.executable, "-c", _KILLED_FOREIGN_WRITER, str(theirs)],
        check=True, env=_env(), timeout=300,
    )  # fmt: skip
    wal = Path(f"{theirs}.wal")
    before, wal_before = theirs.read_bytes(), wal.read_bytes()
    refused(ingest(theirs), theirs, "not a realimpact store: it holds table a")
    assert theirs.read_bytes() == before and wal.read_bytes() == wal_before


def test_a_second_open_in_the_same_process_with_a_wal_still_works(tmp_path: Path) -> None:
    store = tmp_path / "shared.duckdb"
    st = open_store(store)
    try:
        assert ingest_police_uk([STREET], store=st).ok
        assert Path(f"{store}.wal").exists()
        assert ingest_police_uk([STREET2], store=store).ok  # by path, while st is open
        assert st.scalar("SELECT count(*) FROM crimes") == 226 + 236
    finally:
        st.close()


def test_healthy_store_with_trailing_free_blocks_is_not_called_truncated(tmp_path):
    """DuckDB trims free blocks off the end of the file but still counts them in
    ``total_blocks``: after 36 months of street crime, a layer and three accounts, a
    healthy store was refused as "damaged or truncated" on its next open."""
    store = tmp_path / "s.duckdb"
    assert ingest(store, POLICE_UK / "city_of_london/street").exit_code == 0
    lsoa = DATA / "boundaries/london_lsoa_2011/E09000001.geojson"
    assert cli("ingest", "boundaries", lsoa, "--layer", "lsoa", "--store", store).exit_code == 0
    for name in ("ann", "pat", "adm"):
        res = CliRunner().invoke(
            app, ["users", "add", name, "--role", "analyst", "--password-stdin", "--store", str(store)],
            input="a-long-password\n", env=_env(),
        )  # fmt: skip
        assert res.exit_code == 0, res.output
    con = duckdb.connect(str(store), read_only=True)
    try:
        bs, total, free = con.execute(
            "SELECT block_size, total_blocks, free_blocks FROM pragma_database_size()"
        ).fetchone()
    finally:
        con.close()
    res = status(store)
    assert res.exit_code == 0, res.output
    assert store.stat().st_size >= HEADER + bs * (total - free)
