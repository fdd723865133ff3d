"""MLStrategy refuses configs it cannot trade safely."""

import pytest
from nautilus_trader.model.data import BarType
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.strategies.ml_strategy import MLStrategy, MLStrategyConfig

IID = InstrumentId.from_str("AAPL.XNAS")
BAR_TYPE = BarType.from_str("AAPL.XNAS-1-DAY-LAST-EXTERNAL")


def _config(**overrides) -> MLStrategyConfig:
    return MLStrategyConfig(instrument_id=IID, bar_type=BAR_TYPE, **overrides)


def test_default_config_builds_a_strategy():
    strategy = MLStrategy(_config())

    assert strategy.intents == []


@pytest.mark.parametrize("band", [0.0, 0.25, 0.999])
def test_rebalance_band_inside_zero_one_is_accepted(band):
    MLStrategy(_config(rebalance_band=band))


@pytest.mark.parametrize("band", [-0.01, 1.0, 1.5])
def test_rebalance_band_out_of_range_raises(band):
    with pytest.raises(ValueError, match="rebalance_band must be in"):
        MLStrategy(_config(rebalance_band=band))


@pytest.mark.parametrize("target_volatility", [0.0, -0.1])
def test_non_positive_target_volatility_raises(target_volatility):
    with pytest.raises(ValueError, match="target_volatility"):
        MLStrategy(_config(target_volatility=target_volatility))


@pytest.mark.parametrize("max_weight", [0.0, -1.0])
def test_non_positive_max_weight_raises(max_weight):
    with pytest.raises(ValueError, match="max_weight"):
        MLStrategy(_config(max_weight=max_weight))


def test_volatility_window_below_two_raises():
    with pytest.raises(ValueError, match="window must be >= 2"):
        MLStrategy(_config(volatility_window=1))


@pytest.mark.parametrize("periods_per_year", [0.0, -252.0])
def test_non_positive_periods_per_year_raises(periods_per_year):
    with pytest.raises(ValueError, match="periods_per_year"):
        MLStrategy(_config(periods_per_year=periods_per_year))
