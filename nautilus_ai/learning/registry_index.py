"""Index backends of the model registry: SQLite (default) and PostgreSQL (psycopg 3).

Both backends hold the same two tables with the same columns and the same semantics:

* ``models`` -- one row per registered version (metadata, metrics, status, lineage);
* ``model_events`` -- the append-only event log (status changes, promotions, rollbacks).

JSON values are stored as text and booleans as integers, so a row reads back identically from
either backend. SQL is written once with ``?`` placeholders and ``{models}`` / ``{events}`` table
names; each backend substitutes its own. A write transaction takes the index's writer lock first
(SQLite ``BEGIN IMMEDIATE``, PostgreSQL ``LOCK TABLE ... IN EXCLUSIVE MODE``), so a read-check-update
sequence (such as a gated promotion) sees no concurrent writer. Readers are never blocked.

The backend is chosen by a URL (:func:`open_index`): ``None`` or a path or ``sqlite:///path`` for
SQLite, ``postgresql://...`` for PostgreSQL.
"""

from __future__ import annotations

import abc
import contextlib
import re
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from nautilus_ai.errors import ConfigError, RetryableError

_SQLITE_TIMEOUT_S = 60.0
_PG_CONNECT_TIMEOUT_S = 10
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
DEFAULT_PG_SCHEMA = "nautilus_ai_registry"
"""PostgreSQL schema of the registry tables when none is given."""

MODEL_COLUMNS: tuple[str, ...] = (
    "version_id",
    "name",
    "created_at",
    "sha256",
    "spec_hash",
    "feature_names",
    "train_start",
    "train_end",
    "seed",
    "params",
    "metrics",
    "status",
    "parent",
    "code_version",
    "oos_metrics",
)
"""Columns of the ``models`` table, in the order rows are read and written."""

EVENT_COLUMNS: tuple[str, ...] = (
    "event_id",
    "name",
    "version_id",
    "action",
    "from_status",
    "to_status",
    "previous_version",
    "actor",
    "at",
    "reason",
    "forced",
)
"""Columns of the ``model_events`` table, in the order rows are read."""

_MODELS_DDL = """
CREATE TABLE IF NOT EXISTS {models} (
    version_id    TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    spec_hash     TEXT NOT NULL,
    feature_names TEXT NOT NULL,
    train_start   TEXT NOT NULL,
    train_end     TEXT NOT NULL,
    seed          INTEGER NOT NULL,
    params        TEXT NOT NULL,
    metrics       TEXT NOT NULL,
    status        TEXT NOT NULL,
    parent        TEXT,
    code_version  TEXT NOT NULL,
    oos_metrics   TEXT NOT NULL DEFAULT '{{}}'
)
"""

_EVENTS_DDL = """
CREATE TABLE IF NOT EXISTS {events} (
    event_id          {serial},
    name              TEXT NOT NULL,
    version_id        TEXT NOT NULL,
    action            TEXT NOT NULL,
    from_status       TEXT,
    to_status         TEXT,
    previous_version  TEXT,
    actor             TEXT NOT NULL,
    at                TEXT NOT NULL,
    reason            TEXT,
    forced            INTEGER NOT NULL
)
"""


class IndexCursor(abc.ABC):
    """One transaction's view of the index."""

    @abc.abstractmethod
    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement and return its rows (empty for statements without a result).

        Parameters
        ----------
        sql : str
            SQL with ``?`` placeholders and ``{models}`` / ``{events}`` table names.
        args : Sequence[Any]
            The placeholder values.

        """


class RegistryIndex(abc.ABC):
    """Where a registry keeps its ``models`` and ``model_events`` tables."""

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Return a human-readable location for messages (a path, or a URL without password)."""

    @abc.abstractmethod
    def transaction(self, *, write: bool = False) -> contextlib.AbstractContextManager[IndexCursor]:
        """Return a context manager running one transaction; it commits on success.

        Parameters
        ----------
        write : bool
            Take the index's writer lock first, so no other writer runs until this one commits.

        """

    @abc.abstractmethod
    def ensure_schema(self) -> None:
        """Create the tables when missing (idempotent, safe under concurrency)."""


class SqliteIndex(RegistryIndex):
    """The registry index in one SQLite file.

    Parameters
    ----------
    path : Path
        The database file; its directory must exist.

    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    @property
    def location(self) -> str:
        """Return the database file path."""
        return str(self.path)

    def ensure_schema(self) -> None:
        """Create the tables when missing and add columns that older indexes lack."""
        with self.transaction(write=True) as cursor:
            cursor.execute(_MODELS_DDL)
            cursor.execute("CREATE INDEX IF NOT EXISTS models_name ON {models} (name, created_at)")
            columns = {row[1] for row in cursor.execute("PRAGMA table_info(models)")}
            if "oos_metrics" not in columns:  # an index written before out-of-sample metrics existed
                cursor.execute("ALTER TABLE {models} ADD COLUMN oos_metrics TEXT NOT NULL DEFAULT '{{}}'")
            cursor.execute(_EVENTS_DDL.replace("{serial}", "INTEGER PRIMARY KEY AUTOINCREMENT"))
            cursor.execute("CREATE INDEX IF NOT EXISTS model_events_name ON {events} (name, event_id)")

    @contextlib.contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[IndexCursor]:
        """Run one transaction (``BEGIN IMMEDIATE`` when writing)."""
        conn = sqlite3.connect(self.path, timeout=_SQLITE_TIMEOUT_S, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(_SQLITE_TIMEOUT_S * 1000)}")
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield _SqliteCursor(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()


class _SqliteCursor(IndexCursor):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        statement = sql.replace("{models}", "models").replace("{events}", "model_events")
        return list(self._conn.execute(statement.replace("{{}}", "{}"), tuple(args)).fetchall())


class PostgresIndex(RegistryIndex):
    """The registry index in a PostgreSQL schema (psycopg 3).

    Parameters
    ----------
    url : str
        ``postgresql://user@host:port/database`` (a libpq connection URL).
    schema : str, optional
        Schema holding the tables (created when missing); defaults to
        :data:`DEFAULT_PG_SCHEMA`. Tests use a unique schema each and drop it afterwards.

    """

    def __init__(self, url: str, schema: str | None = None) -> None:
        schema = schema if schema is not None else DEFAULT_PG_SCHEMA
        if not _IDENTIFIER.match(schema):
            raise ConfigError(
                f"registry schema {schema!r} is invalid: use letters, digits and '_' (at most 63), "
                "starting with a letter or '_'"
            )
        self.url = url
        self.schema = schema

    @property
    def location(self) -> str:
        """Return the URL (password removed) and schema."""
        return f"{re.sub(r'://([^:@/]*):[^@/]*@', r'://\1:***@', self.url)} (schema {self.schema})"

    def ensure_schema(self) -> None:
        """Create the schema and tables when missing; concurrent callers serialize on an advisory lock."""
        with self._connect() as conn, conn.transaction():
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"nautilus_ai.registry.{self.schema}",)
            )
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            cursor = _PostgresCursor(conn, self.schema)
            cursor.execute(_MODELS_DDL)
            cursor.execute(
                f'CREATE INDEX IF NOT EXISTS models_name ON "{self.schema}".models (name, created_at)'
            )
            cursor.execute(_EVENTS_DDL.replace("{serial}", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"))
            cursor.execute("CREATE INDEX IF NOT EXISTS model_events_name ON {events} (name, event_id)")

    @contextlib.contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[IndexCursor]:
        """Run one transaction (after ``LOCK TABLE models IN EXCLUSIVE MODE`` when writing)."""
        with self._connect() as conn, conn.transaction():
            if write:
                conn.execute(f'LOCK TABLE "{self.schema}".models IN EXCLUSIVE MODE')
            yield _PostgresCursor(conn, self.schema)

    def _connect(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self.url, connect_timeout=_PG_CONNECT_TIMEOUT_S)
        except psycopg.OperationalError as exc:
            raise RetryableError(f"cannot connect to the registry index at {self.location}: {exc}") from exc


class _PostgresCursor(IndexCursor):
    def __init__(self, conn: Any, schema: str) -> None:
        self._conn = conn
        self._schema = schema

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        statement = (
            sql.replace("{models}", f'"{self._schema}".models')
            .replace("{events}", f'"{self._schema}".model_events')
            .replace("{{}}", "{}")
            .replace("%", "%%")
            .replace("?", "%s")
        )
        cursor = self._conn.execute(statement, tuple(args))
        return list(cursor.fetchall()) if cursor.description is not None else []


def open_index(url: str | Path | None, root: Path, schema: str | None = None) -> RegistryIndex:
    """Return the index backend a URL names and make sure its tables exist.

    Parameters
    ----------
    url : str or Path, optional
        ``None`` for ``root/index.sqlite``; a file path or ``sqlite:///path`` for SQLite;
        ``postgresql://...`` (or ``postgres://...``) for PostgreSQL.
    root : Path
        The registry root (the default SQLite location).
    schema : str, optional
        PostgreSQL schema (ignored by SQLite).

    Raises
    ------
    ConfigError
        If the URL has another scheme.
    RetryableError
        If the PostgreSQL server cannot be reached.

    """
    index: RegistryIndex
    text = str(url) if url is not None else None
    if text is None:
        index = SqliteIndex(root / "index.sqlite")
    elif text.startswith(("postgresql://", "postgres://")):
        index = PostgresIndex(text, schema)
    elif text.startswith("sqlite:///"):
        index = SqliteIndex(Path(text.removeprefix("sqlite:///")))
    elif "://" in text:
        raise ConfigError(
            f"registry index URL {text!r} is not supported: use a file path, sqlite:///path or "
            "postgresql://user@host:port/database"
        )
    else:
        index = SqliteIndex(Path(text))
    index.ensure_schema()
    return index
