"""Backtest-overfitting statistics: probabilistic / deflated Sharpe ratio and PBO (CSCV).

Every function here is a pure numeric kernel (numpy / scipy in, plain Python values or a frozen
dataclass out, no I/O). See ``docs/metrics.md`` ("Overfitting statistics") for the written
specification.

Conventions
-----------
* Sharpe ratios are **per period** (not annualized): ``SR = mean(r) / std(r, ddof=1)`` of the
  per-period (excess) returns ``r``. Benchmarks ``sr_benchmark`` and Sharpe variances
  ``sr_variance`` are in the same per-period units; to convert an annualized Sharpe ``SR_a`` with
  ``ppy`` periods per year use ``SR = SR_a / sqrt(ppy)`` and ``V = V_a / ppy``.
* Skewness ``g3 = m3 / m2**1.5`` and (non-excess, Pearson) kurtosis ``g4 = m4 / m2**2`` are the
  moment estimators with central moments ``m_k = mean((r - mean(r))**k)`` (no small-sample bias
  correction; ``scipy.stats.skew(bias=True)`` / ``scipy.stats.kurtosis(fisher=False, bias=True)``).
  A normal sample has ``g3 ~ 0`` and ``g4 ~ 3``.
* Inputs containing NaN or infinities raise ``ValueError``: the statistics depend on the number of
  observations, so values are never dropped silently.

References
----------
.. [1] Bailey, D. H. and López de Prado, M. (2012). "The Sharpe Ratio Efficient Frontier".
   Journal of Risk 15(2), 3-44.
.. [2] Bailey, D. H. and López de Prado, M. (2014). "The Deflated Sharpe Ratio: Correcting for
   Selection Bias, Backtest Overfitting and Non-Normality". Journal of Portfolio Management 40(5),
   94-107.
.. [3] Bailey, D. H., Borwein, J. M., López de Prado, M. and Zhu, Q. J. (2017). "The Probability of
   Backtest Overfitting". Journal of Computational Finance 20(4), 39-69.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "EULER_GAMMA",
    "PBOResult",
    "SharpeMoments",
    "deflated_sharpe_ratio",
    "expected_maximum_sharpe",
    "probabilistic_sharpe_ratio",
    "probabilistic_sharpe_ratio_from_moments",
    "probability_of_backtest_overfitting",
    "sharpe_moments",
]

#: Euler-Mascheroni constant.
EULER_GAMMA: float = float(np.euler_gamma)

# Standard deviations at or below this are treated as exactly zero (same rule as metrics.py).
_ZERO_STD = 1e-12

PerformanceMetric = Callable[[np.ndarray], np.ndarray]


class SharpeMoments(NamedTuple):
    """Per-period Sharpe ratio of a return sample with the moments PSR needs."""

    sharpe: float
    skewness: float
    kurtosis: float
    n_obs: int


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def _finite_1d(returns: pd.Series | np.ndarray | list[float], name: str = "returns") -> np.ndarray:
    arr = np.asarray(returns, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must not contain NaN or infinite values")
    return arr


# --------------------------------------------------------------------------------------------------
# Probabilistic and deflated Sharpe ratio
# --------------------------------------------------------------------------------------------------


def sharpe_moments(returns: pd.Series | np.ndarray | list[float]) -> SharpeMoments:
    r"""Compute the per-period Sharpe ratio, skewness and kurtosis of a return sample.

    .. math::

        \widehat{SR} = \bar r / s, \quad s^2 = \frac{1}{n-1}\sum_t (r_t - \bar r)^2, \quad
        \hat\gamma_3 = m_3 / m_2^{3/2}, \quad \hat\gamma_4 = m_4 / m_2^{2},

    with central moments :math:`m_k = \frac{1}{n}\sum_t (r_t - \bar r)^k`.

    Parameters
    ----------
    returns : array-like
        Per-period (excess) returns, one-dimensional, all finite.

    Returns
    -------
    SharpeMoments
        ``(sharpe, skewness, kurtosis, n_obs)``; kurtosis is non-excess (3 for a normal).

    Raises
    ------
    ValueError
        If ``returns`` is not 1-D, contains NaN/inf, has fewer than two values or zero dispersion.
    """
    r = _finite_1d(returns)
    n = r.size
    if n < 2:
        raise ValueError(f"need at least two returns, got {n}")
    std = float(np.std(r, ddof=1))
    if std <= _ZERO_STD:
        raise ValueError("returns have zero dispersion; the Sharpe ratio is undefined")
    dev = r - r.mean()
    m2 = float(np.mean(dev**2))
    skew = float(np.mean(dev**3)) / m2**1.5
    kurt = float(np.mean(dev**4)) / m2**2
    return SharpeMoments(float(r.mean()) / std, skew, kurt, n)


def probabilistic_sharpe_ratio_from_moments(
    sharpe: float,
    n_obs: int,
    skewness: float = 0.0,
    kurtosis: float = 3.0,
    sr_benchmark: float = 0.0,
) -> float:
    r"""Compute the probabilistic Sharpe ratio (PSR) from summary statistics.

    Bailey and López de Prado [1]_, using the asymptotic standard error of the Sharpe ratio of
    i.i.d. non-normal returns [2]_:

    .. math::

        \widehat{PSR}(SR^*) = \Phi\left(
            \frac{(\widehat{SR} - SR^*)\sqrt{n-1}}
                 {\sqrt{1 - \hat\gamma_3 \widehat{SR} + \frac{\hat\gamma_4 - 1}{4}\widehat{SR}^2}}
        \right)

    where :math:`\Phi` is the standard normal CDF. The radicand is always non-negative because
    :math:`\gamma_4 \ge \gamma_3^2 + 1`; in the degenerate case where it is zero the result is
    ``1.0``, ``0.0`` or ``0.5`` according to the sign of :math:`\widehat{SR} - SR^*`.

    Parameters
    ----------
    sharpe : float
        Observed per-period Sharpe ratio :math:`\widehat{SR}`.
    n_obs : int
        Number of return observations :math:`n` (at least 2).
    skewness : float, default 0.0
        Skewness :math:`\hat\gamma_3` of the returns.
    kurtosis : float, default 3.0
        Non-excess kurtosis :math:`\hat\gamma_4` of the returns (3 for a normal).
    sr_benchmark : float, default 0.0
        Benchmark per-period Sharpe ratio :math:`SR^*`.

    Returns
    -------
    float
        Probability in ``[0, 1]`` that the true Sharpe ratio exceeds ``sr_benchmark``.

    Raises
    ------
    ValueError
        If an input is not finite or ``n_obs < 2``.

    References
    ----------
    .. [1] Bailey, D. H. and López de Prado, M. (2012). "The Sharpe Ratio Efficient Frontier".
       Journal of Risk 15(2), 3-44.
    .. [2] Mertens, E. (2002). "Comments on variance of the IID estimator in Lo (2002)".
       Working paper, University of Basel.
    """
    values = (sharpe, skewness, kurtosis, sr_benchmark)
    if not all(math.isfinite(float(v)) for v in values):
        raise ValueError("sharpe, skewness, kurtosis and sr_benchmark must be finite")
    if int(n_obs) != n_obs or n_obs < 2:
        raise ValueError(f"n_obs must be an integer >= 2, got {n_obs}")
    diff = float(sharpe) - float(sr_benchmark)
    radicand = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if radicand <= 1e-15:
        return 1.0 if diff > 0 else (0.0 if diff < 0 else 0.5)
    z = diff * math.sqrt(n_obs - 1.0) / math.sqrt(radicand)
    return float(stats.norm.cdf(z))


def probabilistic_sharpe_ratio(
    returns: pd.Series | np.ndarray | list[float], sr_benchmark: float = 0.0
) -> float:
    r"""Compute the probabilistic Sharpe ratio (PSR) of a return sample.

    .. math::

        \widehat{PSR}(SR^*) = \Phi\left(
            \frac{(\widehat{SR} - SR^*)\sqrt{n-1}}
                 {\sqrt{1 - \hat\gamma_3 \widehat{SR} + \frac{\hat\gamma_4 - 1}{4}\widehat{SR}^2}}
        \right)

    with the sample conventions of :func:`sharpe_moments` (per-period Sharpe with ``ddof=1``
    standard deviation; moment-estimator skewness and non-excess kurtosis), Bailey and López de
    Prado (2012). It estimates the probability that the true Sharpe ratio exceeds ``sr_benchmark``.

    Parameters
    ----------
    returns : array-like
        Per-period (excess) returns, one-dimensional, all finite, at least two values.
    sr_benchmark : float, default 0.0
        Benchmark **per-period** Sharpe ratio :math:`SR^*`.

    Returns
    -------
    float
        PSR in ``[0, 1]``.

    Raises
    ------
    ValueError
        See :func:`sharpe_moments`.
    """
    m = sharpe_moments(returns)
    return probabilistic_sharpe_ratio_from_moments(m.sharpe, m.n_obs, m.skewness, m.kurtosis, sr_benchmark)


def expected_maximum_sharpe(n_trials: float, sr_variance: float) -> float:
    r"""Compute the expected maximum of ``n_trials`` Sharpe estimates with zero true Sharpe.

    Bailey and López de Prado (2014), from the asymptotics of the maximum of i.i.d. normals:

    .. math::

        SR_0 = \sqrt{V}\left((1 - \gamma)\,\Phi^{-1}\!\left(1 - \frac{1}{N}\right)
              + \gamma\,\Phi^{-1}\!\left(1 - \frac{1}{N e}\right)\right)

    where :math:`V` is the variance of the Sharpe estimates across the trials, :math:`N` the number
    of (independent) trials and :math:`\gamma \approx 0.5772` the Euler-Mascheroni constant. The
    formula is an approximation of :math:`E[\max_n X_n]` for :math:`X_n \sim N(0, V)`: it
    overestimates the exact value by less than 3 % for ``N >= 5`` (0.9 % at ``N = 100``) and
    underestimates it by about 8 % at ``N = 2``. For ``N = 1`` the expected maximum is the mean,
    ``0.0``.

    Parameters
    ----------
    n_trials : float
        Number of independent trials :math:`N` (``>= 1``; a non-integer effective number of trials
        is accepted).
    sr_variance : float
        Variance :math:`V` of the per-period Sharpe estimates across trials (``>= 0``).

    Returns
    -------
    float
        Expected maximum per-period Sharpe ratio :math:`SR_0`.

    Raises
    ------
    ValueError
        If ``n_trials < 1`` or ``sr_variance`` is negative or not finite.

    References
    ----------
    .. [1] Bailey, D. H. and López de Prado, M. (2014). "The Deflated Sharpe Ratio".
       Journal of Portfolio Management 40(5), 94-107.
    """
    if not math.isfinite(float(n_trials)) or n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    if not math.isfinite(float(sr_variance)) or sr_variance < 0:
        raise ValueError(f"sr_variance must be finite and >= 0, got {sr_variance}")
    if n_trials == 1:
        return 0.0
    g = EULER_GAMMA
    n = float(n_trials)
    z = (1.0 - g) * stats.norm.ppf(1.0 - 1.0 / n) + g * stats.norm.ppf(1.0 - 1.0 / (n * math.e))
    return math.sqrt(sr_variance) * float(z)


def deflated_sharpe_ratio(
    returns: pd.Series | np.ndarray | list[float], n_trials: float, sr_variance: float
) -> float:
    r"""Compute the deflated Sharpe ratio (DSR) of the selected strategy's returns.

    Bailey and López de Prado (2014): the PSR against the expected maximum Sharpe ratio of
    ``n_trials`` zero-skill trials,

    .. math::

        \widehat{DSR} = \widehat{PSR}(SR_0), \qquad
        SR_0 = \sqrt{V}\left((1 - \gamma)\Phi^{-1}(1 - 1/N) + \gamma\Phi^{-1}(1 - 1/(N e))\right).

    Parameters
    ----------
    returns : array-like
        Per-period (excess) returns of the selected (best) trial.
    n_trials : float
        Number of independent trials :math:`N` tried before selecting this one (``>= 1``).
    sr_variance : float
        Variance :math:`V` of the per-period Sharpe estimates across all trials.

    Returns
    -------
    float
        DSR in ``[0, 1]``; equals ``probabilistic_sharpe_ratio(returns, 0.0)`` when ``N = 1`` or
        ``V = 0``, and is lower otherwise.

    Raises
    ------
    ValueError
        See :func:`sharpe_moments` and :func:`expected_maximum_sharpe`.
    """
    sr0 = expected_maximum_sharpe(n_trials, sr_variance)
    return probabilistic_sharpe_ratio(returns, sr_benchmark=sr0)


# --------------------------------------------------------------------------------------------------
# Probability of backtest overfitting (CSCV)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PBOResult:
    r"""Result of :func:`probability_of_backtest_overfitting`.

    Attributes
    ----------
    pbo : float
        Share of combinations with logit ``<= 0``: the probability that the in-sample best trial
        ranks at or below the out-of-sample median.
    logits : np.ndarray
        Logit :math:`\lambda_c` of every combination, in ``itertools.combinations`` order.
    n_combinations : int
        Number of combinations :math:`\binom{S}{S/2}`.
    selected_trials : np.ndarray
        Column index of the in-sample best trial in every combination.
    is_performance : np.ndarray
        In-sample performance of the selected trial in every combination.
    oos_performance : np.ndarray
        Out-of-sample performance of the selected trial in every combination.
    """

    pbo: float
    logits: np.ndarray
    n_combinations: int
    selected_trials: np.ndarray
    is_performance: np.ndarray
    oos_performance: np.ndarray


def _column_sharpe(block: np.ndarray) -> np.ndarray:
    """Per-column per-period Sharpe ratio ``mean / std(ddof=1)``; zero dispersion gives 0."""
    std = block.std(axis=0, ddof=1)
    mean = block.mean(axis=0)
    out = np.zeros(block.shape[1], dtype=float)
    ok = std > _ZERO_STD
    out[ok] = mean[ok] / std[ok]
    return out


def _evaluate(metric: PerformanceMetric, block: np.ndarray, n_trials: int) -> np.ndarray:
    perf = np.asarray(metric(block), dtype=float).reshape(-1)
    if perf.shape != (n_trials,):
        raise ValueError(f"metric must return one value per trial ({n_trials}), got shape {perf.shape}")
    if not np.all(np.isfinite(perf)):
        raise ValueError("metric returned NaN or infinite performance")
    return perf


def probability_of_backtest_overfitting(
    performance_matrix: pd.DataFrame | np.ndarray,
    n_splits: int,
    metric: PerformanceMetric | None = None,
) -> PBOResult:
    r"""Estimate the probability of backtest overfitting by combinatorially symmetric CV (CSCV).

    Bailey, Borwein, López de Prado and Zhu (2017). Let :math:`M` be the ``T x N`` matrix of
    per-period returns of ``N`` trials (strategy configurations).

    1. Split the rows of :math:`M` into ``S`` contiguous blocks (``numpy.array_split``: equal sizes
       when ``S`` divides ``T``, otherwise sizes differing by one row).
    2. For each of the :math:`\binom{S}{S/2}` combinations :math:`c` of ``S/2`` blocks, the rows of
       those blocks (in time order) form the in-sample set :math:`J`, the other blocks the
       out-of-sample set :math:`\bar J`.
    3. Evaluate the performance statistic of every trial on :math:`J` (:math:`R`) and on
       :math:`\bar J` (:math:`\bar R`); the selected trial is
       :math:`n^* = \arg\max_n R_n` (first index on ties).
    4. Its relative out-of-sample rank is :math:`\bar\omega_c = \operatorname{rank}(\bar R)_{n^*}
       / (N + 1) \in (0, 1)`, with ascending ranks ``1..N`` (1 = worst, ties get the average
       rank), and its logit :math:`\lambda_c = \ln(\bar\omega_c / (1 - \bar\omega_c))`.
    5. :math:`PBO = \frac{1}{C}\sum_c \mathbb{1}[\lambda_c \le 0]`.

    :math:`\lambda_c = 0` means the in-sample winner is exactly at the out-of-sample median and
    counts as overfit. A trial that is best both in and out of sample gives
    :math:`\lambda_c = \ln N`. The result depends on the performances only through their ranks,
    so it is unchanged by any strictly increasing transform of the metric.

    Parameters
    ----------
    performance_matrix : pd.DataFrame or np.ndarray
        ``T x N`` per-period returns (rows = time, in order; columns = trials). All values finite.
    n_splits : int
        Number of blocks ``S``: even and ``>= 2``. The cost grows as :math:`\binom{S}{S/2}`
        (12,870 combinations for ``S = 16``).
    metric : callable, optional
        Maps a ``rows x N`` array to ``N`` finite performance values (higher is better). Default:
        per-period Sharpe ratio ``mean / std(ddof=1)`` of each column (0 for zero dispersion).

    Returns
    -------
    PBOResult
        PBO, per-combination logits, the combination count and the selected trials' in-sample /
        out-of-sample performance.

    Raises
    ------
    ValueError
        If ``n_splits`` is odd or ``< 2``, the matrix is not 2-D, has fewer than two trials, fewer
        rows than ``n_splits`` or fewer than two rows in a half, contains NaN/inf, or the metric
        returns a wrong shape or non-finite values.

    References
    ----------
    .. [1] Bailey, D. H., Borwein, J. M., López de Prado, M. and Zhu, Q. J. (2017).
       "The Probability of Backtest Overfitting". Journal of Computational Finance 20(4), 39-69.
    """
    if isinstance(n_splits, bool) or int(n_splits) != n_splits or n_splits < 2 or n_splits % 2:
        raise ValueError(f"n_splits must be an even integer >= 2, got {n_splits}")
    s = int(n_splits)
    m = np.asarray(performance_matrix, dtype=float)
    if m.ndim != 2:
        raise ValueError(f"performance_matrix must be 2-D (T x N), got shape {m.shape}")
    n_rows, n_trials = m.shape
    if n_trials < 2:
        raise ValueError(f"need at least two trials (columns), got {n_trials}")
    if n_rows < s:
        raise ValueError(f"need at least n_splits={s} rows, got {n_rows}")
    if not np.all(np.isfinite(m)):
        raise ValueError("performance_matrix must not contain NaN or infinite values")
    blocks = np.array_split(np.arange(n_rows), s)
    min_half = sum(sorted(len(b) for b in blocks)[: s // 2])
    if min_half < 2:
        raise ValueError(f"need at least two rows in each half; got {n_rows} rows for {s} splits")
    fn: PerformanceMetric = _column_sharpe if metric is None else metric

    combos = list(itertools.combinations(range(s), s // 2))
    n_comb = len(combos)
    logits = np.empty(n_comb)
    selected = np.empty(n_comb, dtype=int)
    is_perf = np.empty(n_comb)
    oos_perf = np.empty(n_comb)
    for i, combo in enumerate(combos):
        in_set = set(combo)
        is_rows = np.concatenate([blocks[k] for k in range(s) if k in in_set])
        oos_rows = np.concatenate([blocks[k] for k in range(s) if k not in in_set])
        r_is = _evaluate(fn, m[is_rows], n_trials)
        r_oos = _evaluate(fn, m[oos_rows], n_trials)
        best = int(np.argmax(r_is))
        omega = float(stats.rankdata(r_oos, method="average")[best]) / (n_trials + 1.0)
        logits[i] = math.log(omega / (1.0 - omega))
        selected[i] = best
        is_perf[i] = r_is[best]
        oos_perf[i] = r_oos[best]
    pbo = float(np.mean(logits <= 0.0))
    return PBOResult(pbo, logits, n_comb, selected, is_perf, oos_perf)
