"""Materialize FeatureVectors: one BacktestNode replay per instrument, run in parallel processes.

Every instrument's features depend only on its own bars and alternative data, so the replay is
split per instrument (:func:`feature_build_jobs`) and the jobs go to
:func:`~nautilus_ai.backtest.runner.run_jobs`.
The per-instrument recordings are merged into one Parquet file (the FeatureRecorder's columns:
``ts_event``, ``ts_init``, ``instrument_id``, ``spec_hash``, features...) sorted by ``ts_init`` and
instrument, and optionally written into the catalog as ``FeatureVector`` data, idempotently
(:func:`~nautilus_ai.catalog.feature_store.write_feature_vectors`).

With ``batch=True`` the features are computed over each instrument's catalog bars and events at once
(:func:`~nautilus_ai.indicators.batch_features.batch_feature_frame`, no replay) into the same layout.
The events come from the catalog (:func:`catalog_event_frames`): the instrument's stored
``SentimentScore``s when the replay would feed them, else its ``NewsItem``s scored by the same
lexicon scorer as the replay's SentimentActor, the ``OnChainMetric``s of the spec's
on-chain instrument, and the instrument's trade ticks, quote ticks and order book deltas when the spec
needs them; a spec needing market events the catalog does not hold is refused.
"""

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from nautilus_trader.model.data import BarType, OrderBookDelta, QuoteTick, TradeTick
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from nautilus_ai.adapters.sentiment import SentimentConfig, make_scorer, score_news_items
from nautilus_ai.backtest.node_config import feature_replay_run, stored_sentiment_label
from nautilus_ai.backtest.runner import BacktestJob, BacktestJobResult, run_jobs
from nautilus_ai.catalog.atomic import write_parquet_atomic
from nautilus_ai.catalog.feature_store import write_feature_vectors
from nautilus_ai.catalog.sentiment_store import read_sentiment_scores
from nautilus_ai.catalog.types import FeatureVector, NewsItem, OnChainMetric
from nautilus_ai.config import ExperimentConfig
from nautilus_ai.errors import ConfigError
from nautilus_ai.indicators.batch_events import (
    EventFrames,
    book_depth_frame,
    onchain_to_frame,
    quotes_to_frame,
    sentiment_to_frame,
    trades_to_frame,
)
from nautilus_ai.indicators.batch_features import bars_to_frame, batch_feature_frame, event_inputs
from nautilus_ai.indicators.feature_spec import FeatureSpec
from nautilus_ai.learning.sentiment_actor import SentimentActorConfig

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


def _in_window(ts_init: int, start: str | None, end: str | None) -> bool:
    """Return whether ``ts_init`` lies in the build window (the bounds of :func:`catalog_bar_frame`)."""
    return (start is None or ts_init >= pd.Timestamp(start, tz="UTC").value) and (
        end is None or ts_init <= pd.Timestamp(end, tz="UTC").value
    )


def _sorted_in_window(items: list, start: str | None, end: str | None) -> list:
    """Return ``items`` in the window, stably sorted by ``ts_init`` (the engine's delivery order)."""
    return sorted((i for i in items if _in_window(i.ts_init, start, end)), key=lambda i: i.ts_init)


def catalog_event_frames(
    catalog: str,
    instrument_id: str,
    spec: FeatureSpec,
    start: str | None,
    end: str | None,
    sentiment_label: str | None = None,
) -> EventFrames:
    """Return the catalog events the spec's event features of ``instrument_id`` need, in the build window.

    Sentiment: the instrument's stored ``SentimentScore``s of the scorer ``sentiment_label`` when
    given (what the replay feeds when the catalog holds scores, see
    :func:`~nautilus_ai.backtest.node_config.stored_sentiment_label`), else its ``NewsItem``s scored
    by the SentimentActor's default lexicon scorer (one score per item, with the item's ``ts_init``),
    as the replay's SentimentActor publishes them.
    On-chain: the ``OnChainMetric``s of ``spec.onchain_instrument`` (the instrument's own when unset).
    Trades, quotes, books: the instrument's ``TradeTick``, ``QuoteTick`` and ``OrderBookDelta`` data.

    Raises
    ------
    ConfigError
        If the spec needs trades, quotes or order book deltas and the catalog holds none of the
        instrument's in the window.

    """
    store = ParquetDataCatalog(catalog)
    needs = event_inputs(spec)
    frames: dict[str, pd.DataFrame] = {}
    if "sentiment" in needs and sentiment_label is not None:
        stored = read_sentiment_scores(Path(catalog), [instrument_id], sentiment_label)
        stored = stored[[_in_window(int(t), start, end) for t in stored["ts_init"]]]
        frames["sentiment"] = stored[["ts_init", "score"]].sort_values("ts_init", kind="stable")
    elif "sentiment" in needs:
        items = [getattr(i, "data", i) for i in store.query(NewsItem, identifiers=[instrument_id])]
        items = [i for i in items if str(i.instrument_id) == instrument_id]
        defaults = SentimentActorConfig(instrument_ids=(instrument_id,))
        scorer = make_scorer(
            SentimentConfig.model_validate(
                {"kind": defaults.scorer_kind, "finance_weight": defaults.finance_weight}
            )
        )
        scored = score_news_items(scorer, _sorted_in_window(items, start, end))
        frames["sentiment"] = sentiment_to_frame(scored)
    if "onchain" in needs:
        source = spec.onchain_instrument or instrument_id
        metrics = [getattr(m, "data", m) for m in store.query(OnChainMetric)]
        metrics = [m for m in metrics if str(m.instrument_id) == source and m.metric in spec.onchain_metrics]
        frames["onchain"] = onchain_to_frame(_sorted_in_window(metrics, start, end))
    market = {"trades": TradeTick, "quotes": QuoteTick, "book": OrderBookDelta}
    for field, cls in market.items():
        if field not in needs:
            continue
        data = _sorted_in_window(store.query(cls, identifiers=[instrument_id]), start, end)
        if not data:
            raise ConfigError(
                f"batch features {', '.join(needs[field])} of {instrument_id} need {cls.__name__} data "
                f"in the catalog {catalog} between {start} and {end}, and it holds none: ingest them or "
                "drop those features from [features]"
            )
        if field == "trades":
            frames[field] = trades_to_frame(data)
        elif field == "quotes":
            frames[field] = quotes_to_frame(data)
        else:
            frames[field] = book_depth_frame(
                InstrumentId.from_str(instrument_id), data, spec.book_levels or 1
            )
    return EventFrames(**frames)


def batch_instrument_frame(
    catalog: str,
    instrument_id: str,
    bar_type: str,
    spec: FeatureSpec,
    start: str | None,
    end: str | None,
    sentiment_label: str | None = None,
) -> pd.DataFrame:
    """Return one instrument's batch features in the recorder's layout (``META_COLUMNS`` + features)."""
    bars = catalog_bar_frame(catalog, bar_type, start, end)
    events = catalog_event_frames(catalog, instrument_id, spec, start, end, sentiment_label)
    features = batch_feature_frame(bars, spec, events)
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

    With ``batch`` the features are computed from each instrument's catalog bars and events at once
    (:func:`~nautilus_ai.indicators.batch_features.batch_feature_frame`, events from
    :func:`catalog_event_frames`) instead of a replay: same rows, columns and values; ``workers`` and
    ``on_done`` are not used. A spec needing market events the catalog lacks raises
    :class:`~nautilus_ai.errors.ConfigError`.
    """
    catalog = str(Path(catalog).resolve())
    out_path = Path(out_path)
    if batch:
        spec = cfg.features.to_spec()
        label = stored_sentiment_label(cfg, catalog)  # the replay's choice: stored scores or NewsItems
        frames = [
            batch_instrument_frame(catalog, iid, bt, spec, cfg.data.start, cfg.data.end, label)
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
