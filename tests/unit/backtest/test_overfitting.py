"""Conformance tests for nautilus_ai.backtest.overfitting (PSR, DSR, expected max Sharpe, PBO).

References checked against:
* Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", numerical example: N = 100 trials,
  annualized V[SR] = 1/2, T = 1250 daily returns (250 per year), annualized SR = 2.5,
  skewness -3, kurtosis 10  ->  SR_0 ~ 0.1132 (per period) and DSR ~ 0.9004.
* scipy: moments (scipy.stats.skew / kurtosis), the exact E[max of N normals] by quadrature, rankdata.
* Monte-Carlo checks (seeded) of the sampling interpretation of PSR and of the Sharpe standard error.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from nautilus_ai.backtest import overfitting as of

# ------------------------------------------------------------------------------------------------
# Sample moments and PSR
# ------------------------------------------------------------------------------------------------


def test_sharpe_moments_match_scipy() -> None:
    rng = np.random.default_rng(1)
    r = rng.standard_t(5, 400) * 0.01 + 0.001
    m = of.sharpe_moments(pd.Series(r))
    assert m.n_obs == 400
    assert m.sharpe == pytest.approx(r.mean() / r.std(ddof=1), rel=1e-12)
    assert m.skewness == pytest.approx(stats.skew(r, bias=True), rel=1e-10)
    assert m.kurtosis == pytest.approx(stats.kurtosis(r, fisher=False, bias=True), rel=1e-10)


def test_psr_formula_matches_closed_form() -> None:
    rng = np.random.default_rng(2)
    r = rng.gamma(2.0, 0.01, 300) - 0.015
    sr = r.mean() / r.std(ddof=1)
    g3 = stats.skew(r)
    g4 = stats.kurtosis(r, fisher=False)
    z = (sr - 0.02) * math.sqrt(len(r) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    assert of.probabilistic_sharpe_ratio(r, 0.02) == pytest.approx(stats.norm.cdf(z), rel=1e-12)


def test_psr_normal_special_case_and_benchmark_monotonicity() -> None:
    # For g3 = 0, g4 = 3 the radicand is 1 + SR^2 / 2 (Lo 2002).
    psr = of.probabilistic_sharpe_ratio_from_moments(0.1, 253, 0.0, 3.0, 0.0)
    assert psr == pytest.approx(stats.norm.cdf(0.1 * math.sqrt(252) / math.sqrt(1 + 0.01 / 2)), rel=1e-12)
    assert of.probabilistic_sharpe_ratio_from_moments(0.1, 253, sr_benchmark=0.1) == 0.5
    values = [of.probabilistic_sharpe_ratio_from_moments(0.1, 253, -1.0, 6.0, b) for b in (-0.1, 0, 0.1, 0.2)]
    assert values == sorted(values, reverse=True)


def test_psr_penalizes_negative_skew_and_fat_tails() -> None:
    base = of.probabilistic_sharpe_ratio_from_moments(0.15, 100, 0.0, 3.0)
    assert of.probabilistic_sharpe_ratio_from_moments(0.15, 100, -2.0, 3.0) < base
    assert of.probabilistic_sharpe_ratio_from_moments(0.15, 100, 0.0, 12.0) < base
    assert of.probabilistic_sharpe_ratio_from_moments(0.15, 100, 1.0, 3.0) > base


def test_psr_degenerate_radicand() -> None:
    # Two-point distribution: g4 = g3^2 + 1 and SR = 2 / g3 -> radicand 0.
    assert of.probabilistic_sharpe_ratio_from_moments(1.0, 10, 2.0, 5.0, 0.5) == 1.0
    assert of.probabilistic_sharpe_ratio_from_moments(1.0, 10, 2.0, 5.0, 1.5) == 0.0


def test_psr_is_uniform_under_the_null_monte_carlo() -> None:
    """PSR(SR*) at the true SR is ~U(0, 1): P(PSR > 0.95) ~ 5 % (one-sided test of size 5 %)."""
    rng = np.random.default_rng(123)
    true_sr, n, reps = 0.1, 250, 4000
    r = rng.normal(true_sr, 1.0, size=(reps, n))
    psr = np.array([of.probabilistic_sharpe_ratio(row, true_sr) for row in r])
    se = math.sqrt(0.05 * 0.95 / reps)
    assert abs(np.mean(psr > 0.95) - 0.05) < 3.5 * se
    assert abs(np.mean(psr > 0.5) - 0.5) < 3.5 * math.sqrt(0.25 / reps)
    assert abs(psr.mean() - 0.5) < 0.02


def test_sharpe_standard_error_for_skewed_returns_monte_carlo() -> None:
    """The PSR denominator is the standard error of SR-hat for non-normal i.i.d. returns.

    Gamma(k) returns have skewness 2/sqrt(k) and kurtosis 3 + 6/k; with a per-period SR of 0.5 the
    skew term matters (normal formula: sqrt(1.125), skew-adjusted: sqrt(0.71875)).
    """
    rng = np.random.default_rng(7)
    k, n, reps = 4.0, 500, 4000
    sd = math.sqrt(k)
    true_sr = 0.5
    x = rng.gamma(k, 1.0, size=(reps, n)) - k + true_sr * sd  # mean true_sr * sd, std sd
    sr_hat = x.mean(axis=1) / x.std(axis=1, ddof=1)
    g3, g4 = 2.0 / math.sqrt(k), 3.0 + 6.0 / k
    predicted = math.sqrt((1 - g3 * true_sr + (g4 - 1) / 4 * true_sr**2) / (n - 1))
    assert np.std(sr_hat) == pytest.approx(predicted, rel=0.05)
    assert np.std(sr_hat) < 0.9 * math.sqrt((1 + true_sr**2 / 2) / (n - 1))  # normal SE is wrong


# ------------------------------------------------------------------------------------------------
# Expected maximum Sharpe and DSR
# ------------------------------------------------------------------------------------------------


def test_dsr_paper_numerical_example() -> None:
    """Bailey & López de Prado (2014), section "A numerical example"."""
    ppy = 250.0
    sr0 = of.expected_maximum_sharpe(100, 0.5 / ppy)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = of.probabilistic_sharpe_ratio_from_moments(2.5 / math.sqrt(ppy), 1250, -3.0, 10.0, sr0)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


@pytest.mark.parametrize("n_trials", [5, 10, 100, 1000])
def test_expected_max_sharpe_vs_exact_expectation_of_max_normal(n_trials: int) -> None:
    def integrand(x: float) -> float:
        return x * n_trials * stats.norm.pdf(x) * stats.norm.cdf(x) ** (n_trials - 1)

    exact = integrate.quad(integrand, -12, 12, limit=200)[0]
    approx = of.expected_maximum_sharpe(n_trials, 1.0)
    assert exact < approx < 1.03 * exact


def test_expected_max_sharpe_vs_simulation() -> None:
    rng = np.random.default_rng(11)
    n_trials, var = 50, 0.04
    sims = rng.normal(0.0, math.sqrt(var), size=(20000, n_trials)).max(axis=1)
    approx = of.expected_maximum_sharpe(n_trials, var)
    assert approx == pytest.approx(sims.mean(), rel=0.03)
    assert of.expected_maximum_sharpe(n_trials, 4 * var) == pytest.approx(2 * approx, rel=1e-12)


def test_expected_max_sharpe_edge_cases() -> None:
    assert of.expected_maximum_sharpe(1, 0.3) == 0.0
    assert of.expected_maximum_sharpe(10, 0.0) == 0.0
    values = [of.expected_maximum_sharpe(n, 1.0) for n in (2, 5, 50, 500)]
    assert values == sorted(values)
    with pytest.raises(ValueError, match="n_trials"):
        of.expected_maximum_sharpe(0, 1.0)
    with pytest.raises(ValueError, match="sr_variance"):
        of.expected_maximum_sharpe(10, -1.0)
    with pytest.raises(ValueError, match="sr_variance"):
        of.expected_maximum_sharpe(10, float("nan"))


def test_dsr_below_psr_with_several_trials() -> None:
    rng = np.random.default_rng(5)
    r = rng.normal(0.08, 1.0, 500)
    psr = of.probabilistic_sharpe_ratio(r)
    assert of.deflated_sharpe_ratio(r, 1, 0.01) == pytest.approx(psr, rel=1e-12)
    assert of.deflated_sharpe_ratio(r, 20, 0.0) == pytest.approx(psr, rel=1e-12)
    dsrs = [of.deflated_sharpe_ratio(r, n, 0.002) for n in (2, 10, 100)]
    assert psr > dsrs[0] > dsrs[1] > dsrs[2]


def test_dsr_controls_false_discoveries_of_best_noise_strategy_monte_carlo() -> None:
    """Selecting the best of N zero-skill strategies: PSR(0) flags it often, DSR rarely."""
    rng = np.random.default_rng(99)
    n_trials, n, reps = 50, 250, 200
    psr_hits = dsr_hits = 0
    for _ in range(reps):
        r = rng.normal(0.0, 1.0, size=(n, n_trials))
        srs = r.mean(axis=0) / r.std(axis=0, ddof=1)
        best = r[:, int(np.argmax(srs))]
        psr_hits += of.probabilistic_sharpe_ratio(best) > 0.95
        dsr_hits += of.deflated_sharpe_ratio(best, n_trials, float(np.var(srs, ddof=1))) > 0.95
    assert psr_hits / reps > 0.5
    assert dsr_hits / reps < 0.10


# ------------------------------------------------------------------------------------------------
# PBO (CSCV)
# ------------------------------------------------------------------------------------------------


def _mean_metric(block: np.ndarray) -> np.ndarray:
    return block.mean(axis=0)


def _sharpe_metric(block: np.ndarray) -> np.ndarray:
    return block.mean(axis=0) / block.std(axis=0, ddof=1)


def test_pbo_hand_worked_example() -> None:
    # S = 2, N = 3, mean metric. Block A trial means (1, 2, 3), block B (3, 1, 2).
    # IS = A: best trial 2, OOS rank of 2 in (3, 1, 2) is 2 -> omega 2/4 -> logit 0 (overfit).
    # IS = B: best trial 0, OOS rank of 1 in (1, 2, 3) is 1 -> omega 1/4 -> logit ln(1/3).
    m = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [3.0, 1.0, 2.0], [3.0, 1.0, 2.0]])
    res = of.probability_of_backtest_overfitting(m, 2, metric=_mean_metric)
    assert res.n_combinations == 2
    np.testing.assert_allclose(res.logits, [0.0, math.log(1 / 3)], atol=1e-12)
    assert res.pbo == 1.0
    np.testing.assert_array_equal(res.selected_trials, [2, 0])
    np.testing.assert_allclose(res.is_performance, [3.0, 3.0])
    np.testing.assert_allclose(res.oos_performance, [2.0, 1.0])


def _reference_pbo(m: np.ndarray, s: int) -> tuple[float, np.ndarray]:
    """Independent loop implementation with pandas ranks (equal-size blocks only)."""
    t, n = m.shape
    size = t // s
    logits = []
    for combo in itertools.combinations(range(s), s // 2):
        mask = np.zeros(t, dtype=bool)
        for k in combo:
            mask[k * size : (k + 1) * size] = True
        is_df, oos_df = pd.DataFrame(m[mask]), pd.DataFrame(m[~mask])
        is_sr = is_df.mean() / is_df.std()
        oos_sr = oos_df.mean() / oos_df.std()
        star = int(is_sr.to_numpy().argmax())
        w = oos_sr.rank().iloc[star] / (n + 1)
        logits.append(math.log(w / (1 - w)))
    arr = np.array(logits)
    return float((arr <= 0).mean()), arr


@pytest.mark.parametrize(("s", "n_trials"), [(2, 3), (6, 10), (8, 25)])
def test_pbo_matches_reference_loop(s: int, n_trials: int) -> None:
    rng = np.random.default_rng(s * 100 + n_trials)
    m = rng.normal(0.0, 0.01, size=(s * 30, n_trials))
    res = of.probability_of_backtest_overfitting(pd.DataFrame(m), s)
    pbo, logits = _reference_pbo(m, s)
    assert res.n_combinations == math.comb(s, s // 2) == len(res.logits)
    assert res.pbo == pbo
    np.testing.assert_allclose(res.logits, logits, rtol=1e-12)


def test_pbo_is_one_for_demeaned_noise_planted_is_artifact() -> None:
    """Zero-skill trials demeaned over the full sample: an in-sample winner is an OOS loser."""
    rng = np.random.default_rng(3)
    m = rng.normal(0.0, 0.01, size=(800, 40))
    m -= m.mean(axis=0)
    # With the mean metric IS mean = -OOS mean exactly, so the IS winner is the OOS worst.
    res_mean = of.probability_of_backtest_overfitting(m, 8, metric=_mean_metric)
    assert res_mean.pbo == 1.0
    np.testing.assert_allclose(res_mean.logits, math.log(1 / 40))
    # The default Sharpe metric is only approximately antisymmetric, still overwhelmingly overfit.
    assert of.probability_of_backtest_overfitting(m, 8).pbo > 0.95


def test_pbo_is_zero_when_one_trial_dominates() -> None:
    rng = np.random.default_rng(4)
    n_trials = 20
    m = rng.normal(0.0, 0.01, size=(1000, n_trials))
    m[:, 7] += 0.02  # per-period SR ~ 2 vs ~ 0 for all others
    res = of.probability_of_backtest_overfitting(m, 10)
    assert res.n_combinations == 252
    assert res.pbo == 0.0
    assert np.all(res.selected_trials == 7)
    np.testing.assert_allclose(res.logits, math.log(n_trials))


def test_pbo_pure_noise_is_about_one_half() -> None:
    rng = np.random.default_rng(8)
    pbos = [of.probability_of_backtest_overfitting(rng.normal(size=(160, 20)), 8).pbo for _ in range(30)]
    assert 0.35 < float(np.mean(pbos)) < 0.65


def test_pbo_invariances() -> None:
    rng = np.random.default_rng(6)
    m = rng.normal(0.0005, 0.01, size=(240, 12))
    m[:, 3] += 0.002
    base = of.probability_of_backtest_overfitting(m, 6)
    # strictly increasing transform of the performance statistic
    exp_sharpe = of.probability_of_backtest_overfitting(m, 6, metric=lambda b: np.exp(50 * _sharpe_metric(b)))
    np.testing.assert_array_equal(exp_sharpe.logits, base.logits)
    assert exp_sharpe.pbo == base.pbo
    # Sharpe is invariant to positive scaling of the returns
    scaled = of.probability_of_backtest_overfitting(3.7 * m, 6)
    np.testing.assert_allclose(scaled.logits, base.logits)
    # mean metric is invariant to a common positive affine transform of the returns
    a = of.probability_of_backtest_overfitting(m, 6, metric=_mean_metric)
    b = of.probability_of_backtest_overfitting(2.0 * m + 0.3, 6, metric=_mean_metric)
    np.testing.assert_allclose(a.logits, b.logits)
    # permuting trial columns only relabels them
    perm = rng.permutation(12)
    permuted = of.probability_of_backtest_overfitting(m[:, perm], 6)
    np.testing.assert_allclose(permuted.logits, base.logits)
    np.testing.assert_array_equal(perm[permuted.selected_trials], base.selected_trials)


def test_pbo_uneven_blocks_use_array_split() -> None:
    rng = np.random.default_rng(9)
    m = rng.normal(size=(103, 5))
    res = of.probability_of_backtest_overfitting(m, 4)
    assert res.n_combinations == 6
    assert np.all(np.abs(res.logits) <= math.log(5) + 1e-12)


# ------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("s", [3, 0, 1, -2, 2.5])
def test_pbo_rejects_bad_splits(s: float) -> None:
    with pytest.raises(ValueError, match="n_splits must be an even integer"):
        of.probability_of_backtest_overfitting(np.zeros((40, 3)), s)  # type: ignore[arg-type]


def test_pbo_rejects_bad_matrices() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="at least n_splits"):
        of.probability_of_backtest_overfitting(rng.normal(size=(7, 3)), 8)
    with pytest.raises(ValueError, match="two rows in each half"):
        of.probability_of_backtest_overfitting(rng.normal(size=(2, 3)), 2)
    with pytest.raises(ValueError, match="two trials"):
        of.probability_of_backtest_overfitting(rng.normal(size=(40, 1)), 4)
    with pytest.raises(ValueError, match="2-D"):
        of.probability_of_backtest_overfitting(rng.normal(size=40), 4)
    bad = rng.normal(size=(40, 3))
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        of.probability_of_backtest_overfitting(bad, 4)
    with pytest.raises(ValueError, match="one value per trial"):
        of.probability_of_backtest_overfitting(
            rng.normal(size=(40, 3)), 4, metric=lambda b: np.atleast_1d(b.mean())
        )
    with pytest.raises(ValueError, match="NaN or infinite performance"):
        of.probability_of_backtest_overfitting(
            rng.normal(size=(40, 3)), 4, metric=lambda b: np.full(3, np.inf)
        )


def test_psr_rejects_bad_returns() -> None:
    with pytest.raises(ValueError, match="NaN"):
        of.probabilistic_sharpe_ratio([0.01, np.nan, 0.02])
    with pytest.raises(ValueError, match="at least two"):
        of.probabilistic_sharpe_ratio([0.01])
    with pytest.raises(ValueError, match="zero dispersion"):
        of.probabilistic_sharpe_ratio([0.01] * 10)
    with pytest.raises(ValueError, match="one-dimensional"):
        of.deflated_sharpe_ratio(np.zeros((3, 3)), 10, 0.1)
    with pytest.raises(ValueError, match="n_obs"):
        of.probabilistic_sharpe_ratio_from_moments(0.1, 1)
    with pytest.raises(ValueError, match="finite"):
        of.probabilistic_sharpe_ratio_from_moments(float("nan"), 10)
