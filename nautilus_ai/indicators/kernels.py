"""Numeric kernels of nautilus-ai's own indicators: pure functions over floats and arrays.

The streaming kernels work on a fixed-size window (constant cost per event); the batch kernels compute the
same quantity over a whole array and exist to be tested against the streaming form
(``tests/unit/indicators/test_kernels.py``). No NautilusTrader types and no I/O here.
"""

import math
from collections.abc import Sequence

import numpy as np


def window_mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Return the mean and the sample standard deviation (ddof=1) of a window of values.

    Two passes over the window (exactly rounded sums via ``math.fsum``), so there is neither drift
    over a long stream nor cancellation on windows whose spread is tiny against their level; the
    windows are small and fixed, so the cost per event is constant. The standard deviation is NaN
    with fewer than two values; the mean is NaN for an empty window.
    """
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = math.fsum(values) / n
    if n < 2:
        return mean, math.nan
    variance = math.fsum((x - mean) ** 2 for x in values) / (n - 1)
    return mean, math.sqrt(variance)


def log_return(previous: float, current: float) -> float:
    """Return ``log(current / previous)`` (NaN unless both prices are positive)."""
    if previous <= 0.0 or current <= 0.0:
        return math.nan
    return math.log(current / previous)


def zscore(x: float, mean: float, std: float) -> float:
    """Return ``(x - mean) / std``, or 0.0 when ``std`` is zero, NaN when undefined."""
    if math.isnan(std) or math.isnan(mean):
        return math.nan
    if std == 0.0:
        return 0.0
    return (x - mean) / std


def rolling_std_batch(values: np.ndarray, window: int) -> np.ndarray:
    """Return the sample standard deviation (ddof=1) of each trailing window (NaN before it fills)."""
    out = np.full(values.shape, np.nan)
    for end in range(window, len(values) + 1):
        out[end - 1] = np.std(values[end - window : end], ddof=1)
    return out


def log_returns_batch(close: np.ndarray) -> np.ndarray:
    """Return the one-period log returns of ``close`` (NaN for the first element)."""
    out = np.full(close.shape, np.nan)
    out[1:] = np.log(close[1:] / close[:-1])
    return out


def realized_volatility_batch(close: np.ndarray, window: int) -> np.ndarray:
    """Return the trailing standard deviation of one-period log returns over ``window`` returns."""
    returns = log_returns_batch(close)
    out = np.full(close.shape, np.nan)
    out[1:] = rolling_std_batch(returns[1:], window)
    return out


def volume_zscore_batch(volume: np.ndarray, window: int) -> np.ndarray:
    """Return the z-score of each volume against its trailing window (the current bar included)."""
    out = np.full(volume.shape, np.nan)
    for end in range(window, len(volume) + 1):
        w = volume[end - window : end]
        std = np.std(w, ddof=1)
        out[end - 1] = 0.0 if std == 0 else (volume[end - 1] - w.mean()) / std
    return out
