"""The StockNet tweet importer: streaming from the real archive, errors, latency, catalog idempotency."""

import io
import json
import tarfile
from datetime import timedelta
from pathlib import Path

import pytest
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from nautilus_ai import test_kit
from nautilus_ai.adapters.tweets import (
    STOCKNET_SOURCE,
    TweetImportCounts,
    read_stocknet_tweets,
    tweets_to_catalog,
)
from nautilus_ai.catalog.types import NewsItem
from nautilus_ai.errors import ConfigError, DataError

ARCHIVE = test_kit.bundled_data_dir() / "news_tweets" / "stocknet_tweets_10_tickers.tar.gz"
VENUES = {"AAPL": "XNAS", "MSFT": "XNAS"}


def tweet(text: str, created_at: str, user: str = "42") -> str:
    return json.dumps({"text": text.split(), "created_at": created_at, "user_id_str": user})


def make_archive(path: Path, files: dict[str, list[str]]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, lines in files.items():
            data = ("\n".join(lines) + "\n").encode()
            info = tarfile.TarInfo(f"tweet/preprocessed/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_real_archive_streams_msft_tweets_sorted_with_fields_mapped() -> None:
    counts = TweetImportCounts()

    items = list(read_stocknet_tweets(ARCHIVE, ["msft"], VENUES, counts=counts))

    assert len(items) == counts.items > 1000 and counts.skipped == 0
    assert {item.instrument_id for item in items} == {InstrumentId.from_str("MSFT.XNAS")}
    assert all(item.source == STOCKNET_SOURCE and item.author for item in items)
    assert [item.ts_init for item in items] == sorted(item.ts_init for item in items)
    assert all(item.ts_init == item.ts_event for item in items)  # default latency is 0 s
    assert "$ msft" in " ".join(item.text for item in items[:200])


def test_receive_latency_shifts_ts_init_only(tmp_path: Path) -> None:
    archive = make_archive(
        tmp_path / "t.tar.gz", {"AAPL/2014-01-02": [tweet("apple up", "Thu Jan 02 15:45:02 +0000 2014")]}
    )

    [item] = read_stocknet_tweets(archive, None, VENUES, receive_latency=timedelta(seconds=90))

    assert item.ts_event == 1_388_677_502_000_000_000  # 2014-01-02T15:45:02Z
    assert item.ts_init == item.ts_event + 90 * 1_000_000_000
    assert item.text == "apple up" and item.author == "42"


def test_tweets_are_sorted_per_ticker_and_tickers_stay_grouped(tmp_path: Path) -> None:
    archive = make_archive(
        tmp_path / "t.tar.gz",
        {
            "AAPL/2014-01-02": [
                tweet("later", "Thu Jan 02 18:00:00 +0000 2014"),
                tweet("earlier", "Thu Jan 02 09:00:00 +0000 2014"),
            ],
            "AAPL/2014-01-01": [tweet("first", "Wed Jan 01 10:00:00 +0000 2014")],
            "MSFT/2014-01-01": [tweet("msft", "Wed Jan 01 08:00:00 +0000 2014")],
        },
    )

    items = list(read_stocknet_tweets(archive, None, VENUES))

    assert [item.text for item in items] == ["first", "earlier", "later", "msft"]


def test_malformed_line_raises_data_error_naming_member_and_line(tmp_path: Path) -> None:
    archive = make_archive(
        tmp_path / "t.tar.gz",
        {"AAPL/2014-01-02": [tweet("ok", "Thu Jan 02 15:45:02 +0000 2014"), '{"text": ["cut off"']},
    )

    with pytest.raises(DataError) as raised:
        list(read_stocknet_tweets(archive, None, VENUES))

    assert raised.value.file == f"{archive}:tweet/preprocessed/AAPL/2014-01-02"
    assert raised.value.row == 2


def test_bad_timestamp_names_the_field(tmp_path: Path) -> None:
    archive = make_archive(tmp_path / "t.tar.gz", {"AAPL/2014-01-02": [tweet("x", "2014-01-02 15:45")]})

    with pytest.raises(DataError, match="created_at") as raised:
        list(read_stocknet_tweets(archive, None, VENUES))

    assert raised.value.field == "created_at" and raised.value.row == 1


def test_skip_mode_counts_malformed_lines(tmp_path: Path) -> None:
    archive = make_archive(
        tmp_path / "t.tar.gz",
        {
            "AAPL/2014-01-02": [
                tweet("ok", "Thu Jan 02 15:45:02 +0000 2014"),
                "not json",
                json.dumps({"text": "not a list", "created_at": "x", "user_id_str": "1"}),
                json.dumps({"text": ["no", "user"], "created_at": "Thu Jan 02 15:45:02 +0000 2014"}),
            ]
        },
    )
    counts = TweetImportCounts()

    items = list(read_stocknet_tweets(archive, None, VENUES, on_error="skip", counts=counts))

    assert [item.text for item in items] == ["ok"]
    assert counts.skipped == 3 and counts.items == 1
    assert counts.skipped_lines[0].startswith("tweet/preprocessed/AAPL/2014-01-02:2:")


def test_extracted_folder_reads_like_the_archive(tmp_path: Path) -> None:
    day = tmp_path / "tweet" / "preprocessed" / "AAPL" / "2014-01-02"
    day.parent.mkdir(parents=True)
    day.write_text(tweet("from a folder", "Thu Jan 02 15:45:02 +0000 2014") + "\n")

    [item] = read_stocknet_tweets(tmp_path, ["AAPL"], VENUES)

    assert item.text == "from a folder"


def test_ticker_without_venue_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="GOOG"):
        read_stocknet_tweets(ARCHIVE, ["GOOG"], VENUES)


def test_catalog_write_is_idempotent(tmp_path: Path) -> None:
    items = list(read_stocknet_tweets(ARCHIVE, ["MSFT"], VENUES))[:300]
    catalog_path = tmp_path / "catalog"

    first = tweets_to_catalog(items, catalog_path)
    second = tweets_to_catalog(reversed(items), catalog_path)
    stored = [entry.data for entry in ParquetDataCatalog(str(catalog_path)).query(NewsItem)]

    assert (first, second) == (300, 0)
    assert stored == items
