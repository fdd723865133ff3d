"""SignalActor hot swap and model expiry, with a real registry and two real staged models.

The models are staged (stage 1 only) LightGBM models fitted with ``fit_staged`` on the real AAPL
daily features of the default FeatureSpec; the actor runs in a small BacktestEngine over a few
months of real bars, fed by the real FeatureActor.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.catalog.types import FeatureVector, ModelSignal, topic_data_type
from nautilus_ai.errors import ConfigError
from nautilus_ai.indicators.batch_features import batch_feature_frame
from nautilus_ai.indicators.feature_actor import FeatureActor, FeatureActorConfig
from nautilus_ai.indicators.feature_spec import FeatureSpec
from nautilus_ai.learning.registry import ModelRegistry
from nautilus_ai.learning.signal_actor import (
    EXPIRED_PREFIX,
    SignalActor,
    SignalActorConfig,
    model_expired,
    parse_max_age,
)
from nautilus_ai.learning.train_staged import StagedParams, fit_staged
from nautilus_ai.live.control import MODEL_SWAP_TOPIC, ModelSwap
from nautilus_ai.risk.state import RISK_COMMAND_TOPIC, GateState, TradingStateCommand
from nautilus_ai.test_kit import make_backtest_engine, read_stocknet_daily, stocknet_bars, stocknet_equity

SPEC = FeatureSpec()
NAMES = SPEC.feature_names()
SPEC_HASH = SPEC.fingerprint()
NAME = "aapl-swap"
WINDOW = (pd.Timestamp("2015-01-01", tz="UTC"), pd.Timestamp("2015-07-01", tz="UTC"))
LONG, SHORT = 0.52, 0.48


def _rows() -> pd.DataFrame:
    bars = read_stocknet_daily("AAPL")
    rows = batch_feature_frame(bars, SPEC)
    log_close = np.log(bars["close"])
    rows["instrument_id"] = "AAPL.XNAS"
    rows["fwd_return"] = (log_close.shift(-1) - log_close).reindex(rows.index)
    rows["label_end"] = pd.Series(bars.index, index=bars.index).shift(-1).reindex(rows.index)
    return rows


def _fit(rows: pd.DataFrame, end: str, seed: int, names=NAMES, spec_hash=SPEC_HASH):
    train = rows[(rows.index < pd.Timestamp(end, tz="UTC")) & rows["fwd_return"].notna()]
    params = StagedParams(
        kind="lightgbm",
        params={"n_estimators": 30, "num_leaves": 7, "min_child_samples": 20},
        long_threshold=LONG,
        short_threshold=SHORT,
        seed=seed,
    )
    return fit_staged(train, list(names), spec_hash, params)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    rows = _rows()
    registry = ModelRegistry(tmp_path_factory.mktemp("registry"))
    old = _fit(rows, "2014-01-01", seed=1)
    new = _fit(rows, "2014-12-01", seed=2)
    other = _fit(rows, "2014-12-01", seed=3, names=NAMES[:-1], spec_hash="other-spec")
    common: dict[str, Any] = {"train_start": "2012-09-04", "params": {}}
    versions = {
        "old": registry.register(old, name=NAME, train_end="2014-01-01", seed=1, **common),
        "new": registry.register(new, name=NAME, train_end="2014-12-01", seed=2, **common),
        "other": registry.register(other, name=NAME, train_end="2014-12-01", seed=3, **common),
        "foreign": registry.register(new, name="msft-swap", train_end="2014-12-01", seed=2, **common),
    }
    return registry, versions, {"old": old, "new": new}


class RecorderConfig(ActorConfig, frozen=True):
    instrument_id: InstrumentId


class Recorder(Actor):
    """Record FeatureVectors, ModelSignals and risk commands in bus order."""

    def __init__(self, config: RecorderConfig) -> None:
        super().__init__(config)
        self.vectors: list[FeatureVector] = []
        self.signals: list[ModelSignal] = []
        self.commands: list[TradingStateCommand] = []

    def on_start(self) -> None:
        iid = self.config.instrument_id
        for cls in (FeatureVector, ModelSignal):
            self.subscribe_data(topic_data_type(cls, iid), instrument_id=iid)
        self.msgbus.subscribe(RISK_COMMAND_TOPIC, self.commands.append)

    def on_data(self, data: Data) -> None:
        if isinstance(data, FeatureVector):
            if not np.isnan(data.as_array()).all():
                self.vectors.append(data)
        elif isinstance(data, ModelSignal):
            self.signals.append(data)


class BarSwapperConfig(ActorConfig, frozen=True):
    bar_type: BarType
    after_bars: int
    swaps: tuple[tuple[str, str], ...]  # (name, version) published one after another


class BarSwapper(Actor):
    """Publish ModelSwap messages on MODEL_SWAP_TOPIC after a number of bars."""

    def __init__(self, config: BarSwapperConfig) -> None:
        super().__init__(config)
        self.bars = 0
        self.published_at: int | None = None

    def on_start(self) -> None:
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        if self.bars != self.config.after_bars:
            return
        self.published_at = bar.ts_event
        for name, version in self.config.swaps:
            swap = ModelSwap(name, version, None, "promote", "test", "cmd", bar.ts_event)
            self.msgbus.publish(MODEL_SWAP_TOPIC, swap)


def _run(registry, version, swaps=(), after_bars=60, **signal_kwargs):
    instrument = stocknet_equity("AAPL")
    bar_type, bars = stocknet_bars("AAPL")
    start = WINDOW[0] - pd.Timedelta(days=120)  # room for the FeatureActor's warm-up
    bars = [b for b in bars if start.value <= b.ts_event < WINDOW[1].value]
    engine = make_backtest_engine([instrument])
    engine.add_data(bars)
    signal_actor = SignalActor(
        SignalActorConfig(
            instrument_id=instrument.id,
            registry_path=str(registry.root),
            model_version=version,
            long_threshold=LONG,
            short_threshold=SHORT,
            fail_on_mismatch=True,
            **signal_kwargs,
        )
    )
    recorder = Recorder(RecorderConfig(instrument_id=instrument.id))
    # the swapper runs first on each bar, so its swap lands between two FeatureVectors
    engine.add_actor(
        BarSwapper(BarSwapperConfig(bar_type=bar_type, after_bars=after_bars, swaps=tuple(swaps)))
    )
    engine.add_actor(
        FeatureActor(FeatureActorConfig(instrument_id=instrument.id, bar_type=bar_type, spec=SPEC))
    )
    engine.add_actor(signal_actor)
    engine.add_actor(recorder)
    try:
        engine.run()
    finally:
        engine.dispose()
    return signal_actor, recorder


def _split(recorder: Recorder, version: str) -> int:
    versions = [s.model_version for s in recorder.signals]
    return versions.index(version) if version in versions else len(versions)


def test_swap_serves_the_new_version_from_the_next_event_without_a_gap(setup):
    registry, versions, models = setup
    actor, recorder = _run(registry, versions["old"], swaps=[(NAME, versions["new"])])

    signals = recorder.signals
    assert len(recorder.vectors) > 60
    assert [s.ts_event for s in signals] == [v.ts_event for v in recorder.vectors]  # no gap, no drop
    cut = _split(recorder, versions["new"])
    assert 0 < cut < len(signals)
    assert {s.model_version for s in signals[:cut]} == {versions["old"]}
    assert {s.model_version for s in signals[cut:]} == {versions["new"]}
    assert actor.model_version == versions["new"]
    assert [(old, new) for _, old, new in actor.swaps] == [(versions["old"], versions["new"])]
    assert actor.swap_refusals == []
    # each side was scored entirely by its own model
    x = np.vstack([v.as_array() for v in recorder.vectors])
    p = np.array([s.probability for s in signals])
    old_p = models["old"].predict_frame(x[:cut])["probability"].to_numpy()
    new_p = models["new"].predict_frame(x[cut:])["probability"].to_numpy()
    np.testing.assert_allclose(p[:cut], old_p, rtol=0, atol=1e-12)
    np.testing.assert_allclose(p[cut:], new_p, rtol=0, atol=1e-12)
    assert not np.allclose(p[cut:], models["old"].predict_frame(x[cut:])["probability"])


def test_swap_with_other_features_is_refused_and_the_old_model_keeps_serving(setup):
    registry, versions, _ = setup
    actor, recorder = _run(registry, versions["old"], swaps=[(NAME, versions["other"])])

    assert {s.model_version for s in recorder.signals} == {versions["old"]}
    assert [s.ts_event for s in recorder.signals] == [v.ts_event for v in recorder.vectors]
    assert actor.swaps == []
    assert len(actor.swap_refusals) == 1
    assert versions["other"] in actor.swap_refusals[0]
    assert "Keeping the current model" in actor.swap_refusals[0]
    assert actor.refusal is None


def test_swap_to_a_corrupted_artifact_is_refused_and_the_old_model_keeps_serving(setup, tmp_path):
    models = setup[2]
    corrupt = ModelRegistry(tmp_path / "registry")
    common: dict[str, Any] = {"name": NAME, "train_start": "2012-09-04", "params": {}}
    old = corrupt.register(models["old"], train_end="2014-01-01", seed=1, **common)
    new = corrupt.register(models["new"], train_end="2014-12-01", seed=2, **common)
    artifact = corrupt.artifact_path(new)
    artifact.chmod(0o644)
    artifact.write_bytes(artifact.read_bytes()[:-7] + b"garbage")

    actor, recorder = _run(corrupt, old, swaps=[(NAME, new)])

    assert {s.model_version for s in recorder.signals} == {old}
    assert len(recorder.signals) == len(recorder.vectors)
    assert len(actor.swap_refusals) == 1 and "corrupted" in actor.swap_refusals[0]


def test_swaps_of_another_model_name_are_ignored_and_a_later_valid_swap_applies(setup):
    registry, versions, _ = setup
    swaps = [("msft-swap", versions["foreign"]), (NAME, "aapl-swap-000000000000"), (NAME, versions["new"])]
    actor, recorder = _run(registry, versions["old"], swaps=swaps)

    assert len(actor.swap_refusals) == 1 and "not registered" in actor.swap_refusals[0]
    assert [(old, new) for _, old, new in actor.swaps] == [(versions["old"], versions["new"])]
    assert recorder.signals[-1].model_version == versions["new"]


def test_an_expired_model_stops_trading_once_and_halts_when_asked(setup):
    registry, versions, _ = setup
    # the old model is trained up to 2014-01-01: it expires on 2015-03-17 with a 440-day limit
    actor, recorder = _run(registry, versions["old"], model_max_age="440D", halt_on_expiry=True)

    limit = pd.Timestamp("2014-01-01", tz="UTC") + pd.Timedelta("440D")
    signals = recorder.signals
    fresh = [s for s in signals if s.ts_event <= limit.value]
    stale = [s for s in signals if s.ts_event > limit.value]
    assert len(fresh) > 20 and len(stale) > 20
    assert {s.direction for s in fresh} != {0}
    assert all(not s.regime.startswith(EXPIRED_PREFIX) for s in fresh)
    assert {s.direction for s in stale} == {0}
    assert {s.confidence for s in stale} == {0.0}
    assert all(s.regime.startswith(EXPIRED_PREFIX) for s in stale)
    assert len(signals) == len(recorder.vectors)  # still one signal per vector
    assert actor.expired_reason is not None and "model_max_age" in actor.expired_reason
    assert len(recorder.commands) == 1  # logged and halted once, not on every bar
    assert recorder.commands[0].state == GateState.HALTED


def test_swapping_in_a_fresh_model_resumes_directional_signals(setup):
    registry, versions, _ = setup
    # "old" is expired from the first event (age > 250D), "new" (train_end 2014-12-01) is not
    actor, recorder = _run(registry, versions["old"], swaps=[(NAME, versions["new"])], model_max_age="250D")

    cut = _split(recorder, versions["new"])
    assert {s.direction for s in recorder.signals[:cut]} == {0}
    assert {s.direction for s in recorder.signals[cut:]} != {0}
    assert actor.expired_reason is None
    assert recorder.commands == []  # halt_on_expiry is off


def test_model_age_helpers():
    day = pd.Timedelta("1D").value
    assert parse_max_age(None) is None
    assert parse_max_age("400D") == 400 * day
    assert model_expired(401 * day, 0, 400 * day)
    assert not model_expired(400 * day, 0, 400 * day)
    assert not model_expired(10_000 * day, 0, None)


@pytest.mark.parametrize("value", ["soon", "-5D", "0D"])
def test_invalid_model_max_age_names_the_field(value):
    iid = InstrumentId.from_str("AAPL.XNAS")
    with pytest.raises(ConfigError, match="model_max_age"):
        SignalActor(
            SignalActorConfig(instrument_id=iid, registry_path="/r", model_version="m-0", model_max_age=value)
        )
