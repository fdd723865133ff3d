"""The dashboard's pure helpers: positions, signal views, SSE framing, digests and run folders."""

from __future__ import annotations

import json
import os
from pathlib import Path

from nautilus_ai.api.ui.router import ControlBody, script_json
from nautilus_ai.api.ui.snapshot import (
    discover_runs,
    open_positions,
    run_report_path,
    signal_view,
    snapshot_digest,
    sse_message,
)
from nautilus_ai.errors import DataError


def test_open_positions_keeps_only_positions_whose_last_event_is_open() -> None:
    opened = {
        "type": "PositionOpened",
        "position_id": "P-1",
        "instrument_id": "AUD/USD.SIM",
        "side": "LONG",
        "quantity": "100",
        "avg_px_open": 1.01,
        "realized_pnl": "0.00 USD",
    }
    changed = {**opened, "type": "PositionChanged", "quantity": "150", "unrealized_pnl": "12.50 USD"}
    closed = {**opened, "type": "PositionClosed", "side": "FLAT", "quantity": "0"}
    positions = {"P-1": [opened, changed], "P-2": [{**opened, "position_id": "P-2"}, closed], "P-3": []}
    out = open_positions(positions)
    assert out == [
        {
            "position_id": "P-1",
            "instrument_id": "AUD/USD.SIM",
            "side": "LONG",
            "quantity": 150.0,
            "avg_px_open": 1.01,
            "unrealized_pnl": "12.50 USD",
            "realized_pnl": "0.00 USD",
        }
    ]


def test_open_positions_folds_the_fills_a_node_cache_keeps_per_position() -> None:
    def fill(side: str, qty: str, px: str, ts: int) -> dict[str, object]:
        return {
            "type": "OrderFilled",
            "instrument_id": "AAPL.XNAS",
            "position_id": "AAPL.XNAS-MLStrategy-000",
            "order_side": side,
            "last_qty": qty,
            "last_px": px,
            "ts_event": str(ts),
        }

    positions = {
        "AAPL.XNAS-MLStrategy-000": [fill("SELL", "100", "80.0", 1), fill("SELL", "50", "86.0", 2)],
        "AAPL.XNAS-MLStrategy-001": [fill("BUY", "10", "80.0", 1), fill("SELL", "10", "81.0", 2)],
    }
    assert open_positions(positions) == [
        {
            "position_id": "AAPL.XNAS-MLStrategy-000",
            "instrument_id": "AAPL.XNAS",
            "side": "SHORT",
            "quantity": 150.0,
            "avg_px_open": 82.0,
            "unrealized_pnl": "",
            "realized_pnl": "",
        }
    ]


def test_signal_view_orders_attributions_by_magnitude_and_survives_bad_text() -> None:
    view = signal_view({"probability": 0.7, "top_attributions": "a:+0.1;b:-0.5;c:+0.3"}, top=2)
    assert view["attributions"] == [{"feature": "b", "value": -0.5}, {"feature": "c", "value": 0.3}]
    assert view["probability"] == 0.7
    assert signal_view({"top_attributions": "garbage"})["attributions"] == []


def test_sse_message_is_one_event_with_one_data_line() -> None:
    text = sse_message("state", {"a": [1, 2], "text": "line\nbreak"}, "abc")
    assert text.endswith("\n\n")
    lines = text.rstrip("\n").split("\n")
    assert lines[:2] == ["event: state", "id: abc"] and len(lines) == 3
    assert json.loads(lines[2].removeprefix("data: ")) == {"a": [1, 2], "text": "line\nbreak"}


def test_digest_changes_with_content_not_key_order() -> None:
    assert snapshot_digest({"a": 1, "b": 2}) == snapshot_digest({"b": 2, "a": 1})
    assert snapshot_digest({"a": 1}) != snapshot_digest({"a": 2})


def test_script_json_cannot_close_the_script_element() -> None:
    text = str(script_json({"x": "</script><b>&"}))
    assert "</script>" not in text and "<" not in text and "&" not in text
    assert json.loads(text) == {"x": "</script><b>&"}


def test_discover_runs_lists_folders_with_a_report_newest_first(tmp_path: Path) -> None:
    for name, mtime, metrics in (("old-run", 1000, {"sharpe": 0.5, "tag": "x"}), ("new-run", 2000, None)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.html").write_text("<html></html>")
        os.utime(tmp_path / name / "report.html", (mtime, mtime))
        if metrics is not None:
            (tmp_path / name / "metrics.json").write_text(json.dumps(metrics))
    (tmp_path / "no-report").mkdir()
    (tmp_path / "bad name!").mkdir()
    (tmp_path / "bad name!" / "report.html").write_text("")
    runs = discover_runs(tmp_path)
    assert [r["name"] for r in runs] == ["new-run", "old-run"]
    assert runs[1]["metrics"] == {"sharpe": 0.5} and runs[0]["metrics"] == {}
    assert discover_runs(None) == [] and discover_runs(tmp_path / "missing") == []


def test_run_report_path_refuses_names_outside_the_root(tmp_path: Path) -> None:
    (tmp_path / "runs" / "r1").mkdir(parents=True)
    (tmp_path / "runs" / "r1" / "report.html").write_text("ok")
    (tmp_path / "report.html").write_text("secret")
    root = tmp_path / "runs"
    assert run_report_path(root, "r1") == (root / "r1" / "report.html").resolve()
    for name in ("..", ".", "../runs/r1", "r2", "r1/../.."):
        assert run_report_path(root, name) is None, name
    assert run_report_path(None, "r1") is None


def test_control_body_maps_each_kind_to_its_command_arguments() -> None:
    body = ControlBody(reason="why", version_id="v-1", name="fam")
    assert body.command_args("halt") == {"reason": "why"}
    assert body.command_args("promote") == {"version_id": "v-1", "force": False, "reason": "why"}
    assert body.command_args("rollback") == {"name": "fam", "reason": "why"}
    for kind, field in (("promote", "version_id"), ("rollback", "name")):
        try:
            ControlBody(reason="why").command_args(kind)
        except DataError as error:
            assert error.field == field
        else:
            raise AssertionError(f"{kind} without {field} must raise")
