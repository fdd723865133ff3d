"""Position sizing kernels: pure functions, unit tested without an engine.

The rule (volatility targeting)::

    weight = direction * min(target_vol / (bar_vol * sqrt(periods_per_year)), max_weight)
    target_quantity = weight * equity / (price * multiplier)

where ``bar_vol`` is the realized per-bar volatility of the instrument. The quantity is then
rounded towards zero to the instrument's lot (size increment), and an order is sent only when the
change exceeds the rebalance band (a fraction of the target) so that noise in the volatility
estimate does not churn the position.
"""

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class OrderIntent:
    """A decision to trade: what the strategy wants, before an order is built.

    Attributes
    ----------
    side : str
        "BUY" or "SELL".
    quantity : float
        The (positive) quantity to trade.
    target_quantity : float
        The signed position wanted after the trade.
    reason : str
        Why the intent was made (for logs and reports).

    """

    side: str
    quantity: float
    target_quantity: float
    reason: str


def volatility_target_weight(
    direction: int,
    bar_volatility: float,
    target_volatility: float,
    periods_per_year: float,
    max_weight: float,
) -> float:
    """Return the signed portfolio weight that targets ``target_volatility`` (annualized).

    Parameters
    ----------
    direction : int
        +1 long, -1 short, 0 flat.
    bar_volatility : float
        Per-bar standard deviation of returns.
    target_volatility : float
        Annualized volatility wanted for this position.
    periods_per_year : float
        Bars per year (252 for daily equities).
    max_weight : float
        Cap on ``|weight|`` (notional over equity).

    Returns
    -------
    float
        The weight; 0.0 when flat or when the volatility is unknown or zero.

    """
    if direction == 0 or not math.isfinite(bar_volatility) or bar_volatility <= 0.0:
        return 0.0
    annual_vol = bar_volatility * math.sqrt(periods_per_year)
    return math.copysign(min(target_volatility / annual_vol, max_weight), direction)


def target_quantity(weight: float, equity: float, price: float, multiplier: float, lot: float) -> float:
    """Return the signed quantity for ``weight`` of ``equity``, rounded towards zero to ``lot``."""
    if lot <= 0.0:
        raise ValueError(f"target_quantity: lot must be positive, was {lot}")
    if price <= 0.0 or equity <= 0.0 or multiplier <= 0.0:
        return 0.0
    raw = weight * equity / (price * multiplier)
    lots = math.floor(abs(raw) / lot + 1e-9)
    return math.copysign(lots * lot, raw) if lots > 0 else 0.0


def rebalance_intent(
    target: float,
    current: float,
    band: float,
    lot: float,
    reason: str,
) -> OrderIntent | None:
    """Return the order that moves the position from ``current`` to ``target``, or None.

    No order is made when the change is smaller than one lot, or when the position keeps its
    side and the change is within ``band`` times the target's size. Going flat or flipping side
    always trades.
    """
    delta = target - current
    if abs(delta) < lot - 1e-12:
        return None
    same_side = target != 0.0 and current != 0.0 and math.copysign(1.0, target) == math.copysign(1.0, current)
    if same_side and abs(delta) <= band * abs(target):
        return None
    side = "BUY" if delta > 0 else "SELL"
    return OrderIntent(side=side, quantity=abs(delta), target_quantity=target, reason=reason)
