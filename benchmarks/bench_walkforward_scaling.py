"""Walk-forward scaling: wall time with 1 and 2 worker processes, and the full pipeline's throughput.

    .venv/bin/python benchmarks/bench_walkforward_scaling.py            (≈15 min on a 2-vCPU VM)
    .venv/bin/python benchmarks/bench_walkforward_scaling.py --part walkforward|throughput
    .venv/bin/python benchmarks/bench_walkforward_scaling.py --walkforward-stage2 off   (no LSTM training)

The bundled StockNet daily bars (the 10 stocks of ``configs/demo.toml``, 2012-09 to 2017-09, 12,580
bars) are ingested into a temporary catalog. Two parts, each case in a fresh interpreter
(``python bench_walkforward_scaling.py --child ...``):

1. **Walk-forward scaling.** ``run_walkforward`` on ``configs/demo.toml`` end to end (feature replay,
   6 folds of regime + staged-model training, 12 backtests, report) with ``[walkforward] workers`` = 1
   and = 2. Reported: the total wall time, the time of each stage (features, training, backtests,
   writing), the speed-up ``wall(1) / wall(2)`` of the whole run and of the backtest stage (the only
   parallel one), and whether both runs gave the same out-of-sample metrics.
2. **Pipeline throughput against a no-op strategy.** One staged model is trained like a walk-forward
   fold on the first half of the bars (HMM regimes, LightGBM stage 1, LSTM stage 2, Platt stage 3,
   the demo's risk layer) and the whole series is replayed through the full chain (FeatureActor →
   RegimeActor → SignalActor → MLStrategy + EquityRecorder, ``node_config.ml_run``), trading from the
   second half; the baseline is ``bench_walkforward.NoOpStrategy`` on the same bars. The code has no
   batched signal path (the SignalActor scores every event with ``StagedModel.step``; the batch
   ``predict_frame`` serves training only), so the variants are **stage 2 on** (the demo's model)
   and **stage 2 off** (stages 1 and 3). bars/s = bars / ``engine.run()``; ratio = case bars/s ÷
   no-op bars/s; *bars/CPU s* divides by the process's CPU time over ``BacktestNode.run()`` (load,
   run and results), which a busy machine distorts less than wall time. The no-op case runs first
   and last; its mean is used. ``stage2-on-omp1`` repeats stage 2 on with ``OMP_NUM_THREADS=1`` in
   the child (torch's and LightGBM's inference on one thread).
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
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # "benchmarks.bench_walkforward:NoOpStrategy" imports by path
    sys.path.insert(0, str(REPO))

from _machine import log, machine_info  # noqa: E402

from nautilus_ai.config import ExperimentConfig, load_experiment  # noqa: E402

DEMO_CONFIG = REPO / "configs" / "demo.toml"
WORKER_COUNTS = (1, 2)
CASES = ("noop", "stage2-on", "stage2-on-omp1", "stage2-off")
VARIANTS = ("stage2-on", "stage2-off")
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
NOOP_PATH = "benchmarks.bench_walkforward"


def demo_config(catalog: str, *, workers: int = 2, stage2: bool = True) -> ExperimentConfig:
    """Return ``configs/demo.toml`` over ``catalog`` with ``workers`` and stage 2 on or off."""
    cfg = load_experiment(DEMO_CONFIG).with_catalog(catalog)
    walkforward = cfg.walkforward.model_copy(update={"workers": workers})
    model = cfg.model.model_copy(update={"stage2": cfg.model.stage2.model_copy(update={"enabled": stage2})})
    return cfg.model_copy(update={"walkforward": walkforward, "model": model})


# -- children: one case in a fresh interpreter -------------------------------------------------------


def child_walkforward(catalog: str, work: Path, workers: int, stage2: bool) -> dict[str, Any]:
    """Run the demo walk-forward with ``workers`` processes and return its stage timings."""
    from nautilus_ai.backtest.walkforward import run_walkforward

    cfg = demo_config(catalog, workers=workers, stage2=stage2)
    first: dict[str, float] = {}
    last: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        first.setdefault(stage, now)
        last[stage] = now

    t0 = time.perf_counter()
    result = run_walkforward(cfg, work / f"runs-{workers}", run_id=f"workers-{workers}", progress=progress)
    t1 = time.perf_counter()
    oos = result.metrics["out_of_sample"]
    return {
        "wall_s": t1 - t0,
        "features_s": last["features"] - t0,
        "train_s": last["train"] - last["features"],
        "backtest_s": last["backtest"] - first["backtest"],
        "write_s": t1 - last["backtest"],
        "folds": len(result.folds),
        "orders": sum(int(f.get("orders", 0)) for f in result.folds),
        "metrics": {k: oos.get(k) for k in ("sharpe", "total_return", "max_drawdown", "n_trades")},
    }


def child_throughput(case: str, catalog: str, work: Path) -> dict[str, Any]:
    """Run one throughput case with a BacktestNode and return its timings."""
    from nautilus_trader.backtest.node import BacktestNode
    from nautilus_trader.config import ImportableStrategyConfig

    from nautilus_ai.backtest import node_config

    prepared = json.loads((work / "models.json").read_text())
    if case == "noop":
        cfg = demo_config(catalog)
        noop = ImportableStrategyConfig(
            strategy_path=f"{NOOP_PATH}:NoOpStrategy",
            config_path=f"{NOOP_PATH}:NoOpStrategyConfig",
            config={"bar_types": cfg.data.bar_types()},
        )
        run_cfg = node_config.run_config(
            cfg, catalog, start=prepared["start"], end=prepared["end"], strategies=[noop]
        )
    else:
        stage2 = case.startswith("stage2-on")
        variant = prepared["variants"]["stage2-on" if stage2 else "stage2-off"]
        cfg = demo_config(catalog, stage2=stage2)
        run_cfg = node_config.ml_run(
            cfg,
            catalog,
            registry_path=prepared["registry"],
            model_version=variant["version"],
            start=prepared["start"],
            end=prepared["end"],
            trade_start=prepared["trade_start"],
            equity_path=str(work / f"{case}-equity.parquet"),
            regime_version=prepared["regime_version"],
            payoff_ratio=variant["payoff_ratio"],
            cvar_scenarios_path=prepared["cvar_path"],
        )
    t0 = time.perf_counter()
    node = BacktestNode(configs=[run_cfg])
    node.build()
    t1 = time.perf_counter()
    cpu0 = time.process_time()
    result = node.run()[0]
    cpu = time.process_time() - cpu0
    t2 = time.perf_counter()
    node.dispose()
    return {
        "build_s": t1 - t0,
        "cpu_s": cpu,
        "run_s": (int(result.run_finished or 0) - int(result.run_started or 0)) / 1e9,
        "node_s": t2 - t0,
        "iterations": result.iterations,
        "orders": result.total_orders,
    }


def run_child(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run this script with ``--child ARGS`` in a fresh interpreter and return its RESULT line."""
    started = time.time()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"child {' '.join(args)} failed (exit {proc.returncode})")
    return {**json.loads(lines[-1][len("RESULT ") :]), "process_s": time.time() - started}


# -- parent ------------------------------------------------------------------------------------------


def ingest(catalog: Path) -> None:
    """Ingest the bundled StockNet daily bars into ``catalog``."""
    from nautilus_ai.catalog.ingest import IngestOptions, ingest_paths
    from nautilus_ai.catalog.instruments import load_instruments_file

    specs = load_instruments_file(REPO / "data" / "instruments.toml")
    ingest_paths([REPO / "data" / "bars_daily" / "stocknet"], catalog, specs, IngestOptions())


def prepare_models(catalog: str, work: Path) -> dict[str, Any]:
    """Train the regime model and the staged models (stage 2 on and off) on the first half of the bars.

    The training is a walk-forward fold's (``walkforward._run``, step 2) with one fold: train on the
    first half of the bar times, trade on the second half.
    """
    import pandas as pd

    from nautilus_ai.backtest import node_config
    from nautilus_ai.backtest.fold_models import fit_regime, fold_scores, regime_probabilities, staged_params
    from nautilus_ai.backtest.folds import Fold
    from nautilus_ai.backtest.runner import BacktestJob, run_jobs
    from nautilus_ai.backtest.walkforward import (
        fold_rows,
        load_closes,
        training_cvar_scenarios,
        training_frame,
        training_payoff_ratio,
    )
    from nautilus_ai.learning.registry import ModelRegistry
    from nautilus_ai.learning.train_staged import fit_staged

    cfg = demo_config(catalog)
    features_path = work / "features.parquet"
    run_jobs([BacktestJob("features", node_config.feature_replay_run(cfg, catalog, str(features_path)))], 1)
    closes = load_closes(catalog, cfg)
    frame = training_frame(pd.read_parquet(features_path), closes, cfg.label.horizon_bars)
    times = pd.DatetimeIndex(sorted(set().union(*(c.index for c in closes.values()))))
    split = times[len(times) // 2]
    fold = Fold(0, frame.index[0], split, split, times[-1])
    spec = cfg.features.to_spec()
    names = spec.feature_names()
    registry = ModelRegistry(work / "registry")
    train = fold_rows(frame, fold.train_start, fold.train_end)
    regime_model = fit_regime(cfg, train, spec.fingerprint(), None)
    probabilities = regime_probabilities(regime_model, frame, cfg.regime.features)
    fold_frame = frame.assign(**{c: probabilities[c].to_numpy() for c in probabilities.columns})
    regime_columns = list(probabilities.columns)
    train = fold_rows(fold_frame, fold.train_start, fold.train_end)
    regime_version = registry.register(
        regime_model,
        name=f"{cfg.model.name}-regime",
        train_start=fold.train_start.isoformat(),
        train_end=fold.train_end.isoformat(),
        seed=cfg.seed,
        params={"kind": cfg.regime.kind, **regime_model.get_params()},
    )
    cvar_path = training_cvar_scenarios(cfg, closes, fold).save(work / "cvar.npz")
    variants = {}
    for case in VARIANTS:
        variant_cfg = demo_config(catalog, stage2=case == "stage2-on")
        t0 = time.perf_counter()
        model = fit_staged(
            train,
            names,
            spec.fingerprint(),
            staged_params(variant_cfg),
            regime_columns=regime_columns,
            regime_names=tuple(regime_model.regime_names_),
            history=fold_frame,
        )
        fit_s = time.perf_counter() - t0
        payoff = training_payoff_ratio(
            fold_scores(model, fold_frame, names, regime_columns), fold_frame, fold
        )
        version = registry.register(
            model,
            name=f"{cfg.model.name}-{case}",
            train_start=fold.train_start.isoformat(),
            train_end=fold.train_end.isoformat(),
            seed=cfg.seed,
            params={"kind": cfg.model.kind, "stages": list(model.stages)},
        )
        variants[case] = {
            "version": version,
            "stages": list(model.stages),
            "payoff_ratio": payoff.payoff_ratio,
            "fit_s": fit_s,
        }
    prepared = {
        "registry": str(registry.root),
        "regime_version": regime_version,
        "cvar_path": str(cvar_path),
        "start": times[0].isoformat(),
        "end": times[-1].isoformat(),
        "trade_start": split.isoformat(),
        "bars": int(sum(len(c) for c in closes.values())),
        "train_rows": len(train),
        "variants": variants,
    }
    (work / "models.json").write_text(json.dumps(prepared))
    return prepared


def part_walkforward(catalog: str, tmp: Path, stage2: bool, order: tuple[int, ...] = WORKER_COUNTS) -> None:
    """Time the demo walk-forward with 1 and 2 workers (in ``order``) and print the speed-up."""
    rows = {}
    variant = "" if stage2 else " with [model.stage2] enabled = false"
    for workers in order:
        log(f"walk-forward: configs/demo.toml{variant}, workers = {workers} (fresh process)")
        kind = "walkforward" if stage2 else "walkforward-no-stage2"
        rows[workers] = r = run_child(kind, catalog, str(tmp), str(workers))
        log(f"  {r['wall_s']:.1f} s (backtests {r['backtest_s']:.1f} s)")
    print()
    print(f"Walk-forward, configs/demo.toml{variant} (10 StockNet stocks, daily), run_walkforward end to end")
    header = (
        f"{'workers':>7} {'wall':>8} {'features':>8} {'train':>8} {'backtests':>9} {'write':>7} "
        f"{'folds':>5} {'orders':>6}"
    )
    print(header)
    print("-" * len(header))
    for workers, r in rows.items():
        print(
            f"{workers:>7} {r['wall_s']:>7.1f}s {r['features_s']:>7.1f}s {r['train_s']:>7.1f}s "
            f"{r['backtest_s']:>8.1f}s {r['write_s']:>6.1f}s {r['folds']:>5} {r['orders']:>6}"
        )
    one, two = rows[1], rows[2]
    print(
        f"speed-up 1 -> 2 workers: whole run {one['wall_s'] / two['wall_s']:.2f}x, "
        f"backtest stage {one['backtest_s'] / two['backtest_s']:.2f}x"
    )
    same = one["metrics"] == two["metrics"] and one["orders"] == two["orders"]
    answer = "yes" if same else "NO"
    print(f"same out-of-sample metrics and orders with 1 and 2 workers: {answer} {one['metrics']}")


def part_throughput(catalog: str, tmp: Path) -> None:
    """Time the full pipeline (stage 2 on and off) against the no-op strategy on the same bars."""
    work = tmp / "throughput"
    work.mkdir()
    log("throughput: feature replay, regime and staged-model training on the first half")
    prepared = prepare_models(catalog, work)
    for case, variant in prepared["variants"].items():
        log(f"  {case}: stages {variant['stages']}, fit {variant['fit_s']:.1f} s")
    rows = {}
    noops = []
    # the no-op runs first and last (the machine's load drifts): its timings are the mean of both
    for case in (*CASES, "noop"):
        log(f"throughput: case {case} (fresh process)")
        r = run_child(
            "throughput", catalog, str(work), case, env=ONE_THREAD if case.endswith("omp1") else None
        )
        log(f"  engine.run {r['run_s']:.2f} s, {r['orders']} orders")
        if case == "noop":
            noops.append(r)
        rows[case] = r
    rows["noop"] = {
        **noops[0],
        **{k: (noops[0][k] + noops[1][k]) / 2 for k in ("build_s", "run_s", "node_s", "cpu_s")},
    }
    print(f"no-op engine.run: {noops[0]['run_s']:.2f} s first, {noops[1]['run_s']:.2f} s last (mean used)")
    bars = prepared["bars"]
    noop = rows["noop"]
    print()
    print(
        f"Full pipeline against a no-op strategy: {bars:,} bars (10 StockNet stocks, daily), "
        f"trading from {prepared['trade_start'][:10]}"
    )
    header = (
        f"{'case':<11} {'stages':<22} {'build':>6} {'run':>8} {'bars/s':>8} {'ratio':>6} "
        f"{'node bars/s':>11} {'ratio':>6} {'CPU':>8} {'bars/CPU s':>10} {'ratio':>6} {'orders':>6}"
    )
    print(header)
    print("-" * len(header))
    for case, r in rows.items():
        variant = "stage2-on" if case.startswith("stage2-on") else "stage2-off"
        stages = "-" if case == "noop" else "+".join(prepared["variants"][variant]["stages"])
        rate, node_rate = bars / r["run_s"], bars / r["node_s"]
        print(
            f"{case:<11} {stages:<22} {r['build_s']:>5.2f}s {r['run_s']:>7.2f}s {rate:>8,.0f} "
            f"{noop['run_s'] / r['run_s']:>6.3f} {node_rate:>11,.0f} {noop['node_s'] / r['node_s']:>6.3f} "
            f"{r['cpu_s']:>7.2f}s {bars / r['cpu_s']:>10,.0f} {noop['cpu_s'] / r['cpu_s']:>6.3f} "
            f"{r['orders']:>6}"
        )
        if r["iterations"] != bars:
            print(f"  note: the engine iterated {r['iterations']:,} times for {bars:,} bars")
    print(
        "(stage2-on-omp1 = stage2-on with OMP_NUM_THREADS=1 in the child: torch and LightGBM on one thread)"
    )
    on, off = rows["stage2-on"], rows["stage2-off"]
    print(
        f"stage 2 on / stage 2 off throughput: {off['run_s'] / on['run_s']:.3f} (engine.run), "
        f"{off['cpu_s'] / on['cpu_s']:.3f} (CPU time of BacktestNode.run)"
    )


def main(part: str, walkforward_stage2: bool, order: tuple[int, ...]) -> None:
    started = time.perf_counter()
    info = machine_info()
    print("nautilus-ai walk-forward scaling benchmark")
    print(f"  date     {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"  machine  {info['cores']} cores, {info['cpu']}, {info['ram']} RAM, {info['os']}")
    print(f"  versions Python {info['python']}, NautilusTrader {info['nautilus_trader']}")
    print(f"  load     {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min) at the start")
    tmp = Path(tempfile.mkdtemp(prefix="nautilus-ai-bench-scaling-"))
    try:
        catalog = tmp / "catalog"
        log("ingesting data/bars_daily/stocknet into a temporary catalog")
        ingest(catalog)
        if part in ("all", "walkforward"):
            part_walkforward(str(catalog), tmp, walkforward_stage2, order)
        if part in ("all", "throughput"):
            part_throughput(str(catalog), tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"Benchmark total: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("all", "walkforward", "throughput"), default="all")
    parser.add_argument(
        "--walkforward-stage2",
        choices=("on", "off"),
        default="on",
        help="stage 2 (LSTM) in the walk-forward part: off skips its per-fold training (faster)",
    )
    parser.add_argument(
        "--workers-order",
        choices=("1,2", "2,1"),
        default="1,2",
        help="order of the walk-forward runs (run both orders to average out a drifting machine load)",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, catalog_arg, work_arg, value = args.child
        if kind.startswith("walkforward"):
            out = child_walkforward(catalog_arg, Path(work_arg), int(value), kind == "walkforward")
        else:
            out = child_throughput(value, catalog_arg, Path(work_arg))
        print("RESULT " + json.dumps(out, default=str), flush=True)
    else:
        order = tuple(int(w) for w in args.workers_order.split(","))
        main(args.part, args.walkforward_stage2 == "on", order)
