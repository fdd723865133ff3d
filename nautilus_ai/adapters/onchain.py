"""Import daily on-chain metrics (blockchain.info-style CSV) as point-in-time :class:`OnChainMetric` data.

The bundled ``data/onchain/bitcoin_dataset.csv`` has one row per UTC day (``Date`` like
``2/17/2010 0:00``) and one column per metric (``btc_hash_rate``...). A row's value describes the
whole day, so it is stamped at the day's **end**: ``ts_event`` = 00:00 UTC of the next day. It
becomes *available* only after the provider publishes it, so ``ts_init`` = ``ts_event`` +
``publication_lag`` (1 day by default). Consumers use ``ts_init`` (point in time): a backtest on
day D never sees D's value before D+1 00:00 + lag.

Blank and NaN cells are skipped and counted per metric; a non-numeric cell is a
:class:`~nautilus_ai.errors.DataError` naming the file, the 1-based data row and the column.
:func:`onchain_to_catalog` is idempotent: a (file content, instrument, metrics, lag) already
imported into a catalog is skipped.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from nautilus_ai.catalog.atomic import atomic_write_text
from nautilus_ai.catalog.ingest import file_sha256
from nautilus_ai.catalog.types import OnChainMetric
from nautilus_ai.errors import ConfigError, DataError

DATE_COLUMN = "Date"
DATE_FORMATS = ("%m/%d/%Y %H:%M", "%m/%d/%Y", "%Y-%m-%d", "%Y-%m-%d %H:%M:%S")
DEFAULT_SOURCE = "blockchain.info"
MANIFEST_PATH = Path("_nautilus_ai") / "onchain_manifest.json"


@dataclass
class OnChainTable:
    """The metrics read from one on-chain CSV, with the blank/NaN cells skipped per metric."""

    file: str
    metrics: list[OnChainMetric]
    rows: int
    skipped: dict[str, int] = field(default_factory=dict)


@dataclass
class OnChainImportResult:
    """The outcome of :func:`onchain_to_catalog`."""

    file: str
    sha256: str
    instrument_id: str
    rows_read: int = 0
    items_written: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_as_already_ingested: bool = False


def _parse_day(text: str, file: str, row: int) -> datetime:
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise DataError(
        f"unreadable date {text!r}; expected like 2/17/2010 0:00", file=file, row=row, field=DATE_COLUMN
    )


def _lag_ns(publication_lag: str) -> int:
    try:
        lag = pd.Timedelta(publication_lag)
    except (TypeError, ValueError) as error:
        raise ConfigError(
            f"publication_lag {publication_lag!r} is not a duration like '1D' ({error})"
        ) from None
    if pd.isna(lag) or lag < pd.Timedelta(0):
        raise ConfigError(f"publication_lag must be a non-negative duration, was {publication_lag!r}")
    return int(lag.value)


def read_onchain_table(
    path: Path,
    instrument_id: str = "BTCUSD.ONCHAIN",
    metrics: Sequence[str] | None = None,
    publication_lag: str = "1D",
    source: str = DEFAULT_SOURCE,
) -> OnChainTable:
    """Read an on-chain CSV into ``OnChainMetric`` objects, sorted by (``ts_init``, metric).

    Parameters
    ----------
    path : Path
        The CSV file (a ``Date`` column and one column per metric).
    instrument_id : str
        The instrument the metrics belong to.
    metrics : Sequence[str], optional
        The columns to read; all but ``Date`` when omitted.
    publication_lag : str
        How long after the day's end the value is known (a pandas Timedelta string).
    source : str
        The ``source`` field of the objects.

    Returns
    -------
    OnChainTable
        The objects, the number of data rows and the skipped (blank/NaN) cells per metric.

    Raises
    ------
    ConfigError
        If a metric is not a column, or the lag is not a non-negative duration.
    DataError
        If the file has no ``Date`` column, a date is unreadable or repeated, or a value is not numeric.

    """
    path = Path(path)
    name = str(path)
    lag = _lag_ns(publication_lag)
    iid = InstrumentId.from_str(instrument_id)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header or DATE_COLUMN not in header:
            raise DataError(f"no '{DATE_COLUMN}' column in the header", file=name, field=DATE_COLUMN)
        header = [h.strip() for h in header]
        available = [h for h in header if h != DATE_COLUMN]
        chosen = list(metrics) if metrics is not None else available
        unknown = [m for m in chosen if m not in available]
        if unknown:
            raise ConfigError(f"{path}: unknown metric(s) {unknown}; the file has {available}")
        date_index = header.index(DATE_COLUMN)
        columns = [(metric, header.index(metric)) for metric in chosen]
        skipped = dict.fromkeys(chosen, 0)
        out: list[OnChainMetric] = []
        seen_days: set[datetime] = set()
        rows = 0
        for row_number, row in enumerate(reader, start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            rows += 1
            day = _parse_day(row[date_index] if date_index < len(row) else "", name, row_number)
            if day in seen_days:
                raise DataError(
                    f"day {day:%Y-%m-%d} appears twice", file=name, row=row_number, field=DATE_COLUMN
                )
            seen_days.add(day)
            ts_event = int((day + timedelta(days=1)).timestamp()) * 1_000_000_000
            for metric, index in columns:
                cell = row[index].strip() if index < len(row) else ""
                if not cell or cell.lower() == "nan":
                    skipped[metric] += 1
                    continue
                try:
                    value = float(cell)
                except ValueError:
                    raise DataError(
                        f"non-numeric value {cell!r}", file=name, row=row_number, field=metric
                    ) from None
                if math.isnan(value):
                    skipped[metric] += 1
                    continue
                out.append(
                    OnChainMetric(
                        instrument_id=iid,
                        metric=metric,
                        value=value,
                        source=source,
                        ts_event=ts_event,
                        ts_init=ts_event + lag,
                    )
                )
    out.sort(key=lambda m: (m.ts_init, m.metric))
    return OnChainTable(name, out, rows, skipped)


def read_onchain_csv(
    path: Path,
    instrument_id: str = "BTCUSD.ONCHAIN",
    metrics: Sequence[str] | None = None,
    publication_lag: str = "1D",
) -> list[OnChainMetric]:
    """Return the ``OnChainMetric`` objects of an on-chain CSV (see :func:`read_onchain_table`)."""
    return read_onchain_table(path, instrument_id, metrics, publication_lag).metrics


def _read_manifest(catalog_path: Path) -> dict[str, Any]:
    path = catalog_path / MANIFEST_PATH
    if not path.exists():
        return {"version": 1, "imports": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def onchain_to_catalog(
    path: Path,
    catalog_path: Path,
    instrument_id: str = "BTCUSD.ONCHAIN",
    metrics: Sequence[str] | None = None,
    publication_lag: str = "1D",
) -> OnChainImportResult:
    """Import an on-chain CSV into a ``ParquetDataCatalog``, once.

    The import is recorded in ``<catalog>/_nautilus_ai/onchain_manifest.json`` under the file's
    sha256 and the import parameters; importing the same thing again writes nothing.

    Raises
    ------
    ConfigError
        If the catalog already holds on-chain data for the instrument over an overlapping period
        from a different import (import into a new catalog instead).
    DataError
        If the file is malformed (see :func:`read_onchain_table`).

    """
    path = Path(path)
    catalog_path = Path(catalog_path)
    sha = file_sha256(path)
    key_text = json.dumps(
        [sha, instrument_id, list(metrics) if metrics is not None else None, publication_lag]
    )
    key = hashlib.sha256(key_text.encode()).hexdigest()
    manifest = _read_manifest(catalog_path)
    result = OnChainImportResult(str(path), sha, instrument_id)
    if key in manifest["imports"]:
        result.skipped_as_already_ingested = True
        return result
    table = read_onchain_table(path, instrument_id, metrics, publication_lag)
    result.rows_read, result.skipped = table.rows, table.skipped
    if table.metrics:
        catalog_path.mkdir(parents=True, exist_ok=True)
        try:
            ParquetDataCatalog(str(catalog_path)).write_data(list(table.metrics))
        except ValueError as error:
            if "disjoint" not in str(error):
                raise
            raise ConfigError(
                f"{catalog_path} already holds on-chain data for {instrument_id} over this period from "
                f"another import; import into a new catalog ({error})"
            ) from None
    result.items_written = len(table.metrics)
    manifest["imports"][key] = {
        "file": str(path),
        "sha256": sha,
        "instrument_id": instrument_id,
        "metrics": list(metrics) if metrics is not None else None,
        "publication_lag": publication_lag,
        "items_written": result.items_written,
        "imported_at": datetime.now(UTC).isoformat(),
    }
    atomic_write_text(catalog_path / MANIFEST_PATH, json.dumps(manifest, indent=2, sort_keys=True))
    return result
