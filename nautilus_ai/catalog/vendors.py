"""Vendor formats, read with NautilusTrader's own loaders.

* Databento DBN (``.dbn``, ``.dbn.zst``): ``DatabentoDataLoader.from_dbn_file`` (bars stamped on close).
* Bybit order book (``*.zip`` with ``ob`` in the name): ``BybitOrderBookDeltaDataLoader`` + wrangler.
* Binance depth CSV (``symbol,timestamp,first_update_id,...``): ``BinanceOrderBookDeltaDataLoader``
  + wrangler.
* Tardis CSV (``exchange,symbol,timestamp,local_timestamp,...``): ``TardisCSVDataLoader`` trades, quotes,
  incremental book deltas, or book snapshots (``load_depth10`` from 10 levels up, quotes below).

The instrument id, price and size precision always come from the matched :class:`InstrumentSpec`.
"""

from __future__ import annotations

import re
from pathlib import Path

from nautilus_trader.adapters.binance.loaders import BinanceOrderBookDeltaDataLoader
from nautilus_trader.adapters.bybit.loaders import BybitOrderBookDeltaDataLoader
from nautilus_trader.adapters.databento import DatabentoDataLoader
from nautilus_trader.adapters.tardis import TardisCSVDataLoader
from nautilus_trader.core.data import Data
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.persistence.wranglers import OrderBookDeltaDataWrangler

from nautilus_ai.catalog.instruments import InstrumentSpec
from nautilus_ai.errors import DataError

BINANCE_DEPTH_HEADER = "symbol,timestamp,first_update_id,last_update_id,side,update_type,price,qty"
TARDIS_PREFIX = "exchange,symbol,timestamp,local_timestamp"


def detect_vendor(path: Path) -> str | None:
    """Return the vendor format of ``path`` or None for a generic table.

    Returns
    -------
    str or None
        One of ``databento``, ``bybit_orderbook``, ``binance_depth``, ``tardis_trades``, ``tardis_quotes``,
        ``tardis_deltas``, ``tardis_depth10``, ``tardis_unknown``; None otherwise.

    """
    name = path.name.lower()
    if name.endswith((".dbn", ".dbn.zst")):
        return "databento"
    if name.endswith(".zip"):
        return "bybit_orderbook"
    if not name.endswith(".csv"):
        return None
    with path.open(encoding="utf-8", errors="replace") as handle:
        header = handle.readline().strip().lower()
    if header.startswith(BINANCE_DEPTH_HEADER):
        return "binance_depth"
    if not header.startswith(TARDIS_PREFIX):
        return None
    columns = set(header.split(","))
    if "is_snapshot" in columns:
        return "tardis_deltas"
    if "asks[0].price" in columns:
        return "tardis_depth10" if _snapshot_levels(columns) >= 10 else "tardis_quotes"
    if {"ask_price", "bid_price"} <= columns:
        return "tardis_quotes"
    if {"id", "side", "price", "amount"} <= columns:
        return "tardis_trades"
    return "tardis_unknown"


def _snapshot_levels(columns: set[str]) -> int:
    levels = [int(match.group(1)) for c in columns if (match := re.fullmatch(r"asks\[(\d+)\]\.price", c))]
    return max(levels) + 1 if levels else 0


def load_vendor(path: Path, vendor: str, spec: InstrumentSpec) -> list[Data]:
    """Load a vendor file into NautilusTrader (Cython) data objects for ``spec``'s instrument.

    Parameters
    ----------
    path : Path
        The vendor file.
    vendor : str
        The format, from :func:`detect_vendor`.
    spec : InstrumentSpec
        The instrument the data belongs to.

    Returns
    -------
    list[Data]
        Bars, ticks, deltas or depth snapshots, ordered by ``ts_init`` (instrument definitions excluded).

    Raises
    ------
    DataError
        If the loader rejects the file.

    """
    try:
        data = _load(path, vendor, spec)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{vendor} loader failed: {exc}", file=str(path)) from exc
    data = [item for item in data if not isinstance(item, Instrument)]
    if not data:
        raise DataError(f"{vendor} loader returned no data", file=str(path))
    return data


def _load(path: Path, vendor: str, spec: InstrumentSpec) -> list[Data]:
    iid = spec.instrument_id
    if vendor == "databento":
        return DatabentoDataLoader().from_dbn_file(
            path, instrument_id=iid, price_precision=spec.price_precision, as_legacy_cython=True
        )
    if vendor in {"bybit_orderbook", "binance_depth"}:
        loader = (
            BybitOrderBookDeltaDataLoader if vendor == "bybit_orderbook" else BinanceOrderBookDeltaDataLoader
        )
        frame = loader.load(path)
        return OrderBookDeltaDataWrangler(spec.to_nautilus()).process(frame)
    if vendor.startswith("tardis_"):
        tardis = TardisCSVDataLoader(
            price_precision=spec.price_precision, size_precision=spec.size_precision, instrument_id=iid
        )
        if vendor == "tardis_trades":
            return list(tardis.load_trades(path))
        if vendor == "tardis_quotes":
            return list(tardis.load_quotes(path))
        if vendor == "tardis_deltas":
            return list(tardis.load_deltas(path))
        if vendor == "tardis_depth10":
            with path.open(encoding="utf-8") as handle:
                levels = _snapshot_levels(set(handle.readline().strip().lower().split(",")))
            return list(tardis.load_depth10(path, levels=levels))
    raise DataError(f"unsupported vendor format {vendor!r}", file=str(path))
