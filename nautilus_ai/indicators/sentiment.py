"""Sentiment features at a decision time: time-decayed mean score, message count and dispersion.

Point-in-time (ARCHITECTURE rule 2): a score counts at a decision time ``t`` only if its time stamp
(``SentimentScore.ts_init``, when nautilus-ai knew it) is ``<= t``. Scores may be fed ahead of the
decision times (for example a whole day of tweets before the 16:00 bar is evaluated): they wait in a
pending queue and are folded in only when a decision time reaches them, so a tweet at 16:05 does not
change the 16:00 value.

Features at ``t``:

* ``decayed_mean`` -- ``sum(w_i * s_i) / sum(w_i)`` over every score so far, ``w_i = 0.5 ** ((t - ts_i) /
  half_life)``; the ratio does not depend on ``t`` beyond which scores are included, so it is kept
  incrementally (NaN before the first score);
* ``message_count`` -- the number of scores with ``t - window < ts_i <= t``;
* ``dispersion`` -- their sample standard deviation (ddof=1; NaN with fewer than two).

The pure kernels below are the single source of the arithmetic; :func:`sentiment_features_batch` computes
the same features from their definition and exists to be tested against the streaming form.
"""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple

import numpy as np
from nautilus_trader.indicators import Indicator

from nautilus_ai.catalog.types import SentimentScore
from nautilus_ai.indicators.kernels import window_mean_std


class SentimentFeatures(NamedTuple):
    """The sentiment features at one decision time."""

    decayed_mean: float
    message_count: int
    dispersion: float


def decay_factor(elapsed_ns: int, half_life_ns: int) -> float:
    """Return ``0.5 ** (elapsed_ns / half_life_ns)``, the weight left after ``elapsed_ns``."""
    return 0.5 ** (elapsed_ns / half_life_ns)


def decayed_sums_step(
    weighted_sum: float, weight_sum: float, elapsed_ns: int, score: float, half_life_ns: int
) -> tuple[float, float]:
    """Decay the running sums by ``elapsed_ns`` since the last score, then add ``score`` with weight 1."""
    factor = decay_factor(elapsed_ns, half_life_ns)
    return weighted_sum * factor + score, weight_sum * factor + 1.0


def decayed_mean(weighted_sum: float, weight_sum: float) -> float:
    """Return the decayed mean of the running sums (NaN before any score)."""
    return weighted_sum / weight_sum if weight_sum > 0.0 else math.nan


def sentiment_features_batch(
    ts_ns: np.ndarray, scores: np.ndarray, decision_ns: np.ndarray, half_life_ns: int, window_ns: int
) -> np.ndarray:
    """Return ``(n_decisions, 3)`` rows ``[decayed_mean, message_count, dispersion]``, from the definition.

    Each decision time looks only at the scores with ``ts <= t``; the decay weights are taken relative
    to the latest such score (the ratio is the same and nothing underflows).
    """
    ts_ns = np.asarray(ts_ns, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    out = np.full((len(decision_ns), 3), np.nan)
    for row, t in enumerate(np.asarray(decision_ns, dtype=np.int64)):
        known = ts_ns <= t
        if known.any():
            latest = ts_ns[known].max()
            weights = 0.5 ** ((latest - ts_ns[known]).astype(np.float64) / half_life_ns)
            out[row, 0] = float(np.sum(weights * scores[known]) / np.sum(weights))
        in_window = known & (ts_ns > t - window_ns)
        out[row, 1] = float(in_window.sum())
        if in_window.sum() >= 2:
            out[row, 2] = float(np.std(scores[in_window], ddof=1))
    return out


class SentimentIndicator(Indicator):
    """Point-in-time sentiment features of one instrument (see the module docstring).

    Feed scores with :meth:`update` (or :meth:`handle_sentiment`) in non-decreasing time order and ask
    for the features with :meth:`value_at` at non-decreasing decision times. Each update is O(1); a query
    folds in the pending scores it reaches and costs O(scores in the window) for the dispersion.

    Parameters
    ----------
    half_life_ns : int
        The half-life of a score's weight in the decayed mean, in nanoseconds (> 0).
    window_ns : int
        The trailing window of the count and dispersion, in nanoseconds (> 0).

    """

    def __init__(self, half_life_ns: int, window_ns: int) -> None:
        if half_life_ns <= 0:
            raise ValueError(f"SentimentIndicator: half_life_ns must be > 0, was {half_life_ns}")
        if window_ns <= 0:
            raise ValueError(f"SentimentIndicator: window_ns must be > 0, was {window_ns}")
        super().__init__(params=[half_life_ns, window_ns])
        self.half_life_ns = half_life_ns
        self.window_ns = window_ns
        self.decayed_mean = math.nan
        self.message_count = 0
        self.dispersion = math.nan
        self._pending: deque[tuple[int, float]] = deque()
        self._window: deque[tuple[int, float]] = deque()
        self._weighted_sum = 0.0
        self._weight_sum = 0.0
        self._last_ts = -(2**62)
        self._last_fed_ts = -(2**62)
        self._last_decision_ts = -(2**62)

    def handle_sentiment(self, score: SentimentScore) -> None:
        """Update with a ``SentimentScore``, timed by its ``ts_init`` (when it was known)."""
        self.update(score.score, score.ts_init)

    def update(self, score: float, ts_ns: int) -> None:
        """Add a score known at ``ts_ns`` (non-decreasing across calls); it counts from ``ts_ns`` on."""
        if ts_ns < self._last_fed_ts:
            raise ValueError(
                f"SentimentIndicator: scores must arrive in time order ({ts_ns} < {self._last_fed_ts})"
            )
        if math.isnan(score):
            return
        self._last_fed_ts = ts_ns
        self._pending.append((ts_ns, score))
        if not self.has_inputs:
            self._set_has_inputs(True)

    def value_at(self, ts_ns: int) -> SentimentFeatures:
        """Return the features at decision time ``ts_ns`` (non-decreasing across calls)."""
        if ts_ns < self._last_decision_ts:
            raise ValueError(
                f"SentimentIndicator: decision times must not go back ({ts_ns} < {self._last_decision_ts})"
            )
        self._last_decision_ts = ts_ns
        while self._pending and self._pending[0][0] <= ts_ns:
            ts, score = self._pending.popleft()
            self._weighted_sum, self._weight_sum = decayed_sums_step(
                self._weighted_sum, self._weight_sum, ts - self._last_ts, score, self.half_life_ns
            )
            self._last_ts = ts
            self._window.append((ts, score))
        while self._window and self._window[0][0] <= ts_ns - self.window_ns:
            self._window.popleft()
        self.decayed_mean = decayed_mean(self._weighted_sum, self._weight_sum)
        self.message_count = len(self._window)
        self.dispersion = window_mean_std([score for _, score in self._window])[1]
        if not self.initialized and self._weight_sum > 0.0:
            self._set_initialized(True)
        return SentimentFeatures(self.decayed_mean, self.message_count, self.dispersion)

    def _reset(self) -> None:
        self.decayed_mean = math.nan
        self.message_count = 0
        self.dispersion = math.nan
        self._pending.clear()
        self._window.clear()
        self._weighted_sum = 0.0
        self._weight_sum = 0.0
        self._last_ts = -(2**62)
        self._last_fed_ts = -(2**62)
        self._last_decision_ts = -(2**62)
