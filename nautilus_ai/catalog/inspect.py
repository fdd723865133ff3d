"""Summaries of what a ``ParquetDataCatalog`` holds: instruments, data types, per-series ranges and counts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from nautilus_ai.errors import ConfigError


@dataclass
class SeriesSummary:
    """One (data type, identifier) series of the catalog."""

    data_type: str
    identifier: str
    rows: int
    first: str | None
    last: str | None
    files: int


@dataclass
class CatalogSummary:
    """What a catalog holds.

    Attributes
    ----------
    path : str
        The catalog root.
    instruments : list[str]
        Instrument ids stored in the catalog.
    data_types : list[str]
        The catalog's data type directory names (``bar``, ``quote_tick``, ``equity``...).
    series : list[SeriesSummary]
        Per (type, identifier): row count and first/last ``ts_init`` (UTC ISO 8601).

    """

    path: str
    instruments: list[str] = field(default_factory=list)
    data_types: list[str] = field(default_factory=list)
    series: list[SeriesSummary] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as a JSON-ready dict."""
        return {
            "path": self.path,
            "instruments": self.instruments,
            "data_types": self.data_types,
            "series": [asdict(series) for series in self.series],
        }

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """Return ``(data type, identifier, first, last, rows)`` string tuples for a table."""
        return [
            (s.data_type, s.identifier, s.first or "-", s.last or "-", f"{s.rows:,}") for s in self.series
        ]


def inspect_catalog(catalog_path: Path) -> CatalogSummary:
    """Summarise a catalog.

    Parameters
    ----------
    catalog_path : Path
        The catalog root.

    Returns
    -------
    CatalogSummary
        Instruments, data types and per-series ranges and counts.

    Raises
    ------
    ConfigError
        If ``catalog_path`` is not a catalog directory.

    """
    root = Path(catalog_path)
    if not root.is_dir():
        raise ConfigError(f"{root}: catalog directory not found")
    catalog = ParquetDataCatalog(str(root))
    summary = CatalogSummary(str(root))
    data_dir = root / "data"
    if not data_dir.is_dir():
        return summary
    summary.data_types = sorted(p.name for p in data_dir.iterdir() if p.is_dir())
    summary.instruments = sorted(str(instrument.id) for instrument in catalog.instruments())
    for type_dir in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        for series_dir in sorted(p for p in type_dir.iterdir() if p.is_dir()):
            summary.series.append(_series(type_dir.name, series_dir))
    return summary


def _series(data_type: str, series_dir: Path) -> SeriesSummary:
    files = sorted(series_dir.glob("*.parquet"))
    rows = 0
    first: int | None = None
    last: int | None = None
    for file in files:
        table = pq.read_table(file, columns=["ts_init"])
        rows += table.num_rows
        if table.num_rows:
            bounds = pc.min_max(table.column("ts_init"))
            low, high = int(bounds["min"].as_py()), int(bounds["max"].as_py())
            first = low if first is None else min(first, low)
            last = high if last is None else max(last, high)
    return SeriesSummary(data_type, series_dir.name, rows, _iso(first), _iso(last), len(files))


def _iso(value: int | None) -> str | None:
    return None if value is None else pd.Timestamp(value, unit="ns", tz="UTC").isoformat()
