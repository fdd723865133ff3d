"""Risk layer: pre-trade check latency, Monte Carlo CVaR cost per generator, and the stop-rule comparison.

    .venv/bin/python benchmarks/bench_risk.py                      # all three sections
    .venv/bin/python benchmarks/bench_risk.py --section gate       # or montecarlo / stops

Data: the StockNet daily files of ``../shared/data/bars_daily/stocknet`` if present, else the 10 bundled
ones. Returns are ``adj_close`` simple returns on the dates every instrument trades; only instruments
with the full 5-year history (2012-09-04 .. 2017-09-01, 1,258 bars) and no missing rows enter the
return matrix (58 of the 60 StockNet tickers: AGFS and GMRE list later), so "M = 58" is the widest book.
BLAS/OpenMP and torch run on one thread.

* ``gate``: latency of one :meth:`RiskGate.check` (limits + CVaR budget over ``N`` precomputed
  10-day horizon-return scenarios of ``M`` instruments, stationary block bootstrap, budget 1.1 x the
  CVaR95 of the current book) and of one bare :func:`cvar_check` on the same book move; the book
  holds random long/short exposures on every instrument, each intent buys or sells a random
  instrument's quantity worth 0-20% of equity, so the mix of accept / shrink / reject decisions is
  reported too. ``limits`` is the gate without a CVaR budget. p50/p99 over ``--checks`` intents
  after 20 warm-up calls.
* ``montecarlo``: wall time to draw ``N`` scenarios of 10 bars for ``M`` instruments from the whole
  history with each generator (fit included: Student-t dof by profile likelihood, GARCH(1,1) per
  instrument with ``arch``) and compute the CVaR95 of the equal-weight book. ``historical`` has one
  scenario per overlapping window (``T - 9``) whatever ``N``. Median of ``--repeats`` runs (GARCH: 1).
* ``stops``: :func:`nautilus_ai.risk.stop_comparison.compare_stop_methods` (train 24 months, test 6,
  ``H = 10``) on ``--tickers`` full-history tickers in alphabetical order after skipping
  ``--ticker-offset`` of them. The policy's defaults were chosen on the first 10 (see
  :class:`StopComparisonConfig`): ``--ticker-offset 20`` gives 20 tickers the choice never saw.
"""

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from nautilus_ai import test_kit  # noqa: E402
from nautilus_ai.risk.cvar import cvar_check, portfolio_cvar  # noqa: E402
from nautilus_ai.risk.gate import BookSnapshot, CvarBudget, RiskGate  # noqa: E402
from nautilus_ai.risk.limits import RiskLimits  # noqa: E402
from nautilus_ai.risk.montecarlo import (  # noqa: E402
    block_bootstrap_scenarios,
    default_block_length,
    garch_scenarios,
    historical_scenarios,
    horizon_returns,
    student_t_scenarios,
)
from nautilus_ai.risk.sizing import OrderIntent  # noqa: E402
from nautilus_ai.risk.stop_comparison import (  # noqa: E402
    StopComparisonConfig,
    compare_stop_methods,
    render_markdown_table,
)

torch.set_num_threads(1)

HORIZON = 10
SCENARIO_COUNTS = (1_000, 10_000)
BOOK_SIZES = (10, 58)
FULL_HISTORY = 1_258
SEED = 0
BUDGET_OVER_BOOK = 1.1


# -- data --------------------------------------------------------------------------------------------


def stocknet_folder() -> Path:
    shared = test_kit.shared_data_dir()
    if shared is not None and (shared / "bars_daily" / "stocknet").is_dir():
        return shared / "bars_daily" / "stocknet"
    return test_kit.bundled_data_dir() / "bars_daily" / "stocknet"


def read_bars(path: Path) -> pd.DataFrame:
    """One StockNet CSV as lower-case OHLCV columns on a UTC index of the 16:00 New York closes."""
    raw = pd.read_csv(path)
    raw.columns = [str(c).strip().lower().replace(" ", "_") for c in raw.columns]
    close_time = pd.to_datetime(raw.pop("date"), format="ISO8601") + pd.Timedelta(hours=16)
    frame = raw.astype("float64")
    frame.index = pd.DatetimeIndex(close_time).tz_localize("America/New_York").tz_convert("UTC")
    return frame.dropna()


def all_bars() -> dict[str, pd.DataFrame]:
    return {p.stem: read_bars(p) for p in sorted(stocknet_folder().glob("*.csv"))}


def return_matrix(bars: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``adj_close`` returns of the instruments with the full history, on the dates all of them trade."""
    full = {name: frame for name, frame in bars.items() if len(frame) >= FULL_HISTORY - 10}
    closes = pd.DataFrame({name: frame["adj_close"] for name, frame in full.items()}).dropna()
    return closes.pct_change().iloc[1:]


# -- timing helpers ----------------------------------------------------------------------------------


def percentiles_us(samples: list[float]) -> tuple[float, float]:
    values = np.asarray(samples) * 1e6
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def markdown(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# -- (a) pre-trade check latency ----------------------------------------------------------------------


def bench_gate(returns: pd.DataFrame, checks: int) -> str:
    rows: list[list[object]] = []
    equity = 1_000_000.0
    for n_instruments in BOOK_SIZES:
        if returns.shape[1] < n_instruments:
            continue
        names = list(returns.columns[:n_instruments])
        window = returns[names].to_numpy()
        rng = np.random.default_rng(SEED)
        exposures = rng.uniform(-1.0, 1.0, n_instruments)
        exposures *= 0.8 * equity / np.abs(exposures).sum()
        book = BookSnapshot(equity=equity, exposures=dict(zip(names, exposures.tolist(), strict=True)))
        prices = dict(zip(names, rng.uniform(20.0, 400.0, n_instruments).tolist(), strict=True))
        picks = rng.integers(0, n_instruments, checks + 20)
        fractions = rng.uniform(0.0, 0.2, checks + 20)
        sides = rng.choice(["BUY", "SELL"], checks + 20)
        limits = RiskLimits(max_position_weight=0.15, max_gross_leverage=1.5, max_net_leverage=1.0)
        cases: list[tuple[str, int, RiskGate]] = [("limits only", 0, RiskGate(limits))]
        for n_scenarios in SCENARIO_COUNTS:
            scenarios = horizon_returns(
                block_bootstrap_scenarios(
                    window, n_scenarios, HORIZON, default_block_length(window.shape[0]), SEED
                )
            )
            book_cvar = portfolio_cvar(exposures / equity, scenarios, 0.95)
            budget = CvarBudget(tuple(names), scenarios, budget=BUDGET_OVER_BOOK * book_cvar, alpha=0.95)
            cases.append(("RiskGate.check", n_scenarios, RiskGate(limits, cvar=budget)))
        for label, n_scenarios, gate in cases:
            timings: list[float] = []
            actions: dict[str, int] = {}
            for k in range(checks + 20):
                name = names[picks[k]]
                quantity = float(np.floor(fractions[k] * equity / prices[name]))
                intent = OrderIntent(str(sides[k]), quantity, quantity, "bench")
                start = time.perf_counter()
                decision = gate.check(intent, name, prices[name], book)
                elapsed = time.perf_counter() - start
                if k >= 20:
                    timings.append(elapsed)
                    actions[decision.action] = actions.get(decision.action, 0) + 1
            p50, p99 = percentiles_us(timings)
            mix = ", ".join(f"{a} {c}" for a, c in sorted(actions.items()))
            rows.append([label, n_instruments, n_scenarios or "-", f"{p50:.0f}", f"{p99:.0f}", mix])
            if gate.cvar is not None:
                scenarios = gate.cvar.scenarios
                current = exposures / equity
                timings = []
                actions = {}
                for k in range(checks + 20):
                    proposed = current.copy()
                    sign = 1.0 if sides[k] == "BUY" else -1.0
                    proposed[picks[k]] += sign * fractions[k]
                    start = time.perf_counter()
                    outcome = cvar_check(current, proposed, scenarios, gate.cvar.budget, 0.95)
                    elapsed = time.perf_counter() - start
                    if k >= 20:
                        timings.append(elapsed)
                        actions[outcome.action] = actions.get(outcome.action, 0) + 1
                p50, p99 = percentiles_us(timings)
                mix = ", ".join(f"{a} {c}" for a, c in sorted(actions.items()))
                rows.append(["cvar_check", n_instruments, n_scenarios, f"{p50:.0f}", f"{p99:.0f}", mix])
    header = ["check", "M instruments", "N scenarios", "p50 (µs)", "p99 (µs)", "decisions"]
    return markdown(header, rows)


# -- (b) Monte Carlo CVaR cost ------------------------------------------------------------------------


def draw_scenarios(name: str, window: np.ndarray, n_scenarios: int, block: float) -> np.ndarray:
    if name == "historical":
        return historical_scenarios(window, HORIZON)
    if name == "block bootstrap":
        return block_bootstrap_scenarios(window, n_scenarios, HORIZON, block, SEED)
    if name == "Student-t":
        return student_t_scenarios(window, n_scenarios, HORIZON, SEED)
    return garch_scenarios(window, n_scenarios, HORIZON, SEED)


def bench_montecarlo(returns: pd.DataFrame, repeats: int) -> str:
    rows: list[list[object]] = []
    for n_instruments in BOOK_SIZES:
        if returns.shape[1] < n_instruments:
            continue
        window = returns.iloc[:, :n_instruments].to_numpy()
        weights = np.full(n_instruments, 1.0 / n_instruments)
        block = default_block_length(window.shape[0])
        for n_scenarios in SCENARIO_COUNTS:
            generators = ("historical", "block bootstrap", "Student-t", "GARCH(1,1)-CCC")
            for name in generators:
                draw_scenarios(name, window[:, :2], 10, block)  # warm-up (imports, first-call costs)
                runs = 1 if name.startswith("GARCH") else repeats
                timings, draw_times = [], []
                for _ in range(runs):
                    start = time.perf_counter()
                    scenarios = draw_scenarios(name, window, n_scenarios, block)
                    drawn = time.perf_counter()
                    cvar = portfolio_cvar(weights, scenarios, 0.95)
                    end = time.perf_counter()
                    timings.append(end - start)
                    draw_times.append(drawn - start)
                rows.append(
                    [
                        name,
                        n_instruments,
                        scenarios.shape[0],
                        f"{np.median(draw_times) * 1e3:.1f}",
                        f"{(np.median(timings) - np.median(draw_times)) * 1e3:.1f}",
                        f"{np.median(timings) * 1e3:.1f}",
                        f"{cvar:.2%}",
                    ]
                )
    header = ["generator", "M", "N scenarios", "fit + draw (ms)", "CVaR (ms)", "total (ms)", "CVaR95 10d EW"]
    return markdown(header, rows)


# -- (c) stop-rule comparison -------------------------------------------------------------------------


def bench_stops(bars: dict[str, pd.DataFrame], n_tickers: int, offset: int) -> str:
    names = [n for n in sorted(bars) if len(bars[n]) >= FULL_HISTORY - 10][offset : offset + n_tickers]
    start = time.perf_counter()
    results = compare_stop_methods({n: bars[n] for n in names}, StopComparisonConfig())
    elapsed = time.perf_counter() - start
    return (
        f"tickers ({len(names)}): {', '.join(names)}\n\n"
        + render_markdown_table(results)
        + f"\n\nwall time: {elapsed:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--section", choices=("all", "gate", "montecarlo", "stops"), default="all")
    parser.add_argument("--checks", type=int, default=500, help="intents timed per gate case")
    parser.add_argument("--repeats", type=int, default=3, help="runs per Monte Carlo case (median)")
    parser.add_argument("--tickers", type=int, default=20, help="tickers in the stop comparison")
    parser.add_argument(
        "--ticker-offset", type=int, default=0, help="skip this many tickers (alphabetical) in the comparison"
    )
    args = parser.parse_args()

    bars = all_bars()
    returns = return_matrix(bars)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"numpy {np.__version__}, torch {torch.__version__}; data: {stocknet_folder()} "
        f"({len(bars)} files; return matrix {returns.shape[0]} x {returns.shape[1]})\n"
    )
    if args.section in ("all", "gate"):
        print("## (a) pre-trade check latency\n")
        print(bench_gate(returns, args.checks), "\n")
    if args.section in ("all", "montecarlo"):
        print(f"## (b) Monte Carlo CVaR, {HORIZON}-bar scenarios\n")
        print(bench_montecarlo(returns, args.repeats), "\n")
    if args.section in ("all", "stops"):
        print("## (c) stop rules out of sample (walk-forward)\n")
        print(bench_stops(bars, args.tickers, args.ticker_offset))


if __name__ == "__main__":
    main()
