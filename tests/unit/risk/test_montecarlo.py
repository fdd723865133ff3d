"""Scenario generators: historical windows, block bootstraps, Student-t and GARCH(1,1) on real returns."""

import numpy as np
import pandas as pd
import pytest

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.risk.montecarlo import (
    block_bootstrap_scenarios,
    bootstrap_indices,
    fit_garch,
    fit_student_t,
    garch_scenarios,
    historical_scenarios,
    horizon_returns,
    portfolio_pnl,
    student_t_scenarios,
)
from nautilus_ai.test_kit import read_stocknet_daily


@pytest.fixture(scope="module")
def real_returns() -> pd.DataFrame:
    closes = pd.concat({s: read_stocknet_daily(s)["adj_close"] for s in ("AAPL", "XOM", "JPM")}, axis=1)
    return closes.pct_change().dropna().iloc[-750:]


def test_historical_scenarios_are_the_overlapping_windows(real_returns):
    scenarios = historical_scenarios(real_returns, horizon=5)

    assert scenarios.shape == (len(real_returns) - 4, 5, 3)
    np.testing.assert_array_equal(scenarios[10], real_returns.to_numpy()[10:15])


@pytest.mark.parametrize("method", ["stationary", "circular"])
def test_block_bootstrap_is_deterministic_by_seed(real_returns, method):
    first = block_bootstrap_scenarios(real_returns, 200, 10, 5.0, seed=7, method=method)
    again = block_bootstrap_scenarios(real_returns, 200, 10, 5.0, seed=7, method=method)
    other = block_bootstrap_scenarios(real_returns, 200, 10, 5.0, seed=8, method=method)

    assert first.shape == (200, 10, 3)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_block_bootstrap_draws_whole_rows_of_history(real_returns):
    scenarios = block_bootstrap_scenarios(real_returns, 50, 10, 4.0, seed=1)
    history = {tuple(row) for row in real_returns.to_numpy()}

    assert all(tuple(row) in history for row in scenarios.reshape(-1, 3))


def test_stationary_bootstrap_blocks_have_the_requested_mean_length():
    rng = np.random.default_rng(3)

    index = bootstrap_indices(1000, 2000, 50, block_length=5.0, rng=rng, method="stationary")
    continued = (index[:, 1:] == (index[:, :-1] + 1) % 1000).mean()

    assert continued == pytest.approx(1.0 - 1.0 / 5.0, abs=0.01)  # P(continue) = 1 - 1/L


def test_circular_bootstrap_blocks_are_consecutive_and_wrap():
    rng = np.random.default_rng(4)

    index = bootstrap_indices(20, 500, 12, block_length=4.0, rng=rng, method="circular")

    for start in (0, 4, 8):
        block = index[:, start : start + 4]
        np.testing.assert_array_equal(block[:, 1:], (block[:, :-1] + 1) % 20)


def test_student_t_fit_recovers_the_degrees_of_freedom():
    rng = np.random.default_rng(11)
    covariance = np.array([[1.0, 0.5], [0.5, 2.0]]) * 1e-4
    normal = rng.multivariate_normal(np.zeros(2), covariance * 3.0 / 5.0, size=6000)
    sample = normal / np.sqrt(rng.chisquare(5.0, size=(6000, 1)) / 5.0)

    fit = fit_student_t(sample)

    assert 4.0 < fit.dof < 6.5
    np.testing.assert_allclose(fit.shape * fit.dof / (fit.dof - 2.0), np.cov(sample, rowvar=False), rtol=1e-6)


def test_student_t_scenarios_match_the_sample_covariance(real_returns):
    scenarios = student_t_scenarios(real_returns, 4000, 5, seed=2, dof=6.0)
    draws = scenarios.reshape(-1, 3)

    assert scenarios.shape == (4000, 5, 3)
    np.testing.assert_allclose(
        np.cov(draws, rowvar=False), real_returns.cov().to_numpy(), rtol=0.15, atol=2e-6
    )
    np.testing.assert_array_equal(scenarios, student_t_scenarios(real_returns, 4000, 5, seed=2, dof=6.0))


def test_student_t_fit_on_real_returns_finds_fat_tails(real_returns):
    assert fit_student_t(real_returns).dof < 10.0


def _simulate_garch(n: int, mu: float, omega: float, alpha: float, beta: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    variance = omega / (1.0 - alpha - beta)
    out = np.empty(n)
    for t in range(n):
        eps = np.sqrt(variance) * rng.standard_normal()
        out[t] = mu + eps
        variance = omega + alpha * eps**2 + beta * variance
    return out


def test_garch_fit_recovers_simulated_parameters():
    series = _simulate_garch(4000, mu=5e-4, omega=5e-6, alpha=0.10, beta=0.85, seed=0)

    fit = fit_garch(series)

    assert fit.alpha + fit.beta == pytest.approx(0.95, abs=0.04)
    assert fit.alpha == pytest.approx(0.10, abs=0.04)
    assert fit.omega == pytest.approx(5e-6, rel=0.6)


def test_garch_scenarios_on_real_returns_have_the_shape_and_are_finite(real_returns):
    two = real_returns[["AAPL", "XOM"]]

    scenarios = garch_scenarios(two, n_scenarios=500, horizon=10, seed=5)

    assert scenarios.shape == (500, 10, 2)
    assert np.all(np.isfinite(scenarios))
    daily_std = scenarios.std(axis=(0, 1))
    assert np.all(daily_std > 0.3 * two.std().to_numpy()) and np.all(daily_std < 3.0 * two.std().to_numpy())
    assert np.corrcoef(scenarios[:, 0, 0], scenarios[:, 0, 1])[0, 1] > 0.1  # the two move together
    np.testing.assert_array_equal(scenarios, garch_scenarios(two, n_scenarios=500, horizon=10, seed=5))


def test_horizon_returns_compound_and_pnl_is_linear_in_weights():
    scenarios = np.array([[[0.10, -0.05], [0.10, 0.05]]])  # one scenario, two bars, two instruments

    compounded = horizon_returns(scenarios)
    pnl = portfolio_pnl(scenarios, np.array([0.5, -1.0]))

    np.testing.assert_allclose(compounded, [[0.21, 0.95 * 1.05 - 1.0]])
    assert pnl[0] == pytest.approx(0.5 * 0.21 - (0.95 * 1.05 - 1.0))


def test_generators_name_bad_input(real_returns):
    broken = real_returns.copy()
    broken.iloc[3, 1] = np.nan

    with pytest.raises(DataError, match="XOM"):
        historical_scenarios(broken, 2)
    with pytest.raises(ConfigError):
        block_bootstrap_scenarios(real_returns, 0, 5, 3.0, seed=1)
    with pytest.raises(ConfigError):
        block_bootstrap_scenarios(real_returns, 10, 5, 0.5, seed=1)
    with pytest.raises(DataError, match="weights"):
        portfolio_pnl(np.zeros((4, 2, 3)), np.ones(2))
