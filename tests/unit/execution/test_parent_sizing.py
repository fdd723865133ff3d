"""Sizing a risk-approved parent: rounding, venue minimums, participation cap, children per bar."""

import math
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from nautilus_trader.test_kit.providers import TestInstrumentProvider

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.execution.sizing import REASONS, ParentSizing, size_parent, split_lots
from nautilus_ai.risk.portfolio import InstrumentRules
from nautilus_ai.strategies.gated_orders import instrument_rules

BTC_PERP = instrument_rules(TestInstrumentProvider.btcusdt_perp_binance())  # lot 0.001, min 10 USDT
BTC_SPOT = instrument_rules(TestInstrumentProvider.btcusdt_binance())  # lot 1e-6, min 10 USDT
ES = InstrumentRules(lot=1.0, min_quantity=1.0, min_notional=0.0, size_precision=0, multiplier=50.0)
LOT_100 = InstrumentRules(lot=100.0, min_quantity=100.0, min_notional=0.0, size_precision=0)


def lots(result: ParentSizing) -> list[int]:
    return [round(child / result.lot) for child in result.children]


CASES = [
    # id, quantity, price, rules, cap, bar volume, max_children, children, shortfall, reasons
    (
        "crypto fractional lots, cap not binding",
        0.0257,
        50_000.0,
        BTC_PERP,
        0.1,
        10.0,
        None,
        (0.025,),
        0.0,
        ("rounded_down",),
    ),
    (
        "crypto cap binding splits into equal bars",
        0.5,
        50_000.0,
        BTC_PERP,
        0.1,
        2.0,
        None,
        (0.167, 0.167, 0.166),
        0.0,
        ("cap_binding",),
    ),
    (
        "crypto micro lots",
        0.0012345,
        40_000.0,
        BTC_SPOT,
        0.05,
        0.01,
        None,
        (0.000412, 0.000411, 0.000411),
        0.0,
        ("rounded_down", "cap_binding"),
    ),
    (
        "crypto under one lot gives no order",
        0.0002,
        40_000.0,
        BTC_PERP,
        0.1,
        10.0,
        None,
        (),
        0.0,
        ("rounded_down", "zero_quantity"),
    ),
    (
        "crypto min notional binds, not the lot",
        0.0002,
        40_000.0,
        BTC_SPOT,
        0.1,
        10.0,
        None,
        (),
        0.0,
        ("below_min_notional",),
    ),
    ("one-lot futures contract", 1.0, 4_800.0, ES, 0.1, 1_000.0, None, (1.0,), 0.0, ()),
    (
        "futures below one contract rounds to nothing",
        0.9,
        4_800.0,
        ES,
        0.1,
        1_000.0,
        None,
        (),
        0.0,
        ("rounded_down", "zero_quantity"),
    ),
    ("futures cap binding", 25.0, 4_800.0, ES, 0.1, 100.0, None, (9.0, 8.0, 8.0), 0.0, ("cap_binding",)),
    (
        "futures max children leaves a shortfall",
        25.0,
        4_800.0,
        ES,
        0.1,
        100.0,
        2,
        (10.0, 10.0),
        5.0,
        ("cap_binding", "max_children_binding"),
    ),
    (
        "cap under one contract gives no order",
        3.0,
        4_800.0,
        ES,
        0.01,
        50.0,
        None,
        (),
        3.0,
        ("cap_below_minimum",),
    ),
    ("unknown volume: one child, no cap", 7.0, 4_800.0, ES, 0.1, 0.0, None, (7.0,), 0.0, ("volume_unknown",)),
    (
        "board lots: under the min quantity",
        99.0,
        10.0,
        LOT_100,
        0.5,
        10_000.0,
        None,
        (),
        0.0,
        ("rounded_down", "zero_quantity"),
    ),
    (
        "min quantity above the lot",
        0.004,
        50_000.0,
        InstrumentRules(lot=0.001, min_quantity=0.005, min_notional=0.0, size_precision=3),
        0.1,
        1.0,
        None,
        (),
        0.0,
        ("below_min_quantity",),
    ),
    (
        "remainder too small for a child",
        11.0,
        1.0,
        InstrumentRules(lot=1.0, min_quantity=8.0, min_notional=0.0, size_precision=0),
        0.1,
        100.0,
        None,
        (10.0,),
        1.0,
        ("remainder_below_minimum",),
    ),
    ("zero quantity", 0.0, 100.0, ES, 0.1, 100.0, None, (), 0.0, ("zero_quantity",)),
]


@pytest.mark.parametrize(
    ("quantity", "price", "rules", "cap", "volume", "max_children", "children", "shortfall", "reasons"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_size_parent_table(quantity, price, rules, cap, volume, max_children, children, shortfall, reasons):
    extra = {} if max_children is None else {"max_children": max_children}
    result = size_parent(quantity, price, rules, cap, volume, **extra)

    assert result.children == pytest.approx(children, abs=1e-12)
    assert result.shortfall == pytest.approx(shortfall, abs=1e-12)
    assert result.reasons == reasons
    assert result.quantity == pytest.approx(math.fsum(result.children), abs=1e-12)
    assert result.rounded <= quantity
    assert set(result.reasons) <= set(REASONS)
    assert result.is_empty == (not children)
    assert result.bars == len(children)


def test_never_rounds_up_past_the_approved_size_even_when_the_minimum_is_larger():
    rules = InstrumentRules(lot=1.0, min_quantity=5.0, min_notional=0.0, size_precision=0)

    result = size_parent(4.0, 10.0, rules, 1.0, 1_000.0)

    assert result.quantity == 0.0
    assert result.children == ()
    assert result.reasons == ("below_min_quantity",)


def test_cap_quantity_is_the_participation_share_of_a_bar_in_whole_lots():
    result = size_parent(1.0, 50_000.0, BTC_PERP, 0.1, 2.345)

    assert result.cap_quantity == pytest.approx(0.234)
    assert max(result.children) <= result.cap_quantity


def test_min_notional_sets_the_smallest_child_under_a_tight_cap():
    # a child must hold 10 USDT = 0.0002 BTC at 50,000; a cap of 0.0001 BTC per bar cannot
    result = size_parent(0.01, 50_000.0, BTC_SPOT, 0.01, 0.01)

    assert result.children == ()
    assert result.reasons == ("cap_below_minimum",)
    assert result.shortfall == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"quantity": -1.0}, DataError, "quantity"),
        ({"quantity": math.nan}, DataError, "quantity"),
        ({"price": 0.0}, DataError, "price"),
        ({"typical_bar_volume": -5.0}, DataError, "typical_bar_volume"),
        ({"typical_bar_volume": math.inf}, DataError, "typical_bar_volume"),
        ({"participation_cap": 0.0}, ConfigError, "participation_cap"),
        ({"participation_cap": 1.5}, ConfigError, "participation_cap"),
        ({"max_children": 0}, ConfigError, "max_children"),
        ({"rules": InstrumentRules(lot=0.001, size_precision=2)}, ConfigError, "size_precision"),
        ({"rules": InstrumentRules(lot=0.0)}, ConfigError, "lot"),
        ({"rules": InstrumentRules(multiplier=0.0)}, ConfigError, "multiplier"),
    ],
)
def test_bad_inputs_raise_naming_the_field(kwargs, error, field):
    arguments: dict[str, Any] = {
        "quantity": 1.0,
        "price": 100.0,
        "rules": ES,
        "participation_cap": 0.1,
        "typical_bar_volume": 100.0,
    }
    arguments.update(kwargs)

    with pytest.raises(error, match=field):
        size_parent(**arguments)


def test_split_lots_is_near_equal_largest_first():
    assert split_lots(25, 10) == [9, 8, 8]
    assert split_lots(30, 10) == [10, 10, 10]
    assert split_lots(3, 10) == [3]
    assert split_lots(2, 10, min_lots=3) == []
    with pytest.raises(ConfigError):
        split_lots(10, 2, min_lots=3)


RULES = st.sampled_from(
    [
        BTC_PERP,
        BTC_SPOT,
        ES,
        LOT_100,
        InstrumentRules(lot=0.01, min_quantity=0.05, min_notional=25.0, size_precision=2, multiplier=10.0),
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    rules=RULES,
    quantity=st.floats(0.0, 5_000.0, allow_nan=False),
    price=st.floats(0.01, 1e5),
    cap=st.floats(0.001, 1.0),
    volume=st.one_of(st.just(0.0), st.floats(1e-4, 1e7)),
    max_children=st.integers(1, 2_000),
)
def test_children_are_whole_lots_within_the_cap_and_sum_to_the_scheduled_total(
    rules, quantity, price, cap, volume, max_children
):
    result = size_parent(quantity, price, rules, cap, volume, max_children=max_children)

    assert result.rounded <= quantity + 1e-9
    child_lots = [child / rules.lot for child in result.children]
    assert all(abs(k - round(k)) < 1e-6 for k in child_lots)
    scheduled = sum(round(k) for k in child_lots)
    assert scheduled * rules.lot == pytest.approx(result.quantity, rel=1e-9, abs=1e-9)
    assert result.quantity + result.shortfall == pytest.approx(result.rounded, rel=1e-9, abs=1e-9)
    assert all(child <= result.cap_quantity + 1e-9 for child in result.children)
    if result.children:
        smallest = min(result.children)
        assert smallest >= rules.min_quantity - 1e-9
        assert smallest * price * rules.multiplier >= rules.min_notional * (1 - 1e-9)
        assert list(result.children) == sorted(result.children, reverse=True)
        assert max(child_lots) - min(child_lots) <= 1 + 1e-6 or "max_children_binding" in result.reasons
    assert len(result.children) <= max_children
    if result.shortfall == 0.0 and result.rounded > 0.0:
        assert result.quantity == pytest.approx(result.rounded)


@settings(max_examples=200, deadline=None)
@given(total=st.integers(0, 10_000), cap=st.integers(1, 500), min_lots=st.integers(1, 50))
def test_split_lots_never_exceeds_the_total_or_the_cap(total, cap, min_lots):
    assume(min_lots <= cap)

    parts = split_lots(total, cap, min_lots)

    assert sum(parts) <= total
    assert all(min_lots <= k <= cap for k in parts)
    if total >= min_lots and total >= math.ceil(total / cap) * min_lots:
        assert sum(parts) == total
