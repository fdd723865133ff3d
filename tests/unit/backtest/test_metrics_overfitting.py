"""Overfitting statistics of a walk-forward's stitched out-of-sample returns (PSR, DSR, PBO)."""

import math

import numpy as np
import pandas as pd
import pytest

from nautilus_ai.backtest.metrics import candidate_returns, out_of_sample_psr, overfitting_statistics
from nautilus_ai.backtest.overfitting import (
    deflated_sharpe_ratio,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
)

INDEX = pd.date_range("2020-01-01", periods=401, freq="D", tz="UTC")


def _curve(drift: float, seed: int) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series(1e6 * np.cumprod(np.r_[1.0, 1.0 + rng.normal(drift, 0.01, len(INDEX) - 1)]), index=INDEX)


@pytest.fixture
def returns() -> pd.DataFrame:
    return candidate_returns(
        {"strategy": _curve(0.002, 1), "buy_and_hold": _curve(0.0, 2), "ema_cross": _curve(-0.001, 3)}
    )


def test_psr_of_out_of_sample_returns_is_the_kernel_value():
    r = _curve(0.001, 4).pct_change().iloc[1:]

    assert out_of_sample_psr(r) == pytest.approx(probabilistic_sharpe_ratio(r.to_numpy()), rel=1e-12)


@pytest.mark.parametrize("values", [[], [0.01], [0.0] * 20])
def test_psr_is_none_where_undefined(values):
    assert out_of_sample_psr(np.asarray(values, dtype=float)) is None


def test_candidate_returns_align_the_curves_on_common_periods():
    strategy = _curve(0.0, 5)
    baseline = _curve(0.0, 6).iloc[10:]

    frame = candidate_returns({"strategy": strategy, "baseline": baseline})

    assert list(frame.columns) == ["strategy", "baseline"]
    assert frame.index[0] == INDEX[11]
    assert len(frame) == len(INDEX) - 11
    np.testing.assert_allclose(frame["strategy"], strategy.pct_change().iloc[11:])


def test_overfitting_statistics_match_the_kernels(returns):
    stats = overfitting_statistics(returns, "strategy", n_trials=10, pbo_splits=8)

    sharpes = returns.mean() / returns.std(ddof=1)
    variance = float(np.var(sharpes.to_numpy(), ddof=1))
    assert stats["sr_variance"] == pytest.approx(variance, rel=1e-12)
    assert stats["sr_variance_source"] == "candidates"
    assert stats["psr"] == pytest.approx(probabilistic_sharpe_ratio(returns["strategy"].to_numpy()))
    assert stats["dsr"] == pytest.approx(deflated_sharpe_ratio(returns["strategy"].to_numpy(), 10, variance))
    assert stats["pbo"] == pytest.approx(probability_of_backtest_overfitting(returns.to_numpy(), 8).pbo)
    assert stats["pbo_combinations"] == math.comb(8, 4)
    assert stats["candidates"] == ["strategy", "buy_and_hold", "ema_cross"]
    assert stats["n_periods"] == len(returns)


def test_one_trial_leaves_the_dsr_equal_to_the_psr(returns):
    stats = overfitting_statistics(returns, "strategy")

    assert stats["n_trials"] == 1
    assert stats["sr_benchmark"] == 0.0
    assert stats["dsr"] == pytest.approx(stats["psr"], rel=1e-12)


def test_more_trials_deflate_the_sharpe_ratio(returns):
    one = overfitting_statistics(returns, "strategy", n_trials=1)
    many = overfitting_statistics(returns, "strategy", n_trials=100)

    assert many["dsr"] < one["dsr"]
    assert many["sr_benchmark"] > 0.0


def test_a_known_annualized_trial_variance_is_deannualized(returns):
    stats = overfitting_statistics(
        returns, "strategy", n_trials=20, trial_sharpe_variance=0.5, periods_per_year=252.0
    )

    assert stats["sr_variance"] == pytest.approx(0.5 / 252.0)
    assert stats["sr_variance_source"] == "config"
    assert stats["dsr"] == pytest.approx(
        deflated_sharpe_ratio(returns["strategy"].to_numpy(), 20, 0.5 / 252.0)
    )


def test_a_dominant_strategy_is_not_overfit(returns):
    stats = overfitting_statistics(returns, "strategy", pbo_splits=4)

    assert stats["pbo"] < 0.5


def test_pbo_is_none_with_a_single_candidate_or_too_few_periods(returns):
    alone = overfitting_statistics(returns[["strategy"]], "strategy")
    short = overfitting_statistics(returns.iloc[:6], "strategy", pbo_splits=8)

    assert alone["pbo"] is None and alone["psr"] is not None
    assert short["pbo"] is None


def test_overfitting_statistics_refuse_bad_arguments(returns):
    with pytest.raises(ValueError, match="not a column"):
        overfitting_statistics(returns, "missing")
    with pytest.raises(ValueError, match="n_trials"):
        overfitting_statistics(returns, "strategy", n_trials=0)
    with pytest.raises(ValueError, match="periods_per_year"):
        overfitting_statistics(returns, "strategy", trial_sharpe_variance=0.5)
