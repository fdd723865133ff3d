r"""Regime models: a Gaussian HMM run online, and GMM / k-means alternatives behind one interface.

Every :class:`RegimeModel` follows the estimator contract (``__init__`` stores parameters,
:meth:`~RegimeModel.fit` returns ``self``, learned state ends in ``_``) and adds an online one:

* :meth:`~RegimeModel.filter_step` takes one feature row and returns the state probabilities given
  this row and the earlier ones only (for the HMM the forward filter
  :math:`P(s_t \mid x_{1..t})`, never the smoothed posterior, which looks ahead);
  :attr:`~RegimeModel.regime` is the published regime after the minimum-dwell / margin hysteresis;
* :meth:`~RegimeModel.reset` forgets the online state;
* :meth:`~RegimeModel.filter` and :meth:`~RegimeModel.regimes` are the batch forms: they run the same
  step over the rows from a fresh state (and leave the online state alone).

Features are standardized with the training mean and standard deviation (saved with the model).
States are named from their return statistics on the training data
(:mod:`~nautilus_ai.learning.regime_naming`) and stored in canonical order (``trending``,
``mean_reverting``, ``volatile``, then suffixed names), or in the order of a reference fit whose
states they are matched to; so refits keep both names and columns.

Serialization (:meth:`~RegimeModel.to_bytes`): the header line :data:`REGIME_FORMAT_HEADER`, then one
line of JSON holding the parameters, feature names, spec hash, scaler, names, statistics and the
learned arrays (exact float reprs); no pickle. :meth:`RegimeModel.from_bytes` rebuilds the right
class from the ``kind`` field; :func:`nautilus_ai.learning.artifacts.load_model` (and so the model
registry) dispatches the header to it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from hmmlearn.hmm import GaussianHMM
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from nautilus_ai.errors import ConfigError, DataError, ModelError
from nautilus_ai.learning.regime import (
    INITIAL_HYSTERESIS,
    HysteresisState,
    gaussian_log_density,
    hmm_forward_step,
    hysteresis_step,
    log_normalize,
    precision_cholesky,
    soft_kmeans_probabilities,
)
from nautilus_ai.learning.regime_naming import (
    StateStatistics,
    canonical_order,
    match_states,
    name_states,
    state_statistics,
)

REGIME_FORMAT_HEADER = b"nautilus-ai/regime-model/1\n"
"""First line of every serialized regime model; bump the trailing number when the layout changes."""

_HEADER_PREFIX = b"nautilus-ai/regime-model/"
_COVARIANCE_TYPES = ("full", "diag")


class RegimeModel:
    """Base class of the regime models: fitting, naming, online filtering, serialization.

    Parameters
    ----------
    n_states : int, default 3
        Number of hidden states (clusters), >= 2.
    return_feature : str, default "ret_1"
        The feature holding the one-bar return; its statistics per state name the states.
    seed : int, default 0
        Seed of every random draw of the fit (restart ``i`` uses ``seed + i``).
    n_init : int, default 4
        Number of fits from different seeds; the best likelihood (lowest inertia) is kept.
    min_dwell : int, default 3
        Steps the new most likely state must lead before :attr:`regime` changes (1: no hysteresis).
    switch_margin : float, optional
        Switch :attr:`regime` at once when the new most likely state's probability exceeds the
        published one's by at least this, in (0, 1].
    volatile_ratio : float, default 1.5
        Volatility ratio from which a state may be named ``volatile`` (see
        :func:`~nautilus_ai.learning.regime_naming.name_states`).

    Attributes
    ----------
    feature_names_ : tuple[str, ...]
        The training features, in column order.
    spec_hash_ : str
        The ``FeatureSpec`` fingerprint of the training features ("" when not given).
    center_, scale_ : np.ndarray
        Training mean and standard deviation of each feature.
    means_ : np.ndarray
        State means in standardized units, shape ``(K, d)``.
    regime_names_ : tuple[str, ...]
        The regime name of each state (column of the probabilities).
    statistics_ : tuple[StateStatistics, ...]
        Return statistics of each state on the training data.
    n_train_ : int
        Number of training rows.

    """

    kind: ClassVar[str] = ""
    _arrays: ClassVar[tuple[str, ...]] = ("means_",)

    feature_names_: tuple[str, ...]
    spec_hash_: str
    center_: np.ndarray
    scale_: np.ndarray
    means_: np.ndarray
    regime_names_: tuple[str, ...]
    statistics_: tuple[StateStatistics, ...]
    n_train_: int

    def __init__(
        self,
        n_states: int = 3,
        *,
        return_feature: str = "ret_1",
        seed: int = 0,
        n_init: int = 4,
        min_dwell: int = 3,
        switch_margin: float | None = None,
        volatile_ratio: float = 1.5,
    ) -> None:
        self.n_states = n_states
        self.return_feature = return_feature
        self.seed = seed
        self.n_init = n_init
        self.min_dwell = min_dwell
        self.switch_margin = switch_margin
        self.volatile_ratio = volatile_ratio
        self._check_params()
        self.reset()

    # -- parameters -------------------------------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters (JSON-serializable)."""
        return {
            "n_states": self.n_states,
            "return_feature": self.return_feature,
            "seed": self.seed,
            "n_init": self.n_init,
            "min_dwell": self.min_dwell,
            "switch_margin": self.switch_margin,
            "volatile_ratio": self.volatile_ratio,
        }

    def _check_params(self) -> None:
        name = type(self).__name__
        for field in ("n_states", "n_init", "min_dwell", "seed"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name}.{field}={value!r} is not an integer")
        if self.n_states < 2:
            raise ConfigError(f"{name}.n_states={self.n_states} is invalid: set at least 2 states")
        if self.n_init < 1 or self.min_dwell < 1:
            raise ConfigError(
                f"{name}: n_init={self.n_init} and min_dwell={self.min_dwell} must both be >= 1"
            )
        if self.switch_margin is not None and not 0.0 < float(self.switch_margin) <= 1.0:
            raise ConfigError(f"{name}.switch_margin={self.switch_margin!r} must be in (0, 1] or None")
        if not float(self.volatile_ratio) > 1.0:
            raise ConfigError(f"{name}.volatile_ratio={self.volatile_ratio!r} must be > 1")
        if not isinstance(self.return_feature, str) or not self.return_feature:
            raise ConfigError(f"{name}.return_feature={self.return_feature!r} must be a feature name")

    # -- training ---------------------------------------------------------------------------------

    def fit(
        self,
        X: np.ndarray | pd.DataFrame,  # noqa: N803 (scikit-learn convention)
        feature_names: Sequence[str] | None = None,
        *,
        spec_hash: str = "",
        reference: RegimeModel | None = None,
    ) -> Self:
        """Fit the states on training features and name them.

        Parameters
        ----------
        X : np.ndarray or pd.DataFrame
            Training features, shape ``(n, d)``, rows in time order, all finite.
        feature_names : Sequence[str], optional
            Column names; taken from the frame's columns when ``X`` is a DataFrame.
        spec_hash : str, default ""
            Fingerprint of the ``FeatureSpec`` that produced the features ("" to skip the check).
        reference : RegimeModel, optional
            An earlier fit (same features and number of states): the states of this fit are matched
            to its states by their means (Hungarian algorithm), take their names and their order.

        Returns
        -------
        RegimeModel
            ``self``, fitted, with the online state reset.

        Raises
        ------
        ConfigError
            If ``return_feature`` is not a column or ``reference`` does not fit the new model.
        DataError
            If ``X`` is not a finite 2-D matrix with a varying value in every column and at least
            ``10 * n_states`` rows.

        """
        matrix, names = _training_matrix(X, feature_names, self.n_states)
        if self.return_feature not in names:
            raise ConfigError(
                f"{type(self).__name__}.return_feature={self.return_feature!r} is not a training "
                f"feature; the features are {list(names)}"
            )
        center = matrix.mean(axis=0)
        scale = matrix.std(axis=0)
        if (scale == 0.0).any():
            constant = [n for n, s in zip(names, scale, strict=True) if s == 0.0]
            raise DataError(
                f"features {constant} are constant on the training data: drop them", field=constant[0]
            )
        standardized = (matrix - center) / scale
        # small matrices: threads only contend (and one thread keeps the fit reproducible)
        with threadpool_limits(limits=1):
            weights = self._fit_states(standardized)
        statistics = state_statistics(matrix[:, names.index(self.return_feature)], weights)
        if reference is None:
            regime_names = name_states(statistics, float(self.volatile_ratio))
            order = canonical_order(regime_names)
            regime_names = tuple(regime_names[k] for k in order)
        else:
            reference._check_fitted()
            if tuple(reference.feature_names_) != names or len(reference.regime_names_) != self.n_states:
                raise ConfigError(
                    f"reference model has features {list(reference.feature_names_)} and "
                    f"{len(reference.regime_names_)} states; this fit has {list(names)} and "
                    f"{self.n_states}: refit with the reference's features and number of states"
                )
            means = self.means_ * scale + center
            order = list(match_states(reference.state_means(), means, reference.scale_))
            regime_names = tuple(reference.regime_names_)
        self._permute(np.asarray(order, dtype=np.int64))
        self.feature_names_ = names
        self.spec_hash_ = str(spec_hash)
        self.center_ = center
        self.scale_ = scale
        self.regime_names_ = regime_names
        self.statistics_ = tuple(statistics[k] for k in order)
        self.n_train_ = int(matrix.shape[0])
        self._prepare()
        self.reset()
        return self

    def _fit_states(self, standardized: np.ndarray) -> np.ndarray:
        """Fit the learned arrays on standardized features; return the training memberships (n, K)."""
        raise NotImplementedError

    def _permute(self, order: np.ndarray) -> None:
        """Reorder the states: new state ``i`` is old state ``order[i]``."""
        self.means_ = self.means_[order]

    def _prepare(self) -> None:
        """Compute the caches the filter step needs from the learned arrays."""

    def _log_step(self, log_previous: np.ndarray | None, z: np.ndarray) -> np.ndarray:
        """Return the log state probabilities after standardized row ``z``."""
        raise NotImplementedError

    # -- inspection -------------------------------------------------------------------------------

    def state_means(self) -> np.ndarray:
        """Return the state means in feature units, shape ``(K, d)``."""
        self._check_fitted()
        return self.means_ * self.scale_ + self.center_

    def standardize(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Return ``(X - center_) / scale_``, the units the learned arrays are in."""
        self._check_fitted()
        return (np.asarray(X, dtype=np.float64) - self.center_) / self.scale_

    def probabilities_by_name(self, probabilities: np.ndarray) -> dict[str, float]:
        """Return ``{regime name: probability}`` for one row of probabilities."""
        self._check_fitted()
        return {name: float(p) for name, p in zip(self.regime_names_, probabilities, strict=True)}

    def feature_indices(self, live_names: Sequence[str]) -> np.ndarray:
        """Return the positions of the model's features in a live feature list.

        Parameters
        ----------
        live_names : Sequence[str]
            The live feature names (a FeatureVector's), in value order; may hold more features.

        Returns
        -------
        np.ndarray
            ``idx`` such that ``values[idx]`` are the model's inputs in training order.

        Raises
        ------
        ModelError
            If a training feature is missing from the live features (both lists are named).

        """
        self._check_fitted()
        live = [str(n) for n in live_names]
        missing = [n for n in self.feature_names_ if n not in live]
        if missing:
            raise ModelError(
                f"live features lack the regime model's features {missing}; model: "
                f"{list(self.feature_names_)}; live: {live}. Add them to the FeatureSpec or retrain "
                "the regime model on the live features."
            )
        return np.array([live.index(n) for n in self.feature_names_], dtype=np.int64)

    def check_spec_hash(self, spec_hash: str) -> None:
        """Check a live ``FeatureSpec`` fingerprint against the training one (skipped when either is "").

        Raises
        ------
        ModelError
            If both are set and differ (both are named).

        """
        self._check_fitted()
        if self.spec_hash_ and spec_hash and str(spec_hash) != self.spec_hash_:
            raise ModelError(
                f"live features come from FeatureSpec {str(spec_hash)!r}, the regime model was "
                f"trained on {self.spec_hash_!r}: retrain it or run the FeatureSpec it was trained on"
            )

    # -- online filtering -------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the online state: the next :meth:`filter_step` is the first observation."""
        self._log_alpha: np.ndarray | None = None
        self._hysteresis: HysteresisState = INITIAL_HYSTERESIS

    def filter_step(self, x: np.ndarray | Sequence[float]) -> np.ndarray:
        """Take one feature row and return the state probabilities given it and the earlier rows.

        Parameters
        ----------
        x : array-like
            One row of the training features, shape ``(d,)``, finite.

        Returns
        -------
        np.ndarray
            Probabilities of the states, shape ``(K,)``, in :attr:`regime_names_` order.

        Raises
        ------
        DataError
            If the row has the wrong length or a non-finite value.
        ModelError
            If the model is not fitted, or no state can explain the row.

        """
        self._check_fitted()
        z = self._standardize_row(x)
        self._log_alpha, self._hysteresis, probabilities = self._advance(self._log_alpha, self._hysteresis, z)
        return probabilities

    @property
    def regime(self) -> str:
        """The published regime after the last :meth:`filter_step` ("" before the first)."""
        published = self._hysteresis.published
        return self.regime_names_[published] if published >= 0 else ""

    def filter(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Return the online probabilities of every row, as repeated :meth:`filter_step` from a reset.

        The online state of the model is left unchanged.

        Returns
        -------
        np.ndarray
            Shape ``(n, K)``; row ``t`` depends on rows ``0..t`` only.

        """
        return self._run(X)[0]

    def regimes(self, X: np.ndarray | pd.DataFrame) -> list[str]:  # noqa: N803
        """Return the published regime of every row (with hysteresis), as repeated :meth:`filter_step`."""
        return self._run(X)[1]

    def _run(self, X: np.ndarray | pd.DataFrame) -> tuple[np.ndarray, list[str]]:  # noqa: N803
        self._check_fitted()
        matrix = np.asarray(X, dtype=np.float64)
        if matrix.ndim != 2:
            raise DataError(f"regime model input must be 2-D (rows x features), got shape {matrix.shape}")
        log_alpha: np.ndarray | None = None
        hysteresis = INITIAL_HYSTERESIS
        out = np.empty((matrix.shape[0], len(self.regime_names_)))
        names = []
        for t in range(matrix.shape[0]):
            z = self._standardize_row(matrix[t], row=t)
            log_alpha, hysteresis, out[t] = self._advance(log_alpha, hysteresis, z)
            names.append(self.regime_names_[hysteresis.published])
        return out, names

    def _advance(
        self, log_alpha: np.ndarray | None, hysteresis: HysteresisState, z: np.ndarray
    ) -> tuple[np.ndarray, HysteresisState, np.ndarray]:
        try:
            log_alpha = self._log_step(log_alpha, z)
        except FloatingPointError as exc:
            raise ModelError(f"no state of the {type(self).__name__} can explain the row: {exc}") from exc
        probabilities = np.exp(log_alpha)
        hysteresis = hysteresis_step(hysteresis, probabilities, self.min_dwell, self.switch_margin)
        return log_alpha, hysteresis, probabilities

    def _standardize_row(self, x: np.ndarray | Sequence[float], row: int | None = None) -> np.ndarray:
        values = np.asarray(x, dtype=np.float64)
        if values.shape != (len(self.feature_names_),):
            raise DataError(
                f"got feature values of shape {values.shape}, the regime model expects "
                f"{len(self.feature_names_)}: {list(self.feature_names_)}",
                row=None if row is None else row + 1,
            )
        if not np.isfinite(values).all():
            bad = [n for n, v in zip(self.feature_names_, values, strict=True) if not math.isfinite(v)]
            raise DataError(
                f"non-finite feature values {bad}: skip warm-up rows before filtering",
                row=None if row is None else row + 1,
                field=bad[0],
            )
        return (values - self.center_) / self.scale_

    def _check_fitted(self) -> None:
        if not hasattr(self, "regime_names_"):
            raise ModelError(f"{type(self).__name__} is not fitted: call fit() or load it with from_bytes()")

    # -- serialization ----------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Serialize the fitted model: :data:`REGIME_FORMAT_HEADER` and one line of JSON.

        Returns
        -------
        bytes
            Deterministic bytes: the same fitted model always gives the same output.

        """
        self._check_fitted()
        arrays = {}
        for attribute in self._arrays:
            value = np.asarray(getattr(self, attribute), dtype=np.float64)
            arrays[attribute] = {"shape": list(value.shape), "values": value.ravel().tolist()}
        meta = {
            "kind": self.kind,
            "params": self.get_params(),
            "feature_names": list(self.feature_names_),
            "spec_hash": self.spec_hash_,
            "regime_names": list(self.regime_names_),
            "center": self.center_.tolist(),
            "scale": self.scale_.tolist(),
            "statistics": [dataclasses.asdict(s) for s in self.statistics_],
            "n_train": self.n_train_,
            "arrays": arrays,
        }
        line = json.dumps(meta, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return REGIME_FORMAT_HEADER + line.encode("utf-8") + b"\n"

    def fingerprint(self) -> str:
        """Return the first 12 hex digits of the SHA-256 of :meth:`to_bytes`."""
        return hashlib.sha256(self.to_bytes()).hexdigest()[:12]

    @classmethod
    def from_bytes(cls, data: bytes) -> RegimeModel:
        """Rebuild a fitted model from :meth:`to_bytes` output.

        Called on :class:`RegimeModel` it returns whichever kind the bytes hold; called on a
        subclass it also checks the kind.

        Raises
        ------
        ModelError
            If ``data`` is not a serialized regime model of a supported version, is corrupted, or
            holds another kind than the class asked for.

        """
        data = bytes(data)
        if not data.startswith(_HEADER_PREFIX):
            raise ModelError(
                f"not a serialized regime model (expected header {REGIME_FORMAT_HEADER!r}, "
                f"got {data[: len(REGIME_FORMAT_HEADER)]!r})"
            )
        if not data.startswith(REGIME_FORMAT_HEADER):
            header = data.split(b"\n", 1)[0]
            raise ModelError(
                f"unsupported regime model format {header!r}: this version reads {REGIME_FORMAT_HEADER!r}"
            )
        try:
            meta = json.loads(data[len(REGIME_FORMAT_HEADER) :].decode("utf-8"))
            model_cls = _MODEL_CLASSES[meta["kind"]]
            if cls is not RegimeModel and model_cls is not cls:
                raise ModelError(f"the bytes hold a {model_cls.__name__}, not a {cls.__name__}")
            model = model_cls(**meta["params"])
            for attribute in model_cls._arrays:
                entry = meta["arrays"][attribute]
                array = np.asarray(entry["values"], dtype=np.float64).reshape(entry["shape"])
                setattr(model, attribute, array)
            model.feature_names_ = tuple(str(n) for n in meta["feature_names"])
            model.spec_hash_ = str(meta["spec_hash"])
            model.center_ = np.asarray(meta["center"], dtype=np.float64)
            model.scale_ = np.asarray(meta["scale"], dtype=np.float64)
            model.statistics_ = tuple(StateStatistics(**s) for s in meta["statistics"])
            model.n_train_ = int(meta["n_train"])
            model._prepare()
            model.regime_names_ = tuple(str(n) for n in meta["regime_names"])
        except ModelError:
            raise
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, np.linalg.LinAlgError) as exc:
            raise ModelError(f"serialized regime model is corrupted: {exc!r}") from exc
        return model

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


class HMMRegimeModel(RegimeModel):
    """Gaussian hidden Markov model (``hmmlearn.hmm.GaussianHMM``) filtered online.

    Fitted by EM (Baum-Welch) with ``n_init`` restarts, keeping the best training likelihood:
    restart 0 starts from clusters of windows of rows (:meth:`_init_from_windows`), odd restarts from
    hmmlearn's k-means initialization, other even ones from the means and covariances of random
    contiguous segments of the data (:meth:`_init_from_segments`). The online step is
    :func:`~nautilus_ai.learning.regime.hmm_forward_step` on the fitted start probabilities,
    transition matrix, means and (full) covariances, so each row costs :math:`O(K^2 + K d^2)`.
    The training memberships used to name the states are the smoothed posteriors (training data
    only; the online filter never sees a later row).

    Parameters
    ----------
    n_states : int, default 3
        Number of hidden states.
    covariance_type : {"full", "diag"}, default "full"
        Covariance structure of the emissions during the fit (stored as full matrices).
    n_iter : int, default 200
        Maximum EM iterations per restart.
    tol : float, default 1e-4
        EM convergence threshold on the log-likelihood gain.
    **kwargs
        The :class:`RegimeModel` parameters.

    Attributes
    ----------
    startprob_ : np.ndarray
        Initial state distribution, shape ``(K,)``.
    transmat_ : np.ndarray
        Transition matrix, shape ``(K, K)`` (rows = from-state).
    covars_ : np.ndarray
        Emission covariances in standardized units, shape ``(K, d, d)``.
    log_likelihood_ : float
        Training log-likelihood of the kept restart (standardized features).

    """

    kind = "hmm"
    _arrays = ("startprob_", "transmat_", "means_", "covars_")

    def __init__(
        self,
        n_states: int = 3,
        *,
        covariance_type: str = "full",
        n_iter: int = 200,
        tol: float = 1e-4,
        **kwargs: Any,
    ) -> None:
        if covariance_type not in _COVARIANCE_TYPES:
            raise ConfigError(
                f"HMMRegimeModel.covariance_type={covariance_type!r}: use one of {_COVARIANCE_TYPES}"
            )
        if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 1 or not tol > 0:
            raise ConfigError(
                f"HMMRegimeModel: n_iter={n_iter!r} must be an integer >= 1 and tol={tol!r} > 0"
            )
        self.covariance_type = covariance_type
        self.n_iter = n_iter
        self.tol = tol
        super().__init__(n_states, **kwargs)

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters (JSON-serializable)."""
        return {
            **super().get_params(),
            "covariance_type": self.covariance_type,
            "n_iter": self.n_iter,
            "tol": self.tol,
        }

    def _fit_states(self, standardized: np.ndarray) -> np.ndarray:
        best: GaussianHMM | None = None
        best_score = -math.inf
        for i in range(self.n_init):
            hmm = GaussianHMM(
                n_components=self.n_states,
                covariance_type=self.covariance_type,
                n_iter=self.n_iter,
                tol=self.tol,
                random_state=self.seed + i,
            )
            if i == 0:
                self._init_from_windows(hmm, standardized)
            elif i % 2 == 0:
                self._init_from_segments(hmm, standardized, np.random.default_rng(self.seed + i))
            hmm.fit(standardized)
            score = float(hmm.score(standardized))
            if score > best_score:
                best, best_score = hmm, score
        assert best is not None
        self.startprob_ = np.asarray(best.startprob_, dtype=np.float64)
        self.transmat_ = np.asarray(best.transmat_, dtype=np.float64)
        self.means_ = np.asarray(best.means_, dtype=np.float64)
        self.covars_ = np.asarray(best.covars_, dtype=np.float64)
        self.log_likelihood_ = best_score
        return np.asarray(best.predict_proba(standardized))

    def _init_from_windows(self, hmm: GaussianHMM, standardized: np.ndarray) -> None:
        """Start EM from states found by clustering windows of rows on their mean and covariance.

        The rows are cut into consecutive windows of ``max(10 d, 20)`` rows; each window is
        described by the log variances and the correlations of its features (not by its mean,
        which is too noisy over a window to tell regimes apart), the descriptions are
        standardized and clustered by k-means into ``K`` groups, and each state starts from the
        mean and covariance of the rows of its group's windows. Regimes persist, so most windows lie
        in one regime, and their covariance is what tells a trending from a mean-reverting state.
        """
        n, dim = standardized.shape
        length = max(10 * dim, 20)
        n_windows = n // length
        if n_windows < 2 * self.n_states:
            return  # too short: keep hmmlearn's k-means initialization
        windows = standardized[: n_windows * length].reshape(n_windows, length, dim)
        descriptions = np.stack([_covariance_description(w) for w in windows])
        spread = descriptions.std(axis=0)
        descriptions = (descriptions - descriptions.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
        groups = KMeans(n_clusters=self.n_states, n_init=4, random_state=self.seed).fit_predict(descriptions)
        if len(set(groups.tolist())) < self.n_states:
            return
        self._set_initial_emissions(
            hmm, [windows[groups == k].reshape(-1, dim) for k in range(self.n_states)]
        )

    def _init_from_segments(
        self, hmm: GaussianHMM, standardized: np.ndarray, rng: np.random.Generator
    ) -> None:
        """Start EM from the means and covariances of ``K`` random contiguous segments.

        Each segment has ``max(10 d, n / (4 K))`` rows (at most ``n / K``).
        """
        n, dim = standardized.shape
        length = min(max(10 * dim, n // (4 * self.n_states)), n // self.n_states)
        starts = rng.choice(n - length + 1, size=self.n_states, replace=False)
        self._set_initial_emissions(hmm, [standardized[s : s + length] for s in starts])

    def _set_initial_emissions(self, hmm: GaussianHMM, rows: list[np.ndarray]) -> None:
        """Set the starting means and covariances of ``hmm`` from one block of rows per state."""
        dim = rows[0].shape[1]
        means = np.stack([r.mean(axis=0) for r in rows])
        covariances = np.stack([np.cov(r.T).reshape(dim, dim) + hmm.min_covar * np.eye(dim) for r in rows])
        hmm.covars_ = (
            np.stack([np.diag(c) for c in covariances]) if self.covariance_type == "diag" else covariances
        )
        hmm.means_ = means
        hmm.init_params = "st"

    def _permute(self, order: np.ndarray) -> None:
        super()._permute(order)
        self.startprob_ = self.startprob_[order]
        self.transmat_ = self.transmat_[np.ix_(order, order)]
        self.covars_ = self.covars_[order]

    def _prepare(self) -> None:
        with np.errstate(divide="ignore"):
            self._log_startprob = np.log(self.startprob_)
            self._log_transmat = np.log(self.transmat_)
        self._factors, self._half_log_det = precision_cholesky(self.covars_)

    def _log_step(self, log_previous: np.ndarray | None, z: np.ndarray) -> np.ndarray:
        emission = gaussian_log_density(z, self.means_, self._factors, self._half_log_det)
        return hmm_forward_step(log_previous, emission, self._log_startprob, self._log_transmat)

    def to_hmmlearn(self) -> GaussianHMM:
        """Return an ``hmmlearn`` GaussianHMM with this model's parameters (standardized units).

        Its ``predict_proba(model.standardize(X))[-1]`` is the smoothed posterior at the last row,
        which equals the filtered probability there: a reference for :meth:`filter`.
        """
        self._check_fitted()
        hmm = GaussianHMM(n_components=self.n_states, covariance_type="full", init_params="", params="")
        hmm.n_features = self.means_.shape[1]
        hmm.startprob_ = self.startprob_
        hmm.transmat_ = self.transmat_
        hmm.means_ = self.means_
        hmm.covars_ = self.covars_
        return hmm


class GMMRegimeModel(RegimeModel):
    r"""Gaussian mixture (``sklearn.mixture.GaussianMixture``): per-row posteriors, no memory.

    The step returns :math:`p_k \propto w_k \mathcal N(x_t \mid \mu_k, \Sigma_k)`
    (:func:`~nautilus_ai.learning.regime.mixture_posterior` in log space), equal to
    ``GaussianMixture.predict_proba``; only the hysteresis carries information across rows.

    Parameters
    ----------
    n_states : int, default 3
        Number of mixture components.
    covariance_type : {"full", "diag"}, default "full"
        Covariance structure during the fit (stored as full matrices).
    **kwargs
        The :class:`RegimeModel` parameters.

    Attributes
    ----------
    weights_ : np.ndarray
        Mixture weights, shape ``(K,)``.
    covars_ : np.ndarray
        Covariances in standardized units, shape ``(K, d, d)``.

    """

    kind = "gmm"
    _arrays = ("weights_", "means_", "covars_")

    def __init__(self, n_states: int = 3, *, covariance_type: str = "full", **kwargs: Any) -> None:
        if covariance_type not in _COVARIANCE_TYPES:
            raise ConfigError(
                f"GMMRegimeModel.covariance_type={covariance_type!r}: use one of {_COVARIANCE_TYPES}"
            )
        self.covariance_type = covariance_type
        super().__init__(n_states, **kwargs)

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters (JSON-serializable)."""
        return {**super().get_params(), "covariance_type": self.covariance_type}

    def _fit_states(self, standardized: np.ndarray) -> np.ndarray:
        gmm = GaussianMixture(
            n_components=self.n_states,
            covariance_type=self.covariance_type,
            n_init=self.n_init,
            random_state=self.seed,
        ).fit(standardized)
        covariances = np.asarray(gmm.covariances_, dtype=np.float64)
        if self.covariance_type == "diag":
            covariances = np.stack([np.diag(c) for c in covariances])
        self.weights_ = np.asarray(gmm.weights_, dtype=np.float64)
        self.means_ = np.asarray(gmm.means_, dtype=np.float64)
        self.covars_ = covariances
        return np.asarray(gmm.predict_proba(standardized))

    def _permute(self, order: np.ndarray) -> None:
        super()._permute(order)
        self.weights_ = self.weights_[order]
        self.covars_ = self.covars_[order]

    def _prepare(self) -> None:
        self._log_weights = np.log(self.weights_)
        self._factors, self._half_log_det = precision_cholesky(self.covars_)

    def _log_step(self, log_previous: np.ndarray | None, z: np.ndarray) -> np.ndarray:
        emission = gaussian_log_density(z, self.means_, self._factors, self._half_log_det)
        return log_normalize(self._log_weights + emission)


class KMeansRegimeModel(RegimeModel):
    r"""k-means clusters (``sklearn.cluster.KMeans``) with soft memberships.

    The step returns :math:`p_k \propto \exp(-\beta \lVert z_t - c_k \rVert^2)`
    (:func:`~nautilus_ai.learning.regime.soft_kmeans_probabilities`) with
    :math:`\beta = 1 / (2 s^2)` and :math:`s^2 = \text{inertia} / (n d)`, the mean squared
    within-cluster deviation per feature: the posterior of equal-weight isotropic Gaussians of that
    variance centred on the clusters. Its arg max is ``KMeans.predict``. No memory across rows
    beyond the hysteresis.

    Attributes
    ----------
    beta_ : float
        The inverse temperature :math:`\beta`.

    """

    kind = "kmeans"
    _arrays = ("means_", "beta_")

    def _fit_states(self, standardized: np.ndarray) -> np.ndarray:
        kmeans = KMeans(n_clusters=self.n_states, n_init=self.n_init, random_state=self.seed).fit(
            standardized
        )
        n, dim = standardized.shape
        spread = max(float(kmeans.inertia_) / (n * dim), 1e-12)
        self.means_ = np.asarray(kmeans.cluster_centers_, dtype=np.float64)
        self.beta_ = np.float64(1.0 / (2.0 * spread))
        return np.eye(self.n_states)[kmeans.labels_]

    def _log_step(self, log_previous: np.ndarray | None, z: np.ndarray) -> np.ndarray:
        return np.log(soft_kmeans_probabilities(z, self.means_, float(self.beta_)))


_MODEL_CLASSES: dict[str, type[RegimeModel]] = {
    cls.kind: cls for cls in (HMMRegimeModel, GMMRegimeModel, KMeansRegimeModel)
}


def load_regime_model(data: bytes) -> RegimeModel:
    """Rebuild any regime model from its serialized bytes (see :meth:`RegimeModel.from_bytes`)."""
    return RegimeModel.from_bytes(data)


def _covariance_description(window: np.ndarray) -> np.ndarray:
    r"""Return the log variances and correlations of a window's features.

    That is :math:`(\log \sigma_1^2, \dots, \log \sigma_d^2, \rho_{12}, \dots, \rho_{d-1,d})`.
    """
    dim = window.shape[1]
    covariance = np.cov(window.T).reshape(dim, dim) + 1e-12 * np.eye(dim)
    sd = np.sqrt(np.diag(covariance))
    correlation = covariance / np.outer(sd, sd)
    return np.r_[np.log(sd * sd), correlation[np.triu_indices(dim, k=1)]]


def _training_matrix(
    X: np.ndarray | pd.DataFrame,  # noqa: N803
    feature_names: Sequence[str] | None,
    n_states: int,
) -> tuple[np.ndarray, tuple[str, ...]]:
    if isinstance(X, pd.DataFrame):
        if feature_names is not None and list(feature_names) != [str(c) for c in X.columns]:
            raise ConfigError(
                f"feature_names {list(feature_names)} differ from the frame's columns {list(X.columns)}"
            )
        names = tuple(str(c) for c in X.columns)
    elif feature_names is None:
        raise ConfigError("fit() needs feature_names when X is an array (or pass a DataFrame)")
    else:
        names = tuple(str(n) for n in feature_names)
    matrix = np.asarray(X, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != len(names):
        raise DataError(
            f"training features of shape {matrix.shape} do not match the feature names {list(names)}"
        )
    if len(set(names)) != len(names):
        raise ConfigError(f"feature names {list(names)} are repeated")
    if matrix.shape[0] < 10 * n_states:
        raise DataError(
            f"{matrix.shape[0]} training rows are too few for {n_states} states: need {10 * n_states}"
        )
    finite = np.isfinite(matrix)
    if not finite.all():
        row, column = np.argwhere(~finite)[0]
        raise DataError(
            "training features must be finite (drop warm-up rows first)",
            row=int(row) + 1,
            field=names[int(column)],
        )
    return matrix, names
