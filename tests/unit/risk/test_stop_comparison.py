"""Walk-forward stop comparison: point-in-time state and fits, fold layout, output table on real tickers."""

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from nautilus_ai.errors import ConfigError
from nautilus_ai.risk.stop_comparison import (
    METHODS,
    RESULT_COLUMNS,
    StopComparisonConfig,
    bar_state,
    compare_stop_methods,
    fit_fold,
    render_markdown_table,
    trade_statistics,
    volatility_regimes,
    walk_forward_folds,
)
from nautilus_ai.test_kit import read_stocknet_daily

torch.set_num_threads(1)

TICKERS = ("AAPL", "XOM", "JPM")
FAST = StopComparisonConfig(
    train_months=12,
    test_months=12,
    stop_grid=(1.0, 2.0, 3.0),
    target_grid=(1.0, 3.0),
    min_trades=20,
    policy_hidden=8,
    policy_epochs=40,
)


@pytest.fixture(scope="module")
def bars():
    return {t: read_stocknet_daily(t) for t in TICKERS}


def test_volatility_regimes_are_terciles_of_past_values_only():
    rng = np.random.default_rng(0)
    v = rng.uniform(0.01, 0.03, 400)
    regimes = volatility_regimes(v, lookback=100, min_periods=50)
    changed = v.copy()
    changed[300:] = rng.uniform(0.5, 0.9, 100)

    assert np.isnan(regimes[:50]).all()
    assert set(np.unique(regimes[50:])) == {0.0, 1.0, 2.0}
    np.testing.assert_array_equal(volatility_regimes(changed, 100, 50)[:300], regimes[:300])
    assert volatility_regimes(changed, 100, 50)[310] == 2.0


def test_bar_state_at_a_bar_does_not_change_when_later_bars_change(bars):
    frame = bars["AAPL"]
    cut = 700
    shocked = frame.copy()
    shocked.iloc[cut:, :4] *= 1.7

    pd.testing.assert_frame_equal(bar_state(frame, FAST).iloc[:cut], bar_state(shocked, FAST).iloc[:cut])


def test_folds_roll_by_date_and_tests_follow_their_training_window(bars):
    folds = walk_forward_folds(bars["AAPL"].index, train_months=24, test_months=6)

    assert len(folds) == 6
    for previous, fold in itertools.pairwise(folds):
        assert fold.test_start == previous.test_end
    for fold in folds:
        assert fold.train_start < fold.test_start < fold.test_end
        assert fold.test_start == fold.train_start + pd.DateOffset(months=24)


def test_fold_fit_ignores_prices_after_the_training_window(bars):
    fold = walk_forward_folds(bars["AAPL"].index, FAST.train_months, FAST.test_months)[1]
    rng = np.random.default_rng(1)
    shocked = {}
    for name, frame in bars.items():
        changed = frame.copy()
        after = changed.index >= fold.test_start
        changed.loc[after, ["open", "high", "low", "close"]] *= rng.uniform(0.3, 3.0, (after.sum(), 1))
        shocked[name] = changed

    original = fit_fold(bars, fold, FAST)
    perturbed = fit_fold(shocked, fold, FAST)

    assert original.grid == perturbed.grid
    assert original.best == perturbed.best
    assert original.policy.to_bytes() == perturbed.policy.to_bytes()
    assert original.n_train_trades == perturbed.n_train_trades


def test_fold_fit_uses_bars_up_to_the_purge(bars):
    fold = walk_forward_folds(bars["AAPL"].index, FAST.train_months, FAST.test_months)[1]
    shocked = {}
    for name, frame in bars.items():
        changed = frame.copy()
        inside = (changed.index >= fold.test_start - pd.Timedelta(days=10)) & (
            changed.index < fold.test_start
        )
        changed.loc[inside, ["open", "high", "low", "close"]] *= 1.5
        shocked[name] = changed

    assert fit_fold(bars, fold, FAST).policy.to_bytes() != fit_fold(shocked, fold, FAST).policy.to_bytes()


def test_comparison_returns_one_row_per_fold_and_method_on_real_tickers(bars):
    results = compare_stop_methods(bars, FAST)

    folds = walk_forward_folds(bars["AAPL"].index, FAST.train_months, FAST.test_months)
    assert tuple(results.columns) == RESULT_COLUMNS
    assert len(results) == (len(folds) + 1) * len(METHODS)
    assert results["method"].tolist()[: len(METHODS)] == list(METHODS)
    per_fold = results[results["fold"] != "all"]
    assert (per_fold["n_trades"] > 100).all()
    assert per_fold.groupby("fold")["n_trades"].nunique().eq(1).all()  # every method trades the same entries
    pooled = results[results["fold"] == "all"].set_index("method")
    assert (pooled["n_trades"] == per_fold.groupby("method")["n_trades"].sum()).all()
    assert results["hit_rate"].between(0.0, 1.0).all()
    fixed = results[results["method"] == "fixed"]
    assert (fixed["mean_stop_mult"] == 2.0).all() and (fixed["mean_target_mult"] == 3.0).all()
    table = render_markdown_table(results)
    assert table.count("\n") == len(results) + 1
    assert "| all |" in table


def test_comparison_is_deterministic(bars):
    subset = {"XOM": bars["XOM"]}

    pd.testing.assert_frame_equal(compare_stop_methods(subset, FAST), compare_stop_methods(subset, FAST))


def test_config_rejects_bad_windows():
    with pytest.raises(ConfigError):
        StopComparisonConfig(train_months=0)
    with pytest.raises(ConfigError):
        StopComparisonConfig(regime_lookback=10, regime_min_periods=20)


def test_trade_statistics_of_known_returns():
    stats = trade_statistics(np.array([0.02, -0.01, 0.03, np.nan]))

    assert stats["n_trades"] == 3
    assert stats["mean_return"] == pytest.approx(0.04 / 3)
    assert stats["hit_rate"] == pytest.approx(2 / 3)
    assert stats["sharpe"] == pytest.approx((0.04 / 3) / np.std([0.02, -0.01, 0.03], ddof=1))
