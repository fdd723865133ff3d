"""The experience buffer: capacity, resolution, uniform and prioritized sampling, persistence."""

import math

import numpy as np
import pytest
from scipy import stats

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.learning.experience import (
    Experience,
    ExperienceBuffer,
    Outcome,
    importance_weights,
    prioritized_probabilities,
)

NAMES = ("ret_1", "vol_20")


def _experience(i: int, probability: float = 0.5, direction: int = 1) -> Experience:
    return Experience(
        ts_event=1_000 + i,
        instrument_id="AAPL.XNAS",
        features=np.array([0.01 * i, 0.2 + i]),
        direction=direction,
        probability=probability,
        confidence=abs(probability - 0.5) * 2,
        horizon_bars=5,
        model_version="m-1",
        entry_close=100.0 + i,
    )


def test_full_buffer_evicts_the_oldest_and_skips_evicted_resolves():
    buffer = ExperienceBuffer(3, NAMES)
    keys = [buffer.append(_experience(i)) for i in range(5)]
    assert len(buffer) == 3
    assert buffer.keys() == keys[2:]
    assert buffer.evicted == 2
    assert [e.ts_event for e in buffer] == [1002, 1003, 1004]
    assert buffer.resolve(keys[0], Outcome(0.01)) is False
    assert buffer.resolve(keys[3], Outcome(0.02, pnl=5.0, n_fills=1, ts_resolved=9)) is True
    assert buffer.pending() == [keys[2], keys[4]]
    assert buffer.feature_matrix(last=2).shape == (2, 2)


def test_resolution_sets_label_error_and_hit():
    buffer = ExperienceBuffer(10, NAMES)
    key = buffer.append(_experience(0, probability=0.7, direction=1))
    buffer.resolve(key, Outcome(-0.03))
    e = buffer.get(key)
    assert e.resolved and e.label == 0
    assert e.error == pytest.approx(-0.7)
    assert e.hit is False
    assert _experience(1).error != _experience(1).error  # NaN while unresolved


def test_append_rejects_features_of_the_wrong_length_and_bad_capacity():
    buffer = ExperienceBuffer(2, NAMES)
    bad = Experience(1, "AAPL.XNAS", np.zeros(3), 1, 0.5, 0.0, 1, "m")
    with pytest.raises(DataError, match="features"):
        buffer.append(bad)
    with pytest.raises(ConfigError, match="capacity"):
        ExperienceBuffer(0, NAMES)
    with pytest.raises(DataError, match="no resolved"):
        buffer.sample(1, seed=0)


def _resolved_buffer(n: int = 100) -> ExperienceBuffer:
    buffer = ExperienceBuffer(1000, NAMES)
    for i in range(n):
        # the first ten decisions are badly wrong (|error| 0.9), the rest nearly right (0.1)
        key = buffer.append(_experience(i, probability=0.1 if i < 10 else 0.9))
        buffer.resolve(key, Outcome(0.02))
    return buffer


def test_uniform_sampling_is_seeded_and_uniform():
    buffer = _resolved_buffer()
    a = buffer.sample(5000, seed=11)
    b = buffer.sample(5000, seed=11)
    assert np.array_equal(a.keys, b.keys)
    assert np.all(a.weights == 1.0)
    counts = np.bincount(a.keys, minlength=100)
    assert stats.chisquare(counts).pvalue > 0.001


def test_prioritized_sampling_favours_high_error_items_with_correct_weights():
    buffer = _resolved_buffer()
    alpha, beta = 0.6, 0.4
    draw = buffer.sample(20_000, seed=5, prioritized=True, alpha=alpha, beta=beta)
    errors = np.array([0.9] * 10 + [0.1] * 90)
    probs = prioritized_probabilities(errors, alpha)
    high_share = float(np.mean(draw.keys < 10))
    assert high_share == pytest.approx(probs[:10].sum(), abs=0.01)
    assert high_share > 0.2  # 10% of items, far more of the draws
    expected_w = (100 * probs) ** -beta / ((100 * probs) ** -beta).max()
    assert np.allclose(draw.weights, expected_w[draw.keys])
    assert draw.weights[draw.keys < 10].max() < draw.weights[draw.keys >= 10].min()
    assert np.allclose(draw.probabilities, probs[draw.keys])


def test_priority_kernels():
    probs = prioritized_probabilities(np.array([0.0, 1.0, -3.0]), alpha=1.0, epsilon=0.0)
    assert np.allclose(probs, [0.0, 0.25, 0.75])
    assert np.allclose(prioritized_probabilities(np.array([0.2, 5.0]), alpha=0.0), [0.5, 0.5])
    w = importance_weights(np.array([0.5, 0.25, 0.25]), beta=1.0)
    assert np.allclose(w, [0.5, 1.0, 1.0])


def test_persistence_round_trip_and_restart(tmp_path):
    path = tmp_path / "buf" / "experience.parquet"
    buffer = ExperienceBuffer(4, NAMES)
    keys = [buffer.append(_experience(i, probability=0.3 + 0.1 * i)) for i in range(5)]
    buffer.resolve(keys[2], Outcome(0.015, pnl=-12.5, n_fills=2, ts_resolved=2_000))
    buffer.save(path)
    loaded = ExperienceBuffer.load(path)
    assert loaded.capacity == 4 and loaded.feature_names == NAMES
    assert loaded.keys() == buffer.keys() and loaded.evicted == 1
    loaded_keys = loaded.keys()
    for key in loaded_keys:
        a, b = buffer.get(key), loaded.get(key)
        assert np.array_equal(a.features, b.features)
        assert (a.ts_event, a.probability, a.entry_close, a.outcome) == (
            b.ts_event,
            b.probability,
            b.entry_close,
            b.outcome,
        )
    # after the restart new keys continue after the old ones and the capacity still holds
    new_key = loaded.append(_experience(9))
    assert new_key == keys[-1] + 1
    assert len(loaded) == 4
    smaller = ExperienceBuffer.load(path, capacity=2)
    assert smaller.keys() == buffer.keys()[-2:]
    assert not list(tmp_path.joinpath("buf").glob(".*.tmp"))


def test_load_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        ExperienceBuffer.load(tmp_path / "none.parquet")
    import pandas as pd

    foreign = tmp_path / "foreign.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(foreign)
    with pytest.raises(DataError, match="not an experience buffer"):
        ExperienceBuffer.load(foreign)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"broken\.parquet"):
        ExperienceBuffer.load(broken)


def test_empty_buffer_round_trips(tmp_path):
    path = tmp_path / "empty.parquet"
    ExperienceBuffer(5, NAMES).save(path)
    loaded = ExperienceBuffer.load(path)
    assert len(loaded) == 0 and math.isfinite(loaded.capacity)


def test_actor_config_builder_resolves_and_bad_values_are_config_errors(tmp_path):
    from nautilus_trader.common.config import ActorFactory

    from nautilus_ai.backtest.learning_configs import experience_actor_config, experience_buffer_path
    from nautilus_ai.learning.experience_actor import ExperienceActor

    path = experience_buffer_path(tmp_path, "AAPL.XNAS")
    importable = experience_actor_config(
        "AAPL.XNAS", "AAPL.XNAS-1-DAY-LAST-EXTERNAL", path, horizon_bars=5, drift={"psi_threshold": 0.2}
    )
    actor = ActorFactory.create(importable)
    assert isinstance(actor, ExperienceActor)
    assert str(actor.id) == "ExperienceActor-AAPL.XNAS"
    assert path.name == "experience-AAPL.XNAS.parquet"
    for bad in ({"horizon_bars": 0}, {"drift": {"psi_treshold": 0.2}}, {"reference_start": "not a time"}):
        config = {**importable.config, **bad}
        with pytest.raises(ConfigError, match=next(iter(bad))):
            ActorFactory.create(type(importable)(importable.actor_path, importable.config_path, config))


def test_regime_probabilities_are_kept_persisted_and_checked(tmp_path):
    buffer = ExperienceBuffer(10, NAMES, ("calm", "volatile"))
    with_regime = Experience(**{**_experience(0).__dict__, "regime": np.array([0.7, 0.3])})
    key = buffer.append(with_regime)
    missing = buffer.append(_experience(1))  # a bar whose RegimeLabel was not seen: NaN
    buffer.resolve(key, Outcome(0.01))
    loaded = ExperienceBuffer.load(buffer.save(tmp_path / "b.parquet"))
    assert loaded.regime_names == ("calm", "volatile")
    np.testing.assert_array_equal(loaded.get(key).regime, [0.7, 0.3])
    assert np.isnan(loaded.get(missing).regime).all()
    with pytest.raises(DataError, match="regime probabilities of shape"):
        buffer.append(Experience(**{**_experience(2).__dict__, "regime": np.array([1.0])}))
    assert ExperienceBuffer(10, NAMES).append(_experience(3)) == 0  # no regimes kept: None stays None
