"""RiskDecisionEvent round-trips through the ParquetDataCatalog (so decisions can be stored with a run)."""

from pathlib import Path

from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from nautilus_ai.catalog.types import CUSTOM_DATA_TYPES, RiskDecisionEvent


def test_risk_decision_events_round_trip_through_the_catalog(tmp_path: Path) -> None:
    catalog = ParquetDataCatalog(str(tmp_path))
    iid = InstrumentId.from_str("AAPL.XNAS")
    written = [
        RiskDecisionEvent(
            instrument_id=iid,
            action=action,
            reason=f"reason {i}",
            requested_qty=100.0 * (i + 1),
            approved_qty=50.0 * i,
            trading_state=state,
            ts_event=1_700_000_000_000_000_000 + i,
            ts_init=1_700_000_000_000_000_000 + i,
        )
        for i, (action, state) in enumerate(
            [("sized", "ACTIVE"), ("shrunk", "REDUCING"), ("halted", "HALTED"), ("state_change", "HALTED")]
        )
    ]

    catalog.write_data(written)
    queried = catalog.query(RiskDecisionEvent)

    assert RiskDecisionEvent in CUSTOM_DATA_TYPES
    assert [item.data for item in queried] == written
