"""Fixtures of the API tests.

* ``live_api_factory`` / ``live_api``: a live API server on a free localhost port, against the real Redis,
  with a node's state written into it (no node runs);
* ``paper_training`` (session) and ``paper_stack`` (module): the README's paper node and sidecar started
  from the CLI as processes (:mod:`paper_stack`);
* ``browser``: headless Chromium driven by Selenium (:mod:`dashboard_driver`).
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import uvicorn
from dashboard_driver import start_browser
from nautilus_trader.model.events import OrderAccepted, OrderFilled, OrderInitialized, OrderSubmitted
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.test_kit.stubs.events import TestEventStubs
from nautilus_trader.test_kit.stubs.execution import TestExecStubs
from paper_stack import PaperStack, Trained, start_stack, train

from nautilus_ai.api.app import create_app
from nautilus_ai.api.auth import KeyStore
from nautilus_ai.api.logging import configure_logging
from nautilus_ai.api.settings import ApiSettings
from nautilus_ai.catalog.redis_features import RedisFeatureStore
from nautilus_ai.catalog.types import FeatureVector, ModelSignal, RegimeLabel, RiskDecisionEvent
from nautilus_ai.errors import DataError
from nautilus_ai.live import control
from nautilus_ai.live.control import ControlAck
from nautilus_ai.live.redis_publisher import RedisStatePublisher, risk_snapshot

REDIS_URL = "redis://127.0.0.1:6379/0"
INSTRUMENT = "AUD/USD.SIM"
SECOND_INSTRUMENT = "AAPL.XNAS"


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


pytestmark = pytest.mark.skipif(not _redis_up(), reason="needs redis-server on 127.0.0.1:6379")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveApi:
    """A running server and what the tests need to talk to it."""

    base_url: str
    settings: ApiSettings
    keys: dict[str, str]
    key_ids: dict[str, str]
    log: io.StringIO
    store: KeyStore
    commands: list[control.ControlCommand]


def write_node_state(settings: ApiSettings) -> None:
    """Write state the way a node does: mirrored signals/regimes/risk, its cache and the feature store."""
    publisher = RedisStatePublisher(settings.trader_id, REDIS_URL, settings.state_prefix, stream_maxlen=100)
    iid = InstrumentId.from_str(INSTRUMENT)
    for i in range(5):
        ts = 1_700_000_000_000_000_000 + i * 60_000_000_000
        publisher.publish_signal(
            ModelSignal(
                instrument_id=iid,
                direction=1 if i % 2 == 0 else -1,
                probability=0.5 + i / 20,
                confidence=0.1 * i,
                horizon_bars=5,
                model_version="aud-direction-abc",
                regime="calm",
                top_attributions="rsi_14:+0.120;vol_20:-0.300;ret_1:+0.010",
                ts_event=ts,
                ts_init=ts,
            )
        )
    publisher.publish_signal(
        ModelSignal(
            instrument_id=InstrumentId.from_str(SECOND_INSTRUMENT),
            direction=0,
            probability=0.5,
            confidence=0.0,
            horizon_bars=1,
            model_version="aapl-1",
            regime="",
            top_attributions="",
            ts_event=1,
            ts_init=1,
        )
    )
    publisher.publish_regime(
        RegimeLabel(
            instrument_id=iid,
            regime="calm",
            probabilities={"calm": 0.8, "stress": 0.2},
            model_version="hmm-1",
            ts_event=5,
            ts_init=5,
        )
    )
    publisher.publish_risk_decision(
        RiskDecisionEvent(
            instrument_id=iid,
            action="shrunk",
            reason="max_position_weight",
            requested_qty=100.0,
            approved_qty=50.0,
            trading_state="ACTIVE",
            ts_event=6,
            ts_init=6,
        )
    )
    publisher.publish_risk_decision(
        RiskDecisionEvent(
            instrument_id=iid,
            action="state_change",
            reason="drawdown 12% > 10%",
            requested_qty=0.0,
            approved_qty=0.0,
            trading_state="REDUCING",
            ts_event=7,
            ts_init=7,
        )
    )
    publisher.publish_risk_snapshot(
        risk_snapshot(
            [100_000.0, 101_000.0, 99_000.0, 98_000.0, 100_500.0],
            {INSTRUMENT: 25_000.0},
            {"halt_drawdown": 0.2},
            "USD",
            8,
        )
    )
    publisher.close()
    # the node's cache (CacheConfig(encoding="json")): a list of events per order
    instrument = TestInstrumentProvider.default_fx_ccy("AUD/USD")
    order = TestExecStubs.limit_order(instrument=instrument)
    submitted = TestEventStubs.order_submitted(order)
    order.apply(submitted)
    accepted = TestEventStubs.order_accepted(order)
    order.apply(accepted)
    filled = TestEventStubs.order_filled(order, instrument)
    events = [
        OrderInitialized.to_dict(order.init_event),
        OrderSubmitted.to_dict(submitted),
        OrderAccepted.to_dict(accepted),
        OrderFilled.to_dict(filled),
    ]
    client = redis.Redis.from_url(REDIS_URL)
    key = f"trader-{settings.trader_id}:orders:{order.client_order_id}"
    client.rpush(key, *[json.dumps(e) for e in events])
    client.rpush(f"trader-{settings.trader_id}:positions:P-1", json.dumps(events[-1]))
    client.close()
    features = RedisFeatureStore(REDIS_URL, prefix=settings.feature_prefix)
    features.put(
        FeatureVector.create(iid, "spec-1", ["rsi_14", "vol_20", "ret_1"], [55.0, 0.02, 0.001], 9, 9)
    )
    features.close()


def respond_to_commands(
    settings: ApiSettings, seen: list[control.ControlCommand], stop: threading.Event
) -> None:
    """Answer control commands as a node's ControlActor does: validate, then ack ok or rejected."""
    streams = control.control_streams(settings.trader_id, settings.control_stream_prefix)
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    cursor = "0-0"  # each test's stream is new: read from its start, so no command sent early is missed
    while not stop.is_set():
        response: Any = client.xread({streams.commands: cursor}, block=100, count=10)
        for _, entries in response or []:
            for entry_id, fields in entries:
                cursor = entry_id
                command = control.decode_command(fields)
                seen.append(command)
                try:
                    control.parse_args(command)
                    ack = ControlAck(
                        id=command.id,
                        kind=command.kind,
                        status="ok",
                        message="applied",
                        result={"kind": command.kind},
                    )
                except DataError as error:
                    ack = ControlAck(id=command.id, kind=command.kind, status="rejected", message=str(error))
                if command.args.get("reason") == "no-ack":
                    continue
                if command.args.get("reason") == "refuse":
                    ack = ControlAck(
                        id=command.id, kind=command.kind, status="rejected", message="refused by test"
                    )
                if command.args.get("reason") == "fail":
                    ack = ControlAck(id=command.id, kind=command.kind, status="error", message="boom")
                client.xadd(streams.acks, control.encode(ack))  # type: ignore[arg-type]
    client.close()


def cleanup(settings: ApiSettings) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    for pattern in (
        f"{settings.state_prefix}:*",
        f"{settings.feature_prefix}:*",
        f"trader-{settings.trader_id}:*",
        f"{settings.control_stream_prefix}:{settings.trader_id}:*",
        f"{settings.rate_limit_prefix}:*",
    ):
        keys = list(client.scan_iter(match=pattern, count=500))
        if keys:
            client.delete(*keys)
    client.close()


@pytest.fixture
def live_api_factory(tmp_path: Path) -> Iterator[object]:
    """Return ``start(node_state=True, **settings)`` that starts a server.

    The synthetic node state of :func:`write_node_state` is written unless ``node_state`` is False;
    every server is stopped and its keys deleted after the test.
    """
    started: list[
        tuple[uvicorn.Server, threading.Thread, threading.Thread, threading.Event, ApiSettings]
    ] = []

    def start(node_state: bool = True, **overrides: object) -> LiveApi:
        tag = uuid.uuid4().hex[:10]
        values: dict[str, object] = {
            "redis_url": REDIS_URL,
            "trader_id": f"APITEST-{tag}",
            "state_prefix": f"naitest-{tag}",
            "feature_prefix": f"naitest-{tag}-features",
            "cache_encoding": "json",
            "control_stream_prefix": f"naitest-{tag}:control",
            "command_timeout_s": 2.0,
            "key_store": tmp_path / f"keys-{tag}.sqlite",
            "registry_root": tmp_path / "registry",
            "rate_limit_prefix": f"naitest-{tag}:ratelimit",
            "rate_limit_capacity": 1000,
            "rate_limit_refill_per_s": 100.0,
        }
        values.update(overrides)
        settings = ApiSettings.from_mapping(values)
        if node_state:
            write_node_state(settings)
        store = KeyStore(settings.key_store, iterations=1000)
        keys, key_ids = {}, {}
        for scope in ("read", "trade", "admin"):
            key, info = store.create(f"test-{scope}", scope)
            keys[scope], key_ids[scope] = key, info.key_id
        log = io.StringIO()
        configure_logging("INFO", log)
        port = free_port()
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
        commands: list[control.ControlCommand] = []
        stop = threading.Event()
        responder = threading.Thread(target=respond_to_commands, args=(settings, commands, stop), daemon=True)
        responder.start()
        time.sleep(0.15)  # the responder reads from "$": let it block before commands are sent
        started.append((server, thread, responder, stop, settings))
        return LiveApi(f"http://127.0.0.1:{port}", settings, keys, key_ids, log, store, commands)

    yield start
    for server, thread, responder, stop, settings in started:
        server.should_exit = True
        stop.set()
        thread.join(timeout=10)
        responder.join(timeout=5)
        cleanup(settings)


@pytest.fixture
def live_api(live_api_factory: object) -> LiveApi:
    """A started server with default settings."""
    return live_api_factory()  # type: ignore[operator]


@pytest.fixture(scope="session")
def paper_training(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """A walk-forward's registry on the bundled AAPL bars (shared; each stack copies the registry)."""
    return train(tmp_path_factory.mktemp("paper-training"))


@pytest.fixture(scope="module")
def paper_stack(paper_training: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PaperStack]:
    """The README's paper node and sidecar, started from the CLI; stopped and its Redis keys deleted after."""
    stack = start_stack(paper_training, tmp_path_factory.mktemp("paper-stack"))
    yield stack
    stack.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A headless Chromium WebDriver (profile in the test's tmp dir), quit after the test."""
    driver = start_browser(tmp_path / "chromium-profile")
    yield driver
    driver.quit()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Add the paper node's and sidecar's output to the report of a failed test that used them."""
    outcome = yield
    report = outcome.get_result()
    stack = getattr(item, "funcargs", {}).get("paper_stack")
    if report.failed and isinstance(stack, PaperStack):
        report.sections.append(("paper node and sidecar output", stack.logs()))
