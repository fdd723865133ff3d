"""The MicrostructureAnalyzer on real Binance BTCUSDT quotes and trades in a BacktestEngine.

Every published LiquidityState is compared with the batch kernels computed on the same events up to
its timestamp: spread, microprice drift and imbalance from the quote, VPIN over the trades
(``vpin_batch``), trade intensity (a count over the window), the per-bar mid volatility
(``realized_volatility_batch``) and the median bar volume over the engine's own bars.
"""

import math

import msgspec
import numpy as np
import pytest
from nautilus_trader.common.actor import Actor
from nautilus_trader.common.config import ActorFactory
from nautilus_trader.config import ActorConfig, ImportableActorConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai import test_kit
from nautilus_ai.errors import ConfigError
from nautilus_ai.execution.analyzer import (
    MicrostructureAnalyzer,
    MicrostructureAnalyzerConfig,
    analyzer_actor_config,
    trade_intensity,
    typical_volume,
)
from nautilus_ai.execution.liquidity import LiquidityState
from nautilus_ai.execution.liquidity_data import (
    LiquidityData,
    LiquidityView,
    liquidity_data_type,
    liquidity_topic,
)
from nautilus_ai.indicators.kernels import realized_volatility_batch
from nautilus_ai.indicators.microstructure_kernels import microprice_batch, vpin_batch

N_BUCKETS, SIGMA_WINDOW = 10, 20
INTENSITY_SECS = 5.0
VOL_WINDOW, VOLUME_WINDOW = 5, 5
BAR_SPEC = "1-SECOND-LAST-INTERNAL"
RTOL = 1e-9


class RecorderConfig(ActorConfig, frozen=True):
    instrument_id: InstrumentId
    bar_type: BarType


class LiquidityRecorder(Actor):
    """Subscribe to the analyzer's LiquidityData (and the bars it uses) and record them."""

    def __init__(self, config: RecorderConfig) -> None:
        super().__init__(config)
        self.received: list[LiquidityData] = []
        self.raw_topic: list[object] = []
        self.bars: list[Bar] = []

    def on_start(self) -> None:
        iid = self.config.instrument_id
        self.subscribe_data(liquidity_data_type(iid), instrument_id=iid)
        self.msgbus.subscribe(liquidity_topic(iid), self.raw_topic.append)
        self.subscribe_bars(self.config.bar_type)

    def on_data(self, data: Data) -> None:
        if isinstance(data, LiquidityData):
            self.received.append(data)

    def on_bar(self, bar: Bar) -> None:
        self.bars.append(bar)


class StrategyLikeReader(Actor):
    """Read the liquidity state synchronously, through a LiquidityView, while handling each quote."""

    def __init__(self, config: RecorderConfig) -> None:
        super().__init__(config)
        self.view: LiquidityView | None = None
        self.reads: list[tuple[int, LiquidityState | None]] = []

    def on_start(self) -> None:
        self.view = LiquidityView(self.msgbus, [self.config.instrument_id])
        self.subscribe_quote_ticks(self.config.instrument_id)

    def on_quote_tick(self, tick) -> None:
        assert self.view is not None
        self.reads.append((tick.ts_init, self.view.latest(tick.instrument_id)))


def analyzer_config(instrument_id, bucket, **overrides) -> MicrostructureAnalyzerConfig:
    fields = {
        "instrument_ids": (instrument_id,),
        "vpin_bucket_volume": bucket,
        "vpin_buckets": N_BUCKETS,
        "vpin_sigma_window": SIGMA_WINDOW,
        "intensity_window_secs": INTENSITY_SECS,
        "bar_spec": BAR_SPEC,
        "volatility_window": VOL_WINDOW,
        "volume_window": VOLUME_WINDOW,
    }
    fields.update(overrides)
    return MicrostructureAnalyzerConfig(**fields)


def run_analyzer(instrument, trades, quotes, config, reader=None):
    engine = test_kit.make_backtest_engine([instrument])
    try:
        engine.add_data(trades)
        engine.add_data(quotes)
        analyzer = MicrostructureAnalyzer(config)
        recorder = LiquidityRecorder(
            RecorderConfig(
                instrument_id=instrument.id, bar_type=BarType.from_str(f"{instrument.id}-{BAR_SPEC}")
            )
        )
        engine.add_actor(analyzer)
        engine.add_actor(recorder)
        if reader is not None:
            engine.add_actor(reader)
        engine.run()
        return analyzer, recorder
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def ticks():
    if test_kit.shared_data_dir() is None:
        pytest.skip("the shared data folder (../shared/data) is not present")
    instrument, trades, quotes = test_kit.binance_btcusdt_ticks()
    bucket = sum(t.size.as_double() for t in trades) / 60
    return instrument, trades, quotes, bucket


@pytest.fixture(scope="module")
def run(ticks):
    instrument, trades, quotes, bucket = ticks
    analyzer, recorder = run_analyzer(instrument, trades, quotes, analyzer_config(instrument.id, bucket))
    states = [d.to_state() for d in recorder.received]
    return analyzer, recorder, states


def test_one_state_per_quote_after_warm_up_delivered_on_the_bus_in_time_order(ticks, run):
    _, _, quotes, _ = ticks
    analyzer, recorder, states = run

    assert analyzer.states_published == len(states) > len(quotes) // 2
    assert analyzer.states_published + analyzer.warmup_skipped == len(quotes)
    stamps = [s.ts_event for s in states]
    assert stamps == sorted(stamps)
    # the published states are the last quotes' (warm-up happens once, at the start)
    tail = quotes[len(quotes) - len(states) :]
    assert stamps == [q.ts_init for q in tail]
    assert [d.ts_init for d in recorder.received] == stamps
    assert len(recorder.raw_topic) == len(states)  # the documented topic string is the real one


def test_latest_is_the_last_published_state(ticks, run):
    instrument, _, _, _ = ticks
    analyzer, _, states = run

    assert analyzer.latest(instrument.id) == states[-1]
    assert analyzer.latest(str(instrument.id)) == states[-1]
    assert analyzer.latest(InstrumentId.from_str("ETHUSDT.BINANCE")) is None


def test_a_strategy_reads_the_state_of_the_quote_it_is_handling_synchronously(ticks, run):
    instrument, trades, quotes, bucket = ticks
    _, _, states = run
    bar_type = BarType.from_str(f"{instrument.id}-{BAR_SPEC}")
    reader = StrategyLikeReader(RecorderConfig(instrument_id=instrument.id, bar_type=bar_type))

    run_analyzer(instrument, trades, quotes, analyzer_config(instrument.id, bucket), reader=reader)

    read_states = [state for _, state in reader.reads if state is not None]
    assert len(reader.reads) == len(quotes)
    assert read_states == states  # the view holds each state while its quote is being handled
    assert all(state.ts_event == ts for ts, state in reader.reads if state is not None)


def test_spread_drift_and_imbalance_equal_the_batch_kernels_on_the_same_quote(ticks, run):
    _, _, quotes, _ = ticks
    _, _, states = run
    tail = quotes[len(quotes) - len(states) :]
    bid = np.array([q.bid_price.as_double() for q in tail])
    ask = np.array([q.ask_price.as_double() for q in tail])
    bid_size = np.array([q.bid_size.as_double() for q in tail])
    ask_size = np.array([q.ask_size.as_double() for q in tail])

    batch = microprice_batch(bid, ask, bid_size, ask_size)

    np.testing.assert_allclose([s.spread_bps for s in states], batch["spread_bps"], rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(
        [s.microprice_drift_bps for s in states], batch["microprice_drift_bps"], rtol=RTOL, atol=1e-9
    )
    np.testing.assert_allclose(
        [s.book_imbalance for s in states], (bid_size - ask_size) / (bid_size + ask_size), rtol=RTOL
    )
    assert [s.bid_depth for s in states] == [(b,) for b in bid_size.tolist()]
    assert [s.ask_depth for s in states] == [(a,) for a in ask_size.tolist()]


def test_vpin_and_trade_intensity_equal_batch_values_over_the_trades_up_to_each_state(ticks, run):
    _, trades, _, bucket = ticks
    _, _, states = run
    trade_ts = np.array([t.ts_init for t in trades])
    prices = np.array([t.price.as_double() for t in trades])
    sizes = np.array([t.size.as_double() for t in trades])
    vpin = vpin_batch(prices, sizes, bucket, N_BUCKETS, SIGMA_WINDOW)
    window_ns = int(INTENSITY_SECS * 1e9)

    compared = 0
    for state in states:
        ts = state.ts_event
        if ts in set(trade_ts.tolist()):
            continue  # a trade and a quote at the same nanosecond: their delivery order is the engine's
        last = np.searchsorted(trade_ts, ts, side="right") - 1
        in_window = np.sum((trade_ts > ts - window_ns) & (trade_ts <= ts))
        assert state.vpin == pytest.approx(vpin[last], rel=RTOL, abs=1e-12)
        assert state.trade_intensity == pytest.approx(in_window / INTENSITY_SECS, rel=RTOL)
        compared += 1
    assert compared > len(states) * 0.8
    assert len({round(s.vpin, 12) for s in states}) > 5  # VPIN moves over the sample


def test_volatility_and_typical_volume_follow_the_bars_and_the_mid_at_each_bar(ticks, run):
    _, _, quotes, _ = ticks
    _, recorder, states = run
    quote_ts = np.array([q.ts_init for q in quotes])
    mids = np.array([(q.bid_price.as_double() + q.ask_price.as_double()) / 2 for q in quotes])
    bars = [b for b in recorder.bars if b.ts_init > quote_ts[0]]  # the mid exists from the first quote
    bar_ts = np.array([b.ts_init for b in bars])
    # a bar at t closes on the timer, before data stamped t: the mid is the last quote strictly before
    mid_at_bar = mids[np.searchsorted(quote_ts, bar_ts, side="left") - 1]
    volatility = realized_volatility_batch(mid_at_bar, VOL_WINDOW) * 1e4
    all_bar_ts = np.array([b.ts_init for b in recorder.bars])
    volumes = np.array([b.volume.as_double() for b in recorder.bars])

    for state in states[:: max(1, len(states) // 40)]:
        k = np.searchsorted(bar_ts, state.ts_event, side="right") - 1
        assert state.volatility_bps == pytest.approx(volatility[k], rel=RTOL)
        j = np.searchsorted(all_bar_ts, state.ts_event, side="right")
        assert state.typical_bar_volume == pytest.approx(np.median(volumes[j - VOLUME_WINDOW : j]), rel=RTOL)
    assert states[-1].volatility_bps > 0.0


def test_states_before_a_cut_do_not_change_when_later_events_are_removed(ticks, run):
    instrument, trades, quotes, bucket = ticks
    _, _, full = run
    cut = quotes[300].ts_init

    _, recorder = run_analyzer(
        instrument,
        [t for t in trades if t.ts_init <= cut],
        [q for q in quotes if q.ts_init <= cut],
        analyzer_config(instrument.id, bucket),
    )

    truncated = [d.to_state() for d in recorder.received]
    assert len(truncated) > 50
    assert truncated == [s for s in full if s.ts_event <= cut][: len(truncated)]
    assert truncated[-1].ts_event == cut


def test_a_per_instrument_bucket_volume_overrides_the_default(ticks):
    instrument, trades, quotes, bucket = ticks
    config = analyzer_config(
        instrument.id, 1e9, vpin_bucket_volumes={str(instrument.id): bucket / 2}, vpin_buckets=5
    )

    analyzer, _ = run_analyzer(instrument, trades, quotes, config)

    prices = np.array([t.price.as_double() for t in trades])
    sizes = np.array([t.size.as_double() for t in trades])
    expected = vpin_batch(prices, sizes, bucket / 2, 5, SIGMA_WINDOW)[-1]
    state = analyzer.latest(instrument.id)
    assert state is not None
    assert state.vpin == pytest.approx(expected, rel=RTOL)


def test_timer_publication_stamps_states_on_the_interval(ticks):
    instrument, trades, quotes, bucket = ticks
    config = analyzer_config(instrument.id, bucket, publish_every=0, publish_interval_secs=2.0)

    analyzer, recorder = run_analyzer(instrument, trades, quotes, config)

    stamps = np.array([d.ts_event for d in recorder.received])
    assert len(stamps) >= 10
    assert set(np.diff(stamps).tolist()) == {2_000_000_000}
    trade_ts = np.array([t.ts_init for t in trades])
    for data in recorder.received:
        in_window = np.sum((trade_ts > data.ts_event - 5_000_000_000) & (trade_ts <= data.ts_event))
        assert data.trade_intensity == pytest.approx(in_window / INTENSITY_SECS)
    assert analyzer.latest(instrument.id) == recorder.received[-1].to_state()


def test_disabled_estimates_are_published_as_zero(ticks):
    instrument, trades, quotes, _ = ticks
    config = MicrostructureAnalyzerConfig(instrument_ids=(instrument.id,), trades=False)

    analyzer, _ = run_analyzer(instrument, trades, quotes, config)

    assert analyzer.states_published == len(quotes)
    state = analyzer.latest(instrument.id)
    assert state is not None
    assert (state.vpin, state.trade_intensity, state.volatility_bps, state.typical_bar_volume) == (0, 0, 0, 0)


def test_liquidity_data_round_trips_a_state_through_dicts_and_the_catalog(tmp_path):
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    state = LiquidityState(1.5, (1.0, 2.0), (3.0,), -0.2, 0.1, 0.4, 5.0, 2.5, 10.0, ts_event=7)
    iid = InstrumentId.from_str("BTCUSDT.BINANCE")

    data = LiquidityData.from_state(iid, state, ts_init=9)
    again = LiquidityData.from_dict(data.to_dict())
    catalog = ParquetDataCatalog(str(tmp_path))
    catalog.write_data([data])
    stored = catalog.query(LiquidityData)

    assert again.to_state() == state
    assert (again.ts_event, again.ts_init, again.instrument_id) == (7, 9, iid)
    assert [item.data.to_state() for item in stored] == [state]


def test_importable_config_builds_the_analyzer_from_strings():
    importable = ImportableActorConfig(
        actor_path="nautilus_ai.execution.analyzer:MicrostructureAnalyzer",
        config_path="nautilus_ai.execution.analyzer:MicrostructureAnalyzerConfig",
        config={"instrument_ids": ["BTCUSDT.BINANCE"], "book_source": "deltas", "bar_spec": BAR_SPEC},
    )

    actor = ActorFactory.create(importable)

    assert isinstance(actor, MicrostructureAnalyzer)
    assert actor.config.instrument_ids == (InstrumentId.from_str("BTCUSDT.BINANCE"),)


def test_analyzer_actor_config_round_trips_through_the_actor_factory():
    config = analyzer_config(InstrumentId.from_str("BTCUSDT.BINANCE"), 1.5, publish_interval_secs=30.0)

    actor = ActorFactory.create(analyzer_actor_config(config))

    assert isinstance(actor, MicrostructureAnalyzer)
    assert actor.config == config
    with pytest.raises(ConfigError, match="book_levels"):
        analyzer_actor_config(msgspec.structs.replace(config, book_levels=0))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"instrument_ids": ()}, "instrument_ids"),
        ({"book_source": "trades"}, "book_source"),
        ({"book_levels": 0}, "book_levels"),
        ({"book_source": "depth10", "book_levels": 11}, "book_levels"),
        ({"book_type": "L9"}, "book_type"),
        ({"vpin_bucket_volume": -1.0}, "vpin_bucket_volume"),
        ({"vpin_bucket_volume": 1.0, "trades": False}, "vpin_bucket_volume"),
        ({"vpin_bucket_volumes": {"ETHUSDT.BINANCE": 1.0}}, "vpin_bucket_volumes"),
        ({"vpin_bucket_volumes": {"BTCUSDT.BINANCE": 0.0}}, "vpin_bucket_volumes"),
        ({"intensity_window_secs": 0.0}, "intensity_window_secs"),
        ({"volatility_window": 1}, "volatility_window"),
        ({"volume_window": 0}, "volume_window"),
        ({"publish_every": 0}, "publish_every"),
        ({"publish_interval_secs": -1.0}, "publish_interval_secs"),
        ({"bar_spec": "1-FORTNIGHT"}, "bar_spec"),
    ],
)
def test_bad_config_raises_config_error_naming_the_field(overrides, field):
    config = msgspec.structs.replace(
        MicrostructureAnalyzerConfig(instrument_ids=(InstrumentId.from_str("BTCUSDT.BINANCE"),)), **overrides
    )

    with pytest.raises(ConfigError, match=field):
        MicrostructureAnalyzer(config)


def test_trade_intensity_counts_the_half_open_window():
    times = [1_000, 2_000, 3_000, 4_000]

    assert trade_intensity(times, 4_000, 2_000) == pytest.approx(2 * 1e9 / 2_000)  # (2000, 4000]
    assert trade_intensity(times, 10_000, 2_000) == 0.0
    assert typical_volume([3.0, 1.0, 2.0]) == 2.0
    assert typical_volume([]) == 0.0
    assert math.isfinite(trade_intensity([], 5, 1))


def _book(bids, asks):
    from nautilus_trader.model.book import OrderBook
    from nautilus_trader.model.data import BookOrder
    from nautilus_trader.model.enums import BookType, OrderSide
    from nautilus_trader.model.objects import Price, Quantity

    book = OrderBook(InstrumentId.from_str("BTCUSDT.BINANCE"), BookType.L2_MBP)
    for side, levels in ((OrderSide.BUY, bids), (OrderSide.SELL, asks)):
        for price, size in levels:
            book.add(BookOrder(side, Price(price, 2), Quantity(size, 3), 0), ts_event=0)
    return book


@pytest.mark.parametrize("tick", [0.01, math.nan])
@pytest.mark.parametrize("levels", [1, 3, 5])
def test_top_levels_equal_the_first_levels_of_the_full_side(tick, levels):
    from nautilus_trader.model.enums import OrderSide

    from nautilus_ai.execution.analyzer import top_levels

    bids = [(100.0, 1.0), (99.98, 2.0), (99.5, 3.0), (90.0, 4.5)]
    asks = [(100.01, 0.5), (100.02, 1.5), (100.40, 2.5), (120.0, 3.5)]
    book = _book(bids, asks)

    assert top_levels(book, OrderSide.BUY, levels, tick, 3) == bids[:levels]
    assert top_levels(book, OrderSide.SELL, levels, tick, 3) == asks[:levels]
    assert top_levels(_book([], asks), OrderSide.BUY, levels, tick, 3) == []
