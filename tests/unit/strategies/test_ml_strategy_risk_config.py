"""MLStrategy's risk fields: sizing rule, gate limits, CVaR budget and stops are validated and wired."""

from __future__ import annotations

import math

import numpy as np
import pytest
from nautilus_trader.model.data import BarType
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.catalog.types import ModelSignal
from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.risk.gate import CvarBudget
from nautilus_ai.risk.sizing import combine_size, volatility_target_weight
from nautilus_ai.risk.state import GateState
from nautilus_ai.strategies.ml_strategy import MLStrategy, MLStrategyConfig
from nautilus_ai.test_kit import read_stocknet_daily

IID = InstrumentId.from_str("AAPL.XNAS")
BAR_TYPE = BarType.from_str("AAPL.XNAS-1-DAY-LAST-EXTERNAL")


def _config(**overrides) -> MLStrategyConfig:
    return MLStrategyConfig(instrument_id=IID, bar_type=BAR_TYPE, **overrides)


def _signal(direction: int, probability: float) -> ModelSignal:
    return ModelSignal(instrument_id=IID, direction=direction, probability=probability, ts_event=0, ts_init=0)


def test_defaults_keep_the_previous_behaviour():
    strategy = MLStrategy(_config())

    assert strategy.config.sizing == "volatility" and strategy.config.stops == "none"
    assert strategy.gate.state == GateState.ACTIVE and strategy.gate.cvar is None
    assert strategy.gate.limits.max_position_weight == 1.0
    assert math.isinf(strategy.gate.limits.max_gross_leverage)
    assert math.isinf(strategy.gate.limits.max_net_leverage)
    assert strategy.decisions == []


def test_gate_limits_come_from_the_config():
    strategy = MLStrategy(
        _config(max_weight=0.3, max_position_notional=250_000.0, max_gross_leverage=1.5, max_net_leverage=0.8)
    )

    limits = strategy.gate.limits
    assert (limits.max_position_weight, limits.max_position_notional) == (0.3, 250_000.0)
    assert (limits.max_gross_leverage, limits.max_net_leverage) == (1.5, 0.8)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sizing": "kelly"}, "sizing must be 'volatility' or 'kelly_volatility'"),
        ({"kelly_fraction": 0.0}, "kelly_fraction must be in"),
        ({"kelly_fraction": 1.5}, "kelly_fraction must be in"),
        ({"payoff_ratio": -1.0}, "payoff_ratio must be positive"),
        ({"stops": "fixed"}, "stops must be 'none', 'atr' or 'atr_trailing'"),
        ({"atr_period": 0}, "atr_period must be >= 1"),
        ({"stop_atr_multiple": 0.0}, "stop_atr_multiple must be positive"),
        ({"target_atr_multiple": -2.0}, "target_atr_multiple must be positive"),
        ({"trail_atr_multiple": 0.0}, "trail_atr_multiple must be positive"),
        ({"cvar_alpha": 1.0}, "cvar_alpha must be in"),
        ({"cvar_budget": 0.05}, "cvar_budget needs cvar_scenarios_path"),
        ({"max_gross_leverage": 0.0}, "max_gross_leverage must be positive"),
        ({"max_net_leverage": -1.0}, "max_net_leverage must be positive"),
        ({"max_position_notional": 0.0}, "max_position_notional must be positive"),
    ],
)
def test_invalid_risk_fields_raise_a_config_error_naming_the_field(overrides, message):
    with pytest.raises(ConfigError, match=message):
        MLStrategy(_config(**overrides))


def test_a_cvar_scenario_file_enables_the_cvar_check(tmp_path):
    returns = read_stocknet_daily("AAPL")["close"].pct_change().dropna().to_numpy(dtype="float64")[:500]
    scenarios = np.asarray(returns[:, None], dtype=np.float64)
    path = CvarBudget(("AAPL.XNAS",), scenarios, budget=0.04).save(tmp_path / "cvar.npz")

    strategy = MLStrategy(_config(cvar_scenarios_path=str(path), cvar_budget=0.02, cvar_alpha=0.99))

    assert strategy.gate.cvar is not None
    assert strategy.gate.cvar.budget == 0.02 and strategy.gate.cvar.alpha == 0.99
    np.testing.assert_allclose(strategy.gate.cvar.scenarios[:, 0], returns)


def test_a_missing_cvar_scenario_file_is_named():
    with pytest.raises(DataError, match=r"missing\.npz does not exist"):
        MLStrategy(_config(cvar_scenarios_path="/nonexistent/missing.npz"))


def _warmed(strategy: MLStrategy) -> MLStrategy:
    for close in read_stocknet_daily("AAPL")["close"].to_numpy()[:60]:
        strategy._rvol.update_raw(float(close))
    return strategy


def test_volatility_sizing_ignores_the_probability():
    strategy = _warmed(MLStrategy(_config(target_volatility=0.1, max_weight=1.0)))

    weight = strategy.target_weight(_signal(1, 0.51), 1, 1_000_000.0)

    assert weight == volatility_target_weight(1, strategy._rvol.value, 0.1, 252.0, 1.0)


@pytest.mark.parametrize(("direction", "probability"), [(1, 0.56), (-1, 0.40), (1, 0.45)])
def test_kelly_volatility_sizing_takes_the_smaller_of_kelly_and_volatility(direction, probability):
    config = _config(sizing="kelly_volatility", kelly_fraction=0.5, payoff_ratio=1.2, target_volatility=0.4)
    strategy = _warmed(MLStrategy(config))

    weight = strategy.target_weight(_signal(direction, probability), direction, 1_000_000.0)

    p_right = probability if direction > 0 else 1.0 - probability
    expected = combine_size(direction, p_right, 1.2, 0.5, strategy._rvol.value, 0.4, 252.0, 1_000_000.0, 1.0)
    assert weight == expected.weight
    assert abs(weight) <= abs(volatility_target_weight(direction, strategy._rvol.value, 0.4, 252.0, 1.0))
    if p_right < 1 / 2.2:  # negative edge: Kelly says no bet
        assert weight == 0.0
