r"""Value at risk, expected shortfall (CVaR) and the pre-trade CVaR budget check.

Conventions
-----------
* Losses are positive: ``L = -R`` for a P&L ``R`` in units of equity; a VaR or CVaR of 0.03 means a
  loss of 3% of equity over the scenario horizon.
* ``alpha`` is the confidence level (0.95 or 0.99), not the tail probability.
* Historical estimator on ``n`` equally weighted scenarios with sorted losses
  ``L_(1) <= ... <= L_(n)``:

  .. math::

      \mathrm{VaR}_\alpha = L_{(\lceil n\alpha \rceil)}, \qquad
      \mathrm{CVaR}_\alpha = \mathrm{VaR}_\alpha + \frac{1}{n(1-\alpha)} \sum_{k=1}^{n}
          \left(L_{(k)} - \mathrm{VaR}_\alpha\right)^+

  the Rockafellar-Uryasev (2002) form, which is the exact expected shortfall of the empirical
  distribution (Acerbi and Tasche, 2002): it averages the worst ``n(1-alpha)`` losses, counting the
  boundary scenario fractionally. With ``n = 20`` and ``alpha = 0.95`` it is the worst loss; at
  ``alpha = 0.90`` the mean of the two worst. It is the ``CVaR_Hist`` of riskfolio-lib with
  ``alpha_riskfolio = 1 - alpha``. For a normal ``N(mu, sigma^2)`` loss it tends to
  ``mu + sigma * phi(z_alpha) / (1 - alpha)``.

The budget check
----------------
:func:`cvar_check` compares the CVaR of the current book ``w_0`` and of the proposed book ``w_1`` over
the same scenarios. The P&L is linear in the weights, so ``f(s) = CVaR(w_0 + s (w_1 - w_0))`` is convex
in ``s`` (CVaR is a coherent risk measure): when ``f(0) <= B < f(1)`` the scales within budget form an
interval ``[0, s*]`` and bisection finds ``s*``.

References
----------
Rockafellar, R. T., Uryasev, S. (2002). Conditional value-at-risk for general loss distributions.
Journal of Banking & Finance 26(7).
Acerbi, C., Tasche, D. (2002). On the coherence of expected shortfall. Journal of Banking & Finance 26(7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.risk.montecarlo import horizon_returns

FloatArray = npt.NDArray[np.float64]
RISK_LEVELS = (0.95, 0.99)
"""The confidence levels reported by :func:`tail_risk`."""


def _losses(pnl: FloatArray | list[float]) -> FloatArray:
    values = np.asarray(pnl, dtype=np.float64).ravel()
    if values.size == 0:
        raise DataError("VaR/CVaR need at least one scenario P&L, got none")
    if not np.all(np.isfinite(values)):
        raise DataError("VaR/CVaR: scenario P&L must be finite; found NaN or inf")
    return np.sort(-values)


def _check_level(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"confidence level alpha must be in (0, 1), for example 0.95, was {alpha}")


def _var_of_sorted(losses: FloatArray, alpha: float) -> float:
    rank = math.ceil(losses.size * alpha - 1e-9)  # 1-based order statistic; tolerance for n*alpha
    return float(losses[min(max(rank, 1), losses.size) - 1])


def value_at_risk(pnl: FloatArray | list[float], alpha: float = 0.95) -> float:
    """Return the historical VaR ``L_(ceil(n alpha))`` of scenario P&L (losses positive).

    Parameters
    ----------
    pnl : array-like
        P&L per scenario (gains positive).
    alpha : float
        Confidence level.

    Returns
    -------
    float
        The loss not exceeded with probability ``alpha``.

    """
    _check_level(alpha)
    return _var_of_sorted(_losses(pnl), alpha)


def conditional_value_at_risk(pnl: FloatArray | list[float], alpha: float = 0.95) -> float:
    """Return the historical CVaR (expected shortfall) of scenario P&L (losses positive).

    ``CVaR = VaR + sum_k (L_k - VaR)^+ / (n (1 - alpha))``; see the module conventions.

    Parameters
    ----------
    pnl : array-like
        P&L per scenario (gains positive).
    alpha : float
        Confidence level.

    Returns
    -------
    float
        The mean loss in the worst ``1 - alpha`` of scenarios.

    """
    _check_level(alpha)
    losses = _losses(pnl)
    var = _var_of_sorted(losses, alpha)
    excess = np.maximum(losses - var, 0.0).sum()
    return float(var + excess / (losses.size * (1.0 - alpha)))


@dataclass(frozen=True)
class TailRisk:
    """VaR and CVaR of a P&L distribution at 95% and 99% (losses positive, units of equity).

    Attributes
    ----------
    var_95, cvar_95, var_99, cvar_99 : float
        The historical estimates.

    """

    var_95: float
    cvar_95: float
    var_99: float
    cvar_99: float


def tail_risk(pnl: FloatArray | list[float]) -> TailRisk:
    """Return VaR and CVaR at the 95% and 99% levels."""
    return TailRisk(
        var_95=value_at_risk(pnl, 0.95),
        cvar_95=conditional_value_at_risk(pnl, 0.95),
        var_99=value_at_risk(pnl, 0.99),
        cvar_99=conditional_value_at_risk(pnl, 0.99),
    )


def _compounded(scenarios: FloatArray) -> FloatArray:
    array = np.asarray(scenarios, dtype=np.float64)
    compounded = horizon_returns(array) if array.ndim == 3 else array
    if compounded.ndim != 2:
        raise DataError(
            f"scenarios must be (n_scenarios, horizon, N) or (n_scenarios, N), got shape {array.shape}"
        )
    if not np.all(np.isfinite(compounded)):
        raise DataError("scenarios must be finite; found NaN or inf")
    return compounded


def portfolio_cvar(weights: FloatArray, scenarios: FloatArray, alpha: float = 0.95) -> float:
    """Return the CVaR of the book ``weights`` over ``scenarios`` (see :func:`portfolio_pnl`).

    Parameters
    ----------
    weights : ndarray
        ``(N,)`` signed weights.
    scenarios : ndarray
        ``(n_scenarios, horizon, N)`` per-bar returns or ``(n_scenarios, N)`` horizon returns.
    alpha : float
        Confidence level.

    Returns
    -------
    float
        CVaR in units of equity (losses positive).

    """
    compounded = _compounded(scenarios)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (compounded.shape[1],):
        raise DataError(
            f"portfolio_cvar: {w.size} weights for {compounded.shape[1]} instruments in the scenarios"
        )
    return conditional_value_at_risk(compounded @ w, alpha)


@dataclass(frozen=True)
class RiskDecision:
    """The outcome of the CVaR budget check of a proposed change of the book.

    Attributes
    ----------
    action : {"accept", "shrink", "reject"}
        Trade the whole change, a fraction ``scale`` of it, or none of it.
    scale : float
        Fraction of the change allowed: 1 (accept), in (0, 1) (shrink), 0 (reject).
    cvar_before : float
        CVaR of the current book.
    cvar_after : float
        CVaR of the book after the allowed change.
    reason : str
        Why, for logs and the API.

    """

    action: Literal["accept", "shrink", "reject"]
    scale: float
    cvar_before: float
    cvar_after: float
    reason: str


def cvar_check(
    current_weights: FloatArray,
    proposed_weights: FloatArray,
    scenarios: FloatArray,
    budget: float,
    alpha: float = 0.95,
    tolerance: float = 1e-4,
    max_iterations: int = 60,
) -> RiskDecision:
    """Accept, shrink or reject the move from ``current_weights`` to ``proposed_weights`` under a CVaR budget.

    With ``w(s) = w_0 + s (w_1 - w_0)`` and ``f(s) = CVaR_alpha(w(s))``:

    * ``f(1) <= B``: accept (``s = 1``);
    * ``f(0) > B`` and ``f(1) <= f(0)``: accept, the change reduces risk of a book already over budget;
    * ``f(0) > B`` and ``f(1) > f(0)``: reject (``s = 0``), the change adds risk to a book over budget;
    * otherwise (``f(0) <= B < f(1)``): bisect for the largest ``s`` with ``f(s) <= B`` (to ``tolerance``
      in ``s``, keeping the feasible end); shrink to it, or reject when it is 0.

    The allowed book always has ``CVaR <= B`` unless the current book was already over budget, and then
    its CVaR never rises.

    Parameters
    ----------
    current_weights : ndarray
        ``(N,)`` weights held now.
    proposed_weights : ndarray
        ``(N,)`` weights wanted.
    scenarios : ndarray
        ``(n_scenarios, horizon, N)`` per-bar returns or ``(n_scenarios, N)`` horizon returns.
    budget : float
        CVaR budget ``B`` in units of equity (positive).
    alpha : float
        Confidence level of the CVaR.
    tolerance : float
        Bisection stops when the bracket on ``s`` is narrower than this.
    max_iterations : int
        Bisection steps at most.

    Returns
    -------
    RiskDecision
        The action, the scale and the CVaR before and after.

    """
    if not math.isfinite(budget) or budget <= 0.0:
        raise ConfigError(f"cvar_check: budget must be a positive CVaR in units of equity, was {budget}")
    _check_level(alpha)
    compounded = _compounded(scenarios)
    current = np.asarray(current_weights, dtype=np.float64)
    proposed = np.asarray(proposed_weights, dtype=np.float64)
    n_instruments = compounded.shape[1]
    if current.shape != (n_instruments,) or proposed.shape != (n_instruments,):
        raise DataError(
            f"cvar_check: weights of shapes {current.shape} and {proposed.shape} do not match the "
            f"{n_instruments} instruments of the scenarios"
        )
    pnl_current = compounded @ current
    pnl_change = compounded @ (proposed - current)

    def cvar_at(scale: float) -> float:
        return conditional_value_at_risk(pnl_current + scale * pnl_change, alpha)

    before = cvar_at(0.0)
    after = cvar_at(1.0)
    label = f"CVaR{round(alpha * 100)}"
    if after <= budget:
        return RiskDecision("accept", 1.0, before, after, f"{label} {after:.4%} within budget {budget:.4%}")
    if before > budget:
        if after <= before:
            reason = (
                f"book over budget ({label} {before:.4%} > {budget:.4%}); the change lowers it to {after:.4%}"
            )
            return RiskDecision("accept", 1.0, before, after, reason)
        reason = (
            f"book already over budget ({label} {before:.4%} > {budget:.4%}) and the change raises it to "
            f"{after:.4%}"
        )
        return RiskDecision("reject", 0.0, before, before, reason)
    low, high = 0.0, 1.0
    for _ in range(max_iterations):
        if high - low <= tolerance:
            break
        middle = 0.5 * (low + high)
        if cvar_at(middle) <= budget:
            low = middle
        else:
            high = middle
    if low <= 0.0:
        reason = (
            f"no fraction of the change fits: {label} would rise from {before:.4%} over budget {budget:.4%}"
        )
        return RiskDecision("reject", 0.0, before, before, reason)
    shrunk = cvar_at(low)
    reason = (
        f"{label} {after:.4%} over budget {budget:.4%}; change shrunk to {low:.2%} of its size "
        f"({label} {shrunk:.4%})"
    )
    return RiskDecision("shrink", low, before, shrunk, reason)
