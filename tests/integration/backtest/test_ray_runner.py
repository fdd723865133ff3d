"""Backtest jobs on a local Ray cluster give the same results as the local process pool."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from nautilus_trader.config import ImportableStrategyConfig

from nautilus_ai.backtest import node_config
from nautilus_ai.backtest.ray_runner import BacktestJobError
from nautilus_ai.backtest.runner import BacktestJob, BacktestJobResult, run_jobs
from nautilus_ai.test_kit import demo_catalog, small_experiment

pytestmark = pytest.mark.slow

RAY = Path(sys.executable).with_name("ray")
OBJECT_STORE_BYTES = 200 * 1024 * 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _session_pids(session_id: int) -> list[int]:
    """Return the ids of the live processes of one session (the Ray head and what it spawned)."""
    out = subprocess.run(["ps", "-eo", "pid=,sid="], capture_output=True, text=True, check=True).stdout
    pids = []
    for line in out.splitlines():
        pid, sid = (int(v) for v in line.split())
        if sid == session_id:
            pids.append(pid)
    return pids


def _stop_session(head: subprocess.Popen) -> None:
    """Stop the Ray head started by the test and every process of its session, by process id."""
    session = head.pid  # start_new_session: the head's pid is its session id
    for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
        pids = _session_pids(session)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while _session_pids(session) and time.monotonic() < deadline:
            time.sleep(0.5)
    head.wait(timeout=10)


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory):
    """Start a local Ray head (2 CPUs, 200 MB object store) for this module and stop it afterwards."""
    port = _free_port()
    log = (tmp_path_factory.mktemp("ray") / "ray-start.log").open("w")
    head = subprocess.Popen(
        [
            str(RAY),
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--num-cpus=2",
            f"--object-store-memory={OBJECT_STORE_BYTES}",
            "--include-dashboard=false",
            "--disable-usage-stats",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if head.poll() is not None:
                raise RuntimeError(f"ray start exited with {head.returncode}: see {log.name}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the Ray head did not listen on {address} within 120 s") from None
                time.sleep(0.5)
        yield address
    finally:
        _stop_session(head)
        log.close()


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    """Two buy-and-hold runs on real AAPL and MSFT bars over two windows (equity paths relative to root)."""
    root = tmp_path_factory.mktemp("ray-jobs")
    catalog = str(demo_catalog(root, symbols=("AAPL", "MSFT")))
    cfg = small_experiment(Path(catalog))

    def make(tag: str, start: str, trade_start: str, end: str, folder: str) -> BacktestJob:
        equity = f"{folder}/{tag}-equity.parquet"  # relative to ``root``: the test runs from there
        (root / folder).mkdir(exist_ok=True)
        run = node_config.buy_and_hold_run(
            cfg, catalog, start=start, end=end, trade_start=trade_start, equity_path=equity
        )
        return BacktestJob(tag, run, equity)

    def build(folder: str) -> list[BacktestJob]:
        return [
            make(
                "bh-2014",
                "2014-01-02T00:00:00+00:00",
                "2014-02-03T00:00:00+00:00",
                "2014-12-31T00:00:00+00:00",
                folder,
            ),
            make(
                "bh-2016",
                "2016-01-04T00:00:00+00:00",
                "2016-03-01T00:00:00+00:00",
                "2016-12-30T00:00:00+00:00",
                folder,
            ),
        ]

    return root, build


def _assert_same_result(a: BacktestJobResult, b: BacktestJobResult) -> None:
    assert a.tag == b.tag
    pd.testing.assert_frame_equal(a.fills, b.fills)
    pd.testing.assert_frame_equal(a.positions, b.positions)
    assert a.equity is not None and b.equity is not None
    pd.testing.assert_series_equal(a.equity, b.equity)
    assert (a.total_orders, a.total_events, a.errors) == (b.total_orders, b.total_events, b.errors)


def test_ray_and_local_pool_results_are_equal(ray_address, jobs, monkeypatch):
    root, build = jobs
    monkeypatch.chdir(root)  # relative equity paths resolve from the driver's directory on both paths
    done: list[str] = []
    on_ray = run_jobs(build("ray"), workers=2, on_done=lambda r: done.append(r.tag), ray_address=ray_address)
    in_pool = run_jobs(build("pool"), workers=2)
    one_worker_done: list[str] = []
    one_worker = run_jobs(build("one"), workers=1, on_done=lambda r: one_worker_done.append(r.tag))

    assert [r.tag for r in on_ray] == ["bh-2014", "bh-2016"]  # job order, whatever the completion order
    assert sorted(done) == ["bh-2014", "bh-2016"]
    assert one_worker_done == ["bh-2014", "bh-2016"]  # one worker completes the jobs in order
    for ray_result, pool_result, one_result in zip(on_ray, in_pool, one_worker, strict=True):
        _assert_same_result(ray_result, pool_result)
        _assert_same_result(one_result, pool_result)
        assert len(ray_result.fills) == 4  # per instrument: buy at the trade start, sell at the end
        assert ray_result.equity is not None and len(ray_result.equity) > 100
    # the two windows really differ: the comparison is not between two empty or identical runs
    first, second = on_ray[0].equity, on_ray[1].equity
    assert first is not None and second is not None
    assert first.index[0].year == 2014 and second.index[0].year == 2016


def test_ray_job_failure_names_the_job_and_its_cause(ray_address, tmp_path):
    cfg = small_experiment(tmp_path)
    missing = ImportableStrategyConfig(
        strategy_path="nautilus_ai.strategies.no_such_module:Missing",
        config_path="nautilus_ai.strategies.no_such_module:MissingConfig",
        config={},
    )
    run = node_config.run_config(cfg, str(tmp_path), start=None, end=None, strategies=[missing])

    with pytest.raises(BacktestJobError, match=r"'bad-import'.*ModuleNotFoundError.*no_such_module"):
        run_jobs([BacktestJob("bad-import", run, None)], workers=1, ray_address=ray_address)


def test_walkforward_with_a_ray_address_matches_the_local_run(ray_address, tmp_path):
    """`backtest walkforward --ray-address`: the folds run on the cluster, the run equals the local one."""
    from nautilus_ai.backtest.walkforward import run_walkforward

    catalog = demo_catalog(tmp_path / "cat", symbols=("AAPL",))
    cfg = small_experiment(catalog, instruments=("AAPL.XNAS",), walkforward={"workers": 2, "baselines": []})
    on_ray = run_walkforward(cfg, tmp_path / "ray", run_id="wf", ray_address=ray_address)
    local = run_walkforward(cfg, tmp_path / "local", run_id="wf")
    assert len(on_ray.folds) == len(local.folds) >= 2
    pd.testing.assert_frame_equal(on_ray.trades, local.trades)
    assert on_ray.metrics["out_of_sample"] == local.metrics["out_of_sample"]
    assert (on_ray.run_dir / "report.html").is_file()
