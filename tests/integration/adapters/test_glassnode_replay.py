"""The Glassnode-compatible client against a real HTTP server replaying recorded responses."""

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from nautilus_ai.adapters.glassnode import GlassnodeSource, fetch_glassnode
from nautilus_ai.adapters.news_api import fetch_source
from nautilus_ai.catalog.types import OnChainMetric
from nautilus_ai.errors import ConfigError

FIXTURES = Path(__file__).parents[2] / "fixtures" / "http"
KEY_ENV = "TEST_GLASSNODE_KEY"
KEY = "test-glassnode-key"  # the scenarios match on the full query, this key included
DAY_NS = 86_400 * 1_000_000_000
FAST = {
    "requests_per_second": None,
    "max_retries": 2,
    "backoff_base_s": 0.01,
    "backoff_max_s": 0.05,
    "timeout_s": 2.0,
    "seed": 1,
}


@pytest.fixture(scope="module")
def glassnode_server() -> Iterator:
    spec = importlib.util.spec_from_file_location("replay_server", FIXTURES / "replay_server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    server = module.ReplayServer(FIXTURES / "glassnode" / "scenarios.json").start()
    yield server
    server.stop()


@pytest.fixture
def gn(glassnode_server, monkeypatch):
    glassnode_server.reset()
    monkeypatch.setenv(KEY_ENV, KEY)
    return glassnode_server


def source(base_url: str, *metrics: str) -> GlassnodeSource:
    return GlassnodeSource(
        base_url=base_url,
        api_key_env=KEY_ENV,
        metrics=metrics,
        since="2024-01-01",
        until="2024-01-04",
        resolution="24h",
    )


def metrics_in(catalog: Path) -> list[OnChainMetric]:
    return sorted(
        (wrapped.data for wrapped in ParquetDataCatalog(str(catalog)).query(OnChainMetric)),
        key=lambda m: (m.metric, m.ts_event),
    )


def ns(text: str) -> int:
    return int(pd.Timestamp(text).value)


def assert_no_key_on_disk(catalog: Path) -> None:
    files = [p for p in catalog.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert KEY.encode() not in path.read_bytes(), path


def test_two_metrics_land_in_the_catalog_point_in_time(gn, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    before = pd.Timestamp.now(tz="UTC").value

    report = fetch_glassnode(
        source(gn.base_url, "addresses/active_count", "transactions/count"), catalog, **FAST
    )

    assert report.n_failed == 0 and report.fetched == 2 and report.retried == 0
    assert report.skipped_null == {"addresses/active_count": 1}
    assert "addresses/active_count=1" in report.summary_text()
    items = metrics_in(catalog)
    assert len(items) == report.items_written == 3 + 4
    active = [m for m in items if m.metric == "addresses/active_count"]
    # a point stamped t describes [t, t + 24h): known at its end
    assert [m.ts_event for m in active] == [ns("2024-01-02"), ns("2024-01-04"), ns("2024-01-05")]
    assert [m.value for m in active] == [812345.0, 798001.0, 805512.0]
    assert all(m.source == "glassnode" and str(m.instrument_id) == "BTCUSD.ONCHAIN" for m in items)
    assert all(m.ts_init >= before and m.ts_init >= m.ts_event for m in items)
    raw = catalog / "_raw" / "glassnode"
    assert (raw / "BTC-addresses_active_count-1704067200-1704326400-24h.json").exists()
    meta = (raw / "BTC-transactions_count-1704067200-1704326400-24h.meta.json").read_text()
    assert "api_key=%2A%2A%2A" in meta or "api_key=***" in meta
    assert set(gn.hits) == {
        f"/v1/metrics/{m}?a=BTC&api_key={KEY}&i=24h&s=1704067200&u=1704326400"
        for m in ("addresses/active_count", "transactions/count")
    }
    assert_no_key_on_disk(catalog)


def test_ts_init_is_never_before_the_end_of_the_interval(gn, tmp_path: Path) -> None:
    from nautilus_ai.adapters.http_ingest import RequestSpec

    spec = RequestSpec("k", "/p", meta={"metric": "m"}, received_ns=ns("2024-01-01T12:00"))
    [item] = source(gn.base_url, "m").parse(b'[{"t": 1704067200, "v": 1}]', spec)
    assert item.ts_event == item.ts_init == ns("2024-01-02")


def test_rate_limit_and_server_error_are_retried(gn, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"

    report = fetch_glassnode(source(gn.base_url, "fees/volume_sum", "mining/hash_rate_mean"), catalog, **FAST)

    assert report.n_failed == 0 and report.retried == 2 and report.items_written == 3
    outcome = {o.key.split("-")[1]: o for o in report.outcomes}
    assert outcome["fees_volume_sum"].elapsed_s >= 1.0  # Retry-After honoured
    assert outcome["mining_hash_rate_mean"].attempts == 2
    assert {m.metric for m in metrics_in(catalog)} == {"fees/volume_sum", "mining/hash_rate_mean"}
    raw = catalog / "_raw" / "glassnode"
    assert (raw / "BTC-fees_volume_sum-1704067200-1704326400-24h.http429.attempt1.json").exists()
    assert_no_key_on_disk(catalog)


def test_bad_bodies_are_reported_and_good_metrics_still_written(gn, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    bad = ("indicators/sopr", "supply/current", "blockchain/block_count", "addresses/new_non_zero_count")

    report = fetch_glassnode(source(gn.base_url, "transactions/count", *bad), catalog, **FAST)

    assert report.failed == {"parse_error": 4}
    assert report.fetched == 5 and report.items_written == 4
    failures = {o.key.split("-")[1]: o for o in report.failures}
    assert "malformed or truncated JSON" in failures["indicators_sopr"].message
    assert "malformed or truncated JSON" in failures["supply_current"].message
    assert "expected a list" in failures["blockchain_block_count"].message
    assert "[1].v" in failures["addresses_new_non_zero_count"].message
    assert all("Traceback" not in o.message and KEY not in o.message for o in report.failures)
    raw = catalog / "_raw" / "glassnode"
    assert failures["supply_current"].raw_path == str(
        raw / "BTC-supply_current-1704067200-1704326400-24h.json"
    )
    assert {m.metric for m in metrics_in(catalog)} == {"transactions/count"}
    assert_no_key_on_disk(catalog)


def test_a_rerun_fetches_and_writes_nothing_twice(gn, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    config = {
        "base_url": gn.base_url,
        "api_key_env": KEY_ENV,
        "metrics": ["addresses/active_count", "transactions/count", "indicators/sopr"],
        "since": "2024-01-01",
        "until": "2024-01-04",
        "fetch": FAST,
    }
    first = fetch_source("glassnode", catalog=catalog, config=config)
    first_items = metrics_in(catalog)
    gn.reset()

    second = fetch_source("glassnode", catalog=catalog, config=config)

    assert first.items_written == 7 and first.failed == {"parse_error": 1}
    assert second.skipped_done == 2 and second.items_written == 0
    assert set(gn.hits) == {
        f"/v1/metrics/indicators/sopr?a=BTC&api_key={KEY}&i=24h&s=1704067200&u=1704326400"
    }
    assert metrics_in(catalog) == first_items
    assert_no_key_on_disk(catalog)


def test_fetch_source_rejects_bad_glassnode_config(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MISSING_GN_KEY", raising=False)
    base = {"base_url": "http://127.0.0.1:9", "metrics": ["addresses/active_count"], "since": "2024-01-01"}
    with pytest.raises(ConfigError, match="until"):
        fetch_source("glassnode", catalog=tmp_path, config=base)
    with pytest.raises(ConfigError, match="typo"):
        fetch_source("glassnode", catalog=tmp_path, config=base | {"until": "2024-01-02", "typo": 1})
    with pytest.raises(ConfigError, match="resolution"):
        fetch_source("glassnode", catalog=tmp_path, config=base | {"until": "2024-01-02", "resolution": "1w"})
    with pytest.raises(ConfigError, match="before since"):
        fetch_source("glassnode", catalog=tmp_path, config=base | {"until": "2023-12-31"})
    with pytest.raises(ConfigError, match="metric path"):
        fetch_source(
            "glassnode", catalog=tmp_path, config=base | {"until": "2024-01-02", "metrics": ["../x"]}
        )
    with pytest.raises(ConfigError, match="MISSING_GN_KEY"):
        config = base | {"until": "2024-01-02", "api_key_env": "MISSING_GN_KEY"}
        fetch_source("glassnode", catalog=tmp_path, config=config)
    with pytest.raises(ConfigError, match="max_concurency"):
        config = base | {"until": "2024-01-02", "fetch": {"max_concurency": 2}}
        fetch_source("glassnode", catalog=tmp_path, config=config)
