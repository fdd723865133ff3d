"""PortfolioStrategy inside a real BacktestEngine on six StockNet stocks (XNAS daily bars).

A scripted source publishes one ModelSignal per instrument and bar from a seeded rule (10-day
momentum, a random flat signal now and then, a random calibrated probability); the strategy combines
them every five bar times with riskfolio (HRP, mean-CVaR, Kelly) on the training window's returns
(Sep 2012 - Aug 2013) and trades Sep 2013 - Feb 2014. A recorder reads the portfolio's positions
after each rebalance's fills.
"""

from __future__ import annotations

import zlib
from collections import deque
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import OrderStatus, TradingState
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Equity

from nautilus_ai.catalog.types import ModelSignal, RiskDecisionEvent, topic_data_type
from nautilus_ai.risk.gate import CvarBudget
from nautilus_ai.risk.portfolio import STOCKNET_SECTORS
from nautilus_ai.risk.state import RISK_STATE_TOPIC, GateState
from nautilus_ai.strategies.portfolio_strategy import (
    PortfolioStrategy,
    PortfolioStrategyConfig,
    save_returns,
)
from nautilus_ai.test_kit import make_backtest_engine, read_stocknet_daily, stocknet_bars, stocknet_equity

SYMBOLS = ("AAPL", "MSFT", "GOOG", "JPM", "BAC", "XOM")  # 2 Technology, 2 Financial, 2 single sectors
TRAIN_END = "2013-08-31"
FEED_START = "2013-08-01"
TRADE_START = "2013-09-03"
FEED_END = "2014-02-28"
HALT_AT = "2013-11-01"
REDUCE_AT = "2013-12-02"
TWO_VENUES = {"JPM": "XNYS", "BAC": "XNYS", "XOM": "XNYS"}  # the others on XNAS
LIMITS = {
    "gross_target": 1.0,
    "max_position_weight": 0.25,
    "max_group_weight": 0.35,
    "max_gross_leverage": 0.9,
    "max_net_leverage": 0.9,
    "max_turnover": 0.5,
}
TOL = 1e-6
TURNOVER_TOL = 0.01  # rounding to whole shares: under one lot per instrument


# -- scripted actors ----------------------------------------------------------------------------------


class SeededSignalsConfig(ActorConfig, frozen=True):
    """A seeded stand-in for the SignalActor of many instruments."""

    bar_types: list[BarType]
    seed: int = 7
    lookback: int = 10
    flat_rate: float = 0.15


class SeededSignals(Actor):
    """Publish one ModelSignal per bar: direction of the close against its 10-bar mean, seeded noise."""

    def __init__(self, config: SeededSignalsConfig) -> None:
        super().__init__(config)
        self._closes: dict[InstrumentId, deque[float]] = {}
        self._rngs: dict[InstrumentId, np.random.Generator] = {}

    def on_start(self) -> None:
        for bar_type in self.config.bar_types:
            iid = bar_type.instrument_id
            self._closes[iid] = deque(maxlen=self.config.lookback)
            self._rngs[iid] = np.random.default_rng([self.config.seed, zlib.crc32(str(iid).encode())])
            self.subscribe_bars(bar_type)

    def on_bar(self, bar: Bar) -> None:
        iid = bar.bar_type.instrument_id
        closes = self._closes[iid]
        closes.append(bar.close.as_double())
        rng = self._rngs[iid]
        flat, right = rng.random(), 0.55 + 0.35 * rng.random()
        if len(closes) < self.config.lookback:
            return
        direction = 1 if closes[-1] >= float(np.mean(closes)) else -1
        if flat < self.config.flat_rate:
            direction = 0
        up = right if direction > 0 else 1.0 - right
        signal = ModelSignal(
            instrument_id=iid,
            direction=direction,
            probability=up,
            confidence=abs(up - 0.5) * 2.0,
            model_version="seeded",
            ts_event=bar.ts_event,
            ts_init=bar.ts_init,
        )
        self.publish_data(topic_data_type(ModelSignal, iid), signal)


class BookRecorderConfig(ActorConfig, frozen=True):
    """Record the portfolio's positions at the first bar of every bar time."""

    bar_types: list[BarType]
    halt_at: str | None = None
    reduce_at: str | None = None


class BookRecorder(Actor):
    """Snapshot the net positions (before that time's rebalance), optionally halt trading once.

    The halt is published on the RiskGuardActor's state topic, as the guard does; REDUCING is set on
    NautilusTrader's RiskEngine (``risk_engine``, injected by the test), which publishes
    ``TradingStateChanged``.
    """

    def __init__(self, config: BookRecorderConfig) -> None:
        super().__init__(config)
        self.snapshots: dict[int, dict[str, float]] = {}
        self.decisions: list[RiskDecisionEvent] = []
        self.halted_at: int | None = None
        self.reduced_at: int | None = None
        self.risk_engine = None
        self._halt_ns = pd.Timestamp(config.halt_at, tz="UTC").value if config.halt_at else None
        self._reduce_ns = pd.Timestamp(config.reduce_at, tz="UTC").value if config.reduce_at else None

    def on_start(self) -> None:
        for bar_type in self.config.bar_types:
            iid = bar_type.instrument_id
            self.subscribe_bars(bar_type)
            self.subscribe_data(topic_data_type(RiskDecisionEvent, iid), instrument_id=iid)

    def on_bar(self, bar: Bar) -> None:
        if bar.ts_event not in self.snapshots:
            self.snapshots[bar.ts_event] = {
                str(bt.instrument_id): float(self.portfolio.net_position(bt.instrument_id))
                for bt in self.config.bar_types
            }
        if self._halt_ns is not None and self.halted_at is None and bar.ts_event >= self._halt_ns:
            self.halted_at = bar.ts_event
            self.msgbus.publish(RISK_STATE_TOPIC, GateState.HALTED)
        if self._reduce_ns is not None and self.reduced_at is None and bar.ts_event >= self._reduce_ns:
            assert self.risk_engine is not None
            self.reduced_at = bar.ts_event
            self.risk_engine.set_trading_state(TradingState.REDUCING)

    def on_data(self, data: Data) -> None:
        if isinstance(data, RiskDecisionEvent):
            self.decisions.append(data)


# -- fixtures -----------------------------------------------------------------------------------------


def make_universe(venues: dict[str, str] | None = None):
    venues = venues or {}
    instruments: list[Equity] = []
    bar_types: list[BarType] = []
    bars: list[Bar] = []
    for symbol in SYMBOLS:
        venue = venues.get(symbol, "XNAS")
        bar_type, symbol_bars = stocknet_bars(symbol, venue)
        instruments.append(stocknet_equity(symbol, venue))
        bar_types.append(bar_type)
        start, end = pd.Timestamp(FEED_START, tz="UTC").value, pd.Timestamp(FEED_END, tz="UTC").value
        bars.extend(b for b in symbol_bars if start <= b.ts_init <= end)
    bars.sort(key=lambda b: b.ts_init)
    return instruments, bar_types, bars


@pytest.fixture(scope="module")
def universe():
    return make_universe()


@pytest.fixture(scope="module")
def returns_path(tmp_path_factory) -> Path:
    closes = pd.DataFrame({s: read_stocknet_daily(s)["close"] for s in SYMBOLS}).loc[
        : pd.Timestamp(TRAIN_END, tz="UTC")
    ]
    returns = closes.pct_change().iloc[1:]
    assert len(returns) > 200
    return save_returns(returns, tmp_path_factory.mktemp("fold") / "train_returns.parquet")  # by symbol


def _closes(venues: dict[str, str] | None = None) -> pd.DataFrame:
    venues = venues or {}
    return pd.DataFrame(
        {f"{s}.{venues.get(s, 'XNAS')}": read_stocknet_daily(s)["close"].round(2) for s in SYMBOLS}
    )


def run_portfolio(universe, returns_path, method="hrp", halt_at=None, reduce_at=None, **overrides):
    instruments, bar_types, bars = universe
    engine = make_backtest_engine(instruments)
    engine.add_data(bars)
    engine.add_actor(SeededSignals(SeededSignalsConfig(bar_types=bar_types)))
    recorder = BookRecorder(BookRecorderConfig(bar_types=bar_types, halt_at=halt_at, reduce_at=reduce_at))
    recorder.risk_engine = engine.kernel.risk_engine
    engine.add_actor(recorder)
    config = PortfolioStrategyConfig(
        instrument_ids=[i.id for i in instruments],
        bar_types=bar_types,
        returns_path=str(returns_path),
        method=method,
        rebalance_every_bars=5,
        trade_start=TRADE_START,
        **{**LIMITS, **overrides},
    )
    strategy = PortfolioStrategy(config)
    engine.add_strategy(strategy)
    engine.run()
    orders = list(engine.cache.orders())
    result = {
        "strategy": strategy,
        "recorder": recorder,
        "orders": orders,
        "entry_orders": [o for o in orders if not o.is_reduce_only],
        "fills": [
            (
                str(o.instrument_id),
                o.side_string(),
                o.filled_qty.as_double(),
                float(o.avg_px or 0.0),
                o.ts_last,
            )
            for o in orders
            if o.filled_qty.as_double() > 0.0
        ],
        "flat": {str(i.id): engine.portfolio.is_flat(i.id) for i in instruments},
        "denied": [o for o in orders if o.status == OrderStatus.DENIED],
    }
    engine.dispose()
    return result


@pytest.fixture(scope="module")
def runs(universe, returns_path):
    return {method: run_portfolio(universe, returns_path, method) for method in ("hrp", "mean_cvar", "kelly")}


# -- helpers ------------------------------------------------------------------------------------------


def _after(snapshots: dict[int, dict[str, float]], ts: int) -> dict[str, float] | None:
    later = [t for t in snapshots if t > ts]
    return snapshots[min(later)] if later else None


def _book_weights(quantities: dict[str, float], ts: int, equity: float, closes: pd.DataFrame):
    row = closes.loc[pd.Timestamp(ts, tz="UTC")].to_dict()
    return {i: q * float(row[i]) / equity for i, q in quantities.items()}


# -- tests --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["hrp", "mean_cvar", "kelly"])
def test_each_method_rebalances_and_trades(runs, method):
    run = runs[method]
    strategy = run["strategy"]

    assert len(strategy.rebalances) >= 20
    assert run["entry_orders"], f"{method} sent no order"
    assert all(o.is_closed for o in run["entry_orders"])
    assert any(abs(w) > 0.05 for r in strategy.rebalances for w in r.plan.target_weights)
    assert all(run["flat"].values())  # closed on stop (ACTIVE)


@pytest.mark.parametrize("method", ["hrp", "mean_cvar", "kelly"])
def test_weights_after_each_rebalance_respect_position_sector_and_gross_caps(runs, method):
    assert_caps_hold(runs[method], _closes())


def assert_caps_hold(run, closes: pd.DataFrame) -> None:
    """Check the book after each rebalance's fills against the position, sector, gross and net caps."""
    checked = 0
    for record in run["strategy"].rebalances:
        after = _after(run["recorder"].snapshots, record.ts)
        if after is None:
            continue
        weights = _book_weights(after, record.ts, record.equity, closes)
        gross = sum(abs(w) for w in weights.values())
        sectors: dict[str, float] = {}
        for instrument, weight in weights.items():
            sector = STOCKNET_SECTORS[instrument.split(".")[0]]
            sectors[sector] = sectors.get(sector, 0.0) + abs(weight)
        assert max(abs(w) for w in weights.values()) <= LIMITS["max_position_weight"] + TOL
        assert max(sectors.values()) <= LIMITS["max_group_weight"] + TOL
        assert gross <= LIMITS["max_gross_leverage"] + TOL
        assert abs(sum(weights.values())) <= LIMITS["max_net_leverage"] + TOL
        checked += 1
    assert checked >= 20
    # the caps bind: some book reaches the sector cap (two Technology, two Financial stocks)
    assert any("limits" in r.plan.steps for r in run["strategy"].rebalances)


@pytest.mark.parametrize("method", ["hrp", "mean_cvar", "kelly"])
def test_turnover_per_rebalance_stays_under_the_cap(runs, method):
    run = runs[method]
    closes = _closes()
    snapshots = run["recorder"].snapshots
    limited = 0
    for record in run["strategy"].rebalances:
        before, after = snapshots.get(record.ts), _after(snapshots, record.ts)
        if before is None or after is None or "limits_over_turnover" in record.plan.steps:
            continue
        w0 = _book_weights(before, record.ts, record.equity, closes)
        w1 = _book_weights(after, record.ts, record.equity, closes)
        turnover = sum(abs(w1[i] - w0[i]) for i in w0)
        planned = float(np.abs(record.plan.target_weights - pd.Series(record.current_weights)).sum())
        assert planned <= LIMITS["max_turnover"] + TOL
        assert turnover <= LIMITS["max_turnover"] + TURNOVER_TOL
        limited += "turnover" in record.plan.steps
    assert limited >= 1  # the cap binds at least once (the first rebalance from flat moves 0.9)


@pytest.mark.parametrize("method", ["hrp", "mean_cvar", "kelly"])
def test_every_order_passed_the_gate_and_every_decision_is_published(runs, method):
    run = runs[method]
    strategy = run["strategy"]
    approved = sorted(
        (e.ts_init, str(e.instrument_id), e.approved_qty)
        for e in strategy.decision_events
        if e.approved_qty > 0
    )
    sent = sorted((o.ts_init, str(o.instrument_id), o.quantity.as_double()) for o in run["entry_orders"])

    assert sent == approved
    assert len(strategy.decisions) == len(strategy.intents) == len(strategy.decision_events)
    assert {e.action for e in strategy.decision_events} <= {"sized", "shrunk", "rejected"}
    published = sorted((e.ts_init, str(e.instrument_id), e.action) for e in run["recorder"].decisions)
    kept = sorted((e.ts_init, str(e.instrument_id), e.action) for e in strategy.decision_events)
    assert published == kept


def test_two_runs_give_the_same_fills(universe, returns_path, runs):
    again = run_portfolio(universe, returns_path, "hrp")

    assert again["fills"] == runs["hrp"]["fills"]
    assert len(again["fills"]) > 20


def test_halted_sends_no_order_and_leaves_the_book_open(universe, returns_path):
    run = run_portfolio(universe, returns_path, "hrp", halt_at=HALT_AT)
    strategy, recorder = run["strategy"], run["recorder"]
    halted_at = recorder.halted_at
    assert halted_at is not None

    before = [o for o in run["orders"] if o.ts_init < halted_at]
    after = [o for o in run["orders"] if o.ts_init >= halted_at]
    halted = [e for e in strategy.decision_events if e.ts_init >= halted_at]

    assert before and after == []
    assert halted and all(e.action == "halted" and e.approved_qty == 0.0 for e in halted)
    assert all(e.trading_state == "HALTED" for e in halted)
    assert not all(run["flat"].values())  # no closing order on stop while HALTED


def test_two_venues_trade_as_one_book_against_the_summed_equity(returns_path):
    run = run_portfolio(make_universe(TWO_VENUES), returns_path, "hrp")
    strategy = run["strategy"]

    assert {o.instrument_id.venue.value for o in run["entry_orders"]} == {"XNAS", "XNYS"}
    assert all(r.equity > 1_500_000 for r in strategy.rebalances)  # two 1M accounts
    assert_caps_hold(run, _closes(TWO_VENUES))
    assert all(run["flat"].values())


def test_reducing_from_the_risk_engine_only_shrinks_positions(universe, returns_path):
    run = run_portfolio(universe, returns_path, "hrp", reduce_at=REDUCE_AT)
    strategy, recorder = run["strategy"], run["recorder"]
    reduced_at = recorder.reduced_at
    assert reduced_at is not None
    snapshots = recorder.snapshots

    reducing = [r for r in strategy.rebalances if r.ts >= reduced_at]
    assert reducing
    for record in reducing:
        before, after = snapshots.get(record.ts), _after(snapshots, record.ts)
        if before is None or after is None:
            continue
        for instrument, quantity in after.items():
            assert abs(quantity) <= abs(before[instrument])
            assert quantity * before[instrument] >= 0.0  # never flips
    late = [d for d in strategy.decisions if d.trading_state == GateState.REDUCING]
    assert late and any(d.action in ("shrunk", "rejected") and "REDUCING" in d.reason for d in late)
    assert run["denied"] == []  # nothing reached NautilusTrader's RiskEngine that it had to deny


def test_cvar_budget_in_the_gate_shrinks_or_rejects_intents(universe, returns_path, tmp_path):
    instruments = universe[0]
    train = pd.read_parquet(returns_path)[list(SYMBOLS)]
    budget = CvarBudget(
        instruments=tuple(str(i.id) for i in instruments), scenarios=train.to_numpy(), budget=0.012
    )
    path = budget.save(tmp_path / "cvar.npz")

    run = run_portfolio(universe, returns_path, "hrp", cvar_scenarios_path=str(path))
    strategy = run["strategy"]
    cvar_limited = [d for d in strategy.decisions if "CVaR" in d.reason]

    assert strategy.gate.cvar is not None and strategy.gate.cvar.budget == 0.012
    assert cvar_limited and {d.action for d in cvar_limited} <= {"shrunk", "rejected"}
    approved = sorted(
        (e.ts_init, str(e.instrument_id), e.approved_qty)
        for e in strategy.decision_events
        if e.approved_qty > 0
    )
    sent = sorted((o.ts_init, str(o.instrument_id), o.quantity.as_double()) for o in run["entry_orders"])
    assert sent == approved
