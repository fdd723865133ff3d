"""Exact TreeSHAP attributions of tree ensembles, in the model's raw (margin) space.

Four kinds of model are supported, each through its fastest exact path:

* LightGBM (``lightgbm.Booster``, an ``LGBMModel``, or any object whose ``booster_`` is one, such as
  :class:`~nautilus_ai.learning.model.DirectionClassifier`): ``Booster.predict(pred_contrib=True)``,
  LightGBM's own TreeSHAP;
* XGBoost (``xgboost.Booster``, an ``XGBModel``, or an object whose ``booster_`` is one):
  ``Booster.predict(pred_contribs=True)``;
* scikit-learn tree ensembles (random forests, extra trees, gradient boosting, single trees, or an
  object whose ``estimator_``/``forest_``/``model_`` is one): ``shap.TreeExplainer`` with the
  path-dependent algorithm;
* forests kept as flat node arrays (an object with ``predict_proba`` and a ``trees_`` mapping of
  :data:`FLAT_FOREST_KEYS`, such as ``RandomForestDirectionClassifier``): the arrays hold no node
  sample counts, so ``shap.TreeExplainer`` runs the exact *interventional* algorithm against a
  ``background`` sample of training rows, which the caller must pass.

For boosted binary classifiers the raw output is the log-odds; for a random forest classifier it is
the forest's P(class 1) (a forest averages probabilities, so only that space is additive). In every
case the attributions of a row plus the base value equal the raw output (:func:`check_additivity`;
shap's own algorithms sum in float32, so allow about 1e-6 there).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import lightgbm as lgb
import numpy as np

from nautilus_ai.errors import ModelError

__all__ = [
    "FLAT_FOREST_KEYS",
    "check_additivity",
    "predicted_probability",
    "raw_margin",
    "tree_attributions",
    "tree_contributions",
]

_WRAPPED_MODEL_ATTRIBUTES = ("booster_", "estimator_", "forest_", "model_")
"""Attributes under which a wrapper object may hold the tree model to explain."""

FLAT_FOREST_KEYS = frozenset(
    {"roots", "children_left", "children_right", "feature", "threshold", "missing_go_to_left", "proba_up"}
)
"""Arrays of a flat forest: ``roots`` (each tree's root node), global child indices (-1 at leaves),
the split ``feature`` and ``threshold`` (``x <= threshold`` goes left, on float32 values), where a
NaN goes, and each node's P(class 1); the forest's output is the mean over trees of the leaf values.
"""


def tree_contributions(
    model: Any,
    X: np.ndarray,  # noqa: N803
    background: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the SHAP values and base values of a tree ensemble for the rows of ``X``.

    Parameters
    ----------
    model : Any
        A fitted tree model (see the module docstring for the supported kinds).
    X : np.ndarray
        Float matrix of shape (n_rows, n_features) in the model's column order; NaN is allowed
        where the model accepts it.
    background : np.ndarray, optional
        Reference rows (n_background, n_features), a sample of the training data; required by
        flat-array forests (interventional SHAP, whose base value is the mean output over these
        rows) and ignored by the other kinds, which carry their own node statistics.

    Returns
    -------
    tuple[np.ndarray, np.ndarray]
        ``(attributions, base_values)``: float64 arrays of shape (n_rows, n_features) and
        (n_rows,), with ``attributions.sum(axis=1) + base_values == raw_margin(model, X)``.

    Raises
    ------
    ModelError
        If the model is not a fitted supported tree model, is multi-class, ``X`` has the wrong
        shape, or a flat-array forest is given no ``background``.

    """
    kind, inner = _resolve(model)
    matrix = _as_matrix(X)
    if kind == "lightgbm":
        return _lightgbm_contributions(inner, matrix)
    if kind == "xgboost":
        return _xgboost_contributions(inner, matrix)
    if kind == "flat_forest":
        return _flat_forest_contributions(inner, matrix, background)
    return _sklearn_contributions(inner, matrix)


def tree_attributions(
    model: Any,
    X: np.ndarray,  # noqa: N803
    background: np.ndarray | None = None,
) -> np.ndarray:
    """Return the SHAP values of a tree ensemble for the rows of ``X``.

    Parameters
    ----------
    model : Any
        A fitted tree model (see :func:`tree_contributions`).
    X : np.ndarray
        Float matrix of shape (n_rows, n_features).
    background : np.ndarray, optional
        Reference rows, required by flat-array forests (see :func:`tree_contributions`).

    Returns
    -------
    np.ndarray
        Float64 attributions of shape (n_rows, n_features), in the raw (log-odds for boosted
        classifiers) output space.

    """
    return tree_contributions(model, X, background)[0]


def raw_margin(model: Any, X: np.ndarray) -> np.ndarray:  # noqa: N803
    """Return the raw output the attributions add up to.

    Parameters
    ----------
    model : Any
        A fitted tree model (see :func:`tree_contributions`).
    X : np.ndarray
        Float matrix of shape (n_rows, n_features).

    Returns
    -------
    np.ndarray
        Float64 array of shape (n_rows,): the log-odds of a boosted classifier, P(class 1) of a
        scikit-learn forest classifier, the prediction of a regressor.

    """
    kind, inner = _resolve(model)
    matrix = _as_matrix(X)
    if kind == "lightgbm":
        _check_lightgbm_width(inner, matrix)
        return np.asarray(inner.predict(matrix, raw_score=True, num_threads=1), dtype=np.float64)
    if kind == "xgboost":
        return np.asarray(
            inner.predict(_dmatrix(inner, matrix), output_margin=True), dtype=np.float64
        ).reshape(-1)
    if hasattr(inner, "predict_proba"):
        output = np.asarray(inner.predict_proba(matrix), dtype=np.float64)
        return output[:, -1] if output.ndim == 2 else output.reshape(-1)
    return np.asarray(inner.predict(matrix), dtype=np.float64).reshape(-1)


def predicted_probability(model: Any, X: np.ndarray) -> np.ndarray:  # noqa: N803
    """Return the model's P(class 1) (the transformed output, a prediction for a regressor).

    Parameters
    ----------
    model : Any
        A fitted tree model (see :func:`tree_contributions`). An object with ``predict_proba`` (a
        :class:`~nautilus_ai.learning.model.DirectionClassifier`, a scikit-learn classifier) is
        asked directly; a bare booster gives its objective's transformed output.
    X : np.ndarray
        Float matrix of shape (n_rows, n_features).

    Returns
    -------
    np.ndarray
        Float64 array of shape (n_rows,).

    """
    matrix = _as_matrix(X)
    if hasattr(model, "predict_proba"):
        output = np.asarray(model.predict_proba(matrix), dtype=np.float64)
        return output[:, -1] if output.ndim == 2 else output.reshape(-1)
    kind, inner = _resolve(model)
    if kind == "lightgbm":
        _check_lightgbm_width(inner, matrix)
        return np.asarray(inner.predict(matrix, num_threads=1), dtype=np.float64).reshape(-1)
    if kind == "xgboost":
        return np.asarray(inner.predict(_dmatrix(inner, matrix)), dtype=np.float64).reshape(-1)
    return raw_margin(inner, matrix)


def check_additivity(
    model: Any,
    X: np.ndarray,  # noqa: N803
    atol: float = 1e-4,
    background: np.ndarray | None = None,
) -> float:
    """Check that attributions plus the base value reproduce the model's raw output.

    Parameters
    ----------
    model : Any
        A fitted tree model (see :func:`tree_contributions`).
    X : np.ndarray
        Float matrix of shape (n_rows, n_features).
    atol : float, default 1e-4
        Largest absolute difference allowed (XGBoost computes in float32).
    background : np.ndarray, optional
        Reference rows, required by flat-array forests (see :func:`tree_contributions`).

    Returns
    -------
    float
        The largest absolute difference found.

    Raises
    ------
    ModelError
        If a row's attributions plus base value differ from its raw output by more than ``atol``.

    """
    attributions, base = tree_contributions(model, X, background)
    margin = raw_margin(model, X)
    error = np.abs(attributions.sum(axis=1) + base - margin)
    worst = float(error.max()) if error.size else 0.0
    if worst > atol:
        row = int(np.argmax(error))
        raise ModelError(
            f"SHAP additivity fails: row {row} attributions + base value = "
            f"{attributions[row].sum() + base[row]:.6g}, raw output = {margin[row]:.6g} "
            f"(difference {worst:.3g} > atol {atol:g})"
        )
    return worst


# -- model resolution -----------------------------------------------------------------------------


def _resolve(model: Any, depth: int = 0) -> tuple[str, Any]:
    """Return ``(kind, model to explain)``: ``lightgbm``, ``xgboost``, ``sklearn`` or ``flat_forest``."""
    if isinstance(model, lgb.Booster):
        return "lightgbm", model
    xgboost = sys.modules.get("xgboost")  # an XGBoost model can only exist if xgboost is imported
    if xgboost is not None and isinstance(model, xgboost.Booster):
        return "xgboost", model
    if xgboost is not None and isinstance(model, xgboost.XGBModel):
        return "xgboost", model.get_booster()
    if hasattr(model, "estimators_") or hasattr(model, "tree_"):  # fitted scikit-learn trees
        return "sklearn", model
    if _is_flat_forest(model):
        return "flat_forest", model
    if depth < 3:
        for attribute in _WRAPPED_MODEL_ATTRIBUTES:
            try:
                inner = getattr(model, attribute, None)
            except Exception:  # an unfitted LGBMModel raises on booster_
                inner = None
            if inner is None or inner is model:
                continue
            try:
                return _resolve(inner, depth + 1)
            except ModelError:
                continue
    raise ModelError(
        f"cannot compute tree attributions of {type(model).__name__}: expected a fitted LightGBM or "
        "XGBoost booster, a scikit-learn tree ensemble, a fitted model holding one in "
        f"{' / '.join(_WRAPPED_MODEL_ATTRIBUTES)}, or a fitted flat forest (trees_ and predict_proba)"
    )


def _as_matrix(X: np.ndarray) -> np.ndarray:  # noqa: N803
    matrix = np.asarray(X, dtype=np.float64)
    if matrix.ndim != 2:
        raise ModelError(f"X must be 2-dimensional (n_rows, n_features), got shape {matrix.shape}")
    return matrix


# -- LightGBM ------------------------------------------------------------------------------------


def _check_lightgbm_width(booster: lgb.Booster, matrix: np.ndarray) -> None:
    expected = booster.num_feature()
    if matrix.shape[1] != expected:
        raise ModelError(f"X has {matrix.shape[1]} columns, the LightGBM model expects {expected}")
    if booster.num_model_per_iteration() != 1:
        raise ModelError(
            f"tree attributions support single-output models; this LightGBM model has "
            f"{booster.num_model_per_iteration()} outputs per iteration (multi-class)"
        )


def _lightgbm_contributions(booster: lgb.Booster, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    _check_lightgbm_width(booster, matrix)
    contributions = np.asarray(booster.predict(matrix, pred_contrib=True, num_threads=1), dtype=np.float64)
    return contributions[:, :-1].copy(), contributions[:, -1].copy()


# -- XGBoost -------------------------------------------------------------------------------------


def _dmatrix(booster: Any, matrix: np.ndarray) -> Any:
    import xgboost

    expected = booster.num_features()
    if matrix.shape[1] != expected:
        raise ModelError(f"X has {matrix.shape[1]} columns, the XGBoost model expects {expected}")
    return xgboost.DMatrix(matrix, feature_names=booster.feature_names, nthread=1)


def _xgboost_contributions(booster: Any, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    contributions = np.asarray(
        booster.predict(_dmatrix(booster, matrix), pred_contribs=True), dtype=np.float64
    )
    if contributions.ndim != 2:
        raise ModelError(
            f"tree attributions support single-output models; this XGBoost model gives contributions "
            f"of shape {contributions.shape} (multi-class or multi-target)"
        )
    return contributions[:, :-1].copy(), contributions[:, -1].copy()


# -- scikit-learn --------------------------------------------------------------------------------


def _sklearn_contributions(model: Any, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import shap

    n_expected = getattr(model, "n_features_in_", matrix.shape[1])
    if matrix.shape[1] != n_expected:
        raise ModelError(f"X has {matrix.shape[1]} columns, the scikit-learn model expects {n_expected}")
    try:
        explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
    except Exception as exc:  # shap raises bare Exception for unsupported models
        raise ModelError(f"shap.TreeExplainer does not support {type(model).__name__}: {exc}") from exc
    values = np.asarray(explainer.shap_values(matrix, check_additivity=False), dtype=np.float64)
    expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype=np.float64))
    if values.ndim == 3:
        if values.shape[2] != 2:
            raise ModelError(
                f"tree attributions support binary classifiers and regressors; "
                f"{type(model).__name__} has {values.shape[2]} outputs"
            )
        values, expected = values[:, :, 1], expected[1:]
    base = np.full(matrix.shape[0], float(expected[0]))
    return values.copy(), base


# -- flat-array forests --------------------------------------------------------------------------


def _is_flat_forest(model: Any) -> bool:
    trees = getattr(model, "trees_", None)
    return isinstance(trees, Mapping) and set(trees) >= FLAT_FOREST_KEYS and hasattr(model, "predict_proba")


def _flat_forest_to_shap(trees: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Return a flat forest in ``shap.TreeExplainer``'s dictionary format (one dict per tree)."""
    roots = np.asarray(trees["roots"], dtype=np.int64)
    n_nodes = int(np.asarray(trees["children_left"]).size)
    ends = np.append(roots[1:], n_nodes)
    shap_trees = []
    for start, end in zip(roots.tolist(), ends.tolist(), strict=True):
        left = np.asarray(trees["children_left"][start:end], dtype=np.int64)
        right = np.asarray(trees["children_right"][start:end], dtype=np.int64)
        left = np.where(left >= 0, left - start, -1)
        right = np.where(right >= 0, right - start, -1)
        missing_left = np.asarray(trees["missing_go_to_left"][start:end]).astype(bool)
        shap_trees.append(
            {
                "children_left": left,
                "children_right": right,
                "children_default": np.where(missing_left, left, right),
                "features": np.asarray(trees["feature"][start:end], dtype=np.int64),
                "thresholds": np.asarray(trees["threshold"][start:end], dtype=np.float64),
                "values": np.asarray(trees["proba_up"][start:end], dtype=np.float64).reshape(-1, 1)
                / roots.size,
                "node_sample_weight": np.ones(end - start, dtype=np.float64),  # recomputed from data
            }
        )
    return {
        "trees": shap_trees,
        "base_offset": 0.0,
        "tree_output": "raw_value",
        "objective": "squared_error",
        "input_dtype": np.float32,
        "internal_dtype": np.float64,
    }


def _flat_forest_contributions(
    model: Any, matrix: np.ndarray, background: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    import shap

    if background is None:
        raise ModelError(
            f"{type(model).__name__} keeps no node sample counts: pass background=... (a few hundred "
            "training rows) to explain it with interventional TreeSHAP"
        )
    reference = _as_matrix(background)
    if reference.shape[1] != matrix.shape[1] or reference.shape[0] == 0:
        raise ModelError(
            f"background has shape {reference.shape}; it needs rows of the {matrix.shape[1]} features of X"
        )
    explainer = shap.TreeExplainer(
        _flat_forest_to_shap(model.trees_),
        data=reference,
        feature_perturbation="interventional",
        model_output="raw",
    )
    values = np.asarray(explainer.shap_values(matrix, check_additivity=False), dtype=np.float64)
    expected = float(np.ravel(np.asarray(explainer.expected_value, dtype=np.float64))[0])
    return values.reshape(matrix.shape).copy(), np.full(matrix.shape[0], expected)
