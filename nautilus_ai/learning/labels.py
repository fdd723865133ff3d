"""Point-in-time training labels built from a close-price series.

The label of bar ``t`` over a horizon of ``h`` bars is the return from ``close[t]`` to
``close[t + h]``. It only becomes known at the time of bar ``t + h``: :func:`label_end_times` gives
that time for each bar, so that walk-forward splits can purge training rows whose label is not
yet known at the train end.
"""

from __future__ import annotations

import pandas as pd

from nautilus_ai.errors import ConfigError


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
