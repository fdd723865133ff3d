"""The FastAPI control sidecar: :func:`create_app` builds the app from :class:`ApiSettings`.

It reads the node's state from Redis and changes the node only by sending control commands
(:class:`~nautilus_ai.live.control_client.ControlClient`). Every request gets a request id
(``X-Request-ID``, echoed), one JSON access log line and, on error, an ``application/problem+json`` body.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

import redis
from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware

from nautilus_ai.api.auth import KeyStore
from nautilus_ai.api.deps import Metrics, Services
from nautilus_ai.api.logging import REQUEST_ID_PATTERN, access_log
from nautilus_ai.api.problems import install_problem_handlers, problem_response
from nautilus_ai.api.ratelimit import RateLimiter
from nautilus_ai.api.routers import execution, health, learning, metrics, risk, signals
from nautilus_ai.api.settings import ApiSettings
from nautilus_ai.api.state import StateReader
from nautilus_ai.api.ui import ui_router
from nautilus_ai.config import ExperimentConfig, load_experiment
from nautilus_ai.live.control_client import ControlClient

API_VERSION = "1.0.0"


def create_app(
    settings: ApiSettings,
    keys: KeyStore | None = None,
    *,
    experiment: ExperimentConfig | None = None,
    ui_poll_interval_s: float = 0.5,
) -> FastAPI:
    """Return the sidecar app for ``settings``.

    Parameters
    ----------
    settings : ApiSettings
        Where the state, the key store and the control streams are, and the rate limit and CORS rules.
    keys : KeyStore, optional
        The key store (default: ``settings.key_store``).
    experiment : ExperimentConfig, optional
        The node's experiment config for the dashboard's system map (default: loaded from
        ``settings.experiment_config`` when set).
    ui_poll_interval_s : float
        How often the dashboard's event stream reads the state.

    Returns
    -------
    FastAPI
        The app (serve it with uvicorn).

    """
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=5)
    text_client = redis.Redis.from_url(
        settings.redis_url, decode_responses=True, socket_connect_timeout=2, socket_timeout=30
    )
    services = Services(
        settings=settings,
        keys=keys or KeyStore(settings.key_store),
        limiter=RateLimiter(
            client, settings.rate_limit_capacity, settings.rate_limit_refill_per_s, settings.rate_limit_prefix
        ),
        reader=StateReader(settings, client),
        control=ControlClient(
            settings.trader_id, stream_prefix=settings.control_stream_prefix, connection=text_client
        ),
        metrics=Metrics(),
    )
    app = FastAPI(
        title="nautilus-ai control API",
        version=API_VERSION,
        description=(
            "Read a NautilusTrader node's signals, orders, risk and models from Redis, and send it "
            "control commands. Authenticate with an API key (`Authorization: Bearer <key>` or "
            "`X-API-Key`); scopes are read < trade < admin. Errors are RFC 9457 problem+json."
        ),
    )
    app.state.services = services
    install_problem_handlers(app)
    for router in (
        health.router,
        signals.router,
        execution.router,
        risk.router,
        learning.router,
        metrics.router,
    ):
        app.include_router(router)
    if experiment is None and settings.experiment_config is not None:
        experiment = load_experiment(settings.experiment_config)
    app.include_router(
        ui_router(
            settings, runs_root=settings.runs_root, experiment=experiment, poll_interval_s=ui_poll_interval_s
        )
    )

    @app.middleware("http")
    async def request_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        supplied = request.headers.get("x-request-id", "")
        request_id = supplied if REQUEST_ID_PATTERN.match(supplied) else uuid.uuid4().hex
        request.state.request_id = request_id
        start = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:  # an unexpected failure: answer a problem, log it with the request id
            response = problem_response(
                request, 500, "internal error; see the server log for this request id"
            )
            access_log({"request_id": request_id, "event": "unhandled_exception", "path": request.url.path})
        elapsed = time.perf_counter() - start
        response.headers["X-Request-ID"] = request_id
        route = request.scope.get("route")
        route_path = getattr(route, "path", "<unmatched>")
        services.metrics.observe(request.method, route_path, response.status_code, elapsed)
        access_log(
            {
                "request_id": request_id,
                "method": request.method,
                "path": request.url.path,
                "route": route_path,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 3),
                "client": request.client.host if request.client else None,
                "key_id": getattr(request.state, "key_id", None),
            }
        )
        return response

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    return app
