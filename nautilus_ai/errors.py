"""Errors grouped by what the operator must do about them.

* :class:`ConfigError` -- fix the configuration or the command line and rerun.
* :class:`DataError` -- fix the input data; the message names the file, row and field.
* :class:`RetryableError` -- a transient failure (network, a busy server); retrying may succeed.
* :class:`TradingHaltError` -- trading must stop until an operator intervenes.

The CLI turns each of them into one clear line and a non-zero exit code
(:data:`EXIT_CODES`).
"""

from __future__ import annotations


class NautilusAIError(Exception):
    """Base class of every error raised on purpose by nautilus-ai."""


class ConfigError(NautilusAIError):
    """A configuration value or command-line option is wrong: fix it and rerun."""


class DataError(NautilusAIError):
    """Input data is malformed.

    Parameters
    ----------
    message : str
        What is wrong and what was expected.
    file : str, optional
        The file the bad data came from.
    row : int, optional
        The 1-based data row (header excluded) where the problem is.
    field : str, optional
        The column or field at fault.

    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.row = row
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(f"file {self.file}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class RetryableError(NautilusAIError):
    """A transient failure: the same call may succeed later."""


class TradingHaltError(NautilusAIError):
    """Trading must stop until an operator intervenes."""


class ModelError(NautilusAIError):
    """A model artifact is missing, corrupted or does not match the live feature set."""


EXIT_CODES: dict[type[NautilusAIError], int] = {
    ConfigError: 2,
    DataError: 2,
    ModelError: 3,
    RetryableError: 4,
    TradingHaltError: 5,
}


def exit_code_for(error: NautilusAIError) -> int:
    """Return the process exit code for ``error`` (1 for an unlisted subclass)."""
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1
