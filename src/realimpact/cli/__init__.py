"""Command line: a thin Typer layer over the library (see docs/architecture.md, CLI contract).

Each command group lives in its own module and registers itself on ``app``;
commands parse options, call one library function, and render its result as
Rich output or one JSON object (``--json``).
"""

from __future__ import annotations

import sys

import typer

from realimpact.cli import status as _status
from realimpact.cli._common import err, print_error

app = typer.Typer(
    name="realimpact",
    help="Harm-focused (Real Impact) policing of drug markets: map, weigh harm, plan, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    """Harm-focused (Real Impact) policing of drug markets: map, weigh harm, plan, evaluate."""
    if version:
        from realimpact import __version__

        typer.echo(__version__)
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


_status.register(app)

# Command groups; each module exposes ``register(app)``.
for _name in (
    "ingest",
    "areas",
    "harm",
    "hotspots",
    "markets",
    "plan",
    "evaluate",
    "simulate",
    "demo",
    "users",
    "serve",
):
    try:
        _mod = __import__(f"realimpact.cli.{_name}", fromlist=["register"])
    except ModuleNotFoundError as _e:  # group not built yet
        if _e.name != f"realimpact.cli.{_name}":
            raise
        continue
    _mod.register(app)


def main() -> None:
    """Console-script entry point: usage errors exit 2, internal errors exit 1."""
    try:
        rv = app(standalone_mode=False)
        # click returns Exit codes instead of raising them when not standalone
        if isinstance(rv, int) and rv:
            sys.exit(rv)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(1)
    except Exception as e:  # click usage errors and anything unexpected
        # Typer >= 0.20 vendors click; accept either flavour of its exceptions.
        try:
            from typer._click import exceptions as cx  # type: ignore[attr-defined]
        except ImportError:  # pragma: no cover - older typer
            from click import exceptions as cx

        if isinstance(e, cx.NoArgsIsHelpError):
            err.print(e.format_message() if hasattr(e, "format_message") else str(e))
            sys.exit(2)
        if isinstance(e, cx.UsageError):
            ctx_name = e.ctx.command_path if e.ctx else "realimpact"
            print_error(f"{ctx_name}: {e.format_message()}")
            sys.exit(2)
        if isinstance(e, cx.ClickException):
            print_error(e.format_message())
            sys.exit(e.exit_code or 2)
        print_error(f"{type(e).__name__}: {e}", label="internal error")
        sys.exit(1)
    sys.exit(0)
