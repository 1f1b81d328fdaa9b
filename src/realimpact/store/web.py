"""SQL of the web app: accounts, sessions, the audit log and the signing secret.

The only code that reads or writes the ``web_*`` and ``audit_log`` tables
(migration 30). Nothing here DELETEs: a removed account stays as a row with ``removed_at``
set and its hash erased, an ended session as a row whose expiry is past, so
every name in the audit log keeps meaning.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from realimpact.store.connection import Store


def _now() -> _dt.datetime:
    """UTC without tzinfo: DuckDB's TIMESTAMP, compared with the stored expiry."""
    return _dt.datetime.now(_dt.UTC).replace(tzinfo=None)


# -- accounts ----------------------------------------------------------------
def get_user(st: Store, name: str) -> dict[str, Any] | None:
    rows = st.con.execute(
        "SELECT name, role, password_hash, CAST(created_at AS VARCHAR), disabled"
        " FROM web_users WHERE name = ? AND removed_at IS NULL",
        [name],
    ).fetchall()
    if not rows:
        return None
    n, role, ph, created, disabled = rows[0]
    return {
        "name": n,
        "role": role,
        "password_hash": ph,
        "created_at": created,
        "disabled": bool(disabled),
    }


def insert_user(st: Store, name: str, role: str, password_hash: str) -> None:
    """Add one account; the caller has checked the name is free (inside this transaction)."""
    with st.transaction() as con:
        gone = con.execute("SELECT count(*) FROM web_users WHERE name = ?", [name]).fetchone()[0]
        if gone:  # a removed account of that name: the row is reused
            con.execute(
                "UPDATE web_users SET role = ?, password_hash = ?, created_at = ?,"
                " disabled = false, removed_at = NULL WHERE name = ?",
                [role, password_hash, _now(), name],
            )
        else:
            con.execute(
                "INSERT INTO web_users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
                [name, role, password_hash, _now()],
            )


def list_users(st: Store) -> list[dict[str, Any]]:
    """Every account without its password hash: nothing that lists users needs it."""
    rows = st.con.execute(
        "SELECT name, role, CAST(created_at AS VARCHAR), disabled FROM web_users"
        " WHERE removed_at IS NULL ORDER BY name"
    ).fetchall()
    return [{"name": n, "role": r, "created_at": c, "disabled": bool(d)} for n, r, c, d in rows]


def delete_user(st: Store, name: str) -> bool:
    """Remove an account and every session it holds (one transaction); False if unknown."""
    now = _now()
    with st.transaction() as con:
        n = con.execute(
            "SELECT count(*) FROM web_users WHERE name = ? AND removed_at IS NULL", [name]
        ).fetchone()[0]
        if not n:
            return False
        con.execute(
            "UPDATE web_sessions SET expires_at = ? WHERE user_name = ? AND expires_at > ?",
            [now, name, now],
        )
        con.execute(
            "UPDATE web_users SET removed_at = ?, disabled = true, password_hash = ''"
            " WHERE name = ?",
            [now, name],
        )
    return True


# -- sessions ----------------------------------------------------------------
def insert_session(st: Store, token_hash: str, user_name: str, lifetime_s: int) -> None:
    now = _now()
    with st.transaction() as con:
        con.execute(
            "INSERT INTO web_sessions VALUES (?, ?, ?, ?)",
            [token_hash, user_name, now, now + _dt.timedelta(seconds=lifetime_s)],
        )


def session_user(st: Store, token_hash: str) -> dict[str, Any] | None:
    """The live, enabled account holding this session, or None."""
    rows = st.con.execute(
        "SELECT u.name, u.role FROM web_sessions s JOIN web_users u ON u.name = s.user_name"
        " WHERE s.token_hash = ? AND s.expires_at > ? AND NOT u.disabled"
        " AND u.removed_at IS NULL",
        [token_hash, _now()],
    ).fetchall()
    return {"name": rows[0][0], "role": rows[0][1]} if rows else None


def end_session(st: Store, token_hash: str) -> None:
    """Logout: the session's expiry becomes now (see the module note on DELETE)."""
    now = _now()
    with st.transaction() as con:
        con.execute(
            "UPDATE web_sessions SET expires_at = ? WHERE token_hash = ? AND expires_at > ?",
            [now, token_hash, now],
        )


# -- audit log ---------------------------------------------------------------
def add_audit(
    st: Store,
    *,
    user: str | None,
    role: str | None,
    action: str,
    obj: str,
    audience: str | None,
    remote: str | None,
) -> None:
    with st.transaction() as con:
        con.execute(
            "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?)",
            [_now(), user, role, action, obj, audience, remote],
        )


def audit_rows(st: Store, limit: int = 1000) -> list[dict[str, Any]]:
    """The newest audit rows first."""
    rows = st.con.execute(
        "SELECT CAST(logged_at AS VARCHAR), user_name, role, action, object, audience, remote"
        " FROM audit_log ORDER BY logged_at DESC, rowid DESC LIMIT ?",
        [limit],
    ).fetchall()
    keys = ("at", "user", "role", "action", "object", "audience", "remote")
    return [dict(zip(keys, r, strict=True)) for r in rows]


# -- signing secret ----------------------------------------------------------
def signing_secret(st: Store) -> str:
    return str(st.scalar("SELECT value FROM web_secrets WHERE name = 'signing'"))
