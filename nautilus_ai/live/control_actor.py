"""ControlActor: operator commands from a Redis stream, applied inside the node, acknowledged and audited.

The actor reads :class:`~nautilus_ai.live.control.ControlCommand` s from
``<prefix>:<trader_id>:commands`` with a Redis consumer group, applies each one on the actor's own
thread, answers with a :class:`~nautilus_ai.live.control.ControlAck` on ``...:acks`` and writes an
:class:`~nautilus_ai.live.control.AuditRecord` to ``...:audit`` (and to a JSON-lines file when
``audit_path`` is set).

Polling never blocks the event loop: a NautilusTrader timer fires every ``poll_interval_secs`` and
issues one ``XREADGROUP`` *without* ``BLOCK`` (it returns at once, empty or with at most
``batch_size`` entries) on a connection with a short socket timeout. Each entry is applied, then its
ack, its audit record and its ``XACK`` go to Redis in one ``MULTI`` transaction, so a restarted node
(same consumer group) never re-applies an acknowledged command; an entry delivered but not
acknowledged (the node died while applying it) is read again from the consumer's pending list at
start and applied then (at least once). A Redis outage is logged and retried on the next tick.

What each command does
----------------------
* ``halt`` / ``resume``: publish a :class:`~nautilus_ai.risk.state.TradingStateCommand` on
  :data:`~nautilus_ai.risk.state.RISK_COMMAND_TOPIC` (the RiskGuardActor sets the RiskEngine's
  state; with no subscriber the actor sets it on the kernel's RiskEngine itself), then read the
  RiskEngine's state back: the ack is ``ok`` only when it changed (result ``trading_state``).
* ``retrain``: publish a :class:`~nautilus_ai.live.control.RetrainTrigger` on
  :data:`~nautilus_ai.live.control.RETRAIN_TOPIC`.
* ``promote`` / ``rollback``: the registry's gated ``promote`` (thresholds ``promotion_gate``) or
  ``rollback``, with the command's ``actor``; then a :class:`~nautilus_ai.live.control.ModelSwap`
  with the new champion on :data:`~nautilus_ai.live.control.MODEL_SWAP_TOPIC`. A failing gate is a
  ``rejected`` ack listing the failed checks.
* ``submit_order``: through the RiskGate of the gated strategy (MLStrategy or PortfolioStrategy) that
  trades the instrument: a market order is an :class:`~nautilus_ai.risk.sizing.OrderIntent` given
  to the strategy's ``submit_intent`` (the one pre-trade path: the decision is recorded and
  published like the strategy's own); a limit order is checked by the same gate at its limit
  price and submitted by the strategy with the approved quantity. A rejected or halted gate
  decision is a ``rejected`` ack.
* ``cancel_order``: cancel an open order by client order id, through its strategy.
* ``set_limit``: change a RiskGate limit of every gated strategy (or ``strategy_id``'s) to a value
  inside ``limit_bounds[name]``; a limit without bounds, or a value outside them, is rejected.

Unknown kinds and bad arguments are ``rejected`` acks naming the field; an exception while applying
a command is an ``error`` ack; nothing a command does stops the node.
"""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from nautilus_trader.common.actor import Actor
from nautilus_trader.common.events import TimeEvent
from nautilus_trader.config import ActorConfig
from nautilus_trader.model.enums import OrderSide, TimeInForce
from nautilus_trader.model.identifiers import ClientOrderId, InstrumentId
from nautilus_trader.risk.engine import RiskEngine
from nautilus_trader.trading.strategy import Strategy

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.live import control
from nautilus_ai.live.control import (
    ADJUSTABLE_LIMITS,
    MODEL_SWAP_TOPIC,
    RETRAIN_TOPIC,
    CancelOrderArgs,
    ControlAck,
    ControlCommand,
    ControlStreams,
    ModelSwap,
    PromoteArgs,
    RetrainArgs,
    RetrainTrigger,
    RollbackArgs,
    SetLimitArgs,
    SubmitOrderArgs,
    TradingStateArgs,
)
from nautilus_ai.risk.gate import RiskGate
from nautilus_ai.risk.guard import find_risk_engine
from nautilus_ai.risk.sizing import OrderIntent
from nautilus_ai.risk.state import (
    RISK_COMMAND_TOPIC,
    GateState,
    TradingStateCommand,
    from_nautilus,
    to_nautilus,
)
from nautilus_ai.strategies import gated_orders

_TIMER_NAME = "control-actor-poll"


class ControlActorConfig(ActorConfig, frozen=True):
    """Configuration of a :class:`ControlActor`.

    Parameters
    ----------
    redis_host : str, default "127.0.0.1"
        The Redis server of the control streams.
    redis_port : int, default 6379
        Its port.
    redis_db : int, default 0
        Its database number.
    redis_socket_timeout_secs : float, default 0.5
        Socket timeout of every Redis call (a dead server costs at most this per poll).
    stream_prefix : str, default "nautilus_ai:control"
        The streams are ``<stream_prefix>:<trader_id>:commands|acks|audit``.
    control_trader_id : str, optional
        The trader id in the stream names (default: the node's trader id).
    consumer_group : str, default "control"
        The Redis consumer group (keep it across restarts: acknowledged commands are not re-read).
    consumer_name : str, default "node"
        This node's consumer name in the group.
    poll_interval_secs : float, default 0.2
        Period of the polling timer.
    batch_size : int, default 16
        Most commands read per poll.
    max_command_age_secs : float, optional
        Reject commands issued longer ago than this (stale orders after an outage); None: no limit.
    stream_maxlen : int, default 10000
        Approximate cap of the acks and audit streams (``XADD MAXLEN ~``).
    audit_path : str, optional
        Also append every audit record to this JSON-lines file.
    registry_path : str, optional
        The model registry of ``promote`` / ``rollback`` (those commands are rejected without one).
    registry_index_url : str, optional
        The registry's index (default ``<registry_path>/index.sqlite``).
    promotion_gate : dict, optional
        Thresholds of :class:`~nautilus_ai.learning.promotion.PromotionGate` (its defaults when None).
    limit_bounds : dict[str, tuple[float, float]]
        ``[min, max]`` a ``set_limit`` may set, per RiskGate limit (one of
        :data:`~nautilus_ai.live.control.ADJUSTABLE_LIMITS`); a limit not listed cannot be changed.

    """

    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    redis_db: int = 0
    redis_socket_timeout_secs: float = 0.5
    stream_prefix: str = control.DEFAULT_STREAM_PREFIX
    control_trader_id: str | None = None
    consumer_group: str = "control"
    consumer_name: str = "node"
    poll_interval_secs: float = 0.2
    batch_size: int = 16
    max_command_age_secs: float | None = None
    stream_maxlen: int = 10_000
    audit_path: str | None = None
    registry_path: str | None = None
    registry_index_url: str | None = None
    promotion_gate: dict[str, Any] | None = None
    limit_bounds: dict[str, tuple[float, float]] = {}


def check_limit_bounds(bounds: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """Return ``bounds`` checked: known limit names, finite ``0 < min <= max``.

    Raises
    ------
    ConfigError
        Naming the ``limit_bounds`` entry at fault.

    """
    checked: dict[str, tuple[float, float]] = {}
    for name, pair in bounds.items():
        if name not in ADJUSTABLE_LIMITS:
            raise ConfigError(
                f"ControlActorConfig.limit_bounds[{name!r}]: unknown limit; expected one of "
                f"{', '.join(ADJUSTABLE_LIMITS)}"
            )
        if len(pair) != 2:
            raise ConfigError(f"ControlActorConfig.limit_bounds[{name!r}] must be [min, max], was {pair}")
        low, high = float(pair[0]), float(pair[1])
        if not (math.isfinite(low) and math.isfinite(high) and 0.0 < low <= high):
            raise ConfigError(
                f"ControlActorConfig.limit_bounds[{name!r}] must be finite with 0 < min <= max, was {pair}"
            )
        checked[name] = (low, high)
    return checked


def bounds_violation(name: str, value: float, bounds: dict[str, tuple[float, float]]) -> str:
    """Return why ``value`` may not be set for limit ``name`` under ``bounds`` ("" when it may)."""
    if name not in bounds:
        return f"args.name: the limit {name!r} is not adjustable (no bounds configured for it)"
    low, high = bounds[name]
    if not low <= value <= high:
        return f"args.value: {value:g} is outside the configured bounds [{low:g}, {high:g}] of {name}"
    return ""


class _Rejected(Exception):  # noqa: N818 -- control flow: a command refused, answered as "rejected"
    """A command refused: answered with a rejected ack carrying the message."""


class ControlActor(Actor):
    """Apply operator commands from a Redis stream inside the node (see the module docstring)."""

    def __init__(self, config: ControlActorConfig) -> None:
        super().__init__(config)
        if config.poll_interval_secs <= 0:
            raise ConfigError(
                f"ControlActorConfig.poll_interval_secs must be positive, was {config.poll_interval_secs}"
            )
        if config.batch_size < 1:
            raise ConfigError(f"ControlActorConfig.batch_size must be >= 1, was {config.batch_size}")
        if config.max_command_age_secs is not None and config.max_command_age_secs <= 0:
            raise ConfigError(
                "ControlActorConfig.max_command_age_secs must be positive (None: no limit), was "
                f"{config.max_command_age_secs}"
            )
        if config.promotion_gate is not None:
            from nautilus_ai.learning.promotion import PromotionGate

            try:
                PromotionGate(**config.promotion_gate)
            except ValueError as error:
                raise ConfigError(f"ControlActorConfig.promotion_gate is invalid: {error}") from None
        self.limit_bounds = check_limit_bounds(dict(config.limit_bounds))
        self.streams: ControlStreams | None = None
        self.acks: list[ControlAck] = []
        self._redis: redis.Redis | None = None
        self._read_pending = True  # first poll: re-read entries delivered but never acknowledged
        self._redis_down = False

    # -- lifecycle ------------------------------------------------------------------------------------

    def on_start(self) -> None:
        """Connect to Redis, create the consumer group and start the polling timer."""
        cfg = self.config
        trader = cfg.control_trader_id or str(self.trader_id)
        self.streams = control.control_streams(trader, cfg.stream_prefix)
        self._redis = redis.Redis(
            host=cfg.redis_host,
            port=cfg.redis_port,
            db=cfg.redis_db,
            socket_timeout=cfg.redis_socket_timeout_secs,
            socket_connect_timeout=cfg.redis_socket_timeout_secs,
            decode_responses=True,
        )
        self._redis_down = not self._ensure_group()
        self.clock.set_timer(
            _TIMER_NAME, interval=timedelta(seconds=cfg.poll_interval_secs), callback=self._on_timer
        )
        self.log.info(f"ControlActor reading {self.streams.commands} (group {cfg.consumer_group})")

    def on_stop(self) -> None:
        """Stop polling and close the Redis connection."""
        if _TIMER_NAME in self.clock.timer_names:
            self.clock.cancel_timer(_TIMER_NAME)
        if self._redis is not None:
            self._redis.close()
            self._redis = None

    def _ensure_group(self) -> bool:
        assert self._redis is not None and self.streams is not None
        try:
            self._redis.xgroup_create(
                self.streams.commands, self.config.consumer_group, id="0", mkstream=True
            )
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):  # e.g. WRONGTYPE: the key is not a stream
                self.log.error(f"ControlActor: cannot read {self.streams.commands}: {error!r}")
                return False
        except redis.RedisError as error:
            self.log.error(f"ControlActor: Redis unavailable ({error!r}); retrying on the next poll")
            return False
        return True

    # -- polling --------------------------------------------------------------------------------------

    def _on_timer(self, event: TimeEvent) -> None:
        self.poll()

    def poll(self) -> int:
        """Read the waiting commands (no blocking), apply, acknowledge and audit each; return how many."""
        if self._redis is None or self.streams is None:
            return 0
        try:
            if self._redis_down and not self._ensure_group():
                return 0
            entries = self._read()
        except redis.RedisError as error:
            if not self._redis_down:
                self.log.error(f"ControlActor: reading {self.streams.commands} failed: {error!r}")
            self._redis_down = True
            return 0
        if self._redis_down:
            self.log.info("ControlActor: Redis is back")
            self._redis_down = False
        for entry_id, fields in entries:
            self.handle_entry(entry_id, fields)
        return len(entries)

    def _read(self) -> list[tuple[str, dict[str, Any]]]:
        assert self._redis is not None and self.streams is not None
        cfg = self.config
        entries: list[tuple[str, dict[str, Any]]] = []
        if self._read_pending:  # entries delivered to this consumer earlier but never acknowledged
            entries = self._read_group("0", cfg.batch_size)
            if len(entries) < cfg.batch_size:
                self._read_pending = False  # the pending list is drained: new entries from now on
        if not self._read_pending and len(entries) < cfg.batch_size:
            entries += self._read_group(">", cfg.batch_size - len(entries))
        return entries

    def _read_group(self, start: str, count: int) -> list[tuple[str, dict[str, Any]]]:
        assert self._redis is not None and self.streams is not None
        cfg = self.config
        response: Any = self._redis.xreadgroup(
            cfg.consumer_group, cfg.consumer_name, {self.streams.commands: start}, count=count
        )
        # a pending entry deleted from the stream comes back with no fields: acknowledge it away
        entries = []
        for _, items in response or []:
            for entry_id, fields in items:
                if fields:
                    entries.append((str(entry_id), dict(fields)))
                else:
                    self._redis.xack(self.streams.commands, cfg.consumer_group, entry_id)
        return entries

    def handle_entry(self, entry_id: str, fields: dict[str, Any]) -> ControlAck:
        """Apply one stream entry and publish its ack and audit record (then XACK it)."""
        assert self.streams is not None
        command: ControlCommand | None = None
        raw: dict[str, Any] = {}
        try:
            command = control.decode_command(fields)
        except DataError as error:
            raw = control.raw_command_fields(fields)
            ack = ControlAck(
                id=str(raw.get("id") or entry_id),
                kind=str(raw.get("kind") or "unknown"),
                status="rejected",
                message=str(error),
            )
        else:
            ack = self.apply(command)
        self.acks.append(ack)
        trader = self.streams.commands.split(":")[-2]
        record = control.audit_record(
            command,
            ack,
            trader_id=trader,
            stream_entry_id=entry_id,
            raw_args=raw.get("args") if isinstance(raw.get("args"), dict) else None,
        )
        level = self.log.info if ack.status == "ok" else self.log.warning
        level(f"Control {ack.kind} {ack.id} by {record.actor}: {ack.status} {ack.message}")
        self._write_audit_file(record)
        try:
            self._publish(entry_id, ack, record)
        except redis.RedisError as error:  # the ack is lost: the entry stays pending and is re-read
            self.log.error(f"ControlActor: could not acknowledge {ack.id}: {error!r}")
            self._redis_down = True
            self._read_pending = True
        return ack

    def _publish(self, entry_id: str, ack: ControlAck, record: control.AuditRecord) -> None:
        assert self._redis is not None and self.streams is not None
        maxlen = self.config.stream_maxlen
        pipe = self._redis.pipeline(transaction=True)
        pipe.xadd(self.streams.acks, control.encode(ack), maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
        pipe.xadd(self.streams.audit, control.encode(record), maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
        pipe.xack(self.streams.commands, self.config.consumer_group, entry_id)
        pipe.execute()

    def _write_audit_file(self, record: control.AuditRecord) -> None:
        if self.config.audit_path is None:
            return
        try:
            path = Path(self.config.audit_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as handle:
                handle.write(record.model_dump_json() + "\n")
        except OSError as error:
            self.log.error(
                f"ControlActor: could not write the audit file {self.config.audit_path}: {error!r}"
            )

    # -- applying -------------------------------------------------------------------------------------

    def apply(self, command: ControlCommand) -> ControlAck:
        """Validate and apply ``command`` on this thread; return its ack (never raises)."""
        try:
            self._check_age(command)
            args = control.parse_args(command)
            handler = getattr(self, f"_apply_{command.kind}")
            message, result = handler(command, args)
        except (DataError, _Rejected) as error:
            return ControlAck(id=command.id, kind=command.kind, status="rejected", message=str(error))
        except Exception as error:  # a failing command must not stop the node
            self.log.exception(f"Control command {command.id} ({command.kind}) failed", error)
            return ControlAck(
                id=command.id, kind=command.kind, status="error", message=f"{type(error).__name__}: {error}"
            )
        return ControlAck(id=command.id, kind=command.kind, status="ok", message=message, result=result)

    def _check_age(self, command: ControlCommand) -> None:
        limit = self.config.max_command_age_secs
        if limit is None:
            return
        now = datetime.fromtimestamp(self.clock.timestamp_ns() / 1e9, tz=UTC)
        age = (now - command.issued_at).total_seconds()
        if age > limit:
            raise _Rejected(
                f"issued_at: the command is {age:.0f}s old, older than max_command_age_secs={limit:g}"
            )

    def _risk_engine(self) -> RiskEngine | None:
        return find_risk_engine(self.msgbus)

    def _set_trading_state(self, command: ControlCommand, state: GateState, reason: str) -> dict[str, Any]:
        engine = self._risk_engine()
        who = f"{command.actor} (control {command.id}): {reason}"
        if self.msgbus.has_subscribers(RISK_COMMAND_TOPIC):
            self.msgbus.publish(RISK_COMMAND_TOPIC, TradingStateCommand(state, who))
        elif engine is not None:
            engine.set_trading_state(to_nautilus(state))
        else:
            raise RuntimeError("no RiskEngine and no RiskGuardActor: the trading state cannot be set")
        if engine is None:
            return {"trading_state": str(state), "verified": False}
        actual = from_nautilus(engine.trading_state)
        if actual != state:
            raise RuntimeError(
                f"the RiskEngine's trading state is {actual} after the command, expected {state}"
            )
        return {"trading_state": str(actual), "verified": True}

    def _apply_halt(self, command: ControlCommand, args: TradingStateArgs) -> tuple[str, dict[str, Any]]:
        result = self._set_trading_state(command, GateState.HALTED, args.reason)
        return "trading halted", result

    def _apply_resume(self, command: ControlCommand, args: TradingStateArgs) -> tuple[str, dict[str, Any]]:
        result = self._set_trading_state(command, GateState.ACTIVE, args.reason)
        return "trading resumed", result

    def _apply_retrain(self, command: ControlCommand, args: RetrainArgs) -> tuple[str, dict[str, Any]]:
        trigger = RetrainTrigger(
            reason=args.reason,
            model_name=args.model_name,
            actor=command.actor,
            command_id=command.id,
            ts_event=self.clock.timestamp_ns(),
        )
        listeners = len(self.msgbus.subscriptions(RETRAIN_TOPIC))
        self.msgbus.publish(RETRAIN_TOPIC, trigger)
        return f"retrain requested on {RETRAIN_TOPIC}", {"topic": RETRAIN_TOPIC, "subscribers": listeners}

    def _registry(self) -> Any:
        if self.config.registry_path is None:
            raise _Rejected("kind: promote/rollback need ControlActorConfig.registry_path (none configured)")
        from nautilus_ai.learning.registry import ModelRegistry

        return ModelRegistry(self.config.registry_path, self.config.registry_index_url)

    def _swap(
        self, name: str, version: str, previous: str | None, action: str, command: ControlCommand
    ) -> None:
        swap = ModelSwap(
            name=name,
            version_id=version,
            previous_version_id=previous,
            action=action,  # type: ignore[arg-type]
            actor=command.actor,
            command_id=command.id,
            ts_event=self.clock.timestamp_ns(),
        )
        self.msgbus.publish(MODEL_SWAP_TOPIC, swap)

    def _apply_promote(self, command: ControlCommand, args: PromoteArgs) -> tuple[str, dict[str, Any]]:
        from nautilus_ai.errors import ModelError
        from nautilus_ai.learning.promotion import PromotionGate
        from nautilus_ai.learning.registry import PromotionRefused

        registry = self._registry()
        try:
            record = registry.get(args.version_id)
            previous = registry.champion(record.name)
            gate = PromotionGate(**(self.config.promotion_gate or {}))
            verdict = registry.promote(
                args.version_id,
                gate,
                force=args.force,
                reason=args.reason or f"control command {command.id}",
                actor=command.actor,
            )
        except PromotionRefused as error:
            raise _Rejected(f"args.version_id: the promotion gate refused it: {error}") from None
        except (ModelError, ConfigError) as error:
            raise _Rejected(f"args.version_id: {error}") from None
        previous_id = previous.version_id if previous is not None else None
        self._swap(record.name, args.version_id, previous_id, "promote", command)
        return f"{args.version_id} is champion of {record.name}", {
            "name": record.name,
            "champion": args.version_id,
            "previous": previous_id,
            "gate_passed": verdict.passed,
            "checks": list(verdict.checks),
        }

    def _apply_rollback(self, command: ControlCommand, args: RollbackArgs) -> tuple[str, dict[str, Any]]:
        from nautilus_ai.errors import ModelError

        registry = self._registry()
        previous = registry.champion(args.name)
        try:
            version = registry.rollback(
                args.name, args.to, reason=args.reason or f"control command {command.id}", actor=command.actor
            )
        except (ModelError, ConfigError) as error:
            raise _Rejected(f"args.name: {error}") from None
        previous_id = previous.version_id if previous is not None else None
        self._swap(args.name, version, previous_id, "rollback", command)
        return f"{version} is champion of {args.name} again", {
            "name": args.name,
            "champion": version,
            "previous": previous_id,
        }

    # -- orders and limits ----------------------------------------------------------------------------

    def gated_strategies(self) -> list[Strategy]:
        """Return the node's strategies that send their orders through a RiskGate."""
        return [s for s in self._strategies() if isinstance(getattr(s, "gate", None), RiskGate)]

    def _strategies(self) -> list[Strategy]:
        # every strategy subscribes its own handler to events.order.<strategy_id> when registered
        found: dict[str, Strategy] = {}
        for subscription in self.msgbus.subscriptions("events.order.*"):
            owner = getattr(subscription.handler, "__self__", None)
            if isinstance(owner, Strategy):
                found[str(owner.id)] = owner
        return list(found.values())

    def _strategy_for(self, instrument_id: InstrumentId, strategy_id: str | None) -> Strategy:
        strategies = self.gated_strategies()
        if strategy_id is not None:
            for strategy in strategies:
                if str(strategy.id) == strategy_id:
                    return strategy
            raise _Rejected(f"args.strategy_id: no gated strategy {strategy_id!r} in the node")
        for strategy in strategies:
            cfg = strategy.config
            ids = [getattr(cfg, "instrument_id", None), *(getattr(cfg, "instrument_ids", None) or [])]
            if instrument_id in ids:
                return strategy
        raise _Rejected(f"args.instrument_id: no gated strategy trades {instrument_id}")

    def _apply_submit_order(
        self, command: ControlCommand, args: SubmitOrderArgs
    ) -> tuple[str, dict[str, Any]]:
        try:
            instrument_id = InstrumentId.from_str(args.instrument_id)
        except ValueError as error:
            raise _Rejected(f"args.instrument_id: {error}") from None
        instrument = self.cache.instrument(instrument_id)
        if instrument is None:
            raise _Rejected(f"args.instrument_id: {instrument_id} is not in the node's cache")
        strategy: Any = self._strategy_for(instrument_id, args.strategy_id)
        signed = args.quantity if args.side == "BUY" else -args.quantity
        current = gated_orders.projected_position(self.portfolio, self.cache, instrument_id)
        intent = OrderIntent(
            side=args.side,
            quantity=args.quantity,
            target_quantity=current + signed,
            reason=f"manual {args.order_type} by {command.actor} (control {command.id})",
        )
        before = {o.client_order_id for o in self.cache.orders(strategy_id=strategy.id)}
        if args.order_type == "market":
            if hasattr(strategy.config, "instrument_ids"):  # PortfolioStrategy
                decision = strategy.submit_intent(instrument_id, intent)
            else:
                decision = strategy.submit_intent(intent)
        else:
            assert args.price is not None
            decision = strategy.gate.check(
                intent,
                str(instrument_id),
                args.price,
                strategy.book_snapshot(),
                gated_orders.instrument_rules(instrument),
            )
            gated_orders.log_decision(strategy.log, decision)
            if decision.intent is not None:
                order = strategy.order_factory.limit(
                    instrument_id=instrument_id,
                    order_side=OrderSide.BUY if decision.intent.side == "BUY" else OrderSide.SELL,
                    quantity=instrument.make_qty(decision.intent.quantity),
                    price=instrument.make_price(args.price),
                    time_in_force=TimeInForce.GTC,
                )
                strategy.submit_order(order)
        if decision is None:
            raise _Rejected(f"args.instrument_id: {strategy.id} has no instrument {instrument_id} loaded yet")
        result = {
            "strategy_id": str(strategy.id),
            "gate_action": decision.action,
            "gate_reason": decision.reason,
            "requested_qty": float(decision.requested_qty),
            "approved_qty": float(decision.approved_qty),
            "trading_state": str(decision.trading_state),
        }
        if decision.intent is None:
            raise _Rejected(f"args.quantity: the RiskGate {decision.action} the order: {decision.reason}")
        after = [o for o in self.cache.orders(strategy_id=strategy.id) if o.client_order_id not in before]
        result["client_order_ids"] = [str(o.client_order_id) for o in after]
        return f"{args.side} {decision.approved_qty:g} {instrument_id} submitted ({decision.action})", result

    def _apply_cancel_order(
        self, command: ControlCommand, args: CancelOrderArgs
    ) -> tuple[str, dict[str, Any]]:
        order = self.cache.order(ClientOrderId(args.client_order_id))
        if order is None:
            raise _Rejected(f"args.client_order_id: no order {args.client_order_id!r} in the node")
        if order.is_closed:
            raise _Rejected(
                f"args.client_order_id: {args.client_order_id} is already {order.status_string()}"
            )
        owner = next((s for s in self._strategies() if s.id == order.strategy_id), None)
        if owner is None:
            raise _Rejected(f"args.client_order_id: its strategy {order.strategy_id} is not in the node")
        owner.cancel_order(order)
        return f"cancel of {args.client_order_id} requested", {
            "client_order_id": args.client_order_id,
            "strategy_id": str(owner.id),
        }

    def _apply_set_limit(self, command: ControlCommand, args: SetLimitArgs) -> tuple[str, dict[str, Any]]:
        violation = bounds_violation(args.name, args.value, self.limit_bounds)
        if violation:
            raise _Rejected(violation)
        strategies = self.gated_strategies()
        if args.strategy_id is not None:
            strategies = [s for s in strategies if str(s.id) == args.strategy_id]
            if not strategies:
                raise _Rejected(f"args.strategy_id: no gated strategy {args.strategy_id!r} in the node")
        if not strategies:
            raise _Rejected("kind: the node has no gated strategy whose limit could be set")
        previous: dict[str, float] = {}
        for strategy in strategies:
            gate: RiskGate = strategy.gate
            previous[str(strategy.id)] = float(getattr(gate.limits, args.name))
            gate.limits = dataclasses.replace(gate.limits, **{args.name: args.value})
        return f"{args.name} set to {args.value:g}", {
            "name": args.name,
            "value": args.value,
            "previous": previous,
        }


def control_actor_config(**kwargs: Any) -> Any:
    """Return the ``ImportableActorConfig`` of a ControlActor (for ``paper_node_config(extra_actors=)``).

    Parameters
    ----------
    **kwargs
        Fields of :class:`ControlActorConfig` (JSON-able values).

    """
    from nautilus_trader.config import ImportableActorConfig

    ControlActorConfig(**kwargs)  # fail here, not when the node builds, on a bad field
    return ImportableActorConfig(
        actor_path="nautilus_ai.live.control_actor:ControlActor",
        config_path="nautilus_ai.live.control_actor:ControlActorConfig",
        config=json.loads(json.dumps(kwargs)),
    )
