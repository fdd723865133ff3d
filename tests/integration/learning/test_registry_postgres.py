"""The model registry's index on a real PostgreSQL server, and the same behaviour suite on SQLite.

Every test of ``tests/unit/learning/test_registry_lifecycle.py`` is collected here again with the
``open_registry`` fixture parametrized over SQLite and PostgreSQL (each PostgreSQL test gets its own
schema, dropped afterwards). The server is ``NAUTILUS_AI_POSTGRES_DSN`` or
``postgresql://127.0.0.1:5432/test``; the PostgreSQL cases are skipped, with the reason, only when
it is unreachable.
"""

import importlib.util
import itertools
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from nautilus_ai.learning.registry import ModelRegistry
from nautilus_ai.learning.registry_index import PostgresIndex

POSTGRES_DSN = "postgresql://127.0.0.1:5432/test"
_SUITE_PATH = Path(__file__).resolve().parents[2] / "unit" / "learning" / "test_registry_lifecycle.py"


def _load_suite():
    spec = importlib.util.spec_from_file_location("registry_lifecycle_suite", _SUITE_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_suite = _load_suite()
register = _suite.register
globals().update({name: getattr(_suite, name) for name in dir(_suite) if name.startswith("test_")})


def _dsn() -> str:
    import os

    return os.environ.get("NAUTILUS_AI_POSTGRES_DSN", POSTGRES_DSN)


@pytest.fixture
def pg_schema() -> Iterator[str]:
    try:
        admin = psycopg.connect(_dsn(), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL is not reachable at {_dsn()} (set NAUTILUS_AI_POSTGRES_DSN): {error}")
    schema = f"test_registry_{uuid.uuid4().hex[:16]}"
    yield schema
    admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def open_registry(request, tmp_path) -> Callable[[], ModelRegistry]:
    if request.param == "sqlite":
        return lambda: ModelRegistry(tmp_path, f"sqlite:///{tmp_path / 'other.sqlite'}")
    schema = request.getfixturevalue("pg_schema")
    return lambda: ModelRegistry(tmp_path, _dsn(), schema=schema)


@pytest.fixture
def registry(open_registry: Callable[[], ModelRegistry]) -> ModelRegistry:
    return open_registry()


# -- PostgreSQL only -----------------------------------------------------------------------------------


def test_postgres_index_lives_in_its_schema_and_leaves_no_sqlite_file(tmp_path, pg_schema):
    registry = ModelRegistry(tmp_path, _dsn(), schema=pg_schema)
    version = register(registry, 1)

    with psycopg.connect(_dsn()) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY table_name",
            (pg_schema,),
        ).fetchall()
        rows = conn.execute(f'SELECT version_id, status FROM "{pg_schema}".models').fetchall()

    assert tables == [("model_events",), ("models",)]
    assert rows == [(version, "candidate")]
    assert not (tmp_path / "index.sqlite").exists()
    assert isinstance(registry.index, PostgresIndex)
    assert pg_schema in registry.index_location


def test_two_processes_register_and_promote_concurrently_on_postgres(tmp_path, pg_schema):
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        from nautilus_ai.learning.model import DirectionClassifier
        from nautilus_ai.learning.promotion import PromotionGate
        from nautilus_ai.learning.registry import ModelRegistry, PromotionRefused

        worker = int(sys.argv[1])
        registry = ModelRegistry({str(tmp_path)!r}, {_dsn()!r}, schema={pg_schema!r})
        rng = np.random.default_rng(0)
        x = rng.normal(size=(150, 3))
        y = (x[:, 0] > 0).astype(int)
        gate = PromotionGate(champion_metric=None)
        for seed in range(6):
            model = DirectionClassifier(params={{"n_estimators": 3}}, seed=seed)
            model.fit(x, y, ["a", "b", "c"], "s")
            # seeds 0-2 are registered by both workers (same bytes), 3-5 under a per-worker name
            name = "shared" if seed < 3 else f"w{{worker}}"
            version = registry.register(
                model, name=name, train_start="a", train_end="b", seed=seed, params={{}}
            )
            if name == "shared":
                try:
                    registry.record_metrics(version, {{"sharpe": float(seed)}})
                    registry.promote(version, gate, actor=f"worker{{worker}}")
                except Exception as exc:  # the other worker promoted it first
                    assert "already the champion" in str(exc), exc
        """
    )
    workers = [subprocess.Popen([sys.executable, "-c", script, str(i)]) for i in range(2)]

    assert [w.wait(timeout=180) for w in workers] == [0, 0]
    registry = ModelRegistry(tmp_path, _dsn(), schema=pg_schema)
    assert len(registry.list("shared")) == 3
    assert len(registry.list("w0")) == len(registry.list("w1")) == 3
    for record in registry.list():
        registry.load(record.version_id)
    shared = registry.list("shared")
    assert sum(r.status == "champion" for r in shared) == 1
    events = registry.history("shared")
    assert 3 <= len(events) <= 6
    assert all(e.action == "promote" for e in events)
    # every promotion replaced the champion that was current when it committed
    for before, after in itertools.pairwise(events):
        assert after.previous_version == before.version_id
    champion = registry.champion("shared")
    assert champion is not None and champion.version_id == events[-1].version_id


def test_invalid_schema_name_is_a_config_error(tmp_path):
    from nautilus_ai.errors import ConfigError

    with pytest.raises(ConfigError, match="schema"):
        ModelRegistry(tmp_path, _dsn(), schema='x"; DROP TABLE models; --')


def _champion_id(registry: ModelRegistry, name: str) -> str | None:
    record = registry.champion(name)
    return None if record is None else record.version_id


# -- the walk-forward's models, end to end -------------------------------------------------------------


@pytest.mark.slow
def test_walkforward_models_get_out_of_sample_metrics_and_the_gate_reads_them(tmp_path):
    from nautilus_ai.backtest.walkforward import run_walkforward
    from nautilus_ai.learning.promotion import PromotionGate
    from nautilus_ai.learning.registry import PromotionRefused, record_walkforward_metrics
    from nautilus_ai.test_kit import demo_catalog, small_experiment

    catalog = demo_catalog(tmp_path / "catalog", symbols=("AAPL",))
    cfg = small_experiment(catalog, instruments=("AAPL.XNAS",), walkforward={"workers": 1})
    result = run_walkforward(cfg, tmp_path / "out", run_id="wf")
    registry = ModelRegistry(tmp_path / "out" / "registry")

    recorded = record_walkforward_metrics(
        registry, result.folds, result.metrics["overfitting"], run_id=result.run_id
    )

    assert list(recorded) == [fold["model_version"] for fold in result.folds] and all(recorded.values())
    for fold in result.folds:
        oos = registry.get(fold["model_version"]).oos_metrics
        assert oos["sharpe"] == pytest.approx(fold["metrics"]["sharpe"])
        assert oos["dsr"] == result.metrics["overfitting"]["dsr"]
        assert oos["oos_run_id"] == "wf"
    first, last = result.folds[0]["model_version"], result.folds[-1]["model_version"]
    registry.promote(first, PromotionGate(champion_metric=None), reason="first walk-forward")
    sharpe_first = registry.get(first).oos_metrics["sharpe"]
    sharpe_last = registry.get(last).oos_metrics["sharpe"]
    gate = PromotionGate(champion_metric="sharpe")
    if sharpe_last >= sharpe_first:
        registry.promote(last, gate)
        assert _champion_id(registry, "small-direction") == last
    else:
        with pytest.raises(PromotionRefused, match="does not beat the champion"):
            registry.promote(last, gate)
        assert _champion_id(registry, "small-direction") == first
