"""The model updater: a new version of a served model from recent experience plus a replay sample.

Pure functions over an :class:`~nautilus_ai.learning.experience.ExperienceBuffer` and a fitted
:class:`~nautilus_ai.learning.staged.StagedModel` (no NautilusTrader types):

* :func:`update_rows` picks the rows to learn from: the ``recent_window`` most recent resolved
  experiences and a ``replay_size`` sample of the older resolved ones (uniform or prioritized by
  the signal's error, with importance weights), labelled with the realized direction of the forward
  return. The newest ``holdout_fraction`` of the recent rows is kept out of the update.
* :func:`update_model` returns the updated model: stage 1 is refitted (LightGBM ``refit``: same
  trees, leaf values moved towards the new rows by ``1 - decay_rate``) or retrained (same class,
  parameters and seed) on the update rows; stage 2 (the torch sequence model) is fine-tuned from its
  current weights on the windows of the recent rows; the stage-3 meta-model is refitted on the
  held-out rows when they hold both classes (and their regime probabilities, for a meta-model with
  regime inputs), and kept otherwise.
  It also scores the old and the new model on the held-out rows (Brier score, hit rate).
* :func:`run_update` is the background job of the
  :class:`~nautilus_ai.learning.updater_actor.ModelUpdaterActor`: it loads the parent version and the
  saved buffer, updates, and registers the result as a ``candidate`` whose parent is the served
  version, with the update's parameters and hold-out metrics. It takes and returns plain data so
  it can run in another process.

A model with regimes needs experiences that kept the regime probabilities of their bars (an
ExperienceActor configured with the model's ``regime_names``): the sequence model's windows and the
meta-model's inputs are rebuilt from them; the regime model itself is not updated.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nautilus_ai.errors import ConfigError, DataError, ModelError
from nautilus_ai.learning.calibration import brier_score
from nautilus_ai.learning.experience import Experience, ExperienceBuffer
from nautilus_ai.learning.staged import StagedModel


class UpdateConfig(BaseModel):
    """How the updater builds a new version.

    Parameters
    ----------
    mode : {"refit", "retrain"}, default "refit"
        ``refit``: LightGBM leaf refit (other stage-1 kinds are retrained); ``retrain``: a fresh
        stage-1 model of the same class and parameters on the update rows.
    recent_window : int, default 250
        Most recent resolved experiences used.
    replay_size : int, default 250
        Older resolved experiences replayed (0: none).
    prioritized : bool, default True
        Replay by priority ``|label - probability|^alpha`` (with importance weights) instead of uniformly.
    alpha, beta : float
        Prioritization and importance-correction exponents.
    decay_rate : float, default 0.9
        LightGBM refit: weight of the old leaf values.
    finetune_epochs : int, default 5
        Stage-2 fine-tuning epochs (0: keep stage 2).
    finetune_lr : float, optional
        Stage-2 fine-tuning learning rate (default: a tenth of the model's).
    holdout_fraction : float, default 0.25
        Newest part of the recent rows kept out of the update (scores and the meta refit).
    min_rows : int, default 60
        Fewer update rows than this (or a single class) refuse the update.
    seed : int, default 0
        Seed of the replay draw.

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["refit", "retrain"] = "refit"
    recent_window: int = Field(default=250, ge=10)
    replay_size: int = Field(default=250, ge=0)
    prioritized: bool = True
    alpha: float = Field(default=0.6, ge=0.0)
    beta: float = Field(default=0.4, ge=0.0, le=1.0)
    decay_rate: float = Field(default=0.9, ge=0.0, le=1.0)
    finetune_epochs: int = Field(default=5, ge=0)
    finetune_lr: float | None = Field(default=None, gt=0.0)
    holdout_fraction: float = Field(default=0.25, gt=0.0, lt=1.0)
    min_rows: int = Field(default=60, ge=10)
    seed: int = 0


def parse_update_config(data: Mapping[str, Any] | None, source: str = "update") -> UpdateConfig:
    """Validate updater settings, naming the bad field.

    Raises
    ------
    ConfigError
        If a field is unknown or out of range.

    """
    try:
        return UpdateConfig.model_validate(dict(data or {}))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{source} is invalid: {problems}") from exc


@dataclasses.dataclass(frozen=True)
class UpdateRows:
    """The rows an update learns from, and the held-out rows it is scored on.

    Attributes
    ----------
    X, y, weights : np.ndarray
        Update rows (recent, then replayed), labels and weights (1 for recent rows, importance
        weights for replayed rows).
    recent : tuple[Experience, ...]
        The recent experiences used (oldest first), before the hold-out.
    holdout : tuple[Experience, ...]
        The newest recent experiences, kept out of the update.
    n_replay : int
        Replayed rows.
    history : tuple[Experience, ...]
        Every experience in time order up to the newest recent one (stage-2 windows look back into it).

    """

    X: np.ndarray
    y: np.ndarray
    weights: np.ndarray
    recent: tuple[Experience, ...]
    holdout: tuple[Experience, ...]
    n_replay: int
    history: tuple[Experience, ...]


@dataclasses.dataclass(frozen=True)
class UpdateResult:
    """An updated model and what the update did.

    Attributes
    ----------
    model : StagedModel
        The new model.
    metrics : dict
        Hold-out scores of the old and new model (``holdout_brier_old``, ``holdout_brier``,
        ``holdout_hit_rate_old``, ``holdout_hit_rate``, ``holdout_rows``) and row counts.
    stages : dict
        What happened to each stage (``refit``, ``retrain``, ``fine_tune``, ``kept: <why>``).
    train_start, train_end : str
        ISO times of the oldest and newest update row.

    """

    model: StagedModel
    metrics: dict[str, float | int]
    stages: dict[str, str]
    train_start: str
    train_end: str


def update_rows(buffer: ExperienceBuffer, config: UpdateConfig) -> UpdateRows:
    """Select the recent window, the hold-out and the replay sample of a buffer.

    Parameters
    ----------
    buffer : ExperienceBuffer
        The experiences (resolved ones are used).
    config : UpdateConfig
        Window sizes, sampling and seed.

    Returns
    -------
    UpdateRows
        The rows.

    Raises
    ------
    DataError
        If fewer than ``min_rows`` update rows are resolved or they hold a single class.

    """
    ordered = sorted(buffer, key=lambda e: e.ts_event)
    resolved = [e for e in ordered if e.resolved]
    recent_all = resolved[-config.recent_window :]
    n_hold = max(1, round(len(recent_all) * config.holdout_fraction))
    recent, holdout = recent_all[:-n_hold], recent_all[-n_hold:]
    n_older = len(resolved) - len(recent_all)
    replay: list[Experience] = []
    replay_weights = np.empty(0)
    if config.replay_size > 0 and n_older > 0:
        sample = buffer.sample(
            config.replay_size,
            seed=config.seed,
            prioritized=config.prioritized,
            alpha=config.alpha,
            beta=config.beta,
            before_ts=recent_all[0].ts_event,
        )
        replay = list(sample.experiences)
        replay_weights = np.asarray(sample.weights, dtype=np.float64)
    rows = [*recent, *replay]
    if len(rows) < config.min_rows:
        raise DataError(
            f"the experience buffer has {len(recent)} recent and {len(replay)} replayed resolved "
            f"experiences: an update needs at least min_rows={config.min_rows}",
            field="experience buffer",
        )
    y = np.array([e.label for e in rows], dtype=np.int64)
    if np.unique(y).size < 2:
        raise DataError(
            f"the {len(rows)} update rows all have label {int(y[0])}: an update needs up and down outcomes",
            field="experience buffer",
        )
    X = np.vstack([e.features for e in rows])  # noqa: N806 (scikit-learn convention)
    weights = np.concatenate([np.ones(len(recent)), replay_weights])
    newest = recent_all[-1].ts_event
    history = tuple(e for e in ordered if e.ts_event <= newest)
    return UpdateRows(X, y, weights, tuple(recent), tuple(holdout), len(replay), history)


def _rows_matrix(experiences: tuple[Experience, ...], with_regime: bool) -> np.ndarray:
    """Features (followed by the regime probabilities when asked) of experiences, one row each."""
    features = np.vstack([e.features for e in experiences])
    if not with_regime:
        return features
    regimes = np.vstack([e.regime for e in experiences if e.regime is not None])
    return np.hstack([features, regimes])


def _windows(
    history: tuple[Experience, ...], wanted: tuple[Experience, ...], window: int, with_regime: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Stage-2 windows (float64) ending at each wanted experience, and their validity mask."""
    from nautilus_ai.learning.sequence import make_sequences

    sequences, valid = make_sequences(_rows_matrix(history, with_regime), window, dtype=np.float64)
    position = {e.ts_event: i for i, e in enumerate(history)}
    idx = np.array([position[e.ts_event] for e in wanted], dtype=np.int64)
    return sequences[idx], valid[idx]


def _stage1(model: StagedModel, rows: UpdateRows, config: UpdateConfig) -> tuple[Any, str]:
    stage1 = model.stage1
    if config.mode == "refit" and hasattr(stage1, "refit"):
        return stage1.refit(rows.X, rows.y, decay_rate=config.decay_rate, sample_weight=rows.weights), "refit"
    clone = type(stage1)(params=stage1.params, seed=stage1.seed)
    fitted = clone.fit(rows.X, rows.y, stage1.feature_names_, stage1.spec_hash_, sample_weight=rows.weights)
    return fitted, "retrain"


def _stage2(model: StagedModel, rows: UpdateRows, config: UpdateConfig) -> tuple[Any, str]:
    stage2 = model.stage2
    if stage2 is None:
        return None, "none"
    if config.finetune_epochs == 0:
        return stage2, "kept: finetune_epochs = 0"
    with_regime = bool(model.regime_names)
    sequences, valid = _windows(rows.history, rows.recent, model.window, with_regime)
    if with_regime:  # bars whose RegimeLabel was missing cannot be trained on
        valid &= np.isfinite(sequences[:, :, len(model.feature_names_) :]).all(axis=(1, 2))
    y = np.array([e.label for e in rows.recent], dtype=np.int64)[valid]
    try:
        tuned = stage2.fine_tune(sequences[valid], y, epochs=config.finetune_epochs, lr=config.finetune_lr)
    except ModelError as exc:
        return stage2, f"kept: {exc}"
    return tuned, "fine_tune"


def _stage_probabilities(
    stage1: Any, stage2: Any, model: StagedModel, rows: UpdateRows, wanted: tuple[Experience, ...]
) -> tuple[np.ndarray, np.ndarray | None]:
    X = np.vstack([e.features for e in wanted])  # noqa: N806 (scikit-learn convention)
    p1 = stage1.predict_proba(X)
    if stage2 is None:
        return p1, None
    sequences, valid = _windows(rows.history, wanted, model.window, bool(model.regime_names))
    p2 = np.full(len(wanted), np.nan)
    if valid.any():
        p2[valid] = stage2.predict_proba(sequences[valid])
    return p1, p2


def _meta(model: StagedModel, stage1: Any, stage2: Any, rows: UpdateRows) -> tuple[Any, str]:
    meta = model.meta
    if meta is None:
        return None, "none"
    reg = None
    if meta.config.regime_names:
        reg = np.vstack([e.regime for e in rows.holdout if e.regime is not None])
        if not np.isfinite(reg).all():
            return meta, "kept: some held-out experiences lack their regime probabilities"
    y = np.array([e.label for e in rows.holdout], dtype=np.int64)
    if len(y) < 30 or np.unique(y).size < 2:
        return meta, f"kept: {len(y)} held-out rows ({int(y.sum())} up) are too few to refit it"
    from nautilus_ai.learning.meta import MetaModel

    p1, p2 = _stage_probabilities(stage1, stage2, model, rows, rows.holdout)
    try:
        refitted = MetaModel(meta.config).fit(p1, y, p2=p2 if meta.config.use_p2 else None, regime_probs=reg)
        return refitted, "refit"
    except (ModelError, DataError, ValueError) as exc:
        return meta, f"kept: {exc}"


def _holdout_scores(model: StagedModel, rows: UpdateRows) -> tuple[float, float]:
    """Brier score and hit rate of a model replayed over the history, on the held-out rows."""
    regime = _rows_matrix(rows.history, True)[:, len(model.feature_names_) :] if model.regime_names else None
    predicted = model.predict_frame(np.vstack([e.features for e in rows.history]), regime=regime)
    by_ts = dict(zip([e.ts_event for e in rows.history], range(len(rows.history)), strict=True))
    idx = np.array([by_ts[e.ts_event] for e in rows.holdout])
    probability = np.asarray(predicted["probability"], dtype=np.float64)[idx]
    direction = np.asarray(predicted["direction"], dtype=np.int64)[idx]
    labels = np.array([e.label for e in rows.holdout], dtype=np.float64)
    returns = np.array([e.outcome.forward_return for e in rows.holdout if e.outcome is not None])
    ok = np.isfinite(probability)
    brier = brier_score(labels[ok], probability[ok]) if ok.any() else math.nan
    active = direction != 0
    hit = float(np.mean(np.sign(returns[active]) == direction[active])) if active.any() else math.nan
    return float(brier), hit


def update_model(model: StagedModel, buffer: ExperienceBuffer, config: UpdateConfig) -> UpdateResult:
    """Return a new version of ``model`` learned from the buffer's recent and replayed experiences.

    Parameters
    ----------
    model : StagedModel
        The served model (not changed).
    buffer : ExperienceBuffer
        The experiences; their features must be the model's.
    config : UpdateConfig
        The update settings.

    Returns
    -------
    UpdateResult
        The new model, hold-out scores of old and new, and what happened to each stage.

    Raises
    ------
    ModelError
        If the buffer's features are not the model's.
    DataError
        If there are too few resolved experiences (see :func:`update_rows`).

    """
    if tuple(buffer.feature_names) != tuple(model.feature_names_):
        raise ModelError(
            f"the experience buffer's features {list(buffer.feature_names)} are not the model's "
            f"{list(model.feature_names_)}"
        )
    if tuple(buffer.regime_names) != tuple(model.regime_names):
        raise ModelError(
            f"the experience buffer keeps regimes {list(buffer.regime_names)} but the model reads "
            f"{list(model.regime_names)}: configure the ExperienceActor with the model's regime_names"
        )
    rows = update_rows(buffer, config)
    stage1, how1 = _stage1(model, rows, config)
    stage2, how2 = _stage2(model, rows, config)
    meta, how3 = _meta(model, stage1, stage2, rows)
    new = StagedModel(
        stage1,
        stage2,
        meta,
        regime_names=model.regime_names,
        window=model.window,
        filter_margin=model.filter_margin,
        long_threshold=model.long_threshold,
        short_threshold=model.short_threshold,
        top_k=model.top_k,
        background=model.background,
    )
    old_brier, old_hit = _holdout_scores(model, rows)
    new_brier, new_hit = _holdout_scores(new, rows)
    used = [*rows.recent]
    times = sorted(e.ts_event for e in used)
    metrics: dict[str, float | int] = {
        "update_recent_rows": len(rows.recent),
        "update_replay_rows": rows.n_replay,
        "holdout_rows": len(rows.holdout),
        "holdout_brier_old": old_brier,
        "holdout_brier": new_brier,
        "holdout_hit_rate_old": old_hit,
        "holdout_hit_rate": new_hit,
    }
    return UpdateResult(
        model=new,
        metrics={k: v for k, v in metrics.items() if not (isinstance(v, float) and math.isnan(v))},
        stages={"stage1": how1, "stage2": how2, "stage3": how3},
        train_start=pd.Timestamp(times[0], tz="UTC").isoformat(),
        train_end=pd.Timestamp(times[-1], tz="UTC").isoformat(),
    )


@dataclasses.dataclass(frozen=True)
class UpdateJob:
    """What the background worker needs (plain data, picklable).

    Attributes
    ----------
    registry_path : str
        The model registry.
    parent_version : str
        The served version the update starts from.
    buffer_path : str
        The saved experience buffer.
    config : dict
        :class:`UpdateConfig` fields.
    reason : str
        Why (the retrain trigger's reason), recorded with the new version.
    index_url : str, optional
        The registry's PostgreSQL index (SQLite in the registry folder when None).

    """

    registry_path: str
    parent_version: str
    buffer_path: str
    config: dict[str, Any]
    reason: str
    index_url: str | None = None


@dataclasses.dataclass(frozen=True)
class UpdateOutcome:
    """The background job's answer.

    Attributes
    ----------
    version_id : str or None
        The registered candidate (None when the update failed).
    parent_version : str
        The version it derives from.
    metrics : dict
        Its hold-out metrics (see :class:`UpdateResult`).
    stages : dict
        What happened to each stage.
    error : str or None
        Why the update failed (nothing was registered).

    """

    version_id: str | None
    parent_version: str
    metrics: dict[str, float | int]
    stages: dict[str, str]
    error: str | None = None


def run_update(job: UpdateJob) -> UpdateOutcome:
    """Load the parent model and the buffer, update, and register the candidate (the worker's job).

    Failures (too few experiences, unreadable buffer, a model the updater cannot handle) are returned
    as ``UpdateOutcome.error``; nothing is registered then and no existing version changes.

    Parameters
    ----------
    job : UpdateJob
        The job.

    Returns
    -------
    UpdateOutcome
        The candidate's version id and metrics, or the error.

    """
    from nautilus_ai.learning.registry import ModelRegistry

    try:
        config = parse_update_config(job.config, "UpdateJob.config")
        registry = ModelRegistry(job.registry_path, index_url=job.index_url)
        parent = registry.get(job.parent_version)
        loaded = registry.load(job.parent_version)
        model = loaded if isinstance(loaded, StagedModel) else StagedModel(loaded)
        path = Path(job.buffer_path)
        if not path.is_file():
            raise DataError(
                "no saved experience buffer: the ExperienceActor has not written one", file=str(path)
            )
        buffer = ExperienceBuffer.load(path)
        result = update_model(model, buffer, config)
        version_id = registry.register(
            result.model,
            name=parent.name,
            train_start=result.train_start,
            train_end=result.train_end,
            seed=parent.seed,
            params={
                **parent.params,
                "update": {**config.model_dump(), "stages": result.stages, "reason": job.reason},
            },
            metrics=result.metrics,
            parent=parent.version_id,
        )
    except (ConfigError, DataError, ModelError) as exc:
        return UpdateOutcome(None, job.parent_version, {}, {}, error=str(exc))
    return UpdateOutcome(version_id, job.parent_version, result.metrics, result.stages)
