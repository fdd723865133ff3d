"""What the routes share: the services of the app, the scope check with rate limiting, command sending."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import Request, Response, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from nautilus_ai.api.auth import KeyStore, Principal, scope_allows
from nautilus_ai.api.problems import ProblemError
from nautilus_ai.api.ratelimit import RateLimiter
from nautilus_ai.api.settings import ApiSettings
from nautilus_ai.api.state import StateReader
from nautilus_ai.live.control_client import ControlClient

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API key: `Authorization: Bearer nai_<id>_<secret>`",
)
api_key_scheme = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="apiKey",
    description="An API key: `X-API-Key: nai_<id>_<secret>`",
)


@dataclass
class Metrics:
    """In-process request counters and latency sums, served by ``/metrics`` (per worker process)."""

    requests: dict[tuple[str, str, int], int] = field(default_factory=dict)
    seconds: dict[tuple[str, str], float] = field(default_factory=dict)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request."""
        key = (method, route, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        self.seconds[(method, route)] = self.seconds.get((method, route), 0.0) + seconds


@dataclass
class Services:
    """The components one app uses (built by :func:`nautilus_ai.api.app.create_app`)."""

    settings: ApiSettings
    keys: KeyStore
    limiter: RateLimiter
    reader: StateReader
    control: ControlClient
    metrics: Metrics


def services(request: Request) -> Services:
    """Return the app's services."""
    return request.app.state.services


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _limit(svc: Services, identity: str) -> None:
    decision = svc.limiter.hit(identity)
    if not decision.allowed:
        raise ProblemError(
            429,
            f"rate limit exceeded: {svc.limiter.capacity} requests burst, "
            f"{svc.limiter.refill_per_s:g} per second; retry in {decision.retry_after_s} s",
            "rate-limited",
            headers={"Retry-After": str(decision.retry_after_s)},
        )


def require(scope: Literal["read", "trade", "admin"]) -> Any:
    """Return a dependency that authenticates the key, rate-limits it and checks it holds ``scope``."""

    def dependency(
        request: Request,
        bearer: HTTPAuthorizationCredentials | None = Security(bearer_scheme),  # noqa: B008
        header_key: str | None = Security(api_key_scheme),
    ) -> Principal:
        svc = services(request)
        key = header_key or (bearer.credentials if bearer is not None else None)
        challenge = {"WWW-Authenticate": 'Bearer realm="nautilus-ai"'}
        if not key:
            _limit(svc, f"ip:{_client_address(request)}")
            raise ProblemError(
                401,
                "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                "unauthorized",
                challenge,
            )
        principal = svc.keys.verify(key)
        if principal is None:
            _limit(svc, f"ip:{_client_address(request)}")
            raise ProblemError(401, "invalid or revoked API key", "unauthorized", challenge)
        request.state.key_id = principal.key_id
        _limit(svc, f"key:{principal.key_id}")
        if not scope_allows(principal.scope, scope):
            raise ProblemError(
                403, f"this route needs scope '{scope}'; the key has scope '{principal.scope}'", "forbidden"
            )
        return principal

    return dependency


class CommandResult(BaseModel):
    """The outcome of a control command sent to the node."""

    id: str
    """The command id (in the node's ack and audit trail)."""
    kind: str
    """The command kind."""
    status: Literal["ok", "pending"]
    """``ok``: the node applied it; ``pending``: no ack within the timeout (it stays queued)."""
    message: str = ""
    """The node's message."""
    result: dict[str, Any] = Field(default_factory=dict)
    """Details from the node (new state, order ids, champion version...)."""


def send_command(
    svc: Services, principal: Principal, kind: str, args: dict[str, Any], response: Response
) -> CommandResult:
    """Send a command through the control client and map its ack to a result or a problem.

    ``ok`` answers 200, no ack in time 202 (pending), ``rejected`` a 409 problem and ``error`` a 502
    problem (the node failed to apply it).
    """
    actor = f"api:{principal.name}({principal.key_id})"
    command_id = uuid.uuid4().hex
    try:
        ack = svc.control.send(
            kind, args, actor=actor, timeout_s=svc.settings.command_timeout_s, command_id=command_id
        )
    except TimeoutError as error:
        response.status_code = 202
        return CommandResult(id=command_id, kind=kind, status="pending", message=str(error))
    if ack.status == "rejected":
        raise ProblemError(409, f"the node rejected {kind} ({ack.id}): {ack.message}", "command-rejected")
    if ack.status == "error":
        raise ProblemError(
            502, f"the node failed to apply {kind} ({ack.id}): {ack.message}", "command-failed"
        )
    return CommandResult(id=ack.id, kind=ack.kind, status="ok", message=ack.message, result=ack.result)
