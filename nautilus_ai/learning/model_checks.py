"""Checks and fingerprint plumbing shared by every model that carries a feature fingerprint.

A fitted model remembers the feature names (in column order) and the ``FeatureSpec`` hash it was
trained on, refuses live features that differ (:func:`check_feature_match`) and rows of the wrong
width (:func:`check_feature_width`). :func:`validate_training_data` checks the inputs of a binary
estimator's ``fit``. :class:`FingerprintedEstimator` is the base of the tabular estimators
(LightGBM, XGBoost, random forest): the fingerprint attributes, ``check_features``, the width check
and the fingerprint fields of their serialized form. Everything here is re-exported by
:mod:`nautilus_ai.learning.model`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nautilus_ai.errors import ModelError


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
    matrix = as_feature_matrix(X)
    labels = np.asarray(y, dtype=np.float64)
    names = tuple(str(name) for name in feature_names)
    if labels.shape != (matrix.shape[0],):
        raise ModelError(f"fit: y has shape {labels.shape}, expected ({matrix.shape[0]},) to match X")
    if matrix.shape[1] != len(names):
        raise ModelError(f"fit: X has {matrix.shape[1]} columns but {len(names)} feature names")
    check_unique_names(names)
    if any("," in name for name in names):
        raise ModelError(f"fit: feature names may not contain ',': {list(names)}")
    check_binary_labels(labels)
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


def check_unique_names(names: Sequence[str]) -> None:
    """Raise ``ModelError`` (``fit: feature names are not unique``) if a name repeats."""
    if len(set(names)) != len(names):
        raise ModelError(f"fit: feature names are not unique: {list(names)}")


def check_binary_labels(labels: np.ndarray, what: str = "y") -> None:
    """Raise ``ModelError`` if the float ``labels`` (named ``what``) hold anything but 0 and 1."""
    if not np.isin(labels, (0.0, 1.0)).all():
        raise ModelError(f"fit: {what} must only hold 0 and 1 (drop rows whose label is NaN before fitting)")


def check_feature_match(
    model_names: Sequence[str],
    model_spec_hash: str,
    live_names: Sequence[str],
    live_spec_hash: str,
    *,
    owner: str = "the model's",
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
    owner : str, default "the model's"
        Whose training features, as the message says it (e.g. ``"the SequenceClassifier's"``).

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
            f"live features do not match {owner} training features: "
            + "; ".join(problems)
            + ". Retrain the model on the live FeatureSpec or run the FeatureSpec it was trained on."
        )


def check_feature_width(feature_names: Sequence[str], width: int) -> None:
    """Raise ``ModelError`` if ``width`` feature values were given to a model of ``feature_names``."""
    if width != len(feature_names):
        raise ModelError(
            f"got {width} feature values, the model expects {len(feature_names)}: {list(feature_names)}"
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
    matrix = np.asarray(X, dtype=np.float64)
    if matrix.ndim != 2:
        raise ModelError(f"X must be 2-dimensional (n_rows, n_features), got shape {matrix.shape}")
    return matrix


def merge_user_params(
    owner: str,
    params: Mapping[str, Any] | None,
    defaults: Mapping[str, Any],
    allowed: frozenset[str],
    reserved: frozenset[str],
    reserved_hint: str,
) -> dict[str, Any]:
    """Return ``defaults`` updated by the user ``params`` after checking the user's keys and values.

    Parameters
    ----------
    owner : str
        The estimator's class name, for the messages.
    params : Mapping[str, Any], optional
        The user parameters; ``None`` means none.
    defaults : Mapping[str, Any]
        The estimator's defaults.
    allowed, reserved : frozenset[str]
        The keys users may set, and those the estimator sets itself.
    reserved_hint : str
        What the message says to do instead of setting a reserved key.

    Returns
    -------
    dict[str, Any]
        The merged parameters (defaults first, in insertion order).

    Raises
    ------
    ModelError
        If ``params`` sets a reserved or unknown key or a value that is not JSON.

    """
    user = dict(params or {})
    reserved_keys = sorted(reserved.intersection(user))
    if reserved_keys:
        raise ModelError(f"{owner} params may not set {reserved_keys}: {reserved_hint}")
    unknown = sorted(set(user) - allowed)
    if unknown:
        raise ModelError(f"{owner} params {unknown} are unknown; expected some of {sorted(allowed)}")
    merged = {**defaults, **user}
    if json.loads(json.dumps(merged)) != merged:
        raise ModelError(f"{owner} params must be JSON values, got {merged}")
    return merged


class FingerprintedEstimator:
    """Base of the tabular binary estimators: the feature fingerprint, its checks, its saved fields.

    ``__init__`` stores the parameters ``params`` (a dict, or ``None`` for the defaults) and
    ``seed``. A subclass implements :meth:`predict_proba` and ``_fitted`` (return the learned
    state, or raise ``ModelError`` when the model is not fitted); ``fit`` ends with
    :meth:`_set_fingerprint`, ``to_bytes`` writes :meth:`_fingerprint_meta` and ``from_bytes``
    calls :meth:`_restore_fingerprint`. The fingerprint attributes (``feature_names_``,
    ``spec_hash_``, ``n_train_``, ``params_``: see
    :class:`~nautilus_ai.learning.estimators.BinaryEstimator`) exist once the model is fitted or
    loaded.
    """

    feature_names_: tuple[str, ...]
    spec_hash_: str
    n_train_: int
    params_: dict[str, Any]

    def __init__(self, params: dict[str, Any] | None = None, seed: int = 0) -> None:
        self.params = params
        self.seed = seed

    def predict_proba(self, X: np.ndarray) -> np.ndarray:  # noqa: N803 (scikit-learn convention)
        """Return P(up) for every row of ``X`` as a float64 array of shape (n_rows,)."""
        raise NotImplementedError

    def predict_proba_one(self, x: np.ndarray) -> float:
        """Return P(up) for one vector ``x`` (in ``feature_names_`` order): ``predict_proba(x[None])[0]``."""
        return float(self.predict_proba(np.asarray(x, dtype=np.float64).reshape(1, -1))[0])

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
            If the model is not fitted, or the names (or their order) or the spec hash differ; the
            message shows both sides.

        """
        self._fitted()
        check_feature_match(self.feature_names_, self.spec_hash_, names, spec_hash)

    def _fitted(self) -> Any:
        raise NotImplementedError

    def _check_width(self, width: int) -> None:
        check_feature_width(self.feature_names_, width)

    def _set_fingerprint(
        self, names: tuple[str, ...], spec_hash: str, n_train: int, params: dict[str, Any]
    ) -> None:
        self.feature_names_ = names
        self.spec_hash_ = str(spec_hash)
        self.n_train_ = int(n_train)
        self.params_ = params

    def _fingerprint_meta(self) -> dict[str, Any]:
        """Return the saved fields every estimator shares; the caller adds its library version."""
        return {
            "feature_names": list(self.feature_names_),
            "n_train": self.n_train_,
            "params": self.params_,
            "seed": int(self.seed),
            "spec_hash": self.spec_hash_,
        }

    def _restore_fingerprint(self, meta: Mapping[str, Any]) -> None:
        """Set the fingerprint from :meth:`_fingerprint_meta` output (a bad field raises KeyError etc.)."""
        self.feature_names_ = tuple(str(n) for n in meta["feature_names"])
        self.spec_hash_ = str(meta["spec_hash"])
        self.n_train_ = int(meta["n_train"])
        self.params_ = dict(meta["params"])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(params={self.params!r}, seed={self.seed!r})"
