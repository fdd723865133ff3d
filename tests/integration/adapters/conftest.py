"""Fixtures shared by the adapter tests: the local HTTP server that replays recorded responses."""

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parents[2] / "fixtures" / "http"


def _load_replay_server():
    spec = importlib.util.spec_from_file_location("replay_server", FIXTURES / "replay_server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ReplayServer


@pytest.fixture(scope="module")
def server() -> Iterator:
    replay = _load_replay_server()().start()
    yield replay
    replay.stop()


@pytest.fixture
def replay(server):
    server.reset()
    return server
