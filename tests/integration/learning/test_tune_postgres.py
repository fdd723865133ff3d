"""Distributed tuning: two worker processes on one study in a real PostgreSQL server.

The server is ``NAUTILUS_AI_POSTGRES_DSN`` or ``postgresql://127.0.0.1:5432/test``; the study's
tables live in a schema of their own (dropped afterwards) and the study is deleted after the test.
Skipped, with the reason, only when the server is unreachable.
"""

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import psycopg
import pytest

from nautilus_ai.learning.tuning import parse_tune, run_study
from nautilus_ai.test_kit import demo_catalog, small_experiment

POSTGRES_DSN = "postgresql://127.0.0.1:5432/test"


def _dsn() -> str:
    return os.environ.get("NAUTILUS_AI_POSTGRES_DSN", POSTGRES_DSN)


@pytest.fixture
def postgres_storage() -> Iterator[str]:
    try:
        admin = psycopg.connect(_dsn(), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL is not reachable at {_dsn()} (set NAUTILUS_AI_POSTGRES_DSN): {error}")
    schema = f"test_tune_{uuid.uuid4().hex[:16]}"
    admin.execute(f'CREATE SCHEMA "{schema}"')
    url = _dsn().replace("postgresql://", "postgresql+psycopg://", 1)
    url += ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"
    try:
        yield url
    finally:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()


@pytest.mark.slow
def test_two_worker_processes_share_one_study_in_postgres(postgres_storage: str, tmp_path: Path) -> None:
    catalog = demo_catalog(tmp_path)
    base = small_experiment(catalog, data={"end": "2015-01-01"}, walkforward={"workers": 1, "baselines": []})
    name = f"tune-pg-{uuid.uuid4().hex[:8]}"
    spec = parse_tune(
        {
            "study_name": name,
            "storage": postgres_storage,
            "seed": 5,
            "n_trials": 4,
            "pruning": {"enabled": False},
            "parameters": [
                {"path": "model.params.num_leaves", "kind": "int", "low": 3, "high": 15},
                {"path": "strategy.target_volatility", "kind": "float", "low": 0.05, "high": 0.2},
            ],
        }
    )
    try:
        result = run_study(spec, base, tmp_path / "study", workers=2)
        study = optuna.load_study(study_name=name, storage=postgres_storage)
        trials = study.trials
        assert sorted(t.number for t in trials) == [0, 1, 2, 3]
        assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
        workers = {t.user_attrs["worker"] for t in trials}
        assert len(workers) == 2
        assert os.getpid() not in {int(w.rsplit(":", 1)[1]) for w in workers}
        assert len({t.user_attrs["run_dir"] for t in trials}) == 4
        assert study.user_attrs["n_trials"] == 4
        assert result.summary["overfitting"]["n_trials"] == 4
        assert not (tmp_path / "study" / "optuna.db").exists()
    finally:
        with contextlib.suppress(KeyError):
            optuna.delete_study(study_name=name, storage=postgres_storage)
