"""Probability calibration: scores (Brier, reliability table, ECE) and two serializable calibrators.

A calibrator maps a model's raw probability to a calibrated one. It must be fitted on a held-out
calibration window that the model did not train on (in-sample probabilities are over-confident,
so a calibrator fitted on them learns nothing useful), and it is saved with the model it calibrates.

* :class:`IsotonicCalibrator` -- a non-decreasing step-linear map (pool-adjacent-violators, fitted
  by scikit-learn's ``IsotonicRegression``), clipped to the fitted input range and to [0, 1].
  Flexible; needs a few hundred calibration rows.
* :class:`PlattCalibrator` -- ``sigmoid(a * logit(p) + b)`` with ``a >= 0`` (Platt scaling on the
  log-odds, with Platt's smoothed targets). Two parameters; fine on small windows.

Both keep their fitted state in plain arrays/floats, predict with NumPy only, and serialize to a
header line plus one line of JSON (no pickle).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, Self, get_args

import numpy as np
from sklearn.isotonic import IsotonicRegression

from nautilus_ai.errors import ModelError
from nautilus_ai.serialization import pack_document, unpack_document

CalibrationKind = Literal["isotonic", "platt"]
"""The calibrators :func:`make_calibrator` can build."""

CALIBRATION_KINDS: tuple[str, ...] = get_args(CalibrationKind)

ISOTONIC_FORMAT_HEADER = b"nautilus-ai/isotonic-calibrator/1\n"
"""First line of a serialized :class:`IsotonicCalibrator`."""

PLATT_FORMAT_HEADER = b"nautilus-ai/platt-calibrator/1\n"
"""First line of a serialized :class:`PlattCalibrator`."""

LOGIT_EPSILON = 1e-6
"""Probabilities are clipped to [eps, 1 - eps] before taking log-odds."""

BinningStrategy = Literal["uniform", "quantile"]
"""How :func:`reliability_table` places its bin edges (as ``sklearn.calibration.calibration_curve``)."""


# -- scores ---------------------------------------------------------------------------------------


def brier_score(y: np.ndarray, p: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """Return the Brier score: the (weighted) mean of ``(p - y) ** 2``; lower is better.

    Parameters
    ----------
    y : np.ndarray
        Outcomes in {0, 1}.
    p : np.ndarray
        Predicted probabilities of outcome 1, in [0, 1].
    sample_weight : np.ndarray, optional
        Non-negative weights; ``None`` weighs every row 1.

    Returns
    -------
    float
        The score, in [0, 1].

    Raises
    ------
    ModelError
        If the inputs are empty, of different lengths, or out of range.

    """
    labels, probabilities = _check_outcomes(y, p, "brier_score")
    weights = _check_weights(sample_weight, labels.size, "brier_score")
    return float(np.average((probabilities - labels) ** 2, weights=weights))


@dataclass(frozen=True)
class ReliabilityTable:
    """A reliability (calibration) table: one row per probability bin.

    Bin ``k`` holds the predictions in ``(bin_lower[k], bin_upper[k]]``; the first bin also holds
    ``bin_lower[0]``.

    Attributes
    ----------
    bin_lower, bin_upper : np.ndarray
        The bin edges.
    mean_predicted : np.ndarray
        Mean predicted probability in the bin (NaN when the bin is empty).
    observed_frequency : np.ndarray
        Fraction of outcomes equal to 1 in the bin (NaN when the bin is empty).
    count : np.ndarray
        Number of predictions in the bin (int64).

    """

    bin_lower: np.ndarray
    bin_upper: np.ndarray
    mean_predicted: np.ndarray
    observed_frequency: np.ndarray
    count: np.ndarray

    def expected_calibration_error(self) -> float:
        """Return the count-weighted mean of ``|observed_frequency - mean_predicted|`` over bins."""
        filled = self.count > 0
        gaps = np.abs(self.observed_frequency[filled] - self.mean_predicted[filled])
        return float(np.sum(gaps * self.count[filled]) / np.sum(self.count))


def reliability_table(
    y: np.ndarray, p: np.ndarray, n_bins: int = 10, strategy: BinningStrategy = "uniform"
) -> ReliabilityTable:
    """Return the reliability table of predictions ``p`` against outcomes ``y``.

    The bins are those of ``sklearn.calibration.calibration_curve``: ``uniform`` splits [0, 1]
    into ``n_bins`` equal bins, ``quantile`` puts the edges at the quantiles of ``p``.

    Parameters
    ----------
    y : np.ndarray
        Outcomes in {0, 1}.
    p : np.ndarray
        Predicted probabilities of outcome 1, in [0, 1].
    n_bins : int, default 10
        Number of bins (at least 1).
    strategy : {"uniform", "quantile"}, default "uniform"
        Placement of the bin edges.

    Returns
    -------
    ReliabilityTable
        ``n_bins`` rows, empty bins included (their means are NaN).

    Raises
    ------
    ModelError
        If the inputs are empty, of different lengths or out of range, or the options are invalid.

    """
    labels, probabilities = _check_outcomes(y, p, "reliability_table")
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ModelError(f"reliability_table: n_bins must be an int >= 1, got {n_bins!r}")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.percentile(probabilities, np.linspace(0.0, 1.0, n_bins + 1) * 100)
    else:
        raise ModelError(f"reliability_table: strategy must be 'uniform' or 'quantile', got {strategy!r}")
    bin_ids = np.searchsorted(edges[1:-1], probabilities)
    count = np.bincount(bin_ids, minlength=n_bins).astype(np.int64)
    sum_predicted = np.bincount(bin_ids, weights=probabilities, minlength=n_bins)
    sum_observed = np.bincount(bin_ids, weights=labels, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_predicted = np.where(count > 0, sum_predicted / count, np.nan)
        observed = np.where(count > 0, sum_observed / count, np.nan)
    return ReliabilityTable(
        bin_lower=edges[:-1].copy(),
        bin_upper=edges[1:].copy(),
        mean_predicted=mean_predicted,
        observed_frequency=observed,
        count=count,
    )


def expected_calibration_error(
    y: np.ndarray, p: np.ndarray, n_bins: int = 10, strategy: BinningStrategy = "uniform"
) -> float:
    """Return the expected calibration error (ECE) of ``p`` on the bins of :func:`reliability_table`.

    ``ECE = sum_k count_k / n * |observed_frequency_k - mean_predicted_k|`` over non-empty bins.

    Parameters
    ----------
    y : np.ndarray
        Outcomes in {0, 1}.
    p : np.ndarray
        Predicted probabilities of outcome 1, in [0, 1].
    n_bins : int, default 10
        Number of bins.
    strategy : {"uniform", "quantile"}, default "uniform"
        Placement of the bin edges.

    Returns
    -------
    float
        The ECE, in [0, 1]; 0 is perfectly calibrated on these bins.

    """
    return reliability_table(y, p, n_bins, strategy).expected_calibration_error()


# -- calibrators ----------------------------------------------------------------------------------


class Calibrator(Protocol):
    """A fitted monotone map from raw probabilities to calibrated probabilities in [0, 1]."""

    def fit(self, p: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> Self:
        """Fit on held-out raw probabilities ``p`` and outcomes ``y``; return ``self``."""
        ...

    def predict(self, p: np.ndarray) -> np.ndarray:
        """Return the calibrated probabilities of ``p`` (same shape, float64, in [0, 1])."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """Return the fitted state as JSON values, with a ``kind`` key."""
        ...

    def to_bytes(self) -> bytes:
        """Serialize: the class's header line and one line of JSON."""
        ...


class _SerializedCalibrator:
    """What both calibrators share: input checks of ``fit``, state restore and the byte format.

    A subclass sets :attr:`kind`, :attr:`format_header` and :attr:`state_label`, and implements
    ``to_dict`` and ``_load_state`` (set the fitted attributes from a ``to_dict`` mapping, raising
    ``KeyError``, ``TypeError`` or ``ValueError`` on a bad one).
    """

    kind: CalibrationKind
    format_header: bytes
    state_label: str

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def _load_state(self, state: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def _fit_inputs(
        self, p: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        where = f"{type(self).__name__}.fit"
        labels, probabilities = _check_outcomes(y, p, where)
        return labels, probabilities, _check_weights(sample_weight, labels.size, where)

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild a fitted calibrator from :meth:`to_dict` output.

        Raises
        ------
        ModelError
            If the state is not this calibrator's or is inconsistent.

        """
        try:
            if state["kind"] != cls.kind:
                raise ValueError(f"kind is {state['kind']!r}, expected {cls.kind!r}")
            model = cls()
            model._load_state(state)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{cls.state_label} calibrator state is invalid: {exc}") from exc
        return model

    def to_bytes(self) -> bytes:
        """Serialize: the class's format header and one line of JSON (deterministic)."""
        return pack_document(self.format_header, self.to_dict())

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Rebuild a fitted calibrator from :meth:`to_bytes` output.

        Raises
        ------
        ModelError
            If ``data`` is not a serialized calibrator of this class.

        """
        return cls.from_dict(unpack_document(data, cls.format_header, cls.__name__))


class IsotonicCalibrator(_SerializedCalibrator):
    """Non-decreasing piecewise-linear calibration map (isotonic regression).

    Attributes
    ----------
    x_thresholds_ : np.ndarray
        Increasing raw probabilities of the map's knots.
    y_thresholds_ : np.ndarray
        Non-decreasing calibrated probabilities at the knots, in [0, 1].
    n_fit_ : int
        Number of calibration rows.

    """

    kind: CalibrationKind = "isotonic"
    format_header = ISOTONIC_FORMAT_HEADER
    state_label = "isotonic"

    def fit(
        self, p: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> IsotonicCalibrator:
        """Fit the map on held-out raw probabilities ``p`` and outcomes ``y``.

        Parameters
        ----------
        p : np.ndarray
            Raw probabilities in [0, 1] from a model that did not train on these rows.
        y : np.ndarray
            Outcomes in {0, 1}.
        sample_weight : np.ndarray, optional
            Non-negative weights.

        Returns
        -------
        IsotonicCalibrator
            ``self``, fitted.

        Raises
        ------
        ModelError
            If the inputs are empty, of different lengths or out of range.

        """
        labels, probabilities, weights = self._fit_inputs(p, y, sample_weight)
        regression = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
        regression.fit(probabilities, labels, sample_weight=weights)
        self.x_thresholds_ = np.asarray(regression.X_thresholds_, dtype=np.float64)
        self.y_thresholds_ = np.clip(np.asarray(regression.y_thresholds_, dtype=np.float64), 0.0, 1.0)
        self.n_fit_ = int(labels.size)
        return self

    def predict(self, p: np.ndarray) -> np.ndarray:
        """Return the calibrated probabilities of ``p``.

        Parameters
        ----------
        p : np.ndarray
            Raw probabilities (any shape); values outside the fitted range take the end values.

        Returns
        -------
        np.ndarray
            Calibrated probabilities, float64, same shape as ``p``.

        """
        knots_x, knots_y = self._fitted()
        raw = np.asarray(p, dtype=np.float64)
        return np.clip(np.interp(raw, knots_x, knots_y), 0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        """Return the fitted state as JSON values."""
        knots_x, knots_y = self._fitted()
        return {
            "kind": self.kind,
            "n_fit": self.n_fit_,
            "x_thresholds": knots_x.tolist(),
            "y_thresholds": knots_y.tolist(),
        }

    def _load_state(self, state: Mapping[str, Any]) -> None:
        knots_x = np.asarray(state["x_thresholds"], dtype=np.float64)
        knots_y = np.asarray(state["y_thresholds"], dtype=np.float64)
        if knots_x.ndim != 1 or knots_x.shape != knots_y.shape or knots_x.size == 0:
            raise ValueError("thresholds must be two non-empty 1-D lists of one length")
        if (np.diff(knots_x) < 0).any() or (np.diff(knots_y) < 0).any():
            raise ValueError("thresholds must be non-decreasing")
        self.x_thresholds_ = knots_x
        self.y_thresholds_ = knots_y
        self.n_fit_ = int(state["n_fit"])

    def _fitted(self) -> tuple[np.ndarray, np.ndarray]:
        knots_x = getattr(self, "x_thresholds_", None)
        if knots_x is None:
            raise ModelError("IsotonicCalibrator is not fitted: call fit() on a held-out calibration window")
        return knots_x, self.y_thresholds_

    def __repr__(self) -> str:
        return "IsotonicCalibrator()"


class PlattCalibrator(_SerializedCalibrator):
    """Platt scaling on log-odds: ``p_cal = sigmoid(a * logit(p) + b)`` with ``a >= 0``.

    Fitted by Newton's method on the cross-entropy against Platt's smoothed targets
    ``(n_pos + 1) / (n_pos + 2)`` and ``1 / (n_neg + 2)``, which keeps ``a`` and ``b`` finite on
    separable or tiny windows. A negative slope would reverse the order of the predictions, so if
    the unconstrained fit has ``a < 0`` the calibrator falls back to ``a = 0`` (the smoothed base
    rate): a model that is worse than its inverse on the calibration window gets no say.

    Attributes
    ----------
    slope_ : float
        ``a``, non-negative.
    intercept_ : float
        ``b``.
    n_fit_ : int
        Number of calibration rows.

    """

    kind: CalibrationKind = "platt"
    format_header = PLATT_FORMAT_HEADER
    state_label = "Platt"

    def fit(self, p: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> PlattCalibrator:
        """Fit ``a`` and ``b`` on held-out raw probabilities ``p`` and outcomes ``y``.

        Parameters
        ----------
        p : np.ndarray
            Raw probabilities in [0, 1] from a model that did not train on these rows.
        y : np.ndarray
            Outcomes in {0, 1}.
        sample_weight : np.ndarray, optional
            Non-negative weights.

        Returns
        -------
        PlattCalibrator
            ``self``, fitted.

        Raises
        ------
        ModelError
            If the inputs are empty, of different lengths or out of range.

        """
        labels, probabilities, weights = self._fit_inputs(p, y, sample_weight)
        w = np.ones_like(labels) if weights is None else weights
        n_pos = float(np.sum(w * labels))
        n_neg = float(np.sum(w * (1.0 - labels)))
        targets = np.where(labels == 1.0, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
        slope, intercept = fit_logistic_1d(logit(probabilities), targets, w)
        if slope < 0.0:
            mean_target = float(np.sum(w * targets) / np.sum(w))
            slope, intercept = 0.0, float(logit(np.array([mean_target]))[0])
        self.slope_ = float(slope)
        self.intercept_ = float(intercept)
        self.n_fit_ = int(labels.size)
        return self

    def predict(self, p: np.ndarray) -> np.ndarray:
        """Return the calibrated probabilities of ``p``.

        Parameters
        ----------
        p : np.ndarray
            Raw probabilities (any shape).

        Returns
        -------
        np.ndarray
            Calibrated probabilities, float64, same shape as ``p``, in [0, 1].

        """
        slope, intercept = self._fitted()
        raw = np.asarray(p, dtype=np.float64)
        return np.clip(sigmoid(slope * logit(raw) + intercept), 0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        """Return the fitted state as JSON values."""
        slope, intercept = self._fitted()
        return {"intercept": intercept, "kind": self.kind, "n_fit": self.n_fit_, "slope": slope}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        slope, intercept = float(state["slope"]), float(state["intercept"])
        if not (np.isfinite(slope) and np.isfinite(intercept)) or slope < 0:
            raise ValueError(f"slope {slope} must be finite and >= 0, intercept {intercept} finite")
        self.slope_, self.intercept_ = slope, intercept
        self.n_fit_ = int(state["n_fit"])

    def _fitted(self) -> tuple[float, float]:
        slope = getattr(self, "slope_", None)
        if slope is None:
            raise ModelError("PlattCalibrator is not fitted: call fit() on a held-out calibration window")
        return slope, self.intercept_

    def __repr__(self) -> str:
        return "PlattCalibrator()"


def make_calibrator(kind: CalibrationKind) -> IsotonicCalibrator | PlattCalibrator:
    """Return an unfitted calibrator of ``kind``.

    Raises
    ------
    ModelError
        If ``kind`` is not ``"isotonic"`` or ``"platt"``.

    """
    if kind == "isotonic":
        return IsotonicCalibrator()
    if kind == "platt":
        return PlattCalibrator()
    raise ModelError(f"unknown calibration kind {kind!r}; expected one of {list(CALIBRATION_KINDS)}")


def calibrator_from_dict(state: Mapping[str, Any]) -> IsotonicCalibrator | PlattCalibrator:
    """Rebuild a fitted calibrator from ``to_dict()`` output, choosing the class by ``kind``.

    Raises
    ------
    ModelError
        If the kind is unknown or the state is invalid.

    """
    kind = state.get("kind")
    if kind == "isotonic":
        return IsotonicCalibrator.from_dict(state)
    if kind == "platt":
        return PlattCalibrator.from_dict(state)
    raise ModelError(f"unknown calibrator kind {kind!r}; expected one of {list(CALIBRATION_KINDS)}")


# -- kernels --------------------------------------------------------------------------------------


def logit(p: np.ndarray) -> np.ndarray:
    """Return the log-odds of ``p`` clipped to [:data:`LOGIT_EPSILON`, 1 - :data:`LOGIT_EPSILON`]."""
    clipped = np.clip(np.asarray(p, dtype=np.float64), LOGIT_EPSILON, 1.0 - LOGIT_EPSILON)
    return np.log(clipped) - np.log1p(-clipped)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Return the logistic function of ``z``, computed without overflow."""
    values = np.asarray(z, dtype=np.float64)
    out = np.empty_like(values)
    positive = values >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-values[positive]))
    exp_z = np.exp(values[~positive])
    out[~positive] = exp_z / (1.0 + exp_z)
    return out


def fit_logistic_1d(
    x: np.ndarray, targets: np.ndarray, weights: np.ndarray, max_iter: int = 100
) -> tuple[float, float]:
    """Return ``(a, b)`` minimizing the weighted cross-entropy of ``sigmoid(a * x + b)`` vs ``targets``.

    Newton's method with step halving; ``targets`` may be soft (in [0, 1]).

    Parameters
    ----------
    x : np.ndarray
        The single input.
    targets : np.ndarray
        Target probabilities in [0, 1].
    weights : np.ndarray
        Non-negative weights.
    max_iter : int, default 100
        Newton iterations at most.

    Returns
    -------
    tuple[float, float]
        The slope ``a`` and intercept ``b``.

    """
    design = np.column_stack([x, np.ones_like(x)])
    params = np.zeros(2)

    def loss(theta: np.ndarray) -> float:
        z = design @ theta
        # log(1 + exp(z)) - t z, stable
        return float(np.sum(weights * (np.logaddexp(0.0, z) - targets * z)))

    current = loss(params)
    for _ in range(max_iter):
        prob = sigmoid(design @ params)
        gradient = design.T @ (weights * (prob - targets))
        hessian = design.T @ (design * (weights * prob * (1.0 - prob))[:, None]) + 1e-12 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while scale > 1e-10:
            candidate = params - scale * step
            candidate_loss = loss(candidate)
            if candidate_loss <= current:
                break
            scale /= 2.0
        else:
            break
        improvement = current - candidate_loss
        params, current = candidate, candidate_loss
        if improvement <= 1e-14 * max(1.0, abs(current)) or np.max(np.abs(scale * step)) < 1e-12:
            break
    return float(params[0]), float(params[1])


# -- internals ------------------------------------------------------------------------------------


def _check_outcomes(y: np.ndarray, p: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(y, dtype=np.float64).reshape(-1)
    probabilities = np.asarray(p, dtype=np.float64).reshape(-1)
    if labels.size == 0:
        raise ModelError(f"{where}: got no rows; expected at least one outcome and probability")
    if labels.shape != probabilities.shape:
        raise ModelError(f"{where}: y has {labels.size} values but p has {probabilities.size}")
    if not np.isin(labels, (0.0, 1.0)).all():
        raise ModelError(f"{where}: y must only hold 0 and 1 (drop rows whose outcome is unknown)")
    if not np.isfinite(probabilities).all() or (probabilities < 0).any() or (probabilities > 1).any():
        raise ModelError(f"{where}: p must be finite probabilities in [0, 1]")
    return labels, probabilities


def _check_weights(sample_weight: np.ndarray | None, n: int, where: str) -> np.ndarray | None:
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if weights.size != n:
        raise ModelError(f"{where}: sample_weight has {weights.size} values, expected {n}")
    if not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
        raise ModelError(f"{where}: sample_weight must be finite and non-negative with a positive sum")
    return weights
