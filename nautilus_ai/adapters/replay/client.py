"""A NautilusTrader live data client that replays a ParquetDataCatalog, so a TradingNode runs offline.

The :class:`ReplayDataClient` is an ordinary ``LiveMarketDataClient``: on connect it publishes the
configured instruments (from the catalog), and once the node's components have subscribed it streams
the catalog's bars (and the trade ticks, quote ticks and order-book deltas the config names) for the
configured instruments and time window, merged in timestamp order. Market events go before the bars
stamped at the same time, as in :func:`nautilus_ai.backtest.node_config.run_config`, so an event at a
bar's close counts for that bar.

Pacing: ``speed`` times real time (the wall-clock gap between two items is their ``ts_event`` gap
divided by ``speed``), or as fast as possible with ``speed=0``. Either way the client waits, after
each timestamp, until the node's data, risk and execution queues are drained (when it is given the
node's engines, see :meth:`ReplayDataClient.attach_engines`), so the orders a bar triggers are
filled on that bar, as in a backtest with bar execution, and never on a later one.

Timestamps: with ``ts_init="clock"`` (the default, the live semantics) every item is re-stamped with
the node clock's ``now`` as ``ts_init`` while keeping its own ``ts_event``; with ``ts_init="catalog"``
items keep the catalog's ``ts_init`` (a historical replay, bit-for-bit the backtest's timestamps).

Completion: when the last item has been handled the client publishes a :class:`ReplayStatus` on the
message bus topic :data:`REPLAY_STATUS_TOPIC` and sets :attr:`ReplayDataClient.finished`, so a runner
can stop the node (see :mod:`nautilus_ai.live.runner`).
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.common.providers import InstrumentProvider
from nautilus_trader.config import LiveDataClientConfig, RoutingConfig
from nautilus_trader.live.data_client import LiveMarketDataClient
from nautilus_trader.live.factories import LiveDataClientFactory
from nautilus_trader.model.data import Bar, BarType, OrderBookDelta, QuoteTick, TradeTick
from nautilus_trader.model.identifiers import ClientId, InstrumentId, Venue
from nautilus_trader.model.instruments import Instrument

from nautilus_ai.errors import ConfigError, DataError

REPLAY_CLIENT_ID = "REPLAY"
"""The default client id (and factory name) of the replay client."""

REPLAY_STATUS_TOPIC = "nautilus_ai.replay.status"
"""Message bus topic of the :class:`ReplayStatus` messages (``started`` and ``finished``)."""

REPLAY_MARKET_TOPIC = "nautilus_ai.replay.market"
"""Message bus topic on which each replayed bar reaches the simulated venues first.

A paper sandbox matches its resting orders against the bar there, the fills are processed (the
queues drained) and only then does the bar go to the data engine, so a strategy reacting to the bar
sees the portfolio after those fills, as in a backtest.
"""

MARKET_EVENT_KINDS = ("trades", "quotes", "book")
"""The market-event kinds the client can replay besides bars, in their delivery order at a tie."""

_EVENT_CLASSES: dict[str, type] = {"trades": TradeTick, "quotes": QuoteTick, "book": OrderBookDelta}


class ReplayDataClientConfig(LiveDataClientConfig, frozen=True, kw_only=True):
    """Configuration of a :class:`ReplayDataClient`.

    Parameters
    ----------
    catalog_path : str
        The ParquetDataCatalog to replay.
    instrument_ids : list[str]
        The instruments published on connect and whose market events are replayed.
    bar_types : list[str]
        The bar types replayed (``AAPL.XNAS-1-DAY-LAST-EXTERNAL``).
    market_events : list[str], default []
        Market events replayed too: any of ``"trades"``, ``"quotes"``, ``"book"``.
    start, end : str, optional
        The replay window (ISO timestamps, inclusive); default the catalog's whole range.
    speed : float, default 0.0
        Multiple of real time (1.0 real time, 60.0 a minute a second); 0 replays as fast as the
        node consumes.
    ts_init : {"clock", "catalog"}, default "clock"
        ``"clock"`` stamps each item's ``ts_init`` with the node clock's now (``ts_event`` kept);
        ``"catalog"`` keeps the catalog's ``ts_init``.
    client_name : str, default "REPLAY"
        The client id.
    routing : RoutingConfig
        Default routing: the client serves every subscription no other client serves.

    """

    catalog_path: str
    instrument_ids: list[str]
    bar_types: list[str]
    market_events: list[str] = []
    start: str | None = None
    end: str | None = None
    speed: float = 0.0
    ts_init: Literal["clock", "catalog"] = "clock"
    client_name: str = REPLAY_CLIENT_ID
    routing: RoutingConfig = RoutingConfig(default=True)


@dataclass(frozen=True)
class ReplayStatus:
    """A replay progress message published on :data:`REPLAY_STATUS_TOPIC`.

    Attributes
    ----------
    client_id : str
        The replay client's id.
    state : str
        ``"started"`` or ``"finished"`` (``"failed"`` when the replay raised).
    items : int
        Items (bars, ticks, deltas) published so far.
    total : int
        Items in the replay.
    error : str, optional
        The failure, for ``"failed"``.

    """

    client_id: str
    state: str
    items: int
    total: int
    error: str | None = None


def validate_config(config: ReplayDataClientConfig) -> None:
    """Raise :class:`ConfigError` when ``config`` cannot be replayed (bad ids, kinds or speed)."""
    if config.speed < 0:
        raise ConfigError(f"replay speed must be >= 0 (0 = as fast as possible), got {config.speed}")
    unknown = sorted(set(config.market_events) - set(MARKET_EVENT_KINDS))
    if unknown:
        raise ConfigError(
            f"replay market_events {unknown} unknown: expected some of {list(MARKET_EVENT_KINDS)}"
        )
    if not config.bar_types and not config.market_events:
        raise ConfigError("replay config has no bar_types and no market_events: nothing to replay")
    for iid in config.instrument_ids:
        try:
            InstrumentId.from_str(iid)
        except ValueError:
            raise ConfigError(f"replay instrument_ids: {iid!r} is not SYMBOL.VENUE") from None
    for bt in config.bar_types:
        try:
            BarType.from_str(bt)
        except ValueError:
            raise ConfigError(f"replay bar_types: {bt!r} is not a bar type") from None


def load_instruments(catalog_path: str, instrument_ids: Sequence[str]) -> list[Instrument]:
    """Return the catalog's instrument definitions of ``instrument_ids``, in that order.

    Raises
    ------
    DataError
        If the catalog holds no definition of one of them.

    """
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    found = {
        str(i.id): i
        for i in ParquetDataCatalog(catalog_path).instruments(instrument_ids=list(instrument_ids))
    }
    missing = [iid for iid in instrument_ids if iid not in found]
    if missing:
        raise DataError(
            f"no instrument definition for {missing} in the catalog: ingest them first "
            "(nautilus-ai catalog ingest)",
            file=catalog_path,
        )
    return [found[iid] for iid in instrument_ids]


def load_replay_items(config: ReplayDataClientConfig) -> list[Any]:
    """Return the catalog items the client replays, in delivery order.

    Sorted by ``ts_init``; at equal ``ts_init`` trades, quotes and book deltas come before the bars,
    and items of one kind keep the catalog's (instrument, then config) order, as the backtest feeds.

    Raises
    ------
    DataError
        If a configured bar type or market event has no data in the window.

    """
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    validate_config(config)
    catalog = ParquetDataCatalog(config.catalog_path)
    keyed: list[tuple[int, int, int, Any]] = []
    seq = 0
    for rank, kind in enumerate(MARKET_EVENT_KINDS):
        if kind not in config.market_events:
            continue
        for iid in config.instrument_ids:
            data = catalog.query(_EVENT_CLASSES[kind], identifiers=[iid], start=config.start, end=config.end)
            if not data:
                raise DataError(
                    f"no {_EVENT_CLASSES[kind].__name__} of {iid} between {config.start or 'the start'} "
                    f"and {config.end or 'the end'} in the catalog",
                    file=config.catalog_path,
                )
            for item in data:
                keyed.append((item.ts_init, rank, seq, item))
                seq += 1
    bar_rank = len(MARKET_EVENT_KINDS)
    for bt in config.bar_types:
        bars = catalog.bars(bar_types=[str(BarType.from_str(bt))], start=config.start, end=config.end)
        if not bars:
            raise DataError(
                f"no {bt} bars between {config.start or 'the start'} and {config.end or 'the end'} "
                "in the catalog: ingest them first (nautilus-ai catalog ingest)",
                file=config.catalog_path,
            )
        for bar in bars:
            keyed.append((bar.ts_init, bar_rank, seq, bar))
            seq += 1
    keyed.sort(key=lambda k: (k[0], k[1], k[2]))
    return [k[3] for k in keyed]


def restamp(item: Any, ts_init: int) -> Any:
    """Return a copy of a bar, tick or book delta with ``ts_init`` replaced (``ts_event`` kept)."""
    if isinstance(item, Bar):
        return Bar(
            item.bar_type, item.open, item.high, item.low, item.close, item.volume, item.ts_event, ts_init
        )
    if isinstance(item, QuoteTick):
        return QuoteTick(
            item.instrument_id,
            item.bid_price,
            item.ask_price,
            item.bid_size,
            item.ask_size,
            item.ts_event,
            ts_init,
        )
    if isinstance(item, TradeTick):
        return TradeTick(
            item.instrument_id,
            item.price,
            item.size,
            item.aggressor_side,
            item.trade_id,
            item.ts_event,
            ts_init,
        )
    if isinstance(item, OrderBookDelta):
        return OrderBookDelta(
            item.instrument_id, item.action, item.order, item.flags, item.sequence, item.ts_event, ts_init
        )
    raise TypeError(f"cannot restamp {type(item).__name__}")


def _queues_empty(sizes: Sequence[Callable[[], int]]) -> bool:
    return all(size() == 0 for size in sizes)


_IDLE_PASSES = 8
"""Consecutive event-loop iterations with every attached queue empty that count as drained."""

# keyed by object id: clients of different nodes with the same client id compare equal
_CLIENTS: weakref.WeakValueDictionary[int, ReplayDataClient] = weakref.WeakValueDictionary()


def find_replay_client(msgbus: MessageBus, client_id: str = REPLAY_CLIENT_ID) -> ReplayDataClient | None:
    """Return the replay client ``client_id`` built on ``msgbus`` (a node's ``kernel.msgbus``), if any."""
    for client in list(_CLIENTS.values()):
        if client._replay_msgbus is msgbus and client.id.value == client_id:
            return client
    return None


class ReplayDataClient(LiveMarketDataClient):
    """A live market data client streaming a catalog's data (see the module docstring).

    Parameters
    ----------
    loop : asyncio.AbstractEventLoop
        The node's event loop.
    msgbus, cache, clock
        The node's message bus, cache and live clock.
    config : ReplayDataClientConfig
        What to replay and how fast.

    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
        config: ReplayDataClientConfig,
    ) -> None:
        validate_config(config)
        venues = {InstrumentId.from_str(i).venue.value for i in config.instrument_ids}
        super().__init__(
            loop=loop,
            client_id=ClientId(config.client_name),
            # a single venue routes by venue too; several rely on the default routing
            venue=Venue(venues.pop()) if len(venues) == 1 else None,
            msgbus=msgbus,
            cache=cache,
            clock=clock,
            instrument_provider=InstrumentProvider(),
            config=config,
        )
        self._replay_config = config
        self._task: asyncio.Task | None = None
        self._idle_checks: list[Callable[[], bool]] = []
        self._replay_msgbus = msgbus
        self.items_published = 0
        self.total_items = 0
        self.finished = asyncio.Event()
        self.error: BaseException | None = None
        _CLIENTS[id(self)] = self

    def attach_engines(self, *engines: Any) -> None:
        """Wait for these live engines' queues to drain after each timestamp (data, risk, execution).

        Each engine's ``*_qsize()`` methods are polled; with the node's data, risk and execution
        engines attached, everything a bar triggers (signals, orders, sandbox fills, position events)
        is processed before the next timestamp is published.
        """
        for engine in engines:
            sizes = [
                getattr(engine, name)
                for name in ("data_qsize", "cmd_qsize", "evt_qsize", "req_qsize", "res_qsize")
                if hasattr(engine, name)
            ]
            if not sizes:
                raise TypeError(f"{type(engine).__name__} has no queue sizes to wait on")
            self._idle_checks.append(functools.partial(_queues_empty, sizes))

    async def _connect(self) -> None:
        for instrument in load_instruments(
            self._replay_config.catalog_path, self._replay_config.instrument_ids
        ):
            self._handle_data(instrument)

    async def _disconnect(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def _start_replay(self) -> None:
        if self._task is None:
            self._task = self._loop.create_task(self._replay(), name=f"{self.id}-replay")

    # Bars and market events start the replay; the node's components subscribe synchronously in
    # ``trader.start()``, so every subscription is queued by the time the first one gets here.
    async def _subscribe_bars(self, command: Any) -> None:
        self._start_replay()

    async def _subscribe_trade_ticks(self, command: Any) -> None:
        self._start_replay()

    async def _subscribe_quote_ticks(self, command: Any) -> None:
        self._start_replay()

    async def _subscribe_order_book_deltas(self, command: Any) -> None:
        self._start_replay()

    async def _subscribe_instrument(self, command: Any) -> None:
        pass

    async def _subscribe_instruments(self, command: Any) -> None:
        pass

    async def _subscribe(self, command: Any) -> None:
        # Custom data (FeatureVectors, ModelSignals, ...) is published by the node's own actors.
        pass

    async def _unsubscribe(self, command: Any) -> None:
        pass

    async def _unsubscribe_bars(self, command: Any) -> None:
        pass

    async def _unsubscribe_trade_ticks(self, command: Any) -> None:
        pass

    async def _unsubscribe_quote_ticks(self, command: Any) -> None:
        pass

    async def _unsubscribe_order_book_deltas(self, command: Any) -> None:
        pass

    async def _unsubscribe_instrument(self, command: Any) -> None:
        pass

    async def _unsubscribe_instruments(self, command: Any) -> None:
        pass

    def _idle(self) -> bool:
        return all(check() for check in self._idle_checks)

    async def _drain(self) -> None:
        # The live engines enqueue with ``loop.call_soon_threadsafe``: a message in flight between
        # two queues shows in no queue for a loop iteration or two, so idle must hold for several
        # consecutive iterations.
        quiet = 0
        while quiet < _IDLE_PASSES:
            await asyncio.sleep(0)
            quiet = quiet + 1 if self._idle() else 0

    def _publish_status(self, state: str, error: str | None = None) -> None:
        self._replay_msgbus.publish(
            REPLAY_STATUS_TOPIC,
            ReplayStatus(self.id.value, state, self.items_published, self.total_items, error),
        )

    async def _replay(self) -> None:
        cfg = self._replay_config
        try:
            await self._drain()  # let the queued subscriptions of the other components through
            items = await asyncio.to_thread(load_replay_items, cfg)
            self.total_items = len(items)
            self._publish_status("started")
            previous_ts: int | None = None
            for item in items:
                ts = item.ts_init
                if previous_ts is not None and ts != previous_ts:
                    await self._drain()
                    if cfg.speed > 0:
                        await asyncio.sleep((ts - previous_ts) / 1e9 / cfg.speed)
                previous_ts = ts
                item = restamp(item, self._clock.timestamp_ns()) if cfg.ts_init == "clock" else item
                if isinstance(item, Bar):
                    self._replay_msgbus.publish(REPLAY_MARKET_TOPIC, item)
                    await self._drain()
                self._handle_data(item)
                self.items_published += 1
            await self._drain()
            self._publish_status("finished")
        except asyncio.CancelledError:
            raise
        except Exception as e:  # reported to the runner, which stops the node
            self.error = e
            self._log.error(f"replay failed: {e!r}")
            self._publish_status("failed", repr(e))
        finally:
            self.finished.set()


class ReplayDataClientFactory(LiveDataClientFactory):
    """Builds :class:`ReplayDataClient` s for a TradingNode (``node.add_data_client_factory``)."""

    @staticmethod
    def create(  # type: ignore[override]
        loop: asyncio.AbstractEventLoop,
        name: str,
        config: ReplayDataClientConfig,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
    ) -> ReplayDataClient:
        """Return a new replay client for the node."""
        return ReplayDataClient(loop, msgbus, cache, clock, config)
