"""SHAP attributions of a torch sequence classifier, per time step and feature.

:func:`sequence_attributions` runs ``shap.GradientExplainer`` (expected gradients, which needs
nothing of the network but autograd, so recurrent, convolutional and attention layers all work) on
a ``torch.nn.Module`` that maps windows of shape (n, window, n_features) to logits. Attributions are
in logit space. :func:`sequence_feature_importance` reduces them to one number per feature (the sum
over time of ``|value|``), the form :func:`~nautilus_ai.learning.explain_ranking.global_importance`
and the report plots take.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from nautilus_ai.errors import ModelError
from nautilus_ai.learning.explain_ranking import global_importance

if TYPE_CHECKING:
    import torch

__all__ = ["sequence_attributions", "sequence_feature_importance", "sequence_global_importance"]


def sequence_attributions(
    module: torch.nn.Module,
    background: np.ndarray,
    X: np.ndarray,  # noqa: N803
    nsamples: int = 200,
    seed: int = 0,
    batch_size: int = 50,
) -> np.ndarray:
    """Return expected-gradients SHAP values of a sequence model's logit for every window of ``X``.

    Parameters
    ----------
    module : torch.nn.Module
        The model: windows (n, window, n_features) to logits of shape (n,), (n, 1), or (n, 2) (then
        the explained output is ``logit[:, 1] - logit[:, 0]``, the log-odds of class 1). For a model
        that standardizes its inputs before its network, pass the network and standardized
        windows: a per-feature affine scaling leaves expected-gradients attributions unchanged.
        The module's train/eval mode is restored afterwards; its parameters' ``.grad`` are reset.
    background : np.ndarray
        Reference windows, shape (m, window, n_features), typically a sample of training windows;
        the attributions explain the difference to their mean output.
    X : np.ndarray
        Windows to explain, shape (n, window, n_features).
    nsamples : int, default 200
        Gradient samples per window; more samples give lower-variance values.
    seed : int, default 0
        Seed of the sampling (background choice and interpolation points). NumPy's global random
        state, which shap uses, is restored afterwards.
    batch_size : int, default 50
        Samples per forward/backward pass.

    Returns
    -------
    np.ndarray
        Float64 attributions of shape (n, window, n_features).

    Raises
    ------
    ModelError
        If the arrays are not 3-dimensional with matching (window, n_features), are empty, or the
        module's output does not have one of the accepted shapes.

    """
    import shap
    import torch

    reference = _as_windows(background, "background")
    windows = _as_windows(X, "X")
    if reference.shape[1:] != windows.shape[1:]:
        raise ModelError(
            f"background windows have shape {reference.shape[1:]} but X windows {windows.shape[1:]}: "
            "both must be (window, n_features) of the same model"
        )
    if nsamples < 1 or batch_size < 1:
        raise ModelError(f"nsamples and batch_size must be >= 1, got {nsamples} and {batch_size}")
    device = _device_of(module)
    wrapped = _single_logit(module)
    reference_tensor = torch.as_tensor(reference, dtype=torch.float32, device=device)
    windows_tensor = torch.as_tensor(windows, dtype=torch.float32, device=device)
    was_training = module.training
    random_state = np.random.get_state()
    try:
        # shap puts the module in eval mode, where cuDNN refuses the backward pass of RNNs; the
        # native kernels compute the same gradients.
        with torch.backends.cudnn.flags(enabled=False):
            explainer = shap.GradientExplainer(wrapped, reference_tensor, batch_size=batch_size)
            values = explainer.shap_values(windows_tensor, nsamples=nsamples, rseed=seed)
    finally:
        np.random.set_state(random_state)
        module.train(was_training)
    result = np.asarray(values, dtype=np.float64)
    return result.reshape(windows.shape)


def sequence_feature_importance(attributions: np.ndarray) -> np.ndarray:
    """Reduce per-step attributions to one importance per window and feature.

    Parameters
    ----------
    attributions : np.ndarray
        Attributions of shape (n, window, n_features), from :func:`sequence_attributions`.

    Returns
    -------
    np.ndarray
        Float64 array of shape (n, n_features): the sum over time of ``|attribution|``.

    Raises
    ------
    ModelError
        If ``attributions`` is not 3-dimensional.

    """
    values = np.asarray(attributions, dtype=np.float64)
    if values.ndim != 3:
        raise ModelError(f"sequence attributions must be (n, window, n_features), got shape {values.shape}")
    return np.abs(values).sum(axis=1)


def sequence_global_importance(attributions: np.ndarray, names: Sequence[str]) -> pd.Series:
    """Return the mean over windows of each feature's summed ``|attribution|``, largest first.

    Parameters
    ----------
    attributions : np.ndarray
        Attributions of shape (n, window, n_features).
    names : Sequence[str]
        Feature names, in the order of the last axis.

    Returns
    -------
    pd.Series
        Importance indexed by feature name, sorted in decreasing order.

    """
    return global_importance(sequence_feature_importance(attributions), names)


def _as_windows(values: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float32)
    if array.ndim != 3:
        raise ModelError(f"{what} must be 3-dimensional (n, window, n_features), got shape {array.shape}")
    if array.shape[0] == 0:
        raise ModelError(f"{what} has no windows")
    if np.isnan(array).any():
        raise ModelError(f"{what} holds NaN; fill or drop incomplete windows before explaining them")
    return array


def _device_of(module: torch.nn.Module) -> Any:
    import torch

    for parameter in module.parameters():
        return parameter.device
    return torch.device("cpu")


def _single_logit(module: torch.nn.Module) -> torch.nn.Module:
    """Wrap ``module`` so that it returns one logit column of shape (n, 1), as shap expects."""
    import torch

    class _SingleLogit(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, windows: torch.Tensor) -> torch.Tensor:
            output = self.inner(windows)
            if output.ndim == 1:
                return output.unsqueeze(1)
            if output.ndim == 2 and output.shape[1] == 1:
                return output
            if output.ndim == 2 and output.shape[1] == 2:
                return (output[:, 1] - output[:, 0]).unsqueeze(1)
            raise ModelError(
                f"the sequence model returns logits of shape {tuple(output.shape)}; expected (n,), "
                "(n, 1) or (n, 2)"
            )

    return _SingleLogit(module)
