"""Numeric kernels of the regime models: pure functions over arrays, no state and no I/O.

* Gaussian log densities from precomputed Cholesky factors of the precision matrices.
* The HMM forward filter, one observation at a time in log space (:func:`hmm_forward_step`), and
  its batch form (:func:`hmm_forward_filter`), which only repeats the step.
* Mixture posteriors (:func:`mixture_posterior`) and soft k-means memberships
  (:func:`soft_kmeans_probabilities`).
* Minimum-dwell / margin hysteresis of the published regime (:func:`hysteresis_step`).

The estimator classes that hold fitted parameters and the online state live in
:mod:`nautilus_ai.learning.regime_models`; the naming of states in
:mod:`nautilus_ai.learning.regime_naming`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

_LOG_2PI = math.log(2.0 * math.pi)


def precision_cholesky(covariances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Return the upper Cholesky factors of the precision matrices and their log determinants.

    For each covariance :math:`\Sigma_k = L_k L_k^\top` (lower Cholesky factor :math:`L_k`), the
    factor :math:`U_k = L_k^{-\top}` satisfies :math:`\Sigma_k^{-1} = U_k U_k^\top`, so that
    :math:`(x-\mu)^\top \Sigma_k^{-1} (x-\mu) = \lVert (x-\mu)^\top U_k \rVert^2` and
    :math:`\tfrac12 \log\det \Sigma_k^{-1} = \sum_i \log (U_k)_{ii}`.

    Parameters
    ----------
    covariances : np.ndarray
        Shape ``(K, d, d)``, symmetric positive definite.

    Returns
    -------
    tuple[np.ndarray, np.ndarray]
        ``U`` of shape ``(K, d, d)`` and ``half_log_det`` of shape ``(K,)``
        (:math:`\sum_i \log U_{k,ii}`).

    Raises
    ------
    np.linalg.LinAlgError
        If a covariance is not positive definite.

    """
    covariances = np.asarray(covariances, dtype=np.float64)
    n_states, dim, _ = covariances.shape
    factors = np.empty_like(covariances)
    for k in range(n_states):
        lower = np.linalg.cholesky(covariances[k])
        factors[k] = np.linalg.solve(lower, np.eye(dim)).T
    half_log_det = np.log(np.diagonal(factors, axis1=1, axis2=2)).sum(axis=1)
    return factors, half_log_det


def gaussian_log_density(
    x: np.ndarray, means: np.ndarray, precision_factors: np.ndarray, half_log_det: np.ndarray
) -> np.ndarray:
    r"""Return :math:`\log \mathcal N(x \mid \mu_k, \Sigma_k)` for every state ``k``.

    .. math::
        \log \mathcal N(x \mid \mu_k, \Sigma_k) = -\tfrac12 \bigl(d \log 2\pi
        + \lVert (x-\mu_k)^\top U_k \rVert^2\bigr) + \sum_i \log U_{k,ii}

    Parameters
    ----------
    x : np.ndarray
        One observation, shape ``(d,)``.
    means : np.ndarray
        Shape ``(K, d)``.
    precision_factors, half_log_det : np.ndarray
        From :func:`precision_cholesky`.

    Returns
    -------
    np.ndarray
        Shape ``(K,)``.

    """
    centered = x[np.newaxis, :] - means  # (K, d)
    projected = np.matmul(centered[:, np.newaxis, :], precision_factors)[:, 0, :]  # (K, d)
    return -0.5 * (means.shape[1] * _LOG_2PI + np.square(projected).sum(axis=1)) + half_log_det


def log_normalize(log_weights: np.ndarray) -> np.ndarray:
    r"""Return :math:`\log p_k = a_k - \log \sum_j e^{a_j}` (a log-space softmax).

    Raises
    ------
    FloatingPointError
        If every weight is :math:`-\infty` (no state can explain the observation).

    """
    peak = float(np.max(log_weights))
    if not math.isfinite(peak):
        raise FloatingPointError(f"cannot normalize log weights {log_weights.tolist()}")
    return log_weights - (peak + math.log(float(np.exp(log_weights - peak).sum())))


def hmm_forward_step(
    log_previous: np.ndarray | None,
    log_emission: np.ndarray,
    log_startprob: np.ndarray,
    log_transmat: np.ndarray,
) -> np.ndarray:
    r"""Advance the HMM forward filter by one observation (log space, :math:`O(K^2)`).

    With :math:`\hat\alpha_{t-1}(i) = P(s_{t-1}=i \mid x_{1..t-1})`,

    .. math::
        \log \hat\alpha_t(j) = \log b_j(x_t)
            + \operatorname{logsumexp}_i\bigl(\log \hat\alpha_{t-1}(i) + \log A_{ij}\bigr)
            - \log c_t,

    where :math:`b_j(x_t)` is the emission density, :math:`A` the transition matrix and
    :math:`c_t` the normalizer that makes :math:`\hat\alpha_t` a distribution; at the first step
    :math:`\log \hat\alpha_1(j) = \log \pi_j + \log b_j(x_1) - \log c_1`. The result is the
    filtered probability :math:`P(s_t = j \mid x_{1..t})`: it uses no later observation.

    Parameters
    ----------
    log_previous : np.ndarray or None
        :math:`\log \hat\alpha_{t-1}`, shape ``(K,)``; ``None`` at the first observation.
    log_emission : np.ndarray
        :math:`\log b_j(x_t)`, shape ``(K,)``.
    log_startprob : np.ndarray
        :math:`\log \pi`, shape ``(K,)``.
    log_transmat : np.ndarray
        :math:`\log A`, shape ``(K, K)``, rows = from-state.

    Returns
    -------
    np.ndarray
        :math:`\log \hat\alpha_t`, shape ``(K,)``.

    """
    if log_previous is None:
        predicted = log_startprob
    else:
        joint = log_previous[:, np.newaxis] + log_transmat  # (from i, to j)
        peak = joint.max(axis=0)
        safe_peak = np.where(np.isfinite(peak), peak, 0.0)
        with np.errstate(divide="ignore"):
            predicted = safe_peak + np.log(np.exp(joint - safe_peak).sum(axis=0))
    return log_normalize(predicted + log_emission)


def hmm_forward_filter(
    log_emissions: np.ndarray, log_startprob: np.ndarray, log_transmat: np.ndarray
) -> np.ndarray:
    r"""Return the filtered probabilities of every row by repeating :func:`hmm_forward_step`.

    Parameters
    ----------
    log_emissions : np.ndarray
        Shape ``(n, K)``.
    log_startprob, log_transmat : np.ndarray
        As in :func:`hmm_forward_step`.

    Returns
    -------
    np.ndarray
        :math:`P(s_t \mid x_{1..t})`, shape ``(n, K)``.

    """
    out = np.empty_like(log_emissions, dtype=np.float64)
    log_alpha: np.ndarray | None = None
    for t in range(log_emissions.shape[0]):
        log_alpha = hmm_forward_step(log_alpha, log_emissions[t], log_startprob, log_transmat)
        out[t] = np.exp(log_alpha)
    return out


def mixture_posterior(log_emission: np.ndarray, log_weights: np.ndarray) -> np.ndarray:
    r"""Return the mixture responsibilities :math:`p_k \propto w_k\, \mathcal N(x \mid \mu_k, \Sigma_k)`.

    Parameters
    ----------
    log_emission : np.ndarray
        :math:`\log \mathcal N(x \mid \mu_k, \Sigma_k)`, shape ``(K,)``.
    log_weights : np.ndarray
        :math:`\log w_k`, shape ``(K,)``.

    Returns
    -------
    np.ndarray
        Probabilities, shape ``(K,)``, summing to one.

    """
    return np.exp(log_normalize(log_weights + log_emission))


def soft_kmeans_probabilities(x: np.ndarray, centers: np.ndarray, beta: float) -> np.ndarray:
    r"""Return soft k-means memberships: a softmax of negative squared distances.

    .. math::
        p_k = \frac{\exp(-\beta \lVert x - c_k \rVert^2)}{\sum_j \exp(-\beta \lVert x - c_j \rVert^2)}

    With :math:`\beta = 1 / (2 s^2)` this is the posterior of an equal-weight mixture of isotropic
    Gaussians of variance :math:`s^2` centred on the k-means centres; its arg max is the k-means
    assignment.

    Parameters
    ----------
    x : np.ndarray
        One observation, shape ``(d,)``.
    centers : np.ndarray
        Shape ``(K, d)``.
    beta : float
        Inverse temperature, > 0.

    Returns
    -------
    np.ndarray
        Probabilities, shape ``(K,)``.

    """
    diff = x[np.newaxis, :] - centers
    return np.exp(log_normalize(-beta * (diff * diff).sum(axis=1)))


class HysteresisState(NamedTuple):
    """State of the regime hysteresis: the published state and the challenger's run."""

    published: int
    """Index of the published state (-1 before the first observation)."""
    candidate: int
    """Index of the most likely state of the last step."""
    run_length: int
    """Consecutive steps the candidate has been the most likely state."""


INITIAL_HYSTERESIS = HysteresisState(published=-1, candidate=-1, run_length=0)
"""The hysteresis state before the first observation."""


def hysteresis_step(
    state: HysteresisState, probabilities: np.ndarray, min_dwell: int, switch_margin: float | None
) -> HysteresisState:
    r"""Update the published regime, switching only on persistent or decisive evidence.

    Let :math:`c_t = \arg\max_k p_{t,k}` and :math:`r_t` the number of consecutive steps up to
    :math:`t` with arg max :math:`c_t`. The published state :math:`s_t` is :math:`c_1` at the first
    step, then

    .. math::
        s_t = \begin{cases} c_t & \text{if } r_t \ge \text{min\_dwell} \text{ or }
        p_{t,c_t} - p_{t,s_{t-1}} \ge \text{switch\_margin} \\ s_{t-1} & \text{otherwise.} \end{cases}

    ``min_dwell = 1`` and no margin publish the arg max itself (no hysteresis).

    Parameters
    ----------
    state : HysteresisState
        The state after the previous step (:data:`INITIAL_HYSTERESIS` at the start).
    probabilities : np.ndarray
        This step's state probabilities, shape ``(K,)``.
    min_dwell : int
        Steps, >= 1, the new most likely state must lead before it is published.
    switch_margin : float or None
        Publish a new most likely state at once when it beats the published one by this much.

    Returns
    -------
    HysteresisState
        The new state; its ``published`` is the regime to report.

    """
    candidate = int(np.argmax(probabilities))
    run_length = state.run_length + 1 if candidate == state.candidate else 1
    published = state.published
    if published < 0:
        published = candidate
    elif candidate != published:
        decisive = (
            switch_margin is not None
            and float(probabilities[candidate] - probabilities[published]) >= switch_margin
        )
        if run_length >= min_dwell or decisive:
            published = candidate
    return HysteresisState(published=published, candidate=candidate, run_length=run_length)
