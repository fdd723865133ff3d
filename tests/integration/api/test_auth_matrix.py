"""Each scope against each route, and missing, malformed, wrong and revoked keys."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

ROUTES: list[tuple[str, str, dict[str, Any] | None, str | None]] = [
    ("GET", "/health", None, None),
    ("GET", "/signals/latest", None, "read"),
    ("GET", "/signals/history?instrument_id=AUD/USD.SIM", None, "read"),
    ("GET", "/signals/explanation?instrument_id=AUD/USD.SIM", None, "read"),
    ("GET", "/execution/orders", None, "read"),
    ("GET", "/execution/orders/O-1", None, "read"),
    ("GET", "/execution/fills", None, "read"),
    ("GET", "/execution/positions", None, "read"),
    ("POST", "/execution/orders", {"instrument_id": "AUD/USD.SIM", "side": "BUY", "quantity": 1}, "trade"),
    ("POST", "/execution/orders/O-1/cancel", {}, "trade"),
    ("GET", "/risk/state", None, "read"),
    ("GET", "/risk/exposure", None, "read"),
    ("GET", "/risk/drawdown", None, "read"),
    ("GET", "/risk/cvar", None, "read"),
    ("GET", "/risk/limits", None, "read"),
    ("GET", "/risk/decisions", None, "read"),
    ("POST", "/risk/halt", {"reason": "test"}, "trade"),
    ("POST", "/risk/resume", {"reason": "test"}, "admin"),
    ("POST", "/risk/limits", {"name": "max_gross_leverage", "value": 1.0}, "admin"),
    ("GET", "/learning/models", None, "read"),
    ("GET", "/learning/models/m-1", None, "read"),
    ("POST", "/learning/models/m-1/promote", {}, "admin"),
    ("POST", "/learning/rollback", {"name": "m"}, "admin"),
    ("POST", "/learning/retrain", {"reason": "test"}, "admin"),
    ("GET", "/learning/studies", None, "read"),
    ("GET", "/metrics", None, "read"),
]
RANK = {"read": 0, "trade": 1, "admin": 2}


def _call(
    api: Any, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]
) -> httpx.Response:
    return httpx.request(method, api.base_url + path, json=body, headers=headers, timeout=10)


def test_every_route_is_in_the_matrix(live_api: Any) -> None:
    schema = httpx.get(live_api.base_url + "/openapi.json").json()
    documented = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    tested = {
        (m, p.split("?")[0].replace("O-1", "{client_order_id}").replace("m-1", "{version_id}"))
        for m, p, _, _ in ROUTES
    }
    assert documented == tested


def test_scope_matrix(live_api: Any) -> None:
    failures = []
    for method, path, body, required in ROUTES:
        for scope, key in live_api.keys.items():
            for header in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
                status = _call(live_api, method, path, body, header).status_code
                allowed = required is None or RANK[scope] >= RANK[required]
                if (allowed and status in (401, 403)) or (not allowed and status != 403):
                    failures.append((method, path, scope, status))
    assert failures == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nai_000000000000_" + "A" * 43},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"X-API-Key": "not-a-key"},
    ],
    ids=["missing", "unknown", "basic-auth", "malformed"],
)
def test_missing_and_wrong_keys_get_401_on_every_protected_route(
    live_api: Any, headers: dict[str, str]
) -> None:
    for method, path, body, required in ROUTES:
        if required is None:
            continue
        response = _call(live_api, method, path, body, headers)
        assert response.status_code == 401, (method, path)
        assert response.headers["content-type"] == "application/problem+json"
        assert "WWW-Authenticate" in response.headers


def test_a_wrong_secret_and_a_revoked_key_get_401(live_api: Any) -> None:
    admin = live_api.keys["admin"]
    wrong = admin[:-4] + ("AAAA" if not admin.endswith("AAAA") else "BBBB")
    assert _call(live_api, "GET", "/risk/state", None, {"X-API-Key": wrong}).status_code == 401
    assert _call(live_api, "GET", "/risk/state", None, {"X-API-Key": admin}).status_code == 200
    live_api.store.revoke(live_api.key_ids["admin"])
    assert _call(live_api, "GET", "/risk/state", None, {"X-API-Key": admin}).status_code == 401
