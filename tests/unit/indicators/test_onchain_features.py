"""On-chain features: streaming equals batch on the bundled BTC file, and the past never changes."""

import math
import random
from pathlib import Path

import numpy as np
import pytest

from nautilus_ai.adapters.onchain import read_onchain_csv
from nautilus_ai.indicators.onchain import OnChainFeature, onchain_feature_step, onchain_features_batch

BUNDLED = Path(__file__).parents[3] / "data" / "onchain" / "bitcoin_dataset.csv"
METRICS = ["btc_n_unique_addresses", "btc_hash_rate", "btc_market_price", "btc_trade_volume"]
PARAMS = [(1, 30), (7, 90)]
ALL = read_onchain_csv(BUNDLED, metrics=METRICS)


def observations(metric: str) -> np.ndarray:
    return np.array([m.value for m in ALL if m.metric == metric])


def stream(metric: str, k: int, window: int, data=ALL) -> tuple[np.ndarray, np.ndarray]:
    feature = OnChainFeature(metric, k=k, window=window)
    diffs, zs = [], []
    for item in data:
        if item.metric != metric:
            feature.handle_metric(item)  # other metrics leave it untouched
            continue
        feature.handle_metric(item)
        diffs.append(feature.log_diff)
        zs.append(feature.zscore)
    return np.array(diffs), np.array(zs)


@pytest.mark.parametrize(("k", "window"), PARAMS)
@pytest.mark.parametrize("metric", METRICS)
def test_streaming_equals_batch_on_the_bundled_file(metric: str, k: int, window: int) -> None:
    values = observations(metric)

    streamed = stream(metric, k, window)
    batch = onchain_features_batch(values, k, window)

    for got, want in zip(streamed, batch, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, equal_nan=True)
        assert np.isfinite(got).sum() > 1000


@pytest.mark.parametrize("metric", METRICS)
def test_cutting_the_future_never_changes_past_values(metric: str) -> None:
    full_diff, full_z = stream(metric, 7, 30)
    rng = random.Random(20_240_607)

    for cut in sorted(rng.randrange(50, len(ALL)) for _ in range(4)):
        prefix_diff, prefix_z = stream(metric, 7, 30, ALL[:cut])
        n = len(prefix_diff)
        np.testing.assert_array_equal(prefix_diff, full_diff[:n])
        np.testing.assert_array_equal(prefix_z, full_z[:n])


def test_the_bundled_prices_start_at_zero_so_the_skip_rule_is_exercised() -> None:
    assert (observations("btc_market_price") <= 0).sum() > 100


def test_non_positive_observations_are_ignored() -> None:
    feature = OnChainFeature("m", k=1, window=2)
    feature.update_raw(10.0)
    feature.update_raw(0.0)
    assert math.isnan(feature.log_diff) and math.isnan(feature.zscore)

    feature.update_raw(20.0)

    assert feature.log_diff == pytest.approx(math.log(2.0))
    assert feature.initialized
    feature.reset()
    assert math.isnan(feature.log_diff) and not feature.initialized


def test_kernel_is_nan_without_history_and_zero_on_a_flat_window() -> None:
    assert all(math.isnan(x) for x in onchain_feature_step([1.0], 1, 3))
    assert onchain_feature_step([1.0, 1.0, 1.0], 1, 3) == (0.0, 0.0)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="k must be"):
        OnChainFeature("m", k=0)
    with pytest.raises(ValueError, match="window must be"):
        OnChainFeature("m", window=1)
