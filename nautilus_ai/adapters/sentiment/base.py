"""The sentiment-scorer interface, its configuration and the factory that builds a scorer from it.

Every scorer turns texts into :class:`ScoredText` (score in [-1, 1], confidence in [0, 1], a rationale)
through one method, ``score_texts``; :func:`make_scorer` builds the lexicon or the LLM scorer from a
:class:`SentimentConfig`, and :func:`score_news_items` turns scored ``NewsItem`` objects into
``SentimentScore`` data that keep the item's ``ts_event`` and ``ts_init`` (point-in-time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from nautilus_ai.catalog.types import NewsItem, SentimentScore


@dataclass(frozen=True)
class ScoredText:
    """The sentiment of one text.

    Attributes
    ----------
    score : float
        The sentiment in [-1, 1] (negative to positive).
    confidence : float
        How much the scorer trusts the score, in [0, 1].
    rationale : str
        A short explanation (the model's words, or the lexicon counts).
    scorer : str
        The name of the scorer that produced the score.
    fallback : bool
        True when the configured scorer failed and the lexicon scorer produced the score instead.
    cached : bool
        True when the score came from the scorer's cache rather than a fresh computation.

    """

    score: float
    confidence: float
    rationale: str
    scorer: str
    fallback: bool = False
    cached: bool = False


@runtime_checkable
class SentimentScorer(Protocol):
    """Anything that scores texts: ``name`` and ``score_texts``."""

    name: str

    def score_texts(self, texts: Sequence[str]) -> list[ScoredText]:
        """Return one :class:`ScoredText` per text, in order; never raise for a bad text or backend."""
        ...


class SentimentConfig(BaseModel):
    """Which sentiment scorer to build and how (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["lexicon", "llm"] = "lexicon"
    """``"lexicon"`` (VADER + Loughran-McDonald, offline) or ``"llm"`` (an OpenAI-compatible server)."""
    finance_weight: float = Field(0.5, ge=0.0, le=1.0)
    """Lexicon: the weight of the Loughran-McDonald polarity against VADER's compound score."""
    base_url: str | None = None
    """LLM: the API root, e.g. ``http://127.0.0.1:8000/v1`` (``/chat/completions`` is appended)."""
    model: str | None = None
    """LLM: the model name sent with each request (also part of the cache key)."""
    api_key_env: str | None = None
    """LLM: the NAME of the environment variable holding the API key (None: send no key)."""
    batch_size: int = Field(16, ge=1, le=256)
    """LLM: texts per request."""
    max_requests_per_minute: int = Field(60, ge=1)
    """LLM: the rate limit; the client waits rather than exceed it."""
    max_total_requests: int = Field(1000, ge=0)
    """LLM: the spend guard; once this many requests were sent, the rest falls back to the lexicon."""
    max_retries: int = Field(3, ge=0)
    """LLM: retries per batch after a 429, a 5xx, a timeout, a broken body or an invalid answer."""
    backoff_s: float = Field(0.5, ge=0.0)
    """LLM: the first retry delay; it doubles on each retry (a 429's ``Retry-After`` wins)."""
    max_backoff_s: float = Field(60.0, ge=0.0)
    """LLM: the longest single wait between retries."""
    timeout_s: float = Field(30.0, gt=0.0)
    """LLM: the per-request timeout in seconds."""
    cache_path: Path | None = None
    """LLM: a JSON file caching scores by sha256(model + text) (None: an in-memory cache only)."""


def make_scorer(config: SentimentConfig) -> SentimentScorer:
    """Build the scorer ``config`` describes.

    Raises
    ------
    ConfigError
        If an LLM config lacks ``base_url`` or ``model``, or its ``api_key_env`` variable is unset.

    """
    from nautilus_ai.adapters.sentiment.lexicon import (
        LexiconSentimentScorer,
    )  # lazy: lexicon imports this module

    if config.kind == "lexicon":
        return LexiconSentimentScorer(finance_weight=config.finance_weight)
    from nautilus_ai.adapters.sentiment.llm import LLMSentimentScorer  # lazy: lexicon imports this module

    return LLMSentimentScorer(config)


def score_news_items(scorer: SentimentScorer, items: Sequence[NewsItem]) -> list[SentimentScore]:
    """Score ``items`` and return one ``SentimentScore`` per item with the item's ``ts_event``/``ts_init``."""
    scored = scorer.score_texts([item.text for item in items])
    return [
        SentimentScore(
            instrument_id=item.instrument_id,
            score=result.score,
            confidence=result.confidence,
            scorer=result.scorer,
            n_items=1,
            ts_event=item.ts_event,
            ts_init=item.ts_init,
        )
        for item, result in zip(items, scored, strict=True)
    ]
