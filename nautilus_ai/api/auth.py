"""API keys: generated as ``nai_<id>_<secret>``, stored only as a salted PBKDF2 hash in SQLite, with scopes.

Scopes are ordered ``read`` < ``trade`` < ``admin``: a key may call every route whose scope is at or
below its own. Verification compares hashes with :func:`hmac.compare_digest`. Because PBKDF2 is slow on
purpose, a successful verification is remembered in memory (as a SHA-256 of the presented key, never
the key) so that a client does not pay it on every request; revocation is still read from the store on
every request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from nautilus_ai.errors import ConfigError, DataError

Scope = Literal["read", "trade", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "trade", "admin")
"""The scopes, weakest first."""
SCOPE_RANK: dict[str, int] = {scope: rank for rank, scope in enumerate(SCOPES)}

KEY_PATTERN = re.compile(r"^nai_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
"""The shape of an API key: ``nai_`` + a 12-hex-digit id + ``_`` + a 43-character URL-safe secret."""

DEFAULT_ITERATIONS = 200_000
"""PBKDF2-HMAC-SHA256 iterations of a new key."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    salt BLOB NOT NULL,
    hash BLOB NOT NULL,
    iterations INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
)
"""


def scope_allows(held: str, required: str) -> bool:
    """Return whether a key of scope ``held`` may call a route that requires ``required``."""
    return SCOPE_RANK.get(held, -1) >= SCOPE_RANK[required]


def hash_secret(secret: str, salt: bytes, iterations: int) -> bytes:
    """Return the PBKDF2-HMAC-SHA256 hash of ``secret`` (pure)."""
    return hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, iterations)


def split_key(key: str) -> tuple[str, str] | None:
    """Return ``(key_id, secret)`` of a well-formed key, or None."""
    match = KEY_PATTERN.match(key)
    return (match.group(1), match.group(2)) if match else None


@dataclass(frozen=True)
class ApiKeyInfo:
    """What the store knows about a key (never its secret).

    Attributes
    ----------
    key_id, name, scope : str
        The public id, a label and the scope.
    created_at : str
        ISO-8601 UTC creation time.
    revoked_at : str or None
        ISO-8601 UTC revocation time (None: active).

    """

    key_id: str
    name: str
    scope: str
    created_at: str
    revoked_at: str | None

    @property
    def active(self) -> bool:
        """Return whether the key is not revoked."""
        return self.revoked_at is None


@dataclass(frozen=True)
class Principal:
    """The caller of a request, once its key is verified."""

    key_id: str
    name: str
    scope: str


class KeyStore:
    """Hashed API keys in a SQLite file.

    Parameters
    ----------
    path : Path or str
        The SQLite file (created with its directory when missing).
    iterations : int, default 200_000
        PBKDF2 iterations of new keys (existing keys keep theirs).

    Raises
    ------
    ConfigError
        If the file cannot be opened or ``iterations`` < 1000.

    """

    def __init__(self, path: Path | str, iterations: int = DEFAULT_ITERATIONS) -> None:
        if iterations < 1000:
            raise ConfigError(f"KeyStore: iterations must be >= 1000, got {iterations}")
        self.path = Path(path)
        self.iterations = iterations
        self._verified: dict[str, bytes] = {}
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise ConfigError(f"{self.path}: cannot open the API key store: {error}") from error

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=5.0)

    def create(self, name: str, scope: str) -> tuple[str, ApiKeyInfo]:
        """Create a key; return the key (shown once, never stored) and its info.

        Raises
        ------
        DataError
            If ``scope`` is unknown or ``name`` is empty.

        """
        if scope not in SCOPE_RANK:
            raise DataError(f"unknown scope {scope!r}; expected one of {', '.join(SCOPES)}", field="scope")
        if not name.strip():
            raise DataError("a key needs a non-empty name", field="name")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        created = datetime.now(UTC).isoformat()
        digest = hash_secret(secret, salt, self.iterations)
        with self._connect() as db:
            db.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (key_id, name, scope, salt, digest, self.iterations, created),
            )
        return f"nai_{key_id}_{secret}", ApiKeyInfo(key_id, name, scope, created, None)

    def revoke(self, key_id: str) -> ApiKeyInfo:
        """Revoke a key (idempotent) and return its info.

        Raises
        ------
        DataError
            If no key has this id.

        """
        with self._connect() as db:
            db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (datetime.now(UTC).isoformat(), key_id),
            )
        with self._lock:
            self._verified.pop(key_id, None)
        info = self.get(key_id)
        if info is None:
            raise DataError(
                f"no API key with id {key_id!r} in {self.path}", file=str(self.path), field="key_id"
            )
        return info

    def get(self, key_id: str) -> ApiKeyInfo | None:
        """Return a key's info, or None."""
        with self._connect() as db:
            row = db.execute(
                "SELECT key_id, name, scope, created_at, revoked_at FROM api_keys WHERE key_id = ?", (key_id,)
            ).fetchone()
        return ApiKeyInfo(*row) if row else None

    def list(self) -> list[ApiKeyInfo]:
        """Return every key's info, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT key_id, name, scope, created_at, revoked_at FROM api_keys ORDER BY created_at, key_id"
            ).fetchall()
        return [ApiKeyInfo(*row) for row in rows]

    def verify(self, key: str) -> Principal | None:
        """Return the principal of a valid, active key, or None (malformed, unknown, wrong or revoked)."""
        parts = split_key(key)
        if parts is None:
            return None
        key_id, secret = parts
        with self._connect() as db:
            row = db.execute(
                "SELECT name, scope, salt, hash, iterations, revoked_at FROM api_keys WHERE key_id = ?",
                (key_id,),
            ).fetchone()
        if row is None or row[5] is not None:
            return None
        name, scope, salt, stored, iterations, _ = row
        fingerprint = hashlib.sha256(key.encode()).digest()
        with self._lock:
            remembered = self._verified.get(key_id)
        if remembered is not None and hmac.compare_digest(remembered, fingerprint):
            return Principal(key_id, name, scope)
        if not hmac.compare_digest(hash_secret(secret, salt, iterations), stored):
            return None
        with self._lock:
            self._verified[key_id] = fingerprint
        return Principal(key_id, name, scope)
