"""VWAP volume profile: learned point in time from past bars (synthetic and real FTX BTC-PERP)."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.execution.volume_profile import VolumeProfile, learn_volume_profile, schedule
from nautilus_ai.test_kit import bundled_data_dir

NEW_YORK = "America/New_York"


def synthetic_equity_bars(days: int = 5, seed: int = 3) -> pd.DataFrame:
    """1-minute bars of a 09:30-16:00 New York session, volume 3:1:1:...:1:3 by half hour, plus noise."""
    rng = np.random.default_rng(seed)
    frames = []
    for day in pd.bdate_range("2024-03-04", periods=days):
        local = pd.date_range(day + pd.Timedelta("09:30:00"), periods=390, freq="1min", tz=NEW_YORK)
        bucket = np.arange(390) // 30
        base = np.where((bucket == 0) | (bucket == 12), 3.0, 1.0)
        volume = base * 100.0 * (days + 1) * rng.uniform(0.999, 1.001, size=390)
        frames.append(pd.DataFrame({"volume": volume}, index=local.tz_convert("UTC")))
    return pd.concat(frames)


@pytest.fixture(scope="module")
def ftx_bars() -> pd.DataFrame:
    frame = pd.read_csv(bundled_data_dir() / "bars_intraday" / "btc-perp-20211231-20220201_1m.csv")
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("timestamp")), tz="UTC")
    return frame


def test_learns_the_u_shape_of_a_synthetic_equity_session():
    profile = learn_volume_profile(
        synthetic_equity_bars(),
        "SYN.XNAS",
        timezone=NEW_YORK,
        bucket_minutes=30,
        session_start_minute=570,
        session_end_minute=960,
        smoothing=0.0,
    )

    assert len(profile.shares) == 13 and profile.days == 5
    assert math.fsum(profile.shares) == pytest.approx(1.0)
    assert profile.shares[0] == pytest.approx(3 / 17, rel=1e-3)
    assert profile.shares[6] == pytest.approx(1 / 17, rel=1e-3)
    assert profile.shares[12] == pytest.approx(3 / 17, rel=1e-3)
    assert profile.session_end_minute == 960


def test_smoothing_gives_empty_buckets_a_share_as_pseudo_days_of_a_uniform_profile():
    bars = synthetic_equity_bars()
    bars = bars[bars.index.tz_convert(NEW_YORK).hour != 12]  # buckets 5 and 6 (12:00-13:00) empty

    raw = learn_volume_profile(bars, "SYN", NEW_YORK, 30, 570, 960, smoothing=0.0)
    smooth = learn_volume_profile(bars, "SYN", NEW_YORK, 30, 570, 960, smoothing=2.0)

    assert raw.shares[5] == 0.0 and raw.shares[6] == 0.0
    assert smooth.shares[5] == pytest.approx((2.0 / 13) / (5 + 2.0))
    assert smooth.shares[0] == pytest.approx((5 * raw.shares[0] + 2.0 / 13) / 7, rel=1e-9)
    assert math.fsum(smooth.shares) == pytest.approx(1.0)


def test_no_past_day_gives_the_uniform_profile_when_smoothed():
    bars = synthetic_equity_bars(days=2)

    profile = learn_volume_profile(bars, "SYN", NEW_YORK, 30, 570, 960, as_of=bars.index[0])

    assert profile.days == 0 and profile.typical_daily_volume == 0.0
    assert profile.shares == pytest.approx((1 / 13,) * 13)
    with pytest.raises(DataError, match="no past day"):
        learn_volume_profile(bars, "SYN", NEW_YORK, 30, 570, 960, smoothing=0.0, as_of=bars.index[0])


def test_real_ftx_profile_shares_sum_to_one_over_24_hours(ftx_bars):
    profile = learn_volume_profile(ftx_bars, "BTC-PERP.FTX", bucket_minutes=60)

    assert len(profile.shares) == 24
    assert math.fsum(profile.shares) == pytest.approx(1.0, abs=1e-12)
    assert all(share > 0.0 for share in profile.shares)
    assert profile.days == 33  # 2021-12-31 (from 23:01) to 2022-02-01
    assert profile.typical_daily_volume > 0.0


def test_real_ftx_profile_is_learned_from_past_days_only(ftx_bars):
    as_of = pd.Timestamp("2022-01-15 13:37", tz="UTC")
    past_only = learn_volume_profile(
        ftx_bars[ftx_bars.index < "2022-01-15"], "BTC-PERP.FTX", bucket_minutes=60
    )
    tampered = ftx_bars.copy()
    future = tampered.index >= "2022-01-15"
    tampered.loc[future, "volume"] = np.random.default_rng(11).uniform(0, 1e9, size=int(future.sum()))

    profile = learn_volume_profile(ftx_bars, "BTC-PERP.FTX", bucket_minutes=60, as_of=as_of)
    profile_tampered = learn_volume_profile(tampered, "BTC-PERP.FTX", bucket_minutes=60, as_of=as_of)

    assert profile.days == 15  # 2021-12-31 and 2022-01-01 .. 2022-01-14
    assert profile == past_only == profile_tampered


def test_real_ftx_schedule_sums_to_the_parent_within_the_cap(ftx_bars):
    profile = learn_volume_profile(
        ftx_bars, "BTC-PERP.FTX", bucket_minutes=30, as_of=pd.Timestamp("2022-01-20", tz="UTC")
    )
    start = pd.Timestamp("2022-01-20 13:10", tz="UTC")
    end = pd.Timestamp("2022-01-20 17:00", tz="UTC")
    # a parent of 0.5% of the day's volume (FTX volume is in USD), lot 0.001
    quantity = round(0.005 * profile.typical_daily_volume, 3)

    plan = schedule(quantity, start, end, profile, 0.1, profile.typical_daily_volume, lot=0.001)
    lots = [round(q / 0.001) for q in plan.quantities]

    assert sum(lots) == round(quantity / 0.001) and plan.shortfall == 0.0 and not plan.cap_binds
    assert plan.starts[0] == start and plan.starts[1] == pd.Timestamp("2022-01-20 13:30", tz="UTC")
    assert len(plan.starts) == 8  # 13:10-13:30 then seven half hours
    assert all(q <= c + 1e-9 for q, c in zip(plan.quantities, plan.capacities, strict=True))
    weights = np.array(profile.shares[26:34]) * np.array([20 / 30] + [1.0] * 7)
    expected = quantity * weights / weights.sum()
    assert np.allclose(plan.quantities, expected, atol=0.001 + 1e-9)


def test_real_ftx_schedule_reports_the_shortfall_when_the_cap_binds(ftx_bars):
    profile = learn_volume_profile(
        ftx_bars, "BTC-PERP.FTX", bucket_minutes=30, as_of=pd.Timestamp("2022-01-20", tz="UTC")
    )
    start, end = pd.Timestamp("2022-01-20 13:00", tz="UTC"), pd.Timestamp("2022-01-20 14:00", tz="UTC")
    quantity = round(0.2 * profile.typical_daily_volume, 3)

    plan = schedule(quantity, start, end, profile, 0.05, profile.typical_daily_volume, lot=0.001)

    assert plan.cap_binds
    assert plan.shortfall == pytest.approx(quantity - math.fsum(plan.quantities), abs=1e-6)
    assert all(c - 0.001 <= q <= c + 1e-9 for q, c in zip(plan.quantities, plan.capacities, strict=True))


def uniform(buckets: int = 4, minutes: int = 60) -> VolumeProfile:
    return VolumeProfile("X", "UTC", minutes, 0, (1 / buckets,) * buckets, 1, 100.0)


def test_schedule_carries_the_rounding_residual_forward():
    profile = uniform(buckets=24)
    start = pd.Timestamp("2024-01-01 00:00", tz="UTC")

    plan = schedule(10.0, start, start + pd.Timedelta(hours=4), profile, 1.0, 1e6, lot=1.0)

    assert plan.quantities == (2.0, 3.0, 2.0, 3.0)


def test_schedule_spans_midnight_and_fills_every_bucket_to_its_cap_when_it_binds():
    shares = (0.5, 0.1, 0.1, 0.3)  # 6-hour buckets
    profile = VolumeProfile("X", "UTC", 360, 0, shares, 3, 1_000.0)
    start = pd.Timestamp("2024-01-01 18:00", tz="UTC")

    plan = schedule(60.0, start, start + pd.Timedelta(hours=12), profile, 0.2, 1_000.0, lot=1.0)

    # buckets 18-24h (share .3, cap 60) and 00-06h (share .5, cap 100): weights 3:5 -> 22.5 : 37.5
    assert plan.starts == (start, pd.Timestamp("2024-01-02 00:00", tz="UTC"))
    assert plan.quantities == (22.0, 38.0)
    capped = schedule(150.0, start, start + pd.Timedelta(hours=12), profile, 0.2, 1_000.0, lot=1.0)
    assert capped.quantities == (56.0, 94.0) and capped.shortfall == 0.0  # 56.25 : 93.75, carried
    full = schedule(200.0, start, start + pd.Timedelta(hours=12), profile, 0.2, 1_000.0, lot=1.0)
    assert full.quantities == (60.0, 100.0) and full.shortfall == 40.0


@settings(max_examples=200, deadline=None)
@given(
    shares=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=24).filter(lambda s: sum(s) > 0),
    total_lots=st.integers(1, 50_000),
    start_minute=st.integers(0, 2 * 1440),
    length_minutes=st.integers(1, 3 * 1440),
    cap=st.floats(0.001, 1.0),
    expected_volume=st.floats(0.0, 1e6),
)
def test_schedule_never_exceeds_the_cap_and_sums_with_the_shortfall_to_the_parent(
    shares, total_lots, start_minute, length_minutes, cap, expected_volume
):
    minutes = 1440 // len(shares) if 1440 % len(shares) == 0 else 60
    shares = (shares * (1440 // minutes))[: 1440 // minutes]
    profile = VolumeProfile("X", "UTC", minutes, 0, tuple(s / sum(shares) for s in shares), 1, 1.0)
    start = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(minutes=start_minute)

    plan = schedule(
        total_lots * 0.01,
        start,
        start + pd.Timedelta(minutes=length_minutes),
        profile,
        cap,
        expected_volume,
        0.01,
    )
    lots = [round(q / 0.01) for q in plan.quantities]

    assert sum(lots) + round(plan.shortfall / 0.01) == total_lots
    assert all(k >= 0 for k in lots)
    assert all(q <= c + 1e-9 for q, c in zip(plan.quantities, plan.capacities, strict=True))
    if plan.shortfall > 0:  # the cap binds: every bucket is full to the lot
        assert all(c - q < 0.01 + 1e-9 for q, c in zip(plan.quantities, plan.capacities, strict=True))


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"bucket_minutes": 7}, ConfigError, "bucket_minutes"),
        ({"session_start_minute": 960, "session_end_minute": 570}, ConfigError, "session_start_minute"),
        ({"smoothing": -1.0}, ConfigError, "smoothing"),
        ({"volume_column": "qty"}, DataError, "qty"),
    ],
)
def test_learning_rejects_bad_configuration(kwargs, error, field):
    with pytest.raises(error, match=field):
        learn_volume_profile(synthetic_equity_bars(days=1), "SYN", **kwargs)


def test_learning_rejects_naive_timestamps_and_negative_volume():
    bars = synthetic_equity_bars(days=1)
    with pytest.raises(DataError, match="field 'index'"):
        learn_volume_profile(bars.tz_localize(None), "SYN")
    bars.iloc[4, 0] = -1.0
    with pytest.raises(DataError, match="row 5, field 'volume'"):
        learn_volume_profile(bars, "SYN")


def test_schedule_rejects_bad_inputs():
    start = pd.Timestamp("2024-01-01", tz="UTC")
    end = start + pd.Timedelta(hours=1)
    with pytest.raises(ConfigError, match="participation_cap"):
        schedule(1.0, start, end, uniform(), 0.0, 100.0, 1.0)
    with pytest.raises(DataError, match="expected_volume"):
        schedule(1.0, start, end, uniform(), 0.1, -1.0, 1.0)
    with pytest.raises(DataError, match="quantity"):
        schedule(1.5, start, end, uniform(), 0.1, 100.0, 1.0)
    with pytest.raises(ConfigError, match="start < end"):
        schedule(1.0, end, start, uniform(), 0.1, 100.0, 1.0)


def test_schedule_buckets_follow_the_session_wall_clock_across_a_dst_change():
    # 2024-03-10: New York skips 02:00-03:00; a 24-hour profile in hourly buckets
    profile = VolumeProfile("X", NEW_YORK, 60, 0, (1 / 24,) * 24, 1, 1e6)
    start = pd.Timestamp("2024-03-10 00:00", tz=NEW_YORK)

    plan = schedule(23.0, start, pd.Timestamp("2024-03-11 00:00", tz=NEW_YORK), profile, 1.0, 1e6, lot=1.0)

    local_hours = [t.tz_convert(NEW_YORK).hour for t in plan.starts]
    assert local_hours == [0, 1, *range(3, 24)]  # the 02:00 bucket does not exist that day
    assert plan.quantities == (1.0,) * 23
