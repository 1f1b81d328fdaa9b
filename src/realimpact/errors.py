"""Exception hierarchy.

    RealImpactError            base; anything the library raises on purpose
    ├── InputError             bad input or usage: the CLI exits 2 with one line
    │   ├── RejectedFileError  a whole file is not what it claims to be
    │   └── ValidationError    a value/field fails a rule (vocabulary, range ...)
    └── StoreError             the store cannot be opened or is inconsistent
        ├── StoreRefusedError  (also an InputError) --store names a file this
        │   │                  version must not touch: not DuckDB, not a
        │   │                  realimpact store, made by a newer realimpact
        │   └── StoreDamagedError  damaged or truncated
        └── StoreAccessError   (also an InputError) not readable/writable here

    StoreBusyError (an InputError) another process holds the store's write lock

The CLI maps InputError to exit code 2 and anything else to exit code 1, so the
one distinction that matters to scripts ("your input is wrong" versus "we are
broken") lives in the type, not in message parsing.
"""

from __future__ import annotations


class RealImpactError(Exception):
    """Base class of every error realimpact raises deliberately."""


class InputError(RealImpactError):
    """The user's input (file, field, option) is wrong; message names it and why."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class RejectedFileError(InputError):
    """A file as a whole cannot be read as the format it was offered as."""


class ValidationError(InputError):
    """A value or field breaks a documented rule."""


class StoreError(RealImpactError):
    """The store cannot be opened, migrated or written."""


class StoreBusyError(InputError):
    """Another process holds the store's write lock: a usage error (exit 2), not a bug.

    DuckDB allows one writing process per file; two commands on one store at
    once is something the user can fix by waiting, so the CLI exits 2 with the
    file named rather than 1, which reports an internal error.
    """


class StoreRefusedError(StoreError, InputError):
    """``--store`` names a file this version must not open or change; it is left as it was.

    A StoreError (it is about the store) that is also an InputError, because the
    user chose the path: the CLI exits 2 naming the file and what to do, rather
    than 1, which would report a bug in realimpact.
    """


class StoreDamagedError(StoreRefusedError):
    """The store file is damaged or truncated: DuckDB cannot read what it stored.

    Nothing realimpact does can repair it, and writing on would bury the damage
    under new data, so the file is refused unchanged and the user restores it.
    """


class StoreAccessError(StoreError, InputError):
    """The store file cannot be read or written here (permission, read-only file system, full disk).

    Something the user fixes outside realimpact, so exit 2 naming the file.
    """
