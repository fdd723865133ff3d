import numpy as np
import pytest

from nautilus_ai.errors import ModelError
from nautilus_ai.learning.model import DEFAULT_PARAMS, DirectionClassifier

NAMES = ["ret_1", "ret_5", "vol_20", "rsi_14"]
SPEC = "spec-abc123"
FAST = {"n_estimators": 30}


def _data(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(NAMES)))
    x[rng.random(n) < 0.1, 2] = np.nan  # missing values are allowed
    y = (x[:, 0] - 0.5 * x[:, 1] + rng.normal(0, 0.8, n) > 0).astype(int)
    return x, y


@pytest.fixture(scope="module")
def fitted() -> DirectionClassifier:
    x, y = _data()
    return DirectionClassifier(params=FAST, seed=7).fit(x, y, NAMES, SPEC)


def test_init_only_stores_parameters():
    model = DirectionClassifier(params={"num_leaves": 7}, seed=3)

    assert model.params == {"num_leaves": 7}
    assert model.seed == 3
    assert not hasattr(model, "booster_")


def test_fit_returns_self_and_sets_learned_attributes():
    x, y = _data()
    model = DirectionClassifier(params=FAST)

    result = model.fit(x, y, NAMES, SPEC)

    assert result is model
    assert model.feature_names_ == tuple(NAMES)
    assert model.spec_hash_ == SPEC
    assert model.n_train_ == len(x)
    assert model.params_["deterministic"] is True
    assert model.params_["random_state"] == 0


def test_default_params_are_used_when_none_given():
    params = DirectionClassifier().effective_params()

    for key, value in DEFAULT_PARAMS.items():
        assert params[key] == value
    assert params["num_threads"] == 1 and params["force_row_wise"] is True


def test_predict_proba_returns_probabilities_of_shape_n(fitted):
    x, _ = _data(50, seed=1)

    p = fitted.predict_proba(x)

    assert p.shape == (50,)
    assert p.dtype == np.float64
    assert ((p > 0) & (p < 1)).all()


def test_model_learns_the_signal(fitted):
    x, y = _data(2000, seed=9)

    accuracy = ((fitted.predict_proba(x) >= 0.5) == y).mean()

    assert accuracy > 0.65


def test_predict_proba_one_equals_predict_proba(fitted):
    x, _ = _data(100, seed=2)
    x[3] = np.nan

    batch = fitted.predict_proba(x)
    single = np.array([fitted.predict_proba_one(row) for row in x])

    np.testing.assert_array_equal(single, batch)
    assert isinstance(fitted.predict_proba_one(x[0]), float)


def test_same_data_params_and_seed_give_identical_bytes():
    x, y = _data()

    first = DirectionClassifier(params=FAST, seed=11).fit(x, y, NAMES, SPEC).to_bytes()
    second = DirectionClassifier(params=FAST, seed=11).fit(x, y, NAMES, SPEC).to_bytes()

    assert first == second


def test_a_different_seed_gives_a_different_model():
    x, y = _data()

    first = DirectionClassifier(params=FAST, seed=1).fit(x, y, NAMES, SPEC).to_bytes()
    second = DirectionClassifier(params=FAST, seed=2).fit(x, y, NAMES, SPEC).to_bytes()

    assert first != second


def test_bytes_round_trip_preserves_predictions_and_metadata(fitted):
    x, _ = _data(80, seed=3)

    restored = DirectionClassifier.from_bytes(fitted.to_bytes())

    np.testing.assert_array_equal(restored.predict_proba(x), fitted.predict_proba(x))
    assert restored.feature_names_ == fitted.feature_names_
    assert restored.spec_hash_ == fitted.spec_hash_
    assert restored.n_train_ == fitted.n_train_
    assert restored.seed == 7
    assert restored.effective_params() == fitted.effective_params() == fitted.params_
    assert restored.to_bytes() == fitted.to_bytes()


def test_from_bytes_rejects_foreign_and_truncated_data(fitted):
    data = fitted.to_bytes()

    with pytest.raises(ModelError, match="not a serialized DirectionClassifier"):
        DirectionClassifier.from_bytes(b"hello")
    with pytest.raises(ModelError, match="corrupted"):
        DirectionClassifier.from_bytes(data[:60])


def test_check_features_accepts_the_training_features(fitted):
    fitted.check_features(NAMES, SPEC)


def test_check_features_mismatch_names_both_sides(fitted):
    live = ["ret_1", "ret_5", "vol_20", "macd"]

    with pytest.raises(ModelError) as info:
        fitted.check_features(live, "spec-other")

    message = str(info.value)
    assert "rsi_14" in message and "macd" in message
    assert "spec-abc123" in message and "spec-other" in message
    assert "model:" in message and "live:" in message


def test_check_features_detects_a_reordering(fitted):
    with pytest.raises(ModelError, match="different order"):
        fitted.check_features(list(reversed(NAMES)), SPEC)


def test_predict_rejects_wrong_width_and_unfitted_model(fitted):
    with pytest.raises(ModelError, match="expects 4"):
        fitted.predict_proba_one(np.zeros(3))
    with pytest.raises(ModelError, match="not fitted"):
        DirectionClassifier().predict_proba(np.zeros((1, 4)))


@pytest.mark.parametrize(
    ("y", "match"),
    [
        (np.ones(400), "single class"),
        (np.full(400, 2), "only hold 0 and 1"),
        (np.r_[np.zeros(200), np.full(200, np.nan)], "only hold 0 and 1"),
        (np.zeros(10), "shape"),
    ],
)
def test_fit_rejects_bad_labels(y, match):
    x, _ = _data()

    with pytest.raises(ModelError, match=match):
        DirectionClassifier(params=FAST).fit(x, y, NAMES, SPEC)


def test_fit_rejects_reserved_params_and_mismatched_names():
    x, y = _data()

    with pytest.raises(ModelError, match="seed"):
        DirectionClassifier(params={"random_state": 1}).fit(x, y, NAMES, SPEC)
    with pytest.raises(ModelError, match="columns"):
        DirectionClassifier(params=FAST).fit(x, y, NAMES[:3], SPEC)
