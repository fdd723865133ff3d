"""Per-item SentimentScores in the catalog: scored once, stored per scorer, replayed by backtests."""

import hashlib
import json
import shutil
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.backtest.node import BacktestNode
from typer.testing import CliRunner

from nautilus_ai.adapters.sentiment import SentimentConfig
from nautilus_ai.adapters.sentiment.catalog_scoring import score_catalog_news, scorer_label
from nautilus_ai.adapters.sentiment.lexicon import LexiconSentimentScorer
from nautilus_ai.adapters.tweets import read_stocknet_tweets, tweets_to_catalog
from nautilus_ai.backtest.node_config import feature_replay_run, stored_sentiment_label
from nautilus_ai.catalog.sentiment_store import (
    news_files,
    read_news_file,
    read_sentiment_scores,
    sentiment_aggregates,
    stored_scorers,
)
from nautilus_ai.cli import app
from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.indicators.sentiment import sentiment_features_batch
from nautilus_ai.test_kit import bundled_data_dir, demo_catalog, small_experiment

TWEETS = bundled_data_dir() / "news_tweets" / "stocknet_tweets_10_tickers.tar.gz"
VENUES = {"MSFT": "XNAS", "CSCO": "XNAS", "XOM": "XNYS"}
LATENCY = timedelta(seconds=60)
HALF_LIFE_S = 43_200
runner = CliRunner()


def _add_tweets(catalog: Path, tickers: list[str]) -> int:
    items = read_stocknet_tweets(TWEETS, tickers, VENUES, receive_latency=LATENCY)
    return tweets_to_catalog(items, catalog)


@pytest.fixture(scope="module")
def base_catalog(tmp_path_factory) -> Path:
    """Daily bars of MSFT and CSCO with their tweets (not scored)."""
    catalog = demo_catalog(tmp_path_factory.mktemp("scores-base"), symbols=("MSFT", "CSCO"))
    assert _add_tweets(catalog, ["MSFT", "CSCO"]) > 4000
    return catalog


@pytest.fixture
def catalog(base_catalog, tmp_path) -> Path:
    return Path(shutil.copytree(base_catalog, tmp_path / "catalog"))


def _file_digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.parquet"))
    }


def _sentiment_cfg(catalog: Path, instruments: list[str], **features):
    return small_experiment(
        catalog,
        instruments,
        data={"start": "2014-01-01", "end": "2015-12-31"},
        features={"sentiment_half_life_s": HALF_LIFE_S, **features},
    )


def _replay_features(cfg, catalog: Path, out: Path) -> pd.DataFrame:
    run = feature_replay_run(cfg, str(catalog.resolve()), str(out))
    node = BacktestNode(configs=[run])
    try:
        node.run()
    finally:
        node.dispose()
    return pd.read_parquet(out)


def test_lexicon_scores_are_stored_per_item_with_the_item_times(catalog):
    report = score_catalog_news(catalog, SentimentConfig())

    assert report.label == scorer_label(SentimentConfig())
    assert report.files_scored == 2 and report.files_skipped == 0
    lexicon = LexiconSentimentScorer(finance_weight=0.5)
    for iid, (path,) in news_files(catalog, ["MSFT.XNAS", "CSCO.XNAS"]).items():
        items = read_news_file(path)
        scores = read_sentiment_scores(catalog, [iid], report.label)
        assert report.per_instrument[iid] == len(items) == len(scores)
        assert scores["ts_event"].tolist() == [item.ts_event for item in items]
        assert scores["ts_init"].tolist() == [item.ts_init for item in items]
        assert (scores["ts_init"] - scores["ts_event"] == LATENCY.total_seconds() * 1e9).all()
        assert (scores["scorer"] == report.label).all()
        expected = [s.score for s in lexicon.score_texts([item.text for item in items])]
        np.testing.assert_allclose(scores["score"].to_numpy(), expected)


def test_rescoring_writes_nothing_and_another_scorer_is_stored_beside(catalog):
    first = score_catalog_news(catalog, SentimentConfig())
    stored = _file_digests(catalog / "data")

    again = score_catalog_news(catalog, SentimentConfig())
    assert (again.items_scored, again.files_scored, again.files_skipped) == (0, 0, 2)
    assert _file_digests(catalog / "data") == stored

    vader_only = score_catalog_news(catalog, SentimentConfig(finance_weight=0.0))
    assert vader_only.label != first.label
    assert vader_only.items_scored == first.items_scored
    assert stored_scorers(catalog) == sorted([first.label, vader_only.label])
    after = _file_digests(catalog / "data")
    assert {k: after[k] for k in stored} == stored  # the first scorer's files are untouched
    a = read_sentiment_scores(catalog, ["MSFT.XNAS"], first.label)
    b = read_sentiment_scores(catalog, ["MSFT.XNAS"], vader_only.label)
    assert a["ts_init"].tolist() == b["ts_init"].tolist()
    assert not np.allclose(a["score"], b["score"])
    manifest = json.loads((catalog / "_nautilus_ai" / "sentiment_scores_manifest.json").read_text())
    assert manifest["labels"][first.label]["items"] == first.items_scored
    assert manifest["labels"][vader_only.label]["config"]["finance_weight"] == 0.0


def test_scoring_resumes_with_only_the_news_files_added_since(catalog):
    score_catalog_news(catalog, SentimentConfig())
    assert _add_tweets(catalog, ["XOM"]) > 1000

    resumed = score_catalog_news(catalog, SentimentConfig())

    assert resumed.files_scored == 1 and resumed.files_skipped == 2
    assert list(resumed.per_instrument) == ["XOM.XNYS"]


def test_scoring_unknown_instrument_or_empty_catalog_is_a_config_error(catalog, tmp_path):
    with pytest.raises(ConfigError, match="no NewsItems for"):
        score_catalog_news(catalog, SentimentConfig(), ["AAPL.XNAS"])
    with pytest.raises(ConfigError, match="does not exist"):
        score_catalog_news(tmp_path / "missing", SentimentConfig())


def test_daily_aggregates_are_point_in_time_by_receive_time(catalog):
    label = score_catalog_news(catalog, SentimentConfig()).label
    scores = read_sentiment_scores(catalog, ["MSFT.XNAS", "CSCO.XNAS"], label)

    daily = sentiment_aggregates(catalog, ["MSFT.XNAS", "CSCO.XNAS"], tz="America/New_York")

    assert daily["count"].sum() == len(scores)
    # each row is labelled with the end of its New York day, the first time all of it is known
    known = pd.to_datetime(scores["ts_init"], unit="ns", utc=True)
    ends = (known.dt.tz_convert("America/New_York").dt.normalize() + pd.Timedelta(days=1)).dt.tz_convert(
        "UTC"
    )
    expected = scores.assign(available_at=ends).groupby(["instrument_id", "available_at"])["score"]
    np.testing.assert_allclose(daily["mean"], expected.mean())
    np.testing.assert_allclose(daily["dispersion"], expected.std(ddof=1), equal_nan=True)
    # a tweet published in the last minute of a New York day is received (60 s later) the next day
    local_published = pd.to_datetime(scores["ts_event"], unit="ns", utc=True).dt.tz_convert(
        "America/New_York"
    )
    late = scores[(local_published.dt.hour == 23) & (local_published.dt.minute == 59)]
    assert not late.empty
    row = late.iloc[0]
    published_day_end = local_published[late.index[0]].normalize() + pd.Timedelta(days=1)
    assert ends[late.index[0]] == (published_day_end + pd.Timedelta(days=1)).tz_convert("UTC")
    assert row["ts_init"] >= published_day_end.tz_convert("UTC").value


def test_stored_lexicon_scores_replay_equals_scoring_on_the_bus(catalog, tmp_path):
    cfg = _sentiment_cfg(catalog, ["MSFT.XNAS", "CSCO.XNAS"])
    assert stored_sentiment_label(cfg, str(catalog)) is None
    on_the_bus = _replay_features(cfg, catalog, tmp_path / "bus.parquet")

    label = score_catalog_news(catalog, SentimentConfig()).label
    run = feature_replay_run(cfg, str(catalog), str(tmp_path / "unused.parquet"))
    assert not [a for a in run.engine.actors if "SentimentActor" in a.actor_path]
    assert stored_sentiment_label(cfg, str(catalog)) == label
    replayed = _replay_features(cfg, catalog, tmp_path / "stored.parquet")

    assert (on_the_bus["sentiment_count"] > 0).mean() > 0.8
    pd.testing.assert_frame_equal(on_the_bus, replayed)


def test_several_stored_scorers_need_a_choice_and_unscored_news_is_a_data_error(catalog):
    cfg = _sentiment_cfg(catalog, ["MSFT.XNAS", "CSCO.XNAS"])
    score_catalog_news(catalog, SentimentConfig(), ["MSFT.XNAS"])
    with pytest.raises(DataError, match=r"CSCO\.XNAS are not scored"):
        stored_sentiment_label(cfg, str(catalog))
    first = score_catalog_news(catalog, SentimentConfig()).label
    second = score_catalog_news(catalog, SentimentConfig(finance_weight=0.0)).label
    with pytest.raises(ConfigError, match="choose one"):
        stored_sentiment_label(cfg, str(catalog))

    # a config that names its scorer ([features] sentiment_scorer) gets exactly that one
    def choosing(label: str) -> SimpleNamespace:
        features = SimpleNamespace(sentiment_half_life_s=HALF_LIFE_S, sentiment_scorer=label)
        return SimpleNamespace(features=features, data=cfg.data)

    assert stored_sentiment_label(choosing(second), str(catalog)) == second  # type: ignore[arg-type]
    assert stored_sentiment_label(choosing(first), str(catalog)) == first  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no stored scores"):
        stored_sentiment_label(choosing("llm-unknown-p00000000"), str(catalog))  # type: ignore[arg-type]


class _FakeChatCompletions:
    """A local OpenAI-compatible endpoint: scores each text by its length, counts the requests."""

    def __init__(self) -> None:
        self.requests = 0
        self.failing = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests += 1
                if fake.failing:
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                texts = json.loads(body["messages"][1]["content"])
                results = [
                    {"id": t["id"], "score": fake.score(t["text"]), "confidence": 0.9, "rationale": "length"}
                    for t in texts
                ]
                content = json.dumps({"results": results})
                payload = json.dumps({"choices": [{"message": {"content": content}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @staticmethod
    def score(text: str) -> float:
        return round(len(text) % 21 / 10 - 1.0, 1)

    def __enter__(self) -> "_FakeChatCompletions":
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._server.server_close()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def llm_endpoint() -> Iterator[_FakeChatCompletions]:
    with _FakeChatCompletions() as endpoint:
        yield endpoint


def test_llm_scores_are_computed_offline_once_and_replayed_without_the_endpoint(
    catalog, tmp_path, llm_endpoint
):
    config = SentimentConfig(
        kind="llm",
        base_url=llm_endpoint.base_url,
        model="finance-mini",
        batch_size=128,
        max_requests_per_minute=10_000,
        cache_path=tmp_path / "llm-cache.json",
    )

    report = score_catalog_news(catalog, config, ["CSCO.XNAS"])

    assert report.label.startswith("llm-finance-mini-p")
    assert report.fallbacks == 0 and report.items_scored > 1000
    items = read_news_file(news_files(catalog, ["CSCO.XNAS"])["CSCO.XNAS"][0])
    unique_texts = len({item.text for item in items})
    assert llm_endpoint.requests == -(-unique_texts // 128)  # batches of unique texts
    scores = read_sentiment_scores(catalog, ["CSCO.XNAS"], report.label)
    assert scores["score"].tolist() == [_FakeChatCompletions.score(item.text) for item in items]
    sent = llm_endpoint.requests
    assert score_catalog_news(catalog, config, ["CSCO.XNAS"]).items_scored == 0
    assert llm_endpoint.requests == sent  # nothing is sent twice

    # the backtest replays the stored LLM scores: no SentimentActor, no endpoint
    llm_endpoint.stop()
    cfg = _sentiment_cfg(catalog, ["CSCO.XNAS"])
    assert stored_sentiment_label(cfg, str(catalog)) == report.label
    features = _replay_features(cfg, catalog, tmp_path / "llm-features.parquet")
    decisions = features["ts_init"].to_numpy(dtype=np.int64) - 1  # a bar sees scores known before it
    expected = sentiment_features_batch(
        scores["ts_init"].to_numpy(),
        scores["score"].to_numpy(),
        decisions,
        HALF_LIFE_S * 1_000_000_000,
        cfg.features.sentiment_window_s * 1_000_000_000,
    )
    np.testing.assert_allclose(features["sentiment_mean"], expected[:, 0], rtol=1e-9)
    np.testing.assert_array_equal(features["sentiment_count"], expected[:, 1])


def test_a_file_the_llm_failed_on_is_not_stored_unless_fallbacks_are_allowed(catalog, tmp_path, llm_endpoint):
    config = SentimentConfig(
        kind="llm",
        base_url=llm_endpoint.base_url,
        model="finance-mini",
        batch_size=256,
        max_retries=0,
        max_requests_per_minute=10_000,
        cache_path=tmp_path / "llm-cache.json",
    )
    llm_endpoint.failing = True

    failed = score_catalog_news(catalog, config, ["CSCO.XNAS"])

    assert failed.items_scored == 0 and len(failed.files_failed) == 1 and failed.fallbacks > 1000
    assert stored_scorers(catalog) == []
    assert "NOT stored" in failed.summary_text()

    kept = score_catalog_news(catalog, config, ["CSCO.XNAS"], allow_fallback=True)
    assert kept.items_scored == kept.fallbacks_stored > 1000
    assert stored_scorers(catalog) == [kept.label]


def test_cli_catalog_score_stores_scores_and_reports_bad_settings(catalog, tmp_path):
    result = runner.invoke(app, ["catalog", "score", "--catalog", str(catalog), "--instrument", "MSFT.XNAS"])
    assert result.exit_code == 0, result.output
    assert "sentiment scores of lexicon-vader-lm-fw0.5" in result.output
    assert stored_scorers(catalog, ["MSFT.XNAS"]) and not stored_scorers(catalog, ["CSCO.XNAS"])

    again = runner.invoke(app, ["catalog", "score", "--catalog", str(catalog), "--instrument", "MSFT.XNAS"])
    assert again.exit_code == 0 and "0 written" in again.output

    no_endpoint = runner.invoke(app, ["catalog", "score", "--catalog", str(catalog), "--scorer", "llm"])
    assert no_endpoint.exit_code == 2
    assert "base_url" in no_endpoint.output or "model" in no_endpoint.output
    settings = tmp_path / "scorer.toml"
    settings.write_text('kind = "lexicon"\nfinance_weight = 2.0\n')
    bad = runner.invoke(app, ["catalog", "score", "--catalog", str(catalog), "--config", str(settings)])
    assert bad.exit_code == 2 and "finance_weight" in bad.output
