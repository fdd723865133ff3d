"""Routing: from an approved order intent to the order a strategy submits, through the selector.

Every entry a strategy sends goes through :func:`route_order`: the order-type selector
(:func:`~nautilus_ai.execution.selector.select_order_type`) picks market, limit, TWAP, VWAP or iceberg
from the intent's size, the urgency of the signal and the instrument's
:class:`~nautilus_ai.execution.liquidity.LiquidityState`, and the router turns the choice into an
:class:`OrderPlan`: the NautilusTrader order type, the limit price (joining the touch), the expiry and,
for the algorithms, the ``exec_algorithm_id`` and its parameters.

The liquidity state comes from the :class:`~nautilus_ai.execution.analyzer.MicrostructureAnalyzer`
when the node has quotes, trades or books; on bar data only, :class:`BarLiquidity` estimates it from
the bars themselves (volume per bar, close-to-close volatility, a bulk-volume-classified VPIN with one
bar per bucket) and an assumed spread, which the experiment config states. The visible depth of a bar
feed is unknown; it is taken as ``depth_bar_fraction`` of a typical bar's volume per side.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.execution.liquidity import SIDES, LiquidityState
from nautilus_ai.execution.selector import (
    ExecutionChoice,
    SelectorConfig,
    select_order_type,
    urgency_from_signal,
)
from nautilus_ai.indicators.kernels import window_mean_std
from nautilus_ai.indicators.microstructure_kernels import bulk_buy_fraction

ALGORITHM_IDS: dict[str, str] = {"twap": "TWAP", "vwap": "VWAP", "iceberg": "ICEBERG", "pov": "POV"}
"""The ``exec_algorithm_id`` of each algorithm kind (the ids the ExecAlgorithms register under)."""

OrderTypeName = Literal["MARKET", "LIMIT"]


@dataclass(frozen=True)
class OrderPlan:
    """The order a strategy submits for one approved intent.

    Attributes
    ----------
    choice : ExecutionChoice
        The selector's decision (kind, parameters, rule and reason).
    order_type : {"MARKET", "LIMIT"}
        The type of the (parent) order.
    limit_price : float or None
        The limit price for LIMIT orders (the touch, moved by ``price_offset_bps``).
    expire_ns : int or None
        UNIX nanoseconds at which a resting LIMIT order expires, None for GTC.
    expire_bars : int or None
        The same expiry in bars: a strategy cancels the order after that many of its bars (market
        time, so a fast replay of a paper node expires it at the same bar as the backtest).
    exec_algorithm_id : str or None
        The execution algorithm that works the parent order (None: sent as is).
    exec_algorithm_params : dict or None
        The algorithm's parameters (all values are strings, as NautilusTrader serializes them).

    """

    choice: ExecutionChoice
    order_type: OrderTypeName
    limit_price: float | None = None
    expire_ns: int | None = None
    expire_bars: int | None = None
    exec_algorithm_id: str | None = None
    exec_algorithm_params: dict[str, str] | None = None


@dataclass(frozen=True)
class RouterConfig:
    """How intents are routed.

    Attributes
    ----------
    selector : SelectorConfig
        The decision table's thresholds.
    signal_horizon_bars : int
        Bars over which a signal pays (the label horizon): the schedule's horizon and the urgency.
    reference_horizon_bars : int
        Horizon at which a sure signal is fully urgent (:func:`urgency_from_signal`).
    algorithms : tuple of str
        The algorithm kinds the node runs; a choice of another kind is worked by TWAP (logged in the
        plan's reason).
    on_horizon_end : {"finish", "cancel"}
        What an algorithm does with its residual when the horizon ends.

    """

    selector: SelectorConfig = field(default_factory=SelectorConfig)
    signal_horizon_bars: int = 1
    reference_horizon_bars: int = 1
    algorithms: tuple[str, ...] = ("twap", "vwap", "iceberg")
    on_horizon_end: Literal["finish", "cancel"] = "finish"

    def __post_init__(self) -> None:
        if self.signal_horizon_bars < 1 or self.reference_horizon_bars < 1:
            raise ConfigError(
                "RouterConfig.signal_horizon_bars and reference_horizon_bars must be >= 1, were "
                f"{self.signal_horizon_bars} and {self.reference_horizon_bars}"
            )
        unknown = set(self.algorithms) - set(ALGORITHM_IDS)
        if unknown or "twap" not in self.algorithms:
            raise ConfigError(
                f"RouterConfig.algorithms must include 'twap' and only name {sorted(ALGORITHM_IDS)}, "
                f"was {list(self.algorithms)}"
            )
        if self.on_horizon_end not in ("finish", "cancel"):
            raise ConfigError(
                f"RouterConfig.on_horizon_end must be 'finish' or 'cancel', was {self.on_horizon_end!r}"
            )


def join_touch_price(side: str, bid: float, ask: float, offset_bps: float) -> float:
    """Return the limit price that joins the touch of ``side`` (bid for a buy, ask for a sell).

    ``offset_bps`` moves the price away from the other side (a positive offset is more passive).
    """
    if side not in SIDES:
        raise DataError(f"must be 'BUY' or 'SELL', was {side!r}", field="side")
    if not (math.isfinite(bid) and math.isfinite(ask) and 0.0 < bid <= ask):
        raise DataError(f"need 0 < bid <= ask, were {bid} and {ask}", field="touch")
    if side == "BUY":
        return bid * (1.0 - offset_bps * 1e-4)
    return ask * (1.0 + offset_bps * 1e-4)


def algorithm_params(choice: ExecutionChoice, on_horizon_end: str) -> dict[str, str]:
    """Return the ExecAlgorithm parameters of a schedule or iceberg choice, as strings.

    The selector's parameters are renamed to those of :mod:`nautilus_ai.execution.algorithms`:
    ``horizon_secs``, ``interval_secs``, ``participation_cap``, ``child_type`` and ``price_mode`` pass
    through, ``display_quantity``
    becomes the iceberg's ``display_qty`` (priced at the parent's limit: ``price_mode="fixed"``), and
    ``on_horizon_end`` is added.
    """
    selector = choice.params
    params: dict[str, Any] = {"on_horizon_end": on_horizon_end}
    for key in ("horizon_secs", "interval_secs", "participation_cap", "child_type", "price_mode"):
        if key in selector:
            params[key] = selector[key]
    if "display_quantity" in selector:
        params["display_qty"] = selector["display_quantity"]
        params["price_mode"] = "fixed"
    return {key: str(value) for key, value in params.items()}


def route_order(
    quantity: float,
    side: str,
    liquidity: LiquidityState,
    confidence: float,
    bid: float,
    ask: float,
    now_ns: int,
    config: RouterConfig,
    horizon_bars: int | None = None,
) -> OrderPlan:
    """Return the order plan for an approved intent of ``quantity`` on ``side``.

    Parameters
    ----------
    quantity : float
        The approved quantity (positive).
    side : str
        "BUY" or "SELL".
    liquidity : LiquidityState
        The instrument's latest liquidity state.
    confidence : float
        The signal's calibrated confidence in [0, 1] (urgency from it and the horizon).
    bid, ask : float
        The touch (on bar data both are the last close moved by half the assumed spread).
    now_ns : int
        The clock's time, for the expiry of resting orders.
    config : RouterConfig
        The routing configuration.
    horizon_bars : int, optional
        The signal's own horizon (``ModelSignal.horizon_bars``); ``config.signal_horizon_bars`` when
        omitted.

    Returns
    -------
    OrderPlan
        The order to submit.

    """
    horizon = config.signal_horizon_bars if horizon_bars is None else max(int(horizon_bars), 1)
    urgency = urgency_from_signal(min(max(confidence, 0.0), 1.0), horizon, config.reference_horizon_bars)
    choice = select_order_type(quantity, side, liquidity, urgency, horizon, config.selector)
    if choice.kind == "market":
        return OrderPlan(choice, "MARKET")
    if choice.kind == "limit":
        price = join_touch_price(side, bid, ask, float(choice.params.get("price_offset_bps", 0.0)))
        expire_bars = int(choice.params.get("expire_bars", horizon))
        expire_ns = now_ns + int(expire_bars * config.selector.bar_seconds * 1e9)
        return OrderPlan(choice, "LIMIT", limit_price=price, expire_ns=expire_ns, expire_bars=expire_bars)
    kind = choice.kind
    if kind not in config.algorithms:
        choice = ExecutionChoice(
            "twap",
            {
                k: v
                for k, v in choice.params.items()
                if k in ("horizon_bars", "horizon_secs", "interval_secs")
            },
            f"{choice.reason}; {kind} is not run by this node, worked by TWAP",
            choice.rule,
        )
        kind = "twap"
    params = algorithm_params(choice, config.on_horizon_end)
    if kind == "iceberg":
        price = join_touch_price(side, bid, ask, float(choice.params.get("price_offset_bps", 0.0)))
        expire_bars = int(choice.params.get("expire_bars", horizon))
        params["horizon_secs"] = str(expire_bars * config.selector.bar_seconds)
        return OrderPlan(
            choice, "LIMIT", limit_price=price, exec_algorithm_id="ICEBERG", exec_algorithm_params=params
        )
    return OrderPlan(choice, "MARKET", exec_algorithm_id=ALGORITHM_IDS[kind], exec_algorithm_params=params)


class BarLiquidity:
    """Estimate a :class:`LiquidityState` from bars only (no quotes, trades or book in the feed).

    * ``typical_bar_volume``: median volume of the last ``window`` bars;
    * ``volatility_bps``: sample standard deviation of the last ``window`` close-to-close returns, bps;
    * ``vpin``: mean of ``|2 Phi(dp / sigma) - 1|`` over the last ``window`` bars (bulk volume classification
      with one bar per bucket, volume-weighted);
    * ``spread_bps``: the assumed spread; the depth per side: ``depth_bar_fraction`` of a typical bar.

    Each update uses the bar just closed and the ones before it only, so the state at a bar is known at
    that bar's close.

    Parameters
    ----------
    window : int
        Bars in the rolling estimates (>= 2).
    spread_bps : float
        Assumed quoted spread in basis points (>= 0).
    depth_bar_fraction : float
        Visible depth per side as a fraction of a typical bar's volume (> 0).
    bar_seconds : float
        Length of one bar (for a trade intensity of bars per second when no trades are known).

    """

    def __init__(
        self,
        window: int = 20,
        spread_bps: float = 1.0,
        depth_bar_fraction: float = 0.1,
        bar_seconds: float = 60.0,
    ) -> None:
        if window < 2:
            raise ConfigError(f"BarLiquidity.window must be >= 2, was {window}")
        if not (math.isfinite(spread_bps) and spread_bps >= 0.0):
            raise ConfigError(f"BarLiquidity.spread_bps must be >= 0, was {spread_bps}")
        if not depth_bar_fraction > 0.0:
            raise ConfigError(f"BarLiquidity.depth_bar_fraction must be positive, was {depth_bar_fraction}")
        self.window = window
        self.spread_bps = float(spread_bps)
        self.depth_bar_fraction = float(depth_bar_fraction)
        self.bar_seconds = float(bar_seconds)
        self._volumes: deque[float] = deque(maxlen=window)
        self._returns: deque[float] = deque(maxlen=window)
        self._changes: deque[float] = deque(maxlen=window)
        self._imbalance: deque[tuple[float, float]] = deque(maxlen=window)
        self._last_close = math.nan
        self._ts = 0

    def update(self, close: float, volume: float, ts_ns: int) -> None:
        """Add one closed bar (its close, volume and close time)."""
        if not (math.isfinite(close) and close > 0.0 and math.isfinite(volume) and volume >= 0.0):
            raise DataError(
                f"need a positive close and a volume >= 0, were {close} and {volume}", field="bar"
            )
        if math.isfinite(self._last_close):
            change = close - self._last_close
            self._returns.append(close / self._last_close - 1.0)
            self._changes.append(change)
            if len(self._changes) >= 2:
                sigma = window_mean_std(self._changes)[1]
                fraction = bulk_buy_fraction(change, sigma)
                if math.isfinite(fraction):
                    self._imbalance.append((abs(2.0 * fraction - 1.0) * volume, volume))
        self._volumes.append(volume)
        self._last_close = close
        self._ts = ts_ns

    @property
    def ready(self) -> bool:
        """Whether ``window`` bars and returns have been seen."""
        return len(self._returns) >= self.window and len(self._imbalance) > 0

    def state(self) -> LiquidityState | None:
        """Return the current estimate, None until :attr:`ready`."""
        if not self.ready:
            return None
        volumes = sorted(self._volumes)
        middle = len(volumes) // 2
        typical = volumes[middle] if len(volumes) % 2 else 0.5 * (volumes[middle - 1] + volumes[middle])
        mean, std = window_mean_std(self._returns)
        del mean
        weighted = sum(v for _, v in self._imbalance)
        vpin = sum(i for i, _ in self._imbalance) / weighted if weighted > 0.0 else 0.0
        depth = (typical * self.depth_bar_fraction,)
        return LiquidityState(
            spread_bps=self.spread_bps,
            bid_depth=depth,
            ask_depth=depth,
            book_imbalance=0.0,
            microprice_drift_bps=0.0,
            vpin=min(max(vpin, 0.0), 1.0),
            volatility_bps=(std if math.isfinite(std) else 0.0) * 1e4,
            trade_intensity=0.0,
            typical_bar_volume=typical,
            ts_event=self._ts,
        )

    def touch(self) -> tuple[float, float]:
        """Return the (bid, ask) implied by the last close and the assumed spread."""
        half = 0.5 * self.spread_bps * 1e-4
        return self._last_close * (1.0 - half), self._last_close * (1.0 + half)
