"""Baseline strategies that run beside every walk-forward on the same data and costs."""

import pandas as pd
from nautilus_trader.config import StrategyConfig
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
