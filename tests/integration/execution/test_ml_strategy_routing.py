"""MLStrategy routes its entries through the selector and the ExecAlgorithms on the real ES L3 book.

The node holds the MicrostructureAnalyzer (book, trades, 10-second bars), the TWAP, VWAP and iceberg
algorithms and the MLStrategy with ``execution="selector"`` and ``liquidity_source="analyzer"``. A
small actor publishes ModelSignals at fixed times (the model is not under test here); every entry the
strategy sends must carry the plan the router made for it, and algorithm parents must be worked into
child orders that fill on the real book.
"""

from __future__ import annotations

import pandas as pd
import pytest
from algo_harness import es_slice
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig, BacktestEngineConfig, LoggingConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import BarType
from nautilus_trader.model.enums import AccountType, BookType, OmsType, OrderType
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.model.objects import Money

from nautilus_ai.catalog.types import ModelSignal, topic_data_type
from nautilus_ai.execution.algorithms import IcebergAlgorithm, TWAPAlgorithm, VWAPAlgorithm
from nautilus_ai.execution.analyzer import MicrostructureAnalyzer, MicrostructureAnalyzerConfig
from nautilus_ai.strategies.ml_strategy import MLStrategy, MLStrategyConfig

DAY = "2023-12-25"


class SignalFeedConfig(ActorConfig, frozen=True):
    instrument_id: InstrumentId
    signals: tuple[tuple[str, int, float, int], ...]  # (time, direction, confidence, horizon bars)


class SignalFeed(Actor):
    """Publish the given ModelSignals at their times (stand-in for the SignalActor's output)."""

    def __init__(self, config: SignalFeedConfig) -> None:
        super().__init__(config)
        self.cfg = config

    def on_start(self) -> None:
        for i, (when, direction, confidence, horizon) in enumerate(self.cfg.signals):
            self.clock.set_time_alert(
                f"signal-{i}",
                pd.Timestamp(when).to_pydatetime(),
                lambda _e, d=direction, c=confidence, h=horizon: self._publish(d, c, h),
            )

    def _publish(self, direction: int, confidence: float, horizon: int) -> None:
        now = self.clock.timestamp_ns()
        probability = 0.5 + 0.5 * confidence * direction
        signal = ModelSignal(
            instrument_id=self.cfg.instrument_id,
            direction=direction,
            probability=probability,
            confidence=confidence,
            horizon_bars=horizon,
            model_version="feed",
            ts_event=now,
            ts_init=now,
        )
        self.publish_data(topic_data_type(ModelSignal, self.cfg.instrument_id), signal)


def run_routed(signals, execution: str = "selector", max_weight: float = 0.3):
    data = es_slice(8)
    iid = data.instrument.id
    engine = BacktestEngine(
        BacktestEngineConfig(
            trader_id="BACKTESTER-001", logging=LoggingConfig(log_level="ERROR", bypass_logging=True)
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
    engine.add_actor(
        MicrostructureAnalyzer(
            MicrostructureAnalyzerConfig(
                instrument_ids=(iid,),
                book_source="deltas",
                book_type="L3_MBO",
                trades=True,
                bar_spec="10-SECOND-LAST-INTERNAL",
                volume_window=5,
                volatility_window=5,
                intensity_window_secs=30.0,
            )
        )
    )
    engine.add_actor(SignalFeed(SignalFeedConfig(instrument_id=iid, signals=tuple(signals))))
    strategy = MLStrategy(
        MLStrategyConfig(
            instrument_id=iid,
            bar_type=BarType.from_str(f"{iid}-10-SECOND-LAST-INTERNAL"),
            target_volatility=0.5,
            volatility_window=5,
            periods_per_year=252 * 23 * 360,
            max_weight=max_weight,
            rebalance_band=0.0,
            execution=execution,
            liquidity_source="analyzer",
            liquidity_window=5,
        )
    )
    engine.add_strategy(strategy)
    algorithms = [TWAPAlgorithm(), VWAPAlgorithm(), IcebergAlgorithm()]
    for algorithm in algorithms:
        engine.add_exec_algorithm(algorithm)
    engine.run()
    return engine, strategy, algorithms


SIGNALS = (
    (f"{DAY} 23:02:00+00:00", 1, 0.9, 1),  # urgent and large: a TWAP
    (f"{DAY} 23:05:30+00:00", -1, 0.2, 30),  # patient reversal, once the first parent is done
)


@pytest.fixture(scope="module")
def routed():
    engine, strategy, algorithms = run_routed(SIGNALS)
    yield engine, strategy, algorithms
    engine.dispose()


def test_every_entry_carries_the_routers_plan(routed):
    engine, strategy, _ = routed
    assert len(strategy.plans) >= 2
    parents = [
        o
        for o in engine.cache.orders(strategy_id=strategy.id)
        if not o.is_reduce_only and (o.exec_spawn_id is None or o.exec_spawn_id == o.client_order_id)
    ]
    assert len(parents) == len(strategy.plans)
    for order, (_, plan) in zip(parents, strategy.plans, strict=True):
        expected = plan.exec_algorithm_id
        assert (str(order.exec_algorithm_id) if order.exec_algorithm_id else None) == expected
        assert order.order_type == (OrderType.MARKET if plan.order_type == "MARKET" else OrderType.LIMIT)


def test_the_urgent_large_entry_is_worked_by_an_algorithm_into_filled_children(routed):
    engine, strategy, algorithms = routed
    _, first = strategy.plans[0]
    assert first.choice.kind in ("twap", "vwap"), first.choice.reason
    parent = next(o for o in engine.cache.orders(strategy_id=strategy.id) if o.exec_algorithm_id is not None)
    children = [
        o
        for o in engine.cache.orders()
        if o.exec_spawn_id == parent.client_order_id and o.client_order_id != parent.client_order_id
    ]
    assert len(children) >= 2
    record = next(
        a.executions[str(parent.client_order_id)]
        for a in algorithms
        if a.executions.get(str(parent.client_order_id))
    )
    assert record.status == "filled"
    assert record.filled_qty == pytest.approx(parent.quantity.as_double())
    assert sum(o.filled_qty.as_double() for o in children) == pytest.approx(record.filled_qty)
    assert record.arrival_mid > 0 and record.avg_px > 0


def test_market_execution_bypasses_the_selector():
    engine, strategy, _ = run_routed(SIGNALS[:1], execution="market")
    try:
        orders = engine.cache.orders(strategy_id=strategy.id)
        assert strategy.plans == []
        assert orders and all(
            o.order_type == OrderType.MARKET and o.exec_algorithm_id is None for o in orders
        )
    finally:
        engine.dispose()
