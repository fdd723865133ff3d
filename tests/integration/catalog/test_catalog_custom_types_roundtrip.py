"""Every nautilus-ai custom data type round-trips through the ParquetDataCatalog."""

from pathlib import Path

import pytest
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from nautilus_ai.catalog.types import (
    CUSTOM_DATA_TYPES,
    FeatureVector,
    ModelSignal,
    NewsItem,
    OnChainMetric,
    RegimeLabel,
    RiskDecisionEvent,
    SentimentScore,
)

IID = InstrumentId.from_str("AAPL.XNAS")


def make(cls: type, i: int):
    ts = 1_700_000_000_000_000_000 + i * 60_000_000_000
    if cls is FeatureVector:
        return FeatureVector.create(IID, "abc", ["rsi", "ret"], [0.5 + i, -0.1], ts, ts)
    fields = {
        NewsItem: {"source": "tweet", "text": f"news {i}", "author": "a", "url": "u"},
        SentimentScore: {"score": 0.1 * i, "confidence": 0.9, "scorer": "vader", "n_items": 3},
        OnChainMetric: {"metric": "hash_rate", "value": 1.5 * i, "source": "bc"},
        RegimeLabel: {"regime": "bull", "probabilities": {"bull": 0.7, "bear": 0.3}, "model_version": "v1"},
        ModelSignal: {
            "direction": 1,
            "probability": 0.6,
            "confidence": 0.2,
            "horizon_bars": 5,
            "model_version": "v1",
            "regime": "trending",
            "top_attributions": "rsi:+0.1;ret_5:-0.02",
        },
        RiskDecisionEvent: {
            "action": "shrunk",
            "reason": f"gross leverage {i}",
            "requested_qty": 10.0,
            "approved_qty": 5.0,
            "trading_state": "ACTIVE",
        },
    }[cls]
    return cls(instrument_id=IID, ts_event=ts, ts_init=ts, **fields)


@pytest.mark.parametrize("cls", CUSTOM_DATA_TYPES, ids=lambda c: c.__name__)
def test_custom_data_type_round_trips_through_the_catalog(tmp_path: Path, cls: type) -> None:
    catalog = ParquetDataCatalog(str(tmp_path))
    written = [make(cls, i) for i in range(3)]

    catalog.write_data(written)
    queried = catalog.query(cls)

    assert [item.data for item in queried] == written
