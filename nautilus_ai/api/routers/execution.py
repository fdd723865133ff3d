"""``/execution``: orders and fills from the node's cache; submit and cancel through control commands."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel

from nautilus_ai.api.auth import Principal
from nautilus_ai.api.deps import CommandResult, require, send_command, services
from nautilus_ai.api.problems import ProblemError, problem_responses
from nautilus_ai.api.state import order_summary, position_summary
from nautilus_ai.live.control import SubmitOrderArgs

router = APIRouter(
    prefix="/execution", tags=["execution"], responses=problem_responses(401, 403, 422, 429, 503)
)

ClientOrderId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-]+$")]


class OrderOut(BaseModel):
    """An order's current state, folded from its events in the node's cache."""

    client_order_id: str
    strategy_id: str | None
    instrument_id: str | None
    side: str | None
    order_type: str | None
    quantity: float
    price: float | None
    status: str
    filled_qty: float
    avg_px: float | None
    ts_init: int
    ts_last: int
    events: int


class OrderDetail(OrderOut):
    """An order with its raw events (as the node stored them)."""

    history: list[dict[str, Any]]


class FillOut(BaseModel):
    """One fill."""

    client_order_id: str
    instrument_id: str
    trade_id: str
    side: str
    last_qty: float
    last_px: float
    commission: str | None
    ts_event: int


@router.get("/orders", response_model=list[OrderOut], dependencies=[Depends(require("read"))])
def list_orders(
    request: Request, status: Annotated[str | None, Query(max_length=32, pattern=r"^[A-Z_]+$")] = None
) -> list[dict[str, Any]]:
    """Return every order of the node (of one status when given), oldest first."""
    orders = services(request).reader.orders()
    return [o for o in orders if status is None or o["status"] == status]


@router.get(
    "/orders/{client_order_id}",
    response_model=OrderDetail,
    dependencies=[Depends(require("read"))],
    responses=problem_responses(404),
)
def get_order(request: Request, client_order_id: ClientOrderId) -> OrderDetail:
    """Return one order with its events."""
    events = services(request).reader.order_events(client_order_id)
    if events is None:
        raise ProblemError(404, f"no order {client_order_id!r} in the node's cache", "not-found")
    return OrderDetail(**order_summary(client_order_id, events), history=events)


@router.get("/fills", response_model=list[FillOut], dependencies=[Depends(require("read"))])
def list_fills(request: Request) -> list[FillOut]:
    """Return every fill of the node, oldest first."""
    return [
        FillOut(
            client_order_id=str(e.get("client_order_id", "")),
            instrument_id=str(e.get("instrument_id", "")),
            trade_id=str(e.get("trade_id", "")),
            side=str(e.get("order_side", "")),
            last_qty=float(e.get("last_qty", 0) or 0),
            last_px=float(e.get("last_px", 0) or 0),
            commission=str(e["commission"]) if e.get("commission") is not None else None,
            ts_event=int(e.get("ts_event", 0) or 0),
        )
        for e in services(request).reader.fills()
    ]


class PositionOut(BaseModel):
    """A position folded from its fills in the node's cache."""

    position_id: str
    instrument_id: str | None
    quantity: float
    side: str
    avg_px_open: float | None
    fills: int
    ts_last: int


@router.get("/positions", response_model=list[PositionOut], dependencies=[Depends(require("read"))])
def list_positions(request: Request) -> list[dict[str, Any]]:
    """Return every position of the node (open and closed)."""
    positions = services(request).reader.positions()
    return [position_summary(pid, events) for pid, events in sorted(positions.items())]


@router.post(
    "/orders",
    response_model=CommandResult,
    responses={202: {"model": CommandResult}, **problem_responses(409, 502)},
)
def submit_order(
    request: Request,
    response: Response,
    order: SubmitOrderArgs,
    principal: Annotated[Principal, Depends(require("trade"))],
) -> CommandResult:
    """Submit a manual order through the node's ControlActor (checked by the strategy's RiskGate)."""
    return send_command(services(request), principal, "submit_order", order.model_dump(mode="json"), response)


@router.post(
    "/orders/{client_order_id}/cancel",
    response_model=CommandResult,
    responses={202: {"model": CommandResult}, **problem_responses(409, 502)},
)
def cancel_order(
    request: Request,
    response: Response,
    client_order_id: ClientOrderId,
    principal: Annotated[Principal, Depends(require("trade"))],
) -> CommandResult:
    """Cancel an open order through the node's ControlActor."""
    return send_command(
        services(request), principal, "cancel_order", {"client_order_id": client_order_id}, response
    )
