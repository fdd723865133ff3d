"""SignalActor inside a real BacktestEngine on real AAPL daily bars."""

from collections import deque
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.backtest.config import BacktestEngineConfig
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig, LoggingConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, OmsType
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.model.objects import Money
from nautilus_trader.persistence.wranglers import BarDataWrangler
from nautilus_trader.test_kit.providers import TestInstrumentProvider

from nautilus_ai.catalog.types import FeatureVector, ModelSignal, topic_data_type
from nautilus_ai.errors import ModelError
from nautilus_ai.learning.model import DirectionClassifier
from nautilus_ai.learning.registry import ModelRegistry
from nautilus_ai.learning.signal_actor import SignalActor, SignalActorConfig

AAPL_CSV = Path(__file__).resolve().parents[3] / "data" / "bars_daily" / "stocknet" / "AAPL.csv"
NAMES = ["ret_1", "ret_5", "range"]
SPEC = "test-spec-v1"
WARMUP = 5


def _aapl_bars() -> tuple[BarType, list[Bar]]:
    instrument = TestInstrumentProvider.equity("AAPL", "XNAS")
    raw = pd.read_csv(AAPL_CSV)
    # daily bars are known at the close: stamp them 21:00 UTC (16:00 New York) to avoid look-ahead
    index = pd.DatetimeIndex(pd.to_datetime(raw["Date"], utc=True, format="ISO8601")) + pd.Timedelta(hours=21)
    frame = pd.DataFrame(
        {
            "open": raw["Open"].to_numpy(),
            "high": raw["High"].to_numpy(),
            "low": raw["Low"].to_numpy(),
            "close": raw["Close"].to_numpy(),
            "volume": raw["Volume"].to_numpy(dtype="float64"),
        },
        index=index,
    )
    bar_type = BarType.from_str(f"{instrument.id}-1-DAY-LAST-EXTERNAL")
    wrangler = BarDataWrangler(bar_type, instrument)  # pandas-3 safe path (guide §6)
    values = frame[["open", "high", "low", "close", "volume"]].to_numpy(dtype="float64", copy=True)
    stamps = frame.index.as_unit("ns").asi8
    return bar_type, [wrangler._build_bar(v, int(t), int(t)) for v, t in zip(values, stamps, strict=True)]


class BarFeatureConfig(ActorConfig, frozen=True):
    bar_type: BarType
    spec_hash: str = SPEC


class BarFeaturePublisher(Actor):
    """Stand-in for the FeatureActor: all-NaN vectors during warm-up, then three bar features."""

    def __init__(self, config: BarFeatureConfig) -> None:
        super().__init__(config)
        self.closes: deque[float] = deque(maxlen=WARMUP + 1)
        self.vectors: list[FeatureVector] = []

    def on_start(self) -> None:
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        close = bar.close.as_double()
        self.closes.append(close)
        if len(self.closes) <= WARMUP:
            values = [np.nan] * len(NAMES)
        else:
            values = [
                close / self.closes[-2] - 1,
                close / self.closes[0] - 1,
                (bar.high.as_double() - bar.low.as_double()) / close,
            ]
        iid = self.config.bar_type.instrument_id
        vector = FeatureVector.create(iid, self.config.spec_hash, NAMES, values, bar.ts_event, bar.ts_init)
        self.vectors.append(vector)
        self.publish_data(topic_data_type(FeatureVector, iid), vector)


class SignalCounterConfig(ActorConfig, frozen=True):
    instrument_id: InstrumentId


class SignalCounter(Actor):
    def __init__(self, config: SignalCounterConfig) -> None:
        super().__init__(config)
        self.signals: list[ModelSignal] = []

    def on_start(self) -> None:
        iid = self.config.instrument_id
        self.subscribe_data(topic_data_type(ModelSignal, iid), instrument_id=iid)

    def on_data(self, data: Data) -> None:
        if isinstance(data, ModelSignal):
            self.signals.append(data)


@pytest.fixture(scope="module")
def aapl() -> tuple[BarType, list[Bar]]:
    return _aapl_bars()


@pytest.fixture(scope="module")
def registry_and_version(tmp_path_factory) -> tuple[ModelRegistry, str]:
    rng = np.random.default_rng(42)
    x = rng.normal(0, 0.02, size=(600, len(NAMES)))
    x[:, 2] = np.abs(x[:, 2])
    y = (x[:, 1] + rng.normal(0, 0.02, 600) > 0).astype(int)
    model = DirectionClassifier(params={"n_estimators": 50}, seed=3).fit(x, y, NAMES, SPEC)
    registry = ModelRegistry(tmp_path_factory.mktemp("registry"))
    version = registry.register(
        model, name="aapl-dir", train_start="2010-01-01", train_end="2012-01-01", seed=3, params={}
    )
    return registry, version


def _run(bar_type, bars, registry, version, spec_hash=SPEC, **signal_kwargs):
    engine = BacktestEngine(
        BacktestEngineConfig(trader_id="TESTER-001", logging=LoggingConfig(bypass_logging=True))
    )
    instrument = TestInstrumentProvider.equity("AAPL", "XNAS")
    engine.add_venue(
        venue=Venue("XNAS"),
        oms_type=OmsType.NETTING,
        account_type=AccountType.CASH,
        base_currency=USD,
        starting_balances=[Money(1_000_000, USD)],
    )
    engine.add_instrument(instrument)
    engine.add_data(bars)
    publisher = BarFeaturePublisher(BarFeatureConfig(bar_type=bar_type, spec_hash=spec_hash))
    signal_actor = SignalActor(
        SignalActorConfig(
            instrument_id=instrument.id,
            registry_path=str(registry.root),
            model_version=version,
            **signal_kwargs,
        )
    )
    counter = SignalCounter(SignalCounterConfig(instrument_id=instrument.id))
    engine.add_actor(publisher)
    engine.add_actor(signal_actor)
    engine.add_actor(counter)
    return engine, publisher, signal_actor, counter


def test_signal_actor_publishes_one_signal_per_warm_bar(aapl, registry_and_version):
    bar_type, bars = aapl
    registry, version = registry_and_version
    engine, publisher, signal_actor, counter = _run(bar_type, bars, registry, version)

    try:
        engine.run()
    finally:
        engine.dispose()

    signals = counter.signals
    assert len(publisher.vectors) == len(bars) == 1258
    assert len(signals) == len(bars) - WARMUP == signal_actor.signals_published
    assert signal_actor.warmup_skipped == WARMUP
    assert {s.model_version for s in signals} == {version}
    assert {s.horizon_bars for s in signals} == {1}
    probabilities = np.array([s.probability for s in signals])
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert probabilities.std() > 0  # the model reacts to the features
    for s in signals:
        expected = 1 if s.probability >= 0.55 else (-1 if s.probability <= 0.45 else 0)
        assert s.direction == expected
        assert s.confidence == pytest.approx(abs(s.probability - 0.5) * 2)
    assert {s.direction for s in signals} == {-1, 0, 1}
    # signals carry the features' timestamps (no look-ahead) and the offline model agrees exactly
    warm = publisher.vectors[WARMUP:]
    assert [s.ts_event for s in signals] == [v.ts_event for v in warm]
    assert [s.ts_init for s in signals] == [v.ts_init for v in warm]
    offline = registry.load(version).predict_proba(np.vstack([v.as_array() for v in warm]))
    np.testing.assert_array_equal(probabilities, offline)


def test_signal_actor_refuses_to_serve_mismatched_features(aapl, registry_and_version):
    bar_type, bars = aapl
    registry, version = registry_and_version
    engine, publisher, signal_actor, counter = _run(bar_type, bars, registry, version, spec_hash="other-spec")

    try:
        engine.run(streaming=True)  # keep the trader running to observe the actor's own state
        assert signal_actor.is_stopped
        assert publisher.is_running
        engine.end()
    finally:
        engine.dispose()

    assert counter.signals == []
    assert isinstance(signal_actor.refusal, ModelError)
    message = str(signal_actor.refusal)
    assert SPEC in message and "other-spec" in message


def test_signal_actor_can_fail_the_run_on_mismatched_features(aapl, registry_and_version):
    bar_type, bars = aapl
    registry, version = registry_and_version
    engine, _, _, counter = _run(
        bar_type, bars, registry, version, spec_hash="other-spec", fail_on_mismatch=True
    )

    try:
        with pytest.raises(ModelError, match="refuses to serve"):
            engine.run()
    finally:
        engine.dispose()

    assert counter.signals == []


def test_signal_actor_with_an_unknown_model_version_fails_the_run(aapl, registry_and_version):
    bar_type, bars = aapl
    registry, _ = registry_and_version
    engine, _, _, counter = _run(bar_type, bars[:20], registry, "aapl-dir-000000000000")

    try:
        with pytest.raises(ModelError, match="not registered"):
            engine.run()
    finally:
        engine.dispose()

    assert counter.signals == []
