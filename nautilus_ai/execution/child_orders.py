"""Split a parent quantity into child orders: TWAP slices and iceberg display slices.

All arithmetic is done in whole lots (integers), so the children always sum to the parent exactly:

1. **Lots.** The parent ``Q`` must be a whole number of lots: ``L = round(Q / lot)``, with
   ``|L * lot - Q| <= 1e-9 * max(1, Q)`` (the risk layer rounds with
   :func:`nautilus_ai.risk.sizing.round_to_instrument` first).
2. **Minimum size.** ``m = max(1, ceil(min_quantity / lot), ceil(min_notional / (price * multiplier) / lot))``
   lots.
3. **Targets.** TWAP: ``n = max(1, floor(horizon / interval))`` equal targets ``L / n``; with
   ``size_jitter = r`` each target is multiplied by ``1 + U(-r, r)`` (seeded) and the targets are
   rescaled to sum to ``L``. Iceberg: targets of ``display / lot`` lots (optionally jittered the same
   way) until ``L`` is used.
4. **Rounding with carry.** ``carry = 0``; for each target ``t``: ``k = floor(t + carry)``,
   ``carry += t - k``. The residual ``L - sum k`` goes to the last child.
5. **Merging.** A child under ``m`` lots is merged into the next one (the last into the one before),
   so every child has at least ``m`` lots, unless the parent itself is smaller than ``m`` (then it is
   a single child equal to the parent: the venue decides).

TWAP times are ``k * interval`` (k = 0..n-1) moved by ``U(-j, j) * interval / 2`` with
``time_jitter = j`` in [0, 1], so they stay ordered and inside ``[0, horizon)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from nautilus_ai.errors import ConfigError, DataError


@dataclass(frozen=True)
class ChildOrder:
    """One child order of a parent.

    Attributes
    ----------
    quantity : float
        Child quantity (a whole number of lots, rounded to the lot's precision).
    offset_secs : float
        When to send it, in seconds after the parent starts (0 for iceberg slices: each is sent when
        the previous one fills).

    """

    quantity: float
    offset_secs: float = 0.0


def lot_precision(lot: float) -> int:
    """Return the number of decimal places of ``lot`` (``0.001 -> 3``, ``5 -> 0``)."""
    if not lot > 0.0 or not math.isfinite(lot):
        raise ConfigError(f"lot must be positive and finite, was {lot}")
    exponent = Decimal(repr(lot)).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def to_lots(quantity: float, lot: float) -> int:
    """Return ``quantity`` as a whole number of lots.

    Raises
    ------
    ConfigError
        If ``lot`` is not positive.
    DataError
        If ``quantity`` is negative, not finite or not a whole number of lots (field ``quantity``).

    """
    if not lot > 0.0 or not math.isfinite(lot):
        raise ConfigError(f"lot must be positive and finite, was {lot}")
    if not math.isfinite(quantity) or quantity < 0.0:
        raise DataError(f"must be finite and >= 0, was {quantity}", field="quantity")
    lots = round(quantity / lot)
    if abs(lots * lot - quantity) > 1e-9 * max(1.0, quantity):
        raise DataError(
            f"must be a whole number of lots of {lot}, was {quantity}; round it with "
            "nautilus_ai.risk.sizing.round_to_instrument first",
            field="quantity",
        )
    return int(lots)


def min_child_lots(
    lot: float,
    min_quantity: float = 0.0,
    min_notional: float = 0.0,
    price: float = 0.0,
    multiplier: float = 1.0,
) -> int:
    """Return the smallest child size the venue accepts, in lots (at least 1).

    ``max(1, ceil(min_quantity / lot), ceil(min_notional / (price * multiplier) / lot))``; the notional
    term is skipped when ``price`` is not positive.
    """
    if not lot > 0.0:
        raise ConfigError(f"lot must be positive, was {lot}")
    if min_quantity < 0.0 or min_notional < 0.0:
        raise ConfigError(f"min_quantity and min_notional must be >= 0, were {min_quantity}, {min_notional}")
    lots = max(1, math.ceil(min_quantity / lot - 1e-9))
    if min_notional > 0.0 and price > 0.0:
        lots = max(lots, math.ceil(min_notional / (price * multiplier) / lot - 1e-9))
    return int(lots)


def round_targets(targets: Sequence[float], total_lots: int) -> list[int]:
    """Round fractional lot targets to integers with the residual carried forward.

    Parameters
    ----------
    targets : sequence of float
        Wanted lots per child (>= 0), summing to about ``total_lots``.
    total_lots : int
        The exact total; the difference after rounding goes to the last child.

    Returns
    -------
    list of int
        Lots per child, summing to ``total_lots``, none negative.

    """
    if not targets:
        raise DataError("no children to round", field="targets")
    lots: list[int] = []
    carry = 0.0
    for target in targets:
        k = max(0, math.floor(target + carry + 1e-9))
        carry += target - k
        lots.append(k)
    excess = sum(lots) - total_lots
    index = len(lots) - 1
    while excess > 0:  # rounding up never overshoots by more than one lot; take it back from the end
        take = min(excess, lots[index])
        lots[index] -= take
        excess -= take
        index -= 1
    lots[-1] += max(0, -excess)
    return lots


def merge_small(
    lots: Sequence[int], offsets: Sequence[float], min_lots: int
) -> tuple[list[int], list[float]]:
    """Merge children under ``min_lots`` into the next child (the last into the one before).

    Returns
    -------
    tuple
        The merged lots and the offsets of the children that remain; the sum is unchanged.

    """
    merged: list[int] = []
    kept_offsets: list[float] = []
    pending = 0
    for k, offset in zip(lots, offsets, strict=True):
        pending += k
        if pending >= min_lots:
            merged.append(pending)
            kept_offsets.append(offset)
            pending = 0
    if pending > 0:
        if merged:
            merged[-1] += pending
        else:
            merged.append(pending)
            kept_offsets.append(offsets[-1] if offsets else 0.0)
    return merged, kept_offsets


def _jitter(targets: np.ndarray, size_jitter: float, rng: np.random.Generator) -> np.ndarray:
    if size_jitter == 0.0:
        return targets
    scaled = targets * (1.0 + rng.uniform(-size_jitter, size_jitter, size=targets.size))
    return scaled * (targets.sum() / scaled.sum())


def _check_jitter(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be in [0, 1], was {value}")


def _build(lots: Sequence[int], offsets: Sequence[float], lot: float) -> tuple[ChildOrder, ...]:
    precision = lot_precision(lot)
    return tuple(ChildOrder(round(k * lot, precision), float(t)) for k, t in zip(lots, offsets, strict=True))


def twap_children(
    quantity: float,
    horizon_secs: float,
    interval_secs: float,
    lot: float,
    min_quantity: float = 0.0,
    min_notional: float = 0.0,
    price: float = 0.0,
    multiplier: float = 1.0,
    size_jitter: float = 0.0,
    time_jitter: float = 0.0,
    seed: int | None = None,
) -> tuple[ChildOrder, ...]:
    """Split ``quantity`` into TWAP slices over ``horizon_secs``, one per ``interval_secs``.

    Parameters
    ----------
    quantity : float
        Parent quantity (positive, a whole number of lots).
    horizon_secs : float
        Time over which to trade (positive).
    interval_secs : float
        Time between slices (positive, at most ``horizon_secs``).
    lot : float
        Size increment.
    min_quantity, min_notional, price, multiplier : float
        The venue's minimum size and notional, and the price and multiplier used for the notional.
    size_jitter : float
        Relative size randomization ``r`` in [0, 1] (0: equal slices).
    time_jitter : float
        Time randomization ``j`` in [0, 1], as a fraction of half an interval.
    seed : int, optional
        Seed of the randomization (same seed, same children).

    Returns
    -------
    tuple of ChildOrder
        Children summing to ``quantity`` exactly, in time order.

    Raises
    ------
    ConfigError
        If the horizon, interval, lot or jitters are out of range.
    DataError
        If ``quantity`` is not a positive whole number of lots.

    """
    if not horizon_secs > 0.0 or not interval_secs > 0.0 or interval_secs > horizon_secs:
        raise ConfigError(
            f"need 0 < interval_secs <= horizon_secs, were interval_secs={interval_secs}, "
            f"horizon_secs={horizon_secs}"
        )
    _check_jitter("size_jitter", size_jitter)
    _check_jitter("time_jitter", time_jitter)
    total = to_lots(quantity, lot)
    if total <= 0:
        raise DataError(f"must be positive, was {quantity}", field="quantity")
    rng = np.random.default_rng(seed)
    count = max(1, math.floor(horizon_secs / interval_secs + 1e-9))
    targets = _jitter(np.full(count, total / count), size_jitter, rng)
    offsets = np.arange(count) * interval_secs
    if time_jitter > 0.0:
        offsets = offsets + rng.uniform(-time_jitter, time_jitter, size=count) * interval_secs / 2.0
    offsets = np.clip(offsets, 0.0, np.nextafter(horizon_secs, 0.0))
    lots = round_targets(targets.tolist(), total)
    merged, kept = merge_small(
        lots, offsets.tolist(), min_child_lots(lot, min_quantity, min_notional, price, multiplier)
    )
    return _build(merged, kept, lot)


def iceberg_children(
    quantity: float,
    display_quantity: float,
    lot: float,
    min_quantity: float = 0.0,
    min_notional: float = 0.0,
    price: float = 0.0,
    multiplier: float = 1.0,
    size_jitter: float = 0.0,
    seed: int | None = None,
) -> tuple[ChildOrder, ...]:
    """Split ``quantity`` into iceberg display slices of about ``display_quantity``.

    Parameters
    ----------
    quantity : float
        Parent quantity (positive, a whole number of lots).
    display_quantity : float
        Shown size of each slice (positive); rounded down to whole lots, at least the minimum size.
    lot : float
        Size increment.
    min_quantity, min_notional, price, multiplier : float
        The venue's minimum size and notional, and the price and multiplier used for the notional.
    size_jitter : float
        Relative randomization of each display size in [0, 1] (hides the refresh pattern).
    seed : int, optional
        Seed of the randomization.

    Returns
    -------
    tuple of ChildOrder
        Slices summing to ``quantity`` exactly; each is sent when the one before it fills.

    """
    if not display_quantity > 0.0 or not math.isfinite(display_quantity):
        raise ConfigError(f"display_quantity must be positive, was {display_quantity}")
    _check_jitter("size_jitter", size_jitter)
    total = to_lots(quantity, lot)
    if total <= 0:
        raise DataError(f"must be positive, was {quantity}", field="quantity")
    minimum = min_child_lots(lot, min_quantity, min_notional, price, multiplier)
    display = max(minimum, math.floor(display_quantity / lot + 1e-9))
    count = max(1, math.ceil(total / display))
    rng = np.random.default_rng(seed)
    targets = (
        np.full(count, total / count)
        if size_jitter > 0.0
        else np.minimum(display, total - np.arange(count) * display).astype(float)
    )
    targets = _jitter(targets, size_jitter, rng)
    lots = round_targets(targets.tolist(), total)
    merged, kept = merge_small(lots, [0.0] * len(lots), minimum)
    return _build(merged, kept, lot)
