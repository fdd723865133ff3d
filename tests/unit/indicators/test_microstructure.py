"""Microstructure indicators: streaming equals batch on real ticks and books, no look-ahead, behaviour.

Real data from the shared data folder (``/work/shared/data``, see its LOADERS.md): Binance BTCUSDT
trades with aggressor sides and quotes, a Binance depth snapshot + update replayed into an
``OrderBook``, Tardis depth-10 snapshots, and the bundled FTX BTC-PERP 1-minute bars (bar VPIN).
"""

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.adapters.binance.loaders import BinanceOrderBookDeltaDataLoader
from nautilus_trader.adapters.tardis.loaders import TardisCSVDataLoader
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import BarType, OrderBookDepth10, QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide, BookType
from nautilus_trader.persistence.wranglers import (
    OrderBookDeltaDataWrangler,
    QuoteTickDataWrangler,
    TradeTickDataWrangler,
)
from nautilus_trader.test_kit.providers import TestInstrumentProvider

from nautilus_ai import test_kit
from nautilus_ai.indicators.book_imbalance import BookImbalance
from nautilus_ai.indicators.microprice import Microprice
from nautilus_ai.indicators.microstructure_kernels import (
    book_imbalance,
    book_imbalance_batch,
    bulk_buy_fraction,
    fill_volume_buckets,
    microprice,
    microprice_batch,
    order_flow_imbalance,
    order_flow_imbalance_batch,
    order_flow_imbalance_time_batch,
    vpin_batch,
)
from nautilus_ai.indicators.order_flow import OrderFlowImbalance
from nautilus_ai.indicators.vpin import VPIN

RTOL = 1e-9
ATOL = 1e-12
N_CUTS = 4
CUT_SEED = 20_240_611
MAX_LEVELS = 10


# --------------------------------------------------------------------------------------------------
# Real data (module-scoped: loaded once)
# --------------------------------------------------------------------------------------------------


def _shared(relative: str) -> Path:
    root = test_kit.shared_data_dir()
    if root is None:
        pytest.skip("the shared data folder (../shared/data) is not present")
    return root / relative


def load_btcusdt_trades() -> list[TradeTick]:
    """Return the Binance BTCUSDT trades, aggressor SELLER when the buyer was the maker."""
    frame = pd.read_parquet(_shared("ticks_trades/btcusdt-trades.parquet")).set_index("timestamp")
    frame["side"] = ["SELL" if maker == "True" else "BUY" for maker in frame["buyer_maker"].astype(str)]
    return TradeTickDataWrangler(TestInstrumentProvider.btcusdt_binance()).process(frame)


def load_btcusdt_quotes() -> list[QuoteTick]:
    """Return the Binance BTCUSDT quotes with sizes."""
    frame = pd.read_parquet(_shared("ticks_quotes/btcusdt-quotes.parquet")).set_index("timestamp")
    frame = frame.rename(columns={"bid": "bid_price", "ask": "ask_price"})
    return QuoteTickDataWrangler(TestInstrumentProvider.btcusdt_binance()).process(
        frame[["bid_price", "ask_price", "bid_size", "ask_size"]]
    )


@pytest.fixture(scope="module")
def trades() -> list[TradeTick]:
    return load_btcusdt_trades()


@pytest.fixture(scope="module")
def quotes() -> list[QuoteTick]:
    return load_btcusdt_quotes()


def _padded_sizes(levels: list[float]) -> list[float]:
    return (levels + [math.nan] * MAX_LEVELS)[:MAX_LEVELS]


@pytest.fixture(scope="module")
def binance_book_replay() -> dict[str, Any]:
    """Replay the depth snapshot then the update deltas into an OrderBook; keep each state's top levels."""
    instrument = TestInstrumentProvider.btcusdt_binance()
    wrangler = OrderBookDeltaDataWrangler(instrument)
    deltas = []
    for name in ("btcusdt-depth-snap.csv", "btcusdt-depth-update.csv"):
        deltas += wrangler.process(BinanceOrderBookDeltaDataLoader.load(_shared(f"orderbook/{name}")))
    book = OrderBook(instrument.id, BookType.L2_MBP)
    states: dict[str, list] = {"bid_sizes": [], "ask_sizes": [], "top": []}
    for delta in deltas:
        book.apply_delta(delta)
        bids, asks = book.bids(), book.asks()
        states["bid_sizes"].append(_padded_sizes([level.size() for level in bids[:MAX_LEVELS]]))
        states["ask_sizes"].append(_padded_sizes([level.size() for level in asks[:MAX_LEVELS]]))
        top = (
            (bids[0].price.as_double(), asks[0].price.as_double(), bids[0].size(), asks[0].size())
            if bids and asks
            else (math.nan,) * 4
        )
        states["top"].append(top)
    return {
        "deltas": deltas,
        "instrument": instrument,
        "bid_sizes": np.array(states["bid_sizes"]),
        "ask_sizes": np.array(states["ask_sizes"]),
        "top": np.array(states["top"]),
    }


def replay_book(replay: dict[str, Any], on_book: Callable[[OrderBook], None]) -> None:
    book = OrderBook(replay["instrument"].id, BookType.L2_MBP)
    for delta in replay["deltas"]:
        book.apply_delta(delta)
        on_book(book)


@pytest.fixture(scope="module")
def depth10() -> list[OrderBookDepth10]:
    path = _shared("orderbook/binance-futures_book_snapshot_25_BTCUSDT.csv")
    return TardisCSVDataLoader().load_depth10(str(path), levels=25)


@pytest.fixture(scope="module")
def ftx_bars() -> pd.DataFrame:
    return pd.read_csv(test_kit.bundled_data_dir() / "bars_intraday" / "btc-perp-20211231-20220201_1m.csv")


def trade_arrays(trades: list[TradeTick]) -> dict[str, np.ndarray]:
    return {
        "price": np.array([t.price.as_double() for t in trades]),
        "size": np.array([t.size.as_double() for t in trades]),
        "signed": np.array(
            [t.size.as_double() * (1.0 if t.aggressor_side == AggressorSide.BUYER else -1.0) for t in trades]
        ),
        "ts": np.array([t.ts_event for t in trades], dtype=np.int64),
    }


def stream(indicator: Any, feed: Callable[[Any], None], events: list) -> np.ndarray:
    """Feed ``events`` one by one; return ``indicator.value`` after each (NaN while not initialized)."""
    out = np.full(len(events), np.nan)
    for i, event in enumerate(events):
        feed(event)
        if indicator.initialized:
            out[i] = indicator.value
    return out


def seeded_cuts(n: int, low: int) -> list[int]:
    rng = np.random.default_rng(CUT_SEED)
    return sorted(int(c) for c in rng.choice(np.arange(low, n - 1), N_CUTS, replace=False))


def assert_no_lookahead(make: Callable[[], Any], feed_name: str, events: list, low: int = 10) -> None:
    """Cut ``events`` at seeded points: the values of each prefix run equal the full run's values."""
    full_indicator = make()
    full = stream(full_indicator, getattr(full_indicator, feed_name), events)
    assert not np.isnan(full).all()
    for cut in seeded_cuts(len(events), low):
        prefix_indicator = make()
        prefix = stream(prefix_indicator, getattr(prefix_indicator, feed_name), events[:cut])
        np.testing.assert_array_equal(prefix, full[:cut], err_msg=f"cut at event {cut}")


# --------------------------------------------------------------------------------------------------
# VPIN
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("buckets_in_sample", "n_buckets", "sigma_window"), [(60, 10, 20), (200, 50, 50)])
def test_vpin_on_trades_streaming_equals_batch_on_binance_trades(
    trades, buckets_in_sample, n_buckets, sigma_window
):
    arrays = trade_arrays(trades)
    bucket_size = arrays["size"].sum() / buckets_in_sample
    indicator = VPIN(bucket_size, n_buckets, sigma_window, source="trades")

    streamed = stream(indicator, indicator.handle_trade_tick, trades)

    batch = vpin_batch(arrays["price"], arrays["size"], bucket_size, n_buckets, sigma_window)
    np.testing.assert_allclose(streamed, batch, rtol=RTOL, atol=ATOL, equal_nan=True)
    assert indicator.initialized and indicator.buckets_completed >= n_buckets
    assert np.isfinite(streamed).sum() > len(trades) // 4
    assert ((streamed[np.isfinite(streamed)] >= 0.0) & (streamed[np.isfinite(streamed)] <= 1.0)).all()


def test_vpin_on_bars_streaming_equals_batch_on_ftx_minute_bars(ftx_bars):
    bars = ftx_bars.iloc[:20_000]  # two weeks of minutes
    close, volume = bars["close"].to_numpy(), bars["volume"].to_numpy()
    bucket_size = float(volume.mean() * 30)  # about one bucket per 30 minutes
    indicator = VPIN(bucket_size, n_buckets=50, sigma_window=60, source="bars")

    streamed = np.full(len(close), np.nan)
    for i, (c, v) in enumerate(zip(close, volume, strict=True)):
        indicator.update_raw(float(c), float(v))
        if indicator.initialized:
            streamed[i] = indicator.value

    batch = vpin_batch(close, volume, bucket_size, 50, 60)
    np.testing.assert_allclose(streamed, batch, rtol=RTOL, atol=ATOL, equal_nan=True)
    assert np.isfinite(batch).sum() > len(close) // 2


def test_vpin_handle_bar_equals_update_raw_on_ftx_bars(ftx_bars):
    instrument = TestInstrumentProvider.btcusdt_perp_binance()
    frame = ftx_bars.iloc[:3000].copy()
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("timestamp"), utc=True)) + pd.Timedelta(minutes=1)
    bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-EXTERNAL")
    bars = test_kit.wrangle_bars(bar_type, instrument, frame)
    bucket_size = float(frame["volume"].mean() * 10)
    by_bar = VPIN(bucket_size, 20, 30, source="bars")

    streamed = stream(by_bar, by_bar.handle_bar, bars)

    close = np.array([b.close.as_double() for b in bars])
    volume = np.array([b.volume.as_double() for b in bars])
    batch = vpin_batch(close, volume, bucket_size, 20, 30)
    np.testing.assert_allclose(streamed, batch, rtol=RTOL, atol=ATOL, equal_nan=True)
    assert by_bar.initialized


def test_vpin_has_no_lookahead_on_binance_trades(trades):
    bucket_size = sum(t.size.as_double() for t in trades) / 80

    assert_no_lookahead(lambda: VPIN(bucket_size, 10, 20), "handle_trade_tick", trades, low=100)


def test_vpin_rises_when_flow_is_one_sided():
    rng = np.random.default_rng(7)
    sizes = rng.uniform(0.5, 1.5, 2_000)
    monotone_up = 100.0 + np.cumsum(rng.uniform(0.01, 0.02, 2_000))
    alternating = 100.0 + 0.01 * (np.arange(2_000) % 2)
    one_sided, two_sided = VPIN(5.0, 20, 20), VPIN(5.0, 20, 20)

    for price, up, size in zip(alternating, monotone_up, sizes, strict=True):
        one_sided.update_raw(float(up), float(size))
        two_sided.update_raw(float(price), float(size))

    assert one_sided.initialized and two_sided.initialized
    assert one_sided.value > 0.9
    assert two_sided.value < 0.4
    assert one_sided.value > two_sided.value + 0.5


def test_bucket_spill_over_splits_a_large_trade_exactly():
    # 10 units, 70% buy, into buckets of 4 that already hold 1 unit (all buy): fills 3, then 4, then 3 open.
    bucket_buy, bucket_volume, completed = fill_volume_buckets(1.0, 1.0, 7.0, 10.0, 4.0)

    assert completed == pytest.approx([abs(2 * (1.0 + 0.7 * 3) - 4) / 4, abs(2 * 0.7 * 4 - 4) / 4])
    assert bucket_volume == pytest.approx(3.0)
    assert bucket_buy == pytest.approx(2.1)


def test_bucket_fill_closes_exactly_at_capacity_and_keeps_an_empty_open_bucket():
    bucket_buy, bucket_volume, completed = fill_volume_buckets(0.0, 2.0, 2.0, 2.0, 4.0)

    assert completed == [0.0]  # half buy (0 + 2 of 4) -> imbalance 0
    assert (bucket_buy, bucket_volume) == (0.0, 0.0)
    assert fill_volume_buckets(0.5, 1.0, 0.0, 0.0, 4.0) == (0.5, 1.0, [])


def test_vpin_spills_one_trade_across_several_buckets():
    indicator = VPIN(bucket_size=1.0, n_buckets=3, sigma_window=2)
    for price in (100.0, 101.0, 102.0):  # warm-up: the first two changes feed sigma only from the third on
        indicator.update_raw(price, 0.0)
    assert not indicator.initialized

    indicator.update_raw(103.0, 3.5)  # changes (1, 1): sigma 0, all buy -> 3 full buckets, 0.5 left

    assert indicator.buckets_completed == 3
    assert indicator.initialized
    assert indicator.value == 1.0


def test_bulk_buy_fraction_is_the_normal_cdf_and_handles_flat_sigma():
    assert bulk_buy_fraction(1.0, 1.0) == pytest.approx(0.8413447460685429, rel=1e-12)
    assert bulk_buy_fraction(-1.0, 1.0) == pytest.approx(1 - 0.8413447460685429, rel=1e-12)
    assert bulk_buy_fraction(0.0, 2.0) == 0.5
    assert (bulk_buy_fraction(1.0, 0.0), bulk_buy_fraction(-1.0, 0.0), bulk_buy_fraction(0.0, 0.0)) == (
        1.0,
        0.0,
        0.5,
    )
    assert math.isnan(bulk_buy_fraction(1.0, math.nan))


def test_vpin_refuses_the_source_it_was_not_built_for(trades):
    with pytest.raises(RuntimeError, match="source='bars'"):
        VPIN(1.0, source="bars").handle_trade_tick(trades[0])


def test_vpin_reset_clears_state(trades):
    indicator = VPIN(sum(t.size.as_double() for t in trades) / 50, 5, 10)
    first = stream(indicator, indicator.handle_trade_tick, trades)

    indicator.reset()
    assert not indicator.initialized and math.isnan(indicator.value) and indicator.buckets_completed == 0
    again = stream(indicator, indicator.handle_trade_tick, trades)

    np.testing.assert_array_equal(first, again)


# --------------------------------------------------------------------------------------------------
# Order-flow imbalance
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("window", [1, 10, 100, 500])
def test_order_flow_imbalance_streaming_equals_batch_on_binance_trades(trades, window):
    indicator = OrderFlowImbalance(window=window)

    streamed = stream(indicator, indicator.handle_trade_tick, trades)

    batch = order_flow_imbalance_batch(trade_arrays(trades)["signed"], window)
    np.testing.assert_allclose(streamed, batch, rtol=RTOL, atol=ATOL, equal_nan=True)
    assert np.isnan(streamed[: window - 1]).all() and np.isfinite(streamed[window - 1 :]).all()


@pytest.mark.parametrize("window_s", [1, 5, 30])
def test_order_flow_imbalance_time_window_streaming_equals_batch_on_binance_trades(trades, window_s):
    window_ns = window_s * 1_000_000_000
    indicator = OrderFlowImbalance(window_ns=window_ns)

    streamed = stream(indicator, indicator.handle_trade_tick, trades)

    arrays = trade_arrays(trades)
    batch = order_flow_imbalance_time_batch(arrays["ts"], arrays["signed"], window_ns)
    np.testing.assert_allclose(streamed, batch, rtol=RTOL, atol=ATOL, equal_nan=True)
    assert np.isfinite(streamed).any()


@pytest.mark.parametrize("kwargs", [{"window": 50}, {"window_ns": 2_000_000_000}])
def test_order_flow_imbalance_has_no_lookahead_on_binance_trades(trades, kwargs):
    assert_no_lookahead(lambda: OrderFlowImbalance(**kwargs), "handle_trade_tick", trades, low=100)


def test_order_flow_imbalance_ignores_no_aggressor_trades():
    with_noise, clean = OrderFlowImbalance(window=3), OrderFlowImbalance(window=3)
    flow = [(2.0, AggressorSide.BUYER), (1.0, AggressorSide.SELLER), (1.0, AggressorSide.BUYER)]

    for ts, (size, side) in enumerate(flow):
        with_noise.update_raw(100.0, AggressorSide.NO_AGGRESSOR, ts * 10)
        with_noise.update_raw(size, side, ts * 10 + 1)
        clean.update_raw(size, side, ts * 10 + 1)

    assert with_noise.value == clean.value == pytest.approx((3.0 - 1.0) / 4.0)
    only_noise = OrderFlowImbalance(window=1)
    only_noise.update_raw(1.0, AggressorSide.NO_AGGRESSOR, 0)
    assert not only_noise.has_inputs and math.isnan(only_noise.value)


def test_order_flow_imbalance_kernel_bounds():
    assert order_flow_imbalance([1.0, 2.0]) == 1.0
    assert order_flow_imbalance([-1.0, -2.0]) == -1.0
    assert order_flow_imbalance([0.0]) == 0.0
    assert math.isnan(order_flow_imbalance([]))


def test_order_flow_imbalance_reset_clears_state(trades):
    indicator = OrderFlowImbalance(window_ns=1_000_000_000)
    first = stream(indicator, indicator.handle_trade_tick, trades[:300])

    indicator.reset()
    assert not indicator.initialized and math.isnan(indicator.value)

    np.testing.assert_array_equal(stream(indicator, indicator.handle_trade_tick, trades[:300]), first)


# --------------------------------------------------------------------------------------------------
# Microprice
# --------------------------------------------------------------------------------------------------


def _quote_arrays(quotes: list[QuoteTick]) -> dict[str, np.ndarray]:
    return microprice_batch(
        np.array([q.bid_price.as_double() for q in quotes]),
        np.array([q.ask_price.as_double() for q in quotes]),
        np.array([q.bid_size.as_double() for q in quotes]),
        np.array([q.ask_size.as_double() for q in quotes]),
    )


def _stream_microprice(feed_name: str, events: list) -> dict[str, np.ndarray]:
    indicator = Microprice()
    feed = getattr(indicator, feed_name)
    names = ("value", "mid", "spread_bps", "microprice_drift_bps")
    out = {name: np.full(len(events), np.nan) for name in names}
    for i, event in enumerate(events):
        feed(event)
        for name in names:
            out[name][i] = getattr(indicator, name)
    return out


def test_microprice_streaming_equals_batch_on_binance_quotes(quotes):
    streamed = _stream_microprice("handle_quote_tick", quotes)

    batch = _quote_arrays(quotes)
    np.testing.assert_allclose(streamed["value"], batch["microprice"], rtol=RTOL)
    for name in ("mid", "spread_bps"):
        np.testing.assert_allclose(streamed[name], batch[name], rtol=RTOL)
    np.testing.assert_allclose(
        streamed["microprice_drift_bps"], batch["microprice_drift_bps"], rtol=1e-6, atol=1e-9
    )
    assert (batch["microprice"] >= np.array([q.bid_price.as_double() for q in quotes])).all()


def test_microprice_streaming_equals_batch_on_tardis_depth10(depth10):
    streamed = _stream_microprice("handle_depth10", depth10)

    batch = microprice_batch(
        *(np.array([getattr(d, side)[0].price.as_double() for d in depth10]) for side in ("bids", "asks")),
        *(np.array([getattr(d, side)[0].size.as_double() for d in depth10]) for side in ("bids", "asks")),
    )
    np.testing.assert_allclose(streamed["value"], batch["microprice"], rtol=RTOL)
    np.testing.assert_allclose(streamed["spread_bps"], batch["spread_bps"], rtol=RTOL)


def test_microprice_streaming_equals_batch_on_binance_book_replay(binance_book_replay):
    indicator = Microprice()
    streamed = []

    def on_book(book: OrderBook) -> None:
        indicator.update_book(book)
        streamed.append(indicator.value)

    replay_book(binance_book_replay, on_book)

    top = binance_book_replay["top"]
    batch = microprice_batch(top[:, 0], top[:, 1], top[:, 2], top[:, 3])["microprice"]
    two_sided = np.isfinite(batch)
    assert two_sided.sum() > 20 and not two_sided[:101].any()  # the snapshot holds bids only
    np.testing.assert_allclose(np.array(streamed)[two_sided], batch[two_sided], rtol=RTOL)
    assert np.isnan(np.array(streamed)[: np.argmax(two_sided)]).all()


def test_microprice_has_no_lookahead_on_binance_quotes(quotes):
    assert_no_lookahead(Microprice, "handle_quote_tick", quotes)


def test_microprice_moves_towards_the_thin_side():
    bid, ask = 100.0, 101.0

    thin_ask = microprice(bid, ask, bid_size=9.0, ask_size=1.0)
    thin_bid = microprice(bid, ask, bid_size=1.0, ask_size=9.0)
    balanced = microprice(bid, ask, bid_size=5.0, ask_size=5.0)

    assert balanced == 100.5
    assert thin_ask == pytest.approx(100.9) and thin_bid == pytest.approx(100.1)
    indicator = Microprice()
    indicator.update_raw(bid, ask, 9.0, 1.0)
    assert indicator.microprice_drift_bps > 0 and indicator.imbalance == pytest.approx(0.9)
    assert indicator.spread_bps == pytest.approx(1.0 / 100.5 * 1e4)


def test_microprice_skips_crossed_or_one_sided_tops_and_resets():
    indicator = Microprice()
    indicator.update_raw(101.0, 100.0, 1.0, 1.0)
    indicator.update_raw(0.0, 100.0, 1.0, 1.0)
    assert not indicator.initialized and math.isnan(indicator.value)

    indicator.update_raw(100.0, 100.5, 1.0, 1.0)
    assert indicator.initialized and indicator.value == 100.25

    indicator.reset()
    assert not indicator.initialized and math.isnan(indicator.spread_bps)


# --------------------------------------------------------------------------------------------------
# Book imbalance
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [1, 5, 10])
def test_book_imbalance_streaming_equals_batch_on_binance_book_replay(binance_book_replay, levels):
    indicator = BookImbalance(levels)
    streamed = []

    def on_book(book: OrderBook) -> None:
        indicator.update_book(book)
        streamed.append(indicator.value if indicator.initialized else math.nan)

    replay_book(binance_book_replay, on_book)

    batch = book_imbalance_batch(binance_book_replay["bid_sizes"], binance_book_replay["ask_sizes"], levels)
    full = np.isfinite(batch)
    assert full.sum() > 10
    np.testing.assert_allclose(np.array(streamed)[full], batch[full], rtol=RTOL, atol=ATOL)
    assert np.isnan(np.array(streamed)[: np.argmax(full)]).all()
    assert indicator.skipped_updates == int((~full).sum())


@pytest.mark.parametrize("levels", [1, 3, 10])
def test_book_imbalance_streaming_equals_batch_on_tardis_depth10(depth10, levels):
    indicator = BookImbalance(levels)

    streamed = stream(indicator, indicator.handle_depth10, depth10)

    bids = np.array([[o.size.as_double() for o in d.bids] for d in depth10])
    asks = np.array([[o.size.as_double() for o in d.asks] for d in depth10])
    np.testing.assert_allclose(streamed, book_imbalance_batch(bids, asks, levels), rtol=RTOL, atol=ATOL)


def test_book_imbalance_has_no_lookahead_on_tardis_depth10(depth10):
    assert_no_lookahead(lambda: BookImbalance(5), "handle_depth10", depth10, low=1)


def test_book_imbalance_is_positive_when_bids_dominate():
    indicator = BookImbalance(3)

    indicator.update_raw([5.0, 4.0, 3.0, 100.0], [1.0, 1.0, 1.0])

    assert indicator.value == pytest.approx((12.0 - 3.0) / 15.0)  # the 4th bid level is ignored
    assert indicator.value > 0
    assert book_imbalance([1.0], [3.0]) == -0.5
    assert book_imbalance([], []) == 0.0


def test_book_imbalance_skips_books_thinner_than_its_levels_and_resets():
    indicator = BookImbalance(2)

    indicator.update_raw([1.0, 1.0], [1.0])

    assert not indicator.initialized and math.isnan(indicator.value) and indicator.skipped_updates == 1
    indicator.update_raw([1.0, 1.0], [1.0, 3.0])
    assert indicator.initialized and indicator.value == pytest.approx(-1.0 / 3.0)
    indicator.reset()
    assert not indicator.initialized and math.isnan(indicator.value) and indicator.skipped_updates == 0


def test_book_imbalance_refuses_more_than_ten_levels_from_depth10(depth10):
    with pytest.raises(ValueError, match="levels=11"):
        BookImbalance(11).handle_depth10(depth10[0])


# --------------------------------------------------------------------------------------------------
# Guards
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "parameter"),
    [
        (lambda: VPIN(0.0), "bucket_size"),
        (lambda: VPIN(math.nan), "bucket_size"),
        (lambda: VPIN(1.0, n_buckets=0), "n_buckets"),
        (lambda: VPIN(1.0, sigma_window=1), "sigma_window"),
        (lambda: VPIN(1.0, source="quotes"), "source"),
        (lambda: OrderFlowImbalance(), "exactly one of window"),
        (lambda: OrderFlowImbalance(window=5, window_ns=5), "exactly one of window"),
        (lambda: OrderFlowImbalance(window=0), "window must be"),
        (lambda: OrderFlowImbalance(window_ns=0), "window_ns must be"),
        (lambda: BookImbalance(0), "levels"),
    ],
)
def test_constructors_reject_bad_parameters_naming_the_parameter(build, parameter):
    with pytest.raises(ValueError, match=parameter):
        build()
