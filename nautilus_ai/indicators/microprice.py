"""Microprice: the imbalance-weighted mid of the top of book, with the spread and the drift from mid."""

import math

from nautilus_trader.indicators import Indicator
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import OrderBookDepth10, QuoteTick

from nautilus_ai.indicators.microstructure_kernels import microprice, microprice_drift_bps, spread_bps


class Microprice(Indicator):
    """Stoikov's (2018) microprice in its simple form, the imbalance-weighted mid of the best quotes.

    ``value = ask · I + bid · (1 - I)`` with ``I = bid_size / (bid_size + ask_size)``: the microprice
    sits closer to the side with less size (the side more likely to be taken out next). Also kept:
    ``mid``, ``spread_bps = (ask - bid) / mid · 1e4``, ``microprice_drift_bps = (value - mid) / mid · 1e4``
    and ``imbalance = I``.

    Feed it quotes (``register_indicator_for_quote_ticks`` → :meth:`handle_quote_tick`), L2 books
    (an actor's ``on_order_book`` / ``on_order_book_deltas`` calls :meth:`update_book` with the
    ``OrderBook``), or ``OrderBookDepth10`` snapshots (``on_order_book_depth`` calls
    :meth:`handle_depth10`). A top of book with a missing, non-positive or crossed side is skipped.
    There is no window: the indicator is initialized by its first valid top of book; the values are
    NaN before.

    """

    def __init__(self) -> None:
        super().__init__(params=[])
        self.value = math.nan
        self.mid = math.nan
        self.spread_bps = math.nan
        self.microprice_drift_bps = math.nan
        self.imbalance = math.nan

    def handle_quote_tick(self, tick: QuoteTick) -> None:
        """Update the indicator with a quote's best bid/ask and sizes."""
        self.update_raw(
            tick.bid_price.as_double(),
            tick.ask_price.as_double(),
            tick.bid_size.as_double(),
            tick.ask_size.as_double(),
        )

    def update_book(self, book: OrderBook) -> None:
        """Update the indicator with the top level of an order book (skipped while a side is empty)."""
        bids, asks = book.bids(), book.asks()
        if not bids or not asks:
            return
        self.update_raw(bids[0].price.as_double(), asks[0].price.as_double(), bids[0].size(), asks[0].size())

    def handle_depth10(self, depth: OrderBookDepth10) -> None:
        """Update the indicator with the top level of a depth-10 snapshot."""
        bid, ask = depth.bids[0], depth.asks[0]
        self.update_raw(
            bid.price.as_double(), ask.price.as_double(), bid.size.as_double(), ask.size.as_double()
        )

    def update_raw(self, bid: float, ask: float, bid_size: float, ask_size: float) -> None:
        """Update the indicator with a best bid, best ask and their sizes."""
        if not (0.0 < bid <= ask) or bid_size < 0.0 or ask_size < 0.0:
            return
        if not self.has_inputs:
            self._set_has_inputs(True)
        self.value = microprice(bid, ask, bid_size, ask_size)
        self.mid = 0.5 * (bid + ask)
        self.spread_bps = spread_bps(bid, ask)
        self.microprice_drift_bps = microprice_drift_bps(bid, ask, bid_size, ask_size)
        total = bid_size + ask_size
        self.imbalance = bid_size / total if total > 0.0 else 0.5
        if not self.initialized:
            self._set_initialized(True)

    def _reset(self) -> None:
        self.value = math.nan
        self.mid = math.nan
        self.spread_bps = math.nan
        self.microprice_drift_bps = math.nan
        self.imbalance = math.nan
