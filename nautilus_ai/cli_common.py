"""What every ``nautilus-ai`` command module shares: the consoles, error handling and progress bars.

Command modules (``cli_*.py``) import from here, and :mod:`nautilus_ai.cli` registers them, so no
command module imports the app module (no import cycle).
"""

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nautilus_ai.errors import NautilusAIError, exit_code_for

console = Console(stderr=True)
"""Errors, warnings and progress (stderr)."""
out = Console(soft_wrap=True)
"""Results (stdout)."""


def handles_errors[F: Callable[..., Any]](func: F) -> F:
    """Turn nautilus-ai errors into one clear line and the matching exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NautilusAIError as e:
            console.print(
                f"[bold red]error:[/] {type(e).__name__}: {escape(str(e))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(exit_code_for(e)) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def progress_bars() -> Iterator[Callable[[str, int, int], None]]:
    """Yield a ``progress(stage, done, total)`` callback drawing one rich bar per stage."""
    with Progress(
        TextColumn("[bold]{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bars:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total)
            bars.update(tasks[stage], completed=done, total=total)

        yield update
