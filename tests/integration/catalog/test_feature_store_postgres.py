"""The PostgreSQL feature store against a real server (CI starts one).

TimescaleDB is used when the server offers it; on the machine these tests were written on it was
not available (``pg_available_extensions`` had no ``timescaledb``), so the btree-index path ran.
"""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.catalog.feature_store import feature_frame, write_feature_vectors
from nautilus_ai.catalog.sql_features import SqlFeatureStore
from nautilus_ai.catalog.types import FeatureVector
from nautilus_ai.errors import RetryableError

POSTGRES_DSN = os.environ.get("NAUTILUS_AI_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
AAPL = InstrumentId.from_str("AAPL.XNAS")
MSFT = InstrumentId.from_str("MSFT.XNAS")
NAMES = ["ret_1", "rsi_14", "vol"]
T0 = pd.Timestamp("2024-01-02T21:00:00Z")


def vectors(iid: InstrumentId, n: int, offset: float = 0.0) -> list[FeatureVector]:
    out = []
    for d in range(n):
        ts = int((T0 + pd.Timedelta(days=d)).value) + 789  # sub-microsecond part must survive
        out.append(FeatureVector.create(iid, "spec-a", NAMES, [d + offset, 50.0 + d, np.nan], ts - 60, ts))
    return out


@pytest.fixture
def store() -> Iterator[SqlFeatureStore]:
    try:
        admin = psycopg.connect(POSTGRES_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.fail(
            f"PostgreSQL is not running at {POSTGRES_DSN} (start it or set NAUTILUS_AI_POSTGRES_DSN): {error}"
        )
    schema = f"test_fs_{uuid.uuid4().hex[:16]}"
    store = SqlFeatureStore(POSTGRES_DSN, schema=schema)
    store.ensure_schema()
    yield store
    store.close()
    admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    admin.close()


def test_ensure_schema_uses_timescale_only_when_the_server_offers_it(store: SqlFeatureStore) -> None:
    with psycopg.connect(POSTGRES_DSN) as connection:
        available = connection.execute(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone()
        indexes = connection.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = 'feature_vectors'",
            (store.schema,),
        ).fetchall()

    assert store.ensure_schema() == store.timescale  # idempotent
    if available is not None and available[0] == 0:
        assert store.timescale is False
        assert ("feature_vectors_ts_init_idx",) in indexes


def test_write_is_an_idempotent_batch_upsert(store: SqlFeatureStore) -> None:
    batch = vectors(AAPL, 20) + vectors(MSFT, 20, offset=100.0)

    first = store.write(batch)
    second = store.write(batch)

    assert (first, second) == (40, 0)
    assert store.count() == 40


def test_read_returns_the_offline_frame_shape_and_respects_as_of(store: SqlFeatureStore) -> None:
    store.write(vectors(AAPL, 20) + vectors(MSFT, 20, offset=100.0))
    as_of = (T0 + pd.Timedelta(days=9, microseconds=1)).isoformat()

    frame = store.read(["AAPL.XNAS", "MSFT.XNAS"], T0 + pd.Timedelta(days=5), None, as_of=as_of)

    assert frame.index.names == ["ts_init", "instrument_id"]
    assert list(frame.columns) == NAMES
    assert len(frame) == 2 * 5  # days 5..9
    assert frame.index.get_level_values("ts_init").max() == T0 + pd.Timedelta(days=9, nanoseconds=789)
    assert frame.loc[(T0 + pd.Timedelta(days=7, nanoseconds=789), "MSFT.XNAS"), "ret_1"] == 107.0


def test_read_equals_the_offline_catalog_frame(store: SqlFeatureStore, tmp_path: Path) -> None:
    batch = vectors(AAPL, 30) + vectors(MSFT, 30, offset=100.0)
    store.write(batch)
    write_feature_vectors(tmp_path / "catalog", batch)
    ids = ["AAPL.XNAS", "MSFT.XNAS"]

    sql_frame = store.read(ids, None, None, features=["rsi_14", "vol"])
    offline = feature_frame(tmp_path / "catalog", ids, ["rsi_14", "vol"], None, None)

    pd.testing.assert_frame_equal(sql_frame, offline)


def test_an_unreachable_server_raises_a_retryable_error_naming_the_dsn() -> None:
    store = SqlFeatureStore("postgresql://someone:secret@127.0.0.1:1/test")

    with pytest.raises(RetryableError, match=r"postgresql://someone:\*\*\*@127\.0\.0\.1:1/test") as raised:
        store.write(vectors(AAPL, 1))

    assert "secret" not in str(raised.value)
