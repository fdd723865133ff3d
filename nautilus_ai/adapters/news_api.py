"""A generic news API client (JSON or RSS 2.0) that fetches :class:`NewsItem` objects into a catalog.

:class:`NewsApiSource` describes the API; it builds one :class:`RequestSpec` per (ticker, day) and
parses either

* JSON ``{"articles": [{"title", "body", "published_at", "source", "url", "tickers", "author"}]}``
  (``title`` and ``published_at`` required), or
* RSS 2.0 ``<rss><channel><item><title/><description/><pubDate/><link/></item>...``
  (``title`` and ``pubDate`` required),

into ``NewsItem`` objects for the requested ticker: ``ts_event`` is the publication time and
``ts_init`` the time the response was received (point in time: a backtest sees an article only
once nautilus-ai could have read it). :func:`fetch_news` runs the fetch through
:func:`~nautilus_ai.adapters.http_ingest.run_fetch` and writes each response's items into a
``ParquetDataCatalog``; :func:`fetch_source` is the CLI's entry point.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import date, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pydantic
from nautilus_trader.core.data import Data
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from nautilus_ai.adapters.http_ingest import FetchJob, FetchReport, Progress, RequestSpec, fetch
from nautilus_ai.adapters.onchain import onchain_to_catalog
from nautilus_ai.catalog.types import NewsItem
from nautilus_ai.errors import ConfigError, DataError

RAW_ROOT = Path("_raw")
CHECKPOINT_ROOT = Path("_nautilus_ai") / "fetch"


class NewsApiSource(pydantic.BaseModel, extra="forbid", frozen=True):
    """A JSON or RSS news API queried per ticker and day.

    Parameters
    ----------
    base_url : str
        The API's scheme and host.
    api_key_env : str, optional
        The environment variable holding the API key (sent in ``api_key_header``); ``None`` for an
        open API. The key is read when the job is built and is never written to disk.
    path : str
        The endpoint path.
    params : dict[str, str]
        Extra query parameters sent with every request.
    format : {"json", "rss"}
        The response format.
    name : str
        The source name (report, raw directory and checkpoint names).
    ticker_param : str
        The query parameter carrying the ticker.
    date_param : str
        The query parameter carrying the day (``YYYY-MM-DD``).
    api_key_header : str
        The header carrying the API key.
    venues : dict[str, str]
        Ticker -> venue of the ``InstrumentId`` (``AAPL`` -> ``XNAS`` gives ``AAPL.XNAS``).
    default_venue : str
        The venue of tickers missing from ``venues``.

    """

    base_url: str
    api_key_env: str | None = None
    path: str = "/v1/news"
    params: dict[str, str] = {}
    format: Literal["json", "rss"] = "json"
    name: str = pydantic.Field(default="news", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    ticker_param: str = "ticker"
    date_param: str = "date"
    api_key_header: str = "X-Api-Key"
    venues: dict[str, str] = {}
    default_venue: str = "XNAS"

    def instrument_id(self, ticker: str) -> InstrumentId:
        """Return the instrument id of ``ticker`` (its venue from ``venues`` or ``default_venue``)."""
        return InstrumentId.from_str(f"{ticker}.{self.venues.get(ticker, self.default_venue)}")

    def headers(self) -> dict[str, str]:
        """Return the request headers (the API key read from ``api_key_env``).

        Raises
        ------
        ConfigError
            If ``api_key_env`` is set but the variable is missing or empty.

        """
        if self.api_key_env is None:
            return {}
        key = os.environ.get(self.api_key_env, "")
        if not key:
            raise ConfigError(
                f"news source {self.name!r}: environment variable {self.api_key_env} (the API key) is not set"
            )
        return {self.api_key_header: key}

    def requests(self, tickers: Sequence[str], start: date, end: date) -> list[RequestSpec]:
        """Return one request per (ticker, day) for the days from ``start`` to ``end`` inclusive."""
        if end < start:
            raise ConfigError(f"news fetch: end {end} is before start {start}")
        if not tickers:
            raise ConfigError("news fetch: no tickers given")
        specs = []
        for ticker in tickers:
            self.instrument_id(ticker)  # fail early on a ticker that makes no instrument id
            day = start
            while day <= end:
                iso = day.isoformat()
                specs.append(
                    RequestSpec(
                        key=f"{ticker}-{iso}",
                        path=self.path,
                        params={**self.params, self.ticker_param: ticker, self.date_param: iso},
                        meta={"ticker": ticker, "day": iso},
                    )
                )
                day += timedelta(days=1)
        return specs

    def parse(self, body: bytes, request: RequestSpec) -> list[Data]:
        """Parse one response body into ``NewsItem`` objects for the request's ticker.

        Raises
        ------
        DataError
            If the body is not valid JSON/XML (a truncated body included) or an article lacks a
            required field or has an unreadable timestamp.

        """
        if self.format == "rss":
            return list(parse_rss(body, request, self.instrument_id(request.meta["ticker"]), self.name))
        return list(parse_json_articles(body, request, self.instrument_id(request.meta["ticker"]), self.name))


def _timestamp_ns(value: Any, field: str) -> int:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as error:
        raise DataError(f"unreadable timestamp {value!r} ({error})", field=field) from None
    if pd.isna(stamp):
        raise DataError(f"unreadable timestamp {value!r}", field=field)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value)


def parse_json_articles(
    body: bytes, request: RequestSpec, instrument_id: InstrumentId, default_source: str
) -> list[NewsItem]:
    """Parse a JSON ``{"articles": [...]}`` body into ``NewsItem`` objects (``ts_init`` = receive time)."""
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"malformed or truncated JSON ({error})", field="body") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("articles"), list):
        raise DataError("expected an object with an 'articles' list", field="articles")
    items = []
    for index, article in enumerate(payload["articles"]):
        where = f"articles[{index}]"
        if not isinstance(article, dict):
            raise DataError("expected an object", field=where)
        for required in ("title", "published_at"):
            if article.get(required) in (None, ""):
                raise DataError("required field missing", field=f"{where}.{required}")
        title = str(article["title"]).strip()
        text_body = str(article.get("body") or "").strip()
        items.append(
            NewsItem(
                instrument_id=instrument_id,
                source=str(article.get("source") or default_source),
                text=f"{title}\n\n{text_body}" if text_body else title,
                author=str(article.get("author") or ""),
                url=str(article.get("url") or ""),
                ts_event=_timestamp_ns(article["published_at"], f"{where}.published_at"),
                ts_init=request.received_ns,
            )
        )
    return items


def parse_rss(
    body: bytes, request: RequestSpec, instrument_id: InstrumentId, default_source: str
) -> list[NewsItem]:
    """Parse an RSS 2.0 feed into ``NewsItem`` objects (``ts_init`` = receive time)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as error:
        raise DataError(f"malformed or truncated XML ({error})", field="body") from None
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise DataError(f"expected <rss><channel>, found <{root.tag}>", field="channel")
    source = (channel.findtext("title") or "").strip() or default_source
    items = []
    for index, item in enumerate(channel.findall("item")):
        where = f"item[{index}]"
        title = (item.findtext("title") or "").strip()
        published = (item.findtext("pubDate") or "").strip()
        if not title:
            raise DataError("required field missing", field=f"{where}.title")
        if not published:
            raise DataError("required field missing", field=f"{where}.pubDate")
        try:
            when = parsedate_to_datetime(published)
        except (TypeError, ValueError, IndexError):
            raise DataError(f"unreadable RFC 2822 date {published!r}", field=f"{where}.pubDate") from None
        description = (item.findtext("description") or "").strip()
        items.append(
            NewsItem(
                instrument_id=instrument_id,
                source=source,
                text=f"{title}\n\n{description}" if description else title,
                author=(item.findtext("author") or "").strip(),
                url=(item.findtext("link") or "").strip(),
                ts_event=_timestamp_ns(when, f"{where}.pubDate"),
                ts_init=request.received_ns,
            )
        )
    return items


def catalog_sink(catalog_path: Path) -> Any:
    """Return a sink that writes one response's items into the catalog at ``catalog_path``.

    Items are sorted by ``ts_init`` (all of one response share its receive time, so each write is
    a single-instant interval and never overlaps an earlier one).
    """
    catalog_path = Path(catalog_path)
    catalog_path.mkdir(parents=True, exist_ok=True)
    catalog = ParquetDataCatalog(str(catalog_path))

    def sink(items: list[Data]) -> None:
        catalog.write_data(sorted(items, key=lambda item: (item.ts_init, item.ts_event)))

    return sink


def news_job(source: NewsApiSource, catalog_path: Path, **options: Any) -> FetchJob:
    """Return the fetch job of ``source`` with raw bodies and checkpoint under the catalog.

    Raw bodies go to ``<catalog>/_raw/<name>/``, the checkpoint to
    ``<catalog>/_nautilus_ai/fetch/<name>.checkpoint.json``; ``options`` set other ``FetchJob`` fields.
    """
    catalog_path = Path(catalog_path)
    fields: dict[str, Any] = {
        "source": source.name,
        "base_url": source.base_url,
        "raw_dir": catalog_path / RAW_ROOT / source.name,
        "checkpoint_path": catalog_path / CHECKPOINT_ROOT / f"{source.name}.checkpoint.json",
        "raw_suffix": ".xml" if source.format == "rss" else ".json",
        "headers": source.headers(),
        **options,
    }
    try:
        return FetchJob(**fields)
    except pydantic.ValidationError as error:
        raise ConfigError(f"news fetch options: {_describe(error)}") from None


def fetch_news(
    source: NewsApiSource,
    tickers: Sequence[str],
    start: date,
    end: date,
    catalog_path: Path,
    progress: Progress | None = None,
    **options: Any,
) -> FetchReport:
    """Fetch ``source``'s news for every (ticker, day) into the catalog at ``catalog_path``.

    ``options`` are ``FetchJob`` fields (``max_concurrency``, ``requests_per_second``,
    ``max_retries``...). A rerun skips the (ticker, day) pairs already written.
    """
    job = news_job(source, catalog_path, **options)
    return fetch(
        job, source.requests(tickers, start, end), source.parse, catalog_sink(catalog_path), progress
    )


class NewsFetchConfig(pydantic.BaseModel, extra="forbid", frozen=True):
    """The ``config`` of :func:`fetch_source` for ``source="news"``.

    Parameters
    ----------
    api : NewsApiSource
        The API description.
    tickers : list[str]
        The tickers to fetch.
    start, end : date
        The first and last day (inclusive).
    fetch : dict[str, Any]
        ``FetchJob`` options (``max_concurrency``, ``requests_per_second``, ``max_retries``,
        ``backoff_base_s``, ``backoff_max_s``, ``timeout_s``, ``seed``...).

    """

    api: NewsApiSource
    tickers: list[str] = pydantic.Field(min_length=1)
    start: date
    end: date
    fetch: dict[str, Any] = {}


class OnChainFetchConfig(pydantic.BaseModel, extra="forbid", frozen=True):
    """The ``config`` of :func:`fetch_source` for ``source="onchain"`` (a blockchain.info-style CSV).

    Parameters
    ----------
    path : Path
        The CSV file.
    instrument_id : str
        The instrument the metrics are stored under.
    metrics : list[str], optional
        The columns to import (all but ``Date`` when omitted).
    publication_lag : str
        The delay after the day's close before the value counts as known (pandas Timedelta text).

    """

    path: Path
    instrument_id: str = "BTCUSD.ONCHAIN"
    metrics: list[str] | None = None
    publication_lag: str = "1D"


SOURCES = ("news", "onchain", "glassnode")


def _describe(error: pydantic.ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in e['loc']) or '(root)'}: {e['msg']}" for e in error.errors()
    )


def fetch_source(
    source: str,
    *,
    catalog: Path,
    config: dict[str, Any],
    progress: Progress | None = None,
) -> FetchReport:
    """Fetch one configured alternative-data source into a catalog (the CLI's entry point).

    Parameters
    ----------
    source : {"news", "onchain", "glassnode"}
        ``news``: a JSON/RSS news API (``config`` is a :class:`NewsFetchConfig` as a dict, for
        example ``{"api": {"base_url": ..., "api_key_env": "NEWS_API_KEY", "format": "json"},
        "tickers": ["AAPL"], "start": "2024-01-02", "end": "2024-01-05", "fetch": {...}}``).
        ``onchain``: a blockchain.info-style CSV (``config`` is an :class:`OnChainFetchConfig`).
        ``glassnode``: a Glassnode-compatible metrics API (``config`` is a
        :class:`~nautilus_ai.adapters.glassnode.GlassnodeFetchConfig` as a dict: ``base_url``,
        ``metrics``, ``since``, ``until`` and optional ``api_key_env``, ``asset``, ``resolution``,
        ``instrument_id``, ``fetch``).
    catalog : Path
        The catalog root (created when missing).
    config : dict
        The source's settings; unknown keys are errors.
    progress : callable, optional
        Called as ``progress(stage, done, total)``.

    Returns
    -------
    FetchReport
        What was fetched, skipped, retried, failed and written.

    Raises
    ------
    ConfigError
        On an unknown source, a bad config, or a missing API key variable.
    DataError
        On a malformed on-chain file.

    """
    catalog = Path(catalog)
    if source == "news":
        try:
            news = NewsFetchConfig(**config)
        except pydantic.ValidationError as error:
            raise ConfigError(f"news source config: {_describe(error)}") from None
        return fetch_news(news.api, news.tickers, news.start, news.end, catalog, progress, **news.fetch)
    if source == "onchain":
        try:
            onchain = OnChainFetchConfig(**config)
        except pydantic.ValidationError as error:
            raise ConfigError(f"onchain source config: {_describe(error)}") from None
        if progress is not None:
            progress("onchain", 0, 1)
        result = onchain_to_catalog(
            onchain.path,
            catalog,
            instrument_id=onchain.instrument_id,
            metrics=onchain.metrics,
            publication_lag=onchain.publication_lag,
        )
        if progress is not None:
            progress("onchain", 1, 1)
        report = FetchReport("onchain", requested=1, raw_dir=str(onchain.path))
        if result.skipped_as_already_ingested:
            report.skipped_done = 1
        else:
            report.fetched = 1
            report.items_written = result.items_written
        return report
    if source == "glassnode":
        from nautilus_ai.adapters.glassnode import glassnode_from_config  # glassnode imports this module

        return glassnode_from_config(config, catalog, progress)
    raise ConfigError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
