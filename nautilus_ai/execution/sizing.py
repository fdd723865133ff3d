"""Size a risk-approved parent order for the venue and split it into per-bar children.

:func:`size_parent` is a pure function over numbers. Everything is counted in whole lots (integers),
so the children sum exactly to the scheduled quantity and never exceed what risk approved:

1. **Round down.** ``q = round_to_instrument(Q)`` (:func:`nautilus_ai.risk.sizing.round_to_instrument`
   without the minimums): whole lots towards zero, then the size precision towards zero. Never up.
2. **Minimums.** ``q < min_quantity`` or ``q * price * multiplier < min_notional`` gives no order
   (quantity 0) with the reason; so does ``q == 0``.
3. **Participation cap.** With typical bar volume ``V > 0`` and cap ``c``, one child per bar may
   hold at most ``cap = floor(c * V / lot)`` lots. The smallest child the venue accepts is
   ``m = min_child_lots(...)`` (:func:`nautilus_ai.execution.child_orders.min_child_lots`). If
   ``cap < m`` no child can respect both: no order, reason ``cap_below_minimum``. ``V == 0`` means the
   volume is unknown: one child, reason ``volume_unknown``.
4. **Split.** ``L = q / lot`` lots into ``n = ceil(L / cap)`` children (at most ``max_children``,
   each then full: the rest is the ``shortfall``) of ``floor(L / n)`` or ``ceil(L / n)`` lots, larger
   ones first.
   When ``L < n * m`` the lots cannot be cut into ``n`` children of at least ``m`` and ``n - 1`` full
   children hold less than ``L``: ``n - 1`` children of ``cap`` lots are scheduled and the remainder is
   the shortfall (reason ``remainder_below_minimum``).

Invariants (property-tested): ``sum(children) == quantity``, ``quantity + shortfall == rounded``,
``rounded <= requested``, every child a whole number of lots, at least ``m`` lots and at most
``cap`` lots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.execution.child_orders import lot_precision, min_child_lots
from nautilus_ai.risk.portfolio import InstrumentRules
from nautilus_ai.risk.sizing import round_to_instrument

DEFAULT_MAX_CHILDREN = 1_000
"""The most children :func:`size_parent` schedules unless told otherwise (a parent needing more bars
is left with a shortfall rather than a schedule of thousands of bars)."""

REASONS: dict[str, str] = {
    "rounded_down": "the requested quantity was rounded down to whole lots and the size precision",
    "zero_quantity": "the quantity is zero after rounding",
    "below_min_quantity": "the rounded quantity is under the instrument's minimum quantity",
    "below_min_notional": "the rounded quantity's notional is under the instrument's minimum notional",
    "cap_below_minimum": "the participation cap per bar is smaller than the smallest accepted child",
    "cap_binding": "the participation cap splits the parent into several children (one per bar)",
    "max_children_binding": "the children allowed at the cap cannot hold the whole quantity",
    "remainder_below_minimum": "the lots left after full children are too few for an accepted child",
    "volume_unknown": "the typical bar volume is unknown (0): no participation cap was applied",
}
"""Every reason code :func:`size_parent` may return, with what it means."""


@dataclass(frozen=True)
class ParentSizing:
    """The result of :func:`size_parent`.

    Attributes
    ----------
    requested : float
        The risk-approved quantity asked for (unsigned).
    rounded : float
        ``requested`` rounded down to whole lots and the size precision (0 when under a minimum).
    quantity : float
        What the children hold: ``rounded - shortfall`` (0 when no order is possible).
    children : tuple of float
        Child quantities, one per bar, largest first; each a whole number of lots.
    shortfall : float
        Rounded quantity left unscheduled by the cap, ``max_children`` or the minimum child size.
    cap_quantity : float
        The most one child may hold (``inf`` when the volume is unknown).
    lot : float
        The lot size the children are counted in.
    reasons : tuple of str
        Reason codes (keys of :data:`REASONS`) for every adjustment, in the order they were applied.

    """

    requested: float
    rounded: float
    quantity: float
    children: tuple[float, ...]
    shortfall: float
    cap_quantity: float
    lot: float
    reasons: tuple[str, ...]

    @property
    def is_empty(self) -> bool:
        """Return whether no order should be sent."""
        return not self.children

    @property
    def bars(self) -> int:
        """Return the number of bars the schedule spans (one child per bar)."""
        return len(self.children)


def size_parent(
    quantity: float,
    price: float,
    rules: InstrumentRules,
    participation_cap: float,
    typical_bar_volume: float,
    max_children: int = DEFAULT_MAX_CHILDREN,
) -> ParentSizing:
    """Round a risk-approved parent quantity for the instrument and split it under a participation cap.

    Parameters
    ----------
    quantity : float
        The unsigned quantity risk approved (>= 0); the result never exceeds it.
    price : float
        The reference price for the notional (> 0).
    rules : InstrumentRules
        Lot, minimum quantity and notional, size precision and multiplier of the instrument
        (:func:`nautilus_ai.strategies.gated_orders.instrument_rules`).
    participation_cap : float
        The largest share of a bar's typical volume one child may take, in (0, 1].
    typical_bar_volume : float
        Typical traded volume per bar in instrument units (>= 0; 0 when unknown: no cap).
    max_children : int, default DEFAULT_MAX_CHILDREN
        The most children (bars) to schedule (>= 1); what does not fit is the shortfall.

    Returns
    -------
    ParentSizing
        The children, the rounded and scheduled quantities and the reasons.

    Raises
    ------
    DataError
        If ``quantity``, ``price`` or ``typical_bar_volume`` is out of range (the error names it).
    ConfigError
        If ``participation_cap``, ``max_children`` or the rules are invalid.

    """
    _check_inputs(quantity, price, rules, participation_cap, typical_bar_volume, max_children)
    lot = rules.lot
    precision = lot_precision(lot)
    rounded = round_to_instrument(quantity, price, lot, 0.0, 0.0, rules.size_precision, rules.multiplier)
    reasons: list[str] = []
    if rounded < quantity:
        reasons.append("rounded_down")
    cap_quantity = math.inf

    def empty(reason: str, rounded_total: float) -> ParentSizing:
        return ParentSizing(
            requested=quantity,
            rounded=rounded_total,
            quantity=0.0,
            children=(),
            shortfall=rounded_total,
            cap_quantity=cap_quantity,
            lot=lot,
            reasons=(*reasons, reason),
        )

    if rounded <= 0.0:
        return empty("zero_quantity", 0.0)
    if rounded < rules.min_quantity - 1e-12 * max(1.0, rules.min_quantity):
        return empty("below_min_quantity", 0.0)
    if rounded * price * rules.multiplier < rules.min_notional * (1.0 - 1e-12):
        return empty("below_min_notional", 0.0)
    total_lots = round(rounded / lot)
    min_lots = min_child_lots(lot, rules.min_quantity, rules.min_notional, price, rules.multiplier)
    if typical_bar_volume <= 0.0:
        reasons.append("volume_unknown")
        return ParentSizing(quantity, rounded, rounded, (rounded,), 0.0, cap_quantity, lot, tuple(reasons))
    cap_lots = math.floor(participation_cap * typical_bar_volume / lot + 1e-9)
    cap_quantity = round(cap_lots * lot, precision)
    if cap_lots < min_lots:
        return empty("cap_below_minimum", rounded)
    lots = split_lots(total_lots, cap_lots, min_lots, max_children)
    if len(lots) > 1:
        reasons.append("cap_binding")
    scheduled_lots = sum(lots)
    if scheduled_lots < total_lots:
        wanted_children = math.ceil(total_lots / cap_lots)
        binding = wanted_children > max_children
        reasons.append("max_children_binding" if binding else "remainder_below_minimum")
    children = tuple(round(k * lot, precision) for k in lots)
    scheduled = round(scheduled_lots * lot, precision)
    shortfall = round((total_lots - scheduled_lots) * lot, precision)
    return ParentSizing(quantity, rounded, scheduled, children, shortfall, cap_quantity, lot, tuple(reasons))


def split_lots(
    total_lots: int, cap_lots: int, min_lots: int = 1, max_children: int | None = None
) -> list[int]:
    """Split ``total_lots`` into near-equal children of ``min_lots`` to ``cap_lots`` lots, largest first.

    Uses ``n = ceil(total / cap)`` children (at most ``max_children``, each then full). When the lots
    cannot fill ``n`` children of at least ``min_lots``, ``n - 1`` full children are returned. The sum
    is ``total_lots`` whenever a split exists, else less (never more).

    Parameters
    ----------
    total_lots : int
        Lots to split (>= 0).
    cap_lots : int
        The most lots per child (>= ``min_lots``).
    min_lots : int, default 1
        The fewest lots per child (>= 1).
    max_children : int, optional
        The most children.

    Returns
    -------
    list of int
        Lots per child (empty when ``total_lots < min_lots``).

    """
    if min_lots < 1 or cap_lots < min_lots:
        raise ConfigError(f"split_lots needs 1 <= min_lots <= cap_lots, got min {min_lots}, cap {cap_lots}")
    if total_lots < min_lots:
        return []
    n = math.ceil(total_lots / cap_lots)
    if max_children is not None and n > max_children:
        return [cap_lots] * max_children
    if total_lots < n * min_lots:
        return [cap_lots] * (n - 1)
    base, extra = divmod(total_lots, n)
    return [base + 1] * extra + [base] * (n - extra)


def _check_inputs(
    quantity: float,
    price: float,
    rules: InstrumentRules,
    participation_cap: float,
    typical_bar_volume: float,
    max_children: int,
) -> None:
    if not math.isfinite(quantity) or quantity < 0.0:
        raise DataError(f"must be a finite unsigned quantity >= 0, was {quantity}", field="quantity")
    if not math.isfinite(price) or price <= 0.0:
        raise DataError(f"must be a finite price > 0, was {price}", field="price")
    if not math.isfinite(typical_bar_volume) or typical_bar_volume < 0.0:
        raise DataError(
            f"must be finite and >= 0 (0 when unknown), was {typical_bar_volume}", field="typical_bar_volume"
        )
    if not (math.isfinite(participation_cap) and 0.0 < participation_cap <= 1.0):
        raise ConfigError(f"participation_cap must be in (0, 1], was {participation_cap}")
    if max_children < 1:
        raise ConfigError(f"max_children must be >= 1, was {max_children}")
    if not (math.isfinite(rules.lot) and rules.lot > 0.0):
        raise ConfigError(f"InstrumentRules.lot must be positive and finite, was {rules.lot}")
    if rules.min_quantity < 0.0 or rules.min_notional < 0.0:
        raise ConfigError(
            "InstrumentRules.min_quantity and min_notional must be >= 0, were "
            f"{rules.min_quantity} and {rules.min_notional}"
        )
    if not rules.multiplier > 0.0:
        raise ConfigError(f"InstrumentRules.multiplier must be > 0, was {rules.multiplier}")
    if lot_precision(rules.lot) > rules.size_precision:
        raise ConfigError(
            f"InstrumentRules.lot {rules.lot} has more decimals than size_precision {rules.size_precision}"
        )
