"""The news API client (JSON and RSS) against a real HTTP server replaying recorded responses."""

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from nautilus_ai.adapters.news_api import NewsApiSource, fetch_news, fetch_source
from nautilus_ai.catalog.types import NewsItem
from nautilus_ai.errors import ConfigError

FIXTURES = Path(__file__).parents[2] / "fixtures" / "http"
FAST = {
    "requests_per_second": None,
    "max_retries": 2,
    "backoff_base_s": 0.01,
    "backoff_max_s": 0.05,
    "timeout_s": 2.0,
    "seed": 1,
}


def news_items(catalog: Path) -> list[NewsItem]:
    return sorted(
        (wrapped.data for wrapped in ParquetDataCatalog(str(catalog)).query(NewsItem)),
        key=lambda i: (str(i.instrument_id), i.ts_event, i.text),
    )


def ns(text: str) -> int:
    return int(pd.Timestamp(text).value)


def test_json_news_lands_in_the_catalog_point_in_time(replay, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TEST_NEWS_KEY", "secret-key")
    source = NewsApiSource(base_url=replay.base_url, api_key_env="TEST_NEWS_KEY", venues={"MSFT": "XNAS"})
    catalog = tmp_path / "catalog"
    before = pd.Timestamp.now(tz="UTC").value

    report = fetch_news(source, ["AAPL", "MSFT"], date(2024, 1, 2), date(2024, 1, 4), catalog, **FAST)

    assert report.requested == 6
    assert report.failed == {"parse_error": 2}  # AAPL 01-04 malformed, MSFT 01-04 missing published_at
    assert report.retried == 2  # AAPL 01-03 500 then ok, MSFT 01-02 429 then ok
    outcome = {o.key: o for o in report.outcomes}
    assert outcome["MSFT-2024-01-02"].elapsed_s >= 1.0  # Retry-After honoured
    assert outcome["AAPL-2024-01-04"].raw_path == str(catalog / "_raw" / "news" / "AAPL-2024-01-04.json")
    items = news_items(catalog)
    assert len(items) == report.items_written == 2 + 2 + 1
    aapl = [i for i in items if str(i.instrument_id) == "AAPL.XNAS"]
    assert [i.ts_event for i in aapl] == [ns("2024-01-02T13:30:00Z"), ns("2024-01-02T15:45:10Z")]
    assert aapl[0].text == "Apple beats estimates\n\nRevenue rose 8% on iPhone sales."
    assert aapl[0].source == "wire" and aapl[0].url == "https://example.test/a1"
    assert all(i.ts_init >= before for i in items)  # received now, long after publication
    assert {str(i.instrument_id) for i in items} == {"AAPL.XNAS", "MSFT.XNAS"}
    saved = (catalog / "_raw" / "news" / "AAPL-2024-01-02.meta.json").read_text()
    assert "secret-key" not in saved


def test_a_second_fetch_skips_the_written_days_and_keeps_the_catalog(replay, tmp_path: Path) -> None:
    source = NewsApiSource(base_url=replay.base_url)
    catalog = tmp_path / "catalog"
    fetch_news(source, ["AAPL", "MSFT"], date(2024, 1, 2), date(2024, 1, 4), catalog, **FAST)
    first_items = news_items(catalog)
    replay.reset()

    second = fetch_news(source, ["AAPL", "MSFT"], date(2024, 1, 2), date(2024, 1, 4), catalog, **FAST)

    assert second.skipped_done == 4
    assert second.items_written == 0
    assert set(replay.hits) == {
        "/v1/news?date=2024-01-04&ticker=AAPL",
        "/v1/news?date=2024-01-04&ticker=MSFT",
    }
    assert news_items(catalog) == first_items


def test_rss_feed_items_become_news_items(replay, tmp_path: Path) -> None:
    source = NewsApiSource(base_url=replay.base_url, path="/rss/news", format="rss", name="rss-feed")
    catalog = tmp_path / "catalog"

    report = fetch_news(source, ["AAPL"], date(2024, 1, 2), date(2024, 1, 2), catalog, **FAST)

    assert report.n_failed == 0
    assert (catalog / "_raw" / "rss-feed" / "AAPL-2024-01-02.xml").exists()
    items = news_items(catalog)
    assert [i.ts_event for i in items] == [ns("2024-01-02T21:05:00Z"), ns("2024-01-02T22:10:00Z")]
    assert items[0].source == "Example Markets Feed"
    assert items[0].text == "Apple shares hit record\n\nShares closed at an all-time high."
    assert items[1].url == "https://example.test/r2"


def test_fetch_source_is_the_cli_entry_point(replay, tmp_path: Path) -> None:
    stages: list = []
    config = {
        "api": {"base_url": replay.base_url},
        "tickers": ["MSFT"],
        "start": "2024-01-03",
        "end": "2024-01-03",
        "fetch": FAST,
    }

    report = fetch_source("news", catalog=tmp_path, config=config, progress=lambda *a: stages.append(a))

    assert report.items_written == 1
    assert stages == [("fetch", 1, 1)]


def test_fetch_source_rejects_bad_config(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MISSING_NEWS_KEY", raising=False)
    base = {"api": {"base_url": "http://127.0.0.1:9"}, "tickers": ["AAPL"], "start": "2024-01-02"}
    with pytest.raises(ConfigError, match="unknown source"):
        fetch_source("tweets", catalog=tmp_path, config={}, progress=None)
    with pytest.raises(ConfigError, match="end"):
        fetch_source("news", catalog=tmp_path, config=base, progress=None)
    with pytest.raises(ConfigError, match="typo"):
        fetch_source("news", catalog=tmp_path, config=base | {"end": "2024-01-02", "typo": 1}, progress=None)
    with pytest.raises(ConfigError, match="MISSING_NEWS_KEY"):
        config = base | {
            "end": "2024-01-02",
            "api": {"base_url": "http://x", "api_key_env": "MISSING_NEWS_KEY"},
        }
        fetch_source("news", catalog=tmp_path, config=config, progress=None)
    with pytest.raises(ConfigError, match="max_concurency"):
        config = base | {"end": "2024-01-02", "fetch": {"max_concurency": 2}}
        fetch_source("news", catalog=tmp_path, config=config, progress=None)
