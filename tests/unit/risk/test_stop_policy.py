"""The learned stop policy: determinism, pickle-free round trip, state-dependent best arm, no peeking."""

import numpy as np
import pytest
import torch

from nautilus_ai.errors import ConfigError, DataError, ModelError
from nautilus_ai.risk.stop_policy import (
    FORMAT_HEADER,
    StopPolicy,
    StopState,
    arm_grid,
    bracket_reward_matrix,
)
from nautilus_ai.risk.stops import average_true_range, simulate_bracket_returns
from nautilus_ai.test_kit import read_stocknet_daily

torch.set_num_threads(1)

STOPS = (1.0, 2.0, 3.0)
TARGETS = (1.0, 3.0)


def _synthetic_bandit(n=1500, seed=7):
    """Rewards where the high-vol regime prefers the widest stop and the low-vol regime the tightest.

    Arm order is product(STOPS, TARGETS): arm 0 = (1, 1), arm 4 = (3, 1). In regime 0 (low vol) arm 0
    pays 0.3 more than the rest; in regime 2 (high vol) arm 4 does; in regime 1 arm 3 = (2, 3) does.
    """
    rng = np.random.default_rng(seed)
    regime = rng.integers(0, 3, n)
    probabilities = np.eye(3)[regime]
    volatility = np.exp(np.array([-4.5, -4.0, -3.5])[regime] + 0.1 * rng.standard_normal(n))
    confidence = rng.random(n)
    sides = rng.choice([-1.0, 1.0], n)
    rewards = 0.5 * rng.standard_normal((n, len(STOPS) * len(TARGETS)))
    best = np.array([0, 3, 4])[regime]
    rewards[np.arange(n), best] += 0.3
    return probabilities, volatility, confidence, sides, rewards


def _policy(**kwargs):
    params = {"stop_grid": STOPS, "target_grid": TARGETS, "n_regimes": 3, "epochs": 150, "seed": 3}
    params.update(kwargs)
    return StopPolicy(**params)


def test_arm_grid_follows_product_order():
    assert arm_grid((1.0, 2.0), (3.0, 4.0)) == [(1.0, 3.0), (1.0, 4.0), (2.0, 3.0), (2.0, 4.0)]
    with pytest.raises(ConfigError):
        arm_grid((0.0,), (1.0,))


def test_policy_learns_that_high_volatility_prefers_wide_stops():
    data = _synthetic_bandit()
    policy = _policy().fit(*data)

    arms = policy.select_arms(np.eye(3), np.exp([-4.5, -4.0, -3.5]), np.full(3, 0.5), np.ones(3))

    assert [policy.arms_[a] for a in arms] == [(1.0, 1.0), (2.0, 3.0), (3.0, 1.0)]
    assert policy.select(StopState((0.0, 0.0, 1.0), float(np.exp(-3.5)), 0.5, -1)) == (3.0, 1.0)


def test_policy_learns_a_mapping_from_continuous_volatility():
    rng = np.random.default_rng(11)
    n = 2000
    log_vol = rng.uniform(-5.0, -3.0, n)
    rewards = 0.3 * rng.standard_normal((n, 2))
    rewards[:, 1] += np.where(log_vol > -4.0, 0.4, -0.4)  # arm 1 = wide stop pays in high volatility
    policy = StopPolicy((1.0, 3.0), (2.0,), n_regimes=1, epochs=200, seed=0).fit(
        np.ones((n, 1)), np.exp(log_vol), np.zeros(n), np.ones(n), rewards
    )

    stop, _ = policy.select_multipliers(np.ones((2, 1)), np.exp([-4.7, -3.3]), np.zeros(2), np.ones(2))

    assert stop.tolist() == [1.0, 3.0]


def test_fit_is_deterministic_for_a_seed():
    data = _synthetic_bandit()

    first = _policy().fit(*data).to_bytes()
    second = _policy().fit(*data).to_bytes()
    other_seed = _policy(seed=4).fit(*data).to_bytes()

    assert first == second
    assert first != other_seed


def test_round_trip_through_bytes_keeps_predictions():
    data = _synthetic_bandit()
    policy = _policy().fit(*data)

    blob = policy.to_bytes()
    loaded = StopPolicy.from_bytes(blob)

    assert blob.startswith(FORMAT_HEADER)
    assert b"pickle" not in blob.split(b"\n")[1]
    np.testing.assert_array_equal(loaded.predict_rewards(*data[:4]), policy.predict_rewards(*data[:4]))
    assert loaded.arms_ == policy.arms_
    assert loaded.to_bytes() == blob


def test_from_bytes_rejects_foreign_or_truncated_data():
    blob = _policy().fit(*_synthetic_bandit(n=200)).to_bytes()

    with pytest.raises(ModelError, match="header"):
        StopPolicy.from_bytes(b"something else")
    with pytest.raises(ModelError, match="corrupted"):
        StopPolicy.from_bytes(blob[:-8])


def test_epsilon_exploration_is_seeded_and_off_by_default():
    data = _synthetic_bandit(n=300)
    state = StopState((1.0, 0.0, 0.0), float(np.exp(-4.5)), 0.5, 1)
    greedy = _policy().fit(*data)
    explorer_a = _policy(epsilon=1.0).fit(*data)
    explorer_b = _policy(epsilon=1.0).fit(*data)

    draws_a = [explorer_a.select(state, explore=True) for _ in range(30)]
    draws_b = [explorer_b.select(state, explore=True) for _ in range(30)]

    assert {greedy.select(state, explore=True) for _ in range(10)} == {greedy.select(state)}
    assert draws_a == draws_b
    assert len(set(draws_a)) > 1


def test_invalid_inputs_raise():
    with pytest.raises(ConfigError):
        StopPolicy(epsilon=1.5)
    with pytest.raises(ModelError):
        StopPolicy().select(StopState((1.0, 0.0, 0.0), 0.01, 0.5, 1))
    probabilities, volatility, confidence, sides, rewards = _synthetic_bandit(n=50)
    with pytest.raises(DataError):
        _policy().fit(probabilities, -volatility, confidence, sides, rewards)
    with pytest.raises(DataError):
        _policy().fit(probabilities, volatility, confidence, sides, rewards[:, :2])


def _fit_on_bars_before(frame, cut, max_holding=10):
    """Fit a policy on the trades of ``frame`` whose outcome ends before position ``cut``."""
    history = frame.iloc[:cut]
    o, h, lo, c = (history[k].to_numpy() for k in ("open", "high", "low", "close"))
    atr = average_true_range(h, lo, c)
    index = np.arange(20, cut - max_holding)
    sides = np.where(c[index] > c[index - 5], 1.0, -1.0)
    volatility = atr[index] / c[index]
    regime = np.eye(3)[np.digitize(volatility, np.quantile(volatility, [1 / 3, 2 / 3]))]
    rewards = bracket_reward_matrix(o, h, lo, c, atr, index, sides, arm_grid(STOPS, TARGETS), max_holding)
    return _policy(epochs=50).fit(regime, volatility, np.full(index.size, 0.5), sides, rewards)


def test_policy_fitted_on_a_training_window_ignores_the_future():
    frame = read_stocknet_daily("AAPL")
    cut = 500
    shocked = frame.copy()
    shocked.iloc[cut:, :4] *= np.random.default_rng(0).uniform(0.5, 1.5, (len(frame) - cut, 1))

    assert _fit_on_bars_before(frame, cut).to_bytes() == _fit_on_bars_before(shocked, cut).to_bytes()


def test_reward_matrix_matches_the_bracket_replay_in_atr_units():
    frame = read_stocknet_daily("XOM").iloc[:300]
    o, h, lo, c = (frame[k].to_numpy() for k in ("open", "high", "low", "close"))
    atr = average_true_range(h, lo, c)
    index = np.arange(20, 280)
    sides = np.where(index % 2 == 0, 1.0, -1.0)

    rewards = bracket_reward_matrix(o, h, lo, c, atr, index, sides, [(2.0, 3.0), (1.0, 1.0)], 10)
    raw = bracket_reward_matrix(o, h, lo, c, atr, index, sides, [(2.0, 3.0)], 10, reward="return")

    expected = simulate_bracket_returns(o, h, lo, c, index, sides, atr, 2.0, 3.0, 10)
    np.testing.assert_allclose(raw[:, 0], expected)
    np.testing.assert_allclose(rewards[:, 0], expected / (atr[index] / c[index]))
    assert rewards.shape == (index.size, 2)
