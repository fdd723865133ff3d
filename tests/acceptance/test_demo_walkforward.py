"""Acceptance: the demo experiment on the bundled real data, with its out-of-sample results pinned.

If a change moves these numbers, the change altered the research result: check why before
updating them.
"""

import pytest

from nautilus_ai.backtest.walkforward import run_walkforward
from nautilus_ai.catalog.ingest import IngestOptions, ingest_paths
from nautilus_ai.catalog.instruments import load_instruments_file
from nautilus_ai.config import load_experiment
from nautilus_ai.test_kit import bundled_data_dir

pytestmark = pytest.mark.slow

REPO = bundled_data_dir().parent


@pytest.fixture(scope="module")
def demo_result(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    specs = load_instruments_file(bundled_data_dir() / "instruments.toml")
    ingest_paths([bundled_data_dir() / "bars_daily"], root / "catalog", specs, IngestOptions())
    cfg = load_experiment(REPO / "configs" / "demo.toml").with_catalog(str(root / "catalog"))
    return run_walkforward(cfg, root / "runs", run_id="demo")


def test_demo_runs_six_out_of_sample_folds(demo_result):
    assert len(demo_result.folds) == PINNED["folds"]


def test_demo_uses_the_regime_and_all_three_stages(demo_result):
    for fold in demo_result.folds:
        assert fold["stages"] == ["stage1", "stage2", "stage3"]
        assert fold["regime_version"] is not None


def test_demo_report_shows_the_risk_decisions(demo_result):
    report = (demo_result.run_dir / "report.html").read_text()
    assert "<h2>Risk decisions</h2>" in report and "rejected" in report


def test_demo_trade_count_is_pinned(demo_result):
    assert demo_result.metrics["out_of_sample"]["n_trades"] == PINNED["n_trades"]


@pytest.mark.parametrize("metric", ["total_return", "sharpe", "sortino", "calmar", "max_drawdown", "cagr"])
def test_demo_out_of_sample_metrics_are_pinned(demo_result, metric):
    assert demo_result.metrics["out_of_sample"][metric] == pytest.approx(PINNED[metric], rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("metric", ["total_return", "sharpe", "max_drawdown"])
def test_demo_buy_and_hold_metrics_are_pinned(demo_result, metric):
    assert demo_result.metrics["buy_and_hold"][metric] == pytest.approx(
        PINNED[f"bh_{metric}"], rel=1e-6, abs=1e-9
    )


PINNED = {
    # configs/demo.toml: HMM regimes, LightGBM + LSTM + Platt-calibrated meta-model, the full risk layer
    "folds": 6,
    "n_trades": 1155,
    "total_return": 0.06135273960400878,
    "sharpe": 0.5493103983279051,
    "sortino": 0.772267996843838,
    "calmar": 0.2961764417080829,
    "max_drawdown": -0.07100381968056235,
    "cagr": 0.021029658660671302,
    "bh_total_return": 0.6488102095905619,
    "bh_sharpe": 1.1842707120661855,
    "bh_max_drawdown": -0.1552175629093997,
}
