"""The router: selector choices turned into order plans, and the bar-only liquidity estimate."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.execution.liquidity import LiquidityState
from nautilus_ai.execution.router import (
    BarLiquidity,
    RouterConfig,
    join_touch_price,
    route_order,
)
from nautilus_ai.execution.selector import SelectorConfig

AAPL = Path(__file__).parents[3] / "data" / "bars_daily" / "stocknet" / "AAPL.csv"
NOW = 1_700_000_000_000_000_000


def state(
    vpin: float = 0.1, volume: float = 1_000.0, depth: float = 500.0, spread: float = 1.0
) -> LiquidityState:
    return LiquidityState(
        spread_bps=spread,
        bid_depth=(depth,),
        ask_depth=(depth,),
        book_imbalance=0.0,
        microprice_drift_bps=0.0,
        vpin=vpin,
        volatility_bps=10.0,
        trade_intensity=0.0,
        typical_bar_volume=volume,
    )


CONFIG = RouterConfig(selector=SelectorConfig(bar_seconds=60.0, lot=1.0), signal_horizon_bars=20)


def test_small_sure_order_goes_at_market():
    plan = route_order(5.0, "BUY", state(), 1.0, 99.9, 100.1, NOW, RouterConfig(signal_horizon_bars=1))
    assert plan.order_type == "MARKET" and plan.exec_algorithm_id is None
    assert plan.choice.rule == "R1"


def test_small_patient_order_joins_the_touch_until_the_horizon():
    plan = route_order(5.0, "BUY", state(), 0.55, 99.9, 100.1, NOW, CONFIG)
    assert plan.choice.rule == "R4"
    assert plan.order_type == "LIMIT" and plan.limit_price == pytest.approx(99.9)
    assert plan.expire_ns == NOW + 20 * 60 * 1_000_000_000
    sell = route_order(5.0, "SELL", state(), 0.55, 99.9, 100.1, NOW, CONFIG)
    assert sell.limit_price == pytest.approx(100.1)


def test_large_urgent_order_is_worked_by_twap_with_string_params():
    urgent = RouterConfig(selector=SelectorConfig(bar_seconds=60.0, lot=1.0), signal_horizon_bars=1)
    plan = route_order(3_000.0, "SELL", state(), 0.95, 99.9, 100.1, NOW, urgent)
    assert plan.choice.kind == "twap" and plan.choice.rule == "R5"
    assert plan.order_type == "MARKET" and plan.exec_algorithm_id == "TWAP"
    params = plan.exec_algorithm_params
    assert params is not None and all(isinstance(v, str) for v in params.values())
    assert float(params["horizon_secs"]) == plan.choice.params["horizon_bars"] * 60.0
    assert params["on_horizon_end"] == "finish"


def test_large_patient_order_rests_as_an_iceberg_limit():
    plan = route_order(300.0, "BUY", state(), 0.5, 99.9, 100.1, NOW, CONFIG)
    assert plan.choice.kind == "iceberg"
    assert plan.order_type == "LIMIT" and plan.exec_algorithm_id == "ICEBERG"
    assert plan.limit_price == pytest.approx(99.9)
    params = plan.exec_algorithm_params
    assert params is not None and float(params["display_qty"]) <= 300.0 and params["price_mode"] == "fixed"
    assert float(params["horizon_secs"]) == 20 * 60.0


def test_a_kind_the_node_does_not_run_falls_back_to_twap():
    config = RouterConfig(selector=SelectorConfig(lot=1.0), signal_horizon_bars=20, algorithms=("twap",))
    plan = route_order(900.0, "BUY", state(), 0.6, 99.9, 100.1, NOW, config)
    assert plan.exec_algorithm_id == "TWAP"
    assert "worked by TWAP" in plan.choice.reason


def test_router_config_is_validated():
    with pytest.raises(ConfigError, match="algorithms"):
        RouterConfig(algorithms=("vwap",))
    with pytest.raises(ConfigError, match="signal_horizon_bars"):
        RouterConfig(signal_horizon_bars=0)
    with pytest.raises(ConfigError, match="on_horizon_end"):
        RouterConfig(on_horizon_end="later")  # type: ignore[arg-type]


def test_join_touch_rejects_a_crossed_touch():
    assert join_touch_price("BUY", 10.0, 10.2, 10.0) == pytest.approx(10.0 * (1 - 1e-3))
    with pytest.raises(DataError, match="touch"):
        join_touch_price("BUY", 10.3, 10.2, 0.0)


def test_bar_liquidity_on_real_daily_bars_matches_pandas():
    bars = pd.read_csv(AAPL).iloc[:80]
    liquidity = BarLiquidity(window=20, spread_bps=2.0, depth_bar_fraction=0.1, bar_seconds=86_400.0)
    states = []
    for i, row in enumerate(bars.itertuples()):
        liquidity.update(float(row.Close), float(row.Volume), i)
        states.append(liquidity.state())
    assert states[19] is None and states[20] is not None
    last = states[-1]
    assert last is not None
    volumes = bars["Volume"].to_numpy(dtype=float)
    returns = bars["Close"].pct_change().to_numpy()
    assert last.typical_bar_volume == pytest.approx(np.median(volumes[-20:]))
    assert last.volatility_bps == pytest.approx(np.std(returns[-20:], ddof=1) * 1e4, rel=1e-9)
    assert last.bid_depth == (pytest.approx(0.1 * last.typical_bar_volume),)
    assert 0.0 < last.vpin < 1.0 and last.spread_bps == 2.0
    bid, ask = liquidity.touch()
    close = float(bars["Close"].iloc[-1])
    assert bid == pytest.approx(close * (1 - 1e-4)) and ask == pytest.approx(close * (1 + 1e-4))


def test_bar_liquidity_state_depends_only_on_past_bars():
    bars = pd.read_csv(AAPL).iloc[:60]
    full, cut = BarLiquidity(window=10), BarLiquidity(window=10)
    for i, row in enumerate(bars.itertuples()):
        full.update(float(row.Close), float(row.Volume), i)
        if i < 40:
            cut.update(float(row.Close), float(row.Volume), i)
        if i == 39:
            before = full.state()
    assert before == cut.state()


def test_bar_liquidity_rejects_bad_bars_and_config():
    with pytest.raises(ConfigError, match="window"):
        BarLiquidity(window=1)
    with pytest.raises(DataError, match="bar"):
        BarLiquidity().update(math.nan, 10.0, 0)


def test_the_signal_horizon_overrides_the_configured_one():
    patient = route_order(3_000.0, "SELL", state(), 0.95, 99.9, 100.1, NOW, CONFIG)
    urgent = route_order(3_000.0, "SELL", state(), 0.95, 99.9, 100.1, NOW, CONFIG, horizon_bars=1)
    assert patient.choice.rule != "R5"
    assert urgent.choice.rule == "R5" and urgent.exec_algorithm_id == "TWAP"
