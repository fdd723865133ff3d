"""Stage 1: the binary estimator interface, the tree models behind it, a factory and a loader.

Every stage-1 model is a :class:`BinaryEstimator`: it is fitted on feature rows and {0, 1} labels
together with the feature fingerprint (names and ``FeatureSpec`` hash), returns P(y = 1), refuses
live features that differ from its training features, and serializes itself without pickle to
bytes whose first line is a format header unique to its class:

* ``lightgbm``: :class:`~nautilus_ai.learning.model.DirectionClassifier`,
  header ``nautilus-ai/direction-classifier/1``;
* ``xgboost``: :class:`XGBoostDirectionClassifier`, header ``nautilus-ai/xgboost-classifier/1``;
* ``random_forest``: :class:`~nautilus_ai.learning.forest.RandomForestDirectionClassifier`,
  header ``nautilus-ai/random-forest-classifier/1``.

:func:`make_stage1` builds one from a kind, parameters and a seed (configuration errors are
:class:`~nautilus_ai.errors.ConfigError`); :func:`load_estimator` rebuilds any of them from bytes
by reading the header. All of them train on one thread and are deterministic: the same data,
parameters and seed give byte-identical ``to_bytes()`` output and identical predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol, Self, get_args, runtime_checkable

import lightgbm as lgb
import numpy as np
import xgboost as xgb

from nautilus_ai.errors import ConfigError, ModelError
from nautilus_ai.learning.forest import (
    FOREST_ALLOWED_PARAMS,
    FOREST_FORMAT_HEADER,
    FOREST_RESERVED_PARAMS,
    RandomForestDirectionClassifier,
)
from nautilus_ai.learning.model import (
    FORMAT_HEADER as LIGHTGBM_FORMAT_HEADER,
)
from nautilus_ai.learning.model import DirectionClassifier
from nautilus_ai.learning.model_checks import (
    FingerprintedEstimator,
    as_feature_matrix,
    merge_user_params,
    validate_training_data,
)
from nautilus_ai.serialization import pack, unpack

Stage1Kind = Literal["lightgbm", "xgboost", "random_forest"]
"""The stage-1 model families :func:`make_stage1` can build."""

STAGE1_KINDS: tuple[str, ...] = get_args(Stage1Kind)


@runtime_checkable
class BinaryEstimator(Protocol):
    """The one interface of a binary classifier that the pipeline trains, serves and registers.

    Attributes
    ----------
    feature_names_ : tuple[str, ...]
        Feature names, in column order, the model was trained on.
    spec_hash_ : str
        Hash of the ``FeatureSpec`` that produced the training features.
    n_train_ : int
        Number of training rows.

    """

    feature_names_: tuple[str, ...]
    spec_hash_: str
    n_train_: int

    def fit(
        self,
        X: np.ndarray,  # noqa: N803 (scikit-learn convention)
        y: np.ndarray,
        feature_names: Sequence[str],
        spec_hash: str,
        *,
        sample_weight: np.ndarray | None = None,
    ) -> Self:
        """Train on rows ``X`` (NaN = missing) and labels ``y`` in {0, 1}; return ``self``."""
        ...

    def predict_proba(self, X: np.ndarray) -> np.ndarray:  # noqa: N803 (scikit-learn convention)
        """Return P(y = 1) of every row as a float64 array of shape (n_rows,)."""
        ...

    def predict_proba_one(self, x: np.ndarray) -> float:
        """Return P(y = 1) of one feature vector, equal to ``predict_proba(x[None, :])[0]``."""
        ...

    def check_features(self, names: Sequence[str], spec_hash: str) -> None:
        """Raise ``ModelError`` naming both sides if live features differ from the training ones."""
        ...

    def to_bytes(self) -> bytes:
        """Serialize deterministically; the bytes start with the class's format header line."""
        ...

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Rebuild a fitted model from :meth:`to_bytes` output."""
        ...


# -- XGBoost --------------------------------------------------------------------------------------

XGBOOST_FORMAT_HEADER = b"nautilus-ai/xgboost-classifier/1\n"
"""First line of every serialized XGBoost model; bump the number when the layout changes."""

DEFAULT_XGBOOST_PARAMS: dict[str, Any] = {
    "n_estimators": 200,
    "learning_rate": 0.03,
    "max_depth": 4,
    "min_child_weight": 5.0,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
}
"""Defaults for small tabular data; user ``params`` override them."""

XGBOOST_ALLOWED_PARAMS = frozenset(
    {
        "n_estimators",
        "learning_rate",
        "max_depth",
        "max_leaves",
        "grow_policy",
        "min_child_weight",
        "gamma",
        "subsample",
        "colsample_bytree",
        "colsample_bylevel",
        "colsample_bynode",
        "reg_alpha",
        "reg_lambda",
        "max_bin",
        "max_delta_step",
        "scale_pos_weight",
    }
)
"""Parameters users may set (XGBoost's scikit-learn names; ``n_estimators`` = boosting rounds)."""

XGBOOST_RESERVED_PARAMS = frozenset(
    {"seed", "random_state", "objective", "tree_method", "nthread", "n_jobs", "device"}
)
"""Parameters the class sets itself: seed, binary logistic objective, ``hist``, one CPU thread."""


class XGBoostDirectionClassifier(FingerprintedEstimator):
    """XGBoost (``hist``) classifier of the direction of the forward return.

    Parameters
    ----------
    params : dict, optional
        Parameters from :data:`XGBOOST_ALLOWED_PARAMS` merged over :data:`DEFAULT_XGBOOST_PARAMS`.
    seed : int, default 0
        Seed of the row and column subsampling.

    Attributes
    ----------
    booster_ : xgboost.Booster
        The trained booster.
    feature_names_ : tuple[str, ...]
        Feature names, in column order, the model was trained on.
    spec_hash_ : str
        Hash of the ``FeatureSpec`` that produced the training features.
    n_train_ : int
        Number of training rows.
    params_ : dict
        The effective parameters (user names; ``n_estimators`` included).

    """

    def effective_params(self) -> dict[str, Any]:
        """Return the parameters :meth:`fit` uses (defaults, then user params), sorted by name.

        Raises
        ------
        ModelError
            If ``params`` sets a reserved or unknown key or a value that is not JSON.

        """
        merged = merge_user_params(
            "XGBoostDirectionClassifier",
            self.params,
            DEFAULT_XGBOOST_PARAMS,
            XGBOOST_ALLOWED_PARAMS,
            XGBOOST_RESERVED_PARAMS,
            "pass seed=... to the constructor; the objective, tree method and thread count are fixed",
        )
        rounds = merged["n_estimators"]
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
            raise ModelError(f"XGBoostDirectionClassifier n_estimators must be an int >= 1, got {rounds!r}")
        return dict(sorted(merged.items()))

    def fit(
        self,
        X: np.ndarray,  # noqa: N803 (scikit-learn convention)
        y: np.ndarray,
        feature_names: Sequence[str],
        spec_hash: str,
        *,
        sample_weight: np.ndarray | None = None,
    ) -> XGBoostDirectionClassifier:
        """Train the booster on feature rows ``X`` and direction labels ``y``.

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
        XGBoostDirectionClassifier
            ``self``, fitted.

        Raises
        ------
        ModelError
            If the inputs or ``params`` are invalid.

        """
        matrix, labels, names, weights = validate_training_data(X, y, feature_names, sample_weight)
        params = self.effective_params()
        native = {key: value for key, value in params.items() if key != "n_estimators"}
        native.update(
            objective="binary:logistic",
            tree_method="hist",
            nthread=1,
            seed=int(self.seed),
            verbosity=0,
        )
        train = xgb.DMatrix(matrix, label=labels, weight=weights, missing=np.nan, nthread=1)
        self.booster_ = xgb.train(native, train, num_boost_round=int(params["n_estimators"]))
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
            Float64 probabilities of shape (n_rows,).

        Raises
        ------
        ModelError
            If the model is not fitted or ``X`` has the wrong number of columns.

        """
        booster = self._fitted_booster()
        matrix = as_feature_matrix(X)
        self._check_width(matrix.shape[1])
        if matrix.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        return np.asarray(booster.inplace_predict(matrix, missing=np.nan), dtype=np.float64).reshape(-1)

    def to_bytes(self) -> bytes:
        """Serialize: the header line, one line of JSON metadata, the booster's JSON model.

        Returns
        -------
        bytes
            Deterministic bytes: the same fitted model always gives the same output.

        """
        booster = self._fitted_booster()
        meta = {**self._fingerprint_meta(), "xgboost_version": xgb.__version__}
        return pack(XGBOOST_FORMAT_HEADER, meta, bytes(booster.save_raw("json")))

    @classmethod
    def from_bytes(cls, data: bytes) -> XGBoostDirectionClassifier:
        """Rebuild a fitted model from :meth:`to_bytes` output.

        Parameters
        ----------
        data : bytes
            Serialized model.

        Returns
        -------
        XGBoostDirectionClassifier
            The fitted model.

        Raises
        ------
        ModelError
            If ``data`` is not a serialized XGBoost model or cannot be parsed.

        """
        meta, model_json = unpack(data, XGBOOST_FORMAT_HEADER, "XGBoostDirectionClassifier")
        try:
            booster = xgb.Booster()
            booster.load_model(bytearray(model_json))
            booster.set_param({"nthread": 1})
            model = cls(params=dict(meta["params"]), seed=int(meta["seed"]))
            model._restore_fingerprint(meta)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, xgb.core.XGBoostError) as exc:
            raise ModelError(f"serialized XGBoostDirectionClassifier is corrupted: {exc}") from exc
        model.booster_ = booster
        return model

    def _fitted_booster(self) -> xgb.Booster:
        booster = getattr(self, "booster_", None)
        if booster is None:
            raise ModelError(
                "XGBoostDirectionClassifier is not fitted: call fit() or load it from the registry"
            )
        return booster

    _fitted = _fitted_booster


# -- factory and loader ---------------------------------------------------------------------------

ESTIMATOR_FORMATS: dict[bytes, type[BinaryEstimator]] = {
    LIGHTGBM_FORMAT_HEADER: DirectionClassifier,
    XGBOOST_FORMAT_HEADER: XGBoostDirectionClassifier,
    FOREST_FORMAT_HEADER: RandomForestDirectionClassifier,
}
"""Format header line → class whose ``from_bytes`` reads it (for :func:`load_estimator` and the registry)."""

LIGHTGBM_RESERVED_PARAMS = frozenset(
    {"random_state", "seed", "objective", "num_threads", "n_jobs", "deterministic"}
)
"""LightGBM parameters :func:`make_stage1` refuses: the seed, objective and threads are fixed."""

LIGHTGBM_ALLOWED_PARAMS = (
    frozenset(lgb.LGBMClassifier().get_params()) | {"verbose", "max_bin", "extra_trees", "path_smooth"}
) - LIGHTGBM_RESERVED_PARAMS
"""LightGBM (scikit-learn API) parameters :func:`make_stage1` accepts."""

_ALLOWED: dict[str, frozenset[str]] = {
    "lightgbm": LIGHTGBM_ALLOWED_PARAMS,
    "xgboost": XGBOOST_ALLOWED_PARAMS,
    "random_forest": FOREST_ALLOWED_PARAMS,
}
_RESERVED: dict[str, frozenset[str]] = {
    "lightgbm": LIGHTGBM_RESERVED_PARAMS,
    "xgboost": XGBOOST_RESERVED_PARAMS,
    "random_forest": FOREST_RESERVED_PARAMS,
}


def make_stage1(kind: Stage1Kind, params: dict[str, Any] | None, seed: int) -> BinaryEstimator:
    """Build an unfitted stage-1 estimator.

    Parameters
    ----------
    kind : {"lightgbm", "xgboost", "random_forest"}
        The model family.
    params : dict, optional
        Family parameters merged over the family's defaults; ``None`` uses the defaults.
    seed : int
        Seed of every random draw of the model.

    Returns
    -------
    BinaryEstimator
        An unfitted :class:`~nautilus_ai.learning.model.DirectionClassifier`,
        :class:`XGBoostDirectionClassifier` or
        :class:`~nautilus_ai.learning.forest.RandomForestDirectionClassifier`.

    Raises
    ------
    ConfigError
        If ``kind`` is unknown, ``params`` names a reserved or unknown parameter, or ``seed`` is
        not an int.

    """
    if kind not in STAGE1_KINDS:
        raise ConfigError(f"unknown stage-1 model kind {kind!r}; expected one of {list(STAGE1_KINDS)}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ConfigError(f"stage-1 seed must be an int, got {seed!r}")
    user = dict(params or {})
    reserved = sorted(_RESERVED[kind].intersection(user))
    if reserved:
        raise ConfigError(
            f"{kind} params may not set {reserved}: the seed comes from the seed argument and "
            "training always runs on one thread with a binary objective"
        )
    unknown = sorted(set(user) - _ALLOWED[kind])
    if unknown:
        raise ConfigError(f"unknown {kind} params {unknown}; expected some of {sorted(_ALLOWED[kind])}")
    estimator: BinaryEstimator
    if kind == "lightgbm":
        estimator = DirectionClassifier(params=user, seed=int(seed))
    elif kind == "xgboost":
        estimator = XGBoostDirectionClassifier(params=user, seed=int(seed))
    else:
        estimator = RandomForestDirectionClassifier(params=user, seed=int(seed))
    try:
        estimator.effective_params()
    except ModelError as exc:
        raise ConfigError(f"invalid {kind} params: {exc}") from exc
    return estimator


def load_estimator(data: bytes) -> BinaryEstimator:
    """Rebuild a fitted stage-1 estimator from its serialized bytes, choosing the class by header.

    Parameters
    ----------
    data : bytes
        Output of a :class:`BinaryEstimator`'s ``to_bytes()``.

    Returns
    -------
    BinaryEstimator
        The fitted model.

    Raises
    ------
    ModelError
        If the first line is not a known format header, or the body is corrupted.

    """
    for header, cls in ESTIMATOR_FORMATS.items():
        if data.startswith(header):
            return cls.from_bytes(data)
    first_line = bytes(data[:80]).split(b"\n", 1)[0]
    known = [header.decode("ascii").strip() for header in ESTIMATOR_FORMATS]
    raise ModelError(f"unknown model format header {first_line!r}; expected one of {known}")
