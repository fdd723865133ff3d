"""The order-type selector as a decision table: one row per rule, boundaries, monotonicity."""

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.execution.liquidity import LiquidityState
from nautilus_ai.execution.selector import (
    AGGRESSION,
    SelectorConfig,
    select_order_type,
    urgency_from_signal,
)

CONFIG = SelectorConfig(lot=0.001)


def state(
    spread_bps: float = 5.0,
    depth: float = 100.0,
    vpin: float = 0.3,
    typical_bar_volume: float = 1_000.0,
) -> LiquidityState:
    """A book with ``depth`` spread over 5 levels per side, best level 20% of it."""
    levels = (0.2 * depth,) * 5
    return LiquidityState(
        spread_bps=spread_bps,
        bid_depth=levels,
        ask_depth=levels,
        book_imbalance=0.0,
        microprice_drift_bps=0.0,
        vpin=vpin,
        volatility_bps=10.0,
        trade_intensity=3.0,
        typical_bar_volume=typical_bar_volume,
    )


# qty, urgency, horizon, liquidity -> rule, kind.  Typical bar volume 1000, depth 100 per side:
# small means qty <= 20 (2% of a bar) and <= 50 (half the depth).
DECISION_TABLE = [
    pytest.param(80.0, 0.96, 30, state(), "R1", "market", id="R1-immediate-fits-book"),
    pytest.param(10.0, 0.8, 30, state(), "R2", "market", id="R2-small-urgent"),
    pytest.param(10.0, 0.1, 30, state(vpin=0.8), "R2", "market", id="R2-small-toxic-patient"),
    pytest.param(10.0, 0.5, 30, state(spread_bps=1.0), "R3", "market", id="R3-small-tight-spread"),
    pytest.param(10.0, 0.5, 30, state(spread_bps=5.0), "R4", "limit", id="R4-small-wide-spread"),
    pytest.param(10.0, 0.1, 30, state(spread_bps=1.0), "R4", "limit", id="R4-small-patient-tight"),
    pytest.param(200.0, 0.1, 30, state(vpin=0.8), "R5", "twap", id="R5-large-toxic"),
    pytest.param(200.0, 0.8, 30, state(), "R5", "twap", id="R5-large-urgent"),
    pytest.param(200.0, 0.1, 30, state(), "R6", "iceberg", id="R6-large-patient-benign"),
    pytest.param(800.0, 0.1, 30, state(), "R7", "vwap", id="R7-too-large-for-iceberg"),
    pytest.param(200.0, 0.5, 30, state(), "R7", "vwap", id="R7-large-long-horizon"),
    pytest.param(200.0, 0.5, 5, state(), "R8", "twap", id="R8-large-short-horizon"),
    pytest.param(10.0, 0.5, 30, state(typical_bar_volume=0.0), "R7", "vwap", id="no-volume-is-large"),
    pytest.param(10.0, 0.96, 30, state(depth=0.0), "R5", "twap", id="R1-needs-a-book"),
]


@pytest.mark.parametrize(("qty", "urgency", "horizon", "liquidity", "rule", "kind"), DECISION_TABLE)
def test_each_rule_of_the_decision_table_fires_on_its_row(qty, urgency, horizon, liquidity, rule, kind):
    choice = select_order_type(qty, "BUY", liquidity, urgency, horizon, CONFIG)

    assert (choice.rule, choice.kind) == (rule, kind)
    assert choice.reason.startswith(rule)


BOUNDARIES = [
    # single_order_participation = 0.02 of 1000 = 20 (depth large so touch does not bind)
    pytest.param(20.0, 0.5, state(depth=1e6), "limit", id="p-at-bound-is-small"),
    pytest.param(20.001, 0.5, state(depth=1e6), "vwap", id="p-over-bound-is-large"),
    # max_touch_fraction = 0.5 of depth 30 = 15
    pytest.param(15.0, 0.5, state(depth=30.0), "limit", id="touch-at-bound-is-small"),
    pytest.param(15.001, 0.5, state(depth=30.0), "vwap", id="touch-over-bound-is-large"),
    # toxic_vpin = 0.6
    pytest.param(10.0, 0.5, state(vpin=0.6), "market", id="vpin-at-bound-is-toxic"),
    pytest.param(10.0, 0.5, state(vpin=0.599), "limit", id="vpin-under-bound-is-benign"),
    # tight_spread_bps = 2, patient_urgency = 0.3
    pytest.param(10.0, 0.5, state(spread_bps=2.0), "market", id="spread-at-bound-is-tight"),
    pytest.param(10.0, 0.29, state(spread_bps=2.0), "limit", id="patient-never-crosses-tight-spread"),
    # urgent_urgency = 0.7
    pytest.param(10.0, 0.7, state(), "market", id="urgency-at-urgent-bound"),
    pytest.param(10.0, 0.699, state(), "limit", id="urgency-under-urgent-bound"),
]


@pytest.mark.parametrize(("qty", "urgency", "liquidity", "kind"), BOUNDARIES)
def test_thresholds_are_inclusive_where_documented(qty, urgency, liquidity, kind):
    assert select_order_type(qty, "BUY", liquidity, urgency, 30, CONFIG).kind == kind


def test_sell_orders_measure_the_bid_side():
    thin_bids = dataclasses.replace(state(), bid_depth=(1.0,), ask_depth=(1e6,))

    assert select_order_type(10.0, "BUY", thin_bids, 0.5, 30, CONFIG).kind == "limit"
    assert select_order_type(10.0, "SELL", thin_bids, 0.5, 30, CONFIG).kind == "vwap"


def test_schedules_shorten_with_urgency_but_respect_the_participation_cap():
    slow = select_order_type(200.0, "BUY", state(), 0.4, 30, CONFIG)
    fast = select_order_type(200.0, "BUY", state(), 0.9, 30, CONFIG)
    capped = select_order_type(5_000.0, "BUY", state(), 0.9, 30, CONFIG)

    assert slow.params["horizon_bars"] == 18  # ceil(30 * 0.6)
    assert fast.params["horizon_bars"] == 3  # ceil(30 * 0.1) = 3 >= ceil(0.2 / 0.1) = 2
    assert capped.params["horizon_bars"] == 50  # 5 bars of volume at 10% participation
    assert fast.params["horizon_secs"] == 180.0 and fast.params["interval_secs"] == 60.0
    assert slow.params["participation_cap"] == 0.1


def test_iceberg_displays_half_the_joined_best_level_rounded_to_the_lot():
    choice = select_order_type(200.0, "BUY", state(depth=33.3333), 0.1, 30, CONFIG)

    assert choice.kind == "iceberg"
    assert choice.params["display_quantity"] == pytest.approx(3.333)  # 0.5 * 6.66666 down to 0.001


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"intent_qty": 0.0}, DataError, "intent_qty"),
        ({"side": "HOLD"}, DataError, "side"),
        ({"urgency": 1.5}, DataError, "urgency"),
        ({"horizon_bars": 0}, ConfigError, "horizon_bars"),
    ],
)
def test_bad_inputs_raise_naming_the_field(kwargs, error, field):
    args = {"intent_qty": 1.0, "side": "BUY", "liquidity": state(), "urgency": 0.5, "horizon_bars": 10}
    args.update(kwargs)

    with pytest.raises(error, match=field):
        select_order_type(**args)


def test_config_rejects_unordered_urgency_thresholds():
    with pytest.raises(ConfigError, match="patient_urgency"):
        SelectorConfig(patient_urgency=0.8, urgent_urgency=0.7)


def test_urgency_grows_with_confidence_and_falls_with_horizon():
    assert urgency_from_signal(0.5, 1) == 0.0
    assert urgency_from_signal(1.0, 1) == 1.0
    assert urgency_from_signal(0.8, 1) == pytest.approx(0.6)
    assert urgency_from_signal(0.8, 4, reference_horizon_bars=2) == pytest.approx(0.3)
    with pytest.raises(DataError, match="confidence"):
        urgency_from_signal(1.2, 1)


liquidity_states = st.builds(
    state,
    spread_bps=st.floats(0.0, 50.0),
    depth=st.floats(0.0, 5_000.0),
    vpin=st.floats(0.0, 1.0),
    typical_bar_volume=st.floats(0.0, 10_000.0),
)


@settings(max_examples=300, deadline=None)
@given(
    qty=st.floats(0.001, 20_000.0),
    urgencies=st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)),
    horizon=st.integers(1, 200),
    side=st.sampled_from(["BUY", "SELL"]),
    liquidity=liquidity_states,
)
def test_more_urgency_never_makes_the_choice_more_passive(qty, urgencies, horizon, side, liquidity):
    low, high = sorted(urgencies)

    calm = select_order_type(qty, side, liquidity, low, horizon, CONFIG)
    hurried = select_order_type(qty, side, liquidity, high, horizon, CONFIG)

    assert AGGRESSION[hurried.kind] >= AGGRESSION[calm.kind]
    if calm.kind in ("twap", "vwap") and hurried.kind in ("twap", "vwap"):
        assert hurried.params["horizon_bars"] <= calm.params["horizon_bars"]


@settings(max_examples=300, deadline=None)
@given(
    sizes=st.tuples(st.floats(0.001, 20_000.0), st.floats(0.001, 20_000.0)),
    urgency=st.floats(0.0, 1.0),
    horizon=st.integers(1, 200),
    side=st.sampled_from(["BUY", "SELL"]),
    liquidity=liquidity_states,
)
def test_larger_size_never_turns_an_algorithm_into_a_market_order(sizes, urgency, horizon, side, liquidity):
    small, large = sorted(sizes)

    before = select_order_type(small, side, liquidity, urgency, horizon, CONFIG)
    after = select_order_type(large, side, liquidity, urgency, horizon, CONFIG)

    if before.kind in ("twap", "vwap", "iceberg"):
        assert after.kind != "market"


def test_patient_schedules_rest_their_children_and_urgent_ones_take():
    urgent = select_order_type(50.0, "BUY", state(vpin=0.1), 0.8, 10, CONFIG)
    patient = select_order_type(50.0, "BUY", state(vpin=0.1), 0.5, 5, CONFIG)
    toxic = select_order_type(50.0, "BUY", state(vpin=0.9), 0.1, 5, CONFIG)
    assert urgent.rule == "R5" and urgent.params["child_type"] == "market"
    assert toxic.rule == "R5" and toxic.params["child_type"] == "market"
    assert patient.rule == "R8" and patient.params["child_type"] == "limit"
    assert patient.params["price_mode"] == "peg"
