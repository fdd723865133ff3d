"""Score the catalog's ``NewsItem`` files offline, in batch, and store one ``SentimentScore`` per item.

This is how a slow or paid scorer (the LLM scorer) is used for research: it runs once, outside any event
loop, and its scores are persisted in the catalog (:mod:`nautilus_ai.catalog.sentiment_store`), so
feature builds and walk-forward backtests replay the stored scores instead of calling the scorer.

Every scorer configuration gets a *label* (:func:`scorer_label`) naming the scorer, its parameters and
version (the lexicon's finance weight and VADER release; the LLM's model and prompt hash). Scores of
different labels live side by side; re-running a label scores only the news files it has not scored
yet, so nothing is written twice and an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nautilus_ai.adapters.sentiment.base import SentimentConfig, make_scorer
from nautilus_ai.catalog.atomic import atomic_write_text
from nautilus_ai.catalog.sentiment_store import (
    news_files,
    read_news_file,
    score_folder,
    validate_scorer_label,
    write_scores_file,
)
from nautilus_ai.catalog.types import SentimentScore
from nautilus_ai.errors import ConfigError

SCORES_MANIFEST_PATH = Path("_nautilus_ai") / "sentiment_scores_manifest.json"
"""Where :func:`score_catalog_news` records each label's scorer settings and counts (catalog-relative)."""

Progress = Callable[[str, int, int], None]

_SLUG = re.compile(r"[^A-Za-z0-9._=+-]+")


def scorer_label(config: SentimentConfig) -> str:
    """Return the storage label of the scorer ``config`` builds (scorer, parameters and version).

    * lexicon: ``lexicon-vader-lm-fw0.5-vader3.3.2`` (``lexicon-vader-fw0-...`` with ``finance_weight=0``);
    * LLM: ``llm-<model>-p<first 8 hex of sha256(system prompt)>``, so a new prompt is a new label.

    Raises
    ------
    ConfigError
        If an LLM config has no ``model``.

    """
    if config.kind == "lexicon":
        lexicon = "lexicon-vader-lm" if config.finance_weight > 0 else "lexicon-vader"
        vader = importlib.metadata.version("vaderSentiment")
        label = f"{lexicon}-fw{config.finance_weight:g}-vader{vader}"
    else:
        if not config.model:
            raise ConfigError("LLM sentiment: set model in the sentiment config (it names the stored scores)")
        from nautilus_ai.adapters.sentiment.llm import SYSTEM_PROMPT  # lazy: httpx only when needed

        prompt = hashlib.sha256(SYSTEM_PROMPT.encode("utf-8")).hexdigest()[:8]
        label = f"llm-{_SLUG.sub('-', config.model).strip('-')}-p{prompt}"
    return validate_scorer_label(label)


@dataclass
class ScoringReport:
    """What :func:`score_catalog_news` did.

    Attributes
    ----------
    label : str
        The scorer label the scores are stored under.
    files_scored : int
        News files scored in this run.
    files_skipped : int
        News files already scored by this label (left untouched).
    items_scored : int
        Scores written in this run.
    fallbacks : int
        Items the configured scorer failed on and the lexicon fallback scored (LLM only).
    fallbacks_stored : int
        Those of them stored (``allow_fallback=True``).
    files_failed : list[str]
        News files left unscored because some of their items fell back (``allow_fallback=False``);
        a later run scores them again.
    per_instrument : dict[str, int]
        Scores written per instrument in this run.

    """

    label: str
    files_scored: int = 0
    files_skipped: int = 0
    items_scored: int = 0
    fallbacks: int = 0
    fallbacks_stored: int = 0
    files_failed: list[str] = field(default_factory=list)
    per_instrument: dict[str, int] = field(default_factory=dict)

    def summary_text(self) -> str:
        """Return a one-line summary for the command line."""
        text = (
            f"sentiment scores of {self.label}: {self.items_scored} written from {self.files_scored} news "
            f"file(s), {self.files_skipped} file(s) already scored, {self.fallbacks} lexicon fallback(s)"
        )
        if self.files_failed:
            text += (
                f"; {len(self.files_failed)} file(s) NOT stored because the scorer failed on some items "
                "(run again when the endpoint is back; cached answers are not paid twice)"
            )
        return text


def score_catalog_news(
    catalog: Path,
    config: SentimentConfig,
    instrument_ids: Sequence[str] | None = None,
    *,
    allow_fallback: bool = False,
    progress: Progress | None = None,
) -> ScoringReport:
    """Score every not-yet-scored ``NewsItem`` file of the catalog and store the scores beside it.

    Parameters
    ----------
    catalog : Path
        The catalog root (holding ``data/news_item``).
    config : SentimentConfig
        The scorer (lexicon or LLM); its :func:`scorer_label` names the stored scores.
    instrument_ids : Sequence[str], optional
        The instruments to score (every instrument with news when None).
    allow_fallback : bool, default False
        Whether a news file some of whose items the LLM scorer failed on (and the lexicon scored
        instead) is stored anyway, under the LLM's label. By default it is not stored, so the label
        holds model scores only and a later run retries the file.
    progress : Callable[[str, int, int], None], optional
        Called as ``(stage, files done, files total)``.

    Returns
    -------
    ScoringReport
        What was scored and skipped.

    Raises
    ------
    ConfigError
        If the catalog does not exist, a named instrument has no news in it, or the scorer config is
        invalid (an LLM config without ``base_url``/``model``, an unset API key variable).

    """
    catalog = Path(catalog)
    if not catalog.is_dir():
        raise ConfigError(f"catalog {catalog} does not exist: ingest the news first (catalog fetch tweets)")
    files = news_files(catalog, instrument_ids)
    if not files:
        raise ConfigError(f"catalog {catalog} holds no NewsItems: run `nautilus-ai catalog fetch` first")
    if missing := sorted(iid for iid, paths in files.items() if not paths):
        raise ConfigError(f"catalog {catalog} holds no NewsItems for {missing}: fetch their news first")
    label = scorer_label(config)
    report = ScoringReport(label=label)
    todo = [
        (iid, path)
        for iid, paths in files.items()
        for path in paths
        if not (score_folder(catalog, iid, label) / path.name).exists()
    ]
    report.files_skipped = sum(len(paths) for paths in files.values()) - len(todo)
    notify = progress or (lambda stage, done, total: None)
    notify("score", 0, len(todo))
    if not todo:
        return report
    scorer = make_scorer(config)
    try:
        for done, (iid, path) in enumerate(todo, start=1):
            items = read_news_file(path)
            if items:
                scored = scorer.score_texts([item.text for item in items])
                scores = [
                    SentimentScore(
                        instrument_id=item.instrument_id,
                        score=result.score,
                        confidence=result.confidence,
                        scorer=label,
                        n_items=1,
                        ts_event=item.ts_event,
                        ts_init=item.ts_init,
                    )
                    for item, result in zip(items, scored, strict=True)
                ]
                fallbacks = sum(result.fallback for result in scored)
                report.fallbacks += fallbacks
                if fallbacks and not allow_fallback:
                    report.files_failed.append(str(path.relative_to(catalog)))
                    notify("score", done, len(todo))
                    continue
                write_scores_file(catalog, path, label, scores)
                report.fallbacks_stored += fallbacks
                report.items_scored += len(scores)
                report.per_instrument[iid] = report.per_instrument.get(iid, 0) + len(scores)
            report.files_scored += 1
            notify("score", done, len(todo))
    finally:
        close = getattr(scorer, "close", None)
        if callable(close):
            close()
        _record(catalog, config, report)
    return report


def _record(catalog: Path, config: SentimentConfig, report: ScoringReport) -> None:
    """Add the run's counts and the scorer settings (no secrets) to the catalog's scores manifest."""
    path = catalog / SCORES_MANIFEST_PATH
    manifest: dict[str, Any] = (
        json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"labels": {}}
    )
    entry = manifest["labels"].setdefault(
        report.label,
        {"config": config.model_dump(mode="json", exclude={"cache_path"}), "items": 0, "fallbacks": 0},
    )
    entry["items"] += report.items_scored
    entry["fallbacks"] += report.fallbacks_stored
    atomic_write_text(path, json.dumps(manifest, indent=2, sort_keys=True))
