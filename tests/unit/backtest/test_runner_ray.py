"""run_jobs' argument checks and the Ray path's address handling and error tagging (no cluster)."""

import socket
import time

import pytest
from nautilus_trader.backtest.config import BacktestRunConfig

from nautilus_ai.backtest.ray_runner import (
    BacktestJobError,
    check_reachable,
    parse_ray_address,
    tagged_error,
)
from nautilus_ai.backtest.runner import BacktestJob, check_jobs, run_jobs
from nautilus_ai.errors import ConfigError, DataError, ModelError


def _closed_port() -> int:
    """Return a localhost port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _job(tag: str) -> BacktestJob:
    return BacktestJob(tag, BacktestRunConfig(venues=[], data=[]))


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:6379", ("127.0.0.1", 6379)),
        ("ray://head.local:10001", ("head.local", 10001)),
        ("[::1]:6380", ("::1", 6380)),
        ("auto", None),
    ],
)
def test_parse_ray_address_returns_the_endpoint(address, expected):
    assert parse_ray_address(address) == expected


@pytest.mark.parametrize("address", ["", "head", "head:", "head:port", ":6379", "head:70000"])
def test_parse_ray_address_rejects_an_address_without_host_and_port(address):
    with pytest.raises(ConfigError, match=r"Ray address|ray-address"):
        parse_ray_address(address)


def test_check_reachable_accepts_a_listening_port():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        check_reachable(f"127.0.0.1:{server.getsockname()[1]}", timeout_s=2.0)


def test_run_jobs_with_an_unreachable_ray_address_raises_config_error_quickly():
    address = f"127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    with pytest.raises(ConfigError, match=f"cannot reach the Ray cluster at '{address}'.*ray start --head"):
        run_jobs([_job("a")], workers=1, ray_address=address)
    assert time.monotonic() - started < 30


def test_run_jobs_rejects_repeated_tags_before_running_anything():
    with pytest.raises(ConfigError, match=r"repeated: \['a'\]"):
        run_jobs([_job("a"), _job("b"), _job("a")], workers=2)


@pytest.mark.parametrize(("workers", "runs", "field"), [(0, 8, "workers"), (2, 0, "runs_per_process")])
def test_check_jobs_rejects_non_positive_counts(workers, runs, field):
    with pytest.raises(ConfigError, match=field):
        check_jobs([_job("a")], workers, runs)


def test_run_jobs_of_no_jobs_returns_nothing_without_connecting():
    assert run_jobs([], workers=2, ray_address=f"127.0.0.1:{_closed_port()}") == []


def test_tagged_error_keeps_the_class_of_a_nautilus_ai_error():
    data = tagged_error("ml-3", DataError("no bars", file="cat/AAPL.parquet", field="close"))
    model = tagged_error("ml-4", ModelError("fingerprint differs"))

    assert isinstance(data, DataError)
    assert (data.file, data.field) == ("cat/AAPL.parquet", "close")
    assert str(data) == "file cat/AAPL.parquet, field 'close': backtest job 'ml-3': no bars"
    assert isinstance(model, ModelError) and str(model) == "backtest job 'ml-4': fingerprint differs"


def test_tagged_error_wraps_any_other_error_with_the_tag_and_the_cause():
    error = tagged_error("bh-0", ZeroDivisionError("division by zero"))

    assert isinstance(error, BacktestJobError)
    assert str(error) == "backtest job 'bh-0' failed on the Ray cluster: ZeroDivisionError: division by zero"
