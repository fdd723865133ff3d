"""Kelly sizing, payoff ratio from past trades, the combined sizing rule and instrument rounding."""

import math
from typing import Any

import numpy as np
import pytest
from scipy import optimize

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.risk.kelly import estimate_payoff_ratio, fractional_kelly, kelly_fraction, kelly_weight
from nautilus_ai.risk.sizing import SizeDecision, combine_size, instrument_quantity, round_to_instrument
from nautilus_ai.test_kit import read_stocknet_daily

DAILY = 252.0


@pytest.mark.parametrize(
    ("p", "b", "expected"),
    [
        (0.6, 1.0, 0.2),  # Thorp (2006): even-money bet with 60% win rate
        (0.55, 1.0, 0.1),
        (0.5, 2.0, 0.25),  # 2:1 odds, coin flip
        (0.4, 2.0, 0.1),
        (0.5, 1.0, 0.0),  # fair bet: no edge
        (0.4, 1.0, -0.2),  # negative edge
        (1.0, 3.0, 1.0),  # a sure win stakes everything
        (0.0, 3.0, -1.0 / 3.0),
    ],
)
def test_kelly_fraction_matches_textbook_cases(p, b, expected):
    assert kelly_fraction(p, b) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("p", "b"), [(0.6, 1.0), (0.55, 1.5), (0.45, 3.0), (0.7, 0.8)])
def test_kelly_fraction_maximizes_expected_log_growth(p, b):
    def negative_growth(f: float) -> float:
        return -(p * math.log1p(b * f) + (1.0 - p) * math.log1p(-f))

    numeric = optimize.minimize_scalar(negative_growth, bounds=(0.0, 0.999), method="bounded").x

    assert kelly_fraction(p, b) == pytest.approx(numeric, abs=1e-4)


def test_fractional_kelly_scales_and_floors_at_zero():
    assert fractional_kelly(0.6, 1.0, 0.5) == pytest.approx(0.1)
    assert fractional_kelly(0.6, 1.0, 0.25) == pytest.approx(0.05)
    assert fractional_kelly(0.4, 1.0, 1.0) == 0.0


def test_kelly_weight_is_signed_by_direction_and_never_reversed():
    assert kelly_weight(1, 0.6, 1.0, 0.5) == pytest.approx(0.1)
    assert kelly_weight(-1, 0.6, 1.0, 0.5) == pytest.approx(-0.1)
    assert kelly_weight(-1, 0.3, 1.0, 0.5) == 0.0  # a weak short does not become a long
    assert kelly_weight(0, 0.9, 1.0, 0.5) == 0.0


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: kelly_fraction(1.2, 1.0), ConfigError),
        (lambda: kelly_fraction(0.6, 0.0), ConfigError),
        (lambda: kelly_fraction(0.6, math.nan), ConfigError),
        (lambda: fractional_kelly(0.6, 1.0, 0.0), ConfigError),
        (lambda: kelly_weight(2, 0.6, 1.0, 0.5), ConfigError),
        (lambda: estimate_payoff_ratio([0.1, math.nan]), DataError),
    ],
)
def test_kelly_inputs_are_checked(call, error):
    with pytest.raises(error):
        call()


def test_payoff_ratio_is_mean_win_over_mean_loss():
    estimate = estimate_payoff_ratio([0.02, 0.04, -0.01, -0.03, 0.0], min_trades_per_side=2)

    assert estimate.payoff_ratio == pytest.approx(0.03 / 0.02)
    assert estimate.win_rate == pytest.approx(0.4)
    assert (estimate.n_wins, estimate.n_losses, estimate.used_fallback) == (2, 2, False)


def test_payoff_ratio_falls_back_with_too_few_trades():
    estimate = estimate_payoff_ratio([0.02, 0.04, -0.01], min_trades_per_side=2, fallback=1.2)

    assert estimate.payoff_ratio == 1.2
    assert estimate.used_fallback


def test_payoff_ratio_of_real_daily_returns_is_near_one():
    close = read_stocknet_daily("AAPL")["adj_close"].to_numpy()
    daily_returns = np.diff(close) / close[:-1]

    estimate = estimate_payoff_ratio(daily_returns)

    assert not estimate.used_fallback
    assert 0.7 < estimate.payoff_ratio < 1.4
    assert 0.4 < estimate.win_rate < 0.6


def _combine(**overrides: float) -> SizeDecision:
    arguments: dict[str, Any] = {
        "direction": 1,
        "probability": 0.6,
        "payoff_ratio": 1.0,
        "kelly_multiplier": 0.5,
        "bar_volatility": 0.01,
        "target_volatility": 0.10,
        "periods_per_year": DAILY,
        "equity": 1_000_000.0,
        "max_position_weight": 0.5,
        "max_position_notional": math.inf,
    }
    arguments.update(overrides)
    return combine_size(**arguments)


@pytest.mark.parametrize(
    ("overrides", "weight", "binding"),
    [
        ({}, 0.1, "kelly"),  # kelly 0.1 < vol target 0.63
        ({"bar_volatility": 0.1}, 0.10 / (0.1 * math.sqrt(DAILY)), "vol_target"),
        ({"probability": 0.9, "max_position_weight": 0.2}, 0.2, "position_weight"),
        ({"probability": 0.9, "max_position_notional": 150_000.0}, 0.15, "position_notional"),
        ({"direction": -1}, -0.1, "kelly"),
        ({"probability": 0.45}, 0.0, "kelly"),  # no edge: no position
        ({"bar_volatility": math.nan}, 0.0, "vol_target"),  # unknown risk: no position
        ({"direction": 0}, 0.0, "flat"),
    ],
)
def test_combine_size_takes_the_tightest_constraint(overrides, weight, binding):
    decision = _combine(**overrides)

    assert decision.weight == pytest.approx(weight, abs=1e-12)
    assert decision.binding == binding


def test_combine_size_weight_is_the_minimum_of_its_candidates():
    decision = _combine(probability=0.7, bar_volatility=0.012)

    assert abs(decision.weight) == pytest.approx(min(decision.candidates.values()))


def test_combine_size_rejects_bad_config():
    with pytest.raises(ConfigError, match="equity"):
        _combine(equity=0.0)
    with pytest.raises(ConfigError, match="target_volatility"):
        _combine(target_volatility=0.0)


@pytest.mark.parametrize(
    ("quantity", "price", "lot", "min_qty", "min_notional", "precision", "expected"),
    [
        (123.7, 10.0, 1.0, 0.0, 0.0, 0, 123.0),
        (-123.7, 10.0, 1.0, 0.0, 0.0, 0, -123.0),  # towards zero for shorts too
        (250.0, 10.0, 100.0, 0.0, 0.0, 0, 200.0),  # round lots
        (0.3, 10.0, 0.1, 0.0, 0.0, 1, 0.3),  # 0.3 / 0.1 = 2.9999999999999996 in binary
        (1.23456, 30_000.0, 0.001, 0.0, 0.0, 3, 1.234),
        (0.00099, 30_000.0, 0.001, 0.0, 0.0, 3, 0.0),  # under one lot
        (5.0, 1.0, 1.0, 0.0, 10.0, 0, 0.0),  # notional 5 < minimum 10
        (5.0, 1.0, 1.0, 6.0, 0.0, 0, 0.0),  # under the minimum quantity
        (12.0, 1.0, 1.0, 6.0, 10.0, 0, 12.0),
        (0.0, 10.0, 1.0, 0.0, 0.0, 0, 0.0),
    ],
)
def test_round_to_instrument_decision_table(quantity, price, lot, min_qty, min_notional, precision, expected):
    assert round_to_instrument(quantity, price, lot, min_qty, min_notional, precision) == expected


def test_round_to_instrument_checks_inputs():
    with pytest.raises(ConfigError, match="lot"):
        round_to_instrument(1.0, 1.0, 0.0, 0.0, 0.0, 0)
    with pytest.raises(DataError, match="finite"):
        round_to_instrument(math.nan, 1.0, 1.0, 0.0, 0.0, 0)


def test_instrument_quantity_sizes_a_real_aapl_position():
    price = float(read_stocknet_daily("AAPL")["close"].iloc[-1])

    quantity = instrument_quantity(0.1, 100_000.0, price, lot=1.0, min_notional=100.0)

    assert quantity == math.floor(10_000.0 / price)
    assert quantity * price <= 10_000.0
