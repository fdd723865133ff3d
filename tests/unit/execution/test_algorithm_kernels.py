"""Pure parts of the execution algorithms: params, schedules, iceberg refresh and POV child sizes."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.execution.algorithms import (
    ChildFill,
    IcebergAlgorithm,
    IcebergConfig,
    ParentExecution,
    TWAPAlgorithm,
    TWAPConfig,
)
from nautilus_ai.execution.algorithms.base import due_lots, param_bool, param_choice, param_float, peg_price
from nautilus_ai.execution.algorithms.iceberg import next_slice_lots, refresh_decision
from nautilus_ai.execution.algorithms.pov import pov_child_lots
from nautilus_ai.execution.algorithms.twap import child_lots_due, slice_schedule
from nautilus_ai.execution.algorithms.vwap import load_volume_profile, save_volume_profile, vwap_slices
from nautilus_ai.execution.child_orders import iceberg_children, twap_children
from nautilus_ai.execution.volume_profile import VolumeProfile

# -- params ------------------------------------------------------------------------------------------


def test_param_float_names_the_missing_field():
    with pytest.raises(ConfigError, match=r"'horizon_secs'.*required"):
        param_float({}, "horizon_secs")


def test_param_float_rejects_text_and_out_of_bounds_values():
    with pytest.raises(ConfigError, match="must be a number"):
        param_float({"interval_secs": "soon"}, "interval_secs")
    with pytest.raises(ConfigError, match="must be > 0"):
        param_float({"interval_secs": 0}, "interval_secs", minimum=0.0, strict_minimum=True)
    with pytest.raises(ConfigError, match="must be <= 1"):
        param_float({"participation": 1.5}, "participation", maximum=1.0)
    assert param_float({"interval_secs": "30"}, "interval_secs") == 30.0


def test_param_choice_and_bool_accept_strings_and_refuse_others():
    assert param_choice({"child_type": "LIMIT"}, "child_type", "market", ("market", "limit")) == "limit"
    with pytest.raises(ConfigError, match="one of"):
        param_choice({"child_type": "stop"}, "child_type", "market", ("market", "limit"))
    assert param_bool({"post_only": "true"}, "post_only", False) is True
    assert param_bool({}, "post_only", False) is False
    with pytest.raises(ConfigError, match="boolean"):
        param_bool({"post_only": "maybe"}, "post_only", False)


def test_peg_price_moves_towards_the_far_side_when_positive():
    assert peg_price("BUY", 100.0, 100.5, 0, 0.25) == 100.0
    assert peg_price("BUY", 100.0, 100.5, 2, 0.25) == 100.5
    assert peg_price("SELL", 100.0, 100.5, 1, 0.25) == 100.25
    assert peg_price("SELL", 100.0, 100.5, -2, 0.25) == 101.0


def test_configs_refuse_unknown_policies():
    with pytest.raises(ConfigError, match="on_horizon_end"):
        TWAPAlgorithm(TWAPConfig(on_horizon_end="later"))
    with pytest.raises(ConfigError, match="max_retries"):
        IcebergAlgorithm(IcebergConfig(max_retries=-1))
    with pytest.raises(ConfigError, match="book_type"):
        TWAPAlgorithm(TWAPConfig(book_type="L4"))


# -- the per-parent record ----------------------------------------------------------------------------


def _record(side: str) -> ParentExecution:
    record = ParentExecution("P-1", "TWAP", "ESH4.GLBX", side, 10.0, arrival_ns=0, arrival_mid=100.0)
    record.fills += [ChildFill("P-1-E1", 1, 4.0, 101.0), ChildFill("P-1-E2", 2, 2.0, 104.0)]
    return record


def test_parent_execution_averages_fills_and_signs_the_shortfall():
    buy, sell = _record("BUY"), _record("SELL")
    assert buy.filled_qty == 6.0 and buy.leaves_qty == 4.0
    assert buy.avg_px == pytest.approx(102.0)
    assert buy.shortfall_bps == pytest.approx(200.0)  # paid 2% over the arrival mid
    assert sell.shortfall_bps == pytest.approx(-200.0)  # sold 2% over it: a gain
    assert not buy.is_done


def test_parent_execution_without_fills_has_no_price():
    record = ParentExecution("P-1", "POV", "X", "BUY", 5.0, arrival_ns=0)
    assert math.isnan(record.avg_px) and math.isnan(record.shortfall_bps)
    assert record.leaves_qty == 5.0


# -- TWAP / VWAP schedules ----------------------------------------------------------------------------


def test_slice_schedule_turns_offsets_into_times_and_lots():
    children = twap_children(10.0, horizon_secs=240, interval_secs=60, lot=1.0)
    times, lots = slice_schedule(1_000, children, 1.0)
    assert lots == [2, 3, 2, 3] and sum(lots) == 10
    assert times == [1_000 + k * 60_000_000_000 for k in range(4)]


def test_due_lots_sums_the_slices_whose_time_has_come():
    times, lots = [0, 10, 20], [2, 3, 5]
    assert [due_lots(times, lots, now) for now in (-1, 0, 15, 20, 99)] == [0, 2, 5, 10, 10]


def test_child_lots_due_rolls_back_unfilled_leaves_and_waits_under_the_minimum():
    assert child_lots_due(target_lots=5, filled_lots=2, working_lots=0, min_lots=1, total_lots=10) == 3
    assert child_lots_due(target_lots=5, filled_lots=2, working_lots=3, min_lots=1, total_lots=10) == 0
    assert child_lots_due(target_lots=5, filled_lots=3, working_lots=0, min_lots=3, total_lots=10) == 0
    assert child_lots_due(target_lots=10, filled_lots=9, working_lots=0, min_lots=3, total_lots=10) == 1
    assert child_lots_due(target_lots=12, filled_lots=0, working_lots=0, min_lots=1, total_lots=10) == 10


def _profile() -> VolumeProfile:
    return VolumeProfile("ESH4.GLBX", "UTC", 60, 0, tuple([0.25 / 12] * 12 + [0.75 / 12] * 12), 5, 10_000.0)


def test_vwap_slices_follow_the_profile_and_sum_to_the_parent():
    start = pd.Timestamp("2024-01-02 10:00", tz="UTC")
    times, lots, unscheduled = vwap_slices(
        40, 1.0, start, start + pd.Timedelta(hours=4), _profile(), 1.0, 1e6
    )
    assert unscheduled == 0 and sum(lots) == 40
    assert lots == [5, 5, 15, 15]  # shares 0.25/12 in hours 10-11, 0.75/12 in 12-13
    assert times[0] == start.value and times[1] - times[0] == 3_600_000_000_000


def test_vwap_slices_report_what_the_cap_leaves_unscheduled():
    start = pd.Timestamp("2024-01-02 11:00", tz="UTC")
    end = start + pd.Timedelta(hours=2)  # hours 11 (share 0.25/12) and 12 (0.75/12)
    _, lots, unscheduled = vwap_slices(100, 1.0, start, end, _profile(), 0.1, 2_000.0)
    assert lots == [4, 12]  # floor(0.1 * 2_000 * share)
    assert unscheduled == 100 - 16


def test_volume_profile_round_trips_through_json(tmp_path):
    path = save_volume_profile(_profile(), tmp_path / "profile.json")
    assert load_volume_profile(path) == _profile()


def test_loading_a_broken_profile_names_the_file_and_field(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_volume_profile(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"instrument_id": "X"}')
    with pytest.raises(DataError, match=r"broken\.json.*field 'timezone'"):
        load_volume_profile(broken)


# -- iceberg ---------------------------------------------------------------------------------------------


def test_refresh_waits_while_the_visible_slice_still_shows():
    assert (
        refresh_decision(child_closed=False, working_lots=1, remaining_lots=6, refresh="immediate") == "wait"
    )
    assert (
        refresh_decision(child_closed=True, working_lots=0, remaining_lots=0, refresh="immediate") == "wait"
    )


def test_refresh_rule_decides_now_or_later():
    assert refresh_decision(child_closed=True, working_lots=0, remaining_lots=6, refresh="immediate") == "now"
    assert refresh_decision(child_closed=True, working_lots=0, remaining_lots=6, refresh="delay") == "later"
    with pytest.raises(ConfigError, match="refresh"):
        refresh_decision(child_closed=True, working_lots=0, remaining_lots=6, refresh="whenever")


def test_next_slice_never_shows_more_than_the_display_nor_two_slices_at_once():
    slices = [3, 3, 3, 1]
    assert next_slice_lots(slices, 0, remaining_lots=10, working_lots=0, display_lots=3) == 3
    assert next_slice_lots(slices, 1, remaining_lots=7, working_lots=3, display_lots=3) == 0
    assert next_slice_lots(slices, 3, remaining_lots=1, working_lots=0, display_lots=3) == 1
    assert next_slice_lots(slices, 9, remaining_lots=2, working_lots=0, display_lots=3) == 1  # last size
    assert next_slice_lots(slices, 0, remaining_lots=0, working_lots=0, display_lots=3) == 0


def test_jittered_slices_are_cut_to_the_display():
    slices = [round(c.quantity) for c in iceberg_children(40.0, 4.0, 1.0, size_jitter=0.5, seed=7)]
    assert max(slices) > 4  # jitter alone would show more than the display
    shown = [next_slice_lots(slices, i, remaining_lots=40, working_lots=0, display_lots=4) for i in range(20)]
    assert max(shown) <= 4 and min(shown) >= 1


def test_iceberg_slices_are_display_sized_whole_lots():
    lots = [round(child.quantity) for child in iceberg_children(10.0, 3.0, 1.0)]
    assert lots == [3, 3, 3, 1]
    assert max(lots) <= 3


# -- POV -----------------------------------------------------------------------------------------------------


def test_pov_child_is_participation_times_volume_in_whole_lots():
    assert pov_child_lots(181.0, 0.05, 1.0, remaining_lots=30) == 9  # floor(9.05)
    assert pov_child_lots(100.0, 0.1, 0.001, remaining_lots=1_000_000) == 10_000
    assert pov_child_lots(0.0, 0.1, 1.0, remaining_lots=30) == 0


def test_pov_child_is_capped_by_the_remaining_quantity():
    assert pov_child_lots(1_000.0, 0.5, 1.0, remaining_lots=7) == 7
    assert pov_child_lots(1_000.0, 0.5, 1.0, remaining_lots=0) == 0


def test_pov_child_waits_under_the_minimum_size_unless_it_is_the_last():
    assert pov_child_lots(30.0, 0.1, 1.0, remaining_lots=30, min_lots=5) == 0
    assert pov_child_lots(30.0, 0.1, 1.0, remaining_lots=3, min_lots=5) == 3


def test_pov_refuses_a_participation_outside_the_unit_interval():
    with pytest.raises(ConfigError, match="participation"):
        pov_child_lots(10.0, 0.0, 1.0, remaining_lots=3)
    with pytest.raises(ConfigError, match="participation"):
        pov_child_lots(10.0, 1.2, 1.0, remaining_lots=3)
