"""Response headers, CSRF tokens, signed session cookies and login throttling.

Mechanics only; which route needs what is declared in :mod:`.access`.

* Every response carries the security headers (:class:`SecurityHeaders`), static
  files and errors included, because it is applied as ASGI middleware around
  the whole app.
* CSRF is a *signed double submit*: a random ``ri_csrf`` cookie (HttpOnly,
  SameSite=Strict) and a token ``HMAC(secret, cookie)`` that forms carry as
  the field ``csrf`` and scripts send as the header ``X-CSRF-Token``. A site
  that can plant a cookie still cannot make the token without the store's
  secret; one that cannot read our pages cannot learn it.
* The session cookie ``ri_session`` holds a random token signed with a
  timestamp (itsdangerous); the store keeps only the token's sha256 with an
  expiry, so logout and ``users remove`` end a session at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from itsdangerous import BadSignature, TimestampSigner

#: ``img-src data:``: MapLibre probes WebP support by decoding a tiny data: image at start-up;
#: a data: image cannot fetch anything, so this opens no path to another host
CSP = (
    "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self';"
    " frame-ancestors 'none'; object-src 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]

SESSION_COOKIE = "ri_session"
CSRF_COOKIE = "ri_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
#: a working shift; then the user logs in again
SESSION_SECONDS = 8 * 3600


class SecurityHeaders:
    """ASGI middleware: the security headers on every HTTP response.

    Pages and API answers are also marked ``Cache-Control: no-store`` (they
    carry data a shared machine's browser cache must not keep); the vendored
    static files may be cached.
    """

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                headers = list(message.get("headers", []))
                headers += [(k, v) for k, v in HEADERS if k not in names]
                if not static and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Signer:
    """Signs session cookies and makes CSRF tokens with the store's secret."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()
        self._signer = TimestampSigner(secret, salt="realimpact-session")

    def sign_session(self, token: str) -> str:
        return self._signer.sign(token).decode()

    def unsign_session(self, value: str, max_age: int = SESSION_SECONDS) -> str | None:
        try:
            return self._signer.unsign(value, max_age=max_age).decode()
        except (BadSignature, UnicodeDecodeError):
            return None

    def csrf_token(self, cookie: str) -> str:
        return hmac.new(self._secret, b"csrf|" + cookie.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, cookie: str | None, token: str | None) -> bool:
        if not cookie or not token:
            return False
        return hmac.compare_digest(self.csrf_token(cookie), token)


def new_csrf_cookie() -> str:
    return secrets.token_urlsafe(32)


class LoginThrottle:
    """At most ``limit`` failed logins per key (user, address) in ``window`` seconds.

    In memory: `realimpact serve` is one process, and a restart forgetting the
    count costs an attacker a restart of the force's server, which they cannot
    cause. Checked *before* the password, so a guess made while throttled
    tells nothing even when it is right.
    """

    def __init__(
        self, limit: int = 5, window: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._fails.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def retry_after(self, keys: Iterable[str]) -> int | None:
        """Seconds until a login may be tried again for any of ``keys``, or None if now."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for k in keys:
                q = self._recent(k, now)
                if len(q) >= self.limit:
                    wait = max(wait, q[-self.limit] + self.window - now)
        return max(1, int(wait + 0.999)) if wait > 0 else None

    def failed(self, keys: Iterable[str]) -> None:
        now = self.clock()
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)

    def succeeded(self, user_key: str) -> None:
        """A right password clears the user's count, not the address's: an attacker
        with an account of their own must not reset their address by using it."""
        with self._lock:
            self._fails.pop(user_key, None)
