"""The dashboard at /ui in headless Chromium (Debian's chromium + chromedriver, driven by Selenium).

A real sidecar (``create_app`` + ``ui_router``) runs under uvicorn against the real Redis. The node's
state is written into Redis through ``RedisStatePublisher`` (signals, regimes, risk decisions, risk
snapshot, trading state) and the node's cache (a position's fill), the way a paper node's
``RedisPublisherActor`` and cache do; no TradingNode runs. Controls travel the real path
(page -> ``/ui/actions`` -> ``ControlClient`` -> Redis command stream -> ack stream), answered by a
thread that acts as the node's ControlActor: it validates the command with ``control.parse_args``,
applies ``halt``/``resume`` by publishing the new trading state and ``promote`` to a real
``ModelRegistry``, and acks. Screenshots of every page go to the test's tmp dir (``screenshots/``) and
to ``$NAUTILUS_AI_ARTIFACTS_DIR/dashboard-stand-in/`` when set. ``test_dashboard_paper_node.py`` runs
the same dashboard on a real paper node started from the CLI.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
import uvicorn
from dashboard_driver import browser_available, controls, live, login, screenshot, text, wait

from nautilus_ai.api.app import create_app
from nautilus_ai.api.auth import KeyStore
from nautilus_ai.api.settings import ApiSettings
from nautilus_ai.catalog.types import ModelSignal, RegimeLabel, RiskDecisionEvent
from nautilus_ai.errors import DataError
from nautilus_ai.learning.model import DirectionClassifier
from nautilus_ai.learning.registry import ModelRegistry
from nautilus_ai.live import control
from nautilus_ai.live.control import ControlAck
from nautilus_ai.live.redis_publisher import RedisStatePublisher, risk_snapshot
from nautilus_ai.test_kit import small_experiment

REDIS_URL = "redis://127.0.0.1:6379/0"
ARTIFACTS = "dashboard-stand-in"
INSTRUMENT = "AUD/USD.SIM"
NAMES = ["ret_1", "ret_5", "vol_20"]


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not _redis_up(), reason="needs redis-server on 127.0.0.1:6379"),
    pytest.mark.skipif(
        not browser_available(),
        reason="needs /usr/bin/chromium and /usr/bin/chromedriver (scripts/ensure-chromium.sh)",
    ),
]


def _signal(version: str, probability: float, direction: int, ts: int) -> ModelSignal:
    from nautilus_trader.model.identifiers import InstrumentId

    return ModelSignal(
        instrument_id=InstrumentId.from_str(INSTRUMENT),
        direction=direction,
        probability=probability,
        confidence=abs(probability - 0.5) * 2,
        horizon_bars=5,
        model_version=version,
        regime="calm",
        top_attributions="rsi_14:+0.120;vol_20:-0.300;ret_1:+0.010",
        ts_event=ts,
        ts_init=ts,
    )


def _write_node_state(settings: ApiSettings) -> None:
    from nautilus_trader.model.events import OrderFilled
    from nautilus_trader.model.identifiers import InstrumentId, PositionId
    from nautilus_trader.test_kit.providers import TestInstrumentProvider
    from nautilus_trader.test_kit.stubs.events import TestEventStubs
    from nautilus_trader.test_kit.stubs.execution import TestExecStubs

    publisher = RedisStatePublisher(settings.trader_id, REDIS_URL, settings.state_prefix, stream_maxlen=100)
    base = 1_700_000_000_000_000_000
    for i in range(8):
        publisher.publish_signal(
            _signal("aud-dir-1", 0.45 + i / 40, 1 if i % 2 else -1, base + i * 60_000_000_000)
        )
    iid = InstrumentId.from_str(INSTRUMENT)
    publisher.publish_regime(
        RegimeLabel(
            instrument_id=iid,
            regime="calm",
            probabilities={"calm": 0.8, "stress": 0.2},
            model_version="hmm-1",
            ts_event=base,
            ts_init=base,
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
            ts_event=base,
            ts_init=base,
        )
    )
    publisher.publish_trading_state("ACTIVE", "node started", base)
    publisher.publish_risk_snapshot(
        risk_snapshot(
            [100_000.0, 101_000.0, 99_000.0, 98_000.0, 100_500.0],
            {INSTRUMENT: 25_000.0},
            {"halt_drawdown": 0.2, "cvar_budget": 0.05},
            "USD",
            base,
        )
    )
    publisher.close()
    instrument = TestInstrumentProvider.default_fx_ccy("AUD/USD")
    order = TestExecStubs.market_order(instrument=instrument)
    fill = TestEventStubs.order_filled(order, instrument, position_id=PositionId("P-UI-1"))
    client = redis.Redis.from_url(REDIS_URL)
    client.rpush(f"trader-{settings.trader_id}:positions:P-UI-1", json.dumps(OrderFilled.to_dict(fill)))
    client.close()


def _registry(root: Path) -> tuple[ModelRegistry, str, str]:
    registry = ModelRegistry(root)
    versions = []
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(300, len(NAMES)))
        y = (x[:, 0] + rng.normal(0, 1, 300) > 0).astype(int)
        model = DirectionClassifier(params={"n_estimators": 20}, seed=seed).fit(x, y, NAMES, "spec-ui")
        versions.append(
            registry.register(
                model,
                name="aud-dir",
                train_start="2020-01-01",
                train_end="2021-01-01",
                seed=seed,
                params={"n_estimators": 20},
                metrics={"auc": 0.6 + seed / 100},
            )
        )
    registry.set_status(versions[0], "champion", actor="test", reason="initial")
    return registry, versions[0], versions[1]


def _act_as_control_actor(
    settings: ApiSettings, registry: ModelRegistry, seen: list[control.ControlCommand], stop: threading.Event
) -> None:
    """Answer commands as a node's ControlActor: validate, apply (trading state, registry) and ack."""
    streams = control.control_streams(settings.trader_id, settings.control_stream_prefix)
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    publisher = RedisStatePublisher(settings.trader_id, REDIS_URL, settings.state_prefix)
    cursor = "0-0"  # a fresh stream per test: read it all ("$" would miss commands sent between two reads)
    while not stop.is_set():
        response: Any = client.xread({streams.commands: cursor}, block=100, count=10)
        for _, entries in response or []:
            for entry_id, fields in entries:
                cursor = entry_id
                command = control.decode_command(fields)
                seen.append(command)
                try:
                    args = control.parse_args(command)
                    if command.kind in ("halt", "resume"):
                        state = "HALTED" if command.kind == "halt" else "ACTIVE"
                        publisher.publish_trading_state(state, getattr(args, "reason", ""), time.time_ns())
                    elif command.kind == "promote":
                        registry.set_status(getattr(args, "version_id", ""), "champion", actor=command.actor)
                    ack = ControlAck(id=command.id, kind=command.kind, status="ok", message="applied")
                except DataError as error:
                    ack = ControlAck(id=command.id, kind=command.kind, status="rejected", message=str(error))
                client.xadd(streams.acks, control.encode(ack))  # type: ignore[arg-type]
    publisher.close()
    client.close()


@dataclass
class Dashboard:
    base_url: str
    settings: ApiSettings
    keys: dict[str, str]
    commands: list[control.ControlCommand]
    champion: str
    challenger: str
    screenshots: Path


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[Dashboard]:
    import socket

    tag = uuid.uuid4().hex[:10]
    settings = ApiSettings.from_mapping(
        {
            "redis_url": REDIS_URL,
            "trader_id": f"UITEST-{tag}",
            "state_prefix": f"naiui-{tag}",
            "feature_prefix": f"naiui-{tag}-features",
            "cache_encoding": "json",
            "control_stream_prefix": f"naiui-{tag}:control",
            "command_timeout_s": 5.0,
            "key_store": str(tmp_path / "keys.sqlite"),
            "registry_root": str(tmp_path / "registry"),
            "rate_limit_prefix": f"naiui-{tag}:ratelimit",
            "rate_limit_capacity": 1000,
            "rate_limit_refill_per_s": 100.0,
        }
    )
    _write_node_state(settings)
    registry, champion, challenger = _registry(tmp_path / "registry")
    runs = tmp_path / "runs"
    (runs / "wf-20260101-small").mkdir(parents=True)
    (runs / "wf-20260101-small" / "report.html").write_text(
        "<html><body><h1 id='rep'>walk-forward</h1></body></html>"
    )
    (runs / "wf-20260101-small" / "metrics.json").write_text(json.dumps({"sharpe": 1.25, "n_folds": 2}))
    store = KeyStore(settings.key_store, iterations=1000)
    keys = {scope: store.create(f"ui-{scope}", scope)[0] for scope in ("read", "trade", "admin")}
    settings = settings.model_copy(update={"runs_root": runs})
    app = create_app(
        settings, store, experiment=small_experiment(tmp_path / "catalog"), ui_poll_interval_s=0.2
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
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
    actor = threading.Thread(
        target=_act_as_control_actor, args=(settings, registry, commands, stop), daemon=True
    )
    actor.start()
    time.sleep(0.15)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    yield Dashboard(f"http://127.0.0.1:{port}", settings, keys, commands, champion, challenger, shots)
    server.should_exit = True
    stop.set()
    thread.join(timeout=10)
    actor.join(timeout=5)
    client = redis.Redis.from_url(REDIS_URL)
    for pattern in (f"naiui-{tag}*", f"trader-{settings.trader_id}:*"):
        found = list(client.scan_iter(match=pattern, count=500))
        if found:
            client.delete(*found)
    client.close()


def test_admin_sees_every_page_populated_and_a_signal_arrives_live(
    dashboard: Dashboard, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    dash, driver = dashboard, browser
    login(driver, dash.base_url, dash.keys["admin"])
    assert driver.execute_script("return document.cookie") == "", "the session cookie must be HttpOnly"
    live(driver)
    assert text(driver, "ov-state") == "ACTIVE" and text(driver, "trading-state") == "ACTIVE"
    assert text(driver, "ov-equity") == "100,500 USD"
    assert text(driver, "ov-drawdown") == f"{100 * (1 - 100_500 / 101_000):.2f}%"
    positions = driver.find_element(By.ID, "positions-table").text
    assert "P-UI-1" in positions and "LONG" in positions and INSTRUMENT in positions
    assert "calm" in driver.find_element(By.ID, "regimes-table").text
    assert {b.get_attribute("id") for b in controls(driver)} == {"btn-halt", "btn-resume"}
    screenshot(driver, dash.screenshots, "overview", ARTIFACTS)

    driver.get(dash.base_url + "/ui/signals")
    live(driver)
    table = driver.find_element(By.ID, "signals-table")
    assert "aud-dir-1" in table.text and "vol_20 -0.300" in table.text
    assert len(driver.find_elements(By.CSS_SELECTOR, "#signal-charts circle.dot")) == 8
    driver.execute_script("window.__sameDocument = 'yes';")
    publisher = RedisStatePublisher(dash.settings.trader_id, REDIS_URL, dash.settings.state_prefix)
    publisher.publish_signal(_signal("aud-dir-live", 0.91, 1, 1_800_000_000_000_000_000))
    publisher.close()
    wait(driver, lambda d: "aud-dir-live" in d.find_element(By.ID, "signals-table").text)
    assert driver.execute_script("return window.__sameDocument") == "yes", "the page must not reload"
    assert "0.91" in driver.find_element(By.ID, "signals-table").text
    assert len(driver.find_elements(By.CSS_SELECTOR, "#signal-charts circle.dot")) == 9
    screenshot(driver, dash.screenshots, "signals", ARTIFACTS)

    driver.get(dash.base_url + "/ui/risk")
    live(driver)
    assert "max_position_weight" in driver.find_element(By.ID, "decisions-table").text
    assert text(driver, "rk-gross") == "25,000 USD" and text(driver, "rk-cvar-budget") == "budget 5.00%"
    screenshot(driver, dash.screenshots, "risk", ARTIFACTS)

    driver.get(dash.base_url + "/ui/models")
    champion = driver.find_element(By.CSS_SELECTOR, f"tr[data-version='{dash.champion}']")
    assert "champion" in champion.text and "auc=0.6" in champion.text
    assert driver.find_elements(By.CSS_SELECTOR, f"button.promote[data-version='{dash.challenger}']")
    assert driver.find_elements(By.CSS_SELECTOR, "button.rollback[data-name='aud-dir']")
    screenshot(driver, dash.screenshots, "models", ARTIFACTS)
    driver.find_element(By.CSS_SELECTOR, f"button.promote[data-version='{dash.challenger}']").click()
    alert = wait(driver, lambda d: d.switch_to.alert)
    assert dash.challenger in alert.text
    alert.accept()
    wait(
        driver,
        lambda d: "champion" in d.find_element(By.CSS_SELECTOR, f"tr[data-version='{dash.challenger}']").text,
    )
    promote = next(c for c in dash.commands if c.kind == "promote")
    assert promote.args["version_id"] == dash.challenger and promote.actor.startswith("api:ui:ui-admin(")

    driver.get(dash.base_url + "/ui/runs")
    link = driver.find_element(By.LINK_TEXT, "wf-20260101-small")
    assert "sharpe=1.25" in driver.find_element(By.ID, "runs-table").text
    screenshot(driver, dash.screenshots, "runs", ARTIFACTS)
    driver.get(link.get_attribute("href"))
    assert text(driver, "rep") == "walk-forward"

    driver.get(dash.base_url + "/ui/map")
    wait(
        driver,
        lambda d: d.execute_script(
            "const i = document.getElementById('system-map'); return i.complete && i.naturalWidth > 0;"
        ),
    )
    screenshot(driver, dash.screenshots, "map", ARTIFACTS)
    assert sorted(p.name for p in dash.screenshots.iterdir()) == [
        "map.png",
        "models.png",
        "overview.png",
        "risk.png",
        "runs.png",
        "signals.png",
    ]


def test_trade_key_halts_trading_from_the_page(dashboard: Dashboard, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    dash, driver = dashboard, browser
    login(driver, dash.base_url, dash.keys["trade"])
    live(driver)
    assert [b.get_attribute("id") for b in controls(driver)] == ["btn-halt"], "resume needs admin"
    reason = driver.find_element(By.ID, "control-reason")
    reason.clear()
    reason.send_keys("browser test halt")
    driver.find_element(By.ID, "btn-halt").click()
    alert = wait(driver, lambda d: d.switch_to.alert)
    alert.dismiss()  # cancelling the confirmation sends nothing
    time.sleep(0.5)
    assert dash.commands == []
    driver.find_element(By.ID, "btn-halt").click()
    wait(driver, lambda d: d.switch_to.alert).accept()
    wait(driver, lambda d: text(d, "ov-state") == "HALTED" and text(d, "trading-state") == "HALTED")
    assert text(driver, "ov-state-reason").startswith("browser test halt")
    assert [(c.kind, c.args) for c in dash.commands] == [("halt", {"reason": "browser test halt"})]
    assert dash.commands[0].actor.startswith("api:ui:ui-trade(")
    screenshot(driver, dash.screenshots, "overview-halted", ARTIFACTS)


def test_read_only_key_sees_no_controls_and_the_server_refuses_them(
    dashboard: Dashboard, browser: Any
) -> None:
    dash, driver = dashboard, browser
    login(driver, dash.base_url, dash.keys["read"])
    live(driver)
    assert controls(driver) == []
    for page in ("risk", "models"):
        driver.get(f"{dash.base_url}/ui/{page}")
        assert controls(driver) == [], page
    screenshot(driver, dash.screenshots, "models-read-only", ARTIFACTS)
    status = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/ui/actions/halt', {method: 'POST', headers: {'Content-Type': 'application/json',"
        " 'X-UI-CSRF': document.body.dataset.csrf}, body: JSON.stringify({reason: 'x'})})"
        ".then(r => done(r.status));"
    )
    assert status == 403
    assert dash.commands == []


def test_a_wrong_key_does_not_log_in(dashboard: Dashboard, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    dash, driver = dashboard, browser
    driver.get(dash.base_url + "/ui/login")
    driver.find_element(By.ID, "api-key").send_keys(dash.keys["admin"][:-3] + "xyz")
    driver.find_element(By.ID, "login-submit").click()
    wait(driver, lambda d: text(d, "login-error") == "Invalid or revoked API key.")
    assert driver.get_cookies() == []
    driver.get(dash.base_url + "/ui/risk")
    assert driver.current_url.endswith("/ui/login")
