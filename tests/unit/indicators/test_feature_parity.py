"""Every feature of the FeatureSpec: the live FeatureActor equals a batch form and never peeks ahead.

The FeatureActor runs in a real BacktestEngine over the real AAPL daily bars and a FeatureRecorder
writes its vectors. Each feature column is compared with an independent pandas/numpy computation
over the same bars (streaming equals batch), and the bar list is cut at seeded random points and
replayed: every vector of a prefix run equals the full run's vector at the same time (past values
never change when the future is removed). Both tests are parametrized over
``FeatureSpec().feature_names()``, so a new feature is covered as soon as it has a batch form in
:data:`nautilus_ai.indicators.batch_features.BAR_FEATURES`.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.indicators import ExponentialMovingAverage
from nautilus_trader.model.data import Bar, BarType

from nautilus_ai import test_kit
from nautilus_ai.indicators.batch_features import bars_to_frame, batch_feature
from nautilus_ai.indicators.feature_spec import FeatureSpec

SPEC = FeatureSpec()
FEATURES = SPEC.feature_names()
RTOL = 1e-9
ATOL = 1e-12  # for values that are exactly zero on both sides (an unchanged close)
N_CUTS = 4
CUT_SEED = 20_240_607


def run_feature_actor(bar_type: BarType, bars: list[Bar], spec: FeatureSpec, output: Path) -> pd.DataFrame:
    """Replay ``bars`` through a FeatureActor in a BacktestEngine; return the recorded vectors by time."""
    return test_kit.replay_feature_actor(
        test_kit.stocknet_equity("AAPL", "XNAS"), bar_type, [bars], spec, output
    )


bars_frame = bars_to_frame


@pytest.fixture(scope="module")
def aapl_bars() -> tuple[BarType, list[Bar]]:
    return test_kit.stocknet_bars("AAPL", "XNAS")


@pytest.fixture(scope="module")
def full_run(aapl_bars, tmp_path_factory) -> pd.DataFrame:
    bar_type, bars = aapl_bars
    return run_feature_actor(bar_type, bars, SPEC, tmp_path_factory.mktemp("full") / "features.parquet")


@pytest.fixture(scope="module")
def prefix_runs(aapl_bars, tmp_path_factory) -> dict[int, pd.DataFrame]:
    bar_type, bars = aapl_bars
    rng = np.random.default_rng(CUT_SEED)
    cuts = sorted(
        int(c) for c in rng.choice(np.arange(SPEC.warmup_bars() + 1, len(bars) - 1), N_CUTS, replace=False)
    )
    folder = tmp_path_factory.mktemp("prefix")
    return {cut: run_feature_actor(bar_type, bars[:cut], SPEC, folder / f"cut{cut}.parquet") for cut in cuts}


def test_nautilus_ema_uses_alpha_two_over_n_plus_one_and_seeds_with_the_first_value():
    ema = ExponentialMovingAverage(10)

    ema.update_raw(100.0)

    assert ema.alpha == pytest.approx(2.0 / 11.0)
    assert ema.value == 100.0


def test_feature_actor_publishes_one_vector_per_bar_from_the_warmup_on(aapl_bars, full_run):
    _, bars = aapl_bars
    warmup = SPEC.warmup_bars()

    assert len(full_run) == len(bars) - warmup + 1
    assert full_run["ts_init"].iloc[0] == bars[warmup - 1].ts_init
    assert full_run["ts_init"].tolist() == [b.ts_init for b in bars[warmup - 1 :]]
    assert (full_run["ts_event"] == full_run["ts_init"]).all()
    assert (full_run["spec_hash"] == SPEC.fingerprint()).all()
    assert list(full_run.columns[4:]) == FEATURES


def test_feature_vectors_are_complete_and_finite(full_run):
    values = full_run[FEATURES].to_numpy()

    assert np.isfinite(values).all()


@pytest.mark.parametrize("feature", FEATURES)
def test_feature_streaming_equals_batch_on_aapl(feature, aapl_bars, full_run):
    _, bars = aapl_bars

    batch = batch_feature(feature, SPEC, bars_frame(bars)).reindex(full_run.index)

    np.testing.assert_allclose(full_run[feature].to_numpy(), batch.to_numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("feature", FEATURES)
def test_feature_has_no_lookahead_when_the_future_is_cut(feature, aapl_bars, full_run, prefix_runs):
    _, bars = aapl_bars

    for cut, prefix in prefix_runs.items():
        last_known = bars[cut - 1].ts_init
        expected = full_run[full_run["ts_init"] <= last_known]
        assert prefix["ts_init"].tolist() == expected["ts_init"].tolist(), f"cut at bar {cut}"
        np.testing.assert_array_equal(
            prefix[feature].to_numpy(), expected[feature].to_numpy(), err_msg=f"{feature} cut at bar {cut}"
        )


def test_batch_feature_refuses_an_unknown_feature(aapl_bars):
    _, bars = aapl_bars

    with pytest.raises(KeyError, match="no batch form"):
        batch_feature("unknown_feature", SPEC, bars_frame(bars[:5]))


def test_prefix_cuts_are_seeded_and_inside_the_data(aapl_bars, prefix_runs):
    _, bars = aapl_bars

    assert len(prefix_runs) == N_CUTS
    assert all(SPEC.warmup_bars() < cut < len(bars) for cut in prefix_runs)
