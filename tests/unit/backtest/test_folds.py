"""Walk-forward folds: rolling and anchored windows, no overlapping tests, cut at the data end."""

import itertools

import pandas as pd
import pytest

from nautilus_ai.backtest.folds import Fold, make_folds
from nautilus_ai.errors import ConfigError

START = pd.Timestamp("2012-09-04 20:00", tz="UTC")
END = pd.Timestamp("2017-09-01 20:00", tz="UTC")
TRAIN = pd.Timedelta("730D")
TEST = pd.Timedelta("182D")


def test_rolling_folds_move_the_training_window_by_the_step():
    folds = make_folds(START, END, TRAIN, TEST)

    for k, fold in enumerate(folds):
        assert fold.index == k
        assert fold.train_start == START + k * TEST
        assert fold.train_end == START + TRAIN + k * TEST
        assert fold.train_end - fold.train_start == TRAIN


def test_anchored_folds_keep_the_training_start():
    folds = make_folds(START, END, TRAIN, TEST, scheme="anchored")

    assert all(fold.train_start == START for fold in folds)
    assert [f.train_end for f in folds] == [START + TRAIN + k * TEST for k in range(len(folds))]


def test_rolling_and_anchored_folds_share_their_test_windows():
    rolling = make_folds(START, END, TRAIN, TEST)

    anchored = make_folds(START, END, TRAIN, TEST, scheme="anchored")

    assert [(f.test_start, f.test_end) for f in rolling] == [(f.test_start, f.test_end) for f in anchored]


def test_test_window_starts_at_the_train_end():
    folds = make_folds(START, END, TRAIN, TEST)

    assert all(fold.test_start == fold.train_end for fold in folds)


def test_test_windows_tile_without_overlap_when_step_equals_test():
    folds = make_folds(START, END, TRAIN, TEST)

    for previous, nxt in itertools.pairwise(folds):
        assert nxt.test_start == previous.test_end


def test_test_windows_leave_gaps_when_step_exceeds_test():
    folds = make_folds(START, END, TRAIN, TEST, step=pd.Timedelta("200D"))

    for previous, nxt in itertools.pairwise(folds):
        assert nxt.test_start - previous.test_end == pd.Timedelta("18D")


def test_last_fold_is_cut_at_the_data_end():
    folds = make_folds(START, END, TRAIN, TEST)

    last = folds[-1]
    assert last.test_end == END
    assert last.test_end - last.test_start < TEST
    assert all(f.test_end - f.test_start == TEST for f in folds[:-1])


def test_fold_count_for_five_years_of_two_year_train_and_half_year_tests():
    folds = make_folds(START, END, TRAIN, TEST)

    # span 1823 days; train ends at 730 + 182k days < 1823 for k = 0..6
    assert len(folds) == 7


def test_a_fold_whose_train_end_reaches_the_data_end_is_not_made():
    end = START + TRAIN + TEST

    folds = make_folds(START, end, TRAIN, TEST)

    assert len(folds) == 1
    assert folds[0].test_end == end


def test_step_shorter_than_test_raises():
    with pytest.raises(ConfigError, match="shorter than the test window"):
        make_folds(START, END, TRAIN, TEST, step=pd.Timedelta("30D"))


def test_unknown_scheme_raises():
    with pytest.raises(ConfigError, match="'expanding'"):
        make_folds(START, END, TRAIN, TEST, scheme="expanding")


@pytest.mark.parametrize("train", [pd.Timedelta("1823D"), pd.Timedelta("5000D")])
def test_no_fold_fits_raises(train):
    with pytest.raises(ConfigError, match="no walk-forward fold fits"):
        make_folds(START, END, train, TEST)


def test_fold_as_dict_gives_iso_timestamps():
    fold = Fold(0, START, START + TRAIN, START + TRAIN, START + TRAIN + TEST)

    as_dict = fold.as_dict()

    assert as_dict["index"] == 0
    assert as_dict["train_start"] == "2012-09-04T20:00:00+00:00"
    assert pd.Timestamp(as_dict["test_end"]) == START + TRAIN + TEST
