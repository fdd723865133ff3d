"""The sentiment score store: labels, the once-only score files and the point-in-time interval aggregates."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.catalog.sentiment_store import (
    interval_aggregates,
    read_sentiment_scores,
    score_filter_expr,
    stored_scorers,
    validate_scorer_label,
    write_scores_file,
)
from nautilus_ai.catalog.types import SentimentScore
from nautilus_ai.errors import ConfigError, DataError

LABEL = "lexicon-vader-lm-fw0.5-vader3.3.2"
NEWS_NAME = "2014-01-02T00-00-00-000000000Z_2014-01-03T00-00-00-000000000Z.parquet"


def _ns(text: str) -> int:
    return pd.Timestamp(text).value


def _scores_frame(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "instrument_id": [r[0] for r in rows],
            "ts_init": [_ns(r[1]) for r in rows],
            "score": [r[2] for r in rows],
            "confidence": [0.5] * len(rows),
        }
    )


def _score(ts: str, score: float, label: str = LABEL) -> SentimentScore:
    return SentimentScore(
        instrument_id=InstrumentId.from_str("AAPL.XNAS"),
        score=score,
        confidence=0.5,
        scorer=label,
        n_items=1,
        ts_event=_ns(ts),
        ts_init=_ns(ts),
    )


def test_a_score_counts_in_the_interval_it_was_received_labelled_by_the_interval_end():
    frame = _scores_frame(
        [
            ("AAPL.XNAS", "2014-01-02T10:00Z", 0.2),
            ("AAPL.XNAS", "2014-01-02T23:59:59.999999999Z", 0.6),
            ("AAPL.XNAS", "2014-01-03T00:00Z", -0.4),  # exactly at midnight: the next day
            ("MSFT.XNAS", "2014-01-02T12:00Z", 0.1),
        ]
    )

    daily = interval_aggregates(frame)

    day_end = pd.Timestamp("2014-01-03", tz="UTC")
    aapl = daily.loc["AAPL.XNAS"]
    assert list(aapl.index) == [day_end, day_end + pd.Timedelta(days=1)]
    assert aapl.loc[day_end, "count"] == 2
    assert aapl.loc[day_end, "mean"] == pytest.approx(0.4)
    assert aapl.loc[day_end, "dispersion"] == pytest.approx(np.std([0.2, 0.6], ddof=1))
    assert math.isnan(aapl.iloc[1]["dispersion"])  # one score: no dispersion
    assert daily.loc[("MSFT.XNAS", day_end), "count"] == 1


def test_local_days_follow_the_wall_clock_across_a_daylight_saving_change():
    frame = _scores_frame(
        [
            ("AAPL.XNAS", "2014-03-09T04:30Z", 0.1),  # 23:30 New York, Mar 8 (EST)
            ("AAPL.XNAS", "2014-03-09T12:00Z", 0.3),  # 08:00 New York, Mar 9 (EDT from 02:00)
        ]
    )

    daily = interval_aggregates(frame, "1D", tz="America/New_York")

    ends = list(daily.loc["AAPL.XNAS"].index)
    assert ends == [pd.Timestamp("2014-03-09T05:00Z"), pd.Timestamp("2014-03-10T04:00Z")]  # a 23-hour day


def test_sub_daily_intervals_and_empty_input():
    frame = _scores_frame([("AAPL.XNAS", "2014-01-02T10:59Z", 0.2), ("AAPL.XNAS", "2014-01-02T11:00Z", 0.4)])

    hourly = interval_aggregates(frame, "4h")

    assert list(hourly.loc["AAPL.XNAS"].index) == [pd.Timestamp("2014-01-02T12:00Z")]
    assert hourly["count"].tolist() == [2]
    empty = interval_aggregates(frame.iloc[:0])
    assert empty.empty and list(empty.columns) == ["mean", "count", "dispersion", "mean_confidence"]


def test_a_calendar_frequency_is_a_config_error():
    with pytest.raises(ConfigError, match="fixed frequency"):
        interval_aggregates(_scores_frame([("AAPL.XNAS", "2014-01-02T10:00Z", 0.2)]), "MS")


@pytest.mark.parametrize("label", ["", "llm:gpt", "a/b", "-lead", "x" * 129, 'quo"te'])
def test_labels_that_cannot_name_a_folder_or_filter_are_rejected(label):
    with pytest.raises(ConfigError, match="scorer label"):
        validate_scorer_label(label)


def test_filter_expression_selects_one_instrument_and_scorer():
    assert score_filter_expr("AAPL.XNAS", LABEL) == (
        f'(field("instrument_id") == "AAPL.XNAS") & (field("scorer") == "{LABEL}")'
    )


def test_score_files_are_written_once_per_scorer_and_read_back(tmp_path: Path):
    news_file = tmp_path / NEWS_NAME
    scores = [_score("2014-01-02T10:00Z", 0.2), _score("2014-01-02T11:00Z", -0.4)]

    written = write_scores_file(tmp_path, news_file, LABEL, scores)

    assert written.name == NEWS_NAME and written.parent.name == f"AAPL.XNAS@{LABEL}"
    assert stored_scorers(tmp_path) == [LABEL] and stored_scorers(tmp_path, ["MSFT.XNAS"]) == []
    frame = read_sentiment_scores(tmp_path, ["AAPL.XNAS"], LABEL)
    assert frame["score"].tolist() == [0.2, -0.4]
    assert frame["ts_init"].tolist() == [s.ts_init for s in scores]
    with pytest.raises(FileExistsError):
        write_scores_file(tmp_path, news_file, LABEL, scores)
    other = [_score("2014-01-02T10:00Z", 0.9, "other-scorer")]
    write_scores_file(tmp_path, news_file, "other-scorer", other)
    assert read_sentiment_scores(tmp_path, ["AAPL.XNAS"], LABEL)["score"].tolist() == [0.2, -0.4]


def test_bad_score_batches_are_data_errors(tmp_path: Path):
    news_file = tmp_path / NEWS_NAME
    with pytest.raises(DataError, match="no scores"):
        write_scores_file(tmp_path, news_file, LABEL, [])
    with pytest.raises(DataError, match="scorer must be"):
        write_scores_file(tmp_path, news_file, LABEL, [_score("2014-01-02T10:00Z", 0.1, "other")])
    unordered = [_score("2014-01-02T11:00Z", 0.1), _score("2014-01-02T10:00Z", 0.2)]
    with pytest.raises(DataError, match="ts_init order"):
        write_scores_file(tmp_path, news_file, LABEL, unordered)
    assert stored_scorers(tmp_path) == []


def test_reading_a_scorer_without_scores_gives_an_empty_typed_frame(tmp_path: Path):
    frame = read_sentiment_scores(tmp_path, ["AAPL.XNAS"], LABEL)
    assert frame.empty and frame["ts_init"].dtype == np.int64
