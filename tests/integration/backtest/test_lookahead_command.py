"""``nautilus-ai backtest lookahead`` as a user runs it: exit codes, the leak table and the results file."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from nautilus_ai import test_kit
from nautilus_ai.cli_lookahead import LEAK_EXIT_CODE, lookahead
from nautilus_ai.indicators import batch_features
from nautilus_ai.indicators.feature_spec import FeatureSpec

runner = CliRunner()


def make_app() -> typer.Typer:
    app = typer.Typer()
    backtest = typer.Typer()
    backtest.command("lookahead")(lookahead)
    app.add_typer(backtest, name="backtest")
    return app


def next_bar_return(name: str, spec: FeatureSpec, bars: pd.DataFrame, events: object) -> pd.Series:
    """A leaky batch twin of ``ret_1`` (``shift(-1)``: the return to the next bar)."""
    close = bars["close"]
    return pd.Series(np.log(close.shift(-1) / close), index=bars.index)


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lookahead-cli")
    catalog = test_kit.demo_catalog(root, ("AAPL", "MSFT"))
    cfg = test_kit.small_experiment(
        catalog,
        data={"start": "2014-01-01", "end": "2016-06-30"},
        walkforward={"train": "540D", "test": "120D", "workers": 1},
    )
    path = root / "experiment.toml"
    path.write_text(cfg.to_toml())
    return path


def invoke(*args: str):
    return runner.invoke(make_app(), ["backtest", "lookahead", *args])


@pytest.mark.slow
def test_clean_pipeline_exits_0_and_writes_the_results(config_file, tmp_path):
    result = invoke("--config", str(config_file), "--out", str(tmp_path), "--cuts", "2", "--seed", "5")

    assert result.exit_code == 0, result.output
    assert "no look-ahead" in result.output
    summary = json.loads((tmp_path / "lookahead.json").read_text())
    assert summary["clean"] is True and summary["leaks"] == []
    assert summary["seed"] == 5 and len(summary["cuts"]) == 2
    assert set(summary["compared"]) == {"features", "batch", "signals", "decisions"}


def test_leaky_batch_twin_exits_1_with_a_table_of_the_offending_feature(config_file, tmp_path, monkeypatch):
    monkeypatch.setitem(batch_features.BATCH_FEATURES, "ret_1", next_bar_return)

    result = invoke(
        "--config", str(config_file), "--out", str(tmp_path), "--no-replay", "--no-signals", "--cuts", "2"
    )

    assert result.exit_code == LEAK_EXIT_CODE == 1, result.output
    assert "look-ahead found in 1 column" in result.output
    assert "ret_1" in result.output
    summary = json.loads((tmp_path / "lookahead.json").read_text())
    [leak] = summary["leaks"]
    assert (leak["stage"], leak["column"], leak["rows"]) == ("batch", "ret_1", 4)  # 2 cuts x 2 instruments
    assert leak["first_ts"] == summary["cuts"][0]
    assert leak["max_abs_diff"] == "inf"  # NaN without the next bar, a value with it


def test_too_many_cuts_is_a_config_error_exit_2(config_file, tmp_path):
    result = invoke(
        "--config", str(config_file), "--out", str(tmp_path), "--no-replay", "--no-signals", "--cuts", "5000"
    )

    assert result.exit_code == 2
    assert "ConfigError" in result.output and "--cuts" in result.output


def test_missing_catalog_is_a_config_error_exit_2(config_file, tmp_path):
    result = invoke("--config", str(config_file), "--catalog", str(tmp_path / "nowhere"), "--no-signals")

    assert result.exit_code == 2
    assert "does not exist" in result.output
