"""Walk-forward research outputs end to end: costs, baselines, overfitting statistics, manifest, replay.

Two stocks, two short folds, a seeded fill model that slips half of the fills by one tick and a
per-share commission; the same config is run twice and must give identical fills.
"""

import json

import numpy as np
import pandas as pd
import pytest

from nautilus_ai.backtest.walkforward import run_walkforward
from nautilus_ai.test_kit import demo_catalog, small_experiment

pytestmark = pytest.mark.slow

COMMISSION = 0.01


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    return demo_catalog(tmp_path_factory.mktemp("research-catalog"), symbols=("AAPL", "MSFT"))


@pytest.fixture(scope="module")
def config(catalog):
    return small_experiment(
        catalog,
        data={"end": "2014-10-01"},
        venue={"fee_model": "per_share", "commission": COMMISSION, "prob_slippage": 0.5},
        # market orders, so every fill is at the bar's close or one tick beyond it (the fill model's slip)
        execution={"mode": "market"},
        walkforward={"test": "120D", "embargo_bars": 3, "ema_fast": 5, "ema_slow": 20, "n_trials": 4},
    )


@pytest.fixture(scope="module")
def runs(config, tmp_path_factory):
    out = tmp_path_factory.mktemp("research-out")
    first = run_walkforward(config, out, run_id="first")
    second = run_walkforward(config, out, run_id="second")
    return first, second


def test_same_config_and_seed_give_identical_fills(runs):
    first, second = runs
    a = pd.read_parquet(first.run_dir / "trades.parquet")
    b = pd.read_parquet(second.run_dir / "trades.parquet")

    assert len(a) > 0
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_same_config_and_seed_give_identical_metrics(runs):
    first, second = runs
    a = json.loads((first.run_dir / "metrics.json").read_text())
    b = json.loads((second.run_dir / "metrics.json").read_text())

    for key in ("out_of_sample", "buy_and_hold", "ema_cross", "overfitting"):
        assert a[key] == b[key], key


def test_fills_pay_the_per_share_commission(runs):
    trades = runs[0].trades

    np.testing.assert_allclose(trades["commission"], COMMISSION * trades["quantity"], rtol=1e-9)


def test_seeded_fill_model_slips_some_fills_by_one_tick(runs, catalog, config):
    from nautilus_ai.backtest.walkforward import load_closes

    closes = load_closes(str(catalog), config)
    trades = runs[0].trades
    close_at_fill = np.array(
        [closes[iid].get(ts, np.nan) for iid, ts in zip(trades["instrument_id"], trades["ts"], strict=True)]
    )
    gap = np.round(trades["price"].to_numpy() - close_at_fill, 2)

    known = np.isfinite(gap)
    assert known.sum() > 10
    assert set(np.abs(gap[known])) <= {0.0, 0.01}
    slipped = np.mean(np.abs(gap[known]) == 0.01)
    assert 0.2 < slipped < 0.8


def test_metrics_hold_the_ema_cross_baseline_and_the_overfitting_statistics(runs):
    metrics = json.loads((runs[0].run_dir / "metrics.json").read_text())

    assert {"run_id", "config_hash", "out_of_sample", "buy_and_hold", "folds"} <= set(metrics)
    assert metrics["ema_cross"]["n_trades"] > 0
    overfitting = metrics["overfitting"]
    assert overfitting["n_trials"] == 4
    assert overfitting["pbo_splits"] == 8
    assert overfitting["candidates"] == ["strategy", "buy_and_hold", "ema_cross"]
    for key in ("psr", "dsr", "pbo"):
        assert 0.0 <= overfitting[key] <= 1.0, key
    assert overfitting["dsr"] <= overfitting["psr"]
    for fold in metrics["folds"]:
        assert 0.0 <= fold["metrics"]["psr"] <= 1.0
        assert {"buy_and_hold_metrics", "ema_cross_metrics"} <= set(fold)


def test_equity_has_a_column_per_baseline(runs):
    equity = pd.read_parquet(runs[0].run_dir / "equity.parquet")

    assert list(equity.columns) == ["ts", "strategy", "buy_and_hold", "ema_cross"]
    assert equity[["buy_and_hold", "ema_cross"]].notna().all().all()
    assert equity["ema_cross"].iloc[0] == equity["strategy"].iloc[0]


def test_training_rows_are_embargoed_before_each_test_window(runs):
    for fold in runs[0].folds:
        assert pd.Timestamp(fold["train_label_end_before"]) < pd.Timestamp(fold["test_start"])


def test_manifest_fingerprints_the_data_the_run_read(runs, catalog, config):
    manifest = json.loads((runs[0].run_dir / "manifest.json").read_text())

    assert manifest["config_hash"] == config.config_hash()
    assert manifest["seed"] == config.seed
    paths = [entry["path"] for entry in manifest["data"]]
    assert any(p.startswith("data/bar/AAPL.XNAS-1-DAY-LAST-EXTERNAL/") for p in paths)
    assert any(p.startswith("data/bar/MSFT.XNAS-1-DAY-LAST-EXTERNAL/") for p in paths)
    assert all((catalog / p).is_file() for p in paths)
    second = json.loads((runs[1].run_dir / "manifest.json").read_text())
    assert second["data"] == manifest["data"]
