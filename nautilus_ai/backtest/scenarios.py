r"""Scenario paths and stress transforms of OHLCV bar frames (pure, seeded, no I/O).

A scenario replaces the bars of a backtest's test window by synthetic ones on the same timestamps,
so the strategy is replayed through the engine on markets that did not happen but could have.

Representation
--------------
Every bar is held as its four prices in log units relative to the previous bar's close,
``x = log(price / close_{t-1})`` for ``open, high, low, close``, plus its volume
(:func:`bar_log_ratios`). A row of such ratios is OHLC-consistent on its own (``high >= max(open,
close)``, ``low <= min(open, close)``), and stays so when rows are resampled, when a constant is added
to all four, or under an increasing affine map with one centre; :func:`bars_from_log_ratios` chains the
rows from an anchor close back into prices, which are positive by construction.

Generators (many paths per kind)
--------------------------------
* :func:`bootstrap_paths`: the test window's bars resampled whole (every instrument's bar of a row
  together, so cross-sectional dependence is kept): i.i.d. (``block_length=1``) or the stationary block
  bootstrap of Politis and Romano (1994) (:func:`nautilus_ai.risk.montecarlo.bootstrap_indices`).
  Both keep the marginal distribution of the returns.
* :func:`gbm_paths`: geometric Brownian motion with the drift, volatility and correlation of the
  training window's log returns (:func:`calibrate_gbm`).
* :func:`garch_paths`: GARCH(1,1) per instrument with constant-correlation shocks, fitted on the
  training window (:func:`nautilus_ai.risk.montecarlo.garch_scenarios`, ``arch``).

The model-based paths draw each bar's shape (opening gap, upper and lower wick, volume) from the
training window's bars (:func:`bar_shapes`), so their OHLC are consistent and their volumes real.

Stress transforms (of the real test window)
-------------------------------------------
* :func:`crash_gap`: one overnight gap of ``-magnitude`` at a seeded bar, every later price shifted.
* :func:`scale_volatility`: log returns scaled by ``multiplier`` around their mean (volatility x3).
* :func:`liquidity_drought`: volumes scaled down; the run's fill and fee models are made worse by the
  scenario runner (bar data has no book to thin).
* :func:`flash_crash`: an intraday drop of ``drop`` at a seeded bar, recovered linearly within ``bars``
  bars.
* :func:`break_correlation`: every instrument but the first block-permuted in time, independently, so
  the cross-correlation collapses while each marginal is kept exactly.

Every random draw comes from ``numpy.random.default_rng(seed)``; :func:`path_seed` derives the seed of
one path from the experiment seed, the kind and the path number.

References
----------
Politis, D. N., Romano, J. P. (1994). The Stationary Bootstrap. JASA 89(428).
Glasserman, P. (2003). Monte Carlo Methods in Financial Engineering, ch. 3 (GBM).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.risk.montecarlo import bootstrap_indices, default_block_length, garch_scenarios

FloatArray = npt.NDArray[np.float64]
Bars = dict[str, pd.DataFrame]
"""Instrument id → OHLCV frame (columns :data:`BAR_COLUMNS`) on a ``DatetimeIndex``."""

BAR_COLUMNS = ("open", "high", "low", "close", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close")

ScenarioKind = Literal[
    "iid_bootstrap",
    "block_bootstrap",
    "gbm",
    "garch",
    "crash_gap",
    "volatility_x3",
    "liquidity_drought",
    "flash_crash",
    "correlation_breakdown",
]
SCENARIO_KINDS: tuple[str, ...] = get_args(ScenarioKind)
"""Every scenario kind, in report order; the position is part of each path's seed."""

DETERMINISTIC_KINDS = frozenset({"volatility_x3"})
"""Kinds without randomness: one path is generated whatever ``paths`` says."""


class ScenarioConfig(BaseModel):
    """The scenarios of a run: which kinds, how many paths, and the stress magnitudes.

    Attributes
    ----------
    kinds : list of str
        Scenario kinds to run (:data:`SCENARIO_KINDS`), default all.
    paths : int
        Paths per kind (deterministic kinds get one).
    seed : int
        Seed of every draw (the experiment's ``seed``).
    block_length : float, optional
        Mean block length of the block bootstrap in bars; default ``T^(1/3)`` of the window.
    crash_gap : float
        Size of the overnight gap of ``crash_gap`` (0.2 = -20 %).
    volatility_multiplier : float
        Factor on the returns' deviations from their mean in ``volatility_x3``.
    drought_volume_factor : float
        Share of the volume left in ``liquidity_drought``.
    drought_slippage_probability : float
        Probability that a fill slips one tick in ``liquidity_drought`` (the venue's fill model).
    drought_fee_multiplier : float
        Factor on the instruments' maker and taker fees in ``liquidity_drought`` (the venue's fee model).
    flash_crash_drop : float
        Intraday drop of ``flash_crash`` (0.1 = -10 %).
    flash_crash_bars : int
        Bars over which the flash crash recovers.
    correlation_block_length : int
        Block length of the time permutation of ``correlation_breakdown`` in bars.

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kinds: list[ScenarioKind] = Field(default_factory=lambda: list(get_args(ScenarioKind)), min_length=1)
    paths: int = Field(default=20, ge=1, le=10_000)
    seed: int = 42
    block_length: float | None = Field(default=None, ge=1.0)
    crash_gap: float = Field(default=0.2, gt=0.0, lt=1.0)
    volatility_multiplier: float = Field(default=3.0, gt=0.0)
    drought_volume_factor: float = Field(default=0.25, gt=0.0, le=1.0)
    drought_slippage_probability: float = Field(default=0.8, ge=0.0, le=1.0)
    drought_fee_multiplier: float = Field(default=5.0, ge=1.0)
    flash_crash_drop: float = Field(default=0.1, gt=0.0, lt=1.0)
    flash_crash_bars: int = Field(default=5, ge=1)
    correlation_block_length: int = Field(default=5, ge=1)

    @model_validator(mode="after")
    def _kinds_unique(self) -> ScenarioConfig:
        if len(set(self.kinds)) != len(self.kinds):
            raise ValueError(f"kinds are listed twice: {self.kinds}")
        return self


def parse_scenario_config(data: Mapping[str, Any], source: str = "<scenarios>") -> ScenarioConfig:
    """Validate a scenario config mapping.

    Raises
    ------
    ConfigError
        Naming ``source``, each bad field and what was expected.

    """
    try:
        return ScenarioConfig.model_validate(dict(data))
    except ValidationError as e:
        problems = "; ".join(
            f"[{'.'.join(str(p) for p in err['loc']) or 'scenarios'}] {err['msg']} (got {err['input']!r})"
            for err in e.errors()
        )
        raise ConfigError(f"{source}: {problems}") from None


def path_seed(seed: int, kind: str, path: int) -> int:
    """Return the seed of path ``path`` of ``kind``: independent streams from one experiment seed."""
    if kind not in SCENARIO_KINDS:
        raise ConfigError(f"unknown scenario kind {kind!r}: expected one of {SCENARIO_KINDS}")
    sequence = np.random.SeedSequence([abs(int(seed)), SCENARIO_KINDS.index(kind), int(path)])
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


# ------------------------------------------------------------------------------------------ bar algebra
def _check_frame(frame: pd.DataFrame, name: str) -> None:
    missing = [c for c in BAR_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"bar frame lacks columns {missing}: expected {list(BAR_COLUMNS)}", field=name)
    if len(frame) < 1:
        raise DataError("bar frame is empty", field=name)
    values = frame[list(PRICE_COLUMNS)].to_numpy(dtype=np.float64)
    if not (np.isfinite(values).all() and (values > 0).all()):
        raise DataError("bar prices must be finite and positive", field=name)


def _check_aligned(bars: Mapping[str, pd.DataFrame]) -> pd.DatetimeIndex:
    if not bars:
        raise DataError("no instruments in the bar frames")
    names = list(bars)
    for name in names:
        _check_frame(bars[name], name)
    index = pd.DatetimeIndex(bars[names[0]].index)
    for name in names[1:]:
        if not index.equals(pd.DatetimeIndex(bars[name].index)):
            raise DataError(
                f"the bars of {name} and {names[0]} are not on the same timestamps: multi-instrument "
                "scenarios resample whole rows and need aligned bars",
                field=name,
            )
    return index


def _check_anchor(bars: Mapping[str, pd.DataFrame], anchor: Mapping[str, float]) -> None:
    for name in bars:
        value = anchor.get(name)
        if value is None or not np.isfinite(value) or value <= 0:
            raise DataError(f"anchor close of {name} must be a positive number, was {value!r}", field=name)


def bar_log_ratios(frame: pd.DataFrame, anchor: float) -> FloatArray:
    """Return the ``(T, 4)`` log prices of the bars relative to each previous close.

    Parameters
    ----------
    frame : pd.DataFrame
        OHLCV bars in time order.
    anchor : float
        The close of the bar before the first one.

    Returns
    -------
    ndarray
        ``log(open, high, low, close / close_{t-1})`` per bar, ``close_{-1} = anchor``.

    """
    prices = frame[list(PRICE_COLUMNS)].to_numpy(dtype=np.float64)
    previous = np.concatenate([[anchor], prices[:-1, 3]])
    return np.asarray(np.log(prices / previous[:, None]), dtype=np.float64)


def bars_from_log_ratios(
    ratios: FloatArray, volume: FloatArray, anchor: float, index: pd.DatetimeIndex
) -> pd.DataFrame:
    """Chain ``(T, 4)`` log ratios to the previous close from ``anchor`` into an OHLCV frame.

    Parameters
    ----------
    ratios : ndarray
        ``log(open, high, low, close / close_{t-1})`` per bar.
    volume : ndarray
        Volume per bar.
    anchor : float
        The close before the first bar.
    index : pd.DatetimeIndex
        The bar timestamps.

    Returns
    -------
    pd.DataFrame
        Columns :data:`BAR_COLUMNS` on ``index``.

    """
    ratios = np.asarray(ratios, dtype=np.float64)
    log_close = np.log(anchor) + np.cumsum(ratios[:, 3])
    previous = np.concatenate([[np.log(anchor)], log_close[:-1]])
    prices = np.exp(previous[:, None] + ratios)
    frame = pd.DataFrame(prices, index=index, columns=list(PRICE_COLUMNS))
    frame["volume"] = np.asarray(volume, dtype=np.float64)
    return frame


@dataclass(frozen=True)
class BarShapes:
    """What a bar looks like around its close-to-close move, per bar and instrument.

    Attributes
    ----------
    gap : ndarray
        ``(T, N)`` ``log(open / close_{t-1})``.
    upper : ndarray
        ``(T, N)`` ``log(high / max(open, close)) >= 0``.
    lower : ndarray
        ``(T, N)`` ``log(min(open, close) / low) >= 0``.
    volume : ndarray
        ``(T, N)`` volumes.

    """

    gap: FloatArray
    upper: FloatArray
    lower: FloatArray
    volume: FloatArray


def bar_shapes(bars: Mapping[str, pd.DataFrame], anchor: Mapping[str, float]) -> BarShapes:
    """Return the gaps, wicks and volumes of aligned bars (rows drawn together keep their dependence)."""
    _check_aligned(bars)
    _check_anchor(bars, anchor)
    columns = []
    for name, frame in bars.items():
        x = bar_log_ratios(frame, anchor[name])
        body_high = np.maximum(x[:, 0], x[:, 3])
        body_low = np.minimum(x[:, 0], x[:, 3])
        columns.append(
            (
                x[:, 0],
                np.maximum(x[:, 1] - body_high, 0.0),
                np.maximum(body_low - x[:, 2], 0.0),
                frame["volume"].to_numpy(dtype=np.float64),
            )
        )
    gap, upper, lower, volume = (np.column_stack([c[k] for c in columns]) for k in range(4))
    return BarShapes(gap, upper, lower, volume)


def bars_from_returns(
    log_returns: FloatArray,
    shapes: BarShapes,
    rows: npt.NDArray[np.int64],
    anchor: Mapping[str, float],
    index: pd.DatetimeIndex,
    names: Sequence[str],
) -> Bars:
    """Build OHLCV bars from close-to-close log returns and the bar shapes of rows ``rows``.

    ``open = close_{t-1} e^gap``, ``close = close_{t-1} e^r``, ``high = max(open, close) e^upper``,
    ``low = min(open, close) e^-lower``: consistent whatever the return.

    Parameters
    ----------
    log_returns : ndarray
        ``(T, N)`` close-to-close log returns.
    shapes : BarShapes
        Shapes to draw from.
    rows : ndarray
        ``(T,)`` row of ``shapes`` used for each bar.
    anchor : Mapping
        Close before the first bar, per instrument.
    index : pd.DatetimeIndex
        The ``T`` timestamps.
    names : Sequence[str]
        The ``N`` instruments, in column order.

    Returns
    -------
    dict
        Instrument → OHLCV frame.

    """
    out: Bars = {}
    for i, name in enumerate(names):
        r = log_returns[:, i]
        gap = shapes.gap[rows, i]
        ratios = np.column_stack(
            [
                gap,
                np.maximum(gap, r) + shapes.upper[rows, i],
                np.minimum(gap, r) - shapes.lower[rows, i],
                r,
            ]
        )
        out[name] = bars_from_log_ratios(ratios, shapes.volume[rows, i], anchor[name], index)
    return out


def log_returns_matrix(bars: Mapping[str, pd.DataFrame], anchor: Mapping[str, float]) -> FloatArray:
    """Return the ``(T, N)`` close-to-close log returns of aligned bars (the first from ``anchor``)."""
    _check_aligned(bars)
    _check_anchor(bars, anchor)
    return np.column_stack([bar_log_ratios(frame, anchor[name])[:, 3] for name, frame in bars.items()])


def _check_paths(n_paths: int) -> None:
    if n_paths < 1:
        raise ConfigError(f"paths must be >= 1, was {n_paths}")


# ------------------------------------------------------------------------------------------ generators
def bootstrap_paths(
    window: Mapping[str, pd.DataFrame],
    anchor: Mapping[str, float],
    n_paths: int,
    seed: int,
    block_length: float = 1.0,
) -> list[Bars]:
    """Resample the window's bars whole, i.i.d. (``block_length=1``) or in stationary blocks.

    Row ``t`` of a path is row ``k_t`` of the window for every instrument (its four log ratios to the
    previous close and its volume), so each instrument's one-bar returns are drawn from its own
    empirical distribution and the instruments' dependence within a bar is kept.

    Parameters
    ----------
    window : Mapping
        Instrument → OHLCV bars of the window (aligned).
    anchor : Mapping
        Close before the window per instrument (the paths start there).
    n_paths : int
        Paths to draw.
    seed : int
        Seed of the generator.
    block_length : float, default 1.0
        Mean block length (1: i.i.d.).

    Returns
    -------
    list of dict
        ``n_paths`` bar sets on the window's timestamps.

    """
    _check_paths(n_paths)
    if not block_length >= 1.0:
        raise ConfigError(f"block_length must be >= 1, was {block_length}")
    index = _check_aligned(window)
    _check_anchor(window, anchor)
    ratios = {name: bar_log_ratios(frame, anchor[name]) for name, frame in window.items()}
    volumes = {name: frame["volume"].to_numpy(dtype=np.float64) for name, frame in window.items()}
    rng = np.random.default_rng(seed)
    rows = bootstrap_indices(len(index), n_paths, len(index), block_length, rng)
    return [
        {
            name: bars_from_log_ratios(ratios[name][rows[p]], volumes[name][rows[p]], anchor[name], index)
            for name in window
        }
        for p in range(n_paths)
    ]


@dataclass(frozen=True)
class GbmFit:
    """Geometric Brownian motion per bar: ``dS/S = mu dt + sigma dW`` with correlated ``W``.

    Attributes
    ----------
    log_drift : ndarray
        ``(N,)`` mean log return per bar, ``mu - sigma^2 / 2``.
    volatility : ndarray
        ``(N,)`` ``sigma``, standard deviation of the log return per bar.
    correlation : ndarray
        ``(N, N)`` correlation of the log returns.

    """

    log_drift: FloatArray
    volatility: FloatArray
    correlation: FloatArray = field(repr=False)

    @property
    def drift(self) -> FloatArray:
        """Return ``mu = log_drift + sigma^2 / 2`` per bar (the drift of the price, not its log)."""
        return np.asarray(self.log_drift + 0.5 * self.volatility**2, dtype=np.float64)


def calibrate_gbm(log_returns: FloatArray) -> GbmFit:
    """Fit a correlated GBM to ``(T, N)`` log returns by their sample mean, deviation and correlation.

    Raises
    ------
    DataError
        If fewer than 3 returns or any non-finite one.

    """
    matrix = np.asarray(log_returns, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    if matrix.shape[0] < 3 or not np.isfinite(matrix).all():
        raise DataError(
            f"GBM calibration needs at least 3 finite log returns per instrument, got {matrix.shape}"
        )
    correlation = np.atleast_2d(np.corrcoef(matrix, rowvar=False)) if matrix.shape[1] > 1 else np.ones((1, 1))
    correlation = np.nan_to_num(correlation, nan=0.0)
    np.fill_diagonal(correlation, 1.0)
    return GbmFit(matrix.mean(axis=0), matrix.std(axis=0, ddof=1), correlation)


def simulate_gbm(fit: GbmFit, n_paths: int, horizon: int, seed: int) -> FloatArray:
    """Return ``(n_paths, horizon, N)`` GBM log returns: ``log_drift + sigma (L z)``, ``L L' = R``."""
    _check_paths(n_paths)
    if horizon < 1:
        raise ConfigError(f"horizon must be >= 1, was {horizon}")
    rng = np.random.default_rng(seed)
    n = fit.log_drift.size
    chol = np.linalg.cholesky(fit.correlation + np.eye(n) * 1e-10)
    shocks = rng.standard_normal((n_paths, horizon, n)) @ chol.T
    return np.asarray(fit.log_drift + fit.volatility * shocks, dtype=np.float64)


def _model_paths(
    log_returns: FloatArray,
    train: Mapping[str, pd.DataFrame],
    train_anchor: Mapping[str, float],
    index: pd.DatetimeIndex,
    anchor: Mapping[str, float],
    rng: np.random.Generator,
) -> list[Bars]:
    shapes = bar_shapes(train, train_anchor)
    names = list(train)
    rows = rng.integers(0, shapes.gap.shape[0], size=(log_returns.shape[0], len(index)))
    return [
        bars_from_returns(log_returns[p], shapes, rows[p], anchor, index, names)
        for p in range(log_returns.shape[0])
    ]


def gbm_paths(
    train: Mapping[str, pd.DataFrame],
    train_anchor: Mapping[str, float],
    index: pd.DatetimeIndex,
    anchor: Mapping[str, float],
    n_paths: int,
    seed: int,
) -> list[Bars]:
    """Return GBM paths calibrated on the training window's bars (:func:`calibrate_gbm`).

    Parameters
    ----------
    train : Mapping
        Instrument → OHLCV bars of the training window (aligned).
    train_anchor : Mapping
        Close before the training window's first bar.
    index : pd.DatetimeIndex
        Timestamps of the paths (the test window's bars).
    anchor : Mapping
        Close before the test window, where the paths start.
    n_paths : int
        Paths to draw.
    seed : int
        Seed: returns, then the bar shapes (drawn from the training window).

    Returns
    -------
    list of dict
        ``n_paths`` bar sets on ``index``.

    """
    _check_paths(n_paths)
    _check_anchor(train, anchor)
    fit = calibrate_gbm(log_returns_matrix(train, train_anchor))
    rng = np.random.default_rng(seed)
    returns = simulate_gbm(fit, n_paths, len(index), int(rng.integers(2**32)))
    return _model_paths(returns, train, train_anchor, index, anchor, rng)


def garch_paths(
    train: Mapping[str, pd.DataFrame],
    train_anchor: Mapping[str, float],
    index: pd.DatetimeIndex,
    anchor: Mapping[str, float],
    n_paths: int,
    seed: int,
) -> list[Bars]:
    """Return GARCH(1,1) paths fitted on the training window (``montecarlo.garch_scenarios``).

    Parameters are those of :func:`gbm_paths`; the training window needs at least 30 bars.
    """
    _check_paths(n_paths)
    _check_anchor(train, anchor)
    simple = np.expm1(log_returns_matrix(train, train_anchor))
    rng = np.random.default_rng(seed)
    scenarios = garch_scenarios(simple, n_paths, len(index), int(rng.integers(2**32)))
    # a simple return <= -100 % has no log; GARCH tails that far are cut at -99 %
    returns = np.log1p(np.maximum(scenarios, -0.99))
    return _model_paths(returns, train, train_anchor, index, anchor, rng)


# ------------------------------------------------------------------------------------------ stresses
def _seeded_bar(n_bars: int, rng: np.random.Generator) -> int:
    """Return a bar position after the window's first tenth (the strategy has had time to position)."""
    return int(rng.integers(min(n_bars // 10, n_bars - 1), n_bars))


def crash_gap(
    window: Mapping[str, pd.DataFrame], anchor: Mapping[str, float], magnitude: float, seed: int
) -> tuple[Bars, int]:
    """Insert one overnight gap of ``-magnitude`` at a seeded bar of every instrument.

    From bar ``t`` on, every price is multiplied by ``1 - magnitude``: bar ``t`` opens (and closes)
    ``magnitude`` lower than it would have, every other one-bar return is unchanged.

    Parameters
    ----------
    window : Mapping
        Instrument → OHLCV bars (aligned).
    anchor : Mapping
        Close before the window.
    magnitude : float
        Size of the gap in ``(0, 1)``.
    seed : int
        Seed of the bar position.

    Returns
    -------
    tuple
        The stressed bars and the position ``t`` of the gap.

    """
    if not 0.0 < magnitude < 1.0:
        raise ConfigError(f"crash_gap: magnitude must be in (0, 1), was {magnitude}")
    index = _check_aligned(window)
    _check_anchor(window, anchor)
    t = _seeded_bar(len(index), np.random.default_rng(seed))
    out: Bars = {}
    for name, frame in window.items():
        x = bar_log_ratios(frame, anchor[name])
        x[t] += np.log1p(-magnitude)
        out[name] = bars_from_log_ratios(x, frame["volume"].to_numpy(dtype=np.float64), anchor[name], index)
    return out, t


def scale_volatility(
    window: Mapping[str, pd.DataFrame], anchor: Mapping[str, float], multiplier: float
) -> Bars:
    """Scale every instrument's log returns around their mean by ``multiplier``.

    ``x' = m + multiplier (x - m)`` for the four log ratios of each bar, ``m`` the mean close-to-close
    log return: the close-to-close standard deviation is multiplied by ``multiplier``, the mean kept,
    and the bars stay consistent (one increasing map of all four).
    """
    if not multiplier > 0.0:
        raise ConfigError(f"scale_volatility: multiplier must be > 0, was {multiplier}")
    index = _check_aligned(window)
    _check_anchor(window, anchor)
    out: Bars = {}
    for name, frame in window.items():
        x = bar_log_ratios(frame, anchor[name])
        centre = float(x[:, 3].mean())
        out[name] = bars_from_log_ratios(
            centre + multiplier * (x - centre),
            frame["volume"].to_numpy(dtype=np.float64),
            anchor[name],
            index,
        )
    return out


def liquidity_drought(window: Mapping[str, pd.DataFrame], volume_factor: float) -> Bars:
    """Return the window with its volumes multiplied by ``volume_factor`` (prices unchanged).

    The wider spreads of a drought reach bar-data backtests through the venue's fill model (more
    slippage) and fee model (higher costs), which the scenario runner sets.
    """
    if not 0.0 < volume_factor <= 1.0:
        raise ConfigError(f"liquidity_drought: volume_factor must be in (0, 1], was {volume_factor}")
    _check_aligned(window)
    return {name: frame.assign(volume=frame["volume"] * volume_factor) for name, frame in window.items()}


def flash_crash(
    window: Mapping[str, pd.DataFrame],
    anchor: Mapping[str, float],
    drop: float,
    bars: int,
    seed: int,
) -> tuple[Bars, int]:
    """Replay an intraday drop of ``drop`` at a seeded bar and its recovery within ``bars`` bars.

    Prices of bar ``t + k`` are multiplied by ``f_k = 1 - drop (1 - k / bars)`` for ``k = 0..bars``
    (1 elsewhere): bar ``t`` opens normally and closes ``drop`` lower, its low at least that low; the
    next bars open where the previous one closed and climb back linearly; from bar ``t + bars`` on the
    prices are the real ones.

    Returns
    -------
    tuple
        The stressed bars and the position ``t`` of the crash bar.

    """
    if not 0.0 < drop < 1.0:
        raise ConfigError(f"flash_crash: drop must be in (0, 1), was {drop}")
    if bars < 1:
        raise ConfigError(f"flash_crash: bars must be >= 1, was {bars}")
    index = _check_aligned(window)
    _check_anchor(window, anchor)
    n = len(index)
    t = _seeded_bar(n, np.random.default_rng(seed))
    k = np.arange(n) - t
    close_factor = np.where((k >= 0) & (k < bars), 1.0 - drop * (1.0 - k / bars), 1.0)
    open_factor = np.concatenate([[1.0], close_factor[:-1]])
    high_factor = np.maximum(open_factor, close_factor)
    low_factor = np.minimum(open_factor, close_factor)
    out: Bars = {}
    for name, frame in window.items():
        o, h, lo, c = (frame[col].to_numpy(dtype=np.float64) for col in PRICE_COLUMNS)
        new_open, new_close = o * open_factor, c * close_factor
        stressed = pd.DataFrame(
            {
                "open": new_open,
                "high": np.maximum(h * high_factor, np.maximum(new_open, new_close)),
                "low": np.minimum(lo * low_factor, np.minimum(new_open, new_close)),
                "close": new_close,
                "volume": frame["volume"].to_numpy(dtype=np.float64),
            },
            index=index,
        )
        out[name] = stressed
    return out, t


def block_permutation(n_rows: int, block_length: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Return a permutation of ``range(n_rows)`` that shuffles consecutive blocks of ``block_length``."""
    if block_length < 1:
        raise ConfigError(f"block_length must be >= 1, was {block_length}")
    blocks = [np.arange(s, min(s + block_length, n_rows)) for s in range(0, n_rows, block_length)]
    order = rng.permutation(len(blocks))
    return np.concatenate([blocks[i] for i in order]).astype(np.int64)


def break_correlation(
    window: Mapping[str, pd.DataFrame], anchor: Mapping[str, float], block_length: int, seed: int
) -> Bars:
    """Block-permute every instrument but the first in time, each with its own permutation.

    Each instrument keeps its bars (their four log ratios and volumes, so its marginal distribution
    exactly) but they no longer line up with the first instrument's, which stays as it was: the
    cross-correlation collapses. Blocks of ``block_length`` bars keep short-range autocorrelation.
    """
    index = _check_aligned(window)
    _check_anchor(window, anchor)
    rng = np.random.default_rng(seed)
    names = list(window)
    out: Bars = {names[0]: window[names[0]].copy()}
    for name in names[1:]:
        frame = window[name]
        order = block_permutation(len(index), block_length, rng)
        x = bar_log_ratios(frame, anchor[name])[order]
        volume = frame["volume"].to_numpy(dtype=np.float64)[order]
        out[name] = bars_from_log_ratios(x, volume, anchor[name], index)
    return out


# ------------------------------------------------------------------------------------------ dispatch
@dataclass(frozen=True)
class ScenarioPath:
    """One path of one scenario kind: its bars and what the runner must know to replay it.

    Attributes
    ----------
    kind : str
        The scenario kind (``"baseline"`` for the real window).
    path : int
        The path number within the kind.
    seed : int
        The path's seed (:func:`path_seed`).
    bars : dict
        Instrument → OHLCV bars of the test window.
    details : dict
        What the draw chose (the crash bar, ...), JSON-serializable.
    slippage_probability : float, optional
        Venue fill model ``prob_slippage`` (liquidity drought), None for the default fill model.
    fee_multiplier : float, optional
        Factor on the instruments' fees (liquidity drought), None for the default fee model.

    """

    kind: str
    path: int
    seed: int
    bars: Bars = field(repr=False)
    details: dict[str, Any] = field(default_factory=dict)
    slippage_probability: float | None = None
    fee_multiplier: float | None = None


def generate_paths(
    kind: str,
    config: ScenarioConfig,
    window: Mapping[str, pd.DataFrame],
    anchor: Mapping[str, float],
    train: Mapping[str, pd.DataFrame],
    train_anchor: Mapping[str, float],
) -> list[ScenarioPath]:
    """Return the paths of ``kind`` for the test window ``window``.

    Parameters
    ----------
    kind : str
        One of :data:`SCENARIO_KINDS`.
    config : ScenarioConfig
        Paths, seed and magnitudes.
    window : Mapping
        Instrument → real OHLCV bars of the test window (aligned).
    anchor : Mapping
        Close before the test window.
    train : Mapping
        Instrument → real OHLCV bars of the training window (for the model-based kinds).
    train_anchor : Mapping
        Close before the training window (its first bar's open stands in when there is none).

    Returns
    -------
    list of ScenarioPath
        ``config.paths`` paths (one for deterministic kinds), numbered from 0.

    """
    if kind not in SCENARIO_KINDS:
        raise ConfigError(f"unknown scenario kind {kind!r}: expected one of {SCENARIO_KINDS}")
    index = _check_aligned(window)
    n_paths = 1 if kind in DETERMINISTIC_KINDS else config.paths
    seeds = [path_seed(config.seed, kind, p) for p in range(n_paths)]
    if kind in ("iid_bootstrap", "block_bootstrap"):
        block = 1.0 if kind == "iid_bootstrap" else config.block_length or default_block_length(len(index))
        return [
            ScenarioPath(
                kind,
                p,
                seeds[p],
                bootstrap_paths(window, anchor, 1, seeds[p], block)[0],
                {"block_length": block},
            )
            for p in range(n_paths)
        ]
    if kind in ("gbm", "garch"):
        generate = gbm_paths if kind == "gbm" else garch_paths
        return [
            ScenarioPath(kind, p, seeds[p], generate(train, train_anchor, index, anchor, 1, seeds[p])[0])
            for p in range(n_paths)
        ]
    if kind == "crash_gap":
        out = []
        for p in range(n_paths):
            bars, t = crash_gap(window, anchor, config.crash_gap, seeds[p])
            out.append(
                ScenarioPath(
                    kind, p, seeds[p], bars, {"bar": t, "ts": index[t].isoformat(), "gap": -config.crash_gap}
                )
            )
        return out
    if kind == "volatility_x3":
        bars = scale_volatility(window, anchor, config.volatility_multiplier)
        return [ScenarioPath(kind, 0, seeds[0], bars, {"multiplier": config.volatility_multiplier})]
    if kind == "liquidity_drought":
        bars = liquidity_drought(window, config.drought_volume_factor)
        return [
            ScenarioPath(
                kind,
                p,
                seeds[p],
                bars,
                {"volume_factor": config.drought_volume_factor},
                slippage_probability=config.drought_slippage_probability,
                fee_multiplier=config.drought_fee_multiplier,
            )
            for p in range(n_paths)
        ]
    if kind == "flash_crash":
        out = []
        for p in range(n_paths):
            bars, t = flash_crash(window, anchor, config.flash_crash_drop, config.flash_crash_bars, seeds[p])
            out.append(
                ScenarioPath(
                    kind,
                    p,
                    seeds[p],
                    bars,
                    {
                        "bar": t,
                        "ts": index[t].isoformat(),
                        "drop": -config.flash_crash_drop,
                        "bars": config.flash_crash_bars,
                    },
                )
            )
        return out
    return [
        ScenarioPath(
            kind,
            p,
            seeds[p],
            break_correlation(window, anchor, config.correlation_block_length, seeds[p]),
            {"block_length": config.correlation_block_length},
        )
        for p in range(n_paths)
    ]
