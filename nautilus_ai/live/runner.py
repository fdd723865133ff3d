"""Run a paper TradingNode until its replay finishes (or a timeout), then stop it cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from nautilus_trader.live.node import TradingNode

from nautilus_ai.adapters.replay.client import REPLAY_CLIENT_ID, find_replay_client
from nautilus_ai.errors import ConfigError


@dataclass(frozen=True)
class PaperRunResult:
    """How a paper run ended.

    Attributes
    ----------
    finished : bool
        The replay published every item and the node drained them.
    timed_out : bool
        The timeout stopped the node before the replay finished.
    items : int
        Items the replay published.
    total : int
        Items in the replay (0 when it never started).
    wall_s : float
        Wall-clock seconds from start to stop.
    error : str, optional
        Why the replay or the node failed.

    """

    finished: bool
    timed_out: bool
    items: int
    total: int
    wall_s: float
    error: str | None = None


def run_paper_node(
    node: TradingNode,
    *,
    timeout_s: float | None = None,
    client_id: str = REPLAY_CLIENT_ID,
    dispose: bool = True,
) -> PaperRunResult:
    """Run ``node`` until its replay client finishes, ``timeout_s`` passes or the node fails; stop it.

    Parameters
    ----------
    node : TradingNode
        A built node with a :class:`~nautilus_ai.adapters.replay.ReplayDataClient` (see
        :func:`nautilus_ai.live.paper.build_paper_node`).
    timeout_s : float, optional
        Stop after this many seconds even if the replay is not finished (no limit when None).
    client_id : str, default "REPLAY"
        The replay client's id.
    dispose : bool, default True
        Dispose the node after stopping it (keep False to read its cache and components first,
        then call ``node.dispose()``).

    Returns
    -------
    PaperRunResult
        How the run ended.

    Raises
    ------
    ConfigError
        If the node has no replay client, or ``timeout_s`` is not positive.

    """
    if timeout_s is not None and timeout_s <= 0:
        raise ConfigError(f"timeout must be > 0 seconds, got {timeout_s}")
    client = find_replay_client(node.kernel.msgbus, client_id)
    if client is None:
        raise ConfigError(f"the node has no replay data client {client_id!r}: build it with build_paper_node")
    loop = node.get_event_loop()
    if loop is None:  # pragma: no cover - a built TradingNode always has its loop
        raise ConfigError("the node has no event loop: build it first")
    started = time.monotonic()

    async def _main() -> tuple[bool, str | None]:
        run_task = asyncio.ensure_future(node.run_async())
        done_task = asyncio.ensure_future(client.finished.wait())
        done, _ = await asyncio.wait(
            {run_task, done_task}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        timed_out = not done
        error = None
        if run_task in done and not run_task.cancelled() and run_task.exception() is not None:
            error = repr(run_task.exception())
        done_task.cancel()
        with contextlib.suppress(Exception):
            await node.stop_async()
        await asyncio.sleep(0.1)
        # the run task and leftovers (actor executor workers) end here, not on a closed loop
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return timed_out, error

    try:
        timed_out, error = loop.run_until_complete(_main())
    finally:
        if dispose:
            node.dispose()
    if client.error is not None:
        error = repr(client.error)
    # the client sets `finished` however its replay ended (also when a SIGINT cancelled it)
    replayed_all = client.items_published == client.total_items
    return PaperRunResult(
        finished=client.finished.is_set() and replayed_all and client.error is None and not timed_out,
        timed_out=timed_out,
        items=client.items_published,
        total=client.total_items,
        wall_s=time.monotonic() - started,
        error=error,
    )
