"""`features build` with trade and quote features, replay and ``--batch``, on real Binance BTCUSDT ticks.

A ParquetDataCatalog holds NautilusTrader's BTCUSDT.BINANCE instrument, the real trades (aggressor
sides) and top-of-book quotes of ``../shared/data`` (2,001 trades, 451 quotes over 46 s) and bars
built from the trades. The experiment's spec needs trade-source VPIN, order flow and the microprice,
so the replay (BacktestNode) must feed the catalog's TradeTick and QuoteTick data to the
FeatureActor (``node_config.market_event_configs``), and the batch build reads the same ticks from
the catalog (``feature_build.catalog_event_frames``): both builds have the same rows and values.

Ties: a tick stamped exactly at a bar's ``ts_init`` counts for that bar in the batch (as-of at or
before the bar); the replay puts the tick feeds before the bars, and the node's stable sort by
``ts_init`` keeps them first. The one-second bars have a single such tie, so a second catalog stamps
each second's bar at its last trade (every bar ties with a trade) to check the order on every row.

Missing ticks: the batch build refuses a spec whose trades or quotes the catalog lacks, naming the
data class and the features. The replay does not check (BacktestNode only logs "No data found") and
writes those features all NaN: the replay now checks its tick feeds and names what is missing.
About 10 s (two builds per case, the replays in spawned processes).
"""

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.model.data import Bar, BarType, TradeTick
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from typer.testing import CliRunner

from nautilus_ai import test_kit
from nautilus_ai.backtest.feature_build import build_features
from nautilus_ai.cli import app
from nautilus_ai.config import ExperimentConfig
from nautilus_ai.errors import ConfigError
from nautilus_ai.indicators.batch_events import EventFrames, quotes_to_frame, trades_to_frame
from nautilus_ai.indicators.batch_features import bars_to_frame, batch_feature_frame

RTOL = 1e-9
ATOL = 1e-12  # values exactly zero on both sides (an unchanged price, a balanced window)
META = ["ts_event", "ts_init", "instrument_id", "spec_hash"]
INSTRUMENT = "BTCUSDT.BINANCE"
# Short bar warm-ups keep many rows on 46 s of ticks; the event features are the point here.
FEATURES: dict[str, Any] = {
    "return_horizons": [1],
    "rsi_period": 2,
    "ema_periods": [2],
    "atr_period": 2,
    "volatility_window": 2,
    "volume_window": 2,
    "vpin_source": "trades",
    "vpin_bucket_volume": 2.0,
    "vpin_buckets": 10,
    "order_flow_window": 200,
    "microprice": True,
}
EVENT_COLUMNS = ["vpin", "order_flow_imbalance", "microprice_drift_bps", "spread_bps"]
runner = CliRunner()


def _ohlcv(prices: Any, volumes: Any) -> pd.DataFrame:
    """Return the OHLCV frame of grouped (or resampled) trade prices and sizes, empty groups dropped."""
    return pd.DataFrame(
        {
            "open": prices.first(),
            "high": prices.max(),
            "low": prices.min(),
            "close": prices.last(),
            "volume": volumes.sum(),
        }
    ).dropna()


def second_bars(instrument: Instrument, trades: list[TradeTick]) -> tuple[BarType, list[Bar]]:
    """Return one-second OHLCV bars of ``trades`` stamped at their close (intervals closed on the right)."""
    frame = trades_to_frame(trades)
    index = pd.DatetimeIndex(pd.to_datetime(frame["ts_init"], unit="ns", utc=True))
    prices = pd.Series(frame["price"].to_numpy(), index=index).resample("1s", label="right", closed="right")
    volumes = pd.Series(frame["size"].to_numpy(), index=index).resample("1s", label="right", closed="right")
    bar_type = BarType.from_str(f"{instrument.id}-1-SECOND-LAST-EXTERNAL")
    return bar_type, test_kit.wrangle_bars(bar_type, instrument, _ohlcv(prices, volumes))


def last_trade_bars(instrument: Instrument, trades: list[TradeTick]) -> tuple[BarType, list[Bar]]:
    """Return the one-second bars of ``trades`` stamped at their last trade instead of the second's close.

    Every bar then ties with a trade (its last one); the batch and the replay must both count it.
    """
    frame = trades_to_frame(trades)
    stamps = pd.DatetimeIndex(pd.to_datetime(frame["ts_init"], unit="ns", utc=True))
    second = stamps.ceil("1s")  # the interval (s - 1, s] of the trade, as in second_bars
    last = pd.Series(stamps).groupby(second).transform("max")
    index = pd.DatetimeIndex(last)
    prices = pd.Series(frame["price"].to_numpy(), index=index).groupby(level=0)
    volumes = pd.Series(frame["size"].to_numpy(), index=index).groupby(level=0)
    bar_type = BarType.from_str(f"{instrument.id}-1-SECOND-LAST-EXTERNAL")
    return bar_type, test_kit.wrangle_bars(bar_type, instrument, _ohlcv(prices, volumes))


def write_catalog(path: Path, bars: list[Bar], *, trades: bool = True, quotes: bool = True) -> Path:
    """Write the instrument, ``bars`` and (optionally) the real trades and quotes into a new catalog."""
    instrument, trade_ticks, quote_ticks = test_kit.binance_btcusdt_ticks()
    catalog = ParquetDataCatalog(str(path))
    catalog.write_data([instrument])
    catalog.write_data(bars)
    if trades:
        catalog.write_data(trade_ticks)
    if quotes:
        catalog.write_data(quote_ticks)
    return path


def experiment(catalog: Path, bar_spec: str, **data: Any) -> ExperimentConfig:
    return test_kit.small_experiment(
        catalog, instruments=(INSTRUMENT,), data={"bar_spec": bar_spec, **data}, features=FEATURES
    )


def cli_build(cfg: ExperimentConfig, tmp_path: Path, name: str, *extra: str) -> pd.DataFrame:
    """Run ``features build`` on ``cfg`` (written as TOML) and return the written frame."""
    config = tmp_path / f"{name}.toml"
    config.write_text(cfg.to_toml())
    out = tmp_path / f"{name}.parquet"
    result = runner.invoke(app, ["features", "build", "--config", str(config), "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return pd.read_parquet(out)


def assert_same_build(replay: pd.DataFrame, batch: pd.DataFrame) -> None:
    assert list(batch.columns) == list(replay.columns)
    pd.testing.assert_frame_equal(batch[META], replay[META], check_dtype=False)
    for name in replay.columns[len(META) :]:
        np.testing.assert_allclose(
            batch[name].to_numpy(dtype=float),
            replay[name].to_numpy(dtype=float),
            rtol=RTOL,
            atol=ATOL,
            equal_nan=True,
            err_msg=name,
        )


@pytest.fixture(scope="module")
def ticks() -> tuple[Instrument, list[TradeTick], list[Any]]:
    if test_kit.shared_data_dir() is None:
        pytest.skip("the shared data folder (../shared/data) is not present")
    return test_kit.binance_btcusdt_ticks()


@pytest.fixture(scope="module")
def second_catalog(ticks, tmp_path_factory) -> Path:
    instrument, trades, _ = ticks
    _, bars = second_bars(instrument, trades)
    return write_catalog(tmp_path_factory.mktemp("seconds") / "catalog", bars)


def test_replay_and_batch_builds_have_equal_finite_trade_and_quote_features(ticks, second_catalog, tmp_path):
    _, trades, _ = ticks
    cfg = experiment(second_catalog, "1-SECOND-LAST")

    replay = cli_build(cfg, tmp_path, "replay")
    batch = cli_build(cfg, tmp_path, "batch", "--batch")

    # (1) the replay fed the ticks: every event feature is finite after its warm-up
    assert len(replay) >= 40  # 47 one-second bars less the bar features' warm-up
    assert set(replay["instrument_id"]) == {INSTRUMENT}
    assert list(replay.columns[len(META) :]) == cfg.features.to_spec().feature_names()
    for name in EVENT_COLUMNS:
        values = replay[name].to_numpy(dtype=float)
        first = int(np.argmax(np.isfinite(values)))
        assert np.isfinite(values[first:]).all(), name
        assert len(values) - first >= 30, name  # VPIN waits for 10 buckets of 2 BTC (≈ 13 s)
    assert np.ptp(replay["order_flow_imbalance"].dropna()) > 0.5  # real flow, both signs
    assert (replay["spread_bps"] > 0).all()

    # (2) the batch build has the same rows, columns and values
    assert_same_build(replay, batch)

    # one trade only is stamped exactly at a bar close here (the next test ties every bar)
    bar_times = set(replay["ts_init"].astype("int64"))
    ties = [t for t in trades if t.ts_init in bar_times]
    assert len(ties) == 1


def test_replay_and_batch_builds_agree_on_a_window(second_catalog, tmp_path):
    start, end = "2021-01-08T00:00:10", "2021-01-08T00:00:40"
    cfg = experiment(second_catalog, "1-SECOND-LAST", start=start, end=end)

    replay = build_features(cfg, second_catalog, tmp_path / "replay.parquet")
    batch = build_features(cfg, second_catalog, tmp_path / "batch.parquet", batch=True)

    assert replay.rows == batch.rows >= 25
    frame = pd.read_parquet(replay.out_path)
    assert_same_build(frame, pd.read_parquet(batch.out_path))
    stamps = pd.to_datetime(frame["ts_init"], unit="ns", utc=True)
    assert stamps.min() > pd.Timestamp(start, tz="UTC") and stamps.max() <= pd.Timestamp(end, tz="UTC")
    # the ticks before the window are not fed: VPIN starts over (≈ 13 s of trades for 10 buckets)
    assert frame["vpin"].iloc[:5].isna().all() and frame["vpin"].iloc[-5:].notna().all()


def test_ticks_at_a_bars_time_reach_the_replay_before_the_bar(ticks, tmp_path):
    instrument, trades, _ = ticks
    _, bars = last_trade_bars(instrument, trades)
    catalog = write_catalog(tmp_path / "catalog", bars)
    cfg = experiment(catalog, "1-SECOND-LAST")

    replay = cli_build(cfg, tmp_path, "replay")
    batch = cli_build(cfg, tmp_path, "batch", "--batch")

    assert len(replay) >= 30
    assert_same_build(replay, batch)
    # every bar ties with its last trade, and the replay counted it: with the trades 1 ns later
    # (a bar before its ticks) the order flow differs on most rows
    trades_frame = trades_to_frame(trades)
    assert set(replay["ts_init"].astype("int64")) <= set(trades_frame["ts_init"].astype("int64"))
    late = trades_frame.assign(ts_init=trades_frame["ts_init"] + 1)
    bars_first = batch_feature_frame(
        bars_to_frame(bars),
        cfg.features.to_spec(),
        EventFrames(trades=late, quotes=quotes_to_frame(ticks[2])),
    )
    flow = replay.set_index(pd.DatetimeIndex(pd.to_datetime(replay["ts_init"], unit="ns", utc=True)))
    got = flow["order_flow_imbalance"].dropna()
    other = bars_first["order_flow_imbalance"].reindex(got.index)
    assert (~np.isclose(got, other, rtol=RTOL, atol=ATOL, equal_nan=True)).mean() > 0.5


MISSING = {
    "trades": ("TradeTick", ["vpin", "order_flow_imbalance"]),
    "quotes": ("QuoteTick", ["microprice_drift_bps", "spread_bps"]),
}


@pytest.fixture(scope="module", params=list(MISSING))
def catalog_without(request, ticks, tmp_path_factory) -> tuple[str, Path]:
    """Return a missing tick kind and a catalog holding the bars and ticks without that kind."""
    instrument, trades, _ = ticks
    _, bars = second_bars(instrument, trades)
    path = tmp_path_factory.mktemp(f"no-{request.param}") / "catalog"
    kept = {kind: kind != request.param for kind in MISSING}
    return request.param, write_catalog(path, bars, **kept)


def test_batch_build_names_the_missing_ticks(catalog_without, tmp_path):
    missing, catalog = catalog_without
    data_cls, features = MISSING[missing]
    cfg = experiment(catalog, "1-SECOND-LAST")

    with pytest.raises(ConfigError) as error:
        build_features(cfg, catalog, tmp_path / "f.parquet", batch=True)

    message = str(error.value)
    assert data_cls in message and INSTRUMENT in message
    assert all(name in message for name in features), message
    assert not (tmp_path / "f.parquet").exists()


def test_replay_build_names_the_missing_ticks(catalog_without, tmp_path):
    missing, catalog = catalog_without
    cfg = experiment(catalog, "1-SECOND-LAST")

    with pytest.raises(ConfigError, match=MISSING[missing][0]):
        build_features(cfg, catalog, tmp_path / "f.parquet")
