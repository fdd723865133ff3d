"""Structured JSON logs of the API sidecar: one line per request, with its request id, never a secret."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

LOGGER_NAME = "nautilus_ai.api"
"""The logger of the access log and the sidecar's own messages."""

_SECRET = re.compile(r"nai_[0-9a-f]{12}_[A-Za-z0-9_-]+")
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")
_SECRET_FIELDS = frozenset({"authorization", "x-api-key", "api_key", "key", "secret", "password", "cookie"})

REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
"""A client-supplied ``X-Request-ID`` is kept only when it matches this."""


def redact(text: str) -> str:
    """Return ``text`` with API keys and bearer tokens replaced by ``***`` (pure)."""
    return _BEARER.sub(r"\1***", _SECRET.sub("nai_***", text))


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: "***" if str(k).lower() in _SECRET_FIELDS else _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: time, level, logger, message and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the JSON line of ``record`` (secrets redacted)."""
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            payload.update(_clean(fields))
        if record.exc_info:
            payload["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


def configure_logging(level: str = "INFO", stream: Any = None) -> logging.Logger:
    """Send the sidecar's logger (and uvicorn's error log) as JSON lines to ``stream`` (stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    for name in ("uvicorn", "uvicorn.error"):
        other = logging.getLogger(name)
        other.handlers[:] = [handler]
        other.setLevel(level)
        other.propagate = False
    # uvicorn's own access log would print the raw request line: ours replaces it
    logging.getLogger("uvicorn.access").disabled = True
    return logger


def access_log(fields: dict[str, Any]) -> None:
    """Write one access log line with ``fields`` (request id, method, path, status, duration...)."""
    level = logging.ERROR if int(fields.get("status", 0)) >= 500 else logging.INFO
    logging.getLogger(LOGGER_NAME).log(level, "request", extra={"fields": fields})
