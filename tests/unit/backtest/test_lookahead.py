"""The look-ahead check: its pure parts, and deliberate leaks caught in the batch twins and the replay.

The leaks are planted on purpose: a batch twin computed with ``shift(-1)`` (the next bar's return)
or a centred rolling window, injected into the batch registry with ``monkeypatch``; and a
FeatureActor subclass whose ``ret_1`` is the next bar's log return, read from the catalog (a
one-bar look-ahead that also feeds the model). The shipped features and config pass clean.
"""

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.model.data import Bar
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from nautilus_ai import test_kit
from nautilus_ai.backtest.lookahead import (
    ROW_COLUMN,
    LookaheadSettings,
    absolute_differences,
    choose_cuts,
    decision_frame,
    diff_frames,
    differing_values,
    regime_frame,
    run_lookahead,
    summarize_differences,
    truncate_catalog,
)
from nautilus_ai.errors import ConfigError
from nautilus_ai.indicators import batch_features
from nautilus_ai.indicators.feature_actor import FeatureActor, FeatureActorConfig
from nautilus_ai.indicators.feature_spec import FeatureSpec

INSTRUMENTS = ("AAPL.XNAS", "MSFT.XNAS")
WINDOW = {"start": "2014-01-01", "end": "2016-06-30"}
SHORT_WALKFORWARD = {"train": "540D", "test": "120D", "workers": 1}
UTC = "UTC"


# --------------------------------------------------------------------------------------- leaky features
class LeakyFeatureActorConfig(FeatureActorConfig, frozen=True):
    """A FeatureActorConfig with the catalog the leaky actor reads its future from."""

    catalog_path: str = ""


class LeakyFeatureActor(FeatureActor):
    """``ret_1`` replaced by ``log(close[t+1] / close[t])``, the next bar read from the catalog.

    A deliberate one-bar look-ahead (never do this).
    """

    def __init__(self, config: LeakyFeatureActorConfig) -> None:
        super().__init__(config)
        bars = ParquetDataCatalog(config.catalog_path).bars(bar_types=[str(config.bar_type)])
        self._next_close = {b.ts_init: n.close.as_double() for b, n in itertools.pairwise(bars)}
        self._ts_init = 0

    def on_bar(self, bar: Bar) -> None:
        self._ts_init = bar.ts_init
        super().on_bar(bar)

    def _compute(self, close: float) -> list[float]:
        values = super()._compute(close)
        following = self._next_close.get(self._ts_init)
        values[self._names.index("ret_1")] = math.log(following / close) if following else math.nan
        return values


LEAKY_ACTOR: dict[str, Any] = {
    "feature_actor_path": f"{__name__}:LeakyFeatureActor",
    "feature_actor_config_path": f"{__name__}:LeakyFeatureActorConfig",
    "feature_actor_options": {"catalog_path": "{catalog}"},
}


def next_bar_return(name: str, spec: FeatureSpec, bars: pd.DataFrame, events: object) -> pd.Series:
    """A leaky batch twin of ``ret_1``: the return to the next bar (``shift(-1)``)."""
    close = bars["close"]
    return pd.Series(np.log(close.shift(-1) / close), index=bars.index)


def centred_volume_z(name: str, spec: FeatureSpec, bars: pd.DataFrame, events: object) -> pd.Series:
    """A leaky batch twin of ``volume_z``: a centred rolling window (half of it in the future)."""
    rolling = bars["volume"].rolling(spec.volume_window, center=True)
    return (bars["volume"] - rolling.mean()) / rolling.std(ddof=1)


# --------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    return test_kit.demo_catalog(tmp_path_factory.mktemp("lookahead"), ("AAPL", "MSFT"))


@pytest.fixture(scope="module")
def experiment(catalog):
    return test_kit.small_experiment(catalog, INSTRUMENTS, data=WINDOW, walkforward=SHORT_WALKFORWARD)


def frame(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "instrument_id": [r[0] for r in rows],
            "ts": pd.to_datetime([r[1] for r in rows], utc=True),
            "x": [r[2] for r in rows],
        }
    )


# --------------------------------------------------------------------------------------- pure parts
def test_nan_equals_nan_but_not_a_value():
    full = np.array([1.0, np.nan, np.nan, 2.0, np.inf])
    truncated = np.array([1.0, np.nan, 3.0, np.nan, np.inf])

    assert differing_values(full, truncated, rtol=1e-9).tolist() == [False, False, True, True, False]
    assert absolute_differences(full, truncated).tolist() == [0.0, 0.0, np.inf, np.inf, 0.0]


def test_relative_tolerance_is_relative_to_the_full_value():
    full = np.array([1e6, 1e6, 1e-6])
    truncated = np.array([1e6 * (1 + 5e-10), 1e6 * (1 + 2e-9), 1e-6 + 1e-14])

    assert differing_values(full, truncated, rtol=1e-9).tolist() == [False, True, True]


def test_cuts_are_seeded_and_leave_a_bar_after_them():
    times = pd.date_range("2020-01-01", periods=30, freq="D", tz=UTC)

    cuts = choose_cuts(times, 3, seed=11, earliest=times[9])

    assert cuts == choose_cuts(times, 3, seed=11, earliest=times[9])
    assert cuts != choose_cuts(times, 3, seed=12, earliest=times[9])
    assert cuts == sorted(cuts) and len(set(cuts)) == 3
    assert all(times[9] < c < times[-1] for c in cuts)
    assert all(c < times[20] for c in choose_cuts(times, 5, seed=11, earliest=times[9], latest=times[20]))


def test_too_few_bars_to_cut_is_a_config_error():
    times = pd.date_range("2020-01-01", periods=5, freq="D", tz=UTC)

    with pytest.raises(ConfigError, match="--cuts"):
        choose_cuts(times, 3, seed=1, earliest=times[2])


def test_diff_compares_only_up_to_the_cut():
    full = frame([("A.X", "2020-01-01", 1.0), ("A.X", "2020-01-02", 2.0), ("A.X", "2020-01-03", 3.0)])
    truncated = frame([("A.X", "2020-01-01", 1.0), ("A.X", "2020-01-02", 2.5), ("A.X", "2020-01-03", 9.0)])
    cut = pd.Timestamp("2020-01-02", tz=UTC)

    inclusive = diff_frames(full, truncated, stage="features", cut=cut)
    exclusive = diff_frames(full, truncated, stage="features", cut=cut, inclusive=False)

    assert inclusive[["column", "full", "truncated", "abs_diff"]].values.tolist() == [["x", 2.0, 2.5, 0.5]]
    assert inclusive["ts"].tolist() == [cut]
    assert exclusive.empty


def test_a_row_missing_from_one_run_is_a_difference():
    full = frame([("A.X", "2020-01-01", 1.0), ("B.X", "2020-01-01", np.nan)])
    truncated = frame([("A.X", "2020-01-01", 1.0)])

    diff = diff_frames(full, truncated, stage="signals", cut=pd.Timestamp("2020-01-05", tz=UTC))

    assert diff[["instrument_id", "column", "full", "truncated"]].values.tolist() == [
        ["B.X", ROW_COLUMN, 1.0, 0.0]
    ]


def test_summary_gives_first_time_largest_difference_and_rows_per_column():
    full = frame([("A.X", "2020-01-0" + str(d), float(d)) for d in range(1, 6)])
    first = full.assign(x=[1.0, 2.0, 3.5, 4.0, 5.0])
    second = full.assign(x=[1.0, 2.0, 3.5, 4.0, np.nan])
    diffs = pd.concat(
        [
            diff_frames(full, first, stage="batch", cut=pd.Timestamp("2020-01-04", tz=UTC)),
            diff_frames(full, second, stage="batch", cut=pd.Timestamp("2020-01-05", tz=UTC)),
        ]
    )

    [summary] = summarize_differences(diffs)

    assert (summary.stage, summary.column, summary.rows) == ("batch", "x", 2)
    assert summary.first_ts == pd.Timestamp("2020-01-03", tz=UTC)
    assert summary.max_abs_diff == np.inf
    assert summary.as_dict()["max_abs_diff"] == "inf"


def test_decisions_net_the_fills_and_sum_the_risk_decisions_per_instrument_and_time(tmp_path):
    fills = pd.DataFrame(
        {
            "ts": pd.to_datetime(["2020-01-02", "2020-01-02", "2020-01-03"], utc=True),
            "instrument_id": ["A.X", "A.X", "B.X"],
            "side": ["BUY", "SELL", "SELL"],
            "quantity": [10.0, 4.0, 2.0],
            "notional": [100.0, 40.0, 30.0],
        }
    )
    pd.DataFrame(
        {
            "ts": pd.to_datetime(["2020-01-02"], utc=True),
            "instrument_id": ["A.X"],
            "action": ["shrunk"],
            "requested_qty": [12.0],
            "approved_qty": [10.0],
        }
    ).to_parquet(tmp_path / "RiskDecisionEvent.parquet")

    decisions = decision_frame(fills, tmp_path).set_index("instrument_id")

    assert list(decisions.loc["A.X", ["fill_net_qty", "fill_count", "fill_notional"]]) == [6.0, 2.0, 140.0]
    assert list(decisions.loc["A.X", ["risk_decisions", "risk_requested_qty", "risk_approved_qty"]]) == [
        1.0,
        12.0,
        10.0,
    ]
    assert list(decisions.loc["B.X", ["fill_net_qty", "risk_decisions"]]) == [-2.0, 0.0]


def test_regime_probabilities_become_one_column_per_regime(tmp_path):
    pd.DataFrame(
        {
            "ts": pd.to_datetime(["2020-01-02", "2020-01-03"], utc=True),
            "instrument_id": ["A.X", "A.X"],
            "regime": ["calm", "stress"],
            "probabilities": ['{"calm": 0.9, "stress": 0.1}', '{"calm": 0.2, "stress": 0.8}'],
        }
    ).to_parquet(tmp_path / "RegimeLabel.parquet")

    regimes = regime_frame(tmp_path)

    assert list(regimes.columns) == ["instrument_id", "ts", "probability:calm", "probability:stress"]
    assert regimes["probability:stress"].tolist() == [0.1, 0.8]


def test_truncated_catalog_holds_exactly_the_bars_up_to_the_cut(catalog, tmp_path):
    bar_type = "AAPL.XNAS-1-DAY-LAST-EXTERNAL"
    bars = ParquetDataCatalog(str(catalog)).bars(bar_types=[bar_type])
    cut = pd.Timestamp(bars[400].ts_init, unit="ns", tz=UTC)

    copy = truncate_catalog(catalog, tmp_path / "cut", cut)

    store = ParquetDataCatalog(str(copy))
    assert store.bars(bar_types=[bar_type]) == bars[:401]
    assert [str(i.id) for i in store.instruments()] == [
        str(i.id) for i in ParquetDataCatalog(str(catalog)).instruments()
    ]
    [path] = (copy / "data" / "bar" / bar_type).glob("*.parquet")
    assert path.name.endswith(f"{cut:%Y-%m-%dT%H-%M-%S}-000000000Z.parquet")


# --------------------------------------------------------------------------------------- batch twins
BATCH_ONLY = LookaheadSettings(cuts=2, replay=False, signals=False, batch=True, seed=3)


def test_shipped_batch_features_have_no_lookahead(experiment):
    result = run_lookahead(experiment, None, BATCH_ONLY)

    assert result.clean
    assert result.compared["batch"] > 0


def test_shift_minus_one_batch_twin_is_caught_at_every_cut(experiment, monkeypatch, tmp_path):
    monkeypatch.setitem(batch_features.BATCH_FEATURES, "ret_1", next_bar_return)

    result = run_lookahead(experiment, tmp_path, BATCH_ONLY)

    assert not result.clean
    assert [(leak.stage, leak.column) for leak in result.leaks] == [("batch", "ret_1")]
    diffs = result.differences
    # the last bar before each cut, of each instrument: NaN in the truncated run, a value in the full
    assert sorted(zip(diffs["ts"], diffs["instrument_id"], strict=True)) == sorted(
        (cut, iid) for cut in result.cuts for iid in INSTRUMENTS
    )
    assert diffs["truncated"].isna().all() and diffs["full"].notna().all()
    assert result.leaks[0].first_ts == result.cuts[0]
    assert (tmp_path / "lookahead.json").is_file()
    assert len(pd.read_parquet(tmp_path / "lookahead_differences.parquet")) == len(diffs)


def test_centred_rolling_batch_twin_is_caught(experiment, monkeypatch):
    monkeypatch.setitem(batch_features.BATCH_FEATURES, "volume_z", centred_volume_z)

    result = run_lookahead(experiment, None, BATCH_ONLY)

    [leak] = result.leaks
    assert (leak.stage, leak.column) == ("batch", "volume_z")
    # half a window of bars before each cut reads bars past it
    assert leak.rows >= len(result.cuts) * len(INSTRUMENTS) * (experiment.features.volume_window // 2 - 1)


def test_no_check_selected_is_a_config_error(experiment):
    with pytest.raises(ConfigError, match="every check is off"):
        run_lookahead(experiment, None, LookaheadSettings(replay=False, batch=False, signals=False))


# --------------------------------------------------------------------------------------- engine runs
@pytest.mark.slow
def test_shipped_pipeline_has_no_lookahead(experiment, tmp_path):
    result = run_lookahead(experiment, tmp_path, LookaheadSettings(cuts=2))

    assert result.clean, result.leaks
    assert set(result.compared) == {"features", "batch", "signals", "decisions"}
    assert all(n > 0 for n in result.compared.values())
    test_start, test_end = (pd.Timestamp(t) for t in result.test_window or ())
    assert all(test_start < c < test_end for c in result.cuts)


@pytest.mark.slow
def test_one_bar_lookahead_read_from_the_catalog_is_caught_in_features_and_signals(experiment, tmp_path):
    settings = LookaheadSettings(cuts=2, batch=False, **LEAKY_ACTOR)

    result = run_lookahead(experiment, tmp_path, settings)

    columns = {(leak.stage, leak.column) for leak in result.leaks}
    assert ("features", "ret_1") in columns
    assert {c for s, c in columns if s == "features"} == {"ret_1"}
    features = result.differences[result.differences["stage"] == "features"]
    assert sorted(zip(features["ts"], features["instrument_id"], strict=True)) == sorted(
        (cut, iid) for cut in result.cuts for iid in INSTRUMENTS
    )
    # the model was trained on the leaky ret_1: its signal at the cut bar changes too
    signals = result.differences[result.differences["stage"] == "signals"]
    assert not signals.empty
    assert set(signals["ts"]) <= set(result.cuts)
