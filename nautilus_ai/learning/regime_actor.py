"""The RegimeActor: filters FeatureVectors through a regime model and publishes RegimeLabels.

It subscribes to ``topic_data_type(FeatureVector, instrument_id)`` and, for every vector whose
model inputs are all finite, runs one online step of the regime model
(:meth:`~nautilus_ai.learning.regime_models.RegimeModel.filter_step`: for the HMM the forward
filter, which uses this vector and earlier ones only) and publishes a ``RegimeLabel`` on
``topic_data_type(RegimeLabel, instrument_id)`` with the published regime (after the model's
hysteresis), the probability of every regime by name, the model version and the vector's
``ts_event``/``ts_init``. Vectors with a NaN model input (the FeatureActor's warm-up marker is an
all-NaN vector) are skipped and counted in :attr:`RegimeActor.warmup_skipped`; they do not advance
the filter.

The model's features are picked from the vector by name, so a model trained on a subset of the
FeatureSpec (for example ``ret_1`` and ``rvol``) serves the full vectors. Feature mismatch policy,
as for the SignalActor: a missing feature or a different ``FeatureSpec`` fingerprint (when the model
recorded one) is a :class:`~nautilus_ai.errors.ModelError` naming both sides; the actor logs it,
keeps it in :attr:`RegimeActor.refusal` and stops, or raises it with ``fail_on_mismatch=True``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.catalog.types import FeatureVector, RegimeLabel, topic_data_type
from nautilus_ai.errors import ConfigError, ModelError
from nautilus_ai.learning.regime_models import RegimeModel


class RegimeActorConfig(ActorConfig, frozen=True):
    """Configuration of a :class:`RegimeActor`.

    Give exactly one model source: ``model_path``, or ``registry_path`` with ``model_version``
    (or build the actor with :meth:`RegimeActor.from_model`).

    Parameters
    ----------
    instrument_id : InstrumentId
        The instrument whose FeatureVectors are filtered.
    model_path : str, optional
        File holding a serialized regime model (``RegimeModel.to_bytes()``).
    registry_path : str, optional
        Root directory of the model registry holding the model.
    model_version : str, optional
        The registered version id to load from ``registry_path``; with ``model_path`` (or an
        in-memory model) the version written into the labels (default ``"<kind>-<sha256[:12]>"``
        of the model bytes).
    fail_on_mismatch : bool, default False
        Raise on a feature mismatch instead of logging it and stopping the actor.

    """

    instrument_id: InstrumentId
    model_path: str | None = None
    registry_path: str | None = None
    model_version: str | None = None
    fail_on_mismatch: bool = False


def _validate(config: RegimeActorConfig, has_model: bool) -> None:
    sources = [
        name
        for name, given in (
            ("model_path", bool(config.model_path)),
            ("registry_path", bool(config.registry_path)),
            ("an in-memory model", has_model),
        )
        if given
    ]
    if len(sources) != 1:
        raise ConfigError(
            f"RegimeActorConfig needs exactly one model source, got {sources or 'none'}: set model_path, "
            "or registry_path with model_version (or use RegimeActor.from_model)"
        )
    if config.registry_path and not config.model_version:
        raise ConfigError(
            "RegimeActorConfig.registry_path is set but model_version is empty: set the version id"
        )


class RegimeActor(Actor):
    """Publish the market regime of one instrument from its FeatureVectors.

    Parameters
    ----------
    config : RegimeActorConfig
        The configuration.
    model : RegimeModel, optional
        A fitted model to serve instead of loading one (see :meth:`from_model`); the actor works on
        its own copy.

    Raises
    ------
    ConfigError
        If not exactly one model source is given, or ``registry_path`` lacks ``model_version``.

    """

    def __init__(self, config: RegimeActorConfig, model: RegimeModel | None = None) -> None:
        _validate(config, model is not None)
        super().__init__(config)
        self._instrument_id = config.instrument_id
        self._fail_on_mismatch = bool(config.fail_on_mismatch)
        self._label_type = topic_data_type(RegimeLabel, config.instrument_id)
        self._feature_type = topic_data_type(FeatureVector, config.instrument_id)
        self._model_bytes = model.to_bytes() if model is not None else None
        self.model: RegimeModel | None = None
        self.model_version = ""
        self.refusal: ModelError | None = None
        self.labels_published = 0
        self.warmup_skipped = 0
        self._accepted: tuple[str, str] | None = None
        self._indices: np.ndarray | None = None

    @classmethod
    def from_model(
        cls,
        model: RegimeModel,
        instrument_id: InstrumentId,
        *,
        model_version: str | None = None,
        **config: Any,
    ) -> RegimeActor:
        """Build an actor that serves a fitted in-memory model (tests, notebooks).

        Parameters
        ----------
        model : RegimeModel
            The fitted model (copied through its bytes).
        instrument_id : InstrumentId
            The instrument whose FeatureVectors are filtered.
        model_version : str, optional
            The version written into the labels (default ``"<kind>-<sha256[:12]>"``).
        **config : Any
            Further :class:`RegimeActorConfig` fields (``fail_on_mismatch``, ``component_id``).

        Returns
        -------
        RegimeActor
            The actor.

        """
        return cls(
            RegimeActorConfig(instrument_id=instrument_id, model_version=model_version, **config),
            model=model,
        )

    def on_start(self) -> None:
        """Load the model and subscribe to the instrument's FeatureVectors.

        Raises
        ------
        ModelError
            If the model file or registry version is missing, corrupted or not a regime model (the
            actor then stays in ``STARTING`` and publishes nothing).

        """
        self.model = self._load_model()
        self.model.reset()
        self.model_version = self.config.model_version or f"{self.model.kind}-{self.model.fingerprint()}"
        self.refusal = None
        self._accepted = None
        self._indices = None
        self.subscribe_data(self._feature_type, instrument_id=self._instrument_id)

    def on_data(self, data: Data) -> None:
        """Filter a FeatureVector and publish the resulting RegimeLabel."""
        if not isinstance(data, FeatureVector) or data.instrument_id != self._instrument_id:
            return
        model = self.model
        if model is None or self.refusal is not None:
            return
        if self._accepted != (data.spec_hash, data.names):
            try:
                model.check_spec_hash(data.spec_hash)
                self._indices = model.feature_indices(data.feature_names())
            except ModelError as exc:
                self._refuse(exc)
                return
            self._accepted = (data.spec_hash, data.names)
        assert self._indices is not None
        values = data.as_array()[self._indices]
        if not np.isfinite(values).all():  # warm-up (the FeatureActor's all-NaN marker) or a gap
            self.warmup_skipped += 1
            return
        probabilities = model.filter_step(values)
        label = RegimeLabel(
            instrument_id=self._instrument_id,
            regime=model.regime,
            probabilities=model.probabilities_by_name(probabilities),
            model_version=self.model_version,
            ts_event=data.ts_event,
            ts_init=data.ts_init,
        )
        self.publish_data(self._label_type, label)
        self.labels_published += 1

    def on_stop(self) -> None:
        """Unsubscribe from the instrument's FeatureVectors."""
        self.unsubscribe_data(self._feature_type, instrument_id=self._instrument_id)

    def on_reset(self) -> None:
        """Forget the loaded model, its filter state and the counters; the next start reloads it."""
        self.model = None
        self.refusal = None
        self._accepted = None
        self._indices = None
        self.labels_published = 0
        self.warmup_skipped = 0

    def _load_model(self) -> RegimeModel:
        config = self.config
        if self._model_bytes is not None:
            return RegimeModel.from_bytes(self._model_bytes)
        if config.model_path:
            path = Path(config.model_path)
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise ModelError(f"cannot read the regime model file {path}: {exc}") from exc
            try:
                return RegimeModel.from_bytes(data)
            except ModelError as exc:
                raise ModelError(f"regime model file {path} cannot be loaded: {exc}") from exc
        from nautilus_ai.learning.registry import ModelRegistry

        loaded = ModelRegistry(config.registry_path).load(config.model_version)
        if not isinstance(loaded, RegimeModel):
            raise ModelError(
                f"model version {config.model_version!r} is a {type(loaded).__name__}, not a regime model"
            )
        return loaded

    def _refuse(self, error: ModelError) -> None:
        self.refusal = error
        message = f"regime model {self.model_version!r} refuses to serve {self._instrument_id}: {error}"
        if self._fail_on_mismatch:
            raise ModelError(message) from error
        self.log.error(message + " Stopping the RegimeActor: no further regime labels will be published.")
        self.stop()
