"""The paper TradingNode (catalog replay + sandbox fills) against the backtest of the same window.

A walk-forward trains and registers a direction model and a regime model on the bundled AAPL daily
bars (one fold). The fold's test window (with its warm-up) then runs twice through the full chain
FeatureActor -> RegimeActor -> SignalActor -> MLStrategy (RiskGate) -> orders: as a backtest
(``node_config.ml_run``) and on a paper TradingNode fed by the ReplayDataClient with sandbox fills.

* ``ts_init="catalog"`` replays keep the catalog's timestamps: FeatureVectors, RegimeLabels,
  ModelSignals, risk decisions, orders and fills equal the backtest's (only the wall-clock stamps
  of order initialisation and risk decisions differ).
* ``ts_init="clock"`` replays (the live semantics) stamp ``ts_init`` with the node clock: the
  vectors and signals still equal the backtest's, value for value and ``ts_event`` for
  ``ts_event``; the orders do not, because MLStrategy and the RiskGuardActor compare
  ``trade_start`` with the signal's / bar's ``ts_init`` (now, in a live node), so the paper node
  trades from the first signal after the warm-up instead of from ``trade_start`` (see
  ``test_clock_replay_orders_match_the_backtest``, an expected failure until they compare
  ``ts_event``).
"""

import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pandas as pd
import pytest
import typer
from nautilus_trader.backtest.node import BacktestNode
from nautilus_trader.model.enums import OrderStatus
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from typer.testing import CliRunner

from nautilus_ai.backtest import node_config
from nautilus_ai.backtest.walkforward import run_walkforward
from nautilus_ai.cli_live import paper as paper_command
from nautilus_ai.live.paper import build_paper_node, paper_node_config
from nautilus_ai.live.runner import run_paper_node
from nautilus_ai.test_kit import demo_catalog, small_experiment

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]

TIMEOUT_S = 60.0
SIGNAL_COLUMNS = [
    "instrument_id",
    "direction",
    "probability",
    "confidence",
    "model_version",
    "regime",
    "ts_event",
]
DECISION_COLUMNS = ["instrument_id", "action", "reason", "requested_qty", "approved_qty", "trading_state"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Train and register one fold's models the way the walk-forward does."""
    tmp = tmp_path_factory.mktemp("paper-node")
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
    return {
        "cfg": cfg,
        "catalog": catalog,
        "registry": tmp / "registry",
        "model_version": fold["model_version"],
        "regime_version": fold["regime_version"],
        "start": start.isoformat(),
        "end": pd.Timestamp(fold["test_end"]).isoformat(),
        "trade_start": test_start.isoformat(),
        "tmp": tmp,
    }


def _orders(cache: Any) -> list[tuple]:
    """Side, quantity, type, status, average price and fill time of every order, in submission order."""
    rows = []
    for order in sorted(cache.orders(), key=lambda o: o.ts_init):
        fills = [e.ts_event for e in order.events if type(e).__name__ == "OrderFilled"]
        rows.append(
            (
                order.side.name,
                str(order.quantity),
                order.order_type.name,
                order.status.name,
                str(order.avg_px),
                fills,
            )
        )
    return rows


def _records(out: Path) -> dict[str, pd.DataFrame]:
    return {
        "features": pd.read_parquet(out / "features.parquet"),
        "signals": pd.read_parquet(out / "events" / "ModelSignal.parquet"),
        "regimes": pd.read_parquet(out / "events" / "RegimeLabel.parquet"),
        "decisions": pd.read_parquet(out / "events" / "RiskDecisionEvent.parquet"),
    }


@pytest.fixture(scope="module")
def backtest(trained: dict[str, Any]) -> dict[str, Any]:
    """The backtest of the window, with a FeatureRecorder and the EventRecorder."""
    out = trained["tmp"] / "backtest"
    cfg = trained["cfg"]
    run = node_config.ml_run(
        cfg,
        str(Path(trained["catalog"]).resolve()),
        registry_path=str(trained["registry"]),
        model_version=trained["model_version"],
        regime_version=trained["regime_version"],
        start=trained["start"],
        end=trained["end"],
        trade_start=trained["trade_start"],
        equity_path=str(out / "equity.parquet"),
        events_dir=str(out / "events"),
    )
    assert run.engine is not None
    actors = [*run.engine.actors, node_config.feature_recorder_config(cfg, str(out / "features.parquet"))]
    run = msgspec.structs.replace(run, engine=msgspec.structs.replace(run.engine, actors=actors))
    node = BacktestNode([run])
    node.run()
    engine = node.get_engine(run.id)
    assert engine is not None
    account = engine.cache.account_for_venue(Venue("XNAS"))
    result = {
        "orders": _orders(engine.cache),
        "balance": account.balance_total().as_double(),
        **_records(out),
    }
    node.dispose()
    return result


def _paper(trained: dict[str, Any], mode: str) -> dict[str, Any]:
    out = trained["tmp"] / f"paper-{mode}"
    config = paper_node_config(
        trained["cfg"],
        trained["catalog"],
        registry_path=trained["registry"],
        model_version=trained["model_version"],
        regime_version=trained["regime_version"],
        start=trained["start"],
        end=trained["end"],
        trade_start=trained["trade_start"],
        speed=0.0,
        ts_init=mode,  # type: ignore[arg-type]
        equity_path=out / "equity.parquet",
        events_dir=out / "events",
        features_path=out / "features.parquet",
        log_level="ERROR",
    )
    node = build_paper_node(config)
    started_ns = pd.Timestamp.now(tz="UTC").value
    result = run_paper_node(node, timeout_s=TIMEOUT_S, dispose=False)
    account = node.cache.account_for_venue(Venue("XNAS"))
    paper = {
        "result": result,
        "orders": _orders(node.cache),
        "balance": account.balance_total().as_double(),
        "positions": node.cache.positions(),
        "started_ns": started_ns,
    }
    node.dispose()
    return {**paper, **_records(out)}


@pytest.fixture(scope="module")
def paper_catalog(trained: dict[str, Any]) -> dict[str, Any]:
    return _paper(trained, "catalog")


@pytest.fixture(scope="module")
def paper_clock(trained: dict[str, Any]) -> dict[str, Any]:
    return _paper(trained, "clock")


def test_the_replay_finishes_within_the_timeout(
    paper_catalog: dict[str, Any], paper_clock: dict[str, Any]
) -> None:
    for paper in (paper_catalog, paper_clock):
        result = paper["result"]
        assert result.finished and not result.timed_out and result.error is None
        assert result.items == result.total > 100  # the window's daily bars
        assert result.wall_s < TIMEOUT_S


def test_catalog_replay_reproduces_the_backtest(
    backtest: dict[str, Any], paper_catalog: dict[str, Any]
) -> None:
    assert len(backtest["features"]) > 100
    pd.testing.assert_frame_equal(paper_catalog["features"], backtest["features"])
    pd.testing.assert_frame_equal(paper_catalog["regimes"], backtest["regimes"])
    pd.testing.assert_frame_equal(
        paper_catalog["signals"][[*SIGNAL_COLUMNS, "ts_init"]],
        backtest["signals"][[*SIGNAL_COLUMNS, "ts_init"]],
    )
    # risk decisions are stamped with the clock's now: wall-clock in the paper node
    pd.testing.assert_frame_equal(
        paper_catalog["decisions"][DECISION_COLUMNS], backtest["decisions"][DECISION_COLUMNS]
    )
    assert len(backtest["orders"]) > 5
    assert paper_catalog["orders"] == backtest["orders"]  # side, qty, type, status, price, fill time
    assert paper_catalog["balance"] == pytest.approx(backtest["balance"], abs=0.01)


def test_sandbox_fills_the_paper_orders(
    trained: dict[str, Any], paper_catalog: dict[str, Any], paper_clock: dict[str, Any]
) -> None:
    starting = trained["cfg"].venue.starting_balance
    for paper in (paper_catalog, paper_clock):
        assert paper["orders"], "the paper node submitted no orders"
        # the selector rests entries at the touch; the strategy cancels those its horizon leaves unfilled
        filled = [o for o in paper["orders"] if o[3] == OrderStatus.FILLED.name]
        assert filled and all(fills for *_, fills in filled)
        for _, _, order_type, status, _, fills in paper["orders"]:
            assert status == OrderStatus.FILLED.name or (
                status == OrderStatus.CANCELED.name and order_type == "LIMIT" and not fills
            )
        assert paper["positions"], "no position was opened"
        assert paper["balance"] != pytest.approx(starting)  # commissions and PnL reached the account


def test_clock_replay_stamps_now_and_keeps_features_and_signals(
    backtest: dict[str, Any], paper_clock: dict[str, Any]
) -> None:
    features, expected = paper_clock["features"], backtest["features"]
    pd.testing.assert_frame_equal(features.drop(columns=["ts_init"]), expected.drop(columns=["ts_init"]))
    assert (features["ts_init"] >= paper_clock["started_ns"]).all()  # the node clock's now
    assert features["ts_init"].is_monotonic_increasing
    pd.testing.assert_frame_equal(paper_clock["signals"][SIGNAL_COLUMNS], backtest["signals"][SIGNAL_COLUMNS])
    pd.testing.assert_frame_equal(
        paper_clock["regimes"].drop(columns=["ts_init", "ts"], errors="ignore"),
        backtest["regimes"].drop(columns=["ts_init", "ts"], errors="ignore"),
    )


def test_clock_replay_orders_match_the_backtest(
    backtest: dict[str, Any], paper_clock: dict[str, Any]
) -> None:
    assert [o[:3] for o in paper_clock["orders"]] == [o[:3] for o in backtest["orders"]]


def test_live_node_example_script_trades_on_the_replay(trained: dict[str, Any]) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "live_node.py"),
            "--catalog",
            str(trained["catalog"]),
            "--registry",
            str(trained["registry"]),
            "--model-version",
            trained["model_version"],
            "--regime-version",
            trained["regime_version"],
            "--start",
            trained["start"],
            "--end",
            trained["end"],
            "--timeout",
            str(TIMEOUT_S),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    replayed = result.stdout.split("replayed ")[1].split(" bars")[0]
    done, total = (int(n) for n in replayed.split("/"))
    assert done == total > 100
    orders, fills = result.stdout.split("\n")[1].split(" orders, ")
    assert int(orders) > 0 and int(fills.split(" fills")[0]) == int(orders)


def test_cli_paper_command_runs_the_node(trained: dict[str, Any], tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(paper_command)
    config = tmp_path / "experiment.toml"
    config.write_text(trained["cfg"].to_toml())
    result = CliRunner().invoke(
        app,
        [
            "--config",
            str(config),
            "--catalog",
            str(trained["catalog"]),
            "--registry",
            str(trained["registry"]),
            "--model-version",
            trained["model_version"],
            "--regime-version",
            trained["regime_version"],
            "--start",
            trained["start"],
            "--end",
            trained["end"],
            "--trade-start",
            trained["trade_start"],
            "--out",
            str(tmp_path / "out"),
            "--timeout",
            str(TIMEOUT_S),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "finished" in result.output and "True" in result.output
    signals = pd.read_parquet(tmp_path / "out" / "events" / "ModelSignal.parquet")
    assert len(signals) > 100
    assert (tmp_path / "out" / "equity.parquet").is_file()


def test_cli_paper_command_reports_a_missing_model(trained: dict[str, Any], tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(paper_command)
    config = tmp_path / "experiment.toml"
    config.write_text(trained["cfg"].to_toml())
    result = CliRunner().invoke(
        app,
        ["--config", str(config), "--registry", str(trained["registry"]), "--model-version", "nope-123"],
    )
    assert result.exit_code != 0
    assert "nope-123" in result.output


def _short_window_node(trained: dict[str, Any], speed: float, days: int) -> Any:
    start = pd.Timestamp(trained["start"])
    config = paper_node_config(
        trained["cfg"],
        trained["catalog"],
        registry_path=trained["registry"],
        model_version=trained["model_version"],
        regime_version=trained["regime_version"],
        start=start.isoformat(),
        end=(start + pd.Timedelta(days=days)).isoformat(),
        speed=speed,
        equity_path=trained["tmp"] / f"equity-{speed:g}.parquet",
        log_level="ERROR",
    )
    return build_paper_node(config)


def test_speed_paces_the_replay_by_the_bar_times(trained: dict[str, Any]) -> None:
    days_per_second = 20.0
    node = _short_window_node(trained, speed=days_per_second * 86_400, days=30)
    result = run_paper_node(node, timeout_s=TIMEOUT_S)
    assert result.finished and result.items == result.total > 15
    # the gaps between the first and last bar, at 20 days a second (weekends included)
    bars = ParquetDataCatalog(str(trained["catalog"])).bars(
        bar_types=trained["cfg"].data.bar_types(),
        start=pd.Timestamp(trained["start"]),
        end=pd.Timestamp(trained["start"]) + pd.Timedelta(days=30),
    )
    span_days = (bars[-1].ts_event - bars[0].ts_event) / 86_400e9
    assert result.wall_s >= 0.9 * span_days / days_per_second


def test_timeout_stops_a_real_time_replay(trained: dict[str, Any]) -> None:
    node = _short_window_node(trained, speed=1.0, days=30)  # daily bars in real time: days
    result = run_paper_node(node, timeout_s=3.0)
    assert result.timed_out and not result.finished
    assert 1 <= result.items < result.total
    assert result.wall_s < 15.0
