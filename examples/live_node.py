"""Run the nautilus-ai pipeline on a plain NautilusTrader TradingNode in paper mode (no nautilus-ai CLI).

Everything is referenced by import path, exactly as a NautilusTrader user wires any plugin:
FeatureActor -> (RegimeActor) -> SignalActor -> MLStrategy, fed by the catalog replay data client
(``nautilus_ai.adapters.replay``) and filled by NautilusTrader's sandbox execution client. Nothing
leaves the machine: the node replays the catalog at ``--speed`` times real time (0: as fast as the
node consumes) and stops when the replay ends.

Prerequisites (what `make demo` leaves behind): a catalog with the bundled bars and a model registry,
e.g. ``runs/catalog`` and ``runs/registry``.

    python examples/live_node.py --catalog runs/catalog --registry runs/registry \
        --instrument AAPL.XNAS --start 2016-01-01 --end 2016-12-31 --speed 0
"""

import argparse
import asyncio
import contextlib
from pathlib import Path

from nautilus_trader.config import (
    ImportableActorConfig,
    ImportableStrategyConfig,
    LiveExecEngineConfig,
    LoggingConfig,
    TradingNodeConfig,
)
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.identifiers import Venue

from nautilus_ai.adapters.replay import ReplayDataClientConfig, ReplayDataClientFactory, find_replay_client
from nautilus_ai.adapters.replay.client import load_instruments
from nautilus_ai.learning.registry import ModelRegistry
from nautilus_ai.live.paper import PaperSandboxExecClientFactory, PaperSandboxExecutionClientConfig


def build_node_config(
    catalog: str,
    registry: str,
    model_version: str,
    instrument: str,
    start: str,
    end: str,
    speed: float,
    regime_version: str | None = None,
) -> TradingNodeConfig:
    bar_type = f"{instrument}-1-DAY-LAST-EXTERNAL"
    venue = instrument.rsplit(".", 1)[1]
    regime_actors = [
        ImportableActorConfig(
            actor_path="nautilus_ai.learning.regime_actor:RegimeActor",
            config_path="nautilus_ai.learning.regime_actor:RegimeActorConfig",
            config={"instrument_id": instrument, "registry_path": registry, "model_version": regime_version},
        )
    ]
    return TradingNodeConfig(
        trader_id="LIVE-SCRIPT-001",
        logging=LoggingConfig(log_level="ERROR"),
        exec_engine=LiveExecEngineConfig(reconciliation=False),  # a fresh sandbox: nothing to reconcile
        data_clients={
            "REPLAY": ReplayDataClientConfig(
                catalog_path=catalog,
                instrument_ids=[instrument],
                bar_types=[bar_type],
                start=start,
                end=end,
                speed=speed,
            )
        },
        exec_clients={
            venue: PaperSandboxExecutionClientConfig(
                venue=venue, starting_balances=["1000000 USD"], base_currency="USD", account_type="MARGIN"
            )
        },
        actors=[
            ImportableActorConfig(
                actor_path="nautilus_ai.indicators.feature_actor:FeatureActor",
                config_path="nautilus_ai.indicators.feature_actor:FeatureActorConfig",
                config={"instrument_id": instrument, "bar_type": bar_type},
            ),
            *(regime_actors if regime_version else []),
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
        timeout_connection=10.0,
        timeout_reconciliation=1.0,
        timeout_portfolio=2.0,
        timeout_disconnection=2.0,
        timeout_post_stop=0.5,
    )


async def run_until_replayed(node: TradingNode, timeout_s: float) -> None:
    client = find_replay_client(node.kernel.msgbus)
    assert client is not None
    run = asyncio.ensure_future(node.run_async())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(client.finished.wait(), timeout_s)
    await node.stop_async()
    leftovers = {run, *(t for t in asyncio.all_tasks() if t is not asyncio.current_task())}
    for task in leftovers:  # the run task and idle workers: end them before dispose closes the loop
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", default="runs/catalog")
    parser.add_argument("--registry", default="runs/registry")
    parser.add_argument("--model-version", default=None, help="default: the newest registered version")
    parser.add_argument(
        "--regime-version", default=None, help="regime model (for models trained with regimes)"
    )
    parser.add_argument("--instrument", default="AAPL.XNAS")
    parser.add_argument("--start", default="2016-01-01")
    parser.add_argument("--end", default="2016-12-31")
    parser.add_argument(
        "--speed", type=float, default=0.0, help="multiple of real time; 0 = as fast as possible"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="stop after this many seconds")
    args = parser.parse_args()

    version = args.model_version
    if version is None:
        records = ModelRegistry(Path(args.registry)).list()
        if not records:
            raise SystemExit(f"no model in {args.registry}: run `make demo` first or pass --model-version")
        version = max(records, key=lambda r: (r.train_end, r.created_at)).version_id
    catalog = str(Path(args.catalog).resolve())
    config = build_node_config(
        catalog,
        str(Path(args.registry).resolve()),
        version,
        args.instrument,
        args.start,
        args.end,
        args.speed,
        args.regime_version,
    )

    loop = asyncio.new_event_loop()
    node = TradingNode(config=config, loop=loop)
    node.add_data_client_factory("REPLAY", ReplayDataClientFactory)
    node.add_exec_client_factory(args.instrument.rsplit(".", 1)[1], PaperSandboxExecClientFactory)
    node.build()
    for instrument in load_instruments(catalog, [args.instrument]):
        node.cache.add_instrument(instrument)  # the sandbox serves the instruments the cache holds
    # each bar's orders are filled on that bar: the replay waits for the engines' queues to drain
    replay = find_replay_client(node.kernel.msgbus)
    assert replay is not None
    replay.attach_engines(node.kernel.data_engine, node.kernel.risk_engine, node.kernel.exec_engine)

    loop.run_until_complete(run_until_replayed(node, args.timeout))
    orders = node.cache.orders()
    filled = [o for o in orders if o.is_closed and o.filled_qty.as_double() > 0]
    account = node.cache.account_for_venue(Venue(args.instrument.rsplit(".", 1)[1]))
    print(f"model {version}: replayed {replay.items_published}/{replay.total_items} bars")
    print(
        f"{len(orders)} orders, {len(filled)} fills, balance {account.balance_total() if account else None}"
    )
    node.dispose()


if __name__ == "__main__":
    main()
