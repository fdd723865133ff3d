"""The pure helpers of the walk-forward runner: point-in-time labels, purged fold rows, warm-up, stitching."""

import numpy as np
import pandas as pd
import pytest

from nautilus_ai import test_kit
from nautilus_ai.backtest.folds import Fold
from nautilus_ai.backtest.walkforward import (
    fold_rows,
    stitch_equity,
    training_frame,
    warmup_start,
    window_equity,
)

HORIZON = 5


@pytest.fixture(scope="module")
def closes() -> dict[str, pd.Series]:
    return {
        f"{s}.XNAS": test_kit.read_stocknet_daily(s)["close"].iloc[:200].rename(f"{s}.XNAS")
        for s in ("AAPL", "MSFT")
    }


@pytest.fixture(scope="module")
def features(closes) -> pd.DataFrame:
    """FeatureVector-like rows from bar 30 on (after a warm-up), one feature column."""
    rows = []
    for iid, close in closes.items():
        for ts, value in close.iloc[30:].items():
            rows.append({"ts_event": ts.value, "ts_init": ts.value, "instrument_id": iid, "f": value})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def frame(features, closes) -> pd.DataFrame:
    return training_frame(features, closes, HORIZON)


def test_training_frame_keeps_every_feature_row_sorted_by_time(frame, features):
    assert len(frame) == len(features)
    assert frame.index.is_monotonic_increasing
    assert frame.index.name == "ts"


def test_training_frame_label_is_the_forward_return_over_the_horizon(frame, closes):
    for iid, close in closes.items():
        rows = frame[frame["instrument_id"] == iid]
        expected = close.shift(-HORIZON) / close - 1.0

        np.testing.assert_allclose(
            rows["fwd_return"].to_numpy(), expected.reindex(rows.index).to_numpy(), rtol=1e-12, equal_nan=True
        )


def test_training_frame_label_ends_at_the_bar_horizon_bars_later(frame, closes):
    for iid, close in closes.items():
        rows = frame[frame["instrument_id"] == iid].dropna(subset=["fwd_return"])
        positions = close.index.get_indexer(rows.index)

        assert (rows["label_end"].to_numpy() == close.index[positions + HORIZON].to_numpy()).all()
        assert (rows["label_end"] > rows.index).all()


def test_training_frame_last_horizon_rows_have_no_label(frame, closes):
    for iid in closes:
        rows = frame[frame["instrument_id"] == iid]

        assert rows["fwd_return"].iloc[-HORIZON:].isna().all()
        assert rows["label_end"].iloc[-HORIZON:].isna().all()
        assert rows["fwd_return"].iloc[:-HORIZON].notna().all()


def test_fold_rows_purges_rows_whose_label_ends_at_or_after_the_window_end(frame):
    times = frame.index.unique()
    start, end = times[10], times[100]

    rows = fold_rows(frame, start, end)

    assert (rows.index >= start).all() and (rows.index < end).all()
    assert (rows["label_end"] < end).all()
    assert rows["fwd_return"].notna().all()
    # the last HORIZON bars before the end are purged (their label ends at or after `end`)
    assert rows.index.max() == times[100 - HORIZON - 1]
    assert len(rows) == 2 * (100 - 10 - HORIZON)


def test_fold_rows_keeps_a_row_whose_label_ends_just_before_the_end(frame):
    times = frame.index.unique()
    row_time = times[50]
    label_end = frame.loc[row_time, "label_end"].iloc[0]

    kept = fold_rows(frame, times[0], label_end + pd.Timedelta(1, "ns"))
    purged = fold_rows(frame, times[0], label_end)

    assert row_time in kept.index
    assert row_time not in purged.index


def test_fold_rows_drops_unlabelled_rows_at_the_data_end(frame):
    rows = fold_rows(frame, frame.index[0], frame.index[-1] + pd.Timedelta("1000D"))

    assert rows["fwd_return"].notna().all()
    assert len(rows) == len(frame) - 2 * HORIZON


BAR_TIMES = pd.date_range("2020-01-01 21:00", periods=10, freq="D", tz="UTC")


@pytest.mark.parametrize(
    ("test_start", "warmup", "expected"),
    [
        (BAR_TIMES[6], 3, BAR_TIMES[3]),  # on a bar: three bars before it
        (BAR_TIMES[6] - pd.Timedelta("1h"), 3, BAR_TIMES[3]),  # between bars: counts from the next bar
        (BAR_TIMES[6], 0, BAR_TIMES[6]),
        (BAR_TIMES[2], 5, BAR_TIMES[0]),  # not enough history: the first bar
        (BAR_TIMES[0] - pd.Timedelta("5D"), 3, BAR_TIMES[0]),
    ],
)
def test_warmup_start_decision_table(test_start, warmup, expected):
    assert warmup_start(BAR_TIMES, test_start, warmup) == expected


def _series(values, start="2020-01-01"):
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="D", tz="UTC"), dtype=float)


def test_stitch_equity_compounds_fold_returns_by_hand():
    first = _series([100.0, 110.0, 99.0])  # +10 %, -10 %
    second = _series([500.0, 550.0], start="2020-02-01")  # +10 %, on a fresh account

    stitched = stitch_equity([first, second], 1_000.0)

    assert stitched.name == "equity"
    assert stitched.index.tolist() == [*first.index, second.index[1]]
    np.testing.assert_allclose(stitched.to_numpy(), [1_000.0, 1_100.0, 990.0, 1_089.0], rtol=1e-12)


def test_stitch_equity_ignores_the_jump_between_fold_accounts():
    first = _series([100.0, 100.0])
    second = _series([1.0, 1.0], start="2020-02-01")

    stitched = stitch_equity([first, second], 1_000.0)

    np.testing.assert_allclose(stitched.to_numpy(), [1_000.0, 1_000.0, 1_000.0])


def test_stitch_equity_of_no_returns_is_empty():
    assert stitch_equity([], 1_000.0).empty
    assert stitch_equity([_series([100.0])], 1_000.0).empty


def test_stitch_equity_skips_an_empty_first_segment():
    second = _series([500.0, 550.0], start="2020-02-01")

    stitched = stitch_equity([pd.Series(dtype=float), second], 1_000.0)

    np.testing.assert_allclose(stitched.to_numpy(), [1_000.0, 1_100.0])


FOLD = Fold(
    0,
    pd.Timestamp("2020-01-01", tz="UTC"),
    pd.Timestamp("2020-01-03", tz="UTC"),
    pd.Timestamp("2020-01-03", tz="UTC"),
    pd.Timestamp("2020-01-06", tz="UTC"),
)


def test_window_equity_keeps_the_test_window_end_exclusive():
    equity = _series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])

    window = window_equity(equity, FOLD, last=False)

    assert window.index.min() == FOLD.test_start
    assert window.index.max() == pd.Timestamp("2020-01-05", tz="UTC")


def test_window_equity_of_the_last_fold_includes_the_end():
    equity = _series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])

    window = window_equity(equity, FOLD, last=True)

    assert window.index.max() == FOLD.test_end
    assert window.tolist() == [3.0, 4.0, 5.0, 6.0]


@pytest.mark.parametrize("equity", [None, pd.Series(dtype=float)])
def test_window_equity_of_no_equity_is_empty(equity):
    assert window_equity(equity, FOLD, last=True).empty
