"""The Redis online feature store against a real Redis server (CI starts one)."""

import json
import os
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
import redis
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.catalog.redis_features import RedisFeatureStore
from nautilus_ai.catalog.types import FeatureVector
from nautilus_ai.errors import RetryableError

REDIS_URL = os.environ.get("NAUTILUS_AI_REDIS_URL", "redis://127.0.0.1:6379/0")
AAPL = InstrumentId.from_str("AAPL.XNAS")
NAMES = ["ret_1", "rsi_14", "vol"]
T0 = 1_704_229_200_123_456_789  # not a whole millisecond: ids must keep the nanoseconds


def vector(i: int, iid: InstrumentId = AAPL) -> FeatureVector:
    return FeatureVector.create(iid, "spec-a", NAMES, [0.1 * i, 50.0 + i, np.nan], T0 + i - 5, T0 + i)


@pytest.fixture
def store() -> Iterator[RedisFeatureStore]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as error:
        pytest.fail(f"Redis is not running at {REDIS_URL} (start it or set NAUTILUS_AI_REDIS_URL): {error}")
    prefix = f"test_fs_{uuid.uuid4().hex}"
    store = RedisFeatureStore(REDIS_URL, prefix=prefix, stream_maxlen=10_000)
    yield store
    store.close()
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_put_writes_the_latest_hash_and_the_stream_entry(store: RedisFeatureStore) -> None:
    store.put(vector(1))

    raw = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    latest = raw.hgetall(f"{store.prefix}:features:latest:AAPL.XNAS")
    stream = raw.xrange(f"{store.prefix}:features:stream:AAPL.XNAS")
    assert latest["names"] == "ret_1,rsi_14,vol"
    assert json.loads(latest["values"])[:2] == [0.1, 51.0]
    assert (latest["spec_hash"], latest["ts_event"], latest["ts_init"]) == (
        "spec-a",
        str(T0 - 4),
        str(T0 + 1),
    )
    assert len(stream) == 1
    assert stream[0][1] == latest
    raw.close()


def test_latest_returns_the_last_vector_exactly(store: RedisFeatureStore) -> None:
    for i in range(5):
        store.put(vector(i))

    latest = store.latest("AAPL.XNAS")

    assert latest == vector(4)
    assert latest is not None and latest.as_array().tobytes() == vector(4).as_array().tobytes()
    assert store.latest("MSFT.XNAS") is None


def test_history_reads_an_inclusive_nanosecond_range_in_time_order(store: RedisFeatureStore) -> None:
    assert store.put_many(vector(i) for i in range(10)) == 10

    assert store.history(AAPL) == [vector(i) for i in range(10)]
    assert store.history(AAPL, start_ns=T0 + 3, end_ns=T0 + 6) == [vector(i) for i in range(3, 7)]
    assert store.history(AAPL, start_ns=T0 + 8, count=1) == [vector(8)]


def test_a_stale_vector_changes_neither_the_latest_nor_the_stream(store: RedisFeatureStore) -> None:
    store.put(vector(5))

    stored = [store.put(vector(5)), store.put(vector(2))]

    assert stored == [False, False]
    assert store.latest(AAPL) == vector(5)
    assert store.history(AAPL) == [vector(5)]


def test_the_stream_is_trimmed_to_about_stream_maxlen(store: RedisFeatureStore) -> None:
    small = RedisFeatureStore(REDIS_URL, prefix=store.prefix, stream_maxlen=10)

    small.put_many(vector(i) for i in range(2_000))

    kept = small.history(AAPL)
    assert 10 <= len(kept) < 2_000
    assert kept[-1] == vector(1_999)
    small.close()


def test_ttl_makes_both_keys_expire(store: RedisFeatureStore) -> None:
    expiring = RedisFeatureStore(REDIS_URL, prefix=store.prefix, ttl_s=30)

    expiring.put(vector(1))

    raw = redis.Redis.from_url(REDIS_URL)
    assert 0 < raw.ttl(expiring.latest_key(AAPL)) <= 30
    assert 0 < raw.ttl(expiring.stream_key(AAPL)) <= 30
    raw.close()
    expiring.close()


def test_an_unreachable_server_raises_a_retryable_error_naming_the_url() -> None:
    store = RedisFeatureStore("redis://:secret@127.0.0.1:1/0")

    with pytest.raises(RetryableError, match=r"redis://:\*\*\*@127\.0\.0\.1:1/0") as raised:
        store.put(vector(1))

    assert "secret" not in str(raised.value)
