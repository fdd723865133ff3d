"""Stage 3: the meta-ensemble that turns stage outputs into one calibrated decision.

The three stages
----------------
1. A stage-1 tree model (:mod:`nautilus_ai.learning.estimators`) gives ``p1 = P(up)``. Events
   whose ``p1`` is within ``margin`` of 0.5 are filtered out (:func:`stage1_passes`): they get a
   flat signal and never reach stage 2.
2. A stage-2 model (sequence model, sentiment, ...) gives ``p2 = P(up)`` where it has an opinion;
   NaN where it has none.
3. :class:`MetaModel` stacks ``p1``, ``p2``, the regime probabilities (a fixed, ordered list of
   regime names) and simple interactions in a logistic regression, then calibrates the stacked
   probability (isotonic or Platt) and turns it into a direction and a confidence.

Honest stacking
---------------
The meta-model must be fitted on base predictions that the base models did **not** train on:
out-of-fold predictions of a purged walk-forward, or the predictions on a held-out validation
window after the training window (purged and embargoed). In-sample base probabilities are
over-confident and the stacker would learn to trust them. Within that window, :meth:`MetaModel.fit`
fits the logistic stacker on the first ``1 - calibration_fraction`` of the rows (in time order)
and the calibrator on the remaining, later rows, so the calibrator also sees out-of-sample
stacker outputs.

Modes
-----
``direction``
    ``y = 1`` when the forward return is up. ``probability = P(up)``; direction is +1 when it is
    at least ``long_threshold``, -1 when at most ``short_threshold``, 0 otherwise.
``meta_label``
    The primary side (+1/-1) comes from stage 1/2 and ``y = 1`` when that trade was profitable.
    ``probability = P(primary trade is profitable)``; direction is the primary side when the
    probability is at least ``meta_threshold``, 0 otherwise. The features are signed by the side.

Confidence
----------
``direction`` mode: ``|2p - 1|``; ``meta_label`` mode: ``max(0, 2p - 1)``; ``p`` is the calibrated
probability. With ``shrink_confidence`` it is multiplied by ``min(1, |p1 - 0.5| / (2 * margin))``,
so an event that barely passed the stage-1 filter (``|p1 - 0.5| = margin``) keeps half its
confidence and one at twice the margin or more keeps all of it. Filtered events (and
``meta_label`` events without a primary side) have direction 0 and confidence 0.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal, get_args, overload

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from nautilus_ai.errors import ConfigError, ModelError
from nautilus_ai.learning.calibration import (
    IsotonicCalibrator,
    PlattCalibrator,
    calibrator_from_dict,
    logit,
    make_calibrator,
    sigmoid,
)
from nautilus_ai.learning.model_checks import check_feature_match
from nautilus_ai.serialization import pack_document, unpack_document

META_FORMAT_HEADER = b"nautilus-ai/meta-model/1\n"
"""First line of every serialized :class:`MetaModel`; bump the number when the layout changes."""

DEFAULT_STAGE1_MARGIN = 0.02
"""Default stage-1 filter: events with ``|p1 - 0.5| < 0.02`` are flat and skip stage 2.

Daily direction models rarely stray far from 0.5, so the margin is small; it is a starting point
to tune on walk-forward validation (a wider margin trades fewer, hopefully better, events).
"""

MetaMode = Literal["direction", "meta_label"]
"""What :class:`MetaModel` predicts: P(up), or P(the primary trade is profitable)."""

MetaCalibration = Literal["isotonic", "platt", "none"]
"""The calibrator after the stacker (``none``: the stacker's probability is used as is)."""

_MODES: tuple[str, ...] = get_args(MetaMode)
_CALIBRATIONS: tuple[str, ...] = get_args(MetaCalibration)


@overload
def stage1_passes(p1: float, margin: float = DEFAULT_STAGE1_MARGIN) -> bool: ...
@overload
def stage1_passes(p1: np.ndarray, margin: float = DEFAULT_STAGE1_MARGIN) -> np.ndarray: ...
def stage1_passes(p1: float | np.ndarray, margin: float = DEFAULT_STAGE1_MARGIN) -> bool | np.ndarray:
    """Return whether stage 1 is confident enough for an event to go on to stage 2.

    An event passes when ``|p1 - 0.5| >= margin``; a NaN ``p1`` never passes. Events that do not
    pass get a flat signal.

    Parameters
    ----------
    p1 : float or np.ndarray
        Stage-1 probabilities of up.
    margin : float, default :data:`DEFAULT_STAGE1_MARGIN`
        Half-width of the dead zone around 0.5, in [0, 0.5].

    Returns
    -------
    bool or np.ndarray
        A bool for a scalar ``p1``, a bool array of the same shape otherwise.

    Raises
    ------
    ConfigError
        If ``margin`` is outside [0, 0.5].

    """
    _check_margin(margin)
    values = np.asarray(p1, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        passes = np.abs(values - 0.5) >= margin
    passes &= ~np.isnan(values)
    return bool(passes) if passes.ndim == 0 else passes


@dataclass(frozen=True)
class MetaConfig:
    """Configuration of the stage-3 meta-model.

    Attributes
    ----------
    regime_names : tuple[str, ...]
        Regime names, in the column order of the regime probabilities (may be empty).
    use_p2 : bool
        Whether a stage-2 probability is an input (NaN where stage 2 has no opinion).
    interactions : bool
        Whether to add ``logit(p) * regime`` products (and ``logit(p1) * logit(p2)``).
    mode : {"direction", "meta_label"}
        What is predicted (see the module docstring).
    calibration : {"isotonic", "platt", "none"}
        Calibrator fitted after the stacker.
    calibration_fraction : float
        Fraction of the (time-ordered) validation rows, taken from its end, used to fit the
        calibrator; in (0, 1). Ignored when ``calibration`` is ``"none"``.
    regularization : float
        Inverse L2 strength ``C`` of the logistic stacker; > 0.
    long_threshold, short_threshold : float
        ``direction`` mode: go long at ``p >= long_threshold``, short at ``p <= short_threshold``.
    meta_threshold : float
        ``meta_label`` mode: take the primary trade at ``p >= meta_threshold``.
    stage1_margin : float
        The stage-1 filter margin (:func:`stage1_passes`), in [0, 0.5].
    shrink_confidence : bool
        Whether to shrink the confidence of events near the stage-1 filter's edge.

    """

    regime_names: tuple[str, ...] = ()
    use_p2: bool = False
    interactions: bool = True
    mode: MetaMode = "direction"
    calibration: MetaCalibration = "platt"
    calibration_fraction: float = 0.3
    regularization: float = 1.0
    long_threshold: float = 0.55
    short_threshold: float = 0.45
    meta_threshold: float = 0.55
    stage1_margin: float = DEFAULT_STAGE1_MARGIN
    shrink_confidence: bool = True

    def __post_init__(self) -> None:
        names = tuple(str(name) for name in self.regime_names)
        object.__setattr__(self, "regime_names", names)
        if len(set(names)) != len(names) or any(not name for name in names):
            raise ConfigError(f"MetaConfig.regime_names must be unique, non-empty names, got {list(names)}")
        if self.mode not in _MODES:
            raise ConfigError(f"MetaConfig.mode must be one of {list(_MODES)}, got {self.mode!r}")
        if self.calibration not in _CALIBRATIONS:
            raise ConfigError(
                f"MetaConfig.calibration must be one of {list(_CALIBRATIONS)}, got {self.calibration!r}"
            )
        if not 0.0 < self.calibration_fraction < 1.0:
            raise ConfigError(
                f"MetaConfig.calibration_fraction must be in (0, 1), got {self.calibration_fraction}"
            )
        if not (np.isfinite(self.regularization) and self.regularization > 0):
            raise ConfigError(f"MetaConfig.regularization must be > 0, got {self.regularization}")
        if not 0.5 <= self.long_threshold <= 1.0 or not 0.0 <= self.short_threshold <= 0.5:
            raise ConfigError(
                "MetaConfig thresholds must satisfy 0 <= short_threshold <= 0.5 <= long_threshold <= 1, "
                f"got short {self.short_threshold}, long {self.long_threshold}"
            )
        if not 0.0 <= self.meta_threshold <= 1.0:
            raise ConfigError(f"MetaConfig.meta_threshold must be in [0, 1], got {self.meta_threshold}")
        _check_margin(self.stage1_margin)

    def feature_names(self) -> tuple[str, ...]:
        """Return the names of the stacker's inputs, in column order."""
        signed = "side*" if self.mode == "meta_label" else ""
        names = [f"{signed}logit_p1"]
        if self.use_p2:
            names += [f"{signed}logit_p2", "has_p2"]
        if self.mode == "meta_label":
            names.append("side")
        regimes = [f"regime:{name}" for name in self.regime_names]
        names += regimes
        if self.interactions:
            names += [f"{signed}logit_p1*{regime}" for regime in regimes]
            if self.use_p2:
                names += [f"{signed}logit_p2*{regime}" for regime in regimes]
                names.append("logit_p1*logit_p2")
            if self.mode == "meta_label":
                names += [f"side*{regime}" for regime in regimes]
        return tuple(names)

    def layout_hash(self) -> str:
        """Return a short hash of the input layout (mode, regimes, columns): the default spec hash."""
        layout = {"features": list(self.feature_names()), "mode": self.mode}
        return hashlib.sha256(json.dumps(layout, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class MetaDecision:
    """Stage-3 output for a batch of events.

    Attributes
    ----------
    probability : np.ndarray
        Calibrated P(up) (``direction`` mode) or P(primary trade profitable) (``meta_label``);
        NaN in ``meta_label`` mode where there is no primary side.
    direction : np.ndarray
        +1, -1 or 0 (int64).
    confidence : np.ndarray
        In [0, 1]; 0 where the direction is forced flat by a filter.

    """

    probability: np.ndarray
    direction: np.ndarray
    confidence: np.ndarray


@dataclass(frozen=True)
class MetaSignal:
    """Stage-3 output for one event (see :class:`MetaDecision`)."""

    probability: float
    direction: int
    confidence: float


class MetaModel:
    """Logistic stacker over stage outputs and regime probabilities, followed by a calibrator.

    Parameters
    ----------
    config : MetaConfig, optional
        The configuration; the default stacks ``p1`` alone, in ``direction`` mode, with Platt
        calibration.

    Attributes
    ----------
    coef_ : np.ndarray
        Stacker coefficients, one per name in ``feature_names_``.
    intercept_ : float
        Stacker intercept.
    calibrator_ : IsotonicCalibrator or PlattCalibrator or None
        The calibrator (``None`` when ``config.calibration == "none"``).
    feature_names_ : tuple[str, ...]
        The stacker's input names (:meth:`MetaConfig.feature_names`).
    spec_hash_ : str
        Identifier of the inputs the model was fitted on (given to :meth:`fit`, by default
        :meth:`MetaConfig.layout_hash`).
    n_train_ : int
        Rows used by the stacker.
    n_calibration_ : int
        Rows used by the calibrator (0 without one).

    """

    def __init__(self, config: MetaConfig | None = None) -> None:
        self.config = config if config is not None else MetaConfig()

    def fit(
        self,
        p1: np.ndarray,
        y: np.ndarray,
        *,
        p2: np.ndarray | None = None,
        regime_probs: np.ndarray | None = None,
        side: np.ndarray | None = None,
        spec_hash: str | None = None,
    ) -> MetaModel:
        """Fit the stacker, then the calibrator, on a held-out validation window.

        Rows that fail the stage-1 filter are dropped first (they are flat when served). The
        remaining rows must be in time order: the last ``calibration_fraction`` of them fit the
        calibrator, the others the stacker.

        Parameters
        ----------
        p1 : np.ndarray
            Out-of-sample stage-1 probabilities, shape (n,).
        y : np.ndarray
            Outcomes in {0, 1}: up (``direction``) or primary trade profitable (``meta_label``).
        p2 : np.ndarray, optional
            Out-of-sample stage-2 probabilities (NaN where absent); required iff ``use_p2``.
        regime_probs : np.ndarray, optional
            Shape (n, len(regime_names)); required iff there are regime names.
        side : np.ndarray, optional
            Primary side, +1 or -1 per row; required iff ``mode == "meta_label"``.
        spec_hash : str, optional
            Identifier of the inputs (for example a hash of the stage-1/2 model versions);
            defaults to :meth:`MetaConfig.layout_hash`.

        Returns
        -------
        MetaModel
            ``self``, fitted.

        Raises
        ------
        ModelError
            If an input is missing, unexpected or malformed, or a part of the window has one
            class only.

        """
        config = self.config
        features, first, sides = self._inputs(p1, p2, regime_probs, side)
        labels = np.asarray(y, dtype=np.float64).reshape(-1)
        if labels.shape != first.shape:
            raise ModelError(f"MetaModel.fit: y has {labels.size} values, expected {first.size} to match p1")
        if not np.isin(labels, (0.0, 1.0)).all():
            raise ModelError("MetaModel.fit: y must only hold 0 and 1 (drop rows whose outcome is unknown)")
        keep = stage1_passes(first, config.stage1_margin)
        if config.mode == "meta_label" and not np.isin(sides, (-1.0, 1.0)).all():
            raise ModelError("MetaModel.fit: side must be +1 or -1 on every row in meta_label mode")
        features, labels = features[keep], labels[keep]
        n_rows = labels.size
        n_calibration = 0
        if config.calibration != "none":
            n_calibration = round(n_rows * config.calibration_fraction)
        n_stack = n_rows - n_calibration
        stack_labels = labels[:n_stack]
        if np.unique(stack_labels).size < 2:
            raise ModelError(
                f"MetaModel.fit: the stacker's {n_stack} rows (of {n_rows} passing the stage-1 filter) "
                "need both outcomes; give a longer validation window or a smaller stage1_margin"
            )
        if config.calibration != "none" and n_calibration < 1:
            raise ModelError(
                "MetaModel.fit: no rows left for the calibrator; give a longer validation window"
            )
        stacker = LogisticRegression(C=config.regularization, solver="lbfgs", max_iter=10_000, tol=1e-10)
        with threadpool_limits(limits=1):
            stacker.fit(features[:n_stack], stack_labels.astype(np.int64))
        self.coef_ = np.asarray(stacker.coef_, dtype=np.float64).reshape(-1)
        self.intercept_ = float(np.asarray(stacker.intercept_).reshape(-1)[0])
        self.calibrator_: IsotonicCalibrator | PlattCalibrator | None = None
        if config.calibration != "none":
            raw = sigmoid(linear_predictor(features[n_stack:], self.coef_, self.intercept_))
            calibrator = make_calibrator(config.calibration)
            self.calibrator_ = calibrator.fit(raw, labels[n_stack:])
        self.feature_names_ = config.feature_names()
        self.spec_hash_ = str(spec_hash) if spec_hash is not None else config.layout_hash()
        self.n_train_ = int(n_stack)
        self.n_calibration_ = int(n_calibration)
        return self

    def predict_proba(
        self,
        p1: np.ndarray,
        *,
        p2: np.ndarray | None = None,
        regime_probs: np.ndarray | None = None,
        side: np.ndarray | None = None,
    ) -> np.ndarray:
        """Return the calibrated probability of every event (before any filter).

        Parameters
        ----------
        p1, p2, regime_probs, side : np.ndarray
            As for :meth:`fit`; ``side`` may also be 0 (no primary trade) in ``meta_label`` mode.

        Returns
        -------
        np.ndarray
            Float64 probabilities of shape (n,); NaN where ``side`` is 0 in ``meta_label`` mode.

        Raises
        ------
        ModelError
            If the model is not fitted or an input is missing, unexpected or malformed.

        """
        coef = self._fitted_coef()
        features, _, sides = self._inputs(p1, p2, regime_probs, side)
        probability = sigmoid(linear_predictor(features, coef, self.intercept_))
        if self.calibrator_ is not None:
            probability = self.calibrator_.predict(probability)
        if self.config.mode == "meta_label":
            probability = np.where(sides == 0.0, np.nan, probability)
        return probability

    def decide(
        self,
        p1: np.ndarray,
        *,
        p2: np.ndarray | None = None,
        regime_probs: np.ndarray | None = None,
        side: np.ndarray | None = None,
    ) -> MetaDecision:
        """Return the probability, direction and confidence of every event.

        Parameters
        ----------
        p1, p2, regime_probs, side : np.ndarray
            As for :meth:`predict_proba`.

        Returns
        -------
        MetaDecision
            The batch decision (see the module docstring for the rules).

        """
        probability = self.predict_proba(p1, p2=p2, regime_probs=regime_probs, side=side)
        first = np.asarray(p1, dtype=np.float64).reshape(-1)
        sides = None if side is None else np.asarray(side, dtype=np.float64).reshape(-1)
        direction, confidence = decide_from_probability(probability, first, self.config, sides)
        return MetaDecision(probability=probability, direction=direction, confidence=confidence)

    def decide_one(
        self,
        p1: float,
        *,
        p2: float | None = None,
        regime_probs: Sequence[float] | np.ndarray | None = None,
        side: int | None = None,
    ) -> MetaSignal:
        """Return the decision for one event (the live path).

        Parameters
        ----------
        p1 : float
            Stage-1 probability.
        p2 : float, optional
            Stage-2 probability (NaN or ``None`` when absent; ``None`` only if ``use_p2`` is off).
        regime_probs : Sequence[float], optional
            Regime probabilities in the order of ``regime_names``.
        side : int, optional
            Primary side in ``meta_label`` mode.

        Returns
        -------
        MetaSignal
            Equal to row 0 of :meth:`decide` on the one-row batch.

        """
        decision = self.decide(
            np.array([p1], dtype=np.float64),
            p2=None if p2 is None else np.array([p2], dtype=np.float64),
            regime_probs=None
            if regime_probs is None
            else np.asarray(regime_probs, dtype=np.float64)[None, :],
            side=None if side is None else np.array([side], dtype=np.float64),
        )
        return MetaSignal(
            probability=float(decision.probability[0]),
            direction=int(decision.direction[0]),
            confidence=float(decision.confidence[0]),
        )

    def check_features(self, names: Sequence[str], spec_hash: str) -> None:
        """Check that the live stacker inputs match the fitted ones.

        Parameters
        ----------
        names : Sequence[str]
            The live input names (:meth:`MetaConfig.feature_names` of the live config).
        spec_hash : str
            The live input identifier.

        Raises
        ------
        ModelError
            If names or identifier differ; the message shows both sides.

        """
        self._fitted_coef()
        check_feature_match(self.feature_names_, self.spec_hash_, names, spec_hash)

    def check_regimes(self, regime_names: Sequence[str]) -> None:
        """Check that the live regime model emits the regimes this model was fitted on, in order.

        Raises
        ------
        ModelError
            If the names or their order differ; the message shows both sides.

        """
        live = tuple(str(name) for name in regime_names)
        if live != self.config.regime_names:
            raise ModelError(
                f"live regime names differ from the meta-model's: model: {list(self.config.regime_names)}; "
                f"live: {list(live)}. Refit the meta-model on the live regime model's outputs."
            )

    def to_bytes(self) -> bytes:
        """Serialize: :data:`META_FORMAT_HEADER` and one line of JSON (deterministic).

        Returns
        -------
        bytes
            The same fitted model always gives the same bytes.

        """
        coef = self._fitted_coef()
        config = asdict(self.config)
        config["regime_names"] = list(self.config.regime_names)
        document = {
            "calibrator": None if self.calibrator_ is None else self.calibrator_.to_dict(),
            "coef": coef.tolist(),
            "config": config,
            "feature_names": list(self.feature_names_),
            "intercept": self.intercept_,
            "n_calibration": self.n_calibration_,
            "n_train": self.n_train_,
            "sklearn_version": sklearn.__version__,
            "spec_hash": self.spec_hash_,
        }
        return pack_document(META_FORMAT_HEADER, document)

    @classmethod
    def from_bytes(cls, data: bytes) -> MetaModel:
        """Rebuild a fitted meta-model from :meth:`to_bytes` output.

        Raises
        ------
        ModelError
            If ``data`` is not a serialized meta-model or cannot be parsed.

        """
        document = unpack_document(data, META_FORMAT_HEADER, "MetaModel")
        try:
            settings = dict(document["config"])
            settings["regime_names"] = tuple(settings["regime_names"])
            model = cls(MetaConfig(**settings))
            model.coef_ = np.asarray(document["coef"], dtype=np.float64)
            model.intercept_ = float(document["intercept"])
            state = document["calibrator"]
            model.calibrator_ = None if state is None else calibrator_from_dict(state)
            model.feature_names_ = tuple(str(n) for n in document["feature_names"])
            model.spec_hash_ = str(document["spec_hash"])
            model.n_train_ = int(document["n_train"])
            model.n_calibration_ = int(document["n_calibration"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, ConfigError) as exc:
            raise ModelError(f"serialized MetaModel is corrupted: {exc}") from exc
        if model.feature_names_ != model.config.feature_names() or model.coef_.shape != (
            len(model.feature_names_),
        ):
            raise ModelError("serialized MetaModel is corrupted: coefficients do not match its config")
        return model

    # -- internals --------------------------------------------------------------------------------

    def _inputs(
        self,
        p1: np.ndarray,
        p2: np.ndarray | None,
        regime_probs: np.ndarray | None,
        side: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        config = self.config
        first = np.asarray(p1, dtype=np.float64).reshape(-1)
        n = first.size
        if not np.isfinite(first).all() or (first < 0).any() or (first > 1).any():
            raise ModelError("MetaModel: p1 must be finite probabilities in [0, 1]")
        second = None
        if config.use_p2:
            if p2 is None:
                raise ModelError("MetaModel: p2 is required (use_p2 is on); pass NaN where stage 2 is absent")
            second = np.asarray(p2, dtype=np.float64).reshape(-1)
            if second.shape != (n,):
                raise ModelError(f"MetaModel: p2 has {second.size} values, expected {n} to match p1")
            present = second[~np.isnan(second)]
            if (present < 0).any() or (present > 1).any() or np.isinf(present).any():
                raise ModelError("MetaModel: p2 must be probabilities in [0, 1] or NaN")
        elif p2 is not None:
            raise ModelError("MetaModel: p2 was given but the config has use_p2=False")
        k = len(config.regime_names)
        regimes = np.zeros((n, 0))
        if k:
            if regime_probs is None:
                raise ModelError(
                    f"MetaModel: regime_probs are required for regimes {list(config.regime_names)}"
                )
            regimes = np.asarray(regime_probs, dtype=np.float64)
            if regimes.shape != (n, k):
                raise ModelError(
                    f"MetaModel: regime_probs has shape {regimes.shape}, expected ({n}, {k}) with columns "
                    f"{list(config.regime_names)}"
                )
            if not np.isfinite(regimes).all() or (regimes < 0).any() or (regimes > 1).any():
                raise ModelError("MetaModel: regime_probs must be finite probabilities in [0, 1]")
        elif regime_probs is not None:
            raise ModelError("MetaModel: regime_probs were given but the config has no regime_names")
        sides = np.ones(n)
        if config.mode == "meta_label":
            if side is None:
                raise ModelError("MetaModel: side (+1/-1, 0 = no trade) is required in meta_label mode")
            sides = np.asarray(side, dtype=np.float64).reshape(-1)
            if sides.shape != (n,) or not np.isin(sides, (-1.0, 0.0, 1.0)).all():
                raise ModelError(f"MetaModel: side must hold {n} values in {{-1, 0, +1}}")
        elif side is not None:
            raise ModelError("MetaModel: side is only used in meta_label mode")
        return meta_features(config, first, second, regimes, sides), first, sides

    def _fitted_coef(self) -> np.ndarray:
        coef = getattr(self, "coef_", None)
        if coef is None:
            raise ModelError("MetaModel is not fitted: call fit() on a held-out validation window")
        return coef

    def __repr__(self) -> str:
        return f"MetaModel(config={self.config!r})"


def meta_features(
    config: MetaConfig,
    p1: np.ndarray,
    p2: np.ndarray | None,
    regime_probs: np.ndarray,
    side: np.ndarray,
) -> np.ndarray:
    """Return the stacker's input matrix, columns in the order of :meth:`MetaConfig.feature_names`.

    Parameters
    ----------
    config : MetaConfig
        The layout.
    p1 : np.ndarray
        Stage-1 probabilities, shape (n,).
    p2 : np.ndarray, optional
        Stage-2 probabilities with NaN where absent (``logit_p2`` is 0 and ``has_p2`` 0 there);
        ignored unless ``config.use_p2``.
    regime_probs : np.ndarray
        Shape (n, len(config.regime_names)).
    side : np.ndarray
        Primary side per row (+1/-1/0); ignored in ``direction`` mode.

    Returns
    -------
    np.ndarray
        Float64 matrix of shape (n, len(config.feature_names())).

    """
    signed = side if config.mode == "meta_label" else np.ones_like(p1)
    logit_p1 = signed * logit(p1)
    columns = [logit_p1]
    logit_p2 = np.zeros_like(p1)
    if config.use_p2 and p2 is not None:
        has_p2 = ~np.isnan(p2)
        logit_p2 = np.where(has_p2, signed * logit(np.where(has_p2, p2, 0.5)), 0.0)
        columns += [logit_p2, has_p2.astype(np.float64)]
    if config.mode == "meta_label":
        columns.append(side.astype(np.float64))
    regimes = [regime_probs[:, k] for k in range(regime_probs.shape[1])]
    columns += regimes
    if config.interactions:
        columns += [logit_p1 * regime for regime in regimes]
        if config.use_p2:
            columns += [logit_p2 * regime for regime in regimes]
            columns.append(logit_p1 * logit_p2)
        if config.mode == "meta_label":
            columns += [side * regime for regime in regimes]
    return np.column_stack(columns) if columns else np.zeros((p1.size, 0))


def linear_predictor(features: np.ndarray, coef: np.ndarray, intercept: float) -> np.ndarray:
    """Return ``intercept + features @ coef``, summed column by column.

    The fixed, row-independent summation order makes a one-row call give exactly the same value
    as the same row inside a batch (a BLAS matrix product does not guarantee that).

    Parameters
    ----------
    features : np.ndarray
        Matrix of shape (n, k).
    coef : np.ndarray
        Coefficients of shape (k,).
    intercept : float
        The intercept.

    Returns
    -------
    np.ndarray
        The linear predictor, shape (n,).

    """
    total = np.full(features.shape[0], float(intercept))
    for column in range(features.shape[1]):
        total += features[:, column] * coef[column]
    return total


def decide_from_probability(
    probability: np.ndarray, p1: np.ndarray, config: MetaConfig, side: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return (direction, confidence) from calibrated probabilities (a pure kernel).

    Parameters
    ----------
    probability : np.ndarray
        Calibrated probabilities, shape (n,).
    p1 : np.ndarray
        Stage-1 probabilities (for the filter and the confidence shrink).
    config : MetaConfig
        Thresholds, mode, margin and shrink switch.
    side : np.ndarray, optional
        Primary side per row (required in ``meta_label`` mode).

    Returns
    -------
    tuple[np.ndarray, np.ndarray]
        Direction in {-1, 0, +1} (int64) and confidence in [0, 1].

    """
    passes = stage1_passes(p1, config.stage1_margin)
    valid = passes & ~np.isnan(probability)
    p = np.where(valid, probability, 0.5)
    if config.mode == "direction":
        direction = np.where(p >= config.long_threshold, 1, np.where(p <= config.short_threshold, -1, 0))
        confidence = np.abs(2.0 * p - 1.0)
    else:
        if side is None:
            raise ModelError("decide_from_probability: side is required in meta_label mode")
        take = p >= config.meta_threshold
        direction = np.where(take, side, 0.0).astype(np.int64)
        confidence = np.maximum(0.0, 2.0 * p - 1.0)
        valid &= side != 0
    if config.shrink_confidence and config.stage1_margin > 0:
        confidence = confidence * np.minimum(1.0, np.abs(p1 - 0.5) / (2.0 * config.stage1_margin))
    direction = np.where(valid, direction, 0).astype(np.int64)
    confidence = np.clip(np.where(valid, confidence, 0.0), 0.0, 1.0)
    return direction, confidence


def _check_margin(margin: float) -> None:
    if not 0.0 <= margin <= 0.5:
        raise ConfigError(f"stage-1 margin must be in [0, 0.5], got {margin}")
