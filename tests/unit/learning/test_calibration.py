import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss

from nautilus_ai.errors import ModelError
from nautilus_ai.learning.calibration import (
    ISOTONIC_FORMAT_HEADER,
    PLATT_FORMAT_HEADER,
    IsotonicCalibrator,
    PlattCalibrator,
    brier_score,
    calibrator_from_dict,
    expected_calibration_error,
    logit,
    make_calibrator,
    reliability_table,
    sigmoid,
)
from nautilus_ai.learning.forest import RandomForestDirectionClassifier
from nautilus_ai.test_kit import read_stocknet_daily


def _overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True probabilities, outcomes drawn from them, and a model that triples the log-odds."""
    rng = np.random.default_rng(seed)
    truth = sigmoid(rng.normal(0.0, 0.8, n))
    y = (rng.random(n) < truth).astype(float)
    raw = sigmoid(3.0 * logit(truth) + 0.4)
    return truth, y, raw


# -- scores -------------------------------------------------------------------------------------


def test_brier_score_equals_sklearn_with_and_without_weights():
    rng = np.random.default_rng(0)
    p = rng.random(500)
    y = (rng.random(500) < p).astype(int)
    w = rng.uniform(0.1, 2.0, 500)

    assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-15)
    assert brier_score(y, p, w) == pytest.approx(brier_score_loss(y, p, sample_weight=w), abs=1e-15)
    assert brier_score(np.array([1, 0]), np.array([1.0, 0.0])) == 0.0
    assert brier_score(np.array([1, 0]), np.array([0.0, 1.0])) == 1.0


def test_reliability_table_on_a_hand_example():
    p = np.array([0.05, 0.15, 0.10, 0.95, 0.90, 0.55])
    y = np.array([0, 0, 1, 1, 1, 0])

    table = reliability_table(y, p, n_bins=2)

    np.testing.assert_allclose(table.bin_lower, [0.0, 0.5])
    np.testing.assert_allclose(table.bin_upper, [0.5, 1.0])
    np.testing.assert_allclose(table.mean_predicted, [0.1, 0.8])
    np.testing.assert_allclose(table.observed_frequency, [1 / 3, 2 / 3])
    np.testing.assert_array_equal(table.count, [3, 3])
    assert table.expected_calibration_error() == pytest.approx(0.5 * (1 / 3 - 0.1) + 0.5 * (0.8 - 2 / 3))
    assert expected_calibration_error(y, p, n_bins=2) == table.expected_calibration_error()


def test_reliability_bins_are_right_closed_and_empty_bins_are_nan():
    p = np.array([0.0, 0.25, 0.26, 1.0])
    y = np.array([0, 1, 1, 1])

    table = reliability_table(y, p, n_bins=4)

    np.testing.assert_array_equal(table.count, [2, 1, 0, 1])  # 0.25 closes bin 0, 0 opens it
    np.testing.assert_allclose(table.mean_predicted[[0, 1, 3]], [0.125, 0.26, 1.0])
    np.testing.assert_allclose(table.observed_frequency[[0, 1, 3]], [0.5, 1.0, 1.0])
    assert np.isnan(table.mean_predicted[2]) and np.isnan(table.observed_frequency[2])


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_reliability_table_matches_sklearn_calibration_curve(strategy):
    rng = np.random.default_rng(3)
    p = rng.beta(2, 5, 1000)
    y = (rng.random(1000) < p**0.8).astype(int)

    table = reliability_table(y, p, n_bins=8, strategy=strategy)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=8, strategy=strategy)

    filled = table.count > 0
    np.testing.assert_allclose(table.observed_frequency[filled], prob_true, rtol=0, atol=1e-15)
    np.testing.assert_allclose(table.mean_predicted[filled], prob_pred, rtol=0, atol=1e-15)
    assert table.count.sum() == 1000


@pytest.mark.parametrize(
    ("y", "p", "match"),
    [
        ([], [], "no rows"),
        ([0, 1], [0.5], "y has 2 values but p has 1"),
        ([0, 2], [0.5, 0.5], "only hold 0 and 1"),
        ([0, 1], [0.5, 1.5], r"in \[0, 1\]"),
        ([0, 1], [0.5, np.nan], "finite"),
    ],
)
def test_scores_reject_bad_inputs(y, p, match):
    with pytest.raises(ModelError, match=match):
        brier_score(np.array(y), np.array(p))


# -- calibrators --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["isotonic", "platt"])
def test_calibration_reduces_brier_of_an_overconfident_model_out_of_sample(kind):
    _, y_fit, raw_fit = _overconfident(3000, seed=1)
    truth, y_test, raw_test = _overconfident(5000, seed=2)

    calibrated = make_calibrator(kind).fit(raw_fit, y_fit).predict(raw_test)

    assert brier_score(y_test, calibrated) < brier_score(y_test, raw_test) - 0.02
    assert expected_calibration_error(y_test, calibrated) < 0.3 * expected_calibration_error(y_test, raw_test)
    assert np.abs(calibrated - truth).mean() < np.abs(raw_test - truth).mean() / 2


def test_platt_recovers_the_planted_distortion():
    _, y, raw = _overconfident(20000, seed=4)

    model = PlattCalibrator().fit(raw, y)

    # raw = sigmoid(3 * logit(truth) + 0.4)  =>  truth = sigmoid(raw_logit / 3 - 0.4 / 3)
    assert model.slope_ == pytest.approx(1 / 3, abs=0.03)
    assert model.intercept_ == pytest.approx(-0.4 / 3, abs=0.05)


def test_calibrating_an_overfit_forest_on_real_bars_lowers_test_brier():
    close = read_stocknet_daily("MSFT")["adj_close"]
    frame = pd.DataFrame({f"ret_{k}": close.pct_change(k) for k in (1, 2, 5, 10, 20)})
    up = (close.shift(-1) > close).astype(float)
    keep = frame.notna().all(axis=1) & close.shift(-1).notna()
    x, y = frame[keep].to_numpy(), up[keep].to_numpy()
    forest = RandomForestDirectionClassifier({"n_estimators": 50, "min_samples_leaf": 1}, seed=0)
    forest.fit(x[:700], y[:700], list(frame.columns), "spec")
    raw_cal, raw_test = forest.predict_proba(x[700:1000]), forest.predict_proba(x[1000:])

    calibrated = PlattCalibrator().fit(raw_cal, y[700:1000]).predict(raw_test)

    assert brier_score(y[1000:], calibrated) < brier_score(y[1000:], raw_test)


def test_isotonic_equals_sklearn_isotonic_regression():
    rng = np.random.default_rng(5)
    p = rng.random(800)
    y = (rng.random(800) < p**2).astype(int)
    w = rng.uniform(0.5, 1.5, 800)
    grid = np.r_[np.linspace(-0.1, 1.1, 241), p[:50]]

    ours = IsotonicCalibrator().fit(p, y, w)
    reference = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(p, y, sample_weight=w)

    np.testing.assert_allclose(
        ours.predict(np.clip(grid, 0, 1)), reference.predict(np.clip(grid, 0, 1)), atol=1e-12
    )
    np.testing.assert_allclose(ours.predict(grid), reference.predict(grid), atol=1e-12)


@pytest.mark.parametrize("kind", ["isotonic", "platt"])
def test_calibrators_are_monotone_and_clipped_to_unit_interval(kind):
    _, y, raw = _overconfident(1000, seed=6)
    grid = np.linspace(-0.5, 1.5, 401)

    out = make_calibrator(kind).fit(raw, y).predict(grid)

    assert (np.diff(out) >= 0).all()
    assert ((out >= 0) & (out <= 1)).all()


def test_platt_equals_weighted_logistic_regression_on_smoothed_targets():
    rng = np.random.default_rng(7)
    p = rng.uniform(0.05, 0.95, 1500)
    y = (rng.random(1500) < p**2).astype(float)
    n_pos, n_neg = y.sum(), (1 - y).sum()
    targets = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))

    model = PlattCalibrator().fit(p, y)
    # A soft target t is a row labelled 1 with weight t plus a row labelled 0 with weight 1 - t.
    design = np.r_[logit(p), logit(p)][:, None]
    reference = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(
        design, np.r_[np.ones(1500), np.zeros(1500)], sample_weight=np.r_[targets, 1 - targets]
    )

    assert model.slope_ == pytest.approx(reference.coef_[0, 0], abs=1e-6)
    assert model.intercept_ == pytest.approx(reference.intercept_[0], abs=1e-6)


def test_platt_never_reverses_the_order_of_predictions():
    rng = np.random.default_rng(8)
    p = rng.random(500)
    y = (rng.random(500) < 1 - p).astype(float)  # the model is anti-correlated with outcomes

    model = PlattCalibrator().fit(p, y)

    n_pos, n_neg = y.sum(), (1 - y).sum()
    smoothed_base_rate = (n_pos * (n_pos + 1) / (n_pos + 2) + n_neg / (n_neg + 2)) / y.size
    assert model.slope_ == 0.0
    out = model.predict(np.array([0.1, 0.9]))
    assert out[0] == out[1] == pytest.approx(smoothed_base_rate, abs=1e-9)


@pytest.mark.parametrize("kind", ["isotonic", "platt"])
def test_calibrator_round_trips_through_bytes_and_dict_deterministically(kind):
    _, y, raw = _overconfident(800, seed=9)
    grid = np.linspace(0, 1, 101)

    model = make_calibrator(kind).fit(raw, y)
    again = make_calibrator(kind).fit(raw, y)
    data = model.to_bytes()

    assert data == again.to_bytes()
    assert data.startswith({"isotonic": ISOTONIC_FORMAT_HEADER, "platt": PLATT_FORMAT_HEADER}[kind])
    restored = type(model).from_bytes(data)
    np.testing.assert_array_equal(restored.predict(grid), model.predict(grid))
    np.testing.assert_array_equal(calibrator_from_dict(model.to_dict()).predict(grid), model.predict(grid))


def test_calibrators_refuse_misuse_with_clear_errors():
    with pytest.raises(ModelError, match="not fitted"):
        IsotonicCalibrator().predict(np.array([0.5]))
    with pytest.raises(ModelError, match="not fitted"):
        PlattCalibrator().to_bytes()
    with pytest.raises(ModelError, match="not a serialized PlattCalibrator"):
        PlattCalibrator.from_bytes(ISOTONIC_FORMAT_HEADER + b"{}\n")
    with pytest.raises(ModelError, match="unknown calibration kind 'beta'"):
        make_calibrator("beta")  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="non-decreasing"):
        IsotonicCalibrator.from_dict(
            {"kind": "isotonic", "n_fit": 2, "x_thresholds": [0, 1], "y_thresholds": [1, 0]}
        )
    with pytest.raises(ModelError, match="sample_weight"):
        PlattCalibrator().fit(np.array([0.2, 0.8]), np.array([0, 1]), sample_weight=np.array([1.0]))
