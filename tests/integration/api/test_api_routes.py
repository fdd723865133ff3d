"""Every route of the control API over real HTTP, against the real Redis."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

INSTRUMENT = "AUD/USD.SIM"


def _get(api: Any, path: str, scope: str = "read", **params: Any) -> httpx.Response:
    return httpx.get(
        api.base_url + path, params=params, headers={"Authorization": f"Bearer {api.keys[scope]}"}
    )


def _post(api: Any, path: str, body: dict[str, Any], scope: str = "admin") -> httpx.Response:
    return httpx.post(api.base_url + path, json=body, headers={"X-API-Key": api.keys[scope]}, timeout=10)


def test_health_answers_without_a_key(live_api: Any) -> None:
    response = httpx.get(live_api.base_url + "/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "redis": True, "trader_id": live_api.settings.trader_id}


def test_signal_routes_serve_latest_history_and_explanation(live_api: Any) -> None:
    latest = _get(live_api, "/signals/latest").json()
    assert {s["instrument_id"] for s in latest} == {INSTRUMENT, "AAPL.XNAS"}
    one = _get(live_api, "/signals/latest", instrument_id=INSTRUMENT).json()[0]
    assert one["probability"] == 0.5 + 4 / 20 and one["direction"] == 1
    history = _get(live_api, "/signals/history", instrument_id=INSTRUMENT, limit=3).json()
    assert [s["ts_event"] for s in history] == sorted(s["ts_event"] for s in history)
    assert len(history) == 3 and history[-1] == one
    explanation = _get(live_api, "/signals/explanation", instrument_id=INSTRUMENT).json()
    assert [a["feature"] for a in explanation["attributions"]] == ["vol_20", "rsi_14", "ret_1"]
    assert explanation["features"] == {"rsi_14": 55.0, "vol_20": 0.02, "ret_1": 0.001}
    assert explanation["regime"]["probabilities"] == {"calm": 0.8, "stress": 0.2}
    missing = _get(live_api, "/signals/latest", instrument_id="NOPE.XNAS")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_execution_reads_orders_and_fills_from_the_node_cache(live_api: Any) -> None:
    orders = _get(live_api, "/execution/orders").json()
    assert len(orders) == 1
    order = orders[0]
    assert order["status"] == "FILLED" and order["side"] == "BUY" and order["filled_qty"] == order["quantity"]
    assert _get(live_api, "/execution/orders", status="CANCELED").json() == []
    detail = _get(live_api, f"/execution/orders/{order['client_order_id']}").json()
    assert [e["type"] for e in detail["history"]] == [
        "OrderInitialized",
        "OrderSubmitted",
        "OrderAccepted",
        "OrderFilled",
    ]
    fills = _get(live_api, "/execution/fills").json()
    assert len(fills) == 1 and fills[0]["client_order_id"] == order["client_order_id"]
    assert _get(live_api, "/execution/orders/O-NOPE").status_code == 404
    positions = _get(live_api, "/execution/positions").json()
    assert positions == [
        {
            "position_id": "P-1",
            "instrument_id": INSTRUMENT,
            "quantity": order["quantity"],
            "side": "LONG",
            "avg_px_open": fills[0]["last_px"],
            "fills": 1,
            "ts_last": fills[0]["ts_event"],
        }
    ]


def test_execution_commands_go_through_the_control_channel(live_api: Any) -> None:
    submitted = _post(
        live_api,
        "/execution/orders",
        {"instrument_id": INSTRUMENT, "side": "buy", "quantity": 10},
        scope="trade",
    )
    assert submitted.status_code == 200, submitted.text
    body = submitted.json()
    assert body["status"] == "ok" and body["kind"] == "submit_order"
    command = next(c for c in live_api.commands if c.id == body["id"])
    assert command.args["side"] == "BUY" and command.actor.startswith("api:test-trade(")
    cancelled = _post(live_api, "/execution/orders/O-123/cancel", {}, scope="trade")
    assert cancelled.status_code == 200 and cancelled.json()["kind"] == "cancel_order"
    invalid = _post(
        live_api,
        "/execution/orders",
        {"instrument_id": INSTRUMENT, "side": "BUY", "quantity": 1, "order_type": "limit"},
        scope="trade",
    )
    assert invalid.status_code == 422 and invalid.headers["content-type"] == "application/problem+json"


def test_risk_routes_serve_state_snapshot_and_commands(live_api: Any) -> None:
    assert _get(live_api, "/risk/state").json()["state"] == "REDUCING"
    exposure = _get(live_api, "/risk/exposure").json()
    assert exposure["exposures"] == {INSTRUMENT: 25_000.0} and exposure["gross_exposure"] == 25_000.0
    drawdown = _get(live_api, "/risk/drawdown").json()
    assert (
        drawdown["peak_equity"] == 101_000.0 and abs(drawdown["drawdown"] - (1 - 100_500 / 101_000)) < 1e-12
    )
    cvar = _get(live_api, "/risk/cvar").json()
    assert cvar["alpha"] == 0.95 and cvar["cvar"] > 0
    assert _get(live_api, "/risk/limits").json() == {"halt_drawdown": 0.2}
    decisions = _get(live_api, "/risk/decisions", limit=10).json()
    assert [d["action"] for d in decisions] == ["shrunk", "state_change"]
    assert _post(live_api, "/risk/halt", {"reason": "news"}, scope="trade").json()["status"] == "ok"
    assert _post(live_api, "/risk/resume", {"reason": "done"}).json()["kind"] == "resume"
    limit = _post(live_api, "/risk/limits", {"name": "max_gross_leverage", "value": 1.5})
    assert limit.status_code == 200 and limit.json()["kind"] == "set_limit"


def test_a_command_without_ack_is_pending(live_api: Any) -> None:
    response = _post(live_api, "/risk/halt", {"reason": "no-ack"}, scope="trade")
    assert response.status_code == 202
    assert response.json()["status"] == "pending"


def test_rejected_and_failed_commands_are_problems(live_api: Any) -> None:
    rejected = _post(live_api, "/risk/halt", {"reason": "refuse"}, scope="trade")
    assert rejected.status_code == 409 and "refused by test" in rejected.json()["detail"]
    failed = _post(live_api, "/learning/retrain", {"reason": "fail"})
    assert failed.status_code == 502 and failed.headers["content-type"] == "application/problem+json"
    assert failed.json()["type"] == "urn:nautilus-ai:problem:command-failed" and failed.json()["request_id"]


def test_learning_routes(live_api: Any) -> None:
    assert _get(live_api, "/learning/models").json() == []
    assert _get(live_api, "/learning/models/none-123").status_code == 404
    assert _get(live_api, "/learning/studies").json() == []
    promoted = _post(live_api, "/learning/models/m-abc/promote", {"reason": "better"})
    assert promoted.status_code == 200 and promoted.json()["kind"] == "promote"
    assert _post(live_api, "/learning/rollback", {"name": "m"}).json()["kind"] == "rollback"
    assert _post(live_api, "/learning/retrain", {"reason": "drift"}).json()["kind"] == "retrain"
    kinds = [c.kind for c in live_api.commands]
    assert kinds == ["promote", "rollback", "retrain"]


def test_metrics_expose_prometheus_text(live_api: Any) -> None:
    _get(live_api, "/risk/state")
    text = _get(live_api, "/metrics").text
    assert 'nautilus_ai_trading_state{state="REDUCING"} 1' in text
    assert re.search(
        r'nautilus_ai_api_requests_total\{method="GET",route="/risk/state",status="200"\} 1', text
    )
    assert f'nautilus_ai_signal_direction{{instrument_id="{INSTRUMENT}"}} 1' in text


def test_rate_limit_answers_429_with_retry_after(live_api_factory: Any) -> None:
    api = live_api_factory(rate_limit_capacity=3, rate_limit_refill_per_s=0.1)
    statuses = [_get(api, "/risk/state").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = _get(api, "/risk/state")
    assert limited.headers["content-type"] == "application/problem+json"
    assert int(limited.headers["Retry-After"]) >= 1


def test_logs_have_request_ids_and_no_secrets(live_api: Any) -> None:
    response = httpx.get(
        live_api.base_url + "/risk/state",
        headers={"Authorization": f"Bearer {live_api.keys['read']}", "X-Request-ID": "req-42"},
    )
    assert response.headers["X-Request-ID"] == "req-42"
    httpx.get(live_api.base_url + "/risk/state", headers={"X-API-Key": live_api.keys["admin"] + "x"})
    lines = [json.loads(line) for line in live_api.log.getvalue().splitlines() if line.strip()]
    assert any(line.get("request_id") == "req-42" and line["status"] == 200 for line in lines)
    assert all(line.get("request_id") for line in lines if line.get("message") == "request")
    text = live_api.log.getvalue()
    for key in live_api.keys.values():
        assert key not in text and key.split("_", 2)[2] not in text
    assert "Bearer" not in text


def test_openapi_is_complete(live_api: Any) -> None:
    schema = httpx.get(live_api.base_url + "/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert "200" in operation["responses"], (method, path)
            if path != "/health":
                assert operation.get("security"), (method, path)
                assert "401" in operation["responses"] and "429" in operation["responses"], (method, path)


def test_cors_is_off_by_default_and_on_when_configured(live_api_factory: Any) -> None:
    off = live_api_factory()
    headers = {"Origin": "https://dash.example", "Access-Control-Request-Method": "GET"}
    assert (
        "access-control-allow-origin" not in httpx.options(off.base_url + "/health", headers=headers).headers
    )
    on = live_api_factory(cors_origins=["https://dash.example"])
    allowed = httpx.options(on.base_url + "/health", headers=headers)
    assert allowed.headers["access-control-allow-origin"] == "https://dash.example"
