"""On a live TradingNode the guard reaches the LiveRiskEngine the same way, and commands work on the bus."""

from __future__ import annotations

import asyncio

from nautilus_trader.config import (
    LiveExecEngineConfig,
    LiveRiskEngineConfig,
    LoggingConfig,
    TradingNodeConfig,
)
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.enums import TradingState

from nautilus_ai.risk.guard import RiskGuardActor, RiskGuardActorConfig
from nautilus_ai.risk.state import RISK_COMMAND_TOPIC, GateState, TradingStateCommand
from nautilus_ai.strategies.ml_strategy import MLStrategy, MLStrategyConfig
from nautilus_ai.test_kit import stocknet_bars, stocknet_equity


def test_commands_on_the_bus_set_the_live_risk_engine_and_the_gate():
    instrument = stocknet_equity("AAPL")
    bar_type, _ = stocknet_bars("AAPL")
    # A loop of our own: other tests may have closed or unset the main thread's default loop.
    own_loop = asyncio.new_event_loop()
    asyncio.set_event_loop(own_loop)
    node = TradingNode(
        loop=own_loop,
        config=TradingNodeConfig(
            trader_id="LIVE-RISK-001",
            logging=LoggingConfig(log_level="ERROR"),  # a live kernel refuses bypass_logging
            exec_engine=LiveExecEngineConfig(reconciliation=False),
            risk_engine=LiveRiskEngineConfig(bypass=False),
            timeout_connection=1.0,
            timeout_reconciliation=0.5,
            timeout_portfolio=0.5,
            timeout_disconnection=0.5,
            timeout_post_stop=0.2,
        ),
    )
    node.build()
    node.cache.add_instrument(instrument)
    guard = RiskGuardActor(RiskGuardActorConfig(bar_types=[bar_type], venues=["XNAS"]))
    strategy = MLStrategy(MLStrategyConfig(instrument_id=instrument.id, bar_type=bar_type))
    node.trader.add_actor(guard)
    node.trader.add_strategy(strategy)
    seen: dict[str, object] = {}

    async def scenario() -> None:
        task = asyncio.create_task(node.run_async())
        await asyncio.sleep(1.0)
        node.kernel.msgbus.publish(
            RISK_COMMAND_TOPIC, TradingStateCommand(GateState.HALTED, "operator kill switch")
        )
        await asyncio.sleep(0.2)
        seen["halted"] = (node.kernel.risk_engine.trading_state, strategy.gate.state)
        node.kernel.msgbus.publish(RISK_COMMAND_TOPIC, TradingStateCommand(GateState.ACTIVE, "all clear"))
        await asyncio.sleep(0.2)
        seen["resumed"] = (node.kernel.risk_engine.trading_state, strategy.gate.state)
        await node.stop_async()
        await asyncio.sleep(0.2)
        task.cancel()

    loop = node.get_event_loop()
    assert loop is not None
    try:
        loop.run_until_complete(scenario())
    except asyncio.CancelledError:
        pass
    finally:
        pending = asyncio.all_tasks(loop)  # the node's executor workers: finish them before the loop closes
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        node.dispose()
        loop.close()
        asyncio.set_event_loop(None)

    assert guard.risk_engine is node.kernel.risk_engine
    assert seen["halted"] == (TradingState.HALTED, GateState.HALTED)
    assert seen["resumed"] == (TradingState.ACTIVE, GateState.ACTIVE)
    assert [e.trading_state for e in guard.events] == ["HALTED", "ACTIVE"]
    assert "operator command: operator kill switch" in guard.events[0].reason
    assert "resumed: all clear" in guard.events[1].reason
