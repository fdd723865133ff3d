"""Scorer labels: every setting that changes the scores changes the label they are stored under."""

import pytest

from nautilus_ai.adapters.sentiment import SentimentConfig
from nautilus_ai.adapters.sentiment.catalog_scoring import scorer_label
from nautilus_ai.catalog.sentiment_store import validate_scorer_label
from nautilus_ai.errors import ConfigError


def test_lexicon_label_names_the_lists_the_finance_weight_and_the_vader_release():
    label = scorer_label(SentimentConfig())
    assert label.startswith("lexicon-vader-lm-fw0.5-vader")
    assert scorer_label(SentimentConfig(finance_weight=0.0)).startswith("lexicon-vader-fw0-vader")
    assert scorer_label(SentimentConfig(finance_weight=0.25)) != label
    assert scorer_label(SentimentConfig()) == label  # deterministic


def test_llm_label_names_the_model_and_the_prompt_but_not_the_endpoint():
    config = SentimentConfig(kind="llm", base_url="http://127.0.0.1:1/v1", model="org/Model 7B:q4")
    label = scorer_label(config)
    assert label.startswith("llm-org-Model-7B-q4-p") and len(label.rsplit("-p", 1)[1]) == 8
    assert validate_scorer_label(label) == label
    moved = config.model_copy(update={"base_url": "http://127.0.0.1:2/v1", "batch_size": 4})
    assert scorer_label(moved) == label
    assert scorer_label(config.model_copy(update={"model": "other"})) != label


def test_llm_label_without_a_model_is_a_config_error():
    with pytest.raises(ConfigError, match="model"):
        scorer_label(SentimentConfig(kind="llm", base_url="http://127.0.0.1:1/v1"))
