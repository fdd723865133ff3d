import numpy as np
import pandas as pd
import pytest

from nautilus_ai.errors import ConfigError, ModelError
from nautilus_ai.learning.calibration import (
    ISOTONIC_FORMAT_HEADER,
    PLATT_FORMAT_HEADER,
    PlattCalibrator,
    brier_score,
    sigmoid,
)
from nautilus_ai.learning.estimators import ESTIMATOR_FORMATS, make_stage1
from nautilus_ai.learning.meta import (
    DEFAULT_STAGE1_MARGIN,
    META_FORMAT_HEADER,
    MetaConfig,
    MetaModel,
    decide_from_probability,
    stage1_passes,
)
from nautilus_ai.test_kit import read_stocknet_daily

REGIMES = ("trend", "revert")


def _planted(n: int, seed: int) -> dict[str, np.ndarray]:
    """A latent signal whose sign flips with a persistent regime; stage 1 only sees the pooled view.

    In ``trend`` P(up) = sigmoid(1.5 s); in ``revert`` P(up) = sigmoid(-1.0 s). Stage 1 reports
    sigmoid(0.5 s) everywhere; the regime model reports soft, noisy regime probabilities. Stage 2
    knows an independent extra signal on half the events.
    """
    rng = np.random.default_rng(seed)
    regime = np.zeros(n, dtype=int)
    state = 0
    for t in range(n):
        if rng.random() < 0.02:
            state = 1 - state
        regime[t] = state
    s = rng.normal(size=n)
    extra = rng.normal(size=n)
    slope = np.where(regime == 0, 1.5, -1.0)
    y = (rng.random(n) < sigmoid(slope * s + 0.8 * extra)).astype(float)
    p1 = sigmoid(0.5 * s)
    sure = rng.uniform(0.65, 0.95, n)
    regime_probs = np.where(regime[:, None] == np.arange(2)[None, :], sure[:, None], 1 - sure[:, None])
    p2 = np.where(rng.random(n) < 0.5, sigmoid(0.8 * extra), np.nan)
    return {"p1": p1, "y": y, "regime_probs": regime_probs, "p2": p2, "regime": regime}


@pytest.fixture(scope="module")
def planted() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    return _planted(4000, seed=0), _planted(4000, seed=1)


@pytest.fixture(scope="module")
def regime_model(planted) -> MetaModel:
    fit, _ = planted
    return MetaModel(MetaConfig(regime_names=REGIMES)).fit(
        fit["p1"], fit["y"], regime_probs=fit["regime_probs"]
    )


# -- stage-1 filter -----------------------------------------------------------------------------


def test_stage1_filter_flattens_events_near_one_half():
    p1 = np.array([0.5, 0.51, 0.53, 0.47, 0.48, 0.9, np.nan])

    passes = stage1_passes(p1, margin=0.025)

    np.testing.assert_array_equal(passes, [False, False, True, True, False, True, False])
    assert stage1_passes(0.75, 0.25) is True  # the boundary passes
    assert stage1_passes(0.55) is True and stage1_passes(0.51) is False
    assert DEFAULT_STAGE1_MARGIN == 0.02


def test_stage1_filter_rejects_a_margin_outside_zero_to_one_half():
    with pytest.raises(ConfigError, match=r"margin must be in \[0, 0.5\], got 0.7"):
        stage1_passes(np.array([0.6]), margin=0.7)


# -- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"regime_names": ("a", "a")}, "unique"),
        ({"mode": "ranking"}, "mode"),
        ({"calibration": "beta"}, "calibration"),
        ({"calibration_fraction": 1.0}, "calibration_fraction"),
        ({"regularization": 0.0}, "regularization"),
        ({"long_threshold": 0.4}, "thresholds"),
        ({"stage1_margin": -0.1}, "margin"),
    ],
)
def test_meta_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        MetaConfig(**kwargs)


def test_feature_layout_follows_the_config():
    direction = MetaConfig(regime_names=REGIMES, use_p2=True)
    meta_label = MetaConfig(regime_names=("bull",), mode="meta_label", interactions=False)

    assert direction.feature_names() == (
        "logit_p1",
        "logit_p2",
        "has_p2",
        "regime:trend",
        "regime:revert",
        "logit_p1*regime:trend",
        "logit_p1*regime:revert",
        "logit_p2*regime:trend",
        "logit_p2*regime:revert",
        "logit_p1*logit_p2",
    )
    assert meta_label.feature_names() == ("side*logit_p1", "side", "regime:bull")
    assert MetaConfig().feature_names() == ("logit_p1",)


# -- the planted, regime-dependent signal ---------------------------------------------------------


def test_meta_with_regime_probabilities_beats_stage1_alone_out_of_sample(planted, regime_model):
    fit, test = planted
    calibrated_p1 = PlattCalibrator().fit(fit["p1"], fit["y"]).predict(test["p1"])

    p_meta = regime_model.predict_proba(test["p1"], regime_probs=test["regime_probs"])

    brier_meta = brier_score(test["y"], p_meta)
    assert brier_meta < brier_score(test["y"], test["p1"]) - 0.03
    assert brier_meta < brier_score(test["y"], calibrated_p1) - 0.03
    accuracy_meta = ((p_meta >= 0.5) == test["y"]).mean()
    assert accuracy_meta > ((test["p1"] >= 0.5) == test["y"]).mean() + 0.1


def test_meta_learns_the_sign_flip_between_regimes(regime_model):
    slopes = dict(zip(regime_model.feature_names_, regime_model.coef_, strict=True))

    assert slopes["logit_p1*regime:trend"] > 0 > slopes["logit_p1*regime:revert"]


def test_stage2_probability_adds_information_where_present(planted):
    fit, test = planted
    with_p2 = MetaModel(MetaConfig(regime_names=REGIMES, use_p2=True))
    with_p2.fit(fit["p1"], fit["y"], p2=fit["p2"], regime_probs=fit["regime_probs"])
    without = MetaModel(MetaConfig(regime_names=REGIMES))
    without.fit(fit["p1"], fit["y"], regime_probs=fit["regime_probs"])

    p_with = with_p2.predict_proba(test["p1"], p2=test["p2"], regime_probs=test["regime_probs"])
    p_without = without.predict_proba(test["p1"], regime_probs=test["regime_probs"])

    present = ~np.isnan(test["p2"])
    assert np.isfinite(p_with).all()
    assert brier_score(test["y"][present], p_with[present]) < brier_score(
        test["y"][present], p_without[present]
    )


def test_meta_labelling_filters_out_the_losing_primary_trades(planted):
    fit, test = planted
    config = MetaConfig(regime_names=REGIMES, mode="meta_label", calibration="isotonic")

    def primary(data):
        side = np.where(data["p1"] >= 0.5, 1.0, -1.0)
        profitable = (side == np.where(data["y"] == 1, 1.0, -1.0)).astype(float)
        return side, profitable

    side_fit, profitable_fit = primary(fit)
    model = MetaModel(config).fit(fit["p1"], profitable_fit, regime_probs=fit["regime_probs"], side=side_fit)
    side_test, profitable_test = primary(test)

    decision = model.decide(test["p1"], regime_probs=test["regime_probs"], side=side_test)

    taken = decision.direction != 0
    assert set(np.unique(decision.direction)) <= {-1, 0, 1}
    np.testing.assert_array_equal(decision.direction[taken], side_test[taken])
    assert profitable_test[taken].mean() > profitable_test.mean() + 0.1
    assert (decision.probability[test["regime"] == 0].mean()) > (
        decision.probability[test["regime"] == 1].mean()
    )


# -- decisions -----------------------------------------------------------------------------------


def test_decision_rules_on_hand_values():
    config = MetaConfig(long_threshold=0.6, short_threshold=0.4, stage1_margin=0.05)
    probability = np.array([0.7, 0.3, 0.5, 0.9, 0.9])
    p1 = np.array([0.65, 0.35, 0.7, 0.52, 0.575])

    direction, confidence = decide_from_probability(probability, p1, config)

    np.testing.assert_array_equal(direction, [1, -1, 0, 0, 1])  # event 3 fails the stage-1 filter
    # |2p - 1| shrunk by min(1, |p1 - 0.5| / (2 * margin))
    np.testing.assert_allclose(confidence, [0.4, 0.4, 0.0, 0.0, 0.8 * 0.75])


def test_meta_label_decisions_follow_the_primary_side():
    config = MetaConfig(mode="meta_label", meta_threshold=0.6, shrink_confidence=False)
    probability = np.array([0.8, 0.8, 0.55, 0.8])
    p1 = np.array([0.7, 0.3, 0.7, 0.7])
    side = np.array([1.0, -1.0, 1.0, 0.0])

    direction, confidence = decide_from_probability(probability, p1, config, side)

    np.testing.assert_array_equal(direction, [1, -1, 0, 0])
    np.testing.assert_allclose(confidence, [0.6, 0.6, 0.1, 0.0])


def test_decide_one_equals_the_batch_row(planted, regime_model):
    _, test = planted
    batch = regime_model.decide(test["p1"][:30], regime_probs=test["regime_probs"][:30])

    for i in range(30):
        one = regime_model.decide_one(float(test["p1"][i]), regime_probs=test["regime_probs"][i])
        assert one.probability == batch.probability[i]
        assert one.direction == batch.direction[i]
        assert one.confidence == batch.confidence[i]
    assert ((batch.confidence >= 0) & (batch.confidence <= 1)).all()


# -- real data, serialization, errors ------------------------------------------------------------


def _real_stages() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    close = read_stocknet_daily("AAPL")["adj_close"]
    returns = close.pct_change()
    frame = pd.DataFrame({f"ret_{k}": close.pct_change(k) for k in (1, 5, 20)})
    up = (close.shift(-1) > close).astype(float)
    vol = returns.rolling(20).std()
    calm = sigmoid(-((vol - vol.rolling(120, min_periods=20).mean()) / vol.std()).to_numpy() * 3)
    keep = (frame.notna().all(axis=1) & close.shift(-1).notna() & ~np.isnan(calm)).to_numpy()
    x, y, calm = frame.to_numpy()[keep], up.to_numpy()[keep], calm[keep]
    stage1 = make_stage1("random_forest", {"n_estimators": 30, "min_samples_leaf": 20}, seed=0)
    stage1.fit(x[:500], y[:500], list(frame.columns), "spec")
    p1 = stage1.predict_proba(x[500:])  # held out: the meta-model never sees stage-1 training rows
    return p1, y[500:], np.column_stack([calm[500:], 1 - calm[500:]])


def test_meta_model_on_real_bars_is_deterministic_and_round_trips():
    p1, y, regime_probs = _real_stages()
    config = MetaConfig(regime_names=("calm", "stormy"), calibration="isotonic")

    first = MetaModel(config).fit(p1[:400], y[:400], regime_probs=regime_probs[:400], spec_hash="stage1-v1")
    second = MetaModel(config).fit(p1[:400], y[:400], regime_probs=regime_probs[:400], spec_hash="stage1-v1")
    restored = MetaModel.from_bytes(first.to_bytes())
    decision = restored.decide(p1[400:], regime_probs=regime_probs[400:])

    assert first.to_bytes() == second.to_bytes()
    assert first.to_bytes().startswith(META_FORMAT_HEADER)
    assert restored.to_bytes() == first.to_bytes()
    np.testing.assert_array_equal(
        decision.probability, first.predict_proba(p1[400:], regime_probs=regime_probs[400:])
    )
    assert ((decision.probability >= 0) & (decision.probability <= 1)).all()
    assert (decision.direction[~stage1_passes(p1[400:], config.stage1_margin)] == 0).all()
    assert restored.spec_hash_ == "stage1-v1" and restored.n_train_ + restored.n_calibration_ <= 400


@pytest.mark.parametrize("calibration", ["isotonic", "platt", "none"])
def test_every_calibration_choice_round_trips(planted, calibration):
    fit, test = planted
    config = MetaConfig(regime_names=REGIMES, use_p2=True, calibration=calibration)
    model = MetaModel(config).fit(fit["p1"], fit["y"], p2=fit["p2"], regime_probs=fit["regime_probs"])

    restored = MetaModel.from_bytes(model.to_bytes())

    kwargs = {"p2": test["p2"], "regime_probs": test["regime_probs"]}
    np.testing.assert_array_equal(
        restored.predict_proba(test["p1"], **kwargs), model.predict_proba(test["p1"], **kwargs)
    )
    assert restored.config == config
    assert (model.calibrator_ is None) == (calibration == "none")


def test_every_model_format_header_is_distinct():
    headers = [*ESTIMATOR_FORMATS, META_FORMAT_HEADER, ISOTONIC_FORMAT_HEADER, PLATT_FORMAT_HEADER]

    assert len(set(headers)) == len(headers)
    assert all(h.startswith(b"nautilus-ai/") and h.endswith(b"/1\n") for h in headers)


def test_meta_model_refuses_mismatched_inputs_naming_both_sides(regime_model, planted):
    _, test = planted

    with pytest.raises(ModelError, match=r"model: \['trend', 'revert'\]; live: \['bull', 'bear'\]"):
        regime_model.check_regimes(["bull", "bear"])
    with pytest.raises(ModelError, match="regime_probs has shape"):
        regime_model.predict_proba(test["p1"], regime_probs=test["regime_probs"][:, :1])
    with pytest.raises(ModelError, match="regime_probs are required"):
        regime_model.predict_proba(test["p1"])
    with pytest.raises(ModelError, match="use_p2=False"):
        regime_model.predict_proba(test["p1"], p2=test["p2"], regime_probs=test["regime_probs"])
    with pytest.raises(ModelError, match="only used in meta_label"):
        regime_model.predict_proba(test["p1"], regime_probs=test["regime_probs"], side=np.ones(4000))
    with pytest.raises(ModelError) as info:
        regime_model.check_features(["logit_p1"], "other-hash")
    assert "regime:trend" in str(info.value) and "other-hash" in str(info.value)
    regime_model.check_features(regime_model.config.feature_names(), regime_model.config.layout_hash())


def test_meta_model_refuses_bad_fits_and_bytes():
    with pytest.raises(ModelError, match="not fitted"):
        MetaModel().predict_proba(np.array([0.6]))
    with pytest.raises(ModelError, match="need both outcomes"):
        MetaModel().fit(np.full(50, 0.7), np.ones(50))
    with pytest.raises(ModelError, match="side must be"):
        MetaModel(MetaConfig(mode="meta_label")).fit(
            np.full(4, 0.7), np.array([0, 1, 0, 1]), side=np.zeros(4)
        )
    with pytest.raises(ModelError, match="not a serialized MetaModel"):
        MetaModel.from_bytes(PLATT_FORMAT_HEADER + b"{}\n")
    with pytest.raises(ModelError, match="corrupted"):
        MetaModel.from_bytes(META_FORMAT_HEADER + b'{"config": {"mode": "x"}}\n')
