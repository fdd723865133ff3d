"""fit_staged: every stage-1 kind, the purged meta split, and the errors on too little data."""

import numpy as np
import pandas as pd
import pytest

from nautilus_ai.errors import DataError
from nautilus_ai.indicators.batch_features import batch_feature_frame
from nautilus_ai.indicators.feature_spec import FeatureSpec
from nautilus_ai.learning.labels import forward_returns, label_end_times
from nautilus_ai.learning.registry import ModelRegistry
from nautilus_ai.learning.train_staged import StagedParams, fit_staged, split_for_meta
from nautilus_ai.test_kit import read_stocknet_daily

SPEC = FeatureSpec()
NAMES = SPEC.feature_names()
FAST = {
    "lightgbm": {"n_estimators": 30},
    "xgboost": {"n_estimators": 30},
    "random_forest": {"n_estimators": 20, "max_depth": 4},
}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    parts = []
    for symbol in ("AAPL", "MSFT"):
        bars = read_stocknet_daily(symbol)
        features = batch_feature_frame(bars, SPEC)
        close = bars["close"]
        labels = pd.DataFrame(
            {"fwd_return": forward_returns(close, 5), "label_end": label_end_times(close.index, 5)},
            index=close.index,
        )
        parts.append(features.join(labels).assign(instrument_id=symbol))
    rows = pd.concat(parts).sort_index(kind="stable")
    return rows[rows.index < "2015-06-01"].dropna(subset=["fwd_return"])


def test_split_for_meta_purges_base_rows_whose_label_reaches_the_split(frame):
    base, meta, split = split_for_meta(pd.DatetimeIndex(frame.index), frame["label_end"], 0.25)

    assert not (base & meta).any()
    assert (frame.index[meta] >= split).all()
    assert (pd.DatetimeIndex(frame["label_end"][base]) < split).all()
    assert 0.2 < meta.mean() < 0.3


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost", "random_forest"])
def test_every_stage1_kind_trains_serves_and_explains(frame, kind, tmp_path):
    params = StagedParams(kind=kind, params=FAST[kind], stage3={"calibration": "platt"}, seed=3)

    model = fit_staged(frame, NAMES, SPEC.fingerprint(), params)
    registry = ModelRegistry(tmp_path)
    loaded = registry.load(
        registry.register(model, name=f"t-{kind}", train_start="a", train_end="b", seed=3, params={})
    )
    x = frame[NAMES].to_numpy()[-50:]
    decision = loaded.step(loaded.new_state(), x[-1])

    assert loaded.stages == ("stage1", "stage3")
    expected = model.predict_frame(x)["probability"]
    np.testing.assert_array_equal(loaded.predict_frame(x)["probability"], expected)
    assert 0.0 <= decision.probability <= 1.0
    assert len(decision.attributions) == 3 and all(name in NAMES for name, _ in decision.attributions)


def test_too_few_rows_for_the_meta_window_is_a_clear_error(frame):
    params = StagedParams(stage3={"validation_fraction": 0.01}, params={"n_estimators": 10})

    with pytest.raises(DataError, match="stage 3"):
        fit_staged(frame.iloc[:400], NAMES, SPEC.fingerprint(), params)
