"""A ModelSwap published on a timer in the middle of a BacktestEngine run over all real AAPL bars.

FeatureActor -> SignalActor -> recorder, with a test actor that publishes a ``ModelSwap`` on
``MODEL_SWAP_TOPIC`` from a time alert (not from a bar handler): the signals before the alert carry
the old version, those after it the new one, and the signal sequence has no gap.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.common.actor import Actor
from nautilus_trader.common.events import TimeEvent
from nautilus_trader.config import ActorConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.catalog.types import FeatureVector, ModelSignal, topic_data_type
from nautilus_ai.indicators.batch_features import batch_feature_frame
from nautilus_ai.indicators.feature_actor import FeatureActor, FeatureActorConfig
from nautilus_ai.indicators.feature_spec import FeatureSpec
from nautilus_ai.learning.registry import ModelRegistry
from nautilus_ai.learning.signal_actor import EXPIRED_PREFIX, SignalActor, SignalActorConfig
from nautilus_ai.learning.train_staged import StagedParams, fit_staged
from nautilus_ai.live.control import MODEL_SWAP_TOPIC, ModelSwap
from nautilus_ai.strategies.ml_strategy import MLStrategy, MLStrategyConfig
from nautilus_ai.test_kit import make_backtest_engine, read_stocknet_daily, stocknet_bars, stocknet_equity

SPEC = FeatureSpec()
NAMES = SPEC.feature_names()
NAME = "aapl-hot"
SWAP_AT = pd.Timestamp("2015-06-15 12:00", tz="UTC")  # a Monday, between two daily closes


def _fit(rows: pd.DataFrame, end: str, seed: int):
    train = rows[(rows.index < pd.Timestamp(end, tz="UTC")) & rows["fwd_return"].notna()]
    params = StagedParams(kind="lightgbm", params={"n_estimators": 30, "num_leaves": 7}, seed=seed)
    return fit_staged(train, NAMES, SPEC.fingerprint(), params)


class RecorderConfig(ActorConfig, frozen=True):
    instrument_id: InstrumentId


class Recorder(Actor):
    def __init__(self, config: RecorderConfig) -> None:
        super().__init__(config)
        self.vectors: list[FeatureVector] = []
        self.signals: list[ModelSignal] = []

    def on_start(self) -> None:
        iid = self.config.instrument_id
        for cls in (FeatureVector, ModelSignal):
            self.subscribe_data(topic_data_type(cls, iid), instrument_id=iid)

    def on_data(self, data: Data) -> None:
        if isinstance(data, FeatureVector) and not np.isnan(data.as_array()).all():
            self.vectors.append(data)
        elif isinstance(data, ModelSignal):
            self.signals.append(data)


class TimedSwapperConfig(ActorConfig, frozen=True):
    name: str
    version_id: str
    previous_version_id: str
    at_ns: int


class TimedSwapper(Actor):
    """Publish one ModelSwap from a time alert."""

    def __init__(self, config: TimedSwapperConfig) -> None:
        super().__init__(config)
        self.fired_at: int | None = None

    def on_start(self) -> None:
        self.clock.set_time_alert_ns("swap", self.config.at_ns, self._swap)

    def _swap(self, event: TimeEvent) -> None:
        self.fired_at = event.ts_event
        swap = ModelSwap(
            name=self.config.name,
            version_id=self.config.version_id,
            previous_version_id=self.config.previous_version_id,
            action="promote",
            actor="timer",
            command_id="test-swap",
            ts_event=event.ts_event,
        )
        self.msgbus.publish(MODEL_SWAP_TOPIC, swap)


def _registry(tmp_path) -> tuple[ModelRegistry, str, str]:
    bars_frame = read_stocknet_daily("AAPL")
    rows = batch_feature_frame(bars_frame, SPEC)
    log_close = np.log(bars_frame["close"])
    rows["instrument_id"] = "AAPL.XNAS"
    rows["fwd_return"] = (log_close.shift(-1) - log_close).reindex(rows.index)
    rows["label_end"] = pd.Series(bars_frame.index, index=bars_frame.index).shift(-1).reindex(rows.index)
    registry = ModelRegistry(tmp_path / "registry")
    common: dict[str, Any] = {"name": NAME, "train_start": "2012-09-04", "params": {}}
    old = registry.register(_fit(rows, "2014-01-01", 1), train_end="2014-01-01", seed=1, **common)
    new = registry.register(_fit(rows, "2015-06-01", 2), train_end="2015-06-01", seed=2, **common)
    return registry, old, new


@pytest.mark.slow
def test_an_expired_model_stops_the_strategy_trading(tmp_path):
    registry, old, _ = _registry(tmp_path)
    expires = pd.Timestamp("2014-01-01", tz="UTC") + pd.Timedelta("500D")
    instrument = stocknet_equity("AAPL")
    bar_type, bars = stocknet_bars("AAPL")
    engine = make_backtest_engine([instrument])
    engine.add_data(bars)
    signal_actor = SignalActor(
        SignalActorConfig(
            instrument_id=instrument.id,
            registry_path=str(registry.root),
            model_version=old,
            long_threshold=0.5,
            short_threshold=0.5,
            model_max_age="500D",
        )
    )
    recorder = Recorder(RecorderConfig(instrument_id=instrument.id))
    strategy = MLStrategy(
        MLStrategyConfig(
            instrument_id=instrument.id,
            bar_type=bar_type,
            target_volatility=0.2,
            volatility_window=20,
            periods_per_year=252.0,
            max_weight=1.0,
            rebalance_band=0.0,
        )
    )
    engine.add_actor(
        FeatureActor(FeatureActorConfig(instrument_id=instrument.id, bar_type=bar_type, spec=SPEC))
    )
    engine.add_actor(signal_actor)
    engine.add_actor(recorder)
    engine.add_strategy(strategy)
    try:
        engine.run()
        orders = list(engine.cache.orders())
        open_positions = list(engine.cache.positions_open())
    finally:
        engine.dispose()

    first_expired = next(s for s in recorder.signals if s.ts_event > expires.value)
    assert first_expired.direction == 0 and first_expired.regime.startswith(EXPIRED_PREFIX)
    before = [o for o in orders if o.ts_init < first_expired.ts_event]
    after = [o for o in orders if o.ts_init > first_expired.ts_event]
    assert len(before) > 5  # the fresh model traded
    assert after == []  # nothing after the flattening order of the first expired signal
    assert open_positions == []
    assert signal_actor.expired_reason is not None


@pytest.mark.slow
def test_model_swap_on_a_timer_mid_run_switches_versions_without_a_gap(tmp_path):
    registry, old, new = _registry(tmp_path)
    instrument = stocknet_equity("AAPL")
    bar_type, bars = stocknet_bars("AAPL")
    engine = make_backtest_engine([instrument])
    engine.add_data(bars)
    swapper = TimedSwapper(
        TimedSwapperConfig(name=NAME, version_id=new, previous_version_id=old, at_ns=SWAP_AT.value)
    )
    signal_actor = SignalActor(
        SignalActorConfig(
            instrument_id=instrument.id,
            registry_path=str(registry.root),
            model_version=old,
            fail_on_mismatch=True,
        )
    )
    recorder = Recorder(RecorderConfig(instrument_id=instrument.id))
    engine.add_actor(
        FeatureActor(FeatureActorConfig(instrument_id=instrument.id, bar_type=bar_type, spec=SPEC))
    )
    engine.add_actor(signal_actor)
    engine.add_actor(recorder)
    engine.add_actor(swapper)
    try:
        engine.run()
    finally:
        engine.dispose()

    signals = recorder.signals
    assert swapper.fired_at == SWAP_AT.value
    assert len(signals) == len(bars) - SPEC.warmup_bars() + 1 == len(recorder.vectors)
    assert [s.ts_event for s in signals] == [v.ts_event for v in recorder.vectors]  # no gap
    before = [s for s in signals if s.ts_event < SWAP_AT.value]
    after = [s for s in signals if s.ts_event > SWAP_AT.value]
    assert len(before) + len(after) == len(signals)
    assert before and after
    assert {s.model_version for s in before} == {old}
    assert {s.model_version for s in after} == {new}
    assert signal_actor.model_version == new
    assert [(o, n) for _, o, n in signal_actor.swaps] == [(old, new)]
    assert signal_actor.swaps[0][0] == SWAP_AT.value  # swapped at the alert, between two closes
