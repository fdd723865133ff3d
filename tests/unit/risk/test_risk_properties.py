"""Property tests: after the risk layer no position, leverage, exposure or CVaR limit is exceeded.

Every test is seeded (``derandomize=True``): the same examples run on every machine.
"""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nautilus_ai.risk.cvar import cvar_check, portfolio_cvar
from nautilus_ai.risk.limits import RiskLimits, enforce_limits, limit_breaches
from nautilus_ai.risk.montecarlo import block_bootstrap_scenarios
from nautilus_ai.risk.portfolio import (
    AggregatorConfig,
    InstrumentRules,
    Signal,
    apply_turnover_limit,
    book_weights,
    rebalance_weights,
    sectors_of,
    weights_to_intents,
)
from nautilus_ai.risk.sizing import combine_size, round_to_instrument
from nautilus_ai.test_kit import read_stocknet_daily

SEEDED = settings(derandomize=True, database=None, deadline=None, max_examples=60)
SYMBOLS = ("AAPL", "MSFT", "GOOG", "XOM", "JPM", "BAC")
TOLERANCE = 1e-9

weights_strategy = st.lists(
    st.floats(-2.0, 2.0, allow_nan=False), min_size=len(SYMBOLS), max_size=len(SYMBOLS)
)
limits_strategy = st.builds(
    RiskLimits,
    max_position_weight=st.floats(0.01, 1.0),
    max_position_notional=st.one_of(st.just(math.inf), st.floats(1_000.0, 500_000.0)),
    max_group_weight=st.one_of(st.just(math.inf), st.floats(0.05, 1.0)),
    max_gross_leverage=st.floats(0.1, 3.0),
    max_net_leverage=st.floats(0.01, 2.0),
)
EQUITY = 1_000_000.0
GROUPS = sectors_of(list(SYMBOLS))


@pytest.fixture(scope="module")
def returns() -> pd.DataFrame:
    closes = pd.concat({s: read_stocknet_daily(s)["adj_close"] for s in SYMBOLS}, axis=1)
    return closes.pct_change().iloc[1:].iloc[-300:]


@pytest.fixture(scope="module")
def closes() -> pd.DataFrame:
    return pd.concat({s: read_stocknet_daily(s)["close"] for s in SYMBOLS}, axis=1).iloc[-60:]


@SEEDED
@given(weights=weights_strategy, limits=limits_strategy)
def test_enforced_book_breaks_no_limit_and_only_shrinks(weights, limits):
    raw = np.array(weights)

    out = enforce_limits(raw, limits, EQUITY, GROUPS)

    assert limit_breaches(out, limits, EQUITY, GROUPS) == []
    assert np.all(np.abs(out) <= np.abs(raw) + TOLERANCE)
    assert np.all(out * raw >= 0.0)  # never flips a side


@SEEDED
@given(
    current=weights_strategy,
    target=weights_strategy,
    limits=limits_strategy,
    max_turnover=st.floats(0.01, 4.0),
)
def test_turnover_limited_move_between_compliant_books_is_compliant(current, target, limits, max_turnover):
    start = enforce_limits(np.array(current), limits, EQUITY, GROUPS)
    goal = enforce_limits(np.array(target), limits, EQUITY, GROUPS)

    moved = apply_turnover_limit(start, goal, max_turnover)

    assert limit_breaches(moved, limits, EQUITY, GROUPS) == []
    assert np.abs(moved - start).sum() <= max_turnover + TOLERANCE


@settings(derandomize=True, database=None, deadline=None, max_examples=10)
@given(
    directions=st.lists(st.sampled_from((-1, 0, 1)), min_size=len(SYMBOLS), max_size=len(SYMBOLS)),
    probabilities=st.lists(st.floats(0.4, 1.0), min_size=len(SYMBOLS), max_size=len(SYMBOLS)),
    current=weights_strategy,
    limits=limits_strategy,
    method=st.sampled_from(("hrp", "mean_cvar", "kelly")),
    max_turnover=st.floats(0.05, 3.0),
)
def test_aggregator_output_breaks_no_limit_for_random_signals(
    returns, directions, probabilities, current, limits, method, max_turnover
):
    signals = {s: Signal(d, p) for s, d, p in zip(SYMBOLS, directions, probabilities, strict=True)}
    held = dict(zip(SYMBOLS, enforce_limits(np.array(current), limits, EQUITY, GROUPS), strict=True))
    config = AggregatorConfig(method=method, gross_target=2.0, max_turnover=max_turnover, limits=limits)

    plan = rebalance_weights(signals, returns, held, EQUITY, config)

    target = plan.target_weights.reindex(list(SYMBOLS)).to_numpy()
    assert limit_breaches(target, limits, EQUITY, GROUPS) == []
    assert np.abs(target - np.array(list(held.values()))).sum() <= max_turnover + TOLERANCE


@SEEDED
@given(
    current=weights_strategy,
    proposed=weights_strategy,
    budget=st.floats(0.002, 0.2),
    alpha=st.sampled_from((0.95, 0.99)),
)
def test_cvar_check_never_leaves_the_book_over_budget_unless_it_already_was(
    returns, current, proposed, budget, alpha
):
    scenarios = _bootstrap(returns)
    w0, w1 = np.array(current) * 0.5, np.array(proposed) * 0.5

    decision = cvar_check(w0, w1, scenarios, budget, alpha)
    allowed = w0 + decision.scale * (w1 - w0)
    after = portfolio_cvar(allowed, scenarios, alpha)

    assert after == pytest.approx(decision.cvar_after, abs=1e-12)
    if decision.cvar_before <= budget:
        assert after <= budget + 1e-12
    else:
        assert after <= decision.cvar_before + 1e-12
    assert decision.action == {1.0: "accept", 0.0: "reject"}.get(decision.scale, "shrink")


_SCENARIO_CACHE: dict[int, np.ndarray] = {}


def _bootstrap(returns: pd.DataFrame) -> np.ndarray:
    if id(returns) not in _SCENARIO_CACHE:
        _SCENARIO_CACHE[id(returns)] = block_bootstrap_scenarios(returns, 400, 5, 5.0, seed=42)
    return _SCENARIO_CACHE[id(returns)]


@SEEDED
@given(
    quantity=st.floats(-1e6, 1e6, allow_nan=False),
    price=st.floats(0.01, 1e5),
    lot_exponent=st.integers(-4, 2),
    min_quantity=st.floats(0.0, 100.0),
    min_notional=st.floats(0.0, 1e4),
)
def test_rounding_never_grows_the_quantity_nor_leaves_it_under_a_minimum(
    quantity, price, lot_exponent, min_quantity, min_notional
):
    lot = 10.0**lot_exponent
    precision = max(0, -lot_exponent)

    rounded = round_to_instrument(quantity, price, lot, min_quantity, min_notional, precision)

    assert abs(rounded) <= abs(quantity) * (1.0 + 1e-12) + 1e-9
    assert rounded == 0.0 or math.copysign(1.0, rounded) == math.copysign(1.0, quantity)
    if rounded != 0.0:
        assert abs(rounded) >= min_quantity
        assert abs(rounded) * price >= min_notional
        assert abs(rounded / lot - round(rounded / lot)) < 1e-6  # whole lots
        assert abs(quantity) - abs(rounded) < lot * (1.0 + 1e-9)  # rounds down by less than one lot


@SEEDED
@given(
    direction=st.sampled_from((-1, 0, 1)),
    probability=st.floats(0.0, 1.0),
    payoff=st.floats(0.2, 5.0),
    multiplier=st.floats(0.05, 1.0),
    volatility=st.floats(1e-4, 0.1),
    max_weight=st.floats(0.01, 2.0),
    max_notional=st.floats(1_000.0, 1e7),
)
def test_combined_size_never_exceeds_any_constraint(
    direction, probability, payoff, multiplier, volatility, max_weight, max_notional
):
    decision = combine_size(
        direction, probability, payoff, multiplier, volatility, 0.15, 252.0, EQUITY, max_weight, max_notional
    )

    assert all(abs(decision.weight) <= c + TOLERANCE for c in decision.candidates.values())
    assert abs(decision.weight) * EQUITY <= max_notional * (1.0 + 1e-12)
    assert decision.weight == 0.0 or np.sign(decision.weight) == direction


@settings(derandomize=True, database=None, deadline=None, max_examples=40)
@given(
    stream=st.lists(
        st.tuples(
            st.lists(st.sampled_from((-1, 0, 1)), min_size=len(SYMBOLS), max_size=len(SYMBOLS)),
            st.lists(st.floats(0.3, 0.95), min_size=len(SYMBOLS), max_size=len(SYMBOLS)),
        ),
        min_size=3,
        max_size=12,
    ),
    limits=limits_strategy,
    lot=st.sampled_from((1.0, 10.0, 100.0)),
)
def test_stream_of_signals_and_prices_never_breaks_a_limit(closes, stream, limits, lot):
    rules = {s: InstrumentRules(lot=lot, min_notional=500.0) for s in SYMBOLS}
    volatility = closes.pct_change().std().to_numpy()
    positions = dict.fromkeys(SYMBOLS, 0.0)
    equity = EQUITY
    previous_prices = None
    for step, (directions, probabilities) in enumerate(stream):
        prices = closes.iloc[10 + 3 * step].to_dict()
        if previous_prices is not None:  # mark to market the book held over the step
            equity += sum(positions[s] * (prices[s] - previous_prices[s]) for s in SYMBOLS)
        weights = [
            combine_size(d, p, 1.0, 0.5, v, 0.2, 252.0, equity, limits.max_position_weight).weight
            for d, p, v in zip(directions, probabilities, volatility, strict=True)
        ]
        target = enforce_limits(weights, limits, equity, GROUPS)

        intents = weights_to_intents(
            dict(zip(SYMBOLS, target, strict=True)),
            positions,
            equity,
            prices,
            rules,
            max_net_leverage=limits.max_net_leverage,
        )
        for symbol, intent in intents.items():  # fill every intent at the price
            positions[symbol] = intent.target_quantity

        book = book_weights(positions, prices, equity, rules)
        assert limit_breaches([book[s] for s in SYMBOLS], limits, equity, GROUPS) == []
        previous_prices = prices
