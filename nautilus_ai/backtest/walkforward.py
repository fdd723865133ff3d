"""The walk-forward runner: features once, then per fold train → register → backtest the test window.

1. Replay the catalog through the FeatureActors in one BacktestNode run and record the
   FeatureVectors (the training data comes from the same code path as live features).
2. Cut rolling or anchored folds. For each fold, fit the regime model (when ``[regime]`` is on)
   and the staged signal model (stage 1, and stages 2 and 3 when configured) on the fold's
   training rows whose label ends before the training window ends (purge) and more than
   ``[walkforward] embargo_bars`` bars before the test window starts (embargo), and register them.
3. Backtest every test window in its own process with the whole chain (FeatureActor →
   RegimeActor → SignalActor → MLStrategy), warmed up on the bars before the window, and the
   ``[walkforward] baselines`` (buy-and-hold, EMA crossover) on the same data, venue and costs.
4. Stitch the out-of-sample equity of the folds, compute the metrics and the overfitting
   statistics (PSR, DSR, PBO) and write ``config.toml``, ``manifest.json``, ``metrics.json``,
   ``equity.parquet``, ``trades.parquet``, ``folds.json`` and ``report.html`` under
   ``<out>/<run_id>/``.
"""

import dataclasses
import hashlib
import importlib.metadata
import json
import platform
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from nautilus_trader.backtest.config import BacktestDataConfig
from nautilus_trader.model.data import BarType
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.persistence.funcs import class_to_filename, urisafe_identifier

import nautilus_ai
from nautilus_ai.backtest import node_config
from nautilus_ai.backtest.fold_models import (
    classification_metrics,
    fit_regime,
    fold_scores,
    regime_probabilities,
    shap_importance,
    staged_params,
)
from nautilus_ai.backtest.folds import Fold, make_folds
from nautilus_ai.backtest.metrics import (
    candidate_returns,
    compute_metrics,
    out_of_sample_psr,
    overfitting_statistics,
    simple_returns,
)
from nautilus_ai.backtest.report import write_run_report
from nautilus_ai.backtest.runner import BacktestJob, BacktestJobResult, run_backtest_job, run_jobs
from nautilus_ai.catalog.atomic import atomic_write_text, write_parquet_atomic
from nautilus_ai.config import ExperimentConfig
from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.learning.labels import forward_returns, label_end_times
from nautilus_ai.learning.regime_models import RegimeModel
from nautilus_ai.learning.registry import ModelRegistry, record_walkforward_metrics
from nautilus_ai.learning.staged import StagedModel
from nautilus_ai.learning.train_staged import fit_staged
from nautilus_ai.risk.gate import CvarBudget
from nautilus_ai.risk.kelly import PayoffEstimate, estimate_payoff_ratio
from nautilus_ai.risk.montecarlo import block_bootstrap_scenarios
from nautilus_ai.strategies.portfolio_strategy import save_returns

Progress = Callable[[str, int, int], None]


@dataclass
class WalkForwardResult:
    """Where a walk-forward run wrote its results, and its headline numbers."""

    run_id: str
    run_dir: Path
    report_path: Path
    metrics: dict[str, dict]
    folds: list[dict]
    trades: pd.DataFrame


def load_closes(catalog: str, cfg: ExperimentConfig) -> dict[str, pd.Series]:
    """Return each instrument's bar closes from the catalog, indexed by ``ts_init`` (the bar close time)."""
    cat = ParquetDataCatalog(catalog)
    closes: dict[str, pd.Series] = {}
    for iid, bt in zip(cfg.data.instruments, cfg.data.bar_types(), strict=True):
        bars = cat.bars(bar_types=[str(BarType.from_str(bt))], start=cfg.data.start, end=cfg.data.end)
        if not bars:
            raise DataError(
                f"no {bt} bars in the catalog for {iid}: ingest them first (nautilus-ai catalog ingest)",
                file=catalog,
            )
        index = pd.DatetimeIndex([b.ts_init for b in bars], tz="UTC")
        closes[iid] = pd.Series([b.close.as_double() for b in bars], index=index, name=iid)
    return closes


def training_frame(features: pd.DataFrame, closes: dict[str, pd.Series], horizon: int) -> pd.DataFrame:
    """Join each FeatureVector row with its forward-return label and the label's end time.

    The label of the bar at ``t`` is the return from ``t`` to ``t + horizon`` bars; it becomes known
    at ``label_end`` (the later bar's time) and is NaN when that bar is past the data.
    """
    parts = []
    for iid, close in closes.items():
        rows = features[features["instrument_id"] == iid].copy()
        rows.index = pd.DatetimeIndex(pd.to_datetime(rows["ts_init"], unit="ns", utc=True))
        labels = pd.DataFrame(
            {
                "fwd_return": forward_returns(close, horizon),
                "label_end": label_end_times(close.index, horizon),
            },
            index=close.index,
        )
        parts.append(rows.join(labels, how="left"))
    frame = pd.concat(parts).sort_index(kind="stable")
    frame.index.name = "ts"
    return frame


def fold_rows(
    frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, label_end_before: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Return the labelled rows at ``start <= ts < end`` whose label is known before ``end`` (purged).

    With ``label_end_before`` (the embargo cutoff of :func:`embargo_cutoff`, at or before ``end``)
    rows whose label ends at or after it are dropped as well.
    """
    cutoff = end if label_end_before is None else min(end, label_end_before)
    window = frame[(frame.index >= start) & (frame.index < end)]
    return window[window["fwd_return"].notna() & (window["label_end"] < cutoff)]


def embargo_cutoff(bar_times: pd.DatetimeIndex, test_start: pd.Timestamp, embargo_bars: int) -> pd.Timestamp:
    """Return the time a training label must end before: ``embargo_bars`` bars before ``test_start``.

    ``embargo_bars = 0`` gives ``test_start`` itself (the purge alone); otherwise the time of the
    bar ``embargo_bars`` bars before the first bar at or after ``test_start`` (the first bar when
    there are fewer), so a label ending on any of the last ``embargo_bars`` bars before the test
    window is embargoed.
    """
    if embargo_bars < 0:
        raise ConfigError(f"[walkforward] embargo_bars must be >= 0, was {embargo_bars}")
    if embargo_bars == 0 or len(bar_times) == 0:
        return test_start
    position = int(bar_times.searchsorted(test_start))
    return min(test_start, bar_times[max(position - embargo_bars, 0)])


def warmup_start(bar_times: pd.DatetimeIndex, test_start: pd.Timestamp, warmup_bars: int) -> pd.Timestamp:
    """Return the time of the bar ``warmup_bars`` bars before ``test_start`` (or the first bar)."""
    position = int(bar_times.searchsorted(test_start))
    return bar_times[max(position - warmup_bars, 0)]


def stitch_equity(segments: list[pd.Series], starting_balance: float) -> pd.Series:
    """Chain the per-fold equity curves into one out-of-sample curve starting at ``starting_balance``.

    Each fold starts with a fresh account, so the folds are joined by their returns: the stitched
    curve compounds every fold's bar-to-bar returns in time order.
    """
    segments = [s for s in segments if len(s) > 1]
    if not segments:
        return pd.Series(dtype=float)
    returns = pd.concat([s.pct_change().iloc[1:] for s in segments])
    start = segments[0].index[0]
    curve = starting_balance * (1.0 + returns).cumprod()
    return pd.concat([pd.Series([starting_balance], index=[start]), curve]).rename("equity")


def window_equity(equity: pd.Series | None, fold: Fold, last: bool) -> pd.Series:
    """Return the equity samples of the fold's test window (the end is inclusive for the last fold)."""
    if equity is None or equity.empty:
        return pd.Series(dtype=float)
    upper = equity.index <= fold.test_end if last else equity.index < fold.test_end
    return equity[(equity.index >= fold.test_start) & upper]


def run_walkforward(
    cfg: ExperimentConfig,
    out_dir: Path,
    *,
    run_id: str | None = None,
    registry_path: Path | None = None,
    progress: Progress | None = None,
    ray_address: str | None = None,
) -> WalkForwardResult:
    """Run the walk-forward of ``cfg`` and write its results under ``out_dir/<run_id>/``.

    The fold backtests run in a local process pool, or on the Ray cluster at ``ray_address``
    (``host:port`` of ``ray start --head``); paths are absolute so other nodes find them.
    """
    out_dir = Path(out_dir).resolve()
    if cfg.data.catalog is None:
        raise ConfigError("no catalog: set [data] catalog in the config or pass --catalog")
    catalog = str(Path(cfg.data.catalog).resolve())
    if not Path(catalog).is_dir():
        raise ConfigError(f"catalog {catalog} does not exist: run `nautilus-ai catalog ingest` first")
    notify = progress or (lambda stage, done, total: None)
    run_id = run_id or f"{pd.Timestamp.now(tz='UTC'):%Y%m%d-%H%M%S}-{cfg.name}-{cfg.config_hash()[:8]}"
    final_dir = Path(out_dir) / run_id
    if final_dir.exists():
        raise ConfigError(f"run folder {final_dir} already exists: choose another --run-id or --out")
    # The run is built in a hidden folder and renamed into place only when complete, so a failed run
    # never leaves a half-written result behind.
    run_dir = Path(out_dir) / f".{run_id}.partial"
    shutil.rmtree(run_dir, ignore_errors=True)
    try:
        result = _run(cfg, catalog, run_id, run_dir, out_dir, registry_path, notify, ray_address)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    run_dir.rename(final_dir)
    result.run_dir = final_dir
    result.report_path = final_dir / result.report_path.name
    return result


def _run(
    cfg: ExperimentConfig,
    catalog: str,
    run_id: str,
    run_dir: Path,
    out_dir: Path,
    registry_path: Path | None,
    notify: Progress,
    ray_address: str | None = None,
) -> WalkForwardResult:
    work_dir = run_dir / "work"
    work_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.toml", cfg.to_toml())
    registry = ModelRegistry(Path(registry_path) if registry_path else out_dir / "registry")
    spec = cfg.features.to_spec()

    # 1. Features: one replay of the catalog through the FeatureActors.
    notify("features", 0, 1)
    closes = load_closes(catalog, cfg)
    features_path = run_dir / "features.parquet"
    replay = node_config.feature_replay_run(cfg, catalog, str(features_path))
    write_manifest(run_dir / "manifest.json", cfg, catalog, replay.data)
    run_backtest_job(BacktestJob("features", replay))
    features = pd.read_parquet(features_path)
    if features.empty:
        raise DataError(
            "the feature replay produced no FeatureVectors: "
            f"fewer bars than the warm-up ({spec.warmup_bars()} bars)"
        )
    frame = training_frame(features, closes, cfg.label.horizon_bars)
    notify("features", 1, 1)

    # 2. Folds, training and registration.
    bar_times = pd.DatetimeIndex(sorted(set().union(*(c.index for c in closes.values()))))
    folds = make_folds(
        frame.index[0],
        bar_times[-1],
        pd.Timedelta(cfg.walkforward.train),
        pd.Timedelta(cfg.walkforward.test),
        pd.Timedelta(cfg.walkforward.step) if cfg.walkforward.step else None,
        cfg.walkforward.scheme,
    )
    names = spec.feature_names()
    warmup = cfg.walkforward.warmup_bars
    if warmup is None:
        warmup = spec.warmup_bars() + cfg.features.volatility_window + 5
    fold_infos: list[dict] = []
    jobs: list[BacktestJob] = []
    reference: RegimeModel | None = None
    # lineage: each fold's model records the previous fold's version of the same family as its parent
    parent_version: str | None = None
    parent_regime: str | None = None
    for fold in folds:
        notify("train", fold.index, len(folds))
        trained = train_fold(
            cfg,
            frame,
            closes,
            fold,
            registry,
            work_dir,
            reference=reference,
            parent_version=parent_version,
            parent_regime=parent_regime,
        )
        if trained.regime_model is not None:
            reference = trained.regime_model
        model, version, regime_version = trained.model, trained.version, trained.regime_version
        cutoff, model_metrics, payoff = trained.cutoff, trained.model_metrics, trained.payoff
        returns_path, cvar_path = trained.returns_path, trained.cvar_path
        test = fold_rows(trained.fold_frame, fold.test_start, fold.test_end + pd.Timedelta(1, "ns"))
        parent_version, parent_regime = version, regime_version
        shap = shap_importance(model, test, names)
        fold_infos.append(
            {
                **fold.as_dict(),
                "train_label_end_before": cutoff.isoformat(),
                "model_version": version,
                "regime_version": regime_version,
                "stages": list(model.stages),
                "model_metrics": model_metrics,
                "shap_importance": shap,
                "payoff_ratio": None if payoff is None else dataclasses.asdict(payoff),
            }
        )
        start = warmup_start(bar_times, fold.test_start, warmup).isoformat()
        end = fold.test_end.isoformat()
        trade_start = fold.test_start.isoformat()
        ml_equity = str(work_dir / f"fold{fold.index:03d}-ml-equity.parquet")
        jobs.append(
            BacktestJob(
                f"ml-{fold.index}",
                node_config.ml_run(
                    cfg,
                    catalog,
                    registry_path=str(registry.root),
                    model_version=version,
                    start=start,
                    end=end,
                    trade_start=trade_start,
                    equity_path=ml_equity,
                    regime_version=regime_version,
                    payoff_ratio=payoff.payoff_ratio if payoff is not None else 1.0,
                    cvar_scenarios_path=cvar_path,
                    events_dir=str(work_dir / f"fold{fold.index:03d}-events"),
                    returns_path=returns_path,
                ),
                ml_equity,
            )
        )
        for baseline in cfg.walkforward.baselines:
            # the EMA crossover warms its slow average up on as many bars before the window
            baseline_warmup = max(warmup, cfg.walkforward.ema_slow) if baseline == "ema_cross" else warmup
            baseline_equity = str(work_dir / f"fold{fold.index:03d}-{baseline}-equity.parquet")
            jobs.append(
                BacktestJob(
                    f"{baseline}-{fold.index}",
                    node_config.baseline_run(
                        cfg,
                        catalog,
                        baseline,
                        start=warmup_start(bar_times, fold.test_start, baseline_warmup).isoformat(),
                        end=end,
                        trade_start=trade_start,
                        equity_path=baseline_equity,
                    ),
                    baseline_equity,
                )
            )
    notify("train", len(folds), len(folds))

    # 3. Out-of-sample backtests, in parallel processes.
    done = [0]

    def _on_done(_: BacktestJobResult) -> None:
        done[0] += 1
        notify("backtest", done[0], len(jobs))

    notify("backtest", 0, len(jobs))
    results = {
        r.tag: r
        for r in run_jobs(
            jobs, cfg.walkforward.workers, _on_done, cfg.walkforward.runs_per_process, ray_address=ray_address
        )
    }

    # 4. Stitch, measure, write.
    result = _write_results(cfg, run_id, run_dir, folds, fold_infos, results)
    # the fold models' out-of-sample metrics (and the run's DSR) go into the registry for promotion gates
    record_walkforward_metrics(
        registry, result.folds, result.metrics.get("overfitting"), run_id=result.run_id
    )
    return result


@dataclass
class FoldTraining:
    """The models fitted and registered for one fold, and the files its test-window run needs."""

    model: StagedModel
    version: str
    regime_model: RegimeModel | None
    regime_version: str | None
    fold_frame: pd.DataFrame
    cutoff: pd.Timestamp
    model_metrics: dict[str, Any]
    payoff: PayoffEstimate | None
    returns_path: str | None
    cvar_path: str | None

    @property
    def payoff_ratio(self) -> float:
        """The Kelly payoff ratio for the strategy (1.0 when the sizing does not use it)."""
        return self.payoff.payoff_ratio if self.payoff is not None else 1.0


def train_fold(
    cfg: ExperimentConfig,
    frame: pd.DataFrame,
    closes: dict[str, pd.Series],
    fold: Fold,
    registry: ModelRegistry,
    work_dir: Path,
    *,
    reference: RegimeModel | None = None,
    parent_version: str | None = None,
    parent_regime: str | None = None,
) -> FoldTraining:
    """Fit and register one fold's regime and staged models, and write the files its backtest needs.

    The training rows are those whose label ends before the training window ends and before the
    embargo ahead of the test window (purge + ``[walkforward] embargo_bars``); the regime model is
    matched to ``reference`` (the previous fold's); the Kelly payoff ratio, the CVaR scenarios and the
    portfolio's training returns come from the training window only. The walk-forward calls this for
    every fold, and ``backtest scenarios`` and ``backtest lookahead`` for the fold they replay, so all
    three train the same way.
    """
    spec = cfg.features.to_spec()
    names = spec.feature_names()
    bar_times = pd.DatetimeIndex(sorted(set().union(*(c.index for c in closes.values()))))
    cutoff = embargo_cutoff(bar_times, fold.test_start, cfg.walkforward.embargo_bars)
    train = fold_rows(frame, fold.train_start, fold.train_end, cutoff)
    if len(train) < 50 or train["fwd_return"].gt(0).nunique() < 2:
        raise DataError(
            f"fold {fold.index}: only {len(train)} labelled training rows between {fold.train_start} and "
            f"{fold.train_end}: lengthen [walkforward] train, or shorten the label horizon or the embargo"
        )
    fold_frame = frame
    regime_model: RegimeModel | None = None
    regime_version = None
    regime_columns: list[str] = []
    regime_names: tuple[str, ...] = ()
    if cfg.regime.enabled:
        regime_model = fit_regime(cfg, train, spec.fingerprint(), reference)
        probabilities = regime_probabilities(regime_model, frame, cfg.regime.features)
        # same rows in the same order (the index repeats across instruments): add by position
        fold_frame = frame.assign(**{c: probabilities[c].to_numpy() for c in probabilities.columns})
        regime_columns = list(probabilities.columns)
        regime_names = tuple(regime_model.regime_names_)
        train = fold_rows(fold_frame, fold.train_start, fold.train_end, cutoff)
        regime_version = registry.register(
            regime_model,
            name=f"{cfg.model.name}-regime",
            train_start=fold.train_start.isoformat(),
            train_end=fold.train_end.isoformat(),
            seed=cfg.seed,
            params={"kind": cfg.regime.kind, **regime_model.get_params()},
            metrics={"regimes": list(regime_names)},
            parent=parent_regime,
        )
    model = fit_staged(
        train,
        names,
        spec.fingerprint(),
        staged_params(cfg),
        regime_columns=regime_columns,
        regime_names=regime_names,
        history=fold_frame,
    )
    scores = fold_scores(model, fold_frame, names, regime_columns)
    model_metrics = _model_metrics(scores, fold_frame, fold, cutoff)
    payoff = (
        training_payoff_ratio(scores, fold_frame, fold, cutoff)
        if cfg.risk.sizing == "kelly_volatility"
        else None
    )
    returns_path = None
    if cfg.strategy.kind == "portfolio":
        returns_path = str(
            save_returns(
                training_returns(closes, fold), work_dir / f"fold{fold.index:03d}-train-returns.parquet"
            )
        )
    cvar_path = None
    if cfg.risk.cvar_budget is not None:
        cvar_path = str(
            training_cvar_scenarios(cfg, closes, fold).save(work_dir / f"fold{fold.index:03d}-cvar.npz")
        )
    version = registry.register(
        model,
        name=cfg.model.name,
        train_start=fold.train_start.isoformat(),
        train_end=fold.train_end.isoformat(),
        seed=cfg.seed,
        params={"kind": cfg.model.kind, "stages": list(model.stages), **dict(cfg.model.params)},
        metrics=model_metrics,
        parent=parent_version,
    )
    return FoldTraining(
        model,
        version,
        regime_model,
        regime_version,
        fold_frame,
        cutoff,
        model_metrics,
        payoff,
        returns_path,
        cvar_path,
    )


def _fold_masks(
    frame: pd.DataFrame, fold: Fold, label_end_before: pd.Timestamp | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return the labelled training and test rows of the time-sorted ``frame``, as :func:`fold_rows`.

    Several instruments share a timestamp, so rows are selected by mask, not by index label.
    ``label_end_before`` is the training rows' embargo cutoff (:func:`embargo_cutoff`).
    """
    rows = frame.sort_index(kind="stable")
    index, label_end = rows.index, pd.DatetimeIndex(rows["label_end"])
    labelled = rows["fwd_return"].notna().to_numpy()
    test_end = fold.test_end + pd.Timedelta(1, "ns")
    cutoff = fold.train_end if label_end_before is None else min(fold.train_end, label_end_before)
    in_train = (index >= fold.train_start) & (index < fold.train_end) & (label_end < cutoff)
    in_test = (index >= fold.test_start) & (index < test_end) & (label_end < test_end)
    return np.asarray(in_train) & labelled, np.asarray(in_test) & labelled


def _model_metrics(
    scores: pd.DataFrame, frame: pd.DataFrame, fold: Fold, label_end_before: pd.Timestamp | None = None
) -> dict[str, Any]:
    """Return the fold's in-sample and out-of-sample classification metrics, stage by stage.

    ``scores`` are the staged model's batch scores of the whole time-sorted frame (stage-2 windows
    reach back into the history); the rows are those :func:`fold_rows` selects.
    """
    fwd = frame.sort_index(kind="stable")["fwd_return"]
    in_train, in_test = _fold_masks(frame, fold, label_end_before)
    train_metrics = classification_metrics(scores[in_train], fwd[in_train])
    test_metrics = classification_metrics(scores[in_test], fwd[in_test])
    final_train = train_metrics.get("probability", {})
    final_test = test_metrics.get("probability", {})
    return {
        "n_train": int(in_train.sum()),
        "n_test": int(in_test.sum()),
        "train_accuracy": final_train.get("accuracy"),
        "train_auc": final_train.get("auc"),
        "test_accuracy": final_test.get("accuracy"),
        "test_auc": final_test.get("auc"),
        "test_mcc": final_test.get("mcc"),
        "test_brier": final_test.get("brier"),
        "train": train_metrics,
        "test": test_metrics,
    }


def training_payoff_ratio(
    scores: pd.DataFrame, frame: pd.DataFrame, fold: Fold, label_end_before: pd.Timestamp | None = None
) -> PayoffEstimate:
    """Return the Kelly payoff ratio of the model's own training-window trades (direction x return)."""
    fwd = frame.sort_index(kind="stable")["fwd_return"].to_numpy(dtype=np.float64)
    in_train, _ = _fold_masks(frame, fold, label_end_before)
    direction = scores["direction"].to_numpy()
    traded = in_train & (direction != 0)
    return estimate_payoff_ratio(direction[traded] * fwd[traded])


def training_returns(closes: dict[str, pd.Series], fold: Fold) -> pd.DataFrame:
    """Return the instruments' one-bar close-to-close returns inside the fold's training window."""
    prices = pd.DataFrame(closes).sort_index()
    window = prices[(prices.index >= fold.train_start) & (prices.index < fold.train_end)]
    return window.pct_change().iloc[1:].fillna(0.0)


def training_cvar_scenarios(cfg: ExperimentConfig, closes: dict[str, pd.Series], fold: Fold) -> CvarBudget:
    """Return the fold's CVaR budget over block-bootstrap scenarios of its training-window returns."""
    prices = pd.DataFrame(closes).sort_index()
    returns = training_returns(closes, fold)
    if len(returns) < 20:
        raise DataError(f"fold {fold.index}: {len(returns)} training returns are too few for CVaR scenarios")
    r = cfg.risk
    assert r.cvar_budget is not None
    scenarios = block_bootstrap_scenarios(
        returns.to_numpy(),
        r.cvar_scenarios,
        r.cvar_horizon_bars,
        r.cvar_block_length,
        seed=cfg.seed + fold.index,
    )
    return CvarBudget(tuple(prices.columns), scenarios, r.cvar_budget, r.cvar_alpha)


_EVENT_FILES = {"ModelSignal": "signals", "RegimeLabel": "regimes", "RiskDecisionEvent": "risk_decisions"}
"""Run-folder file name of each recorded event type."""


def collect_fold_events(work_dir: Path, folds: list[Fold]) -> dict[str, pd.DataFrame]:
    """Return each recorded event type of the folds' ML runs inside their test windows (with ``fold``)."""
    out: dict[str, pd.DataFrame] = {}
    for name in _EVENT_FILES:
        parts = []
        for fold in folds:
            path = work_dir / f"fold{fold.index:03d}-events" / f"{name}.parquet"
            if not path.exists():
                continue
            frame = pd.read_parquet(path)
            if frame.empty:
                continue
            last = fold.index == folds[-1].index
            upper = frame["ts"] <= fold.test_end if last else frame["ts"] < fold.test_end
            inside = (frame["ts"] >= fold.test_start) & upper
            parts.append(frame[inside].assign(fold=fold.index))
        out[name] = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"ts": []})
    return out


def _write_results(
    cfg: ExperimentConfig,
    run_id: str,
    run_dir: Path,
    folds: list[Fold],
    fold_infos: list[dict],
    results: dict[str, BacktestJobResult],
) -> WalkForwardResult:
    ppy = node_config.periods_per_year(cfg)
    baselines: list[str] = list(cfg.walkforward.baselines)
    ml_segments, fills, positions = [], [], []
    baseline_segments: dict[str, list[pd.Series]] = {b: [] for b in baselines}
    baseline_fills: dict[str, list[pd.DataFrame]] = {b: [] for b in baselines}
    for fold, info in zip(folds, fold_infos, strict=True):
        last = fold.index == folds[-1].index
        ml = results[f"ml-{fold.index}"]
        ml_eq = window_equity(ml.equity, fold, last)
        fold_fills = ml.fills[ml.fills["ts"] >= fold.test_start].assign(fold=fold.index)
        fold_positions = ml.positions.assign(fold=fold.index)
        ml_segments.append(ml_eq)
        fills.append(fold_fills)
        positions.append(fold_positions)
        info["metrics"] = compute_metrics(ml_eq, fold_fills, fold_positions, ppy=ppy)
        info["metrics"]["psr"] = out_of_sample_psr(simple_returns(ml_eq)) if len(ml_eq) > 1 else None
        for baseline in baselines:
            run = results[f"{baseline}-{fold.index}"]
            eq = window_equity(run.equity, fold, last)
            baseline_segments[baseline].append(eq)
            baseline_fills[baseline].append(
                run.fills[run.fills["ts"] >= fold.test_start].assign(fold=fold.index)
            )
            info[f"{baseline}_metrics"] = compute_metrics(eq, run.fills, run.positions, ppy=ppy)
            info[f"{baseline}_metrics"]["psr"] = (
                out_of_sample_psr(simple_returns(eq)) if len(eq) > 1 else None
            )
        info["orders"] = ml.total_orders
    trades = pd.concat(fills, ignore_index=True) if fills else pd.DataFrame()
    all_positions = pd.concat(positions, ignore_index=True) if positions else pd.DataFrame()
    balance = cfg.venue.starting_balance
    equity = stitch_equity(ml_segments, balance)
    curves = {b: stitch_equity(baseline_segments[b], balance) for b in baselines}
    metrics: dict[str, dict] = {"out_of_sample": compute_metrics(equity, trades, all_positions, ppy=ppy)}
    for baseline in baselines:
        baseline_trades = pd.concat(baseline_fills[baseline], ignore_index=True)
        metrics[baseline] = compute_metrics(curves[baseline], baseline_trades, None, ppy=ppy)
    overfitting = overfitting_statistics(
        candidate_returns({"strategy": equity, **curves}),
        "strategy",
        n_trials=cfg.walkforward.n_trials,
        trial_sharpe_variance=cfg.walkforward.trial_sharpe_variance,
        periods_per_year=ppy,
        pbo_splits=cfg.walkforward.pbo_splits,
    )
    summary = {
        "run_id": run_id,
        "config_hash": cfg.config_hash(),
        **metrics,
        "overfitting": overfitting,
        "folds": fold_infos,
    }
    atomic_write_text(run_dir / "metrics.json", json.dumps(summary, indent=2, default=str))
    atomic_write_text(run_dir / "folds.json", json.dumps(fold_infos, indent=2, default=str))
    columns: dict[str, Any] = {"ts": equity.index, "strategy": equity.to_numpy()}
    columns.update({b: curves[b].reindex(equity.index).to_numpy() for b in baselines})
    write_parquet_atomic(
        pd.DataFrame(columns),
        run_dir / "equity.parquet",
    )
    write_parquet_atomic(trades, run_dir / "trades.parquet")
    events = collect_fold_events(run_dir / "work", folds)
    for name, frame in events.items():
        write_parquet_atomic(frame, run_dir / f"{_EVENT_FILES[name]}.parquet")
    # the report reads the finished run folder (so `backtest scenarios` output can be added later)
    report_path = write_run_report(run_dir, title=f"Walk-forward: {cfg.name}")
    return WalkForwardResult(
        run_id, run_dir, report_path, {**metrics, "overfitting": overfitting}, fold_infos, trades
    )


# --------------------------------------------------------------------------------------------------
# Run manifest
# --------------------------------------------------------------------------------------------------

_MANIFEST_PACKAGES = ("nautilus_trader", "numpy", "pandas", "lightgbm", "torch")
"""Distributions whose versions the manifest records (None when one is not installed)."""


def code_version() -> dict[str, Any]:
    """Return the nautilus-ai version and, inside a git checkout, its commit and whether it is dirty.

    ``git_commit``/``git_dirty`` are None when the package does not live in a git work tree (an
    installed wheel) or git is missing. The dirty flag counts changes to tracked files only.
    """
    source = Path(nautilus_ai.__file__).resolve().parent
    commit: str | None = None
    dirty: bool | None = None
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, timeout=30, check=False
        )
        if head.returncode == 0:
            commit = head.stdout.strip()
            status = subprocess.run(
                ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"],
                cwd=source,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {"nautilus_ai": nautilus_ai.__version__, "git_commit": commit, "git_dirty": dirty}


def package_versions() -> dict[str, str | None]:
    """Return the Python version and the versions of the packages a run's results depend on."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _MANIFEST_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def file_sha256(path: Path) -> str:
    """Return the hex SHA-256 of the file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def catalog_files_read(
    catalog: str, data_configs: list[BacktestDataConfig], instruments: list[str]
) -> list[Path]:
    """Return the catalog files a run over ``data_configs`` reads, sorted and without repeats.

    The files of each feed are those NautilusTrader's catalog selects for the feed's data class,
    identifiers and time window; feeds selected by a row filter (no identifier) read every file
    of their data class. The instrument definitions of ``instruments`` are added.
    """
    cat = ParquetDataCatalog(catalog)
    files: set[str] = set()
    for config in data_configs:
        query = config.query
        data_cls = query["data_cls"]
        identifiers = query["identifiers"] or None
        listed = cat.get_file_list_from_data_cls(data_cls)
        files.update(cat.filter_files(data_cls, listed, identifiers, query["start"], query["end"]))
    kinds = {class_to_filename(cls) for cls in Instrument.__subclasses__()}
    data_root = Path(catalog) / "data"
    for iid in instruments:
        for kind in sorted(kinds):
            folder = data_root / kind / urisafe_identifier(iid)
            if folder.is_dir():
                files.update(str(p) for p in folder.glob("*.parquet"))
    return sorted(Path(f).resolve() for f in files)


def data_fingerprints(catalog: str, files: list[Path]) -> list[dict[str, Any]]:
    """Return path (relative to the catalog), byte size and SHA-256 of each file."""
    root = Path(catalog).resolve()
    return [
        {"path": path.relative_to(root).as_posix(), "bytes": path.stat().st_size, "sha256": file_sha256(path)}
        for path in files
    ]


def write_manifest(
    path: Path, cfg: ExperimentConfig, catalog: str, data_configs: list[BacktestDataConfig]
) -> dict[str, Any]:
    """Write the run manifest: code and package versions, config hash, seed and data fingerprints.

    Parameters
    ----------
    path : Path
        The ``manifest.json`` to write (atomically).
    cfg : ExperimentConfig
        The run's resolved config.
    catalog : str
        The catalog root the run reads.
    data_configs : list[BacktestDataConfig]
        The feeds of the run (the feature replay's: bars of every instrument, plus the market-event
        and alternative-data feeds; the test-window runs read the same feeds over shorter windows).

    Returns
    -------
    dict[str, Any]
        The manifest as written.
    """
    manifest = {
        "code": code_version(),
        "versions": package_versions(),
        "config_hash": cfg.config_hash(),
        "seed": cfg.seed,
        "catalog": str(Path(catalog).resolve()),
        "data": data_fingerprints(
            catalog, catalog_files_read(catalog, data_configs, list(cfg.data.instruments))
        ),
    }
    atomic_write_text(path, json.dumps(manifest, indent=2))
    return manifest
