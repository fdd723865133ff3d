"""An LLM sentiment scorer over any OpenAI-compatible ``/chat/completions`` endpoint.

Texts are sent ``batch_size`` at a time as a JSON array ``[{"id": 0, "text": "..."}, ...]``; the model must
answer with JSON ``{"results": [{"id": 0, "score": <float in [-1, 1]>, "rationale": "..."}, ...]}`` (a
bare array is accepted too), validated with pydantic. Robustness, in order of application:

* **cache** -- scores are kept by ``sha256(model, newline, text)`` and persisted atomically to
  ``cache_path`` (JSON) after every successful batch, so a text is never paid for twice;
* **spend guard** -- at most ``max_total_requests`` HTTP requests over the scorer's life; past it,
  everything falls back;
* **rate limit** -- at most ``max_requests_per_minute`` requests in any 60 s (the client waits);
* **retries** -- a 429 (waiting ``Retry-After``), a 5xx, a timeout, a broken connection or body, and an
  invalid answer are retried ``max_retries`` times with doubling backoff;
* **fallback** -- a batch that still fails is scored by the lexicon scorer with ``fallback=True``.

``score_texts`` never raises for a backend problem; :attr:`LLMSentimentScorer.stats` counts what happened.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from nautilus_ai.adapters.sentiment.base import ScoredText, SentimentConfig
from nautilus_ai.adapters.sentiment.lexicon import LexiconSentimentScorer
from nautilus_ai.catalog.atomic import atomic_write_text
from nautilus_ai.errors import ConfigError

logger = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You rate the sentiment of short financial news items and social-media posts about a stock, "
    "from the point of view of a holder of that stock. The user sends a JSON array of objects "
    '{"id": int, "text": str}. Reply with JSON only, no prose: {"results": [{"id": int, "score": float, '
    '"confidence": float, "rationale": str}, ...]} with one result per id; score in [-1, 1] '
    "(-1 very negative, 0 neutral, 1 very positive), confidence in [0, 1], rationale at most 20 words."
)
DEFAULT_CONFIDENCE = 0.5
"""The confidence recorded when the model's answer omits one."""


class LLMScoredItem(BaseModel):
    """One text's result in the model's answer."""

    model_config = ConfigDict(extra="ignore")

    id: int
    score: float = Field(ge=-1.0, le=1.0)
    confidence: float = Field(DEFAULT_CONFIDENCE, ge=0.0, le=1.0)
    rationale: str


class LLMAnswer(BaseModel):
    """The model's whole answer."""

    model_config = ConfigDict(extra="ignore")

    results: list[LLMScoredItem]


_ITEMS = TypeAdapter(list[LLMScoredItem])


@dataclass
class LLMScorerStats:
    """What an :class:`LLMSentimentScorer` did over its life."""

    requests: int = 0
    """HTTP requests sent (the spend guard counts these)."""
    retries: int = 0
    """Requests that were retries of a failed attempt."""
    cache_hits: int = 0
    """Texts answered from the cache."""
    scored: int = 0
    """Texts scored by the model."""
    fallbacks: int = 0
    """Texts scored by the lexicon fallback."""
    guard_stopped: bool = False
    """True once the spend guard refused a request."""
    rate_limited_s: float = 0.0
    """Seconds spent waiting on the per-minute rate limit."""


class _AttemptError(Exception):
    """One failed attempt: ``retry_after`` is the server's requested wait, when it gave one."""

    def __init__(self, reason: str, retry_after: float | None = None, retryable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.retryable = retryable


class _GuardStopError(Exception):
    """The spend guard refused a request."""


class LLMSentimentScorer:
    """Score texts with an OpenAI-compatible chat-completions model (see the module docstring).

    Parameters
    ----------
    config : SentimentConfig
        ``kind="llm"`` with ``base_url`` and ``model``; the other LLM fields have defaults.
    clock : Callable[[], float], optional
        A monotonic clock in seconds (tests inject one); ``time.monotonic`` by default.
    sleep : Callable[[float], None], optional
        The wait function (tests inject one); ``time.sleep`` by default.

    Raises
    ------
    ConfigError
        If ``base_url`` or ``model`` is missing, or ``api_key_env`` names an unset variable.

    """

    def __init__(
        self,
        config: SentimentConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not config.base_url or not config.model:
            raise ConfigError("LLM sentiment: set both base_url and model in the sentiment config")
        headers = {"Content-Type": "application/json"}
        if config.api_key_env:
            key = os.environ.get(config.api_key_env)
            if not key:
                raise ConfigError(
                    f"LLM sentiment: environment variable {config.api_key_env!r} (api_key_env) is not set"
                )
            headers["Authorization"] = f"Bearer {key}"
        self.config = config
        self.model: str = config.model
        self.name = f"llm:{config.model}"
        self.stats = LLMScorerStats()
        self._fallback = LexiconSentimentScorer(config.finance_weight)
        self._clock = clock
        self._sleep = sleep
        self._sent_at: deque[float] = deque()
        self._client = httpx.Client(
            base_url=config.base_url.rstrip("/") + "/", headers=headers, timeout=config.timeout_s
        )
        self._cache: dict[str, dict[str, Any]] = self._load_cache()

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def __enter__(self) -> LLMSentimentScorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cache_key(self, text: str) -> str:
        """Return the cache key of ``text``: ``sha256(model, newline, text)``."""
        return hashlib.sha256(f"{self.model}\n{text}".encode()).hexdigest()

    def score_texts(self, texts: Sequence[str]) -> list[ScoredText]:
        """Return one :class:`ScoredText` per text, in order; never raises for a backend problem."""
        results: dict[str, ScoredText] = {}
        todo: list[str] = []
        for text in dict.fromkeys(texts):  # unique, in first-seen order
            cached = self._cache.get(self.cache_key(text))
            if cached is not None:
                self.stats.cache_hits += 1
                results[text] = ScoredText(
                    score=cached["score"],
                    confidence=cached["confidence"],
                    rationale=cached["rationale"],
                    scorer=self.name,
                    cached=True,
                )
            else:
                todo.append(text)
        for start in range(0, len(todo), self.config.batch_size):
            batch = todo[start : start + self.config.batch_size]
            results.update(self._score_batch(batch))
        return [results[text] for text in texts]

    def _score_batch(self, batch: list[str]) -> dict[str, ScoredText]:
        try:
            items = self._request_with_retries(batch)
        except _GuardStopError:
            return self._fall_back(batch, f"spend guard: max_total_requests={self.config.max_total_requests}")
        except _AttemptError as error:
            return self._fall_back(batch, error.reason)
        except Exception as error:  # the contract: a backend problem never escapes score_texts
            logger.exception("LLM sentiment: unexpected error, falling back to the lexicon")
            return self._fall_back(batch, f"unexpected {type(error).__name__}: {error}")
        out: dict[str, ScoredText] = {}
        for text, item in zip(batch, items, strict=True):
            self._cache[self.cache_key(text)] = {
                "score": item.score,
                "confidence": item.confidence,
                "rationale": item.rationale,
            }
            out[text] = ScoredText(item.score, item.confidence, item.rationale, scorer=self.name)
        self.stats.scored += len(batch)
        self._save_cache()
        return out

    def _fall_back(self, batch: list[str], reason: str) -> dict[str, ScoredText]:
        logger.warning("LLM sentiment: %d text(s) fall back to the lexicon scorer (%s)", len(batch), reason)
        self.stats.fallbacks += len(batch)
        return {
            text: ScoredText(
                score=scored.score,
                confidence=scored.confidence,
                rationale=f"lexicon fallback ({reason}): {scored.rationale}",
                scorer=self._fallback.name,
                fallback=True,
            )
            for text, scored in zip(batch, self._fallback.score_texts(batch), strict=True)
        }

    def _request_with_retries(self, batch: list[str]) -> list[LLMScoredItem]:
        attempts = self.config.max_retries + 1
        for attempt in range(attempts):
            if attempt:
                self.stats.retries += 1
            try:
                return self._attempt(batch)
            except _AttemptError as error:
                logger.info("LLM sentiment: attempt %d/%d failed: %s", attempt + 1, attempts, error.reason)
                if not error.retryable or attempt + 1 == attempts:
                    raise
                delay = self.config.backoff_s * 2**attempt
                if error.retry_after is not None:
                    delay = error.retry_after
                self._sleep(min(delay, self.config.max_backoff_s))
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, batch: list[str]) -> list[LLMScoredItem]:
        self._acquire_request_slot()
        payload = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {
                    "role": "user",
                    "content": json.dumps([{"id": i, "text": text} for i, text in enumerate(batch)]),
                },
            ],
        }
        try:
            response = self._client.post("chat/completions", json=payload)
        except httpx.TimeoutException as error:
            raise _AttemptError(f"timeout after {self.config.timeout_s} s ({type(error).__name__})") from None
        except httpx.TransportError as error:
            raise _AttemptError(f"transport error: {type(error).__name__}: {error}") from None
        if response.status_code == 429:
            raise _AttemptError("HTTP 429 rate limited", retry_after=_retry_after(response))
        if response.status_code >= 500:
            raise _AttemptError(f"HTTP {response.status_code}", retry_after=_retry_after(response))
        if response.status_code != 200:
            raise _AttemptError(
                f"HTTP {response.status_code}: {response.text[:200]}", retryable=response.status_code == 408
            )
        return _parse_answer(response, len(batch))

    def _acquire_request_slot(self) -> None:
        """Apply the spend guard, then wait until a request fits in the per-minute rate limit."""
        if self.stats.requests >= self.config.max_total_requests:
            self.stats.guard_stopped = True
            raise _GuardStopError
        now = self._clock()
        while self._sent_at and now - self._sent_at[0] >= 60.0:
            self._sent_at.popleft()
        if len(self._sent_at) >= self.config.max_requests_per_minute:
            wait = 60.0 - (now - self._sent_at[0])
            self.stats.rate_limited_s += wait
            self._sleep(wait)
            now = self._clock()
            self._sent_at.popleft()
        self._sent_at.append(now)
        self.stats.requests += 1

    def _load_cache(self) -> dict[str, dict[str, Any]]:
        path = self.config.cache_path
        if path is None or not path.exists():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            logger.warning("LLM sentiment: ignoring unreadable cache %s (%s)", path, error)
            return {}
        return dict(data.get("entries", {})) if isinstance(data, dict) else {}

    def _save_cache(self) -> None:
        path = self.config.cache_path
        if path is not None:
            atomic_write_text(path, json.dumps({"version": 1, "entries": self._cache}, sort_keys=True))


def _retry_after(response: httpx.Response) -> float | None:
    """Return the ``Retry-After`` header in seconds (delta-seconds or an HTTP date), if present."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _parse_answer(response: httpx.Response, n_texts: int) -> list[LLMScoredItem]:
    """Validate a chat-completions response and return its items in id order 0..n_texts-1."""
    try:
        body = response.json()
        content = body["choices"][0]["message"]["content"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, IndexError, TypeError) as error:
        raise _AttemptError(f"not a chat-completions response ({type(error).__name__})") from None
    if not isinstance(content, str):
        raise _AttemptError("the message content is not a string")
    text = content.strip()
    if text.startswith("```"):  # tolerate a fenced code block
        text = text.strip("`").removeprefix("json").strip()
    try:
        parsed = json.loads(text)
        items = (
            _ITEMS.validate_python(parsed)
            if isinstance(parsed, list)
            else LLMAnswer.model_validate(parsed).results
        )
    except json.JSONDecodeError as error:
        raise _AttemptError(f"the model's answer is not JSON ({error.msg})") from None
    except ValidationError as error:
        raise _AttemptError(
            f"the model's answer is invalid: {error.errors()[0]['msg']} at {error.errors()[0]['loc']}"
        ) from None
    by_id = {item.id: item for item in items}
    if sorted(by_id) != list(range(n_texts)):
        raise _AttemptError(f"the model answered ids {sorted(by_id)}, expected 0..{n_texts - 1}")
    return [by_id[i] for i in range(n_texts)]
