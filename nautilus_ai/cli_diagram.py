"""``nautilus-ai diagram``: the annotated system map of an experiment, drawn with Graphviz.

Register it with ``app.command("diagram")(diagram)``. The command writes an SVG, an A3 landscape
PDF or a PNG (format from ``--out``'s suffix or ``--format``), annotated from the experiment config;
``--live`` adds live values read from a JSON object (see ``docs/diagram.md``).
"""

import json
from pathlib import Path
from typing import Annotated

import typer

from nautilus_ai.cli_common import handles_errors
from nautilus_ai.cli_common import out as stdout
from nautilus_ai.errors import DataError


def read_live_values(path: Path) -> dict[str, object]:
    """Return the live values stored as one JSON object in ``path``.

    Raises
    ------
    DataError
        When the file is missing, is not JSON, or does not hold an object.

    """
    if not path.is_file():
        raise DataError("live values file does not exist", file=str(path))
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"not valid JSON: {e}", file=str(path)) from None
    if not isinstance(data, dict):
        raise DataError(f"expected a JSON object of live values, got {type(data).__name__}", file=str(path))
    return data


@handles_errors
def diagram(
    config: Annotated[Path, typer.Option("--config", help="Experiment config (TOML)")],
    out: Annotated[
        Path, typer.Option("--out", help="Output file: map.svg, map.pdf (A3 landscape) or map.png")
    ],
    format: Annotated[
        str | None, typer.Option("--format", help="svg, pdf or png (default: the suffix of --out)")
    ] = None,
    live_values: Annotated[
        Path | None,
        typer.Option(
            "--live",
            help="JSON object of live values: regime, confidence, trading_state, model_version",
        ),
    ] = None,
) -> None:
    """Draw the system's data flow, annotated from the experiment config, as SVG or A3 PDF."""
    from nautilus_ai.config import load_experiment
    from nautilus_ai.diagram.model import build_system_graph, with_live
    from nautilus_ai.diagram.render import render_graph

    cfg = load_experiment(config)
    graph = build_system_graph(cfg)
    if live_values is not None:
        graph = with_live(graph, read_live_values(live_values), source=str(live_values))
    written = render_graph(graph, out, format)
    stdout.print(f"system map of {cfg.name}: {written}")
