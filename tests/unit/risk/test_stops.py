"""ATR brackets, tick rounding, trailing stops, bracket replay on OHLC paths and the multiplier search."""

import itertools

import numpy as np
import pytest

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.risk.stops import (
    atr_bracket,
    average_true_range,
    optimize_atr_multipliers,
    round_to_tick,
    simulate_bracket_returns,
    trade_objective,
    trailing_stop,
    true_range,
)
from nautilus_ai.test_kit import read_stocknet_daily


@pytest.mark.parametrize(
    ("side", "stop", "target"),
    [(1, 97.0, 106.0), (-1, 103.0, 94.0)],
)
def test_atr_bracket_places_stop_and_target_on_either_side(side, stop, target):
    bracket = atr_bracket(side, entry=100.0, atr=2.0, stop_mult=1.5, target_mult=3.0)

    assert bracket.stop_loss == pytest.approx(stop)
    assert bracket.take_profit == pytest.approx(target)


@pytest.mark.parametrize(
    ("side", "stop", "target"),
    [(1, 98.70, 102.65), (-1, 101.30, 97.35)],
)
def test_atr_bracket_rounds_to_tick_towards_the_entry(side, stop, target):
    bracket = atr_bracket(side, entry=100.0, atr=1.337, stop_mult=1.0, target_mult=2.0, tick=0.05)

    assert bracket.stop_loss == stop
    assert bracket.take_profit == target


def test_atr_bracket_keeps_one_tick_from_entry_when_atr_is_tiny():
    long = atr_bracket(1, entry=100.0, atr=0.001, stop_mult=1.0, target_mult=1.0, tick=0.01)
    short = atr_bracket(-1, entry=100.0, atr=0.001, stop_mult=1.0, target_mult=1.0, tick=0.01)

    assert (long.stop_loss, long.take_profit) == (99.99, 100.01)
    assert (short.stop_loss, short.take_profit) == (100.01, 99.99)


def test_atr_bracket_rejects_bad_inputs():
    with pytest.raises(DataError):
        atr_bracket(1, 100.0, float("nan"), 1.0, 1.0)
    with pytest.raises(ConfigError):
        atr_bracket(1, 100.0, 1.0, 0.0, 1.0)
    with pytest.raises(ConfigError):
        atr_bracket(0, 100.0, 1.0, 1.0, 1.0)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("down", 101.25), ("up", 101.50), ("nearest", 101.25)],
)
def test_round_to_tick_modes(mode, expected):
    assert float(round_to_tick(101.3, 0.25, mode)) == expected


def test_round_to_tick_keeps_prices_already_on_the_grid():
    prices = np.array([0.3, 1.1, 100.05])

    np.testing.assert_array_equal(round_to_tick(prices, 0.05, "down"), prices)
    np.testing.assert_array_equal(round_to_tick(prices, 0.05, "up"), prices)


def test_trailing_stop_follows_the_best_price_and_never_loosens():
    stop = trailing_stop(1, current_stop=95.0, best_price=110.0, atr=2.0, trail_mult=3.0)
    unchanged = trailing_stop(1, current_stop=stop, best_price=105.0, atr=2.0, trail_mult=3.0)
    short = trailing_stop(-1, current_stop=105.0, best_price=90.0, atr=2.0, trail_mult=3.0)
    short_unchanged = trailing_stop(-1, current_stop=short, best_price=95.0, atr=2.0, trail_mult=3.0)

    assert stop == 104.0
    assert unchanged == 104.0
    assert short == 96.0
    assert short_unchanged == 96.0


def test_true_range_and_wilder_atr_by_hand():
    high = np.array([10.0, 11.0, 12.0, 11.5])
    low = np.array([9.0, 10.0, 10.5, 9.5])
    close = np.array([9.5, 10.8, 11.0, 10.0])

    ranges = true_range(high, low, close)
    atr = average_true_range(high, low, close, period=2)

    np.testing.assert_allclose(ranges, [1.0, 1.5, 1.5, 2.0])  # bar 1: |11 - 9.5|
    np.testing.assert_allclose(atr, [np.nan, 1.25, 1.375, 1.6875])


def _bars(rows):
    frame = np.array(rows, dtype=float)
    return frame[:, 0], frame[:, 1], frame[:, 2], frame[:, 3]


@pytest.mark.parametrize(
    ("bar_two", "expected"),
    [
        ((100.0, 103.5, 97.5, 101.0), -0.02),  # both barriers in one bar: the stop first
        ((100.0, 103.5, 99.0, 101.0), 0.03),  # target only
        ((97.0, 98.5, 96.0, 98.0), -0.03),  # gap through the stop fills at the open
        ((104.0, 105.0, 103.5, 104.5), 0.03),  # gap through the target fills at the target only
        ((100.0, 101.0, 99.0, 100.5), 0.005),  # neither: time exit at the last close
    ],
)
def test_simulated_long_bracket_uses_conservative_fills(bar_two, expected):
    open_, high, low, close = _bars(
        [(100.0, 100.0, 100.0, 100.0), (100.0, 101.0, 99.0, 100.0), bar_two, (100.0, 110.0, 90.0, 100.0)]
    )
    atr = np.ones(4)

    returns = simulate_bracket_returns(open_, high, low, close, [0], [1], atr, 2.0, 3.0, max_holding=2)

    assert returns[0] == pytest.approx(expected)


def test_simulated_short_bracket_mirrors_the_long():
    open_, high, low, close = _bars(
        [(100.0, 100.0, 100.0, 100.0), (100.0, 102.5, 96.5, 100.0), (100.0, 100.0, 96.0, 97.0)]
    )

    returns = simulate_bracket_returns(open_, high, low, close, [0, 0], [-1, -1], np.ones(3), 2.0, 3.0, 2)

    assert returns[0] == pytest.approx(-0.02)  # 102.5 >= stop 102 before 96.5 <= target 97
    assert returns[1] == pytest.approx(-0.02)


def test_simulated_trade_without_atr_or_later_bar_is_nan():
    open_, high, low, close = _bars([(100.0, 101.0, 99.0, 100.0)] * 3)
    atr = np.array([np.nan, 1.0, 1.0])

    returns = simulate_bracket_returns(open_, high, low, close, [0, 1, 2], [1, 1, 1], atr, 1.0, 1.0, 5)

    assert np.isnan(returns[0]) and np.isfinite(returns[1]) and np.isnan(returns[2])


def _aapl_training_trades():
    frame = read_stocknet_daily("AAPL").iloc[:750]
    o, h, lo, c = (frame[col].to_numpy() for col in ("open", "high", "low", "close"))
    atr = average_true_range(h, lo, c, period=14)
    entries = np.arange(20, len(c) - 1, 3)
    momentum = np.sign(c[entries] - c[entries - 10])
    sides = np.where(momentum == 0, 1, momentum).astype(int)
    volatility = atr[entries] / c[entries]
    regimes = np.where(volatility > np.median(volatility), "high_vol", "low_vol").tolist()
    return o, h, lo, c, atr, entries, sides, regimes


def test_multiplier_search_on_real_aapl_bars_returns_the_grid_argmax_per_regime():
    o, h, lo, c, atr, entries, sides, regimes = _aapl_training_trades()
    stop_grid, target_grid = (1.0, 2.0, 3.0), (1.0, 2.0, 4.0)

    choices = optimize_atr_multipliers(
        o, h, lo, c, atr, entries, sides, regimes, stop_grid, target_grid, max_holding=10, objective="sharpe"
    )

    assert set(choices) == {"high_vol", "low_vol"}
    labels = np.array(regimes)
    for regime, choice in choices.items():
        mask = labels == regime
        scores = {
            (s, t): trade_objective(
                simulate_bracket_returns(o, h, lo, c, entries[mask], sides[mask], atr, s, t, 10), "sharpe"
            )
            for s, t in itertools.product(stop_grid, target_grid)
        }
        assert not choice.used_default
        assert choice.score == pytest.approx(max(scores.values()))
        assert scores[(choice.stop_mult, choice.target_mult)] == pytest.approx(choice.score)
        assert choice.n_trades == int(mask.sum())


def test_multiplier_search_uses_the_default_for_a_sparse_regime():
    o, h, lo, c, atr, entries, sides, _ = _aapl_training_trades()
    regimes = ["rare"] * 5 + ["common"] * (len(entries) - 5)

    choices = optimize_atr_multipliers(
        o, h, lo, c, atr, entries, sides, regimes, min_trades=20, default=(2.5, 3.5)
    )

    assert choices["rare"].used_default
    assert (choices["rare"].stop_mult, choices["rare"].target_mult) == (2.5, 3.5)
    assert not choices["common"].used_default


def test_trade_objective_mean_and_sharpe():
    returns = np.array([0.01, -0.02, 0.03, np.nan])

    assert trade_objective(returns, "mean") == pytest.approx(0.02 / 3)
    assert trade_objective(returns, "sharpe") == pytest.approx(
        (0.02 / 3) / np.std([0.01, -0.02, 0.03], ddof=1)
    )
    with pytest.raises(ConfigError):
        trade_objective(returns, "sortino")  # type: ignore[arg-type]
