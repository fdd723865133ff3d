"""Performance metrics for backtest equity curves, fills and closed positions.

Every function here is a pure numeric kernel: it takes pandas / numpy inputs, returns plain Python
values or new pandas objects, performs no I/O and knows nothing about NautilusTrader types.

Conventions shared by all functions (see ``docs/metrics.md`` for the full write-up):

* ``equity`` is a float ``pd.Series`` of account equity indexed by a tz-aware UTC ``DatetimeIndex``,
  one point per bar, strictly increasing.
* A *period* is one bar-to-bar step of ``equity``. An equity curve of ``N`` points has
  ``n = N - 1`` periods and ``n`` simple returns.
* Years elapsed are measured in periods: ``years = n / periods_per_year``.
* Sample statistics use ``ddof=1``.
* Degenerate inputs (fewer than two returns, zero dispersion, no drawdown) give ``0.0`` rather than
  ``inf``/``NaN`` so results stay JSON-serializable; ``compute_metrics`` maps any remaining
  non-finite value to ``None``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from nautilus_ai.backtest.overfitting import (
    expected_maximum_sharpe,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
)

__all__ = [
    "SECONDS_PER_YEAR",
    "TRADING_DAYS_PER_YEAR",
    "DrawdownDuration",
    "annualized_volatility",
    "cagr",
    "calmar_ratio",
    "candidate_returns",
    "compute_metrics",
    "drawdown_series",
    "hit_rate",
    "max_drawdown",
    "max_drawdown_duration",
    "n_trades",
    "out_of_sample_psr",
    "overfitting_statistics",
    "periods_per_year",
    "sharpe_ratio",
    "simple_returns",
    "sortino_ratio",
    "total_return",
    "turnover",
]

#: Seconds in a Julian year (365.25 days), used for calendar-time annualization.
SECONDS_PER_YEAR: float = 365.25 * 24.0 * 3600.0
#: Periods per year for daily bars on a trading-day (weekday) calendar.
TRADING_DAYS_PER_YEAR: float = 252.0

# A median bar spacing inside this window (seconds) counts as "daily".
_DAILY_MIN_SECONDS = 20.0 * 3600.0
_DAILY_MAX_SECONDS = 28.0 * 3600.0
# Standard deviations at or below this are treated as exactly zero (floating-point noise).
_ZERO_STD = 1e-12


class DrawdownDuration(NamedTuple):
    """Duration of the longest drawdown, in wall-clock time and in periods (bars)."""

    timedelta: pd.Timedelta
    periods: int


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def _as_float_array(values: pd.Series | np.ndarray) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    return arr[np.isfinite(arr)]


def _n_periods(equity: pd.Series) -> int:
    return max(len(equity) - 1, 0)


def _years(equity: pd.Series, ppy: float) -> float:
    if ppy <= 0 or not math.isfinite(ppy):
        return 0.0
    return _n_periods(equity) / ppy


def _validate_equity(equity: pd.Series) -> None:
    if not isinstance(equity, pd.Series):
        raise TypeError(f"equity must be a pandas Series, got {type(equity).__name__}")
    if len(equity) == 0:
        raise ValueError("equity must contain at least one point")
    if not isinstance(equity.index, pd.DatetimeIndex):
        raise TypeError("equity must be indexed by a DatetimeIndex")
    if len(equity) > 1 and not (equity.index.is_monotonic_increasing and equity.index.is_unique):
        raise ValueError("equity index must be strictly increasing")
    if equity.isna().any():
        raise ValueError("equity must not contain NaN values")


def _clean(value: Any) -> float | int | str | None:
    """Convert numpy scalars to Python scalars and non-finite floats to ``None``."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, str):
        return value
    raise TypeError(f"unsupported metric value type: {type(value).__name__}")


# --------------------------------------------------------------------------------------------------
# Sampling frequency and returns
# --------------------------------------------------------------------------------------------------


def periods_per_year(index: pd.DatetimeIndex) -> float:
    """Infer the number of periods (bars) per year from a datetime index.

    Let ``s`` be the median spacing between consecutive timestamps, in seconds.

    * If ``20h <= s <= 28h`` (daily bars) and the timestamps fall on at most five distinct days of
      the week (a trading-day calendar, e.g. weekdays only), return ``252``.
    * Otherwise return calendar-time bars per year: ``365.25 * 24 * 3600 / s``
      (e.g. 1-minute 24/7 crypto bars -> 525,960; daily bars every day of the week -> 365.25).

    Parameters
    ----------
    index : pd.DatetimeIndex
        Strictly increasing timestamps (tz-aware or naive; only spacing and weekday matter).

    Returns
    -------
    float
        Periods per year.

    Raises
    ------
    ValueError
        If the index has fewer than two points or a non-positive median spacing.
    """
    index = pd.DatetimeIndex(index)
    if len(index) < 2:
        raise ValueError("need at least two timestamps to infer the sampling frequency")
    spacing = np.asarray((index[1:] - index[:-1]).total_seconds(), dtype=float)
    median_s = float(np.median(spacing))
    if not median_s > 0:
        raise ValueError("median timestamp spacing must be positive")
    is_daily = _DAILY_MIN_SECONDS <= median_s <= _DAILY_MAX_SECONDS
    if is_daily and len(np.unique(np.asarray(index.dayofweek))) <= 5:
        return TRADING_DAYS_PER_YEAR
    return SECONDS_PER_YEAR / median_s


def simple_returns(equity: pd.Series) -> pd.Series:
    """Compute per-period simple returns of an equity curve.

    ``r_t = E_t / E_{t-1} - 1`` for ``t = 1 .. N-1``; the first point has no return and is dropped,
    so the result has ``len(equity) - 1`` values indexed by the end timestamp of each period.

    Parameters
    ----------
    equity : pd.Series
        Account equity, one point per bar.

    Returns
    -------
    pd.Series
        Simple returns named ``"returns"``.
    """
    values = equity.astype(float)
    returns = (values / values.shift(1) - 1.0).iloc[1:]
    return returns.rename("returns")


def total_return(equity: pd.Series) -> float:
    """Compute the total simple return over the whole curve.

    ``total_return = E_last / E_first - 1``; ``0.0`` for fewer than two points, ``NaN`` if
    ``E_first <= 0``.

    Parameters
    ----------
    equity : pd.Series
        Account equity.

    Returns
    -------
    float
        Total return as a fraction (0.1 = +10 %).
    """
    if len(equity) < 2:
        return 0.0
    first = float(equity.iloc[0])
    if first <= 0:
        return float("nan")
    return float(equity.iloc[-1]) / first - 1.0


# --------------------------------------------------------------------------------------------------
# Risk-adjusted return ratios
# --------------------------------------------------------------------------------------------------


def sharpe_ratio(returns: pd.Series, periods_per_year: float, risk_free: float = 0.0) -> float:
    """Compute the annualized Sharpe ratio of per-period returns.

    ``x_t = r_t - rf_p`` with the per-period risk-free rate ``rf_p = (1 + risk_free)**(1/ppy) - 1``;
    ``sharpe = mean(x) / std(x, ddof=1) * sqrt(ppy)``.
    Returns ``0.0`` when there are fewer than two returns or ``std(x) <= 1e-12`` (flat curve).

    Parameters
    ----------
    returns : pd.Series
        Per-period simple returns (non-finite values are dropped).
    periods_per_year : float
        Annualization factor (``ppy``).
    risk_free : float, default 0.0
        Annual risk-free rate, de-annualized geometrically to a per-period rate.

    Returns
    -------
    float
        Annualized Sharpe ratio.
    """
    r = _as_float_array(returns)
    if r.size < 2:
        return 0.0
    rf_period = (1.0 + risk_free) ** (1.0 / periods_per_year) - 1.0 if risk_free else 0.0
    excess = r - rf_period
    std = float(np.std(excess, ddof=1))
    if std <= _ZERO_STD:
        return 0.0
    return float(np.mean(excess)) / std * math.sqrt(periods_per_year)


def sortino_ratio(returns: pd.Series, periods_per_year: float) -> float:
    """Compute the annualized Sortino ratio of per-period returns (target return 0).

    ``downside_dev = sqrt(mean(min(r_t, 0)**2))`` where the mean runs over *all* ``n`` periods
    (positive periods contribute zero), and ``sortino = mean(r) / downside_dev * sqrt(ppy)``.
    Returns ``0.0`` when there are fewer than two returns or ``downside_dev <= 1e-12``
    (no losing period).

    Parameters
    ----------
    returns : pd.Series
        Per-period simple returns (non-finite values are dropped).
    periods_per_year : float
        Annualization factor (``ppy``).

    Returns
    -------
    float
        Annualized Sortino ratio.
    """
    r = _as_float_array(returns)
    if r.size < 2:
        return 0.0
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    if downside <= _ZERO_STD:
        return 0.0
    return float(np.mean(r)) / downside * math.sqrt(periods_per_year)


def annualized_volatility(returns: pd.Series, periods_per_year: float) -> float:
    """Compute annualized volatility of per-period returns.

    ``volatility = std(r, ddof=1) * sqrt(ppy)``; ``0.0`` for fewer than two returns.

    Parameters
    ----------
    returns : pd.Series
        Per-period simple returns (non-finite values are dropped).
    periods_per_year : float
        Annualization factor (``ppy``).

    Returns
    -------
    float
        Annualized volatility as a fraction.
    """
    r = _as_float_array(returns)
    if r.size < 2:
        return 0.0
    return float(np.std(r, ddof=1)) * math.sqrt(periods_per_year)


# --------------------------------------------------------------------------------------------------
# Drawdowns
# --------------------------------------------------------------------------------------------------


def drawdown_series(equity: pd.Series) -> pd.Series:
    """Compute the drawdown of each point from the running peak.

    ``dd_t = E_t / max(E_0 .. E_t) - 1`` (always ``<= 0``; ``0`` at a new or equal high).

    Parameters
    ----------
    equity : pd.Series
        Account equity (positive values).

    Returns
    -------
    pd.Series
        Drawdown fractions named ``"drawdown"``, same index as ``equity``.
    """
    values = equity.astype(float)
    return (values / values.cummax() - 1.0).rename("drawdown")


def max_drawdown(equity: pd.Series) -> float:
    """Compute the maximum drawdown as a negative fraction.

    ``max_drawdown = min_t dd_t`` with ``dd_t`` from :func:`drawdown_series`, e.g. ``-0.23`` for a
    23 % peak-to-trough loss; ``0.0`` when equity never falls below a previous peak (or is empty).

    Parameters
    ----------
    equity : pd.Series
        Account equity (positive values).

    Returns
    -------
    float
        Maximum drawdown, ``<= 0``.
    """
    if len(equity) == 0:
        return 0.0
    return min(float(drawdown_series(equity).min()), 0.0)


def max_drawdown_duration(equity: pd.Series) -> DrawdownDuration:
    """Compute the duration of the longest drawdown.

    A drawdown starts at the last peak before equity drops below it and ends at the first point
    where equity is back at or above that peak (recovery). An unrecovered drawdown ends at the last
    point. Duration is ``ts_end - ts_peak`` in time and ``i_end - i_peak`` in periods; the longest
    drawdown in time is returned (first one on ties), with its length in periods.

    Parameters
    ----------
    equity : pd.Series
        Account equity indexed by timestamps.

    Returns
    -------
    DrawdownDuration
        ``(timedelta, periods)``; ``(Timedelta(0), 0)`` when there is no drawdown.
    """
    n = len(equity)
    if n < 2:
        return DrawdownDuration(pd.Timedelta(0), 0)
    values = equity.to_numpy(dtype=float)
    running_max = np.maximum.accumulate(values)
    underwater = values < running_max
    if not underwater.any():
        return DrawdownDuration(pd.Timedelta(0), 0)
    positions = np.arange(n)
    # Position of the most recent peak (a point at its running maximum) for every point.
    peak_pos = np.maximum.accumulate(np.where(underwater, 0, positions))
    uw_idx = np.flatnonzero(underwater)
    uw_peaks = peak_pos[uw_idx]
    is_last = np.r_[uw_peaks[1:] != uw_peaks[:-1], True]
    starts = uw_peaks[is_last]
    ends = np.minimum(uw_idx[is_last] + 1, n - 1)
    index = pd.DatetimeIndex(equity.index)
    durations = index[ends] - index[starts]
    best = int(np.argmax(np.asarray(durations.asi8)))
    return DrawdownDuration(pd.Timedelta(durations[best]), int(ends[best] - starts[best]))


# --------------------------------------------------------------------------------------------------
# Growth
# --------------------------------------------------------------------------------------------------


def cagr(equity: pd.Series, periods_per_year: float) -> float:
    """Compute the compound annual growth rate.

    ``years = n / ppy`` with ``n = len(equity) - 1`` periods, and
    ``cagr = (E_last / E_first) ** (1 / years) - 1``.
    Returns ``0.0`` when ``years == 0`` (fewer than two points), ``-1.0`` when equity ends at or
    below zero, and ``NaN`` when ``E_first <= 0``.

    Parameters
    ----------
    equity : pd.Series
        Account equity, one point per period.
    periods_per_year : float
        Annualization factor (``ppy``).

    Returns
    -------
    float
        CAGR as a fraction.
    """
    years = _years(equity, periods_per_year)
    if years <= 0:
        return 0.0
    first, last = float(equity.iloc[0]), float(equity.iloc[-1])
    if first <= 0:
        return float("nan")
    if last <= 0:
        return -1.0
    return (last / first) ** (1.0 / years) - 1.0


def calmar_ratio(equity: pd.Series, periods_per_year: float) -> float:
    """Compute the Calmar ratio over the whole curve.

    ``calmar = cagr / |max_drawdown|``; ``0.0`` when there is no drawdown.

    Parameters
    ----------
    equity : pd.Series
        Account equity, one point per period.
    periods_per_year : float
        Annualization factor (``ppy``).

    Returns
    -------
    float
        Calmar ratio.
    """
    mdd = max_drawdown(equity)
    if mdd == 0.0:
        return 0.0
    return cagr(equity, periods_per_year) / abs(mdd)


# --------------------------------------------------------------------------------------------------
# Trading activity
# --------------------------------------------------------------------------------------------------


def n_trades(fills: pd.DataFrame | None) -> int:
    """Count trades as the number of fills (each row of ``fills`` is one fill).

    Parameters
    ----------
    fills : pd.DataFrame or None
        Fill records; ``None`` counts as no fills.

    Returns
    -------
    int
        Number of fills.
    """
    return 0 if fills is None else len(fills)


def turnover(fills: pd.DataFrame | None, equity: pd.Series, periods_per_year: float) -> float:
    """Compute annualized two-sided turnover.

    ``turnover = sum(|notional|) / mean(equity) / years`` with ``years = n / ppy``. Both buys and
    sells count, so a full round trip of the whole account is ``2.0`` turns.
    Returns ``0.0`` when there are no fills, ``years == 0`` or ``mean(equity) <= 0``.

    Parameters
    ----------
    fills : pd.DataFrame or None
        Fill records with a ``notional`` column (quantity * price * multiplier).
    equity : pd.Series
        Account equity over the same span.
    periods_per_year : float
        Annualization factor (``ppy``).

    Returns
    -------
    float
        Annualized turnover (multiples of average equity traded per year).
    """
    if fills is None or len(fills) == 0:
        return 0.0
    years = _years(equity, periods_per_year)
    mean_equity = float(equity.mean()) if len(equity) else 0.0
    if years <= 0 or mean_equity <= 0:
        return 0.0
    traded = float(np.abs(fills["notional"].to_numpy(dtype=float)).sum())
    return traded / mean_equity / years


def hit_rate(positions: pd.DataFrame | None) -> float | None:
    """Compute the share of closed round trips with a positive realized PnL.

    ``hit_rate = #(realized_pnl > 0) / #closed positions`` (break-even trades count as misses).

    Parameters
    ----------
    positions : pd.DataFrame or None
        Closed positions with a ``realized_pnl`` column.

    Returns
    -------
    float or None
        Hit rate in ``[0, 1]``, or ``None`` when there are no closed positions.
    """
    if positions is None or len(positions) == 0:
        return None
    pnl = positions["realized_pnl"].to_numpy(dtype=float)
    return float(np.mean(pnl > 0))


# --------------------------------------------------------------------------------------------------
# Aggregate
# --------------------------------------------------------------------------------------------------


def compute_metrics(
    equity: pd.Series,
    fills: pd.DataFrame | None = None,
    positions: pd.DataFrame | None = None,
    ppy: float | None = None,
) -> dict[str, float | int | str | None]:
    """Compute the standard metric set for one equity curve.

    Keys: ``sharpe, sortino, calmar, max_drawdown, max_drawdown_duration_days,
    max_drawdown_duration_periods, cagr, total_return, volatility, n_trades, turnover, hit_rate,
    n_closed_positions, n_periods, periods_per_year, start_equity, end_equity, start, end``.
    ``n_periods = len(equity) - 1``; ``start``/``end`` are ISO-8601 strings of the first/last
    timestamp. Every value is a JSON-serializable Python scalar; non-finite values become ``None``.

    Parameters
    ----------
    equity : pd.Series
        Account equity with a strictly increasing ``DatetimeIndex``.
    fills : pd.DataFrame or None, optional
        Fill records (``notional`` column used).
    positions : pd.DataFrame or None, optional
        Closed positions (``realized_pnl`` column used).
    ppy : float or None, optional
        Periods per year; inferred with :func:`periods_per_year` when ``None`` (``None`` for a
        single-point curve, in which case all annualized metrics are ``0.0``).

    Returns
    -------
    dict[str, float | int | str | None]
        Metric name to value.

    Raises
    ------
    TypeError
        If ``equity`` is not a Series with a ``DatetimeIndex``.
    ValueError
        If ``equity`` is empty, contains NaN or its index is not strictly increasing.
    """
    _validate_equity(equity)
    equity = equity.astype(float)
    if ppy is None and len(equity) >= 2:
        ppy = periods_per_year(pd.DatetimeIndex(equity.index))
    ann = float(ppy) if ppy is not None else float("nan")
    returns = simple_returns(equity)
    dd = max_drawdown_duration(equity)
    has_ann = ppy is not None
    raw: dict[str, Any] = {
        "sharpe": sharpe_ratio(returns, ann) if has_ann else 0.0,
        "sortino": sortino_ratio(returns, ann) if has_ann else 0.0,
        "calmar": calmar_ratio(equity, ann) if has_ann else 0.0,
        "max_drawdown": max_drawdown(equity),
        "max_drawdown_duration_days": dd.timedelta.total_seconds() / 86400.0,
        "max_drawdown_duration_periods": dd.periods,
        "cagr": cagr(equity, ann) if has_ann else 0.0,
        "total_return": total_return(equity),
        "volatility": annualized_volatility(returns, ann) if has_ann else 0.0,
        "n_trades": n_trades(fills),
        "turnover": turnover(fills, equity, ann) if has_ann else 0.0,
        "hit_rate": hit_rate(positions),
        "n_closed_positions": 0 if positions is None else len(positions),
        "n_periods": _n_periods(equity),
        "periods_per_year": ppy,
        "start_equity": float(equity.iloc[0]),
        "end_equity": float(equity.iloc[-1]),
        "start": pd.Timestamp(equity.index[0]).isoformat(),
        "end": pd.Timestamp(equity.index[-1]).isoformat(),
    }
    return {key: _clean(value) for key, value in raw.items()}


# --------------------------------------------------------------------------------------------------
# Overfitting statistics of a walk-forward's out-of-sample returns
# --------------------------------------------------------------------------------------------------


def out_of_sample_psr(returns: pd.Series | np.ndarray) -> float | None:
    """Compute the probabilistic Sharpe ratio ``PSR(0)`` of out-of-sample per-period returns.

    :func:`nautilus_ai.backtest.overfitting.probabilistic_sharpe_ratio` against a zero benchmark,
    on the finite returns. ``None`` where it is undefined: fewer than two returns or zero
    dispersion (a strategy that never traded).

    Parameters
    ----------
    returns : pd.Series or np.ndarray
        Per-period simple returns (non-finite values are dropped).

    Returns
    -------
    float or None
        The probability that the true Sharpe ratio is above zero.
    """
    r = _as_float_array(returns)
    if r.size < 2 or float(np.std(r, ddof=1)) <= _ZERO_STD:
        return None
    return _clean(probabilistic_sharpe_ratio(r))  # type: ignore[return-value]


def candidate_returns(curves: dict[str, pd.Series]) -> pd.DataFrame:
    """Align the equity curves of a run's candidates into one per-period return matrix.

    Parameters
    ----------
    curves : dict[str, pd.Series]
        Candidate name (``"strategy"``, ``"buy_and_hold"``, ...) to its stitched equity curve.

    Returns
    -------
    pd.DataFrame
        ``T x N`` simple returns (:func:`simple_returns`), one column per candidate in the order
        given, on the periods every candidate has (inner join on the timestamps).
    """
    columns = {name: simple_returns(curve) for name, curve in curves.items() if len(curve) > 1}
    if not columns:
        return pd.DataFrame(columns=list(curves))
    frame = pd.concat(columns, axis=1, join="inner")
    return frame[np.isfinite(frame.to_numpy(dtype=float)).all(axis=1)]


def overfitting_statistics(
    returns: pd.DataFrame,
    selected: str,
    *,
    n_trials: int = 1,
    trial_sharpe_variance: float | None = None,
    periods_per_year: float | None = None,
    pbo_splits: int = 8,
) -> dict[str, Any]:
    """Compute PSR, DSR and PBO of the ``selected`` candidate of a run's return matrix.

    * ``psr``: :func:`out_of_sample_psr` of the selected column;
    * ``dsr``: the deflated Sharpe ratio of the selected column for ``n_trials`` trials. The
      variance of the trials' per-period Sharpe ratios is ``trial_sharpe_variance / ppy`` when
      given (an annualized variance), else the sample variance (``ddof=1``) of the per-period
      Sharpe ratios of all columns (``sr_variance_source`` says which); with ``n_trials = 1`` the
      DSR equals the PSR;
    * ``pbo``: the probability of backtest overfitting by CSCV over all columns as the trials,
      with ``pbo_splits`` blocks (``None`` with fewer than two columns or too few rows).

    Parameters
    ----------
    returns : pd.DataFrame
        ``T x N`` per-period returns, one column per candidate (:func:`candidate_returns`).
    selected : str
        The column of the strategy under test.
    n_trials : int, default 1
        Strategy configurations tried before selecting ``selected`` (the DSR's ``N``).
    trial_sharpe_variance : float, optional
        Variance of the trials' **annualized** Sharpe ratios, when known.
    periods_per_year : float, optional
        Annualization factor, needed with ``trial_sharpe_variance``.
    pbo_splits : int, default 8
        Even number of CSCV blocks.

    Returns
    -------
    dict[str, Any]
        ``psr, dsr, n_trials, sr_benchmark, sr_variance, sr_variance_source, pbo, pbo_splits,
        pbo_combinations, candidates, n_periods``; Sharpe quantities per period; undefined
        statistics are ``None``.

    Raises
    ------
    ValueError
        If ``selected`` is not a column, ``n_trials < 1``, or ``trial_sharpe_variance`` is given
        without ``periods_per_year``.
    """
    if selected not in returns.columns:
        raise ValueError(f"selected candidate {selected!r} is not a column of {list(returns.columns)}")
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    matrix = returns.to_numpy(dtype=float)
    if trial_sharpe_variance is not None:
        if periods_per_year is None or not periods_per_year > 0:
            raise ValueError("trial_sharpe_variance is annualized: periods_per_year is needed")
        variance: float | None = trial_sharpe_variance / periods_per_year
        source = "config"
    elif matrix.shape[1] >= 2 and matrix.shape[0] >= 2:
        std = matrix.std(axis=0, ddof=1)
        sharpes = np.where(std > _ZERO_STD, matrix.mean(axis=0) / np.where(std > _ZERO_STD, std, 1.0), 0.0)
        variance = float(np.var(sharpes, ddof=1))
        source = "candidates"
    else:
        variance, source = 0.0, "none"
    psr = out_of_sample_psr(returns[selected])
    benchmark = expected_maximum_sharpe(n_trials, variance) if variance is not None else 0.0
    dsr = None
    if psr is not None:
        dsr = probabilistic_sharpe_ratio(_as_float_array(returns[selected]), sr_benchmark=benchmark)
    pbo, combinations = None, None
    if matrix.shape[1] >= 2:
        try:
            result = probability_of_backtest_overfitting(matrix, pbo_splits)
        except ValueError:
            pass  # too few periods for the splits
        else:
            pbo, combinations = result.pbo, result.n_combinations
    raw: dict[str, Any] = {
        "psr": psr,
        "dsr": dsr,
        "n_trials": n_trials,
        "sr_benchmark": benchmark,
        "sr_variance": variance,
        "sr_variance_source": source,
        "pbo": pbo,
        "pbo_splits": pbo_splits,
        "pbo_combinations": combinations,
        "n_periods": int(matrix.shape[0]),
    }
    out: dict[str, Any] = {key: _clean(value) for key, value in raw.items()}
    out["candidates"] = [str(c) for c in returns.columns]
    return out
