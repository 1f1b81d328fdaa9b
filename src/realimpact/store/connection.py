"""The store: one DuckDB file, opened through :class:`Store`.

Everything that touches the database goes through here. Writes happen inside
:meth:`Store.transaction`, so an ingest either lands whole or not at all; a
process killed mid-write leaves DuckDB's WAL to roll the open transaction back
on the next open.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from realimpact.errors import (
    InputError,
    StoreAccessError,
    StoreBusyError,
    StoreDamagedError,
    StoreError,
    StoreRefusedError,
)
from realimpact.store import migrations

DEFAULT_STORE = "realimpact.duckdb"
RECORD_TABLES = ("crimes", "stop_searches", "outcomes")


# Set (by the CLI, for commands that only read) to make every store opened
# from a path an existing one: a read must never leave an empty store behind.
_MUST_EXIST: ContextVar[bool] = ContextVar("realimpact_store_must_exist", default=False)


def resolve_path(path: str | os.PathLike | None) -> str:
    """--store, then REALIMPACT_STORE, then ./realimpact.duckdb; ':memory:' allowed."""
    if path is None:
        path = os.environ.get("REALIMPACT_STORE") or DEFAULT_STORE
    return str(path)


def require_existing(path: str | os.PathLike | None) -> str:
    """The resolved path of a store that exists; InputError naming it when there is none."""
    resolved = resolve_path(path)
    if resolved != ":memory:" and not Path(resolved).exists():
        raise InputError("store does not exist yet (ingest something first)", source=resolved)
    return resolved


@contextmanager
def existing_stores_only() -> Iterator[None]:
    """Within this block every :class:`Store` opened from a path must already exist.

    The CLI enters it for every command that only reads, so ``harm index
    --store typo.duckdb`` exits 2 naming the file instead of creating an empty
    store and reporting nothing.
    """
    token = _MUST_EXIST.set(True)
    try:
        yield
    finally:
        _MUST_EXIST.reset(token)


# DuckDB's file layout: three 4 KiB headers, then fixed-size blocks.
_HEADER_BYTES = 3 * 4096

# How DuckDB words damage it found in the file (checksum, bad segment, short
# read). Looked for only in the error types storage problems arrive as, never
# in a conversion or binder error, whose message may quote stored text.
_DAMAGE_WORDS = (
    "corrupt database file",
    "appears to be corrupt",
    "corrupted ",  # "Corrupted bitpacking segment: ..."
    "could not read enough bytes",
    "failed to deserialize",
)
_STORAGE_ERRORS = (duckdb.IOException, duckdb.InternalException, duckdb.FatalException)
# The operating system refusing a read or write of the store (or its .wal).
_ACCESS_WORDS = ("permission denied", "read-only file system", "no space left on device")


def _quote(name: str) -> str:
    """A SQL identifier, quoted: a foreign file's table may be called anything."""
    return '"' + name.replace('"', '""') + '"'


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0].strip() if lines else type(e).__name__


def _is_damage(e: duckdb.Error, *, reading_stored: bool = False) -> bool:
    """Whether DuckDB's error says the file is damaged, not that our SQL is wrong.

    DuckDB 2.0 reports a checksum mismatch or a mangled segment as a bare
    ``duckdb.Error`` ("Corrupt database file: computed checksum ...",
    "Corrupted bitpacking segment ..."), a file cut short as an IOException
    ("Could not read enough bytes ..."), mangled metadata as a
    SerializationException; older releases raise some of these as IOException
    or FatalException. While merely reading stored values (``reading_stored``)
    an internal or fatal error can only come from the stored bytes too.
    """
    if isinstance(e, duckdb.SerializationException):
        return True
    if type(e) is duckdb.Error or isinstance(e, _STORAGE_ERRORS):
        if any(w in str(e).lower() for w in _DAMAGE_WORDS):
            return True
        return reading_stored and isinstance(e, duckdb.InternalException | duckdb.FatalException)
    return False


class _Guarded:
    """The store's DuckDB connection (or a relation from it), with storage errors made ours.

    Damage often shows only when a table's blocks are read, deep inside some
    query of some command; translating here, once, means every command reports
    a damaged store as exit 2 naming the file, not as an internal error. Every
    other attribute and error passes through unchanged.
    """

    __slots__ = ("_obj", "_store")

    def __init__(self, obj: Any, store: Store) -> None:
        self._obj = obj
        self._store = store

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._obj, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                result = attr(*args, **kwargs)
            except duckdb.Error as e:
                mapped = self._store._translate(e)
                if mapped is None:
                    raise
                raise mapped from e
            if result is self._obj:
                return self  # execute() returns the connection: keep guarding its fetch*()
            if isinstance(result, duckdb.DuckDBPyConnection | duckdb.DuckDBPyRelation):
                return _Guarded(result, self._store)
            return result

        return call

    def __repr__(self) -> str:
        return f"<guarded {self._obj!r}>"


class Store:
    """An open realimpact store.

    Use as a context manager, or call :meth:`close`. ``read_only=True`` lets
    several readers share a file while no writer holds it. ``create=False``
    refuses a path with no store yet (InputError naming it) instead of creating
    an empty one; a read-only store is never created.

    A file this version must not touch is refused before anything is written,
    and left byte for byte as it was (:class:`StoreRefusedError`, exit 2): one
    that is not DuckDB, a DuckDB file of someone else's (no realimpact schema
    record), a store made by a newer realimpact, or a damaged or truncated one
    (:class:`StoreDamagedError`). Damage found later, when a query first reads
    a damaged block, raises StoreDamagedError as well, and the first write
    through :meth:`transaction` reads every stored value first, so nothing is
    ever added to a damaged file.
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        *,
        read_only: bool = False,
        create: bool = True,
    ):
        self.path = resolve_path(path)
        in_memory = self.path == ":memory:"
        if read_only or not create or _MUST_EXIST.get():
            require_existing(self.path)
        # nothing stored yet: nothing to check before the first write
        self._verified = in_memory or not Path(self.path).exists()
        wal_before = False
        if not in_memory:
            file = Path(self.path)
            parent = file.resolve().parent
            if not parent.is_dir():
                raise InputError(f"folder {parent} does not exist", source=self.path)
            if file.is_dir():
                raise InputError("is a folder; --store takes a .duckdb file", source=self.path)
            if file.exists() and not file.is_file():
                # a FIFO or device: DuckDB would block on it or read garbage
                raise InputError(
                    "is not a regular file; --store takes a .duckdb file", source=self.path
                )
            wal_before = Path(self.path + ".wal").exists()
        if wal_before and not read_only:
            self._probe_before_recovery()
        raw = self._connect(read_only)
        self.read_only = read_only
        try:
            if not in_memory and not wal_before:
                self._check_size(raw)
            todo = self._guard(lambda: migrations.check_store(raw, self.path))
            if todo and read_only:
                # an older store is upgraded on any open, a read as well
                raw.close()
                raw = self._connect(False, upgrading=True)
                self.read_only = False
                todo = self._guard(lambda: migrations.check_store(raw, self.path))
            if todo:
                if not self._verified and self._has_data(raw):
                    self._verify(raw)
                self._guard(lambda: migrations.apply_pending(raw))
        except BaseException:
            raw.close()
            raise
        self.con = _Guarded(raw, self)

    # -- opening and checking ----------------------------------------------
    def _connect(self, read_only: bool, *, upgrading: bool = False) -> duckdb.DuckDBPyConnection:
        """``duckdb.connect``, its errors turned into ones that name the file and the remedy."""
        try:
            return duckdb.connect(self.path, read_only=read_only)
        except duckdb.Error as e:
            msg = _first_line(e)
            low = msg.lower()
            if isinstance(e, duckdb.IOException) and (
                "could not set lock" in low or "conflicting lock" in low
            ):
                raise StoreBusyError(
                    "store is in use by another process; retry when it ends", source=self.path
                ) from None
            if "not a valid duckdb database" in low:
                # the user pointed --store at some other file: their input, not our failure
                raise StoreRefusedError(
                    "not a realimpact store (not a DuckDB file)", source=self.path
                ) from None
            if "trying to read a database file with version number" in low:
                raise StoreRefusedError(
                    f"store file is in a storage format this DuckDB"
                    f" ({duckdb.__version__}) cannot read (DuckDB: {msg})",
                    source=self.path,
                ) from None
            if _is_damage(e, reading_stored=True):
                raise self._damaged(msg) from None
            if isinstance(e, duckdb.IOException) and any(w in low for w in _ACCESS_WORDS):
                why = "needs upgrading to this version's schema but " if upgrading else ""
                raise StoreAccessError(
                    f"store {why}cannot be {'read' if read_only else 'opened for writing'}"
                    f" (DuckDB: {msg})",
                    source=self.path,
                ) from None
            raise StoreError(f"{self.path}: cannot open store ({msg})") from None

    def _probe_before_recovery(self) -> None:
        """Check a file with a .wal beside it read-only first: a writable open replays the
        .wal into the file, which would change someone else's file before it is refused.

        Skipped when this process has the store open already (DuckDB then refuses a
        second open with other settings): it was checked when that open was made.
        """
        try:
            con = duckdb.connect(self.path, read_only=True)
        except duckdb.Error:
            return  # open here already, or an error the writable open reports the same way
        try:
            self._guard(lambda: migrations.check_store(con, self.path))
        finally:
            con.close()

    def _damaged(self, why: str, *, duckdb_says: bool = True) -> StoreDamagedError:
        """The refusal of a damaged file; ``why`` is DuckDB's first line, or our own finding."""
        why = f"DuckDB: {why}" if duckdb_says else why
        return StoreDamagedError(
            f"store file is damaged or truncated ({why}); restore it from a backup",
            source=self.path,
        )

    def _translate(self, e: duckdb.Error, *, reading_stored: bool = False) -> Exception | None:
        """The realimpact error a DuckDB error on this store stands for, or None to re-raise it."""
        if _is_damage(e, reading_stored=reading_stored):
            return self._damaged(_first_line(e))
        if isinstance(e, duckdb.IOException | duckdb.TransactionException):
            # a commit fails as a TransactionException when the .wal cannot be written
            msg = _first_line(e)
            if any(w in msg.lower() for w in _ACCESS_WORDS):
                return StoreAccessError(f"cannot write the store (DuckDB: {msg})", source=self.path)
        return None

    def _guard(self, fn: Any, *, reading_stored: bool = False) -> Any:
        """Call ``fn`` (work on the raw connection) with DuckDB's storage errors made ours."""
        try:
            return fn()
        except duckdb.Error as e:
            mapped = self._translate(e, reading_stored=reading_stored)
            if mapped is None:
                raise
            raise mapped from e

    def _check_size(self, con: duckdb.DuckDBPyConnection) -> None:
        """Refuse a file shorter than its own header says: it was cut (a partial copy).

        DuckDB itself notices only when it reads a missing block, which may be
        never for a read that does not need it, or too late for a write. Skipped
        when a .wal is beside the file: replaying it may add blocks not yet in
        the file, which is DuckDB's normal recovery after a killed process.

        Free blocks are not counted: DuckDB trims free blocks off the end of the
        file but still counts them in ``total_blocks`` (a healthy store of 3.68 MB
        described 3.94 MB after some inserts), so only the used blocks are a
        size every healthy file reaches.
        """
        block_size, total_blocks, free_blocks = con.execute(
            "SELECT block_size, total_blocks, free_blocks FROM pragma_database_size()"
        ).fetchone()
        want = _HEADER_BYTES + int(block_size) * (int(total_blocks) - int(free_blocks))
        have = os.path.getsize(self.path)
        if have < want:
            raise self._damaged(
                f"it is {have:,} bytes but its header describes {want:,}", duckdb_says=False
            )

    @staticmethod
    def _has_data(con: duckdb.DuckDBPyConnection) -> bool:
        return bool(migrations.user_objects(con))

    def _verify(self, con: duckdb.DuckDBPyConnection) -> None:
        """Read every stored value once, so damage anywhere surfaces before a write.

        DuckDB checks a block's checksum only when it reads the block, and a
        write (an ingest appends; a migration adds tables) reads few of them: a
        write into a damaged store would succeed, and later writes would bury
        the damage under new data. Hashing every column reads every block a
        table uses (count() would not: DuckDB answers it from metadata). About
        half a second per 5 million crime rows.
        """
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables()"
            " WHERE database_name = current_database() AND NOT internal AND NOT temporary"
        ).fetchall()
        for schema, table in tables:
            qualified = f"{_quote(schema)}.{_quote(table)}"
            self._guard(
                lambda q=qualified: con.execute(
                    f"SELECT bit_xor(hash(COLUMNS(*))) FROM {q}"
                ).fetchall(),
                reading_stored=True,
            )
        self._verified = True

    def verify(self) -> None:
        """Read every stored value; StoreDamagedError naming the file if any block is damaged."""
        self._verify(self.con._obj)

    # -- lifecycle ---------------------------------------------------------
    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -----------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All-or-nothing block; anything raised inside rolls the whole block back.

        The first write of an open store reads every stored value first
        (:meth:`verify`), so a damaged store is refused unchanged rather than
        written to.
        """
        if not self._verified:
            self.verify()
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")

    def next_file_id(self) -> int:
        return int(self.scalar("SELECT nextval('source_file_ids')"))

    # -- reading -----------------------------------------------------------
    def sql(self, query: str, params: Sequence[Any] | dict | None = None) -> pd.DataFrame:
        """Run a query and return a (small!) DataFrame: aggregate in SQL first.

        A NULL in a text column is ``None``, as in the database: pandas' string
        dtype would make it NaN, a float that is truthy and that Rich refuses to
        render (``r["field"] or "-"`` for a quarantined row's NULL field).
        """
        df = self.con.execute(query, params or []).df()
        for col in df.columns:
            s = df[col]
            if pd.api.types.is_string_dtype(s.dtype) and s.dtype != object and s.isna().any():
                df[col] = s.astype(object).where(s.notna(), None)
        return df

    def scalar(self, query: str, params: Sequence[Any] | None = None) -> Any:
        rows = self.con.execute(query, params or []).fetchall()
        return rows[0][0] if rows else None

    def table_exists(self, name: str) -> bool:
        return bool(
            self.scalar(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
            )
        )

    def layer_names(self) -> list[str]:
        names = [
            r[0] for r in self.con.execute("SELECT layer FROM layers ORDER BY layer").fetchall()
        ]
        return sorted(set(names) | {"lsoa"})

    def schema_version(self) -> int:
        return int(self.scalar("SELECT coalesce(max(id), 0) FROM _migrations"))


def open_store(
    path: str | os.PathLike | None = None, *, read_only: bool = False, create: bool = True
) -> Store:
    """Open (creating, unless ``create=False``, and migrating if needed) the store at ``path``."""
    return Store(path, read_only=read_only, create=create)


@contextmanager
def using_store(
    store: Store | str | os.PathLike | None, *, read_only: bool = False, create: bool = True
) -> Iterator[Store]:
    """Library functions take an open :class:`Store` or a path: yield the store to use.

    A store passed in stays open for its owner; one opened here from a path is
    closed on the way out, error or not.
    """
    if isinstance(store, Store):
        yield store
        return
    st = open_store(store, read_only=read_only, create=create)
    try:
        yield st
    finally:
        st.close()
