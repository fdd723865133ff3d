import numpy as np
import pandas as pd
import pytest

from nautilus_ai.errors import ConfigError
from nautilus_ai.learning.labels import direction_labels, forward_returns, label_end_times


def _close(n: int = 50, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=n, freq="D", tz="UTC")
    return pd.Series(100 * np.exp(np.cumsum(rng.normal(0, 0.01, n))), index=index, name="close")


def test_forward_returns_compare_close_h_bars_ahead():
    close = pd.Series([100.0, 110.0, 99.0, 99.0], index=pd.date_range("2024-01-01", periods=4, tz="UTC"))

    fwd = forward_returns(close, 1)

    np.testing.assert_allclose(fwd.to_numpy()[:3], [0.1, 99 / 110 - 1, 0.0])
    assert np.isnan(fwd.iloc[3])
    assert fwd.index.equals(close.index)


@pytest.mark.parametrize("horizon", [1, 3, 7])
def test_forward_returns_are_nan_exactly_for_the_last_horizon_bars(horizon):
    close = _close()

    fwd = forward_returns(close, horizon)

    assert fwd.iloc[-horizon:].isna().all()
    assert fwd.iloc[:-horizon].notna().all()
    np.testing.assert_allclose(fwd.iloc[0], close.iloc[horizon] / close.iloc[0] - 1)


def test_label_end_times_are_the_index_shifted_by_the_horizon():
    index = _close(10).index

    ends = label_end_times(index, 3)

    assert list(ends[:7]) == list(index[3:])
    assert ends[7:].isna().all()
    assert len(ends) == len(index)


def test_direction_labels_are_one_for_positive_returns_and_keep_nan():
    fwd = pd.Series([0.02, -0.01, 0.0, np.nan])

    labels = direction_labels(fwd)

    assert labels.iloc[:3].tolist() == [1.0, 0.0, 0.0]
    assert np.isnan(labels.iloc[3])


@pytest.mark.parametrize("horizon", [0, -1, 1.5, True])
def test_invalid_horizon_is_a_config_error(horizon):
    with pytest.raises(ConfigError, match="horizon"):
        forward_returns(_close(), horizon)


@pytest.mark.parametrize("horizon", [1, 2, 5])
def test_cutting_the_series_never_changes_labels_already_known(horizon):
    close = _close(300, seed=4)
    full = direction_labels(forward_returns(close, horizon))
    full_ends = label_end_times(close.index, horizon)
    rng = np.random.default_rng(123)

    for cut in rng.integers(horizon + 1, len(close), size=25):
        truncated = close.iloc[:cut]
        labels = direction_labels(forward_returns(truncated, horizon))
        ends = label_end_times(truncated.index, horizon)
        known = ends.notna()
        # every label computable from the truncated series equals the full-series label
        pd.testing.assert_series_equal(labels[known], full.iloc[:cut][known])
        # labels not yet known at the cut are NaN, not guessed
        assert labels[~known].isna().all()
        # and a label becomes known exactly when its end time is inside the data
        assert (ends[known] <= truncated.index[-1]).all()
        assert list(ends[known]) == list(full_ends[: int(known.sum())])
