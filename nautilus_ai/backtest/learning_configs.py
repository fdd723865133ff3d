"""ImportableActorConfig builders of the adaptive-learning actors (ExperienceActor, ModelUpdaterActor).

Add them to a run's actors after the SignalActors, for example::

    run = node_config.ml_run(cfg, catalog, ...)
    actors = [*run.engine.actors, *experience_actor_configs(cfg, buffer_dir, reference_path=...)]

or, from the experiment's ``[learning]`` section, :func:`adaptive_actor_configs` (what
:func:`nautilus_ai.live.paper.paper_node_config` adds when ``[learning] enabled``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from nautilus_trader.config import ImportableActorConfig

from nautilus_ai.config import ExperimentConfig

_EXPERIENCE_ACTOR = "nautilus_ai.learning.experience_actor"
_UPDATER_ACTOR = "nautilus_ai.learning.updater_actor"


def experience_buffer_path(buffer_dir: str | Path, instrument_id: str) -> Path:
    """Return the buffer file of one instrument: ``<buffer_dir>/experience-<instrument_id>.parquet``."""
    return Path(buffer_dir) / f"experience-{instrument_id}.parquet"


def experience_actor_config(
    instrument_id: str,
    bar_type: str,
    buffer_path: str | Path,
    *,
    horizon_bars: int = 1,
    capacity: int = 10_000,
    save_every_bars: int = 0,
    reference_path: str | Path | None = None,
    reference_start: str | None = None,
    reference_end: str | None = None,
    drift_every_bars: int = 20,
    drift_window: int = 60,
    drift: Mapping[str, float] | None = None,
    reference_hit_rate: float | None = None,
    reference_brier: float | None = None,
    reference_ece: float | None = None,
    cooldown_bars: int = 0,
    rebase_rows: int = 0,
    regime_names: list[str] | None = None,
) -> ImportableActorConfig:
    """Return the ExperienceActor of one instrument (fields as in ``ExperienceActorConfig``).

    Parameters
    ----------
    instrument_id : str
        The instrument.
    bar_type : str
        Its bar type (``"AAPL.XNAS-1-DAY-LAST-EXTERNAL"``).
    buffer_path : str or Path
        The experience buffer file.
    horizon_bars, capacity, save_every_bars, reference_path, reference_start, reference_end,
    drift_every_bars, drift_window, drift, reference_hit_rate, reference_brier, reference_ece, cooldown_bars,
    rebase_rows, regime_names
        See :class:`~nautilus_ai.learning.experience_actor.ExperienceActorConfig`.

    Returns
    -------
    ImportableActorConfig
        With component id ``ExperienceActor-<instrument_id>``.

    """
    return ImportableActorConfig(
        actor_path=f"{_EXPERIENCE_ACTOR}:ExperienceActor",
        config_path=f"{_EXPERIENCE_ACTOR}:ExperienceActorConfig",
        config={
            "component_id": f"ExperienceActor-{instrument_id}",
            "instrument_id": instrument_id,
            "bar_type": bar_type,
            "buffer_path": str(buffer_path),
            "capacity": capacity,
            "horizon_bars": horizon_bars,
            "save_every_bars": save_every_bars,
            "reference_path": None if reference_path is None else str(reference_path),
            "reference_start": reference_start,
            "reference_end": reference_end,
            "drift_every_bars": drift_every_bars,
            "drift_window": drift_window,
            "drift": None if drift is None else dict(drift),
            "reference_hit_rate": reference_hit_rate,
            "reference_brier": reference_brier,
            "reference_ece": reference_ece,
            "cooldown_bars": cooldown_bars,
            "rebase_rows": rebase_rows,
            "regime_names": regime_names,
        },
    )


def experience_actor_configs(
    cfg: ExperimentConfig,
    buffer_dir: str | Path,
    *,
    reference_path: str | Path | None = None,
    reference_start: str | None = None,
    reference_end: str | None = None,
    **options: object,
) -> list[ImportableActorConfig]:
    """Return one ExperienceActor per instrument of ``cfg``, with the experiment's label horizon.

    Parameters
    ----------
    cfg : ExperimentConfig
        The experiment (instruments, bar types, ``[label] horizon_bars``).
    buffer_dir : str or Path
        Folder of the buffers (:func:`experience_buffer_path`).
    reference_path : str or Path, optional
        The training features (a walk-forward's ``features.parquet``) for drift monitoring.
    reference_start, reference_end : str, optional
        The training window (ISO timestamps).
    **options : object
        Further :func:`experience_actor_config` keywords (``drift_every_bars``, ``drift``, ...).

    Returns
    -------
    list[ImportableActorConfig]
        One config per instrument.

    """
    return [
        experience_actor_config(
            iid,
            bt,
            experience_buffer_path(buffer_dir, iid),
            horizon_bars=cfg.label.horizon_bars,
            reference_path=reference_path,
            reference_start=reference_start,
            reference_end=reference_end,
            **options,  # type: ignore[arg-type]
        )
        for iid, bt in zip(cfg.data.instruments, cfg.data.bar_types(), strict=True)
    ]


def updater_actor_config(
    instrument_id: str,
    bar_type: str,
    *,
    registry_path: str | Path,
    model_version: str,
    buffer_path: str | Path,
    **options: object,
) -> ImportableActorConfig:
    """Return the ModelUpdaterActor of one instrument (fields as in ``ModelUpdaterActorConfig``).

    Parameters
    ----------
    instrument_id, bar_type : str
        The instrument and its bars.
    registry_path : str or Path
        The model registry.
    model_version : str
        The version served at start.
    buffer_path : str or Path
        The instrument's experience buffer (the ExperienceActor's ``buffer_path``).
    **options : object
        Further :class:`~nautilus_ai.learning.updater_actor.ModelUpdaterActorConfig` fields.

    Returns
    -------
    ImportableActorConfig
        With component id ``ModelUpdaterActor-<instrument_id>``.

    """
    return ImportableActorConfig(
        actor_path=f"{_UPDATER_ACTOR}:ModelUpdaterActor",
        config_path=f"{_UPDATER_ACTOR}:ModelUpdaterActorConfig",
        config={
            "component_id": f"ModelUpdaterActor-{instrument_id}",
            "instrument_id": instrument_id,
            "bar_type": bar_type,
            "registry_path": str(registry_path),
            "model_version": model_version,
            "buffer_path": str(buffer_path),
            **options,
        },
    )


def adaptive_actor_configs(
    cfg: ExperimentConfig,
    *,
    registry_path: str | Path,
    model_version: str,
    buffer_dir: str | Path | None = None,
    reference_path: str | Path | None = None,
) -> list[ImportableActorConfig]:
    """Return the ExperienceActors and ModelUpdaterActors of ``cfg``'s ``[learning]`` section.

    The drift reference is the served version's training window (its registry record's
    ``train_start``/``train_end``) in ``reference_path`` (default ``[learning] reference_features``);
    without one, only scheduled and operator triggers start updates.

    Parameters
    ----------
    cfg : ExperimentConfig
        The experiment.
    registry_path : str or Path
        The model registry.
    model_version : str
        The version the SignalActors serve.
    buffer_dir : str or Path, optional
        Overrides ``[learning] buffer_dir``.
    reference_path : str or Path, optional
        Overrides ``[learning] reference_features``.

    Returns
    -------
    list[ImportableActorConfig]
        Per instrument, the ExperienceActor then (with ``[learning] updater``) the ModelUpdaterActor;
        empty when ``[learning] enabled`` is false.

    Raises
    ------
    ConfigError
        If the reference file does not exist.

    """
    from nautilus_ai.errors import ConfigError
    from nautilus_ai.learning.registry import ModelRegistry

    learning = cfg.learning
    if not learning.enabled:
        return []
    buffers = Path(buffer_dir if buffer_dir is not None else learning.buffer_dir)
    reference = reference_path if reference_path is not None else learning.reference_features
    registry = ModelRegistry(registry_path)
    regime_names = [str(r) for r in getattr(registry.load(model_version), "regime_names", ())]
    start = end = None
    if reference is not None:
        if not Path(reference).is_file():
            raise ConfigError(f"[learning] reference_features {reference} does not exist")
        record = registry.get(model_version)
        start, end = record.train_start, record.train_end
    actors: list[ImportableActorConfig] = []
    for iid, bt in zip(cfg.data.instruments, cfg.data.bar_types(), strict=True):
        buffer_path = experience_buffer_path(buffers, iid)
        actors.append(
            experience_actor_config(
                iid,
                bt,
                buffer_path,
                horizon_bars=cfg.label.horizon_bars,
                capacity=learning.capacity,
                save_every_bars=learning.save_every_bars,
                reference_path=reference,
                reference_start=start,
                reference_end=end,
                drift_every_bars=learning.drift_every_bars,
                drift_window=learning.drift_window,
                drift=learning.drift or None,
                cooldown_bars=learning.cooldown_bars,
                rebase_rows=learning.rebase_rows,
                regime_names=regime_names or None,
            )
        )
        if learning.updater:
            actors.append(
                updater_actor_config(
                    iid,
                    bt,
                    registry_path=registry_path,
                    model_version=model_version,
                    buffer_path=buffer_path,
                    update=dict(learning.update),
                    retrain_every_bars=learning.retrain_every_bars,
                    apply_after_bars=learning.apply_after_bars,
                    worker=learning.worker,
                    horizon_bars=cfg.label.horizon_bars,
                    shadow_min_outcomes=learning.shadow_min_outcomes,
                    gate=learning.gate,
                    long_threshold=cfg.model.long_threshold,
                    short_threshold=cfg.model.short_threshold,
                )
            )
    return actors
