r"""Kelly sizing kernels: the Kelly fraction of a binary bet and the payoff ratio from past trades.

For a bet that wins ``b`` times the stake with probability ``p`` and loses the stake otherwise, the
growth-optimal fraction of capital (Kelly, 1956; Thorp, 2006, eq. 2.3) is

.. math::

    f^* = p - \frac{1 - p}{b}.

A fractional Kelly bet ``c * f^*`` (``0 < c <= 1``, typically 1/4 to 1/2) gives up a little growth
for a large cut in variance and in the damage from an over-estimated ``p`` (MacLean, Thorp and Ziemba,
2010). Here ``p`` is the calibrated probability that the signal's direction is right, the fraction is
floored at 0 (a bet with negative edge is not taken, never reversed), and ``b`` is estimated from the
trade outcomes of the training window as mean win over mean loss.

References
----------
Kelly, J. L. (1956). A New Interpretation of Information Rate. Bell System Technical Journal 35(4).
Thorp, E. O. (2006). The Kelly Criterion in Blackjack, Sports Betting and the Stock Market. Handbook of
Asset and Liability Management, vol. 1.
MacLean, L. C., Thorp, E. O., Ziemba, W. T. (2010). Good and bad properties of the Kelly criterion.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nautilus_ai.errors import ConfigError, DataError

DEFAULT_MIN_TRADES_PER_SIDE = 10
"""Wins (and losses) needed before the estimated payoff ratio replaces the fallback."""


def kelly_fraction(probability: float, payoff_ratio: float) -> float:
    """Return the full Kelly fraction ``f* = p - (1 - p) / b`` (may be negative).

    Parameters
    ----------
    probability : float
        Probability ``p`` in ``[0, 1]`` that the bet wins.
    payoff_ratio : float
        Net odds ``b > 0``: the win per unit staked over the loss per unit staked.

    Returns
    -------
    float
        The Kelly fraction; negative when the bet has a negative edge.

    Raises
    ------
    ConfigError
        If ``p`` is outside ``[0, 1]`` or ``b`` is not positive and finite.

    """
    if not 0.0 <= probability <= 1.0:
        raise ConfigError(f"kelly_fraction: probability must be in [0, 1], was {probability}")
    if not math.isfinite(payoff_ratio) or payoff_ratio <= 0.0:
        raise ConfigError(f"kelly_fraction: payoff_ratio must be positive and finite, was {payoff_ratio}")
    return probability - (1.0 - probability) / payoff_ratio


def fractional_kelly(probability: float, payoff_ratio: float, fraction: float) -> float:
    """Return ``max(0, fraction * (p - (1 - p) / b))``: the stake of one side, floored at zero.

    Parameters
    ----------
    probability : float
        Probability that the trade in the signal's direction wins.
    payoff_ratio : float
        Mean win over mean loss ``b``.
    fraction : float
        Kelly multiplier ``c`` in ``(0, 1]``.

    Returns
    -------
    float
        The fraction of equity to stake, ``>= 0``.

    """
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"fractional_kelly: fraction must be in (0, 1], was {fraction}")
    return max(0.0, fraction * kelly_fraction(probability, payoff_ratio))


def kelly_weight(direction: int, probability: float, payoff_ratio: float, fraction: float) -> float:
    """Return the signed Kelly weight ``direction * max(0, c * f*)``.

    Parameters
    ----------
    direction : int
        +1 long, -1 short, 0 flat.
    probability : float
        Calibrated probability that ``direction`` is right.
    payoff_ratio : float
        Mean win over mean loss.
    fraction : float
        Kelly multiplier in ``(0, 1]``.

    Returns
    -------
    float
        The weight; 0.0 when flat or when the edge is not positive.

    """
    if direction not in (-1, 0, 1):
        raise ConfigError(f"kelly_weight: direction must be -1, 0 or +1, was {direction}")
    if direction == 0:
        return 0.0
    return direction * fractional_kelly(probability, payoff_ratio, fraction)


@dataclass(frozen=True)
class PayoffEstimate:
    """The payoff ratio estimated from past trade returns.

    Attributes
    ----------
    payoff_ratio : float
        ``mean(wins) / mean(|losses|)``, or the fallback.
    win_rate : float
        Share of winning trades (NaN without trades).
    n_wins : int
        Trades with a positive return.
    n_losses : int
        Trades with a negative return.
    used_fallback : bool
        True when too few wins or losses were seen and ``payoff_ratio`` is the fallback.

    """

    payoff_ratio: float
    win_rate: float
    n_wins: int
    n_losses: int
    used_fallback: bool


def estimate_payoff_ratio(
    trade_returns: Sequence[float] | npt.NDArray[np.float64],
    min_trades_per_side: int = DEFAULT_MIN_TRADES_PER_SIDE,
    fallback: float = 1.0,
) -> PayoffEstimate:
    """Estimate ``b = mean(wins) / mean(|losses|)`` from trade returns of the training window.

    Parameters
    ----------
    trade_returns : array-like
        The return of each past trade (zero returns count as neither win nor loss).
    min_trades_per_side : int
        Wins and losses each needed; with fewer, ``fallback`` is returned (a ratio from a handful of
        trades is mostly noise and Kelly is very sensitive to it).
    fallback : float
        The payoff ratio used without enough data (1.0: symmetric bet, so ``f* = 2p - 1``).

    Returns
    -------
    PayoffEstimate
        The ratio, the win rate and the counts behind it.

    Raises
    ------
    DataError
        If a trade return is not finite.

    """
    if min_trades_per_side < 1:
        raise ConfigError(
            f"estimate_payoff_ratio: min_trades_per_side must be >= 1, was {min_trades_per_side}"
        )
    if not math.isfinite(fallback) or fallback <= 0.0:
        raise ConfigError(f"estimate_payoff_ratio: fallback must be positive and finite, was {fallback}")
    values = np.asarray(trade_returns, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise DataError("estimate_payoff_ratio: trade returns must be finite; found NaN or inf")
    wins = values[values > 0.0]
    losses = -values[values < 0.0]
    win_rate = float(wins.size / values.size) if values.size else math.nan
    if wins.size < min_trades_per_side or losses.size < min_trades_per_side:
        return PayoffEstimate(fallback, win_rate, int(wins.size), int(losses.size), used_fallback=True)
    ratio = float(wins.mean() / losses.mean())
    return PayoffEstimate(ratio, win_rate, int(wins.size), int(losses.size), used_fallback=False)
