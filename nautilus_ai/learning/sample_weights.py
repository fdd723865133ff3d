"""Sample weights for overlapping labels: concurrency, uniqueness, return attribution, time decay.

Labels that span several bars overlap, so the samples are not independent: a bar covered by five
labels informs each of them a fifth as much. Every function here takes the label intervals as
``t1``, a series of label end times indexed by label start time (``[t0_i, t1_i]`` closed, as in
:mod:`nautilus_ai.learning.splits`), and the bar times on which overlaps are counted. The weights
feed ``sample_weight=`` of a model's ``fit`` and the sampling of sequential bootstraps.

References
----------
M. López de Prado, *Advances in Financial Machine Learning*, Wiley, 2018, ch. 4.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.learning.labels import label_intervals


def _bar_positions(t1: pd.Series, bars: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Return, per label, the first bar position inside its interval and one past the last."""
    if not isinstance(bars, pd.DatetimeIndex) or not (bars.is_monotonic_increasing and bars.is_unique):
        raise DataError("bar times must be a strictly increasing DatetimeIndex", field="bars")
    t0_ns, t1_ns = label_intervals(t1)
    bar_ns = np.asarray(bars.as_unit("ns").asi8, dtype="int64")
    start = np.searchsorted(bar_ns, t0_ns, side="left")
    stop = np.searchsorted(bar_ns, t1_ns, side="right")
    empty = stop <= start
    if empty.any():
        first = int(np.argmax(empty))
        raise DataError(
            f"label starting at {t1.index[first]} (ending {t1.iloc[first]}) covers no bar: "
            "give the bar times the labels were built on",
            field="t1",
        )
    return start, stop


def _counts(start: np.ndarray, stop: np.ndarray, n_bars: int) -> np.ndarray:
    steps = np.zeros(n_bars + 1, dtype=np.int64)
    np.add.at(steps, start, 1)
    np.add.at(steps, stop, -1)
    return np.cumsum(steps[:-1])


def concurrent_label_counts(t1: pd.Series, bars: pd.Index) -> pd.Series:
    r"""Count the labels whose interval covers each bar.

    .. math::

        c_t = \#\{ i : t0_i \le t \le t1_i \}

    computed in ``O(n + m log m)`` with a difference array over the bars.

    Parameters
    ----------
    t1 : pd.Series
        Label end times on a strictly increasing ``DatetimeIndex`` of label start times.
    bars : pd.DatetimeIndex
        The bar times (strictly increasing), for example the index of the close series.

    Returns
    -------
    pd.Series
        Integer counts on ``bars``, named ``concurrency``.

    Raises
    ------
    DataError
        If ``t1`` or ``bars`` is invalid, or a label covers no bar.

    Examples
    --------
    Bars on days 0..4 and labels ``[0, 2]``, ``[1, 3]``, ``[3, 4]`` give counts ``1, 2, 2, 2, 1``.

    """
    start, stop = _bar_positions(t1, bars)
    return pd.Series(_counts(start, stop, len(bars)), index=bars, name="concurrency")


def average_uniqueness(t1: pd.Series, bars: pd.Index) -> pd.Series:
    r"""Compute the average uniqueness of each label over the bars it covers.

    .. math::

        \bar u_i = \frac{1}{|T_i|} \sum_{t \in T_i} \frac{1}{c_t},
        \qquad T_i = \{ t \in \text{bars} : t0_i \le t \le t1_i \}

    A label alone on its bars has uniqueness 1; ``k`` labels over the same bars have ``1 / k`` each.

    Parameters
    ----------
    t1 : pd.Series
        Label end times on a strictly increasing ``DatetimeIndex`` of label start times.
    bars : pd.DatetimeIndex
        The bar times (strictly increasing).

    Returns
    -------
    pd.Series
        Uniqueness in ``(0, 1]`` on the index of ``t1``, named ``uniqueness``.

    Raises
    ------
    DataError
        If ``t1`` or ``bars`` is invalid, or a label covers no bar.

    Examples
    --------
    With the counts ``1, 2, 2, 2, 1`` of :func:`concurrent_label_counts`, label ``[0, 2]`` has
    ``(1 + 1/2 + 1/2) / 3 = 2/3``, label ``[1, 3]`` has ``1/2`` and label ``[3, 4]`` has ``3/4``.

    """
    start, stop = _bar_positions(t1, bars)
    inverse = 1.0 / np.maximum(_counts(start, stop, len(bars)), 1)
    cumulative = np.concatenate([[0.0], np.cumsum(inverse)])
    mean = (cumulative[stop] - cumulative[start]) / (stop - start)
    return pd.Series(mean, index=t1.index, name="uniqueness")


def return_attribution_weights(t1: pd.Series, close: pd.Series) -> pd.Series:
    r"""Weight each label by the absolute log return it is owed, shared among concurrent labels.

    .. math::

        \tilde w_i = \Bigl| \sum_{t0_i < t \le t1_i} \frac{r_t}{c_t} \Bigr|, \qquad
        r_t = \ln \frac{p_t}{p_{t-1}}, \qquad w_i = n \frac{\tilde w_i}{\sum_j \tilde w_j}

    The returns are those of the label's own outcome (``p_{t1} / p_{t0}``): the bars strictly after
    ``t0`` up to ``t1``; ``c_t`` counts the labels covering bar ``t`` (:func:`concurrent_label_counts`).
    The weights sum to the number of labels ``n``. Labels with large, unshared moves weigh more.

    Parameters
    ----------
    t1 : pd.Series
        Label end times on a strictly increasing ``DatetimeIndex`` of label start times.
    close : pd.Series
        Positive close prices on the bar times (strictly increasing ``DatetimeIndex``).

    Returns
    -------
    pd.Series
        Non-negative weights on the index of ``t1`` summing to ``len(t1)``, named ``return_weight``.

    Raises
    ------
    DataError
        If the inputs are invalid, a price is not positive, or every label's attributed return is 0.

    """
    values = close.to_numpy(dtype="float64")
    if not (np.isfinite(values) & (values > 0)).all():
        raise DataError("close prices must be finite and > 0 for log returns", field="close")
    start, stop = _bar_positions(t1, close.index)
    counts = np.maximum(_counts(start, stop, len(values)), 1)
    log_returns = np.concatenate([[0.0], np.diff(np.log(values))])
    cumulative = np.concatenate([[0.0], np.cumsum(log_returns / counts)])
    raw = np.abs(cumulative[stop] - cumulative[start + 1])
    total = raw.sum()
    if total <= 0:
        raise DataError(
            "every label's attributed return is zero: return weights are undefined", field="close"
        )
    return pd.Series(len(raw) * raw / total, index=t1.index, name="return_weight")


def time_decay_weights(uniqueness: pd.Series, oldest_weight: float = 1.0) -> pd.Series:
    r"""Decay weights linearly in cumulative uniqueness, from the oldest label to the newest.

    With ``x_i = \sum_{j \le i} \bar u_j`` (labels in time order) and ``X = x_n``:

    .. math::

        d_i = \max(0, a + b x_i), \qquad
        \begin{cases}
        b = (1 - c) / X,\ a = c & 0 \le c \le 1 \\
        b = 1 / ((c + 1) X),\ a = 1 - b X & -1 < c < 0
        \end{cases}

    so the newest label has weight 1; ``c = oldest_weight`` is the weight the line reaches at
    ``x = 0``; ``c = 1`` means no decay; a negative ``c`` gives weight 0 to the oldest ``|c|`` share of
    the cumulative uniqueness.

    Parameters
    ----------
    uniqueness : pd.Series
        Average uniqueness per label in time order (:func:`average_uniqueness`).
    oldest_weight : float, default 1.0
        ``c`` in ``(-1, 1]``.

    Returns
    -------
    pd.Series
        Weights in ``[0, 1]`` on the index of ``uniqueness``, named ``time_decay``.

    Raises
    ------
    ConfigError
        If ``oldest_weight`` is outside ``(-1, 1]``.
    DataError
        If ``uniqueness`` has a value that is not finite and > 0.

    Examples
    --------
    Uniqueness ``1, 1, 1, 1`` and ``c = 0``: ``x = 1, 2, 3, 4``, ``b = 1/4``, weights ``0.25, 0.5, 0.75, 1``.

    """
    if (
        isinstance(oldest_weight, bool)
        or not isinstance(oldest_weight, int | float)
        or not -1 < oldest_weight <= 1
    ):
        raise ConfigError(f"oldest_weight must be in (-1, 1] (got {oldest_weight!r})")
    values = uniqueness.to_numpy(dtype="float64")
    if not (np.isfinite(values) & (values > 0)).all():
        raise DataError("uniqueness must be finite and > 0 for every label", field="uniqueness")
    cumulative = np.cumsum(values)
    total = cumulative[-1] if len(cumulative) else 1.0
    c = float(oldest_weight)
    if c >= 0:
        slope = (1.0 - c) / total
        intercept = c
    else:
        slope = 1.0 / ((c + 1.0) * total)
        intercept = 1.0 - slope * total
    weights = np.maximum(0.0, intercept + slope * cumulative)
    return pd.Series(weights, index=uniqueness.index, name="time_decay")
