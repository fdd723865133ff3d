"""Engine harness for the execution-algorithm tests: a real ES MBO book, one parent, one algorithm.

``ParentSubmitter`` is the tiny strategy: it keeps a managed L3 book (for the limit price it derives
from the touch) and, at ``submit_at``, submits one parent routed to ``exec_algorithm_id``; at
``halt_at`` it sets the RiskEngine's trading state to HALTED (``halt_via="risk_engine"``) or
publishes ``GateState.HALTED`` on the project's ``RISK_STATE_TOPIC`` (``halt_via="topic"``); at
``resume_at`` it sets the trading state back to ACTIVE; at ``cancel_at`` it cancels the parent.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pandas as pd
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.config import BacktestEngineConfig, LoggingConfig, RiskEngineConfig, StrategyConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.enums import AccountType, BookType, OmsType, OrderSide, TradingState
from nautilus_trader.model.identifiers import ClientOrderId, ExecAlgorithmId, InstrumentId, Venue
from nautilus_trader.model.objects import Money
from nautilus_trader.model.orders import Order
from nautilus_trader.trading.strategy import Strategy

from nautilus_ai.execution.algorithms.base import ParentAlgorithm
from nautilus_ai.execution.book_data import BookSlice, load_es_mbo_slice
from nautilus_ai.risk.state import RISK_STATE_TOPIC, GateState

SESSION_DAY = "2023-12-25"
SLICE_START = pd.Timestamp(f"{SESSION_DAY} 23:00", tz="UTC")
SUBMIT_AT = pd.Timestamp(f"{SESSION_DAY} 23:01", tz="UTC")


@lru_cache(maxsize=4)
def es_slice(minutes: int = 8) -> BookSlice:
    """Return the ESH4 book up to ``23:00 + minutes`` on 2023-12-25 with the trades from 23:00 (cached)."""
    return load_es_mbo_slice(SLICE_START, SLICE_START + pd.Timedelta(minutes=minutes))


class ParentSubmitterConfig(StrategyConfig, frozen=True):
    """What parent to send, when, and whether to halt trading later."""

    instrument_id: InstrumentId
    exec_algorithm_id: str
    params: dict
    quantity: int
    side: str = "BUY"
    submit_at: str = SUBMIT_AT.isoformat()
    limit_ticks_from_mid: float | None = None
    halt_at: str | None = None
    halt_via: str = "risk_engine"
    cancel_at: str | None = None
    resume_at: str | None = None


class ParentSubmitter(Strategy):
    """Submit one parent order through an exec algorithm at a given time."""

    def __init__(self, config: ParentSubmitterConfig) -> None:
        super().__init__(config)
        self.cfg = config
        self.parent_id: ClientOrderId | None = None
        self.risk_engine: Any = None
        self.parent_events: list[str] = []

    def on_start(self) -> None:
        self.subscribe_order_book_deltas(self.cfg.instrument_id, book_type=BookType.L3_MBO, managed=True)
        self.clock.set_time_alert("submit", pd.Timestamp(self.cfg.submit_at).to_pydatetime(), self._submit)
        if self.cfg.halt_at is not None:
            self.clock.set_time_alert("halt", pd.Timestamp(self.cfg.halt_at).to_pydatetime(), self._halt)
        if self.cfg.resume_at is not None:
            self.clock.set_time_alert(
                "resume", pd.Timestamp(self.cfg.resume_at).to_pydatetime(), self._resume
            )
        if self.cfg.cancel_at is not None:
            self.clock.set_time_alert(
                "cancel", pd.Timestamp(self.cfg.cancel_at).to_pydatetime(), self._cancel
            )

    def _resume(self, _event) -> None:
        self.risk_engine.set_trading_state(TradingState.ACTIVE)

    def _cancel(self, _event) -> None:
        self.cancel_order(self.cache.order(self.parent_id))

    def _submit(self, _event) -> None:
        instrument = self.cache.instrument(self.cfg.instrument_id)
        side = OrderSide.BUY if self.cfg.side == "BUY" else OrderSide.SELL
        quantity = instrument.make_qty(self.cfg.quantity)
        algorithm = ExecAlgorithmId(self.cfg.exec_algorithm_id)
        order: Order
        if self.cfg.limit_ticks_from_mid is None:
            order = self.order_factory.market(
                self.cfg.instrument_id,
                side,
                quantity,
                exec_algorithm_id=algorithm,
                exec_algorithm_params=dict(self.cfg.params),
            )
        else:
            book = self.cache.order_book(self.cfg.instrument_id)
            mid = (book.best_bid_price().as_double() + book.best_ask_price().as_double()) / 2.0
            tick = instrument.price_increment.as_double()
            price = round((mid + self.cfg.limit_ticks_from_mid * tick) / tick) * tick
            order = self.order_factory.limit(
                self.cfg.instrument_id,
                side,
                quantity,
                instrument.make_price(price),
                exec_algorithm_id=algorithm,
                exec_algorithm_params=dict(self.cfg.params),
            )
        self.parent_id = order.client_order_id
        self.submit_order(order)

    def _halt(self, _event) -> None:
        if self.cfg.halt_via == "risk_engine":
            self.risk_engine.set_trading_state(TradingState.HALTED)
        else:
            self.msgbus.publish(RISK_STATE_TOPIC, GateState.HALTED)

    def on_order_event(self, event) -> None:
        if self.parent_id is not None and event.client_order_id == self.parent_id:
            self.parent_events.append(type(event).__name__)


@dataclass
class AlgoRun:
    """The result of one engine run."""

    engine: BacktestEngine
    strategy: ParentSubmitter
    algorithm: ParentAlgorithm
    data: BookSlice

    @property
    def parent(self) -> Order:
        return self.engine.cache.order(self.strategy.parent_id)

    @property
    def children(self) -> list[Order]:
        return [
            order
            for order in self.engine.cache.orders()
            if order.exec_spawn_id == self.strategy.parent_id
            and order.client_order_id != self.strategy.parent_id
        ]

    @property
    def execution(self):
        return self.algorithm.execution(self.strategy.parent_id)


def run_parent(
    algorithm: ParentAlgorithm,
    exec_algorithm_id: str,
    params: dict,
    quantity: int,
    *,
    minutes: int = 8,
    **submitter,
) -> AlgoRun:
    """Run one parent through ``algorithm`` on the ES MBO slice and return the engine and its parts."""
    data = es_slice(minutes)
    engine = BacktestEngine(
        BacktestEngineConfig(
            trader_id="BACKTESTER-001",
            logging=LoggingConfig(log_level="ERROR", bypass_logging=True),
            risk_engine=RiskEngineConfig(),
        )
    )
    engine.add_venue(
        venue=Venue("GLBX"),
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        base_currency=USD,
        starting_balances=[Money(50_000_000, USD)],
        book_type=BookType.L3_MBO,
    )
    engine.add_instrument(data.instrument)
    engine.add_data(data.data)
    strategy = ParentSubmitter(
        ParentSubmitterConfig(
            instrument_id=data.instrument.id,
            exec_algorithm_id=exec_algorithm_id,
            params=params,
            quantity=quantity,
            **submitter,
        )
    )
    engine.add_strategy(strategy)
    engine.add_exec_algorithm(algorithm)
    strategy.risk_engine = engine.kernel.risk_engine
    engine.run()
    return AlgoRun(engine, strategy, algorithm, data)
