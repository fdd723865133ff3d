"""A real paper TradingNode with a RedisPublisherActor and a Redis cache, served by the API over HTTP.

One fold of the walk-forward trains the models on the bundled AAPL daily bars; the paper node replays the
fold's test window through FeatureActor -> RegimeActor -> SignalActor -> MLStrategy with sandbox fills,
its cache in Redis (JSON) and the RedisPublisherActor mirroring signals, regimes, risk decisions and
trading state. The API must then serve exactly what the node's EventRecorder wrote and what its cache
holds.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from nautilus_trader.config import ImportableActorConfig
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from nautilus_ai.backtest.walkforward import run_walkforward
from nautilus_ai.live.paper import build_paper_node, paper_node_config
from nautilus_ai.live.persistence import RedisSettings, clear_trader
from nautilus_ai.live.runner import run_paper_node
from nautilus_ai.test_kit import demo_catalog, small_experiment

pytestmark = pytest.mark.slow

PUBLISHER = "nautilus_ai.live.redis_publisher"


def _run_node(tmp: Path, trader_id: str, prefix: str) -> dict[str, Any]:
    catalog = demo_catalog(tmp, symbols=("AAPL",))
    cfg = small_experiment(
        catalog,
        instruments=("AAPL.XNAS",),
        regime={"enabled": True, "kind": "gmm", "n_states": 2},
        walkforward={"train": "1500D", "test": "250D", "workers": 1, "baselines": []},
    )
    result = run_walkforward(cfg, tmp / "runs", run_id="wf", registry_path=tmp / "registry")
    fold = result.folds[0]
    bars = ParquetDataCatalog(str(catalog)).bars(bar_types=cfg.data.bar_types())
    times = pd.DatetimeIndex([b.ts_init for b in bars], tz="UTC")
    test_start = pd.Timestamp(fold["test_start"])
    warmup = cfg.features.to_spec().warmup_bars() + cfg.features.volatility_window + 5
    start = times[max(int(times.searchsorted(test_start)) - warmup, 0)]
    publisher = ImportableActorConfig(
        actor_path=f"{PUBLISHER}:RedisPublisherActor",
        config_path=f"{PUBLISHER}:RedisPublisherActorConfig",
        config={
            "component_id": "RedisPublisherActor",
            "instrument_ids": ["AAPL.XNAS"],
            "prefix": prefix,
            "snapshot_interval_s": 0.2,
            "limits": {"halt_drawdown": 0.2},
        },
    )
    config = paper_node_config(
        cfg,
        catalog,
        registry_path=tmp / "registry",
        model_version=fold["model_version"],
        regime_version=fold["regime_version"],
        start=start.isoformat(),
        end=pd.Timestamp(fold["test_end"]).isoformat(),
        trade_start=test_start.isoformat(),
        ts_init="catalog",
        events_dir=tmp / "events",
        equity_path=tmp / "equity.parquet",
        extra_actors=[publisher],
        trader_id=trader_id,
        log_level="ERROR",
        redis=RedisSettings(cache_encoding="json", flush_on_start=True, buffer_interval_ms=0, streams=False),
    )
    node = build_paper_node(config)
    run = run_paper_node(node, timeout_s=90.0, dispose=False)
    assert run.finished and run.error is None
    orders = {
        str(o.client_order_id): (o.side.name, float(o.quantity), o.status.name, float(o.filled_qty))
        for o in node.cache.orders()
    }
    net_position = sum(float(p.signed_qty) for p in node.cache.positions_open())
    node.dispose()
    return {
        "net_position": net_position,
        "orders": orders,
        "signals": pd.read_parquet(tmp / "events" / "ModelSignal.parquet"),
        "registry": tmp / "registry",
        "model_version": fold["model_version"],
    }


def test_api_serves_what_a_paper_node_published(tmp_path: Path, live_api_factory: Any) -> None:
    trader_id = f"APINODE-{uuid.uuid4().hex[:8]}"
    prefix = f"naitest-node-{uuid.uuid4().hex[:8]}"
    redis_settings = RedisSettings()
    try:
        node = _run_node(tmp_path, trader_id, prefix)
        api = live_api_factory(
            node_state=False, trader_id=trader_id, state_prefix=prefix, registry_root=node["registry"]
        )
        headers = {"X-API-Key": api.keys["read"]}

        def get(path: str, **params: Any) -> Any:
            response = httpx.get(api.base_url + path, params=params, headers=headers, timeout=10)
            assert response.status_code == 200, (path, response.text)
            return response.json()

        recorded = node["signals"]
        history = get("/signals/history", instrument_id="AAPL.XNAS", limit=1000)
        assert len(history) == len(recorded) > 50
        assert [s["probability"] for s in history] == pytest.approx(recorded["probability"].tolist())
        assert [s["ts_event"] for s in history] == [int(t) for t in recorded["ts_event"]]
        assert get("/signals/latest", instrument_id="AAPL.XNAS")[0] == history[-1]
        orders = {o["client_order_id"]: o for o in get("/execution/orders")}
        assert orders.keys() == node["orders"].keys() and orders
        for client_order_id, (side, quantity, status, filled) in node["orders"].items():
            served = orders[client_order_id]
            assert (served["side"], served["quantity"], served["status"], served["filled_qty"]) == (
                side,
                quantity,
                status,
                filled,
            )
        assert len(get("/execution/fills")) >= sum(1 for o in node["orders"].values() if o[3] > 0)
        net = sum(p["quantity"] for p in get("/execution/positions"))
        assert net == pytest.approx(node["net_position"])
        assert get("/risk/state")["state"] in {"ACTIVE", "REDUCING", "HALTED"}
        assert get("/risk/limits") == {"halt_drawdown": 0.2}
        assert get("/risk/drawdown")["equity"] > 0
        versions = [m["version_id"] for m in get("/learning/models")]
        assert node["model_version"] in versions
        assert get(f"/learning/models/{node['model_version']}")["version_id"] == node["model_version"]
    finally:
        clear_trader(redis_settings, trader_id)
