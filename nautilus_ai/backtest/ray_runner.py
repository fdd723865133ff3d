"""Run BacktestNode jobs as Ray tasks on a Ray cluster, one run per worker process.

:func:`run_jobs_on_ray` is what :func:`nautilus_ai.backtest.runner.run_jobs` calls when it is given a
``ray_address``. Every job becomes one Ray task of
:func:`~nautilus_ai.backtest.runner.run_backtest_job` with ``num_cpus=1`` and ``max_calls=1``: Ray
starts a fresh worker process for each run and retires it afterwards, for the same reason the local
pool does (NautilusTrader grows memory across runs in one process). Ray does the scheduling; the
cluster's CPUs bound how many runs go at once. Each task runs from the driver's working directory
(when the node has it), so relative paths in a job resolve as they do in the local pool.

Every node of the cluster needs the same Python, NautilusTrader and nautilus-ai installation as the
driver, and must see the catalog, the model registry and the output paths of the jobs under the same
paths (a shared file system): a job carries paths, not data.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from nautilus_ai.errors import ConfigError, DataError, NautilusAIError

if TYPE_CHECKING:
    from nautilus_ai.backtest.runner import BacktestJob, BacktestJobResult

DEFAULT_CONNECT_TIMEOUT_S = 15.0
"""Seconds to wait for the Ray cluster's address to accept a connection."""


class BacktestJobError(RuntimeError):
    """A backtest job failed on a Ray worker; the message names the job's tag and the cause."""


def parse_ray_address(address: str) -> tuple[str, int] | None:
    """Return the ``(host, port)`` to probe for a Ray address, or None for ``"auto"``/``"local"``.

    Parameters
    ----------
    address : str
        ``host:port`` of a Ray head's GCS (``ray start --head --port``), ``ray://host:port`` of a
        Ray client server, or ``"auto"`` (the cluster started on this machine).

    Returns
    -------
    tuple[str, int] or None
        The host and port, or None when the address names no endpoint to probe.

    Raises
    ------
    ConfigError
        If the address is empty or has no valid port.

    """
    text = address.strip()
    if not text:
        raise ConfigError(
            "--ray-address is empty: give host:port of the Ray head (or ray://host:port, or auto)"
        )
    if text in ("auto", "local"):
        return None
    endpoint = text.removeprefix("ray://")
    host, sep, port_text = endpoint.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(
            f"Ray address {address!r} is not host:port (for example 127.0.0.1:6379 or ray://head:10001)"
        )
    return host.strip("[]"), int(port_text)


def check_reachable(address: str, timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S) -> None:
    """Raise :class:`ConfigError` unless the Ray address accepts a TCP connection within ``timeout_s``.

    Parameters
    ----------
    address : str
        The Ray address (see :func:`parse_ray_address`).
    timeout_s : float, default 15.0
        Seconds to wait for the connection.

    Raises
    ------
    ConfigError
        If nothing listens at the address or it does not answer in time.

    """
    endpoint = parse_ray_address(address)
    if endpoint is None:
        return
    host, port = endpoint
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as error:
        raise ConfigError(
            f"cannot reach the Ray cluster at {address!r} within {timeout_s:g} s ({error}): start one with "
            f"`ray start --head --port {port}` or fix --ray-address"
        ) from error


def run_jobs_on_ray(
    jobs: Sequence[BacktestJob],
    address: str,
    on_done: Callable[[BacktestJobResult], None] | None = None,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
) -> list[BacktestJobResult]:
    """Run ``jobs`` as Ray tasks on the cluster at ``address`` and return the results in job order.

    Parameters
    ----------
    jobs : Sequence[BacktestJob]
        The runs (tags must be unique).
    address : str
        The Ray cluster: ``host:port`` of its head, ``ray://host:port`` or ``"auto"``.
    on_done : Callable[[BacktestJobResult], None], optional
        Called with each result as its task completes, in completion order.
    connect_timeout_s : float, default 15.0
        Seconds to wait for the cluster to answer before giving up.

    Returns
    -------
    list[BacktestJobResult]
        One result per job, in the order of ``jobs``.

    Raises
    ------
    ConfigError
        If the cluster cannot be reached.
    BacktestJobError
        If a job fails (the message names its tag); a nautilus-ai error raised by the job keeps its
        class, with the tag prepended to its message. The other tasks are cancelled.

    """
    already = sys.modules.get("ray")
    connected_here = already is None or not already.is_initialized()
    if connected_here:
        check_reachable(address, connect_timeout_s)  # before the slow ``import ray``
    import ray

    if connected_here:
        connect(address, connect_timeout_s)
    try:
        task = ray.remote(num_cpus=1, max_calls=1)(run_backtest_job_in)
        working_dir = os.getcwd()
        refs = {task.remote(job, working_dir): job.tag for job in jobs}
        by_tag: dict[str, BacktestJobResult] = {}
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            tag = refs[ready[0]]
            try:
                result = ray.get(ready[0])
            except ray.exceptions.RayError as error:
                for ref in pending:
                    ray.cancel(ref, force=True)
                raise tagged_error(tag, _cause(error)) from error
            by_tag[tag] = result
            if on_done is not None:
                on_done(result)
        return [by_tag[job.tag] for job in jobs]
    finally:
        if connected_here:
            ray.shutdown()


def run_backtest_job_in(job: BacktestJob, working_dir: str) -> BacktestJobResult:
    """Run ``job`` in this (fresh) process from ``working_dir``, the driver's working directory.

    Ray workers do not start in the driver's working directory; changing to it (when it exists on
    the node) resolves the relative paths of a job as the local pool does.

    Parameters
    ----------
    job : BacktestJob
        The run.
    working_dir : str
        The driver's working directory.

    Returns
    -------
    BacktestJobResult
        What :func:`~nautilus_ai.backtest.runner.run_backtest_job` returns.

    """
    from nautilus_ai.backtest.runner import run_backtest_job

    if os.path.isdir(working_dir):
        os.chdir(working_dir)
    return run_backtest_job(job)


def connect(address: str, timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S) -> None:
    """Connect this process to the Ray cluster at ``address`` (a driver; it starts no cluster).

    Parameters
    ----------
    address : str
        The Ray cluster's address (see :func:`parse_ray_address`).
    timeout_s : float, default 15.0
        Seconds to wait for the address to accept a connection.

    Raises
    ------
    ConfigError
        If the address is malformed or the cluster cannot be reached.

    """
    import ray

    check_reachable(address, timeout_s)
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False, configure_logging=True)
    except (ConnectionError, TimeoutError) as error:
        raise ConfigError(f"cannot connect to the Ray cluster at {address!r}: {error}") from error


def tagged_error(tag: str, cause: BaseException) -> Exception:
    """Return the error to raise for job ``tag`` that failed with ``cause``.

    Parameters
    ----------
    tag : str
        The job's tag.
    cause : BaseException
        What the job raised (or the Ray error when the worker died).

    Returns
    -------
    Exception
        A :class:`DataError` or other nautilus-ai error of the same class with the tag prepended,
        else a :class:`BacktestJobError` naming the tag, the cause's class and its message.

    """
    if isinstance(cause, DataError):
        return DataError(
            f"backtest job {tag!r}: {cause.message}", file=cause.file, row=cause.row, field=cause.field
        )
    if isinstance(cause, NautilusAIError):
        try:
            return type(cause)(f"backtest job {tag!r}: {cause}")
        except TypeError:
            pass
    return BacktestJobError(
        f"backtest job {tag!r} failed on the Ray cluster: {type(cause).__name__}: {cause}"
    )


def _cause(error: Any) -> BaseException:
    """Return the exception a Ray task raised (the Ray error itself when the worker died)."""
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, BaseException) else error
