"""Figures of feature attributions for reports: importance bars and a beeswarm-style dot plot.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas (no ``pyplot``, no global
figure registry, safe in worker processes) and serialized deterministically: PNG without a
``Software`` stamp, SVG without a date and with fixed element ids, so the same attributions give
the same bytes.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

from nautilus_ai.errors import ModelError
from nautilus_ai.learning.explain_ranking import global_importance

__all__ = [
    "figure_to_data_uri",
    "figure_to_png_bytes",
    "figure_to_svg",
    "importance_bar_figure",
    "save_figure_png",
    "shap_summary_figure",
]

_BAR_COLOR = "#1f77b4"
_JITTER_SEED = 0


def importance_bar_figure(importance: pd.Series, title: str = "Mean |SHAP| per feature") -> Figure:
    """Return a horizontal bar chart of feature importances, the largest at the top.

    Parameters
    ----------
    importance : pd.Series
        Importance per feature name (for example :func:`global_importance` output).
    title : str, default "Mean |SHAP| per feature"
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, attached to an Agg canvas.

    Raises
    ------
    ModelError
        If ``importance`` is empty.

    """
    if importance.empty:
        raise ModelError("cannot plot an empty importance series")
    fig = Figure(figsize=(6.0, 0.35 * len(importance) + 1.2))
    FigureCanvasAgg(fig)
    _draw_bars(fig.add_subplot(1, 1, 1), importance, title)
    fig.tight_layout()
    return fig


def shap_summary_figure(
    attributions: np.ndarray,
    X: np.ndarray | None,  # noqa: N803
    names: Sequence[str],
    max_features: int = 15,
) -> Figure:
    """Return the SHAP summary: mean ``|SHAP|`` bars and, given ``X``, a beeswarm-style dot plot.

    Parameters
    ----------
    attributions : np.ndarray
        SHAP values of shape (n_rows, n_features).
    X : np.ndarray or None
        The feature values of the same rows, shape (n_rows, n_features); they colour the dots
        (per-feature rank, blue low to red high, grey for NaN). ``None`` draws the bars only.
    names : Sequence[str]
        Feature names, in column order.
    max_features : int, default 15
        How many of the most important features to show.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, attached to an Agg canvas.

    Raises
    ------
    ModelError
        If shapes disagree or ``max_features`` is < 1.

    """
    values = np.asarray(attributions, dtype=np.float64)
    if max_features < 1:
        raise ModelError(f"max_features must be >= 1, got {max_features}")
    importance = global_importance(values, names).iloc[:max_features]
    if X is None:
        return importance_bar_figure(importance)
    features = np.asarray(X, dtype=np.float64)
    if features.shape != values.shape:
        raise ModelError(f"X has shape {features.shape} but the attributions {values.shape}")
    fig = Figure(figsize=(11.0, 0.4 * len(importance) + 1.4))
    FigureCanvasAgg(fig)
    _draw_bars(fig.add_subplot(1, 2, 1), importance, "Mean |SHAP| per feature")
    columns = [list(map(str, names)).index(name) for name in importance.index]
    _draw_dots(
        fig, fig.add_subplot(1, 2, 2), values[:, columns], features[:, columns], list(importance.index)
    )
    fig.tight_layout()
    return fig


def figure_to_png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    """Return the figure as PNG bytes (deterministic: no software stamp).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    dpi : int, default 110
        Resolution.

    Returns
    -------
    bytes
        The PNG file content.

    """
    buffer = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def save_figure_png(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write the figure to a PNG file, creating its parent directory.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or Path
        Destination file.
    dpi : int, default 110
        Resolution.

    Returns
    -------
    Path
        The written file.

    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(figure_to_png_bytes(fig, dpi=dpi))
    return target


def figure_to_data_uri(fig: Figure, dpi: int = 110) -> str:
    """Return the figure as a ``data:image/png;base64,...`` URI for a self-contained HTML page.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    dpi : int, default 110
        Resolution.

    Returns
    -------
    str
        The data URI.

    """
    return "data:image/png;base64," + base64.b64encode(figure_to_png_bytes(fig, dpi=dpi)).decode("ascii")


def figure_to_svg(fig: Figure) -> str:
    """Return the figure as an inline SVG document (deterministic: no date, fixed ids).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.

    Returns
    -------
    str
        The SVG text, to embed into an HTML page as is.

    """
    buffer = io.StringIO()
    with mpl.rc_context({"svg.hashsalt": "nautilus-ai", "svg.fonttype": "path"}):
        FigureCanvasSVG(fig)
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    FigureCanvasAgg(fig)
    return buffer.getvalue()


def _draw_bars(axes: Axes, importance: pd.Series, title: str) -> None:
    labels = [str(name) for name in importance.index][::-1]
    heights = importance.to_numpy(dtype=np.float64)[::-1]
    axes.barh(labels, heights, color=_BAR_COLOR)
    axes.set_title(title)
    axes.set_xlabel("mean |attribution|")
    axes.grid(axis="x", alpha=0.3)


def _draw_dots(fig: Figure, axes: Axes, values: np.ndarray, features: np.ndarray, labels: list[str]) -> None:
    rng = np.random.default_rng(_JITTER_SEED)
    cmap = mpl.colormaps["coolwarm"]
    n_features = len(labels)
    scatter = None
    for column in range(n_features):
        y = n_features - 1 - column  # most important at the top
        shap_values = values[:, column]
        colours = _rank_colours(features[:, column])
        jitter = _density_jitter(shap_values, rng)
        missing = np.isnan(colours)
        axes.scatter(shap_values[missing], y + jitter[missing], s=8, color="#999999", alpha=0.6, linewidths=0)
        scatter = axes.scatter(
            shap_values[~missing],
            y + jitter[~missing],
            s=8,
            c=colours[~missing],
            cmap=cmap,
            vmin=0.0,
            vmax=1.0,
            alpha=0.8,
            linewidths=0,
        )
    axes.axvline(0.0, color="#444444", linewidth=0.8)
    axes.set_yticks(range(n_features))
    axes.set_yticklabels(labels[::-1])
    axes.set_ylim(-0.6, n_features - 0.4)
    axes.set_xlabel("SHAP value (impact on the model output)")
    axes.set_title("Attribution per row")
    if scatter is not None:
        colorbar = fig.colorbar(scatter, ax=axes, ticks=[0.0, 1.0], aspect=30)
        colorbar.ax.set_yticklabels(["low", "high"])
        colorbar.set_label("feature value")


def _rank_colours(column: np.ndarray) -> np.ndarray:
    """Map values to their rank in [0, 1] (NaN stays NaN), so outliers do not wash out the colours."""
    ranks = pd.Series(column).rank(pct=True).to_numpy(dtype=np.float64)
    return ranks


def _density_jitter(values: np.ndarray, rng: np.random.Generator, width: float = 0.35) -> np.ndarray:
    """Return vertical offsets that grow with the local density of ``values`` (a beeswarm look)."""
    if values.size < 2:
        return np.zeros_like(values)
    bins = min(50, max(5, values.size // 5))
    counts, edges = np.histogram(values, bins=bins)
    which = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)
    spread = counts[which] / counts.max()
    return rng.uniform(-1.0, 1.0, size=values.size) * width * spread
