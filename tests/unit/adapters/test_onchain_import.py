"""Importing the bundled blockchain.info CSV as point-in-time OnChainMetric objects."""

from pathlib import Path

import pandas as pd
import pytest
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from nautilus_ai.adapters.news_api import fetch_source
from nautilus_ai.adapters.onchain import onchain_to_catalog, read_onchain_csv, read_onchain_table
from nautilus_ai.catalog.types import OnChainMetric
from nautilus_ai.errors import ConfigError, DataError

BUNDLED = Path(__file__).parents[3] / "data" / "onchain" / "bitcoin_dataset.csv"
DAY_NS = 86_400 * 1_000_000_000
TWO = ["btc_n_unique_addresses", "btc_hash_rate"]


def ns(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").value)


def write_csv(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "onchain.csv"
    path.write_text("Date,btc_hash_rate,btc_n_transactions\n" + "\n".join(rows) + "\n")
    return path


def test_a_day_is_stamped_at_its_close_and_known_one_lag_later() -> None:
    metrics = read_onchain_csv(BUNDLED, metrics=TWO)

    first = [m for m in metrics if m.ts_event == ns("2010-02-18")]
    assert {m.metric: m.value for m in first} == {"btc_n_unique_addresses": 241.0, "btc_hash_rate": 2.92e-05}
    assert all(m.ts_init == m.ts_event + DAY_NS for m in metrics)
    assert str(metrics[0].instrument_id) == "BTCUSD.ONCHAIN"
    assert metrics[0].source == "blockchain.info"
    assert [m.ts_init for m in metrics] == sorted(m.ts_init for m in metrics)
    assert max(m.ts_event for m in metrics) == ns("2018-02-01")


def test_blank_cells_are_skipped_and_counted_per_metric() -> None:
    table = read_onchain_table(BUNDLED)
    frame = pd.read_csv(BUNDLED)

    expected_blanks = frame.drop(columns="Date").isna().sum().to_dict()
    assert table.skipped == expected_blanks
    assert sum(expected_blanks.values()) > 0
    assert table.rows == len(frame)
    assert len(table.metrics) == frame.drop(columns="Date").notna().sum().sum()


def test_publication_lag_is_configurable() -> None:
    same_day = read_onchain_csv(BUNDLED, metrics=["btc_hash_rate"], publication_lag="0D")
    six_hours = read_onchain_csv(BUNDLED, metrics=["btc_hash_rate"], publication_lag="6h")

    assert all(m.ts_init == m.ts_event for m in same_day)
    assert all(m.ts_init == m.ts_event + 6 * 3600 * 10**9 for m in six_hours)


def test_a_non_numeric_value_names_file_row_and_field(tmp_path: Path) -> None:
    path = write_csv(tmp_path, ["1/1/2018 0:00,1.5,10", "1/2/2018 0:00,n/a,11"])

    with pytest.raises(DataError) as caught:
        read_onchain_csv(path)

    assert (caught.value.file, caught.value.row, caught.value.field) == (str(path), 2, "btc_hash_rate")
    assert "n/a" in str(caught.value)


def test_nan_and_blank_values_are_skipped(tmp_path: Path) -> None:
    path = write_csv(tmp_path, ["1/1/2018 0:00,NaN,10", "1/2/2018 0:00,,11", "1/3/2018 0:00,2.5,"])

    table = read_onchain_table(path)

    assert table.skipped == {"btc_hash_rate": 2, "btc_n_transactions": 1}
    assert [(m.metric, m.value) for m in table.metrics] == [
        ("btc_n_transactions", 10.0),
        ("btc_n_transactions", 11.0),
        ("btc_hash_rate", 2.5),
    ]


def test_bad_dates_unknown_metrics_and_bad_lags_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="field 'Date'"):
        read_onchain_csv(write_csv(tmp_path, ["2018-13-45,1,1"]))
    with pytest.raises(DataError, match="appears twice"):
        read_onchain_csv(write_csv(tmp_path, ["1/1/2018 0:00,1,1", "1/1/2018 0:00,1,1"]))
    with pytest.raises(ConfigError, match="unknown metric"):
        read_onchain_csv(BUNDLED, metrics=["btc_hashrate"])
    with pytest.raises(ConfigError, match="non-negative"):
        read_onchain_csv(BUNDLED, metrics=TWO, publication_lag="-1D")


def test_importing_into_a_catalog_twice_writes_once(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    expected = read_onchain_csv(BUNDLED, metrics=["btc_hash_rate"])

    first = onchain_to_catalog(BUNDLED, catalog, metrics=["btc_hash_rate"])
    second = onchain_to_catalog(BUNDLED, catalog, metrics=["btc_hash_rate"])

    stored = [w.data for w in ParquetDataCatalog(str(catalog)).query(OnChainMetric)]
    assert first.items_written == len(stored) == len(expected)
    assert second.skipped_as_already_ingested and second.items_written == 0
    assert [(m.ts_event, m.ts_init, m.value) for m in stored] == [
        (m.ts_event, m.ts_init, m.value) for m in expected
    ]


def test_fetch_source_imports_onchain_once(tmp_path: Path) -> None:
    config = {"path": str(BUNDLED), "metrics": ["btc_hash_rate"]}

    first = fetch_source("onchain", catalog=tmp_path, config=config, progress=None)
    second = fetch_source("onchain", catalog=tmp_path, config=config, progress=None)

    assert first.items_written > 2000
    assert second.skipped_done == 1 and second.items_written == 0
