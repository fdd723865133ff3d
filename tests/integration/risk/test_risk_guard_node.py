"""The guard works unchanged as an ImportableActorConfig in a BacktestNode fed from the catalog."""

from __future__ import annotations

from nautilus_trader.backtest.config import (
    BacktestDataConfig,
    BacktestEngineConfig,
    BacktestRunConfig,
    BacktestVenueConfig,
)
from nautilus_trader.backtest.node import BacktestNode
from nautilus_trader.config import (
    ImportableActorConfig,
    ImportableStrategyConfig,
    LoggingConfig,
    RiskEngineConfig,
)
from nautilus_trader.model.enums import TradingState

from nautilus_ai.risk.guard import RiskGuardActor
from nautilus_ai.strategies.ml_strategy import MLStrategy
from nautilus_ai.test_kit import demo_catalog

IID = "AAPL.XNAS"
BAR_TYPE = f"{IID}-1-DAY-LAST-EXTERNAL"


def test_guard_halts_a_backtest_node_run_through_the_kernel_risk_engine(tmp_path):
    catalog = demo_catalog(tmp_path, ("AAPL",))
    config = BacktestRunConfig(
        venues=[
            BacktestVenueConfig(
                name="XNAS",
                oms_type="NETTING",
                account_type="MARGIN",
                base_currency="USD",
                starting_balances=["1000000 USD"],
            )
        ],
        data=[
            BacktestDataConfig(
                catalog_path=str(catalog),
                data_cls="nautilus_trader.model.data:Bar",
                instrument_id=IID,
                bar_spec="1-DAY-LAST",
            )
        ],
        engine=BacktestEngineConfig(
            logging=LoggingConfig(log_level="ERROR", bypass_logging=True),
            risk_engine=RiskEngineConfig(bypass=False),
            actors=[
                ImportableActorConfig(
                    actor_path="nautilus_ai.risk.guard:RiskGuardActor",
                    config_path="nautilus_ai.risk.guard:RiskGuardActorConfig",
                    config={
                        "bar_types": [BAR_TYPE],
                        "venues": ["XNAS"],
                        "reduce_drawdown": 0.05,
                        "halt_drawdown": 0.10,
                        "reduce_daily_loss": 0.5,
                        "halt_daily_loss": 0.9,
                    },
                ),
                ImportableActorConfig(
                    actor_path="scripted_actors:ScriptedSignals",
                    config_path="scripted_actors:ScriptedSignalsConfig",
                    config={"bar_type": BAR_TYPE},
                ),
            ],
            strategies=[
                ImportableStrategyConfig(
                    strategy_path="nautilus_ai.strategies.ml_strategy:MLStrategy",
                    config_path="nautilus_ai.strategies.ml_strategy:MLStrategyConfig",
                    config={"instrument_id": IID, "bar_type": BAR_TYPE, "target_volatility": 0.5},
                )
            ],
        ),
        dispose_on_completion=False,
        raise_exception=True,
    )
    node = BacktestNode(configs=[config])
    try:
        node.run()
        engine = node.get_engine(config.id)
        assert engine is not None
        guard = next(a for a in engine.trader.actors() if isinstance(a, RiskGuardActor))
        strategy = next(s for s in engine.trader.strategies() if isinstance(s, MLStrategy))

        risk_engine = engine.kernel.risk_engine
        assert risk_engine is not None
        assert risk_engine.trading_state == TradingState.HALTED
        assert guard.risk_engine is risk_engine
        assert [e.trading_state for e in guard.events] == ["REDUCING", "HALTED"]
        assert strategy.gate.state == "HALTED"
        assert not [o for o in engine.cache.orders() if o.ts_init >= guard.events[1].ts_init]
    finally:
        node.dispose()
