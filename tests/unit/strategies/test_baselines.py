"""The EMA-crossover baseline: the direction rule, and its trades on real bars against a pandas EMA."""

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai import test_kit
from nautilus_ai.strategies.baselines import EmaCross, EmaCrossConfig, ema_cross_direction

FAST, SLOW, N_BARS, START_BAR = 10, 30, 300, 100


@pytest.mark.parametrize(
    ("fast", "slow", "allow_short", "expected"),
    [
        (2.0, 1.0, False, 1),
        (1.0, 2.0, False, 0),
        (1.0, 2.0, True, -1),
        (1.0, 1.0, False, 0),
        (1.0, 1.0, True, -1),
    ],
)
def test_ema_cross_direction(fast, slow, allow_short, expected):
    assert ema_cross_direction(fast, slow, allow_short) == expected


def _run(allow_short: bool) -> tuple[pd.DataFrame, pd.Series, pd.Timestamp]:
    instrument = test_kit.stocknet_equity("AAPL")
    bar_type, bars = test_kit.stocknet_bars("AAPL")
    bars = bars[:N_BARS]
    trade_start = pd.Timestamp(bars[START_BAR].ts_init, unit="ns", tz="UTC")
    engine = test_kit.make_backtest_engine([instrument])
    engine.add_data(bars)
    engine.add_strategy(
        EmaCross(
            EmaCrossConfig(
                instrument_id=instrument.id,
                bar_type=bar_type,
                fast_period=FAST,
                slow_period=SLOW,
                allow_short=allow_short,
                weight=0.5,
                trade_start=trade_start.isoformat(),
            )
        )
    )
    try:
        engine.run()
        fills = engine.trader.generate_order_fills_report()
    finally:
        engine.dispose()
    closes = pd.Series(
        [b.close.as_double() for b in bars],
        index=pd.to_datetime([b.ts_init for b in bars], unit="ns", utc=True),
    )
    fills = fills.assign(ts=pd.to_datetime(fills["ts_last"], utc=True), qty=fills["filled_qty"].astype(float))
    signed = np.where(fills["side"].astype(str) == "BUY", 1.0, -1.0) * fills["qty"]
    return fills.assign(position=np.cumsum(signed)).sort_values("ts"), closes, trade_start


def _expected_direction(closes: pd.Series, allow_short: bool) -> pd.Series:
    fast = closes.ewm(span=FAST, adjust=False).mean()
    slow = closes.ewm(span=SLOW, adjust=False).mean()
    return pd.Series(np.where(fast > slow, 1, -1 if allow_short else 0), index=closes.index)


@pytest.mark.parametrize("allow_short", [False, True])
def test_ema_cross_holds_the_side_of_the_crossover_after_every_trade(allow_short):
    fills, closes, trade_start = _run(allow_short)
    expected = _expected_direction(closes, allow_short)
    traded = fills[fills["ts"] < closes.index[-1]]  # the last bar's fill closes the run

    assert len(traded) >= 4
    assert (fills["ts"] >= trade_start).all()
    for ts, position in zip(traded["ts"], traded["position"], strict=True):
        assert np.sign(position) == expected[ts], ts
    # every change of the direction after the start is a trade (none missed)
    live = expected[expected.index >= trade_start]
    changes = live.index[1:][live.to_numpy()[1:] != live.to_numpy()[:-1]]
    assert set(changes) <= set(traded["ts"])


def test_ema_cross_is_long_only_without_allow_short():
    fills, _, _ = _run(allow_short=False)

    assert (fills["position"] >= 0).all()
    assert fills["position"].iloc[-1] == 0


def test_ema_cross_sizes_like_buy_and_hold():
    fills, closes, _ = _run(allow_short=False)
    first = fills.iloc[0]

    notional = first["qty"] * closes[first["ts"]]
    assert notional == pytest.approx(0.5 * 1_000_000, rel=0.01)


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"fast_period": 30, "slow_period": 10}, "fast_period < slow_period"), ({"weight": 0.0}, "weight")],
)
def test_ema_cross_refuses_bad_config(fields, message):
    config = EmaCrossConfig(
        instrument_id=InstrumentId.from_str("AAPL.XNAS"),
        bar_type=test_kit.stocknet_bars("AAPL")[0],
        **fields,
    )
    with pytest.raises(ValueError, match=message):
        EmaCross(config)
