"""Execution shortfall on the real ESH4 order book: seven policies on the same synthetic parent orders.

    .venv/bin/python benchmarks/bench_execution_shortfall.py                 # default selector, 12 sets
    .venv/bin/python benchmarks/bench_execution_shortfall.py --tune          # + tuned selector (split)

Data: the Databento ESH4 MBO file of 2023-12-25 (``/work/shared/data/orderbook``), L3 book deltas
and trades of the evening session 23:00-24:00 UTC, replayed through a ``BacktestEngine`` venue with
``book_type=L3_MBO`` (NautilusTrader's L3 matching; ``liquidity_consumption`` and ``queue_position``
on). Each *set* is one seeded draw of parents (:func:`draw_parents`: one parent per 120 s slot after an
8-minute analyzer warm-up, sizes 1/5/20/50 contracts and both sides balanced, confidence uniform in
[0.5, 1]); every policy works the same set in its own engine run (:func:`run_policy`). Implementation
shortfall and price advantage are measured against the arrival mid (:mod:`nautilus_ai.execution.shortfall`).

``--tune``: the selector's thresholds are chosen on parents of the first half of the session only
(23:08-23:34, tuning seeds) from a small grid, by mean shortfall; then the default and the tuned
selector are evaluated with the baselines on parents of the second half (23:34-24:00, other seeds).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks._machine import log, machine_info  # noqa: E402
from nautilus_ai.execution.book_data import BookSlice, load_es_mbo_slice  # noqa: E402
from nautilus_ai.execution.selector import SelectorConfig  # noqa: E402
from nautilus_ai.execution.shortfall import (  # noqa: E402
    ParentOutcome,
    by_policy,
    by_policy_and_bucket,
    by_policy_and_side,
    kind_mix,
    paired_difference,
    render_table,
    size_bucket,
    summarize,
)
from nautilus_ai.execution.shortfall_runner import (  # noqa: E402
    POLICIES,
    ShortfallRunConfig,
    draw_parents,
    run_policy,
)

SESSION_START = pd.Timestamp("2023-12-25 23:00", tz="UTC")
SESSION_END = pd.Timestamp("2023-12-25 23:59:59", tz="UTC")
SPLIT = pd.Timestamp("2023-12-25 23:34", tz="UTC")
EVAL_SEED = 1_000
TUNE_SEED = 5_000
BUCKET_EDGES = (1.0, 5.0, 20.0)
TUNE_GRID = {
    "single_order_participation": (0.02, 0.2, 1.0),
    "tight_spread_bps": (0.0, 2.0),
    "patient_urgency": (0.3, 0.6),
    "urgent_urgency": (0.7, 0.9),
}


def run_sets(
    data: BookSlice,
    start: pd.Timestamp,
    end: pd.Timestamp,
    config: ShortfallRunConfig,
    seeds: list[int],
    policies: tuple[str, ...],
    label: dict[str, str] | None = None,
) -> tuple[list[ParentOutcome], float]:
    """Run every policy on every seeded set; return the outcomes (policy renamed by ``label``)."""
    outcomes: list[ParentOutcome] = []
    wall = 0.0
    for seed in seeds:
        parents = draw_parents(start, end, config, seed=seed)
        for policy in policies:
            run = run_policy(data, parents, policy, config, set_name=str(seed))
            wall += run.wall_secs
            if run.skipped:
                log(f"set {seed} {policy}: parents {run.skipped} skipped (no valid touch)")
            name = (label or {}).get(policy, policy)
            outcomes += [replace(o, policy=name) for o in run.outcomes]
    return outcomes, wall


def comparison_lines(outcomes: list[ParentOutcome], policy: str, baselines: tuple[str, ...]) -> list[str]:
    lines = []
    for baseline in baselines:
        mean, se, n = paired_difference(outcomes, policy, baseline)
        lines.append(f"* {policy} - {baseline}: {mean:+.3f} ± {se:.3f} bps over {n} paired parents")
    return lines


def report(outcomes: list[ParentOutcome], selector_names: tuple[str, ...]) -> str:
    parts = ["#### Per policy", "", render_table(summarize(outcomes, by_policy), ["policy"]), ""]
    parts += ["#### Per policy and size bucket (contracts)", ""]
    labels = [size_bucket(edge, BUCKET_EDGES) for edge in BUCKET_EDGES] + [
        size_bucket(math.inf, BUCKET_EDGES)
    ]
    rows = sorted(
        summarize(outcomes, by_policy_and_bucket(BUCKET_EDGES)), key=lambda row: labels.index(row.key[1])
    )
    parts += [render_table(rows, ["policy", "size"]), ""]
    parts += [
        "#### Per policy and side",
        "",
        render_table(summarize(outcomes, by_policy_and_side), ["policy", "side"]),
        "",
    ]
    for name in selector_names:
        mix = kind_mix(outcomes, name)
        parts.append(f"{name} kind mix: " + ", ".join(f"{kind} {count}" for kind, count in mix.items()))
        rules: dict[str, int] = {}
        for o in outcomes:
            if o.policy == name:
                rules[o.extra.get("rule", "")] = rules.get(o.extra.get("rule", ""), 0) + 1
        parts.append(
            f"{name} rules: " + ", ".join(f"{rule} {count}" for rule, count in sorted(rules.items()))
        )
        parts += comparison_lines(outcomes, name, ("market", "twap", "limit", "iceberg"))
        parts.append("")
    return "\n".join(parts)


def tune(data: BookSlice, config: ShortfallRunConfig, seeds: list[int]) -> tuple[SelectorConfig, str]:
    """Pick the grid point with the lowest mean shortfall on the tuning parents (first half)."""
    first = SESSION_START
    results = []
    names = list(TUNE_GRID)
    for values in itertools.product(*(TUNE_GRID[name] for name in names)):
        changes: dict[str, Any] = dict(zip(names, values, strict=True))
        candidate = replace(config.selector, **changes)
        run_config = replace(config, selector=candidate)
        outcomes, _ = run_sets(data, first, SPLIT, run_config, seeds, ("selector",))
        mean = summarize(outcomes)[0].shortfall_mean
        results.append((mean, values, candidate))
        log(f"tune {dict(zip(names, values, strict=True))}: {mean:.3f} bps")
    results.sort(key=lambda item: item[0])
    lines = ["| " + " | ".join(names) + " | tuning IS mean (bps) |", "|" + "---:|" * (len(names) + 1)]
    for mean, values, _ in results[:5]:
        lines.append("| " + " | ".join(str(v) for v in values) + f" | {mean:.3f} |")
    return results[0][2], "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=12, help="seeded parent sets (evaluation)")
    parser.add_argument("--tune", action="store_true", help="also tune the selector on the first half")
    parser.add_argument("--tune-sets", type=int, default=3, help="parent sets per tuning grid point")
    parser.add_argument("--out", type=Path, default=None, help="write every outcome as JSON lines here")
    args = parser.parse_args()

    info = machine_info()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    print("command: .venv/bin/python benchmarks/bench_execution_shortfall.py " + " ".join(sys.argv[1:]))
    started = time.perf_counter()
    data = load_es_mbo_slice(SESSION_START, SESSION_END)
    trades = pd.Series(
        [t.size.as_double() for t in data.trades],
        index=pd.to_datetime([t.ts_event for t in data.trades], utc=True),
    )
    per_minute = trades.resample("1min").sum()
    print(
        f"data: {len(data.deltas):,} L3 deltas, {len(data.trades):,} trades, {trades.sum():,.0f} contracts "
        f"23:00-24:00; volume per minute median {per_minute.median():.0f}, "
        f"p10 {per_minute.quantile(0.1):.0f}, p90 {per_minute.quantile(0.9):.0f}; "
        f"trade size median {trades.median():.0f}, max {trades.max():.0f}"
    )
    config = ShortfallRunConfig()
    print(f"config: {asdict(replace(config, selector=config.router().selector))}")

    seeds = [EVAL_SEED + k for k in range(args.sets)]
    log(f"evaluation: {len(seeds)} sets x {len(POLICIES)} policies over the whole session")
    outcomes, wall = run_sets(data, SESSION_START, SESSION_END, config, seeds, POLICIES)
    print(f"\n### Whole session, default selector ({len(seeds)} sets, {wall:.0f} s of engine runs)\n")
    print(report(outcomes, ("selector",)))
    all_outcomes = list(outcomes)

    if args.tune:
        tune_seeds = [TUNE_SEED + k for k in range(args.tune_sets)]
        log(f"tuning on the first half with seeds {tune_seeds}")
        tuned, top = tune(data, config, tune_seeds)
        print("\n### Selector tuning (first half 23:08-23:34, tuning seeds): best grid points\n")
        print(top)
        print(f"\nchosen: {replace(config, selector=tuned).router().selector}")
        tuned_config = replace(config, selector=tuned)
        log("evaluating on the second half")
        second_start = SPLIT - pd.Timedelta(seconds=config.warmup_secs)
        base, _ = run_sets(data, second_start, SESSION_END, config, seeds, POLICIES)
        tuned_out, _ = run_sets(
            data,
            second_start,
            SESSION_END,
            tuned_config,
            seeds,
            ("selector",),
            {"selector": "selector-tuned"},
        )
        print("\n### Second half 23:34-24:00 (evaluation seeds): default and tuned selector\n")
        print(report(base + tuned_out, ("selector", "selector-tuned")))
        all_outcomes += [replace(o, extra={**o.extra, "half": "second"}) for o in base + tuned_out]

    if args.out is not None:
        with args.out.open("w") as handle:
            for o in all_outcomes:
                row = {
                    "policy": o.policy,
                    "parent": o.parent,
                    "side": o.side,
                    "quantity": o.quantity,
                    "arrival_ns": o.arrival_ns,
                    "arrival_mid": o.arrival_mid,
                    "avg_px": o.avg_px,
                    "fill_rate": o.fill_rate,
                    "children": o.children,
                    "kind": o.kind,
                    "shortfall_bps": o.shortfall_bps,
                    **o.extra,
                }
                handle.write(json.dumps(row) + "\n")
    print(f"\ntotal wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
