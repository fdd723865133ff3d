"""`features build`: per-instrument parallel replays with sentiment and on-chain data from the catalog."""

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.backtest.node import BacktestNode
from typer.testing import CliRunner

from nautilus_ai.adapters.onchain import onchain_to_catalog
from nautilus_ai.adapters.tweets import read_stocknet_tweets, tweets_to_catalog
from nautilus_ai.backtest.node_config import feature_replay_run
from nautilus_ai.catalog.feature_store import feature_frame
from nautilus_ai.catalog.ingest import IngestOptions, ingest_paths
from nautilus_ai.catalog.instruments import load_instruments_file
from nautilus_ai.cli import app
from nautilus_ai.config import load_experiment
from nautilus_ai.learning.sentiment_actor import SentimentActor
from nautilus_ai.test_kit import bundled_data_dir

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
DATA = bundled_data_dir()
runner = CliRunner()


def _ingest(catalog: Path, files: list[Path]) -> None:
    specs = load_instruments_file(DATA / "instruments.toml")
    report = ingest_paths(files, catalog, specs, IngestOptions())
    assert report.summary_text()


def test_sentiment_build_parallel_equals_single_replay_and_catalog(tmp_path):
    catalog = tmp_path / "catalog"
    _ingest(catalog, [DATA / "bars_daily" / "stocknet" / f"{t}.csv" for t in ("AAPL", "MSFT")])
    items = read_stocknet_tweets(
        DATA / "news_tweets" / "stocknet_tweets_10_tickers.tar.gz",
        ["AAPL", "MSFT"],
        {"AAPL": "XNAS", "MSFT": "XNAS"},
        receive_latency=timedelta(seconds=60),
    )
    assert tweets_to_catalog(items, catalog) > 0
    cfg = load_experiment(ROOT / "configs" / "features_stocknet_sentiment.toml")
    cfg = cfg.model_copy(
        update={"data": cfg.data.model_copy(update={"instruments": ["AAPL.XNAS", "MSFT.XNAS"]})}
    )
    config = tmp_path / "features.toml"
    config.write_text(cfg.to_toml())
    out = tmp_path / "features.parquet"

    args = ["features", "build", "--config", str(config), "--catalog", str(catalog), "--out", str(out)]
    result = runner.invoke(app, [*args, "--to-catalog", "--workers", "2"])
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out)
    assert list(frame.columns[:4]) == ["ts_event", "ts_init", "instrument_id", "spec_hash"]
    assert set(frame["instrument_id"]) == {"AAPL.XNAS", "MSFT.XNAS"}
    ts = pd.to_datetime(frame["ts_init"], unit="ns", utc=True)
    assert ts.min() >= pd.Timestamp("2014-01-01", tz="UTC") and ts.max() <= pd.Timestamp(
        "2016-01-01", tz="UTC"
    )
    for iid, rows in frame.groupby("instrument_id"):
        assert len(rows) > 400
        assert (rows["sentiment_count"] > 0).mean() > 0.8, iid

    # the catalog holds exactly the Parquet output, and building again writes nothing new
    stored = feature_frame(catalog, ["AAPL.XNAS", "MSFT.XNAS"], None, None, None)
    expected = frame.set_index(
        [pd.to_datetime(frame["ts_init"], unit="ns", utc=True).rename("ts_init"), frame["instrument_id"]]
    ).drop(columns=["ts_event", "ts_init", "instrument_id", "spec_hash"])
    expected = expected.sort_index()
    pd.testing.assert_frame_equal(stored, expected, check_names=False, check_index_type=False)
    again = runner.invoke(app, [*args, "--to-catalog", "--workers", "1"])
    assert again.exit_code == 0, again.output
    assert "0 new FeatureVectors" in again.output
    assert len(feature_frame(catalog, ["AAPL.XNAS", "MSFT.XNAS"], None, None, None)) == len(frame)

    # per-instrument parallel replays equal one replay of both instruments in one node,
    # in which the NewsItems are counted as they arrive through the SentimentActor
    single_out = tmp_path / "single.parquet"
    run = feature_replay_run(cfg, str(catalog.resolve()), str(single_out))
    node = BacktestNode(configs=[run])
    try:
        node.run()
        engine = node.get_engine(run.id)
        assert engine is not None
        (actor,) = [a for a in engine.trader.actors() if isinstance(a, SentimentActor)]
        assert actor.scores_published > 1000
    finally:
        node.dispose()
    single = pd.read_parquet(single_out).sort_values(["ts_init", "instrument_id"], kind="stable")
    pd.testing.assert_frame_equal(frame, single.reset_index(drop=True))


def test_btc_onchain_build_has_finite_onchain_features(tmp_path):
    catalog = tmp_path / "catalog"
    _ingest(catalog, [DATA / "bars_daily" / "btc_usd_daily_blockchaininfo.csv"])
    cfg = load_experiment(ROOT / "configs" / "features_btc_onchain.toml")
    imported = onchain_to_catalog(
        DATA / "onchain" / "bitcoin_dataset.csv", catalog, "BTCUSD.ONCHAIN", cfg.features.onchain_metrics
    )
    assert imported.items_written > 0
    out = tmp_path / "btc.parquet"
    result = runner.invoke(
        app,
        [
            "features", "build", "--config", str(ROOT / "configs" / "features_btc_onchain.toml"),
            "--catalog", str(catalog), "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out)
    onchain = [c for c in frame.columns if c.startswith("onchain_")]
    assert len(onchain) == 2 * len(cfg.features.onchain_metrics)
    assert len(frame) > 700
    after_warmup = frame.iloc[cfg.features.onchain_window :]
    assert np.isfinite(after_warmup[onchain].to_numpy()).all()
    # bars are stamped at the end of their UTC day
    ts = pd.to_datetime(frame["ts_init"], unit="ns", utc=True)
    assert (ts == ts.dt.normalize()).all()
