"""Alternative-data features through the FeatureActor: tweet sentiment and on-chain metrics.

Sentiment runs on the real AAPL daily bars and the real StockNet AAPL tweets (2014-2015) scored by
the lexicon scorer; on-chain features on the bundled blockchain.info BTC dataset, with daily bars built
from its own ``btc_market_price`` column. Every published value equals the indicator's batch form fed
exactly the objects with ``ts_init <= bar.ts_init - 1`` ns (streaming equals batch, no look-ahead; an
object stamped exactly at a bar's close counts from the next bar, whatever the delivery order of ties).
"""

import math
import tomllib
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pytest
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import Bar, BarType, CustomData, DataType
from nautilus_trader.model.identifiers import ClientId, InstrumentId
from nautilus_trader.test_kit.providers import TestInstrumentProvider

from nautilus_ai import test_kit
from nautilus_ai.adapters.onchain import read_onchain_csv
from nautilus_ai.adapters.sentiment import SentimentConfig, make_scorer, score_news_items
from nautilus_ai.adapters.tweets import read_stocknet_tweets
from nautilus_ai.catalog.types import FeatureVector, OnChainMetric, topic_data_type
from nautilus_ai.config import parse_experiment
from nautilus_ai.indicators.feature_actor import FeatureActor, FeatureActorConfig
from nautilus_ai.indicators.feature_spec import FeatureSpec
from nautilus_ai.indicators.onchain import onchain_features_batch
from nautilus_ai.indicators.sentiment import SentimentIndicator, sentiment_features_batch

AAPL = InstrumentId.from_str("AAPL.XNAS")
SENTIMENT_SPEC = FeatureSpec(sentiment_half_life_s=43200.0, sentiment_window_s=3 * 86400.0)
SENTIMENT_COLUMNS = ["sentiment_mean", "sentiment_count", "sentiment_dispersion"]
ALT_CLIENT = ClientId("ALT_DATA")
ONCHAIN_METRICS = ("btc_n_unique_addresses", "btc_hash_rate")
ONCHAIN_SPEC = FeatureSpec(
    onchain_metrics=ONCHAIN_METRICS, onchain_instrument="BTCUSD.ONCHAIN", onchain_diff=7, onchain_window=30
)


class RecorderConfig(ActorConfig, frozen=True):
    instrument_id: InstrumentId


class Recorder(Actor):
    """Record the FeatureVectors of one instrument."""

    def __init__(self, config: RecorderConfig) -> None:
        super().__init__(config)
        self.rows: list[dict[str, Any]] = []

    def on_start(self) -> None:
        iid = self.config.instrument_id
        self.subscribe_data(topic_data_type(FeatureVector, iid), instrument_id=iid)

    def on_data(self, data: Data) -> None:
        if isinstance(data, FeatureVector):
            self.rows.append({"ts_init": data.ts_init, **data.as_dict()})


class OrderCheckingFeatureActor(FeatureActor):
    """A FeatureActor that records the ts_init of every object and bar it is handed."""

    def __init__(self, config: FeatureActorConfig) -> None:
        super().__init__(config)
        self.delivered: list[tuple[int, str]] = []

    def on_data(self, data: Data) -> None:
        self.delivered.append((data.ts_init, type(data).__name__))
        super().on_data(data)

    def on_bar(self, bar: Bar) -> None:
        self.delivered.append((bar.ts_init, "Bar"))
        super().on_bar(bar)


def run_engine(instrument, bar_type, bars, alt_data, spec, extra_actors=()) -> tuple[pd.DataFrame, list]:
    engine = test_kit.make_backtest_engine([instrument])
    try:
        engine.add_data(bars)
        if alt_data:
            engine.add_data(alt_data, client_id=ALT_CLIENT)
        for actor in extra_actors:
            engine.add_actor(actor)
        feature_actor = OrderCheckingFeatureActor(
            FeatureActorConfig(instrument_id=instrument.id, bar_type=bar_type, spec=spec)
        )
        recorder = Recorder(RecorderConfig(instrument_id=instrument.id))
        engine.add_actor(feature_actor)
        engine.add_actor(recorder)
        engine.run()
        frame = pd.DataFrame(recorder.rows).set_index("ts_init")
        return frame, feature_actor.delivered
    finally:
        engine.dispose()


def wrap(objects) -> list[CustomData]:
    return [CustomData(DataType(type(o)), o) for o in objects]


def moved(obj, ts: int):
    return type(obj).from_dict({**obj.to_dict(), "ts_event": ts, "ts_init": ts})


@pytest.fixture(scope="module")
def aapl():
    bar_type, bars = test_kit.stocknet_bars("AAPL")
    start, end = pd.Timestamp("2013-09-01", tz="UTC").value, pd.Timestamp("2016-01-31", tz="UTC").value
    bars = [b for b in bars if start <= b.ts_init <= end]
    items = list(
        read_stocknet_tweets(
            test_kit.bundled_data_dir() / "news_tweets" / "stocknet_tweets_10_tickers.tar.gz",
            ["AAPL"],
            {"AAPL": "XNAS"},
        )
    )
    items = [i for i in items if start <= i.ts_init <= end]
    scores = score_news_items(make_scorer(SentimentConfig.model_validate({"kind": "lexicon"})), items)
    instrument = test_kit.stocknet_equity("AAPL")
    frame, delivered = run_engine(instrument, bar_type, bars, wrap(scores), SENTIMENT_SPEC)
    return instrument, bar_type, bars, items, scores, frame, delivered


def test_alt_data_feature_names_and_default_fingerprint():
    assert SENTIMENT_SPEC.feature_names()[-3:] == SENTIMENT_COLUMNS
    assert ONCHAIN_SPEC.feature_names()[-4:] == [
        "onchain_btc_n_unique_addresses_logdiff",
        "onchain_btc_n_unique_addresses_z",
        "onchain_btc_hash_rate_logdiff",
        "onchain_btc_hash_rate_z",
    ]
    off = FeatureSpec(sentiment_window_s=60.0, onchain_diff=3, onchain_window=5, onchain_instrument="X.Y")
    assert off.fingerprint() == FeatureSpec().fingerprint()
    assert (
        SENTIMENT_SPEC.fingerprint()
        != msgspec.structs.replace(SENTIMENT_SPEC, sentiment_window_s=60.0).fingerprint()
    )


def test_sentiment_streaming_equals_batch_on_real_aapl_tweets(aapl):
    _, _, _, _, scores, frame, delivered = aapl
    assert len(scores) > 10_000
    assert len(frame) > 400
    # The engine delivers scores and bars in ts_init order (what the point-in-time contract relies on).
    stamps = [ts for ts, _ in delivered]
    assert stamps == sorted(stamps)
    assert sum(kind == "SentimentScore" for _, kind in delivered) == len(scores)

    ts = np.array([s.ts_init for s in scores], dtype=np.int64)
    values = np.array([s.score for s in scores])
    decisions = frame.index.to_numpy(dtype=np.int64) - 1  # as of just before each bar's close
    batch = sentiment_features_batch(ts, values, decisions, round(43200 * 1e9), round(3 * 86400 * 1e9))
    np.testing.assert_allclose(frame[SENTIMENT_COLUMNS].to_numpy(), batch, rtol=1e-9, equal_nan=True)

    # The streaming indicator fed offline with exactly the scores known at each bar agrees too.
    indicator = SentimentIndicator(round(43200 * 1e9), round(3 * 86400 * 1e9))
    position = 0
    offline = []
    for t in decisions:
        while position < len(scores) and scores[position].ts_init <= t:
            indicator.update(scores[position].score, scores[position].ts_init)
            position += 1
        offline.append(list(indicator.value_at(int(t))))
    np.testing.assert_allclose(frame[SENTIMENT_COLUMNS].to_numpy(), offline, rtol=1e-12, equal_nan=True)
    assert frame["sentiment_count"].gt(0).sum() > 400
    assert frame["sentiment_mean"].notna().sum() > 400
    # Before the first tweet: count 0, mean and dispersion NaN.
    first = frame.loc[frame.index < ts.min()]
    assert len(first) > 0
    assert (first["sentiment_count"] == 0).all() and first["sentiment_mean"].isna().all()


def test_a_tweet_one_second_after_the_close_only_changes_the_next_bar(aapl):
    instrument, bar_type, bars, _, scores, frame, _ = aapl
    k = len(frame) // 2
    close_k, close_next = int(frame.index[k]), int(frame.index[k + 1])
    tweet = next(s for s in scores if s.score != 0.0)
    others = [s for s in scores if s is not tweet]

    def rerun(extra):
        data = sorted([*others, *extra], key=lambda s: s.ts_init)
        return run_engine(instrument, bar_type, bars, wrap(data), SENTIMENT_SPEC)[0]

    without = rerun([])
    late = rerun([moved(tweet, close_k + 1_000_000_000)])
    on_time = rerun([moved(tweet, close_k - 1_000_000_000)])
    tie = rerun([moved(tweet, close_k)])

    pd.testing.assert_series_equal(late.iloc[k], without.iloc[k])
    assert late.iloc[k + 1]["sentiment_count"] == without.iloc[k + 1]["sentiment_count"] + 1
    assert close_next > close_k + 1_000_000_000
    assert not on_time.iloc[k].equals(without.iloc[k])
    pd.testing.assert_frame_equal(late.iloc[:k], without.iloc[:k])
    # A tweet stamped exactly at the close counts from the next bar (ties are order independent).
    pd.testing.assert_frame_equal(tie.iloc[: k + 1], without.iloc[: k + 1], check_exact=True)
    assert tie.iloc[k + 1]["sentiment_count"] == late.iloc[k + 1]["sentiment_count"]


def test_sentiment_actor_chain_gives_the_same_vectors(aapl):
    from nautilus_ai.learning.sentiment_actor import SentimentActor, SentimentActorConfig

    instrument, bar_type, bars, items, _, frame, _ = aapl
    sentiment_actor = SentimentActor(SentimentActorConfig(instrument_ids=(str(AAPL),)))
    chained, delivered = run_engine(
        instrument, bar_type, bars, wrap(items), SENTIMENT_SPEC, extra_actors=[sentiment_actor]
    )

    assert sentiment_actor.scores_published == len(items)
    assert sum(kind == "SentimentScore" for _, kind in delivered) == len(items)
    pd.testing.assert_frame_equal(chained, frame)


def test_sentiment_actor_rejects_a_non_lexicon_scorer():
    from nautilus_ai.learning.sentiment_actor import SentimentActor, SentimentActorConfig

    with pytest.raises(ValueError, match="scorer_kind"):
        SentimentActor(SentimentActorConfig(instrument_ids=(str(AAPL),), scorer_kind="llm"))


def test_onchain_streaming_equals_batch_as_of_each_bar():
    csv = test_kit.bundled_data_dir() / "onchain" / "bitcoin_dataset.csv"
    prices = pd.read_csv(csv, usecols=["Date", "btc_market_price"])
    prices.index = pd.DatetimeIndex(pd.to_datetime(prices["Date"], format="%m/%d/%Y %H:%M"), tz="UTC")
    # Day D's price is known at its end: the bar closes at D+1 00:00 UTC.
    prices.index = prices.index + pd.Timedelta(days=1)
    prices = prices.loc["2016-01-01":]
    close = prices["btc_market_price"].astype("float64")
    ohlcv = pd.DataFrame({"open": close, "high": close, "low": close, "close": close, "volume": 1.0})
    instrument = TestInstrumentProvider.btcusdt_binance()
    bar_type = BarType.from_str(f"{instrument.id}-1-DAY-LAST-EXTERNAL")
    bars = test_kit.wrangle_bars(bar_type, instrument, ohlcv)
    start = bars[0].ts_init - 120 * 86_400_000_000_000
    metrics = [
        m
        for m in read_onchain_csv(csv, "BTCUSD.ONCHAIN", list(ONCHAIN_METRICS))
        if start <= m.ts_init <= bars[-1].ts_init
    ]
    # Metrics of another instrument id are ignored.
    decoys = [
        OnChainMetric(
            instrument_id=instrument.id, metric=m.metric, value=1.0, ts_event=m.ts_event, ts_init=m.ts_init
        )
        for m in metrics[::5]
    ]
    alt = sorted([*metrics, *decoys], key=lambda m: m.ts_init)

    frame, delivered = run_engine(instrument, bar_type, bars, wrap(alt), ONCHAIN_SPEC)

    stamps = [ts for ts, _ in delivered]
    assert stamps == sorted(stamps)
    assert len(frame) > 700
    decisions = frame.index.to_numpy(dtype=np.int64) - 1  # metrics stamped at a bar count from the next
    for metric in ONCHAIN_METRICS:
        series = [m for m in metrics if m.metric == metric]
        ts = np.array([m.ts_init for m in series], dtype=np.int64)
        log_diff, z = onchain_features_batch(np.array([m.value for m in series]), 7, 30)
        known = np.searchsorted(ts, decisions, side="right") - 1  # the last metric with ts_init <= bar
        assert (known >= 29).all()
        np.testing.assert_allclose(
            frame[f"onchain_{metric}_logdiff"].to_numpy(), log_diff[known], rtol=1e-9, equal_nan=True
        )
        np.testing.assert_allclose(
            frame[f"onchain_{metric}_z"].to_numpy(), z[known], rtol=1e-9, equal_nan=True
        )
        assert frame[f"onchain_{metric}_z"].notna().all()
        assert not math.isnan(frame[f"onchain_{metric}_logdiff"].iloc[-1])


def test_features_toml_round_trips_the_alt_data_fields():
    text = """
name = "t"
[data]
instruments = ["AAPL.XNAS"]
[features]
sentiment_half_life_s = 43200
onchain_metrics = ["btc_hash_rate"]
onchain_instrument = "BTCUSD.ONCHAIN"
onchain_window = 10
"""
    cfg = parse_experiment(tomllib.loads(text))
    spec = cfg.features.to_spec()

    assert spec.sentiment_half_life_s == 43200.0
    assert spec.sentiment_window_s == 86400.0
    assert spec.onchain_metrics == ("btc_hash_rate",)
    assert spec.onchain_instrument == "BTCUSD.ONCHAIN"
    assert spec.onchain_window == 10
    assert parse_experiment(tomllib.loads(cfg.to_toml())).features.to_spec() == spec
    assert parse_experiment({"name": "t", "data": {"instruments": ["AAPL.XNAS"]}}).features.to_spec() == (
        FeatureSpec()
    )
