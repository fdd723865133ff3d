"""The walk-forward runner end to end on real bundled bars (two stocks, small model)."""

import json

import pandas as pd
import pytest

from nautilus_ai.backtest.walkforward import run_walkforward
from nautilus_ai.learning.registry import ModelRegistry
from nautilus_ai.test_kit import demo_catalog, small_experiment

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    return demo_catalog(tmp_path_factory.mktemp("wf-catalog"), symbols=("AAPL", "MSFT"))


@pytest.fixture(scope="module")
def first_run(catalog, tmp_path_factory):
    out = tmp_path_factory.mktemp("wf-out-1")
    return run_walkforward(small_experiment(catalog), out, run_id="run-a"), out


def test_walkforward_writes_every_output_file(first_run):
    result, out = first_run
    run_dir = out / "run-a"
    for name in (
        "config.toml",
        "metrics.json",
        "equity.parquet",
        "trades.parquet",
        "folds.json",
        "features.parquet",
        "report.html",
    ):
        assert (run_dir / name).is_file(), name
    assert result.report_path == run_dir / "report.html"


def test_walkforward_metrics_cover_total_folds_and_baseline(first_run):
    result, out = first_run
    metrics = json.loads((out / "run-a" / "metrics.json").read_text())
    required = {
        "sharpe",
        "sortino",
        "calmar",
        "max_drawdown",
        "cagr",
        "volatility",
        "n_trades",
        "turnover",
        "hit_rate",
    }
    assert required <= set(metrics["out_of_sample"])
    assert required <= set(metrics["buy_and_hold"])
    assert len(metrics["folds"]) == len(result.folds) >= 2
    for fold in metrics["folds"]:
        assert required <= set(fold["metrics"])
        assert fold["model_version"].startswith("small-direction-")
    assert metrics["out_of_sample"]["n_trades"] == len(result.trades) > 0


def test_walkforward_test_windows_follow_their_training_windows(first_run):
    result, _ = first_run
    for fold in result.folds:
        assert fold["train_end"] == fold["test_start"]
        assert fold["model_metrics"]["n_train"] > 100
    starts = [pd.Timestamp(f["test_start"]) for f in result.folds]
    ends = [pd.Timestamp(f["test_end"]) for f in result.folds]
    assert all(e <= s for e, s in zip(ends, starts[1:], strict=False))


def test_walkforward_trades_only_inside_test_windows(first_run):
    result, _ = first_run
    for fold in result.folds:
        trades = result.trades[result.trades["fold"] == fold["index"]]
        assert (trades["ts"] >= pd.Timestamp(fold["test_start"])).all()
        assert (trades["ts"] <= pd.Timestamp(fold["test_end"])).all()


def test_walkforward_registers_one_model_version_per_fold(first_run):
    result, out = first_run
    records = {r.version_id: r for r in ModelRegistry(out / "registry").list("small-direction")}
    for fold in result.folds:
        record = records[fold["model_version"]]
        assert record.train_end == fold["train_end"]
        assert record.seed == 7


def test_walkforward_equity_starts_at_the_starting_balance(first_run):
    _, out = first_run
    equity = pd.read_parquet(out / "run-a" / "equity.parquet")
    assert equity["strategy"].iloc[0] == pytest.approx(1_000_000.0)
    assert equity["buy_and_hold"].iloc[0] == pytest.approx(1_000_000.0)
    assert equity["ts"].is_monotonic_increasing


def test_same_config_and_seed_give_identical_trades(first_run, catalog, tmp_path):
    result, _ = first_run
    again = run_walkforward(small_experiment(catalog), tmp_path, run_id="run-b")
    pd.testing.assert_frame_equal(result.trades, again.trades)
    assert [f["model_version"] for f in result.folds] == [f["model_version"] for f in again.folds]
    assert again.metrics == result.metrics
