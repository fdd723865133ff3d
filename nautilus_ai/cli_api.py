"""``nautilus-ai api``: serve the control sidecar and manage its API keys.

The integrator registers these functions in :mod:`nautilus_ai.cli` (``api serve``, ``api keys create``,
``api keys revoke``, ``api keys list``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nautilus_ai.api.auth import KeyStore
from nautilus_ai.api.settings import ApiSettings
from nautilus_ai.cli_common import console, handles_errors, out

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML settings file ([api] table).")
]
StoreOption = Annotated[
    Path | None, typer.Option("--store", help="API key store (default: from the settings).")
]


def _store(store: Path | None, config: Path | None) -> KeyStore:
    return KeyStore(store if store is not None else ApiSettings.load(config).key_store)


@handles_errors
def serve(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    workers: Annotated[int, typer.Option(help="Worker processes (the rate limit is shared in Redis).")] = 1,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "INFO",
) -> None:
    """Serve the control API (settings from --config and NAUTILUS_AI_API_* variables)."""
    import uvicorn

    from nautilus_ai.api.app import create_app
    from nautilus_ai.api.logging import configure_logging

    settings = ApiSettings.load(config)
    configure_logging(log_level.upper())
    if workers > 1:
        import os

        if config is not None:
            os.environ["NAUTILUS_AI_API_CONFIG"] = str(config)
        uvicorn.run(
            "nautilus_ai.cli_api:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            access_log=False,
        )
        return
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None, access_log=False)


def app_from_environment() -> object:
    """Return the app from ``NAUTILUS_AI_API_CONFIG`` and the environment (uvicorn factory for workers)."""
    import os

    from nautilus_ai.api.app import create_app
    from nautilus_ai.api.logging import configure_logging

    configure_logging()
    config = os.environ.get("NAUTILUS_AI_API_CONFIG")
    return create_app(
        ApiSettings.load(config, {k: v for k, v in os.environ.items() if k != "NAUTILUS_AI_API_CONFIG"})
    )


@handles_errors
def keys_create(
    scope: Annotated[str, typer.Option(help="read, trade or admin.")],
    name: Annotated[str, typer.Option(help="A label for the key (who or what uses it).")],
    store: StoreOption = None,
    config: ConfigOption = None,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    key, info = _store(store, config).create(name, scope)
    console.print(f"created key {info.key_id} ({info.scope}) for {info.name}; it is shown only once:")
    out.print(key)


@handles_errors
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (the part after 'nai_').")],
    store: StoreOption = None,
    config: ConfigOption = None,
) -> None:
    """Revoke an API key."""
    info = _store(store, config).revoke(key_id)
    out.print(f"revoked {info.key_id} ({info.scope}, {info.name}) at {info.revoked_at}")


@handles_errors
def keys_list(store: StoreOption = None, config: ConfigOption = None) -> None:
    """List the API keys (ids, names, scopes, states; never secrets)."""
    for info in _store(store, config).list():
        state = "active" if info.active else f"revoked {info.revoked_at}"
        out.print(f"{info.key_id}  {info.scope:<5}  {info.name}  created {info.created_at}  {state}")
