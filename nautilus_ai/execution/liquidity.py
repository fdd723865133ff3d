"""The liquidity state of one instrument: what the microstructure analyzer publishes.

A :class:`LiquidityState` is a snapshot of the book and the recent flow, in the units the order-type
selector (:mod:`nautilus_ai.execution.selector`) reads:

* ``spread_bps = (ask - bid) / mid * 1e4``;
* ``bid_depth`` / ``ask_depth``: size resting at each of the first N levels, best first;
* ``book_imbalance = (sum bid_depth - sum ask_depth) / (sum bid_depth + sum ask_depth)`` in [-1, 1]
  (:func:`nautilus_ai.indicators.microstructure_kernels.book_imbalance`);
* ``microprice_drift_bps``: microprice minus mid, in basis points of the mid
  (:func:`nautilus_ai.indicators.microstructure_kernels.microprice_drift_bps`);
* ``vpin``: volume-synchronized probability of informed trading in [0, 1] (Easley, Lopez de Prado and
  O'Hara, 2012);
* ``volatility_bps``: standard deviation of short-term (per-bar) mid returns, in basis points;
* ``trade_intensity``: trades per second;
* ``typical_bar_volume``: typical traded volume per bar, in instrument units.

The state holds numbers only (no NautilusTrader types), so the selector stays a pure function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nautilus_ai.errors import DataError

SIDES = ("BUY", "SELL")
"""The order sides the execution layer accepts."""


@dataclass(frozen=True)
class LiquidityState:
    """A snapshot of liquidity for one instrument.

    Attributes
    ----------
    spread_bps : float
        Quoted spread over the mid, in basis points (>= 0).
    bid_depth : tuple of float
        Size at each of the first N bid levels, best first (each >= 0).
    ask_depth : tuple of float
        Size at each of the first N ask levels, best first (each >= 0).
    book_imbalance : float
        ``(bid - ask) / (bid + ask)`` over the N levels, in [-1, 1].
    microprice_drift_bps : float
        Microprice minus mid, in basis points of the mid (signed).
    vpin : float
        Flow toxicity in [0, 1].
    volatility_bps : float
        Short-term volatility of the mid, per bar, in basis points (>= 0).
    trade_intensity : float
        Trades per second (>= 0).
    typical_bar_volume : float
        Typical traded volume per bar, in instrument units (>= 0; 0 when unknown).
    ts_event : int
        UNIX nanoseconds of the snapshot (0 when not set).

    Raises
    ------
    DataError
        If a field is not finite or is out of its range; the error names the field.

    """

    spread_bps: float
    bid_depth: tuple[float, ...]
    ask_depth: tuple[float, ...]
    book_imbalance: float
    microprice_drift_bps: float
    vpin: float
    volatility_bps: float
    trade_intensity: float
    typical_bar_volume: float
    ts_event: int = 0

    def __post_init__(self) -> None:
        for name in ("spread_bps", "volatility_bps", "trade_intensity", "typical_bar_volume"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0.0:
                raise DataError(f"must be finite and >= 0, was {value}", field=name)
        for name in ("bid_depth", "ask_depth"):
            levels = getattr(self, name)
            if any(not math.isfinite(size) or size < 0.0 for size in levels):
                raise DataError(f"every level must be finite and >= 0, was {levels}", field=name)
        if not -1.0 <= self.book_imbalance <= 1.0:
            raise DataError(f"must be in [-1, 1], was {self.book_imbalance}", field="book_imbalance")
        if not 0.0 <= self.vpin <= 1.0:
            raise DataError(f"must be in [0, 1], was {self.vpin}", field="vpin")
        if not math.isfinite(self.microprice_drift_bps):
            raise DataError(f"must be finite, was {self.microprice_drift_bps}", field="microprice_drift_bps")

    @property
    def levels(self) -> int:
        """Return the number of book levels held per side (the longer side)."""
        return max(len(self.bid_depth), len(self.ask_depth))

    def depth_to_take(self, side: str) -> float:
        """Return the size an order of ``side`` can take from the book: the opposite side's N levels.

        Parameters
        ----------
        side : str
            "BUY" (takes the asks) or "SELL" (takes the bids).

        Returns
        -------
        float
            The summed size of the opposite side.

        Raises
        ------
        DataError
            If ``side`` is not "BUY" or "SELL".

        """
        if side not in SIDES:
            raise DataError(f"must be 'BUY' or 'SELL', was {side!r}", field="side")
        return float(sum(self.ask_depth if side == "BUY" else self.bid_depth))

    def touch_size(self, side: str) -> float:
        """Return the size at the best level of the side an order of ``side`` would join passively."""
        if side not in SIDES:
            raise DataError(f"must be 'BUY' or 'SELL', was {side!r}", field="side")
        own = self.bid_depth if side == "BUY" else self.ask_depth
        return float(own[0]) if own else 0.0
