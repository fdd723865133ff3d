"""API sidecar under load: wrk against the read routes while a paper node trades through Redis.

    .venv/bin/python benchmarks/bench_api_load.py                       # 1 and 2 workers, 10 s a route
    .venv/bin/python benchmarks/bench_api_load.py --duration 15 --connections 32 --workers 1

Setup, as in ``tests/integration/api/test_paper_node_state.py``: one walk-forward fold (LightGBM +
2-state GMM regime, ``small_experiment`` on the bundled AAPL daily bars, train 540 days, test 1200)
trains the models; a paper ``TradingNode`` in a subprocess replays the fold (warm-up bars, then the
test window) with sandbox fills, its cache in Redis (JSON) and a ``RedisPublisherActor`` mirroring
signals, regimes, risk decisions and trading state every 0.2 s. The replay is paced (``speed`` chosen
so the window lasts the whole load test), so the node keeps trading and writing to Redis while wrk
runs. Load starts once Redis holds the trading state, a signal and an order.

The sidecar is the real ``nautilus-ai api serve`` (uvicorn, 1 then 2 worker processes) on a free
localhost port with a read key from a fresh key store; the per-key rate limit is raised out of the
way (1e9 burst and refill) but still hit in Redis on every request. Each route gets ``wrk -t T -c C
-d D --latency`` with ``Authorization: Bearer <key>``; requests/s, the latency percentiles, the
non-2xx count and socket errors are parsed from wrk's report. The script exits 1 if any response was
not 2xx/3xx or any socket error/timeout happened, after stopping the servers and the node and
deleting its Redis keys.

Needs ``wrk`` on PATH (``apt-get install wrk``) and Redis at ``--redis-url``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if str(REPO / "benchmarks") not in sys.path:
    sys.path.insert(0, str(REPO / "benchmarks"))

from _machine import log, machine_info  # noqa: E402

PUBLISHER = "nautilus_ai.live.redis_publisher"
INSTRUMENT = "AAPL.XNAS"
ROUTES = (
    "/health",
    f"/signals/latest?instrument_id={INSTRUMENT}",
    f"/signals/history?instrument_id={INSTRUMENT}&limit=100",
    "/risk/state",
    "/risk/exposure",
    "/execution/orders",
    "/execution/positions",
    "/learning/models",
    "/metrics",
)
"""The read routes under load (GET)."""

_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass(frozen=True)
class WrkResult:
    """One wrk run parsed."""

    route: str
    requests: int
    requests_per_s: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int

    @property
    def failed(self) -> int:
        """Non-2xx/3xx responses plus socket errors (connect, read, write, timeout); 1 if none ran."""
        return self.non_2xx + self.socket_errors + (1 if self.requests == 0 else 0)


def _ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text.strip())
    if match is None:
        raise ValueError(f"wrk latency {text!r}: expected a number with us/ms/s/m")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def parse_wrk(route: str, report: str) -> WrkResult:
    """Return the figures of a ``wrk --latency`` report.

    Parameters
    ----------
    route : str
        The route it loaded (kept in the result).
    report : str
        wrk's standard output.

    Returns
    -------
    WrkResult
        Requests, requests/s, p50/p75/p90/p99 latency (ms), non-2xx responses and socket errors.

    Raises
    ------
    ValueError
        If the report lacks the requests/s line or the latency distribution.

    """
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", report)
    total = re.search(r"(\d+) requests in", report)
    percentiles = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", report, flags=re.MULTILINE))
    if rps is None or total is None or len(percentiles) != 4:
        raise ValueError(f"wrk report for {route} has no requests/s or latency distribution:\n{report}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", report)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report)
    return WrkResult(
        route=route,
        requests=int(total.group(1)),
        requests_per_s=float(rps.group(1)),
        p50_ms=_ms(percentiles["50"]),
        p75_ms=_ms(percentiles["75"]),
        p90_ms=_ms(percentiles["90"]),
        p99_ms=_ms(percentiles["99"]),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
    )


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_average() -> str:
    """Return the 1/5/15-minute load averages as text."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


# -- the paper node (subprocess) -----------------------------------------------------------------------


def train_fold(tmp: Path) -> dict[str, Any]:
    """Train one walk-forward fold on the bundled AAPL bars; return what the node subprocess needs."""
    import pandas as pd
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    from nautilus_ai.backtest.walkforward import run_walkforward
    from nautilus_ai.test_kit import demo_catalog, small_experiment

    catalog = demo_catalog(tmp, symbols=("AAPL",))
    overrides: dict[str, Any] = {
        "instruments": (INSTRUMENT,),
        "regime": {"enabled": True, "kind": "gmm", "n_states": 2},
        "walkforward": {"train": "540D", "test": "1200D", "workers": 1, "baselines": []},
    }
    cfg = small_experiment(catalog, **overrides)
    result = run_walkforward(cfg, tmp / "runs", run_id="wf", registry_path=tmp / "registry")
    fold = result.folds[0]
    bars = ParquetDataCatalog(str(catalog)).bars(bar_types=cfg.data.bar_types())
    times = pd.DatetimeIndex([b.ts_init for b in bars], tz="UTC")
    test_start = pd.Timestamp(fold["test_start"])
    warmup = cfg.features.to_spec().warmup_bars() + cfg.features.volatility_window + 5
    start = times[max(int(times.searchsorted(test_start)) - warmup, 0)]
    end = pd.Timestamp(fold["test_end"])
    return {
        "catalog": str(catalog),
        "registry": str(tmp / "registry"),
        "tmp": str(tmp),
        "model_version": fold["model_version"],
        "regime_version": fold["regime_version"],
        "start": start.isoformat(),
        "end": end.isoformat(),
        "trade_start": test_start.isoformat(),
        "bars": int(((times >= start) & (times <= end)).sum()),
        "span_s": float((end - start).total_seconds()),
        "overrides": overrides,
    }


def run_node(spec: dict[str, Any]) -> int:
    """Run the paced paper node of ``spec`` until the replay ends or stdin closes (subprocess entry)."""
    from nautilus_trader.config import ImportableActorConfig

    from nautilus_ai.adapters.replay.client import find_replay_client
    from nautilus_ai.live.paper import build_paper_node, paper_node_config
    from nautilus_ai.live.persistence import RedisSettings
    from nautilus_ai.live.runner import run_paper_node
    from nautilus_ai.test_kit import small_experiment

    tmp = Path(spec["tmp"])
    cfg = small_experiment(Path(spec["catalog"]), **spec["overrides"])
    publisher = ImportableActorConfig(
        actor_path=f"{PUBLISHER}:RedisPublisherActor",
        config_path=f"{PUBLISHER}:RedisPublisherActorConfig",
        config={
            "component_id": "RedisPublisherActor",
            "instrument_ids": [INSTRUMENT],
            "prefix": spec["prefix"],
            "snapshot_interval_s": 0.2,
            "limits": {"halt_drawdown": 0.2},
        },
    )
    config = paper_node_config(
        cfg,
        Path(spec["catalog"]),
        registry_path=Path(spec["registry"]),
        model_version=spec["model_version"],
        regime_version=spec["regime_version"],
        start=spec["start"],
        end=spec["end"],
        trade_start=spec["trade_start"],
        speed=spec["speed"],
        ts_init="catalog",
        events_dir=tmp / "events",
        equity_path=tmp / "equity.parquet",
        extra_actors=[publisher],
        trader_id=spec["trader_id"],
        log_level="ERROR",
        redis=RedisSettings(cache_encoding="json", flush_on_start=True, buffer_interval_ms=0, streams=False),
    )
    node = build_paper_node(config)
    client = find_replay_client(node.kernel.msgbus, "REPLAY")
    loop = node.get_event_loop()
    assert client is not None and loop is not None

    def stop_on_eof() -> None:  # the parent closes our stdin to stop the replay early
        sys.stdin.read()
        loop.call_soon_threadsafe(client.finished.set)

    threading.Thread(target=stop_on_eof, daemon=True).start()
    run = run_paper_node(node, timeout_s=spec["timeout_s"], dispose=False)
    orders = len(node.cache.orders())
    node.dispose()
    report = {"items": run.items, "total": run.total, "wall_s": round(run.wall_s, 1), "error": run.error}
    Path(spec["report"]).write_text(json.dumps(report | {"orders": orders}))
    return 0 if run.error is None else 1


def wait_for_state(settings: Any, timeout_s: float) -> None:
    """Block until Redis holds the node's trading state, a risk snapshot, a signal and an order."""
    from nautilus_ai.api.state import StateReader

    reader = StateReader(settings)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (
            reader.trading_state() is not None
            and reader.risk_snapshot() is not None
            and reader.latest_signal(INSTRUMENT) is not None
            and reader.orders()
        ):
            return
        time.sleep(0.5)
    raise RuntimeError(
        f"the paper node wrote no trading state, signal and order to Redis in {timeout_s:.0f} s"
    )


# -- the sidecar and wrk -----------------------------------------------------------------------------


def start_server(config: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    """Start ``nautilus-ai api serve`` and wait until /health answers 200."""
    import httpx

    exe = Path(sys.executable).with_name("nautilus-ai")
    command = [str(exe), "api", "serve", "--config", str(config), "--port", str(port)]
    command += ["--workers", str(workers), "--log-level", "WARNING"]
    # a file, not a pipe: with workers > 1 every request is logged (INFO) and a full pipe would block them
    log_file = config.with_name(f"api-{workers}w.log").open("wb")
    server = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    log_file.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            text = config.with_name(f"api-{workers}w.log").read_text()[-3000:]
            raise RuntimeError(f"api serve exited with {server.returncode}:\n{text}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop_process(server)
    raise RuntimeError(f"api serve did not answer /health on port {port} in 60 s")


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    """SIGTERM ``process`` (SIGKILL after ``timeout_s``) and reap it."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def warm_workers(base_url: str, key: str, workers: int) -> None:
    """Verify the key once per worker (the first check per process runs PBKDF2) before measuring."""
    import httpx

    headers = {"Authorization": f"Bearer {key}"}
    for route in ROUTES:
        for _ in range(4 * workers):
            response = httpx.get(base_url + route, headers=headers, timeout=30)
            if response.status_code != 200:
                raise RuntimeError(f"GET {route} answered {response.status_code}: {response.text[:300]}")


def run_wrk(base_url: str, route: str, key: str, args: argparse.Namespace) -> WrkResult:
    """Run wrk against one route and parse its report."""
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--timeout",
        "5s",
        "--latency",
        "-H",
        f"Authorization: Bearer {key}",
        base_url + route,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.duration + 30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed on {route} ({done.returncode}): {done.stderr}")
    return parse_wrk(route, done.stdout)


def render_table(results: dict[int, list[WrkResult]]) -> str:
    """Return the markdown table of every (workers, route) run."""
    lines = [
        "| workers | route | requests | req/s | p50 ms | p75 ms | p90 ms | p99 ms | non-2xx | sock. err. |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workers, rows in results.items():
        for r in rows:
            lines.append(
                f"| {workers} | `{r.route}` | {r.requests:,} | {r.requests_per_s:,.0f} | {r.p50_ms:.2f} | "
                f"{r.p75_ms:.2f} | {r.p90_ms:.2f} | {r.p99_ms:.2f} | {r.non_2xx} | {r.socket_errors} |"
            )
    return "\n".join(lines)


def clear_redis(redis_url: str, trader_id: str, prefixes: list[str]) -> None:
    """Delete the node's cache keys and every key under ``prefixes``."""
    import redis

    from nautilus_ai.live.persistence import RedisSettings, clear_trader

    clear_trader(RedisSettings(), trader_id)
    client = redis.Redis.from_url(redis_url)
    for prefix in prefixes:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)


def main() -> int:
    """Parse the arguments, run the load test and print the table; 1 when any request failed."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="wrk seconds per route (default 10)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="uvicorn workers (default 1 2)"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--node-spec", type=Path, help=argparse.SUPPRESS)  # the node subprocess
    args = parser.parse_args()
    if args.node_spec is not None:
        return run_node(json.loads(args.node_spec.read_text()))
    if shutil.which("wrk") is None:
        print("wrk is not on PATH (apt-get install wrk)", file=sys.stderr)
        return 2

    import uuid

    from nautilus_ai.api.auth import KeyStore
    from nautilus_ai.api.settings import ApiSettings

    info = machine_info()
    load_start = load_average()
    log(f"machine: {info}; load average {load_start}")
    tag = uuid.uuid4().hex[:8]
    trader_id = f"BENCHAPI-{tag}"
    prefix = f"naibench-{tag}"
    results: dict[int, list[WrkResult]] = {}
    node: subprocess.Popen[str] | None = None
    node_still_trading = False
    with tempfile.TemporaryDirectory(prefix="bench_api_load_", ignore_cleanup_errors=True) as tmp_text:
        tmp = Path(tmp_text)
        try:
            started = time.monotonic()
            spec = train_fold(tmp)
            log(f"trained fold {spec['model_version']} in {time.monotonic() - started:.0f} s")
            load_s = len(args.workers) * len(ROUTES) * (args.duration + 4) + 40 * len(args.workers)
            planned_s = load_s + 60  # warm-up bars and slack: the node must outlive the load
            spec.update(
                prefix=prefix,
                trader_id=trader_id,
                speed=spec["span_s"] / planned_s,
                timeout_s=planned_s + 120,
                report=str(tmp / "node-report.json"),
            )
            (tmp / "node.json").write_text(json.dumps(spec))
            log(f"paper node: {spec['bars']} bars over {planned_s} s (speed {spec['speed']:.0f}x)")
            node = subprocess.Popen(
                [sys.executable, __file__, "--node-spec", str(tmp / "node.json")],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                text=True,
            )
            values: dict[str, Any] = {
                "redis_url": args.redis_url,
                "trader_id": trader_id,
                "state_prefix": prefix,
                "feature_prefix": f"{prefix}-features",
                "cache_encoding": "json",
                "control_stream_prefix": f"{prefix}:control",
                "key_store": str(tmp / "keys.sqlite"),
                "registry_root": spec["registry"],
                "rate_limit_prefix": f"{prefix}:ratelimit",
                "rate_limit_capacity": 1_000_000_000,
                "rate_limit_refill_per_s": 1e9,
            }
            settings = ApiSettings.from_mapping(values)
            config = tmp / "api.toml"  # JSON strings and numbers are valid TOML values
            config.write_text("[api]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()))
            key, _ = KeyStore(settings.key_store).create("bench-load", "read")
            wait_for_state(settings, timeout_s=120)
            log(f"node state in Redis after {time.monotonic() - started:.0f} s")
            for workers in args.workers:
                port = free_port()
                server = start_server(config, port, workers)
                try:
                    base_url = f"http://127.0.0.1:{port}"
                    warm_workers(base_url, key, workers)
                    rows = []
                    for route in ROUTES:
                        if node.poll() is not None:
                            raise RuntimeError("the paper node stopped before the load test ended")
                        row = run_wrk(base_url, route, key, args)
                        log(
                            f"{workers} worker(s) {route}: {row.requests_per_s:,.0f} req/s, "
                            f"p50 {row.p50_ms:.2f} ms, p99 {row.p99_ms:.2f} ms, failed {row.failed}"
                        )
                        rows.append(row)
                    results[workers] = rows
                finally:
                    stop_process(server)
            node_still_trading = node.poll() is None
        finally:
            node_report = ""
            if node is not None:
                if node.stdin is not None:
                    node.stdin.close()
                try:
                    node.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    node.kill()
                    node.wait()
                report_path = tmp / "node-report.json"
                node_report = report_path.read_text() if report_path.exists() else ""
            clear_redis(args.redis_url, trader_id, [prefix])
    load_end = load_average()
    print(render_table(results))
    print()
    print(f"node: {node_report or '?'}; still trading when the load ended: {node_still_trading}")
    print(f"load average (1/5/15 min) at start {load_start}, at end {load_end}")
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    failed = sum(r.failed for rows in results.values() for r in rows)
    if failed:
        print(f"FAILED: {failed} requests were not 2xx/3xx or hit socket errors", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
