"""``/risk``: trading state, exposure, drawdown, CVaR, limits and decisions; halt, resume and set a limit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from nautilus_ai.api.auth import Principal
from nautilus_ai.api.deps import CommandResult, require, send_command, services
from nautilus_ai.api.problems import ProblemError, problem_responses
from nautilus_ai.live.control import SetLimitArgs, TradingStateArgs

router = APIRouter(prefix="/risk", tags=["risk"], responses=problem_responses(401, 403, 422, 429, 503))
read = [Depends(require("read"))]
_COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": CommandResult},
    **problem_responses(409, 502),
}


class TradingStateOut(BaseModel):
    """The node's trading state."""

    state: str
    """``ACTIVE``, ``REDUCING`` or ``HALTED``."""
    reason: str
    """Why it last changed."""
    ts: int
    """When it last changed (UNIX nanoseconds)."""


class ExposureOut(BaseModel):
    """Net and gross exposure, per instrument and in total (account currency)."""

    currency: str
    net_exposure: float
    gross_exposure: float
    exposures: dict[str, float]
    equity: float
    ts: int


class DrawdownOut(BaseModel):
    """Peak-to-trough drawdown of the account equity."""

    equity: float
    peak_equity: float
    drawdown: float
    ts: int


class CvarOut(BaseModel):
    """Historical CVaR of the equity returns (fraction of equity, losses positive)."""

    cvar: float
    alpha: float
    ts: int


class RiskDecisionOut(BaseModel):
    """A decision of the risk layer."""

    instrument_id: str
    action: str
    reason: str
    requested_qty: float
    approved_qty: float
    trading_state: str
    ts_event: int
    ts_init: int


def _snapshot(request: Request) -> dict[str, Any]:
    snapshot = services(request).reader.risk_snapshot()
    if snapshot is None:
        raise ProblemError(404, "no risk snapshot: is the node running a RedisPublisherActor?", "not-found")
    return snapshot


@router.get("/state", response_model=TradingStateOut, dependencies=read, responses=problem_responses(404))
def trading_state(request: Request) -> dict[str, Any]:
    """Return the node's trading state."""
    state = services(request).reader.trading_state()
    if state is None:
        raise ProblemError(404, "no trading state: is the node running a RedisPublisherActor?", "not-found")
    return state


@router.get("/exposure", response_model=ExposureOut, dependencies=read, responses=problem_responses(404))
def exposure(request: Request) -> dict[str, Any]:
    """Return the net and gross exposure."""
    return _snapshot(request)


@router.get("/drawdown", response_model=DrawdownOut, dependencies=read, responses=problem_responses(404))
def drawdown(request: Request) -> dict[str, Any]:
    """Return the drawdown of the account equity."""
    return _snapshot(request)


@router.get("/cvar", response_model=CvarOut, dependencies=read, responses=problem_responses(404))
def cvar(request: Request) -> CvarOut:
    """Return the historical CVaR of the equity returns."""
    snapshot = _snapshot(request)
    return CvarOut(cvar=snapshot["cvar"], alpha=snapshot["cvar_alpha"], ts=snapshot["ts"])


@router.get("/limits", response_model=dict[str, float], dependencies=read, responses=problem_responses(404))
def limits(request: Request) -> dict[str, float]:
    """Return the configured risk limits."""
    return dict(_snapshot(request)["limits"])


@router.get("/decisions", response_model=list[RiskDecisionOut], dependencies=read)
def decisions(request: Request, limit: Annotated[int, Query(ge=1, le=100_000)] = 100) -> list[dict[str, Any]]:
    """Return the last ``limit`` risk decisions, oldest first."""
    svc = services(request)
    if limit > svc.settings.history_limit:
        raise ProblemError(
            422, f"limit must be <= {svc.settings.history_limit}, got {limit}", "validation-error"
        )
    return svc.reader.risk_decisions(limit)


@router.post("/halt", response_model=CommandResult, responses=_COMMAND_RESPONSES)
def halt(
    request: Request,
    response: Response,
    body: TradingStateArgs,
    principal: Annotated[Principal, Depends(require("trade"))],
) -> CommandResult:
    """Halt trading (any key that may trade may also stop it)."""
    return send_command(services(request), principal, "halt", body.model_dump(mode="json"), response)


@router.post("/resume", response_model=CommandResult, responses=_COMMAND_RESPONSES)
def resume(
    request: Request,
    response: Response,
    body: TradingStateArgs,
    principal: Annotated[Principal, Depends(require("admin"))],
) -> CommandResult:
    """Resume trading after a halt (admin)."""
    return send_command(services(request), principal, "resume", body.model_dump(mode="json"), response)


@router.post("/limits", response_model=CommandResult, responses=_COMMAND_RESPONSES)
def set_limit(
    request: Request,
    response: Response,
    body: SetLimitArgs,
    principal: Annotated[Principal, Depends(require("admin"))],
) -> CommandResult:
    """Change a RiskGate limit within the node's configured bounds (admin)."""
    return send_command(services(request), principal, "set_limit", body.model_dump(mode="json"), response)
