"""Baseline strategies run beside every walk-forward on the same data and costs (buy-and-hold, EMA cross)."""

import pandas as pd
from nautilus_trader.config import StrategyConfig
from nautilus_trader.indicators import ExponentialMovingAverage
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import OrderSide, TimeInForce
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.strategy import Strategy

from nautilus_ai.risk.sizing import target_quantity
from nautilus_ai.strategies.equity import account_equity


class BuyAndHoldConfig(StrategyConfig, frozen=True):
    """Configuration of :class:`BuyAndHold`.

    Parameters
    ----------
    instrument_id : InstrumentId
        The instrument to hold.
    bar_type : BarType
        The bars that give the entry price.
    weight : float
        Fraction of account equity invested at the first bar on or after ``trade_start``.
    trade_start : str, optional
        ISO timestamp of the entry (the first bar at or after it).

    """

    instrument_id: InstrumentId
    bar_type: BarType
    weight: float = 1.0
    trade_start: str | None = None


class BuyAndHold(Strategy):
    """Buy ``weight`` of equity once and hold until the end of the run."""

    def __init__(self, config: BuyAndHoldConfig) -> None:
        super().__init__(config)
        if not 0.0 < config.weight <= 10.0:
            raise ValueError(f"BuyAndHoldConfig.weight must be in (0, 10], was {config.weight}")
        self._trade_start_ns = pd.Timestamp(config.trade_start, tz="UTC").value if config.trade_start else 0
        self._entered = False

    def on_start(self) -> None:
        """Subscribe to the bars."""
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        """Enter once, at the first bar on or after the start."""
        if self._entered or bar.ts_init < self._trade_start_ns:
            return
        instrument = self.cache.instrument(self.config.instrument_id)
        equity = account_equity(self.portfolio, self.config.instrument_id.venue)
        qty = target_quantity(
            self.config.weight,
            equity,
            bar.close.as_double(),
            instrument.multiplier.as_double(),
            instrument.size_increment.as_double(),
        )
        self._entered = True
        if qty > 0:
            self.submit_order(
                self.order_factory.market(
                    self.config.instrument_id,
                    OrderSide.BUY,
                    instrument.make_qty(qty),
                    time_in_force=TimeInForce.GTC,
                )
            )

    def on_stop(self) -> None:
        """Close the position at the end of the run."""
        self.close_all_positions(self.config.instrument_id)


def ema_cross_direction(fast: float, slow: float, allow_short: bool) -> int:
    """Return the EMA-crossover position direction: 1 when ``fast > slow``, else -1 or 0.

    Parameters
    ----------
    fast : float
        The fast exponential moving average.
    slow : float
        The slow exponential moving average.
    allow_short : bool
        Whether a fast EMA at or below the slow one means short (-1) rather than flat (0).

    Returns
    -------
    int
        The target direction, one of -1, 0, 1.

    """
    if fast > slow:
        return 1
    return -1 if allow_short else 0


class EmaCrossConfig(StrategyConfig, frozen=True):
    """Configuration of :class:`EmaCross`.

    Parameters
    ----------
    instrument_id : InstrumentId
        The instrument traded.
    bar_type : BarType
        The bars feeding both moving averages and giving the order size's price.
    fast_period : int
        Period of the fast ``ExponentialMovingAverage`` (bars).
    slow_period : int
        Period of the slow ``ExponentialMovingAverage`` (bars), longer than ``fast_period``.
    allow_short : bool
        Short when the fast EMA is not above the slow one (else flat).
    weight : float
        Fraction of account equity held while in the market, sized at each entry.
    trade_start : str, optional
        ISO timestamp of the first bar that may trade; earlier bars only warm the averages up.

    """

    instrument_id: InstrumentId
    bar_type: BarType
    fast_period: int = 20
    slow_period: int = 50
    allow_short: bool = False
    weight: float = 1.0
    trade_start: str | None = None


class EmaCross(Strategy):
    """Hold ``weight`` of equity long while the fast EMA is above the slow EMA, flat (or short) otherwise.

    The averages are NautilusTrader's ``ExponentialMovingAverage`` on the bar closes, updated on
    every bar (warm-up bars before ``trade_start`` included); the position only changes when the
    direction of :func:`ema_cross_direction` changes, with one market order to the new target.
    """

    def __init__(self, config: EmaCrossConfig) -> None:
        super().__init__(config)
        if not 0.0 < config.weight <= 10.0:
            raise ValueError(f"EmaCrossConfig.weight must be in (0, 10], was {config.weight}")
        if not 0 < config.fast_period < config.slow_period:
            raise ValueError(
                "EmaCrossConfig needs 0 < fast_period < slow_period, was "
                f"{config.fast_period} and {config.slow_period}"
            )
        self.fast = ExponentialMovingAverage(config.fast_period)
        self.slow = ExponentialMovingAverage(config.slow_period)
        self._trade_start_ns = pd.Timestamp(config.trade_start, tz="UTC").value if config.trade_start else 0
        self._direction = 0

    def on_start(self) -> None:
        """Register the averages and subscribe to the bars."""
        self.register_indicator_for_bars(self.config.bar_type, self.fast)
        self.register_indicator_for_bars(self.config.bar_type, self.slow)
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        """Move to the target position when the crossover direction changes."""
        if bar.ts_init < self._trade_start_ns or not self.slow.initialized:
            return
        direction = ema_cross_direction(self.fast.value, self.slow.value, self.config.allow_short)
        if direction == self._direction:
            return
        instrument = self.cache.instrument(self.config.instrument_id)
        equity = account_equity(self.portfolio, self.config.instrument_id.venue)
        target = direction * target_quantity(
            self.config.weight,
            equity,
            bar.close.as_double(),
            instrument.multiplier.as_double(),
            instrument.size_increment.as_double(),
        )
        current = float(self.portfolio.net_position(self.config.instrument_id))
        delta = target - current
        self._direction = direction
        if abs(delta) < instrument.size_increment.as_double():
            return
        self.submit_order(
            self.order_factory.market(
                self.config.instrument_id,
                OrderSide.BUY if delta > 0 else OrderSide.SELL,
                instrument.make_qty(abs(delta)),
                time_in_force=TimeInForce.GTC,
            )
        )

    def on_stop(self) -> None:
        """Close the position at the end of the run."""
        self.close_all_positions(self.config.instrument_id)
