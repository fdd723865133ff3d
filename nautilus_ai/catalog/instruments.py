"""Instrument specifications: the ``instruments.toml`` file that says which instrument a data file belongs to.

Each ``[[instruments]]`` table is one :class:`InstrumentSpec`. Besides the instrument itself it records how
the instrument's files are to be read: the bar specification, what the time column marks (bar open or
close), the timezone of naive timestamps, the session close of daily bars and the exchange calendar used
for gap checks. Two explicit, per-instrument relaxations of the default validation exist, both off by
default and both recorded in every ingest report:

* ``max_gap_bars``: the largest run of consecutive missing bars that is reported as a warning instead of
  raised as an error (a real exchange outage, for example).
* ``outlier_sigmas``: the return-outlier threshold for this instrument, replacing the ingest option's
  default (for instruments whose real returns are fat-tailed: earnings jumps, crypto wicks).
"""

from __future__ import annotations

import fnmatch
import tomllib
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Literal

import pandas as pd
import pydantic
from nautilus_trader.model.currencies import Currency
from nautilus_trader.model.data import BarSpecification, BarType
from nautilus_trader.model.enums import AssetClass
from nautilus_trader.model.identifiers import InstrumentId, Symbol
from nautilus_trader.model.instruments import (
    CryptoPerpetual,
    CurrencyPair,
    Equity,
    FuturesContract,
    Instrument,
)
from nautilus_trader.model.objects import Money, Price, Quantity

from nautilus_ai.errors import ConfigError

CRYPTO_KINDS = frozenset({"crypto_spot", "crypto_perpetual"})


class InstrumentSpec(pydantic.BaseModel, extra="forbid"):
    """One entry of the instruments file.

    Parameters
    ----------
    id : str
        The NautilusTrader instrument id, ``SYMBOL.VENUE`` (``"AAPL.XNAS"``, ``"GBP/USD.FXCM"``).
    kind : {"equity", "fx", "crypto_spot", "crypto_perpetual", "future"}
        The instrument class built by :meth:`to_nautilus`.
    currency : str
        The quote currency.
    base_currency : str, optional
        The base currency of fx and crypto instruments.
    price_precision, size_precision : int
        Decimal places of prices and sizes; file values are rounded to them.
    lot_size, min_notional, maker_fee, taker_fee, multiplier : float
        Trading attributes of the instrument.
    files : list[str]
        File names or glob patterns, matched against a file's name. Empty means "every file" when the
        spec is the only one given (the CLI's ``--instrument-id``).
    bar_spec : str, optional
        ``"1-DAY-LAST"``, ``"1-MINUTE-LAST"``...; detected from the timestamp spacing when unset.
    timestamp : {"open", "close"}
        What the file's time column marks. Written bars always carry their close time.
    timezone : str
        The timezone of naive timestamps in the file.
    session_close : str, optional
        ``"HH:MM"``: daily bars stamped with a date get ``ts = date + session_close`` in ``timezone``.
    calendar : str, optional
        An ``exchange_calendars`` name (``"XNYS"``) for gap checks of daily bars.
    max_gap_bars : int
        Runs of at most this many missing bars are reported, not raised (default 0: every gap is an error).
    outlier_sigmas : float, optional
        Per-instrument return-outlier threshold replacing the ingest option's.
    underlying, activation, expiration : str, optional
        Futures only: the underlying and the contract's activation and expiration dates (ISO 8601, UTC).

    """

    id: str
    kind: Literal["equity", "fx", "crypto_spot", "crypto_perpetual", "future"]
    currency: str = "USD"
    base_currency: str | None = None
    price_precision: int = pydantic.Field(default=2, ge=0, le=16)
    size_precision: int = pydantic.Field(default=0, ge=0, le=16)
    lot_size: float | None = None
    min_notional: float | None = None
    maker_fee: float = 0.0
    taker_fee: float = 0.0
    multiplier: float = 1.0
    files: list[str] = []
    bar_spec: str | None = None
    timestamp: Literal["open", "close"] = "open"
    timezone: str = "UTC"
    session_close: str | None = None
    calendar: str | None = None
    max_gap_bars: int = pydantic.Field(default=0, ge=0)
    outlier_sigmas: float | None = pydantic.Field(default=None, gt=0)
    underlying: str | None = None
    activation: str | None = None
    expiration: str | None = None

    @pydantic.field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        try:
            InstrumentId.from_str(value)
        except Exception as exc:
            raise ValueError(f"not a SYMBOL.VENUE instrument id: {value!r}") from exc
        return value

    @pydantic.field_validator("bar_spec")
    @classmethod
    def _check_bar_spec(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                BarSpecification.from_str(value)
            except Exception as exc:
                raise ValueError(f"not a bar specification like '1-DAY-LAST': {value!r}") from exc
        return value

    @pydantic.field_validator("session_close")
    @classmethod
    def _check_session_close(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                time.fromisoformat(value)
            except ValueError as exc:
                raise ValueError(f"not a HH:MM time: {value!r}") from exc
        return value

    @pydantic.field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            pd.Timestamp("2020-01-01").tz_localize(value)
        except Exception as exc:
            raise ValueError(f"unknown timezone: {value!r}") from exc
        return value

    @pydantic.model_validator(mode="after")
    def _check_kind_fields(self) -> InstrumentSpec:
        if self.kind in {"fx", "crypto_spot", "crypto_perpetual"} and self.base_currency is None:
            raise ValueError(f"kind {self.kind!r} needs base_currency")
        return self

    @property
    def instrument_id(self) -> InstrumentId:
        """The NautilusTrader instrument id."""
        return InstrumentId.from_str(self.id)

    @property
    def is_crypto(self) -> bool:
        """Whether the instrument trades around the clock (no session breaks)."""
        return self.kind in CRYPTO_KINDS

    def bar_type(self, bar_spec: str | None = None) -> BarType:
        """Return the EXTERNAL bar type of this instrument for ``bar_spec`` (default: the spec's)."""
        spec = bar_spec or self.bar_spec
        if spec is None:
            raise ConfigError(f"instrument {self.id}: no bar_spec set and none detected")
        return BarType.from_str(f"{self.id}-{spec}-EXTERNAL")

    def to_nautilus(self) -> Instrument:
        """Build the NautilusTrader instrument.

        Returns
        -------
        Instrument
            ``Equity``, ``CurrencyPair`` (fx and crypto spot), ``CryptoPerpetual`` or ``FuturesContract``.

        """
        iid = self.instrument_id
        quote = _currency(self.currency)
        price_increment = Price(10.0**-self.price_precision, self.price_precision)
        size_increment = Quantity(10.0**-self.size_precision, self.size_precision)
        maker, taker = Decimal(str(self.maker_fee)), Decimal(str(self.taker_fee))
        lot = Quantity(self.lot_size, self.size_precision) if self.lot_size is not None else None
        min_notional = Money(self.min_notional, quote) if self.min_notional is not None else None
        multiplier = Quantity.from_str(str(self.multiplier))
        common = {"instrument_id": iid, "raw_symbol": Symbol(iid.symbol.value), "ts_event": 0, "ts_init": 0}
        if self.kind == "equity":
            return Equity(
                **common,
                currency=quote,
                price_precision=self.price_precision,
                price_increment=price_increment,
                lot_size=lot or Quantity.from_int(1),
                maker_fee=maker,
                taker_fee=taker,
            )
        if self.kind in {"fx", "crypto_spot"}:
            return CurrencyPair(
                **common,
                base_currency=_currency(self.base_currency or ""),
                quote_currency=quote,
                price_precision=self.price_precision,
                size_precision=self.size_precision,
                price_increment=price_increment,
                size_increment=size_increment,
                lot_size=lot,
                min_notional=min_notional,
                maker_fee=maker,
                taker_fee=taker,
            )
        if self.kind == "crypto_perpetual":
            return CryptoPerpetual(
                **common,
                base_currency=_currency(self.base_currency or ""),
                quote_currency=quote,
                settlement_currency=quote,
                is_inverse=False,
                price_precision=self.price_precision,
                size_precision=self.size_precision,
                price_increment=price_increment,
                size_increment=size_increment,
                multiplier=multiplier,
                lot_size=lot or Quantity(1, self.size_precision),
                min_notional=min_notional,
                margin_init=Decimal(0),
                margin_maint=Decimal(0),
                maker_fee=maker,
                taker_fee=taker,
            )
        activation = pd.Timestamp(self.activation or "1970-01-01", tz="UTC")
        expiration = pd.Timestamp(self.expiration or "2100-01-01", tz="UTC")
        return FuturesContract(
            **common,
            asset_class=AssetClass.INDEX,
            currency=quote,
            price_precision=self.price_precision,
            price_increment=price_increment,
            multiplier=multiplier,
            lot_size=lot or Quantity.from_int(1),
            underlying=self.underlying or iid.symbol.value,
            activation_ns=activation.value,
            expiration_ns=expiration.value,
            maker_fee=maker,
            taker_fee=taker,
        )


def _currency(code: str) -> Currency:
    try:
        return Currency.from_str(code)
    except Exception as exc:
        raise ConfigError(f"unknown currency code {code!r}") from exc


def load_instruments_file(path: Path) -> list[InstrumentSpec]:
    """Read a TOML instruments file made of ``[[instruments]]`` tables.

    Parameters
    ----------
    path : Path
        The instruments file.

    Returns
    -------
    list[InstrumentSpec]
        One spec per table, in file order.

    Raises
    ------
    ConfigError
        If the file is missing, is not TOML, has no ``[[instruments]]`` table, repeats an id, or an entry is
        invalid (the message names the file, the entry and the field).

    """
    path = Path(path)
    try:
        content = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: instruments file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    tables = content.get("instruments")
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"{path}: expected one or more [[instruments]] tables")
    specs: list[InstrumentSpec] = []
    for index, table in enumerate(tables, start=1):
        label = f"[[instruments]] #{index}" + (
            f" ({table['id']})" if isinstance(table, dict) and "id" in table else ""
        )
        try:
            specs.append(InstrumentSpec.model_validate(table))
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "?"
            raise ConfigError(f"{path}: {label}, field '{field}': {first['msg']}") from exc
        try:
            specs[-1].to_nautilus()
        except ConfigError as exc:
            raise ConfigError(f"{path}: {label}: {exc}") from exc
    seen: set[str] = set()
    for spec in specs:
        if spec.id in seen:
            raise ConfigError(f"{path}: instrument id {spec.id} appears more than once")
        seen.add(spec.id)
    return specs


def match_instrument(
    specs: list[InstrumentSpec] | tuple[InstrumentSpec, ...], file: Path
) -> InstrumentSpec | None:
    """Return the spec whose ``files`` patterns match ``file``'s name (first match wins).

    A single spec with an empty ``files`` list applies to every file.

    Parameters
    ----------
    specs : sequence of InstrumentSpec
        The candidate specs.
    file : Path
        The data file.

    Returns
    -------
    InstrumentSpec or None
        The matching spec, or None when no spec claims the file.

    """
    name = Path(file).name
    for spec in specs:
        if any(
            fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(str(file), pattern) for pattern in spec.files
        ):
            return spec
    if len(specs) == 1 and not specs[0].files:
        return specs[0]
    return None
