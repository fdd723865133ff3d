"""The shadow evaluator: a challenger scored beside the champion on replayed real AAPL bars.

FeatureActor -> SignalActor (champion, trading side) and ShadowEvaluator (champion + challenger,
no trading). After ``min_outcomes`` resolved forward returns the evaluator compares both models;
with a permissive gate it promotes the challenger in the registry and publishes a ModelSwap, which
the SignalActor applies between two events.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.catalog.types import FeatureVector, ModelSignal, topic_data_type
from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.indicators.batch_features import batch_feature_frame
from nautilus_ai.indicators.feature_actor import FeatureActor, FeatureActorConfig
from nautilus_ai.indicators.feature_spec import FeatureSpec
from nautilus_ai.learning.promotion import PromotionGate
from nautilus_ai.learning.registry import ModelRegistry
from nautilus_ai.learning.shadow import ShadowEvaluator, ShadowEvaluatorConfig, compare_shadow
from nautilus_ai.learning.signal_actor import SignalActor, SignalActorConfig
from nautilus_ai.learning.train_staged import StagedParams, fit_staged
from nautilus_ai.test_kit import make_backtest_engine, read_stocknet_daily, stocknet_bars, stocknet_equity

SPEC = FeatureSpec()
NAMES = SPEC.feature_names()
NAME = "aapl-shadow"
REPLAY = (pd.Timestamp("2016-01-01", tz="UTC"), pd.Timestamp("2016-09-01", tz="UTC"))
MIN_OUTCOMES = 60
HORIZON = 2
LONG, SHORT = 0.52, 0.48


def _fit(rows: pd.DataFrame, end: str, seed: int):
    train = rows[(rows.index < pd.Timestamp(end, tz="UTC")) & rows["fwd_return"].notna()]
    params = StagedParams(
        kind="lightgbm",
        params={"n_estimators": 30, "num_leaves": 7},
        long_threshold=LONG,
        short_threshold=SHORT,
        seed=seed,
    )
    return fit_staged(train, NAMES, SPEC.fingerprint(), params)


@pytest.fixture(scope="module")
def trained():
    frame = read_stocknet_daily("AAPL")
    rows = batch_feature_frame(frame, SPEC)
    log_close = np.log(frame["close"])
    rows["instrument_id"] = "AAPL.XNAS"
    rows["fwd_return"] = (log_close.shift(-HORIZON) - log_close).reindex(rows.index)
    rows["label_end"] = pd.Series(frame.index, index=frame.index).shift(-HORIZON).reindex(rows.index)
    return frame, _fit(rows, "2014-06-01", 1), _fit(rows, "2015-12-01", 2)


@pytest.fixture
def registry(tmp_path, trained):
    _, champion, challenger = trained
    registry = ModelRegistry(tmp_path / "registry")
    common: dict[str, Any] = {"name": NAME, "train_start": "2012-09-04", "params": {}}
    old = registry.register(champion, train_end="2014-06-01", seed=1, **common)
    new = registry.register(challenger, train_end="2015-12-01", seed=2, **common)
    registry.promote(old, PromotionGate(champion_metric=None), reason="initial champion")
    return registry, old, new


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


def _replay(registry: ModelRegistry, champion: str, challenger: str, **shadow_kwargs):
    instrument = stocknet_equity("AAPL")
    bar_type, bars = stocknet_bars("AAPL")
    start = REPLAY[0] - pd.Timedelta(days=60)
    bars = [b for b in bars if start.value <= b.ts_event < REPLAY[1].value]
    engine = make_backtest_engine([instrument])
    engine.add_data(bars)
    signal_actor = SignalActor(
        SignalActorConfig(
            instrument_id=instrument.id,
            registry_path=str(registry.root),
            model_version=champion,
            long_threshold=LONG,
            short_threshold=SHORT,
            horizon_bars=HORIZON,
            fail_on_mismatch=True,
        )
    )
    shadow = ShadowEvaluator(
        ShadowEvaluatorConfig(
            instrument_id=instrument.id,
            bar_type=bar_type,
            registry_path=str(registry.root),
            challenger_version=challenger,
            horizon_bars=HORIZON,
            min_outcomes=MIN_OUTCOMES,
            long_threshold=LONG,
            short_threshold=SHORT,
            **shadow_kwargs,
        )
    )
    recorder = Recorder(RecorderConfig(instrument_id=instrument.id))
    engine.add_actor(
        FeatureActor(FeatureActorConfig(instrument_id=instrument.id, bar_type=bar_type, spec=SPEC))
    )
    engine.add_actor(signal_actor)
    engine.add_actor(shadow)
    engine.add_actor(recorder)
    try:
        engine.run()
    finally:
        engine.dispose()
    return bars, signal_actor, shadow, recorder


@pytest.mark.slow
def test_shadow_records_both_models_and_compares_them_on_resolved_outcomes(trained, registry):
    challenger_model = trained[2]
    reg, old, new = registry
    bars, _, shadow, recorder = _replay(reg, old, new)

    # both models' signals on every (warm) FeatureVector up to the evaluation (then it stops), the
    # champion's equal to the signals it trades on
    n = len(shadow.records)
    assert MIN_OUTCOMES < n < len(recorder.vectors)
    assert [r.ts_event for r in shadow.records] == [v.ts_event for v in recorder.vectors[:n]]
    assert [r.champion_probability for r in shadow.records] == [s.probability for s in recorder.signals[:n]]
    x = np.vstack([v.as_array() for v in recorder.vectors[:n]])
    np.testing.assert_allclose(
        [r.challenger_probability for r in shadow.records],
        challenger_model.predict_frame(x)["probability"],
        atol=1e-12,
    )
    # outcomes: the close HORIZON bars after the signal's bar over its close
    closes = {b.ts_event: b.close.as_double() for b in bars}
    stamps = sorted(closes)
    resolved = [r for r in shadow.records if r.forward_return is not None]
    assert len(resolved) == MIN_OUTCOMES
    for r in resolved[:5] + resolved[-5:]:
        i = stamps.index(r.ts_event)
        assert r.forward_return == pytest.approx(closes[stamps[i + HORIZON]] / closes[stamps[i]] - 1)
    # the comparison is the pure function over exactly those records
    cmp_ = shadow.comparison
    assert cmp_ is not None and cmp_.outcomes == MIN_OUTCOMES
    expected = compare_shadow(
        [r.champion_probability for r in resolved],
        [r.champion_direction for r in resolved],
        [r.challenger_probability for r in resolved],
        [r.challenger_direction for r in resolved],
        [r.forward_return for r in resolved],
    )
    assert cmp_ == expected
    assert 0.0 <= cmp_.champion.brier <= 1.0 and 0.0 <= cmp_.challenger.brier <= 1.0
    assert cmp_.brier_improvement == pytest.approx(cmp_.champion.brier - cmp_.challenger.brier)
    # no promotion asked: the registry and the trading side are unchanged
    assert shadow.swap is None and shadow.gate_result is None
    assert reg.champion(NAME).version_id == old
    assert {s.model_version for s in recorder.signals} == {old}


@pytest.mark.slow
def test_shadow_with_a_permissive_gate_promotes_and_the_signal_actor_swaps(registry):
    reg, old, new = registry
    gate = {"champion_metric": None, "min_metrics": {"shadow_outcomes": MIN_OUTCOMES}}
    _, signal_actor, shadow, recorder = _replay(reg, old, new, promote=True, gate=gate)

    assert shadow.gate_result is not None and shadow.gate_result.passed
    assert reg.champion(NAME).version_id == new
    assert reg.get(new).oos_metrics["shadow_outcomes"] == MIN_OUTCOMES
    assert reg.get(new).oos_metrics["shadow_brier"] == pytest.approx(shadow.comparison.challenger.brier)
    assert (
        shadow.swap is not None and shadow.swap.version_id == new and shadow.swap.previous_version_id == old
    )
    # the SignalActor swapped between two events: old version up to the promotion, new after
    versions = [s.model_version for s in recorder.signals]
    cut = versions.index(new)
    assert set(versions[:cut]) == {old} and set(versions[cut:]) == {new}
    assert len(recorder.signals) == len(recorder.vectors)
    assert signal_actor.swaps[0][1:] == (old, new)
    # the promotion happened once the MIN_OUTCOMES-th outcome resolved, HORIZON bars after its signal
    resolved = [r for r in shadow.records if r.forward_return is not None]
    assert recorder.signals[cut].ts_event > resolved[-1].ts_event
    assert reg.history(NAME)[-1].actor.startswith("shadow:")


@pytest.mark.slow
def test_shadow_with_a_failing_gate_keeps_the_champion(registry):
    reg, old, new = registry
    gate = {"champion_metric": None, "min_metrics": {"shadow_brier_improvement": 1.0}}
    _, signal_actor, shadow, recorder = _replay(reg, old, new, promote=True, gate=gate)

    assert shadow.comparison is not None
    assert shadow.gate_result is not None and not shadow.gate_result.passed
    assert shadow.promotion_error is not None and "shadow_brier_improvement" in shadow.promotion_error
    assert shadow.swap is None
    assert reg.champion(NAME).version_id == old
    assert {s.model_version for s in recorder.signals} == {old}
    assert signal_actor.swaps == []


def test_compare_shadow_scores_hit_rate_brier_and_the_paired_difference():
    returns = [0.01, -0.02, 0.03, -0.01]
    out = compare_shadow([0.6, 0.6, 0.6, 0.6], [1, 1, 1, 1], [0.9, 0.1, 0.5, 0.2], [1, -1, 0, -1], returns)

    assert out.outcomes == 4
    assert out.champion.hit_rate == pytest.approx(0.5) and out.champion.directional == 4
    assert out.challenger.hit_rate == pytest.approx(1.0) and out.challenger.directional == 3
    champion_losses = np.array([0.16, 0.36, 0.16, 0.36])
    challenger_losses = np.array([0.01, 0.01, 0.25, 0.04])
    assert out.champion.brier == pytest.approx(champion_losses.mean())
    assert out.challenger.brier == pytest.approx(challenger_losses.mean())
    diff = champion_losses - challenger_losses
    assert out.brier_improvement == pytest.approx(diff.mean())
    assert out.brier_improvement_se == pytest.approx(diff.std(ddof=1) / 2)
    assert out.brier_improvement_t == pytest.approx(diff.mean() / (diff.std(ddof=1) / 2))
    assert out.hit_rate_difference == pytest.approx(0.5)


def test_compare_shadow_without_directional_signals_has_no_hit_rate():
    out = compare_shadow([0.5], [0], [0.5], [0], [0.01])
    assert math.isnan(out.champion.hit_rate) and math.isnan(out.hit_rate_difference)
    assert "shadow_hit_rate" not in out.registry_metrics()
    assert out.registry_metrics()["shadow_outcomes"] == 1


def test_compare_shadow_rejects_misaligned_input():
    with pytest.raises(DataError, match="equally long"):
        compare_shadow([0.5, 0.5], [0, 0], [0.5], [0], [0.01, 0.02])
    with pytest.raises(DataError, match="non-finite"):
        compare_shadow([float("nan")], [0], [0.5], [0], [0.01])


def test_invalid_shadow_config_names_the_field():
    bar_type = stocknet_bars("AAPL")[0]
    base = {"instrument_id": bar_type.instrument_id, "bar_type": bar_type, "registry_path": "/r"}
    with pytest.raises(ConfigError, match="min_outcomes"):
        ShadowEvaluator(ShadowEvaluatorConfig(challenger_version="m-0", min_outcomes=0, **base))
    with pytest.raises(ConfigError, match="gate"):
        ShadowEvaluator(ShadowEvaluatorConfig(challenger_version="m-0", gate={"min_psr": 3.0}, **base))
    with pytest.raises(ConfigError, match="challenger_version"):
        ShadowEvaluator(ShadowEvaluatorConfig(challenger_version="", **base))
