"""RFC 9457 problem details (``application/problem+json``) for every error the API returns."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from nautilus_ai.errors import (
    ConfigError,
    DataError,
    ModelError,
    NautilusAIError,
    RetryableError,
    TradingHaltError,
)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "urn:nautilus-ai:problem:"
"""The base of every problem ``type`` URI (a URN: ``urn:nautilus-ai:problem:not-found``)."""


class InvalidParam(BaseModel):
    """One invalid request parameter."""

    name: str
    """Where (``body.quantity``, ``query.limit``...)."""
    reason: str
    """What is wrong."""


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    type: str = Field(examples=[PROBLEM_BASE + "not-found"])
    """A URI naming the kind of problem."""
    title: str
    """A short summary of the kind of problem."""
    status: int = Field(ge=400, le=599)
    """The HTTP status code."""
    detail: str = ""
    """What went wrong in this occurrence."""
    instance: str = ""
    """The request path."""
    request_id: str = ""
    """The request id (also in the ``X-Request-ID`` header and the logs)."""
    invalid_params: list[InvalidParam] = Field(default_factory=list)
    """The invalid parameters (validation errors only)."""


class ProblemError(Exception):
    """Raise in a route to answer with a problem.

    Parameters
    ----------
    status : int
        The HTTP status.
    detail : str
        What went wrong.
    slug : str, optional
        The last segment of the ``type`` URI (default: from the status phrase).
    headers : dict, optional
        Extra response headers.

    """

    def __init__(
        self, status: int, detail: str, slug: str | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or _slug(status)
        self.headers = headers or {}


def _slug(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")
    except ValueError:
        return "error"


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_response(
    request: Request,
    status: int,
    detail: str,
    slug: str | None = None,
    headers: dict[str, str] | None = None,
    invalid_params: list[InvalidParam] | None = None,
) -> JSONResponse:
    """Return a ``application/problem+json`` response for ``request``."""
    problem = Problem(
        type=PROBLEM_BASE + (slug or _slug(status)),
        title=_title(status),
        status=status,
        detail=detail,
        instance=request.url.path,
        request_id=str(getattr(request.state, "request_id", "")),
        invalid_params=invalid_params or [],
    )
    return JSONResponse(
        problem.model_dump(mode="json"), status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE
    )


def status_for(error: NautilusAIError) -> int:
    """Return the HTTP status of a nautilus-ai error (by what the operator must do)."""
    if isinstance(error, DataError | ConfigError):
        return 422
    if isinstance(error, ModelError):
        return 404
    if isinstance(error, RetryableError):
        return 503
    if isinstance(error, TradingHaltError):
        return 409
    return 500


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return the OpenAPI ``responses`` entry documenting ``statuses`` as problems."""
    return {
        status: {"model": Problem, "description": _title(status), "content": {PROBLEM_MEDIA_TYPE: {}}}
        for status in statuses
    }


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` (HTTP, validation, nautilus-ai, unexpected) a problem response."""

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            request, error.status_code, str(error.detail), headers=getattr(error, "headers", None)
        )

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, error: ProblemError) -> JSONResponse:
        return problem_response(request, error.status, error.detail, error.slug, error.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        params = [
            InvalidParam(name=".".join(str(p) for p in item.get("loc", ())), reason=str(item.get("msg", "")))
            for item in error.errors()
        ]
        detail = "; ".join(f"{p.name}: {p.reason}" for p in params) or "invalid request"
        return problem_response(request, 422, detail, "validation-error", invalid_params=params)

    @app.exception_handler(NautilusAIError)
    async def _nautilus(request: Request, error: NautilusAIError) -> JSONResponse:
        return problem_response(request, status_for(error), str(error), type(error).__name__.lower())
