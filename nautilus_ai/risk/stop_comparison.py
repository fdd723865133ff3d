r"""Walk-forward comparison of stop rules: fixed ATR multipliers, per-regime grid search, learned policy.

The experiment, for a universe of daily bar series (StockNet):

**Entries** (a simple, documented signal). On every bar ``t`` with a valid state, enter at the close
in the direction of the ``L``-bar momentum (``L = 5`` by default) and hold under an ATR bracket for at
most ``H`` bars (:func:`~nautilus_ai.risk.stops.simulate_bracket_returns`)::

    m_t    = close_t / close_{t-L} - 1            side_t = sign(m_t)   (no trade when m_t = 0)
    v_t    = ATR_t / close_t                      (Wilder ATR, ``atr_period`` bars)
    conf_t = tanh(|m_t| / (v_t sqrt(L)))          (momentum z-score proxy, in [0, 1))

**Regimes** (point-in-time volatility terciles, :func:`volatility_regimes`): ``q_t`` is the share of the
previous ``regime_lookback`` finite volatilities strictly below ``v_t`` (at least ``regime_min_periods``
of them), and the regime is ``0`` (low) if ``q_t < 1/3``, ``1`` (mid) if ``q_t < 2/3``, else ``2`` (high).
Every state variable at ``t`` uses bars ``<= t`` only.

**Folds** (:func:`walk_forward_folds`): rolling by date, test windows of ``test_months`` after
``train_months`` of training, stepping by ``test_months``. For fold ``k`` with test window
``[T_k, U_k)``, each series is *cut before* ``T_k`` before anything is computed for training; the training
trades are the entries at dates ``>= T_k - train_months`` whose ``H`` outcome bars all lie before ``T_k``
(a purge of ``H`` bars). Test trades are the entries with dates in ``[T_k, U_k)``; their outcome may use up
to ``H`` bars after ``U_k`` (the trade's own future, as in live trading).

**Methods**, fitted on the training trades pooled across the universe:

* ``fixed``: ``(k_stop, k_target) = fixed`` (default ``(2, 3)``);
* ``global``: the single grid point with the highest mean training return (the same search with one
  regime for all trades): the unconditional baseline of the two state-dependent methods;
* ``grid``: :func:`~nautilus_ai.risk.stops.optimize_atr_multipliers` per regime (objective ``"mean"``
  return per trade; a regime with fewer than ``min_trades`` trades gets ``fixed``). The series are
  concatenated for the search; no training trade reads a bar of another series because every one
  ends ``H`` bars before its series' cut;
* ``policy``: :class:`~nautilus_ai.risk.stop_policy.StopPolicy` trained on the full-information
  reward matrix (every arm of every training trade, in ATR units) and played greedily.

**Metrics** per fold and method, on the raw per-trade returns ``r`` of the test trades: number of
trades, mean return, hit rate ``P(r > 0)``, and the per-trade Sharpe ratio ``mean(r) / std(r, ddof=1)``
(not annualized; consecutive trades overlap, so it is a ranking statistic, not an investable Sharpe).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.risk.stop_policy import StopPolicy, arm_grid, bracket_reward_matrix
from nautilus_ai.risk.stops import (
    MultiplierChoice,
    average_true_range,
    optimize_atr_multipliers,
    simulate_bracket_returns,
)

FloatArray = npt.NDArray[np.float64]

METHODS: tuple[str, ...] = ("fixed", "global", "grid", "policy")
"""The compared stop rules, in table order."""

N_REGIMES = 3
"""Volatility terciles: 0 low, 1 mid, 2 high."""

RESULT_COLUMNS: tuple[str, ...] = (
    "fold",
    "test_start",
    "test_end",
    "method",
    "n_trades",
    "mean_return",
    "hit_rate",
    "sharpe",
    "mean_stop_mult",
    "mean_target_mult",
)
"""Columns of :func:`compare_stop_methods`."""

_PRICE_COLUMNS = ("open", "high", "low", "close")


@dataclass(frozen=True)
class StopComparisonConfig:
    """Parameters of the walk-forward stop comparison (see the module rule).

    Attributes
    ----------
    train_months : int
        Length of each training window.
    test_months : int
        Length of each test window, and the step between folds.
    max_holding : int
        Time exit ``H`` in bars, also the purge between training outcomes and the test window.
    momentum_lookback : int
        ``L`` of the momentum signal.
    atr_period : int
        Wilder ATR period.
    regime_lookback : int
        Past volatilities ranked for the tercile regime.
    regime_min_periods : int
        Fewest past volatilities for a regime (no trade before).
    stop_grid, target_grid : tuple of float
        The multiplier grid shared by ``grid`` and ``policy``.
    fixed : tuple of float
        ``(k_stop, k_target)`` of the ``fixed`` method and the grid's default.
    min_trades : int
        Fewest training trades for a regime's own grid search.
    policy_hidden, policy_epochs : int
        Width and training epochs of the policy network.
    policy_lr, policy_weight_decay : float
        AdamW learning rate and weight decay of the policy. The defaults (16 units, 100 epochs, decay
        0.1) were picked among three settings (also 32 units / 60 or 300 epochs / decay 1e-3) by the
        pooled walk-forward result on the first 10 StockNet tickers; judge the policy on other tickers.
    seed : int
        Seed of the policy.

    """

    train_months: int = 24
    test_months: int = 6
    max_holding: int = 10
    momentum_lookback: int = 5
    atr_period: int = 14
    regime_lookback: int = 252
    regime_min_periods: int = 60
    stop_grid: tuple[float, ...] = (1.0, 1.5, 2.0, 2.5, 3.0)
    target_grid: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0)
    fixed: tuple[float, float] = (2.0, 3.0)
    min_trades: int = 50
    policy_hidden: int = 16
    policy_epochs: int = 100
    policy_lr: float = 1e-2
    policy_weight_decay: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        """Check the windows and sizes."""
        for name in ("train_months", "test_months", "max_holding", "momentum_lookback", "atr_period"):
            if getattr(self, name) < 1:
                raise ConfigError(f"StopComparisonConfig.{name} must be >= 1, was {getattr(self, name)}")
        if self.regime_min_periods < 1 or self.regime_lookback < self.regime_min_periods:
            raise ConfigError(
                "StopComparisonConfig: need 1 <= regime_min_periods <= regime_lookback, got "
                f"{self.regime_min_periods} and {self.regime_lookback}"
            )
        arm_grid(self.stop_grid, self.target_grid)
        if not all(v > 0.0 for v in self.fixed) or len(self.fixed) != 2:
            raise ConfigError(
                f"StopComparisonConfig.fixed must be two positive multipliers, was {self.fixed}"
            )


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: train on ``[train_start, test_start)``, test on ``[test_start, test_end)``."""

    index: int
    train_start: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp


@dataclass
class FoldFit:
    """The methods fitted on one fold's training trades.

    Attributes
    ----------
    grid : dict
        Regime -> :class:`~nautilus_ai.risk.stops.MultiplierChoice`.
    best : MultiplierChoice
        The single best grid point over all training trades.
    policy : StopPolicy
        The learned policy.
    n_train_trades : int
        Training trades (pooled over the universe).

    """

    grid: dict[Hashable, MultiplierChoice]
    best: MultiplierChoice
    policy: StopPolicy
    n_train_trades: int


@dataclass
class _Trades:
    """Entries of one or more series: the state at entry and where the bars are."""

    index: npt.NDArray[np.int64]
    sides: FloatArray
    volatility: FloatArray
    confidence: FloatArray
    regime: FloatArray

    def regime_probabilities(self) -> FloatArray:
        return np.eye(N_REGIMES)[self.regime.astype(np.int64)]


# -- point-in-time state kernels ----------------------------------------------------------------------


def volatility_regimes(volatility: FloatArray, lookback: int = 252, min_periods: int = 60) -> FloatArray:
    """Return the point-in-time volatility tercile of each bar (0 low, 1 mid, 2 high; NaN before warm-up).

    ``q_t = #{j in [t - lookback, t) : v_j < v_t} / #{finite v_j in that window}``; regime
    ``floor(3 q_t)`` capped at 2. Only past values enter, so the label at ``t`` never changes when later
    bars change.

    Parameters
    ----------
    volatility : ndarray
        ``ATR / close`` per bar (NaN allowed).
    lookback : int
        Past bars ranked.
    min_periods : int
        Fewest finite past values for a label.

    Returns
    -------
    ndarray
        Regime per bar as float (NaN where undefined).

    """
    v = np.asarray(volatility, dtype=np.float64)
    out = np.full(v.size, np.nan)
    if v.size <= min_periods:
        return out
    padded = np.concatenate((np.full(lookback, np.nan), v))
    windows = np.lib.stride_tricks.sliding_window_view(padded, lookback)[: v.size]  # window t: v[t-L .. t-1]
    finite = np.isfinite(windows)
    count = finite.sum(axis=1)
    below = (finite & (windows < v[:, None])).sum(axis=1)
    valid = (count >= min_periods) & np.isfinite(v)
    share = np.where(valid, below / np.maximum(count, 1), np.nan)
    out[valid] = np.minimum(np.floor(3.0 * share[valid]), 2.0)
    return out


def momentum_entries(
    close: FloatArray, volatility: FloatArray, lookback: int = 5
) -> tuple[FloatArray, FloatArray]:
    """Return the momentum side and confidence proxy of each bar (see the module rule).

    ``side_t = sign(close_t / close_{t-L} - 1)``, ``conf_t = tanh(|m_t| / (v_t sqrt(L)))``; both NaN where
    undefined (first ``L`` bars, no volatility).
    """
    c = np.asarray(close, dtype=np.float64)
    v = np.asarray(volatility, dtype=np.float64)
    momentum = np.full(c.size, np.nan)
    if c.size > lookback:
        momentum[lookback:] = c[lookback:] / c[:-lookback] - 1.0
    side = np.sign(momentum)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.tanh(np.abs(momentum) / (v * math.sqrt(lookback)))
    return side, confidence


def bar_state(frame: pd.DataFrame, config: StopComparisonConfig) -> pd.DataFrame:
    """Return the per-bar state of one series: ``atr``, ``volatility``, ``regime``, ``side``, ``confidence``.

    Every column at a bar uses that bar and earlier ones only.
    """
    missing = [c for c in _PRICE_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"stop comparison: bars lack the columns {missing}")
    high, low, close = (frame[c].to_numpy(dtype=np.float64) for c in ("high", "low", "close"))
    atr = average_true_range(high, low, close, config.atr_period)
    volatility = atr / close
    side, confidence = momentum_entries(close, volatility, config.momentum_lookback)
    regime = volatility_regimes(volatility, config.regime_lookback, config.regime_min_periods)
    return pd.DataFrame(
        {"atr": atr, "volatility": volatility, "regime": regime, "side": side, "confidence": confidence},
        index=frame.index,
    )


def _entries(state: pd.DataFrame, mask: npt.NDArray[np.bool_]) -> _Trades:
    usable = (
        mask
        & np.isfinite(state["regime"].to_numpy())
        & np.isfinite(state["confidence"].to_numpy())
        & (np.abs(state["side"].to_numpy()) == 1.0)
        & (state["volatility"].to_numpy() > 0.0)
    )
    index = np.flatnonzero(usable).astype(np.int64)
    return _Trades(
        index=index,
        sides=state["side"].to_numpy()[index],
        volatility=state["volatility"].to_numpy()[index],
        confidence=state["confidence"].to_numpy()[index],
        regime=state["regime"].to_numpy()[index],
    )


# -- folds --------------------------------------------------------------------------------------------


def walk_forward_folds(
    dates: pd.DatetimeIndex | Sequence[pd.Timestamp], train_months: int = 24, test_months: int = 6
) -> list[Fold]:
    """Return rolling folds over the span of ``dates``.

    Fold ``k`` tests on ``[start + train + k * test, start + train + (k + 1) * test)`` (month offsets,
    the last one cut at the last date) and trains on the ``train_months`` before its test start.
    """
    index = pd.DatetimeIndex(list(dates))
    if index.empty:
        raise DataError("walk_forward_folds: no dates")
    first, last = index.min(), index.max()
    folds: list[Fold] = []
    test_start = first + pd.DateOffset(months=train_months)
    while test_start <= last:
        test_end = test_start + pd.DateOffset(months=test_months)
        folds.append(
            Fold(
                index=len(folds),
                train_start=test_start - pd.DateOffset(months=train_months),
                test_start=test_start,
                test_end=min(test_end, last + pd.Timedelta(1, "ns")),
            )
        )
        test_start = test_end
    return folds


# -- fitting and evaluation ---------------------------------------------------------------------------


def _arrays(frame: pd.DataFrame) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    o, h, lo, c = (frame[col].to_numpy(dtype=np.float64) for col in _PRICE_COLUMNS)
    return o, h, lo, c


def fit_fold(bars: Mapping[str, pd.DataFrame], fold: Fold, config: StopComparisonConfig) -> FoldFit:
    """Fit the ``global``, ``grid`` and ``policy`` methods on one fold's training trades (point in time).

    Each series is cut before ``fold.test_start`` first; the training trades are the entries at dates
    ``>= fold.train_start`` whose ``max_holding`` outcome bars lie before the cut. Nothing at or after
    ``fold.test_start`` is read.

    Parameters
    ----------
    bars : Mapping[str, DataFrame]
        Daily bars per instrument (``open``, ``high``, ``low``, ``close`` on a sorted DatetimeIndex).
    fold : Fold
        The fold.
    config : StopComparisonConfig
        The experiment parameters.

    Returns
    -------
    FoldFit
        The per-regime grid choices and the fitted policy.

    Raises
    ------
    DataError
        If the fold has fewer than 2 training trades.

    """
    arms = arm_grid(config.stop_grid, config.target_grid)
    blocks: dict[str, list[FloatArray]] = {k: [] for k in ("open", "high", "low", "close", "atr")}
    entry_index, sides, regimes, volatility, confidence, rewards = [], [], [], [], [], []
    offset = 0
    for name in sorted(bars):
        history = bars[name].loc[bars[name].index < fold.test_start]
        if history.shape[0] <= config.max_holding + 1:
            continue
        state = bar_state(history, config)
        positions = np.arange(history.shape[0])
        mask = (history.index >= fold.train_start) & (positions + config.max_holding < history.shape[0])
        trades = _entries(state, np.asarray(mask))
        if trades.index.size == 0:
            continue
        o, h, lo, c = _arrays(history)
        atr = state["atr"].to_numpy()
        rewards.append(
            bracket_reward_matrix(
                o, h, lo, c, atr, trades.index, trades.sides, arms, config.max_holding, "atr"
            )
        )
        for key, values in zip(blocks, (o, h, lo, c, atr), strict=True):
            blocks[key].append(values)
        entry_index.append(trades.index + offset)
        sides.append(trades.sides)
        regimes.append(trades.regime)
        volatility.append(trades.volatility)
        confidence.append(trades.confidence)
        offset += history.shape[0]
    if not entry_index or sum(i.size for i in entry_index) < 2:
        raise DataError(f"stop comparison: fold {fold.index} has fewer than 2 training trades")
    o, h, lo, c, atr = (np.concatenate(blocks[k]) for k in ("open", "high", "low", "close", "atr"))
    index = np.concatenate(entry_index)
    side = np.concatenate(sides)
    regime = np.concatenate(regimes)
    grid = optimize_atr_multipliers(
        o,
        h,
        lo,
        c,
        atr,
        index,
        side,
        [int(g) for g in regime],
        config.stop_grid,
        config.target_grid,
        config.max_holding,
        "mean",
        config.min_trades,
        config.fixed,
    )
    best = optimize_atr_multipliers(
        o,
        h,
        lo,
        c,
        atr,
        index,
        side,
        [0] * index.size,
        config.stop_grid,
        config.target_grid,
        config.max_holding,
        "mean",
        1,
        config.fixed,
    )[0]
    policy = StopPolicy(
        config.stop_grid,
        config.target_grid,
        n_regimes=N_REGIMES,
        hidden=config.policy_hidden,
        epochs=config.policy_epochs,
        lr=config.policy_lr,
        weight_decay=config.policy_weight_decay,
        seed=config.seed,
    ).fit(
        np.eye(N_REGIMES)[regime.astype(np.int64)],
        np.concatenate(volatility),
        np.concatenate(confidence),
        side,
        np.vstack(rewards),
    )
    return FoldFit(grid=grid, best=best, policy=policy, n_train_trades=int(index.size))


def _multipliers(method: str, trades: _Trades, fit: FoldFit, config: StopComparisonConfig) -> FloatArray:
    n = trades.index.size
    if method == "fixed":
        return np.tile(np.asarray(config.fixed, dtype=np.float64), (n, 1))
    if method == "global":
        return np.tile(np.array([fit.best.stop_mult, fit.best.target_mult]), (n, 1))
    if method == "grid":
        table = {int(k): (v.stop_mult, v.target_mult) for k, v in fit.grid.items()}  # type: ignore[call-overload]
        return np.asarray([table.get(int(g), config.fixed) for g in trades.regime], dtype=np.float64).reshape(
            n, 2
        )
    if method == "policy":
        stop, target = fit.policy.select_multipliers(
            trades.regime_probabilities(), trades.volatility, trades.confidence, trades.sides
        )
        return np.column_stack((stop, target))
    raise ConfigError(f"stop comparison: unknown method {method!r}, use one of {list(METHODS)}")


def _replay(
    frame: pd.DataFrame, state: pd.DataFrame, trades: _Trades, multipliers: FloatArray, max_holding: int
) -> FloatArray:
    """Return each trade's bracket return with its own multipliers (grouped by distinct pair)."""
    o, h, lo, c = _arrays(frame)
    atr = state["atr"].to_numpy()
    returns = np.full(trades.index.size, np.nan)
    for pair in np.unique(multipliers, axis=0):
        chosen = np.all(multipliers == pair, axis=1)
        returns[chosen] = simulate_bracket_returns(
            o, h, lo, c, trades.index[chosen], trades.sides[chosen], atr, pair[0], pair[1], max_holding
        )
    return returns


def evaluate_fold(
    bars: Mapping[str, pd.DataFrame], fold: Fold, fit: FoldFit, config: StopComparisonConfig
) -> dict[str, pd.DataFrame]:
    """Return the test trades of every method.

    Each frame has the columns ``instrument``, ``ts``, ``side``, ``stop_mult``, ``target_mult`` and
    ``return`` (rows without an outcome dropped). The state is computed on the whole series with
    the point-in-time kernels (only bars ``<= t`` at ``t``); the outcome of a test trade reads its
    own ``max_holding`` bars after entry.
    """
    parts: dict[str, list[pd.DataFrame]] = {m: [] for m in METHODS}
    for name in sorted(bars):
        frame = bars[name]
        state = bar_state(frame, config)
        mask = np.asarray((frame.index >= fold.test_start) & (frame.index < fold.test_end))
        trades = _entries(state, mask)
        if trades.index.size == 0:
            continue
        for method in METHODS:
            multipliers = _multipliers(method, trades, fit, config)
            returns = _replay(frame, state, trades, multipliers, config.max_holding)
            parts[method].append(
                pd.DataFrame(
                    {
                        "instrument": name,
                        "ts": frame.index[trades.index],
                        "side": trades.sides,
                        "stop_mult": multipliers[:, 0],
                        "target_mult": multipliers[:, 1],
                        "return": returns,
                    }
                )
            )
    empty = pd.DataFrame(columns=["instrument", "ts", "side", "stop_mult", "target_mult", "return"])
    return {
        m: (pd.concat(p, ignore_index=True).dropna(subset=["return"]) if p else empty)
        for m, p in parts.items()
    }


def trade_statistics(returns: FloatArray) -> dict[str, float]:
    """Return ``n_trades``, ``mean_return``, ``hit_rate = P(r > 0)`` and ``sharpe = mean / std(ddof=1)``."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return {"n_trades": 0.0, "mean_return": math.nan, "hit_rate": math.nan, "sharpe": math.nan}
    deviation = float(r.std(ddof=1)) if r.size > 1 else 0.0
    return {
        "n_trades": float(r.size),
        "mean_return": float(r.mean()),
        "hit_rate": float((r > 0.0).mean()),
        "sharpe": float(r.mean()) / deviation if deviation > 0.0 else math.nan,
    }


def _summary_row(
    fold: str | int, start: object, end: object, method: str, trades: pd.DataFrame
) -> dict[str, object]:
    stats = trade_statistics(trades["return"].to_numpy(dtype=np.float64))
    return {
        "fold": fold,
        "test_start": start,
        "test_end": end,
        "method": method,
        "n_trades": int(stats["n_trades"]),
        "mean_return": stats["mean_return"],
        "hit_rate": stats["hit_rate"],
        "sharpe": stats["sharpe"],
        "mean_stop_mult": float(trades["stop_mult"].mean()) if len(trades) else math.nan,
        "mean_target_mult": float(trades["target_mult"].mean()) if len(trades) else math.nan,
    }


def compare_stop_methods(
    bars: Mapping[str, pd.DataFrame], config: StopComparisonConfig | None = None
) -> pd.DataFrame:
    """Run the walk-forward comparison and return one row per fold and method, then the pooled rows.

    Parameters
    ----------
    bars : Mapping[str, DataFrame]
        Daily bars per instrument (``open``, ``high``, ``low``, ``close`` on a sorted DatetimeIndex).
    config : StopComparisonConfig, optional
        The experiment parameters (defaults: train 24 months, test 6, ``H = 10``).

    Returns
    -------
    pd.DataFrame
        Columns :data:`RESULT_COLUMNS`; ``fold`` is the fold number, or ``"all"`` for the trades of every
        fold pooled.

    """
    config = config or StopComparisonConfig()
    if not bars:
        raise DataError("compare_stop_methods: no bar series given")
    for name, frame in bars.items():
        if not frame.index.is_monotonic_increasing:
            raise DataError(f"compare_stop_methods: bars of {name} are not sorted by time")
    dates = pd.DatetimeIndex(sorted(set().union(*(frame.index for frame in bars.values()))))
    rows: list[dict[str, object]] = []
    pooled: dict[str, list[pd.DataFrame]] = {m: [] for m in METHODS}
    folds = walk_forward_folds(dates, config.train_months, config.test_months)
    for fold in folds:
        fit = fit_fold(bars, fold, config)
        trades = evaluate_fold(bars, fold, fit, config)
        for method in METHODS:
            rows.append(_summary_row(fold.index, fold.test_start, fold.test_end, method, trades[method]))
            pooled[method].append(trades[method])
    if folds:
        for method in METHODS:
            rows.append(
                _summary_row(
                    "all",
                    folds[0].test_start,
                    folds[-1].test_end,
                    method,
                    pd.concat(pooled[method], ignore_index=True),
                )
            )
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def render_markdown_table(results: pd.DataFrame) -> str:
    """Return ``results`` (from :func:`compare_stop_methods`) as a Markdown table.

    Returns are shown in basis points per trade, the hit rate in percent, the Sharpe ratio per trade.
    """
    header = (
        "| fold | test window | method | trades | mean (bp) | hit rate | Sharpe/trade | k_stop | k_target |"
    )
    lines = [header, "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in results.to_dict("records"):
        window = f"{pd.Timestamp(row['test_start']):%Y-%m-%d} .. {pd.Timestamp(row['test_end']):%Y-%m-%d}"
        mean_bp = float(row["mean_return"]) * 1e4
        lines.append(
            f"| {row['fold']} | {window} | {row['method']} | {int(row['n_trades'])} | {mean_bp:.2f} | "
            f"{float(row['hit_rate']):.1%} | {float(row['sharpe']):.4f} | "
            f"{float(row['mean_stop_mult']):.2f} | {float(row['mean_target_mult']):.2f} |"
        )
    return "\n".join(lines)
