"""Splitting a parent into TWAP and iceberg children: exact sums, minimum sizes, seeded jitter."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.execution.child_orders import (
    iceberg_children,
    lot_precision,
    merge_small,
    min_child_lots,
    round_targets,
    to_lots,
    twap_children,
)


def lots_of(children, lot):
    return [round(child.quantity / lot) for child in children]


def test_twap_splits_into_equal_slices_one_per_interval():
    children = twap_children(1.0, horizon_secs=600, interval_secs=60, lot=0.001)

    assert [c.offset_secs for c in children] == [60.0 * k for k in range(10)]
    assert [c.quantity for c in children] == [0.1] * 10


def test_twap_carries_the_rounding_residual_so_the_last_child_completes_the_parent():
    children = twap_children(0.01, horizon_secs=300, interval_secs=100, lot=0.001)

    assert lots_of(children, 0.001) == [3, 3, 4]
    assert math.fsum(c.quantity for c in children) == pytest.approx(0.01, abs=1e-12)


def test_twap_merges_slices_under_the_minimum_notional():
    # 0.010 BTC in 10 slices of 0.001 at 50,000 = 50 USDT each; the venue wants 100 USDT.
    children = twap_children(0.01, 600, 60, lot=0.001, min_notional=100.0, price=50_000.0)

    assert lots_of(children, 0.001) == [2, 2, 2, 2, 2]


def test_a_parent_under_the_minimum_stays_a_single_child():
    children = twap_children(0.003, 600, 60, lot=0.001, min_quantity=0.005)

    assert [c.quantity for c in children] == [0.003]


def test_twap_jitter_is_seeded_and_bounded():
    a = twap_children(10.0, 600, 60, lot=0.01, size_jitter=0.3, time_jitter=1.0, seed=7)
    b = twap_children(10.0, 600, 60, lot=0.01, size_jitter=0.3, time_jitter=1.0, seed=7)
    c = twap_children(10.0, 600, 60, lot=0.01, size_jitter=0.3, time_jitter=1.0, seed=8)

    assert a == b and a != c
    assert len({child.quantity for child in a}) > 1
    for k, child in enumerate(a):
        assert abs(child.offset_secs - 60.0 * k) <= 30.0 + 1e-9
    # a jitter of r then rescaling keeps each slice within (1 +- r) / (1 -+ r) of the mean
    assert all(1.0 * 0.7 / 1.3 - 0.01 <= child.quantity <= 1.0 * 1.3 / 0.7 + 0.01 for child in a)


def test_iceberg_shows_the_display_size_and_the_last_slice_takes_the_rest():
    children = iceberg_children(1.05, display_quantity=0.25, lot=0.01)

    assert [c.quantity for c in children] == [0.25, 0.25, 0.25, 0.25, 0.05]


def test_iceberg_merges_a_last_slice_under_the_minimum_into_the_one_before():
    children = iceberg_children(1.05, display_quantity=0.25, lot=0.01, min_quantity=0.1)

    assert [c.quantity for c in children] == [0.25, 0.25, 0.25, 0.3]


def test_iceberg_display_is_raised_to_the_minimum_size():
    children = iceberg_children(1.0, display_quantity=0.05, lot=0.01, min_quantity=0.2)

    assert [c.quantity for c in children] == [0.2] * 5


@pytest.mark.parametrize(
    ("call", "error", "field"),
    [
        (lambda: to_lots(0.0105, 0.001), DataError, "quantity"),
        (lambda: to_lots(-1.0, 0.001), DataError, "quantity"),
        (lambda: to_lots(1.0, 0.0), ConfigError, "lot"),
        (lambda: twap_children(1.0, 60, 120, 0.001), ConfigError, "interval_secs"),
        (lambda: twap_children(1.0, 600, 60, 0.001, size_jitter=1.5), ConfigError, "size_jitter"),
        (lambda: iceberg_children(1.0, 0.0, 0.001), ConfigError, "display_quantity"),
        (lambda: twap_children(0.0, 600, 60, 0.001), DataError, "quantity"),
    ],
)
def test_bad_inputs_raise_naming_the_field(call, error, field):
    with pytest.raises(error, match=field):
        call()


def test_helpers():
    assert lot_precision(0.001) == 3 and lot_precision(5.0) == 0 and lot_precision(1e-8) == 8
    assert min_child_lots(0.001, min_quantity=0.0025) == 3
    assert min_child_lots(0.001, min_notional=5.0, price=46_000.0) == 1
    assert min_child_lots(0.001, min_notional=100.0, price=46_000.0) == 3
    assert round_targets([0.4, 0.4, 0.4, 0.4, 0.4], 2) == [0, 0, 1, 0, 1]


@pytest.mark.parametrize(
    ("lots", "minimum", "merged", "kept_offsets"),
    [
        ([1, 0, 3, 1], 2, [5], [2.0]),
        ([1, 1, 1], 2, [3], [1.0]),
        ([5], 2, [5], [0.0]),
        ([1], 2, [1], [0.0]),
        ([2, 2, 1], 2, [2, 3], [0.0, 1.0]),
        ([1, 3, 2], 2, [4, 2], [1.0, 2.0]),
    ],
)
def test_merge_small_moves_small_children_forward_and_the_last_back(lots, minimum, merged, kept_offsets):
    result, offsets = merge_small(lots, [float(i) for i in range(len(lots))], minimum)

    assert (result, offsets) == (merged, kept_offsets)


lot_sizes = st.sampled_from([1.0, 0.1, 0.01, 0.001, 0.00001, 5.0])


@settings(max_examples=300, deadline=None)
@given(
    lot=lot_sizes,
    total_lots=st.integers(1, 100_000),
    intervals=st.integers(1, 120),
    min_lots=st.integers(1, 50),
    size_jitter=st.floats(0.0, 1.0),
    time_jitter=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_twap_children_sum_to_the_parent_and_respect_the_minimum(
    lot, total_lots, intervals, min_lots, size_jitter, time_jitter, seed
):
    quantity = round(total_lots * lot, lot_precision(lot))
    children = twap_children(
        quantity,
        horizon_secs=60.0 * intervals,
        interval_secs=60.0,
        lot=lot,
        min_quantity=min_lots * lot,
        size_jitter=size_jitter,
        time_jitter=time_jitter,
        seed=seed,
    )
    lots = lots_of(children, lot)

    assert sum(lots) == total_lots
    assert all(0 < k <= total_lots for k in lots)
    assert all(k >= min_lots for k in lots) or lots == [total_lots]
    assert len(children) <= intervals
    offsets = [c.offset_secs for c in children]
    assert offsets == sorted(offsets) and offsets[0] >= 0.0 and offsets[-1] < 60.0 * intervals


@settings(max_examples=300, deadline=None)
@given(
    lot=lot_sizes,
    total_lots=st.integers(1, 100_000),
    display_lots=st.integers(1, 5_000),
    min_lots=st.integers(1, 50),
    size_jitter=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_iceberg_children_sum_to_the_parent_and_respect_the_minimum(
    lot, total_lots, display_lots, min_lots, size_jitter, seed
):
    quantity = round(total_lots * lot, lot_precision(lot))
    children = iceberg_children(
        quantity, display_lots * lot, lot, min_quantity=min_lots * lot, size_jitter=size_jitter, seed=seed
    )
    lots = lots_of(children, lot)

    assert sum(lots) == total_lots
    assert all(0 < k <= total_lots for k in lots)
    assert all(k >= min_lots for k in lots) or lots == [total_lots]
    if size_jitter == 0.0:
        assert all(k >= max(display_lots, min_lots) for k in lots[:-1])
