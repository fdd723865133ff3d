"""Redis persistence settings, the cache and message-bus configs, and a trader's keys in Redis."""

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nautilus_trader.accounting.factory import AccountFactory
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.config import TradingNodeConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import Bar, QuoteTick, TradeTick
from nautilus_trader.model.enums import AccountType, OrderSide
from nautilus_trader.model.events import AccountState
from nautilus_trader.model.identifiers import AccountId, TraderId, Venue
from nautilus_trader.model.objects import AccountBalance, Money
from nautilus_trader.portfolio.portfolio import Portfolio
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.test_kit.stubs.events import TestEventStubs
from nautilus_trader.test_kit.stubs.execution import TestExecStubs
from pydantic import ValidationError

from nautilus_ai.errors import ConfigError, RetryableError
from nautilus_ai.live.paper import (
    PaperSandboxExecutionClient,
    PaperSandboxExecutionClientConfig,
    paper_node_config,
)
from nautilus_ai.live.persistence import (
    DEFAULT_STREAM_TYPES_FILTER,
    RedisSettings,
    cache_config,
    clear_trader,
    connect,
    inspect_trader,
    message_bus_config,
    prepare_node_config,
    restored_starting_balances,
    settings_of,
    stream_topics,
    trader_prefix,
)
from nautilus_ai.test_kit import demo_catalog, small_experiment

REDIS = RedisSettings()


def test_settings_defaults_and_validation() -> None:
    assert REDIS.url == "redis://127.0.0.1:6379"
    assert not REDIS.flush_on_start and REDIS.buffer_interval_ms == 100
    with pytest.raises(ValidationError):
        RedisSettings(port=0)
    with pytest.raises(ValidationError):
        RedisSettings(buffer_interval_ms=-1)
    with pytest.raises(ValidationError):
        RedisSettings(hots="x")  # type: ignore[call-arg]


def test_settings_from_url() -> None:
    settings = RedisSettings.from_url("rediss://bob:p%40ss@cache.local:6380/0", flush_on_start=True)
    assert (settings.host, settings.port, settings.username, settings.password) == (
        "cache.local",
        6380,
        "bob",
        "p@ss",
    )
    assert settings.ssl and settings.flush_on_start and settings.url == "rediss://cache.local:6380"
    assert RedisSettings.from_url("redis://localhost").port == 6379
    for bad in ("http://localhost:6379", "redis://", "redis://localhost:6379/3", "redis://localhost:99999"):
        with pytest.raises(ConfigError, match="--redis-url"):
            RedisSettings.from_url(bad)


def test_cache_config_is_a_trader_prefixed_redis_cache() -> None:
    config = cache_config(RedisSettings(port=6380, flush_on_start=True, buffer_interval_ms=25))
    assert config.database is not None
    assert (config.database.type, config.database.host, config.database.port) == ("redis", "127.0.0.1", 6380)
    assert config.encoding == "msgpack" and config.buffer_interval_ms == 25 and config.flush_on_start
    assert config.use_trader_prefix and not config.use_instance_id
    assert cache_config(RedisSettings(buffer_interval_ms=0)).buffer_interval_ms is None  # write-through


def test_message_bus_config_streams_one_stream_without_market_ticks() -> None:
    config = message_bus_config(REDIS)
    assert config is not None and config.database is not None
    assert config.encoding == "json" and config.streams_prefix == "stream"
    assert not config.stream_per_topic and config.use_trader_prefix and not config.use_instance_id
    assert config.types_filter is not None
    assert QuoteTick in config.types_filter and TradeTick in config.types_filter
    assert Bar not in config.types_filter
    assert len(config.types_filter) == len(DEFAULT_STREAM_TYPES_FILTER)
    assert message_bus_config(RedisSettings(streams=False)) is None
    assert message_bus_config(RedisSettings(stream_types_filter=())).types_filter is None  # type: ignore[union-attr]


def test_bad_stream_type_filter_raises_config_error() -> None:
    with pytest.raises(ConfigError, match=r"stream_types_filter.*nautilus_trader\.model\.data:NoSuchTick"):
        message_bus_config(RedisSettings(stream_types_filter=("nautilus_trader.model.data:NoSuchTick",)))
    with pytest.raises(ConfigError, match="stream_types_filter"):
        message_bus_config(RedisSettings(stream_types_filter=("no_such_module:Tick",)))


def test_settings_of_a_database_config() -> None:
    settings = RedisSettings(host="h", port=7000, password="pw")
    assert settings_of(cache_config(settings).database) == RedisSettings(host="h", port=7000, password="pw")  # type: ignore[arg-type]


def test_paper_node_config_with_redis(tmp_path: Path) -> None:
    catalog = demo_catalog(tmp_path, symbols=("AAPL",))
    cfg = small_experiment(catalog, instruments=("AAPL.XNAS",))
    kwargs: dict[str, Any] = {
        "registry_path": "reg",
        "model_version": "m-1",
        "start": "2016-01-01",
        "end": "2016-03-01",
    }
    plain = paper_node_config(cfg, catalog, **kwargs)
    assert plain.cache is None and plain.message_bus is None
    config = paper_node_config(cfg, catalog, trader_id="PAPER-007", redis=RedisSettings(port=6390), **kwargs)
    assert (
        config.cache is not None and config.cache.database is not None and config.cache.database.port == 6390
    )
    assert config.message_bus is not None and config.message_bus.streams_prefix == "stream"


def test_connect_to_a_closed_port_is_retryable() -> None:
    with pytest.raises(RetryableError, match=r"redis://127\.0\.0\.1:1 does not answer"):
        connect(RedisSettings(port=1), timeout_s=0.5)


# -- against the local Redis -------------------------------------------------------------------------


@pytest.fixture
def redis_trader() -> Iterator[str]:
    try:
        connect(REDIS).close()
    except RetryableError as exc:
        pytest.skip(str(exc))
    trader_id = f"UNIT-{os.getpid()}"
    clear_trader(REDIS, trader_id)
    yield trader_id
    clear_trader(REDIS, trader_id)


def test_inspect_and_clear_a_traders_keys(redis_trader: str) -> None:
    prefix = trader_prefix(redis_trader)
    other = f"trader-{redis_trader}X:orders:O-1"  # another trader whose id starts the same
    with connect(REDIS) as client:
        client.rpush(prefix + "orders:O-1", "a")
        client.rpush(prefix + "orders:O-2", "a")
        client.rpush(prefix + "positions:AAPL.XNAS-S-000", "a")
        client.rpush(prefix + "accounts:XNAS-001", "a")
        client.xadd(prefix + "stream", {"topic": "events.order.S", "payload": "{}"})
        client.xadd(prefix + "stream", {"topic": "events.account.XNAS-001", "payload": "{}"})
        client.xadd(prefix + "stream", {"topic": "events.order.S", "payload": "{}"})
        client.rpush(other, "a")
    try:
        state = inspect_trader(REDIS, redis_trader)
        assert state.ids("orders") == ["O-1", "O-2"]
        assert state.ids("accounts") == ["XNAS-001"]
        assert state.counts == {"accounts": 1, "orders": 2, "positions": 1, "stream": 1}
        assert state.stream_entries == 3
        assert stream_topics(REDIS, redis_trader) == {"events.order.S": 2, "events.account.XNAS-001": 1}
        assert clear_trader(REDIS, redis_trader) == 5
        assert inspect_trader(REDIS, redis_trader).empty
        with connect(REDIS) as client:
            assert client.exists(other) == 1  # untouched
    finally:
        with connect(REDIS) as client:
            client.delete(other)


def test_prepare_node_config_clears_the_trader_instead_of_the_database(redis_trader: str) -> None:
    with connect(REDIS) as client:
        client.rpush(trader_prefix(redis_trader) + "orders:O-1", "a")
    config = TradingNodeConfig(trader_id=redis_trader, cache=cache_config(RedisSettings(flush_on_start=True)))
    prepared = prepare_node_config(config)
    assert prepared.cache is not None and not prepared.cache.flush_on_start
    assert inspect_trader(REDIS, redis_trader).empty
    # without flush_on_start (a restart) or without Redis nothing is touched
    with connect(REDIS) as client:
        client.rpush(trader_prefix(redis_trader) + "orders:O-1", "a")
    restart = TradingNodeConfig(trader_id=redis_trader, cache=cache_config(REDIS))
    assert prepare_node_config(restart) is restart
    assert prepare_node_config(TradingNodeConfig(trader_id=redis_trader)).cache is None
    assert inspect_trader(REDIS, redis_trader).ids("orders") == ["O-1"]


# -- the sandbox on a restored cache -------------------------------------------------------------------


def _account_state(total: float) -> AccountState:
    return AccountState(
        account_id=AccountId("XNAS-001"),
        account_type=AccountType.MARGIN,
        base_currency=USD,
        reported=True,
        balances=[AccountBalance(Money(total, USD), Money(0, USD), Money(total, USD))],
        margins=[],
        info={},
        event_id=TestEventStubs.order_submitted(TestExecStubs.limit_order()).id,
        ts_event=0,
        ts_init=0,
    )


def _sandbox(cache: Cache) -> PaperSandboxExecutionClient:
    clock = LiveClock()
    msgbus = MessageBus(TraderId("UNIT-001"), clock)
    portfolio = Portfolio(msgbus, cache, clock)
    config = PaperSandboxExecutionClientConfig(
        venue="XNAS",
        starting_balances=["1000000 USD"],
        base_currency="USD",
        oms_type="NETTING",
        account_type="MARGIN",
    )
    return PaperSandboxExecutionClient(asyncio.new_event_loop(), portfolio, msgbus, cache, clock, config)


def test_sandbox_keeps_a_restored_accounts_balance() -> None:
    cache = Cache()
    assert restored_starting_balances(cache, "XNAS") is None
    client = _sandbox(cache)  # a fresh node: the configured starting balance
    assert str(cache.account_for_venue(Venue("XNAS")).balance_total(USD)) == "1000000.00 USD"
    client._loop.close()

    restored = Cache()
    restored.add_account(AccountFactory.create(_account_state(1_234_567.89)))
    assert restored_starting_balances(restored, "XNAS") == ["1234567.89 USD"]
    client = _sandbox(restored)
    account = restored.account_for_venue(Venue("XNAS"))
    assert str(account.balance_total(USD)) == "1234567.89 USD"
    assert len(account.events) == 2  # the restored state and the sandbox's (same totals)
    client._loop.close()


def test_sandbox_puts_restored_open_orders_back_into_its_matching_engine() -> None:
    aapl = TestInstrumentProvider.equity("AAPL", "XNAS")
    cache = Cache()
    cache.add_instrument(aapl)
    order = TestExecStubs.limit_order(instrument=aapl, order_side=OrderSide.BUY, price=aapl.make_price(100.0))
    cache.add_order(order)
    order.apply(TestEventStubs.order_submitted(order, account_id=AccountId("XNAS-001")))
    order.apply(TestEventStubs.order_accepted(order, account_id=AccountId("XNAS-001")))
    cache.update_order(order)
    client = _sandbox(cache)
    client.connect()
    engine = client.exchange.get_matching_engine(aapl.id)
    assert [o.client_order_id for o in engine.get_open_orders()] == [order.client_order_id]
    assert order.is_open and len(order.events) == 3  # no second OrderAccepted
    client.disconnect()
    client._loop.close()
