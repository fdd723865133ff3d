import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.learning.labels import triple_barrier_labels
from nautilus_ai.learning.splits import (
    CombinatorialPurgedCV,
    PurgedKFold,
    PurgedWalkForward,
    contiguous_blocks,
    fit_transform_train_only,
)
from nautilus_ai.test_kit import read_stocknet_daily

DAY = pd.Timedelta("1D")


def _fixed_t1(n: int, horizon_days: int) -> pd.Series:
    """Daily labels starting on day i and ending on day i + horizon_days."""
    t0 = pd.date_range("2024-01-01", periods=n, freq="D", tz="UTC")
    return pd.Series(t0 + horizon_days * DAY, index=t0, name="t1")


def _random_t1(seed: int, n: int, max_bars: int) -> pd.Series:
    """Irregular bar times and labels lasting 0..max_bars bars (ends capped at the last bar)."""
    rng = np.random.default_rng(seed)
    bars = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.cumsum(rng.integers(1, 5, n)), unit="h")
    ends = np.minimum(np.arange(n) + rng.integers(0, max_bars + 1, n), n - 1)
    return pd.Series(bars[ends], index=bars, name="t1")


def _ns(t1: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    return t1.index.as_unit("ns").asi8, pd.DatetimeIndex(t1).as_unit("ns").asi8


def _overlaps(t1: pd.Series, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Brute force: train positions whose closed interval meets some test interval."""
    t0_ns, t1_ns = _ns(t1)
    meets = (t0_ns[train, None] <= t1_ns[None, test]) & (t0_ns[None, test] <= t1_ns[train, None])
    return train[meets.any(axis=1)]


def _embargoed(t1: pd.Series, test: np.ndarray, samples: int, duration_ns: int) -> set[int]:
    """Brute force: positions starting in the embargo after each contiguous test block."""
    t0_ns, t1_ns = _ns(t1)
    out: set[int] = set()
    for block in contiguous_blocks(test):
        end = t1_ns[block].max()
        after = np.flatnonzero(t0_ns > end)
        out.update(after[:samples].tolist())
        out.update(np.flatnonzero((t0_ns > end) & (t0_ns <= end + duration_ns)).tolist())
    return out


def _check_purged_split(t1, train, test, samples=0, duration_ns=0):
    n = len(t1)
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    assert not set(train) & set(test)
    # no train label interval overlaps a test label interval
    assert len(_overlaps(t1, train, test)) == 0
    # nothing inside the embargo is trained on
    embargoed = _embargoed(t1, test, samples, duration_ns)
    assert not embargoed & set(train.tolist())
    # and nothing else was thrown away
    others = np.setdiff1d(np.arange(n), test)
    kept = set(others.tolist()) - set(_overlaps(t1, others, test).tolist()) - embargoed
    assert kept == set(train.tolist())


# --------------------------------------------------------------------------------------------------
# Purged k-fold
# --------------------------------------------------------------------------------------------------


def test_purged_kfold_worked_example_with_two_day_labels():
    t1 = _fixed_t1(10, 2)

    splits = list(PurgedKFold(t1, n_splits=5).split(np.zeros((10, 1))))

    # test [4, 5] spans days 4..7: samples 2, 3 end inside it and 6, 7 start inside it
    assert [test.tolist() for _, test in splits] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert [train.tolist() for train, _ in splits] == [
        [4, 5, 6, 7, 8, 9],
        [6, 7, 8, 9],
        [0, 1, 8, 9],
        [0, 1, 2, 3],
        [0, 1, 2, 3, 4, 5],
    ]


@pytest.mark.parametrize("embargo", [0.1, DAY])
def test_purged_kfold_embargo_drops_the_sample_after_each_test_label_end(embargo):
    t1 = _fixed_t1(10, 2)

    trains = [train.tolist() for train, _ in PurgedKFold(t1, n_splits=5, embargo=embargo).split(t1)]

    # 10 % of 10 samples = 1 sample = 1 day: the first sample starting after the block's last t1
    assert trains == [[5, 6, 7, 8, 9], [7, 8, 9], [0, 1, 9], [0, 1, 2, 3], [0, 1, 2, 3, 4, 5]]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(10, 80),
    max_bars=st.integers(0, 8),
    n_splits=st.integers(2, 6),
    embargo=st.sampled_from([0.0, 0.02, 0.1, pd.Timedelta("3h"), pd.Timedelta("1D")]),
)
def test_purged_kfold_never_trains_on_a_test_label_and_respects_the_embargo(
    seed, n, max_bars, n_splits, embargo
):
    t1 = _random_t1(seed, n, max_bars)
    cv = PurgedKFold(t1, n_splits=n_splits, embargo=embargo)
    samples = 0 if isinstance(embargo, pd.Timedelta) else math.ceil(embargo * n)
    duration = embargo.value if isinstance(embargo, pd.Timedelta) else 0

    tests = []
    for train, test in cv.split(t1):
        _check_purged_split(t1, train, test, samples, duration)
        tests.append(test)

    assert cv.get_n_splits() == n_splits == len(tests)
    np.testing.assert_array_equal(np.concatenate(tests), np.arange(n))


# --------------------------------------------------------------------------------------------------
# Purged walk-forward
# --------------------------------------------------------------------------------------------------


def test_anchored_walk_forward_worked_example():
    t1 = _fixed_t1(12, 1)

    splits = list(PurgedWalkForward(t1, n_splits=3, test_size=2).split(t1))

    # sample 5 ([day 5, day 6]) ends on the first test day: purged from every fold it precedes
    assert [test.tolist() for _, test in splits] == [[6, 7], [8, 9], [10, 11]]
    assert [train.tolist() for train, _ in splits] == [list(range(5)), list(range(7)), list(range(9))]


def test_rolling_walk_forward_keeps_a_fixed_window_before_purging():
    t1 = _fixed_t1(12, 1)

    splits = list(PurgedWalkForward(t1, n_splits=3, test_size=2, anchored=False).split(t1))

    # default window: the 6 samples before the first test block
    assert [train.tolist() for train, _ in splits] == [[0, 1, 2, 3, 4], [2, 3, 4, 5, 6], [4, 5, 6, 7, 8]]


@pytest.mark.parametrize("embargo", [1 / 12, DAY])
def test_walk_forward_embargo_leaves_a_gap_before_the_test(embargo):
    t1 = _fixed_t1(12, 1)

    first_train, first_test = next(PurgedWalkForward(t1, n_splits=3, test_size=2, embargo=embargo).split(t1))

    # train labels must end before day 5 = one sample (one day) before the test start on day 6
    assert first_train.tolist() == [0, 1, 2, 3]
    assert first_test.tolist() == [6, 7]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(30, 100),
    max_bars=st.integers(0, 4),
    n_splits=st.integers(1, 4),
    anchored=st.booleans(),
    embargo=st.sampled_from([0.0, 0.05, pd.Timedelta("5h")]),
)
def test_walk_forward_trains_only_on_labels_known_before_the_test(
    seed, n, max_bars, n_splits, anchored, embargo
):
    t1 = _random_t1(seed, n, max_bars)
    cv = PurgedWalkForward(t1, n_splits=n_splits, anchored=anchored, embargo=embargo)
    t0_ns, t1_ns = _ns(t1)

    for train, test in cv.split(t1):
        assert train.max() < test.min()
        assert len(_overlaps(t1, train, test)) == 0
        gap_start = t0_ns[test[0]]
        if isinstance(embargo, pd.Timedelta):
            gap_start -= embargo.value
        else:
            gap_start = t0_ns[max(0, test[0] - math.ceil(embargo * n))] if embargo else gap_start
        assert (t1_ns[train] < gap_start).all()
        if not anchored:
            assert train.min() >= test[0] - cv.train_size


def test_walk_forward_without_room_for_training_is_a_data_error():
    t1 = _fixed_t1(12, 8)

    with pytest.raises(DataError, match="no training samples"):
        list(PurgedWalkForward(t1, n_splits=3, test_size=2, anchored=False, train_size=3).split(t1))
    with pytest.raises(DataError, match="cannot hold"):
        PurgedWalkForward(t1, n_splits=6, test_size=2)


# --------------------------------------------------------------------------------------------------
# Combinatorial purged cross-validation
# --------------------------------------------------------------------------------------------------


def test_cpcv_worked_example_three_groups_two_test_groups():
    t1 = _fixed_t1(9, 0)
    cv = CombinatorialPurgedCV(t1, n_groups=3, n_test_groups=2)

    splits = list(cv.split(t1))

    assert cv.get_n_splits() == 3 and cv.n_paths == 2
    assert cv.test_group_combinations == [(0, 1), (0, 2), (1, 2)]
    assert [test.tolist() for _, test in splits] == [
        [0, 1, 2, 3, 4, 5],
        [0, 1, 2, 6, 7, 8],
        [3, 4, 5, 6, 7, 8],
    ]
    assert [train.tolist() for train, _ in splits] == [[6, 7, 8], [3, 4, 5], [0, 1, 2]]
    # group 0 is tested by splits 0 and 1, group 1 by 0 and 2, group 2 by 1 and 2
    np.testing.assert_array_equal(cv.path_splits(), [[0, 0, 1], [1, 2, 2]])


def test_cpcv_reconstructs_paths_from_split_predictions():
    t1 = _fixed_t1(9, 0)
    cv = CombinatorialPurgedCV(t1, n_groups=3, n_test_groups=2)
    # each split "predicts" 100 * split + sample position
    predictions = [100 * s + test for s, (_, test) in enumerate(cv.split(t1))]

    paths = cv.reconstruct_paths(predictions)

    assert paths.shape == (2, 9)
    np.testing.assert_array_equal(paths[0], [0, 1, 2, 3, 4, 5, 106, 107, 108])
    np.testing.assert_array_equal(paths[1], [100, 101, 102, 203, 204, 205, 206, 207, 208])
    with pytest.raises(DataError, match="one prediction array per split"):
        cv.reconstruct_paths(predictions[:2])
    with pytest.raises(DataError, match="split 1 predictions"):
        cv.reconstruct_paths([predictions[0], predictions[1][:3], predictions[2]])


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(20, 70),
    max_bars=st.integers(0, 5),
    n_groups=st.integers(2, 7),
    data=st.data(),
)
def test_cpcv_tests_each_group_c_n_minus_1_k_minus_1_times_and_builds_every_path(
    seed, n, max_bars, n_groups, data
):
    k = data.draw(st.integers(1, n_groups - 1), label="n_test_groups")
    embargo = data.draw(st.sampled_from([0.0, 0.05]), label="embargo")
    t1 = _random_t1(seed, n, max_bars)
    cv = CombinatorialPurgedCV(t1, n_groups=n_groups, n_test_groups=k, embargo=embargo)
    samples = math.ceil(embargo * n)

    tested = np.zeros(n, dtype=int)
    predictions = []
    for train, test in cv.split(t1):
        _check_purged_split(t1, train, test, samples, 0)
        tested[test] += 1
        predictions.append(test)

    assert cv.get_n_splits() == math.comb(n_groups, k) == len(predictions)
    assert (tested == math.comb(n_groups - 1, k - 1)).all()
    assert cv.n_paths == math.comb(n_groups - 1, k - 1)
    assert cv.n_paths == pytest.approx(k / n_groups * math.comb(n_groups, k))
    table = cv.path_splits()
    # every (split, test group) pair is used by exactly one path
    used = sorted((int(s), g) for row in table for g, s in enumerate(row))
    assert used == sorted((s, g) for s, combo in enumerate(cv.test_group_combinations) for g in combo)
    # a prediction equal to the sample position rebuilds the full index on every path
    np.testing.assert_array_equal(cv.reconstruct_paths(predictions), np.tile(np.arange(n), (cv.n_paths, 1)))


def test_cpcv_on_aapl_triple_barrier_labels_never_trains_on_an_overlapping_label():
    close = read_stocknet_daily("AAPL")["close"]
    t1 = triple_barrier_labels(close, max_holding_bars=10)["t1"].dropna()
    cv = CombinatorialPurgedCV(t1, n_groups=6, n_test_groups=2, embargo=0.01)

    sizes = []
    for train, test in cv.split(t1):
        _check_purged_split(t1, train, test, math.ceil(0.01 * len(t1)), 0)
        sizes.append(len(train) + len(test))

    # purging and embargo remove a few labels per boundary, never most of the data
    assert min(sizes) > 0.9 * len(t1)


# --------------------------------------------------------------------------------------------------
# scikit-learn compatibility and train-only preprocessing
# --------------------------------------------------------------------------------------------------


class _RowRecorder(TransformerMixin, BaseEstimator):
    """Identity transform that remembers the row ids (column 0) it was fitted on."""

    def fit(self, x, y=None):
        self.seen_ = np.asarray(x)[:, 0].astype(int)
        return self

    def transform(self, x):
        return np.asarray(x)


def _classification_data(n: int = 120, seed: int = 3):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, 3))
    x = np.column_stack([np.arange(n), features])
    y = (features[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(int)
    return x, y


@pytest.mark.parametrize(
    "make_cv",
    [
        lambda t1: PurgedKFold(t1, n_splits=4, embargo=0.02),
        lambda t1: PurgedWalkForward(t1, n_splits=3, anchored=False),
        lambda t1: CombinatorialPurgedCV(t1, n_groups=5, n_test_groups=2),
    ],
)
def test_pipeline_in_sklearn_cv_fits_preprocessing_on_the_training_rows_only(make_cv):
    x, y = _classification_data()
    t1 = _fixed_t1(len(x), 3)
    cv = make_cv(t1)
    pipeline = Pipeline(
        [("record", _RowRecorder()), ("scale", StandardScaler()), ("model", LogisticRegression())]
    )

    result = cross_validate(pipeline, x, y, cv=cv, return_estimator=True)

    expected = [train for train, _ in cv.split(x)]
    assert len(result["estimator"]) == cv.get_n_splits() == len(expected)
    for fitted, train in zip(result["estimator"], expected, strict=True):
        np.testing.assert_array_equal(fitted.named_steps["record"].seen_, train)
        np.testing.assert_allclose(fitted.named_steps["scale"].mean_, x[train].mean(axis=0))


def test_cross_val_score_accepts_the_purged_kfold():
    x, y = _classification_data()

    scores = cross_val_score(
        LogisticRegression(), x[:, 1:], y, cv=PurgedKFold(_fixed_t1(len(x), 3), n_splits=4)
    )

    assert scores.shape == (4,)
    assert ((scores >= 0) & (scores <= 1)).all()


def test_fit_transform_train_only_uses_training_statistics_and_leaves_the_template_unfitted():
    train_rows = np.array([[1.0], [2.0], [3.0]])
    test_rows = np.array([[10.0], [11.0]])
    template = StandardScaler()

    fitted, train_out, test_out = fit_transform_train_only(template, train_rows, test_rows)

    # mean 2, population std sqrt(2/3): the test rows are scaled with the training statistics
    assert fitted.mean_.tolist() == [2.0]
    np.testing.assert_allclose(train_out.ravel(), [-1.224744871, 0.0, 1.224744871])
    np.testing.assert_allclose(test_out.ravel(), (np.array([10.0, 11.0]) - 2.0) / np.sqrt(2 / 3))
    assert not hasattr(template, "mean_")


# --------------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda t1: PurgedKFold(t1, n_splits=1), ConfigError, "n_splits"),
        (lambda t1: PurgedKFold(t1, n_splits=11), DataError, "at least 11 samples"),
        (lambda t1: PurgedKFold(t1, embargo=1.5), ConfigError, "embargo"),
        (lambda t1: PurgedKFold(t1, embargo=pd.Timedelta("-1D")), ConfigError, "embargo"),
        (lambda t1: PurgedWalkForward(t1, test_size=0), ConfigError, "test_size"),
        (lambda t1: CombinatorialPurgedCV(t1, n_groups=4, n_test_groups=4), ConfigError, "n_test_groups"),
        (lambda t1: CombinatorialPurgedCV(t1, n_groups=11), DataError, "at least 11 samples"),
        (lambda t1: PurgedKFold(t1.iloc[::-1]), DataError, "strictly increasing"),
        (
            lambda t1: PurgedKFold(pd.Series(t1.index - DAY, index=t1.index)),
            DataError,
            "at or after its start",
        ),
        (lambda t1: PurgedKFold(t1.where(t1.index != t1.index[3])), DataError, "missing end times"),
    ],
)
def test_invalid_splitter_inputs_raise_clear_errors(make, error, match):
    with pytest.raises(error, match=match):
        make(_fixed_t1(10, 2))


def test_split_rejects_rows_that_are_not_the_labels():
    t1 = _fixed_t1(10, 2)
    cv = PurgedKFold(t1, n_splits=2)

    with pytest.raises(DataError, match="X has 9 rows"):
        list(cv.split(np.zeros((9, 2))))
    with pytest.raises(DataError, match="X index differs"):
        list(cv.split(pd.DataFrame({"a": range(10)}, index=t1.index + pd.Timedelta("1h"))))
    # a frame on the label start times is fine
    assert len(list(cv.split(pd.DataFrame({"a": range(10)}, index=t1.index)))) == 2
