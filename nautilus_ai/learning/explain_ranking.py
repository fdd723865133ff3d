"""Rank feature attributions and encode the largest ones as a short string.

Pure functions over arrays, with no SHAP, LIME or torch import, so that the ``SignalActor`` can
encode a decision's top attributions into ``ModelSignal.top_attributions`` cheaply. The encoding is
``"name:+0.123;other:-0.045"``: pairs joined by ``;``, each pair a feature name, ``:`` and a signed
number; :func:`decode_top_attributions` parses it back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from nautilus_ai.errors import ModelError

__all__ = [
    "Attribution",
    "decode_top_attributions",
    "encode_top_attributions",
    "global_importance",
    "rank_attributions",
    "top_k",
]

Attribution = tuple[str, float]
"""A feature name and its attribution."""

PAIR_SEPARATOR = ";"
"""Separates the pairs of an encoded attribution string."""

VALUE_SEPARATOR = ":"
"""Separates a feature name from its value (the last ``:`` of a pair, so names may contain ``:``)."""


def global_importance(attributions: np.ndarray, names: Sequence[str]) -> pd.Series:
    """Return the mean absolute attribution of every feature, largest first.

    Parameters
    ----------
    attributions : np.ndarray
        Attributions of shape (n_rows, n_features), for example SHAP values.
    names : Sequence[str]
        Feature names, in column order.

    Returns
    -------
    pd.Series
        Mean ``|attribution|`` indexed by feature name (named ``"mean_abs_attribution"``), sorted in
        decreasing order; ties keep column order.

    Raises
    ------
    ModelError
        If ``attributions`` is not 2-dimensional, is empty, or its width differs from ``names``.

    """
    values = np.asarray(attributions, dtype=np.float64)
    labels = _check_names(names)
    if values.ndim != 2:
        raise ModelError(f"global_importance: attributions must be (n_rows, n_features), got {values.shape}")
    if values.shape[0] == 0:
        raise ModelError("global_importance: attributions have no rows")
    if values.shape[1] != len(labels):
        raise ModelError(
            f"global_importance: attributions have {values.shape[1]} columns but {len(labels)} names"
        )
    importance = np.abs(values).mean(axis=0)
    order = np.argsort(-importance, kind="stable")
    return pd.Series(
        importance[order], index=pd.Index([labels[i] for i in order]), name="mean_abs_attribution"
    )


def rank_attributions(row: np.ndarray, names: Sequence[str]) -> tuple[Attribution, ...]:
    """Return every ``(name, value)`` pair of one row, by decreasing ``|value|``.

    Parameters
    ----------
    row : np.ndarray
        Attributions of one decision, shape (n_features,).
    names : Sequence[str]
        Feature names, in column order.

    Returns
    -------
    tuple[tuple[str, float], ...]
        All pairs, largest magnitude first; ties keep column order (a stable sort).

    Raises
    ------
    ModelError
        If ``row`` is not 1-dimensional, holds NaN, or its length differs from ``names``.

    """
    values = np.asarray(row, dtype=np.float64)
    labels = _check_names(names)
    if values.ndim != 1:
        raise ModelError(f"attributions of one decision must be 1-dimensional, got shape {values.shape}")
    if values.shape[0] != len(labels):
        raise ModelError(f"got {values.shape[0]} attributions but {len(labels)} feature names")
    if np.isnan(values).any():
        raise ModelError(f"attributions hold NaN: {dict(zip(labels, values.tolist(), strict=True))}")
    order = np.argsort(-np.abs(values), kind="stable")
    return tuple((labels[i], float(values[i])) for i in order)


def top_k(row: np.ndarray, names: Sequence[str], k: int) -> tuple[Attribution, ...]:
    """Return the ``k`` pairs of one row with the largest ``|value|``.

    Parameters
    ----------
    row : np.ndarray
        Attributions of one decision, shape (n_features,).
    names : Sequence[str]
        Feature names, in column order.
    k : int
        How many pairs to keep (all of them when ``k`` exceeds the number of features).

    Returns
    -------
    tuple[tuple[str, float], ...]
        At most ``k`` pairs, largest magnitude first; ties keep column order.

    Raises
    ------
    ModelError
        If ``k`` is negative, or ``row`` and ``names`` are invalid (see :func:`rank_attributions`).

    """
    if k < 0:
        raise ModelError(f"top_k: k must be >= 0, got {k}")
    return rank_attributions(row, names)[:k]


def encode_top_attributions(pairs: Sequence[Attribution], digits: int = 4) -> str:
    """Encode ``(name, value)`` pairs as ``"name:+0.123;other:-0.045"``.

    Parameters
    ----------
    pairs : Sequence[tuple[str, float]]
        The pairs, in the order to keep (usually :func:`top_k` output).
    digits : int, default 4
        Significant digits of each value (``'+.{digits}g'`` format).

    Returns
    -------
    str
        The encoded pairs; ``""`` for no pairs.

    Raises
    ------
    ModelError
        If a name is empty or contains ``;``, a value is not finite, or ``digits`` is < 1.

    """
    if digits < 1:
        raise ModelError(f"encode_top_attributions: digits must be >= 1, got {digits}")
    parts = []
    for name, value in pairs:
        label = str(name)
        if not label or PAIR_SEPARATOR in label:
            raise ModelError(
                f"cannot encode feature name {label!r}: names must be non-empty and free of "
                f"{PAIR_SEPARATOR!r}"
            )
        number = float(value)
        if not math.isfinite(number):
            raise ModelError(f"cannot encode the attribution of {label!r}: {number} is not finite")
        parts.append(f"{label}{VALUE_SEPARATOR}{number:+.{digits}g}")
    return PAIR_SEPARATOR.join(parts)


def decode_top_attributions(text: str) -> tuple[Attribution, ...]:
    """Parse a string written by :func:`encode_top_attributions`.

    Parameters
    ----------
    text : str
        Encoded pairs, for example ``ModelSignal.top_attributions``.

    Returns
    -------
    tuple[tuple[str, float], ...]
        The pairs, in encoded order; empty for ``""``.

    Raises
    ------
    ModelError
        If a pair has no ``:``, an empty name or a value that is not a number.

    """
    if not text:
        return ()
    pairs = []
    for part in text.split(PAIR_SEPARATOR):
        name, sep, number = part.rpartition(VALUE_SEPARATOR)
        if not sep or not name:
            raise ModelError(f"malformed attribution {part!r} in {text!r}: expected 'name:+0.123'")
        try:
            value = float(number)
        except ValueError as exc:
            raise ModelError(f"malformed attribution value {number!r} of {name!r} in {text!r}") from exc
        pairs.append((name, value))
    return tuple(pairs)


def _check_names(names: Sequence[str]) -> list[str]:
    labels = [str(name) for name in names]
    if len(set(labels)) != len(labels):
        raise ModelError(f"feature names are not unique: {labels}")
    return labels
