"""Adversarial training: the plain staged model against the adversarially trained one, side by side.

    .venv/bin/python benchmarks/bench_adversarial.py            # 3 training seeds, engine replay of seed 0
    .venv/bin/python benchmarks/bench_adversarial.py --seeds 1 --no-engine   # a quick look

Data: the bundled StockNet daily bars of ``--symbols`` (default AAPL, MSFT, JPM, XOM, GE). Both models
learn on the same training window (2013-01-01 to 2015-06-01, labels purged at its end; the bars
before are the features' warm-up) with the same seed: LightGBM stage 1 and an LSTM stage 2 (window
10), no stage 3, so the LSTM's probability sets the direction. The adversarial one runs
:func:`nautilus_ai.learning.adversarial.adversarial_train` (``--rounds`` rounds: worst scenario of the
box on the training window, its stressed rows added, PGD examples of the stage-2 windows with radius
``--epsilon``); the plain one is its round-0 model. A control arm runs the same loop with a uniform
random point of the box per round instead of the adversary's search (``adversary="random"``): stress
augmentation without the minimax.

Both are then measured on the held-out window (2015-07-01 to 2017-09-01, never seen by either model
or by the adversary) unstressed and under stress scenarios with seeds the adversary never used:
stronger than the box (gap 15 %, volatility x3, spread 20 bp, feature noise 1 sd), of a kind outside
it (a 10 % flash crash recovered in 5 bars, :func:`nautilus_ai.backtest.scenarios.flash_crash`), a
full drift reversal, a combination, and the worst scenario of the box found by a fresh adversary
against each model on the held-out window. Gap, flash-crash, feature-noise and combined rows
average 5 seeded draws.

Two measurements:

* **vectorized** (every seed): :func:`nautilus_ai.learning.adversarial.evaluate_strategy`: the
  model's direction held from close to close, 1 bp per unit of turnover, equal weights.
* **engine** (seed 0, ``--no-engine`` skips it): both models registered, and the bar scenarios
  (unstressed, gap, volatility x3, drift reversal, flash crash) replayed through NautilusTrader with
  the whole chain (FeatureActor → SignalActor → MLStrategy, the default volatility-target sizing;
  the risk guard off: with it on, both models had stopped trading for good by late October 2015,
  after the guard's cuts in the August 2015 sell-off, so every later stress made no difference),
  each stressed test window written into its own catalog after the real warm-up
  (:func:`nautilus_ai.backtest.scenario_runner.write_scenario_catalog`), as ``backtest scenarios`` does.

torch, BLAS and OpenMP run on one thread.
"""

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from benchmarks._machine import log, machine_info  # noqa: E402
from nautilus_ai import test_kit  # noqa: E402
from nautilus_ai.backtest.scenarios import BAR_COLUMNS, flash_crash  # noqa: E402
from nautilus_ai.catalog.instruments import load_instruments_file  # noqa: E402
from nautilus_ai.indicators.feature_spec import FeatureSpec  # noqa: E402
from nautilus_ai.learning.adversarial import (  # noqa: E402
    AdversarialConfig,
    Scenario,
    StrategyEvaluation,
    adversarial_train,
    apply_scenario,
    evaluate_scenario,
    evaluate_strategy,
    search_worst_scenario,
)
from nautilus_ai.learning.staged import StagedModel  # noqa: E402
from nautilus_ai.learning.train_staged import StagedParams  # noqa: E402

TRAIN_START = pd.Timestamp("2013-01-01", tz="UTC")
TRAIN_END = pd.Timestamp("2015-06-01", tz="UTC")
TEST_START = pd.Timestamp("2015-07-01", tz="UTC")
TEST_END = pd.Timestamp("2017-09-02", tz="UTC")
HORIZON = 5
COST_BP = 1.0
POSITIONS = 5
"""Seeded positions averaged for the gap and flash-crash scenarios."""
HELD_OUT_SEED = 10_000
"""Base seed of the held-out scenarios (the adversary's rounds use :func:`round_seed`)."""
METRICS = ("sharpe", "total_return", "max_drawdown", "hit_rate", "turnover")


def model_params(seed: int) -> StagedParams:
    """Return the staged model of both arms."""
    return StagedParams(
        kind="lightgbm",
        params={"n_estimators": 100, "learning_rate": 0.05, "num_leaves": 7, "min_child_samples": 20},
        stage2={"kind": "lstm", "window": 10, "hidden": 16, "max_epochs": 20, "patience": 4},
        seed=seed,
    )


def instrument_ids(symbols: list[str]) -> list[str]:
    """Return the instrument ids of ``symbols`` in the bundled ``data/instruments.toml``."""
    specs = load_instruments_file(test_kit.bundled_data_dir() / "instruments.toml")
    by_symbol = {spec.id.split(".")[0]: spec.id for spec in specs}
    return [by_symbol[s] for s in symbols]


def load_bars(symbols: list[str]) -> dict[str, pd.DataFrame]:
    """Return each symbol's bundled daily OHLCV bars keyed by instrument id."""
    return {
        iid: test_kit.read_stocknet_daily(s)[list(BAR_COLUMNS)]
        for s, iid in zip(symbols, instrument_ids(symbols), strict=True)
    }


def flash_crash_bars(bars: dict[str, pd.DataFrame], seed: int) -> dict[str, pd.DataFrame]:
    """Return the bars with a 10 % flash crash (5-bar recovery) at a seeded bar of the test window."""
    warmup = {k: v[v.index < TEST_START] for k, v in bars.items()}
    window = {k: v[v.index >= TEST_START] for k, v in bars.items()}
    anchor = {k: float(v["close"].iloc[-1]) for k, v in warmup.items()}
    stressed, _ = flash_crash(window, anchor, 0.10, 5, seed)
    return {k: pd.concat([warmup[k], stressed[k]]) for k in bars}


def held_out_scenarios() -> dict[str, tuple[Scenario | None, int]]:
    """Return name → (scenario or None for the flash crash, number of seeded positions)."""
    return {
        "unstressed (normal OOS)": (Scenario(), 1),
        "gap -15 %": (Scenario(gap=0.15), POSITIONS),
        "volatility x3": (Scenario(volatility_multiplier=3.0), 1),
        "drift reversed": (Scenario(drift_reversal=1.0), 1),
        "flash crash -10 %": (None, POSITIONS),
        "spread +20 bp": (Scenario(spread_bp=20.0), 1),
        "feature noise 1 sd": (Scenario(feature_noise=1.0), POSITIONS),
        "combined (vol x2, gap 10 %, +10 bp, noise 0.5)": (
            Scenario(volatility_multiplier=2.0, gap=0.1, spread_bp=10.0, feature_noise=0.5),
            POSITIONS,
        ),
    }


def evaluate_held_out(
    model: StagedModel, bars: dict[str, pd.DataFrame], spec: FeatureSpec, config: AdversarialConfig
) -> dict[str, dict[str, float]]:
    """Return scenario name → mean metrics of ``model`` on the held-out window."""
    out: dict[str, dict[str, float]] = {}
    for name, (scenario, positions) in held_out_scenarios().items():
        runs: list[StrategyEvaluation] = []
        for k in range(positions):
            seed = HELD_OUT_SEED + k
            if scenario is None:
                runs.append(
                    evaluate_strategy(
                        model,
                        flash_crash_bars(bars, seed),
                        spec,
                        start=TEST_START,
                        end=TEST_END,
                        cost_bp=COST_BP,
                    )
                )
            else:
                runs.append(
                    evaluate_scenario(
                        model, bars, spec, scenario, seed, start=TEST_START, end=TEST_END, cost_bp=COST_BP
                    )
                )
        out[name] = {m: float(np.nanmean([r.metrics()[m] for r in runs])) for m in METRICS}

    def objective(scenario: Scenario) -> float:
        return evaluate_scenario(
            model, bars, spec, scenario, HELD_OUT_SEED, start=TEST_START, end=TEST_END, cost_bp=COST_BP
        ).objective(config.objective)

    found = search_worst_scenario(
        objective,
        config.bounds,
        trials=config.search_trials,
        refine_trials=config.refine_trials,
        seed=HELD_OUT_SEED,
    )
    worst = evaluate_scenario(
        model, bars, spec, found.scenario, HELD_OUT_SEED, start=TEST_START, end=TEST_END, cost_bp=COST_BP
    )
    out["worst case in the box (fresh adversary)"] = worst.metrics()
    out["worst case in the box (fresh adversary)"]["scenario"] = found.scenario.as_dict()  # type: ignore[assignment]
    return out


# ------------------------------------------------------------------------------------------ engine
def engine_replay(
    plain: StagedModel,
    adversarial: StagedModel,
    bars: dict[str, pd.DataFrame],
    symbols: list[str],
    work: Path,
    workers: int,
) -> dict[str, dict[str, dict[str, float]]]:
    """Replay both models through the engine on the held-out bar scenarios; name → arm → metrics."""
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    from nautilus_ai.backtest import node_config
    from nautilus_ai.backtest.folds import Fold
    from nautilus_ai.backtest.runner import BacktestJob, run_jobs
    from nautilus_ai.backtest.scenario_runner import load_bar_frames, path_metrics, write_scenario_catalog
    from nautilus_ai.learning.registry import ModelRegistry

    catalog = test_kit.demo_catalog(work, symbols)
    instruments = instrument_ids(symbols)
    cfg = test_kit.small_experiment(
        catalog,
        instruments,
        name="adversarial-bench",
        model={"name": "adv-bench", "stage2": {"enabled": True, "window": 10, "hidden": 16}},
        walkforward={"workers": workers, "runs_per_process": 1},
        risk={"guard": False},
    )
    registry = ModelRegistry(work / "registry")
    versions = {
        arm: registry.register(
            model,
            name=f"adv-bench-{arm}",
            train_start=TRAIN_START.isoformat(),
            train_end=TRAIN_END.isoformat(),
            seed=0,
            params={"arm": arm},
        )
        for arm, model in (("plain", plain), ("adversarial", adversarial))
    }
    frames = load_bar_frames(str(catalog), cfg)
    for iid, frame in frames.items():
        if not frame.index.equals(bars[iid].index):
            raise RuntimeError(f"{iid}: catalog bars and the CSV bars differ in their timestamps")
    warmup_start = TEST_START - pd.Timedelta(days=120)
    history = {iid: f[(f.index >= warmup_start) & (f.index < TEST_START)] for iid, f in frames.items()}
    events = {iid: f.loc[f.index >= TEST_START, "ts_event"] for iid, f in frames.items()}
    scenario_bars: dict[str, dict[str, pd.DataFrame]] = {
        "unstressed (normal OOS)": bars,
        "gap -15 %": apply_scenario(bars, Scenario(gap=0.15), HELD_OUT_SEED, start=TEST_START),
        "volatility x3": apply_scenario(
            bars, Scenario(volatility_multiplier=3.0), HELD_OUT_SEED, start=TEST_START
        ),
        "drift reversed": apply_scenario(bars, Scenario(drift_reversal=1.0), HELD_OUT_SEED, start=TEST_START),
        "flash crash -10 %": flash_crash_bars(bars, HELD_OUT_SEED),
    }
    source = ParquetDataCatalog(str(catalog))
    jobs, keys = [], []
    for number, (name, stressed) in enumerate(scenario_bars.items()):
        window = {iid: frame[frame.index >= TEST_START] for iid, frame in stressed.items()}
        scenario_catalog = write_scenario_catalog(
            work / "catalogs" / f"s{number}", source, cfg, history, window, events
        )
        for arm, version in versions.items():
            equity_path = str(work / f"s{number}-{arm}-equity.parquet")
            run = node_config.ml_run(
                cfg,
                str(scenario_catalog),
                registry_path=str(registry.root),
                model_version=version,
                start=warmup_start.isoformat(),
                end=TEST_END.isoformat(),
                trade_start=TEST_START.isoformat(),
                equity_path=equity_path,
            )
            jobs.append(BacktestJob(f"s{number}-{arm}", run, equity_path))
            keys.append((name, arm))
    log(f"engine: {len(jobs)} replays on {workers} workers")
    results = run_jobs(jobs, workers, None, 1)
    fold = Fold(0, TRAIN_START, TRAIN_END, TEST_START, TEST_END)
    ppy = node_config.periods_per_year(cfg)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for (name, arm), result in zip(keys, results, strict=True):
        metrics = {
            k: float(v) if v is not None else float("nan") for k, v in path_metrics(result, fold, ppy).items()
        }
        metrics["max_drawdown"] = abs(metrics["max_drawdown"])  # the engine's metrics give it negative
        out.setdefault(name, {})[arm] = metrics
    return out


# ------------------------------------------------------------------------------------------ report
def _fmt(value: float, kind: str) -> str:
    if not np.isfinite(value):
        return "n/a"
    if kind in ("total_return", "max_drawdown", "hit_rate"):
        return f"{100 * value:.1f} %"
    return f"{value:.2f}"


def vectorized_table(per_seed: list[dict[str, dict[str, dict[str, float]]]]) -> str:
    """Return the markdown table of the vectorized metrics, mean over training seeds."""
    names = list(per_seed[0]["plain"])
    lines = [
        "| scenario (held-out window) | Sharpe plain | Sharpe adv. | return plain | return adv. | "
        "max DD plain | max DD adv. | hit plain | hit adv. | turnover plain | turnover adv. | "
        "adv. beats plain (Sharpe) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        cells = []
        for metric in METRICS:
            for arm in ("plain", "adversarial"):
                cells.append(_fmt(float(np.mean([s[arm][name][metric] for s in per_seed])), metric))
        wins = sum(s["adversarial"][name]["sharpe"] > s["plain"][name]["sharpe"] for s in per_seed)
        lines.append(f"| {name} | {' | '.join(cells)} | {wins}/{len(per_seed)} |")
    return "\n".join(lines)


def control_table(per_seed: list[dict[str, dict[str, dict[str, float]]]]) -> str:
    """Return Sharpe and max drawdown of the three arms, mean over training seeds."""
    arms = ("plain", "adversarial", "random stress")
    lines = [
        "| scenario (held-out window) | "
        + " | ".join(f"Sharpe {a}" for a in arms)
        + " | "
        + " | ".join(f"max DD {a}" for a in arms)
        + " |",
        "|---|" + "---:|" * (2 * len(arms)),
    ]
    for name in per_seed[0]["plain"]:
        cells = [
            _fmt(float(np.mean([s[arm][name][metric] for s in per_seed])), metric)
            for metric in ("sharpe", "max_drawdown")
            for arm in arms
        ]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return "\n".join(lines)


def engine_table(engine: dict[str, dict[str, dict[str, float]]]) -> str:
    """Return the markdown table of the engine replays."""
    lines = [
        "| scenario (held-out window, engine) | Sharpe plain | Sharpe adv. | return plain | return adv. | "
        "max DD plain | max DD adv. | trades plain | trades adv. |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, arms in engine.items():
        p, a = arms["plain"], arms["adversarial"]
        lines.append(
            f"| {name} | {_fmt(p['sharpe'], 'sharpe')} | {_fmt(a['sharpe'], 'sharpe')} | "
            f"{_fmt(p['total_return'], 'total_return')} | {_fmt(a['total_return'], 'total_return')} | "
            f"{_fmt(p['max_drawdown'], 'max_drawdown')} | {_fmt(a['max_drawdown'], 'max_drawdown')} | "
            f"{p['n_trades']:.0f} | {a['n_trades']:.0f} |"
        )
    return "\n".join(lines)


def _progress(seed: int) -> Callable[[str, int, int], None]:
    def report(stage: str, done: int, total: int) -> None:
        log(f"seed {seed}: {stage} {done}/{total}")

    return report


def history_table(history: pd.DataFrame) -> str:
    """Return the per-round records as a markdown table."""
    columns = list(history.columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---:|" * len(columns)]
    for row in history.itertuples(index=False):
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Train both arms per seed, evaluate them side by side, print the tables (and write ``--out``)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--symbols", nargs="+", default=["AAPL", "MSFT", "JPM", "XOM", "GE"])
    parser.add_argument("--seeds", type=int, default=3, help="training seeds (0, 1, ...)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epsilon", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-engine", action="store_true", help="skip the engine replay")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.time()
    bars = load_bars(args.symbols)
    bars = {k: v[v.index < TEST_END] for k, v in bars.items()}
    spec = FeatureSpec()
    per_seed: list[dict[str, dict[str, dict[str, float]]]] = []
    histories = []
    models: dict[str, StagedModel] = {}
    train_seconds = []
    for seed in range(args.seeds):
        config = AdversarialConfig(rounds=args.rounds, sequence_epsilon=args.epsilon, seed=seed)
        tic = time.time()
        training = {k: v[v.index < TRAIN_END + pd.Timedelta(days=20)] for k, v in bars.items()}
        result = adversarial_train(
            training,
            spec,
            model_params(seed),
            config,
            train_start=TRAIN_START,
            train_end=TRAIN_END,
            horizon=HORIZON,
            progress=_progress(seed),
        )
        train_seconds.append(time.time() - tic)
        histories.append(result.history_frame().assign(seed=seed))
        control = adversarial_train(
            training,
            spec,
            model_params(seed),
            config.model_copy(update={"adversary": "random"}),
            train_start=TRAIN_START,
            train_end=TRAIN_END,
            horizon=HORIZON,
        )
        per_seed.append(
            {
                "plain": evaluate_held_out(result.plain_model, bars, spec, config),
                "adversarial": evaluate_held_out(result.model, bars, spec, config),
                "random stress": evaluate_held_out(control.model, bars, spec, config),
            }
        )
        log(f"seed {seed}: trained in {train_seconds[-1]:.0f} s, evaluated")
        if seed == 0:
            models = {"plain": result.plain_model, "adversarial": result.model}
    history = pd.concat(histories, ignore_index=True)
    print(f"## Adversarial training ({', '.join(args.symbols)}; {args.seeds} seeds; {args.rounds} rounds)\n")
    print("Minimax rounds (objective: annualized Sharpe on the training window, vectorized):\n")
    print(history_table(history))
    print("\nHeld-out window, vectorized evaluator (mean over training seeds):\n")
    print(vectorized_table(per_seed))
    print("\nControl: the same loop with a random point of the box per round instead of the search:\n")
    print(control_table(per_seed))
    for arm in ("plain", "adversarial", "random stress"):
        worst = [s[arm]["worst case in the box (fresh adversary)"]["scenario"] for s in per_seed]
        print(f"\nworst scenario in the box against {arm} (per seed): {worst}")
    sys.stdout.flush()
    engine = None
    if not args.no_engine:
        with tempfile.TemporaryDirectory(prefix="adv_bench_") as tmp:
            engine = engine_replay(
                models["plain"], models["adversarial"], bars, args.symbols, Path(tmp), args.workers
            )
        print("\nHeld-out window, NautilusTrader engine replay (seed 0):\n")
        print(engine_table(engine))
    elapsed = time.time() - started
    seconds = [round(s) for s in train_seconds]
    print(f"\nadversarial training seconds per seed (plain model included): {seconds}; total {elapsed:.0f} s")
    print(f"machine: {machine_info()}")
    if args.out is not None:
        args.out.write_text(
            json.dumps(
                {
                    "history": history.to_dict(orient="records"),
                    "vectorized": per_seed,
                    "engine": engine,
                    "elapsed_s": elapsed,
                    "machine": machine_info(),
                },
                indent=2,
                default=str,
            )
        )


if __name__ == "__main__":
    main()
