"""The only package that talks to the database (see docs/architecture.md)."""

from realimpact.store.connection import (
    DEFAULT_STORE,
    RECORD_TABLES,
    Store,
    open_store,
    using_store,
)

__all__ = ["DEFAULT_STORE", "RECORD_TABLES", "Store", "open_store", "using_store"]
