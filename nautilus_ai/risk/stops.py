"""Stop-loss and take-profit kernels: ATR brackets, trailing stops, and a per-regime multiplier search.

Rules (``s = +1`` long, ``s = -1`` short, ``E`` the entry price, ``A`` the ATR known at entry)::

    stop_loss   = E - s * k_stop   * A
    take_profit = E + s * k_target * A

Both prices are rounded to the tick *towards the entry*: the loss at the stop never exceeds
``k_stop * A`` and the target is never further than ``k_target * A``; each stays at least one tick
away from the entry. A trailing stop follows the best price since entry,
``stop_t = max(stop_{t-1}, best_t - k_trail * A)`` for a long (``min`` and ``best + k_trail * A`` for a
short): it only ever moves in the trade's favour.

:func:`simulate_bracket_returns` replays bracket exits on bar OHLC paths with a conservative
convention: entry at the close of the signal bar, then on each later bar the stop is tested before the
target (when a bar's range holds both, the stop is assumed hit first), a gap through the stop fills at
the open (worse than the stop), a gap through the target fills at the target (no gap windfall), and a
trade still open after ``max_holding`` bars leaves at that bar's close. :func:`optimize_atr_multipliers`
grid-searches ``(k_stop, k_target)`` per regime on the training window's trades, maximizing the mean
return per trade (or the per-trade Sharpe ratio).

References
----------
Wilder, J. W. (1978). New Concepts in Technical Trading Systems (average true range).
Kaufman, P. J. (2013). Trading Systems and Methods, 5th ed., ch. 23 (volatility stops).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from nautilus_ai.errors import ConfigError, DataError

FloatArray = npt.NDArray[np.float64]
Objective = Literal["mean", "sharpe"]

_TICK_EPSILON = 1e-9


def true_range(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    """Return ``TR_t = max(H_t - L_t, |H_t - C_{t-1}|, |L_t - C_{t-1}|)`` (``TR_0 = H_0 - L_0``)."""
    high, low, close = (np.asarray(a, dtype=np.float64) for a in (high, low, close))
    previous = np.concatenate(([np.nan], close[:-1]))
    ranges = np.vstack((high - low, np.abs(high - previous), np.abs(low - previous)))
    return np.asarray(np.nanmax(ranges, axis=0), dtype=np.float64)


def average_true_range(high: FloatArray, low: FloatArray, close: FloatArray, period: int = 14) -> FloatArray:
    """Return Wilder's ATR: ``ATR_t = ((n - 1) * ATR_{t-1} + TR_t) / n``, seeded by a mean of ``n`` TRs.

    Parameters
    ----------
    high, low, close : ndarray
        Bar prices.
    period : int
        Smoothing period ``n``.

    Returns
    -------
    ndarray
        ATR at each bar (uses bars up to and including that bar); NaN for the first ``n - 1`` bars.

    """
    if period < 1:
        raise ConfigError(f"average_true_range: period must be >= 1, was {period}")
    ranges = true_range(high, low, close)
    out = np.full(ranges.size, np.nan)
    if ranges.size < period:
        return out
    out[period - 1] = ranges[:period].mean()
    for t in range(period, ranges.size):
        out[t] = ((period - 1) * out[t - 1] + ranges[t]) / period
    return out


def round_to_tick(
    price: FloatArray | float, tick: float, mode: Literal["down", "up", "nearest"]
) -> FloatArray:
    """Round prices to a multiple of ``tick``: ``floor``, ``ceil`` or nearest.

    Parameters
    ----------
    price : float or ndarray
        Prices.
    tick : float
        Price increment (positive).
    mode : {"down", "up", "nearest"}
        Rounding direction.

    Returns
    -------
    ndarray
        The rounded prices (a tolerance of 1e-9 ticks absorbs binary representation error).

    """
    if not tick > 0.0:
        raise ConfigError(f"round_to_tick: tick must be positive, was {tick}")
    units = np.asarray(price, dtype=np.float64) / tick
    if mode == "down":
        rounded = np.floor(units + _TICK_EPSILON)
    elif mode == "up":
        rounded = np.ceil(units - _TICK_EPSILON)
    elif mode == "nearest":
        rounded = np.round(units)
    else:
        raise ConfigError(f"round_to_tick: mode must be 'down', 'up' or 'nearest', was {mode!r}")
    digits = max(0, -math.floor(math.log10(tick))) + 2
    return np.asarray(np.round(rounded * tick, digits), dtype=np.float64)


@dataclass(frozen=True)
class BracketPrices:
    """The exit prices of a bracket (OCO) around an entry.

    Attributes
    ----------
    stop_loss : float
        The stop-loss trigger price.
    take_profit : float
        The take-profit limit price.

    """

    stop_loss: float
    take_profit: float


def bracket_price_arrays(
    sides: FloatArray,
    entries: FloatArray,
    atr: FloatArray,
    stop_mult: float,
    target_mult: float,
    tick: float | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Return the stop-loss and take-profit prices of many trades (see the module rule).

    Parameters
    ----------
    sides : ndarray
        +1 long, -1 short, per trade.
    entries : ndarray
        Entry prices.
    atr : ndarray
        ATR at entry.
    stop_mult, target_mult : float
        ``k_stop`` and ``k_target`` (positive).
    tick : float, optional
        Price increment; no rounding when omitted.

    Returns
    -------
    tuple of ndarray
        ``(stop_loss, take_profit)``.

    """
    if not stop_mult > 0.0 or not target_mult > 0.0:
        raise ConfigError(f"bracket prices: multipliers must be positive, were {stop_mult} and {target_mult}")
    sides, entries, atr = (np.asarray(a, dtype=np.float64) for a in (sides, entries, atr))
    if not np.all(np.isin(sides, (-1.0, 1.0))):
        raise ConfigError("bracket prices: every side must be +1 (long) or -1 (short)")
    stop = entries - sides * stop_mult * atr
    target = entries + sides * target_mult * atr
    if tick is None:
        return stop, target
    long = sides > 0
    stop = np.where(
        long,
        np.minimum(round_to_tick(stop, tick, "up"), round_to_tick(entries - tick, tick, "down")),
        np.maximum(round_to_tick(stop, tick, "down"), round_to_tick(entries + tick, tick, "up")),
    )
    target = np.where(
        long,
        np.maximum(round_to_tick(target, tick, "down"), round_to_tick(entries + tick, tick, "up")),
        np.minimum(round_to_tick(target, tick, "up"), round_to_tick(entries - tick, tick, "down")),
    )
    return stop, target


def atr_bracket(
    side: int,
    entry: float,
    atr: float,
    stop_mult: float,
    target_mult: float,
    tick: float | None = None,
) -> BracketPrices:
    """Return the ATR stop-loss and take-profit of one trade.

    ``stop = E - s * k_stop * ATR``, ``target = E + s * k_target * ATR``, rounded to ``tick`` towards
    the entry and kept at least one tick from it.

    Parameters
    ----------
    side : int
        +1 long, -1 short.
    entry : float
        Entry price.
    atr : float
        ATR at entry (positive, finite).
    stop_mult, target_mult : float
        ATR multipliers.
    tick : float, optional
        Price increment of the instrument.

    Returns
    -------
    BracketPrices
        The two exit prices.

    """
    if not math.isfinite(atr) or atr <= 0.0 or not math.isfinite(entry) or entry <= 0.0:
        raise DataError(f"atr_bracket: entry and ATR must be positive and finite, were {entry} and {atr}")
    stop, target = bracket_price_arrays(
        np.array([float(side)]), np.array([entry]), np.array([atr]), stop_mult, target_mult, tick
    )
    return BracketPrices(stop_loss=float(stop[0]), take_profit=float(target[0]))


def trailing_stop(
    side: int,
    current_stop: float,
    best_price: float,
    atr: float,
    trail_mult: float,
    tick: float | None = None,
) -> float:
    """Return the updated trailing stop: it moves only in the trade's favour.

    Long: ``max(current_stop, best - k_trail * ATR)``; short: ``min(current_stop, best + k_trail * ATR)``,
    where ``best`` is the highest high (long) or lowest low (short) since entry. The candidate is rounded
    to ``tick`` towards the best price.

    Parameters
    ----------
    side : int
        +1 long, -1 short.
    current_stop : float
        The stop in force.
    best_price : float
        Best price since entry.
    atr : float
        Current ATR.
    trail_mult : float
        ``k_trail`` (positive).
    tick : float, optional
        Price increment.

    Returns
    -------
    float
        The new stop.

    """
    if side not in (-1, 1):
        raise ConfigError(f"trailing_stop: side must be +1 or -1, was {side}")
    if not trail_mult > 0.0:
        raise ConfigError(f"trailing_stop: trail_mult must be positive, was {trail_mult}")
    if not math.isfinite(atr) or atr <= 0.0:
        return current_stop
    candidate = best_price - side * trail_mult * atr
    if tick is not None:
        candidate = float(round_to_tick(candidate, tick, "up" if side > 0 else "down"))
    return max(current_stop, candidate) if side > 0 else min(current_stop, candidate)


def simulate_bracket_returns(
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    entry_index: npt.NDArray[np.int64] | Sequence[int],
    sides: FloatArray | Sequence[int],
    atr: FloatArray,
    stop_mult: float,
    target_mult: float,
    max_holding: int,
    tick: float | None = None,
) -> FloatArray:
    """Return the return of each bracket trade replayed on the bars (conservative fills).

    A trade opens at ``close[i]`` for ``i`` in ``entry_index`` with ``ATR = atr[i]``; on each bar
    ``j = i + 1 .. i + max_holding`` (long; short mirrored):

    * ``open[j] <= stop``: exit at ``open[j]`` (gap through the stop);
    * else ``low[j] <= stop``: exit at ``stop`` (tested before the target: a bar whose range holds both
      barriers counts as a loss);
    * else ``high[j] >= target``: exit at ``target``;
    * after ``max_holding`` bars (or at the last bar): exit at ``close``.

    The trade's return is ``s * (exit / entry - 1)``.

    Parameters
    ----------
    open_, high, low, close : ndarray
        Bar prices.
    entry_index : array-like of int
        Bar index of each entry.
    sides : array-like
        +1 long, -1 short per entry.
    atr : ndarray
        ATR per bar (known at the bar's close).
    stop_mult, target_mult : float
        ATR multipliers.
    max_holding : int
        Bars after which an open trade leaves at the close.
    tick : float, optional
        Price increment for the bracket prices.

    Returns
    -------
    ndarray
        One return per trade; NaN for a trade without a valid ATR or without a later bar.

    """
    if max_holding < 1:
        raise ConfigError(f"simulate_bracket_returns: max_holding must be >= 1, was {max_holding}")
    open_, high, low, close, atr = (np.asarray(a, dtype=np.float64) for a in (open_, high, low, close, atr))
    index = np.asarray(entry_index, dtype=np.int64)
    side = np.asarray(sides, dtype=np.float64)
    if index.size != side.size:
        raise ConfigError(f"simulate_bracket_returns: {index.size} entries but {side.size} sides")
    n_bars = close.size
    if index.size and (index.min() < 0 or index.max() >= n_bars):
        raise DataError(f"simulate_bracket_returns: entry index outside the {n_bars} bars")
    if index.size == 0:
        return np.empty(0)
    entry = close[index]
    trade_atr = atr[index]
    valid = np.isfinite(trade_atr) & (trade_atr > 0.0) & (index + 1 < n_bars)
    safe_atr = np.where(valid, trade_atr, 1.0)
    stop, target = bracket_price_arrays(side, entry, safe_atr, stop_mult, target_mult, tick)

    offsets = index[:, None] + np.arange(1, max_holding + 1)[None, :]
    inside = offsets < n_bars
    bars = np.minimum(offsets, n_bars - 1)
    o, h, lo = open_[bars], high[bars], low[bars]
    long = (side > 0)[:, None]
    stop_col, target_col = stop[:, None], target[:, None]
    gap_stop = np.where(long, o <= stop_col, o >= stop_col) & inside
    hit_stop = np.where(long, lo <= stop_col, h >= stop_col) & inside
    hit_target = np.where(long, h >= target_col, lo <= target_col) & inside

    exit_price = np.empty(index.size)
    last_bar = np.minimum(index + max_holding, n_bars - 1)
    for k in range(index.size):
        stops = np.flatnonzero(hit_stop[k])
        targets = np.flatnonzero(hit_target[k])
        first_stop = stops[0] if stops.size else max_holding
        first_target = targets[0] if targets.size else max_holding
        if first_stop < max_holding and first_stop <= first_target:
            exit_price[k] = o[k, first_stop] if gap_stop[k, first_stop] else stop[k]
        elif first_target < max_holding:
            exit_price[k] = target[k]
        else:
            exit_price[k] = close[last_bar[k]]
    returns = side * (exit_price / entry - 1.0)
    return np.where(valid, returns, np.nan)


def trade_objective(returns: FloatArray, objective: Objective) -> float:
    """Return the score of a set of trade returns.

    ``"mean"``: the mean return per trade, ``mean(r)``. ``"sharpe"``: the per-trade Sharpe ratio
    ``mean(r) / std(r, ddof=1)`` (``-inf`` when the deviation is 0 or there are fewer than 2 trades).
    """
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return -math.inf
    if objective == "mean":
        return float(r.mean())
    if objective == "sharpe":
        if r.size < 2:
            return -math.inf
        deviation = float(r.std(ddof=1))
        return float(r.mean()) / deviation if deviation > 0.0 else -math.inf
    raise ConfigError(f"trade_objective: objective must be 'mean' or 'sharpe', was {objective!r}")


@dataclass(frozen=True)
class MultiplierChoice:
    """The ATR multipliers chosen for one regime.

    Attributes
    ----------
    stop_mult : float
        ``k_stop``.
    target_mult : float
        ``k_target``.
    score : float
        The objective at the choice (NaN when the default was used).
    n_trades : int
        Trades of the regime in the training window.
    used_default : bool
        True when the regime had too few trades and the default multipliers were returned.

    """

    stop_mult: float
    target_mult: float
    score: float
    n_trades: int
    used_default: bool


def optimize_atr_multipliers(
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    atr: FloatArray,
    entry_index: npt.NDArray[np.int64] | Sequence[int],
    sides: FloatArray | Sequence[int],
    regimes: Sequence[Hashable],
    stop_grid: Sequence[float] = (1.0, 1.5, 2.0, 2.5, 3.0),
    target_grid: Sequence[float] = (1.0, 2.0, 3.0, 4.0),
    max_holding: int = 10,
    objective: Objective = "mean",
    min_trades: int = 20,
    default: tuple[float, float] = (2.0, 3.0),
) -> dict[Hashable, MultiplierChoice]:
    """Grid-search ``(k_stop, k_target)`` per regime on training trades, maximizing ``objective``.

    For each regime ``g`` and each grid point, the trades entered in regime ``g`` are replayed by
    :func:`simulate_bracket_returns`; the point with the highest :func:`trade_objective` wins (ties go to
    the first point in ``itertools.product(stop_grid, target_grid)`` order). Pass only bars and entries
    of the training window: the search reads the bars after each entry.

    Parameters
    ----------
    open_, high, low, close : ndarray
        Bars of the training window.
    atr : ndarray
        ATR per bar.
    entry_index : array-like of int
        Bar index of each historical entry (for example where the model signalled).
    sides : array-like
        +1 long / -1 short per entry.
    regimes : sequence
        The regime label at each entry.
    stop_grid, target_grid : sequence of float
        Candidate multipliers.
    max_holding : int
        Time exit in bars.
    objective : {"mean", "sharpe"}
        What to maximize.
    min_trades : int
        Trades a regime needs for its own search; fewer give ``default``.
    default : tuple of float
        ``(k_stop, k_target)`` for a regime with too few trades.

    Returns
    -------
    dict
        Regime label -> :class:`MultiplierChoice`.

    """
    index = np.asarray(entry_index, dtype=np.int64)
    side = np.asarray(sides, dtype=np.float64)
    labels = list(regimes)
    if not (index.size == side.size == len(labels)):
        raise ConfigError(
            f"optimize_atr_multipliers: entries ({index.size}), sides ({side.size}) and regimes "
            f"({len(labels)}) must have the same length"
        )
    if not stop_grid or not target_grid:
        raise ConfigError("optimize_atr_multipliers: stop_grid and target_grid must not be empty")
    grid = list(itertools.product(stop_grid, target_grid))
    trade_returns = {
        point: simulate_bracket_returns(
            open_, high, low, close, index, side, atr, point[0], point[1], max_holding
        )
        for point in grid
    }
    label_array = np.asarray(labels, dtype=object)
    choices: dict[Hashable, MultiplierChoice] = {}
    for regime in dict.fromkeys(labels):
        mask = label_array == regime
        n_trades = int(np.isfinite(trade_returns[grid[0]][mask]).sum())
        if n_trades < min_trades:
            choices[regime] = MultiplierChoice(default[0], default[1], math.nan, n_trades, used_default=True)
            continue
        scores = [trade_objective(trade_returns[point][mask], objective) for point in grid]
        best = int(np.argmax(scores))
        choices[regime] = MultiplierChoice(grid[best][0], grid[best][1], scores[best], n_trades, False)
    return choices
