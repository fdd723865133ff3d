"""TWAP, VWAP, iceberg and POV in a BacktestEngine on the real ESH4 market-by-order book (Databento).

Every run replays the L3 book of 2023-12-25 up to 23:08 UTC (the CME Globex open is 23:00) with the
trades printed from 23:00 on an ``L3_MBO`` venue; one parent is submitted at 23:01 and routed to the
algorithm under test. Each run takes well under a second.
"""

from __future__ import annotations

from itertools import pairwise

import pandas as pd
import pytest
from algo_harness import SUBMIT_AT, es_slice, run_parent
from nautilus_trader.model.enums import OrderStatus, OrderType, TradingState

from nautilus_ai.execution.algorithms import (
    IcebergAlgorithm,
    IcebergConfig,
    POVAlgorithm,
    POVConfig,
    TWAPAlgorithm,
    TWAPConfig,
    VWAPAlgorithm,
    VWAPConfig,
)
from nautilus_ai.execution.algorithms.vwap import save_volume_profile, vwap_slices
from nautilus_ai.execution.volume_profile import learn_volume_profile

NS = 1_000_000_000
PASSIVE = {"child_type": "limit", "price_mode": "peg", "limit_offset_ticks": -8}  # 8 ticks behind the touch


def _book_kwargs():
    return {"book_instrument_ids": [es_slice().instrument.id], "book_type": "L3_MBO"}


def _assert_whole_lot_children(run):
    assert run.children, "no child was spawned"
    for child in run.children:
        assert child.exec_spawn_id == run.strategy.parent_id
        assert child.quantity.as_double() == int(child.quantity.as_double()) > 0


def _total_filled(run) -> float:
    return sum(child.filled_qty.as_double() for child in run.children)


# -- TWAP ----------------------------------------------------------------------------------------


def test_twap_spawns_equal_whole_lot_children_that_fill_the_parent():
    run = run_parent(
        TWAPAlgorithm(TWAPConfig(**_book_kwargs())), "TWAP", {"horizon_secs": 300, "interval_secs": 60}, 10
    )

    _assert_whole_lot_children(run)
    assert [c.quantity.as_double() for c in run.children] == [2.0] * 5
    sent = [c.ts_init for c in run.children]
    assert [t - sent[0] for t in sent] == [k * 60 * NS for k in range(5)]
    assert sent[0] == SUBMIT_AT.value
    assert _total_filled(run) == 10.0
    record = run.execution
    assert record.status == "filled" and record.filled_qty == 10.0 and record.leaves_qty == 0.0
    assert record.arrival_mid > 0 and record.avg_px > 0
    assert run.parent.is_closed


def test_twap_cancel_policy_cancels_the_residual_at_the_horizon_end():
    params = {"horizon_secs": 240, "interval_secs": 60, "on_horizon_end": "cancel", **PASSIVE}
    run = run_parent(TWAPAlgorithm(TWAPConfig(**_book_kwargs())), "TWAP", params, 10)

    _assert_whole_lot_children(run)
    assert all(child.order_type == OrderType.LIMIT for child in run.children)
    assert all(child.status == OrderStatus.CANCELED for child in run.children)
    horizon_end = SUBMIT_AT.value + 240 * NS
    assert max(child.ts_init for child in run.children) < horizon_end
    record = run.execution
    assert record.status == "canceled"
    assert record.filled_qty == _total_filled(run) < 10.0
    assert run.parent.status == OrderStatus.CANCELED


def test_twap_finish_policy_sends_the_residual_at_market():
    params = {"horizon_secs": 240, "interval_secs": 60, "on_horizon_end": "finish", **PASSIVE}
    run = run_parent(TWAPAlgorithm(TWAPConfig(**_book_kwargs())), "TWAP", params, 10)

    _assert_whole_lot_children(run)
    last = run.children[-1]
    assert last.order_type == OrderType.MARKET and last.ts_init >= SUBMIT_AT.value + 240 * NS
    assert _total_filled(run) == 10.0
    assert run.execution.status == "filled"


def test_rejected_children_are_retried_up_to_the_limit_then_the_parent_stops():
    # post-only limits 8 ticks through the touch would take liquidity: the matching engine rejects them
    params = {
        "horizon_secs": 240,
        "interval_secs": 60,
        "child_type": "limit",
        "price_mode": "peg",
        "limit_offset_ticks": 8,
        "post_only": True,
        "max_retries": 2,
    }
    run = run_parent(TWAPAlgorithm(TWAPConfig(**_book_kwargs())), "TWAP", params, 10)

    assert [child.status for child in run.children] == [OrderStatus.REJECTED] * 3
    record = run.execution
    assert record.rejected == 3 and record.retries == 2
    assert record.status == "failed" and "POST_ONLY" in record.reason
    assert run.parent.is_closed


@pytest.mark.parametrize(
    ("algorithm", "params", "field"),
    [
        (TWAPAlgorithm, {"horizon_secs": 30, "interval_secs": 60}, "interval_secs"),
        (TWAPAlgorithm, {"interval_secs": 60}, "horizon_secs"),
        (IcebergAlgorithm, {"refresh": "immediate"}, "display_qty"),
        (POVAlgorithm, {"participation": 2, "interval_secs": 30, "horizon_secs": 60}, "participation"),
        (
            TWAPAlgorithm,
            {"horizon_secs": 60, "interval_secs": 30, "on_horizon_end": "later"},
            "on_horizon_end",
        ),
    ],
)
def test_bad_params_deny_the_parent_and_name_the_field(algorithm, params, field):
    algo_id = {TWAPAlgorithm: "TWAP", IcebergAlgorithm: "ICEBERG", POVAlgorithm: "POV"}[algorithm]
    run = run_parent(algorithm(), algo_id, params, 10, limit_ticks_from_mid=-2)

    assert run.children == []
    assert run.parent.status == OrderStatus.DENIED
    assert run.execution.status == "denied" and field in run.execution.reason
    assert "OrderDenied" in run.strategy.parent_events


# -- halting ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("halt_via", ["risk_engine", "topic"])
def test_halting_mid_run_cancels_working_children_and_sends_no_more(halt_via):
    halt_at = SUBMIT_AT + pd.Timedelta(seconds=150)
    params = {"horizon_secs": 300, "interval_secs": 60, **PASSIVE}
    run = run_parent(
        TWAPAlgorithm(TWAPConfig(**_book_kwargs())),
        "TWAP",
        params,
        10,
        halt_at=halt_at.isoformat(),
        halt_via=halt_via,
    )

    assert len(run.children) == 3  # slices at +0, +60 and +120 s; none after the halt
    assert max(child.ts_init for child in run.children) < halt_at.value
    assert all(child.is_closed for child in run.children)
    assert run.children[-1].status == OrderStatus.CANCELED
    record = run.execution
    assert record.status == "halted" and "HALTED" in record.reason
    assert run.algorithm.is_halted and run.parent.is_closed
    if halt_via == "risk_engine":
        assert run.engine.kernel.risk_engine.trading_state == TradingState.HALTED


def test_parents_are_accepted_again_once_trading_is_active():
    run = run_parent(
        TWAPAlgorithm(TWAPConfig(**_book_kwargs())),
        "TWAP",
        {"horizon_secs": 120, "interval_secs": 60},
        4,
        halt_at=(SUBMIT_AT - pd.Timedelta(seconds=40)).isoformat(),
        resume_at=(SUBMIT_AT - pd.Timedelta(seconds=20)).isoformat(),
    )

    assert not run.algorithm.is_halted
    assert run.execution.status == "filled" and _total_filled(run) == 4.0


def test_a_parent_arriving_while_halted_is_denied():
    halt_at = SUBMIT_AT - pd.Timedelta(seconds=30)
    run = run_parent(
        TWAPAlgorithm(TWAPConfig(**_book_kwargs())),
        "TWAP",
        {"horizon_secs": 120, "interval_secs": 60},
        4,
        halt_at=halt_at.isoformat(),
    )

    assert run.children == []
    assert run.parent.status == OrderStatus.DENIED
    assert run.execution.status == "denied" and "HALTED" in run.execution.reason


# -- iceberg ---------------------------------------------------------------------------------------


def test_iceberg_shows_one_display_sized_slice_at_a_time_until_filled():
    run = run_parent(
        IcebergAlgorithm(IcebergConfig(**_book_kwargs())),
        "ICEBERG",
        {"display_qty": 2},
        10,
        limit_ticks_from_mid=-2,
    )

    _assert_whole_lot_children(run)
    assert all(child.order_type == OrderType.LIMIT for child in run.children)
    assert all(child.quantity.as_double() <= 2.0 for child in run.children)
    assert all(child.price == run.parent.price for child in run.children)  # fixed price mode
    for previous, child in pairwise(run.children):
        assert child.ts_init >= previous.ts_last  # the next slice only after the previous one closed
    assert _total_filled(run) == 10.0 and run.execution.status == "filled"
    assert run.algorithm.max_visible[run.execution.parent_id] == 2.0


def test_iceberg_delayed_refresh_waits_and_the_horizon_finishes_the_rest():
    params = {
        "display_qty": 3,
        "refresh": "delay",
        "refresh_delay_secs": 20,
        "price_mode": "peg",
        "horizon_secs": 240,
        "on_horizon_end": "finish",
    }
    run = run_parent(
        IcebergAlgorithm(IcebergConfig(**_book_kwargs())), "ICEBERG", params, 9, limit_ticks_from_mid=-2
    )

    _assert_whole_lot_children(run)
    limits = [child for child in run.children if child.order_type == OrderType.LIMIT]
    assert all(child.quantity.as_double() <= 3.0 for child in limits)
    for previous, child in pairwise(limits):
        assert child.ts_init >= previous.ts_last + 20 * NS
    assert _total_filled(run) == 9.0 and run.execution.status == "filled"


# -- POV -------------------------------------------------------------------------------------------


def _volume_between(trades, start_ns: int, end_ns: int) -> float:
    return sum(trade.size.as_double() for trade in trades if start_ns <= trade.ts_init <= end_ns)


def test_pov_children_never_exceed_the_participation_of_the_real_traded_volume():
    participation = 0.05
    params = {"participation": participation, "interval_secs": 30, "horizon_secs": 300}
    run = run_parent(POVAlgorithm(POVConfig(**_book_kwargs())), "POV", params, 30)

    _assert_whole_lot_children(run)
    trades = run.data.trades
    previous = SUBMIT_AT.value
    for child in run.children:
        volume = _volume_between(trades, previous, child.ts_init)  # inclusive: the loosest window
        assert child.quantity.as_double() <= participation * volume
        previous = child.ts_init
    decisions = run.algorithm.decisions[run.execution.parent_id]
    assert [d.lots for d in decisions] == [int(c.quantity.as_double()) for c in run.children]
    assert all(d.lots == int(participation * d.market_volume) for d in decisions)
    assert _total_filled(run) == 30.0


def test_pov_cancel_policy_leaves_the_residual_when_the_market_is_too_thin():
    participation = 0.01
    params = {
        "participation": participation,
        "interval_secs": 30,
        "horizon_secs": 120,
        "on_horizon_end": "cancel",
    }
    run = run_parent(POVAlgorithm(POVConfig(**_book_kwargs())), "POV", params, 50)

    end = SUBMIT_AT.value + 120 * NS
    traded = _volume_between(run.data.trades, SUBMIT_AT.value, end)
    record = run.execution
    assert 0 < record.filled_qty <= participation * traded
    assert record.status == "canceled" and record.leaves_qty > 0
    assert all(child.ts_init < end for child in run.children)


# -- VWAP ------------------------------------------------------------------------------------------


def _es_profile(tmp_path):
    """Return a one-minute profile of the Globex open learned from the slice's own trades.

    In-sample on purpose: these tests check the mechanics, not the forecast.
    """
    trades = es_slice().trades
    index = pd.to_datetime([trade.ts_init for trade in trades], utc=True).floor("1min")
    volume = pd.Series([trade.size.as_double() for trade in trades], index=index).groupby(level=0).sum()
    bars = volume.to_frame("volume")
    profile = learn_volume_profile(
        bars, "ESH4.GLBX", bucket_minutes=1, session_start_minute=23 * 60, session_end_minute=24 * 60
    )
    return profile, save_volume_profile(profile, tmp_path / "esh4_profile.json")


def test_vwap_children_follow_the_profile_schedule(tmp_path):
    profile, path = _es_profile(tmp_path)
    config = VWAPConfig(profile_path=str(path), participation_cap=0.1, **_book_kwargs())
    run = run_parent(VWAPAlgorithm(config), "VWAP", {"horizon_secs": 300}, 20)

    _, expected_lots, unscheduled = vwap_slices(
        20, 1.0, SUBMIT_AT, SUBMIT_AT + pd.Timedelta(seconds=300), profile, 0.1, profile.typical_daily_volume
    )
    assert unscheduled == 0 and len(expected_lots) == 5
    assert [int(c.quantity.as_double()) for c in run.children] == expected_lots
    assert len(set(expected_lots)) > 1  # the profile is not flat: not a TWAP in disguise
    assert run.algorithm.fallbacks == {}
    assert _total_filled(run) == 20.0 and run.execution.status == "filled"


def test_vwap_participation_cap_leaves_a_residual_that_finish_sends_at_market(tmp_path):
    profile, path = _es_profile(tmp_path)
    config = VWAPConfig(profile_path=str(path), participation_cap=0.01, **_book_kwargs())
    run = run_parent(VWAPAlgorithm(config), "VWAP", {"horizon_secs": 300, "on_horizon_end": "finish"}, 20)

    _, capped, unscheduled = vwap_slices(
        20, 1.0, SUBMIT_AT, SUBMIT_AT + pd.Timedelta(seconds=300), profile, 0.01, profile.typical_daily_volume
    )
    assert unscheduled > 0
    quantities = [int(c.quantity.as_double()) for c in run.children]
    assert quantities == [*capped, unscheduled]
    assert run.children[-1].ts_init >= SUBMIT_AT.value + 300 * NS
    assert _total_filled(run) == 20.0


def test_vwap_without_a_profile_falls_back_to_twap():
    run = run_parent(
        VWAPAlgorithm(VWAPConfig(**_book_kwargs())), "VWAP", {"horizon_secs": 300, "interval_secs": 60}, 10
    )

    assert list(run.algorithm.fallbacks) == [run.execution.parent_id]
    assert "no volume profile" in run.algorithm.fallbacks[run.execution.parent_id]
    assert [c.quantity.as_double() for c in run.children] == [2.0] * 5
    assert _total_filled(run) == 10.0


def _write_es_minute_bars(catalog_path, shift=None):
    """Write one-minute bars of the slice's real trades (moved by ``shift``) to a catalog.

    Returns the bar type and the bars' volume frame (indexed by bar end, as the catalog stores them).
    """
    from nautilus_trader.model.data import Bar, BarType
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    data = es_slice()
    bar_type = BarType.from_str(f"{data.instrument.id}-1-MINUTE-LAST-EXTERNAL")
    frame = pd.DataFrame(
        {
            "price": [t.price.as_double() for t in data.trades],
            "size": [t.size.as_double() for t in data.trades],
        },
        index=pd.to_datetime([t.ts_init for t in data.trades], utc=True),
    )
    minute = frame.groupby(pd.DatetimeIndex(frame.index).floor("1min"))
    bars = []
    for start, group in minute:
        end = (pd.Timestamp(start) + pd.Timedelta(minutes=1) + (shift or pd.Timedelta(0))).value
        prices = group["price"]
        bars.append(
            Bar(
                bar_type,
                data.instrument.make_price(prices.iloc[0]),
                data.instrument.make_price(prices.max()),
                data.instrument.make_price(prices.min()),
                data.instrument.make_price(prices.iloc[-1]),
                data.instrument.make_qty(group["size"].sum()),
                end,
                end,
            )
        )
    catalog = ParquetDataCatalog(str(catalog_path))
    catalog.write_data([data.instrument])
    catalog.write_data(bars)
    volume = pd.DataFrame(
        {"volume": [bar.volume.as_double() for bar in bars]},
        index=pd.to_datetime([bar.ts_event for bar in bars], utc=True),
    )
    return bar_type, volume


def test_vwap_learns_from_the_catalog_point_in_time_and_falls_back_without_past_days(tmp_path):
    bar_type, _ = _write_es_minute_bars(tmp_path / "catalog")
    config = VWAPConfig(
        catalog_path=str(tmp_path / "catalog"),
        bar_type=str(bar_type),
        bucket_minutes=1,
        session_start_minute=23 * 60,
        session_end_minute=24 * 60,
        **_book_kwargs(),
    )
    run = run_parent(VWAPAlgorithm(config), "VWAP", {"horizon_secs": 180, "interval_secs": 60}, 6)

    # the catalog only holds bars of the parent's own day: as_of excludes them, so no profile
    assert list(run.algorithm.fallbacks) == [run.execution.parent_id]
    assert (
        "no day with volume in the session before 2023-12-25"
        in run.algorithm.fallbacks[run.execution.parent_id]
    )
    assert [c.quantity.as_double() for c in run.children] == [2.0] * 3
    assert _total_filled(run) == 6.0


def test_vwap_learns_its_profile_from_past_catalog_days(tmp_path):
    # the same real minute volumes, labelled one day earlier, are a past day for the 2023-12-25 parent
    bar_type, volume = _write_es_minute_bars(tmp_path / "catalog", shift=-pd.Timedelta(days=1))
    config = VWAPConfig(
        catalog_path=str(tmp_path / "catalog"),
        bar_type=str(bar_type),
        participation_cap=0.2,
        bucket_minutes=1,
        session_start_minute=23 * 60,
        session_end_minute=24 * 60,
        **_book_kwargs(),
    )
    run = run_parent(VWAPAlgorithm(config), "VWAP", {"horizon_secs": 300}, 20)

    profile = learn_volume_profile(
        volume,
        "ESH4.GLBX",
        bucket_minutes=1,
        session_start_minute=23 * 60,
        session_end_minute=24 * 60,
        as_of=SUBMIT_AT,
    )
    assert profile.days == 1
    _, expected_lots, unscheduled = vwap_slices(
        20, 1.0, SUBMIT_AT, SUBMIT_AT + pd.Timedelta(seconds=300), profile, 0.2, profile.typical_daily_volume
    )
    assert unscheduled == 0 and len(set(expected_lots)) > 1
    assert run.algorithm.fallbacks == {}
    assert [int(c.quantity.as_double()) for c in run.children] == expected_lots
    assert _total_filled(run) == 20.0


def test_a_parent_canceled_by_its_strategy_cancels_the_working_children():
    cancel_at = SUBMIT_AT + pd.Timedelta(seconds=90)
    params = {"horizon_secs": 300, "interval_secs": 60, **PASSIVE}
    run = run_parent(
        TWAPAlgorithm(TWAPConfig(**_book_kwargs())), "TWAP", params, 10, cancel_at=cancel_at.isoformat()
    )

    assert len(run.children) == 2
    assert all(child.status == OrderStatus.CANCELED for child in run.children)
    assert run.parent.status == OrderStatus.CANCELED
    assert run.execution.status == "canceled" and "strategy" in run.execution.reason


def test_algorithms_load_from_importable_configs():
    from nautilus_trader.config import ImportableExecAlgorithmConfig
    from nautilus_trader.execution.config import ExecAlgorithmFactory

    for module, name in (("twap", "TWAP"), ("vwap", "VWAP"), ("iceberg", "Iceberg"), ("pov", "POV")):
        importable = ImportableExecAlgorithmConfig(
            exec_algorithm_path=f"nautilus_ai.execution.algorithms.{module}:{name}Algorithm",
            config_path=f"nautilus_ai.execution.algorithms.{module}:{name}Config",
            config={"on_horizon_end": "cancel", "max_retries": 1},
        )
        algorithm = ExecAlgorithmFactory.create(importable)
        assert algorithm.id.value == name.upper()
