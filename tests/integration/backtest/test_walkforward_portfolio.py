"""A walk-forward with the PortfolioStrategy: riskfolio-lib weights over the instruments, through the gate."""

import pandas as pd
import pytest

from nautilus_ai.backtest.walkforward import run_walkforward
from nautilus_ai.test_kit import demo_catalog, small_experiment

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("portfolio")
    catalog = demo_catalog(tmp, symbols=("AAPL", "MSFT", "AMZN"))
    cfg = small_experiment(
        catalog,
        instruments=("AAPL.XNAS", "MSFT.XNAS", "AMZN.XNAS"),
        strategy={"kind": "portfolio"},
        portfolio={
            "method": "hrp",
            "max_position_weight": 0.4,
            "max_turnover": 0.5,
            "rebalance_every_bars": 5,
        },
        risk={"max_gross_leverage": 1.0},
        model={"long_threshold": 0.52, "short_threshold": 0.48},
    )
    return run_walkforward(cfg, tmp / "runs", run_id="portfolio"), cfg


def test_the_portfolio_strategy_trades_every_fold_inside_its_caps(run):
    result, _ = run
    trades = result.trades
    assert len(trades) > 0
    assert set(trades["fold"]) == {f["index"] for f in result.folds}
    decisions = pd.read_parquet(result.run_dir / "risk_decisions.parquet")
    assert len(decisions) >= len(trades)
    assert (decisions["approved_qty"] <= decisions["requested_qty"] + 1e-9).all()
    for fold in result.folds:
        assert (result.run_dir / "work" / f"fold{fold['index']:03d}-train-returns.parquet").exists()
    assert result.metrics["out_of_sample"]["n_trades"] == len(trades)


def test_the_training_returns_end_before_each_test_window(run):
    result, _ = run
    for fold in result.folds:
        returns = pd.read_parquet(result.run_dir / "work" / f"fold{fold['index']:03d}-train-returns.parquet")
        assert returns.index.max() < pd.Timestamp(fold["train_end"])
