"""Tests for nautilus_ai.backtest.metrics (hand-computed values and a vectorbt cross-check)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from nautilus_ai.backtest import metrics as m

VALUES = [100.0, 110.0, 99.0, 105.0, 120.0, 90.0, 95.0]


def _equity(values, freq: str = "B", start: str = "2024-01-01") -> pd.Series:
    idx = pd.date_range(start, periods=len(values), freq=freq, tz="UTC")
    return pd.Series(np.asarray(values, dtype=float), index=idx, name="equity")


def _np_returns(values) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return v[1:] / v[:-1] - 1.0


@pytest.fixture
def random_equity() -> pd.Series:
    rng = np.random.default_rng(42)
    r = rng.normal(0.0004, 0.012, 750)
    return _equity(1_000.0 * np.cumprod(np.r_[1.0, 1.0 + r]))


# ------------------------------------------------------------------------------------------------
# periods_per_year
# ------------------------------------------------------------------------------------------------


def test_periods_per_year_weekday_daily_is_252() -> None:
    idx = pd.bdate_range("2024-01-01", periods=30, tz="UTC")
    assert m.periods_per_year(idx) == 252.0


def test_periods_per_year_daily_bars_stamped_at_close_still_252() -> None:
    idx = pd.bdate_range("2024-01-01", periods=30, tz="UTC") + pd.Timedelta(hours=21)
    assert m.periods_per_year(idx) == 252.0


def test_periods_per_year_seven_day_daily_is_calendar() -> None:
    idx = pd.date_range("2024-01-01", periods=30, freq="D", tz="UTC")
    assert m.periods_per_year(idx) == pytest.approx(365.25)


def test_periods_per_year_minute_crypto() -> None:
    idx = pd.date_range("2024-01-01", periods=500, freq="1min", tz="UTC")
    assert m.periods_per_year(idx) == pytest.approx(525_960.0)


def test_periods_per_year_hourly_uses_median_spacing() -> None:
    idx = pd.date_range("2024-01-01", periods=100, freq="h", tz="UTC")
    idx = idx.delete([10, 11, 12])  # a gap must not move the median
    assert m.periods_per_year(idx) == pytest.approx(365.25 * 24)


def test_periods_per_year_needs_two_points() -> None:
    with pytest.raises(ValueError):
        m.periods_per_year(pd.DatetimeIndex([pd.Timestamp("2024-01-01", tz="UTC")]))


# ------------------------------------------------------------------------------------------------
# Hand-computed values
# ------------------------------------------------------------------------------------------------


def test_simple_returns() -> None:
    r = m.simple_returns(_equity(VALUES))
    assert len(r) == len(VALUES) - 1
    np.testing.assert_allclose(r.to_numpy(), _np_returns(VALUES))
    assert r.index[0] == _equity(VALUES).index[1]


def test_total_return() -> None:
    assert m.total_return(_equity(VALUES)) == pytest.approx(95.0 / 100.0 - 1.0)


def test_sharpe_hand_computed() -> None:
    r = _np_returns(VALUES)
    expected = r.mean() / r.std(ddof=1) * math.sqrt(252)
    assert m.sharpe_ratio(pd.Series(r), 252) == pytest.approx(expected)


def test_sharpe_with_annual_risk_free() -> None:
    r = _np_returns(VALUES)
    rf_p = 1.05 ** (1 / 252) - 1
    x = r - rf_p
    expected = x.mean() / x.std(ddof=1) * math.sqrt(252)
    assert m.sharpe_ratio(pd.Series(r), 252, risk_free=0.05) == pytest.approx(expected)


def test_sortino_hand_computed() -> None:
    r = _np_returns(VALUES)
    dd = math.sqrt(np.mean(np.minimum(r, 0.0) ** 2))
    expected = r.mean() / dd * math.sqrt(252)
    assert m.sortino_ratio(pd.Series(r), 252) == pytest.approx(expected)


def test_volatility_hand_computed() -> None:
    r = _np_returns(VALUES)
    assert m.annualized_volatility(pd.Series(r), 252) == pytest.approx(r.std(ddof=1) * math.sqrt(252))


def test_drawdown_series_and_max() -> None:
    eq = _equity(VALUES)
    dd = m.drawdown_series(eq)
    peaks = np.maximum.accumulate(np.asarray(VALUES))
    np.testing.assert_allclose(dd.to_numpy(), np.asarray(VALUES) / peaks - 1.0)
    assert (dd <= 0).all()
    # worst: 120 -> 90
    assert m.max_drawdown(eq) == pytest.approx(90.0 / 120.0 - 1.0)


def test_max_drawdown_duration_unrecovered() -> None:
    # peak 110 at i=1, recovered at i=4 (120 >= 110): 3 periods; peak 120 at i=4 unrecovered to i=6: 2.
    eq = _equity(VALUES, freq="D")
    dur = m.max_drawdown_duration(eq)
    assert dur.periods == 3
    assert dur.timedelta == pd.Timedelta(days=3)


def test_max_drawdown_duration_picks_longest_in_time() -> None:
    # peak i=0 (100), underwater i=1..2, recovers at i=3 -> 3 periods; peak i=3 (101) ->
    # underwater i=4..8 until the end -> 5 periods.
    eq = _equity([100, 90, 95, 101, 100, 99, 98, 97, 96], freq="D")
    dur = m.max_drawdown_duration(eq)
    assert dur == (pd.Timedelta(days=5), 5)


def test_max_drawdown_duration_recovery_to_equal_peak_counts() -> None:
    eq = _equity([100, 90, 100, 100, 100, 100], freq="D")
    assert m.max_drawdown_duration(eq) == (pd.Timedelta(days=2), 2)


def test_max_drawdown_duration_uses_wall_clock_time_across_weekend() -> None:
    # Fri 2024-01-05 peak, Mon drop, Tue recover -> 4 calendar days, 2 periods
    idx = pd.DatetimeIndex(["2024-01-04", "2024-01-05", "2024-01-08", "2024-01-09"], tz="UTC")
    eq = pd.Series([100.0, 105.0, 100.0, 106.0], index=idx)
    assert m.max_drawdown_duration(eq) == (pd.Timedelta(days=4), 2)


def test_cagr_hand_computed() -> None:
    eq = _equity(VALUES)
    years = (len(VALUES) - 1) / 252
    expected = (95.0 / 100.0) ** (1 / years) - 1
    assert m.cagr(eq, 252) == pytest.approx(expected)


def test_cagr_one_year_equals_total_return() -> None:
    eq = _equity(np.linspace(100, 130, 253))
    assert m.cagr(eq, 252) == pytest.approx(0.30)


def test_calmar_hand_computed() -> None:
    eq = _equity(VALUES)
    years = (len(VALUES) - 1) / 252
    expected = ((95.0 / 100.0) ** (1 / years) - 1) / abs(90.0 / 120.0 - 1.0)
    assert m.calmar_ratio(eq, 252) == pytest.approx(expected)


def _fills(notionals) -> pd.DataFrame:
    n = len(notionals)
    return pd.DataFrame(
        {
            "ts": pd.date_range("2024-01-02", periods=n, freq="D", tz="UTC"),
            "instrument_id": ["SPY.XNAS"] * n,
            "side": ["BUY", "SELL"] * (n // 2) + ["BUY"] * (n % 2),
            "quantity": [1.0] * n,
            "price": list(map(float, notionals)),
            "notional": list(map(float, notionals)),
            "commission": [0.1] * n,
        }
    )


def test_turnover_and_n_trades() -> None:
    eq = _equity(VALUES)
    fills = _fills([50.0, 60.0, 40.0])
    years = (len(VALUES) - 1) / 252
    expected = 150.0 / np.mean(VALUES) / years
    assert m.turnover(fills, eq, 252) == pytest.approx(expected)
    assert m.n_trades(fills) == 3
    assert m.n_trades(None) == 0
    assert m.turnover(None, eq, 252) == 0.0
    assert m.turnover(fills.iloc[0:0], eq, 252) == 0.0


def test_hit_rate() -> None:
    pos = pd.DataFrame({"realized_pnl": [10.0, -5.0, 0.0, 3.0]})
    assert m.hit_rate(pos) == pytest.approx(0.5)  # break-even is a miss
    assert m.hit_rate(pd.DataFrame({"realized_pnl": []})) is None
    assert m.hit_rate(None) is None


# ------------------------------------------------------------------------------------------------
# Edge cases
# ------------------------------------------------------------------------------------------------


def test_flat_equity() -> None:
    eq = _equity([100.0] * 10)
    r = m.simple_returns(eq)
    assert m.sharpe_ratio(r, 252) == 0.0
    assert m.sortino_ratio(r, 252) == 0.0
    assert m.annualized_volatility(r, 252) == 0.0
    assert m.max_drawdown(eq) == 0.0
    assert m.max_drawdown_duration(eq) == (pd.Timedelta(0), 0)
    assert m.cagr(eq, 252) == 0.0
    assert m.calmar_ratio(eq, 252) == 0.0
    out = m.compute_metrics(eq)
    assert out["sharpe"] == 0.0 and out["total_return"] == 0.0 and out["max_drawdown"] == 0.0


def test_single_point() -> None:
    eq = _equity([100.0])
    out = m.compute_metrics(eq)
    assert out["n_periods"] == 0
    assert out["periods_per_year"] is None
    for key in ("sharpe", "sortino", "calmar", "cagr", "volatility", "turnover", "max_drawdown"):
        assert out[key] == 0.0
    assert out["start"] == out["end"] == "2024-01-01T00:00:00+00:00"
    assert m.sharpe_ratio(m.simple_returns(eq), 252) == 0.0


def test_two_points_sharpe_needs_two_returns() -> None:
    eq = _equity([100.0, 101.0])
    assert m.sharpe_ratio(m.simple_returns(eq), 252) == 0.0
    assert m.cagr(eq, 252) == pytest.approx(1.01**252 - 1)


def test_monotonically_rising() -> None:
    eq = _equity(100.0 * 1.001 ** np.arange(50))
    r = m.simple_returns(eq)
    assert m.max_drawdown(eq) == 0.0
    assert m.max_drawdown_duration(eq) == (pd.Timedelta(0), 0)
    assert m.calmar_ratio(eq, 252) == 0.0
    assert m.sortino_ratio(r, 252) == 0.0  # no downside -> 0 by convention
    assert m.sharpe_ratio(r, 252) == 0.0  # constant returns -> zero std
    assert m.cagr(eq, 252) == pytest.approx(1.001**252 - 1)


def test_compute_metrics_keys_and_json(random_equity: pd.Series) -> None:
    fills = _fills([500.0, 520.0])
    pos = pd.DataFrame({"realized_pnl": [20.0]})
    out = m.compute_metrics(random_equity, fills, pos)
    required = {
        "sharpe", "sortino", "calmar", "max_drawdown", "max_drawdown_duration_days", "cagr",
        "total_return", "volatility", "n_trades", "turnover", "hit_rate", "n_periods", "start", "end",
    }  # fmt: skip
    assert required <= out.keys()
    json.dumps(out, allow_nan=False)
    assert out["n_periods"] == len(random_equity) - 1
    assert out["periods_per_year"] == 252.0
    assert out["n_trades"] == 2
    assert out["hit_rate"] == 1.0
    assert out["start"] == random_equity.index[0].isoformat()
    r = m.simple_returns(random_equity)
    assert out["sharpe"] == pytest.approx(m.sharpe_ratio(r, 252))
    assert out["max_drawdown_duration_days"] == pytest.approx(
        m.max_drawdown_duration(random_equity).timedelta / pd.Timedelta(days=1)
    )
    assert all(type(v) in (float, int, str, type(None)) for v in out.values())


def test_compute_metrics_explicit_ppy() -> None:
    eq = _equity(VALUES, freq="min")
    out = m.compute_metrics(eq, ppy=252)
    assert out["periods_per_year"] == 252
    assert out["cagr"] == pytest.approx(m.cagr(eq, 252))


def test_compute_metrics_non_positive_start_gives_none() -> None:
    out = m.compute_metrics(_equity([0.0, 10.0, 20.0]))
    json.dumps(out, allow_nan=False)
    assert out["cagr"] is None and out["total_return"] is None


@pytest.mark.parametrize(
    "bad",
    [
        pd.Series([], dtype=float, index=pd.DatetimeIndex([], tz="UTC")),
        pd.Series([1.0, np.nan], index=pd.date_range("2024", periods=2, tz="UTC")),
        pd.Series([1.0, 2.0], index=pd.DatetimeIndex(["2024-01-02", "2024-01-01"], tz="UTC")),
        pd.Series([1.0, 2.0], index=pd.DatetimeIndex(["2024-01-01", "2024-01-01"], tz="UTC")),
    ],
)
def test_compute_metrics_rejects_bad_equity(bad: pd.Series) -> None:
    with pytest.raises(ValueError):
        m.compute_metrics(bad)


def test_compute_metrics_rejects_non_datetime_index() -> None:
    with pytest.raises(TypeError):
        m.compute_metrics(pd.Series([1.0, 2.0]))


# ------------------------------------------------------------------------------------------------
# Reference implementation: vectorbt's numba kernels
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vbt_nb():
    return pytest.importorskip("vectorbt.returns.nb")


@pytest.mark.parametrize("ppy", [252.0, 525_960.0])
def test_against_vectorbt(vbt_nb, random_equity: pd.Series, ppy: float) -> None:
    r = m.simple_returns(random_equity)
    arr = r.to_numpy(dtype=float)
    assert m.sharpe_ratio(r, ppy) == pytest.approx(vbt_nb.sharpe_ratio_1d_nb(arr.copy(), ppy, 0.0, 1))
    assert m.sortino_ratio(r, ppy) == pytest.approx(vbt_nb.sortino_ratio_1d_nb(arr.copy(), ppy, 0.0))
    assert m.max_drawdown(random_equity) == pytest.approx(vbt_nb.max_drawdown_1d_nb(arr.copy()))
    assert m.cagr(random_equity, ppy) == pytest.approx(vbt_nb.annualized_return_1d_nb(arr.copy(), ppy))
    assert m.calmar_ratio(random_equity, ppy) == pytest.approx(vbt_nb.calmar_ratio_1d_nb(arr.copy(), ppy))
    assert m.annualized_volatility(r, ppy) == pytest.approx(
        vbt_nb.annualized_volatility_1d_nb(arr.copy(), ppy, 2.0, 1)
    )


def test_sharpe_risk_free_against_vectorbt(vbt_nb, random_equity: pd.Series) -> None:
    r = m.simple_returns(random_equity)
    rf_p = 1.03 ** (1 / 252) - 1
    expected = vbt_nb.sharpe_ratio_1d_nb(r.to_numpy(dtype=float), 252.0, rf_p, 1)
    assert m.sharpe_ratio(r, 252.0, risk_free=0.03) == pytest.approx(expected)


def test_drawdown_series_against_vectorbt(vbt_nb, random_equity: pd.Series) -> None:
    arr = m.simple_returns(random_equity).to_numpy(dtype=float)
    np.testing.assert_allclose(m.drawdown_series(random_equity).to_numpy()[1:], vbt_nb.drawdown_1d_nb(arr))
