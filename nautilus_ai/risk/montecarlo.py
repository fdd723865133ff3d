r"""Monte Carlo scenario generators for portfolio P&L: historical, block bootstrap, Student-t, GARCH.

Every generator takes a ``(T, N)`` matrix of per-bar simple returns of ``N`` instruments (the training
window, oldest first) and returns an array of shape ``(n_scenarios, horizon, N)`` of simulated per-bar
simple returns. A book of weights ``w`` (notional over equity, held through the horizon) then earns

.. math::

    R_s = \sum_i w_i \left(\prod_{t=1}^{h} (1 + r_{s,t,i}) - 1\right)

(:func:`portfolio_pnl`), a P&L in units of equity, linear in ``w``: so CVaR over the scenarios is a
convex function of the weights, which :func:`nautilus_ai.risk.cvar.cvar_check` relies on.

Generators
----------
* :func:`historical_scenarios`: every overlapping ``horizon``-bar window of the history (no model).
* :func:`block_bootstrap_scenarios`: the stationary bootstrap of Politis and Romano (1994), blocks of
  geometric length with mean ``block_length``, or the circular block bootstrap (fixed blocks wrapping
  around the end); rows are drawn whole, so cross-sectional dependence is kept.
* :func:`student_t_scenarios`: i.i.d. multivariate Student-t with the sample mean, the shape matrix
  ``S (nu - 2) / nu`` (so the covariance equals the sample covariance ``S``) and ``nu`` given or fitted
  by maximum likelihood.
* :func:`garch_scenarios`: a GARCH(1,1) per instrument fitted with ``arch``
  (``sigma_t^2 = omega + alpha * eps_{t-1}^2 + beta * sigma_{t-1}^2``), started from the last fitted
  state, driven by Gaussian shocks with the constant correlation of the standardized residuals
  (Bollerslev, 1990).

Every random draw comes from ``numpy.random.default_rng(seed)``: one seed, one set of scenarios.

References
----------
Politis, D. N., Romano, J. P. (1994). The Stationary Bootstrap. JASA 89(428).
Bollerslev, T. (1990). Modelling the Coherence in Short-Run Nominal Exchange Rates: A Multivariate
Generalized ARCH Model. Review of Economics and Statistics 72(3).
McNeil, A. J., Frey, R., Embrechts, P. (2015). Quantitative Risk Management, 2nd ed., ch. 2 and 6.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize, stats

from nautilus_ai.errors import ConfigError, DataError

FloatArray = npt.NDArray[np.float64]
ReturnsLike = FloatArray | pd.DataFrame

_GARCH_SCALE = 100.0  # fit on percent returns: better conditioned for the optimizer


def as_return_matrix(returns: ReturnsLike, minimum_rows: int = 2) -> FloatArray:
    """Return ``returns`` as a finite ``(T, N)`` float array, ``T >= minimum_rows``.

    Raises
    ------
    DataError
        If the matrix is not two-dimensional, too short, or holds NaN or inf (naming the column).

    """
    matrix = np.asarray(returns, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    if matrix.ndim != 2:
        raise DataError(f"returns must be a (T, N) matrix, got shape {matrix.shape}")
    if matrix.shape[0] < minimum_rows or matrix.shape[1] < 1:
        raise DataError(f"returns need at least {minimum_rows} rows and 1 column, got shape {matrix.shape}")
    bad = ~np.isfinite(matrix)
    if bad.any():
        row, column = (int(v) for v in np.argwhere(bad)[0])
        name = str(returns.columns[column]) if isinstance(returns, pd.DataFrame) else str(column)
        raise DataError(
            "returns must be finite (drop or fill missing bars before simulating)",
            row=row + 1,
            field=name,
        )
    return matrix


def _check_sizes(n_scenarios: int, horizon: int) -> None:
    if n_scenarios < 1:
        raise ConfigError(f"n_scenarios must be >= 1, was {n_scenarios}")
    if horizon < 1:
        raise ConfigError(f"horizon must be >= 1, was {horizon}")


def historical_scenarios(returns: ReturnsLike, horizon: int) -> FloatArray:
    """Return every overlapping ``horizon``-bar window of the history.

    Parameters
    ----------
    returns : ndarray or DataFrame
        ``(T, N)`` per-bar simple returns.
    horizon : int
        Bars per scenario.

    Returns
    -------
    ndarray
        Shape ``(T - horizon + 1, horizon, N)``; scenario ``s`` is rows ``s .. s + horizon - 1``.

    """
    _check_sizes(1, horizon)
    matrix = as_return_matrix(returns, minimum_rows=horizon)
    windows = np.lib.stride_tricks.sliding_window_view(matrix, horizon, axis=0)  # (S, N, h)
    return np.ascontiguousarray(np.transpose(windows, (0, 2, 1)))


def bootstrap_indices(
    n_rows: int,
    n_scenarios: int,
    horizon: int,
    block_length: float,
    rng: np.random.Generator,
    method: Literal["stationary", "circular"] = "stationary",
) -> npt.NDArray[np.int64]:
    """Return ``(n_scenarios, horizon)`` row indices of a stationary or circular block bootstrap.

    Stationary: the first row of each scenario is uniform; each next row is the following one
    (wrapping around) with probability ``1 - 1/block_length``, else a new uniform row. Circular: a new
    uniform start every ``round(block_length)`` rows, consecutive (wrapping) rows in between.
    """
    if not block_length >= 1.0:
        raise ConfigError(f"block_length must be >= 1, was {block_length}")
    starts = rng.integers(0, n_rows, size=(n_scenarios, horizon))
    if method == "stationary":
        new_block = rng.random((n_scenarios, horizon)) < 1.0 / block_length
    elif method == "circular":
        length = max(1, round(block_length))
        new_block = np.broadcast_to(
            (np.arange(horizon) % length == 0)[None, :], (n_scenarios, horizon)
        ).copy()
    else:
        raise ConfigError(f"method must be 'stationary' or 'circular', was {method!r}")
    new_block[:, 0] = True
    index = np.empty((n_scenarios, horizon), dtype=np.int64)
    index[:, 0] = starts[:, 0]
    for t in range(1, horizon):
        index[:, t] = np.where(new_block[:, t], starts[:, t], (index[:, t - 1] + 1) % n_rows)
    return index


def block_bootstrap_scenarios(
    returns: ReturnsLike,
    n_scenarios: int,
    horizon: int,
    block_length: float,
    seed: int,
    method: Literal["stationary", "circular"] = "stationary",
) -> FloatArray:
    """Return block-bootstrap scenarios: whole rows of history resampled in blocks.

    Parameters
    ----------
    returns : ndarray or DataFrame
        ``(T, N)`` per-bar simple returns.
    n_scenarios : int
        Scenarios to draw.
    horizon : int
        Bars per scenario.
    block_length : float
        Mean block length (stationary) or the block length (circular), in bars; about ``T^(1/3)`` is a
        common choice.
    seed : int
        Seed of the generator.
    method : {"stationary", "circular"}
        Politis-Romano stationary bootstrap or circular block bootstrap.

    Returns
    -------
    ndarray
        Shape ``(n_scenarios, horizon, N)``.

    """
    _check_sizes(n_scenarios, horizon)
    matrix = as_return_matrix(returns)
    rng = np.random.default_rng(seed)
    index = bootstrap_indices(matrix.shape[0], n_scenarios, horizon, block_length, rng, method)
    return matrix[index]


@dataclass(frozen=True)
class StudentTFit:
    """A multivariate Student-t fitted to returns.

    Attributes
    ----------
    mean : ndarray
        Location ``mu`` (the sample mean).
    shape : ndarray
        Shape matrix ``Sigma = S (nu - 2) / nu`` (``S`` the sample covariance).
    dof : float
        Degrees of freedom ``nu > 2``.

    """

    mean: FloatArray
    shape: FloatArray
    dof: float


def fit_student_t(
    returns: ReturnsLike, dof: float | None = None, dof_bounds: tuple[float, float] = (2.1, 200.0)
) -> StudentTFit:
    """Fit a multivariate Student-t by moment-matched shape and profile likelihood in ``nu``.

    ``mu`` is the sample mean and ``Sigma(nu) = S (nu - 2) / nu`` keeps the covariance at the sample
    covariance ``S``; ``nu`` maximizes ``sum_t log t_nu(r_t; mu, Sigma(nu))`` over ``dof_bounds``
    (bounded Brent search) unless given.

    Parameters
    ----------
    returns : ndarray or DataFrame
        ``(T, N)`` returns.
    dof : float, optional
        Fixed degrees of freedom (``> 2``).
    dof_bounds : tuple of float
        Search interval of ``nu``.

    Returns
    -------
    StudentTFit
        Location, shape and degrees of freedom.

    """
    matrix = as_return_matrix(returns, minimum_rows=3)
    mean = matrix.mean(axis=0)
    covariance = np.atleast_2d(np.cov(matrix, rowvar=False))
    covariance = covariance + np.eye(covariance.shape[0]) * 1e-12 * max(1.0, float(np.trace(covariance)))
    if dof is not None:
        if not dof > 2.0:
            raise ConfigError(f"fit_student_t: dof must be > 2 (finite variance), was {dof}")
        return StudentTFit(mean, covariance * (dof - 2.0) / dof, float(dof))

    def negative_log_likelihood(nu: float) -> float:
        shape = covariance * (nu - 2.0) / nu
        return -float(stats.multivariate_t(loc=mean, shape=shape, df=nu).logpdf(matrix).sum())

    result = optimize.minimize_scalar(negative_log_likelihood, bounds=dof_bounds, method="bounded")
    nu = float(result.x)
    return StudentTFit(mean, covariance * (nu - 2.0) / nu, nu)


def student_t_scenarios(
    returns: ReturnsLike,
    n_scenarios: int,
    horizon: int,
    seed: int,
    dof: float | None = None,
) -> FloatArray:
    """Return i.i.d. multivariate Student-t scenarios fitted by :func:`fit_student_t`.

    ``r = mu + Z / sqrt(W / nu)`` with ``Z ~ N(0, Sigma)`` and ``W ~ chi^2_nu``, per bar and scenario.

    Parameters
    ----------
    returns : ndarray or DataFrame
        ``(T, N)`` returns.
    n_scenarios, horizon : int
        Output size.
    seed : int
        Seed of the generator.
    dof : float, optional
        Fixed ``nu``; fitted by maximum likelihood when omitted.

    Returns
    -------
    ndarray
        Shape ``(n_scenarios, horizon, N)``.

    """
    _check_sizes(n_scenarios, horizon)
    fit = fit_student_t(returns, dof)
    rng = np.random.default_rng(seed)
    n_instruments = fit.mean.size
    chol = np.linalg.cholesky(fit.shape)
    normal = rng.standard_normal((n_scenarios, horizon, n_instruments)) @ chol.T
    chi2 = rng.chisquare(fit.dof, size=(n_scenarios, horizon, 1))
    return np.asarray(fit.mean + normal / np.sqrt(chi2 / fit.dof), dtype=np.float64)


@dataclass(frozen=True)
class GarchFit:
    """GARCH(1,1) parameters of one instrument and its last state, in return units (not percent).

    Attributes
    ----------
    mu, omega, alpha, beta : float
        ``r_t = mu + eps_t``, ``sigma_t^2 = omega + alpha * eps_{t-1}^2 + beta * sigma_{t-1}^2``.
    last_variance : float
        ``sigma_T^2``, the fitted conditional variance of the last bar.
    last_residual : float
        ``eps_T``, the last residual.
    standardized_residuals : ndarray
        ``eps_t / sigma_t`` over the window.

    """

    mu: float
    omega: float
    alpha: float
    beta: float
    last_variance: float
    last_residual: float
    standardized_residuals: FloatArray


def fit_garch(series: FloatArray) -> GarchFit:
    """Fit a constant-mean GARCH(1,1) with normal innovations to one return series with ``arch``.

    The fit runs on percent returns (``100 r``) for the optimizer's sake and the parameters are mapped
    back: ``mu / 100``, ``omega / 100^2``; ``alpha`` and ``beta`` are scale-free.
    """
    from arch import arch_model  # deferred: a heavy import, needed only for GARCH

    values = np.asarray(series, dtype=np.float64) * _GARCH_SCALE
    if values.size < 30:
        raise DataError(f"fit_garch: a GARCH(1,1) fit needs at least 30 returns, got {values.size}")
    model = arch_model(values, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = model.fit(disp="off", show_warning=False)
    params = result.params
    conditional = np.asarray(result.conditional_volatility, dtype=np.float64)
    residuals = np.asarray(result.resid, dtype=np.float64)
    scale2 = _GARCH_SCALE**2
    return GarchFit(
        mu=float(params["mu"]) / _GARCH_SCALE,
        omega=float(params["omega"]) / scale2,
        alpha=float(params["alpha[1]"]),
        beta=float(params["beta[1]"]),
        last_variance=float(conditional[-1] ** 2) / scale2,
        last_residual=float(residuals[-1]) / _GARCH_SCALE,
        standardized_residuals=residuals / conditional,
    )


def garch_scenarios(returns: ReturnsLike, n_scenarios: int, horizon: int, seed: int) -> FloatArray:
    """Return GARCH(1,1) paths per instrument with constant-correlation Gaussian shocks.

    Per instrument ``i`` (fitted by :func:`fit_garch`) and scenario, from the last fitted state::

        sigma_1^2 = omega + alpha * eps_T^2 + beta * sigma_T^2
        eps_t     = sigma_t * z_t,   z_t ~ N(0, R)   (R: correlation of standardized residuals)
        sigma_{t+1}^2 = omega + alpha * eps_t^2 + beta * sigma_t^2
        r_t       = mu + eps_t

    Parameters
    ----------
    returns : ndarray or DataFrame
        ``(T, N)`` returns, ``T >= 30``.
    n_scenarios, horizon : int
        Output size.
    seed : int
        Seed of the generator.

    Returns
    -------
    ndarray
        Shape ``(n_scenarios, horizon, N)``.

    """
    _check_sizes(n_scenarios, horizon)
    matrix = as_return_matrix(returns, minimum_rows=30)
    fits = [fit_garch(matrix[:, i]) for i in range(matrix.shape[1])]
    residuals = np.column_stack([fit.standardized_residuals for fit in fits])
    correlation = np.atleast_2d(np.corrcoef(residuals, rowvar=False)) if len(fits) > 1 else np.ones((1, 1))
    correlation = np.nan_to_num(correlation, nan=0.0)
    np.fill_diagonal(correlation, 1.0)
    chol = np.linalg.cholesky(correlation + np.eye(len(fits)) * 1e-10)

    def column(name: str) -> FloatArray:
        return np.array([getattr(fit, name) for fit in fits], dtype=np.float64)

    mu, omega, alpha, beta = column("mu"), column("omega"), column("alpha"), column("beta")
    rng = np.random.default_rng(seed)
    shocks = rng.standard_normal((n_scenarios, horizon, len(fits))) @ chol.T
    variance = np.broadcast_to(
        omega + alpha * column("last_residual") ** 2 + beta * column("last_variance"),
        (n_scenarios, len(fits)),
    ).copy()
    out = np.empty((n_scenarios, horizon, len(fits)))
    for t in range(horizon):
        eps = np.sqrt(variance) * shocks[:, t, :]
        out[:, t, :] = mu + eps
        variance = omega + alpha * eps**2 + beta * variance
    return out


def horizon_returns(scenarios: FloatArray) -> FloatArray:
    """Return ``prod_t (1 + r_{s,t,i}) - 1``: each instrument's compounded return per scenario.

    Parameters
    ----------
    scenarios : ndarray
        ``(n_scenarios, horizon, N)`` per-bar simple returns.

    Returns
    -------
    ndarray
        Shape ``(n_scenarios, N)``.

    """
    array = np.asarray(scenarios, dtype=np.float64)
    if array.ndim != 3:
        raise DataError(f"scenarios must have shape (n_scenarios, horizon, N), got {array.shape}")
    return np.asarray(np.expm1(np.log1p(array).sum(axis=1)), dtype=np.float64)


def portfolio_pnl(scenarios: FloatArray, weights: FloatArray) -> FloatArray:
    """Return the book's P&L per scenario in units of equity: ``horizon_returns(scenarios) @ w``.

    Parameters
    ----------
    scenarios : ndarray
        ``(n_scenarios, horizon, N)`` or already compounded ``(n_scenarios, N)`` returns.
    weights : ndarray
        ``(N,)`` signed weights held through the horizon.

    Returns
    -------
    ndarray
        Shape ``(n_scenarios,)``; positive is a gain.

    """
    array = np.asarray(scenarios, dtype=np.float64)
    compounded = horizon_returns(array) if array.ndim == 3 else array
    w = np.asarray(weights, dtype=np.float64)
    if compounded.ndim != 2 or compounded.shape[1] != w.size:
        raise DataError(
            f"portfolio_pnl: {w.size} weights do not match scenarios of shape {array.shape} "
            "(expected one weight per instrument, the last axis)"
        )
    return np.asarray(compounded @ w, dtype=np.float64)


def default_block_length(n_rows: int) -> float:
    """Return ``max(1, T^(1/3))``, a common rule-of-thumb block length for ``T`` rows."""
    return max(1.0, math.pow(n_rows, 1.0 / 3.0))
