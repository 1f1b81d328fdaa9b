"""Shared plumbing for every CLI command: options, output, errors.

Commands stay thin: parse options, call one library function, hand its result
to :func:`emit`. The exit-code contract (0 ok, 2 bad input, 1 internal) and the
"--json prints exactly one object on stdout" rule live here, in one place.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.table import Table as _RichTable

from realimpact._json import dumps
from realimpact.errors import InputError, RealImpactError

# Width of a console that is not a terminal: wide enough that no table is folded.
UNWRAPPED_WIDTH = 10_000


class _Console(Console):
    """A Rich console that wraps only for a person at a terminal.

    Redirected to a file, a pipe or a test runner, Rich would lay tables out
    for 80 columns (or the width of whichever std stream is a terminal) and
    fold file names mid-word; there is nothing to wrap for, so tables get their
    natural width and every cell stays on one line. Tables are not expanded,
    so the large width adds no padding. $COLUMNS describes a terminal, so it
    is ignored here too; only an explicit ``width=`` is kept.
    """

    def __init__(self, *args: Any, width: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, width=width, **kwargs)
        self._fixed_width = width is not None

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        if not self._fixed_width and not self.is_terminal:
            return ConsoleDimensions(UNWRAPPED_WIDTH, size.height)
        return size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


# stdout carries results (or the one JSON object); stderr carries everything else.
out = _Console(soft_wrap=True)
err = _Console(stderr=True, soft_wrap=True)


def esc(value: Any) -> str:
    """User text (a layer, a path, a plan title) inside a Rich markup string, shown as written."""
    return escape(str(value))


class Table(_RichTable):
    """A Rich table whose text cells are shown as written.

    Cells carry user data (area names, market ids, file names, quarantined
    rows); Rich would read "[x]" in them as markup and drop it. Styled cells
    are passed as ``rich.text.Text``, which is never re-parsed.
    """

    def add_row(self, *cells: Any, **kwargs: Any) -> None:
        super().add_row(*(escape(c) if isinstance(c, str) else c for c in cells), **kwargs)


# The commands that may create a store that does not exist yet: they bring
# data in. Every other command taking --store only reads (or adds to data that
# must already be there), so a missing store is an error naming it (exit 2),
# never a new empty store. `harm weights` creates one only to store a set.
CREATES_STORE = frozenset(
    {
        "ingest police-uk",
        "ingest boundaries",
        "ingest population",
        "ingest partner",
        "markets add",
        "markets import",
        "users add",  # an admin may set up accounts before any data arrives
        "harm weights",
    }
)


def _command_name(ctx: typer.Context) -> str:
    """The command without the program's name ("harm index"), however it was started.

    Not ``ctx.command_path``: its first word is the program as invoked, which is
    "python -m realimpact" (three words) under ``python -m``.
    """
    names = []
    while ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(reversed(names))


def _store_option(ctx: typer.Context, value: Path | None) -> Path | None:
    """--store of a command that only reads: every store it opens must exist.

    Checked when the store is opened (``existing_stores_only``), not here, so a
    command that needs no store for the mode asked (``evaluate displacement``)
    or reports a missing one itself (``plan validate``) is unaffected.
    """
    if _command_name(ctx) not in CREATES_STORE:
        from realimpact.store.connection import existing_stores_only

        # On the root context: Click closes it however the command ends. The
        # command's own context is never closed when a later option fails to
        # parse, which would leave every later store in the process "must exist".
        ctx.find_root().with_resource(existing_stores_only())
    return value


StoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--store",
        envvar="REALIMPACT_STORE",
        help="DuckDB store file (default ./realimpact.duckdb; env REALIMPACT_STORE).",
        show_default=False,
        callback=_store_option,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
# Options that several analysis commands share, so they read and behave the same everywhere.
LayerOpt = Annotated[
    str,
    typer.Option("--layer", help="Area layer (lsoa, a boundary layer, a grid such as grid250)."),
]
CrimeTypeOpt = Annotated[
    list[str] | None,
    typer.Option("--crime-type", help="Crime type to include (repeatable); default all."),
]
ForceOpt = Annotated[
    str | None,
    typer.Option(
        "--force",
        help="Only this force's records and published months (name or slug, e.g."
        " 'Merseyside Police' or merseyside, as `realimpact status` lists them).",
    ),
]
SharingConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--sharing-config",
        help="YAML with profile overrides (threshold ...) and the sharing agreement fields"
        " written to manifest.json (docs/sharing.md).",
    ),
]
AudienceOpt = Annotated[
    str,
    typer.Option(
        "--audience",
        help="analyst | partner | public (partner: counts below 5 and what would give them"
        " back withheld; public: below 10, rounded to 5). Each shared file gets a"
        " manifest.json. See docs/sharing.md.",
    ),
]


def print_json(obj: Any) -> None:
    """The only way a command writes JSON: one object, one line, stdout."""
    sys.stdout.write(dumps(obj) + "\n")
    sys.stdout.flush()


def emit(result: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    """Print ``result`` as JSON or with the command's Rich renderer."""
    if as_json:
        print_json(result)
    else:
        render(result)


# An error line is cut to this many characters: a message quoting a user's value
# (a 300 MB expanded YAML alias, a whole CSV row) must still be one readable line.
MAX_ERROR_CHARS = 500


def truncate(message: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``message`` cut to ``limit`` characters plus a note of how many were cut."""
    if len(message) <= limit:
        return message
    return f"{message[:limit]}… ({len(message) - limit:,} more characters)"


def one_line(message: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``message`` with its whitespace collapsed to single spaces, cut to ``limit``.

    Only the start of a long message is looked at, so a 300 MB one costs no more
    than a short one.
    """
    head = " ".join(message[: 4 * limit].split())
    if len(head) <= limit and len(message) <= 4 * limit:
        return head
    cut = head[:limit]
    return f"{cut}… ({len(message) - len(cut):,} more characters)"


def print_error(message: str, label: str = "error", style: str = "bold red") -> None:
    """One line on stderr; the message is escaped because it quotes user data
    such as "[residents-views]", which Rich would otherwise take for markup."""
    message = truncate(str(message))
    err.print(f"[{style}]{label}:[/] {escape(message)}", highlight=False, markup=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Write a one-line error on stderr and return the Exit to raise."""
    print_error(message)
    return typer.Exit(code)


@contextmanager
def handle_errors() -> Iterator[None]:
    """Map library errors to the exit-code contract with a one-line message."""
    try:
        yield
    except typer.Exit:
        raise
    except InputError as e:
        raise fail(one_line(str(e)), 2) from None
    except FileNotFoundError as e:
        raise fail(f"{e.filename}: no such file or directory", 2) from None
    except (IsADirectoryError, NotADirectoryError, FileExistsError, PermissionError) as e:
        # a path the user gave is the wrong kind of thing or not theirs to write
        if e.filename is None:
            raise
        raise fail(f"{e.filename}: {e.strerror or type(e).__name__}", 2) from None
    except RealImpactError as e:
        raise fail(one_line(str(e)), 1) from None


def print_notes_and_outputs(result: dict[str, Any]) -> None:
    """The tail every map/export command prints: its caveats, then the files it wrote."""
    for n in result["notes"]:
        out.print(f"[yellow]note:[/] {esc(n)}")
    for key, o in result["outputs"].items():
        out.print(f"{key}: {esc(o['path'])}")


def progress_enabled() -> bool:
    """Progress bars only when a person is watching stderr."""
    return sys.stderr.isatty()
