"""The README's "Operate a paper node" section, command by command, as a user runs it.

Every step is the CLI in its own process (``paper_stack`` fixture, :mod:`paper_stack`): ``nautilus-ai
learn registry promote`` makes a champion, ``nautilus-ai live paper --redis-url ... --redis-flush``
replays the bundled AAPL bars at eight days a second with the ControlActor and the RedisPublisherActor,
``nautilus-ai api keys create`` makes an admin and a read key, and ``nautilus-ai api serve`` runs the
sidecar. Over real HTTP the test then watches the node's signals and trading state, halts and resumes
it, promotes another model version (the node swaps to it and its next signals carry it), checks that a
read key may not do any of that, reads the node's audit of every command, and stops the node with
Ctrl-C (SIGINT), after which it reports an unfinished replay and exits 0.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from paper_stack import INSTRUMENT, PaperStack, redis_up

from nautilus_ai.live.control_client import ControlClient

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not redis_up(), reason="needs redis-server on 127.0.0.1:6379"),
]


def _latest_signal(stack: PaperStack, http: Any) -> dict[str, Any] | None:
    answer = http.get("/signals/latest", params={"instrument_id": INSTRUMENT})
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    (signal,) = answer.json()
    return dict(signal)


def _state(http: Any) -> str | None:
    answer = http.get("/risk/state")
    return str(answer.json()["state"]) if answer.status_code == 200 else None


def test_readme_flow_watch_halt_resume_and_promote_over_http(paper_stack: PaperStack) -> None:
    stack = paper_stack
    with stack.http("admin") as admin, stack.http("read") as reader:
        # step 1 made a champion: the node serves it
        assert admin.get(f"/learning/models/{stack.champion}").json()["status"] == "champion"
        first = stack.wait_for("a signal from the node", lambda: _latest_signal(stack, reader), timeout_s=120)
        assert first["model_version"] == stack.champion
        assert first["direction"] in (-1, 0, 1) and 0.0 <= first["probability"] <= 1.0
        assert first["regime"], "the node runs the regime model: its signals carry a regime"
        later = stack.wait_for(
            "the next signal",
            lambda: (s := _latest_signal(stack, reader)) and s["ts_event"] > first["ts_event"] and s,
        )
        # the state the node started in, mirrored before any change
        assert stack.wait_for("the trading state", lambda: _state(reader)) == "ACTIVE"

        # a read key watches but cannot control
        for path, body in (
            ("/risk/halt", {"reason": "read key"}),
            ("/risk/resume", {"reason": "read key"}),
            (f"/learning/models/{stack.challenger}/promote", {"reason": "read key"}),
        ):
            assert reader.post(path, json=body).status_code == 403, path

        halt = admin.post("/risk/halt", json={"reason": "drill"})
        assert halt.status_code == 200, halt.text
        assert halt.json()["status"] == "ok" and halt.json()["result"]["trading_state"] == "HALTED"
        stack.wait_for("HALTED in /risk/state", lambda: _state(reader) == "HALTED")
        assert "drill" in reader.get("/risk/state").json()["reason"]

        resume = admin.post("/risk/resume", json={"reason": "done"})
        assert resume.status_code == 200, resume.text
        assert resume.json()["result"]["trading_state"] == "ACTIVE"
        stack.wait_for("ACTIVE in /risk/state", lambda: _state(reader) == "ACTIVE")

        promote = admin.post(f"/learning/models/{stack.challenger}/promote", json={"reason": "better sharpe"})
        assert promote.status_code == 200, promote.text
        result = promote.json()["result"]
        assert promote.json()["status"] == "ok" and result["gate_passed"] is True
        assert (result["champion"], result["previous"]) == (stack.challenger, stack.champion)
        statuses = {m["version_id"]: m["status"] for m in admin.get("/learning/models").json()}
        assert statuses[stack.challenger] == "champion" and statuses[stack.champion] == "archived"
        swapped = stack.wait_for(
            "a signal of the promoted model",
            lambda: (s := _latest_signal(stack, reader)) and s["model_version"] == stack.challenger and s,
        )
        assert swapped["ts_event"] > later["ts_event"]

    # every command was applied by the node and audited: who, what, result
    control = ControlClient(stack.trader_id)
    try:
        audit = [(r.kind, r.status, r.actor) for r in control.audit()]
    finally:
        control.close()
    expected = [("halt", "ok"), ("resume", "ok"), ("promote", "ok")]
    assert [(kind, status) for kind, status, _ in audit] == expected
    assert all(actor.startswith("api:ops(") for *_, actor in audit)

    # Ctrl-C stops the node cleanly, and it says the replay did not finish
    assert stack.stop("paper") == 0, stack.logs()
    output = stack.outputs["paper"].read_text(errors="replace")
    finished = re.search(r"finished\W+(True|False)", output)
    replayed = re.search(r"replayed\W+(\d+)/(\d+)", output)
    assert finished and replayed, output[-3000:]
    assert finished.group(1) == "False"
    assert 0 < int(replayed.group(1)) < int(replayed.group(2))
