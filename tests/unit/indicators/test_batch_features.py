"""The batch bar features equal the FeatureActor's streaming replay on real AAPL daily and BTC 1-minute bars.

Parametrized over every bar feature of a spec with all of them on, so a new bar feature of the
FeatureSpec without a batch twin in ``BAR_FEATURES`` fails here. The event-driven features (computed
from trades, quotes, books and alternative data) are checked in ``test_batch_event_features.py``.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.model.data import BarType
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from typer.testing import CliRunner

from nautilus_ai import test_kit
from nautilus_ai.catalog.ingest import IngestOptions, ingest_paths
from nautilus_ai.catalog.instruments import load_instruments_file
from nautilus_ai.cli import app
from nautilus_ai.errors import ConfigError
from nautilus_ai.indicators.batch_features import (
    BAR_FEATURES,
    bars_to_frame,
    batch_feature_frame,
    find_batch_feature,
)
from nautilus_ai.indicators.feature_spec import FeatureSpec

RTOL = 1e-9
ATOL = 1e-12  # values exactly zero on both sides (an unchanged close)
AAPL_SPEC = FeatureSpec(range_volatility_window=20, vpin_bucket_volume=2e8, vpin_buckets=10)
BTC_SPEC = FeatureSpec(range_volatility_window=20, vpin_bucket_volume=2e8, vpin_buckets=10)
BTC_BARS = 6000  # the first 6000 minutes (over four days) keep the replay fast
FEATURES = AAPL_SPEC.feature_names()
BTC_CSV = test_kit.bundled_data_dir() / "bars_intraday" / "btc-perp-20211231-20220201_1m.csv"


bars_frame = bars_to_frame


@pytest.fixture(scope="module")
def aapl(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame]:
    bar_type, bars = test_kit.stocknet_bars("AAPL", "XNAS")
    instrument = test_kit.stocknet_equity("AAPL", "XNAS")
    out = tmp_path_factory.mktemp("aapl") / "features.parquet"
    streamed = test_kit.replay_feature_actor(instrument, bar_type, [bars], AAPL_SPEC, out)
    return streamed, batch_feature_frame(bars_frame(bars), AAPL_SPEC)


@pytest.fixture(scope="module")
def btc(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("btc")
    csv = folder / BTC_CSV.name  # same file name, so instruments.toml maps it to BTC-PERP
    csv.write_text("".join(BTC_CSV.read_text().splitlines(keepends=True)[: BTC_BARS + 1]))
    catalog = folder / "catalog"
    specs = load_instruments_file(test_kit.bundled_data_dir() / "instruments.toml")
    ingest_paths([csv], catalog, specs, IngestOptions())
    cat = ParquetDataCatalog(str(catalog))
    bars = cat.bars()
    instrument = cat.instruments()[0]
    bar_type = bars[0].bar_type
    assert isinstance(bar_type, BarType) and len(bars) == BTC_BARS
    streamed = test_kit.replay_feature_actor(instrument, bar_type, [bars], BTC_SPEC, folder / "f.parquet")
    return streamed, batch_feature_frame(bars_frame(bars), BTC_SPEC)


def assert_feature_equal(feature: str, streamed: pd.DataFrame, batch: pd.DataFrame) -> None:
    assert batch.index.equals(streamed.index)
    np.testing.assert_allclose(
        batch[feature].to_numpy(), streamed[feature].to_numpy(), rtol=RTOL, atol=ATOL, equal_nan=True
    )


def test_the_spec_turns_every_bar_feature_on():
    assert "parkinson_vol" in FEATURES and "garman_klass_vol" in FEATURES and "vpin" in FEATURES
    assert AAPL_SPEC.event_feature_names() == ["vpin"]


def test_every_bar_feature_has_a_registry_entry():
    missing = [name for name in FEATURES if find_batch_feature(name) is None]

    assert missing == [], f"add a batch form of {missing} to BAR_FEATURES"
    assert all(callable(f) for f in BAR_FEATURES.values())


@pytest.mark.parametrize("feature", FEATURES)
def test_batch_equals_streaming_on_aapl_daily_bars(feature, aapl):
    streamed, batch = aapl

    assert_feature_equal(feature, streamed, batch)


@pytest.mark.parametrize("feature", FEATURES)
def test_batch_equals_streaming_on_btc_minute_bars(feature, btc):
    streamed, batch = btc

    assert_feature_equal(feature, streamed, batch)


@pytest.mark.parametrize("data", ["aapl", "btc"])
def test_batch_frame_has_the_actors_rows_and_columns(data, request):
    streamed, batch = request.getfixturevalue(data)

    assert list(batch.columns) == FEATURES == list(streamed.columns[4:])
    assert batch.index.equals(streamed.index)
    assert len(batch) > 0
    assert batch["vpin"].notna().any()  # the bucket volume completes buckets on this data


@pytest.mark.parametrize(
    ("spec", "names"),
    [
        (FeatureSpec(vpin_bucket_volume=1e6, vpin_source="trades"), ["vpin"]),
        (FeatureSpec(order_flow_window=50), ["order_flow_imbalance"]),
        (FeatureSpec(microprice=True), ["microprice_drift_bps", "spread_bps"]),
        (FeatureSpec(book_levels=5), ["book_imbalance"]),
        (FeatureSpec(sentiment_half_life_s=3600.0), ["sentiment_mean", "sentiment_count"]),
        (FeatureSpec(onchain_metrics=("hash_rate",)), ["onchain_hash_rate_logdiff"]),
    ],
)
def test_event_driven_features_without_their_event_frames_are_refused(spec, names):
    _, bars = test_kit.stocknet_bars("AAPL", "XNAS")

    with pytest.raises(ConfigError, match="EventFrames") as error:
        batch_feature_frame(bars_frame(bars[:50]), spec)
    for name in names:
        assert name in str(error.value)


def test_cli_features_build_batch_equals_the_replay(tmp_path):
    catalog = test_kit.demo_catalog(tmp_path, ("AAPL", "MSFT"))
    config = tmp_path / "features.toml"
    config.write_text(
        'name = "batch-test"\n\n[data]\ninstruments = ["AAPL.XNAS", "MSFT.XNAS"]\nbar_spec = "1-DAY-LAST"\n\n'
        "[features]\nrange_volatility_window = 20\nvpin_bucket_volume = 2e8\nvpin_buckets = 10\n"
    )
    runner = CliRunner()
    outputs: dict[str, Path] = {}
    for mode, extra in (("replay", []), ("batch", ["--batch"])):
        outputs[mode] = tmp_path / f"{mode}.parquet"
        args = ["features", "build", "--config", str(config), "--catalog", str(catalog)]
        result = runner.invoke(app, [*args, "--out", str(outputs[mode]), *extra])
        assert result.exit_code == 0, result.output

    replay, batch = pd.read_parquet(outputs["replay"]), pd.read_parquet(outputs["batch"])
    assert list(batch.columns) == list(replay.columns)
    assert set(replay["instrument_id"]) == {"AAPL.XNAS", "MSFT.XNAS"}
    meta = ["ts_event", "ts_init", "instrument_id", "spec_hash"]
    pd.testing.assert_frame_equal(batch[meta], replay[meta], check_dtype=False)
    names = list(replay.columns[4:])
    np.testing.assert_allclose(
        batch[names].to_numpy(), replay[names].to_numpy(), rtol=RTOL, atol=ATOL, equal_nan=True
    )
