r"""The one pre-trade path: every order intent passes the RiskGate before an order is built.

NautilusTrader has no pluggable pre-trade hook (NAUTILUS_GUIDE §5), so the check lives here, in a pure,
engine-free object, and :meth:`MLStrategy.submit_intent` is the only caller that turns an approved
intent into orders. The gate holds

* the limits (:class:`~nautilus_ai.risk.limits.RiskLimits`: per-position weight and notional caps,
  gross and net leverage),
* an optional CVaR budget over precomputed scenarios (:class:`CvarBudget`, built from the training
  window's returns),
* the trading state (:class:`~nautilus_ai.risk.state.GateState`), kept in sync with the RiskEngine.

The rule, for an intent that moves instrument ``i``'s exposure from ``e0`` to ``e1* = e0 + delta``
(signed notional in account currency; ``E`` equity, ``g`` and ``n`` the gross and net exposure of
the *other* positions, all including pending open orders so several submits in one callback see
each other):

1. ``HALTED``: no order (action ``"halted"``).
2. ``REDUCING``: ``e1*`` is clipped to the segment ``[0, e0]``: an order may only shrink the
   position, never grow or flip it.
3. Limits: each limit ``m_k(e1) <= L_k`` defines an interval of ``e1``; the gate uses
   ``m_k(e1) <= max(L_k, m_k(e0))``, so a book already over a limit (after a price move) may stay
   or improve but never get worse::

        |e1|          <= max(c E, |e0|)                   c = min(max_position_weight,
        |e1|          <= max(G E - g, |e0|)                     max_position_notional / E)
        |n + e1|      <= max(N E, |n + e0|)

   Every interval contains ``e0``; ``e1*`` is clipped into their intersection.
4. CVaR: :func:`~nautilus_ai.risk.cvar.cvar_check` on the scenario weights accepts, shrinks (to a
   fraction ``s`` of the change) or rejects the move.
5. The approved change is rounded towards zero to the instrument's lot, precision and minimums.

Steps 2-5 only ever move the approved exposure along the segment from ``e0`` towards ``e1*``, and every
constraint is convex, so the approved book satisfies all of them. The action is ``"sized"`` when the
whole intent is approved, ``"shrunk"`` when a part of it is, and ``"rejected"`` when nothing is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.risk.cvar import cvar_check
from nautilus_ai.risk.limits import RiskLimits, position_cap
from nautilus_ai.risk.montecarlo import horizon_returns
from nautilus_ai.risk.portfolio import InstrumentRules
from nautilus_ai.risk.sizing import OrderIntent, round_to_instrument
from nautilus_ai.risk.state import GateState

FloatArray = npt.NDArray[np.float64]
GateAction = Literal["sized", "shrunk", "rejected", "halted"]

_EPSILON = 1e-9


@dataclass(frozen=True)
class CvarBudget:
    """A CVaR budget over precomputed return scenarios.

    Attributes
    ----------
    instruments : tuple of str
        The instrument ids of the scenario columns.
    scenarios : ndarray
        ``(n_scenarios, N)`` horizon returns (or ``(n_scenarios, horizon, N)`` per-bar returns), built
        from the training window only (for example by
        :func:`nautilus_ai.risk.montecarlo.block_bootstrap_scenarios`).
    budget : float
        The largest CVaR allowed, in units of equity (0.05 = 5% of equity).
    alpha : float
        Confidence level of the CVaR.
    horizon_scenarios : ndarray
        ``(n_scenarios, N)`` horizon returns, compounded once from ``scenarios`` (derived).

    Positions in instruments without a scenario column are left out of the CVaR (their tail risk is
    not modelled); the gate refuses intents for them by default.

    """

    instruments: tuple[str, ...]
    scenarios: FloatArray
    budget: float
    alpha: float = 0.95
    horizon_scenarios: FloatArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check the shapes and the budget."""
        array = np.asarray(self.scenarios, dtype=np.float64)
        object.__setattr__(self, "scenarios", array)
        object.__setattr__(self, "instruments", tuple(str(i) for i in self.instruments))
        if array.ndim not in (2, 3) or array.shape[-1] != len(self.instruments) or array.shape[0] < 1:
            raise DataError(
                f"CvarBudget: scenarios of shape {array.shape} do not match the {len(self.instruments)} "
                "instruments; expected (n_scenarios, N) or (n_scenarios, horizon, N)"
            )
        if not np.all(np.isfinite(array)):
            raise DataError("CvarBudget: scenarios must be finite; found NaN or inf")
        # compound per-bar paths once, so that each pre-trade check works on (n_scenarios, N)
        object.__setattr__(self, "horizon_scenarios", horizon_returns(array) if array.ndim == 3 else array)
        if not math.isfinite(self.budget) or self.budget <= 0.0:
            raise ConfigError(f"CvarBudget.budget must be a positive fraction of equity, was {self.budget}")
        if not 0.0 < self.alpha < 1.0:
            raise ConfigError(f"CvarBudget.alpha must be in (0, 1), was {self.alpha}")

    def save(self, path: str | Path) -> Path:
        """Write the budget to an ``.npz`` file (read back by :meth:`load`) and return its path."""
        target = Path(path)
        np.savez(
            target,
            instruments=np.asarray(self.instruments, dtype=str),
            scenarios=self.scenarios,
            budget=np.float64(self.budget),
            alpha=np.float64(self.alpha),
        )
        return target if target.suffix == ".npz" else target.with_name(target.name + ".npz")

    @classmethod
    def load(cls, path: str | Path, budget: float | None = None, alpha: float | None = None) -> CvarBudget:
        """Read a budget written by :meth:`save`; ``budget``/``alpha`` override the stored values.

        Raises
        ------
        DataError
            If the file does not exist or lacks the ``instruments``/``scenarios`` arrays.

        """
        source = Path(path)
        if not source.is_file():
            raise DataError(f"CVaR scenario file {source} does not exist", file=str(source))
        with np.load(source, allow_pickle=False) as stored:
            missing = {"instruments", "scenarios"} - set(stored.files)
            if missing:
                raise DataError(
                    f"CVaR scenario file lacks the arrays {sorted(missing)}; expected the output of "
                    "CvarBudget.save",
                    file=str(source),
                )
            return cls(
                instruments=tuple(str(i) for i in stored["instruments"]),
                scenarios=stored["scenarios"],
                budget=float(stored["budget"]) if budget is None else budget,
                alpha=float(stored["alpha"]) if alpha is None else alpha,
            )


@dataclass(frozen=True)
class BookSnapshot:
    """The portfolio as the gate sees it when an intent arrives.

    Attributes
    ----------
    equity : float
        Account equity in account currency.
    exposures : Mapping[str, float]
        Signed notional per instrument id (quantity x price x multiplier), including the effect of
        pending open orders that add exposure (reduce-only orders such as bracket legs excluded).

    """

    equity: float
    exposures: Mapping[str, float] = field(default_factory=dict)

    def exposure(self, instrument_id: str) -> float:
        """Return the signed exposure of one instrument (0 when none)."""
        return float(self.exposures.get(instrument_id, 0.0))

    def others(self, instrument_id: str) -> tuple[float, float]:
        """Return the gross and net exposure of every instrument except ``instrument_id``."""
        values = [float(v) for k, v in self.exposures.items() if k != instrument_id]
        return float(sum(abs(v) for v in values)), float(sum(values))


@dataclass(frozen=True)
class GateDecision:
    """What the gate did with one intent.

    Attributes
    ----------
    action : {"sized", "shrunk", "rejected", "halted"}
        Approved whole, approved in part, refused by a limit, refused by the trading state.
    instrument_id : str
        The instrument of the intent.
    side : str
        "BUY" or "SELL".
    requested_qty : float
        The quantity the intent asked for.
    approved_qty : float
        The quantity approved (0 unless sized or shrunk).
    reason : str
        Why: the binding constraints, for logs and the API.
    trading_state : GateState
        The state the decision was made in.
    intent : OrderIntent or None
        The approved intent (quantity ``approved_qty``), None when nothing is approved.

    """

    action: GateAction
    instrument_id: str
    side: str
    requested_qty: float
    approved_qty: float
    reason: str
    trading_state: GateState
    intent: OrderIntent | None

    @property
    def approved(self) -> bool:
        """Return True when some quantity may be traded."""
        return self.intent is not None


def limit_interval(
    current: float,
    equity: float,
    limits: RiskLimits,
    other_gross: float,
    other_net: float,
) -> tuple[float, float, dict[str, tuple[float, float]]]:
    """Return the interval of exposures ``e1`` that no limit forbids, and each limit's interval.

    Each interval is ``{e1 : m_k(e1) <= max(L_k, m_k(current))}`` (see the module rule), so it always
    holds ``current``.

    Parameters
    ----------
    current : float
        The instrument's signed exposure now, ``e0``.
    equity : float
        Account equity (positive).
    limits : RiskLimits
        The limits.
    other_gross, other_net : float
        Gross and net exposure of the other instruments.

    Returns
    -------
    tuple
        ``(low, high, {limit name: (low, high)})``.

    """
    cap = position_cap(equity, limits) * equity
    position = max(cap, abs(current))
    gross = max(limits.max_gross_leverage * equity - other_gross, abs(current))
    net = max(limits.max_net_leverage * equity, abs(other_net + current))
    intervals = {
        "position": (-position, position),
        "gross_leverage": (-gross, gross),
        "net_leverage": (-net - other_net, net - other_net),
    }
    low = max(interval[0] for interval in intervals.values())
    high = min(interval[1] for interval in intervals.values())
    return low, high, intervals


def _binding(value: float, intervals: Mapping[str, tuple[float, float]]) -> list[str]:
    return [
        name
        for name, (low, high) in intervals.items()
        if value >= high - _EPSILON * max(1.0, abs(high)) or value <= low + _EPSILON * max(1.0, abs(low))
    ]


class RiskGate:
    """The pre-trade check every order intent passes (see the module rule).

    Parameters
    ----------
    limits : RiskLimits
        Position, gross and net limits.
    cvar : CvarBudget, optional
        The CVaR budget; no CVaR check when omitted.
    state : GateState
        The initial trading state.
    reject_unknown_cvar_instruments : bool
        With a CVaR budget, refuse intents for instruments without scenarios (their tail risk is
        unknown); otherwise they skip the CVaR step.

    """

    def __init__(
        self,
        limits: RiskLimits | None = None,
        cvar: CvarBudget | None = None,
        state: GateState = GateState.ACTIVE,
        reject_unknown_cvar_instruments: bool = True,
    ) -> None:
        self.limits = limits or RiskLimits()
        self.cvar = cvar
        self.state = GateState(state)
        self.reject_unknown_cvar_instruments = reject_unknown_cvar_instruments

    def set_state(self, state: GateState) -> None:
        """Set the trading state (called when the RiskEngine's state changes)."""
        self.state = GateState(state)

    def check(
        self,
        intent: OrderIntent,
        instrument_id: str,
        price: float,
        book: BookSnapshot,
        rules: InstrumentRules | None = None,
    ) -> GateDecision:
        """Return the decision on ``intent`` for ``instrument_id`` at ``price`` given ``book``.

        Parameters
        ----------
        intent : OrderIntent
            What the strategy wants to trade.
        instrument_id : str
            The instrument id of the intent.
        price : float
            The price used for the notional (last close).
        book : BookSnapshot
            Equity and exposures (pending orders included).
        rules : InstrumentRules, optional
            Lot, minimums, precision and multiplier of the instrument (lot 1, multiplier 1 when omitted).

        Returns
        -------
        GateDecision
            The action, the approved quantity and the reason.

        """
        rules = rules or InstrumentRules()
        if intent.side not in ("BUY", "SELL"):
            raise DataError(f"RiskGate: intent side must be 'BUY' or 'SELL', was {intent.side!r}")
        if not math.isfinite(intent.quantity) or intent.quantity < 0.0:
            raise DataError(f"RiskGate: intent quantity must be finite and >= 0, was {intent.quantity}")

        def decide(action: GateAction, quantity: float, reason: str) -> GateDecision:
            approved = replace(intent, quantity=quantity, reason=f"{intent.reason}; {reason}")
            return GateDecision(
                action=action,
                instrument_id=instrument_id,
                side=intent.side,
                requested_qty=intent.quantity,
                approved_qty=quantity,
                reason=reason,
                trading_state=self.state,
                intent=approved if quantity > 0.0 else None,
            )

        if self.state == GateState.HALTED:
            return decide("halted", 0.0, "trading state is HALTED: no new orders")
        if not math.isfinite(price) or price <= 0.0:
            return decide("rejected", 0.0, f"no valid price for {instrument_id} (was {price})")
        if not math.isfinite(book.equity) or book.equity <= 0.0:
            return decide("rejected", 0.0, f"account equity must be positive, was {book.equity}")

        unit = price * rules.multiplier
        sign = 1.0 if intent.side == "BUY" else -1.0
        current = book.exposure(instrument_id)
        wanted = current + sign * intent.quantity * unit
        reasons: list[str] = []

        if self.state == GateState.REDUCING:
            clipped = float(np.clip(wanted, min(0.0, current), max(0.0, current)))
            if clipped != wanted:
                reasons.append("REDUCING: reduce-only, the order may not grow or flip the position")
            wanted = clipped

        other_gross, other_net = book.others(instrument_id)
        low, high, intervals = limit_interval(current, book.equity, self.limits, other_gross, other_net)
        clipped = float(np.clip(wanted, low, high))
        if clipped != wanted:
            reasons.append("capped by " + ", ".join(_binding(clipped, intervals)))
        wanted = clipped

        if self.cvar is not None and wanted != current:
            wanted, cvar_reason, refused = self._apply_cvar(instrument_id, current, wanted, book)
            if cvar_reason:
                reasons.append(cvar_reason)
            if refused:
                return decide("rejected", 0.0, "; ".join(reasons))

        approved = abs(
            round_to_instrument(
                (wanted - current) / unit,
                price,
                rules.lot,
                rules.min_quantity,
                rules.min_notional,
                rules.size_precision,
                rules.multiplier,
            )
        )
        approved = min(approved, intent.quantity)
        if approved <= 0.0:
            reasons.append("nothing left after rounding to the lot and minimums")
            return decide("rejected", 0.0, "; ".join(reasons))
        if approved + _EPSILON * max(1.0, intent.quantity) < intent.quantity:
            if approved < intent.quantity and not reasons:
                reasons.append("rounded down to the lot")
            return decide("shrunk", approved, "; ".join(reasons))
        return decide("sized", approved, "within limits")

    def _apply_cvar(
        self, instrument_id: str, current: float, wanted: float, book: BookSnapshot
    ) -> tuple[float, str, bool]:
        assert self.cvar is not None
        columns = self.cvar.instruments
        if instrument_id not in columns:
            if self.reject_unknown_cvar_instruments:
                return current, f"no CVaR scenarios for {instrument_id}; its tail risk is unknown", True
            return wanted, "", False
        index = columns.index(instrument_id)
        current_weights = np.array([book.exposure(i) / book.equity for i in columns])
        proposed = current_weights.copy()
        proposed[index] = wanted / book.equity
        cvar = self.cvar
        decision = cvar_check(current_weights, proposed, cvar.horizon_scenarios, cvar.budget, cvar.alpha)
        if decision.action == "reject":
            return current, f"CVaR: {decision.reason}", True
        if decision.action == "shrink":
            return current + decision.scale * (wanted - current), f"CVaR: {decision.reason}", False
        return wanted, "", False


def gate_limits(
    max_position_weight: float,
    max_position_notional: float,
    max_gross_leverage: float,
    max_net_leverage: float,
) -> RiskLimits:
    """Return the :class:`RiskLimits` of a gate (no group limit: a gate sees one venue's book)."""
    return RiskLimits(
        max_position_weight=max_position_weight,
        max_position_notional=max_position_notional,
        max_gross_leverage=max_gross_leverage,
        max_net_leverage=max_net_leverage,
    )


def book_weights(book: BookSnapshot, instruments: Sequence[str]) -> FloatArray:
    """Return the weights ``exposure / equity`` of ``instruments`` in ``book`` (0 for those not held)."""
    if not book.equity > 0.0:
        raise DataError(f"book_weights: equity must be positive, was {book.equity}")
    return np.array([book.exposure(i) / book.equity for i in instruments], dtype=np.float64)
