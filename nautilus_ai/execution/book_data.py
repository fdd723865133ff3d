"""Load the real order books of ``/work/shared/data`` into NautilusTrader objects for engine runs.

The Databento ES files (``esh4-glbx-mdp3-2023122*.mbo.dbn.zst``) are market-by-order (L3) deltas of
the March 2024 E-mini S&P 500 future, with the trades printed in the same file. The bundled definition
file holds another contract (ESM3), so the ESH4 instrument is built here from the CME contract specs
(tick 0.25, multiplier 50, one-contract lots) and the prices are read with ``price_precision=2``.

A slice ``[start, end]`` keeps every book delta from the start of the file up to ``end`` (the book needs
the earlier orders to be right at ``start``) and the trades inside the slice only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from nautilus_trader.adapters.databento.loaders import DatabentoDataLoader
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import OrderBookDelta, TradeTick
from nautilus_trader.model.enums import AssetClass
from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
from nautilus_trader.model.instruments import FuturesContract
from nautilus_trader.model.objects import Price, Quantity

from nautilus_ai.errors import DataError

SHARED_ORDERBOOK_DIR = Path("/work/shared/data/orderbook")
"""Folder of the real order-book files."""

ES_MBO_FILE_PATTERN = "esh4-glbx-mdp3-{date}.mbo.dbn.zst"
"""Name of a Databento ESH4 MBO file; ``date`` is ``YYYYMMDD``."""


@dataclass(frozen=True)
class BookSlice:
    """A slice of a real order book, ready for ``BacktestEngine.add_data``.

    Attributes
    ----------
    instrument : FuturesContract
        The instrument the data is for.
    deltas : list of OrderBookDelta
        Book deltas from the start of the file up to ``end`` (legacy Cython objects).
    trades : list of TradeTick
        Trades printed inside ``[start, end]``.
    start, end : pandas.Timestamp
        Bounds of the slice (UTC).

    """

    instrument: FuturesContract
    deltas: list[OrderBookDelta]
    trades: list[TradeTick]
    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def data(self) -> list[OrderBookDelta | TradeTick]:
        """Return the deltas and trades merged in ``ts_init`` order."""
        merged: list[OrderBookDelta | TradeTick] = [*self.deltas, *self.trades]
        merged.sort(key=lambda item: item.ts_init)
        return merged

    @property
    def traded_volume(self) -> float:
        """Return the total size of the trades of the slice."""
        return float(sum(trade.size.as_double() for trade in self.trades))


def esh4_instrument(venue: str = "GLBX") -> FuturesContract:
    """Return the ESH4 E-mini S&P 500 future (CME specs: tick 0.25, multiplier 50, lot 1).

    Parameters
    ----------
    venue : str
        Venue of the instrument id (Databento's GLBX by default).

    """
    activation = pd.Timestamp("2022-03-18 13:30", tz="UTC")
    expiration = pd.Timestamp("2024-03-15 13:30", tz="UTC")
    return FuturesContract(
        instrument_id=InstrumentId(Symbol("ESH4"), Venue(venue)),
        raw_symbol=Symbol("ESH4"),
        asset_class=AssetClass.INDEX,
        exchange="XCME",
        currency=USD,
        price_precision=2,
        price_increment=Price.from_str("0.25"),
        multiplier=Quantity.from_int(50),
        lot_size=Quantity.from_int(1),
        underlying="ES",
        activation_ns=activation.value,
        expiration_ns=expiration.value,
        ts_event=activation.value,
        ts_init=activation.value,
    )


def load_es_mbo_slice(
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    path: str | Path | None = None,
) -> BookSlice:
    """Load a slice of the Databento ESH4 MBO book with its trades.

    Parameters
    ----------
    start, end : str or pandas.Timestamp
        Bounds of the slice (UTC; naive values are read as UTC).
    path : str or Path, optional
        The ``.mbo.dbn.zst`` file; default: the shared file of ``start``'s date.

    Returns
    -------
    BookSlice
        The instrument, the deltas up to ``end`` and the trades inside ``[start, end]``.

    Raises
    ------
    DataError
        If the file is missing, the bounds are not ordered, or the slice holds no delta.

    """
    start_ts, end_ts = _utc(start), _utc(end)
    if not start_ts < end_ts:
        raise DataError(f"need start < end, were {start_ts} and {end_ts}", field="start")
    file = (
        Path(path)
        if path is not None
        else SHARED_ORDERBOOK_DIR / ES_MBO_FILE_PATTERN.format(date=start_ts.strftime("%Y%m%d"))
    )
    if not file.is_file():
        raise DataError("Databento MBO file not found", file=str(file))
    instrument = esh4_instrument()
    loaded = DatabentoDataLoader().from_dbn_file(
        file,
        instrument_id=instrument.id,
        price_precision=instrument.price_precision,
        include_trades=True,
        as_legacy_cython=True,
    )
    lo, hi = start_ts.value, end_ts.value
    deltas = [item for item in loaded if isinstance(item, OrderBookDelta) and item.ts_init <= hi]
    trades = [item for item in loaded if isinstance(item, TradeTick) and lo <= item.ts_init <= hi]
    if not deltas:
        raise DataError(f"no book delta at or before {end_ts}", file=str(file))
    return BookSlice(instrument=instrument, deltas=deltas, trades=trades, start=start_ts, end=end_ts)


def _utc(value: str | pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
