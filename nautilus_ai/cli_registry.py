"""The ``nautilus-ai learn registry promote|rollback|diff|history`` commands.

Registered on the ``learn registry`` group of :mod:`nautilus_ai.cli` with
``registry_app.command("promote")(promote)`` and so on. Every command takes ``--registry`` (the
artifact folder) and, for a PostgreSQL index, ``--index-url postgresql://...`` and ``--schema``.
"""

import json
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from nautilus_ai.cli_common import handles_errors
from nautilus_ai.cli_common import out as stdout
from nautilus_ai.errors import ConfigError
from nautilus_ai.learning.promotion import GateResult, PromotionGate
from nautilus_ai.learning.registry import ModelRegistry, PromotionRefused

RegistryOption = Annotated[Path, typer.Option("--registry", help="Model registry folder (artifacts)")]
IndexUrlOption = Annotated[
    str | None,
    typer.Option(
        "--index-url",
        help="Registry index: a SQLite path, sqlite:///path or postgresql://user@host:port/db "
        "(default: REGISTRY/index.sqlite)",
    ),
]
SchemaOption = Annotated[str | None, typer.Option("--schema", help="PostgreSQL schema of the index")]
ActorOption = Annotated[
    str | None, typer.Option("--actor", help="Who acts, for the event log (default: $USER)")
]
_DEFAULT_REGISTRY = Path("runs/registry")


@handles_errors
def promote(
    version: Annotated[str, typer.Argument(help="Version to promote to champion")],
    registry: RegistryOption = _DEFAULT_REGISTRY,
    index_url: IndexUrlOption = None,
    schema: SchemaOption = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Promote even if the gate fails (needs --reason; logged as forced)"),
    ] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for the event log")] = None,
    actor: ActorOption = None,
    gate_file: Annotated[
        Path | None,
        typer.Option("--gate", help="TOML file with PromotionGate fields (at top level or in a gate table)"),
    ] = None,
    min_test_auc: Annotated[float | None, typer.Option("--min-test-auc", help="Lowest test_auc")] = None,
    min_sharpe: Annotated[float | None, typer.Option("--min-sharpe", help="Lowest OOS sharpe")] = None,
    min_psr: Annotated[float | None, typer.Option("--min-psr", help="Lowest OOS psr")] = None,
    min_dsr: Annotated[float | None, typer.Option("--min-dsr", help="Lowest OOS dsr")] = None,
    max_drawdown: Annotated[
        float | None, typer.Option("--max-drawdown", help="Deepest OOS max_drawdown, e.g. -0.25")
    ] = None,
    champion_metric: Annotated[
        str | None, typer.Option("--champion-metric", help="Metric to beat the champion on (default sharpe)")
    ] = None,
    champion_margin: Annotated[
        float | None, typer.Option("--champion-margin", help="Margin by which to beat the champion")
    ] = None,
    no_champion_check: Annotated[
        bool, typer.Option("--no-champion-check", help="Do not compare with the current champion")
    ] = False,
) -> None:
    """Promote a version to champion if it passes the out-of-sample promotion gate."""
    overrides: dict[str, Any] = {
        "min_test_auc": min_test_auc,
        "min_sharpe": min_sharpe,
        "min_psr": min_psr,
        "min_dsr": min_dsr,
        "max_drawdown_floor": max_drawdown,
        "champion_metric": champion_metric,
        "champion_margin": champion_margin,
    }
    gate = build_gate(gate_file, {k: v for k, v in overrides.items() if v is not None}, no_champion_check)
    models = ModelRegistry(registry, index_url, schema=schema)
    try:
        result = models.promote(version, gate, force=force, reason=reason, actor=actor)
    except PromotionRefused as refused:
        stdout.print(_gate_table(version, refused.result))
        raise
    stdout.print(_gate_table(version, result))
    record = models.get(version)
    note = " [bold red](FORCED past a failing gate; logged)[/]" if not result.passed else ""
    stdout.print(f"{escape(version)} is now the champion of {escape(record.name)}{note}")


@handles_errors
def rollback(
    name: Annotated[str, typer.Argument(help="Model name whose champion to roll back")],
    registry: RegistryOption = _DEFAULT_REGISTRY,
    index_url: IndexUrlOption = None,
    schema: SchemaOption = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Version to restore (default: the previous champion)")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for the event log")] = None,
    actor: ActorOption = None,
) -> None:
    """Make the previous champion (or --to) champion again; the current one is archived."""
    models = ModelRegistry(registry, index_url, schema=schema)
    before = models.champion(name)
    restored = models.rollback(name, to, reason=reason, actor=actor)
    was = before.version_id if before is not None else "none"
    stdout.print(f"{escape(restored)} is now the champion of {escape(name)} (was {escape(was)})")


@handles_errors
def diff(
    version_a: Annotated[str, typer.Argument(help="First version")],
    version_b: Annotated[str, typer.Argument(help="Second version")],
    registry: RegistryOption = _DEFAULT_REGISTRY,
    index_url: IndexUrlOption = None,
    schema: SchemaOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")] = False,
) -> None:
    """Compare two versions: parameters, metrics with deltas, features, window, code, lineage."""
    result = ModelRegistry(registry, index_url, schema=schema).diff(version_a, version_b)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, sort_keys=True, default=str))
        return
    a, b = result.a, result.b
    summary = Table(title=f"{a.version_id} (a) vs {b.version_id} (b)")
    for column in ("field", "a", "b"):
        summary.add_column(column, overflow="fold")
    summary.add_row("status", a.status, b.status)
    summary.add_row(
        "training window", f"{a.train_start} .. {a.train_end}", f"{b.train_start} .. {b.train_end}"
    )
    summary.add_row("seed", str(a.seed), str(b.seed))
    summary.add_row("feature fingerprint", a.spec_hash, b.spec_hash)
    summary.add_row(
        "features removed / added", ", ".join(result.features_removed), ", ".join(result.features_added)
    )
    summary.add_row("code version", a.code_version, b.code_version)
    summary.add_row("parent", str(a.parent), str(b.parent))
    stdout.print(summary)
    stdout.print(f"lineage: {escape(result.lineage)}")
    params = Table(title="parameters that differ")
    for column in ("parameter", "a", "b"):
        params.add_column(column, overflow="fold")
    for key, (value_a, value_b) in result.params.items():
        params.add_row(key, _text(value_a), _text(value_b))
    stdout.print(params)
    metrics = Table(title="metrics (delta = b - a)")
    for column in ("kind", "metric", "a", "b", "delta"):
        metrics.add_column(column, justify="left" if column in ("kind", "metric") else "right")
    for row in result.metrics:
        delta = "" if row.delta is None else f"{row.delta:+.6g}"
        metrics.add_row(row.kind, row.key, _text(row.a), _text(row.b), delta)
    stdout.print(metrics)


@handles_errors
def history(
    name: Annotated[str | None, typer.Argument(help="Model name (default: all)")] = None,
    registry: RegistryOption = _DEFAULT_REGISTRY,
    index_url: IndexUrlOption = None,
    schema: SchemaOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> None:
    """Show the event log: status changes, promotions (forced ones flagged) and rollbacks."""
    events = ModelRegistry(registry, index_url, schema=schema).history(name)
    if as_json:
        typer.echo(json.dumps([e.to_dict() for e in events], indent=2, sort_keys=True))
        return
    table = Table(title=f"registry events{'' if name is None else f' of {name}'}")
    for column in ("#", "at", "actor", "action", "version", "from -> to", "replaced", "forced", "reason"):
        table.add_column(column, overflow="fold")
    for e in events:
        table.add_row(
            str(e.event_id),
            e.at,
            e.actor,
            e.action,
            e.version_id,
            f"{e.from_status} -> {e.to_status}",
            e.previous_version or "",
            "FORCED" if e.forced else "",
            escape(e.reason or ""),
        )
    stdout.print(table)


def build_gate(gate_file: Path | None, overrides: dict[str, Any], no_champion_check: bool) -> PromotionGate:
    """Return the gate from a TOML file (top level or a ``[gate]`` table) with command-line overrides.

    Raises
    ------
    ConfigError
        If the file cannot be read or a field is unknown or out of range (naming the file).

    """
    source = "command line"
    fields: dict[str, Any] = {}
    if gate_file is not None:
        source = str(gate_file)
        try:
            data = tomllib.loads(gate_file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read the promotion gate file {gate_file}: {exc}") from exc
        fields = dict(data.get("gate", data))
        source = f"{gate_file} (with command-line overrides)" if overrides else source
    fields.update(overrides)
    if no_champion_check:
        fields["champion_metric"] = None
    try:
        return PromotionGate.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"promotion gate from {source} is invalid: {problems}") from exc


def _gate_table(version: str, result: GateResult) -> Table:
    table = Table(title=f"promotion gate for {version}: {'PASSED' if result.passed else 'FAILED'}")
    table.add_column("check", overflow="fold")
    table.add_column("result")
    failed = set(result.reasons)
    for line in result.checks:
        table.add_row(escape(line), "[red]fail[/]" if line in failed else "[green]ok[/]")
    if not result.checks:
        table.add_row("no thresholds configured", "[green]ok[/]")
    return table


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return escape(json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value))
