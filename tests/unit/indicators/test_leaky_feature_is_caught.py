"""The look-ahead checks catch a deliberately leaky feature (STYLE rule 3 tested against itself).

``lookahead_violations`` replays the full bar list and prefixes cut at seeded random points and reports
every (feature, time) whose value in a prefix run differs from the full run: a feature that peeks ahead
changes its past values when the future is removed. The shipped FeatureActor passes on real AAPL bars;
a ``LeakyFeatureActor`` that reads the next bars from a list handed to it at construction (a centered
moving average, and a one-bar look-ahead return ``log(close[t+1] / close[t])``) is caught. The
streaming-equals-batch comparison catches a batch form computed with ``rolling(..., center=True)``.
"""

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.model.data import Bar, BarType

from nautilus_ai import test_kit
from nautilus_ai.indicators.feature_actor import FeatureActor, FeatureActorConfig
from nautilus_ai.indicators.feature_recorder import FeatureRecorder, FeatureRecorderConfig
from nautilus_ai.indicators.feature_spec import FeatureSpec

SPEC = FeatureSpec()
N_CUTS = 3
CUT_SEED = 20_261_124
META_COLUMNS = ("ts_event", "ts_init", "instrument_id", "spec_hash")
CENTERED = "centered_ma_ratio_5"  # close[t-2..t+2] mean / close[t] - 1: two bars ahead
NEXT_RETURN = "next_return"  # log(close[t+1] / close[t]): one bar ahead


def lookahead_violations(
    run: Callable[[list[Bar]], pd.DataFrame], bars: list[Bar], cuts: list[int]
) -> list[str]:
    """Return one line per (feature, time) whose value changes when the bars after a cut are removed.

    ``run`` turns a bar list into feature values indexed by time (one column per feature). The full
    list and each prefix ``bars[:cut]`` are run; a prefix must reproduce exactly the full run's rows up
    to its last bar (two NaNs count as equal).
    """
    full = run(bars)
    violations = []
    for cut in cuts:
        prefix = run(bars[:cut])
        expected = full[full.index <= pd.Timestamp(bars[cut - 1].ts_init, unit="ns", tz="UTC")]
        if list(prefix.index) != list(expected.index) or list(prefix.columns) != list(expected.columns):
            violations.append(f"cut {cut}: the prefix run has other rows or columns than the full run")
            continue
        for feature in prefix.columns:
            got, want = prefix[feature].to_numpy(), expected[feature].to_numpy()
            differs = ~((got == want) | (np.isnan(got) & np.isnan(want)))
            violations.extend(
                f"{feature} at {time.isoformat()} (cut {cut}): prefix {float(g)!r}, full {float(w)!r}"
                for time, g, w in zip(prefix.index[differs], got[differs], want[differs], strict=True)
            )
    return violations


def seeded_cuts(n_bars: int, warmup: int) -> list[int]:
    rng = np.random.default_rng(CUT_SEED)
    return sorted(int(c) for c in rng.choice(np.arange(warmup + 1, n_bars - 1), N_CUTS, replace=False))


class LeakyFeatureActor(FeatureActor):
    """A FeatureActor with two leaky features read from the whole bar list it is given (never do this)."""

    def __init__(self, config: FeatureActorConfig, all_bars: list[Bar]) -> None:
        super().__init__(config)
        self._all_closes = [b.close.as_double() for b in all_bars]
        self._position = {b.ts_init: i for i, b in enumerate(all_bars)}
        self._names = [*self._names, CENTERED, NEXT_RETURN]
        self._now = 0

    def on_bar(self, bar: Bar) -> None:
        self._now = self._position[bar.ts_init]
        super().on_bar(bar)

    def _compute(self, close: float) -> list[float]:
        values = super()._compute(close)
        window = self._all_closes[max(self._now - 2, 0) : self._now + 3]  # truncated at the data's end
        following = self._now + 1 < len(self._all_closes)
        values.append(sum(window) / len(window) / close - 1.0)
        values.append(math.log(self._all_closes[self._now + 1] / close) if following else math.nan)
        return values


def replay(actor_factory: Callable[[FeatureActorConfig, list[Bar]], FeatureActor], output: Path):
    """Return a ``run`` for :func:`lookahead_violations`: the actor in a BacktestEngine over the bars."""
    runs = iter(range(1_000))

    def run(bars: list[Bar]) -> pd.DataFrame:
        instrument = test_kit.stocknet_equity("AAPL", "XNAS")
        path = output / f"run{next(runs)}.parquet"
        engine = test_kit.make_backtest_engine([instrument])
        try:
            engine.add_data(bars)
            config = FeatureActorConfig(instrument_id=instrument.id, bar_type=bars[0].bar_type, spec=SPEC)
            engine.add_actor(actor_factory(config, bars))
            engine.add_actor(
                FeatureRecorder(
                    FeatureRecorderConfig(instrument_ids=(str(instrument.id),), output_path=str(path))
                )
            )
            engine.run()
        finally:
            engine.dispose()
        frame = pd.read_parquet(path)
        frame.index = pd.DatetimeIndex(pd.to_datetime(frame["ts_init"], unit="ns", utc=True))
        return frame.drop(columns=list(META_COLUMNS))

    return run


def volume_z_batch(bars: list[Bar], *, center: bool) -> pd.Series:
    """Return the volume z-score over the whole history (trailing, or the classic centered leak)."""
    volume = pd.Series(
        [b.volume.as_double() for b in bars],
        index=pd.DatetimeIndex(pd.to_datetime([b.ts_init for b in bars], unit="ns", utc=True)),
    )
    rolling = volume.rolling(SPEC.volume_window, center=center)
    mean, std = rolling.mean(), rolling.std(ddof=1)
    return ((volume - mean) / std).where(std != 0.0, 0.0).where(std.notna())


def streaming_batch_mismatches(streamed: pd.Series, batch: pd.Series) -> list[str]:
    """Return one line per time where the streamed value differs from the batch value (rtol 1e-9)."""
    batch = batch.reindex(streamed.index)
    close = np.isclose(streamed.to_numpy(), batch.to_numpy(), rtol=1e-9, atol=1e-12)
    return [
        f"{t.isoformat()}: streamed {float(s)!r}, batch {float(b)!r}"
        for t, s, b in zip(streamed.index[~close], streamed[~close], batch[~close], strict=True)
    ]


@pytest.fixture(scope="module")
def aapl_bars() -> tuple[BarType, list[Bar]]:
    return test_kit.stocknet_bars("AAPL", "XNAS")


@pytest.fixture(scope="module")
def cuts(aapl_bars) -> list[int]:
    return seeded_cuts(len(aapl_bars[1]), SPEC.warmup_bars())


@pytest.fixture(scope="module")
def shipped_run(tmp_path_factory):
    return replay(lambda config, bars: FeatureActor(config), tmp_path_factory.mktemp("shipped"))


@pytest.fixture(scope="module")
def leaky_violations(aapl_bars, cuts, tmp_path_factory) -> list[str]:
    run = replay(LeakyFeatureActor, tmp_path_factory.mktemp("leaky"))
    return lookahead_violations(run, aapl_bars[1], cuts)


def test_shipped_feature_actor_has_no_lookahead_on_aapl(aapl_bars, cuts, shipped_run):
    violations = lookahead_violations(shipped_run, aapl_bars[1], cuts)

    assert violations == []


def test_centered_moving_average_feature_is_caught(leaky_violations, cuts):
    caught = [v for v in leaky_violations if v.startswith(f"{CENTERED} ")]

    # The last two bars before every cut read bars that the prefix does not have.
    assert len(caught) == 2 * len(cuts)
    assert {v.split("(cut ")[1].split(")")[0] for v in caught} == {str(c) for c in cuts}


def test_one_bar_lookahead_return_is_caught(leaky_violations, cuts):
    caught = [v for v in leaky_violations if v.startswith(f"{NEXT_RETURN} ")]

    assert len(caught) == len(cuts)  # the last bar before every cut: NaN in the prefix, a value in full
    assert all("prefix nan" in v for v in caught)


def test_leak_reports_name_only_the_leaky_features(leaky_violations):
    assert {v.split(" ")[0] for v in leaky_violations} == {CENTERED, NEXT_RETURN}


def test_lookahead_check_catches_a_centered_rolling_batch_form(aapl_bars, cuts):
    _, bars = aapl_bars

    def run(center: bool) -> Callable[[list[Bar]], pd.DataFrame]:
        return lambda b: volume_z_batch(b, center=center).to_frame("volume_z")

    assert lookahead_violations(run(False), bars, cuts) == []
    assert len(lookahead_violations(run(True), bars, cuts)) >= len(cuts)


def test_streaming_equals_batch_catches_a_centered_rolling_batch_form(aapl_bars, shipped_run):
    _, bars = aapl_bars
    streamed = shipped_run(bars)["volume_z"]

    trailing = streaming_batch_mismatches(streamed, volume_z_batch(bars, center=False))
    centered = streaming_batch_mismatches(streamed, volume_z_batch(bars, center=True))

    assert trailing == []
    assert len(centered) > len(streamed) // 2  # nearly every bar differs, not just the edges
