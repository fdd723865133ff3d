"""A Glassnode-compatible on-chain metrics client that fetches :class:`OnChainMetric` data into a catalog.

:class:`GlassnodeSource` builds one :class:`~nautilus_ai.adapters.http_ingest.RequestSpec` per
metric: ``GET {base_url}/v1/metrics/{metric_path}`` with query parameters ``a`` (asset), ``s`` and
``u`` (since/until, UNIX seconds), ``i`` (resolution) and ``api_key`` (read from ``api_key_env``).
The response ``[{"t": <unix seconds>, "v": <number or null>}, ...]`` becomes ``OnChainMetric``
objects:

* ``ts_event`` = ``t`` + resolution: a Glassnode point stamped ``t`` describes the interval
  starting at ``t``, so its value exists only at the interval's end;
* ``ts_init`` = the time the response was received, but never earlier than ``ts_event``
  (point in time: a backtest sees a value only once nautilus-ai could have read it);
* ``null`` values are skipped and counted per metric (:attr:`GlassnodeFetchReport.skipped_null`);
* a body that is not a JSON list, or a row without ``t``/``v`` or with a non-numeric one, is a
  parse error reported per request with its raw file.

The API key is sent as the ``api_key`` query parameter (as Glassnode expects); the framework records
that URL in ``<key>.meta.json`` with the value replaced by ``***`` (``FetchJob.redact_params``), and the
key is read from the environment when the job is built and kept in no file or report.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pydantic
from nautilus_trader.core.data import Data
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.adapters.http_ingest import FetchJob, FetchReport, Progress, RequestSpec, fetch
from nautilus_ai.adapters.news_api import catalog_sink
from nautilus_ai.catalog.types import OnChainMetric
from nautilus_ai.errors import ConfigError, DataError

SOURCE_NAME = "glassnode"
RAW_ROOT = Path("_raw")
CHECKPOINT_ROOT = Path("_nautilus_ai") / "fetch"
API_KEY_PARAM = "api_key"
MASK = "***"
RESOLUTION_SECONDS = {"24h": 86_400, "1h": 3_600, "10m": 600}
NS_PER_S = 1_000_000_000

Resolution = Literal["24h", "1h", "10m"]


def _unix_seconds(value: Any, name: str) -> int:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"glassnode {name} {value!r} is not a date or time ({error})") from None
    if pd.isna(stamp):
        raise ConfigError(f"glassnode {name} {value!r} is not a date or time")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value // NS_PER_S)


class GlassnodeSource(pydantic.BaseModel, extra="forbid", frozen=True):
    """A Glassnode-compatible metrics API queried once per metric over ``[since, until]``.

    Parameters
    ----------
    base_url : str
        The API's scheme and host (``https://api.glassnode.com``).
    api_key_env : str
        The environment variable holding the API key (sent as the ``api_key`` query parameter).
    asset : str
        The asset symbol (``a``).
    metrics : tuple[str, ...]
        Metric paths under ``/v1/metrics/`` (``addresses/active_count``, ``transactions/count``).
    since, until : date, datetime or str
        The range (``s``/``u``, sent as UNIX seconds; naive values are UTC).
    resolution : {"24h", "1h", "10m"}
        The interval (``i``); ``ts_event`` is the end of each point's interval.
    instrument_id : str
        The instrument the metrics are stored under.

    """

    base_url: str
    api_key_env: str = "GLASSNODE_API_KEY"
    asset: str = pydantic.Field(default="BTC", pattern=r"^[A-Za-z0-9]+$")
    metrics: tuple[str, ...] = pydantic.Field(min_length=1)
    since: datetime | date | str
    until: datetime | date | str
    resolution: Resolution = "24h"
    instrument_id: str = "BTCUSD.ONCHAIN"

    @pydantic.field_validator("metrics")
    @classmethod
    def _check_metrics(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for metric in value:
            parts = metric.split("/")
            if not metric or any(not part or not part.replace("_", "").isalnum() for part in parts):
                raise ValueError(f"metric path {metric!r} must be like 'addresses/active_count'")
        if len(set(value)) != len(value):
            raise ValueError(f"duplicate metric paths in {list(value)}")
        return value

    @pydantic.model_validator(mode="after")
    def _check_range(self) -> GlassnodeSource:
        since, until = self.since_s, self.until_s
        if until < since:
            raise ValueError(f"until {self.until} is before since {self.since}")
        InstrumentId.from_str(self.instrument_id)
        return self

    @property
    def since_s(self) -> int:
        """Return ``since`` as UNIX seconds."""
        return _unix_seconds(self.since, "since")

    @property
    def until_s(self) -> int:
        """Return ``until`` as UNIX seconds."""
        return _unix_seconds(self.until, "until")

    @property
    def resolution_ns(self) -> int:
        """Return the resolution's length in nanoseconds."""
        return RESOLUTION_SECONDS[self.resolution] * NS_PER_S

    def api_key(self) -> str:
        """Return the API key read from ``api_key_env``.

        Raises
        ------
        ConfigError
            If the variable is missing or empty.

        """
        key = os.environ.get(self.api_key_env, "")
        if not key:
            raise ConfigError(f"glassnode: environment variable {self.api_key_env} (the API key) is not set")
        return key

    def request_key(self, metric: str) -> str:
        """Return the request (raw file and checkpoint) key of ``metric``."""
        return f"{self.asset}-{metric.replace('/', '_')}-{self.since_s}-{self.until_s}-{self.resolution}"

    def requests(self, api_key: str) -> list[RequestSpec]:
        """Return one request per metric (``api_key`` goes in the query string)."""
        params = {
            "a": self.asset,
            "s": str(self.since_s),
            "u": str(self.until_s),
            "i": self.resolution,
            API_KEY_PARAM: api_key,
        }
        return [
            RequestSpec(
                key=self.request_key(metric),
                path=f"/v1/metrics/{metric}",
                params=params,
                meta={"metric": metric},
            )
            for metric in self.metrics
        ]

    def parse(
        self, body: bytes, request: RequestSpec, skipped_null: dict[str, int] | None = None
    ) -> list[Data]:
        """Parse one response into ``OnChainMetric`` objects (``null`` values skipped and counted).

        Raises
        ------
        DataError
            If the body is not a JSON list (malformed or truncated included) or a row lacks ``t``
            or ``v`` or holds a non-numeric one.

        """
        metric = request.meta["metric"]
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DataError(f"malformed or truncated JSON ({error})", field="body") from None
        if not isinstance(payload, list):
            raise DataError(
                f"expected a list of {{t, v}} points, found {type(payload).__name__}", field="body"
            )
        instrument_id = InstrumentId.from_str(self.instrument_id)
        items: list[Data] = []
        nulls = 0
        for index, row in enumerate(payload):
            where = f"[{index}]"
            if not isinstance(row, dict):
                raise DataError("expected an object", field=where)
            for required in ("t", "v"):
                if required not in row:
                    raise DataError("required field missing", field=f"{where}.{required}")
            t, v = row["t"], row["v"]
            if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
                raise DataError(f"'t' must be UNIX seconds, was {t!r}", field=f"{where}.t")
            if v is None:
                nulls += 1
                continue
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise DataError(f"'v' must be a finite number or null, was {v!r}", field=f"{where}.v")
            ts_event = int(t) * NS_PER_S + self.resolution_ns
            items.append(
                OnChainMetric(
                    instrument_id=instrument_id,
                    metric=metric,
                    value=float(v),
                    source=SOURCE_NAME,
                    ts_event=ts_event,
                    ts_init=max(request.received_ns, ts_event),
                )
            )
        if skipped_null is not None and nulls:
            skipped_null[metric] = skipped_null.get(metric, 0) + nulls
        return items


@dataclass
class GlassnodeFetchReport(FetchReport):
    """A :class:`FetchReport` plus the ``null`` values skipped per metric."""

    skipped_null: dict[str, int] = field(default_factory=dict)

    def summary_text(self) -> str:
        """Return the framework's summary plus the skipped null values."""
        text = super().summary_text()
        if self.skipped_null:
            nulls = ", ".join(f"{metric}={n}" for metric, n in sorted(self.skipped_null.items()))
            text += f"\nnull values skipped: {nulls}"
        return text


def mask_api_key(text: str, api_key: str) -> str:
    """Return ``text`` with every occurrence of ``api_key`` replaced by ``***``."""
    return text.replace(api_key, MASK) if api_key else text


def glassnode_job(source: GlassnodeSource, catalog_path: Path, **options: Any) -> FetchJob:
    """Return the fetch job of ``source`` with raw bodies and checkpoint under the catalog.

    Raw bodies go to ``<catalog>/_raw/glassnode/``, the checkpoint to
    ``<catalog>/_nautilus_ai/fetch/glassnode.checkpoint.json``; ``options`` set other ``FetchJob`` fields.
    """
    catalog_path = Path(catalog_path)
    fields_: dict[str, Any] = {
        "source": SOURCE_NAME,
        "base_url": source.base_url,
        "raw_dir": catalog_path / RAW_ROOT / SOURCE_NAME,
        "checkpoint_path": catalog_path / CHECKPOINT_ROOT / f"{SOURCE_NAME}.checkpoint.json",
        "raw_suffix": ".json",
        **options,
    }
    try:
        return FetchJob(**fields_)
    except pydantic.ValidationError as error:
        raise ConfigError(f"glassnode fetch options: {_describe(error)}") from None


def fetch_glassnode(
    source: GlassnodeSource,
    catalog_path: Path,
    progress: Progress | None = None,
    **options: Any,
) -> GlassnodeFetchReport:
    """Fetch every metric of ``source`` into the catalog at ``catalog_path``.

    ``options`` are ``FetchJob`` fields (``max_concurrency``, ``requests_per_second``,
    ``max_retries``...). A rerun skips the metrics already written.

    Raises
    ------
    ConfigError
        On bad options or a missing API key variable.

    """
    job = glassnode_job(source, catalog_path, **options)
    api_key = source.api_key()
    skipped_null: dict[str, int] = {}

    def parse(body: bytes, request: RequestSpec) -> list[Data]:
        return source.parse(body, request, skipped_null)

    report = fetch(job, source.requests(api_key), parse, catalog_sink(catalog_path), progress)
    for outcome in report.outcomes:  # belt and braces: no message may carry the key
        outcome.message = mask_api_key(outcome.message, api_key)
    base = {f.name: getattr(report, f.name) for f in fields(FetchReport)}
    return GlassnodeFetchReport(**base, skipped_null=dict(sorted(skipped_null.items())))


class GlassnodeFetchConfig(pydantic.BaseModel, extra="forbid", frozen=True):
    """The ``config`` of ``fetch_source("glassnode", ...)``: the source's fields plus ``fetch``."""

    base_url: str
    api_key_env: str = "GLASSNODE_API_KEY"
    asset: str = "BTC"
    metrics: list[str] = pydantic.Field(min_length=1)
    since: datetime | date | str
    until: datetime | date | str
    resolution: Resolution = "24h"
    instrument_id: str = "BTCUSD.ONCHAIN"
    fetch: dict[str, Any] = {}

    def source(self) -> GlassnodeSource:
        """Return the source these settings describe."""
        return GlassnodeSource(**self.model_dump(exclude={"fetch"}))


def glassnode_from_config(
    config: dict[str, Any], catalog: Path, progress: Progress | None = None
) -> GlassnodeFetchReport:
    """Validate ``config`` (unknown keys are errors) and run :func:`fetch_glassnode`.

    Raises
    ------
    ConfigError
        On a bad config, bad fetch options or a missing API key variable.

    """
    try:
        settings = GlassnodeFetchConfig(**config)
        source = settings.source()
    except pydantic.ValidationError as error:
        raise ConfigError(f"glassnode source config: {_describe(error)}") from None
    return fetch_glassnode(source, catalog, progress, **settings.fetch)


def _describe(error: pydantic.ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in e['loc']) or '(root)'}: {e['msg']}" for e in error.errors()
    )


__all__ = [
    "GlassnodeFetchConfig",
    "GlassnodeFetchReport",
    "GlassnodeSource",
    "fetch_glassnode",
    "glassnode_from_config",
    "glassnode_job",
    "mask_api_key",
]
