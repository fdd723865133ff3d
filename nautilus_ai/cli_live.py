"""``nautilus-ai live paper``: run the backtest's actors and strategy on a paper TradingNode.

The integrator registers :func:`paper` on the CLI's ``live`` group::

    live_app = typer.Typer(help="Live and paper trading nodes.", no_args_is_help=True)
    live_app.command("paper")(paper)
    app.add_typer(live_app, name="live")
"""

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from nautilus_ai.cli_common import handles_errors, out


@handles_errors
def paper(
    config: Annotated[Path, typer.Option("--config", help="Experiment config (TOML)")],
    catalog: Annotated[
        Path | None,
        typer.Option("--catalog", help="Catalog to replay (overrides data.catalog of the config)"),
    ] = None,
    registry: Annotated[
        Path | None, typer.Option("--registry", help="Model registry folder (default: runs/registry)")
    ] = None,
    model_version: Annotated[
        str | None,
        typer.Option("--model-version", help="Model version to serve (default: champion, else latest)"),
    ] = None,
    regime_version: Annotated[
        str | None, typer.Option("--regime-version", help="Regime model version (with [regime] enabled)")
    ] = None,
    speed: Annotated[
        float, typer.Option("--speed", help="Replay speed: multiple of real time, 0 = as fast as possible")
    ] = 0.0,
    start: Annotated[
        str | None, typer.Option("--start", help="Replay start (ISO; default data.start)")
    ] = None,
    end: Annotated[str | None, typer.Option("--end", help="Replay end (ISO; default data.end)")] = None,
    trade_start: Annotated[
        str | None, typer.Option("--trade-start", help="First signal traded (ISO; default: --start)")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder for equity and events (default runs/paper/<time>)")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Stop after this many seconds (default: when replayed)")
    ] = None,
    redis_url: Annotated[
        str | None,
        typer.Option(
            "--redis-url",
            help="Persist the cache and stream the message bus to Redis (redis://host:port); "
            "a restart of the same --trader-id restores its orders, positions and account",
        ),
    ] = None,
    redis_flush: Annotated[
        bool, typer.Option("--redis-flush", help="With --redis-url: delete the trader's saved state first")
    ] = False,
    trader_id: Annotated[str, typer.Option("--trader-id", help="The node's trader id")] = "PAPER-001",
    control: Annotated[
        bool,
        typer.Option(
            "--control/--no-control",
            help="With --redis-url: run the ControlActor (operator commands) and mirror the node's state "
            "into Redis for `nautilus-ai api serve` and its dashboard",
        ),
    ] = True,
    experience_dir: Annotated[
        Path | None,
        typer.Option("--experience-dir", help="With [learning] enabled: experience buffer folder"),
    ] = None,
    reference_features: Annotated[
        Path | None,
        typer.Option(
            "--reference-features",
            help="With [learning] enabled: features.parquet of the training window, the drift reference",
        ),
    ] = None,
) -> None:
    """Run a paper TradingNode: catalog replay, the backtest's actors and strategy, sandbox fills."""
    from nautilus_trader.model.identifiers import Venue

    from nautilus_ai.backtest.node_config import venue_names
    from nautilus_ai.config import load_experiment
    from nautilus_ai.errors import ConfigError
    from nautilus_ai.learning.updater_actor import learning_rows
    from nautilus_ai.live.paper import build_paper_node, paper_node_config, resolve_model_versions
    from nautilus_ai.live.persistence import RedisSettings, connect
    from nautilus_ai.live.runner import run_paper_node

    cfg = load_experiment(config).with_catalog(str(catalog) if catalog else None)
    if cfg.data.catalog is None:
        raise ConfigError("no catalog: set [data] catalog in the config or pass --catalog")
    if not Path(cfg.data.catalog).is_dir():
        raise ConfigError(
            f"catalog {cfg.data.catalog} does not exist: run `nautilus-ai catalog ingest` first"
        )
    redis = None
    if redis_url is not None:
        redis = RedisSettings.from_url(redis_url, flush_on_start=redis_flush)
        connect(redis).close()  # fail with one clear line when Redis does not answer
    elif redis_flush:
        raise ConfigError("--redis-flush needs --redis-url")
    registry = registry or Path("runs/registry")
    model, regime = resolve_model_versions(cfg, registry, model_version, regime_version)
    extra_actors = []
    if redis is not None and control:
        from nautilus_trader.config import ImportableActorConfig

        from nautilus_ai.live.control_actor import control_actor_config

        extra_actors = [
            control_actor_config(
                redis_host=redis.host, redis_port=redis.port, registry_path=str(Path(registry).resolve())
            ),
            ImportableActorConfig(
                actor_path="nautilus_ai.live.redis_publisher:RedisPublisherActor",
                config_path="nautilus_ai.live.redis_publisher:RedisPublisherActorConfig",
                config={
                    "component_id": "RedisPublisherActor",
                    "instrument_ids": list(cfg.data.instruments),
                    "redis_url": redis.url,
                },
            ),
        ]
    out_dir = out_dir or Path("runs/paper") / f"{pd.Timestamp.now(tz='UTC'):%Y%m%d-%H%M%S}-{cfg.name}"
    out_dir.mkdir(parents=True, exist_ok=True)
    node = build_paper_node(
        paper_node_config(
            cfg,
            cfg.data.catalog,
            registry_path=registry,
            model_version=model,
            regime_version=regime,
            start=start,
            end=end,
            trade_start=trade_start,
            speed=speed,
            equity_path=out_dir / "equity.parquet",
            events_dir=out_dir / "events",
            trader_id=trader_id,
            redis=redis,
            extra_actors=extra_actors,
            experience_dir=experience_dir,
            reference_features=reference_features,
        )
    )
    try:
        result = run_paper_node(node, timeout_s=timeout, dispose=False)
        table = Table(title=f"paper node {cfg.name}: model {model}")
        table.add_column("item")
        table.add_column("value", justify="right")
        table.add_row("replayed", f"{result.items}/{result.total}")
        table.add_row("finished", str(result.finished))
        table.add_row("wall seconds", f"{result.wall_s:.1f}")
        table.add_row("orders", str(len(node.cache.orders())))
        table.add_row("positions open", str(len(node.cache.positions_open())))
        for venue in venue_names(cfg):
            account = node.cache.account_for_venue(Venue(venue))
            if account is not None:
                table.add_row(
                    f"balance {venue}", ", ".join(str(m) for m in account.balances_total().values())
                )
        for name, value in learning_rows(node.trader.actors()):
            table.add_row(name, value)
    finally:
        node.dispose()
    out.print(table)
    out.print(f"equity and events: {out_dir.resolve()}")
    if result.error is not None:
        raise ConfigError(f"the paper node failed: {result.error}")
