"""``LiquidityData``: a :class:`~nautilus_ai.execution.liquidity.LiquidityState` as NautilusTrader ``Data``.

The :class:`~nautilus_ai.execution.analyzer.MicrostructureAnalyzer` publishes one per instrument
with ``publish_data(liquidity_data_type(instrument_id), data)``, the way ``ModelSignal`` and
``RegimeLabel`` travel, so a strategy subscribes with
``subscribe_data(liquidity_data_type(instrument_id), instrument_id=instrument_id)`` and the objects
round-trip through the ``ParquetDataCatalog``. The message-bus topic is
``data.LiquidityData.instrument_id=<INSTRUMENT_ID>`` (:func:`liquidity_topic`). The depth tuples are
packed as float64 bytes (as ``FeatureVector.values``); :meth:`LiquidityData.to_state` unpacks them.
A strategy reads the latest state synchronously through a :class:`LiquidityView`.
"""

from collections.abc import Iterable
from typing import Any

import numpy as np
from nautilus_trader.core.data import Data
from nautilus_trader.model.custom import customdataclass
from nautilus_trader.model.data import DataType
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.catalog.types import topic_data_type
from nautilus_ai.execution.liquidity import LiquidityState

LIQUIDITY_TOPIC = "data.LiquidityData"
"""Prefix of the message-bus topic of published liquidity states (the instrument follows)."""


@customdataclass
class LiquidityData(Data):
    """The liquidity state of one instrument at ``ts_event`` (fields as in ``LiquidityState``).

    Build it with :meth:`from_state` and read it with :meth:`to_state`.
    """

    instrument_id: InstrumentId = None
    spread_bps: float = 0.0
    bid_depth: bytes = b""
    ask_depth: bytes = b""
    book_imbalance: float = 0.0
    microprice_drift_bps: float = 0.0
    vpin: float = 0.0
    volatility_bps: float = 0.0
    trade_intensity: float = 0.0
    typical_bar_volume: float = 0.0

    @classmethod
    def from_state(cls, instrument_id: InstrumentId, state: LiquidityState, ts_init: int) -> "LiquidityData":
        """Wrap ``state`` (its ``ts_event`` is kept) for publication at ``ts_init``."""
        return cls(
            instrument_id=instrument_id,
            spread_bps=state.spread_bps,
            bid_depth=np.asarray(state.bid_depth, dtype=np.float64).tobytes(),
            ask_depth=np.asarray(state.ask_depth, dtype=np.float64).tobytes(),
            book_imbalance=state.book_imbalance,
            microprice_drift_bps=state.microprice_drift_bps,
            vpin=state.vpin,
            volatility_bps=state.volatility_bps,
            trade_intensity=state.trade_intensity,
            typical_bar_volume=state.typical_bar_volume,
            ts_event=state.ts_event,
            ts_init=ts_init,
        )

    def to_state(self) -> LiquidityState:
        """Return the wrapped :class:`LiquidityState` (validated again)."""
        return LiquidityState(
            spread_bps=self.spread_bps,
            bid_depth=tuple(np.frombuffer(self.bid_depth, dtype=np.float64).tolist()),
            ask_depth=tuple(np.frombuffer(self.ask_depth, dtype=np.float64).tolist()),
            book_imbalance=self.book_imbalance,
            microprice_drift_bps=self.microprice_drift_bps,
            vpin=self.vpin,
            volatility_bps=self.volatility_bps,
            trade_intensity=self.trade_intensity,
            typical_bar_volume=self.typical_bar_volume,
            ts_event=self.ts_event,
        )


def liquidity_data_type(instrument_id: InstrumentId | str) -> DataType:
    """Return the ``DataType`` liquidity states of ``instrument_id`` are published under."""
    return topic_data_type(LiquidityData, instrument_id)


def liquidity_topic(instrument_id: InstrumentId | str) -> str:
    """Return the message-bus topic of ``instrument_id``'s liquidity states (for ``msgbus.subscribe``)."""
    return f"{LIQUIDITY_TOPIC}.instrument_id={instrument_id}"


class LiquidityView:
    """The latest liquidity state of some instruments, kept from the message bus for synchronous reads.

    A strategy in the same node as the analyzer builds one in ``on_start`` and reads
    ``view.latest(instrument_id)`` in its handlers: the analyzer publishes synchronously while it
    handles a quote or book update, so the view already holds the state of that update when a
    strategy subscribed after the analyzer handles the same event.

    Parameters
    ----------
    msgbus : MessageBus
        The component's message bus (``self.msgbus``).
    instrument_ids : iterable of InstrumentId
        The instruments to follow.

    """

    def __init__(self, msgbus: Any, instrument_ids: Iterable[InstrumentId]) -> None:
        self._latest: dict[InstrumentId, LiquidityState] = {}
        self._msgbus = msgbus
        self._topics = [liquidity_topic(iid) for iid in instrument_ids]
        for topic in self._topics:
            msgbus.subscribe(topic, self._on_data)

    def latest(self, instrument_id: InstrumentId | str) -> LiquidityState | None:
        """Return the last state received for ``instrument_id`` (None before the first one)."""
        if isinstance(instrument_id, str):
            instrument_id = InstrumentId.from_str(instrument_id)
        return self._latest.get(instrument_id)

    def close(self) -> None:
        """Unsubscribe from the message bus."""
        for topic in self._topics:
            self._msgbus.unsubscribe(topic, self._on_data)

    def _on_data(self, data: object) -> None:
        if isinstance(data, LiquidityData):
            self._latest[data.instrument_id] = data.to_state()
