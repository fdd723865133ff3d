r"""Naming the states of a regime model from their statistics, and matching states across fits.

A fitted regime model's state indices are arbitrary (label switching: two fits of the same data
may number the same regimes differently). The names come from each state's statistics on the
training data instead, so they mean the same thing in every fit:

* ``volatile`` -- the state with the largest return volatility;
* ``trending`` -- the state whose returns persist: the highest trend score
  :math:`s_k = \rho_k + |\mu_k| / \sigma_k` (lag-1 autocorrelation plus absolute drift per unit
  of volatility);
* ``mean_reverting`` -- the lowest trend score (negatively autocorrelated, little drift).

See :func:`name_states` for the full rule (two states, more than three). :func:`match_states`
pairs the states of two fits by their means with the Hungarian algorithm; models use it to inherit
the names and state order of a reference fit.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.optimize import linear_sum_assignment

from nautilus_ai.errors import ConfigError

REGIME_NAMES: tuple[str, ...] = ("trending", "mean_reverting", "volatile")
"""The base regime names, in the canonical column order of every regime model."""


@dataclasses.dataclass(frozen=True)
class StateStatistics:
    """Return statistics of one state on the training data (weighted by its probabilities)."""

    occupancy: float
    r"""Share of the training observations in the state, :math:`\sum_t w_{t,k} / n`."""
    drift: float
    r"""Weighted mean return :math:`\mu_k`."""
    volatility: float
    r"""Weighted standard deviation of returns :math:`\sigma_k`."""
    autocorrelation: float
    r"""Weighted lag-1 autocorrelation of returns :math:`\rho_k` (0 when undefined)."""

    @property
    def trend_score(self) -> float:
        r"""Return :math:`s_k = \rho_k + |\mu_k| / \sigma_k` (0 drift term when :math:`\sigma_k = 0`)."""
        sharpe = abs(self.drift) / self.volatility if self.volatility > 0 else 0.0
        return self.autocorrelation + sharpe


def state_statistics(returns: np.ndarray, weights: np.ndarray) -> list[StateStatistics]:
    r"""Return the statistics of every state from the returns and the state probabilities.

    With :math:`W_k = \sum_t w_{t,k}` and the pair weights :math:`v_{t,k} = w_{t,k} w_{t-1,k}`
    (both observations of a lag pair in state ``k``):

    .. math::
        \mu_k = \frac{\sum_t w_{t,k} r_t}{W_k}, \qquad
        \sigma_k^2 = \frac{\sum_t w_{t,k} (r_t - \mu_k)^2}{W_k}, \qquad
        \rho_k = \frac{\sum_{t \ge 2} v_{t,k} (r_t - \mu_k)(r_{t-1} - \mu_k)}
                      {\sigma_k^2 \sum_{t \ge 2} v_{t,k}}.

    Parameters
    ----------
    returns : np.ndarray
        Shape ``(n,)``, the returns in time order.
    weights : np.ndarray
        Shape ``(n, K)``: hard (0/1) or soft state memberships of each observation.

    Returns
    -------
    list[StateStatistics]
        One per state. A state with no weight gets zero statistics.

    """
    returns = np.asarray(returns, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    n, n_states = weights.shape
    out = []
    for k in range(n_states):
        w = weights[:, k]
        total = float(w.sum())
        if total <= 0.0:
            out.append(StateStatistics(occupancy=0.0, drift=0.0, volatility=0.0, autocorrelation=0.0))
            continue
        drift = float(w @ returns) / total
        centered = returns - drift
        variance = float(w @ (centered * centered)) / total
        pair_weights = w[1:] * w[:-1]
        pair_total = float(pair_weights.sum())
        if pair_total > 0.0 and variance > 0.0:
            autocorrelation = float(pair_weights @ (centered[1:] * centered[:-1])) / (pair_total * variance)
        else:
            autocorrelation = 0.0
        out.append(
            StateStatistics(
                occupancy=total / n,
                drift=drift,
                volatility=math.sqrt(variance),
                autocorrelation=autocorrelation,
            )
        )
    return out


def name_states(statistics: list[StateStatistics], volatile_ratio: float = 1.5) -> tuple[str, ...]:
    r"""Name each state ``trending``, ``mean_reverting`` or ``volatile`` from its statistics.

    The rule, with :math:`\sigma_k` the volatility and :math:`s_k` the trend score of state ``k``:

    1. The highest-:math:`\sigma` state is ``volatile`` when there are three or more states, or when
       :math:`\sigma_{max} \ge` ``volatile_ratio`` :math:`\cdot \sigma_{min}`.
    2. Of the other states, the highest :math:`s` is ``trending`` and the lowest ``mean_reverting``;
       a single remaining state is ``trending`` if :math:`s > 0`, else ``mean_reverting``.
    3. Any further state (four or more states) is ``volatile`` if
       :math:`\sigma_k \ge` ``volatile_ratio`` :math:`\cdot \sigma_{min}`, else ``trending`` if
       :math:`s_k > 0`, else ``mean_reverting``; repeated names get suffixes ``_2``, ``_3``, ... in
       order of decreasing :math:`\sigma` (volatile), decreasing :math:`s` (trending) or increasing
       :math:`s` (mean_reverting), the plain name going to the most typical state.

    The names depend only on the statistics, not on the state numbering, so refitting on
    overlapping data gives the same names to matching states as long as their statistics keep their
    order.

    Parameters
    ----------
    statistics : list[StateStatistics]
        From :func:`state_statistics`, at least two states.
    volatile_ratio : float, default 1.5
        Volatility ratio, > 1, from which a state counts as volatile.

    Returns
    -------
    tuple[str, ...]
        The name of each state, in state order.

    Raises
    ------
    ConfigError
        If fewer than two states are given or ``volatile_ratio <= 1``.

    """
    n_states = len(statistics)
    if n_states < 2:
        raise ConfigError(f"name_states needs at least 2 states, got {n_states}")
    if not volatile_ratio > 1.0:
        raise ConfigError(f"volatile_ratio={volatile_ratio!r} must be > 1")
    sigma = np.array([s.volatility for s in statistics])
    score = np.array([s.trend_score for s in statistics])
    sigma_min = float(sigma.min())
    base: dict[int, str] = {}
    by_sigma = [int(k) for k in np.argsort(-sigma, kind="stable")]
    top = by_sigma[0]
    if n_states >= 3 or sigma[top] >= volatile_ratio * sigma_min:
        base[top] = "volatile"
    rest = [k for k in range(n_states) if k not in base]
    if len(rest) == 1:
        base[rest[0]] = "trending" if score[rest[0]] > 0 else "mean_reverting"
    else:
        by_score = sorted(rest, key=lambda k: (-score[k], k))
        base[by_score[0]] = "trending"
        base[by_score[-1]] = "mean_reverting"
        for k in by_score[1:-1]:
            if sigma[k] >= volatile_ratio * sigma_min:
                base[k] = "volatile"
            else:
                base[k] = "trending" if score[k] > 0 else "mean_reverting"
    order_keys = {
        "volatile": lambda k: (-sigma[k], k),
        "trending": lambda k: (-score[k], k),
        "mean_reverting": lambda k: (score[k], k),
    }
    names = [""] * n_states
    for label, key in order_keys.items():
        # the sort puts the state that earned the name in steps 1-2 first: it keeps the plain name
        members = sorted((k for k, name in base.items() if name == label), key=key)
        for rank, k in enumerate(members):
            names[k] = label if rank == 0 else f"{label}_{rank + 1}"
    return tuple(names)


def canonical_order(names: tuple[str, ...]) -> list[int]:
    """Return the state indices sorted by name: trending, mean_reverting, volatile, then suffixes.

    Parameters
    ----------
    names : tuple[str, ...]
        Names from :func:`name_states`.

    Returns
    -------
    list[int]
        A permutation of ``range(len(names))``.

    """

    def key(k: int) -> tuple[int, int]:
        label, _, suffix = names[k].rpartition("_")
        if suffix.isdigit() and label in REGIME_NAMES:
            return REGIME_NAMES.index(label), int(suffix)
        return REGIME_NAMES.index(names[k]), 1

    return sorted(range(len(names)), key=key)


def match_states(reference_means: np.ndarray, means: np.ndarray, scale: np.ndarray) -> np.ndarray:
    r"""Pair the states of a new fit with those of a reference fit (Hungarian algorithm).

    Minimizes :math:`\sum_i \lVert (m^{ref}_i - m_{\pi(i)}) / \text{scale} \rVert^2` over
    permutations :math:`\pi` (:func:`scipy.optimize.linear_sum_assignment`).

    Parameters
    ----------
    reference_means : np.ndarray
        State means of the reference fit, shape ``(K, d)``, in feature units.
    means : np.ndarray
        State means of the new fit, shape ``(K, d)``, in feature units.
    scale : np.ndarray
        Per-feature scale, shape ``(d,)``, > 0 (for example the reference's feature standard deviations).

    Returns
    -------
    np.ndarray
        ``order`` with ``order[i]`` the new state matched to reference state ``i``.

    Raises
    ------
    ConfigError
        If the two fits have different shapes.

    """
    reference_means = np.asarray(reference_means, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    if reference_means.shape != means.shape:
        raise ConfigError(
            f"cannot match states: the reference has means of shape {reference_means.shape}, "
            f"the new fit {means.shape}; use the same number of states and features"
        )
    diff = (reference_means[:, np.newaxis, :] - means[np.newaxis, :, :]) / scale
    cost = (diff * diff).sum(axis=2)
    rows, cols = linear_sum_assignment(cost)
    order = np.empty(len(rows), dtype=np.int64)
    order[rows] = cols
    return order
