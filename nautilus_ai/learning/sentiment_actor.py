"""SentimentActor: scores NewsItems on the message bus and publishes one SentimentScore per item.

Scoring is a link of the same bus chain in a backtest (NewsItems replayed from a catalog or
``engine.add_data``) and live (NewsItems from a news adapter), so both share one code path
(ARCHITECTURE rule 1). Each score keeps its item's ``ts_event`` and ``ts_init`` (point in time: it is
known when the item was known, rule 2), and is published under
``topic_data_type(SentimentScore, instrument_id)``, where the ``FeatureActor`` listens.

Backtests replay stored scores instead when the catalog holds them (``nautilus-ai catalog score``, see
:mod:`nautilus_ai.catalog.sentiment_store` and ``node_config.stored_sentiment_label``): the scores go
straight to the ``FeatureActor`` and this actor is left out, so a slow scorer (an LLM) never runs inside
the event loop. Stored lexicon scores give exactly the features this actor gives.
"""

from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import DataType
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.adapters.sentiment import SentimentConfig, make_scorer, score_news_items
from nautilus_ai.catalog.types import NewsItem, SentimentScore, topic_data_type


class SentimentActorConfig(ActorConfig, frozen=True):
    """Configuration of a :class:`SentimentActor`.

    Parameters
    ----------
    instrument_ids : tuple[str, ...]
        The instruments whose news items are scored.
    scorer_kind : str, default "lexicon"
        The scorer (``SentimentConfig.kind``); only the offline ``"lexicon"`` scorer runs inside an
        actor (an LLM call would block the event loop).
    finance_weight : float, default 0.5
        The lexicon scorer's weight of the Loughran-McDonald finance word lists.

    """

    instrument_ids: tuple[str, ...]
    scorer_kind: str = "lexicon"
    finance_weight: float = 0.5


class SentimentActor(Actor):
    """Score every ``NewsItem`` of the configured instruments and publish its ``SentimentScore``.

    News items are subscribed on both routes: ``topic_data_type(NewsItem, instrument_id)`` (live
    publishers) and ``DataType(NewsItem)`` with ``instrument_id`` (engine-fed ``CustomData``).
    """

    def __init__(self, config: SentimentActorConfig) -> None:
        super().__init__(config)
        if not config.instrument_ids:
            raise ValueError("SentimentActorConfig.instrument_ids must name at least one instrument")
        if config.scorer_kind != "lexicon":
            raise ValueError(
                f"SentimentActorConfig.scorer_kind must be 'lexicon', was {config.scorer_kind!r}"
            )
        self._instrument_ids = [InstrumentId.from_str(i) for i in config.instrument_ids]
        self._scorer = make_scorer(
            SentimentConfig.model_validate({"kind": "lexicon", "finance_weight": config.finance_weight})
        )
        self._data_types = {iid: topic_data_type(SentimentScore, iid) for iid in self._instrument_ids}
        self.scores_published = 0

    def on_start(self) -> None:
        """Subscribe to the news items of every configured instrument."""
        for iid in self._instrument_ids:
            self.subscribe_data(topic_data_type(NewsItem, iid), instrument_id=iid)
            self.subscribe_data(DataType(NewsItem), instrument_id=iid)

    def on_data(self, data: Data) -> None:
        """Score a news item and publish its score (other data is ignored)."""
        if not isinstance(data, NewsItem):
            return
        data_type = self._data_types.get(data.instrument_id)
        if data_type is None:
            return
        (score,) = score_news_items(self._scorer, [data])
        self.publish_data(data_type, score)
        self.scores_published += 1

    def on_reset(self) -> None:
        """Reset the published count."""
        self.scores_published = 0
