import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.learning.labels import (
    check_label_end_times,
    direction_labels,
    forward_returns,
    label_end_times,
    label_intervals,
    meta_labels,
    rolling_volatility,
    triple_barrier_labels,
)
from nautilus_ai.test_kit import read_stocknet_daily


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


# --------------------------------------------------------------------------------------------------
# Triple-barrier labels, rolling volatility and meta-labels
# --------------------------------------------------------------------------------------------------


DAYS = pd.date_range("2024-01-01", periods=6, freq="D", tz="UTC")
CLOSES = pd.Series([100.0, 101.0, 103.0, 99.0, 98.0, 100.0], index=DAYS, name="close")
FLAT_VOL = pd.Series(0.02, index=DAYS)


def test_triple_barrier_worked_example_with_symmetric_barriers():
    out = triple_barrier_labels(CLOSES, max_holding_bars=2, volatility=FLAT_VOL)

    # e0: +1 %, +3 % >= 2 %     -> upper at day 2
    # e1: +1.98 %, -1.98 %      -> no touch, vertical at day 3
    # e2: 99/103 - 1 = -3.88 %  -> lower at day 3
    # e3: -1.01 %, +1.01 %      -> vertical at day 5
    # e4: 100/98 - 1 = +2.04 %  -> upper at day 5
    # e5: no future bar         -> unknown
    assert out["label"].iloc[:5].tolist() == [1.0, 0.0, -1.0, 0.0, 1.0]
    assert out["barrier"].iloc[:5].tolist() == ["upper", "vertical", "lower", "vertical", "upper"]
    assert list(out["t1"].iloc[:5]) == [DAYS[2], DAYS[3], DAYS[3], DAYS[5], DAYS[5]]
    np.testing.assert_allclose(
        out["return"].iloc[:5], [0.03, 99 / 101 - 1, 99 / 103 - 1, 100 / 99 - 1, 100 / 98 - 1]
    )
    assert np.isnan(out["label"].iloc[5]) and np.isnan(out["return"].iloc[5])
    assert pd.isna(out["t1"].iloc[5]) and pd.isna(out["barrier"].iloc[5])
    assert out.index.equals(DAYS)
    np.testing.assert_allclose(out["volatility"], 0.02)


def test_vertical_label_sign_uses_the_sign_of_the_return_at_the_vertical_barrier():
    out = triple_barrier_labels(CLOSES, max_holding_bars=2, volatility=FLAT_VOL, vertical_label="sign")

    assert out["label"].iloc[:5].tolist() == [1.0, -1.0, -1.0, 1.0, 1.0]
    assert out["barrier"].iloc[1] == "vertical"


def test_disabled_profit_take_leaves_only_the_stop_and_the_vertical_barrier():
    out = triple_barrier_labels(CLOSES, max_holding_bars=2, volatility=FLAT_VOL, profit_take=None)

    # e0 no longer stops at +3 %: vertical at day 2 with the same return; e4 is no longer stopped by
    # +2.04 % and its vertical barrier (day 6) is past the data: unknown
    assert out["barrier"].iloc[:4].tolist() == ["vertical", "vertical", "lower", "vertical"]
    assert pd.isna(out["barrier"].iloc[4])
    assert out["label"].iloc[0] == 0.0
    np.testing.assert_allclose(out["return"].iloc[0], 0.03)


def test_side_swaps_profit_take_and_stop_for_shorts_and_meta_labels_score_the_trade():
    side = pd.Series([-1.0, 1.0, -1.0, 0.0, 1.0, 1.0], index=DAYS)

    out = triple_barrier_labels(
        CLOSES, max_holding_bars=2, volatility=FLAT_VOL, profit_take=2.0, stop_loss=1.0, side=side
    )
    meta = meta_labels(side, out)

    # e0 short: stop at +2 % (hit: +3 % on day 2); e1 long: target +4 %, stop -2 %: none, vertical;
    # e2 short: target -4 %: -3.88 % misses, -4.85 % on day 4 hits; e3 no side: +4 % / -2 %, vertical;
    # e4 long: only one future bar and no touch -> unknown.
    assert out["barrier"].iloc[:4].tolist() == ["upper", "vertical", "lower", "vertical"]
    assert list(out["t1"].iloc[:4]) == [DAYS[2], DAYS[3], DAYS[4], DAYS[5]]
    np.testing.assert_allclose(out["return"].iloc[2], 98 / 103 - 1)
    assert out["label"].iloc[4:].isna().all()
    assert meta.iloc[:4].tolist() == [0.0, 0.0, 1.0, 0.0]
    assert meta.iloc[4:].isna().all()
    assert meta.name == "meta_label"


def test_events_restrict_the_labels_to_the_given_bars():
    out = triple_barrier_labels(CLOSES, max_holding_bars=2, volatility=FLAT_VOL, events=DAYS[[0, 2]])

    assert out.index.equals(DAYS[[0, 2]])
    assert out["label"].tolist() == [1.0, -1.0]


def test_no_events_give_an_empty_frame_with_the_label_columns():
    out = triple_barrier_labels(CLOSES, max_holding_bars=2, volatility=FLAT_VOL, events=DAYS[:0])

    assert out.empty
    assert list(out.columns) == ["t1", "return", "label", "barrier", "volatility"]


def test_rolling_volatility_worked_example_and_warm_up():
    close = pd.Series([100.0, 101.0, 99.99], index=DAYS[:3])

    vol = rolling_volatility(close, span=2)

    # returns +1 %, -1 %; EW weights (1/3, 1), mean -0.005, biased var 7.5e-5, bias factor 8/3 -> 2e-4
    assert vol.iloc[:2].isna().all()
    np.testing.assert_allclose(vol.iloc[2], np.sqrt(2e-4))


def test_volatility_warm_up_makes_labels_unknown():
    close = _close(40, seed=2)

    out = triple_barrier_labels(close, max_holding_bars=3, volatility_span=10)

    assert out["label"].iloc[:10].isna().all()
    assert out["label"].iloc[10:-3].notna().all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_holding_bars": 0}, "horizon"),
        ({"max_holding_bars": 2, "profit_take": 0.0}, "profit_take"),
        ({"max_holding_bars": 2, "stop_loss": -1.0}, "stop_loss"),
        ({"max_holding_bars": 2, "vertical_label": "up"}, "vertical_label"),
        ({"max_holding_bars": 2, "volatility_span": 1}, "span"),
    ],
)
def test_invalid_triple_barrier_parameters_are_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        triple_barrier_labels(CLOSES, **kwargs)


def test_triple_barrier_rejects_bad_inputs_with_data_errors():
    with pytest.raises(DataError, match="increasing"):
        triple_barrier_labels(CLOSES.iloc[::-1], max_holding_bars=2)
    with pytest.raises(DataError, match="not a bar of close"):
        triple_barrier_labels(
            CLOSES, max_holding_bars=2, events=pd.DatetimeIndex([DAYS[0] + pd.Timedelta("1h")])
        )
    with pytest.raises(DataError, match="finite and > 0"):
        triple_barrier_labels(CLOSES.where(CLOSES.index != DAYS[3]), max_holding_bars=2)
    with pytest.raises(DataError, match="volatility has no value"):
        triple_barrier_labels(CLOSES, max_holding_bars=2, volatility=FLAT_VOL.iloc[:3])
    with pytest.raises(DataError, match="side must be"):
        triple_barrier_labels(
            CLOSES, max_holding_bars=2, volatility=FLAT_VOL, side=pd.Series(2.0, index=DAYS)
        )


def _brute_force_barrier(values, i, sigma, n_bars, upper_multiple, lower_multiple):
    """One event, one bar at a time: the reference the vectorized kernel must match."""
    for j in range(i + 1, min(i + n_bars, len(values) - 1) + 1):
        ret = values[j] / values[i] - 1
        if ret >= upper_multiple * sigma:
            return j, 1.0
        if ret <= -lower_multiple * sigma:
            return j, -1.0
    if i + n_bars < len(values):
        return i + n_bars, 0.0
    return None, np.nan


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_bars=st.integers(1, 12),
    upper=st.floats(0.25, 3.0),
    lower=st.floats(0.25, 3.0),
)
def test_triple_barrier_matches_a_bar_by_bar_reference(seed, n_bars, upper, lower):
    close = _close(80, seed=seed)
    vol = rolling_volatility(close, 5)

    out = triple_barrier_labels(
        close, max_holding_bars=n_bars, profit_take=upper, stop_loss=lower, volatility=vol
    )

    values = close.to_numpy()
    for i in range(len(values)):
        sigma = vol.iloc[i]
        end, label = (
            (None, np.nan)
            if np.isnan(sigma)
            else _brute_force_barrier(values, i, sigma, n_bars, upper, lower)
        )
        if end is None:
            assert np.isnan(out["label"].iloc[i]) and pd.isna(out["t1"].iloc[i])
            continue
        assert out["label"].iloc[i] == label
        assert out["t1"].iloc[i] == close.index[end]
        assert out["return"].iloc[i] == pytest.approx(values[end] / values[i] - 1)
        assert 1 <= end - i <= n_bars


def test_triple_barrier_on_aapl_never_changes_when_the_future_is_cut_or_rewritten():
    close = read_stocknet_daily("AAPL")["close"]
    full = triple_barrier_labels(close, max_holding_bars=10, profit_take=1.5, stop_loss=1.0)
    rng = np.random.default_rng(7)

    for cut in rng.integers(30, len(close), size=12):
        truncated = close.iloc[:cut]
        # rewrite everything from the cut on: a label known before the cut must not notice
        rewritten = close.copy()
        rewritten.iloc[cut:] = rewritten.iloc[cut:] * rng.uniform(0.5, 1.5, len(close) - cut)
        for series in (truncated, rewritten):
            out = triple_barrier_labels(series, max_holding_bars=10, profit_take=1.5, stop_loss=1.0)
            known = out["t1"].notna() & (out["t1"] < close.index[cut])
            assert known.sum() > 0
            pd.testing.assert_frame_equal(out[known], full.loc[known.index[known]])
        # labels still open at the cut are unknown, not guessed from a shorter path
        out = triple_barrier_labels(truncated, max_holding_bars=10, profit_take=1.5, stop_loss=1.0)
        assert (out["t1"].dropna() <= truncated.index[-1]).all()
        open_at_cut = full.index[:cut][full["t1"].iloc[:cut] >= close.index[cut]]
        assert out.loc[open_at_cut, "label"].isna().all()
        assert out.loc[open_at_cut, "t1"].isna().all()
        # and the volatility used at each event is the one known then
        pd.testing.assert_series_equal(out["volatility"], full["volatility"].iloc[:cut])


def test_triple_barrier_reads_no_price_after_t1_on_aapl():
    close = read_stocknet_daily("AAPL")["close"]
    full = triple_barrier_labels(close, max_holding_bars=15)
    events = full.dropna().index[::97]

    for t0 in events:
        t1 = full.at[t0, "t1"]
        garbled = close.copy()
        garbled[garbled.index > t1] = 1e6
        one = triple_barrier_labels(garbled, max_holding_bars=15, events=full.index[full.index == t0])
        pd.testing.assert_frame_equal(one, full.loc[[t0]])


def test_check_label_end_times_names_the_problem():
    t1 = pd.Series(DAYS[1:4], index=DAYS[:3])
    assert check_label_end_times(t1) is t1
    t0_ns, t1_ns = label_intervals(t1)
    assert (t1_ns - t0_ns == 86_400 * 10**9).all()

    with pytest.raises(DataError, match="at or after its start"):
        check_label_end_times(pd.Series(DAYS[:3], index=DAYS[1:4]))
    with pytest.raises(DataError, match="missing end times"):
        check_label_end_times(pd.Series([DAYS[1], pd.NaT, DAYS[3]], index=DAYS[:3]))
    with pytest.raises(DataError, match="strictly increasing"):
        check_label_end_times(pd.Series(DAYS[[3, 4, 5]], index=DAYS[[1, 0, 2]]))
    with pytest.raises(DataError, match="DatetimeIndex"):
        check_label_end_times(pd.Series(DAYS[:3]))
