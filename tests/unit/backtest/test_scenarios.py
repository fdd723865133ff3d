"""Scenario path generators and stress transforms on real AAPL and MSFT daily bars."""

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.backtest.config import FeeModelFactory, FillModelFactory

from nautilus_ai.backtest import node_config
from nautilus_ai.backtest.scenario_runner import FeeMultiplierModel, summarize, with_drought_venues
from nautilus_ai.backtest.scenarios import (
    PRICE_COLUMNS,
    SCENARIO_KINDS,
    ScenarioConfig,
    bar_log_ratios,
    block_permutation,
    bootstrap_paths,
    break_correlation,
    calibrate_gbm,
    crash_gap,
    flash_crash,
    gbm_paths,
    generate_paths,
    liquidity_drought,
    log_returns_matrix,
    parse_scenario_config,
    path_seed,
    scale_volatility,
    simulate_gbm,
)
from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.test_kit import read_stocknet_daily, small_experiment

SYMBOLS = ("AAPL", "MSFT")
TEST_BARS = 120
TRAIN_BARS = 400


@pytest.fixture(scope="module")
def real_bars():
    frames = {
        f"{s}.XNAS": read_stocknet_daily(s)[["open", "high", "low", "close", "volume"]] for s in SYMBOLS
    }
    common = frames["AAPL.XNAS"].index.intersection(frames["MSFT.XNAS"].index)
    return {iid: f.loc[common] for iid, f in frames.items()}


@pytest.fixture(scope="module")
def windows(real_bars):
    """Return (train, train_anchor, window, anchor): the last TEST_BARS bars and the TRAIN_BARS before."""
    n = len(next(iter(real_bars.values())))
    t0, w0 = n - TEST_BARS - TRAIN_BARS, n - TEST_BARS
    train = {iid: f.iloc[t0:w0] for iid, f in real_bars.items()}
    window = {iid: f.iloc[w0:] for iid, f in real_bars.items()}
    train_anchor = {iid: float(f["close"].iloc[t0 - 1]) for iid, f in real_bars.items()}
    anchor = {iid: float(f["close"].iloc[w0 - 1]) for iid, f in real_bars.items()}
    return train, train_anchor, window, anchor


def assert_consistent_ohlc(bars, index):
    for iid, frame in bars.items():
        assert frame.index.equals(index), iid
        o, h, lo, c = (frame[col].to_numpy() for col in PRICE_COLUMNS)
        assert np.isfinite(frame[list(PRICE_COLUMNS)].to_numpy()).all(), iid
        assert (lo > 0).all(), iid
        assert (h >= np.maximum(o, c) - 1e-12).all(), iid
        assert (lo <= np.minimum(o, c) + 1e-12).all(), iid
        assert (frame["volume"].to_numpy() >= 0).all(), iid


def close_log_returns(bars, anchor):
    return log_returns_matrix(bars, anchor)


# ------------------------------------------------------------------------------------- bootstrap
def test_iid_bootstrap_draws_whole_rows_of_the_window(windows):
    _, _, window, anchor = windows
    real = close_log_returns(window, anchor)
    rows = {tuple(np.round(r, 12)) for r in real}
    for path in bootstrap_paths(window, anchor, 5, seed=3):
        simulated = close_log_returns(path, anchor)
        assert all(tuple(np.round(r, 12)) in rows for r in simulated)


def test_bootstrap_keeps_the_marginal_distribution(windows):
    _, _, window, anchor = windows
    real = close_log_returns(window, anchor)[:, 0]
    pooled = np.concatenate(
        [close_log_returns(p, anchor)[:, 0] for p in bootstrap_paths(window, anchor, 200, seed=11)]
    )
    assert pooled.mean() == pytest.approx(real.mean(), abs=3 * real.std() / np.sqrt(pooled.size) + 1e-4)
    assert pooled.std() == pytest.approx(real.std(), rel=0.03)
    for q in (0.05, 0.5, 0.95):
        assert np.quantile(pooled, q) == pytest.approx(np.quantile(real, q), abs=0.15 * real.std())


def test_block_bootstrap_keeps_runs_of_consecutive_bars(windows):
    _, _, window, anchor = windows
    real = close_log_returns(window, anchor)
    position = {tuple(np.round(r, 12)): i for i, r in enumerate(real)}

    def consecutive_share(block_length):
        shares = []
        for path in bootstrap_paths(window, anchor, 50, seed=5, block_length=block_length):
            rows = np.array([position[tuple(np.round(r, 12))] for r in close_log_returns(path, anchor)])
            shares.append(np.mean(np.diff(rows) % len(real) == 1))
        return float(np.mean(shares))

    assert consecutive_share(10.0) == pytest.approx(0.9, abs=0.06)
    assert consecutive_share(1.0) < 0.05


# ------------------------------------------------------------------------------------- GBM / GARCH
def test_gbm_drift_and_volatility_match_the_calibration(windows):
    train, train_anchor, _, _ = windows
    fit = calibrate_gbm(close_log_returns(train, train_anchor))
    simulated = simulate_gbm(fit, 2000, 250, seed=1)
    assert simulated.mean(axis=(0, 1)) == pytest.approx(fit.log_drift, abs=3e-5)
    assert simulated.std(axis=(0, 1)) == pytest.approx(fit.volatility, rel=0.01)
    flat = simulated.reshape(-1, 2)
    correlation = float(np.corrcoef(flat[:, 0], flat[:, 1])[0, 1])
    assert correlation == pytest.approx(fit.correlation[0, 1], abs=0.01)
    assert fit.drift == pytest.approx(fit.log_drift + fit.volatility**2 / 2)


def test_gbm_paths_follow_the_training_calibration_as_bars(windows):
    train, train_anchor, window, anchor = windows
    index = next(iter(window.values())).index
    fit = calibrate_gbm(close_log_returns(train, train_anchor))
    paths = gbm_paths(train, train_anchor, index, anchor, 150, seed=2)
    pooled = np.concatenate([close_log_returns(p, anchor) for p in paths])
    assert pooled.std(axis=0) == pytest.approx(fit.volatility, rel=0.03)
    assert pooled.mean(axis=0) == pytest.approx(
        fit.log_drift, abs=4 * fit.volatility.max() / np.sqrt(len(pooled))
    )
    for path in paths[:10]:
        assert_consistent_ohlc(path, index)


# ------------------------------------------------------------------------------------- stresses
def test_volatility_x3_triples_the_standard_deviation_and_keeps_the_mean(windows):
    _, _, window, anchor = windows
    stressed = scale_volatility(window, anchor, 3.0)
    real, new = close_log_returns(window, anchor), close_log_returns(stressed, anchor)
    assert new.std(axis=0) == pytest.approx(3.0 * real.std(axis=0), rel=1e-9)
    assert new.mean(axis=0) == pytest.approx(real.mean(axis=0), abs=1e-12)
    assert_consistent_ohlc(stressed, next(iter(window.values())).index)


def test_crash_gap_appears_once_at_the_seeded_bar(windows):
    _, _, window, anchor = windows
    stressed, t = crash_gap(window, anchor, 0.2, seed=9)
    again, t_again = crash_gap(window, anchor, 0.2, seed=9)
    assert t == t_again
    for iid in window:
        real = bar_log_ratios(window[iid], anchor[iid])
        new = bar_log_ratios(stressed[iid], anchor[iid])
        difference = new - real
        assert difference[t] == pytest.approx(np.full(4, np.log(0.8)))
        others = np.delete(difference, t, axis=0)
        assert np.abs(others).max() < 1e-12
        pd.testing.assert_frame_equal(again[iid], stressed[iid])
        # every price from the gap on is 20 % lower, the bars before are the real ones
        assert (stressed[iid]["close"].iloc[t:] / window[iid]["close"].iloc[t:]).to_numpy() == pytest.approx(
            0.8
        )
        assert stressed[iid]["close"].iloc[:t].to_numpy() == pytest.approx(
            window[iid]["close"].iloc[:t].to_numpy()
        )
    positions = {crash_gap(window, anchor, 0.2, seed=s)[1] for s in range(20)}
    assert len(positions) > 5


def test_flash_crash_drops_and_recovers_within_n_bars(windows):
    _, _, window, anchor = windows
    stressed, t = flash_crash(window, anchor, drop=0.1, bars=4, seed=4)
    index = next(iter(window.values())).index
    assert_consistent_ohlc(stressed, index)
    for iid in window:
        real, new = window[iid], stressed[iid]
        assert new["close"].iloc[t] == pytest.approx(0.9 * real["close"].iloc[t])
        assert new["low"].iloc[t] <= 0.9 * real["close"].iloc[t] + 1e-9
        assert new["open"].iloc[t] == pytest.approx(real["open"].iloc[t])
        recovery = (new["close"].iloc[t : t + 4] / real["close"].iloc[t : t + 4]).to_numpy()
        assert np.all(np.diff(recovery) > 0)
        untouched = np.r_[0:t, t + 4 : len(index)]
        untouched = untouched[untouched < len(index)]
        pd.testing.assert_frame_equal(new.iloc[untouched[untouched < t]], real.iloc[untouched[untouched < t]])
        later = untouched[untouched > t]
        assert new["close"].iloc[later].to_numpy() == pytest.approx(real["close"].iloc[later].to_numpy())


def test_correlation_breakdown_collapses_correlation_and_keeps_each_marginal(windows):
    _, _, window, anchor = windows
    real = close_log_returns(window, anchor)
    before = abs(np.corrcoef(real, rowvar=False)[0, 1])
    assert before > 0.3  # AAPL and MSFT move together
    after = []
    for seed in range(20):
        broken = close_log_returns(break_correlation(window, anchor, 5, seed), anchor)
        np.testing.assert_allclose(np.sort(broken, axis=0), np.sort(real, axis=0), atol=1e-12)
        np.testing.assert_allclose(broken[:, 0], real[:, 0], atol=1e-12)  # the first is the reference
        after.append(abs(np.corrcoef(broken, rowvar=False)[0, 1]))
    assert np.mean(after) < before / 2


def test_block_permutation_is_a_permutation_of_whole_blocks():
    order = block_permutation(23, 5, np.random.default_rng(0))
    assert sorted(order) == list(range(23))
    starts = [i for i in range(23) if i == 0 or order[i] != order[i - 1] + 1]
    assert all(order[s] % 5 == 0 for s in starts)


def test_liquidity_drought_thins_volume_and_keeps_prices(windows):
    _, _, window, _ = windows
    dry = liquidity_drought(window, 0.25)
    for iid in window:
        assert dry[iid]["volume"].to_numpy() == pytest.approx(0.25 * window[iid]["volume"].to_numpy())
        pd.testing.assert_frame_equal(dry[iid][list(PRICE_COLUMNS)], window[iid][list(PRICE_COLUMNS)])


def test_liquidity_drought_sets_the_venue_fill_and_fee_models(tmp_path):
    cfg = small_experiment(tmp_path / "catalog")
    run = node_config.ml_run(
        cfg,
        str(tmp_path / "catalog"),
        registry_path=str(tmp_path / "registry"),
        model_version="m-1",
        start="2016-01-01",
        end="2016-06-01",
        trade_start="2016-02-01",
        equity_path=str(tmp_path / "equity.parquet"),
    )
    dry = with_drought_venues(run, 0.8, 5.0, seed=3)
    for before, venue in zip(run.venues, dry.venues, strict=True):
        assert venue.fill_model is not None and venue.fee_model is not None and before.fee_model is not None
        fill = FillModelFactory.create(venue.fill_model)
        assert fill.prob_slippage == pytest.approx(0.8)
        fee = FeeModelFactory.create(venue.fee_model)
        assert isinstance(fee, FeeMultiplierModel)
        assert fee.multiplier == pytest.approx(5.0)
        # the venue's own fee model is the one multiplied
        assert type(fee.base) is type(FeeModelFactory.create(before.fee_model))


# ------------------------------------------------------------------------------------- every kind
@pytest.mark.parametrize("kind", SCENARIO_KINDS)
def test_every_kind_gives_consistent_bars_on_the_real_timestamps(kind, windows):
    train, train_anchor, window, anchor = windows
    config = ScenarioConfig(paths=3, seed=7, kinds=[kind])
    paths = generate_paths(kind, config, window, anchor, train, train_anchor)
    assert len(paths) == (1 if kind == "volatility_x3" else 3)
    index = next(iter(window.values())).index
    for number, path in enumerate(paths):
        assert path.kind == kind and path.path == number
        assert set(path.bars) == set(window)
        assert_consistent_ohlc(path.bars, index)


@pytest.mark.parametrize("kind", ["iid_bootstrap", "gbm", "garch", "crash_gap", "correlation_breakdown"])
def test_same_seed_same_paths_other_seed_other_paths(kind, windows):
    train, train_anchor, window, anchor = windows

    def closes(seed):
        config = ScenarioConfig(paths=2, seed=seed, kinds=[kind])
        paths = generate_paths(kind, config, window, anchor, train, train_anchor)
        return np.stack([np.column_stack([f["close"] for f in p.bars.values()]) for p in paths])

    np.testing.assert_array_equal(closes(1), closes(1))
    assert not np.allclose(closes(1), closes(2))
    first, second = closes(1)
    assert not np.allclose(first, second)  # paths of one kind differ


def test_path_seeds_differ_by_kind_and_path():
    seeds = {path_seed(42, kind, p) for kind in SCENARIO_KINDS for p in range(10)}
    assert len(seeds) == 10 * len(SCENARIO_KINDS)
    assert path_seed(42, "gbm", 3) == path_seed(42, "gbm", 3)


# ------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("crash_gap", 1.5),
        ("paths", 0),
        ("volatility_multiplier", -1.0),
        ("drought_slippage_probability", 2.0),
        ("flash_crash_bars", 0),
        ("kinds", ["tsunami"]),
        ("block_length", 0.5),
    ],
)
def test_bad_scenario_parameters_raise_config_error_naming_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        parse_scenario_config({field: value}, source="test")


def test_unknown_keys_and_duplicate_kinds_are_rejected():
    with pytest.raises(ConfigError, match="crash_size"):
        parse_scenario_config({"crash_size": 0.1})
    with pytest.raises(ConfigError, match="twice"):
        parse_scenario_config({"kinds": ["gbm", "gbm"]})


def test_transforms_reject_bad_magnitudes(windows):
    _, _, window, anchor = windows
    with pytest.raises(ConfigError, match="magnitude"):
        crash_gap(window, anchor, 1.0, seed=0)
    with pytest.raises(ConfigError, match="multiplier"):
        scale_volatility(window, anchor, 0.0)
    with pytest.raises(ConfigError, match="drop"):
        flash_crash(window, anchor, drop=-0.1, bars=3, seed=0)
    with pytest.raises(ConfigError, match="volume_factor"):
        liquidity_drought(window, 0.0)
    with pytest.raises(ConfigError, match="paths"):
        bootstrap_paths(window, anchor, 0, seed=0)


def test_misaligned_instruments_raise_data_error_naming_the_instrument(windows):
    _, _, window, anchor = windows
    shifted = dict(window)
    shifted["MSFT.XNAS"] = window["MSFT.XNAS"].iloc[1:]
    with pytest.raises(DataError, match=r"MSFT\.XNAS"):
        bootstrap_paths(shifted, anchor, 1, seed=0)
    with pytest.raises(DataError, match="anchor"):
        crash_gap(window, {"AAPL.XNAS": 1.0, "MSFT.XNAS": -1.0}, 0.1, seed=0)


def test_summary_gives_mean_median_and_five_percent_quantile():
    table = pd.DataFrame(
        {
            "scenario": ["gbm"] * 5,
            "path": range(5),
            "total_return": [0.1, 0.2, 0.3, 0.4, 0.5],
            "sharpe": 1.0,
            "sortino": 1.0,
            "max_drawdown": -0.1,
            "cvar_95": 0.02,
            "n_trades": 3,
        }
    )
    stats = summarize(table)["gbm"]["total_return"]
    assert stats["mean"] == pytest.approx(0.3)
    assert stats["median"] == pytest.approx(0.3)
    assert stats["q05"] == pytest.approx(0.12)
