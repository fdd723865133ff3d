"""The report of a tuning study: trials, the chosen configuration, its DSR and the study's PBO.

* the trials table (number, state, values, parameters, out-of-sample metrics, duration);
* the chosen configuration: the best trial of a single-objective study, or, for a multi-objective
  study, the Pareto-front trial with the highest out-of-sample Sharpe ratio;
* its deflated Sharpe ratio with ``N`` = the number of completed trials and the sample variance
  of the completed trials' per-period Sharpe ratios, and the probability of backtest overfitting
  by CSCV over the per-bar out-of-sample returns of the completed trials (aligned on the bars they
  share), both from :func:`nautilus_ai.backtest.metrics.overfitting_statistics`;
* the Pareto front of a multi-objective (NSGA-II) study.

Written as ``tuning_report.json`` and a self-contained ``tuning_report.html`` (plotly, inline js).
"""

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import plotly.graph_objects as go

from nautilus_ai.backtest.metrics import overfitting_statistics
from nautilus_ai.catalog.atomic import atomic_write_text

_STATES = optuna.trial.TrialState


def trial_returns(trial: optuna.trial.FrozenTrial) -> pd.Series | None:
    """Return the stitched per-bar out-of-sample returns a trial stored (None when it has none)."""
    stored = trial.user_attrs.get("oos_returns")
    if not stored or not stored.get("ts"):
        return None
    index = pd.DatetimeIndex(pd.to_datetime(stored["ts"], unit="ns", utc=True))
    return pd.Series(np.asarray(stored["returns"], dtype=float), index=index, name=f"trial_{trial.number}")


def completed_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Return the study's completed trials, in trial-number order."""
    return sorted(study.get_trials(deepcopy=False, states=(_STATES.COMPLETE,)), key=lambda t: t.number)


def chosen_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """Return the chosen trial: the best one, or the Pareto trial with the highest OOS Sharpe ratio."""
    if not completed_trials(study):
        return None
    if len(study.directions) == 1:
        return study.best_trial

    def sharpe(trial: optuna.trial.FrozenTrial) -> float:
        value = trial.user_attrs.get("oos_metrics", {}).get("sharpe")
        return float(value) if value is not None else -math.inf

    return max(sorted(study.best_trials, key=lambda t: t.number), key=sharpe)


def returns_matrix(trials: list[optuna.trial.FrozenTrial]) -> pd.DataFrame:
    """Align the trials' out-of-sample returns on the bars all of them have (``T x N``)."""
    columns = {f"trial_{t.number}": r for t in trials if (r := trial_returns(t)) is not None}
    if not columns:
        return pd.DataFrame()
    frame = pd.concat(columns, axis=1, join="inner").sort_index()
    return frame[np.isfinite(frame.to_numpy(dtype=float)).all(axis=1)]


def study_overfitting(study: optuna.Study, pbo_splits: int = 8) -> dict[str, Any] | None:
    """Return the DSR of the chosen trial (N = completed trials) and the study's PBO by CSCV.

    ``None`` when no completed trial stored its returns.
    """
    chosen = chosen_trial(study)
    trials = completed_trials(study)
    matrix = returns_matrix(trials)
    if chosen is None or matrix.empty or f"trial_{chosen.number}" not in matrix.columns:
        return None
    stats = overfitting_statistics(
        matrix, f"trial_{chosen.number}", n_trials=len(trials), pbo_splits=pbo_splits
    )
    stats["n_completed_trials"] = len(trials)
    return stats


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def trials_table(study: optuna.Study) -> list[dict[str, Any]]:
    """Return one row per trial: number, state, values, parameters, OOS metrics and duration."""
    rows = []
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        oos = trial.user_attrs.get("oos_metrics", {})
        duration = trial.duration.total_seconds() if trial.duration is not None else None
        rows.append(
            {
                "number": trial.number,
                "state": trial.state.name,
                "values": trial.values,
                "params": trial.params,
                "sharpe": oos.get("sharpe"),
                "cagr": oos.get("cagr"),
                "max_drawdown": oos.get("max_drawdown"),
                "n_trades": oos.get("n_trades"),
                "n_folds": trial.user_attrs.get("n_folds"),
                "intermediate": {str(k): v for k, v in trial.intermediate_values.items()},
                "duration_s": duration,
                "run_dir": trial.user_attrs.get("run_dir"),
            }
        )
    return _clean(rows)


def study_summary(study: optuna.Study, pbo_splits: int = 8) -> dict[str, Any]:
    """Return the study's report as JSON-ready data (see the module docstring)."""
    trials = study.get_trials(deepcopy=False)
    counts = {state.name: sum(t.state == state for t in trials) for state in _STATES}
    chosen = chosen_trial(study)
    multi = len(study.directions) > 1
    pareto = sorted(t.number for t in study.best_trials) if multi and chosen is not None else []
    summary: dict[str, Any] = {
        "study_name": study.study_name,
        "objectives": study.user_attrs.get("objectives"),
        "directions": [d.name.lower() for d in study.directions],
        "sampler": study.user_attrs.get("sampler"),
        "n_trials": len(trials),
        "trial_states": {k: v for k, v in counts.items() if v},
        "chosen_trial": None,
        "pareto_front": pareto,
        "overfitting": study_overfitting(study, pbo_splits),
        "trials": trials_table(study),
    }
    if chosen is not None:
        summary["chosen_trial"] = _clean(
            {
                "number": chosen.number,
                "values": chosen.values,
                "params": chosen.params,
                "config_hash": chosen.user_attrs.get("config_hash"),
                "run_dir": chosen.user_attrs.get("run_dir"),
                "oos_metrics": chosen.user_attrs.get("oos_metrics"),
            }
        )
    return summary


# --------------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------------


def _history_figure(summary: dict[str, Any]) -> go.Figure:
    fig = go.Figure()
    objectives = summary["objectives"] or [f"objective {i}" for i in range(len(summary["directions"]))]
    done = [row for row in summary["trials"] if row["state"] == "COMPLETE" and row["values"]]
    for i, name in enumerate(objectives):
        fig.add_trace(
            go.Scatter(
                x=[r["number"] for r in done],
                y=[r["values"][i] for r in done],
                mode="markers+lines",
                name=name,
            )
        )
    fig.update_layout(title="Objective by trial", xaxis_title="trial", height=360)
    return fig


def _pareto_figure(summary: dict[str, Any]) -> go.Figure:
    objectives = summary["objectives"] or ["objective 0", "objective 1"]
    done = [row for row in summary["trials"] if row["state"] == "COMPLETE" and row["values"]]
    front = set(summary["pareto_front"])
    fig = go.Figure()
    for on_front, label in ((False, "dominated"), (True, "Pareto front")):
        rows = [r for r in done if (r["number"] in front) == on_front]
        fig.add_trace(
            go.Scatter(
                x=[r["values"][1] for r in rows],
                y=[r["values"][0] for r in rows],
                text=[f"trial {r['number']}" for r in rows],
                mode="markers",
                name=label,
                marker={"size": 11 if on_front else 7},
            )
        )
    fig.update_layout(title="Pareto front", xaxis_title=objectives[1], yaxis_title=objectives[0], height=420)
    return fig


def _equity_figure(study: optuna.Study, chosen: int | None) -> go.Figure:
    fig = go.Figure()
    for trial in completed_trials(study):
        returns = trial_returns(trial)
        if returns is None:
            continue
        best = trial.number == chosen
        fig.add_trace(
            go.Scatter(
                x=returns.index,
                y=(1.0 + returns).cumprod(),
                name=f"trial {trial.number}" + (" (chosen)" if best else ""),
                line={"width": 3 if best else 1},
                opacity=1.0 if best else 0.5,
            )
        )
    fig.update_layout(title="Out-of-sample growth of 1 by trial", height=420)
    return fig


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    return str(value)


def render_html(study: optuna.Study, summary: dict[str, Any]) -> str:
    """Return the report page (plotly's js inlined once, so it opens offline)."""
    chosen = summary["chosen_trial"]
    figures = [_history_figure(summary)]
    if summary["pareto_front"]:
        figures.append(_pareto_figure(summary))
    figures.append(_equity_figure(study, chosen["number"] if chosen else None))
    plots = [
        fig.to_html(full_html=False, include_plotlyjs=(i == 0), default_width="100%")
        for i, fig in enumerate(figures)
    ]
    over = summary["overfitting"] or {}
    facts = {
        "objectives": summary["objectives"],
        "sampler": summary["sampler"],
        "trials": summary["n_trials"],
        "states": summary["trial_states"],
        "chosen trial": chosen["number"] if chosen else None,
        "chosen parameters": chosen["params"] if chosen else None,
        "deflated Sharpe ratio": over.get("dsr"),
        "PSR (vs 0)": over.get("psr"),
        "N (completed trials)": over.get("n_trials"),
        "trial Sharpe variance (per bar)": over.get("sr_variance"),
        "PBO (CSCV)": over.get("pbo"),
        "PBO splits / combinations": [over.get("pbo_splits"), over.get("pbo_combinations")],
        "bars shared by the trials": over.get("n_periods"),
    }
    if summary["pareto_front"]:
        facts["Pareto front"] = summary["pareto_front"]
    fact_rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in facts.items()
    )
    columns = [
        "number",
        "state",
        "values",
        "sharpe",
        "cagr",
        "max_drawdown",
        "n_trades",
        "params",
        "duration_s",
    ]
    head = "".join(f"<th>{c}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(row.get(c)))}</td>" for c in columns) + "</tr>"
        for row in summary["trials"]
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>Tuning: {html.escape(summary['study_name'])}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}</style></head><body>"
        f"<h1>Tuning study {html.escape(summary['study_name'])}</h1>"
        f"<table>{fact_rows}</table>{''.join(plots)}"
        f"<h2>Trials</h2><table><tr>{head}</tr>{body}</table></body></html>"
    )


def write_tuning_report(
    study: optuna.Study, out_dir: Path, pbo_splits: int = 8
) -> tuple[Path, Path, dict[str, Any]]:
    """Write ``tuning_report.html`` and ``tuning_report.json`` under ``out_dir``.

    Returns
    -------
    tuple[Path, Path, dict[str, Any]]
        The HTML path, the JSON path and the summary (:func:`study_summary`).
    """
    summary = study_summary(study, pbo_splits)
    out_dir = Path(out_dir)
    json_path = out_dir / "tuning_report.json"
    html_path = out_dir / "tuning_report.html"
    atomic_write_text(json_path, json.dumps(summary, indent=2, default=str))
    atomic_write_text(html_path, render_html(study, summary))
    return html_path, json_path, summary
