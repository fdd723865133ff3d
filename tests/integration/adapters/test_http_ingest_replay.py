"""The async fetch framework against a real HTTP server (uvicorn, 127.0.0.1) replaying recordings."""

import asyncio
import json
import random
import time
from pathlib import Path

import pytest
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from nautilus_ai.adapters.http_ingest import (
    FetchJob,
    RequestSpec,
    backoff_delay,
    fetch,
    parse_retry_after,
    run_fetch,
)
from nautilus_ai.adapters.news_api import catalog_sink, parse_json_articles
from nautilus_ai.catalog.types import NewsItem
from nautilus_ai.errors import ConfigError

FIXTURES = Path(__file__).parents[2] / "fixtures" / "http"
IID = InstrumentId.from_str("AAPL.XNAS")


def make_job(base_url: str, tmp_path: Path, **overrides) -> FetchJob:
    fields = {
        "source": "test",
        "base_url": base_url,
        "max_concurrency": 8,
        "requests_per_second": None,
        "max_retries": 2,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "timeout_s": 0.5,
        "raw_dir": tmp_path / "raw",
        "checkpoint_path": tmp_path / "checkpoint.json",
        "seed": 7,
    }
    return FetchJob(**(fields | overrides))


def parse(body: bytes, request: RequestSpec) -> list:
    return list(parse_json_articles(body, request, IID, "test"))


SCENARIO_KEYS = [
    "good",
    "malformed",
    "missing",
    "truncated",
    "short-body",
    "ratelimited",
    "flaky",
    "slow",
    "always-500",
    "notfound",
]


def scenario_requests() -> list[RequestSpec]:
    return [RequestSpec(key=key, path=f"/{key}") for key in SCENARIO_KEYS]


def catalog_rows(catalog_path: Path) -> list[tuple[int, int, str, str]]:
    items = [wrapped.data for wrapped in ParquetDataCatalog(str(catalog_path)).query(NewsItem)]
    return sorted((i.ts_event, i.ts_init, i.text, str(i.instrument_id)) for i in items)


def test_retryable_failures_are_retried_and_the_rest_reported_without_raising(replay, tmp_path: Path) -> None:
    job = make_job(replay.base_url, tmp_path)
    written: list = []
    stages: list[tuple[str, int, int]] = []

    report = fetch(job, scenario_requests(), parse, written.extend, lambda *a: stages.append(a))

    outcome = {o.key: o for o in report.outcomes}
    for key in ("good", "ratelimited", "flaky", "slow", "short-body"):
        assert outcome[key].status == "ok", outcome[key]
    assert outcome["good"].attempts == 1
    assert outcome["ratelimited"].attempts == 2
    assert outcome["ratelimited"].elapsed_s >= 1.0  # Retry-After: 1 honoured despite a 0.01 s backoff
    assert outcome["flaky"].attempts == 2
    assert outcome["slow"].attempts == 2
    assert outcome["short-body"].attempts == 2
    assert outcome["always-500"].status == "http_503"
    assert outcome["always-500"].attempts == job.max_retries + 1
    assert outcome["notfound"].status == "http_404"
    assert outcome["notfound"].attempts == 1
    assert replay.hits["/notfound"] == 1  # a 404 is not retried
    for key in ("malformed", "missing", "truncated"):
        assert outcome[key].status == "parse_error"
        assert outcome[key].raw_path == str(job.raw_dir / f"{key}.json")
        assert str(job.raw_dir / f"{key}.json") in outcome[key].message
    assert "articles[0].published_at" in outcome["missing"].message
    assert report.failed == {"http_404": 1, "http_503": 1, "parse_error": 3}
    assert report.fetched == 8  # every 2xx, parsed or not
    assert report.retried == 1 + 1 + 1 + 1 + 2  # ratelimited, flaky, slow, short-body, always-500
    assert report.items_written == len(written) == 2 + 1 + 2 + 2 + 2
    assert stages[-1] == ("fetch", len(SCENARIO_KEYS), len(SCENARIO_KEYS))
    assert "parse_error=3" in report.summary_text()


def test_every_response_body_is_saved_before_parsing(replay, tmp_path: Path) -> None:
    job = make_job(replay.base_url, tmp_path)

    fetch(job, scenario_requests(), parse, lambda items: None)

    raw = {p.name for p in job.raw_dir.iterdir()}
    for key in ("good", "malformed", "missing", "truncated", "short-body", "ratelimited", "flaky", "slow"):
        assert f"{key}.json" in raw
        meta = json.loads((job.raw_dir / f"{key}.meta.json").read_text())
        assert meta["status"] == 200 and meta["received_ns"] > 0
    assert {
        "ratelimited.http429.attempt1.json",
        "flaky.http500.attempt1.json",
        "always-500.http503.attempt1.json",
        "always-500.http503.attempt2.json",
        "always-500.http503.attempt3.json",
        "notfound.http404.attempt1.json",
    } <= raw
    assert (job.raw_dir / "truncated.json").read_bytes() == (FIXTURES / "truncated.json").read_bytes()
    assert not [name for name in raw if name.endswith(".tmp")]


def test_a_rerun_skips_completed_requests_and_leaves_the_catalog_unchanged(replay, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    job = make_job(replay.base_url, tmp_path)
    first = fetch(job, scenario_requests(), parse, catalog_sink(catalog))
    rows_after_first = catalog_rows(catalog)
    replay.reset()

    second = fetch(job, scenario_requests(), parse, catalog_sink(catalog))

    ok_keys = {o.key for o in first.outcomes if o.status == "ok"}
    assert second.skipped_done == len(ok_keys) == 5
    assert {o.key for o in second.outcomes if o.status == "skipped_done"} == ok_keys
    assert not any(f"/{key}" in replay.hits for key in ok_keys)  # nothing fetched twice
    assert second.items_written == 0
    assert second.failed == first.failed  # failures are tried again, and fail again
    assert catalog_rows(catalog) == rows_after_first
    assert len(rows_after_first) == first.items_written


def test_a_cancelled_job_resumes_without_fetching_or_writing_anything_twice(replay, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    job = make_job(replay.base_url, tmp_path, max_concurrency=1)
    requests = [RequestSpec(key=f"page-{i:02d}", path="/good") for i in range(8)]

    async def run_and_cancel_after_three() -> None:
        def progress(stage: str, done: int, total: int) -> None:
            if done == 3:
                task.cancel()

        task = asyncio.ensure_future(run_fetch(job, requests, parse, catalog_sink(catalog), progress))
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run_and_cancel_after_three())
    done_before = set(json.loads(job.checkpoint_path.read_text())["done"])
    resumed = fetch(job, requests, parse, catalog_sink(catalog))

    assert len(done_before) >= 3
    assert resumed.skipped_done == len(done_before)
    assert resumed.fetched == len(requests) - len(done_before)
    assert resumed.n_failed == 0
    rows = catalog_rows(catalog)
    assert len(rows) == 2 * len(requests)  # two articles per page, each page written once
    assert len({ts_init for _, ts_init, _, _ in rows}) == len(requests)
    assert replay.hits["/good"] <= len(requests) + 1  # at most the request in flight at cancel is repeated


def test_the_rate_limit_spaces_request_starts(replay, tmp_path: Path) -> None:
    job = make_job(replay.base_url, tmp_path, requests_per_second=10.0)
    requests = [RequestSpec(key=f"page-{i}", path="/good") for i in range(6)]

    fetch(job, requests, parse, lambda items: None)

    starts = sorted(t for key, t in replay.log)
    assert starts[-1] - starts[0] >= 0.45  # 6 starts at 10/s: 5 gaps of 0.1 s


def test_bad_request_keys_are_config_errors(tmp_path: Path) -> None:
    job = make_job("http://127.0.0.1:9", tmp_path)
    with pytest.raises(ConfigError, match="duplicate"):
        fetch(job, [RequestSpec("a", "/a"), RequestSpec("a", "/b")], parse, lambda items: None)
    with pytest.raises(ConfigError, match="request keys"):
        fetch(job, [RequestSpec("../escape", "/a")], parse, lambda items: None)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("1") == 1.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:30 GMT", now=now) == pytest.approx(10.0)
    assert parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_is_full_jitter_and_reproducible_from_the_seed() -> None:
    draws = [backoff_delay(a, 0.5, 4.0, random.Random(3)) for a in range(6)]
    again = [backoff_delay(a, 0.5, 4.0, random.Random(3)) for a in range(6)]

    assert draws == again
    assert all(0.0 <= d <= min(4.0, 0.5 * 2**a) for a, d in enumerate(draws))


def test_a_timeout_is_reported_when_retries_run_out(replay, tmp_path: Path) -> None:
    job = make_job(replay.base_url, tmp_path, max_retries=0, timeout_s=0.3)
    started = time.monotonic()

    report = fetch(job, [RequestSpec("slow", "/slow")], parse, lambda items: None)

    assert report.failed == {"timeout": 1}
    assert report.outcomes[0].message.startswith("no response within 0.3s")
    assert time.monotonic() - started < 1.5
    assert not job.checkpoint_path.exists()
