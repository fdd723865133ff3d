"""Iceberg execution algorithm: one visible limit slice of ``display_qty`` at a time.

Params of the parent: ``display_qty`` (required, positive; rounded down to whole lots, at least the
venue's minimum), ``refresh`` (``immediate``: the next slice goes out when the visible one is fully
filled; ``delay``: ``refresh_delay_secs`` later), ``price_mode`` (``fixed``: the parent's limit price;
``peg``: each slice is priced at the touch moved ``limit_offset_ticks`` towards the far side, read
when it is sent), ``post_only``, ``size_jitter``, ``seed``, and optionally ``horizon_secs`` with
``on_horizon_end`` (no horizon: the parent rests until filled, canceled or halted).

Slice sizes come from :func:`nautilus_ai.execution.child_orders.iceberg_children` and are cut to
``display_qty`` (jitter only makes slices smaller; the venue's minimum size wins over a smaller
display). Only one child is working at a time, so the book never shows more
than one slice of the parent. A rejected or canceled slice is re-sent (retry policy of the base).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from nautilus_trader.common.events import TimeEvent
from nautilus_trader.model.enums import OrderType
from nautilus_trader.model.identifiers import ExecAlgorithmId
from nautilus_trader.model.orders import Order

from nautilus_ai.errors import ConfigError
from nautilus_ai.execution.algorithms.base import (
    ParentAlgorithm,
    ParentState,
    SlicingAlgorithmConfig,
    param_choice,
    param_float,
    secs_to_ns,
)
from nautilus_ai.execution.child_orders import iceberg_children, to_lots

REFRESH_RULES = ("immediate", "delay")
"""Values of the ``refresh`` param."""


class IcebergConfig(SlicingAlgorithmConfig, kw_only=True, frozen=True):
    """Configuration of :class:`IcebergAlgorithm` (see :class:`SlicingAlgorithmConfig` for the rest).

    Parameters
    ----------
    exec_algorithm_id : ExecAlgorithmId
        ``ICEBERG``.

    """

    exec_algorithm_id: ExecAlgorithmId | None = ExecAlgorithmId("ICEBERG")


def refresh_decision(child_closed: bool, working_lots: int, remaining_lots: int, refresh: str) -> str:
    """Return what to do after a fill of the visible slice: ``wait``, ``now`` or ``later``.

    ``wait`` while the slice still shows (partially filled) or nothing is left; otherwise ``now`` for the
    ``immediate`` rule and ``later`` for ``delay``.
    """
    if refresh not in REFRESH_RULES:
        raise ConfigError(f"refresh must be one of {REFRESH_RULES}, was {refresh!r}")
    if not child_closed or working_lots > 0 or remaining_lots <= 0:
        return "wait"
    return "now" if refresh == "immediate" else "later"


def next_slice_lots(
    slices: Sequence[int], index: int, remaining_lots: int, working_lots: int, display_lots: int
) -> int:
    """Return the lots of the next visible slice (0 while one is working or nothing is left).

    ``min(slices[index], remaining, display_lots)``, the last slice size repeating past the end of
    ``slices`` (a jittered slice cut to the display, or a re-sent one, leaves more slices to show).
    """
    if working_lots > 0 or remaining_lots <= 0 or not slices:
        return 0
    return min(slices[min(index, len(slices) - 1)], remaining_lots, display_lots)


class IcebergAlgorithm(ParentAlgorithm):
    """Show one limit slice of about ``display_qty`` at a time; refresh it when it fills.

    Parameters
    ----------
    config : IcebergConfig, optional
        The configuration.

    """

    def __init__(self, config: IcebergConfig | None = None) -> None:
        super().__init__(config or IcebergConfig())
        self.max_visible: dict[str, float] = {}

    def start_parent(self, state: ParentState, params: Mapping[str, Any]) -> None:
        """Check the iceberg params, build the slices and show the first one."""
        display = param_float(params, "display_qty", minimum=0.0, strict_minimum=True)
        refresh = param_choice(params, "refresh", "immediate", REFRESH_RULES)
        delay = param_float(
            params, "refresh_delay_secs", 0.0 if refresh == "immediate" else None, minimum=0.0
        )
        self.parse_pricing(state, {**params, "child_type": "limit"}, default_child="limit")
        if state.params["price_mode"] == "fixed" and state.primary.order_type != OrderType.LIMIT:
            raise ConfigError("ICEBERG needs a LIMIT parent with price_mode='fixed'")
        instrument = state.instrument
        price = state.primary.price.as_double() if state.primary.has_price else state.record.arrival_mid
        children = iceberg_children(
            quantity=state.total_lots * state.lot,
            display_quantity=display,
            lot=state.lot,
            min_quantity=instrument.min_quantity.as_double() if instrument.min_quantity is not None else 0.0,
            min_notional=instrument.min_notional.as_double() if instrument.min_notional is not None else 0.0,
            price=price if price == price else 0.0,
            multiplier=instrument.multiplier.as_double(),
            size_jitter=param_float(params, "size_jitter", 0.0, minimum=0.0, maximum=1.0),
            seed=int(param_float(params, "seed", 0.0)),
        )
        state.params.update(
            slices=[to_lots(child.quantity, state.lot) for child in children],
            display_lots=max(state.min_lots, math.floor(display / state.lot + 1e-9)),
            index=0,
            refresh=refresh,
            refresh_delay_secs=delay,
            waiting=False,
        )
        if "horizon_secs" in params:
            self.set_horizon(state, param_float(params, "horizon_secs", minimum=0.0, strict_minimum=True))
        self.max_visible[state.record.parent_id] = 0.0
        self.replenish(state)

    def replenish(self, state: ParentState) -> None:
        """Show the next slice when none is working (and no delayed refresh is pending)."""
        if state.params["waiting"]:
            return
        lots = next_slice_lots(
            state.params["slices"],
            state.params["index"],
            state.remaining_lots,
            state.working_lots,
            state.params["display_lots"],
        )
        if lots <= 0:
            return
        child = self.send_slice(state, lots)
        if child is not None:
            parent = state.record.parent_id
            self.max_visible[parent] = max(self.max_visible[parent], lots * state.lot)

    def on_child_filled(self, state: ParentState, child: Order) -> None:
        """Refresh after the visible slice is fully filled (now or after the delay)."""
        decision = refresh_decision(
            child.is_closed, state.working_lots, state.remaining_lots, state.params["refresh"]
        )
        if decision == "wait":
            return
        state.params["index"] += 1
        if decision == "now":
            self.replenish(state)
            return
        state.params["waiting"] = True
        when = self.clock.timestamp_ns() + secs_to_ns(state.params["refresh_delay_secs"])
        self.set_alert(state, f"refresh{state.params['index']}", when, self._on_refresh)

    def _on_refresh(self, event: TimeEvent) -> None:
        state = self.on_time_event_for(event)
        if state is None:
            return
        state.params["waiting"] = False
        self.replenish(state)
