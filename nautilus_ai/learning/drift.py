"""Drift detection: tests of whether live data moved away from the training window.

Pure kernels over arrays (no NautilusTrader types, no I/O):

* :func:`population_stability_index` -- PSI of a feature with quantile bins taken from the reference;
* :func:`ks_two_sample` -- the two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``);
* :func:`hit_rate_decay` -- the recent hit rate against the reference hit rate (one-sided binomial test);
* :func:`calibration_decay` -- the recent Brier score and ECE against their reference values.

:class:`DriftMonitor` combines them with the thresholds of a :class:`DriftConfig` and returns a
:class:`DriftReport` naming the drifted features. The ExperienceActor publishes a report that finds
drift on :data:`DRIFT_TOPIC` and raises the retrain trigger
(:class:`nautilus_ai.live.control.RetrainTrigger` on ``nautilus_ai.learning.retrain``, the topic the
operator's ``retrain`` command and the API sidecar use too).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats

from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.learning.calibration import brier_score, expected_calibration_error

DRIFT_TOPIC = "nautilus_ai.learning.drift"
"""Message-bus topic of the :class:`DriftReport` of a check that found drift."""

_RECORDER_COLUMNS = ("ts_event", "ts_init", "instrument_id", "spec_hash")


class DriftConfig(BaseModel):
    """Thresholds of a :class:`DriftMonitor`.

    Parameters
    ----------
    n_bins : int, default 10
        Quantile bins of the reference used by the PSI.
    psi_threshold : float, default 0.25
        A feature drifts only when its PSI is at or above this value (0.1: moderate, 0.25: major shift).
    ks_alpha : float, default 0.01
        ... and its KS p-value is below this level.
    min_samples : int, default 30
        Fewer current samples than this give no verdict (nothing drifts).
    min_drifted_features : int, default 1
        Drift is reported when at least this many features drift.
    hit_rate_alpha : float, default 0.01
        Hit rate has decayed when the one-sided binomial test of "recent hit rate < reference"
        has a p-value below this level.
    brier_tolerance : float, default 0.05
        Calibration has decayed when the recent Brier score exceeds the reference by more than this.
    ece_tolerance : float, default 0.10
        ... or the recent ECE exceeds the reference ECE by more than this.
    ece_bins : int, default 10
        Equal-width probability bins of the ECE.

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_bins: int = Field(default=10, ge=2, le=100)
    psi_threshold: float = Field(default=0.25, gt=0.0)
    ks_alpha: float = Field(default=0.01, gt=0.0, lt=1.0)
    min_samples: int = Field(default=30, ge=2)
    min_drifted_features: int = Field(default=1, ge=1)
    hit_rate_alpha: float = Field(default=0.01, gt=0.0, lt=1.0)
    brier_tolerance: float = Field(default=0.05, gt=0.0)
    ece_tolerance: float = Field(default=0.10, gt=0.0)
    ece_bins: int = Field(default=10, ge=2, le=100)


def _finite(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[np.isfinite(array)]


def quantile_bin_edges(reference: Sequence[float] | np.ndarray, n_bins: int) -> np.ndarray:
    """Return the interior bin edges of ``n_bins`` reference quantile bins (duplicates merged).

    Parameters
    ----------
    reference : array-like
        Reference sample (non-finite values are ignored).
    n_bins : int
        Number of quantile bins wanted (>= 2).

    Returns
    -------
    np.ndarray
        Sorted unique interior edges; bin ``i`` holds ``edges[i-1] < x <= edges[i]``.

    Raises
    ------
    DataError
        If the reference has no finite value.

    """
    ref = _finite(reference, "reference")
    if ref.size == 0:
        raise DataError(
            "reference sample has no finite value: expected at least one number", field="reference"
        )
    if n_bins < 2:
        raise ConfigError(f"n_bins={n_bins} is too small: use at least 2 bins")
    edges = np.quantile(ref, np.linspace(0.0, 1.0, n_bins + 1)[1:-1])
    return np.unique(edges)


def population_stability_index(
    reference: Sequence[float] | np.ndarray,
    current: Sequence[float] | np.ndarray,
    n_bins: int = 10,
    epsilon: float = 1e-4,
) -> float:
    """Return the population stability index of ``current`` against ``reference``.

    ``PSI = sum_i (c_i - r_i) * ln(c_i / r_i)`` over quantile bins of the reference, with ``r_i``
    and ``c_i`` the shares of each sample in bin ``i`` (floored at ``epsilon`` so that an empty bin
    stays finite). Non-finite values are ignored.

    Parameters
    ----------
    reference : array-like
        The reference (training-window) sample.
    current : array-like
        The recent sample.
    n_bins : int, default 10
        Quantile bins of the reference.
    epsilon : float, default 1e-4
        Floor of a bin share.

    Returns
    -------
    float
        The PSI (0 for identical binned distributions; > 0.25 is conventionally a major shift).

    Raises
    ------
    DataError
        If either sample has no finite value.

    """
    ref = _finite(reference, "reference")
    cur = _finite(current, "current")
    if cur.size == 0:
        raise DataError("current sample has no finite value: expected at least one number", field="current")
    edges = quantile_bin_edges(ref, n_bins)
    return psi_from_counts(
        np.bincount(np.searchsorted(edges, ref, side="left"), minlength=edges.size + 1),
        np.bincount(np.searchsorted(edges, cur, side="left"), minlength=edges.size + 1),
        epsilon,
    )


def psi_from_counts(
    reference_counts: Sequence[float] | np.ndarray,
    current_counts: Sequence[float] | np.ndarray,
    epsilon: float = 1e-4,
) -> float:
    """Return the PSI of two histograms over the same bins.

    Parameters
    ----------
    reference_counts, current_counts : array-like
        Counts (or shares) per bin, same length.
    epsilon : float, default 1e-4
        Floor of a bin share.

    Returns
    -------
    float
        ``sum_i (c_i - r_i) * ln(c_i / r_i)`` over the normalised, floored shares.

    """
    r = np.asarray(reference_counts, dtype=np.float64)
    c = np.asarray(current_counts, dtype=np.float64)
    if r.shape != c.shape or r.sum() <= 0 or c.sum() <= 0:
        raise DataError(f"histograms of shapes {r.shape} and {c.shape}: expected equal non-empty histograms")
    r = np.maximum(r / r.sum(), epsilon)
    c = np.maximum(c / c.sum(), epsilon)
    return float(np.sum((c - r) * np.log(c / r)))


@dataclass(frozen=True)
class KsResult:
    """A two-sample Kolmogorov-Smirnov test: the statistic ``D`` and its p-value."""

    statistic: float
    pvalue: float


def ks_two_sample(reference: Sequence[float] | np.ndarray, current: Sequence[float] | np.ndarray) -> KsResult:
    """Return the two-sided two-sample KS test of ``current`` against ``reference`` (finite values).

    Parameters
    ----------
    reference, current : array-like
        The two samples.

    Returns
    -------
    KsResult
        ``scipy.stats.ks_2samp``'s statistic and p-value.

    Raises
    ------
    DataError
        If either sample has no finite value.

    """
    ref = _finite(reference, "reference")
    cur = _finite(current, "current")
    if ref.size == 0 or cur.size == 0:
        raise DataError(
            "KS test needs finite values in both samples", field="reference" if ref.size == 0 else "current"
        )
    result = stats.ks_2samp(ref, cur)
    return KsResult(statistic=float(result.statistic), pvalue=float(result.pvalue))


@dataclass(frozen=True)
class HitRateDecay:
    """Recent hit rate against the reference: ``hits`` of ``n``, and the one-sided binomial p-value."""

    hit_rate: float
    reference_hit_rate: float
    n: int
    pvalue: float


def hit_rate_decay(hits: Sequence[bool] | np.ndarray, reference_hit_rate: float) -> HitRateDecay:
    """Test whether the recent hit rate is below the reference hit rate.

    Parameters
    ----------
    hits : array-like of bool
        One entry per resolved decision that took a side: True when its direction was right.
    reference_hit_rate : float
        The hit rate on the reference (training or validation) window, in (0, 1).

    Returns
    -------
    HitRateDecay
        The recent rate and ``scipy.stats.binomtest(k, n, reference, alternative="less")``'s p-value
        (1.0 when ``hits`` is empty).

    Raises
    ------
    ConfigError
        If ``reference_hit_rate`` is not in (0, 1).

    """
    if not 0.0 < reference_hit_rate < 1.0:
        raise ConfigError(
            f"reference_hit_rate={reference_hit_rate} is not a rate: expected a value in (0, 1)"
        )
    h = np.asarray(hits, dtype=bool).ravel()
    n = int(h.size)
    if n == 0:
        return HitRateDecay(math.nan, reference_hit_rate, 0, 1.0)
    k = int(h.sum())
    pvalue = float(stats.binomtest(k, n, reference_hit_rate, alternative="less").pvalue)
    return HitRateDecay(k / n, reference_hit_rate, n, pvalue)


@dataclass(frozen=True)
class CalibrationDecay:
    """Recent Brier score and ECE against their reference values."""

    brier: float
    reference_brier: float
    ece: float
    reference_ece: float
    n: int


def calibration_decay(
    outcomes: Sequence[float] | np.ndarray,
    probabilities: Sequence[float] | np.ndarray,
    reference_brier: float,
    reference_ece: float,
    n_bins: int = 10,
) -> CalibrationDecay:
    """Return the recent Brier score and ECE of ``probabilities`` for ``outcomes`` beside the references.

    Parameters
    ----------
    outcomes : array-like
        0/1 outcomes (1: the forward return was positive).
    probabilities : array-like
        The model's P(up) of the same decisions.
    reference_brier, reference_ece : float
        Brier score and ECE on the reference window.
    n_bins : int, default 10
        ECE bins.

    Returns
    -------
    CalibrationDecay
        The recent and reference metrics (NaN recent metrics when there is no outcome).

    """
    y = np.asarray(outcomes, dtype=np.float64).ravel()
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise DataError(f"{y.size} outcomes but {p.size} probabilities: expected one probability per outcome")
    if y.size == 0:
        return CalibrationDecay(math.nan, reference_brier, math.nan, reference_ece, 0)
    return CalibrationDecay(
        brier=brier_score(y, p),
        reference_brier=reference_brier,
        ece=expected_calibration_error(y, p, n_bins=n_bins),
        reference_ece=reference_ece,
        n=int(y.size),
    )


@dataclass(frozen=True)
class FeatureDrift:
    """Drift statistics of one feature."""

    name: str
    psi: float
    ks_statistic: float
    ks_pvalue: float
    drifted: bool


@dataclass(frozen=True)
class DriftReport:
    """What a :class:`DriftMonitor` check found.

    ``drifted`` is True when enough features drifted, the hit rate decayed or calibration decayed;
    ``reasons`` says which, in words.
    """

    n_reference: int
    n_current: int
    features: tuple[FeatureDrift, ...]
    hit_rate: HitRateDecay | None = None
    calibration: CalibrationDecay | None = None
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def drifted_features(self) -> list[str]:
        """Names of the features that drifted."""
        return [f.name for f in self.features if f.drifted]

    @property
    def drifted(self) -> bool:
        """True when the check found any drift."""
        return bool(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {
            "drifted": self.drifted,
            "reasons": list(self.reasons),
            "drifted_features": self.drifted_features,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "features": [asdict(f) for f in self.features],
            "hit_rate": None if self.hit_rate is None else asdict(self.hit_rate),
            "calibration": None if self.calibration is None else asdict(self.calibration),
        }


class DriftMonitor:
    """Compare recent features and outcomes with a reference window.

    Parameters
    ----------
    reference : np.ndarray
        Reference feature matrix, shape ``(n, k)`` (for example the training window's FeatureVectors).
    feature_names : Sequence[str]
        The ``k`` feature names, in column order.
    config : DriftConfig, optional
        Thresholds (defaults when omitted).
    reference_hit_rate : float, optional
        Hit rate of the reference window; hit-rate decay is checked only when set.
    reference_brier, reference_ece : float, optional
        Calibration of the reference window; calibration decay is checked only when both are set.

    Raises
    ------
    DataError
        If the reference is not 2-D with one column per name or a column has no finite value.

    """

    def __init__(
        self,
        reference: np.ndarray,
        feature_names: Sequence[str],
        config: DriftConfig | None = None,
        *,
        reference_hit_rate: float | None = None,
        reference_brier: float | None = None,
        reference_ece: float | None = None,
    ) -> None:
        ref = np.asarray(reference, dtype=np.float64)
        names = tuple(feature_names)
        if ref.ndim != 2 or ref.shape[1] != len(names):
            raise DataError(
                f"reference of shape {ref.shape} for {len(names)} features: expected (n_rows, {len(names)})",
                field="reference",
            )
        self.config = config or DriftConfig()
        self.feature_names = names
        self.reference = ref
        self._edges = [quantile_bin_edges(ref[:, j], self.config.n_bins) for j in range(len(names))]
        self.reference_hit_rate = reference_hit_rate
        self.reference_brier = reference_brier
        self.reference_ece = reference_ece

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        config: DriftConfig | None = None,
        *,
        feature_names: Sequence[str] | None = None,
        source: str = "frame",
        **references: float | None,
    ) -> DriftMonitor:
        """Build a monitor from a FeatureRecorder-style frame (one column per feature).

        Parameters
        ----------
        frame : pd.DataFrame
            Rows of feature values; recorder columns (``ts_event``, ``instrument_id``, ...) are ignored.
        config : DriftConfig, optional
            Thresholds.
        feature_names : Sequence[str], optional
            The features to monitor (every non-recorder column when omitted).
        source : str, default "frame"
            Named in errors (the file the frame came from).
        **references : float
            ``reference_hit_rate``, ``reference_brier``, ``reference_ece``.

        Raises
        ------
        DataError
            If a named feature column is missing, or no row is fully finite.

        """
        names = (
            list(feature_names)
            if feature_names is not None
            else [c for c in frame.columns if c not in _RECORDER_COLUMNS]
        )
        missing = [n for n in names if n not in frame.columns]
        if missing or not names:
            raise DataError(
                f"reference features {missing or '(none)'} not found: expected columns {names}", file=source
            )
        values = frame[names].to_numpy(dtype=np.float64)
        values = values[np.isfinite(values).all(axis=1)]
        if values.shape[0] == 0:
            raise DataError("reference has no row with every feature finite", file=source)
        return cls(values, names, config, **references)

    @classmethod
    def from_parquet(
        cls,
        path: str | Path,
        config: DriftConfig | None = None,
        *,
        feature_names: Sequence[str] | None = None,
        instrument_id: str | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
        **references: float | None,
    ) -> DriftMonitor:
        """Build a monitor from a FeatureRecorder Parquet file (a walk-forward's ``features.parquet``).

        Parameters
        ----------
        path : str or Path
            The Parquet file.
        config : DriftConfig, optional
            Thresholds.
        feature_names : Sequence[str], optional
            The features to monitor.
        instrument_id : str, optional
            Keep only this instrument's rows (when the file has an ``instrument_id`` column).
        start_ns, end_ns : int, optional
            Keep rows with ``start_ns <= ts_event < end_ns`` (the training window).
        **references : float
            ``reference_hit_rate``, ``reference_brier``, ``reference_ece``.

        Raises
        ------
        DataError
            If the file is missing or unreadable, or has no usable row.

        """
        path = Path(path)
        if not path.is_file():
            raise DataError(
                "reference feature file not found: expected a FeatureRecorder Parquet file", file=str(path)
            )
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types on corrupt files
            raise DataError(f"cannot read the reference feature file: {exc}", file=str(path)) from exc
        if instrument_id is not None and "instrument_id" in frame.columns:
            frame = frame[frame["instrument_id"] == instrument_id]
        if (start_ns is not None or end_ns is not None) and "ts_event" not in frame.columns:
            raise DataError(
                "no ts_event column to select the reference window by", file=str(path), field="ts_event"
            )
        if start_ns is not None:
            frame = frame[frame["ts_event"] >= start_ns]
        if end_ns is not None:
            frame = frame[frame["ts_event"] < end_ns]
        return cls.from_frame(frame, config, feature_names=feature_names, source=str(path), **references)

    def check(
        self,
        current: np.ndarray,
        *,
        hits: Sequence[bool] | np.ndarray | None = None,
        outcomes: Sequence[float] | np.ndarray | None = None,
        probabilities: Sequence[float] | np.ndarray | None = None,
    ) -> DriftReport:
        """Compare a recent window with the reference.

        Parameters
        ----------
        current : np.ndarray
            Recent feature matrix, shape ``(m, k)`` in the reference's column order (rows with a
            non-finite value are dropped).
        hits : array-like of bool, optional
            Recent directional hits (checked against ``reference_hit_rate``).
        outcomes, probabilities : array-like, optional
            Recent 0/1 outcomes and P(up) (checked against the reference Brier score and ECE).

        Returns
        -------
        DriftReport
            Per-feature PSI and KS, the decay tests run, and the reasons for drift (empty: none).

        Raises
        ------
        DataError
            If ``current`` does not have one column per feature.

        """
        cfg = self.config
        cur = np.asarray(current, dtype=np.float64)
        if cur.ndim != 2 or cur.shape[1] != len(self.feature_names):
            raise DataError(
                f"current window of shape {cur.shape}: expected (n_rows, {len(self.feature_names)})",
                field="current",
            )
        cur = cur[np.isfinite(cur).all(axis=1)]
        features: list[FeatureDrift] = []
        reasons: list[str] = []
        if cur.shape[0] >= cfg.min_samples:
            for j, name in enumerate(self.feature_names):
                ref = self.reference[:, j]
                edges = self._edges[j]
                psi = psi_from_counts(
                    np.bincount(np.searchsorted(edges, ref, side="left"), minlength=edges.size + 1),
                    np.bincount(np.searchsorted(edges, cur[:, j], side="left"), minlength=edges.size + 1),
                )
                ks = ks_two_sample(ref, cur[:, j])
                drifted = psi >= cfg.psi_threshold and ks.pvalue < cfg.ks_alpha
                features.append(FeatureDrift(name, psi, ks.statistic, ks.pvalue, drifted))
            drifted_names = [f.name for f in features if f.drifted]
            if len(drifted_names) >= cfg.min_drifted_features:
                reasons.append(
                    f"feature drift in {len(drifted_names)} feature(s): {', '.join(drifted_names)}"
                )
        hit = None
        if hits is not None and self.reference_hit_rate is not None:
            hit = hit_rate_decay(hits, self.reference_hit_rate)
            if hit.n >= cfg.min_samples and hit.pvalue < cfg.hit_rate_alpha:
                reasons.append(
                    f"hit rate decayed to {hit.hit_rate:.3f} from {hit.reference_hit_rate:.3f} "
                    f"(binomial p={hit.pvalue:.2g}, n={hit.n})"
                )
        calibration = None
        if (
            outcomes is not None
            and probabilities is not None
            and self.reference_brier is not None
            and self.reference_ece is not None
        ):
            calibration = calibration_decay(
                outcomes, probabilities, self.reference_brier, self.reference_ece, n_bins=cfg.ece_bins
            )
            if calibration.n >= cfg.min_samples:
                if calibration.brier > calibration.reference_brier + cfg.brier_tolerance:
                    reasons.append(
                        f"Brier score rose to {calibration.brier:.4f} from {calibration.reference_brier:.4f}"
                    )
                if calibration.ece > calibration.reference_ece + cfg.ece_tolerance:
                    reasons.append(f"ECE rose to {calibration.ece:.4f} from {calibration.reference_ece:.4f}")
        return DriftReport(
            n_reference=int(self.reference.shape[0]),
            n_current=int(cur.shape[0]),
            features=tuple(features),
            hit_rate=hit,
            calibration=calibration,
            reasons=tuple(reasons),
        )
