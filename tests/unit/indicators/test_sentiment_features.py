"""Sentiment features: streaming equals batch, no peeking ahead, as-of alignment to the close."""

import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nautilus_ai.adapters.sentiment import score_news_items
from nautilus_ai.adapters.sentiment.lexicon import LexiconSentimentScorer
from nautilus_ai.adapters.tweets import read_stocknet_tweets
from nautilus_ai.indicators.sentiment import SentimentIndicator, sentiment_features_batch
from nautilus_ai.test_kit import STOCKNET_TIMEZONE, bundled_data_dir

HOUR = 3_600_000_000_000
HALF_LIFE = 6 * HOUR
WINDOW = 24 * HOUR
SEED = 20_240_607


@pytest.fixture(scope="module")
def msft_scores() -> tuple[np.ndarray, np.ndarray]:
    archive = bundled_data_dir() / "news_tweets" / "stocknet_tweets_10_tickers.tar.gz"
    items = list(read_stocknet_tweets(archive, ["MSFT"], {"MSFT": "XNAS"}))[:1500]
    scores = score_news_items(LexiconSentimentScorer(), items)
    return np.array([s.ts_init for s in scores]), np.array([s.score for s in scores])


def daily_closes(ts: np.ndarray) -> np.ndarray:
    start, end = pd.Timestamp(ts[0], tz="UTC"), pd.Timestamp(ts[-1], tz="UTC")
    days = pd.bdate_range(
        start.tz_convert(STOCKNET_TIMEZONE).date(), end.tz_convert(STOCKNET_TIMEZONE).date()
    )
    closes = [pd.Timestamp(f"{d.date()} 16:00", tz=STOCKNET_TIMEZONE).value for d in days]
    return np.array(closes, dtype=np.int64)


def stream(ts: np.ndarray, scores: np.ndarray, decisions: np.ndarray) -> np.ndarray:
    """Feed every score first (ahead of the decisions): the indicator must still stay point-in-time."""
    indicator = SentimentIndicator(HALF_LIFE, WINDOW)
    for t, s in zip(ts.tolist(), scores.tolist(), strict=True):
        indicator.update(s, t)
    return np.array([list(indicator.value_at(int(d))) for d in decisions], dtype=np.float64)


def stream_interleaved(ts: np.ndarray, scores: np.ndarray, decisions: np.ndarray) -> np.ndarray:
    """Feed scores and decisions merged in time order, as an engine would."""
    indicator = SentimentIndicator(HALF_LIFE, WINDOW)
    out, i = [], 0
    for d in decisions.tolist():
        while i < len(ts) and ts[i] <= d:
            indicator.update(float(scores[i]), int(ts[i]))
            i += 1
        out.append(list(indicator.value_at(d)))
    return np.array(out, dtype=np.float64)


def test_streaming_equals_batch_on_real_tweets(msft_scores) -> None:
    ts, scores = msft_scores
    decisions = daily_closes(ts)

    batch = sentiment_features_batch(ts, scores, decisions, HALF_LIFE, WINDOW)

    for streamed in (stream(ts, scores, decisions), stream_interleaved(ts, scores, decisions)):
        np.testing.assert_allclose(streamed, batch, rtol=1e-9, atol=1e-12)
    assert np.nanmax(batch[:, 1]) > 5 and np.isfinite(batch[:, 2]).sum() > 10


def test_truncating_the_future_does_not_change_earlier_values(msft_scores) -> None:
    ts, scores = msft_scores
    decisions = daily_closes(ts)
    full = stream(ts, scores, decisions)
    rng = np.random.default_rng(SEED)

    for cut in sorted(rng.integers(10, len(ts) - 10, size=4)):
        cut_ts = ts[cut]
        past = decisions[decisions < cut_ts]
        truncated = stream(ts[:cut], scores[:cut], past)
        np.testing.assert_array_equal(truncated, full[: len(past)])


def test_tweet_published_after_the_close_counts_for_the_next_bar(tmp_path: Path) -> None:
    day = tmp_path / "tweet" / "preprocessed" / "AAPL" / "2014-01-02"
    day.parent.mkdir(parents=True)
    day.write_text(
        '{"text": ["record", "profit", "strong", "gains"], "created_at": "Thu Jan 02 19:00:00 +0000 2014",'
        ' "user_id_str": "1"}\n'  # 14:00 New York
        '{"text": ["loss", "widens", ",", "shares", "plunge"],'
        ' "created_at": "Thu Jan 02 21:05:00 +0000 2014", "user_id_str": "2"}\n'  # 16:05 New York
    )
    items = list(read_stocknet_tweets(tmp_path, ["AAPL"], {"AAPL": "XNAS"}))
    scores = score_news_items(LexiconSentimentScorer(), items)
    close_jan2 = pd.Timestamp("2014-01-02 16:00", tz=STOCKNET_TIMEZONE).value
    close_jan3 = pd.Timestamp("2014-01-03 16:00", tz=STOCKNET_TIMEZONE).value
    indicator = SentimentIndicator(HALF_LIFE, WINDOW)
    for score in scores:
        indicator.handle_sentiment(score)

    at_jan2 = indicator.value_at(close_jan2)
    at_jan3 = indicator.value_at(close_jan3)

    assert at_jan2.message_count == 1 and at_jan2.decayed_mean == pytest.approx(scores[0].score)
    assert math.isnan(at_jan2.dispersion)
    assert at_jan3.message_count == 1  # only the 16:05 tweet is in (Jan 2 16:00, Jan 3 16:00]
    weight = 0.5 ** ((scores[1].ts_init - scores[0].ts_init) / HALF_LIFE)  # the 14:00 tweet, relative
    expected = (weight * scores[0].score + scores[1].score) / (weight + 1.0)
    assert scores[1].score < 0 < scores[0].score
    assert at_jan3.decayed_mean == pytest.approx(expected) and at_jan3.decayed_mean < at_jan2.decayed_mean


def test_receive_latency_delays_when_a_tweet_counts(tmp_path: Path) -> None:
    day = tmp_path / "AAPL" / "2014-01-02"
    day.parent.mkdir(parents=True)
    day.write_text(
        '{"text": ["gains"], "created_at": "Thu Jan 02 20:59:00 +0000 2014", "user_id_str": "1"}\n'
    )
    [item] = read_stocknet_tweets(tmp_path, None, {"AAPL": "XNAS"}, receive_latency=timedelta(minutes=5))
    indicator = SentimentIndicator(HALF_LIFE, WINDOW)
    indicator.update(1.0, item.ts_init)

    features = indicator.value_at(pd.Timestamp("2014-01-02 16:00", tz=STOCKNET_TIMEZONE).value)

    assert features.message_count == 0 and math.isnan(features.decayed_mean)


def test_bad_parameters_and_time_travel_are_rejected() -> None:
    with pytest.raises(ValueError, match="half_life_ns"):
        SentimentIndicator(0, WINDOW)
    indicator = SentimentIndicator(HALF_LIFE, WINDOW)
    indicator.update(0.5, 10 * HOUR)
    indicator.value_at(10 * HOUR)
    with pytest.raises(ValueError, match="time order"):
        indicator.update(0.1, 9 * HOUR)
    with pytest.raises(ValueError, match="go back"):
        indicator.value_at(9 * HOUR)
    indicator.reset()
    assert math.isnan(indicator.value_at(0).decayed_mean) and not indicator.initialized
