"""The embargo of the walk-forward's training rows: labels ending just before the test window are dropped."""

import pandas as pd
import pytest

from nautilus_ai import test_kit
from nautilus_ai.backtest.folds import Fold
from nautilus_ai.backtest.walkforward import _fold_masks, embargo_cutoff, fold_rows, training_frame
from nautilus_ai.errors import ConfigError

HORIZON = 5


@pytest.fixture(scope="module")
def closes() -> dict[str, pd.Series]:
    return {
        f"{s}.XNAS": test_kit.read_stocknet_daily(s)["close"].iloc[:200].rename(f"{s}.XNAS")
        for s in ("AAPL", "MSFT")
    }


@pytest.fixture(scope="module")
def frame(closes) -> pd.DataFrame:
    rows = [
        {"ts_event": ts.value, "ts_init": ts.value, "instrument_id": iid, "f": value}
        for iid, close in closes.items()
        for ts, value in close.iloc[30:].items()
    ]
    return training_frame(pd.DataFrame(rows), closes, HORIZON)


@pytest.fixture(scope="module")
def bar_times(closes) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(sorted(set().union(*(c.index for c in closes.values()))))


def test_zero_embargo_cuts_at_the_test_start(bar_times):
    assert embargo_cutoff(bar_times, bar_times[120], 0) == bar_times[120]


def test_embargo_cuts_the_given_number_of_bars_before_the_test_start(bar_times):
    assert embargo_cutoff(bar_times, bar_times[120], 3) == bar_times[117]


def test_embargo_longer_than_the_data_cuts_at_the_first_bar(bar_times):
    assert embargo_cutoff(bar_times, bar_times[2], 10) == bar_times[0]


def test_embargo_of_a_test_start_between_bars_counts_from_the_next_bar(bar_times):
    between = bar_times[120] - pd.Timedelta("1h")

    assert embargo_cutoff(bar_times, between, 2) == bar_times[118]


def test_negative_embargo_is_a_config_error(bar_times):
    with pytest.raises(ConfigError, match="embargo_bars"):
        embargo_cutoff(bar_times, bar_times[120], -1)


@pytest.mark.parametrize("embargo", [0, 1, 4, 10])
def test_embargo_drops_the_rows_whose_label_ends_within_the_embargo(frame, bar_times, embargo):
    start, test_start = bar_times[40], bar_times[150]
    cutoff = embargo_cutoff(bar_times, test_start, embargo)

    rows = fold_rows(frame, start, test_start, cutoff)

    assert (rows["label_end"] < bar_times[150 - embargo]).all()
    # the purge drops HORIZON bars before the test start, the embargo `embargo` bars more
    assert rows.index.max() == bar_times[150 - HORIZON - embargo - 1]
    assert len(rows) == 2 * (150 - 40 - HORIZON - embargo)


def test_embargo_keeps_what_the_purge_alone_keeps_when_zero(frame, bar_times):
    start, test_start = bar_times[40], bar_times[150]

    purged = fold_rows(frame, start, test_start)
    embargoed = fold_rows(frame, start, test_start, embargo_cutoff(bar_times, test_start, 0))

    pd.testing.assert_frame_equal(purged, embargoed)


def test_fold_masks_apply_the_embargo_to_training_rows_only(frame, bar_times):
    fold = Fold(0, bar_times[40], bar_times[150], bar_times[150], bar_times[190])
    cutoff = embargo_cutoff(bar_times, fold.test_start, 7)

    in_train, in_test = _fold_masks(frame, fold, cutoff)
    plain_train, plain_test = _fold_masks(frame, fold)

    assert in_train.sum() == len(fold_rows(frame, fold.train_start, fold.train_end, cutoff))
    assert plain_train.sum() - in_train.sum() == 2 * 7
    assert (in_test == plain_test).all()
