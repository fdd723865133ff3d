"""FeatureRecorder: persists the FeatureVectors seen on the bus (the offline half of the feature store)."""

from pathlib import Path

import pandas as pd
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.catalog.atomic import write_parquet_atomic
from nautilus_ai.catalog.types import FeatureVector, topic_data_type


class FeatureRecorderConfig(ActorConfig, frozen=True):
    """Configuration of a :class:`FeatureRecorder`.

    Parameters
    ----------
    instrument_ids : tuple[str, ...]
        The instruments whose FeatureVectors are recorded.
    output_path : str
        The Parquet file written when the actor stops (atomically; an existing file is replaced
        only once the new one is complete).
    catalog_path : str, optional
        When set, the vectors are also written to this ParquetDataCatalog as ``FeatureVector`` data.

    """

    instrument_ids: tuple[str, ...]
    output_path: str
    catalog_path: str | None = None


class FeatureRecorder(Actor):
    """Record every FeatureVector of the configured instruments and write them out on stop.

    The Parquet file has one row per vector: ``ts_event``, ``ts_init`` (int64 ns),
    ``instrument_id``, ``spec_hash`` and one float column per feature.
    """

    def __init__(self, config: FeatureRecorderConfig) -> None:
        super().__init__(config)
        if not config.instrument_ids:
            raise ValueError("FeatureRecorderConfig.instrument_ids is empty: name at least one instrument")
        self._vectors: list[FeatureVector] = []

    def on_start(self) -> None:
        """Subscribe to the FeatureVectors of every configured instrument."""
        for instrument_id in self.config.instrument_ids:
            iid = InstrumentId.from_str(instrument_id)
            self.subscribe_data(topic_data_type(FeatureVector, iid), instrument_id=iid)

    def on_data(self, data: FeatureVector) -> None:
        """Keep a FeatureVector."""
        if isinstance(data, FeatureVector):
            self._vectors.append(data)

    def on_stop(self) -> None:
        """Write the recorded vectors."""
        write_parquet_atomic(vectors_to_frame(self._vectors), Path(self.config.output_path))
        if self.config.catalog_path and self._vectors:
            from nautilus_trader.persistence.catalog import ParquetDataCatalog

            ParquetDataCatalog(self.config.catalog_path).write_data(self._vectors)


def vectors_to_frame(vectors: list[FeatureVector]) -> pd.DataFrame:
    """Return FeatureVectors as a DataFrame (one row each, one column per feature)."""
    if not vectors:
        return pd.DataFrame(columns=["ts_event", "ts_init", "instrument_id", "spec_hash"])
    names = vectors[0].feature_names()
    rows = []
    for v in vectors:
        if v.feature_names() != names:
            raise ValueError(f"FeatureVectors with different feature lists: {names} and {v.feature_names()}")
        rows.append((v.ts_event, v.ts_init, v.instrument_id.value, v.spec_hash, *v.as_array()))
    return pd.DataFrame(rows, columns=["ts_event", "ts_init", "instrument_id", "spec_hash", *names])
