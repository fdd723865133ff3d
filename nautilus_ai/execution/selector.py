"""Order-type selector: a pure decision table from an order intent and the liquidity state.

Inputs, for a parent of quantity ``Q`` on ``side`` with urgency ``u`` in [0, 1] and a horizon of
``H`` bars (see :func:`urgency_from_signal`)::

    p      = Q / typical_bar_volume          # participation in one bar (inf when the volume is 0)
    touch  = Q / depth_to_take(side)         # share of the visible opposite depth (N levels)
    small  = p <= single_order_participation and touch <= max_touch_fraction
    toxic  = vpin >= toxic_vpin
    tight  = spread_bps <= tight_spread_bps
    bars_needed = ceil(p / participation_cap)   # bars to trade Q within the participation cap

The first matching row wins:

====  ==================================================  =========  ========================================
rule  condition                                           kind       why
====  ==================================================  =========  ========================================
R1    ``u >= immediate_urgency`` and ``touch <= 1``       market     must trade now and the book can absorb it
R2    small and (``u >= urgent_urgency`` or toxic)        market     urgent, or informed flow would pick off a
                                                                     passive order (avoid passive when toxic)
R3    small and tight and ``u >= patient_urgency``        market     crossing a tight spread costs little
R4    small                                               limit      patient, benign flow: earn the spread
R5    toxic or ``u >= urgent_urgency``                    twap       too large for one order; no resting size
                                                                     when toxic; a steady, fast schedule
R6    ``u < patient_urgency`` and ``p <= iceberg_max``    iceberg    patient and benign: rest passively,
                                                                     show a small display size
R7    ``H >= vwap_min_horizon_bars``                      vwap       long enough for the volume profile
R8    otherwise                                           twap       short horizon: equal slices
====  ==================================================  =========  ========================================

Schedules (R5, R7, R8) send market children on R5 (urgent or toxic: take liquidity on schedule) and
passive children on R7 and R8 (``child_type = "limit"`` pegged to the touch, so each slice earns the
spread when the flow is benign and the residual goes at market when the horizon ends). They run over
``h = max(min(bars_needed, max_schedule_bars), ceil(H * (1 - u)), 1)``
bars: the more urgent, the shorter, but never faster than the participation cap allows. The iceberg shows
``display = max(lot, display_touch_fraction * touch_size(side))``, rounded down to the lot (the size at
the best level the order joins), and the limit price joins the touch (``price_offset_bps = 0``).

Properties (tested with hypothesis): raising ``u`` never makes the choice more passive (the rank
limit = iceberg < twap = vwap < market never falls), and growing ``Q`` never turns an algorithm
(twap, vwap, iceberg) into a single market order, since every market row needs ``touch`` or ``p``
under a bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.execution.liquidity import SIDES, LiquidityState

OrderKind = Literal["market", "limit", "twap", "vwap", "iceberg"]

AGGRESSION: dict[str, int] = {"limit": 0, "iceberg": 0, "twap": 1, "vwap": 1, "market": 2}
"""How aggressive each kind is: passive resting orders, schedules, then a single market order."""


@dataclass(frozen=True)
class SelectorConfig:
    """Thresholds of the decision table (see the module docstring).

    Attributes
    ----------
    immediate_urgency : float
        Urgency from which an order that fits the visible book goes at market (R1).
    urgent_urgency : float
        Urgency from which a small order goes at market and a large one on a fast TWAP (R2, R5).
    patient_urgency : float
        Urgency under which an order is patient (R3 needs at least this; R6 needs less).
    single_order_participation : float
        Largest ``p`` (share of one bar's volume) for a single order.
    max_touch_fraction : float
        Largest share of the visible opposite depth for a single order.
    toxic_vpin : float
        VPIN from which flow is toxic: no passive orders.
    tight_spread_bps : float
        Spread (bps) under which crossing is cheap.
    participation_cap : float
        Largest share of the market volume a schedule may take per bar.
    iceberg_max_participation : float
        Largest ``p`` for an iceberg (beyond it, resting would take too long).
    vwap_min_horizon_bars : int
        Shortest horizon (bars) for a VWAP schedule.
    display_touch_fraction : float
        Iceberg display as a share of the size at the joined best level.
    bar_seconds : float
        Length of one bar, to give schedules in seconds too.
    lot : float
        Size increment (for the iceberg display).
    max_schedule_bars : int
        Longest schedule; beyond it the participation cap binds and the algorithm reports the shortfall.

    """

    immediate_urgency: float = 0.95
    urgent_urgency: float = 0.7
    patient_urgency: float = 0.3
    single_order_participation: float = 0.02
    max_touch_fraction: float = 0.5
    toxic_vpin: float = 0.6
    tight_spread_bps: float = 2.0
    participation_cap: float = 0.1
    iceberg_max_participation: float = 0.5
    vwap_min_horizon_bars: int = 10
    display_touch_fraction: float = 0.5
    bar_seconds: float = 60.0
    lot: float = field(default=1.0)
    max_schedule_bars: int = 10_000

    def __post_init__(self) -> None:
        if not 0.0 <= self.patient_urgency <= self.urgent_urgency <= self.immediate_urgency <= 1.0:
            raise ConfigError(
                "need 0 <= patient_urgency <= urgent_urgency <= immediate_urgency <= 1, were "
                f"{self.patient_urgency}, {self.urgent_urgency}, {self.immediate_urgency}"
            )
        for name in (
            "single_order_participation",
            "max_touch_fraction",
            "participation_cap",
            "iceberg_max_participation",
            "display_touch_fraction",
            "bar_seconds",
            "lot",
        ):
            if not getattr(self, name) > 0.0:
                raise ConfigError(f"{name} must be positive, was {getattr(self, name)}")
        if not 0.0 <= self.toxic_vpin <= 1.0:
            raise ConfigError(f"toxic_vpin must be in [0, 1], was {self.toxic_vpin}")
        if self.tight_spread_bps < 0.0 or self.vwap_min_horizon_bars < 1 or self.max_schedule_bars < 1:
            raise ConfigError(
                "tight_spread_bps must be >= 0, vwap_min_horizon_bars and max_schedule_bars >= 1, were "
                f"{self.tight_spread_bps}, {self.vwap_min_horizon_bars}, {self.max_schedule_bars}"
            )


@dataclass(frozen=True)
class ExecutionChoice:
    """The order type chosen for a parent order.

    Attributes
    ----------
    kind : str
        "market", "limit", "twap", "vwap" or "iceberg".
    params : dict
        Parameters of the kind (``horizon_bars``, ``horizon_secs``, ``interval_secs``,
        ``participation_cap``, ``display_quantity``, ``price_offset_bps``, ``expire_bars``).
    reason : str
        The rule that fired and the numbers behind it.
    rule : str
        The rule id (``"R1"`` .. ``"R8"``).

    """

    kind: OrderKind
    params: dict[str, Any]
    reason: str
    rule: str


def urgency_from_signal(confidence: float, horizon_bars: int, reference_horizon_bars: int = 1) -> float:
    """Return the urgency of a signal from its confidence and horizon.

    ``u = clip(2 * confidence - 1, 0, 1) * min(1, reference_horizon_bars / horizon_bars)``: a sure
    signal (confidence 1) over the reference horizon is fully urgent; a coin flip (0.5) or a long horizon
    is patient.

    Parameters
    ----------
    confidence : float
        Calibrated probability that the signal's direction is right, in [0, 1].
    horizon_bars : int
        Bars over which the signal is expected to pay (>= 1).
    reference_horizon_bars : int
        Horizon at which a sure signal is fully urgent (>= 1).

    Returns
    -------
    float
        Urgency in [0, 1].

    """
    if not 0.0 <= confidence <= 1.0:
        raise DataError(f"must be in [0, 1], was {confidence}", field="confidence")
    if horizon_bars < 1 or reference_horizon_bars < 1:
        raise ConfigError(
            f"horizon_bars and reference_horizon_bars must be >= 1, were {horizon_bars} and "
            f"{reference_horizon_bars}"
        )
    edge = min(1.0, max(0.0, 2.0 * confidence - 1.0))
    return edge * min(1.0, reference_horizon_bars / horizon_bars)


def _schedule_params(kind: str, bars: int, config: SelectorConfig, passive: bool = False) -> dict[str, Any]:
    params: dict[str, Any] = {
        "horizon_bars": bars,
        "horizon_secs": bars * config.bar_seconds,
        "interval_secs": config.bar_seconds,
        "child_type": "limit" if passive else "market",
    }
    if passive:
        params["price_mode"] = "peg"
    if kind == "vwap":
        params["participation_cap"] = config.participation_cap
    return params


def select_order_type(
    intent_qty: float,
    side: str,
    liquidity: LiquidityState,
    urgency: float,
    horizon_bars: int,
    config: SelectorConfig | None = None,
) -> ExecutionChoice:
    """Choose market, limit, TWAP, VWAP or iceberg for a parent order (the table in the module docstring).

    Parameters
    ----------
    intent_qty : float
        Parent quantity (positive), for example ``OrderIntent.quantity``.
    side : str
        "BUY" or "SELL".
    liquidity : LiquidityState
        The latest liquidity state of the instrument.
    urgency : float
        Urgency in [0, 1] (:func:`urgency_from_signal`).
    horizon_bars : int
        Bars the signal gives to complete the order (>= 1).
    config : SelectorConfig, optional
        Thresholds (defaults when omitted).

    Returns
    -------
    ExecutionChoice
        The kind, its parameters and the reason.

    Raises
    ------
    DataError
        If ``intent_qty``, ``side`` or ``urgency`` is out of range (the field is named).
    ConfigError
        If ``horizon_bars`` is below 1.

    """
    cfg = config or SelectorConfig()
    if not math.isfinite(intent_qty) or intent_qty <= 0.0:
        raise DataError(f"must be positive and finite, was {intent_qty}", field="intent_qty")
    if side not in SIDES:
        raise DataError(f"must be 'BUY' or 'SELL', was {side!r}", field="side")
    if not 0.0 <= urgency <= 1.0:
        raise DataError(f"must be in [0, 1], was {urgency}", field="urgency")
    if horizon_bars < 1:
        raise ConfigError(f"horizon_bars must be >= 1, was {horizon_bars}")

    volume = liquidity.typical_bar_volume
    participation = intent_qty / volume if volume > 0.0 else math.inf
    depth = liquidity.depth_to_take(side)
    touch = intent_qty / depth if depth > 0.0 else math.inf
    small = participation <= cfg.single_order_participation and touch <= cfg.max_touch_fraction
    toxic = liquidity.vpin >= cfg.toxic_vpin
    tight = liquidity.spread_bps <= cfg.tight_spread_bps
    facts = (
        f"p={participation:.4g} of a bar, touch={touch:.3g} of depth, u={urgency:.2f}, "
        f"VPIN={liquidity.vpin:.2f}, spread={liquidity.spread_bps:.2f}bps, H={horizon_bars}"
    )

    if urgency >= cfg.immediate_urgency and touch <= 1.0:
        return ExecutionChoice("market", {}, f"R1 immediate and fits the visible book: {facts}", "R1")
    if small and (urgency >= cfg.urgent_urgency or toxic):
        why = "toxic flow, avoid passive" if toxic else "urgent"
        return ExecutionChoice("market", {}, f"R2 small order, {why}: {facts}", "R2")
    if small and tight and urgency >= cfg.patient_urgency:
        return ExecutionChoice("market", {}, f"R3 small order, tight spread: {facts}", "R3")
    if small:
        params = {"price_offset_bps": 0.0, "expire_bars": horizon_bars}
        return ExecutionChoice("limit", params, f"R4 small patient order, join the touch: {facts}", "R4")

    needed = (
        min(cfg.max_schedule_bars, math.ceil(min(participation / cfg.participation_cap, 1e12)))
        if math.isfinite(participation)
        else horizon_bars
    )
    bars = max(needed, math.ceil(horizon_bars * (1.0 - urgency) - 1e-9), 1)
    if toxic or urgency >= cfg.urgent_urgency:
        why = "toxic flow, no resting size" if toxic else "urgent"
        return ExecutionChoice("twap", _schedule_params("twap", bars, cfg), f"R5 large, {why}: {facts}", "R5")
    if urgency < cfg.patient_urgency and participation <= cfg.iceberg_max_participation:
        lot = cfg.lot
        display = max(
            lot, math.floor(cfg.display_touch_fraction * liquidity.touch_size(side) / lot + 1e-9) * lot
        )
        params = {
            "display_quantity": min(display, intent_qty),
            "price_offset_bps": 0.0,
            "expire_bars": horizon_bars,
        }
        return ExecutionChoice("iceberg", params, f"R6 large, patient, benign flow: {facts}", "R6")
    if horizon_bars >= cfg.vwap_min_horizon_bars:
        return ExecutionChoice(
            "vwap",
            _schedule_params("vwap", bars, cfg, passive=True),
            f"R7 large, long horizon: {facts}",
            "R7",
        )
    return ExecutionChoice(
        "twap", _schedule_params("twap", bars, cfg, passive=True), f"R8 large, short horizon: {facts}", "R8"
    )
