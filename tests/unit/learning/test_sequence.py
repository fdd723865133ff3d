from typing import Any

import numpy as np
import pytest
import torch

from nautilus_ai.errors import ConfigError, ModelError
from nautilus_ai.learning import artifacts
from nautilus_ai.learning.sequence import (
    FORMAT_HEADER,
    EpochReport,
    SequenceClassifier,
    make_sequences,
)

torch.set_num_threads(1)

NAMES = ["ret_1", "vol_20", "regime_trend"]
SPEC = "spec-seq-1"
WINDOW = 10
TINY: dict[str, Any] = {"window": WINDOW, "hidden": 8, "max_epochs": 4, "patience": 2, "batch_size": 64}


def _planted(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Label = sign of the sum of feature 0 over the last 5 rows (+ noise): invisible to one row."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(NAMES)))
    x[:, 2] = rng.random(n)  # a regime probability column, appended by the caller
    last_five = np.convolve(x[:, 0], np.ones(5))[:n]
    y = (last_five + rng.normal(0.0, 0.5, n) > 0).astype(int)
    return x, y


def _windows(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, y = _planted(n, seed)
    x[np.random.default_rng(seed + 1).random(n) < 0.05, 1] = np.nan  # missing values are allowed
    windows, valid = make_sequences(x, WINDOW)
    return windows[valid], y[valid], x[valid]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    windows, y, _ = _windows()
    return windows, y


@pytest.fixture(scope="module")
def fitted(data) -> SequenceClassifier:
    windows, y = data
    return SequenceClassifier(**TINY, seed=3).fit(windows, y, NAMES, SPEC, regime_names=["regime_trend"])


# -- make_sequences ---------------------------------------------------------------------------------


def test_make_sequences_windows_end_at_their_row_oldest_first_and_pad_short_history():
    x = np.arange(10, dtype=float).reshape(5, 2)

    windows, valid = make_sequences(x, 3)

    assert windows.shape == (5, 3, 2)
    np.testing.assert_array_equal(windows[4], x[2:5])
    np.testing.assert_array_equal(windows[2], x[0:3])
    assert np.isnan(windows[1, 0]).all()
    np.testing.assert_array_equal(windows[1, 1:], x[0:2])
    np.testing.assert_array_equal(valid, [False, False, True, True, True])


def test_make_sequences_with_window_one_is_the_row_itself():
    x = np.random.default_rng(0).normal(size=(6, 3))

    windows, valid = make_sequences(x, 1, dtype=np.float64)

    np.testing.assert_array_equal(windows[:, 0, :], x)
    assert valid.all()


def test_make_sequences_never_looks_ahead():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 4))
    group = rng.integers(0, 3, size=60)
    before, valid_before = make_sequences(x, 7, group)

    for t in (0, 10, 33, 58):
        changed = x.copy()
        changed[t + 1 :] = rng.normal(size=changed[t + 1 :].shape) * 100.0
        after, valid_after = make_sequences(changed, 7, group)

        np.testing.assert_array_equal(after[: t + 1], before[: t + 1])
        np.testing.assert_array_equal(valid_after, valid_before)


def test_make_sequences_windows_never_cross_interleaved_groups():
    group = np.array(["ES", "NQ", "ES", "NQ", "NQ", "ES", "ES"])
    x = np.arange(7, dtype=float).reshape(7, 1)  # the value is the row number

    windows, valid = make_sequences(x, 3, group)

    np.testing.assert_array_equal(windows[5, :, 0], [0, 2, 5])  # ES rows 0, 2, 5
    np.testing.assert_array_equal(windows[4, :, 0], [1, 3, 4])  # NQ rows 1, 3, 4
    np.testing.assert_array_equal(windows[6, :, 0], [2, 5, 6])
    assert np.isnan(windows[3, 0, 0]) and not valid[3]  # second NQ row: one row short
    np.testing.assert_array_equal(valid, [False, False, False, False, True, True, True])


@pytest.mark.parametrize(
    ("x", "window", "group", "match"),
    [
        (np.zeros(5), 2, None, "2-dimensional"),
        (np.zeros((5, 2)), 0, None, "positive integer"),
        (np.zeros((5, 2)), 2, np.zeros(4), r"group has shape \(4,\), expected \(5,\)"),
    ],
)
def test_make_sequences_rejects_bad_input(x, window, group, match):
    with pytest.raises(ModelError, match=match):
        make_sequences(x, window, group)


# -- learning ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_sequence_model_learns_a_pattern_a_single_row_cannot_see(kind):
    x, y = _planted(2200, seed=5)
    windows, valid = make_sequences(x, WINDOW)
    windows, y, x = windows[valid], y[valid], x[valid]
    train, held_out = slice(0, 1700), slice(1700, None)
    model = SequenceClassifier(kind=kind, window=WINDOW, hidden=16, lr=3e-3, dropout=0.0, max_epochs=15)

    model.fit(windows[train], y[train], NAMES, SPEC)
    accuracy = ((model.predict_proba(windows[held_out]) > 0.5) == y[held_out]).mean()
    single_row_accuracy = ((x[held_out, 0] > 0) == y[held_out]).mean()  # best one-row rule

    assert single_row_accuracy < 0.72
    assert accuracy > 0.82


def test_fit_returns_self_and_sets_learned_attributes(data, fitted):
    windows, _ = data

    assert fitted.feature_names_ == tuple(NAMES)
    assert fitted.regime_names_ == ("regime_trend",)
    assert fitted.spec_hash_ == SPEC
    assert fitted.n_val_ == len(windows) // 5
    assert fitted.n_train_ + fitted.n_val_ == len(windows)
    assert not fitted.net_.training


def test_standardization_is_fitted_on_the_training_rows_only(data, fitted):
    windows, _ = data
    train = windows[: fitted.n_train_].reshape(-1, len(NAMES)).astype(np.float64)

    np.testing.assert_allclose(fitted.mean_, np.nanmean(train, axis=0))
    np.testing.assert_allclose(fitted.scale_, np.nanstd(train, axis=0))


def test_predict_proba_handles_missing_values_and_one_window_matches_the_batch(data, fitted):
    windows, _ = data
    with_nan = windows[:20].copy()
    with_nan[3, :, 1] = np.nan

    p = fitted.predict_proba(with_nan)

    assert p.shape == (20,) and p.dtype == np.float64
    assert np.isfinite(p).all() and ((p > 0) & (p < 1)).all()
    assert fitted.predict_proba_one(with_nan[3]) == pytest.approx(p[3], abs=1e-6)


# -- determinism ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_same_seed_gives_identical_predictions_and_bytes(data, kind):
    windows, y = data

    first = SequenceClassifier(kind=kind, **TINY, dropout=0.2, seed=11).fit(windows, y, NAMES, SPEC)
    second = SequenceClassifier(kind=kind, **TINY, dropout=0.2, seed=11).fit(windows, y, NAMES, SPEC)

    np.testing.assert_array_equal(first.predict_proba(windows), second.predict_proba(windows))
    assert first.to_bytes() == second.to_bytes()
    assert first.history_ == second.history_


def test_different_seeds_give_different_models(data):
    windows, y = data

    first = SequenceClassifier(**TINY, seed=1).fit(windows, y, NAMES, SPEC)
    second = SequenceClassifier(**TINY, seed=2).fit(windows, y, NAMES, SPEC)

    assert not np.array_equal(first.predict_proba(windows), second.predict_proba(windows))
    assert first.to_bytes() != second.to_bytes()


def test_fit_leaves_the_global_torch_state_alone(data):
    windows, y = data
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    deterministic = torch.are_deterministic_algorithms_enabled()

    SequenceClassifier(**TINY).fit(windows, y, NAMES, SPEC)

    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.equal(torch.rand(3), expected)


# -- early stopping ---------------------------------------------------------------------------------


def test_early_stopping_restores_the_best_epoch():
    rng = np.random.default_rng(4)
    windows = rng.normal(size=(300, WINDOW, len(NAMES)))
    y = rng.integers(0, 2, size=300)  # pure noise: the validation loss soon rises
    model = SequenceClassifier(window=WINDOW, hidden=32, lr=2e-2, dropout=0.0, max_epochs=40, patience=3)

    model.fit(windows, y, NAMES, SPEC)
    history = model.history_
    p = model.predict_proba(windows[-model.n_val_ :])
    y_val = y[-model.n_val_ :]
    restored_loss = -np.mean(y_val * np.log(p) + (1 - y_val) * np.log(1 - p))

    assert history.stopped_early
    assert len(history.val_loss) == history.best_epoch + 3 + 1 < 40
    assert history.best_epoch == int(np.argmin(history.val_loss))
    assert len(history.train_loss) == len(history.val_loss)
    assert restored_loss == pytest.approx(history.best_val_loss, abs=1e-5)
    assert restored_loss < history.val_loss[-1]


def test_explicit_validation_window_is_used_for_early_stopping(data):
    windows, y = data

    model = SequenceClassifier(**TINY).fit(
        windows[:300], y[:300], NAMES, SPEC, X_val=windows[300:], y_val=y[300:]
    )

    assert model.n_train_ == 300 and model.n_val_ == len(windows) - 300


def test_progress_callback_gets_one_report_per_epoch(data):
    windows, y = data
    reports: list[EpochReport] = []

    model = SequenceClassifier(**TINY).fit(windows, y, NAMES, SPEC, progress=reports.append)

    assert [r.epoch for r in reports] == list(range(len(model.history_.val_loss)))
    assert [r.val_loss for r in reports] == list(model.history_.val_loss)


def test_rich_progress_bar_option_trains_the_same_model(data, fitted):
    windows, y = data

    model = SequenceClassifier(**TINY, seed=3).fit(
        windows, y, NAMES, SPEC, regime_names=["regime_trend"], progress=True
    )

    assert model.to_bytes() == fitted.to_bytes()


def test_sample_weight_changes_the_fit_and_all_zero_weight_is_refused(data):
    windows, y = data
    weights = np.where(np.arange(len(y)) % 2 == 0, 1.0, 0.1)

    plain = SequenceClassifier(**TINY).fit(windows, y, NAMES, SPEC)
    weighted = SequenceClassifier(**TINY).fit(windows, y, NAMES, SPEC, sample_weight=weights)

    assert not np.array_equal(plain.predict_proba(windows), weighted.predict_proba(windows))
    with pytest.raises(ModelError, match="sums to 0"):
        SequenceClassifier(**TINY).fit(windows, y, NAMES, SPEC, sample_weight=np.zeros(len(y)))


# -- serialization ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_round_trip_gives_identical_predictions_and_bytes(data, kind):
    windows, y = data
    model = SequenceClassifier(kind=kind, **TINY).fit(windows, y, NAMES, SPEC, regime_names=["regime_trend"])

    data_bytes = model.to_bytes()
    loaded = SequenceClassifier.from_bytes(data_bytes)

    assert data_bytes.startswith(FORMAT_HEADER)
    np.testing.assert_array_equal(loaded.predict_proba(windows), model.predict_proba(windows))
    assert loaded.to_bytes() == data_bytes
    assert loaded.get_params() == model.get_params()
    assert loaded.history_ == model.history_
    assert loaded.regime_names_ == ("regime_trend",)


def test_the_artifact_loader_dispatches_on_the_header(fitted, monkeypatch):
    monkeypatch.setattr(artifacts, "_LOADERS", dict(artifacts._LOADERS))
    artifacts.register_loader(
        b"nautilus-ai/sequence-classifier/", "nautilus_ai.learning.sequence:SequenceClassifier"
    )

    loaded = artifacts.load_model(fitted.to_bytes())

    assert isinstance(loaded, SequenceClassifier)
    assert isinstance(loaded, artifacts.ModelArtifact)


def test_from_bytes_rejects_foreign_and_corrupted_bytes(fitted):
    data = fitted.to_bytes()

    with pytest.raises(ModelError, match="not a serialized SequenceClassifier"):
        SequenceClassifier.from_bytes(b"nautilus-ai/direction-classifier/1\n{}\n")
    with pytest.raises(ModelError, match="corrupted"):
        SequenceClassifier.from_bytes(data[:-7])
    with pytest.raises(ModelError, match="corrupted"):
        SequenceClassifier.from_bytes(FORMAT_HEADER + b"{not json\n")


# -- fingerprint and input checks -------------------------------------------------------------------


def test_check_features_accepts_the_training_fingerprint(fitted):
    fitted.check_features(NAMES, SPEC)


def test_check_features_names_both_sets_on_mismatch(fitted):
    live = ["ret_1", "vol_20", "regime_range"]

    with pytest.raises(ModelError) as excinfo:
        fitted.check_features(live, "spec-other")

    message = str(excinfo.value)
    assert "regime_trend" in message and "regime_range" in message
    assert str(NAMES) in message and str(live) in message
    assert "spec-seq-1" in message and "spec-other" in message


def test_wrong_input_shapes_are_refused_with_the_expected_shape(data, fitted):
    windows, y = data

    with pytest.raises(ModelError, match=r"expected \(n, 10, 3\)"):
        fitted.predict_proba(windows[:, 1:, :])
    with pytest.raises(ModelError, match=r"expected \(n, 10, 3\)"):
        fitted.predict_proba(windows[:, :, :2])
    with pytest.raises(ModelError, match="one window"):
        fitted.predict_proba_one(windows[0, -1])
    with pytest.raises(ModelError, match=r"X_seq has shape \(\d+, 3\)"):
        SequenceClassifier(**TINY).fit(windows[:, -1, :], y, NAMES, SPEC)
    with pytest.raises(ModelError, match="y has shape"):
        SequenceClassifier(**TINY).fit(windows, y[:-1], NAMES, SPEC)


def test_unfitted_model_refuses_to_predict(data):
    with pytest.raises(ModelError, match="not fitted"):
        SequenceClassifier(**TINY).predict_proba(data[0])


def test_single_class_labels_and_unknown_regime_names_are_refused(data):
    windows, y = data

    with pytest.raises(ModelError, match="single class"):
        SequenceClassifier(**TINY).fit(windows, np.ones_like(y), NAMES, SPEC)
    with pytest.raises(ModelError, match="regime names"):
        SequenceClassifier(**TINY).fit(windows, y, NAMES, SPEC, regime_names=["regime_crash"])


# -- configuration ----------------------------------------------------------------------------------


def test_cuda_requested_without_cuda_is_a_config_error(data, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    windows, y = data

    with pytest.raises(ConfigError, match="CUDA is not available"):
        SequenceClassifier(**TINY, device="cuda").fit(windows, y, NAMES, SPEC)
    assert SequenceClassifier(device="auto").resolve_device() == torch.device("cpu")


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"kind": "gru"}, "kind 'gru' is invalid"),
        ({"kind": "transformer", "hidden": 10, "heads": 3}, "divisible by heads"),
        ({"window": 0}, "window must be a positive integer"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"lr": 0.0}, "lr must be a positive number"),
        ({"device": "tpu"}, "device 'tpu' is invalid"),
    ],
)
def test_invalid_parameters_are_config_errors(params, match):
    with pytest.raises(ConfigError, match=match):
        SequenceClassifier(**params)
