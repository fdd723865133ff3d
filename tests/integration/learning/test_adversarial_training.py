"""The minimax loop end to end on real bars: the adversary hurts, the refit model serves, seeds repeat."""

import numpy as np
import pandas as pd
import pytest

from nautilus_ai.config import FeaturesSection
from nautilus_ai.learning.adversarial import (
    AdversarialConfig,
    ScenarioBounds,
    adversarial_train,
    evaluate_strategy,
    feature_history,
)
from nautilus_ai.learning.staged import StagedModel
from nautilus_ai.learning.train_staged import StagedParams
from nautilus_ai.test_kit import read_stocknet_daily

SPEC = FeaturesSection().to_spec()
TRAIN_START = pd.Timestamp("2013-06-01", tz="UTC")
TRAIN_END = pd.Timestamp("2015-01-01", tz="UTC")
TEST_START = pd.Timestamp("2015-02-01", tz="UTC")
TEST_END = pd.Timestamp("2015-12-01", tz="UTC")
PARAMS = StagedParams(
    params={"n_estimators": 40, "num_leaves": 7, "min_child_samples": 20},
    stage2={"kind": "lstm", "window": 10, "hidden": 8, "max_epochs": 6, "patience": 3},
    stage3={"calibration": "platt", "validation_fraction": 0.25},
    long_threshold=0.52,
    short_threshold=0.48,
    seed=3,
)
CONFIG = AdversarialConfig(
    bounds=ScenarioBounds(volatility_multiplier=(1.0, 2.0), gap=(0.0, 0.1), spread_bp=(0.0, 10.0)),
    rounds=2,
    search_trials=6,
    refine_trials=3,
    sequence_epsilon=0.1,
    sequence_steps=2,
    seed=11,
)


@pytest.fixture(scope="module")
def bars() -> dict[str, pd.DataFrame]:
    frames = {f"{s}.XNAS": read_stocknet_daily(s) for s in ("AAPL", "JPM")}
    return {k: v[v.index < TEST_END] for k, v in frames.items()}


def _train(bars):
    training = {k: v[v.index < TRAIN_END + pd.Timedelta(days=15)] for k, v in bars.items()}
    return adversarial_train(
        training, SPEC, PARAMS, CONFIG, train_start=TRAIN_START, train_end=TRAIN_END, horizon=5
    )


@pytest.mark.slow
def test_adversarial_training_runs_end_to_end_and_repeats_for_a_seed(bars):
    result = _train(bars)

    history = result.history_frame()
    assert list(history["round"]) == [1, 2]
    assert (history["worst_objective"] < history["clean_objective"]).all()
    assert (history["adversarial_windows"] > 0).all()
    assert history["training_rows"].is_monotonic_increasing
    assert all(CONFIG.bounds.contains(record.scenario) for record in result.history)

    model = result.model
    assert isinstance(model, StagedModel)
    assert model.stages == ("stage1", "stage2", "stage3")
    features = feature_history(bars, SPEC)
    scores = model.predict_frame(
        features[list(model.feature_names_)].to_numpy(), groups=features["instrument_id"].to_numpy()
    )
    assert set(np.unique(scores["direction"])) <= {-1, 0, 1}
    assert np.isfinite(scores["probability"]).all()
    assert StagedModel.from_bytes(model.to_bytes()).to_bytes() == model.to_bytes()
    held_out = evaluate_strategy(model, bars, SPEC, start=TEST_START, end=TEST_END)
    assert np.isfinite(held_out.sharpe) and held_out.turnover > 0

    again = _train(bars)
    pd.testing.assert_frame_equal(history, again.history_frame())
    assert again.model.to_bytes() == model.to_bytes()
    assert again.plain_model.to_bytes() == result.plain_model.to_bytes()
