"""The ``nautilus-ai`` command line."""

import typer

from nautilus_ai import __version__

app = typer.Typer(help="nautilus-ai: research, backtest and run ML-driven NautilusTrader strategies.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nautilus-ai {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Research, backtest and run ML-driven NautilusTrader strategies."""
