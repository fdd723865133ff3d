"""OnlineFeatureSink in a real BacktestEngine: the FeatureActor's vectors land in Redis and PostgreSQL.

Real AAPL daily bars drive the real FeatureActor; the sink writes to a real Redis and a real
PostgreSQL (CI starts both) while a FeatureRecorder writes the same vectors to a catalog. All three
stores must then read back the same point-in-time feature frame.
"""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psycopg
import pytest
import redis

from nautilus_ai import test_kit
from nautilus_ai.catalog.feature_store import feature_frame, vectors_to_feature_frame
from nautilus_ai.catalog.redis_features import RedisFeatureStore
from nautilus_ai.catalog.sql_features import SqlFeatureStore
from nautilus_ai.indicators.feature_actor import FeatureActor, FeatureActorConfig
from nautilus_ai.indicators.feature_recorder import FeatureRecorder, FeatureRecorderConfig
from nautilus_ai.indicators.online_feature_sink import OnlineFeatureSink, OnlineFeatureSinkConfig

REDIS_URL = os.environ.get("NAUTILUS_AI_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_DSN = os.environ.get("NAUTILUS_AI_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
IID = "AAPL.XNAS"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as error:
        pytest.fail(f"Redis is not running at {REDIS_URL} (start it or set NAUTILUS_AI_REDIS_URL): {error}")
    prefix = f"test_sink_{uuid.uuid4().hex}"
    yield prefix
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    try:
        admin = psycopg.connect(POSTGRES_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.fail(
            f"PostgreSQL is not running at {POSTGRES_DSN} (start it or set NAUTILUS_AI_POSTGRES_DSN): {error}"
        )
    schema = f"test_sink_{uuid.uuid4().hex[:16]}"
    yield schema
    admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    admin.close()


def test_sink_writes_every_feature_vector_of_a_backtest_to_redis_and_postgres(
    redis_prefix: str, postgres_schema: str, tmp_path: Path
) -> None:
    instrument = test_kit.stocknet_equity("AAPL", "XNAS")
    bar_type, bars = test_kit.stocknet_bars("AAPL")
    catalog = tmp_path / "catalog"
    sink = OnlineFeatureSink(
        OnlineFeatureSinkConfig(
            instrument_ids=(IID,),
            redis_url=REDIS_URL,
            postgres_dsn=POSTGRES_DSN,
            batch_size=64,  # several full batches and a partial one flushed on stop
            redis_prefix=redis_prefix,
            postgres_schema=postgres_schema,
        )
    )
    engine = test_kit.make_backtest_engine([instrument])
    try:
        engine.add_data(bars)
        feature_actor = FeatureActor(FeatureActorConfig(instrument_id=instrument.id, bar_type=bar_type))
        engine.add_actor(feature_actor)
        engine.add_actor(sink)
        engine.add_actor(
            FeatureRecorder(
                FeatureRecorderConfig(
                    instrument_ids=(IID,), output_path=str(tmp_path / "f.parquet"), catalog_path=str(catalog)
                )
            )
        )
        engine.run()
        published = feature_actor.vectors_published
    finally:
        engine.dispose()

    offline = feature_frame(catalog, [IID], None, None, None)
    redis_store = RedisFeatureStore(REDIS_URL, prefix=redis_prefix)
    sql_store = SqlFeatureStore(POSTGRES_DSN, schema=postgres_schema)
    try:
        latest = redis_store.latest(IID)
        online = vectors_to_feature_frame(redis_store.history(IID))
        stored = sql_store.count()
        sql_frame = sql_store.read([IID], None, None)
    finally:
        redis_store.close()
        sql_store.close()

    assert published > 1_000 and published % 64 != 0
    assert (sink.vectors_received, sink.write_errors) == (published, 0)
    assert len(offline) == published
    assert latest is not None
    assert latest.ts_init == bars[-1].ts_init
    assert latest.as_dict() == offline.iloc[-1].to_dict()
    assert stored == published
    pd.testing.assert_frame_equal(sql_frame, offline)
    pd.testing.assert_frame_equal(online, sql_frame)
