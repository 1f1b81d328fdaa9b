"""Web app accounts: the migration, password hashing and `realimpact users add|list|remove`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from realimpact.cli import app
from realimpact.store import migrations, open_store
from realimpact.web import accounts
from tests.conftest import POLICE_UK

STREET = sorted((POLICE_UK / "city_of_london" / "street").glob("*.csv"))[:2]


def _cli(*args, stdin: str | None = None):
    env = {k: v for k, v in os.environ.items() if k != "REALIMPACT_STORE"}
    return CliRunner().invoke(app, [str(a) for a in args], input=stdin, env=env)


def _tables(path: Path) -> set[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    finally:
        con.close()


# --- the migration -----------------------------------------------------------------------------


def test_new_store_has_web_tables(store_path: Path) -> None:
    with open_store(store_path) as st:
        assert st.schema_version() == 30
        secret = st.scalar("SELECT value FROM web_secrets WHERE name = 'signing'")
    assert len(secret) >= 40
    assert {"web_users", "web_sessions", "audit_log", "web_secrets"} <= _tables(store_path)


def test_older_store_migrates_and_keeps_its_records(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from realimpact.sources.police_uk import ingest_police_uk

    older = [m for m in migrations.MIGRATIONS if m[0] < 30]
    monkeypatch.setattr(migrations, "MIGRATIONS", older)
    ingest_police_uk(STREET, store=store_path)
    assert "web_users" not in _tables(store_path)
    with open_store(store_path) as st:
        before = st.scalar("SELECT count(*) FROM crimes")
        assert st.schema_version() == 20
    monkeypatch.undo()
    # a read of the older store migrates it, as every open does
    r = _cli("users", "list", "--store", store_path, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"users": []}
    with open_store(store_path) as st:
        assert st.schema_version() == 30
        assert st.scalar("SELECT count(*) FROM crimes") == before > 0
    assert "audit_log" in _tables(store_path)


# --- hashing -----------------------------------------------------------------------------------


def test_hash_is_scrypt_salted_and_verifies() -> None:
    a, b = accounts.hash_password("correct horse"), accounts.hash_password("correct horse")
    assert a != b  # a new salt each time
    kdf, params, salt, _ = a.split("$")
    assert kdf == "scrypt" and params == "n=32768,r=8,p=1" and salt
    assert "correct horse" not in a
    assert accounts.verify_password("correct horse", a)
    assert not accounts.verify_password("correct horsf", a)
    assert not accounts.verify_password("correct horse", "not a hash")


def test_older_parameters_still_verify() -> None:
    """Parameters travel in the hash: raising them later leaves old accounts working."""
    import base64
    import hashlib

    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"pw", salt=salt, n=2**14, r=8, p=1, dklen=32)
    stored = f"scrypt$n=16384,r=8,p=1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    assert accounts.verify_password("pw", stored)
    assert not accounts.verify_password("pw2", stored)


def test_unknown_user_costs_a_kdf_too(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = accounts._scrypt
    monkeypatch.setattr(accounts, "_scrypt", lambda *a: calls.append(1) or real(*a))
    accounts._dummy_hash()
    calls.clear()
    assert accounts.check_login(None, "guess") is None
    assert calls == [1]


# --- the CLI -----------------------------------------------------------------------------------


def test_users_add_list_remove(store_path: Path) -> None:
    r = _cli("users", "add", "ann", "--role", "analyst", "--password-stdin", "--store",
             store_path, "--json", stdin="s3cret-pass\n")  # fmt: skip
    assert r.exit_code == 0, r.output
    added = json.loads(r.stdout)
    assert added["name"] == "ann" and added["role"] == "analyst"
    assert "s3cret-pass" not in r.output
    r = _cli("users", "add", "pat", "--role", "partner", "--password-stdin", "--store",
             store_path, stdin="another one")  # fmt: skip
    assert r.exit_code == 0, r.output
    r = _cli("users", "list", "--store", store_path, "--json")
    listed = json.loads(r.stdout)["users"]
    assert [(u["name"], u["role"], u["disabled"]) for u in listed] == [
        ("ann", "analyst", False),
        ("pat", "partner", False),
    ]
    assert all("password" not in k for u in listed for k in u)
    r = _cli("users", "list", "--store", store_path)
    assert r.exit_code == 0 and "ann" in r.stdout and "partner" in r.stdout
    # the password is stored only as its hash
    with open_store(store_path) as st:
        stored = st.scalar("SELECT password_hash FROM web_users WHERE name = 'ann'")
    assert stored.startswith("scrypt$") and "s3cret-pass" not in stored
    assert accounts.verify_password("s3cret-pass", stored)
    assert b"s3cret-pass" not in store_path.read_bytes()
    r = _cli("users", "remove", "pat", "--store", store_path, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == {"removed": "pat"}
    r = _cli("users", "list", "--store", store_path, "--json")
    assert [u["name"] for u in json.loads(r.stdout)["users"]] == ["ann"]


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (["add", "bob", "--role", "root", "--password-stdin"], "pw\n", "--role: 'root'"),
        (["add", "bob", "--role", "partner", "--password-stdin"], "\n", "password: empty"),
        (["add", "bob", "--role", "partner", "--password-stdin"], "", "password: empty"),
        (["add", "bob", "--role", "partner"], "pw\n", "--password-stdin: required"),
        (["add", "ann", "--role", "partner", "--password-stdin"], "pw\n", "exists already"),
        (["add", "bad name", "--role", "partner", "--password-stdin"], "pw\n", "user name"),
        (["remove", "nobody"], None, "'nobody': no such user"),
    ],
)
def test_users_bad_input_exits_2_and_keeps_accounts(
    store_path: Path, args: list[str], stdin: str | None, message: str
) -> None:
    r = _cli("users", "add", "ann", "--role", "analyst", "--password-stdin", "--store",
             store_path, stdin="first\n")  # fmt: skip
    assert r.exit_code == 0, r.output
    r = _cli("users", *args, "--store", store_path, stdin=stdin)
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert "pw" not in r.stdout
    r = _cli("users", "list", "--store", store_path, "--json")
    assert [(u["name"], u["role"]) for u in json.loads(r.stdout)["users"]] == [("ann", "analyst")]
    with open_store(store_path) as st:
        assert accounts.verify_password(
            "first", st.scalar("SELECT password_hash FROM web_users WHERE name = 'ann'")
        )


def test_users_list_on_a_missing_store_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.duckdb"
    r = _cli("users", "list", "--store", missing)
    assert r.exit_code == 2 and "does not exist" in r.stderr
    assert not missing.exists()


def test_help_does_not_import_the_web_stack() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from realimpact.cli import app;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('starlette', 'uvicorn', 'multipart', 'itsdangerous')"
        " or m.startswith('realimpact.web')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
