"""Microstructure indicators registered in a real BacktestEngine on real Binance BTCUSDT ticks.

An actor registers VPIN and OrderFlowImbalance for trade ticks and Microprice for quote ticks, and
records their values in ``on_trade_tick`` / ``on_quote_tick`` (indicators are updated before the
handler runs). The recorded values equal the batch twins over the same ticks.
"""

import math

import numpy as np
import pytest
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.model.data import QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai import test_kit
from nautilus_ai.indicators.microprice import Microprice
from nautilus_ai.indicators.microstructure_kernels import (
    microprice_batch,
    order_flow_imbalance_batch,
    vpin_batch,
)
from nautilus_ai.indicators.order_flow import OrderFlowImbalance
from nautilus_ai.indicators.vpin import VPIN

RTOL = 1e-9
FLOW_WINDOW = 50
N_BUCKETS, SIGMA_WINDOW = 10, 20


class RecorderConfig(ActorConfig, frozen=True):
    instrument_id: InstrumentId
    bucket_size: float


class MicrostructureRecorder(Actor):
    """Register the indicators for the instrument's ticks; record their values after each tick."""

    def __init__(self, config: RecorderConfig) -> None:
        super().__init__(config)
        self.vpin = VPIN(config.bucket_size, N_BUCKETS, SIGMA_WINDOW, source="trades")
        self.flow = OrderFlowImbalance(window=FLOW_WINDOW)
        self.micro = Microprice()
        self.trade_values: list[tuple[float, float]] = []
        self.quote_values: list[float] = []

    def on_start(self) -> None:
        instrument_id = self.config.instrument_id
        self.register_indicator_for_trade_ticks(instrument_id, self.vpin)
        self.register_indicator_for_trade_ticks(instrument_id, self.flow)
        self.register_indicator_for_quote_ticks(instrument_id, self.micro)
        self.subscribe_trade_ticks(instrument_id)
        self.subscribe_quote_ticks(instrument_id)

    def on_trade_tick(self, tick: TradeTick) -> None:
        self.trade_values.append(
            (
                self.vpin.value if self.vpin.initialized else math.nan,
                self.flow.value if self.flow.initialized else math.nan,
            )
        )

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self.quote_values.append(self.micro.value)


@pytest.fixture(scope="module")
def binance_ticks():
    if test_kit.shared_data_dir() is None:
        pytest.skip("the shared data folder (../shared/data) is not present")
    instrument, trades, quotes = test_kit.binance_btcusdt_ticks()
    return instrument, trades, quotes


@pytest.fixture(scope="module")
def recorded(binance_ticks):
    instrument, trades, quotes = binance_ticks
    bucket_size = sum(t.size.as_double() for t in trades) / 60
    engine = test_kit.make_backtest_engine([instrument])
    try:
        engine.add_data(trades)
        engine.add_data(quotes)
        actor = MicrostructureRecorder(RecorderConfig(instrument_id=instrument.id, bucket_size=bucket_size))
        engine.add_actor(actor)
        engine.run()
        return bucket_size, np.array(actor.trade_values), np.array(actor.quote_values)
    finally:
        engine.dispose()


def test_engine_delivers_every_real_tick_to_the_registered_indicators(binance_ticks, recorded):
    _, trades, quotes = binance_ticks
    _, trade_values, quote_values = recorded

    assert trade_values.shape == (len(trades), 2)
    assert len(quote_values) == len(quotes)


def test_vpin_in_the_engine_equals_its_batch_twin_on_binance_trades(binance_ticks, recorded):
    _, trades, _ = binance_ticks
    bucket_size, trade_values, _ = recorded
    prices = np.array([t.price.as_double() for t in trades])
    sizes = np.array([t.size.as_double() for t in trades])

    batch = vpin_batch(prices, sizes, bucket_size, N_BUCKETS, SIGMA_WINDOW)

    np.testing.assert_allclose(trade_values[:, 0], batch, rtol=RTOL, atol=1e-12, equal_nan=True)
    assert np.isfinite(batch).sum() > len(trades) // 4


def test_order_flow_imbalance_in_the_engine_equals_its_batch_twin_on_binance_trades(binance_ticks, recorded):
    _, trades, _ = binance_ticks
    _, trade_values, _ = recorded
    signed = np.array(
        [t.size.as_double() * (1.0 if t.aggressor_side == AggressorSide.BUYER else -1.0) for t in trades]
    )

    batch = order_flow_imbalance_batch(signed, FLOW_WINDOW)

    np.testing.assert_allclose(trade_values[:, 1], batch, rtol=RTOL, atol=1e-12, equal_nan=True)


def test_microprice_in_the_engine_equals_its_batch_twin_on_binance_quotes(binance_ticks, recorded):
    _, _, quotes = binance_ticks
    _, _, quote_values = recorded

    batch = microprice_batch(
        np.array([q.bid_price.as_double() for q in quotes]),
        np.array([q.ask_price.as_double() for q in quotes]),
        np.array([q.bid_size.as_double() for q in quotes]),
        np.array([q.ask_size.as_double() for q in quotes]),
    )["microprice"]

    np.testing.assert_allclose(quote_values, batch, rtol=RTOL)
