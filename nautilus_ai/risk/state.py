"""The trading state of the risk layer and the rules that move it.

The state mirrors NautilusTrader's ``TradingState``:

* ``ACTIVE``: every order that passes the limits may be sent;
* ``REDUCING``: only orders that shrink a position towards flat (never flip it);
* ``HALTED``: no new order at all.

The guard only ever escalates (``ACTIVE -> REDUCING -> HALTED``); going back needs an explicit
command (:class:`TradingStateCommand` on :data:`RISK_COMMAND_TOPIC`, or ``RiskGuardActor.resume``).
:func:`escalate` is the pure rule the guard applies to its measurements::

    drawdown   = 1 - equity / peak_equity              (peak-to-trough, since the guard started)
    daily_loss = 1 - equity / equity_at_start_of_day
    HALTED     if drawdown >= halt_drawdown or daily_loss >= halt_daily_loss or data/model stale
    REDUCING   if drawdown >= reduce_drawdown or daily_loss >= reduce_daily_loss
    new state  = the more severe of the current state and the one above
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from nautilus_trader.model.enums import TradingState

from nautilus_ai.errors import ConfigError

RISK_COMMAND_TOPIC = "nautilus_ai.risk.commands"
"""Raw message-bus topic on which :class:`TradingStateCommand` objects are published."""

RISK_STATE_TOPIC = "nautilus_ai.risk.state"
"""Raw topic on which the guard publishes the new :class:`GateState` when it has no RiskEngine."""


class GateState(StrEnum):
    """The trading state seen by the RiskGate (same names as NautilusTrader's ``TradingState``)."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


_SEVERITY = {GateState.ACTIVE: 0, GateState.REDUCING: 1, GateState.HALTED: 2}

_TO_NAUTILUS = {
    GateState.ACTIVE: TradingState.ACTIVE,
    GateState.REDUCING: TradingState.REDUCING,
    GateState.HALTED: TradingState.HALTED,
}


def severity(state: GateState) -> int:
    """Return 0 for ACTIVE, 1 for REDUCING and 2 for HALTED."""
    return _SEVERITY[GateState(state)]


def more_severe(first: GateState, second: GateState) -> GateState:
    """Return the more restrictive of two states."""
    return first if severity(first) >= severity(second) else second


def to_nautilus(state: GateState) -> TradingState:
    """Return NautilusTrader's ``TradingState`` for ``state``."""
    return _TO_NAUTILUS[GateState(state)]


def from_nautilus(state: TradingState) -> GateState:
    """Return the :class:`GateState` of NautilusTrader's ``TradingState``."""
    for ours, theirs in _TO_NAUTILUS.items():
        if theirs == state:
            return ours
    raise ConfigError(f"unknown NautilusTrader TradingState {state!r}; expected ACTIVE, REDUCING or HALTED")


@dataclass(frozen=True)
class GuardLimits:
    """The loss limits of the guard, as fractions of equity (``inf`` disables one).

    Attributes
    ----------
    reduce_drawdown : float
        Peak-to-trough drawdown that moves the state to REDUCING.
    halt_drawdown : float
        Peak-to-trough drawdown that moves the state to HALTED.
    reduce_daily_loss : float
        Loss since the start of the (UTC) day that moves the state to REDUCING.
    halt_daily_loss : float
        Loss since the start of the day that moves the state to HALTED.

    """

    reduce_drawdown: float = 0.10
    halt_drawdown: float = 0.20
    reduce_daily_loss: float = 0.03
    halt_daily_loss: float = 0.05

    def __post_init__(self) -> None:
        """Check every limit is in ``(0, 1]`` or ``inf`` and that reduce limits come first."""
        for name in ("reduce_drawdown", "halt_drawdown", "reduce_daily_loss", "halt_daily_loss"):
            value = getattr(self, name)
            if math.isnan(value) or value <= 0.0 or (math.isfinite(value) and value > 1.0):
                raise ConfigError(
                    f"GuardLimits.{name} must be a fraction of equity in (0, 1] (inf: off), was {value}"
                )
        if self.reduce_drawdown > self.halt_drawdown or self.reduce_daily_loss > self.halt_daily_loss:
            raise ConfigError(
                "GuardLimits: each reduce limit must not exceed its halt limit, got "
                f"drawdown {self.reduce_drawdown} > {self.halt_drawdown} or daily loss "
                f"{self.reduce_daily_loss} > {self.halt_daily_loss}"
            )


def drawdown(equity: float, peak_equity: float) -> float:
    """Return the peak-to-trough drawdown ``max(0, 1 - equity / peak)`` (0 without a positive peak)."""
    if not math.isfinite(equity) or not math.isfinite(peak_equity) or peak_equity <= 0.0:
        return 0.0
    return max(0.0, 1.0 - equity / peak_equity)


@dataclass(frozen=True)
class Escalation:
    """The state the guard's measurements call for, and why.

    Attributes
    ----------
    state : GateState
        The new state (never less severe than the current one).
    reason : str
        Why (empty when the state did not change).

    """

    state: GateState
    reason: str


def escalate(
    current: GateState,
    drawdown_now: float,
    daily_loss: float,
    limits: GuardLimits,
    stale_reason: str = "",
) -> Escalation:
    """Return the state after applying the guard's rule (see the module docstring).

    Parameters
    ----------
    current : GateState
        The state in force.
    drawdown_now : float
        Peak-to-trough drawdown as a fraction of the peak.
    daily_loss : float
        Loss since the start of the day as a fraction of that day's opening equity.
    limits : GuardLimits
        The thresholds.
    stale_reason : str
        Non-empty when market data or the model is stale: halts with this reason.

    Returns
    -------
    Escalation
        The new state and the reason; ``reason == ""`` when nothing changed.

    """
    wanted, reason = GateState.ACTIVE, ""
    if stale_reason:
        wanted, reason = GateState.HALTED, stale_reason
    elif drawdown_now >= limits.halt_drawdown:
        wanted = GateState.HALTED
        reason = f"drawdown {drawdown_now:.2%} >= halt limit {limits.halt_drawdown:.2%}"
    elif daily_loss >= limits.halt_daily_loss:
        wanted, reason = (
            GateState.HALTED,
            f"daily loss {daily_loss:.2%} >= halt limit {limits.halt_daily_loss:.2%}",
        )
    elif drawdown_now >= limits.reduce_drawdown:
        wanted, reason = (
            GateState.REDUCING,
            f"drawdown {drawdown_now:.2%} >= reduce limit {limits.reduce_drawdown:.2%}",
        )
    elif daily_loss >= limits.reduce_daily_loss:
        wanted, reason = (
            GateState.REDUCING,
            f"daily loss {daily_loss:.2%} >= reduce limit {limits.reduce_daily_loss:.2%}",
        )
    if severity(wanted) > severity(current):
        return Escalation(wanted, reason)
    return Escalation(GateState(current), "")


@dataclass(frozen=True)
class TradingStateCommand:
    """An explicit operator command to set the trading state (the only way back from REDUCING/HALTED).

    Published as a plain object on the raw message-bus topic :data:`RISK_COMMAND_TOPIC` (from the
    ControlActor, the API sidecar's bus bridge or a test); the RiskGuardActor applies it to the
    RiskEngine and to every RiskGate.

    Attributes
    ----------
    state : GateState
        The state wanted (``ACTIVE`` to resume).
    reason : str
        Why, for the log and the audit trail (required).

    """

    state: GateState
    reason: str

    def __post_init__(self) -> None:
        """Check the state name and that a reason is given."""
        object.__setattr__(self, "state", GateState(self.state))
        if not self.reason.strip():
            raise ConfigError("TradingStateCommand needs a reason (who asked and why), got an empty one")
