"""Run BacktestNode jobs, each in its own process, and collect their results.

NautilusTrader's engine is single-threaded and grows memory across runs in one process, so every
run gets a fresh process (``spawn``); independent runs go to a process pool (ARCHITECTURE rule 7).
"""

import multiprocessing
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from nautilus_trader.backtest.config import BacktestRunConfig
from nautilus_trader.backtest.node import BacktestNode

from nautilus_ai.errors import ConfigError

FILL_COLUMNS = ["ts", "instrument_id", "side", "quantity", "price", "notional", "commission", "strategy_id"]


@dataclass
class BacktestJob:
    """One BacktestNode run: its config and the equity file its EquityRecorder writes (if any)."""

    tag: str
    run_config: BacktestRunConfig
    equity_path: str | None = None


@dataclass
class BacktestJobResult:
    """What a run produced: fills, closed positions, the equity samples and counts."""

    tag: str
    fills: pd.DataFrame
    positions: pd.DataFrame
    equity: pd.Series | None
    total_orders: int
    total_events: int
    wall_seconds: float
    errors: list[str] = field(default_factory=list)


def run_backtest_job(job: BacktestJob) -> BacktestJobResult:
    """Run ``job`` in this process with a BacktestNode and return its results."""
    started = time.perf_counter()
    node = BacktestNode(configs=[job.run_config])
    try:
        results = node.run()
        engine = node.get_engine(job.run_config.id)
        if engine is None:
            raise RuntimeError(f"backtest {job.tag}: BacktestNode has no engine for run {job.run_config.id}")
        fills = fills_frame(engine.trader.generate_order_fills_report(), engine)
        positions = positions_frame(engine.trader.generate_positions_report())
        result = results[0]
        equity = None
        if job.equity_path is not None and Path(job.equity_path).exists():
            frame = pd.read_parquet(job.equity_path)
            equity = pd.Series(frame["equity"].to_numpy(), index=pd.DatetimeIndex(frame["ts"]), name="equity")
        return BacktestJobResult(
            tag=job.tag,
            fills=fills,
            positions=positions,
            equity=equity,
            total_orders=result.total_orders,
            total_events=result.total_events,
            wall_seconds=time.perf_counter() - started,
        )
    finally:
        node.dispose()


def fills_frame(report: pd.DataFrame, engine: object) -> pd.DataFrame:
    """Return NautilusTrader's order-fills report as nautilus-ai's fills table (:data:`FILL_COLUMNS`)."""
    if report is None or report.empty:
        return pd.DataFrame(columns=FILL_COLUMNS)
    cache = engine.cache  # type: ignore[attr-defined]
    rows = []
    for _, r in report.iterrows():
        instrument = cache.instrument(_instrument_id(r["instrument_id"]))
        qty = float(r["filled_qty"])
        price = float(r["avg_px"])
        multiplier = instrument.multiplier.as_double() if instrument is not None else 1.0
        rows.append(
            {
                "ts": pd.Timestamp(r["ts_last"]),
                "instrument_id": str(r["instrument_id"]),
                "side": str(r["side"]),
                "quantity": qty,
                "price": price,
                "notional": abs(qty * price * multiplier),
                "commission": _money_total(r.get("commissions")),
                "strategy_id": str(r["strategy_id"]),
            }
        )
    return pd.DataFrame(rows, columns=FILL_COLUMNS).sort_values("ts", kind="stable").reset_index(drop=True)


def positions_frame(report: pd.DataFrame) -> pd.DataFrame:
    """Return the closed positions (round trips) with their realized PnL as floats."""
    columns = ["instrument_id", "ts_opened", "ts_closed", "side", "realized_pnl"]
    if report is None or report.empty:
        return pd.DataFrame(columns=columns)
    closed = report[report["ts_closed"].notna()] if "ts_closed" in report else report
    return pd.DataFrame(
        {
            "instrument_id": closed["instrument_id"].astype(str).to_numpy(),
            "ts_opened": pd.to_datetime(closed["ts_opened"], utc=True).to_numpy(),
            "ts_closed": pd.to_datetime(closed["ts_closed"], utc=True).to_numpy(),
            "side": closed["entry"].astype(str).to_numpy() if "entry" in closed else "",
            "realized_pnl": [_money_total(v) for v in closed["realized_pnl"]],
        },
        columns=columns,
    )


def _instrument_id(value: object) -> object:
    from nautilus_trader.model.identifiers import InstrumentId

    return value if isinstance(value, InstrumentId) else InstrumentId.from_str(str(value))


def _money_total(value: object) -> float:
    """Return the amount of a Money, a '12.34 USD' string or a list of them (0.0 when empty)."""
    if value is None:
        return 0.0
    if isinstance(value, list | tuple):
        return sum(_money_total(v) for v in value)
    if hasattr(value, "as_double"):
        return float(value.as_double())
    text = str(value).strip().strip("[]")
    if not text:
        return 0.0
    return sum(float(part.split()[0]) for part in text.split(",") if part.strip())


def run_jobs(
    jobs: Sequence[BacktestJob],
    workers: int,
    on_done: Callable[[BacktestJobResult], None] | None = None,
    runs_per_process: int = 8,
    ray_address: str | None = None,
) -> list[BacktestJobResult]:
    """Run ``jobs`` in ``workers`` processes, or on a Ray cluster, and return the results in job order.

    Each worker process runs at most ``runs_per_process`` backtests one after the other and is
    then replaced by a fresh one, which bounds NautilusTrader's memory growth across runs while
    paying the interpreter start-up (≈3 s of imports) once per batch instead of once per run.
    ``runs_per_process=1`` gives every run a clean interpreter. A ``multiprocessing`` pool is
    used because ``concurrent.futures`` with ``max_tasks_per_child`` can hang on Python 3.12.1.
    The first failing job's exception is raised and the pool is terminated.

    With ``ray_address`` the jobs run as Ray tasks on that cluster instead, one run per Ray worker
    process (:func:`nautilus_ai.backtest.ray_runner.run_jobs_on_ray`); the cluster's CPUs set the
    parallelism and ``workers`` and ``runs_per_process`` are not used. The results are the same.

    Parameters
    ----------
    jobs : Sequence[BacktestJob]
        The runs; their tags must be unique.
    workers : int
        Local worker processes (at least 1).
    on_done : Callable[[BacktestJobResult], None], optional
        Called with each result as its run completes, in completion order.
    runs_per_process : int, default 8
        Runs a local worker process does before it is replaced.
    ray_address : str, optional
        ``host:port`` of a Ray head (``ray start --head``), ``ray://host:port`` or ``"auto"``.

    Returns
    -------
    list[BacktestJobResult]
        One result per job, in the order of ``jobs``.

    Raises
    ------
    ConfigError
        If ``workers`` or ``runs_per_process`` is below 1, tags repeat, or the Ray cluster cannot be
        reached.

    """
    check_jobs(jobs, workers, runs_per_process)
    if not jobs:
        return []
    if ray_address is not None:
        from nautilus_ai.backtest.ray_runner import run_jobs_on_ray

        return run_jobs_on_ray(jobs, ray_address, on_done)
    # one worker runs its jobs one after the other, in batches of ``runs_per_process`` per process
    # like every worker of a larger pool, so wall times with 1 and N workers compare like for like
    context = multiprocessing.get_context("spawn")
    by_tag: dict[str, BacktestJobResult] = {}
    with context.Pool(processes=min(workers, len(jobs)), maxtasksperchild=runs_per_process) as pool:
        for result in pool.imap_unordered(run_backtest_job, jobs):
            by_tag[result.tag] = result
            if on_done is not None:
                on_done(result)
    return [by_tag[job.tag] for job in jobs]


def check_jobs(jobs: Sequence[BacktestJob], workers: int, runs_per_process: int) -> None:
    """Raise :class:`ConfigError` unless the worker counts are positive and the job tags unique.

    Parameters
    ----------
    jobs : Sequence[BacktestJob]
        The runs.
    workers : int
        Local worker processes.
    runs_per_process : int
        Runs per local worker process.

    Raises
    ------
    ConfigError
        Naming the bad value or the repeated tags.

    """
    if workers < 1:
        raise ConfigError(f"[walkforward] workers must be at least 1, got {workers}")
    if runs_per_process < 1:
        raise ConfigError(f"[walkforward] runs_per_process must be at least 1, got {runs_per_process}")
    repeated = sorted(tag for tag, count in Counter(job.tag for job in jobs).items() if count > 1)
    if repeated:
        raise ConfigError(f"backtest job tags must be unique; repeated: {repeated}")
