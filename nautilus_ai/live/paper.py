"""The paper TradingNode: the backtest's actors and strategies on a replay feed with sandbox fills.

:func:`paper_node_config` builds a NautilusTrader ``TradingNodeConfig`` from the same
:class:`~nautilus_ai.config.ExperimentConfig` a backtest is built from: its actors and strategies are
exactly those :func:`nautilus_ai.backtest.node_config.ml_run` puts in the backtest engine
(FeatureActors, RegimeActor, SignalActor, RiskGuardActor, recorders, MLStrategy or
PortfolioStrategy), its market data come from the :class:`~nautilus_ai.adapters.replay.ReplayDataClient`
and its fills from one :class:`PaperSandboxExecutionClient` per venue: NautilusTrader's
``SandboxExecutionClient`` (the backtest's ``SimulatedExchange``) with the ``[venue]`` fill model and
bar execution. :func:`build_paper_node` builds the node; :mod:`nautilus_ai.live.runner` runs it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import msgspec
from nautilus_trader.adapters.sandbox.config import SandboxExecutionClientConfig
from nautilus_trader.adapters.sandbox.execution import SandboxExecutionClient
from nautilus_trader.backtest.config import (
    BacktestVenueConfig,
    FillModelFactory,
    ImportableFillModelConfig,
)
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.config import (
    ImportableActorConfig,
    ImportableStrategyConfig,
    LiveExecEngineConfig,
    LiveRiskEngineConfig,
    LoggingConfig,
    TradingNodeConfig,
)
from nautilus_trader.core.data import Data
from nautilus_trader.live.factories import LiveExecClientFactory
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.data import Bar
from nautilus_trader.portfolio.base import PortfolioFacade

from nautilus_ai.adapters.replay.client import (
    REPLAY_CLIENT_ID,
    REPLAY_MARKET_TOPIC,
    ReplayDataClientConfig,
    ReplayDataClientFactory,
    find_replay_client,
    load_instruments,
)
from nautilus_ai.backtest import node_config
from nautilus_ai.backtest.learning_configs import adaptive_actor_configs
from nautilus_ai.config import ExperimentConfig
from nautilus_ai.errors import ConfigError
from nautilus_ai.live.persistence import (
    RedisSettings,
    cache_config,
    message_bus_config,
    prepare_node_config,
    restore_open_orders,
    restored_starting_balances,
)

logger = logging.getLogger(__name__)

_MARKET_EVENT_KINDS = {
    "nautilus_trader.model.data:TradeTick": "trades",
    "nautilus_trader.model.data:QuoteTick": "quotes",
    "nautilus_trader.model.data:OrderBookDelta": "book",
}


class PaperSandboxExecutionClientConfig(SandboxExecutionClientConfig, frozen=True, kw_only=True):
    """A ``SandboxExecutionClientConfig`` with the venue's fill model.

    Parameters
    ----------
    fill_model : ImportableFillModelConfig, optional
        The fill model of the simulated exchange (the sandbox's default ``FillModel()`` when None).

    """

    fill_model: ImportableFillModelConfig | None = None


class PaperSandboxExecutionClient(SandboxExecutionClient):
    """NautilusTrader's sandbox execution client, fed with bars before the strategies see them.

    The stock client listens to ``data.*.<VENUE>.*``, which matches quotes, trades and book data but
    not bar topics (``data.bars.<SYMBOL>.<VENUE>-<SPEC>``). This client also listens to its venue's
    bars, with a higher priority than the strategies, so a bar moves the simulated market before the
    strategies react to it and a market order fills at that bar's close, as in a backtest with bar
    execution. It also applies the config's fill model. On a node whose cache was restored from
    Redis it starts from the restored account's balances and puts the restored working orders back
    into its matching engines (see :mod:`nautilus_ai.live.persistence`).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        portfolio: PortfolioFacade,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
        config: PaperSandboxExecutionClientConfig,
    ) -> None:
        # a node that restored its account from Redis: start from its balances, not the config's
        # (the sandbox reports a fresh account state with its starting balances when built)
        restored = restored_starting_balances(cache, config.venue)
        if restored is not None:
            config = msgspec.structs.replace(config, starting_balances=restored)
        super().__init__(loop, portfolio, msgbus, cache, clock, config)
        if config.fill_model is not None:
            self.exchange.set_fill_model(FillModelFactory.create(config.fill_model))
        self._bar_topic = f"data.bars.*.{config.venue}-*"
        self._last_data_ns: int | None = None
        self._replay_fed = False
        self._venue_name = str(config.venue)

    def connect(self) -> None:
        """Connect the sandbox and subscribe it to its venue's bars ahead of the strategies."""
        super().connect()
        restore_open_orders(self.exchange, self._cache, self.account_id)  # orders restored from Redis
        self._msgbus.subscribe(self._bar_topic, handler=self._on_bar, priority=100)
        self._msgbus.subscribe(REPLAY_MARKET_TOPIC, handler=self._on_replay_bar)

    def disconnect(self) -> None:
        """Unsubscribe from the bars and disconnect."""
        self._msgbus.unsubscribe(self._bar_topic, handler=self._on_bar)
        self._msgbus.unsubscribe(REPLAY_MARKET_TOPIC, handler=self._on_replay_bar)
        super().disconnect()

    def _on_bar(self, bar: Bar) -> None:
        if self._replay_fed:  # already matched when the replay client handed it over first
            return
        self.on_data(bar)

    def _on_replay_bar(self, bar: Bar) -> None:
        """Match against a replayed bar of this venue before the data engine publishes it."""
        if bar.bar_type.instrument_id.venue.value != self._venue_name:
            return
        self._replay_fed = True
        self.on_data(bar)

    def on_data(self, data: Data) -> None:
        """Move the simulated market with ``data`` (and remember its time for the commands after it)."""
        self._last_data_ns = data.ts_init
        super().on_data(data)

    # A backtest processes the commands a strategy sends in reaction to an event at that event's
    # time, before the next event moves the market; the stock sandbox would only process them with
    # the next event, after that event's prices (a limit order would miss a bar). Process them now.
    def submit_order(self, command: Any) -> None:
        """Submit to the simulated exchange and process it at the current market time."""
        super().submit_order(command)
        self._process_commands()

    def submit_order_list(self, command: Any) -> None:
        """Submit an order list and process it at the current market time."""
        super().submit_order_list(command)
        self._process_commands()

    def modify_order(self, command: Any) -> None:
        """Modify and process at the current market time."""
        super().modify_order(command)
        self._process_commands()

    def cancel_order(self, command: Any) -> None:
        """Cancel and process at the current market time."""
        super().cancel_order(command)
        self._process_commands()

    def cancel_all_orders(self, command: Any) -> None:
        """Cancel all and process at the current market time."""
        super().cancel_all_orders(command)
        self._process_commands()

    def _process_commands(self) -> None:
        if self._last_data_ns is not None:
            self.exchange.process(self._last_data_ns)


class SandboxLiveExecClientFactory(LiveExecClientFactory):
    """Builds :class:`PaperSandboxExecutionClient` s (``node.add_exec_client_factory``).

    Named like NautilusTrader's sandbox factory on purpose: the TradingNode builder passes the
    portfolio (which the simulated exchange needs) only to a factory of that name.
    """

    @staticmethod
    def create(  # type: ignore[override]
        loop: asyncio.AbstractEventLoop,
        name: str,
        config: PaperSandboxExecutionClientConfig,
        portfolio: PortfolioFacade,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
    ) -> PaperSandboxExecutionClient:
        """Return a new paper sandbox execution client."""
        return PaperSandboxExecutionClient(loop, portfolio, msgbus, cache, clock, config)


PaperSandboxExecClientFactory = SandboxLiveExecClientFactory
"""The paper sandbox factory under a distinct name."""


def sandbox_configs(cfg: ExperimentConfig) -> dict[str, PaperSandboxExecutionClientConfig]:
    """Return one paper sandbox per venue with the backtest venue's balances, OMS, account and fills.

    The venues are :func:`nautilus_ai.backtest.node_config.venue_configs`; the sandbox charges the
    instruments' maker/taker fees (NautilusTrader's sandbox fee model cannot be replaced), so a
    ``[venue] fee_model`` other than ``"instrument"`` is logged as a difference from the backtest.
    """
    if cfg.venue.fee_model != "instrument":
        logger.warning(
            "[venue] fee_model=%r: the sandbox charges the instruments' maker/taker fees instead, "
            "so paper fills pay different commissions than the backtest",
            cfg.venue.fee_model,
        )
    return {v.name: _sandbox_config(v) for v in node_config.venue_configs(cfg)}


def _sandbox_config(venue: BacktestVenueConfig) -> PaperSandboxExecutionClientConfig:
    fill_model = venue.fill_model if isinstance(venue.fill_model, ImportableFillModelConfig) else None
    return PaperSandboxExecutionClientConfig(
        venue=venue.name,
        starting_balances=list(venue.starting_balances),
        base_currency=venue.base_currency,
        oms_type=venue.oms_type,
        account_type=venue.account_type,
        bar_execution=venue.bar_execution,
        fill_model=fill_model,
    )


def paper_node_config(
    cfg: ExperimentConfig,
    catalog: str | Path,
    *,
    registry_path: str | Path,
    model_version: str,
    regime_version: str | None = None,
    start: str | None = None,
    end: str | None = None,
    trade_start: str | None = None,
    speed: float = 0.0,
    ts_init: Literal["clock", "catalog"] = "clock",
    payoff_ratio: float = 1.0,
    cvar_scenarios_path: str | None = None,
    returns_path: str | None = None,
    equity_path: str | Path | None = None,
    events_dir: str | Path | None = None,
    features_path: str | Path | None = None,
    extra_actors: Sequence[ImportableActorConfig] = (),
    experience_dir: str | Path | None = None,
    reference_features: str | Path | None = None,
    trader_id: str = "PAPER-001",
    log_level: str = "WARNING",
    redis: RedisSettings | None = None,
) -> TradingNodeConfig:
    """Return the paper ``TradingNodeConfig`` of ``cfg``: the backtest's components on a replay feed.

    The actors and strategies are those of :func:`nautilus_ai.backtest.node_config.ml_run` with the
    same arguments (so the node serves ``model_version`` and ``regime_version`` from
    ``registry_path``), plus a FeatureRecorder when ``features_path`` is given, the adaptive-learning
    actors of ``[learning]`` when it is enabled
    (:func:`~nautilus_ai.backtest.learning_configs.adaptive_actor_configs`) and ``extra_actors``.

    Parameters
    ----------
    cfg : ExperimentConfig
        The experiment config (instruments, bars, features, model thresholds, risk, venue).
    catalog : str or Path
        The catalog the replay client streams.
    registry_path : str or Path
        The model registry.
    model_version : str
        The registered direction model the SignalActors serve.
    regime_version : str, optional
        The registered regime model (no RegimeActor when None).
    start, end : str, optional
        The replay window (ISO); default ``[data] start``/``end``, else the catalog's whole range.
    trade_start : str, optional
        Signals before this time only warm up (compared to the signal's ``ts_init``); default the
        window start.
    speed : float, default 0.0
        Replay speed: multiple of real time, 0 as fast as possible.
    ts_init : {"clock", "catalog"}, default "clock"
        How the replay stamps ``ts_init`` (see :class:`ReplayDataClientConfig`).
    payoff_ratio, cvar_scenarios_path, returns_path
        As for :func:`~nautilus_ai.backtest.node_config.ml_run`.
    equity_path : str or Path, optional
        Where the EquityRecorder writes (default ``paper-equity.parquet`` in the working directory).
    events_dir : str or Path, optional
        Where the EventRecorder writes signals, regimes and risk decisions (none when None).
    features_path : str or Path, optional
        Where a FeatureRecorder writes the FeatureVectors (none when None).
    extra_actors : Sequence[ImportableActorConfig]
        More actors to run.
    experience_dir, reference_features : str or Path, optional
        Override ``[learning] buffer_dir`` and ``reference_features``.
    trader_id : str, default "PAPER-001"
        The node's trader id.
    log_level : str, default "WARNING"
        NautilusTrader's log level.
    redis : RedisSettings, optional
        Back the cache with Redis and stream the message bus to it (see
        :mod:`nautilus_ai.live.persistence`); with ``flush_on_start=False`` the node restores the
        orders, positions and accounts of ``trader_id``'s previous run. In-memory only when None.

    Returns
    -------
    TradingNodeConfig
        Register :class:`ReplayDataClientFactory` and :class:`PaperSandboxExecClientFactory` (or use
        :func:`build_paper_node`).

    Raises
    ------
    ConfigError
        If the config needs alternative data (sentiment, on-chain), which the replay does not stream,
        or the replay speed is negative.

    """
    if cfg.features.sentiment_half_life_s is not None or cfg.features.onchain_metrics:
        raise ConfigError(
            "[features]: the paper node's replay client streams bars, trades, quotes and book deltas "
            "only; sentiment and on-chain features need their NewsItem/SentimentScore/OnChainMetric "
            "feeds: drop them from [features] for a paper run"
        )
    if speed < 0:
        raise ConfigError(f"--speed must be >= 0 (0 = as fast as possible), got {speed}")
    catalog = str(Path(catalog).resolve())
    start = start if start is not None else cfg.data.start
    end = end if end is not None else cfg.data.end
    run = node_config.ml_run(
        cfg,
        catalog,
        registry_path=str(registry_path),
        model_version=model_version,
        start=start or "",
        end=end or "",
        trade_start=trade_start or start or "1970-01-01T00:00:00+00:00",
        equity_path=str(equity_path or "paper-equity.parquet"),
        regime_version=regime_version,
        payoff_ratio=payoff_ratio,
        cvar_scenarios_path=cvar_scenarios_path,
        events_dir=None if events_dir is None else str(events_dir),
        returns_path=returns_path,
    )
    engine = run.engine
    if engine is None:  # pragma: no cover - ml_run always builds an engine config
        raise ConfigError("node_config.ml_run returned no engine config")
    actors = list(engine.actors)
    if features_path is not None:
        actors.append(node_config.feature_recorder_config(cfg, str(features_path)))
    actors.extend(
        adaptive_actor_configs(
            cfg,
            registry_path=registry_path,
            model_version=model_version,
            buffer_dir=experience_dir,
            reference_path=reference_features,
        )
    )
    actors.extend(extra_actors)
    market_events = sorted(
        {_MARKET_EVENT_KINDS[d.data_cls] for d in run.data if d.data_cls in _MARKET_EVENT_KINDS},
        key=list(_MARKET_EVENT_KINDS.values()).index,
    )
    replay = ReplayDataClientConfig(
        catalog_path=catalog,
        instrument_ids=list(cfg.data.instruments),
        bar_types=cfg.data.bar_types(),
        market_events=market_events,
        start=start,
        end=end,
        speed=speed,
        ts_init=ts_init,
    )
    return TradingNodeConfig(
        trader_id=trader_id,
        logging=LoggingConfig(log_level=log_level),
        exec_engine=LiveExecEngineConfig(reconciliation=False),  # nothing to reconcile offline
        risk_engine=LiveRiskEngineConfig(bypass=False),
        data_clients={REPLAY_CLIENT_ID: replay},
        exec_clients=dict(sandbox_configs(cfg)),
        actors=actors,
        strategies=_keep_positions(list(engine.strategies)) if redis is not None else list(engine.strategies),
        exec_algorithms=list(engine.exec_algorithms),
        timeout_connection=10.0,
        timeout_reconciliation=1.0,
        timeout_portfolio=2.0,
        timeout_disconnection=2.0,
        timeout_post_stop=0.5,
        cache=None if redis is None else cache_config(redis),
        message_bus=None if redis is None else message_bus_config(redis),
    )


def _keep_positions(strategies: list[ImportableStrategyConfig]) -> list[ImportableStrategyConfig]:
    """Return the MLStrategy configs set to keep their positions on stop (state persists in Redis)."""
    kept = []
    for strategy in strategies:
        if strategy.strategy_path.endswith(":MLStrategy"):
            config = {**strategy.config, "close_positions_on_stop": False}
            strategy = msgspec.structs.replace(strategy, config=config)
        kept.append(strategy)
    return kept


def build_paper_node(config: TradingNodeConfig) -> TradingNode:
    """Build a TradingNode of :func:`paper_node_config` with its replay and sandbox clients.

    The instruments are loaded from the replay's catalog into the cache before the sandboxes connect
    (a sandbox serves the instruments the cache holds for its venue), and the replay client waits,
    after each timestamp, for the node's data, risk and execution queues to drain.

    Raises
    ------
    ConfigError
        If the config has no replay data client.

    """
    replay = config.data_clients.get(REPLAY_CLIENT_ID)
    if not isinstance(replay, ReplayDataClientConfig):
        raise ConfigError(f"the node config has no {REPLAY_CLIENT_ID} ReplayDataClientConfig data client")
    config = prepare_node_config(config)  # a Redis cache with flush_on_start: clear the trader's keys now
    # a disposed node closes its loop: every paper node gets a fresh one
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    node = TradingNode(config=config, loop=loop)
    node.add_data_client_factory(REPLAY_CLIENT_ID, ReplayDataClientFactory)
    for name in config.exec_clients:
        node.add_exec_client_factory(name, PaperSandboxExecClientFactory)
    node.build()
    for instrument in load_instruments(replay.catalog_path, replay.instrument_ids):
        node.cache.add_instrument(instrument)
    client = find_replay_client(node.kernel.msgbus, replay.client_name)
    if client is None:  # pragma: no cover - the factory above always registers it
        raise ConfigError(f"the replay client {replay.client_name} was not built")
    client.attach_engines(node.kernel.data_engine, node.kernel.risk_engine, node.kernel.exec_engine)
    return node


def resolve_model_versions(
    cfg: ExperimentConfig,
    registry_path: str | Path,
    model_version: str | None = None,
    regime_version: str | None = None,
) -> tuple[str, str | None]:
    """Return the direction and regime model versions a paper node serves.

    A version given is checked against the registry. Otherwise the champion of ``[model] name``
    (of ``<name>-regime`` for the regime model, only with ``[regime] enabled``) is used, else its
    latest registered version.

    Raises
    ------
    ConfigError
        If the registry does not exist or holds no version of the model.
    ModelError
        If a given version is not registered.

    """
    from nautilus_ai.learning.registry import ModelRegistry

    if not Path(registry_path).is_dir():
        raise ConfigError(f"model registry {registry_path} does not exist: pass --registry or train first")
    registry = ModelRegistry(Path(registry_path))

    def _pick(name: str, version: str | None) -> str:
        if version is not None:
            return registry.get(version).version_id
        record = registry.champion(name)
        if record is None:
            versions = registry.list(name)
            if not versions:
                raise ConfigError(
                    f"no version of model {name!r} in the registry {registry_path}: run "
                    "`nautilus-ai backtest walkforward` or pass --model-version"
                )
            record = versions[-1]
        return record.version_id

    model = _pick(cfg.model.name, model_version)
    regime = None
    if cfg.regime.enabled or regime_version is not None:
        regime = _pick(f"{cfg.model.name}-regime", regime_version)
    return model, regime
