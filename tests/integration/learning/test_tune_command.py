"""``nautilus-ai learn tune`` end to end: real walk-forwards on the bundled daily bars.

Tiny studies: two instruments, two folds (data cut at 2015-01-01), a small LightGBM, 3 trials.
"""

import json
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
import typer
from typer.testing import CliRunner

from nautilus_ai.cli_tune import tune
from nautilus_ai.config import ExperimentConfig
from nautilus_ai.learning.tuning import parse_tune, run_study
from nautilus_ai.test_kit import demo_catalog, small_experiment

PARAMETERS: list[dict[str, Any]] = [
    {"path": "model.params.num_leaves", "kind": "int", "low": 3, "high": 15},
    {"path": "features.rsi_period", "kind": "categorical", "choices": [7, 14]},
    {"path": "strategy.target_volatility", "kind": "float", "low": 0.05, "high": 0.2},
]


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test app."""

    app.command("tune")(tune)
    return app


def _tune_toml(path: Path, **settings: Any) -> Path:
    lines = [f"{k} = {json.dumps(v)}" for k, v in settings.items() if not isinstance(v, dict)]
    for section, values in settings.items():
        if not isinstance(values, dict):
            continue
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    for parameter in PARAMETERS:
        lines.append("[[parameters]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in parameter.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> ExperimentConfig:
    catalog = demo_catalog(tmp_path_factory.mktemp("tune-catalog"))
    return small_experiment(catalog, data={"end": "2015-01-01"}, walkforward={"workers": 1, "baselines": []})


@pytest.fixture(scope="module")
def cli_study(base: ExperimentConfig, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("tune-cli")
    config = root / "experiment.toml"
    config.write_text(base.to_toml())
    tune_file = _tune_toml(
        root / "tune.toml", study_name="cli", seed=11, n_trials=8, pruning={"n_startup_trials": 10}
    )
    out = root / "study"
    result = CliRunner().invoke(
        _app(),
        ["tune", "--config", str(config), "--tune", str(tune_file), "--out", str(out), "--n-trials", "3"],
    )
    return out, result


@pytest.mark.slow
def test_tune_command_runs_the_trials_and_writes_the_report(cli_study) -> None:
    out, result = cli_study
    assert result.exit_code == 0, result.output
    assert "deflated Sharpe ratio" in result.output
    summary = json.loads((out / "tuning_report.json").read_text())
    assert summary["n_trials"] == 3
    assert summary["trial_states"] == {"COMPLETE": 3}
    over = summary["overfitting"]
    assert over["n_trials"] == 3
    assert over["n_completed_trials"] == 3
    assert 0.0 <= over["dsr"] <= 1.0
    assert over["dsr"] <= over["psr"]
    assert 0.0 <= over["pbo"] <= 1.0
    assert (out / "tuning_report.html").stat().st_size > 100_000  # plotly inlined
    study = optuna.load_study(study_name="cli", storage=f"sqlite:///{out / 'optuna.db'}")
    assert study.user_attrs["n_trials"] == 3
    chosen = summary["chosen_trial"]["number"]
    assert study.trials[chosen].value == max(t.value for t in study.trials if t.value is not None)


@pytest.mark.slow
def test_each_trial_runs_its_own_config_and_counts_the_trials_before_it(cli_study) -> None:
    out, _ = cli_study
    study = optuna.load_study(study_name="cli", storage=f"sqlite:///{out / 'optuna.db'}")
    for trial in study.trials:
        run_config = tomllib.loads((Path(trial.user_attrs["run_dir"]) / "config.toml").read_text())
        assert run_config["model"]["params"]["num_leaves"] == trial.params["model.params.num_leaves"]
        assert run_config["features"]["rsi_period"] == trial.params["features.rsi_period"]
        assert run_config["strategy"]["target_volatility"] == trial.params["strategy.target_volatility"]
        assert run_config["walkforward"]["n_trials"] == trial.number + 1
        assert trial.value == pytest.approx(trial.user_attrs["oos_metrics"]["sharpe"])
        assert trial.user_attrs["n_folds"] == 2


@pytest.mark.slow
def test_the_early_fold_checkpoint_equals_the_first_fold_of_the_full_run(cli_study) -> None:
    out, _ = cli_study
    study = optuna.load_study(study_name="cli", storage=f"sqlite:///{out / 'optuna.db'}")
    for trial in study.trials:
        assert set(trial.intermediate_values) == {1}
        assert trial.intermediate_values[1] == pytest.approx(trial.user_attrs["fold_sharpes"][0], rel=1e-9)
    leftovers = [p.name for p in (out / "runs").iterdir() if "first" in p.name]
    assert leftovers == []


@pytest.mark.slow
def test_the_same_seed_gives_the_same_study(cli_study, base: ExperimentConfig, tmp_path: Path) -> None:
    out, _ = cli_study
    first = optuna.load_study(study_name="cli", storage=f"sqlite:///{out / 'optuna.db'}")
    spec = parse_tune(
        {
            "study_name": "again",
            "seed": 11,
            "n_trials": 2,
            "pruning": {"enabled": False},
            "parameters": PARAMETERS,
        }
    )
    result = run_study(spec, base, tmp_path / "again")
    again = optuna.load_study(study_name="again", storage=result.storage)
    assert [t.params for t in again.trials] == [t.params for t in first.trials[:2]]
    assert [t.value for t in again.trials] == pytest.approx([t.value for t in first.trials[:2]])


@pytest.mark.slow
def test_median_pruning_stops_trials_below_the_early_fold_median(
    base: ExperimentConfig, tmp_path: Path
) -> None:
    spec = parse_tune(
        {
            "study_name": "prune",
            "seed": 3,
            "n_trials": 3,
            "pruning": {"n_startup_trials": 1},
            "parameters": PARAMETERS,
        }
    )
    result = run_study(spec, base, tmp_path)
    study = optuna.load_study(study_name="prune", storage=result.storage)
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned, [t.intermediate_values for t in study.trials]
    for trial in pruned:
        # MedianPruner: below the median of the completed trials' values at the same step
        completed = [
            t.intermediate_values[1]
            for t in study.trials
            if t.number < trial.number and t.state == optuna.trial.TrialState.COMPLETE
        ]
        assert completed
        assert trial.intermediate_values[1] < float(np.median(completed))
        assert "run_dir" not in trial.user_attrs
        assert not (tmp_path / "runs" / f"prune-trial-{trial.number:04d}").exists()
    assert result.summary["trial_states"]["PRUNED"] == len(pruned)


@pytest.mark.slow
def test_nsga2_study_reports_the_pareto_front_of_return_against_drawdown(
    base: ExperimentConfig, tmp_path: Path
) -> None:
    spec = parse_tune(
        {
            "study_name": "pareto",
            "sampler": "nsga2",
            "population_size": 2,
            "objectives": ["cagr", "max_drawdown"],
            "n_trials": 3,
            "parameters": PARAMETERS,
        }
    )
    result = run_study(spec, base, tmp_path)
    summary = result.summary
    assert summary["directions"] == ["maximize", "maximize"]
    assert summary["pareto_front"]
    assert summary["chosen_trial"]["number"] in summary["pareto_front"]
    study = optuna.load_study(study_name="pareto", storage=result.storage)
    for trial in study.trials:
        oos = trial.user_attrs["oos_metrics"]
        assert trial.values == pytest.approx([oos["cagr"], oos["max_drawdown"]])
        assert trial.intermediate_values == {}
    assert "Pareto front" in result.report_path.read_text()


def test_a_search_path_missing_from_the_config_fails_before_any_run(
    base: ExperimentConfig, tmp_path: Path
) -> None:
    config = tmp_path / "experiment.toml"
    config.write_text(base.to_toml())
    tune_file = tmp_path / "tune.toml"
    tune_file.write_text('[[parameters]]\npath = "risk.no_such_knob"\nkind = "int"\nlow = 1\nhigh = 2\n')
    result = CliRunner().invoke(
        _app(), ["tune", "--config", str(config), "--tune", str(tune_file), "--out", str(tmp_path / "s")]
    )
    assert result.exit_code != 0
    assert "no_such_knob" in result.output
    assert not (tmp_path / "s" / "runs").exists()


def test_trials_without_enough_data_fail_and_the_study_goes_on(
    base: ExperimentConfig, tmp_path: Path
) -> None:
    spec = parse_tune(
        {
            "study_name": "short",
            "n_trials": 2,
            "pruning": {"enabled": False},
            "parameters": [{"path": "walkforward.train", "kind": "categorical", "choices": ["20D"]}],
        }
    )
    result = run_study(spec, base, tmp_path)
    assert result.summary["trial_states"] == {"FAIL": 2}
    assert result.summary["chosen_trial"] is None
    assert result.report_path.exists()
