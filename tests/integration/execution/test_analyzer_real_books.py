"""The MicrostructureAnalyzer on real L2/L3 books: Binance BTCUSDT depth and CME ES order-by-order data.

The engine replays the book deltas (the Binance snapshot and its update; the Databento ESH4 MBO
snapshot and the first three minutes of the 2023-12-25 evening session, with its trades). A checker
actor added before the analyzer applies every delta to its own ``OrderBook`` (its handler runs first,
so when a LiquidityState arrives its book holds exactly the deltas the analyzer saw). At every
published state the depth at N levels equals both that independent book and the engine's managed
book in the cache, the imbalance and microprice drift equal the kernels on those levels, and the
states arrive in time order.
"""

import math
from pathlib import Path

import pytest
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import OrderBookDelta, OrderBookDeltas, TradeTick
from nautilus_trader.model.enums import BookType, book_type_from_str
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.test_kit.providers import TestInstrumentProvider

from nautilus_ai import test_kit
from nautilus_ai.execution.analyzer import MicrostructureAnalyzer, MicrostructureAnalyzerConfig
from nautilus_ai.execution.liquidity_data import LiquidityData, liquidity_data_type
from nautilus_ai.indicators.microstructure_kernels import book_imbalance, microprice_drift_bps

LEVELS = 5
SESSION_MINUTES = 3


class CheckerConfig(ActorConfig, frozen=True):
    instrument_id: InstrumentId
    book_type: str
    sample_every: int = 1


class BookChecker(Actor):
    """Keep an independent book; on every LiquidityData record it with both books' top levels."""

    def __init__(self, config: CheckerConfig) -> None:
        super().__init__(config)
        self.book = OrderBook(config.instrument_id, book_type_from_str(config.book_type))
        self.rows: list[tuple[LiquidityData, list, list, list, list]] = []
        self.received: list[LiquidityData] = []

    def on_start(self) -> None:
        iid = self.config.instrument_id
        self.subscribe_order_book_deltas(iid, book_type_from_str(self.config.book_type), managed=True)
        self.subscribe_data(liquidity_data_type(iid), instrument_id=iid)

    def on_order_book_deltas(self, deltas: OrderBookDeltas) -> None:
        self.book.apply_deltas(deltas)

    def on_data(self, data: Data) -> None:
        if not isinstance(data, LiquidityData):
            return
        self.received.append(data)
        if (len(self.received) - 1) % self.config.sample_every:
            return  # copying every level of both books is slow on a deep L3 book: check a sample
        cached = self.cache.order_book(self.config.instrument_id)
        self.rows.append(
            (
                data,
                [(level.price.as_double(), level.size()) for level in self.book.bids()[:LEVELS]],
                [(level.price.as_double(), level.size()) for level in self.book.asks()[:LEVELS]],
                [level.size() for level in cached.bids()[:LEVELS]],
                [level.size() for level in cached.asks()[:LEVELS]],
            )
        )


def replay(instrument, data, book_type: BookType, trades: bool, sample_every: int = 1):
    engine = test_kit.make_backtest_engine([instrument])
    try:
        for series in data:
            engine.add_data(series)
        checker = BookChecker(
            CheckerConfig(instrument_id=instrument.id, book_type=book_type.name, sample_every=sample_every)
        )
        analyzer = MicrostructureAnalyzer(
            MicrostructureAnalyzerConfig(
                instrument_ids=(instrument.id,),
                book_source="deltas",
                book_levels=LEVELS,
                book_type=book_type.name,
                trades=trades,
                intensity_window_secs=10.0,
            )
        )
        engine.add_actor(checker)  # first: its book applies each delta before the analyzer publishes
        engine.add_actor(analyzer)
        engine.run()
        return analyzer, checker
    finally:
        engine.dispose()


def shared_root() -> Path:
    root = test_kit.shared_data_dir()
    if root is None:
        pytest.skip("the shared data folder (../shared/data) is not present")
    return root


def binance_books():
    from nautilus_trader.adapters.binance.loaders import BinanceOrderBookDeltaDataLoader
    from nautilus_trader.persistence.wranglers import OrderBookDeltaDataWrangler

    root = shared_root()
    instrument = TestInstrumentProvider.btcusdt_binance()
    wrangler = OrderBookDeltaDataWrangler(instrument)
    deltas = []
    for name in ("btcusdt-depth-snap.csv", "btcusdt-depth-update.csv"):
        deltas.extend(wrangler.process(BinanceOrderBookDeltaDataLoader.load(root / "orderbook" / name)))
    return instrument, [deltas], BookType.L2_MBP, False, 1


def es_books():
    from nautilus_trader.adapters.databento.loaders import DatabentoDataLoader

    root = shared_root()
    data = DatabentoDataLoader().from_dbn_file(
        root / "orderbook" / "esh4-glbx-mdp3-20231225.mbo.dbn.zst",
        price_precision=2,
        include_trades=True,
        as_legacy_cython=True,
    )
    trades = [d for d in data if isinstance(d, TradeTick)]
    end = trades[0].ts_init + SESSION_MINUTES * 60 * 1_000_000_000  # the session's first minutes
    deltas = [d for d in data if isinstance(d, OrderBookDelta) and d.ts_init < end]
    trades = [t for t in trades if t.ts_init < end]
    return TestInstrumentProvider.es_future(2024, 3), [deltas, trades], BookType.L3_MBO, True, 10


@pytest.fixture(scope="module", params=["binance_l2", pytest.param("es_mbo", marks=pytest.mark.slow)])
def replayed(request):
    if test_kit.shared_data_dir() is None:
        pytest.skip("the shared data folder (../shared/data) is not present")
    instrument, data, book_type, trades, sample_every = (
        binance_books() if request.param == "binance_l2" else es_books()
    )
    analyzer, checker = replay(instrument, data, book_type, trades, sample_every)
    return request.param, checker.received, data, analyzer, checker.rows


def test_depth_at_n_levels_equals_the_independent_and_the_cached_book(replayed):
    name, received, _, analyzer, rows = replayed

    assert len(received) == analyzer.states_published > (50 if name == "binance_l2" else 1_000)
    assert len(rows) > 50
    for data, bids, asks, cached_bids, cached_asks in rows:
        state = data.to_state()
        assert list(state.bid_depth) == [size for _, size in bids] == cached_bids
        assert list(state.ask_depth) == [size for _, size in asks] == cached_asks
        assert len(state.bid_depth) == len(state.ask_depth) == LEVELS


def test_imbalance_spread_and_drift_equal_the_kernels_on_the_same_book(replayed):
    _, _, _, _, rows = replayed

    for data, bids, asks, _, _ in rows:
        (bid, bid_size), (ask, ask_size) = bids[0], asks[0]
        assert data.book_imbalance == pytest.approx(
            book_imbalance([s for _, s in bids], [s for _, s in asks]), rel=1e-12, abs=1e-15
        )
        assert data.spread_bps == pytest.approx((ask - bid) / ((ask + bid) / 2) * 1e4, rel=1e-12)
        assert data.microprice_drift_bps == pytest.approx(
            microprice_drift_bps(bid, ask, bid_size, ask_size), rel=1e-9, abs=1e-12
        )


def test_states_are_published_in_time_order_within_the_replayed_data(replayed):
    _, received, data, analyzer, _ = replayed
    stamps = [d.ts_event for d in received]
    first = min(d.ts_init for series in data for d in series)
    last = max(d.ts_init for series in data for d in series)

    assert stamps == sorted(stamps)
    assert first <= stamps[0] and stamps[-1] <= last
    assert [d.ts_init for d in received] == stamps
    assert analyzer.latest(received[-1].instrument_id) == received[-1].to_state()


def test_trade_intensity_counts_the_trades_in_the_window(replayed):
    name, received, data, _, rows = replayed
    if name == "binance_l2":  # no trades subscribed: the intensity is published as 0
        assert {d.trade_intensity for d in received} == {0.0}
        return
    trade_ts = [t.ts_init for t in data[1]]
    trade_set = set(trade_ts)

    checked = 0
    for row in rows:
        ts = row[0].ts_event
        if ts in trade_set:
            continue  # a trade and a delta at the same nanosecond: the engine's delivery order decides
        expected = sum(1 for t in trade_ts if ts - 10_000_000_000 < t <= ts) / 10.0
        assert row[0].trade_intensity == pytest.approx(expected)
        checked += 1
    assert checked > 50
    assert max(row[0].trade_intensity for row in rows) > 0.0
    assert all(math.isfinite(row[0].vpin) for row in rows)


def test_depth10_snapshots_give_their_first_levels():
    from nautilus_trader.adapters.tardis.loaders import TardisCSVDataLoader

    root = test_kit.shared_data_dir()
    if root is None:
        pytest.skip("the shared data folder (../shared/data) is not present")
    path = root / "orderbook" / "binance-futures_book_snapshot_25_BTCUSDT.csv"
    instrument = TestInstrumentProvider.btcusdt_binance()  # same id as the Tardis rows: BTCUSDT.BINANCE
    loader = TardisCSVDataLoader(
        price_precision=instrument.price_precision, size_precision=instrument.size_precision
    )
    snapshots = loader.load_depth10(path, levels=25)
    engine = test_kit.make_backtest_engine([instrument])
    try:
        engine.add_data(snapshots)
        analyzer = MicrostructureAnalyzer(
            MicrostructureAnalyzerConfig(
                instrument_ids=(instrument.id,), book_source="depth10", book_levels=LEVELS, trades=False
            )
        )
        recorder = BookChecker(CheckerConfig(instrument_id=instrument.id, book_type="L2_MBP"))
        engine.add_actor(analyzer)
        engine.add_actor(recorder)
        engine.run()
    finally:
        engine.dispose()

    states = [d.to_state() for d in recorder.received]
    assert len(states) == len(snapshots) == 10
    for state, depth in zip(states, snapshots, strict=True):
        bids = [o.size.as_double() for o in depth.bids[:LEVELS]]
        asks = [o.size.as_double() for o in depth.asks[:LEVELS]]
        assert list(state.bid_depth) == bids
        assert list(state.ask_depth) == asks
        assert state.book_imbalance == pytest.approx(book_imbalance(bids, asks))
        assert state.ts_event == depth.ts_init
