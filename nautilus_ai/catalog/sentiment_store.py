"""Stored per-item sentiment scores in the ``ParquetDataCatalog``, and their per-interval aggregates.

Layout. The ``NewsItem`` files of an instrument live in ``data/custom_news_item/<INSTRUMENT>/``. Scoring them
with a scorer labelled ``LABEL`` (see :func:`validate_scorer_label`) writes one ``SentimentScore`` file
per news file, with the *same file name* (the same ``ts_init`` interval; the temp file of the atomic
write starts with a dot, so the catalog never reads it), under
``data/custom_sentiment_score/<INSTRUMENT>@<LABEL>/``. So

* scores of different scorers (or versions of one) never share a folder, and nothing is overwritten;
* a news file is scored by a scorer once: a score file that exists is never written again, which makes
  scoring idempotent and resumable (each file is written atomically);
* every row's ``scorer`` field holds ``LABEL``, so catalog queries and backtest feeds select one
  scorer with ``field("scorer") == LABEL`` (:func:`score_filter_expr`).

Point in time (ARCHITECTURE rule 2): a stored score keeps its item's ``ts_event`` (publication) and
``ts_init`` (when the item was known). :func:`sentiment_aggregates` buckets scores by ``ts_init`` and
labels each bucket with its *end*, the first time the whole bucket is known.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import CustomData
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.persistence.funcs import class_to_filename, parse_filters_expr

from nautilus_ai.catalog.atomic import atomic_write
from nautilus_ai.catalog.types import NewsItem, SentimentScore
from nautilus_ai.errors import ConfigError, DataError

NEWS_DIR = Path("data") / class_to_filename(NewsItem)
"""Where the catalog keeps ``NewsItem`` files, relative to its root (``data/custom_news_item``)."""
SCORES_DIR = Path("data") / class_to_filename(SentimentScore)
"""Where the catalog keeps ``SentimentScore`` files, relative to its root."""
LABEL_SEPARATOR = "@"
"""Separates the instrument from the scorer label in a score folder name."""
AGGREGATE_COLUMNS = ("mean", "count", "dispersion", "mean_confidence")
"""The columns of :func:`interval_aggregates`."""

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+-]{0,127}$")
_NS_PER_SECOND = 1_000_000_000


def validate_scorer_label(label: str) -> str:
    """Return ``label`` if it can name a scorer's folder and filter expression, else raise.

    Raises
    ------
    ConfigError
        If the label is empty, longer than 128 characters, or uses characters other than letters,
        digits and ``. _ = + -`` (it must start with a letter or digit).

    """
    if not _LABEL.match(label):
        raise ConfigError(
            f"sentiment scorer label {label!r} is invalid: use 1-128 letters, digits and . _ = + - "
            "(starting with a letter or digit)"
        )
    return label


def score_folder(catalog: Path, instrument_id: str, label: str) -> Path:
    """Return the folder of ``instrument_id``'s scores by the scorer ``label``."""
    return Path(catalog) / SCORES_DIR / f"{instrument_id}{LABEL_SEPARATOR}{validate_scorer_label(label)}"


def news_files(catalog: Path, instrument_ids: Sequence[str] | None = None) -> dict[str, list[Path]]:
    """Return the ``NewsItem`` Parquet files of each instrument (all instruments when None), sorted.

    Instruments without a news folder map to an empty list.
    """
    root = Path(catalog) / NEWS_DIR
    names = (
        list(instrument_ids)
        if instrument_ids is not None
        else sorted(p.name for p in root.iterdir() if p.is_dir())
        if root.is_dir()
        else []
    )
    return {iid: sorted((root / iid).glob("*.parquet")) for iid in names}


def read_news_file(path: Path) -> list[NewsItem]:
    """Return the ``NewsItem`` objects of one catalog news file, in ``ts_init`` order."""
    catalog = ParquetDataCatalog(str(Path(path).parents[3]))
    return [_unwrap(item) for item in catalog.query(NewsItem, files=[str(path)])]


def write_scores_file(catalog: Path, news_file: Path, label: str, scores: Sequence[SentimentScore]) -> Path:
    """Write the scores of one news file under the scorer's folder, atomically, with the same file name.

    Parameters
    ----------
    catalog : Path
        The catalog root.
    news_file : Path
        The scored ``NewsItem`` file (its name, the ``ts_init`` interval, names the score file).
    label : str
        The scorer label; every score's ``scorer`` must equal it.
    scores : Sequence[SentimentScore]
        One score per news item, in the news file's (``ts_init``) order.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    DataError
        If ``scores`` is empty, a score's ``scorer`` is not ``label``, or the scores are not in
        ``ts_init`` order.
    FileExistsError
        If the score file already exists (scores are written once).

    """
    if not scores:
        raise DataError("no scores to write", file=str(news_file))
    if any(score.scorer != label for score in scores):
        raise DataError(f"every score's scorer must be {label!r}", file=str(news_file), field="scorer")
    if any(a.ts_init > b.ts_init for a, b in itertools.pairwise(scores)):
        raise DataError("scores are not in ts_init order", file=str(news_file), field="ts_init")
    instrument_id = str(scores[0].instrument_id)
    folder = score_folder(catalog, instrument_id, label)
    target = folder / Path(news_file).name
    if target.exists():
        raise FileExistsError(f"{target} exists: scores are written once")
    folder.mkdir(parents=True, exist_ok=True)
    table = ParquetDataCatalog(str(catalog)).serializer.serialize_batch(list(scores), data_cls=SentimentScore)
    return atomic_write(target, lambda tmp: pq.write_table(table, tmp))


def stored_scorers(catalog: Path, instrument_ids: Sequence[str] | None = None) -> list[str]:
    """Return the labels of the scorers with stored scores (of ``instrument_ids`` when given), sorted."""
    root = Path(catalog) / SCORES_DIR
    if not root.is_dir():
        return []
    wanted = None if instrument_ids is None else set(instrument_ids)
    labels = set()
    for folder in root.iterdir():
        instrument, sep, label = folder.name.rpartition(LABEL_SEPARATOR)
        wanted_here = wanted is None or instrument in wanted
        if folder.is_dir() and sep and wanted_here and any(folder.glob("*.parquet")):
            labels.add(label)
    return sorted(labels)


def unscored_news_files(catalog: Path, instrument_id: str, label: str) -> list[Path]:
    """Return the news files of ``instrument_id`` that the scorer ``label`` has not scored yet."""
    folder = score_folder(catalog, instrument_id, label)
    files = news_files(catalog, [instrument_id])[instrument_id]
    return [f for f in files if not (folder / f.name).exists()]


def score_filter_expr(instrument_id: str, label: str) -> str:
    """Return the catalog filter expression selecting one instrument's scores by one scorer."""
    return (
        f'(field("instrument_id") == "{instrument_id}") & '
        f'(field("scorer") == "{validate_scorer_label(label)}")'
    )


def read_sentiment_scores(
    catalog: Path,
    instrument_ids: Sequence[str],
    label: str,
    start: int | str | None = None,
    end: int | str | None = None,
) -> pd.DataFrame:
    """Return the stored scores of ``instrument_ids`` by the scorer ``label`` as a DataFrame.

    Parameters
    ----------
    catalog : Path
        The catalog root.
    instrument_ids : Sequence[str]
        The instruments.
    label : str
        The scorer label (one of :func:`stored_scorers`).
    start, end : int or str, optional
        Keep scores with ``start <= ts_init <= end`` (UNIX ns or ISO 8601, UTC when naive).

    Returns
    -------
    pd.DataFrame
        Columns ``instrument_id``, ``ts_event``, ``ts_init`` (int ns), ``score``, ``confidence``,
        ``scorer``, sorted by ``(instrument_id, ts_init)``.

    """
    files = [
        str(path)
        for iid in instrument_ids
        for path in sorted(score_folder(catalog, iid, label).glob("*.parquet"))
    ]
    columns = ["instrument_id", "ts_event", "ts_init", "score", "confidence", "scorer"]
    if not files:
        return pd.DataFrame({name: pd.Series(dtype=_dtype(name)) for name in columns})
    scores = ParquetDataCatalog(str(catalog)).query(
        SentimentScore,
        files=files,
        start=start,
        end=end,
        filter_expr=parse_filters_expr(f'field("scorer") == "{label}"'),
    )
    rows = [_unwrap(s) for s in scores]
    frame = pd.DataFrame(
        {
            "instrument_id": [str(s.instrument_id) for s in rows],
            "ts_event": np.array([s.ts_event for s in rows], dtype=np.int64),
            "ts_init": np.array([s.ts_init for s in rows], dtype=np.int64),
            "score": np.array([s.score for s in rows], dtype=np.float64),
            "confidence": np.array([s.confidence for s in rows], dtype=np.float64),
            "scorer": [s.scorer for s in rows],
        }
    )
    return frame.sort_values(["instrument_id", "ts_init"], kind="stable").reset_index(drop=True)


def interval_aggregates(scores: pd.DataFrame, freq: str = "1D", tz: str = "UTC") -> pd.DataFrame:
    """Aggregate per-item scores into per-instrument intervals of ``freq``, point in time by ``ts_init``.

    A score known at ``ts_init`` falls in the interval ``[start, start + freq)`` (in time zone ``tz``)
    that contains it; the row of that interval is labelled with its *end*, the first time every score
    in it is known. Intervals without scores are left out.

    Parameters
    ----------
    scores : pd.DataFrame
        Columns ``instrument_id``, ``ts_init`` (int ns), ``score`` and ``confidence``.
    freq : str, default "1D"
        A fixed pandas frequency (``"1D"``, ``"4h"``, ...).
    tz : str, default "UTC"
        The time zone whose calendar the intervals follow (``"America/New_York"`` for US days).

    Returns
    -------
    pd.DataFrame
        Indexed by ``(instrument_id, available_at)`` (UTC), with columns ``mean``, ``count``,
        ``dispersion`` (sample standard deviation, NaN with one score) and ``mean_confidence``.

    Raises
    ------
    ConfigError
        If ``freq`` is not a fixed frequency.

    """
    try:
        step = pd.Timedelta(freq)
    except ValueError:
        raise ConfigError(
            f"aggregate frequency {freq!r} must be a fixed frequency like '1D' or '4h'"
        ) from None
    if scores.empty:
        index = pd.MultiIndex.from_arrays(
            [pd.Index([], dtype=object), pd.DatetimeIndex([], tz="UTC")],
            names=["instrument_id", "available_at"],
        )
        return pd.DataFrame({name: pd.Series(dtype=float) for name in AGGREGATE_COLUMNS}, index=index)
    known = pd.to_datetime(scores["ts_init"].to_numpy(dtype=np.int64), unit="ns", utc=True)
    if step % pd.Timedelta(1, "D") == pd.Timedelta(0):
        # whole days follow the wall clock of ``tz`` (a day across a DST change is 23 or 25 hours)
        wall_end = known.tz_convert(tz).tz_localize(None).floor(step) + step
        available = wall_end.tz_localize(tz, ambiguous=False, nonexistent="shift_forward").tz_convert("UTC")
    else:
        available = known.floor(step) + step
    grouped = (
        pd.DataFrame(
            {
                "instrument_id": scores["instrument_id"].to_numpy(),
                "available_at": available,
                "score": scores["score"].to_numpy(dtype=np.float64),
                "confidence": scores["confidence"].to_numpy(dtype=np.float64),
            }
        )
        .groupby(["instrument_id", "available_at"], sort=True)
        .agg(
            mean=("score", "mean"),
            count=("score", "size"),
            dispersion=("score", lambda s: float(np.std(s, ddof=1)) if len(s) > 1 else math.nan),
            mean_confidence=("confidence", "mean"),
        )
    )
    grouped["count"] = grouped["count"].astype(np.int64)
    return grouped


def sentiment_aggregates(
    catalog: Path,
    instrument_ids: Sequence[str],
    label: str | None = None,
    *,
    freq: str = "1D",
    tz: str = "UTC",
    start: int | str | None = None,
    end: int | str | None = None,
) -> pd.DataFrame:
    """Return per-instrument interval aggregates of the stored scores (see :func:`interval_aggregates`).

    Parameters
    ----------
    catalog : Path
        The catalog root.
    instrument_ids : Sequence[str]
        The instruments.
    label : str, optional
        The scorer label; None uses the only scorer with stored scores for these instruments.
    freq, tz : str
        The interval length and the time zone of its calendar.
    start, end : int or str, optional
        Keep scores with ``start <= ts_init <= end`` (UNIX ns or ISO 8601).

    Raises
    ------
    ConfigError
        If ``label`` is None and zero or several scorers have stored scores.

    """
    if label is None:
        labels = stored_scorers(catalog, instrument_ids)
        if len(labels) != 1:
            raise ConfigError(
                f"sentiment aggregates: {len(labels)} scorers have stored scores for {list(instrument_ids)} "
                f"({labels}); pass the label of one (score the news first with `nautilus-ai catalog score`)"
            )
        label = labels[0]
    return interval_aggregates(read_sentiment_scores(catalog, instrument_ids, label, start, end), freq, tz)


@dataclass(frozen=True)
class ScoreCoverage:
    """How much of an instrument's news a scorer has scored."""

    instrument_id: str
    label: str
    news_files: int
    unscored_files: int

    @property
    def complete(self) -> bool:
        """True when every news file is scored (and there is news)."""
        return self.news_files > 0 and self.unscored_files == 0


def score_coverage(catalog: Path, instrument_id: str, label: str) -> ScoreCoverage:
    """Return how many of ``instrument_id``'s news files the scorer ``label`` has scored."""
    total = len(news_files(catalog, [instrument_id])[instrument_id])
    return ScoreCoverage(instrument_id, label, total, len(unscored_news_files(catalog, instrument_id, label)))


def _unwrap(item: Data) -> Data:
    return item.data if isinstance(item, CustomData) else item


def _dtype(name: str) -> str:
    return {"ts_event": "int64", "ts_init": "int64", "score": "float64", "confidence": "float64"}.get(
        name, "object"
    )
