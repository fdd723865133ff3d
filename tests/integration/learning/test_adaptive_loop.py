"""The adaptive-learning loop on a replayed paper node, end to end, visible in the registry.

A one-fold walk-forward trains and registers a direction model on the bundled AAPL daily bars; it is
made champion. A paper TradingNode (catalog replay, sandbox fills) then replays the fold's test window
with ``[learning] enabled``: ``paper_node_config`` adds an ExperienceActor (drift reference: the
walk-forward's features over the served model's training window) and a ModelUpdaterActor with a
background *process* worker. The run must show, in order: experiences collected; a drift check that
raises a retrain trigger; an update registered as a candidate whose parent is the champion; the
candidate scored in shadow; the gate's decision recorded in the registry; and -- with a gate that
passes -- the SignalActor serving the new version from the promotion on (the signals' model_version).
With a gate that cannot pass, the candidate is archived with the gate's reasons and the champion keeps
serving. ``apply_after_bars`` makes the candidate's arrival bar, and so the run, independent of the
machine's speed. The other runs use a thread worker (the same job, without the process start-up).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from nautilus_ai.learning.experience import ExperienceBuffer
from nautilus_ai.learning.experience_actor import ExperienceActor
from nautilus_ai.learning.registry import ModelRegistry
from nautilus_ai.learning.signal_actor import SignalActor
from nautilus_ai.learning.updater_actor import ModelUpdaterActor
from nautilus_ai.live.paper import build_paper_node, paper_node_config
from nautilus_ai.live.runner import run_paper_node
from nautilus_ai.test_kit import one_fold_aapl

pytestmark = pytest.mark.slow

IID = "AAPL.XNAS"
APPLY_AFTER_BARS = 3


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Train one fold, register it, and make it the champion."""
    trained = one_fold_aapl(tmp_path_factory.mktemp("adaptive"), test="365D")
    registry = ModelRegistry(trained["registry"])
    registry.set_status(trained["model_version"], "champion", actor="test", reason="the served model")
    return {**trained, "test_start": trained["test_start"].isoformat()}


def _learning(gate: dict[str, Any], worker: str = "thread") -> dict[str, Any]:
    return {
        "enabled": True,
        "drift_every_bars": 10,
        "drift_window": 60,
        "drift": {"min_samples": 50},
        "cooldown_bars": 1000,
        "apply_after_bars": APPLY_AFTER_BARS,
        "worker": worker,
        "shadow_min_outcomes": 25,
        "update": {"recent_window": 40, "replay_size": 0, "min_rows": 25, "holdout_fraction": 0.25},
        "gate": gate,
    }


def _replay(
    trained: dict[str, Any], name: str, gate: dict[str, Any], worker: str = "thread"
) -> dict[str, Any]:
    """Run the paper node with [learning] enabled; return its actors and the registry state."""
    out = trained["tmp"] / name
    cfg = trained["cfg"].model_copy(
        update={"learning": trained["cfg"].learning.model_validate(_learning(gate, worker))}
    )
    config = paper_node_config(
        cfg,
        trained["catalog"],
        registry_path=trained["registry"],
        model_version=trained["model_version"],
        start=trained["start"],
        end=trained["end"],
        trade_start=trained["test_start"],
        speed=0.0,
        equity_path=out / "equity.parquet",
        events_dir=out / "events",
        experience_dir=out / "experience",
        reference_features=trained["features"],
        log_level="ERROR",
    )
    node = build_paper_node(config)
    run_paper_node(node, timeout_s=240.0, dispose=False)
    actors = {type(a): a for a in node.trader.actors()}
    result = {
        "experience": actors[ExperienceActor],
        "updater": actors[ModelUpdaterActor],
        "signal": actors[SignalActor],
        "signals": pd.read_parquet(out / "events" / "ModelSignal.parquet"),
        "buffer": out / "experience" / f"experience-{IID}.parquet",
    }
    node.dispose()
    return result


@pytest.fixture(scope="module")
def promoted(trained: dict[str, Any]) -> dict[str, Any]:
    gate = {"champion_metric": None, "min_metrics": {"shadow_outcomes": 25}}
    return _replay(trained, "promote", gate, worker="process")


def test_drift_triggers_an_update_that_is_promoted_and_served(trained, promoted):
    registry = ModelRegistry(trained["registry"])
    experience, updater, signal = promoted["experience"], promoted["updater"], promoted["signal"]
    champion = trained["model_version"]

    # experiences collected and saved, the drift check raised the trigger
    buffer = ExperienceBuffer.load(promoted["buffer"])
    assert len(buffer.resolved()) >= 40
    assert experience.triggers and experience.triggers[0].reason.startswith("drift: ")
    # one cycle: trigger -> candidate (in a worker process) -> shadow -> gate -> swap
    cycle = updater.cycles[0]
    assert cycle.trigger == experience.triggers[0]
    assert cycle.parent_version == champion
    assert cycle.bars["candidate"] == cycle.trigger_bar + APPLY_AFTER_BARS
    candidate = cycle.candidate
    assert candidate is not None and candidate != champion and cycle.promoted is True
    assert cycle.comparison is not None and cycle.comparison.outcomes >= 25

    # the registry tells the whole story
    record = registry.get(candidate)
    assert record.parent == champion and record.status == "champion"
    assert record.params["update"]["reason"] == cycle.trigger.reason
    assert record.params["update"]["stages"]["stage1"] == "refit"
    assert {"holdout_brier", "holdout_brier_old", "update_recent_rows"} <= set(record.metrics)
    assert record.oos_metrics["shadow_outcomes"] == cycle.comparison.outcomes
    assert registry.get(champion).status == "archived"
    event = registry.history(record.name)[-1]
    assert (event.version_id, event.action, event.previous_version) == (candidate, "promote", champion)
    assert event.actor.startswith("updater:")

    # the SignalActor swapped between two events: the old version up to the promotion, the new after
    assert signal.swaps and signal.swaps[0][1:] == (champion, candidate)
    versions = promoted["signals"]["model_version"].tolist()
    cut = versions.index(candidate)
    assert set(versions[:cut]) == {champion} and set(versions[cut:]) == {candidate}
    assert updater.served_version == candidate


def test_a_gate_that_cannot_pass_archives_the_candidate_and_keeps_the_champion(trained, promoted):
    registry = ModelRegistry(trained["registry"])
    served = registry.champion(registry.get(trained["model_version"]).name)
    assert served is not None
    # the previous test's promotion made the update champion: serve it and run again
    trained_again = {**trained, "model_version": served.version_id}
    gate = {"champion_metric": None, "min_metrics": {"shadow_brier_improvement": 1.0}}
    result = _replay(trained_again, "reject", gate)

    cycle = result["updater"].cycles[0]
    assert cycle.parent_version == served.version_id and cycle.promoted is False
    assert cycle.error is not None and "shadow_brier_improvement" in cycle.error
    candidate = registry.get(cycle.candidate)
    assert candidate.status == "archived" and candidate.parent == served.version_id
    event = registry.history(candidate.name)[-1]
    assert event.version_id == candidate.version_id and event.action == "set_status"
    assert "rejected by the promotion gate" in (event.reason or "")
    assert registry.champion(candidate.name).version_id == served.version_id
    assert result["signal"].swaps == []
    assert set(result["signals"]["model_version"]) == {served.version_id}


def test_a_schedule_triggers_updates_without_a_drift_reference(trained):
    learning = {
        **_learning({"champion_metric": None, "min_metrics": {"shadow_outcomes": 25}}),
        "retrain_every_bars": 100,
    }
    cfg = trained["cfg"].model_copy(update={"learning": trained["cfg"].learning.model_validate(learning)})
    registry = ModelRegistry(trained["registry"])
    served = registry.champion(registry.get(trained["model_version"]).name)
    assert served is not None
    out = trained["tmp"] / "schedule"
    config = paper_node_config(
        cfg,
        trained["catalog"],
        registry_path=trained["registry"],
        model_version=served.version_id,
        start=trained["start"],
        end=trained["end"],
        trade_start=trained["test_start"],
        speed=0.0,
        equity_path=out / "equity.parquet",
        experience_dir=out / "experience",
        log_level="ERROR",
    )
    node = build_paper_node(config)
    run_paper_node(node, timeout_s=240.0, dispose=False)
    updater = next(a for a in node.trader.actors() if isinstance(a, ModelUpdaterActor))
    experience = next(a for a in node.trader.actors() if isinstance(a, ExperienceActor))
    node.dispose()

    assert experience.monitor is None and experience.triggers == []  # no reference: no drift checks
    assert updater.cycles and all(c.trigger.reason == "schedule: every 100 bars" for c in updater.cycles)
    assert updater.cycles[0].trigger_bar == 100
    assert updater.cycles[0].candidate is not None


def test_a_staged_model_with_regimes_is_fine_tuned_shadowed_and_swapped(tmp_path_factory):
    """Regimes (GMM) and all three stages: experiences keep the regime probabilities of their bars."""
    trained = one_fold_aapl(
        tmp_path_factory.mktemp("adaptive-regimes"),
        test="365D",
        regime={"enabled": True, "kind": "gmm", "n_states": 2},
        model={
            "stage2": {"enabled": True, "window": 5, "hidden": 4, "max_epochs": 3, "patience": 2},
            "stage3": {"enabled": True},
        },
    )
    registry = ModelRegistry(trained["registry"])
    champion = trained["model_version"]
    registry.set_status(champion, "champion", actor="test", reason="the served model")
    learning = {
        **_learning({"champion_metric": None, "min_metrics": {"shadow_outcomes": 25}}),
        "update": {"recent_window": 80, "replay_size": 0, "min_rows": 25, "finetune_epochs": 2},
        "drift": {"min_samples": 90},
        "drift_window": 90,
    }
    cfg = trained["cfg"].model_copy(update={"learning": trained["cfg"].learning.model_validate(learning)})
    out = trained["tmp"] / "paper"
    config = paper_node_config(
        cfg,
        trained["catalog"],
        registry_path=trained["registry"],
        model_version=champion,
        regime_version=trained["fold"]["regime_version"],
        start=trained["start"],
        end=trained["end"],
        trade_start=trained["test_start"].isoformat(),
        speed=0.0,
        equity_path=out / "equity.parquet",
        events_dir=out / "events",
        experience_dir=out / "experience",
        reference_features=trained["features"],
        log_level="ERROR",
    )
    node = build_paper_node(config)
    run_paper_node(node, timeout_s=240.0, dispose=False)
    actors = {type(a): a for a in node.trader.actors()}
    updater, experience, signal = actors[ModelUpdaterActor], actors[ExperienceActor], actors[SignalActor]
    node.dispose()

    model = registry.load(champion)
    assert model.regime_names and experience.buffer is not None
    assert experience.buffer.regime_names == model.regime_names
    kept = np.vstack([e.regime for e in experience.buffer.resolved()])
    assert np.isfinite(kept).all() and np.allclose(kept.sum(axis=1), 1.0)
    cycle = updater.cycles[0]
    assert cycle.outcome is not None and cycle.outcome.stages["stage2"] == "fine_tune", cycle.error
    assert cycle.outcome.stages["stage1"] == "refit"
    assert cycle.promoted is True and signal.swaps[0][1:] == (champion, cycle.candidate)
    assert registry.get(cycle.candidate).parent == champion
