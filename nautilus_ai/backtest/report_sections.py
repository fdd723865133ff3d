"""Walk-forward report sections for the signal engine and the risk layer.

Each function returns ``(title, html)`` for :func:`~nautilus_ai.backtest.report.write_report`'s
``sections`` (:func:`~nautilus_ai.backtest.report.write_run_report` shows the tables too): the
stage-by-stage out-of-sample metrics and calibration of every fold, the SHAP summary of stage 1,
the regimes the RegimeActor published, and the decisions of the risk layer.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from nautilus_ai.backtest.report_plots import shap_summary
from nautilus_ai.learning.explain_plots import figure_to_data_uri, importance_bar_figure

Section = tuple[str, str]

_STAGES = (("p1", "stage 1"), ("p2", "stage 2"), ("probability", "final"))
_MAX_DECISIONS = 40


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return _esc(value)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    header = "".join(f"<th>{_esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></div>'


def stages_section(folds: Sequence[Mapping[str, Any]]) -> Section:
    """Return the out-of-sample accuracy, MCC, AUC and Brier score of each stage, fold by fold."""
    rows = []
    for fold in folds:
        test = (fold.get("model_metrics") or {}).get("test") or {}
        for key, label in _STAGES:
            stage = test.get(key)
            if not stage:
                continue
            rows.append(
                [
                    _esc(fold.get("index", fold.get("fold", ""))),
                    _esc(label),
                    _num(stage.get("accuracy")),
                    _num(stage.get("mcc")),
                    _num(stage.get("auc")),
                    _num(stage.get("brier")),
                ]
            )
    if not rows:
        return "Signal stages (out of sample)", '<p class="empty">No model metrics.</p>'
    note = (
        "<p>Each fold's test window, scored by the fold's model. Stage 2 has no score until its window "
        "is full; the final probability is the calibrated stage-3 output when stage 3 is on.</p>"
    )
    return "Signal stages (out of sample)", note + _table(
        ["fold", "stage", "accuracy", "MCC", "AUC", "Brier"], rows
    )


def calibration_section(folds: Sequence[Mapping[str, Any]]) -> Section:
    """Return the reliability table of the final probability, pooled over the folds' test windows."""
    pooled: dict[int, list[float]] = {}
    for fold in folds:
        table = ((fold.get("model_metrics") or {}).get("test") or {}).get("reliability") or []
        for i, row in enumerate(table):
            if row.get("count") and row.get("mean_predicted") is not None:
                acc = pooled.setdefault(i, [0.0, 0.0, 0.0])
                n = float(row["count"])
                acc[0] += n * float(row["mean_predicted"])
                acc[1] += n * float(row["observed"])
                acc[2] += n
    rows = [
        [_esc(f"{i / 5:.1f} to {(i + 1) / 5:.1f}"), _num(mp / n), _num(obs / n), _esc(int(n))]
        for i, (mp, obs, n) in sorted(pooled.items())
    ]
    if not rows:
        return "Calibration", '<p class="empty">No reliability data.</p>'
    note = "<p>Final probabilities in five bins: mean predicted P(up) against the observed frequency.</p>"
    return "Calibration", note + _table(["bin", "mean predicted", "observed", "count"], rows)


def shap_section(folds: Sequence[Mapping[str, Any]]) -> Section:
    """Return the stage-1 SHAP summary: mean |SHAP| per feature over the folds' test windows."""
    importance = shap_summary(folds)
    if importance.empty:
        return "SHAP summary (stage 1)", '<p class="empty">No attributions.</p>'

    uri = figure_to_data_uri(
        importance_bar_figure(importance, title="Mean |SHAP| per feature (test windows)")
    )
    caption = (
        "Stage-1 TreeSHAP attributions (log-odds), mean absolute value over each fold's test window, "
        "averaged over the folds (top 10 features of each fold)."
    )
    return (
        "SHAP summary (stage 1)",
        f'<figure><img alt="SHAP summary" src="{uri}"><figcaption>{caption}</figcaption></figure>',
    )


def regimes_section(regimes: pd.DataFrame) -> Section:
    """Return the share of test bars spent in each published regime, per instrument."""
    if regimes.empty or "regime" not in regimes.columns:
        return "Regimes", '<p class="empty">No regime model in this run.</p>'
    counts = pd.crosstab(regimes["instrument_id"], regimes["regime"], normalize="index")
    head = ["instrument", *[str(c) for c in counts.columns]]
    rows = [[_esc(iid), *[_num(float(v), 2) for v in row]] for iid, row in counts.iterrows()]
    switches = (
        regimes.sort_values("ts", kind="stable")
        .groupby("instrument_id")["regime"]
        .apply(lambda s: int((s != s.shift()).sum() - 1))
    )
    note = (
        f"<p>Share of test-window bars in each regime the RegimeActor published (with hysteresis); "
        f"{int(switches.sum())} regime switches in all.</p>"
    )
    return "Regimes", note + _table(head, rows)


def risk_section(decisions: pd.DataFrame) -> Section:
    """Return the risk layer's decisions: counts by action and the latest non-trivial ones."""
    if decisions.empty or "action" not in decisions.columns:
        return "Risk decisions", '<p class="empty">No risk decisions recorded.</p>'
    counts = decisions["action"].value_counts()
    summary = _table(["action", "count"], [[_esc(a), _esc(int(n))] for a, n in counts.items()])
    notable = decisions[decisions["action"] != "sized"].sort_values("ts", kind="stable").tail(_MAX_DECISIONS)
    if notable.empty:
        detail = "<p>Every order intent passed the gate unchanged.</p>"
    else:
        detail = f"<p>Last {len(notable)} decisions that shrank, rejected or halted:</p>" + _table(
            ["time", "instrument", "action", "state", "requested", "approved", "reason"],
            [_decision_row(r) for r in notable.to_dict("records")],
        )
    note = (
        "<p>Every order intent of MLStrategy passes the RiskGate; each decision is published on the bus.</p>"
    )
    return "Risk decisions", note + summary + detail


def _decision_row(r: Mapping[Any, Any]) -> list[str]:
    return [
        _esc(pd.Timestamp(r["ts"]).strftime("%Y-%m-%d %H:%M")),
        _esc(r["instrument_id"]),
        _esc(r["action"]),
        _esc(r["trading_state"]),
        _num(float(r["requested_qty"]), 2),
        _num(float(r["approved_qty"]), 2),
        _esc(r["reason"]),
    ]
