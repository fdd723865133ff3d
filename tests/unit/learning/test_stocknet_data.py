"""StockNet benchmark data: labels, splits, point-in-time input rows and errors on bad files."""

import json
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.indicators.feature_spec import FeatureSpec
from nautilus_ai.learning.stocknet_benchmark import score_predictions
from nautilus_ai.learning.stocknet_data import (
    PRICE_COLUMNS,
    StockNetSplits,
    TweetScores,
    load_stocknet_rows,
    movement_label,
    read_stocknet_prices,
    read_tweet_scores,
    stocknet_tickers,
    ticker_rows,
    window_sentiment,
)
from nautilus_ai.test_kit import shared_data_dir

SPEC = FeatureSpec(
    return_horizons=(1,), rsi_period=2, ema_periods=(2,), atr_period=2, volatility_window=2, volume_window=2
)
SPLITS = StockNetSplits(
    train_start=date(2014, 1, 1),
    validation_start=date(2014, 3, 1),
    test_start=date(2014, 3, 15),
    test_end=date(2014, 4, 1),
)


def write_prices(path: Path, closes: list[float], start: str = "2014-01-02") -> list[pd.Timestamp]:
    """Write a StockNet price file with the given adjusted closes (Adj Close = Close / 2)."""
    days = list(pd.bdate_range(start, periods=len(closes)))
    lines = [",".join(PRICE_COLUMNS)]
    for day, close in zip(days, closes, strict=True):
        raw = close * 2.0
        lines.append(f"{day.date()},{raw},{raw * 1.01},{raw * 0.99},{raw},{close},{1000 + len(lines)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return days


def closes_with_returns(returns: list[float], n_before: int = 10) -> list[float]:
    closes = [100.0 + 0.1 * ((-1) ** i) for i in range(n_before)]
    for r in returns:
        closes.append(closes[-1] * (1.0 + r))
    return closes


def value(frame: pd.DataFrame, key: pd.Timestamp, column: str) -> float:
    """Return one float cell of ``frame`` (row ``key``, column ``column``)."""
    return float(frame[column].to_numpy(dtype=np.float64)[frame.index.get_loc(key)])


def close_ns(day: pd.Timestamp) -> int:
    return int(pd.Timestamp(f"{day.date()} 16:00", tz="America/New_York").tz_convert("UTC").value)


def test_movement_label_follows_the_stocknet_thresholds() -> None:
    labels = movement_label([0.006, 0.003, -0.006, 0.0055, -0.005, -0.0051])

    np.testing.assert_array_equal(labels, [1.0, np.nan, 0.0, np.nan, np.nan, 0.0])


def test_rows_label_up_down_and_drop_the_neutral_band(tmp_path: Path) -> None:
    path = tmp_path / "price" / "raw" / "AAA.csv"
    days = write_prices(path, closes_with_returns([0.006, 0.003, -0.006]))
    bars = read_stocknet_prices(path)

    rows = ticker_rows("AAA", bars, TweetScores.empty(), SPEC, SPLITS)
    by_target = rows.set_index("target_date")

    assert by_target.loc[days[-3], "movement"] == 1.0
    assert np.isnan(value(by_target, days[-2], "movement"))
    assert np.isnan(value(by_target, days[-2], "fwd_return"))
    assert by_target.loc[days[-1], "movement"] == 0.0
    assert by_target.loc[days[-3], "fwd_return"] == pytest.approx(0.006)
    assert by_target.loc[days[-1], "fwd_return"] == pytest.approx(-0.006)


def test_row_is_stamped_at_the_previous_close_and_uses_only_earlier_days(tmp_path: Path) -> None:
    path = tmp_path / "price" / "raw" / "AAA.csv"
    closes = closes_with_returns([0.01, -0.02, 0.015, 0.007, -0.009, 0.012, -0.004, 0.02])
    days = write_prices(path, closes)
    rows = ticker_rows("AAA", read_stocknet_prices(path), TweetScores.empty(), SPEC, SPLITS)
    target = days[-4]
    row = rows[rows["target_date"] == target]
    # the row is known at the close of the day before the target
    assert row.index[0] == pd.Timestamp(close_ns(days[-5]), tz="UTC")
    assert row["label_end"].iloc[0] == pd.Timestamp(close_ns(target), tz="UTC")

    # change the target day and every later day: the target's inputs must not move
    shocked = closes[:-4] + [c * 1.5 for c in closes[-4:]]
    write_prices(path, shocked)
    rows_after = ticker_rows("AAA", read_stocknet_prices(path), TweetScores.empty(), SPEC, SPLITS)
    inputs = [*SPEC.feature_names(), "sent_mean_5d", "sent_count_5d"]
    before = rows[rows["target_date"] <= target][inputs]
    after = rows_after[rows_after["target_date"] <= target][inputs]
    pd.testing.assert_frame_equal(before, after)
    assert rows_after[rows_after["target_date"] == target]["fwd_return"].iloc[0] != row["fwd_return"].iloc[0]


def test_tweet_after_the_previous_close_counts_for_the_next_target(tmp_path: Path) -> None:
    path = tmp_path / "price" / "raw" / "AAA.csv"
    days = write_prices(path, closes_with_returns([0.01, -0.02, 0.015, 0.007, -0.009, 0.012]))
    bars = read_stocknet_prices(path)
    previous_close = close_ns(days[-3])  # close of t-1 for target days[-2]
    minute = 60 * 1_000_000_000
    tweets = TweetScores(
        ts_ns=np.array([previous_close - minute, previous_close + minute], dtype=np.int64),
        scores=np.array([-0.5, 0.9]),
    )

    rows = ticker_rows("AAA", bars, tweets, SPEC, SPLITS).set_index("target_date")

    assert rows.loc[days[-2], "sent_count_1d"] == 1
    assert rows.loc[days[-2], "sent_mean_1d"] == pytest.approx(-0.5)
    assert rows.loc[days[-1], "sent_count_1d"] == 1
    assert rows.loc[days[-1], "sent_mean_1d"] == pytest.approx(0.9)
    assert rows.loc[days[-1], "sent_count_5d"] == 2
    assert rows.loc[days[-1], "sent_mean_5d"] == pytest.approx(0.2)
    assert rows.loc[days[-1], "sent_dispersion_5d"] == pytest.approx(np.std([-0.5, 0.9], ddof=1))


def test_window_sentiment_without_tweets_is_zero() -> None:
    mean, count, dispersion = window_sentiment(TweetScores.empty(), np.array([0, 10]), np.array([5, 20]))

    np.testing.assert_array_equal(count, [0.0, 0.0])
    np.testing.assert_array_equal(mean, [0.0, 0.0])
    np.testing.assert_array_equal(dispersion, [0.0, 0.0])


def test_splits_follow_the_target_date() -> None:
    splits = StockNetSplits()
    dates = pd.to_datetime(
        ["2013-12-31", "2014-01-02", "2015-07-31", "2015-08-03", "2015-10-01", "2016-01-04"]
    )

    assert list(splits.split_of(dates)) == ["", "train", "train", "validation", "test", ""]


@pytest.mark.parametrize(
    ("line", "row", "field"),
    [
        ("2014-01-06,10,11,9,abc,5,100", 3, "Close"),
        ("2014-01-06,10,11,9,10,-5,100", 3, "Adj Close"),
        ("2014-01-06,10,11,9,10,5,-1", 3, "Volume"),
        ("06/01/2014,10,11,9,10,5,100", 3, "Date"),
        ("2014-01-02,10,11,9,10,5,100", 3, "Date"),
    ],
)
def test_bad_price_row_names_file_row_and_field(tmp_path: Path, line: str, row: int, field: str) -> None:
    path = tmp_path / "BAD.csv"
    good = ["2014-01-02,10,11,9,10,5,100", "2014-01-03,10,11,9,10,5,100"]
    path.write_text("\n".join([",".join(PRICE_COLUMNS), *good, line]) + "\n", encoding="utf-8")

    with pytest.raises(DataError) as info:
        read_stocknet_prices(path)

    assert info.value.file == str(path)
    assert info.value.row == row
    assert info.value.field == field
    assert str(path) in str(info.value)


def test_bad_header_and_null_rows(tmp_path: Path) -> None:
    path = tmp_path / "X.csv"
    path.write_text("Date,Open,High,Low,Close,Volume\n2014-01-02,1,1,1,1,1\n", encoding="utf-8")
    with pytest.raises(DataError, match="header"):
        read_stocknet_prices(path)

    path.write_text(
        ",".join(PRICE_COLUMNS) + "\n2014-01-02,10,11,9,10,5,100\n2014-01-03,null,null,null,null,null,null\n"
        "2014-01-06,10,11,9,10,5,100\n",
        encoding="utf-8",
    )
    bars = read_stocknet_prices(path)
    assert len(bars) == 2
    assert bars["close"].tolist() == [5.0, 5.0]
    assert bars["open"].tolist() == [5.0, 5.0]


def test_bad_tweet_line_names_the_day_file_and_field(tmp_path: Path) -> None:
    day_file = tmp_path / "tweet" / "preprocessed" / "AAA" / "2014-01-02"
    day_file.parent.mkdir(parents=True)
    good = {"text": ["$aaa", "up"], "created_at": "Thu Jan 02 15:45:02 +0000 2014", "user_id_str": "1"}
    bad = {**good, "created_at": "yesterday"}
    day_file.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")

    with pytest.raises(DataError) as info:
        read_tweet_scores(tmp_path, ["AAA"])

    assert "2014-01-02" in str(info.value.file)
    assert info.value.row == 2
    assert info.value.field == "created_at"


def test_layout_errors_say_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="price/raw"):
        stocknet_tickers(tmp_path)
    write_prices(tmp_path / "price" / "raw" / "AAA.csv", [10.0, 11.0])
    with pytest.raises(ConfigError, match="ZZZ"):
        stocknet_tickers(tmp_path, ["AAA", "ZZZ"])
    assert stocknet_tickers(tmp_path, ["aaa"]) == ["AAA"]


def test_score_predictions_accuracy_and_mcc() -> None:
    score = score_predictions(np.array([1, 0, 1, 0]), np.array([0.7, 0.2, 0.4, 0.5]))

    assert score.accuracy == pytest.approx(0.5)
    assert score.mcc == pytest.approx(0.0)
    assert score.n == 4
    assert score_predictions(np.array([1, 0]), np.array([0.9, 0.1])).mcc == pytest.approx(1.0)


@pytest.mark.skipif(shared_data_dir() is None, reason="needs ../shared/data")
def test_real_files_load_adjusted_bars_and_tweets(tmp_path: Path) -> None:
    shared = shared_data_dir()
    assert shared is not None
    raw = tmp_path / "price" / "raw"
    raw.mkdir(parents=True)
    for ticker in ("AAPL", "MSFT"):
        shutil.copy(shared / "bars_daily" / "stocknet" / f"{ticker}.csv", raw / f"{ticker}.csv")
    source = pd.read_csv(raw / "AAPL.csv")
    tweet_dir = tmp_path / "tweet" / "preprocessed" / "AAPL"
    tweet_dir.mkdir(parents=True)
    record = {
        "text": ["$aapl", "great", "earnings"],
        "created_at": "Mon Jan 06 15:00:00 +0000 2014",
        "user_id_str": "7",
    }
    (tweet_dir / "2014-01-06").write_text(json.dumps(record) + "\n", encoding="utf-8")

    bars = read_stocknet_prices(raw / "AAPL.csv")
    rows = load_stocknet_rows(tmp_path, FeatureSpec())

    assert bars["close"].to_numpy() == pytest.approx(source["Adj Close"].to_numpy())
    assert str(bars.index[0]) == "2012-09-04 20:00:00+00:00"  # 16:00 New York in summer
    assert set(rows["instrument_id"]) == {"AAPL", "MSFT"}
    assert rows.loc[rows["instrument_id"] == "MSFT", "sent_count_5d"].eq(0).all()  # no tweets: zero count
    aapl = rows[rows["instrument_id"] == "AAPL"].set_index("target_date")
    assert aapl.loc[pd.Timestamp("2014-01-07"), "sent_count_1d"] == 1
    assert value(aapl, pd.Timestamp("2014-01-07"), "sent_mean_1d") > 0
    assert aapl.loc[pd.Timestamp("2014-01-06"), "sent_count_5d"] == 0
    assert rows.index.is_monotonic_increasing
