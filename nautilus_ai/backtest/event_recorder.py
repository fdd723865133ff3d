"""EventRecorder: keeps the ModelSignals, RegimeLabels and RiskDecisionEvents of a run for its report.

It subscribes to the per-instrument topics of the configured custom data types and writes one
Parquet file per type when it stops (``<output_dir>/<TypeName>.parquet``, atomically), so a
walk-forward can show what the models said and what the risk layer decided in each test window.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.catalog.atomic import write_parquet_atomic
from nautilus_ai.catalog.types import ModelSignal, RegimeLabel, RiskDecisionEvent, topic_data_type

RECORDED_TYPES: dict[str, type[Data]] = {
    "ModelSignal": ModelSignal,
    "RegimeLabel": RegimeLabel,
    "RiskDecisionEvent": RiskDecisionEvent,
}
"""The types an EventRecorder can record, by name."""


class EventRecorderConfig(ActorConfig, frozen=True):
    """Configuration of an :class:`EventRecorder`.

    Parameters
    ----------
    instrument_ids : tuple[str, ...]
        The instruments whose events are recorded.
    output_dir : str
        Folder of the Parquet files written when the actor stops.
    types : tuple[str, ...]
        Names of the recorded types (keys of :data:`RECORDED_TYPES`).

    """

    instrument_ids: tuple[str, ...]
    output_dir: str
    types: tuple[str, ...] = tuple(RECORDED_TYPES)


class EventRecorder(Actor):
    """Record the configured custom data of the configured instruments and write it out on stop."""

    def __init__(self, config: EventRecorderConfig) -> None:
        super().__init__(config)
        unknown = [t for t in config.types if t not in RECORDED_TYPES]
        if unknown:
            raise ValueError(
                f"EventRecorderConfig.types has unknown types {unknown}: use {list(RECORDED_TYPES)}"
            )
        self._rows: dict[str, list[dict[str, Any]]] = {t: [] for t in config.types}

    def on_start(self) -> None:
        """Subscribe to every (type, instrument) topic."""
        for name in self.config.types:
            for instrument_id in self.config.instrument_ids:
                iid = InstrumentId.from_str(instrument_id)
                self.subscribe_data(topic_data_type(RECORDED_TYPES[name], iid), instrument_id=iid)

    def on_data(self, data: Data) -> None:
        """Keep one event as a row."""
        name = type(data).__name__
        rows = self._rows.get(name)
        if rows is not None:
            rows.append(event_row(data))

    def on_stop(self) -> None:
        """Write one Parquet file per type."""
        folder = Path(self.config.output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for name, rows in self._rows.items():
            write_parquet_atomic(events_frame(rows), folder / f"{name}.parquet")


def event_row(data: Data) -> dict[str, Any]:
    """Return an event as a flat row: its fields, ``ts`` (UTC) and dicts as JSON text."""
    row: dict[str, Any] = {}
    for key, value in type(data).to_dict(data).items():
        if key == "type":
            continue
        if isinstance(value, dict):
            value = json.dumps(value, sort_keys=True)
        row[key] = value
    row["ts"] = pd.Timestamp(int(data.ts_event), unit="ns", tz="UTC")
    return row


def events_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Return recorded rows as a DataFrame (an empty one with a ``ts`` column when there are none)."""
    if not rows:
        return pd.DataFrame({"ts": pd.Series([], dtype="datetime64[ns, UTC]")})
    return pd.DataFrame(rows)
