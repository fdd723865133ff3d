"""Training of the staged signal model on one training window.

The window's labelled rows are split in time: stages 1 and 2 learn on the first part (rows whose
label ends before the split: purged), the stage-3 meta-model and its calibration learn on the
stage-1/2 predictions for the last ``validation_fraction`` of the window, which those stages never
saw. Without stage 3, stages 1 and 2 learn on the whole window. The stage-2 model early-stops on
the last part of its own training rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nautilus_ai.errors import DataError
from nautilus_ai.learning.staged import StagedModel

SequenceAugmentation = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``(windows, labels) -> (extra windows, extra labels)``: stage-2 training examples to add."""


@dataclass(frozen=True)
class StagedParams:
    """What :func:`fit_staged` needs to know (built from the experiment config's ``[model]``)."""

    kind: str = "lightgbm"
    params: dict[str, Any] = field(default_factory=dict)
    long_threshold: float = 0.55
    short_threshold: float = 0.45
    filter_margin: float = 0.0
    top_k: int = 3
    stage2: dict[str, Any] | None = None
    stage3: dict[str, Any] | None = None
    seed: int = 0


def split_for_meta(
    times: pd.DatetimeIndex, label_end: pd.Series, validation_fraction: float
) -> tuple[np.ndarray, np.ndarray, pd.Timestamp]:
    """Return boolean masks (base rows, meta rows) and the split time of a training window.

    Meta rows are those at or after the split time (the ``1 - validation_fraction`` quantile of the
    distinct times); base rows are before it with a label that ends before it (purged).
    """
    distinct = np.sort(times.unique())
    split = pd.Timestamp(distinct[int(len(distinct) * (1.0 - validation_fraction))])
    meta = np.asarray(times >= split)
    base = np.asarray((times < split) & (pd.DatetimeIndex(label_end) < split))
    return base, meta, split


def fit_staged(
    frame: pd.DataFrame,
    feature_names: Sequence[str],
    spec_hash: str,
    params: StagedParams,
    *,
    regime_columns: Sequence[str] = (),
    regime_names: Sequence[str] = (),
    history: pd.DataFrame | None = None,
    sequence_augmentation: SequenceAugmentation | None = None,
) -> StagedModel:
    """Fit the staged model on the labelled training rows of one window.

    Parameters
    ----------
    frame : pd.DataFrame
        Training rows indexed by time, with the feature columns, ``instrument_id``, ``fwd_return``
        and ``label_end`` (and the regime probability columns when regimes are used).
    feature_names : Sequence[str]
        The FeatureVector columns.
    spec_hash : str
        The FeatureSpec fingerprint.
    params : StagedParams
        Model kinds, hyperparameters, thresholds and seed.
    regime_columns : Sequence[str]
        Columns of ``frame`` holding the regime probabilities, in ``regime_names`` order.
    regime_names : Sequence[str]
        The regime names.
    history : pd.DataFrame, optional
        All rows (training rows included, unlabelled allowed) in time order, from which stage-2
        windows are built so that a row's window may reach back before the training window;
        defaults to ``frame``.
    sequence_augmentation : callable, optional
        ``(windows, labels) -> (extra_windows, extra_labels)``, called on the stage-2 training
        windows (after the last 20 % in time order are held out for early stopping, so the
        validation windows stay clean); the extra windows are trained on with the others
        (adversarial examples, :mod:`nautilus_ai.learning.adversarial`).

    Returns
    -------
    StagedModel
        The fitted model.

    Raises
    ------
    DataError
        If a stage has too few rows or a single class.

    """
    from nautilus_ai.learning.estimators import make_stage1

    names = list(feature_names)
    regime_columns = list(regime_columns)
    rows = frame.sort_index(kind="stable")
    y = rows["fwd_return"].gt(0).astype(int).to_numpy()
    use_meta = params.stage3 is not None
    if use_meta:
        assert params.stage3 is not None
        base, meta_rows, _ = split_for_meta(
            pd.DatetimeIndex(rows.index),
            rows["label_end"],
            float(params.stage3.get("validation_fraction", 0.25)),
        )
    else:
        base, meta_rows = np.ones(len(rows), dtype=bool), np.zeros(len(rows), dtype=bool)
    _check_rows(y[base], "stages 1 and 2")
    X = rows[names].to_numpy(dtype=np.float64)  # noqa: N806 (scikit-learn convention)
    kind: Any = params.kind  # checked by make_stage1
    stage1 = make_stage1(kind, dict(params.params), params.seed).fit(X[base], y[base], names, spec_hash)

    stage2 = None
    window = 1
    sequences = valid = None
    if params.stage2 is not None:
        from nautilus_ai.learning.sequence import SequenceClassifier

        s2 = dict(params.stage2)
        window = int(s2.pop("window", 10))
        sequences, valid = _row_sequences(rows, history, names, regime_columns, window)
        seq_names = [*names, *regime_columns]
        fit_rows = base & valid
        _check_rows(y[fit_rows], "stage 2")
        classifier = SequenceClassifier(window=window, seed=params.seed, **s2)
        if sequence_augmentation is None:
            stage2 = classifier.fit(sequences[fit_rows], y[fit_rows], seq_names, spec_hash)
        else:
            stage2 = _fit_augmented(
                classifier, sequences[fit_rows], y[fit_rows], seq_names, spec_hash, sequence_augmentation
            )

    meta = None
    if use_meta:
        from nautilus_ai.learning.meta import MetaConfig, MetaModel

        assert params.stage3 is not None
        _check_rows(y[meta_rows], "stage 3")
        p1 = stage1.predict_proba(X[meta_rows])
        p2 = np.full(int(meta_rows.sum()), np.nan)
        if stage2 is not None and sequences is not None and valid is not None:
            ok = valid[meta_rows]
            if ok.any():
                p2[ok] = stage2.predict_proba(sequences[meta_rows][ok])
        reg = rows.loc[meta_rows, regime_columns].to_numpy(dtype=np.float64) if regime_columns else None
        meta_config = MetaConfig(
            regime_names=tuple(regime_names),
            use_p2=stage2 is not None,
            calibration=str(params.stage3.get("calibration", "isotonic")),  # type: ignore[arg-type]
            long_threshold=params.long_threshold,
            short_threshold=params.short_threshold,
            stage1_margin=params.filter_margin,
        )
        meta = MetaModel(meta_config).fit(
            p1, y[meta_rows], p2=p2 if stage2 is not None else None, regime_probs=reg
        )

    return StagedModel(
        stage1,
        stage2,
        meta,
        regime_names=regime_names,
        window=window,
        filter_margin=params.filter_margin,
        long_threshold=params.long_threshold,
        short_threshold=params.short_threshold,
        top_k=params.top_k,
        background=X[base][:: max(1, int(base.sum()) // 200)][:200]
        if params.kind == "random_forest"
        else None,
    )


def _fit_augmented(
    classifier: Any,
    windows: np.ndarray,
    labels: np.ndarray,
    names: list[str],
    spec_hash: str,
    augment: SequenceAugmentation,
) -> Any:
    """Fit stage 2 on ``windows`` plus ``augment``'s windows of their first 80 %, validating on the rest."""
    from nautilus_ai.learning.sequence import VALIDATION_FRACTION

    cut = len(windows) - max(1, int(np.floor(VALIDATION_FRACTION * len(windows))))
    extra, extra_labels = augment(windows[:cut], labels[:cut])
    return classifier.fit(
        np.concatenate([windows[:cut], extra]),
        np.concatenate([labels[:cut], extra_labels]),
        names,
        spec_hash,
        X_val=windows[cut:],
        y_val=labels[cut:],
    )


def _row_sequences(
    rows: pd.DataFrame,
    history: pd.DataFrame | None,
    names: list[str],
    regime_columns: list[str],
    window: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the stage-2 window ending at each row of ``rows``, built from ``history``."""
    from nautilus_ai.learning.sequence import make_sequences

    source = (history if history is not None else rows).sort_index(kind="stable")
    columns = [*names, *regime_columns]
    out = np.zeros((len(rows), window, len(columns)))
    valid = np.zeros(len(rows), dtype=bool)
    row_iid = rows["instrument_id"].to_numpy()
    for iid in pd.unique(row_iid):
        hist = source[source["instrument_id"] == iid]
        seq, ok = make_sequences(hist[columns].to_numpy(dtype=np.float64), window, dtype=np.float64)
        position = pd.Series(np.arange(len(hist)), index=hist.index)
        wanted = row_iid == iid
        where = position.reindex(rows.index[wanted])
        if where.isna().any():
            missing = rows.index[wanted][where.isna().to_numpy()][0]
            raise DataError(f"row {missing} of {iid} is not in the stage-2 history", field="history")
        idx = where.to_numpy(dtype=np.int64)
        out[wanted] = seq[idx]
        valid[wanted] = ok[idx]
    return out, valid


def _check_rows(y: np.ndarray, what: str) -> None:
    if len(y) < 30 or len(np.unique(y)) < 2:
        raise DataError(
            f"{what}: only {len(y)} labelled rows ({int(y.sum()) if len(y) else 0} up) to learn from: "
            "lengthen the training window or lower [model.stage3] validation_fraction"
        )
