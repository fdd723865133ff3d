"""The study report on real Optuna studies whose trials carry seeded out-of-sample returns."""

import json
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from nautilus_ai.backtest.overfitting import (
    deflated_sharpe_ratio,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
)
from nautilus_ai.learning.tuning_report import (
    chosen_trial,
    returns_matrix,
    study_summary,
    trial_returns,
    write_tuning_report,
)

INDEX = pd.date_range("2020-01-01", periods=240, freq="B", tz="UTC", unit="ns")
DIST = optuna.distributions.FloatDistribution(0.0, 1.0)


def _returns(seed: int, drift: float, index: pd.DatetimeIndex = INDEX) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series(drift + 0.01 * rng.standard_normal(len(index)), index=index)


def _attrs(returns: pd.Series) -> dict:
    sharpe = float(returns.mean() / returns.std(ddof=1) * np.sqrt(252))
    return {
        "oos_returns": {"ts": [int(t.value) for t in returns.index], "returns": returns.tolist()},
        "oos_metrics": {"sharpe": sharpe, "cagr": float(returns.mean() * 252), "max_drawdown": -0.1},
        "run_dir": "/nowhere",
    }


def _single_study(drifts: list[float]) -> tuple[optuna.Study, list[pd.Series]]:
    study = optuna.create_study(direction="maximize", study_name="unit")
    study.set_user_attr("objectives", ["sharpe"])
    series = []
    for i, drift in enumerate(drifts):
        returns = _returns(i, drift)
        series.append(returns)
        attrs = _attrs(returns)
        study.add_trial(
            optuna.trial.create_trial(
                params={"x": i / 10},
                distributions={"x": DIST},
                value=attrs["oos_metrics"]["sharpe"],
                user_attrs=attrs,
            )
        )
    study.add_trial(
        optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED, intermediate_values={1: -1.0})
    )
    return study, series


def test_trial_returns_round_trip_through_the_user_attrs() -> None:
    study, series = _single_study([0.001, 0.0])
    restored = trial_returns(study.trials[0])
    assert restored is not None
    pd.testing.assert_series_equal(restored, series[0], check_names=False, check_freq=False)
    assert trial_returns(study.trials[2]) is None


def test_dsr_counts_the_completed_trials_and_deflates_the_chosen_sharpe() -> None:
    study, series = _single_study([0.0005, 0.0, -0.0003, 0.001])
    summary = study_summary(study, pbo_splits=4)
    over = summary["overfitting"]
    chosen = summary["chosen_trial"]["number"]
    assert chosen == int(np.argmax([s.mean() / s.std(ddof=1) for s in series]))
    assert over["n_trials"] == 4
    assert summary["n_trials"] == 5
    assert summary["trial_states"] == {"COMPLETE": 4, "PRUNED": 1}
    sharpes = [s.mean() / s.std(ddof=1) for s in series]
    variance = float(np.var(sharpes, ddof=1))
    assert over["sr_variance"] == pytest.approx(variance)
    expected = deflated_sharpe_ratio(series[chosen].to_numpy(), 4, variance)
    assert over["dsr"] == pytest.approx(expected)
    assert over["dsr"] < probabilistic_sharpe_ratio(series[chosen].to_numpy())


def test_pbo_is_cscv_over_the_trials_returns() -> None:
    study, series = _single_study([0.0005, 0.0, -0.0003, 0.001])
    over = study_summary(study, pbo_splits=6)["overfitting"]
    expected = probability_of_backtest_overfitting(np.column_stack([s.to_numpy() for s in series]), 6)
    assert over["pbo"] == pytest.approx(expected.pbo)
    assert over["pbo_combinations"] == 20


def test_returns_matrix_keeps_the_bars_every_trial_has() -> None:
    study = optuna.create_study(direction="maximize")
    for i, index in enumerate([INDEX, INDEX[30:]]):
        attrs = _attrs(_returns(i, 0.0, index))
        study.add_trial(
            optuna.trial.create_trial(
                params={"x": 0.1}, distributions={"x": DIST}, value=1.0, user_attrs=attrs
            )
        )
    matrix = returns_matrix(study.trials)
    assert list(matrix.columns) == ["trial_0", "trial_1"]
    assert matrix.index.equals(INDEX[30:])


def test_multi_objective_choice_is_the_pareto_trial_with_the_best_sharpe(tmp_path: Path) -> None:
    study = optuna.create_study(directions=["maximize", "maximize"])
    study.set_user_attr("objectives", ["cagr", "max_drawdown"])
    points = [(0.30, -0.30, 0.9), (0.10, -0.05, 1.4), (0.05, -0.25, 2.0), (0.20, -0.10, 1.1)]
    for i, (cagr, drawdown, sharpe) in enumerate(points):
        attrs = _attrs(_returns(i, 0.0005))
        attrs["oos_metrics"]["sharpe"] = sharpe
        study.add_trial(
            optuna.trial.create_trial(
                params={"x": i / 10}, distributions={"x": DIST}, values=[cagr, drawdown], user_attrs=attrs
            )
        )
    summary = study_summary(study)
    # trial 2 has the best Sharpe but is dominated by trial 1 (higher CAGR, shallower drawdown)
    assert summary["pareto_front"] == [0, 1, 3]
    chosen = chosen_trial(study)
    assert chosen is not None
    assert chosen.number == 1
    assert summary["chosen_trial"]["number"] == 1
    html_path, _, _ = write_tuning_report(study, tmp_path)
    assert "Pareto front" in html_path.read_text()


def test_report_files_hold_the_summary_and_offline_plots(tmp_path: Path) -> None:
    study, _ = _single_study([0.0005, 0.0, 0.001])
    html_path, json_path, summary = write_tuning_report(study, tmp_path, pbo_splits=4)
    loaded = json.loads(json_path.read_text())
    assert loaded["chosen_trial"]["number"] == summary["chosen_trial"]["number"]
    assert len(loaded["trials"]) == 4
    page = html_path.read_text()
    assert "Deflated Sharpe ratio".lower() in page.lower()
    assert "plotly.js v" in page or "Plotly.newPlot" in page
    assert "<script src=" not in page
    assert "Pareto front" not in page


def test_empty_study_reports_no_choice(tmp_path: Path) -> None:
    study = optuna.create_study(direction="maximize")
    _, _, summary = write_tuning_report(study, tmp_path)
    assert summary["chosen_trial"] is None
    assert summary["overfitting"] is None
