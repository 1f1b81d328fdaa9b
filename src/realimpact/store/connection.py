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

from realimpact.errors import InputError, StoreBusyError, StoreError
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


class Store:
    """An open realimpact store.

    Use as a context manager, or call :meth:`close`. ``read_only=True`` lets
    several readers share a file while no writer holds it. ``create=False``
    refuses a path with no store yet (InputError naming it) instead of creating
    an empty one; a read-only store is never created.
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
        if not in_memory:
            parent = Path(self.path).resolve().parent
            if not parent.is_dir():
                raise InputError(f"folder {parent} does not exist", source=self.path)
            if Path(self.path).is_dir():
                raise InputError("is a folder; --store takes a .duckdb file", source=self.path)
        try:
            self.con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.IOException as e:
            msg = str(e).splitlines()[0]
            if "lock" in msg.lower():
                raise StoreBusyError(
                    "store is in use by another process; retry when it ends", source=self.path
                ) from None
            if "not a valid duckdb database" in msg.lower():
                # the user pointed --store at some other file: their input, not our failure
                raise InputError(
                    "not a realimpact store (not a DuckDB file)", source=self.path
                ) from None
            raise StoreError(f"{self.path}: cannot open store ({msg})") from None
        except duckdb.Error as e:
            raise StoreError(
                f"{self.path}: not a realimpact store ({str(e).splitlines()[0]})"
            ) from None
        self.read_only = read_only
        if read_only:
            if migrations.pending(self.con):
                self.con.close()
                self.con = duckdb.connect(self.path)
                self.read_only = False
                migrations.apply_pending(self.con)
        else:
            migrations.apply_pending(self.con)

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
        """All-or-nothing block; anything raised inside rolls the whole block back."""
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
