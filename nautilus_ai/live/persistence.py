"""Redis as the paper node's cache database and message-bus stream backend.

:class:`RedisSettings` is the ``[live]``-style settings object (pydantic, frozen) from which
:func:`cache_config` and :func:`message_bus_config` build NautilusTrader's ``CacheConfig`` and
``MessageBusConfig``. With them, the node writes its state to Redis under
``trader-<TRADER_ID>:`` (:func:`trader_prefix`):

* ``orders:<CLIENT_ORDER_ID>`` -- each order's events (initialised, submitted, accepted, filled...);
* ``positions:<POSITION_ID>`` -- each position's fill events;
* ``accounts:<ACCOUNT_ID>`` -- each account's ``AccountState`` events (balances, margins);
* ``instruments:*``, ``currencies:*``, ``index:*`` and ``general:*`` (strategy and actor state);
* ``stream`` -- one Redis stream of the message bus (order, position and account events; market
  data types of ``stream_types_filter`` are kept off it).

A node started with ``flush_on_start=False`` loads this state back into its cache when it is
constructed (``ExecutionEngine.load_cache``), before its clients are built: orders (open and
closed, with all their events), positions (with their fills) and accounts come back.
:func:`restored_starting_balances` lets the paper sandbox start from the restored account's balances
instead of its configured starting balances, :func:`restore_open_orders` puts the restored working
orders back into its matching engines (see ``PaperSandboxExecutionClient``), and
:func:`prepare_node_config` replaces NautilusTrader's ``flush_on_start`` (a ``FLUSHDB`` of the whole
database, after the sandbox wrote its account) by deleting only the trader's keys before the node is
built. ``docs/live.md`` lists what a restart restores and what it does not.

:func:`inspect_trader` and :func:`clear_trader` read and delete a trader's keys with the ``redis``
client.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote, urlsplit

import msgspec
from nautilus_trader.config import CacheConfig, DatabaseConfig, MessageBusConfig, TradingNodeConfig
from pydantic import BaseModel, ConfigDict, Field

from nautilus_ai.errors import ConfigError, RetryableError

if TYPE_CHECKING:
    import redis
    from nautilus_trader.backtest.engine import SimulatedExchange
    from nautilus_trader.cache.cache import Cache
    from nautilus_trader.model.identifiers import AccountId

DEFAULT_STREAM_TYPES_FILTER = (
    "nautilus_trader.model.data:QuoteTick",
    "nautilus_trader.model.data:TradeTick",
    "nautilus_trader.model.data:OrderBookDelta",
    "nautilus_trader.model.data:OrderBookDeltas",
)
"""Market data kept off the message-bus stream by default (bars and events still go on it)."""


class RedisSettings(BaseModel):
    """Where and how a node persists its cache and streams its message bus in Redis.

    Parameters
    ----------
    host : str, default "127.0.0.1"
        The Redis host.
    port : int, default 6379
        The Redis port.
    username, password : str, optional
        Redis ACL credentials.
    ssl : bool, default False
        Connect with TLS.
    flush_on_start : bool, default False
        Delete the trader's cache keys when the node starts (a fresh run); False restores the
        orders, positions and accounts written by the trader's previous run.
    buffer_interval_ms : int, default 100
        How often the buffered writes are flushed to Redis (0: every write immediately). State
        written less than this before a crash may be lost.
    cache_encoding : {"msgpack", "json"}, default "msgpack"
        How the cache database encodes its values.
    streams : bool, default True
        Also write the message bus to the Redis stream ``trader-<TRADER_ID>:<streams_prefix>``.
    stream_encoding : {"json", "msgpack"}, default "json"
        How the message bus stream encodes its entries.
    streams_prefix : str, default "stream"
        The stream's key (after the trader prefix).
    stream_types_filter : tuple of str, default :data:`DEFAULT_STREAM_TYPES_FILTER`
        Importable data types (``"module:Class"``) kept off the stream.
    autotrim_mins : int, optional
        Trim stream entries older than this many minutes (never when None).

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(default="127.0.0.1", min_length=1, description="Redis host")
    port: int = Field(default=6379, ge=1, le=65535, description="Redis port")
    username: str | None = Field(default=None, description="Redis ACL user name")
    password: str | None = Field(default=None, description="Redis password")
    ssl: bool = Field(default=False, description="Connect with TLS")
    flush_on_start: bool = Field(default=False, description="Delete the trader's cache keys at start")
    buffer_interval_ms: int = Field(default=100, ge=0, description="Write buffer flush interval (0: none)")
    cache_encoding: Literal["msgpack", "json"] = "msgpack"
    streams: bool = Field(default=True, description="Write the message bus to a Redis stream")
    stream_encoding: Literal["json", "msgpack"] = "json"
    streams_prefix: str = Field(default="stream", min_length=1, description="Stream key after the prefix")
    stream_types_filter: tuple[str, ...] = Field(
        default=DEFAULT_STREAM_TYPES_FILTER, description="Importable data types kept off the stream"
    )
    autotrim_mins: int | None = Field(default=None, gt=0, description="Trim stream entries older than this")

    @classmethod
    def from_url(cls, url: str, **overrides: object) -> RedisSettings:
        """Return the settings of a ``redis://[user:password@]host[:port]`` (or ``rediss://``) URL.

        Raises
        ------
        ConfigError
            If the URL is not a redis URL or has a database number other than 0.

        """
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ConfigError(f"--redis-url: expected redis://host[:port], got {url!r}")
        if parts.path not in ("", "/", "/0"):
            raise ConfigError(
                f"--redis-url {url!r}: NautilusTrader uses Redis database 0 only, drop {parts.path!r}"
            )
        try:
            port = parts.port or 6379
        except ValueError as exc:
            raise ConfigError(f"--redis-url {url!r}: {exc}") from exc
        values: dict[str, object] = {
            "host": parts.hostname,
            "port": port,
            "username": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None,
            "ssl": parts.scheme == "rediss",
            **overrides,
        }
        return cls.model_validate(values)

    @property
    def url(self) -> str:
        """The ``redis://host:port`` URL (without credentials)."""
        return f"{'rediss' if self.ssl else 'redis'}://{self.host}:{self.port}"


def database_config(settings: RedisSettings) -> DatabaseConfig:
    """Return the ``DatabaseConfig`` of ``settings``."""
    return DatabaseConfig(
        type="redis",
        host=settings.host,
        port=settings.port,
        username=settings.username,
        password=settings.password,
        ssl=settings.ssl,
    )


def cache_config(settings: RedisSettings) -> CacheConfig:
    """Return a ``CacheConfig`` backed by the Redis of ``settings``, keys prefixed ``trader-<ID>:``."""
    return CacheConfig(
        database=database_config(settings),
        encoding=settings.cache_encoding,
        buffer_interval_ms=settings.buffer_interval_ms or None,
        flush_on_start=settings.flush_on_start,
        use_trader_prefix=True,
        use_instance_id=False,
    )


def message_bus_config(settings: RedisSettings) -> MessageBusConfig | None:
    """Return a ``MessageBusConfig`` streaming to one Redis stream, or None without ``streams``.

    The stream is ``trader-<TRADER_ID>:<streams_prefix>`` (one stream for every topic); the types of
    ``stream_types_filter`` are kept off it.

    Raises
    ------
    ConfigError
        If a type of ``stream_types_filter`` cannot be imported.

    """
    if not settings.streams:
        return None
    return MessageBusConfig(
        database=database_config(settings),
        encoding=settings.stream_encoding,
        buffer_interval_ms=settings.buffer_interval_ms or None,
        autotrim_mins=settings.autotrim_mins,
        use_trader_prefix=True,
        use_trader_id=True,
        use_instance_id=False,
        streams_prefix=settings.streams_prefix,
        stream_per_topic=False,
        types_filter=[_import_type(path) for path in settings.stream_types_filter] or None,
    )


def _import_type(path: str) -> type:
    from nautilus_trader.common.config import resolve_path

    try:
        resolved = resolve_path(path)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(
            f"[live] stream_types_filter: cannot import {path!r} (expected 'module:Class'): {exc}"
        ) from exc
    if not isinstance(resolved, type):
        raise ConfigError(f"[live] stream_types_filter: {path!r} is not a class")
    return resolved


def trader_prefix(trader_id: str) -> str:
    """Return the key prefix of a trader's cache keys and stream (``trader-<TRADER_ID>:``)."""
    return f"trader-{trader_id}:"


@dataclass(frozen=True)
class TraderState:
    """A trader's keys in Redis, by collection.

    Attributes
    ----------
    trader_id : str
        The trader.
    keys : dict[str, list[str]]
        The keys after the prefix by collection (``"orders"``: ``["orders:O-...", ...]``).
    stream_entries : int
        Entries of the message bus stream (0 when there is none).

    """

    trader_id: str
    keys: dict[str, list[str]] = field(default_factory=dict)
    stream_entries: int = 0

    def ids(self, collection: str) -> list[str]:
        """Return the sorted ids of a collection (``"orders"`` gives the client order ids)."""
        return sorted(k.split(":", 1)[1] for k in self.keys.get(collection, []) if ":" in k)

    @property
    def counts(self) -> dict[str, int]:
        """Keys per collection."""
        return {name: len(keys) for name, keys in self.keys.items()}

    @property
    def empty(self) -> bool:
        """The trader has no key at all."""
        return not self.keys


def connect(settings: RedisSettings, timeout_s: float = 2.0) -> redis.Redis:
    """Return a connected ``redis.Redis`` client of ``settings``.

    Raises
    ------
    RetryableError
        If Redis does not answer at ``settings.url``.

    """
    import redis

    client = redis.Redis(
        host=settings.host,
        port=settings.port,
        username=settings.username,
        password=settings.password,
        ssl=settings.ssl,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        decode_responses=True,
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        raise RetryableError(
            f"Redis at {settings.url} does not answer: {exc} (is redis-server running?)"
        ) from exc
    return client


def inspect_trader(settings: RedisSettings, trader_id: str) -> TraderState:
    """Return the keys a trader holds in Redis, by collection, and its stream's length.

    Raises
    ------
    RetryableError
        If Redis does not answer.

    """
    prefix = trader_prefix(trader_id)
    with connect(settings) as client:
        keys: dict[str, list[str]] = {}
        for key in client.scan_iter(match=f"{_escape(prefix)}*", count=1000):
            rest = str(key)[len(prefix) :]
            keys.setdefault(rest.split(":", 1)[0], []).append(rest)
        stream_entries = 0
        if settings.streams_prefix in keys and client.type(prefix + settings.streams_prefix) == "stream":
            stream_entries = int(client.xlen(prefix + settings.streams_prefix))
    return TraderState(trader_id, {name: sorted(v) for name, v in sorted(keys.items())}, stream_entries)


def clear_trader(settings: RedisSettings, trader_id: str) -> int:
    """Delete every key of a trader (cache and stream); return how many were deleted.

    Raises
    ------
    RetryableError
        If Redis does not answer.

    """
    prefix = trader_prefix(trader_id)
    deleted = 0
    with connect(settings) as client:
        batch: list[str] = []
        for key in client.scan_iter(match=f"{_escape(prefix)}*", count=1000):
            batch.append(str(key))
            if len(batch) >= 500:
                deleted += int(client.delete(*batch))
                batch.clear()
        if batch:
            deleted += int(client.delete(*batch))
    return deleted


def stream_topics(settings: RedisSettings, trader_id: str, count: int = 10_000) -> Counter[str]:
    """Return how many entries of the trader's message bus stream each topic has (first ``count``).

    Raises
    ------
    RetryableError
        If Redis does not answer.

    """
    key = trader_prefix(trader_id) + settings.streams_prefix
    with connect(settings) as client:
        if client.type(key) != "stream":
            return Counter()
        entries = client.xrange(key, count=count)
    return Counter(str(fields.get("topic", "")) for _, fields in entries)


def _escape(pattern: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in pattern)


def restored_starting_balances(cache: Cache, venue: str) -> list[str] | None:
    """Return the total balances of a venue's account restored into ``cache``, or None.

    A sandbox execution client always reports a fresh account state with its configured starting
    balances when it is built; on a node that restored its account from Redis this would reset the
    account. Start the sandbox from these balances instead, so the fresh state repeats the restored
    totals. Locked balances are recomputed by the portfolio from the restored orders and positions
    when the node starts.

    Parameters
    ----------
    cache : Cache
        The node's cache (after ``ExecutionEngine.load_cache``).
    venue : str
        The sandbox venue.

    Returns
    -------
    list[str] or None
        Money strings (``"1000123.45 USD"``), or None when no account of the venue was restored.

    """
    from nautilus_trader.model.identifiers import Venue

    account = cache.account_for_venue(Venue(venue))
    if account is None:
        return None
    balances = [str(money) for money in account.balances_total().values()]
    return balances or None


def settings_of(database: DatabaseConfig) -> RedisSettings:
    """Return the connection settings of a Redis ``DatabaseConfig``.

    Raises
    ------
    ConfigError
        If the database is not Redis.

    """
    if database.type != "redis":
        raise ConfigError(f"cache.database.type: expected 'redis', got {database.type!r}")
    return RedisSettings(
        host=database.host or "127.0.0.1",
        port=database.port or 6379,
        username=database.username,
        password=database.password,
        ssl=bool(database.ssl),
    )


def prepare_node_config(config: TradingNodeConfig) -> TradingNodeConfig:
    """Clear the trader's Redis keys now when its cache asks for ``flush_on_start``.

    NautilusTrader flushes the cache database when the node *starts*, after its execution clients
    were built; a sandbox client reports its account when it is built, so a node flushed on start
    keeps no account in Redis (the later account updates find no key to append to) and a restart
    would find none. Clearing the trader's keys (and only them: NautilusTrader's flush empties the
    whole Redis database) before the node is constructed, and constructing it without
    ``flush_on_start``, keeps the account.

    Parameters
    ----------
    config : TradingNodeConfig
        The node config.

    Returns
    -------
    TradingNodeConfig
        ``config`` itself without a Redis cache or ``flush_on_start``; else a copy with
        ``flush_on_start=False`` (the trader's keys are deleted).

    Raises
    ------
    RetryableError
        If Redis does not answer.

    """
    cache = config.cache
    if cache is None or cache.database is None or not cache.flush_on_start:
        return config
    clear_trader(settings_of(cache.database), str(config.trader_id))
    return msgspec.structs.replace(config, cache=msgspec.structs.replace(cache, flush_on_start=False))


def restore_open_orders(exchange: SimulatedExchange, cache: Cache, account_id: AccountId) -> int:
    """Put the open orders restored into ``cache`` back into a sandbox's matching engines.

    A restarted sandbox's simulated exchange starts empty: the working orders of the previous run
    (stops, limits) are in the cache but would never trigger or fill. Each open order of the
    exchange's venue whose instrument the exchange trades is processed again by its matching
    engine, which keeps it working without a new ``OrderAccepted`` event.

    Returns
    -------
    int
        The orders put back.

    """
    restored = 0
    for order in cache.orders_open(venue=exchange.id):
        engine = exchange.get_matching_engine(order.instrument_id)
        if engine is None:
            continue
        engine.process_order(order, account_id)
        restored += 1
    return restored
