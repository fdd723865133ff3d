"""Order-flow imbalance: the signed share of aggressor volume over a trailing window of trades."""

import math
from collections import deque

from nautilus_trader.indicators import Indicator
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide

from nautilus_ai.indicators.microstructure_kernels import order_flow_imbalance


class OrderFlowImbalance(Indicator):
    """``(buy aggressor volume - sell aggressor volume) / total`` over a trailing window of trades.

    The window is either the last ``window`` trades with an aggressor or the trades in
    ``(t - window_ns, t]`` at the current trade time ``t``. Trades with
    ``AggressorSide.NO_AGGRESSOR`` are ignored entirely (they neither count nor move the clock).
    The value lies in ``[-1, 1]``; it is NaN (``initialized`` False) until the window is full: ``window``
    aggressor trades seen, or ``window_ns`` of history observed since the first one.

    Feed it with ``register_indicator_for_trade_ticks`` (→ :meth:`handle_trade_tick`) or call
    :meth:`update_raw` with a size, a side and a timestamp. Kernel:
    :func:`~nautilus_ai.indicators.microstructure_kernels.order_flow_imbalance`.

    Parameters
    ----------
    window : int, optional
        The number of aggressor trades in the window (>= 1).
    window_ns : int, optional
        The time span of the window in nanoseconds (> 0). Give exactly one of ``window``, ``window_ns``.

    """

    def __init__(self, window: int | None = None, window_ns: int | None = None) -> None:
        if (window is None) == (window_ns is None):
            raise ValueError(
                "OrderFlowImbalance: give exactly one of window (trades) or window_ns (nanoseconds), "
                f"got window={window}, window_ns={window_ns}"
            )
        if window is not None and window < 1:
            raise ValueError(f"OrderFlowImbalance: window must be >= 1 trades, was {window}")
        if window_ns is not None and window_ns <= 0:
            raise ValueError(f"OrderFlowImbalance: window_ns must be > 0 nanoseconds, was {window_ns}")
        super().__init__(params=[window, window_ns])
        self.window = window
        self.window_ns = window_ns
        self.value = math.nan
        self._signed: deque[float] = deque(maxlen=window)
        self._stamps: deque[int] = deque()
        self._first_ts: int | None = None

    def handle_trade_tick(self, tick: TradeTick) -> None:
        """Update the indicator with a trade's size, aggressor side and event time."""
        self.update_raw(tick.size.as_double(), tick.aggressor_side, tick.ts_event)

    def update_raw(self, size: float, aggressor_side: AggressorSide, ts_ns: int = 0) -> None:
        """Update the indicator with one trade (``ts_ns`` matters only for a time window)."""
        if aggressor_side == AggressorSide.BUYER:
            signed = size
        elif aggressor_side == AggressorSide.SELLER:
            signed = -size
        else:
            return
        if not self.has_inputs:
            self._set_has_inputs(True)
            self._first_ts = ts_ns
        self._signed.append(signed)
        if self.window_ns is None:
            full = len(self._signed) == self.window
        else:
            self._stamps.append(ts_ns)
            horizon = ts_ns - self.window_ns
            while self._stamps[0] <= horizon:
                self._stamps.popleft()
                self._signed.popleft()
            assert self._first_ts is not None
            full = ts_ns - self._first_ts >= self.window_ns
        if full:
            self.value = order_flow_imbalance(self._signed)
            if not self.initialized:
                self._set_initialized(True)

    def _reset(self) -> None:
        self.value = math.nan
        self._signed.clear()
        self._stamps.clear()
        self._first_ts = None
