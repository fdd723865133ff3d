"""Portfolio aggregator: per-instrument signals to target weights (riskfolio-lib), limits, order intents.

The rule, for signals ``(d_i, p_i)`` (direction in {-1, 0, +1}, calibrated probability that ``d_i`` is
right) and the training window's returns ``r_{t,i}``:

1. **Active set.** ``A = {i : d_i != 0, p_i >= min_probability}``, restricted to instruments with
   ``min_history`` finite returns.
2. **Allocation.** The optimizer sees the returns of the *positions*, ``d_i r_{t,i}``, so a short is an
   asset whose return is the negated stock return; it returns long-only weights ``b_i >= 0`` with
   ``sum b_i = 1`` over ``A``:

   * ``"mean_cvar"``: ``max (mu' b - r_f) / CVaR_alpha(b)`` (riskfolio ``Portfolio.optimization(
     model="Classic", rm="CVaR", obj="Sharpe")``), falling back to ``obj="MinRisk"`` when no
     portfolio has a positive excess mean;
   * ``"hrp"``: hierarchical risk parity (Lopez de Prado, 2016; riskfolio ``HCPortfolio`` ``model="HRP"``,
     Pearson codependence, single linkage, variance);
   * ``"kelly"``: log-utility, ``max E[log(1 + b' r)]`` per unit of risk (riskfolio ``obj="Sharpe"``,
     ``kelly="exact"``, ``rm="MV"``), same fallback as mean-CVaR.

   If the solver fails, equal weights are used. The raw target is ``w_i = gross_target * d_i * b_i``.
3. **Limits.** ``w <- enforce_limits(w)`` (:mod:`nautilus_ai.risk.limits`: position caps, sector caps,
   gross, then net leverage).
4. **Turnover.** With ``tau = sum_i |w_i - w0_i|`` against the current book ``w0``, the move is scaled:
   ``w <- w0 + min(1, max_turnover / tau) (w - w0)``. The limit sets are convex, so a compliant current
   book and a compliant target give a compliant result; a current book that breaks a limit is forced
   back inside (limits beat turnover).
5. **CVaR budget** (optional). :func:`nautilus_ai.risk.cvar.cvar_check` on historical
   ``cvar_horizon``-bar scenarios of the window accepts, shrinks or rejects the move.

:func:`weights_to_intents` turns the weights into quantities (``q = w E / (P m)`` rounded towards zero
to the lot, size precision, minimum quantity and notional) and :class:`OrderIntent` s; a reduction
always trades, an increase within ``band`` of the target does not.

References
----------
Lopez de Prado, M. (2016). Building Diversified Portfolios that Outperform Out of Sample. Journal of
Portfolio Management 42(4).
Rockafellar, R. T., Uryasev, S. (2000). Optimization of conditional value-at-risk. Journal of Risk 2(3).
Cajas, D. (2025). Riskfolio-Lib (7.x). https://github.com/dcajasn/Riskfolio-Lib
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.risk.cvar import RiskDecision, cvar_check
from nautilus_ai.risk.limits import RiskLimits, enforce_limits, group_labels, limit_breaches
from nautilus_ai.risk.montecarlo import historical_scenarios
from nautilus_ai.risk.sizing import OrderIntent, rebalance_intent, round_to_instrument, target_quantity

AllocationMethod = Literal["mean_cvar", "hrp", "kelly"]

STOCKNET_SECTORS: dict[str, str] = {
    **dict.fromkeys(
        ("XOM", "RDS-B", "PTR", "CVX", "TOT", "BP", "BHP", "SNP", "SLB", "BBL"), "Basic Materials"
    ),
    **dict.fromkeys(("AAPL", "PG", "BUD", "KO", "PM", "TM", "PEP", "UN", "UL", "MO"), "Consumer Goods"),
    **dict.fromkeys(("JNJ", "PFE", "NVS", "UNH", "MRK", "AMGN", "MDT", "ABBV", "SNY", "CELG"), "Healthcare"),
    **dict.fromkeys(("AMZN", "BABA", "WMT", "CMCSA", "HD", "DIS", "MCD", "CHTR", "UPS", "PCLN"), "Services"),
    **dict.fromkeys(("NEE", "DUK", "D", "SO", "NGG", "AEP", "PCG", "EXC", "SRE", "PPL"), "Utilities"),
    **dict.fromkeys(("IEP", "HRG", "CODI", "REX", "SPLP", "PICO", "AGFS", "GMRE"), "Conglomerates"),
    **dict.fromkeys(("BCH", "BSAC", "BRK-A", "JPM", "WFC", "BAC", "V", "C", "HSBC", "MA"), "Financial"),
    **dict.fromkeys(("GE", "MMM", "BA", "HON", "UTX", "LMT", "CAT", "GD", "DHR", "ABB"), "Industrial Goods"),
    **dict.fromkeys(("GOOG", "MSFT", "FB", "T", "CHL", "ORCL", "TSM", "VZ", "INTC", "CSCO"), "Technology"),
}
"""Sector of each StockNet ticker, from the dataset's ``StockTable`` (Xu and Cohen, 2018,
github.com/yumoxu/stocknet-dataset; its "Basic Matierials" spelled correctly here)."""


@dataclass(frozen=True)
class Signal:
    """A per-instrument view for the aggregator.

    Attributes
    ----------
    direction : int
        +1 long, -1 short, 0 flat.
    probability : float
        Calibrated probability in ``[0, 1]`` that ``direction`` is right.

    """

    direction: int
    probability: float

    def __post_init__(self) -> None:
        """Check the direction and the probability."""
        if self.direction not in (-1, 0, 1):
            raise ConfigError(f"Signal.direction must be -1, 0 or +1, was {self.direction}")
        if not 0.0 <= self.probability <= 1.0:
            raise ConfigError(f"Signal.probability must be in [0, 1], was {self.probability}")


@dataclass(frozen=True)
class AggregatorConfig:
    """Parameters of the portfolio aggregator.

    Attributes
    ----------
    method : {"mean_cvar", "hrp", "kelly"}
        The riskfolio-lib allocation of the active instruments.
    gross_target : float
        Gross weight spread over the active instruments before the limits.
    min_probability : float
        Signals with a lower probability are ignored.
    cvar_alpha : float
        Confidence level of CVaR in the mean-CVaR model and the budget check (riskfolio's ``alpha`` is
        ``1 - cvar_alpha``).
    min_history : int
        Finite returns an instrument needs in the window to be allocated.
    max_turnover : float
        Cap on ``sum_i |w_i - w0_i|`` per rebalance (``inf`` for none).
    limits : RiskLimits
        Position, sector, gross and net limits.
    cvar_budget : float or None
        CVaR budget in units of equity; no check when None.
    cvar_horizon : int
        Bars per historical scenario of the budget check.

    """

    method: AllocationMethod = "hrp"
    gross_target: float = 1.0
    min_probability: float = 0.5
    cvar_alpha: float = 0.95
    min_history: int = 60
    max_turnover: float = math.inf
    limits: RiskLimits = field(default_factory=RiskLimits)
    cvar_budget: float | None = None
    cvar_horizon: int = 1

    def __post_init__(self) -> None:
        """Check the parameters."""
        if self.method not in ("mean_cvar", "hrp", "kelly"):
            raise ConfigError(
                f"AggregatorConfig.method must be 'mean_cvar', 'hrp' or 'kelly', was {self.method!r}"
            )
        if not self.gross_target > 0.0:
            raise ConfigError(f"AggregatorConfig.gross_target must be positive, was {self.gross_target}")
        if not 0.0 <= self.min_probability <= 1.0:
            raise ConfigError(
                f"AggregatorConfig.min_probability must be in [0, 1], was {self.min_probability}"
            )
        if not 0.0 < self.cvar_alpha < 1.0:
            raise ConfigError(f"AggregatorConfig.cvar_alpha must be in (0, 1), was {self.cvar_alpha}")
        if self.min_history < 3:
            raise ConfigError(f"AggregatorConfig.min_history must be >= 3, was {self.min_history}")
        if not self.max_turnover > 0.0:
            raise ConfigError(f"AggregatorConfig.max_turnover must be positive, was {self.max_turnover}")
        if self.cvar_budget is not None and not self.cvar_budget > 0.0:
            raise ConfigError(
                f"AggregatorConfig.cvar_budget must be positive or None, was {self.cvar_budget}"
            )
        if self.cvar_horizon < 1:
            raise ConfigError(f"AggregatorConfig.cvar_horizon must be >= 1, was {self.cvar_horizon}")


def _valid_weights(weights: pd.DataFrame | None, columns: pd.Index) -> pd.Series | None:
    if weights is None:
        return None
    series = weights.iloc[:, 0].reindex(columns).astype("float64")
    if not np.all(np.isfinite(series.to_numpy())) or series.sum() <= 0.0:
        return None
    series = series.clip(lower=0.0)
    return series / series.sum()


def optimizer_weights(returns: pd.DataFrame, method: AllocationMethod, cvar_alpha: float = 0.95) -> pd.Series:
    """Return long-only weights summing to 1 over the columns of ``returns``, from riskfolio-lib.

    Parameters
    ----------
    returns : DataFrame
        ``(T, K)`` finite returns of the positions (already signed by the signal directions).
    method : {"mean_cvar", "hrp", "kelly"}
        The allocation (see the module docstring).
    cvar_alpha : float
        CVaR confidence level for ``"mean_cvar"``.

    Returns
    -------
    Series
        Weights indexed like the columns; equal weights when every solver fails.

    """
    columns = returns.columns
    if len(columns) == 0:
        return pd.Series(dtype="float64")
    if len(columns) == 1:
        return pd.Series([1.0], index=columns)
    import riskfolio as rp  # deferred: importing riskfolio (cvxpy) takes seconds

    weights: pd.Series | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "hrp":
            hc = rp.HCPortfolio(returns=returns)
            weights = _valid_weights(
                hc.optimization(model="HRP", codependence="pearson", rm="MV", rf=0, linkage="single"), columns
            )
        else:
            portfolio = rp.Portfolio(returns=returns, alpha=1.0 - cvar_alpha)
            portfolio.assets_stats(method_mu="hist", method_cov="hist")
            options = (
                {"rm": "CVaR", "kelly": None} if method == "mean_cvar" else {"rm": "MV", "kelly": "exact"}
            )
            for objective in ("Sharpe", "MinRisk"):
                try:
                    raw = portfolio.optimization(model="Classic", obj=objective, rf=0, hist=True, **options)
                except Exception:  # solver failures surface as assorted exception types
                    raw = None
                weights = _valid_weights(raw, columns)
                if weights is not None:
                    break
    if weights is None:
        return pd.Series(1.0 / len(columns), index=columns)
    return weights


def active_instruments(
    signals: Mapping[str, Signal], returns: pd.DataFrame, config: AggregatorConfig
) -> list[str]:
    """Return the instruments with a non-flat signal, enough probability and ``min_history`` returns."""
    active = []
    for instrument, signal in signals.items():
        if signal.direction == 0 or signal.probability < config.min_probability:
            continue
        if instrument not in returns.columns:
            continue
        if int(np.isfinite(returns[instrument].to_numpy(dtype=np.float64)).sum()) < config.min_history:
            continue
        active.append(instrument)
    return active


def signal_weights(
    signals: Mapping[str, Signal], returns: pd.DataFrame, config: AggregatorConfig
) -> pd.Series:
    """Return the raw target ``w_i = gross_target * d_i * b_i`` (steps 1 and 2 of the module rule).

    Parameters
    ----------
    signals : mapping
        Instrument id -> :class:`Signal`.
    returns : DataFrame
        Training-window returns, one column per instrument id.
    config : AggregatorConfig
        The aggregator parameters.

    Returns
    -------
    Series
        Signed weights over every signalled instrument (0 for inactive ones).

    """
    out = pd.Series(0.0, index=list(signals), dtype="float64")
    active = active_instruments(signals, returns, config)
    if not active:
        return out
    directions = pd.Series({i: float(signals[i].direction) for i in active})
    positions = (returns[active] * directions).dropna()
    if len(positions) < config.min_history:
        raise DataError(
            f"the active instruments {active} share only {len(positions)} rows of finite returns; "
            f"the aggregator needs min_history={config.min_history}"
        )
    base = optimizer_weights(positions, config.method, config.cvar_alpha)
    out[active] = config.gross_target * directions[active] * base[active]
    return out


def apply_turnover_limit(current: np.ndarray, target: np.ndarray, max_turnover: float) -> np.ndarray:
    """Return ``w0 + min(1, max_turnover / sum |w - w0|) (w - w0)``: the move scaled to the turnover cap."""
    current = np.asarray(current, dtype=np.float64)
    change = np.asarray(target, dtype=np.float64) - current
    turnover = float(np.abs(change).sum())
    if turnover <= max_turnover:
        return current + change
    return current + change * (max_turnover / turnover)


@dataclass(frozen=True)
class RebalancePlan:
    """Target weights of a rebalance and how they were reached.

    Attributes
    ----------
    target_weights : Series
        Final signed weights per instrument.
    raw_weights : Series
        The optimizer's signed weights before limits, turnover and CVaR.
    steps : list of str
        What changed the weights, in order (for example ``"limits"``, ``"turnover"``, ``"cvar"``).
    risk_decision : RiskDecision or None
        The CVaR check, when a budget is configured.

    """

    target_weights: pd.Series
    raw_weights: pd.Series
    steps: list[str]
    risk_decision: RiskDecision | None


def rebalance_weights(
    signals: Mapping[str, Signal],
    returns: pd.DataFrame,
    current_weights: Mapping[str, float],
    equity: float,
    config: AggregatorConfig,
    sectors: Mapping[str, str] | None = None,
) -> RebalancePlan:
    """Return the target weights of a rebalance (the module rule, steps 1 to 5).

    Parameters
    ----------
    signals : mapping
        Instrument id -> :class:`Signal`.
    returns : DataFrame
        Training-window returns, one column per instrument id (symbols or ``"SYM.VENUE"`` ids).
    current_weights : mapping
        Instrument id -> signed weight held now (missing means 0).
    equity : float
        Account equity, for the notional cap.
    config : AggregatorConfig
        The aggregator parameters.
    sectors : mapping, optional
        Instrument id or symbol -> sector; :data:`STOCKNET_SECTORS` when omitted.

    Returns
    -------
    RebalancePlan
        The weights over every instrument in ``signals`` or ``current_weights``.

    """
    universe = list(dict.fromkeys([*signals, *current_weights]))
    groups = group_labels(universe, STOCKNET_SECTORS if sectors is None else sectors)
    raw = signal_weights(signals, returns, config).reindex(universe, fill_value=0.0)
    current = np.array([float(current_weights.get(i, 0.0)) for i in universe])
    steps: list[str] = []
    limits = config.limits

    capped = enforce_limits(raw.to_numpy(), limits, equity, groups)
    if not np.allclose(capped, raw.to_numpy()):
        steps.append("limits")
    moved = apply_turnover_limit(current, capped, config.max_turnover)
    if not np.allclose(moved, capped):
        steps.append("turnover")
    if limit_breaches(moved, limits, equity, groups):
        moved = enforce_limits(moved, limits, equity, groups)
        steps.append("limits_over_turnover")

    decision = None
    if config.cvar_budget is not None and not np.allclose(moved, current):
        missing = [i for i in universe if i not in returns.columns]
        if missing:
            raise DataError(
                f"the CVaR check needs returns of every held or signalled instrument; missing {missing}"
            )
        window = returns[universe].dropna()
        scenarios = historical_scenarios(window, config.cvar_horizon)
        decision = cvar_check(current, moved, scenarios, config.cvar_budget, config.cvar_alpha)
        if decision.scale < 1.0:
            moved = current + decision.scale * (moved - current)
            steps.append(f"cvar_{decision.action}")
            if limit_breaches(moved, limits, equity, groups):  # only when the current book breaks a limit
                moved = enforce_limits(moved, limits, equity, groups)
                steps.append("limits_over_cvar")
    return RebalancePlan(pd.Series(moved, index=universe), raw, steps, decision)


@dataclass(frozen=True)
class InstrumentRules:
    """What a venue accepts for one instrument.

    Attributes
    ----------
    lot : float
        Size increment.
    min_quantity : float
        Smallest order or position size.
    min_notional : float
        Smallest ``|q| * price * multiplier``.
    size_precision : int
        Decimal places of the size.
    multiplier : float
        Contract multiplier.

    """

    lot: float = 1.0
    min_quantity: float = 0.0
    min_notional: float = 0.0
    size_precision: int = 0
    multiplier: float = 1.0


def weights_to_quantities(
    target_weights: Mapping[str, float],
    equity: float,
    prices: Mapping[str, float],
    rules: Mapping[str, InstrumentRules] | None = None,
    max_net_leverage: float = math.inf,
) -> dict[str, float]:
    """Return the signed target quantity of each instrument, rounded towards zero for the venue.

    ``q_i = round_to_instrument(target_quantity(w_i, E, P_i, m_i, lot_i))``: never larger than the
    weight asks, 0 under the minimum quantity or notional. Rounding the two sides differently can move
    the net weight; while ``|sum_i q_i P_i m_i / E| > max_net_leverage`` the largest position of the
    dominant side gives up one lot.

    Parameters
    ----------
    target_weights : mapping
        Instrument id -> signed weight.
    equity : float
        Account equity.
    prices : mapping
        Instrument id -> price.
    rules : mapping, optional
        Instrument id -> :class:`InstrumentRules` (default: lot 1, no minimums).
    max_net_leverage : float
        Net cap re-checked after rounding.

    Returns
    -------
    dict
        Instrument id -> signed quantity.

    """
    quantities: dict[str, float] = {}
    notional_per_unit: dict[str, float] = {}
    for instrument, weight in target_weights.items():
        price = prices.get(instrument)
        if price is None or not math.isfinite(price) or price <= 0.0:
            raise DataError(f"no valid price for {instrument}: got {price}; expected a positive price")
        rule = (rules or {}).get(instrument, InstrumentRules())
        lotted = target_quantity(weight, equity, price, rule.multiplier, rule.lot)
        quantities[instrument] = round_to_instrument(
            lotted,
            price,
            rule.lot,
            rule.min_quantity,
            rule.min_notional,
            rule.size_precision,
            rule.multiplier,
        )
        notional_per_unit[instrument] = price * rule.multiplier / equity
    for _ in range(10_000):
        net = sum(q * notional_per_unit[i] for i, q in quantities.items())
        if abs(net) <= max_net_leverage + 1e-12:
            break
        side = math.copysign(1.0, net)
        instrument = max(
            (i for i, q in quantities.items() if q * side > 0.0),
            key=lambda i: abs(quantities[i]) * notional_per_unit[i],
        )
        rule = (rules or {}).get(instrument, InstrumentRules())
        reduced = quantities[instrument] - side * rule.lot
        quantities[instrument] = round_to_instrument(
            reduced,
            prices[instrument],
            rule.lot,
            rule.min_quantity,
            rule.min_notional,
            rule.size_precision,
            rule.multiplier,
        )
    return quantities


def weights_to_intents(
    target_weights: Mapping[str, float],
    current_quantities: Mapping[str, float],
    equity: float,
    prices: Mapping[str, float],
    rules: Mapping[str, InstrumentRules] | None = None,
    band: float = 0.0,
    max_net_leverage: float = math.inf,
    reason: str = "portfolio rebalance",
) -> dict[str, OrderIntent]:
    """Return the order intents that move the positions to ``target_weights``.

    Target quantities come from :func:`weights_to_quantities`. A reduction (the position shrinks or
    flips) always trades; an increase on the same side is skipped when within ``band * |target|``
    (:func:`nautilus_ai.risk.sizing.rebalance_intent`); a change smaller than one lot never trades.
    Instruments held but absent from ``target_weights`` are closed.

    Parameters
    ----------
    target_weights : mapping
        Instrument id -> signed weight.
    current_quantities : mapping
        Instrument id -> signed position held now.
    equity : float
        Account equity.
    prices : mapping
        Instrument id -> price.
    rules : mapping, optional
        Instrument id -> :class:`InstrumentRules`.
    band : float
        Rebalance band for increases (a fraction of the target's size).
    max_net_leverage : float
        Net cap re-checked after rounding.
    reason : str
        The intents' reason.

    Returns
    -------
    dict
        Instrument id -> :class:`OrderIntent`, only for instruments that trade.

    """
    if not math.isfinite(equity) or equity <= 0.0:
        raise ConfigError(f"weights_to_intents: equity must be positive and finite, was {equity}")
    weights = {**dict.fromkeys(current_quantities, 0.0), **dict(target_weights)}
    targets = weights_to_quantities(weights, equity, prices, rules, max_net_leverage)
    intents: dict[str, OrderIntent] = {}
    for instrument, target in targets.items():
        current = float(current_quantities.get(instrument, 0.0))
        lot = (rules or {}).get(instrument, InstrumentRules()).lot
        reducing = abs(target) < abs(current) or target * current < 0.0
        intent = rebalance_intent(target, current, 0.0 if reducing else band, lot, reason)
        if intent is not None:
            intents[instrument] = intent
    return intents


def book_weights(
    quantities: Mapping[str, float],
    prices: Mapping[str, float],
    equity: float,
    rules: Mapping[str, InstrumentRules] | None = None,
) -> dict[str, float]:
    """Return ``q_i P_i m_i / E``: the weights of a book of positions."""
    return {
        i: q * prices[i] * (rules or {}).get(i, InstrumentRules()).multiplier / equity
        for i, q in quantities.items()
    }


def sectors_of(instruments: Sequence[str], sectors: Mapping[str, str] | None = None) -> list[str]:
    """Return the sector of each instrument (:data:`STOCKNET_SECTORS` by default)."""
    return group_labels(instruments, STOCKNET_SECTORS if sectors is None else sectors)
