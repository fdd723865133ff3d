"""StagedModel on real StockNet features: batch equals streaming, registry round trip, determinism, guards.

Three tickers' daily bars go through the batch twin of the FeatureActor
(:func:`~nautilus_ai.indicators.batch_features.batch_feature_frame`); a two-state HMM regime model
fitted on AAPL's training rows gives every row its filtered (causal) regime probabilities. Small
models are trained on the first part of the history and scored on the rest, where
:meth:`StagedModel.predict_frame` (one call over the interleaved instruments) must equal
:meth:`StagedModel.step` fed row by row with one streaming state per instrument.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from nautilus_ai.errors import ModelError
from nautilus_ai.indicators.batch_features import batch_feature_frame
from nautilus_ai.indicators.feature_spec import FeatureSpec
from nautilus_ai.learning.regime_models import HMMRegimeModel
from nautilus_ai.learning.registry import ModelRegistry
from nautilus_ai.learning.staged import StagedModel, StagedState
from nautilus_ai.learning.train_staged import StagedParams, fit_staged
from nautilus_ai.test_kit import read_stocknet_daily

torch.set_num_threads(1)

TICKERS = ("AAPL", "MSFT", "XOM")
SPEC = FeatureSpec()
NAMES = SPEC.feature_names()
SPEC_HASH = SPEC.fingerprint()
REGIME_FEATURES = ["ret_1", "rvol"]
TRAIN_END = pd.Timestamp("2016-01-01", tz="UTC")
SCORE_ROWS = 120  # rows per ticker scored in the parity tests (after the training window)
STAGE1 = {"n_estimators": 40, "num_leaves": 7, "min_child_samples": 20}
LSTM = {"kind": "lstm", "window": 5, "hidden": 8, "max_epochs": 3, "patience": 2}
META = {"calibration": "isotonic", "validation_fraction": 0.3}
PROBABILITY_COLUMNS = ["p1", "p2", "probability", "confidence"]
DECISION_COLUMNS = ["direction", "passed_filter"]
EXACT = 1e-9
"""Batch and streaming probabilities must agree to this (the issue's requirement)."""
FLOAT32 = 1e-9  # stage 2 infers in float64, so batch and streaming agree to the last bits
"""What stage 2 achieves today: its network runs in float32, and a window scored alone and the
same window scored in a batch differ by a few float32 ulps (~6e-8 for the LSTM, ~1.2e-7 for the
Transformer), as do float32 and float64 windows. Running the network and the scaling in float64 at
inference (and building ``predict_frame``'s windows in float64) brings both to ~1e-16."""


def _ticker_rows(ticker: str) -> pd.DataFrame:
    bars = read_stocknet_daily(ticker)
    features = batch_feature_frame(bars, SPEC)
    log_close = np.log(bars["close"])
    rows = features.copy()
    rows["instrument_id"] = f"{ticker}.XNAS"
    rows["fwd_return"] = (log_close.shift(-1) - log_close).reindex(rows.index)
    rows["label_end"] = pd.Series(bars.index, index=bars.index).shift(-1).reindex(rows.index)
    return rows


@pytest.fixture(scope="module")
def dataset() -> tuple[pd.DataFrame, list[str], list[str]]:
    """All tickers' rows, interleaved in time order, with regime probability columns."""
    per_ticker = {t: _ticker_rows(t) for t in TICKERS}
    aapl = per_ticker["AAPL"]
    regime_model = HMMRegimeModel(2, seed=0, n_init=2).fit(
        aapl.loc[aapl.index < TRAIN_END, REGIME_FEATURES], spec_hash=SPEC_HASH
    )
    regime_names = list(regime_model.regime_names_)
    regime_columns = [f"regime_{name}" for name in regime_names]
    for rows in per_ticker.values():
        rows[regime_columns] = regime_model.filter(rows[REGIME_FEATURES])
    frame = pd.concat(per_ticker.values()).sort_index(kind="stable")
    return frame, regime_columns, regime_names


def _fit(dataset, *, stage2: bool, stage3: bool, seed: int = 7) -> StagedModel:
    frame, regime_columns, regime_names = dataset
    use_regimes = stage3
    train = frame[(frame.index < TRAIN_END) & frame["fwd_return"].notna()]
    params = StagedParams(
        kind="lightgbm",
        params=dict(STAGE1),
        filter_margin=0.01,
        top_k=2,
        stage2=dict(LSTM) if stage2 else None,
        stage3=dict(META) if stage3 else None,
        seed=seed,
    )
    return fit_staged(
        train,
        NAMES,
        SPEC_HASH,
        params,
        regime_columns=regime_columns if use_regimes else (),
        regime_names=regime_names if use_regimes else (),
        history=frame,
    )


@pytest.fixture(scope="module")
def stage1_model(dataset) -> StagedModel:
    return _fit(dataset, stage2=False, stage3=False)


@pytest.fixture(scope="module")
def stage12_model(dataset) -> StagedModel:
    return _fit(dataset, stage2=True, stage3=False)


@pytest.fixture(scope="module")
def full_model(dataset) -> StagedModel:
    return _fit(dataset, stage2=True, stage3=True)


def _scored_rows(dataset) -> pd.DataFrame:
    frame = dataset[0]
    after = frame[frame.index >= TRAIN_END]
    return after.groupby("instrument_id", sort=False).head(SCORE_ROWS).sort_index(kind="stable")


def _inputs(model: StagedModel, rows: pd.DataFrame, regime_columns: list[str]):
    x = rows[NAMES].to_numpy(dtype=np.float64)
    regime = rows[regime_columns].to_numpy(dtype=np.float64) if model.regime_names else None
    return x, regime, rows["instrument_id"].to_numpy()


def _stream(model: StagedModel, x: np.ndarray, regime: np.ndarray | None, groups: np.ndarray) -> pd.DataFrame:
    states: dict[str, StagedState] = {}
    out = []
    for i, group in enumerate(groups):
        state = states.setdefault(group, model.new_state())
        decision = model.step(state, x[i], None if regime is None else regime[i])
        out.append(
            {
                "p1": decision.p1,
                "p2": decision.p2,
                "probability": decision.probability,
                "direction": decision.direction,
                "confidence": decision.confidence,
                "passed_filter": decision.passed_filter,
                "n_attributions": len(decision.attributions),
            }
        )
    return pd.DataFrame(out)


@pytest.mark.parametrize(
    ("fixture", "stages"),
    [
        ("stage1_model", ("stage1",)),
        ("stage12_model", ("stage1", "stage2")),
        ("full_model", ("stage1", "stage2", "stage3")),
    ],
)
def test_predict_frame_equals_streaming_steps_per_instrument(request, dataset, fixture, stages):
    model: StagedModel = request.getfixturevalue(fixture)
    rows = _scored_rows(dataset)
    x, regime, groups = _inputs(model, rows, dataset[1])

    batch = model.predict_frame(x, regime, groups)
    stream = _stream(model, x, regime, groups)

    assert model.stages == stages
    assert len(batch) == len(rows) == len(TICKERS) * SCORE_ROWS
    np.testing.assert_allclose(stream["p1"], batch["p1"], rtol=0, atol=EXACT)
    tolerance = FLOAT32 if "stage2" in stages else EXACT
    for column in PROBABILITY_COLUMNS:
        np.testing.assert_allclose(stream[column], batch[column], rtol=0, atol=tolerance, err_msg=column)
    for column in DECISION_COLUMNS:
        np.testing.assert_array_equal(stream[column], batch[column], err_msg=column)
    assert (stream["n_attributions"] == model.top_k).all()
    # the model is not a constant: it reacts to the features, and it trades in both directions
    assert batch["probability"].std() > 0
    assert set(batch["direction"]) <= {-1, 0, 1}
    if "stage2" in stages:
        # the first window - 1 rows of every instrument have no stage-2 opinion, all others do
        missing = batch["p2"].isna().groupby(groups).sum()
        assert (missing == model.window - 1).all()
    else:
        assert batch["p2"].isna().all()


def test_stage2_streaming_equals_batch_to_1e9(dataset, full_model):
    rows = _scored_rows(dataset)
    x, regime, groups = _inputs(full_model, rows, dataset[1])

    batch = full_model.predict_frame(x, regime, groups)
    stream = _stream(full_model, x, regime, groups)

    for column in PROBABILITY_COLUMNS:
        np.testing.assert_allclose(stream[column], batch[column], rtol=0, atol=EXACT, err_msg=column)


def test_registry_round_trip_gives_identical_predictions(dataset, full_model, tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    version = registry.register(
        full_model,
        name="staged-test",
        train_start="2012-01-01",
        train_end=str(TRAIN_END.date()),
        seed=7,
        params={"stages": list(full_model.stages)},
    )
    loaded = registry.load(version)
    rows = _scored_rows(dataset)
    x, regime, groups = _inputs(full_model, rows, dataset[1])

    assert isinstance(loaded, StagedModel)
    assert loaded.stages == full_model.stages
    assert loaded.regime_names == full_model.regime_names
    assert loaded.to_bytes() == full_model.to_bytes()
    pd.testing.assert_frame_equal(
        loaded.predict_frame(x, regime, groups), full_model.predict_frame(x, regime, groups)
    )


def test_same_seed_gives_the_same_bytes(dataset, full_model):
    again = _fit(dataset, stage2=True, stage3=True, seed=7)

    assert again.to_bytes() == full_model.to_bytes()


def test_features_that_differ_from_training_raise_naming_both_sets(full_model):
    live_names = [*NAMES[:-1], "volume_zscore"]

    with pytest.raises(ModelError) as caught:
        full_model.check_features(live_names, "other-spec-hash")

    message = str(caught.value)
    assert "volume_z" in message and "volume_zscore" in message
    assert SPEC_HASH in message and "other-spec-hash" in message


def test_regimes_that_differ_from_training_raise_naming_both_lists(full_model):
    live = list(reversed(full_model.regime_names))

    with pytest.raises(ModelError) as caught:
        full_model.check_regimes(live)

    assert str(list(full_model.regime_names)) in str(caught.value)
    assert str(live) in str(caught.value)


def test_missing_regime_probabilities_raise(dataset, full_model):
    rows = _scored_rows(dataset)
    x, regime, groups = _inputs(full_model, rows, dataset[1])
    assert regime is not None

    with pytest.raises(ModelError, match="regime"):
        full_model.predict_frame(x, None, groups)
    with pytest.raises(ModelError, match="regime"):
        full_model.step(full_model.new_state(), x[0], None)
    with pytest.raises(ModelError, match="shape"):
        full_model.predict_frame(x, regime[:, :1], groups)
