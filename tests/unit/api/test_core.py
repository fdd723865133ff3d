"""Pure parts of the sidecar: settings, problems, log redaction, rate-limit refill, state folding, metrics."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from nautilus_ai.api.deps import Metrics
from nautilus_ai.api.logging import JsonFormatter, redact
from nautilus_ai.api.problems import status_for
from nautilus_ai.api.ratelimit import refill
from nautilus_ai.api.routers.metrics import render_metrics
from nautilus_ai.api.settings import ApiSettings
from nautilus_ai.api.state import (
    decode_cache_value,
    order_summary,
    parse_attributions,
    position_summary,
    typed_fields,
)
from nautilus_ai.errors import ConfigError, DataError, ModelError, RetryableError, TradingHaltError

KEY = "nai_0123456789ab_" + "s" * 43


def test_settings_read_toml_then_environment(tmp_path: Path) -> None:
    path = tmp_path / "api.toml"
    path.write_text('[api]\ntrader_id = "LIVE-1"\nrate_limit_capacity = 10\n')
    settings = ApiSettings.load(
        path,
        {"NAUTILUS_AI_API_RATE_LIMIT_CAPACITY": "20", "NAUTILUS_AI_API_CORS_ORIGINS": "https://a,https://b"},
    )
    assert settings.trader_id == "LIVE-1" and settings.rate_limit_capacity == 20
    assert settings.cors_origins == ("https://a", "https://b")
    assert ApiSettings.load(None, {}).cors_origins == ()


def test_settings_errors_name_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "api.toml"
    path.write_text("[api]\nbogus = 1\n")
    with pytest.raises(ConfigError, match=r"api.toml: api.bogus"):
        ApiSettings.load(path, {})
    with pytest.raises(ConfigError, match="not found"):
        ApiSettings.load(tmp_path / "missing.toml", {})
    with pytest.raises(ConfigError, match="command_timeout_s"):
        ApiSettings.load(None, {"NAUTILUS_AI_API_COMMAND_TIMEOUT_S": "-1"})


def test_errors_map_to_statuses_by_operator_action() -> None:
    assert status_for(DataError("x")) == 422 and status_for(ConfigError("x")) == 422
    assert status_for(ModelError("x")) == 404 and status_for(RetryableError("x")) == 503
    assert status_for(TradingHaltError("x")) == 409


def test_logs_never_carry_keys_or_bearer_tokens() -> None:
    assert redact(f"got {KEY} and Bearer abc.def") == "got nai_*** and Bearer ***"
    record = logging.LogRecord("t", logging.INFO, __file__, 1, f"key {KEY}", None, None)
    record.fields = {"authorization": f"Bearer {KEY}", "path": "/x", "nested": {"x-api-key": KEY}}
    line = JsonFormatter().format(record)
    assert KEY not in line and "s" * 43 not in line
    data = json.loads(line)
    assert data["authorization"] == "***" and data["nested"]["x-api-key"] == "***" and data["path"] == "/x"


def test_refill_caps_at_capacity_and_ignores_clock_going_back() -> None:
    assert refill(0.0, 2.0, 1.5, 10.0) == 3.0
    assert refill(9.0, 100.0, 1.0, 10.0) == 10.0
    assert refill(2.0, -5.0, 1.0, 10.0) == 2.0


def test_order_summary_folds_events_into_status_and_fill() -> None:
    events = [
        {
            "type": "OrderInitialized",
            "quantity": "100",
            "order_side": "SELL",
            "instrument_id": "X.Y",
            "order_type": "LIMIT",
            "options": {"price": "1.5"},
            "ts_init": 1,
        },
        {"type": "OrderAccepted", "ts_event": 2},
        {"type": "OrderFilled", "last_qty": "40", "last_px": "1.5", "ts_event": 3},
    ]
    partial = order_summary("O-1", events)
    assert (
        partial["status"] == "PARTIALLY_FILLED" and partial["filled_qty"] == 40.0 and partial["price"] == 1.5
    )
    events.append({"type": "OrderFilled", "last_qty": "60", "last_px": "2.0", "ts_event": 4})
    full = order_summary("O-1", events)
    assert full["status"] == "FILLED" and full["avg_px"] == pytest.approx((40 * 1.5 + 60 * 2.0) / 100)
    assert order_summary("O-2", [*events[:2], {"type": "OrderCanceled"}])["status"] == "CANCELED"


def test_cache_values_decode_from_json_and_msgpack() -> None:
    import msgspec

    event = {"type": "OrderFilled", "last_qty": "1"}
    assert decode_cache_value(json.dumps(event), "json") == event
    assert decode_cache_value(msgspec.msgpack.encode(event), "msgpack") == event
    with pytest.raises(DataError, match="cache_encoding"):
        decode_cache_value(b"\xc1", "msgpack")


def test_attributions_and_typed_fields_parse() -> None:
    assert parse_attributions("a:+0.1;b_c:-0.25;") == [("a", 0.1), ("b_c", -0.25)]
    assert parse_attributions("") == []
    with pytest.raises(DataError, match="top_attributions"):
        parse_attributions("oops")
    assert typed_fields({"direction": "-1", "probability": "0.7", "limits": '{"a": 1}', "regime": "x"}) == {
        "direction": -1,
        "probability": 0.7,
        "limits": {"a": 1},
        "regime": "x",
    }


def test_metrics_text_has_counters_state_and_signals() -> None:
    metrics = Metrics()
    metrics.observe("GET", "/risk/state", 200, 0.01)
    metrics.observe("GET", "/risk/state", 200, 0.02)
    text = render_metrics(metrics, "HALTED", None, {"A.B": {"probability": 0.6, "direction": 1}})
    assert 'nautilus_ai_api_requests_total{method="GET",route="/risk/state",status="200"} 2' in text
    assert 'nautilus_ai_trading_state{state="HALTED"} 1' in text and 'state="ACTIVE"} 0' in text
    assert 'nautilus_ai_signal_probability{instrument_id="A.B"} 0.6' in text
    assert io.StringIO(text).read().endswith("\n")


def test_position_summary_nets_fills_and_keeps_the_entry_price_when_reducing() -> None:
    def fill(side: str, qty: str, px: str) -> dict[str, str]:
        return {
            "type": "OrderFilled",
            "order_side": side,
            "last_qty": qty,
            "last_px": px,
            "instrument_id": "A.B",
        }

    long = position_summary("P-1", [fill("BUY", "10", "100"), fill("BUY", "10", "110")])
    assert long["quantity"] == 20.0 and long["avg_px_open"] == pytest.approx(105.0) and long["side"] == "LONG"
    reduced = position_summary(
        "P-1", [fill("BUY", "10", "100"), fill("BUY", "10", "110"), fill("SELL", "5", "120")]
    )
    assert reduced["quantity"] == 15.0 and reduced["avg_px_open"] == pytest.approx(105.0)
    flipped = position_summary("P-1", [fill("BUY", "10", "100"), fill("SELL", "15", "90")])
    assert (
        flipped["quantity"] == -5.0
        and flipped["avg_px_open"] == pytest.approx(90.0)
        and flipped["side"] == "SHORT"
    )
    closed = position_summary("P-1", [fill("BUY", "10", "100"), fill("SELL", "10", "90")])
    assert closed["side"] == "FLAT" and closed["avg_px_open"] is None
