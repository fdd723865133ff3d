"""VWAP execution algorithm: child sizes follow a learned intraday volume profile, under a cap.

The profile comes from the config: a JSON file (``profile_path``, written by :func:`save_volume_profile`)
or bars of a ``ParquetDataCatalog`` (``catalog_path`` + ``bar_type``), learned with
:func:`nautilus_ai.execution.volume_profile.learn_volume_profile` from the days strictly before the
parent's arrival (point in time). Each parent is scheduled with
:func:`nautilus_ai.execution.volume_profile.schedule` over ``[now, now + horizon_secs)`` with the
``participation_cap`` and ``expected_volume`` params (defaults: the config's cap and the profile's
typical daily volume); a child is due at the start of each bucket window. What the cap leaves
unscheduled is handled at the horizon end (``on_horizon_end``).

Without a profile (none configured, the file or catalog unreadable, no past day in the catalog, an
expected volume of 0, or no bucket overlapping the horizon) the parent runs as a TWAP with
``interval_secs`` (param, default ``fallback_interval_secs``)
and a warning is logged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
from nautilus_trader.model.identifiers import ExecAlgorithmId

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.execution.algorithms.base import ParentState, SlicingAlgorithmConfig, param_float
from nautilus_ai.execution.algorithms.twap import ScheduledAlgorithm, start_twap
from nautilus_ai.execution.child_orders import to_lots
from nautilus_ai.execution.volume_profile import VolumeProfile, learn_volume_profile, schedule


class VWAPConfig(SlicingAlgorithmConfig, kw_only=True, frozen=True):
    """Configuration of :class:`VWAPAlgorithm` (see :class:`SlicingAlgorithmConfig` for the rest).

    Parameters
    ----------
    exec_algorithm_id : ExecAlgorithmId
        ``VWAP``.
    profile_path : str, optional
        JSON file of a :class:`VolumeProfile` (see :func:`save_volume_profile`).
    catalog_path : str, optional
        A ``ParquetDataCatalog`` to learn the profile from (with ``bar_type``), when no profile file.
    bar_type : str, optional
        The bars learned from (for example ``ESH4.GLBX-1-MINUTE-LAST-EXTERNAL``).
    timezone, bucket_minutes, session_start_minute, session_end_minute, smoothing
        Learning settings (see :func:`learn_volume_profile`).
    participation_cap : float
        Default largest share of the expected bucket volume per child, in (0, 1].
    fallback_interval_secs : float
        TWAP interval used when there is no profile (and the parent has no ``interval_secs``).

    """

    exec_algorithm_id: ExecAlgorithmId | None = ExecAlgorithmId("VWAP")
    profile_path: str | None = None
    catalog_path: str | None = None
    bar_type: str | None = None
    timezone: str = "UTC"
    bucket_minutes: int = 30
    session_start_minute: int = 0
    session_end_minute: int = 1440
    smoothing: float = 1.0
    participation_cap: float = 0.1
    fallback_interval_secs: float = 60.0


def save_volume_profile(profile: VolumeProfile, path: str | Path) -> Path:
    """Write ``profile`` as JSON (read back with :func:`load_volume_profile`) and return the path."""
    target = Path(path)
    target.write_text(json.dumps(asdict(profile), indent=2))
    return target


def load_volume_profile(path: str | Path) -> VolumeProfile:
    """Read a :class:`VolumeProfile` written by :func:`save_volume_profile`.

    Raises
    ------
    DataError
        If the file is missing, not JSON, or lacks a field (named in the message).

    """
    source = Path(path)
    if not source.is_file():
        raise DataError("volume profile file not found", file=str(source))
    try:
        raw = json.loads(source.read_text())
    except json.JSONDecodeError as error:
        raise DataError(f"not JSON: {error}", file=str(source)) from error
    fields = ("instrument_id", "timezone", "bucket_minutes", "session_start_minute", "shares", "days")
    for name in (*fields, "typical_daily_volume"):
        if name not in raw:
            raise DataError("missing field of a VolumeProfile", file=str(source), field=name)
    shares = tuple(float(s) for s in raw["shares"])
    if not shares or any(s < 0.0 for s in shares) or abs(sum(shares) - 1.0) > 1e-6:
        raise DataError("shares must be >= 0 and sum to 1", file=str(source), field="shares")
    return VolumeProfile(
        instrument_id=str(raw["instrument_id"]),
        timezone=str(raw["timezone"]),
        bucket_minutes=int(raw["bucket_minutes"]),
        session_start_minute=int(raw["session_start_minute"]),
        shares=shares,
        days=int(raw["days"]),
        typical_daily_volume=float(raw["typical_daily_volume"]),
    )


def vwap_slices(
    quantity_lots: int,
    lot: float,
    start: pd.Timestamp,
    end: pd.Timestamp,
    profile: VolumeProfile,
    participation_cap: float,
    expected_volume: float,
) -> tuple[list[int], list[int], int]:
    """Return (window start in UNIX ns, lots) per profile bucket window and the unscheduled lots.

    A thin wrapper of :func:`schedule` in lots; buckets with no lots are dropped.
    """
    plan = schedule(quantity_lots * lot, start, end, profile, participation_cap, expected_volume, lot)
    times: list[int] = []
    lots: list[int] = []
    for when, quantity in zip(plan.starts, plan.quantities, strict=True):
        k = to_lots(quantity, lot)
        if k > 0:
            times.append(int(pd.Timestamp(when).value))
            lots.append(k)
    return times, lots, to_lots(plan.shortfall, lot)


class VWAPAlgorithm(ScheduledAlgorithm):
    """Volume-weighted average price along a learned intraday profile, with a participation cap.

    Parameters
    ----------
    config : VWAPConfig, optional
        The configuration.

    Attributes
    ----------
    fallbacks : dict of str to str
        Parents that ran as a TWAP, with the reason.

    """

    def __init__(self, config: VWAPConfig | None = None) -> None:
        settings = config or VWAPConfig()
        super().__init__(settings)
        if not 0.0 < settings.participation_cap <= 1.0:
            raise ConfigError(
                f"VWAPConfig.participation_cap must be in (0, 1], was {settings.participation_cap}"
            )
        if settings.fallback_interval_secs <= 0.0:
            raise ConfigError(
                f"VWAPConfig.fallback_interval_secs must be positive, was {settings.fallback_interval_secs}"
            )
        if settings.catalog_path is not None and settings.bar_type is None:
            raise ConfigError("VWAPConfig.catalog_path needs bar_type (the bars to learn the profile from)")
        self._vwap = settings
        self._profile: VolumeProfile | None = None
        self.fallbacks: dict[str, str] = {}

    def on_reset(self) -> None:
        """Forget every parent and the fallbacks."""
        super().on_reset()
        self.fallbacks.clear()

    def on_start(self) -> None:
        """Load the profile file, if configured, then subscribe as the base does."""
        super().on_start()
        if self._vwap.profile_path is not None:
            try:
                self._profile = load_volume_profile(self._vwap.profile_path)
            except DataError as error:
                self.log.warning(f"VWAP: cannot load the volume profile ({error}); parents will run as TWAP")

    def profile_for(self, instrument_id: str, now: pd.Timestamp) -> tuple[VolumeProfile | None, str]:
        """Return the profile for a parent arriving at ``now``, or None and why (then: TWAP)."""
        if self._profile is not None:
            return self._profile, ""
        if self._vwap.catalog_path is None or self._vwap.bar_type is None:
            return None, "no volume profile configured or loadable"
        try:
            bars = self._catalog_bars(instrument_id)
            profile = learn_volume_profile(
                bars,
                instrument_id,
                timezone=self._vwap.timezone,
                bucket_minutes=self._vwap.bucket_minutes,
                session_start_minute=self._vwap.session_start_minute,
                session_end_minute=self._vwap.session_end_minute,
                smoothing=self._vwap.smoothing,
                as_of=now,
            )
        except (ConfigError, DataError, OSError) as error:
            return None, f"cannot learn a volume profile from the catalog ({error})"
        if profile.days == 0:
            return None, f"the catalog has no day with volume in the session before {now.date()}"
        return profile, ""

    def _catalog_bars(self, instrument_id: str) -> pd.DataFrame:
        """Return the volumes of the parent instrument's bars (``bar_type``'s spec on that instrument)."""
        from nautilus_trader.model.data import BarType
        from nautilus_trader.persistence.catalog import ParquetDataCatalog

        template = BarType.from_str(str(self._vwap.bar_type))
        bar_type = f"{instrument_id}-{template.spec}-{template.aggregation_source.name}"
        catalog = ParquetDataCatalog(str(self._vwap.catalog_path))
        bars = catalog.bars([bar_type])
        if not bars:
            raise DataError(f"no bar of {bar_type} in the catalog", file=str(self._vwap.catalog_path))
        index = pd.to_datetime([bar.ts_event for bar in bars], utc=True)
        return pd.DataFrame({"volume": [bar.volume.as_double() for bar in bars]}, index=index)

    def start_parent(self, state: ParentState, params: Mapping[str, Any]) -> None:
        """Schedule the parent along the profile, or as a TWAP without one."""
        horizon = param_float(params, "horizon_secs", minimum=0.0, strict_minimum=True)
        cap = param_float(
            params,
            "participation_cap",
            self._vwap.participation_cap,
            minimum=0.0,
            maximum=1.0,
            strict_minimum=True,
        )
        self.parse_pricing(state, params, default_child="market")
        now = pd.Timestamp(self.clock.timestamp_ns(), tz="UTC")
        profile, reason = self.profile_for(state.record.instrument_id, now)
        if profile is not None:
            expected = param_float(params, "expected_volume", profile.typical_daily_volume, minimum=0.0)
            if expected <= 0.0:
                reason = "the expected session volume is 0 (the profile learned no day)"
                profile = None
        if profile is not None:
            try:
                times, lots, shortfall = vwap_slices(
                    state.total_lots,
                    state.lot,
                    now,
                    now + pd.Timedelta(seconds=horizon),
                    profile,
                    cap,
                    expected,
                )
            except ConfigError as error:
                reason = str(error)
            else:
                state.params["unscheduled_lots"] = shortfall
                if shortfall:
                    self.log.info(
                        f"{state.primary.client_order_id}: the participation cap {cap} leaves "
                        f"{shortfall} lots "
                        f"unscheduled; on_horizon_end={state.horizon_end_policy}"
                    )
                self.set_schedule(state, times, lots)
                self.set_horizon(state, horizon)
                self.replenish(state)
                return
        interval = param_float(
            params,
            "interval_secs",
            min(self._vwap.fallback_interval_secs, horizon),
            minimum=0.0,
            maximum=horizon,
            strict_minimum=True,
        )
        self.fallbacks[state.record.parent_id] = reason
        self.log.warning(
            f"VWAP {state.primary.client_order_id}: {reason}; falling back to TWAP every {interval}s"
        )
        start_twap(self, state, params, horizon, interval)
