"""``/health``: liveness and readiness, without authentication."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from nautilus_ai.api.deps import services

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    """Whether the sidecar and its Redis are up."""

    status: str
    """``ok`` or ``degraded`` (Redis unreachable)."""
    redis: bool
    """Whether Redis answered a ping."""
    trader_id: str
    """The node this sidecar serves."""


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
def health(request: Request, response: Response) -> HealthOut:
    """Return ok when Redis answers (503 and ``degraded`` otherwise)."""
    svc = services(request)
    redis_ok = svc.reader.ping()
    if not redis_ok:
        response.status_code = 503
    return HealthOut(
        status="ok" if redis_ok else "degraded", redis=redis_ok, trader_id=svc.settings.trader_id
    )
