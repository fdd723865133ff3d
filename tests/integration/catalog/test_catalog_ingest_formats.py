"""Every supported format ingests into a catalog and queries back; re-ingest is idempotent."""

import hashlib
from pathlib import Path

import pytest
from nautilus_trader.model.data import Bar, OrderBookDelta, OrderBookDepth10, QuoteTick, TradeTick
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from nautilus_ai.catalog.ingest import IngestOptions, ingest_paths
from nautilus_ai.catalog.inspect import inspect_catalog
from nautilus_ai.catalog.instruments import InstrumentSpec, load_instruments_file
from nautilus_ai.errors import ConfigError

REPO = Path(__file__).parents[3]
SHARED = Path("/work/shared/data")
BTCUSDT = {
    "kind": "crypto_spot",
    "currency": "USDT",
    "base_currency": "BTC",
    "price_precision": 2,
    "size_precision": 6,
}

CASES = [
    ("ticks_trades/btcusdt-trades.parquet", {"id": "BTCUSDT.BINANCE", **BTCUSDT}, TradeTick, 2001),
    ("ticks_quotes/btcusdt-quotes.parquet", {"id": "BTCUSDT.BINANCE", **BTCUSDT}, QuoteTick, 451),
    ("orderbook/btcusdt-depth-snap.csv", {"id": "BTCUSDT.BINANCE", **BTCUSDT}, OrderBookDelta, 101),
    (
        "orderbook/xrpusdt-ob500.data.zip",
        {
            "id": "XRPUSDT-LINEAR.BYBIT",
            "kind": "crypto_perpetual",
            "currency": "USDT",
            "base_currency": "XRP",
            "price_precision": 4,
        },
        OrderBookDelta,
        3968,
    ),
    (
        "ticks_trades/bitmex_trades_XBTUSD.csv",
        {"id": "XBTUSD.BITMEX", "kind": "crypto_perpetual", "base_currency": "BTC", "price_precision": 1},
        TradeTick,
        10,
    ),
    (
        "orderbook/binance-futures_book_snapshot_25_BTCUSDT.csv",
        {
            "id": "BTCUSDT-PERP.BINANCE",
            "kind": "crypto_perpetual",
            "currency": "USDT",
            "base_currency": "BTC",
            "price_precision": 2,
            "size_precision": 3,
        },
        OrderBookDepth10,
        10,
    ),
    (
        "ticks_trades/futures_trades_2024-07-01T23-58_2024-07-02T00-02.dbn.zst",
        {"id": "ESU4.GLBX", "kind": "future", "price_precision": 2},
        TradeTick,
        120,
    ),
    (
        "bars_intraday/futures_ohlcv-1m_2024-07-01T23-40_2024-07-02T00-10.dbn.zst",
        {"id": "ESU4.GLBX", "kind": "future", "price_precision": 2},
        Bar,
        60,
    ),
]


def tree_snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


@pytest.mark.parametrize(("name", "spec", "cls", "count"), CASES, ids=[c[0].split("/")[1] for c in CASES])
def test_supported_format_ingests_and_queries_back(
    tmp_path: Path, name: str, spec: dict, cls: type, count: int
) -> None:
    catalog_path = tmp_path / "catalog"

    report = ingest_paths([SHARED / name], catalog_path, [InstrumentSpec(**spec)], IngestOptions())

    assert report.files[0].rows_written == count
    queried = ParquetDataCatalog(str(catalog_path)).query(cls, identifiers=None)
    assert len(queried) == count
    assert {
        str(item.instrument_id if cls is not Bar else item.bar_type.instrument_id) for item in queried
    } == {spec["id"]}


@pytest.fixture(scope="module")
def demo_catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    catalog_path = tmp_path_factory.mktemp("demo") / "catalog"
    specs = load_instruments_file(REPO / "data" / "instruments.toml")
    report = ingest_paths(
        [REPO / "data" / "bars_daily" / "stocknet", REPO / "data" / "bars_intraday"],
        catalog_path,
        specs,
        IngestOptions(),
    )
    return catalog_path, report


def test_demo_data_ingests_cleanly_without_repair(demo_catalog: tuple[Path, object]) -> None:
    _, report = demo_catalog

    assert len(report.files) == 11
    assert all(r.rows_dropped == {} and r.warnings == [] for r in report.files)
    assert sum(r.rows_written for r in report.files) == 10 * 1258 + 45031


def test_stocknet_daily_bars_are_stamped_at_the_new_york_close(demo_catalog: tuple[Path, object]) -> None:
    catalog_path, _ = demo_catalog

    bars = ParquetDataCatalog(str(catalog_path)).bars(bar_types=["AAPL.XNAS-1-DAY-LAST-EXTERNAL"])

    assert len(bars) == 1258
    first = bars[0]
    assert first.ts_event == first.ts_init == 1346788800 * 10**9  # 2012-09-04 16:00 EDT
    assert str(first.close) == "96.42"  # 96.424286 rounded to the instrument's 2 decimals


def test_ftx_minute_bars_are_stamped_at_their_close(demo_catalog: tuple[Path, object]) -> None:
    catalog_path, _ = demo_catalog

    bars = ParquetDataCatalog(str(catalog_path)).bars(bar_types=["BTC-PERP.FTX-1-MINUTE-LAST-EXTERNAL"])

    assert len(bars) == 45031
    assert bars[0].ts_init == 1640991720 * 10**9  # 2021-12-31 23:01 open + 1 minute


def test_reingest_skips_every_file_and_leaves_the_catalog_unchanged(
    demo_catalog: tuple[Path, object],
) -> None:
    catalog_path, _ = demo_catalog
    before = tree_snapshot(catalog_path)
    specs = load_instruments_file(REPO / "data" / "instruments.toml")

    report = ingest_paths([REPO / "data" / "bars_daily" / "stocknet"], catalog_path, specs, IngestOptions())

    assert all(r.skipped_as_already_ingested for r in report.files)
    assert tree_snapshot(catalog_path) == before


def test_inspect_catalog_lists_instruments_types_and_series(demo_catalog: tuple[Path, object]) -> None:
    catalog_path, _ = demo_catalog

    summary = inspect_catalog(catalog_path)

    assert "AAPL.XNAS" in summary.instruments and "BTC-PERP.FTX" in summary.instruments
    assert {"bar", "equity", "crypto_perpetual"} <= set(summary.data_types)
    series = {(s.data_type, s.identifier): s for s in summary.series}
    btc = series[("bar", "BTC-PERP.FTX-1-MINUTE-LAST-EXTERNAL")]
    assert btc.rows == 45031
    assert btc.first == "2021-12-31T23:02:00+00:00" and btc.last == "2022-02-01T05:32:00+00:00"
    assert summary.to_dict()["series"][0]["rows"] > 0
    assert (
        "bar",
        "AAPL.XNAS-1-DAY-LAST-EXTERNAL",
        "2012-09-04T20:00:00+00:00",
        "2017-09-01T20:00:00+00:00",
        "1,258",
    ) in summary.rows()


def test_ingest_of_unmatched_file_raises_config_error_with_mapping_hint(tmp_path: Path) -> None:
    from nautilus_ai.errors import ConfigError

    spec = InstrumentSpec(id="AAPL.XNAS", kind="equity", files=["AAPL.csv"])

    with pytest.raises(ConfigError, match=r"files =.*--instrument-id"):
        ingest_paths(
            [REPO / "data" / "bars_daily" / "stocknet" / "MSFT.csv"], tmp_path, [spec], IngestOptions()
        )

    assert InstrumentId.from_str(spec.id).venue.value == "XNAS"


def test_changed_instrument_definition_is_refused_then_replaced_on_request(tmp_path: Path) -> None:
    csv = Path(__file__).parents[2] / "fixtures" / "catalog" / "clean_1m.csv"
    catalog = tmp_path / "catalog"
    spec = InstrumentSpec(id="TEST-PERP.SIM", kind="crypto_perpetual", base_currency="BTC", price_precision=1)
    ingest_paths([csv], catalog, [spec], IngestOptions())
    changed = spec.model_copy(update={"taker_fee": 0.0007})

    with pytest.raises(ConfigError, match=r"TEST-PERP\.SIM: taker_fee 0 -> 0\.0007.*--update-instruments"):
        ingest_paths([csv], catalog, [changed], IngestOptions())
    assert ParquetDataCatalog(str(catalog)).instruments()[0].taker_fee == 0

    report = ingest_paths([csv], catalog, [changed], IngestOptions(update_instruments=True))

    assert report.instruments_updated == ["TEST-PERP.SIM"]
    assert str(ParquetDataCatalog(str(catalog)).instruments()[0].taker_fee) == "0.0007"
    assert not list(catalog.glob(".instruments-*"))
    assert ingest_paths([csv], catalog, [changed], IngestOptions()).instruments_updated == []
