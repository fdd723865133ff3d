"""Range volatility: Parkinson and Garman-Klass per-bar variance estimators averaged over a window."""

import math
from collections import deque

from nautilus_trader.indicators import Indicator
from nautilus_trader.model.data import Bar

from nautilus_ai.indicators.microstructure_kernels import (
    garman_klass_variance,
    parkinson_variance,
    volatility_from_variances,
)


class _RangeVolatility(Indicator):
    """The square root of the mean of the last ``window`` one-bar variance estimates."""

    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError(f"{type(self).__name__}: window must be >= 1, was {window}")
        super().__init__(params=[window])
        self.window = window
        self.value = math.nan
        self._variances: deque[float] = deque(maxlen=window)

    def handle_bar(self, bar: Bar) -> None:
        """Update the indicator with the bar's open, high, low and close."""
        self.update_raw(
            bar.open.as_double(), bar.high.as_double(), bar.low.as_double(), bar.close.as_double()
        )

    def update_raw(self, open_: float, high: float, low: float, close: float) -> None:
        """Update the indicator with one bar's prices (a bar with invalid prices is skipped)."""
        if not self.has_inputs:
            self._set_has_inputs(True)
        variance = self._bar_variance(open_, high, low, close)
        if math.isnan(variance):
            return
        self._variances.append(variance)
        if len(self._variances) == self.window:
            self.value = volatility_from_variances(self._variances)
            if not self.initialized:
                self._set_initialized(True)

    def _bar_variance(self, open_: float, high: float, low: float, close: float) -> float:
        raise NotImplementedError

    def _reset(self) -> None:
        self.value = math.nan
        self._variances.clear()


class ParkinsonVolatility(_RangeVolatility):
    """Parkinson (1980) volatility per bar (not annualized), from highs and lows.

    ``sigma² = mean over the last window bars of ln(H / L)² / (4 ln 2)``; ``value = sigma``. Unbiased for a
    driftless continuous Brownian motion; biased low with discrete trading and gaps between bars.
    Feed it with ``register_indicator_for_bars`` (→ ``handle_bar``). NaN until ``window`` valid bars.

    Parameters
    ----------
    window : int
        The number of bars averaged (>= 1).

    """

    def _bar_variance(self, open_: float, high: float, low: float, close: float) -> float:
        return parkinson_variance(high, low)


class GarmanKlassVolatility(_RangeVolatility):
    """Garman-Klass (1980) volatility per bar (not annualized), from open, high, low and close.

    ``sigma² = mean over the last window bars of ½ ln(H/L)² - (2 ln 2 - 1) ln(C/O)²``; ``value = sigma``.
    About 7x as efficient as close-to-close for a driftless Brownian motion; ignores overnight gaps.
    Feed it with ``register_indicator_for_bars`` (→ ``handle_bar``). NaN until ``window`` valid bars.

    Parameters
    ----------
    window : int
        The number of bars averaged (>= 1).

    """

    def _bar_variance(self, open_: float, high: float, low: float, close: float) -> float:
        return garman_klass_variance(open_, high, low, close)
