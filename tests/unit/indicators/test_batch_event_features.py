"""The batch twins of every feature equal the FeatureActor's replay on real event data, and never peek ahead.

Four real data sets, each replayed through a FeatureActor in a BacktestEngine and computed in batch
from the raw event frames (:mod:`nautilus_ai.indicators.batch_events`):

* ``binance``: Binance BTCUSDT trades (aggressor sides) and top-of-book quotes (``../shared/data``),
  one-second bars built from the trades: trade-source VPIN, order flow, microprice drift, spread;
* ``es_book``: CME ES order-by-order book deltas and trades (Databento MBO, ``../shared/data``),
  two-second bars from the trades: book imbalance over five levels, order flow;
* ``sentiment``: AAPL daily bars and the StockNet AAPL tweets of 2014, lexicon-scored;
* ``onchain``: daily BTC bars and three blockchain.info on-chain metrics (``bitcoin_dataset.csv``).

Two tests run over every (data set, feature) pair, bar features included: streaming equals batch
(rel 1e-9) and cutting the input at seeded random bar times leaves every earlier row unchanged (no
look-ahead, the cut bar's own row included, so a one-bar look-ahead is caught). A registry test
turns every optional FeatureSpec field on and fails if a feature name it can emit has no batch twin
or is exercised by no data set here or in ``test_batch_features.py``.
"""

import math
import re
import typing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pytest
from nautilus_trader.model.data import Bar, BarType, OrderBookDelta, TradeTick
from nautilus_trader.model.identifiers import ClientId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.test_kit.providers import TestInstrumentProvider

from nautilus_ai import test_kit
from nautilus_ai.adapters.onchain import read_onchain_csv
from nautilus_ai.adapters.sentiment import SentimentConfig, make_scorer, score_news_items
from nautilus_ai.adapters.tweets import read_stocknet_tweets
from nautilus_ai.errors import ConfigError
from nautilus_ai.indicators.batch_events import (
    EventFrames,
    book_depth_frame,
    onchain_to_frame,
    quotes_to_frame,
    sample_as_of,
    sentiment_to_frame,
    trades_to_frame,
)
from nautilus_ai.indicators.batch_features import (
    BATCH_FEATURES,
    bars_to_frame,
    batch_feature_frame,
    event_inputs,
    find_batch_feature,
)
from nautilus_ai.indicators.feature_spec import FeatureSpec

RTOL = 1e-9
ATOL = 1e-12  # values exactly zero on both sides (an unchanged price, a balanced window)
N_CUTS = 3
CUT_SEED = 20_261_124
ALT_CLIENT = ClientId("ALT_DATA")
# Short bar warm-ups keep the event features' rows many on short tick samples.
FAST_BARS: dict[str, Any] = {
    "return_horizons": (1,),
    "rsi_period": 2,
    "ema_periods": (2,),
    "atr_period": 2,
    "volatility_window": 2,
    "volume_window": 2,
}
SPECS = {
    "binance": FeatureSpec(
        **FAST_BARS,
        vpin_bucket_volume=2.0,
        vpin_buckets=10,
        vpin_source="trades",
        order_flow_window=200,
        microprice=True,
    ),
    "es_book": FeatureSpec(**FAST_BARS, order_flow_window=50, book_levels=5),
    "sentiment": FeatureSpec(sentiment_half_life_s=43200.0, sentiment_window_s=3 * 86400.0),
    "onchain": FeatureSpec(
        onchain_metrics=("btc_n_transactions", "btc_hash_rate", "btc_n_unique_addresses"),
        onchain_instrument="BTCUSD.ONCHAIN",
        onchain_diff=7,
        onchain_window=30,
    ),
}
CASE_FEATURES = [(case, name) for case, spec in SPECS.items() for name in spec.feature_names()]
# Features with a batch twin tested on bars in test_batch_features.py (vpin there is bar-source).
BAR_TESTED = set(FeatureSpec(range_volatility_window=20, vpin_bucket_volume=1.0).feature_names())
MARKET_FIELDS = ("trades", "quotes", "book")


@dataclass
class Case:
    """One data set: its spec, bars, raw events and the FeatureActor's recorded vectors."""

    spec: FeatureSpec
    bars: pd.DataFrame
    events: EventFrames
    streamed: pd.DataFrame
    memo: dict[tuple[int, bool] | None, pd.DataFrame] = field(default_factory=dict)

    def batch(self) -> pd.DataFrame:
        """Return the batch features of the whole input (computed once)."""
        if None not in self.memo:
            self.memo[None] = batch_feature_frame(self.bars, self.spec, self.events)
        return self.memo[None]


def replay(
    instrument: Instrument,
    bar_type: BarType,
    market: list[list[Any]],
    alt: list[Any],
    spec: FeatureSpec,
    output: Path,
) -> pd.DataFrame:
    """Replay market data (added first, so ties precede the bars) and alternative data; return the vectors."""
    return test_kit.replay_feature_actor(
        instrument, bar_type, market, spec, output, custom=alt, custom_client_id=ALT_CLIENT
    )


def bars_from_trades(instrument: Instrument, trades: list[TradeTick], step: str) -> tuple[BarType, list[Bar]]:
    """Return external OHLCV bars of ``trades``, each stamped at its close (intervals closed on the right)."""
    frame = trades_to_frame(trades)
    index = pd.DatetimeIndex(pd.to_datetime(frame["ts_init"], unit="ns", utc=True))
    prices = pd.Series(frame["price"].to_numpy(), index=index).resample(step, label="right", closed="right")
    volumes = pd.Series(frame["size"].to_numpy(), index=index).resample(step, label="right", closed="right")
    ohlcv = pd.DataFrame(
        {
            "open": prices.first(),
            "high": prices.max(),
            "low": prices.min(),
            "close": prices.last(),
            "volume": volumes.sum(),
        }
    ).dropna()
    seconds = int(pd.Timedelta(step).total_seconds())
    bar_type = BarType.from_str(f"{instrument.id}-{seconds}-SECOND-LAST-EXTERNAL")
    return bar_type, test_kit.wrangle_bars(bar_type, instrument, ohlcv)


def shared_data() -> Path:
    root = test_kit.shared_data_dir()
    if root is None:
        pytest.skip("the shared data folder (../shared/data) is not present")
    return root


@pytest.fixture(scope="module")
def binance(tmp_path_factory) -> Case:
    shared_data()
    instrument, trades, quotes = test_kit.binance_btcusdt_ticks()
    bar_type, bars = bars_from_trades(instrument, trades, "1s")
    spec = SPECS["binance"]
    out = tmp_path_factory.mktemp("binance") / "f.parquet"
    streamed = replay(instrument, bar_type, [trades, quotes, bars], [], spec, out)
    events = EventFrames(trades=trades_to_frame(trades), quotes=quotes_to_frame(quotes))
    return Case(spec, bars_to_frame(bars), events, streamed)


@pytest.fixture(scope="module")
def es_book(tmp_path_factory) -> Case:
    from nautilus_trader.adapters.databento.loaders import DatabentoDataLoader

    path = shared_data() / "orderbook" / "esh4-glbx-mdp3-20231225.mbo.dbn.zst"
    data = DatabentoDataLoader().from_dbn_file(
        path, price_precision=2, include_trades=True, as_legacy_cython=True
    )
    trades = [d for d in data if isinstance(d, TradeTick)]
    cutoff = trades[0].ts_init + 45_000_000_000  # the book snapshot and 45 s of the session
    trades = [t for t in trades if t.ts_init <= cutoff]
    deltas = [d for d in data if isinstance(d, OrderBookDelta) and d.ts_init <= cutoff]
    instrument = TestInstrumentProvider.es_future(2024, 3)
    bar_type, bars = bars_from_trades(instrument, trades, "2s")
    spec = SPECS["es_book"]
    out = tmp_path_factory.mktemp("es") / "f.parquet"
    streamed = replay(instrument, bar_type, [deltas, trades, bars], [], spec, out)
    assert spec.book_levels is not None
    events = EventFrames(
        trades=trades_to_frame(trades), book=book_depth_frame(instrument.id, deltas, spec.book_levels)
    )
    return Case(spec, bars_to_frame(bars), events, streamed)


@pytest.fixture(scope="module")
def sentiment(tmp_path_factory) -> Case:
    bar_type, bars = test_kit.stocknet_bars("AAPL")
    start, end = pd.Timestamp("2013-12-01", tz="UTC").value, pd.Timestamp("2014-12-31", tz="UTC").value
    bars = [b for b in bars if start <= b.ts_init <= end]
    archive = test_kit.bundled_data_dir() / "news_tweets" / "stocknet_tweets_10_tickers.tar.gz"
    items = [i for i in read_stocknet_tweets(archive, ["AAPL"], {"AAPL": "XNAS"}) if i.ts_init <= end]
    scores = score_news_items(make_scorer(SentimentConfig.model_validate({"kind": "lexicon"})), items)
    spec = SPECS["sentiment"]
    instrument = test_kit.stocknet_equity("AAPL")
    out = tmp_path_factory.mktemp("sentiment") / "f.parquet"
    streamed = replay(instrument, bar_type, [bars], scores, spec, out)
    return Case(spec, bars_to_frame(bars), EventFrames(sentiment=sentiment_to_frame(scores)), streamed)


@pytest.fixture(scope="module")
def onchain(tmp_path_factory) -> Case:
    csv = test_kit.bundled_data_dir() / "onchain" / "bitcoin_dataset.csv"
    prices = pd.read_csv(csv, usecols=["Date", "btc_market_price"])
    # Day D's price is known at its end: the bar closes at D+1 00:00 UTC.
    index = pd.DatetimeIndex(pd.to_datetime(prices["Date"], format="%m/%d/%Y %H:%M"), tz="UTC")
    close = pd.Series(prices["btc_market_price"].to_numpy(dtype=float), index=index + pd.Timedelta(days=1))
    close = close.loc["2016-01-01":"2017-06-30"]
    ohlcv = pd.DataFrame({"open": close, "high": close, "low": close, "close": close, "volume": 1.0})
    instrument = TestInstrumentProvider.btcusdt_binance()
    bar_type = BarType.from_str(f"{instrument.id}-1-DAY-LAST-EXTERNAL")
    bars = test_kit.wrangle_bars(bar_type, instrument, ohlcv)
    spec = SPECS["onchain"]
    metrics = [
        m
        for m in read_onchain_csv(csv, "BTCUSD.ONCHAIN", list(spec.onchain_metrics))
        if bars[0].ts_init <= m.ts_init <= bars[-1].ts_init
    ]
    out = tmp_path_factory.mktemp("onchain") / "f.parquet"
    streamed = replay(instrument, bar_type, [bars], metrics, spec, out)
    return Case(spec, bars_to_frame(bars), EventFrames(onchain=onchain_to_frame(metrics)), streamed)


@pytest.fixture
def case(request) -> Case:
    return request.getfixturevalue(request.param)


def truncated(case: Case, cut_ns: int, *, events_at_cut: bool) -> pd.DataFrame:
    """Return the batch features of the bars up to ``cut_ns`` and the events up to it (or before it)."""
    if (cut_ns, events_at_cut) in case.memo:
        return case.memo[(cut_ns, events_at_cut)]
    bars = case.bars[case.bars["ts_init"] <= cut_ns]

    def cut(frame: pd.DataFrame | None) -> pd.DataFrame | None:
        if frame is None:
            return None
        keep = frame["ts_init"] <= cut_ns if events_at_cut else frame["ts_init"] < cut_ns
        return frame[keep.to_numpy()]

    events = EventFrames(**{f: cut(getattr(case.events, f)) for f in EventFrames.__dataclass_fields__})
    case.memo[(cut_ns, events_at_cut)] = batch_feature_frame(bars, case.spec, events)
    return case.memo[(cut_ns, events_at_cut)]


def seeded_cuts(case: Case) -> list[int]:
    """Return ``N_CUTS`` bar times after the warm-up (the last bar excluded), drawn with a fixed seed."""
    stamps = case.streamed["ts_init"].to_numpy(dtype=np.int64)
    rng = np.random.default_rng(CUT_SEED)
    return sorted(int(t) for t in rng.choice(stamps[1:-1], N_CUTS, replace=False))


def differing(got: pd.Series, want: pd.Series) -> list[str]:
    """Return the times at which two series differ (bitwise; two NaNs are equal)."""
    g, w = got.to_numpy(dtype=float), want.to_numpy(dtype=float)
    differs = ~((g == w) | (np.isnan(g) & np.isnan(w)))
    return [t.isoformat() for t in got.index[differs]]


def market_features(spec: FeatureSpec) -> set[str]:
    """Return the spec's features read from trades, quotes or books (they count events at the bar's time)."""
    return {n for field, names in event_inputs(spec).items() if field in MARKET_FIELDS for n in names}


def maximal_specs() -> list[FeatureSpec]:
    """Return FeatureSpecs with every optional field turned on, one per ``vpin_source``.

    A new optional field (default None, False or an empty tuple) of a type without a value here fails,
    so a new feature cannot slip past the registry check.
    """
    on_values: dict[Any, Any] = {
        int | None: 5,
        float | None: 1.0,
        str | None: "BTCUSD.ONCHAIN",
        bool: True,
        tuple[str, ...]: ("btc_hash_rate", "btc_n_transactions"),
    }
    hints = typing.get_type_hints(FeatureSpec)
    changes: dict[str, Any] = {}
    for spec_field in msgspec.structs.fields(FeatureSpec):
        if spec_field.default in (None, False, ()):
            assert hints[spec_field.name] in on_values, f"add an 'on' value for FeatureSpec.{spec_field.name}"
            changes[spec_field.name] = on_values[hints[spec_field.name]]
    base = msgspec.structs.replace(FeatureSpec(), **changes)
    return [msgspec.structs.replace(base, vpin_source=source) for source in ("bars", "trades")]


# --------------------------------------------------------------------------------------------------
# The registry covers every feature name
# --------------------------------------------------------------------------------------------------


def test_every_feature_a_spec_can_emit_has_a_batch_twin():
    names = {n for spec in maximal_specs() for n in spec.feature_names()}

    missing = sorted(n for n in names if find_batch_feature(n) is None)

    assert missing == [], f"add a batch form of {missing} to BAR_FEATURES or EVENT_FEATURES"
    assert {"book_imbalance", "sentiment_dispersion", "onchain_btc_hash_rate_z"} <= names
    assert all(callable(f) for f in BATCH_FEATURES.values())


def test_every_feature_a_spec_can_emit_is_checked_against_the_replay_on_real_data():
    tested = {_kind(name, spec) for spec in SPECS.values() for name in spec.feature_names()}
    tested |= {_kind(name, FeatureSpec(vpin_bucket_volume=1.0)) for name in BAR_TESTED}

    for spec in maximal_specs():
        untested = [n for n in spec.feature_names() if _kind(n, spec) not in tested]
        assert untested == [], f"add real data exercising {untested} (vpin_source={spec.vpin_source})"


def _kind(name: str, spec: FeatureSpec) -> tuple[str, str]:
    """Return the registry key of a feature name and, for ``vpin``, its source."""
    pattern = name if name in BATCH_FEATURES else next(p for p in BATCH_FEATURES if re.fullmatch(p, name))
    return pattern, spec.vpin_source if name == "vpin" else ""


# --------------------------------------------------------------------------------------------------
# Streaming equals batch
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "feature"), CASE_FEATURES, indirect=["case"])
def test_batch_equals_streaming_on_real_data(case: Case, feature: str):
    batch = case.batch()

    assert batch.index.equals(case.streamed.index)
    np.testing.assert_allclose(
        batch[feature].to_numpy(),
        case.streamed[feature].to_numpy(),
        rtol=RTOL,
        atol=ATOL,
        equal_nan=True,
        err_msg=feature,
    )


@pytest.mark.parametrize("case", list(SPECS), indirect=True)
def test_batch_frame_has_the_actors_rows_and_columns_and_defined_event_values(case: Case):
    batch = batch_feature_frame(case.bars, case.spec, case.events)

    assert list(batch.columns) == case.spec.feature_names() == list(case.streamed.columns[4:])
    assert len(batch) >= 10
    for name in case.spec.event_feature_names():
        # every event feature is defined on most rows of these data sets (the test compares numbers)
        assert batch[name].notna().mean() > 0.5, name


# --------------------------------------------------------------------------------------------------
# No look-ahead: cutting the input leaves earlier values unchanged
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "feature"), CASE_FEATURES, indirect=["case"])
def test_truncating_the_input_leaves_earlier_values_unchanged(case: Case, feature: str):
    full = case.batch()
    strict_as_of = feature not in market_features(case.spec)

    for cut_ns in seeded_cuts(case):
        cut_time = pd.Timestamp(cut_ns, unit="ns", tz="UTC")
        # bars and events up to the cut: every row, the cut bar's included, is unchanged
        prefix = truncated(case, cut_ns, events_at_cut=True)
        expected = full[full.index <= cut_time]
        assert prefix.index.equals(expected.index)
        assert differing(prefix[feature], expected[feature]) == [], (feature, cut_time)
        # events stamped at the cut removed too: earlier rows unchanged, and the cut row as well
        # for features that only use alternative data strictly before the bar (or no events)
        before = truncated(case, cut_ns, events_at_cut=False)
        keep = before.index <= cut_time if strict_as_of else before.index < cut_time
        assert differing(before[feature][keep], full[feature][full.index.isin(before.index[keep])]) == []


def test_truncation_check_catches_a_one_bar_look_ahead(binance: Case):
    """A twin that samples trades as of the next bar passes nowhere: the check is not vacuous."""
    trades = binance.events.trades
    assert trades is not None
    stamps = trades["ts_init"].to_numpy(dtype=np.int64)

    def leaky(bars: pd.DataFrame, events: EventFrames) -> pd.Series:
        bar_ts = bars["ts_init"].to_numpy(dtype=np.int64)
        next_ts = np.append(bar_ts[1:], bar_ts[-1])  # one bar ahead
        assert events.trades is not None
        last_price = sample_as_of(
            events.trades["price"].to_numpy(), events.trades["ts_init"].to_numpy(), next_ts, strict=False
        )
        return pd.Series(last_price, index=bars.index)

    full = leaky(binance.bars, binance.events)
    cut_ns = seeded_cuts(binance)[0]
    bars = binance.bars[binance.bars["ts_init"] <= cut_ns]
    prefix = leaky(bars, EventFrames(trades=trades[stamps <= cut_ns]))

    assert differing(prefix, full[prefix.index]) != []


# --------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------


def test_a_missing_event_frame_is_refused_with_the_features_and_frames_named(sentiment: Case):
    with pytest.raises(ConfigError, match="streaming replay") as error:
        batch_feature_frame(sentiment.bars, sentiment.spec, EventFrames())

    assert "sentiment_mean" in str(error.value) and "'sentiment'" in str(error.value)


def test_events_out_of_time_order_are_refused(onchain: Case):
    assert onchain.events.onchain is not None
    shuffled = replace(onchain.events, onchain=onchain.events.onchain.iloc[::-1])

    with pytest.raises(ConfigError, match="increasing ts_init"):
        batch_feature_frame(onchain.bars, onchain.spec, shuffled)


def test_as_of_sampling_counts_ties_for_market_events_and_not_for_alternative_data():
    values = np.array([1.0, 2.0, 3.0])
    events = np.array([10, 20, 30], dtype=np.int64)
    bars = np.array([5, 20, 31], dtype=np.int64)

    at_or_before = sample_as_of(values, events, bars, strict=False)
    before = sample_as_of(values, events, bars, strict=True)

    assert math.isnan(at_or_before[0]) and at_or_before[1:].tolist() == [2.0, 3.0]
    assert math.isnan(before[0]) and before[1:].tolist() == [1.0, 3.0]
