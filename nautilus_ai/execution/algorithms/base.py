"""Shared machinery of the TWAP, VWAP, iceberg and POV execution algorithms.

Every algorithm treats the strategy's order (the *parent*, NautilusTrader's primary order) as an
envelope: it is never sent to the venue; the algorithm spawns children (``exec_spawn_id`` = the
parent's id, ``reduce_primary=False``) that carry the whole quantity, and closes the parent locally
(``OrderCanceled`` from the algorithm) when the execution ends, whatever the outcome. The outcome, the
fills and the arrival mid are kept per parent in :attr:`ParentAlgorithm.executions`
(:class:`ParentExecution`), which is what measurement code (the shortfall benchmark) reads.

Life of a parent::

    on_order  -> parse params (bad: the parent is DENIED with the reason) -> algorithm start
    children  -> fills update filled/leaves; a rejected, denied or foreign-canceled child is retried
                 (resent) up to ``max_retries`` times per parent, then the parent stops ("failed")
    horizon   -> on_horizon_end = "finish": cancel working children, send the residual at market
                 on_horizon_end = "cancel": cancel working children and the residual
    HALTED    -> (TradingStateChanged on ``events.risk`` or a GateState on RISK_STATE_TOPIC)
                 cancel every working child, send nothing more, close every parent ("halted");
                 a parent arriving while halted is denied; ACTIVE/REDUCING accepts new parents again

Everything is counted in whole lots of the instrument's size increment (``child_orders.to_lots``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nautilus_trader.common.events import TimeEvent
from nautilus_trader.common.messages import TradingStateChanged
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.execution.algorithm import ExecAlgorithm
from nautilus_trader.execution.config import ExecAlgorithmConfig
from nautilus_trader.execution.messages import CancelOrder
from nautilus_trader.model.enums import (
    BookType,
    OrderSide,
    OrderType,
    TimeInForce,
    TradingState,
)
from nautilus_trader.model.events import (
    OrderCanceled,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderRejected,
)
from nautilus_trader.model.identifiers import ClientOrderId, InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.orders import Order

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.execution.child_orders import lot_precision, min_child_lots, to_lots
from nautilus_ai.risk.guard import find_risk_engine
from nautilus_ai.risk.state import RISK_STATE_TOPIC, GateState

HORIZON_END_POLICIES = ("finish", "cancel")
"""Values of ``on_horizon_end``: send the residual at market, or cancel it."""

BOOK_TYPES = ("L1_MBP", "L2_MBP", "L3_MBO")
"""Values of ``book_type`` (NautilusTrader ``BookType`` names)."""

CHILD_TYPES = ("market", "limit")
"""Values of the ``child_type`` parameter."""

PRICE_MODES = ("fixed", "peg")
"""Values of ``price_mode``: the parent's limit price, or the touch moved by ``limit_offset_ticks``."""


class SlicingAlgorithmConfig(ExecAlgorithmConfig, kw_only=True, frozen=True):
    """Settings shared by the nautilus-ai execution algorithms (defaults of the per-order params).

    Parameters
    ----------
    on_horizon_end : str
        ``"finish"`` (send the residual at market when the horizon ends) or ``"cancel"`` (cancel it);
        a parent may override it with the ``on_horizon_end`` param.
    max_retries : int
        Rejected, denied or externally canceled children resent per parent before it stops.
    book_instrument_ids : list[InstrumentId], optional
        Instruments whose order book the algorithm subscribes to at start (for the arrival mid and
        pegged prices); without it the touch comes from a book, quote or trade already in the cache.
    book_type : str
        Book type of those subscriptions (``L1_MBP``, ``L2_MBP`` or ``L3_MBO``: the data's type).

    """

    on_horizon_end: str = "finish"
    max_retries: int = 3
    book_instrument_ids: list[InstrumentId] | None = None
    book_type: str = "L2_MBP"


@dataclass(frozen=True)
class ChildFill:
    """One fill of a child order.

    Attributes
    ----------
    child_id : str
        The child's client order id (``<parent>-E<n>``).
    ts_event : int
        Fill time (UNIX ns).
    quantity : float
        Filled size.
    price : float
        Fill price.

    """

    child_id: str
    ts_event: int
    quantity: float
    price: float


@dataclass
class ParentExecution:
    """What happened to one parent order: the record the shortfall benchmark reads.

    Attributes
    ----------
    parent_id : str
        The parent's client order id.
    algorithm : str
        The exec algorithm id (``TWAP``, ``VWAP``, ``ICEBERG`` or ``POV``).
    instrument_id : str
        The instrument.
    side : str
        ``"BUY"`` or ``"SELL"``.
    quantity : float
        Parent quantity.
    arrival_ns : int
        When the algorithm received the parent (UNIX ns).
    arrival_mid : float
        Mid price at arrival (NaN when no book, quote or trade was known).
    status : str
        ``working``, ``filled``, ``canceled`` (residual canceled), ``halted``, ``failed``
        (retries exhausted) or ``denied`` (bad params).
    reason : str
        Why it ended (empty while working).
    children : list of str
        Ids of the children sent, in order.
    child_quantities : list of float
        Quantity of each child sent.
    fills : list of ChildFill
        Every child fill.
    rejected : int
        Children rejected or denied.
    canceled : int
        Children canceled (by the algorithm or the venue).
    retries : int
        Children resent after a failure.
    end_ns : int
        When it ended (0 while working).

    """

    parent_id: str
    algorithm: str
    instrument_id: str
    side: str
    quantity: float
    arrival_ns: int
    arrival_mid: float = math.nan
    status: str = "working"
    reason: str = ""
    children: list[str] = field(default_factory=list)
    child_quantities: list[float] = field(default_factory=list)
    fills: list[ChildFill] = field(default_factory=list)
    rejected: int = 0
    canceled: int = 0
    retries: int = 0
    end_ns: int = 0

    @property
    def filled_qty(self) -> float:
        """Return the quantity filled over all children."""
        return float(sum(fill.quantity for fill in self.fills))

    @property
    def leaves_qty(self) -> float:
        """Return the parent quantity not filled."""
        return max(0.0, self.quantity - self.filled_qty)

    @property
    def avg_px(self) -> float:
        """Return the size-weighted average fill price (NaN without fills)."""
        filled = self.filled_qty
        if filled <= 0.0:
            return math.nan
        return float(sum(fill.quantity * fill.price for fill in self.fills) / filled)

    @property
    def shortfall_bps(self) -> float:
        """Return the implementation shortfall of the filled part against the arrival mid, in bps.

        Positive is a cost: ``(avg_px - arrival_mid) / arrival_mid * 1e4`` for a buy, the opposite for
        a sell (NaN without fills or arrival mid).
        """
        if not self.arrival_mid > 0.0 or not self.fills:
            return math.nan
        sign = 1.0 if self.side == "BUY" else -1.0
        return sign * (self.avg_px - self.arrival_mid) / self.arrival_mid * 1e4

    @property
    def is_done(self) -> bool:
        """Return True once the execution ended."""
        return self.status != "working"


# -- parameters ----------------------------------------------------------------------------------


def param_float(
    params: Mapping[str, Any],
    name: str,
    default: float | None = None,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strict_minimum: bool = False,
) -> float:
    """Return ``params[name]`` as a float, checked against its bounds.

    Raises
    ------
    ConfigError
        If it is missing without a default, not a number, or out of bounds (the message names it).

    """
    raw = params.get(name, default)
    if raw is None:
        raise ConfigError(f"exec_algorithm_params['{name}'] is required")
    try:
        value = float(raw)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"exec_algorithm_params['{name}'] must be a number, was {raw!r}") from error
    if not math.isfinite(value):
        raise ConfigError(f"exec_algorithm_params['{name}'] must be finite, was {raw!r}")
    if minimum is not None and (value < minimum or (strict_minimum and value <= minimum)):
        bound = ">" if strict_minimum else ">="
        raise ConfigError(f"exec_algorithm_params['{name}'] must be {bound} {minimum}, was {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"exec_algorithm_params['{name}'] must be <= {maximum}, was {value}")
    return value


def param_choice(params: Mapping[str, Any], name: str, default: str, choices: tuple[str, ...]) -> str:
    """Return ``params[name]`` (a string among ``choices``), raising ConfigError otherwise."""
    value = str(params.get(name, default)).lower()
    if value not in choices:
        raise ConfigError(f"exec_algorithm_params['{name}'] must be one of {choices}, was {value!r}")
    return value


def param_bool(params: Mapping[str, Any], name: str, default: bool) -> bool:
    """Return ``params[name]`` as a bool (accepts true/false/1/0 strings)."""
    raw = params.get(name, default)
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ConfigError(f"exec_algorithm_params['{name}'] must be a boolean, was {raw!r}")


def peg_price(side: str, bid: float, ask: float, offset_ticks: float, tick: float) -> float:
    """Return the near touch moved ``offset_ticks`` towards the far side (positive = more aggressive).

    ``bid + offset * tick`` for a buy, ``ask - offset * tick`` for a sell.
    """
    return bid + offset_ticks * tick if side == "BUY" else ask - offset_ticks * tick


def secs_to_ns(seconds: float) -> int:
    """Return ``seconds`` in integer nanoseconds."""
    return round(seconds * 1_000_000_000)


def due_lots(times_ns: list[int], lots: list[int], now_ns: int) -> int:
    """Return the lots of a schedule due by ``now_ns``: the sum of ``lots[i]`` with ``times_ns[i] <= now``."""
    return int(sum(k for t, k in zip(times_ns, lots, strict=True) if t <= now_ns))


# -- per-parent state ----------------------------------------------------------------------------


@dataclass
class ParentState:
    """The algorithm's working state for one parent (internal, mutable).

    Attributes
    ----------
    primary : Order
        The parent order.
    instrument : Instrument
        Its instrument.
    lot : float
        Size increment.
    total_lots, filled_lots : int
        Parent size and filled size, in lots.
    min_lots : int
        Smallest child the venue accepts, in lots.
    working : dict of ClientOrderId to int
        Leaves of each working child, in lots.
    refreshing : set of ClientOrderId
        Children the algorithm asked to cancel (their cancel is not a failure).
    phase : str
        ``running``, ``finish`` or ``cancel`` (winding down at the horizon end), ``final`` (residual
        sent at market) or ``closed``.
    record : ParentExecution
        The public record.
    params : dict
        The parsed parameters.

    """

    primary: Order
    instrument: Instrument
    lot: float
    total_lots: int
    min_lots: int
    horizon_end_policy: str
    max_retries: int
    record: ParentExecution
    filled_lots: int = 0
    working: dict[ClientOrderId, int] = field(default_factory=dict)
    refreshing: set[ClientOrderId] = field(default_factory=set)
    phase: str = "running"
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def working_lots(self) -> int:
        """Return the leaves of the working children, in lots."""
        return sum(self.working.values())

    @property
    def remaining_lots(self) -> int:
        """Return the lots neither filled nor working."""
        return self.total_lots - self.filled_lots - self.working_lots


class ParentAlgorithm(ExecAlgorithm):
    """Base of the nautilus-ai algorithms: params, children, retries, horizon end and halting.

    Subclasses implement :meth:`start_parent` (check their params, set their timers) and
    :meth:`replenish` (send what is due now); they call :meth:`send_child` to send a child.

    Parameters
    ----------
    config : SlicingAlgorithmConfig
        The configuration.

    """

    def __init__(self, config: SlicingAlgorithmConfig) -> None:
        super().__init__(config)  # first: a Cython component must be initialized before raising
        if config.on_horizon_end not in HORIZON_END_POLICIES:
            raise ConfigError(
                f"{type(config).__name__}.on_horizon_end must be one of {HORIZON_END_POLICIES}, "
                f"was {config.on_horizon_end!r}"
            )
        if config.max_retries < 0:
            raise ConfigError(f"{type(config).__name__}.max_retries must be >= 0, was {config.max_retries}")
        if config.book_type not in BOOK_TYPES:
            raise ConfigError(
                f"{type(config).__name__}.book_type must be one of {BOOK_TYPES}, was {config.book_type!r}"
            )
        self._settings = config
        self.executions: dict[str, ParentExecution] = {}
        self._states: dict[ClientOrderId, ParentState] = {}
        self._halted = False

    # -- lifecycle -------------------------------------------------------------------------------

    def on_start(self) -> None:
        """Subscribe to the trading state topics and the configured order books."""
        self.msgbus.subscribe("events.risk", self._on_risk_event)
        self.msgbus.subscribe(RISK_STATE_TOPIC, self._on_gate_state)
        for instrument_id in self._settings.book_instrument_ids or []:
            self.subscribe_order_book_deltas(
                instrument_id, book_type=BookType[self._settings.book_type], managed=True
            )

    def on_stop(self) -> None:
        """Cancel the timers and leave the trading state topics."""
        self.clock.cancel_timers()
        self.msgbus.unsubscribe("events.risk", self._on_risk_event)
        self.msgbus.unsubscribe(RISK_STATE_TOPIC, self._on_gate_state)

    def on_reset(self) -> None:
        """Forget every parent."""
        self.executions.clear()
        self._states.clear()
        self._halted = False

    @property
    def is_halted(self) -> bool:
        """Return True from a HALTED trading state until an ACTIVE or REDUCING one."""
        return self._halted

    def execution(self, parent_id: ClientOrderId | str) -> ParentExecution:
        """Return the record of a parent (KeyError when unknown)."""
        return self.executions[str(parent_id)]

    # -- hooks for subclasses --------------------------------------------------------------------

    def start_parent(self, state: ParentState, params: Mapping[str, Any]) -> None:
        """Parse the algorithm's own params and start sending (raise ConfigError on bad params)."""
        raise NotImplementedError

    def replenish(self, state: ParentState) -> None:
        """Send what is due now (called after fills, cancels, retries and timers)."""
        raise NotImplementedError

    def on_child_filled(self, state: ParentState, child: Order) -> None:
        """React to a child fill (default: nothing)."""

    # -- primary order ---------------------------------------------------------------------------

    def on_order(self, order: Order) -> None:
        """Validate a parent, record its arrival and start the algorithm (deny it on bad params)."""
        record = ParentExecution(
            parent_id=order.client_order_id.value,
            algorithm=self.id.value,
            instrument_id=order.instrument_id.value,
            side="BUY" if order.side == OrderSide.BUY else "SELL",
            quantity=order.quantity.as_double(),
            arrival_ns=self.clock.timestamp_ns(),
        )
        self.executions[record.parent_id] = record
        if self._halted or self._engine_halted():
            self._deny(order, record, "trading state is HALTED")
            return
        instrument = self.cache.instrument(order.instrument_id)
        if instrument is None:
            self._deny(order, record, f"instrument {order.instrument_id} not in the cache")
            return
        try:
            state = self._new_state(order, instrument, record)
            self._states[order.client_order_id] = state
            self.start_parent(state, order.exec_algorithm_params or {})
        except (ConfigError, DataError) as error:
            self._states.pop(order.client_order_id, None)
            self.cancel_parent_timers(order.client_order_id)
            self._deny(order, record, str(error))
            return
        self.log.info(
            f"{self.id} started {order.client_order_id}: {record.side} {record.quantity} "
            f"{order.instrument_id}, arrival mid {record.arrival_mid}"
        )

    def _new_state(self, order: Order, instrument: Instrument, record: ParentExecution) -> ParentState:
        params = order.exec_algorithm_params or {}
        lot = instrument.size_increment.as_double()
        total = to_lots(order.quantity.as_double(), lot)
        touch = self.touch(order.instrument_id)
        if touch is not None:
            record.arrival_mid = (touch[0] + touch[1]) / 2.0
        price = order.price.as_double() if order.has_price else record.arrival_mid
        min_notional = instrument.min_notional.as_double() if instrument.min_notional is not None else 0.0
        min_quantity = instrument.min_quantity.as_double() if instrument.min_quantity is not None else 0.0
        minimum = min_child_lots(
            lot,
            min_quantity=min_quantity,
            min_notional=min_notional,
            price=price if math.isfinite(price) else 0.0,
            multiplier=instrument.multiplier.as_double(),
        )
        policy = param_choice(params, "on_horizon_end", self._settings.on_horizon_end, HORIZON_END_POLICIES)
        retries = int(param_float(params, "max_retries", self._settings.max_retries, minimum=0))
        return ParentState(
            primary=order,
            instrument=instrument,
            lot=lot,
            total_lots=total,
            min_lots=minimum,
            horizon_end_policy=policy,
            max_retries=retries,
            record=record,
        )

    def _deny(self, order: Order, record: ParentExecution, reason: str) -> None:
        """Deny the parent: apply and publish ``OrderDenied`` with the reason."""
        record.status, record.reason, record.end_ns = "denied", reason, self.clock.timestamp_ns()
        self.log.error(f"{self.id} denied {order.client_order_id}: {reason}")
        if order.is_closed:
            return
        denied = OrderDenied(
            trader_id=order.trader_id,
            strategy_id=order.strategy_id,
            instrument_id=order.instrument_id,
            client_order_id=order.client_order_id,
            reason=f"{self.id}: {reason}",
            event_id=UUID4(),
            ts_init=self.clock.timestamp_ns(),
        )
        order.apply(denied)
        self.cache.update_order(order)
        self.msgbus.publish(f"events.order.{order.strategy_id}", denied)

    # -- market state ----------------------------------------------------------------------------

    def touch(self, instrument_id: InstrumentId) -> tuple[float, float] | None:
        """Return (best bid, best ask) from the cached book, else quote, else last trade; or None."""
        book = self.cache.order_book(instrument_id)
        if book is not None:
            bid, ask = book.best_bid_price(), book.best_ask_price()
            if bid is not None and ask is not None and bid < ask:
                return bid.as_double(), ask.as_double()
        quote = self.cache.quote_tick(instrument_id)
        if quote is not None:
            return quote.bid_price.as_double(), quote.ask_price.as_double()
        trade = self.cache.trade_tick(instrument_id)
        if trade is not None:
            return trade.price.as_double(), trade.price.as_double()
        return None

    # -- children --------------------------------------------------------------------------------

    def send_child(
        self, state: ParentState, lots: int, kind: str, price: float | None = None
    ) -> Order | None:
        """Spawn and submit a child of ``lots`` lots (``kind`` market or limit at ``price``).

        Returns None (and sends nothing) when halted, closed or ``lots <= 0``.
        """
        if self._halted or state.phase == "closed" or lots <= 0:
            return None
        primary, instrument = state.primary, state.instrument
        quantity = instrument.make_qty(round(lots * state.lot, lot_precision(state.lot)))
        child: Order
        if kind == "market":
            child = self.spawn_market(
                primary=primary,
                quantity=quantity,
                time_in_force=TimeInForce.GTC,
                reduce_only=primary.is_reduce_only,
                reduce_primary=False,
            )
        else:
            if price is None or not math.isfinite(price):
                raise ConfigError(f"a limit child of {primary.client_order_id} needs a price, got {price}")
            child = self.spawn_limit(
                primary=primary,
                quantity=quantity,
                price=instrument.make_price(price),
                time_in_force=TimeInForce.GTC,
                post_only=bool(state.params.get("post_only", False)),
                reduce_only=primary.is_reduce_only,
                reduce_primary=False,
            )
        state.working[child.client_order_id] = lots
        state.record.children.append(child.client_order_id.value)
        state.record.child_quantities.append(quantity.as_double())
        self.submit_order(child)
        return child

    def limit_price(self, state: ParentState) -> float | None:
        """Return the limit price of the next child from ``price_mode`` (fixed or peg), or None."""
        mode = state.params.get("price_mode", "fixed")
        if mode == "fixed":
            return state.primary.price.as_double()
        touch = self.touch(state.primary.instrument_id)
        if touch is None:
            return None
        tick = state.instrument.price_increment.as_double()
        return peg_price(
            state.record.side, touch[0], touch[1], state.params.get("limit_offset_ticks", 0.0), tick
        )

    def parse_pricing(self, state: ParentState, params: Mapping[str, Any], default_child: str) -> None:
        """Parse ``child_type``, ``price_mode``, ``limit_offset_ticks`` and ``post_only`` into the state."""
        child_type = param_choice(params, "child_type", default_child, CHILD_TYPES)
        is_limit = state.primary.order_type == OrderType.LIMIT
        mode = param_choice(params, "price_mode", "fixed" if is_limit else "peg", PRICE_MODES)
        if child_type == "limit" and mode == "fixed" and not is_limit:
            raise ConfigError(
                "exec_algorithm_params['price_mode'] is 'fixed' but the parent is not a LIMIT order; "
                "send a LIMIT parent or use price_mode='peg'"
            )
        state.params.update(
            child_type=child_type,
            price_mode=mode,
            limit_offset_ticks=param_float(params, "limit_offset_ticks", 0.0),
            post_only=param_bool(params, "post_only", False),
        )

    def send_slice(self, state: ParentState, lots: int) -> Order | None:
        """Send ``lots`` as the parent's child type (market, or limit at :meth:`limit_price`)."""
        if state.params.get("child_type", "market") == "market":
            return self.send_child(state, lots, "market")
        price = self.limit_price(state)
        if price is None:
            self.log.warning(f"{state.primary.client_order_id}: no touch for a limit child; sending market")
            return self.send_child(state, lots, "market")
        return self.send_child(state, lots, "limit", price)

    def cancel_working(self, state: ParentState) -> None:
        """Ask the venue to cancel every working child of ``state`` (not counted as a failure)."""
        for child_id in list(state.working):
            child = self.cache.order(child_id)
            if child is None or child.is_closed:
                state.working.pop(child_id, None)
                continue
            state.refreshing.add(child_id)
            if not child.is_pending_cancel:
                self.cancel_order(child)

    # -- timers ----------------------------------------------------------------------------------

    def timer_name(self, state: ParentState, tag: str) -> str:
        """Return the name of a timer of ``state`` (prefixed by the algorithm and the parent id)."""
        return f"{self.id}:{state.primary.client_order_id}:{tag}"

    def cancel_parent_timers(self, parent_id: ClientOrderId) -> None:
        """Cancel every timer and alert of a parent."""
        prefix = f"{self.id}:{parent_id}:"
        for name in list(self.clock.timer_names):
            if name.startswith(prefix):
                self.clock.cancel_timer(name)

    def set_horizon(self, state: ParentState, horizon_secs: float) -> None:
        """Set the horizon-end alert ``horizon_secs`` after now."""
        self.set_alert(
            state, "horizon", self.clock.timestamp_ns() + secs_to_ns(horizon_secs), self._on_horizon_event
        )

    def set_alert(
        self, state: ParentState, tag: str, when_ns: int, callback: Callable[[TimeEvent], None]
    ) -> None:
        """Set a one-off alert of ``state`` at ``when_ns`` (UNIX ns)."""
        self.clock.set_time_alert_ns(self.timer_name(state, tag), when_ns, callback)

    def _state_of_timer(self, event: TimeEvent) -> ParentState | None:
        parts = event.name.split(":")
        if len(parts) < 3:
            return None
        return self._states.get(ClientOrderId(parts[1]))

    def _on_horizon_event(self, event: TimeEvent) -> None:
        state = self._state_of_timer(event)
        if state is None or state.phase != "running":
            return
        self.log.info(
            f"{state.primary.client_order_id}: horizon ended with {state.total_lots - state.filled_lots} "
            f"lots left; policy {state.horizon_end_policy}"
        )
        state.phase = state.horizon_end_policy
        self.cancel_parent_timers(state.primary.client_order_id)
        self.cancel_working(state)
        self._wind_down(state)

    def _wind_down(self, state: ParentState) -> None:
        if state.working:
            return  # wait for the cancels
        if state.phase == "cancel":
            self.finish(state, "canceled", "horizon ended; residual canceled")
        elif state.phase in ("finish", "final"):
            state.phase = "final"
            if state.remaining_lots > 0:
                self.send_child(state, state.remaining_lots, "market")

    def on_time_event_for(self, event: TimeEvent) -> ParentState | None:
        """Return the running state a timer event belongs to (None when done or winding down)."""
        state = self._state_of_timer(event)
        if state is None or state.phase != "running":
            return None
        return state

    # -- closing ---------------------------------------------------------------------------------

    def finish(self, state: ParentState, status: str, reason: str) -> None:
        """Close a parent: record the outcome, cancel its timers and close the primary locally."""
        if state.phase == "closed":
            return
        state.phase = "closed"
        record = state.record
        record.status, record.reason, record.end_ns = status, reason, self.clock.timestamp_ns()
        self.cancel_parent_timers(state.primary.client_order_id)
        self.cancel_working(state)
        primary = self.cache.order(state.primary.client_order_id)
        if primary is not None and not primary.is_closed:
            self.execute(
                CancelOrder(
                    trader_id=primary.trader_id,
                    strategy_id=primary.strategy_id,
                    instrument_id=primary.instrument_id,
                    client_order_id=primary.client_order_id,
                    venue_order_id=None,
                    command_id=UUID4(),
                    ts_init=self.clock.timestamp_ns(),
                )
            )
        self.log.info(
            f"{self.id} {status} {primary.client_order_id if primary else ''}: filled {record.filled_qty} "
            f"of {record.quantity} avg_px {record.avg_px}; {reason}"
        )

    # -- order events ----------------------------------------------------------------------------

    def _child_state(self, client_order_id: ClientOrderId) -> tuple[Order | None, ParentState | None]:
        order = self.cache.order(client_order_id)
        if order is None or order.exec_spawn_id is None or order.exec_spawn_id == order.client_order_id:
            return order, None
        return order, self._states.get(order.exec_spawn_id)

    def on_order_filled(self, event: OrderFilled) -> None:
        """Record a child fill; close the parent once it is filled, else let the algorithm react."""
        child, state = self._child_state(event.client_order_id)
        if child is None or state is None:
            return
        lots = to_lots(event.last_qty.as_double(), state.lot)
        state.filled_lots += lots
        state.record.fills.append(
            ChildFill(
                child_id=event.client_order_id.value,
                ts_event=event.ts_event,
                quantity=event.last_qty.as_double(),
                price=event.last_px.as_double(),
            )
        )
        if child.is_closed:
            state.working.pop(child.client_order_id, None)
            state.refreshing.discard(child.client_order_id)
        elif child.client_order_id in state.working:
            state.working[child.client_order_id] = to_lots(child.leaves_qty.as_double(), state.lot)
        if state.phase == "closed":
            return
        if state.filled_lots >= state.total_lots:
            self.finish(state, "filled", "parent quantity filled")
            return
        if state.phase in ("finish", "cancel"):
            self._wind_down(state)
            return
        if state.phase == "running":
            self.on_child_filled(state, child)

    def on_order_canceled(self, event: OrderCanceled) -> None:
        """Handle a canceled child (refresh or failure) or a parent canceled by its strategy."""
        order, state = self._child_state(event.client_order_id)
        if order is None:
            return
        if state is None:
            parent = self._states.get(event.client_order_id)
            if parent is not None and parent.phase != "closed":
                self.finish(parent, "canceled", "parent canceled by its strategy")
            return
        state.working.pop(order.client_order_id, None)
        state.record.canceled += 1
        if order.client_order_id in state.refreshing:
            state.refreshing.discard(order.client_order_id)
            if state.phase in ("finish", "cancel"):
                self._wind_down(state)
            elif state.phase == "running" and not self._halted:
                self.replenish(state)
            return
        self._child_failed(state, order, "canceled")

    def on_order_expired(self, event: OrderExpired) -> None:
        """Treat an expired child as a failed one."""
        order, state = self._child_state(event.client_order_id)
        if order is not None and state is not None:
            state.working.pop(order.client_order_id, None)
            self._child_failed(state, order, "expired")

    def on_order_rejected(self, event: OrderRejected) -> None:
        """Retry a rejected child (up to ``max_retries``), then stop the parent."""
        order, state = self._child_state(event.client_order_id)
        if order is not None and state is not None:
            state.working.pop(order.client_order_id, None)
            state.record.rejected += 1
            self._child_failed(state, order, f"rejected: {event.reason}")

    def on_order_denied(self, event: OrderDenied) -> None:
        """Retry a denied child (up to ``max_retries``), then stop the parent; HALTED denials halt."""
        order, state = self._child_state(event.client_order_id)
        if order is None or state is None:
            return
        state.working.pop(order.client_order_id, None)
        state.record.rejected += 1
        if "HALTED" in event.reason:
            self.halt(f"child {order.client_order_id} denied: {event.reason}")
            return
        self._child_failed(state, order, f"denied: {event.reason}")

    def _child_failed(self, state: ParentState, child: Order, why: str) -> None:
        if state.phase == "closed" or self._halted:
            return
        if state.record.retries >= state.max_retries:
            self.log.warning(f"{child.client_order_id} {why}; {state.max_retries} retries used, stopping")
            self.finish(
                state, "failed", f"child {child.client_order_id} {why} after {state.max_retries} retries"
            )
            return
        state.record.retries += 1
        self.log.warning(f"{child.client_order_id} {why}; retry {state.record.retries}/{state.max_retries}")
        if state.phase == "running":
            self.replenish(state)
        else:
            self._wind_down(state)

    # -- trading state ---------------------------------------------------------------------------

    def _engine_halted(self) -> bool:
        engine = find_risk_engine(self.msgbus)
        return engine is not None and engine.trading_state == TradingState.HALTED

    def _on_risk_event(self, event: Any) -> None:
        if not isinstance(event, TradingStateChanged):
            return
        if event.state == TradingState.HALTED:
            self.halt("RiskEngine trading state HALTED")
        else:
            self.resume(f"RiskEngine trading state {event.state.name}")

    def _on_gate_state(self, state: Any) -> None:
        if str(state) == GateState.HALTED.value:
            self.halt(f"{RISK_STATE_TOPIC}: HALTED")
        elif str(state) in (GateState.ACTIVE.value, GateState.REDUCING.value):
            self.resume(f"{RISK_STATE_TOPIC}: {state}")

    def resume(self, reason: str) -> None:
        """Accept new parents again after a halt (the parents closed by the halt stay closed)."""
        if self._halted:
            self._halted = False
            self.log.warning(f"{self.id} accepting new parents again: {reason}")

    def halt(self, reason: str) -> None:
        """Stop at once: cancel every working child, send nothing more, close every parent."""
        if self._halted:
            return
        self.log.warning(f"{self.id} halting: {reason}; canceling working children, sending nothing more")
        self._halted = True
        for state in list(self._states.values()):
            if state.phase != "closed":
                self.finish(state, "halted", reason)
