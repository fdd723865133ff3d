"""Realized volatility: the trailing standard deviation of one-bar log returns."""

import math
from collections import deque

from nautilus_trader.indicators import Indicator
from nautilus_trader.model.data import Bar

from nautilus_ai.indicators.kernels import log_return, window_mean_std


class RealizedVolatility(Indicator):
    """The per-bar (not annualized) standard deviation (ddof=1) of the last ``window`` log returns.

    Parameters
    ----------
    window : int
        The number of returns in the window (>= 2).

    """

    def __init__(self, window: int) -> None:
        if window < 2:
            raise ValueError(f"RealizedVolatility: window must be >= 2, was {window}")
        super().__init__(params=[window])
        self.window = window
        self.value = math.nan
        self._returns: deque[float] = deque(maxlen=window)
        self._last_close = math.nan

    def handle_bar(self, bar: Bar) -> None:
        """Update the indicator with the bar's close."""
        self.update_raw(bar.close.as_double())

    def update_raw(self, close: float) -> None:
        """Update the indicator with a close price."""
        if not self.has_inputs:
            self._set_has_inputs(True)
            self._last_close = close
            return
        r = log_return(self._last_close, close)
        self._last_close = close
        if math.isnan(r):
            return
        self._returns.append(r)
        if len(self._returns) == self.window:
            self.value = window_mean_std(self._returns)[1]
            if not self.initialized:
                self._set_initialized(True)

    def _reset(self) -> None:
        self.value = math.nan
        self._returns.clear()
        self._last_close = math.nan
