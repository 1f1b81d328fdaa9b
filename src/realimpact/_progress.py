"""Progress reporting that the library can call without knowing about terminals.

Library functions take ``progress: ProgressFn | None``; the CLI passes a Rich
bar when stderr is a terminal, notebooks and tests pass nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

# progress(description, advance_by, total) ; total None = unknown
ProgressFn = Callable[[str, int, int | None], None]


def noop(description: str, advance: int, total: int | None) -> None:
    return None


@contextmanager
def rich_progress(enabled: bool) -> Iterator[ProgressFn | None]:
    """Yield a ProgressFn drawing Rich bars on stderr, or None when disabled."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    tasks: dict[str, int] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:

        def fn(description: str, advance: int, total: int | None) -> None:
            if description not in tasks:
                tasks[description] = bar.add_task(description, total=total)
            elif total is not None:
                bar.update(tasks[description], total=total)
            bar.advance(tasks[description], advance)

        yield fn
