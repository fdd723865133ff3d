"""FeatureActor: turns bars into FeatureVectors, one per bar, on the message bus.

The same actor produces training data (replayed over the catalog in a backtest run and recorded
by :class:`~nautilus_ai.indicators.feature_recorder.FeatureRecorder`) and live features, so a
feature is computed by exactly one code path (ARCHITECTURE rule 1).
"""

import math
from collections import deque
from typing import cast

from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.indicators import AverageTrueRange, ExponentialMovingAverage, RelativeStrengthIndex
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.catalog.types import FeatureVector, topic_data_type
from nautilus_ai.indicators.feature_spec import FeatureSpec
from nautilus_ai.indicators.kernels import log_return
from nautilus_ai.indicators.realized_volatility import RealizedVolatility
from nautilus_ai.indicators.volume_zscore import VolumeZScore


class FeatureActorConfig(ActorConfig, frozen=True):
    """Configuration of a :class:`FeatureActor`.

    Parameters
    ----------
    instrument_id : InstrumentId
        The instrument whose bars are turned into features.
    bar_type : BarType
        The bars to subscribe to (their ``ts_init`` must be the bar close time).
    spec : FeatureSpec
        The features to compute.

    """

    instrument_id: InstrumentId
    bar_type: BarType
    spec: FeatureSpec = FeatureSpec()


class FeatureActor(Actor):
    """Compute the features of a :class:`FeatureSpec` on every bar and publish a FeatureVector.

    Nothing is published until every indicator is initialized (the spec's warm-up), so each
    published vector is complete. Vectors are published under
    ``topic_data_type(FeatureVector, instrument_id)`` with the bar's ``ts_event``/``ts_init``.
    """

    def __init__(self, config: FeatureActorConfig) -> None:
        super().__init__(config)
        if config.bar_type.instrument_id != config.instrument_id:
            raise ValueError(
                f"FeatureActorConfig: bar_type {config.bar_type} is not a bar of "
                f"instrument {config.instrument_id}"
            )
        spec = config.spec
        self._spec = spec
        self._names = spec.feature_names()
        self._spec_hash = spec.fingerprint()
        self._data_type = topic_data_type(FeatureVector, config.instrument_id)
        self._closes: deque[float] = deque(maxlen=max(spec.return_horizons) + 1)
        self._rsi = RelativeStrengthIndex(spec.rsi_period)
        self._emas = [ExponentialMovingAverage(n) for n in spec.ema_periods]
        self._atr = AverageTrueRange(spec.atr_period)
        self._rvol = RealizedVolatility(spec.volatility_window)
        self._volume_z = VolumeZScore(spec.volume_window)
        self._indicators = [self._rsi, *self._emas, self._atr, self._rvol, self._volume_z]
        self.vectors_published = 0

    @property
    def feature_names(self) -> list[str]:
        """The names of the published features, in value order."""
        return list(self._names)

    @property
    def spec_hash(self) -> str:
        """The fingerprint of the feature spec."""
        return self._spec_hash

    def on_start(self) -> None:
        """Register the indicators and subscribe to the bars."""
        for indicator in self._indicators:
            self.register_indicator_for_bars(self.config.bar_type, indicator)
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        """Compute and publish the feature vector of ``bar`` (indicators are already updated)."""
        close = bar.close.as_double()
        self._closes.append(close)
        if len(self._closes) < cast(int, self._closes.maxlen) or not all(
            i.initialized for i in self._indicators
        ):
            return
        values = self._compute(close)
        vector = FeatureVector.create(
            self.config.instrument_id, self._spec_hash, self._names, values, bar.ts_event, bar.ts_init
        )
        self.publish_data(self._data_type, vector)
        self.vectors_published += 1

    def _compute(self, close: float) -> list[float]:
        closes = self._closes
        returns = [log_return(closes[-1 - h], close) for h in self._spec.return_horizons]
        ema_ratios = [close / ema.value - 1.0 if ema.value > 0 else math.nan for ema in self._emas]
        atr_ratio = self._atr.value / close if close > 0 else math.nan
        return [*returns, self._rsi.value, *ema_ratios, atr_ratio, self._rvol.value, self._volume_z.value]

    def on_reset(self) -> None:
        """Reset every indicator and the close history."""
        for indicator in self._indicators:
            indicator.reset()
        self._closes.clear()
        self.vectors_published = 0
