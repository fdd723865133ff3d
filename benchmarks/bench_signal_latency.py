"""Per-event inference latency of the staged signal model, stage by stage and inside a BacktestEngine.

    .venv/bin/python benchmarks/bench_signal_latency.py [--events 2000] [--tickers 3]

Real data: the bundled StockNet daily bars, turned into the default FeatureSpec's 9 features by the
batch twin of the FeatureActor; a 3-state HMM regime model fitted on AAPL gives every row its
filtered regime probabilities. Models are trained on 2012-09 .. 2015-06 (small epoch budgets: the
latency depends on the architecture, not on how long it trained) and timed on the later rows.

Per-event cases, each timed call by call (``perf_counter_ns``) over ``--events`` events after a
warm-up, on one CPU (the process is pinned with ``sched_setaffinity``, torch uses one thread):

* ``stage 1``          LightGBM ``predict_proba`` of one feature row;
* ``stage 1 top-k``    the TreeSHAP attributions of that row (what every signal carries);
* ``stage 2 LSTM``     ``predict_proba`` of one window (20 rows x 12 columns, hidden 32);
* ``stage 2 Transf.``  the same with the Transformer encoder (width 32, 2 heads, 1 layer);
* ``stage 3``          ``MetaModel.decide`` of one event (stacker + isotonic calibration);
* ``step (...)``       :meth:`StagedModel.step` as a whole, per instrument state: stage 1 only;
                       1+2+3 with the LSTM and with the Transformer; 1+2+3 without attributions;
* ``SignalActor``      a BacktestEngine replay of the bars of ``--tickers`` instruments through
                       FeatureActor → RegimeActor → SignalActor (1+2+3 LSTM, attributions on),
                       minus the same replay without the SignalActor, divided by the signals
                       published (engine.run() only, best of 2 runs each).

The ratios in the last column are measured in this one run against ``stage 1``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from _machine import cpu_model  # noqa: E402

from nautilus_ai import test_kit  # noqa: E402
from nautilus_ai.indicators.batch_features import batch_feature_frame  # noqa: E402
from nautilus_ai.indicators.feature_spec import FeatureSpec  # noqa: E402
from nautilus_ai.learning.regime_models import HMMRegimeModel, RegimeModel  # noqa: E402
from nautilus_ai.learning.sequence import make_sequences  # noqa: E402
from nautilus_ai.learning.staged import StagedModel, StagedState  # noqa: E402
from nautilus_ai.learning.train_staged import StagedParams, fit_staged  # noqa: E402

SPEC = FeatureSpec()
NAMES = SPEC.feature_names()
SPEC_HASH = SPEC.fingerprint()
TICKERS = ("AAPL", "MSFT", "XOM", "JPM", "GE", "AMZN", "BAC", "CSCO", "GOOG", "FB")
REGIME_FEATURES = ["ret_1", "rvol"]
TRAIN_END = pd.Timestamp("2015-06-01", tz="UTC")
STAGE1 = {"n_estimators": 200, "learning_rate": 0.03, "num_leaves": 15}
STAGE2 = {"window": 20, "hidden": 32, "max_epochs": 3, "patience": 2}
STAGE3 = {"calibration": "isotonic", "validation_fraction": 0.3}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> str:
    cpu = cpu_model()
    return f"{os.cpu_count()} cores, {cpu}, {platform.platform()}"


# -- data and models --------------------------------------------------------------------------------


def ticker_rows(ticker: str, regime_model: RegimeModel | None) -> pd.DataFrame:
    bars = test_kit.read_stocknet_daily(ticker)
    rows = batch_feature_frame(bars, SPEC)
    if regime_model is not None:
        rows[regime_columns(regime_model)] = regime_model.filter(rows[REGIME_FEATURES])
    log_close = np.log(bars["close"])
    rows["instrument_id"] = f"{ticker}.XNAS"
    rows["fwd_return"] = (log_close.shift(-1) - log_close).reindex(rows.index)
    rows["label_end"] = pd.Series(bars.index, index=bars.index).shift(-1).reindex(rows.index)
    return rows


def regime_columns(regime_model: RegimeModel) -> list[str]:
    return [f"regime_{name}" for name in regime_model.regime_names_]


def build(tickers: tuple[str, ...]) -> tuple[RegimeModel, pd.DataFrame, dict[str, StagedModel]]:
    aapl = batch_feature_frame(test_kit.read_stocknet_daily("AAPL"), SPEC)
    regime_model = HMMRegimeModel(3, seed=0, n_init=2).fit(
        aapl.loc[aapl.index < TRAIN_END, REGIME_FEATURES], spec_hash=SPEC_HASH
    )
    frame = pd.concat([ticker_rows(t, regime_model) for t in tickers]).sort_index(kind="stable")
    train = frame[(frame.index < TRAIN_END) & frame["fwd_return"].notna()]
    columns = regime_columns(regime_model)
    names = list(regime_model.regime_names_)
    models: dict[str, StagedModel] = {}
    for label, stage2, stage3 in (
        ("stage 1", None, None),
        ("1+2+3 LSTM", {"kind": "lstm", **STAGE2}, STAGE3),
        ("1+2+3 Transformer", {"kind": "transformer", "heads": 2, **STAGE2}, STAGE3),
    ):
        log(f"training {label}")
        params = StagedParams(kind="lightgbm", params=dict(STAGE1), top_k=3, stage2=stage2, stage3=stage3)
        models[label] = fit_staged(
            train,
            NAMES,
            SPEC_HASH,
            params,
            regime_columns=columns if stage3 else (),
            regime_names=names if stage3 else (),
            history=frame,
        )
    return regime_model, frame, models


# -- timing -----------------------------------------------------------------------------------------


def per_call_us(calls: list[Callable[[], object]], warmup: int = 50) -> np.ndarray:
    """Run every call once (after ``warmup`` of them), returning each call's duration in µs."""
    for call in calls[:warmup]:
        call()
    out = np.empty(len(calls))
    clock = time.perf_counter_ns
    for i, call in enumerate(calls):
        t0 = clock()
        call()
        out[i] = clock() - t0
    return out / 1e3


def step_calls(
    model: StagedModel, x: np.ndarray, regime: np.ndarray | None, groups: np.ndarray
) -> list[Callable[[], object]]:
    states: dict[str, StagedState] = {}

    calls: list[Callable[[], object]] = []
    for i, group in enumerate(groups):
        state = states.setdefault(group, model.new_state())
        calls.append(partial(model.step, state, x[i], None if regime is None else regime[i]))
    return calls


def stage_cases(frame: pd.DataFrame, models: dict[str, StagedModel], columns: list[str], events: int) -> dict:
    test = frame[frame.index >= TRAIN_END].iloc[:events]
    x = test[NAMES].to_numpy(dtype=np.float64)
    regime = test[columns].to_numpy(dtype=np.float64)
    groups = test["instrument_id"].to_numpy()
    stage1 = models["stage 1"].stage1
    lstm, transformer = models["1+2+3 LSTM"], models["1+2+3 Transformer"]
    assert lstm.stage2 is not None and transformer.stage2 is not None and lstm.meta is not None
    sequences, _ = make_sequences(np.hstack([x, regime]), STAGE2["window"], groups, dtype=np.float64)
    p1 = stage1.predict_proba(x)
    p2 = lstm.stage2.predict_proba(sequences)
    n = len(x)
    rows = [x[i : i + 1] for i in range(n)]
    windows = [sequences[i : i + 1] for i in range(n)]
    cases: dict[str, np.ndarray] = {}
    log("timing the stages")
    cases["stage 1"] = per_call_us([partial(stage1.predict_proba, r) for r in rows])
    cases["stage 1 top-k"] = per_call_us([partial(lstm.attributions, r[0]) for r in rows])
    cases["stage 2 LSTM"] = per_call_us([partial(lstm.stage2.predict_proba, w) for w in windows])
    cases["stage 2 Transformer"] = per_call_us(
        [partial(transformer.stage2.predict_proba, w) for w in windows]
    )
    cases["stage 3"] = per_call_us(
        [
            partial(lstm.meta.decide, p1[i : i + 1], p2=p2[i : i + 1], regime_probs=regime[i : i + 1])
            for i in range(n)
        ]
    )
    log("timing StagedModel.step")
    cases["step: stage 1"] = per_call_us(step_calls(models["stage 1"], x, None, groups))
    cases["step: 1+2+3 LSTM"] = per_call_us(step_calls(lstm, x, regime, groups))
    cases["step: 1+2+3 Transformer"] = per_call_us(step_calls(transformer, x, regime, groups))
    no_attributions = StagedModel.from_bytes(lstm.to_bytes())
    no_attributions.top_k = 0
    cases["step: 1+2+3 LSTM, top_k=0"] = per_call_us(step_calls(no_attributions, x, regime, groups))
    return cases


def engine_case(regime_model: RegimeModel, model: StagedModel, tickers: tuple[str, ...], root: Path) -> dict:
    from nautilus_ai.indicators.feature_actor import FeatureActor, FeatureActorConfig
    from nautilus_ai.learning.regime_actor import RegimeActor
    from nautilus_ai.learning.registry import ModelRegistry
    from nautilus_ai.learning.signal_actor import SignalActor, SignalActorConfig

    registry = ModelRegistry(root)
    version = registry.register(
        model, name="bench", train_start="2012-09-04", train_end="2015-06-01", seed=0, params={}
    )
    inputs = [(test_kit.stocknet_equity(t), *test_kit.stocknet_bars(t)) for t in tickers]

    def run(with_signals: bool) -> tuple[float, int]:
        engine = test_kit.make_backtest_engine([i for i, _, _ in inputs])
        actors = []
        for instrument, bar_type, bars in inputs:
            engine.add_data(bars)
            actors.append(
                FeatureActor(
                    FeatureActorConfig(
                        instrument_id=instrument.id,
                        bar_type=bar_type,
                        spec=SPEC,
                        component_id=f"Features-{instrument.id}",
                    )
                )
            )
            actors.append(
                RegimeActor.from_model(regime_model, instrument.id, component_id=f"Regime-{instrument.id}")
            )
            if with_signals:
                config = SignalActorConfig(
                    instrument_id=instrument.id,
                    registry_path=str(root),
                    model_version=version,
                    fail_on_mismatch=True,
                    component_id=f"Signal-{instrument.id}",
                )
                actors.append(SignalActor(config))
        for actor in actors:
            engine.add_actor(actor)
        try:
            t0 = time.perf_counter()
            engine.run()
            seconds = time.perf_counter() - t0
        finally:
            engine.dispose()
        published = sum(a.signals_published for a in actors if isinstance(a, SignalActor))
        return seconds, published

    log(f"timing the engine replay of {len(tickers)} instruments")
    baseline = min(run(False)[0] for _ in range(2))
    with_runs = [run(True) for _ in range(2)]
    seconds = min(s for s, _ in with_runs)
    published = with_runs[0][1]
    bars = sum(len(b) for _, _, b in inputs)
    return {"bars": bars, "signals": published, "baseline_s": baseline, "signal_s": seconds}


# -- report -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="events timed per case")
    parser.add_argument("--tickers", type=int, default=3, help="instruments (1-10) in the engine case")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*Timestamp.utcnow.*")
    started = time.perf_counter()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    torch.set_num_threads(1)
    tickers = TICKERS[: max(1, min(args.tickers, len(TICKERS)))]

    regime_model, frame, models = build(tickers)
    columns = regime_columns(regime_model)
    cases = stage_cases(frame, models, columns, args.events)
    with tempfile.TemporaryDirectory() as root:
        engine = engine_case(regime_model, models["1+2+3 LSTM"], tickers, Path(root))

    import lightgbm
    import nautilus_trader

    print("nautilus-ai signal latency benchmark")
    print(f"  date     {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"  machine  {machine()} (pinned to 1 CPU, torch threads 1)")
    print(
        f"  versions Python {platform.python_version()}, NautilusTrader {nautilus_trader.__version__}, "
        f"torch {torch.__version__}, LightGBM {lightgbm.__version__}"
    )
    print(
        f"  data     StockNet daily {', '.join(tickers)}; "
        f"{len(NAMES)} features + {len(columns)} regime columns"
    )
    print(
        f"  models   LightGBM {STAGE1}; stage 2 {STAGE2}; stage 3 {STAGE3}; "
        f"HMM {len(columns)} states; top_k 3"
    )
    print()
    header = (
        f"{'case':<28} {'events':>7} {'p50 us':>9} {'p99 us':>9} {'mean us':>9} "
        f"{'events/s':>10} {'x stage 1':>9}"
    )
    print(header)
    print("-" * len(header))
    reference = float(np.median(cases["stage 1"]))
    for name, values in cases.items():
        p50, p99, mean = np.percentile(values, 50), np.percentile(values, 99), values.mean()
        print(
            f"{name:<28} {len(values):>7} {p50:>9.1f} {p99:>9.1f} {mean:>9.1f} {1e6 / mean:>10,.0f} "
            f"{p50 / reference:>9.1f}"
        )
    extra = (engine["signal_s"] - engine["baseline_s"]) / max(engine["signals"], 1) * 1e6
    print(
        f"{'SignalActor in engine':<28} {engine['signals']:>7} {'':>9} {'':>9} {extra:>9.1f} "
        f"{1e6 / extra if extra > 0 else float('nan'):>10,.0f} {extra / reference:>9.1f}"
    )
    print()
    print(
        f"Engine replay of {engine['bars']:,} bars: FeatureActor+RegimeActor {engine['baseline_s']:.2f} s "
        f"({engine['baseline_s'] / engine['bars'] * 1e6:.0f} us/bar); with the SignalActor "
        f"{engine['signal_s']:.2f} s ({engine['signal_s'] / engine['bars'] * 1e6:.0f} us/bar, "
        f"{engine['signals']:,} signals). The SignalActor row is the difference per signal (mean only)."
    )
    print(f"Benchmark total: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
