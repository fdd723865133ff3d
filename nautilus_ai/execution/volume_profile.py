"""Intraday volume profile for VWAP: learned from past bars, then a capped child schedule.

**Learning** (:func:`learn_volume_profile`). The session ``[session_start_minute, session_end_minute)``
(minutes after local midnight in the session timezone) is cut into ``B`` buckets of
``bucket_minutes``. A bar belongs to the bucket of its index timestamp, in local time. For each past
day ``d`` with volume ``V_d > 0`` in the session, the day's share of bucket ``b`` is
``s_{d,b} = v_{d,b} / V_d``. With ``D`` days and a smoothing weight ``alpha`` (pseudo-days of a
uniform profile), the profile is::

    share_b = (sum_d s_{d,b} + alpha / B) / (D + alpha)

so every bucket has a positive share (empty buckets get ``alpha / (B (D + alpha))``), each day counts
the same whatever its total volume, and the shares sum to 1. With ``as_of`` only days strictly before
``as_of``'s local date are used (point in time: no look-ahead). The learned ``typical_daily_volume``
is the median of ``V_d``.

**Scheduling** (:func:`schedule`). The buckets overlapping ``[start, end)`` (possibly over several
days) get weights ``w_b = share_b * f_b``, ``f_b`` being the covered fraction of the bucket. The
expected market volume of bucket ``b`` is ``E_b = expected_volume * w_b`` (``expected_volume`` is the
session's volume), the cap is ``c_b = participation_cap * E_b``, and the parent ``Q`` is water-filled:
``q_b = min(c_b, lambda * w_b)`` with ``lambda`` such that ``sum q_b = min(Q, sum c_b)``. The targets
are rounded to whole lots with the residual carried forward, never above ``floor(c_b / lot)``;
``shortfall = Q - sum q_b`` is what the cap leaves unscheduled (0 when it does not bind).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.execution.child_orders import lot_precision, to_lots

MINUTES_PER_DAY = 1440


@dataclass(frozen=True)
class VolumeProfile:
    """Share of the session's volume traded in each time-of-day bucket.

    Attributes
    ----------
    instrument_id : str
        The instrument it was learned for.
    timezone : str
        Session timezone (IANA name) of the buckets.
    bucket_minutes : int
        Bucket width in minutes.
    session_start_minute : int
        Session open, in minutes after local midnight.
    shares : tuple of float
        Share of the session volume per bucket, summing to 1.
    days : int
        Number of past days learned from.
    typical_daily_volume : float
        Median session volume of those days (0 when there were none).

    """

    instrument_id: str
    timezone: str
    bucket_minutes: int
    session_start_minute: int
    shares: tuple[float, ...]
    days: int
    typical_daily_volume: float

    @property
    def session_end_minute(self) -> int:
        """Return the session close, in minutes after local midnight."""
        return self.session_start_minute + self.bucket_minutes * len(self.shares)


def learn_volume_profile(
    bars: pd.DataFrame,
    instrument_id: str,
    timezone: str = "UTC",
    bucket_minutes: int = 30,
    session_start_minute: int = 0,
    session_end_minute: int = MINUTES_PER_DAY,
    smoothing: float = 1.0,
    as_of: pd.Timestamp | None = None,
    volume_column: str = "volume",
) -> VolumeProfile:
    """Learn the intraday volume profile of one instrument from past bars.

    Parameters
    ----------
    bars : pandas.DataFrame
        Bars with a tz-aware (UTC) DatetimeIndex and a ``volume_column``.
    instrument_id : str
        The instrument (stored with the profile).
    timezone : str
        Session timezone for the time of day.
    bucket_minutes : int
        Bucket width; must divide the session length.
    session_start_minute, session_end_minute : int
        Session bounds in minutes after local midnight (``0 <= start < end <= 1440``).
    smoothing : float
        Pseudo-days of a uniform profile ``alpha >= 0`` (see the module docstring); must be positive
        when there may be no data.
    as_of : pandas.Timestamp, optional
        Learn only from days strictly before this instant's local date.
    volume_column : str
        Column holding the volume.

    Returns
    -------
    VolumeProfile
        The learned profile.

    Raises
    ------
    ConfigError
        If the buckets or smoothing are invalid.
    DataError
        If the index is not tz-aware, the volume column is missing or a volume is negative, or there
        is no past day and ``smoothing`` is 0.

    """
    if not 0 <= session_start_minute < session_end_minute <= MINUTES_PER_DAY:
        raise ConfigError(
            f"need 0 <= session_start_minute < session_end_minute <= 1440, were "
            f"{session_start_minute} and {session_end_minute}"
        )
    length = session_end_minute - session_start_minute
    if bucket_minutes <= 0 or length % bucket_minutes != 0:
        raise ConfigError(
            f"bucket_minutes must be positive and divide the session ({length} min), was {bucket_minutes}"
        )
    if not smoothing >= 0.0:
        raise ConfigError(f"smoothing must be >= 0, was {smoothing}")
    if not isinstance(bars.index, pd.DatetimeIndex) or bars.index.tz is None:
        raise DataError("the bar index must be a tz-aware DatetimeIndex (UTC)", field="index")
    if volume_column not in bars.columns:
        raise DataError(f"column {volume_column!r} is missing", field=volume_column)
    volume = bars[volume_column].to_numpy(dtype=float)
    if np.any(~np.isfinite(volume)) or np.any(volume < 0.0):
        row = int(np.flatnonzero(~np.isfinite(volume) | (volume < 0.0))[0]) + 1
        raise DataError("volume must be finite and >= 0", row=row, field=volume_column)
    count = length // bucket_minutes
    local = bars.index.tz_convert(timezone)
    minute = np.asarray(local.hour * 60 + local.minute)
    day = np.asarray(local.normalize().tz_localize(None).as_unit("ns").asi8)
    keep = (minute >= session_start_minute) & (minute < session_end_minute)
    if as_of is not None:
        cutoff = pd.Timestamp(as_of).tz_convert(timezone).normalize().tz_localize(None).value
        keep &= day < cutoff
    frame = pd.DataFrame(
        {
            "day": day[keep],
            "bucket": (minute[keep] - session_start_minute) // bucket_minutes,
            "volume": volume[keep],
        }
    )
    table = frame.pivot_table(index="day", columns="bucket", values="volume", aggfunc="sum", fill_value=0.0)
    table = table.reindex(columns=range(count), fill_value=0.0)
    totals = table.sum(axis=1)
    table = table[totals > 0.0]
    totals = totals[totals > 0.0]
    days = len(table)
    if days == 0 and smoothing == 0.0:
        raise DataError("no past day with volume in the session and smoothing is 0", field=volume_column)
    daily_shares = table.to_numpy() / totals.to_numpy()[:, None] if days else np.zeros((0, count))
    shares = (daily_shares.sum(axis=0) + smoothing / count) / (days + smoothing)
    shares = shares / shares.sum()
    return VolumeProfile(
        instrument_id=instrument_id,
        timezone=timezone,
        bucket_minutes=bucket_minutes,
        session_start_minute=session_start_minute,
        shares=tuple(float(s) for s in shares),
        days=days,
        typical_daily_volume=float(np.median(totals.to_numpy())) if days else 0.0,
    )


@dataclass(frozen=True)
class VWAPSchedule:
    """Child quantities per bucket and what the participation cap left over.

    Attributes
    ----------
    starts : tuple of pandas.Timestamp
        Start of each child's window (UTC), the later of the bucket start and ``start``.
    quantities : tuple of float
        Child quantity per window (whole lots; 0 allowed).
    capacities : tuple of float
        ``participation_cap * expected bucket volume`` per window.
    shortfall : float
        Parent quantity the cap left unscheduled: ``sum(quantities) + shortfall == quantity``.

    """

    starts: tuple[pd.Timestamp, ...]
    quantities: tuple[float, ...]
    capacities: tuple[float, ...]
    shortfall: float

    @property
    def cap_binds(self) -> bool:
        """Return True when the cap left part of the parent unscheduled."""
        return self.shortfall > 0.0


def _windows(
    start: pd.Timestamp, end: pd.Timestamp, profile: VolumeProfile
) -> list[tuple[pd.Timestamp, float]]:
    """Return (window start, weight share_b * covered fraction) for buckets overlapping [start, end).

    Bucket bounds are wall-clock times of the session timezone (a bucket that a DST change removes
    has no length; one it repeats is longer), as in learning.
    """
    local_start = start.tz_convert(profile.timezone)
    day = local_start.normalize().tz_localize(None)
    windows: list[tuple[pd.Timestamp, float]] = []

    def wall(minute: int) -> pd.Timestamp:
        naive = day + pd.Timedelta(minutes=minute)
        return naive.tz_localize(profile.timezone, nonexistent="shift_forward", ambiguous=True)

    while wall(profile.session_start_minute) < end:
        for index, share in enumerate(profile.shares):
            bucket_start = wall(profile.session_start_minute + index * profile.bucket_minutes)
            bucket_end = wall(profile.session_start_minute + (index + 1) * profile.bucket_minutes)
            overlap = min(bucket_end, end) - max(bucket_start, local_start)
            if overlap > pd.Timedelta(0):
                covered = overlap / (bucket_end - bucket_start)
                windows.append((max(bucket_start, local_start).tz_convert("UTC"), share * covered))
        day = day + pd.Timedelta(days=1)
    return windows


def _water_fill(weights: np.ndarray, caps: np.ndarray, quantity: float) -> np.ndarray:
    """Return ``min(caps, lam * weights)`` summing to ``min(quantity, caps.sum())``."""
    if quantity >= caps.sum():
        return caps.copy()
    alloc = np.zeros_like(weights)
    free = weights > 0.0
    remaining = quantity
    while remaining > 1e-12 and free.any():
        lam = remaining / weights[free].sum()
        trial = lam * weights
        over = free & (trial >= caps)
        if not over.any():
            alloc[free] = trial[free]
            break
        alloc[over] = caps[over]
        remaining -= caps[over].sum()
        free &= ~over
    return alloc


def schedule(
    quantity: float,
    start: pd.Timestamp,
    end: pd.Timestamp,
    profile: VolumeProfile,
    participation_cap: float,
    expected_volume: float,
    lot: float,
) -> VWAPSchedule:
    """Schedule a parent order over ``[start, end)`` along the volume profile, under a participation cap.

    Parameters
    ----------
    quantity : float
        Parent quantity (positive, a whole number of lots).
    start, end : pandas.Timestamp
        Tz-aware bounds of the horizon (``start < end``).
    profile : VolumeProfile
        The learned profile (see :func:`learn_volume_profile`).
    participation_cap : float
        Largest share of the expected market volume to take per bucket, in (0, 1].
    expected_volume : float
        Expected session volume (for example ``profile.typical_daily_volume``), >= 0.
    lot : float
        Size increment.

    Returns
    -------
    VWAPSchedule
        Child quantities per bucket, summing with the shortfall to ``quantity`` exactly (in lots).

    Raises
    ------
    ConfigError
        If the cap, lot or bounds are invalid.
    DataError
        If ``quantity`` is not a whole number of lots or ``expected_volume`` is negative.

    """
    if not 0.0 < participation_cap <= 1.0:
        raise ConfigError(f"participation_cap must be in (0, 1], was {participation_cap}")
    if not math.isfinite(expected_volume) or expected_volume < 0.0:
        raise DataError(f"must be finite and >= 0, was {expected_volume}", field="expected_volume")
    if start.tzinfo is None or end.tzinfo is None or not start < end:
        raise ConfigError(f"need tz-aware start < end, were {start} and {end}")
    total = to_lots(quantity, lot)
    windows = _windows(start, end, profile)
    if not windows:
        raise ConfigError(f"no session bucket of the profile overlaps [{start}, {end})")
    weights = np.array([w for _, w in windows])
    capacities = participation_cap * expected_volume * weights
    cap_lots = np.floor(capacities / lot + 1e-9)
    targets = _water_fill(weights, cap_lots, float(total))
    lots: list[int] = []
    carry = 0.0
    for target, cap in zip(targets, cap_lots, strict=True):
        k = int(min(cap, max(0, math.floor(target + carry + 1e-9))))
        carry += target - k
        lots.append(k)
    missing = min(total, int(cap_lots.sum())) - sum(lots)
    for index in range(len(lots) - 1, -1, -1):  # the carried residual, last bucket first
        if missing <= 0:
            break
        add = min(missing, int(cap_lots[index]) - lots[index])
        lots[index] += add
        missing -= add
    precision = lot_precision(lot)
    return VWAPSchedule(
        starts=tuple(t for t, _ in windows),
        quantities=tuple(round(k * lot, precision) for k in lots),
        capacities=tuple(float(c) for c in capacities),
        shortfall=round((total - sum(lots)) * lot, precision),
    )
