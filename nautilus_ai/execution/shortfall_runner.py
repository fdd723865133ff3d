"""Run synthetic parent orders through execution policies on a real order book (the shortfall benchmark).

:func:`draw_parents` draws a seeded set of parents (sizes, sides, signal confidences and arrival times
over the data, one parent per time slot so that no two parents of a run overlap: each has
``slot_secs`` to finish, its horizon plus a settling margin). :func:`run_policy` replays the real ESH4
L3 book (Databento MBO deltas and trades, :func:`~nautilus_ai.execution.book_data.load_es_mbo_slice`)
through one ``BacktestEngine`` with an L3_MBO venue, and a :class:`ParentScheduler` strategy submits
each parent on a time alert with one policy:

* ``market``: one market order;
* ``limit``: a limit order joining the touch (bid for a buy, ask for a sell); at the horizon end the
  residual is canceled and sent at market;
* ``twap`` / ``vwap`` / ``pov``: the project's ``TWAP`` / ``VWAP`` / ``POV`` ExecAlgorithms with market
  children every ``interval_secs`` over ``horizon_secs`` (``pov`` at ``pov_participation`` of the
  traded volume), residual at market at the horizon end;
* ``iceberg``: the ``ICEBERG`` algorithm, a LIMIT parent at the touch showing ``iceberg_display``
  of the parent at a time, each slice pegged to the touch, residual at market at the horizon end;
* ``selector``: :func:`~nautilus_ai.execution.router.route_order` (the code the strategy runs) with
  the :class:`~nautilus_ai.execution.analyzer.MicrostructureAnalyzer`'s latest
  :class:`~nautilus_ai.execution.liquidity.LiquidityState` and the parent's confidence; a LIMIT plan
  expires at its ``expire_ns`` and its residual goes at market (as ``limit``), an algorithm plan is
  sent to its algorithm with the plan's params.

The arrival mid is the mid of the engine's book when the strategy submits; the end mid is read at the
horizon end. Fills are collected from the strategy's order events (the parent's own fills, or its
children's through ``exec_spawn_id``), so every policy is measured by the same code
(:mod:`nautilus_ai.execution.shortfall`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.common.events import TimeEvent
from nautilus_trader.config import BacktestEngineConfig, LoggingConfig, RiskEngineConfig, StrategyConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.enums import AccountType, BookType, OmsType, OrderSide, TimeInForce
from nautilus_trader.model.events import OrderCanceled, OrderExpired, OrderFilled
from nautilus_trader.model.identifiers import ClientOrderId, ExecAlgorithmId, InstrumentId, Venue
from nautilus_trader.model.objects import Money
from nautilus_trader.model.orders import Order
from nautilus_trader.trading.strategy import Strategy

from nautilus_ai.errors import ConfigError
from nautilus_ai.execution.algorithms import (
    IcebergAlgorithm,
    IcebergConfig,
    POVAlgorithm,
    POVConfig,
    TWAPAlgorithm,
    VWAPAlgorithm,
)
from nautilus_ai.execution.analyzer import MicrostructureAnalyzer, MicrostructureAnalyzerConfig
from nautilus_ai.execution.book_data import BookSlice
from nautilus_ai.execution.router import RouterConfig, route_order
from nautilus_ai.execution.selector import SelectorConfig
from nautilus_ai.execution.shortfall import Fill, ParentOutcome

POLICIES = ("market", "limit", "twap", "vwap", "iceberg", "pov", "selector")
"""The execution policies a run can use."""

NANOS = 1_000_000_000


@dataclass(frozen=True)
class ParentSpec:
    """One synthetic parent order.

    Attributes
    ----------
    index : int
        Position in its set.
    submit_ns : int
        Submission time, UNIX nanoseconds.
    side : str
        ``"BUY"`` or ``"SELL"``.
    quantity : int
        Contracts.
    confidence : float
        Signal confidence in [0.5, 1] (the selector's urgency; other policies ignore it).

    """

    index: int
    submit_ns: int
    side: str
    quantity: int
    confidence: float


@dataclass(frozen=True)
class ShortfallRunConfig:
    """How parents are drawn and worked.

    Attributes
    ----------
    sizes : tuple of int
        Parent sizes (contracts), drawn evenly with both sides.
    horizon_secs : float
        Horizon of every schedule, iceberg and limit order; the selector's signal horizon.
    slot_secs : float
        Time reserved per parent (> horizon: the residual and its fills settle inside the slot).
    interval_secs : float
        Child interval of TWAP / VWAP / POV.
    pov_participation : float
        POV's share of the traded volume.
    iceberg_display : float
        Iceberg display as a share of the parent (at least one lot).
    bar_seconds : float
        Bar length for the analyzer's typical volume and volatility and the selector's bars.
    warmup_secs : float
        Time from the start of the data before the first slot (the analyzer's warm-up).
    vpin_bucket_volume : float
        The analyzer's VPIN bucket volume (contracts).
    vpin_buckets : int
        Buckets in VPIN.
    selector : SelectorConfig
        The selector's thresholds (``bar_seconds`` and ``max_schedule_bars`` are set from this config).
    liquidity_consumption : bool
        Our fills consume the venue book's liquidity until the data replaces it.
    queue_position : bool
        Passive orders wait for the queue ahead of them (L3 queue tracking).
    seed : int
        Seed of the parents.

    """

    sizes: tuple[int, ...] = (1, 5, 20, 50)
    horizon_secs: float = 90.0
    slot_secs: float = 120.0
    interval_secs: float = 10.0
    pov_participation: float = 0.2
    iceberg_display: float = 0.2
    bar_seconds: float = 30.0
    warmup_secs: float = 480.0
    vpin_bucket_volume: float = 25.0
    vpin_buckets: int = 20
    selector: SelectorConfig = field(default_factory=SelectorConfig)
    liquidity_consumption: bool = True
    queue_position: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.sizes or any(size < 1 for size in self.sizes):
            raise ConfigError(f"ShortfallRunConfig.sizes must be positive contracts, was {self.sizes}")
        if not 0.0 < self.interval_secs <= self.horizon_secs < self.slot_secs:
            raise ConfigError(
                "ShortfallRunConfig needs 0 < interval_secs <= horizon_secs < slot_secs, were "
                f"{self.interval_secs}, {self.horizon_secs}, {self.slot_secs}"
            )
        if not 0.0 < self.pov_participation <= 1.0 or not 0.0 < self.iceberg_display <= 1.0:
            raise ConfigError(
                "ShortfallRunConfig.pov_participation and iceberg_display must be in (0, 1], were "
                f"{self.pov_participation} and {self.iceberg_display}"
            )
        if self.horizon_secs % self.bar_seconds:
            raise ConfigError(
                f"ShortfallRunConfig.horizon_secs ({self.horizon_secs}) must be a whole number of "
                f"bar_seconds ({self.bar_seconds})"
            )

    @property
    def horizon_bars(self) -> int:
        """Return the horizon in bars."""
        return round(self.horizon_secs / self.bar_seconds)

    def router(self) -> RouterConfig:
        """Return the router config: horizon = reference horizon (urgency = 2 confidence - 1)."""
        selector = SelectorConfig(
            **{
                **self.selector.__dict__,
                "bar_seconds": self.bar_seconds,
                "max_schedule_bars": self.horizon_bars,
            }
        )
        return RouterConfig(
            selector=selector,
            signal_horizon_bars=self.horizon_bars,
            reference_horizon_bars=self.horizon_bars,
            algorithms=("twap", "vwap", "iceberg"),
            on_horizon_end="finish",
        )


def draw_parents(
    start: pd.Timestamp, end: pd.Timestamp, config: ShortfallRunConfig, seed: int | None = None
) -> list[ParentSpec]:
    """Draw one parent per slot of ``[start + warmup, end)``: size and side balanced, time random.

    Slots are ``slot_secs`` long; a parent arrives uniformly in the first ``slot - horizon - 15 s`` of
    its slot (at least the slot start), so it and its residual finish inside the slot. Sizes and sides
    cycle through every (size, side) pair in a seeded order, and the confidence is uniform in [0.5, 1].

    Raises
    ------
    ConfigError
        If the range holds no slot.

    """
    rng = np.random.default_rng(config.seed if seed is None else seed)
    first = start + pd.Timedelta(seconds=config.warmup_secs)
    count = int((end - first).total_seconds() // config.slot_secs)
    if count < 1:
        raise ConfigError(f"no parent slot of {config.slot_secs}s between {first} and {end}")
    pairs = [(size, side) for size in config.sizes for side in ("BUY", "SELL")]
    order: list[tuple[int, str]] = []
    while len(order) < count:
        order.extend(pairs[i] for i in rng.permutation(len(pairs)))
    spread = max(0.0, config.slot_secs - config.horizon_secs - 15.0)
    parents = []
    for index in range(count):
        offset = config.slot_secs * index + rng.uniform(0.0, spread)
        size, side = order[index]
        parents.append(
            ParentSpec(
                index=index,
                submit_ns=(first + pd.Timedelta(seconds=offset)).value,
                side=side,
                quantity=size,
                confidence=float(rng.uniform(0.5, 1.0)),
            )
        )
    return parents


class ParentSchedulerConfig(StrategyConfig, frozen=True):
    """The instrument and the policy of a :class:`ParentScheduler`."""

    instrument_id: InstrumentId
    policy: str


@dataclass
class _Tracked:
    spec: ParentSpec
    arrival_mid: float = math.nan
    end_mid: float = math.nan
    primary_id: str = ""
    direct: list[str] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    kind: str = ""
    rule: str = ""
    algorithm: bool = False
    limit_open: bool = False
    limit_price: float = math.nan


class ParentScheduler(Strategy):
    """Submit each parent at its time with the run's policy and collect the fills.

    Parameters
    ----------
    config : ParentSchedulerConfig
        The instrument and the policy (one of :data:`POLICIES`).
    parents : list of ParentSpec
        The parents to submit.
    run : ShortfallRunConfig
        Horizon, schedule and selector settings.
    analyzer : MicrostructureAnalyzer, optional
        The analyzer whose latest state the ``selector`` policy routes with (required for it; without
        one every selector parent goes at market with rule ``"no liquidity state"``).

    Raises
    ------
    ConfigError
        If the policy is unknown.

    """

    def __init__(
        self,
        config: ParentSchedulerConfig,
        parents: list[ParentSpec],
        run: ShortfallRunConfig,
        analyzer: MicrostructureAnalyzer | None = None,
    ) -> None:
        super().__init__(config)
        if config.policy not in POLICIES:
            raise ConfigError(
                f"ParentSchedulerConfig.policy must be one of {POLICIES}, was {config.policy!r}"
            )
        self.policy = config.policy
        self.iid = config.instrument_id
        self.run = run
        self.analyzer = analyzer
        self.router = run.router()
        self.tracked = [_Tracked(spec) for spec in parents]
        self._owner: dict[str, int] = {}

    def on_start(self) -> None:
        """Subscribe to the managed L3 book and set each parent's submit and horizon alerts."""
        self.subscribe_order_book_deltas(self.iid, book_type=BookType.L3_MBO, managed=True)
        for tracked in self.tracked:
            spec = tracked.spec
            self.clock.set_time_alert_ns(f"submit-{spec.index}", spec.submit_ns, self._on_submit)
            end = spec.submit_ns + round(self.run.horizon_secs * NANOS)
            self.clock.set_time_alert_ns(f"horizon-{spec.index}", end, self._on_horizon)

    # -- helpers -----------------------------------------------------------------------------------

    def _touch(self) -> tuple[float, float] | None:
        book = self.cache.order_book(self.iid)
        if book is None:
            return None
        bid, ask = book.best_bid_price(), book.best_ask_price()
        if bid is None or ask is None or not bid < ask:
            return None
        return bid.as_double(), ask.as_double()

    def _send(self, tracked: _Tracked, order: Order) -> None:
        self._owner[order.client_order_id.value] = tracked.spec.index
        if order.exec_algorithm_id is None:
            tracked.direct.append(order.client_order_id.value)
        if not tracked.primary_id:
            tracked.primary_id = order.client_order_id.value
        self.submit_order(order)

    def _market(self, tracked: _Tracked, quantity: float) -> None:
        instrument = self.cache.instrument(self.iid)
        side = OrderSide.BUY if tracked.spec.side == "BUY" else OrderSide.SELL
        self._send(tracked, self.order_factory.market(self.iid, side, instrument.make_qty(quantity)))

    def _limit(self, tracked: _Tracked, price: float, **algo: Any) -> None:
        instrument = self.cache.instrument(self.iid)
        tick = instrument.price_increment.as_double()
        # round away from the other side: never cross the spread by rounding
        ticks = (
            math.floor(price / tick + 1e-9) if tracked.spec.side == "BUY" else math.ceil(price / tick - 1e-9)
        )
        side = OrderSide.BUY if tracked.spec.side == "BUY" else OrderSide.SELL
        order = self.order_factory.limit(
            self.iid,
            side,
            instrument.make_qty(tracked.spec.quantity),
            instrument.make_price(ticks * tick),
            time_in_force=TimeInForce.GTC,
            **algo,
        )
        tracked.limit_open = not algo
        tracked.limit_price = ticks * tick
        self._send(tracked, order)

    def _algo(self, tracked: _Tracked, algorithm: str, params: dict[str, str]) -> None:
        instrument = self.cache.instrument(self.iid)
        side = OrderSide.BUY if tracked.spec.side == "BUY" else OrderSide.SELL
        tracked.algorithm = True
        order = self.order_factory.market(
            self.iid,
            side,
            instrument.make_qty(tracked.spec.quantity),
            exec_algorithm_id=ExecAlgorithmId(algorithm),
            exec_algorithm_params=params,
        )
        self._send(tracked, order)

    def _schedule_params(self) -> dict[str, str]:
        return {
            "horizon_secs": str(self.run.horizon_secs),
            "interval_secs": str(self.run.interval_secs),
            "on_horizon_end": "finish",
        }

    # -- timers ------------------------------------------------------------------------------------

    def _on_submit(self, event: TimeEvent) -> None:
        tracked = self.tracked[int(event.name.split("-")[1])]
        touch = self._touch()
        if touch is None:
            tracked.kind = "skipped: no touch"
            return
        bid, ask = touch
        tracked.arrival_mid = 0.5 * (bid + ask)
        spec, run = tracked.spec, self.run
        near = bid if spec.side == "BUY" else ask
        policy = self.policy
        if policy == "market":
            tracked.kind = "market"
            self._market(tracked, spec.quantity)
        elif policy == "limit":
            tracked.kind = "limit"
            self._limit(tracked, near)
        elif policy in ("twap", "vwap"):
            tracked.kind = policy
            self._algo(tracked, policy.upper(), self._schedule_params())
        elif policy == "pov":
            tracked.kind = "pov"
            self._algo(
                tracked, "POV", {**self._schedule_params(), "participation": str(run.pov_participation)}
            )
        elif policy == "iceberg":
            tracked.kind = "iceberg"
            tracked.algorithm = True
            display = max(1, round(run.iceberg_display * spec.quantity))
            params = {
                "display_qty": str(display),
                "price_mode": "peg",
                "horizon_secs": str(run.horizon_secs),
                "on_horizon_end": "finish",
            }
            self._limit(
                tracked, near, exec_algorithm_id=ExecAlgorithmId("ICEBERG"), exec_algorithm_params=params
            )
        else:
            self._selector(tracked, bid, ask)

    def _selector(self, tracked: _Tracked, bid: float, ask: float) -> None:
        spec = tracked.spec
        state = self.analyzer.latest(self.iid) if self.analyzer is not None else None
        if state is None:
            tracked.kind, tracked.rule = "market", "no liquidity state"
            self._market(tracked, spec.quantity)
            return
        plan = route_order(
            float(spec.quantity),
            spec.side,
            state,
            spec.confidence,
            bid,
            ask,
            self.clock.timestamp_ns(),
            self.router,
        )
        tracked.kind, tracked.rule = plan.choice.kind, plan.choice.rule
        if plan.order_type == "LIMIT" and plan.limit_price is None:
            raise ConfigError(f"route_order returned a LIMIT plan without a price: {plan}")
        if plan.exec_algorithm_id is None:
            if plan.order_type == "MARKET" or plan.limit_price is None:
                self._market(tracked, spec.quantity)
            else:
                self._limit(tracked, plan.limit_price)
            return
        params = dict(plan.exec_algorithm_params or {})
        if plan.order_type == "LIMIT" and plan.limit_price is not None:
            tracked.algorithm = True
            self._limit(
                tracked,
                plan.limit_price,
                exec_algorithm_id=ExecAlgorithmId(plan.exec_algorithm_id),
                exec_algorithm_params=params,
            )
        else:
            self._algo(tracked, plan.exec_algorithm_id, params)

    def _on_horizon(self, event: TimeEvent) -> None:
        tracked = self.tracked[int(event.name.split("-")[1])]
        touch = self._touch()
        if touch is not None:
            tracked.end_mid = 0.5 * (touch[0] + touch[1])
        if tracked.limit_open:
            order = self.cache.order(_client_id(tracked.direct[0]))
            if order is not None and order.is_open and not order.is_pending_cancel:
                self.cancel_order(order)

    # -- order events ------------------------------------------------------------------------------

    def _owner_of(self, client_order_id: str) -> _Tracked | None:
        index = self._owner.get(client_order_id)
        if index is None:
            order = self.cache.order(_client_id(client_order_id))
            if order is not None and order.exec_spawn_id is not None:
                index = self._owner.get(order.exec_spawn_id.value)
        return None if index is None else self.tracked[index]

    def on_order_filled(self, event: OrderFilled) -> None:
        """Record the fill of a parent's own order or of one of its children."""
        tracked = self._owner_of(event.client_order_id.value)
        if tracked is not None:
            tracked.fills.append(Fill(event.ts_event, event.last_qty.as_double(), event.last_px.as_double()))

    def on_order_canceled(self, event: OrderCanceled) -> None:
        """Send the residual of a canceled resting limit order at market."""
        self._finish_limit(event.client_order_id.value)

    def on_order_expired(self, event: OrderExpired) -> None:
        """Send the residual of an expired resting limit order at market."""
        self._finish_limit(event.client_order_id.value)

    def _finish_limit(self, client_order_id: str) -> None:
        tracked = self._owner_of(client_order_id)
        if tracked is None or not tracked.limit_open or client_order_id != tracked.direct[0]:
            return
        tracked.limit_open = False
        leaves = tracked.spec.quantity - sum(fill.quantity for fill in tracked.fills)
        if leaves > 0:
            self._market(tracked, leaves)

    # -- results -----------------------------------------------------------------------------------

    def outcomes(self, set_name: str = "") -> list[ParentOutcome]:
        """Return the outcome of every parent submitted (skipped ones are left out)."""
        results = []
        for tracked in self.tracked:
            if not math.isfinite(tracked.arrival_mid):
                continue
            spec = tracked.spec
            filled = sum(fill.quantity for fill in tracked.fills)
            status = "filled" if filled >= spec.quantity else ("partial" if filled > 0 else "unfilled")
            results.append(
                ParentOutcome(
                    policy=self.policy,
                    parent=spec.index,
                    side=spec.side,
                    quantity=float(spec.quantity),
                    arrival_ns=spec.submit_ns,
                    arrival_mid=tracked.arrival_mid,
                    fills=tuple(tracked.fills),
                    children=self._children(tracked),
                    end_mid=tracked.end_mid,
                    kind=tracked.kind,
                    status=status,
                    extra={
                        "set": set_name,
                        "rule": tracked.rule,
                        "confidence": f"{spec.confidence:.3f}",
                        "limit_price": f"{tracked.limit_price:g}",
                    },
                )
            )
        return results

    def _children(self, tracked: _Tracked) -> int:
        count = len(tracked.direct)
        if tracked.algorithm and tracked.primary_id:
            count += sum(
                1
                for order in self.cache.orders()
                if order.exec_spawn_id is not None
                and order.exec_spawn_id.value == tracked.primary_id
                and order.client_order_id.value != tracked.primary_id
            )
            count -= 1 if tracked.primary_id in tracked.direct else 0
        return count


def _client_id(value: str) -> ClientOrderId:
    return ClientOrderId(value)


@dataclass
class PolicyRun:
    """One engine run of one policy.

    Attributes
    ----------
    policy : str
        The policy.
    outcomes : list of ParentOutcome
        One per parent submitted.
    wall_secs : float
        Wall time of the run (engine build, replay and collection).
    strategy : ParentScheduler
        The strategy (its engine is disposed).
    skipped : list of int
        Parents not submitted because the book had no valid touch at their time.

    """

    policy: str
    outcomes: list[ParentOutcome]
    wall_secs: float
    strategy: ParentScheduler
    skipped: list[int] = field(default_factory=list)


def run_policy(
    data: BookSlice,
    parents: list[ParentSpec],
    policy: str,
    config: ShortfallRunConfig,
    set_name: str = "",
) -> PolicyRun:
    """Replay ``data`` through an L3_MBO venue and work ``parents`` with ``policy``.

    Parameters
    ----------
    data : BookSlice
        The real book deltas and trades (:func:`~nautilus_ai.execution.book_data.load_es_mbo_slice`).
    parents : list of ParentSpec
        The parents (:func:`draw_parents`), all inside the data's trades.
    policy : str
        One of :data:`POLICIES`.
    config : ShortfallRunConfig
        Policy parameters.
    set_name : str
        Tag put in every outcome's ``extra["set"]``.

    Returns
    -------
    PolicyRun
        The outcomes and the wall time.

    """
    if policy not in POLICIES:
        raise ConfigError(f"policy must be one of {POLICIES}, was {policy!r}")
    started = time.perf_counter()
    engine = BacktestEngine(
        BacktestEngineConfig(
            trader_id="BACKTESTER-001",
            logging=LoggingConfig(log_level="ERROR", bypass_logging=True),
            risk_engine=RiskEngineConfig(),
        )
    )
    try:
        engine.add_venue(
            venue=Venue(data.instrument.id.venue.value),
            oms_type=OmsType.NETTING,
            account_type=AccountType.MARGIN,
            base_currency=USD,
            starting_balances=[Money(50_000_000, USD)],
            book_type=BookType.L3_MBO,
            liquidity_consumption=config.liquidity_consumption,
            queue_position=config.queue_position,
        )
        engine.add_instrument(data.instrument)
        engine.add_data(data.data)
        analyzer = None
        if policy == "selector":
            analyzer = MicrostructureAnalyzer(
                MicrostructureAnalyzerConfig(
                    instrument_ids=(data.instrument.id,),
                    book_source="deltas",
                    book_type="L3_MBO",
                    book_levels=5,
                    vpin_bucket_volume=config.vpin_bucket_volume,
                    vpin_buckets=config.vpin_buckets,
                    vpin_sigma_window=20,
                    bar_spec=f"{int(config.bar_seconds)}-SECOND-LAST-INTERNAL",
                    volume_window=10,
                    volatility_window=10,
                    publish_every=0,
                    publish_interval_secs=5.0,
                )
            )
            engine.add_actor(analyzer)
        strategy = ParentScheduler(
            ParentSchedulerConfig(instrument_id=data.instrument.id, policy=policy), parents, config, analyzer
        )
        engine.add_strategy(strategy)
        book_ids = [data.instrument.id]
        engine.add_exec_algorithm(TWAPAlgorithm())
        engine.add_exec_algorithm(VWAPAlgorithm())
        engine.add_exec_algorithm(
            IcebergAlgorithm(IcebergConfig(book_instrument_ids=book_ids, book_type="L3_MBO"))
        )
        engine.add_exec_algorithm(POVAlgorithm(POVConfig()))
        engine.run()
        outcomes = strategy.outcomes(set_name)
    finally:
        engine.dispose()
    skipped = [t.spec.index for t in strategy.tracked if not math.isfinite(t.arrival_mid)]
    return PolicyRun(policy, outcomes, time.perf_counter() - started, strategy, skipped)
