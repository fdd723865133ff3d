"""RiskGuardActor: the kill switch that moves the trading state ACTIVE -> REDUCING -> HALTED.

The guard watches the account equity (on every bar, and on a timer when one is configured), the
arrival of market data and of model signals, and applies :func:`nautilus_ai.risk.state.escalate`:

* peak-to-trough drawdown and the loss since the start of the UTC day move the state to REDUCING,
  then to HALTED;
* no bar for ``stale_data_intervals`` bar intervals (checked on the timer) or no ModelSignal for
  ``stale_model_bars`` bars after the model's first signal halts.

How the state changes (the same in a BacktestEngine, a BacktestNode and a live TradingNode)
--------------------------------------------------------------------------------------------
NautilusTrader changes the trading state only through ``RiskEngine.set_trading_state`` and has no bus
command for it (NAUTILUS_GUIDE §5). The guard therefore holds a reference to the kernel's RiskEngine:

1. injected with :meth:`RiskGuardActor.attach_risk_engine` (or :func:`attach_risk_engine` on a built
   ``BacktestEngine`` / ``TradingNode`` / ``BacktestNode`` engine), or, when nothing was injected,
2. discovered at start from the message bus: the RiskEngine subscribes its own ``_handle_event``
   to ``events.order.*`` in every kernel, so the guard takes the owner of that handler. This needs no
   wiring, so the guard also works as an ``ImportableActorConfig`` in BacktestNode worker processes.

The RiskEngine then denies what the state forbids (its own last line of defence) and publishes
``TradingStateChanged`` on ``events.risk``; every MLStrategy listens to that topic and sets its
RiskGate to the same state, so the one pre-trade path and NautilusTrader agree on a single source of
truth (an operator calling ``node.kernel.risk_engine.set_trading_state`` is followed as well).

Trading resumes only on an explicit command: :meth:`RiskGuardActor.resume` or a
:class:`~nautilus_ai.risk.state.TradingStateCommand` published on
:data:`~nautilus_ai.risk.state.RISK_COMMAND_TOPIC`. Every change is logged with its reason and
published as a :class:`~nautilus_ai.catalog.types.RiskDecisionEvent` (``action="state_change"``) for each
watched instrument.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pandas as pd
from nautilus_trader.common.actor import Actor
from nautilus_trader.common.enums import LogColor
from nautilus_trader.common.events import TimeEvent
from nautilus_trader.common.messages import TradingStateChanged
from nautilus_trader.config import ActorConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.risk.engine import RiskEngine

from nautilus_ai.catalog.types import ModelSignal, RiskDecisionEvent, topic_data_type
from nautilus_ai.errors import ConfigError
from nautilus_ai.risk.state import (
    RISK_COMMAND_TOPIC,
    RISK_STATE_TOPIC,
    GateState,
    GuardLimits,
    TradingStateCommand,
    drawdown,
    escalate,
    from_nautilus,
    to_nautilus,
)

_TIMER_NAME = "risk-guard-check"


class RiskGuardActorConfig(ActorConfig, frozen=True):
    """Configuration of a :class:`RiskGuardActor`.

    Parameters
    ----------
    bar_types : list[BarType]
        The bars watched (equity is evaluated on each; staleness is measured against them).
    venues : list[str]
        The venues whose account equity is summed.
    instrument_ids : list[InstrumentId], optional
        Instruments whose ModelSignals are watched and under which state changes are published;
        default: the instruments of ``bar_types``.
    reduce_drawdown, halt_drawdown : float
        Peak-to-trough drawdown (fraction of the peak) that moves the state to REDUCING / HALTED.
    reduce_daily_loss, halt_daily_loss : float
        Loss since the start of the UTC day (fraction) that moves the state to REDUCING / HALTED.
    stale_data_intervals : int, optional
        Halt when a watched bar type has had no bar for this many of its intervals (needs
        ``check_interval_secs``); None disables the check.
    stale_model_bars : int, optional
        Halt when an instrument got this many bars in a row without a ModelSignal (counted after its
        first signal); None disables the check.
    check_interval_secs : float, optional
        Period of the timer that re-evaluates equity and staleness between bars (live); None: only
        on bars.
    trade_start : str, optional
        ISO timestamp before which the guard only observes (warm-up bars of a walk-forward window).

    """

    bar_types: list[BarType]
    venues: list[str]
    instrument_ids: list[InstrumentId] | None = None
    reduce_drawdown: float = 0.10
    halt_drawdown: float = 0.20
    reduce_daily_loss: float = 0.03
    halt_daily_loss: float = 0.05
    stale_data_intervals: int | None = None
    stale_model_bars: int | None = None
    check_interval_secs: float | None = None
    trade_start: str | None = None


def venue_equity(portfolio: Any, venue: Venue) -> float:
    """Return a venue account's total balance plus unrealized PnL (first currency), NaN without one.

    The same measure as :func:`nautilus_ai.strategies.equity.account_equity`, repeated here because
    ``risk`` may not import from ``strategies`` (ARCHITECTURE: no upward imports).
    """
    account = portfolio.account(venue)
    if account is None:
        return math.nan
    balances = account.balances_total()
    if not balances:
        return math.nan
    currency, balance = next(iter(balances.items()))
    pnl = portfolio.unrealized_pnls(venue).get(currency)
    return float(balance.as_double() + (pnl.as_double() if pnl is not None else 0.0))


def attach_risk_engine(engine: Any) -> int:
    """Inject ``engine.kernel.risk_engine`` into every RiskGuardActor of a built engine or node.

    Parameters
    ----------
    engine : BacktestEngine or TradingNode
        Anything with ``kernel.risk_engine`` and ``trader.actors()`` (for a ``BacktestNode``: call
        ``node.build()``, then this on each ``node.get_engine(config.id)``, then ``node.run()``).

    Returns
    -------
    int
        The number of guards wired.

    """
    guards = [actor for actor in engine.trader.actors() if isinstance(actor, RiskGuardActor)]
    for guard in guards:
        guard.attach_risk_engine(engine.kernel.risk_engine)
    return len(guards)


def find_risk_engine(msgbus: Any) -> RiskEngine | None:
    """Return the kernel's RiskEngine found through its ``events.order.*`` subscription, or None."""
    for subscription in msgbus.subscriptions("events.order.*"):
        owner = getattr(subscription.handler, "__self__", None)
        if isinstance(owner, RiskEngine):
            return owner
    return None


class RiskGuardActor(Actor):
    """Watch equity, data and model freshness and move the trading state (see the module docstring)."""

    def __init__(self, config: RiskGuardActorConfig) -> None:
        super().__init__(config)
        if not config.bar_types:
            raise ConfigError("RiskGuardActorConfig.bar_types must name at least one bar type to watch")
        if not config.venues:
            raise ConfigError("RiskGuardActorConfig.venues must name a venue whose equity to watch")
        for name in ("stale_data_intervals", "stale_model_bars"):
            value = getattr(config, name)
            if value is not None and value < 1:
                raise ConfigError(f"RiskGuardActorConfig.{name} must be >= 1 (None disables it), was {value}")
        if config.check_interval_secs is not None and config.check_interval_secs <= 0:
            raise ConfigError(
                f"RiskGuardActorConfig.check_interval_secs must be positive, was {config.check_interval_secs}"
            )
        if config.stale_data_intervals is not None and config.check_interval_secs is None:
            raise ConfigError(
                "RiskGuardActorConfig.stale_data_intervals needs check_interval_secs: missing bars can only "
                "be noticed on a timer"
            )
        self.limits = GuardLimits(
            reduce_drawdown=config.reduce_drawdown,
            halt_drawdown=config.halt_drawdown,
            reduce_daily_loss=config.reduce_daily_loss,
            halt_daily_loss=config.halt_daily_loss,
        )
        self.bar_types = [BarType.from_str(str(b)) for b in config.bar_types]
        self.venues = [Venue(str(v)) for v in config.venues]
        ids = config.instrument_ids or [b.instrument_id for b in self.bar_types]
        self.instrument_ids = [InstrumentId.from_str(str(i)) for i in ids]
        self._trade_start_ns = pd.Timestamp(config.trade_start, tz="UTC").value if config.trade_start else 0
        self.trading_state = GateState.ACTIVE
        self.events: list[RiskDecisionEvent] = []
        self.peak_equity = math.nan
        self.day_start_equity = math.nan
        self._day = -1
        self._last_bar_ns: dict[BarType, int] = {}
        self._bars_since_signal: dict[InstrumentId, int] = {}
        self._risk_engine: RiskEngine | None = None

    # -- wiring ---------------------------------------------------------------------------------------

    def attach_risk_engine(self, risk_engine: RiskEngine) -> None:
        """Use ``risk_engine`` (``engine.kernel.risk_engine`` / ``node.kernel.risk_engine``)."""
        self._risk_engine = risk_engine

    @property
    def risk_engine(self) -> RiskEngine | None:
        """Return the RiskEngine whose trading state the guard sets (None before start)."""
        return self._risk_engine

    def on_start(self) -> None:
        """Find the RiskEngine, subscribe to bars, signals and commands, and start the timer."""
        if self._risk_engine is None:
            self._risk_engine = find_risk_engine(self.msgbus)
        if self._risk_engine is None:
            self.log.error(
                f"RiskGuardActor found no RiskEngine: states go to {RISK_STATE_TOPIC} only; inject one with "
                "attach_risk_engine(kernel.risk_engine)"
            )
        else:
            self.trading_state = from_nautilus(self._risk_engine.trading_state)
        for bar_type in self.bar_types:
            self.subscribe_bars(bar_type)
        for instrument_id in self.instrument_ids:
            self.subscribe_data(topic_data_type(ModelSignal, instrument_id), instrument_id=instrument_id)
        self.msgbus.subscribe(RISK_COMMAND_TOPIC, self._on_command)
        self.msgbus.subscribe("events.risk", self._on_trading_state_changed)
        if self.config.check_interval_secs is not None:
            self.clock.set_timer(
                _TIMER_NAME,
                interval=timedelta(seconds=self.config.check_interval_secs),
                callback=self._on_timer,
            )

    def on_stop(self) -> None:
        """Cancel the timer and unsubscribe from the raw topics."""
        if _TIMER_NAME in self.clock.timer_names:
            self.clock.cancel_timer(_TIMER_NAME)
        self.msgbus.unsubscribe(RISK_COMMAND_TOPIC, self._on_command)
        self.msgbus.unsubscribe("events.risk", self._on_trading_state_changed)

    # -- observations ---------------------------------------------------------------------------------

    def on_bar(self, bar: Bar) -> None:
        """Record the bar's arrival, count bars without signals and evaluate the limits."""
        self._last_bar_ns[bar.bar_type] = bar.ts_init
        instrument_id = bar.bar_type.instrument_id
        if instrument_id in self._bars_since_signal:
            self._bars_since_signal[instrument_id] += 1
        # trade_start and the daily-loss day are market time (ts_event): a live feed stamps ts_init
        # with the node's clock, while staleness above is measured on the clock (ts_init)
        if bar.ts_event >= self._trade_start_ns:
            self.evaluate(bar.ts_init, market_ns=bar.ts_event)

    def on_data(self, data: Data) -> None:
        """Reset the silence counter of the signal's instrument."""
        if isinstance(data, ModelSignal):
            self._bars_since_signal[data.instrument_id] = 0

    def _on_timer(self, event: TimeEvent) -> None:
        if event.ts_event >= self._trade_start_ns:
            self.evaluate(event.ts_event)

    def equity(self) -> float:
        """Return the summed equity of the watched venues (NaN when an account is missing)."""
        return float(sum(venue_equity(self.portfolio, venue) for venue in self.venues))

    def stale_reason(self, now_ns: int) -> str:
        """Return why data or the model is stale at ``now_ns`` ("" when fresh)."""
        limit = self.config.stale_model_bars
        if limit is not None:
            for instrument_id, silent in self._bars_since_signal.items():
                if silent >= limit:
                    return f"stale model: no ModelSignal for {instrument_id} in {silent} bars (limit {limit})"
        intervals = self.config.stale_data_intervals
        if intervals is not None:
            for bar_type in self.bar_types:
                last = self._last_bar_ns.get(bar_type)
                if last is None:
                    continue
                allowed = intervals * bar_type.spec.timedelta.total_seconds() * 1e9
                if now_ns - last > allowed:
                    gap = (now_ns - last) / 1e9
                    return f"stale market data: no {bar_type} bar for {gap:.0f}s (limit: {intervals} bars)"
        return ""

    def evaluate(self, now_ns: int, market_ns: int | None = None) -> GateState:
        """Update peak and day-start equity, apply the escalation rule and return the state.

        ``now_ns`` is the clock's time (staleness); ``market_ns`` the market time of the data that
        triggered the check (the trading day of the daily loss), ``now_ns`` when omitted.
        """
        equity = self.equity()
        if math.isfinite(equity) and equity > 0.0:
            day = int((now_ns if market_ns is None else market_ns) // (86_400 * 10**9))
            if day != self._day:
                self._day = day
                self.day_start_equity = equity
            if not equity <= self.peak_equity:  # also true while the peak is NaN
                self.peak_equity = equity
        drawdown_now = drawdown(equity, self.peak_equity)
        daily_loss = drawdown(equity, self.day_start_equity)
        step = escalate(self.trading_state, drawdown_now, daily_loss, self.limits, self.stale_reason(now_ns))
        if step.state != self.trading_state:
            self.set_state(step.state, step.reason)
        return self.trading_state

    # -- state changes --------------------------------------------------------------------------------

    def resume(self, reason: str) -> None:
        """Return to ACTIVE on an explicit operator decision; peak and day equity restart from now."""
        self.set_state(GateState.ACTIVE, f"resumed: {reason}")

    def set_state(self, state: GateState, reason: str) -> None:
        """Set the trading state on the RiskEngine (and so on every RiskGate), log and publish it."""
        state = GateState(state)
        if not reason.strip():
            raise ConfigError("RiskGuardActor.set_state needs a reason, got an empty one")
        previous = self.trading_state
        self.trading_state = state
        if state == GateState.ACTIVE:
            self._restart_baselines()
        if self._risk_engine is not None:
            if from_nautilus(self._risk_engine.trading_state) != state:
                self._risk_engine.set_trading_state(to_nautilus(state))
        else:
            self.msgbus.publish(RISK_STATE_TOPIC, state)
        self.log.warning(f"Trading state {previous} -> {state}: {reason}", color=LogColor.RED)
        now = self.clock.timestamp_ns()
        for instrument_id in self.instrument_ids:
            event = RiskDecisionEvent(
                instrument_id=instrument_id,
                action="state_change",
                reason=f"{previous} -> {state}: {reason}",
                requested_qty=0.0,
                approved_qty=0.0,
                trading_state=str(state),
                ts_event=now,
                ts_init=now,
            )
            self.events.append(event)
            self.publish_data(topic_data_type(RiskDecisionEvent, instrument_id), event)

    def _restart_baselines(self) -> None:
        equity = self.equity()
        self.peak_equity = equity if math.isfinite(equity) else math.nan
        self.day_start_equity = self.peak_equity
        self._bars_since_signal = dict.fromkeys(self._bars_since_signal, 0)
        now = self.clock.timestamp_ns()
        self._last_bar_ns = dict.fromkeys(self._last_bar_ns, now)

    def _on_command(self, command: object) -> None:
        if not isinstance(command, TradingStateCommand):
            kind = type(command).__name__
            self.log.error(f"Ignored {kind} on {RISK_COMMAND_TOPIC}: expected TradingStateCommand")
            return
        if command.state == GateState.ACTIVE:
            self.resume(command.reason)
        else:
            self.set_state(command.state, f"operator command: {command.reason}")

    def _on_trading_state_changed(self, event: object) -> None:
        if isinstance(event, TradingStateChanged):
            self.trading_state = from_nautilus(event.state)
