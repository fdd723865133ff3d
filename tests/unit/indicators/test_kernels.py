"""The streaming kernels and indicators equal their batch forms on real AAPL daily data."""

import itertools
import math
from collections import deque

import numpy as np
import pytest

from nautilus_ai import test_kit
from nautilus_ai.indicators.kernels import (
    log_return,
    log_returns_batch,
    realized_volatility_batch,
    rolling_std_batch,
    volume_zscore_batch,
    window_mean_std,
    zscore,
)
from nautilus_ai.indicators.realized_volatility import RealizedVolatility
from nautilus_ai.indicators.volume_zscore import VolumeZScore

RTOL = 1e-9


@pytest.fixture(scope="module")
def aapl():
    return test_kit.read_stocknet_daily("AAPL")


def _stream_window(values: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    means, stds = np.full(values.shape, np.nan), np.full(values.shape, np.nan)
    recent: deque[float] = deque(maxlen=window)
    for i, x in enumerate(values):
        recent.append(float(x))
        if i >= window - 1:
            means[i], stds[i] = window_mean_std(recent)
    return means, stds


@pytest.mark.parametrize("window", [2, 3, 5, 20, 60])
def test_window_stream_equals_numpy_mean_and_std_on_aapl_returns(aapl, window):
    returns = log_returns_batch(aapl["close"].to_numpy())[1:]

    means, stds = _stream_window(returns, window)

    views = np.lib.stride_tricks.sliding_window_view(returns, window)
    np.testing.assert_allclose(means[window - 1 :], views.mean(axis=1), rtol=RTOL, atol=1e-15)
    np.testing.assert_allclose(stds[window - 1 :], views.std(axis=1, ddof=1), rtol=RTOL)
    assert np.isnan(stds[: window - 1]).all()


@pytest.mark.parametrize("window", [5, 20])
def test_window_stream_equals_numpy_on_aapl_volumes(aapl, window):
    volume = aapl["volume"].to_numpy()

    means, stds = _stream_window(volume, window)

    views = np.lib.stride_tricks.sliding_window_view(volume, window)
    np.testing.assert_allclose(means[window - 1 :], views.mean(axis=1), rtol=RTOL)
    np.testing.assert_allclose(stds[window - 1 :], views.std(axis=1, ddof=1), rtol=RTOL)


def test_window_mean_std_is_nan_when_empty_and_std_nan_with_one_value():
    assert all(math.isnan(v) for v in window_mean_std([]))

    mean, std = window_mean_std([3.0])

    assert mean == 3.0
    assert math.isnan(std)


def test_window_mean_std_is_zero_for_a_constant_window():
    window = [101.37] * 5

    assert window_mean_std(window) == pytest.approx((101.37, 0.0))
    assert window_mean_std(window)[1] == 0.0


def test_rolling_std_batch_equals_numpy_sliding_window(aapl):
    close = aapl["close"].to_numpy()

    out = rolling_std_batch(close, 10)

    expected = np.lib.stride_tricks.sliding_window_view(close, 10).std(axis=1, ddof=1)
    np.testing.assert_allclose(out[9:], expected, rtol=RTOL)
    assert np.isnan(out[:9]).all()


def test_log_return_equals_numpy_log_ratio_and_is_nan_for_non_positive_prices(aapl):
    close = aapl["close"].to_numpy()

    streamed = np.array([log_return(a, b) for a, b in itertools.pairwise(close)])

    np.testing.assert_allclose(streamed, np.log(close[1:] / close[:-1]), rtol=RTOL)
    np.testing.assert_allclose(log_returns_batch(close)[1:], streamed, rtol=RTOL)
    assert math.isnan(log_return(0.0, 1.0))
    assert math.isnan(log_return(1.0, -1.0))


@pytest.mark.parametrize(
    ("x", "mean", "std", "expected"),
    [
        (3.0, 1.0, 2.0, 1.0),
        (1.0, 1.0, 0.0, 0.0),
        (1.0, math.nan, 1.0, math.nan),
        (1.0, 1.0, math.nan, math.nan),
    ],
)
def test_zscore_decision_table(x, mean, std, expected):
    result = zscore(x, mean, std)

    assert result == pytest.approx(expected, nan_ok=True)


@pytest.mark.parametrize("window", [2, 3, 20, 63])
def test_realized_volatility_streaming_equals_batch_on_aapl(aapl, window):
    close = aapl["close"].to_numpy()
    indicator = RealizedVolatility(window)

    streamed = []
    for x in close:
        indicator.update_raw(float(x))
        streamed.append(indicator.value if indicator.initialized else math.nan)

    batch = realized_volatility_batch(close, window)
    np.testing.assert_allclose(np.array(streamed), batch, rtol=RTOL, equal_nan=True)
    assert np.isnan(batch[:window]).all()
    assert not np.isnan(batch[window:]).any()


def test_realized_volatility_batch_equals_pandas_rolling_std_of_log_returns(aapl):
    close = aapl["close"]

    batch = realized_volatility_batch(close.to_numpy(), 20)

    expected = np.log(close / close.shift(1)).rolling(20).std(ddof=1).to_numpy()
    np.testing.assert_allclose(batch, expected, rtol=1e-7, equal_nan=True)


@pytest.mark.parametrize("window", [2, 3, 20, 63])
def test_volume_zscore_streaming_equals_batch_on_aapl(aapl, window):
    volume = aapl["volume"].to_numpy()
    indicator = VolumeZScore(window)

    streamed = []
    for x in volume:
        indicator.update_raw(float(x))
        streamed.append(indicator.value if indicator.initialized else math.nan)

    batch = volume_zscore_batch(volume, window)
    np.testing.assert_allclose(np.array(streamed), batch, rtol=RTOL, atol=1e-9, equal_nan=True)
    assert np.isnan(batch[: window - 1]).all()


def test_realized_volatility_handle_bar_equals_update_raw_on_aapl_bars():
    _, bars = test_kit.stocknet_bars("AAPL")
    by_bar, by_raw = RealizedVolatility(20), RealizedVolatility(20)

    for bar in bars:
        by_bar.handle_bar(bar)
        by_raw.update_raw(bar.close.as_double())

    assert by_bar.value == by_raw.value
    assert by_bar.initialized


def test_realized_volatility_reset_then_replay_gives_the_same_value(aapl):
    close = aapl["close"].to_numpy()[:100]
    indicator = RealizedVolatility(20)
    for x in close:
        indicator.update_raw(float(x))
    first = indicator.value

    indicator.reset()
    assert not indicator.initialized and math.isnan(indicator.value)
    for x in close:
        indicator.update_raw(float(x))

    assert indicator.value == pytest.approx(first, rel=RTOL)


def test_volume_zscore_reset_clears_state(aapl):
    indicator = VolumeZScore(5)
    for x in aapl["volume"].to_numpy()[:10]:
        indicator.update_raw(float(x))

    indicator.reset()

    assert not indicator.initialized
    assert math.isnan(indicator.value)


@pytest.mark.parametrize("cls", [RealizedVolatility, VolumeZScore])
def test_window_indicators_reject_windows_below_two(cls):
    with pytest.raises(ValueError, match="window must be >= 2"):
        cls(1)
