"""Ingest data files into a ``ParquetDataCatalog``: read, validate, convert, write, record.

Every file is read and validated before anything is written, so a validation error leaves the catalog
untouched. Ingested files are recorded by sha256 in ``<catalog>/_nautilus_ai/manifest.json`` (written
atomically); a file already in the manifest is skipped, so ingesting twice changes nothing. With
``repair`` a validation report ``<catalog>/_reports/<stem>-<sha8>.validation.json`` (and ``.txt``) is
written per file. Source files are only read.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pydantic
from nautilus_trader.core.data import Data
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.persistence.wranglers import (
    BarDataWrangler,
    QuoteTickDataWrangler,
    TradeTickDataWrangler,
)

from nautilus_ai.catalog.atomic import atomic_write_text
from nautilus_ai.catalog.instruments import InstrumentSpec, match_instrument
from nautilus_ai.catalog.readers import TABLE_SUFFIXES, bar_close_times, bar_interval, read_table
from nautilus_ai.catalog.validation import ValidationResult, describe, validate_table
from nautilus_ai.catalog.vendors import detect_vendor, load_vendor
from nautilus_ai.errors import ConfigError, DataError

MANIFEST_PATH = Path("_nautilus_ai") / "manifest.json"
REPORTS_DIR = "_reports"
SUPPORTED_SUFFIXES = (*TABLE_SUFFIXES, ".zst", ".dbn", ".zip")


class IngestOptions(pydantic.BaseModel, extra="forbid"):
    """Options of one ingest run.

    Parameters
    ----------
    data_kind : {"auto", "bars", "trades", "quotes", "vendor"}
        What the files hold; ``auto`` recognises vendor formats, then detects from the columns.
    column_map : dict[str, str]
        File column -> canonical column name.
    timezone : str, optional
        Timezone of naive timestamps, overriding the instrument spec.
    outlier_sigmas : float
        Default return-outlier threshold in robust sigmas (an instrument's ``outlier_sigmas`` overrides it).
    repair : bool
        Drop bad rows, duplicates and outliers, sort, and write validation reports instead of raising.
    update_instruments : bool
        Replace an instrument definition already in the catalog when the instruments file now
        defines it differently (fees, precisions...). Without it such a difference is an error.

    """

    data_kind: Literal["auto", "bars", "trades", "quotes", "vendor"] = "auto"
    column_map: dict[str, str] = {}
    timezone: str | None = None
    outlier_sigmas: float = pydantic.Field(default=10.0, gt=0)
    repair: bool = False
    update_instruments: bool = False


@dataclass
class FileResult:
    """The outcome of ingesting one file."""

    file: str
    sha256: str
    data_type: str = ""
    instrument: str = ""
    rows_read: int = 0
    rows_written: int = 0
    rows_dropped: dict[str, int] = field(default_factory=dict)
    fixes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)
    skipped_as_already_ingested: bool = False
    report_files: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    """Per-file results of an ingest run."""

    catalog: str
    files: list[FileResult] = field(default_factory=list)
    instruments_updated: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dict."""
        return {
            "catalog": self.catalog,
            "files": [asdict(result) for result in self.files],
            "instruments_updated": self.instruments_updated,
        }

    def to_json(self) -> str:
        """Return the report as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def summary_text(self) -> str:
        """Return one line per file plus a total."""
        lines = []
        for r in self.files:
            if r.skipped_as_already_ingested:
                lines.append(f"{r.file}: skipped (already ingested, sha256 {r.sha256[:8]})")
                continue
            dropped = sum(r.rows_dropped.values())
            extra = (
                f", dropped {dropped} ({', '.join(f'{k}={v}' for k, v in r.rows_dropped.items())})"
                if dropped
                else ""
            )
            warn = f", {len(r.warnings)} warning(s)" if r.warnings else ""
            lines.append(
                f"{r.file}: {r.data_type} {r.instrument}: "
                f"read {r.rows_read}, wrote {r.rows_written}{extra}{warn}"
            )
        written = sum(r.rows_written for r in self.files)
        if self.instruments_updated:
            lines.append(f"instrument definitions replaced: {', '.join(self.instruments_updated)}")
        lines.append(f"{len(self.files)} file(s), {written} row(s) written to {self.catalog}")
        return "\n".join(lines)


@dataclass
class _Prepared:
    result: FileResult
    spec: InstrumentSpec
    data: list[Data]
    validation: ValidationResult | None = None


def file_sha256(path: Path) -> str:
    """Return the hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    """Return the files to ingest: files as given, directories expanded to their supported files, sorted."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(
                p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(SUPPORTED_SUFFIXES)
            )
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(f"{path}: no such file or directory")
    return files


def read_manifest(catalog_path: Path) -> dict[str, Any]:
    """Return the catalog's ingest manifest (``{"files": {sha256: {...}}}``; empty when absent)."""
    path = Path(catalog_path) / MANIFEST_PATH
    if not path.exists():
        return {"version": 1, "files": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def ingest_paths(
    paths: Sequence[Path],
    catalog_path: Path,
    instruments: Sequence[InstrumentSpec],
    options: IngestOptions,
    progress: Callable[[str, int, int], None] | None = None,
) -> IngestReport:
    """Validate and ingest files (or directories of files) into a ``ParquetDataCatalog``.

    Parameters
    ----------
    paths : Sequence[Path]
        Files or directories (every supported file inside, sorted).
    catalog_path : Path
        The catalog root (created when missing).
    instruments : Sequence[InstrumentSpec]
        The specs files are matched against; a single spec with ``files=[]`` applies to every file.
    options : IngestOptions
        Ingest options.
    progress : callable, optional
        Called as ``progress(file_name, index, total)`` before each file (index 1-based).

    Returns
    -------
    IngestReport
        Per-file results.

    Raises
    ------
    ConfigError
        If a file matches no instrument spec, or its kind or columns cannot be determined.
    DataError
        If a file fails validation (without ``repair``). Nothing is written to the catalog then.

    """
    catalog_path = Path(catalog_path)
    files = expand_paths(paths)
    if not files:
        raise ConfigError(f"no supported data files in {', '.join(map(str, paths))}")
    manifest = read_manifest(catalog_path)
    report = IngestReport(str(catalog_path))
    prepared: list[_Prepared] = []
    seen: set[str] = set()
    for index, path in enumerate(files, start=1):
        if progress is not None:
            progress(path.name, index, len(files))
        sha = file_sha256(path)
        if sha in manifest["files"] or sha in seen:
            report.files.append(FileResult(str(path), sha, skipped_as_already_ingested=True))
            continue
        seen.add(sha)
        spec = match_instrument(list(instruments), path)
        if spec is None:
            raise ConfigError(
                f"{path}: no instrument matches this file; add its name (or a glob) to the `files =` list of "
                "an [[instruments]] entry in the instruments file, or pass --instrument-id"
            )
        item = _prepare(path, sha, spec, options)
        prepared.append(item)
        report.files.append(item.result)
    matched = {
        spec.id: spec for path in files if (spec := match_instrument(list(instruments), path)) is not None
    }
    stale = _stale_instruments(catalog_path, manifest, matched.values())
    if stale and not options.update_instruments:
        details = "; ".join(f"{iid}: {diff}" for iid, diff in stale.items())
        raise ConfigError(
            f"the instruments file defines instruments differently from catalog {catalog_path} ({details}): "
            "ingest into a new catalog, or pass --update-instruments to replace the definitions"
        )
    if stale:
        _replace_instruments(catalog_path, [matched[iid] for iid in stale])
        report.instruments_updated = sorted(stale)
    if prepared:
        _write(catalog_path, prepared, manifest, options)
    return report


def _instrument_fields(instrument: Any) -> dict[str, Any]:
    fields = type(instrument).to_dict(instrument)
    return {k: v for k, v in fields.items() if k not in ("ts_event", "ts_init")}


def _stale_instruments(catalog_path: Path, manifest: dict[str, Any], specs: Any) -> dict[str, str]:
    """Return ``{instrument id: what differs}`` for catalog instruments the specs now define differently."""
    known = set(manifest.get("instruments", []))
    specs = [spec for spec in specs if spec.id in known]
    if not specs:
        return {}
    stored = {str(i.id): i for i in ParquetDataCatalog(str(catalog_path)).instruments()}
    stale = {}
    for spec in specs:
        if spec.id not in stored:
            continue
        old, new = _instrument_fields(stored[spec.id]), _instrument_fields(spec.to_nautilus())
        diff = [
            f"{k} {old.get(k)} -> {new.get(k)}"
            for k in sorted(set(old) | set(new))
            if old.get(k) != new.get(k)
        ]
        if diff:
            stale[spec.id] = ", ".join(diff)
    return stale


def _replace_instruments(catalog_path: Path, specs: list[InstrumentSpec]) -> None:
    """Replace instrument definition files: write each into a scratch catalog, then rename it into place."""
    with tempfile.TemporaryDirectory(dir=catalog_path, prefix=".instruments-") as scratch:
        ParquetDataCatalog(scratch).write_data([spec.to_nautilus() for spec in specs])
        for new_file in Path(scratch).rglob("*.parquet"):
            target = catalog_path / new_file.relative_to(scratch)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(new_file, target)


def _prepare(path: Path, sha: str, spec: InstrumentSpec, options: IngestOptions) -> _Prepared:
    result = FileResult(str(path), sha, instrument=spec.id)
    vendor = detect_vendor(path) if options.data_kind in {"auto", "vendor"} else None
    if options.data_kind == "vendor" and vendor is None:
        raise ConfigError(
            f"{path}: not a recognised vendor format (Databento DBN, Bybit zip, Binance depth, Tardis)"
        )
    if vendor is not None:
        data = load_vendor(path, vendor, spec)
        vendor_stamps = np.fromiter((item.ts_init for item in data), dtype=np.uint64, count=len(data))
        backwards = np.flatnonzero(np.diff(vendor_stamps.astype(np.int64)) < 0)
        if backwards.size:
            raise DataError(
                "out_of_order: ts_init decreases, expected ascending timestamps",
                file=str(path),
                row=int(backwards[0]) + 2,
                field="ts_init",
            )
        result.data_type = f"{vendor}:{type(data[0]).__name__}"
        result.rows_read = result.rows_written = len(data)
        return _Prepared(result, spec, data)
    timezone = options.timezone or spec.timezone
    kind = None if options.data_kind == "auto" else options.data_kind
    table = read_table(path, timezone, kind or "auto", options.column_map)  # type: ignore[arg-type]
    result.rows_read = len(table.frame)
    frame = table.frame
    interval = None
    bar_spec = None
    if table.kind == "bars":
        bar_spec, interval = bar_interval(spec, frame["ts"])
        frame["ts"] = bar_close_times(frame["ts"], spec, interval, table.date_only, timezone)
        frame[["open", "high", "low", "close"]] = frame[["open", "high", "low", "close"]].round(
            spec.price_precision
        )
        frame["volume"] = frame["volume"].round(spec.size_precision)
    elif table.kind == "trades":
        frame["price"] = frame["price"].round(spec.price_precision)
        frame["quantity"] = frame["quantity"].round(spec.size_precision)
    else:
        frame[["bid_price", "ask_price"]] = frame[["bid_price", "ask_price"]].round(spec.price_precision)
        for column in ("bid_size", "ask_size"):
            if column in frame:
                frame[column] = frame[column].round(spec.size_precision)
    validation = validate_table(
        table,
        spec,
        interval=interval,
        outlier_sigmas=options.outlier_sigmas,
        repair=options.repair,
        timezone=timezone,
    )
    clean = validation.frame
    result.rows_dropped = dict(validation.dropped)
    result.fixes = list(validation.fixes)
    result.warnings = [issue.message for issue in validation.issues if issue.severity == "warning"]
    result.thresholds = dict(validation.thresholds)
    if clean.empty:
        raise DataError("no valid rows left to write", file=str(path))
    instrument = spec.to_nautilus()
    indexed = clean.set_index(pd.DatetimeIndex(clean["ts"]))
    if table.kind == "bars":
        bar_type = spec.bar_type(bar_spec)
        wrangler = BarDataWrangler(bar_type, instrument)
        values = clean[["open", "high", "low", "close", "volume"]].to_numpy(dtype="float64", copy=True)
        stamps = pd.DatetimeIndex(clean["ts"]).as_unit("ns").asi8
        data = [wrangler._build_bar(v, int(t), int(t)) for v, t in zip(values, stamps, strict=True)]
        result.data_type = f"bar:{bar_spec}"
    elif table.kind == "trades":
        data = TradeTickDataWrangler(instrument).process(
            indexed[["price", "quantity", "side", "trade_id"]].copy(deep=True)
        )
        result.data_type = "trade_tick"
    else:
        columns = [c for c in ("bid_price", "ask_price", "bid_size", "ask_size") if c in indexed]
        data = QuoteTickDataWrangler(instrument).process(indexed[columns].copy(deep=True))
        result.data_type = "quote_tick"
    result.rows_written = len(data)
    return _Prepared(result, spec, data, validation)


def _write(
    catalog_path: Path, prepared: list[_Prepared], manifest: dict[str, Any], options: IngestOptions
) -> None:
    catalog_path.mkdir(parents=True, exist_ok=True)
    catalog = ParquetDataCatalog(str(catalog_path))
    written_instruments: set[str] = set(manifest.get("instruments", []))
    new_instruments = {
        item.spec.id: item.spec for item in prepared if item.spec.id not in written_instruments
    }
    if new_instruments:
        catalog.write_data([spec.to_nautilus() for spec in new_instruments.values()])
    for item in prepared:
        catalog.write_data(item.data)
        if options.repair and item.validation is not None:
            _write_reports(catalog_path, item)
        manifest["files"][item.result.sha256] = {
            "file": item.result.file,
            "instrument": item.result.instrument,
            "data_type": item.result.data_type,
            "rows_written": item.result.rows_written,
            "ingested_at": datetime.now(UTC).isoformat(),
        }
    manifest["instruments"] = sorted(written_instruments | set(new_instruments))
    atomic_write_text(catalog_path / MANIFEST_PATH, json.dumps(manifest, indent=2, sort_keys=True))


def _write_reports(catalog_path: Path, item: _Prepared) -> None:
    assert item.validation is not None
    source = Path(item.result.file)
    stem = source.name.split(".")[0]
    base = f"{stem}-{item.result.sha256[:8]}.validation"
    payload = {
        "file": item.result.file,
        "sha256": item.result.sha256,
        "instrument": item.result.instrument,
        "data_type": item.result.data_type,
        "rows_read": item.result.rows_read,
        "rows_written": item.result.rows_written,
        "rows_dropped": item.result.rows_dropped,
        "fixes": item.validation.fixes,
        "thresholds": item.validation.thresholds,
        "issues": [issue.to_dict() for issue in item.validation.issues],
    }
    json_path = catalog_path / REPORTS_DIR / f"{base}.json"
    text_path = catalog_path / REPORTS_DIR / f"{base}.txt"
    atomic_write_text(json_path, json.dumps(payload, indent=2))
    atomic_write_text(text_path, describe(source, item.validation))
    item.result.report_files = [str(json_path), str(text_path)]
