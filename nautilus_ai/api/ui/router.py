"""The dashboard's routes: login, six pages, a live event stream and the controls.

Mount it on the sidecar with ``app.include_router(ui_router(settings))``. Every page, the stream and
the controls need a session (``POST /ui/login`` with an API key sets an HttpOnly, SameSite=Strict
cookie holding a signed session id; the key itself is never stored). Controls are shown only to keys
whose scope allows them and are checked again on the server: ``halt`` needs ``trade``; ``resume``,
``promote`` and ``rollback`` need ``admin``. They go to the node as control commands, like the API's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nautilus_ai.api.auth import Principal, scope_allows
from nautilus_ai.api.deps import Services, send_command, services
from nautilus_ai.api.problems import ProblemError
from nautilus_ai.api.settings import ApiSettings
from nautilus_ai.api.ui.sessions import COOKIE_NAME, SessionStore, UiSession
from nautilus_ai.api.ui.snapshot import (
    dashboard_snapshot,
    discover_runs,
    run_report_path,
    snapshot_digest,
    sse_message,
)
from nautilus_ai.config import ExperimentConfig
from nautilus_ai.errors import ConfigError, DataError, ModelError, RetryableError
from nautilus_ai.learning.registry import ModelRegistry

PACKAGE_DIR = Path(__file__).parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css"}

PAGES: tuple[tuple[str, str, str], ...] = (
    ("overview", "/ui/", "Overview"),
    ("signals", "/ui/signals", "Signals"),
    ("risk", "/ui/risk", "Risk"),
    ("models", "/ui/models", "Models"),
    ("runs", "/ui/runs", "Runs"),
    ("map", "/ui/map", "System map"),
)
"""The pages: id, path and title."""

CONTROL_SCOPES: dict[str, Literal["trade", "admin"]] = {
    "halt": "trade",
    "resume": "admin",
    "promote": "admin",
    "rollback": "admin",
}
"""The scope each dashboard control needs (as the API's routes)."""


class ControlBody(BaseModel):
    """The body of ``POST /ui/actions/{kind}``."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)
    """Why (audited by the node)."""
    version_id: str | None = Field(default=None, max_length=128)
    """``promote``: the version to make champion."""
    name: str | None = Field(default=None, max_length=128)
    """``rollback``: the model family."""

    def command_args(self, kind: str) -> dict[str, Any]:
        """Return the control command's arguments for ``kind``.

        Raises
        ------
        DataError
            If a field the kind needs is missing.

        """
        if kind in ("halt", "resume"):
            return {"reason": self.reason}
        if kind == "promote":
            if not self.version_id:
                raise DataError("promote needs version_id", field="version_id")
            return {"version_id": self.version_id, "force": False, "reason": self.reason}
        if not self.name:
            raise DataError("rollback needs name", field="name")
        return {"name": self.name, "reason": self.reason}


def script_json(value: Any) -> Markup:
    """Return ``value`` as JSON safe inside a ``<script>`` element (``<``, ``>``, ``&`` escaped) (pure)."""
    text = json.dumps(value, default=str)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _templates() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html"]))
    env.filters["tojson_safe"] = script_json
    return env


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _limit(svc: Services, identity: str) -> None:
    decision = svc.limiter.hit(identity)
    if not decision.allowed:
        raise ProblemError(
            429,
            f"rate limit exceeded; retry in {decision.retry_after_s} s",
            "rate-limited",
            headers={"Retry-After": str(decision.retry_after_s)},
        )


def _registry_view(settings: ApiSettings) -> dict[str, Any]:
    """Return the model families: champion, challengers and archived versions with their metrics."""
    if settings.registry_root is None:
        return {"configured": False, "families": [], "error": None}
    try:
        records = ModelRegistry(settings.registry_root, settings.registry_index_url).list()
    except (ModelError, ConfigError, DataError) as error:
        return {"configured": True, "families": [], "error": str(error)}
    families: dict[str, dict[str, Any]] = {}
    for record in records:
        family = families.setdefault(
            record.name, {"name": record.name, "champion": None, "challengers": [], "archived": []}
        )
        item = record.to_dict()
        item["shown_metrics"] = {
            k: v
            for k, v in {**record.metrics, **record.oos_metrics}.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        if record.status == "champion":
            family["champion"] = item
        elif record.status == "candidate":
            family["challengers"].append(item)
        else:
            family["archived"].append(item)
    return {"configured": True, "families": list(families.values()), "error": None}


def ui_router(
    settings: ApiSettings,
    *,
    runs_root: Path | None = None,
    experiment: ExperimentConfig | None = None,
    sessions: SessionStore | None = None,
    poll_interval_s: float = 0.5,
) -> APIRouter:
    """Return the dashboard's router (mounted at ``/ui``).

    Parameters
    ----------
    settings : ApiSettings
        The sidecar's settings (the app's services are used for keys, Redis and commands).
    runs_root : Path, optional
        The folder of walk-forward run folders (each with a ``report.html``) the runs page lists.
    experiment : ExperimentConfig, optional
        The experiment whose system map the map page draws (no map without one).
    sessions : SessionStore, optional
        The session store (a fresh one, 8 h sessions, when None).
    poll_interval_s : float, default 0.5
        How often the event stream reads Redis for changes.

    Returns
    -------
    APIRouter
        The routes under ``/ui``.

    Raises
    ------
    ConfigError
        If ``poll_interval_s`` is not in (0, 60].

    """
    if not 0 < poll_interval_s <= 60:
        raise ConfigError(f"dashboard: poll_interval_s must be in (0, 60], got {poll_interval_s}")
    store = sessions or SessionStore()
    env = _templates()
    router = APIRouter(prefix="/ui", include_in_schema=False)
    static_files = {p.name: p for p in STATIC_DIR.iterdir() if p.suffix in STATIC_TYPES}

    def current(request: Request) -> UiSession | None:
        session = store.resolve(request.cookies.get(COOKIE_NAME))
        if session is None:
            return None
        info = services(request).keys.get(session.key_id)
        if info is None or not info.active:
            store.drop_key(session.key_id)
            return None
        request.state.key_id = session.key_id
        return session

    def render(
        name: str, request: Request, session: UiSession | None, status: int = 200, **ctx: Any
    ) -> HTMLResponse:
        body = env.get_template(name).render(
            pages=PAGES,
            session=session,
            can_halt=bool(session and scope_allows(session.scope, "trade")),
            can_admin=bool(session and scope_allows(session.scope, "admin")),
            trader_id=settings.trader_id,
            **ctx,
        )
        response = HTMLResponse(body, status_code=status)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "frame-ancestors 'none'; form-action 'self'"
        )
        response.headers["X-Frame-Options"] = "DENY"
        return response

    def to_login() -> RedirectResponse:
        return RedirectResponse("/ui/login", status_code=303)

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        path = static_files.get(name)
        if path is None:
            raise ProblemError(404, f"no static file {name!r}", "not-found")
        return FileResponse(path, media_type=STATIC_TYPES[path.suffix])

    @router.get("/login", response_class=HTMLResponse)
    def login_page(request: Request) -> Response:
        if current(request) is not None:
            return RedirectResponse("/ui/", status_code=303)
        return render("login.html", request, None, error=None)

    @router.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        svc = services(request)
        _limit(svc, f"ui-login:{_client(request)}")
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        key = (form.get("api_key") or [""])[0].strip()
        principal = await asyncio.to_thread(svc.keys.verify, key) if key else None
        if principal is None:
            return render("login.html", request, None, status=401, error="Invalid or revoked API key.")
        _, cookie = store.create(principal.key_id, principal.name, principal.scope)
        request.state.key_id = principal.key_id
        response = RedirectResponse("/ui/", status_code=303)
        response.set_cookie(
            COOKIE_NAME,
            cookie,
            max_age=int(store.ttl_s),
            path="/ui",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @router.post("/logout")
    def logout(request: Request) -> Response:
        session = current(request)
        if session is not None:
            store.drop(session.session_id)
        response = to_login()
        response.delete_cookie(COOKIE_NAME, path="/ui")
        return response

    def page(page_id: str, template: str, extra: Any = None) -> None:
        path = next(p for i, p, _ in PAGES if i == page_id).removeprefix("/ui")

        def handler(request: Request) -> Response:
            session = current(request)
            if session is None:
                return to_login()
            svc = services(request)
            _limit(svc, f"key:{session.key_id}")
            try:
                snapshot: dict[str, Any] | None = dashboard_snapshot(svc.reader)
                error = None
            except (RetryableError, DataError) as exc:
                snapshot, error = None, str(exc)
            ctx = extra() if extra is not None else {}
            return render(
                template,
                request,
                session,
                page_id=page_id,
                snapshot=snapshot,
                state_error=error,
                csrf=session.csrf_token,
                **ctx,
            )

        router.add_api_route(
            path, handler, methods=["GET"], response_class=HTMLResponse, name=f"ui_{page_id}"
        )

    page("overview", "overview.html")
    page("signals", "signals.html")
    page("risk", "risk.html")
    page("models", "models.html", lambda: {"registry": _registry_view(settings)})
    page("runs", "runs.html", lambda: {"runs": discover_runs(runs_root), "runs_root": runs_root})
    page("map", "map.html", lambda: {"has_map": experiment is not None})

    @router.get("/snapshot.json")
    def snapshot_json(request: Request) -> dict[str, Any]:
        session = current(request)
        if session is None:
            raise ProblemError(401, "no dashboard session: log in at /ui/login", "unauthorized")
        return dashboard_snapshot(services(request).reader)

    @router.get("/events")
    async def events(request: Request) -> StreamingResponse:
        session = current(request)
        if session is None:
            raise ProblemError(401, "no dashboard session: log in at /ui/login", "unauthorized")
        svc = services(request)

        async def stream() -> AsyncIterator[str]:
            last = ""
            tick = 0
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                if tick % 20 == 19 and await asyncio.to_thread(current, request) is None:
                    yield sse_message("logout", {"detail": "the session ended"})
                    return
                try:
                    snap = await asyncio.to_thread(dashboard_snapshot, svc.reader)
                except (RetryableError, DataError) as error:
                    yield sse_message("problem", {"detail": str(error)})
                else:
                    digest = snapshot_digest(snap)
                    if digest != last:
                        last = digest
                        yield sse_message("state", snap, digest[:16])
                    elif tick % 30 == 0:
                        yield ": keep-alive\n\n"
                tick += 1
                await asyncio.sleep(poll_interval_s)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.get("/runs/{name}/report")
    def run_report(request: Request, name: str) -> Response:
        if current(request) is None:
            return to_login()
        path = run_report_path(runs_root, name)
        if path is None:
            raise ProblemError(404, f"no run {name!r} with a report.html", "not-found")
        return FileResponse(path, media_type="text/html")

    @router.get("/map.svg")
    def map_svg(request: Request, instrument: str | None = None) -> Response:
        if current(request) is None:
            raise ProblemError(401, "no dashboard session: log in at /ui/login", "unauthorized")
        if experiment is None:
            raise ProblemError(404, "no experiment configured for the system map", "not-found")
        from nautilus_ai.diagram.model import build_system_graph, with_live
        from nautilus_ai.diagram.render import render_svg

        reader = services(request).reader
        live: dict[str, object] = {}
        state = reader.trading_state()
        if state and state.get("state"):
            live["trading_state"] = state["state"]
        instruments = reader.instruments()
        chosen = instrument if instrument in instruments else (instruments[0] if instruments else None)
        signal = reader.latest_signal(chosen) if chosen else None
        if signal:
            if signal.get("regime"):
                live["regime"] = signal["regime"]
            if signal.get("model_version"):
                live["model_version"] = signal["model_version"]
            if isinstance(signal.get("confidence"), float) and 0.0 <= signal["confidence"] <= 1.0:
                live["confidence"] = signal["confidence"]
        try:
            svg = render_svg(with_live(build_system_graph(experiment), live, source="redis"))
        except (ConfigError, DataError) as error:
            raise ProblemError(503, f"cannot draw the system map: {error}", "unavailable") from None
        return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    @router.post("/actions/{kind}")
    async def action(request: Request, response: Response, kind: str) -> Any:
        session = current(request)
        if session is None:
            raise ProblemError(401, "no dashboard session: log in at /ui/login", "unauthorized")
        if request.headers.get("x-ui-csrf", "") != session.csrf_token:
            raise ProblemError(403, "missing or wrong X-UI-CSRF token; reload the page", "forbidden")
        required = CONTROL_SCOPES.get(kind)
        if required is None:
            raise ProblemError(
                404, f"no control {kind!r}; expected one of {', '.join(CONTROL_SCOPES)}", "not-found"
            )
        if not scope_allows(session.scope, required):
            raise ProblemError(
                403, f"{kind} needs scope '{required}'; the key has scope '{session.scope}'", "forbidden"
            )
        svc = services(request)
        _limit(svc, f"key:{session.key_id}")
        try:
            body = ControlBody.model_validate_json(await request.body())
            args = body.command_args(kind)
        except ValidationError as error:
            first = error.errors()[0]
            raise ProblemError(
                422, f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}", "validation-error"
            ) from None
        except DataError as error:
            raise ProblemError(422, str(error), "validation-error") from None
        principal = Principal(session.key_id, f"ui:{session.name}", session.scope)
        result = await asyncio.to_thread(send_command, svc, principal, kind, args, response)
        return result.model_dump()

    return router
