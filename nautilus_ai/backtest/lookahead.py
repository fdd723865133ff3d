"""Look-ahead detection: rerun the pipeline on data cut at seeded points and diff the past.

A computation that peeks ahead changes its past values when the future is removed. The check
(freqtrade's look-ahead analysis, STYLE rule 3, applied to whole runs rather than single features):

1. Draw ``cuts`` bar times with a seeded generator (:func:`choose_cuts`).
2. For every cut, build a copy of the catalog truncated at the cut (:func:`truncate_catalog`: every
   stored row with ``ts_init`` after the cut is dropped, so even a component reading the catalog by
   itself cannot see the future) and rerun, with ``end=`` the cut as well:

   * ``features``: the FeatureActor replay (:func:`~nautilus_ai.backtest.node_config.feature_replay_run`);
   * ``batch``: the batch twins of ``features build --batch``
     (:func:`~nautilus_ai.backtest.feature_build.batch_instrument_frame`), where a centred rolling
     window or a ``shift(-1)`` is the typical leak;
   * ``regimes``, ``signals`` and ``decisions``: one staged model is trained on the early part of
     the full data (the walk-forward helpers :func:`~nautilus_ai.backtest.walkforward.training_frame`,
     :func:`~nautilus_ai.backtest.walkforward.fold_rows`,
     :func:`~nautilus_ai.learning.train_staged.fit_staged` and the model registry), then the whole
     chain (:func:`~nautilus_ai.backtest.node_config.ml_run`) runs on the test window and on the
     test window cut at each point; the recorded ``RegimeLabel`` probabilities (with ``[regime]``
     on), ``ModelSignal`` s (probability, confidence, direction), fills and risk decisions are
     compared.

3. Compare every value of the truncated run with the full run's value at the same instrument and
   time (:func:`diff_frames`; ``rtol`` relative tolerance, two NaNs are equal, a row present on one
   side only is a difference of the pseudo-column ``__row__``). Features, regimes and signals are
   compared up to and including the cut bar (a one-bar look-ahead shows there); fills and risk
   decisions strictly before it, because the strategy closes its position when the truncated run
   stops.

:func:`run_lookahead` writes ``lookahead.json`` (summary per stage and column: first differing
time, largest absolute difference, number of differing rows) and ``lookahead_differences.parquet``
(every differing value) under the output folder.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from nautilus_trader.backtest.config import BacktestRunConfig
from pydantic import BaseModel, ConfigDict, Field

from nautilus_ai.backtest import node_config
from nautilus_ai.backtest.feature_build import META_COLUMNS, batch_instrument_frame
from nautilus_ai.backtest.folds import Fold
from nautilus_ai.backtest.runner import BacktestJob, BacktestJobResult, run_backtest_job, run_jobs
from nautilus_ai.backtest.walkforward import (
    load_closes,
    train_fold,
    training_frame,
    warmup_start,
)
from nautilus_ai.catalog.atomic import atomic_write_text, write_parquet_atomic
from nautilus_ai.config import ExperimentConfig
from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.learning.registry import ModelRegistry

Progress = Callable[[str, int, int], None]

STAGES = ("features", "batch", "regimes", "signals", "decisions")
"""The compared outputs, in report order."""

ROW_COLUMN = "__row__"
"""Pseudo-column of a row that exists in one run only (value 1 where present, 0 where absent)."""

DIFFERENCE_COLUMNS = ["stage", "cut", "instrument_id", "ts", "column", "full", "truncated", "abs_diff"]

SIGNAL_COLUMNS = ("probability", "confidence", "direction")
"""The ModelSignal fields compared."""

_FEATURE_ACTOR_PATH = "nautilus_ai.indicators.feature_actor:FeatureActor"
_CATALOG_PLACEHOLDER = "{catalog}"


class LookaheadSettings(BaseModel):
    """What the look-ahead check runs and how strictly it compares.

    Parameters
    ----------
    cuts : int
        Number of cut points (drawn without replacement among the eligible bars).
    seed : int, optional
        Seed of the cut points; the experiment's ``seed`` when omitted.
    rtol : float
        Relative tolerance of a value comparison (``|a - b| <= atol + rtol * |a|``).
    atol : float
        Absolute tolerance of a value comparison.
    replay : bool
        Check the FeatureActor replay.
    batch : bool
        Check the batch twins (``features build --batch``).
    signals : bool
        Train a model once and check the ModelSignals, fills and risk decisions of the ML chain.
    workers : int
        Backtest processes; 1 runs every backtest in this process, one after the other.
    feature_actor_path : str, optional
        ``module:Class`` replacing the FeatureActor in every run (to check a custom subclass).
    feature_actor_config_path : str, optional
        ``module:Class`` of the replacement's config (the FeatureActorConfig when omitted).
    feature_actor_options : dict[str, Any]
        Extra config fields of the replacement; the text ``{catalog}`` in a string value becomes the
        run's catalog (the truncated copy in a truncated run).

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    cuts: int = Field(default=2, ge=1, description="Number of cut points")
    seed: int | None = Field(
        default=None, description="Seed of the cut points (default: the experiment's seed)"
    )
    rtol: float = Field(default=1e-9, ge=0.0, description="Relative tolerance of a value comparison")
    atol: float = Field(default=0.0, ge=0.0, description="Absolute tolerance of a value comparison")
    replay: bool = Field(default=True, description="Check the FeatureActor replay")
    batch: bool = Field(default=True, description="Check the batch twins")
    signals: bool = Field(default=True, description="Check the ModelSignals, fills and risk decisions")
    workers: int = Field(default=1, ge=1, description="Backtest processes (1: in this process)")
    feature_actor_path: str | None = Field(
        default=None, description="module:Class replacing the FeatureActor"
    )
    feature_actor_config_path: str | None = Field(default=None, description="module:Class of its config")
    feature_actor_options: dict[str, Any] = Field(default_factory=dict, description="Extra config fields")


@dataclass(frozen=True)
class LeakSummary:
    """The differences of one compared column: where they start and how large they are."""

    stage: str
    column: str
    first_ts: pd.Timestamp
    first_instrument: str
    max_abs_diff: float
    rows: int
    cuts: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-ready values (an infinite difference is the text ``"inf"``)."""
        return {
            "stage": self.stage,
            "column": self.column,
            "first_ts": self.first_ts.isoformat(),
            "first_instrument": self.first_instrument,
            "max_abs_diff": _json_float(self.max_abs_diff),
            "rows": self.rows,
            "cuts": list(self.cuts),
        }


@dataclass
class LookaheadResult:
    """What :func:`run_lookahead` compared and found."""

    cuts: list[pd.Timestamp]
    differences: pd.DataFrame
    leaks: list[LeakSummary]
    compared: dict[str, int]
    json_path: Path | None = None
    differences_path: Path | None = None
    train_window: tuple[str, str] | None = None
    test_window: tuple[str, str] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Whether no compared value changed when the future was removed."""
        return not self.leaks

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready values."""
        return {
            "clean": self.clean,
            "cuts": [c.isoformat() for c in self.cuts],
            "compared": self.compared,
            "leaks": [leak.as_dict() for leak in self.leaks],
            "train_window": list(self.train_window) if self.train_window else None,
            "test_window": list(self.test_window) if self.test_window else None,
            "differences_path": str(self.differences_path) if self.differences_path else None,
            "notes": self.notes,
        }


# ------------------------------------------------------------------------------------------ pure parts
def differing_values(full: np.ndarray, truncated: np.ndarray, rtol: float, atol: float = 0.0) -> np.ndarray:
    """Return where two float arrays differ: beyond ``atol + rtol * |full|``, or NaN on one side only.

    Two NaNs are equal; two equal infinities are equal.
    """
    a = np.asarray(full, dtype=np.float64)
    b = np.asarray(truncated, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        close = np.isclose(b, a, rtol=rtol, atol=atol, equal_nan=True)
    return ~(close | (a == b))


def absolute_differences(full: np.ndarray, truncated: np.ndarray) -> np.ndarray:
    """Return ``|full - truncated|``, infinite where exactly one side is NaN, 0 where both are."""
    a = np.asarray(full, dtype=np.float64)
    b = np.asarray(truncated, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        out = np.abs(a - b)
    out[np.isnan(a) != np.isnan(b)] = np.inf
    out[np.isnan(a) & np.isnan(b)] = 0.0
    out[a == b] = 0.0
    return out


def choose_cuts(
    bar_times: pd.DatetimeIndex,
    n: int,
    seed: int,
    earliest: pd.Timestamp,
    latest: pd.Timestamp | None = None,
) -> list[pd.Timestamp]:
    """Return ``n`` seeded cut times among the bars after ``earliest`` and before ``latest``.

    ``latest`` defaults to the last bar (a cut needs at least one bar after it).

    Raises
    ------
    ConfigError
        If fewer than ``n`` bars are eligible.

    """
    times = pd.DatetimeIndex(bar_times).sort_values().unique()
    if len(times) == 0:
        raise ConfigError("no bars to cut: the catalog holds no bars in [data] start/end")
    latest = times[-1] if latest is None else min(pd.Timestamp(latest), times[-1])
    eligible = times[(times > earliest) & (times < latest)]
    if len(eligible) < n:
        raise ConfigError(
            f"only {len(eligible)} bars lie between {earliest} and {latest} to cut at, {n} cuts "
            "asked: lower --cuts, widen [data] start/end or shorten [walkforward] train"
        )
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(eligible), size=n, replace=False)
    return sorted(eligible[int(i)] for i in chosen)


def diff_frames(
    full: pd.DataFrame,
    truncated: pd.DataFrame,
    *,
    stage: str,
    cut: pd.Timestamp,
    inclusive: bool = True,
    rtol: float = 1e-9,
    atol: float = 0.0,
) -> pd.DataFrame:
    """Return every value of ``truncated`` that differs from ``full`` at the same instrument and time.

    Parameters
    ----------
    full, truncated : pd.DataFrame
        Columns ``instrument_id``, ``ts`` (UTC) and numeric value columns; one row per key.
    stage : str
        Label of the compared output (the ``stage`` column of the result).
    cut : pd.Timestamp
        Only rows at ``ts <= cut`` (``ts < cut`` when not ``inclusive``) are compared.
    inclusive : bool
        Whether the cut bar itself is compared.
    rtol, atol : float
        Tolerances of :func:`differing_values`.

    Returns
    -------
    pd.DataFrame
        :data:`DIFFERENCE_COLUMNS`, one row per differing (instrument, time, column); a row present
        on one side only gives one row of column :data:`ROW_COLUMN`. A column missing on one side
        counts as NaN there.

    """
    keys = ["instrument_id", "ts"]
    sides = []
    for frame in (full, truncated):
        missing = [k for k in keys if k not in frame.columns]
        if missing:
            raise ValueError(f"diff_frames needs columns {keys}; missing {missing}")
        ts = pd.to_datetime(frame["ts"], utc=True)
        kept = frame[(ts <= cut) if inclusive else (ts < cut)].copy()
        kept["ts"] = pd.to_datetime(kept["ts"], utc=True)
        kept["instrument_id"] = kept["instrument_id"].astype(str)
        duplicated = kept.duplicated(keys)
        if duplicated.any():
            raise ValueError(f"diff_frames: {stage} has several rows per instrument and time")
        sides.append(kept.set_index(keys))
    left, right = sides
    columns = list(dict.fromkeys([*left.columns, *right.columns]))
    index = left.index.union(right.index)
    parts: list[pd.DataFrame] = []
    present_full = index.isin(left.index)
    present_truncated = index.isin(right.index)
    only_one = present_full != present_truncated
    if only_one.any():
        parts.append(
            _difference_rows(
                stage,
                cut,
                index[only_one],
                ROW_COLUMN,
                present_full[only_one].astype(float),
                present_truncated[only_one].astype(float),
            )
        )
    both = index[present_full & present_truncated]
    left, right = left.reindex(both), right.reindex(both)
    for column in columns:
        a = _as_float(left[column]) if column in left.columns else np.full(len(both), np.nan)
        b = _as_float(right[column]) if column in right.columns else np.full(len(both), np.nan)
        differs = differing_values(a, b, rtol, atol)
        if differs.any():
            parts.append(_difference_rows(stage, cut, both[differs], column, a[differs], b[differs]))
    if not parts:
        return empty_differences()
    return pd.concat(parts, ignore_index=True)


def empty_differences() -> pd.DataFrame:
    """Return an empty differences table with the :data:`DIFFERENCE_COLUMNS`."""
    return pd.DataFrame(
        {
            "stage": pd.Series([], dtype=object),
            "cut": pd.Series([], dtype="datetime64[ns, UTC]"),
            "instrument_id": pd.Series([], dtype=object),
            "ts": pd.Series([], dtype="datetime64[ns, UTC]"),
            "column": pd.Series([], dtype=object),
            "full": pd.Series([], dtype=float),
            "truncated": pd.Series([], dtype=float),
            "abs_diff": pd.Series([], dtype=float),
        }
    )


def summarize_differences(differences: pd.DataFrame) -> list[LeakSummary]:
    """Return one :class:`LeakSummary` per (stage, column), in :data:`STAGES` order then by first time.

    ``rows`` counts the distinct (instrument, time) rows that differ, over all cuts.
    """
    summaries = []
    for (stage, column), rows in differences.groupby(["stage", "column"], sort=False):
        rows = rows.sort_values(["ts", "instrument_id"], kind="stable")
        first = rows.iloc[0]
        summaries.append(
            LeakSummary(
                stage=str(stage),
                column=str(column),
                first_ts=pd.Timestamp(first["ts"]),
                first_instrument=str(first["instrument_id"]),
                max_abs_diff=float(rows["abs_diff"].max()),
                rows=int(rows[["instrument_id", "ts"]].drop_duplicates().shape[0]),
                cuts=tuple(sorted({pd.Timestamp(c).isoformat() for c in rows["cut"]})),
            )
        )
    order = {s: i for i, s in enumerate(STAGES)}
    return sorted(summaries, key=lambda s: (order.get(s.stage, len(order)), s.first_ts, s.column))


def truncate_catalog(source: Path, destination: Path, cut: pd.Timestamp) -> Path:
    """Copy the catalog ``source`` to ``destination`` without any row stamped after ``cut``.

    Every Parquet file with a ``ts_init`` column keeps its rows at ``ts_init <= cut`` and is renamed
    to its new time range (``<first>_<last>.parquet``, the catalog's naming); a file left empty is
    dropped. Other files (instruments without ``ts_init``, manifests) are copied unchanged.

    Returns
    -------
    Path
        ``destination``.

    """
    source, destination = Path(source), Path(destination)
    if not source.is_dir():
        raise ConfigError(f"catalog {source} does not exist: run `nautilus-ai catalog ingest` first")
    limit = pd.Timestamp(cut).value
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        target = destination / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix != ".parquet" or "ts_init" not in pq.read_schema(path).names:
            shutil.copy2(path, target)
            continue
        table = pq.read_table(path)
        ts = table.column("ts_init").to_numpy().astype(np.int64)
        keep = ts <= limit
        if keep.all():
            shutil.copy2(path, target)
            continue
        if not keep.any():
            continue
        kept = table.filter(keep)
        name = path.name
        if _CATALOG_FILE.fullmatch(path.name):
            name = f"{_catalog_stamp(int(ts[keep].min()))}_{_catalog_stamp(int(ts[keep].max()))}.parquet"
        pq.write_table(kept, target.parent / name)
    return destination


_CATALOG_FILE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{9}Z_\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{9}Z\.parquet"
)


def _catalog_stamp(ns: int) -> str:
    ts = pd.Timestamp(ns, unit="ns", tz="UTC")
    return f"{ts:%Y-%m-%dT%H-%M-%S}-{ns % 1_000_000_000:09d}Z"


def _as_float(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _difference_rows(
    stage: str, cut: pd.Timestamp, index: pd.Index, column: str, full: np.ndarray, truncated: np.ndarray
) -> pd.DataFrame:
    keys = index.to_frame(index=False)
    return pd.DataFrame(
        {
            "stage": stage,
            "cut": pd.Timestamp(cut),
            "instrument_id": keys["instrument_id"].astype(str).to_numpy(),
            "ts": pd.to_datetime(keys["ts"], utc=True).to_numpy(),
            "column": column,
            "full": full,
            "truncated": truncated,
            "abs_diff": absolute_differences(full, truncated),
        }
    ).astype({"ts": "datetime64[ns, UTC]"})


def _json_float(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


# ------------------------------------------------------------------------------------------ the runs
def recorded_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a FeatureRecorder / batch frame as ``instrument_id``, ``ts`` and the feature columns."""
    out = frame.drop(columns=[c for c in META_COLUMNS if c not in ("instrument_id",)])
    out.insert(0, "ts", pd.to_datetime(frame["ts_init"].astype("int64"), unit="ns", utc=True))
    out["instrument_id"] = frame["instrument_id"].astype(str)
    return out


def signal_frame(events_dir: Path) -> pd.DataFrame:
    """Return the recorded ModelSignals as ``instrument_id``, ``ts`` and :data:`SIGNAL_COLUMNS`."""
    path = events_dir / "ModelSignal.parquet"
    frame = pd.read_parquet(path) if path.exists() else pd.DataFrame()
    if frame.empty:
        return pd.DataFrame(columns=["instrument_id", "ts", *SIGNAL_COLUMNS])
    out = frame[["instrument_id", "ts", *SIGNAL_COLUMNS]].copy()
    out["instrument_id"] = out["instrument_id"].astype(str)
    return out


def regime_frame(events_dir: Path) -> pd.DataFrame:
    """Return the recorded RegimeLabels as ``instrument_id``, ``ts`` and ``probability:<regime>`` columns."""
    path = events_dir / "RegimeLabel.parquet"
    frame = pd.read_parquet(path) if path.exists() else pd.DataFrame()
    if frame.empty:
        return pd.DataFrame(columns=["instrument_id", "ts"])
    probabilities = pd.DataFrame(
        [json.loads(p) if isinstance(p, str) else dict(p or {}) for p in frame["probabilities"]],
        index=frame.index,
    ).add_prefix("probability:")
    out = frame[["instrument_id", "ts"]].assign(instrument_id=frame["instrument_id"].astype(str))
    return pd.concat([out, probabilities.astype(float)], axis=1)


def decision_frame(fills: pd.DataFrame, events_dir: Path) -> pd.DataFrame:
    """Return the run's decisions per instrument and time: fills (net, count, notional) and risk decisions.

    Columns ``fill_net_qty`` (buys minus sells), ``fill_count``, ``fill_notional``,
    ``risk_decisions``, ``risk_requested_qty`` and ``risk_approved_qty`` (0 where none happened).
    """
    keys = ["instrument_id", "ts"]
    parts = []
    if not fills.empty:
        f = fills.assign(
            instrument_id=fills["instrument_id"].astype(str),
            ts=pd.to_datetime(fills["ts"], utc=True),
            signed=np.where(fills["side"].astype(str).str.upper() == "BUY", 1.0, -1.0)
            * fills["quantity"].astype(float),
        )
        parts.append(
            f.groupby(keys).agg(
                fill_net_qty=("signed", "sum"),
                fill_count=("signed", "size"),
                fill_notional=("notional", "sum"),
            )
        )
    path = events_dir / "RiskDecisionEvent.parquet"
    risk = pd.read_parquet(path) if path.exists() else pd.DataFrame()
    if not risk.empty:
        r = risk.assign(
            instrument_id=risk["instrument_id"].astype(str), ts=pd.to_datetime(risk["ts"], utc=True)
        )
        parts.append(
            r.groupby(keys).agg(
                risk_decisions=("action", "size"),
                risk_requested_qty=("requested_qty", "sum"),
                risk_approved_qty=("approved_qty", "sum"),
            )
        )
    columns = [
        "fill_net_qty",
        "fill_count",
        "fill_notional",
        "risk_decisions",
        "risk_requested_qty",
        "risk_approved_qty",
    ]
    if not parts:
        return pd.DataFrame(columns=[*keys, *columns])
    joined = pd.concat(parts, axis=1).reindex(columns=columns).fillna(0.0)
    return joined.reset_index()


def override_feature_actor(
    run: BacktestRunConfig, settings: LookaheadSettings, catalog: str
) -> BacktestRunConfig:
    """Return ``run`` with its FeatureActors replaced as ``settings`` asks (unchanged without one)."""
    if settings.feature_actor_path is None:
        return run
    options = {
        k: v.replace(_CATALOG_PLACEHOLDER, catalog) if isinstance(v, str) else v
        for k, v in settings.feature_actor_options.items()
    }
    if run.engine is None:
        return run
    actors = []
    for actor in run.engine.actors:
        if actor.actor_path == _FEATURE_ACTOR_PATH:
            actor = msgspec.structs.replace(
                actor,
                actor_path=settings.feature_actor_path,
                config_path=settings.feature_actor_config_path or actor.config_path,
                config={**actor.config, **options},
            )
        actors.append(actor)
    engine = msgspec.structs.replace(run.engine, actors=actors)
    return msgspec.structs.replace(run, engine=engine)


def _with_end(cfg: ExperimentConfig, catalog: str, end: str | None) -> ExperimentConfig:
    data = cfg.data.model_copy(update={"catalog": catalog, "end": end})
    return cfg.model_copy(update={"data": data})


def _run_all(jobs: Sequence[BacktestJob], workers: int) -> list[BacktestJobResult]:
    if workers == 1:
        return [run_backtest_job(job) for job in jobs]
    return run_jobs(jobs, workers, runs_per_process=8)


@dataclass(frozen=True)
class _Variant:
    """One run of the comparison: the full data (``cut`` None) or the data truncated at ``cut``."""

    tag: str
    cut: pd.Timestamp | None
    catalog: str
    end: str | None


def run_lookahead(
    cfg: ExperimentConfig,
    out_dir: Path | None = None,
    settings: LookaheadSettings | None = None,
    *,
    progress: Progress | None = None,
) -> LookaheadResult:
    """Run the look-ahead check of ``cfg`` on its catalog and write the results under ``out_dir``.

    Parameters
    ----------
    cfg : ExperimentConfig
        The experiment: data, features, label, model, strategy and risk sections are used;
        ``[walkforward] train`` and ``test`` give the training and test windows of the signal check
        (from the first feature row), ``warmup_bars`` the bars replayed before the test window.
    out_dir : Path, optional
        Where ``lookahead.json`` and ``lookahead_differences.parquet`` go (nothing written if None).
    settings : LookaheadSettings, optional
        The cuts, tolerances and checks (defaults: 2 cuts, rtol 1e-9, every check).
    progress : callable, optional
        ``progress(stage, done, total)`` callback.

    Returns
    -------
    LookaheadResult
        The cuts, every difference and their summary per stage and column.

    Raises
    ------
    ConfigError
        If the catalog is missing, no check is selected, or too few bars are left to cut.
    DataError
        If the catalog holds no bars of an instrument, or the training window has too few rows.

    """
    settings = settings or LookaheadSettings()
    if not (settings.replay or settings.batch or settings.signals):
        raise ConfigError("lookahead: every check is off: enable replay, batch or signals")
    if cfg.data.catalog is None:
        raise ConfigError("no catalog: set [data] catalog in the config or pass --catalog")
    catalog = str(Path(cfg.data.catalog).resolve())
    if not Path(catalog).is_dir():
        raise ConfigError(f"catalog {catalog} does not exist: run `nautilus-ai catalog ingest` first")
    cfg = _with_end(cfg, catalog, cfg.data.end)
    notify = progress or (lambda stage, done, total: None)
    spec = cfg.features.to_spec()
    closes = load_closes(catalog, cfg)
    bar_times = pd.DatetimeIndex(sorted(set().union(*(c.index for c in closes.values()))))
    first_feature = min(
        c.index[spec.warmup_bars() - 1] if len(c) >= spec.warmup_bars() else bar_times[-1]
        for c in closes.values()
    )
    fold = _signal_fold(cfg, first_feature, bar_times[-1]) if settings.signals else None
    earliest = fold.test_start if fold is not None else first_feature
    latest = fold.test_end if fold is not None else None
    seed = settings.seed if settings.seed is not None else cfg.seed
    cuts = choose_cuts(bar_times, settings.cuts, seed, earliest, latest)

    comparison = _Comparison(settings.rtol, settings.atol)
    with tempfile.TemporaryDirectory(prefix="lookahead-") as tmp:
        work = Path(tmp)
        variants = [_Variant("full", None, catalog, cfg.data.end)]
        for i, cut in enumerate(cuts):
            notify("truncate", i, len(cuts))
            truncated = truncate_catalog(Path(catalog), work / f"catalog-cut{i}", cut)
            variants.append(_Variant(f"cut{i}", cut, str(truncated), cut.isoformat()))
        notify("truncate", len(cuts), len(cuts))
        if settings.replay or settings.signals:
            features = _check_replay(cfg, settings, variants, work, comparison, notify)
        if settings.batch:
            _check_batch(cfg, variants, comparison, notify)
        if settings.signals:
            assert fold is not None
            _check_signals(
                cfg, settings, fold, variants, bar_times, closes, features, work, comparison, notify
            )

    table = comparison.differences()
    result = LookaheadResult(
        cuts=cuts,
        differences=table,
        leaks=summarize_differences(table),
        compared=comparison.compared,
        train_window=(fold.train_start.isoformat(), fold.train_end.isoformat()) if fold else None,
        test_window=(fold.test_start.isoformat(), fold.test_end.isoformat()) if fold else None,
    )
    if out_dir is not None:
        _write(result, cfg, settings, seed, Path(out_dir))
    return result


class _Comparison:
    """Collects the differences of the truncated runs and counts the compared values per stage."""

    def __init__(self, rtol: float, atol: float) -> None:
        self.rtol, self.atol = rtol, atol
        self.compared: dict[str, int] = {}
        self._parts: list[pd.DataFrame] = []

    def add(
        self, stage: str, full: pd.DataFrame, truncated: pd.DataFrame, cut: pd.Timestamp, inclusive: bool
    ) -> None:
        """Diff one truncated run's output against the full run's."""
        self.compared[stage] = self.compared.get(stage, 0) + _count_values(truncated, cut, inclusive)
        diff = diff_frames(
            full, truncated, stage=stage, cut=cut, inclusive=inclusive, rtol=self.rtol, atol=self.atol
        )
        if not diff.empty:
            self._parts.append(diff)

    def differences(self) -> pd.DataFrame:
        """Return every difference found (:data:`DIFFERENCE_COLUMNS`)."""
        return pd.concat(self._parts, ignore_index=True) if self._parts else empty_differences()


def _check_replay(
    cfg: ExperimentConfig,
    settings: LookaheadSettings,
    variants: list[_Variant],
    work: Path,
    comparison: _Comparison,
    notify: Progress,
) -> pd.DataFrame:
    """Replay the FeatureActors per variant (only the full data without ``replay``); return the full run's."""
    runs = variants if settings.replay else variants[:1]
    jobs = [
        BacktestJob(
            f"features-{v.tag}",
            override_feature_actor(
                node_config.feature_replay_run(
                    _with_end(cfg, v.catalog, v.end), v.catalog, str(work / f"features-{v.tag}.parquet")
                ),
                settings,
                v.catalog,
            ),
        )
        for v in runs
    ]
    notify("features", 0, len(jobs))
    _run_all(jobs, settings.workers)
    notify("features", len(jobs), len(jobs))
    features = pd.read_parquet(work / "features-full.parquet")
    if features.empty:
        raise DataError(
            "the feature replay produced no FeatureVectors: fewer bars than the warm-up "
            f"({cfg.features.to_spec().warmup_bars()} bars)",
            file=str(variants[0].catalog),
        )
    full = recorded_features(features)
    for v in runs[1:]:
        assert v.cut is not None
        truncated = recorded_features(pd.read_parquet(work / f"features-{v.tag}.parquet"))
        comparison.add("features", full, truncated, v.cut, inclusive=True)
    return features


def _check_batch(
    cfg: ExperimentConfig, variants: list[_Variant], comparison: _Comparison, notify: Progress
) -> None:
    """Compute the batch twins per variant (as ``features build --batch``) and diff them."""
    spec = cfg.features.to_spec()
    label = node_config.stored_sentiment_label(cfg, variants[0].catalog)
    frames = []
    notify("batch", 0, len(variants))
    for i, v in enumerate(variants):
        frames.append(_batch_frame(cfg, v, spec, label))
        notify("batch", i + 1, len(variants))
    for v, frame in zip(variants[1:], frames[1:], strict=True):
        assert v.cut is not None
        comparison.add("batch", frames[0], frame, v.cut, inclusive=True)


def _count_values(frame: pd.DataFrame, cut: pd.Timestamp, inclusive: bool) -> int:
    ts = pd.DatetimeIndex(pd.to_datetime(frame["ts"], utc=True))
    rows = int(np.count_nonzero((ts <= cut) if inclusive else (ts < cut)))
    return rows * (len(frame.columns) - 2)


def _batch_frame(cfg: ExperimentConfig, variant: _Variant, spec: Any, label: str | None) -> pd.DataFrame:
    frames = [
        batch_instrument_frame(variant.catalog, iid, bt, spec, cfg.data.start, variant.end, label)
        for iid, bt in zip(cfg.data.instruments, cfg.data.bar_types(), strict=True)
    ]
    non_empty = [recorded_features(f) for f in frames if not f.empty]
    if not non_empty:
        return pd.DataFrame(columns=["ts", "instrument_id", *spec.feature_names()])
    return pd.concat(non_empty, ignore_index=True)


def _signal_fold(cfg: ExperimentConfig, first_feature: pd.Timestamp, last_bar: pd.Timestamp) -> Fold:
    train_end = first_feature + pd.Timedelta(cfg.walkforward.train)
    if train_end >= last_bar:
        raise ConfigError(
            f"[walkforward] train {cfg.walkforward.train} from the first feature row {first_feature} ends "
            f"after the last bar {last_bar}: nothing is left to test, shorten it or widen [data]"
        )
    test_end = min(train_end + pd.Timedelta(cfg.walkforward.test), last_bar)
    return Fold(0, first_feature, train_end, train_end, test_end)


@dataclass(frozen=True)
class _TrainedModel:
    """The registered models of the signal check and the fold files their run needs."""

    registry_path: str
    version: str
    regime_version: str | None
    payoff_ratio: float
    returns_path: str | None
    cvar_path: str | None


def _train(
    cfg: ExperimentConfig, fold: Fold, closes: dict[str, pd.Series], features: pd.DataFrame, work: Path
) -> _TrainedModel:
    """Fit and register the regime and staged models on the fold's training window, as a walk-forward fold."""
    frame = training_frame(features, closes, cfg.label.horizon_bars)
    registry = ModelRegistry(work / "registry")
    trained = train_fold(cfg, frame, closes, fold, registry, work)
    return _TrainedModel(
        str(registry.root),
        trained.version,
        trained.regime_version,
        trained.payoff_ratio,
        trained.returns_path,
        trained.cvar_path,
    )


def _check_signals(
    cfg: ExperimentConfig,
    settings: LookaheadSettings,
    fold: Fold,
    variants: list[_Variant],
    bar_times: pd.DatetimeIndex,
    closes: dict[str, pd.Series],
    features: pd.DataFrame,
    work: Path,
    comparison: _Comparison,
    notify: Progress,
) -> None:
    """Train once on the fold's training window, run the ML chain per variant and diff its outputs."""
    notify("train", 0, 1)
    trained = _train(cfg, fold, closes, features, work)
    notify("train", 1, 1)
    warmup = cfg.walkforward.warmup_bars
    if warmup is None:
        warmup = cfg.features.to_spec().warmup_bars() + cfg.features.volatility_window + 5
    start = warmup_start(bar_times, fold.test_start, warmup).isoformat()
    jobs = []
    for v in variants:
        run = node_config.ml_run(
            _with_end(cfg, v.catalog, v.end),
            v.catalog,
            registry_path=trained.registry_path,
            model_version=trained.version,
            start=start,
            end=v.cut.isoformat() if v.cut is not None else fold.test_end.isoformat(),
            trade_start=fold.test_start.isoformat(),
            equity_path=str(work / f"ml-{v.tag}-equity.parquet"),
            regime_version=trained.regime_version,
            payoff_ratio=trained.payoff_ratio,
            cvar_scenarios_path=trained.cvar_path,
            events_dir=str(work / f"ml-{v.tag}-events"),
            returns_path=trained.returns_path,
        )
        jobs.append(BacktestJob(f"ml-{v.tag}", override_feature_actor(run, settings, v.catalog)))
    notify("signals", 0, len(jobs))
    results = _run_all(jobs, settings.workers)
    notify("signals", len(jobs), len(jobs))

    regimes = [regime_frame(work / f"ml-{v.tag}-events") for v in variants]
    signals = [signal_frame(work / f"ml-{v.tag}-events") for v in variants]
    decisions = [
        decision_frame(r.fills, work / f"ml-{v.tag}-events") for v, r in zip(variants, results, strict=True)
    ]
    if signals[0].empty:
        raise DataError(
            f"the ML run of the test window {fold.test_start} → {fold.test_end} recorded no ModelSignal: "
            "nothing to compare (check [walkforward] warmup_bars and the data window)"
        )
    for i, v in enumerate(variants[1:], start=1):
        assert v.cut is not None
        if trained.regime_version is not None:
            comparison.add("regimes", regimes[0], regimes[i], v.cut, inclusive=True)
        comparison.add("signals", signals[0], signals[i], v.cut, inclusive=True)
        comparison.add("decisions", decisions[0], decisions[i], v.cut, inclusive=False)


def _write(
    result: LookaheadResult, cfg: ExperimentConfig, settings: LookaheadSettings, seed: int, out: Path
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    result.differences_path = write_parquet_atomic(result.differences, out / "lookahead_differences.parquet")
    result.json_path = out / "lookahead.json"
    payload = {
        "config": cfg.name,
        "config_hash": cfg.config_hash(),
        "catalog": cfg.data.catalog,
        "seed": seed,
        "settings": settings.model_dump(),
        **result.as_dict(),
    }
    atomic_write_text(result.json_path, json.dumps(payload, indent=2, default=str))
