"""The ModelUpdaterActor: retrain in the background, evaluate the challenger in shadow, promote or reject.

One actor per served model and instrument closes the adaptive-learning loop inside a node:

1. **Trigger.** A :class:`~nautilus_ai.live.control.RetrainTrigger` on
   :data:`~nautilus_ai.live.control.RETRAIN_TOPIC` -- raised by the ExperienceActor's drift check,
   by an operator (ControlActor, API sidecar) or, with ``retrain_every_bars``, by this actor on a
   schedule -- starts an update when the actor is idle (later triggers are counted in
   :attr:`ModelUpdaterActor.ignored_triggers` until the cycle ends). The ExperienceActor writes its
   buffer when it sees the trigger (it subscribes at a higher priority), so the job reads the
   experiences up to this bar.
2. **Update in a background worker.** :func:`~nautilus_ai.learning.updater.run_update` runs in a
   separate process (``worker="process"``, default) or thread: it loads the served version and the
   buffer, refits stage 1 / fine-tunes stage 2 on the recent window plus a replay sample, and registers
   the result as a ``candidate`` whose parent is the served version. The event loop never waits for it:
   each bar only checks whether the job is done. With ``apply_after_bars = N`` the result is taken up
   exactly N bars after the trigger (the bar waits for the worker if it is not done yet), which makes
   a backtest's swaps -- and fills -- independent of the machine's speed.
3. **Shadow.** The candidate is scored beside the served version on the following FeatureVectors
   (:class:`~nautilus_ai.learning.shadow.ShadowSession`) until ``shadow_min_outcomes`` outcomes are
   resolved.
4. **Gate.** :func:`~nautilus_ai.learning.shadow.promote_after_shadow` records the shadow metrics on
   the candidate and promotes it through the :class:`~nautilus_ai.learning.promotion.PromotionGate`
   ``gate``. On a pass it publishes a :class:`~nautilus_ai.live.control.ModelSwap` and the SignalActor
   serving the model swaps between two events; on a refusal the candidate is archived with the gate's
   reasons. Either way the registry holds the whole story: the candidate with its parent, update
   parameters and hold-out metrics, its shadow metrics, and the promote or archive event.

The actor follows swaps from anyone (an operator's promote or rollback) so the next update starts from
the version that is served. :attr:`ModelUpdaterActor.cycles` lists every cycle.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import multiprocessing
from typing import Any, Literal

import numpy as np
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.identifiers import InstrumentId
from pydantic import ValidationError

from nautilus_ai.catalog.types import FeatureVector, RegimeLabel, topic_data_type
from nautilus_ai.errors import ConfigError, ModelError
from nautilus_ai.learning.promotion import PromotionGate
from nautilus_ai.learning.registry import ModelRecord, ModelRegistry
from nautilus_ai.learning.shadow import ShadowComparison, ShadowSession, promote_after_shadow
from nautilus_ai.learning.staged import StagedModel
from nautilus_ai.learning.updater import UpdateJob, UpdateOutcome, parse_update_config, run_update
from nautilus_ai.live.control import MODEL_SWAP_TOPIC, RETRAIN_TOPIC, ModelSwap, RetrainTrigger


class ModelUpdaterActorConfig(ActorConfig, frozen=True):
    """Configuration of a :class:`ModelUpdaterActor`.

    Parameters
    ----------
    instrument_id : InstrumentId
        The instrument whose FeatureVectors and bars drive the shadow evaluation.
    bar_type : BarType
        Its bars (they resolve the shadow outcomes and time the schedule).
    registry_path : str
        The model registry.
    model_version : str
        The version served at start (the SignalActor's).
    buffer_path : str
        The ExperienceActor's buffer file of this instrument.
    index_url : str, optional
        The registry's PostgreSQL index (SQLite in the registry folder when None).
    update : dict, optional
        :class:`~nautilus_ai.learning.updater.UpdateConfig` fields.
    retrain_every_bars : int, default 0
        Also trigger an update every this many bars (0: only when triggered).
    apply_after_bars : int, default 0
        0: take up the worker's result at the first bar after it is done; N: exactly N bars after the
        trigger (deterministic backtests).
    worker : {"process", "thread"}, default "process"
        Where the update runs.
    horizon_bars : int, default 1
        Bars between a signal and the close that resolves it (the label horizon).
    shadow_min_outcomes : int, default 50
        Resolved shadow outcomes before the gate decides.
    gate : dict, optional
        :class:`~nautilus_ai.learning.promotion.PromotionGate` fields (``champion_metric`` defaults to
        None here: the shadow metrics compare with the champion already); default: the challenger's
        Brier score must beat the champion's on the shadow events
        (``{"min_metrics": {"shadow_brier_improvement": 0.0}, "champion_metric": None}``).
    long_threshold, short_threshold : float
        Direction thresholds on P(up), as in the SignalActor.

    """

    instrument_id: InstrumentId
    bar_type: BarType
    registry_path: str
    model_version: str
    buffer_path: str
    index_url: str | None = None
    update: dict[str, Any] | None = None
    retrain_every_bars: int = 0
    apply_after_bars: int = 0
    worker: str = "process"
    horizon_bars: int = 1
    shadow_min_outcomes: int = 50
    gate: dict[str, Any] | None = None
    long_threshold: float = 0.55
    short_threshold: float = 0.45


DEFAULT_SHADOW_GATE: dict[str, Any] = {
    "min_metrics": {"shadow_brier_improvement": 0.0},
    "champion_metric": None,
}
"""The default gate of a shadow-evaluated update: a lower Brier score than the champion's."""


@dataclasses.dataclass
class UpdateCycle:
    """One trigger's way through the loop.

    Attributes
    ----------
    trigger : RetrainTrigger
        What started it.
    trigger_bar : int
        The actor's bar count at the trigger.
    parent_version : str
        The version served then.
    outcome : UpdateOutcome or None
        The worker's answer (None while it runs).
    comparison : ShadowComparison or None
        The shadow comparison (None until enough outcomes).
    promoted : bool or None
        True promoted, False rejected by the gate, None undecided (or the update failed).
    error : str or None
        Why the update failed or the gate refused.
    bars : dict[str, int]
        Bar counts at which the candidate was taken up and the gate decided.

    """

    trigger: RetrainTrigger
    trigger_bar: int
    parent_version: str
    outcome: UpdateOutcome | None = None
    comparison: ShadowComparison | None = None
    promoted: bool | None = None
    error: str | None = None
    bars: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def candidate(self) -> str | None:
        """The candidate version registered by the update (None when it failed or still runs)."""
        return None if self.outcome is None else self.outcome.version_id


def _nonnegative_int(config: ModelUpdaterActorConfig, name: str, minimum: int = 0) -> int:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"ModelUpdaterActorConfig.{name}={value!r} is invalid: set an integer >= {minimum}")
    return value


class ModelUpdaterActor(Actor):
    """Retrain on triggers in a background worker, shadow the candidate, and promote it through the gate.

    Parameters
    ----------
    config : ModelUpdaterActorConfig
        The configuration.

    Raises
    ------
    ConfigError
        If a count, the worker kind, the thresholds, the update settings or the gate are invalid.

    Attributes
    ----------
    cycles : list[UpdateCycle]
        Every update cycle, in order.
    ignored_triggers : list[RetrainTrigger]
        Triggers that arrived while a cycle was running.
    served_version : str
        The version the SignalActor serves now (as far as the swaps on the bus tell).

    """

    def __init__(self, config: ModelUpdaterActorConfig) -> None:
        super().__init__(config)
        self._every = _nonnegative_int(config, "retrain_every_bars")
        self._apply_after = _nonnegative_int(config, "apply_after_bars")
        self._horizon = _nonnegative_int(config, "horizon_bars", 1)
        self._min_outcomes = _nonnegative_int(config, "shadow_min_outcomes", 1)
        if config.worker not in ("process", "thread"):
            raise ConfigError(f"ModelUpdaterActorConfig.worker={config.worker!r}: use 'process' or 'thread'")
        if not 0.0 <= config.short_threshold <= config.long_threshold <= 1.0:
            raise ConfigError(
                "ModelUpdaterActorConfig thresholds must satisfy 0 <= short_threshold <= long_threshold <= 1"
            )
        self._update = parse_update_config(config.update, "ModelUpdaterActorConfig.update")
        try:
            gate = DEFAULT_SHADOW_GATE if config.gate is None else {"champion_metric": None, **config.gate}
            self._gate = PromotionGate(**gate)
        except ValidationError as exc:
            raise ConfigError(f"ModelUpdaterActorConfig.gate is not a valid PromotionGate: {exc}") from exc
        self._worker: Literal["process", "thread"] = "process" if config.worker == "process" else "thread"
        self._feature_type = topic_data_type(FeatureVector, config.instrument_id)
        self._regime_type = topic_data_type(RegimeLabel, config.instrument_id)
        self._pending_vectors: dict[int, FeatureVector] = {}
        self._labels: dict[int, RegimeLabel] = {}
        self.cycles: list[UpdateCycle] = []
        self.ignored_triggers: list[RetrainTrigger] = []
        self.served_version: str = config.model_version
        self._model_name: str | None = None
        self._executor: cf.Executor | None = None
        self._future: cf.Future[UpdateOutcome] | None = None
        self._session: ShadowSession | None = None
        self._records: tuple[ModelRecord, ModelRecord] | None = None
        self._n_bars = 0

    # -- lifecycle ------------------------------------------------------------------------------------

    def on_start(self) -> None:
        """Look up the served model's name and subscribe to triggers, swaps, bars and vectors.

        Raises
        ------
        ModelError
            If the served version is not registered.

        """
        self._model_name = self._registry().get(self.served_version).name
        self.msgbus.subscribe(topic=RETRAIN_TOPIC, handler=self._on_trigger)
        self.msgbus.subscribe(topic=MODEL_SWAP_TOPIC, handler=self._on_swap)
        self.subscribe_bars(self.config.bar_type)
        self.subscribe_data(self._feature_type, instrument_id=self.config.instrument_id)
        self.subscribe_data(self._regime_type, instrument_id=self.config.instrument_id)

    def on_stop(self) -> None:
        """Unsubscribe and shut the worker down (a running update is left to finish on its own)."""
        self.msgbus.unsubscribe(topic=RETRAIN_TOPIC, handler=self._on_trigger)
        self.msgbus.unsubscribe(topic=MODEL_SWAP_TOPIC, handler=self._on_swap)
        self.unsubscribe_bars(self.config.bar_type)
        self.unsubscribe_data(self._feature_type, instrument_id=self.config.instrument_id)
        self.unsubscribe_data(self._regime_type, instrument_id=self.config.instrument_id)
        self._shutdown()

    def on_dispose(self) -> None:
        """Shut the worker down."""
        self._shutdown()

    def _shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def _registry(self) -> ModelRegistry:
        return ModelRegistry(self.config.registry_path, index_url=self.config.index_url)

    @property
    def busy(self) -> bool:
        """True while an update runs or its candidate is in shadow."""
        return self._future is not None or self._session is not None

    # -- triggers ------------------------------------------------------------------------------------

    def _on_trigger(self, message: object) -> None:
        if not isinstance(message, RetrainTrigger):
            self.log.error(f"Ignored {type(message).__name__} on {RETRAIN_TOPIC}: expected RetrainTrigger")
            return
        if message.model_name is not None and message.model_name != self._model_name:
            return
        if self.busy:
            self.ignored_triggers.append(message)
            self.log.info(f"Retrain trigger ignored while an update cycle runs: {message.reason}")
            return
        self._start_update(message)

    def _start_update(self, trigger: RetrainTrigger) -> None:
        job = UpdateJob(
            registry_path=self.config.registry_path,
            parent_version=self.served_version,
            buffer_path=self.config.buffer_path,
            config=self._update.model_dump(),
            reason=trigger.reason,
            index_url=self.config.index_url,
        )
        if self._executor is None:
            self._executor = (
                cf.ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
                if self._worker == "process"
                else cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-updater")
            )
        self.cycles.append(UpdateCycle(trigger, self._n_bars, self.served_version))
        self._future = self._executor.submit(run_update, job)
        self.log.warning(
            f"Update of {self.served_version} started in a background {self._worker}: {trigger.reason}"
        )

    def _on_swap(self, message: object) -> None:
        if isinstance(message, ModelSwap) and message.name == self._model_name:
            self.served_version = message.version_id

    # -- events --------------------------------------------------------------------------------------

    def on_bar(self, bar: Bar) -> None:
        """Take up a finished update, feed the shadow session, and run the schedule."""
        if bar.bar_type != self.config.bar_type:
            return
        self._n_bars += 1
        self._poll_worker()
        if self._session is not None:
            comparison = self._session.add_bar(bar.ts_event, bar.close.as_double())
            if comparison is not None:
                self._decide(comparison)
        if self._every and self._n_bars % self._every == 0 and not self.busy:
            now = self.clock.timestamp_ns()
            trigger = RetrainTrigger(
                reason=f"schedule: every {self._every} bars",
                model_name=self._model_name,
                actor=str(self.id),
                command_id=f"schedule-{self.id}-{now}",
                ts_event=now,
            )
            self.msgbus.publish(topic=RETRAIN_TOPIC, msg=trigger)

    def on_data(self, data: Data) -> None:
        """Score a FeatureVector (with its bar's RegimeLabel for models with regimes) in shadow."""
        if getattr(data, "instrument_id", None) != self.config.instrument_id:
            return
        if isinstance(data, RegimeLabel):
            self._labels[data.ts_event] = data
            vector = self._pending_vectors.pop(data.ts_event, None)
            if vector is not None:
                self._score(vector, data)
        elif isinstance(data, FeatureVector):
            label = self._labels.get(data.ts_event)
            if self._session is not None and self._session.regime_names and label is None:
                self._pending_vectors[data.ts_event] = data  # the RegimeActor publishes after the vector
            else:
                self._score(data, label)
        for pending in (self._pending_vectors, self._labels):
            for ts in sorted(pending)[:-4]:
                del pending[ts]

    def _score(self, vector: FeatureVector, label: RegimeLabel | None) -> None:
        session = self._session
        if session is None:
            return
        regime = None
        if session.regime_names:
            if label is None:
                return
            probabilities = label.probabilities or {}
            regime = np.array([float(probabilities.get(r, np.nan)) for r in session.regime_names])
        comparison = session.add_vector(vector, regime)
        if comparison is not None:
            self._decide(comparison)

    def _poll_worker(self) -> None:
        future = self._future
        if future is None:
            return
        cycle = self.cycles[-1]
        if not future.done():
            if not self._apply_after or self._n_bars - cycle.trigger_bar < self._apply_after:
                return
            self.log.warning(
                f"Update worker still running {self._apply_after} bars after the trigger: waiting for it"
            )
        self._future = None
        try:
            outcome = future.result()
        except Exception as exc:  # a crashed worker process, or a bug in the job
            outcome = UpdateOutcome(None, cycle.parent_version, {}, {}, error=f"{type(exc).__name__}: {exc}")
        cycle.outcome = outcome
        cycle.bars["candidate"] = self._n_bars
        if outcome.version_id is None:
            cycle.error = outcome.error
            self.log.error(f"Update of {cycle.parent_version} failed: {outcome.error}")
            return
        self.log.warning(
            f"Candidate {outcome.version_id} registered (parent {outcome.parent_version}, "
            f"stages {outcome.stages}); shadow evaluation for {self._min_outcomes} outcomes"
        )
        self._start_shadow(cycle, outcome.version_id)

    def _load(self, registry: ModelRegistry, version_id: str) -> tuple[ModelRecord, StagedModel]:
        record = registry.get(version_id)
        loaded = registry.load(version_id)
        model = loaded if isinstance(loaded, StagedModel) else StagedModel(loaded)
        model.long_threshold = float(self.config.long_threshold)
        model.short_threshold = float(self.config.short_threshold)
        return record, model

    def _start_shadow(self, cycle: UpdateCycle, candidate: str) -> None:
        registry = self._registry()
        try:
            champion_record, champion = self._load(registry, self.served_version)
            challenger_record, challenger = self._load(registry, candidate)
            self._session = ShadowSession(champion, challenger, self._horizon, self._min_outcomes)
        except ModelError as exc:
            cycle.error = str(exc)
            self.log.error(f"Candidate {candidate} cannot be evaluated in shadow: {exc}")
            return
        self._records = (champion_record, challenger_record)

    def _decide(self, comparison: ShadowComparison) -> None:
        assert self._records is not None
        cycle = self.cycles[-1]
        champion, challenger = self._records
        self._session, self._records = None, None
        cycle.comparison = comparison
        cycle.bars["decided"] = self._n_bars
        if champion.version_id != self.served_version:  # an operator swapped meanwhile
            cycle.promoted, cycle.error = (
                False,
                (f"the served version changed to {self.served_version} during the shadow evaluation"),
            )
            self._registry().set_status(
                challenger.version_id, "archived", actor=f"updater:{self.id}", reason=cycle.error
            )
            return
        attempt = promote_after_shadow(
            self._registry(),
            champion,
            challenger,
            comparison,
            self._gate,
            actor=f"updater:{self.id}",
            ts_event=self.clock.timestamp_ns(),
            archive_refused=True,
        )
        if attempt.swap is None:
            cycle.promoted, cycle.error = False, attempt.error
            self.log.warning(f"Candidate {challenger.version_id} rejected by the gate: {attempt.error}")
            return
        cycle.promoted = True
        self.log.warning(
            f"Candidate {challenger.version_id} promoted over {champion.version_id} after "
            f"{comparison.outcomes} shadow outcomes; publishing ModelSwap"
        )
        self.msgbus.publish(MODEL_SWAP_TOPIC, attempt.swap)


def learning_rows(actors: list[Any]) -> list[tuple[str, str]]:
    """Return summary rows (item, value) of a node's ExperienceActors and ModelUpdaterActors.

    Parameters
    ----------
    actors : list
        The node's actors (``node.trader.actors()``).

    Returns
    -------
    list[tuple[str, str]]
        Experiences and drift triggers per instrument, then one row per update cycle
        (``trigger -> candidate -> promoted / rejected / failed``).

    """
    from nautilus_ai.learning.experience_actor import ExperienceActor

    rows: list[tuple[str, str]] = []
    for actor in actors:
        if isinstance(actor, ExperienceActor) and actor.buffer is not None:
            rows.append(
                (
                    f"experiences {actor.config.instrument_id}",
                    f"{len(actor.buffer)} ({len(actor.buffer.resolved())} resolved), "
                    f"{len(actor.triggers)} drift trigger(s)",
                )
            )
        if isinstance(actor, ModelUpdaterActor):
            for i, cycle in enumerate(actor.cycles, 1):
                verdict = {True: "promoted", False: "rejected", None: "undecided"}[cycle.promoted]
                if cycle.outcome is not None and cycle.candidate is None:
                    verdict = "failed"
                rows.append(
                    (
                        f"update {i} {actor.config.instrument_id}",
                        f"{cycle.trigger.reason[:40]} -> {cycle.candidate or cycle.error or 'running'} "
                        f"-> {verdict}",
                    )
                )
    return rows
