"""Point-in-time training labels built from a close-price series.

The label of bar ``t`` over a horizon of ``h`` bars is the return from ``close[t]`` to
``close[t + h]``. It only becomes known at the time of bar ``t + h``: :func:`label_end_times` gives
that time for each bar, so that walk-forward splits can purge training rows whose label is not
yet known at the train end.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from nautilus_ai.errors import ConfigError, DataError


def _check_horizon(horizon: int) -> None:
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ConfigError(f"label horizon must be an integer >= 1 (got {horizon!r}): set it to 1 or more")


def forward_returns(close: pd.Series, horizon: int) -> pd.Series:
    """Compute the forward return ``close[t + horizon] / close[t] - 1`` of every bar.

    Parameters
    ----------
    close : pd.Series
        Close prices in time order.
    horizon : int
        Number of bars to look forward (>= 1).

    Returns
    -------
    pd.Series
        Float forward returns on the index of ``close``; NaN for the last ``horizon`` bars, whose
        future close is not in the series.

    Raises
    ------
    ConfigError
        If ``horizon`` is not an integer >= 1.

    """
    _check_horizon(horizon)
    values = close.astype("float64")
    fwd = values.shift(-horizon) / values - 1.0
    fwd.name = f"fwd_return_{horizon}"
    return fwd


def label_end_times(index: pd.Index, horizon: int) -> pd.Index:
    """Return the time at which each bar's ``horizon``-bar label becomes known.

    Parameters
    ----------
    index : pd.Index
        The bar times (a ``DatetimeIndex``) in time order.
    horizon : int
        Number of bars to look forward (>= 1).

    Returns
    -------
    pd.Index
        ``index`` shifted back by ``horizon`` positions: element ``t`` is ``index[t + horizon]``,
        NaT for the last ``horizon`` bars.

    Raises
    ------
    ConfigError
        If ``horizon`` is not an integer >= 1.

    """
    _check_horizon(horizon)
    return pd.Index(pd.Series(index, copy=True).shift(-horizon), name="label_end_time")


def direction_labels(fwd: pd.Series) -> pd.Series:
    """Turn forward returns into direction labels: 1 when the return is > 0, else 0.

    Parameters
    ----------
    fwd : pd.Series
        Forward returns, as returned by :func:`forward_returns`.

    Returns
    -------
    pd.Series
        Float series of 0.0 / 1.0 on the same index, NaN where ``fwd`` is NaN (label not known).

    """
    labels = (fwd > 0).astype("float64")
    labels[fwd.isna()] = float("nan")
    labels.name = "direction"
    return labels


# --------------------------------------------------------------------------------------------------
# Label end times as a series: the common input of splits and sample weights
# --------------------------------------------------------------------------------------------------


def check_label_end_times(t1: pd.Series, *, name: str = "t1") -> pd.Series:
    """Validate label end times ``t1`` indexed by label start time ``t0`` and return them.

    Every label ``i`` covers the closed interval ``[t0_i, t1_i]``: it starts at ``t0_i`` (the index)
    and becomes known at ``t1_i`` (the value). Splits purge on these intervals and sample weights
    count their overlaps.

    Parameters
    ----------
    t1 : pd.Series
        Label end times (datetime64 values) on a ``DatetimeIndex`` of label start times.
    name : str, default "t1"
        The name used for ``t1`` in error messages.

    Returns
    -------
    pd.Series
        ``t1`` itself, unchanged.

    Raises
    ------
    DataError
        If ``t1`` is not a series of datetimes on a ``DatetimeIndex``, if the index is not strictly
        increasing, if a value is missing (NaT: the label is not known yet, drop it first) or if some
        ``t1 < t0``.

    """
    if not isinstance(t1, pd.Series) or not isinstance(t1.index, pd.DatetimeIndex):
        raise DataError(
            f"{name} must be a pd.Series of label end times on a DatetimeIndex of label start times "
            f"(got {type(t1).__name__} on {type(getattr(t1, 'index', None)).__name__})",
            field=name,
        )
    if not pd.api.types.is_datetime64_any_dtype(t1.dtype):
        raise DataError(f"{name} values must be datetimes (got dtype {t1.dtype})", field=name)
    if not (t1.index.is_monotonic_increasing and t1.index.is_unique):
        raise DataError(
            f"{name} index (label start times t0) must be strictly increasing: sort it and drop duplicates",
            field=name,
        )
    missing = t1.isna().to_numpy()
    if missing.any():
        first_missing = t1.index[int(np.argmax(missing))]
        raise DataError(
            f"{name} has {int(missing.sum())} missing end times (first at t0={first_missing}): "
            "drop the labels that are not known yet",
            field=name,
        )
    if (t1.dt.tz is None) != (t1.index.tz is None):
        raise DataError(
            f"{name} values and index must both be tz-aware or both naive "
            f"(values tz={t1.dt.tz}, index tz={t1.index.tz})",
            field=name,
        )
    start_ns, end_ns = _nanoseconds(t1.index), _nanoseconds(t1)
    before = end_ns < start_ns
    if before.any():
        first = int(np.argmax(before))
        raise DataError(
            f"{name} must end at or after its start: t1={t1.iloc[first]} < t0={t1.index[first]}",
            field=name,
        )
    return t1


def label_intervals(t1: pd.Series, *, name: str = "t1") -> tuple[np.ndarray, np.ndarray]:
    """Validate ``t1`` and return its label intervals as int64 nanoseconds since the epoch (UTC).

    Parameters
    ----------
    t1 : pd.Series
        Label end times on a ``DatetimeIndex`` of label start times (see :func:`check_label_end_times`).
    name : str, default "t1"
        The name used for ``t1`` in error messages.

    Returns
    -------
    tuple of np.ndarray
        ``(t0, t1)``: two int64 arrays of the interval starts and ends.

    Raises
    ------
    DataError
        As :func:`check_label_end_times`.

    """
    check_label_end_times(t1, name=name)
    return _nanoseconds(t1.index), _nanoseconds(t1)


def _nanoseconds(values: pd.Index | pd.Series) -> np.ndarray:
    return np.asarray(pd.DatetimeIndex(values).as_unit("ns").asi8, dtype="int64")


# --------------------------------------------------------------------------------------------------
# Triple-barrier labels
# --------------------------------------------------------------------------------------------------

BARRIER_UPPER = "upper"
BARRIER_LOWER = "lower"
BARRIER_VERTICAL = "vertical"


def rolling_volatility(close: pd.Series, span: int = 20) -> pd.Series:
    r"""Estimate the volatility of one-bar returns known at each bar, from past closes only.

    .. math::

        r_t = \frac{c_t}{c_{t-1}} - 1, \qquad
        \sigma_t = \sqrt{\operatorname{EWMVar}_{\alpha}(r_{\le t})}, \qquad \alpha = \frac{2}{1 + s}

    ``sigma_t`` uses the closes up to and including ``c_t``, which is known at the bar's close: it
    never changes when later bars are appended.

    Parameters
    ----------
    close : pd.Series
        Close prices in time order.
    span : int, default 20
        The span ``s`` of the exponentially weighted variance (>= 2); also the number of returns
        needed before the first estimate.

    Returns
    -------
    pd.Series
        The volatility on the index of ``close``; NaN for the first ``span`` bars (warm-up).

    Raises
    ------
    ConfigError
        If ``span`` is not an integer >= 2.

    """
    if isinstance(span, bool) or not isinstance(span, int) or span < 2:
        raise ConfigError(f"volatility span must be an integer >= 2 (got {span!r})")
    returns = close.astype("float64").pct_change(fill_method=None)
    vol = returns.ewm(span=span, min_periods=span, adjust=True).std()
    vol.name = f"volatility_{span}"
    return vol


def _check_multiple(value: float | None, name: str) -> float:
    if value is None:
        return float("inf")
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value) or value <= 0:
        raise ConfigError(
            f"{name} must be a finite number > 0 or None to disable the barrier (got {value!r})"
        )
    return float(value)


def triple_barrier_labels(
    close: pd.Series,
    *,
    max_holding_bars: int,
    profit_take: float | None = 1.0,
    stop_loss: float | None = 1.0,
    volatility: pd.Series | None = None,
    volatility_span: int = 20,
    events: pd.Index | None = None,
    side: pd.Series | None = None,
    vertical_label: Literal["zero", "sign"] = "zero",
) -> pd.DataFrame:
    """Label events by the first of three barriers their close path touches.

    For an event at bar ``i`` (time ``t0``) with volatility ``sigma_i`` known at ``t0`` and the return
    path ``R_j = c_j / c_i - 1`` for ``j = i + 1, ..., i + N``:

    * upper barrier: ``R_j >= u_i``, lower barrier: ``R_j <= -l_i``, with ``u_i = m_pt * sigma_i``
      and ``l_i = m_sl * sigma_i`` (for a short primary side the two multiples swap, so that the
      profit-take is always on the side that makes the trade money);
    * vertical barrier: bar ``i + N`` when neither was touched before.

    The first touched bar ``j*`` gives ``t1 = time(j*)``, ``return = c_{j*} / c_i - 1``, the label
    ``+1`` (upper), ``-1`` (lower) or, at the vertical barrier, ``0`` (or ``sign(return)`` with
    ``vertical_label="sign"``).

    Conventions: barriers are checked on **close** prices only, at bar closes after the event bar (the
    event bar itself is not checked); a close that gaps through a barrier gives a return beyond it (no
    fill at the barrier is assumed); a touch on equality counts (a volatility of 0 puts both barriers at
    the entry price, and a close equal to it counts as the upper barrier). Nothing after ``t1`` is read,
    and only the volatility at ``t0`` is used, so the default :func:`rolling_volatility` makes the labels
    point-in-time: a label whose ``t1`` is inside the data never changes when later bars are appended. A
    label is unknown (NaN label and return, NaT ``t1``, missing barrier) when its volatility is NaN
    (warm-up) or when no horizontal barrier is touched before the data ends and the vertical barrier is
    past the end.

    Parameters
    ----------
    close : pd.Series
        Close prices on a strictly increasing ``DatetimeIndex``.
    max_holding_bars : int
        ``N``, the vertical barrier in bars after the event (>= 1).
    profit_take : float or None, default 1.0
        ``m_pt``, the profit-take barrier as a multiple of volatility (> 0); None disables it.
    stop_loss : float or None, default 1.0
        ``m_sl``, the stop-loss barrier as a multiple of volatility (> 0); None disables it.
    volatility : pd.Series, optional
        Volatility of returns on the index of ``close``, each value known at its bar. Defaults to
        ``rolling_volatility(close, volatility_span)``.
    volatility_span : int, default 20
        Span of the default volatility estimate.
    events : pd.Index, optional
        Event start times, a subset of ``close.index`` (for example CUSUM events). Defaults to every bar.
    side : pd.Series, optional
        Primary side per event (+1 long, -1 short, 0 none) on the event times. For ``-1`` the upper
        (price) barrier is at ``m_sl * sigma`` and the lower at ``m_pt * sigma``; labels and returns
        stay in price terms (use :func:`meta_labels` for the trade outcome).
    vertical_label : {"zero", "sign"}, default "zero"
        The label when the vertical barrier is hit first: ``0`` or the sign of the return there.

    Returns
    -------
    pd.DataFrame
        Indexed by event time ``t0``, columns: ``t1`` (datetime), ``return`` (float), ``label``
        (float in {-1, 0, 1}, NaN when unknown), ``barrier`` ("upper", "lower", "vertical", missing
        when unknown) and ``volatility`` (the ``sigma_i`` used).

    Raises
    ------
    ConfigError
        If a parameter is out of range.
    DataError
        If ``close`` is not on a strictly increasing ``DatetimeIndex`` or has a price that is not
        finite and > 0, if an event is not a bar of ``close``, or if ``volatility`` or ``side`` do
        not cover the events.

    Notes
    -----
    The paths of all events are compared at once in a ``(len(events), N)`` matrix: memory grows as
    ``len(events) * N``, so label very long series in chunks of events.

    References
    ----------
    M. López de Prado, *Advances in Financial Machine Learning*, Wiley, 2018, ch. 3.4.

    Examples
    --------
    Closes 100, 101, 103, 99 with sigma = 2 % at the first bar and 1x barriers: the path is
    +1 %, +3 % (>= +2 %: upper barrier), so ``label = 1``, ``return = 0.03`` and ``t1`` is bar 2.

    """
    _check_horizon(max_holding_bars)
    upper_multiple = _check_multiple(profit_take, "profit_take")
    lower_multiple = _check_multiple(stop_loss, "stop_loss")
    if vertical_label not in ("zero", "sign"):
        raise ConfigError(f"vertical_label must be 'zero' or 'sign' (got {vertical_label!r})")
    if not isinstance(close.index, pd.DatetimeIndex) or not close.index.is_monotonic_increasing:
        raise DataError("close must be on a DatetimeIndex in increasing time order", field="close")
    if not close.index.is_unique:
        raise DataError("close index has duplicate times: drop them first", field="close")

    if volatility is None:
        volatility = rolling_volatility(close, volatility_span)
    event_index = close.index if events is None else pd.DatetimeIndex(events)
    if not (event_index.is_monotonic_increasing and event_index.is_unique):
        raise DataError("events must be strictly increasing times: sort them and drop duplicates")
    positions = close.index.get_indexer(event_index)
    if (positions < 0).any():
        missing = event_index[positions < 0][0]
        raise DataError(f"event {missing} is not a bar of close: events must be a subset of close.index")
    sigma = _align(volatility, event_index, "volatility")
    if side is None:
        sides = np.zeros(len(event_index))
    else:
        sides = _align(side, event_index, "side")
        if not np.isin(sides, (-1.0, 0.0, 1.0)).all():
            raise DataError("side must be -1, 0 or +1 at every event", field="side")
    upper_width = np.where(sides < 0, lower_multiple, upper_multiple) * sigma
    lower_width = np.where(sides < 0, upper_multiple, lower_multiple) * sigma

    values = close.to_numpy(dtype="float64")
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        raise DataError(
            f"close must be finite and > 0 at every bar (first bad value {values[bad][0]} at "
            f"{close.index[bad][0]}): clean or drop those bars",
            field="close",
        )
    n = len(values)
    # Path matrix: row e holds c[i_e + 1 .. i_e + N] / c[i_e] - 1, NaN past the end of the data.
    offsets = positions[:, None] + np.arange(1, max_holding_bars + 1)[None, :]
    inside = offsets < n
    path = np.full(offsets.shape, np.nan)
    path[inside] = values[offsets[inside]]
    path = path / values[positions][:, None] - 1.0

    with np.errstate(invalid="ignore"):
        upper_hit = path >= upper_width[:, None]
        lower_hit = path <= -lower_width[:, None]
    touched = upper_hit | lower_hit
    any_touch = touched.any(axis=1)
    first_touch = np.where(any_touch, touched.argmax(axis=1), max_holding_bars - 1)
    vertical_inside = positions + max_holding_bars < n
    known = np.isfinite(sigma) & (any_touch | vertical_inside)

    rows = np.arange(len(positions))
    end_position = np.where(known, positions + 1 + first_touch, 0)
    realized = np.where(known, path[rows, first_touch], np.nan)
    is_upper = any_touch & upper_hit[rows, first_touch]
    is_lower = any_touch & ~is_upper
    vertical_value = np.sign(realized) if vertical_label == "sign" else np.zeros(len(rows))
    label = np.where(is_upper, 1.0, np.where(is_lower, -1.0, vertical_value))
    label = np.where(known, label, np.nan)
    barrier = np.where(is_upper, BARRIER_UPPER, np.where(is_lower, BARRIER_LOWER, BARRIER_VERTICAL))

    t1 = pd.Series(close.index[end_position], index=event_index).where(known)
    return pd.DataFrame(
        {
            "t1": t1,
            "return": realized,
            "label": label,
            "barrier": pd.Series(barrier, index=event_index, dtype="string").where(known),
            "volatility": sigma,
        },
        index=event_index,
    )


def _align(series: pd.Series, index: pd.Index, name: str) -> np.ndarray:
    if not index.isin(series.index).all():
        missing = index[~index.isin(series.index)][0]
        raise DataError(f"{name} has no value at event {missing}: give it on every event time", field=name)
    return series.reindex(index).to_numpy(dtype="float64")


def meta_labels(side: pd.Series, outcome: pd.DataFrame) -> pd.Series:
    r"""Label whether the primary model's trade made money: the stage-3 (meta-model) target.

    .. math::

        y_i = \mathbb{1}[s_i \, R_i > 0]

    with ``s_i`` the primary side and ``R_i`` the price return to the first barrier. Events with
    side ``0`` (no trade) and trades that returned exactly zero get ``0``.

    Parameters
    ----------
    side : pd.Series
        Primary side per event: +1 long, -1 short, 0 no trade.
    outcome : pd.DataFrame
        The :func:`triple_barrier_labels` frame of the same events (ideally computed with
        ``side=side`` so that profit-take and stop sit on the right sides).

    Returns
    -------
    pd.Series
        Float 1.0 / 0.0 on the events' index, NaN where the outcome is not known yet.

    Raises
    ------
    DataError
        If ``side`` has values other than -1, 0, +1 or does not cover the outcome's events.

    References
    ----------
    M. López de Prado, *Advances in Financial Machine Learning*, Wiley, 2018, ch. 3.6.

    """
    sides = _align(side, outcome.index, "side")
    if not np.isin(sides, (-1.0, 0.0, 1.0)).all():
        raise DataError("side must be -1, 0 or +1 at every event", field="side")
    realized = outcome["return"].to_numpy(dtype="float64")
    labels = np.where(np.isnan(realized), np.nan, (sides * realized > 0).astype("float64"))
    return pd.Series(labels, index=outcome.index, name="meta_label")
