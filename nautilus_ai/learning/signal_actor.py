"""The SignalActor: turns FeatureVectors (and RegimeLabels) into ModelSignals with a registered model.

It subscribes to ``topic_data_type(FeatureVector, instrument_id)`` and publishes one
``ModelSignal`` per usable vector on ``topic_data_type(ModelSignal, instrument_id)``, stamped with
the vector's ``ts_event``/``ts_init`` (the signal is known no earlier than its features).

The registered model is either a single stage-1 model or a
:class:`~nautilus_ai.learning.staged.StagedModel` (filter → sequence → meta). When the staged model
uses regimes, the actor also subscribes to ``topic_data_type(RegimeLabel, instrument_id)`` and
scores a bar once it holds both the FeatureVector and the RegimeLabel of that bar (in whichever
order the bus delivers them), so the signal always uses the regime of its own bar.

Feature mismatch policy: every vector's feature names and spec hash must equal the model's
(checked in full on the first vector, then by a cheap string comparison). On a mismatch the actor
logs the :class:`~nautilus_ai.errors.ModelError` (which names both sides), stops itself and
publishes nothing more, so a strategy fed by it stops receiving signals instead of trading on
misaligned features; the error is kept in :attr:`SignalActor.refusal`. With
``fail_on_mismatch=True`` (recommended for backtests) the error is raised instead, which makes the
run fail.
"""

from __future__ import annotations

import math

import numpy as np
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.catalog.types import FeatureVector, ModelSignal, RegimeLabel, topic_data_type
from nautilus_ai.errors import ConfigError, ModelError
from nautilus_ai.learning.explain_ranking import encode_top_attributions
from nautilus_ai.learning.registry import ModelRegistry
from nautilus_ai.learning.staged import StagedModel, StagedState


class SignalActorConfig(ActorConfig, frozen=True):
    """Configuration of a :class:`SignalActor`.

    Parameters
    ----------
    instrument_id : InstrumentId
        The instrument whose FeatureVectors are scored.
    registry_path : str
        Root directory of the :class:`~nautilus_ai.learning.registry.ModelRegistry`.
    model_version : str
        Version id of the model to load (``"<name>-<sha256[:12]>"``).
    long_threshold : float, default 0.55
        Direction is +1 when P(up) >= this value.
    short_threshold : float, default 0.45
        Direction is -1 when P(up) <= this value (and below ``long_threshold``), else 0.
    horizon_bars : int, default 1
        The label horizon the model was trained for, copied into every signal.
    fail_on_mismatch : bool, default False
        Raise on a feature mismatch instead of logging it and stopping the actor.
    top_k : int, default 3
        Stage-1 attributions published with a bare stage-1 model's signals (a staged model
        carries its own ``top_k``).

    The thresholds apply to the final (calibrated) probability of a staged model too.
    """

    instrument_id: InstrumentId
    registry_path: str
    model_version: str
    long_threshold: float = 0.55
    short_threshold: float = 0.45
    horizon_bars: int = 1
    fail_on_mismatch: bool = False
    top_k: int = 3


def direction_from_probability(probability: float, long_threshold: float, short_threshold: float) -> int:
    """Map P(up) to a direction: +1 at or above ``long_threshold``, -1 at or below ``short_threshold``.

    Parameters
    ----------
    probability : float
        The model's probability that the forward return is positive.
    long_threshold : float
        Lowest probability that gives a long signal.
    short_threshold : float
        Highest probability that gives a short signal.

    Returns
    -------
    int
        +1, -1 or 0.

    """
    if probability >= long_threshold:
        return 1
    if probability <= short_threshold:
        return -1
    return 0


def _validate(config: SignalActorConfig) -> None:
    for field in ("long_threshold", "short_threshold"):
        value = getattr(config, field)
        if not (isinstance(value, int | float) and 0.0 <= value <= 1.0) or math.isnan(value):
            raise ConfigError(f"SignalActorConfig.{field}={value!r} is not a probability: set it in [0, 1]")
    if config.short_threshold > config.long_threshold:
        raise ConfigError(
            f"SignalActorConfig.short_threshold={config.short_threshold} is above "
            f"long_threshold={config.long_threshold}: set short_threshold <= long_threshold"
        )
    horizon = config.horizon_bars
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ConfigError(
            f"SignalActorConfig.horizon_bars={config.horizon_bars!r} is invalid: set an integer >= 1"
        )
    if not config.model_version:
        raise ConfigError("SignalActorConfig.model_version is empty: set a registered model's version id")
    if not config.registry_path:
        raise ConfigError("SignalActorConfig.registry_path is empty: set the model registry directory")


class SignalActor(Actor):
    """Score each FeatureVector of one instrument with a registered model and publish a ModelSignal.

    Parameters
    ----------
    config : SignalActorConfig
        The configuration.

    Raises
    ------
    ConfigError
        If a threshold is outside [0, 1], ``short_threshold > long_threshold``, ``horizon_bars < 1``
        or the registry path or model version is empty.

    """

    def __init__(self, config: SignalActorConfig) -> None:
        _validate(config)
        super().__init__(config)
        self._instrument_id = config.instrument_id
        self._registry_path = config.registry_path
        self._model_version = config.model_version
        self._long_threshold = float(config.long_threshold)
        self._short_threshold = float(config.short_threshold)
        self._horizon_bars = int(config.horizon_bars)
        self._fail_on_mismatch = bool(config.fail_on_mismatch)
        self._top_k = int(config.top_k)
        self._signal_type = topic_data_type(ModelSignal, config.instrument_id)
        self._regime_type = topic_data_type(RegimeLabel, config.instrument_id)
        self.model: StagedModel | None = None
        self.refusal: ModelError | None = None
        self.signals_published = 0
        self.warmup_skipped = 0
        self._accepted: tuple[str, str] | None = None
        self._state: StagedState | None = None
        self._pending_vectors: dict[int, FeatureVector] = {}
        self._pending_regimes: dict[int, RegimeLabel] = {}

    def on_start(self) -> None:
        """Load the model from the registry and subscribe to the instrument's FeatureVectors.

        Raises
        ------
        ModelError
            If the model version is unknown or its artifact is missing or corrupted (the actor
            then stays in ``STARTING`` and publishes nothing).

        """
        loaded = ModelRegistry(self._registry_path).load(self._model_version)
        model = loaded if isinstance(loaded, StagedModel) else StagedModel(loaded, top_k=self._top_k)
        model.long_threshold = self._long_threshold
        model.short_threshold = self._short_threshold
        self.model = model
        self.refusal = None
        self._accepted = None
        self._state = model.new_state()
        self._pending_vectors.clear()
        self._pending_regimes.clear()
        feature_type = topic_data_type(FeatureVector, self._instrument_id)
        self.subscribe_data(feature_type, instrument_id=self._instrument_id)
        if model.regime_names:
            self.subscribe_data(self._regime_type, instrument_id=self._instrument_id)

    def on_data(self, data: Data) -> None:
        """Score a FeatureVector (with its bar's RegimeLabel when the model uses regimes)."""
        model = self.model
        if model is None or self.refusal is not None:
            return
        if isinstance(data, RegimeLabel):
            if data.instrument_id == self._instrument_id and model.regime_names:
                vector = self._pending_vectors.pop(data.ts_event, None)
                if vector is None:
                    self._pending_regimes[data.ts_event] = data
                else:
                    self._score(model, vector, data)
            return
        if not isinstance(data, FeatureVector) or data.instrument_id != self._instrument_id:
            return
        if self._accepted != (data.spec_hash, data.names):
            try:
                model.check_features(data.feature_names(), data.spec_hash)
            except ModelError as exc:
                self._refuse(exc)
                return
            self._accepted = (data.spec_hash, data.names)

        if np.isnan(data.as_array()).all():  # the FeatureActor's warm-up marker
            self.warmup_skipped += 1
            return
        if not model.regime_names:
            self._score(model, data, None)
            return
        label = self._pending_regimes.pop(data.ts_event, None)
        if label is None:
            self._pending_vectors[data.ts_event] = data
        else:
            self._score(model, data, label)

    def _score(self, model: StagedModel, vector: FeatureVector, label: RegimeLabel | None) -> None:
        # Anything older than this bar can no longer be paired: drop it.
        for pending in (self._pending_vectors, self._pending_regimes):
            for ts in [t for t in pending if t < vector.ts_event]:
                del pending[ts]
        regime = None
        regime_name = ""
        if label is not None:
            probabilities = dict(label.probabilities or {})
            missing = [r for r in model.regime_names if r not in probabilities]
            if missing:
                self._refuse(
                    ModelError(
                        f"RegimeLabel at {label.ts_event} lacks regimes {missing} the model was trained with "
                        f"({list(model.regime_names)}): serve the regime model of the same fold"
                    )
                )
                return
            regime = np.array([float(probabilities[r]) for r in model.regime_names])
            regime_name = label.regime
        assert self._state is not None
        decision = model.step(self._state, vector.as_array(), regime)
        signal = ModelSignal(
            instrument_id=self._instrument_id,
            direction=decision.direction,
            probability=decision.probability,
            confidence=decision.confidence,
            horizon_bars=self._horizon_bars,
            model_version=self._model_version,
            regime=regime_name,
            top_attributions=encode_top_attributions(decision.attributions),
            ts_event=vector.ts_event,
            ts_init=vector.ts_init,
        )
        self.publish_data(self._signal_type, signal)
        self.signals_published += 1

    def on_stop(self) -> None:
        """Unsubscribe from the instrument's FeatureVectors."""
        feature_type = topic_data_type(FeatureVector, self._instrument_id)
        self.unsubscribe_data(feature_type, instrument_id=self._instrument_id)
        if self.model is not None and self.model.regime_names:
            self.unsubscribe_data(self._regime_type, instrument_id=self._instrument_id)

    def on_reset(self) -> None:
        """Forget the loaded model and counters; the next start loads the model again."""
        self.model = None
        self.refusal = None
        self._accepted = None
        self._state = None
        self._pending_vectors.clear()
        self._pending_regimes.clear()
        self.signals_published = 0
        self.warmup_skipped = 0

    def _refuse(self, error: ModelError) -> None:
        self.refusal = error
        message = f"model {self._model_version!r} refuses to serve {self._instrument_id}: {error}"
        if self._fail_on_mismatch:
            raise ModelError(message) from error
        self.log.error(message + " Stopping the SignalActor: no further signals will be published.")
        self.stop()
