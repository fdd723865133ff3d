"""Index selection by URL, upgrading an older SQLite index, and the pure helpers of the registry."""

import sqlite3

import numpy as np
import pytest

from nautilus_ai.errors import ConfigError, RetryableError
from nautilus_ai.learning.model import DirectionClassifier
from nautilus_ai.learning.registry import ModelRegistry, RegistryEvent, champion_stack, metric_deltas
from nautilus_ai.learning.registry_index import PostgresIndex, SqliteIndex, open_index


def _model(seed: int = 0) -> DirectionClassifier:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(120, 2))
    y = (x[:, 0] > 0).astype(int)
    return DirectionClassifier(params={"n_estimators": 3}, seed=seed).fit(x, y, ["a", "b"], "s")


def test_default_index_is_sqlite_under_the_root(tmp_path):
    index = open_index(None, tmp_path)

    assert isinstance(index, SqliteIndex)
    assert index.path == tmp_path / "index.sqlite" and index.path.is_file()


@pytest.mark.parametrize("form", ["path", "url"])
def test_sqlite_index_elsewhere_by_path_or_url(tmp_path, form):
    target = tmp_path / "elsewhere" / "registry.db"
    target.parent.mkdir()
    url = str(target) if form == "path" else f"sqlite:///{target}"

    registry = ModelRegistry(tmp_path / "root", url)
    version = registry.register(_model(), name="m", train_start="a", train_end="b", seed=0, params={})

    assert target.is_file() and not (tmp_path / "root" / "index.sqlite").exists()
    assert ModelRegistry(tmp_path / "root", url).get(version).name == "m"
    assert registry.index_location == str(target)


def test_unsupported_url_scheme_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"mysql://.*postgresql://"):
        open_index("mysql://localhost/db", tmp_path)


@pytest.mark.parametrize("schema", ["1abc", "a-b", 'x"y', "", "a" * 64])
def test_postgres_schema_must_be_a_plain_identifier(schema):
    with pytest.raises(ConfigError, match="schema"):
        PostgresIndex("postgresql://127.0.0.1:5432/test", schema)


def test_postgres_location_hides_the_password():
    index = PostgresIndex("postgresql://bob:s3cret@db.local:5432/reg", "s")

    assert "s3cret" not in index.location
    assert "bob:***@db.local" in index.location and "schema s" in index.location


def test_unreachable_postgres_is_a_retryable_error(tmp_path):
    with pytest.raises(RetryableError, match="cannot connect to the registry index"):
        ModelRegistry(tmp_path, "postgresql://127.0.0.1:1/test?connect_timeout=2")


def test_an_index_written_before_metrics_and_events_existed_is_upgraded(tmp_path):
    old_schema = """
        CREATE TABLE models (
            version_id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at TEXT NOT NULL,
            sha256 TEXT NOT NULL, spec_hash TEXT NOT NULL, feature_names TEXT NOT NULL,
            train_start TEXT NOT NULL, train_end TEXT NOT NULL, seed INTEGER NOT NULL,
            params TEXT NOT NULL, metrics TEXT NOT NULL, status TEXT NOT NULL, parent TEXT,
            code_version TEXT NOT NULL
        );
    """
    with sqlite3.connect(tmp_path / "index.sqlite") as conn:
        conn.executescript(old_schema)
        conn.execute(
            "INSERT INTO models VALUES ('m-000000000000', 'm', '2024-01-01', 'ff', 's', '[\"a\"]', "
            "'a', 'b', 1, '{}', '{\"auc\": 0.6}', 'champion', NULL, '0.1')"
        )
    conn.close()

    registry = ModelRegistry(tmp_path)
    record = registry.record_metrics("m-000000000000", {"sharpe": 1.0})

    assert record.metrics == {"auc": 0.6} and record.oos_metrics == {"sharpe": 1.0}
    assert record.status == "champion"
    assert registry.history() == []


def _event(i, version, action, from_status, to_status, previous=None) -> RegistryEvent:
    return RegistryEvent(i, "m", version, action, from_status, to_status, previous, "t", "now", None, False)


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([], []),
        ([_event(1, "a", "promote", "candidate", "champion")], ["a"]),
        (
            [
                _event(1, "a", "promote", "candidate", "champion"),
                _event(2, "b", "promote", "candidate", "champion", "a"),
                _event(3, "c", "force_promote", "candidate", "champion", "b"),
            ],
            ["a", "b", "c"],
        ),
        (
            [
                _event(1, "a", "promote", "candidate", "champion"),
                _event(2, "b", "promote", "candidate", "champion", "a"),
                _event(3, "a", "rollback", "archived", "champion", "b"),
            ],
            ["a"],
        ),
        (  # rollback to an explicit version that was not the previous one
            [
                _event(1, "a", "promote", "candidate", "champion"),
                _event(2, "b", "promote", "candidate", "champion", "a"),
                _event(3, "c", "rollback", "candidate", "champion", "b"),
            ],
            ["a", "c"],
        ),
        (  # the champion demoted through set_status leaves the stack
            [
                _event(1, "a", "set_status", "candidate", "champion"),
                _event(2, "b", "set_status", "candidate", "champion", "a"),
                _event(3, "b", "set_status", "champion", "archived"),
            ],
            ["a"],
        ),
        ([_event(1, "a", "set_status", "candidate", "archived")], []),
    ],
)
def test_champion_stack(events, expected):
    assert champion_stack(events) == expected


def test_metric_deltas_flattens_and_subtracts_finite_numbers_only():
    a = {"auc": 0.6, "nested": {"x": 1, "y": "text"}, "nan": float("nan"), "flag": True}
    b = {"auc": 0.7, "nested": {"x": 3}, "nan": 1.0, "flag": False, "new": 2}

    deltas = {d.key: d for d in metric_deltas("validation", a, b)}

    assert sorted(deltas) == ["auc", "flag", "nan", "nested.x", "nested.y", "new"]
    assert deltas["auc"].delta == pytest.approx(0.1)
    assert deltas["nested.x"].delta == 2.0
    assert deltas["nested.y"].b is None and deltas["nested.y"].delta is None
    assert deltas["nan"].delta is None and deltas["flag"].delta is None and deltas["new"].a is None
    assert {d.kind for d in deltas.values()} == {"validation"}
