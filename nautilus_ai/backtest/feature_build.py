"""Materialize FeatureVectors: one BacktestNode replay per instrument, run in parallel processes.

Every instrument's features depend only on its own bars and alternative data, so the replay is
split per instrument (:func:`feature_build_jobs`) and the jobs go to
:func:`~nautilus_ai.backtest.runner.run_jobs`.
The per-instrument recordings are merged into one Parquet file (the FeatureRecorder's columns:
``ts_event``, ``ts_init``, ``instrument_id``, ``spec_hash``, features...) sorted by ``ts_init`` and
instrument, and optionally written into the catalog as ``FeatureVector`` data, idempotently
(:func:`~nautilus_ai.catalog.feature_store.write_feature_vectors`).
"""

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.backtest.node_config import feature_replay_run
from nautilus_ai.backtest.runner import BacktestJob, BacktestJobResult, run_jobs
from nautilus_ai.catalog.atomic import write_parquet_atomic
from nautilus_ai.catalog.feature_store import write_feature_vectors
from nautilus_ai.catalog.types import FeatureVector
from nautilus_ai.config import ExperimentConfig

META_COLUMNS = ["ts_event", "ts_init", "instrument_id", "spec_hash"]


@dataclass
class FeatureBuildResult:
    """What :func:`build_features` produced."""

    out_path: Path
    rows: int
    rows_per_instrument: dict[str, int]
    written_to_catalog: int | None


def instrument_config(cfg: ExperimentConfig, instrument_id: str) -> ExperimentConfig:
    """Return ``cfg`` restricted to one instrument."""
    return cfg.model_copy(update={"data": cfg.data.model_copy(update={"instruments": [instrument_id]})})


def feature_build_jobs(cfg: ExperimentConfig, catalog: str, work_dir: Path) -> list[BacktestJob]:
    """Return one feature replay job per instrument, each recording to ``work_dir/<instrument>.parquet``."""
    return [
        BacktestJob(
            tag=iid,
            run_config=feature_replay_run(
                instrument_config(cfg, iid), catalog, str(work_dir / f"{iid}.parquet")
            ),
        )
        for iid in cfg.data.instruments
    ]


def merge_feature_files(paths: list[Path]) -> pd.DataFrame:
    """Return the recorded feature files as one frame sorted by ``ts_init`` and instrument."""
    frames = [pd.read_parquet(p) for p in paths]
    non_empty = [f for f in frames if not f.empty]
    if not non_empty:
        return frames[0] if frames else pd.DataFrame(columns=META_COLUMNS)
    names = list(non_empty[0].columns)
    for frame in non_empty[1:]:
        if list(frame.columns) != names:
            raise ValueError(f"feature files with different columns: {names} and {list(frame.columns)}")
    merged = pd.concat(non_empty, ignore_index=True)
    return merged.sort_values(["ts_init", "instrument_id"], kind="stable").reset_index(drop=True)


def frame_to_vectors(frame: pd.DataFrame) -> list[FeatureVector]:
    """Return the FeatureVectors of a recorded feature frame (the inverse of the recorder's frame)."""
    names = [c for c in frame.columns if c not in META_COLUMNS]
    values = frame[names].to_numpy(dtype="float64")
    ids: dict[str, InstrumentId] = {}
    vectors = []
    for i, (iid, spec_hash, ts_event, ts_init) in enumerate(
        zip(frame["instrument_id"], frame["spec_hash"], frame["ts_event"], frame["ts_init"], strict=True)
    ):
        instrument_id = ids.setdefault(str(iid), InstrumentId.from_str(str(iid)))
        vectors.append(
            FeatureVector.create(
                instrument_id, str(spec_hash), names, values[i].tolist(), int(ts_event), int(ts_init)
            )
        )
    return vectors


def build_features(
    cfg: ExperimentConfig,
    catalog: str | Path,
    out_path: Path,
    *,
    workers: int = 1,
    to_catalog: bool = False,
    on_done: Callable[[BacktestJobResult], None] | None = None,
) -> FeatureBuildResult:
    """Replay the catalog per instrument (``workers`` processes) and write the merged feature file.

    With ``to_catalog`` the vectors are also written into the catalog; time ranges already stored
    for an instrument are skipped, so building twice writes nothing the second time.
    """
    catalog = str(Path(catalog).resolve())
    out_path = Path(out_path)
    with tempfile.TemporaryDirectory(prefix="features-") as tmp:
        work_dir = Path(tmp)
        jobs = feature_build_jobs(cfg, catalog, work_dir)
        run_jobs(jobs, workers, on_done=on_done, runs_per_process=1)
        frame = merge_feature_files([work_dir / f"{iid}.parquet" for iid in cfg.data.instruments])
    write_parquet_atomic(frame, out_path)
    written = write_feature_vectors(catalog, frame_to_vectors(frame)) if to_catalog else None
    counts = frame["instrument_id"].value_counts() if not frame.empty else pd.Series(dtype=int)
    return FeatureBuildResult(
        out_path=out_path,
        rows=len(frame),
        rows_per_instrument={iid: int(counts.get(iid, 0)) for iid in cfg.data.instruments},
        written_to_catalog=written,
    )
