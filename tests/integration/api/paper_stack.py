"""The README's "Operate a paper node" flow as real processes: the CLI's paper node and API sidecar.

:func:`train` runs a three-fold walk-forward on the bundled AAPL daily bars (regimes on) into a
registry; :func:`start_stack` follows the README's steps in a fresh folder: ``nautilus-ai learn registry
promote`` makes the fold with the lowest out-of-sample Sharpe the champion, ``nautilus-ai live paper``
replays the catalog with ``--redis-url`` (ControlActor and RedisPublisherActor on), ``nautilus-ai api
keys create`` makes an admin and a read key, and ``nautilus-ai api serve`` runs the sidecar with the
``NAUTILUS_AI_API_*`` variables. Every process writes its output to a log file in that folder;
:meth:`PaperStack.stop` sends SIGINT (then SIGKILL) and deletes the trader's Redis keys.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import redis

from nautilus_ai.backtest.walkforward import run_walkforward
from nautilus_ai.config import ExperimentConfig
from nautilus_ai.learning.registry import ModelRegistry
from nautilus_ai.test_kit import demo_catalog, small_experiment

REDIS_URL = "redis://127.0.0.1:6379/0"
INSTRUMENT = "AAPL.XNAS"
DAYS_PER_SECOND = 8.0
"""Replay speed of the paper node: eight market days per wall-clock second."""
REPLAY_START = "2014-01-01"
"""Replay start: about 1,340 days to the end of the data, nearly three minutes at DAYS_PER_SECOND."""
STARTUP_S = 90.0
"""How long the processes may take to answer (the node imports NautilusTrader, torch and the models)."""


def redis_up() -> bool:
    """Return whether a Redis server answers at :data:`REDIS_URL`."""
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def cli() -> list[str]:
    """Return the ``nautilus-ai`` command of this interpreter's environment (the README's ``.venv/bin``)."""
    script = Path(sys.executable).with_name("nautilus-ai")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "nautilus_ai"]


@dataclass(frozen=True)
class Trained:
    """A walk-forward's registry and what the paper node needs to replay its catalog."""

    cfg: ExperimentConfig
    config_path: Path
    catalog: Path
    registry: Path
    runs_root: Path
    sharpe: dict[str, float]
    """Out-of-sample Sharpe ratio of each registered direction model version."""

    @property
    def champion(self) -> str:
        """Return the version the README's step 1 promotes: the lowest out-of-sample Sharpe."""
        return min(self.sharpe, key=lambda v: (self.sharpe[v], v))

    @property
    def challenger(self) -> str:
        """Return the version promoted over HTTP: the highest Sharpe, so the default gate passes."""
        return max(self.sharpe, key=lambda v: (self.sharpe[v], v))


def train(tmp: Path) -> Trained:
    """Ingest the bundled AAPL bars, run a three-fold walk-forward and register its models.

    The guard's drawdown and daily-loss limits are wide, so only operator commands move the paper
    node's trading state while a test watches it.
    """
    catalog = demo_catalog(tmp, symbols=("AAPL",))
    cfg = small_experiment(
        catalog,
        instruments=(INSTRUMENT,),
        regime={"enabled": True, "kind": "gmm", "n_states": 2},
        risk={"reduce_drawdown": 0.5, "halt_drawdown": 0.9, "reduce_daily_loss": 0.5, "halt_daily_loss": 0.9},
        walkforward={"train": "1200D", "test": "250D", "workers": 1, "baselines": []},
    )
    result = run_walkforward(cfg, tmp / "runs", run_id="wf", registry_path=tmp / "registry")
    registry = ModelRegistry(tmp / "registry")
    versions = [fold["model_version"] for fold in result.folds]
    sharpe = {v: float(registry.get(v).oos_metrics["sharpe"]) for v in versions}
    assert len(set(versions)) >= 2, f"the walk-forward registered {versions}: need two versions of one model"
    config_path = tmp / "experiment.toml"
    config_path.write_text(cfg.to_toml())
    return Trained(cfg, config_path, catalog, tmp / "registry", tmp / "runs", sharpe)


def free_port() -> int:
    """Return a free TCP port on localhost."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PaperStack:
    """A running paper node and API sidecar started from the CLI, and how to reach them."""

    workdir: Path
    base_url: str
    trader_id: str
    keys: dict[str, str]
    champion: str
    challenger: str
    registry: Path
    rate_limit_prefix: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)

    def logs(self, lines: int = 40) -> str:
        """Return the last ``lines`` lines of every process's output (for failure messages)."""
        parts = []
        for name, path in self.outputs.items():
            text = path.read_text(errors="replace").splitlines() if path.exists() else []
            process = self.processes.get(name)
            rc = None if process is None else process.poll()
            parts.append(f"--- {name} (exit code {rc}) ---\n" + "\n".join(text[-lines:]))
        return "\n".join(parts)

    def check_running(self) -> None:
        """Raise AssertionError, with the logs, when the node or the sidecar is no longer running."""
        for name in ("paper", "api"):
            process = self.processes.get(name)
            if process is not None and process.poll() is not None:
                raise AssertionError(f"{name} exited with code {process.returncode}\n{self.logs()}")

    def http(self, scope: str = "admin") -> httpx.Client:
        """Return an HTTP client of the sidecar that sends the ``scope`` key."""
        return httpx.Client(base_url=self.base_url, headers={"X-API-Key": self.keys[scope]}, timeout=60.0)

    def wait_for(self, what: str, probe: Any, timeout_s: float = 60.0, interval_s: float = 0.25) -> Any:
        """Return ``probe()`` once truthy; fail with the logs after ``timeout_s`` or when a process dies."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.check_running()
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}\n{self.logs()}")
            time.sleep(interval_s)

    def stop(self, name: str) -> int:
        """Send SIGINT to process ``name`` (Ctrl-C), SIGKILL after 30 s; return its exit code."""
        process = self.processes[name]
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        return int(process.returncode)

    def close(self) -> None:
        """Stop every process (the sidecar first) and delete every Redis key the stack wrote."""
        for name in ("api", "paper"):
            if name in self.processes:
                self.stop(name)
        client = redis.Redis.from_url(REDIS_URL)
        for pattern in (
            f"nautilus_ai:{self.trader_id}:*",
            f"nautilus_ai:control:{self.trader_id}:*",
            f"trader-{self.trader_id}:*",
            f"{self.rate_limit_prefix}:*",
        ):
            keys = list(client.scan_iter(match=pattern, count=500))
            if keys:
                client.delete(*keys)
        client.close()


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAUTILUS_AI_API_")}
    env.update(extra or {})
    return env


def run_cli(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one ``nautilus-ai`` command to completion; fail with its output when it does not exit 0."""
    result = subprocess.run(
        [*cli(), *args],
        cwd=cwd,
        env=_environment(env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"nautilus-ai {' '.join(args)}: exit {result.returncode}\n{result.stderr}"
    return result


def _spawn(stack: PaperStack, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
    path = stack.workdir / f"{name}.log"
    with path.open("wb") as output:  # the child keeps its own descriptor
        stack.processes[name] = subprocess.Popen(
            [*cli(), *args],
            cwd=stack.workdir,
            env=_environment({**(env or {}), "PYTHONUNBUFFERED": "1"}),  # logs readable while it runs
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    stack.outputs[name] = path


def start_stack(trained: Trained, workdir: Path) -> PaperStack:
    """Follow the README's steps 1 to 3 in ``workdir``; return the running stack (stop it with ``close``).

    The registry is copied into ``workdir`` first, so promotions stay with this stack.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    registry = workdir / "registry"
    shutil.copytree(trained.registry, registry)
    tag = uuid.uuid4().hex[:10]
    stack = PaperStack(
        workdir=workdir,
        base_url=f"http://127.0.0.1:{free_port()}",
        trader_id=f"E2E-{tag.upper()}",
        keys={},
        champion=trained.champion,
        challenger=trained.challenger,
        registry=registry,
        rate_limit_prefix=f"naitest-{tag}:ratelimit",
    )
    try:
        # 1. a champion
        run_cli(["learn", "registry", "promote", stack.champion, "--registry", str(registry)], workdir)
        # 2. the paper node, its state in Redis, with the ControlActor
        _spawn(
            stack,
            "paper",
            [
                "live",
                "paper",
                "--config",
                str(trained.config_path),
                "--catalog",
                str(trained.catalog),
                "--registry",
                str(registry),
                "--speed",
                str(DAYS_PER_SECOND * 86_400),
                "--redis-url",
                REDIS_URL.removesuffix("/0"),
                "--redis-flush",
                "--trader-id",
                stack.trader_id,
                "--start",
                pd.Timestamp(REPLAY_START, tz="UTC").isoformat(),
            ],
        )
        # 3. keys (in ./api_keys.sqlite, where `api serve` looks by default) and the sidecar
        for scope, name in (("admin", "ops"), ("read", "viewer")):
            created = run_cli(["api", "keys", "create", "--scope", scope, "--name", name], workdir)
            stack.keys[scope] = created.stdout.strip()
        _spawn(
            stack,
            "api",
            ["api", "serve", "--port", stack.base_url.rsplit(":", 1)[1]],
            {
                "NAUTILUS_AI_API_REGISTRY_ROOT": str(registry),
                "NAUTILUS_AI_API_RUNS_ROOT": str(trained.runs_root),
                "NAUTILUS_AI_API_EXPERIMENT_CONFIG": str(trained.config_path),
                "NAUTILUS_AI_API_TRADER_ID": stack.trader_id,
                "NAUTILUS_AI_API_RATE_LIMIT_PREFIX": stack.rate_limit_prefix,
                "NAUTILUS_AI_API_COMMAND_TIMEOUT_S": "30",
            },
        )
        with stack.http("read") as http:
            stack.wait_for("the sidecar to answer", lambda: _answers(http), timeout_s=STARTUP_S)
    except BaseException:
        stack.close()
        raise
    return stack


def _answers(http: httpx.Client) -> bool:
    try:
        return http.get("/health").status_code in (200, 503)
    except httpx.TransportError:
        return False
