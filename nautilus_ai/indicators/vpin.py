"""VPIN: the volume-synchronized probability of informed trading, with bulk volume classification."""

import math
from collections import deque
from typing import Literal

from nautilus_trader.indicators import Indicator
from nautilus_trader.model.data import Bar, TradeTick

from nautilus_ai.indicators.kernels import window_mean_std
from nautilus_ai.indicators.microstructure_kernels import bulk_buy_fraction, fill_volume_buckets

VpinSource = Literal["trades", "bars"]


class VPIN(Indicator):
    """VPIN (Easley, López de Prado, O'Hara 2012) over equal-volume buckets, classified in bulk.

    Each event (a trade, or a bar with its close-to-close price change) is split by bulk volume
    classification: ``buy = volume · Φ(Δp / sigma)``, ``sell = volume - buy``, where ``Δp`` is the price
    change from the previous event and ``sigma`` the sample standard deviation (ddof=1) of the last
    ``sigma_window`` price changes, the current one included. Classified volume fills buckets of
    ``bucket_size``; an event larger than the open bucket's remaining capacity spills, with the same buy
    share, into the next buckets. ``value = mean over the last n_buckets buckets of |B - S| / V``.

    Events before ``sigma`` is defined (the first ``sigma_window`` events) fill no bucket. The value
    changes only when a bucket completes; it is NaN (and ``initialized`` False) until ``n_buckets``
    buckets are complete. Kernels: :mod:`nautilus_ai.indicators.microstructure_kernels`.

    Feed it trade ticks (``register_indicator_for_trade_ticks`` → ``handle_trade_tick``) with
    ``source="trades"`` or bars (``register_indicator_for_bars`` → ``handle_bar``) with
    ``source="bars"``; the other handler raises, because mixing sources would mix price changes of
    different horizons. :meth:`update_raw` takes a price and a volume directly.

    Parameters
    ----------
    bucket_size : float
        The volume ``V`` of each bucket, in the instrument's size units (> 0).
    n_buckets : int
        The number of buckets averaged (>= 1); ELO 2012 use 50.
    sigma_window : int
        The number of price changes whose standard deviation scales ``Δp`` (>= 2).
    source : {"trades", "bars"}, default "trades"
        The data the indicator accepts.

    """

    def __init__(
        self,
        bucket_size: float,
        n_buckets: int = 50,
        sigma_window: int = 50,
        source: VpinSource = "trades",
    ) -> None:
        if not (bucket_size > 0.0 and math.isfinite(bucket_size)):
            raise ValueError(f"VPIN: bucket_size must be a finite volume > 0, was {bucket_size}")
        if n_buckets < 1:
            raise ValueError(f"VPIN: n_buckets must be >= 1, was {n_buckets}")
        if sigma_window < 2:
            raise ValueError(f"VPIN: sigma_window must be >= 2, was {sigma_window}")
        if source not in ("trades", "bars"):
            raise ValueError(f"VPIN: source must be 'trades' or 'bars', was {source!r}")
        super().__init__(params=[bucket_size, n_buckets, sigma_window, source])
        self.bucket_size = float(bucket_size)
        self.n_buckets = n_buckets
        self.sigma_window = sigma_window
        self.source: VpinSource = source
        self.value = math.nan
        self.buckets_completed = 0
        self._imbalances: deque[float] = deque(maxlen=n_buckets)
        self._changes: deque[float] = deque(maxlen=sigma_window)
        self._last_price = math.nan
        self._bucket_buy = 0.0
        self._bucket_volume = 0.0

    def handle_trade_tick(self, tick: TradeTick) -> None:
        """Update the indicator with a trade's price and size (``source="trades"``)."""
        if self.source != "trades":
            raise RuntimeError("VPIN: got a trade tick but source='bars'; construct it with source='trades'")
        self.update_raw(tick.price.as_double(), tick.size.as_double())

    def handle_bar(self, bar: Bar) -> None:
        """Update the indicator with a bar's close and volume (``source="bars"``)."""
        if self.source != "bars":
            raise RuntimeError("VPIN: got a bar but source='trades'; construct it with source='bars'")
        self.update_raw(bar.close.as_double(), bar.volume.as_double())

    def update_raw(self, price: float, volume: float) -> None:
        """Update the indicator with one event's price and volume."""
        if not self.has_inputs:
            self._set_has_inputs(True)
            self._last_price = price
            return
        self._changes.append(price - self._last_price)
        self._last_price = price
        if len(self._changes) < self.sigma_window:
            return
        change = self._changes[-1]
        fraction = bulk_buy_fraction(change, window_mean_std(self._changes)[1])
        if math.isnan(fraction):
            return
        self._bucket_buy, self._bucket_volume, completed = fill_volume_buckets(
            self._bucket_buy, self._bucket_volume, volume * fraction, volume, self.bucket_size
        )
        if not completed:
            return
        self._imbalances.extend(completed)
        self.buckets_completed += len(completed)
        if len(self._imbalances) == self.n_buckets:
            self.value = math.fsum(self._imbalances) / self.n_buckets
            if not self.initialized:
                self._set_initialized(True)

    def _reset(self) -> None:
        self.value = math.nan
        self.buckets_completed = 0
        self._imbalances.clear()
        self._changes.clear()
        self._last_price = math.nan
        self._bucket_buy = 0.0
        self._bucket_volume = 0.0
