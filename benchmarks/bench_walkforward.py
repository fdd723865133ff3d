"""Walk-forward backtest throughput: the nautilus-ai pipeline against a no-op NautilusTrader strategy.

    .venv/bin/python benchmarks/bench_walkforward.py          (or: make bench)

The bundled real data (10 StockNet daily files, 12,580 bars; FTX BTC-PERP 1-minute, 45,031 bars) is
ingested into a temporary catalog. For each dataset three cases run on the same catalog bars and
window, each in a fresh interpreter (``python bench_walkforward.py --case ...``):

* ``noop``      a strategy that subscribes to the same bars and does nothing (:class:`NoOpStrategy`);
* ``features``  the FeatureActors only (the feature replay, without the recorder);
* ``pipeline``  FeatureActor -> SignalActor -> MLStrategy (+ EquityRecorder), i.e. one walk-forward
                test window (``node_config.ml_run``), with a LightGBM model trained beforehand on the
                first half of the replayed features; trading starts at the second half;
* ``pipeline-omp1``  the same with ``OMP_NUM_THREADS=1`` in the child's environment (LightGBM's
                single-row predict without an OpenMP thread team; see docs/benchmarks.md).

Reported per case: process start-up (interpreter + imports), ``BacktestNode.build()``, data loading
(catalog read + ``add_data``), ``engine.run()`` (from ``BacktestResult.run_started/run_finished``),
post (the rest of ``BacktestNode.run()``: clearing data, results and statistics) and bars/s. The
headline ratio is ``pipeline bars/s / noop bars/s`` on ``engine.run()`` (the method of the
NautilusTrader guide: only the run is timed, logging bypassed); the ratio over build + load + run +
post is printed beside it. Finally one full ``run_walkforward`` on ``configs/demo.toml`` is timed end to end.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # so that "benchmarks.bench_walkforward:NoOpStrategy" imports by path
    sys.path.insert(0, str(REPO))

from _machine import machine_info  # noqa: E402
from nautilus_trader.config import ImportableStrategyConfig, StrategyConfig  # noqa: E402
from nautilus_trader.model.data import Bar, BarType  # noqa: E402
from nautilus_trader.trading.strategy import Strategy  # noqa: E402

from nautilus_ai.backtest import node_config  # noqa: E402
from nautilus_ai.config import ExperimentConfig, load_experiment  # noqa: E402

DEMO_CONFIG = REPO / "configs" / "demo.toml"
DATASETS = ("daily", "btc-1m")
CASES = ("noop", "features", "pipeline", "pipeline-omp1")
OMP1 = {"OMP_NUM_THREADS": "1"}
NOOP_PATH = "benchmarks.bench_walkforward"


class NoOpStrategyConfig(StrategyConfig, frozen=True):
    bar_types: list[str]


class NoOpStrategy(Strategy):
    """Subscribes to the bars and does nothing with them (the engine's baseline cost)."""

    def __init__(self, config: NoOpStrategyConfig) -> None:
        super().__init__(config)
        self.bars_seen = 0

    def on_start(self) -> None:
        for bar_type in self.config.bar_types:
            self.subscribe_bars(BarType.from_str(bar_type))

    def on_bar(self, bar: Bar) -> None:
        self.bars_seen += 1


# -- configs -----------------------------------------------------------------------------------------


def experiment(dataset: str, catalog: str) -> ExperimentConfig:
    """Return the demo experiment over ``dataset``: demo.toml as is, or its BTC 1-minute variant."""
    demo = load_experiment(DEMO_CONFIG).with_catalog(catalog)
    if dataset == "daily":
        return demo
    data = demo.data.model_copy(update={"instruments": ["BTC-PERP.FTX"], "bar_spec": "1-MINUTE-LAST"})
    return demo.model_copy(update={"name": "bench-btc-1m", "data": data})


def case_run_config(case: str, cfg: ExperimentConfig, catalog: str, work: Path):
    if case == "noop":
        noop = ImportableStrategyConfig(
            strategy_path=f"{NOOP_PATH}:NoOpStrategy",
            config_path=f"{NOOP_PATH}:NoOpStrategyConfig",
            config={"bar_types": cfg.data.bar_types()},
        )
        return node_config.run_config(cfg, catalog, start=None, end=None, strategies=[noop])
    if case == "features":
        return node_config.run_config(
            cfg, catalog, start=None, end=None, actors=node_config.feature_actor_configs(cfg)
        )
    model = json.loads((work / "model.json").read_text())  # pipeline, pipeline-omp1
    return node_config.ml_run(
        cfg,
        catalog,
        registry_path=str(work / "registry"),
        model_version=model["version"],
        start=model["start"],
        end=model["end"],
        trade_start=model["trade_start"],
        equity_path=str(work / "pipeline-equity.parquet"),
    )


# -- child: one case in a fresh interpreter ----------------------------------------------------------


def child(case: str, dataset: str, catalog: str, work: Path, spawned_at: float) -> None:
    from nautilus_trader.backtest.node import BacktestNode

    entered = time.time()
    cfg = experiment(dataset, catalog)
    run_cfg = case_run_config(case, cfg, catalog, work)
    t0 = time.perf_counter()
    node = BacktestNode(configs=[run_cfg])
    node.build()
    t1 = time.perf_counter()
    loading = [0.0]
    for name in ("load_data_config", "_load_engine_data"):  # time the catalog read and add_data
        node.__dict__[name] = _timed(getattr(node, name), loading)
    result = node.run()[0]
    t2 = time.perf_counter()
    engine_run = (result.run_finished - result.run_started) / 1e9
    out = {
        "startup_s": entered - spawned_at,
        "build_s": t1 - t0,
        "load_s": loading[0],
        "run_s": engine_run,
        "post_s": (t2 - t1) - loading[0] - engine_run,
        "node_s": t2 - t0,
        "iterations": result.iterations,
        "orders": result.total_orders,
        "positions": result.total_positions,
    }
    node.dispose()
    print("RESULT " + json.dumps(out), flush=True)


def _timed(function, total: list[float]):
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            total[0] += time.perf_counter() - t0

    return wrapper


def run_case(case: str, dataset: str, catalog: str, work: Path) -> dict:
    spawned = time.time()
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            *("--case", case, "--dataset", dataset, "--catalog", catalog),
            *("--work", str(work), "--spawned-at", repr(spawned)),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(OMP1 if case == "pipeline-omp1" else {})},
    )
    wall = time.time() - spawned
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"case {dataset}/{case} failed (exit {proc.returncode})")
    return {**json.loads(lines[-1][len("RESULT ") :]), "process_s": wall}


# -- parent ------------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, str]:
    import lightgbm

    return {**machine_info(), "lightgbm": lightgbm.__version__}


def ingest(catalog: Path) -> None:
    from nautilus_ai.catalog.ingest import IngestOptions, ingest_paths
    from nautilus_ai.catalog.instruments import load_instruments_file

    specs = load_instruments_file(REPO / "data" / "instruments.toml")
    paths = [REPO / "data" / "bars_daily", REPO / "data" / "bars_intraday"]
    ingest_paths(paths, catalog, specs, IngestOptions())


def prepare_model(dataset: str, catalog: str, work: Path) -> dict:
    """Replay the features, train a LightGBM model on the first half and register it."""
    import numpy as np
    import pandas as pd

    from nautilus_ai.backtest.runner import BacktestJob, run_jobs
    from nautilus_ai.backtest.walkforward import load_closes, training_frame
    from nautilus_ai.learning.model import DirectionClassifier
    from nautilus_ai.learning.registry import ModelRegistry

    cfg = experiment(dataset, catalog)
    features_path = work / "features.parquet"
    run_jobs([BacktestJob("features", node_config.feature_replay_run(cfg, catalog, str(features_path)))], 1)
    closes = load_closes(catalog, cfg)
    frame = training_frame(pd.read_parquet(features_path), closes, cfg.label.horizon_bars)
    times = pd.DatetimeIndex(sorted(set().union(*(c.index for c in closes.values()))))
    split = times[len(times) // 2]
    spec = cfg.features.to_spec()
    names = spec.feature_names()
    train = frame[(frame.index < split) & frame["fwd_return"].notna() & (frame["label_end"] < split)]
    t0 = time.perf_counter()
    model = DirectionClassifier(params=dict(cfg.model.params), seed=cfg.seed).fit(
        train[names].to_numpy(dtype=np.float64),
        train["fwd_return"].gt(0).astype(int).to_numpy(),
        names,
        spec.fingerprint(),
    )
    fit_s = time.perf_counter() - t0
    row = train[names].to_numpy(dtype=np.float64)[-1]
    model.predict_proba_one(row)
    calls = 200
    t0 = time.perf_counter()
    for _ in range(calls):
        model.predict_proba_one(row)
    predict_us = (time.perf_counter() - t0) / calls * 1e6
    version = ModelRegistry(work / "registry").register(
        model,
        name=cfg.model.name,
        train_start=str(times[0].isoformat()),
        train_end=str(split.isoformat()),
        seed=cfg.seed,
        params=dict(cfg.model.params),
    )
    info = {
        "version": version,
        "start": times[0].isoformat(),
        "end": times[-1].isoformat(),
        "trade_start": split.isoformat(),
        "bars": int(sum(len(c) for c in closes.values())),
        "train_rows": len(train),
        "fit_s": fit_s,
        "predict_one_us": predict_us,
    }
    (work / "model.json").write_text(json.dumps(info))
    return info


def time_demo_walkforward(catalog: str, out: Path) -> tuple[float, int, int]:
    from nautilus_ai.backtest.walkforward import run_walkforward

    cfg = load_experiment(DEMO_CONFIG).with_catalog(catalog)
    last: dict[str, int] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if last.get(stage) != done:
            last[stage] = done
            log(f"  demo walk-forward: {stage} {done}/{total}")

    t0 = time.perf_counter()
    result = run_walkforward(cfg, out, run_id="bench-demo", progress=progress)
    wall = time.perf_counter() - t0
    orders = sum(int(f.get("orders", 0)) for f in result.folds)
    return wall, len(result.folds), orders


def main() -> None:
    started = time.perf_counter()
    info = machine()
    print("nautilus-ai walk-forward benchmark")
    print(f"  date     {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"  machine  {info['cores']} cores, {info['cpu']}, {info['ram']} RAM, {info['os']}")
    print(
        f"  versions Python {info['python']}, NautilusTrader {info['nautilus_trader']}, "
        f"LightGBM {info['lightgbm']}"
    )
    tmp = Path(tempfile.mkdtemp(prefix="nautilus-ai-bench-"))
    try:
        catalog = tmp / "catalog"
        log("ingesting data/bars_daily and data/bars_intraday into a temporary catalog")
        t0 = time.perf_counter()
        ingest(catalog)
        log(f"  ingested in {time.perf_counter() - t0:.1f} s")
        rows = []
        models = {}
        for dataset in DATASETS:
            work = tmp / dataset
            work.mkdir()
            log(f"{dataset}: feature replay + LightGBM training on the first half")
            models[dataset] = model = prepare_model(dataset, str(catalog), work)
            log(
                f"  {model['bars']:,} bars, {model['train_rows']:,} training rows, "
                f"fit {model['fit_s']:.2f} s, predict_proba_one {model['predict_one_us']:.0f} us"
            )
            for case in CASES:
                log(f"{dataset}: case {case} (fresh process)")
                r = run_case(case, dataset, str(catalog), work)
                log(f"  engine.run {r['run_s']:.2f} s, process {r['process_s']:.1f} s")
                rows.append({"dataset": dataset, "bars": model["bars"], "case": case, **r})
        log("demo: run_walkforward on configs/demo.toml (end to end)")
        demo_wall, demo_folds, demo_orders = time_demo_walkforward(str(catalog), tmp / "runs")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print("Throughput per case (each case a fresh process; bars/s = bars / engine.run())")
    header = (
        f"{'dataset':<8} {'bars':>7} {'case':<14} {'start-up':>8} {'build':>6} {'load':>6} {'run':>8} "
        f"{'post':>6} {'bars/s':>8} {'ratio':>6} {'node bars/s':>11} {'ratio':>6} {'orders':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        noop = next(x for x in rows if x["dataset"] == r["dataset"] and x["case"] == "noop")
        rate = r["bars"] / r["run_s"]
        node_rate = r["bars"] / r["node_s"]
        ratio = rate / (noop["bars"] / noop["run_s"])
        node_ratio = node_rate / (noop["bars"] / noop["node_s"])
        orders = str(r["orders"]) if r["case"].startswith("pipeline") else ""
        print(
            f"{r['dataset']:<8} {r['bars']:>7,} {r['case']:<14} {r['startup_s']:>7.2f}s "
            f"{r['build_s']:>5.2f}s {r['load_s']:>5.2f}s {r['run_s']:>7.2f}s {r['post_s']:>5.2f}s "
            f"{rate:>8,.0f} {ratio:>6.3f} {node_rate:>11,.0f} {node_ratio:>6.3f} {orders:>6}"
        )
        if r["iterations"] != r["bars"]:
            print(f"  note: the engine iterated {r['iterations']:,} times for {r['bars']:,} bars")
    print()
    for dataset in DATASETS:
        noop = next(x for x in rows if x["dataset"] == dataset and x["case"] == "noop")
        for case in ("pipeline", "pipeline-omp1"):
            pipe = next(x for x in rows if x["dataset"] == dataset and x["case"] == case)
            print(
                f"{dataset}: {case} / no-op throughput = {noop['run_s'] / pipe['run_s']:.3f} (engine.run), "
                f"{noop['node_s'] / pipe['node_s']:.3f} (build + load + run + post); {pipe['orders']} orders"
            )
    print(
        "(pipeline-omp1 = the same run with OMP_NUM_THREADS=1 in the child: LightGBM's single-row predict "
        "without an OpenMP thread team)"
    )
    print()
    print(
        f"Demo walk-forward (configs/demo.toml, 10 stocks daily, run_walkforward end to end): "
        f"{demo_wall:.1f} s, {demo_folds} folds, {demo_orders} orders"
    )
    print(f"Benchmark total: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--dataset", choices=DATASETS, help=argparse.SUPPRESS)
    parser.add_argument("--catalog", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--spawned-at", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        child(args.case, args.dataset, args.catalog, Path(args.work), args.spawned_at)
    else:
        main()
