"""PortfolioStrategyConfig: every field is validated (errors name it), the returns file is read and wired."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.config import ImportableStrategyConfig
from nautilus_trader.model.data import BarType
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.config import StrategyFactory

from nautilus_ai.catalog.types import ModelSignal
from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.risk.portfolio import Signal
from nautilus_ai.risk.state import GateState
from nautilus_ai.strategies.portfolio_strategy import (
    PortfolioStrategy,
    PortfolioStrategyConfig,
    aggregator_config,
    check_portfolio_config,
    load_returns,
    save_returns,
)
from nautilus_ai.test_kit import read_stocknet_daily, stocknet_bars

SYMBOLS = ("AAPL", "MSFT", "JPM")
IIDS = [InstrumentId.from_str(f"{s}.XNAS") for s in SYMBOLS]
BAR_TYPES = [BarType.from_str(f"{s}.XNAS-1-DAY-LAST-EXTERNAL") for s in SYMBOLS]


def _returns(columns=None) -> pd.DataFrame:
    closes = pd.DataFrame({s: read_stocknet_daily(s)["close"] for s in SYMBOLS}).iloc[:250]
    returns = closes.pct_change().iloc[1:]
    if columns is not None:
        returns.columns = columns
    return returns


@pytest.fixture(scope="module")
def returns_file(tmp_path_factory) -> str:
    return str(save_returns(_returns(), tmp_path_factory.mktemp("fold") / "returns.parquet"))


def _config(returns_file: str, **overrides) -> PortfolioStrategyConfig:
    fields = {"instrument_ids": IIDS, "bar_types": BAR_TYPES, "returns_path": returns_file, **overrides}
    return PortfolioStrategyConfig(**fields)


def test_defaults_build_the_strategy_with_its_gate_and_aggregator(returns_file):
    strategy = PortfolioStrategy(_config(returns_file))

    assert strategy.gate.state == GateState.ACTIVE and strategy.gate.cvar is None
    assert strategy.gate.limits.max_position_weight == 0.2
    assert strategy.gate.limits.max_gross_leverage == 1.0
    assert math.isinf(strategy.gate.limits.max_position_notional)
    agg = aggregator_config(strategy.config)
    assert agg.method == "hrp" and math.isinf(agg.max_turnover) and math.isinf(agg.limits.max_group_weight)
    assert strategy.decisions == [] and strategy.rebalances == []


def test_limits_reach_both_the_aggregator_and_the_gate(returns_file):
    config = _config(
        returns_file,
        method="mean_cvar",
        gross_target=0.8,
        max_turnover=0.3,
        max_position_weight=0.15,
        max_group_weight=0.25,
        max_position_notional=100_000.0,
        max_gross_leverage=1.5,
        max_net_leverage=None,
        min_probability=0.6,
        min_history=40,
    )
    strategy = PortfolioStrategy(config)
    agg = aggregator_config(config)

    assert (agg.method, agg.gross_target, agg.max_turnover) == ("mean_cvar", 0.8, 0.3)
    assert (agg.min_probability, agg.min_history) == (0.6, 40)
    assert agg.limits.max_group_weight == 0.25 and agg.limits.max_position_notional == 100_000.0
    assert math.isinf(agg.limits.max_net_leverage)
    limits = strategy.gate.limits
    assert (limits.max_position_weight, limits.max_gross_leverage) == (0.15, 1.5)
    assert math.isinf(limits.max_net_leverage)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"instrument_ids": [], "bar_types": []}, "instrument_ids must name at least one"),
        (
            {"instrument_ids": [IIDS[0], IIDS[0]], "bar_types": BAR_TYPES[:2]},
            "instrument_ids must be distinct",
        ),
        ({"bar_types": BAR_TYPES[:2]}, "bar_types must hold one bar type per instrument"),
        ({"bar_types": list(reversed(BAR_TYPES))}, "bar_types must follow instrument_ids"),
        ({"returns_path": ""}, "returns_path must name"),
        ({"method": "markowitz"}, "method must be 'hrp', 'mean_cvar' or 'kelly'"),
        ({"gross_target": 0.0}, "gross_target must be positive"),
        ({"max_turnover": 0.0}, "max_turnover must be positive"),
        ({"max_position_weight": -0.1}, "max_position_weight must be positive"),
        ({"max_group_weight": 0.0}, "max_group_weight must be positive"),
        ({"max_position_notional": -1.0}, "max_position_notional must be positive"),
        ({"max_gross_leverage": 0.0}, "max_gross_leverage must be positive"),
        ({"max_net_leverage": -1.0}, "max_net_leverage must be positive"),
        ({"min_confidence": 1.5}, "min_confidence must be in [0, 1]"),
        ({"min_probability": -0.1}, "min_probability must be in [0, 1]"),
        ({"min_history": 2}, "min_history must be >= 3"),
        ({"max_signal_age_bars": -1}, "max_signal_age_bars must be >= 0"),
        ({"rebalance_every_bars": 0}, "rebalance_every_bars must be >= 1"),
        ({"rebalance_band": 1.0}, "rebalance_band must be in [0, 1)"),
        ({"trade_start": "not a date"}, "trade_start must be an ISO timestamp"),
        ({"cvar_alpha": 1.0}, "cvar_alpha must be in (0, 1)"),
        ({"cvar_budget": 0.05}, "cvar_budget needs cvar_scenarios_path"),
        ({"cvar_budget": -0.05, "cvar_scenarios_path": "x.npz"}, "cvar_budget must be positive"),
    ],
)
def test_invalid_fields_raise_config_errors_naming_the_field(returns_file, overrides, message):
    config = _config(returns_file, **overrides)

    with pytest.raises(ConfigError, match=r"PortfolioStrategyConfig\.\S*") as error:
        check_portfolio_config(config)
    assert message in str(error.value)
    with pytest.raises(ConfigError):
        PortfolioStrategy(config)


def test_the_returns_file_must_exist_and_cover_every_instrument(tmp_path, returns_file):
    with pytest.raises(DataError, match=r"returns_path: .* does not exist"):
        PortfolioStrategy(_config(returns_file, returns_path=str(tmp_path / "missing.parquet")))
    partial = save_returns(_returns().iloc[:, :2], tmp_path / "partial.parquet")
    with pytest.raises(DataError, match=r"no returns column for \['JPM.XNAS'\]"):
        PortfolioStrategy(_config(returns_file, returns_path=str(partial)))
    broken = tmp_path / "broken.parquet"
    broken.write_text("not parquet")
    with pytest.raises(DataError, match="cannot read"):
        load_returns(broken, IIDS)


def test_returns_by_symbol_or_id_in_parquet_or_npz_read_the_same(tmp_path):
    by_symbol = save_returns(_returns(), tmp_path / "symbols.parquet")
    by_id = save_returns(_returns([str(i) for i in IIDS]), tmp_path / "ids.npz")

    parquet, npz = load_returns(by_symbol, IIDS), load_returns(by_id, IIDS)

    assert list(parquet.columns) == list(npz.columns) == [str(i) for i in IIDS]
    np.testing.assert_array_equal(parquet.to_numpy(), npz.to_numpy())
    assert len(parquet) == 249 and np.isfinite(parquet.to_numpy()).all()


def test_signals_map_to_the_aggregator_view(returns_file):
    strategy = PortfolioStrategy(_config(returns_file, min_confidence=0.2, allow_short=False))
    strategy.instruments = dict.fromkeys(IIDS)  # on_start loads them from the cache

    def signal(iid, direction, probability):
        return ModelSignal(
            instrument_id=iid,
            direction=direction,
            probability=probability,
            confidence=abs(probability - 0.5) * 2,
            ts_event=0,
            ts_init=0,
        )

    strategy.on_data(signal(IIDS[0], 1, 0.7))
    strategy.on_data(signal(IIDS[1], 1, 0.55))  # confidence 0.1 < 0.2: flat
    view = strategy.aggregator_signals()
    assert view["AAPL.XNAS"] == Signal(1, 0.7)
    assert view["MSFT.XNAS"].direction == 0
    assert view["JPM.XNAS"] == Signal(0, 0.5)  # no signal yet

    strategy.on_data(signal(IIDS[2], -1, 0.2))  # short not allowed: flat
    assert strategy.aggregator_signals()["JPM.XNAS"].direction == 0
    shorting = PortfolioStrategy(_config(returns_file))
    shorting.instruments = dict.fromkeys(IIDS)
    shorting.on_data(signal(IIDS[2], -1, 0.2))
    short = shorting.aggregator_signals()["JPM.XNAS"]
    assert short.direction == -1 and short.probability == pytest.approx(0.8)


def test_importable_config_from_plain_values_builds_the_strategy(returns_file):
    importable = ImportableStrategyConfig(
        strategy_path="nautilus_ai.strategies.portfolio_strategy:PortfolioStrategy",
        config_path="nautilus_ai.strategies.portfolio_strategy:PortfolioStrategyConfig",
        config={
            "instrument_ids": [str(i) for i in IIDS],
            "bar_types": [str(b) for b in BAR_TYPES],
            "returns_path": returns_file,
            "method": "kelly",
            "sectors": {"AAPL": "Tech", "MSFT": "Tech", "JPM": "Banks"},
            "max_group_weight": 0.3,
            "rebalance_every_bars": 5,
            "trade_start": "2013-01-02",
        },
    )

    strategy = StrategyFactory.create(importable)

    assert isinstance(strategy, PortfolioStrategy)
    assert strategy.config.instrument_ids == IIDS and strategy.config.bar_types == BAR_TYPES
    assert strategy.config.sectors == {"AAPL": "Tech", "MSFT": "Tech", "JPM": "Banks"}


def test_signals_expire_after_max_signal_age_bars_complete_bar_times(returns_file):
    bars = {iid: stocknet_bars(iid.symbol.value, "XNAS")[1][:4] for iid in IIDS}
    strategy = PortfolioStrategy(_config(returns_file, max_signal_age_bars=1, trade_start="2030-01-02"))
    strategy.instruments = dict.fromkeys(IIDS)  # on_start loads them from the cache; no trading before 2030
    first = bars[IIDS[0]][0]
    strategy.on_data(
        ModelSignal(
            instrument_id=IIDS[0],
            direction=1,
            probability=0.7,
            confidence=0.4,
            ts_event=first.ts_event,
            ts_init=first.ts_init,
        )
    )
    directions = []
    for t in range(4):
        for iid in IIDS:
            if iid == IIDS[2] and t == 1:
                continue  # JPM has no bar at t=1: the bar time completes when t=2 starts
            strategy.on_bar(bars[iid][t])
        directions.append(
            (strategy.signal_age(IIDS[0]), strategy.aggregator_signals()["AAPL.XNAS"].direction)
        )

    # t=0 complete: age 0; t=1 waits for JPM until t=2 arrives; t=2 and t=3 complete: ages 2, 3
    assert directions == [(0, 1), (0, 1), (2, 0), (3, 0)]
    assert strategy.signal_age(IIDS[1]) is None and strategy.rebalances == []
