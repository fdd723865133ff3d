"""Optional FeatureSpec features through the FeatureActor: range volatility, VPIN, order flow, microprice.

Bar features are compared with their batch twins on the real AAPL daily bars (streaming equals
batch, and cutting the future leaves past vectors unchanged). Tick features run on real Binance
BTCUSDT trades and quotes with one-second bars aggregated inside the engine as the sampling clock,
and every published value equals a standalone indicator fed the same ticks up to the bar.
"""

import math

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.model.data import BarType

from nautilus_ai import test_kit
from nautilus_ai.indicators.batch_features import bars_to_frame
from nautilus_ai.indicators.feature_spec import FeatureSpec
from nautilus_ai.indicators.microprice import Microprice
from nautilus_ai.indicators.microstructure_kernels import (
    garman_klass_volatility_batch,
    parkinson_volatility_batch,
    vpin_batch,
)
from nautilus_ai.indicators.order_flow import OrderFlowImbalance
from nautilus_ai.indicators.vpin import VPIN

BAR_SPEC = FeatureSpec(range_volatility_window=20, vpin_bucket_volume=2.0e8, vpin_buckets=10)


run_actor = test_kit.replay_feature_actor


@pytest.fixture(scope="module")
def aapl(tmp_path_factory):
    bar_type, bars = test_kit.stocknet_bars("AAPL")
    instrument = test_kit.stocknet_equity("AAPL")
    full = run_actor(instrument, bar_type, [bars], BAR_SPEC, tmp_path_factory.mktemp("full") / "f.parquet")
    prices = bars_to_frame(bars)
    return instrument, bar_type, bars, prices, full


def test_optional_bar_features_are_named_in_order():
    assert BAR_SPEC.feature_names()[-3:] == ["parkinson_vol", "garman_klass_vol", "vpin"]
    assert FeatureSpec().fingerprint() != BAR_SPEC.fingerprint()


@pytest.mark.parametrize("feature", ["parkinson_vol", "garman_klass_vol", "vpin"])
def test_optional_bar_feature_streaming_equals_batch_on_aapl(aapl, feature):
    _, _, _, prices, full = aapl
    if feature == "parkinson_vol":
        batch = parkinson_volatility_batch(prices["high"].to_numpy(), prices["low"].to_numpy(), 20)
    elif feature == "garman_klass_vol":
        batch = garman_klass_volatility_batch(
            *(prices[c].to_numpy() for c in ("open", "high", "low", "close")), 20
        )
    else:
        batch = vpin_batch(prices["close"].to_numpy(), prices["volume"].to_numpy(), 2.0e8, 10, 50)
    expected = pd.Series(batch, index=prices.index).reindex(full.index)

    np.testing.assert_allclose(full[feature].to_numpy(), expected.to_numpy(), rtol=1e-9, equal_nan=True)
    assert full[feature].notna().sum() > 1000


def test_optional_bar_features_do_not_change_when_the_future_is_cut(aapl, tmp_path):
    instrument, bar_type, bars, _, full = aapl
    cut = 700
    prefix = run_actor(instrument, bar_type, [bars[:cut]], BAR_SPEC, tmp_path / "p.parquet")
    columns = ["parkinson_vol", "garman_klass_vol", "vpin"]

    pd.testing.assert_frame_equal(prefix[columns], full.loc[prefix.index, columns])


@pytest.fixture(scope="module")
def binance(tmp_path_factory):
    if test_kit.shared_data_dir() is None:
        pytest.skip("the shared data folder (../shared/data) is not present")
    instrument, trades, quotes = test_kit.binance_btcusdt_ticks()
    bucket = sum(t.size.as_double() for t in trades) / 40
    spec = FeatureSpec(
        return_horizons=(1,),
        rsi_period=2,
        ema_periods=(2,),
        atr_period=2,
        volatility_window=2,
        volume_window=2,
        vpin_bucket_volume=bucket,
        vpin_buckets=5,
        vpin_source="trades",
        order_flow_window=50,
        microprice=True,
    )
    bar_type = BarType.from_str(f"{instrument.id}-1-SECOND-LAST-INTERNAL")
    frame = run_actor(
        instrument, bar_type, [trades, quotes], spec, tmp_path_factory.mktemp("ticks") / "t.parquet"
    )
    return instrument, trades, quotes, spec, frame


def test_tick_features_equal_standalone_indicators_fed_up_to_each_bar(binance):
    _, trades, quotes, spec, frame = binance
    vpin = VPIN(spec.vpin_bucket_volume, n_buckets=spec.vpin_buckets, source="trades")
    flow = OrderFlowImbalance(window=spec.order_flow_window)
    micro = Microprice()
    events = sorted(
        [(t.ts_init, 0, t) for t in trades] + [(q.ts_init, 1, q) for q in quotes], key=lambda e: e[:2]
    )
    position = 0
    compared = 0
    for ts, row in zip(frame["ts_init"], frame.itertuples(), strict=True):
        while position < len(events) and events[position][0] <= ts:
            _, kind, event = events[position]
            if kind == 0:
                vpin.handle_trade_tick(event)
                flow.handle_trade_tick(event)
            else:
                micro.handle_quote_tick(event)
            position += 1
        for name, indicator, value in (
            ("vpin", vpin, vpin.value),
            ("order_flow_imbalance", flow, flow.value),
            ("spread_bps", micro, micro.spread_bps),
            ("microprice_drift_bps", micro, micro.microprice_drift_bps),
        ):
            got = getattr(row, name)
            if indicator.initialized:
                assert got == pytest.approx(value, rel=1e-12, abs=1e-15), (name, ts)
                compared += 1
            else:
                assert math.isnan(got), (name, ts)
    assert compared > 100
    assert (frame["spread_bps"].dropna() > 0).all()
