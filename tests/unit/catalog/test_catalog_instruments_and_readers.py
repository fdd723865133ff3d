"""Instruments file parsing, column auto-detect, timestamp conventions and precision rounding."""

from pathlib import Path

import pandas as pd
import pytest
from nautilus_trader.model.instruments import CryptoPerpetual, CurrencyPair, Equity, FuturesContract

from nautilus_ai.catalog.instruments import InstrumentSpec, load_instruments_file, match_instrument
from nautilus_ai.catalog.readers import bar_close_times, bar_interval, map_columns, read_table
from nautilus_ai.errors import ConfigError

REPO = Path(__file__).parents[3]


def test_bundled_instruments_file_parses_and_builds_every_instrument() -> None:
    specs = load_instruments_file(REPO / "data" / "instruments.toml")

    assert len(specs) == 12
    assert isinstance(specs[0].to_nautilus(), Equity)
    btc = next(s for s in specs if s.id == "BTC-PERP.FTX").to_nautilus()
    assert isinstance(btc, CryptoPerpetual) and btc.price_precision == 1


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("not toml [[", "not valid TOML"),
        ("[other]\nx = 1\n", "[[instruments]]"),
        ('[[instruments]]\nid = "AAPL.XNAS"\nkind = "bond"\n', "field 'kind'"),
        ('[[instruments]]\nid = "AAPL.XNAS"\nkind = "equity"\ncolour = "red"\n', "field 'colour'"),
        ('[[instruments]]\nid = "EUR/USD.SIM"\nkind = "fx"\n', "base_currency"),
        ('[[instruments]]\nid = "A.X"\nkind = "equity"\nsession_close = "4pm"\n', "field 'session_close'"),
        (
            '[[instruments]]\nid = "A.X"\nkind = "equity"\n[[instruments]]\nid = "A.X"\nkind = "equity"\n',
            "more than once",
        ),
    ],
)
def test_bad_instruments_file_raises_config_error_naming_file_and_field(
    tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)

    with pytest.raises(ConfigError) as caught:
        load_instruments_file(path)

    assert str(path) in str(caught.value) and needle in str(caught.value)


def test_spec_kinds_build_matching_nautilus_instruments() -> None:
    fx = InstrumentSpec(
        id="GBP/USD.FXCM", kind="fx", base_currency="GBP", price_precision=5, size_precision=0
    )
    fut = InstrumentSpec(id="ESU4.GLBX", kind="future", multiplier=50, expiration="2024-09-20")

    assert isinstance(fx.to_nautilus(), CurrencyPair)
    future = fut.to_nautilus()
    assert (
        isinstance(future, FuturesContract)
        and future.expiration_ns == pd.Timestamp("2024-09-20", tz="UTC").value
    )


def test_match_instrument_uses_globs_and_a_lone_catch_all_spec() -> None:
    aapl = InstrumentSpec(id="AAPL.XNAS", kind="equity", files=["AAPL*.csv"])
    catch_all = InstrumentSpec(id="X.SIM", kind="equity")

    assert match_instrument([aapl], Path("/d/AAPL_2020.csv")) is aapl
    assert match_instrument([aapl], Path("/d/MSFT.csv")) is None
    assert match_instrument([catch_all], Path("/d/anything.parquet")) is catch_all


def test_yahoo_columns_are_detected_case_insensitively_and_adj_close_ignored() -> None:
    mapping = map_columns(["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"], {}, Path("f.csv"))

    assert mapping == {
        "timestamp": "Date",
        "open": "Open",
        "high": "High",
        "low": "Low",
        "close": "Close",
        "volume": "Volume",
    }


def test_column_map_overrides_auto_detection(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("when,px,amt\n2022-01-01 00:00:00,10.5,2\n")

    table = read_table(path, "UTC", "auto", {"when": "timestamp", "px": "price", "amt": "quantity"})

    assert table.kind == "trades"
    assert table.frame.loc[0, "price"] == 10.5 and table.source_field("price") == "px"


def test_unknown_columns_raise_config_error_with_column_map_hint(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")

    with pytest.raises(ConfigError, match="column-map"):
        read_table(path, "UTC")


def test_bar_open_stamps_are_shifted_to_the_bar_close(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n2022-01-01 00:00:00,1,1,1,1,1\n2022-01-01 00:05:00,1,1,1,1,1\n"
    )
    spec = InstrumentSpec(id="X.SIM", kind="equity", timestamp="open")
    table = read_table(path, "UTC")

    bar_spec, interval = bar_interval(spec, table.frame["ts"])
    closes = bar_close_times(table.frame["ts"], spec, interval, table.date_only, "UTC")

    assert bar_spec == "5-MINUTE-LAST"
    assert closes.iloc[0] == pd.Timestamp("2022-01-01 00:05", tz="UTC")


def test_close_stamps_in_a_local_timezone_are_converted_to_utc_unshifted(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(
        "time,open,high,low,close,volume\n2022-07-01 10:00:00,1,1,1,1,1\n2022-07-01 10:01:00,1,1,1,1,1\n"
    )
    spec = InstrumentSpec(id="X.SIM", kind="equity", timestamp="close", bar_spec="1-MINUTE-LAST")
    table = read_table(path, "America/New_York")

    _, interval = bar_interval(spec, table.frame["ts"])
    closes = bar_close_times(table.frame["ts"], spec, interval, table.date_only, "America/New_York")

    assert closes.iloc[0] == pd.Timestamp("2022-07-01 14:00", tz="UTC")


def test_daily_date_stamps_get_the_session_close_in_local_time(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("Date,Open,High,Low,Close,Volume\n2015-01-02,1,1,1,1,1\n2015-07-02,1,1,1,1,1\n")
    spec = InstrumentSpec(
        id="X.SIM", kind="equity", bar_spec="1-DAY-LAST", session_close="16:00", timezone="America/New_York"
    )
    table = read_table(path, spec.timezone)

    closes = bar_close_times(table.frame["ts"], spec, pd.Timedelta(days=1), table.date_only, spec.timezone)

    assert table.date_only
    assert list(closes) == [
        pd.Timestamp("2015-01-02 21:00", tz="UTC"),
        pd.Timestamp("2015-07-02 20:00", tz="UTC"),
    ]


def test_prices_are_rounded_to_precision_before_ohlc_checks(tmp_path: Path) -> None:
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    from nautilus_ai.catalog.ingest import IngestOptions, ingest_paths

    path = tmp_path / "d.csv"
    # high 10.004 < close 10.0049 before rounding; both are 10.00 after rounding to 2 decimals.
    rows = [f"2015-01-{d:02d},10.001,10.004,9.996,10.0049,100" for d in (5, 6, 7, 8, 9)]
    path.write_text("Date,Open,High,Low,Close,Volume\n" + "\n".join(rows) + "\n")
    spec = InstrumentSpec(
        id="X.XNYS",
        kind="equity",
        bar_spec="1-DAY-LAST",
        session_close="16:00",
        timezone="America/New_York",
        calendar="XNYS",
    )

    ingest_paths([path], tmp_path / "cat", [spec], IngestOptions())

    bars = ParquetDataCatalog(str(tmp_path / "cat")).bars()
    assert [str(b.close) for b in bars] == ["10.00"] * 5 and str(bars[0].high) == "10.00"
