"""``/metrics``: Prometheus text exposition of request counts and the node's risk and signal state."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse

from nautilus_ai.api.deps import Metrics, require, services
from nautilus_ai.api.problems import problem_responses

router = APIRouter(tags=["metrics"], responses=problem_responses(401, 403, 429, 503))

TRADING_STATES = ("ACTIVE", "REDUCING", "HALTED")


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(
    metrics: Metrics, state: str | None, snapshot: dict | None, signals: dict[str, dict]
) -> str:
    """Return the Prometheus text format of the request counters and the node's state (pure)."""
    lines = [
        "# HELP nautilus_ai_api_requests_total Requests served by this worker.",
        "# TYPE nautilus_ai_api_requests_total counter",
    ]
    for (method, route, status), count in sorted(metrics.requests.items()):
        labels = f'method="{method}",route="{_label(route)}",status="{status}"'
        lines.append(f"nautilus_ai_api_requests_total{{{labels}}} {count}")
    lines += [
        "# HELP nautilus_ai_api_request_seconds_total Time spent serving requests.",
        "# TYPE nautilus_ai_api_request_seconds_total counter",
    ]
    for (method, route), seconds in sorted(metrics.seconds.items()):
        labels = f'method="{method}",route="{_label(route)}"'
        lines.append(f"nautilus_ai_api_request_seconds_total{{{labels}}} {seconds:.6f}")
    lines += [
        "# HELP nautilus_ai_trading_state The node's trading state (1 for the current one).",
        "# TYPE nautilus_ai_trading_state gauge",
    ]
    for name in TRADING_STATES:
        lines.append(f'nautilus_ai_trading_state{{state="{name}"}} {1 if state == name else 0}')
    if snapshot is not None:
        for field in ("equity", "drawdown", "cvar", "net_exposure", "gross_exposure"):
            lines += [f"# TYPE nautilus_ai_{field} gauge", f"nautilus_ai_{field} {float(snapshot[field])!r}"]
    lines += ["# TYPE nautilus_ai_signal_probability gauge", "# TYPE nautilus_ai_signal_direction gauge"]
    for instrument, signal in sorted(signals.items()):
        label = f'{{instrument_id="{_label(instrument)}"}}'
        lines.append(f"nautilus_ai_signal_probability{label} {float(signal['probability'])!r}")
        lines.append(f"nautilus_ai_signal_direction{label} {int(signal['direction'])}")
    return "\n".join(lines) + "\n"


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    dependencies=[Depends(require("read"))],
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(request: Request) -> PlainTextResponse:
    """Return the metrics in the Prometheus text format (counters are per worker process)."""
    svc = services(request)
    reader = svc.reader
    state = reader.trading_state()
    signals = {i: s for i in reader.instruments() if (s := reader.latest_signal(i)) is not None}
    text = render_metrics(svc.metrics, state["state"] if state else None, reader.risk_snapshot(), signals)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
