"""RiskGuardActor, RiskGate and bracket stops inside a real BacktestEngine on StockNet AAPL daily bars.

A scripted source publishes a long ModelSignal on every bar; MLStrategy sizes it to a full-equity long,
and AAPL's autumn-2012 fall (-20% in six weeks) drives the drawdown through the guard's limits.
"""

from __future__ import annotations

import pandas as pd
import pytest
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.model.enums import OrderStatus, OrderType, TradingState
from scripted_actors import (
    DecisionListener,
    DecisionListenerConfig,
    Operator,
    OperatorConfig,
    ScriptedSignals,
    ScriptedSignalsConfig,
)

from nautilus_ai.catalog.types import RiskDecisionEvent
from nautilus_ai.risk.guard import RiskGuardActor, RiskGuardActorConfig, attach_risk_engine
from nautilus_ai.risk.sizing import OrderIntent
from nautilus_ai.risk.state import GateState
from nautilus_ai.strategies.ml_strategy import MLStrategy, MLStrategyConfig
from nautilus_ai.test_kit import make_backtest_engine, stocknet_bars, stocknet_equity

DRAWDOWN_LIMITS = {
    "reduce_drawdown": 0.05,
    "halt_drawdown": 0.10,
    "reduce_daily_loss": 0.5,
    "halt_daily_loss": 0.9,
}
LOOSE_LIMITS = {
    "reduce_drawdown": 0.9,
    "halt_drawdown": 0.95,
    "reduce_daily_loss": 0.9,
    "halt_daily_loss": 0.95,
}


@pytest.fixture(scope="module")
def aapl():
    bar_type, bars = stocknet_bars("AAPL")
    return stocknet_equity("AAPL"), bar_type, bars


def _run(aapl, guard_kwargs, strategy_kwargs=None, signal_kwargs=None, operator=None, bars=None):
    instrument, bar_type, all_bars = aapl
    engine = make_backtest_engine([instrument])
    engine.add_data(all_bars if bars is None else bars)
    guard = RiskGuardActor(RiskGuardActorConfig(bar_types=[bar_type], venues=["XNAS"], **guard_kwargs))
    engine.add_actor(guard)
    engine.add_actor(ScriptedSignals(ScriptedSignalsConfig(bar_type=bar_type, **(signal_kwargs or {}))))
    listener = DecisionListener(DecisionListenerConfig(instrument_id=instrument.id))
    engine.add_actor(listener)
    if operator is not None:
        engine.add_actor(Operator(OperatorConfig(bar_type=bar_type, **operator)))
    strategy = MLStrategy(
        MLStrategyConfig(
            instrument_id=instrument.id,
            bar_type=bar_type,
            target_volatility=0.5,
            **(strategy_kwargs or {}),
        )
    )
    engine.add_strategy(strategy)
    engine.run()
    return engine, guard, strategy, listener


def _orders(engine: BacktestEngine):
    return engine.cache.orders()


@pytest.fixture(scope="module")
def halted_run(aapl):
    engine, guard, strategy, listener = _run(aapl, DRAWDOWN_LIMITS, {"rebalance_band": 0.0})
    yield engine, guard, strategy, listener
    engine.dispose()


def test_drawdown_moves_the_state_to_reducing_then_halted(halted_run):
    engine, guard, _, _ = halted_run

    states = [event.trading_state for event in guard.events]
    assert states == ["REDUCING", "HALTED"]
    assert "drawdown" in guard.events[0].reason and "reduce limit 5.00%" in guard.events[0].reason
    assert "halt limit 10.00%" in guard.events[1].reason
    assert engine.kernel.risk_engine.trading_state == TradingState.HALTED
    assert guard.risk_engine is engine.kernel.risk_engine  # found on the bus, nothing injected


def test_no_order_is_submitted_after_the_halt(halted_run):
    engine, guard, strategy, _ = halted_run
    halted_at = guard.events[1].ts_init

    orders = _orders(engine)
    after = [o for o in orders if o.ts_init >= halted_at]
    decisions_after = strategy.decisions[-100:]

    assert orders and after == []
    assert all(d.action == "halted" and d.intent is None for d in decisions_after)
    assert not engine.portfolio.is_flat(strategy.config.instrument_id)  # no closing order either


def test_only_reducing_orders_pass_while_reducing(halted_run):
    engine, guard, strategy, _ = halted_run
    reducing_at, halted_at = guard.events[0].ts_init, guard.events[1].ts_init

    during = [o for o in _orders(engine) if reducing_at <= o.ts_init < halted_at]
    reducing_decisions = [d for d in strategy.decisions if d.trading_state == GateState.REDUCING]

    assert during, "the strategy traded while REDUCING"
    assert all(o.side_string() == "SELL" for o in during)
    assert any(d.action == "rejected" and d.side == "BUY" for d in reducing_decisions)
    assert all(d.side == "SELL" for d in reducing_decisions if d.intent is not None)


def test_every_decision_and_state_change_is_published_on_the_bus(halted_run):
    _, _guard, strategy, listener = halted_run

    actions = [event.action for event in listener.events]

    assert all(isinstance(event, RiskDecisionEvent) for event in listener.events)
    assert actions.count("state_change") == 2
    assert len(actions) - 2 == len(strategy.decisions)
    assert [e.action for e in strategy.decision_events] == [d.action for d in strategy.decisions]
    assert {"sized", "rejected", "halted"} <= set(actions)
    halted = [e for e in listener.events if e.action == "halted"]
    assert all(e.approved_qty == 0.0 and e.requested_qty > 0 and e.trading_state == "HALTED" for e in halted)


def test_trading_resumes_only_on_an_explicit_command(aapl):
    resume_at = "2013-06-03"
    engine, guard, strategy, _listener = _run(
        aapl, DRAWDOWN_LIMITS, {"rebalance_band": 0.0}, operator={"at": resume_at}
    )
    try:
        halted_at = guard.events[1].ts_init
        resumed = guard.events[2]
        resume_ns = pd.Timestamp(resume_at, tz="UTC").value
        orders = _orders(engine)

        assert [e.trading_state for e in guard.events[:3]] == ["REDUCING", "HALTED", "ACTIVE"]
        assert "resumed: risk officer reviewed the drawdown" in resumed.reason
        assert resumed.ts_init >= resume_ns
        assert not [o for o in orders if halted_at <= o.ts_init < resumed.ts_init]
        assert [o for o in orders if o.ts_init >= resumed.ts_init], "trading restarted after the command"
        assert any(d.action == "sized" and d.trading_state == GateState.ACTIVE for d in strategy.decisions)
    finally:
        engine.dispose()


def test_a_stale_model_halts_trading(aapl):
    engine, guard, _, _ = _run(
        aapl, {**LOOSE_LIMITS, "stale_model_bars": 3}, signal_kwargs={"until": "2014-01-02"}
    )
    try:
        assert [e.trading_state for e in guard.events] == ["HALTED"]
        assert "stale model: no ModelSignal for AAPL.XNAS in 3 bars" in guard.events[0].reason
        assert guard.events[0].ts_init > pd.Timestamp("2014-01-02", tz="UTC").value
        assert engine.kernel.risk_engine.trading_state == TradingState.HALTED
    finally:
        engine.dispose()


def test_stale_market_data_halts_trading_on_the_timer(aapl):
    _, _, bars = aapl
    gap_start = pd.Timestamp("2014-03-01", tz="UTC").value
    gap_end = pd.Timestamp("2014-04-01", tz="UTC").value
    with_gap = [b for b in bars if not gap_start <= b.ts_init < gap_end]
    engine, guard, _strategy, _ = _run(
        aapl,
        {**LOOSE_LIMITS, "stale_data_intervals": 5, "check_interval_secs": 86_400.0},
        bars=with_gap,
    )
    try:
        assert [e.trading_state for e in guard.events] == ["HALTED"]
        assert "stale market data" in guard.events[0].reason
        assert gap_start < guard.events[0].ts_init < gap_end
        assert not [o for o in _orders(engine) if o.ts_init >= guard.events[0].ts_init]
    finally:
        engine.dispose()


def test_attach_risk_engine_injects_the_kernel_engine(aapl):
    instrument, bar_type, _ = aapl
    engine = make_backtest_engine([instrument])
    try:
        guard = RiskGuardActor(RiskGuardActorConfig(bar_types=[bar_type], venues=["XNAS"]))
        engine.add_actor(guard)

        wired = attach_risk_engine(engine)

        assert wired == 1 and guard.risk_engine is engine.kernel.risk_engine
    finally:
        engine.dispose()


# -- stops and targets ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bracket_run(aapl):
    engine, _guard, strategy, _listener = _run(aapl, LOOSE_LIMITS, {"stops": "atr"})
    yield engine, strategy
    engine.dispose()


def test_atr_brackets_attach_a_stop_and_a_target_to_every_entry(aapl, bracket_run):
    engine, _strategy = bracket_run
    closes = {bar.ts_init: bar.close.as_double() for bar in aapl[2]}

    orders = _orders(engine)
    entries = [o for o in orders if o.contingency_type.name == "OTO"]
    stops = [o for o in orders if o.order_type == OrderType.STOP_MARKET]
    targets = [o for o in orders if o.order_type == OrderType.LIMIT]

    assert len(entries) >= 5
    assert len(stops) == len(targets) == len(entries)
    for stop in stops:
        assert stop.is_reduce_only and stop.contingency_type.name == "OUO"
        assert stop.parent_order_id in {e.client_order_id for e in entries}
    first_entry, first_stop, first_target = entries[0], stops[0], targets[0]
    signal_close = closes[first_entry.ts_init]  # the bracket is priced off the signal bar's close
    distance_stop = signal_close - first_stop.trigger_price.as_double()
    distance_target = first_target.price.as_double() - signal_close
    assert distance_stop > 0 and distance_target > 0
    assert distance_target / distance_stop == pytest.approx(3.0 / 2.0, rel=0.02)  # 3 ATR vs 2 ATR
    assert first_stop.trigger_price < first_entry.avg_px < first_target.price


def test_an_oco_fill_cancels_the_sibling(bracket_run):
    engine, _ = bracket_run

    orders = _orders(engine)
    by_parent: dict = {}
    for order in orders:
        if order.parent_order_id is not None:
            by_parent.setdefault(order.parent_order_id, []).append(order)
    closed_pairs = [legs for legs in by_parent.values() if any(o.status == OrderStatus.FILLED for o in legs)]

    assert len(closed_pairs) >= 3
    for legs in closed_pairs:
        statuses = sorted(o.status for o in legs)
        assert statuses == sorted([OrderStatus.FILLED, OrderStatus.CANCELED])


def test_trailing_variant_uses_trailing_stop_orders(aapl):
    engine, _, _, _ = _run(aapl, LOOSE_LIMITS, {"stops": "atr_trailing", "trail_atr_multiple": 1.5})
    try:
        orders = _orders(engine)
        trailing = [o for o in orders if o.order_type == OrderType.TRAILING_STOP_MARKET]
        filled = [o for o in trailing if o.status == OrderStatus.FILLED]

        assert trailing and filled
        for stop in filled:
            sibling = [o for o in orders if o.parent_order_id == stop.parent_order_id and o is not stop]
            assert [o.status for o in sibling] == [OrderStatus.CANCELED]
    finally:
        engine.dispose()


def test_without_stops_no_bracket_is_sent(halted_run):
    engine, _, _, _ = halted_run

    assert {o.order_type for o in _orders(engine)} == {OrderType.MARKET}


# -- several submits in one callback ---------------------------------------------------------------------


class DoubleSubmitStrategy(MLStrategy):
    """Sends the same large intent twice in one callback, before any fill can arrive."""

    def on_data(self, data) -> None:
        if self.decisions or not self._rvol.initialized:
            return
        self.cap_seen = self.config.max_weight * self.book_snapshot().equity / self._last_close
        for _ in range(2):
            self.submit_intent(OrderIntent(side="BUY", quantity=3_000, target_quantity=3_000, reason="twice"))


def test_two_submits_in_one_callback_see_each_other(aapl):
    instrument, bar_type, bars = aapl
    engine = make_backtest_engine([instrument])
    try:
        engine.add_data(bars[:40])
        engine.add_actor(ScriptedSignals(ScriptedSignalsConfig(bar_type=bar_type)))
        strategy = DoubleSubmitStrategy(
            MLStrategyConfig(instrument_id=instrument.id, bar_type=bar_type, max_weight=0.5)
        )
        engine.add_strategy(strategy)
        engine.run()

        first, second = strategy.decisions
        cap = int(strategy.cap_seen)
        buys = [o for o in engine.cache.orders() if o.side_string() == "BUY"]
        assert first.action == "sized" and first.approved_qty == 3_000
        assert second.action == "shrunk" and "position" in second.reason
        assert first.approved_qty + second.approved_qty == cap  # the second saw the first, still unfilled
        assert [float(o.quantity) for o in buys] == [3_000, cap - 3_000]
    finally:
        engine.dispose()
