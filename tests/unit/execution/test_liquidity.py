"""LiquidityState: validation, sides, and a state built from real Binance BTCUSDT ticks."""

import dataclasses

import numpy as np
import pytest

from nautilus_ai.errors import DataError
from nautilus_ai.execution.liquidity import LiquidityState
from nautilus_ai.execution.selector import SelectorConfig, select_order_type
from nautilus_ai.indicators.microstructure_kernels import (
    book_imbalance,
    microprice_drift_bps,
    spread_bps,
    vpin_batch,
)
from nautilus_ai.test_kit import binance_btcusdt_ticks, shared_data_dir

BOOK = LiquidityState(
    spread_bps=1.0,
    bid_depth=(1.0, 2.0, 3.0),
    ask_depth=(4.0, 5.0),
    book_imbalance=-0.2,
    microprice_drift_bps=0.1,
    vpin=0.4,
    volatility_bps=5.0,
    trade_intensity=2.0,
    typical_bar_volume=100.0,
)


def test_an_order_takes_the_opposite_side_and_joins_its_own():
    assert BOOK.depth_to_take("BUY") == 9.0
    assert BOOK.depth_to_take("SELL") == 6.0
    assert BOOK.touch_size("BUY") == 1.0 and BOOK.touch_size("SELL") == 4.0
    assert BOOK.levels == 3


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("spread_bps", -1.0),
        ("vpin", 1.5),
        ("book_imbalance", 2.0),
        ("typical_bar_volume", float("nan")),
        ("trade_intensity", -0.1),
        ("bid_depth", (1.0, -1.0)),
        ("microprice_drift_bps", float("inf")),
    ],
)
def test_out_of_range_fields_raise_naming_the_field(field, value):
    with pytest.raises(DataError, match=f"field '{field}'"):
        dataclasses.replace(BOOK, **{field: value})


def test_bad_side_is_rejected():
    with pytest.raises(DataError, match="side"):
        BOOK.depth_to_take("HOLD")


@pytest.mark.skipif(shared_data_dir() is None, reason="needs ../shared/data")
def test_a_state_built_from_real_binance_ticks_routes_small_and_large_orders_differently():
    instrument, trades, quotes = binance_btcusdt_ticks()
    prices = np.array([t.price.as_double() for t in trades])
    sizes = np.array([t.size.as_double() for t in trades])
    seconds = (trades[-1].ts_event - trades[0].ts_event) / 1e9
    last = quotes[-1]
    bid, ask = last.bid_price.as_double(), last.ask_price.as_double()
    bid_size, ask_size = last.bid_size.as_double(), last.ask_size.as_double()
    vpin = vpin_batch(prices, sizes, bucket_size=sizes.sum() / 40, n_buckets=10, sigma_window=20)
    returns_bps = np.diff(np.log(prices)) * 1e4

    state = LiquidityState(
        spread_bps=spread_bps(bid, ask),
        bid_depth=(bid_size,),
        ask_depth=(ask_size,),
        book_imbalance=book_imbalance([bid_size], [ask_size]),
        microprice_drift_bps=microprice_drift_bps(bid, ask, bid_size, ask_size),
        vpin=float(vpin[~np.isnan(vpin)][-1]),
        volatility_bps=float(returns_bps.std()),
        trade_intensity=len(trades) / seconds,
        typical_bar_volume=sizes.sum() / seconds * 60.0,  # one-minute bars
    )
    config = SelectorConfig(lot=float(instrument.size_increment))
    small = select_order_type(float(instrument.size_increment) * 10, "BUY", state, 0.5, 30, config)
    large = select_order_type(50.0, "BUY", state, 0.5, 30, config)
    urgent_large = select_order_type(50.0, "BUY", state, 0.8, 30, config)

    assert 0.0 < state.spread_bps < 5.0  # BTCUSDT on Binance: a cent or so on 39,000
    assert 30.0 < state.trade_intensity < 60.0  # 2,001 trades in 46 s
    assert 0.0 <= state.vpin <= 1.0
    assert small.kind in ("market", "limit")
    assert large.kind == "vwap" and large.params["horizon_bars"] >= 5  # 50 BTC is ~44% of a minute
    assert urgent_large.kind == "twap"
