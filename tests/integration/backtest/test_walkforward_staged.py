"""A walk-forward with the regime model, all three signal stages and the risk layer, on real bars."""

import pandas as pd
import pytest

from nautilus_ai.backtest.walkforward import run_walkforward
from nautilus_ai.learning.registry import ModelRegistry
from nautilus_ai.test_kit import demo_catalog, small_experiment

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("staged")
    catalog = demo_catalog(tmp)
    cfg = small_experiment(
        catalog,
        regime={"enabled": True, "n_states": 3},
        model={
            "long_threshold": 0.53,
            "short_threshold": 0.47,
            "stage2": {"enabled": True, "max_epochs": 3, "window": 5},
            "stage3": {"enabled": True},
        },
        risk={"cvar_budget": 0.02, "sizing": "kelly_volatility"},
    )
    return run_walkforward(cfg, tmp / "runs", run_id="staged"), tmp / "runs"


def test_every_fold_trains_and_registers_the_regime_and_the_three_stages(run):
    result, out = run
    registry = ModelRegistry(out / "registry")
    for fold in result.folds:
        assert fold["stages"] == ["stage1", "stage2", "stage3"]
        staged = registry.load(fold["model_version"])
        regime = registry.load(fold["regime_version"])
        assert staged.regime_names == tuple(regime.regime_names_)
        assert set(fold["model_metrics"]["test"]) >= {"p1", "p2", "probability", "reliability"}
        assert fold["shap_importance"] and all(v >= 0 for v in fold["shap_importance"].values())
        assert fold["payoff_ratio"]["payoff_ratio"] > 0
    versions = [fold["model_version"] for fold in result.folds]
    parents = [registry.get(v).parent for v in versions]
    assert parents == [None, *versions[:-1]]


def test_signals_carry_the_regime_of_their_bar_and_top_attributions(run):
    result, _ = run
    signals = pd.read_parquet(result.run_dir / "signals.parquet")
    regimes = pd.read_parquet(result.run_dir / "regimes.parquet")
    assert len(signals) > 0 and len(regimes) > 0
    assert not signals.duplicated(["instrument_id", "ts_event"]).any()
    joined = signals.merge(regimes, on=["instrument_id", "ts_event", "fold"], suffixes=("", "_label"))
    assert len(joined) == len(signals)
    assert (joined["regime"] == joined["regime_label"]).all()
    assert signals["top_attributions"].str.count(":").eq(3).all()
    assert signals["probability"].between(0, 1).all()
    assert signals["confidence"].between(0, 1).all()


def test_every_order_passed_the_risk_gate_and_the_report_shows_it(run):
    result, _ = run
    decisions = pd.read_parquet(result.run_dir / "risk_decisions.parquet")
    assert len(decisions) >= len(result.trades) > 0
    assert set(decisions["action"]) <= {"sized", "shrunk", "rejected", "halted", "state_change"}
    assert (decisions["approved_qty"] <= decisions["requested_qty"] + 1e-9).all()
    report = (result.run_dir / "report.html").read_text()
    titles = ["Signal stages (out of sample)", "Calibration", "SHAP summary (stage 1)"]
    titles += ["Regimes", "Risk decisions"]
    for title in titles:
        assert f"<h2>{title}</h2>" in report
