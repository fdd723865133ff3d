"""The lexicon scorer (VADER + Loughran-McDonald) and the scorer factory."""

import pytest
from pydantic import ValidationError

from nautilus_ai.adapters.sentiment import SentimentConfig, SentimentScorer, make_scorer, score_news_items
from nautilus_ai.adapters.sentiment.lexicon import LexiconSentimentScorer, loughran_mcdonald_words
from nautilus_ai.adapters.tweets import read_stocknet_tweets
from nautilus_ai.test_kit import bundled_data_dir


def test_scores_are_bounded_and_signed_by_the_words() -> None:
    scorer = make_scorer(SentimentConfig())

    good, bad, neutral = scorer.score_texts(
        ["record profit and strong gains", "shares plunge after weak earnings , loss widens", "$ aapl URL"]
    )

    assert isinstance(scorer, SentimentScorer)
    assert good.score > 0.5 and bad.score < -0.5 and neutral.score == 0.0
    assert all(-1 <= r.score <= 1 and 0 <= r.confidence <= 1 for r in (good, bad, neutral))
    assert neutral.confidence == 0.0 and not good.fallback


def test_finance_words_move_a_score_vader_calls_neutral() -> None:
    text = "company reports impairment and restatement"
    vader_only = LexiconSentimentScorer(finance_weight=0.0).score_texts([text])[0]
    combined = LexiconSentimentScorer(finance_weight=0.5).score_texts([text])[0]

    assert vader_only.score == 0.0
    assert combined.score == pytest.approx(-0.5)
    assert combined.rationale.endswith("finance words +0/-2")


def test_loughran_mcdonald_list_is_read_offline() -> None:
    positive, negative = loughran_mcdonald_words()

    assert {"profitable", "gains"} <= positive and {"loss", "impairment"} <= negative
    assert not positive & negative


def test_llm_config_needs_url_and_model_and_unknown_keys_fail() -> None:
    with pytest.raises(ValidationError):
        SentimentConfig.model_validate({"kind": "lexicon", "colour": "blue"})
    with pytest.raises(Exception, match="base_url"):
        make_scorer(SentimentConfig(kind="llm"))


def test_news_items_become_sentiment_scores_with_their_times() -> None:
    archive = bundled_data_dir() / "news_tweets" / "stocknet_tweets_10_tickers.tar.gz"
    items = list(read_stocknet_tweets(archive, ["MSFT"], {"MSFT": "XNAS"}))[:50]

    scores = score_news_items(LexiconSentimentScorer(), items)

    assert [(s.ts_event, s.ts_init, s.instrument_id) for s in scores] == [
        (i.ts_event, i.ts_init, i.instrument_id) for i in items
    ]
    assert all(s.scorer == "lexicon-vader-lm" for s in scores)
    assert any(s.score != 0 for s in scores)
