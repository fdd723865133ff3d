"""Stage-1 random forest: trained by scikit-learn, served by a vectorized traversal, saved as JSON.

:class:`RandomForestDirectionClassifier` fits a ``sklearn.ensemble.RandomForestClassifier`` (one
thread, seeded) and then keeps only the trees' arrays (``children_left``, ``children_right``,
``feature``, ``threshold``, ``missing_go_to_left`` and the per-node probability of class 1), all
trees concatenated into flat arrays. :func:`forest_predict_up` walks every (row, tree) pair down
those arrays at once and averages the leaves' probabilities in the same order and with the same
float operations as scikit-learn, so its output equals ``RandomForestClassifier.predict_proba``
bit for bit (the tests check it). Serialization is a header line plus one JSON line whose arrays
are base64 of little-endian bytes: exact, compact, deterministic and free of pickle.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np
import sklearn
from sklearn.ensemble import RandomForestClassifier
from threadpoolctl import threadpool_limits

from nautilus_ai.errors import ModelError
from nautilus_ai.learning.model_checks import (
    FingerprintedEstimator,
    as_feature_matrix,
    merge_user_params,
    validate_training_data,
)
from nautilus_ai.serialization import pack_document, unpack_document

FOREST_FORMAT_HEADER = b"nautilus-ai/random-forest-classifier/1\n"
"""First line of every serialized random forest; bump the number when the layout changes."""

DEFAULT_FOREST_PARAMS: dict[str, Any] = {
    "n_estimators": 200,
    "max_depth": None,
    "min_samples_leaf": 20,
    "max_features": "sqrt",
}
"""Defaults for small, noisy tabular data; user ``params`` override them."""

FOREST_RESERVED_PARAMS = frozenset({"random_state", "n_jobs", "warm_start", "verbose"})
"""Parameters the class sets itself (seed, one thread) and users may not give."""

FOREST_ALLOWED_PARAMS = frozenset(RandomForestClassifier().get_params()) - FOREST_RESERVED_PARAMS
"""``RandomForestClassifier`` parameters users may set."""

_ROWS_PER_CHUNK = 2048

_ARRAY_FIELDS: dict[str, str] = {
    "roots": "<i8",
    "children_left": "<i8",
    "children_right": "<i8",
    "feature": "<i8",
    "threshold": "<f8",
    "missing_go_to_left": "u1",
    "proba_up": "<f8",
}
"""The forest's flat arrays and their stored dtypes."""


class RandomForestDirectionClassifier(FingerprintedEstimator):
    """Random forest classifier of the direction of the forward return.

    Parameters
    ----------
    params : dict, optional
        ``RandomForestClassifier`` parameters merged over :data:`DEFAULT_FOREST_PARAMS`; must be
        JSON values. ``random_state``, ``n_jobs``, ``warm_start`` and ``verbose`` are reserved.
    seed : int, default 0
        Seed of the bootstrap samples and feature draws.

    Attributes
    ----------
    trees_ : dict[str, np.ndarray]
        The flat tree arrays (see the module docstring); ``roots`` holds each tree's root index.
    feature_names_ : tuple[str, ...]
        Feature names, in column order, the model was trained on.
    spec_hash_ : str
        Hash of the ``FeatureSpec`` that produced the training features.
    n_train_ : int
        Number of training rows.
    params_ : dict
        The effective ``RandomForestClassifier`` parameters.

    """

    def effective_params(self) -> dict[str, Any]:
        """Return the forest parameters :meth:`fit` uses (defaults, then user params).

        Raises
        ------
        ModelError
            If ``params`` sets a reserved or unknown key or a value that is not JSON.

        """
        merged = merge_user_params(
            "RandomForestDirectionClassifier",
            self.params,
            DEFAULT_FOREST_PARAMS,
            FOREST_ALLOWED_PARAMS,
            FOREST_RESERVED_PARAMS,
            "pass seed=... to the constructor; training always uses one thread",
        )
        return dict(sorted(merged.items()))

    def fit(
        self,
        X: np.ndarray,  # noqa: N803 (scikit-learn convention)
        y: np.ndarray,
        feature_names: Sequence[str],
        spec_hash: str,
        *,
        sample_weight: np.ndarray | None = None,
    ) -> RandomForestDirectionClassifier:
        """Train the forest on feature rows ``X`` and direction labels ``y``.

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
            Non-negative weight per row; ``None`` weighs every row 1.

        Returns
        -------
        RandomForestDirectionClassifier
            ``self``, fitted.

        Raises
        ------
        ModelError
            If the inputs or ``params`` are invalid.

        """
        matrix, labels, names, weights = validate_training_data(X, y, feature_names, sample_weight)
        params = self.effective_params()
        forest = RandomForestClassifier(**params, random_state=int(self.seed), n_jobs=1)
        with threadpool_limits(limits=1):
            forest.fit(matrix, labels.astype(np.int64), sample_weight=weights)
        self.trees_ = export_forest(forest)
        self._set_fingerprint(names, spec_hash, matrix.shape[0], params)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:  # noqa: N803 (scikit-learn convention)
        """Return P(up) for every row of ``X``.

        Parameters
        ----------
        X : np.ndarray
            Float matrix of shape (n_rows, n_features) in the order of ``feature_names_``.

        Returns
        -------
        np.ndarray
            Float64 probabilities of shape (n_rows,), equal to scikit-learn's ``predict_proba[:, 1]``.

        Raises
        ------
        ModelError
            If the model is not fitted or ``X`` has the wrong number of columns.

        """
        trees = self._fitted_trees()
        matrix = as_feature_matrix(X)
        self._check_width(matrix.shape[1])
        return forest_predict_up(trees, matrix)

    def to_bytes(self) -> bytes:
        """Serialize the fitted forest: the header line and one line of JSON.

        Returns
        -------
        bytes
            Deterministic bytes: the same fitted model always gives the same output.

        """
        trees = self._fitted_trees()
        document = {
            **self._fingerprint_meta(),
            "arrays": {name: _encode_array(trees[name], dtype) for name, dtype in _ARRAY_FIELDS.items()},
            "sklearn_version": sklearn.__version__,
        }
        return pack_document(FOREST_FORMAT_HEADER, document)

    @classmethod
    def from_bytes(cls, data: bytes) -> RandomForestDirectionClassifier:
        """Rebuild a fitted forest from :meth:`to_bytes` output.

        Parameters
        ----------
        data : bytes
            Serialized model.

        Returns
        -------
        RandomForestDirectionClassifier
            The fitted model.

        Raises
        ------
        ModelError
            If ``data`` is not a serialized forest or cannot be parsed.

        """
        document = unpack_document(data, FOREST_FORMAT_HEADER, "RandomForestDirectionClassifier")
        try:
            trees = {
                name: _decode_array(document["arrays"][name], dtype) for name, dtype in _ARRAY_FIELDS.items()
            }
            _check_forest_arrays(trees)
            model = cls(params=dict(document["params"]), seed=int(document["seed"]))
            model._restore_fingerprint(document)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise ModelError(f"serialized RandomForestDirectionClassifier is corrupted: {exc}") from exc
        model.trees_ = trees
        return model

    def _fitted_trees(self) -> dict[str, np.ndarray]:
        trees = getattr(self, "trees_", None)
        if trees is None:
            raise ModelError(
                "RandomForestDirectionClassifier is not fitted: call fit() or load it from the registry"
            )
        return trees

    _fitted = _fitted_trees


def export_forest(forest: RandomForestClassifier) -> dict[str, np.ndarray]:
    """Return the trees of a fitted binary ``RandomForestClassifier`` as flat arrays.

    Parameters
    ----------
    forest : RandomForestClassifier
        A forest fitted on labels {0, 1} (single output).

    Returns
    -------
    dict[str, np.ndarray]
        ``roots`` (index of each tree's root), ``children_left``/``children_right`` (global node
        indices, -1 at leaves), ``feature`` (-2 at leaves), ``threshold``, ``missing_go_to_left``
        and ``proba_up`` (each node's weighted fraction of class 1, as scikit-learn predicts it).

    Raises
    ------
    ModelError
        If the forest is not a single-output classifier of the classes {0, 1}.

    """
    classes = np.asarray(forest.classes_)
    if getattr(forest, "n_outputs_", 1) != 1 or classes.tolist() != [0, 1]:
        raise ModelError(f"export_forest needs a single-output forest of classes [0, 1], got {classes}")
    parts: dict[str, list[np.ndarray]] = {name: [] for name in _ARRAY_FIELDS}
    offset = 0
    for estimator in forest.estimators_:
        tree = estimator.tree_
        left = np.asarray(tree.children_left, dtype=np.int64)
        right = np.asarray(tree.children_right, dtype=np.int64)
        parts["roots"].append(np.array([offset], dtype=np.int64))
        parts["children_left"].append(np.where(left >= 0, left + offset, -1))
        parts["children_right"].append(np.where(right >= 0, right + offset, -1))
        parts["feature"].append(np.asarray(tree.feature, dtype=np.int64))
        parts["threshold"].append(np.asarray(tree.threshold, dtype=np.float64))
        parts["missing_go_to_left"].append(np.asarray(tree.missing_go_to_left, dtype=np.uint8))
        # scikit-learn >= 1.4 stores each node's class fractions in ``value`` and predicts them as is.
        parts["proba_up"].append(np.asarray(tree.value, dtype=np.float64)[:, 0, 1])
        offset += int(tree.node_count)
    return {name: np.concatenate(arrays) for name, arrays in parts.items()}


def forest_predict_up(trees: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:  # noqa: N803
    """Return the forest's P(class 1) for every row of ``X`` (a pure kernel over the flat arrays).

    The values are cast to float32 first, as scikit-learn does, a NaN follows the node's
    ``missing_go_to_left`` and a value ``<= threshold`` goes left; leaf probabilities are summed
    tree by tree in order and divided by the number of trees, matching scikit-learn exactly.

    Parameters
    ----------
    trees : dict[str, np.ndarray]
        The arrays from :func:`export_forest`.
    X : np.ndarray
        Float matrix of shape (n_rows, n_features).

    Returns
    -------
    np.ndarray
        Float64 probabilities of shape (n_rows,).

    """
    values = np.asarray(X, dtype=np.float32).astype(np.float64)
    if values.shape[0] == 0:
        return np.zeros(0, dtype=np.float64)
    # Rows are walked in chunks so that the (rows, trees) node matrix stays small.
    return np.concatenate(
        [
            _walk(trees, values[start : start + _ROWS_PER_CHUNK])
            for start in range(0, values.shape[0], _ROWS_PER_CHUNK)
        ]
    )


def _walk(trees: dict[str, np.ndarray], values: np.ndarray) -> np.ndarray:
    roots = trees["roots"]
    left, right = trees["children_left"], trees["children_right"]
    feature, threshold = trees["feature"], trees["threshold"]
    missing_left = trees["missing_go_to_left"].astype(bool)
    nodes = np.broadcast_to(roots, (values.shape[0], roots.size)).copy()
    rows = np.broadcast_to(np.arange(values.shape[0])[:, None], nodes.shape)
    active = left[nodes] >= 0
    while active.any():
        at = nodes[active]
        x = values[rows[active], feature[at]]
        go_left = np.where(np.isnan(x), missing_left[at], x <= threshold[at])
        nodes[active] = np.where(go_left, left[at], right[at])
        active[active] = left[nodes[active]] >= 0
    leaf_up = trees["proba_up"][nodes]
    return np.cumsum(leaf_up, axis=1)[:, -1] / roots.size


def _encode_array(values: np.ndarray, dtype: str) -> dict[str, Any]:
    array = np.ascontiguousarray(values, dtype=np.dtype(dtype))
    return {"data": base64.b64encode(array.tobytes()).decode("ascii"), "dtype": dtype, "size": array.size}


def _decode_array(document: dict[str, Any], dtype: str) -> np.ndarray:
    if document["dtype"] != dtype:
        raise ValueError(f"array dtype {document['dtype']!r}, expected {dtype!r}")
    array = np.frombuffer(base64.b64decode(document["data"], validate=True), dtype=np.dtype(dtype))
    if array.size != int(document["size"]):
        raise ValueError(f"array has {array.size} values, the header says {document['size']}")
    return array.astype(np.dtype(dtype).newbyteorder("="))


def _check_forest_arrays(trees: dict[str, np.ndarray]) -> None:
    n_nodes = trees["children_left"].size
    if any(trees[name].size != n_nodes for name in _ARRAY_FIELDS if name != "roots"):
        raise ValueError("tree arrays have different lengths")
    if trees["roots"].size == 0:
        raise ValueError("the forest has no trees")
    for name in ("roots", "children_left", "children_right"):
        if (trees[name] >= n_nodes).any() or (trees[name] < -1).any():
            raise ValueError(f"{name} points outside the {n_nodes} nodes")
