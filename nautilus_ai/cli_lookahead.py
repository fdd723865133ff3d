"""``nautilus-ai backtest lookahead``: the look-ahead check of an experiment, as a command.

Register it on the backtest group with ``backtest_app.command("lookahead")(lookahead)``. The command
exits 0 when no compared value changed once the future was removed, 1 with a table of the offending
features and columns when one did, and 2 on a configuration or data error (:func:`handles_errors`).
"""

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from nautilus_ai.cli_common import handles_errors, progress_bars
from nautilus_ai.cli_common import out as stdout

LEAK_EXIT_CODE = 1
"""Exit code of a run that found look-ahead."""


@handles_errors
def lookahead(
    config: Annotated[Path, typer.Option("--config", help="Experiment config (TOML)")],
    catalog: Annotated[
        Path | None, typer.Option("--catalog", help="Catalog (overrides data.catalog of the config)")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Output folder of lookahead.json (default: runs/lookahead/<name>-<config hash>)"
        ),
    ] = None,
    cuts: Annotated[int, typer.Option("--cuts", min=1, help="Number of seeded cut points")] = 2,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of the cut points (default: the config's seed)")
    ] = None,
    rtol: Annotated[float, typer.Option("--rtol", min=0.0, help="Relative tolerance of a comparison")] = 1e-9,
    replay: Annotated[
        bool, typer.Option("--replay/--no-replay", help="Check the FeatureActor replay")
    ] = True,
    batch: Annotated[bool, typer.Option("--batch/--no-batch", help="Check the batch feature twins")] = True,
    signals: Annotated[
        bool,
        typer.Option(
            "--signals/--no-signals",
            help="Train once and check regimes, ModelSignals, fills and risk decisions",
        ),
    ] = True,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Backtest processes (1: every run in this process)")
    ] = 1,
) -> None:
    """Rerun the pipeline on data cut at seeded points and report every past value that changed."""
    from nautilus_ai.backtest.lookahead import LookaheadSettings, run_lookahead
    from nautilus_ai.config import load_experiment

    cfg = load_experiment(config).with_catalog(str(catalog) if catalog else None)
    settings = LookaheadSettings(
        cuts=cuts, seed=seed, rtol=rtol, replay=replay, batch=batch, signals=signals, workers=workers
    )
    target = out or Path("runs") / "lookahead" / f"{cfg.name}-{cfg.config_hash()[:8]}"
    with progress_bars() as progress:
        result = run_lookahead(cfg, target, settings, progress=progress)
    checked = ", ".join(f"{stage} {n}" for stage, n in result.compared.items())
    cut_text = ", ".join(c.isoformat() for c in result.cuts)
    stdout.print(f"cuts: {cut_text}")
    stdout.print(f"values compared: {checked}")
    if result.clean:
        stdout.print("no look-ahead: every value before the cuts is unchanged")
        stdout.print(f"results: {result.json_path}")
        return
    table = Table(title=f"look-ahead found in {len(result.leaks)} column(s)")
    for column in (
        "stage",
        "feature / column",
        "first differing (UTC)",
        "instrument",
        "max abs diff",
        "rows",
    ):
        table.add_column(column, overflow="fold")
    for leak in result.leaks:
        table.add_row(
            leak.stage,
            escape(leak.column),
            f"{leak.first_ts:%Y-%m-%d %H:%M:%S}",
            escape(leak.first_instrument),
            f"{leak.max_abs_diff:.6g}",
            str(leak.rows),
        )
    stdout.print(table)
    stdout.print(f"results: {result.json_path} (every difference: {result.differences_path})")
    raise typer.Exit(LEAK_EXIT_CODE)
