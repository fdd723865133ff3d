import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.learning.labels import label_end_times, triple_barrier_labels
from nautilus_ai.learning.sample_weights import (
    average_uniqueness,
    concurrent_label_counts,
    return_attribution_weights,
    time_decay_weights,
)
from nautilus_ai.test_kit import read_stocknet_daily

BARS = pd.date_range("2024-01-01", periods=5, freq="D", tz="UTC")
# labels [day 0, day 2], [day 1, day 3], [day 3, day 4]
T1 = pd.Series(BARS[[2, 3, 4]], index=BARS[[0, 1, 3]], name="t1")


def test_concurrency_worked_example():
    counts = concurrent_label_counts(T1, BARS)

    assert counts.tolist() == [1, 2, 2, 2, 1]
    assert counts.index.equals(BARS)


def test_average_uniqueness_worked_example():
    uniqueness = average_uniqueness(T1, BARS)

    # (1 + 1/2 + 1/2) / 3, (1/2 + 1/2 + 1/2) / 3, (1/2 + 1) / 2
    np.testing.assert_allclose(uniqueness, [2 / 3, 1 / 2, 3 / 4])
    assert uniqueness.index.equals(T1.index)


def test_return_attribution_worked_example():
    close = pd.Series([100.0, 110.0, 99.0, 99.0, 108.9], index=BARS)

    weights = return_attribution_weights(T1, close)

    # bar returns after t0, each divided by its concurrency (1, 2, 2, 2, 1)
    raw = np.array(
        [
            abs(np.log(1.1) / 2 + np.log(0.9) / 2),  # label 0: bars 1, 2
            abs(np.log(0.9) / 2 + 0.0 / 2),  # label 1: bars 2, 3
            abs(np.log(1.1) / 1),  # label 2: bar 4
        ]
    )
    np.testing.assert_allclose(weights, 3 * raw / raw.sum())
    assert weights.sum() == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("oldest_weight", "expected"),
    [
        (1.0, [1.0, 1.0, 1.0, 1.0]),
        (0.5, [0.625, 0.75, 0.875, 1.0]),
        (0.0, [0.25, 0.5, 0.75, 1.0]),
        # slope 1 / (0.5 * 4) = 0.5, intercept 1 - 2 = -1: the oldest half gets no weight
        (-0.5, [0.0, 0.0, 0.5, 1.0]),
    ],
)
def test_time_decay_worked_examples(oldest_weight, expected):
    uniqueness = pd.Series(1.0, index=BARS[:4])

    decay = time_decay_weights(uniqueness, oldest_weight)

    np.testing.assert_allclose(decay, expected)


def test_time_decay_follows_cumulative_uniqueness_not_the_label_count():
    uniqueness = pd.Series([0.5, 0.5, 1.0], index=BARS[:3])

    decay = time_decay_weights(uniqueness, 0.0)

    # x = 0.5, 1, 2 over X = 2
    np.testing.assert_allclose(decay, [0.25, 0.5, 1.0])


def _random_labels(seed: int, n_bars: int, n_labels: int, max_bars: int):
    rng = np.random.default_rng(seed)
    bars = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(
        np.cumsum(rng.integers(1, 4, n_bars)), unit="h"
    )
    starts = np.sort(rng.choice(n_bars, size=min(n_labels, n_bars), replace=False))
    ends = np.minimum(starts + rng.integers(0, max_bars + 1, len(starts)), n_bars - 1)
    return bars, pd.Series(bars[ends], index=bars[starts], name="t1"), starts, ends


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_bars=st.integers(5, 60),
    n_labels=st.integers(1, 40),
    max_bars=st.integers(0, 10),
)
def test_weights_match_brute_force_counts_and_conserve_covered_bars(seed, n_bars, n_labels, max_bars):
    bars, t1, starts, ends = _random_labels(seed, n_bars, n_labels, max_bars)
    cover = np.zeros((len(starts), n_bars), dtype=int)
    for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
        cover[i, a : b + 1] = 1

    counts = concurrent_label_counts(t1, bars)
    uniqueness = average_uniqueness(t1, bars)
    decay = time_decay_weights(uniqueness, 0.2)

    np.testing.assert_array_equal(counts, cover.sum(axis=0))
    assert ((uniqueness > 0) & (uniqueness <= 1 + 1e-12)).all()
    # every covered bar hands out exactly one unit of uniqueness across its labels
    lengths = cover.sum(axis=1)
    assert (uniqueness * lengths).sum() == pytest.approx((counts > 0).sum())
    assert np.all(np.diff(decay) >= 0) and decay.iloc[-1] == pytest.approx(1.0)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n_labels=st.integers(2, 40), max_bars=st.integers(1, 8))
def test_return_weights_are_non_negative_and_sum_to_the_label_count(seed, n_labels, max_bars):
    bars, t1, _, _ = _random_labels(seed, 60, n_labels, max_bars)
    assume((t1 > t1.index).any())  # at least one label spans a return
    rng = np.random.default_rng(seed)
    close = pd.Series(100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(bars)))), index=bars)

    weights = return_attribution_weights(t1, close)

    assert (weights >= 0).all()
    assert weights.sum() == pytest.approx(len(t1))


def test_fixed_horizon_labels_on_aapl_have_uniqueness_one_over_horizon_plus_one_inside_the_sample():
    close = read_stocknet_daily("AAPL")["close"]
    horizon = 5
    ends = label_end_times(close.index, horizon)
    t1 = pd.Series(ends, index=close.index).dropna()

    counts = concurrent_label_counts(t1, close.index)
    uniqueness = average_uniqueness(t1, close.index)

    # every bar away from the edges is covered by the label started on it and the 5 before; the
    # labels at both edges share fewer bars, so they are more unique
    assert (counts.iloc[horizon:-horizon] == horizon + 1).all()
    np.testing.assert_allclose(uniqueness.iloc[horizon:-horizon], 1 / (horizon + 1))
    assert (uniqueness.iloc[:horizon] > 1 / (horizon + 1)).all()
    assert (uniqueness.iloc[-horizon:] > 1 / (horizon + 1)).all()


def test_triple_barrier_labels_on_aapl_get_more_weight_when_they_stop_early():
    close = read_stocknet_daily("AAPL")["close"]
    t1 = triple_barrier_labels(close, max_holding_bars=20, profit_take=1.0, stop_loss=1.0)["t1"].dropna()

    uniqueness = average_uniqueness(t1, close.index)
    weights = return_attribution_weights(t1, close)

    bars_held = close.index.get_indexer(t1) - close.index.get_indexer(t1.index)
    short, long = uniqueness[bars_held <= 3].mean(), uniqueness[bars_held >= 15].mean()
    assert 0 < long < short <= 1
    assert weights.sum() == pytest.approx(len(t1))


def test_invalid_inputs_raise_clear_errors():
    with pytest.raises(DataError, match="covers no bar"):
        concurrent_label_counts(T1, BARS[[0, 4]].union(pd.DatetimeIndex([BARS[0] + pd.Timedelta("1h")])))
    with pytest.raises(DataError, match="strictly increasing DatetimeIndex"):
        average_uniqueness(T1, BARS[::-1])
    with pytest.raises(DataError, match="> 0"):
        return_attribution_weights(T1, pd.Series([100.0, 0.0, 99.0, 99.0, 98.0], index=BARS))
    with pytest.raises(DataError, match="zero"):
        return_attribution_weights(T1, pd.Series(100.0, index=BARS))
    with pytest.raises(ConfigError, match="oldest_weight"):
        time_decay_weights(pd.Series(1.0, index=BARS), -1.0)
    with pytest.raises(DataError, match="uniqueness"):
        time_decay_weights(pd.Series([1.0, np.nan], index=BARS[:2]))
