"""The model updater: row selection, LightGBM refit, sequence fine-tuning, registration of the candidate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nautilus_ai.errors import ConfigError, DataError, ModelError
from nautilus_ai.learning.experience import Experience, ExperienceBuffer, Outcome
from nautilus_ai.learning.registry import ModelRegistry
from nautilus_ai.learning.staged import StagedModel
from nautilus_ai.learning.train_staged import StagedParams, fit_staged
from nautilus_ai.learning.updater import (
    UpdateConfig,
    UpdateJob,
    parse_update_config,
    run_update,
    update_model,
    update_rows,
)

NAMES = ["f0", "f1", "f2"]
SPEC = "spec-updater"
DAY = 86_400 * 10**9
SMALL_LSTM = {"window": 4, "hidden": 4, "max_epochs": 3, "patience": 2, "batch_size": 64}


def _features(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, len(NAMES)))


def _returns(x: np.ndarray, sign: float, seed: int) -> np.ndarray:
    """Forward returns whose direction follows ``sign * f0`` 85 % of the time."""
    rng = np.random.default_rng(seed)
    direction = np.where(sign * x[:, 0] > 0, 1.0, -1.0)
    flip = rng.random(len(x)) < 0.15
    return np.where(flip, -direction, direction) * (0.01 + 0.01 * rng.random(len(x)))


def _model(*, stage2: bool = False, stage3: bool = False, seed: int = 3) -> StagedModel:
    x = _features(600, seed)
    index = pd.date_range("2020-01-01", periods=len(x), freq="D", tz="UTC")
    frame = pd.DataFrame(x, columns=NAMES, index=index)
    frame["instrument_id"] = "AAPL.XNAS"
    frame["fwd_return"] = _returns(x, 1.0, seed)
    frame["label_end"] = index + pd.Timedelta(days=1)
    params = StagedParams(
        params={"n_estimators": 40, "num_leaves": 7, "learning_rate": 0.1},
        stage2={"window": 4, "hidden": 4, "max_epochs": 3, "patience": 2, "batch_size": 64}
        if stage2
        else None,
        stage3={"calibration": "platt", "validation_fraction": 0.25} if stage3 else None,
        seed=seed,
    )
    return fit_staged(frame, NAMES, SPEC, params)


def _buffer(
    n: int, sign: float, seed: int, *, resolved: int | None = None, all_up: bool = False
) -> ExperienceBuffer:
    """``n`` decisions on data whose direction follows ``sign * f0``; the first ``resolved`` are resolved."""
    x = _features(n, seed)
    returns = np.abs(_returns(x, sign, seed + 1)) if all_up else _returns(x, sign, seed + 1)
    buffer = ExperienceBuffer(10_000, NAMES)
    for i in range(n):
        key = buffer.append(
            Experience(
                ts_event=(i + 1) * DAY,
                instrument_id="AAPL.XNAS",
                features=x[i],
                direction=1,
                probability=0.6,
                confidence=0.2,
                horizon_bars=1,
                model_version="m-1",
                entry_close=100.0,
            )
        )
        if resolved is None or i < resolved:
            buffer.resolve(key, Outcome(float(returns[i]), ts_resolved=(i + 2) * DAY))
    return buffer


def _brier(model: StagedModel, buffer: ExperienceBuffer) -> float:
    rows = buffer.resolved()
    p = model.predict_frame(np.vstack([e.features for e in rows]))["probability"].to_numpy()
    y = np.array([e.label for e in rows], dtype=float)
    return float(np.mean((p - y) ** 2))


def test_rows_are_the_recent_window_minus_the_holdout_plus_an_older_replay_sample():
    buffer = _buffer(300, 1.0, 0, resolved=290)
    config = UpdateConfig(recent_window=100, replay_size=50, holdout_fraction=0.2, prioritized=False, seed=5)
    rows = update_rows(buffer, config)
    resolved = buffer.resolved()
    assert [e.ts_event for e in rows.recent] == [e.ts_event for e in resolved[-100:-20]]
    assert [e.ts_event for e in rows.holdout] == [e.ts_event for e in resolved[-20:]]
    assert rows.n_replay == 50 and rows.X.shape == (130, 3)
    oldest_recent = resolved[-100].ts_event
    replayed = rows.X[80:]
    older = {tuple(e.features) for e in resolved if e.ts_event < oldest_recent}
    assert all(tuple(r) in older for r in replayed)
    assert np.all(rows.weights[:80] == 1.0)
    # the history ends at the newest recent row (unresolved decisions after it are not in it)
    assert rows.history[-1].ts_event == resolved[-1].ts_event
    assert update_rows(buffer, config).X.tobytes() == rows.X.tobytes()  # seeded


def test_prioritized_replay_carries_importance_weights():
    buffer = _buffer(300, 1.0, 0)
    rows = update_rows(buffer, UpdateConfig(recent_window=100, replay_size=80, prioritized=True))
    assert rows.weights[-80:].max() <= 1.0 and rows.weights[-80:].min() > 0.0


def test_too_few_resolved_experiences_refuse_the_update_with_the_counts():
    buffer = _buffer(40, 1.0, 0, resolved=30)
    with pytest.raises(DataError, match="min_rows=60"):
        update_rows(buffer, UpdateConfig(recent_window=100, replay_size=0))


def test_one_class_of_outcomes_refuses_the_update():
    buffer = _buffer(100, 1.0, 0, all_up=True)
    with pytest.raises(DataError, match="up and down"):
        update_rows(buffer, UpdateConfig(recent_window=100, replay_size=0, min_rows=30))


def test_refit_moves_the_model_towards_the_new_relationship():
    model = _model()
    drifted = _buffer(400, -1.0, 11)  # the sign of the relationship reversed
    config = UpdateConfig(recent_window=300, replay_size=0, decay_rate=0.0)
    result = update_model(model, drifted, config)
    assert result.stages == {"stage1": "refit", "stage2": "none", "stage3": "none"}
    assert result.metrics["holdout_brier"] < result.metrics["holdout_brier_old"]
    fresh = _buffer(300, -1.0, 99)
    assert _brier(result.model, fresh) < _brier(model, fresh)
    # same trees: only the leaf values changed
    old_trees = model.stage1.booster_.dump_model()["tree_info"]
    new_trees = result.model.stage1.booster_.dump_model()["tree_info"]
    assert [t["num_leaves"] for t in old_trees] == [t["num_leaves"] for t in new_trees]


def test_refit_with_decay_one_keeps_the_predictions_and_the_original_is_untouched():
    model = _model()
    before = model.predict_frame(_features(50, 7))["probability"].to_numpy()
    result = update_model(model, _buffer(300, -1.0, 11), UpdateConfig(decay_rate=1.0, replay_size=0))
    after_new = result.model.predict_frame(_features(50, 7))["probability"].to_numpy()
    after_old = model.predict_frame(_features(50, 7))["probability"].to_numpy()
    np.testing.assert_allclose(after_new, before, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(after_old, before)


def test_retrain_mode_fits_a_fresh_stage1_of_the_same_class():
    model = _model()
    result = update_model(model, _buffer(400, -1.0, 11), UpdateConfig(mode="retrain", replay_size=0))
    assert result.stages["stage1"] == "retrain"
    assert type(result.model.stage1) is type(model.stage1)
    assert result.model.stage1.params == model.stage1.params
    assert result.metrics["holdout_brier"] < result.metrics["holdout_brier_old"]


def test_stage2_is_fine_tuned_and_stage3_refitted_on_the_holdout():
    model = _model(stage2=True, stage3=True)
    config = UpdateConfig(recent_window=300, replay_size=50, finetune_epochs=2, holdout_fraction=0.3)
    result = update_model(model, _buffer(500, -1.0, 11), config)
    assert result.stages == {"stage1": "refit", "stage2": "fine_tune", "stage3": "refit"}
    old_state = model.stage2.net_.state_dict()
    new_state = result.model.stage2.net_.state_dict()
    assert any(not np.array_equal(old_state[k].numpy(), new_state[k].numpy()) for k in old_state)
    np.testing.assert_array_equal(result.model.stage2.mean_, model.stage2.mean_)  # same scaling
    again = update_model(model, _buffer(500, -1.0, 11), config)
    assert again.model.to_bytes() == result.model.to_bytes()  # seeded end to end


def test_stage2_kept_when_fine_tuning_is_off():
    model = _model(stage2=True)
    result = update_model(model, _buffer(300, -1.0, 11), UpdateConfig(finetune_epochs=0, replay_size=0))
    assert result.stages["stage2"] == "kept: finetune_epochs = 0"
    assert result.model.stage2 is model.stage2


def test_features_of_another_model_are_refused():
    buffer = ExperienceBuffer(10, ["a", "b", "c"])
    with pytest.raises(ModelError, match="not the model's"):
        update_model(_model(), buffer, UpdateConfig())


A = {"a": 1}


def test_run_update_registers_a_candidate_child_of_the_served_version(tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    parent = registry.register(
        _model(),
        name="demo-direction",
        train_start="2020-01-01",
        train_end="2021-08-01",
        seed=3,
        params={"a": 1},
    )
    path = _buffer(300, -1.0, 11).save(tmp_path / "buffer.parquet")
    job = UpdateJob(str(tmp_path / "registry"), parent, str(path), {"replay_size": 0}, reason="drift: f0")
    outcome = run_update(job)
    assert outcome.error is None and outcome.version_id is not None
    record = registry.get(outcome.version_id)
    assert record.parent == parent and record.status == "candidate" and record.name == "demo-direction"
    assert record.params["a"] == 1 and record.params["update"]["reason"] == "drift: f0"
    assert record.metrics["holdout_rows"] == outcome.metrics["holdout_rows"]
    assert isinstance(registry.load(outcome.version_id), StagedModel)


def test_a_failed_update_registers_nothing_and_says_why(tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    parent = registry.register(
        _model(), name="demo-direction", train_start="2020-01-01", train_end="2021-08-01", seed=3, params={}
    )
    missing = UpdateJob(str(tmp_path / "registry"), parent, str(tmp_path / "none.parquet"), {}, reason="x")
    outcome = run_update(missing)
    assert outcome.version_id is None and "no saved experience buffer" in (outcome.error or "")
    few = _buffer(20, 1.0, 0).save(tmp_path / "few.parquet")
    outcome = run_update(UpdateJob(str(tmp_path / "registry"), parent, str(few), {}, reason="x"))
    assert outcome.version_id is None and "min_rows" in (outcome.error or "")
    assert [r.version_id for r in registry.list()] == [parent]


def test_update_settings_are_validated_with_the_field_named():
    with pytest.raises(ConfigError, match="decay_rate"):
        parse_update_config({"decay_rate": 2.0})
    with pytest.raises(ConfigError, match="unknown_field"):
        parse_update_config({"unknown_field": 1})


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("worker", "gpu", "worker='gpu'"),
        ("apply_after_bars", -1, "apply_after_bars=-1"),
        ("shadow_min_outcomes", 0, "shadow_min_outcomes=0"),
        ("update", {"recent_window": 1}, "recent_window"),
        ("gate", {"min_metrics": "x"}, "gate is not a valid PromotionGate"),
    ],
)
def test_updater_actor_config_errors_name_the_field(field, value, message):
    from nautilus_trader.model.data import BarType
    from nautilus_trader.model.identifiers import InstrumentId

    from nautilus_ai.learning.updater_actor import ModelUpdaterActor, ModelUpdaterActorConfig

    config = ModelUpdaterActorConfig(
        instrument_id=InstrumentId.from_str("AAPL.XNAS"),
        bar_type=BarType.from_str("AAPL.XNAS-1-DAY-LAST-EXTERNAL"),
        registry_path="registry",
        model_version="m-1",
        buffer_path="buffer.parquet",
        **{field: value},
    )
    with pytest.raises(ConfigError, match=message):
        ModelUpdaterActor(config)


def test_fine_tune_needs_a_fitted_model_and_enough_windows():
    model = _model(stage2=True)
    x = np.random.default_rng(0).normal(size=(3, 4, 3))
    with pytest.raises(ModelError, match="at least 5 windows"):
        model.stage2.fine_tune(x, np.array([0, 1, 0]))
    with pytest.raises(ModelError, match="epochs"):
        model.stage2.fine_tune(x, np.array([0, 1, 0]), epochs=0)


def test_a_buffer_without_the_models_regimes_is_refused():
    model = _model()
    buffer = ExperienceBuffer(10, NAMES, ("calm", "volatile"))
    with pytest.raises(ModelError, match="keeps regimes"):
        update_model(model, buffer, UpdateConfig())
