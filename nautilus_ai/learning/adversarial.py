r"""Adversarial training of the staged model: a bounded scenario adversary and a minimax loop.

Three pieces, each a pure function of its inputs and a seed:

* **The scenario box.** :class:`ScenarioBounds` declares how far the adversary may push the market:
  a volatility multiplier (:func:`~nautilus_ai.backtest.scenarios.scale_volatility`), an overnight
  gap (:func:`~nautilus_ai.backtest.scenarios.crash_gap`, at a seeded bar), a drift reversal
  (:func:`reverse_drift`: the window's mean log return ``m`` becomes ``(1 - 2 s) m``), a wider spread
  (an extra cost in basis points per unit of turnover) and noise on the features the model reads (in
  units of each feature's standard deviation). A :class:`Scenario` is one point of that box;
  :func:`apply_scenario` turns it into stressed bars, reusing the kernels of
  :mod:`nautilus_ai.backtest.scenarios`.
* **The adversary.** :func:`evaluate_strategy` is a vectorized replay of the strategy: features of
  the (stressed) bars by the batch twins of the FeatureActor
  (:func:`~nautilus_ai.indicators.batch_features.batch_feature_frame`), the staged model's
  directions (:meth:`~nautilus_ai.learning.staged.StagedModel.predict_frame`: its filter and
  thresholds), a unit position per instrument held from one close to the next, costs on turnover,
  and equal weights across instruments. :func:`search_worst_scenario` minimises the strategy's
  objective (Sharpe, mean return or minus CVaR) over the box: seeded random search, then a seeded
  local refinement around the worst point.
* **The minimax loop.** :func:`adversarial_train` alternates: the adversary finds the scenario
  that hurts the current model most on the training window; the training rows of that stressed
  market (features recomputed, labels from the stressed forward returns, its feature noise added) are
  appended to the training set; the stage-2 sequence model additionally learns on bounded
  adversarial examples of its own training windows (:func:`perturb_sequences`: projected gradient
  steps on the standardized inputs within an L-inf ball of radius ``epsilon``); the staged model is
  refit with :func:`~nautilus_ai.learning.train_staged.fit_staged`.

The vectorized evaluator is not the engine: it has no order book, no fill model and no risk layer,
and positions change at the close of the signal's bar. It is the adversary's inner loop (hundreds of
evaluations per round); ``benchmarks/bench_adversarial.py`` reports its figures as such.

References
----------
Goodfellow, I., Shlens, J., Szegedy, C. (2015). Explaining and Harnessing Adversarial Examples. ICLR.
Madry, A. et al. (2018). Towards Deep Learning Models Resistant to Adversarial Attacks. ICLR.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nautilus_ai.backtest.scenarios import (
    BAR_COLUMNS,
    Bars,
    bar_log_ratios,
    bars_from_log_ratios,
    crash_gap,
    scale_volatility,
)
from nautilus_ai.errors import ConfigError, DataError, ModelError
from nautilus_ai.indicators.batch_features import batch_feature_frame
from nautilus_ai.indicators.feature_spec import FeatureSpec
from nautilus_ai.learning.labels import forward_returns, label_end_times
from nautilus_ai.learning.staged import StagedModel
from nautilus_ai.learning.train_staged import StagedParams, fit_staged
from nautilus_ai.risk.cvar import conditional_value_at_risk

Objective = Literal["sharpe", "mean_return", "neg_cvar"]
"""What the strategy maximises and the adversary minimises: annualized Sharpe ratio of the bar
returns, their mean, or minus their CVaR 95 % (the mean loss of the worst 5 % of bars)."""

OBJECTIVES: tuple[str, ...] = get_args(Objective)

SCENARIO_FIELDS = ("volatility_multiplier", "gap", "drift_reversal", "spread_bp", "feature_noise")
"""The coordinates of a :class:`Scenario`, in the order of the adversary's unit cube."""


# ------------------------------------------------------------------------------------------ scenarios
class Scenario(BaseModel):
    """One stressed market: a point of the :class:`ScenarioBounds` box (defaults: no stress).

    Attributes
    ----------
    volatility_multiplier : float
        Factor on the log returns' deviations from their mean (1 = unchanged).
    gap : float
        Size of one overnight gap down at a seeded bar (0.1 = -10 %; 0 = none).
    drift_reversal : float
        Strength ``s`` in [0, 1] of the drift reversal: the mean log return ``m`` becomes ``(1 - 2 s) m``.
    spread_bp : float
        Extra cost per unit of turnover, in basis points (a wider spread).
    feature_noise : float
        Standard deviation of Gaussian noise on every feature, in units of the feature's own standard
        deviation over the window.

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    volatility_multiplier: float = Field(default=1.0, gt=0.0)
    gap: float = Field(default=0.0, ge=0.0, lt=1.0)
    drift_reversal: float = Field(default=0.0, ge=0.0, le=1.0)
    spread_bp: float = Field(default=0.0, ge=0.0)
    feature_noise: float = Field(default=0.0, ge=0.0)

    def as_dict(self) -> dict[str, float]:
        """Return the coordinates by name."""
        return {name: float(getattr(self, name)) for name in SCENARIO_FIELDS}


class ScenarioBounds(BaseModel):
    """The box the adversary searches: one ``[low, high]`` range per :class:`Scenario` coordinate.

    Attributes
    ----------
    volatility_multiplier : tuple of float
        Range of the volatility multiplier (> 0).
    gap : tuple of float
        Range of the overnight gap size (in [0, 1)).
    drift_reversal : tuple of float
        Range of the drift-reversal strength (in [0, 1]).
    spread_bp : tuple of float
        Range of the extra spread cost in basis points (>= 0).
    feature_noise : tuple of float
        Range of the feature-noise standard deviation in feature standard deviations (>= 0).

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    volatility_multiplier: tuple[float, float] = (1.0, 2.5)
    gap: tuple[float, float] = (0.0, 0.1)
    drift_reversal: tuple[float, float] = (0.0, 1.0)
    spread_bp: tuple[float, float] = (0.0, 10.0)
    feature_noise: tuple[float, float] = (0.0, 0.5)

    @model_validator(mode="after")
    def _ranges_are_valid(self) -> ScenarioBounds:
        limits: dict[str, tuple[float, float, bool]] = {
            # name: (lowest allowed, highest allowed, highest is exclusive)
            "volatility_multiplier": (1e-9, np.inf, False),
            "gap": (0.0, 1.0, True),
            "drift_reversal": (0.0, 1.0, False),
            "spread_bp": (0.0, np.inf, False),
            "feature_noise": (0.0, np.inf, False),
        }
        for name, (lowest, highest, exclusive) in limits.items():
            low, high = getattr(self, name)
            if not (np.isfinite(low) and np.isfinite(high)):
                raise ValueError(f"{name}: bounds must be finite numbers, got [{low}, {high}]")
            if low > high:
                raise ValueError(f"{name}: low {low} is above high {high}; write [low, high]")
            too_high = high >= highest if exclusive else high > highest
            if low < lowest or too_high:
                interval = f"[{lowest:g}, {highest:g}{')' if exclusive else ']'}"
                raise ValueError(f"{name}: [{low}, {high}] must lie in {interval}")
        return self

    def scenario_at(self, unit: np.ndarray) -> Scenario:
        """Return the scenario at ``unit`` in ``[0, 1]^5`` (0 = each range's low end), clipped to the box."""
        u = np.clip(np.asarray(unit, dtype=np.float64).reshape(-1), 0.0, 1.0)
        if u.shape != (len(SCENARIO_FIELDS),):
            raise ConfigError(f"scenario_at: expected {len(SCENARIO_FIELDS)} coordinates, got {u.shape}")
        values = {}
        for name, x in zip(SCENARIO_FIELDS, u, strict=True):
            low, high = getattr(self, name)
            values[name] = float(low + x * (high - low))
        return Scenario(**values)

    def contains(self, scenario: Scenario) -> bool:
        """Return whether every coordinate of ``scenario`` lies inside its range."""
        return all(
            getattr(self, name)[0] <= getattr(scenario, name) <= getattr(self, name)[1]
            for name in SCENARIO_FIELDS
        )


class AdversarialConfig(BaseModel):
    """The minimax loop: rounds, the adversary's budget, the perturbation radius and the costs.

    Attributes
    ----------
    bounds : ScenarioBounds
        The box the adversary searches.
    rounds : int
        Adversary/refit rounds (0 = the plain model).
    search_trials : int
        Random points of the box the adversary evaluates per round (its two corners included).
    refine_trials : int
        Local refinement steps around the worst point per round.
    sequence_epsilon : float
        Radius of the L-inf ball of the stage-2 adversarial examples, in standardized units
        (0 = no adversarial examples).
    sequence_steps : int
        Projected gradient steps per adversarial example (1 = FGSM).
    cost_bp : float
        Cost per unit of turnover in every evaluation (commission and half spread), in basis points.
    objective : str
        What the adversary minimises (:data:`OBJECTIVES`).
    adversary : {"worst", "random"}
        ``"worst"``: the adversary's search; ``"random"``: one uniform random point of the box per
        round instead (the control arm: stress augmentation without the search).
    periods_per_year : float
        Bars per year (annualizes the Sharpe ratio).
    seed : int
        Seed of every draw (the experiment's ``seed``).

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    bounds: ScenarioBounds = ScenarioBounds()
    rounds: int = Field(default=2, ge=0, le=50)
    search_trials: int = Field(default=16, ge=2)
    refine_trials: int = Field(default=8, ge=0)
    sequence_epsilon: float = Field(default=0.1, ge=0.0)
    sequence_steps: int = Field(default=3, ge=1)
    cost_bp: float = Field(default=1.0, ge=0.0)
    objective: Objective = "sharpe"
    adversary: Literal["worst", "random"] = "worst"
    periods_per_year: float = Field(default=252.0, gt=0.0)
    seed: int = 0


def _validation_message(error: ValidationError, section: str) -> str:
    return "; ".join(
        f"[{'.'.join(str(p) for p in err['loc']) or section}] {err['msg']} (got {err['input']!r})"
        for err in error.errors()
    )


def parse_scenario_bounds(data: Mapping[str, Any], source: str = "<bounds>") -> ScenarioBounds:
    """Validate a bounds mapping.

    Raises
    ------
    ConfigError
        Naming ``source``, each bad field and what was expected.

    """
    try:
        return ScenarioBounds.model_validate(dict(data))
    except ValidationError as e:
        raise ConfigError(f"{source}: {_validation_message(e, 'bounds')}") from None


def parse_adversarial_config(data: Mapping[str, Any], source: str = "<adversarial>") -> AdversarialConfig:
    """Validate an adversarial-training mapping (``bounds`` as a nested table).

    Raises
    ------
    ConfigError
        Naming ``source``, each bad field and what was expected.

    """
    try:
        return AdversarialConfig.model_validate(dict(data))
    except ValidationError as e:
        raise ConfigError(f"{source}: {_validation_message(e, 'adversarial')}") from None


# ------------------------------------------------------------------------------------------ stressed bars
def reverse_drift(window: Mapping[str, pd.DataFrame], anchor: Mapping[str, float], strength: float) -> Bars:
    """Shift every bar's log ratios so the window's mean log return ``m`` becomes ``(1 - 2 strength) m``.

    The same constant is added to the four log ratios of each bar (open, high, low and close relative
    to the previous close), so the bars stay consistent and the volatility is unchanged; 1 reverses the
    drift, 0.5 removes it.
    """
    if not 0.0 <= strength <= 1.0:
        raise ConfigError(f"reverse_drift: strength must be in [0, 1], was {strength}")
    out: Bars = {}
    for name, frame in window.items():
        x = bar_log_ratios(frame, anchor[name])
        shift = -2.0 * strength * float(x[:, 3].mean())
        out[name] = bars_from_log_ratios(
            x + shift, frame["volume"].to_numpy(dtype=np.float64), anchor[name], pd.DatetimeIndex(frame.index)
        )
    return out


def apply_scenario(
    bars: Mapping[str, pd.DataFrame], scenario: Scenario, seed: int, *, start: pd.Timestamp | None = None
) -> Bars:
    """Return the bars with the scenario's market stress applied from ``start`` on.

    The bars before ``start`` are kept (the features' warm-up); from ``start`` on the log returns are
    scaled around their mean (:func:`~nautilus_ai.backtest.scenarios.scale_volatility`), the drift
    is reversed (:func:`reverse_drift`) and one gap is inserted at a bar drawn from ``seed``
    (:func:`~nautilus_ai.backtest.scenarios.crash_gap`), chained from the last real close. The spread
    and the feature noise are not bar changes: :func:`evaluate_strategy` applies them.

    Parameters
    ----------
    bars : Mapping
        Instrument → OHLCV frame on a ``DatetimeIndex`` (extra columns are dropped). Each instrument
        is stressed on its own; on common timestamps the gap falls on the same bar for all.
    scenario : Scenario
        The stress.
    seed : int
        Seed of the gap's bar.
    start : pd.Timestamp, optional
        First stressed bar (default: the first bar; its anchor is then its own open).

    Returns
    -------
    dict
        Instrument → OHLCV frame, same index as the input.

    Raises
    ------
    DataError
        If a frame has no bar at or after ``start`` or invalid prices.

    """
    warmup: Bars = {}
    window: Bars = {}
    anchor: dict[str, float] = {}
    for name, frame in bars.items():
        ohlcv = frame[list(BAR_COLUMNS)].astype(np.float64)
        inside = np.ones(len(ohlcv), dtype=bool) if start is None else np.asarray(ohlcv.index >= start)
        if not inside.any():
            raise DataError(f"no bar at or after the stress start {start}", field=name)
        warmup[name], window[name] = ohlcv[~inside], ohlcv[inside]
        anchor[name] = (
            float(warmup[name]["close"].iloc[-1])
            if len(warmup[name])
            else float(window[name]["open"].iloc[0])
        )
    out: Bars = {}
    for name in bars:  # one instrument at a time: the kernels need no common timestamps then
        stressed: Bars = {name: window[name]}
        if scenario.volatility_multiplier != 1.0:
            stressed = scale_volatility(stressed, anchor, scenario.volatility_multiplier)
        if scenario.drift_reversal > 0.0:
            stressed = reverse_drift(stressed, anchor, scenario.drift_reversal)
        if scenario.gap > 0.0:
            stressed, _ = crash_gap(stressed, anchor, scenario.gap, seed)
        out[name] = pd.concat([warmup[name], stressed[name]])
    return out


def add_feature_noise(
    features: np.ndarray, epsilon: float, seed: int, *, rows: np.ndarray | None = None
) -> np.ndarray:
    """Return ``features`` plus Gaussian noise of ``epsilon`` times each column's standard deviation.

    Parameters
    ----------
    features : np.ndarray
        Matrix (n, d); NaN stays NaN.
    epsilon : float
        Noise scale in feature standard deviations (>= 0).
    seed : int
        Seed of the noise.
    rows : np.ndarray, optional
        Boolean mask of the rows to perturb (default all); the standard deviations are taken over them.

    Returns
    -------
    np.ndarray
        A float64 copy.

    """
    if not epsilon >= 0.0:
        raise ConfigError(f"feature noise epsilon must be >= 0, was {epsilon}")
    out = np.array(features, dtype=np.float64, copy=True)
    mask = np.ones(len(out), dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    if epsilon == 0.0 or not mask.any():
        return out
    with np.errstate(invalid="ignore"):
        scale = np.nanstd(out[mask], axis=0)
    scale = np.where(np.isfinite(scale), scale, 0.0)
    noise = np.random.default_rng(seed).standard_normal((int(mask.sum()), out.shape[1]))
    out[mask] += epsilon * scale * noise
    return out


# ------------------------------------------------------------------------------------------ evaluation
@dataclass(frozen=True)
class StrategyEvaluation:
    """The vectorized strategy's result on one market.

    Attributes
    ----------
    returns : pd.Series
        Net portfolio return per bar (equal weights across instruments).
    sharpe : float
        Annualized Sharpe ratio of ``returns`` (0 when they do not vary).
    mean_return : float
        Mean of ``returns``.
    total_return : float
        Compounded return.
    max_drawdown : float
        Largest fall of the equity from its running peak (> 0 is a loss).
    hit_rate : float
        Share of the bars with a position whose gross return was positive (NaN without positions).
    cvar_95 : float
        Mean loss of the worst 5 % of bars (> 0 is a loss).
    turnover : float
        Mean absolute position change per instrument and bar.

    """

    returns: pd.Series = field(repr=False)
    sharpe: float
    mean_return: float
    total_return: float
    max_drawdown: float
    hit_rate: float
    cvar_95: float
    turnover: float

    def objective(self, kind: str) -> float:
        """Return the objective ``kind`` (:data:`OBJECTIVES`): larger is better for the strategy."""
        if kind == "sharpe":
            return self.sharpe
        if kind == "mean_return":
            return self.mean_return
        if kind == "neg_cvar":
            return -self.cvar_95
        raise ConfigError(f"unknown objective {kind!r}: expected one of {OBJECTIVES}")

    def metrics(self) -> dict[str, float]:
        """Return the scalar metrics by name."""
        return {
            "sharpe": self.sharpe,
            "total_return": self.total_return,
            "max_drawdown": self.max_drawdown,
            "hit_rate": self.hit_rate,
            "cvar_95": self.cvar_95,
            "turnover": self.turnover,
        }


def position_returns(
    positions: np.ndarray, closes: np.ndarray, cost_bp: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return the net and gross return of holding ``positions[t]`` from close ``t`` to close ``t + 1``.

    The position is entered at close ``t`` (starting flat) and pays ``cost_bp`` per unit of position
    change; the last bar has no next close and gives no return.

    Parameters
    ----------
    positions : np.ndarray
        Position per bar (-1, 0, +1 or a weight), shape (T,).
    closes : np.ndarray
        Close per bar, shape (T,).
    cost_bp : float
        Cost per unit of turnover in basis points.

    Returns
    -------
    tuple[np.ndarray, np.ndarray]
        Net and gross returns, shape (T - 1,), realized at bars ``1..T-1``.

    """
    pos = np.asarray(positions, dtype=np.float64)
    price = np.asarray(closes, dtype=np.float64)
    if pos.shape != price.shape or pos.ndim != 1:
        raise DataError(f"positions {pos.shape} and closes {price.shape} must be two equal 1-D arrays")
    turnover = np.abs(np.diff(np.concatenate([[0.0], pos])))
    gross = pos[:-1] * (price[1:] / price[:-1] - 1.0)
    net = gross - turnover[:-1] * cost_bp / 1e4
    return net, gross


def feature_history(bars: Mapping[str, pd.DataFrame], spec: FeatureSpec, *, suffix: str = "") -> pd.DataFrame:
    """Return every instrument's FeatureVector rows (batch twins) with ``instrument_id``, in time order.

    ``suffix`` is appended to the instrument ids (a stressed copy of a market is another group, so that
    stage-2 windows never mix it with the real one).
    """
    parts = []
    for name, frame in bars.items():
        features = batch_feature_frame(frame[list(BAR_COLUMNS)], spec)
        parts.append(features.assign(instrument_id=f"{name}{suffix}"))
    if not parts:
        raise DataError("no instruments in the bar frames")
    history = pd.concat(parts).sort_index(kind="stable")
    history.index.name = "ts"
    return history


def evaluate_strategy(
    model: StagedModel,
    bars: Mapping[str, pd.DataFrame],
    spec: FeatureSpec,
    *,
    start: pd.Timestamp,
    end: pd.Timestamp | None = None,
    cost_bp: float = 1.0,
    feature_noise: float = 0.0,
    seed: int = 0,
    periods_per_year: float = 252.0,
) -> StrategyEvaluation:
    """Replay the staged model's directions on ``bars`` from ``start`` to ``end`` (vectorized).

    Features come from the whole frames (the bars before ``start`` are the warm-up and the first
    stage-2 windows), with ``feature_noise`` standard deviations of seeded Gaussian noise on the rows
    inside the window; each instrument holds the model's direction (+1, 0, -1) from each close to the
    next and pays ``cost_bp`` per unit of turnover; the portfolio return is the mean over instruments.

    Raises
    ------
    ModelError
        If the model needs regime probabilities (not synthesized here).
    DataError
        If the window holds fewer than two bars.

    """
    if model.regime_names:
        raise ModelError("evaluate_strategy: models with a regime model are not supported; disable [regime]")
    names = list(model.feature_names_)
    history = feature_history(bars, spec)
    inside = np.asarray(history.index >= start)
    if end is not None:
        inside &= np.asarray(history.index < end)
    X = add_feature_noise(history[names].to_numpy(dtype=np.float64), feature_noise, seed, rows=inside)  # noqa: N806
    groups = history["instrument_id"].to_numpy()
    directions = pd.Series(
        model.predict_frame(X, groups=groups)["direction"].to_numpy(dtype=np.float64), index=history.index
    )
    net_parts, gross_parts, turnovers = [], [], []
    for name, frame in bars.items():
        mine = (groups == name) & inside
        positions = directions[mine]
        closes = frame["close"].reindex(positions.index).to_numpy(dtype=np.float64)
        if len(positions) < 2:
            raise DataError(f"the evaluation window holds {len(positions)} bars: need at least 2", field=name)
        net, gross = position_returns(positions.to_numpy(), closes, cost_bp)
        net_parts.append(pd.Series(net, index=positions.index[1:], name=name))
        gross_parts.append(gross[positions.to_numpy()[:-1] != 0])
        turnovers.append(np.abs(np.diff(np.concatenate([[0.0], positions.to_numpy()]))).mean())
    returns = pd.concat(net_parts, axis=1).fillna(0.0).mean(axis=1).sort_index()
    values = returns.to_numpy(dtype=np.float64)
    std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    equity = np.cumprod(1.0 + values)
    held = np.concatenate(gross_parts)
    return StrategyEvaluation(
        returns=returns,
        sharpe=float(values.mean() / std * np.sqrt(periods_per_year)) if std > 0 else 0.0,
        mean_return=float(values.mean()),
        total_return=float(equity[-1] - 1.0),
        max_drawdown=float(np.max(1.0 - equity / np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:])),
        hit_rate=float((held > 0).mean()) if held.size else float("nan"),
        cvar_95=conditional_value_at_risk(values, 0.95),
        turnover=float(np.mean(turnovers)),
    )


def evaluate_scenario(
    model: StagedModel,
    bars: Mapping[str, pd.DataFrame],
    spec: FeatureSpec,
    scenario: Scenario,
    seed: int,
    *,
    start: pd.Timestamp,
    end: pd.Timestamp | None = None,
    cost_bp: float = 1.0,
    periods_per_year: float = 252.0,
) -> StrategyEvaluation:
    """Evaluate the strategy on the bars stressed by ``scenario`` from ``start`` on (spread and noise too)."""
    stressed = apply_scenario(bars, scenario, seed, start=start)
    return evaluate_strategy(
        model,
        stressed,
        spec,
        start=start,
        end=end,
        cost_bp=cost_bp + scenario.spread_bp,
        feature_noise=scenario.feature_noise,
        seed=seed,
        periods_per_year=periods_per_year,
    )


# ------------------------------------------------------------------------------------------ adversary
@dataclass(frozen=True)
class AdversaryResult:
    """The worst scenario found and every point the adversary evaluated.

    Attributes
    ----------
    scenario : Scenario
        The scenario with the lowest objective.
    objective : float
        Its objective.
    trials : tuple
        ``(scenario, objective)`` of every evaluation, in order.

    """

    scenario: Scenario
    objective: float
    trials: tuple[tuple[Scenario, float], ...] = field(repr=False)


def search_worst_scenario(
    objective: Callable[[Scenario], float],
    bounds: ScenarioBounds,
    *,
    trials: int = 16,
    refine_trials: int = 8,
    seed: int = 0,
) -> AdversaryResult:
    """Minimise ``objective`` over the box: seeded random search, then a local refinement.

    The search evaluates the box's mildest and harshest corners, ``trials - 2`` uniform random
    points, then ``refine_trials`` Gaussian steps (in unit-cube coordinates, clipped to the box) from
    the worst point so far, keeping a step when it is worse for the strategy and halving the step
    size after three misses in a row.

    Parameters
    ----------
    objective : callable
        Scenario → the strategy's objective (larger is better for the strategy); deterministic.
    bounds : ScenarioBounds
        The box.
    trials : int
        Evaluations of the random phase (at least 2: the corners).
    refine_trials : int
        Evaluations of the refinement.
    seed : int
        Seed of the random points and steps.

    Returns
    -------
    AdversaryResult
        The worst scenario (inside ``bounds``), its objective and all evaluations.

    """
    if trials < 2 or refine_trials < 0:
        raise ConfigError(f"search_worst_scenario: trials ({trials}) must be >= 2, refine_trials >= 0")
    rng = np.random.default_rng(seed)
    dims = len(SCENARIO_FIELDS)
    points = [np.zeros(dims), np.ones(dims), *rng.uniform(0.0, 1.0, (trials - 2, dims))]
    history: list[tuple[Scenario, float]] = []
    best_u, best_value = points[0], np.inf
    for u in points:
        scenario = bounds.scenario_at(u)
        value = float(objective(scenario))
        history.append((scenario, value))
        if value < best_value:
            best_u, best_value = u, value
    step, misses = 0.2, 0
    for _ in range(refine_trials):
        u = np.clip(best_u + rng.normal(0.0, step, dims), 0.0, 1.0)
        scenario = bounds.scenario_at(u)
        value = float(objective(scenario))
        history.append((scenario, value))
        if value < best_value:
            best_u, best_value, misses = u, value, 0
        else:
            misses += 1
            if misses >= 3:
                step, misses = step / 2.0, 0
    worst = min(history, key=lambda item: item[1])
    return AdversaryResult(worst[0], worst[1], tuple(history))


# ------------------------------------------------------------------------------------------ perturbations
def perturb_sequences(
    model: Any,
    sequences: np.ndarray,
    labels: np.ndarray,
    epsilon: float,
    *,
    steps: int = 1,
    step_size: float | None = None,
) -> np.ndarray:
    """Return adversarial copies of stage-2 windows within an L-inf ball of radius ``epsilon``.

    Projected gradient ascent on the model's loss (Madry et al. 2018; ``steps=1`` with the default
    step is FGSM, Goodfellow et al. 2015) in the model's standardized units: ``z = (x - mean_) /
    scale_``, ``z <- clip(z + step_size * sign(dL/dz), z0 - epsilon, z0 + epsilon)``; the result is
    mapped back to feature units, so every value moves by at most ``epsilon * scale_`` of its
    feature. Missing values (NaN) stay missing.

    Parameters
    ----------
    model : SequenceClassifier
        The fitted sequence model attacked (its
        :meth:`~nautilus_ai.learning.sequence.SequenceClassifier.input_gradient`).
    sequences : np.ndarray
        Windows (n, window, n_features) in feature units.
    labels : np.ndarray
        Their labels in {0, 1}.
    epsilon : float
        Radius in standardized units (>= 0).
    steps : int
        Gradient steps (>= 1).
    step_size : float, optional
        Size of each step; default ``epsilon`` for one step, else ``2.5 epsilon / steps``.

    Returns
    -------
    np.ndarray
        The perturbed windows, float64, same shape.

    Raises
    ------
    ConfigError
        If ``epsilon`` < 0 or ``steps`` < 1.
    ModelError
        If the model is not fitted or the shapes do not match it.

    """
    if not epsilon >= 0.0:
        raise ConfigError(f"perturb_sequences: epsilon must be >= 0, was {epsilon}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"perturb_sequences: steps must be a positive integer, was {steps!r}")
    x0 = np.asarray(sequences, dtype=np.float64)
    if epsilon == 0.0 or len(x0) == 0:
        return x0.copy()
    alpha = float(step_size) if step_size is not None else (epsilon if steps == 1 else 2.5 * epsilon / steps)
    scale = np.asarray(model.scale_, dtype=np.float64)
    missing = ~np.isfinite(x0)
    delta = np.zeros_like(x0)
    current = x0
    for _ in range(steps):
        gradient = model.input_gradient(current, labels)
        delta = np.clip(delta + alpha * np.sign(gradient), -epsilon, epsilon)
        current = np.where(missing, x0, x0 + delta * scale)
    return current


# ------------------------------------------------------------------------------------------ minimax
def training_rows(
    bars: Mapping[str, pd.DataFrame],
    spec: FeatureSpec,
    horizon: int,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    suffix: str = "",
    feature_noise: float = 0.0,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the labelled training rows of ``[start, end)`` and the full feature history.

    Labels are the ``horizon``-bar forward returns of the bars given (stressed bars give stressed
    labels); rows whose label ends at or after ``end`` are purged. ``feature_noise`` adds seeded noise
    to the features of the rows at or after ``start``.

    Returns
    -------
    tuple[pd.DataFrame, pd.DataFrame]
        The training rows (features, ``instrument_id``, ``fwd_return``, ``label_end``) and every
        feature row of the bars (the stage-2 history), both in time order.

    """
    parts = []
    for name, frame in bars.items():
        close = frame["close"].astype(np.float64)
        labels = pd.DataFrame(
            {
                "fwd_return": forward_returns(close, horizon),
                "label_end": label_end_times(close.index, horizon),
            },
            index=close.index,
        )
        features = feature_history({name: frame}, spec, suffix=suffix)
        parts.append(features.join(labels, how="left"))
    history = pd.concat(parts).sort_index(kind="stable")
    history.index.name = "ts"
    if feature_noise > 0.0:
        names = spec.feature_names()
        noisy = add_feature_noise(
            history[names].to_numpy(dtype=np.float64), feature_noise, seed, rows=history.index >= start
        )
        history[names] = noisy
    inside = (history.index >= start) & (history.index < end)
    rows = history[inside & history["fwd_return"].notna() & (pd.DatetimeIndex(history["label_end"]) < end)]
    return rows, history


@dataclass(frozen=True)
class RoundRecord:
    """One round of the minimax loop.

    Attributes
    ----------
    round : int
        1-based round number.
    scenario : Scenario
        The worst scenario the adversary found against the round's incoming model (with
        ``adversary="random"``: the random draw).
    worst_objective : float
        Its objective against that model (on the training window).
    clean_objective : float
        The same model's objective on the unstressed training window.
    refit_objective : float
        The refit model's objective on the same worst scenario.
    training_rows : int
        Labelled rows the refit learned on (real and stressed).
    adversarial_windows : int
        Stage-2 adversarial examples added to the refit.

    """

    round: int
    scenario: Scenario
    worst_objective: float
    clean_objective: float
    refit_objective: float
    training_rows: int
    adversarial_windows: int

    def as_dict(self) -> dict[str, Any]:
        """Return the record as plain values (the scenario's coordinates inlined)."""
        return {
            "round": self.round,
            **self.scenario.as_dict(),
            "worst_objective": self.worst_objective,
            "clean_objective": self.clean_objective,
            "refit_objective": self.refit_objective,
            "training_rows": self.training_rows,
            "adversarial_windows": self.adversarial_windows,
        }


@dataclass(frozen=True)
class AdversarialResult:
    """The adversarially trained model, the plain model it started from, and the per-round history."""

    model: StagedModel
    plain_model: StagedModel
    history: tuple[RoundRecord, ...]

    def history_frame(self) -> pd.DataFrame:
        """Return the history as a table, one row per round."""
        return pd.DataFrame([record.as_dict() for record in self.history])


def round_seed(seed: int, round_number: int) -> int:
    """Return the seed of one round: independent streams from one experiment seed."""
    return int(np.random.SeedSequence([abs(int(seed)), int(round_number)]).generate_state(1)[0])


def adversarial_train(
    bars: Mapping[str, pd.DataFrame],
    spec: FeatureSpec,
    params: StagedParams,
    config: AdversarialConfig,
    *,
    train_start: pd.Timestamp,
    train_end: pd.Timestamp,
    horizon: int,
    progress: Callable[[str, int, int], None] | None = None,
) -> AdversarialResult:
    """Train the staged model against the scenario adversary (the minimax loop of the module docstring).

    Round ``k``: the adversary searches ``config.bounds`` for the scenario that minimises the current
    model's objective on ``[train_start, train_end)`` (:func:`search_worst_scenario` over
    :func:`evaluate_scenario`, seeded by :func:`round_seed`); the labelled rows of that stressed
    market join the training set (every earlier round's stay); the refit's stage 2 also learns on
    :func:`perturb_sequences` copies of its training windows, attacked against the current model's
    stage 2; :func:`~nautilus_ai.learning.train_staged.fit_staged` refits everything. With
    ``config.adversary = "random"`` a uniform random point of the box replaces the search (the
    control arm of the benchmark).

    Parameters
    ----------
    bars : Mapping
        Instrument → OHLCV bars up to (at least) ``train_end`` plus the label horizon, with the
        features' warm-up before ``train_start``.
    spec : FeatureSpec
        The features (bar features only: the batch twins compute them).
    params : StagedParams
        The staged model (its seed seeds every fit).
    config : AdversarialConfig
        Bounds, rounds, budgets, radius, costs and seed.
    train_start, train_end : pd.Timestamp
        The training window.
    horizon : int
        Label horizon in bars.
    progress : callable, optional
        ``progress(stage, done, total)``.

    Returns
    -------
    AdversarialResult
        The final model, the plain (round-0) model and one record per round.

    """
    notify = progress or (lambda stage, done, total: None)
    names = spec.feature_names()
    fingerprint = spec.fingerprint()
    rows, history = training_rows(bars, spec, horizon, train_start, train_end)
    notify("fit", 0, config.rounds + 1)
    plain = fit_staged(rows, names, fingerprint, params, history=history)
    model = plain
    row_parts, history_parts = [rows], [history]
    records: list[RoundRecord] = []
    for number in range(1, config.rounds + 1):
        seed = round_seed(config.seed, number)
        current = model

        def objective(scenario: Scenario, current: StagedModel = current, seed: int = seed) -> float:
            return evaluate_scenario(
                current,
                bars,
                spec,
                scenario,
                seed,
                start=train_start,
                end=train_end,
                cost_bp=config.cost_bp,
                periods_per_year=config.periods_per_year,
            ).objective(config.objective)

        clean = objective(Scenario())
        if config.adversary == "random":
            unit = np.random.default_rng(seed).uniform(0.0, 1.0, len(SCENARIO_FIELDS))
            drawn = config.bounds.scenario_at(unit)
            value = objective(drawn)
            found = AdversaryResult(drawn, value, ((drawn, value),))
        else:
            found = search_worst_scenario(
                objective,
                config.bounds,
                trials=config.search_trials,
                refine_trials=config.refine_trials,
                seed=seed,
            )
        stressed = apply_scenario(bars, found.scenario, seed, start=train_start)
        stressed_rows, stressed_history = training_rows(
            stressed,
            spec,
            horizon,
            train_start,
            train_end,
            suffix=f"#adversary{number}",
            feature_noise=found.scenario.feature_noise,
            seed=seed,
        )
        row_parts.append(stressed_rows)
        history_parts.append(stressed_history)
        counter = _Counter()
        augmentation = None
        if current.stage2 is not None and config.sequence_epsilon > 0.0:
            augmentation = _sequence_augmentation(
                current.stage2, config.sequence_epsilon, config.sequence_steps, counter
            )
        all_rows = pd.concat(row_parts).sort_index(kind="stable")
        model = fit_staged(
            all_rows,
            names,
            fingerprint,
            params,
            history=pd.concat(history_parts).sort_index(kind="stable"),
            sequence_augmentation=augmentation,
        )
        records.append(
            RoundRecord(
                round=number,
                scenario=found.scenario,
                worst_objective=found.objective,
                clean_objective=clean,
                refit_objective=objective(found.scenario, model),
                training_rows=len(all_rows),
                adversarial_windows=counter.count,
            )
        )
        notify("fit", number, config.rounds + 1)
    return AdversarialResult(model, plain, tuple(records))


@dataclass
class _Counter:
    count: int = 0


def _sequence_augmentation(
    attacked: Any, epsilon: float, steps: int, counter: _Counter
) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    def augment(windows: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        perturbed = perturb_sequences(attacked, windows, labels, epsilon, steps=steps)
        counter.count += len(perturbed)
        return perturbed, labels

    return augment
