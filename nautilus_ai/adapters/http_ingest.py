"""One asynchronous HTTP ingestion framework for every pull-based source (news APIs, RSS feeds...).

A :class:`FetchJob` describes a source (base URL, concurrency, rate limit, retry policy, where raw
bodies and the checkpoint live); :func:`run_fetch` runs a list of :class:`RequestSpec` against it
with one ``httpx.AsyncClient``:

* at most ``max_concurrency`` requests in flight (an ``asyncio.Semaphore``) and at most
  ``requests_per_second`` started per second (a token bucket per source);
* timeouts, transport errors, HTTP 429 and 5xx are retried with exponential backoff and full jitter
  (``uniform(0, min(backoff_max_s, backoff_base_s * 2**attempt))`` from a RNG seeded by the job), a
  429's ``Retry-After`` (seconds or HTTP-date) is honoured; any other 4xx is reported, not retried;
* every response body is written atomically to ``raw_dir`` *before* it is parsed: a 2xx body to
  ``<key><raw_suffix>`` (with ``<key>.meta.json``: URL, status, receive time), any other status to
  ``<key>.http<status>.attempt<n><raw_suffix>``;
* a request whose body parsed and whose items reached the sink is recorded in the checkpoint (an
  atomic JSON file); a restarted job skips recorded keys, so nothing is fetched, parsed or written
  twice. Failed requests are not recorded and are tried again by the next run;
* parse errors (malformed body, missing field, truncated body) never escape: each is reported with
  the request key, the reason and the raw file path in the :class:`FetchReport`.

The only window in which a crash repeats work is between the sink returning and the checkpoint
being renamed into place (one request's items).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pydantic
from nautilus_trader.core.data import Data

from nautilus_ai.catalog.atomic import atomic_write_bytes, atomic_write_text
from nautilus_ai.errors import ConfigError, DataError

REQUEST_KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]{0,199}$")
CHECKPOINT_VERSION = 1

Progress = Callable[[str, int, int], None]
Parser = Callable[[bytes, "RequestSpec"], list[Data]]
Sink = Callable[[list[Data]], None]


class FetchJob(pydantic.BaseModel, extra="forbid", frozen=True):
    """The configuration of one source's fetch job.

    Parameters
    ----------
    source : str
        The source name (letters, digits, ``._-``); used in reports and default paths.
    base_url : str
        The scheme and host (and optional path prefix) every request path is joined to.
    max_concurrency : int
        The most requests in flight at once.
    requests_per_second : float, optional
        The most requests started per second, retries included (a token bucket with a burst of
        one, so starts are spaced ``1 / rate`` apart); ``None`` means unlimited.
    max_retries : int
        Retries after the first attempt for a retryable failure (timeout, transport, 429, 5xx).
    backoff_base_s : float
        The first backoff ceiling in seconds; the ceiling doubles with every retry.
    backoff_max_s : float
        The largest backoff ceiling in seconds.
    retry_after_max_s : float
        The longest ``Retry-After`` honoured; a longer one fails the request (reason ``http_429``).
    timeout_s : float
        The timeout of one attempt (connect, read, write and pool) in seconds.
    raw_dir : Path
        Where response bodies are saved.
    checkpoint_path : Path
        The JSON file recording completed request keys.
    raw_suffix : str
        The file suffix of saved bodies (``.json``; ``.xml`` for RSS).
    seed : int
        Seeds the backoff jitter, so retry delays are reproducible.
    headers : dict[str, str]
        Headers sent with every request (put secrets in the environment, not here).
    redact_params : tuple[str, ...]
        Query parameters whose values are replaced by ``***`` in the URL recorded beside a raw response,
        so an API key passed as a parameter never reaches the disk.

    """

    source: str = pydantic.Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    base_url: str
    max_concurrency: int = pydantic.Field(default=4, ge=1)
    requests_per_second: float | None = pydantic.Field(default=5.0, gt=0)
    max_retries: int = pydantic.Field(default=3, ge=0)
    backoff_base_s: float = pydantic.Field(default=0.5, ge=0)
    backoff_max_s: float = pydantic.Field(default=30.0, ge=0)
    retry_after_max_s: float = pydantic.Field(default=300.0, ge=0)
    timeout_s: float = pydantic.Field(default=10.0, gt=0)
    raw_dir: Path
    checkpoint_path: Path
    raw_suffix: str = pydantic.Field(default=".json", pattern=r"^\.[A-Za-z0-9]+$")
    seed: int = 0
    headers: dict[str, str] = {}
    redact_params: tuple[str, ...] = ("api_key", "apikey", "key", "token", "access_token")

    @pydantic.field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, was {value!r}")
        return value.rstrip("/")


@dataclass(frozen=True)
class RequestSpec:
    """One request of a fetch job.

    Parameters
    ----------
    key : str
        A unique, file-name-safe key (letters, digits, ``._=-``): names the raw file and the
        checkpoint entry.
    path : str
        The path joined to the job's ``base_url``.
    params : Mapping[str, str]
        Query parameters.
    meta : Mapping[str, str]
        What the parser needs to know about the request (ticker, day...); not sent.
    received_ns : int
        Set by :func:`run_fetch` to the UNIX time (ns) the response was received, before parsing.

    """

    key: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    meta: Mapping[str, str] = field(default_factory=dict)
    received_ns: int = 0


@dataclass
class RequestOutcome:
    """What happened to one request."""

    key: str
    status: str  # "ok", "skipped_done" or the failure reason
    http_status: int | None = None
    attempts: int = 0
    items: int = 0
    elapsed_s: float = 0.0
    raw_path: str | None = None
    message: str = ""


@dataclass
class FetchReport:
    """The counts and per-request outcomes of one :func:`run_fetch` run.

    ``fetched`` counts requests that got a 2xx response (parsed or not), ``retried`` the retry
    attempts over all requests, ``failed`` the failed requests by reason (``timeout``,
    ``transport``, ``http_<status>``, ``parse_error``, ``sink_error``), ``items_written`` the items
    handed to the sink.
    """

    source: str
    requested: int = 0
    fetched: int = 0
    skipped_done: int = 0
    retried: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    items_written: int = 0
    elapsed_s: float = 0.0
    raw_dir: str = ""
    checkpoint_path: str = ""
    outcomes: list[RequestOutcome] = field(default_factory=list)

    @property
    def failures(self) -> list[RequestOutcome]:
        """Return the outcomes of the failed requests."""
        return [o for o in self.outcomes if o.status not in ("ok", "skipped_done")]

    @property
    def n_failed(self) -> int:
        """Return the number of failed requests."""
        return sum(self.failed.values())

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dict."""
        return asdict(self)

    def to_json(self) -> str:
        """Return the report as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def summary_text(self) -> str:
        """Return one line per failed request plus a total line."""
        lines = [
            f"{o.key}: {o.status}"
            + (f" ({o.message})" if o.message else "")
            + (f" raw: {o.raw_path}" if o.raw_path else "")
            for o in self.failures
        ]
        failed = ", ".join(f"{reason}={n}" for reason, n in sorted(self.failed.items())) or "none"
        lines.append(
            f"{self.source}: {self.requested} request(s): fetched {self.fetched}, "
            f"skipped (done) {self.skipped_done}, retries {self.retried}, failed {failed}, "
            f"{self.items_written} item(s) written in {self.elapsed_s:.1f}s"
        )
        return "\n".join(lines)


class TokenBucket:
    """An asyncio token bucket: ``rate`` tokens per second, at most ``capacity`` banked."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self._tokens = capacity
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until a token is available and take it."""
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await asyncio.sleep((1.0 - self._tokens) / self.rate)


def backoff_delay(attempt: int, base_s: float, max_s: float, rng: random.Random) -> float:
    """Return a full-jitter backoff delay for retry ``attempt`` (0-based).

    The delay is uniform in ``[0, min(max_s, base_s * 2**attempt)]``.
    """
    ceiling = min(max_s, base_s * (2.0**attempt))
    return rng.uniform(0.0, ceiling)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Return the delay in seconds a ``Retry-After`` header asks for (seconds or HTTP-date).

    Returns ``None`` when the header is absent or unreadable; a date in the past gives 0.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Return a job's checkpoint (``{"version", "source", "done": {key: {...}}}``; empty when absent)."""
    path = Path(path)
    if not path.exists():
        return {"version": CHECKPOINT_VERSION, "done": {}}
    try:
        checkpoint = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DataError(
            f"unreadable fetch checkpoint ({error}); delete it to refetch", file=str(path)
        ) from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("done"), dict):
        raise DataError("fetch checkpoint has no 'done' mapping; delete it to refetch", file=str(path))
    return checkpoint


class _RetryableAttemptError(Exception):
    """An attempt failed in a way worth retrying."""

    def __init__(self, reason: str, message: str, delay_s: float | None = None, status: int | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.delay_s = delay_s
        self.status = status


class _Runner:
    def __init__(
        self,
        job: FetchJob,
        parse: Parser,
        sink: Sink,
        report: FetchReport,
        checkpoint: dict[str, Any],
        progress: Progress | None,
    ) -> None:
        self.job = job
        self.parse = parse
        self.sink = sink
        self.report = report
        self.checkpoint = checkpoint
        self.progress = progress
        self.rng = random.Random(job.seed)
        self.semaphore = asyncio.Semaphore(job.max_concurrency)
        rate = job.requests_per_second
        self.bucket = TokenBucket(rate, 1.0) if rate is not None else None
        self.failed: Counter[str] = Counter()
        self.done_count = report.skipped_done
        self.last_received_ns = 0

    def _received_ns(self) -> int:
        # Strictly increasing within a run, so no two responses share a receive time.
        now = max(time.time_ns(), self.last_received_ns + 1)
        self.last_received_ns = now
        return now

    async def run(self, client: httpx.AsyncClient, spec: RequestSpec) -> None:
        async with self.semaphore:
            outcome = await self._fetch_one(client, spec)
        self.report.outcomes.append(outcome)
        if outcome.status != "ok":
            self.failed[outcome.status] += 1
        self.done_count += 1
        if self.progress is not None:
            self.progress("fetch", self.done_count, self.report.requested)

    async def _fetch_one(self, client: httpx.AsyncClient, spec: RequestSpec) -> RequestOutcome:
        job = self.job
        start = time.monotonic()
        outcome = RequestOutcome(spec.key, "ok")
        for attempt in range(job.max_retries + 1):
            outcome.attempts = attempt + 1
            if attempt:
                self.report.retried += 1
            if self.bucket is not None:
                await self.bucket.acquire()
            try:
                await self._attempt(client, spec, attempt, outcome)
            except _RetryableAttemptError as retry:
                outcome.status, outcome.message, outcome.http_status = (
                    retry.reason,
                    retry.message,
                    retry.status,
                )
                if attempt == job.max_retries:
                    break
                delay = backoff_delay(attempt, job.backoff_base_s, job.backoff_max_s, self.rng)
                if retry.delay_s is not None:
                    if retry.delay_s > job.retry_after_max_s:
                        outcome.message += f"; Retry-After {retry.delay_s:.0f}s exceeds retry_after_max_s"
                        break
                    delay = max(delay, retry.delay_s)
                await asyncio.sleep(delay)
                continue
            break
        outcome.elapsed_s = time.monotonic() - start
        return outcome

    async def _attempt(
        self, client: httpx.AsyncClient, spec: RequestSpec, attempt: int, outcome: RequestOutcome
    ) -> None:
        """Make one attempt; fill ``outcome`` or raise :class:`_RetryableAttemptError`."""
        job = self.job
        try:
            response = await client.get(spec.path, params=dict(spec.params))
        except httpx.TimeoutException as error:
            raise _RetryableAttemptError(
                "timeout", f"no response within {job.timeout_s}s ({type(error).__name__})"
            ) from None
        except httpx.TransportError as error:
            raise _RetryableAttemptError("transport", f"{type(error).__name__}: {error}") from None
        received_ns = self._received_ns()
        status = response.status_code
        outcome.http_status = status
        body = response.content
        if not 200 <= status < 300:
            raw = job.raw_dir / f"{spec.key}.http{status}.attempt{attempt + 1}{job.raw_suffix}"
            atomic_write_bytes(raw, body)
            outcome.raw_path = str(raw)
            if status == 429:
                delay = parse_retry_after(response.headers.get("retry-after"))
                raise _RetryableAttemptError("http_429", "too many requests", delay_s=delay, status=status)
            if status >= 500:
                raise _RetryableAttemptError(
                    f"http_{status}", f"server error {response.reason_phrase}", status=status
                )
            outcome.status = f"http_{status}"
            outcome.message = f"client error {response.reason_phrase} (not retried)"
            return
        self.report.fetched += 1
        raw = job.raw_dir / f"{spec.key}{job.raw_suffix}"
        atomic_write_bytes(raw, body)
        meta = {
            "key": spec.key,
            "url": redacted_url(response.url, job.redact_params),
            "status": status,
            "received_ns": received_ns,
        }
        atomic_write_text(job.raw_dir / f"{spec.key}.meta.json", json.dumps(meta, indent=2))
        outcome.raw_path = str(raw)
        try:
            items = self.parse(body, replace(spec, received_ns=received_ns))
        except DataError as error:
            located = DataError(error.message, file=str(raw), row=error.row, field=error.field)
            outcome.status, outcome.message = "parse_error", str(located)
            return
        except Exception as error:  # a parser bug or an unforeseen shape: report, never escape
            outcome.status, outcome.message = "parse_error", f"{type(error).__name__}: {error} in {raw}"
            return
        try:
            if items:
                self.sink(items)
        except Exception as error:
            outcome.status, outcome.message = "sink_error", f"{type(error).__name__}: {error}"
            return
        outcome.status, outcome.message, outcome.items = "ok", "", len(items)
        self.report.items_written += len(items)
        self.checkpoint["done"][spec.key] = {"items": len(items), "raw": str(raw), "received_ns": received_ns}
        atomic_write_text(job.checkpoint_path, json.dumps(self.checkpoint, indent=2, sort_keys=True))


async def run_fetch(
    job: FetchJob,
    requests: Sequence[RequestSpec],
    parse: Parser,
    sink: Sink,
    progress: Progress | None = None,
) -> FetchReport:
    """Fetch, save, parse and sink every request not already in the job's checkpoint.

    Parameters
    ----------
    job : FetchJob
        The source's configuration.
    requests : Sequence[RequestSpec]
        The requests; keys must be unique and file-name safe.
    parse : callable
        ``parse(body, request) -> items``; raise :class:`~nautilus_ai.errors.DataError` for a bad
        body (any other exception is reported too). ``request.received_ns`` holds the receive time.
    sink : callable
        ``sink(items)`` persists one request's items (for example into a catalog).
    progress : callable, optional
        Called as ``progress("fetch", done, total)`` after each request (skipped ones included).

    Returns
    -------
    FetchReport
        Counts and per-request outcomes. Request failures are reported here, never raised.

    Raises
    ------
    ConfigError
        If a request key is duplicated or not file-name safe.
    DataError
        If the checkpoint file is unreadable.

    """
    started = time.monotonic()
    keys = [spec.key for spec in requests]
    bad = [key for key in keys if not REQUEST_KEY_PATTERN.match(key)]
    if bad:
        raise ConfigError(f"request keys must match {REQUEST_KEY_PATTERN.pattern}: {bad[:3]}")
    duplicated = sorted(key for key, n in Counter(keys).items() if n > 1)
    if duplicated:
        raise ConfigError(f"duplicate request keys: {duplicated[:3]}")
    checkpoint = read_checkpoint(job.checkpoint_path)
    checkpoint.setdefault("source", job.source)
    report = FetchReport(
        job.source,
        requested=len(requests),
        raw_dir=str(job.raw_dir),
        checkpoint_path=str(job.checkpoint_path),
    )
    done = checkpoint["done"]
    pending = [spec for spec in requests if spec.key not in done]
    report.skipped_done = len(requests) - len(pending)
    report.outcomes = [RequestOutcome(spec.key, "skipped_done") for spec in requests if spec.key in done]
    runner = _Runner(job, parse, sink, report, checkpoint, progress)
    if progress is not None and report.skipped_done:
        progress("fetch", report.skipped_done, report.requested)
    job.raw_dir.mkdir(parents=True, exist_ok=True)
    timeout = httpx.Timeout(job.timeout_s)
    limits = httpx.Limits(max_connections=job.max_concurrency, max_keepalive_connections=job.max_concurrency)
    async with httpx.AsyncClient(
        base_url=job.base_url, timeout=timeout, limits=limits, headers=job.headers
    ) as client:
        await asyncio.gather(*(runner.run(client, spec) for spec in pending))
    report.failed = dict(sorted(runner.failed.items()))
    order = {key: i for i, key in enumerate(keys)}
    report.outcomes.sort(key=lambda o: order.get(o.key, math.inf))
    report.elapsed_s = time.monotonic() - started
    return report


def fetch(
    job: FetchJob,
    requests: Sequence[RequestSpec],
    parse: Parser,
    sink: Sink,
    progress: Progress | None = None,
) -> FetchReport:
    """Run :func:`run_fetch` to completion in a new event loop (for synchronous callers and the CLI)."""
    return asyncio.run(run_fetch(job, requests, parse, sink, progress))


def redacted_url(url: httpx.URL, names: Sequence[str]) -> str:
    """Return ``url`` as text with the values of the query parameters ``names`` replaced by ``***``."""
    secret = {name.lower() for name in names}
    params = [(k, "***" if k.lower() in secret else v) for k, v in url.params.multi_items()]
    return str(url.copy_with(params=params)) if params else str(url)
