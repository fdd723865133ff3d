"""TWAP execution algorithm: equal whole-lot slices at fixed intervals over a horizon.

Params of the parent (``exec_algorithm_params``): ``horizon_secs`` and ``interval_secs`` (required,
``0 < interval <= horizon``), ``child_type`` (``market`` by default, or ``limit``), ``price_mode``
(``fixed``: the parent's limit price; ``peg``: the touch moved ``limit_offset_ticks`` towards the far
side), ``post_only``, ``size_jitter``, ``time_jitter``, ``seed``, ``on_horizon_end`` and
``max_retries``. Slice sizes come from :func:`nautilus_ai.execution.child_orders.twap_children`
(whole lots, at least the venue's minimum size and notional).

At each slice time the cumulative target is ``sum of the slices due``; the child sent is
``target - filled - working`` (so the leaves of a canceled or rejected child roll into the next one).
Limit children still working at the next slice time are canceled and their leaves re-sent at the new
price.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nautilus_trader.common.events import TimeEvent
from nautilus_trader.model.identifiers import ExecAlgorithmId
from nautilus_trader.model.orders import Order

from nautilus_ai.execution.algorithms.base import (
    ParentAlgorithm,
    ParentState,
    SlicingAlgorithmConfig,
    due_lots,
    param_float,
)
from nautilus_ai.execution.child_orders import ChildOrder, to_lots, twap_children

NANOS_PER_SECOND = 1_000_000_000


class TWAPConfig(SlicingAlgorithmConfig, kw_only=True, frozen=True):
    """Configuration of :class:`TWAPAlgorithm` (see :class:`SlicingAlgorithmConfig` for the rest).

    Parameters
    ----------
    exec_algorithm_id : ExecAlgorithmId
        ``TWAP`` (the id parents name in ``exec_algorithm_id``).

    """

    exec_algorithm_id: ExecAlgorithmId | None = ExecAlgorithmId("TWAP")


def slice_schedule(start_ns: int, children: Sequence[ChildOrder], lot: float) -> tuple[list[int], list[int]]:
    """Return (send time in UNIX ns, lots) of each child, in time order.

    Parameters
    ----------
    start_ns : int
        When the parent started.
    children : sequence of ChildOrder
        Children with their offsets (from ``twap_children`` or ``iceberg_children``).
    lot : float
        Size increment.

    """
    times = [start_ns + round(child.offset_secs * NANOS_PER_SECOND) for child in children]
    lots = [to_lots(child.quantity, lot) for child in children]
    return times, lots


def child_lots_due(
    target_lots: int, filled_lots: int, working_lots: int, min_lots: int, total_lots: int
) -> int:
    """Return the lots to send now for a cumulative ``target_lots`` (0 when under the minimum size).

    ``want = min(target, total) - filled - working``; it is sent when ``want >= min_lots``, or when it
    is all that is left of the parent (the venue decides on a last child under the minimum).
    """
    want = min(target_lots, total_lots) - filled_lots - working_lots
    if want <= 0:
        return 0
    if want >= min_lots or want == total_lots - filled_lots - working_lots:
        return want
    return 0


class ScheduledAlgorithm(ParentAlgorithm):
    """A parent algorithm that follows a time schedule of cumulative lots (TWAP and VWAP)."""

    def set_schedule(self, state: ParentState, times_ns: list[int], lots: list[int]) -> None:
        """Store the schedule and set one alert per distinct future slice time."""
        state.params["times_ns"], state.params["lots"] = times_ns, lots
        now = self.clock.timestamp_ns()
        for index, when in enumerate(sorted(set(times_ns))):
            if when > now:
                self.set_alert(state, f"slice{index}", when, self._on_slice)

    def _on_slice(self, event: TimeEvent) -> None:
        state = self.on_time_event_for(event)
        if state is None:
            return
        if state.params.get("child_type") == "limit" and state.working:
            self.cancel_working(state)  # re-price: the leaves and the new slice go out on the cancel
            return
        self.replenish(state)

    def on_child_filled(self, state: ParentState, child: Order) -> None:
        """Send what is due (a fill racing a refresh cancel leaves the new slice unsent)."""
        self.replenish(state)

    def replenish(self, state: ParentState) -> None:
        """Send ``target - filled - working`` when it reaches the minimum child size."""
        target = due_lots(state.params["times_ns"], state.params["lots"], self.clock.timestamp_ns())
        lots = child_lots_due(target, state.filled_lots, state.working_lots, state.min_lots, state.total_lots)
        if lots > 0:
            self.send_slice(state, lots)


class TWAPAlgorithm(ScheduledAlgorithm):
    """Time-weighted average price: equal whole-lot slices every ``interval_secs`` over ``horizon_secs``.

    Parameters
    ----------
    config : TWAPConfig, optional
        The configuration.

    """

    def __init__(self, config: TWAPConfig | None = None) -> None:
        super().__init__(config or TWAPConfig())

    def start_parent(self, state: ParentState, params: Mapping[str, Any]) -> None:
        """Check the TWAP params, build the slices and send the first one."""
        horizon = param_float(params, "horizon_secs", minimum=0.0, strict_minimum=True)
        interval = param_float(params, "interval_secs", minimum=0.0, maximum=horizon, strict_minimum=True)
        self.parse_pricing(state, params, default_child="market")
        start_twap(self, state, params, horizon, interval)


def start_twap(
    algorithm: ScheduledAlgorithm,
    state: ParentState,
    params: Mapping[str, Any],
    horizon_secs: float,
    interval_secs: float,
) -> None:
    """Build TWAP slices for ``state``, set their alerts and the horizon, send what is due now.

    Shared by TWAP and by VWAP's fallback when it has no volume profile.
    """
    instrument = state.instrument
    mid = state.record.arrival_mid
    price = state.primary.price.as_double() if state.primary.has_price else mid
    children = twap_children(
        quantity=state.total_lots * state.lot,
        horizon_secs=horizon_secs,
        interval_secs=interval_secs,
        lot=state.lot,
        min_quantity=instrument.min_quantity.as_double() if instrument.min_quantity is not None else 0.0,
        min_notional=instrument.min_notional.as_double() if instrument.min_notional is not None else 0.0,
        price=price if price == price else 0.0,
        multiplier=instrument.multiplier.as_double(),
        size_jitter=param_float(params, "size_jitter", 0.0, minimum=0.0, maximum=1.0),
        time_jitter=param_float(params, "time_jitter", 0.0, minimum=0.0, maximum=1.0),
        seed=int(param_float(params, "seed", 0.0)),
    )
    times, lots = slice_schedule(algorithm.clock.timestamp_ns(), children, state.lot)
    algorithm.set_schedule(state, times, lots)
    algorithm.set_horizon(state, horizon_secs + 1e-3)
    algorithm.replenish(state)
