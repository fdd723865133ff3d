"""Replay the strategy through the engine on Monte Carlo paths and stress scenarios of its test window.

1. Train once, on the last walk-forward fold's training window, exactly as the walk-forward does
   (:mod:`nautilus_ai.backtest.walkforward`: the feature replay, :func:`training_frame`,
   :func:`fold_rows`, :func:`fit_regime`, :func:`fit_staged`) and register the models.
2. For every path of every scenario kind (:mod:`nautilus_ai.backtest.scenarios`) write the real
   warm-up bars and the path's synthetic test-window bars into a fresh catalog under the run folder
   (instruments copied from the real catalog, which is never written to), and replay the whole chain
   (FeatureActor → RegimeActor → SignalActor → MLStrategy, :func:`node_config.ml_run`) on it in the
   process pool (:func:`run_jobs`). The unmodified test window runs the same way as ``baseline``.
3. Collect each path's total return, Sharpe, Sortino, max drawdown, CVaR 95 % of the bar returns
   and trade count, and write ``scenarios.parquet``, ``scenarios.json`` (per-kind mean, median and
   5 % quantile), ``config.toml`` and ``scenarios.html`` under ``<out>/<run_id>/``.

The run is built in a hidden ``.<run_id>.partial`` folder and renamed into place when complete.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pandas as pd
from nautilus_trader.backtest.config import (
    BacktestRunConfig,
    FeeModelConfig,
    FeeModelFactory,
    ImportableFeeModelConfig,
    ImportableFillModelConfig,
)
from nautilus_trader.backtest.models import FeeModel
from nautilus_trader.model.data import BarType
from nautilus_trader.model.objects import Money
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.persistence.wranglers import BarDataWrangler

from nautilus_ai.backtest import node_config
from nautilus_ai.backtest.folds import Fold, make_folds
from nautilus_ai.backtest.metrics import compute_metrics, simple_returns
from nautilus_ai.backtest.runner import BacktestJob, BacktestJobResult, run_backtest_job, run_jobs
from nautilus_ai.backtest.scenarios import (
    BAR_COLUMNS,
    Bars,
    ScenarioConfig,
    ScenarioPath,
    generate_paths,
)
from nautilus_ai.backtest.walkforward import (
    load_closes,
    train_fold,
    training_frame,
    warmup_start,
    window_equity,
)
from nautilus_ai.catalog.atomic import atomic_write_text, write_parquet_atomic
from nautilus_ai.config import ExperimentConfig
from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.learning.registry import ModelRegistry
from nautilus_ai.risk.cvar import conditional_value_at_risk

Progress = Callable[[str, int, int], None]

METRIC_COLUMNS = ("total_return", "sharpe", "sortino", "max_drawdown", "cvar_95", "n_trades")
"""Metric columns of ``scenarios.parquet`` (``cvar_95``: mean loss of the worst 5 % bar returns, > 0)."""

BASELINE = "baseline"


class FeeMultiplierModelConfig(FeeModelConfig, frozen=True):
    """Configuration of :class:`FeeMultiplierModel`.

    Parameters
    ----------
    multiplier : float, default 1.0
        Factor on every commission of the base fee model.
    base_fee_model_path : str
        Import path of the base fee model (default: NautilusTrader's ``MakerTakerFeeModel``).
    base_config_path : str
        Import path of the base fee model's config.
    base_config : dict
        The base fee model's config.

    """

    multiplier: float = 1.0
    base_fee_model_path: str = "nautilus_trader.backtest.models:MakerTakerFeeModel"
    base_config_path: str = "nautilus_trader.backtest.config:MakerTakerFeeModelConfig"
    base_config: dict[str, Any] = {}


class FeeMultiplierModel(FeeModel):
    """The venue's own fee model (the base) with every commission multiplied by ``multiplier``.

    The costs of a liquidity drought (wider spreads) on bar data, where there is no book to thin.
    """

    def __init__(self, config: FeeMultiplierModelConfig | None = None) -> None:
        super().__init__()
        config = config or FeeMultiplierModelConfig()
        if not config.multiplier >= 0.0:
            raise ConfigError(f"FeeMultiplierModel: multiplier must be >= 0, was {config.multiplier}")
        self.multiplier = config.multiplier
        self.base = FeeModelFactory.create(
            ImportableFeeModelConfig(
                fee_model_path=config.base_fee_model_path,
                config_path=config.base_config_path,
                config=dict(config.base_config),
            )
        )

    def get_commission(self, order: Any, fill_qty: Any, fill_px: Any, instrument: Any) -> Money:
        """Return the base model's commission of the fill times the multiplier."""
        base = self.base.get_commission(order, fill_qty, fill_px, instrument)
        return Money(base.as_double() * self.multiplier, base.currency)


@dataclass
class ScenarioRunResult:
    """Where a scenario run wrote its results, and the per-path metrics."""

    run_id: str
    run_dir: Path
    report_path: Path
    results: pd.DataFrame
    summary: dict[str, Any]


def load_bar_frames(catalog: str, cfg: ExperimentConfig) -> dict[str, pd.DataFrame]:
    """Return each instrument's OHLCV bars of the catalog indexed by ``ts_init`` (with ``ts_event``)."""
    cat = ParquetDataCatalog(catalog)
    frames: dict[str, pd.DataFrame] = {}
    for iid, bt in zip(cfg.data.instruments, cfg.data.bar_types(), strict=True):
        bars = cat.bars(bar_types=[str(BarType.from_str(bt))], start=cfg.data.start, end=cfg.data.end)
        if not bars:
            raise DataError(f"no {bt} bars in the catalog for {iid}", file=catalog)
        frames[iid] = pd.DataFrame(
            {
                "open": [b.open.as_double() for b in bars],
                "high": [b.high.as_double() for b in bars],
                "low": [b.low.as_double() for b in bars],
                "close": [b.close.as_double() for b in bars],
                "volume": [b.volume.as_double() for b in bars],
                "ts_event": [b.ts_event for b in bars],
            },
            index=pd.DatetimeIndex([b.ts_init for b in bars], tz="UTC"),
        )
    return frames


def window_bars(
    frames: Mapping[str, pd.DataFrame], start: pd.Timestamp, end: pd.Timestamp, *, inclusive_end: bool
) -> tuple[Bars, dict[str, float]]:
    """Return the bars at ``start <= ts < end`` (``<= end`` when inclusive) and each close before them.

    When no bar precedes the window, the first bar's open stands in for the close before it.
    """
    window: Bars = {}
    anchor: dict[str, float] = {}
    for iid, frame in frames.items():
        upper = frame.index <= end if inclusive_end else frame.index < end
        inside = (frame.index >= start) & upper
        window[iid] = frame.loc[inside, list(BAR_COLUMNS)]
        before = frame[frame.index < start]
        anchor[iid] = float(before["close"].iloc[-1]) if len(before) else float(frame["open"].iloc[0])
    return window, anchor


def check_bar_only(cfg: ExperimentConfig) -> None:
    """Raise :class:`ConfigError` when the features need data that scenarios do not synthesize."""
    from nautilus_ai.indicators.batch_features import event_inputs

    needs = event_inputs(cfg.features.to_spec())
    if cfg.features.sentiment_half_life_s is not None or cfg.features.onchain_metrics or needs:
        names = sorted({n for names in needs.values() for n in names})
        raise ConfigError(
            "scenarios synthesize bars only, and [features] needs other data "
            f"({', '.join(names) or 'sentiment / on-chain'}): drop those features for the scenario run",
        )


def write_scenario_catalog(
    root: Path,
    source: ParquetDataCatalog,
    cfg: ExperimentConfig,
    history: Mapping[str, pd.DataFrame],
    bars: Mapping[str, pd.DataFrame],
    window_events: Mapping[str, pd.Series],
) -> Path:
    """Write the instruments of ``source`` and the ``history`` then ``bars`` bars into a new catalog.

    Parameters
    ----------
    root : Path
        The new catalog folder (must not exist).
    source : ParquetDataCatalog
        The real catalog, read for the instruments only.
    cfg : ExperimentConfig
        The instruments and bar types.
    history : Mapping
        Instrument → real bars before the window (the warm-up), with ``ts_event``.
    bars : Mapping
        Instrument → the window's (synthetic) OHLCV bars on the real ``ts_init`` timestamps.
    window_events : Mapping
        Instrument → the real ``ts_event`` (ns) of the window's bars, indexed by ``ts_init``.

    Returns
    -------
    Path
        ``root``.

    """
    if root.exists():
        raise ConfigError(f"scenario catalog {root} already exists")
    catalog = ParquetDataCatalog(str(root))
    instruments = {str(i.id): i for i in source.instruments(instrument_ids=list(cfg.data.instruments))}
    missing = [iid for iid in cfg.data.instruments if iid not in instruments]
    if missing:
        raise DataError(f"instruments {missing} are not in the catalog", file=str(source.path))
    catalog.write_data(list(instruments.values()))
    for iid, bt in zip(cfg.data.instruments, cfg.data.bar_types(), strict=True):
        instrument = instruments[iid]
        wrangler = BarDataWrangler(BarType.from_str(bt), instrument)
        past, window = history[iid], bars[iid]
        values = np.concatenate(
            [
                past[list(BAR_COLUMNS)].to_numpy(dtype=np.float64, copy=True),
                window[list(BAR_COLUMNS)].to_numpy(dtype=np.float64, copy=True),
            ]
        )
        ts_init = np.concatenate(
            [
                pd.DatetimeIndex(past.index).as_unit("ns").asi8,
                pd.DatetimeIndex(window.index).as_unit("ns").asi8,
            ]
        )
        ts_event = np.concatenate(
            [
                past["ts_event"].to_numpy(dtype=np.int64),
                window_events[iid].reindex(window.index).to_numpy(dtype=np.int64),
            ]
        )
        catalog.write_data(
            [
                wrangler._build_bar(v, int(e), int(i))
                for v, e, i in zip(values, ts_event, ts_init, strict=True)
            ]
        )
    return root


def with_drought_venues(
    run: BacktestRunConfig, slippage_probability: float, fee_multiplier: float, seed: int
) -> BacktestRunConfig:
    """Return ``run`` with every venue slipping more often and charging ``fee_multiplier`` times its fees.

    The venue's fill model keeps its settings but slips a market fill one tick with probability
    ``max(its own, slippage_probability)``, seeded with ``seed``; its fee model is wrapped by
    :class:`FeeMultiplierModel` (NautilusTrader's ``MakerTakerFeeModel`` when the venue has none).
    """
    venues = []
    for venue in run.venues:
        fill_settings: dict[str, Any] = {"prob_fill_on_limit": 1.0, "prob_slippage": 0.0}
        if venue.fill_model is not None:
            fill_settings.update(venue.fill_model.config)
        fill_settings["prob_slippage"] = max(
            float(fill_settings.get("prob_slippage", 0.0)), slippage_probability
        )
        fill_settings["random_seed"] = seed
        fill = ImportableFillModelConfig(
            fill_model_path=(
                venue.fill_model.fill_model_path
                if venue.fill_model is not None
                else "nautilus_trader.backtest.models:FillModel"
            ),
            config_path=(
                venue.fill_model.config_path
                if venue.fill_model is not None
                else "nautilus_trader.backtest.config:FillModelConfig"
            ),
            config=fill_settings,
        )
        fee_settings: dict[str, Any] = {"multiplier": fee_multiplier}
        if venue.fee_model is not None:
            fee_settings |= {
                "base_fee_model_path": venue.fee_model.fee_model_path,
                "base_config_path": venue.fee_model.config_path,
                "base_config": dict(venue.fee_model.config),
            }
        fee = ImportableFeeModelConfig(
            fee_model_path=f"{__name__}:FeeMultiplierModel",
            config_path=f"{__name__}:FeeMultiplierModelConfig",
            config=fee_settings,
        )
        venues.append(msgspec.structs.replace(venue, fill_model=fill, fee_model=fee))
    return msgspec.structs.replace(run, venues=venues)


def path_metrics(result: BacktestJobResult, fold: Fold, ppy: float) -> dict[str, float | int | None]:
    """Return the :data:`METRIC_COLUMNS` of one replay inside the fold's test window."""
    equity = window_equity(result.equity, fold, last=True)
    if len(equity) < 2:
        raise DataError(
            f"scenario {result.tag}: the replay recorded {len(equity)} equity samples in the test window"
        )
    fills = result.fills[result.fills["ts"] >= fold.test_start]
    metrics = compute_metrics(equity, fills, result.positions, ppy=ppy)
    returns = simple_returns(equity).to_numpy(dtype=np.float64)
    return {
        "total_return": metrics["total_return"],  # type: ignore[dict-item]
        "sharpe": metrics["sharpe"],  # type: ignore[dict-item]
        "sortino": metrics["sortino"],  # type: ignore[dict-item]
        "max_drawdown": metrics["max_drawdown"],  # type: ignore[dict-item]
        "cvar_95": conditional_value_at_risk(returns, 0.95) if len(returns) else None,
        "n_trades": metrics["n_trades"],  # type: ignore[dict-item]
    }


def summarize(results: pd.DataFrame) -> dict[str, dict[str, dict[str, float | None]]]:
    """Return, per scenario kind and metric, the mean, median and 5 % quantile over the paths."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for kind, rows in results.groupby("scenario", sort=False):
        out[str(kind)] = {}
        for metric in METRIC_COLUMNS:
            values = pd.to_numeric(rows[metric], errors="coerce").dropna().to_numpy(dtype=np.float64)
            out[str(kind)][metric] = {
                "mean": float(values.mean()) if values.size else None,
                "median": float(np.median(values)) if values.size else None,
                "q05": float(np.quantile(values, 0.05)) if values.size else None,
            }
    return out


def write_scenarios_html(path: Path, results: pd.DataFrame, title: str) -> Path:
    """Write a self-contained page of per-kind histograms (plotly.js inlined) of every metric."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    metrics = list(METRIC_COLUMNS)
    figure = make_subplots(rows=len(metrics), cols=1, subplot_titles=metrics, vertical_spacing=0.04)
    baseline = results[results["scenario"] == BASELINE]
    kinds = [k for k in results["scenario"].unique() if k != BASELINE]
    colors = [f"hsl({int(360 * i / max(len(kinds), 1))},60%,45%)" for i in range(len(kinds))]
    for row, metric in enumerate(metrics, start=1):
        for kind, color in zip(kinds, colors, strict=True):
            values = pd.to_numeric(results.loc[results["scenario"] == kind, metric], errors="coerce").dropna()
            figure.add_trace(
                go.Histogram(
                    x=values,
                    name=kind,
                    legendgroup=kind,
                    showlegend=row == 1,
                    opacity=0.6,
                    marker_color=color,
                ),
                row=row,
                col=1,
            )
        for value in pd.to_numeric(baseline[metric], errors="coerce").dropna():
            figure.add_vline(x=float(value), line_dash="dash", line_color="black", row=row, col=1)
    figure.update_layout(
        title=f"{title} (dashed: baseline)",
        barmode="overlay",
        height=320 * len(metrics),
        template="plotly_white",
    )
    return atomic_write_text(path, figure.to_html(include_plotlyjs=True, full_html=True))


def run_scenarios(
    cfg: ExperimentConfig,
    scenarios: ScenarioConfig,
    out_dir: Path,
    *,
    run_id: str | None = None,
    registry_path: Path | None = None,
    progress: Progress | None = None,
) -> ScenarioRunResult:
    """Train on the last fold, replay every scenario path and write the results under ``out_dir/<run_id>/``.

    Parameters
    ----------
    cfg : ExperimentConfig
        The experiment (data, features, model, strategy, walk-forward windows, workers).
    scenarios : ScenarioConfig
        Kinds, paths per kind, magnitudes and the seed.
    out_dir : Path
        Parent of the run folder.
    run_id : str, optional
        Name of the run folder (default: time, name and config hash).
    registry_path : Path, optional
        Model registry (default: ``out_dir/registry``).
    progress : callable, optional
        ``progress(stage, done, total)``.

    Returns
    -------
    ScenarioRunResult
        The run folder, its files and the per-path metrics.

    Raises
    ------
    ConfigError
        No catalog, a run folder that exists, or features that need more than bars.
    DataError
        Too few training rows or bars misaligned across instruments.

    """
    if cfg.data.catalog is None:
        raise ConfigError("no catalog: set [data] catalog in the config or pass --catalog")
    catalog = str(Path(cfg.data.catalog).resolve())
    if not Path(catalog).is_dir():
        raise ConfigError(f"catalog {catalog} does not exist: run `nautilus-ai catalog ingest` first")
    check_bar_only(cfg)
    notify = progress or (lambda stage, done, total: None)
    run_id = (
        run_id or f"{pd.Timestamp.now(tz='UTC'):%Y%m%d-%H%M%S}-{cfg.name}-scenarios-{cfg.config_hash()[:8]}"
    )
    final_dir = Path(out_dir) / run_id
    if final_dir.exists():
        raise ConfigError(f"run folder {final_dir} already exists: choose another --run-id or --out")
    run_dir = Path(out_dir) / f".{run_id}.partial"
    shutil.rmtree(run_dir, ignore_errors=True)
    try:
        result = _run(cfg, scenarios, catalog, run_id, run_dir, Path(out_dir), registry_path, notify)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    run_dir.rename(final_dir)
    result.run_dir = final_dir
    result.report_path = final_dir / result.report_path.name
    return result


@dataclass
class _TrainedModel:
    version: str
    regime_version: str | None
    payoff_ratio: float
    cvar_path: str | None
    returns_path: str | None


def _train_last_fold(
    cfg: ExperimentConfig,
    frame: pd.DataFrame,
    closes: dict[str, pd.Series],
    fold: Fold,
    registry: ModelRegistry,
    work_dir: Path,
) -> _TrainedModel:
    """Fit and register the fold's models exactly as the walk-forward does for each of its folds."""
    trained = train_fold(cfg, frame, closes, fold, registry, work_dir)
    return _TrainedModel(
        trained.version, trained.regime_version, trained.payoff_ratio, trained.cvar_path, trained.returns_path
    )


def _run(
    cfg: ExperimentConfig,
    scenarios: ScenarioConfig,
    catalog: str,
    run_id: str,
    run_dir: Path,
    out_dir: Path,
    registry_path: Path | None,
    notify: Progress,
) -> ScenarioRunResult:
    work_dir = run_dir / "work"
    work_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.toml", cfg.to_toml())
    registry = ModelRegistry(Path(registry_path) if registry_path else out_dir / "registry")
    spec = cfg.features.to_spec()

    # 1. Features and the last fold, as the walk-forward cuts them.
    notify("features", 0, 1)
    closes = load_closes(catalog, cfg)
    features_path = work_dir / "features.parquet"
    run_backtest_job(
        BacktestJob("features", node_config.feature_replay_run(cfg, catalog, str(features_path)))
    )
    features = pd.read_parquet(features_path)
    if features.empty:
        raise DataError(
            "the feature replay produced no FeatureVectors: "
            f"fewer bars than the warm-up ({spec.warmup_bars()})"
        )
    frame = training_frame(features, closes, cfg.label.horizon_bars)
    notify("features", 1, 1)
    bar_times = pd.DatetimeIndex(sorted(set().union(*(c.index for c in closes.values()))))
    folds = make_folds(
        frame.index[0],
        bar_times[-1],
        pd.Timedelta(cfg.walkforward.train),
        pd.Timedelta(cfg.walkforward.test),
        pd.Timedelta(cfg.walkforward.step) if cfg.walkforward.step else None,
        cfg.walkforward.scheme,
    )
    fold = folds[-1]

    # 2. Train once and register.
    notify("train", 0, 1)
    trained = _train_last_fold(cfg, frame, closes, fold, registry, work_dir)
    notify("train", 1, 1)

    # 3. Paths: real warm-up + synthetic test window, one fresh catalog each.
    warmup = cfg.walkforward.warmup_bars
    if warmup is None:
        warmup = spec.warmup_bars() + cfg.features.volatility_window + 5
    start = warmup_start(bar_times, fold.test_start, warmup)
    frames = load_bar_frames(catalog, cfg)
    history = {iid: f[(f.index >= start) & (f.index < fold.test_start)] for iid, f in frames.items()}
    window, anchor = window_bars(frames, fold.test_start, fold.test_end, inclusive_end=True)
    train_bars, train_anchor = window_bars(frames, fold.train_start, fold.train_end, inclusive_end=False)
    paths: list[ScenarioPath] = [ScenarioPath(BASELINE, 0, scenarios.seed, window)]
    for number, kind in enumerate(scenarios.kinds):
        notify("paths", number, len(scenarios.kinds))
        paths.extend(generate_paths(kind, scenarios, window, anchor, train_bars, train_anchor))
    notify("paths", len(scenarios.kinds), len(scenarios.kinds))
    window_events = {iid: frames[iid].loc[window[iid].index, "ts_event"] for iid in frames}
    source = ParquetDataCatalog(catalog)
    jobs: list[BacktestJob] = []
    for number, path in enumerate(paths):
        notify("catalogs", number, len(paths))
        tag = f"{path.kind}-{path.path:04d}"
        scenario_catalog = write_scenario_catalog(
            work_dir / "catalogs" / tag, source, cfg, history, path.bars, window_events
        )
        equity_path = str(work_dir / f"{tag}-equity.parquet")
        run = node_config.ml_run(
            cfg,
            str(scenario_catalog),
            registry_path=str(registry.root),
            model_version=trained.version,
            start=start.isoformat(),
            end=fold.test_end.isoformat(),
            trade_start=fold.test_start.isoformat(),
            equity_path=equity_path,
            regime_version=trained.regime_version,
            payoff_ratio=trained.payoff_ratio,
            cvar_scenarios_path=trained.cvar_path,
            returns_path=trained.returns_path,
        )
        if path.slippage_probability is not None or path.fee_multiplier is not None:
            run = with_drought_venues(
                run, path.slippage_probability or 0.0, path.fee_multiplier or 1.0, path.seed
            )
        jobs.append(BacktestJob(tag, run, equity_path))
    notify("catalogs", len(paths), len(paths))

    # 4. Replay in the process pool.
    done = 0
    notify("scenarios", 0, len(jobs))

    def on_done(_: BacktestJobResult) -> None:
        nonlocal done
        done += 1
        notify("scenarios", done, len(jobs))

    results = run_jobs(jobs, cfg.walkforward.workers, on_done, cfg.walkforward.runs_per_process)
    shutil.rmtree(work_dir / "catalogs", ignore_errors=True)

    # 5. Metrics and files.
    ppy = node_config.periods_per_year(cfg)
    rows = [
        {"scenario": path.kind, "path": path.path, **path_metrics(result, fold, ppy)}
        for path, result in zip(paths, results, strict=True)
    ]
    table = pd.DataFrame(rows, columns=["scenario", "path", *METRIC_COLUMNS])
    table["path"] = table["path"].astype("int64")
    table["n_trades"] = table["n_trades"].astype("int64")
    for column in METRIC_COLUMNS[:-1]:
        table[column] = pd.to_numeric(table[column], errors="coerce").astype("float64")
    summary = {
        "run_id": run_id,
        "config_hash": cfg.config_hash(),
        "model_version": trained.version,
        "regime_version": trained.regime_version,
        "fold": fold.as_dict(),
        "scenario_config": scenarios.model_dump(mode="json"),
        "summary": summarize(table),
        "paths": [{"scenario": p.kind, "path": p.path, "seed": p.seed, **p.details} for p in paths],
    }
    write_parquet_atomic(table, run_dir / "scenarios.parquet")
    atomic_write_text(run_dir / "scenarios.json", json.dumps(summary, indent=2, default=str))
    report_path = write_scenarios_html(run_dir / "scenarios.html", table, f"Scenarios: {cfg.name} ({run_id})")
    return ScenarioRunResult(run_id, run_dir, report_path, table, summary)
