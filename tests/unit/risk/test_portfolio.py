"""Portfolio aggregator: riskfolio-lib allocations reproduced, limits, turnover, CVaR and order intents."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import riskfolio as rp

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.risk.cvar import portfolio_cvar
from nautilus_ai.risk.limits import RiskLimits, limit_breaches
from nautilus_ai.risk.montecarlo import historical_scenarios
from nautilus_ai.risk.portfolio import (
    STOCKNET_SECTORS,
    AggregatorConfig,
    InstrumentRules,
    Signal,
    apply_turnover_limit,
    book_weights,
    optimizer_weights,
    rebalance_weights,
    sectors_of,
    signal_weights,
    weights_to_intents,
    weights_to_quantities,
)
from nautilus_ai.test_kit import read_stocknet_daily, shared_data_dir

SYMBOLS = ("AAPL", "MSFT", "GOOG", "XOM", "JPM", "BAC", "GE", "AMZN")
DIRECTIONS = (1, 1, -1, -1, 1, 0, -1, 1)


@pytest.fixture(scope="module")
def returns() -> pd.DataFrame:
    closes = pd.concat({s: read_stocknet_daily(s)["adj_close"] for s in SYMBOLS}, axis=1)
    return closes.pct_change().iloc[1:].iloc[-500:]


@pytest.fixture(scope="module")
def signals() -> dict[str, Signal]:
    return {s: Signal(d, 0.6) for s, d in zip(SYMBOLS, DIRECTIONS, strict=True)}


def test_stocknet_sectors_cover_every_stocknet_ticker():
    folder = shared_data_dir()
    tickers = (
        sorted(p.stem for p in (folder / "bars_daily" / "stocknet").glob("*.csv"))
        if folder
        else list(SYMBOLS)
    )

    assert all(t in STOCKNET_SECTORS for t in tickers)
    assert set(STOCKNET_SECTORS.values()) == {
        "Basic Materials", "Consumer Goods", "Healthcare", "Services", "Utilities",
        "Conglomerates", "Financial", "Industrial Goods", "Technology",
    }  # fmt: skip
    assert sectors_of(["AAPL.XNAS", "JPM", "ZZZ"]) == ["Consumer Goods", "Financial", "UNGROUPED:ZZZ"]


def test_hrp_weights_reproduce_riskfolio(returns):
    data = returns[["AAPL", "MSFT", "XOM", "JPM"]].dropna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = rp.HCPortfolio(returns=data).optimization(
            model="HRP", codependence="pearson", rm="MV", rf=0, linkage="single"
        )

    weights = optimizer_weights(data, "hrp")

    np.testing.assert_allclose(weights.to_numpy(), reference["weights"].to_numpy(), atol=1e-10)
    assert weights.sum() == pytest.approx(1.0)


def test_mean_cvar_weights_reproduce_riskfolio(returns):
    data = returns[["AAPL", "MSFT", "XOM", "JPM"]].dropna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        portfolio = rp.Portfolio(returns=data, alpha=0.05)
        portfolio.assets_stats(method_mu="hist", method_cov="hist")
        reference = portfolio.optimization(model="Classic", rm="CVaR", obj="Sharpe", rf=0, hist=True)

    weights = optimizer_weights(data, "mean_cvar", cvar_alpha=0.95)

    np.testing.assert_allclose(weights.to_numpy(), reference["weights"].to_numpy(), atol=1e-4)


@pytest.mark.parametrize("method", ["mean_cvar", "hrp", "kelly"])
def test_optimizer_weights_are_long_only_and_sum_to_one(returns, method):
    weights = optimizer_weights(returns[list(SYMBOLS[:5])].dropna(), method)

    assert weights.sum() == pytest.approx(1.0)
    assert (weights >= 0.0).all()
    assert list(weights.index) == list(SYMBOLS[:5])


def test_signal_weights_follow_directions_and_skip_weak_signals(returns, signals):
    config = AggregatorConfig(method="hrp", gross_target=0.8, min_probability=0.55)
    weak = {**signals, "AMZN": Signal(1, 0.52)}

    weights = signal_weights(weak, returns, config)

    assert weights["BAC"] == 0.0 and weights["AMZN"] == 0.0
    for symbol, direction in zip(SYMBOLS[:-1], DIRECTIONS[:-1], strict=True):
        assert np.sign(weights[symbol]) == direction
    assert weights.abs().sum() == pytest.approx(0.8)


def test_signal_weights_short_is_allocated_on_negated_returns(returns):
    config = AggregatorConfig(method="hrp")
    long_only = signal_weights({"XOM": Signal(1, 0.6), "JPM": Signal(1, 0.6)}, returns, config)

    mixed = signal_weights({"XOM": Signal(-1, 0.6), "JPM": Signal(1, 0.6)}, returns, config)

    assert mixed["XOM"] < 0.0 < mixed["JPM"]
    assert abs(mixed["XOM"]) + mixed["JPM"] == pytest.approx(1.0)
    assert long_only.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("method", ["mean_cvar", "hrp", "kelly"])
def test_rebalance_honours_every_cap(returns, signals, method):
    limits = RiskLimits(
        max_position_weight=0.2, max_group_weight=0.3, max_gross_leverage=0.9, max_net_leverage=0.25
    )
    config = AggregatorConfig(method=method, gross_target=1.5, limits=limits)

    plan = rebalance_weights(signals, returns, {"AAPL": 0.1, "XOM": -0.05}, 1_000_000.0, config)

    universe = list(plan.target_weights.index)
    assert limit_breaches(plan.target_weights.to_numpy(), limits, 1_000_000.0, sectors_of(universe)) == []
    assert "limits" in plan.steps


def test_rebalance_limits_the_turnover(returns, signals):
    config = AggregatorConfig(method="hrp", max_turnover=0.25, limits=RiskLimits(max_position_weight=0.3))
    current = {"AAPL": 0.1}

    plan = rebalance_weights(signals, returns, current, 1_000_000.0, config)

    previous = np.array([current.get(i, 0.0) for i in plan.target_weights.index])
    assert np.abs(plan.target_weights.to_numpy() - previous).sum() == pytest.approx(0.25)
    assert "turnover" in plan.steps


def test_rebalance_forces_a_book_over_its_limits_back_inside(returns, signals):
    limits = RiskLimits(max_position_weight=0.1)
    config = AggregatorConfig(method="hrp", max_turnover=0.01, limits=limits)

    plan = rebalance_weights(signals, returns, {"AAPL": 0.5}, 1_000_000.0, config)

    assert plan.target_weights["AAPL"] == pytest.approx(0.1)
    assert "limits_over_turnover" in plan.steps


def test_rebalance_keeps_the_book_within_the_cvar_budget(returns, signals):
    budget = 0.008
    config = AggregatorConfig(method="kelly", cvar_budget=budget, limits=RiskLimits(max_position_weight=0.5))

    plan = rebalance_weights(signals, returns, {}, 1_000_000.0, config)

    universe = list(plan.target_weights.index)
    scenarios = historical_scenarios(returns[universe].dropna(), 1)
    assert plan.risk_decision is not None
    assert plan.risk_decision.action == "shrink"
    assert portfolio_cvar(plan.target_weights.to_numpy(), scenarios) <= budget + 1e-12


def test_rebalance_uses_a_sector_mapping_from_config(returns, signals):
    limits = RiskLimits(max_position_weight=1.0, max_group_weight=0.2)
    config = AggregatorConfig(method="hrp", limits=limits)
    one_group = dict.fromkeys(SYMBOLS, "everything")

    plan = rebalance_weights(signals, returns, {}, 1_000_000.0, config, sectors=one_group)

    assert plan.target_weights.abs().sum() == pytest.approx(0.2)


def test_apply_turnover_limit_scales_the_change():
    moved = apply_turnover_limit(np.array([0.2, 0.0]), np.array([0.0, 0.4]), max_turnover=0.3)

    np.testing.assert_allclose(moved, [0.1, 0.2])


def test_weights_to_intents_rounds_and_trades(returns):
    prices = {"AAPL": 150.0, "MSFT": 75.0, "XOM": 80.0, "JPM": 95.0}
    current = {"AAPL": 100.0, "XOM": -50.0, "JPM": 40.0}
    targets = {"AAPL": 0.1, "MSFT": -0.05, "XOM": -0.04}  # JPM is not in the targets: close it

    intents = weights_to_intents(targets, current, 100_000.0, prices)

    assert intents["AAPL"].side == "SELL" and intents["AAPL"].target_quantity == 66.0
    assert intents["MSFT"].side == "SELL" and intents["MSFT"].target_quantity == -66.0
    assert "XOM" not in intents  # -0.04 * 100000 / 80 = -50: already there
    assert intents["JPM"].side == "SELL" and intents["JPM"].target_quantity == 0.0


def test_weights_to_intents_band_skips_small_increases_but_never_reductions():
    prices = {"A": 10.0, "B": 10.0}
    current = {"A": 950.0, "B": 1050.0}
    targets = {"A": 0.1, "B": 0.1}  # 1000 shares each

    intents = weights_to_intents(targets, current, 100_000.0, prices, band=0.1)

    assert "A" not in intents  # +50 within the band: skipped
    assert intents["B"].side == "SELL" and intents["B"].quantity == 50.0  # reductions always trade


def test_weights_to_quantities_apply_instrument_rules_and_the_net_cap():
    prices = {"BTC": 30_000.0, "ETH": 2_000.0, "SOL": 20.0}
    rules = {
        "BTC": InstrumentRules(lot=0.001, size_precision=3, min_notional=10.0),
        "ETH": InstrumentRules(lot=0.01, size_precision=2, min_notional=10.0),
        "SOL": InstrumentRules(lot=1.0, min_notional=100.0),
    }
    targets = {"BTC": 0.30, "ETH": -0.1999, "SOL": 0.0005}

    quantities = weights_to_quantities(targets, 100_000.0, prices, rules, max_net_leverage=0.1)
    weights = book_weights(quantities, prices, 100_000.0, rules)

    assert quantities["SOL"] == 0.0  # 2.5 units -> 2, notional 40 < 100
    assert abs(quantities["ETH"]) <= 9.995 and quantities["ETH"] == pytest.approx(-9.99)
    assert sum(weights.values()) <= 0.1 + 1e-12  # trimmed after rounding
    assert quantities["BTC"] <= 1.0


def test_weights_to_intents_needs_prices():
    with pytest.raises(DataError, match="price"):
        weights_to_intents({"AAPL": 0.1}, {}, 100_000.0, {})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "markowitz"},
        {"gross_target": 0.0},
        {"min_probability": 1.5},
        {"max_turnover": 0.0},
        {"cvar_budget": -0.01},
        {"cvar_alpha": 95.0},
    ],
)
def test_aggregator_config_rejects_bad_values(kwargs):
    with pytest.raises(ConfigError):
        AggregatorConfig(**kwargs)


def test_signal_rejects_bad_values():
    with pytest.raises(ConfigError):
        Signal(2, 0.5)
    with pytest.raises(ConfigError):
        Signal(1, math.nan)
