"""OnlineFeatureSink: streams the FeatureVectors on the bus to Redis and/or PostgreSQL.

Redis receives every vector as it arrives (the latest per instrument and a bounded stream) for
online serving; PostgreSQL receives them in batches (flushed every ``batch_size`` vectors and on
stop) for durable, TimescaleDB-compatible storage. Both are read back as point-in-time frames of
the same shape as the offline catalog (:mod:`nautilus_ai.catalog.feature_store`).
"""

from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.catalog.redis_features import RedisFeatureStore
from nautilus_ai.catalog.sql_features import SqlFeatureStore
from nautilus_ai.catalog.types import FeatureVector, topic_data_type
from nautilus_ai.errors import RetryableError


class OnlineFeatureSinkConfig(ActorConfig, frozen=True):
    """Configuration of an :class:`OnlineFeatureSink`.

    Parameters
    ----------
    instrument_ids : tuple[str, ...]
        The instruments whose FeatureVectors are written.
    redis_url : str, optional
        The Redis URL of the online store (no Redis writes when ``None``).
    postgres_dsn : str, optional
        The PostgreSQL DSN of the SQL store (no PostgreSQL writes when ``None``).
    batch_size : int, default 100
        The number of vectors buffered before a PostgreSQL batch insert.
    redis_prefix : str, default "nautilus_ai"
        The Redis key prefix.
    redis_stream_maxlen : int, default 10_000
        The approximate number of vectors kept per instrument stream.
    redis_ttl_s : int, optional
        When set, the Redis keys expire this many seconds after their last write.
    postgres_table : str, default "feature_vectors"
        The PostgreSQL table.
    postgres_schema : str, default "public"
        The PostgreSQL schema of the table.

    """

    instrument_ids: tuple[str, ...]
    redis_url: str | None = None
    postgres_dsn: str | None = None
    batch_size: int = 100
    redis_prefix: str = "nautilus_ai"
    redis_stream_maxlen: int = 10_000
    redis_ttl_s: int | None = None
    postgres_table: str = "feature_vectors"
    postgres_schema: str = "public"


class OnlineFeatureSink(Actor):
    """Write every FeatureVector of the configured instruments to the online and SQL stores.

    The stores are connected on start (an unreachable store fails the start with a
    ``RetryableError`` naming it). While running, a failed write is logged and counted in
    :attr:`write_errors`; a failed PostgreSQL batch stays buffered and is retried with the next
    flush.
    """

    def __init__(self, config: OnlineFeatureSinkConfig) -> None:
        super().__init__(config)
        if not config.instrument_ids:
            raise ValueError("OnlineFeatureSinkConfig.instrument_ids is empty: name at least one instrument")
        if config.redis_url is None and config.postgres_dsn is None:
            raise ValueError("OnlineFeatureSinkConfig: set redis_url, postgres_dsn or both")
        if config.batch_size < 1:
            raise ValueError(f"OnlineFeatureSinkConfig.batch_size must be >= 1, got {config.batch_size}")
        self._redis: RedisFeatureStore | None = None
        self._sql: SqlFeatureStore | None = None
        self._buffer: list[FeatureVector] = []
        self.vectors_received = 0
        self.write_errors = 0

    def on_start(self) -> None:
        """Connect the stores and subscribe to the FeatureVectors of every instrument."""
        config = self.config
        if config.redis_url is not None:
            self._redis = RedisFeatureStore(
                config.redis_url, config.redis_prefix, config.redis_stream_maxlen, config.redis_ttl_s
            )
            self._redis.ping()
        if config.postgres_dsn is not None:
            self._sql = SqlFeatureStore(config.postgres_dsn, config.postgres_table, config.postgres_schema)
            self._sql.ensure_schema()
        for instrument_id in config.instrument_ids:
            iid = InstrumentId.from_str(instrument_id)
            self.subscribe_data(topic_data_type(FeatureVector, iid), instrument_id=iid)

    def on_data(self, data: FeatureVector) -> None:
        """Write a vector to Redis and buffer it for PostgreSQL."""
        if not isinstance(data, FeatureVector):
            return
        self.vectors_received += 1
        if self._redis is not None:
            try:
                self._redis.put(data)
            except RetryableError as error:
                self.write_errors += 1
                self.log.error(f"OnlineFeatureSink: Redis write failed: {error}")
        if self._sql is not None:
            self._buffer.append(data)
            if len(self._buffer) >= self.config.batch_size:
                self.flush()

    def flush(self) -> None:
        """Insert the buffered vectors into PostgreSQL (kept buffered when the insert fails)."""
        if self._sql is None or not self._buffer:
            return
        try:
            self._sql.write(self._buffer)
        except RetryableError as error:
            self.write_errors += 1
            self.log.error(f"OnlineFeatureSink: PostgreSQL batch of {len(self._buffer)} failed: {error}")
            return
        self._buffer.clear()

    def on_stop(self) -> None:
        """Flush the PostgreSQL buffer and close the stores."""
        self.flush()
        if self._redis is not None:
            self._redis.close()
            self._redis = None
        if self._sql is not None:
            self._sql.close()
            self._sql = None
