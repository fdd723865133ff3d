"""Cross-validation splits that respect label end times: purged k-fold, walk-forward and CPCV.

Every sample ``i`` carries a label interval ``[t0_i, t1_i]``: it starts at ``t0_i`` (the index of
``t1``) and its label becomes known at ``t1_i`` (the value). A train sample whose interval overlaps a
test interval would leak the test outcome into training, so it is **purged**. Features are often
serially correlated, so the train samples that start right after a test block are also dropped: the
**embargo**. The splitters follow the scikit-learn protocol (``split(X, y=None, groups=None)`` yields
``(train_idx, test_idx)`` integer arrays, ``get_n_splits``) so they can be passed as ``cv=`` to
``cross_val_score`` or ``GridSearchCV``; the rows of ``X`` must be the samples of ``t1``, in order.

Preprocessing must be fitted inside each split on the training rows only: put the scaler in a
scikit-learn ``Pipeline`` (which the CV tools refit per split) or call :func:`fit_transform_train_only`.

References
----------
M. López de Prado, *Advances in Financial Machine Learning*, Wiley, 2018, ch. 7 (purging and
embargo) and ch. 12 (combinatorial purged cross-validation).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.learning.labels import label_intervals

Embargo = float | pd.Timedelta
"""An embargo as a fraction of the number of samples in ``[0, 1)`` or as a duration."""


# --------------------------------------------------------------------------------------------------
# Kernels over int64 interval arrays
# --------------------------------------------------------------------------------------------------


def purge_overlapping(train: np.ndarray, test: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
    r"""Remove the train positions whose label interval overlaps a test label interval.

    Train sample ``i`` is purged when some test sample ``j`` has
    ``[t0_i, t1_i] \cap [t0_j, t1_j] \neq \emptyset``, that is ``t0_j <= t1_i`` and
    ``t1_j >= t0_i`` (closed intervals: touching counts). With test starts sorted, the test samples
    with ``t0_j <= t1_i`` form a prefix of length ``k_i`` and the condition reduces to
    ``max_{j < k_i} t1_j >= t0_i``, computed for all ``i`` in ``O((n + m) log m)``.

    Parameters
    ----------
    train, test : np.ndarray
        Integer positions of the train and test samples; ``test`` sorted.
    t0, t1 : np.ndarray
        Interval starts (sorted) and ends of every sample, as comparable numbers (int64 ns).

    Returns
    -------
    np.ndarray
        The kept train positions, in their original order.

    """
    if len(test) == 0 or len(train) == 0:
        return train
    test_start = t0[test]
    running_max_end = np.maximum.accumulate(t1[test])
    prefix = np.searchsorted(test_start, t1[train], side="right")
    overlaps = (prefix > 0) & (running_max_end[np.maximum(prefix - 1, 0)] >= t0[train])
    return train[~overlaps]


def embargo_after(
    train: np.ndarray, block_end: int, t0: np.ndarray, embargo_samples: int, embargo_ns: int
) -> np.ndarray:
    """Remove the train positions that start inside the embargo after a test block.

    The embargo zone follows the block's last label end ``e``: the ``embargo_samples`` samples with
    the first start times ``t0 > e``, and the samples with ``e < t0 <= e + embargo_ns``.

    Parameters
    ----------
    train : np.ndarray
        Integer positions of the train samples.
    block_end : int
        ``e``, the largest label end ``t1`` of the test block.
    t0 : np.ndarray
        Sorted interval starts of every sample.
    embargo_samples : int
        Number of samples embargoed after ``e``.
    embargo_ns : int
        Embargo duration after ``e``, in the units of ``t0``.

    Returns
    -------
    np.ndarray
        The kept train positions.

    """
    first_after = int(np.searchsorted(t0, block_end, side="right"))
    last_by_count = first_after + embargo_samples
    last_by_time = int(np.searchsorted(t0, block_end + embargo_ns, side="right"))
    stop = max(last_by_count, last_by_time)
    return train[(train < first_after) | (train >= stop)]


def contiguous_blocks(positions: np.ndarray) -> list[np.ndarray]:
    """Split sorted integer positions into runs of consecutive integers."""
    if len(positions) == 0:
        return []
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    return np.split(positions, breaks)


# --------------------------------------------------------------------------------------------------
# Shared validation
# --------------------------------------------------------------------------------------------------


def _check_count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum} (got {value!r})")
    return int(value)


def _embargo_parts(embargo: Embargo, n_samples: int) -> tuple[int, int]:
    """Return ``(samples, nanoseconds)`` of an embargo given as a fraction or a duration."""
    if isinstance(embargo, pd.Timedelta):
        if embargo < pd.Timedelta(0):
            raise ConfigError(f"embargo duration must be >= 0 (got {embargo})")
        return 0, int(embargo.value)
    if isinstance(embargo, bool) or not isinstance(embargo, int | float) or not 0 <= embargo < 1:
        raise ConfigError(
            f"embargo must be a fraction of the samples in [0, 1) or a pd.Timedelta (got {embargo!r})"
        )
    return math.ceil(float(embargo) * n_samples), 0


class _PurgedSplitter:
    """Holds the label intervals and the embargo shared by every splitter."""

    def __init__(self, t1: pd.Series, embargo: Embargo) -> None:
        self.t1 = t1
        self.embargo = embargo
        self._t0_ns, self._t1_ns = label_intervals(t1)
        self._n = len(t1)
        self._embargo_samples, self._embargo_ns = _embargo_parts(embargo, self._n)

    def _check_rows(self, X: Any) -> None:  # noqa: N803 (scikit-learn convention)
        rows = len(X)
        if rows != self._n:
            raise DataError(
                f"X has {rows} rows but t1 has {self._n} samples: pass the rows that t1 describes, in order",
                field="X",
            )
        index = getattr(X, "index", None)
        if isinstance(index, pd.Index) and not index.equals(self.t1.index):
            raise DataError(
                "X index differs from the t1 index (label start times): align X with t1 first", field="X"
            )

    def _train_for(self, candidates: np.ndarray, test: np.ndarray) -> np.ndarray:
        train = purge_overlapping(candidates, test, self._t0_ns, self._t1_ns)
        if self._embargo_samples or self._embargo_ns:
            for block in contiguous_blocks(test):
                block_end = int(self._t1_ns[block].max())
                train = embargo_after(train, block_end, self._t0_ns, self._embargo_samples, self._embargo_ns)
        return train


# --------------------------------------------------------------------------------------------------
# Purged k-fold
# --------------------------------------------------------------------------------------------------


class PurgedKFold(_PurgedSplitter):
    """K-fold cross-validation over contiguous blocks, with purging and an embargo.

    The samples are cut, in time order and without shuffling, into ``n_splits`` contiguous test
    blocks of near-equal size (``np.array_split``). For each block the train set is every other
    sample, minus those whose label interval overlaps a test label interval (purge), minus those
    that start in the embargo after the block's last label end.

    Parameters
    ----------
    t1 : pd.Series
        Label end times on a strictly increasing ``DatetimeIndex`` of label start times, one per row
        of ``X`` (for example ``triple_barrier_labels(...)["t1"].dropna()``).
    n_splits : int, default 5
        Number of folds (>= 2, at most the number of samples).
    embargo : float or pd.Timedelta, default 0.0
        Fraction ``f`` of the samples (``ceil(f * n)`` samples) or duration embargoed after each test
        block.

    Raises
    ------
    ConfigError
        If ``n_splits`` or ``embargo`` is out of range.
    DataError
        If ``t1`` is invalid (see :func:`~nautilus_ai.learning.labels.check_label_end_times`) or has
        fewer samples than ``n_splits``.

    Examples
    --------
    Ten daily samples with two-day labels (``t1 = t0 + 2 days``) and five folds: the test block
    ``[4, 5]`` ends at day 7, so samples 2 and 3 (ending on days 4 and 5) and 6 and 7 (starting on days
    6 and 7) are purged; the train set is ``[0, 1, 8, 9]``.

    """

    def __init__(self, t1: pd.Series, n_splits: int = 5, *, embargo: Embargo = 0.0) -> None:
        self.n_splits = _check_count(n_splits, "n_splits", 2)
        super().__init__(t1, embargo)
        if self._n < self.n_splits:
            raise DataError(
                f"n_splits={self.n_splits} needs at least {self.n_splits} samples, t1 has {self._n}: "
                "lower n_splits or give more data",
                field="t1",
            )

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:  # noqa: N803 (scikit-learn convention)
        """Return the number of splits, ``n_splits``."""
        return self.n_splits

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:  # noqa: N803 (scikit-learn convention)
        """Yield ``(train_idx, test_idx)`` integer arrays for each fold, in time order.

        Parameters
        ----------
        X : array-like
            The samples, one row per element of ``t1`` (only its length and index are read).
        y, groups : ignored
            Present for scikit-learn compatibility.

        Yields
        ------
        tuple of np.ndarray
            Sorted train positions (purged and embargoed) and sorted test positions.

        Raises
        ------
        DataError
            If ``X`` does not have the rows of ``t1``.

        """
        self._check_rows(X)
        positions = np.arange(self._n)
        for test in np.array_split(positions, self.n_splits):
            candidates = np.setdiff1d(positions, test, assume_unique=True)
            yield self._train_for(candidates, test), test


# --------------------------------------------------------------------------------------------------
# Purged walk-forward
# --------------------------------------------------------------------------------------------------


class PurgedWalkForward(_PurgedSplitter):
    """Walk-forward splits (train before test), anchored or rolling, with purging and an embargo gap.

    The last ``n_splits * test_size`` samples are cut into ``n_splits`` consecutive test blocks. The
    train window of block ``k`` (starting at position ``s_k``) is ``[0, s_k)`` when anchored and
    ``[s_k - train_size, s_k)`` when rolling; then the train samples whose label ends at or after the
    test start are purged (their outcome is not known when the test period begins), and, with an
    embargo, so are those whose label ends less than the embargo before the test start
    (``t1_i >= t0[s_k - h]`` for ``h`` embargo samples, ``t1_i >= t0[s_k] - d`` for a duration ``d``).

    Parameters
    ----------
    t1 : pd.Series
        Label end times on a strictly increasing ``DatetimeIndex`` of label start times.
    n_splits : int, default 5
        Number of walk-forward steps (>= 1).
    test_size : int, optional
        Samples per test block; defaults to ``n // (n_splits + 1)``.
    train_size : int, optional
        Samples in a rolling train window before purging; defaults to the samples before the first
        test block, so that every rolling window has the same length. Ignored when anchored.
    anchored : bool, default True
        True: the train window always starts at the first sample (expanding). False: rolling.
    embargo : float or pd.Timedelta, default 0.0
        Fraction of the samples or duration kept as a gap between the train label ends and the test.

    Raises
    ------
    ConfigError
        If a parameter is out of range.
    DataError
        If ``t1`` is invalid or too short for ``n_splits * test_size`` test samples and a train window.

    """

    def __init__(
        self,
        t1: pd.Series,
        n_splits: int = 5,
        *,
        test_size: int | None = None,
        train_size: int | None = None,
        anchored: bool = True,
        embargo: Embargo = 0.0,
    ) -> None:
        self.n_splits = _check_count(n_splits, "n_splits", 1)
        super().__init__(t1, embargo)
        n = self._n
        self.test_size = (
            n // (self.n_splits + 1) if test_size is None else _check_count(test_size, "test_size", 1)
        )
        first_test = n - self.n_splits * self.test_size
        if self.test_size < 1 or first_test < 1:
            raise DataError(
                f"{n} samples cannot hold {self.n_splits} test blocks of {self.test_size} samples and a "
                "train window before them: lower n_splits or test_size, or give more data",
                field="t1",
            )
        self.anchored = bool(anchored)
        self.train_size = first_test if train_size is None else _check_count(train_size, "train_size", 1)

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:  # noqa: N803 (scikit-learn convention)
        """Return the number of splits, ``n_splits``."""
        return self.n_splits

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:  # noqa: N803 (scikit-learn convention)
        """Yield ``(train_idx, test_idx)`` integer arrays for each step, in time order.

        Parameters
        ----------
        X : array-like
            The samples, one row per element of ``t1``.
        y, groups : ignored
            Present for scikit-learn compatibility.

        Yields
        ------
        tuple of np.ndarray
            Sorted train positions (all before the test block) and sorted test positions.

        Raises
        ------
        DataError
            If ``X`` does not have the rows of ``t1``, or if purging leaves a fold without training
            samples (labels longer than the train window: shorten them or enlarge the window).

        """
        self._check_rows(X)
        first_test = self._n - self.n_splits * self.test_size
        for k in range(self.n_splits):
            start = first_test + k * self.test_size
            test = np.arange(start, start + self.test_size)
            window_start = 0 if self.anchored else max(0, start - self.train_size)
            train = purge_overlapping(np.arange(window_start, start), test, self._t0_ns, self._t1_ns)
            cut = self._gap_start(start)
            train = train[self._t1_ns[train] < cut]
            if len(train) == 0:
                raise DataError(
                    f"walk-forward step {k} has no training samples left after purging labels that end "
                    f"at or after its test start {self.t1.index[start]}: use a longer train window, "
                    "shorter labels or a smaller embargo",
                    field="t1",
                )
            yield train, test

    def _gap_start(self, test_start: int) -> int:
        """Return the earliest label end a train sample may not reach before the test at ``test_start``."""
        cut = int(self._t0_ns[test_start])
        if self._embargo_samples:
            cut = int(self._t0_ns[max(0, test_start - self._embargo_samples)])
        return cut - self._embargo_ns


# --------------------------------------------------------------------------------------------------
# Combinatorial purged cross-validation
# --------------------------------------------------------------------------------------------------


class CombinatorialPurgedCV(_PurgedSplitter):
    r"""Combinatorial purged cross-validation (CPCV) and its backtest paths.

    The samples are cut into ``N`` contiguous groups. Every choice of ``k`` test groups is one split
    (``C(N, k)`` splits, in lexicographic order of the group combinations); its train set is the
    other groups, purged and embargoed around each test group. Each group is tested in
    ``C(N-1, k-1)`` splits, so the out-of-sample predictions assemble into

    .. math::

        \varphi[N, k] = \frac{k}{N} \binom{N}{k} = \binom{N-1}{k-1}

    complete backtest paths: path ``p`` takes the predictions of group ``g`` from the ``p``-th split
    (in split order) that tests ``g`` (:meth:`path_splits`, :meth:`reconstruct_paths`).

    Parameters
    ----------
    t1 : pd.Series
        Label end times on a strictly increasing ``DatetimeIndex`` of label start times.
    n_groups : int, default 6
        ``N``, the number of groups (>= 2, at most the number of samples).
    n_test_groups : int, default 2
        ``k``, the number of test groups per split (1 <= k < N).
    embargo : float or pd.Timedelta, default 0.0
        Fraction of the samples or duration embargoed after each test group.

    Raises
    ------
    ConfigError
        If a parameter is out of range.
    DataError
        If ``t1`` is invalid or has fewer samples than ``n_groups``.

    References
    ----------
    M. López de Prado, *Advances in Financial Machine Learning*, Wiley, 2018, ch. 12.4.

    """

    def __init__(
        self, t1: pd.Series, n_groups: int = 6, n_test_groups: int = 2, *, embargo: Embargo = 0.0
    ) -> None:
        self.n_groups = _check_count(n_groups, "n_groups", 2)
        self.n_test_groups = _check_count(n_test_groups, "n_test_groups", 1)
        if self.n_test_groups >= self.n_groups:
            raise ConfigError(
                f"n_test_groups must be less than n_groups (got {self.n_test_groups} >= {self.n_groups})"
            )
        super().__init__(t1, embargo)
        if self._n < self.n_groups:
            raise DataError(
                f"n_groups={self.n_groups} needs at least {self.n_groups} samples, t1 has {self._n}",
                field="t1",
            )
        self.groups: list[np.ndarray] = np.array_split(np.arange(self._n), self.n_groups)
        self.test_group_combinations: list[tuple[int, ...]] = list(
            combinations(range(self.n_groups), self.n_test_groups)
        )

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:  # noqa: N803 (scikit-learn convention)
        """Return the number of splits, ``C(N, k)``."""
        return len(self.test_group_combinations)

    @property
    def n_paths(self) -> int:
        """The number of backtest paths, ``k / N * C(N, k) = C(N - 1, k - 1)``."""
        return math.comb(self.n_groups - 1, self.n_test_groups - 1)

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:  # noqa: N803 (scikit-learn convention)
        """Yield ``(train_idx, test_idx)`` for each combination of test groups.

        Parameters
        ----------
        X : array-like
            The samples, one row per element of ``t1``.
        y, groups : ignored
            Present for scikit-learn compatibility.

        Yields
        ------
        tuple of np.ndarray
            Sorted train positions (purged and embargoed) and sorted test positions (the union of
            the split's test groups).

        Raises
        ------
        DataError
            If ``X`` does not have the rows of ``t1``.

        """
        self._check_rows(X)
        positions = np.arange(self._n)
        for combo in self.test_group_combinations:
            test = np.concatenate([self.groups[g] for g in combo])
            candidates = np.setdiff1d(positions, test, assume_unique=True)
            train = purge_overlapping(candidates, test, self._t0_ns, self._t1_ns)
            for g in combo:
                block_end = int(self._t1_ns[self.groups[g]].max())
                train = embargo_after(train, block_end, self._t0_ns, self._embargo_samples, self._embargo_ns)
            yield train, test

    def path_splits(self) -> np.ndarray:
        """Return which split supplies each group of each backtest path.

        Returns
        -------
        np.ndarray
            Integer array of shape ``(n_paths, n_groups)``: entry ``[p, g]`` is the index (in
            :meth:`split` order) of the split whose predictions fill group ``g`` on path ``p``.

        """
        table = np.empty((self.n_paths, self.n_groups), dtype=np.int64)
        for g in range(self.n_groups):
            testing = [s for s, combo in enumerate(self.test_group_combinations) if g in combo]
            table[:, g] = testing
        return table

    def reconstruct_paths(self, test_predictions: Sequence[Any]) -> np.ndarray:
        """Assemble the out-of-sample predictions of every split into the backtest paths.

        Parameters
        ----------
        test_predictions : sequence of array-like
            One array per split, in :meth:`split` order, aligned with that split's ``test_idx``
            (first axis of length ``len(test_idx)``).

        Returns
        -------
        np.ndarray
            Shape ``(n_paths, n_samples, ...)``: row ``p`` is a full out-of-sample series of path ``p``.

        Raises
        ------
        DataError
            If the number of arrays or their lengths do not match the splits.

        """
        if len(test_predictions) != self.get_n_splits():
            raise DataError(
                f"expected one prediction array per split ({self.get_n_splits()}), "
                f"got {len(test_predictions)}",
                field="test_predictions",
            )
        arrays = [np.asarray(p) for p in test_predictions]
        sizes = np.array([len(g) for g in self.groups])
        for s, (combo, values) in enumerate(zip(self.test_group_combinations, arrays, strict=True)):
            expected = int(sizes[list(combo)].sum())
            if len(values) != expected:
                raise DataError(
                    f"split {s} predictions have {len(values)} rows, its test set has {expected}",
                    field="test_predictions",
                )
        trailing = arrays[0].shape[1:]
        dtype = np.result_type(*arrays)
        paths = np.empty((self.n_paths, self._n, *trailing), dtype=dtype)
        for p, row in enumerate(self.path_splits()):
            for g, s in enumerate(row):
                combo = self.test_group_combinations[s]
                offset = int(sizes[[h for h in combo if h < g]].sum())
                group = self.groups[g]
                paths[p, group] = arrays[s][offset : offset + len(group)]
        return paths


# --------------------------------------------------------------------------------------------------
# Preprocessing fitted on the training window only
# --------------------------------------------------------------------------------------------------


def fit_transform_train_only(transformer: Any, X_train: Any, X_test: Any) -> tuple[Any, Any, Any]:  # noqa: N803 (scikit-learn convention)
    """Fit a fresh copy of a scikit-learn transformer on the training rows and transform both sets.

    The transformer is cloned (its learned state is discarded), fitted on ``X_train`` only and then
    applied unchanged to ``X_test``, so no statistic of the test window (mean, scale, quantiles)
    leaks into the features the model is trained or evaluated on. Inside scikit-learn CV tools the
    same guarantee comes from a ``Pipeline([("scale", StandardScaler()), ("model", ...)])`` passed
    with ``cv=`` one of the splitters of this module.

    Parameters
    ----------
    transformer : sklearn transformer
        An unfitted or fitted estimator with ``fit`` and ``transform``; it is not modified.
    X_train, X_test : array-like
        The rows of the training and the test window.

    Returns
    -------
    tuple
        ``(fitted, X_train_transformed, X_test_transformed)``.

    """
    fitted = clone(transformer).fit(X_train)
    return fitted, fitted.transform(X_train), fitted.transform(X_test)
