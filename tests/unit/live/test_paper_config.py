"""The paper node config: the backtest's components, a replay data client and sandbox venues."""

from pathlib import Path
from typing import Any

import pytest
from nautilus_trader.backtest.config import ImportableFillModelConfig
from nautilus_trader.config import TradingNodeConfig
from nautilus_trader.model.data import Bar

from nautilus_ai.adapters.replay import ReplayDataClientConfig, load_replay_items
from nautilus_ai.adapters.replay.client import restamp, validate_config
from nautilus_ai.backtest import node_config
from nautilus_ai.config import ExperimentConfig
from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.live.paper import (
    PaperSandboxExecutionClientConfig,
    paper_node_config,
    resolve_model_versions,
    sandbox_configs,
)
from nautilus_ai.test_kit import binance_btcusdt_ticks, demo_catalog, small_experiment


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_catalog(tmp_path_factory.mktemp("paper-config"), symbols=("AAPL", "MSFT"))


def _paper(cfg: ExperimentConfig, catalog: Path, **kwargs: Any) -> TradingNodeConfig:
    return paper_node_config(
        cfg,
        catalog,
        registry_path="reg",
        model_version="m-1",
        regime_version="r-1",
        start="2016-01-01",
        end="2016-06-30",
        trade_start="2016-03-01",
        **kwargs,
    )


def test_paper_node_has_the_backtest_actors_and_strategies(catalog: Path) -> None:
    cfg = small_experiment(catalog)
    bt = node_config.ml_run(
        cfg,
        str(catalog.resolve()),
        registry_path="reg",
        model_version="m-1",
        regime_version="r-1",
        start="2016-01-01",
        end="2016-06-30",
        trade_start="2016-03-01",
        equity_path="paper-equity.parquet",
    )
    paper = _paper(cfg, catalog)
    assert bt.engine is not None
    assert [a.dict() for a in paper.actors] == [a.dict() for a in bt.engine.actors]
    assert [s.dict() for s in paper.strategies] == [s.dict() for s in bt.engine.strategies]
    paths = [a.actor_path for a in paper.actors]
    assert paths.count("nautilus_ai.indicators.feature_actor:FeatureActor") == 2
    assert paths.count("nautilus_ai.learning.regime_actor:RegimeActor") == 2
    assert paths.count("nautilus_ai.learning.signal_actor:SignalActor") == 2
    assert paper.strategies[0].config["trade_start"] == "2016-03-01"
    assert paper.exec_engine.reconciliation is False


def test_replay_client_config_follows_the_experiment(catalog: Path) -> None:
    cfg = small_experiment(catalog)
    replay = _paper(cfg, catalog, speed=5.0).data_clients["REPLAY"]
    assert isinstance(replay, ReplayDataClientConfig)
    assert replay.instrument_ids == ["AAPL.XNAS", "MSFT.XNAS"]
    assert replay.bar_types == cfg.data.bar_types()
    assert replay.market_events == []  # bar features only
    assert (replay.start, replay.end, replay.speed, replay.ts_init) == (
        "2016-01-01",
        "2016-06-30",
        5.0,
        "clock",
    )
    assert replay.routing.default
    assert Path(replay.catalog_path) == catalog.resolve()


def test_recorders_are_added_on_request(catalog: Path, tmp_path: Path) -> None:
    cfg = small_experiment(catalog)
    paper = _paper(cfg, catalog, events_dir=tmp_path / "ev", features_path=tmp_path / "f.parquet")
    paths = [a.actor_path for a in paper.actors]
    assert "nautilus_ai.backtest.event_recorder:EventRecorder" in paths
    assert paths[-1] == "nautilus_ai.indicators.feature_recorder:FeatureRecorder"


def test_sandbox_per_venue_carries_balances_and_fill_model(catalog: Path) -> None:
    cfg = small_experiment(
        catalog,
        instruments=("AAPL.XNAS", "MSFT.XNAS"),
        venue={"starting_balance": 500_000.0, "prob_slippage": 0.25, "account_type": "CASH"},
    )
    sandboxes = sandbox_configs(cfg)
    assert list(sandboxes) == ["XNAS"]
    sandbox = sandboxes["XNAS"]
    assert isinstance(sandbox, PaperSandboxExecutionClientConfig)
    assert sandbox.starting_balances == ["500000.00 USD"]
    assert (sandbox.account_type, sandbox.oms_type, sandbox.bar_execution) == ("CASH", "NETTING", True)
    assert isinstance(sandbox.fill_model, ImportableFillModelConfig)
    assert sandbox.fill_model.config == {
        "prob_fill_on_limit": 1.0,
        "prob_slippage": 0.25,
        "random_seed": cfg.seed,
    }


def test_alternative_data_features_are_refused(catalog: Path) -> None:
    cfg = small_experiment(catalog, features={"sentiment_half_life_s": 86_400.0})
    with pytest.raises(ConfigError, match="sentiment and on-chain"):
        _paper(cfg, catalog)


def test_negative_speed_is_refused(catalog: Path) -> None:
    with pytest.raises(ConfigError, match="speed"):
        _paper(small_experiment(catalog), catalog, speed=-1.0)


def test_replay_items_are_the_window_bars_in_time_order(catalog: Path) -> None:
    config = ReplayDataClientConfig(
        catalog_path=str(catalog),
        instrument_ids=["AAPL.XNAS", "MSFT.XNAS"],
        bar_types=["AAPL.XNAS-1-DAY-LAST-EXTERNAL", "MSFT.XNAS-1-DAY-LAST-EXTERNAL"],
        start="2016-01-01",
        end="2016-01-31",
    )
    items = load_replay_items(config)
    assert all(isinstance(i, Bar) for i in items)
    assert len(items) == 2 * 19  # January 2016 trading days, both instruments
    stamps = [i.ts_init for i in items]
    assert stamps == sorted(stamps)
    # instruments alternate at each timestamp, in config order
    assert [str(i.bar_type.instrument_id) for i in items[:2]] == ["AAPL.XNAS", "MSFT.XNAS"]


def test_restamp_keeps_the_bar_and_its_ts_event(catalog: Path) -> None:
    config = ReplayDataClientConfig(
        catalog_path=str(catalog),
        instrument_ids=["AAPL.XNAS"],
        bar_types=["AAPL.XNAS-1-DAY-LAST-EXTERNAL"],
        start="2016-01-04",
        end="2016-01-05",
    )
    bar = load_replay_items(config)[0]
    moved = restamp(bar, 123)
    assert (moved.open, moved.high, moved.low, moved.close, moved.volume) == (
        bar.open,
        bar.high,
        bar.low,
        bar.close,
        bar.volume,
    )
    assert (moved.ts_event, moved.ts_init) == (bar.ts_event, 123)


def test_replay_config_errors_name_the_problem(catalog: Path) -> None:
    base: dict[str, Any] = {
        "catalog_path": str(catalog),
        "instrument_ids": ["AAPL.XNAS"],
        "bar_types": ["AAPL.XNAS-1-DAY-LAST-EXTERNAL"],
    }
    with pytest.raises(ConfigError, match="market_events"):
        validate_config(ReplayDataClientConfig(**base, market_events=["candles"]))
    with pytest.raises(ConfigError, match="speed"):
        validate_config(ReplayDataClientConfig(**base, speed=-2.0))
    with pytest.raises(DataError, match=r"no AAPL\.XNAS-1-DAY-LAST-EXTERNAL bars"):
        load_replay_items(ReplayDataClientConfig(**base, start="2030-01-01", end="2030-02-01"))
    with pytest.raises(DataError, match="no TradeTick"):
        load_replay_items(ReplayDataClientConfig(**base, market_events=["trades"]))


def test_model_versions_need_a_registry(catalog: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_model_versions(small_experiment(catalog), tmp_path / "missing")


def test_restamp_keeps_the_ticks_and_their_ts_event() -> None:
    try:
        _, trades, quotes = binance_btcusdt_ticks()
    except FileNotFoundError as e:
        pytest.skip(str(e))
    trade, quote = restamp(trades[0], 5), restamp(quotes[0], 7)
    assert (trade.price, trade.size, trade.aggressor_side, trade.trade_id) == (
        trades[0].price,
        trades[0].size,
        trades[0].aggressor_side,
        trades[0].trade_id,
    )
    assert (trade.ts_event, trade.ts_init) == (trades[0].ts_event, 5)
    assert (quote.bid_price, quote.ask_price, quote.bid_size, quote.ask_size) == (
        quotes[0].bid_price,
        quotes[0].ask_price,
        quotes[0].bid_size,
        quotes[0].ask_size,
    )
    assert (quote.ts_event, quote.ts_init) == (quotes[0].ts_event, 7)
