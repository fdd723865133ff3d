"""One adversarial-training run of an experiment: plain and adversarial models on the last fold, compared.

1. The bars of the experiment's catalog (:func:`~nautilus_ai.backtest.scenario_runner.load_bar_frames`)
   and the last walk-forward fold, cut as the walk-forward cuts it.
2. :func:`~nautilus_ai.learning.adversarial.adversarial_train` on the fold's training window: the
   plain model (round 0) and the adversarially trained one.
3. Both evaluated by the vectorized strategy
   (:func:`~nautilus_ai.learning.adversarial.evaluate_strategy`) on the fold's test window,
   unstressed and on the worst scenario of the box found by a fresh adversary against each.
4. ``history.parquet`` (one row per round), ``adversarial.json`` (configs, fold, history, test
   metrics and model versions) and ``config.toml`` under ``<out>/<run_id>/``; both models registered
   in the model registry (default ``<out>/registry``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nautilus_ai.backtest.fold_models import staged_params
from nautilus_ai.backtest.folds import Fold, make_folds
from nautilus_ai.backtest.node_config import periods_per_year
from nautilus_ai.backtest.scenario_runner import check_bar_only, load_bar_frames
from nautilus_ai.catalog.atomic import atomic_write_text, write_parquet_atomic
from nautilus_ai.config import ExperimentConfig
from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.learning.adversarial import (
    AdversarialConfig,
    Scenario,
    adversarial_train,
    evaluate_scenario,
    search_worst_scenario,
)
from nautilus_ai.learning.registry import ModelRegistry
from nautilus_ai.learning.staged import StagedModel

Progress = Callable[[str, int, int], None]

TEST_SEED_OFFSET = 1_000_003
"""Added to the seed of the test-window adversary, so it never replays a training round's draws."""


@dataclass
class AdversarialRun:
    """Where the run wrote its results, the per-round history and the test metrics per arm."""

    run_id: str
    run_dir: Path
    history: pd.DataFrame
    test_metrics: dict[str, dict[str, dict[str, Any]]]
    versions: dict[str, str]


def last_fold(cfg: ExperimentConfig, frames: dict[str, pd.DataFrame]) -> Fold:
    """Return the experiment's last walk-forward fold over the bars (data start: the first feature row)."""
    warmup = cfg.features.to_spec().warmup_bars()
    starts = [frame.index[min(warmup - 1, len(frame) - 1)] for frame in frames.values()]
    ends = [frame.index[-1] for frame in frames.values()]
    folds = make_folds(
        min(starts),
        max(ends),
        pd.Timedelta(cfg.walkforward.train),
        pd.Timedelta(cfg.walkforward.test),
        pd.Timedelta(cfg.walkforward.step) if cfg.walkforward.step else None,
        cfg.walkforward.scheme,
    )
    if not folds:
        raise DataError(
            f"the bars ({min(starts)} to {max(ends)}) are shorter than one training window "
            f"({cfg.walkforward.train}) plus a test window: shorten [walkforward] train"
        )
    return folds[-1]


def run_adversarial(
    cfg: ExperimentConfig,
    config: AdversarialConfig,
    out_dir: Path,
    *,
    run_id: str | None = None,
    registry_path: Path | None = None,
    progress: Progress | None = None,
) -> AdversarialRun:
    """Train plain and adversarial models on the last fold, compare them, write ``out_dir/<run_id>/``.

    Raises
    ------
    ConfigError
        No catalog, a run folder that exists, a regime model, or features that need more than bars.
    DataError
        Too few bars or labelled rows.

    """
    if cfg.data.catalog is None:
        raise ConfigError("no catalog: set [data] catalog in the config or pass --catalog")
    catalog = str(Path(cfg.data.catalog).resolve())
    if not Path(catalog).is_dir():
        raise ConfigError(f"catalog {catalog} does not exist: run `nautilus-ai catalog ingest` first")
    if cfg.regime.enabled:
        raise ConfigError("adversarial training does not synthesize regime probabilities: disable [regime]")
    check_bar_only(cfg)
    notify = progress or (lambda stage, done, total: None)
    run_id = (
        run_id or f"{pd.Timestamp.now(tz='UTC'):%Y%m%d-%H%M%S}-{cfg.name}-adversarial-{cfg.config_hash()[:8]}"
    )
    final_dir = Path(out_dir) / run_id
    if final_dir.exists():
        raise ConfigError(f"run folder {final_dir} already exists: choose another --run-id or --out")
    run_dir = Path(out_dir) / f".{run_id}.partial"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    try:
        frames = {iid: f.drop(columns=["ts_event"]) for iid, f in load_bar_frames(catalog, cfg).items()}
        fold = last_fold(cfg, frames)
        spec = cfg.features.to_spec()
        ppy = periods_per_year(cfg)
        config = config.model_copy(update={"periods_per_year": ppy})
        horizon = cfg.label.horizon_bars
        training = {iid: f[f.index < fold.train_end] for iid, f in frames.items()}  # labels end before it
        result = adversarial_train(
            training,
            spec,
            staged_params(cfg),
            config,
            train_start=fold.train_start,
            train_end=fold.train_end,
            horizon=horizon,
            progress=notify,
        )
        history = result.history_frame()
        notify("evaluate", 0, 2)
        arms = {"plain": result.plain_model, "adversarial": result.model}
        tested = {}
        for number, (arm, model) in enumerate(arms.items()):
            tested[arm] = _test_metrics(model, frames, spec, config, fold)
            notify("evaluate", number + 1, 2)
        registry = ModelRegistry(Path(registry_path) if registry_path else Path(out_dir) / "registry")
        versions = {
            arm: registry.register(
                model,
                name=f"{cfg.model.name}-{arm}",
                train_start=fold.train_start.isoformat(),
                train_end=fold.train_end.isoformat(),
                seed=cfg.seed,
                params={"kind": cfg.model.kind, "stages": list(model.stages), "arm": arm},
                metrics={"test_sharpe": tested[arm]["unstressed"]["sharpe"]},
            )
            for arm, model in arms.items()
        }
        atomic_write_text(run_dir / "config.toml", cfg.to_toml())
        write_parquet_atomic(history, run_dir / "history.parquet")
        summary = {
            "run_id": run_id,
            "config_hash": cfg.config_hash(),
            "adversarial_config": config.model_dump(mode="json"),
            "fold": fold.as_dict(),
            "history": history.to_dict(orient="records"),
            "test": tested,
            "versions": versions,
            "evaluator": "vectorized (nautilus_ai.learning.adversarial.evaluate_strategy), not the engine",
        }
        atomic_write_text(run_dir / "adversarial.json", json.dumps(summary, indent=2, default=float))
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    run_dir.rename(final_dir)
    return AdversarialRun(run_id, final_dir, history, tested, versions)


def _test_metrics(
    model: StagedModel,
    frames: dict[str, pd.DataFrame],
    spec: Any,
    config: AdversarialConfig,
    fold: Fold,
) -> dict[str, dict[str, Any]]:
    """Return the unstressed and worst-in-the-box metrics of ``model`` on the fold's test window."""
    seed = config.seed + TEST_SEED_OFFSET
    end = fold.test_end + pd.Timedelta(1, "ns")

    def evaluate(scenario: Scenario) -> Any:
        return evaluate_scenario(
            model,
            frames,
            spec,
            scenario,
            seed,
            start=fold.test_start,
            end=end,
            cost_bp=config.cost_bp,
            periods_per_year=config.periods_per_year,
        )

    found = search_worst_scenario(
        lambda scenario: float(evaluate(scenario).objective(config.objective)),
        config.bounds,
        trials=config.search_trials,
        refine_trials=config.refine_trials,
        seed=seed,
    )
    worst = evaluate(found.scenario).metrics()
    return {
        "unstressed": {k: _number(v) for k, v in evaluate(Scenario()).metrics().items()},
        "worst_in_box": {k: _number(v) for k, v in worst.items()} | {"scenario": found.scenario.as_dict()},
    }


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
