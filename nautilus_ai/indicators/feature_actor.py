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
from nautilus_trader.core.data import Data
from nautilus_trader.indicators import AverageTrueRange, ExponentialMovingAverage, RelativeStrengthIndex
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import Bar, BarType, DataType, OrderBookDeltas, QuoteTick, TradeTick
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.catalog.types import FeatureVector, OnChainMetric, SentimentScore, topic_data_type
from nautilus_ai.indicators.book_imbalance import BookImbalance
from nautilus_ai.indicators.feature_spec import FeatureSpec
from nautilus_ai.indicators.kernels import log_return
from nautilus_ai.indicators.microprice import Microprice
from nautilus_ai.indicators.onchain import OnChainFeature
from nautilus_ai.indicators.order_flow import OrderFlowImbalance
from nautilus_ai.indicators.range_volatility import GarmanKlassVolatility, ParkinsonVolatility
from nautilus_ai.indicators.realized_volatility import RealizedVolatility
from nautilus_ai.indicators.sentiment import SentimentIndicator
from nautilus_ai.indicators.volume_zscore import VolumeZScore
from nautilus_ai.indicators.vpin import VPIN


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

    The bar is the sampling clock: one vector per bar, under
    ``topic_data_type(FeatureVector, instrument_id)`` with the bar's ``ts_event``/``ts_init``.
    Nothing is published until every bar indicator is initialized (the spec's warm-up). Event-driven
    features (trade-tick VPIN and order flow, quote microprice and spread, book imbalance) hold the
    value of the latest event at or before the bar and are NaN until initialized; the actor
    subscribes to the trade ticks, quote ticks or order book deltas they need.

    Alternative data (``SentimentScore`` of the instrument, ``OnChainMetric`` of the spec's
    ``onchain_instrument``) is subscribed on both routes: ``topic_data_type(cls, instrument_id)``
    (what live publishers such as the ``SentimentActor`` use) and ``DataType(cls)`` with
    ``instrument_id`` (engine-fed ``CustomData`` from a catalog or ``engine.add_data``). Point in
    time: a bar's vector only uses objects with ``ts_init`` strictly before the bar's ``ts_init`` (the
    features are taken as of ``bar.ts_init - 1`` ns). Scores and metrics wait in a pending queue (they
    arrive in ``ts_init`` order) until a bar passes them. An object stamped exactly at the bar's
    ``ts_init`` counts from the next bar on, whichever of the two the engine or the live feed delivers
    first, so ties are resolved the same way in a backtest and live.
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
        self._range_vols = (
            [
                ParkinsonVolatility(spec.range_volatility_window),
                GarmanKlassVolatility(spec.range_volatility_window),
            ]
            if spec.range_volatility_window is not None
            else []
        )
        self._indicators = [self._rsi, *self._emas, self._atr, self._rvol, self._volume_z, *self._range_vols]
        self._vpin = (
            VPIN(spec.vpin_bucket_volume, n_buckets=spec.vpin_buckets, source=spec.vpin_source)  # type: ignore[arg-type]
            if spec.vpin_bucket_volume is not None
            else None
        )
        self._order_flow = (
            OrderFlowImbalance(window=spec.order_flow_window) if spec.order_flow_window is not None else None
        )
        self._microprice = Microprice() if spec.microprice else None
        self._book_imbalance = BookImbalance(spec.book_levels) if spec.book_levels is not None else None
        self._book: OrderBook | None = None
        self._sentiment = (
            SentimentIndicator(
                half_life_ns=round(spec.sentiment_half_life_s * 1e9),
                window_ns=round(spec.sentiment_window_s * 1e9),
            )
            if spec.sentiment_half_life_s is not None
            else None
        )
        self._onchain_instrument = (
            InstrumentId.from_str(spec.onchain_instrument)
            if spec.onchain_instrument is not None
            else config.instrument_id
        )
        self._onchain = {
            metric: OnChainFeature(metric, k=spec.onchain_diff, window=spec.onchain_window)
            for metric in spec.onchain_metrics
        }
        self._onchain_pending: deque[OnChainMetric] = deque()
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
        bar_type, instrument_id = self.config.bar_type, self.config.instrument_id
        for indicator in self._indicators:
            self.register_indicator_for_bars(bar_type, indicator)
        if self._vpin is not None and self._spec.vpin_source == "bars":
            self.register_indicator_for_bars(bar_type, self._vpin)
        trade_indicators = [i for i in (self._order_flow,) if i is not None]
        if self._vpin is not None and self._spec.vpin_source == "trades":
            trade_indicators.append(self._vpin)
        for indicator in trade_indicators:
            self.register_indicator_for_trade_ticks(instrument_id, indicator)
        if trade_indicators:
            self.subscribe_trade_ticks(instrument_id)
        if self._microprice is not None:
            self.register_indicator_for_quote_ticks(instrument_id, self._microprice)
            self.subscribe_quote_ticks(instrument_id)
        if self._book_imbalance is not None:
            self._book = OrderBook(instrument_id, BookType.L2_MBP)
            self.subscribe_order_book_deltas(instrument_id, BookType.L2_MBP)
        if self._sentiment is not None:
            self._subscribe_both_routes(SentimentScore, instrument_id)
        if self._onchain:
            self._subscribe_both_routes(OnChainMetric, self._onchain_instrument)
        self.subscribe_bars(bar_type)

    def _subscribe_both_routes(self, cls: type[Data], instrument_id: InstrumentId) -> None:
        # Live publishers (topic ``data.<cls>.instrument_id=...``) and engine-fed custom data
        # (topic ``data.<cls>.<VENUE>.<SYMBOL>``) travel on different topics.
        self.subscribe_data(topic_data_type(cls, instrument_id), instrument_id=instrument_id)
        self.subscribe_data(DataType(cls), instrument_id=instrument_id)

    def on_data(self, data: Data) -> None:
        """Feed sentiment scores and on-chain metrics of the subscribed instruments to their indicators."""
        if isinstance(data, SentimentScore):
            if self._sentiment is not None and data.instrument_id == self.config.instrument_id:
                self._sentiment.update(data.score, data.ts_init)
        elif (
            isinstance(data, OnChainMetric)
            and data.metric in self._onchain
            and data.instrument_id == self._onchain_instrument
        ):
            self._onchain_pending.append(data)

    def on_order_book_deltas(self, deltas: OrderBookDeltas) -> None:
        """Apply book deltas to the actor's book and update the book imbalance."""
        if self._book is not None and self._book_imbalance is not None:
            self._book.apply_deltas(deltas)
            self._book_imbalance.update_book(self._book)

    def on_trade_tick(self, tick: TradeTick) -> None:
        """Trade ticks only feed registered indicators (updated before this handler)."""

    def on_quote_tick(self, tick: QuoteTick) -> None:
        """Quote ticks only feed registered indicators (updated before this handler)."""

    def on_bar(self, bar: Bar) -> None:
        """Compute and publish the feature vector of ``bar`` (indicators are already updated)."""
        close = bar.close.as_double()
        self._closes.append(close)
        as_of = bar.ts_init - 1  # ties with the bar count from the next bar (delivery-order independent)
        while self._onchain_pending and self._onchain_pending[0].ts_init <= as_of:
            metric = self._onchain_pending.popleft()
            self._onchain[metric.metric].handle_metric(metric)
        sentiment = self._sentiment.value_at(as_of) if self._sentiment is not None else None
        if len(self._closes) < cast(int, self._closes.maxlen) or not all(
            i.initialized for i in self._indicators
        ):
            return
        values = self._compute(close)
        if sentiment is not None:
            values.extend((sentiment.decayed_mean, float(sentiment.message_count), sentiment.dispersion))
        for feature in self._onchain.values():
            ready = feature.initialized
            values.append(feature.log_diff if ready else math.nan)
            values.append(feature.zscore if ready else math.nan)
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
        values = [*returns, self._rsi.value, *ema_ratios, atr_ratio, self._rvol.value, self._volume_z.value]
        values.extend(v.value for v in self._range_vols)
        if self._vpin is not None:
            values.append(self._vpin.value if self._vpin.initialized else math.nan)
        if self._order_flow is not None:
            values.append(self._order_flow.value if self._order_flow.initialized else math.nan)
        if self._microprice is not None:
            ready = self._microprice.initialized
            values.append(self._microprice.microprice_drift_bps if ready else math.nan)
            values.append(self._microprice.spread_bps if ready else math.nan)
        if self._book_imbalance is not None:
            values.append(self._book_imbalance.value if self._book_imbalance.initialized else math.nan)
        return values

    def on_reset(self) -> None:
        """Reset every indicator and the close history."""
        for indicator in (
            *self._indicators,
            self._vpin,
            self._order_flow,
            self._microprice,
            self._book_imbalance,
            self._sentiment,
            *self._onchain.values(),
        ):
            if indicator is not None:
                indicator.reset()
        self._closes.clear()
        self._book = None
        self._onchain_pending.clear()
        self.vectors_published = 0
