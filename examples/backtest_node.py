"""Run the nautilus-ai pipeline from a plain NautilusTrader BacktestNode script (no nautilus-ai CLI).

Everything is referenced by import path, exactly as a NautilusTrader user wires any plugin:
FeatureActor -> SignalActor -> MLStrategy on catalog bars, with a model version from the registry.

Prerequisites (what `make demo` leaves behind): a catalog with the bundled bars and a model registry,
e.g. ``runs/catalog`` and ``runs/registry``.

    python examples/backtest_node.py --catalog runs/catalog --registry runs/registry \
        --instrument AAPL.XNAS --start 2016-01-01 --end 2016-12-31
"""

import argparse
from pathlib import Path

from nautilus_trader.backtest.config import (
    BacktestDataConfig,
    BacktestEngineConfig,
    BacktestRunConfig,
    BacktestVenueConfig,
)
from nautilus_trader.backtest.node import BacktestNode
from nautilus_trader.config import ImportableActorConfig, ImportableStrategyConfig, LoggingConfig

from nautilus_ai.learning.registry import ModelRegistry


def build_run_config(catalog: str, registry: str, model_version: str, instrument: str, start: str, end: str):
    bar_type = f"{instrument}-1-DAY-LAST-EXTERNAL"
    venue = instrument.rsplit(".", 1)[1]
    return BacktestRunConfig(
        venues=[
            BacktestVenueConfig(
                name=venue,
                oms_type="NETTING",
                account_type="MARGIN",
                base_currency="USD",
                starting_balances=["1000000 USD"],
            )
        ],
        data=[
            BacktestDataConfig(
                catalog_path=catalog,
                data_cls="nautilus_trader.model.data:Bar",
                instrument_id=instrument,
                bar_spec="1-DAY-LAST",
            )
        ],
        engine=BacktestEngineConfig(
            trader_id="NODE-SCRIPT-001",
            logging=LoggingConfig(log_level="ERROR"),
            actors=[
                ImportableActorConfig(
                    actor_path="nautilus_ai.indicators.feature_actor:FeatureActor",
                    config_path="nautilus_ai.indicators.feature_actor:FeatureActorConfig",
                    config={"instrument_id": instrument, "bar_type": bar_type},
                ),
                ImportableActorConfig(
                    actor_path="nautilus_ai.learning.signal_actor:SignalActor",
                    config_path="nautilus_ai.learning.signal_actor:SignalActorConfig",
                    config={
                        "instrument_id": instrument,
                        "registry_path": registry,
                        "model_version": model_version,
                        "long_threshold": 0.53,
                        "short_threshold": 0.47,
                        "horizon_bars": 5,
                    },
                ),
            ],
            strategies=[
                ImportableStrategyConfig(
                    strategy_path="nautilus_ai.strategies.ml_strategy:MLStrategy",
                    config_path="nautilus_ai.strategies.ml_strategy:MLStrategyConfig",
                    config={"instrument_id": instrument, "bar_type": bar_type, "target_volatility": 0.10},
                )
            ],
        ),
        start=start,
        end=end,
        dispose_on_completion=False,
        raise_exception=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", default="runs/catalog")
    parser.add_argument("--registry", default="runs/registry")
    parser.add_argument("--model-version", default=None, help="default: the newest registered version")
    parser.add_argument("--instrument", default="AAPL.XNAS")
    parser.add_argument("--start", default="2016-01-01")
    parser.add_argument("--end", default="2016-12-31")
    args = parser.parse_args()

    version = args.model_version
    if version is None:
        records = ModelRegistry(Path(args.registry)).list()
        if not records:
            raise SystemExit(f"no model in {args.registry}: run `make demo` first or pass --model-version")
        version = max(records, key=lambda r: (r.train_end, r.created_at)).version_id
    config = build_run_config(
        str(Path(args.catalog).resolve()),
        str(Path(args.registry).resolve()),
        version,
        args.instrument,
        args.start,
        args.end,
    )
    node = BacktestNode(configs=[config])
    result = node.run()[0]
    engine = node.get_engine(config.id)
    fills = engine.trader.generate_order_fills_report()
    print(f"model {version}: {result.total_orders} orders, {len(fills)} fills")
    for key, value in result.stats_pnls.get("USD", {}).items():
        print(f"  {key}: {value}")
    print(f"  Sharpe (252 days): {result.stats_returns.get('Sharpe Ratio (252 days)')}")
    node.dispose()


if __name__ == "__main__":
    main()
