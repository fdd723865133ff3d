"""Walk-forward runs whose models use alternative data end to end: tweet sentiment, BTC on-chain."""

import json
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from nautilus_ai.adapters.onchain import onchain_to_catalog
from nautilus_ai.adapters.sentiment import SentimentConfig
from nautilus_ai.adapters.sentiment.catalog_scoring import score_catalog_news
from nautilus_ai.adapters.tweets import read_stocknet_tweets, tweets_to_catalog
from nautilus_ai.backtest.node_config import stored_sentiment_label
from nautilus_ai.backtest.walkforward import run_walkforward
from nautilus_ai.catalog.ingest import IngestOptions, ingest_paths
from nautilus_ai.catalog.instruments import load_instruments_file
from nautilus_ai.test_kit import bundled_data_dir, demo_catalog, small_experiment

pytestmark = pytest.mark.slow

DATA = bundled_data_dir()
TICKERS = ("AAPL", "MSFT", "AMZN")
SENTIMENT = ["sentiment_mean", "sentiment_count", "sentiment_dispersion"]
ONCHAIN_METRICS = ["btc_n_transactions", "btc_hash_rate", "btc_n_unique_addresses"]
WALKFORWARD = {"train": "365D", "test": "91D", "workers": 2}


def _assert_completed_with_metrics(result, n_min_folds: int) -> None:
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert len(result.folds) >= n_min_folds
    for section in ("out_of_sample", "buy_and_hold"):
        assert np.isfinite(metrics[section]["sharpe"]), section
        assert np.isfinite(metrics[section]["max_drawdown"]), section
    assert metrics["out_of_sample"]["n_trades"] > 0  # the models' signals reached the strategy
    assert all(fold["model_metrics"]["n_train"] >= 50 for fold in result.folds)
    equity = pd.read_parquet(result.run_dir / "equity.parquet")
    assert len(equity) > 100 and np.isfinite(equity["strategy"]).all()


@pytest.fixture(scope="module")
def sentiment_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("wf-sentiment")
    catalog = demo_catalog(root, symbols=TICKERS)
    items = read_stocknet_tweets(
        DATA / "news_tweets" / "stocknet_tweets_10_tickers.tar.gz",
        TICKERS,
        dict.fromkeys(TICKERS, "XNAS"),
        receive_latency=timedelta(seconds=60),
    )
    assert tweets_to_catalog(items, catalog) > 10_000
    report = score_catalog_news(catalog, SentimentConfig())  # stored scores, replayed by every run
    assert report.items_scored > 10_000
    cfg = small_experiment(
        catalog,
        [f"{t}.XNAS" for t in TICKERS],
        name="wf-sentiment",
        data={"start": "2014-01-01", "end": "2015-12-31"},
        features={"sentiment_half_life_s": 43_200, "sentiment_window_s": 3 * 86_400},
        walkforward=WALKFORWARD,
    )
    assert stored_sentiment_label(cfg, str(catalog)) == report.label
    return run_walkforward(cfg, root / "out", run_id="sentiment"), cfg


def test_sentiment_walkforward_completes_with_metrics(sentiment_run):
    result, _ = sentiment_run
    _assert_completed_with_metrics(result, n_min_folds=3)


def test_sentiment_features_are_finite_wherever_defined(sentiment_run):
    result, cfg = sentiment_run
    features = pd.read_parquet(result.run_dir / "features.parquet")
    assert set(features["instrument_id"]) == set(cfg.data.instruments)
    assert set(SENTIMENT) <= set(features.columns)
    ts = pd.to_datetime(features["ts_init"], unit="ns", utc=True)
    assert ts.min() >= pd.Timestamp("2014-01-01", tz="UTC")
    assert ts.max() <= pd.Timestamp("2016-01-01", tz="UTC")
    for iid, rows in features.groupby("instrument_id"):
        # The decayed mean and the count are finite from the first tweet on. The dispersion is a sample
        # standard deviation: finite exactly where the 3-day window holds two scores or more, which is
        # not the case in the corpus's few tweet-less stretches (late Sep and mid Nov 2014).
        assert np.isfinite(rows[["sentiment_mean", "sentiment_count"]].to_numpy()).all(), iid
        enough = rows["sentiment_count"] >= 2
        assert enough.mean() > 0.9, iid
        assert np.isfinite(rows.loc[enough, "sentiment_dispersion"]).all(), iid
        assert rows.loc[~enough, "sentiment_dispersion"].isna().all(), iid
        assert rows["sentiment_mean"].std() > 0.01, iid


@pytest.fixture(scope="module")
def onchain_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("wf-onchain")
    catalog = root / "catalog"
    specs = load_instruments_file(DATA / "instruments.toml")
    ingest_paths([DATA / "bars_daily" / "btc_usd_daily_blockchaininfo.csv"], catalog, specs, IngestOptions())
    imported = onchain_to_catalog(
        DATA / "onchain" / "bitcoin_dataset.csv", catalog, "BTCUSD.ONCHAIN", ONCHAIN_METRICS
    )
    assert imported.items_written > 0
    cfg = small_experiment(
        catalog,
        ["BTCUSD.BLOCKCHAININFO"],
        name="wf-onchain",
        data={"start": "2016-01-01", "end": "2018-01-31"},
        features={"onchain_metrics": ONCHAIN_METRICS, "onchain_instrument": "BTCUSD.ONCHAIN"},
        strategy={"periods_per_year": 365},
        walkforward=WALKFORWARD,
    )
    return run_walkforward(cfg, root / "out", run_id="onchain"), cfg


def test_onchain_walkforward_completes_with_metrics(onchain_run):
    result, _ = onchain_run
    _assert_completed_with_metrics(result, n_min_folds=3)


def test_onchain_features_are_finite_after_warm_up(onchain_run):
    result, cfg = onchain_run
    features = pd.read_parquet(result.run_dir / "features.parquet")
    onchain = [c for c in features.columns if c.startswith("onchain_")]
    assert len(onchain) == 2 * len(ONCHAIN_METRICS)
    after_warm_up = features.iloc[cfg.features.onchain_window :]
    assert len(after_warm_up) > 600
    assert np.isfinite(after_warm_up[onchain].to_numpy()).all()
    # the metrics move: a z-score that never changes would mean the feed never arrived
    assert (after_warm_up[onchain].std() > 0).all()
