"""LIME explanations of one decision of any probability function.

LIME fits a weighted linear model to the predictions of perturbed copies of one row; it needs only
a function ``X -> P(up)``, so it explains models TreeSHAP cannot (ensembles, calibrated wrappers,
stacked models). Sampling is seeded, so an explanation is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from nautilus_ai.errors import ModelError

__all__ = ["lime_explanation"]

ProbabilityFunction = Callable[[np.ndarray], np.ndarray]
"""Maps rows (n, n_features) to P(up) of shape (n,) or class probabilities of shape (n, 2)."""


def lime_explanation(
    predict_proba_fn: ProbabilityFunction,
    X_train: np.ndarray,  # noqa: N803
    x: np.ndarray,
    feature_names: Sequence[str],
    num_features: int = 5,
    seed: int = 0,
    num_samples: int = 2000,
    discretize_continuous: bool = True,
) -> list[tuple[str, float]]:
    """Return LIME's weights of the ``num_features`` most influential features for row ``x``.

    Parameters
    ----------
    predict_proba_fn : Callable[[np.ndarray], np.ndarray]
        The model: rows (n, n_features) to P(up) of shape (n,), or to class probabilities of
        shape (n, 2) with P(up) in column 1.
    X_train : np.ndarray
        Training rows (n_train, n_features), used for feature scales and quartiles; no NaN.
    x : np.ndarray
        The row to explain, shape (n_features,); no NaN.
    feature_names : Sequence[str]
        Feature names, in column order.
    num_features : int, default 5
        How many features the explanation keeps.
    seed : int, default 0
        Seed of LIME's perturbation sampling: the same seed gives the same explanation.
    num_samples : int, default 2000
        Perturbed rows the local linear model is fitted on.
    discretize_continuous : bool, default True
        Explain quartile bins of each feature (LIME's default, robust to scale) instead of the
        standardized values.

    Returns
    -------
    list[tuple[str, float]]
        ``(feature name, weight)`` pairs by decreasing ``|weight|``; a positive weight pushes
        P(up) up. Names are plain feature names (not LIME's bin conditions).

    Raises
    ------
    ModelError
        If shapes disagree, the inputs hold NaN, ``num_features`` is < 1, or ``predict_proba_fn``
        returns an unexpected shape.

    """
    from lime.lime_tabular import LimeTabularExplainer

    train = np.asarray(X_train, dtype=np.float64)
    row = np.asarray(x, dtype=np.float64)
    names = [str(name) for name in feature_names]
    if train.ndim != 2 or train.shape[0] < 2:
        raise ModelError(f"X_train must be (n_train >= 2, n_features), got shape {train.shape}")
    if train.shape[1] != len(names) or row.shape != (len(names),):
        raise ModelError(
            f"X_train has {train.shape[1]} columns and x shape {row.shape}, but there are "
            f"{len(names)} feature names"
        )
    if np.isnan(train).any() or np.isnan(row).any():
        raise ModelError("LIME cannot perturb missing values: impute or drop NaN in X_train and x first")
    if num_features < 1:
        raise ModelError(f"num_features must be >= 1, got {num_features}")

    def class_probabilities(rows: np.ndarray) -> np.ndarray:
        output = np.asarray(predict_proba_fn(rows), dtype=np.float64)
        if output.ndim == 1:
            return np.column_stack([1.0 - output, output])
        if output.ndim == 2 and output.shape[1] == 2:
            return output
        raise ModelError(
            f"predict_proba_fn returned shape {output.shape} for {rows.shape[0]} rows; expected "
            "(n,) probabilities of up or (n, 2) class probabilities"
        )

    explainer = LimeTabularExplainer(
        train,
        mode="classification",
        feature_names=names,
        class_names=["down", "up"],
        discretize_continuous=discretize_continuous,
        random_state=seed,
    )
    explanation = explainer.explain_instance(
        row,
        class_probabilities,
        labels=(1,),
        num_features=min(num_features, len(names)),
        num_samples=num_samples,
    )
    pairs = [(names[int(index)], float(weight)) for index, weight in explanation.as_map()[1]]
    return sorted(pairs, key=lambda pair: -abs(pair[1]))
