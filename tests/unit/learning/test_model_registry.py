import json
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from nautilus_ai.errors import ConfigError, ModelError
from nautilus_ai.learning.model import DirectionClassifier
from nautilus_ai.learning.registry import ModelRecord, ModelRegistry, default_code_version

NAMES = ["ret_1", "ret_5", "vol_20"]
SPEC = "spec-123"
PARAMS = {"n_estimators": 20}


def _model(seed: int = 0) -> DirectionClassifier:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, len(NAMES)))
    y = (x[:, 0] + rng.normal(0, 1, 300) > 0).astype(int)
    return DirectionClassifier(params=PARAMS, seed=seed).fit(x, y, NAMES, SPEC)


def _register(registry: ModelRegistry, model: DirectionClassifier, name: str = "eurusd-dir", **kwargs) -> str:
    args = {
        "name": name,
        "train_start": "2020-01-01",
        "train_end": "2021-01-01",
        "seed": model.seed,
        "params": PARAMS,
        "metrics": {"auc": 0.61},
    }
    args.update(kwargs)
    return registry.register(model, **args)


def test_register_then_load_gives_equal_predictions(tmp_path):
    registry = ModelRegistry(tmp_path)
    model = _model()
    x = np.random.default_rng(5).normal(size=(40, len(NAMES)))

    version = _register(registry, model)
    loaded = registry.load(version)

    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    assert loaded.feature_names_ == tuple(NAMES)


def test_version_id_is_name_plus_artifact_hash_prefix(tmp_path):
    registry = ModelRegistry(tmp_path)

    version = _register(registry, _model())

    record = registry.get(version)
    assert version == f"eurusd-dir-{record.sha256[:12]}"
    artifact = tmp_path / "artifacts" / record.sha256
    assert (artifact / "model.bin").is_file()
    assert json.loads((artifact / "meta.json").read_text())["version_id"] == version
    assert (tmp_path / "index.sqlite").is_file()


def test_registering_the_same_model_twice_is_idempotent(tmp_path):
    registry = ModelRegistry(tmp_path)
    model = _model()

    first = _register(registry, model)
    second = _register(registry, _model(), metrics={"auc": 0.99})  # retrained: identical bytes

    assert first == second
    assert len(registry.list()) == 1
    assert registry.get(first).metrics == {"auc": 0.61}  # first registration is kept


def test_get_returns_the_full_record(tmp_path):
    registry = ModelRegistry(tmp_path)
    parent = _register(registry, _model(1))
    created = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

    version = _register(registry, _model(2), parent=parent, code_version="test-1", created_at=created)
    record = registry.get(version)

    assert isinstance(record, ModelRecord)
    assert record.name == "eurusd-dir"
    assert record.created_at == "2024-05-01T12:00:00+00:00"
    assert record.spec_hash == SPEC
    assert record.feature_names == tuple(NAMES)
    assert (record.train_start, record.train_end, record.seed) == ("2020-01-01", "2021-01-01", 2)
    assert record.params == PARAMS and record.metrics == {"auc": 0.61}
    assert record.status == "candidate"
    assert record.parent == parent
    assert record.code_version == "test-1"


def test_code_version_defaults_to_package_version():
    import nautilus_ai

    assert default_code_version().startswith(nautilus_ai.__version__)


def test_list_filters_by_name_in_creation_order(tmp_path):
    registry = ModelRegistry(tmp_path)
    a1 = _register(registry, _model(1), name="a", created_at="2024-01-01T00:00:00+00:00")
    b1 = _register(registry, _model(2), name="b", created_at="2024-01-02T00:00:00+00:00")
    a2 = _register(registry, _model(3), name="a", created_at="2024-01-03T00:00:00+00:00")

    assert [r.version_id for r in registry.list("a")] == [a1, a2]
    assert [r.version_id for r in registry.list()] == [a1, b1, a2]
    assert registry.list("missing") == []


def test_set_status_promotes_and_archives_the_previous_champion(tmp_path):
    registry = ModelRegistry(tmp_path)
    old = _register(registry, _model(1))
    new = _register(registry, _model(2))
    other = _register(registry, _model(3), name="other")
    registry.set_status(other, "champion")

    registry.set_status(old, "champion")
    registry.set_status(new, "champion")

    assert registry.get(new).status == "champion"
    assert registry.get(old).status == "archived"
    assert registry.get(other).status == "champion"  # other names are untouched
    assert registry.champion("eurusd-dir").version_id == new


def test_set_status_rejects_unknown_status_and_version(tmp_path):
    registry = ModelRegistry(tmp_path)
    version = _register(registry, _model())

    with pytest.raises(ConfigError, match="candidate"):
        registry.set_status(version, "production")
    with pytest.raises(ModelError, match="not registered"):
        registry.set_status("nope-000000000000", "archived")


def test_unknown_version_is_a_model_error(tmp_path):
    registry = ModelRegistry(tmp_path)

    with pytest.raises(ModelError, match="registry is empty"):
        registry.load("eurusd-dir-000000000000")


def test_corrupted_artifact_is_detected_and_other_versions_still_load(tmp_path):
    registry = ModelRegistry(tmp_path)
    broken = _register(registry, _model(1))
    healthy = _register(registry, _model(2))
    path = registry.artifact_path(broken)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))

    with pytest.raises(ModelError, match=r"corrupted.*sha256"):
        registry.load(broken)
    assert registry.load(healthy).feature_names_ == tuple(NAMES)


def test_missing_artifact_is_a_model_error(tmp_path):
    registry = ModelRegistry(tmp_path)
    version = _register(registry, _model())
    registry.artifact_path(version).unlink()

    with pytest.raises(ModelError, match="missing"):
        registry.load(version)


def test_registering_over_a_corrupted_artifact_refuses_to_overwrite_it(tmp_path):
    registry = ModelRegistry(tmp_path)
    model = _model()
    version = _register(registry, model)
    registry.artifact_path(version).write_bytes(b"garbage")

    with pytest.raises(ModelError, match="corrupted"):
        _register(registry, model, name="again")
    assert registry.artifact_path(version).read_bytes() == b"garbage"


def test_writes_leave_no_temporary_files(tmp_path):
    registry = ModelRegistry(tmp_path)

    for seed in range(3):
        _register(registry, _model(seed))
    _register(registry, _model(0))

    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".")]
    assert leftovers == []
    assert len(list((tmp_path / "artifacts").iterdir())) == 3


def test_the_same_bytes_under_two_names_share_one_artifact(tmp_path):
    registry = ModelRegistry(tmp_path)
    model = _model()

    first = _register(registry, model, name="x")
    second = _register(registry, model, name="y")

    assert first != second
    assert registry.get(first).sha256 == registry.get(second).sha256
    assert len(list((tmp_path / "artifacts").iterdir())) == 1


def test_invalid_name_and_unknown_parent_are_config_errors(tmp_path):
    registry = ModelRegistry(tmp_path)

    with pytest.raises(ConfigError, match="name"):
        _register(registry, _model(), name="../evil")
    with pytest.raises(ConfigError, match="parent"):
        _register(registry, _model(), parent="ghost-000000000000")


def test_unfitted_model_cannot_be_registered(tmp_path):
    with pytest.raises(ModelError, match="not fitted"):
        _register(ModelRegistry(tmp_path), DirectionClassifier())


def test_two_processes_registering_at_once_both_succeed(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        from nautilus_ai.learning.model import DirectionClassifier
        from nautilus_ai.learning.registry import ModelRegistry

        worker = int(sys.argv[1])
        registry = ModelRegistry({str(tmp_path)!r})
        rng = np.random.default_rng(0)
        x = rng.normal(size=(200, 3))
        y = (x[:, 0] > 0).astype(int)
        for seed in range(6):
            model = DirectionClassifier(params={{"n_estimators": 5}}, seed=seed)
            model.fit(x, y, ["a", "b", "c"], "s")
            # seeds 0-2 are registered by both workers (same bytes), 3-5 under a per-worker name
            name = "shared" if seed < 3 else f"w{{worker}}"
            registry.register(model, name=name, train_start="a", train_end="b", seed=seed, params={{}})
        """
    )
    workers = [subprocess.Popen([sys.executable, "-c", script, str(i)]) for i in range(2)]

    assert [w.wait(timeout=120) for w in workers] == [0, 0]
    registry = ModelRegistry(tmp_path)
    assert len(registry.list("shared")) == 3
    assert len(registry.list("w0")) == len(registry.list("w1")) == 3
    for record in registry.list():
        registry.load(record.version_id)
    with sqlite3.connect(Path(tmp_path) / "index.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
