"""RegimeActor behind the FeatureActor in a real BacktestEngine on real AAPL daily bars."""

from pathlib import Path

import numpy as np
import pytest
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai import test_kit
from nautilus_ai.catalog.types import FeatureVector, RegimeLabel, topic_data_type
from nautilus_ai.errors import ConfigError, ModelError
from nautilus_ai.indicators.feature_actor import FeatureActor, FeatureActorConfig
from nautilus_ai.indicators.feature_spec import FeatureSpec
from nautilus_ai.learning.regime_actor import RegimeActor, RegimeActorConfig
from nautilus_ai.learning.regime_models import HMMRegimeModel, KMeansRegimeModel
from nautilus_ai.learning.registry import ModelRegistry

SPEC = FeatureSpec()
INPUTS = ["ret_1", "rvol"]
TRAIN_ROWS = 600


class WarmupMarkerConfig(ActorConfig, frozen=True):
    bar_type: BarType
    first_ts: int


class WarmupMarker(Actor):
    """Publishes the all-NaN warm-up marker vector for every bar before the first real vector."""

    def __init__(self, config: WarmupMarkerConfig) -> None:
        super().__init__(config)
        self.published = 0

    def on_start(self) -> None:
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        if bar.ts_init >= self.config.first_ts:
            return
        iid = self.config.bar_type.instrument_id
        names = SPEC.feature_names()
        vector = FeatureVector.create(
            iid, SPEC.fingerprint(), names, [np.nan] * len(names), bar.ts_event, bar.ts_init
        )
        self.publish_data(topic_data_type(FeatureVector, iid), vector)
        self.published += 1


class CollectorConfig(ActorConfig, frozen=True):
    instrument_id: InstrumentId


class Collector(Actor):
    def __init__(self, config: CollectorConfig) -> None:
        super().__init__(config)
        self.vectors: list[FeatureVector] = []
        self.labels: list[RegimeLabel] = []

    def on_start(self) -> None:
        iid = self.config.instrument_id
        self.subscribe_data(topic_data_type(FeatureVector, iid), instrument_id=iid)
        self.subscribe_data(topic_data_type(RegimeLabel, iid), instrument_id=iid)

    def on_data(self, data: Data) -> None:
        if isinstance(data, RegimeLabel):
            self.labels.append(data)
        elif isinstance(data, FeatureVector) and not np.isnan(data.as_array()).all():
            self.vectors.append(data)


@pytest.fixture(scope="module")
def aapl(tmp_path_factory):
    """AAPL bars, and the FeatureVectors the FeatureActor makes of them (replayed once)."""
    instrument = test_kit.stocknet_equity("AAPL")
    bar_type, bars = test_kit.stocknet_bars("AAPL")
    frame = test_kit.replay_feature_actor(
        instrument, bar_type, [bars], SPEC, tmp_path_factory.mktemp("features") / "aapl.parquet"
    )
    return instrument, bar_type, bars, frame


@pytest.fixture(scope="module")
def model(aapl) -> HMMRegimeModel:
    *_, frame = aapl
    return HMMRegimeModel(3, seed=0, n_init=2).fit(
        frame[INPUTS].iloc[:TRAIN_ROWS], spec_hash=SPEC.fingerprint()
    )


def run(aapl, regime_actor: RegimeActor, bars=None):
    instrument, bar_type, all_bars, frame = aapl
    engine = test_kit.make_backtest_engine([instrument])
    marker = WarmupMarker(WarmupMarkerConfig(bar_type=bar_type, first_ts=int(frame["ts_init"].iloc[0])))
    collector = Collector(CollectorConfig(instrument_id=instrument.id))
    engine.add_data(list(all_bars if bars is None else bars))
    engine.add_actor(marker)
    engine.add_actor(
        FeatureActor(FeatureActorConfig(instrument_id=instrument.id, bar_type=bar_type, spec=SPEC))
    )
    engine.add_actor(regime_actor)
    engine.add_actor(collector)
    return engine, marker, collector


def test_regime_actor_publishes_one_label_per_warm_vector_equal_to_the_batch_filter(aapl, model, tmp_path):
    instrument, _, bars, frame = aapl
    path = Path(tmp_path) / "regime.bin"
    path.write_bytes(model.to_bytes())
    actor = RegimeActor(RegimeActorConfig(instrument_id=instrument.id, model_path=str(path)))
    engine, marker, collector = run(aapl, actor)

    try:
        engine.run()
    finally:
        engine.dispose()

    labels, vectors = collector.labels, collector.vectors
    assert marker.published == len(bars) - len(frame) > 0
    assert actor.warmup_skipped == marker.published  # all-NaN vectors are skipped
    assert len(labels) == len(vectors) == len(frame) == actor.labels_published
    # labels carry their vector's timestamps: no look-ahead
    assert [label.ts_event for label in labels] == [v.ts_event for v in vectors]
    assert [label.ts_init for label in labels] == [v.ts_init for v in vectors]
    assert [label.ts_init for label in labels] == frame["ts_init"].tolist()
    assert {label.model_version for label in labels} == {f"hmm-{model.fingerprint()}"}
    assert {label.instrument_id for label in labels} == {instrument.id}
    # the online labels equal the offline batch filter over the recorded feature matrix
    offline = model.filter(frame[INPUTS])
    online = np.array([[label.probabilities[name] for name in model.regime_names_] for label in labels])
    np.testing.assert_array_equal(online, offline)
    assert [label.regime for label in labels] == model.regimes(frame[INPUTS])
    assert all(set(label.probabilities) == set(model.regime_names_) for label in labels)
    np.testing.assert_allclose(online.sum(axis=1), 1.0)
    assert len({label.regime for label in labels}) >= 2


def test_regime_actor_serves_a_registered_model(aapl, model, tmp_path):
    instrument, _, bars, frame = aapl
    registry = ModelRegistry(Path(tmp_path) / "registry")
    version = registry.register(
        model, name="aapl-regime", train_start="2014-01-01", train_end="2016-06-30", seed=0, params={}
    )
    actor = RegimeActor(
        RegimeActorConfig(
            instrument_id=instrument.id, registry_path=str(registry.root), model_version=version
        )
    )
    engine, _, collector = run(aapl, actor, bars=bars[:200])

    try:
        engine.run()
    finally:
        engine.dispose()

    assert len(collector.labels) == len(collector.vectors) > 100
    assert {label.model_version for label in collector.labels} == {version}
    inputs = frame[INPUTS].iloc[: len(collector.labels)]
    assert [label.regime for label in collector.labels] == model.regimes(inputs)


def test_regime_actor_refuses_vectors_without_the_model_features(aapl):
    instrument, *_, frame = aapl
    features = frame[["ret_1", "rvol"]].rename(columns={"rvol": "vpin"}).iloc[:TRAIN_ROWS]
    foreign = KMeansRegimeModel(2, n_init=1).fit(features)
    actor = RegimeActor.from_model(foreign, instrument.id, model_version="kmeans-test")
    engine, _, collector = run(aapl, actor)

    try:
        engine.run(streaming=True)  # keep the trader running to observe the actor's own state
        assert actor.is_stopped
        engine.end()
    finally:
        engine.dispose()

    assert collector.labels == []
    assert isinstance(actor.refusal, ModelError)
    assert "vpin" in str(actor.refusal) and "rvol" in str(actor.refusal)


def test_regime_actor_can_fail_the_run_on_another_feature_spec(aapl, model):
    instrument, _, bars, frame = aapl
    other = HMMRegimeModel(3, seed=0, n_init=1).fit(frame[INPUTS].iloc[:TRAIN_ROWS], spec_hash="other-spec")
    actor = RegimeActor.from_model(other, instrument.id, fail_on_mismatch=True)
    engine, _, collector = run(aapl, actor, bars=bars[:100])

    try:
        with pytest.raises(ModelError, match="other-spec"):
            engine.run()
    finally:
        engine.dispose()

    assert collector.labels == []


def test_regime_actor_config_needs_exactly_one_model_source(model):
    iid = InstrumentId.from_str("AAPL.XNAS")
    with pytest.raises(ConfigError, match="exactly one model source"):
        RegimeActor(RegimeActorConfig(instrument_id=iid))
    with pytest.raises(ConfigError, match="exactly one model source"):
        RegimeActor(RegimeActorConfig(instrument_id=iid, model_path="a.bin"), model=model)
    with pytest.raises(ConfigError, match="model_version"):
        RegimeActor(RegimeActorConfig(instrument_id=iid, registry_path="registry"))


def test_regime_actor_with_a_missing_model_file_fails_the_run(aapl, tmp_path):
    instrument, _, bars, _ = aapl
    missing = str(Path(tmp_path) / "nope.bin")
    actor = RegimeActor(RegimeActorConfig(instrument_id=instrument.id, model_path=missing))
    engine, _, collector = run(aapl, actor, bars=bars[:20])

    try:
        with pytest.raises(ModelError, match=r"nope\.bin"):
            engine.run()
    finally:
        engine.dispose()

    assert collector.labels == []


def test_regime_actor_is_importable_by_path_for_node_configs(tmp_path):
    from nautilus_trader.common.config import ActorFactory
    from nautilus_trader.config import ImportableActorConfig

    config = ImportableActorConfig(
        actor_path="nautilus_ai.learning.regime_actor:RegimeActor",
        config_path="nautilus_ai.learning.regime_actor:RegimeActorConfig",
        config={"instrument_id": "AAPL.XNAS", "model_path": str(Path(tmp_path) / "regime.bin")},
    )
    actor = ActorFactory.create(config)
    assert isinstance(actor, RegimeActor)
    assert actor.config.instrument_id == InstrumentId.from_str("AAPL.XNAS")
