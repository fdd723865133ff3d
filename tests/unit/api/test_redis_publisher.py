"""The Redis publisher's pure encoders and risk snapshot, and its writes to the real Redis."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
import redis
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.catalog.types import ModelSignal, RiskDecisionEvent
from nautilus_ai.errors import ConfigError
from nautilus_ai.live.redis_publisher import (
    RedisStatePublisher,
    historical_cvar,
    publisher_keys,
    risk_snapshot,
    signal_fields,
)

IID = InstrumentId.from_str("AAPL.XNAS")


def _signal(ts: int, direction: int = 1) -> ModelSignal:
    return ModelSignal(
        instrument_id=IID,
        direction=direction,
        probability=0.61,
        confidence=0.2,
        horizon_bars=5,
        model_version="m-1",
        regime="calm",
        top_attributions="a:+0.1",
        ts_event=ts,
        ts_init=ts,
    )


def test_signal_fields_are_strings_that_round_trip() -> None:
    fields = signal_fields(_signal(123))
    assert all(isinstance(v, str) for v in fields.values())
    assert float(fields["probability"]) == 0.61 and fields["ts_init"] == "123" and fields["direction"] == "1"


def test_historical_cvar_is_the_mean_tail_loss() -> None:
    returns = np.array([0.01, -0.05, 0.02, -0.01, 0.0, 0.03, -0.02, 0.01, 0.02, -0.10])
    assert historical_cvar(returns, 0.8) == pytest.approx(0.075)
    assert historical_cvar(np.array([0.1]), 0.95) == 0.0


def test_risk_snapshot_measures_drawdown_from_the_peak() -> None:
    snap = risk_snapshot([100.0, 120.0, 90.0], {"A": 50.0, "B": -20.0}, {"halt_drawdown": 0.3}, "USD", 7)
    assert snap.peak_equity == 120.0 and snap.drawdown == pytest.approx(0.25)
    assert snap.net_exposure == 30.0 and snap.gross_exposure == 70.0
    with pytest.raises(ValueError, match="at least one"):
        risk_snapshot([], {}, {}, "USD", 0)


def test_keys_refuse_patterns() -> None:
    with pytest.raises(ConfigError, match="trader_id"):
        publisher_keys("p", "A*")


def test_publisher_writes_latest_and_capped_history_and_state() -> None:
    try:
        redis.Redis().ping()
    except redis.RedisError:
        pytest.skip("needs redis-server on 127.0.0.1:6379")
    publisher = RedisStatePublisher(f"UNIT-{uuid.uuid4().hex[:8]}", prefix="naitest-unit", stream_maxlen=5)
    try:
        for i in range(300):
            publisher.publish_signal(_signal(i + 1, direction=1 if i % 2 else -1))
        latest = publisher.redis.hgetall(publisher.keys.signal_latest(str(IID)))
        assert latest["ts_init"] == "300" and latest["direction"] == "1"
        assert publisher.redis.xlen(publisher.keys.signal_stream(str(IID))) < 300
        publisher.publish_risk_decision(
            RiskDecisionEvent(
                instrument_id=IID,
                action="state_change",
                reason="dd",
                trading_state="HALTED",
                ts_event=9,
                ts_init=9,
            )
        )
        assert publisher.redis.hgetall(publisher.keys.risk_state) == {
            "state": "HALTED",
            "reason": "dd",
            "ts": "9",
        }
        assert publisher.redis.smembers(publisher.keys.instruments) == {str(IID)}
    finally:
        assert publisher.clear() >= 4
        publisher.close()
