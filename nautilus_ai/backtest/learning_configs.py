"""ImportableActorConfig builders of the adaptive-learning actors (the ExperienceActor).

Add them to a run's actors after the SignalActors, for example::

    run = node_config.ml_run(cfg, catalog, ...)
    actors = [*run.engine.actors, *experience_actor_configs(cfg, buffer_dir, reference_path=...)]
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from nautilus_trader.config import ImportableActorConfig

from nautilus_ai.config import ExperimentConfig

_EXPERIENCE_ACTOR = "nautilus_ai.learning.experience_actor"


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
    drift_every_bars, drift_window, drift, reference_hit_rate, reference_brier, reference_ece, cooldown_bars
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
