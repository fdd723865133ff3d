"""The dashboard's routes in-process (FastAPI TestClient) against the real Redis: auth, scopes, CSRF."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from nautilus_ai.api.app import create_app
from nautilus_ai.api.auth import KeyStore
from nautilus_ai.api.settings import ApiSettings
from nautilus_ai.live import control
from nautilus_ai.live.redis_publisher import RedisStatePublisher
from nautilus_ai.test_kit import small_experiment

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


pytestmark = pytest.mark.skipif(not _redis_up(), reason="needs redis-server on 127.0.0.1:6379")
PAGES = ("/ui/", "/ui/signals", "/ui/risk", "/ui/models", "/ui/runs", "/ui/map")


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[dict[str, Any]]:
    tag = uuid.uuid4().hex[:10]
    settings = ApiSettings.from_mapping(
        {
            "redis_url": REDIS_URL,
            "trader_id": f"UIUNIT-{tag}",
            "state_prefix": f"naiuiu-{tag}",
            "control_stream_prefix": f"naiuiu-{tag}:control",
            "rate_limit_prefix": f"naiuiu-{tag}:rl",
            "key_store": str(tmp_path / "keys.sqlite"),
            "command_timeout_s": 0.3,
            "cache_encoding": "json",
        }
    )
    publisher = RedisStatePublisher(settings.trader_id, REDIS_URL, settings.state_prefix)
    publisher.publish_trading_state("REDUCING", "drawdown 12%", 1)
    publisher.close()
    store = KeyStore(settings.key_store, iterations=1000)
    keys = {scope: store.create(f"u-{scope}", scope) for scope in ("read", "trade", "admin")}
    app = create_app(settings, store, experiment=small_experiment(tmp_path / "catalog"))
    yield {"app": app, "settings": settings, "store": store, "keys": keys}
    client = redis.Redis.from_url(REDIS_URL)
    found = list(client.scan_iter(match=f"naiuiu-{tag}*", count=500))
    if found:
        client.delete(*found)
    client.close()


def _login(ui: dict[str, Any], scope: str) -> tuple[TestClient, str]:
    client = TestClient(ui["app"])
    response = client.post(
        "/ui/login",
        content=f"api_key={ui['keys'][scope][0]}",
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/ui/"
    page = client.get("/ui/")
    match = re.search(r'data-csrf="([^"]+)"', page.text)
    assert match
    return client, match.group(1)


def test_without_a_session_pages_redirect_and_data_routes_answer_401(ui: dict[str, Any]) -> None:
    client = TestClient(ui["app"])
    for path in PAGES:
        response = client.get(path, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/ui/login"), path
    for method, path in (
        ("GET", "/ui/events"),
        ("GET", "/ui/snapshot.json"),
        ("GET", "/ui/map.svg"),
        ("POST", "/ui/actions/halt"),
    ):
        response = client.request(method, path)
        assert response.status_code == 401, path
        assert response.headers["content-type"] == "application/problem+json"
    assert client.get("/ui/login").status_code == 200
    assert client.get("/ui/static/dashboard.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/ui/static/..%2Fsessions.py").status_code == 404


def test_login_sets_a_strict_httponly_cookie_without_the_key(ui: dict[str, Any]) -> None:
    client = TestClient(ui["app"])
    key = ui["keys"]["admin"][0]
    response = client.post(
        "/ui/login",
        content=f"api_key={key}",
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert key not in cookie and key.split("_")[2] not in cookie
    page = client.get("/ui/")
    assert page.status_code == 200 and "REDUCING" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    client.post("/ui/logout")
    assert client.get("/ui/", follow_redirects=False).status_code == 303


def test_a_wrong_key_gets_the_login_page_with_401(ui: dict[str, Any]) -> None:
    client = TestClient(ui["app"])
    for body in ("api_key=nai_000000000000_" + "x" * 43, "api_key=", "other=1"):
        response = client.post(
            "/ui/login", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
        )
        assert response.status_code == 401 and "Invalid or revoked API key." in response.text
        assert "set-cookie" not in response.headers


def test_controls_are_rendered_by_scope(ui: dict[str, Any]) -> None:
    expected = {"read": set(), "trade": {"halt"}, "admin": {"halt", "resume"}}
    for scope, kinds in expected.items():
        client, _ = _login(ui, scope)
        for path in ("/ui/", "/ui/risk"):
            assert set(re.findall(r'data-control="(\w+)"', client.get(path).text)) == kinds, (scope, path)


def test_controls_are_enforced_on_the_server(ui: dict[str, Any]) -> None:
    read, read_csrf = _login(ui, "read")
    assert (
        read.post("/ui/actions/halt", json={"reason": "x"}, headers={"X-UI-CSRF": read_csrf}).status_code
        == 403
    )
    trade, csrf = _login(ui, "trade")
    assert trade.post("/ui/actions/halt", json={"reason": "x"}).status_code == 403  # no CSRF token
    assert (
        trade.post("/ui/actions/halt", json={"reason": "x"}, headers={"X-UI-CSRF": read_csrf}).status_code
        == 403
    )
    for kind in ("resume", "promote", "rollback"):
        response = trade.post(f"/ui/actions/{kind}", json={"reason": "x"}, headers={"X-UI-CSRF": csrf})
        assert response.status_code == 403 and "admin" in response.json()["detail"], kind
    assert (
        trade.post("/ui/actions/explode", json={"reason": "x"}, headers={"X-UI-CSRF": csrf}).status_code
        == 404
    )
    bad = trade.post("/ui/actions/halt", json={"reason": ""}, headers={"X-UI-CSRF": csrf})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("reason")
    admin, admin_csrf = _login(ui, "admin")
    missing = admin.post("/ui/actions/promote", json={"reason": "x"}, headers={"X-UI-CSRF": admin_csrf})
    assert missing.status_code == 422 and "version_id" in missing.json()["detail"]


def test_a_halt_is_sent_as_a_control_command_and_pending_without_a_node(ui: dict[str, Any]) -> None:
    settings = ui["settings"]
    client, csrf = _login(ui, "trade")
    response = client.post("/ui/actions/halt", json={"reason": "from the test"}, headers={"X-UI-CSRF": csrf})
    assert response.status_code == 202 and response.json()["status"] == "pending"
    streams = control.control_streams(settings.trader_id, settings.control_stream_prefix)
    entries: Any = redis.Redis.from_url(REDIS_URL, decode_responses=True).xrange(streams.commands)
    command = control.decode_command(entries[-1][1])
    assert command.id == response.json()["id"] and command.kind == "halt"
    assert command.args == {"reason": "from the test"}
    assert command.actor == f"api:ui:u-trade({ui['keys']['trade'][1].key_id})"


def test_revoking_the_key_ends_its_sessions(ui: dict[str, Any]) -> None:
    client, _ = _login(ui, "admin")
    assert client.get("/ui/risk").status_code == 200
    ui["store"].revoke(ui["keys"]["admin"][1].key_id)
    assert client.get("/ui/risk", follow_redirects=False).status_code == 303
    assert client.get("/ui/snapshot.json").status_code == 401


def test_snapshot_and_map_serve_the_live_state(ui: dict[str, Any]) -> None:
    client, _ = _login(ui, "read")
    snapshot = client.get("/ui/snapshot.json").json()
    assert snapshot["trading_state"] == {"state": "REDUCING", "reason": "drawdown 12%", "ts": 1}
    svg = client.get("/ui/map.svg")
    assert svg.headers["content-type"] == "image/svg+xml" and "<svg" in svg.text and "REDUCING" in svg.text
