r"""A learned stop policy: a contextual bandit that picks ATR ``(k_stop, k_target)`` from the trade's state.

The arms are the points of a grid of multiplier pairs, ``a = (k_stop, k_target)`` in
``itertools.product(stop_grid, target_grid)`` order (the order of
:func:`~nautilus_ai.risk.stops.optimize_atr_multipliers`). The *state* of a trade at its entry bar is

* the regime probabilities ``p in R^K`` (a one-hot vector for a hard regime id),
* the realized volatility ``v = ATR / close`` at entry,
* the signal confidence ``c`` (any score, e.g. a calibrated probability),
* the side ``s = +1`` (long) or ``-1`` (short),

all known at the entry bar's close. A small network ``f_theta`` maps the standardized state
``x = (p, (log v - m_v) / s_v, (c - m_c) / s_c, s)`` to one expected reward per arm,

.. math::

    \hat r_a(x) = \bar r_a + f_\theta(x)_a ,

where ``\bar r_a`` is the arm's mean reward on the training trades (the network learns deviations).
The policy is greedy, ``a^*(x) = \arg\max_a \hat r_a(x)`` (ties to the first arm), with an optional
``epsilon``: in live use, ``select(state, explore=True)`` plays a uniformly drawn arm with probability
``epsilon`` (from the policy's own seeded generator), to keep learning about arms it would not pick.

**Reward.** The reward of arm ``a`` on a trade is its bracket return replayed on the bars by
:func:`~nautilus_ai.risk.stops.simulate_bracket_returns`, either the per-trade return ``r`` (``"return"``)
or the return in units of the entry ATR, ``r / v`` (``"atr"``, the default). Because ``v`` is part of
the state, ``argmax_a E[r_a / v | x] = argmax_a E[r_a | x]``: both choose the arm of highest expected
return per trade, but the ATR-unit target has a comparable scale across instruments and volatility
levels, which makes the regression better conditioned.

**Full-information training.** In a replay every arm's outcome of every historical trade is known
(the same entry, a different bracket), so the bandit is trained by regression on all arms at once
(no importance weighting or exploration is needed offline): the loss is the squared error averaged
over trades and arms,

.. math::

    L(\theta) = \frac{1}{n A} \sum_{i, a} (\hat r_a(x_i) - r_{i, a})^2 \quad
    (\text{plus AdamW's decoupled weight decay } \lambda),

minimized by full-batch AdamW for a fixed number of epochs. The squared error is used on purpose:
its minimizer is the conditional *mean* reward, which is what the greedy choice needs. A robust loss
(Huber, absolute error) estimates a location between the mean and the median, which overrates arms
with negatively skewed payoffs (wide stop, near target: many small wins, rare large losses) and
underrates positively skewed ones; on StockNet it pushed the policy to ``(k_stop, k_target) ~ (2.8,
1.3)`` and a lower out-of-sample mean. The caller is responsible for passing
only trades of the training window whose outcome bars end before the test window (see
:func:`bracket_reward_matrix`, which replays only the bars it is given).

Training is deterministic on CPU (same data, parameters and seed give identical predictions and
byte-identical :meth:`StopPolicy.to_bytes`, within one torch version and thread setting). The
serialized form is pickle-free: a header line, one line of JSON metadata and the raw little-endian
float32 bytes of every tensor, as in :mod:`nautilus_ai.learning.sequence`.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from nautilus_ai.errors import ConfigError, DataError, ModelError
from nautilus_ai.risk.stops import simulate_bracket_returns
from nautilus_ai.serialization import pack, pack_tensors, unpack, unpack_tensors

FloatArray = npt.NDArray[np.float64]
RewardUnit = Literal["atr", "return"]

FORMAT_HEADER = b"nautilus-ai/stop-policy/1\n"
"""First line of every serialized policy; bump the trailing number when the layout changes."""

_N_SCALAR_FEATURES = 3  # standardized log volatility, standardized confidence, side


@dataclass(frozen=True)
class StopState:
    """The state of one trade at its entry bar.

    Attributes
    ----------
    regime_probabilities : tuple of float
        Probability of each regime (one-hot for a hard regime id); length ``K`` of the policy.
    volatility : float
        Realized volatility ``ATR / close`` at entry (positive).
    confidence : float
        Signal confidence (for example a calibrated probability).
    side : int
        +1 long, -1 short.

    """

    regime_probabilities: tuple[float, ...]
    volatility: float
    confidence: float
    side: int


def arm_grid(stop_grid: Sequence[float], target_grid: Sequence[float]) -> list[tuple[float, float]]:
    """Return the arms ``(k_stop, k_target)`` in ``itertools.product(stop_grid, target_grid)`` order."""
    if not stop_grid or not target_grid:
        raise ConfigError("arm_grid: stop_grid and target_grid must not be empty")
    arms = [(float(s), float(t)) for s, t in itertools.product(stop_grid, target_grid)]
    if any(not (s > 0.0 and t > 0.0) for s, t in arms):
        raise ConfigError(f"arm_grid: every multiplier must be positive, got {stop_grid} and {target_grid}")
    return arms


def bracket_reward_matrix(
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    atr: FloatArray,
    entry_index: npt.NDArray[np.int64] | Sequence[int],
    sides: FloatArray | Sequence[int],
    arms: Sequence[tuple[float, float]],
    max_holding: int,
    reward: RewardUnit = "atr",
) -> FloatArray:
    """Return the reward of every arm on every trade: ``R[i, a]`` (see the module rule).

    ``R[i, a] = r_{i,a}`` (``"return"``) or ``r_{i,a} / (ATR_i / close_i)`` (``"atr"``), with ``r_{i,a}``
    the return of :func:`~nautilus_ai.risk.stops.simulate_bracket_returns` for arm ``a``. Only the bars
    passed are read: pass the training window's bars (cut before the test window) and entries whose
    ``max_holding`` bars lie inside them.

    Parameters
    ----------
    open_, high, low, close : ndarray
        Bar prices.
    atr : ndarray
        ATR per bar (known at the bar's close).
    entry_index : array-like of int
        Bar index of each entry.
    sides : array-like
        +1 long / -1 short per entry.
    arms : sequence of (float, float)
        ``(k_stop, k_target)`` per arm.
    max_holding : int
        Time exit in bars.
    reward : {"atr", "return"}
        Reward unit.

    Returns
    -------
    ndarray
        Shape ``(n_trades, n_arms)``; NaN for a trade without a valid ATR or without a later bar.

    """
    if reward not in ("atr", "return"):
        raise ConfigError(f"bracket_reward_matrix: reward must be 'atr' or 'return', was {reward!r}")
    index = np.asarray(entry_index, dtype=np.int64)
    columns = [
        simulate_bracket_returns(open_, high, low, close, index, sides, atr, k_stop, k_target, max_holding)
        for k_stop, k_target in arms
    ]
    rewards = np.column_stack(columns) if columns else np.empty((index.size, 0))
    if reward == "atr" and index.size:
        volatility = np.asarray(atr, dtype=np.float64)[index] / np.asarray(close, dtype=np.float64)[index]
        rewards = rewards / volatility[:, None]
    return np.asarray(rewards, dtype=np.float64)


def state_matrix(
    regime_probabilities: FloatArray,
    volatility: FloatArray,
    confidence: FloatArray,
    sides: FloatArray,
) -> FloatArray:
    """Return the raw state rows ``(p_1 .. p_K, log v, c, s)`` of many trades.

    Parameters
    ----------
    regime_probabilities : ndarray
        ``(n, K)`` regime probabilities.
    volatility : ndarray
        ``(n,)`` ``ATR / close`` at entry (positive).
    confidence : ndarray
        ``(n,)`` signal confidence.
    sides : ndarray
        ``(n,)`` +1 / -1.

    Returns
    -------
    ndarray
        ``(n, K + 3)``.

    Raises
    ------
    DataError
        If the shapes disagree, a value is not finite, a volatility is not positive or a side is not +-1.

    """
    probabilities = np.asarray(regime_probabilities, dtype=np.float64)
    if probabilities.ndim != 2:
        raise DataError(f"stop policy: regime probabilities must be (n, K), got shape {probabilities.shape}")
    n_rows = probabilities.shape[0]
    vol, conf, side = (np.asarray(a, dtype=np.float64).reshape(-1) for a in (volatility, confidence, sides))
    if not (vol.size == conf.size == side.size == n_rows):
        raise DataError(
            f"stop policy: {n_rows} regime rows but {vol.size} volatilities, {conf.size} confidences and "
            f"{side.size} sides"
        )
    if not (np.all(np.isfinite(probabilities)) and np.all(np.isfinite(conf))):
        raise DataError("stop policy: regime probabilities and confidences must be finite")
    if not np.all(np.isfinite(vol) & (vol > 0.0)):
        raise DataError("stop policy: volatility (ATR / close) must be positive and finite")
    if not np.all(np.isin(side, (-1.0, 1.0))):
        raise DataError("stop policy: every side must be +1 (long) or -1 (short)")
    return np.column_stack((probabilities, np.log(vol), conf, side))


class _RewardNet(nn.Module):
    """``x -> bias + MLP(x)``: one expected reward per arm."""

    def __init__(self, n_inputs: int, n_arms: int, hidden: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(n_inputs, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, n_arms),
        )
        self.register_buffer("arm_mean", torch.zeros(n_arms))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.arm_mean + self.body(x)


class StopPolicy:
    """Contextual-bandit choice of ATR stop and target multipliers (see the module rule).

    Parameters
    ----------
    stop_grid, target_grid : sequence of float
        Candidate ``k_stop`` and ``k_target``; the arms are their product.
    n_regimes : int
        ``K``, the length of the regime-probability vector.
    hidden : int
        Width of the two hidden layers.
    epochs : int
        Full-batch AdamW steps.
    lr : float
        Learning rate.
    weight_decay : float
        AdamW weight decay ``lambda``.
    epsilon : float
        Exploration probability of :meth:`select` with ``explore=True`` (0 = always greedy).
    seed : int
        Seed of the weight initialization and of the exploration generator.

    Attributes
    ----------
    arms_ : list of (float, float)
        The arms, in output order.
    mean_, scale_ : ndarray
        Standardization of ``(log v, c)`` fitted on the training trades.
    n_train_ : int
        Training trades used (rows with every reward finite).
    net_ : torch.nn.Module
        The fitted reward network (CPU, evaluation mode).

    """

    def __init__(
        self,
        stop_grid: Sequence[float] = (1.0, 1.5, 2.0, 2.5, 3.0),
        target_grid: Sequence[float] = (1.0, 2.0, 3.0, 4.0),
        n_regimes: int = 3,
        hidden: int = 16,
        epochs: int = 100,
        lr: float = 1e-2,
        weight_decay: float = 0.1,
        epsilon: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.stop_grid = tuple(float(v) for v in stop_grid)
        self.target_grid = tuple(float(v) for v in target_grid)
        self.n_regimes = n_regimes
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.epsilon = epsilon
        self.seed = seed
        self._check_params()
        self.arms_ = arm_grid(self.stop_grid, self.target_grid)
        self._rng = np.random.default_rng(seed)

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters, as stored in the artifact."""
        return {
            "epochs": int(self.epochs),
            "epsilon": float(self.epsilon),
            "hidden": int(self.hidden),
            "lr": float(self.lr),
            "n_regimes": int(self.n_regimes),
            "seed": int(self.seed),
            "stop_grid": list(self.stop_grid),
            "target_grid": list(self.target_grid),
            "weight_decay": float(self.weight_decay),
        }

    # -- training ---------------------------------------------------------------------------------

    def fit(
        self,
        regime_probabilities: FloatArray,
        volatility: FloatArray,
        confidence: FloatArray,
        sides: FloatArray,
        rewards: FloatArray,
    ) -> StopPolicy:
        """Fit the reward network on training trades whose every arm's reward is known.

        Parameters
        ----------
        regime_probabilities : ndarray
            ``(n, K)`` regime probabilities at entry.
        volatility : ndarray
            ``(n,)`` ``ATR / close`` at entry.
        confidence : ndarray
            ``(n,)`` signal confidence.
        sides : ndarray
            ``(n,)`` +1 / -1.
        rewards : ndarray
            ``(n, n_arms)`` reward of each arm (:func:`bracket_reward_matrix`); rows with a NaN are dropped.

        Returns
        -------
        StopPolicy
            ``self``, fitted.

        Raises
        ------
        DataError
            If the shapes disagree or fewer than 2 complete rows remain.

        """
        states = self._raw_states(regime_probabilities, volatility, confidence, sides)
        reward = np.asarray(rewards, dtype=np.float64)
        if reward.shape != (states.shape[0], len(self.arms_)):
            raise DataError(
                f"StopPolicy.fit: rewards of shape {reward.shape}, expected "
                f"({states.shape[0]}, {len(self.arms_)})"
            )
        keep = np.all(np.isfinite(reward), axis=1)
        states, reward = states[keep], reward[keep]
        if states.shape[0] < 2:
            raise DataError(f"StopPolicy.fit: {states.shape[0]} complete training trades, need at least 2")
        scalars = states[:, self.n_regimes : self.n_regimes + 2]
        self.mean_ = scalars.mean(axis=0)
        deviation = scalars.std(axis=0)
        self.scale_ = np.where(deviation > 0.0, deviation, 1.0)
        x = torch.from_numpy(self._standardize(states).astype(np.float32))
        y = torch.from_numpy(reward.astype(np.float32))
        with _seeded(self.seed):
            net = _RewardNet(x.shape[1], len(self.arms_), self.hidden)
            net.arm_mean.copy_(y.mean(dim=0))  # type: ignore[operator]
            optimizer = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            net.train()
            for _ in range(self.epochs):
                optimizer.zero_grad()
                loss = nn.functional.mse_loss(net(x), y)
                loss.backward()
                optimizer.step()
        self.net_ = net.eval()
        self.n_train_ = int(states.shape[0])
        self._rng = np.random.default_rng(self.seed)
        return self

    # -- inference --------------------------------------------------------------------------------

    def predict_rewards(
        self,
        regime_probabilities: FloatArray,
        volatility: FloatArray,
        confidence: FloatArray,
        sides: FloatArray,
    ) -> FloatArray:
        """Return the expected reward ``r_hat_a(x)`` of every arm, shape ``(n, n_arms)``."""
        net = self._fitted_net()
        states = self._raw_states(regime_probabilities, volatility, confidence, sides)
        x = torch.from_numpy(self._standardize(states).astype(np.float32))
        with torch.inference_mode():
            return np.asarray(net(x).numpy(), dtype=np.float64)

    def select_arms(
        self,
        regime_probabilities: FloatArray,
        volatility: FloatArray,
        confidence: FloatArray,
        sides: FloatArray,
    ) -> npt.NDArray[np.int64]:
        """Return the greedy arm index ``argmax_a r_hat_a(x)`` of many trades (ties to the first arm)."""
        predicted = self.predict_rewards(regime_probabilities, volatility, confidence, sides)
        return np.asarray(np.argmax(predicted, axis=1), dtype=np.int64)

    def select_multipliers(
        self,
        regime_probabilities: FloatArray,
        volatility: FloatArray,
        confidence: FloatArray,
        sides: FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """Return the greedy ``(k_stop, k_target)`` arrays of many trades."""
        arms = np.asarray(self.arms_, dtype=np.float64)
        chosen = arms[self.select_arms(regime_probabilities, volatility, confidence, sides)]
        return chosen[:, 0].copy(), chosen[:, 1].copy()

    def select(self, state: StopState, *, explore: bool = False) -> tuple[float, float]:
        """Return ``(k_stop, k_target)`` for one trade.

        Greedy unless ``explore`` is True, in which case a uniformly drawn arm is played with
        probability ``epsilon`` (draws come from the policy's generator, seeded by ``seed``).
        """
        if explore and self.epsilon > 0.0 and self._rng.random() < self.epsilon:
            return self.arms_[int(self._rng.integers(len(self.arms_)))]
        arm = self.select_arms(
            np.asarray([state.regime_probabilities], dtype=np.float64),
            np.array([state.volatility]),
            np.array([state.confidence]),
            np.array([float(state.side)]),
        )
        return self.arms_[int(arm[0])]

    # -- serialization ----------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Serialize the fitted policy: a header line, one line of JSON metadata, raw float32 tensors.

        Returns
        -------
        bytes
            Deterministic bytes: the same fitted policy always gives the same output.

        """
        net = self._fitted_net()
        tensors, blob = pack_tensors(net.state_dict())
        meta = {
            "mean": [float(v) for v in self.mean_],
            "n_train": self.n_train_,
            "params": self.get_params(),
            "scale": [float(v) for v in self.scale_],
            "tensors": tensors,
            "torch_version": torch.__version__,
        }
        return pack(FORMAT_HEADER, meta, blob)

    @classmethod
    def from_bytes(cls, data: bytes) -> StopPolicy:
        """Rebuild a fitted policy from :meth:`to_bytes` output.

        Raises
        ------
        ModelError
            If ``data`` is not a serialized ``StopPolicy`` or is corrupted.

        """
        meta, blob = unpack(data, FORMAT_HEADER, "StopPolicy")
        try:
            policy = cls(**meta["params"])
            net = _RewardNet(policy.n_regimes + _N_SCALAR_FEATURES, len(policy.arms_), policy.hidden)
            arrays = unpack_tensors(meta["tensors"], blob)
            net.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()}, strict=True)
            policy.mean_ = np.asarray(meta["mean"], dtype=np.float64)
            policy.scale_ = np.asarray(meta["scale"], dtype=np.float64)
            if policy.mean_.shape != (2,) or policy.scale_.shape != (2,):
                raise ValueError("standardization must hold 2 values (log volatility, confidence)")
            policy.n_train_ = int(meta["n_train"])
        except (ValueError, KeyError, TypeError, RuntimeError, UnicodeDecodeError, ConfigError) as exc:
            raise ModelError(f"serialized StopPolicy is corrupted: {exc}") from exc
        policy.net_ = net.eval()
        return policy

    # -- internals --------------------------------------------------------------------------------

    def _check_params(self) -> None:
        if self.n_regimes < 1:
            raise ConfigError(f"StopPolicy n_regimes must be >= 1, was {self.n_regimes}")
        if self.hidden < 1 or self.epochs < 1:
            raise ConfigError(
                f"StopPolicy hidden and epochs must be >= 1, were {self.hidden} and {self.epochs}"
            )
        if not (math.isfinite(self.lr) and self.lr > 0.0):
            raise ConfigError(f"StopPolicy lr must be positive, was {self.lr}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0.0):
            raise ConfigError(f"StopPolicy weight_decay must be >= 0, was {self.weight_decay}")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ConfigError(f"StopPolicy epsilon must be in [0, 1], was {self.epsilon}")

    def _raw_states(
        self,
        regime_probabilities: FloatArray,
        volatility: FloatArray,
        confidence: FloatArray,
        sides: FloatArray,
    ) -> FloatArray:
        states = state_matrix(regime_probabilities, volatility, confidence, sides)
        if states.shape[1] != self.n_regimes + _N_SCALAR_FEATURES:
            raise DataError(
                f"StopPolicy: {states.shape[1] - _N_SCALAR_FEATURES} regime columns, the policy has "
                f"{self.n_regimes}"
            )
        return states

    def _standardize(self, states: FloatArray) -> FloatArray:
        out = states.copy()
        k = self.n_regimes
        out[:, k : k + 2] = (states[:, k : k + 2] - self.mean_) / self.scale_
        return out

    def _fitted_net(self) -> nn.Module:
        net: nn.Module | None = getattr(self, "net_", None)
        if net is None:
            raise ModelError("StopPolicy is not fitted: call fit() or from_bytes() first")
        return net

    def __repr__(self) -> str:
        fitted = "fitted" if getattr(self, "net_", None) is not None else "unfitted"
        return f"StopPolicy({len(self.arms_)} arms, n_regimes={self.n_regimes}, {fitted})"


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch for one fit, restoring the global generator state afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
