"""Generic readers: OHLCV bars, trades and quotes from CSV, Parquet or Feather into canonical frames.

A canonical frame has one row per source data row, in source order, with the column ``row`` (the 1-based
data row of the source file, header excluded), ``ts`` (UTC ``datetime64[ns]``, as stamped in the file) and
the canonical value columns of its kind:

* bars: ``open, high, low, close, volume``
* trades: ``price, quantity, side, trade_id``
* quotes: ``bid_price, ask_price, bid_size, ask_size`` (sizes optional)

Column names are matched case-insensitively against known aliases (``Date``/``Datetime``/``timestamp``/
``time``, ``Open``..., ``bid``/``ask``, ``qty``...), or given explicitly with a ``column_map`` (file column
-> canonical name). ``Adj Close`` and other unknown columns are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from nautilus_trader.model.data import BarSpecification

from nautilus_ai.catalog.instruments import InstrumentSpec
from nautilus_ai.errors import ConfigError, DataError

TableKind = Literal["bars", "trades", "quotes"]

CANONICAL_COLUMNS: frozenset[str] = frozenset(
    {
        "timestamp",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "price",
        "quantity",
        "side",
        "buyer_maker",
        "trade_id",
        "bid_price",
        "ask_price",
        "bid_size",
        "ask_size",
    }
)

ALIASES: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp", "datetime", "date", "time", "ts", "ts_event", "open_time", "date_time"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v"),
    "price": ("price", "last", "last_price"),
    "quantity": ("quantity", "qty", "size", "amount"),
    "side": ("side", "aggressor_side"),
    "buyer_maker": ("buyer_maker", "is_buyer_maker"),
    "trade_id": ("trade_id", "id", "tid"),
    "bid_price": ("bid_price", "bid", "bid_px", "best_bid"),
    "ask_price": ("ask_price", "ask", "ask_px", "best_ask"),
    "bid_size": ("bid_size", "bid_qty", "bid_amount", "bid_sz"),
    "ask_size": ("ask_size", "ask_qty", "ask_amount", "ask_sz"),
}

REQUIRED: dict[TableKind, tuple[str, ...]] = {
    "bars": ("timestamp", "open", "high", "low", "close", "volume"),
    "trades": ("timestamp", "price", "quantity"),
    "quotes": ("timestamp", "bid_price", "ask_price"),
}

VALUE_COLUMNS: dict[TableKind, tuple[str, ...]] = {
    "bars": ("open", "high", "low", "close", "volume"),
    "trades": ("price", "quantity"),
    "quotes": ("bid_price", "ask_price", "bid_size", "ask_size"),
}

TABLE_SUFFIXES = (".csv", ".parquet", ".feather", ".txt")


@dataclass
class Table:
    """A canonical frame read from one file.

    Attributes
    ----------
    file : Path
        The source file.
    kind : {"bars", "trades", "quotes"}
        The data kind.
    frame : pd.DataFrame
        Canonical columns plus ``row`` and ``ts`` (see the module docstring).
    source_columns : dict[str, str]
        Canonical name -> the source column it was read from (for error messages).
    date_only : bool
        Whether every timestamp was a bare date (daily files).

    """

    file: Path
    kind: TableKind
    frame: pd.DataFrame
    source_columns: dict[str, str]
    date_only: bool = False

    def source_field(self, canonical: str) -> str:
        """Return the file's own name of the canonical column ``canonical``."""
        return self.source_columns.get(canonical, canonical)


def read_raw(path: Path) -> pd.DataFrame:
    """Read a CSV, Parquet or Feather file into a DataFrame with a default RangeIndex."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif suffix == ".feather":
        frame = pd.read_feather(path)
    elif suffix in {".csv", ".txt"}:
        frame = pd.read_csv(path)
    else:
        raise ConfigError(f"{path}: unsupported file type {suffix!r} (expected .csv, .parquet or .feather)")
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    return frame


def map_columns(columns: list[str], column_map: dict[str, str], file: Path) -> dict[str, str]:
    """Return canonical name -> source column, from ``column_map`` first, then by alias (case-insensitive).

    Raises
    ------
    ConfigError
        If ``column_map`` names a column the file lacks or a canonical name that does not exist.

    """
    mapping: dict[str, str] = {}
    for source, canonical in column_map.items():
        if canonical not in CANONICAL_COLUMNS:
            raise ConfigError(
                f"column map {source}->{canonical}: unknown canonical name; "
                f"use one of {sorted(CANONICAL_COLUMNS)}"
            )
        if source not in columns:
            raise ConfigError(f"{file}: column map names column {source!r}, which the file lacks ({columns})")
        mapping[canonical] = source
    lowered = {str(column).strip().lower(): column for column in columns}
    claimed = set(mapping.values())
    for canonical, aliases in ALIASES.items():
        if canonical in mapping:
            continue
        for alias in aliases:
            column = lowered.get(alias)
            if column is not None and column not in claimed:
                mapping[canonical] = column
                claimed.add(column)
                break
    return mapping


def detect_kind(mapping: dict[str, str]) -> TableKind | None:
    """Return the data kind whose required columns are all present, or None."""
    for kind in ("bars", "quotes", "trades"):
        if all(column in mapping for column in REQUIRED[kind]):
            return kind
    return None


def read_table(
    path: Path,
    timezone: str,
    data_kind: Literal["auto", "bars", "trades", "quotes"] = "auto",
    column_map: dict[str, str] | None = None,
) -> Table:
    """Read one file into a canonical :class:`Table`.

    Parameters
    ----------
    path : Path
        A CSV, Parquet or Feather file.
    timezone : str
        The timezone of naive timestamps.
    data_kind : {"auto", "bars", "trades", "quotes"}
        The kind to read; ``"auto"`` detects it from the columns.
    column_map : dict[str, str], optional
        File column -> canonical column.

    Raises
    ------
    ConfigError
        If the kind cannot be detected or required columns are missing.

    """
    raw = read_raw(path)
    columns = [str(column) for column in raw.columns]
    raw.columns = columns
    mapping = map_columns(columns, column_map or {}, path)
    kind: TableKind | None = detect_kind(mapping) if data_kind == "auto" else data_kind
    if kind is None:
        raise ConfigError(
            f"{path}: cannot tell bars, trades or quotes from the columns {columns}; "
            "pass --data-kind and --column-map (file column=canonical name)"
        )
    missing = [column for column in REQUIRED[kind] if column not in mapping]
    if missing:
        raise ConfigError(
            f"{path}: {kind} need columns {missing}, not found among {columns}; map them with --column-map"
        )
    frame = pd.DataFrame({"row": np.arange(1, len(raw) + 1, dtype=np.int64)})
    stamps = raw[mapping["timestamp"]]
    frame["ts"] = parse_timestamps(stamps, timezone)
    for column in VALUE_COLUMNS[kind]:
        if column in mapping:
            frame[column] = pd.to_numeric(raw[mapping[column]], errors="coerce").astype("float64")
    if kind == "trades":
        frame["side"] = _aggressor_sides(raw, mapping)
        frame["trade_id"] = (
            raw[mapping["trade_id"]].astype(str) if "trade_id" in mapping else frame["row"].astype(str)
        )
    return Table(path, kind, frame, mapping, date_only=_is_date_only(stamps))


def _aggressor_sides(raw: pd.DataFrame, mapping: dict[str, str]) -> pd.Series:
    if "side" in mapping:
        side = raw[mapping["side"]].astype(str).str.strip().str.upper()
        return side.replace({"B": "BUY", "S": "SELL", "BUYER": "BUY", "SELLER": "SELL"})
    if "buyer_maker" in mapping:
        maker = raw[mapping["buyer_maker"]].astype(str).str.strip().str.lower().isin({"true", "1", "t"})
        return pd.Series(np.where(maker, "SELL", "BUY"), index=raw.index)
    return pd.Series("NONE", index=raw.index)


def parse_timestamps(values: pd.Series, timezone: str) -> pd.Series:
    """Parse a time column to UTC ``datetime64[ns, UTC]``; unparseable values become ``NaT``.

    Integers are epoch times whose unit (s, ms, us, ns) is inferred from their magnitude; naive
    datetimes are localized to ``timezone``.
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        magnitude = float(np.nanmedian(np.abs(values.to_numpy(dtype="float64")))) if len(values) else 0.0
        unit: Literal["s", "ms", "us", "ns"] = (
            "s" if magnitude < 1e11 else "ms" if magnitude < 1e14 else "us" if magnitude < 1e17 else "ns"
        )
        parsed = pd.to_datetime(values, unit=unit, utc=True, errors="coerce")
    elif isinstance(values.dtype, pd.DatetimeTZDtype):
        parsed = values.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(values):
        parsed = values.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    else:
        text = values.astype("string").str.strip()
        has_offset = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True, na=False)
        parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
        if has_offset.any():
            parsed[has_offset] = pd.to_datetime(text[has_offset], utc=True, format="ISO8601", errors="coerce")
        naive = ~has_offset
        if naive.any():
            local = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
            if getattr(local.dt, "tz", None) is None:
                local = local.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
            parsed[naive] = local.dt.tz_convert("UTC")
    return parsed.astype("datetime64[ns, UTC]")


def _is_date_only(values: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(values) or isinstance(values.dtype, pd.DatetimeTZDtype):
        return False
    if pd.api.types.is_datetime64_dtype(values):
        valid = values.dropna()
        return bool(len(valid)) and bool((valid == valid.dt.normalize()).all())
    text = values.dropna().astype(str).str.strip()
    return bool(len(text)) and bool(text.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all())


def detect_interval(ts: pd.Series) -> pd.Timedelta:
    """Return the most common positive spacing of ``ts`` (the bar interval)."""
    spacing = ts.dropna().sort_values().diff()
    spacing = spacing[spacing > pd.Timedelta(0)]
    if spacing.empty:
        raise DataError(
            "cannot detect the bar interval: fewer than two distinct timestamps", field="timestamp"
        )
    interval = spacing.mode().iloc[0]
    # Daily bars skip weekends: a mode of 1 day stays 1 day; Yahoo-style files need nothing else.
    return pd.Timedelta(interval)


def bar_spec_for_interval(interval: pd.Timedelta) -> str:
    """Return the ``N-UNIT-LAST`` bar specification of a bar interval."""
    seconds = int(interval.total_seconds())
    for unit, size in (("DAY", 86_400), ("HOUR", 3_600), ("MINUTE", 60), ("SECOND", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}-{unit}-LAST"
    raise DataError(f"cannot express a bar interval of {interval} as a bar specification", field="timestamp")


def bar_interval(spec: InstrumentSpec, ts: pd.Series) -> tuple[str, pd.Timedelta]:
    """Return the bar specification and interval: the spec's ``bar_spec``, or detected from ``ts``."""
    if spec.bar_spec is not None:
        return spec.bar_spec, pd.Timedelta(BarSpecification.from_str(spec.bar_spec).timedelta)
    interval = detect_interval(ts)
    return bar_spec_for_interval(interval), interval


def bar_close_times(
    ts: pd.Series, spec: InstrumentSpec, interval: pd.Timedelta, date_only: bool, timezone: str
) -> pd.Series:
    """Return each bar's close time (UTC) from the file's stamps (point-in-time convention).

    Parameters
    ----------
    ts : pd.Series
        The parsed file stamps (UTC; date-only stamps were localized to ``timezone`` midnight).
    spec : InstrumentSpec
        Gives ``timestamp`` (open or close) and ``session_close``.
    interval : pd.Timedelta
        The bar interval.
    date_only : bool
        Whether the file's stamps were bare dates.
    timezone : str
        The timezone the stamps were localized to.

    Returns
    -------
    pd.Series
        Daily date-only bars with ``session_close``: the date at ``session_close`` in ``timezone``.
        Otherwise the stamp, plus ``interval`` when stamps mark the bar open.

    """
    if date_only and spec.session_close is not None and interval >= pd.Timedelta(days=1):
        local_dates = ts.dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()
        hours, minutes = (int(part) for part in spec.session_close.split(":")[:2])
        local_close = local_dates + pd.Timedelta(hours=hours, minutes=minutes)
        return (
            local_close.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
            .dt.tz_convert("UTC")
            .astype("datetime64[ns, UTC]")
        )
    if spec.timestamp == "open":
        return ts + interval
    return ts
