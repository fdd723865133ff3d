"""MLStrategy: turns ModelSignals into volatility-targeted positions."""

import pandas as pd
from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import OrderSide, TimeInForce
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.trading.strategy import Strategy

from nautilus_ai.catalog.types import ModelSignal, topic_data_type
from nautilus_ai.indicators.realized_volatility import RealizedVolatility
from nautilus_ai.risk.sizing import OrderIntent, rebalance_intent, target_quantity, volatility_target_weight
from nautilus_ai.strategies.equity import account_equity


class MLStrategyConfig(StrategyConfig, frozen=True):
    """Configuration of an :class:`MLStrategy`.

    Parameters
    ----------
    instrument_id : InstrumentId
        The traded instrument.
    bar_type : BarType
        The bars used for prices and realized volatility.
    target_volatility : float
        Annualized volatility targeted for this instrument's position.
    volatility_window : int
        Window (in returns) of the realized-volatility estimate used for sizing.
    periods_per_year : float
        Bars per year, to annualize the per-bar volatility.
    max_weight : float
        Cap on the position's notional as a fraction of account equity.
    allow_short : bool
        Whether short signals open short positions (otherwise they mean flat).
    min_confidence : float
        Signals with a lower confidence are treated as flat.
    rebalance_band : float
        Keep a same-side position when the change is within this fraction of the target.
    trade_start : str, optional
        ISO timestamp before which no order is sent (indicator warm-up in walk-forward tests).

    """

    instrument_id: InstrumentId
    bar_type: BarType
    target_volatility: float = 0.10
    volatility_window: int = 20
    periods_per_year: float = 252.0
    max_weight: float = 1.0
    allow_short: bool = True
    min_confidence: float = 0.0
    rebalance_band: float = 0.25
    trade_start: str | None = None


class MLStrategy(Strategy):
    """Trade the latest ModelSignal of one instrument with a volatility-targeted position.

    On each signal the target weight is computed by
    :func:`~nautilus_ai.risk.sizing.volatility_target_weight` and turned into an
    :class:`~nautilus_ai.risk.sizing.OrderIntent`; :meth:`submit_intent` is the one place that
    builds and submits orders.
    """

    def __init__(self, config: MLStrategyConfig) -> None:
        super().__init__(config)
        if config.target_volatility <= 0 or config.max_weight <= 0:
            raise ValueError("MLStrategyConfig: target_volatility and max_weight must be positive")
        if config.periods_per_year <= 0:
            raise ValueError(
                f"MLStrategyConfig.periods_per_year must be positive, was {config.periods_per_year}"
            )
        if not 0.0 <= config.rebalance_band < 1.0:
            raise ValueError(
                f"MLStrategyConfig.rebalance_band must be in [0, 1), was {config.rebalance_band}"
            )
        self._rvol = RealizedVolatility(config.volatility_window)
        self._trade_start_ns = pd.Timestamp(config.trade_start, tz="UTC").value if config.trade_start else 0
        self._last_close = float("nan")
        self.instrument: Instrument | None = None
        self.intents: list[OrderIntent] = []

    def on_start(self) -> None:
        """Load the instrument and subscribe to bars and signals."""
        self.instrument = self.cache.instrument(self.config.instrument_id)
        if self.instrument is None:
            self.log.error(f"No instrument {self.config.instrument_id} in the cache")
            self.stop()
            return
        self.register_indicator_for_bars(self.config.bar_type, self._rvol)
        self.subscribe_bars(self.config.bar_type)
        self.subscribe_data(
            topic_data_type(ModelSignal, self.config.instrument_id), instrument_id=self.config.instrument_id
        )

    def on_bar(self, bar: Bar) -> None:
        """Remember the last close (the price used for sizing)."""
        self._last_close = bar.close.as_double()

    def on_data(self, data: ModelSignal) -> None:
        """Size the position for a new signal and submit the order that reaches it."""
        if not isinstance(data, ModelSignal) or data.ts_init < self._trade_start_ns:
            return
        if not self._rvol.initialized or self.instrument is None:
            return
        direction = data.direction
        if data.confidence < self.config.min_confidence or (direction < 0 and not self.config.allow_short):
            direction = 0
        equity = account_equity(self.portfolio, self.config.instrument_id.venue)
        weight = volatility_target_weight(
            direction,
            self._rvol.value,
            self.config.target_volatility,
            self.config.periods_per_year,
            self.config.max_weight,
        )
        lot = self.instrument.size_increment.as_double()
        target = target_quantity(
            weight, equity, self._last_close, self.instrument.multiplier.as_double(), lot
        )
        current = self.portfolio.net_position(self.config.instrument_id)
        intent = rebalance_intent(
            target,
            float(current),
            self.config.rebalance_band,
            lot,
            reason=f"signal p={data.probability:.3f} dir={data.direction} w={weight:.3f}",
        )
        if intent is not None:
            self.submit_intent(intent)

    def submit_intent(self, intent: OrderIntent) -> None:
        """Build a market order from ``intent`` and submit it."""
        assert self.instrument is not None
        self.intents.append(intent)
        order = self.order_factory.market(
            instrument_id=self.config.instrument_id,
            order_side=OrderSide.BUY if intent.side == "BUY" else OrderSide.SELL,
            quantity=self.instrument.make_qty(intent.quantity),
            time_in_force=TimeInForce.GTC,
        )
        self.submit_order(order)

    def on_stop(self) -> None:
        """Close the position at the end of the run."""
        if self.instrument is not None:
            self.close_all_positions(self.config.instrument_id)

    def on_reset(self) -> None:
        """Reset the volatility estimate."""
        self._rvol.reset()
        self.intents.clear()
