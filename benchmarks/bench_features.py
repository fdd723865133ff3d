"""Feature build rate: the streaming FeatureActor against batch pandas/numpy twins, plus per-event costs.

    .venv/bin/python benchmarks/bench_features.py          (or: make bench)

Every case runs in a fresh interpreter (``python bench_features.py --case ...``):

* ``stream``  the FeatureActor (default FeatureSpec, 9 features) replayed in a NautilusTrader
              BacktestEngine, one actor per instrument; only ``engine.run()`` is timed;
* ``batch``   pandas/numpy batch twins of the same 9 features (``ret_h = log(close / close.shift(h))``,
              RSI and ATR as NautilusTrader computes them, EMA ratios via ``ewm(adjust=False)``, ``rvol``
              = rolling std of log returns, ``volume_z`` = rolling mean/std), one call per instrument; the
              process is pinned to one CPU (``sched_setaffinity``) and the data is in memory before timing;
* ``events``  per-event update cost, timed directly on the indicator objects: VPIN on real Binance
              BTCUSDT trade ticks, Microprice on real Binance quote ticks (both files repeated to
              ~200k events) and the FeatureActor's bar update (indicator ``handle_bar`` + ``on_bar``,
              publishing the vector on the message bus) on the FTX BTC-PERP 1-minute bars repeated.

Datasets: StockNet daily (all 60 files of ``../shared/data/bars_daily/stocknet`` if present, else the
10 bundled ones), the bundled FTX BTC-PERP 1-minute bars, and ``tiled``: the shape of Qlib's published
data-layer benchmark (800 instruments x 3,528 daily bars = 2.8M bars). Tiled is **derived** from the
real StockNet series: each synthetic instrument chains real series end to end (instrument ``k`` starts
with series ``k mod 60`` at a row offset, each next series rescaled to open at the previous one's
last close), on a synthetic business-day calendar. Only the batch path is timed on it; the streaming
time is extrapolated from the measured per-bar cost.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from _machine import machine_info  # noqa: E402

from nautilus_ai import test_kit  # noqa: E402
from nautilus_ai.indicators.feature_spec import FeatureSpec  # noqa: E402

SPEC = FeatureSpec()
FEATURES = SPEC.feature_names()
BTC_CSV = REPO / "data" / "bars_intraday" / "btc-perp-20211231-20220201_1m.csv"
TILED_INSTRUMENTS = 800
TILED_BARS = 3_528
EVENTS_TARGET = 200_000
QLIB = {"features": 14, "instruments": 800, "bars": 2_822_400, "seconds": 7.4}
CASES = (
    ("stream", "daily"),
    ("stream", "btc-1m"),
    ("batch", "daily"),
    ("batch", "btc-1m"),
    ("batch", "tiled"),
    ("batch", "tiled-wide"),
    ("events", "ticks"),
)


# -- data --------------------------------------------------------------------------------------------


def stocknet_folder() -> Path:
    shared = test_kit.shared_data_dir()
    if shared is not None and (shared / "bars_daily" / "stocknet").is_dir():
        return shared / "bars_daily" / "stocknet"
    return test_kit.bundled_data_dir() / "bars_daily" / "stocknet"


def read_stocknet(path: Path) -> pd.DataFrame:
    """One StockNet CSV as OHLCV stamped at the 16:00 New York close (UTC), prices rounded to cents."""
    raw = pd.read_csv(path)
    close_time = pd.to_datetime(raw["Date"]) + pd.Timedelta(hours=16)
    frame = pd.DataFrame(
        {
            "open": raw["Open"].round(2).to_numpy(),
            "high": raw["High"].round(2).to_numpy(),
            "low": raw["Low"].round(2).to_numpy(),
            "close": raw["Close"].round(2).to_numpy(),
            "volume": raw["Volume"].astype("float64").to_numpy(),
        },
        index=pd.DatetimeIndex(close_time).tz_localize("America/New_York").tz_convert("UTC"),
    )
    return frame.dropna()


def daily_frames() -> dict[str, pd.DataFrame]:
    return {p.stem: read_stocknet(p) for p in sorted(stocknet_folder().glob("*.csv"))}


def btc_frame() -> pd.DataFrame:
    raw = pd.read_csv(BTC_CSV)
    index = pd.DatetimeIndex(pd.to_datetime(raw["timestamp"])).tz_localize("UTC") + pd.Timedelta(minutes=1)
    return raw[["open", "high", "low", "close", "volume"]].set_axis(index)


def tiled_frames(series: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """Derived: 800 synthetic instruments x 3,528 bars, each chaining real series rescaled end to end."""
    calendar = pd.bdate_range("2004-01-02 21:00", periods=TILED_BARS, tz="UTC")
    arrays = [s[["open", "high", "low", "close", "volume"]].to_numpy() for s in series]
    frames = []
    for k in range(TILED_INSTRUMENTS):
        offset = (k // len(arrays)) * 37
        pieces, rows, last_close, j = [], 0, None, k
        while rows < TILED_BARS:
            piece = arrays[j % len(arrays)]
            piece = piece[offset % (len(piece) // 2) :] if j == k else piece
            piece = piece.copy()
            if last_close is not None:
                piece[:, :4] *= last_close / piece[0, 0]
            pieces.append(piece)
            rows += len(piece)
            last_close = piece[-1, 3]
            j += 1
        values = np.concatenate(pieces)[:TILED_BARS]
        frames.append(
            pd.DataFrame(values, index=calendar, columns=["open", "high", "low", "close", "volume"])
        )
    return frames


# -- batch twins -------------------------------------------------------------------------------------


def batch_features(high, low, close, volume) -> dict[str, object]:
    """The 9 default features over whole histories (Series, or DataFrames of instruments side by side)."""
    out: dict[str, object] = {}
    for h in SPEC.return_horizons:
        out[f"ret_{h}"] = np.log(close / close.shift(h))
    change = close.diff().fillna(0.0)  # NautilusTrader's RSI counts the first change as 0
    gain = change.clip(lower=0.0).ewm(span=SPEC.rsi_period, adjust=False).mean()
    loss = (-change).clip(lower=0.0).ewm(span=SPEC.rsi_period, adjust=False).mean()
    out["rsi"] = (1.0 - 1.0 / (1.0 + gain / loss)).where(loss != 0.0, 1.0)
    for n in SPEC.ema_periods:
        out[f"ema_ratio_{n}"] = close / close.ewm(span=n, adjust=False).mean() - 1.0
    previous = close.shift(1).fillna(close)  # the first true range is high - low
    true_range = np.maximum(previous, high) - np.minimum(low, previous)
    out["atr_ratio"] = true_range.rolling(SPEC.atr_period).mean() / close
    out["rvol"] = np.log(close / close.shift(1)).rolling(SPEC.volatility_window).std(ddof=1)
    rolling = volume.rolling(SPEC.volume_window)
    mean, std = rolling.mean(), rolling.std(ddof=1)
    out["volume_z"] = ((volume - mean) / std).where(std != 0.0, 0.0)
    return out


def batch_one(frame: pd.DataFrame) -> pd.DataFrame:
    f = batch_features(frame["high"], frame["low"], frame["close"], frame["volume"])
    return pd.DataFrame(f)[FEATURES]


# -- children ----------------------------------------------------------------------------------------


def child_batch(dataset: str) -> dict:
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    t0 = time.perf_counter()
    if dataset == "daily":
        frames = list(daily_frames().values())
    elif dataset == "btc-1m":
        frames = [btc_frame()]
    else:
        frames = tiled_frames(list(daily_frames().values()))
    load_s = time.perf_counter() - t0
    bars = sum(len(f) for f in frames)
    batch_one(frames[0])  # warm the code paths
    if dataset == "tiled-wide":
        fields = {c: pd.concat([f[c] for f in frames], axis=1, ignore_index=True) for c in frames[0].columns}
        t0 = time.perf_counter()
        result = batch_features(fields["high"], fields["low"], fields["close"], fields["volume"])
        build_s = time.perf_counter() - t0
        finite = sum(int(np.isfinite(v.to_numpy()).sum()) for v in result.values())
    else:
        t0 = time.perf_counter()
        results = [batch_one(f) for f in frames]
        build_s = time.perf_counter() - t0
        finite = sum(int(np.isfinite(r.to_numpy()).sum()) for r in results)
    return {
        "instruments": len(frames),
        "bars": bars,
        "load_s": load_s,
        "build_s": build_s,
        "values": bars * len(FEATURES),
        "finite_values": finite,
    }


def btc_instrument():
    from nautilus_trader.test_kit.providers import TestInstrumentProvider

    return TestInstrumentProvider.btcusdt_perp_binance()


def stream_inputs(dataset: str):
    from nautilus_trader.model.data import BarType

    if dataset == "daily":
        items = [(test_kit.stocknet_equity(s, "XNAS"), f) for s, f in daily_frames().items()]
        step = "1-DAY"
    else:
        items = [(btc_instrument(), btc_frame())]
        step = "1-MINUTE"
    inputs = []
    for instrument, frame in items:
        bar_type = BarType.from_str(f"{instrument.id}-{step}-LAST-EXTERNAL")
        inputs.append((instrument, bar_type, test_kit.wrangle_bars(bar_type, instrument, frame)))
    return inputs


def child_stream(dataset: str) -> dict:
    from nautilus_ai.indicators.feature_actor import FeatureActor, FeatureActorConfig

    t0 = time.perf_counter()
    inputs = stream_inputs(dataset)
    engine = test_kit.make_backtest_engine([i for i, _, _ in inputs])
    all_bars = sorted((b for _, _, bars in inputs for b in bars), key=lambda b: b.ts_init)
    engine.add_data(all_bars)
    actors = []
    for instrument, bar_type, _ in inputs:
        config = FeatureActorConfig(
            component_id=f"FeatureActor-{instrument.id}",
            instrument_id=instrument.id,
            bar_type=bar_type,
            spec=SPEC,
        )
        actor = FeatureActor(config)
        engine.add_actor(actor)
        actors.append(actor)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine.run()
    build_s = time.perf_counter() - t0
    vectors = sum(a.vectors_published for a in actors)
    engine.dispose()
    return {
        "instruments": len(inputs),
        "bars": len(all_bars),
        "load_s": load_s,
        "build_s": build_s,
        "values": vectors * len(FEATURES),
        "finite_values": vectors * len(FEATURES),
    }


def time_per_event(update, events: list, repeats: int) -> tuple[int, float]:
    for event in events[:1000]:  # warm up
        update(event)
    t0 = time.perf_counter()
    for _ in range(repeats):
        for event in events:
            update(event)
    return repeats * len(events), time.perf_counter() - t0


def child_events() -> dict:
    from nautilus_trader.model.data import QuoteTick, TradeTick
    from nautilus_trader.model.enums import AggressorSide
    from nautilus_trader.model.identifiers import TradeId
    from nautilus_trader.model.objects import Price, Quantity
    from nautilus_trader.test_kit.providers import TestInstrumentProvider

    from nautilus_ai.indicators.feature_actor import FeatureActor, FeatureActorConfig
    from nautilus_ai.indicators.microprice import Microprice
    from nautilus_ai.indicators.vpin import VPIN

    shared = test_kit.shared_data_dir()
    if shared is None:
        raise SystemExit("events case needs ../shared/data (ticks_trades, ticks_quotes)")
    instrument_id = TestInstrumentProvider.btcusdt_binance().id
    trades = pd.read_parquet(shared / "ticks_trades" / "btcusdt-trades.parquet")
    quotes = pd.read_parquet(shared / "ticks_quotes" / "btcusdt-quotes.parquet")
    trade_ticks = [
        TradeTick(
            instrument_id,
            Price(p, 2),
            Quantity(q, 6),
            AggressorSide.SELLER if str(m) == "True" else AggressorSide.BUYER,
            TradeId(str(i)),
            int(t.value),
            int(t.value),
        )
        for p, q, m, i, t in zip(
            trades["price"],
            trades["quantity"],
            trades["buyer_maker"],
            trades["trade_id"],
            trades["timestamp"],
            strict=True,
        )
    ]
    quote_ticks = [
        QuoteTick(
            instrument_id,
            Price(b, 2),
            Price(a, 2),
            Quantity(bs, 6),
            Quantity(az, 6),
            int(t.value),
            int(t.value),
        )
        for b, a, bs, az, t in zip(
            quotes["bid"],
            quotes["ask"],
            quotes["bid_size"],
            quotes["ask_size"],
            quotes["timestamp"],
            strict=True,
        )
    ]
    out = {}
    vpin = VPIN(float(trades["quantity"].mean()) * 50, n_buckets=50, source="trades")
    n, s = time_per_event(vpin.handle_trade_tick, trade_ticks, math.ceil(EVENTS_TARGET / len(trade_ticks)))
    out["vpin"] = {"events": n, "seconds": s, "source": f"{len(trade_ticks):,} Binance BTCUSDT trades"}
    microprice = Microprice()
    n, s = time_per_event(
        microprice.handle_quote_tick, quote_ticks, math.ceil(EVENTS_TARGET / len(quote_ticks))
    )
    out["microprice"] = {"events": n, "seconds": s, "source": f"{len(quote_ticks):,} Binance BTCUSDT quotes"}

    ((instrument, bar_type, bars),) = stream_inputs("btc-1m")
    engine = test_kit.make_backtest_engine([instrument])
    actor = FeatureActor(FeatureActorConfig(instrument_id=instrument.id, bar_type=bar_type, spec=SPEC))
    engine.add_actor(actor)  # registers it with the message bus, clock and cache (not started)
    indicators = list(actor._indicators)

    def bar_update(bar) -> None:
        for indicator in indicators:  # what register_indicator_for_bars does before on_bar
            indicator.handle_bar(bar)
        actor.on_bar(bar)

    n, s = time_per_event(bar_update, bars, math.ceil(EVENTS_TARGET / len(bars)))
    out["feature_actor_bar"] = {
        "events": n,
        "seconds": s,
        "source": f"{len(bars):,} FTX BTC-PERP 1-minute bars",
        "vectors": actor.vectors_published,
    }
    engine.dispose()
    return out


# -- parent ------------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, str]:
    return {**machine_info(), "pandas": pd.__version__, "numpy": np.__version__}


def run_case(case: str, dataset: str) -> dict:
    spawned = time.time()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, __file__, "--case", case, "--dataset", dataset],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"case {case}/{dataset} failed (exit {proc.returncode})")
    return {**json.loads(lines[-1][len("RESULT ") :]), "process_s": time.time() - spawned}


def main() -> None:
    started = time.perf_counter()
    info = machine()
    print("nautilus-ai feature build benchmark")
    print(f"  date     {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"  machine  {info['cores']} cores, {info['cpu']}, {info['ram']} RAM, {info['os']}")
    print(
        f"  versions Python {info['python']}, NautilusTrader {info['nautilus_trader']}, "
        f"pandas {info['pandas']}, numpy {info['numpy']}"
    )
    print(f"  daily    {stocknet_folder()} ({len(list(stocknet_folder().glob('*.csv')))} files)")
    print(f"  features {len(FEATURES)}: {', '.join(FEATURES)}")
    rows, events = [], {}
    for case, dataset in CASES:
        log(f"case {case} / {dataset} (fresh process)")
        r = run_case(case, dataset)
        if case == "events":
            events = r
        else:
            rows.append({"case": case, "dataset": dataset, **r})
            log(f"  {r['bars']:,} bars in {r['build_s']:.3f} s (process {r['process_s']:.1f} s)")

    print()
    print("Feature build (streaming: engine.run() of FeatureActor replay; batch: pandas twins, 1 CPU)")
    header = (
        f"{'path':<7} {'dataset':<11} {'instr':>5} {'bars':>10} {'load':>7} {'build':>8} "
        f"{'bars/s':>11} {'values/s':>12} {'us/bar':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['case']:<7} {r['dataset']:<11} {r['instruments']:>5} {r['bars']:>10,} {r['load_s']:>6.2f}s "
            f"{r['build_s']:>7.3f}s {r['bars'] / r['build_s']:>11,.0f} {r['values'] / r['build_s']:>12,.0f} "
            f"{r['build_s'] / r['bars'] * 1e6:>7.2f}"
        )
    n = len(FEATURES)
    print(f"(values/s: streaming counts the published vectors x {n} (none in the warm-up); batch counts")
    print(f" bars x {n} including the warm-up NaNs. tiled = per-instrument calls, tiled-wide = one call")
    print(" on 3,528 x 800 frames. tiled is DERIVED from the real StockNet series, see the docstring.)")

    stream_cost = max(r["build_s"] / r["bars"] for r in rows if r["case"] == "stream")
    stream_best = min(r["build_s"] / r["bars"] for r in rows if r["case"] == "stream")
    tiled = {r["dataset"]: r for r in rows if r["dataset"].startswith("tiled")}
    tiled_bars = TILED_INSTRUMENTS * TILED_BARS
    print()
    print(
        f"Qlib-shaped build ({TILED_INSTRUMENTS} x {TILED_BARS:,} = {TILED_INSTRUMENTS * TILED_BARS:,} bars, "
        f"{len(FEATURES)} features, 1 CPU): batch {tiled['tiled']['build_s']:.2f} s per instrument, "
        f"{tiled['tiled-wide']['build_s']:.2f} s wide; streaming extrapolated (not measured) "
        f"{stream_best * tiled_bars:.0f}-{stream_cost * tiled_bars:.0f} s "
        f"from {stream_best * 1e6:.0f}-{stream_cost * 1e6:.0f} us/bar"
    )
    print(
        f"Qlib's published figure: {QLIB['features']} features, {QLIB['instruments']} instruments x 14 years "
        f"daily (~{QLIB['bars']:,} bars), {QLIB['seconds']} s on 1 CPU with its cache (their hardware)"
    )

    print()
    print("Per-event update cost (timed directly on the indicator objects)")
    header = f"{'indicator':<20} {'events':>9} {'seconds':>8} {'us/event':>9}  source"
    print(header)
    print("-" * len(header))
    for name, e in events.items():
        if name == "process_s":
            continue
        print(
            f"{name:<20} {e['events']:>9,} {e['seconds']:>7.3f}s {e['seconds'] / e['events'] * 1e6:>9.2f}  "
            f"{e['source']} repeated"
        )
    print(f"Benchmark total: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted({c for c, _ in CASES}), help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case == "batch":
        print("RESULT " + json.dumps(child_batch(args.dataset)), flush=True)
    elif args.case == "stream":
        print("RESULT " + json.dumps(child_stream(args.dataset)), flush=True)
    elif args.case == "events":
        print("RESULT " + json.dumps(child_events()), flush=True)
    else:
        main()
