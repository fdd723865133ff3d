"""The ControlActor in a running paper node, driven over the real Redis by the ControlClient.

A walk-forward trains and registers a direction model on the bundled AAPL daily bars (one fold);
a paper node replays the fold's test window at ten days a second with a ControlActor, while a
thread sends commands with :class:`~nautilus_ai.live.control_client.ControlClient` and checks each
ack: unknown kinds and out-of-bounds limits are rejected, ``halt`` sets the node's RiskEngine to
HALTED (and the MLStrategy sends no order until ``resume``), a manual order passes the RiskGate,
``promote`` changes the registry's champion; the audit stream and file hold who, what, when and
the result of every command. Every test uses its own trader id (and so its own streams), deleted
afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pandas as pd
import pytest
import redis
from nautilus_trader.model.enums import TradingState

from nautilus_ai.backtest.walkforward import run_walkforward
from nautilus_ai.learning.registry import ModelRegistry
from nautilus_ai.live.control import ControlAck
from nautilus_ai.live.control_actor import ControlActor, control_actor_config
from nautilus_ai.live.control_client import ControlClient
from nautilus_ai.live.paper import build_paper_node, paper_node_config
from nautilus_ai.strategies.ml_strategy import MLStrategy
from nautilus_ai.test_kit import demo_catalog, small_experiment

pytestmark = pytest.mark.slow

ACK_TIMEOUT_S = 30.0
DAYS_PER_SECOND = 10.0


def _redis_or_skip() -> redis.Redis:
    connection = redis.Redis(host="127.0.0.1", port=6379, decode_responses=True, socket_connect_timeout=1.0)
    try:
        connection.ping()
    except redis.RedisError as error:  # pragma: no cover - CI and the dev machine run Redis
        pytest.skip(f"no Redis on 127.0.0.1:6379: {error}")
    return connection


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Train and register one fold's direction model."""
    tmp = tmp_path_factory.mktemp("control-node")
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
def trader_id() -> Iterator[str]:
    """A fresh trader id (so fresh streams); its streams are deleted afterwards."""
    connection = _redis_or_skip()
    trader = f"CTRL-{uuid.uuid4().hex[:8].upper()}"
    yield trader
    client = ControlClient(trader, connection=connection)
    client.delete_streams()
    client.close()


def _run_with(node: Any, scenario: Any) -> Any:
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
        thread.join(timeout=ACK_TIMEOUT_S)

    loop.run_until_complete(main())
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _ns(moment: datetime) -> int:
    return pd.Timestamp(moment).value


def test_operator_commands_are_applied_acknowledged_and_audited(
    trained: dict[str, Any], trader_id: str
) -> None:
    audit_path = trained["tmp"] / f"audit-{trader_id}.jsonl"
    actor = control_actor_config(
        poll_interval_secs=0.1,
        limit_bounds={"max_gross_leverage": [0.5, 2.0]},
        registry_path=str(trained["registry"]),
        promotion_gate={"champion_metric": None},
        audit_path=str(audit_path),
        max_command_age_secs=60.0,
    )
    config = paper_node_config(
        trained["cfg"],
        trained["catalog"],
        registry_path=trained["registry"],
        model_version=trained["model_version"],
        start=trained["start"],
        end=trained["end"],
        speed=DAYS_PER_SECOND * 86_400,  # trades from the first signal after the warm-up
        equity_path=trained["tmp"] / f"equity-{trader_id}.parquet",
        extra_actors=[actor],
        trader_id=trader_id,
        log_level="ERROR",
    )
    node = build_paper_node(config)
    client = ControlClient(trader_id)
    states: dict[str, TradingState] = {}

    def scenario() -> dict[str, ControlAck]:
        acks: dict[str, ControlAck] = {}
        # the first ack also waits for the node to start
        acks["unknown"] = client.send("self_destruct", {}, actor="mallory", timeout_s=ACK_TIMEOUT_S)
        acks["bad_args"] = client.send("halt", {"why": "?"}, actor="alice", timeout_s=ACK_TIMEOUT_S)
        acks["limit_in"] = client.send(
            "set_limit", {"name": "max_gross_leverage", "value": 1.5}, actor="alice", timeout_s=ACK_TIMEOUT_S
        )
        acks["limit_out"] = client.send(
            "set_limit", {"name": "max_gross_leverage", "value": 5.0}, actor="alice", timeout_s=ACK_TIMEOUT_S
        )
        acks["limit_fixed"] = client.send(
            "set_limit", {"name": "max_net_leverage", "value": 1.0}, actor="alice", timeout_s=ACK_TIMEOUT_S
        )
        deadline = time.monotonic() + ACK_TIMEOUT_S
        while not node.cache.orders() and time.monotonic() < deadline:  # some trading before the halt
            time.sleep(0.1)
        acks["halt"] = client.send(
            "halt", {"reason": "operator drill"}, actor="alice", timeout_s=ACK_TIMEOUT_S
        )
        states["after_halt"] = node.kernel.risk_engine.trading_state
        time.sleep(3.0)  # thirty days of signals while halted
        acks["resume"] = client.send("resume", {"reason": "drill over"}, actor="bob", timeout_s=ACK_TIMEOUT_S)
        states["after_resume"] = node.kernel.risk_engine.trading_state
        acks["retrain"] = client.send("retrain", {"reason": "drift"}, actor="bob", timeout_s=ACK_TIMEOUT_S)
        acks["cancel_unknown"] = client.send(
            "cancel_order", {"client_order_id": "O-NOPE"}, actor="bob", timeout_s=ACK_TIMEOUT_S
        )
        position = float(node.portfolio.net_position(node.cache.instruments()[0].id))
        side = "SELL" if position > 0 else "BUY"
        acks["manual"] = client.send(
            "submit_order",
            {"instrument_id": "AAPL.XNAS", "side": side, "quantity": 1},
            actor="carol",
            timeout_s=ACK_TIMEOUT_S,
        )
        acks["limit_order"] = client.send(
            "submit_order",
            {"instrument_id": "AAPL.XNAS", "side": "BUY", "quantity": 2, "order_type": "limit", "price": 1.0},
            actor="carol",
            timeout_s=ACK_TIMEOUT_S,
        )
        resting = acks["limit_order"].result.get("client_order_ids") or ["missing"]
        acks["cancel"] = client.send(
            "cancel_order", {"client_order_id": resting[0]}, actor="carol", timeout_s=ACK_TIMEOUT_S
        )
        acks["promote"] = client.send(
            "promote",
            {"version_id": trained["model_version"], "reason": "drill"},
            actor="carol",
            timeout_s=ACK_TIMEOUT_S,
        )
        acks["rollback"] = client.send("rollback", {"name": trained["cfg"].model.name}, actor="carol")
        return acks

    try:
        acks = _run_with(node, scenario)
        strategy = next(s for s in node.trader.strategies() if isinstance(s, MLStrategy))
        control = next(a for a in node.trader.actors() if isinstance(a, ControlActor))
        orders = list(node.cache.orders())
        decisions = list(strategy.decision_events)
        gate_limits = strategy.gate.limits
    finally:
        node.dispose()

    # rejected commands name the field at fault and change nothing
    assert acks["unknown"].status == "rejected" and "kind" in acks["unknown"].message
    assert acks["bad_args"].status == "rejected" and "args.reason" in acks["bad_args"].message
    assert acks["limit_out"].status == "rejected" and "[0.5, 2]" in acks["limit_out"].message
    assert acks["limit_fixed"].status == "rejected" and "not adjustable" in acks["limit_fixed"].message
    assert acks["cancel_unknown"].status == "rejected" and "client_order_id" in acks["cancel_unknown"].message
    # set_limit within bounds reached the strategy's RiskGate
    assert acks["limit_in"].status == "ok", acks["limit_in"].message
    assert gate_limits.max_gross_leverage == 1.5
    assert list(acks["limit_in"].result["previous"]) == [str(strategy.id)]

    # halt / resume move the node's RiskEngine
    assert acks["halt"].status == "ok", acks["halt"].message
    assert acks["halt"].result == {"trading_state": "HALTED", "verified": True}
    assert states["after_halt"] == TradingState.HALTED
    assert acks["resume"].status == "ok" and acks["resume"].result["trading_state"] == "ACTIVE"
    assert states["after_resume"] == TradingState.ACTIVE

    # while halted the strategy kept deciding but submitted nothing
    halted_from, halted_to = _ns(acks["halt"].applied_at), _ns(acks["resume"].applied_at)
    halted = [d for d in decisions if halted_from <= d.ts_event <= halted_to]
    assert halted and {d.action for d in halted} == {"halted"}
    assert not [o for o in orders if halted_from <= o.ts_init <= halted_to]
    assert [o for o in orders if o.ts_init < halted_from], "no order before the halt: nothing was tested"

    assert (
        acks["retrain"].status == "ok" and acks["retrain"].result["topic"] == "nautilus_ai.learning.retrain"
    )

    # the manual order went through the strategy's RiskGate and reached the cache
    manual = acks["manual"]
    assert manual.status == "ok", manual.message
    assert manual.result["strategy_id"] == str(strategy.id)
    assert manual.result["gate_action"] == "sized" and manual.result["approved_qty"] == 1.0
    (order_id,) = manual.result["client_order_ids"]
    assert order_id in {str(o.client_order_id) for o in orders}

    # a resting manual limit order (far below the market), then its cancellation
    assert acks["limit_order"].status == "ok", acks["limit_order"].message
    (limit_id,) = acks["limit_order"].result["client_order_ids"]
    limit_order = next(o for o in orders if str(o.client_order_id) == limit_id)
    assert limit_order.order_type.name == "LIMIT" and float(limit_order.price) == 1.0
    assert acks["cancel"].status == "ok", acks["cancel"].message
    assert limit_order.status.name == "CANCELED"

    # promote through the registry's gate; no earlier champion to roll back to
    assert acks["promote"].status == "ok", acks["promote"].message
    assert acks["promote"].result["champion"] == trained["model_version"]
    champion = ModelRegistry(trained["registry"]).champion(trained["cfg"].model.name)
    assert champion is not None and champion.version_id == trained["model_version"]
    assert acks["rollback"].status == "rejected" and "args.name" in acks["rollback"].message

    # audit: who, what, when, result of every command, in the stream and in the file
    records = client.audit()
    assert [r.id for r in records] == [a.id for a in acks.values()]
    assert [a.id for a in control.acks] == [a.id for a in acks.values()]
    for record, ack in zip(records, acks.values(), strict=True):
        assert (record.status, record.message, record.kind) == (ack.status, ack.message, ack.kind)
        assert record.issued_at is not None and record.issued_at <= record.applied_at
        assert record.trader_id == trader_id
    assert [r.actor for r in records][:2] == ["mallory", "alice"]
    assert records[0].kind == "self_destruct" and records[5].args == {"reason": "operator drill"}
    assert {r.actor for r in records if r.kind == "submit_order"} == {"carol"}
    lines = [json.loads(line) for line in audit_path.read_text().splitlines()]
    assert [line["id"] for line in lines] == [r.id for r in records]

    # every command was acknowledged in the consumer group: a restarted node re-reads none
    pending = client.redis.xpending(client.streams.commands, "control")
    assert pending["pending"] == 0
    client.close()


def test_unparsable_entries_get_a_rejected_ack(trained: dict[str, Any], trader_id: str) -> None:
    """A raw entry without a valid command is answered (by entry id) and audited, not applied."""
    config = paper_node_config(
        trained["cfg"],
        trained["catalog"],
        registry_path=trained["registry"],
        model_version=trained["model_version"],
        start=trained["start"],
        end=trained["end"],
        speed=DAYS_PER_SECOND * 86_400,
        equity_path=trained["tmp"] / f"equity-{trader_id}.parquet",
        extra_actors=[control_actor_config(poll_interval_secs=0.1)],
        trader_id=trader_id,
        log_level="ERROR",
    )
    node = build_paper_node(config)
    client = ControlClient(trader_id)

    def scenario() -> tuple[ControlAck, ControlAck]:
        entry = client.redis.xadd(client.streams.commands, {"payload": json.dumps({"kind": "halt"})})
        bad = client.wait_ack(str(entry), timeout_s=ACK_TIMEOUT_S)
        ok = client.send("resume", {"reason": "still alive"}, actor="alice", timeout_s=ACK_TIMEOUT_S)
        return bad, ok

    try:
        bad, ok = _run_with(node, scenario)
        state = node.kernel.risk_engine.trading_state
    finally:
        node.dispose()
    assert bad.status == "rejected" and "actor" in bad.message
    assert ok.status == "ok" and state == TradingState.ACTIVE
    records = client.audit()
    assert records[0].actor == "unknown" and records[0].status == "rejected"
    client.close()
