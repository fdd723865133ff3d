"""The walk-forward trading run gets the same alternative-data feeds and actors as the feature replay."""

from nautilus_ai.backtest import node_config
from nautilus_ai.config import parse_experiment


def _cfg(**features):
    return parse_experiment(
        {"name": "alt", "data": {"instruments": ["AAPL.XNAS", "MSFT.XNAS"]}, "features": features}
    )


def _paths(run):
    return (
        [a.actor_path for a in run.engine.actors],
        [(d.data_cls, d.client_id) for d in run.data if d.client_id],
    )


def test_trading_run_replays_the_same_alt_data_as_the_feature_replay():
    cfg = _cfg(
        sentiment_half_life_s=43200,
        onchain_metrics=["btc_n_transactions"],
        onchain_instrument="BTCUSD.ONCHAIN",
    )
    replay = node_config.feature_replay_run(cfg, "/cat", "/out.parquet")
    trading = node_config.ml_run(
        cfg,
        "/cat",
        registry_path="/reg",
        model_version="v",
        start="2015-01-01",
        end="2015-06-30",
        trade_start="2015-02-01",
        equity_path="/eq.parquet",
    )

    replay_actors, replay_feeds = _paths(replay)
    trading_actors, trading_feeds = _paths(trading)

    assert replay_feeds == trading_feeds
    assert ("nautilus_ai.catalog.types:NewsItem", "NEWS") in trading_feeds
    assert ("nautilus_ai.catalog.types:OnChainMetric", "ONCHAIN") in trading_feeds
    sentiment = "nautilus_ai.learning.sentiment_actor:SentimentActor"
    assert sentiment in replay_actors and sentiment in trading_actors


def test_without_alt_features_no_alt_data_is_fed():
    trading = node_config.ml_run(
        _cfg(),
        "/cat",
        registry_path="/reg",
        model_version="v",
        start="2015-01-01",
        end="2015-06-30",
        trade_start="2015-02-01",
        equity_path="/eq.parquet",
    )

    actors, feeds = _paths(trading)
    assert feeds == []
    assert not any("SentimentActor" in a for a in actors)
