"""Operator commands for a running node: the schema of commands, acknowledgements and audit records.

An operator (the CLI, the API sidecar, a test) sends a :class:`ControlCommand` to a Redis stream; the
:class:`~nautilus_ai.live.control_actor.ControlActor` inside the node applies it and answers with a
:class:`ControlAck` on the acks stream, and records both in the audit stream (and optionally a
JSON-lines file) as an :class:`AuditRecord`: who (``actor``), what (``kind`` and ``args``), when
(``issued_at`` and ``applied_at``) and the result.

Streams (:func:`control_streams`), for a trader id ``T`` and the default prefix::

    nautilus_ai:control:T:commands   XADD by the client, read by the node's consumer group
    nautilus_ai:control:T:acks       one ControlAck per command
    nautilus_ai:control:T:audit      one AuditRecord per command

Each stream entry holds one field, ``payload``: the model as JSON.

Command kinds and their arguments (:data:`COMMAND_ARGS`):

========================  ==============================================================
``halt`` / ``resume``     :class:`TradingStateArgs` -- ``reason``
``retrain``               :class:`RetrainArgs` -- ``reason``, optional ``model_name``
``promote``               :class:`PromoteArgs` -- ``version_id``, ``force``, ``reason``
``rollback``              :class:`RollbackArgs` -- ``name``, optional ``to``, ``reason``
``submit_order``          :class:`SubmitOrderArgs` -- instrument, side, quantity, type, price
``cancel_order``          :class:`CancelOrderArgs` -- ``client_order_id``
``set_limit``             :class:`SetLimitArgs` -- a RiskGate limit ``name`` and its ``value``
========================  ==============================================================

Message-bus topics the actor publishes on (plain Python objects, raw ``msgbus.publish``):
:data:`RETRAIN_TOPIC` (:class:`RetrainTrigger`) and :data:`MODEL_SWAP_TOPIC` (:class:`ModelSwap`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nautilus_ai.errors import DataError

DEFAULT_STREAM_PREFIX = "nautilus_ai:control"
"""The prefix of the control streams (``<prefix>:<trader_id>:commands|acks|audit``)."""

RETRAIN_TOPIC = "nautilus_ai.learning.retrain"
"""Message-bus topic of :class:`RetrainTrigger` (consumed by adaptive learning)."""

MODEL_SWAP_TOPIC = "nautilus_ai.learning.model_swap"
"""Message-bus topic of :class:`ModelSwap` (a new champion to serve)."""

PAYLOAD_FIELD = "payload"
"""The one field of every control stream entry: the model as JSON."""

CommandKind = Literal[
    "halt", "resume", "retrain", "promote", "rollback", "submit_order", "cancel_order", "set_limit"
]
AckStatus = Literal["ok", "rejected", "error"]

ADJUSTABLE_LIMITS = ("max_position_weight", "max_position_notional", "max_gross_leverage", "max_net_leverage")
"""The RiskGate limits a ``set_limit`` command may change (within the actor's configured bounds)."""


def utc_now() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class ControlStreams:
    """The Redis stream keys of one trader's control channel.

    Attributes
    ----------
    commands, acks, audit : str
        The stream keys.

    """

    commands: str
    acks: str
    audit: str

    def all(self) -> tuple[str, str, str]:
        """Return the three keys."""
        return (self.commands, self.acks, self.audit)


def control_streams(trader_id: str, prefix: str = DEFAULT_STREAM_PREFIX) -> ControlStreams:
    """Return the stream keys ``<prefix>:<trader_id>:commands|acks|audit``.

    Raises
    ------
    DataError
        If ``trader_id`` or ``prefix`` is empty.

    """
    if not str(trader_id).strip():
        raise DataError("the control streams need a trader id, got an empty one", field="trader_id")
    if not prefix.strip():
        raise DataError("the control stream prefix is empty", field="stream_prefix")
    base = f"{prefix}:{trader_id}"
    return ControlStreams(commands=f"{base}:commands", acks=f"{base}:acks", audit=f"{base}:audit")


# -- command arguments ------------------------------------------------------------------------------


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TradingStateArgs(_Args):
    """Arguments of ``halt`` and ``resume``."""

    reason: str = Field(min_length=1)
    """Why (logged with the state change and audited)."""


class RetrainArgs(_Args):
    """Arguments of ``retrain``."""

    reason: str = Field(min_length=1)
    """Why the models should be retrained."""
    model_name: str | None = None
    """The model family to retrain (all when None)."""


class PromoteArgs(_Args):
    """Arguments of ``promote``."""

    version_id: str = Field(min_length=1)
    """The registered version to make champion (through the promotion gate)."""
    force: bool = False
    """Promote even when the gate fails (needs ``reason``)."""
    reason: str | None = None
    """Why, for the registry's event log."""


class RollbackArgs(_Args):
    """Arguments of ``rollback``."""

    name: str = Field(min_length=1)
    """The model family whose previous champion is restored."""
    to: str | None = None
    """The version to restore (default: the champion before the current one)."""
    reason: str | None = None
    """Why, for the registry's event log."""


class SubmitOrderArgs(_Args):
    """Arguments of ``submit_order`` (a manual order, checked by the strategy's RiskGate)."""

    instrument_id: str = Field(min_length=3)
    """The instrument, e.g. ``AAPL.XNAS``."""
    side: Literal["BUY", "SELL"]
    """The order side."""
    quantity: float = Field(gt=0.0, allow_inf_nan=False)
    """The quantity (positive; the gate may shrink it)."""
    order_type: Literal["market", "limit"] = "market"
    """Market or limit order."""
    price: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    """The limit price (required for limit orders, refused for market orders)."""
    strategy_id: str | None = None
    """The gated strategy that owns the order (default: the one trading the instrument)."""

    @field_validator("side", mode="before")
    @classmethod
    def _upper_side(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _price_matches_type(self) -> SubmitOrderArgs:
        if self.order_type == "limit" and self.price is None:
            raise ValueError("price: a limit order needs a price")
        if self.order_type == "market" and self.price is not None:
            raise ValueError("price: a market order takes no price")
        return self


class CancelOrderArgs(_Args):
    """Arguments of ``cancel_order``."""

    client_order_id: str = Field(min_length=1)
    """The client order id of the open order to cancel."""


class SetLimitArgs(_Args):
    """Arguments of ``set_limit`` (the value must also lie in the actor's configured bounds)."""

    name: Literal["max_position_weight", "max_position_notional", "max_gross_leverage", "max_net_leverage"]
    """The RiskGate limit to change."""
    value: float = Field(gt=0.0, allow_inf_nan=False)
    """The new value (fraction of equity; account currency for ``max_position_notional``)."""
    strategy_id: str | None = None
    """Change only this strategy's gate (default: every gated strategy)."""


COMMAND_ARGS: dict[str, type[BaseModel]] = {
    "halt": TradingStateArgs,
    "resume": TradingStateArgs,
    "retrain": RetrainArgs,
    "promote": PromoteArgs,
    "rollback": RollbackArgs,
    "submit_order": SubmitOrderArgs,
    "cancel_order": CancelOrderArgs,
    "set_limit": SetLimitArgs,
}
"""The argument model of every command kind."""


# -- command, ack, audit ----------------------------------------------------------------------------


class ControlCommand(BaseModel):
    """One operator command.

    The ``kind`` is a free string here so that an unknown kind still parses and can be answered
    with a rejected ack; :func:`parse_args` validates kind and arguments.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1)
    """Unique id; the ack carries the same id."""
    kind: str = Field(min_length=1)
    """What to do (one of :data:`COMMAND_ARGS`)."""
    args: dict[str, Any] = Field(default_factory=dict)
    """The kind's arguments (see :data:`COMMAND_ARGS`)."""
    actor: str = Field(min_length=1)
    """Who issued the command (operator name or service)."""
    issued_at: datetime = Field(default_factory=utc_now)
    """When it was issued (timezone-aware; naive times are read as UTC)."""

    @field_validator("issued_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class ControlAck(BaseModel):
    """The node's answer to one command."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    """The command's id."""
    kind: str
    """The command's kind."""
    status: AckStatus
    """``ok`` (applied), ``rejected`` (invalid or refused, nothing changed) or ``error`` (failed)."""
    message: str = ""
    """What happened, or why not (names the field at fault for a rejection)."""
    result: dict[str, Any] = Field(default_factory=dict)
    """Details of the outcome (new trading state, champion version, order ids, ...)."""
    applied_at: datetime = Field(default_factory=utc_now)
    """When the node handled the command."""


class AuditRecord(BaseModel):
    """Who did what, when, with what result: one per command, in the audit stream and file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    """The command's id."""
    actor: str
    """Who issued it."""
    kind: str
    """What kind of command."""
    args: dict[str, Any]
    """Its arguments."""
    issued_at: datetime | None
    """When it was issued (None when the entry could not be parsed)."""
    applied_at: datetime
    """When the node handled it."""
    status: AckStatus
    """The ack's status."""
    message: str
    """The ack's message."""
    result: dict[str, Any]
    """The ack's result."""
    trader_id: str
    """The node that handled it."""
    stream_entry_id: str
    """The Redis id of the command's stream entry."""


def audit_record(
    command: ControlCommand | None,
    ack: ControlAck,
    *,
    trader_id: str,
    stream_entry_id: str,
    raw_args: dict[str, Any] | None = None,
) -> AuditRecord:
    """Return the audit record of ``command`` answered by ``ack`` (``command`` None: unparsable entry)."""
    return AuditRecord(
        id=ack.id,
        actor=command.actor if command is not None else "unknown",
        kind=ack.kind,
        args=dict(command.args) if command is not None else dict(raw_args or {}),
        issued_at=command.issued_at if command is not None else None,
        applied_at=ack.applied_at,
        status=ack.status,
        message=ack.message,
        result=ack.result,
        trader_id=trader_id,
        stream_entry_id=stream_entry_id,
    )


def _error_text(error: ValidationError, prefix: str = "") -> str:
    parts = []
    for item in error.errors():
        location = ".".join(str(p) for p in item["loc"])
        name = f"{prefix}{location}" if location else prefix.rstrip(".") or "payload"
        parts.append(f"{name}: {item['msg']}")
    return "; ".join(parts)


def _first_field(error: ValidationError, prefix: str = "") -> str:
    errors = error.errors()
    if not errors or not errors[0]["loc"]:
        return prefix.rstrip(".") or "payload"
    return prefix + ".".join(str(p) for p in errors[0]["loc"])


def parse_args(command: ControlCommand) -> BaseModel:
    """Return the validated arguments of ``command`` (a model of :data:`COMMAND_ARGS`).

    Raises
    ------
    DataError
        If the kind is unknown (``field="kind"``) or an argument is missing, unexpected or invalid
        (``field="args.<name>"``); the message says what was expected.

    """
    model = COMMAND_ARGS.get(command.kind)
    if model is None:
        raise DataError(
            f"unknown command kind {command.kind!r}; expected one of {', '.join(COMMAND_ARGS)}",
            field="kind",
        )
    try:
        return model.model_validate(command.args)
    except ValidationError as error:
        message = _error_text(error, "args.")
        # a model validator reports "price: ..." without a location: name that field
        field = _first_field(error, "args.")
        if field == "args" and ":" in message:
            field = "args." + message.split("Value error, ", 1)[-1].split(":", 1)[0]
        raise DataError(f"invalid arguments for {command.kind!r}: {message}", field=field) from None


# -- stream encoding --------------------------------------------------------------------------------


def encode(model: BaseModel) -> dict[str, str]:
    """Return the stream entry fields of ``model`` (``{"payload": <json>}``)."""
    return {PAYLOAD_FIELD: model.model_dump_json()}


def _payload(fields: dict[Any, Any]) -> str:
    for key, value in fields.items():
        name = key.decode() if isinstance(key, bytes) else str(key)
        if name == PAYLOAD_FIELD:
            return value.decode() if isinstance(value, bytes) else str(value)
    raise DataError(f"the stream entry has no {PAYLOAD_FIELD!r} field", field=PAYLOAD_FIELD)


def decode_command(fields: dict[Any, Any]) -> ControlCommand:
    """Return the command of a stream entry's fields.

    Raises
    ------
    DataError
        If the entry has no ``payload``, it is not JSON, or the command is invalid (naming the field).

    """
    text = _payload(fields)
    try:
        return ControlCommand.model_validate_json(text)
    except ValidationError as error:
        raise DataError(
            f"invalid command: {_error_text(error)}",
            field=_first_field(error) if error.errors() else "payload",
        ) from None


def decode_ack(fields: dict[Any, Any]) -> ControlAck:
    """Return the ack of a stream entry's fields (raises DataError when malformed)."""
    try:
        return ControlAck.model_validate_json(_payload(fields))
    except ValidationError as error:
        raise DataError(f"invalid ack: {_error_text(error)}", field=_first_field(error)) from None


def decode_audit(fields: dict[Any, Any]) -> AuditRecord:
    """Return the audit record of a stream entry's fields (raises DataError when malformed)."""
    try:
        return AuditRecord.model_validate_json(_payload(fields))
    except ValidationError as error:
        raise DataError(f"invalid audit record: {_error_text(error)}", field=_first_field(error)) from None


def raw_command_fields(fields: dict[Any, Any]) -> dict[str, Any]:
    """Return whatever ``id``/``kind``/``args`` an unparsable command entry holds (for its ack)."""
    try:
        data = json.loads(_payload(fields))
    except (DataError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# -- message-bus messages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RetrainTrigger:
    """Ask adaptive learning to retrain (published on :data:`RETRAIN_TOPIC`).

    Attributes
    ----------
    reason : str
        Why.
    model_name : str or None
        The model family (all when None).
    actor : str
        Who asked.
    command_id : str
        The control command's id.
    ts_event : int
        When the node handled the command (UNIX ns).

    """

    reason: str
    model_name: str | None
    actor: str
    command_id: str
    ts_event: int


@dataclass(frozen=True)
class ModelSwap:
    """A new champion to serve (published on :data:`MODEL_SWAP_TOPIC` after a promote or rollback).

    Attributes
    ----------
    name : str
        The model family.
    version_id : str
        The version that is champion now.
    previous_version_id : str or None
        The champion before.
    action : {"promote", "rollback"}
        What made it champion.
    actor : str
        Who asked.
    command_id : str
        The control command's id.
    ts_event : int
        When the node handled the command (UNIX ns).

    """

    name: str
    version_id: str
    previous_version_id: str | None
    action: Literal["promote", "rollback"]
    actor: str
    command_id: str
    ts_event: int
