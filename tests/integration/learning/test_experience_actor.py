"""The ExperienceActor in a real backtest of the whole chain on the bundled AAPL daily bars.

A one-fold walk-forward trains and registers a direction model; the fold's test window (with its
feature warm-up) then runs through FeatureActor -> SignalActor -> MLStrategy (``node_config.ml_run``)
with two ExperienceActors added by ``learning_configs``:

* ``volatile``: its drift reference is the walk-forward's features of the turbulent second half of
  2015 (the August 2015 crash and the January 2016 sell-off), while the test window (late 2016 to
  mid 2017) is calm: the scheduled drift check must raise a retrain trigger on the bus;
* ``same``: its reference is the features of the test window itself: the check over every decision
  of the window must find no drift.

The experiences' outcomes must equal the forward returns of the catalog's closes.
"""

from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pytest
from nautilus_trader.backtest.node import BacktestNode

from nautilus_ai.backtest import node_config
from nautilus_ai.backtest.learning_configs import experience_actor_config, experience_buffer_path
from nautilus_ai.learning.drift import DRIFT_TOPIC, DriftReport
from nautilus_ai.learning.experience import ExperienceBuffer
from nautilus_ai.learning.experience_actor import ExperienceActor
from nautilus_ai.learning.labels import forward_returns
from nautilus_ai.live.control import RETRAIN_TOPIC, RetrainTrigger
from nautilus_ai.test_kit import one_fold_aapl

pytestmark = pytest.mark.slow

IID = "AAPL.XNAS"
VOLATILE = ("2015-07-01T00:00:00+00:00", "2016-03-01T00:00:00+00:00")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Train and register one fold's direction model the way the walk-forward does."""
    return one_fold_aapl(tmp_path_factory.mktemp("experience"))


def _node(trained: dict[str, Any], out: Path, start: str, end: str, actors: list[Any]) -> tuple[Any, Any]:
    """Build a BacktestNode of the ml_run chain over ``start``..``end`` plus ``actors``."""
    run = node_config.ml_run(
        trained["cfg"],
        str(Path(trained["catalog"]).resolve()),
        registry_path=str(trained["registry"]),
        model_version=trained["model_version"],
        start=start,
        end=end,
        trade_start=trained["test_start"].isoformat(),
        equity_path=str(out / "equity.parquet"),
    )
    assert run.engine is not None
    run = msgspec.structs.replace(
        run, engine=msgspec.structs.replace(run.engine, actors=[*run.engine.actors, *actors])
    )
    node = BacktestNode([run])
    node.build()
    engine = node.get_engine(run.id)
    assert engine is not None
    return node, engine


def _experience_actors(engine: Any) -> dict[str, ExperienceActor]:
    return {str(a.id): a for a in engine.trader.actors() if isinstance(a, ExperienceActor)}


def _run(trained: dict[str, Any], out: Path) -> dict[str, Any]:
    cfg = trained["cfg"]
    bar_type = cfg.data.bar_types()[0]
    volatile = experience_actor_config(
        IID,
        bar_type,
        experience_buffer_path(out / "volatile", IID),
        horizon_bars=cfg.label.horizon_bars,
        reference_path=trained["features"],
        reference_start=VOLATILE[0],
        reference_end=VOLATILE[1],
        drift_every_bars=20,
        drift_window=60,
    )
    same = experience_actor_config(
        IID,
        bar_type,
        experience_buffer_path(out / "same", IID),
        horizon_bars=cfg.label.horizon_bars,
        reference_path=trained["features"],
        reference_start=trained["test_start"].isoformat(),
        reference_end=trained["end"],
        drift_every_bars=10_000,
        drift_window=10_000,
    )
    same = msgspec.structs.replace(same, config={**same.config, "component_id": f"ExperienceActorSame-{IID}"})
    node, engine = _node(trained, out, trained["start"], trained["end"], [volatile, same])
    received: list[RetrainTrigger] = []
    reports: list[DriftReport] = []
    engine.kernel.msgbus.subscribe(topic=RETRAIN_TOPIC, handler=received.append)
    engine.kernel.msgbus.subscribe(topic=DRIFT_TOPIC, handler=reports.append)
    node.run()
    actors = _experience_actors(engine)
    result: dict[str, Any] = {
        "volatile": actors[f"ExperienceActor-{IID}"],
        "same": actors[f"ExperienceActorSame-{IID}"],
        "received": received,
        "reports": reports,
        "n_orders": len(engine.cache.orders()),
        "out": out,
    }
    same_report = result["same"].check_drift()
    assert same_report is not None
    result["same_report"] = same_report
    node.dispose()
    return result


@pytest.fixture(scope="module")
def backtest(trained: dict[str, Any]) -> dict[str, Any]:
    return _run(trained, trained["tmp"] / "backtest")


def test_experiences_pair_every_signal_and_resolve_to_forward_returns(trained, backtest):
    buffer = backtest["volatile"].buffer
    assert buffer is not None and len(buffer) > 100
    assert backtest["volatile"].unpaired_signals == 0
    horizon = trained["cfg"].label.horizon_bars
    expected = forward_returns(trained["closes"], horizon)
    resolved = buffer.resolved()
    assert len(buffer.pending()) == horizon  # the last decisions wait for bars past the window
    assert len(resolved) == len(buffer) - horizon
    for e in resolved:
        ts = pd.Timestamp(e.ts_event, tz="UTC")
        assert e.entry_close == trained["closes"][ts]
        assert e.outcome is not None
        assert e.outcome.forward_return == pytest.approx(expected[ts], rel=1e-12, abs=1e-15)
        assert np.isfinite(e.outcome.pnl)
        assert e.features.shape == (len(buffer.feature_names),) and np.isfinite(e.features).any()
    if backtest["n_orders"]:
        assert any(e.outcome is not None and e.outcome.n_fills > 0 for e in resolved)
        assert any(e.outcome is not None and e.outcome.pnl != 0.0 for e in resolved)


def test_buffer_is_written_on_stop_and_reloads(trained, backtest):
    path = experience_buffer_path(backtest["out"] / "volatile", IID)
    loaded = ExperienceBuffer.load(path)
    live = backtest["volatile"].buffer
    assert loaded.keys() == live.keys()
    assert [e.outcome for e in loaded] == [e.outcome for e in live]


def test_drift_against_a_volatile_reference_raises_a_retrain_trigger(backtest):
    actor = backtest["volatile"]
    assert actor.reports, "the scheduled drift check never ran"
    assert actor.triggers
    trigger, report = actor.triggers[0], actor.trigger_reports[0]
    assert isinstance(trigger, RetrainTrigger)
    assert trigger.actor == f"ExperienceActor-{IID}"
    assert trigger.model_name == "small-direction"
    assert report.drifted and report.drifted_features
    # the training window's volatility is far above the calm test window's
    assert {"rvol", "atr_ratio"} <= set(report.drifted_features)
    assert all(name in trigger.reason for name in report.drifted_features)
    assert backtest["received"] == actor.triggers
    assert backtest["reports"] == actor.trigger_reports


def test_reference_from_the_same_window_finds_no_drift(backtest):
    report = backtest["same_report"]
    assert report is not None and report.n_current > 100
    assert not report.drifted, report.reasons
    assert backtest["same"].triggers == []


def test_restart_keeps_the_buffer_and_resolves_pending_decisions(trained, backtest):
    """Two runs split mid-window with one buffer file give the experiences of the single run."""
    out = trained["tmp"] / "restart"
    cfg = trained["cfg"]
    path = experience_buffer_path(out, IID)
    actor = experience_actor_config(IID, cfg.data.bar_types()[0], path, horizon_bars=cfg.label.horizon_bars)
    times = trained["closes"].index
    i_mid = int(times.searchsorted(trained["test_start"])) + 60
    first_end = times[i_mid].isoformat()
    second_start = times[i_mid - trained["warmup"] - 10].isoformat()

    node, engine = _node(trained, out / "a", trained["start"], first_end, [actor])
    node.run()
    first = _experience_actors(engine)[f"ExperienceActor-{IID}"]
    assert first.buffer is not None
    n_first, pending_first = len(first.buffer), first.buffer.pending()
    node.dispose()
    assert pending_first, "the first run should end with unresolved decisions"

    node, engine = _node(trained, out / "b", second_start, trained["end"], [actor])
    node.run()
    second = _experience_actors(engine)[f"ExperienceActor-{IID}"]
    node.dispose()

    single = backtest["volatile"].buffer
    assert single is not None
    restarted = ExperienceBuffer.load(path)
    assert second.replayed_signals > 0
    assert restarted.keys()[:n_first] == list(range(n_first))
    assert [e.ts_event for e in restarted] == [e.ts_event for e in single]
    for a, b in zip(restarted, single, strict=True):
        assert (a.outcome is None) == (b.outcome is None)
        if a.outcome is not None and b.outcome is not None:
            assert a.outcome.forward_return == pytest.approx(b.outcome.forward_return, rel=1e-12, abs=1e-15)
    for key in pending_first:  # resolved after the restart, P&L unknown across it
        outcome = restarted.get(key).outcome
        assert outcome is not None and np.isnan(outcome.pnl)
