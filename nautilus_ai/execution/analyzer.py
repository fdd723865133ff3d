"""The MicrostructureAnalyzer: an actor that publishes the :class:`LiquidityState` of each instrument.

For every configured instrument it keeps

* the top of book and the first ``book_levels`` levels, from quote ticks (one level), from the
  order book that NautilusTrader's data engine maintains in the cache from book deltas
  (``book_source="deltas"``), or from ``OrderBookDepth10`` snapshots (``"depth10"``); spread and
  microprice drift come from the project's :class:`~nautilus_ai.indicators.microprice.Microprice`,
  the imbalance from :class:`~nautilus_ai.indicators.book_imbalance.BookImbalance`;
* VPIN over trade ticks (:class:`~nautilus_ai.indicators.vpin.VPIN`, when the instrument has a bucket
  volume: ``vpin_bucket_volumes[instrument_id]``, else ``vpin_bucket_volume``) and the trade
  intensity: trades with ``ts_init`` in ``(t - W, t]`` divided by ``W`` seconds (:func:`trade_intensity`);
* over the bars of ``bar_spec`` (for example ``1-MINUTE-LAST-INTERNAL``, aggregated by the engine from
  the trades): the typical bar volume (median volume of the last ``volume_window`` bars,
  :func:`typical_volume`) and the per-bar volatility of the mid (sample standard deviation of the last
  ``volatility_window`` log returns of the mid sampled at each bar,
  :class:`~nautilus_ai.indicators.realized_volatility.RealizedVolatility`), in basis points.

A state is taken every ``publish_every`` book updates (quotes, delta batches or depth snapshots) of
the instrument and, with ``publish_interval_secs``, on a timer for every instrument. It is stamped
``ts_event = ts_init =`` the clock time, and uses only events the actor has received by then (no
look-ahead). It is published with ``publish_data(liquidity_data_type(instrument_id), ...)`` as a
:class:`~nautilus_ai.execution.liquidity_data.LiquidityData` (topic
``data.LiquidityData.instrument_id=<ID>``) and kept for synchronous reads through
:meth:`MicrostructureAnalyzer.latest`; a strategy that holds no reference to the actor keeps a
:class:`~nautilus_ai.execution.liquidity_data.LiquidityView` instead.

Warm-up: nothing is published for an instrument until its top of book is valid (both sides, not
crossed), the book imbalance has ``book_levels`` levels per side, and every enabled estimate is
initialized (VPIN's buckets, a full intensity window since the first trade, full volatility and
volume windows). Disabled estimates are published as 0 (``vpin`` without a bucket volume;
``trade_intensity`` with ``trades=False``; ``volatility_bps`` and ``typical_bar_volume`` without a
``bar_spec``: 0 means unknown to the selector).
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from nautilus_trader.common.actor import Actor
from nautilus_trader.common.events import TimeEvent
from nautilus_trader.config import ActorConfig, ImportableActorConfig
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import Bar, BarType, OrderBookDeltas, OrderBookDepth10, QuoteTick, TradeTick
from nautilus_trader.model.enums import BookType, OrderSide, book_type_from_str
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import Price

from nautilus_ai.errors import ConfigError
from nautilus_ai.execution.liquidity import LiquidityState
from nautilus_ai.execution.liquidity_data import LiquidityData, liquidity_data_type
from nautilus_ai.indicators.book_imbalance import DEPTH10_LEVELS, BookImbalance
from nautilus_ai.indicators.microprice import Microprice
from nautilus_ai.indicators.microstructure_kernels import BASIS_POINTS
from nautilus_ai.indicators.realized_volatility import RealizedVolatility
from nautilus_ai.indicators.vpin import VPIN

BOOK_SOURCES = ("quotes", "deltas", "depth10")
"""Where the analyzer reads the book from."""

BOOK_TYPES = ("L1_MBP", "L2_MBP", "L3_MBO")
"""The accepted ``book_type`` names."""

NANOS_PER_SECOND = 1_000_000_000
TIMER_NAME = "MicrostructureAnalyzer.publish"


# --------------------------------------------------------------------------------------------------
# Pure kernels
# --------------------------------------------------------------------------------------------------


def trade_intensity(trade_times_ns: Sequence[int], now_ns: int, window_ns: int) -> float:
    """Return the trades per second in ``(now - window, now]``.

    Parameters
    ----------
    trade_times_ns : sequence of int
        Trade times in UNIX nanoseconds, ascending (later ones are ignored).
    now_ns : int
        The time of the estimate.
    window_ns : int
        The window length in nanoseconds (> 0).

    Returns
    -------
    float
        The count of trades in the window divided by its length in seconds.

    """
    times = np.asarray(trade_times_ns, dtype=np.int64)
    count = np.searchsorted(times, now_ns, side="right") - np.searchsorted(
        times, now_ns - window_ns, side="right"
    )
    return float(count) * NANOS_PER_SECOND / window_ns


def top_levels(
    book: OrderBook, side: OrderSide, levels: int, tick: float, size_precision: int
) -> list[tuple[float, float]]:
    """Return ``(price, size)`` of the first ``levels`` levels of one side of ``book``, best first.

    ``book.bids()`` / ``book.asks()`` copy every level (milliseconds on a deep L3 book), so the levels
    are read with ``get_all_crossed_levels`` over a price window from the best price that starts at
    ``4 * levels`` ticks and doubles until it holds ``levels`` levels; after ten doublings (a side with
    fewer levels, or an unknown ``tick``) the full side is copied.

    Parameters
    ----------
    book : OrderBook
        The book.
    side : OrderSide
        ``BUY`` for the bids, ``SELL`` for the asks.
    levels : int
        The number of levels wanted.
    tick : float
        The instrument's price increment (NaN when unknown).
    size_precision : int
        The instrument's size precision.

    Returns
    -------
    list of tuple
        Up to ``levels`` ``(price, size)`` pairs.

    """
    best = book.best_bid_price() if side == OrderSide.BUY else book.best_ask_price()
    if best is None:
        return []
    if math.isfinite(tick) and tick > 0.0:
        best_price, precision = best.as_double(), best.precision
        window = 4 * levels * tick
        for _ in range(10):
            # an opposite-side order at the window's edge crosses exactly the levels inside it
            edge = best_price - window if side == OrderSide.BUY else best_price + window
            if edge > 0.0:
                crossing = OrderSide.SELL if side == OrderSide.BUY else OrderSide.BUY
                found = book.get_all_crossed_levels(crossing, Price(edge, precision), size_precision)
                if len(found) >= levels:
                    return [(price.as_double(), size.as_double()) for price, size in found[:levels]]
            window *= 2.0
    full = book.bids() if side == OrderSide.BUY else book.asks()
    return [(level.price.as_double(), level.size()) for level in full[:levels]]


def typical_volume(volumes: Sequence[float]) -> float:
    """Return the typical bar volume of a window of bar volumes: their median (0.0 when empty)."""
    return float(statistics.median(volumes)) if len(volumes) else 0.0


# --------------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------------


class MicrostructureAnalyzerConfig(ActorConfig, frozen=True):
    """Configuration of a :class:`MicrostructureAnalyzer`.

    Parameters
    ----------
    instrument_ids : tuple of InstrumentId
        The instruments to analyze (at least one).
    book_source : {"quotes", "deltas", "depth10"}, default "quotes"
        Quote ticks (one level per side), order book deltas (the data engine's managed book in the
        cache) or ``OrderBookDepth10`` snapshots.
    book_levels : int, default 5
        Levels per side in ``bid_depth``/``ask_depth`` and the imbalance (1 for quotes; at most 10
        for depth10).
    book_type : str, default "L2_MBP"
        The ``BookType`` name of the subscribed book (``L1_MBP``, ``L2_MBP``, ``L3_MBO``).
    trades : bool, default True
        Subscribe to trade ticks (VPIN, trade intensity and trade-aggregated bars need them).
    vpin_bucket_volume : float, optional
        VPIN bucket volume in instrument units (> 0) of every instrument without an entry in
        ``vpin_bucket_volumes``; VPIN is off (published as 0) for an instrument with neither.
    vpin_bucket_volumes : dict[str, float], optional
        Per-instrument bucket volumes, keyed by instrument id string (each > 0).
    vpin_buckets : int, default 50
        Buckets averaged by VPIN.
    vpin_sigma_window : int, default 50
        Price changes whose standard deviation scales VPIN's classification.
    intensity_window_secs : float, default 60.0
        Trade-intensity window in seconds (> 0).
    bar_spec : str, optional
        The bars for the typical volume and the volatility, as ``step-aggregation-price-source``
        (``"1-MINUTE-LAST-INTERNAL"``: the bar type is ``<instrument_id>-<bar_spec>``); none when not set.
    volatility_window : int, default 20
        Mid log returns (one per bar) in the volatility window (>= 2).
    volume_window : int, default 20
        Bars in the typical-volume window (>= 1).
    publish_every : int, default 1
        Publish after every this many book updates of an instrument (0: only on the timer).
    publish_interval_secs : float, optional
        Also publish every instrument on a timer with this interval (> 0).

    """

    instrument_ids: tuple[InstrumentId, ...]
    book_source: str = "quotes"
    book_levels: int = 5
    book_type: str = "L2_MBP"
    trades: bool = True
    vpin_bucket_volume: float | None = None
    vpin_bucket_volumes: dict[str, float] | None = None
    vpin_buckets: int = 50
    vpin_sigma_window: int = 50
    intensity_window_secs: float = 60.0
    bar_spec: str | None = None
    volatility_window: int = 20
    volume_window: int = 20
    publish_every: int = 1
    publish_interval_secs: float | None = None


def analyzer_actor_config(config: MicrostructureAnalyzerConfig) -> ImportableActorConfig:
    """Return ``config`` as an ``ImportableActorConfig`` for a ``BacktestNode`` or ``TradingNode``.

    Raises
    ------
    ConfigError
        If a field is out of range (checked now rather than when the node builds the actor).

    """
    _validate(config)
    return ImportableActorConfig(
        actor_path=f"{__name__}:MicrostructureAnalyzer",
        config_path=f"{__name__}:MicrostructureAnalyzerConfig",
        config=config.json_primitives(),
    )


def _validate(config: MicrostructureAnalyzerConfig) -> None:
    def fail(name: str, expected: str) -> None:
        raise ConfigError(
            f"MicrostructureAnalyzerConfig.{name} must be {expected}, was {getattr(config, name)!r}"
        )

    if not config.instrument_ids:
        fail("instrument_ids", "at least one instrument id")
    if config.book_source not in BOOK_SOURCES:
        fail("book_source", f"one of {BOOK_SOURCES}")
    if config.book_levels < 1:
        fail("book_levels", ">= 1")
    if config.book_source == "depth10" and config.book_levels > DEPTH10_LEVELS:
        fail("book_levels", f"<= {DEPTH10_LEVELS} with book_source='depth10'")
    if config.book_type not in BOOK_TYPES:  # book_type_from_str aborts the process on a bad name
        fail("book_type", f"a BookType name, one of {BOOK_TYPES}")
    if config.vpin_bucket_volume is not None:
        if not (math.isfinite(config.vpin_bucket_volume) and config.vpin_bucket_volume > 0.0):
            fail("vpin_bucket_volume", "a finite volume > 0 or None")
        if not config.trades:
            fail("vpin_bucket_volume", "None when trades=False (VPIN needs trade ticks)")
    if config.vpin_bucket_volumes:
        known = {str(iid) for iid in config.instrument_ids}
        if not set(config.vpin_bucket_volumes) <= known:
            fail("vpin_bucket_volumes", f"keyed by configured instrument ids {sorted(known)}")
        if not all(math.isfinite(v) and v > 0.0 for v in config.vpin_bucket_volumes.values()):
            fail("vpin_bucket_volumes", "finite volumes > 0")
        if not config.trades:
            fail("vpin_bucket_volumes", "None when trades=False (VPIN needs trade ticks)")
    if config.vpin_buckets < 1:
        fail("vpin_buckets", ">= 1")
    if config.vpin_sigma_window < 2:
        fail("vpin_sigma_window", ">= 2")
    if not (math.isfinite(config.intensity_window_secs) and config.intensity_window_secs > 0.0):
        fail("intensity_window_secs", "> 0 seconds")
    if config.volatility_window < 2:
        fail("volatility_window", ">= 2 returns")
    if config.volume_window < 1:
        fail("volume_window", ">= 1 bar")
    if config.publish_every < 0:
        fail("publish_every", ">= 0 (0: timer only)")
    if config.publish_interval_secs is not None and not config.publish_interval_secs > 0.0:
        fail("publish_interval_secs", "> 0 seconds or None")
    if config.publish_every == 0 and config.publish_interval_secs is None:
        fail("publish_every", ">= 1 when publish_interval_secs is None (else nothing is ever published)")
    if config.bar_spec is not None:
        try:
            BarType.from_str(f"{config.instrument_ids[0]}-{config.bar_spec}")
        except ValueError as exc:
            raise ConfigError(
                f"MicrostructureAnalyzerConfig.bar_spec must be 'step-aggregation-price-source' such as "
                f"'1-MINUTE-LAST-INTERNAL', was {config.bar_spec!r}: {exc}"
            ) from exc


# --------------------------------------------------------------------------------------------------
# Actor
# --------------------------------------------------------------------------------------------------


@dataclass
class _InstrumentState:
    """What the analyzer keeps for one instrument."""

    microprice: Microprice
    imbalance: BookImbalance
    vpin: VPIN | None
    volatility: RealizedVolatility | None
    volumes: deque[float]
    trade_times: deque[int] = field(default_factory=deque)
    first_trade_ns: int | None = None
    bid_depth: tuple[float, ...] = ()
    ask_depth: tuple[float, ...] = ()
    top_valid: bool = False
    book_dirty: bool = False
    updates: int = 0


class MicrostructureAnalyzer(Actor):
    """Publish the liquidity state of each configured instrument from its book, trades and bars.

    Parameters
    ----------
    config : MicrostructureAnalyzerConfig
        The configuration.

    Raises
    ------
    ConfigError
        If a config field is out of range (the message names it).

    """

    def __init__(self, config: MicrostructureAnalyzerConfig) -> None:
        _validate(config)
        super().__init__(config)
        self._levels = 1 if config.book_source == "quotes" else config.book_levels
        self._book_type: BookType = book_type_from_str(config.book_type)
        self._window_ns = round(config.intensity_window_secs * NANOS_PER_SECOND)
        self._bar_types = (
            {iid: BarType.from_str(f"{iid}-{config.bar_spec}") for iid in config.instrument_ids}
            if config.bar_spec is not None
            else {}
        )
        self._data_types = {iid: liquidity_data_type(iid) for iid in config.instrument_ids}
        self._states: dict[InstrumentId, _InstrumentState] = {}
        self._latest: dict[InstrumentId, LiquidityState] = {}
        self.states_published = 0
        self.warmup_skipped = 0
        self._reset_states()

    # -- public API --------------------------------------------------------------------------------

    def latest(self, instrument_id: InstrumentId | str) -> LiquidityState | None:
        """Return the last published state of ``instrument_id`` (None before the first one)."""
        if isinstance(instrument_id, str):
            instrument_id = InstrumentId.from_str(instrument_id)
        return self._latest.get(instrument_id)

    def snapshot(self, instrument_id: InstrumentId) -> LiquidityState | None:
        """Return the state of ``instrument_id`` as of now without publishing it (None while warming up)."""
        return self._build(instrument_id, self.clock.timestamp_ns())

    # -- lifecycle ---------------------------------------------------------------------------------

    def on_start(self) -> None:
        """Register the indicators, subscribe to the configured data and start the timer."""
        config = self.config
        for iid in config.instrument_ids:
            state = self._states[iid]
            if config.book_source == "quotes":
                self.register_indicator_for_quote_ticks(iid, state.microprice)
                self.subscribe_quote_ticks(iid)
            elif config.book_source == "deltas":
                self.subscribe_order_book_deltas(iid, self._book_type, managed=True)
            else:
                self.subscribe_order_book_depth(iid, self._book_type, depth=DEPTH10_LEVELS)
            if config.trades:
                if state.vpin is not None:
                    self.register_indicator_for_trade_ticks(iid, state.vpin)
                self.subscribe_trade_ticks(iid)
            if iid in self._bar_types:
                self.subscribe_bars(self._bar_types[iid])
        if config.publish_interval_secs is not None:
            self.clock.set_timer(
                TIMER_NAME, interval=timedelta(seconds=config.publish_interval_secs), callback=self._on_timer
            )

    def on_stop(self) -> None:
        """Cancel the publication timer."""
        if TIMER_NAME in self.clock.timer_names:
            self.clock.cancel_timer(TIMER_NAME)

    def on_reset(self) -> None:
        """Forget every indicator, window and published state."""
        self._reset_states()

    def _reset_states(self) -> None:
        config = self.config
        self._states = {
            iid: _InstrumentState(
                microprice=Microprice(),
                imbalance=BookImbalance(self._levels),
                vpin=self._make_vpin(iid),
                volatility=RealizedVolatility(config.volatility_window) if config.bar_spec else None,
                volumes=deque(maxlen=config.volume_window),
            )
            for iid in config.instrument_ids
        }
        self._latest = {}
        self.states_published = 0
        self.warmup_skipped = 0

    def _make_vpin(self, instrument_id: InstrumentId) -> VPIN | None:
        config = self.config
        bucket = (config.vpin_bucket_volumes or {}).get(str(instrument_id), config.vpin_bucket_volume)
        if bucket is None:
            return None
        return VPIN(bucket, config.vpin_buckets, config.vpin_sigma_window, "trades")

    # -- data handlers -----------------------------------------------------------------------------

    def on_quote_tick(self, tick: QuoteTick) -> None:
        """Take the top of book from a quote (the Microprice indicator is already updated)."""
        state = self._states.get(tick.instrument_id)
        if state is None:
            return
        bid, ask = tick.bid_price.as_double(), tick.ask_price.as_double()
        bid_size, ask_size = tick.bid_size.as_double(), tick.ask_size.as_double()
        state.top_valid = 0.0 < bid <= ask
        state.bid_depth, state.ask_depth = (bid_size,), (ask_size,)
        state.imbalance.update_raw(state.bid_depth, state.ask_depth)
        self._on_book_update(tick.instrument_id, state)

    def on_order_book_deltas(self, deltas: OrderBookDeltas) -> None:
        """Read the cache's order book (already updated by the data engine) after a batch of deltas."""
        state = self._states.get(deltas.instrument_id)
        if state is None:
            return
        state.book_dirty = True  # the data engine has applied the deltas to the cache's book
        self._on_book_update(deltas.instrument_id, state)

    def on_order_book_depth(self, depth: OrderBookDepth10) -> None:
        """Take the first levels of a depth-10 snapshot."""
        state = self._states.get(depth.instrument_id)
        if state is None:
            return
        bids = [level for level in depth.bids if level.size.as_double() > 0.0]
        asks = [level for level in depth.asks if level.size.as_double() > 0.0]
        state.top_valid = bool(bids and asks) and bids[0].price.as_double() <= asks[0].price.as_double()
        if state.top_valid:
            state.microprice.handle_depth10(depth)
        state.bid_depth = tuple(level.size.as_double() for level in bids[: self._levels])
        state.ask_depth = tuple(level.size.as_double() for level in asks[: self._levels])
        state.imbalance.update_raw(state.bid_depth, state.ask_depth)
        self._on_book_update(depth.instrument_id, state)

    def on_trade_tick(self, tick: TradeTick) -> None:
        """Record the trade time (VPIN, when enabled, is already updated)."""
        state = self._states.get(tick.instrument_id)
        if state is None:
            return
        if state.first_trade_ns is None:
            state.first_trade_ns = tick.ts_init
        state.trade_times.append(tick.ts_init)

    def on_bar(self, bar: Bar) -> None:
        """Add the bar's volume to the volume window and the mid at the bar to the volatility."""
        state = self._states.get(bar.bar_type.instrument_id)
        if state is None or state.volatility is None:
            return
        state.volumes.append(bar.volume.as_double())
        if state.microprice.initialized:
            state.volatility.update_raw(state.microprice.mid)

    def _on_timer(self, event: TimeEvent) -> None:
        for iid in self.config.instrument_ids:
            self._publish(iid, event.ts_event)

    # -- internals ---------------------------------------------------------------------------------

    def _refresh_book(self, instrument_id: InstrumentId, state: _InstrumentState) -> None:
        """Read the first levels of the cache's book into ``state`` (only when a state is taken)."""
        state.book_dirty = False
        book = self.cache.order_book(instrument_id)
        if book is None:
            state.top_valid = False
            return
        instrument = self.cache.instrument(instrument_id)
        tick = instrument.price_increment.as_double() if instrument is not None else math.nan
        precision = instrument.size_precision if instrument is not None else 9
        bids = top_levels(book, OrderSide.BUY, self._levels, tick, precision)
        asks = top_levels(book, OrderSide.SELL, self._levels, tick, precision)
        state.top_valid = bool(bids and asks) and 0.0 < bids[0][0] <= asks[0][0]
        if state.top_valid:
            state.microprice.update_raw(bids[0][0], asks[0][0], bids[0][1], asks[0][1])
        state.bid_depth = tuple(size for _, size in bids)
        state.ask_depth = tuple(size for _, size in asks)
        state.imbalance.update_raw(state.bid_depth, state.ask_depth)

    def _on_book_update(self, instrument_id: InstrumentId, state: _InstrumentState) -> None:
        state.updates += 1
        every = self.config.publish_every
        if every > 0 and state.updates % every == 0:
            self._publish(instrument_id, self.clock.timestamp_ns())

    def _publish(self, instrument_id: InstrumentId, ts_ns: int) -> None:
        liquidity = self._build(instrument_id, ts_ns)
        if liquidity is None:
            self.warmup_skipped += 1
            return
        self._latest[instrument_id] = liquidity
        self.publish_data(
            self._data_types[instrument_id], LiquidityData.from_state(instrument_id, liquidity, ts_ns)
        )
        self.states_published += 1

    def _build(self, instrument_id: InstrumentId, ts_ns: int) -> LiquidityState | None:
        state = self._states[instrument_id]
        config = self.config
        if state.book_dirty:
            self._refresh_book(instrument_id, state)
        if not (state.top_valid and state.microprice.initialized and state.imbalance.initialized):
            return None
        if len(state.bid_depth) < self._levels or len(state.ask_depth) < self._levels:
            return None
        if state.vpin is not None and not state.vpin.initialized:
            return None
        intensity = 0.0
        if config.trades:
            if state.first_trade_ns is None or ts_ns - state.first_trade_ns < self._window_ns:
                return None
            horizon = ts_ns - self._window_ns
            while state.trade_times and state.trade_times[0] <= horizon:
                state.trade_times.popleft()
            intensity = trade_intensity(state.trade_times, ts_ns, self._window_ns)
        volatility_bps, bar_volume = 0.0, 0.0
        if state.volatility is not None:
            if not state.volatility.initialized or len(state.volumes) < config.volume_window:
                return None
            volatility_bps = state.volatility.value * BASIS_POINTS
            bar_volume = typical_volume(state.volumes)
        return LiquidityState(
            spread_bps=max(state.microprice.spread_bps, 0.0),
            bid_depth=state.bid_depth,
            ask_depth=state.ask_depth,
            book_imbalance=state.imbalance.value,
            microprice_drift_bps=state.microprice.microprice_drift_bps,
            vpin=state.vpin.value if state.vpin is not None else 0.0,
            volatility_bps=volatility_bps,
            trade_intensity=intensity,
            typical_bar_volume=bar_volume,
            ts_event=ts_ns,
        )
