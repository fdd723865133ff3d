"""The shortfall measurement pipeline on the real ESH4 L3 book: three parents through every policy.

Each policy works the same three parents (drawn after the analyzer's warm-up, 23:08-23:14 on
2023-12-25) in its own engine run. Checked: every parent is submitted and completes (residuals go at
market at the horizon end), the shortfall is the one of the real fills against the arrival mid, the
arrival mid is the same book mid in every run, fills are on the tick grid inside the parent's slot,
the children counts fit each policy, and the selector records the kind and rule it chose.
"""

import itertools
import math
from functools import lru_cache

import pandas as pd
import pytest

from nautilus_ai.errors import ConfigError
from nautilus_ai.execution.book_data import load_es_mbo_slice
from nautilus_ai.execution.shortfall import implementation_shortfall_bps, kind_mix, summarize
from nautilus_ai.execution.shortfall_runner import (
    POLICIES,
    ShortfallRunConfig,
    draw_parents,
    run_policy,
)

START = pd.Timestamp("2023-12-25 23:00", tz="UTC")
END = pd.Timestamp("2023-12-25 23:14", tz="UTC")
CONFIG = ShortfallRunConfig(sizes=(1, 20), seed=7)
TICK = 0.25


@lru_cache(maxsize=1)
def results():
    data = load_es_mbo_slice(START, END)
    parents = draw_parents(START, END, CONFIG)
    runs = {policy: run_policy(data, parents, policy, CONFIG, set_name="t") for policy in POLICIES}
    prices = [trade.price.as_double() for trade in data.trades]
    return parents, runs, (min(prices), max(prices))


def test_parents_are_balanced_spaced_and_seeded():
    parents, _, _ = results()
    assert len(parents) == 3
    gaps = [(b.submit_ns - a.submit_ns) / 1e9 for a, b in itertools.pairwise(parents)]
    assert all(gap > CONFIG.horizon_secs for gap in gaps)
    assert parents[0].submit_ns >= (START + pd.Timedelta(seconds=CONFIG.warmup_secs)).value
    assert parents == draw_parents(START, END, CONFIG)
    assert parents != draw_parents(START, END, CONFIG, seed=8)
    assert all(0.5 <= p.confidence <= 1.0 and p.quantity in (1, 20) for p in parents)


def test_every_parent_completes_in_every_policy_on_the_same_arrival_mid():
    parents, runs, _ = results()
    mids = None
    for policy, run in runs.items():
        assert [o.parent for o in run.outcomes] == [p.index for p in parents], policy
        assert run.skipped == [], policy
        assert all(o.status == "filled" and o.fill_rate == 1.0 for o in run.outcomes), policy
        policy_mids = [o.arrival_mid for o in run.outcomes]
        mids = mids or policy_mids
        assert policy_mids == mids, policy  # same book mid whatever the policy did before
        assert all((2 * m / TICK) == round(2 * m / TICK) for m in policy_mids)


def test_shortfall_comes_from_the_real_fills():
    _, runs, (low, high) = results()
    for policy, run in runs.items():
        for o in run.outcomes:
            assert o.fills, policy
            for fill in o.fills:
                assert fill.price / TICK == pytest.approx(round(fill.price / TICK))
                assert low - 10 * TICK <= fill.price <= high + 10 * TICK
                assert o.arrival_ns <= fill.ts_ns <= o.arrival_ns + CONFIG.slot_secs * 1e9
            sign = 1 if o.side == "BUY" else -1
            by_hand = sign * (o.avg_px - o.arrival_mid) / o.arrival_mid * 1e4
            assert o.shortfall_bps == pytest.approx(by_hand)
            assert implementation_shortfall_bps(o.side, o.quantity, o.arrival_mid, o.fills) == pytest.approx(
                by_hand
            )
            assert abs(o.shortfall_bps) < 20.0  # a few ticks on a 4,800 contract
    market = runs["market"].outcomes
    # one market order filled at or through the far touch: never better than half a tick past the mid
    assert all(o.shortfall_bps >= TICK / 2 / o.arrival_mid * 1e4 - 1e-9 for o in market)
    rows = summarize([o for run in runs.values() for o in run.outcomes])
    assert [row.key[0] for row in rows] == list(POLICIES)
    assert all(row.n == 3 and math.isfinite(row.shortfall_mean) for row in rows)


def test_children_fit_each_policy():
    _, runs, _ = results()
    assert all(o.children == 1 for o in runs["market"].outcomes)
    assert all(o.children in (1, 2) for o in runs["limit"].outcomes)
    for policy in ("twap", "vwap", "pov", "iceberg"):
        for o in runs[policy].outcomes:
            assert o.children >= 1
            if o.quantity >= 20 and policy in ("twap", "vwap"):
                assert o.children >= 9  # 90 s horizon, 10 s interval


def test_selector_records_its_choices():
    _, runs, _ = results()
    outcomes = runs["selector"].outcomes
    assert all(o.kind in ("market", "limit", "twap", "vwap", "iceberg") for o in outcomes)
    assert all(o.extra["rule"].startswith("R") for o in outcomes)  # a liquidity state was there
    assert sum(kind_mix(outcomes).values()) == 3


def test_bad_config_and_policy_raise():
    with pytest.raises(ConfigError, match="horizon_secs"):
        ShortfallRunConfig(horizon_secs=200.0, slot_secs=120.0)
    with pytest.raises(ConfigError, match="sizes"):
        ShortfallRunConfig(sizes=())
    with pytest.raises(ConfigError, match="no parent slot"):
        draw_parents(START, START + pd.Timedelta(minutes=5), CONFIG)
