"""The real LLM sentiment client against a real local HTTP server replaying recorded responses.

The server (``http.server`` in a thread on 127.0.0.1, a free port) answers each POST with the next
fixture of ``tests/fixtures/llm/``: a good answer, malformed JSON, a missing field, a 429 with
``Retry-After: 1``, a 500, a truncated body, a response slower than the timeout.
"""

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from nautilus_ai.adapters.sentiment import SentimentConfig, make_scorer
from nautilus_ai.adapters.sentiment.llm import LLMSentimentScorer
from nautilus_ai.errors import ConfigError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "llm"
TEXTS = ["apple posts record profit and raises guidance", "apple faces lawsuit as iphone sales weaken"]


class ReplayServer:
    """Serve the named fixtures in order, one per request; record what was received."""

    def __init__(self, fixtures: list[str]) -> None:
        self.queue = [json.loads((FIXTURES / name).read_text()) for name in fixtures]
        self.received: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with server.lock:
                    server.received.append({"path": self.path, "json": json.loads(body)})
                    server.headers.append(dict(self.headers))
                    fixture = server.queue.pop(0) if server.queue else None
                if fixture is None:
                    self.send_error(599, "no recorded response left")
                    return
                time.sleep(fixture.get("delay_s", 0.0))
                payload = json.dumps(fixture["body"]).encode()
                self.send_response(fixture["status"])
                for key, value in fixture["headers"].items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                cut = fixture.get("truncate_to_bytes")
                try:
                    self.wfile.write(payload[:cut] if cut else payload)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                if cut:
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "ReplayServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def replay() -> Iterator:
    servers: list[ReplayServer] = []

    def start(*fixtures: str) -> ReplayServer:
        server = ReplayServer(list(fixtures)).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__()


def llm_config(base_url: str, **overrides: object) -> SentimentConfig:
    fields: dict[str, object] = {
        "kind": "llm",
        "base_url": base_url,
        "model": "local-sentiment",
        "batch_size": 2,
        "max_retries": 6,
        "backoff_s": 0.01,
        "timeout_s": 0.5,
    }
    fields.update(overrides)
    return SentimentConfig.model_validate(fields)


def test_client_retries_through_every_recorded_failure_then_scores_and_caches(replay, tmp_path: Path) -> None:
    server = replay(
        "rate_limited_429.json",
        "server_error_500.json",
        "malformed_json.json",
        "missing_field.json",
        "truncated_body.json",
        "slow_past_timeout.json",
        "good_two_items.json",
    )
    cache = tmp_path / "llm-cache.json"
    scorer = make_scorer(llm_config(server.base_url, cache_path=cache))
    assert isinstance(scorer, LLMSentimentScorer)

    started = time.monotonic()
    first = scorer.score_texts(TEXTS)
    elapsed = time.monotonic() - started
    again = scorer.score_texts(TEXTS)
    reloaded = make_scorer(llm_config(server.base_url, cache_path=cache)).score_texts(TEXTS)

    assert [(r.score, r.confidence, r.fallback) for r in first] == [(0.8, 0.9, False), (-0.6, 0.7, False)]
    assert first[1].rationale == "lawsuit and weak sales"
    assert len(server.received) == 7  # six failures retried, then the good answer; nothing after
    assert scorer.stats.requests == 7 and scorer.stats.retries == 6 and scorer.stats.fallbacks == 0
    assert elapsed >= 1.0  # Retry-After: 1 was honoured
    assert [r.score for r in again] == [0.8, -0.6] and all(r.cached for r in again)
    assert [r.score for r in reloaded] == [0.8, -0.6] and all(r.cached for r in reloaded)
    assert scorer.stats.cache_hits == 2
    request = server.received[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["json"]["model"] == "local-sentiment"
    assert json.loads(request["json"]["messages"][1]["content"]) == [
        {"id": 0, "text": TEXTS[0]},
        {"id": 1, "text": TEXTS[1]},
    ]


def test_batch_that_keeps_failing_falls_back_to_the_lexicon_without_raising(replay) -> None:
    server = replay("server_error_500.json", "malformed_json.json", "missing_field.json")
    scorer = make_scorer(llm_config(server.base_url, max_retries=2))

    results = scorer.score_texts(TEXTS)

    assert len(server.received) == 3
    assert all(r.fallback for r in results)
    assert all(r.scorer.startswith("lexicon") for r in results)
    assert "score" in results[0].rationale  # the last reason: the missing field
    assert results[0].score > 0 > results[1].score  # the lexicon still reads the texts
    assert scorer.stats.fallbacks == 2 and scorer.stats.scored == 0


def test_fallback_scores_are_not_cached(replay) -> None:
    server = replay("server_error_500.json", "good_two_items.json")
    scorer = make_scorer(llm_config(server.base_url, max_retries=0))

    first = scorer.score_texts(TEXTS)
    second = scorer.score_texts(TEXTS)

    assert all(r.fallback for r in first)
    assert [r.score for r in second] == [0.8, -0.6] and not any(r.fallback for r in second)


def test_spend_guard_stops_at_max_total_requests(replay) -> None:
    server = replay("good_one_item.json", "good_one_item.json", "good_one_item.json")
    scorer = make_scorer(llm_config(server.base_url, batch_size=1, max_total_requests=1))

    results = scorer.score_texts(["first text", "second text", "third text"])

    assert len(server.received) == 1
    assert results[0].score == 0.4 and not results[0].fallback
    assert all(r.fallback and "spend guard" in r.rationale for r in results[1:])
    assert scorer.stats.guard_stopped and scorer.stats.fallbacks == 2


def test_api_key_is_read_from_the_named_environment_variable(replay, monkeypatch) -> None:
    server = replay("good_one_item.json")
    monkeypatch.setenv("NAUTILUS_AI_TEST_LLM_KEY", "sk-test-123")
    scorer = make_scorer(llm_config(server.base_url, api_key_env="NAUTILUS_AI_TEST_LLM_KEY"))

    scorer.score_texts(["one text"])

    assert server.headers[0]["Authorization"] == "Bearer sk-test-123"


def test_unset_api_key_variable_is_a_config_error(monkeypatch) -> None:
    monkeypatch.delenv("NAUTILUS_AI_TEST_LLM_KEY", raising=False)

    with pytest.raises(ConfigError, match="NAUTILUS_AI_TEST_LLM_KEY"):
        make_scorer(llm_config("http://127.0.0.1:9/v1", api_key_env="NAUTILUS_AI_TEST_LLM_KEY"))


def test_rate_limit_waits_for_the_minute_window(replay) -> None:
    server = replay(*["good_one_item.json"] * 3)
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    scorer = LLMSentimentScorer(
        llm_config(server.base_url, batch_size=1, max_requests_per_minute=2),
        clock=lambda: now[0],
        sleep=sleep,
    )

    results = scorer.score_texts(["a", "b", "c"])

    assert waits == [60.0]
    assert len(server.received) == 3 and not any(r.fallback for r in results)
