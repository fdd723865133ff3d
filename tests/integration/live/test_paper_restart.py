"""Kill and restart a paper node: Redis restores its orders, positions and account.

A walk-forward trains one fold's direction model on the bundled AAPL daily bars. A paper node
with a Redis cache (``flush_on_start=True``) runs in a subprocess on the replay window
``[start, T)``; a second node of the same trader (``flush_on_start=False``) replays ``[T, end)``:
right after it starts, before any bar, its cache holds the first node's orders (with their
statuses and fills), its position and its account balance, and it trades on from them. A third
node is killed with SIGKILL mid-replay: what it had written to Redis comes back on restart.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer
from nautilus_trader.common.actor import Actor
from nautilus_trader.common.config import ActorConfig
from nautilus_trader.model.enums import OrderStatus
from nautilus_trader.model.identifiers import Venue
from typer.testing import CliRunner

from nautilus_ai.backtest.walkforward import run_walkforward
from nautilus_ai.cli_live import paper as paper_command
from nautilus_ai.errors import RetryableError
from nautilus_ai.live.paper import build_paper_node, paper_node_config
from nautilus_ai.live.persistence import RedisSettings, clear_trader, connect, inspect_trader, stream_topics
from nautilus_ai.live.runner import run_paper_node
from nautilus_ai.test_kit import demo_catalog, small_experiment

pytestmark = pytest.mark.slow

REDIS = RedisSettings(buffer_interval_ms=10)
VENUE = Venue("XNAS")
TIMEOUT_S = 60.0

# runs one paper node of argv[1] (JSON) and prints its final orders, positions and balance
NODE_SCRIPT = """
import json, sys
from nautilus_ai.config import load_experiment
from nautilus_ai.live.paper import build_paper_node, paper_node_config
from nautilus_ai.live.persistence import RedisSettings
from nautilus_ai.live.runner import run_paper_node
sys.path.insert(0, sys.argv[2])
from test_paper_restart import snapshot
a = json.loads(sys.argv[1])
config = paper_node_config(
    load_experiment(a["config"]), a["catalog"], registry_path=a["registry"], model_version=a["model"],
    start=a["start"], end=a["end"], trade_start=a["trade_start"], speed=a["speed"], ts_init="catalog",
    equity_path=a["equity"], trader_id=a["trader_id"], log_level="ERROR",
    redis=RedisSettings(flush_on_start=a["flush"], buffer_interval_ms=10),
)
node = build_paper_node(config)
result = run_paper_node(node, timeout_s=120.0, dispose=False)
print(json.dumps({"finished": result.finished, "items": result.items, **snapshot(node.cache)}))
node.dispose()
"""


def snapshot(cache: Any) -> dict[str, Any]:
    """The orders (id, status, filled quantity, events), positions and XNAS balance of a cache."""
    account = cache.account_for_venue(VENUE)
    return {
        "orders": sorted(
            [o.client_order_id.value, o.status.name, str(o.filled_qty), len(o.events), o.side.name]
            for o in cache.orders()
        ),
        "open_orders": sorted(o.client_order_id.value for o in cache.orders_open()),
        "positions": sorted(
            [p.id.value, str(p.signed_qty), len(p.events), p.is_open] for p in cache.positions()
        ),
        "balance": None if account is None else str(account.balance_total()),
    }


class RestoreProbeConfig(ActorConfig, frozen=True):
    """The probe's config."""


class RestoreProbe(Actor):
    """Records the node's cache when it starts, before the replay publishes any bar."""

    def __init__(self) -> None:
        super().__init__(RestoreProbeConfig(component_id="RestoreProbe"))
        self.at_start: dict[str, Any] | None = None
        self.bars_at_start = -1

    def on_start(self) -> None:
        self.at_start = snapshot(self.cache)
        self.bars_at_start = sum(self.cache.bar_count(bt) for bt in self.cache.bar_types())


@pytest.fixture(scope="module")
def redis_up() -> None:
    try:
        connect(REDIS).close()
    except RetryableError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, redis_up: None) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("paper-restart")
    catalog = demo_catalog(tmp, symbols=("AAPL",))
    cfg = small_experiment(
        catalog,
        instruments=("AAPL.XNAS",),
        walkforward={"train": "1500D", "test": "250D", "workers": 1, "baselines": []},
    )
    fold = run_walkforward(cfg, tmp / "runs", run_id="wf", registry_path=tmp / "registry").folds[0]
    config = tmp / "experiment.toml"
    config.write_text(cfg.to_toml())
    test_start = pd.Timestamp(fold["test_start"])
    trained = {
        "cfg": cfg,
        "config": str(config),
        "catalog": str(catalog),
        "registry": str(tmp / "registry"),
        "model": fold["model_version"],
        "start": (test_start - pd.Timedelta(days=120)).isoformat(),
        "trade_start": test_start.isoformat(),
        "end": pd.Timestamp(fold["test_end"]).isoformat(),
        "tmp": tmp,
    }
    # two months of trading before the cut, five after it
    return {**trained, "cut": (test_start + pd.Timedelta(days=60)).isoformat()}


def _net_filled(orders: list[list[Any]]) -> float:
    return sum(float(o[2]) * (1 if o[4] == "BUY" else -1) for o in orders)


def _net_position(positions: list[list[Any]]) -> float:
    return sum(float(p[1]) for p in positions)


def _trader_id(name: str) -> str:
    return f"RESTART-{name}-{os.getpid()}"


@pytest.fixture
def trader(request: pytest.FixtureRequest) -> Any:
    trader_id = _trader_id(request.node.name.split("_")[1][:8].upper())
    clear_trader(REDIS, trader_id)
    yield trader_id
    clear_trader(REDIS, trader_id)
    assert inspect_trader(REDIS, trader_id).empty


def _node_args(trained: dict[str, Any], trader_id: str, **kwargs: Any) -> dict[str, Any]:
    return {
        "config": trained["config"],
        "catalog": trained["catalog"],
        "registry": trained["registry"],
        "model": trained["model"],
        "trade_start": trained["trade_start"],
        "equity": str(trained["tmp"] / f"equity-{trader_id}.parquet"),
        "trader_id": trader_id,
        "speed": 0.0,
        **kwargs,
    }


def _spawn(args: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", NODE_SCRIPT, json.dumps(args), str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _restarted_node(trained: dict[str, Any], trader_id: str, start: str) -> tuple[Any, RestoreProbe]:
    config = paper_node_config(
        trained["cfg"],
        trained["catalog"],
        registry_path=trained["registry"],
        model_version=trained["model"],
        start=start,
        end=trained["end"],
        trade_start=start,
        ts_init="catalog",
        equity_path=trained["tmp"] / f"equity-{trader_id}-2.parquet",
        trader_id=trader_id,
        log_level="ERROR",
        redis=REDIS,  # flush_on_start=False: restore
    )
    node = build_paper_node(config)
    probe = RestoreProbe()
    node.trader.add_actor(probe)
    return node, probe


def test_restart_restores_orders_positions_and_account(trained: dict[str, Any], trader: str) -> None:
    first = _spawn(_node_args(trained, trader, start=trained["start"], end=trained["cut"], flush=True))
    out, err = first.communicate(timeout=240)
    assert first.returncode == 0, err[-3000:]
    before = json.loads(out.strip().splitlines()[-1])
    assert before["finished"] and before["items"] > 80  # the warm-up and the first fills
    filled = [o for o in before["orders"] if o[1] == OrderStatus.FILLED.name]
    assert filled and before["positions"]
    starting = f"{trained['cfg'].venue.starting_balance:.2f} USD"
    assert before["balance"] != starting

    # what the first node left in Redis
    state = inspect_trader(REDIS, trader)
    assert state.ids("orders") == sorted(o[0] for o in before["orders"])
    assert state.ids("positions") == [p[0] for p in before["positions"]]
    assert state.ids("accounts") == ["XNAS-001"]
    topics = stream_topics(REDIS, trader)
    # every order event after its initialisation went on the stream
    order_events = sum(o[3] - 1 for o in before["orders"])
    assert topics["events.order.MLStrategy-000"] >= order_events
    assert any(t.startswith("events.account.") for t in topics)
    assert not any(t.startswith("data.quotes") for t in topics)  # kept off the stream

    node, probe = _restarted_node(trained, trader, trained["cut"])
    result = run_paper_node(node, timeout_s=TIMEOUT_S, dispose=False)
    after = snapshot(node.cache)
    node.dispose()
    assert result.finished, result

    # right after the start, before the first bar: the first node's orders, positions and balance
    assert probe.bars_at_start == 0 and probe.at_start is not None
    assert probe.at_start == {key: before[key] for key in probe.at_start}
    # ... and the node trades on from them: old orders kept (open ones may fill), new ones added
    old = {o[0]: o for o in before["orders"]}
    new = [o for o in after["orders"] if o[0] not in old]
    assert {o[0] for o in after["orders"]} >= set(old)
    assert all(old[o[0]] == o for o in after["orders"] if o[0] in old and o[0] not in before["open_orders"])
    assert any(o[1] == OrderStatus.FILLED.name for o in new), "the restarted node filled no new order"
    # client order ids continue the first node's count instead of starting again at 1
    assert min(int(o[0].rsplit("-", 1)[1]) for o in new) == len(old) + 1
    # MLStrategy closes its position when a node stops cleanly: the first node's position comes back
    # closed, with its fills, and the restarted node's fills reopen and move that same position
    assert _net_filled(before["orders"]) == _net_position(before["positions"])
    assert _net_position(after["positions"]) == _net_filled(after["orders"])
    assert {p[0] for p in after["positions"]} == {p[0] for p in before["positions"]}  # NETTING: one id
    assert sum(p[2] for p in after["positions"]) > 0
    assert after["balance"] not in (before["balance"], starting)


def test_sigkilled_node_state_is_restored(trained: dict[str, Any], trader: str) -> None:
    # daily bars at ~25 days a second: the replay of the window takes about 10 seconds
    node = _spawn(
        _node_args(
            trained, trader, start=trained["start"], end=trained["end"], flush=True, speed=25 * 86_400.0
        )
    )
    deadline = time.monotonic() + 120.0
    state = inspect_trader(REDIS, trader)
    try:
        while time.monotonic() < deadline and node.poll() is None:
            state = inspect_trader(REDIS, trader)
            if len(state.ids("orders")) >= 3 and state.ids("positions"):
                break
            time.sleep(0.2)
        assert node.poll() is None, "the node finished before it was killed: " + node.communicate()[1][-2000:]
        node.send_signal(signal.SIGKILL)
        node.wait(timeout=10)
    finally:
        if node.poll() is None:
            node.kill()
    assert node.returncode == -signal.SIGKILL
    time.sleep(0.5)
    state = inspect_trader(REDIS, trader)
    assert len(state.ids("orders")) >= 3 and state.ids("accounts") == ["XNAS-001"]

    restarted, _ = _restarted_node(trained, trader, trained["cut"])
    at_build = snapshot(restarted.cache)
    restarted.dispose()
    # every order and position the killed node wrote comes back, with the account it had
    assert sorted(o[0] for o in at_build["orders"]) == state.ids("orders")
    assert [p[0] for p in at_build["positions"]] == state.ids("positions")
    assert any(o[1] == OrderStatus.FILLED.name for o in at_build["orders"])
    assert all(p[2] >= 1 for p in at_build["positions"])
    # no on_stop ran: the position is what the restored fills add up to (open or closed at the kill)
    assert _net_position(at_build["positions"]) == _net_filled(at_build["orders"])
    assert at_build["balance"] != f"{trained['cfg'].venue.starting_balance:.2f} USD"


def _cli(trained: dict[str, Any], tmp_path: Path, *args: str) -> Any:
    app = typer.Typer()
    app.command()(paper_command)
    base = ["--config", trained["config"], "--catalog", trained["catalog"], "--registry", trained["registry"]]
    return CliRunner().invoke(app, [*base, "--model-version", trained["model"], *args])


def test_cli_paper_restores_from_redis(trained: dict[str, Any], trader: str, tmp_path: Path) -> None:
    window = ["--trader-id", trader, "--redis-url", REDIS.url, "--out", str(tmp_path / "out")]
    first = _cli(
        trained, tmp_path, *window, "--redis-flush", "--start", trained["start"], "--end", trained["cut"]
    )
    assert first.exit_code == 0, first.output
    orders = len(inspect_trader(REDIS, trader).ids("orders"))
    assert orders > 0
    second = _cli(trained, tmp_path, *window, "--start", trained["cut"], "--end", trained["end"])
    assert second.exit_code == 0, second.output
    # the second node's table counts the first node's orders too
    match = re.search(r"\borders\b[^\d\n]*(\d+)", second.output.split("replayed")[1])
    assert match is not None, second.output
    shown = int(match.group(1))
    assert shown == len(inspect_trader(REDIS, trader).ids("orders")) > orders


def test_cli_paper_reports_an_unreachable_redis(trained: dict[str, Any], tmp_path: Path) -> None:
    result = _cli(trained, tmp_path, "--redis-url", "redis://127.0.0.1:1", "--out", str(tmp_path / "out"))
    assert result.exit_code != 0
    assert "redis://127.0.0.1:1 does not answer" in result.output
    result = _cli(trained, tmp_path, "--redis-flush")
    assert result.exit_code != 0 and "--redis-flush needs --redis-url" in result.output
