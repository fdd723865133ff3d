"""Parkinson and Garman-Klass range volatility: streaming equals batch on real FTX minute bars."""

import math

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.model.data import BarType
from nautilus_trader.test_kit.providers import TestInstrumentProvider

from nautilus_ai import test_kit
from nautilus_ai.indicators.microstructure_kernels import (
    garman_klass_variance,
    garman_klass_volatility_batch,
    parkinson_variance,
    parkinson_volatility_batch,
)
from nautilus_ai.indicators.range_volatility import GarmanKlassVolatility, ParkinsonVolatility

RTOL = 1e-9
N_CUTS = 4
CUT_SEED = 20_240_612


@pytest.fixture(scope="module")
def ftx() -> pd.DataFrame:
    frame = pd.read_csv(test_kit.bundled_data_dir() / "bars_intraday" / "btc-perp-20211231-20220201_1m.csv")
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("timestamp"), utc=True)) + pd.Timedelta(minutes=1)
    return frame


def stream_raw(indicator, frame: pd.DataFrame) -> np.ndarray:
    out = np.full(len(frame), np.nan)
    values = frame[["open", "high", "low", "close"]].to_numpy()
    for i, (o, h, low, c) in enumerate(values):
        indicator.update_raw(float(o), float(h), float(low), float(c))
        if indicator.initialized:
            out[i] = indicator.value
    return out


def batch_for(cls, frame: pd.DataFrame, window: int) -> np.ndarray:
    if cls is ParkinsonVolatility:
        return parkinson_volatility_batch(frame["high"].to_numpy(), frame["low"].to_numpy(), window)
    return garman_klass_volatility_batch(
        frame["open"].to_numpy(),
        frame["high"].to_numpy(),
        frame["low"].to_numpy(),
        frame["close"].to_numpy(),
        window,
    )


@pytest.mark.parametrize("cls", [ParkinsonVolatility, GarmanKlassVolatility])
@pytest.mark.parametrize("window", [1, 30, 120])
def test_range_volatility_streaming_equals_batch_on_ftx_minute_bars(ftx, cls, window):
    indicator = cls(window)

    streamed = stream_raw(indicator, ftx)

    batch = batch_for(cls, ftx, window)
    np.testing.assert_allclose(streamed, batch, rtol=RTOL, atol=1e-15, equal_nan=True)
    assert np.isnan(streamed[: window - 1]).all() and np.isfinite(streamed[window - 1 :]).all()


def test_parkinson_batch_equals_pandas_rolling_formula(ftx):
    expected = np.sqrt((np.log(ftx["high"] / ftx["low"]) ** 2 / (4 * math.log(2))).rolling(60).mean())

    np.testing.assert_allclose(
        batch_for(ParkinsonVolatility, ftx, 60), expected.to_numpy(), rtol=1e-7, equal_nan=True
    )


@pytest.mark.parametrize("cls", [ParkinsonVolatility, GarmanKlassVolatility])
def test_range_volatility_has_no_lookahead_on_ftx_bars(ftx, cls):
    bars = ftx.iloc[:10_000]
    full = stream_raw(cls(30), bars)
    rng = np.random.default_rng(CUT_SEED)

    for cut in sorted(int(c) for c in rng.choice(np.arange(31, len(bars) - 1), N_CUTS, replace=False)):
        np.testing.assert_array_equal(
            stream_raw(cls(30), bars.iloc[:cut]), full[:cut], err_msg=f"cut at bar {cut}"
        )


@pytest.mark.parametrize("cls", [ParkinsonVolatility, GarmanKlassVolatility])
def test_range_volatility_handle_bar_equals_update_raw_on_ftx_bars(ftx, cls):
    instrument = TestInstrumentProvider.btcusdt_perp_binance()
    frame = ftx.iloc[:2000]
    bars = test_kit.wrangle_bars(
        BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-EXTERNAL"), instrument, frame
    )
    by_bar, by_raw = cls(60), cls(60)

    for bar in bars:
        by_bar.handle_bar(bar)
        by_raw.update_raw(
            bar.open.as_double(), bar.high.as_double(), bar.low.as_double(), bar.close.as_double()
        )

    assert by_bar.initialized and by_bar.value == by_raw.value
    assert by_bar.value == pytest.approx(batch_for(cls, frame, 60)[-1], rel=RTOL)


def test_garman_klass_is_below_parkinson_when_bars_close_far_from_open():
    # A bar that opens at its low and closes at its high: the close-to-open term reduces GK's estimate.
    assert garman_klass_variance(100.0, 101.0, 100.0, 101.0) < parkinson_variance(101.0, 100.0)
    assert parkinson_variance(100.0, 100.0) == 0.0
    assert garman_klass_variance(100.0, 100.0, 100.0, 100.0) == 0.0


def test_range_volatility_skips_invalid_bars_and_resets():
    indicator = ParkinsonVolatility(2)
    indicator.update_raw(1.0, 1.0, 0.0, 1.0)  # non-positive low
    indicator.update_raw(1.0, 0.9, 1.0, 1.0)  # high below low
    assert indicator.has_inputs and not indicator.initialized and math.isnan(indicator.value)

    indicator.update_raw(100.0, 101.0, 99.0, 100.0)
    indicator.update_raw(100.0, 101.0, 99.0, 100.0)
    assert indicator.value == pytest.approx(math.sqrt(math.log(101 / 99) ** 2 / (4 * math.log(2))))

    indicator.reset()
    assert not indicator.initialized and math.isnan(indicator.value)


@pytest.mark.parametrize("cls", [ParkinsonVolatility, GarmanKlassVolatility])
def test_range_volatility_rejects_a_window_below_one(cls):
    with pytest.raises(ValueError, match="window must be >= 1"):
        cls(0)
