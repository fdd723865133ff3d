"""Batch twins of the FeatureActor's features: whole bar and event histories at once, in numpy/pandas.

:func:`batch_feature_frame` computes, from a frame of bars, exactly the columns and rows the
:class:`~nautilus_ai.indicators.feature_actor.FeatureActor` publishes for the bar features of a
:class:`~nautilus_ai.indicators.feature_spec.FeatureSpec` (the default price features, the range
volatilities and bar-source VPIN), so training features can be built without a backtest replay.
``tests/unit/indicators/test_batch_features.py`` checks every registered feature against the
streaming replay on real bars. Event-driven features (trade VPIN, order flow, microprice and spread,
book imbalance, sentiment, on-chain) are computed from the raw events passed as
:class:`~nautilus_ai.indicators.batch_events.EventFrames` (formulas and as-of rules in
:mod:`~nautilus_ai.indicators.batch_events`, tests in ``test_batch_event_features.py``); one registry,
:data:`BATCH_FEATURES`, covers every feature name a FeatureSpec can emit. A spec whose event frames
are missing is refused (:class:`~nautilus_ai.errors.ConfigError`).

Every formula works on the bars' values in ``ts_init`` order (bar ``t`` is the bar closing at ``t``):

* ``ret_<h>`` = ``ln(close_t / close_{t-h})``.
* ``ema_ratio_<n>`` = ``close_t / EMA_n(close)_t - 1``; NautilusTrader's EMA has ``alpha = 2 / (n + 1)``
  and is seeded with the first close (``ewm(span=n, adjust=False)``).
* ``rsi``: NautilusTrader's RSI, EMAs (``alpha = 2 / (period + 1)``) of gains and losses with the first
  change counted as 0; ``1 - 1 / (1 + avg_gain / avg_loss)``, 1 when ``avg_loss`` is 0.
* ``atr_ratio`` = ``ATR / close``; NautilusTrader's ATR is the simple mean of the last ``atr_period``
  true ranges ``max(close_{t-1}, high) - min(low, close_{t-1})`` (the first bar's is ``high - low``).
* ``rvol``: sample standard deviation (ddof=1) of the last ``volatility_window`` one-bar log returns.
* ``volume_z``: ``(volume - mean) / std`` over the last ``volume_window`` volumes (current included,
  ddof=1), 0 when the window's std is 0.
* ``parkinson_vol`` / ``garman_klass_vol``: root mean of the per-bar Parkinson / Garman-Klass
  variances over ``range_volatility_window`` bars
  (:func:`~nautilus_ai.indicators.microstructure_kernels.parkinson_volatility_batch`).
* ``vpin`` (``vpin_source="bars"``): bulk-volume-classified VPIN of the close-to-close changes and bar
  volumes (:func:`~nautilus_ai.indicators.microstructure_kernels.vpin_batch`, ``sigma_window`` 50 as
  the actor's VPIN), NaN until ``vpin_buckets`` buckets are complete.

The first row is the bar at which the actor publishes its first vector: the ``warmup_bars()``-th bar
(every bar indicator initialized and the close history full).
"""

import re
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from nautilus_trader.model.data import Bar

from nautilus_ai.errors import ConfigError
from nautilus_ai.indicators.batch_events import (
    EVENT_FEATURES,
    VPIN_SIGMA_WINDOW,
    EventFeature,
    EventFrames,
    trade_vpin,
)
from nautilus_ai.indicators.feature_spec import FeatureSpec
from nautilus_ai.indicators.microstructure_kernels import (
    garman_klass_volatility_batch,
    parkinson_volatility_batch,
    vpin_batch,
)

BAR_COLUMNS = ("open", "high", "low", "close", "volume")

BatchFeature = Callable[[str, FeatureSpec, pd.DataFrame], pd.Series]


def bars_to_frame(bars: Sequence[Bar]) -> pd.DataFrame:
    """Return bars as ``open, high, low, close, volume, ts_event, ts_init`` indexed by ``ts_init`` (UTC).

    The values are the doubles the indicators see; this is the input of :func:`batch_feature_frame`.
    """
    frame = pd.DataFrame(
        {
            "open": [b.open.as_double() for b in bars],
            "high": [b.high.as_double() for b in bars],
            "low": [b.low.as_double() for b in bars],
            "close": [b.close.as_double() for b in bars],
            "volume": [b.volume.as_double() for b in bars],
            "ts_event": pd.array([b.ts_event for b in bars], dtype="int64"),
            "ts_init": pd.array([b.ts_init for b in bars], dtype="int64"),
        }
    )
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame["ts_init"], unit="ns", utc=True))
    return frame


def _trailing(values: np.ndarray, window: int, reduce: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Return ``reduce`` of each trailing window of ``values`` (NaN before the first full window)."""
    out = np.full(values.shape, np.nan)
    if len(values) >= window:
        out[window - 1 :] = reduce(np.lib.stride_tricks.sliding_window_view(values, window))
    return out


def _series(values: np.ndarray | pd.Series, bars: pd.DataFrame) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=float), index=bars.index)


def log_return(name: str, spec: FeatureSpec, bars: pd.DataFrame) -> pd.Series:
    """``ret_<h>`` = ``ln(close_t / close_{t-h})``."""
    match = re.fullmatch(r"ret_(\d+)", name)
    if match is None:
        raise KeyError(name)
    close = bars["close"]
    return _series(np.log(close / close.shift(int(match.group(1)))), bars)


def ema_ratio(name: str, spec: FeatureSpec, bars: pd.DataFrame) -> pd.Series:
    """``ema_ratio_<n>`` = ``close / EMA_n(close) - 1`` (alpha 2 / (n + 1), seeded by the first close)."""
    match = re.fullmatch(r"ema_ratio_(\d+)", name)
    if match is None:
        raise KeyError(name)
    close = bars["close"]
    return _series(close / close.ewm(span=int(match.group(1)), adjust=False).mean() - 1.0, bars)


def rsi(name: str, spec: FeatureSpec, bars: pd.DataFrame) -> pd.Series:
    """NautilusTrader's RSI in [0, 1]: EMAs of gains and losses, ``1 - 1 / (1 + gain / loss)``."""
    close = bars["close"]
    change = close.diff().fillna(0.0)
    gain = change.clip(lower=0.0).ewm(span=spec.rsi_period, adjust=False).mean()
    loss = (-change).clip(lower=0.0).ewm(span=spec.rsi_period, adjust=False).mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        return _series(np.where(loss == 0.0, 1.0, 1.0 - 1.0 / (1.0 + gain / loss)), bars)


def atr_ratio(name: str, spec: FeatureSpec, bars: pd.DataFrame) -> pd.Series:
    """``ATR / close`` with NautilusTrader's ATR: the simple mean of the last ``atr_period`` true ranges."""
    close, high, low = bars["close"], bars["high"], bars["low"]
    previous = close.shift(1).fillna(close)
    true_range = np.maximum(previous.to_numpy(float), high.to_numpy(float)) - np.minimum(
        low.to_numpy(float), previous.to_numpy(float)
    )
    atr = _trailing(true_range, spec.atr_period, lambda w: w.mean(axis=1))
    return _series(atr / close.to_numpy(dtype=float), bars)


def realized_volatility(name: str, spec: FeatureSpec, bars: pd.DataFrame) -> pd.Series:
    """``rvol``: sample std (ddof=1) of the last ``volatility_window`` one-bar log returns."""
    close = bars["close"].to_numpy(dtype=float)
    out = np.full(close.shape, np.nan)
    if len(close) > 1:
        returns = np.log(close[1:] / close[:-1])
        out[1:] = _trailing(returns, spec.volatility_window, lambda w: w.std(axis=1, ddof=1))
    return _series(out, bars)


def volume_zscore(name: str, spec: FeatureSpec, bars: pd.DataFrame) -> pd.Series:
    """``volume_z``: z-score of the volume in its trailing ``volume_window`` (ddof=1; 0 for a flat window)."""
    values = bars["volume"].to_numpy(dtype=float)
    mean = _trailing(values, spec.volume_window, lambda w: w.mean(axis=1))
    std = _trailing(values, spec.volume_window, lambda w: w.std(axis=1, ddof=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return _series(np.where(std == 0.0, 0.0, (values - mean) / std), bars)


def parkinson_vol(name: str, spec: FeatureSpec, bars: pd.DataFrame) -> pd.Series:
    """Parkinson volatility per bar over ``range_volatility_window`` bars."""
    window = _range_window(spec)
    return _series(parkinson_volatility_batch(bars["high"].to_numpy(), bars["low"].to_numpy(), window), bars)


def garman_klass_vol(name: str, spec: FeatureSpec, bars: pd.DataFrame) -> pd.Series:
    """Garman-Klass volatility per bar over ``range_volatility_window`` bars."""
    window = _range_window(spec)
    open_, high, low, close = (bars[c].to_numpy(dtype=float) for c in ("open", "high", "low", "close"))
    return _series(garman_klass_volatility_batch(open_, high, low, close, window), bars)


def vpin(name: str, spec: FeatureSpec, bars: pd.DataFrame) -> pd.Series:
    """Bar-source VPIN (close-to-close bulk volume classification), NaN until enough buckets."""
    if spec.vpin_bucket_volume is None or spec.vpin_source != "bars":
        raise ConfigError("batch vpin needs vpin_bucket_volume and vpin_source='bars'")
    values = vpin_batch(
        bars["close"].to_numpy(dtype=float),
        bars["volume"].to_numpy(dtype=float),
        spec.vpin_bucket_volume,
        spec.vpin_buckets,
        VPIN_SIGMA_WINDOW,
    )
    return _series(values, bars)


def _range_window(spec: FeatureSpec) -> int:
    if spec.range_volatility_window is None:
        raise ConfigError("range volatility features need FeatureSpec.range_volatility_window")
    return spec.range_volatility_window


# Feature name (exact) or regular expression (full match) -> batch form. Explicit: a new bar feature
# of the FeatureSpec needs an entry here (test_batch_features checks every name has one).
BAR_FEATURES: dict[str, BatchFeature] = {
    r"ret_\d+": log_return,
    "rsi": rsi,
    r"ema_ratio_\d+": ema_ratio,
    "atr_ratio": atr_ratio,
    "rvol": realized_volatility,
    "volume_z": volume_zscore,
    "parkinson_vol": parkinson_vol,
    "garman_klass_vol": garman_klass_vol,
    "vpin": vpin,
}

AnyFeature = Callable[[str, FeatureSpec, pd.DataFrame, EventFrames], pd.Series]


def bar_timestamps(bars: pd.DataFrame) -> np.ndarray:
    """Return the bars' ``ts_init`` in nanoseconds (the ``ts_init`` column, else the UTC index)."""
    if "ts_init" in bars.columns:
        return bars["ts_init"].to_numpy(dtype=np.int64)
    return np.asarray(pd.DatetimeIndex(bars.index).as_unit("ns").asi8, dtype=np.int64)


def _from_bars(function: BatchFeature) -> AnyFeature:
    def feature(name: str, spec: FeatureSpec, bars: pd.DataFrame, events: EventFrames) -> pd.Series:
        return function(name, spec, bars)

    feature.__doc__ = function.__doc__
    return feature


def _from_events(function: EventFeature) -> AnyFeature:
    def feature(name: str, spec: FeatureSpec, bars: pd.DataFrame, events: EventFrames) -> pd.Series:
        return _series(function(name, spec, bar_timestamps(bars), events), bars)

    feature.__doc__ = function.__doc__
    return feature


def vpin_of_source(name: str, spec: FeatureSpec, bars: pd.DataFrame, events: EventFrames) -> pd.Series:
    """``vpin`` from the bars (``vpin_source="bars"``) or from the trades (``vpin_source="trades"``)."""
    if spec.vpin_source == "trades":
        return _series(trade_vpin(name, spec, bar_timestamps(bars), events), bars)
    return vpin(name, spec, bars)


# Every feature name any FeatureSpec can emit -> its batch form over bars and event frames.
BATCH_FEATURES: dict[str, AnyFeature] = {
    **{pattern: _from_bars(f) for pattern, f in BAR_FEATURES.items() if pattern != "vpin"},
    "vpin": vpin_of_source,
    **{pattern: _from_events(f) for pattern, f in EVENT_FEATURES.items()},
}

# The EventFrames field each event feature reads (bar-source vpin reads none).
_EVENT_INPUTS = {
    "order_flow_imbalance": "trades",
    "microprice_drift_bps": "quotes",
    "spread_bps": "quotes",
    "book_imbalance": "book",
    "sentiment_mean": "sentiment",
    "sentiment_count": "sentiment",
    "sentiment_dispersion": "sentiment",
}


def find_batch_feature(name: str) -> AnyFeature | None:
    """Return the batch form of the feature ``name`` (exact names first, then patterns), or None."""
    if name in BATCH_FEATURES:
        return BATCH_FEATURES[name]
    for pattern, function in BATCH_FEATURES.items():
        if re.fullmatch(pattern, name):
            return function
    return None


def batch_feature(
    name: str, spec: FeatureSpec, bars: pd.DataFrame, events: EventFrames | None = None
) -> pd.Series:
    """Return one feature over every bar of ``bars`` (NaN where undefined, no warm-up row cut).

    Raises
    ------
    KeyError
        If the feature has no batch form.
    ConfigError
        If an event feature's frame is missing from ``events``.

    """
    function = find_batch_feature(name)
    if function is None:
        raise KeyError(f"no batch form for feature {name!r}: add one to BAR_FEATURES or EVENT_FEATURES")
    return function(name, spec, bars, events if events is not None else EventFrames())


def event_inputs(spec: FeatureSpec) -> dict[str, list[str]]:
    """Return, per ``EventFrames`` field, the spec's features that read it."""
    needs: dict[str, list[str]] = {}
    for name in spec.event_feature_names():
        if name == "vpin":
            field = "trades" if spec.vpin_source == "trades" else None
        elif name.startswith("onchain_"):
            field = "onchain"
        else:
            field = _EVENT_INPUTS[name]
        if field is not None:
            needs.setdefault(field, []).append(name)
    return needs


def features_missing_events(spec: FeatureSpec, events: EventFrames | None = None) -> list[str]:
    """Return the spec's features whose event frame is missing from ``events`` (all event inputs if None)."""
    events = events if events is not None else EventFrames()
    return [
        name
        for field, names in event_inputs(spec).items()
        if getattr(events, field) is None
        for name in names
    ]


def require_batch_spec(spec: FeatureSpec, events: EventFrames | None = None) -> None:
    """Raise :class:`ConfigError` naming the spec's features whose event frames ``events`` lacks."""
    refused = features_missing_events(spec, events)
    if refused:
        fields = sorted(f for f, names in event_inputs(spec).items() if set(names) & set(refused))
        raise ConfigError(
            f"batch features cannot compute {', '.join(refused)} without the event frames "
            f"{fields} (trades, quotes, order books or alternative data): pass them in EventFrames, "
            "or build them with the streaming replay (features build without --batch)"
        )


def batch_feature_frame(
    bars: pd.DataFrame, spec: FeatureSpec, events: EventFrames | None = None
) -> pd.DataFrame:
    """Return the FeatureActor's feature columns for ``bars``, from its first published row on.

    Parameters
    ----------
    bars : pd.DataFrame
        Columns ``open``, ``high``, ``low``, ``close``, ``volume`` (and optionally ``ts_init`` in ns);
        index the bars' ``ts_init`` (UTC, increasing).
    spec : FeatureSpec
        The features.
    events : EventFrames, optional
        The raw events the spec's event-driven features need (see
        :mod:`nautilus_ai.indicators.batch_events`); not needed for bar features only.

    Returns
    -------
    pd.DataFrame
        One column per ``spec.feature_names()`` in order, one row per bar from the
        ``warmup_bars()``-th bar on (empty when there are fewer bars), indexed like ``bars``.

    Raises
    ------
    ConfigError
        If the spec has event-driven features whose event frame is missing, or ``bars`` lacks a column.

    """
    require_batch_spec(spec, events)
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise ConfigError(f"batch features need bar columns {list(BAR_COLUMNS)}; missing {missing}")
    if not bars.index.is_monotonic_increasing:
        raise ConfigError("batch features need bars in increasing ts_init order")
    timestamps = bar_timestamps(bars)
    bars = bars[list(BAR_COLUMNS)].astype(float)
    bars["ts_init"] = timestamps
    names = spec.feature_names()
    frame = pd.DataFrame({name: batch_feature(name, spec, bars, events) for name in names}, index=bars.index)
    frame = frame[names]
    return frame.iloc[spec.warmup_bars() - 1 :]
