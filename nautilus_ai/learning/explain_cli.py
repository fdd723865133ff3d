"""The data behind ``nautilus-ai learn explain`` and ``nautilus-ai learn registry show``.

:func:`explain_at` explains one decision of a registered model: it picks the instrument's
FeatureVector at or just before a time (point in time: never a later vector) from a
``features.parquet`` file, rebuilds the stage-2 window from the instrument's previous vectors and,
when the model uses regimes, the regime probabilities from the run's ``regimes.parquet``, scores the
row with the staged model and attributes stage 1 with exact TreeSHAP (and LIME on request).

Everything here returns plain data (:class:`DecisionReport`,
:class:`~nautilus_ai.learning.registry.ModelRecord`); the CLI only formats it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nautilus_ai.errors import ConfigError, DataError, ModelError
from nautilus_ai.learning.registry import ModelRecord, ModelRegistry
from nautilus_ai.learning.staged import StagedModel

__all__ = [
    "DecisionReport",
    "FeatureAttribution",
    "explain_at",
    "features_path_of",
    "open_registry",
    "parse_timestamp",
    "registry_record",
    "select_vector",
]

META_COLUMNS: tuple[str, ...] = ("ts_event", "ts_init", "instrument_id", "spec_hash")
"""Columns of a features file that are not features."""

LIME_BACKGROUND_ROWS = 2000
"""At most this many of the latest complete rows before the decision form LIME's background."""


@dataclass(frozen=True)
class FeatureAttribution:
    """One feature's part in a stage-1 decision.

    Parameters
    ----------
    name : str
        The feature name.
    attribution : float
        Its SHAP value (log-odds for boosted trees) or LIME weight.
    value : float
        The feature's value in the explained row (NaN when missing).

    """

    name: str
    attribution: float
    value: float


@dataclass(frozen=True)
class DecisionReport:
    """The explanation of one decision of a registered model.

    Parameters
    ----------
    model_version : str
        The registered version.
    stages : tuple[str, ...]
        The model's fitted stages.
    instrument_id : str
        The instrument.
    requested_at : pd.Timestamp
        The time asked for.
    ts_event, ts_init : pd.Timestamp
        Times of the explained FeatureVector (the latest one with ``ts_init <= requested_at``).
    features_path : Path
        The file the vector came from.
    p1 : float
        Stage-1 probability.
    p2 : float or None
        Stage-2 probability; None without stage 2, before a full window or without the window's
        regime probabilities.
    probability : float or None
        The final probability (None when it cannot be computed, see ``notes``).
    direction : int or None
        +1, -1 or 0 (None with ``probability``).
    confidence : float or None
        In [0, 1] (None with ``probability``).
    passed_filter : bool
        Whether stage 1 let the event through.
    regime : str or None
        The most probable regime of the bar (models with regimes only).
    regime_probabilities : dict[str, float] or None
        The bar's regime probabilities, in the model's regime order.
    window_rows : int
        Stage-2 window rows available (at most the model's window).
    base_value : float
        Stage-1 expected raw output (the SHAP base value).
    margin : float
        Stage-1 raw output of the row.
    top : tuple[FeatureAttribution, ...]
        The top-k stage-1 SHAP attributions by magnitude, with the feature values.
    lime : tuple[FeatureAttribution, ...] or None
        LIME weights of stage 1, when asked for.
    notes : tuple[str, ...]
        Why a stage could not be computed.

    """

    model_version: str
    stages: tuple[str, ...]
    instrument_id: str
    requested_at: pd.Timestamp
    ts_event: pd.Timestamp
    ts_init: pd.Timestamp
    features_path: Path
    p1: float
    p2: float | None
    probability: float | None
    direction: int | None
    confidence: float | None
    passed_filter: bool
    regime: str | None
    regime_probabilities: dict[str, float] | None
    window_rows: int
    base_value: float
    margin: float
    top: tuple[FeatureAttribution, ...]
    lime: tuple[FeatureAttribution, ...] | None
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dict (times as ISO-8601, NaN as None)."""

        def number(value: float | None) -> float | None:
            return None if value is None or math.isnan(value) else float(value)

        def items(values: Sequence[FeatureAttribution]) -> list[dict[str, Any]]:
            return [
                {"feature": a.name, "attribution": a.attribution, "value": number(a.value)} for a in values
            ]

        return {
            "model_version": self.model_version,
            "stages": list(self.stages),
            "instrument_id": self.instrument_id,
            "requested_at": self.requested_at.isoformat(),
            "ts_event": self.ts_event.isoformat(),
            "ts_init": self.ts_init.isoformat(),
            "features_path": str(self.features_path),
            "p1": self.p1,
            "p2": number(self.p2),
            "probability": number(self.probability),
            "direction": self.direction,
            "confidence": number(self.confidence),
            "passed_filter": self.passed_filter,
            "regime": self.regime,
            "regime_probabilities": self.regime_probabilities,
            "window_rows": self.window_rows,
            "base_value": self.base_value,
            "margin": self.margin,
            "top_attributions": items(self.top),
            "lime": None if self.lime is None else items(self.lime),
            "notes": list(self.notes),
        }


# ----------------------------------------------------------------------------------------------- inputs


def parse_timestamp(text: str) -> pd.Timestamp:
    """Parse a command-line time (ISO-8601; naive times are UTC) to a UTC timestamp.

    Raises
    ------
    ConfigError
        If the text is not a time.

    """
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"--at {text!r} is not a time: use ISO-8601, e.g. 2016-03-01 or 2016-03-01T20:00Z"
        ) from exc
    if stamp is pd.NaT:
        raise ConfigError(f"--at {text!r} is not a time: use ISO-8601, e.g. 2016-03-01")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def open_registry(root: Path) -> ModelRegistry:
    """Open an existing registry (never creating one where a path was mistyped).

    Raises
    ------
    ConfigError
        If ``root`` holds no registry index.

    """
    if not (Path(root) / "index.sqlite").is_file():
        raise ConfigError(f"no model registry at {root} (no index.sqlite): pass --registry DIR or --run DIR")
    return ModelRegistry(root)


def registry_record(root: Path, version: str) -> ModelRecord:
    """Return the record of ``version`` in the registry at ``root``.

    Raises
    ------
    ConfigError
        If there is no registry at ``root``.
    ModelError
        If the version is unknown (the message lists the latest known versions).

    """
    return open_registry(root).get(version)


def registry_of(registry: Path | None, run: Path | None) -> Path:
    """Return the registry folder: ``registry``, else the walk-forward's ``<out>/registry`` of ``run``."""
    if registry is not None:
        return registry
    if run is not None:
        for candidate in (run / "registry", run.parent / "registry"):
            if (candidate / "index.sqlite").is_file():
                return candidate
        raise ConfigError(f"no registry found beside the run {run}: pass --registry DIR")
    return Path("runs/registry")


def features_path_of(features: Path | None, run: Path | None) -> Path:
    """Return the features file: ``features``, else ``features.parquet`` of the run folder.

    Raises
    ------
    ConfigError
        If neither is given or the file does not exist.

    """
    if features is None:
        if run is None:
            raise ConfigError("no features: pass --features FILE or --run DIR (a walk-forward run folder)")
        features = run / "features.parquet"
    if not features.is_file():
        raise ConfigError(f"features file {features} does not exist")
    return features


def read_features(path: Path) -> pd.DataFrame:
    """Read a FeatureVector file (``ts_event, ts_init, instrument_id, spec_hash, <features>``).

    Raises
    ------
    DataError
        If the file is unreadable or lacks the FeatureVector columns.

    """
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read FeatureVectors: {exc}", file=str(path)) from exc
    missing = [c for c in META_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"not a FeatureVector file: columns {missing} are missing", file=str(path))
    return frame


def select_vector(frame: pd.DataFrame, instrument_id: str, at: pd.Timestamp, path: Path) -> pd.DataFrame:
    """Return the instrument's rows up to and including the latest one with ``ts_init <= at``.

    The rows are in ``ts_init`` order; the last one is the vector that was known at ``at``.

    Raises
    ------
    DataError
        If the instrument has no row in the file, or its first vector is later than ``at``.

    """
    rows = frame[frame["instrument_id"] == instrument_id]
    if rows.empty:
        known = sorted(frame["instrument_id"].unique().tolist())
        raise DataError(
            f"instrument {instrument_id} is not in the file (instruments: {known})", file=str(path)
        )
    rows = rows.sort_values("ts_init", kind="stable")
    cutoff = int(at.value)
    known_rows = rows[rows["ts_init"].to_numpy(dtype=np.int64) <= cutoff]
    if known_rows.empty:
        first = _utc(int(rows["ts_init"].iloc[0]))
        raise DataError(
            f"{at.isoformat()} is before the first FeatureVector of {instrument_id} ({first.isoformat()}): "
            "no decision was possible yet",
            file=str(path),
        )
    return known_rows


def read_regimes(run: Path, version: str) -> pd.DataFrame | None:
    """Return the run's RegimeLabels of the folds served by ``version`` (None without the file).

    Columns ``instrument_id, ts_event, probabilities`` (a dict per row).
    """
    path = run / "regimes.parquet"
    if not path.is_file():
        return None
    frame = pd.read_parquet(path)
    if frame.empty or "probabilities" not in frame.columns:
        return None
    folds_path = run / "folds.json"
    if "fold" in frame.columns and folds_path.is_file():
        folds = json.loads(folds_path.read_text())
        indices = [f.get("index") for f in folds if f.get("model_version") == version]
        if indices:
            frame = frame[frame["fold"].isin(indices)]
    parsed = [json.loads(p) if isinstance(p, str) else dict(p or {}) for p in frame["probabilities"]]
    return pd.DataFrame(
        {
            "instrument_id": frame["instrument_id"].astype(str).to_numpy(),
            "ts_event": frame["ts_event"].to_numpy(),
            "probabilities": pd.Series(parsed, dtype=object).to_numpy(),
        }
    )


# ----------------------------------------------------------------------------------------------- explain


def explain_at(
    version: str,
    at: pd.Timestamp,
    instrument_id: str,
    *,
    registry: Path | None = None,
    features: Path | None = None,
    run: Path | None = None,
    k: int = 5,
    lime: bool = False,
    lime_seed: int = 0,
) -> DecisionReport:
    """Explain the decision of model ``version`` for ``instrument_id`` at time ``at``.

    Parameters
    ----------
    version : str
        A registered model version (a StagedModel or a bare stage-1 model).
    at : pd.Timestamp
        The time of the decision (UTC); the vector used is the latest with ``ts_init <= at``.
    instrument_id : str
        The instrument, e.g. ``"AAPL.XNAS"``.
    registry : Path, optional
        The registry folder (default: beside ``run``, else ``runs/registry``).
    features : Path, optional
        A FeatureVector parquet file (default: ``features.parquet`` of ``run``).
    run : Path, optional
        A walk-forward run folder (``<out>/<run_id>``): its features and regimes are used.
    k : int, default 5
        Number of stage-1 attributions shown.
    lime : bool, default False
        Also fit a LIME explanation of stage 1 on the feature rows before the decision.
    lime_seed : int, default 0
        Seed of LIME's sampling.

    Returns
    -------
    DecisionReport
        Probabilities of each stage, direction, confidence and attributions.

    Raises
    ------
    ConfigError
        If ``k < 1``, or the registry or features file cannot be found.
    DataError
        If the instrument is not in the features file or ``at`` is before its first vector.
    ModelError
        If the version is unknown, or the file's features differ from the model's (both named).

    """
    if k < 1:
        raise ConfigError(f"--k must be >= 1, got {k}")
    path = features_path_of(features, run)
    loaded = open_registry(registry_of(registry, run)).load(version)
    if not isinstance(loaded, StagedModel) and not hasattr(loaded, "predict_proba"):
        raise ModelError(
            f"model version {version!r} is a {type(loaded).__name__}, not a signal model: "
            "explain a staged or stage-1 model version (see `nautilus-ai learn registry list`)"
        )
    model = loaded if isinstance(loaded, StagedModel) else StagedModel(loaded, top_k=k)
    frame = read_features(path)
    names = [c for c in frame.columns if c not in META_COLUMNS]
    rows = select_vector(frame, instrument_id, at, path)
    chosen = rows.iloc[-1]
    model.check_features(names, str(chosen["spec_hash"]))
    x = chosen[names].to_numpy(dtype=np.float64)
    if np.isnan(x).all():
        raise DataError(
            f"the FeatureVector of {instrument_id} at {_utc(int(chosen['ts_init'])).isoformat()} is a "
            "warm-up marker (every feature is NaN): the model made no decision then",
            file=str(path),
        )

    # Stage-2 window: the instrument's latest complete-or-partial vectors, warm-up markers skipped
    # (as the SignalActor skips them), ending at the chosen row.
    values = rows[names].to_numpy(dtype=np.float64)
    history = rows[~np.isnan(values).all(axis=1)]
    window = history.iloc[-model.window :]
    notes: list[str] = []
    regime_matrix, regime_name, regime_probs = _window_regimes(model, window, run, version, notes)

    p1 = float(model.stage1.predict_proba(x.reshape(1, -1))[0])
    p2: float | None = None
    probability: float | None = None
    direction: int | None = None
    confidence: float | None = None
    passed = bool(abs(p1 - 0.5) >= model.filter_margin)
    if not model.regime_names or regime_matrix is not None:
        scored = model.predict_frame(
            window[names].to_numpy(dtype=np.float64),
            regime_matrix,
            np.full(len(window), instrument_id, dtype=object),
        ).iloc[-1]
        p2 = None if np.isnan(scored["p2"]) else float(scored["p2"])
        probability = float(scored["probability"])
        direction = int(scored["direction"])
        confidence = float(scored["confidence"])
        passed = bool(scored["passed_filter"])
        if model.stage2 is not None and p2 is None:
            notes.append(
                f"stage 2 needs {model.window} vectors of {instrument_id}; "
                f"only {len(window)} precede the decision"
            )

    from nautilus_ai.learning.explain import explain_decision

    explanation = explain_decision(model.stage1, x, model.feature_names_, k=k, background=model.background)
    feature_values = dict(explanation.feature_values)
    top = tuple(FeatureAttribution(n, float(a), feature_values[n]) for n, a in explanation.top)
    lime_items = None
    if lime:
        lime_items = _lime(model, frame, names, x, int(chosen["ts_init"]), k, lime_seed, feature_values)

    return DecisionReport(
        model_version=version,
        stages=model.stages,
        instrument_id=instrument_id,
        requested_at=at,
        ts_event=_utc(int(chosen["ts_event"])),
        ts_init=_utc(int(chosen["ts_init"])),
        features_path=path,
        p1=p1,
        p2=p2,
        probability=probability,
        direction=direction,
        confidence=confidence,
        passed_filter=passed,
        regime=regime_name,
        regime_probabilities=regime_probs,
        window_rows=len(window),
        base_value=explanation.base_value,
        margin=explanation.margin,
        top=top,
        lime=lime_items,
        notes=tuple(notes),
    )


def _window_regimes(
    model: StagedModel, window: pd.DataFrame, run: Path | None, version: str, notes: list[str]
) -> tuple[np.ndarray | None, str | None, dict[str, float] | None]:
    """Return the window's regime matrix (None when unavailable), and the last bar's regime."""
    if not model.regime_names:
        return None, None, None
    labels = read_regimes(run, version) if run is not None else None
    if labels is None:
        notes.append(
            f"the model uses regimes {list(model.regime_names)}: pass --run DIR (with regimes.parquet) "
            "for the stage-2 and final probabilities"
        )
        return None, None, None
    instrument = str(window["instrument_id"].iloc[-1])
    labels = labels[labels["instrument_id"] == instrument]
    by_ts = {int(ts): p for ts, p in zip(labels["ts_event"], labels["probabilities"], strict=True)}
    matrix = []
    for ts in window["ts_event"].to_numpy(dtype=np.int64):
        probabilities = by_ts.get(int(ts))
        if probabilities is None:
            notes.append(
                f"no RegimeLabel of {instrument} at {_utc(int(ts)).isoformat()} in {run}/regimes.parquet "
                "(it covers the folds' test windows only): the stage-2 and final probabilities are not shown"
            )
            return None, None, None
        missing = [r for r in model.regime_names if r not in probabilities]
        if missing:
            raise ModelError(
                f"the RegimeLabels in {run}/regimes.parquet lack regimes {missing} of the model "
                f"({list(model.regime_names)}): use the run that trained {version}"
            )
        matrix.append([float(probabilities[r]) for r in model.regime_names])
    last = dict(zip(model.regime_names, matrix[-1], strict=True))
    return np.array(matrix, dtype=np.float64), max(last, key=lambda r: last[r]), last


def _lime(
    model: StagedModel,
    frame: pd.DataFrame,
    names: list[str],
    x: np.ndarray,
    ts_init: int,
    k: int,
    seed: int,
    feature_values: dict[str, float],
) -> tuple[FeatureAttribution, ...]:
    from nautilus_ai.learning.explain_lime import lime_explanation

    before = frame[frame["ts_init"].to_numpy(dtype=np.int64) < ts_init].sort_values("ts_init", kind="stable")
    background = before[names].to_numpy(dtype=np.float64)
    background = background[np.isfinite(background).all(axis=1)][-LIME_BACKGROUND_ROWS:]
    if len(background) < 2:
        raise DataError(
            f"LIME needs at least 2 complete feature rows before the decision, found {len(background)}"
        )
    if not np.isfinite(x).all():
        raise DataError("LIME cannot explain a row with missing feature values: drop --lime")
    pairs = lime_explanation(model.stage1.predict_proba, background, x, names, num_features=k, seed=seed)
    return tuple(FeatureAttribution(n, w, feature_values[n]) for n, w in pairs)


def _utc(ns: int) -> pd.Timestamp:
    return pd.Timestamp(ns, unit="ns", tz="UTC")
