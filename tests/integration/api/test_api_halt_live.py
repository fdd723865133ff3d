"""Halting through the API on a running paper node: the RiskEngine halts and no order follows the ack.

A walk-forward trains a direction model on the bundled AAPL daily bars (one fold); a paper node replays
the fold's test window at ten days a second (``ts_init="clock"``: every event and order is stamped with
the node's clock) with a ControlActor and a RedisPublisherActor, while uvicorn serves
:func:`nautilus_ai.api.app.create_app` on a free localhost port. Once the node trades, ``POST
/risk/halt`` with a trade-scoped key must answer 200 with the node's ack; the node's RiskEngine is then
HALTED, the API's ``/risk/state`` (mirrored by the publisher) says so, bars keep flowing but no order is
submitted after the ack was applied; ``POST /risk/resume`` is refused to the trade key (403) and applied
for the admin key (ACTIVE). Each run has its own trader id and Redis prefixes, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import redis
import uvicorn
from nautilus_trader.config import ImportableActorConfig
from nautilus_trader.model.data import BarType
from nautilus_trader.model.enums import TradingState
from nautilus_trader.model.events import OrderSubmitted

from nautilus_ai.api.app import create_app
from nautilus_ai.api.auth import KeyStore
from nautilus_ai.api.settings import ApiSettings
from nautilus_ai.backtest.walkforward import run_walkforward
from nautilus_ai.live.control_actor import control_actor_config
from nautilus_ai.live.control_client import ControlClient
from nautilus_ai.live.paper import build_paper_node, paper_node_config
from nautilus_ai.test_kit import demo_catalog, small_experiment

REDIS_URL = "redis://127.0.0.1:6379/0"
TIMEOUT_S = 30.0
DAYS_PER_SECOND = 10.0
PUBLISHER = "nautilus_ai.live.redis_publisher"


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not _redis_up(), reason="needs redis-server on 127.0.0.1:6379"),
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Train and register one fold's direction model."""
    tmp = tmp_path_factory.mktemp("api-halt")
    catalog = demo_catalog(tmp, symbols=("AAPL",))
    cfg = small_experiment(
        catalog,
        instruments=("AAPL.XNAS",),
        walkforward={"train": "1500D", "test": "250D", "workers": 1, "baselines": []},
    )
    result = run_walkforward(cfg, tmp / "runs", run_id="wf", registry_path=tmp / "registry")
    fold = result.folds[0]
    start = pd.Timestamp(fold["test_start"]) - pd.Timedelta(days=200)  # indicator and volatility warm-up
    return {
        "cfg": cfg,
        "catalog": catalog,
        "registry": tmp / "registry",
        "model_version": fold["model_version"],
        "start": start.isoformat(),
        "end": pd.Timestamp(fold["test_end"]).isoformat(),
        "tmp": tmp,
    }


@pytest.fixture
def names() -> Iterator[dict[str, str]]:
    """A fresh trader id and Redis prefixes; every key under them is deleted afterwards."""
    tag = uuid.uuid4().hex[:10]
    values = {
        "trader_id": f"HALT-{tag.upper()}",
        "state_prefix": f"naitest-{tag}",
        "control_prefix": f"naitest-{tag}:control",
        "rate_limit_prefix": f"naitest-{tag}:ratelimit",
    }
    yield values
    client = redis.Redis.from_url(REDIS_URL)
    for pattern in (f"naitest-{tag}*", f"trader-{values['trader_id']}:*"):
        keys = list(client.scan_iter(match=pattern, count=500))
        if keys:
            client.delete(*keys)
    client.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _serve(settings: ApiSettings, store: KeyStore) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, store),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _run_with(node: Any, scenario: Callable[[], Any]) -> Any:
    """Run ``node`` while ``scenario()`` runs in a thread; stop the node when it returns."""
    loop = node.get_event_loop()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = scenario()
        except BaseException as error:  # re-raised in the test's thread
            outcome["error"] = error

    async def main() -> None:
        run_task = asyncio.ensure_future(node.run_async())
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        while thread.is_alive():
            await asyncio.sleep(0.05)
            if run_task.done():
                break
        with contextlib.suppress(Exception):
            await node.stop_async()
        await asyncio.sleep(0.1)
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        thread.join(timeout=TIMEOUT_S)

    loop.run_until_complete(main())
    if "error" in outcome:
        raise outcome["error"]
    if "value" not in outcome:
        raise AssertionError("the node stopped before the scenario finished")
    return outcome["value"]


def test_halt_through_the_api_stops_new_orders(
    trained: dict[str, Any], names: dict[str, str], tmp_path: Path
) -> None:
    trader_id = names["trader_id"]
    settings = ApiSettings.from_mapping(
        {
            "redis_url": REDIS_URL,
            "trader_id": trader_id,
            "state_prefix": names["state_prefix"],
            "feature_prefix": f"{names['state_prefix']}-features",
            "cache_encoding": "json",
            "control_stream_prefix": names["control_prefix"],
            "command_timeout_s": TIMEOUT_S,
            "key_store": tmp_path / "keys.sqlite",
            "registry_root": trained["registry"],
            "rate_limit_prefix": names["rate_limit_prefix"],
            "rate_limit_capacity": 1000,
            "rate_limit_refill_per_s": 100.0,
        }
    )
    store = KeyStore(settings.key_store, iterations=1000)
    trade_key, _ = store.create("ops-trade", "trade")
    admin_key, _ = store.create("ops-admin", "admin")
    publisher = ImportableActorConfig(
        actor_path=f"{PUBLISHER}:RedisPublisherActor",
        config_path=f"{PUBLISHER}:RedisPublisherActorConfig",
        config={
            "component_id": "RedisPublisherActor",
            "instrument_ids": ["AAPL.XNAS"],
            "prefix": names["state_prefix"],
            "snapshot_interval_s": 0.2,
        },
    )
    config = paper_node_config(
        trained["cfg"],
        trained["catalog"],
        registry_path=trained["registry"],
        model_version=trained["model_version"],
        start=trained["start"],
        end=trained["end"],
        speed=DAYS_PER_SECOND * 86_400,
        ts_init="clock",
        equity_path=tmp_path / "equity.parquet",
        extra_actors=[
            control_actor_config(poll_interval_secs=0.05, stream_prefix=names["control_prefix"]),
            publisher,
        ],
        trader_id=trader_id,
        log_level="ERROR",
    )
    node = build_paper_node(config)
    bar_type = BarType.from_str(trained["cfg"].data.bar_types()[0])
    seen: dict[str, Any] = {}

    def scenario() -> dict[str, httpx.Response]:
        responses: dict[str, httpx.Response] = {}
        with _serve(settings, store) as base, httpx.Client(base_url=base, timeout=TIMEOUT_S + 5) as http:
            deadline = time.monotonic() + TIMEOUT_S
            while not node.cache.orders() and time.monotonic() < deadline:  # trading before the halt
                time.sleep(0.05)
            seen["orders_before"] = len(node.cache.orders())
            responses["halt"] = http.post(
                "/risk/halt", json={"reason": "api drill"}, headers={"X-API-Key": trade_key}
            )
            seen["state_after_halt"] = node.kernel.risk_engine.trading_state
            seen["bars_at_halt"] = node.cache.bar_count(bar_type)
            api_state = None
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline:  # the publisher mirrors the state within its interval
                answer = http.get("/risk/state", headers={"Authorization": f"Bearer {trade_key}"})
                if answer.status_code == 200 and answer.json()["state"] == "HALTED":
                    api_state = "HALTED"
                    break
                time.sleep(0.1)
            seen["api_state"] = api_state
            time.sleep(2.0)  # twenty days of bars while halted
            seen["bars_before_resume"] = node.cache.bar_count(bar_type)
            seen["state_before_resume"] = node.kernel.risk_engine.trading_state
            responses["resume_trade"] = http.post(
                "/risk/resume", json={"reason": "drill over"}, headers={"X-API-Key": trade_key}
            )
            responses["resume"] = http.post(
                "/risk/resume", json={"reason": "drill over"}, headers={"X-API-Key": admin_key}
            )
            seen["state_after_resume"] = node.kernel.risk_engine.trading_state
        return responses

    try:
        responses = _run_with(node, scenario)
        orders = list(node.cache.orders())
    finally:
        node.dispose()

    assert seen["orders_before"] > 0, "the node never traded before the halt"
    assert responses["halt"].status_code == 200, responses["halt"].text
    halt = responses["halt"].json()
    assert halt["status"] == "ok" and halt["result"]["trading_state"] == "HALTED"
    assert seen["state_after_halt"] == TradingState.HALTED
    assert seen["state_before_resume"] == TradingState.HALTED
    assert seen["api_state"] == "HALTED"
    # the market kept moving while halted: the strategy saw bars, yet sent nothing
    assert seen["bars_before_resume"] > seen["bars_at_halt"]

    control = ControlClient(trader_id, stream_prefix=names["control_prefix"])
    records = {r.id: r for r in control.audit()}
    control.close()
    halt_applied = pd.Timestamp(records[halt["id"]].applied_at).value
    resume_applied = pd.Timestamp(records[responses["resume"].json()["id"]].applied_at).value
    assert halt_applied < resume_applied
    submitted = sorted(
        event.ts_event for order in orders for event in order.events if isinstance(event, OrderSubmitted)
    )
    assert submitted and submitted[0] < halt_applied  # orders went out before the halt
    while_halted = [ts for ts in submitted if halt_applied < ts < resume_applied]
    assert while_halted == [], f"{len(while_halted)} orders submitted after the halt ack"

    assert responses["resume_trade"].status_code == 403
    assert responses["resume"].status_code == 200, responses["resume"].text
    assert responses["resume"].json()["result"]["trading_state"] == "ACTIVE"
    assert seen["state_after_resume"] == TradingState.ACTIVE
