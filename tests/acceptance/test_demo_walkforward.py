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


@pytest.mark.parametrize("metric", ["total_return", "sharpe", "max_drawdown", "n_trades"])
def test_demo_ema_cross_metrics_are_pinned(demo_result, metric):
    assert demo_result.metrics["ema_cross"][metric] == pytest.approx(
        PINNED[f"ema_{metric}"], rel=1e-6, abs=1e-9
    )


@pytest.mark.parametrize("statistic", ["psr", "dsr", "pbo"])
def test_demo_overfitting_statistics_are_pinned(demo_result, statistic):
    assert demo_result.metrics["overfitting"][statistic] == pytest.approx(
        PINNED[statistic], rel=1e-6, abs=1e-9
    )


def test_demo_pays_the_configured_costs(demo_result):
    trades = demo_result.trades
    assert trades["commission"].to_numpy() == pytest.approx(0.01 * trades["quantity"].to_numpy(), rel=1e-9)


def test_demo_writes_the_run_manifest(demo_result):
    import json

    manifest = json.loads((demo_result.run_dir / "manifest.json").read_text())
    bars = [d for d in manifest["data"] if d["path"].startswith("data/bar/")]
    assert len(bars) == 10
    assert manifest["seed"] == 42


PINNED = {
    # configs/demo.toml: HMM regimes, LightGBM + LSTM + Platt-calibrated meta-model, the full risk layer,
    # costs of 1 cent a share and a one-tick slip on 20% of the fills (seeded FillModel); entries routed
    # by the order-type selector on bar liquidity (mostly limit orders joining the touch, expiring after
    # the label horizon)
    "folds": 6,
    "n_trades": 931,
    "total_return": 0.05120003611355162,
    "sharpe": 0.470858198603845,
    "sortino": 0.6633651637093214,
    "calmar": 0.2790746392861983,
    "max_drawdown": -0.06308448459202198,
    "cagr": 0.017605279782074268,
    "bh_total_return": 0.6490839722932,
    "bh_sharpe": 1.1846164916037538,
    "bh_max_drawdown": -0.15522207209516647,
    # EMA(20) / EMA(50) crossover, long or flat
    "ema_total_return": 0.2639810694479805,
    "ema_sharpe": 0.8609755793788036,
    "ema_max_drawdown": -0.11264595770655572,
    "ema_n_trades": 208,
    # stitched out-of-sample statistics (n_trials = 1: DSR = PSR; PBO over strategy, buy-and-hold, EMA cross)
    "psr": 0.7849206195479724,
    "dsr": 0.7849206195479724,
    "pbo": 0.08571428571428572,
}
