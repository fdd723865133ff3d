"""Data preparation of the run report: values the charts and the metrics table show."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from nautilus_ai.backtest.report_plots import (
    drawdowns,
    fold_boundaries,
    metrics_table,
    normalized_equity,
    prepare_report_frames,
    regime_bands,
    report_figures,
    rolling_sharpe,
    rolling_sharpe_window,
    scenario_distributions,
    series_colors,
    shap_summary,
    trade_markers,
)
from nautilus_ai.errors import DataError

IDX = pd.date_range("2024-01-01", periods=6, freq="D", tz="UTC")


def _equity() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "strategy": [100.0, 110.0, 99.0, 121.0, 108.9, 130.0],
            "buy_and_hold": [50.0, 50.0, 40.0, 45.0, 60.0, 30.0],
        },
        index=IDX,
    )


def test_normalized_equity_divides_each_column_by_its_first_value():
    norm = normalized_equity(_equity())
    assert norm["strategy"].tolist() == pytest.approx([1.0, 1.1, 0.99, 1.21, 1.089, 1.3])
    assert norm["buy_and_hold"].tolist() == pytest.approx([1.0, 1.0, 0.8, 0.9, 1.2, 0.6])


def test_normalized_equity_starts_at_the_first_valid_value_and_leaves_zero_start_nan():
    frame = pd.DataFrame({"a": [np.nan, 2.0, 4.0], "b": [0.0, 1.0, 2.0]}, index=IDX[:3])
    norm = normalized_equity(frame)
    assert math.isnan(norm["a"].iloc[0]) and norm["a"].iloc[1:].tolist() == [1.0, 2.0]
    assert norm["b"].isna().all()


def test_drawdowns_from_the_running_peak():
    dd = drawdowns(_equity())
    # strategy peaks 110 then 121: 99/110-1 = -0.1, 108.9/121-1 = -0.1
    assert dd["strategy"].tolist() == pytest.approx([0.0, 0.0, -0.1, 0.0, -0.1, 0.0])
    assert dd["buy_and_hold"].tolist() == pytest.approx([0.0, 0.0, -0.2, -0.1, 0.0, -0.5])


def test_rolling_sharpe_window_is_a_quarter_year_of_bars_capped_by_the_run():
    assert rolling_sharpe_window(252.0, 1000) == 63
    assert rolling_sharpe_window(252.0, 100) == 50
    assert rolling_sharpe_window(252.0, 4) == 5
    assert rolling_sharpe_window(365.25 * 24, 100_000) == 2192  # hourly 24/7 bars: 8766 / 4
    with pytest.raises(DataError, match="periods_per_year"):
        rolling_sharpe_window(0.0, 100)


def test_rolling_sharpe_matches_the_definition():
    equity = _equity()
    window, ppy = 3, 252.0
    sharpe = rolling_sharpe(equity, window, ppy)
    r = equity["strategy"].pct_change()
    for t in range(len(equity)):
        got = sharpe["strategy"].iloc[t]
        if t < window:  # the first return is at t=1, so the first full window ends at t=3
            assert math.isnan(got)
            continue
        block = r.iloc[t - window + 1 : t + 1].to_numpy()
        expected = block.mean() / block.std(ddof=1) * math.sqrt(ppy)
        assert got == pytest.approx(expected)


def test_rolling_sharpe_of_constant_returns_is_nan_not_infinite():
    flat = pd.DataFrame({"strategy": 100.0 * 1.01 ** np.arange(10)}, index=pd.date_range("2024", periods=10))
    sharpe = rolling_sharpe(flat, 3, 252.0)
    assert sharpe["strategy"].isna().all()
    with pytest.raises(DataError, match="at least 2"):
        rolling_sharpe(flat, 1, 252.0)


def _regimes() -> pd.DataFrame:
    labels = {"A": ["calm", "calm", "volatile", "volatile", "calm", "calm"], "B": ["x"] * 6}
    rows = [
        {"ts": ts, "instrument_id": iid, "regime": labels[iid][i]}
        for i, ts in enumerate(IDX)
        for iid in ("B", "A")
    ]
    return pd.DataFrame(rows)


def test_regime_bands_collapse_runs_and_tile_the_span():
    bands = regime_bands(_regimes())  # first instrument in sorted order: A
    assert bands["instrument_id"].tolist() == ["A", "A", "A"]
    assert bands["regime"].tolist() == ["calm", "volatile", "calm"]
    assert bands["start"].tolist() == [IDX[0], IDX[2], IDX[4]]
    assert bands["end"].tolist() == [IDX[2], IDX[4], IDX[5]]
    assert bands["n_bars"].tolist() == [2, 2, 2]


def test_regime_bands_of_a_chosen_instrument_and_bad_input():
    bands = regime_bands(_regimes(), instrument_id="B")
    assert bands[["regime", "n_bars"]].values.tolist() == [["x", 6]]
    assert bands["end"].iloc[0] == IDX[-1]
    assert regime_bands(pd.DataFrame()).empty
    with pytest.raises(DataError, match="no regimes for instrument 'C'"):
        regime_bands(_regimes(), instrument_id="C")
    with pytest.raises(DataError, match="regime"):
        regime_bands(pd.DataFrame({"ts": IDX}))


def test_trade_markers_sit_on_the_curve_at_or_before_the_fill():
    curve = normalized_equity(_equity())["strategy"]
    trades = pd.DataFrame(
        {
            "ts": [IDX[2] + pd.Timedelta(hours=5), IDX[0], IDX[0] - pd.Timedelta(days=1)],
            "side": ["sell", "BUY", "BUY"],
            "quantity": [3.0, 10.0, 1.0],
            "price": [101.5, 100.0, 99.0],
            "instrument_id": ["A", "A", "A"],
        }
    )
    markers = trade_markers(trades, curve)
    assert markers["side"].tolist() == ["BUY", "SELL"]  # sorted by time; the fill before the curve dropped
    assert markers["y"].tolist() == pytest.approx([1.0, 0.99])
    assert markers["label"].iloc[1] == "SELL 3 A @ 101.50"
    with pytest.raises(DataError, match="'side'"):
        trade_markers(trades.drop(columns="side"), curve)


def test_shap_summary_averages_over_folds_with_missing_features_as_zero():
    folds: list[dict[str, Any]] = [
        {"shap_importance": {"rsi": 0.3, "ret_5": 0.1}},
        {"shap_importance": {"rsi": 0.1, "atr": 0.4}},
        {"shap_importance": {}},
        {},
    ]
    summary = shap_summary(folds)
    assert summary.index.tolist() == ["rsi", "atr", "ret_5"]
    assert summary.tolist() == pytest.approx([0.2, 0.2, 0.05])
    assert shap_summary([{}]).empty


METRICS = {
    "run_id": "r",
    "config_hash": "abc",
    "out_of_sample": {"sharpe": 1.2, "max_drawdown": -0.1, "n_trades": 10},
    "buy_and_hold": {"sharpe": 0.8, "max_drawdown": -0.3},
    "ema_cross": {"sharpe": 0.5, "turnover": 3.0},
    "folds": [{"metrics": {"sharpe": 9.0}}],
    "overfitting": {"psr": 0.91, "dsr": 0.42, "n_trials": 12, "pbo": {"pbo": 0.25, "n_combinations": 70}},
}


def test_metrics_table_rows_metrics_columns_strategy_then_baselines_with_overfitting():
    table = metrics_table(METRICS)
    assert table.columns.tolist() == ["strategy", "buy_and_hold", "ema_cross"]
    assert table.index.tolist() == [
        "sharpe",
        "max_drawdown",
        "n_trades",
        "turnover",
        "psr",
        "dsr",
        "pbo",
        "n_trials",
    ]
    assert list(table.loc["sharpe"]) == [1.2, 0.8, 0.5]
    assert list(table.loc["n_trades"]) == [10, None, None]
    assert list(table.loc["turnover"]) == [None, None, 3.0]
    assert list(table.loc["dsr"]) == [0.42, None, None]
    assert table.loc["pbo", "strategy"] == 0.25  # taken from a nested PBO result
    n_trials = table.loc["n_trials", "strategy"]
    assert n_trials == 12 and isinstance(n_trials, int)  # integers stay integers for display


def test_metrics_table_without_overfitting_or_baselines():
    table = metrics_table({"out_of_sample": {"sharpe": 1.0}})
    assert table.columns.tolist() == ["strategy"] and table.index.tolist() == ["sharpe"]
    assert metrics_table({}).empty
    only_overfitting = metrics_table({"overfitting": {"dsr": 0.1}})
    assert only_overfitting.loc["dsr", "strategy"] == 0.1


def test_fold_boundaries_are_utc_test_starts():
    folds = [{"test_start": "2024-01-02T20:00:00+00:00"}, {"test_start": "2024-03-01"}, {}]
    assert fold_boundaries(folds) == [
        pd.Timestamp("2024-01-02 20:00", tz="UTC"),
        pd.Timestamp("2024-03-01", tz="UTC"),
    ]


def test_scenario_distributions_long_form_and_errors():
    scenarios = pd.DataFrame(
        {
            "scenario": ["bootstrap", "bootstrap", "crash"],
            "path": [0, 1, 0],
            "total_return": [0.1, -0.05, np.nan],
            "sharpe": [1.0, -0.2, -1.5],
            "note": ["a", "b", "c"],
        }
    )
    long = scenario_distributions(scenarios)
    assert long.columns.tolist() == ["scenario", "path", "metric", "value"]
    assert len(long) == 5  # 6 values, one NaN dropped, the text column ignored
    crash = long[long["scenario"] == "crash"]
    assert crash[["metric", "value"]].values.tolist() == [["sharpe", -1.5]]
    with pytest.raises(DataError, match="'scenario'"):
        scenario_distributions(scenarios.drop(columns="scenario"))
    with pytest.raises(DataError, match="no numeric metric"):
        scenario_distributions(scenarios[["scenario", "path", "note"]])


def test_prepare_report_frames_and_figures():
    equity = _equity()[["buy_and_hold", "strategy"]]  # strategy is put first whatever the order
    frames = prepare_report_frames(
        equity,
        periods_per_year=252.0,
        folds=[{"test_start": IDX[3], "shap_importance": {"rsi": 1.0}}],
        trades=pd.DataFrame({"ts": [IDX[1]], "side": ["BUY"]}),
        regimes=_regimes(),
    )
    assert frames.equity.columns.tolist() == ["strategy", "buy_and_hold"]
    assert frames.sharpe_window == 5
    assert frames.markers["y"].tolist() == pytest.approx([1.1])
    assert frames.colors == series_colors(["strategy", "buy_and_hold"])
    assert frames.colors["strategy"] != frames.colors["buy_and_hold"]
    figures = report_figures(frames)
    assert list(figures) == ["equity", "drawdown", "rolling_sharpe", "shap"]  # no scenarios given
    equity_fig = figures["equity"]
    names = [t.name for t in equity_fig.data]
    assert names[:2] == ["regime: calm", "regime: volatile"] and "buy fills" in names
    assert equity_fig.layout.xaxis.type == "date"
    assert equity_fig.data[2].x[0] == "2024-01-01 00:00:00"  # naive UTC: plotly.js rejects offsets
    assert len(equity_fig.layout.shapes) == 3 + 1 + 1  # regime bands, fold start, 1.0 line
