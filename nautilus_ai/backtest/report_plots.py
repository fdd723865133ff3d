"""Data preparation and plotly figures of the walk-forward research report.

Two layers, both pure functions of frames (no I/O):

* **Data preparation** turns the run folder's frames into what a chart shows: normalized equity,
  drawdowns, the rolling Sharpe ratio, regime bands, trade markers, the SHAP summary, the scenario
  distributions and the metrics table. :func:`prepare_report_frames` bundles them into
  :class:`ReportFrames`, the one input of both renderers (plotly here, matplotlib in
  :mod:`nautilus_ai.backtest.report_png`), so neither recomputes anything.
* **Figures**: one ``plotly.graph_objects.Figure`` builder per chart (:data:`CHART_IDS`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from nautilus_ai.backtest.metrics import drawdown_series
from nautilus_ai.errors import DataError

__all__ = [
    "CHART_IDS",
    "OVERFITTING_KEYS",
    "STRATEGY_COLUMN",
    "ReportFrames",
    "drawdown_figure",
    "drawdowns",
    "equity_figure",
    "fold_boundaries",
    "metrics_table",
    "normalized_equity",
    "prepare_report_frames",
    "regime_bands",
    "regime_colors",
    "report_figures",
    "rolling_sharpe",
    "rolling_sharpe_figure",
    "rolling_sharpe_window",
    "scenario_distributions",
    "scenario_figure",
    "series_colors",
    "shap_figure",
    "shap_summary",
    "trade_markers",
]

#: Column of the strategy in ``equity.parquet`` and in :func:`metrics_table`.
STRATEGY_COLUMN = "strategy"
#: Keys of ``metrics.json``'s ``overfitting`` dict shown in the metrics table, in order.
OVERFITTING_KEYS = ("psr", "dsr", "pbo", "n_trials")
#: HTML element id of each chart, in page order.
CHART_IDS = {
    "equity": "chart-equity",
    "drawdown": "chart-drawdown",
    "rolling_sharpe": "chart-rolling-sharpe",
    "shap": "chart-shap",
    "scenarios": "chart-scenarios",
}

_NON_METRIC_KEYS = frozenset({"run_id", "config_hash", "folds", "overfitting", "out_of_sample"})
_SERIES_PALETTE = ("#1f5fa8", "#8a8f98", "#e67e22", "#27ae60", "#8e44ad", "#c0392b", "#16a085")
_REGIME_PALETTE = ("#f4d03f", "#5dade2", "#ec7063", "#58d68d", "#af7ac5", "#f5b041", "#48c9b0")
_FOLD_COLOR = "#c0392b"
_BUY_COLOR = "#1e8449"
_SELL_COLOR = "#b03a2e"
_TOP_FEATURES = 20


# --------------------------------------------------------------------------------------------------
# Data preparation (pure)
# --------------------------------------------------------------------------------------------------


def series_colors(columns: Sequence[str]) -> dict[str, str]:
    """Return a fixed colour per equity column: the strategy first, then the baselines in order.

    Parameters
    ----------
    columns : sequence of str
        Equity column names.

    Returns
    -------
    dict[str, str]
        Column to hex colour; both renderers use it so the PNGs match the page.
    """
    ordered = sorted(columns, key=lambda c: c != STRATEGY_COLUMN)
    return {c: _SERIES_PALETTE[i % len(_SERIES_PALETTE)] for i, c in enumerate(ordered)}


def regime_colors(regimes: Sequence[str]) -> dict[str, str]:
    """Return a fixed colour per regime name (sorted by name, so runs compare at a glance)."""
    return {r: _REGIME_PALETTE[i % len(_REGIME_PALETTE)] for i, r in enumerate(sorted(set(regimes)))}


def normalized_equity(equity: pd.DataFrame) -> pd.DataFrame:
    """Divide every equity column by its first valid value, so each starts at 1.0.

    Parameters
    ----------
    equity : pd.DataFrame
        Equity curves indexed by timestamp, one column per strategy or baseline.

    Returns
    -------
    pd.DataFrame
        Growth of 1.0; a column whose first valid value is 0 or that is empty stays NaN.
    """
    out = {}
    for column in equity.columns:
        s = equity[column].astype(float)
        valid = s.dropna()
        first = float(valid.iloc[0]) if len(valid) else math.nan
        out[column] = s / first if first and math.isfinite(first) else s * math.nan
    return pd.DataFrame(out, index=equity.index)


def drawdowns(equity: pd.DataFrame) -> pd.DataFrame:
    """Return the drawdown of every equity column from its running peak (fractions, ``<= 0``).

    Parameters
    ----------
    equity : pd.DataFrame
        Equity curves indexed by timestamp.

    Returns
    -------
    pd.DataFrame
        :func:`~nautilus_ai.backtest.metrics.drawdown_series` of each column (NaN where the
        column is NaN).
    """
    out = {c: drawdown_series(equity[c].astype(float).dropna()) for c in equity.columns}
    return pd.DataFrame(out, index=equity.index)


def rolling_sharpe_window(periods_per_year: float, n_periods: int) -> int:
    """Return the rolling-Sharpe window: a quarter of a year of bars, at most half the run.

    ``window = clip(round(periods_per_year / 4), 5, max(5, n_periods // 2))`` -- 63 bars for daily
    bars, so a window covers about three months whatever the bar size.

    Parameters
    ----------
    periods_per_year : float
        Bars per year (252 for daily equity bars).
    n_periods : int
        Number of equity points of the run.

    Returns
    -------
    int
        The window in bars (at least 5).

    Raises
    ------
    DataError
        If ``periods_per_year`` is not a positive finite number.
    """
    if not (math.isfinite(periods_per_year) and periods_per_year > 0):
        raise DataError(f"periods_per_year must be a positive number, got {periods_per_year!r}")
    return int(min(max(round(periods_per_year / 4), 5), max(5, n_periods // 2)))


def rolling_sharpe(equity: pd.DataFrame, window: int, periods_per_year: float) -> pd.DataFrame:
    """Return the annualized rolling Sharpe ratio of every equity column.

    ``sharpe_t = mean(r_{t-w+1..t}) / std(r_{t-w+1..t}, ddof=1) * sqrt(periods_per_year)`` over the
    simple returns ``r``; NaN until ``window`` returns exist and where the returns do not vary
    (standard deviation at round-off level: below ``max(1e-12, 1e-9 |mean|)``).

    Parameters
    ----------
    equity : pd.DataFrame
        Equity curves indexed by timestamp.
    window : int
        Returns per window (>= 2).
    periods_per_year : float
        Bars per year, to annualize.

    Returns
    -------
    pd.DataFrame
        Same index and columns as ``equity``.

    Raises
    ------
    DataError
        If ``window < 2``.
    """
    if window < 2:
        raise DataError(f"rolling Sharpe window must be at least 2 returns, got {window}")
    returns = equity.astype(float).pct_change(fill_method=None)
    roll = returns.rolling(window, min_periods=window)
    mean, std = roll.mean(), roll.std(ddof=1)
    # the rolling std of equal returns is round-off, not dispersion: no Sharpe ratio there
    varies = std > np.maximum(1e-12, 1e-9 * mean.abs())
    return (mean / std.where(varies) * math.sqrt(periods_per_year)).replace([np.inf, -np.inf], np.nan)


def regime_bands(regimes: pd.DataFrame, instrument_id: str | None = None) -> pd.DataFrame:
    """Collapse one instrument's published regimes into contiguous bands.

    A band starts at the first bar of a run of equal regime labels and ends where the next band
    starts (the last band ends at the last bar), so bands tile the span without gaps.

    Parameters
    ----------
    regimes : pd.DataFrame
        ``regimes.parquet``: at least ``ts`` and ``regime``; ``instrument_id`` when several
        instruments are labelled.
    instrument_id : str, optional
        The instrument whose regimes to band; default the first instrument id in sorted order.

    Returns
    -------
    pd.DataFrame
        Columns ``instrument_id``, ``regime``, ``start``, ``end``, ``n_bars``; empty when there are
        no regimes.

    Raises
    ------
    DataError
        If ``ts`` or ``regime`` is missing, or ``instrument_id`` has no rows.
    """
    columns = ["instrument_id", "regime", "start", "end", "n_bars"]
    if regimes.empty:
        return pd.DataFrame(columns=columns)
    for field in ("ts", "regime"):
        if field not in regimes.columns:
            raise DataError(
                f"regimes need a '{field}' column, got {list(regimes.columns)}",
                file="regimes.parquet",
                field=field,
            )
    frame = regimes
    if "instrument_id" in frame.columns:
        instruments = sorted(frame["instrument_id"].astype(str).unique())
        chosen = instrument_id if instrument_id is not None else instruments[0]
        if chosen not in instruments:
            raise DataError(
                f"no regimes for instrument {chosen!r}; instruments are {instruments}",
                file="regimes.parquet",
                field="instrument_id",
            )
        frame = frame[frame["instrument_id"].astype(str) == chosen]
    else:
        chosen = instrument_id or ""
    frame = frame.sort_values("ts", kind="stable").drop_duplicates("ts", keep="last")
    ts = pd.DatetimeIndex(frame["ts"])
    labels = frame["regime"].astype(str).to_numpy()
    run_id = np.concatenate([[0], np.cumsum(labels[1:] != labels[:-1])])
    starts = np.flatnonzero(np.concatenate([[True], labels[1:] != labels[:-1]]))
    ends = np.append(starts[1:], len(labels) - 1)
    return pd.DataFrame(
        {
            "instrument_id": chosen,
            "regime": labels[starts],
            "start": ts[starts],
            "end": ts[ends],
            "n_bars": np.bincount(run_id),
        },
        columns=columns,
    )


def trade_markers(trades: pd.DataFrame, curve: pd.Series) -> pd.DataFrame:
    """Place every fill on a curve: the curve's last value at or before the fill's time.

    Parameters
    ----------
    trades : pd.DataFrame
        ``trades.parquet``: ``ts`` and ``side`` (``BUY``/``SELL``), optionally ``instrument_id``,
        ``quantity``, ``price``.
    curve : pd.Series
        The curve the markers sit on (normalized strategy equity), indexed by timestamp.

    Returns
    -------
    pd.DataFrame
        Columns ``ts``, ``side`` (upper case), ``y``, ``label`` (hover text); fills before the
        curve starts are dropped.

    Raises
    ------
    DataError
        If ``ts`` or ``side`` is missing.
    """
    columns = ["ts", "side", "y", "label"]
    if trades.empty:
        return pd.DataFrame(columns=columns)
    for field in ("ts", "side"):
        if field not in trades.columns:
            raise DataError(
                f"trades need a '{field}' column, got {list(trades.columns)}",
                file="trades.parquet",
                field=field,
            )
    fills = trades.sort_values("ts", kind="stable").reset_index(drop=True)
    line = curve.dropna().sort_index()
    y = line.reindex(pd.DatetimeIndex(fills["ts"]), method="ffill").to_numpy(dtype=float)
    parts = [fills["side"].astype(str).str.upper()]
    for col, fmt in (("quantity", "{:,.0f}"), ("instrument_id", "{}"), ("price", "@ {:,.2f}")):
        if col in fills.columns:
            parts.append(fills[col].map(fmt.format))
    label = parts[0]
    for part in parts[1:]:
        label = label + " " + part
    out = pd.DataFrame({"ts": fills["ts"], "side": parts[0], "y": y, "label": label}, columns=columns)
    return out[np.isfinite(out["y"].to_numpy(dtype=float))].reset_index(drop=True)


def shap_summary(folds: Sequence[Mapping[str, Any]]) -> pd.Series:
    """Return the mean |SHAP| per feature over the folds, largest first.

    Each fold's ``shap_importance`` holds the mean absolute SHAP value of its top features over its
    test window; a feature missing from a fold counts 0 there, then the folds are averaged.

    Parameters
    ----------
    folds : sequence of mapping
        ``metrics.json``'s ``folds``.

    Returns
    -------
    pd.Series
        Feature to mean |SHAP| (float), sorted descending; empty when no fold has attributions.
    """
    frames = [pd.Series(fold.get("shap_importance") or {}, dtype=float).abs() for fold in folds]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.Series(dtype=float, name="mean_abs_shap")
    summary = pd.concat(frames, axis=1).fillna(0.0).mean(axis=1)
    return summary.sort_values(ascending=False, kind="stable").rename("mean_abs_shap")


def _overfitting_value(value: Any, key: str) -> Any:
    if isinstance(value, Mapping):  # e.g. {"pbo": 0.3, "n_combinations": 70}
        return value.get(key, value.get("value"))
    return value


def metrics_table(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """Return the metrics table: one row per metric, columns the strategy then every baseline.

    The strategy column comes from ``out_of_sample``; every other top-level dict of
    ``metrics.json`` (``buy_and_hold``, ``ema_cross``, ...) except ``folds`` and ``overfitting`` is a
    baseline. The ``overfitting`` dict's PSR, DSR, PBO and number of trials are appended as rows of
    the strategy (empty for the baselines). Missing metrics are ``None``.

    Parameters
    ----------
    metrics : mapping
        The parsed ``metrics.json``.

    Returns
    -------
    pd.DataFrame
        Index = metric keys (strategy metrics first, then metrics only baselines have, then the
        overfitting keys), object dtype (values as in the JSON).
    """
    sections: dict[str, Mapping[str, Any]] = {}
    if isinstance(metrics.get("out_of_sample"), Mapping):
        sections[STRATEGY_COLUMN] = metrics["out_of_sample"]
    for key, value in metrics.items():
        if key not in _NON_METRIC_KEYS and isinstance(value, Mapping):
            sections[key] = value
    keys: dict[str, None] = {}
    for section in sections.values():
        keys.update(dict.fromkeys(k for k, v in section.items() if not isinstance(v, Mapping | list)))
    rows = {k: {name: section.get(k) for name, section in sections.items()} for k in keys}
    overfitting = metrics.get("overfitting")
    if isinstance(overfitting, Mapping):
        for k in OVERFITTING_KEYS:
            if k in overfitting:
                rows[k] = {name: None for name in sections} | {
                    STRATEGY_COLUMN: _overfitting_value(overfitting[k], k)
                }
    columns = list(dict.fromkeys([*sections, *(c for row in rows.values() for c in row)]))
    data = [[row.get(c) for c in columns] for row in rows.values()]  # Python values, types kept
    return pd.DataFrame(data, index=pd.Index(list(rows), dtype=object), columns=columns, dtype=object)


def fold_boundaries(folds: Sequence[Mapping[str, Any]]) -> list[pd.Timestamp]:
    """Return every fold's ``test_start`` as a UTC timestamp (folds without one are skipped)."""
    out = []
    for fold in folds:
        value = fold.get("test_start")
        if value is None:
            continue
        ts = pd.Timestamp(value)
        out.append(ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC"))
    return out


def scenario_distributions(scenarios: pd.DataFrame) -> pd.DataFrame:
    """Return the scenario metrics in long form: one row per scenario kind, path and metric.

    Parameters
    ----------
    scenarios : pd.DataFrame
        ``scenarios.parquet``: ``scenario`` (kind), ``path`` and numeric metric columns.

    Returns
    -------
    pd.DataFrame
        Columns ``scenario``, ``path``, ``metric``, ``value``; non-finite values dropped.

    Raises
    ------
    DataError
        If the ``scenario`` column is missing or there is no numeric metric column.
    """
    columns = ["scenario", "path", "metric", "value"]
    if scenarios.empty:
        return pd.DataFrame(columns=columns)
    if "scenario" not in scenarios.columns:
        raise DataError(
            f"scenarios need a 'scenario' column, got {list(scenarios.columns)}",
            file="scenarios.parquet",
            field="scenario",
        )
    frame = scenarios if "path" in scenarios.columns else scenarios.assign(path=np.arange(len(scenarios)))
    metric_cols = [
        c for c in frame.columns if c not in ("scenario", "path") and pd.api.types.is_numeric_dtype(frame[c])
    ]
    if not metric_cols:
        raise DataError(
            f"scenarios have no numeric metric column, got {list(scenarios.columns)}",
            file="scenarios.parquet",
        )
    long = frame.melt(id_vars=["scenario", "path"], value_vars=metric_cols, var_name="metric")
    long["scenario"] = long["scenario"].astype(str)
    long["value"] = long["value"].astype(float)
    return long[np.isfinite(long["value"].to_numpy())].reset_index(drop=True)[columns]


@dataclass(frozen=True)
class ReportFrames:
    """Everything the report's charts show, prepared once for both renderers.

    Attributes
    ----------
    equity : pd.DataFrame
        Normalized equity (growth of 1.0), strategy column first.
    drawdown : pd.DataFrame
        Drawdown fractions of the same columns.
    rolling_sharpe : pd.DataFrame
        Annualized rolling Sharpe ratio of the same columns.
    sharpe_window : int
        The rolling window in bars.
    boundaries : list of pd.Timestamp
        Fold test starts.
    bands : pd.DataFrame
        :func:`regime_bands` of one instrument (may be empty).
    markers : pd.DataFrame
        :func:`trade_markers` on the normalized strategy equity (may be empty).
    shap : pd.Series
        :func:`shap_summary` (may be empty).
    scenarios : pd.DataFrame
        :func:`scenario_distributions` (may be empty).
    """

    equity: pd.DataFrame
    drawdown: pd.DataFrame
    rolling_sharpe: pd.DataFrame
    sharpe_window: int
    boundaries: list[pd.Timestamp]
    bands: pd.DataFrame
    markers: pd.DataFrame
    shap: pd.Series
    scenarios: pd.DataFrame

    @property
    def colors(self) -> dict[str, str]:
        """Colour of each equity column."""
        return series_colors(list(self.equity.columns))


def prepare_report_frames(
    equity: pd.DataFrame,
    *,
    periods_per_year: float,
    folds: Sequence[Mapping[str, Any]] = (),
    trades: pd.DataFrame | None = None,
    regimes: pd.DataFrame | None = None,
    scenarios: pd.DataFrame | None = None,
) -> ReportFrames:
    """Prepare every chart's data from the run folder's frames.

    Parameters
    ----------
    equity : pd.DataFrame
        Equity curves indexed by timestamp: ``strategy`` and one column per baseline.
    periods_per_year : float
        Bars per year, for the rolling-Sharpe window and annualization.
    folds : sequence of mapping, optional
        ``metrics.json``'s folds (test starts, SHAP importance).
    trades, regimes, scenarios : pd.DataFrame or None, optional
        ``trades.parquet``, ``regimes.parquet``, ``scenarios.parquet`` when present.

    Returns
    -------
    ReportFrames
        The prepared frames.
    """
    ordered = equity[sorted(equity.columns, key=lambda c: c != STRATEGY_COLUMN)]
    norm = normalized_equity(ordered)
    window = rolling_sharpe_window(periods_per_year, len(ordered))
    empty = pd.DataFrame()
    markers = empty
    if trades is not None and STRATEGY_COLUMN in norm.columns:
        markers = trade_markers(trades, norm[STRATEGY_COLUMN])
    return ReportFrames(
        equity=norm,
        drawdown=drawdowns(ordered),
        rolling_sharpe=rolling_sharpe(ordered, window, periods_per_year),
        sharpe_window=window,
        boundaries=fold_boundaries(folds),
        bands=regime_bands(regimes) if regimes is not None else empty,
        markers=markers,
        shap=shap_summary(folds),
        scenarios=scenario_distributions(scenarios) if scenarios is not None else empty,
    )


# --------------------------------------------------------------------------------------------------
# plotly figures
# --------------------------------------------------------------------------------------------------


def _x(values: Any) -> list[str]:
    """Timestamps as naive-UTC date strings, the form plotly.js parses (no offset, <= 6 decimals)."""
    idx = pd.DatetimeIndex(values)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    whole = bool(((idx.microsecond == 0) & (idx.nanosecond == 0)).all())
    return list(idx.strftime("%Y-%m-%d %H:%M:%S" if whole else "%Y-%m-%d %H:%M:%S.%f"))


def _layout(fig: go.Figure, title: str, ytitle: str, height: int = 420, time_axis: bool = True) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 15}},
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
        hovermode="x unified",
    )
    fig.update_yaxes(title_text=ytitle)
    if time_axis:  # explicit: plotly would guess "linear" from the legend-only regime traces
        fig.update_xaxes(type="date")
    return fig


def _lines(fig: go.Figure, frame: pd.DataFrame, colors: Mapping[str, str], scale: float = 1.0) -> None:
    for column in frame.columns:
        s = frame[column]
        fig.add_trace(
            go.Scatter(
                x=_x(s.index),
                y=s.to_numpy(dtype=float) * scale,
                mode="lines",
                name=str(column),
                line={"color": colors.get(column), "width": 1.8 if column == STRATEGY_COLUMN else 1.2},
            )
        )


def _boundary_shapes(fig: go.Figure, boundaries: Sequence[pd.Timestamp]) -> None:
    for ts in boundaries:
        fig.add_vline(x=_x([ts])[0], line={"color": _FOLD_COLOR, "width": 1, "dash": "dash"}, opacity=0.5)


def equity_figure(frames: ReportFrames) -> go.Figure:
    """Return the normalized equity of the strategy and baselines, with regimes, fills and folds.

    Regime bands shade the background (one colour per regime name, legend entries included),
    buys and sells are triangle markers on the strategy curve and dashed lines mark fold starts.
    """
    fig = go.Figure()
    colors = regime_colors(list(frames.bands["regime"])) if len(frames.bands) else {}
    for band in frames.bands.itertuples(index=False):
        start, end = _x([band.start, band.end])
        fig.add_vrect(
            x0=start, x1=end, fillcolor=colors[str(band.regime)], opacity=0.18, layer="below", line_width=0
        )
    for regime, color in colors.items():
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                marker={"symbol": "square", "size": 12, "color": color, "opacity": 0.5},
                name=f"regime: {regime}",
            )
        )
    _lines(fig, frames.equity, frames.colors)
    for side, symbol, color in (("BUY", "triangle-up", _BUY_COLOR), ("SELL", "triangle-down", _SELL_COLOR)):
        rows = frames.markers[frames.markers["side"] == side] if len(frames.markers) else frames.markers
        if len(rows):
            fig.add_trace(
                go.Scatter(
                    x=_x(rows["ts"]),
                    y=rows["y"].to_numpy(dtype=float),
                    mode="markers",
                    name=f"{side.lower()} fills",
                    text=rows["label"],
                    hoverinfo="text+x",
                    marker={"symbol": symbol, "size": 7, "color": color, "opacity": 0.75},
                )
            )
    _boundary_shapes(fig, frames.boundaries)
    fig.add_hline(y=1.0, line={"color": "#1d2430", "width": 0.6}, opacity=0.5)
    title = "Equity (growth of 1.0)"
    if len(frames.bands):
        title += f" — regimes of {frames.bands['instrument_id'].iloc[0]}"
    return _layout(fig, title, "Growth of 1.0", height=480)


def drawdown_figure(frames: ReportFrames) -> go.Figure:
    """Return the drawdown (percent) of the strategy and every baseline from its running peak."""
    fig = go.Figure()
    _lines(fig, frames.drawdown, frames.colors, scale=100.0)
    if STRATEGY_COLUMN in frames.drawdown.columns:
        fig.update_traces(
            fill="tozeroy", fillcolor="rgba(31,95,168,0.15)", selector={"name": STRATEGY_COLUMN}
        )
    _boundary_shapes(fig, frames.boundaries)
    return _layout(fig, "Drawdown from running peak", "Drawdown (%)")


def rolling_sharpe_figure(frames: ReportFrames) -> go.Figure:
    """Return the annualized rolling Sharpe ratio of the strategy and every baseline."""
    fig = go.Figure()
    _lines(fig, frames.rolling_sharpe, frames.colors)
    fig.add_hline(y=0.0, line={"color": "#1d2430", "width": 0.6}, opacity=0.5)
    _boundary_shapes(fig, frames.boundaries)
    return _layout(fig, f"Rolling Sharpe ratio ({frames.sharpe_window}-bar window, annualized)", "Sharpe")


def shap_figure(frames: ReportFrames) -> go.Figure:
    """Return the SHAP summary: horizontal bars of mean |SHAP| per feature (top 20)."""
    top = frames.shap.head(_TOP_FEATURES).iloc[::-1]
    fig = go.Figure(
        go.Bar(
            x=top.to_numpy(dtype=float),
            y=[str(i) for i in top.index],
            orientation="h",
            marker={"color": _SERIES_PALETTE[0]},
            name="mean |SHAP|",
        )
    )
    _layout(fig, "Mean |SHAP| per feature (stage 1, test windows, averaged over folds)", "", time_axis=False)
    fig.update_layout(hovermode="closest", height=max(260, 28 * len(top) + 90), showlegend=False)
    fig.update_xaxes(title_text="mean |SHAP| (log-odds)")
    return fig


def scenario_figure(frames: ReportFrames) -> go.Figure:
    """Return box plots (with every path as a point) per scenario kind, one panel per metric."""
    long = frames.scenarios
    metrics = list(dict.fromkeys(long["metric"])) if len(long) else []
    kinds = sorted(set(long["scenario"])) if len(long) else []
    fig = make_subplots(rows=1, cols=max(1, len(metrics)), subplot_titles=metrics or None)
    palette = {k: _SERIES_PALETTE[(i + 2) % len(_SERIES_PALETTE)] for i, k in enumerate(kinds)}
    for col, metric in enumerate(metrics, start=1):
        rows = long[long["metric"] == metric]
        for kind in kinds:
            values = rows.loc[rows["scenario"] == kind, "value"]
            fig.add_trace(
                go.Box(
                    y=values.to_numpy(dtype=float),
                    name=kind,
                    legendgroup=kind,
                    showlegend=col == 1,
                    boxpoints="all",
                    jitter=0.4,
                    pointpos=0,
                    marker={"color": palette[kind], "size": 3, "opacity": 0.6},
                ),
                row=1,
                col=col,
            )
    _layout(fig, "Scenario distributions (one point per path)", "", time_axis=False)
    fig.update_layout(hovermode="closest", margin={"t": 95}, legend={"y": 1.12})
    return fig


def report_figures(frames: ReportFrames) -> dict[str, go.Figure]:
    """Return every chart the frames support, keyed as :data:`CHART_IDS`, in page order.

    SHAP and scenario charts are left out when there is nothing to show.
    """
    figures = {
        "equity": equity_figure(frames),
        "drawdown": drawdown_figure(frames),
        "rolling_sharpe": rolling_sharpe_figure(frames),
    }
    if len(frames.shap):
        figures["shap"] = shap_figure(frames)
    if len(frames.scenarios):
        figures["scenarios"] = scenario_figure(frames)
    return figures
