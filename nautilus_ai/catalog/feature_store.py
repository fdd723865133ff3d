"""The offline feature store: point-in-time reads of FeatureVectors from a ParquetDataCatalog.

FeatureVectors are stored in the catalog as ``FeatureVector`` custom data, one partition per
instrument. Every read here is *point in time* (ARCHITECTURE rule 2): a feature row is indexed by
its ``ts_init`` (the time nautilus-ai knew it), :func:`feature_frame` can cut the data at an
``as_of`` time, and :func:`asof_join` attaches to each bar or decision the latest feature row
known at or before it, never a later one.

The online and SQL backends (:mod:`~nautilus_ai.catalog.redis_features`,
:mod:`~nautilus_ai.catalog.sql_features`) return frames of the same shape through
:func:`vectors_to_feature_frame`.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from nautilus_ai.catalog.types import FeatureVector
from nautilus_ai.errors import ConfigError, DataError

TimestampLike = int | str | datetime | pd.Timestamp

INDEX_NAMES = ("ts_init", "instrument_id")


def to_nanos(timestamp: TimestampLike) -> int:
    """Return ``timestamp`` as UNIX nanoseconds (an int is taken as nanoseconds, naive times as UTC).

    Raises
    ------
    ConfigError
        If ``timestamp`` cannot be parsed.

    """
    if isinstance(timestamp, int | np.integer):
        return int(timestamp)
    try:
        parsed = pd.Timestamp(timestamp)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"cannot read {timestamp!r} as a timestamp: {error}") from error
    if parsed is pd.NaT:
        raise ConfigError(f"cannot read {timestamp!r} as a timestamp")
    parsed = parsed.tz_localize("UTC") if parsed.tzinfo is None else parsed.tz_convert("UTC")
    return int(parsed.as_unit("ns").value)


def effective_end(end: TimestampLike | None, as_of: TimestampLike | None) -> int | None:
    """Return the last ``ts_init`` (ns) a read may return: the earlier of ``end`` and ``as_of``."""
    bounds = [to_nanos(t) for t in (end, as_of) if t is not None]
    return min(bounds) if bounds else None


def vectors_to_feature_frame(
    vectors: Iterable[FeatureVector],
    features: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Return FeatureVectors as a point-in-time feature frame.

    Parameters
    ----------
    vectors : Iterable[FeatureVector]
        The vectors, in any order.
    features : Sequence[str], optional
        The feature columns to return, in this order (all features when ``None``).

    Returns
    -------
    pd.DataFrame
        Indexed by (``ts_init`` as UTC datetimes, ``instrument_id`` as str), sorted, with one
        float64 column per feature (NaN where a vector lacks the feature).

    Raises
    ------
    ConfigError
        If a requested feature is in none of the vectors (the message lists the available ones).
    DataError
        If two vectors share an instrument and ``ts_init`` (vectors of two feature specs: filter
        them by ``spec_hash``).

    """
    available: dict[str, None] = {}
    index: list[tuple[int, str]] = []
    rows: list[dict[str, float]] = []
    for vector in vectors:
        row = vector.as_dict()
        available.update(dict.fromkeys(row))
        index.append((vector.ts_init, vector.instrument_id.value))
        rows.append(row)
    if features is not None and rows:
        missing = [name for name in features if name not in available]
        if missing:
            raise ConfigError(
                f"feature(s) {missing} not in the feature store; available features: {list(available)}"
            )
    columns = list(features) if features is not None else list(available)
    frame = pd.DataFrame.from_records(rows, columns=columns).astype("float64")
    frame.index = pd.MultiIndex.from_arrays(
        [
            pd.to_datetime(np.array([ts for ts, _ in index], dtype=np.int64), unit="ns", utc=True),
            pd.Index([iid for _, iid in index], dtype=object),
        ],
        names=INDEX_NAMES,
    )
    frame = frame.sort_index(kind="stable")
    duplicated = frame.index.duplicated()
    if duplicated.any():
        ts_init, instrument_id = frame.index[duplicated][0]
        raise DataError(
            f"two FeatureVectors for {instrument_id} at ts_init {ts_init}: pass spec_hash to read "
            "the vectors of one feature spec"
        )
    return frame


def feature_frame(
    catalog_path: str | Path,
    instrument_ids: Sequence[str | InstrumentId],
    features: Sequence[str] | None,
    start: TimestampLike | None,
    end: TimestampLike | None,
    as_of: str | None = None,
    *,
    spec_hash: str | None = None,
) -> pd.DataFrame:
    """Read the FeatureVectors of a catalog as a point-in-time feature frame.

    Parameters
    ----------
    catalog_path : str or Path
        The ParquetDataCatalog root.
    instrument_ids : Sequence[str | InstrumentId]
        The instruments to read.
    features : Sequence[str], optional
        The feature columns to return (all when ``None``).
    start, end : TimestampLike, optional
        The inclusive ``ts_init`` range (unbounded when ``None``; ints are UNIX nanoseconds).
    as_of : str, optional
        The knowledge time: only rows with ``ts_init <= as_of`` are returned.
    spec_hash : str, optional
        Only read the vectors of this feature spec.

    Returns
    -------
    pd.DataFrame
        See :func:`vectors_to_feature_frame`.

    Raises
    ------
    ConfigError
        If ``instrument_ids`` is empty or a requested feature is missing.

    """
    if not instrument_ids:
        raise ConfigError("feature_frame: instrument_ids is empty: name at least one instrument")
    start_ns = to_nanos(start) if start is not None else None
    end_ns = effective_end(end, as_of)
    catalog = ParquetDataCatalog(str(catalog_path))
    queried = catalog.query(
        FeatureVector,
        identifiers=[str(iid) for iid in instrument_ids],
        start=start_ns,
        end=end_ns,
    )
    vectors = [getattr(item, "data", item) for item in queried]
    selected = [
        v
        for v in vectors
        if (start_ns is None or v.ts_init >= start_ns)
        and (end_ns is None or v.ts_init <= end_ns)
        and (spec_hash is None or v.spec_hash == spec_hash)
    ]
    return vectors_to_feature_frame(selected, features)


def _as_timestamps(values: pd.Series | pd.Index) -> pd.Series:
    """Return ``ts_init`` values (ints in ns or datetimes) as UTC nanosecond datetimes."""
    series = pd.Series(values)
    if pd.api.types.is_integer_dtype(series):
        return pd.to_datetime(series, unit="ns", utc=True)
    return pd.to_datetime(series, utc=True).dt.as_unit("ns")


def _as_columns(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """Return ``frame`` with ``ts_init`` and ``instrument_id`` as columns (moved out of the index)."""
    present = [name for name in INDEX_NAMES if name in (frame.index.names or [])]
    if present:
        frame = frame.reset_index(level=present)
    missing = [name for name in INDEX_NAMES if name not in frame.columns]
    if missing:
        raise ConfigError(f"asof_join: {what} has no {missing} column or index level")
    return frame


def asof_join(
    bars_or_decisions: pd.DataFrame,
    features: pd.DataFrame,
    tolerance: pd.Timedelta | str | None = None,
) -> pd.DataFrame:
    """Attach to each row the latest features known at its ``ts_init``: the point-in-time join.

    For every row of ``bars_or_decisions`` this takes, per instrument, the feature row with the
    greatest ``ts_init`` that is *at or before* the row's ``ts_init`` (``merge_asof`` in the
    backward direction). A feature row stamped after a decision is never used, so the join
    cannot look ahead.

    Parameters
    ----------
    bars_or_decisions : pd.DataFrame
        The left rows, with ``ts_init`` (UTC datetimes or int ns) and ``instrument_id`` as
        columns or index levels.
    features : pd.DataFrame
        A feature frame as returned by :func:`feature_frame`.
    tolerance : pd.Timedelta or str, optional
        The maximum age of the joined features; older ones give NaN.

    Returns
    -------
    pd.DataFrame
        The left rows in their original order and index, with the feature columns added
        (NaN where no feature row is known yet).

    Raises
    ------
    ConfigError
        If a key is missing or a feature column already exists in ``bars_or_decisions``.

    """
    left = _as_columns(bars_or_decisions, "bars_or_decisions")
    right = _as_columns(features, "features")
    feature_columns = [c for c in right.columns if c not in INDEX_NAMES]
    clashes = [c for c in feature_columns if c in left.columns]
    if clashes:
        raise ConfigError(f"asof_join: columns {clashes} are in both bars_or_decisions and features")
    position = "__asof_join_position__"
    left = left.assign(
        **{
            position: np.arange(len(left)),
            "__ts_init_key__": _as_timestamps(left["ts_init"]).to_numpy(),
            "__instrument_key__": left["instrument_id"].astype(str).to_numpy(),
        }
    )
    right = pd.DataFrame(
        {
            "__ts_init_key__": _as_timestamps(right["ts_init"]).to_numpy(),
            "__instrument_key__": right["instrument_id"].astype(str).to_numpy(),
            **{c: right[c].to_numpy() for c in feature_columns},
        }
    )
    joined = pd.merge_asof(
        left.sort_values("__ts_init_key__", kind="stable"),
        right.sort_values("__ts_init_key__", kind="stable"),
        on="__ts_init_key__",
        by="__instrument_key__",
        direction="backward",
        allow_exact_matches=True,
        tolerance=pd.Timedelta(tolerance) if tolerance is not None else None,
    )
    from_index = [n for n in INDEX_NAMES if n in (bars_or_decisions.index.names or [])]
    joined = joined.sort_values(position).drop(
        columns=[position, "__ts_init_key__", "__instrument_key__", *from_index]
    )
    joined.index = bars_or_decisions.index
    return joined


def write_feature_vectors(catalog_path: str | Path, vectors: Iterable[FeatureVector]) -> int:
    """Write FeatureVectors to a catalog, skipping the time ranges already there.

    Per instrument, a vector whose ``ts_init`` falls inside an interval already stored is
    skipped; the rest is written in runs that do not straddle a stored interval, so writing the
    same vectors twice changes nothing.

    Parameters
    ----------
    catalog_path : str or Path
        The ParquetDataCatalog root.
    vectors : Iterable[FeatureVector]
        The vectors to write, in any order.

    Returns
    -------
    int
        The number of vectors written.

    """
    catalog = ParquetDataCatalog(str(catalog_path))
    by_instrument: dict[str, list[FeatureVector]] = {}
    for vector in vectors:
        by_instrument.setdefault(vector.instrument_id.value, []).append(vector)
    written = 0
    for instrument_id, items in by_instrument.items():
        intervals = sorted(catalog.get_intervals(FeatureVector, instrument_id))
        for run in _runs_outside(sorted(items, key=lambda v: v.ts_init), intervals):
            catalog.write_data(run)
            written += len(run)
    return written


def _runs_outside(
    vectors: list[FeatureVector],
    intervals: list[tuple[int, int]],
) -> list[list[FeatureVector]]:
    """Split time-sorted vectors into runs that lie between the stored ``intervals``."""
    runs: list[list[FeatureVector]] = []
    current: list[FeatureVector] = []
    current_gap: int | None = None
    for vector in vectors:
        ts = vector.ts_init
        if any(lo <= ts <= hi for lo, hi in intervals):
            continue
        gap = sum(1 for _, hi in intervals if hi < ts)  # the gap between stored intervals
        if current and gap != current_gap:
            runs.append(current)
            current = []
        current.append(vector)
        current_gap = gap
    if current:
        runs.append(current)
    return runs
