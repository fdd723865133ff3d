"""Book imbalance: the signed share of resting bid size over the top levels of an order book."""

import math
from collections.abc import Sequence

from nautilus_trader.indicators import Indicator
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import OrderBookDepth10

from nautilus_ai.indicators.microstructure_kernels import book_imbalance

DEPTH10_LEVELS = 10


class BookImbalance(Indicator):
    """``(Σ bid sizes - Σ ask sizes) / (Σ both)`` over the top ``levels`` levels of an order book.

    In ``[-1, 1]``: positive when bids dominate. A book with fewer than ``levels`` levels on either
    side is skipped (counted in ``skipped_updates``; the value keeps its last value), so the value is
    NaN and ``initialized`` False until a book at least ``levels`` deep on both sides arrives.

    How it is fed: NautilusTrader has no indicator registration for books, so an actor or strategy
    subscribes with ``subscribe_order_book_deltas`` / ``subscribe_order_book_at_interval`` and calls
    :meth:`update_book` with the ``OrderBook`` from ``on_order_book`` or with
    ``self.cache.order_book(instrument_id)`` in ``on_order_book_deltas``; depth snapshots
    (``subscribe_order_book_depth`` → ``on_order_book_depth``) go to :meth:`handle_depth10`.
    :meth:`update_raw` takes the size lists directly. Kernel:
    :func:`~nautilus_ai.indicators.microstructure_kernels.book_imbalance`.

    Parameters
    ----------
    levels : int
        The number of price levels per side summed (>= 1; at most 10 for ``OrderBookDepth10``).

    """

    def __init__(self, levels: int) -> None:
        if levels < 1:
            raise ValueError(f"BookImbalance: levels must be >= 1, was {levels}")
        super().__init__(params=[levels])
        self.levels = levels
        self.value = math.nan
        self.skipped_updates = 0

    def update_book(self, book: OrderBook) -> None:
        """Update the indicator with the top ``levels`` levels of an order book."""
        bids, asks = book.bids(), book.asks()
        self.update_raw(
            [level.size() for level in bids[: self.levels]],
            [level.size() for level in asks[: self.levels]],
        )

    def handle_depth10(self, depth: OrderBookDepth10) -> None:
        """Update the indicator with a depth-10 snapshot (empty levels have size zero and count as thin)."""
        if self.levels > DEPTH10_LEVELS:
            raise ValueError(
                f"BookImbalance: levels={self.levels} exceeds the {DEPTH10_LEVELS} levels of OrderBookDepth10"
            )
        self.update_raw(
            [order.size.as_double() for order in depth.bids[: self.levels] if order.size.as_double() > 0],
            [order.size.as_double() for order in depth.asks[: self.levels] if order.size.as_double() > 0],
        )

    def update_raw(self, bid_sizes: Sequence[float], ask_sizes: Sequence[float]) -> None:
        """Update the indicator with the sizes of the best levels per side, best first."""
        if not self.has_inputs:
            self._set_has_inputs(True)
        if len(bid_sizes) < self.levels or len(ask_sizes) < self.levels:
            self.skipped_updates += 1
            return
        self.value = book_imbalance(bid_sizes[: self.levels], ask_sizes[: self.levels])
        if not self.initialized:
            self._set_initialized(True)

    def _reset(self) -> None:
        self.value = math.nan
        self.skipped_updates = 0
