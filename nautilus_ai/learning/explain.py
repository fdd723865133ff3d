"""Explainability: why a model made a decision, and which features matter overall.

This module is the front door; the work is split by technique:

* :mod:`~nautilus_ai.learning.explain_tree` -- exact TreeSHAP of LightGBM, XGBoost and
  scikit-learn tree ensembles, with an additivity check;
* :mod:`~nautilus_ai.learning.explain_ranking` -- global importance, top-k, and the
  ``"name:+0.123;other:-0.045"`` encoding stored in ``ModelSignal.top_attributions``;
* :mod:`~nautilus_ai.learning.explain_sequence` -- expected-gradients SHAP of torch sequence models;
* :mod:`~nautilus_ai.learning.explain_lime` -- LIME for any probability function;
* :mod:`~nautilus_ai.learning.explain_plots` -- summary figures, PNG/SVG output for reports.

:func:`explain_decision` combines them into one :class:`DecisionExplanation`, the object the
``nautilus-ai learn explain`` command prints. Names from the heavier modules (torch, LIME,
matplotlib) are re-exported lazily, so importing this module costs only NumPy, pandas and LightGBM.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nautilus_ai.errors import ModelError
from nautilus_ai.learning.explain_ranking import (
    Attribution,
    decode_top_attributions,
    encode_top_attributions,
    global_importance,
    rank_attributions,
    top_k,
)
from nautilus_ai.learning.explain_tree import (
    check_additivity,
    predicted_probability,
    raw_margin,
    tree_attributions,
    tree_contributions,
)

if TYPE_CHECKING:  # imported on first use by __getattr__ (torch, LIME and matplotlib are slow to import)
    from nautilus_ai.learning.explain_lime import lime_explanation
    from nautilus_ai.learning.explain_plots import (
        figure_to_data_uri,
        figure_to_png_bytes,
        figure_to_svg,
        importance_bar_figure,
        save_figure_png,
        shap_summary_figure,
    )
    from nautilus_ai.learning.explain_sequence import (
        sequence_attributions,
        sequence_feature_importance,
        sequence_global_importance,
    )

__all__ = [
    "Attribution",
    "DecisionExplanation",
    "check_additivity",
    "decode_top_attributions",
    "encode_top_attributions",
    "explain_decision",
    "figure_to_data_uri",
    "figure_to_png_bytes",
    "figure_to_svg",
    "global_importance",
    "importance_bar_figure",
    "lime_explanation",
    "predicted_probability",
    "rank_attributions",
    "raw_margin",
    "save_figure_png",
    "sequence_attributions",
    "sequence_feature_importance",
    "sequence_global_importance",
    "shap_summary_figure",
    "top_k",
    "tree_attributions",
    "tree_contributions",
]

_LAZY_EXPORTS: dict[str, str] = {
    "lime_explanation": "nautilus_ai.learning.explain_lime",
    "sequence_attributions": "nautilus_ai.learning.explain_sequence",
    "sequence_feature_importance": "nautilus_ai.learning.explain_sequence",
    "sequence_global_importance": "nautilus_ai.learning.explain_sequence",
    "figure_to_data_uri": "nautilus_ai.learning.explain_plots",
    "figure_to_png_bytes": "nautilus_ai.learning.explain_plots",
    "figure_to_svg": "nautilus_ai.learning.explain_plots",
    "importance_bar_figure": "nautilus_ai.learning.explain_plots",
    "save_figure_png": "nautilus_ai.learning.explain_plots",
    "shap_summary_figure": "nautilus_ai.learning.explain_plots",
}


def __getattr__(name: str) -> Any:
    """Import a re-exported name of a heavier submodule on first use."""
    module = _LAZY_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class DecisionExplanation:
    """Why a tree model gave one probability for one feature vector.

    Parameters
    ----------
    probability : float
        The model's P(up) for the row.
    base_value : float
        The expected raw output over the training data (log-odds for a boosted classifier, P(up)
        for a random forest).
    margin : float
        The raw output of the row: ``base_value`` plus the sum of all attributions.
    attributions : tuple[tuple[str, float], ...]
        Every feature's SHAP value in raw-output space, by decreasing magnitude.
    top : tuple[tuple[str, float], ...]
        The first ``k`` of ``attributions``.
    feature_values : tuple[tuple[str, float], ...]
        The row's feature values, in column order.

    """

    probability: float
    base_value: float
    margin: float
    attributions: tuple[Attribution, ...]
    top: tuple[Attribution, ...]
    feature_values: tuple[Attribution, ...]

    def encoded_top(self, digits: int = 4) -> str:
        """Return :attr:`top` encoded for ``ModelSignal.top_attributions``.

        Parameters
        ----------
        digits : int, default 4
            Significant digits of each value.

        Returns
        -------
        str
            For example ``"rsi_14:+0.1234;ret_5:-0.04512"``.

        """
        return encode_top_attributions(self.top, digits=digits)

    def value_of(self, name: str) -> float:
        """Return the row's value of feature ``name``.

        Parameters
        ----------
        name : str
            A feature name.

        Returns
        -------
        float
            The value (NaN when it was missing).

        Raises
        ------
        ModelError
            If the row has no feature of that name.

        """
        for feature, value in self.feature_values:
            if feature == name:
                return value
        raise ModelError(f"no feature {name!r} in this explanation: {[f for f, _ in self.feature_values]}")


def explain_decision(
    model: Any,
    x: np.ndarray,
    names: Sequence[str] | None = None,
    k: int = 5,
    background: np.ndarray | None = None,
) -> DecisionExplanation:
    """Explain one decision of a tree model with exact TreeSHAP.

    Parameters
    ----------
    model : Any
        A fitted tree model (see :func:`~nautilus_ai.learning.explain_tree.tree_contributions`),
        for example a :class:`~nautilus_ai.learning.model.DirectionClassifier`.
    x : np.ndarray
        One feature vector, shape (n_features,), in the model's column order.
    names : Sequence[str], optional
        Feature names; defaults to the model's ``feature_names_``.
    k : int, default 5
        How many attributions :attr:`DecisionExplanation.top` keeps.
    background : np.ndarray, optional
        Reference training rows, required by flat-array forests (see
        :func:`~nautilus_ai.learning.explain_tree.tree_contributions`).

    Returns
    -------
    DecisionExplanation
        Probability, base value, raw output and the sorted attributions of the row.

    Raises
    ------
    ModelError
        If ``x`` is not one vector, no names are given and the model has none, the names do not
        match the width of ``x``, or the model is not a supported tree model.

    """
    vector = np.asarray(x, dtype=np.float64)
    if vector.ndim != 1:
        raise ModelError(
            f"explain_decision takes one feature vector of shape (n_features,), got {vector.shape}"
        )
    if names is None:
        names = getattr(model, "feature_names_", None)
        if names is None:
            raise ModelError(f"{type(model).__name__} has no feature_names_: pass names=[...]")
    labels = [str(name) for name in names]
    if len(labels) != vector.shape[0]:
        raise ModelError(f"x has {vector.shape[0]} values but there are {len(labels)} feature names")
    row = vector.reshape(1, -1)
    attributions, base = tree_contributions(model, row, background)
    ranked = rank_attributions(attributions[0], labels)
    return DecisionExplanation(
        probability=float(predicted_probability(model, row)[0]),
        base_value=float(base[0]),
        margin=float(base[0] + attributions[0].sum()),
        attributions=ranked,
        top=top_k(attributions[0], labels, k),
        feature_values=tuple((label, float(value)) for label, value in zip(labels, vector, strict=True)),
    )
