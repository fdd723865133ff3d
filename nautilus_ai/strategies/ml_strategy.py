"""MLStrategy: turns ModelSignals into risk-checked positions, optionally with ATR stops and targets.

The flow of one signal::

    ModelSignal -> weight (volatility target, or fractional Kelly combined with it)
                -> target quantity -> OrderIntent (rebalance band)
                -> submit_intent: RiskGate (state, limits, CVaR)
                -> router: order-type selector (market, limit, TWAP, VWAP, iceberg) -> orders
                   (bracket entries with stops when configured)

:meth:`MLStrategy.submit_intent` is the one place orders are built, and it builds none without a
RiskGate decision; every decision is logged, kept in :attr:`MLStrategy.decisions` and published on the
bus as a :class:`~nautilus_ai.catalog.types.RiskDecisionEvent` (also kept, time-stamped, in
:attr:`MLStrategy.decision_events` for reports: ``RiskDecisionEvent.to_dict(event)`` gives a row).
The gate's trading state follows NautilusTrader's RiskEngine (``TradingStateChanged`` on
``events.risk``), which the RiskGuardActor sets.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, Literal

import pandas as pd
from nautilus_trader.config import StrategyConfig
from nautilus_trader.indicators import AverageTrueRange
from nautilus_trader.indicators.averages import MovingAverageType
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import OrderSide, OrderType, TimeInForce, TrailingOffsetType
from nautilus_trader.model.identifiers import ClientOrderId, ExecAlgorithmId, InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.orders import Order
from nautilus_trader.trading.strategy import Strategy

from nautilus_ai.catalog.types import ModelSignal, RiskDecisionEvent, topic_data_type
from nautilus_ai.errors import ConfigError
from nautilus_ai.execution.liquidity import LiquidityState
from nautilus_ai.execution.liquidity_data import LiquidityView
from nautilus_ai.execution.router import BarLiquidity, OrderPlan, RouterConfig, route_order
from nautilus_ai.execution.selector import SelectorConfig
from nautilus_ai.indicators.realized_volatility import RealizedVolatility
from nautilus_ai.risk.gate import BookSnapshot, GateDecision
from nautilus_ai.risk.portfolio import InstrumentRules
from nautilus_ai.risk.sizing import (
    OrderIntent,
    combine_size,
    rebalance_intent,
    target_quantity,
    volatility_target_weight,
)
from nautilus_ai.risk.state import GateState
from nautilus_ai.risk.stops import atr_bracket
from nautilus_ai.strategies import gated_orders
from nautilus_ai.strategies.equity import account_equity

SizingRule = Literal["volatility", "kelly_volatility"]
StopsRule = Literal["none", "atr", "atr_trailing"]
ExecutionRule = Literal["selector", "market"]
LiquiditySource = Literal["bars", "analyzer"]


class MLStrategyConfig(StrategyConfig, frozen=True):
    """Configuration of an :class:`MLStrategy`.

    Parameters
    ----------
    instrument_id : InstrumentId
        The traded instrument.
    bar_type : BarType
        The bars used for prices, realized volatility and ATR.
    target_volatility : float
        Annualized volatility targeted for this instrument's position.
    volatility_window : int
        Window (in returns) of the realized-volatility estimate used for sizing.
    periods_per_year : float
        Bars per year, to annualize the per-bar volatility.
    max_weight : float
        Cap on the position's notional as a fraction of account equity (also the gate's per-position cap).
    allow_short : bool
        Whether short signals open short positions (otherwise they mean flat).
    min_confidence : float
        Signals with a lower confidence are treated as flat.
    rebalance_band : float
        Keep a same-side position when the change is within this fraction of the target.
    trade_start : str, optional
        ISO timestamp before which no order is sent (indicator warm-up in walk-forward tests).
    sizing : {"volatility", "kelly_volatility"}
        ``"volatility"``: volatility target capped at ``max_weight``; ``"kelly_volatility"``: the
        smallest of fractional Kelly, the volatility target and the caps
        (:func:`~nautilus_ai.risk.sizing.combine_size`).
    kelly_fraction : float
        Kelly multiplier ``c`` in ``(0, 1]`` for ``"kelly_volatility"``.
    payoff_ratio : float
        Mean win over mean loss of past trades in the training window
        (:func:`~nautilus_ai.risk.kelly.estimate_payoff_ratio`), for ``"kelly_volatility"``.
    max_position_notional : float, optional
        Cap on the position's notional in account currency (None: no cap).
    max_gross_leverage : float, optional
        Cap on the venue book's gross exposure over equity, all instruments (None: no cap).
    max_net_leverage : float, optional
        Cap on the venue book's absolute net exposure over equity (None: no cap).
    cvar_scenarios_path : str, optional
        ``.npz`` file written by :meth:`~nautilus_ai.risk.gate.CvarBudget.save` with scenarios built
        from the training window's returns; enables the CVaR check with ``cvar_budget``.
    cvar_budget : float, optional
        CVaR budget in units of equity (overrides the file's budget).
    cvar_alpha : float
        Confidence level of the CVaR.
    stops : {"none", "atr", "atr_trailing"}
        ``"atr"``: every entry is a bracket (OCO) with a stop-loss ``stop_atr_multiple`` ATRs and a
        take-profit ``target_atr_multiple`` ATRs from the last close; ``"atr_trailing"``: the stop is a
        trailing-stop-market order ``trail_atr_multiple`` ATRs behind the best price. ``"none"`` (default):
        plain market orders.
    atr_period : int
        Period of the (Wilder) ATR.
    stop_atr_multiple, target_atr_multiple : float
        ATR multipliers of the stop-loss and the take-profit.
    trail_atr_multiple : float, optional
        ATR multiplier of the trailing distance (default: ``stop_atr_multiple``).
    execution : {"selector", "market"}
        ``"selector"``: every entry goes through the order-type selector and the execution algorithms
        (:mod:`nautilus_ai.execution.router`); ``"market"``: plain market orders (the always-market
        baseline of the execution benchmark).
    selector : dict, optional
        Thresholds of :class:`~nautilus_ai.execution.selector.SelectorConfig` (defaults otherwise;
        ``bar_seconds`` and ``lot`` come from the bar type and the instrument).
    signal_horizon_bars : int
        Bars over which a signal pays when the signal does not say (``ModelSignal.horizon_bars`` wins).
    liquidity_source : {"bars", "analyzer"}
        ``"analyzer"``: the latest :class:`~nautilus_ai.execution.liquidity.LiquidityState` the node's
        :class:`~nautilus_ai.execution.analyzer.MicrostructureAnalyzer` published, with the cached book's
        (else quote's) best bid and ask as the touch (the bar estimate until the first state arrives);
        ``"bars"``: the estimate from bars.
    liquidity_window : int
        Bars of the liquidity estimate on bar data (:class:`~nautilus_ai.execution.router.BarLiquidity`).
    assumed_spread_bps : float
        Quoted spread assumed on bar data.
    depth_bar_fraction : float
        Visible depth per side assumed on bar data, as a fraction of a typical bar's volume.
    algorithms : tuple of str
        The execution algorithms registered in the node (a choice of another kind is worked by TWAP).
    on_horizon_end : {"finish", "cancel"}
        What the algorithms do with a residual at the end of their horizon.
    close_positions_on_stop : bool
        Cancel the working orders and close the position when the strategy stops (the end of a
        backtest window). A paper node whose state persists in Redis keeps them instead, so a restart
        carries on from them.

    """

    instrument_id: InstrumentId
    bar_type: BarType
    target_volatility: float = 0.10
    volatility_window: int = 20
    periods_per_year: float = 252.0
    max_weight: float = 1.0
    allow_short: bool = True
    min_confidence: float = 0.0
    rebalance_band: float = 0.25
    trade_start: str | None = None
    sizing: SizingRule = "volatility"
    kelly_fraction: float = 0.5
    payoff_ratio: float = 1.0
    max_position_notional: float | None = None
    max_gross_leverage: float | None = None
    max_net_leverage: float | None = None
    cvar_scenarios_path: str | None = None
    cvar_budget: float | None = None
    cvar_alpha: float = 0.95
    stops: StopsRule = "none"
    atr_period: int = 14
    stop_atr_multiple: float = 2.0
    target_atr_multiple: float = 3.0
    trail_atr_multiple: float | None = None
    execution: ExecutionRule = "market"
    selector: dict[str, float] | None = None
    signal_horizon_bars: int = 1
    liquidity_source: LiquiditySource = "bars"
    liquidity_window: int = 20
    assumed_spread_bps: float = 1.0
    depth_bar_fraction: float = 0.1
    algorithms: tuple[str, ...] = ("twap", "vwap", "iceberg")
    on_horizon_end: str = "finish"
    close_positions_on_stop: bool = True


def _positive_or_inf(name: str, value: float | None) -> float:
    return gated_orders.positive_or_inf("MLStrategyConfig", name, value)


def check_risk_config(config: MLStrategyConfig) -> None:
    """Raise :class:`~nautilus_ai.errors.ConfigError` naming the first invalid sizing/risk/stops field."""
    if config.sizing not in ("volatility", "kelly_volatility"):
        raise ConfigError(
            f"MLStrategyConfig.sizing must be 'volatility' or 'kelly_volatility', was {config.sizing!r}"
        )
    if not 0.0 < config.kelly_fraction <= 1.0:
        raise ConfigError(f"MLStrategyConfig.kelly_fraction must be in (0, 1], was {config.kelly_fraction}")
    if not (math.isfinite(config.payoff_ratio) and config.payoff_ratio > 0.0):
        raise ConfigError(f"MLStrategyConfig.payoff_ratio must be positive, was {config.payoff_ratio}")
    if config.stops not in ("none", "atr", "atr_trailing"):
        raise ConfigError(
            f"MLStrategyConfig.stops must be 'none', 'atr' or 'atr_trailing', was {config.stops!r}"
        )
    if config.atr_period < 1:
        raise ConfigError(f"MLStrategyConfig.atr_period must be >= 1, was {config.atr_period}")
    for name in ("stop_atr_multiple", "target_atr_multiple", "trail_atr_multiple"):
        value = getattr(config, name)
        if value is not None and not value > 0.0:
            raise ConfigError(f"MLStrategyConfig.{name} must be positive, was {value}")
    if not 0.0 < config.cvar_alpha < 1.0:
        raise ConfigError(f"MLStrategyConfig.cvar_alpha must be in (0, 1), was {config.cvar_alpha}")
    if config.cvar_budget is not None and config.cvar_scenarios_path is None:
        raise ConfigError(
            "MLStrategyConfig.cvar_budget needs cvar_scenarios_path: the CVaR is computed over the "
            "training window's scenarios (CvarBudget.save)"
        )
    if config.cvar_budget is not None and not config.cvar_budget > 0.0:
        raise ConfigError(f"MLStrategyConfig.cvar_budget must be positive, was {config.cvar_budget}")
    if config.liquidity_source not in ("bars", "analyzer"):
        raise ConfigError(
            f"MLStrategyConfig.liquidity_source must be 'bars' or 'analyzer', was {config.liquidity_source!r}"
        )
    if config.execution not in ("selector", "market"):
        raise ConfigError(
            f"MLStrategyConfig.execution must be 'selector' or 'market', was {config.execution!r}"
        )


def router_config(config: MLStrategyConfig, lot: float) -> RouterConfig:
    """Return the router configuration of ``config`` for an instrument of size increment ``lot``."""
    values: dict[str, Any] = dict(config.selector or {})
    unknown = set(values) - set(SelectorConfig.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"MLStrategyConfig.selector: unknown thresholds {sorted(unknown)}")
    values["bar_seconds"] = config.bar_type.spec.timedelta.total_seconds()
    values["lot"] = lot
    return RouterConfig(
        selector=SelectorConfig(**values),
        signal_horizon_bars=config.signal_horizon_bars,
        algorithms=tuple(config.algorithms),
        on_horizon_end=config.on_horizon_end,  # type: ignore[arg-type]
    )


class MLStrategy(Strategy):
    """Trade the latest ModelSignal of one instrument through the RiskGate.

    On each signal the target weight is computed by
    :func:`~nautilus_ai.risk.sizing.volatility_target_weight` (or
    :func:`~nautilus_ai.risk.sizing.combine_size` with ``sizing="kelly_volatility"``) and turned into
    an :class:`~nautilus_ai.risk.sizing.OrderIntent`; :meth:`submit_intent` is the one place that
    checks intents and builds and submits orders.
    """

    def __init__(self, config: MLStrategyConfig) -> None:
        super().__init__(config)
        if config.target_volatility <= 0 or config.max_weight <= 0:
            raise ValueError("MLStrategyConfig: target_volatility and max_weight must be positive")
        if config.periods_per_year <= 0:
            raise ValueError(
                f"MLStrategyConfig.periods_per_year must be positive, was {config.periods_per_year}"
            )
        if not 0.0 <= config.rebalance_band < 1.0:
            raise ValueError(
                f"MLStrategyConfig.rebalance_band must be in [0, 1), was {config.rebalance_band}"
            )
        check_risk_config(config)
        self._rvol = RealizedVolatility(config.volatility_window)
        self._atr = AverageTrueRange(config.atr_period, MovingAverageType.WILDER)
        self._trade_start_ns = pd.Timestamp(config.trade_start, tz="UTC").value if config.trade_start else 0
        self._last_close = float("nan")
        self.instrument: Instrument | None = None
        self.intents: list[OrderIntent] = []
        self.decisions: list[GateDecision] = []
        self.decision_events: list[RiskDecisionEvent] = []
        self.gate = gated_orders.build_gate(
            "MLStrategyConfig",
            max_position_weight=config.max_weight,
            max_position_notional=config.max_position_notional,
            max_gross_leverage=config.max_gross_leverage,
            max_net_leverage=config.max_net_leverage,
            cvar_scenarios_path=config.cvar_scenarios_path,
            cvar_budget=config.cvar_budget,
            cvar_alpha=config.cvar_alpha,
        )
        self._state_listener = gated_orders.GateStateListener(self.gate)
        self.liquidity = BarLiquidity(
            config.liquidity_window,
            config.assumed_spread_bps,
            config.depth_bar_fraction,
            config.bar_type.spec.timedelta.total_seconds(),
        )
        self.router: RouterConfig | None = None
        self.liquidity_view: LiquidityView | None = None
        self.plans: list[tuple[int, OrderPlan]] = []
        self._confidence = 0.5
        self._horizon: int | None = None
        self._decision_ns = 0  # market time (ts_event) of the signal being traded
        # resting entry limits: bars left before the strategy cancels them (market time, not the clock)
        self._expiry: dict[ClientOrderId, tuple[int, int]] = {}  # id -> (bars left, submitted at)

    # -- lifecycle ------------------------------------------------------------------------------------

    def on_start(self) -> None:
        """Load the instrument, subscribe to bars, signals and trading-state changes."""
        self.instrument = self.cache.instrument(self.config.instrument_id)
        if self.instrument is None:
            self.log.error(f"No instrument {self.config.instrument_id} in the cache")
            self.stop()
            return
        if self.config.execution == "selector":
            self.router = router_config(self.config, self.instrument.size_increment.as_double())
            if self.config.liquidity_source == "analyzer":
                self.liquidity_view = LiquidityView(self.msgbus, [self.config.instrument_id])
        self.register_indicator_for_bars(self.config.bar_type, self._rvol)
        if self.config.stops != "none":
            self.register_indicator_for_bars(self.config.bar_type, self._atr)
        self.subscribe_bars(self.config.bar_type)
        self.subscribe_data(
            topic_data_type(ModelSignal, self.config.instrument_id), instrument_id=self.config.instrument_id
        )
        self._state_listener.subscribe(self.msgbus)

    def on_bar(self, bar: Bar) -> None:
        """Remember the last close (the price used for sizing) and update the bar liquidity estimate."""
        self._last_close = bar.close.as_double()
        self.liquidity.update(self._last_close, bar.volume.as_double(), bar.ts_init)
        self._expire_resting_entries(bar.ts_event)

    def _expire_resting_entries(self, bar_ns: int) -> None:
        """Count this bar off every resting entry limit sent before it; cancel those out of bars.

        Market time (``ts_event``) throughout: a live feed stamps ``ts_init`` with the clock.
        """
        for client_order_id, (bars_left, submitted_ns) in list(self._expiry.items()):
            order = self.cache.order(client_order_id)
            if order is None or order.is_closed:
                del self._expiry[client_order_id]
                continue
            if bar_ns <= submitted_ns:  # the signal's own bar (signals arrive before on_bar)
                continue
            if bars_left > 1:
                self._expiry[client_order_id] = (bars_left - 1, submitted_ns)
                continue
            del self._expiry[client_order_id]
            self.log.info(f"Entry {client_order_id} not filled within its horizon: canceled")
            self.cancel_order(order)

    def on_stop(self) -> None:
        """Cancel the bracket legs and close the position at the end of the run, unless HALTED."""
        self._state_listener.unsubscribe(self.msgbus)
        if self.liquidity_view is not None:
            self.liquidity_view.close()
            self.liquidity_view = None
        if self.instrument is None:
            return
        if self.gate.state == GateState.HALTED:
            self.log.warning("Trading state is HALTED: the position is left open (no new orders)")
            return
        if not self.config.close_positions_on_stop:
            self.log.info("Stopping with the position and orders kept (close_positions_on_stop=False)")
            return
        if self.config.stops != "none":
            self.cancel_all_orders(self.config.instrument_id)  # the bracket legs
        self.close_all_positions(self.config.instrument_id)

    def on_reset(self) -> None:
        """Reset the indicators and the records."""
        self._rvol.reset()
        self._atr.reset()
        self.intents.clear()
        self.decisions.clear()
        self.decision_events.clear()
        self.plans.clear()
        self._expiry.clear()

    # -- signals to intents ---------------------------------------------------------------------------

    def target_weight(self, signal: ModelSignal, direction: int, equity: float) -> float:
        """Return the signed target weight of ``signal`` under the configured sizing rule."""
        if self.config.sizing == "volatility":
            return volatility_target_weight(
                direction,
                self._rvol.value,
                self.config.target_volatility,
                self.config.periods_per_year,
                self.config.max_weight,
            )
        probability = signal.probability if direction > 0 else 1.0 - signal.probability
        decision = combine_size(
            direction,
            min(max(probability, 0.0), 1.0),
            self.config.payoff_ratio,
            self.config.kelly_fraction,
            self._rvol.value,
            self.config.target_volatility,
            self.config.periods_per_year,
            equity,
            self.config.max_weight,
            _positive_or_inf("max_position_notional", self.config.max_position_notional),
        )
        return decision.weight

    def on_data(self, data: ModelSignal) -> None:
        """Size the position for a new signal and submit the intent that reaches it."""
        if not isinstance(data, ModelSignal) or data.ts_event < self._trade_start_ns:
            return
        if not self._rvol.initialized or self.instrument is None:
            return
        direction = data.direction
        if data.confidence < self.config.min_confidence or (direction < 0 and not self.config.allow_short):
            direction = 0
        equity = account_equity(self.portfolio, self.config.instrument_id.venue)
        if not (math.isfinite(equity) and equity > 0.0):
            return
        self._confidence = data.confidence
        self._horizon = data.horizon_bars
        self._decision_ns = data.ts_event
        weight = self.target_weight(data, direction, equity)
        lot = self.instrument.size_increment.as_double()
        target = target_quantity(
            weight, equity, self._last_close, self.instrument.multiplier.as_double(), lot
        )
        intent = rebalance_intent(
            target,
            self.projected_position(),
            self.config.rebalance_band,
            lot,
            reason=f"signal p={data.probability:.3f} dir={data.direction} w={weight:.3f}",
        )
        if intent is not None:
            self.submit_intent(intent)

    # -- the one pre-trade path -----------------------------------------------------------------------

    def submit_intent(self, intent: OrderIntent) -> GateDecision | None:
        """Check ``intent`` with the RiskGate, record and publish the decision, then build the orders.

        Returns
        -------
        GateDecision or None
            The gate's decision (None when the strategy has no instrument yet).

        """
        if self.instrument is None:
            return None
        self.intents.append(intent)
        iid = self.config.instrument_id
        decision = self.gate.check(intent, str(iid), self._last_close, self.book_snapshot(), self._rules())
        self._record(decision)
        if decision.intent is None:
            return decision
        approved = decision.intent
        side = OrderSide.BUY if approved.side == "BUY" else OrderSide.SELL
        if self.config.stops == "none":
            self._submit_entry(side, approved.quantity, reduce_only=False)
        else:
            self._submit_with_stops(side, approved.quantity)
        return decision

    def _record(self, decision: GateDecision) -> None:
        self.decisions.append(decision)
        gated_orders.log_decision(self.log, decision)
        event = gated_orders.decision_event(decision, self.config.instrument_id, self.clock.timestamp_ns())
        self.decision_events.append(event)
        self.publish_data(topic_data_type(RiskDecisionEvent, self.config.instrument_id), event)

    def _submit_market(self, side: OrderSide, quantity: float, reduce_only: bool) -> None:
        assert self.instrument is not None
        order = self.order_factory.market(
            instrument_id=self.config.instrument_id,
            order_side=side,
            quantity=self.instrument.make_qty(quantity),
            time_in_force=TimeInForce.GTC,
            reduce_only=reduce_only,
        )
        self.submit_order(order)

    def plan(self, side: OrderSide, quantity: float) -> OrderPlan | None:
        """Return the router's plan for an entry, None for a plain market order.

        None when execution is ``"market"`` or the liquidity estimate is not ready yet (the first
        ``liquidity_window`` bars).
        """
        if self.router is None:
            return None
        state, (bid, ask) = self._liquidity()
        if state is None:
            return None
        side_name = "BUY" if side == OrderSide.BUY else "SELL"
        plan = route_order(
            quantity,
            side_name,
            state,
            self._confidence,
            bid,
            ask,
            self.clock.timestamp_ns(),
            self.router,
            self._horizon,
        )
        self.plans.append((self.clock.timestamp_ns(), plan))
        self.log.info(f"Route {side_name} {quantity:g}: {plan.choice.kind} ({plan.choice.reason})")
        return plan

    def _liquidity(self) -> tuple[LiquidityState | None, tuple[float, float]]:
        """Return the liquidity state and the touch: the analyzer's when it has one, else the bars'."""
        if self.liquidity_view is not None:
            state = self.liquidity_view.latest(self.config.instrument_id)
            touch = self._touch()
            if state is not None and touch is not None:
                return state, touch
        return self.liquidity.state(), self.liquidity.touch()

    def _touch(self) -> tuple[float, float] | None:
        """Return the best bid and ask from the cached order book, else the last quote (None if neither)."""
        iid = self.config.instrument_id
        book = self.cache.order_book(iid)
        if book is not None:
            bid, ask = book.best_bid_price(), book.best_ask_price()
            if bid is not None and ask is not None:
                return bid.as_double(), ask.as_double()
        quote = self.cache.quote_tick(iid)
        if quote is not None:
            return quote.bid_price.as_double(), quote.ask_price.as_double()
        return None

    def _submit_entry(self, side: OrderSide, quantity: float, reduce_only: bool) -> None:
        """Submit an order that opens or adds exposure the way the router chooses (market otherwise)."""
        assert self.instrument is not None
        plan = None if reduce_only else self.plan(side, quantity)
        if plan is None or (plan.order_type == "MARKET" and plan.exec_algorithm_id is None):
            self._submit_market(side, quantity, reduce_only)
            return
        qty = self.instrument.make_qty(quantity)
        algorithm = ExecAlgorithmId(plan.exec_algorithm_id) if plan.exec_algorithm_id else None
        if plan.order_type == "MARKET":
            order = self.order_factory.market(
                instrument_id=self.config.instrument_id,
                order_side=side,
                quantity=qty,
                time_in_force=TimeInForce.GTC,
                exec_algorithm_id=algorithm,
                exec_algorithm_params=plan.exec_algorithm_params,
            )
        else:
            assert plan.limit_price is not None
            order = self.order_factory.limit(
                instrument_id=self.config.instrument_id,
                order_side=side,
                quantity=qty,
                price=self.instrument.make_price(plan.limit_price),
                time_in_force=TimeInForce.GTC,
                exec_algorithm_id=algorithm,
                exec_algorithm_params=plan.exec_algorithm_params,
            )
            if algorithm is None and plan.expire_bars is not None:
                self._expiry[order.client_order_id] = (plan.expire_bars, self._decision_ns)
        self.submit_order(order)

    # -- stops and targets ----------------------------------------------------------------------------

    def exit_orders(self) -> list[Order]:
        """Return this strategy's open reduce-only orders on the instrument (the bracket legs)."""
        return [
            order
            for order in self.cache.orders(instrument_id=self.config.instrument_id, strategy_id=self.id)
            if not order.is_closed and order.is_reduce_only
        ]

    def _submit_with_stops(self, side: OrderSide, quantity: float) -> None:
        """Trade ``quantity`` keeping one bracket (stop + target) that covers the whole position.

        From flat: a bracket entry. Flip: cancel the legs, close with a reduce-only market order, then a
        bracket entry for the new side. Same side: a market order for the change and the legs resized
        to the new position. To flat: cancel the legs and close.
        """
        assert self.instrument is not None
        signed = quantity if side == OrderSide.BUY else -quantity
        current = self.projected_position()
        target = current + signed
        legs = self.exit_orders()
        if current == 0.0:
            self._submit_bracket(side, quantity)
            return
        if target == 0.0 or math.copysign(1.0, target) != math.copysign(1.0, current):
            if legs:
                self.cancel_orders(legs)
            self._submit_market(side, abs(current), reduce_only=True)
            if target != 0.0:
                self._submit_bracket(side, abs(target))
            return
        self._submit_entry(side, quantity, reduce_only=abs(target) < abs(current))
        for leg in legs:
            self.modify_order(leg, quantity=self.instrument.make_qty(abs(target)))
        if not legs:
            self.log.warning("Position changed without bracket legs to resize; it is unprotected")

    def _submit_bracket(self, side: OrderSide, quantity: float) -> None:
        assert self.instrument is not None
        sign = 1 if side == OrderSide.BUY else -1
        atr = self._atr.value if self._atr.initialized else math.nan
        if not (math.isfinite(atr) and atr > 0.0):
            self.log.warning("ATR not ready: entry sent without stop and target")
            self._submit_market(side, quantity, reduce_only=False)
            return
        tick = self.instrument.price_increment.as_double()
        # The signal may arrive before this strategy's own on_bar (actors get the bar first), so the
        # bracket is priced off the newest bar in the cache; the ATR is that of the previous bar then.
        latest = self.cache.bar(self.config.bar_type)
        reference = latest.close.as_double() if latest is not None else self._last_close
        prices = atr_bracket(
            sign, reference, atr, self.config.stop_atr_multiple, self.config.target_atr_multiple, tick
        )
        kwargs: dict[str, object] = self._entry_kwargs(side, quantity)
        if self.config.stops == "atr_trailing":
            trail = self.config.trail_atr_multiple or self.config.stop_atr_multiple
            offset = self.instrument.make_price(trail * atr).as_decimal()
            kwargs |= {
                "sl_order_type": OrderType.TRAILING_STOP_MARKET,
                "sl_trailing_offset": Decimal(max(offset, self.instrument.price_increment.as_decimal())),
                "sl_trailing_offset_type": TrailingOffsetType.PRICE,
            }
        bracket = self.order_factory.bracket(
            instrument_id=self.config.instrument_id,
            order_side=side,
            quantity=self.instrument.make_qty(quantity),
            sl_trigger_price=self.instrument.make_price(prices.stop_loss),
            tp_price=self.instrument.make_price(prices.take_profit),
            tp_post_only=False,
            **kwargs,
        )
        self.submit_order_list(bracket)

    def _entry_kwargs(self, side: OrderSide, quantity: float) -> dict[str, object]:
        """Return the bracket's entry arguments for the router's plan (a market entry otherwise)."""
        assert self.instrument is not None
        plan = self.plan(side, quantity)
        if plan is None:
            return {}
        kwargs: dict[str, object] = {}
        if plan.order_type == "LIMIT":
            assert plan.limit_price is not None
            kwargs["entry_order_type"] = OrderType.LIMIT
            kwargs["entry_price"] = self.instrument.make_price(plan.limit_price)
            if plan.expire_bars is not None and plan.exec_algorithm_id is None:
                kwargs["entry_client_order_id"] = self.order_factory.generate_client_order_id()
                entry_id = kwargs["entry_client_order_id"]
                assert isinstance(entry_id, ClientOrderId)
                self._expiry[entry_id] = (plan.expire_bars, self._decision_ns)
        if plan.exec_algorithm_id is not None:
            kwargs["entry_exec_algorithm_id"] = ExecAlgorithmId(plan.exec_algorithm_id)
            kwargs["entry_exec_algorithm_params"] = plan.exec_algorithm_params
        return kwargs

    # -- book snapshot --------------------------------------------------------------------------------

    def _rules(self) -> InstrumentRules:
        assert self.instrument is not None
        return gated_orders.instrument_rules(self.instrument)

    def _mark_price(self, instrument_id: InstrumentId) -> float:
        if instrument_id == self.config.instrument_id:
            return self._last_close
        return gated_orders.cached_price(self.cache, instrument_id)

    def _pending(self, instrument_id: InstrumentId | None = None) -> list[Order]:
        """Return the venue's working and in-flight orders that may add exposure (all strategies)."""
        return gated_orders.pending_orders(self.cache, self.config.instrument_id.venue, instrument_id)

    def projected_position(self) -> float:
        """Return the signed net position plus this instrument's pending (non reduce-only) orders."""
        return gated_orders.projected_position(self.portfolio, self.cache, self.config.instrument_id)

    def book_snapshot(self) -> BookSnapshot:
        """Return the venue's equity and signed exposure per instrument, pending orders included."""
        return gated_orders.book_snapshot(
            self.portfolio, self.cache, [self.config.instrument_id.venue], self._mark_price, self.log
        )
