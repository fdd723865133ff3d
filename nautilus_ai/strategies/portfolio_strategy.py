"""PortfolioStrategy: the ModelSignals of many instruments combined into one risk-checked book.

The flow of one rebalance (once every ``rebalance_every_bars`` bar times, when every instrument's bar
of that time has arrived)::

    latest ModelSignal per instrument -> Signal(direction, probability it is right)
        -> rebalance_weights (riskfolio HRP / mean-CVaR / Kelly on the training window's returns;
           position, sector, gross and net limits; turnover cap)            [risk/portfolio.py]
        -> weights_to_intents (lot, minimum quantity and notional, multiplier)
        -> submit_intent per instrument: RiskGate (state, limits, CVaR) -> market order

Reductions are submitted before increases so the gate, which counts pending orders, sees the room
they free. Every gate decision is logged, kept in :attr:`PortfolioStrategy.decisions` and published as
a :class:`~nautilus_ai.catalog.types.RiskDecisionEvent` on ``topic_data_type(RiskDecisionEvent, iid)``;
every rebalance is kept in :attr:`PortfolioStrategy.rebalances`. The trading state follows the
RiskEngine and the RiskGuardActor as in :class:`~nautilus_ai.strategies.ml_strategy.MLStrategy`.

The training-window returns come from ``returns_path``: a Parquet file of one column per instrument
(``"AAPL.XNAS"`` or ``"AAPL"``) or an ``.npz`` with ``instruments`` and ``returns`` arrays, written by
:func:`save_returns` from the fold's training window only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import OrderSide, TimeInForce
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.trading.strategy import Strategy

from nautilus_ai.catalog.types import ModelSignal, RiskDecisionEvent, topic_data_type
from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.risk.gate import BookSnapshot, GateDecision
from nautilus_ai.risk.limits import RiskLimits
from nautilus_ai.risk.portfolio import (
    AggregatorConfig,
    InstrumentRules,
    RebalancePlan,
    Signal,
    rebalance_weights,
    weights_to_intents,
)
from nautilus_ai.risk.sizing import OrderIntent
from nautilus_ai.risk.state import GateState
from nautilus_ai.strategies import gated_orders

_OWNER = "PortfolioStrategyConfig"
_METHODS = ("hrp", "mean_cvar", "kelly")


class PortfolioStrategyConfig(StrategyConfig, frozen=True):
    """Configuration of a :class:`PortfolioStrategy`.

    Parameters
    ----------
    instrument_ids : list of InstrumentId
        The traded instruments (one venue or several).
    bar_types : list of BarType
        One bar type per instrument, in the same order (prices and the rebalance clock).
    returns_path : str
        Training-window returns (Parquet or ``.npz``, see :func:`load_returns`), built from the fold's
        training window only.
    method : {"hrp", "mean_cvar", "kelly"}
        The riskfolio-lib allocation of the active instruments.
    gross_target : float
        Gross weight spread over the active instruments before the limits.
    max_turnover : float, optional
        Cap on ``sum_i |w_i - w0_i|`` per rebalance (None: no cap).
    max_position_weight : float
        Cap on ``|w_i|`` (aggregator and gate).
    max_group_weight : float, optional
        Cap on the gross weight of one sector (None: no cap).
    max_position_notional : float, optional
        Cap on one position's notional in account currency (None: no cap).
    max_gross_leverage : float, optional
        Cap on ``sum_i |w_i|`` (None: no cap).
    max_net_leverage : float, optional
        Cap on ``|sum_i w_i|`` (None: no cap).
    sectors : dict, optional
        Instrument id or symbol -> sector (default :data:`~nautilus_ai.risk.portfolio.STOCKNET_SECTORS`).
    min_confidence : float
        Signals with a lower confidence count as flat.
    min_probability : float
        Signals whose probability of being right is lower are ignored by the aggregator.
    min_history : int
        Finite returns an instrument needs in the training window to be allocated.
    max_signal_age_bars : int, optional
        A signal older than this many complete bar times counts as flat (0: only signals of the
        rebalance's own bar time count; None: the latest signal counts however old).
    allow_short : bool
        Whether short signals open short positions (otherwise they mean flat).
    rebalance_every_bars : int
        Rebalance on every N-th complete bar time.
    rebalance_band : float
        Skip an increase within this fraction of the target quantity (reductions always trade).
    trade_start : str, optional
        ISO timestamp before which no order is sent.
    cvar_scenarios_path : str, optional
        ``.npz`` of :meth:`~nautilus_ai.risk.gate.CvarBudget.save`; enables the gate's CVaR check.
    cvar_budget : float, optional
        CVaR budget in units of equity (overrides the file's budget).
    cvar_alpha : float
        Confidence level of the CVaR (gate and mean-CVaR allocation).

    """

    instrument_ids: list[InstrumentId]
    bar_types: list[BarType]
    returns_path: str
    method: str = "hrp"
    gross_target: float = 1.0
    max_turnover: float | None = None
    max_position_weight: float = 0.2
    max_group_weight: float | None = None
    max_position_notional: float | None = None
    max_gross_leverage: float | None = 1.0
    max_net_leverage: float | None = 1.0
    sectors: dict[str, str] | None = None
    min_confidence: float = 0.0
    min_probability: float = 0.5
    min_history: int = 60
    max_signal_age_bars: int | None = None
    allow_short: bool = True
    rebalance_every_bars: int = 1
    rebalance_band: float = 0.0
    trade_start: str | None = None
    cvar_scenarios_path: str | None = None
    cvar_budget: float | None = None
    cvar_alpha: float = 0.95


def check_portfolio_config(config: PortfolioStrategyConfig) -> None:
    """Raise :class:`~nautilus_ai.errors.ConfigError` naming the first invalid field of ``config``."""
    ids = list(config.instrument_ids)
    if not ids:
        raise ConfigError(f"{_OWNER}.instrument_ids must name at least one instrument, was empty")
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{_OWNER}.instrument_ids must be distinct, was {[str(i) for i in ids]}")
    if len(config.bar_types) != len(ids):
        raise ConfigError(
            f"{_OWNER}.bar_types must hold one bar type per instrument ({len(ids)}), "
            f"was {len(config.bar_types)}"
        )
    for bar_type, iid in zip(config.bar_types, ids, strict=True):
        if bar_type.instrument_id != iid:
            raise ConfigError(
                f"{_OWNER}.bar_types must follow instrument_ids: {bar_type} is not a bar type of {iid}"
            )
    if not config.returns_path:
        raise ConfigError(f"{_OWNER}.returns_path must name the training-window returns file")
    if config.method not in _METHODS:
        raise ConfigError(f"{_OWNER}.method must be 'hrp', 'mean_cvar' or 'kelly', was {config.method!r}")
    if not (math.isfinite(config.gross_target) and config.gross_target > 0.0):
        raise ConfigError(f"{_OWNER}.gross_target must be positive, was {config.gross_target}")
    for name in ("max_turnover", "max_group_weight"):
        gated_orders.positive_or_inf(_OWNER, name, getattr(config, name))
    for name in ("max_position_weight", "max_position_notional", "max_gross_leverage", "max_net_leverage"):
        gated_orders.positive_or_inf(_OWNER, name, getattr(config, name))
    if not 0.0 <= config.min_confidence <= 1.0:
        raise ConfigError(f"{_OWNER}.min_confidence must be in [0, 1], was {config.min_confidence}")
    if not 0.0 <= config.min_probability <= 1.0:
        raise ConfigError(f"{_OWNER}.min_probability must be in [0, 1], was {config.min_probability}")
    if config.min_history < 3:
        raise ConfigError(f"{_OWNER}.min_history must be >= 3, was {config.min_history}")
    if config.max_signal_age_bars is not None and config.max_signal_age_bars < 0:
        raise ConfigError(
            f"{_OWNER}.max_signal_age_bars must be >= 0 or None, was {config.max_signal_age_bars}"
        )
    if config.rebalance_every_bars < 1:
        raise ConfigError(f"{_OWNER}.rebalance_every_bars must be >= 1, was {config.rebalance_every_bars}")
    if not 0.0 <= config.rebalance_band < 1.0:
        raise ConfigError(f"{_OWNER}.rebalance_band must be in [0, 1), was {config.rebalance_band}")
    if config.trade_start is not None:
        try:
            pd.Timestamp(config.trade_start)
        except ValueError as exc:
            raise ConfigError(
                f"{_OWNER}.trade_start must be an ISO timestamp, was {config.trade_start!r}"
            ) from exc
    if not 0.0 < config.cvar_alpha < 1.0:
        raise ConfigError(f"{_OWNER}.cvar_alpha must be in (0, 1), was {config.cvar_alpha}")
    if config.cvar_budget is not None and config.cvar_scenarios_path is None:
        raise ConfigError(
            f"{_OWNER}.cvar_budget needs cvar_scenarios_path: the CVaR is computed over the "
            "training window's scenarios (CvarBudget.save)"
        )
    if config.cvar_budget is not None and not config.cvar_budget > 0.0:
        raise ConfigError(f"{_OWNER}.cvar_budget must be positive, was {config.cvar_budget}")


def aggregator_config(config: PortfolioStrategyConfig) -> AggregatorConfig:
    """Return the :class:`~nautilus_ai.risk.portfolio.AggregatorConfig` of a strategy config."""
    return AggregatorConfig(
        method=config.method,  # type: ignore[arg-type]  # checked by check_portfolio_config
        gross_target=config.gross_target,
        min_probability=config.min_probability,
        cvar_alpha=config.cvar_alpha,
        min_history=config.min_history,
        max_turnover=gated_orders.positive_or_inf(_OWNER, "max_turnover", config.max_turnover),
        limits=RiskLimits(
            max_position_weight=config.max_position_weight,
            max_position_notional=gated_orders.positive_or_inf(
                _OWNER, "max_position_notional", config.max_position_notional
            ),
            max_group_weight=gated_orders.positive_or_inf(
                _OWNER, "max_group_weight", config.max_group_weight
            ),
            max_gross_leverage=gated_orders.positive_or_inf(
                _OWNER, "max_gross_leverage", config.max_gross_leverage
            ),
            max_net_leverage=gated_orders.positive_or_inf(
                _OWNER, "max_net_leverage", config.max_net_leverage
            ),
        ),
    )


def save_returns(returns: pd.DataFrame, path: str | Path) -> Path:
    """Write training-window returns (one column per instrument id) to Parquet or ``.npz``.

    Parameters
    ----------
    returns : DataFrame
        Per-bar returns of the fold's training window only.
    path : str or Path
        ``*.npz`` for NumPy (arrays ``instruments``, ``returns``), anything else for Parquet.

    Returns
    -------
    Path
        The file written.

    """
    target = Path(path)
    if target.suffix == ".npz":
        np.savez(
            target,
            instruments=np.asarray([str(c) for c in returns.columns], dtype=str),
            returns=returns.to_numpy(dtype=np.float64),
        )
        return target
    frame = returns.copy()
    frame.columns = [str(c) for c in frame.columns]
    frame.to_parquet(target)
    return target


def load_returns(path: str | Path, instrument_ids: Sequence[InstrumentId]) -> pd.DataFrame:
    """Read training-window returns, one column per instrument, named ``str(instrument_id)``.

    A column may be named by the full id (``"AAPL.XNAS"``) or by the symbol (``"AAPL"``).

    Raises
    ------
    DataError
        If the file does not exist, cannot be read, or lacks a column for one of ``instrument_ids``.

    """
    source = Path(path)
    if not source.is_file():
        raise DataError(f"{_OWNER}.returns_path: {source} does not exist", file=str(source))
    try:
        if source.suffix == ".npz":
            with np.load(source, allow_pickle=False) as stored:
                missing_arrays = {"instruments", "returns"} - set(stored.files)
                if missing_arrays:
                    raise DataError(
                        f"{_OWNER}.returns_path: {source} lacks the arrays {sorted(missing_arrays)}",
                        file=str(source),
                    )
                frame = pd.DataFrame(
                    np.asarray(stored["returns"], dtype=np.float64),
                    columns=[str(c) for c in stored["instruments"]],
                )
        else:
            frame = pd.read_parquet(source)
    except DataError:
        raise
    except Exception as exc:  # pyarrow/numpy raise assorted types for unreadable files
        raise DataError(f"{_OWNER}.returns_path: cannot read {source}: {exc}", file=str(source)) from exc
    columns: dict[str, str] = {}
    missing = []
    for iid in instrument_ids:
        for name in (str(iid), iid.symbol.value):
            if name in frame.columns:
                columns[name] = str(iid)
                break
        else:
            missing.append(str(iid))
    if missing:
        raise DataError(
            f"{_OWNER}.returns_path: {source} has no returns column for {missing} "
            f"(columns: {[str(c) for c in frame.columns]})",
            file=str(source),
        )
    out = frame[list(columns)].rename(columns=columns).astype("float64")
    return out


@dataclass(frozen=True)
class RebalanceRecord:
    """One rebalance: the book before it, the plan and the intents sent to the gate.

    Attributes
    ----------
    ts : int
        The bar time (ns) of the rebalance.
    equity : float
        Equity of the book (sum over the venues).
    prices : dict
        Instrument id -> last close used.
    current_weights : dict
        Instrument id -> weight held before the rebalance (pending orders included).
    plan : RebalancePlan
        The aggregator's plan (target weights and the steps that shaped them).
    intents : dict
        Instrument id -> the intent sent to the gate.

    """

    ts: int
    equity: float
    prices: dict[str, float]
    current_weights: dict[str, float]
    plan: RebalancePlan
    intents: dict[str, OrderIntent]


class PortfolioStrategy(Strategy):
    """Trade the latest ModelSignals of many instruments as one book through the RiskGate.

    See the module docstring for the rebalance rule; :meth:`submit_intent` is the one place orders
    are built, and it builds none without a RiskGate decision.
    """

    def __init__(self, config: PortfolioStrategyConfig) -> None:
        super().__init__(config)
        check_portfolio_config(config)
        self._ids: list[InstrumentId] = list(config.instrument_ids)
        self._venues: list[Venue] = list(dict.fromkeys(iid.venue for iid in self._ids))
        self._aggregator = aggregator_config(config)
        self._returns = load_returns(config.returns_path, self._ids)
        self._sectors: Mapping[str, str] | None = dict(config.sectors) if config.sectors is not None else None
        self._net_cap = gated_orders.positive_or_inf(_OWNER, "max_net_leverage", config.max_net_leverage)
        self._trade_start_ns = pd.Timestamp(config.trade_start, tz="UTC").value if config.trade_start else 0
        self.gate = gated_orders.build_gate(
            _OWNER,
            max_position_weight=config.max_position_weight,
            max_position_notional=config.max_position_notional,
            max_gross_leverage=config.max_gross_leverage,
            max_net_leverage=config.max_net_leverage,
            cvar_scenarios_path=config.cvar_scenarios_path,
            cvar_budget=config.cvar_budget,
            cvar_alpha=config.cvar_alpha,
        )
        self._state_listener = gated_orders.GateStateListener(self.gate)
        self.instruments: dict[InstrumentId, Instrument] = {}
        self.signals: dict[InstrumentId, ModelSignal] = {}
        self._signal_bar: dict[InstrumentId, int] = {}
        self._closes: dict[InstrumentId, float] = {}
        self._bar_ts: int | None = None
        self._seen: set[InstrumentId] = set()
        self._complete_bar_times = 0
        self.intents: list[tuple[InstrumentId, OrderIntent]] = []
        self.decisions: list[GateDecision] = []
        self.decision_events: list[RiskDecisionEvent] = []
        self.rebalances: list[RebalanceRecord] = []

    # -- lifecycle ------------------------------------------------------------------------------------

    def on_start(self) -> None:
        """Load the instruments, subscribe to bars, signals and trading-state changes."""
        for iid in self._ids:
            instrument = self.cache.instrument(iid)
            if instrument is None:
                self.log.error(f"No instrument {iid} in the cache")
                self.stop()
                return
            self.instruments[iid] = instrument
        for bar_type, iid in zip(self.config.bar_types, self._ids, strict=True):
            self.subscribe_bars(bar_type)
            self.subscribe_data(topic_data_type(ModelSignal, iid), instrument_id=iid)
        self._state_listener.subscribe(self.msgbus)

    def on_stop(self) -> None:
        """Close every position at the end of the run, unless HALTED."""
        self._state_listener.unsubscribe(self.msgbus)
        if self.gate.state == GateState.HALTED:
            self.log.warning("Trading state is HALTED: the positions are left open (no new orders)")
            return
        for iid in self.instruments:
            self.close_all_positions(iid)

    def on_reset(self) -> None:
        """Clear the signals, prices and records."""
        self.signals.clear()
        self._signal_bar.clear()
        self._closes.clear()
        self._bar_ts = None
        self._seen.clear()
        self._complete_bar_times = 0
        self.intents.clear()
        self.decisions.clear()
        self.decision_events.clear()
        self.rebalances.clear()

    # -- data -----------------------------------------------------------------------------------------

    def on_data(self, data: ModelSignal) -> None:
        """Keep the latest signal of each instrument."""
        if isinstance(data, ModelSignal) and data.instrument_id in self.instruments:
            self.signals[data.instrument_id] = data
            self._signal_bar[data.instrument_id] = self._complete_bar_times

    def on_bar(self, bar: Bar) -> None:
        """Record the close; rebalance when every instrument's bar of this time has arrived."""
        iid = bar.bar_type.instrument_id
        if iid not in self.instruments:
            return
        if self._bar_ts is not None and bar.ts_event > self._bar_ts and self._seen:
            # a new bar time before the previous one completed (an instrument had no bar): close it
            # first, with the closes known up to it
            self._bar_time_complete(self._bar_ts)
        self._closes[iid] = bar.close.as_double()
        if self._bar_ts is None or bar.ts_event > self._bar_ts:
            self._bar_ts = bar.ts_event
            self._seen = set()
        self._seen.add(iid)
        if len(self._seen) == len(self.instruments):
            self._bar_time_complete(bar.ts_event)

    def _bar_time_complete(self, ts: int) -> None:
        self._seen = set()
        self._complete_bar_times += 1
        if (self._complete_bar_times - 1) % self.config.rebalance_every_bars != 0:
            return
        if ts < self._trade_start_ns:
            return
        self.rebalance(ts)

    # -- signals to intents ---------------------------------------------------------------------------

    def signal_age(self, instrument_id: InstrumentId) -> int | None:
        """Return how many bar times completed since the latest signal's own (None without a signal)."""
        arrived = self._signal_bar.get(instrument_id)
        if arrived is None:
            return None
        return max(self._complete_bar_times - arrived - 1, 0)

    def aggregator_signals(self) -> dict[str, Signal]:
        """Return the aggregator's view of every instrument (flat without a usable signal)."""
        out: dict[str, Signal] = {}
        max_age = self.config.max_signal_age_bars
        for iid in self.instruments:
            signal = self.signals.get(iid)
            age = self.signal_age(iid)
            if signal is None or (max_age is not None and age is not None and age > max_age):
                out[str(iid)] = Signal(0, 0.5)
                continue
            direction = int(signal.direction)
            if signal.confidence < self.config.min_confidence or (
                direction < 0 and not self.config.allow_short
            ):
                direction = 0
            up = min(max(float(signal.probability), 0.0), 1.0)
            out[str(iid)] = Signal(direction, up if direction >= 0 else 1.0 - up)
        return out

    def rebalance(self, ts: int) -> RebalanceRecord | None:
        """Combine the latest signals into target weights and submit the intents that reach them.

        Returns
        -------
        RebalanceRecord or None
            The record, or None when the book has no valid equity or prices yet, or the aggregator
            could not allocate (logged as an error).

        """
        equity = self.book_snapshot().equity
        if not (math.isfinite(equity) and equity > 0.0):
            return None
        prices = {str(iid): self._closes.get(iid, math.nan) for iid in self.instruments}
        if not all(math.isfinite(p) and p > 0.0 for p in prices.values()):
            return None
        quantities = {str(iid): self.projected_position(iid) for iid in self.instruments}
        rules = {str(iid): gated_orders.instrument_rules(i) for iid, i in self.instruments.items()}
        current = {i: q * prices[i] * rules[i].multiplier / equity for i, q in quantities.items()}
        try:
            plan = rebalance_weights(
                self.aggregator_signals(), self._returns, current, equity, self._aggregator, self._sectors
            )
        except DataError as error:  # e.g. the active instruments share too few training rows
            self.log.error(f"Rebalance skipped: {error}")
            return None
        intents = weights_to_intents(
            {str(i): float(w) for i, w in plan.target_weights.items()},
            quantities,
            equity,
            prices,
            rules,
            band=self.config.rebalance_band,
            max_net_leverage=self._net_cap,
            reason=f"portfolio {self.config.method} rebalance",
        )
        record = RebalanceRecord(ts, equity, prices, current, plan, intents)
        self.rebalances.append(record)
        by_id = {str(iid): iid for iid in self.instruments}

        def reduces(item: tuple[str, OrderIntent]) -> bool:
            name, intent = item
            signed = intent.quantity if intent.side == "BUY" else -intent.quantity
            return abs(quantities[name] + signed) < abs(quantities[name])

        ordered = sorted(intents.items(), key=lambda item: (not reduces(item), item[0]))
        for name, intent in ordered:
            self.submit_intent(by_id[name], intent)
        return record

    # -- the one pre-trade path -----------------------------------------------------------------------

    def submit_intent(self, instrument_id: InstrumentId, intent: OrderIntent) -> GateDecision | None:
        """Check ``intent`` with the RiskGate, record and publish the decision, then submit a market order.

        Returns
        -------
        GateDecision or None
            The gate's decision (None when the instrument is not one of the strategy's).

        """
        instrument = self.instruments.get(instrument_id)
        if instrument is None:
            return None
        self.intents.append((instrument_id, intent))
        decision = self.gate.check(
            intent,
            str(instrument_id),
            self._closes.get(instrument_id, math.nan),
            self.book_snapshot(),
            gated_orders.instrument_rules(instrument),
        )
        self.decisions.append(decision)
        gated_orders.log_decision(self.log, decision)
        event = gated_orders.decision_event(decision, instrument_id, self.clock.timestamp_ns())
        self.decision_events.append(event)
        self.publish_data(topic_data_type(RiskDecisionEvent, instrument_id), event)
        if decision.intent is None:
            return decision
        order = self.order_factory.market(
            instrument_id=instrument_id,
            order_side=OrderSide.BUY if decision.intent.side == "BUY" else OrderSide.SELL,
            quantity=instrument.make_qty(decision.intent.quantity),
            time_in_force=TimeInForce.GTC,
        )
        self.submit_order(order)
        return decision

    # -- book -----------------------------------------------------------------------------------------

    def _mark_price(self, instrument_id: InstrumentId) -> float:
        close = self._closes.get(instrument_id)
        if close is not None:
            return close
        return gated_orders.cached_price(self.cache, instrument_id)

    def projected_position(self, instrument_id: InstrumentId) -> float:
        """Return the signed net position of ``instrument_id`` plus its pending orders."""
        return gated_orders.projected_position(self.portfolio, self.cache, instrument_id)

    def book_snapshot(self) -> BookSnapshot:
        """Return the equity (all venues) and the signed exposure per instrument, pending orders included."""
        return gated_orders.book_snapshot(
            self.portfolio, self.cache, self._venues, self._mark_price, self.log
        )

    def weights(self) -> dict[str, float]:
        """Return the weight of each held instrument at the last closes (pending orders included)."""
        book = self.book_snapshot()
        if not (math.isfinite(book.equity) and book.equity > 0.0):
            return {}
        return {name: exposure / book.equity for name, exposure in book.exposures.items()}

    @property
    def rules(self) -> dict[str, InstrumentRules]:
        """Return the instrument rules of every loaded instrument, keyed by ``str(instrument_id)``."""
        return {str(iid): gated_orders.instrument_rules(i) for iid, i in self.instruments.items()}
