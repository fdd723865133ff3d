"""The staged signal model: stage-1 filter → stage-2 sequence model → stage-3 calibrated meta-model.

One :class:`StagedModel` holds the three fitted stages and the rule that combines them, so that the
walk-forward, the :class:`~nautilus_ai.learning.signal_actor.SignalActor` and the CLI use one
object, stored in the registry as one artifact.

For every event (a FeatureVector of one instrument, with the regime probabilities published for the
same bar):

1. Stage 1 (gradient-boosted trees or a random forest) gives ``p1 = P(up | x_t)``. The event passes
   the filter when ``|p1 - 0.5| >= filter_margin``; otherwise the signal is flat with confidence 0.
2. Stage 2 (LSTM or Transformer) gives ``p2 = P(up | x_{t-w+1..t}, regime_{t-w+1..t})`` from the last
   ``window`` rows of the instrument (NaN until ``window`` rows have been seen).
3. Stage 3 maps ``(p1, p2, regime probabilities)`` to a calibrated probability ``p`` and a confidence
   in [0, 1]. Without stage 3, ``p = p2`` when stage 2 exists and has a full window, else ``p1``, and
   the confidence is ``|2p - 1|``.

The direction is +1 when ``p >= long_threshold``, -1 when ``p <= short_threshold``, else 0 (and 0 for
filtered events). The top-k stage-1 TreeSHAP attributions of ``x_t`` go with every decision.

:meth:`StagedModel.predict_frame` scores a whole time-ordered table at once (the batch path for
training and research); :meth:`StagedModel.step` scores one event with a per-instrument
:class:`StagedState` (the live path). A test checks both agree on real data.
"""

from __future__ import annotations

import base64
import json
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nautilus_ai.errors import ModelError
from nautilus_ai.learning.artifacts import load_model

FORMAT_HEADER = b"nautilus-ai/staged-model/1\n"
"""First line of every serialized StagedModel."""


@dataclass(frozen=True)
class StagedDecision:
    """The outcome of scoring one event.

    Attributes
    ----------
    probability : float
        Final probability that the forward return is positive.
    direction : int
        +1, -1 or 0.
    confidence : float
        In [0, 1]; 0 for filtered events.
    p1 : float
        Stage-1 probability.
    p2 : float
        Stage-2 probability (NaN without stage 2 or before a full window).
    passed_filter : bool
        Whether stage 1 let the event through.
    attributions : tuple[tuple[str, float], ...]
        Top-k stage-1 attributions (log-odds), largest magnitude first.

    """

    probability: float
    direction: int
    confidence: float
    p1: float
    p2: float
    passed_filter: bool
    attributions: tuple[tuple[str, float], ...] = ()


@dataclass
class StagedState:
    """Per-instrument streaming state: the last ``window`` stage-2 input rows."""

    window: int
    rows: deque[np.ndarray] = field(default_factory=deque)

    def push(self, row: np.ndarray) -> None:
        """Append one row, forgetting the oldest beyond ``window``."""
        self.rows.append(row)
        while len(self.rows) > self.window:
            self.rows.popleft()

    def full(self) -> bool:
        """Return whether ``window`` rows have been seen."""
        return len(self.rows) == self.window


def direction_of(probability: float, long_threshold: float, short_threshold: float) -> int:
    """Return +1 at or above ``long_threshold``, -1 at or below ``short_threshold``, else 0."""
    if probability >= long_threshold:
        return 1
    if probability <= short_threshold:
        return -1
    return 0


class StagedModel:
    """Three fitted stages and the rule that combines them (see the module docstring).

    Parameters
    ----------
    stage1 : BinaryEstimator
        Fitted stage-1 model on the FeatureVector columns.
    stage2 : SequenceClassifier, optional
        Fitted sequence model on the FeatureVector columns followed by the regime probabilities.
    meta : MetaModel, optional
        Fitted stage-3 meta-model.
    regime_names : Sequence[str]
        Regime names, in the order of the regime probability columns (empty without a regime model).
    window : int
        Stage-2 window (ignored without stage 2).
    filter_margin : float
        Stage-1 filter: events with ``|p1 - 0.5| < filter_margin`` are flat.
    long_threshold, short_threshold : float
        Probability thresholds of the direction.
    top_k : int
        Number of attributions kept per decision.
    background : np.ndarray, optional
        Training rows that define the attributions' base value for stage-1 models that need one
        (the random forest); kept in the artifact.

    """

    def __init__(
        self,
        stage1: Any,
        stage2: Any | None = None,
        meta: Any | None = None,
        *,
        regime_names: Sequence[str] = (),
        window: int = 1,
        filter_margin: float = 0.0,
        long_threshold: float = 0.55,
        short_threshold: float = 0.45,
        top_k: int = 3,
        background: np.ndarray | None = None,
    ) -> None:
        if not 0.0 <= short_threshold <= long_threshold <= 1.0:
            raise ModelError(
                f"thresholds must satisfy 0 <= short ({short_threshold}) <= long ({long_threshold}) <= 1"
            )
        if not 0.0 <= filter_margin < 0.5:
            raise ModelError(f"filter_margin={filter_margin} must be in [0, 0.5)")
        self.stage1 = stage1
        self.stage2 = stage2
        self.meta = meta
        self.regime_names = tuple(str(r) for r in regime_names)
        self.window = int(window) if stage2 is not None else 1
        self.filter_margin = float(filter_margin)
        self.long_threshold = float(long_threshold)
        self.short_threshold = float(short_threshold)
        self.top_k = int(top_k)
        self.background = None if background is None else np.asarray(background, dtype=np.float64)

    # -- the registry's contract ------------------------------------------------------------------

    @property
    def feature_names_(self) -> tuple[str, ...]:
        """The FeatureVector columns the model reads (stage 1's)."""
        return tuple(self.stage1.feature_names_)

    @property
    def spec_hash_(self) -> str:
        """The FeatureSpec fingerprint the model was trained on."""
        return str(self.stage1.spec_hash_)

    @property
    def stages(self) -> tuple[str, ...]:
        """Names of the fitted stages, e.g. ``("stage1", "stage2", "stage3")``."""
        names = ["stage1"]
        if self.stage2 is not None:
            names.append("stage2")
        if self.meta is not None:
            names.append("stage3")
        return tuple(names)

    def check_features(self, names: Sequence[str], spec_hash: str) -> None:
        """Raise :class:`ModelError` naming both feature sets when ``names``/``spec_hash`` differ."""
        self.stage1.check_features(names, spec_hash)

    def check_regimes(self, names: Sequence[str]) -> None:
        """Raise :class:`ModelError` when the regime names differ from the model's."""
        if tuple(names) != self.regime_names:
            raise ModelError(
                f"the staged model was trained with regimes {list(self.regime_names)} but is given "
                f"{list(names)}: use the regime model of the same fold"
            )

    # -- batch ------------------------------------------------------------------------------------

    def predict_frame(
        self,
        X: np.ndarray,  # noqa: N803 (scikit-learn convention)
        regime: np.ndarray | None = None,
        groups: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """Score time-ordered rows (per ``groups``) at once.

        Parameters
        ----------
        X : np.ndarray
            Feature rows (n, d) in time order within each group.
        regime : np.ndarray, optional
            Regime probabilities (n, K) in :attr:`regime_names` order; required when the model has
            regimes.
        groups : np.ndarray, optional
            Instrument of each row; stage-2 windows never cross groups.

        Returns
        -------
        pd.DataFrame
            Columns ``p1, p2, probability, direction, confidence, passed_filter``.

        """
        X = np.asarray(X, dtype=np.float64)  # noqa: N806 (scikit-learn convention)
        n = len(X)
        reg = self._regime_matrix(regime, n)
        p1 = self.stage1.predict_proba(X) if n else np.zeros(0)
        p2 = np.full(n, np.nan)
        if self.stage2 is not None and n:
            from nautilus_ai.learning.sequence import make_sequences

            seq_rows = np.hstack([X, reg])
            sequences, valid = make_sequences(seq_rows, self.window, groups, dtype=np.float64)
            if valid.any():
                p2[valid] = self.stage2.predict_proba(sequences[valid])
        probability, confidence = self._combine(p1, p2, reg)
        passed = np.abs(p1 - 0.5) >= self.filter_margin
        direction = np.array(
            [
                direction_of(p, self.long_threshold, self.short_threshold) if ok else 0
                for p, ok in zip(probability, passed, strict=True)
            ],
            dtype=np.int64,
        )
        return pd.DataFrame(
            {
                "p1": p1,
                "p2": p2,
                "probability": probability,
                "direction": direction,
                "confidence": np.where(passed, confidence, 0.0),
                "passed_filter": passed,
            }
        )

    # -- streaming --------------------------------------------------------------------------------

    def new_state(self) -> StagedState:
        """Return an empty per-instrument streaming state."""
        return StagedState(window=self.window)

    def step(self, state: StagedState, x: np.ndarray, regime: np.ndarray | None = None) -> StagedDecision:
        """Score one event, updating ``state`` (the instrument's recent rows).

        The result equals the row of :meth:`predict_frame` for the same history.
        """
        x = np.asarray(x, dtype=np.float64).reshape(1, -1)
        reg = self._regime_matrix(None if regime is None else np.asarray(regime).reshape(1, -1), 1)
        p1 = self.stage1.predict_proba(x)
        p2 = np.full(1, np.nan)
        if self.stage2 is not None:
            state.push(np.hstack([x[0], reg[0]]))
            if state.full():
                p2[0] = self.stage2.predict_proba(np.stack(list(state.rows))[None, :, :])[0]
        probability, confidence = self._combine(p1, p2, reg)
        passed = bool(abs(p1[0] - 0.5) >= self.filter_margin)
        p = float(probability[0])
        return StagedDecision(
            probability=p,
            direction=direction_of(p, self.long_threshold, self.short_threshold) if passed else 0,
            confidence=float(confidence[0]) if passed else 0.0,
            p1=float(p1[0]),
            p2=float(p2[0]),
            passed_filter=passed,
            attributions=self.attributions(x[0]) if self.top_k else (),
        )

    def attributions(self, x: np.ndarray) -> tuple[tuple[str, float], ...]:
        """Return the top-k stage-1 TreeSHAP attributions of one feature row."""
        from nautilus_ai.learning.explain_ranking import top_k
        from nautilus_ai.learning.explain_tree import tree_attributions

        row = np.asarray(x, dtype=np.float64).reshape(1, -1)
        values = tree_attributions(self.stage1, row, background=self.background)[0]
        return tuple(top_k(values, self.feature_names_, self.top_k))

    # -- combination ------------------------------------------------------------------------------

    def _regime_matrix(self, regime: np.ndarray | None, n: int) -> np.ndarray:
        k = len(self.regime_names)
        if k == 0:
            return np.zeros((n, 0))
        if regime is None:
            raise ModelError(
                f"the staged model uses regimes {list(self.regime_names)}: pass their probabilities"
            )
        reg = np.asarray(regime, dtype=np.float64)
        if reg.shape != (n, k):
            raise ModelError(f"regime probabilities have shape {reg.shape}, expected {(n, k)}")
        return reg

    def _combine(self, p1: np.ndarray, p2: np.ndarray, reg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.meta is not None:
            decision = self.meta.decide(
                p1,
                p2=p2 if self.meta.config.use_p2 else None,
                regime_probs=reg if self.regime_names else None,
            )
            return (
                np.asarray(decision.probability, dtype=np.float64),
                np.asarray(decision.confidence, dtype=np.float64),
            )
        probability = np.where(np.isnan(p2), p1, p2) if self.stage2 is not None else p1
        return probability, np.abs(2.0 * probability - 1.0)

    # -- serialization ----------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Serialize the model: header, then one JSON line with the rule and each stage's bytes."""
        parts = {
            "stage1": self.stage1.to_bytes(),
            "stage2": self.stage2.to_bytes() if self.stage2 is not None else None,
            "meta": self.meta.to_bytes() if self.meta is not None else None,
        }
        body = {
            "regime_names": list(self.regime_names),
            "window": self.window,
            "filter_margin": self.filter_margin,
            "long_threshold": self.long_threshold,
            "short_threshold": self.short_threshold,
            "top_k": self.top_k,
            "background": None if self.background is None else self.background.tolist(),
            "parts": {
                k: base64.b64encode(v).decode("ascii") if v is not None else None for k, v in parts.items()
            },
        }
        return FORMAT_HEADER + json.dumps(body, sort_keys=True).encode("utf-8") + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes) -> StagedModel:
        """Rebuild a model from :meth:`to_bytes` output.

        Raises
        ------
        ModelError
            If the bytes are not a serialized StagedModel or a stage cannot be loaded.

        """
        if not data.startswith(FORMAT_HEADER):
            raise ModelError(
                f"not a serialized StagedModel (expected header {FORMAT_HEADER!r}, got {bytes(data[:40])!r})"
            )
        try:
            body = json.loads(data[len(FORMAT_HEADER) :].decode("utf-8"))
            parts = {
                k: load_model(base64.b64decode(v)) if v is not None else None
                for k, v in body["parts"].items()
            }
            return cls(
                parts["stage1"],
                parts["stage2"],
                parts["meta"],
                regime_names=body["regime_names"],
                window=body["window"],
                filter_margin=body["filter_margin"],
                long_threshold=body["long_threshold"],
                short_threshold=body["short_threshold"],
                top_k=body["top_k"],
                background=None
                if body.get("background") is None
                else np.array(body["background"], dtype=float),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"corrupted StagedModel bytes: {exc}") from exc

    def __repr__(self) -> str:
        return (
            f"StagedModel(stages={self.stages}, regimes={list(self.regime_names)}, window={self.window}, "
            f"filter_margin={self.filter_margin})"
        )
