"""PNG exports of the walk-forward report's charts, drawn with matplotlib.

Each function draws one chart of :mod:`nautilus_ai.backtest.report_plots` from the same
:class:`~nautilus_ai.backtest.report_plots.ReportFrames` (no computation of its own), so the PNGs
show what the interactive page shows, without a browser.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from nautilus_ai.backtest.report_plots import STRATEGY_COLUMN, ReportFrames, regime_colors
from nautilus_ai.learning.explain_plots import figure_to_png_bytes, importance_bar_figure

__all__ = [
    "drawdown_png_figure",
    "equity_png_figure",
    "rolling_sharpe_png_figure",
    "scenario_png_figure",
    "write_pngs",
]

_FOLD_COLOR = "#c0392b"
_BUY_COLOR = "#1e8449"
_SELL_COLOR = "#b03a2e"


def _naive(values: Any) -> np.ndarray:
    """Timestamps as naive-UTC ``datetime64`` for matplotlib."""
    idx = pd.DatetimeIndex(values)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return idx.to_numpy()


def _axes(title: str, ylabel: str) -> tuple[Figure, Any]:
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3, linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def _lines(ax: Any, frame: pd.DataFrame, colors: dict[str, str], scale: float = 1.0) -> None:
    for column in frame.columns:
        s = frame[column].dropna()
        if len(s):
            ax.plot(
                _naive(s.index),
                s.to_numpy(dtype=float) * scale,
                color=colors.get(column),
                lw=1.4 if column == STRATEGY_COLUMN else 1.0,
                label=str(column),
            )


def _boundaries(ax: Any, boundaries: Sequence[pd.Timestamp]) -> None:
    for i, ts in enumerate(boundaries):
        ax.axvline(
            _naive([ts])[0],
            color=_FOLD_COLOR,
            lw=0.8,
            ls="--",
            alpha=0.5,
            label="fold test start" if i == 0 else None,
        )


def _legend(ax: Any, extra: Sequence[Any] = ()) -> None:
    handles, labels = ax.get_legend_handles_labels()
    handles += list(extra)
    labels += [h.get_label() for h in extra]
    if handles:
        ax.legend(handles, labels, loc="best", fontsize=8, frameon=False, ncol=2)
    else:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="#8a8f98")


def equity_png_figure(frames: ReportFrames) -> Figure:
    """Draw the normalized equity with regime shading, fill markers and fold starts."""
    title = "Equity (growth of 1.0)"
    if len(frames.bands):
        title += f" — regimes of {frames.bands['instrument_id'].iloc[0]}"
    fig, ax = _axes(title, "Growth of 1.0")
    patches = []
    if len(frames.bands):
        colors = regime_colors(list(frames.bands["regime"]))
        for band in frames.bands.itertuples(index=False):
            start, end = _naive([band.start, band.end])
            ax.axvspan(start, end, color=colors[str(band.regime)], alpha=0.18, lw=0)
        patches = [Patch(color=c, alpha=0.4, label=f"regime: {r}") for r, c in colors.items()]
    _lines(ax, frames.equity, frames.colors)
    if len(frames.markers):
        for side, marker, color in (("BUY", "^", _BUY_COLOR), ("SELL", "v", _SELL_COLOR)):
            rows = frames.markers[frames.markers["side"] == side]
            if len(rows):
                ax.scatter(
                    _naive(rows["ts"]),
                    rows["y"].to_numpy(dtype=float),
                    marker=marker,
                    s=14,
                    color=color,
                    alpha=0.7,
                    lw=0,
                    label=f"{side.lower()} fills",
                    zorder=3,
                )
    _boundaries(ax, frames.boundaries)
    ax.axhline(1.0, color="#1d2430", lw=0.6, alpha=0.5)
    _legend(ax, patches)
    return fig


def drawdown_png_figure(frames: ReportFrames) -> Figure:
    """Draw the drawdown (percent) of every equity column."""
    fig, ax = _axes("Drawdown from running peak", "Drawdown (%)")
    _lines(ax, frames.drawdown, frames.colors, scale=100.0)
    if STRATEGY_COLUMN in frames.drawdown.columns:
        s = frames.drawdown[STRATEGY_COLUMN].dropna()
        ax.fill_between(
            _naive(s.index), s.to_numpy() * 100.0, 0.0, color=frames.colors[STRATEGY_COLUMN], alpha=0.15, lw=0
        )
    _boundaries(ax, frames.boundaries)
    _legend(ax)
    return fig


def rolling_sharpe_png_figure(frames: ReportFrames) -> Figure:
    """Draw the annualized rolling Sharpe ratio of every equity column."""
    fig, ax = _axes(f"Rolling Sharpe ratio ({frames.sharpe_window}-bar window, annualized)", "Sharpe")
    _lines(ax, frames.rolling_sharpe, frames.colors)
    ax.axhline(0.0, color="#1d2430", lw=0.6, alpha=0.5)
    _boundaries(ax, frames.boundaries)
    _legend(ax)
    return fig


def scenario_png_figure(frames: ReportFrames) -> Figure:
    """Draw one box plot panel per scenario metric, one box per scenario kind."""
    long = frames.scenarios
    metrics = list(dict.fromkeys(long["metric"]))
    kinds = sorted(set(long["scenario"]))
    fig = Figure(figsize=(max(5.0, 3.6 * len(metrics)), 4.2), layout="constrained")
    fig.suptitle("Scenario distributions (one point per path)", fontsize=11, x=0.01, ha="left")
    for i, metric in enumerate(metrics):
        ax = fig.add_subplot(1, len(metrics), i + 1)
        rows = long[long["metric"] == metric]
        data = [rows.loc[rows["scenario"] == k, "value"].to_numpy(dtype=float) for k in kinds]
        ax.boxplot(data, tick_labels=kinds, showfliers=False)
        for j, values in enumerate(data, start=1):
            jitter = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(len(values))
            ax.scatter(np.full(len(values), j) + jitter, values, s=4, alpha=0.4, color="#1f5fa8")
        ax.set_title(metric, fontsize=10)
        ax.grid(True, axis="y", alpha=0.3, linewidth=0.6)
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    return fig


def write_pngs(frames: ReportFrames, out_dir: Path, dpi: int = 110) -> dict[str, Path]:
    """Write every chart the frames support as ``<out_dir>/<name>.png``.

    Parameters
    ----------
    frames : ReportFrames
        The prepared report data.
    out_dir : Path
        Destination folder (created); stale PNGs of charts no longer drawn are removed.
    dpi : int, default 110
        Resolution.

    Returns
    -------
    dict[str, Path]
        Chart name (``equity``, ``drawdown``, ``rolling_sharpe``, ``shap``, ``scenarios``) to file.
    """
    builders: dict[str, Callable[[ReportFrames], Figure]] = {
        "equity": equity_png_figure,
        "drawdown": drawdown_png_figure,
        "rolling_sharpe": rolling_sharpe_png_figure,
    }
    if len(frames.shap):
        builders["shap"] = lambda f: importance_bar_figure(
            f.shap.head(20), title="Mean |SHAP| per feature (stage 1, test windows, averaged over folds)"
        )
    if len(frames.scenarios):
        builders["scenarios"] = scenario_png_figure
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, build in builders.items():
        path = out_dir / f"{name}.png"
        tmp = path.with_suffix(".png.tmp")
        tmp.write_bytes(figure_to_png_bytes(build(frames), dpi=dpi))
        tmp.replace(path)
        written[name] = path
    for stale in out_dir.glob("*.png"):
        if stale.stem not in written:
            stale.unlink()
    return written
