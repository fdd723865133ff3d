"""Every custom data type can be published on the message bus and received by a subscriber."""

from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.model.data import Bar, BarType

from nautilus_ai.catalog.types import (
    CUSTOM_DATA_TYPES,
    FeatureVector,
    ModelSignal,
    NewsItem,
    OnChainMetric,
    RegimeLabel,
    RiskDecisionEvent,
    SentimentScore,
    topic_data_type,
)
from nautilus_ai.test_kit import make_backtest_engine, stocknet_bars, stocknet_equity


def one_of_each(instrument_id, ts):
    return [
        NewsItem(instrument_id=instrument_id, source="test", text="AAPL beats", ts_event=ts, ts_init=ts),
        SentimentScore(
            instrument_id=instrument_id, score=0.4, confidence=0.8, scorer="vader", ts_event=ts, ts_init=ts
        ),
        OnChainMetric(
            instrument_id=instrument_id, metric="n_transactions", value=1.0, ts_event=ts, ts_init=ts
        ),
        FeatureVector.create(instrument_id, "abc", ["ret_1", "rsi"], [0.01, 0.5], ts, ts),
        RegimeLabel(
            instrument_id=instrument_id,
            regime="trending",
            probabilities={"trending": 0.9},
            ts_event=ts,
            ts_init=ts,
        ),
        ModelSignal(instrument_id=instrument_id, direction=1, probability=0.6, ts_event=ts, ts_init=ts),
        RiskDecisionEvent(instrument_id=instrument_id, action="sized", reason="ok", ts_event=ts, ts_init=ts),
    ]


class Publisher(Actor):
    def __init__(self, bar_type: BarType):
        super().__init__(ActorConfig(component_id="Publisher"))
        self.bar_type = bar_type

    def on_start(self):
        self.subscribe_bars(self.bar_type)

    def on_bar(self, bar: Bar):
        for item in one_of_each(bar.bar_type.instrument_id, bar.ts_init):
            self.publish_data(topic_data_type(type(item), item.instrument_id), item)


class Subscriber(Actor):
    def __init__(self, instrument_id):
        super().__init__(ActorConfig(component_id="Subscriber"))
        self.instrument_id = instrument_id
        self.received = []

    def on_start(self):
        for cls in CUSTOM_DATA_TYPES:
            self.subscribe_data(topic_data_type(cls, self.instrument_id), instrument_id=self.instrument_id)

    def on_data(self, data):
        self.received.append(data)


def test_every_custom_type_published_on_the_bus_reaches_its_subscriber():
    instrument = stocknet_equity("AAPL")
    bar_type, bars = stocknet_bars("AAPL")
    engine = make_backtest_engine([instrument])
    engine.add_data(bars[:10])
    subscriber = Subscriber(instrument.id)
    engine.add_actor(subscriber)
    engine.add_actor(Publisher(bar_type))

    engine.run()

    received_types = [type(d) for d in subscriber.received]
    assert len(subscriber.received) == 10 * len(CUSTOM_DATA_TYPES)
    assert set(received_types) == set(CUSTOM_DATA_TYPES)
    assert all(d.ts_init == d.ts_event and d.ts_init > 0 for d in subscriber.received)
    vector = next(d for d in subscriber.received if isinstance(d, FeatureVector))
    assert vector.as_dict() == {"ret_1": 0.01, "rsi": 0.5}
    engine.dispose()
