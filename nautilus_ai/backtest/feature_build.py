"""Materialize FeatureVectors: one BacktestNode replay per instrument, run in parallel processes.

Every instrument's features depend only on its own bars and alternative data, so the replay is
split per instrument (:func:`feature_build_jobs`) and the jobs go to
:func:`~nautilus_ai.backtest.runner.run_jobs`.
The per-instrument recordings are merged into one Parquet file (the FeatureRecorder's columns:
``ts_event``, ``ts_init``, ``instrument_id``, ``spec_hash``, features...) sorted by ``ts_init`` and
instrument, and optionally written into the catalog as ``FeatureVector`` data, idempotently
(:func:`~nautilus_ai.catalog.feature_store.write_feature_vectors`).

With ``batch=True`` the bar features are computed over each instrument's catalog bars at once
(:func:`~nautilus_ai.indicators.batch_features.batch_feature_frame`, no replay) into the same layout;
specs with event-driven features (ticks, books, alternative data) are refused there.
"""

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from nautilus_trader.model.data import BarType
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from nautilus_ai.backtest.node_config import feature_replay_run
from nautilus_ai.backtest.runner import BacktestJob, BacktestJobResult, run_jobs
from nautilus_ai.catalog.atomic import write_parquet_atomic
from nautilus_ai.catalog.feature_store import write_feature_vectors
from nautilus_ai.catalog.types import FeatureVector
from nautilus_ai.config import ExperimentConfig
from nautilus_ai.indicators.batch_features import bars_to_frame, batch_feature_frame, require_batch_spec
from nautilus_ai.indicators.feature_spec import FeatureSpec

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


def catalog_bar_frame(catalog: str, bar_type: str, start: str | None, end: str | None) -> pd.DataFrame:
    """Return the catalog's bars of ``bar_type`` as ``open, high, low, close, volume, ts_event, ts_init``.

    Indexed by ``ts_init`` (UTC), sorted; only bars with ``start <= ts_init <= end`` when given.
    """
    bars = ParquetDataCatalog(catalog).bars(bar_types=[str(BarType.from_str(bar_type))])
    frame = bars_to_frame(bars)
    frame = frame.sort_index(kind="stable")
    if start is not None:
        frame = frame[frame.index >= pd.Timestamp(start, tz="UTC")]
    if end is not None:
        frame = frame[frame.index <= pd.Timestamp(end, tz="UTC")]
    return frame


def batch_instrument_frame(
    catalog: str, instrument_id: str, bar_type: str, spec: FeatureSpec, start: str | None, end: str | None
) -> pd.DataFrame:
    """Return one instrument's batch features in the recorder's layout (``META_COLUMNS`` + features)."""
    bars = catalog_bar_frame(catalog, bar_type, start, end)
    features = batch_feature_frame(bars, spec)
    meta = bars.loc[features.index, ["ts_event", "ts_init"]]
    frame = pd.DataFrame(
        {
            "ts_event": meta["ts_event"].to_numpy(dtype="int64"),
            "ts_init": meta["ts_init"].to_numpy(dtype="int64"),
            "instrument_id": instrument_id,
            "spec_hash": spec.fingerprint(),
        }
    )
    for name in features.columns:
        frame[name] = features[name].to_numpy(dtype="float64")
    return frame


def build_features(
    cfg: ExperimentConfig,
    catalog: str | Path,
    out_path: Path,
    *,
    workers: int = 1,
    to_catalog: bool = False,
    on_done: Callable[[BacktestJobResult], None] | None = None,
    batch: bool = False,
) -> FeatureBuildResult:
    """Replay the catalog per instrument (``workers`` processes) and write the merged feature file.

    With ``to_catalog`` the vectors are also written into the catalog; time ranges already stored
    for an instrument are skipped, so building twice writes nothing the second time.

    With ``batch`` the bar features are computed from each instrument's catalog bars at once
    (:func:`~nautilus_ai.indicators.batch_features.batch_feature_frame`) instead of a replay: same
    rows, columns and values; ``workers`` and ``on_done`` are not used. A spec with event-driven
    features raises :class:`~nautilus_ai.errors.ConfigError`.
    """
    catalog = str(Path(catalog).resolve())
    out_path = Path(out_path)
    if batch:
        spec = cfg.features.to_spec()
        require_batch_spec(spec)
        frames = [
            batch_instrument_frame(catalog, iid, bt, spec, cfg.data.start, cfg.data.end)
            for iid, bt in zip(cfg.data.instruments, cfg.data.bar_types(), strict=True)
        ]
        non_empty = [f for f in frames if not f.empty]
        frame = (
            pd.concat(non_empty, ignore_index=True)
            .sort_values(["ts_init", "instrument_id"], kind="stable")
            .reset_index(drop=True)
            if non_empty
            else pd.DataFrame(columns=META_COLUMNS)
        )
    else:
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
