"""Pieces shared by the strategies that send every order through the RiskGate.

:class:`~nautilus_ai.strategies.ml_strategy.MLStrategy` (one instrument) and
:class:`~nautilus_ai.strategies.portfolio_strategy.PortfolioStrategy` (many) build orders only from
intents approved by a :class:`~nautilus_ai.risk.gate.RiskGate`; the gate needs the same inputs in both:

* :func:`build_gate`: the gate from config limits (``None`` meaning no limit) and an optional CVaR
  scenario file;
* :func:`instrument_rules`: lot, minimums, precision and multiplier of an instrument from the cache;
* :func:`pending_orders`, :func:`projected_position`, :func:`book_snapshot`: the book the gate checks
  against, in-flight and open orders that may add exposure included (several submits in one callback
  see each other, NAUTILUS_GUIDE §5);
* :func:`decision_event`, :func:`log_decision`: the record of every decision;
* :class:`GateStateListener`: keeps the gate's trading state in sync with the RiskEngine
  (``TradingStateChanged`` on ``events.risk``) and the RiskGuardActor's state topic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from nautilus_trader.cache.base import CacheFacade
from nautilus_trader.common.component import Logger, MessageBus
from nautilus_trader.common.messages import TradingStateChanged
from nautilus_trader.model.enums import OrderSide, PriceType
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.orders import Order
from nautilus_trader.portfolio.base import PortfolioFacade

from nautilus_ai.catalog.types import RiskDecisionEvent
from nautilus_ai.errors import ConfigError
from nautilus_ai.risk.gate import BookSnapshot, CvarBudget, GateDecision, RiskGate, gate_limits
from nautilus_ai.risk.portfolio import InstrumentRules
from nautilus_ai.risk.state import RISK_STATE_TOPIC, GateState, from_nautilus
from nautilus_ai.strategies.equity import account_equity

RISK_EVENTS_TOPIC = "events.risk"
"""The message-bus topic of NautilusTrader's ``TradingStateChanged`` events."""


def positive_or_inf(owner: str, name: str, value: float | None) -> float:
    """Return ``value`` as a float, ``inf`` for None.

    Raises
    ------
    ConfigError
        If ``value`` is not positive (the message names ``owner.name``).

    """
    if value is None:
        return math.inf
    if not value > 0.0:
        raise ConfigError(f"{owner}.{name} must be positive (or None for no limit), was {value}")
    return float(value)


def build_gate(
    owner: str,
    *,
    max_position_weight: float,
    max_position_notional: float | None,
    max_gross_leverage: float | None,
    max_net_leverage: float | None,
    cvar_scenarios_path: str | None = None,
    cvar_budget: float | None = None,
    cvar_alpha: float = 0.95,
) -> RiskGate:
    """Return the RiskGate of a strategy's config (``None`` limits mean no limit).

    Parameters
    ----------
    owner : str
        The config class name, for error messages.
    max_position_weight : float
        Per-position cap as a fraction of equity.
    max_position_notional, max_gross_leverage, max_net_leverage : float or None
        The other limits (None: no limit).
    cvar_scenarios_path : str, optional
        ``.npz`` written by :meth:`CvarBudget.save`; enables the CVaR check.
    cvar_budget : float, optional
        Overrides the file's budget.
    cvar_alpha : float
        Confidence level of the CVaR.

    Returns
    -------
    RiskGate
        The gate, in the ACTIVE state.

    """
    cvar = None
    if cvar_scenarios_path is not None:
        cvar = CvarBudget.load(cvar_scenarios_path, budget=cvar_budget, alpha=cvar_alpha)
    return RiskGate(
        gate_limits(
            max_position_weight=positive_or_inf(owner, "max_position_weight", max_position_weight),
            max_position_notional=positive_or_inf(owner, "max_position_notional", max_position_notional),
            max_gross_leverage=positive_or_inf(owner, "max_gross_leverage", max_gross_leverage),
            max_net_leverage=positive_or_inf(owner, "max_net_leverage", max_net_leverage),
        ),
        cvar=cvar,
    )


def instrument_rules(instrument: Instrument) -> InstrumentRules:
    """Return the lot, minimum quantity and notional, size precision and multiplier of ``instrument``."""
    min_quantity = instrument.min_quantity.as_double() if instrument.min_quantity is not None else 0.0
    min_notional = instrument.min_notional.as_double() if instrument.min_notional is not None else 0.0
    return InstrumentRules(
        lot=instrument.size_increment.as_double(),
        min_quantity=min_quantity,
        min_notional=min_notional,
        size_precision=instrument.size_precision,
        multiplier=instrument.multiplier.as_double(),
    )


def pending_orders(
    cache: CacheFacade, venue: Venue, instrument_id: InstrumentId | None = None
) -> list[Order]:
    """Return the venue's in-flight and open orders that may add exposure (all strategies, no reduce-only)."""
    orders = {
        order.client_order_id: order
        for order in (
            *cache.orders_inflight(venue=venue, instrument_id=instrument_id),
            *cache.orders_open(venue=venue, instrument_id=instrument_id),
        )
    }
    return [order for order in orders.values() if not order.is_closed and not order.is_reduce_only]


def cached_price(cache: CacheFacade, instrument_id: InstrumentId) -> float:
    """Return the cache's last (else mid) price of ``instrument_id``, NaN when it has none."""
    price = cache.price(instrument_id, PriceType.LAST)
    if price is None:
        price = cache.price(instrument_id, PriceType.MID)
    return price.as_double() if price is not None else math.nan


def _signed_leaves(order: Order) -> float:
    return order.leaves_qty.as_double() * (1.0 if order.side == OrderSide.BUY else -1.0)


def projected_position(portfolio: PortfolioFacade, cache: CacheFacade, instrument_id: InstrumentId) -> float:
    """Return the signed net position of ``instrument_id`` plus its pending (non reduce-only) orders."""
    net = float(portfolio.net_position(instrument_id))
    for order in pending_orders(cache, instrument_id.venue, instrument_id):
        net += _signed_leaves(order)
    return net


def book_snapshot(
    portfolio: PortfolioFacade,
    cache: CacheFacade,
    venues: Iterable[Venue],
    mark_price: Callable[[InstrumentId], float],
    log: Logger | None = None,
) -> BookSnapshot:
    """Return the equity and signed exposure per instrument of ``venues``, pending orders included.

    Parameters
    ----------
    portfolio, cache : PortfolioFacade, CacheFacade
        The strategy's portfolio and cache.
    venues : iterable of Venue
        The venues of the book; the equity is the sum of their accounts' equities.
    mark_price : callable
        Instrument id -> price used for the exposure (NaN when unknown: then the position's average
        open price, or the instrument is left out with a warning).
    log : Logger, optional
        Where to warn about instruments without a price.

    Returns
    -------
    BookSnapshot
        Equity (NaN when an account is missing) and exposures keyed by ``str(instrument_id)``.

    """
    venue_list = list(dict.fromkeys(venues))
    equity = sum(account_equity(portfolio, venue) for venue in venue_list)
    quantities: dict[InstrumentId, float] = {}
    for venue in venue_list:
        for position in cache.positions_open(venue=venue):
            iid = position.instrument_id
            quantities[iid] = quantities.get(iid, 0.0) + float(position.signed_qty)
        for order in pending_orders(cache, venue):
            quantities[order.instrument_id] = quantities.get(order.instrument_id, 0.0) + _signed_leaves(order)
    exposures: dict[str, float] = {}
    for iid, quantity in quantities.items():
        if quantity == 0.0:
            continue
        instrument = cache.instrument(iid)
        multiplier = instrument.multiplier.as_double() if instrument is not None else 1.0
        price = mark_price(iid)
        if not math.isfinite(price):
            positions = cache.positions_open(instrument_id=iid)
            price = positions[0].avg_px_open if positions else math.nan
        if not math.isfinite(price):
            if log is not None:
                log.warning(f"No price for {iid}: left out of the gate's book")
            continue
        exposures[str(iid)] = quantity * price * multiplier
    return BookSnapshot(equity=equity, exposures=exposures)


def log_decision(log: Logger, decision: GateDecision) -> None:
    """Log a gate decision: info when approved, warning otherwise."""
    message = (
        f"RiskGate {decision.action}: {decision.side} "
        f"{decision.approved_qty:g}/{decision.requested_qty:g} "
        f"[{decision.trading_state}] {decision.reason}"
    )
    if decision.action in ("sized", "shrunk"):
        log.info(message)
    else:
        log.warning(message)


def decision_event(decision: GateDecision, instrument_id: InstrumentId, ts: int) -> RiskDecisionEvent:
    """Return the :class:`RiskDecisionEvent` of ``decision``, stamped ``ts`` (event and init)."""
    return RiskDecisionEvent(
        instrument_id=instrument_id,
        action=decision.action,
        reason=decision.reason,
        requested_qty=float(decision.requested_qty),
        approved_qty=float(decision.approved_qty),
        trading_state=str(decision.trading_state),
        ts_event=ts,
        ts_init=ts,
    )


class GateStateListener:
    """Keep a gate's trading state in sync with the RiskEngine and the RiskGuardActor.

    Parameters
    ----------
    gate : RiskGate
        The gate whose state follows ``TradingStateChanged`` events (``events.risk``) and the states
        published on :data:`~nautilus_ai.risk.state.RISK_STATE_TOPIC`.

    """

    def __init__(self, gate: RiskGate) -> None:
        self.gate = gate

    def subscribe(self, msgbus: MessageBus) -> None:
        """Subscribe to both topics."""
        msgbus.subscribe(RISK_EVENTS_TOPIC, self.on_trading_state_changed)
        msgbus.subscribe(RISK_STATE_TOPIC, self.on_guard_state)

    def unsubscribe(self, msgbus: MessageBus) -> None:
        """Unsubscribe from both topics."""
        msgbus.unsubscribe(RISK_EVENTS_TOPIC, self.on_trading_state_changed)
        msgbus.unsubscribe(RISK_STATE_TOPIC, self.on_guard_state)

    def on_trading_state_changed(self, event: object) -> None:
        """Follow the RiskEngine's ``TradingStateChanged`` events."""
        if isinstance(event, TradingStateChanged):
            self.gate.set_state(from_nautilus(event.state))

    def on_guard_state(self, state: object) -> None:
        """Follow a state published by the RiskGuardActor."""
        self.gate.set_state(GateState(str(state)))
