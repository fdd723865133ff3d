"""The LightGBM direction model: P(forward return > 0) from one feature vector.

:class:`DirectionClassifier` follows the scikit-learn estimator contract: ``__init__`` only stores
parameters, :meth:`~DirectionClassifier.fit` returns ``self`` and learned state ends in ``_``. It
carries the fingerprint of the feature set it was trained on (names and ``FeatureSpec`` hash) and
refuses live features that differ. Training is deterministic: the same data, parameters and seed
give byte-identical :meth:`~DirectionClassifier.to_bytes` output.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np

from nautilus_ai.errors import ModelError

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


class DirectionClassifier:
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

    def __init__(self, params: dict[str, Any] | None = None, seed: int = 0) -> None:
        self.params = params
        self.seed = seed

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
        self.feature_names_ = names
        self.spec_hash_ = str(spec_hash)
        self.n_train_ = int(matrix.shape[0])
        self.params_ = params
        return self

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
        matrix = _as_matrix(X)
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

    def check_features(self, names: Sequence[str], spec_hash: str) -> None:
        """Check that live features match the ones the model was trained on.

        Parameters
        ----------
        names : Sequence[str]
            The live feature names, in value order.
        spec_hash : str
            The live ``FeatureSpec`` hash.

        Raises
        ------
        ModelError
            If the names (or their order) or the spec hash differ; the message shows both sides.

        """
        self._fitted_booster()
        check_feature_match(self.feature_names_, self.spec_hash_, names, spec_hash)

    # -- serialization ----------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Serialize the fitted model: a header line, one line of JSON metadata, the LightGBM model.

        Returns
        -------
        bytes
            Deterministic bytes: the same fitted model always gives the same output.

        """
        booster = self._fitted_booster()
        meta = {
            "feature_names": list(self.feature_names_),
            "lightgbm_version": lgb.__version__,
            "n_train": self.n_train_,
            "params": self.params_,
            "seed": int(self.seed),
            "spec_hash": self.spec_hash_,
        }
        meta_line = json.dumps(
            meta, sort_keys=True, separators=(",", ":"), allow_nan=False, default=_json_scalar
        )
        model_text = booster.model_to_string(num_iteration=-1)
        return FORMAT_HEADER + meta_line.encode("utf-8") + b"\n" + model_text.encode("utf-8")

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
        if not data.startswith(FORMAT_HEADER):
            raise ModelError(
                f"not a serialized DirectionClassifier (expected header {FORMAT_HEADER!r}, "
                f"got {bytes(data[: len(FORMAT_HEADER)])!r})"
            )
        body = data[len(FORMAT_HEADER) :]
        meta_line, sep, model_text = body.partition(b"\n")
        try:
            if not sep:
                raise ValueError("metadata line is not terminated")
            meta = json.loads(meta_line.decode("utf-8"))
            if not all(marker in model_text for marker in _LIGHTGBM_END_MARKERS):
                # LightGBM aborts the process (not an exception) on some truncated model texts.
                raise ValueError("the LightGBM model text is truncated")
            booster = lgb.Booster(model_str=model_text.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, lgb.basic.LightGBMError) as exc:
            raise ModelError(f"serialized DirectionClassifier is corrupted: {exc}") from exc
        model = cls(params=_user_params(meta["params"]), seed=int(meta["seed"]))
        model.booster_ = booster
        model.feature_names_ = tuple(meta["feature_names"])
        model.spec_hash_ = str(meta["spec_hash"])
        model.n_train_ = int(meta["n_train"])
        model.params_ = dict(meta["params"])
        return model

    # -- internals --------------------------------------------------------------------------------

    def _fitted_booster(self) -> lgb.Booster:
        booster = getattr(self, "booster_", None)
        if booster is None:
            raise ModelError("DirectionClassifier is not fitted: call fit() or load it from the registry")
        return booster

    def _check_width(self, width: int) -> None:
        if width != len(self.feature_names_):
            raise ModelError(
                f"got {width} feature values, the model expects {len(self.feature_names_)}: "
                f"{list(self.feature_names_)}"
            )

    def __repr__(self) -> str:
        return f"DirectionClassifier(params={self.params!r}, seed={self.seed!r})"


def validate_training_data(
    X: np.ndarray,  # noqa: N803 (scikit-learn convention)
    y: np.ndarray,
    feature_names: Sequence[str],
    sample_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], np.ndarray | None]:
    """Check the inputs of a binary estimator's ``fit`` and return them as arrays.

    Parameters
    ----------
    X : np.ndarray
        Float matrix of shape (n_rows, n_features); NaN marks a missing value.
    y : np.ndarray
        Labels in {0, 1} of shape (n_rows,); both classes must be present.
    feature_names : Sequence[str]
        Names of the columns of ``X``: unique, without ``','``.
    sample_weight : np.ndarray, optional
        Non-negative finite weights of shape (n_rows,) with a positive sum.

    Returns
    -------
    tuple
        ``(matrix, labels, names, weights)``: float64 matrix, float64 labels, names as a tuple,
        float64 weights or ``None``.

    Raises
    ------
    ModelError
        If any input breaks the rules above; the message names the input and what was expected.

    """
    matrix = _as_matrix(X)
    labels = np.asarray(y, dtype=np.float64)
    names = tuple(str(name) for name in feature_names)
    if labels.shape != (matrix.shape[0],):
        raise ModelError(f"fit: y has shape {labels.shape}, expected ({matrix.shape[0]},) to match X")
    if matrix.shape[1] != len(names):
        raise ModelError(f"fit: X has {matrix.shape[1]} columns but {len(names)} feature names")
    if len(set(names)) != len(names):
        raise ModelError(f"fit: feature names are not unique: {list(names)}")
    if any("," in name for name in names):
        raise ModelError(f"fit: feature names may not contain ',': {list(names)}")
    if not np.isin(labels, (0.0, 1.0)).all():
        raise ModelError("fit: y must only hold 0 and 1 (drop rows whose label is NaN before fitting)")
    if np.unique(labels).size < 2:
        raise ModelError("fit: y holds a single class; the training window needs both up and down labels")
    if sample_weight is None:
        return matrix, labels, names, None
    weights = np.asarray(sample_weight, dtype=np.float64)
    if weights.shape != labels.shape:
        raise ModelError(f"fit: sample_weight has shape {weights.shape}, expected {labels.shape} to match y")
    if not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
        raise ModelError("fit: sample_weight must be finite and non-negative with a positive sum")
    return matrix, labels, names, weights


def check_feature_match(
    model_names: Sequence[str], model_spec_hash: str, live_names: Sequence[str], live_spec_hash: str
) -> None:
    """Check that live features match a model's training features (names, order, spec hash).

    Parameters
    ----------
    model_names : Sequence[str]
        The feature names the model was trained on, in column order.
    model_spec_hash : str
        The ``FeatureSpec`` hash the model was trained on.
    live_names : Sequence[str]
        The live feature names, in value order.
    live_spec_hash : str
        The live ``FeatureSpec`` hash.

    Raises
    ------
    ModelError
        If the names (or their order) or the spec hash differ; the message shows both sides.

    """
    trained = tuple(str(name) for name in model_names)
    live = tuple(str(name) for name in live_names)
    problems = []
    if live != trained:
        missing = [n for n in trained if n not in live]
        extra = [n for n in live if n not in trained]
        detail = f"missing from live: {missing}, not in model: {extra}"
        if not missing and not extra:
            detail = "same names, different order"
        problems.append(f"feature names differ ({detail}); model: {list(trained)}; live: {list(live)}")
    if str(live_spec_hash) != str(model_spec_hash):
        problems.append(f"spec hash differs; model: {str(model_spec_hash)!r}; live: {str(live_spec_hash)!r}")
    if problems:
        raise ModelError(
            "live features do not match the model's training features: "
            + "; ".join(problems)
            + ". Retrain the model on the live FeatureSpec or run the FeatureSpec it was trained on."
        )


def as_feature_matrix(X: np.ndarray) -> np.ndarray:  # noqa: N803 (scikit-learn convention)
    """Return ``X`` as a 2-D float64 array.

    Parameters
    ----------
    X : np.ndarray
        Feature rows of shape (n_rows, n_features).

    Returns
    -------
    np.ndarray
        The float64 matrix (no copy when ``X`` already is one).

    Raises
    ------
    ModelError
        If ``X`` is not 2-dimensional.

    """
    return _as_matrix(X)


def _as_matrix(X: np.ndarray) -> np.ndarray:  # noqa: N803 (scikit-learn convention)
    matrix = np.asarray(X, dtype=np.float64)
    if matrix.ndim != 2:
        raise ModelError(f"X must be 2-dimensional (n_rows, n_features), got shape {matrix.shape}")
    return matrix


def _json_scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise ModelError(f"model parameter {value!r} ({type(value).__name__}) is not JSON-serializable")


def _user_params(effective: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in effective.items() if k not in _DETERMINISM_PARAMS and k not in _RESERVED_PARAMS}
