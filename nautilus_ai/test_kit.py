"""Test kit shared by every nautilus-ai test: real instruments, real bars, engines and configs.

Like NautilusTrader's ``test_kit``, these helpers build the objects tests need from the data bundled
with the repository (``data/``), so tests run offline on real market data:

* :func:`stocknet_equity`, :func:`read_stocknet_daily`, :func:`stocknet_bars`: StockNet daily bars,
  each stamped at its close (16:00 New York), the point-in-time convention of the catalog ingest.
* :func:`make_backtest_engine`: a quiet ``BacktestEngine`` with one simulated venue per instrument venue.
* :func:`demo_catalog`, :func:`small_experiment`: a small catalog and a fast walk-forward config.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from nautilus_trader.backtest.config import BacktestEngineConfig
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.config import LoggingConfig, RiskEngineConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import Bar, BarType, QuoteTick, TradeTick
from nautilus_trader.model.enums import AccountType, OmsType
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.instruments import Equity, Instrument
from nautilus_trader.model.objects import Money
from nautilus_trader.persistence.wranglers import BarDataWrangler

from nautilus_ai.catalog.ingest import IngestOptions, ingest_paths
from nautilus_ai.catalog.instruments import InstrumentSpec, load_instruments_file
from nautilus_ai.config import ExperimentConfig, parse_experiment
from nautilus_ai.indicators.feature_spec import FeatureSpec

STOCKNET_SESSION_CLOSE = "16:00"
STOCKNET_TIMEZONE = "America/New_York"
STOCKNET_PRICE_PRECISION = 2


def bundled_data_dir() -> Path:
    """Return the repository's bundled ``data/`` folder.

    Returns
    -------
    Path
        The ``data`` folder beside the ``nautilus_ai`` package.

    Raises
    ------
    FileNotFoundError
        If the folder is missing (an installed wheel without the repository checkout).

    """
    path = Path(__file__).resolve().parents[1] / "data"
    if not path.is_dir():
        raise FileNotFoundError(
            f"bundled data folder {path} not found: the test kit needs a checkout of the nautilus-ai "
            "repository (its data/ folder), not only the installed package"
        )
    return path


def shared_data_dir() -> Path | None:
    """Return the shared data folder ``../shared/data`` beside the repository, if present.

    Returns
    -------
    Path or None
        The folder, or None when it does not exist.

    """
    path = Path(__file__).resolve().parents[2] / "shared" / "data"
    return path if path.is_dir() else None


def stocknet_csv(symbol: str) -> Path:
    """Return the bundled StockNet daily CSV of ``symbol``.

    Parameters
    ----------
    symbol : str
        The ticker, for example ``"AAPL"``.

    Returns
    -------
    Path
        ``data/bars_daily/stocknet/<symbol>.csv``.

    Raises
    ------
    FileNotFoundError
        If no bundled file exists for ``symbol``.

    """
    path = bundled_data_dir() / "bars_daily" / "stocknet" / f"{symbol}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no bundled StockNet file for {symbol!r}: {path} does not exist")
    return path


def stocknet_equity(symbol: str = "AAPL", venue: str = "XNAS") -> Equity:
    """Return the NautilusTrader equity of a StockNet stock (2 price decimals, lot 1).

    Parameters
    ----------
    symbol : str, default "AAPL"
        The ticker.
    venue : str, default "XNAS"
        The venue of the instrument id.

    Returns
    -------
    Equity
        The instrument ``<symbol>.<venue>``.

    """
    spec = InstrumentSpec(
        id=f"{symbol}.{venue}",
        kind="equity",
        currency="USD",
        price_precision=STOCKNET_PRICE_PRECISION,
        size_precision=0,
        bar_spec="1-DAY-LAST",
        timezone=STOCKNET_TIMEZONE,
        session_close=STOCKNET_SESSION_CLOSE,
    )
    instrument = spec.to_nautilus()
    assert isinstance(instrument, Equity)
    return instrument


def read_stocknet_daily(symbol: str) -> pd.DataFrame:
    """Read a bundled StockNet daily CSV, each row stamped at its close.

    Parameters
    ----------
    symbol : str
        The ticker, for example ``"AAPL"``.

    Returns
    -------
    pd.DataFrame
        Columns ``open``, ``high``, ``low``, ``close``, ``adj_close``, ``volume`` (float64, as in the
        file) on a tz-aware UTC ``DatetimeIndex`` (ns) of the 16:00 New York closes.

    """
    raw = pd.read_csv(stocknet_csv(symbol))
    raw.columns = [str(c).strip().lower().replace(" ", "_") for c in raw.columns]
    dates = pd.to_datetime(raw.pop("date"), format="ISO8601")
    local_close = dates + pd.Timedelta(STOCKNET_SESSION_CLOSE + ":00")
    index = pd.DatetimeIndex(local_close).tz_localize(STOCKNET_TIMEZONE).tz_convert("UTC").as_unit("ns")
    frame = raw.astype("float64")
    frame.index = index
    frame.index.name = "ts"
    return frame


def wrangle_bars(bar_type: BarType, instrument: Instrument, frame: pd.DataFrame) -> list[Bar]:
    """Return the bars of an OHLCV frame, stamped ``ts_event = ts_init =`` its index (pandas-3 safe).

    ``BarDataWrangler.process`` fails on pandas 3 (read-only buffers), so each bar is built from a
    writable float64 copy of the values (NAUTILUS_GUIDE §6).

    Parameters
    ----------
    bar_type : BarType
        The bar type of the bars.
    instrument : Instrument
        The instrument (its precisions round the values).
    frame : pd.DataFrame
        Columns ``open``, ``high``, ``low``, ``close``, ``volume`` on a tz-aware ``DatetimeIndex`` of
        bar close times.

    Returns
    -------
    list[Bar]
        One bar per row, in row order.

    """
    wrangler = BarDataWrangler(bar_type, instrument)
    values = frame[["open", "high", "low", "close", "volume"]].to_numpy(dtype="float64", copy=True)
    stamps = pd.DatetimeIndex(frame.index).as_unit("ns").asi8
    return [wrangler._build_bar(v, int(t), int(t)) for v, t in zip(values, stamps, strict=True)]


def stocknet_bars(symbol: str = "AAPL", venue: str = "XNAS") -> tuple[BarType, list[Bar]]:
    """Return the real daily bars of a bundled StockNet stock.

    Prices are rounded to cents as the catalog ingest does; every bar carries its close time
    (16:00 New York) as ``ts_event`` and ``ts_init``, so nothing is known before the close.

    Parameters
    ----------
    symbol : str, default "AAPL"
        The ticker.
    venue : str, default "XNAS"
        The venue of the instrument id.

    Returns
    -------
    tuple[BarType, list[Bar]]
        The ``<symbol>.<venue>-1-DAY-LAST-EXTERNAL`` bar type and the bars in time order.

    """
    instrument = stocknet_equity(symbol, venue)
    frame = read_stocknet_daily(symbol)
    prices = ["open", "high", "low", "close"]
    frame[prices] = frame[prices].round(STOCKNET_PRICE_PRECISION)
    bar_type = BarType.from_str(f"{instrument.id}-1-DAY-LAST-EXTERNAL")
    return bar_type, wrangle_bars(bar_type, instrument, frame)


def make_backtest_engine(
    instruments: Iterable[Instrument],
    starting_balance: float = 1_000_000,
    *,
    account_type: AccountType = AccountType.MARGIN,
    oms_type: OmsType = OmsType.NETTING,
    bar_execution: bool = True,
    bypass_logging: bool = True,
) -> BacktestEngine:
    """Return a ``BacktestEngine`` with one USD venue per distinct instrument venue.

    Parameters
    ----------
    instruments : Iterable[Instrument]
        The instruments to add (their venues are created first).
    starting_balance : float, default 1_000_000
        The USD starting balance of each venue account.
    account_type : AccountType, default MARGIN
        The venue account type.
    oms_type : OmsType, default NETTING
        The venue order management system type.
    bar_execution : bool, default True
        Whether bars drive the simulated matching engine.
    bypass_logging : bool, default True
        Whether to bypass the (process-global) logger for speed.

    Returns
    -------
    BacktestEngine
        The engine, with venues and instruments added and no data.

    """
    instruments = list(instruments)
    engine = BacktestEngine(
        BacktestEngineConfig(
            trader_id="BACKTESTER-001",
            logging=LoggingConfig(log_level="ERROR", bypass_logging=bypass_logging),
            risk_engine=RiskEngineConfig(),
        )
    )
    venues: list[Venue] = []
    for instrument in instruments:
        if instrument.id.venue not in venues:
            venues.append(instrument.id.venue)
    for venue in venues:
        engine.add_venue(
            venue=venue,
            oms_type=oms_type,
            account_type=account_type,
            base_currency=USD,
            starting_balances=[Money(starting_balance, USD)],
            bar_execution=bar_execution,
        )
    for instrument in instruments:
        engine.add_instrument(instrument)
    return engine


def demo_catalog(tmp_path: Path, symbols: Sequence[str] = ("AAPL", "MSFT")) -> Path:
    """Ingest bundled StockNet CSVs into a new catalog under ``tmp_path``.

    Parameters
    ----------
    tmp_path : Path
        A temporary folder (pytest's ``tmp_path`` or ``tmp_path_factory.mktemp(...)``).
    symbols : Sequence[str], default ("AAPL", "MSFT")
        The tickers to ingest (instruments from ``data/instruments.toml``).

    Returns
    -------
    Path
        The catalog root, ``tmp_path / "catalog"``.

    """
    catalog = Path(tmp_path) / "catalog"
    specs = load_instruments_file(bundled_data_dir() / "instruments.toml")
    ingest_paths([stocknet_csv(s) for s in symbols], catalog, specs, IngestOptions())
    return catalog


def small_experiment(
    catalog: Path,
    instruments: Sequence[str] = ("AAPL.XNAS", "MSFT.XNAS"),
    **overrides: Any,
) -> ExperimentConfig:
    """Return a fast walk-forward experiment config over ``catalog``.

    Training windows of 540 days, test windows of 182 days, a 50-tree LightGBM and two workers.

    Parameters
    ----------
    catalog : Path
        The catalog (for example from :func:`demo_catalog`).
    instruments : Sequence[str], default ("AAPL.XNAS", "MSFT.XNAS")
        The instrument ids traded.
    **overrides : Any
        Top-level sections or keys replacing the defaults (``walkforward={...}``, ``name="x"``);
        a section given as a dict is merged into the default section.

    Returns
    -------
    ExperimentConfig
        The validated config.

    """
    data: dict[str, Any] = {
        "name": "small-test",
        "seed": 7,
        "data": {"catalog": str(catalog), "instruments": list(instruments), "bar_spec": "1-DAY-LAST"},
        "label": {"horizon_bars": 5},
        "model": {
            "name": "small-direction",
            "kind": "lightgbm",
            "params": {"n_estimators": 50, "learning_rate": 0.05, "num_leaves": 7, "min_child_samples": 20},
        },
        "walkforward": {"scheme": "rolling", "train": "540D", "test": "182D", "workers": 2},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return parse_experiment(data, source="test_kit.small_experiment")


def one_fold_aapl(tmp_path: Path, *, test: str = "250D", **overrides: Any) -> dict[str, Any]:
    """Train and register one walk-forward fold on the bundled AAPL daily bars (1500-day training window).

    Parameters
    ----------
    tmp_path : Path
        A temporary folder: the catalog, ``runs/wf`` and ``registry`` go there.
    test : str, default "250D"
        The fold's test window.
    **overrides : Any
        More :func:`small_experiment` overrides.

    Returns
    -------
    dict
        ``cfg``, ``catalog``, ``registry``, ``model_version``, ``features`` (the walk-forward's
        features.parquet), ``closes`` (a Series by bar time), ``warmup`` (bars), ``start`` (the replay
        start: the test start less the warm-up, ISO), ``test_start`` (Timestamp), ``end`` (ISO),
        ``fold`` and ``tmp``.

    """
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    from nautilus_ai.backtest.walkforward import run_walkforward

    tmp = Path(tmp_path)
    catalog = demo_catalog(tmp, symbols=("AAPL",))
    cfg = small_experiment(
        catalog,
        instruments=("AAPL.XNAS",),
        walkforward={"train": "1500D", "test": test, "workers": 1, "baselines": []},
        **overrides,
    )
    result = run_walkforward(cfg, tmp / "runs", run_id="wf", registry_path=tmp / "registry")
    fold = result.folds[0]
    bars = ParquetDataCatalog(str(catalog)).bars(bar_types=cfg.data.bar_types())
    times = pd.DatetimeIndex([b.ts_event for b in bars], tz="UTC")
    closes = pd.Series([b.close.as_double() for b in bars], index=times)
    test_start = pd.Timestamp(fold["test_start"])
    warmup = cfg.features.to_spec().warmup_bars() + cfg.features.volatility_window + 5
    start = times[max(int(times.searchsorted(test_start)) - warmup, 0)]
    return {
        "cfg": cfg,
        "catalog": catalog,
        "registry": tmp / "registry",
        "model_version": fold["model_version"],
        "features": tmp / "runs" / "wf" / "features.parquet",
        "closes": closes,
        "warmup": warmup,
        "start": start.isoformat(),
        "test_start": test_start,
        "end": pd.Timestamp(fold["test_end"]).isoformat(),
        "fold": fold,
        "tmp": tmp,
    }


CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def headless_chromium(profile: Path, *, page_load_timeout: float = 30.0) -> Any:
    """Return a Selenium WebDriver of Debian's headless Chromium (``make browser`` installs it).

    Parameters
    ----------
    profile : Path
        The browser profile folder (a temporary folder of the test).
    page_load_timeout : float, default 30.0
        Seconds a page may take to load.

    Returns
    -------
    selenium.webdriver.Chrome
        The driver, with the browser console log captured (``goog:loggingPrefs``).

    """
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(page_load_timeout)
    return driver


def binance_btcusdt_ticks() -> tuple[Instrument, list[TradeTick], list[QuoteTick]]:
    """Return the real Binance BTCUSDT trades (with aggressor sides) and quotes of ``../shared/data``.

    Trades come from ``ticks_trades/btcusdt-trades.parquet`` (aggressor SELL when the buyer was the
    maker), quotes from ``ticks_quotes/btcusdt-quotes.parquet``, both wrangled for NautilusTrader's
    ``TestInstrumentProvider.btcusdt_binance()`` instrument.

    Raises
    ------
    FileNotFoundError
        If the shared data folder is not beside the repository (tests skip then).

    """
    from nautilus_trader.persistence.wranglers import QuoteTickDataWrangler, TradeTickDataWrangler
    from nautilus_trader.test_kit.providers import TestInstrumentProvider

    root = shared_data_dir()
    if root is None:
        raise FileNotFoundError("the shared data folder (../shared/data) is not beside the repository")
    instrument = TestInstrumentProvider.btcusdt_binance()
    trades_frame = pd.read_parquet(root / "ticks_trades" / "btcusdt-trades.parquet").set_index("timestamp")
    trades_frame["side"] = ["SELL" if m == "True" else "BUY" for m in trades_frame["buyer_maker"].astype(str)]
    quotes_frame = pd.read_parquet(root / "ticks_quotes" / "btcusdt-quotes.parquet").set_index("timestamp")
    quotes_frame = quotes_frame.rename(columns={"bid": "bid_price", "ask": "ask_price"})
    trades = TradeTickDataWrangler(instrument).process(trades_frame)
    quotes = QuoteTickDataWrangler(instrument).process(
        quotes_frame[["bid_price", "ask_price", "bid_size", "ask_size"]]
    )
    return instrument, trades, quotes


def replay_feature_actor(
    instrument: Instrument,
    bar_type: BarType,
    data: Sequence[Sequence[Any]],
    spec: FeatureSpec,
    output: Path,
    custom: Sequence[Any] = (),
    custom_client_id: Any = None,
) -> pd.DataFrame:
    """Replay ``data`` through a FeatureActor in a BacktestEngine and return the recorded vectors.

    Parameters
    ----------
    instrument : Instrument
        The instrument of the bars (its venue gets a MARGIN account).
    bar_type : BarType
        The bars the actor samples on (external bars in ``data``, or internal ones aggregated by the engine).
    data : Sequence[Sequence[Any]]
        Lists of engine-ready data (bars, ticks, ``CustomData``), each added with ``engine.add_data``.
    spec : FeatureSpec
        The features to compute.
    output : Path
        Where the FeatureRecorder writes its Parquet file.
    custom : Sequence[Any], optional
        Custom data objects (SentimentScore, OnChainMetric...) added after ``data`` as ``CustomData``.
    custom_client_id : ClientId, optional
        The client id the custom data is added under.

    Returns
    -------
    pd.DataFrame
        The recorded vectors (one row per bar after the warm-up) indexed by ``ts_init`` as UTC times.

    """
    from nautilus_ai.indicators.feature_actor import FeatureActor, FeatureActorConfig
    from nautilus_ai.indicators.feature_recorder import FeatureRecorder, FeatureRecorderConfig

    engine = make_backtest_engine([instrument])
    try:
        for chunk in data:
            engine.add_data(list(chunk))
        if custom:
            from nautilus_trader.model.data import CustomData, DataType

            engine.add_data([CustomData(DataType(type(o)), o) for o in custom], client_id=custom_client_id)
        engine.add_actor(
            FeatureActor(FeatureActorConfig(instrument_id=instrument.id, bar_type=bar_type, spec=spec))
        )
        engine.add_actor(
            FeatureRecorder(
                FeatureRecorderConfig(instrument_ids=(str(instrument.id),), output_path=str(output))
            )
        )
        engine.run()
    finally:
        engine.dispose()
    frame = pd.read_parquet(output)
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame["ts_init"], unit="ns", utc=True))
    return frame
