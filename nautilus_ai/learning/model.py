"""The LightGBM direction model: P(forward return > 0) from one feature vector.

:class:`DirectionClassifier` follows the scikit-learn estimator contract: ``__init__`` only stores
parameters, :meth:`~DirectionClassifier.fit` returns ``self`` and learned state ends in ``_``. It
carries the fingerprint of the feature set it was trained on (names and ``FeatureSpec`` hash) and
refuses live features that differ. Training is deterministic: the same data, parameters and seed
give byte-identical :meth:`~DirectionClassifier.to_bytes` output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np

from nautilus_ai.errors import ModelError

# The feature checks live in model_checks; as_feature_matrix, check_feature_match and
# validate_training_data stay importable from here, their original home.
from nautilus_ai.learning.model_checks import (
    FingerprintedEstimator,
    as_feature_matrix,
    validate_training_data,
)
from nautilus_ai.learning.model_checks import check_feature_match as check_feature_match
from nautilus_ai.serialization import pack, unpack

FORMAT_HEADER = b"nautilus-ai/direction-classifier/1\n"
"""First line of every serialized model; bump the trailing number when the layout changes."""

DEFAULT_PARAMS: dict[str, Any] = {
    "n_estimators": 200,
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_child_samples": 20,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "verbose": -1,
}
"""Defaults for small tabular data; user ``params`` override them."""

_DETERMINISM_PARAMS: dict[str, Any] = {
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
}
"""Forced on every fit so that training is reproducible bit for bit."""

_RESERVED_PARAMS = frozenset({"random_state", "seed", "objective"})
_LIGHTGBM_END_MARKERS = (b"\nend of trees\n", b"\nend of parameters\n")


class DirectionClassifier(FingerprintedEstimator):
    """Gradient-boosted classifier of the direction of the forward return.

    Parameters
    ----------
    params : dict, optional
        LightGBM (scikit-learn API) parameters merged over :data:`DEFAULT_PARAMS`.
        ``deterministic``, ``force_row_wise`` and ``num_threads`` are forced for reproducibility;
        ``seed``/``random_state``/``objective`` may not be given (use ``seed``).
    seed : int, default 0
        Seed of every random draw of the booster (row and column subsampling).

    Attributes
    ----------
    booster_ : lightgbm.Booster
        The trained booster.
    feature_names_ : tuple[str, ...]
        Feature names, in column order, the model was trained on.
    spec_hash_ : str
        Hash of the ``FeatureSpec`` that produced the training features.
    n_train_ : int
        Number of training rows.
    params_ : dict
        The effective LightGBM parameters used by :meth:`fit`.

    """

    # -- training ---------------------------------------------------------------------------------

    def effective_params(self) -> dict[str, Any]:
        """Return the LightGBM parameters :meth:`fit` uses (defaults, user params, forced flags).

        Raises
        ------
        ModelError
            If ``params`` sets a reserved key.

        """
        user = dict(self.params or {})
        reserved = sorted(_RESERVED_PARAMS.intersection(user))
        if reserved:
            raise ModelError(
                f"DirectionClassifier params may not set {reserved}: pass seed=... to the constructor "
                "instead of 'seed'/'random_state'; the objective is always binary"
            )
        merged = {**DEFAULT_PARAMS, **user, **_DETERMINISM_PARAMS}
        merged["random_state"] = int(self.seed)
        merged["objective"] = "binary"
        return dict(sorted(merged.items()))

    def fit(
        self,
        X: np.ndarray,  # noqa: N803 (scikit-learn convention)
        y: np.ndarray,
        feature_names: Sequence[str],
        spec_hash: str,
        *,
        sample_weight: np.ndarray | None = None,
    ) -> DirectionClassifier:
        """Train the model on feature rows ``X`` and direction labels ``y``.

        Parameters
        ----------
        X : np.ndarray
            Float matrix of shape (n_rows, n_features); NaN marks a missing value.
        y : np.ndarray
            Labels in {0, 1} of shape (n_rows,); both classes must be present.
        feature_names : Sequence[str]
            Names of the columns of ``X``, in order.
        spec_hash : str
            Hash of the ``FeatureSpec`` that produced ``X``.
        sample_weight : np.ndarray, optional
            Non-negative finite weight per row (for example from label uniqueness); ``None``
            weighs every row 1. The weights are not part of the serialized model.

        Returns
        -------
        DirectionClassifier
            ``self``, fitted.

        Raises
        ------
        ModelError
            If the shapes disagree, ``y`` is not binary or has one class only, the weights are
            invalid, or ``params`` is invalid.

        """
        matrix, labels, names, weights = validate_training_data(X, y, feature_names, sample_weight)
        params = self.effective_params()
        estimator = lgb.LGBMClassifier(**params)
        estimator.fit(matrix, labels.astype(np.int64), sample_weight=weights)
        self.booster_ = estimator.booster_
        self._set_fingerprint(names, spec_hash, matrix.shape[0], params)
        return self

    def refit(
        self,
        X: np.ndarray,  # noqa: N803 (scikit-learn convention)
        y: np.ndarray,
        *,
        decay_rate: float = 0.9,
        sample_weight: np.ndarray | None = None,
    ) -> DirectionClassifier:
        """Return a copy whose leaf values are refitted on new rows, trees kept (LightGBM ``refit``).

        Every leaf's output becomes ``decay_rate * old + (1 - decay_rate) * new``, where ``new`` is
        the leaf value fitted on ``X``/``y`` with the same tree structure: the model adapts to recent
        data without growing or reshaping trees. ``self`` is not changed.

        Parameters
        ----------
        X : np.ndarray
            Float matrix of shape (n_rows, n_features) in the order of ``feature_names_``.
        y : np.ndarray
            Labels in {0, 1}; both classes must be present.
        decay_rate : float, default 0.9
            Weight of the old leaf values, in [0, 1].
        sample_weight : np.ndarray, optional
            Non-negative weight per row.

        Returns
        -------
        DirectionClassifier
            A new fitted classifier (same parameters, seed and fingerprint; ``n_train_`` = rows of ``X``).

        Raises
        ------
        ModelError
            If the model is not fitted, the data is invalid or ``decay_rate`` is outside [0, 1].

        """
        booster = self._fitted_booster()
        if not 0.0 <= float(decay_rate) <= 1.0:
            raise ModelError(f"refit: decay_rate={decay_rate} must be in [0, 1]")
        matrix, labels, names, weights = validate_training_data(X, y, self.feature_names_, sample_weight)
        refitted = booster.refit(
            matrix, labels.astype(np.int64), decay_rate=float(decay_rate), weight=weights, num_threads=1
        )
        clone = DirectionClassifier(params=self.params, seed=self.seed)
        clone.booster_ = refitted
        clone._set_fingerprint(names, self.spec_hash_, matrix.shape[0], dict(self.params_))
        return clone

    # -- inference --------------------------------------------------------------------------------

    def predict_proba(self, X: np.ndarray) -> np.ndarray:  # noqa: N803 (scikit-learn convention)
        """Return P(up) for every row of ``X``.

        Parameters
        ----------
        X : np.ndarray
            Float matrix of shape (n_rows, n_features) in the order of ``feature_names_``.

        Returns
        -------
        np.ndarray
            Float64 probabilities of shape (n_rows,).

        Raises
        ------
        ModelError
            If the model is not fitted or ``X`` has the wrong number of columns.

        """
        booster = self._fitted_booster()
        matrix = as_feature_matrix(X)
        self._check_width(matrix.shape[1])
        return np.asarray(booster.predict(matrix, num_threads=1), dtype=np.float64)

    def predict_proba_one(self, x: np.ndarray) -> float:
        """Return P(up) for one feature vector (the fast path used by the ``SignalActor``).

        Parameters
        ----------
        x : np.ndarray
            Float vector of shape (n_features,) in the order of ``feature_names_``.

        Returns
        -------
        float
            The probability, equal to ``predict_proba(x[None, :])[0]``.

        """
        booster = self._fitted_booster()
        row = np.asarray(x, dtype=np.float64).reshape(1, -1)
        self._check_width(row.shape[1])
        # One thread: LightGBM's OpenMP pool otherwise costs milliseconds per single-row call
        # (see docs/benchmarks.md); the result is identical.
        return float(booster.predict(row, num_threads=1)[0])

    # -- serialization ----------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Serialize the fitted model: a header line, one line of JSON metadata, the LightGBM model.

        Returns
        -------
        bytes
            Deterministic bytes: the same fitted model always gives the same output.

        """
        booster = self._fitted_booster()
        meta = {**self._fingerprint_meta(), "lightgbm_version": lgb.__version__}
        model_text = booster.model_to_string(num_iteration=-1)
        return pack(FORMAT_HEADER, meta, model_text.encode("utf-8"), default=_json_scalar)

    @classmethod
    def from_bytes(cls, data: bytes) -> DirectionClassifier:
        """Rebuild a fitted model from :meth:`to_bytes` output.

        Parameters
        ----------
        data : bytes
            Serialized model.

        Returns
        -------
        DirectionClassifier
            The fitted model.

        Raises
        ------
        ModelError
            If ``data`` is not a serialized ``DirectionClassifier`` or cannot be parsed.

        """
        meta, model_text = unpack(data, FORMAT_HEADER, "DirectionClassifier")
        try:
            if not all(marker in model_text for marker in _LIGHTGBM_END_MARKERS):
                # LightGBM aborts the process (not an exception) on some truncated model texts.
                raise ValueError("the LightGBM model text is truncated")
            booster = lgb.Booster(model_str=model_text.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, lgb.basic.LightGBMError) as exc:
            raise ModelError(f"serialized DirectionClassifier is corrupted: {exc}") from exc
        model = cls(params=_user_params(meta["params"]), seed=int(meta["seed"]))
        model.booster_ = booster
        model._restore_fingerprint(meta)
        return model

    # -- internals --------------------------------------------------------------------------------

    def _fitted_booster(self) -> lgb.Booster:
        booster = getattr(self, "booster_", None)
        if booster is None:
            raise ModelError("DirectionClassifier is not fitted: call fit() or load it from the registry")
        return booster

    _fitted = _fitted_booster


def _json_scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise ModelError(f"model parameter {value!r} ({type(value).__name__}) is not JSON-serializable")


def _user_params(effective: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in effective.items() if k not in _DETERMINISM_PARAMS and k not in _RESERVED_PARAMS}
