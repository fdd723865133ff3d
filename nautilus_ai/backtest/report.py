"""Self-contained HTML reports of a walk-forward backtest run.

:func:`write_run_report` reads a run folder (``metrics.json``, ``equity.parquet``, ``trades.parquet``,
``regimes.parquet``, ``risk_decisions.parquet``, ``scenarios.parquet``, ``config.toml``) and writes
``report.html`` -- interactive plotly charts with plotly.js inlined once, so the page opens with no
network -- and the same charts as PNG files under ``png/``. Chart data comes from
:mod:`nautilus_ai.backtest.report_plots`; the PNGs are drawn by :mod:`nautilus_ai.backtest.report_png`.

:func:`write_report` is the earlier, script-free page (matplotlib PNG ``data:`` URIs and inline CSS,
no scripts at all), written from in-memory arguments. All user-provided text is HTML-escaped.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.io as pio
from matplotlib.figure import Figure
from plotly.offline import get_plotlyjs

from nautilus_ai.backtest import report_sections
from nautilus_ai.backtest.metrics import drawdown_series
from nautilus_ai.backtest.metrics import periods_per_year as infer_periods_per_year
from nautilus_ai.backtest.report_plots import (
    CHART_IDS,
    STRATEGY_COLUMN,
    ReportFrames,
    metrics_table,
    prepare_report_frames,
    report_figures,
)
from nautilus_ai.backtest.report_png import write_pngs
from nautilus_ai.catalog.atomic import atomic_write_text
from nautilus_ai.errors import DataError
from nautilus_ai.learning.explain_plots import figure_to_data_uri

__all__ = [
    "METRIC_LABELS",
    "RunArtifacts",
    "load_run",
    "render_run_report",
    "write_report",
    "write_run_report",
]

#: Display order and labels for known metric keys; unknown keys are appended in insertion order.
METRIC_LABELS: dict[str, str] = {
    "total_return": "Total return",
    "cagr": "CAGR",
    "volatility": "Annualized volatility",
    "sharpe": "Sharpe ratio",
    "sortino": "Sortino ratio",
    "calmar": "Calmar ratio",
    "max_drawdown": "Max drawdown",
    "max_drawdown_duration_days": "Max drawdown duration (days)",
    "max_drawdown_duration_periods": "Max drawdown duration (periods)",
    "n_trades": "Trades (fills)",
    "turnover": "Turnover (annualized)",
    "hit_rate": "Hit rate",
    "n_closed_positions": "Closed positions",
    "n_periods": "Periods",
    "periods_per_year": "Periods per year",
    "start_equity": "Start equity",
    "end_equity": "End equity",
    "start": "Start",
    "end": "End",
    "psr": "Probabilistic Sharpe ratio (PSR)",
    "dsr": "Deflated Sharpe ratio (DSR)",
    "pbo": "Probability of backtest overfitting (PBO)",
    "n_trials": "Trials (for DSR)",
}

_PERCENT_KEYS = frozenset({"total_return", "cagr", "volatility", "max_drawdown", "hit_rate"})
_ONE_DECIMAL_KEYS = frozenset({"max_drawdown_duration_days", "periods_per_year"})
_PROBABILITY_KEYS = frozenset({"psr", "dsr", "pbo"})
_FOLD_METRIC_KEYS = ("total_return", "sharpe", "sortino", "max_drawdown", "cagr", "n_trades", "hit_rate")
_FOLD_INFO_KEYS = (
    ("fold", "Fold"),
    ("index", "Fold"),
    ("train_start", "Train start"),
    ("train_end", "Train end"),
    ("test_start", "Test start"),
    ("test_end", "Test end"),
    ("model_version", "Model version"),
)
_MAX_TRADES = 50

_STRATEGY_COLOR = "#1f5fa8"
_BENCHMARK_COLOR = "#8a8f98"
_FOLD_COLOR = "#c0392b"

_CSS = """
*{box-sizing:border-box}
body{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
margin:0;background:#f5f6f8;color:#1d2430;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:24px 28px 48px}
header{border-bottom:2px solid #1f5fa8;margin-bottom:20px;padding-bottom:8px}
h1{font-size:1.6em;margin:0 0 4px}
h2{font-size:1.2em;margin:28px 0 10px;color:#1f5fa8}
.meta{color:#5b6472;font-size:.92em}
.meta code{background:#e8ebf0;padding:1px 5px;border-radius:3px}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:14px 18px;margin-bottom:18px}
figure{margin:0}
figure img{max-width:100%;height:auto;display:block;margin:0 auto}
figcaption{color:#5b6472;font-size:.85em;text-align:center;margin-top:4px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.9em}
th,td{padding:5px 10px;border-bottom:1px solid #e6e9ee;text-align:right;white-space:nowrap}
th{background:#f0f2f5;font-weight:600}
th:first-child,td:first-child{text-align:left}
tbody tr:hover{background:#f7f9fc}
td.key{color:#8a8f98;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em}
.neg{color:#b03a2e}
pre{background:#1d2430;color:#e6e9ee;padding:12px 14px;border-radius:5px;overflow-x:auto;
font-size:.85em;line-height:1.35;margin:0}
ul.notes{margin:0;padding-left:20px}
.empty{color:#8a8f98;font-style:italic}
"""


# --------------------------------------------------------------------------------------------------
# Formatting helpers
# --------------------------------------------------------------------------------------------------


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _format_value(key: str, value: Any) -> str:
    """Format one metric value as display text (not yet escaped)."""
    if value is None:
        return "—"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        f = float(value)
        if not math.isfinite(f):
            return "—"
        if key in _PERCENT_KEYS:
            return f"{f * 100:.2f}%"
        if key in _ONE_DECIMAL_KEYS:
            return f"{f:,.1f}"
        if key in _PROBABILITY_KEYS:
            return f"{f:.3f}"
        if f.is_integer() and abs(f) >= 1000:
            return f"{f:,.0f}"
        if 0 < abs(f) < 0.01:
            return f"{f:.4g}"
        return f"{f:,.3f}"
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def _cell(key: str, value: Any) -> str:
    text = _format_value(key, value)
    negative = isinstance(value, int | float | np.number) and not isinstance(value, bool) and value < 0
    cls = ' class="neg"' if negative else ""
    return f"<td{cls}>{_esc(text)}</td>"


def _ordered_keys(dicts: Iterable[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for d in dicts:
        for k in d:
            seen.setdefault(k, None)
    known = [k for k in METRIC_LABELS if k in seen]
    return known + [k for k in seen if k not in METRIC_LABELS]


def _to_naive_utc(index: pd.Index) -> np.ndarray:
    """Convert a datetime index to naive-UTC ``datetime64`` values for matplotlib."""
    idx = pd.DatetimeIndex(index)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return idx.to_numpy()


def _timestamp(value: Any) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    if ts is pd.NaT:
        return None
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts


# --------------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------------


def _normalized(series: pd.Series) -> pd.Series:
    s = series.astype(float).dropna()
    if s.empty or s.iloc[0] == 0:
        return s
    return s / s.iloc[0]


def _fold_boundaries(folds: Sequence[Mapping[str, Any]]) -> list[pd.Timestamp]:
    out = []
    for fold in folds:
        ts = _timestamp(fold.get("test_start"))
        if ts is not None:
            out.append(ts)
    return out


def _new_axes(title: str, ylabel: str) -> tuple[Figure, Any]:
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3, linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def _plot_lines(
    ax: Any, strategy: pd.Series, benchmark: pd.Series | None, boundaries: Sequence[pd.Timestamp]
) -> None:
    plotted = False
    if len(strategy):
        ax.plot(
            _to_naive_utc(strategy.index),
            strategy.to_numpy(),
            color=_STRATEGY_COLOR,
            lw=1.4,
            label="Strategy",
        )
        plotted = True
    if benchmark is not None and len(benchmark):
        ax.plot(
            _to_naive_utc(benchmark.index),
            benchmark.to_numpy(),
            color=_BENCHMARK_COLOR,
            lw=1.1,
            label="Benchmark",
        )
        plotted = True
    for i, ts in enumerate(boundaries):
        ax.axvline(
            np.datetime64(ts.to_datetime64()),
            color=_FOLD_COLOR,
            lw=0.8,
            ls="--",
            alpha=0.6,
            label="Fold test start" if i == 0 else None,
        )
    if plotted:
        ax.legend(loc="best", fontsize=9, frameon=False)
    else:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="#8a8f98")


def _equity_plot(equity: pd.Series, benchmark: pd.Series | None, boundaries: Sequence[pd.Timestamp]) -> str:
    fig, ax = _new_axes("Equity (normalized to 1.0 at start)", "Growth of 1.0")
    bench = _normalized(benchmark) if benchmark is not None else None
    _plot_lines(ax, _normalized(equity), bench, boundaries)
    ax.axhline(1.0, color="#1d2430", lw=0.6, alpha=0.5)
    return figure_to_data_uri(fig)


def _drawdown_plot(equity: pd.Series, benchmark: pd.Series | None, boundaries: Sequence[pd.Timestamp]) -> str:
    fig, ax = _new_axes("Drawdown from running peak", "Drawdown (%)")
    strat = drawdown_series(equity.astype(float).dropna()) * 100.0
    bench = drawdown_series(benchmark.astype(float).dropna()) * 100.0 if benchmark is not None else None
    _plot_lines(ax, strat, bench, boundaries)
    if len(strat):
        ax.fill_between(
            _to_naive_utc(strat.index), strat.to_numpy(), 0.0, color=_STRATEGY_COLOR, alpha=0.15, linewidth=0
        )
    return figure_to_data_uri(fig)


# --------------------------------------------------------------------------------------------------
# HTML sections
# --------------------------------------------------------------------------------------------------


def _metrics_table(metrics: Mapping[str, Mapping[str, Any]]) -> str:
    if not metrics:
        return '<p class="empty">No metrics.</p>'
    sections = list(metrics)
    keys = _ordered_keys(metrics.values())
    head = "".join(f"<th>{_esc(s)}</th>" for s in sections)
    rows = []
    for key in keys:
        label = METRIC_LABELS.get(key, key)
        cells = "".join(_cell(key, metrics[s].get(key)) for s in sections)
        rows.append(f'<tr><td>{_esc(label)}</td><td class="key">{_esc(key)}</td>{cells}</tr>')
    return (
        f'<div class="scroll"><table><thead><tr><th>Metric</th><th>Key</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _folds_table(folds: Sequence[Mapping[str, Any]]) -> str:
    if not folds:
        return '<p class="empty">No folds.</p>'
    fold_metrics = [f.get("metrics") or {} for f in folds]
    present = {k for fm in fold_metrics for k in fm}
    metric_keys = [k for k in _FOLD_METRIC_KEYS if k in present]
    info_keys = [(k, label) for k, label in _FOLD_INFO_KEYS if any(k in f for f in folds)]
    head = "".join(f"<th>{_esc(label)}</th>" for _, label in info_keys)
    head += "".join(f"<th>{_esc(METRIC_LABELS.get(k, k))}</th>" for k in metric_keys)
    rows = []
    for fold, fm in zip(folds, fold_metrics, strict=True):
        cells = "".join(_cell(k, _display_info(fold.get(k))) for k, _ in info_keys)
        cells += "".join(_cell(k, fm.get(k)) for k in metric_keys)
        rows.append(f"<tr>{cells}</tr>")
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _display_info(value: Any) -> Any:
    """Render fold timestamps compactly; pass other values through."""
    if isinstance(value, pd.Timestamp | np.datetime64) or (
        isinstance(value, str) and len(value) >= 10 and value[4:5] == "-"
    ):
        ts = _timestamp(value)
        if ts is not None:
            return ts.strftime("%Y-%m-%d %H:%M") if (ts.hour or ts.minute) else ts.strftime("%Y-%m-%d")
    return value


def _trades_table(trades: pd.DataFrame | None) -> str | None:
    if trades is None:
        return None
    if len(trades) == 0:
        return '<p class="empty">No trades.</p>'
    frame = trades
    if "ts" in frame.columns:
        frame = frame.sort_values("ts", kind="stable")
    frame = frame.tail(_MAX_TRADES)
    columns = [str(c) for c in frame.columns]
    head = "".join(f"<th>{_esc(c)}</th>" for c in columns)
    rows = []
    for record in frame.itertuples(index=False, name=None):
        cells = "".join(_cell(col, _trade_value(v)) for col, v in zip(columns, record, strict=True))
        rows.append(f"<tr>{cells}</tr>")
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _trade_value(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float) and math.isfinite(value) and not value.is_integer():
        return round(value, 6)
    return value


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


def _render(
    *,
    title: str,
    run_id: str,
    equity: pd.Series,
    benchmark: pd.Series | None,
    metrics: Mapping[str, Mapping[str, Any]],
    folds: Sequence[Mapping[str, Any]],
    config_text: str,
    trades: pd.DataFrame | None,
    notes: Sequence[str] | None,
    sections: Sequence[tuple[str, str]] = (),
) -> str:
    boundaries = _fold_boundaries(folds)
    equity_uri = _equity_plot(equity, benchmark, boundaries)
    drawdown_uri = _drawdown_plot(equity, benchmark, boundaries)
    span = ""
    if len(equity):
        span = f" &middot; {_esc(_format_value('start', equity.index[0]))} &rarr; "
        span += _esc(_format_value("end", equity.index[-1]))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)} — {_esc(run_id)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f"<header><h1>{_esc(title)}</h1>",
        f'<div class="meta">Run <code>{_esc(run_id)}</code>{span}'
        f" &middot; {len(folds)} fold(s)</div></header>",
    ]
    if notes:
        items = "".join(f"<li>{_esc(n)}</li>" for n in notes)
        parts.append(f'<section><h2>Notes</h2><ul class="notes">{items}</ul></section>')
    bench_caption = " against the benchmark" if benchmark is not None else ""
    parts += [
        "<section><h2>Equity curve</h2><figure>",
        f'<img alt="Equity curve" src="{equity_uri}">',
        f"<figcaption>Strategy{bench_caption}, both normalized to 1.0 at the start; dashed lines mark "
        "fold test starts.</figcaption></figure></section>",
        "<section><h2>Drawdown</h2><figure>",
        f'<img alt="Drawdown" src="{drawdown_uri}">',
        "<figcaption>Drawdown from the running peak, in percent.</figcaption></figure></section>",
        f"<section><h2>Metrics</h2>{_metrics_table(metrics)}</section>",
        f"<section><h2>Walk-forward folds</h2>{_folds_table(folds)}</section>",
    ]
    for section_title, section_html in sections:
        parts.append(f"<section><h2>{_esc(section_title)}</h2>{section_html}</section>")
    trades_html = _trades_table(trades)
    if trades_html is not None:
        parts.append(f"<section><h2>Last {_MAX_TRADES} trades</h2>{trades_html}</section>")
    parts += [
        f"<section><h2>Resolved configuration</h2><pre>{_esc(config_text)}</pre></section>",
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_report(
    path: Path,
    *,
    title: str,
    run_id: str,
    equity: pd.Series,
    benchmark: pd.Series | None,
    metrics: dict[str, dict],
    folds: list[dict],
    config_text: str,
    trades: pd.DataFrame | None = None,
    notes: list[str] | None = None,
    sections: Sequence[tuple[str, str]] = (),
) -> Path:
    """Write a self-contained HTML walk-forward report.

    The page holds the title and run id, an equity plot of the strategy against the benchmark (both
    normalized to 1.0 at their first point, dashed vertical lines at each fold's ``test_start``), a
    drawdown plot of both, a metrics table (rows = metrics, columns = sections), a per-fold table,
    the last 50 trades (if given) and the resolved configuration. Plots are base64 PNG ``data:``
    URIs, CSS is inline and every text value is HTML-escaped, so the file loads nothing external.
    The file is written atomically (temporary file in the same directory, then ``os.replace``).

    Parameters
    ----------
    path : Path
        Destination file; parent directories are created.
    title : str
        Report title.
    run_id : str
        Run identifier shown under the title.
    equity : pd.Series
        Strategy equity indexed by timestamps.
    benchmark : pd.Series or None
        Benchmark equity (e.g. buy-and-hold) indexed by timestamps.
    metrics : dict[str, dict]
        Section name (e.g. ``"out_of_sample"``, ``"buy_and_hold"``) to a
        :func:`~nautilus_ai.backtest.metrics.compute_metrics` dict.
    folds : list[dict]
        Per-fold dicts with any of ``fold, train_start, train_end, test_start, test_end,
        model_version`` and a ``metrics`` dict.
    config_text : str
        Resolved configuration, shown verbatim (escaped) in a ``<pre>`` block.
    trades : pd.DataFrame or None, optional
        Trade/fill records; the last 50 (by ``ts`` when present) are tabulated.
    notes : list[str] or None, optional
        Free-text notes shown near the top.
    sections : sequence of (title, html), optional
        Extra sections (trusted HTML, e.g. from :mod:`nautilus_ai.backtest.report_sections`) shown
        after the folds table.

    Returns
    -------
    Path
        The written path.
    """
    path = Path(path)
    text = _render(
        title=title,
        run_id=run_id,
        equity=equity,
        benchmark=benchmark,
        metrics=metrics,
        folds=folds,
        config_text=config_text,
        trades=trades,
        notes=notes,
        sections=sections,
    )
    atomic_write_text(path, text)
    return path


# --------------------------------------------------------------------------------------------------
# Run-folder report (plotly + PNG exports)
# --------------------------------------------------------------------------------------------------

_CHART_CAPTIONS = {
    "equity": "Strategy and every baseline, each normalized to 1.0 at the start. Shaded bands: the "
    "regime the RegimeActor published for the named instrument; triangles: buy and sell fills on "
    "the strategy curve; dashed lines: fold test starts.",
    "drawdown": "Drawdown from the running peak, in percent.",
    "rolling_sharpe": "Annualized Sharpe ratio of the simple returns over a rolling window of about "
    "three months of bars.",
    "shap": "Stage-1 TreeSHAP attributions (log-odds): mean absolute value over each fold's test "
    "window, averaged over the folds (a feature missing from a fold's top list counts 0).",
    "scenarios": "Distribution of each metric over the simulated paths of every scenario kind.",
}
_CHART_TITLES = {
    "equity": "Equity, regimes and fills",
    "drawdown": "Drawdown",
    "rolling_sharpe": "Rolling Sharpe ratio",
    "shap": "SHAP summary (stage 1)",
    "scenarios": "Scenario distributions",
}
_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
_RUN_CSS = ".chart{min-height:260px}\nul.pngs{margin:0;padding-left:20px;font-size:.9em}\n"


@dataclass(frozen=True)
class RunArtifacts:
    """The files of a walk-forward run folder, parsed.

    Attributes
    ----------
    run_dir : Path
        The run folder.
    metrics : dict
        ``metrics.json``.
    equity : pd.DataFrame
        ``equity.parquet`` indexed by ``ts``: ``strategy`` and one column per baseline.
    trades, regimes, risk_decisions, scenarios : pd.DataFrame or None
        The optional parquet files (``None`` when absent).
    config_text : str or None
        ``config.toml`` (``None`` when absent).
    """

    run_dir: Path
    metrics: dict[str, Any]
    equity: pd.DataFrame
    trades: pd.DataFrame | None
    regimes: pd.DataFrame | None
    risk_decisions: pd.DataFrame | None
    scenarios: pd.DataFrame | None
    config_text: str | None

    @property
    def folds(self) -> list[dict[str, Any]]:
        """``metrics.json``'s per-fold list."""
        return list(self.metrics.get("folds") or [])

    @property
    def periods_per_year(self) -> float:
        """Bars per year: the strategy metrics' value, else inferred from the equity timestamps."""
        value = (self.metrics.get("out_of_sample") or {}).get("periods_per_year")
        if isinstance(value, int | float) and math.isfinite(value) and value > 0:
            return float(value)
        if len(self.equity) >= 2:
            return infer_periods_per_year(pd.DatetimeIndex(self.equity.index))
        return 252.0


def _read_optional_parquet(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise DataError(f"cannot read parquet: {exc}", file=str(path)) from exc


def load_run(run_dir: Path) -> RunArtifacts:
    """Read a walk-forward run folder.

    ``metrics.json`` and ``equity.parquet`` are required; ``trades.parquet``, ``regimes.parquet``,
    ``risk_decisions.parquet``, ``scenarios.parquet`` and ``config.toml`` are optional.

    Parameters
    ----------
    run_dir : Path
        The run folder ``<out>/<run_id>/``.

    Returns
    -------
    RunArtifacts
        The parsed files.

    Raises
    ------
    DataError
        If a required file is missing or unreadable, ``metrics.json`` is not a JSON object, or
        ``equity.parquet`` lacks the ``ts`` or ``strategy`` column.
    """
    run_dir = Path(run_dir)
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.is_file():
        raise DataError("missing: a run folder needs metrics.json", file=str(metrics_path))
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"not valid JSON: {exc}", file=str(metrics_path)) from exc
    if not isinstance(metrics, dict):
        raise DataError("expected a JSON object at the top level", file=str(metrics_path))
    equity_path = run_dir / "equity.parquet"
    equity = _read_optional_parquet(equity_path)
    if equity is None:
        raise DataError("missing: a run folder needs equity.parquet", file=str(equity_path))
    for field in ("ts", STRATEGY_COLUMN):
        if field not in equity.columns:
            raise DataError(
                f"expected columns 'ts', '{STRATEGY_COLUMN}' and baselines, got {list(equity.columns)}",
                file=str(equity_path),
                field=field,
            )
    equity = equity.set_index(pd.DatetimeIndex(equity["ts"], name="ts")).drop(columns="ts").sort_index()
    config_path = run_dir / "config.toml"
    return RunArtifacts(
        run_dir=run_dir,
        metrics=metrics,
        equity=equity.astype(float),
        trades=_read_optional_parquet(run_dir / "trades.parquet"),
        regimes=_read_optional_parquet(run_dir / "regimes.parquet"),
        risk_decisions=_read_optional_parquet(run_dir / "risk_decisions.parquet"),
        scenarios=_read_optional_parquet(run_dir / "scenarios.parquet"),
        config_text=config_path.read_text(encoding="utf-8") if config_path.is_file() else None,
    )


def _metrics_frame_table(table: pd.DataFrame) -> str:
    if table.empty:
        return '<p class="empty">No metrics.</p>'
    head = "".join(f"<th>{_esc(c)}</th>" for c in table.columns)
    rows = []
    for key, values in table.iterrows():
        label = METRIC_LABELS.get(str(key), str(key))
        shown = [_display_info(v) if key in ("start", "end") else v for v in values]
        cells = "".join(_cell(str(key), v) for v in shown)
        rows.append(
            f'<tr data-key="{_esc(key)}"><td>{_esc(label)}</td><td class="key">{_esc(key)}</td>{cells}</tr>'
        )
    return (
        f'<div class="scroll"><table id="metrics-table"><thead><tr><th>Metric</th><th>Key</th>{head}</tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _chart_section(name: str, figure: Any) -> str:
    div = pio.to_html(
        figure,
        full_html=False,
        include_plotlyjs=False,
        div_id=CHART_IDS[name],
        config=_PLOTLY_CONFIG,
        default_width="100%",
    )
    return (
        f'<section><h2>{_esc(_CHART_TITLES[name])}</h2><figure class="chart">{div}'
        f"<figcaption>{_esc(_CHART_CAPTIONS[name])}</figcaption></figure></section>"
    )


def _config_hash(text: str) -> str:
    """Hash of the resolved config text, as :meth:`ExperimentConfig.config_hash` computes it."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _config_section(run: RunArtifacts) -> str:
    if run.config_text is None:
        return '<section><h2>Resolved configuration</h2><p class="empty">No config.toml.</p></section>'
    digest = _config_hash(run.config_text)
    recorded = run.metrics.get("config_hash")
    note = f"sha256[:12] <code>{_esc(digest)}</code>"
    if recorded and recorded != digest:
        note += f" (metrics.json records <code>{_esc(recorded)}</code>: the config file was changed)"
    return (
        f'<section><h2>Resolved configuration</h2><p class="meta" id="config-hash">{note}</p>'
        f"<pre>{_esc(run.config_text)}</pre></section>"
    )


def _extra_sections(run: RunArtifacts) -> list[tuple[str, str]]:
    empty = pd.DataFrame({"ts": []})
    return [
        report_sections.stages_section(run.folds),
        report_sections.calibration_section(run.folds),
        report_sections.regimes_section(run.regimes if run.regimes is not None else empty),
        report_sections.risk_section(run.risk_decisions if run.risk_decisions is not None else empty),
    ]


def render_run_report(run: RunArtifacts, frames: ReportFrames, title: str | None = None) -> str:
    """Return the run report's HTML page (plotly.js inlined once, no external resource).

    Parameters
    ----------
    run : RunArtifacts
        The run folder's files (:func:`load_run`).
    frames : ReportFrames
        The prepared chart data (:func:`~nautilus_ai.backtest.report_plots.prepare_report_frames`).
    title : str, optional
        Page title; default ``"Walk-forward: <run_id>"``.

    Returns
    -------
    str
        The HTML document.
    """
    run_id = str(run.metrics.get("run_id") or run.run_dir.name)
    title = title or f"Walk-forward: {run_id}"
    equity = run.equity
    span = ""
    if len(equity):
        span = f" &middot; {_esc(_format_value('start', equity.index[0]))} &rarr; "
        span += _esc(_format_value("end", equity.index[-1]))
    baselines = [c for c in equity.columns if c != STRATEGY_COLUMN]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)} — {_esc(run_id)}</title>",
        f"<style>{_CSS}{_RUN_CSS}</style>",
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        "</head><body><main>",
        f"<header><h1>{_esc(title)}</h1>",
        f'<div class="meta">Run <code>{_esc(run_id)}</code>{span} &middot; {len(run.folds)} fold(s)'
        f" &middot; baselines: {_esc(', '.join(baselines) or 'none')}</div></header>",
    ]
    for name, figure in report_figures(frames).items():
        parts.append(_chart_section(name, figure))
    parts += [
        f"<section><h2>Metrics</h2>{_metrics_frame_table(metrics_table(run.metrics))}</section>",
        f"<section><h2>Walk-forward folds</h2>{_folds_table(run.folds)}</section>",
    ]
    for section_title, section_html in _extra_sections(run):
        parts.append(f"<section><h2>{_esc(section_title)}</h2>{section_html}</section>")
    trades_html = _trades_table(run.trades)
    if trades_html is not None:
        parts.append(f"<section><h2>Last {_MAX_TRADES} trades</h2>{trades_html}</section>")
    parts += [_config_section(run), "</main></body></html>"]
    return "\n".join(parts) + "\n"


def write_run_report(run_dir: Path, *, title: str | None = None, png: bool = True) -> Path:
    """Write ``report.html`` and the PNG exports of a walk-forward run folder.

    The page holds interactive plotly charts -- equity of the strategy against every baseline
    (normalized, with regime bands and trade markers), drawdown, rolling Sharpe ratio, SHAP summary
    and scenario distributions (when ``scenarios.parquet`` exists) -- then the metrics table
    (strategy and baselines, with PSR, DSR and PBO from ``overfitting`` when present), the per-fold
    table, the signal-stage, calibration, regime and risk tables, the last 50 trades and the
    resolved configuration with its hash. plotly.js is inlined once, so the file opens offline.
    The same charts are drawn with matplotlib into ``<run_dir>/png/<chart>.png``.

    Parameters
    ----------
    run_dir : Path
        The run folder ``<out>/<run_id>/`` (see :func:`load_run` for the files it reads).
    title : str, optional
        Page title; default ``"Walk-forward: <run_id>"``.
    png : bool, default True
        Also write the PNG exports.

    Returns
    -------
    Path
        ``<run_dir>/report.html`` (written atomically).

    Raises
    ------
    DataError
        If a required file is missing or a file has the wrong shape.
    """
    run = load_run(run_dir)
    frames = prepare_report_frames(
        run.equity,
        periods_per_year=run.periods_per_year,
        folds=run.folds,
        trades=run.trades,
        regimes=run.regimes,
        scenarios=run.scenarios,
    )
    if png:
        write_pngs(frames, run.run_dir / "png")
    path = run.run_dir / "report.html"
    atomic_write_text(path, render_run_report(run, frames, title=title))
    return path
