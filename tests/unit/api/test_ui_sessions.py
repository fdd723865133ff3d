"""Dashboard sessions: signed cookies, expiry, revocation (no Redis, no server)."""

from __future__ import annotations

import pytest

from nautilus_ai.api.ui.sessions import SessionStore, sign, unsign
from nautilus_ai.errors import ConfigError

SECRET = b"s" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_sign_round_trips_and_rejects_tampering() -> None:
    value = sign("abc", SECRET)
    assert unsign(value, SECRET) == "abc"
    assert unsign(value, b"t" * 32) is None
    assert unsign("abd" + value[3:], SECRET) is None
    assert unsign(value[:-1] + ("0" if value[-1] != "0" else "1"), SECRET) is None
    assert unsign("no-dot", SECRET) is None
    assert unsign(".deadbeef", SECRET) is None


def test_a_session_maps_the_cookie_to_the_key_but_never_holds_the_key() -> None:
    store = SessionStore(secret=SECRET)
    session, cookie = store.create("0123456789ab", "alice", "trade")
    assert store.resolve(cookie) == session
    assert session.scope == "trade" and session.key_id == "0123456789ab"
    assert "nai_" not in cookie and session.session_id in cookie
    assert len(session.csrf_token) >= 24
    other, _ = store.create("0123456789ab", "alice", "trade")
    assert other.session_id != session.session_id and other.csrf_token != session.csrf_token


def test_forged_unknown_and_dropped_sessions_resolve_to_none() -> None:
    store = SessionStore(secret=SECRET)
    session, cookie = store.create("k1", "a", "read")
    assert store.resolve(None) is None and store.resolve("") is None
    assert store.resolve(sign("never-issued", SECRET)) is None
    assert SessionStore(secret=b"x" * 32).resolve(cookie) is None
    store.drop(session.session_id)
    assert store.resolve(cookie) is None


def test_sessions_expire_after_the_ttl() -> None:
    clock = Clock()
    store = SessionStore(ttl_s=60.0, secret=SECRET, clock=clock)
    _, cookie = store.create("k1", "a", "read")
    clock.now += 59.0
    assert store.resolve(cookie) is not None
    clock.now += 2.0
    assert store.resolve(cookie) is None


def test_drop_key_ends_every_session_of_that_key() -> None:
    store = SessionStore(secret=SECRET)
    _, first = store.create("k1", "a", "admin")
    _, second = store.create("k1", "a", "admin")
    _, other = store.create("k2", "b", "read")
    assert store.drop_key("k1") == 2
    assert store.resolve(first) is None and store.resolve(second) is None
    assert store.resolve(other) is not None


@pytest.mark.parametrize(("ttl", "secret"), [(0.0, None), (-1.0, None), (60.0, b"short")])
def test_bad_settings_raise_config_error(ttl: float, secret: bytes | None) -> None:
    with pytest.raises(ConfigError, match="dashboard"):
        SessionStore(ttl_s=ttl, secret=secret)
