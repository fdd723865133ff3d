"""The system map as data: every component of the design and every flow between them.

:func:`build_system_graph` turns an :class:`~nautilus_ai.config.ExperimentConfig` into a
:class:`SystemGraph` -- nodes (components, grouped in layers, annotated with the values the
experiment configures) and edges (the data type each one carries, its timing, feedback loops and
control signals flagged). :func:`with_live` adds live values (current regime, last signal
confidence, trading state, model version) to the nodes that own them. Everything here is pure:
no Graphviz, no I/O; :mod:`nautilus_ai.diagram.render` draws the graph.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Literal

from nautilus_ai.config import ExperimentConfig
from nautilus_ai.errors import DataError

Timing = Literal["real-time", "batch", "async"]
"""When an edge's data moves: on every event, in offline jobs, or through a queue/bus/HTTP."""

TIMINGS: tuple[Timing, ...] = ("real-time", "batch", "async")
"""The timings an edge may have."""


@dataclasses.dataclass(frozen=True)
class Group:
    """A layer of the design, drawn as one cluster."""

    id: str
    """Identifier (cluster name)."""
    title: str
    """Title drawn above the cluster."""


@dataclasses.dataclass(frozen=True)
class Node:
    """One component of the design."""

    id: str
    """Identifier used by the edges."""
    name: str
    """Component name, as the design calls it."""
    group: str
    """The :class:`Group` the component belongs to."""
    role: str
    """What implements it (module, class, server), one line."""
    annotations: tuple[str, ...] = ()
    """Configured values, one line each (thresholds, limits, kinds)."""
    enabled: bool = True
    """False when the experiment switches the component off."""
    live: tuple[tuple[str, str], ...] = ()
    """Live values (caption, value) added by :func:`with_live`."""


@dataclasses.dataclass(frozen=True)
class Edge:
    """One flow between two components."""

    source: str
    """Id of the producing node."""
    target: str
    """Id of the consuming node."""
    data_type: str
    """What travels along the edge (ticks, OHLCV bars, FeatureVector, probabilities...)."""
    timing: Timing
    """When it travels."""
    label: str = ""
    """Extra configured detail (a threshold, a limit), empty when none."""
    feedback: bool = False
    """True for a loop back against the left-to-right data flow."""
    control: bool = False
    """True for a control signal (halt trading, retrain trigger, promotion)."""

    def __post_init__(self) -> None:
        if self.timing not in TIMINGS:
            raise ValueError(f"edge {self.source}->{self.target}: timing must be one of {TIMINGS}")


@dataclasses.dataclass(frozen=True)
class SystemGraph:
    """The whole map: a title, the layers, the components and the flows."""

    title: str
    """Caption of the map (experiment name and config hash)."""
    groups: tuple[Group, ...]
    """Layers, in drawing order."""
    nodes: tuple[Node, ...]
    """Components."""
    edges: tuple[Edge, ...]
    """Flows."""

    def __post_init__(self) -> None:
        group_ids = {g.id for g in self.groups}
        node_ids = [n.id for n in self.nodes]
        if len(set(node_ids)) != len(node_ids):
            raise ValueError(f"node ids are repeated: {node_ids}")
        for node in self.nodes:
            if node.group not in group_ids:
                raise ValueError(f"node {node.id} is in unknown group {node.group!r}")
        for edge in self.edges:
            for end in (edge.source, edge.target):
                if end not in node_ids:
                    raise ValueError(f"edge {edge.source}->{edge.target} names unknown node {end!r}")

    def node(self, node_id: str) -> Node:
        """Return the node called ``node_id`` (KeyError when there is none)."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def edges_between(self, source: str, target: str) -> list[Edge]:
        """Return the edges from ``source`` to ``target``."""
        return [e for e in self.edges if e.source == source and e.target == target]

    def component_names(self) -> list[str]:
        """Return every component name, in node order."""
        return [n.name for n in self.nodes]


LIVE_FIELDS: dict[str, tuple[str, str]] = {
    "regime": ("regime", "current regime"),
    "confidence": ("stage3", "last signal confidence"),
    "trading_state": ("guard", "trading state"),
    "model_version": ("registry", "model version"),
}
"""Live value key -> (id of the node that shows it, caption)."""

TRADING_STATES: tuple[str, ...] = ("ACTIVE", "REDUCING", "HALTED")
"""The trading states a live ``trading_state`` may take (the RiskGate's GateState)."""


def format_number(value: float) -> str:
    """Return ``value`` in the shortest exact-looking form (``0.53``, ``150``, ``1e-05``)."""
    return f"{value:g}"


def format_percent(fraction: float) -> str:
    """Return a fraction as a percentage (``0.1`` -> ``10%``)."""
    return f"{round(fraction * 100, 6):g}%"


def _sources(cfg: ExperimentConfig) -> Node:
    data, features = cfg.data, cfg.features
    alt = []
    if features.sentiment_half_life_s is not None:
        alt.append(f"news sentiment ({features.sentiment_scorer or 'stored scores'})")
    if features.onchain_metrics:
        alt.append("on-chain: " + ", ".join(features.onchain_metrics))
    shown = ", ".join(data.instruments[:4]) + (
        f" +{len(data.instruments) - 4}" if len(data.instruments) > 4 else ""
    )
    window = f"{data.start or 'data start'} .. {data.end or 'data end'}"
    return Node(
        "sources",
        "Data Sources",
        "data",
        "venue feeds, CSV/Databento files, news, Glassnode",
        (
            f"{len(data.instruments)} instruments: {shown}",
            f"bars {data.bar_spec}",
            f"window {window}",
            *(alt or ["alternative data: none configured"]),
        ),
    )


def _features(cfg: ExperimentConfig) -> Node:
    spec = cfg.features.to_spec()
    names = spec.feature_names()
    lines = [f"{len(names)} features, warm-up {spec.warmup_bars()} bars"]
    for start in range(0, len(names), 4):
        lines.append(", ".join(names[start : start + 4]))
    return Node(
        "features", "Feature Factory", "features", "FeatureActor + incremental indicators", tuple(lines)
    )


def _regime(cfg: ExperimentConfig) -> Node:
    regime = cfg.regime
    return Node(
        "regime",
        "Regime Detector",
        "signal",
        "RegimeActor (refit per fold)",
        (
            f"{regime.kind.upper()}, {regime.n_states} states",
            "reads " + ", ".join(regime.features),
            f"min dwell {regime.min_dwell} steps",
        )
        if regime.enabled
        else ("disabled in this experiment",),
        enabled=regime.enabled,
    )


def _stage1(cfg: ExperimentConfig) -> Node:
    model = cfg.model
    params = ", ".join(f"{k}={v}" for k, v in list(model.params.items())[:3])
    margin = (
        f"flat when |p1 - 0.5| < {format_number(model.filter_margin)}"
        if model.filter_margin > 0
        else "filter margin 0 (every event passes)"
    )
    lines = [f"{model.kind} '{model.name}'", margin]
    if params:
        lines.append(params)
    return Node("stage1", "Stage 1 Filter", "signal", "SignalActor, gradient-boosted trees", tuple(lines))


def _stage2(cfg: ExperimentConfig) -> Node:
    stage2 = cfg.model.stage2
    return Node(
        "stage2",
        "Stage 2 Sequence Model",
        "signal",
        "PyTorch sequence model",
        (
            f"{stage2.kind.upper()}, window {stage2.window}, hidden {stage2.hidden}, "
            f"{stage2.layers} layer(s)",
            f"max {stage2.max_epochs} epochs, patience {stage2.patience}, {stage2.device}",
        )
        if stage2.enabled
        else ("disabled in this experiment",),
        enabled=stage2.enabled,
    )


def _stage3(cfg: ExperimentConfig) -> Node:
    model = cfg.model
    stage3 = model.stage3
    thresholds = (
        f"long if p >= {format_number(model.long_threshold)}, "
        f"short if p <= {format_number(model.short_threshold)}"
    )
    lines = (
        (
            f"{stage3.calibration} calibration",
            f"meta-fit on last {format_percent(stage3.validation_fraction)}",
        )
        if stage3.enabled
        else ("disabled: stage-1/2 probability used",)
    )
    return Node(
        "stage3",
        "Stage 3 Meta-Model",
        "signal",
        "calibrated meta-model -> ModelSignal",
        (*lines, thresholds),
        enabled=True,
    )


def _strategy(cfg: ExperimentConfig) -> Node:
    strategy, portfolio = cfg.strategy, cfg.portfolio
    if strategy.kind == "portfolio":
        lines = [
            f"PortfolioStrategy, {portfolio.method.upper()} weights",
            f"gross {format_number(portfolio.gross_target)}, "
            f"max position {format_percent(portfolio.max_position_weight)}",
            f"min probability {format_number(portfolio.min_probability)}, "
            f"every {portfolio.rebalance_every_bars} bars",
        ]
    else:
        lines = [
            f"MLStrategy x {len(cfg.data.instruments)}, "
            f"target volatility {format_percent(strategy.target_volatility)}",
            f"max weight {format_number(strategy.max_weight)}, "
            + ("long/short" if strategy.allow_short else "long only"),
            f"min confidence {format_number(strategy.min_confidence)}, rebalance band "
            f"{format_percent(strategy.rebalance_band)}",
        ]
    return Node("strategy", "Strategy", "trading", "signal -> OrderIntent", tuple(lines))


def _risk(cfg: ExperimentConfig) -> Node:
    risk = cfg.risk
    lines = [
        f"sizing {risk.sizing}"
        + (f" (Kelly x {format_number(risk.kelly_fraction)})" if "kelly" in risk.sizing else "")
    ]
    if risk.max_position_notional is not None:
        lines.append(f"max position {risk.max_position_notional:,.0f} {cfg.venue.currency}")
    if risk.max_gross_leverage is not None:
        lines.append(f"max gross leverage {format_number(risk.max_gross_leverage)}")
    if risk.max_net_leverage is not None:
        lines.append(f"max net leverage {format_number(risk.max_net_leverage)}")
    if risk.cvar_budget is not None:
        lines.append(
            f"CVaR{round(risk.cvar_alpha * 100):d} {risk.cvar_horizon_bars}-bar <= "
            f"{format_percent(risk.cvar_budget)} of equity"
        )
    if risk.stops == "none":
        lines.append("no stops")
    else:
        stop = f"{risk.stops} stops: ATR({risk.atr_period}) x {format_number(risk.stop_atr_multiple)}"
        stop += f", target x {format_number(risk.target_atr_multiple)}"
        if risk.trail_atr_multiple is not None:
            stop += f", trail x {format_number(risk.trail_atr_multiple)}"
        lines.append(stop)
    return Node("risk", "Risk Gate", "trading", "pre-trade limits on every order", tuple(lines))


def _guard(cfg: ExperimentConfig) -> Node:
    risk = cfg.risk
    if not risk.guard:
        return Node(
            "guard", "Risk Guard", "trading", "RiskGuardActor (kill switch)", ("disabled",), enabled=False
        )
    lines = [
        f"reduce at {format_percent(risk.reduce_drawdown)} drawdown, "
        f"halt at {format_percent(risk.halt_drawdown)}",
        f"reduce at {format_percent(risk.reduce_daily_loss)} daily loss, "
        f"halt at {format_percent(risk.halt_daily_loss)}",
    ]
    if risk.stale_data_intervals is not None:
        lines.append(f"halt after {risk.stale_data_intervals} stale data intervals")
    if risk.stale_model_bars is not None:
        lines.append(f"halt when the model is {risk.stale_model_bars} bars stale")
    return Node("guard", "Risk Guard", "trading", "RiskGuardActor (kill switch)", tuple(lines))


def _execution(cfg: ExperimentConfig) -> Node:
    execution = cfg.execution
    if execution.mode == "market":
        lines = ["market orders only"]
    else:
        lines = [
            "order-type selector: market, limit, " + ", ".join(a.upper() for a in execution.algorithms),
            f"liquidity from {execution.liquidity_source}, {execution.max_retries} retries",
        ]
        if execution.liquidity_source == "bars":
            lines.append(f"assumed spread {format_number(execution.assumed_spread_bps)} bps")
    return Node("execution", "Execution", "execution", "ExecAlgorithms + order-type selector", tuple(lines))


def _venue(cfg: ExperimentConfig) -> Node:
    venue = cfg.venue
    fees = (
        "instrument maker/taker fees"
        if venue.fee_model == "instrument"
        else f"{venue.fee_model} commission {format_number(venue.commission or 0.0)} {venue.currency}"
    )
    return Node(
        "venue",
        "Venue",
        "execution",
        "simulated exchange / live venue",
        (
            f"{venue.account_type} {venue.oms_type}, {venue.starting_balance:,.0f} {venue.currency}",
            fees,
            f"slippage prob {format_number(venue.prob_slippage)}, "
            f"limit fill prob {format_number(venue.prob_fill_on_limit)}",
        ),
    )


def _learning(cfg: ExperimentConfig) -> Node:
    return Node(
        "learning",
        "Adaptive Learning",
        "learning",
        "online replay, Optuna tuning, adversarial training",
        (
            f"label: direction over {cfg.label.horizon_bars} bars",
            f"purge {cfg.label.horizon_bars} bars + embargo {cfg.walkforward.embargo_bars} bars",
            f"seed {cfg.seed}",
        ),
    )


def _backtest(cfg: ExperimentConfig) -> Node:
    wf = cfg.walkforward
    return Node(
        "backtest",
        "Backtesting",
        "learning",
        "walk-forward over BacktestNode",
        (
            f"{wf.scheme} train {wf.train}, test {wf.test}" + (f", step {wf.step}" if wf.step else ""),
            "baselines: " + (", ".join(wf.baselines) or "none"),
            f"{wf.workers} workers, PBO {wf.pbo_splits} splits",
        ),
    )


def build_system_graph(cfg: ExperimentConfig) -> SystemGraph:
    """Return the system map of ``cfg``: every component, every flow, annotated from the config.

    Parameters
    ----------
    cfg : ExperimentConfig
        The experiment whose thresholds, limits and kinds annotate the map.

    Returns
    -------
    SystemGraph
        Nodes in layer order; edges flagged as feedback or control where they loop back or command.

    """
    model, risk = cfg.model, cfg.risk
    groups = (
        Group("data", "Data layer"),
        Group("features", "Feature layer"),
        Group("signal", "Signal engine"),
        Group("trading", "Decision and risk"),
        Group("execution", "Execution"),
        Group("learning", "Research and learning"),
        Group("ops", "Operations"),
    )
    nodes = (
        _sources(cfg),
        Node(
            "catalog",
            "Parquet Catalog",
            "data",
            "ParquetDataCatalog",
            ("cleaned bars, ticks and custom Data",),
        ),
        _features(cfg),
        Node(
            "store",
            "Feature Store",
            "features",
            "Redis (online) / PostgreSQL-Timescale (offline)",
            ("point-in-time FeatureVectors",),
        ),
        _regime(cfg),
        _stage1(cfg),
        _stage2(cfg),
        _stage3(cfg),
        Node(
            "explain",
            "Explainability",
            "signal",
            "SHAP / LIME attributions",
            (f"top {model.top_k} attributions per signal",),
        ),
        _strategy(cfg),
        _risk(cfg),
        _guard(cfg),
        _execution(cfg),
        _venue(cfg),
        _learning(cfg),
        Node(
            "registry",
            "Model Registry",
            "learning",
            "versioned artifacts, explicit promotion",
            ("feature-spec hash, data window, seed, metrics",),
        ),
        _backtest(cfg),
        Node(
            "api",
            "API Gateway",
            "ops",
            "FastAPI sidecar (/signals /risk /learning /metrics)",
            ("API keys: read, trade, admin",),
        ),
        Node(
            "control",
            "Control Actor",
            "ops",
            "message bus / Redis commands",
            ("halt, resume, retrain, promote, manual orders",),
        ),
    )
    thresholds = (
        f"long >= {format_number(model.long_threshold)} / short <= {format_number(model.short_threshold)}"
    )
    halt = (
        f"halt trading at {format_percent(risk.halt_drawdown)} drawdown"
        if risk.guard
        else "halt trading (guard off)"
    )
    algorithms = (
        "child orders: " + ", ".join(a.upper() for a in cfg.execution.algorithms)
        if cfg.execution.mode == "selector"
        else "market orders"
    )
    edges = (
        Edge("sources", "catalog", "ticks, quotes, OHLCV, news", "batch", "ingest + clean"),
        Edge("sources", "features", "ticks, quotes, OHLCV bars", "real-time", "live data client"),
        Edge("catalog", "features", f"OHLCV bars ({cfg.data.bar_spec})", "real-time", "replay"),
        Edge("features", "store", "FeatureVector", "async"),
        Edge("features", "regime", "FeatureVector", "real-time", ", ".join(cfg.regime.features)),
        Edge("features", "stage1", "FeatureVector", "real-time"),
        Edge("stage1", "stage2", "p1 (filtered events)", "real-time"),
        Edge("regime", "stage2", "RegimeLabel probabilities", "real-time"),
        Edge("stage1", "stage3", "p1 probability", "real-time"),
        Edge("stage2", "stage3", "p2 probability", "real-time"),
        Edge("regime", "stage3", "RegimeLabel probabilities", "real-time"),
        Edge("stage3", "strategy", "ModelSignal (direction, confidence)", "real-time", thresholds),
        Edge("stage3", "explain", "ModelSignal + FeatureVector", "async"),
        Edge("strategy", "risk", "OrderIntent (side, size, stop, target)", "real-time"),
        Edge("risk", "execution", "approved orders", "real-time"),
        Edge("execution", "venue", "orders", "real-time", algorithms),
        Edge("venue", "guard", "account equity, positions", "real-time"),
        Edge("guard", "risk", "TradingState (REDUCING / HALTED)", "real-time", halt, control=True),
        Edge("venue", "learning", "fills, PnL, outcomes", "async", feedback=True),
        Edge("store", "learning", "FeatureVector history", "batch", feedback=True),
        Edge("catalog", "backtest", "historical bars", "batch", "walk-forward replay", feedback=True),
        Edge("backtest", "learning", "fold results, training matrices", "batch"),
        Edge("learning", "registry", "model versions", "batch"),
        Edge("registry", "stage1", "model artifact (version id)", "batch", feedback=True),
        Edge("registry", "regime", "regime model (per fold)", "batch", feedback=True),
        Edge("explain", "api", "attributions (SHAP)", "async"),
        Edge("stage3", "api", "ModelSignal stream", "async"),
        Edge("guard", "api", "trading state", "async"),
        Edge("api", "control", "operator commands", "async", control=True),
        Edge("control", "guard", "halt trading / resume", "async", "TradingStateCommand", control=True),
        Edge("control", "learning", "retrain trigger", "async", feedback=True, control=True),
        Edge("control", "registry", "promote version", "async", control=True),
    )
    title = f"nautilus-ai system map: {cfg.name} (config {cfg.config_hash()[:8]})"
    return SystemGraph(title, groups, nodes, edges)


def _live_value(key: str, value: object, source: str) -> str:
    if key == "confidence":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
            raise DataError(f"expected a number in [0, 1], got {value!r}", file=source, field=key)
        if math.isnan(float(value)):
            raise DataError("expected a number in [0, 1], got NaN", file=source, field=key)
        return f"{float(value):.3f}"
    if key == "trading_state":
        if not isinstance(value, str) or value.upper() not in TRADING_STATES:
            raise DataError(f"expected one of {list(TRADING_STATES)}, got {value!r}", file=source, field=key)
        return value.upper()
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise DataError(f"expected a string or number, got {value!r}", file=source, field=key)
    return str(value)


def with_live(graph: SystemGraph, live: Mapping[str, object], source: str = "<live values>") -> SystemGraph:
    """Return ``graph`` with live values shown on the nodes that own them.

    Parameters
    ----------
    graph : SystemGraph
        The map built by :func:`build_system_graph`.
    live : Mapping[str, object]
        Keys of :data:`LIVE_FIELDS`: ``regime`` (name), ``confidence`` (in [0, 1]), ``trading_state``
        (ACTIVE, REDUCING or HALTED) and ``model_version``; any subset.
    source : str
        Where the values came from, named in errors.

    Returns
    -------
    SystemGraph
        A new graph; ``graph`` is unchanged.

    Raises
    ------
    DataError
        On an unknown key or a value of the wrong kind.

    """
    unknown = sorted(set(live) - set(LIVE_FIELDS))
    if unknown:
        raise DataError(
            f"unknown live values {unknown}: expected keys among {sorted(LIVE_FIELDS)}", file=source
        )
    additions: dict[str, list[tuple[str, str]]] = {}
    for key, value in live.items():
        node_id, caption = LIVE_FIELDS[key]
        additions.setdefault(node_id, []).append((caption, _live_value(key, value, source)))
    nodes = tuple(
        dataclasses.replace(n, live=n.live + tuple(additions[n.id])) if n.id in additions else n
        for n in graph.nodes
    )
    return dataclasses.replace(graph, nodes=nodes)
