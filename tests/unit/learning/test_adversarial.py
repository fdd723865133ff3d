"""Adversarial training: the scenario box, stressed bars, the adversary, the perturbations, the loop."""

import numpy as np
import pandas as pd
import pytest

from nautilus_ai.backtest.scenarios import bar_log_ratios
from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.indicators.feature_spec import FeatureSpec
from nautilus_ai.learning.adversarial import (
    AdversarialConfig,
    Scenario,
    ScenarioBounds,
    add_feature_noise,
    adversarial_train,
    apply_scenario,
    evaluate_scenario,
    parse_adversarial_config,
    parse_scenario_bounds,
    perturb_sequences,
    position_returns,
    search_worst_scenario,
    training_rows,
)
from nautilus_ai.learning.sequence import make_sequences
from nautilus_ai.learning.staged import StagedModel
from nautilus_ai.learning.train_staged import StagedParams, fit_staged
from nautilus_ai.test_kit import read_stocknet_daily

SPEC = FeatureSpec()
NAMES = SPEC.feature_names()
START = pd.Timestamp("2014-01-01", tz="UTC")
END = pd.Timestamp("2015-01-01", tz="UTC")
TEST_START = pd.Timestamp("2015-01-01", tz="UTC")
TEST_END = pd.Timestamp("2015-07-01", tz="UTC")
PARAMS = StagedParams(
    params={"n_estimators": 20, "num_leaves": 7, "min_child_samples": 20},
    stage2={"kind": "lstm", "window": 5, "hidden": 8, "max_epochs": 3, "patience": 2},
    seed=5,
)


@pytest.fixture(scope="module")
def bars() -> dict[str, pd.DataFrame]:
    frame = read_stocknet_daily("AAPL")
    return {"AAPL.XNAS": frame[frame.index < TEST_END]}


@pytest.fixture(scope="module")
def model(bars) -> StagedModel:
    rows, history = training_rows(bars, SPEC, 5, START, END)
    return fit_staged(rows, NAMES, SPEC.fingerprint(), PARAMS, history=history)


@pytest.fixture(scope="module")
def windows(bars, model) -> tuple[np.ndarray, np.ndarray]:
    rows, history = training_rows(bars, SPEC, 5, START, END)
    sequences, valid = make_sequences(history[NAMES].to_numpy(), 5, dtype=np.float64)
    keep = valid & np.isin(history.index, rows.index)
    labels = (history["fwd_return"].to_numpy()[keep] > 0).astype(float)
    return sequences[keep], labels


def _bce(model: StagedModel, sequences: np.ndarray, labels: np.ndarray) -> float:
    assert model.stage2 is not None
    p = np.clip(model.stage2.predict_proba(sequences), 1e-12, 1 - 1e-12)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))


# ------------------------------------------------------------------------------------------ bounds
def test_bounds_reject_a_low_end_above_the_high_end_naming_the_field():
    with pytest.raises(ConfigError, match=r"adv\.toml: .*volatility_multiplier: low 3.0 is above high 1.0"):
        parse_scenario_bounds({"volatility_multiplier": [3.0, 1.0]}, source="adv.toml")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("gap", [0.0, 1.0], r"gap: \[0.0, 1.0\] must lie in \[0, 1\)"),
        ("drift_reversal", [0.0, 1.5], r"drift_reversal: \[0.0, 1.5\] must lie in \[0, 1\]"),
        ("spread_bp", [-1.0, 5.0], r"spread_bp: \[-1.0, 5.0\] must lie in \[0, inf\]"),
        ("volatility_multiplier", [0.0, 2.0], r"volatility_multiplier: \[0.0, 2.0\] must lie in"),
    ],
)
def test_bounds_reject_ranges_outside_what_the_kernels_accept(field, value, message):
    with pytest.raises(ConfigError, match=message):
        parse_scenario_bounds({field: value})


def test_config_rejects_unknown_keys_and_objectives():
    with pytest.raises(ConfigError, match=r"\[bounds.volume\]"):
        parse_adversarial_config({"bounds": {"volume": [0.0, 1.0]}})
    with pytest.raises(ConfigError, match=r"\[objective\]"):
        parse_adversarial_config({"objective": "sortino"})


def test_every_point_of_the_unit_cube_maps_inside_the_box():
    bounds = ScenarioBounds(volatility_multiplier=(0.5, 3.0), gap=(0.05, 0.2), spread_bp=(2.0, 4.0))
    rng = np.random.default_rng(0)

    scenarios = [bounds.scenario_at(u) for u in rng.uniform(-0.5, 1.5, (200, 5))]

    assert all(bounds.contains(s) for s in scenarios)
    assert bounds.scenario_at(np.zeros(5)).gap == 0.05
    assert bounds.scenario_at(np.ones(5)).volatility_multiplier == 3.0


# ------------------------------------------------------------------------------------------ stressed bars
def test_apply_scenario_keeps_the_warmup_and_stresses_the_window_as_declared(bars):
    frame = bars["AAPL.XNAS"]
    scenario = Scenario(volatility_multiplier=2.0, drift_reversal=1.0)

    stressed = apply_scenario(bars, scenario, seed=3, start=START)["AAPL.XNAS"]

    before, after = frame.index < START, frame.index >= START
    pd.testing.assert_frame_equal(stressed[before], frame.loc[before, list(stressed.columns)])
    anchor = float(frame.loc[before, "close"].iloc[-1])
    real = bar_log_ratios(frame[after], anchor)[:, 3]
    new = bar_log_ratios(stressed[after], anchor)[:, 3]
    assert new.std() == pytest.approx(2.0 * real.std(), rel=1e-9)
    assert new.mean() == pytest.approx(-real.mean(), abs=1e-12)
    prices = stressed[["open", "high", "low", "close"]]
    assert (prices.gt(0).all(axis=None)) and (stressed["high"] >= prices.max(axis=1) - 1e-9).all()
    assert (stressed["low"] <= prices.min(axis=1) + 1e-9).all()


def test_a_gap_moves_exactly_one_bar_by_its_size(bars):
    frame = bars["AAPL.XNAS"]

    stressed = apply_scenario(bars, Scenario(gap=0.1), seed=11, start=START)["AAPL.XNAS"]

    after = frame.index >= START
    anchor = float(frame.loc[~after, "close"].iloc[-1])
    shift = bar_log_ratios(stressed[after], anchor)[:, 3] - bar_log_ratios(frame[after], anchor)[:, 3]
    moved = np.flatnonzero(np.abs(shift) > 1e-12)
    assert len(moved) == 1
    assert shift[moved[0]] == pytest.approx(np.log(0.9))


def test_apply_scenario_refuses_a_start_after_the_data(bars):
    with pytest.raises(DataError, match="no bar at or after"):
        apply_scenario(bars, Scenario(), seed=0, start=pd.Timestamp("2030-01-01", tz="UTC"))


def test_feature_noise_touches_only_the_masked_rows_at_the_declared_scale():
    features = np.random.default_rng(1).normal(0.0, [1.0, 10.0], (4000, 2))
    rows = np.arange(4000) >= 2000

    noisy = add_feature_noise(features, 0.5, seed=2, rows=rows)

    np.testing.assert_array_equal(noisy[~rows], features[~rows])
    ratio = (noisy[rows] - features[rows]).std(axis=0) / features[rows].std(axis=0)
    np.testing.assert_allclose(ratio, [0.5, 0.5], rtol=0.05)


def test_position_returns_pay_the_move_of_the_held_position_less_turnover_costs():
    net, gross = position_returns(np.array([1.0, 1.0, -1.0, 0.0]), np.array([100.0, 110.0, 99.0, 99.0]), 10.0)

    np.testing.assert_allclose(gross, [0.10, -0.10, 0.0])
    np.testing.assert_allclose(net, [0.10 - 0.001, -0.10, 0.0 - 0.002])


# ------------------------------------------------------------------------------------------ adversary
def _objective(model, bars):
    def objective(scenario: Scenario) -> float:
        return evaluate_scenario(
            model, bars, SPEC, scenario, 1, start=TEST_START, end=TEST_END, cost_bp=1.0
        ).objective("sharpe")

    return objective


def test_the_adversary_finds_a_scenario_worse_than_the_unstressed_market(model, bars):
    objective = _objective(model, bars)
    bounds = ScenarioBounds()

    found = search_worst_scenario(objective, bounds, trials=6, refine_trials=3, seed=4)

    assert found.objective < objective(Scenario())
    assert bounds.contains(found.scenario)
    assert found.objective == min(value for _, value in found.trials)
    assert len(found.trials) == 9


def test_the_adversary_is_deterministic_for_a_seed_and_explores_differently_for_another(model, bars):
    objective = _objective(model, bars)

    first = search_worst_scenario(objective, ScenarioBounds(), trials=5, refine_trials=2, seed=4)
    again = search_worst_scenario(objective, ScenarioBounds(), trials=5, refine_trials=2, seed=4)
    other = search_worst_scenario(objective, ScenarioBounds(), trials=5, refine_trials=2, seed=5)

    assert first.trials == again.trials
    assert [s for s, _ in first.trials[2:]] != [s for s, _ in other.trials[2:]]


def test_the_adversary_minimises_a_known_function_inside_the_box():
    bounds = ScenarioBounds(spread_bp=(0.0, 10.0))

    found = search_worst_scenario(
        lambda s: (s.spread_bp - 7.0) ** 2 + s.gap, bounds, trials=20, refine_trials=40, seed=0
    )

    assert found.scenario.spread_bp == pytest.approx(7.0, abs=0.5)


# ------------------------------------------------------------------------------------------ perturbations
def test_perturbations_stay_inside_the_epsilon_ball_of_the_standardized_inputs(model, windows):
    sequences, labels = windows
    sequences = sequences.copy()
    sequences[0, 0, 0] = np.nan

    perturbed = perturb_sequences(model.stage2, sequences, labels, 0.2, steps=3)

    moved = np.abs(perturbed - sequences) / model.stage2.scale_
    assert np.nanmax(moved) <= 0.2 + 1e-9
    assert np.nanmax(moved) > 0.19
    assert np.isnan(perturbed[0, 0, 0])
    assert np.isfinite(perturbed[1:]).all()


def test_perturbations_raise_the_loss_more_than_random_noise_of_the_same_size(model, windows):
    sequences, labels = windows
    epsilon = 0.1
    signs = np.random.default_rng(0).choice([-1.0, 1.0], size=sequences.shape)
    noisy = sequences + epsilon * signs * model.stage2.scale_

    adversarial = perturb_sequences(model.stage2, sequences, labels, epsilon)

    clean_loss = _bce(model, sequences, labels)
    assert _bce(model, adversarial, labels) > _bce(model, noisy, labels)
    assert _bce(model, adversarial, labels) > clean_loss


def test_perturbations_refuse_a_negative_radius(model, windows):
    with pytest.raises(ConfigError, match="epsilon must be >= 0"):
        perturb_sequences(model.stage2, windows[0], windows[1], -0.1)


# ------------------------------------------------------------------------------------------ minimax loop
def test_the_minimax_loop_is_deterministic_for_a_seed(bars):
    config = AdversarialConfig(rounds=1, search_trials=3, refine_trials=1, sequence_epsilon=0.1, seed=9)

    def run():
        return adversarial_train(bars, SPEC, PARAMS, config, train_start=START, train_end=END, horizon=5)

    first, again = run(), run()

    pd.testing.assert_frame_equal(first.history_frame(), again.history_frame())
    assert first.model.to_bytes() == again.model.to_bytes()
    record = first.history[0]
    assert record.worst_objective <= record.clean_objective
    assert record.adversarial_windows > 0
    assert record.training_rows > len(training_rows(bars, SPEC, 5, START, END)[0])


def test_input_gradient_matches_a_finite_difference_of_the_loss(model, windows):
    sequences, labels = windows[0][:4], windows[1][:4]
    stage2 = model.stage2
    assert stage2 is not None
    h = 1e-6

    gradient = stage2.input_gradient(sequences, labels)

    bumped = sequences.copy()
    bumped[2, -1, 0] += h * stage2.scale_[0]
    numeric = (_bce(model, bumped[2:3], labels[2:3]) - _bce(model, sequences[2:3], labels[2:3])) / h
    assert gradient[2, -1, 0] == pytest.approx(numeric, rel=1e-3, abs=1e-7)
    assert gradient.shape == sequences.shape


def test_the_random_control_draws_one_point_of_the_box_per_round(bars):
    bounds = ScenarioBounds(gap=(0.02, 0.05))
    config = AdversarialConfig(bounds=bounds, rounds=1, sequence_epsilon=0.0, adversary="random", seed=9)

    result = adversarial_train(bars, SPEC, PARAMS, config, train_start=START, train_end=END, horizon=5)

    record = result.history[0]
    assert bounds.contains(record.scenario)
    assert record.scenario.gap > 0.0
    assert record.adversarial_windows == 0
