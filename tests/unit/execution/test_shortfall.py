"""Implementation shortfall, price advantage and their aggregation (nautilus_ai.execution.shortfall)."""

import math

import pytest

from nautilus_ai.errors import DataError
from nautilus_ai.execution.shortfall import (
    Fill,
    ParentOutcome,
    by_policy,
    by_policy_and_bucket,
    by_policy_and_side,
    implementation_shortfall_bps,
    kind_mix,
    mean_se,
    paired_difference,
    price_advantage_bps,
    render_table,
    size_bucket,
    summarize,
)


def outcome(policy="market", parent=0, side="BUY", qty=10.0, mid=100.0, fills=((10.0, 100.01),), **kw):
    return ParentOutcome(
        policy=policy,
        parent=parent,
        side=side,
        quantity=qty,
        arrival_ns=0,
        arrival_mid=mid,
        fills=tuple(Fill(i, q, p) for i, (q, p) in enumerate(fills)),
        **kw,
    )


def test_shortfall_of_a_filled_buy_and_sell_by_hand():
    # buy 10 at 100.01 against a mid of 100: 1 bp cost; sell at 100.01: 1 bp gain
    assert outcome().shortfall_bps == pytest.approx(1.0)
    assert outcome(side="SELL").shortfall_bps == pytest.approx(-1.0)
    assert outcome().price_advantage_bps == pytest.approx(-1.0)
    assert outcome(side="SELL").price_advantage_bps == pytest.approx(1.0)


def test_shortfall_weights_fills_by_size():
    fills = ((2.0, 100.05), (8.0, 100.0))  # avg 100.01
    assert outcome(fills=fills).avg_px == pytest.approx(100.01)
    assert outcome(fills=fills).shortfall_bps == pytest.approx(1.0)


def test_unfilled_part_is_marked_at_the_end_mid():
    # half filled at the mid (no cost), half left while the mid rose 0.1 (10 bps): IS = 5 bps
    partial = outcome(fills=((5.0, 100.0),), end_mid=100.1)
    assert partial.fill_rate == pytest.approx(0.5)
    assert partial.shortfall_bps == pytest.approx(5.0)
    assert partial.price_advantage_bps == pytest.approx(0.0)
    # for a sell the rise is a gain foregone... and counted as negative cost
    assert outcome(side="SELL", fills=((5.0, 100.0),), end_mid=100.1).shortfall_bps == pytest.approx(-5.0)
    # without an end mid the opportunity cost is unknown
    assert math.isnan(outcome(fills=((5.0, 100.0),)).shortfall_bps)
    # nothing filled: only the opportunity cost; price advantage undefined
    empty = outcome(fills=(), end_mid=99.9)
    assert empty.shortfall_bps == pytest.approx(-10.0)
    assert math.isnan(empty.price_advantage_bps)


def test_invalid_records_raise_naming_the_field():
    with pytest.raises(DataError, match="side"):
        outcome(side="HOLD")
    with pytest.raises(DataError, match="arrival_mid"):
        outcome(mid=0.0)
    with pytest.raises(DataError, match="fills"):
        outcome(fills=((11.0, 100.0),))
    with pytest.raises(DataError, match="fills"):
        outcome(fills=((1.0, -1.0),))
    with pytest.raises(DataError, match="quantity"):
        implementation_shortfall_bps("BUY", 0.0, 100.0, [])
    with pytest.raises(DataError, match="side"):
        price_advantage_bps("X", 1.0, 1.0)


def test_size_buckets():
    edges = (1, 5, 20)
    assert [size_bucket(q, edges) for q in (1, 2, 5, 6, 20, 50)] == [
        "<=1",
        "(1,5]",
        "(1,5]",
        "(5,20]",
        "(5,20]",
        ">20",
    ]
    with pytest.raises(DataError, match="edges"):
        size_bucket(1, (5, 5))
    with pytest.raises(DataError, match="edges"):
        size_bucket(1, ())


def test_mean_se_drops_nan_and_matches_the_formula():
    mean, se = mean_se([1.0, 2.0, 3.0, math.nan])
    assert mean == pytest.approx(2.0)
    assert se == pytest.approx(1.0 / math.sqrt(3))
    assert math.isnan(mean_se([4.0])[1])
    assert all(math.isnan(v) for v in mean_se([]))


def test_summarize_per_policy_bucket_and_side():
    outcomes = [
        outcome("market", 0, qty=1.0, fills=((1.0, 100.02),), children=1),  # 2 bps
        outcome("market", 1, qty=50.0, fills=((50.0, 100.04),), children=1),  # 4 bps
        outcome("twap", 0, qty=1.0, fills=((1.0, 100.0),), children=1),  # 0
        outcome("twap", 1, qty=50.0, fills=((25.0, 99.99),), end_mid=100.01, children=5),  # -0.5+0.5 = 0
    ]
    rows = {row.key: row for row in summarize(outcomes, by_policy)}
    market, twap = rows[("market",)], rows[("twap",)]
    assert (market.n, market.shortfall_mean, market.shortfall_median) == (
        2,
        pytest.approx(3.0),
        pytest.approx(3.0),
    )
    assert market.shortfall_se == pytest.approx(1.0)
    assert market.fill_rate == 1.0 and market.completed == 2 and market.children_mean == 1.0
    assert twap.shortfall_mean == pytest.approx(0.0)
    assert twap.fill_rate == pytest.approx(26.0 / 51.0)
    assert twap.completed == 1 and twap.children_mean == 3.0
    assert twap.advantage_mean == pytest.approx(0.5)  # 0 and +1 bp on the filled parts
    buckets = {row.key for row in summarize(outcomes, by_policy_and_bucket((1, 5, 20)))}
    assert buckets == {("market", "<=1"), ("market", ">20"), ("twap", "<=1"), ("twap", ">20")}
    sides = summarize([*outcomes, outcome("market", 2, side="SELL")], by_policy_and_side)
    assert [row.key for row in sides] == [("market", "BUY"), ("twap", "BUY"), ("market", "SELL")]
    table = render_table(summarize(outcomes), ["policy"])
    assert "| market | 2 | 3.00 ± 1.00 | 3.00 |" in table


def test_paired_difference_matches_parents_and_sets():
    outcomes = [
        outcome("selector", 0, fills=((10.0, 100.01),), extra={"set": "a"}),  # 1 bp
        outcome("market", 0, fills=((10.0, 100.03),), extra={"set": "a"}),  # 3 bps
        outcome("selector", 0, fills=((10.0, 100.02),), extra={"set": "b"}),  # 2 bps
        outcome("market", 0, fills=((10.0, 100.02),), extra={"set": "b"}),  # 2 bps
        outcome("selector", 1, fills=((10.0, 100.02),), extra={"set": "b"}),  # unmatched
    ]
    mean, se, n = paired_difference(outcomes, "selector", "market")
    assert n == 2
    assert mean == pytest.approx(-1.0)
    assert se == pytest.approx(1.0)


def test_kind_mix_counts_the_selector_choices():
    outcomes = [outcome("selector", i, kind=k) for i, k in enumerate(["twap", "market", "twap"])]
    outcomes.append(outcome("market", 0, kind="market"))
    assert kind_mix(outcomes) == {"twap": 2, "market": 1}
