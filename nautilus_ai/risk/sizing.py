"""Position sizing kernels: pure functions, unit tested without an engine.

The rule (volatility targeting)::

    weight = direction * min(target_vol / (bar_vol * sqrt(periods_per_year)), max_weight)
    target_quantity = weight * equity / (price * multiplier)

where ``bar_vol`` is the realized per-bar volatility of the instrument. The quantity is then
rounded towards zero to the instrument's lot (size increment), and an order is sent only when the
change exceeds the rebalance band (a fraction of the target) so that noise in the volatility
estimate does not churn the position.

:func:`combine_size` joins this volatility target with fractional Kelly and the position caps (the
tightest bound wins; see its docstring and ``docs/risk.md``), and :func:`round_to_instrument` rounds a
quantity towards zero to the lot and size precision, dropping it under the minimum quantity or notional.
"""

import math
from dataclasses import dataclass

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.risk.kelly import fractional_kelly


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


# --- Combined sizing rule and instrument rounding --------------------------------------------------


@dataclass(frozen=True)
class SizeDecision:
    """The weight chosen by :func:`combine_size` and the constraint that set it.

    Attributes
    ----------
    weight : float
        Signed weight (notional over equity).
    binding : str
        The binding constraint: ``"kelly"``, ``"vol_target"``, ``"position_weight"``,
        ``"position_notional"``, or ``"flat"`` when the direction is 0.
    candidates : dict[str, float]
        The unsigned size each constraint allows, by name.

    """

    weight: float
    binding: str
    candidates: dict[str, float]


SIZE_CONSTRAINTS = ("kelly", "vol_target", "position_weight", "position_notional")
"""The constraints of :func:`combine_size`, in the order that breaks ties."""


def combine_size(
    direction: int,
    probability: float,
    payoff_ratio: float,
    kelly_multiplier: float,
    bar_volatility: float,
    target_volatility: float,
    periods_per_year: float,
    equity: float,
    max_position_weight: float,
    max_position_notional: float = math.inf,
) -> SizeDecision:
    """Return the position weight: the smallest of fractional Kelly, volatility target and the caps.

    The rule::

        kelly      = max(0, c * (p - (1 - p) / b))
        vol_target = target_volatility / (bar_volatility * sqrt(periods_per_year))
        weight     = direction * min(kelly, vol_target, max_position_weight,
                                     max_position_notional / equity)

    Each term is an upper bound on the stake that one view of risk allows (growth-optimal betting,
    the volatility budget, and the hard caps), so the position takes the tightest; the name of that
    term is returned as ``binding`` (ties go to the first in :data:`SIZE_CONSTRAINTS`). Gross and net
    leverage across positions are enforced afterwards on the whole book
    (:func:`nautilus_ai.risk.limits.enforce_limits`).

    Parameters
    ----------
    direction : int
        +1 long, -1 short, 0 flat.
    probability : float
        Calibrated probability that ``direction`` is right.
    payoff_ratio : float
        Mean win over mean loss from the training window
        (:func:`nautilus_ai.risk.kelly.estimate_payoff_ratio`).
    kelly_multiplier : float
        Kelly fraction ``c`` in ``(0, 1]``.
    bar_volatility : float
        Per-bar standard deviation of returns; a non-finite or non-positive value sizes to 0.
    target_volatility : float
        Annualized volatility target of one position.
    periods_per_year : float
        Bars per year.
    equity : float
        Account equity (positive), for the notional cap.
    max_position_weight : float
        Cap on ``|weight|``.
    max_position_notional : float
        Cap on ``|weight| * equity`` in account currency.

    Returns
    -------
    SizeDecision
        The signed weight, the binding constraint and every candidate size.

    """
    if direction not in (-1, 0, 1):
        raise ConfigError(f"combine_size: direction must be -1, 0 or +1, was {direction}")
    if not math.isfinite(equity) or equity <= 0.0:
        raise ConfigError(f"combine_size: equity must be positive and finite, was {equity}")
    if not target_volatility > 0.0:
        raise ConfigError(f"combine_size: target_volatility must be positive, was {target_volatility}")
    if max_position_weight <= 0.0 or max_position_notional <= 0.0:
        raise ConfigError(
            "combine_size: max_position_weight and max_position_notional must be positive, were "
            f"{max_position_weight} and {max_position_notional}"
        )
    candidates = {
        "kelly": fractional_kelly(probability, payoff_ratio, kelly_multiplier),
        "vol_target": volatility_target_weight(
            1, bar_volatility, target_volatility, periods_per_year, math.inf
        ),
        "position_weight": max_position_weight,
        "position_notional": max_position_notional / equity,
    }
    if direction == 0:
        return SizeDecision(weight=0.0, binding="flat", candidates=candidates)
    binding = min(SIZE_CONSTRAINTS, key=lambda name: candidates[name])
    return SizeDecision(weight=direction * candidates[binding], binding=binding, candidates=candidates)


def round_to_instrument(
    quantity: float,
    price: float,
    lot: float,
    min_quantity: float,
    min_notional: float,
    precision: int,
    multiplier: float = 1.0,
) -> float:
    """Round a signed quantity to what the instrument accepts, always towards zero.

    The rule::

        q = sign(quantity) * floor(|quantity| / lot) * lot        # whole lots, towards zero
        q = sign(q) * floor(|q| * 10**precision) / 10**precision   # size precision, towards zero
        q = 0  if |q| < min_quantity or |q| * price * multiplier < min_notional

    so ``|q| <= |quantity|`` always, and an order too small for the venue becomes no order.

    Parameters
    ----------
    quantity : float
        Signed wanted quantity.
    price : float
        Price used for the notional (positive).
    lot : float
        Size increment (positive).
    min_quantity : float
        Smallest accepted ``|q|`` (0 for none).
    min_notional : float
        Smallest accepted ``|q| * price * multiplier`` (0 for none).
    precision : int
        Decimal places of the size (``size_precision`` of the NautilusTrader instrument).
    multiplier : float
        Contract multiplier.

    Returns
    -------
    float
        The rounded signed quantity, 0.0 when it falls under a minimum.

    Raises
    ------
    ConfigError
        If ``lot`` is not positive or ``precision`` is negative.
    DataError
        If ``quantity`` or ``price`` is not finite.

    """
    if not lot > 0.0:
        raise ConfigError(f"round_to_instrument: lot must be positive, was {lot}")
    if precision < 0:
        raise ConfigError(f"round_to_instrument: precision must be >= 0, was {precision}")
    if not math.isfinite(quantity) or not math.isfinite(price):
        raise DataError(
            f"round_to_instrument: quantity and price must be finite, were {quantity} and {price}"
        )
    if quantity == 0.0 or price <= 0.0:
        return 0.0
    magnitude = abs(quantity)
    lots = math.floor(magnitude / lot + 1e-9)
    rounded = lots * lot
    if rounded > magnitude + 1e-9 * lot:  # the tolerance may absorb float error, never add a lot
        rounded -= lot
    scale = 10.0**precision
    rounded = round(math.floor(rounded * scale + 1e-9) / scale, precision)
    if rounded <= 0.0 or rounded < min_quantity or rounded * price * multiplier < min_notional:
        return 0.0
    return math.copysign(rounded, quantity)


def instrument_quantity(
    weight: float,
    equity: float,
    price: float,
    lot: float,
    min_quantity: float = 0.0,
    min_notional: float = 0.0,
    precision: int = 0,
    multiplier: float = 1.0,
) -> float:
    """Return the signed quantity for ``weight`` of ``equity``, rounded by :func:`round_to_instrument`.

    ``quantity = weight * equity / (price * multiplier)`` before rounding; 0.0 when ``price`` or
    ``equity`` is not positive.
    """
    if price <= 0.0 or equity <= 0.0 or multiplier <= 0.0:
        return 0.0
    raw = weight * equity / (price * multiplier)
    return round_to_instrument(raw, price, lot, min_quantity, min_notional, precision, multiplier)
