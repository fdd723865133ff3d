"""Numeric kernels of the microstructure and range-volatility indicators: pure functions.

Each quantity has a streaming step (floats in, floats out, constant cost per event) used by its
``Indicator`` class and a batch twin over whole arrays that exists to be tested against the streaming
form (``tests/unit/indicators/test_microstructure.py``, ``test_range_volatility.py``). The batch
twins are written independently of the steps (cumulative sums, interpolation, sliding windows), so
agreement is a real check. No NautilusTrader types and no I/O here.

References
----------
* Easley, López de Prado, O'Hara (2012), "Flow Toxicity and Liquidity in a High-Frequency World",
  Review of Financial Studies 25(5): VPIN and bulk volume classification.
* Stoikov (2018), "The micro-price: a high-frequency estimator of future prices", Quantitative
  Finance 18(12): the imbalance-weighted mid used here is the paper's first-order form.
* Parkinson (1980), "The Extreme Value Method for Estimating the Variance of the Rate of Return",
  Journal of Business 53(1).
* Garman, Klass (1980), "On the Estimation of Security Price Volatilities from Historical Data",
  Journal of Business 53(1).
"""

import math
from collections.abc import Sequence

import numpy as np
from scipy.special import ndtr

LN2 = math.log(2.0)
PARKINSON_FACTOR = 1.0 / (4.0 * LN2)
GARMAN_KLASS_CLOSE_FACTOR = 2.0 * LN2 - 1.0
BASIS_POINTS = 1e4


# --------------------------------------------------------------------------------------------------
# VPIN with bulk volume classification
# --------------------------------------------------------------------------------------------------


def bulk_buy_fraction(price_change: float, sigma: float) -> float:
    """Return the bulk-volume-classified buy fraction ``Φ(Δp / sigma)`` of one trade or bar.

    ``Φ`` is the standard normal CDF, computed as ``erfc(-z / √2) / 2`` (accurate in both tails).
    When ``sigma`` is zero the fraction is 1 for a rise, 0 for a fall and 1/2 for no change (the limit
    of ``Φ``); NaN when ``sigma`` is NaN.
    """
    if math.isnan(sigma) or math.isnan(price_change):
        return math.nan
    if sigma == 0.0:
        if price_change > 0.0:
            return 1.0
        return 0.0 if price_change < 0.0 else 0.5
    return 0.5 * math.erfc(-price_change / (sigma * math.sqrt(2.0)))


def fill_volume_buckets(
    bucket_buy: float,
    bucket_volume: float,
    buy: float,
    volume: float,
    bucket_size: float,
) -> tuple[float, float, list[float]]:
    """Add one classified event to the open volume bucket; spill what does not fit into new buckets.

    The event's buy share ``buy / volume`` is spread uniformly over its volume: the part that fills the
    open bucket carries that share of the buy volume, the rest spills into the next buckets (several
    if the event is larger than ``bucket_size``).

    Parameters
    ----------
    bucket_buy : float
        The buy volume already in the open bucket.
    bucket_volume : float
        The volume already in the open bucket (``0 <= bucket_volume < bucket_size``).
    buy : float
        The event's buy volume (``0 <= buy <= volume``).
    volume : float
        The event's volume (>= 0).
    bucket_size : float
        The volume ``V`` of every bucket (> 0).

    Returns
    -------
    tuple[float, float, list[float]]
        The open bucket's new buy volume and volume, and the order imbalance ``|B - S| / V`` of every
        bucket the event completed, in order.

    """
    completed: list[float] = []
    if volume <= 0.0:
        return bucket_buy, bucket_volume, completed
    buy_share = buy / volume
    left = volume
    while left >= bucket_size - bucket_volume:
        take = bucket_size - bucket_volume
        filled_buy = bucket_buy + buy_share * take
        completed.append(abs(2.0 * filled_buy - bucket_size) / bucket_size)
        left -= take
        bucket_buy, bucket_volume = 0.0, 0.0
    return bucket_buy + buy_share * left, bucket_volume + left, completed


def vpin_batch(
    prices: np.ndarray,
    volumes: np.ndarray,
    bucket_size: float,
    n_buckets: int,
    sigma_window: int,
) -> np.ndarray:
    """Return VPIN after each event (NaN until ``n_buckets`` buckets are complete).

    Batch twin of :func:`bulk_buy_fraction` + :func:`fill_volume_buckets` + the rolling mean. The
    price change of event ``i`` is ``p[i] - p[i-1]``; its ``sigma`` is the sample standard deviation
    (ddof=1) of the last ``sigma_window`` price changes, the current one included. Events without a
    ``sigma`` (the first ``sigma_window`` events) are not classified and fill no bucket. Buckets are found
    on the cumulative classified volume: the buy volume of bucket ``k`` is the cumulative buy volume,
    linearly interpolated, between cumulative volumes ``kV`` and ``(k+1)V``.
    """
    prices = np.asarray(prices, dtype=float)
    volumes = np.asarray(volumes, dtype=float)
    n = len(prices)
    out = np.full(n, np.nan)
    if n <= sigma_window:
        return out
    changes = np.diff(prices)
    sigmas = np.full(n, np.nan)
    sigmas[sigma_window:] = np.lib.stride_tricks.sliding_window_view(changes, sigma_window).std(
        axis=1, ddof=1
    )
    padded_changes = np.concatenate([[np.nan], changes])
    with np.errstate(divide="ignore", invalid="ignore"):
        fractions = ndtr(padded_changes / sigmas)
    flat = sigmas == 0.0
    fractions[flat] = np.where(padded_changes[flat] > 0, 1.0, np.where(padded_changes[flat] < 0, 0.0, 0.5))
    classified = ~np.isnan(sigmas)
    event_volumes = np.where(classified, volumes, 0.0)
    event_buys = np.where(classified, volumes * np.nan_to_num(fractions), 0.0)
    cum_volume = np.concatenate([[0.0], np.cumsum(event_volumes)])
    cum_buy = np.concatenate([[0.0], np.cumsum(event_buys)])
    total_buckets = int(cum_volume[-1] // bucket_size)
    edges = bucket_size * np.arange(total_buckets + 1)
    # np.interp needs increasing x: drop the repeated points of zero-volume events.
    keep = np.concatenate([[True], np.diff(cum_volume) > 0])
    buy_at_edges = np.interp(edges, cum_volume[keep], cum_buy[keep])
    imbalances = np.abs(2.0 * np.diff(buy_at_edges) - bucket_size) / bucket_size
    completed_by_event = np.minimum((cum_volume[1:] // bucket_size).astype(int), total_buckets)
    for i in range(n):
        k = completed_by_event[i]
        if k >= n_buckets:
            out[i] = imbalances[k - n_buckets : k].mean()
    return out


# --------------------------------------------------------------------------------------------------
# Order-flow imbalance from aggressor sides
# --------------------------------------------------------------------------------------------------


def order_flow_imbalance(signed_volumes: Sequence[float]) -> float:
    """Return ``(buy - sell) / (buy + sell)`` of a window of signed aggressor volumes.

    A buyer-initiated trade contributes ``+size``, a seller-initiated one ``-size``. Exactly rounded
    sums (``math.fsum``); 0.0 for a window without volume, NaN for an empty window.
    """
    if len(signed_volumes) == 0:
        return math.nan
    total = math.fsum(abs(v) for v in signed_volumes)
    if total == 0.0:
        return 0.0
    return math.fsum(signed_volumes) / total


def order_flow_imbalance_batch(signed_volumes: np.ndarray, window: int) -> np.ndarray:
    """Return the order-flow imbalance of each trailing window of ``window`` trades (NaN before)."""
    signed_volumes = np.asarray(signed_volumes, dtype=float)
    out = np.full(signed_volumes.shape, np.nan)
    if len(signed_volumes) < window:
        return out
    views = np.lib.stride_tricks.sliding_window_view(signed_volumes, window)
    net, total = views.sum(axis=1), np.abs(views).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[window - 1 :] = np.where(total == 0.0, 0.0, net / total)
    return out


def order_flow_imbalance_time_batch(
    timestamps_ns: np.ndarray, signed_volumes: np.ndarray, window_ns: int
) -> np.ndarray:
    """Return the imbalance over the trades in ``(t - window_ns, t]`` at each trade time ``t``.

    NaN until the observed history spans the window (``t - t_first >= window_ns``).
    """
    timestamps_ns = np.asarray(timestamps_ns, dtype=np.int64)
    signed_volumes = np.asarray(signed_volumes, dtype=float)
    out = np.full(signed_volumes.shape, np.nan)
    if len(timestamps_ns) == 0:
        return out
    starts = np.searchsorted(timestamps_ns, timestamps_ns - window_ns, side="right")
    for i, start in enumerate(starts):
        if timestamps_ns[i] - timestamps_ns[0] < window_ns:
            continue
        window = signed_volumes[start : i + 1]
        total = np.abs(window).sum()
        out[i] = 0.0 if total == 0.0 else window.sum() / total
    return out


# --------------------------------------------------------------------------------------------------
# Microprice, spread, book imbalance
# --------------------------------------------------------------------------------------------------


def microprice(bid: float, ask: float, bid_size: float, ask_size: float) -> float:
    """Return the imbalance-weighted mid ``ask·I + bid·(1 - I)``, ``I = bid_size / (bid_size + ask_size)``.

    The mid when both sizes are zero.
    """
    total = bid_size + ask_size
    if total <= 0.0:
        return 0.5 * (bid + ask)
    weight = bid_size / total
    return ask * weight + bid * (1.0 - weight)


def spread_bps(bid: float, ask: float) -> float:
    """Return the quoted spread in basis points of the mid, ``(ask - bid) / mid · 1e4``."""
    mid = 0.5 * (bid + ask)
    return (ask - bid) / mid * BASIS_POINTS


def microprice_drift_bps(bid: float, ask: float, bid_size: float, ask_size: float) -> float:
    """Return the microprice's distance from the mid in basis points, ``(micro - mid) / mid · 1e4``."""
    mid = 0.5 * (bid + ask)
    return (microprice(bid, ask, bid_size, ask_size) - mid) / mid * BASIS_POINTS


def microprice_batch(
    bid: np.ndarray, ask: np.ndarray, bid_size: np.ndarray, ask_size: np.ndarray
) -> dict[str, np.ndarray]:
    """Return ``microprice``, ``mid``, ``spread_bps`` and ``microprice_drift_bps`` arrays."""
    bid, ask = np.asarray(bid, dtype=float), np.asarray(ask, dtype=float)
    bid_size, ask_size = np.asarray(bid_size, dtype=float), np.asarray(ask_size, dtype=float)
    mid = (bid + ask) / 2.0
    total = bid_size + ask_size
    with np.errstate(divide="ignore", invalid="ignore"):
        micro = np.where(total > 0.0, (ask * bid_size + bid * ask_size) / total, mid)
    return {
        "microprice": micro,
        "mid": mid,
        "spread_bps": (ask - bid) / mid * BASIS_POINTS,
        "microprice_drift_bps": (micro - mid) / mid * BASIS_POINTS,
    }


def book_imbalance(bid_sizes: Sequence[float], ask_sizes: Sequence[float]) -> float:
    """Return ``(Σ bid sizes - Σ ask sizes) / (Σ both)`` of the given levels (0.0 for an empty book)."""
    bids, asks = math.fsum(bid_sizes), math.fsum(ask_sizes)
    total = bids + asks
    if total <= 0.0:
        return 0.0
    return (bids - asks) / total


def book_imbalance_batch(bid_sizes: np.ndarray, ask_sizes: np.ndarray, levels: int) -> np.ndarray:
    """Return the imbalance of the top ``levels`` levels of each book row.

    ``bid_sizes`` and ``ask_sizes`` are ``(n_books, max_levels)`` arrays, best level first, padded
    with NaN where a side has fewer levels; a row with fewer than ``levels`` levels on a side is NaN.
    """
    bids = np.asarray(bid_sizes, dtype=float)[:, :levels]
    asks = np.asarray(ask_sizes, dtype=float)[:, :levels]
    out = np.full(len(bids), np.nan)
    if bids.shape[1] < levels or asks.shape[1] < levels:
        return out
    full = ~np.isnan(bids).any(axis=1) & ~np.isnan(asks).any(axis=1)
    bid_total, ask_total = bids[full].sum(axis=1), asks[full].sum(axis=1)
    total = bid_total + ask_total
    with np.errstate(divide="ignore", invalid="ignore"):
        out[full] = np.where(total > 0.0, (bid_total - ask_total) / total, 0.0)
    return out


# --------------------------------------------------------------------------------------------------
# Range volatility: Parkinson and Garman-Klass
# --------------------------------------------------------------------------------------------------


def parkinson_variance(high: float, low: float) -> float:
    """Return Parkinson's one-bar variance ``ln(H / L)² / (4 ln 2)`` (NaN unless ``0 < L <= H``)."""
    if low <= 0.0 or high < low:
        return math.nan
    return PARKINSON_FACTOR * math.log(high / low) ** 2


def garman_klass_variance(open_: float, high: float, low: float, close: float) -> float:
    """Return Garman-Klass's one-bar variance ``½ ln(H/L)² - (2 ln 2 - 1) ln(C/O)²``.

    NaN unless ``0 < L <= H`` and ``O, C > 0``. Never negative for a consistent bar (``L <= O, C <= H``).
    """
    if low <= 0.0 or high < low or open_ <= 0.0 or close <= 0.0:
        return math.nan
    return 0.5 * math.log(high / low) ** 2 - GARMAN_KLASS_CLOSE_FACTOR * math.log(close / open_) ** 2


def volatility_from_variances(variances: Sequence[float]) -> float:
    """Return ``sqrt(mean(variances))`` of a window of one-bar variances (exactly rounded mean)."""
    if len(variances) == 0:
        return math.nan
    return math.sqrt(max(math.fsum(variances) / len(variances), 0.0))


def parkinson_volatility_batch(high: np.ndarray, low: np.ndarray, window: int) -> np.ndarray:
    """Return the per-bar Parkinson volatility over each trailing window of bars (NaN before)."""
    high, low = np.asarray(high, dtype=float), np.asarray(low, dtype=float)
    variances = np.log(high / low) ** 2 / (4.0 * np.log(2.0))
    return _rolling_root_mean(variances, window)


def garman_klass_volatility_batch(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, window: int
) -> np.ndarray:
    """Return the per-bar Garman-Klass volatility over each trailing window of bars (NaN before)."""
    open_, high = np.asarray(open_, dtype=float), np.asarray(high, dtype=float)
    low, close = np.asarray(low, dtype=float), np.asarray(close, dtype=float)
    variances = 0.5 * np.log(high / low) ** 2 - (2.0 * np.log(2.0) - 1.0) * np.log(close / open_) ** 2
    return _rolling_root_mean(variances, window)


def _rolling_root_mean(variances: np.ndarray, window: int) -> np.ndarray:
    out = np.full(variances.shape, np.nan)
    if len(variances) >= window:
        views = np.lib.stride_tricks.sliding_window_view(variances, window)
        out[window - 1 :] = np.sqrt(np.maximum(views.mean(axis=1), 0.0))
    return out
