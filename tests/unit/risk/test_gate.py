"""The RiskGate: the one pre-trade path. Examples, then seeded property tests on real StockNet prices."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.risk.cvar import portfolio_cvar
from nautilus_ai.risk.gate import BookSnapshot, CvarBudget, RiskGate, gate_limits, limit_interval
from nautilus_ai.risk.limits import RiskLimits
from nautilus_ai.risk.montecarlo import block_bootstrap_scenarios
from nautilus_ai.risk.portfolio import InstrumentRules
from nautilus_ai.risk.sizing import OrderIntent
from nautilus_ai.risk.state import GateState, GuardLimits, TradingStateCommand, escalate
from nautilus_ai.test_kit import read_stocknet_daily

SEEDED = settings(derandomize=True, database=None, deadline=None, max_examples=80)
SYMBOLS = ("AAPL", "MSFT", "XOM")
IDS = tuple(f"{s}.XNAS" for s in SYMBOLS)
EQUITY = 1_000_000.0
TOL = 1e-6


@pytest.fixture(scope="module")
def closes() -> np.ndarray:
    """Real daily closes of three StockNet stocks, ``(T, 3)``."""
    frames = [read_stocknet_daily(s)["close"] for s in SYMBOLS]
    joined = np.column_stack([f.to_numpy() for f in frames])
    return joined


@pytest.fixture(scope="module")
def scenarios(closes: np.ndarray) -> np.ndarray:
    """5-day block-bootstrap scenarios from the first 500 days (a training window), seeded."""
    returns = closes[1:500] / closes[:499] - 1.0
    return block_bootstrap_scenarios(returns, n_scenarios=400, horizon=5, block_length=5.0, seed=11)


def _intent(side: str, quantity: float) -> OrderIntent:
    return OrderIntent(side=side, quantity=quantity, target_quantity=0.0, reason="test")


# -- examples ---------------------------------------------------------------------------------------------


def test_halted_gate_approves_nothing():
    gate = RiskGate(state=GateState.HALTED)

    decision = gate.check(_intent("BUY", 10), IDS[0], 100.0, BookSnapshot(EQUITY))

    assert decision.action == "halted"
    assert decision.approved_qty == 0.0 and decision.intent is None
    assert "HALTED" in decision.reason


def test_within_limits_intent_is_sized_whole():
    gate = RiskGate(gate_limits(0.5, math.inf, 1.0, 1.0))

    decision = gate.check(_intent("BUY", 1_000), IDS[0], 100.0, BookSnapshot(EQUITY))

    assert decision.action == "sized"
    assert decision.approved_qty == 1_000
    assert decision.intent is not None and decision.intent.quantity == 1_000


def test_position_cap_shrinks_the_intent_to_the_cap():
    gate = RiskGate(gate_limits(0.2, math.inf, 1.0, 1.0))

    decision = gate.check(_intent("BUY", 5_000), IDS[0], 100.0, BookSnapshot(EQUITY))

    assert decision.action == "shrunk"
    assert decision.approved_qty == 2_000  # 20% of 1M at 100
    assert "position" in decision.reason


def test_notional_cap_binds_before_the_weight_cap():
    gate = RiskGate(gate_limits(0.5, 50_000.0, 1.0, 1.0))

    decision = gate.check(_intent("SELL", 5_000), IDS[0], 100.0, BookSnapshot(EQUITY))

    assert decision.approved_qty == 500


def test_gross_leverage_counts_the_other_positions_and_pending_orders():
    gate = RiskGate(gate_limits(1.0, math.inf, 1.0, 1.0))
    book = BookSnapshot(EQUITY, {IDS[1]: 600_000.0, IDS[2]: -300_000.0})

    decision = gate.check(_intent("BUY", 5_000), IDS[0], 100.0, book)

    assert decision.action == "shrunk"
    assert decision.approved_qty == 1_000  # 1M gross - 900k of others
    assert "gross_leverage" in decision.reason


def test_net_leverage_allows_a_hedge_but_caps_a_same_side_trade():
    gate = RiskGate(gate_limits(1.0, math.inf, 3.0, 0.5))
    book = BookSnapshot(EQUITY, {IDS[1]: 400_000.0})

    long = gate.check(_intent("BUY", 5_000), IDS[0], 100.0, book)
    short = gate.check(_intent("SELL", 5_000), IDS[0], 100.0, book)

    assert long.approved_qty == 1_000 and "net_leverage" in long.reason
    assert short.action == "sized" and short.approved_qty == 5_000


def test_reducing_rejects_growth_and_clips_a_flip_to_flat():
    gate = RiskGate(state=GateState.REDUCING)
    book = BookSnapshot(EQUITY, {IDS[0]: 100_000.0})  # long 1,000 at 100

    grow = gate.check(_intent("BUY", 10), IDS[0], 100.0, book)
    flip = gate.check(_intent("SELL", 1_500), IDS[0], 100.0, book)
    cut = gate.check(_intent("SELL", 400), IDS[0], 100.0, book)

    assert grow.action == "rejected" and "REDUCING" in grow.reason
    assert flip.action == "shrunk" and flip.approved_qty == 1_000
    assert cut.action == "sized" and cut.approved_qty == 400


def test_a_book_over_a_limit_may_shrink_but_not_grow():
    gate = RiskGate(gate_limits(0.2, math.inf, 1.0, 1.0))
    book = BookSnapshot(EQUITY, {IDS[0]: 300_000.0})  # a price move pushed it over 20%

    grow = gate.check(_intent("BUY", 10), IDS[0], 100.0, book)
    shrink = gate.check(_intent("SELL", 500), IDS[0], 100.0, book)

    assert grow.action == "rejected"
    assert shrink.action == "sized"


def test_quantities_are_rounded_down_to_the_lot_and_minimum():
    gate = RiskGate(gate_limits(0.2, math.inf, 1.0, 1.0))
    rules = InstrumentRules(lot=100.0, min_quantity=100.0, size_precision=0)

    capped = gate.check(_intent("BUY", 5_000), IDS[0], 130.0, BookSnapshot(EQUITY), rules)
    tiny = gate.check(_intent("BUY", 50), IDS[0], 130.0, BookSnapshot(EQUITY), rules)

    assert capped.approved_qty == 1_500  # 200k / 130 = 1538 -> 1500
    assert tiny.action == "rejected" and "rounding" in tiny.reason


def test_no_price_or_equity_is_rejected_with_the_reason():
    gate = RiskGate()

    no_price = gate.check(_intent("BUY", 1), IDS[0], math.nan, BookSnapshot(EQUITY))
    no_equity = gate.check(_intent("BUY", 1), IDS[0], 100.0, BookSnapshot(math.nan))

    assert no_price.action == "rejected" and "price" in no_price.reason
    assert no_equity.action == "rejected" and "equity" in no_equity.reason


def test_bad_intent_side_raises():
    with pytest.raises(DataError, match="side must be 'BUY' or 'SELL'"):
        RiskGate().check(_intent("HOLD", 1), IDS[0], 100.0, BookSnapshot(EQUITY))


def test_cvar_budget_shrinks_an_order_to_the_budget(closes, scenarios):
    budget = CvarBudget(IDS, scenarios, budget=0.02)
    gate = RiskGate(gate_limits(1.0, math.inf, 3.0, 3.0), cvar=budget)
    price = float(closes[499, 0])

    decision = gate.check(_intent("BUY", 9_000), IDS[0], price, BookSnapshot(EQUITY))

    assert decision.action == "shrunk" and "CVaR" in decision.reason
    weights = np.array([decision.approved_qty * price / EQUITY, 0.0, 0.0])
    assert portfolio_cvar(weights, scenarios) <= 0.02 + TOL
    more = np.array([(decision.approved_qty + 5) * price / EQUITY, 0.0, 0.0])
    assert portfolio_cvar(more, scenarios) > 0.02  # shrunk to the budget, not far below it


def test_cvar_budget_rejects_growth_of_a_book_already_over_budget(closes, scenarios):
    gate = RiskGate(gate_limits(2.0, math.inf, 3.0, 3.0), cvar=CvarBudget(IDS, scenarios, budget=0.01))
    price = float(closes[499, 1])
    book = BookSnapshot(EQUITY, {IDS[1]: 900_000.0})

    grow = gate.check(_intent("BUY", 100), IDS[1], price, book)
    cut = gate.check(_intent("SELL", 100), IDS[1], price, book)

    assert grow.action == "rejected" and "over budget" in grow.reason
    assert cut.action == "sized"


def test_cvar_budget_rejects_an_instrument_without_scenarios(scenarios):
    gate = RiskGate(cvar=CvarBudget(IDS, scenarios, budget=0.05))

    decision = gate.check(_intent("BUY", 1), "GE.XNAS", 20.0, BookSnapshot(EQUITY))

    assert decision.action == "rejected" and "no CVaR scenarios for GE.XNAS" in decision.reason


def test_cvar_budget_round_trips_through_a_file(tmp_path, scenarios):
    budget = CvarBudget(IDS, scenarios, budget=0.03, alpha=0.99)

    path = budget.save(tmp_path / "scenarios.npz")
    loaded = CvarBudget.load(path)
    overridden = CvarBudget.load(path, budget=0.05)

    assert loaded.instruments == IDS and loaded.budget == 0.03 and loaded.alpha == 0.99
    np.testing.assert_array_equal(loaded.scenarios, scenarios)
    assert overridden.budget == 0.05


def test_cvar_budget_refuses_mismatched_or_missing_scenarios(tmp_path, scenarios):
    with pytest.raises(DataError, match="do not match the 2 instruments"):
        CvarBudget(IDS[:2], scenarios, budget=0.05)
    with pytest.raises(ConfigError, match="budget must be a positive"):
        CvarBudget(IDS, scenarios, budget=0.0)
    with pytest.raises(DataError, match="does not exist"):
        CvarBudget.load(tmp_path / "missing.npz")


def test_limit_interval_always_holds_the_current_exposure():
    limits = RiskLimits(0.2, math.inf, math.inf, 1.0, 1.0)

    low, high, _ = limit_interval(500_000.0, EQUITY, limits, other_gross=900_000.0, other_net=0.0)

    assert low <= 500_000.0 <= high


# -- state rules ------------------------------------------------------------------------------------------


def test_escalation_goes_reducing_then_halted_and_never_back():
    limits = GuardLimits(reduce_drawdown=0.05, halt_drawdown=0.10, reduce_daily_loss=0.5, halt_daily_loss=0.9)

    reducing = escalate(GateState.ACTIVE, 0.06, 0.0, limits)
    halted = escalate(reducing.state, 0.11, 0.0, limits)
    recovered = escalate(halted.state, 0.0, 0.0, limits)

    assert reducing.state == GateState.REDUCING and "drawdown 6.00%" in reducing.reason
    assert halted.state == GateState.HALTED
    assert recovered.state == GateState.HALTED and recovered.reason == ""


def test_stale_data_halts_at_once():
    step = escalate(GateState.ACTIVE, 0.0, 0.0, GuardLimits(), stale_reason="stale model: no signal")

    assert step.state == GateState.HALTED and step.reason == "stale model: no signal"


def test_guard_limits_and_commands_refuse_bad_values():
    with pytest.raises(ConfigError, match="must not exceed its halt limit"):
        GuardLimits(reduce_drawdown=0.3, halt_drawdown=0.2)
    with pytest.raises(ConfigError, match="reduce_daily_loss must be a fraction"):
        GuardLimits(reduce_daily_loss=0.0)
    with pytest.raises(ConfigError, match="needs a reason"):
        TradingStateCommand(GateState.ACTIVE, "  ")


# -- properties on random streams of signals, prices and fills -----------------------------------------


@dataclass
class SimulatedBook:
    """Positions and pending (unfilled) orders per instrument; equity is cash plus marked positions."""

    cash: float = EQUITY
    positions: dict[str, float] = field(default_factory=dict)
    pending: dict[str, float] = field(default_factory=dict)

    def equity(self, prices: dict[str, float]) -> float:
        return self.cash + sum(q * prices[i] for i, q in self.positions.items())

    def snapshot(self, prices: dict[str, float]) -> BookSnapshot:
        exposures = {i: (self.positions.get(i, 0.0) + self.pending.get(i, 0.0)) * prices[i] for i in IDS}
        return BookSnapshot(self.equity(prices), exposures)

    def fill_all(self, prices: dict[str, float]) -> None:
        for i, q in self.pending.items():
            self.positions[i] = self.positions.get(i, 0.0) + q
            self.cash -= q * prices[i]
        self.pending.clear()


def _measures(book: BookSnapshot, instrument: str) -> dict[str, float]:
    values = np.array([book.exposure(i) for i in IDS]) / book.equity
    return {
        "position": abs(book.exposure(instrument)) / book.equity,
        "gross": float(np.abs(values).sum()),
        "net": abs(float(values.sum())),
    }


action_strategy = st.tuples(
    st.sampled_from(("signal", "signal", "signal", "move", "fill", "state")),
    st.integers(0, 2),  # instrument
    st.sampled_from(("BUY", "SELL")),
    st.integers(1, 20_000),  # quantity
    st.sampled_from(tuple(GateState)),
)


@SEEDED
@given(
    start=st.integers(0, 1_000),
    actions=st.lists(action_strategy, min_size=5, max_size=60),
    position_cap=st.floats(0.05, 1.0),
    gross_cap=st.floats(0.2, 2.0),
    net_cap=st.floats(0.1, 1.5),
    budget=st.one_of(st.none(), st.floats(0.01, 0.10)),
)
def test_no_limit_is_ever_made_worse_by_an_approved_order(
    closes, scenarios, start, actions, position_cap, gross_cap, net_cap, budget
):
    limits = gate_limits(position_cap, math.inf, gross_cap, net_cap)
    gate = RiskGate(limits, cvar=CvarBudget(IDS, scenarios, budget) if budget else None)
    book = SimulatedBook()
    day = start
    bounds = {"position": position_cap, "gross": gross_cap, "net": net_cap}
    for kind, index, side, quantity, state in actions:
        prices = dict(zip(IDS, closes[day].tolist(), strict=True))
        if kind == "move":
            day = min(day + 5, len(closes) - 1)
            continue
        if kind == "fill":
            book.fill_all(prices)
            continue
        if kind == "state":
            gate.set_state(state)
            continue
        instrument = IDS[index]
        before = book.snapshot(prices)
        decision = gate.check(_intent(side, quantity), instrument, prices[instrument], before)
        assert decision.approved_qty <= quantity
        if decision.intent is None:
            continue
        signed = decision.approved_qty if side == "BUY" else -decision.approved_qty
        book.pending[instrument] = book.pending.get(instrument, 0.0) + signed
        after = book.snapshot(prices)
        old, new = _measures(before, instrument), _measures(after, instrument)
        for name, bound in bounds.items():
            assert new[name] <= max(bound, old[name]) + TOL, (name, old[name], new[name], bound)
        if budget:
            weights_before = np.array([before.exposure(i) for i in IDS]) / before.equity
            weights_after = np.array([after.exposure(i) for i in IDS]) / after.equity
            cvar_before = portfolio_cvar(weights_before, scenarios)
            assert portfolio_cvar(weights_after, scenarios) <= max(budget, cvar_before) + 1e-4


@SEEDED
@given(
    start=st.integers(0, 1_000),
    actions=st.lists(action_strategy, min_size=5, max_size=60),
)
def test_after_a_halt_not_one_order_is_approved_and_reducing_only_reduces(closes, start, actions):
    gate = RiskGate(gate_limits(1.0, math.inf, 3.0, 3.0))
    book = SimulatedBook()
    for kind, index, side, quantity, state in actions:
        prices = dict(zip(IDS, closes[start].tolist(), strict=True))
        if kind == "fill":
            book.fill_all(prices)
            continue
        if kind == "state":
            gate.set_state(state)
            continue
        instrument = IDS[index]
        before = book.snapshot(prices).exposure(instrument)
        decision = gate.check(_intent(side, quantity), instrument, prices[instrument], book.snapshot(prices))
        if gate.state == GateState.HALTED:
            assert decision.action == "halted" and decision.intent is None
            continue
        if decision.intent is None:
            continue
        signed = decision.approved_qty if side == "BUY" else -decision.approved_qty
        book.pending[instrument] = book.pending.get(instrument, 0.0) + signed
        after = book.snapshot(prices).exposure(instrument)
        if gate.state == GateState.REDUCING:
            assert abs(after) <= abs(before) + TOL
            assert after * before >= 0.0  # never flips
