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

Hot swap (:data:`~nautilus_ai.live.control.MODEL_SWAP_TOPIC`)
-------------------------------------------------------------
The actor subscribes to the raw message-bus topic ``MODEL_SWAP_TOPIC``. On a
:class:`~nautilus_ai.live.control.ModelSwap` whose ``name`` is the registered name of the model it
serves, it loads ``version_id`` from the registry **synchronously inside the handler** (these models
load in milliseconds; the handler runs on the node's single event thread, between two events), checks
the new model's feature fingerprint (feature names, spec hash and regime names) against the served
one, and only then replaces model, streaming state and version in one step. So no FeatureVector is
dropped or scored by a half-loaded model, and every signal from the next event on carries the new
``model_version``. A staged model's sequence stage starts from an empty window after a swap (as at
start). A swap that cannot be served (unknown version, missing or corrupted artifact, different
features) is refused: the error is logged, kept in :attr:`SignalActor.swap_refusals`, and the old
model keeps serving.

Model expiry (``model_max_age``)
--------------------------------
With ``model_max_age`` set (a pandas Timedelta string such as ``"400D"``), a model whose age -- the
FeatureVector's ``ts_event`` (market time) minus the registered ``train_end`` of the served version --
exceeds it no longer trades: the actor still publishes one signal per vector (so the signal sequence
has no gap and the RiskGuard's stale-model check does not fire), but with ``direction=0`` and
``confidence=0.0`` (the probability is kept for monitoring) and the ``regime`` field set to
``"expired:<regime>"``. A strategy reads direction 0 as "no position", so it closes and stops
opening positions. The expiry is logged once per served version (and kept in
:attr:`SignalActor.expired_reason`); swapping to a fresh model resumes directional signals. With
``halt_on_expiry=True`` the actor also publishes a HALT
:class:`~nautilus_ai.risk.state.TradingStateCommand` on
:data:`~nautilus_ai.risk.state.RISK_COMMAND_TOPIC` (applied by a RiskGuardActor, which alone can
resume trading afterwards).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.catalog.types import FeatureVector, ModelSignal, RegimeLabel, topic_data_type
from nautilus_ai.errors import ConfigError, ModelError
from nautilus_ai.learning.explain_ranking import encode_top_attributions
from nautilus_ai.learning.registry import ModelRecord, ModelRegistry
from nautilus_ai.learning.staged import StagedModel, StagedState
from nautilus_ai.live.control import MODEL_SWAP_TOPIC, ModelSwap
from nautilus_ai.risk.state import RISK_COMMAND_TOPIC, GateState, TradingStateCommand

EXPIRED_PREFIX = "expired:"
"""Prefix of the ``regime`` field of the direction-0 signals of an expired model."""


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
    model_max_age : str, optional
        Largest accepted model age, a pandas Timedelta string (``"400D"``), measured from the
        served version's ``train_end`` to each FeatureVector's ``ts_event``; an older model only
        emits direction-0 signals. None (default) never expires.
    halt_on_expiry : bool, default False
        Also publish a HALT ``TradingStateCommand`` on ``RISK_COMMAND_TOPIC`` when the model expires.

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
    model_max_age: str | None = None
    halt_on_expiry: bool = False


def parse_max_age(value: str | None, field: str = "SignalActorConfig.model_max_age") -> int | None:
    """Return a model age limit in nanoseconds (None for no limit).

    Parameters
    ----------
    value : str or None
        A pandas Timedelta string such as ``"400D"`` or ``"12h"``.
    field : str
        The config field named in the error.

    Raises
    ------
    ConfigError
        If ``value`` is not a positive Timedelta.

    """
    if value is None:
        return None
    try:
        age = pd.Timedelta(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{field}={value!r} is not a pandas Timedelta string: use e.g. '400D'") from exc
    if pd.isna(age) or age <= pd.Timedelta(0):
        raise ConfigError(f"{field}={value!r} is not positive: use e.g. '400D'")
    return int(age.value)


def train_end_ns(record: ModelRecord) -> int:
    """Return a registered version's ``train_end`` in UNIX nanoseconds (UTC when naive).

    Raises
    ------
    ModelError
        If ``train_end`` is not a timestamp.

    """
    try:
        ts = pd.Timestamp(record.train_end)
    except (TypeError, ValueError) as exc:
        raise ModelError(
            f"model version {record.version_id!r} has train_end {record.train_end!r}, not a timestamp"
        ) from exc
    if pd.isna(ts):
        raise ModelError(f"model version {record.version_id!r} has no train_end")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value)


def model_expired(ts_event: int, train_end: int, max_age_ns: int | None) -> bool:
    """Return True when a model trained up to ``train_end`` is older than ``max_age_ns`` at ``ts_event``.

    Parameters
    ----------
    ts_event : int
        The event's market time (UNIX ns).
    train_end : int
        The end of the model's training window (UNIX ns).
    max_age_ns : int or None
        The age limit (None: never expires).

    """
    return max_age_ns is not None and ts_event - train_end > max_age_ns


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
    parse_max_age(config.model_max_age)


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
        the registry path or model version is empty, or ``model_max_age`` is not a positive
        Timedelta string.

    Attributes
    ----------
    model_version : str
        The version served now (changes on an accepted swap).
    swaps : list[tuple[int, str, str]]
        Accepted swaps: (clock time ns, old version, new version).
    swap_refusals : list[str]
        The errors of refused swaps.
    expired_reason : str or None
        Why the served model is expired (None while it is not).

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
        self._max_age_ns = parse_max_age(config.model_max_age)
        self._halt_on_expiry = bool(config.halt_on_expiry)
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
        self.record: ModelRecord | None = None
        self._train_end_ns = 0
        self.swaps: list[tuple[int, str, str]] = []
        self.swap_refusals: list[str] = []
        self.expired_reason: str | None = None
        self._expiry_logged: set[str] = set()

    @property
    def model_version(self) -> str:
        """The version served now."""
        return self._model_version

    def _load(self, version_id: str) -> tuple[ModelRecord, StagedModel]:
        registry = ModelRegistry(self._registry_path)
        record = registry.get(version_id)
        loaded = registry.load(version_id)
        model = loaded if isinstance(loaded, StagedModel) else StagedModel(loaded, top_k=self._top_k)
        model.long_threshold = self._long_threshold
        model.short_threshold = self._short_threshold
        return record, model

    def on_start(self) -> None:
        """Load the model from the registry and subscribe to the instrument's FeatureVectors.

        Raises
        ------
        ModelError
            If the model version is unknown or its artifact is missing or corrupted (the actor
            then stays in ``STARTING`` and publishes nothing).

        """
        self._model_version = self.config.model_version
        record, model = self._load(self._model_version)
        self.record = record
        self._train_end_ns = train_end_ns(record)
        self.model = model
        self.expired_reason = None
        self.refusal = None
        self._accepted = None
        self._state = model.new_state()
        self._pending_vectors.clear()
        self._pending_regimes.clear()
        feature_type = topic_data_type(FeatureVector, self._instrument_id)
        self.subscribe_data(feature_type, instrument_id=self._instrument_id)
        if model.regime_names:
            self.subscribe_data(self._regime_type, instrument_id=self._instrument_id)
        self.msgbus.subscribe(MODEL_SWAP_TOPIC, self._on_model_swap)

    def _on_model_swap(self, message: object) -> None:
        if not isinstance(message, ModelSwap):
            self.log.error(f"Ignored {type(message).__name__} on {MODEL_SWAP_TOPIC}: expected ModelSwap")
            return
        if self.record is None or message.name != self.record.name:
            return
        self.swap_to(message.version_id)

    def swap_to(self, version_id: str) -> bool:
        """Load ``version_id`` and serve it from the next event on; keep the old model on any error.

        The new version is loaded and its feature fingerprint (names, spec hash, regime names)
        checked against the served model before anything changes; then model, streaming state,
        version and expiry are replaced together.

        Parameters
        ----------
        version_id : str
            The registered version to serve.

        Returns
        -------
        bool
            True when the actor serves ``version_id`` now, False when the swap was refused (the
            error is logged and appended to :attr:`swap_refusals`).

        """
        old_model, old_record = self.model, self.record
        if old_model is None or old_record is None:
            return self._refuse_swap(version_id, "the actor has not loaded a model yet (not started)")
        if version_id == self._model_version:
            return True
        try:
            record, model = self._load(version_id)
            model.check_features(old_model.feature_names_, old_record.spec_hash)
            if record.spec_hash != old_record.spec_hash:
                raise ModelError(
                    f"spec hash {record.spec_hash!r} differs from the served {old_record.spec_hash!r}"
                )
            if tuple(model.regime_names) != tuple(old_model.regime_names):
                served = list(old_model.regime_names)
                raise ModelError(f"regimes {list(model.regime_names)} differ from the served {served}")
            new_train_end = train_end_ns(record)
        except (ModelError, ConfigError) as exc:
            return self._refuse_swap(version_id, str(exc))
        old_version = self._model_version
        # the swap itself: plain assignments between two events (nothing can fail here)
        self.model, self.record, self._model_version = model, record, version_id
        self._state = model.new_state()
        self._train_end_ns = new_train_end
        self._accepted = None
        self.expired_reason = None
        self.swaps.append((self.clock.timestamp_ns(), old_version, version_id))
        self.log.info(f"Swapped model {old_version} -> {version_id} for {self._instrument_id}")
        return True

    def _refuse_swap(self, version_id: str, reason: str) -> bool:
        message = (
            f"refused to swap {self._instrument_id} from model {self._model_version!r} to {version_id!r}: "
            f"{reason}. Keeping the current model."
        )
        self.swap_refusals.append(message)
        self.log.error(message)
        return False

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
        direction, confidence = decision.direction, decision.confidence
        if model_expired(vector.ts_event, self._train_end_ns, self._max_age_ns):
            self._expire(vector.ts_event)
            direction, confidence = 0, 0.0
            regime_name = EXPIRED_PREFIX + regime_name
        signal = ModelSignal(
            instrument_id=self._instrument_id,
            direction=direction,
            probability=decision.probability,
            confidence=confidence,
            horizon_bars=self._horizon_bars,
            model_version=self._model_version,
            regime=regime_name,
            top_attributions=encode_top_attributions(decision.attributions),
            ts_event=vector.ts_event,
            ts_init=vector.ts_init,
        )
        self.publish_data(self._signal_type, signal)
        self.signals_published += 1

    def _expire(self, ts_event: int) -> None:
        if self._model_version in self._expiry_logged:
            return
        self._expiry_logged.add(self._model_version)
        age = pd.Timedelta(ts_event - self._train_end_ns, unit="ns")
        limit = pd.Timedelta(self._max_age_ns or 0, unit="ns")
        self.expired_reason = (
            f"model {self._model_version!r} is {age} old at {pd.Timestamp(ts_event, tz='UTC')} "
            f"(trained up to {self.record.train_end if self.record else '?'}), above model_max_age={limit}"
        )
        self.log.error(
            self.expired_reason + ": publishing direction-0 signals until a fresh model is swapped in"
        )
        if self._halt_on_expiry:
            self.msgbus.publish(
                RISK_COMMAND_TOPIC, TradingStateCommand(GateState.HALTED, self.expired_reason)
            )

    def on_stop(self) -> None:
        """Unsubscribe from the instrument's FeatureVectors and from model swaps."""
        if self.msgbus.is_subscribed(MODEL_SWAP_TOPIC, self._on_model_swap):
            self.msgbus.unsubscribe(MODEL_SWAP_TOPIC, self._on_model_swap)
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
        self.record = None
        self.swaps.clear()
        self.swap_refusals.clear()
        self.expired_reason = None
        self._expiry_logged.clear()

    def _refuse(self, error: ModelError) -> None:
        self.refusal = error
        message = f"model {self._model_version!r} refuses to serve {self._instrument_id}: {error}"
        if self._fail_on_mismatch:
            raise ModelError(message) from error
        self.log.error(message + " Stopping the SignalActor: no further signals will be published.")
        self.stop()
