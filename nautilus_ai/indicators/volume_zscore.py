"""Volume z-score: how unusual a bar's volume is against its trailing window."""

import math
from collections import deque

from nautilus_trader.indicators import Indicator
from nautilus_trader.model.data import Bar

from nautilus_ai.indicators.kernels import window_mean_std, zscore


class VolumeZScore(Indicator):
    """The z-score of a bar's volume against the last ``window`` volumes (the current one included).

    Parameters
    ----------
    window : int
        The number of bars in the window (>= 2).

    """

    def __init__(self, window: int) -> None:
        if window < 2:
            raise ValueError(f"VolumeZScore: window must be >= 2, was {window}")
        super().__init__(params=[window])
        self.window = window
        self.value = math.nan
        self._volumes: deque[float] = deque(maxlen=window)

    def handle_bar(self, bar: Bar) -> None:
        """Update the indicator with the bar's volume."""
        self.update_raw(bar.volume.as_double())

    def update_raw(self, volume: float) -> None:
        """Update the indicator with a volume."""
        if not self.has_inputs:
            self._set_has_inputs(True)
        self._volumes.append(volume)
        if len(self._volumes) == self.window:
            mean, std = window_mean_std(self._volumes)
            self.value = zscore(volume, mean, std)
            if not self.initialized:
                self._set_initialized(True)

    def _reset(self) -> None:
        self.value = math.nan
        self._volumes.clear()
