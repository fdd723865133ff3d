"""The shadow evaluator: a challenger model scored beside the champion on live (or replayed) data.

:class:`ShadowEvaluator` is an Actor that loads two registered versions -- the champion (served for
trading by a :class:`~nautilus_ai.learning.signal_actor.SignalActor`) and a challenger -- and scores
both on the same FeatureVectors of one instrument. It never trades and publishes no ModelSignal: it
records both models' signals (:attr:`ShadowEvaluator.records`) and resolves each one with the
forward return of the instrument's bars ``horizon_bars`` bars later (close-to-close, from the bar of
the vector's ``ts_event``).

After ``min_outcomes`` resolved outcomes it computes a :class:`ShadowComparison`
(:func:`compare_shadow`, a pure function): each model's hit rate (directional signals whose sign
matches the forward return's) and Brier score, and the paired per-event difference of the Brier
losses (champion minus challenger: positive means the challenger is better) with its standard error
and t-statistic. The comparison is logged and kept in :attr:`ShadowEvaluator.comparison`.

With ``promote=True`` the evaluator then records the comparison on the challenger's registry entry
(out-of-sample metrics ``shadow_hit_rate``, ``shadow_brier``, ``shadow_brier_improvement``,
``shadow_brier_t``, ``shadow_outcomes``, ...) and asks the registry to promote it through the
:class:`~nautilus_ai.learning.promotion.PromotionGate` given as ``gate`` (a gate on those metrics,
e.g. ``{"min_metrics": {"shadow_brier_improvement": 0.0}, "champion_metric": None}``). On a pass it
publishes a :class:`~nautilus_ai.live.control.ModelSwap` on
:data:`~nautilus_ai.live.control.MODEL_SWAP_TOPIC`, which makes the SignalActor serving that model
name swap to the challenger between two events. A refused promotion is logged and kept in
:attr:`ShadowEvaluator.promotion_error`; nothing changes.

Limitations: models that use regimes (``StagedModel.regime_names``) are refused at start; the
evaluation runs once per start.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.identifiers import InstrumentId
from pydantic import ValidationError

from nautilus_ai.catalog.types import FeatureVector, topic_data_type
from nautilus_ai.errors import ConfigError, DataError, ModelError
from nautilus_ai.learning.promotion import GateResult, PromotionGate
from nautilus_ai.learning.registry import ModelRecord, ModelRegistry
from nautilus_ai.learning.staged import StagedModel
from nautilus_ai.live.control import MODEL_SWAP_TOPIC, ModelSwap


@dataclasses.dataclass(frozen=True)
class ModelScores:
    """One model's scores over the resolved shadow events.

    Attributes
    ----------
    hit_rate : float
        Fraction of directional signals (direction != 0) whose sign equals the forward return's
        (NaN when the model gave none).
    directional : int
        Number of directional signals.
    brier : float
        Mean of ``(P(up) - 1[return > 0])**2``.

    """

    hit_rate: float
    directional: int
    brier: float


@dataclasses.dataclass(frozen=True)
class ShadowComparison:
    """Champion against challenger on the same resolved events.

    Attributes
    ----------
    outcomes : int
        Number of resolved events.
    champion, challenger : ModelScores
        Each model's scores.
    brier_improvement : float
        Mean paired difference of the Brier losses, champion minus challenger (> 0: the challenger
        is better calibrated).
    brier_improvement_se : float
        Its standard error (NaN with fewer than two events).
    brier_improvement_t : float
        ``brier_improvement / brier_improvement_se`` (0 when both models lose the same on every
        event, NaN when undefined).
    hit_rate_difference : float
        Challenger hit rate minus champion hit rate (NaN when either is undefined).

    """

    outcomes: int
    champion: ModelScores
    challenger: ModelScores
    brier_improvement: float
    brier_improvement_se: float
    brier_improvement_t: float
    hit_rate_difference: float

    def registry_metrics(self) -> dict[str, float | int]:
        """Return the comparison as the challenger's ``shadow_*`` registry metrics (finite values only)."""
        values: dict[str, float | int] = {
            "shadow_outcomes": self.outcomes,
            "shadow_hit_rate": self.challenger.hit_rate,
            "shadow_brier": self.challenger.brier,
            "shadow_champion_hit_rate": self.champion.hit_rate,
            "shadow_champion_brier": self.champion.brier,
            "shadow_brier_improvement": self.brier_improvement,
            "shadow_brier_t": self.brier_improvement_t,
            "shadow_hit_rate_difference": self.hit_rate_difference,
        }
        return {k: v for k, v in values.items() if isinstance(v, int) or math.isfinite(v)}


def model_scores(probabilities: np.ndarray, directions: np.ndarray, returns: np.ndarray) -> ModelScores:
    """Return the hit rate and Brier score of one model's signals against forward returns.

    Parameters
    ----------
    probabilities : np.ndarray
        P(up) per event.
    directions : np.ndarray
        Signal direction (+1, -1, 0) per event.
    returns : np.ndarray
        Forward return per event.

    """
    p = np.asarray(probabilities, dtype=np.float64)
    d = np.asarray(directions, dtype=np.int64)
    r = np.asarray(returns, dtype=np.float64)
    up = (r > 0).astype(np.float64)
    active = d != 0
    hits = np.sign(d[active]) == np.sign(r[active])
    hit_rate = float(hits.mean()) if active.any() else math.nan
    brier = float(np.mean((p - up) ** 2)) if p.size else math.nan
    return ModelScores(hit_rate=hit_rate, directional=int(active.sum()), brier=brier)


def compare_shadow(
    champion_probabilities: Sequence[float],
    champion_directions: Sequence[int],
    challenger_probabilities: Sequence[float],
    challenger_directions: Sequence[int],
    returns: Sequence[float],
) -> ShadowComparison:
    """Compare two models' signals on the same events (a pure function).

    Parameters
    ----------
    champion_probabilities, champion_directions : Sequence
        The champion's P(up) and direction per event.
    challenger_probabilities, challenger_directions : Sequence
        The challenger's, on the same events.
    returns : Sequence[float]
        The forward return per event.

    Returns
    -------
    ShadowComparison
        Both models' scores and the paired Brier difference.

    Raises
    ------
    DataError
        If the sequences differ in length or are empty, or a value is not finite.

    """
    arrays = [
        np.asarray(a, dtype=np.float64)
        for a in (
            champion_probabilities,
            champion_directions,
            challenger_probabilities,
            challenger_directions,
            returns,
        )
    ]
    n = arrays[4].size
    if n == 0 or any(a.size != n for a in arrays):
        raise DataError(
            f"compare_shadow needs equally long, non-empty sequences, got lengths {[a.size for a in arrays]}",
            field="returns",
        )
    if not all(np.isfinite(a).all() for a in arrays):
        raise DataError("compare_shadow got a non-finite probability, direction or return", field="returns")
    p_a, d_a, p_b, d_b, r = arrays
    champion = model_scores(p_a, d_a, r)
    challenger = model_scores(p_b, d_b, r)
    up = (r > 0).astype(np.float64)
    diff = (p_a - up) ** 2 - (p_b - up) ** 2
    mean = float(diff.mean())
    se = float(diff.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    if math.isnan(se):
        t = math.nan
    elif se == 0.0:
        t = 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
    else:
        t = mean / se
    return ShadowComparison(
        outcomes=n,
        champion=champion,
        challenger=challenger,
        brier_improvement=mean,
        brier_improvement_se=se,
        brier_improvement_t=t,
        hit_rate_difference=challenger.hit_rate - champion.hit_rate,
    )


@dataclasses.dataclass
class ShadowRecord:
    """Both models' signals on one FeatureVector, and its outcome once resolved.

    Attributes
    ----------
    ts_event : int
        The vector's (and its bar's) ``ts_event``.
    champion_probability, challenger_probability : float
        Each model's P(up).
    champion_direction, challenger_direction : int
        Each model's direction.
    forward_return : float or None
        Close-to-close return over ``horizon_bars`` bars (None until resolved).

    """

    ts_event: int
    champion_probability: float
    champion_direction: int
    challenger_probability: float
    challenger_direction: int
    forward_return: float | None = None


class ShadowSession:
    """A champion and a challenger scored on the same FeatureVectors, resolved by later closes.

    The engine-free core of :class:`ShadowEvaluator` (and of the
    :class:`~nautilus_ai.learning.updater_actor.ModelUpdaterActor`'s shadow phase): feed it the
    instrument's bars (:meth:`add_bar`) and FeatureVectors (:meth:`add_vector`) in event order; once
    ``min_outcomes`` signals are resolved it computes the :class:`ShadowComparison` and ignores
    further input.

    Parameters
    ----------
    champion, challenger : StagedModel
        The two models (with the same features and regimes).
    horizon_bars : int
        Bars between a signal and the close that resolves it.
    min_outcomes : int
        Resolved outcomes after which the comparison is computed.

    Attributes
    ----------
    records : list[ShadowRecord]
        Both models' signals, in event order.
    comparison : ShadowComparison or None
        The comparison, once ready.

    """

    def __init__(
        self, champion: StagedModel, challenger: StagedModel, horizon_bars: int, min_outcomes: int
    ) -> None:
        challenger.check_features(champion.feature_names_, champion.spec_hash_)
        challenger.check_regimes(champion.regime_names)
        self._models = (champion, challenger)
        self._states = (champion.new_state(), challenger.new_state())
        self._horizon = int(horizon_bars)
        self._min_outcomes = int(min_outcomes)
        self.records: list[ShadowRecord] = []
        self.comparison: ShadowComparison | None = None
        self._bar_index: dict[int, int] = {}
        self._closes: list[float] = []
        self._unresolved: list[ShadowRecord] = []
        self._resolved = 0

    @property
    def regime_names(self) -> tuple[str, ...]:
        """The regimes whose probabilities :meth:`add_vector` needs (empty: none)."""
        return tuple(self._models[0].regime_names)

    @property
    def resolved(self) -> int:
        """Number of resolved outcomes so far."""
        return self._resolved

    def add_bar(self, ts_event: int, close: float) -> ShadowComparison | None:
        """Record a bar's close; return the comparison if this bar completed it."""
        if self.comparison is not None:
            return None
        self._bar_index[ts_event] = len(self._closes)
        self._closes.append(float(close))
        return self._resolve()

    def add_vector(self, vector: FeatureVector, regime: np.ndarray | None = None) -> ShadowComparison | None:
        """Score a FeatureVector with both models; return the comparison if it completed it.

        Parameters
        ----------
        vector : FeatureVector
            The bar's features.
        regime : np.ndarray, optional
            The bar's regime probabilities in :attr:`regime_names` order (models with regimes).

        Raises
        ------
        ModelError
            If the vector's features are not the models', or regimes are needed and missing.

        """
        if self.comparison is not None:
            return None
        x = vector.as_array()
        if np.isnan(x).all():  # the FeatureActor's warm-up marker
            return None
        champion, challenger = self._models
        champion.check_features(vector.feature_names(), vector.spec_hash)
        if self.regime_names and regime is None:
            raise ModelError(
                f"the models read regimes {list(self.regime_names)}: pass the bar's probabilities"
            )
        a = champion.step(self._states[0], x, regime)
        b = challenger.step(self._states[1], x, regime)
        record = ShadowRecord(
            ts_event=vector.ts_event,
            champion_probability=float(a.probability),
            champion_direction=int(a.direction),
            challenger_probability=float(b.probability),
            challenger_direction=int(b.direction),
        )
        self.records.append(record)
        self._unresolved.append(record)
        return self._resolve()

    def _resolve(self) -> ShadowComparison | None:
        last = len(self._closes) - 1
        still: list[ShadowRecord] = []
        for record in self._unresolved:
            index = self._bar_index.get(record.ts_event)
            if index is None or index + self._horizon > last:
                still.append(record)
                continue
            record.forward_return = self._closes[index + self._horizon] / self._closes[index] - 1.0
            self._resolved += 1
        self._unresolved = still
        if self._resolved < self._min_outcomes:
            return None
        done = [r for r in self.records if r.forward_return is not None]
        self.comparison = compare_shadow(
            [r.champion_probability for r in done],
            [r.champion_direction for r in done],
            [r.challenger_probability for r in done],
            [r.challenger_direction for r in done],
            [float(r.forward_return) for r in done if r.forward_return is not None],
        )
        return self.comparison


@dataclasses.dataclass(frozen=True)
class PromotionAttempt:
    """What :func:`promote_after_shadow` did.

    Attributes
    ----------
    gate_result : GateResult or None
        The gate's verdict (None when the registry failed before the gate).
    swap : ModelSwap or None
        The swap to publish after a promotion.
    error : str or None
        Why the challenger was not promoted.

    """

    gate_result: GateResult | None
    swap: ModelSwap | None
    error: str | None


def promote_after_shadow(
    registry: ModelRegistry,
    champion: ModelRecord,
    challenger: ModelRecord,
    comparison: ShadowComparison,
    gate: PromotionGate,
    *,
    actor: str,
    ts_event: int,
    archive_refused: bool = False,
) -> PromotionAttempt:
    """Record a shadow comparison on the challenger and promote it through the gate.

    Parameters
    ----------
    registry : ModelRegistry
        The registry.
    champion, challenger : ModelRecord
        The two versions compared.
    comparison : ShadowComparison
        The comparison (its :meth:`~ShadowComparison.registry_metrics` become the challenger's
        out-of-sample metrics).
    gate : PromotionGate
        The gate.
    actor : str
        Who promotes (the event log's actor).
    ts_event : int
        The time of the swap message (UNIX ns).
    archive_refused : bool, default False
        Archive a challenger the gate refused (logged with the gate's reasons), so the registry
        history shows the rejection.

    Returns
    -------
    PromotionAttempt
        The verdict and, on a pass, the :class:`ModelSwap` to publish.

    """
    version = challenger.version_id
    try:
        registry.record_metrics(version, comparison.registry_metrics())
        result = registry.promote(
            version,
            gate,
            reason=f"shadow evaluation against {champion.version_id} on {comparison.outcomes} outcomes",
            actor=actor,
        )
    except (ModelError, ConfigError) as exc:
        refused = getattr(exc, "result", None)
        if archive_refused and refused is not None:
            registry.set_status(
                version,
                "archived",
                actor=actor,
                reason="rejected by the promotion gate after shadow evaluation: "
                + "; ".join(refused.reasons),
            )
        return PromotionAttempt(refused, None, str(exc))
    swap = ModelSwap(
        name=challenger.name,
        version_id=version,
        previous_version_id=champion.version_id,
        action="promote",
        actor=actor,
        command_id=uuid.uuid4().hex,
        ts_event=ts_event,
    )
    return PromotionAttempt(result, swap, None)


class ShadowEvaluatorConfig(ActorConfig, frozen=True):
    """Configuration of a :class:`ShadowEvaluator`.

    Parameters
    ----------
    instrument_id : InstrumentId
        The instrument whose FeatureVectors are scored.
    bar_type : BarType
        The bars that resolve the outcomes (the bars the FeatureVectors are computed on).
    registry_path : str
        Root directory of the model registry.
    challenger_version : str
        The candidate version evaluated in shadow.
    champion_version : str, optional
        The champion's version; default: the registry's current champion of the challenger's name.
    horizon_bars : int, default 1
        Bars between a signal and the close that resolves it.
    min_outcomes : int, default 50
        Resolved outcomes after which the comparison is computed (and the promotion tried).
    long_threshold, short_threshold : float
        Direction thresholds on P(up), as in the SignalActor.
    promote : bool, default False
        Ask the registry to promote the challenger through ``gate`` and publish a ``ModelSwap`` on a pass.
    gate : dict, optional
        The :class:`~nautilus_ai.learning.promotion.PromotionGate` fields (default gate when None).

    """

    instrument_id: InstrumentId
    bar_type: BarType
    registry_path: str
    challenger_version: str
    champion_version: str | None = None
    horizon_bars: int = 1
    min_outcomes: int = 50
    long_threshold: float = 0.55
    short_threshold: float = 0.45
    promote: bool = False
    gate: dict[str, Any] | None = None


def _positive_int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"ShadowEvaluatorConfig.{field}={value!r} is invalid: set an integer >= 1")
    return value


class ShadowEvaluator(Actor):
    """Score a challenger beside the champion on the same FeatureVectors, without trading.

    Parameters
    ----------
    config : ShadowEvaluatorConfig
        The configuration.

    Raises
    ------
    ConfigError
        If ``horizon_bars`` or ``min_outcomes`` is below 1, a threshold is not a probability,
        ``short_threshold > long_threshold``, or ``gate`` is not a valid PromotionGate.

    Attributes
    ----------
    records : list[ShadowRecord]
        Both models' signals, in event order.
    comparison : ShadowComparison or None
        The comparison, once ``min_outcomes`` outcomes are resolved.
    gate_result : GateResult or None
        The promotion gate's verdict (when ``promote``).
    promotion_error : str or None
        Why the promotion was refused or failed.
    swap : ModelSwap or None
        The ModelSwap published after a promotion.

    """

    def __init__(self, config: ShadowEvaluatorConfig) -> None:
        super().__init__(config)
        self._horizon = _positive_int(config.horizon_bars, "horizon_bars")
        self._min_outcomes = _positive_int(config.min_outcomes, "min_outcomes")
        for field in ("long_threshold", "short_threshold"):
            value = getattr(config, field)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"ShadowEvaluatorConfig.{field}={value!r} is not a probability in [0, 1]")
        if config.short_threshold > config.long_threshold:
            raise ConfigError("ShadowEvaluatorConfig.short_threshold is above long_threshold")
        if not config.challenger_version:
            raise ConfigError("ShadowEvaluatorConfig.challenger_version is empty: set a registered version")
        try:
            self._gate = PromotionGate(**(config.gate or {}))
        except ValidationError as exc:
            raise ConfigError(f"ShadowEvaluatorConfig.gate is not a valid PromotionGate: {exc}") from exc
        self._feature_type = topic_data_type(FeatureVector, config.instrument_id)
        self.comparison: ShadowComparison | None = None
        self.gate_result: GateResult | None = None
        self.promotion_error: str | None = None
        self.swap: ModelSwap | None = None
        self.champion_record: ModelRecord | None = None
        self.challenger_record: ModelRecord | None = None
        self.session: ShadowSession | None = None

    def _load(self, registry: ModelRegistry, version_id: str) -> tuple[ModelRecord, StagedModel]:
        record = registry.get(version_id)
        loaded = registry.load(version_id)
        model = loaded if isinstance(loaded, StagedModel) else StagedModel(loaded)
        model.long_threshold = float(self.config.long_threshold)
        model.short_threshold = float(self.config.short_threshold)
        if model.regime_names:
            raise ModelError(
                f"model version {version_id!r} uses regimes {list(model.regime_names)}: "
                "the shadow evaluator serves models without regimes only"
            )
        return record, model

    def on_start(self) -> None:
        """Load both versions and subscribe to the FeatureVectors and bars.

        Raises
        ------
        ModelError
            If a version is unknown or unloadable, the challenger's name has no champion (and none
            was configured), the two models' features differ, or a model uses regimes.

        """
        registry = ModelRegistry(self.config.registry_path)
        challenger_record, challenger = self._load(registry, self.config.challenger_version)
        champion_version = self.config.champion_version
        if champion_version is None:
            current = registry.champion(challenger_record.name)
            if current is None:
                raise ModelError(
                    f"model {challenger_record.name!r} has no champion in {registry.index_location}: "
                    "set ShadowEvaluatorConfig.champion_version"
                )
            champion_version = current.version_id
        champion_record, champion = self._load(registry, champion_version)
        self.session = ShadowSession(champion, challenger, self._horizon, self._min_outcomes)
        self.champion_record, self.challenger_record = champion_record, challenger_record
        self.subscribe_data(self._feature_type, instrument_id=self.config.instrument_id)
        self.subscribe_bars(self.config.bar_type)

    def on_stop(self) -> None:
        """Unsubscribe from the FeatureVectors and bars."""
        self.unsubscribe_data(self._feature_type, instrument_id=self.config.instrument_id)
        self.unsubscribe_bars(self.config.bar_type)

    @property
    def records(self) -> list[ShadowRecord]:
        """Both models' signals, in event order."""
        return [] if self.session is None else self.session.records

    def on_bar(self, bar: Bar) -> None:
        """Record the bar's close and resolve the signals ``horizon_bars`` bars back."""
        if bar.bar_type != self.config.bar_type or self.session is None:
            return
        if self.session.add_bar(bar.ts_event, bar.close.as_double()) is not None:
            self._evaluate()

    def on_data(self, data: Data) -> None:
        """Score a FeatureVector with both models and record the pair of signals."""
        if self.session is None:
            return
        if not isinstance(data, FeatureVector) or data.instrument_id != self.config.instrument_id:
            return
        if self.session.add_vector(data) is not None:
            self._evaluate()

    def _evaluate(self) -> None:
        assert self.session is not None and self.session.comparison is not None
        comparison = self.session.comparison
        self.comparison = comparison
        assert self.champion_record is not None and self.challenger_record is not None
        self.log.info(
            f"Shadow {self.challenger_record.version_id} vs champion {self.champion_record.version_id} "
            f"on {comparison.outcomes} outcomes: brier {comparison.challenger.brier:.5f} vs "
            f"{comparison.champion.brier:.5f} (improvement {comparison.brier_improvement:+.5f}, "
            f"t={comparison.brier_improvement_t:.2f}), hit rate {comparison.challenger.hit_rate:.3f} vs "
            f"{comparison.champion.hit_rate:.3f}"
        )
        if self.config.promote:
            self._promote(comparison)

    def _promote(self, comparison: ShadowComparison) -> None:
        assert self.champion_record is not None and self.challenger_record is not None
        attempt = promote_after_shadow(
            ModelRegistry(self.config.registry_path),
            self.champion_record,
            self.challenger_record,
            comparison,
            self._gate,
            actor=f"shadow:{self.id}",
            ts_event=self.clock.timestamp_ns(),
        )
        self.gate_result = attempt.gate_result
        if attempt.swap is None:
            self.promotion_error = attempt.error
            self.log.error(
                f"Shadow promotion of {self.challenger_record.version_id} refused: {attempt.error}"
            )
            return
        self.swap = attempt.swap
        self.log.info(f"Promoted {attempt.swap.version_id} after shadow evaluation; publishing ModelSwap")
        self.msgbus.publish(MODEL_SWAP_TOPIC, attempt.swap)
