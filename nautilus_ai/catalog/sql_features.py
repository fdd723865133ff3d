"""The SQL feature store: FeatureVectors in a PostgreSQL table, a TimescaleDB hypertable when possible.

The table (``feature_vectors`` by default) holds one row per vector::

    instrument_id text, ts_event timestamptz, ts_init timestamptz, spec_hash text,
    names text[], values double precision[],
    ts_event_ns bigint, ts_init_ns bigint,
    primary key (instrument_id, ts_init, spec_hash, ts_init_ns)

``timestamptz`` keeps microseconds, so the exact nanosecond times are kept beside them in
``ts_event_ns``/``ts_init_ns`` (reads return those, and the key includes ``ts_init_ns`` so two
vectors within one microsecond are both kept). When the ``timescaledb`` extension is
available and can be created, :meth:`SqlFeatureStore.ensure_schema` turns the table into a
hypertable on ``ts_init``; otherwise it adds a btree index on ``ts_init``. On the development
machine this module was written on (PostgreSQL without TimescaleDB) the plain table and index are
used; :attr:`SqlFeatureStore.timescale` tells which path was taken.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import psycopg
from nautilus_trader.model.identifiers import InstrumentId
from psycopg import sql

from nautilus_ai.catalog.feature_store import (
    TimestampLike,
    effective_end,
    to_nanos,
    vectors_to_feature_frame,
)
from nautilus_ai.catalog.types import FeatureVector
from nautilus_ai.errors import ConfigError, RetryableError


def redact_dsn(dsn: str) -> str:
    """Return ``dsn`` with any password replaced by ``***`` (URL or key=value form)."""
    if "://" in dsn:
        password = urlsplit(dsn).password
        return dsn.replace(f":{password}@", ":***@", 1) if password else dsn
    return " ".join("password=***" if p.startswith("password=") else p for p in dsn.split())


def _timestamp(ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=dt.UTC) + dt.timedelta(
        microseconds=(ns % 1_000_000_000) // 1_000
    )


class SqlFeatureStore:
    """Write and read FeatureVectors in PostgreSQL (TimescaleDB-compatible).

    Parameters
    ----------
    dsn : str
        The libpq connection string or URL (``postgresql://user@host:5432/db``).
    table : str, default "feature_vectors"
        The table name.
    schema : str, default "public"
        The schema holding the table (created by :meth:`ensure_schema` when missing).

    Raises
    ------
    ConfigError
        If ``table`` or ``schema`` is empty.

    """

    def __init__(self, dsn: str, table: str = "feature_vectors", schema: str = "public") -> None:
        if not table or not schema:
            raise ConfigError("SqlFeatureStore: table and schema must be non-empty names")
        self.dsn = dsn
        self.table = table
        self.schema = schema
        self.timescale: bool | None = None
        self._connection: psycopg.Connection[Any] | None = None

    @property
    def _qualified(self) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(self.table))

    def _connect(self) -> psycopg.Connection[Any]:
        if self._connection is None or self._connection.closed:
            try:
                self._connection = psycopg.connect(self.dsn, connect_timeout=5, autocommit=True)
            except psycopg.OperationalError as error:
                raise RetryableError(
                    f"PostgreSQL at {redact_dsn(self.dsn)} is unreachable: {error}".strip()
                ) from error
        return self._connection

    def ensure_schema(self) -> bool:
        """Create the schema, the table and its time index (a hypertable when TimescaleDB allows).

        Returns
        -------
        bool
            True when the table is a TimescaleDB hypertable, False when it has a btree index.

        """
        connection = self._connect()
        with connection.transaction():
            connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
            connection.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " instrument_id text NOT NULL, ts_event timestamptz NOT NULL,"
                    " ts_init timestamptz NOT NULL, spec_hash text NOT NULL,"
                    " names text[] NOT NULL, values double precision[] NOT NULL,"
                    " ts_event_ns bigint NOT NULL, ts_init_ns bigint NOT NULL,"
                    " PRIMARY KEY (instrument_id, ts_init, spec_hash, ts_init_ns))"
                ).format(self._qualified)
            )
            self.timescale = self._try_hypertable(connection)
            if not self.timescale:
                connection.execute(
                    sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (ts_init)").format(
                        sql.Identifier(f"{self.table}_ts_init_idx"), self._qualified
                    )
                )
        return self.timescale

    def _try_hypertable(self, connection: psycopg.Connection[Any]) -> bool:
        row = connection.execute(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone()
        if not row or row[0] == 0:
            return False
        try:
            with connection.transaction():  # a savepoint: a failure leaves the table in place
                connection.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
                connection.execute(
                    "SELECT create_hypertable(%s::regclass, 'ts_init', if_not_exists => TRUE)",
                    (f'"{self.schema}"."{self.table}"',),
                )
        except psycopg.Error:
            return False
        return True

    def write(self, vectors: Iterable[FeatureVector]) -> int:
        """Insert vectors in one batch; a vector already stored (same key) is skipped.

        Returns
        -------
        int
            The number of rows inserted.

        Raises
        ------
        RetryableError
            If PostgreSQL cannot be reached.

        """
        rows = [
            (
                v.instrument_id.value,
                _timestamp(v.ts_event),
                _timestamp(v.ts_init),
                v.spec_hash,
                v.feature_names(),
                v.as_array().tolist(),
                v.ts_event,
                v.ts_init,
            )
            for v in vectors
        ]
        if not rows:
            return 0
        connection = self._connect()
        statement = sql.SQL(
            "INSERT INTO {} (instrument_id, ts_event, ts_init, spec_hash, names, values,"
            " ts_event_ns, ts_init_ns) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING"
        ).format(self._qualified)
        try:
            with connection.transaction(), connection.cursor() as cursor:
                cursor.executemany(statement, rows)
                inserted = cursor.rowcount
        except psycopg.OperationalError as error:
            raise RetryableError(f"PostgreSQL at {redact_dsn(self.dsn)} failed: {error}") from error
        return max(inserted, 0)

    def read(
        self,
        instrument_ids: Sequence[str | InstrumentId],
        start: TimestampLike | None,
        end: TimestampLike | None,
        as_of: str | None = None,
        *,
        features: Sequence[str] | None = None,
        spec_hash: str | None = None,
    ) -> pd.DataFrame:
        """Read vectors as a point-in-time feature frame (the shape of ``feature_frame``).

        Parameters
        ----------
        instrument_ids : Sequence[str | InstrumentId]
            The instruments to read.
        start, end : TimestampLike, optional
            The inclusive ``ts_init`` range (unbounded when ``None``; ints are UNIX nanoseconds).
        as_of : str, optional
            The knowledge time: only rows with ``ts_init <= as_of`` are returned.
        features : Sequence[str], optional
            The feature columns to return (all when ``None``).
        spec_hash : str, optional
            Only read the vectors of this feature spec.

        Returns
        -------
        pd.DataFrame
            Indexed by (``ts_init`` UTC, ``instrument_id``), one float64 column per feature.

        """
        if not instrument_ids:
            raise ConfigError("SqlFeatureStore.read: instrument_ids is empty: name at least one instrument")
        conditions = [sql.SQL("instrument_id = ANY(%(ids)s)")]
        params: dict[str, Any] = {"ids": [str(iid) for iid in instrument_ids]}
        start_ns = to_nanos(start) if start is not None else None
        end_ns = effective_end(end, as_of)
        if start_ns is not None:
            conditions.append(sql.SQL("ts_init >= %(start)s AND ts_init_ns >= %(start_ns)s"))
            params |= {"start": _timestamp(start_ns), "start_ns": start_ns}
        if end_ns is not None:
            conditions.append(sql.SQL("ts_init <= %(end)s AND ts_init_ns <= %(end_ns)s"))
            params |= {"end": _timestamp(end_ns), "end_ns": end_ns}
        if spec_hash is not None:
            conditions.append(sql.SQL("spec_hash = %(spec_hash)s"))
            params["spec_hash"] = spec_hash
        query = sql.SQL(
            "SELECT instrument_id, spec_hash, names, values, ts_event_ns, ts_init_ns FROM {}"
            " WHERE {} ORDER BY ts_init, instrument_id"
        ).format(self._qualified, sql.SQL(" AND ").join(conditions))
        connection = self._connect()
        try:
            with connection.transaction():
                records = connection.execute(query, params).fetchall()
        except psycopg.OperationalError as error:
            raise RetryableError(f"PostgreSQL at {redact_dsn(self.dsn)} failed: {error}") from error
        vectors = [
            FeatureVector.create(InstrumentId.from_str(iid), spec, names, values, ts_event, ts_init)
            for iid, spec, names, values, ts_event, ts_init in records
        ]
        return vectors_to_feature_frame(vectors, features)

    def count(self) -> int:
        """Return the number of stored vectors."""
        connection = self._connect()
        with connection.transaction():
            row = connection.execute(sql.SQL("SELECT count(*) FROM {}").format(self._qualified)).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Close the connection."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
