"""Decision tables of the sizing kernels: volatility-target weight, lot-rounded quantity, rebalance intent."""

import math

import pytest

from nautilus_ai.risk.sizing import OrderIntent, rebalance_intent, target_quantity, volatility_target_weight

DAILY = 252.0
ANNUAL_OF_ONE_PERCENT_DAILY = 0.01 * math.sqrt(DAILY)  # 0.1587...


@pytest.mark.parametrize(
    ("direction", "bar_vol", "target_vol", "max_weight", "expected"),
    [
        (1, 0.01, 0.10, 1.0, 0.10 / ANNUAL_OF_ONE_PERCENT_DAILY),
        (-1, 0.01, 0.10, 1.0, -0.10 / ANNUAL_OF_ONE_PERCENT_DAILY),
        (1, 0.02, 0.10, 1.0, 0.10 / (2 * ANNUAL_OF_ONE_PERCENT_DAILY)),
        (1, 0.001, 0.10, 1.0, 1.0),  # capped at max_weight
        (-1, 0.001, 0.10, 0.5, -0.5),  # capped, keeps the short sign
        (0, 0.01, 0.10, 1.0, 0.0),  # flat
        (1, 0.0, 0.10, 1.0, 0.0),  # zero volatility: unknown risk, no position
        (1, -0.01, 0.10, 1.0, 0.0),
        (1, math.nan, 0.10, 1.0, 0.0),
        (1, math.inf, 0.10, 1.0, 0.0),
    ],
)
def test_volatility_target_weight_decision_table(direction, bar_vol, target_vol, max_weight, expected):
    weight = volatility_target_weight(direction, bar_vol, target_vol, DAILY, max_weight)

    assert weight == pytest.approx(expected, rel=1e-12)


def test_volatility_target_weight_halves_when_volatility_doubles():
    low = volatility_target_weight(1, 0.01, 0.10, DAILY, 10.0)

    high = volatility_target_weight(1, 0.02, 0.10, DAILY, 10.0)

    assert high == pytest.approx(low / 2)


def test_volatility_target_weight_annualizes_with_periods_per_year():
    daily = volatility_target_weight(1, 0.01, 0.10, 252.0, 10.0)

    hourly = volatility_target_weight(1, 0.01, 0.10, 252.0 * 7, 10.0)

    assert hourly == pytest.approx(daily / math.sqrt(7))


@pytest.mark.parametrize(
    ("weight", "equity", "price", "multiplier", "lot", "expected"),
    [
        (0.5, 1_000_000.0, 100.0, 1.0, 1.0, 5_000.0),
        (0.5, 1_000_000.0, 300.0, 1.0, 1.0, 1_666.0),  # 1666.67 rounded towards zero
        (-0.5, 1_000_000.0, 300.0, 1.0, 1.0, -1_666.0),  # towards zero, not -1667
        (0.5, 1_000_000.0, 300.0, 1.0, 100.0, 1_600.0),  # whole lots of 100
        (-0.5, 1_000_000.0, 300.0, 1.0, 100.0, -1_600.0),
        (0.1234, 10_000.0, 100.0, 1.0, 0.1, 12.3),  # fractional lots
        (0.5, 1_000_000.0, 4_000.0, 50.0, 1.0, 2.0),  # contract multiplier: 2.5 contracts -> 2
        (0.00001, 1_000_000.0, 300.0, 1.0, 1.0, 0.0),  # below one lot
        (0.0, 1_000_000.0, 100.0, 1.0, 1.0, 0.0),
        (0.3, 1_000.0, 100.0, 1.0, 1.0, 3.0),  # 2.9999999999999996 in floats: not rounded down to 2
    ],
)
def test_target_quantity_rounds_towards_zero_to_the_lot(weight, equity, price, multiplier, lot, expected):
    quantity = target_quantity(weight, equity, price, multiplier, lot)

    assert quantity == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("equity", "price", "multiplier"),
    [
        (0.0, 100.0, 1.0),
        (-5_000.0, 100.0, 1.0),
        (1_000_000.0, 0.0, 1.0),
        (1_000_000.0, -1.0, 1.0),
        (1_000_000.0, 100.0, 0.0),
        (1_000_000.0, 100.0, -1.0),
    ],
)
def test_target_quantity_is_zero_for_non_positive_equity_price_or_multiplier(equity, price, multiplier):
    assert target_quantity(0.5, equity, price, multiplier, 1.0) == 0.0


def test_target_quantity_sign_follows_the_weight():
    assert target_quantity(0.5, 1e6, 100.0, 1.0, 1.0) > 0
    assert target_quantity(-0.5, 1e6, 100.0, 1.0, 1.0) < 0


@pytest.mark.parametrize(
    ("target", "current", "band", "lot", "expected"),
    [
        # opening from flat always trades (no "same side" band)
        (100.0, 0.0, 0.25, 1.0, ("BUY", 100.0)),
        (-100.0, 0.0, 0.25, 1.0, ("SELL", 100.0)),
        # going flat always trades, whatever the band
        (0.0, 100.0, 0.99, 1.0, ("SELL", 100.0)),
        (0.0, -100.0, 0.99, 1.0, ("BUY", 100.0)),
        # flips trade the whole distance
        (-50.0, 100.0, 0.99, 1.0, ("SELL", 150.0)),
        (80.0, -20.0, 0.99, 1.0, ("BUY", 100.0)),
        # same side within the band: no trade (band * |target|; the boundary is inside)
        (110.0, 100.0, 0.25, 1.0, None),
        (130.0, 100.0, 0.25, 1.0, None),  # |30| <= 0.25 * 130 = 32.5
        (80.0, 100.0, 0.25, 1.0, None),  # |20| <= 0.25 * 80 = 20
        (-130.0, -100.0, 0.25, 1.0, None),
        # same side beyond the band: trade the difference
        (140.0, 100.0, 0.25, 1.0, ("BUY", 40.0)),  # 40 > 35
        (70.0, 100.0, 0.25, 1.0, ("SELL", 30.0)),  # 30 > 17.5
        (-140.0, -100.0, 0.25, 1.0, ("SELL", 40.0)),
        # zero band: any change of at least one lot trades
        (101.0, 100.0, 0.0, 1.0, ("BUY", 1.0)),
        # sub-lot changes never trade
        (100.5, 100.0, 0.0, 1.0, None),
        (0.0, 0.5, 0.0, 1.0, None),
        (150.0, 100.0, 0.0, 100.0, None),
        (200.0, 100.0, 0.0, 100.0, ("BUY", 100.0)),
        # nothing to do
        (0.0, 0.0, 0.0, 1.0, None),
        (100.0, 100.0, 0.0, 1.0, None),
    ],
)
def test_rebalance_intent_decision_table(target, current, band, lot, expected):
    intent = rebalance_intent(target, current, band, lot, reason="test")

    if expected is None:
        assert intent is None
    else:
        side, quantity = expected
        assert intent == OrderIntent(side=side, quantity=quantity, target_quantity=target, reason="test")


def test_rebalance_intent_quantity_is_positive_and_reaches_the_target():
    intent = rebalance_intent(-300.0, 200.0, 0.25, 1.0, reason="flip")

    assert intent is not None
    signed = intent.quantity if intent.side == "BUY" else -intent.quantity
    assert intent.quantity > 0
    assert 200.0 + signed == intent.target_quantity == -300.0
    assert intent.reason == "flip"


def test_order_intent_is_immutable():
    intent = OrderIntent(side="BUY", quantity=1.0, target_quantity=1.0, reason="x")

    with pytest.raises(AttributeError):
        intent.quantity = 2.0  # type: ignore[misc]
