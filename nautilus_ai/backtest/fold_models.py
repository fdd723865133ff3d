"""The models of one walk-forward fold: the regime model and the staged signal model.

Everything here sees only the fold's training rows when fitting. The regime probabilities of every
row come from the online forward filter (row ``t`` uses rows up to ``t`` of its instrument), so they
may be computed over the whole history without looking ahead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from nautilus_ai.config import ExperimentConfig
from nautilus_ai.errors import DataError
from nautilus_ai.learning.regime_models import (
    GMMRegimeModel,
    HMMRegimeModel,
    KMeansRegimeModel,
    RegimeModel,
)
from nautilus_ai.learning.staged import StagedModel
from nautilus_ai.learning.train_staged import StagedParams

REGIME_PREFIX = "regime:"
"""Prefix of the regime probability columns added to the training frame."""

_REGIME_CLASSES: dict[str, type[RegimeModel]] = {
    "hmm": HMMRegimeModel,
    "gmm": GMMRegimeModel,
    "kmeans": KMeansRegimeModel,
}


def staged_params(cfg: ExperimentConfig) -> StagedParams:
    """Return the :class:`StagedParams` of the experiment's ``[model]`` section."""
    m = cfg.model
    stage2 = None
    if m.stage2.enabled:
        stage2 = m.stage2.model_dump(exclude={"enabled"})
    stage3 = None
    if m.stage3.enabled:
        stage3 = m.stage3.model_dump(exclude={"enabled"})
    return StagedParams(
        kind=m.kind,
        params=dict(m.params),
        long_threshold=m.long_threshold,
        short_threshold=m.short_threshold,
        filter_margin=m.filter_margin,
        top_k=m.top_k,
        stage2=stage2,
        stage3=stage3,
        seed=cfg.seed,
    )


def regime_training_matrix(train: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """Return the regime model's training rows: each instrument's rows in time order, one block each.

    Blocks (rather than rows interleaved by time) keep the HMM's transitions within an instrument.
    """
    missing = [f for f in features if f not in train.columns]
    if missing:
        raise DataError(
            f"[regime] features {missing} are not FeatureVector columns: choose among "
            f"{[c for c in train.columns if c not in ('instrument_id', 'ts_event', 'ts_init')]}",
            field="regime.features",
        )
    blocks = [rows[list(features)] for _, rows in train.groupby("instrument_id", sort=True)]
    matrix = pd.concat(blocks)
    return matrix[np.isfinite(matrix.to_numpy(dtype=np.float64)).all(axis=1)]


def fit_regime(
    cfg: ExperimentConfig, train: pd.DataFrame, spec_hash: str, reference: RegimeModel | None
) -> RegimeModel:
    """Fit the configured regime model on a fold's training rows (named like ``reference``'s states)."""
    r = cfg.regime
    model = _REGIME_CLASSES[r.kind](
        r.n_states, return_feature=r.features[0], seed=cfg.seed, min_dwell=r.min_dwell
    )
    matrix = regime_training_matrix(train, r.features)
    if reference is not None and reference.regime_names_ and len(reference.regime_names_) == r.n_states:
        return model.fit(matrix, spec_hash=spec_hash, reference=reference)
    return model.fit(matrix, spec_hash=spec_hash)


def regime_probabilities(model: RegimeModel, frame: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """Return the online regime probabilities of every row of ``frame``, per instrument.

    Columns are ``regime:<name>`` in the model's order; rows with a non-finite input (warm-up) are
    skipped by the filter (as the RegimeActor skips them) and get NaN.
    """
    columns = [f"{REGIME_PREFIX}{name}" for name in model.regime_names_]
    out = pd.DataFrame(np.nan, index=frame.index, columns=columns)
    positions = np.arange(len(frame))
    for _, rows in frame.assign(_pos=positions).groupby("instrument_id", sort=False):
        values = rows[list(features)].to_numpy(dtype=np.float64)
        ok = np.isfinite(values).all(axis=1)
        if ok.any():
            out.iloc[rows["_pos"].to_numpy()[ok], :] = model.filter(values[ok])
    return out


def fold_scores(
    model: StagedModel, frame: pd.DataFrame, names: Sequence[str], regime_columns: Sequence[str]
) -> pd.DataFrame:
    """Return the staged model's batch scores of every row of ``frame`` (windows from its history)."""
    frame = frame.sort_index(kind="stable")
    regime = frame[list(regime_columns)].to_numpy(dtype=np.float64) if regime_columns else None
    scores = model.predict_frame(
        frame[list(names)].to_numpy(dtype=np.float64), regime, frame["instrument_id"].to_numpy()
    )
    scores.index = frame.index
    return scores


def classification_metrics(scores: pd.DataFrame, fwd_return: pd.Series) -> dict[str, Any]:
    """Return accuracy, AUC, Brier score and a reliability table of scored rows, stage by stage."""
    from sklearn.metrics import accuracy_score, matthews_corrcoef, roc_auc_score

    from nautilus_ai.learning.calibration import brier_score, reliability_table

    if scores.empty:
        return {"n": 0}
    y = fwd_return.gt(0).astype(int).to_numpy()
    out: dict[str, Any] = {"n": len(y)}
    for column in ("p1", "p2", "probability"):
        p = scores[column].to_numpy(dtype=np.float64)
        ok = np.isfinite(p)
        if not ok.any():
            continue
        two_classes = len(np.unique(y[ok])) == 2
        out[column] = {
            "accuracy": float(accuracy_score(y[ok], p[ok] >= 0.5)),
            "mcc": float(matthews_corrcoef(y[ok], p[ok] >= 0.5)) if two_classes else None,
            "auc": float(roc_auc_score(y[ok], p[ok])) if two_classes else None,
            "brier": float(brier_score(y[ok], p[ok])),
        }
    final = scores["probability"].to_numpy(dtype=np.float64)
    table = reliability_table(y, final, n_bins=5)
    out["reliability"] = [
        {
            "mean_predicted": _finite_or_none(mp),
            "observed": _finite_or_none(obs),
            "count": int(count),
        }
        for mp, obs, count in zip(table.mean_predicted, table.observed_frequency, table.count, strict=True)
    ]
    traded = scores["direction"] != 0
    out["signal_rate"] = float(traded.mean())
    if traded.any():
        hit = np.sign(fwd_return[traded.to_numpy()]) == scores.loc[traded, "direction"]
        out["hit_rate"] = float(hit.mean())
    return out


def shap_importance(
    model: StagedModel, rows: pd.DataFrame, names: Sequence[str], top: int = 10
) -> dict[str, float]:
    """Return the stage-1 mean |SHAP| of the ``top`` features over ``rows`` (largest first)."""
    from nautilus_ai.learning.explain_ranking import global_importance
    from nautilus_ai.learning.explain_tree import tree_attributions

    if rows.empty:
        return {}
    sample = rows.iloc[:: max(1, len(rows) // 2000)]
    values = tree_attributions(
        model.stage1, sample[list(names)].to_numpy(dtype=np.float64), background=model.background
    )
    importance = global_importance(values, list(names))
    return {str(k): float(v) for k, v in importance.iloc[:top].items()}


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
