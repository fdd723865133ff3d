"""``nautilus-ai learn tune``: an Optuna study over the walk-forward out-of-sample result.

Registered by :mod:`nautilus_ai.cli` (``learn_app.command("tune")(tune)``).
"""

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from nautilus_ai.cli_common import console, handles_errors, out, progress_bars


@handles_errors
def tune(
    config: Annotated[
        Path, typer.Option("--config", help="Experiment config (TOML): the base of every trial")
    ],
    tune: Annotated[Path, typer.Option("--tune", help="Tune file (TOML): search space, sampler, objectives")],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Study folder: optuna.db, runs/, tuning_report.html/.json")
    ],
    catalog: Annotated[
        Path | None, typer.Option("--catalog", help="Catalog (overrides data.catalog of the config)")
    ] = None,
    n_trials: Annotated[
        int | None, typer.Option("--n-trials", min=1, help="Trials (overrides the tune file)")
    ] = None,
    sampler: Annotated[
        str | None, typer.Option("--sampler", help="tpe | nsga2 | cmaes (overrides the tune file)")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage", help="Optuna storage URL, e.g. postgresql+psycopg://host/db (default: OUT/optuna.db)"
        ),
    ] = None,
    study_name: Annotated[
        str | None, typer.Option("--study-name", help="Study name (overrides the tune file)")
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Processes running trials of the study")
    ] = 1,
) -> None:
    """Tune feature, model and risk parameters on the walk-forward out-of-sample result."""
    from nautilus_ai.config import load_experiment
    from nautilus_ai.learning.tuning import load_tune, parse_tune, run_study

    cfg = load_experiment(config).with_catalog(str(catalog) if catalog else None)
    spec = load_tune(tune)
    overrides = {
        key: value
        for key, value in {
            "n_trials": n_trials,
            "sampler": sampler,
            "storage": storage,
            "study_name": study_name,
        }.items()
        if value is not None
    }
    if overrides:
        spec = parse_tune(
            {**spec.model_dump(mode="python"), **overrides}, f"{tune} (with the command-line options)"
        )
    if workers > 1:
        console.print(f"running {spec.n_trials} trials in {workers} worker processes")
        result = run_study(spec, cfg, out_dir, workers=workers)
    else:
        with progress_bars() as progress:
            result = run_study(spec, cfg, out_dir, workers=1, progress=progress)
    summary = result.summary
    table = Table(title=f"study {result.study_name}: {summary['n_trials']} trials {summary['trial_states']}")
    for column in ("trial", "state", *(summary["objectives"] or ["value"]), "params"):
        table.add_column(column)
    for row in summary["trials"]:
        values = row["values"] or [None] * len(summary["objectives"] or [0])
        table.add_row(
            str(row["number"]),
            row["state"],
            *(f"{v:.4f}" if v is not None else "—" for v in values),
            ", ".join(f"{k}={v}" for k, v in row["params"].items()),
        )
    out.print(table)
    chosen, over = summary["chosen_trial"], summary["overfitting"] or {}
    if chosen is not None:
        out.print(f"chosen: trial {chosen['number']} {chosen['params']}")
        out.print(f"deflated Sharpe ratio: {over.get('dsr')}  (N = {over.get('n_trials')} completed trials)")
        out.print(f"probability of backtest overfitting: {over.get('pbo')}")
    out.print(f"report: {result.report_path.resolve()}")
    out.print(f"storage: {result.storage}  (optuna-dashboard {result.storage})")
