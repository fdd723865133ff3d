"""The experience buffer: every decision, its features and signal, and its realized outcome.

An :class:`Experience` is appended when a decision is made (the FeatureVector values and the
ModelSignal at decision time) and resolved with an :class:`Outcome` once the label horizon has passed
(the forward return from the bar closes, and the strategy's P&L over the horizon from the portfolio).

The :class:`ExperienceBuffer` holds at most ``capacity`` experiences (the oldest are evicted first),
samples resolved experiences uniformly or by priority (``|error|^alpha`` with importance-sampling
weights, as in prioritized experience replay, Schaul et al. 2016) from a seeded generator, and
persists to Parquet with an atomic write, so it survives restarts (:meth:`ExperienceBuffer.load`).
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from nautilus_ai.catalog.atomic import atomic_write
from nautilus_ai.errors import ConfigError, DataError

_FEATURE_PREFIX = "feature:"
_REGIME_PREFIX = "regime:"
_META_KEY = b"nautilus_ai.experience"


@dataclass(frozen=True)
class Outcome:
    """The realized outcome of a decision, known once its horizon has passed.

    Parameters
    ----------
    forward_return : float
        ``close[t + horizon] / close[t] - 1`` of the decision bar ``t``.
    pnl : float
        The strategy's total P&L change on the instrument over the horizon (portfolio, account currency).
    n_fills : int
        Fills of the instrument's orders during the horizon.
    ts_resolved : int
        Time of the bar that resolved the decision (UNIX ns).

    """

    forward_return: float
    pnl: float = math.nan
    n_fills: int = 0
    ts_resolved: int = 0


@dataclass(frozen=True)
class Experience:
    """One decision and, once resolved, its outcome.

    ``features`` are the FeatureVector values (float64, in the buffer's feature order); the signal
    fields copy the ModelSignal. ``outcome`` is None until :meth:`ExperienceBuffer.resolve`. ``regime``
    holds the bar's regime probabilities in the buffer's ``regime_names`` order (None without regimes).
    """

    ts_event: int
    instrument_id: str
    features: np.ndarray
    direction: int
    probability: float
    confidence: float
    horizon_bars: int
    model_version: str
    entry_close: float = math.nan
    outcome: Outcome | None = None
    regime: np.ndarray | None = None

    @property
    def resolved(self) -> bool:
        """True once the outcome is known."""
        return self.outcome is not None

    @property
    def label(self) -> int | None:
        """1 when the forward return was positive, 0 otherwise (None while unresolved)."""
        return None if self.outcome is None else int(self.outcome.forward_return > 0)

    @property
    def error(self) -> float:
        """``label - probability``, the signal's error (NaN while unresolved)."""
        label = self.label
        return math.nan if label is None else float(label - self.probability)

    @property
    def hit(self) -> bool | None:
        """Whether a directional decision was right (None when flat or unresolved)."""
        if self.outcome is None or self.direction == 0:
            return None
        return bool(np.sign(self.outcome.forward_return) == self.direction)


@dataclass(frozen=True)
class ExperienceSample:
    """A sample drawn from the buffer: the experiences, their keys and importance weights."""

    experiences: tuple[Experience, ...]
    keys: np.ndarray
    weights: np.ndarray
    probabilities: np.ndarray


def prioritized_probabilities(errors: np.ndarray, alpha: float, epsilon: float = 1e-6) -> np.ndarray:
    """Return sampling probabilities ``P(i) = p_i^alpha / sum_j p_j^alpha``, ``p_i = |error_i| + epsilon``.

    Parameters
    ----------
    errors : np.ndarray
        Errors of the items.
    alpha : float
        Prioritization exponent (0: uniform).
    epsilon : float, default 1e-6
        Keeps zero-error items sampleable.

    Returns
    -------
    np.ndarray
        Probabilities summing to 1.

    """
    priority = (np.abs(np.asarray(errors, dtype=np.float64)) + epsilon) ** alpha
    return priority / priority.sum()


def importance_weights(probabilities: np.ndarray, beta: float) -> np.ndarray:
    """Return importance-sampling weights ``(N P(i))^-beta`` normalised by their maximum.

    Parameters
    ----------
    probabilities : np.ndarray
        Sampling probabilities of the ``N`` items (or of the drawn items, with ``N`` the population size
        implied by ``len(probabilities)`` of the population).
    beta : float
        Correction exponent (1: full correction).

    Returns
    -------
    np.ndarray
        Weights in (0, 1].

    """
    p = np.asarray(probabilities, dtype=np.float64)
    w = (p.size * p) ** (-beta)
    return w / w.max()


class ExperienceBuffer:
    """A bounded, persistent store of decisions and their outcomes.

    Parameters
    ----------
    capacity : int
        The most experiences kept; appending to a full buffer evicts the oldest.
    feature_names : Sequence[str]
        The feature order of every experience's ``features``.
    regime_names : Sequence[str], default ()
        The order of every experience's ``regime`` probabilities (empty: no regimes kept).

    Raises
    ------
    ConfigError
        If ``capacity < 1`` or ``feature_names`` is empty.

    """

    def __init__(self, capacity: int, feature_names: Sequence[str], regime_names: Sequence[str] = ()) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ConfigError(f"ExperienceBuffer capacity={capacity!r} is invalid: set an integer >= 1")
        names = tuple(feature_names)
        if not names:
            raise ConfigError("ExperienceBuffer feature_names is empty: name the features of the experiences")
        self.capacity = capacity
        self.feature_names = names
        self.regime_names = tuple(str(r) for r in regime_names)
        self._items: OrderedDict[int, Experience] = OrderedDict()
        self._next_key = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Experience]:
        return iter(self._items.values())

    def keys(self) -> list[int]:
        """Return the keys of the held experiences, oldest first."""
        return list(self._items)

    def get(self, key: int) -> Experience:
        """Return the experience of ``key`` (KeyError when evicted or unknown)."""
        return self._items[key]

    def append(self, experience: Experience) -> int:
        """Add an experience (evicting the oldest when full) and return its key.

        Raises
        ------
        DataError
            If its features do not have one value per feature name.

        """
        features = np.asarray(experience.features, dtype=np.float64)
        if features.shape != (len(self.feature_names),):
            raise DataError(
                f"experience at {experience.ts_event} has features of shape {features.shape}: "
                f"expected ({len(self.feature_names)},) for {list(self.feature_names)}",
                field="features",
            )
        regime = None
        if self.regime_names:
            regime = (
                np.full(len(self.regime_names), np.nan)
                if experience.regime is None
                else np.asarray(experience.regime, dtype=np.float64)
            )
            if regime.shape != (len(self.regime_names),):
                raise DataError(
                    f"experience at {experience.ts_event} has regime probabilities of shape {regime.shape}: "
                    f"expected ({len(self.regime_names)},) for {list(self.regime_names)}",
                    field="regime",
                )
        key = self._next_key
        self._next_key += 1
        self._items[key] = replace(experience, features=features, regime=regime)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
            self.evicted += 1
        return key

    def resolve(self, key: int, outcome: Outcome) -> bool:
        """Set the outcome of the experience ``key``.

        Returns
        -------
        bool
            False when the experience was already evicted (nothing to resolve), else True.

        """
        experience = self._items.get(key)
        if experience is None:
            return False
        self._items[key] = replace(experience, outcome=outcome)
        return True

    def pending(self) -> list[int]:
        """Return the keys of unresolved experiences, oldest first."""
        return [k for k, e in self._items.items() if e.outcome is None]

    def resolved(self) -> list[Experience]:
        """Return the resolved experiences, oldest first."""
        return [e for e in self._items.values() if e.outcome is not None]

    def feature_matrix(self, last: int | None = None) -> np.ndarray:
        """Return the features of the last ``last`` experiences (all when None) as an ``(n, k)`` matrix."""
        items = list(self._items.values())
        if last is not None:
            items = items[-last:] if last > 0 else []
        if not items:
            return np.empty((0, len(self.feature_names)))
        return np.vstack([e.features for e in items])

    def sample(
        self,
        n: int,
        *,
        seed: int | np.random.Generator,
        prioritized: bool = False,
        alpha: float = 0.6,
        beta: float = 0.4,
        with_replacement: bool = True,
        before_ts: int | None = None,
    ) -> ExperienceSample:
        """Draw ``n`` resolved experiences, uniformly or by priority ``|error|^alpha``.

        Parameters
        ----------
        n : int
            Sample size.
        seed : int or np.random.Generator
            Seed (or generator) of the draw.
        prioritized : bool, default False
            Sample with ``P(i)`` from :func:`prioritized_probabilities`; otherwise uniformly.
        alpha, beta : float
            Prioritization and importance-correction exponents.
        with_replacement : bool, default True
            Draw with replacement.
        before_ts : int, optional
            Draw only from experiences whose decision time is before this (UNIX ns).

        Returns
        -------
        ExperienceSample
            The drawn experiences, their keys, importance weights (all 1 for uniform sampling) and
            sampling probabilities.

        Raises
        ------
        DataError
            If no experience is resolved yet.
        ConfigError
            If ``n < 1``, ``alpha < 0`` or ``beta`` outside [0, 1].

        """
        if n < 1:
            raise ConfigError(f"sample size n={n} is invalid: set n >= 1")
        if alpha < 0 or not 0.0 <= beta <= 1.0:
            raise ConfigError(f"alpha={alpha}, beta={beta}: expected alpha >= 0 and beta in [0, 1]")
        keys = np.array(
            [
                k
                for k, e in self._items.items()
                if e.outcome is not None and (before_ts is None or e.ts_event < before_ts)
            ],
            dtype=np.int64,
        )
        if keys.size == 0:
            where = "" if before_ts is None else f" before {before_ts}"
            raise DataError(f"the experience buffer has no resolved experience{where} to sample")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        if prioritized:
            errors = np.array([self._items[int(k)].error for k in keys])
            probs = prioritized_probabilities(errors, alpha)
        else:
            probs = np.full(keys.size, 1.0 / keys.size)
        idx = rng.choice(keys.size, size=n, replace=with_replacement, p=probs)
        all_weights = importance_weights(probs, beta) if prioritized else np.ones(keys.size)
        chosen = keys[idx]
        return ExperienceSample(
            experiences=tuple(self._items[int(k)] for k in chosen),
            keys=chosen,
            weights=all_weights[idx],
            probabilities=probs[idx],
        )

    def to_frame(self) -> pd.DataFrame:
        """Return the buffer as a DataFrame, one row per experience (features as ``feature:<name>``)."""
        rows = []
        for key, e in self._items.items():
            o = e.outcome
            rows.append(
                {
                    "key": key,
                    "ts_event": e.ts_event,
                    "instrument_id": e.instrument_id,
                    "direction": e.direction,
                    "probability": e.probability,
                    "confidence": e.confidence,
                    "horizon_bars": e.horizon_bars,
                    "model_version": e.model_version,
                    "entry_close": e.entry_close,
                    "resolved": o is not None,
                    "forward_return": math.nan if o is None else o.forward_return,
                    "pnl": math.nan if o is None else o.pnl,
                    "n_fills": 0 if o is None else o.n_fills,
                    "ts_resolved": 0 if o is None else o.ts_resolved,
                    **{
                        _FEATURE_PREFIX + n: float(v)
                        for n, v in zip(self.feature_names, e.features, strict=True)
                    },
                    **{
                        _REGIME_PREFIX + n: math.nan if e.regime is None else float(v)
                        for n, v in zip(self.regime_names, _or_nan(e.regime, self.regime_names), strict=True)
                    },
                }
            )
        columns = [
            "key", "ts_event", "instrument_id", "direction", "probability", "confidence", "horizon_bars",
            "model_version", "entry_close", "resolved", "forward_return", "pnl", "n_fills", "ts_resolved",
            *[_FEATURE_PREFIX + n for n in self.feature_names],
            *[_REGIME_PREFIX + n for n in self.regime_names],
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=columns)

    def save(self, path: str | Path) -> Path:
        """Write the buffer to a Parquet file atomically (the old file stays until the new one is complete).

        The capacity, feature names and next key travel in the file's metadata.
        """
        table = pa.Table.from_pandas(self.to_frame(), preserve_index=False)
        meta = {
            "capacity": self.capacity,
            "feature_names": list(self.feature_names),
            "regime_names": list(self.regime_names),
            "next_key": self._next_key,
            "evicted": self.evicted,
        }
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), _META_KEY: json.dumps(meta).encode()}
        )
        return atomic_write(Path(path), lambda tmp: pq.write_table(table, tmp))

    @classmethod
    def load(cls, path: str | Path, capacity: int | None = None) -> ExperienceBuffer:
        """Read a buffer written by :meth:`save`.

        Parameters
        ----------
        path : str or Path
            The Parquet file.
        capacity : int, optional
            A new capacity (the saved one when omitted); the oldest experiences beyond it are evicted.

        Raises
        ------
        DataError
            If the file is missing, unreadable or not an experience buffer.

        """
        path = Path(path)
        if not path.is_file():
            raise DataError("experience buffer file not found", file=str(path))
        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several types on corrupt files
            raise DataError(f"cannot read the experience buffer: {exc}", file=str(path)) from exc
        raw = (table.schema.metadata or {}).get(_META_KEY)
        if raw is None:
            raise DataError("not an experience buffer (no nautilus_ai.experience metadata)", file=str(path))
        meta = json.loads(raw)
        buffer = cls(
            int(capacity if capacity is not None else meta["capacity"]),
            meta["feature_names"],
            meta.get("regime_names", []),
        )
        frame = table.to_pandas()
        feature_columns = [_FEATURE_PREFIX + n for n in buffer.feature_names]
        missing = [c for c in feature_columns if c not in frame.columns]
        if missing:
            raise DataError(f"experience buffer lacks feature columns {missing}", file=str(path))
        features = frame[feature_columns].to_numpy(dtype=np.float64)
        regime_columns = [_REGIME_PREFIX + n for n in buffer.regime_names]
        missing = [c for c in regime_columns if c not in frame.columns]
        if missing:
            raise DataError(f"experience buffer lacks regime columns {missing}", file=str(path))
        regimes = frame[regime_columns].to_numpy(dtype=np.float64) if regime_columns else None
        for i, row in enumerate(frame.itertuples(index=False)):
            outcome = (
                Outcome(float(row.forward_return), float(row.pnl), int(row.n_fills), int(row.ts_resolved))
                if bool(row.resolved)
                else None
            )
            buffer._items[int(row.key)] = Experience(
                ts_event=int(row.ts_event),
                instrument_id=str(row.instrument_id),
                features=features[i].copy(),
                direction=int(row.direction),
                probability=float(row.probability),
                confidence=float(row.confidence),
                horizon_bars=int(row.horizon_bars),
                model_version=str(row.model_version),
                entry_close=float(row.entry_close),
                outcome=outcome,
                regime=None if regimes is None else regimes[i].copy(),
            )
        buffer._next_key = int(meta["next_key"])
        buffer.evicted = int(meta.get("evicted", 0))
        while len(buffer._items) > buffer.capacity:
            buffer._items.popitem(last=False)
            buffer.evicted += 1
        return buffer


def _or_nan(values: np.ndarray | None, names: Sequence[str]) -> np.ndarray:
    return np.full(len(names), np.nan) if values is None else values
