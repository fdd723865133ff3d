"""The offline feature store: point-in-time reads and joins over a real ParquetDataCatalog."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from nautilus_ai.catalog.feature_store import asof_join, feature_frame, write_feature_vectors
from nautilus_ai.catalog.types import FeatureVector
from nautilus_ai.errors import ConfigError

AAPL = InstrumentId.from_str("AAPL.XNAS")
MSFT = InstrumentId.from_str("MSFT.XNAS")
NAMES = ["ret_1", "rsi_14", "atr_ratio"]
T0 = pd.Timestamp("2024-01-02T21:00:00Z")
DAY = pd.Timedelta(days=1)


def ns(ts: pd.Timestamp) -> int:
    return int(ts.value)


def vectors(iid: InstrumentId, days: range, offset: float = 0.0) -> list[FeatureVector]:
    out = []
    for d in days:
        ts = ns(T0 + d * DAY)
        out.append(FeatureVector.create(iid, "spec-a", NAMES, [d + offset, 50.0 + d, np.nan], ts, ts))
    return out


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    path = tmp_path / "catalog"
    write_feature_vectors(path, vectors(AAPL, range(10)) + vectors(MSFT, range(10), offset=100.0))
    return path


def test_feature_frame_is_indexed_by_ts_init_and_instrument_with_one_column_per_feature(
    catalog: Path,
) -> None:
    frame = feature_frame(catalog, ["AAPL.XNAS", MSFT], None, None, None)

    assert frame.index.names == ["ts_init", "instrument_id"]
    assert list(frame.columns) == NAMES
    assert len(frame) == 20
    assert frame.index.is_monotonic_increasing
    assert str(frame.index.get_level_values("ts_init").dtype) == "datetime64[ns, UTC]"
    assert frame.loc[(T0 + 3 * DAY, "MSFT.XNAS"), "ret_1"] == 103.0
    assert np.isnan(frame["atr_ratio"]).all()


def test_feature_frame_selects_features_instruments_and_range(catalog: Path) -> None:
    frame = feature_frame(catalog, ["AAPL.XNAS"], ["rsi_14", "ret_1"], T0 + 2 * DAY, T0 + 4 * DAY)

    assert list(frame.columns) == ["rsi_14", "ret_1"]
    assert frame["ret_1"].tolist() == [2.0, 3.0, 4.0]
    assert set(frame.index.get_level_values("instrument_id")) == {"AAPL.XNAS"}


def test_feature_frame_returns_nothing_known_after_as_of(catalog: Path) -> None:
    as_of = (T0 + 5 * DAY - pd.Timedelta(nanoseconds=1)).isoformat()

    frame = feature_frame(catalog, ["AAPL.XNAS", "MSFT.XNAS"], None, None, None, as_of=as_of)

    assert frame.index.get_level_values("ts_init").max() == T0 + 4 * DAY
    assert len(frame) == 10


def test_feature_frame_names_a_missing_feature_and_lists_the_available_ones(catalog: Path) -> None:
    with pytest.raises(ConfigError, match=r"'vpin'.*available features: \['ret_1', 'rsi_14', 'atr_ratio'\]"):
        feature_frame(catalog, ["AAPL.XNAS"], ["ret_1", "vpin"], None, None)


def test_write_feature_vectors_is_idempotent_and_only_adds_new_time_ranges(catalog: Path) -> None:
    again = write_feature_vectors(catalog, vectors(AAPL, range(10)))
    extended = write_feature_vectors(catalog, vectors(AAPL, range(5, 15)))

    assert again == 0
    assert extended == 5
    stored = ParquetDataCatalog(str(catalog)).query(FeatureVector, identifiers=["AAPL.XNAS"])
    stamps = [item.data.ts_init for item in stored]
    assert stamps == sorted(set(stamps))
    assert len(stamps) == 15


def decisions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts_init": [
                T0 - DAY,  # before any feature: nothing known yet
                T0 + 3 * DAY,  # exactly at a feature's ts_init: that feature is known
                T0 + 3 * DAY + pd.Timedelta(hours=12),  # between two features: the earlier one
                T0 + 2 * DAY + pd.Timedelta(hours=1),
            ],
            "instrument_id": ["AAPL.XNAS", "AAPL.XNAS", "AAPL.XNAS", "MSFT.XNAS"],
            "side": [1, -1, 1, 1],
        },
        index=pd.Index(["d0", "d1", "d2", "d3"], name="decision"),
    )


def test_asof_join_takes_the_latest_features_at_or_before_each_row_per_instrument(catalog: Path) -> None:
    features = feature_frame(catalog, ["AAPL.XNAS", "MSFT.XNAS"], ["ret_1"], None, None)

    joined = asof_join(decisions(), features)

    assert list(joined.index) == ["d0", "d1", "d2", "d3"]
    assert joined["side"].tolist() == [1, -1, 1, 1]
    assert np.isnan(joined.loc["d0", "ret_1"])
    assert joined.loc[["d1", "d2", "d3"], "ret_1"].tolist() == [3.0, 3.0, 102.0]


def test_asof_join_never_looks_ahead_when_the_future_changes(catalog: Path) -> None:
    features = feature_frame(catalog, ["AAPL.XNAS", "MSFT.XNAS"], None, None, None)
    cutoff = decisions()["ts_init"].max()
    shifted = features.copy()
    future = shifted.index.get_level_values("ts_init") > cutoff
    shifted.loc[future] = shifted.loc[future] * -7.0 + 1e6

    assert future.any()
    pd.testing.assert_frame_equal(asof_join(decisions(), features), asof_join(decisions(), shifted))


def test_asof_join_drops_features_older_than_the_tolerance(catalog: Path) -> None:
    features = feature_frame(catalog, ["AAPL.XNAS", "MSFT.XNAS"], ["ret_1"], None, None)

    joined = asof_join(decisions(), features, tolerance="6h")

    assert joined.loc["d1", "ret_1"] == 3.0
    assert np.isnan(joined.loc["d2", "ret_1"])
    assert joined.loc["d3", "ret_1"] == 102.0


def test_asof_join_accepts_a_multiindexed_frame_and_int_nanosecond_times(catalog: Path) -> None:
    features = feature_frame(catalog, ["AAPL.XNAS"], ["rsi_14"], None, None)
    bars = pd.DataFrame(
        {"close": [10.0, 11.0]},
        index=pd.MultiIndex.from_arrays(
            [[ns(T0 + 1 * DAY), ns(T0 + 8 * DAY + pd.Timedelta(hours=1))], ["AAPL.XNAS", "AAPL.XNAS"]],
            names=["ts_init", "instrument_id"],
        ),
    )

    joined = asof_join(bars, features)

    assert joined.index.equals(bars.index)
    assert joined.columns.tolist() == ["close", "rsi_14"]
    assert joined["rsi_14"].tolist() == [51.0, 58.0]
