"""`learn adversarial` end to end on a real catalog: files written, both models registered, errors exit 2."""

import json

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from nautilus_ai.cli_adversarial import adversarial
from nautilus_ai.learning.registry import ModelRegistry
from nautilus_ai.learning.staged import StagedModel
from nautilus_ai.test_kit import demo_catalog, small_experiment

SETTINGS = """
rounds = 1
search_trials = 3
refine_trials = 1
sequence_epsilon = 0.1
sequence_steps = 1

[bounds]
volatility_multiplier = [1.0, 2.0]
spread_bp = [0.0, 5.0]
"""


def learn_app() -> typer.Typer:
    app = typer.Typer()
    app.command("adversarial")(adversarial)

    @app.callback()
    def main() -> None:
        """Throwaway group so that `adversarial` is a subcommand, as under `learn`."""

    return app


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("adversarial")
    catalog = demo_catalog(root, symbols=("AAPL",))
    cfg = small_experiment(
        catalog,
        ("AAPL.XNAS",),
        data={"start": "2014-01-01"},
        model={"stage2": {"enabled": True, "window": 5, "hidden": 8, "max_epochs": 3, "patience": 2}},
    )
    config = root / "experiment.toml"
    config.write_text(cfg.to_toml())
    settings = root / "adversarial.toml"
    settings.write_text(SETTINGS)
    return root, config, settings


@pytest.mark.slow
def test_learn_adversarial_writes_the_history_and_registers_both_models(setup):
    root, config, settings = setup
    out = root / "out"

    result = CliRunner().invoke(
        learn_app(),
        [
            "adversarial",
            "--config",
            str(config),
            "--adversarial",
            str(settings),
            "--out",
            str(out),
            "--run-id",
            "a",
        ],
    )

    assert result.exit_code == 0, result.output
    assert "adversary rounds" in result.output and "test window" in result.output
    history = pd.read_parquet(out / "a" / "history.parquet")
    assert list(history["round"]) == [1]
    assert history["worst_objective"].iloc[0] <= history["clean_objective"].iloc[0]
    summary = json.loads((out / "a" / "adversarial.json").read_text())
    assert summary["adversarial_config"]["bounds"]["spread_bp"] == [0.0, 5.0]
    assert set(summary["test"]) == {"plain", "adversarial"}
    registry = ModelRegistry(out / "registry")
    for version in summary["versions"].values():
        assert isinstance(registry.load(version), StagedModel)
    assert not list(out.glob(".*.partial"))


def test_learn_adversarial_with_bad_bounds_exits_2_naming_the_field(setup):
    root, config, _ = setup
    bad = root / "bad.toml"
    bad.write_text("[bounds]\ngap = [0.3, 0.1]\n")

    result = CliRunner().invoke(
        learn_app(),
        ["adversarial", "--config", str(config), "--adversarial", str(bad), "--out", str(root / "x")],
    )

    assert result.exit_code == 2
    assert "bad.toml" in result.output and "gap: low 0.3 is above high 0.1" in result.output
