"""FeatureActor → RegimeActor → SignalActor (staged model, three stages, regimes) on real AAPL bars.

The signals the SignalActor publishes inside a BacktestEngine must equal what
:meth:`StagedModel.predict_frame` computes in one batch over the same FeatureVectors and
RegimeLabels, recorded from the bus. This is the test that allows research code to precompute
signals in batch instead of replaying the engine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.catalog.types import FeatureVector, ModelSignal, RegimeLabel, topic_data_type
from nautilus_ai.indicators.batch_features import batch_feature_frame
from nautilus_ai.indicators.feature_actor import FeatureActor, FeatureActorConfig
from nautilus_ai.indicators.feature_spec import FeatureSpec
from nautilus_ai.learning.regime_actor import RegimeActor
from nautilus_ai.learning.regime_models import HMMRegimeModel, RegimeModel
from nautilus_ai.learning.registry import ModelRegistry
from nautilus_ai.learning.signal_actor import SignalActor, SignalActorConfig
from nautilus_ai.learning.staged import StagedModel
from nautilus_ai.learning.train_staged import StagedParams, fit_staged
from nautilus_ai.test_kit import make_backtest_engine, read_stocknet_daily, stocknet_bars, stocknet_equity

torch.set_num_threads(1)

SPEC = FeatureSpec()
NAMES = SPEC.feature_names()
SPEC_HASH = SPEC.fingerprint()
REGIME_FEATURES = ["ret_1", "rvol"]
TRAIN_END = pd.Timestamp("2015-06-01", tz="UTC")
LONG, SHORT = 0.52, 0.48
FLOAT32 = 1e-9  # stage 2 infers in float64
"""Stage 2 scores in float32, so a window scored alone by the actor and the same window scored in
the batch differ by a few float32 ulps (~1e-7); see ``tests/unit/learning/test_staged.py``."""


class BusRecorderConfig(ActorConfig, frozen=True):
    instrument_id: InstrumentId


class BusRecorder(Actor):
    """Keep every FeatureVector, RegimeLabel and ModelSignal of one instrument, in bus order."""

    def __init__(self, config: BusRecorderConfig) -> None:
        super().__init__(config)
        self.vectors: list[FeatureVector] = []
        self.labels: list[RegimeLabel] = []
        self.signals: list[ModelSignal] = []

    def on_start(self) -> None:
        iid = self.config.instrument_id
        for cls in (FeatureVector, RegimeLabel, ModelSignal):
            self.subscribe_data(topic_data_type(cls, iid), instrument_id=iid)

    def on_data(self, data: Data) -> None:
        if isinstance(data, FeatureVector):
            self.vectors.append(data)
        elif isinstance(data, RegimeLabel):
            self.labels.append(data)
        elif isinstance(data, ModelSignal):
            self.signals.append(data)


def _training_rows(regime_model: RegimeModel) -> tuple[pd.DataFrame, list[str]]:
    bars = read_stocknet_daily("AAPL")
    features = batch_feature_frame(bars, SPEC)
    log_close = np.log(bars["close"])
    rows = features.copy()
    columns = [f"regime_{name}" for name in regime_model.regime_names_]
    rows[columns] = regime_model.filter(rows[REGIME_FEATURES])
    rows["instrument_id"] = "AAPL.XNAS"
    rows["fwd_return"] = (log_close.shift(-1) - log_close).reindex(rows.index)
    rows["label_end"] = pd.Series(bars.index, index=bars.index).shift(-1).reindex(rows.index)
    return rows, columns


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[RegimeModel, StagedModel, ModelRegistry, str]:
    features = batch_feature_frame(read_stocknet_daily("AAPL"), SPEC)
    regime_model = HMMRegimeModel(2, seed=0, n_init=2).fit(
        features.loc[features.index < TRAIN_END, REGIME_FEATURES], spec_hash=SPEC_HASH
    )
    rows, regime_columns = _training_rows(regime_model)
    train = rows[(rows.index < TRAIN_END) & rows["fwd_return"].notna()]
    params = StagedParams(
        kind="lightgbm",
        params={"n_estimators": 40, "num_leaves": 7, "min_child_samples": 20},
        long_threshold=LONG,
        short_threshold=SHORT,
        filter_margin=0.005,
        top_k=3,
        stage2={"kind": "lstm", "window": 5, "hidden": 8, "max_epochs": 3, "patience": 2},
        stage3={"calibration": "isotonic", "validation_fraction": 0.3},
        seed=5,
    )
    staged = fit_staged(
        train,
        NAMES,
        SPEC_HASH,
        params,
        regime_columns=regime_columns,
        regime_names=list(regime_model.regime_names_),
        history=rows,
    )
    registry = ModelRegistry(tmp_path_factory.mktemp("registry"))
    version = registry.register(
        staged,
        name="aapl-staged",
        train_start="2012-09-04",
        train_end=str(TRAIN_END.date()),
        seed=5,
        params={},
    )
    return regime_model, staged, registry, version


@pytest.fixture(scope="module")
def run(models) -> tuple[BusRecorder, SignalActor, RegimeActor]:
    regime_model, _, registry, version = models
    instrument = stocknet_equity("AAPL")
    bar_type, bars = stocknet_bars("AAPL")
    engine = make_backtest_engine([instrument])
    engine.add_data(bars)
    feature_actor = FeatureActor(
        FeatureActorConfig(instrument_id=instrument.id, bar_type=bar_type, spec=SPEC)
    )
    regime_actor = RegimeActor.from_model(regime_model, instrument.id, fail_on_mismatch=True)
    signal_actor = SignalActor(
        SignalActorConfig(
            instrument_id=instrument.id,
            registry_path=str(registry.root),
            model_version=version,
            long_threshold=LONG,
            short_threshold=SHORT,
            fail_on_mismatch=True,
        )
    )
    recorder = BusRecorder(BusRecorderConfig(instrument_id=instrument.id))
    for actor in (feature_actor, regime_actor, signal_actor, recorder):
        engine.add_actor(actor)
    try:
        engine.run()
    finally:
        engine.dispose()
    return recorder, signal_actor, regime_actor


def test_every_feature_vector_gets_a_regime_label_and_a_signal(run):
    recorder, signal_actor, regime_actor = run

    assert len(recorder.vectors) == 1258 - SPEC.warmup_bars() + 1
    assert regime_actor.labels_published == len(recorder.labels) == len(recorder.vectors)
    assert signal_actor.signals_published == len(recorder.signals) == len(recorder.vectors)
    assert signal_actor.refusal is None
    stamps = [v.ts_event for v in recorder.vectors]
    assert [label.ts_event for label in recorder.labels] == stamps
    assert [s.ts_event for s in recorder.signals] == stamps
    assert [s.ts_init for s in recorder.signals] == [v.ts_init for v in recorder.vectors]


def test_published_signals_equal_predict_frame_over_the_recorded_vectors_and_labels(models, run):
    _, staged, registry, version = models
    recorder, _, _ = run
    x = np.vstack([v.as_array() for v in recorder.vectors])
    regime = np.array(
        [[label.probabilities[name] for name in staged.regime_names] for label in recorder.labels]
    )

    batch = StagedModel.from_bytes(registry.artifact_path(version).read_bytes()).predict_frame(x, regime)

    signals = recorder.signals
    probability = np.array([s.probability for s in signals])
    confidence = np.array([s.confidence for s in signals])
    direction = np.array([s.direction for s in signals])
    assert staged.stages == ("stage1", "stage2", "stage3")
    np.testing.assert_allclose(probability, batch["probability"], rtol=0, atol=FLOAT32)
    np.testing.assert_allclose(confidence, batch["confidence"], rtol=0, atol=FLOAT32)
    np.testing.assert_array_equal(direction, batch["direction"])
    assert [s.regime for s in signals] == [label.regime for label in recorder.labels]
    assert {s.model_version for s in signals} == {version}
    assert all(s.top_attributions for s in signals)
    # the comparison is not trivial: the model reacts, decides more than one way, and the regime
    # changes during the run
    assert probability.std() > 0
    assert len(set(direction.tolist())) >= 2
    assert len({s.regime for s in signals}) == len(staged.regime_names)


def test_regime_labels_equal_the_batch_filter_over_the_recorded_vectors(models, run):
    regime_model, staged, _, _ = models
    recorder, _, _ = run
    names = recorder.vectors[0].feature_names()
    columns = [names.index(f) for f in REGIME_FEATURES]
    x = np.vstack([v.as_array()[columns] for v in recorder.vectors])

    expected = regime_model.filter(x)

    published = np.array(
        [[label.probabilities[name] for name in staged.regime_names] for label in recorder.labels]
    )
    np.testing.assert_allclose(published, expected, rtol=0, atol=1e-12)
