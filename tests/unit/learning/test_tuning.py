"""The tune file, the search space on the experiment config, samplers, pruners and studies."""

from pathlib import Path

import optuna
import pytest

from nautilus_ai.config import parse_experiment
from nautilus_ai.errors import ConfigError
from nautilus_ai.learning.tuning import (
    apply_parameters,
    check_parameters,
    checkpoint_folds,
    load_tune,
    make_pruner,
    make_sampler,
    open_study,
    parse_tune,
    set_path,
    worker_trials,
)

BASE = parse_experiment(
    {"name": "base", "data": {"instruments": ["AAPL.XNAS"]}, "model": {"params": {"num_leaves": 7}}}
)
PARAMETERS = [
    {"path": "model.params.num_leaves", "kind": "int", "low": 3, "high": 31},
    {"path": "features.rsi_period", "kind": "categorical", "choices": [7, 14, 21]},
    {"path": "risk.kelly_fraction", "kind": "float", "low": 0.1, "high": 1.0},
]


def _tune(**overrides):
    return parse_tune({"parameters": PARAMETERS, **overrides}, "test")


def test_tune_file_loads_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "tune.toml"
    path.write_text(
        'study_name = "s"\nsampler = "nsga2"\nobjectives = ["cagr", "max_drawdown"]\nn_trials = 4\n'
        '[[parameters]]\npath = "risk.kelly_fraction"\nkind = "float"\nlow = 0.2\nhigh = 0.8\n'
    )
    tune = load_tune(path)
    assert tune.sampler == "nsga2"
    assert tune.multi_objective
    assert tune.directions() == [optuna.study.StudyDirection.MAXIMIZE] * 2
    assert tune.parameters[0].high == 0.8


def test_missing_and_malformed_tune_files_raise_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_tune(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("parameters = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_tune(bad)


@pytest.mark.parametrize(
    ("parameter", "message"),
    [
        ({"path": "a.b", "kind": "categorical"}, "needs choices"),
        ({"path": "a.b", "kind": "int", "low": 1}, "needs low and high"),
        ({"path": "a.b", "kind": "float", "low": 2.0, "high": 1.0}, "low"),
        ({"path": "a.b", "kind": "float", "low": 0.0, "high": 1.0, "log": True}, "log-scale"),
        ({"path": "a.b", "kind": "int", "low": 1.5, "high": 4}, "integer"),
        ({"path": "nodots", "kind": "int", "low": 1, "high": 4}, "path"),
    ],
)
def test_bad_parameter_specs_name_the_problem(parameter: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_tune({"parameters": [parameter]}, "tune.toml")


def test_cmaes_rejects_several_objectives_and_categorical_parameters() -> None:
    with pytest.raises(ConfigError, match="single-objective"):
        _tune(sampler="cmaes", objectives=["cagr", "max_drawdown"])
    with pytest.raises(ConfigError, match="categorical"):
        _tune(sampler="cmaes")


def test_duplicate_parameters_and_unknown_keys_are_rejected() -> None:
    with pytest.raises(ConfigError, match="listed twice"):
        parse_tune({"parameters": [PARAMETERS[0], PARAMETERS[0]]}, "t")
    with pytest.raises(ConfigError, match="bogus"):
        _tune(bogus=1)


def test_set_path_copies_and_sets_nested_values() -> None:
    data = {"model": {"params": {"a": 1}}}
    out = set_path(data, "model.params.b", 2)
    assert out == {"model": {"params": {"a": 1, "b": 2}}}
    assert data == {"model": {"params": {"a": 1}}}


def test_apply_parameters_sets_dotted_paths_and_revalidates() -> None:
    cfg = apply_parameters(
        BASE, {"model.params.num_leaves": 15, "features.rsi_period": 21, "risk.kelly_fraction": 0.3}
    )
    assert cfg.model.params["num_leaves"] == 15
    assert cfg.features.rsi_period == 21
    assert cfg.risk.kelly_fraction == 0.3
    assert BASE.model.params["num_leaves"] == 7


def test_apply_parameters_rejects_unknown_paths_and_out_of_range_values() -> None:
    with pytest.raises(ConfigError, match=r"nosuch.x.y: nosuch is not a section"):
        apply_parameters(BASE, {"nosuch.x.y": 1})
    with pytest.raises(ConfigError, match=r"features\.rsi_perio"):
        apply_parameters(BASE, {"features.rsi_perio": 3})
    with pytest.raises(ConfigError, match="kelly_fraction"):
        apply_parameters(BASE, {"risk.kelly_fraction": 2.0})


def test_check_parameters_names_the_parameter_that_does_not_fit() -> None:
    check_parameters(_tune(), BASE)
    tune = parse_tune(
        {"parameters": [{"path": "risk.kelly_fraction", "kind": "float", "low": 0.0, "high": 1}]}
    )
    with pytest.raises(ConfigError, match=r"tune parameter risk\.kelly_fraction"):
        check_parameters(tune, BASE)


def test_worker_trials_split_the_trials_over_the_workers() -> None:
    assert worker_trials(4, 2) == [2, 2]
    assert worker_trials(5, 2) == [3, 2]
    assert worker_trials(1, 3) == [1]
    with pytest.raises(ConfigError, match="workers"):
        worker_trials(3, 0)


def test_checkpoints_are_the_folds_before_the_last_and_none_for_multi_objective() -> None:
    assert checkpoint_folds(_tune(), 4) == [1, 2, 3]
    assert checkpoint_folds(_tune(pruning={"checkpoints": [2, 9]}), 4) == [2]
    assert checkpoint_folds(_tune(pruning={"enabled": False}), 4) == []
    assert checkpoint_folds(_tune(objectives=["cagr", "max_drawdown"]), 4) == []


def test_samplers_and_pruners_follow_the_tune_file() -> None:
    assert isinstance(make_sampler(_tune(sampler="tpe")), optuna.samplers.TPESampler)
    assert isinstance(make_sampler(_tune(sampler="nsga2")), optuna.samplers.NSGAIISampler)
    assert isinstance(make_pruner(_tune()), optuna.pruners.MedianPruner)
    assert isinstance(make_pruner(_tune(objectives=["cagr", "max_drawdown"])), optuna.pruners.NopPruner)


def test_cmaes_sampler_is_optunas_cma_es() -> None:
    tune = parse_tune({"sampler": "cmaes", "parameters": [PARAMETERS[0], PARAMETERS[2]]})
    assert isinstance(make_sampler(tune), optuna.samplers.CmaEsSampler)


@pytest.mark.parametrize("sampler", ["tpe", "nsga2"])
def test_the_same_seed_draws_the_same_parameters(sampler: str) -> None:
    def draws(seed: int) -> list[dict]:
        tune = _tune(sampler=sampler, seed=seed)
        study = optuna.create_study(sampler=make_sampler(tune), direction="maximize")
        study.optimize(lambda t: sum(float(s.suggest(t)) for s in tune.parameters), n_trials=12)
        return [t.params for t in study.trials]

    assert draws(5) == draws(5)
    assert draws(5) != draws(6)


def test_open_study_records_the_objectives_and_refuses_others(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = open_study(_tune(), storage, "s")
    assert study.user_attrs["objectives"] == ["sharpe"]
    assert open_study(_tune(), storage, "s")._study_id == study._study_id
    with pytest.raises(ConfigError, match="another --study-name"):
        open_study(_tune(objectives=["sortino"]), storage, "s")
    assert _tune().storage_url(tmp_path) == f"sqlite:///{(tmp_path / 'optuna.db').resolve()}"
