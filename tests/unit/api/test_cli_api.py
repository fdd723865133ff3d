"""``nautilus-ai api keys create|list|revoke`` through typer."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from typer.testing import CliRunner

from nautilus_ai.api.auth import KeyStore
from nautilus_ai.cli_api import keys_create, keys_list, keys_revoke


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("create")(keys_create)
    app.command("list")(keys_list)
    app.command("revoke")(keys_revoke)
    return app


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    runner, store = CliRunner(), tmp_path / "keys.sqlite"
    created = runner.invoke(_app(), ["create", "--scope", "trade", "--name", "bot", "--store", str(store)])
    assert created.exit_code == 0, created.output
    key = re.search(r"nai_[0-9a-f]{12}_\S+", created.stdout)
    assert key is not None
    principal = KeyStore(store).verify(key.group(0))
    assert principal is not None and principal.scope == "trade"
    listed = runner.invoke(_app(), ["list", "--store", str(store)])
    assert (
        principal.key_id in listed.stdout and "active" in listed.stdout and key.group(0) not in listed.stdout
    )
    revoked = runner.invoke(_app(), ["revoke", principal.key_id, "--store", str(store)])
    assert revoked.exit_code == 0 and KeyStore(store).verify(key.group(0)) is None
    bad = runner.invoke(_app(), ["create", "--scope", "root", "--name", "x", "--store", str(store)])
    assert bad.exit_code == 2
