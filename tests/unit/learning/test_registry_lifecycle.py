"""Registry life cycle: metrics, gated promotion, rollback, event log, diff, corrupted artifacts.

This suite runs on SQLite here. ``tests/integration/learning/test_registry_postgres.py`` runs the
same test functions again over both SQLite and a real PostgreSQL server by overriding the
``open_registry`` fixture.
"""

import functools
import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from nautilus_ai.errors import ConfigError, ModelError
from nautilus_ai.learning.model import DirectionClassifier
from nautilus_ai.learning.promotion import PromotionGate
from nautilus_ai.learning.registry import ModelRegistry, PromotionRefused, record_walkforward_metrics

NAMES = ["ret_1", "ret_5", "vol_20"]
OpenRegistry = Callable[[], ModelRegistry]


@functools.cache
def fitted(seed: int, names: tuple[str, ...] = tuple(NAMES), spec: str = "spec-1") -> DirectionClassifier:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, len(names)))
    y = (x[:, 0] + rng.normal(0, 1, 200) > 0).astype(int)
    return DirectionClassifier(params={"n_estimators": 5}, seed=seed).fit(x, y, list(names), spec)


def register(registry: ModelRegistry, seed: int, name: str = "eurusd-dir", **kwargs) -> str:
    args: dict[str, Any] = {
        "name": name,
        "train_start": "2020-01-01",
        "train_end": "2021-01-01",
        "seed": seed,
        "params": {"n_estimators": 5},
        "metrics": {"test_auc": 0.6},
    }
    args.update(kwargs)
    model = args.pop("model", None) or fitted(seed)
    return registry.register(model, **args)


@pytest.fixture
def open_registry(tmp_path) -> OpenRegistry:
    return lambda: ModelRegistry(tmp_path)


@pytest.fixture
def registry(open_registry: OpenRegistry) -> ModelRegistry:
    return open_registry()


def champion_id(registry: ModelRegistry, name: str = "eurusd-dir") -> str | None:
    record = registry.champion(name)
    return None if record is None else record.version_id


def statuses(registry: ModelRegistry, name: str = "eurusd-dir") -> dict[str, str]:
    return {r.version_id: r.status for r in registry.list(name)}


# -- registration --------------------------------------------------------------------------------------


def test_register_is_idempotent_across_registry_instances(open_registry: OpenRegistry):
    first = register(open_registry(), 1)

    second = register(open_registry(), 1, metrics={"test_auc": 0.99})

    assert first == second
    reopened = open_registry()
    assert [r.version_id for r in reopened.list()] == [first]
    assert reopened.get(first).metrics == {"test_auc": 0.6}
    assert reopened.get(first).oos_metrics == {}


def test_lineage_is_kept(registry: ModelRegistry):
    parent = register(registry, 1)

    child = register(registry, 2, parent=parent)

    assert registry.get(child).parent == parent
    with pytest.raises(ConfigError, match="parent"):
        register(registry, 3, parent="ghost-000000000000")


# -- metrics -------------------------------------------------------------------------------------------


def test_record_metrics_merges_out_of_sample_metrics(registry: ModelRegistry):
    version = register(registry, 1)

    registry.record_metrics(version, {"sharpe": np.float64(1.25), "psr": 0.97})
    record = registry.record_metrics(version, {"dsr": 0.9, "sharpe": 1.25})  # same value again: fine

    assert record.oos_metrics == {"sharpe": 1.25, "psr": 0.97, "dsr": 0.9}
    assert record.metrics == {"test_auc": 0.6}
    assert registry.get(version).evaluation_metrics() == {
        "test_auc": 0.6,
        "sharpe": 1.25,
        "psr": 0.97,
        "dsr": 0.9,
    }


def test_record_metrics_refuses_to_overwrite_a_different_value(registry: ModelRegistry):
    version = register(registry, 1)
    registry.record_metrics(version, {"sharpe": 1.25, "psr": math.nan})

    with pytest.raises(ConfigError, match=r"sharpe: recorded 1\.25, new 2\.0.*never overwritten"):
        registry.record_metrics(version, {"sharpe": 2.0, "dsr": 0.5})
    with pytest.raises(ConfigError, match="test_auc"):
        registry.record_metrics(version, {"test_auc": 0.7}, kind="validation")

    registry.record_metrics(version, {"psr": math.nan})  # NaN equals NaN: not a conflict
    assert registry.get(version).oos_metrics["sharpe"] == 1.25
    assert "dsr" not in registry.get(version).oos_metrics  # the failed call wrote nothing


def test_record_metrics_validation_kind_and_bad_input(registry: ModelRegistry):
    version = register(registry, 1)

    registry.record_metrics(version, {"test_mcc": 0.1}, kind="validation")

    assert registry.get(version).metrics == {"test_auc": 0.6, "test_mcc": 0.1}
    with pytest.raises(ConfigError, match="kind"):
        registry.record_metrics(version, {"x": 1}, kind="in_sample")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="JSON"):
        registry.record_metrics(version, {"x": object()})
    with pytest.raises(ModelError, match="not registered"):
        registry.record_metrics("eurusd-dir-000000000000", {"x": 1})


# -- promotion -----------------------------------------------------------------------------------------


def test_promote_first_candidate_that_passes_the_gate(registry: ModelRegistry, monkeypatch):
    monkeypatch.setenv("USER", "alice")
    version = register(registry, 1)
    registry.record_metrics(version, {"sharpe": 1.1, "psr": 0.96})

    result = registry.promote(version, PromotionGate(min_sharpe=1.0, min_psr=0.95), reason="first")

    assert result.passed
    assert champion_id(registry) == version
    [event] = registry.history("eurusd-dir")
    assert (event.action, event.version_id, event.from_status, event.to_status) == (
        "promote",
        version,
        "candidate",
        "champion",
    )
    assert (event.actor, event.reason, event.forced, event.previous_version) == (
        "alice",
        "first",
        False,
        None,
    )


def test_promote_archives_the_champion_it_beats(registry: ModelRegistry):
    old = register(registry, 1)
    new = register(registry, 2)
    other = register(registry, 3, name="other")
    registry.record_metrics(old, {"sharpe": 1.0})
    registry.record_metrics(new, {"sharpe": 1.3})
    registry.record_metrics(other, {"sharpe": 0.1})
    registry.promote(old)
    registry.promote(other)

    registry.promote(new, PromotionGate(champion_margin=0.2), actor="bob")

    assert statuses(registry) == {old: "archived", new: "champion"}
    assert registry.get(other).status == "champion"
    event = registry.history("eurusd-dir")[-1]
    assert (event.version_id, event.previous_version, event.actor) == (new, old, "bob")


def test_refused_promotion_changes_nothing(registry: ModelRegistry):
    champion = register(registry, 1)
    challenger = register(registry, 2)
    registry.record_metrics(champion, {"sharpe": 1.5, "psr": 0.99})
    registry.record_metrics(challenger, {"sharpe": 1.2, "psr": 0.9})
    registry.promote(champion)
    before = registry.history()

    with pytest.raises(PromotionRefused) as refused:
        registry.promote(challenger, PromotionGate(min_psr=0.95))

    assert len(refused.value.reasons) == 2
    assert "psr = 0.9 is below" in refused.value.reasons[0]
    assert "does not beat the champion" in refused.value.reasons[1]
    assert challenger in str(refused.value)
    assert isinstance(refused.value, ModelError)
    assert statuses(registry) == {champion: "champion", challenger: "candidate"}
    assert registry.history() == before


def test_a_candidate_without_out_of_sample_metrics_is_refused_by_the_default_gate(registry: ModelRegistry):
    version = register(registry, 1)
    registry.record_metrics(version, {"sharpe": 0.5})
    registry.promote(version)
    newcomer = register(registry, 2)

    with pytest.raises(PromotionRefused, match="sharpe is missing"):
        registry.promote(newcomer)


def test_forced_promotion_needs_a_reason_and_is_logged_as_forced(registry: ModelRegistry, caplog):
    champion = register(registry, 1)
    registry.record_metrics(champion, {"sharpe": 1.5})
    registry.promote(champion)
    weak = register(registry, 2)
    registry.record_metrics(weak, {"sharpe": 0.2})

    with pytest.raises(ConfigError, match="reason"):
        registry.promote(weak, force=True)
    with pytest.raises(ConfigError, match="reason"):
        registry.promote(weak, force=True, reason="  ")
    with caplog.at_level(logging.WARNING, logger="nautilus_ai.learning.registry"):
        result = registry.promote(weak, force=True, reason="regime change", actor="carol")

    assert not result.passed
    assert statuses(registry) == {champion: "archived", weak: "champion"}
    event = registry.history("eurusd-dir")[-1]
    assert (event.action, event.forced, event.actor, event.previous_version) == (
        "force_promote",
        True,
        "carol",
        champion,
    )
    assert event.reason is not None
    assert event.reason.startswith("regime change [forced past: does not beat the champion")
    assert "forced promotion" in caplog.text and weak in caplog.text


def test_force_with_a_passing_gate_is_an_ordinary_promotion(registry: ModelRegistry):
    version = register(registry, 1)
    registry.record_metrics(version, {"sharpe": 1.0})

    registry.promote(version, force=True, reason="belt and braces")

    event = registry.history()[-1]
    assert (event.action, event.forced) == ("promote", False)


def test_promoting_the_champion_again_is_a_config_error(registry: ModelRegistry):
    version = register(registry, 1)
    registry.record_metrics(version, {"sharpe": 1.0})
    registry.promote(version)

    with pytest.raises(ConfigError, match="already the champion"):
        registry.promote(version)
    with pytest.raises(ModelError, match="not registered"):
        registry.promote("eurusd-dir-000000000000")


# -- rollback ------------------------------------------------------------------------------------------


def _three_champions(registry: ModelRegistry) -> list[str]:
    versions = [register(registry, seed) for seed in (1, 2, 3)]
    for sharpe, version in zip((1.0, 1.1, 1.2), versions, strict=True):
        registry.record_metrics(version, {"sharpe": sharpe})
        registry.promote(version)
    return versions


def test_rollback_restores_the_previous_champions_in_turn(registry: ModelRegistry):
    v1, v2, v3 = _three_champions(registry)

    first = registry.rollback("eurusd-dir", reason="v3 misbehaves", actor="dave")
    second = registry.rollback("eurusd-dir")

    assert (first, second) == (v2, v1)  # a stack: not back and forth between v2 and v3
    assert statuses(registry) == {v1: "champion", v2: "archived", v3: "archived"}
    events = registry.history("eurusd-dir")
    assert [(e.action, e.version_id, e.previous_version) for e in events[-2:]] == [
        ("rollback", v2, v3),
        ("rollback", v1, v2),
    ]
    assert (events[-2].actor, events[-2].reason, events[-2].from_status) == (
        "dave",
        "v3 misbehaves",
        "archived",
    )
    with pytest.raises(ConfigError, match="no previous champion"):
        registry.rollback("eurusd-dir")


def test_rollback_to_an_explicit_version(registry: ModelRegistry):
    v1, v2, v3 = _three_champions(registry)

    restored = registry.rollback("eurusd-dir", to=v1)

    assert restored == v1
    assert statuses(registry) == {v1: "champion", v2: "archived", v3: "archived"}
    assert registry.rollback("eurusd-dir") == v2  # the stack was v1, v2, v3 -> v1, v2, v1


def test_rollback_errors(registry: ModelRegistry):
    v1 = register(registry, 1)
    other = register(registry, 2, name="other")

    with pytest.raises(ConfigError, match="no previous champion"):
        registry.rollback("eurusd-dir")
    with pytest.raises(ConfigError, match="belongs to 'other'"):
        registry.rollback("eurusd-dir", to=other)
    registry.set_status(v1, "champion")
    with pytest.raises(ConfigError, match="already the champion"):
        registry.rollback("eurusd-dir", to=v1)
    with pytest.raises(ModelError, match="not registered"):
        registry.rollback("eurusd-dir", to="eurusd-dir-000000000000")


# -- status changes and the event log ------------------------------------------------------------------


def test_set_status_is_logged_and_unchanged_status_is_not(registry: ModelRegistry, monkeypatch):
    monkeypatch.setenv("USER", "erin")
    v1 = register(registry, 1)
    v2 = register(registry, 2)

    registry.set_status(v1, "champion", reason="bootstrap")
    registry.set_status(v1, "champion")  # no change: no event
    registry.set_status(v2, "champion")
    registry.set_status(v1, "candidate", actor="frank")

    events = registry.history()
    assert [(e.version_id, e.from_status, e.to_status, e.previous_version) for e in events] == [
        (v1, "candidate", "champion", None),
        (v2, "candidate", "champion", v1),
        (v1, "archived", "candidate", None),
    ]
    assert [e.actor for e in events] == ["erin", "erin", "frank"]
    assert events[0].reason == "bootstrap"
    assert [e.event_id for e in events] == sorted(e.event_id for e in events)


def test_history_filters_by_name(registry: ModelRegistry):
    a = register(registry, 1, name="a")
    b = register(registry, 2, name="b")
    registry.set_status(a, "champion")
    registry.set_status(b, "archived")

    assert [e.version_id for e in registry.history("a")] == [a]
    assert [e.version_id for e in registry.history("b")] == [b]
    assert len(registry.history()) == 2
    assert registry.history("missing") == []


def test_a_name_never_has_two_champions(registry: ModelRegistry):
    versions = [register(registry, seed) for seed in range(4)]
    for i, version in enumerate(versions):
        registry.record_metrics(version, {"sharpe": float(i)})

    registry.promote(versions[0])
    registry.set_status(versions[2], "champion")
    registry.promote(versions[3])
    registry.rollback("eurusd-dir")
    registry.promote(versions[1], force=True, reason="test")

    champions = [r.version_id for r in registry.list("eurusd-dir") if r.status == "champion"]
    assert champions == [versions[1]]


# -- diff ----------------------------------------------------------------------------------------------


def test_diff_reports_params_metrics_features_window_code_and_lineage(registry: ModelRegistry):
    a = register(registry, 1, code_version="1.0", params={"depth": 3, "lr": 0.1})
    b = register(
        registry,
        2,
        model=fitted(2, ("ret_1", "ret_5", "rsi_14"), "spec-2"),
        parent=a,
        train_start="2021-01-01",
        train_end="2022-01-01",
        code_version="1.1",
        params={"depth": 4, "lr": 0.1, "subsample": 0.8},
        metrics={"test_auc": 0.65, "test": {"probability": {"auc": 0.65}}},
    )
    registry.record_metrics(a, {"sharpe": 1.0})
    registry.record_metrics(b, {"sharpe": 1.5, "psr": 0.9})

    diff = registry.diff(a, b)

    assert diff.params == {"depth": (3, 4), "subsample": (None, 0.8)}
    by_key = {(m.kind, m.key): m for m in diff.metrics}
    assert by_key["validation", "test_auc"].delta == pytest.approx(0.05)
    assert by_key["validation", "test.probability.auc"].a is None
    assert by_key["out_of_sample", "sharpe"].delta == pytest.approx(0.5)
    assert by_key["out_of_sample", "psr"].delta is None
    assert not diff.same_features
    assert (diff.features_added, diff.features_removed) == (("rsi_14",), ("vol_20",))
    assert diff.lineage == "b is a descendant of a (1 generation)"
    data = diff.to_dict()
    assert data["training_window"] == [["2020-01-01", "2021-01-01"], ["2021-01-01", "2022-01-01"]]
    assert data["code_version"] == ["1.0", "1.1"]
    assert data["feature_fingerprint"] == ["spec-1", "spec-2"]


def test_diff_lineage_relations(registry: ModelRegistry):
    root = register(registry, 1)
    child = register(registry, 2, parent=root)
    grandchild = register(registry, 3, parent=child)
    sibling = register(registry, 4, parent=root)
    stranger = register(registry, 5)

    assert registry.diff(grandchild, root).lineage == "a is a descendant of b (2 generations)"
    assert registry.diff(grandchild, sibling).lineage == f"share the ancestor {root}"
    assert registry.diff(root, stranger).lineage == "unrelated"
    same = registry.diff(root, root)
    assert same.lineage == "same version" and same.params == {} and same.same_features
    assert all(m.delta == 0.0 for m in same.metrics)
    with pytest.raises(ModelError, match="not registered"):
        registry.diff(root, "eurusd-dir-000000000000")


# -- corrupted artifacts -------------------------------------------------------------------------------


def _flip_a_byte(registry: ModelRegistry, version: str) -> None:
    path = registry.artifact_path(version)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_load_champion_refuses_a_corrupted_artifact_and_changes_no_status(registry: ModelRegistry):
    champion = register(registry, 1)
    registry.set_status(champion, "champion")
    record, serving = registry.load_champion("eurusd-dir")  # what a server holds in memory
    assert record.version_id == champion
    events_before = registry.history()

    _flip_a_byte(registry, champion)

    with pytest.raises(ModelError) as error:
        registry.load_champion("eurusd-dir")
    message = str(error.value)
    assert champion in message and str(registry.artifact_path(champion)) in message and "corrupted" in message
    assert champion_id(registry) == champion
    assert registry.history() == events_before
    x = np.random.default_rng(0).normal(size=(5, len(NAMES)))
    # the model loaded before the corruption keeps serving
    np.testing.assert_array_equal(serving.predict_proba(x), fitted(1).predict_proba(x))


def test_load_champion_without_a_champion_is_a_model_error(registry: ModelRegistry):
    register(registry, 1)

    with pytest.raises(ModelError, match="has no champion"):
        registry.load_champion("eurusd-dir")


# -- walk-forward metrics ------------------------------------------------------------------------------


def test_record_walkforward_metrics_fills_every_fold_and_keeps_earlier_values(
    registry: ModelRegistry, caplog
):
    v0 = register(registry, 1)
    v1 = register(registry, 2, parent=v0)
    folds = [
        {"model_version": v0, "metrics": {"sharpe": np.float64(0.8), "psr": 0.7, "n_trades": 12, "x": [1]}},
        {"model_version": v1, "metrics": {"sharpe": 1.1, "psr": None, "n_trades": 9}},
    ]

    recorded = record_walkforward_metrics(registry, folds, {"dsr": 0.64, "pbo": 0.2}, run_id="run-a")
    again = record_walkforward_metrics(registry, folds, {"dsr": 0.64}, run_id="run-a")
    with caplog.at_level(logging.WARNING, logger="nautilus_ai.learning.registry"):
        rerun = record_walkforward_metrics(registry, folds[1:], {"dsr": 0.5}, run_id="run-b")

    assert recorded == again == {v0: True, v1: True}
    assert rerun == {v1: False}
    assert "keeping the earlier out-of-sample metrics" in caplog.text
    assert registry.get(v0).oos_metrics == {
        "sharpe": 0.8,
        "psr": 0.7,
        "n_trades": 12,
        "dsr": 0.64,
        "oos_run_id": "run-a",
    }
    assert registry.get(v1).oos_metrics["dsr"] == 0.64
    assert registry.get(v1).oos_metrics["psr"] is None
