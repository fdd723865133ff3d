"""API keys: format, hashing at rest, scopes, revocation."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from nautilus_ai.api.auth import KEY_PATTERN, KeyStore, scope_allows, split_key
from nautilus_ai.errors import ConfigError, DataError


def test_created_key_has_the_documented_shape_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys.sqlite", iterations=1000)
    key, info = store.create("alice", "trade")
    assert KEY_PATTERN.match(key) and key.startswith(f"nai_{info.key_id}_")
    secret = key.split("_", 2)[2]
    raw = (tmp_path / "keys.sqlite").read_bytes()
    assert secret.encode() not in raw and key.encode() not in raw
    with sqlite3.connect(tmp_path / "keys.sqlite") as db:
        (stored,) = db.execute("SELECT hash FROM api_keys").fetchone()
    assert len(stored) == 32


def test_verify_accepts_the_key_and_refuses_wrong_malformed_and_revoked_ones(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys.sqlite", iterations=1000)
    key, info = store.create("bob", "read")
    principal = store.verify(key)
    assert principal is not None and principal.scope == "read" and principal.key_id == info.key_id
    assert store.verify(key) == principal  # the remembered verification gives the same answer
    wrong = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert store.verify(wrong) is None
    assert store.verify("nai_short") is None
    store.revoke(info.key_id)
    assert store.verify(key) is None
    assert not store.list()[0].active


def test_a_second_store_on_the_same_file_verifies_keys(tmp_path: Path) -> None:
    key, _ = KeyStore(tmp_path / "k.sqlite", iterations=1000).create("svc", "admin")
    other = KeyStore(tmp_path / "k.sqlite")
    principal = other.verify(key)
    assert principal is not None and principal.scope == "admin"


def test_scopes_are_ordered() -> None:
    assert scope_allows("admin", "trade") and scope_allows("trade", "read") and scope_allows("read", "read")
    assert not scope_allows("read", "trade") and not scope_allows("trade", "admin")
    assert not scope_allows("bogus", "read")


def test_bad_input_names_the_field(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "k.sqlite", iterations=1000)
    with pytest.raises(DataError, match="scope"):
        store.create("x", "root")
    with pytest.raises(DataError, match="key_id"):
        store.revoke("000000000000")
    with pytest.raises(ConfigError, match="iterations"):
        KeyStore(tmp_path / "k2.sqlite", iterations=10)
    assert split_key("nai_zz_abc") is None
