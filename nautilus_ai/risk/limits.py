"""Exposure limits of a book of weights: per position, per group (sector), gross and net leverage.

Weights are signed notional over equity (``w_i = q_i * price_i * multiplier_i / equity``). The limits
are

* per position: ``|w_i| <= max_position_weight`` and ``|w_i| * equity <= max_position_notional``;
* per group ``g``: ``sum_{i in g} |w_i| <= max_group_weight``;
* gross leverage: ``sum_i |w_i| <= max_gross_leverage``;
* net leverage: ``|sum_i w_i| <= max_net_leverage``.

:func:`enforce_limits` maps any book onto one that satisfies all of them, only ever shrinking
``|w_i|`` (it never opens, grows or flips a position), in this order: clip each position, scale each
group, scale the whole book, then scale down the dominant side until the net fits. Every step only
shrinks magnitudes, so a later step cannot break an earlier magnitude limit, and the net step comes last
because clipping one side can change the net. All the limits are convex sets of weights, so any
convex combination of two compliant books (for example a turnover-limited move from a compliant book
towards a compliant target) is compliant too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nautilus_ai.errors import ConfigError, DataError

FloatArray = npt.NDArray[np.float64]

LIMIT_TOLERANCE = 1e-9
"""Absolute slack allowed by :func:`limit_breaches` for floating point rounding."""


@dataclass(frozen=True)
class RiskLimits:
    """Exposure limits of a book (weights are signed notional over equity).

    Attributes
    ----------
    max_position_weight : float
        Cap on ``|w_i|`` for any single instrument.
    max_position_notional : float
        Cap on ``|w_i| * equity`` in account currency (``inf`` for none).
    max_group_weight : float
        Cap on the gross weight ``sum |w_i|`` of one group (sector); ``inf`` for none.
    max_gross_leverage : float
        Cap on ``sum_i |w_i|``.
    max_net_leverage : float
        Cap on ``|sum_i w_i|``.

    """

    max_position_weight: float = 0.2
    max_position_notional: float = math.inf
    max_group_weight: float = math.inf
    max_gross_leverage: float = 1.0
    max_net_leverage: float = 1.0

    def __post_init__(self) -> None:
        """Check that every limit is positive (``inf`` meaning no limit)."""
        for name in (
            "max_position_weight",
            "max_position_notional",
            "max_group_weight",
            "max_gross_leverage",
            "max_net_leverage",
        ):
            value = getattr(self, name)
            if math.isnan(value) or value <= 0.0:
                raise ConfigError(
                    f"RiskLimits.{name} must be a positive number (inf for no limit), was {value}"
                )


def position_cap(equity: float, limits: RiskLimits) -> float:
    """Return the largest allowed ``|w_i|``: ``min(max_position_weight, max_position_notional / equity)``.

    Parameters
    ----------
    equity : float
        Account equity in account currency (positive).
    limits : RiskLimits
        The limits.

    Returns
    -------
    float
        The cap on one position's absolute weight; 0.0 when ``equity`` is not positive.

    """
    if not math.isfinite(equity) or equity <= 0.0:
        return 0.0
    return min(limits.max_position_weight, limits.max_position_notional / equity)


def clip_positions(weights: FloatArray, cap: float) -> FloatArray:
    """Return ``sign(w_i) * min(|w_i|, cap)`` for each position."""
    return np.clip(np.asarray(weights, dtype=np.float64), -cap, cap)


def scale_groups(weights: FloatArray, groups: Sequence[str], max_group_weight: float) -> FloatArray:
    """Scale each group so that its gross weight ``sum_{i in g} |w_i|`` is at most ``max_group_weight``.

    Parameters
    ----------
    weights : ndarray
        Signed weights.
    groups : sequence of str
        The group (sector) of each weight, same length as ``weights``.
    max_group_weight : float
        The cap on a group's gross weight.

    Returns
    -------
    ndarray
        The scaled weights: a group over the cap is multiplied by ``cap / gross_g``.

    """
    out = np.asarray(weights, dtype=np.float64).copy()
    if len(groups) != out.size:
        raise ConfigError(
            f"scale_groups: {len(groups)} groups given for {out.size} weights; expected one per weight"
        )
    if math.isinf(max_group_weight):
        return out
    labels = np.asarray(groups, dtype=object)
    for group in set(groups):
        mask = labels == group
        gross = float(np.abs(out[mask]).sum())
        if gross > max_group_weight:
            out[mask] *= max_group_weight / gross
    return out


def scale_gross(weights: FloatArray, max_gross: float) -> FloatArray:
    """Scale the whole book by ``min(1, max_gross / sum |w_i|)``."""
    out = np.asarray(weights, dtype=np.float64).copy()
    gross = float(np.abs(out).sum())
    if gross > max_gross:
        out *= max_gross / gross
    return out


def scale_net(weights: FloatArray, max_net: float) -> FloatArray:
    """Shrink the dominant side so that ``|sum_i w_i| <= max_net``.

    With long exposure ``L = sum_{w>0} w`` and short exposure ``S = sum_{w<0} |w|``, a book with
    ``L - S > N`` has its longs multiplied by ``(N + S) / L``; symmetrically for shorts. Only one side
    shrinks, so gross, group and position exposures can only fall.

    Parameters
    ----------
    weights : ndarray
        Signed weights.
    max_net : float
        The cap ``N`` on the absolute net weight.

    Returns
    -------
    ndarray
        The weights with ``|net| <= N``.

    """
    out = np.asarray(weights, dtype=np.float64).copy()
    long_exposure = float(out[out > 0.0].sum())
    short_exposure = float(-out[out < 0.0].sum())
    net = long_exposure - short_exposure
    if net > max_net:
        out[out > 0.0] *= (max_net + short_exposure) / long_exposure
    elif net < -max_net:
        out[out < 0.0] *= (max_net + long_exposure) / short_exposure
    return out


def enforce_limits(
    weights: FloatArray | Sequence[float],
    limits: RiskLimits,
    equity: float,
    groups: Sequence[str] | None = None,
) -> FloatArray:
    """Return the book shrunk onto the limits: clip positions, scale groups, scale gross, fix net.

    Parameters
    ----------
    weights : array-like
        Signed weights (notional over equity).
    limits : RiskLimits
        The limits to enforce.
    equity : float
        Account equity, for the notional cap.
    groups : sequence of str, optional
        The group of each instrument; no group limit when omitted.

    Returns
    -------
    ndarray
        Weights satisfying every limit with ``|w_i|`` never larger and signs never flipped.

    Raises
    ------
    DataError
        If a weight is not finite.

    """
    out = np.asarray(weights, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        raise DataError(f"enforce_limits: weights must be finite, got {out.tolist()}")
    out = clip_positions(out, position_cap(equity, limits))
    if groups is not None:
        out = scale_groups(out, groups, limits.max_group_weight)
    out = scale_gross(out, limits.max_gross_leverage)
    return scale_net(out, limits.max_net_leverage)


def limit_breaches(
    weights: FloatArray | Sequence[float],
    limits: RiskLimits,
    equity: float,
    groups: Sequence[str] | None = None,
    tolerance: float = LIMIT_TOLERANCE,
) -> list[str]:
    """Return the names of the limits that ``weights`` break (empty when compliant).

    Parameters
    ----------
    weights : array-like
        Signed weights.
    limits : RiskLimits
        The limits.
    equity : float
        Account equity.
    groups : sequence of str, optional
        The group of each instrument.
    tolerance : float
        Absolute slack for floating point rounding.

    Returns
    -------
    list of str
        Some of ``"position"``, ``"group"``, ``"gross_leverage"``, ``"net_leverage"``.

    """
    w = np.asarray(weights, dtype=np.float64)
    breaches = []
    if np.any(np.abs(w) > position_cap(equity, limits) + tolerance):
        breaches.append("position")
    if groups is not None and math.isfinite(limits.max_group_weight):
        labels = np.asarray(groups, dtype=object)
        if any(np.abs(w[labels == g]).sum() > limits.max_group_weight + tolerance for g in set(groups)):
            breaches.append("group")
    if np.abs(w).sum() > limits.max_gross_leverage + tolerance:
        breaches.append("gross_leverage")
    if abs(w.sum()) > limits.max_net_leverage + tolerance:
        breaches.append("net_leverage")
    return breaches


def group_labels(instruments: Sequence[str], sectors: Mapping[str, str]) -> list[str]:
    """Return the sector of each instrument.

    An instrument id such as ``"AAPL.XNAS"`` is looked up by its full id first, then by its symbol; an
    instrument missing from ``sectors`` forms a group of its own (so it is bounded by the position cap
    only, never pooled with other unknown instruments).
    """
    labels = []
    for instrument in instruments:
        symbol = instrument.split(".")[0]
        labels.append(sectors.get(instrument, sectors.get(symbol, f"UNGROUPED:{instrument}")))
    return labels
