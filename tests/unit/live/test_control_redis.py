"""The ControlActor's stream handling against the real Redis, polled by hand on a BacktestEngine kernel.

No replay runs: the actor is registered with a BacktestEngine (message bus, clock, RiskEngine) and
started, and each test calls :meth:`ControlActor.poll` itself, as the timer does in a live node.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from nautilus_trader.backtest.config import BacktestEngineConfig
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.config import LoggingConfig
from nautilus_trader.model.enums import TradingState

from nautilus_ai.live.control import RETRAIN_TOPIC, ControlCommand, RetrainTrigger
from nautilus_ai.live.control_actor import ControlActor, ControlActorConfig
from nautilus_ai.live.control_client import ControlClient


@pytest.fixture
def connection() -> redis.Redis:
    client = redis.Redis(host="127.0.0.1", port=6379, decode_responses=True, socket_connect_timeout=1.0)
    try:
        client.ping()
    except redis.RedisError as error:  # pragma: no cover - CI and the dev machine run Redis
        pytest.skip(f"no Redis on 127.0.0.1:6379: {error}")
    return client


@pytest.fixture
def trader_id(connection: redis.Redis) -> Iterator[str]:
    trader = f"UNIT-{uuid.uuid4().hex[:8].upper()}"
    yield trader
    ControlClient(trader, connection=connection).delete_streams()


@pytest.fixture
def engine() -> Iterator[BacktestEngine]:
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True)))
    yield engine
    for actor in engine.trader.actors():  # started by hand: stop them before the engine is disposed
        if actor.is_running:
            actor.stop()
    engine.dispose()


def _started_actor(engine: BacktestEngine, trader_id: str, **overrides: Any) -> ControlActor:
    component_id = f"ControlActor-{len(engine.trader.actors())}"  # a restarted actor: a new component
    config = ControlActorConfig(component_id=component_id, control_trader_id=trader_id, **overrides)
    actor = ControlActor(config)
    engine.add_actor(actor)
    actor.start()
    return actor


def _send(client: ControlClient, kind: str, actor: str = "alice", **args: object) -> ControlCommand:
    command = ControlCommand(kind=kind, args=dict(args), actor=actor)
    client.submit(command)
    return command


def test_commands_are_applied_once_even_after_a_restart(
    engine: BacktestEngine, trader_id: str, connection: redis.Redis, tmp_path: Path
) -> None:
    client = ControlClient(trader_id, connection=connection)
    audit_file = tmp_path / "audit.jsonl"
    first = _started_actor(engine, trader_id, audit_path=str(audit_file))
    halt = _send(client, "halt", reason="drill")
    assert first.poll() == 1
    # no RiskGuardActor in this kernel: the actor set the RiskEngine's state itself
    assert engine.kernel.risk_engine.trading_state == TradingState.HALTED
    assert client.wait_ack(halt.id, timeout_s=2.0).result == {"trading_state": "HALTED", "verified": True}
    engine.kernel.risk_engine.set_trading_state(TradingState.ACTIVE)
    first.stop()

    # a restarted actor in the same consumer group does not re-apply the acknowledged halt
    second = _started_actor(engine, trader_id, audit_path=str(audit_file))
    assert second.poll() == 0
    assert engine.kernel.risk_engine.trading_state == TradingState.ACTIVE
    resume = _send(client, "resume", actor="bob", reason="done")
    assert second.poll() == 1
    assert client.wait_ack(resume.id, timeout_s=2.0).status == "ok"
    records = client.audit()
    assert [(r.id, r.actor, r.kind, r.status) for r in records] == [
        (halt.id, "alice", "halt", "ok"),
        (resume.id, "bob", "resume", "ok"),
    ]
    assert [json.loads(line)["id"] for line in audit_file.read_text().splitlines()] == [halt.id, resume.id]


def test_a_command_delivered_but_never_acknowledged_is_applied_after_a_restart(
    engine: BacktestEngine, trader_id: str, connection: redis.Redis
) -> None:
    client = ControlClient(trader_id, connection=connection)
    first = _started_actor(engine, trader_id)
    first.stop()
    halt = _send(client, "halt", reason="crash drill")
    # the node read the entry, then died before applying and acknowledging it
    delivered: Any = connection.xreadgroup("control", "node", {client.streams.commands: ">"}, count=10)
    assert delivered and len(delivered[0][1]) == 1
    second = _started_actor(engine, trader_id)
    assert second.poll() == 1
    assert engine.kernel.risk_engine.trading_state == TradingState.HALTED
    assert client.wait_ack(halt.id, timeout_s=2.0).status == "ok"
    assert connection.xpending(client.streams.commands, "control")["pending"] == 0
    assert second.poll() == 0


def test_retrain_publishes_a_trigger_and_stale_commands_are_rejected(
    engine: BacktestEngine, trader_id: str, connection: redis.Redis
) -> None:
    client = ControlClient(trader_id, connection=connection)
    actor = _started_actor(engine, trader_id, max_command_age_secs=60.0)
    received: list[object] = []
    actor.msgbus.subscribe(RETRAIN_TOPIC, received.append)
    # the backtest clock stands at the epoch: every command looks issued in the future, never stale
    retrain = _send(client, "retrain", actor="ops", reason="drift", model_name="lgbm")
    assert actor.poll() == 1
    ack = client.wait_ack(retrain.id, timeout_s=2.0)
    assert ack.status == "ok" and ack.result == {"topic": RETRAIN_TOPIC, "subscribers": 1}
    (trigger,) = received
    assert isinstance(trigger, RetrainTrigger)
    assert (trigger.reason, trigger.model_name, trigger.actor, trigger.command_id) == (
        "drift",
        "lgbm",
        "ops",
        retrain.id,
    )
    old = ControlCommand(
        kind="retrain", args={"reason": "x"}, actor="ops", issued_at=datetime(1969, 12, 31, tzinfo=UTC)
    )
    client.submit(old)
    assert actor.poll() == 1
    stale = client.wait_ack(old.id, timeout_s=2.0)
    assert stale.status == "rejected" and "issued_at" in stale.message
    assert len(received) == 1


def test_commands_needing_a_missing_component_are_rejected_not_fatal(
    engine: BacktestEngine, trader_id: str, connection: redis.Redis
) -> None:
    client = ControlClient(trader_id, connection=connection)
    actor = _started_actor(engine, trader_id, limit_bounds={"max_gross_leverage": (0.5, 2.0)})
    commands = [
        _send(client, "promote", version_id="m-1"),
        _send(client, "set_limit", name="max_gross_leverage", value=1.0),
        _send(client, "submit_order", instrument_id="AAPL.XNAS", side="BUY", quantity=1),
        _send(client, "cancel_order", client_order_id="O-1"),
    ]
    assert actor.poll() == 4
    acks = [client.wait_ack(c.id, timeout_s=2.0) for c in commands]
    assert [a.status for a in acks] == ["rejected"] * 4
    assert "registry_path" in acks[0].message
    assert "no gated strategy" in acks[1].message
    assert "args.instrument_id" in acks[2].message
    assert "args.client_order_id" in acks[3].message
