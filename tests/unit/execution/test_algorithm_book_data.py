"""Loading slices of the real Databento ESH4 MBO book for the execution-algorithm engine tests."""

from __future__ import annotations

import pandas as pd
import pytest
from nautilus_trader.model.data import OrderBookDelta, TradeTick

from nautilus_ai.errors import DataError
from nautilus_ai.execution.book_data import esh4_instrument, load_es_mbo_slice


def test_esh4_instrument_has_the_cme_contract_specs():
    instrument = esh4_instrument()
    assert str(instrument.id) == "ESH4.GLBX"
    assert instrument.price_increment.as_double() == 0.25
    assert instrument.multiplier.as_double() == 50.0
    assert instrument.size_increment.as_double() == 1.0


def test_a_slice_keeps_the_book_up_to_its_end_and_the_trades_inside_it():
    start, end = pd.Timestamp("2023-12-25 23:00", tz="UTC"), pd.Timestamp("2023-12-25 23:02", tz="UTC")
    data = load_es_mbo_slice(start, end)

    assert data.deltas and data.trades
    assert all(isinstance(delta, OrderBookDelta) for delta in data.deltas)
    assert all(isinstance(trade, TradeTick) for trade in data.trades)
    assert data.deltas[0].ts_init < start.value  # the book built before the open is kept
    assert max(delta.ts_init for delta in data.deltas) <= end.value
    assert all(start.value <= trade.ts_init <= end.value for trade in data.trades)
    assert data.traded_volume == sum(trade.size.as_double() for trade in data.trades) > 0
    merged = [item.ts_init for item in data.data]
    assert merged == sorted(merged) and len(merged) == len(data.deltas) + len(data.trades)


def test_naive_bounds_are_read_as_utc():
    data = load_es_mbo_slice("2023-12-25 23:00", "2023-12-25 23:01")
    assert data.start == pd.Timestamp("2023-12-25 23:00", tz="UTC")


def test_bad_slices_raise_a_data_error_naming_the_problem(tmp_path):
    with pytest.raises(DataError, match="start < end"):
        load_es_mbo_slice("2023-12-25 23:05", "2023-12-25 23:00")
    with pytest.raises(DataError, match=r"missing\.mbo\.dbn\.zst.*not found"):
        load_es_mbo_slice("2023-12-25 23:00", "2023-12-25 23:05", path=tmp_path / "missing.mbo.dbn.zst")
    with pytest.raises(DataError, match="not found"):
        load_es_mbo_slice("2023-12-20 23:00", "2023-12-20 23:05")  # no shared file for that date
