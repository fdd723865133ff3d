"""Percent-of-volume execution algorithm: each child is a share of the volume traded since the last.

Params of the parent: ``participation`` (required, in (0, 1]), ``interval_secs`` and ``horizon_secs``
(required, ``0 < interval <= horizon``), ``child_type`` (``market`` by default, or ``limit`` with
``price_mode``/``limit_offset_ticks``/``post_only``), ``on_horizon_end`` and ``max_retries``.

The algorithm subscribes to the instrument's trade ticks and, every ``interval_secs``, sends::

    child = min(floor(participation * V / lot), remaining)   lots

``V`` being the market volume traded since the last child was sent (the counter is not reset while the
child rounds below the venue's minimum size, so volume accumulates until a child can go out), and
``remaining`` the parent quantity neither filled nor working. What participation leaves unfilled at
the horizon end is finished at market or canceled (``on_horizon_end``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from nautilus_trader.common.events import TimeEvent
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.identifiers import ExecAlgorithmId, InstrumentId

from nautilus_ai.errors import ConfigError
from nautilus_ai.execution.algorithms.base import (
    ParentAlgorithm,
    ParentState,
    SlicingAlgorithmConfig,
    param_float,
)


class POVConfig(SlicingAlgorithmConfig, kw_only=True, frozen=True):
    """Configuration of :class:`POVAlgorithm` (see :class:`SlicingAlgorithmConfig` for the rest).

    Parameters
    ----------
    exec_algorithm_id : ExecAlgorithmId
        ``POV``.

    """

    exec_algorithm_id: ExecAlgorithmId | None = ExecAlgorithmId("POV")


@dataclass(frozen=True)
class POVChild:
    """One POV decision: the volume it was sized on and the lots sent.

    Attributes
    ----------
    ts_ns : int
        When the child was sent (UNIX ns).
    market_volume : float
        Market volume traded since the previous child.
    lots : int
        Lots sent.

    """

    ts_ns: int
    market_volume: float
    lots: int


def pov_child_lots(
    market_volume: float, participation: float, lot: float, remaining_lots: int, min_lots: int = 1
) -> int:
    """Return the lots of the next POV child: ``min(floor(participation * volume / lot), remaining)``.

    0 when that is under ``min_lots`` (unless it is all that remains of the parent).

    Raises
    ------
    ConfigError
        If ``participation`` is not in (0, 1] or ``lot`` is not positive.

    """
    if not 0.0 < participation <= 1.0:
        raise ConfigError(f"participation must be in (0, 1], was {participation}")
    if not lot > 0.0:
        raise ConfigError(f"lot must be positive, was {lot}")
    if remaining_lots <= 0 or not market_volume > 0.0:
        return 0
    allowed = math.floor(participation * market_volume / lot + 1e-9)
    lots = min(allowed, remaining_lots)
    if lots < min_lots and lots != remaining_lots:
        return 0
    return int(lots)


class POVAlgorithm(ParentAlgorithm):
    """Percent of volume: every interval, trade ``participation`` x the market volume since the last child.

    Parameters
    ----------
    config : POVConfig, optional
        The configuration.

    Attributes
    ----------
    decisions : dict of str to list of POVChild
        Per parent, the volume each child was sized on (for measurement and tests).

    """

    def __init__(self, config: POVConfig | None = None) -> None:
        super().__init__(config or POVConfig())
        self.decisions: dict[str, list[POVChild]] = {}
        self._subscribed: set[InstrumentId] = set()

    def start_parent(self, state: ParentState, params: Mapping[str, Any]) -> None:
        """Check the POV params, subscribe to trades and start the interval timer."""
        participation = param_float(params, "participation", minimum=0.0, maximum=1.0, strict_minimum=True)
        horizon = param_float(params, "horizon_secs", minimum=0.0, strict_minimum=True)
        interval = param_float(params, "interval_secs", minimum=0.0, maximum=horizon, strict_minimum=True)
        self.parse_pricing(state, params, default_child="market")
        state.params.update(participation=participation, volume=0.0)
        self.decisions[state.record.parent_id] = []
        instrument_id = state.primary.instrument_id
        if instrument_id not in self._subscribed:
            self.subscribe_trade_ticks(instrument_id)
            self._subscribed.add(instrument_id)
        self.clock.set_timer(
            self.timer_name(state, "interval"), timedelta(seconds=interval), callback=self._on_interval
        )
        self.set_horizon(state, horizon)

    def on_trade_tick(self, tick: TradeTick) -> None:
        """Add the trade's size to the volume counter of every running parent on its instrument."""
        size = tick.size.as_double()
        for state in self._states.values():
            if state.phase == "running" and state.primary.instrument_id == tick.instrument_id:
                state.params["volume"] += size

    def _on_interval(self, event: TimeEvent) -> None:
        state = self.on_time_event_for(event)
        if state is not None:
            self.replenish(state)

    def replenish(self, state: ParentState) -> None:
        """Send the POV child for the volume observed since the last child (nothing when 0 lots)."""
        volume = state.params["volume"]
        lots = pov_child_lots(
            volume, state.params["participation"], state.lot, state.remaining_lots, state.min_lots
        )
        if lots <= 0:
            return
        if self.send_slice(state, lots) is not None:
            self.decisions[state.record.parent_id].append(POVChild(self.clock.timestamp_ns(), volume, lots))
            state.params["volume"] = 0.0
