"""The ``nautilus-ai learn adversarial`` command: adversarial training on the last fold vs the plain model.

Registered on the ``learn`` group of :mod:`nautilus_ai.cli` with
``learn_app.command("adversarial")(adversarial)``.
"""

import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from nautilus_ai.cli_common import handles_errors, progress_bars
from nautilus_ai.cli_common import out as stdout
from nautilus_ai.errors import ConfigError


@handles_errors
def adversarial(
    config: Annotated[Path, typer.Option("--config", help="Experiment config (TOML)")],
    out: Annotated[Path, typer.Option("--out", help="Output folder; the run goes in OUT/<run_id>/")] = Path(
        "runs"
    ),
    settings: Annotated[
        Path | None,
        typer.Option(
            "--adversarial",
            help="Adversarial settings (TOML: rounds, search_trials, sequence_epsilon, ..., [bounds])",
        ),
    ] = None,
    catalog: Annotated[
        Path | None, typer.Option("--catalog", help="Catalog (overrides data.catalog of the config)")
    ] = None,
    rounds: Annotated[int | None, typer.Option("--rounds", min=0, help="Adversary/refit rounds")] = None,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="Run id (default: time, name and config hash)")
    ] = None,
) -> None:
    """Train against a bounded scenario adversary on the last fold; compare with the plain model."""
    from nautilus_ai.backtest.adversarial_run import run_adversarial
    from nautilus_ai.config import load_experiment
    from nautilus_ai.learning.adversarial import parse_adversarial_config

    cfg = load_experiment(config).with_catalog(str(catalog) if catalog else None)
    data: dict[str, Any] = {"seed": cfg.seed}
    source = "defaults"
    if settings is not None:
        try:
            data |= tomllib.loads(settings.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"{settings}: cannot read the adversarial settings: {e}") from None
        source = str(settings)
    if rounds is not None:
        data["rounds"] = rounds
    adversarial_config = parse_adversarial_config(data, source=source)
    with progress_bars() as progress:
        result = run_adversarial(cfg, adversarial_config, out, run_id=run_id, progress=progress)

    rounds_table = Table(title=f"adversary rounds ({adversarial_config.objective} on the training window)")
    for column in ("round", "worst scenario", "worst", "clean", "after refit"):
        rounds_table.add_column(column, justify="right" if column != "worst scenario" else "left")
    for record in result.history.to_dict(orient="records"):
        scenario = (
            f"vol x{record['volatility_multiplier']:.2f} gap {record['gap']:.1%} "
            f"drift {record['drift_reversal']:.2f} +{record['spread_bp']:.1f} bp "
            f"noise {record['feature_noise']:.2f}"
        )
        rounds_table.add_row(
            str(record["round"]),
            scenario,
            f"{record['worst_objective']:.3f}",
            f"{record['clean_objective']:.3f}",
            f"{record['refit_objective']:.3f}",
        )
    stdout.print(rounds_table)
    test_table = Table(title="test window (vectorized evaluator)")
    test_table.add_column("model")
    for column in ("Sharpe", "return", "max DD", "worst-in-box Sharpe"):
        test_table.add_column(column, justify="right")
    for arm, metrics in result.test_metrics.items():
        clean, worst = metrics["unstressed"], metrics["worst_in_box"]
        test_table.add_row(
            f"{arm} ({result.versions[arm]})",
            _fmt(clean["sharpe"], "{:.2f}"),
            _fmt(clean["total_return"], "{:.1%}"),
            _fmt(clean["max_drawdown"], "{:.1%}"),
            _fmt(worst["sharpe"], "{:.2f}"),
        )
    stdout.print(test_table)
    stdout.print(f"results: {result.run_dir.resolve()}")


def _fmt(value: float | None, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)
