"""`features build --batch` with event features equals the replay build (StockNet sentiment, BTC on-chain).

Each config is built twice from one catalog of real data, with the BacktestNode replay (NewsItems
scored by the SentimentActor, OnChainMetrics fed to the FeatureActor) and with ``--batch`` (the same
items read from the catalog and computed at once); both files have the same rows, columns and
values (rel 1e-9).
"""

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nautilus_ai.adapters.onchain import onchain_to_catalog
from nautilus_ai.adapters.tweets import read_stocknet_tweets, tweets_to_catalog
from nautilus_ai.catalog.ingest import IngestOptions, ingest_paths
from nautilus_ai.catalog.instruments import load_instruments_file
from nautilus_ai.cli import app
from nautilus_ai.config import load_experiment
from nautilus_ai.test_kit import bundled_data_dir

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
DATA = bundled_data_dir()
RTOL = 1e-9
ATOL = 1e-12
META = ["ts_event", "ts_init", "instrument_id", "spec_hash"]
runner = CliRunner()


def ingest(catalog: Path, files: list[Path]) -> None:
    specs = load_instruments_file(DATA / "instruments.toml")
    ingest_paths(files, catalog, specs, IngestOptions())


def build_both(config: Path, catalog: Path, tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the replay build and the batch build of ``config`` over ``catalog``."""
    frames = {}
    for mode, extra in (("replay", []), ("batch", ["--batch"])):
        out = tmp_path / f"{mode}.parquet"
        args = ["features", "build", "--config", str(config), "--catalog", str(catalog), "--out", str(out)]
        result = runner.invoke(app, [*args, *extra])
        assert result.exit_code == 0, result.output
        frames[mode] = pd.read_parquet(out)
    return frames["replay"], frames["batch"]


def assert_same_build(replay: pd.DataFrame, batch: pd.DataFrame) -> None:
    assert list(batch.columns) == list(replay.columns)
    pd.testing.assert_frame_equal(batch[META], replay[META], check_dtype=False)
    names = list(replay.columns[len(META) :])
    for name in names:
        np.testing.assert_allclose(
            batch[name].to_numpy(),
            replay[name].to_numpy(),
            rtol=RTOL,
            atol=ATOL,
            equal_nan=True,
            err_msg=name,
        )


def test_batch_build_equals_replay_build_for_stocknet_sentiment(tmp_path):
    catalog = tmp_path / "catalog"
    ingest(catalog, [DATA / "bars_daily" / "stocknet" / "AAPL.csv"])
    items = read_stocknet_tweets(
        DATA / "news_tweets" / "stocknet_tweets_10_tickers.tar.gz",
        ["AAPL"],
        {"AAPL": "XNAS"},
        receive_latency=timedelta(seconds=60),
    )
    assert tweets_to_catalog(items, catalog) > 0
    cfg = load_experiment(ROOT / "configs" / "features_stocknet_sentiment.toml")
    # the config's first instrument (one keeps the replay short; the merge of several is tested on bars)
    cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"instruments": ["AAPL.XNAS"]})})
    config = tmp_path / "features.toml"
    config.write_text(cfg.to_toml())

    replay, batch = build_both(config, catalog, tmp_path)

    assert_same_build(replay, batch)
    assert set(batch["instrument_id"]) == {"AAPL.XNAS"}
    assert len(batch) > 400
    assert (batch["sentiment_count"] > 0).mean() > 0.8
    assert batch["sentiment_dispersion"].notna().mean() > 0.8

    # With scores stored in the catalog (another lexicon weighting), both builds switch to them.
    from nautilus_ai.adapters.sentiment import SentimentConfig
    from nautilus_ai.adapters.sentiment.catalog_scoring import score_catalog_news

    score_catalog_news(catalog, SentimentConfig.model_validate({"kind": "lexicon", "finance_weight": 0.9}))
    stored_replay, stored_batch = build_both(config, catalog, tmp_path)

    assert_same_build(stored_replay, stored_batch)
    assert not np.allclose(stored_batch["sentiment_mean"], batch["sentiment_mean"], equal_nan=True)


def test_batch_build_equals_replay_build_for_btc_onchain(tmp_path):
    catalog = tmp_path / "catalog"
    ingest(catalog, [DATA / "bars_daily" / "btc_usd_daily_blockchaininfo.csv"])
    config = ROOT / "configs" / "features_btc_onchain.toml"
    cfg = load_experiment(config)
    imported = onchain_to_catalog(
        DATA / "onchain" / "bitcoin_dataset.csv", catalog, "BTCUSD.ONCHAIN", cfg.features.onchain_metrics
    )
    assert imported.items_written > 0

    replay, batch = build_both(config, catalog, tmp_path)

    assert_same_build(replay, batch)
    onchain = [c for c in batch.columns if c.startswith("onchain_")]
    assert len(onchain) == 2 * len(cfg.features.onchain_metrics)
    assert len(batch) > 700
    assert np.isfinite(batch[onchain].iloc[cfg.features.onchain_window :].to_numpy()).all()


def test_batch_build_refuses_trade_features_the_catalog_does_not_hold(tmp_path):
    catalog = tmp_path / "catalog"
    ingest(catalog, [DATA / "bars_daily" / "stocknet" / "AAPL.csv"])
    config = tmp_path / "features.toml"
    config.write_text(
        'name = "ticks"\n\n[data]\ninstruments = ["AAPL.XNAS"]\nbar_spec = "1-DAY-LAST"\n\n'
        "[features]\norder_flow_window = 50\n"
    )
    out = tmp_path / "f.parquet"

    result = runner.invoke(
        app,
        [
            "features",
            "build",
            "--config",
            str(config),
            "--catalog",
            str(catalog),
            "--out",
            str(out),
            "--batch",
        ],
    )

    assert result.exit_code != 0
    assert "TradeTick" in result.output and "order_flow_imbalance" in result.output
    assert not out.exists()
