import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier

from nautilus_ai.errors import ConfigError, ModelError
from nautilus_ai.learning.estimators import (
    ESTIMATOR_FORMATS,
    STAGE1_KINDS,
    BinaryEstimator,
    XGBoostDirectionClassifier,
    load_estimator,
    make_stage1,
)
from nautilus_ai.learning.forest import RandomForestDirectionClassifier, export_forest, forest_predict_up
from nautilus_ai.learning.model import DirectionClassifier
from nautilus_ai.test_kit import read_stocknet_daily

NAMES = ["ret_1", "ret_5", "vol_10", "range_1"]
SPEC = "spec-abc123"
FAST: dict[str, dict] = {
    "lightgbm": {"n_estimators": 30},
    "xgboost": {"n_estimators": 30},
    "random_forest": {"n_estimators": 25, "min_samples_leaf": 10},
}
CLASSES: dict[str, type[BinaryEstimator]] = {
    "lightgbm": DirectionClassifier,
    "xgboost": XGBoostDirectionClassifier,
    "random_forest": RandomForestDirectionClassifier,
}


def _synthetic(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(NAMES)))
    x[rng.random(n) < 0.1, 2] = np.nan
    y = (x[:, 0] - 0.5 * x[:, 1] + rng.normal(0, 0.8, n) > 0).astype(int)
    return x, y


@pytest.fixture(scope="module")
def stocknet() -> tuple[np.ndarray, np.ndarray]:
    bars = read_stocknet_daily("AAPL")
    close = bars["adj_close"]
    returns = close.pct_change()
    frame = pd.DataFrame(
        {
            "ret_1": returns,
            "ret_5": close.pct_change(5),
            "vol_10": returns.rolling(10).std(),
            "range_1": (bars["high"] - bars["low"]) / bars["close"],
        }
    )
    up = (close.shift(-1) > close).astype(float).where(close.shift(-1).notna())
    keep = up.notna()
    return frame[NAMES][keep].to_numpy(), up[keep].to_numpy()


def _fit(kind: str, x: np.ndarray, y: np.ndarray, seed: int = 7, **kwargs) -> BinaryEstimator:
    return make_stage1(kind, FAST[kind], seed).fit(x, y, NAMES, SPEC, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=STAGE1_KINDS)
def fitted_real(request, stocknet) -> tuple[str, BinaryEstimator, np.ndarray]:
    x, y = stocknet
    return request.param, _fit(request.param, x[:900], y[:900]), x[900:]


# -- conformance: every stage-1 kind ------------------------------------------------------------


@pytest.mark.parametrize("kind", STAGE1_KINDS)
def test_make_stage1_builds_an_unfitted_estimator_of_the_kind(kind):
    model = make_stage1(kind, {}, seed=3)

    assert type(model) is CLASSES[kind]
    assert model.seed == 3  # type: ignore[attr-defined]
    assert not hasattr(model, "feature_names_")


def test_fitted_model_satisfies_the_protocol_and_records_its_training(fitted_real):
    _, model, _ = fitted_real

    assert isinstance(model, BinaryEstimator)
    assert model.feature_names_ == tuple(NAMES)
    assert model.spec_hash_ == SPEC
    assert model.n_train_ == 900


def test_predict_proba_gives_probabilities_on_real_bars(fitted_real):
    _, model, x_test = fitted_real

    p = model.predict_proba(x_test)

    assert p.shape == (len(x_test),)
    assert p.dtype == np.float64
    assert ((p > 0) & (p < 1)).all()
    assert p.std() > 0


def test_predict_proba_one_equals_the_batch_row(fitted_real):
    _, model, x_test = fitted_real
    rows = x_test[:40].copy()
    rows[3, 1] = np.nan

    batch = model.predict_proba(rows)
    single = np.array([model.predict_proba_one(row) for row in rows])

    np.testing.assert_array_equal(single, batch)
    assert isinstance(model.predict_proba_one(rows[0]), float)


def test_bytes_round_trip_through_load_estimator(fitted_real):
    kind, model, x_test = fitted_real

    data = model.to_bytes()
    restored = load_estimator(data)

    assert type(restored) is CLASSES[kind]
    np.testing.assert_array_equal(restored.predict_proba(x_test), model.predict_proba(x_test))
    assert restored.feature_names_ == model.feature_names_
    assert restored.spec_hash_ == SPEC and restored.n_train_ == 900
    assert restored.to_bytes() == data


@pytest.mark.parametrize("kind", STAGE1_KINDS)
def test_same_seed_gives_identical_bytes_and_predictions(kind, stocknet):
    x, y = stocknet

    first = _fit(kind, x[:600], y[:600], seed=11)
    second = _fit(kind, x[:600], y[:600], seed=11)

    assert first.to_bytes() == second.to_bytes()
    np.testing.assert_array_equal(first.predict_proba(x[600:]), second.predict_proba(x[600:]))


@pytest.mark.parametrize("kind", STAGE1_KINDS)
def test_a_different_seed_gives_a_different_model(kind):
    x, y = _synthetic()

    assert _fit(kind, x, y, seed=1).to_bytes() != _fit(kind, x, y, seed=2).to_bytes()


@pytest.mark.parametrize("kind", STAGE1_KINDS)
def test_model_learns_a_planted_signal(kind):
    x, y = _synthetic(800)
    x_test, y_test = _synthetic(2000, seed=9)

    accuracy = ((_fit(kind, x, y).predict_proba(x_test) >= 0.5) == y_test).mean()

    assert accuracy > 0.65


@pytest.mark.parametrize("kind", STAGE1_KINDS)
def test_sample_weight_moves_the_model_towards_heavy_rows(kind):
    x, y = _synthetic()
    weights = np.where(y == 1, 5.0, 1.0)

    plain = _fit(kind, x, y).predict_proba(x).mean()
    weighted = _fit(kind, x, y, sample_weight=weights).predict_proba(x).mean()

    assert weighted > plain + 0.05


@pytest.mark.parametrize("kind", STAGE1_KINDS)
def test_check_features_mismatch_names_both_feature_sets(kind):
    x, y = _synthetic(300)
    model = _fit(kind, x, y)
    live = ["ret_1", "ret_5", "vol_10", "macd"]

    model.check_features(NAMES, SPEC)
    with pytest.raises(ModelError) as info:
        model.check_features(live, "spec-other")

    message = str(info.value)
    assert "range_1" in message and "macd" in message
    assert "spec-abc123" in message and "spec-other" in message


@pytest.mark.parametrize("kind", STAGE1_KINDS)
def test_unfitted_and_wrong_width_inputs_are_refused(kind):
    x, y = _synthetic(300)
    model = _fit(kind, x, y)

    with pytest.raises(ModelError, match="expects 4"):
        model.predict_proba(np.zeros((2, 3)))
    with pytest.raises(ModelError, match="not fitted"):
        make_stage1(kind, {}, 0).predict_proba(np.zeros((1, 4)))
    with pytest.raises(ModelError, match="single class"):
        make_stage1(kind, {}, 0).fit(x, np.ones(len(x)), NAMES, SPEC)
    with pytest.raises(ModelError, match="sample_weight"):
        make_stage1(kind, {}, 0).fit(x, y, NAMES, SPEC, sample_weight=-np.ones(len(x)))


@pytest.mark.parametrize("kind", STAGE1_KINDS)
def test_from_bytes_rejects_foreign_and_corrupted_data(kind):
    x, y = _synthetic(300)
    data = _fit(kind, x, y).to_bytes()
    cls = CLASSES[kind]

    with pytest.raises(ModelError, match="not a serialized"):
        cls.from_bytes(b"hello\n")
    with pytest.raises(ModelError, match="corrupted"):
        cls.from_bytes(data[: len(data) // 2])


# -- factory and loader -------------------------------------------------------------------------


def test_make_stage1_rejects_an_unknown_kind_naming_the_choices():
    with pytest.raises(ConfigError, match=r"'catboost'.*lightgbm.*xgboost.*random_forest"):
        make_stage1("catboost", {}, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "params", "match"),
    [
        ("lightgbm", {"num_leafs": 7}, "unknown lightgbm params \\['num_leafs'\\]"),
        ("xgboost", {"max_dept": 3}, "unknown xgboost params \\['max_dept'\\]"),
        ("random_forest", {"n_trees": 3}, "unknown random_forest params \\['n_trees'\\]"),
        ("lightgbm", {"random_state": 1}, "may not set \\['random_state'\\]"),
        ("xgboost", {"nthread": 4}, "may not set \\['nthread'\\]"),
        ("random_forest", {"n_jobs": -1}, "may not set \\['n_jobs'\\]"),
        ("xgboost", {"n_estimators": 0}, "n_estimators"),
    ],
)
def test_make_stage1_rejects_bad_params_naming_them(kind, params, match):
    with pytest.raises(ConfigError, match=match):
        make_stage1(kind, params, 0)


def test_load_estimator_rejects_an_unknown_header():
    with pytest.raises(ModelError, match="unknown model format header b'nautilus-ai/other/1'"):
        load_estimator(b"nautilus-ai/other/1\n{}")


def test_format_headers_are_distinct_lines_and_include_the_lightgbm_one():
    headers = list(ESTIMATOR_FORMATS)

    assert len(set(headers)) == len(headers) == 3
    assert all(h.endswith(b"\n") and h.count(b"\n") == 1 for h in headers)
    assert ESTIMATOR_FORMATS[b"nautilus-ai/direction-classifier/1\n"] is DirectionClassifier
    assert not any(a != b and a.startswith(b[:-1]) for a in headers for b in headers)


def test_lightgbm_without_weights_keeps_its_format():
    x, y = _synthetic(300)

    data = DirectionClassifier(params=FAST["lightgbm"], seed=7).fit(x, y, NAMES, SPEC).to_bytes()

    assert data == _fit("lightgbm", x, y).to_bytes()
    assert data.startswith(b"nautilus-ai/direction-classifier/1\n")


# -- random forest: own traversal equals scikit-learn -------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"n_estimators": 20, "min_samples_leaf": 1},
        {"n_estimators": 15, "min_samples_leaf": 5, "max_features": 1.0, "bootstrap": False},
        {"n_estimators": 10, "max_depth": 3, "criterion": "entropy", "max_samples": 0.5},
    ],
)
def test_forest_traversal_equals_sklearn_predict_proba_exactly(params):
    x, y = _synthetic(700, seed=4)
    x[::17, 0] = np.nan  # missing values while training
    weights = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    x_test, _ = _synthetic(2500, seed=5)  # more rows than one traversal chunk
    x_test[::7, 0] = np.nan
    x_test[::11, 1] = np.nan  # a feature never missing in training
    x_test[0] = np.nan
    ours = RandomForestDirectionClassifier(params=params, seed=3)
    reference = RandomForestClassifier(**ours.effective_params(), random_state=3, n_jobs=1)
    reference.fit(x, y, sample_weight=weights)

    ours.fit(x, y, NAMES, SPEC, sample_weight=weights)

    expected = reference.predict_proba(x_test)[:, 1]
    np.testing.assert_array_equal(forest_predict_up(export_forest(reference), x_test), expected)
    np.testing.assert_array_equal(ours.predict_proba(x_test), expected)
    np.testing.assert_array_equal(
        RandomForestDirectionClassifier.from_bytes(ours.to_bytes()).predict_proba(x_test), expected
    )


def test_forest_traversal_equals_sklearn_on_real_bars(stocknet):
    x, y = stocknet
    reference = RandomForestClassifier(n_estimators=30, min_samples_leaf=3, random_state=0, n_jobs=1)
    reference.fit(x[:800], y[:800])

    ours = forest_predict_up(export_forest(reference), x[800:])

    np.testing.assert_array_equal(ours, reference.predict_proba(x[800:])[:, 1])


def test_forest_serialization_holds_no_pickle():
    x, y = _synthetic(300)

    data = _fit("random_forest", x, y).to_bytes()

    header, _, body = data.partition(b"\n")
    assert header == b"nautilus-ai/random-forest-classifier/1"
    assert body.startswith(b"{") and body.endswith(b"}\n")
    assert b"\x80\x04" not in data  # the pickle protocol-4 opcode
