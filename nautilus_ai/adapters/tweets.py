"""Import the StockNet tweet corpus as :class:`~nautilus_ai.catalog.types.NewsItem` objects.

The StockNet dataset (Xu & Cohen, 2018) ships its tweets as ``tweet/preprocessed/<TICKER>/<YYYY-MM-DD>``
files of JSON lines ``{"text": [tokens...], "created_at": "Thu Jan 02 15:45:02 +0000 2014",
"user_id_str": "..."}``. :func:`read_stocknet_tweets` streams them straight out of the ``.tar.gz`` (nothing
is extracted to disk) or out of an extracted folder, and :func:`tweets_to_catalog` writes them to a
``ParquetDataCatalog`` once.

Point-in-time (ARCHITECTURE rule 2): ``ts_event`` is the tweet's ``created_at``; ``ts_init`` is
``ts_event + receive_latency``, the time nautilus-ai is assumed to have *known* the tweet. The default
latency is 0 s because the corpus records no receive time; set a positive latency to model a feed or a
scraping delay. Consumers align on ``ts_init``.

Scores: ``nautilus-ai catalog score`` (``score_catalog_news`` in
:mod:`nautilus_ai.adapters.sentiment.catalog_scoring`) stores one ``SentimentScore`` per imported tweet
beside the ``NewsItem`` files, with the tweet's times.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, Literal

from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from nautilus_ai.catalog.atomic import atomic_write_text
from nautilus_ai.catalog.types import NewsItem
from nautilus_ai.errors import ConfigError, DataError

STOCKNET_SOURCE = "stocknet-twitter"
"""The ``NewsItem.source`` of every imported tweet."""

CREATED_AT_FORMAT = "%a %b %d %H:%M:%S %z %Y"
"""The ``strptime`` format of a tweet's ``created_at`` (``Thu Jan 02 15:45:02 +0000 2014``)."""

NEWS_MANIFEST_PATH = Path("_nautilus_ai") / "news_manifest.json"
"""Where :func:`tweets_to_catalog` records the batches already written, relative to the catalog root."""

_NS_PER_SECOND = 1_000_000_000


@dataclass
class TweetImportCounts:
    """What :func:`read_stocknet_tweets` read: filled in while the iterator is consumed.

    Attributes
    ----------
    members : int
        The day files read.
    items : int
        The tweets yielded.
    skipped : int
        The malformed lines skipped (``on_error="skip"`` only).
    skipped_lines : list[str]
        ``"<member>:<line>: <reason>"`` for each skipped line.

    """

    members: int = 0
    items: int = 0
    skipped: int = 0
    skipped_lines: list[str] = field(default_factory=list)


def read_stocknet_tweets(
    archive_or_dir: Path,
    tickers: Sequence[str] | None,
    venue_map: Mapping[str, str],
    *,
    receive_latency: timedelta = timedelta(0),
    on_error: Literal["raise", "skip"] = "raise",
    counts: TweetImportCounts | None = None,
) -> Iterator[NewsItem]:
    """Stream the StockNet tweets of ``tickers`` as ``NewsItem`` objects, sorted by ``ts_init`` per ticker.

    Parameters
    ----------
    archive_or_dir : Path
        A ``.tar.gz``/``.tar`` of ``tweet/preprocessed/<TICKER>/<YYYY-MM-DD>`` files, or a folder holding
        the ticker folders (or ``tweet/preprocessed`` or ``preprocessed`` above them).
    tickers : Sequence[str], optional
        The tickers to import (case-insensitive); None imports every ticker found.
    venue_map : Mapping[str, str]
        Ticker -> venue of the instrument id (``{"AAPL": "XNAS"}`` gives ``AAPL.XNAS``).
    receive_latency : timedelta, default 0 s
        Added to ``created_at`` to give ``ts_init`` (the corpus records no receive time).
    on_error : {"raise", "skip"}, default "raise"
        What to do with a malformed line: raise :class:`DataError`, or skip it and count it in ``counts``.
    counts : TweetImportCounts, optional
        Filled in with the members read, items yielded and lines skipped as the iterator is consumed.

    Yields
    ------
    NewsItem
        One tweet: ``text`` is its tokens joined by spaces, ``author`` its ``user_id_str``, ``source``
        ``"stocknet-twitter"``. All of one ticker's tweets come before the next ticker's, in
        ``(ts_init, author, text)`` order.

    Raises
    ------
    ConfigError
        If a ticker has no venue in ``venue_map``, the latency is negative, ``on_error`` is unknown or the
        path does not exist.
    DataError
        If a line is malformed (with ``on_error="raise"``; the error names the archive member and the
        1-based line number), or the archive is not grouped by ticker.

    """
    path = Path(archive_or_dir)
    if not path.exists():
        raise ConfigError(f"StockNet tweets: {path} does not exist; pass the .tar.gz or its extracted folder")
    if receive_latency < timedelta(0):
        raise ConfigError(f"StockNet tweets: receive_latency must be >= 0, was {receive_latency}")
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"StockNet tweets: on_error must be 'raise' or 'skip', was {on_error!r}")
    venues = {ticker.upper(): venue for ticker, venue in venue_map.items()}
    wanted = None if tickers is None else {t.upper() for t in tickers}
    if wanted is not None and (missing := sorted(wanted - venues.keys())):
        raise ConfigError(f"StockNet tweets: no venue for ticker(s) {missing} in venue_map; add them")
    return _read(
        path,
        wanted,
        venues,
        _latency_ns(receive_latency),
        on_error,
        counts if counts is not None else TweetImportCounts(),
    )


def tweets_to_catalog(items: Iterable[NewsItem], catalog_path: Path) -> int:
    """Write ``items`` to the ``ParquetDataCatalog`` at ``catalog_path`` unless they are already there.

    The batch is fingerprinted (sha256 over every item's instrument, times, author, source and text, in
    ``ts_init`` order) and recorded in ``<catalog>/_nautilus_ai/news_manifest.json`` (written atomically)
    after the write; a batch whose fingerprint is in the manifest is skipped, so writing twice changes
    nothing.

    Parameters
    ----------
    items : Iterable[NewsItem]
        The items to write (any order; they are sorted by ``ts_init``).
    catalog_path : Path
        The catalog root (created when missing).

    Returns
    -------
    int
        The number of items written (0 when the batch was already in the catalog or empty).

    """
    ordered = sorted(items, key=_sort_key)
    if not ordered:
        return 0
    catalog_path = Path(catalog_path)
    digest = hashlib.sha256()
    for item in ordered:
        digest.update(
            json.dumps(
                [str(item.instrument_id), item.ts_event, item.ts_init, item.source, item.author, item.text]
            ).encode("utf-8")
        )
    fingerprint = digest.hexdigest()
    manifest_path = catalog_path / NEWS_MANIFEST_PATH
    manifest: dict[str, Any] = (
        json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {"batches": {}}
    )
    if fingerprint in manifest["batches"]:
        return 0
    catalog_path.mkdir(parents=True, exist_ok=True)
    ParquetDataCatalog(str(catalog_path)).write_data(ordered)
    manifest["batches"][fingerprint] = {
        "items": len(ordered),
        "start_ns": ordered[0].ts_init,
        "end_ns": ordered[-1].ts_init,
        "instruments": sorted({str(item.instrument_id) for item in ordered}),
    }
    atomic_write_text(manifest_path, json.dumps(manifest, indent=2, sort_keys=True))
    return len(ordered)


def _latency_ns(latency: timedelta) -> int:
    return (latency.days * 86_400 + latency.seconds) * _NS_PER_SECOND + latency.microseconds * 1_000


def _sort_key(item: NewsItem) -> tuple[int, int, str, str]:
    return item.ts_init, item.ts_event, item.author, item.text


def _read(
    path: Path,
    wanted: set[str] | None,
    venues: Mapping[str, str],
    latency_ns: int,
    on_error: str,
    counts: TweetImportCounts,
) -> Iterator[NewsItem]:
    current: str | None = None
    finished: set[str] = set()
    buffer: list[NewsItem] = []
    for ticker, member, stream in _members(path):
        ticker = ticker.upper()
        if wanted is not None and ticker not in wanted:
            continue
        if ticker != current:
            if ticker in finished:
                raise DataError(
                    f"the archive is not grouped by ticker ({ticker} appears again after other tickers)",
                    file=f"{path}:{member}",
                )
            if current is not None:
                finished.add(current)
                yield from _flush(buffer, counts)
            current = ticker
            if ticker not in venues:
                raise ConfigError(f"StockNet tweets: no venue for ticker {ticker!r} in venue_map; add it")
        instrument_id = InstrumentId.from_str(f"{ticker}.{venues[ticker]}")
        counts.members += 1
        for line_number, raw in enumerate(stream, start=1):
            line = raw.decode("utf-8", errors="replace").strip() if isinstance(raw, bytes) else raw.strip()
            if not line:
                continue
            try:
                buffer.append(_parse_line(line, instrument_id, latency_ns))
            except _LineError as error:
                if on_error == "raise":
                    raise DataError(
                        error.message, file=f"{path}:{member}", row=line_number, field=error.field
                    ) from None
                counts.skipped += 1
                counts.skipped_lines.append(f"{member}:{line_number}: {error.message}")
    yield from _flush(buffer, counts)


def _flush(buffer: list[NewsItem], counts: TweetImportCounts) -> Iterator[NewsItem]:
    buffer.sort(key=_sort_key)
    counts.items += len(buffer)
    yield from buffer
    buffer.clear()


def _members(path: Path) -> Iterator[tuple[str, str, IO[bytes]]]:
    """Yield ``(ticker, member name, line stream)`` for every day file, in archive (or sorted) order."""
    if path.is_dir():
        root = next((p for p in (path / "tweet" / "preprocessed", path / "preprocessed") if p.is_dir()), path)
        for file in sorted(p for p in root.glob("*/*") if p.is_file()):
            with file.open("rb") as stream:
                yield file.parent.name, str(file.relative_to(path)), stream
        return
    with tarfile.open(path, mode="r|*") as archive:  # streaming mode: members are read in order, once
        for member in archive:
            if not member.isfile():
                continue
            parts = Path(member.name).parts
            if len(parts) < 2 or parts[-1].startswith("."):
                continue
            member_stream = archive.extractfile(member)
            if member_stream is not None:
                yield parts[-2], member.name, member_stream


class _LineError(Exception):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _parse_line(line: str, instrument_id: InstrumentId, latency_ns: int) -> NewsItem:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise _LineError(f"not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(record, dict):
        raise _LineError(f"expected a JSON object, got {type(record).__name__}")
    tokens = record.get("text")
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise _LineError("expected a list of token strings", field="text")
    created_at = record.get("created_at")
    if not isinstance(created_at, str):
        raise _LineError("missing or not a string", field="created_at")
    try:
        published = datetime.strptime(created_at, CREATED_AT_FORMAT)
    except ValueError:
        raise _LineError(
            f"{created_at!r} does not match 'Thu Jan 02 15:45:02 +0000 2014'", field="created_at"
        ) from None
    author = record.get("user_id_str")
    if not isinstance(author, str):
        raise _LineError("missing or not a string", field="user_id_str")
    ts_event = int(published.timestamp()) * _NS_PER_SECOND
    return NewsItem(
        instrument_id=instrument_id,
        source=STOCKNET_SOURCE,
        text=" ".join(tokens),
        author=author,
        url="",
        ts_event=ts_event,
        ts_init=ts_event + latency_ns,
    )
