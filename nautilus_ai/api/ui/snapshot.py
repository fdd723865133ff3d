"""What the dashboard shows, gathered from Redis into one JSON-ready snapshot, and the run folders.

The pages render from a snapshot and the ``/ui/events`` stream sends a new one whenever it changes, so
the helpers here are pure functions of what :class:`~nautilus_ai.api.state.StateReader` returns.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from nautilus_ai.api.state import StateReader, parse_attributions, position_summary
from nautilus_ai.errors import DataError

RUN_NAME_PATTERN = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")
"""The names of run folders the dashboard lists and serves."""


def open_positions(positions: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Return the open positions from each position's events in the node's cache (pure).

    NautilusTrader's Redis cache keeps a position's ``OrderFilled`` events: those are folded by
    :func:`~nautilus_ai.api.state.position_summary` (open when the net quantity is not zero; no PnL).
    A list of position events (``PositionOpened`` / ``PositionChanged`` / ``PositionClosed``) is open
    when its last event is not ``PositionClosed`` and its side is not ``FLAT``.
    """
    out: list[dict[str, Any]] = []
    for position_id, events in sorted(positions.items()):
        if any(isinstance(e, dict) and e.get("type") == "OrderFilled" for e in events):
            summary = position_summary(position_id, events)
            if summary["side"] != "FLAT":
                out.append(
                    {
                        "position_id": position_id,
                        "instrument_id": str(summary["instrument_id"] or ""),
                        "side": summary["side"],
                        "quantity": abs(float(summary["quantity"])),
                        "avg_px_open": float(summary["avg_px_open"] or 0),
                        "unrealized_pnl": "",
                        "realized_pnl": "",
                    }
                )
            continue
        last = next((e for e in reversed(events) if isinstance(e, dict)), None)
        if last is None or last.get("type") == "PositionClosed" or str(last.get("side", "")) == "FLAT":
            continue
        out.append(
            {
                "position_id": str(last.get("position_id", position_id)),
                "instrument_id": str(last.get("instrument_id", "")),
                "side": str(last.get("side", "")),
                "quantity": float(last.get("quantity", 0) or 0),
                "avg_px_open": float(last.get("avg_px_open", 0) or 0),
                "unrealized_pnl": str(last.get("unrealized_pnl", "") or ""),
                "realized_pnl": str(last.get("realized_pnl", "") or ""),
            }
        )
    return out


def signal_view(signal: dict[str, Any], top: int = 5) -> dict[str, Any]:
    """Return a mirrored signal with its ``top`` attributions parsed, largest magnitude first (pure)."""
    view = dict(signal)
    try:
        pairs = parse_attributions(str(signal.get("top_attributions", "")))
    except DataError:
        pairs = []
    pairs.sort(key=lambda p: -abs(p[1]))
    view["attributions"] = [{"feature": name, "value": value} for name, value in pairs[:top]]
    return view


def dashboard_snapshot(reader: StateReader, history: int = 100, decisions: int = 50) -> dict[str, Any]:
    """Return everything the pages show, read from Redis.

    Parameters
    ----------
    reader : StateReader
        The sidecar's reader.
    history : int, default 100
        Signals per instrument in the history charts.
    decisions : int, default 50
        Risk decisions in the log.

    Returns
    -------
    dict
        ``trading_state``, ``risk`` (the snapshot or None), ``signals`` (latest per instrument),
        ``regimes`` (per instrument), ``history`` (per instrument: ts, probability, direction,
        confidence), ``decisions`` (newest last) and ``positions`` (open ones).

    """
    instruments = reader.instruments()
    signals = []
    regimes: dict[str, Any] = {}
    series: dict[str, list[dict[str, Any]]] = {}
    for instrument in instruments:
        latest = reader.latest_signal(instrument)
        if latest is not None:
            signals.append(signal_view(latest))
            series[instrument] = [
                {k: s.get(k) for k in ("ts_event", "probability", "direction", "confidence")}
                for s in reader.signal_history(instrument, history)
            ]
        regime = reader.latest_regime(instrument)
        if regime is not None:
            regimes[instrument] = regime
    return {
        "trading_state": reader.trading_state(),
        "risk": reader.risk_snapshot(),
        "signals": signals,
        "regimes": regimes,
        "history": series,
        "decisions": reader.risk_decisions(decisions),
        "positions": open_positions(reader.positions()),
    }


def snapshot_digest(snapshot: dict[str, Any]) -> str:
    """Return a SHA-256 of the snapshot's canonical JSON (to send it only when it changed) (pure)."""
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True, default=str).encode()).hexdigest()


def sse_message(event: str, data: Any, event_id: str | None = None) -> str:
    """Return one server-sent event: ``event``, optional ``id`` and ``data`` as one line of JSON (pure)."""
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, default=str, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


def _scalar_metrics(path: Path) -> dict[str, float]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def discover_runs(root: Path | None) -> list[dict[str, Any]]:
    """Return the walk-forward run folders under ``root`` that hold a ``report.html``, newest first.

    Each item has ``name`` (the folder's name), ``modified`` (UNIX seconds of its report) and
    ``metrics`` (the scalar values of its ``metrics.json``, if any). Folders whose names do not match
    :data:`RUN_NAME_PATTERN` are skipped.
    """
    if root is None or not root.is_dir():
        return []
    runs = []
    for folder in root.iterdir():
        report = folder / "report.html"
        if folder.is_dir() and RUN_NAME_PATTERN.match(folder.name) and report.is_file():
            runs.append(
                {
                    "name": folder.name,
                    "modified": report.stat().st_mtime,
                    "metrics": _scalar_metrics(folder / "metrics.json"),
                }
            )
    return sorted(runs, key=lambda r: (-r["modified"], r["name"]))


def run_report_path(root: Path | None, name: str) -> Path | None:
    """Return run ``name``'s ``report.html`` under ``root``, or None (bad name, missing, outside root)."""
    if root is None or not RUN_NAME_PATTERN.match(name) or name in {".", ".."}:
        return None
    path = (root / name / "report.html").resolve()
    if not path.is_file() or path.parent.parent != root.resolve():
        return None
    return path
