"""Batch twins of the FeatureActor's event-driven features: from whole event histories, per bar.

The FeatureActor samples its event-driven features on the bar clock. This module computes, from
frames of the raw events (:class:`EventFrames`) and the bars' ``ts_init``, the values the actor puts
in each published vector, so training sets need no replay. ``tests/unit/indicators/
test_batch_event_features.py`` checks every feature against the streaming replay on real data.

As-of sampling (what a bar at ``T`` sees):

* market events (trades, quotes, order book deltas) reach the indicators as they are delivered; a
  bar's vector holds the indicator value after the last event with ``ts_init <= T``. An event stamped
  exactly ``T`` counts when the engine delivers it before the bar, which is what a backtest engine
  does when the event streams are added before the bars (a stable sort on ``ts_init``);
* alternative data (``SentimentScore``, ``OnChainMetric``) counts only with ``ts_init < T`` (the actor
  takes it as of ``T - 1`` ns), whatever the delivery order.

Formulas (per event, then sampled as of each bar):

* ``vpin`` (``vpin_source="trades"``): VPIN with bulk volume classification of trade-to-trade price
  changes (Easley, López de Prado, O'Hara 2012,
  :func:`~nautilus_ai.indicators.microstructure_kernels.vpin_batch`, ``sigma_window`` 50), NaN until
  ``vpin_buckets`` buckets are complete.
* ``order_flow_imbalance``: ``Σ signed size / Σ |size|`` over the last ``order_flow_window`` trades
  with an aggressor (buyer ``+size``, seller ``-size``; trades without one are ignored), NaN until
  the window is full.
* ``microprice_drift_bps`` = ``(micro - mid) / mid · 1e4`` with Stoikov's (2018) imbalance-weighted
  mid ``micro = ask · I + bid · (1 - I)``, ``I = bid_size / (bid_size + ask_size)``, and ``spread_bps``
  = ``(ask - bid) / mid · 1e4``, of the last valid quote (``0 < bid <= ask``, sizes not negative).
* ``book_imbalance`` = ``(Σ bid sizes - Σ ask sizes) / Σ both`` over the top ``book_levels`` levels of
  the L2 book after the last delta that left both sides at least that deep (thinner books keep the
  previous value).
* ``sentiment_mean``, ``sentiment_count``, ``sentiment_dispersion``: the time-decayed mean (half-life
  ``sentiment_half_life_s``) of every score known before ``T``, and the count and sample standard
  deviation of the scores in ``(T - 1 ns - sentiment_window_s, T - 1 ns]``
  (:func:`~nautilus_ai.indicators.sentiment.sentiment_features_batch`); NaN scores are ignored.
* ``onchain_<metric>_logdiff`` / ``onchain_<metric>_z``: the log difference over ``onchain_diff``
  positive observations and the z-score of the log value over the last ``onchain_window`` ones
  (:func:`~nautilus_ai.indicators.onchain.onchain_features_batch`) at the last observation before
  ``T``; NaN until ``max(onchain_diff + 1, onchain_window)`` positive observations, and NaN at a
  non-positive observation.
"""

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import OrderBookDelta, OrderBookDeltas, QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide, BookType
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.catalog.types import OnChainMetric, SentimentScore
from nautilus_ai.errors import ConfigError
from nautilus_ai.indicators.feature_spec import FeatureSpec
from nautilus_ai.indicators.microstructure_kernels import BASIS_POINTS, vpin_batch
from nautilus_ai.indicators.onchain import onchain_features_batch
from nautilus_ai.indicators.sentiment import sentiment_features_batch

VPIN_SIGMA_WINDOW = 50  # the FeatureActor's VPIN uses the indicator's default sigma window
MAX_BOOK_LEVELS = 10  # FeatureSpec.book_levels is at most 10

TRADE_COLUMNS = ("ts_init", "price", "size", "aggressor")
QUOTE_COLUMNS = ("ts_init", "bid", "ask", "bid_size", "ask_size")
BOOK_COLUMNS = (
    "ts_init",
    *(f"bid_size_{i}" for i in range(MAX_BOOK_LEVELS)),
    *(f"ask_size_{i}" for i in range(MAX_BOOK_LEVELS)),
)
SENTIMENT_COLUMNS = ("ts_init", "score")
ONCHAIN_COLUMNS = ("ts_init", "metric", "value")


@dataclass(frozen=True)
class EventFrames:
    """The raw events of one instrument, each frame in delivery (``ts_init``) order.

    Parameters
    ----------
    trades : pd.DataFrame, optional
        ``ts_init`` (int64 ns), ``price``, ``size``, ``aggressor`` (+1 buyer, -1 seller, 0 none); see
        :func:`trades_to_frame`.
    quotes : pd.DataFrame, optional
        ``ts_init``, ``bid``, ``ask``, ``bid_size``, ``ask_size``; see :func:`quotes_to_frame`.
    book : pd.DataFrame, optional
        The L2 book as the FeatureActor samples it (after each message, or after the last message of
        each ``ts_init``): ``ts_init``, ``bid_size_<i>`` and ``ask_size_<i>`` for the best ten levels
        (NaN where a side is thinner); see :func:`book_depth_frame`.
    sentiment : pd.DataFrame, optional
        The instrument's sentiment scores: ``ts_init``, ``score``; see :func:`sentiment_to_frame`.
    onchain : pd.DataFrame, optional
        The on-chain observations of the spec's ``onchain_instrument``: ``ts_init``, ``metric``,
        ``value``; see :func:`onchain_to_frame`.

    """

    trades: pd.DataFrame | None = None
    quotes: pd.DataFrame | None = None
    book: pd.DataFrame | None = None
    sentiment: pd.DataFrame | None = None
    onchain: pd.DataFrame | None = None


EventFeature = Callable[[str, FeatureSpec, np.ndarray, EventFrames], np.ndarray]


# --------------------------------------------------------------------------------------------------
# Event frames from NautilusTrader objects
# --------------------------------------------------------------------------------------------------


def trades_to_frame(trades: Sequence[TradeTick]) -> pd.DataFrame:
    """Return trade ticks as ``ts_init, price, size, aggressor`` (the doubles the indicators see)."""
    sides = {AggressorSide.BUYER: 1, AggressorSide.SELLER: -1}
    return pd.DataFrame(
        {
            "ts_init": np.array([t.ts_init for t in trades], dtype=np.int64),
            "price": np.array([t.price.as_double() for t in trades], dtype=float),
            "size": np.array([t.size.as_double() for t in trades], dtype=float),
            "aggressor": np.array([sides.get(t.aggressor_side, 0) for t in trades], dtype=np.int8),
        }
    )


def quotes_to_frame(quotes: Sequence[QuoteTick]) -> pd.DataFrame:
    """Return quote ticks as ``ts_init, bid, ask, bid_size, ask_size``."""
    return pd.DataFrame(
        {
            "ts_init": np.array([q.ts_init for q in quotes], dtype=np.int64),
            "bid": np.array([q.bid_price.as_double() for q in quotes], dtype=float),
            "ask": np.array([q.ask_price.as_double() for q in quotes], dtype=float),
            "bid_size": np.array([q.bid_size.as_double() for q in quotes], dtype=float),
            "ask_size": np.array([q.ask_size.as_double() for q in quotes], dtype=float),
        }
    )


def book_depth_frame(
    instrument_id: InstrumentId,
    deltas: Sequence[OrderBookDelta | OrderBookDeltas],
    levels: int = MAX_BOOK_LEVELS,
) -> pd.DataFrame:
    """Return the best ten level sizes per side of the L2 book as the FeatureActor sees it.

    The deltas (single ``OrderBookDelta`` or ``OrderBookDeltas`` messages, in delivery order) are
    applied to a NautilusTrader ``OrderBook`` of type ``L2_MBP``, the book the FeatureActor keeps.
    Bars sample the book as of a time, so only the book after the last message of each ``ts_init``
    matters when that book is at least ``levels`` deep on both sides: then there is one row per
    distinct ``ts_init``. Otherwise (a time at which the book ends thinner than ``levels``, whose
    value falls back to the last deep book before it) there is one row per message.

    Parameters
    ----------
    instrument_id : InstrumentId
        The instrument of the book.
    deltas : Sequence[OrderBookDelta | OrderBookDeltas]
        The book messages in delivery order.
    levels : int, default 10
        The depth the feature reads (``FeatureSpec.book_levels``).

    Returns
    -------
    pd.DataFrame
        ``ts_init`` and ``bid_size_<i>``, ``ask_size_<i>`` for ``i`` in 0..9, best first, NaN where
        a side has fewer levels.

    """
    rows = _book_rows(instrument_id, deltas, levels, per_message=False)
    if rows is None:
        rows = _book_rows(instrument_id, deltas, levels, per_message=True)
    assert rows is not None
    stamps, values = rows
    frame = pd.DataFrame(
        np.array(values, dtype=float).reshape(len(values), 2 * MAX_BOOK_LEVELS),
        columns=list(BOOK_COLUMNS[1:]),
    )
    frame.insert(0, "ts_init", np.array(stamps, dtype=np.int64))
    return frame


def _book_rows(
    instrument_id: InstrumentId,
    deltas: Sequence[OrderBookDelta | OrderBookDeltas],
    levels: int,
    *,
    per_message: bool,
) -> tuple[list[int], list[list[float]]] | None:
    """Replay ``deltas``; one row per message, or per ``ts_init`` (None if a time ends thin)."""
    book = OrderBook(instrument_id, BookType.L2_MBP)
    stamps: list[int] = []
    rows: list[list[float]] = []
    pad = [math.nan] * MAX_BOOK_LEVELS
    for position, item in enumerate(deltas):
        if isinstance(item, OrderBookDeltas):
            book.apply_deltas(item)
        else:
            book.apply_delta(item)
        last_of_time = position + 1 == len(deltas) or deltas[position + 1].ts_init != item.ts_init
        if not (per_message or last_of_time):
            continue
        bids = [level.size() for level in book.bids()[:MAX_BOOK_LEVELS]]
        asks = [level.size() for level in book.asks()[:MAX_BOOK_LEVELS]]
        if not per_message and (len(bids) < levels or len(asks) < levels):
            return None
        rows.append((bids + pad)[:MAX_BOOK_LEVELS] + (asks + pad)[:MAX_BOOK_LEVELS])
        stamps.append(item.ts_init)
    return stamps, rows


def sentiment_to_frame(scores: Sequence[SentimentScore]) -> pd.DataFrame:
    """Return sentiment scores as ``ts_init, score``."""
    return pd.DataFrame(
        {
            "ts_init": np.array([s.ts_init for s in scores], dtype=np.int64),
            "score": np.array([s.score for s in scores], dtype=float),
        }
    )


def onchain_to_frame(metrics: Sequence[OnChainMetric]) -> pd.DataFrame:
    """Return on-chain metrics as ``ts_init, metric, value``."""
    return pd.DataFrame(
        {
            "ts_init": np.array([m.ts_init for m in metrics], dtype=np.int64),
            "metric": [m.metric for m in metrics],
            "value": np.array([m.value for m in metrics], dtype=float),
        }
    )


# --------------------------------------------------------------------------------------------------
# As-of sampling
# --------------------------------------------------------------------------------------------------


def sample_as_of(values: np.ndarray, event_ts: np.ndarray, bar_ts: np.ndarray, *, strict: bool) -> np.ndarray:
    """Return, per bar, the value after the last event with ``ts <= bar_ts`` (``< bar_ts`` if ``strict``).

    NaN for a bar before the first event. ``event_ts`` must be non-decreasing.
    """
    values = np.asarray(values, dtype=float)
    positions = np.searchsorted(
        np.asarray(event_ts, dtype=np.int64), bar_ts, side="left" if strict else "right"
    )
    out = np.full(len(bar_ts), np.nan)
    seen = positions > 0
    out[seen] = values[positions[seen] - 1]
    return out


def _require(frame: pd.DataFrame | None, field: str, columns: Sequence[str], name: str) -> pd.DataFrame:
    if frame is None:
        raise ConfigError(
            f"batch feature {name!r} needs EventFrames.{field} (columns {list(columns)}); none was given"
        )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"batch feature {name!r}: EventFrames.{field} lacks columns {missing}")
    ts = frame["ts_init"].to_numpy(dtype=np.int64)
    if len(ts) > 1 and (np.diff(ts) < 0).any():
        raise ConfigError(f"batch feature {name!r}: EventFrames.{field} must be in increasing ts_init order")
    return frame


# --------------------------------------------------------------------------------------------------
# The event features
# --------------------------------------------------------------------------------------------------


def trade_vpin(name: str, spec: FeatureSpec, bar_ts: np.ndarray, events: EventFrames) -> np.ndarray:
    """Trade-source VPIN sampled at each bar (NaN until ``vpin_buckets`` buckets are complete)."""
    if spec.vpin_bucket_volume is None or spec.vpin_source != "trades":
        raise ConfigError("batch trade vpin needs vpin_bucket_volume and vpin_source='trades'")
    trades = _require(events.trades, "trades", TRADE_COLUMNS, name)
    values = vpin_batch(
        trades["price"].to_numpy(dtype=float),
        trades["size"].to_numpy(dtype=float),
        spec.vpin_bucket_volume,
        spec.vpin_buckets,
        VPIN_SIGMA_WINDOW,
    )
    return sample_as_of(values, trades["ts_init"].to_numpy(dtype=np.int64), bar_ts, strict=False)


def order_flow(name: str, spec: FeatureSpec, bar_ts: np.ndarray, events: EventFrames) -> np.ndarray:
    """Order-flow imbalance of the last ``order_flow_window`` aggressor trades, sampled at each bar."""
    if spec.order_flow_window is None:
        raise ConfigError("batch order_flow_imbalance needs FeatureSpec.order_flow_window")
    trades = _require(events.trades, "trades", TRADE_COLUMNS, name)
    side = trades["aggressor"].to_numpy(dtype=np.int64)
    keep = side != 0
    signed = np.where(side[keep] > 0, 1.0, -1.0) * trades["size"].to_numpy(dtype=float)[keep]
    window = spec.order_flow_window
    values = np.full(len(signed), np.nan)
    if len(signed) >= window:
        views = np.lib.stride_tricks.sliding_window_view(signed, window)
        net, total = views.sum(axis=1), np.abs(views).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            values[window - 1 :] = np.where(total == 0.0, 0.0, net / total)
    stamps = trades["ts_init"].to_numpy(dtype=np.int64)[keep]
    return sample_as_of(values, stamps, bar_ts, strict=False)


def quote_microprice(name: str, spec: FeatureSpec, bar_ts: np.ndarray, events: EventFrames) -> np.ndarray:
    """``microprice_drift_bps`` or ``spread_bps`` of the last valid quote at each bar."""
    quotes = _require(events.quotes, "quotes", QUOTE_COLUMNS, name)
    bid, ask, bid_size, ask_size = (quotes[c].to_numpy(dtype=float) for c in QUOTE_COLUMNS[1:])
    valid = (bid > 0.0) & (bid <= ask) & ~(bid_size < 0.0) & ~(ask_size < 0.0)
    bid, ask, bid_size, ask_size = bid[valid], ask[valid], bid_size[valid], ask_size[valid]
    mid = 0.5 * (bid + ask)
    if name == "spread_bps":
        values = (ask - bid) / mid * BASIS_POINTS
    elif name == "microprice_drift_bps":
        total = bid_size + ask_size
        with np.errstate(divide="ignore", invalid="ignore"):
            weight = bid_size / total
        micro = np.where(total > 0.0, ask * weight + bid * (1.0 - weight), mid)
        values = (micro - mid) / mid * BASIS_POINTS
    else:
        raise KeyError(name)
    stamps = quotes["ts_init"].to_numpy(dtype=np.int64)[valid]
    return sample_as_of(values, stamps, bar_ts, strict=False)


def book_imbalance(name: str, spec: FeatureSpec, bar_ts: np.ndarray, events: EventFrames) -> np.ndarray:
    """Book imbalance of the top ``book_levels`` levels at each bar (thin books keep the last value)."""
    if spec.book_levels is None:
        raise ConfigError("batch book_imbalance needs FeatureSpec.book_levels")
    levels = spec.book_levels
    book = _require(events.book, "book", BOOK_COLUMNS, name)
    bids = book[[f"bid_size_{i}" for i in range(levels)]].to_numpy(dtype=float)
    asks = book[[f"ask_size_{i}" for i in range(levels)]].to_numpy(dtype=float)
    deep = ~np.isnan(bids).any(axis=1) & ~np.isnan(asks).any(axis=1)
    bid_total, ask_total = bids[deep].sum(axis=1), asks[deep].sum(axis=1)
    total = bid_total + ask_total
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(total > 0.0, (bid_total - ask_total) / total, 0.0)
    stamps = book["ts_init"].to_numpy(dtype=np.int64)[deep]
    return sample_as_of(values, stamps, bar_ts, strict=False)


def sentiment(name: str, spec: FeatureSpec, bar_ts: np.ndarray, events: EventFrames) -> np.ndarray:
    """``sentiment_mean``, ``sentiment_count`` or ``sentiment_dispersion`` as of ``bar_ts - 1`` ns."""
    if spec.sentiment_half_life_s is None:
        raise ConfigError("batch sentiment features need FeatureSpec.sentiment_half_life_s")
    column = {"sentiment_mean": 0, "sentiment_count": 1, "sentiment_dispersion": 2}.get(name)
    if column is None:
        raise KeyError(name)
    frame = _require(events.sentiment, "sentiment", SENTIMENT_COLUMNS, name)
    scores = frame["score"].to_numpy(dtype=float)
    known = ~np.isnan(scores)  # the indicator ignores NaN scores
    rows = sentiment_features_batch(
        frame["ts_init"].to_numpy(dtype=np.int64)[known],
        scores[known],
        np.asarray(bar_ts, dtype=np.int64) - 1,
        round(spec.sentiment_half_life_s * 1e9),
        round(spec.sentiment_window_s * 1e9),
    )
    return rows[:, column]


def onchain(name: str, spec: FeatureSpec, bar_ts: np.ndarray, events: EventFrames) -> np.ndarray:
    """``onchain_<metric>_logdiff`` or ``onchain_<metric>_z`` of the last observation before the bar."""
    match = re.fullmatch(r"onchain_(.+)_(logdiff|z)", name)
    if match is None or match.group(1) not in spec.onchain_metrics:
        raise KeyError(name)
    frame = _require(events.onchain, "onchain", ONCHAIN_COLUMNS, name)
    rows = frame[frame["metric"] == match.group(1)]
    values = rows["value"].to_numpy(dtype=float)
    log_diff, z = onchain_features_batch(values, spec.onchain_diff, spec.onchain_window)
    positive = np.isfinite(values) & (values > 0)
    ready = np.cumsum(positive) >= max(spec.onchain_diff + 1, spec.onchain_window)
    feature = np.where(ready, log_diff if match.group(2) == "logdiff" else z, np.nan)
    return sample_as_of(feature, rows["ts_init"].to_numpy(dtype=np.int64), bar_ts, strict=True)


# Feature name (exact) or regular expression (full match) -> batch form from event frames. Explicit:
# a new event feature of the FeatureSpec needs an entry here or in batch_features.BAR_FEATURES.
EVENT_FEATURES: dict[str, EventFeature] = {
    "order_flow_imbalance": order_flow,
    "microprice_drift_bps": quote_microprice,
    "spread_bps": quote_microprice,
    "book_imbalance": book_imbalance,
    "sentiment_mean": sentiment,
    "sentiment_count": sentiment,
    "sentiment_dispersion": sentiment,
    r"onchain_.+_(logdiff|z)": onchain,
}
