"""VaR and CVaR against known values, riskfolio-lib, and the CVaR budget check."""

import numpy as np
import pandas as pd
import pytest
import riskfolio as rp
from scipy import stats

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.risk.cvar import (
    conditional_value_at_risk,
    cvar_check,
    portfolio_cvar,
    tail_risk,
    value_at_risk,
)
from nautilus_ai.risk.montecarlo import historical_scenarios
from nautilus_ai.test_kit import read_stocknet_daily

# Twenty scenario P&Ls (fractions of equity); sorted losses: -0.06 ... 0.04, 0.07, 0.12.
TWENTY = [
    0.06, -0.01, 0.02, -0.12, 0.03, 0.00, -0.02, 0.01, 0.04, -0.04,
    0.05, -0.03, 0.02, -0.07, 0.01, 0.00, -0.01, 0.03, 0.02, -0.02,
]  # fmt: skip


@pytest.fixture(scope="module")
def real_returns() -> pd.DataFrame:
    closes = pd.concat({s: read_stocknet_daily(s)["adj_close"] for s in ("AAPL", "XOM", "JPM", "GE")}, axis=1)
    return closes.pct_change().dropna().iloc[-500:]


def test_var_and_cvar_of_twenty_values_by_hand():
    assert value_at_risk(TWENTY, 0.95) == pytest.approx(0.07)  # L_(19) of 20
    assert conditional_value_at_risk(TWENTY, 0.95) == pytest.approx(0.12)  # the worst 5%: one scenario
    assert value_at_risk(TWENTY, 0.90) == pytest.approx(0.04)  # L_(18)
    assert conditional_value_at_risk(TWENTY, 0.90) == pytest.approx((0.07 + 0.12) / 2)
    assert conditional_value_at_risk(TWENTY, 0.85) == pytest.approx((0.04 + 0.07 + 0.12) / 3)


def test_cvar_counts_the_boundary_scenario_fractionally():
    # n (1 - alpha) = 20 * 0.075 = 1.5: the worst loss plus half of the next
    assert conditional_value_at_risk(TWENTY, 0.925) == pytest.approx((0.12 + 0.5 * 0.07) / 1.5)


@pytest.mark.parametrize("alpha", [0.95, 0.99])
def test_cvar_of_a_normal_matches_the_closed_form(alpha):
    sigma, mu = 0.01, 0.0005
    pnl = np.random.default_rng(0).normal(mu, sigma, size=400_000)
    closed_form = -mu + sigma * stats.norm.pdf(stats.norm.ppf(alpha)) / (1.0 - alpha)

    assert conditional_value_at_risk(pnl, alpha) == pytest.approx(closed_form, rel=0.02)
    assert value_at_risk(pnl, alpha) == pytest.approx(-mu + sigma * stats.norm.ppf(alpha), rel=0.02)


@pytest.mark.parametrize("alpha", [0.95, 0.99])
def test_cvar_equals_riskfolio_historical_cvar_on_real_returns(real_returns, alpha):
    weights = np.array([0.4, 0.3, -0.2, 0.1])
    pnl = real_returns.to_numpy() @ weights

    reference = rp.RiskFunctions.CVaR_Hist(pnl.reshape(-1, 1), alpha=1.0 - alpha)

    assert conditional_value_at_risk(pnl, alpha) == pytest.approx(reference, rel=1e-12)
    assert portfolio_cvar(weights, real_returns.to_numpy(), alpha) == pytest.approx(reference, rel=1e-12)


def test_tail_risk_orders_the_measures(real_returns):
    risk = tail_risk(real_returns["AAPL"].to_numpy())

    assert 0.0 < risk.var_95 <= risk.cvar_95 <= risk.cvar_99
    assert risk.var_95 <= risk.var_99 <= risk.cvar_99


def test_portfolio_cvar_is_positively_homogeneous(real_returns):
    scenarios = historical_scenarios(real_returns, 5)
    weights = np.array([0.3, 0.2, 0.1, -0.1])

    assert portfolio_cvar(2.0 * weights, scenarios) == pytest.approx(2.0 * portfolio_cvar(weights, scenarios))


def test_cvar_check_accepts_a_change_within_budget(real_returns):
    scenarios = real_returns.to_numpy()
    current, proposed = np.zeros(4), np.array([0.1, 0.1, 0.0, 0.0])

    decision = cvar_check(current, proposed, scenarios, budget=0.05)

    assert decision.action == "accept"
    assert decision.scale == 1.0
    assert decision.cvar_before == 0.0
    assert decision.cvar_after <= 0.05


def test_cvar_check_shrinks_to_the_largest_scale_within_budget(real_returns):
    scenarios = real_returns.to_numpy()
    current, proposed = np.array([0.1, 0.0, 0.0, 0.0]), np.array([0.5, 0.5, 0.3, 0.2])
    budget = 0.02

    decision = cvar_check(current, proposed, scenarios, budget, tolerance=1e-6)

    assert decision.action == "shrink"
    assert 0.0 < decision.scale < 1.0
    assert decision.cvar_after <= budget
    beyond = current + (decision.scale + 1e-5) * (proposed - current)
    assert portfolio_cvar(beyond, scenarios) > budget
    assert "shrunk" in decision.reason


def test_cvar_check_rejects_a_risk_increase_of_a_book_over_budget(real_returns):
    scenarios = real_returns.to_numpy()
    current, proposed = np.array([0.8, 0.5, 0.0, 0.0]), np.array([1.0, 0.5, 0.0, 0.0])

    decision = cvar_check(current, proposed, scenarios, budget=0.01)

    assert decision.action == "reject"
    assert decision.scale == 0.0
    assert decision.cvar_after == decision.cvar_before > 0.01
    assert "already over budget" in decision.reason


def test_cvar_check_accepts_a_risk_reduction_of_a_book_over_budget(real_returns):
    scenarios = real_returns.to_numpy()
    current, proposed = np.array([0.8, 0.5, 0.0, 0.0]), np.array([0.4, 0.5, 0.0, 0.0])

    decision = cvar_check(current, proposed, scenarios, budget=0.01)

    assert decision.action == "accept"
    assert decision.cvar_after < decision.cvar_before


def test_cvar_check_rejects_when_no_fraction_fits(real_returns):
    scenarios = real_returns.to_numpy()
    current = np.array([0.3, 0.0, 0.0, 0.0])
    budget = portfolio_cvar(current, scenarios)

    decision = cvar_check(current, np.array([0.6, 0.0, 0.0, 0.0]), scenarios, budget)

    assert decision.action == "reject"
    assert decision.scale == 0.0


def test_cvar_inputs_are_checked(real_returns):
    scenarios = real_returns.to_numpy()
    with pytest.raises(ConfigError, match="budget"):
        cvar_check(np.zeros(4), np.ones(4), scenarios, budget=0.0)
    with pytest.raises(ConfigError, match="alpha"):
        conditional_value_at_risk(TWENTY, 95)
    with pytest.raises(DataError, match="instruments"):
        cvar_check(np.zeros(3), np.ones(3), scenarios, budget=0.1)
    with pytest.raises(DataError, match="finite"):
        value_at_risk([0.1, np.nan])
