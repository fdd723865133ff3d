"""The custom NautilusTrader data types that flow between nautilus-ai's components.

Every type is a ``@customdataclass``: it carries ``ts_event`` (when the thing happened or was
published) and ``ts_init`` (when nautilus-ai knew it), round-trips through the
``ParquetDataCatalog`` and can be published on the message bus. Point-in-time rule: a consumer may
only use an object at or after its ``ts_init``.
"""

from collections.abc import Mapping, Sequence

import numpy as np
from nautilus_trader.core.data import Data
from nautilus_trader.model.custom import customdataclass
from nautilus_trader.model.data import DataType
from nautilus_trader.model.identifiers import InstrumentId


@customdataclass
class NewsItem(Data):
    """A news article or social-media post about an instrument.

    ``ts_event`` is the publication time, ``ts_init`` the time it was received.
    """

    instrument_id: InstrumentId = None
    source: str = ""
    text: str = ""
    author: str = ""
    url: str = ""


@customdataclass
class SentimentScore(Data):
    """A sentiment score in [-1, 1] for one item or an aggregate over an interval."""

    instrument_id: InstrumentId = None
    score: float = 0.0
    confidence: float = 0.0
    scorer: str = ""
    n_items: int = 1


@customdataclass
class OnChainMetric(Data):
    """One on-chain metric value (for example BTC unique addresses) for a day or block."""

    instrument_id: InstrumentId = None
    metric: str = ""
    value: float = 0.0
    source: str = ""


@customdataclass
class FeatureVector(Data):
    """The feature values of one instrument at one time, produced by a ``FeatureActor``.

    ``names`` is the comma-separated feature list of the producing ``FeatureSpec`` and
    ``spec_hash`` its fingerprint; ``values`` holds the float64 values in the same order.
    Use :meth:`create`, :meth:`as_array` and :meth:`as_dict` rather than the raw fields.
    """

    instrument_id: InstrumentId = None
    spec_hash: str = ""
    names: str = ""
    values: bytes = b""

    @classmethod
    def create(
        cls,
        instrument_id: InstrumentId,
        spec_hash: str,
        names: Sequence[str],
        values: Sequence[float] | np.ndarray,
        ts_event: int,
        ts_init: int,
    ) -> "FeatureVector":
        """Build a vector from feature names and values (packed as float64)."""
        array = np.asarray(values, dtype=np.float64)
        if array.shape != (len(names),):
            raise ValueError(f"FeatureVector: {len(names)} names but values of shape {array.shape}")
        return cls(
            instrument_id=instrument_id,
            spec_hash=spec_hash,
            names=",".join(names),
            values=array.tobytes(),
            ts_event=ts_event,
            ts_init=ts_init,
        )

    def feature_names(self) -> list[str]:
        """Return the feature names in value order."""
        return self.names.split(",") if self.names else []

    def as_array(self) -> np.ndarray:
        """Return the values as a float64 array (a copy)."""
        return np.frombuffer(self.values, dtype=np.float64).copy()

    def as_dict(self) -> dict[str, float]:
        """Return ``{name: value}``."""
        return dict(zip(self.feature_names(), self.as_array().tolist(), strict=True))


@customdataclass
class RegimeLabel(Data):
    """The market regime of an instrument and the probability of each regime."""

    instrument_id: InstrumentId = None
    regime: str = ""
    probabilities: dict = None  # type: ignore[assignment]
    model_version: str = ""


@customdataclass
class ModelSignal(Data):
    """A model's trading signal.

    ``direction`` is +1 (long), -1 (short) or 0 (flat); ``probability`` is the model's (calibrated)
    probability that the forward return over ``horizon_bars`` is positive; ``confidence`` is in
    [0, 1]. ``regime`` is the regime the signal was made in ("" when the model uses none) and
    ``top_attributions`` the decision's largest feature attributions, encoded as
    ``"name:+0.123;other:-0.045"`` (see :mod:`nautilus_ai.learning.explain`).
    """

    instrument_id: InstrumentId = None
    direction: int = 0
    probability: float = 0.5
    confidence: float = 0.0
    horizon_bars: int = 1
    model_version: str = ""
    regime: str = ""
    top_attributions: str = ""


@customdataclass
class RiskDecisionEvent(Data):
    """A decision of the risk layer: an order intent sized, shrunk, rejected or halted, or a state change.

    ``action`` is ``"sized"``, ``"shrunk"``, ``"rejected"`` or ``"halted"`` for an order intent (from
    the RiskGate) and ``"state_change"`` for a trading-state transition (from the RiskGuardActor);
    ``trading_state`` is ``ACTIVE``, ``REDUCING`` or ``HALTED`` (the new state for a transition);
    quantities are unsigned (0 for a state change).
    """

    instrument_id: InstrumentId = None
    action: str = ""
    reason: str = ""
    requested_qty: float = 0.0
    approved_qty: float = 0.0
    trading_state: str = ""


CUSTOM_DATA_TYPES: tuple[type[Data], ...] = (
    NewsItem,
    SentimentScore,
    OnChainMetric,
    FeatureVector,
    RegimeLabel,
    ModelSignal,
    RiskDecisionEvent,
)


def topic_data_type(cls: type[Data], instrument_id: InstrumentId | str) -> DataType:
    """Return the ``DataType`` under which ``cls`` objects for one instrument are published.

    Publisher and subscriber must build the same ``DataType`` (metadata included), so both
    sides call this function.
    """
    return DataType(cls, metadata={"instrument_id": str(instrument_id)})


def probabilities_mapping(label: RegimeLabel) -> Mapping[str, float]:
    """Return a regime label's probabilities as a mapping (empty when unset)."""
    return dict(label.probabilities or {})
