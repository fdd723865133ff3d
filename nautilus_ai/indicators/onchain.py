"""On-chain features: the log-difference over ``k`` observations and the rolling z-score of log values.

For one metric (``btc_n_unique_addresses``...) each positive observation ``x_t`` contributes
``log(x_t)``; the features at that observation are

* ``log_diff = log(x_t) - log(x_{t-k})`` (``k`` positive observations back), and
* ``zscore = (log(x_t) - mean) / std`` over the last ``window`` log values (the current one
  included, sample std), 0 when the window is constant.

A non-positive observation has no logarithm: it is ignored (both features NaN for it, the window
unchanged). The pure kernel :func:`onchain_feature_step` holds the arithmetic; the streaming
:class:`OnChainFeature` indicator calls it once per observation (constant cost), and
:func:`onchain_features_batch` computes the same over a whole array, to be tested against it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

import numpy as np
from nautilus_trader.indicators import Indicator

from nautilus_ai.catalog.types import OnChainMetric
from nautilus_ai.indicators.kernels import window_mean_std, zscore


def onchain_feature_step(logs: Sequence[float], k: int, window: int) -> tuple[float, float]:
    """Return ``(log_diff, zscore)`` at the last element of ``logs`` (the recent log values).

    ``logs`` holds at least the last ``max(k + 1, window)`` log values when that many exist; a
    feature lacking history is NaN.
    """
    n = len(logs)
    log_diff = logs[-1] - logs[-1 - k] if n > k else math.nan
    if n >= window:
        recent = list(logs)[n - window :]
        mean, std = window_mean_std(recent)
        z = zscore(logs[-1], mean, std)
    else:
        z = math.nan
    return log_diff, z


def onchain_features_batch(values: np.ndarray, k: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the ``log_diff`` and ``zscore`` arrays of a metric's observations (NaN where undefined)."""
    values = np.asarray(values, dtype=np.float64)
    log_diff = np.full(values.shape, np.nan)
    z = np.full(values.shape, np.nan)
    positions = np.flatnonzero(np.isfinite(values) & (values > 0))
    logs = np.log(values[positions])
    if len(logs) > k:
        log_diff[positions[k:]] = logs[k:] - logs[:-k]
    for end in range(window, len(logs) + 1):
        w = logs[end - window : end]
        std = np.std(w, ddof=1)
        z[positions[end - 1]] = 0.0 if std == 0 else (logs[end - 1] - w.mean()) / std
    return log_diff, z


class OnChainFeature(Indicator):
    """The log-difference and rolling log z-score of one on-chain metric, updated per observation.

    Parameters
    ----------
    metric : str
        The metric whose ``OnChainMetric`` objects update the indicator (others are ignored).
    k : int
        The log-difference lag in observations (>= 1).
    window : int
        The z-score window in observations (>= 2).

    """

    def __init__(self, metric: str, k: int = 1, window: int = 30) -> None:
        if not metric:
            raise ValueError("OnChainFeature: metric must be a non-empty column name")
        if k < 1:
            raise ValueError(f"OnChainFeature: k must be >= 1, was {k}")
        if window < 2:
            raise ValueError(f"OnChainFeature: window must be >= 2, was {window}")
        super().__init__(params=[metric, k, window])
        self.metric = metric
        self.k = k
        self.window = window
        self.log_diff = math.nan
        self.zscore = math.nan
        self._logs: deque[float] = deque(maxlen=max(k + 1, window))

    def handle_metric(self, data: OnChainMetric) -> None:
        """Update the indicator with an on-chain metric object (ignored unless its metric matches)."""
        if data.metric == self.metric:
            self.update_raw(data.value)

    def update_raw(self, value: float) -> None:
        """Update the indicator with one observation of the metric."""
        if not self.has_inputs:
            self._set_has_inputs(True)
        if not value > 0.0 or math.isinf(value):
            self.log_diff = math.nan
            self.zscore = math.nan
            return
        self._logs.append(math.log(value))
        self.log_diff, self.zscore = onchain_feature_step(self._logs, self.k, self.window)
        if not self.initialized and len(self._logs) > self.k and len(self._logs) >= self.window:
            self._set_initialized(True)

    def _reset(self) -> None:
        self.log_diff = math.nan
        self.zscore = math.nan
        self._logs.clear()
