"""Ingestion rate (rows/s) of ``nautilus_ai.catalog.ingest.ingest_paths``.

    .venv/bin/python benchmarks/bench_ingest.py          (or: make bench)

Timed: the whole ``ingest_paths`` call (sha256, read, validation, wrangling to NautilusTrader objects,
catalog write, manifest), into a fresh temporary catalog per repeat; the median of 3 repeats is
reported. Cases: the 10 bundled StockNet daily CSVs (12,580 rows), the bundled FTX BTC-PERP 1-minute
CSV (45,031 rows) and a larger file DERIVED from it (4 copies chained in time; each copy's prices
are rescaled so that it opens at the previous copy's last close; labelled "synthetic"). The re-ingest
of already-ingested files (skipped by sha256, nothing written) is timed separately.
"""

import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from nautilus_ai.catalog.ingest import IngestOptions, ingest_paths  # noqa: E402
from nautilus_ai.catalog.instruments import InstrumentSpec, load_instruments_file  # noqa: E402

REPEATS = 3
DAILY = REPO / "data" / "bars_daily" / "stocknet"
BTC = REPO / "data" / "bars_intraday" / "btc-perp-20211231-20220201_1m.csv"
COPIES = 4


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def chained_btc(target: Path, copies: int) -> Path:
    """Write ``copies`` copies of the BTC file one after the other in time (a derived, larger file)."""
    frame = pd.read_csv(BTC)
    ts = pd.to_datetime(frame["timestamp"])
    span = ts.iloc[-1] - ts.iloc[0] + pd.Timedelta(minutes=1)
    prices = ["open", "high", "low", "close"]
    parts, scale = [], 1.0
    for k in range(copies):
        part = frame.copy()
        part["timestamp"] = (ts + k * span).dt.strftime("%Y-%m-%d %H:%M:%S.%f")
        part[prices] = (frame[prices] * scale).round(1)
        parts.append(part)
        scale *= frame["close"].iloc[-1] / frame["open"].iloc[0]
    path = target / f"btc-perp-synthetic-x{copies}_1m.csv"
    pd.concat(parts, ignore_index=True).to_csv(path, index=False)
    return path


def time_ingest(paths: list[Path], specs: list[InstrumentSpec], tmp: Path) -> tuple[list[float], int, Path]:
    """Ingest ``paths`` into REPEATS fresh catalogs; return the times, rows written and the last catalog."""
    times, rows, catalog = [], 0, tmp
    for repeat in range(REPEATS):
        catalog = tmp / f"catalog-{time.monotonic_ns()}-{repeat}"
        t0 = time.perf_counter()
        report = ingest_paths(paths, catalog, specs, IngestOptions())
        times.append(time.perf_counter() - t0)
        rows = sum(f.rows_written for f in report.files)
        if repeat < REPEATS - 1:
            shutil.rmtree(catalog)
    return times, rows, catalog


def main() -> None:
    started = time.perf_counter()
    specs = load_instruments_file(REPO / "data" / "instruments.toml")
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    print("nautilus-ai ingest benchmark")
    print(f"  date     {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"  machine  {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}")
    tmp = Path(tempfile.mkdtemp(prefix="nautilus-ai-bench-ingest-"))
    rows_out = []
    try:
        log("warm-up: one untimed ingest of AAPL (first-call imports and caches)")
        ingest_paths([DAILY / "AAPL.csv"], tmp / "warmup", specs, IngestOptions())
        log(f"writing the derived file ({COPIES} chained copies of the BTC 1-minute file)")
        synthetic = chained_btc(tmp, COPIES)
        cases = [
            ("StockNet daily, 10 CSVs", [DAILY]),
            ("FTX BTC-PERP 1-minute CSV", [BTC]),
            (f"synthetic: BTC 1-minute x{COPIES} chained", [synthetic]),
        ]
        for label, paths in cases:
            log(f"{label}: {REPEATS} ingests into fresh catalogs")
            times, rows, catalog = time_ingest(paths, specs, tmp)
            t0 = time.perf_counter()
            again = ingest_paths(paths, catalog, specs, IngestOptions())
            skip = time.perf_counter() - t0
            assert all(f.skipped_as_already_ingested for f in again.files)
            size = sum(p.stat().st_size for q in paths for p in ([q] if q.is_file() else q.glob("*.csv")))
            rows_out.append((label, len(again.files), rows, size, times, skip))
            log(f"  median {statistics.median(times):.2f} s, re-ingest {skip * 1000:.0f} ms")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(f"ingest_paths into a fresh catalog, median of {REPEATS} (all times in s)")
    header = (
        f"{'case':<34} {'files':>5} {'rows':>8} {'MB':>5} {'median':>7} {'min':>6} {'max':>6} "
        f"{'rows/s':>8} {'re-ingest (skip)':>16}"
    )
    print(header)
    print("-" * len(header))
    for label, files, rows, size, times, skip in rows_out:
        median = statistics.median(times)
        print(
            f"{label:<34} {files:>5} {rows:>8,} {size / 1e6:>5.1f} {median:>7.2f} {min(times):>6.2f} "
            f"{max(times):>6.2f} {rows / median:>8,.0f} {skip * 1000:>13.0f} ms"
        )
    print(f"Benchmark total: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
