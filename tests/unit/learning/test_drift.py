"""Drift kernels (PSI, KS, hit-rate and calibration decay) and the DriftMonitor on real AAPL features."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.learning.drift import (
    DriftConfig,
    DriftMonitor,
    calibration_decay,
    hit_rate_decay,
    ks_two_sample,
    population_stability_index,
    psi_from_counts,
    quantile_bin_edges,
)
from nautilus_ai.test_kit import read_stocknet_daily


@pytest.fixture(scope="module")
def aapl_features() -> pd.DataFrame:
    """Three features of the real AAPL daily bars: 5-day log return, 20-day volatility, daily range."""
    daily = read_stocknet_daily("AAPL")
    log_close = np.log(daily["adj_close"])
    frame = pd.DataFrame(
        {
            "ret_5": log_close.diff(5),
            "vol_20": log_close.diff().rolling(20).std(),
            "range": (daily["high"] - daily["low"]) / daily["close"],
        }
    )
    return frame.dropna()


def test_psi_matches_the_hand_computed_value():
    # Reference 0..99 in 4 quantile bins of 25 values; current shares 0.4, 0.2, 0.2, 0.2.
    reference = np.arange(100.0)
    current = np.array([0.0] * 40 + [30.0] * 20 + [60.0] * 20 + [90.0] * 20)
    expected = 0.15 * math.log(0.4 / 0.25) + 3 * (-0.05) * math.log(0.2 / 0.25)
    assert population_stability_index(reference, current, n_bins=4) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.103972, abs=1e-6)


def test_psi_equals_an_independent_histogram_computation():
    rng = np.random.default_rng(3)
    reference, current = rng.normal(size=2000), rng.normal(0.3, 1.2, size=700)
    edges = np.quantile(reference, np.linspace(0, 1, 11))
    edges[0], edges[-1] = -np.inf, np.inf
    r = np.histogram(reference, edges)[0] / reference.size
    c = np.histogram(current, edges)[0] / current.size
    expected = float(np.sum((c - r) * np.log(c / r)))
    assert population_stability_index(reference, current) == pytest.approx(expected, rel=1e-9)


def test_psi_is_zero_for_the_same_sample_and_finite_with_an_empty_bin():
    x = np.linspace(-1, 1, 500)
    assert population_stability_index(x, x) == pytest.approx(0.0, abs=1e-12)
    assert np.isfinite(population_stability_index(x, np.full(50, 5.0)))
    assert psi_from_counts([10, 10], [10, 10]) == 0.0


def test_quantile_edges_merge_ties_and_reject_an_empty_reference():
    assert quantile_bin_edges(np.zeros(10), 5).size == 1
    with pytest.raises(DataError, match="reference"):
        quantile_bin_edges([np.nan, np.inf], 5)
    with pytest.raises(DataError, match="current"):
        population_stability_index([1.0, 2.0], [np.nan])


def test_ks_matches_scipy_and_the_exact_permutation_distribution():
    reference, current = np.array([1.0, 2.0, 3.0, 4.0]), np.array([3.0, 4.0, 5.0, 6.0])
    result = ks_two_sample(reference, current)
    assert result.statistic == pytest.approx(0.5)
    pooled = np.concatenate([reference, current])
    ds = []
    for idx in itertools.combinations(range(8), 4):
        a = pooled[list(idx)]
        b = np.delete(pooled, list(idx))
        ds.append(stats.ks_2samp(a, b).statistic)
    exact_p = float(np.mean(np.array(ds) >= 0.5 - 1e-12))
    assert result.pvalue == pytest.approx(exact_p, abs=1e-9)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=300), rng.standard_t(3, size=200)
    scipy_result = stats.ks_2samp(x, y)
    assert ks_two_sample(x, y).statistic == pytest.approx(scipy_result.statistic)
    assert ks_two_sample(x, y).pvalue == pytest.approx(scipy_result.pvalue)


def test_hit_rate_decay_uses_a_one_sided_binomial_test():
    hits = np.array([True] * 30 + [False] * 70)
    result = hit_rate_decay(hits, 0.55)
    assert result.hit_rate == pytest.approx(0.3)
    assert result.pvalue == pytest.approx(stats.binom.cdf(30, 100, 0.55))
    assert hit_rate_decay(np.array([True] * 60 + [False] * 40), 0.55).pvalue > 0.5
    assert hit_rate_decay([], 0.55).n == 0
    with pytest.raises(ConfigError, match="reference_hit_rate"):
        hit_rate_decay(hits, 1.0)


def test_calibration_decay_reports_brier_and_ece():
    y = np.array([1, 0, 1, 0])
    p = np.array([0.9, 0.1, 0.2, 0.8])
    result = calibration_decay(y, p, reference_brier=0.2, reference_ece=0.05, n_bins=2)
    assert result.brier == pytest.approx((0.01 + 0.01 + 0.64 + 0.64) / 4)
    assert result.n == 4
    with pytest.raises(DataError):
        calibration_decay([1, 0], [0.5], 0.2, 0.05)


def test_monitor_detects_the_2015_volatility_regime_of_aapl(aapl_features):
    monitor = DriftMonitor.from_frame(aapl_features.loc["2014"])
    report = monitor.check(aapl_features.loc["2015"].to_numpy())
    assert report.drifted
    assert "vol_20" in report.drifted_features
    vol = next(f for f in report.features if f.name == "vol_20")
    assert vol.psi > 0.25 and vol.ks_pvalue < 0.01
    assert "vol_20" in report.reasons[0]
    assert report.to_dict()["drifted_features"] == report.drifted_features


def test_monitor_finds_no_drift_on_a_same_distribution_split(aapl_features):
    window = aapl_features.loc["2014":"2015"]
    monitor = DriftMonitor.from_frame(window.iloc[::2])
    report = monitor.check(window.iloc[1::2].to_numpy())
    assert not report.drifted
    assert report.drifted_features == []
    assert all(f.psi < 0.1 for f in report.features)


def test_monitor_detects_a_volatility_scaled_copy(aapl_features):
    window = aapl_features.loc["2014"]
    monitor = DriftMonitor.from_frame(window, feature_names=["ret_5"])
    report = monitor.check(window[["ret_5"]].to_numpy() * 3.0)
    assert report.drifted_features == ["ret_5"]


def test_monitor_needs_min_samples_and_checks_decay():
    rng = np.random.default_rng(0)
    monitor = DriftMonitor(
        rng.normal(size=(500, 2)),
        ["a", "b"],
        DriftConfig(min_samples=40),
        reference_hit_rate=0.6,
        reference_brier=0.2,
        reference_ece=0.05,
    )
    assert monitor.check(rng.normal(5.0, 1.0, size=(10, 2))).features == ()
    y = rng.integers(0, 2, size=200)
    report = monitor.check(
        rng.normal(size=(200, 2)),
        hits=np.arange(200) % 3 == 0,
        outcomes=y,
        probabilities=np.where(y == 1, 0.1, 0.9),
    )
    assert report.drifted_features == []
    assert any("hit rate" in r for r in report.reasons)
    assert any("Brier" in r for r in report.reasons) and any("ECE" in r for r in report.reasons)


def test_monitor_rejects_bad_shapes_and_files(tmp_path):
    with pytest.raises(DataError, match="reference of shape"):
        DriftMonitor(np.zeros((5, 3)), ["a", "b"])
    monitor = DriftMonitor(np.arange(20.0).reshape(10, 2), ["a", "b"])
    with pytest.raises(DataError, match="current window"):
        monitor.check(np.zeros((5, 3)))
    with pytest.raises(DataError, match="not found"):
        DriftMonitor.from_parquet(tmp_path / "missing.parquet")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(DataError, match=r"bad\.parquet"):
        DriftMonitor.from_parquet(bad)
    with pytest.raises(DataError, match="zzz"):
        DriftMonitor.from_frame(pd.DataFrame({"a": [1.0]}), feature_names=["zzz"])


def test_config_is_strict():
    with pytest.raises(ValueError):
        DriftConfig.model_validate({"psi_treshold": 0.1})
    with pytest.raises(ValueError):
        DriftConfig(psi_threshold=-1.0)
