"""Browser sessions of the dashboard: a signed random session id in a cookie, mapped in memory to a key.

The cookie holds ``<session id>.<HMAC-SHA256 of the id>``, never the API key. The map from session id to
the key's id, name and scope lives in the process (one sidecar worker: see ``docs/dashboard.md``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from nautilus_ai.errors import ConfigError

COOKIE_NAME = "nai_ui_session"
"""The name of the session cookie."""


def sign(session_id: str, secret: bytes) -> str:
    """Return the cookie value of ``session_id``: the id, a dot and its HMAC-SHA256 (pure)."""
    digest = hmac.new(secret, session_id.encode(), hashlib.sha256).hexdigest()
    return f"{session_id}.{digest}"


def unsign(value: str, secret: bytes) -> str | None:
    """Return the session id of a cookie value whose signature is valid, or None (pure)."""
    session_id, sep, _ = value.rpartition(".")
    if not sep or not session_id:
        return None
    return session_id if hmac.compare_digest(sign(session_id, secret), value) else None


@dataclass(frozen=True)
class UiSession:
    """What a session knows about its key (never the key itself).

    Attributes
    ----------
    session_id : str
        The random id (in the signed cookie).
    key_id, name, scope : str
        The key's public id, label and scope.
    csrf_token : str
        A random token the pages send back with every control (``X-UI-CSRF``).
    expires_at : float
        ``time.monotonic()`` after which the session is void.

    """

    session_id: str
    key_id: str
    name: str
    scope: str
    csrf_token: str
    expires_at: float


class SessionStore:
    """The sessions of one process.

    Parameters
    ----------
    ttl_s : float, default 28_800
        How long a session lasts after login (seconds).
    secret : bytes, optional
        The HMAC key of the cookies (random per process when None: sessions end with the process).
    clock : callable, optional
        The monotonic clock (tests).

    Raises
    ------
    ConfigError
        If ``ttl_s`` is not positive or ``secret`` shorter than 32 bytes.

    """

    def __init__(
        self,
        ttl_s: float = 28_800.0,
        secret: bytes | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not ttl_s > 0:
            raise ConfigError(f"dashboard: session ttl_s must be > 0, got {ttl_s}")
        if secret is not None and len(secret) < 32:
            raise ConfigError("dashboard: the session secret must be at least 32 bytes")
        self.ttl_s = ttl_s
        self.secret = secret if secret is not None else secrets.token_bytes(32)
        self._clock = clock
        self._sessions: dict[str, UiSession] = {}
        self._lock = threading.Lock()

    def create(self, key_id: str, name: str, scope: str) -> tuple[UiSession, str]:
        """Open a session for a verified key; return it and its cookie value."""
        session = UiSession(
            session_id=secrets.token_urlsafe(32),
            key_id=key_id,
            name=name,
            scope=scope,
            csrf_token=secrets.token_urlsafe(24),
            expires_at=self._clock() + self.ttl_s,
        )
        with self._lock:
            now = self._clock()
            for sid in [s for s, v in self._sessions.items() if v.expires_at <= now]:
                del self._sessions[sid]
            self._sessions[session.session_id] = session
        return session, sign(session.session_id, self.secret)

    def resolve(self, cookie: str | None) -> UiSession | None:
        """Return the live session of a cookie value, or None (missing, forged, unknown or expired)."""
        if not cookie:
            return None
        session_id = unsign(cookie, self.secret)
        if session_id is None:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.expires_at <= self._clock():
                del self._sessions[session_id]
                return None
        return session

    def drop(self, session_id: str) -> None:
        """End a session (idempotent)."""
        with self._lock:
            self._sessions.pop(session_id, None)

    def drop_key(self, key_id: str) -> int:
        """End every session of a key (after its revocation); return how many."""
        with self._lock:
            ids = [s for s, v in self._sessions.items() if v.key_id == key_id]
            for sid in ids:
                del self._sessions[sid]
        return len(ids)
