"""The StockNet benchmark's data: raw files, movement labels, splits and point-in-time input rows.

StockNet (Xu and Cohen, ACL 2018) ships one price file per stock, ``DIR/price/raw/<TICKER>.csv``
(``Date,Open,High,Low,Close,Adj Close,Volume``, Yahoo daily bars), and one file of tweets per stock and
day, ``DIR/tweet/preprocessed/<TICKER>/<YYYY-MM-DD>`` (JSON lines with ``text`` tokens, ``created_at`` and
``user_id_str``). The benchmark's rules:

* a target day ``t`` is *up* when the adjusted close rises more than 0.55 % from day ``t-1``, *down* when it
  falls more than 0.5 %, and is left out otherwise (:func:`movement_label`);
* the splits are fixed by target date: train 2014-01-01 to 2015-08-01, validation 2015-08-01 to
  2015-10-01, test 2015-10-01 to 2016-01-01 (:class:`StockNetSplits`);
* the inputs of target day ``t`` are the 5 trading days before it.

:func:`ticker_rows` builds one row per target day, stamped at the close of day ``t-1`` (the decision
time: everything in the row is known then): the bar features of the batch twins
(:func:`~nautilus_ai.indicators.batch_features.batch_feature_frame`) at bar ``t-1`` on adjusted prices,
and the lexicon sentiment of the tweets published in the input window, strictly before the close of
``t-1`` (a tweet after that close counts for target ``t+1``). A day with no tweet has count 0, mean 0
and dispersion 0.

Price rows whose fields are all ``null`` (days Yahoo has no quote for, as in the original files) are
skipped; any other non-numeric or non-positive value is a :class:`~nautilus_ai.errors.DataError` naming
the file, the 1-based data row and the field.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.indicators.batch_features import batch_feature_frame
from nautilus_ai.indicators.feature_spec import FeatureSpec

UP_THRESHOLD = 0.0055
"""A target day is up when the adjusted close rises more than this fraction."""
DOWN_THRESHOLD = -0.005
"""A target day is down when the adjusted close changes by less than this fraction."""
INPUT_DAYS = 5
"""Trading days before the target that form its input window."""
PRICE_COLUMNS = ("Date", "Open", "High", "Low", "Close", "Adj Close", "Volume")
"""The header of a StockNet ``price/raw`` file."""
SESSION_CLOSE = "16:00"
SESSION_TIMEZONE = "America/New_York"
SENTIMENT_COLUMNS = ("sent_mean_5d", "sent_count_5d", "sent_dispersion_5d", "sent_mean_1d", "sent_count_1d")
"""The sentiment feature columns of :func:`ticker_rows`."""
ProgressCallback = Callable[[str, int, int], None]


@dataclass(frozen=True)
class StockNetSplits:
    """The benchmark's fixed splits, by target date (start inclusive, end exclusive)."""

    train_start: date = date(2014, 1, 1)
    validation_start: date = date(2015, 8, 1)
    test_start: date = date(2015, 10, 1)
    test_end: date = date(2016, 1, 1)

    def split_of(self, target_dates: pd.Series | pd.DatetimeIndex) -> np.ndarray:
        """Return ``"train"``, ``"validation"``, ``"test"`` or ``""`` for each target date."""
        days = pd.DatetimeIndex(target_dates).normalize().tz_localize(None)
        bounds = [
            pd.Timestamp(d) for d in (self.train_start, self.validation_start, self.test_start, self.test_end)
        ]
        out = np.full(len(days), "", dtype=object)
        for name, lo, hi in zip(("train", "validation", "test"), bounds[:-1], bounds[1:], strict=True):
            out[(days >= lo) & (days < hi)] = name
        return out


@dataclass(frozen=True)
class TweetScores:
    """Lexicon scores of one ticker's tweets, in time order."""

    ts_ns: np.ndarray
    """Publication times (UTC, ns since the epoch), sorted."""
    scores: np.ndarray
    """Scores in [-1, 1], aligned with ``ts_ns``."""

    @classmethod
    def empty(cls) -> TweetScores:
        """Return the scores of a ticker without tweets."""
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))


def movement_label(returns: np.ndarray | Sequence[float]) -> np.ndarray:
    """Return 1.0 (up, return > 0.55 %), 0.0 (down, return < -0.5 %) or NaN (left out) per return."""
    values = np.asarray(returns, dtype=np.float64)
    out = np.full(values.shape, np.nan)
    out[values > UP_THRESHOLD] = 1.0
    out[values < DOWN_THRESHOLD] = 0.0
    return out


def stocknet_tickers(data_dir: Path, tickers: Sequence[str] | None = None) -> list[str]:
    """Return the tickers of ``data_dir/price/raw`` (sorted), or check that ``tickers`` are there.

    Raises
    ------
    ConfigError
        If the folder has no ``price/raw`` with CSV files, or a requested ticker has no file.

    """
    raw = Path(data_dir) / "price" / "raw"
    if not raw.is_dir():
        raise ConfigError(
            f"{raw} does not exist: --data must be a StockNet folder holding price/raw/<TICKER>.csv "
            "(and optionally tweet/preprocessed/<TICKER>/<DATE>)"
        )
    found = sorted(p.stem for p in raw.glob("*.csv"))
    if not found:
        raise ConfigError(f"{raw} holds no <TICKER>.csv file")
    if tickers is None:
        return found
    wanted = [t.strip().upper() for t in tickers if t.strip()]
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise ConfigError(f"no price file for ticker(s) {missing} in {raw}; available: {found}")
    return sorted(set(wanted))


def read_stocknet_prices(path: Path) -> pd.DataFrame:
    """Read one StockNet ``price/raw`` file as adjusted daily bars stamped at the 16:00 New York close.

    Open, high and low are scaled by ``Adj Close / Close`` so that the bars are on the adjusted scale
    of the labels; volume is as in the file.

    Parameters
    ----------
    path : Path
        ``DIR/price/raw/<TICKER>.csv``.

    Returns
    -------
    pd.DataFrame
        Columns ``open, high, low, close, volume, ts_event, ts_init`` (``close`` is the adjusted close)
        and ``date`` (the trading day), indexed by the UTC close time, increasing.

    Raises
    ------
    DataError
        If the header differs from StockNet's, a value is not a number, a price is not positive, the
        volume is negative, a date is malformed or the dates do not increase.

    """
    path = Path(path)
    with path.open(encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream)
        header = [h.strip() for h in next(reader, [])]
        if tuple(header) != PRICE_COLUMNS:
            raise DataError(f"expected the header {list(PRICE_COLUMNS)}, got {header}", file=str(path), row=0)
        days: list[date] = []
        values: list[list[float]] = []
        for row_number, record in enumerate(reader, start=1):
            if not record:
                continue
            if len(record) != len(PRICE_COLUMNS):
                raise DataError(
                    f"expected {len(PRICE_COLUMNS)} fields, got {len(record)}", file=str(path), row=row_number
                )
            if all(v.strip().lower() in ("null", "") for v in record[1:]):
                continue  # a day without a quote
            days.append(_parse_day(record[0], path, row_number, days[-1] if days else None))
            values.append(
                [
                    _parse_number(v, name, path, row_number)
                    for name, v in zip(PRICE_COLUMNS[1:], record[1:], strict=True)
                ]
            )
    if not values:
        raise DataError("no price row", file=str(path))
    matrix = np.asarray(values, dtype=np.float64)
    factor = matrix[:, 4] / matrix[:, 3]
    local = pd.DatetimeIndex(pd.to_datetime(days)) + pd.Timedelta(SESSION_CLOSE + ":00")
    index = local.tz_localize(SESSION_TIMEZONE).tz_convert("UTC").as_unit("ns")
    ts = index.asi8
    frame = pd.DataFrame(
        {
            "open": matrix[:, 0] * factor,
            "high": matrix[:, 1] * factor,
            "low": matrix[:, 2] * factor,
            "close": matrix[:, 4],
            "volume": matrix[:, 5],
            "ts_event": ts,
            "ts_init": ts,
            "date": pd.DatetimeIndex(pd.to_datetime(days)),
        },
        index=index,
    )
    return frame


def _parse_day(text: str, path: Path, row: int, previous: date | None) -> date:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise DataError(f"{text!r} is not a YYYY-MM-DD date", file=str(path), row=row, field="Date") from None
    if previous is not None and day <= previous:
        raise DataError(
            f"{day} does not come after {previous}: dates must increase",
            file=str(path),
            row=row,
            field="Date",
        )
    return day


def _parse_number(text: str, name: str, path: Path, row: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{text!r} is not a number", file=str(path), row=row, field=name) from None
    if not math.isfinite(value) or (value <= 0.0 if name != "Volume" else value < 0.0):
        expected = "a non-negative number" if name == "Volume" else "a positive price"
        raise DataError(f"{text!r} is not {expected}", file=str(path), row=row, field=name)
    return value


def read_tweet_scores(
    data_dir: Path, tickers: Sequence[str], progress: ProgressCallback | None = None
) -> dict[str, TweetScores]:
    """Read and score the tweets of ``tickers`` from ``data_dir/tweet/preprocessed``.

    Each tweet is scored by :class:`~nautilus_ai.adapters.sentiment.lexicon.LexiconSentimentScorer`
    (VADER and Loughran-McDonald) and stamped at its ``created_at``. Tickers without a tweet folder, and
    every ticker when the folder has no ``tweet/preprocessed``, get :meth:`TweetScores.empty`.

    Raises
    ------
    DataError
        If a tweet line is malformed (the error names the day file, line and field).

    """
    from nautilus_ai.adapters.sentiment.lexicon import LexiconSentimentScorer
    from nautilus_ai.adapters.tweets import read_stocknet_tweets

    out = {t: TweetScores.empty() for t in tickers}
    root = Path(data_dir) / "tweet" / "preprocessed"
    if not root.is_dir():
        return out
    present = [t for t in tickers if (root / t).is_dir()]
    if not present:
        return out
    scorer = LexiconSentimentScorer()
    venues = {t: "STOCKNET" for t in present}
    by_ticker: dict[str, tuple[list[int], list[str]]] = {t: ([], []) for t in present}
    for item in read_stocknet_tweets(root, present, venues):
        ts, texts = by_ticker[item.instrument_id.symbol.value]
        ts.append(item.ts_init)
        texts.append(item.text)
    for done, ticker in enumerate(present, start=1):
        ts, texts = by_ticker[ticker]
        scores = np.array([s.score for s in scorer.score_texts(texts)], dtype=np.float64)
        order = np.argsort(np.asarray(ts, dtype=np.int64), kind="stable")
        out[ticker] = TweetScores(np.asarray(ts, dtype=np.int64)[order], scores[order])
        if progress is not None:
            progress("sentiment", done, len(present))
    return out


def window_sentiment(
    tweets: TweetScores, starts_ns: np.ndarray, ends_ns: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the mean, count and sample dispersion of the scores with ``start <= ts < end``, per window.

    A window without a score has mean 0 and dispersion 0; with one score its dispersion is 0.
    """
    starts = np.searchsorted(tweets.ts_ns, np.asarray(starts_ns, dtype=np.int64), side="left")
    ends = np.searchsorted(tweets.ts_ns, np.asarray(ends_ns, dtype=np.int64), side="left")
    cumulative = np.concatenate([[0.0], np.cumsum(tweets.scores)])
    cumulative_sq = np.concatenate([[0.0], np.cumsum(tweets.scores**2)])
    count = (ends - starts).astype(np.float64)
    total = cumulative[ends] - cumulative[starts]
    total_sq = cumulative_sq[ends] - cumulative_sq[starts]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(count > 0, total / count, 0.0)
        variance = np.where(count > 1, (total_sq - count * mean**2) / (count - 1.0), 0.0)
    return mean, count, np.sqrt(np.clip(variance, 0.0, None))


def ticker_rows(
    ticker: str,
    bars: pd.DataFrame,
    tweets: TweetScores,
    spec: FeatureSpec,
    splits: StockNetSplits = StockNetSplits(),
    history_days: int = 30,
) -> pd.DataFrame:
    """Return one input row per target day of one ticker, stamped at the close before the target.

    Parameters
    ----------
    ticker : str
        The ticker (the ``instrument_id`` of the rows).
    bars : pd.DataFrame
        :func:`read_stocknet_prices` output.
    tweets : TweetScores
        The ticker's scored tweets.
    spec : FeatureSpec
        The bar features (batch twins of the FeatureActor's).
    splits : StockNetSplits
        The benchmark splits.
    history_days : int, default 30
        Calendar days of unlabelled rows kept before the train start (the stage-2 windows of the first
        train rows reach back into them).

    Returns
    -------
    pd.DataFrame
        Indexed by the decision time (close of ``t-1``, UTC): the ``spec`` feature columns and
        :data:`SENTIMENT_COLUMNS`, ``instrument_id``, ``target_date``, ``split``, ``movement``
        (1 up, 0 down, NaN left out), ``fwd_return`` (the target day's adjusted return, NaN when left
        out or outside the splits) and ``label_end`` (the target day's close). Rows run from
        ``history_days`` before the train start to the test end; rows whose bar features are not yet
        defined are dropped.

    """
    features = batch_feature_frame(bars, spec).reindex(bars.index)
    close = bars["close"].to_numpy(dtype=np.float64)
    ts = pd.DatetimeIndex(bars.index).asi8
    n = len(bars)
    if n < INPUT_DAYS + 2:
        return _empty_rows(spec)
    target = np.arange(INPUT_DAYS + 1, n)  # the window start (close of t-6) must exist
    decision = target - 1
    returns = close[target] / close[decision] - 1.0
    mean5, count5, dispersion5 = window_sentiment(tweets, ts[target - INPUT_DAYS - 1], ts[decision])
    mean1, count1, _ = window_sentiment(tweets, ts[decision - 1], ts[decision])
    target_dates = pd.DatetimeIndex(bars["date"].to_numpy()[target])
    split = splits.split_of(target_dates)
    movement = movement_label(returns)
    labelled = (split != "") & ~np.isnan(movement)
    rows = features.iloc[decision].copy()
    rows["sent_mean_5d"] = mean5
    rows["sent_count_5d"] = count5
    rows["sent_dispersion_5d"] = dispersion5
    rows["sent_mean_1d"] = mean1
    rows["sent_count_1d"] = count1
    rows["instrument_id"] = ticker
    rows["target_date"] = target_dates
    rows["split"] = split
    rows["movement"] = np.where(split != "", movement, np.nan)
    rows["fwd_return"] = np.where(labelled, returns, np.nan)
    rows["label_end"] = bars.index[target]
    first = pd.Timestamp(splits.train_start) - pd.Timedelta(days=history_days)
    keep = (target_dates >= first) & (target_dates < pd.Timestamp(splits.test_end))
    keep &= features.iloc[decision][spec.feature_names()].notna().all(axis=1).to_numpy()
    return rows.loc[keep]


def _empty_rows(spec: FeatureSpec) -> pd.DataFrame:
    columns = [
        *spec.feature_names(),
        *SENTIMENT_COLUMNS,
        "instrument_id",
        "target_date",
        "split",
        "movement",
        "fwd_return",
        "label_end",
    ]
    return pd.DataFrame(columns=columns, index=pd.DatetimeIndex([], tz="UTC"))


def load_stocknet_rows(
    data_dir: Path,
    spec: FeatureSpec,
    tickers: Sequence[str] | None = None,
    splits: StockNetSplits = StockNetSplits(),
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Return the input rows of every ticker of a StockNet folder, sorted by time then ticker.

    Raises
    ------
    ConfigError
        If the folder is not a StockNet layout or a requested ticker is missing.
    DataError
        If a price file or a tweet is malformed, or no row is labelled.

    """
    names = stocknet_tickers(data_dir, tickers)
    tweets = read_tweet_scores(data_dir, names, progress)
    frames = []
    for done, ticker in enumerate(names, start=1):
        bars = read_stocknet_prices(Path(data_dir) / "price" / "raw" / f"{ticker}.csv")
        frames.append(ticker_rows(ticker, bars, tweets[ticker], spec, splits))
        if progress is not None:
            progress("prices", done, len(names))
    rows = pd.concat([f for f in frames if len(f)] or frames)
    rows = rows.sort_values(["instrument_id"], kind="stable").sort_index(kind="stable")
    if not rows["fwd_return"].notna().any():
        raise DataError(
            f"no labelled StockNet target day between {splits.train_start} and {splits.test_end}",
            file=str(data_dir),
        )
    return rows
