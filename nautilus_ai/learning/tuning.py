"""Optuna meta-optimization of an experiment over its walk-forward out-of-sample result.

A *tune file* (TOML, :class:`TuneConfig`) names the parameters to search, each addressed by its
dotted path in the experiment config (``model.params.num_leaves``, ``features.rsi_period``,
``risk.kelly_fraction``), the sampler (TPE, NSGA-II or CMA-ES), the objectives (``sharpe``, or
``cagr`` against ``max_drawdown`` for a multi-objective study), the number of trials and the
storage. Every trial applies the suggested values to the base :class:`~nautilus_ai.config.ExperimentConfig`
and runs :func:`~nautilus_ai.backtest.walkforward.run_walkforward`; the objective is the stitched
out-of-sample result.

Pruning by early folds
----------------------
``run_walkforward`` backtests every fold's test window in parallel at the end of the run, so it
cannot report a fold's out-of-sample result before the run finishes. The folds are therefore run
incrementally: at checkpoint ``k`` the trial runs a walk-forward whose data ends just before the
end of fold ``k``'s test window (``[data] end`` is cut), which gives exactly the first ``k`` folds
of the full run (the folds start at the first FeatureVector, which does not depend on the data
end). Its stitched out-of-sample Sharpe ratio is reported to Optuna as the intermediate value of
step ``k`` and :class:`optuna.pruners.MedianPruner` stops trials below the median of the earlier
trials at the same step. A trial that survives every checkpoint runs the full walk-forward.
Pruning is single-objective only (Optuna does not prune multi-objective studies).

What every trial records
------------------------
User attributes: ``worker`` (host and process id), ``run_dir``, ``config_hash``, ``n_folds``,
``fold_sharpes``, the out-of-sample metrics (``oos_metrics``), the run's overfitting statistics
and the stitched per-bar out-of-sample returns (``oos_returns``: ``{"ts": [ns...], "returns": [...]}``) that
:mod:`nautilus_ai.learning.tuning_report` uses for the deflated Sharpe ratio and the PBO of the
study. Each trial's walk-forward is run with ``[walkforward] n_trials`` set to the number of
trials tried so far (``trial.number + 1``), so its own DSR accounts for the search. A trial
whose values leave too little data (a :class:`~nautilus_ai.errors.DataError` of the
walk-forward) is recorded as failed and the study goes on; any other error stops it.
"""

import math
import multiprocessing
import os
import shutil
import socket
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import optuna
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nautilus_ai.backtest.folds import make_folds
from nautilus_ai.backtest.metrics import simple_returns
from nautilus_ai.backtest.walkforward import Progress, load_closes, run_walkforward
from nautilus_ai.config import ExperimentConfig, parse_experiment
from nautilus_ai.errors import ConfigError, DataError

Objective = Literal["sharpe", "sortino", "calmar", "cagr", "total_return", "max_drawdown"]

OBJECTIVE_DIRECTIONS: dict[str, str] = {
    "sharpe": "maximize",
    "sortino": "maximize",
    "calmar": "maximize",
    "cagr": "maximize",
    "total_return": "maximize",
    # max_drawdown is a negative fraction (-0.23 for a 23 % loss): the shallower, the higher
    "max_drawdown": "maximize",
}
"""Optuna direction of each objective (an out-of-sample metric of ``metrics.json``)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParameterSpec(_Section):
    """One searched parameter: a dotted experiment-config path and its range or choices."""

    path: str = Field(
        ...,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$",
        description="e.g. model.params.num_leaves",
    )
    kind: Literal["int", "float", "categorical"] = Field(..., description="How the value is drawn")
    low: float | None = Field(default=None, description="Lower bound (int and float)")
    high: float | None = Field(default=None, description="Upper bound, inclusive (int and float)")
    step: float | None = Field(
        default=None, gt=0.0, description="Grid step (int and float), default: 1 / continuous"
    )
    log: bool = Field(default=False, description="Draw on a log scale (int and float, low > 0)")
    choices: list[Any] | None = Field(default=None, min_length=1, description="The values (categorical)")

    @model_validator(mode="after")
    def _range_or_choices(self) -> "ParameterSpec":
        if self.kind == "categorical":
            if not self.choices:
                raise ValueError(f"{self.path}: a categorical parameter needs choices")
            if self.low is not None or self.high is not None:
                raise ValueError(f"{self.path}: a categorical parameter takes choices, not low/high")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"{self.path}: an {self.kind} parameter needs low and high")
        if self.choices is not None:
            raise ValueError(f"{self.path}: an {self.kind} parameter takes low/high, not choices")
        if self.low > self.high:
            raise ValueError(f"{self.path}: low ({self.low}) must be <= high ({self.high})")
        if self.kind == "int" and (self.low != int(self.low) or self.high != int(self.high)):
            raise ValueError(f"{self.path}: an int parameter needs integer low and high")
        if self.log and self.low <= 0:
            raise ValueError(f"{self.path}: a log-scale parameter needs low > 0")
        if self.log and self.step is not None:
            raise ValueError(f"{self.path}: step and log cannot be combined")
        return self

    def suggest(self, trial: optuna.Trial) -> Any:
        """Draw the parameter's value for ``trial``."""
        if self.kind == "categorical":
            assert self.choices is not None
            return trial.suggest_categorical(self.path, self.choices)
        assert self.low is not None and self.high is not None
        if self.kind == "int":
            step = int(self.step) if self.step is not None else 1
            return trial.suggest_int(self.path, int(self.low), int(self.high), step=step, log=self.log)
        return trial.suggest_float(self.path, self.low, self.high, step=self.step, log=self.log)

    def sample_value(self) -> Any:
        """Return a value inside the range (the low end, or the first choice), to check the path."""
        if self.kind == "categorical":
            assert self.choices is not None
            return self.choices[0]
        assert self.low is not None
        return int(self.low) if self.kind == "int" else float(self.low)


class PruningSection(_Section):
    """Median pruning of trials by the out-of-sample Sharpe ratio of their first folds."""

    enabled: bool = Field(default=True, description="Prune (single-objective studies only)")
    checkpoints: list[int] | None = Field(
        default=None,
        description="Fold counts whose stitched OOS Sharpe is reported, default: every fold but the last",
    )
    n_startup_trials: int = Field(default=2, ge=0, description="Trials run to the end before any is pruned")
    n_warmup_steps: int = Field(
        default=0, ge=0, description="Checkpoints passed before a trial can be pruned"
    )

    @model_validator(mode="after")
    def _checkpoints_positive(self) -> "PruningSection":
        if self.checkpoints is not None and any(k < 1 for k in self.checkpoints):
            raise ValueError(f"checkpoints are fold counts >= 1, were {self.checkpoints}")
        return self


class TuneConfig(_Section):
    """A tuning study: the search space, the sampler, the objectives, the trials and the storage."""

    study_name: str = Field(default="tune", pattern=r"^[A-Za-z0-9_.-]+$", description="Optuna study name")
    sampler: Literal["tpe", "nsga2", "cmaes"] = "tpe"
    objectives: list[Objective] = Field(
        default=["sharpe"],
        min_length=1,
        description="Out-of-sample metrics; two or more make it multi-objective",
    )
    n_trials: int = Field(default=20, ge=1, description="Trials run by this invocation (over all workers)")
    storage: str | None = Field(
        default=None,
        description="Storage URL (default sqlite:///<out>/optuna.db); postgresql+psycopg://... to share",
    )
    seed: int = Field(default=42, description="Seed of the sampler")
    population_size: int = Field(default=8, ge=2, description="NSGA-II population size")
    pbo_splits: int = Field(default=8, ge=2, description="Even number of CSCV blocks for the study's PBO")
    pruning: PruningSection = PruningSection()
    parameters: list[ParameterSpec] = Field(..., min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> "TuneConfig":
        paths = [p.path for p in self.parameters]
        if len(set(paths)) != len(paths):
            raise ValueError(
                f"parameters are listed twice: {sorted({p for p in paths if paths.count(p) > 1})}"
            )
        if len(set(self.objectives)) != len(self.objectives):
            raise ValueError(f"objectives are listed twice: {self.objectives}")
        if self.sampler == "cmaes" and len(self.objectives) > 1:
            raise ValueError(
                "sampler 'cmaes' is single-objective: use 'nsga2' or 'tpe' for several objectives"
            )
        if self.sampler == "cmaes" and any(p.kind == "categorical" for p in self.parameters):
            raise ValueError(
                "sampler 'cmaes' searches int and float parameters only: drop the categorical ones"
            )
        if self.pbo_splits % 2:
            raise ValueError(f"pbo_splits must be even, was {self.pbo_splits}")
        return self

    @property
    def multi_objective(self) -> bool:
        """Whether the study has more than one objective."""
        return len(self.objectives) > 1

    def directions(self) -> list[optuna.study.StudyDirection]:
        """Return the Optuna direction of every objective."""
        return [optuna.study.StudyDirection[OBJECTIVE_DIRECTIONS[o].upper()] for o in self.objectives]

    def storage_url(self, out_dir: Path) -> str:
        """Return the storage URL (``sqlite:///<out_dir>/optuna.db`` when none is set)."""
        if self.storage:
            return self.storage
        return f"sqlite:///{(Path(out_dir) / 'optuna.db').resolve()}"


def parse_tune(data: dict[str, Any], source: str = "<tune>") -> TuneConfig:
    """Validate a tune mapping, raising :class:`ConfigError` naming ``source`` and the fields."""
    try:
        return TuneConfig.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(f"[{'.'.join(str(p) for p in err['loc'])}] {err['msg']}" for err in e.errors())
        raise ConfigError(f"{source}: {problems}") from None


def load_tune(path: Path | str) -> TuneConfig:
    """Load and validate a tune TOML file (the search space and the study settings)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"tune file {path} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    return parse_tune(data, str(path))


# --------------------------------------------------------------------------------------------------
# Applying values to the experiment config
# --------------------------------------------------------------------------------------------------


def set_path(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Return a copy of the nested mapping ``data`` with the dotted ``path`` set to ``value``.

    Every section on the way must exist as a mapping; the last key may be new (free mappings such
    as ``model.params`` take any key; the config validation rejects unknown keys elsewhere).
    """
    keys = path.split(".")
    out = dict(data)
    node = out
    for depth, key in enumerate(keys[:-1]):
        child = node.get(key)
        if not isinstance(child, dict):
            where = ".".join(keys[: depth + 1])
            raise ConfigError(f"parameter {path}: {where} is not a section of the experiment config")
        node[key] = dict(child)
        node = node[key]
    node[keys[-1]] = value
    return out


def apply_parameters(cfg: ExperimentConfig, values: dict[str, Any], source: str = "tune") -> ExperimentConfig:
    """Return ``cfg`` with every dotted path of ``values`` set, validated again.

    Raises
    ------
    ConfigError
        When a path is not in the config or a value breaks its constraints (the message names
        ``source`` and the field).
    """
    data = cfg.model_dump(mode="python")
    for path, value in values.items():
        data = set_path(data, path, value)
    return parse_experiment(data, source=source)


def check_parameters(tune: TuneConfig, cfg: ExperimentConfig) -> None:
    """Check that every searched path exists in ``cfg`` and accepts a value of its range.

    Raises
    ------
    ConfigError
        Naming the parameter whose path or range does not fit the experiment config.
    """
    for spec in tune.parameters:
        apply_parameters(cfg, {spec.path: spec.sample_value()}, source=f"tune parameter {spec.path}")


# --------------------------------------------------------------------------------------------------
# Samplers, pruners, studies
# --------------------------------------------------------------------------------------------------


def make_sampler(tune: TuneConfig) -> optuna.samplers.BaseSampler:
    """Return the seeded sampler of ``tune`` (TPE, NSGA-II or CMA-ES).

    Raises
    ------
    ConfigError
        For CMA-ES when the ``cmaes`` package is missing.
    """
    if tune.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=tune.seed, multivariate=True)
    if tune.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=tune.seed, population_size=tune.population_size)
    try:
        import cmaes  # noqa: F401
    except ImportError:
        raise ConfigError(
            "sampler 'cmaes' needs the cmaes package (pip install cmaes); or choose sampler 'tpe' or 'nsga2'"
        ) from None
    return optuna.samplers.CmaEsSampler(seed=tune.seed)


def make_pruner(tune: TuneConfig) -> optuna.pruners.BasePruner:
    """Return a MedianPruner over the early-fold Sharpe ratios, or no pruning (multi-objective)."""
    if not tune.pruning.enabled or tune.multi_objective:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(
        n_startup_trials=tune.pruning.n_startup_trials, n_warmup_steps=tune.pruning.n_warmup_steps
    )


def open_study(tune: TuneConfig, storage: str, study_name: str | None = None) -> optuna.Study:
    """Create the study in ``storage``, or load it when it exists (distributed workers share it).

    Raises
    ------
    ConfigError
        When the stored study has other objectives or directions than ``tune``.
    """
    name = study_name or tune.study_name
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            sampler=make_sampler(tune),
            pruner=make_pruner(tune),
            directions=tune.directions(),
            load_if_exists=True,
        )
    except ValueError as e:
        raise ConfigError(f"study {name!r} in {storage}: {e}") from None
    stored = study.user_attrs.get("objectives")
    if stored is not None and list(stored) != list(tune.objectives):
        raise ConfigError(
            f"study {name!r} in {storage} optimizes {stored}, the tune file asks for {tune.objectives}: "
            "choose another --study-name"
        )
    if stored is None:
        study.set_user_attr("objectives", list(tune.objectives))
        study.set_user_attr("sampler", tune.sampler)
        study.set_user_attr("search_space", [p.model_dump(mode="json") for p in tune.parameters])
    return study


# --------------------------------------------------------------------------------------------------
# The objective: one walk-forward per trial, incrementally over the checkpoints when pruning
# --------------------------------------------------------------------------------------------------


def fold_plan(cfg: ExperimentConfig) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Return the ``(test_start, test_end)`` of every fold the walk-forward of ``cfg`` will run.

    The folds start at the first FeatureVector, published on the bar ``FeatureSpec.warmup_bars()``
    bars into the data (as :func:`~nautilus_ai.backtest.walkforward.run_walkforward` cuts them).
    """
    assert cfg.data.catalog is not None
    closes = load_closes(str(Path(cfg.data.catalog).resolve()), cfg)
    bar_times = pd.DatetimeIndex(sorted(set().union(*(c.index for c in closes.values()))))
    warmup = cfg.features.to_spec().warmup_bars()
    if len(bar_times) <= warmup:
        return []
    wf = cfg.walkforward
    folds = make_folds(
        bar_times[warmup - 1],
        bar_times[-1],
        pd.Timedelta(wf.train),
        pd.Timedelta(wf.test),
        pd.Timedelta(wf.step) if wf.step else None,
        wf.scheme,
    )
    return [(f.test_start, f.test_end) for f in folds]


def truncated_config(cfg: ExperimentConfig, test_end: pd.Timestamp) -> ExperimentConfig:
    """Return ``cfg`` with its data ending 1 ns before ``test_end`` (the first folds only)."""
    end = (test_end - pd.Timedelta(1, "ns")).isoformat()
    return cfg.model_copy(update={"data": cfg.data.model_copy(update={"end": end})})


def checkpoint_folds(tune: TuneConfig, n_folds: int) -> list[int]:
    """Return the fold counts at which a trial reports an intermediate value (all below ``n_folds``)."""
    if not tune.pruning.enabled or tune.multi_objective:
        return []
    wanted = tune.pruning.checkpoints if tune.pruning.checkpoints is not None else range(1, n_folds)
    return sorted({k for k in wanted if k < n_folds})


def _metric(metrics: dict[str, Any], name: str) -> float:
    value = metrics.get(name)
    return float(value) if value is not None else math.nan


def _returns_attr(run_dir: Path) -> dict[str, list]:
    equity = pd.read_parquet(run_dir / "equity.parquet")
    curve = pd.Series(equity["strategy"].to_numpy(dtype=float), index=pd.DatetimeIndex(equity["ts"]))
    returns = simple_returns(curve) if len(curve) > 1 else pd.Series(dtype=float)
    return {
        "ts": [int(t.value) for t in pd.DatetimeIndex(returns.index)],
        "returns": [float(r) for r in returns.to_numpy()],
    }


@dataclass
class TuneObjective:
    """The Optuna objective: apply a trial's values to the base config and run its walk-forward.

    Parameters
    ----------
    tune : TuneConfig
        The search space and the study settings.
    base : ExperimentConfig
        The experiment every trial starts from (its catalog set).
    runs_dir : Path
        Where the trials' walk-forward runs go (``<runs_dir>/trial-0007/``).
    registry_path : Path, optional
        The model registry of the trials' fold models (default ``<runs_dir>/registry``).
    progress : Progress, optional
        ``progress(stage, done, total)`` of each walk-forward.
    """

    tune: TuneConfig
    base: ExperimentConfig
    runs_dir: Path
    registry_path: Path | None = None
    progress: Progress | None = None

    def config_for(self, trial: optuna.Trial) -> ExperimentConfig:
        """Draw the trial's values and return the experiment config it runs."""
        values = {spec.path: spec.suggest(trial) for spec in self.tune.parameters}
        cfg = apply_parameters(self.base, values, source=f"trial {trial.number}")
        walkforward = cfg.walkforward.model_copy(update={"n_trials": trial.number + 1})
        return cfg.model_copy(update={"walkforward": walkforward})

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        """Run the trial: early-fold checkpoints (pruning), then the full walk-forward."""
        cfg = self.config_for(trial)
        registry = self.registry_path or self.runs_dir / "registry"
        run_id = f"{trial.study.study_name}-trial-{trial.number:04d}"
        folds = fold_plan(cfg)
        for k in checkpoint_folds(self.tune, len(folds)):
            partial_id = f"{run_id}-first{k}"
            partial = run_walkforward(
                truncated_config(cfg, folds[k - 1][1]),
                self.runs_dir,
                run_id=partial_id,
                registry_path=registry,
                progress=self.progress,
            )
            sharpe = _metric(partial.metrics["out_of_sample"], "sharpe")
            shutil.rmtree(partial.run_dir, ignore_errors=True)
            trial.report(sharpe if math.isfinite(sharpe) else -math.inf, k)
            trial.set_user_attr(f"sharpe_first{k}", sharpe)
            if trial.should_prune():
                raise optuna.TrialPruned(f"out-of-sample Sharpe {sharpe:.3f} of the first {k} fold(s)")
        result = run_walkforward(
            cfg, self.runs_dir, run_id=run_id, registry_path=registry, progress=self.progress
        )
        oos = result.metrics["out_of_sample"]
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        trial.set_user_attr("run_dir", str(result.run_dir))
        trial.set_user_attr("config_hash", cfg.config_hash())
        trial.set_user_attr("n_folds", len(result.folds))
        trial.set_user_attr("fold_sharpes", [f.get("metrics", {}).get("sharpe") for f in result.folds])
        trial.set_user_attr("oos_metrics", oos)
        trial.set_user_attr("overfitting", result.metrics.get("overfitting"))
        trial.set_user_attr("oos_returns", _returns_attr(result.run_dir))
        values = [_metric(oos, name) for name in self.tune.objectives]
        return values[0] if len(values) == 1 else values


# --------------------------------------------------------------------------------------------------
# Running a study
# --------------------------------------------------------------------------------------------------


@dataclass
class TuneResult:
    """Where a tuning study lives and what its report says."""

    study_name: str
    storage: str
    out_dir: Path
    report_path: Path
    json_path: Path
    summary: dict[str, Any]


def worker_trials(n_trials: int, workers: int) -> list[int]:
    """Split ``n_trials`` over ``workers`` (the first ones take one more), dropping idle workers."""
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, was {workers}")
    share, extra = divmod(n_trials, workers)
    return [share + (1 if i < extra else 0) for i in range(workers) if share + (1 if i < extra else 0) > 0]


def optimize_worker(
    tune: TuneConfig,
    base: ExperimentConfig,
    out_dir: Path,
    storage: str,
    study_name: str,
    n_trials: int,
    progress: Progress | None = None,
) -> None:
    """Run ``n_trials`` trials of the shared study (one worker; called in its own process)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(tune, storage, study_name)
    objective = TuneObjective(tune, base, Path(out_dir) / "runs", progress=progress)
    study.optimize(objective, n_trials=n_trials, catch=(DataError,))


def run_study(
    tune: TuneConfig,
    base: ExperimentConfig,
    out_dir: Path,
    *,
    study_name: str | None = None,
    workers: int = 1,
    progress: Progress | None = None,
    on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
) -> TuneResult:
    """Run ``tune.n_trials`` trials of the study over ``base`` and write its report.

    Parameters
    ----------
    tune : TuneConfig
        The search space and the study settings.
    base : ExperimentConfig
        The experiment the trials start from; its ``[data] catalog`` must be set.
    out_dir : Path
        The study folder: ``optuna.db`` (default storage), ``runs/`` (one walk-forward per trial)
        and ``tuning_report.html`` / ``tuning_report.json``.
    study_name : str, optional
        Overrides ``tune.study_name``.
    workers : int, default 1
        Processes running trials of the study at the same time (each opens the same storage).
    progress : Progress, optional
        ``progress(stage, done, total)`` of the walk-forwards (in-process runs only).
    on_trial : callable, optional
        Called after each trial (in-process runs only).

    Returns
    -------
    TuneResult
        The study's storage, name and report paths and the report summary.
    """
    from nautilus_ai.learning.tuning_report import write_tuning_report

    if base.data.catalog is None:
        raise ConfigError("no catalog: set [data] catalog in the config or pass --catalog")
    check_parameters(tune, base)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    storage = tune.storage_url(out_dir)
    name = study_name or tune.study_name
    open_study(tune, storage, name)  # create it once, before the workers race to
    shares = worker_trials(tune.n_trials, workers)
    if len(shares) == 1:
        study = open_study(tune, storage, name)
        objective = TuneObjective(tune, base, out_dir / "runs", progress=progress)
        callbacks = [on_trial] if on_trial else []
        study.optimize(objective, n_trials=shares[0], callbacks=callbacks, catch=(DataError,))
    else:
        context = multiprocessing.get_context("spawn")
        processes = [
            context.Process(target=optimize_worker, args=(tune, base, out_dir, storage, name, share))
            for share in shares
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        failed = [p.exitcode for p in processes if p.exitcode != 0]
        if failed:
            raise ConfigError(
                f"{len(failed)} tuning worker(s) failed (exit codes {failed}): see their output above"
            )
    study = optuna.load_study(study_name=name, storage=storage)
    study.set_user_attr("n_trials", len(study.trials))
    report, json_path, summary = write_tuning_report(study, out_dir, pbo_splits=tune.pbo_splits)
    return TuneResult(name, storage, out_dir, report, json_path, summary)
