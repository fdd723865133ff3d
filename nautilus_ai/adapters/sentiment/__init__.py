"""Sentiment scorers behind one interface: an offline lexicon scorer and an LLM scorer with fallback."""

from nautilus_ai.adapters.sentiment.base import (
    ScoredText,
    SentimentConfig,
    SentimentScorer,
    make_scorer,
    score_news_items,
)

__all__ = ["ScoredText", "SentimentConfig", "SentimentScorer", "make_scorer", "score_news_items"]
