"""A small client of a node's control channel: send a command, wait for its ack, read the audit trail.

Used by the API sidecar, the CLI and the tests::

    client = ControlClient("PAPER-001")
    ack = client.send("halt", {"reason": "news"}, actor="alice", timeout_s=5.0)
    assert ack.status == "ok"

See :mod:`nautilus_ai.live.control` for the streams and the command kinds.
"""

from __future__ import annotations

import time
from typing import Any

import redis

from nautilus_ai.errors import DataError, RetryableError
from nautilus_ai.live import control
from nautilus_ai.live.control import AuditRecord, ControlAck, ControlCommand


class ControlClient:
    """Send commands to a node's ControlActor over Redis streams and wait for their acks.

    Parameters
    ----------
    trader_id : str
        The node's trader id (as in its stream names).
    host, port, db : str, int, int
        The Redis server (default ``127.0.0.1:6379``, database 0).
    stream_prefix : str
        The prefix of the streams (as in the actor's config).
    connection : redis.Redis, optional
        A connection to use instead of opening one (``decode_responses=True`` expected).

    """

    def __init__(
        self,
        trader_id: str,
        *,
        host: str = "127.0.0.1",
        port: int = 6379,
        db: int = 0,
        stream_prefix: str = control.DEFAULT_STREAM_PREFIX,
        connection: redis.Redis | None = None,
    ) -> None:
        self.streams = control.control_streams(trader_id, stream_prefix)
        self.redis = connection or redis.Redis(
            host=host, port=port, db=db, decode_responses=True, socket_connect_timeout=2.0
        )

    def submit(self, command: ControlCommand) -> str:
        """Append ``command`` to the commands stream and return its stream entry id.

        Raises
        ------
        RetryableError
            If Redis cannot be reached.

        """
        try:
            return str(self.redis.xadd(self.streams.commands, control.encode(command)))  # type: ignore[arg-type]
        except redis.RedisError as error:
            raise RetryableError(
                f"could not send command {command.id} to {self.streams.commands}: {error}"
            ) from error

    def _last_ack_entry(self) -> str:
        last: Any = self.redis.xrevrange(self.streams.acks, count=1)
        return str(last[0][0]) if last else "0-0"

    def wait_ack(self, command_id: str, timeout_s: float = 10.0, after: str = "0-0") -> ControlAck:
        """Return the ack of ``command_id``, read from the acks stream after entry ``after``.

        Raises
        ------
        TimeoutError
            If no ack arrived within ``timeout_s`` seconds (is the node running a ControlActor?).
        RetryableError
            If Redis cannot be reached.

        """
        deadline = time.monotonic() + timeout_s
        cursor = after
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"no ack for command {command_id} on {self.streams.acks} within {timeout_s:g}s"
                    )
                block_ms = max(1, min(int(remaining * 1000), 1000))
                response: Any = self.redis.xread({self.streams.acks: cursor}, block=block_ms, count=100)
                for _, entries in response or []:
                    for entry_id, fields in entries:
                        cursor = entry_id
                        try:
                            ack = control.decode_ack(fields)
                        except DataError:
                            continue
                        if ack.id == command_id:
                            return ack
        except redis.RedisError as error:
            raise RetryableError(f"could not read {self.streams.acks}: {error}") from error

    def send(
        self,
        kind: str,
        args: dict[str, Any] | None = None,
        *,
        actor: str,
        timeout_s: float = 10.0,
        command_id: str | None = None,
    ) -> ControlAck:
        """Send a command and wait for its ack.

        Parameters
        ----------
        kind : str
            The command kind (see :data:`nautilus_ai.live.control.COMMAND_ARGS`).
        args : dict, optional
            Its arguments.
        actor : str
            Who sends it (audited).
        timeout_s : float, default 10.0
            How long to wait for the ack.
        command_id : str, optional
            The command's id (a fresh UUID when None).

        Returns
        -------
        ControlAck
            The node's answer.

        Raises
        ------
        TimeoutError
            If the node did not answer in time.
        RetryableError
            If Redis cannot be reached.

        """
        fields: dict[str, Any] = {"kind": kind, "args": dict(args or {}), "actor": actor}
        if command_id is not None:
            fields["id"] = command_id
        command = ControlCommand(**fields)
        after = self._last_ack_entry()
        self.submit(command)
        return self.wait_ack(command.id, timeout_s, after=after)

    def audit(self, count: int | None = None) -> list[AuditRecord]:
        """Return the audit records, oldest first (the last ``count`` when given)."""
        entries: Any
        if count is None:
            entries = self.redis.xrange(self.streams.audit)
        else:
            entries = list(reversed(self.redis.xrevrange(self.streams.audit, count=count) or []))
        return [control.decode_audit(fields) for _, fields in entries]

    def delete_streams(self) -> int:
        """Delete the three streams (consumer groups included); return how many existed."""
        return int(self.redis.delete(*self.streams.all()))

    def close(self) -> None:
        """Close the Redis connection."""
        self.redis.close()
