"""The ``nautilus-ai backtest scenarios`` command: Monte Carlo and stress scenarios replayed by the engine.

Registered on the ``backtest`` group of :mod:`nautilus_ai.cli` with
``backtest_app.command("scenarios")(scenarios)``.
"""

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from nautilus_ai.cli_common import handles_errors, progress_bars
from nautilus_ai.cli_common import out as stdout


@handles_errors
def scenarios(
    config: Annotated[Path, typer.Option("--config", help="Experiment config (TOML)")],
    catalog: Annotated[
        Path | None, typer.Option("--catalog", help="Catalog (overrides data.catalog of the config)")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder; the run goes in OUT/<run_id>/")] = Path(
        "runs"
    ),
    paths: Annotated[int, typer.Option("--paths", min=1, help="Paths per scenario kind")] = 20,
    kinds: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="Scenario kind (repeatable; default: all): iid_bootstrap, block_bootstrap, gbm, garch, "
            "crash_gap, volatility_x3, liquidity_drought, flash_crash, correlation_breakdown",
        ),
    ] = None,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="Run id (default: time, name and config hash)")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Parallel backtest processes")
    ] = None,
) -> None:
    """Train on the last fold, replay the strategy on Monte Carlo and stress paths, report the spread."""
    from nautilus_ai.backtest.scenario_runner import METRIC_COLUMNS, run_scenarios
    from nautilus_ai.backtest.scenarios import SCENARIO_KINDS, parse_scenario_config
    from nautilus_ai.config import load_experiment

    cfg = load_experiment(config).with_catalog(str(catalog) if catalog else None)
    if workers is not None:
        cfg = cfg.model_copy(update={"walkforward": cfg.walkforward.model_copy(update={"workers": workers})})
    settings = {"paths": paths, "seed": cfg.seed, "kinds": list(kinds) if kinds else list(SCENARIO_KINDS)}
    scenario_config = parse_scenario_config(settings, source="--kind/--paths")
    with progress_bars() as progress:
        result = run_scenarios(cfg, scenario_config, out, run_id=run_id, progress=progress)
    table = Table(title=f"scenarios {result.run_id}: median (5 % quantile) per kind")
    table.add_column("scenario")
    table.add_column("paths", justify="right")
    for metric in METRIC_COLUMNS:
        table.add_column(metric, justify="right")
    counts = result.results.groupby("scenario", sort=False).size()
    for kind, stats in result.summary["summary"].items():
        cells = [_fmt(stats[m]["median"], stats[m]["q05"]) for m in METRIC_COLUMNS]
        table.add_row(kind, str(int(counts[kind])), *cells)
    stdout.print(table)
    stdout.print(f"results: {(result.run_dir / 'scenarios.parquet').resolve()}")
    stdout.print(f"report: {result.report_path.resolve()}")


def _fmt(median: float | None, q05: float | None) -> str:
    if median is None:
        return "n/a"
    return f"{median:.4f} ({q05:.4f})" if q05 is not None else f"{median:.4f}"
