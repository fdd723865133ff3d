"""Shared components of the risk-layer backtests: a scripted signal source and an operator."""

from __future__ import annotations

import pandas as pd
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.catalog.types import ModelSignal, RiskDecisionEvent, topic_data_type
from nautilus_ai.risk.state import RISK_COMMAND_TOPIC, GateState, TradingStateCommand


class ScriptedSignalsConfig(ActorConfig, frozen=True):
    """A constant-direction ModelSignal on every bar until ``until`` (stands in for the SignalActor)."""

    bar_type: BarType
    direction: int = 1
    probability: float = 0.7
    until: str | None = None


class ScriptedSignals(Actor):
    """Publish one ModelSignal per bar, stamped with the bar's timestamps."""

    def __init__(self, config: ScriptedSignalsConfig) -> None:
        super().__init__(config)
        self.published = 0
        self._until = pd.Timestamp(config.until, tz="UTC").value if config.until else None

    def on_start(self) -> None:
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        if self._until is not None and bar.ts_init >= self._until:
            return  # the model went silent
        iid = bar.bar_type.instrument_id
        signal = ModelSignal(
            instrument_id=iid,
            direction=self.config.direction,
            probability=self.config.probability,
            confidence=abs(self.config.probability - 0.5) * 2,
            model_version="scripted",
            ts_event=bar.ts_event,
            ts_init=bar.ts_init,
        )
        self.publish_data(topic_data_type(ModelSignal, iid), signal)
        self.published += 1


class OperatorConfig(ActorConfig, frozen=True):
    """Publish a TradingStateCommand on the first bar at or after ``at``."""

    bar_type: BarType
    at: str
    state: str = "ACTIVE"
    reason: str = "risk officer reviewed the drawdown"


class Operator(Actor):
    """An operator who sends one explicit command on the bus (as the ControlActor/API would)."""

    def __init__(self, config: OperatorConfig) -> None:
        super().__init__(config)
        self._at = pd.Timestamp(config.at, tz="UTC").value
        self.sent_at: int | None = None

    def on_start(self) -> None:
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        if self.sent_at is None and bar.ts_init >= self._at:
            self.sent_at = bar.ts_init
            command = TradingStateCommand(GateState(self.config.state), self.config.reason)
            self.msgbus.publish(RISK_COMMAND_TOPIC, command)


class DecisionListenerConfig(ActorConfig, frozen=True):
    """Listen to the RiskDecisionEvents of one instrument (as the API sidecar's bridge would)."""

    instrument_id: InstrumentId


class DecisionListener(Actor):
    """Collect every RiskDecisionEvent published for one instrument."""

    def __init__(self, config: DecisionListenerConfig) -> None:
        super().__init__(config)
        self.events: list[RiskDecisionEvent] = []

    def on_start(self) -> None:
        iid = self.config.instrument_id
        self.subscribe_data(topic_data_type(RiskDecisionEvent, iid), instrument_id=iid)

    def on_data(self, data: Data) -> None:
        if isinstance(data, RiskDecisionEvent):
            self.events.append(data)
