"""Accounts of the web app: roles, password hashing, verification.

Passwords are hashed with scrypt (``hashlib.scrypt``, standard library), a
memory-hard KDF: each guess costs ``128 * r * n`` bytes of memory, which is
what makes a GPU or ASIC farm expensive for someone who has copied the store.
Parameters: n = 2**15, r = 8, p = 1 (32 MiB and roughly 0.1 s per guess on a
laptop). OWASP's floor for scrypt is n = 2**17 with r = 8 and p = 1 at
128 MiB, *or* equivalent trade-offs; this server runs on one shared force
machine where many logins at 128 MiB each would be a denial of service of its
own, so we take the next step down and pair it with login rate limiting. The
parameters are written into each hash, so raising them later needs no
migration: old hashes verify with their own parameters.

Stored form: ``scrypt$n=32768,r=8,p=1$<salt b64>$<hash b64>``, salt 16 random
bytes, hash 32 bytes. Clear passwords are never stored, logged or printed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Any

from realimpact.errors import ValidationError

ROLES = ("analyst", "partner", "admin")
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
_SALT_BYTES = 16
_HASH_BYTES = 32
#: user names appear in the audit log and on pages: plain, short, no spaces
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MAX_PASSWORD_BYTES = 1024  # bounds the KDF's input; nobody types more


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    # maxmem: OpenSSL's default ceiling (32 MiB) is exactly our cost; leave headroom
    return hashlib.scrypt(
        password, salt=salt, n=n, r=r, p=p, maxmem=256 * r * n + 2**20, dklen=_HASH_BYTES
    )


def hash_password(password: str) -> str:
    """The stored form of ``password`` (new random salt every time)."""
    check_password(password)
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password.encode("utf-8"), salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt$n={SCRYPT_N},r={SCRYPT_R},p={SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; the comparison takes the same time either way."""
    try:
        kdf, params, salt_b64, hash_b64 = stored.split("$")
        p = dict(kv.split("=") for kv in params.split(","))
        n, r, par = int(p["n"]), int(p["r"]), int(p["p"])
        salt, want = base64.b64decode(salt_b64), base64.b64decode(hash_b64)
    except (ValueError, KeyError):
        return False
    if kdf != "scrypt" or len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        return False
    got = _scrypt(password.encode("utf-8"), salt, n, r, par)
    return hmac.compare_digest(got, want)


# Checked against when the user does not exist, so an unknown name costs the
# same KDF time as a wrong password and timing does not reveal which names exist.
_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
    return _DUMMY_HASH


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError(f"--role: {role!r} is not one of {', '.join(ROLES)}")
    return role


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValidationError(
            f"user name {name!r}: 1-64 letters, digits or . _ @ -, starting with a letter or digit"
        )
    return name


def check_password(password: str) -> str:
    if not password:
        raise ValidationError("password: empty (give it on standard input)")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise ValidationError(f"password: longer than {MAX_PASSWORD_BYTES} bytes")
    return password


def add_user(store: Any, name: str, role: str, password: str) -> dict[str, Any]:
    """Create an account; ValidationError for a bad name, role or password or a taken name.

    Everything is checked before the store is written, so a refused account
    leaves the existing ones as they were.
    """
    from realimpact.store import web as store_web
    from realimpact.store.connection import using_store

    check_name(name)
    check_role(role)
    hashed = hash_password(password)
    with using_store(store) as st:
        if store_web.get_user(st, name) is not None:
            raise ValidationError(f"user {name!r} exists already (remove it first)")
        store_web.insert_user(st, name, role, hashed)
        user = store_web.get_user(st, name)
    assert user is not None
    return {"name": user["name"], "role": user["role"], "created_at": user["created_at"]}


def list_users(store: Any) -> dict[str, Any]:
    from realimpact.store import web as store_web
    from realimpact.store.connection import using_store

    with using_store(store) as st:
        return {"users": store_web.list_users(st)}


def remove_user(store: Any, name: str) -> dict[str, Any]:
    """Delete an account and its sessions (logged-in browsers are out at once)."""
    from realimpact.store import web as store_web
    from realimpact.store.connection import using_store

    with using_store(store) as st:
        if not store_web.delete_user(st, name):
            raise ValidationError(f"user {name!r}: no such user")
    return {"removed": name}


def check_login(user: dict[str, Any] | None, password: str) -> dict[str, Any] | None:
    """``{name, role}`` if ``password`` opens the enabled account ``user`` (a stored row).

    An unknown user (None) costs the same KDF time as a wrong password, so
    timing does not tell which names exist.
    """
    if user is None:
        verify_password(password, _dummy_hash())
        return None
    ok = verify_password(password, user["password_hash"])
    if not ok or user["disabled"]:
        return None
    return {"name": user["name"], "role": user["role"]}


def new_token() -> tuple[str, str]:
    """(token for the cookie, its sha256 for the store): a stolen store holds no live token."""
    token = secrets.token_urlsafe(32)
    return token, hashlib.sha256(token.encode("ascii")).hexdigest()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
