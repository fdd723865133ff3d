"""`nautilus-ai learn benchmark stocknet` on real StockNet files (a subset of tickers)."""

import json
import math
import shutil
import tarfile
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from nautilus_ai.cli import app
from nautilus_ai.test_kit import shared_data_dir

TICKERS = ("AAPL", "AMZN", "BAC", "GOOG", "MSFT", "XOM")
runner = CliRunner()


@pytest.fixture
def stocknet_dir(tmp_path: Path) -> Path:
    """Build a StockNet-layout folder: price/raw CSVs (one extra) and the tweets of TICKERS."""
    shared = shared_data_dir()
    if shared is None:
        pytest.skip("needs ../shared/data")
    root = tmp_path / "stocknet"
    raw = root / "price" / "raw"
    raw.mkdir(parents=True)
    for ticker in (*TICKERS, "GE"):
        shutil.copy(shared / "bars_daily" / "stocknet" / f"{ticker}.csv", raw / f"{ticker}.csv")
    archive = shared / "news_tweets" / "stocknet_tweets_preprocessed_dev.tar.gz"
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and Path(m.name).parts[-2] in TICKERS]
        tar.extractall(root, members=members, filter="data")
    return root


@pytest.mark.slow
def test_stocknet_benchmark_cli_prints_stage_scores_as_json(stocknet_dir: Path) -> None:
    torch.set_num_threads(1)

    result = runner.invoke(
        app,
        [
            "learn",
            "benchmark",
            "stocknet",
            "--data",
            str(stocknet_dir),
            "--json",
            "--tickers",
            ",".join(TICKERS),
        ],
    )

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == {"accuracy", "mcc", "n_test", "stages"}
    assert report["n_test"] > 100
    assert 0.0 <= report["accuracy"] <= 1.0 and math.isfinite(report["accuracy"])
    assert -1.0 <= report["mcc"] <= 1.0 and math.isfinite(report["mcc"])
    stages = report["stages"]
    for name in ("stage1", "stage1+2", "stage1+2+3"):
        assert stages[name]["n_test"] == report["n_test"]
        assert 0.0 <= stages[name]["accuracy"] <= 1.0
        assert -1.0 <= stages[name]["mcc"] <= 1.0
    assert stages["stage1+2+3"]["accuracy"] == report["accuracy"]
    assert set(stages["ablations"]) == {"no_sentiment", "no_regime", "no_sentiment_no_regime"}
    assert stages["info"]["tickers"] == sorted(TICKERS)
    assert stages["selection"]["sentiment"]["params"] in [
        g["params"] for g in stages["selection"]["sentiment"]["grid"]
    ]


def test_stocknet_benchmark_cli_rejects_a_folder_without_prices(tmp_path: Path) -> None:
    result = runner.invoke(app, ["learn", "benchmark", "stocknet", "--data", str(tmp_path)])

    assert result.exit_code == 2
    assert "price/raw" in result.output
