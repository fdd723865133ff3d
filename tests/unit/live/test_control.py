"""Unit tests of the control channel's schema, stream names and the ControlActor's limit bounds."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.live import control
from nautilus_ai.live.control import (
    ControlAck,
    ControlCommand,
    SetLimitArgs,
    SubmitOrderArgs,
    TradingStateArgs,
    parse_args,
)
from nautilus_ai.live.control_actor import (
    ControlActor,
    ControlActorConfig,
    bounds_violation,
    check_limit_bounds,
    control_actor_config,
)


def _command(kind: str, **args: object) -> ControlCommand:
    return ControlCommand(kind=kind, args=dict(args), actor="alice")


def test_streams_are_named_after_the_trader() -> None:
    streams = control.control_streams("PAPER-001")
    assert streams.commands == "nautilus_ai:control:PAPER-001:commands"
    assert streams.acks == "nautilus_ai:control:PAPER-001:acks"
    assert streams.audit == "nautilus_ai:control:PAPER-001:audit"
    with pytest.raises(DataError, match="trader_id"):
        control.control_streams(" ")


def test_command_gets_an_id_and_a_utc_issue_time() -> None:
    command = _command("halt", reason="news")
    other = _command("halt", reason="news")
    assert command.id and command.id != other.id
    assert command.issued_at.tzinfo is not None
    naive = ControlCommand(kind="halt", actor="a", issued_at=datetime(2024, 1, 2, 3, 4, 5))
    assert naive.issued_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_command_needs_an_actor() -> None:
    with pytest.raises(ValueError, match="actor"):
        ControlCommand(kind="halt", args={"reason": "x"}, actor="")


def test_command_round_trips_through_a_stream_entry() -> None:
    command = _command("set_limit", name="max_gross_leverage", value=1.5)
    decoded = control.decode_command(control.encode(command))
    assert decoded == command
    ack = ControlAck(id=command.id, kind=command.kind, status="ok", result={"value": 1.5})
    assert control.decode_ack(control.encode(ack)) == ack


def test_decode_names_what_is_wrong_with_an_entry() -> None:
    with pytest.raises(DataError, match="payload"):
        control.decode_command({"something": "else"})
    with pytest.raises(DataError) as error:
        control.decode_command({"payload": json.dumps({"kind": "halt", "args": {}})})
    assert error.value.field == "actor"
    with pytest.raises(DataError):
        control.decode_command({"payload": "not json"})
    raw = control.raw_command_fields({"payload": json.dumps({"id": "c1", "kind": "halt", "extra": 1})})
    assert raw["id"] == "c1"


def test_unknown_kind_is_rejected_naming_the_kind_field() -> None:
    with pytest.raises(DataError) as error:
        parse_args(_command("self_destruct"))
    assert error.value.field == "kind"
    assert "self_destruct" in str(error.value) and "halt" in str(error.value)


@pytest.mark.parametrize(
    ("kind", "args", "field"),
    [
        ("halt", {}, "args.reason"),
        ("halt", {"reason": ""}, "args.reason"),
        ("halt", {"reason": "x", "force": True}, "args.force"),
        ("promote", {}, "args.version_id"),
        ("rollback", {"to": "m-1"}, "args.name"),
        ("submit_order", {"instrument_id": "AAPL.XNAS", "side": "HOLD", "quantity": 1}, "args.side"),
        ("submit_order", {"instrument_id": "AAPL.XNAS", "side": "BUY", "quantity": -1}, "args.quantity"),
        (
            "submit_order",
            {"instrument_id": "AAPL.XNAS", "side": "BUY", "quantity": 1, "order_type": "limit"},
            "args.price",
        ),
        ("cancel_order", {"client_order_id": ""}, "args.client_order_id"),
        ("set_limit", {"name": "max_leverage_ever", "value": 1.0}, "args.name"),
        ("set_limit", {"name": "max_gross_leverage", "value": 0.0}, "args.value"),
        ("set_limit", {"name": "max_gross_leverage", "value": "inf"}, "args.value"),
    ],
)
def test_bad_arguments_are_rejected_naming_the_field(kind: str, args: dict[str, object], field: str) -> None:
    with pytest.raises(DataError) as error:
        parse_args(_command(kind, **args))
    assert error.value.field == field, str(error.value)
    assert field in str(error.value)


def test_valid_arguments_parse_to_their_models() -> None:
    assert parse_args(_command("resume", reason="ok")) == TradingStateArgs(reason="ok")
    order = parse_args(_command("submit_order", instrument_id="AAPL.XNAS", side="buy", quantity=3))
    assert isinstance(order, SubmitOrderArgs) and order.side == "BUY" and order.order_type == "market"
    limit = parse_args(
        _command(
            "submit_order",
            instrument_id="AAPL.XNAS",
            side="SELL",
            quantity=3,
            order_type="limit",
            price=101.5,
        )
    )
    assert isinstance(limit, SubmitOrderArgs) and limit.price == 101.5
    assert parse_args(_command("set_limit", name="max_net_leverage", value=0.8)) == SetLimitArgs(
        name="max_net_leverage", value=0.8
    )


def test_limit_bounds_are_checked_at_config_time() -> None:
    assert check_limit_bounds({"max_gross_leverage": (0.5, 2.0)}) == {"max_gross_leverage": (0.5, 2.0)}
    with pytest.raises(ConfigError, match="max_leverage"):
        check_limit_bounds({"max_leverage": (0.5, 2.0)})
    with pytest.raises(ConfigError, match="min <= max"):
        check_limit_bounds({"max_gross_leverage": (2.0, 0.5)})
    with pytest.raises(ConfigError, match="min <= max"):
        check_limit_bounds({"max_gross_leverage": (0.0, 1.0)})
    with pytest.raises(ConfigError, match="limit_bounds"):
        ControlActor(ControlActorConfig(limit_bounds={"max_net_leverage": (1.0, float("inf"))}))


def test_values_outside_the_bounds_are_refused() -> None:
    bounds = {"max_gross_leverage": (0.5, 2.0)}
    assert bounds_violation("max_gross_leverage", 0.5, bounds) == ""
    assert bounds_violation("max_gross_leverage", 2.0, bounds) == ""
    assert "outside the configured bounds [0.5, 2]" in bounds_violation("max_gross_leverage", 2.5, bounds)
    assert "outside" in bounds_violation("max_gross_leverage", 0.49, bounds)
    assert "not adjustable" in bounds_violation("max_net_leverage", 1.0, bounds)


def test_actor_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="poll_interval_secs"):
        ControlActor(ControlActorConfig(poll_interval_secs=0.0))
    with pytest.raises(ConfigError, match="batch_size"):
        ControlActor(ControlActorConfig(batch_size=0))
    with pytest.raises(ConfigError, match="promotion_gate"):
        ControlActor(ControlActorConfig(promotion_gate={"min_sharp": 1.0}))
    importable = control_actor_config(
        control_trader_id="T-1", limit_bounds={"max_gross_leverage": [0.5, 2.0]}
    )
    assert importable.actor_path == "nautilus_ai.live.control_actor:ControlActor"
    assert importable.config["limit_bounds"] == {"max_gross_leverage": [0.5, 2.0]}
