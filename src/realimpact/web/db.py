"""The server's one open store, shared by every request one at a time.

`realimpact serve` is the store's single writer (DuckDB allows one writing
process per file): it opens the store once and serialises requests on it
with a lock, in a worker thread so the event loop stays free. A DuckDB
connection must not be used by two threads at once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from realimpact.store.connection import Store, open_store

T = TypeVar("T")


class WebStore:
    def __init__(self, path: str | os.PathLike | None) -> None:
        self.store: Store = open_store(path, create=False)
        self._lock = threading.Lock()

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(store, *args, **kwargs)`` under the lock (in the calling thread)."""
        with self._lock:
            return fn(self.store, *args, **kwargs)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(store, *args, **kwargs)`` under the lock, in a worker thread."""
        return await run_in_threadpool(self.call, fn, *args, **kwargs)

    def close(self) -> None:
        with self._lock:
            self.store.close()
