"""`realimpact users ...`: accounts of the web app (`realimpact serve`)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from realimpact.cli._common import JsonOpt, StoreOpt, Table, emit, err, esc, handle_errors, out

users = typer.Typer(
    help="Accounts of the web app (realimpact serve): analyst, partner or admin.",
    no_args_is_help=True,
)


def _read_password() -> str:
    """The password from standard input: one line, its line break dropped, nothing echoed."""
    data = sys.stdin.readline()
    return data[:-1] if data.endswith("\n") else data


@users.command("add")
def add(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, . _ @ -).")],
    role: Annotated[str, typer.Option("--role", help="analyst | partner | admin.")],
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the password from standard input (first line); required, so a"
            " password never appears in the shell history or the process list.",
        ),
    ] = False,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Add a web app account; the password is stored only as a scrypt hash."""
    from realimpact.errors import InputError
    from realimpact.web.accounts import add_user, check_name, check_role

    with handle_errors():
        if not password_stdin:
            raise InputError("--password-stdin: required (pipe the password in)")
        check_name(name)
        check_role(role)
        result = add_user(store, name, role, _read_password())
    emit(result, json, lambda r: err.print(f"added [bold]{esc(r['name'])}[/] ({r['role']})"))


@users.command("list")
def list_(store: StoreOpt = None, json: JsonOpt = False) -> None:
    """List web app accounts (name, role, created, disabled); never their passwords."""
    from realimpact.web.accounts import list_users

    with handle_errors():
        result = list_users(store)
    emit(result, json, _render_list)


def _render_list(r: dict) -> None:
    if not r["users"]:
        out.print("no users; add one with `realimpact users add NAME --role ROLE --password-stdin`")
        return
    t = Table("name", "role", "created", "disabled")
    for u in r["users"]:
        t.add_row(u["name"], u["role"], u["created_at"], "yes" if u["disabled"] else "")
    out.print(t)


@users.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="User name.")],
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Remove a web app account; its open sessions end at once."""
    from realimpact.web.accounts import remove_user

    with handle_errors():
        result = remove_user(store, name)
    emit(result, json, lambda r: err.print(f"removed [bold]{esc(r['removed'])}[/]"))


def register(app: typer.Typer) -> None:
    app.add_typer(users, name="users")
