"""Builders that turn an ExperimentConfig into NautilusTrader BacktestRunConfigs.

Actors and strategies are referenced by import path (``ImportableActorConfig``,
``ImportableStrategyConfig``), so the same configs run in a plain NautilusTrader node script
(``examples/backtest_node.py``) and in a live TradingNode.
"""

from collections.abc import Sequence
from pathlib import Path

from nautilus_trader.backtest.config import (
    BacktestDataConfig,
    BacktestEngineConfig,
    BacktestRunConfig,
    BacktestVenueConfig,
    ImportableFeeModelConfig,
    ImportableFillModelConfig,
)
from nautilus_trader.config import (
    ImportableActorConfig,
    ImportableExecAlgorithmConfig,
    ImportableStrategyConfig,
    LoggingConfig,
    RiskEngineConfig,
)
from nautilus_trader.model.data import BarType
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.catalog.sentiment_store import score_coverage, score_filter_expr, stored_scorers
from nautilus_ai.config import ExperimentConfig
from nautilus_ai.errors import ConfigError, DataError

_FEATURE_ACTOR = "nautilus_ai.indicators.feature_actor"
_FEATURE_RECORDER = "nautilus_ai.indicators.feature_recorder"
_SENTIMENT_ACTOR = "nautilus_ai.learning.sentiment_actor"
_NEWS_ITEM = "nautilus_ai.catalog.types:NewsItem"
_SENTIMENT_SCORE = "nautilus_ai.catalog.types:SentimentScore"
_ONCHAIN_METRIC = "nautilus_ai.catalog.types:OnChainMetric"
NEWS_CLIENT_ID = "NEWS"
ONCHAIN_CLIENT_ID = "ONCHAIN"
_SIGNAL_ACTOR = "nautilus_ai.learning.signal_actor"
_REGIME_ACTOR = "nautilus_ai.learning.regime_actor"
_RISK_GUARD = "nautilus_ai.risk.guard"
_EVENT_RECORDER = "nautilus_ai.backtest.event_recorder"
_EQUITY_RECORDER = "nautilus_ai.backtest.equity_recorder"
_ML_STRATEGY = "nautilus_ai.strategies.ml_strategy"
_PORTFOLIO_STRATEGY = "nautilus_ai.strategies.portfolio_strategy"
_BASELINES = "nautilus_ai.strategies.baselines"
_ALGORITHMS = {
    "twap": "nautilus_ai.execution.algorithms.twap:TWAP",
    "vwap": "nautilus_ai.execution.algorithms.vwap:VWAP",
    "iceberg": "nautilus_ai.execution.algorithms.iceberg:Iceberg",
    "pov": "nautilus_ai.execution.algorithms.pov:POV",
}
"""Module and class-name prefix of each ExecAlgorithm (``<prefix>Algorithm`` / ``<prefix>Config``)."""


def periods_per_year(cfg: ExperimentConfig) -> float:
    """Return the bars per year used to annualize: the config's value, else inferred from the bar spec.

    Daily bars count 252 trading days a year; intraday bars count every interval of a 365.25-day
    year (24/7 markets). Set ``[strategy] periods_per_year`` for anything else.
    """
    if cfg.strategy.periods_per_year is not None:
        return cfg.strategy.periods_per_year
    step, unit = cfg.data.bar_spec.split("-")[:2]
    seconds = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86_400, "WEEK": 7 * 86_400}.get(unit)
    if seconds is None:
        raise ValueError(
            f"cannot infer periods_per_year for bar spec {cfg.data.bar_spec}: set it in [strategy]"
        )
    if unit == "DAY":
        return 252.0 / int(step)
    if unit == "WEEK":
        return 52.0 / int(step)
    return 365.25 * 86_400 / (seconds * int(step))


def venue_names(cfg: ExperimentConfig) -> list[str]:
    """Return the distinct venues of the config's instruments, in order."""
    return list(instruments_per_venue(cfg))


def venue_configs(cfg: ExperimentConfig) -> list[BacktestVenueConfig]:
    """Return one simulated venue per distinct venue, with the ``[venue]`` fill and fee models.

    The starting balance is split in proportion to each venue's number of instruments, so an
    equal weight per instrument of its venue's equity is an equal weight of the whole portfolio.

    Raises
    ------
    ConfigError
        If ``[venue] commissions`` names a venue none of the instruments trades on.

    """
    counts = instruments_per_venue(cfg)
    unknown = sorted(set(cfg.venue.commissions) - set(counts))
    if unknown:
        raise ConfigError(
            f"[venue] commissions names venue(s) {unknown} that no instrument trades on: "
            f"expected some of {sorted(counts)}"
        )
    total = sum(counts.values())
    return [
        BacktestVenueConfig(
            name=name,
            oms_type=cfg.venue.oms_type,
            account_type=cfg.venue.account_type,
            base_currency=cfg.venue.currency,
            starting_balances=[f"{cfg.venue.starting_balance * count / total:.2f} {cfg.venue.currency}"],
            bar_execution=True,
            fill_model=fill_model_config(cfg),
            fee_model=fee_model_config(cfg, name),
        )
        for name, count in counts.items()
    ]


def fill_model_config(cfg: ExperimentConfig) -> ImportableFillModelConfig:
    """Return NautilusTrader's ``FillModel`` with the ``[venue]`` probabilities, seeded from ``cfg.seed``.

    The model draws from a generator seeded once when the venue is built, so the same config and
    seed give the same slipped fills in every run.
    """
    return ImportableFillModelConfig(
        fill_model_path="nautilus_trader.backtest.models:FillModel",
        config_path="nautilus_trader.backtest.config:FillModelConfig",
        config={
            "prob_fill_on_limit": cfg.venue.prob_fill_on_limit,
            "prob_slippage": cfg.venue.prob_slippage,
            "random_seed": cfg.seed,
        },
    )


def fee_model_config(cfg: ExperimentConfig, venue: str) -> ImportableFeeModelConfig:
    """Return NautilusTrader's fee model of ``venue`` for the ``[venue] fee_model``.

    ``"instrument"``: ``MakerTakerFeeModel`` (each instrument's maker/taker fee times the fill
    notional, NautilusTrader's default); ``"per_share"``: ``PerContractFeeModel`` (the venue's
    commission per unit filled); ``"fixed"``: ``FixedFeeModel`` (the venue's commission once per
    order).
    """
    commission = cfg.venue.commission_of(venue)
    if cfg.venue.fee_model == "instrument" or commission is None:
        return ImportableFeeModelConfig(
            fee_model_path="nautilus_trader.backtest.models:MakerTakerFeeModel",
            config_path="nautilus_trader.backtest.config:MakerTakerFeeModelConfig",
            config={},
        )
    money = _commission_money(commission, cfg.venue.currency, venue)
    if cfg.venue.fee_model == "per_share":
        return ImportableFeeModelConfig(
            fee_model_path="nautilus_trader.backtest.models:PerContractFeeModel",
            config_path="nautilus_trader.backtest.config:PerContractFeeModelConfig",
            config={"commission": money},
        )
    return ImportableFeeModelConfig(
        fee_model_path="nautilus_trader.backtest.models:FixedFeeModel",
        config_path="nautilus_trader.backtest.config:FixedFeeModelConfig",
        config={"commission": money, "charge_commission_once": True},
    )


def instruments_per_venue(cfg: ExperimentConfig) -> dict[str, int]:
    """Return the number of the config's instruments on each venue, in order of first appearance."""
    counts: dict[str, int] = {}
    for iid in cfg.data.instruments:
        counts[_venue(iid)] = counts.get(_venue(iid), 0) + 1
    return counts


def _venue(instrument_id: str) -> str:
    return instrument_id.rsplit(".", 1)[1]


def bar_data_configs(cfg: ExperimentConfig, catalog: str) -> list[BacktestDataConfig]:
    """Return the catalog bar feeds of every instrument."""
    return [
        BacktestDataConfig(
            catalog_path=catalog,
            data_cls="nautilus_trader.model.data:Bar",
            instrument_id=iid,
            bar_spec=cfg.data.bar_spec,
        )
        for iid in cfg.data.instruments
    ]


_MARKET_EVENT_CLASSES = {
    "trades": "nautilus_trader.model.data:TradeTick",
    "quotes": "nautilus_trader.model.data:QuoteTick",
    "book": "nautilus_trader.model.data:OrderBookDelta",
}


def market_event_configs(cfg: ExperimentConfig, catalog: str) -> list[BacktestDataConfig]:
    """Return the catalog trade, quote and order-book feeds the feature spec's event features need.

    Trade-source VPIN and order flow read trade ticks, the microprice reads quotes, the book
    imbalance reads L2 book deltas. These feeds go before the bars in the run's data, so an event
    stamped exactly at a bar's close counts for that bar (as the batch twins assume).
    """
    from nautilus_ai.indicators.batch_features import event_inputs

    needs = event_inputs(cfg.features.to_spec())
    configs = []
    for field in ("trades", "quotes", "book"):
        if field not in needs:
            continue
        for iid in cfg.data.instruments:
            require_catalog_data(
                catalog, _MARKET_EVENT_CLASSES[field], iid, needs[field], cfg.data.start, cfg.data.end
            )
            configs.append(
                BacktestDataConfig(
                    catalog_path=catalog, data_cls=_MARKET_EVENT_CLASSES[field], instrument_id=iid
                )
            )
    return configs


def require_catalog_data(
    catalog: str,
    data_cls: str,
    instrument_id: str,
    features: Sequence[str],
    start: str | None,
    end: str | None,
) -> None:
    """Raise :class:`ConfigError` when the catalog holds no ``data_cls`` for the instrument in the window.

    A BacktestNode only logs a missing feed (and runs with logging off here), so without this check
    the features that need the feed would silently come out NaN.
    """
    import importlib

    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    module, _, name = data_cls.partition(":")
    cls = getattr(importlib.import_module(module), name)
    data = ParquetDataCatalog(catalog).query(cls, identifiers=[instrument_id], start=start, end=end)
    if not data:
        raise ConfigError(
            f"features {', '.join(features)} of {instrument_id} need {name} data in the catalog {catalog} "
            f"between {start or 'its start'} and {end or 'its end'}, and it holds none: ingest them "
            "(nautilus-ai catalog ingest --data-kind trades|quotes) or drop those features from [features]"
        )


def stored_sentiment_label(cfg: ExperimentConfig, catalog: str) -> str | None:
    """Return the label of the stored ``SentimentScore``s a run replays, or None to score on the bus.

    Stored scores (written by ``nautilus-ai catalog score``, see
    :mod:`nautilus_ai.catalog.sentiment_store`) are used when present, so a slow or paid scorer (an
    LLM) runs once offline and never inside the event loop:

    * ``[features] sentiment_scorer`` names a label: its scores are used (when the config has that
      field; it must be stored and cover every news file of the instruments);
    * otherwise, if exactly one scorer has stored scores in the catalog, its scores are used;
    * if none has, the ``NewsItem``s are replayed and the :class:`SentimentActor` scores them with the
      lexicon (the live code path).

    Raises
    ------
    ConfigError
        If several scorers have stored scores and the config does not choose one, or the chosen
        label has no stored scores.
    DataError
        If the chosen scorer has not scored every news file of an instrument.

    """
    if cfg.features.sentiment_half_life_s is None:
        return None
    instruments = list(cfg.data.instruments)
    # Catalog-wide, so a run of a subset of the instruments (a per-instrument feature build) decides
    # exactly as a run of all of them does.
    labels = stored_scorers(Path(catalog))
    requested: str | None = cfg.features.sentiment_scorer
    if requested is None:
        if not labels:
            return None
        if len(labels) > 1:
            raise ConfigError(
                f"the catalog {catalog} holds sentiment scores of {len(labels)} scorers {labels}: "
                "choose one with [features] sentiment_scorer"
            )
        requested = labels[0]
    elif requested not in labels:
        raise ConfigError(
            f"[features] sentiment_scorer {requested!r} has no stored scores in {catalog} "
            f"(stored: {labels}): run `nautilus-ai catalog score` with that scorer"
        )
    for iid in instruments:
        coverage = score_coverage(Path(catalog), iid, requested)
        if coverage.unscored_files:
            raise DataError(
                f"{coverage.unscored_files} of {coverage.news_files} NewsItem file(s) of {iid} are not "
                f"scored by {requested!r}: run `nautilus-ai catalog score` again (it scores only what "
                "is missing)",
                file=catalog,
            )
    return requested


def alt_data_configs(cfg: ExperimentConfig, catalog: str) -> list[BacktestDataConfig]:
    """Return the catalog alternative-data feeds the config's feature spec needs.

    Sentiment features get, for every instrument, its stored ``SentimentScore``s when the catalog
    holds them (:func:`stored_sentiment_label`; selected by a ``filter_expr`` on ``instrument_id``
    and ``scorer``), else its ``NewsItem``s (scored on the bus by the :func:`sentiment_actor_configs`
    actor); both on client ``NEWS``. On-chain features get the ``OnChainMetric``s of the spec's
    ``onchain_instrument`` (each instrument's own when unset; client ``ONCHAIN``). Catalog custom
    data reaches the actors as ``DataType(cls)`` with the item's ``instrument_id``.
    """
    feeds: list[BacktestDataConfig] = []
    if cfg.features.sentiment_half_life_s is not None:
        label = stored_sentiment_label(cfg, catalog)
        if label is None:
            feeds.extend(
                BacktestDataConfig(
                    catalog_path=catalog, data_cls=_NEWS_ITEM, instrument_id=iid, client_id=NEWS_CLIENT_ID
                )
                for iid in cfg.data.instruments
            )
        else:
            # Filtered by row: the score folders are named <instrument>@<label>, not by instrument id.
            feeds.extend(
                BacktestDataConfig(
                    catalog_path=catalog,
                    data_cls=_SENTIMENT_SCORE,
                    filter_expr=score_filter_expr(iid, label),
                    client_id=NEWS_CLIENT_ID,
                )
                for iid in cfg.data.instruments
                if score_coverage(Path(catalog), iid, label).news_files
            )
    if cfg.features.onchain_metrics:
        sources = (
            [cfg.features.onchain_instrument]
            if cfg.features.onchain_instrument is not None
            else list(cfg.data.instruments)
        )
        # Filtered by row rather than by instrument_id: BacktestNode requires a venue config for the
        # venue of every data config's instrument, and a metric's pseudo-venue (BTCUSD.ONCHAIN) has none.
        feeds.extend(
            BacktestDataConfig(
                catalog_path=catalog,
                data_cls=_ONCHAIN_METRIC,
                filter_expr=f'field("instrument_id") == "{iid}"',
                client_id=ONCHAIN_CLIENT_ID,
            )
            for iid in sources
        )
    return feeds


def sentiment_actor_configs(cfg: ExperimentConfig, catalog: str | None = None) -> list[ImportableActorConfig]:
    """Return the SentimentActor scoring the instruments' NewsItems on the bus.

    None without sentiment features, or when the run replays stored scores of ``catalog`` instead
    (:func:`stored_sentiment_label`).
    """
    if cfg.features.sentiment_half_life_s is None:
        return []
    if catalog is not None and stored_sentiment_label(cfg, catalog) is not None:
        return []
    return [
        ImportableActorConfig(
            actor_path=f"{_SENTIMENT_ACTOR}:SentimentActor",
            config_path=f"{_SENTIMENT_ACTOR}:SentimentActorConfig",
            config={"component_id": "SentimentActor", "instrument_ids": list(cfg.data.instruments)},
        )
    ]


def feature_actor_configs(cfg: ExperimentConfig) -> list[ImportableActorConfig]:
    """Return one FeatureActor per instrument."""
    spec = cfg.features.model_dump()
    return [
        ImportableActorConfig(
            actor_path=f"{_FEATURE_ACTOR}:FeatureActor",
            config_path=f"{_FEATURE_ACTOR}:FeatureActorConfig",
            config={
                "component_id": f"FeatureActor-{iid}",
                "instrument_id": iid,
                "bar_type": bt,
                "spec": spec,
            },
        )
        for iid, bt in zip(cfg.data.instruments, cfg.data.bar_types(), strict=True)
    ]


def signal_actor_configs(
    cfg: ExperimentConfig, registry_path: str, model_version: str
) -> list[ImportableActorConfig]:
    """Return one SignalActor per instrument, all serving ``model_version``."""
    return [
        ImportableActorConfig(
            actor_path=f"{_SIGNAL_ACTOR}:SignalActor",
            config_path=f"{_SIGNAL_ACTOR}:SignalActorConfig",
            config={
                "component_id": f"SignalActor-{iid}",
                "instrument_id": iid,
                "registry_path": registry_path,
                "model_version": model_version,
                "long_threshold": cfg.model.long_threshold,
                "short_threshold": cfg.model.short_threshold,
                "horizon_bars": cfg.label.horizon_bars,
                "top_k": cfg.model.top_k,
                "fail_on_mismatch": True,
                "model_max_age": cfg.model.model_max_age,
                "halt_on_expiry": cfg.model.halt_on_expiry,
            },
        )
        for iid in cfg.data.instruments
    ]


def regime_actor_configs(
    cfg: ExperimentConfig, registry_path: str, regime_version: str | None
) -> list[ImportableActorConfig]:
    """Return one RegimeActor per instrument serving ``regime_version`` (none without a regime model)."""
    if regime_version is None:
        return []
    return [
        ImportableActorConfig(
            actor_path=f"{_REGIME_ACTOR}:RegimeActor",
            config_path=f"{_REGIME_ACTOR}:RegimeActorConfig",
            config={
                "component_id": f"RegimeActor-{iid}",
                "instrument_id": iid,
                "registry_path": registry_path,
                "model_version": regime_version,
                "fail_on_mismatch": True,
            },
        )
        for iid in cfg.data.instruments
    ]


def ml_strategy_configs(
    cfg: ExperimentConfig,
    trade_start: str | None,
    payoff_ratio: float = 1.0,
    cvar_scenarios_path: str | None = None,
) -> list[ImportableStrategyConfig]:
    """Return one MLStrategy per instrument; the portfolio volatility target is split between them.

    With ``n`` instruments each position targets ``target_volatility / sqrt(n)`` of the portfolio
    (equal risk, uncorrelated approximation) and is capped at ``max_weight / n`` of the portfolio.
    A strategy sizes against its own venue's equity (``n_v / n`` of the portfolio, see
    :func:`venue_configs`), so both are rescaled by ``n / n_v``.
    """
    n = len(cfg.data.instruments)
    per_venue = instruments_per_venue(cfg)
    s = cfg.strategy
    return [
        ImportableStrategyConfig(
            strategy_path=f"{_ML_STRATEGY}:MLStrategy",
            config_path=f"{_ML_STRATEGY}:MLStrategyConfig",
            config={
                "order_id_tag": f"{i:03d}",
                "instrument_id": iid,
                "bar_type": bt,
                "target_volatility": s.target_volatility / n**0.5 * n / per_venue[_venue(iid)],
                "volatility_window": cfg.features.volatility_window,
                "periods_per_year": periods_per_year(cfg),
                "max_weight": s.max_weight / per_venue[_venue(iid)],
                "allow_short": s.allow_short,
                "min_confidence": s.min_confidence,
                "rebalance_band": s.rebalance_band,
                "trade_start": trade_start,
                **risk_strategy_fields(cfg, payoff_ratio, cvar_scenarios_path),
                **execution_strategy_fields(cfg),
            },
        )
        for i, (iid, bt) in enumerate(zip(cfg.data.instruments, cfg.data.bar_types(), strict=True))
    ]


def portfolio_strategy_configs(
    cfg: ExperimentConfig, trade_start: str | None, returns_path: str, cvar_scenarios_path: str | None = None
) -> list[ImportableStrategyConfig]:
    """Return the one PortfolioStrategy trading every instrument (``[strategy] kind = "portfolio"``).

    Its aggregator learns from ``returns_path`` (the fold's training-window returns); the gate limits
    and the CVaR budget come from ``[risk]``.
    """
    p, r, s = cfg.portfolio, cfg.risk, cfg.strategy
    use_cvar = r.cvar_budget is not None and cvar_scenarios_path is not None
    return [
        ImportableStrategyConfig(
            strategy_path=f"{_PORTFOLIO_STRATEGY}:PortfolioStrategy",
            config_path=f"{_PORTFOLIO_STRATEGY}:PortfolioStrategyConfig",
            config={
                "order_id_tag": "000",
                "instrument_ids": list(cfg.data.instruments),
                "bar_types": cfg.data.bar_types(),
                "returns_path": returns_path,
                "method": p.method,
                "gross_target": p.gross_target,
                "max_turnover": p.max_turnover,
                "max_position_weight": p.max_position_weight,
                "max_group_weight": p.max_group_weight,
                "max_position_notional": r.max_position_notional,
                "max_gross_leverage": r.max_gross_leverage
                if r.max_gross_leverage is not None
                else p.gross_target,
                "max_net_leverage": r.max_net_leverage if r.max_net_leverage is not None else p.gross_target,
                "sectors": p.sectors,
                "min_confidence": s.min_confidence,
                "min_probability": p.min_probability,
                "min_history": p.min_history,
                "max_signal_age_bars": p.max_signal_age_bars,
                "allow_short": s.allow_short,
                "rebalance_every_bars": p.rebalance_every_bars,
                "rebalance_band": s.rebalance_band,
                "trade_start": trade_start,
                "cvar_scenarios_path": cvar_scenarios_path if use_cvar else None,
                "cvar_budget": r.cvar_budget if use_cvar else None,
                "cvar_alpha": r.cvar_alpha,
            },
        )
    ]


def risk_strategy_fields(
    cfg: ExperimentConfig, payoff_ratio: float, cvar_scenarios_path: str | None
) -> dict[str, object]:
    """Return the MLStrategy fields of the ``[risk]`` section (sizing, gate limits, CVaR, stops).

    The CVaR budget applies only with the fold's scenario file (built from its training window).
    """
    r = cfg.risk
    use_cvar = r.cvar_budget is not None and cvar_scenarios_path is not None
    return {
        "sizing": r.sizing,
        "kelly_fraction": r.kelly_fraction,
        "payoff_ratio": payoff_ratio,
        "max_position_notional": r.max_position_notional,
        "max_gross_leverage": r.max_gross_leverage,
        "max_net_leverage": r.max_net_leverage,
        "cvar_scenarios_path": cvar_scenarios_path if use_cvar else None,
        "cvar_budget": r.cvar_budget if use_cvar else None,
        "cvar_alpha": r.cvar_alpha,
        "stops": r.stops,
        "atr_period": r.atr_period,
        "stop_atr_multiple": r.stop_atr_multiple,
        "target_atr_multiple": r.target_atr_multiple,
        "trail_atr_multiple": r.trail_atr_multiple,
    }


def execution_strategy_fields(cfg: ExperimentConfig) -> dict[str, object]:
    """Return the MLStrategy fields of the ``[execution]`` section (routing through the selector)."""
    e = cfg.execution
    return {
        "execution": e.mode,
        "selector": dict(e.selector) or None,
        "signal_horizon_bars": cfg.label.horizon_bars,
        "liquidity_source": e.liquidity_source,
        "liquidity_window": e.liquidity_window,
        "assumed_spread_bps": e.assumed_spread_bps,
        "depth_bar_fraction": e.depth_bar_fraction,
        "algorithms": tuple(e.algorithms),
        "on_horizon_end": e.on_horizon_end,
    }


def exec_algorithm_configs(cfg: ExperimentConfig, catalog: str | None) -> list[ImportableExecAlgorithmConfig]:
    """Return the ExecAlgorithms the selector may route to (none with ``[execution] mode = "market"``).

    The VWAP learns each instrument's intraday volume profile from the catalog's bars of the
    experiment's bar spec, using only the days before a parent arrives.
    """
    e = cfg.execution
    if e.mode != "selector":
        return []
    configs = []
    for kind in e.algorithms:
        module, prefix = _ALGORITHMS[kind].split(":")
        settings: dict[str, object] = {"on_horizon_end": e.on_horizon_end, "max_retries": e.max_retries}
        if kind == "vwap" and catalog is not None:
            settings |= {
                "catalog_path": catalog,
                "bar_type": cfg.data.bar_types()[0],
                "bucket_minutes": e.vwap_bucket_minutes,
                "participation_cap": float(e.selector.get("participation_cap", 0.1)),
            }
        configs.append(
            ImportableExecAlgorithmConfig(
                exec_algorithm_path=f"{module}:{prefix}Algorithm",
                config_path=f"{module}:{prefix}Config",
                config=settings,
            )
        )
    return configs


def analyzer_actor_configs(cfg: ExperimentConfig) -> list[ImportableActorConfig]:
    """Return the MicrostructureAnalyzer when the strategy reads its liquidity state (else none)."""
    e = cfg.execution
    if e.mode != "selector" or e.liquidity_source != "analyzer":
        return []
    from nautilus_ai.execution.analyzer import MicrostructureAnalyzerConfig, analyzer_actor_config

    spec = BarType.from_str(cfg.data.bar_types()[0])
    return [
        analyzer_actor_config(
            MicrostructureAnalyzerConfig(
                instrument_ids=tuple(InstrumentId.from_str(i) for i in cfg.data.instruments),
                book_source=e.analyzer_book_source,
                book_type=e.analyzer_book_type,
                book_levels=e.analyzer_levels,
                bar_spec=f"{spec.spec}-{spec.aggregation_source.name}",
                volume_window=e.liquidity_window,
                volatility_window=e.liquidity_window,
            )
        )
    ]


def risk_guard_configs(cfg: ExperimentConfig, trade_start: str | None) -> list[ImportableActorConfig]:
    """Return the RiskGuardActor watching every venue (none when ``[risk] guard`` is off)."""
    r = cfg.risk
    if not r.guard:
        return []
    return [
        ImportableActorConfig(
            actor_path=f"{_RISK_GUARD}:RiskGuardActor",
            config_path=f"{_RISK_GUARD}:RiskGuardActorConfig",
            config={
                "component_id": "RiskGuardActor",
                "bar_types": cfg.data.bar_types(),
                "venues": venue_names(cfg),
                "instrument_ids": list(cfg.data.instruments),
                "reduce_drawdown": r.reduce_drawdown,
                "halt_drawdown": r.halt_drawdown,
                "reduce_daily_loss": r.reduce_daily_loss,
                "halt_daily_loss": r.halt_daily_loss,
                "stale_data_intervals": r.stale_data_intervals,
                "stale_model_bars": r.stale_model_bars,
                "trade_start": trade_start,
            },
        )
    ]


def buy_and_hold_configs(cfg: ExperimentConfig, trade_start: str | None) -> list[ImportableStrategyConfig]:
    """Return the equal-weight buy-and-hold baseline: one BuyAndHold per instrument (99% invested)."""
    per_venue = instruments_per_venue(cfg)
    return [
        ImportableStrategyConfig(
            strategy_path=f"{_BASELINES}:BuyAndHold",
            config_path=f"{_BASELINES}:BuyAndHoldConfig",
            config={
                "order_id_tag": f"{i:03d}",
                "instrument_id": iid,
                "bar_type": bt,
                "weight": 0.99 / per_venue[_venue(iid)],
                "trade_start": trade_start,
            },
        )
        for i, (iid, bt) in enumerate(zip(cfg.data.instruments, cfg.data.bar_types(), strict=True))
    ]


def feature_recorder_config(cfg: ExperimentConfig, output_path: str) -> ImportableActorConfig:
    """Return the FeatureRecorder that writes every instrument's FeatureVectors to ``output_path``."""
    return ImportableActorConfig(
        actor_path=f"{_FEATURE_RECORDER}:FeatureRecorder",
        config_path=f"{_FEATURE_RECORDER}:FeatureRecorderConfig",
        config={"instrument_ids": list(cfg.data.instruments), "output_path": output_path},
    )


def equity_recorder_config(cfg: ExperimentConfig, output_path: str) -> ImportableActorConfig:
    """Return the EquityRecorder that samples the summed account equity on every bar."""
    return ImportableActorConfig(
        actor_path=f"{_EQUITY_RECORDER}:EquityRecorder",
        config_path=f"{_EQUITY_RECORDER}:EquityRecorderConfig",
        config={"bar_types": cfg.data.bar_types(), "venues": venue_names(cfg), "output_path": output_path},
    )


def run_config(
    cfg: ExperimentConfig,
    catalog: str,
    *,
    start: str | None,
    end: str | None,
    actors: Sequence[ImportableActorConfig] = (),
    strategies: Sequence[ImportableStrategyConfig] = (),
    trader_id: str = "NAUTILUS_AI-001",
    extra_data: Sequence[BacktestDataConfig] = (),
    exec_algorithms: Sequence[ImportableExecAlgorithmConfig] = (),
) -> BacktestRunConfig:
    """Return a BacktestRunConfig over the config's bars and ``extra_data`` with the given components."""
    for bt in cfg.data.bar_types():
        BarType.from_str(bt)  # fail early with NautilusTrader's own message on a bad bar spec
    return BacktestRunConfig(
        venues=venue_configs(cfg),
        # market events first: at equal timestamps they reach the FeatureActor before the bar
        data=[
            *[d for d in extra_data if d.data_cls in _MARKET_EVENT_CLASSES.values()],
            *bar_data_configs(cfg, catalog),
            *[d for d in extra_data if d.data_cls not in _MARKET_EVENT_CLASSES.values()],
        ],
        engine=BacktestEngineConfig(
            trader_id=trader_id,
            logging=LoggingConfig(log_level="ERROR", bypass_logging=True),
            risk_engine=RiskEngineConfig(bypass=False),
            actors=list(actors),
            strategies=list(strategies),
            exec_algorithms=list(exec_algorithms),
        ),
        start=start,
        end=end,
        dispose_on_completion=False,
        raise_exception=True,
    )


def feature_replay_run(cfg: ExperimentConfig, catalog: str, output_path: str) -> BacktestRunConfig:
    """Return the run that replays the catalog through the FeatureActors and records the vectors.

    With sentiment features the run also replays the instruments' stored ``SentimentScore``s, or
    their ``NewsItem``s through a SentimentActor when none are stored, and with on-chain features the
    ``OnChainMetric``s (:func:`alt_data_configs`), so alternative-data features come from the same
    bus chain as live.
    """
    return run_config(
        cfg,
        catalog,
        start=cfg.data.start,
        end=cfg.data.end,
        actors=[
            *sentiment_actor_configs(cfg, catalog),
            *feature_actor_configs(cfg),
            feature_recorder_config(cfg, output_path),
        ],
        extra_data=[*market_event_configs(cfg, catalog), *alt_data_configs(cfg, catalog)],
        exec_algorithms=exec_algorithm_configs(cfg, catalog) if cfg.strategy.kind == "ml" else [],
    )


def ml_run(
    cfg: ExperimentConfig,
    catalog: str,
    *,
    registry_path: str,
    model_version: str,
    start: str,
    end: str,
    trade_start: str,
    equity_path: str,
    regime_version: str | None = None,
    payoff_ratio: float = 1.0,
    cvar_scenarios_path: str | None = None,
    events_dir: str | None = None,
    returns_path: str | None = None,
) -> BacktestRunConfig:
    """Return a test-window run of the whole chain: FeatureActor → RegimeActor → SignalActor → MLStrategy.

    The alternative data and the SentimentActor of the feature replay are fed here too, so the model
    trades on the features it was trained on.
    """
    return run_config(
        cfg,
        catalog,
        start=start,
        end=end,
        actors=[
            *sentiment_actor_configs(cfg, catalog),
            *feature_actor_configs(cfg),
            *regime_actor_configs(cfg, registry_path, regime_version),
            *signal_actor_configs(cfg, registry_path, model_version),
            *(analyzer_actor_configs(cfg) if cfg.strategy.kind == "ml" else []),
            *risk_guard_configs(cfg, trade_start),
            equity_recorder_config(cfg, equity_path),
            *event_recorder_configs(cfg, events_dir),
        ],
        strategies=(
            portfolio_strategy_configs(cfg, trade_start, returns_path or "", cvar_scenarios_path)
            if cfg.strategy.kind == "portfolio"
            else ml_strategy_configs(cfg, trade_start, payoff_ratio, cvar_scenarios_path)
        ),
        extra_data=[*market_event_configs(cfg, catalog), *alt_data_configs(cfg, catalog)],
    )


def event_recorder_configs(cfg: ExperimentConfig, events_dir: str | None) -> list[ImportableActorConfig]:
    """Return the EventRecorder keeping the run's signals, regimes and risk decisions (none without a dir)."""
    if events_dir is None:
        return []
    return [
        ImportableActorConfig(
            actor_path=f"{_EVENT_RECORDER}:EventRecorder",
            config_path=f"{_EVENT_RECORDER}:EventRecorderConfig",
            config={"instrument_ids": list(cfg.data.instruments), "output_dir": events_dir},
        )
    ]


def buy_and_hold_run(
    cfg: ExperimentConfig, catalog: str, *, start: str, end: str, trade_start: str, equity_path: str
) -> BacktestRunConfig:
    """Return a test-window run of the buy-and-hold baseline on the same data and venue."""
    return baseline_run(
        cfg, catalog, "buy_and_hold", start=start, end=end, trade_start=trade_start, equity_path=equity_path
    )


def ema_cross_configs(cfg: ExperimentConfig, trade_start: str | None) -> list[ImportableStrategyConfig]:
    """Return the EMA-crossover baseline: one EmaCross per instrument, sized like buy-and-hold.

    Each instrument holds ``0.99 / n_v`` of its venue's equity (``n_v`` instruments on the venue)
    while its fast EMA is above its slow EMA (``[walkforward] ema_fast``/``ema_slow``), and is flat
    (or short with ``ema_allow_short``) otherwise.
    """
    per_venue = instruments_per_venue(cfg)
    wf = cfg.walkforward
    return [
        ImportableStrategyConfig(
            strategy_path=f"{_BASELINES}:EmaCross",
            config_path=f"{_BASELINES}:EmaCrossConfig",
            config={
                "order_id_tag": f"{i:03d}",
                "instrument_id": iid,
                "bar_type": bt,
                "fast_period": wf.ema_fast,
                "slow_period": wf.ema_slow,
                "allow_short": wf.ema_allow_short,
                "weight": 0.99 / per_venue[_venue(iid)],
                "trade_start": trade_start,
            },
        )
        for i, (iid, bt) in enumerate(zip(cfg.data.instruments, cfg.data.bar_types(), strict=True))
    ]


def _commission_money(commission: float, currency: str, venue: str) -> str:
    """Return ``commission`` as a NautilusTrader money string, refusing amounts the currency rounds away."""
    from nautilus_trader.model.objects import Money

    text = f"{commission:.10f}".rstrip("0").rstrip(".") + f" {currency}"
    try:
        money = Money.from_str(text)
    except ValueError as e:
        raise ConfigError(f"[venue] commission of {venue}: {text!r} is not an amount of money: {e}") from None
    if abs(money.as_double() - commission) > 1e-12:
        raise ConfigError(
            f"[venue] commission of {venue}: {text} has more decimals than {currency} carries "
            f"(NautilusTrader would charge {money}): use a multiple of "
            f"{10.0**-money.currency.precision:g} {currency}"
        )
    return text


BASELINE_BUILDERS = {"buy_and_hold": buy_and_hold_configs, "ema_cross": ema_cross_configs}
"""The baseline strategies by their ``[walkforward] baselines`` name."""


def baseline_run(
    cfg: ExperimentConfig,
    catalog: str,
    baseline: str,
    *,
    start: str,
    end: str,
    trade_start: str,
    equity_path: str,
) -> BacktestRunConfig:
    """Return a test-window run of the named baseline on the same data, venue and costs as the model.

    Raises
    ------
    ConfigError
        If ``baseline`` is not one of :data:`BASELINE_BUILDERS`.

    """
    builder = BASELINE_BUILDERS.get(baseline)
    if builder is None:
        raise ConfigError(
            f"[walkforward] baselines: unknown baseline {baseline!r}, expected one of "
            f"{sorted(BASELINE_BUILDERS)}"
        )
    return run_config(
        cfg,
        catalog,
        start=start,
        end=end,
        actors=[equity_recorder_config(cfg, equity_path)],
        strategies=builder(cfg, trade_start),
    )
