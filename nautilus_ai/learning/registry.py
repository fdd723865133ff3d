"""The model registry: content-addressed, immutable model artifacts with a SQLite or PostgreSQL index.

Layout under ``root``::

    artifacts/<sha256>/model.bin    the model's to_bytes() (see nautilus_ai.learning.artifacts)
    artifacts/<sha256>/meta.json    the record of the first registration of these bytes
    index.sqlite                    the default index (see nautilus_ai.learning.registry_index)

The index (SQLite by default, PostgreSQL when ``index_url`` is ``postgresql://...``) holds one row
per version, authoritative for status and metadata, and an append-only event log of every status
change, promotion (gated or forced) and rollback, with who, when, from, to and why.

A version id is ``f"{name}-{sha256[:12]}"`` of the artifact bytes, so registering the same model
under the same name twice is idempotent. Files are written to a temporary file in the same
directory, fsynced and linked into place (never replacing an existing file); the index row is
inserted only after the artifact is in place. Nothing is ever deleted or overwritten: only a
version's ``status`` changes, and metrics are only ever added. Several processes may register into
one registry at the same time.

Serving and corrupted artifacts: :meth:`ModelRegistry.load` and :meth:`ModelRegistry.load_champion`
check the artifact's SHA-256 and refuse corrupted bytes with a :class:`~nautilus_ai.errors.ModelError`
naming the version and the path. Refusing changes no status: a server that already holds the
champion in memory keeps serving it, and the operator restores the file or rolls back.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import functools
import getpass
import hashlib
import json
import logging
import math
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

import nautilus_ai
from nautilus_ai.errors import ConfigError, ModelError
from nautilus_ai.learning.artifacts import ModelArtifact, load_model
from nautilus_ai.learning.promotion import GateResult, PromotionGate, check_promotion
from nautilus_ai.learning.registry_index import (
    EVENT_COLUMNS,
    MODEL_COLUMNS,
    IndexCursor,
    RegistryIndex,
    open_index,
)

ModelStatus = Literal["candidate", "champion", "archived"]
"""Life-cycle state of a registered version."""

MetricsKind = Literal["validation", "out_of_sample"]
"""Which metrics :meth:`ModelRegistry.record_metrics` adds to."""

_STATUSES: tuple[str, ...] = get_args(ModelStatus)
_METRICS_KINDS: tuple[str, ...] = get_args(MetricsKind)
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SELECT_MODELS = f"SELECT {', '.join(MODEL_COLUMNS)} FROM {{models}}"
_SELECT_EVENTS = f"SELECT {', '.join(EVENT_COLUMNS)} FROM {{events}}"
_log = logging.getLogger(__name__)


class PromotionRefused(ModelError):  # noqa: N818 -- the name the operator reads
    """The promotion gate refused a candidate; ``reasons`` lists the failed checks.

    Parameters
    ----------
    version_id : str
        The refused candidate.
    result : GateResult
        The gate's verdict.

    """

    def __init__(self, version_id: str, result: GateResult) -> None:
        self.version_id = version_id
        self.result = result
        self.reasons = result.reasons
        super().__init__(
            f"promotion of {version_id!r} refused by the gate: {'; '.join(result.reasons)}. "
            "Record better out-of-sample metrics, relax the gate, or force it with a reason."
        )


class MetricsConflict(ConfigError):  # noqa: N818 -- reads as what happened
    """A metric is already recorded for a version with a different value (nothing was written)."""


@dataclasses.dataclass(frozen=True)
class ModelRecord:
    """One registered model version.

    Parameters
    ----------
    version_id : str
        ``f"{name}-{sha256[:12]}"``.
    name : str
        Model family name (for example ``"aapl-direction"``).
    created_at : str
        ISO-8601 UTC time of the registration.
    sha256 : str
        Hex SHA-256 of the artifact bytes.
    spec_hash : str
        Hash of the ``FeatureSpec`` the model was trained on (the feature fingerprint).
    feature_names : tuple[str, ...]
        Training feature names, in column order.
    train_start, train_end : str
        The training data window.
    seed : int
        The training seed.
    params : dict
        The training parameters.
    metrics : dict
        Validation metrics given at registration (in-sample and held-out classification metrics).
    status : str
        ``"candidate"``, ``"champion"`` or ``"archived"``.
    parent : str or None
        Version id this model was derived from (retraining, fine-tuning).
    code_version : str
        nautilus-ai version (and git commit) that trained the model.
    oos_metrics : dict
        Out-of-sample backtest metrics recorded after registration (Sharpe, PSR, DSR, ...).

    """

    version_id: str
    name: str
    created_at: str
    sha256: str
    spec_hash: str
    feature_names: tuple[str, ...]
    train_start: str
    train_end: str
    seed: int
    params: dict[str, Any]
    metrics: dict[str, Any]
    status: str
    parent: str | None
    code_version: str
    oos_metrics: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-ready dict."""
        data = dataclasses.asdict(self)
        data["feature_names"] = list(self.feature_names)
        return data

    def evaluation_metrics(self) -> dict[str, Any]:
        """Return the metrics the promotion gate reads: validation metrics, then out-of-sample ones.

        An out-of-sample value wins over a validation value of the same name.
        """
        return {**self.metrics, **self.oos_metrics}


@dataclasses.dataclass(frozen=True)
class RegistryEvent:
    """One entry of the registry's event log.

    Parameters
    ----------
    event_id : int
        Increasing id (the log's order).
    name : str
        Model family name.
    version_id : str
        The version whose status changed.
    action : str
        ``"set_status"``, ``"promote"``, ``"force_promote"`` or ``"rollback"``.
    from_status, to_status : str or None
        The version's status before and after.
    previous_version : str or None
        For promotions and rollbacks: the champion that was replaced (archived), if any.
    actor : str
        Who did it (``$USER`` unless given).
    at : str
        ISO-8601 UTC time.
    reason : str or None
        Why (required for forced promotions).
    forced : bool
        True for a promotion that bypassed a failing gate.

    """

    event_id: int
    name: str
    version_id: str
    action: str
    from_status: str | None
    to_status: str | None
    previous_version: str | None
    actor: str
    at: str
    reason: str | None
    forced: bool

    def to_dict(self) -> dict[str, Any]:
        """Return the event as a JSON-ready dict."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class MetricDelta:
    """One metric of two versions.

    Parameters
    ----------
    kind : str
        ``"validation"`` or ``"out_of_sample"``.
    key : str
        Metric name (nested metrics are flattened with ``.``).
    a, b : Any
        The values (None when a side lacks the metric).
    delta : float or None
        ``b - a`` when both are finite numbers.

    """

    kind: str
    key: str
    a: Any
    b: Any
    delta: float | None


@dataclasses.dataclass(frozen=True)
class RegistryDiff:
    """What differs between two versions (:meth:`ModelRegistry.diff`).

    Parameters
    ----------
    a, b : ModelRecord
        The two versions.
    params : dict[str, tuple[Any, Any]]
        Parameters that differ, name to ``(a, b)`` (None for a missing side).
    metrics : tuple[MetricDelta, ...]
        Every metric of either version, with deltas.
    same_features : bool
        True when both have the same feature fingerprint and feature names.
    features_added, features_removed : tuple[str, ...]
        Feature names in ``b`` but not ``a``, and in ``a`` but not ``b``.
    lineage : str
        How the two are related (``"b is a descendant of a (2 generations)"``, ``"unrelated"``, ...).

    """

    a: ModelRecord
    b: ModelRecord
    params: dict[str, tuple[Any, Any]]
    metrics: tuple[MetricDelta, ...]
    same_features: bool
    features_added: tuple[str, ...]
    features_removed: tuple[str, ...]
    lineage: str

    def to_dict(self) -> dict[str, Any]:
        """Return the diff as a JSON-ready dict."""
        return {
            "a": self.a.version_id,
            "b": self.b.version_id,
            "params": {k: list(v) for k, v in self.params.items()},
            "metrics": [dataclasses.asdict(m) for m in self.metrics],
            "feature_fingerprint": [self.a.spec_hash, self.b.spec_hash],
            "same_features": self.same_features,
            "features_added": list(self.features_added),
            "features_removed": list(self.features_removed),
            "training_window": [
                [self.a.train_start, self.a.train_end],
                [self.b.train_start, self.b.train_end],
            ],
            "seed": [self.a.seed, self.b.seed],
            "code_version": [self.a.code_version, self.b.code_version],
            "lineage": self.lineage,
        }


class ModelRegistry:
    """Versioned model artifacts under one root directory, indexed in SQLite or PostgreSQL.

    Parameters
    ----------
    root : Path
        Registry directory holding the artifacts; created when missing.
    index_url : str or Path, optional
        Where the index lives: None for ``root/index.sqlite``, a path or ``sqlite:///path`` for
        another SQLite file, ``postgresql://user@host:port/database`` for PostgreSQL.
    schema : str, optional
        PostgreSQL schema of the index tables (default ``nautilus_ai_registry``); ignored by SQLite.

    """

    def __init__(
        self, root: Path | str, index_url: str | Path | None = None, *, schema: str | None = None
    ) -> None:
        self.root = Path(root)
        self.artifacts_dir = self.root / "artifacts"
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        self.index: RegistryIndex = open_index(index_url, self.root, schema)

    @property
    def index_location(self) -> str:
        """Return where the index lives (a file path, or a URL and schema)."""
        return self.index.location

    # -- writing ----------------------------------------------------------------------------------

    def register(
        self,
        model: ModelArtifact,
        *,
        name: str,
        train_start: str,
        train_end: str,
        seed: int,
        params: Mapping[str, Any],
        metrics: Mapping[str, Any] | None = None,
        parent: str | None = None,
        code_version: str | None = None,
        created_at: datetime | str | None = None,
    ) -> str:
        """Store a fitted model and index it as a ``candidate``.

        Parameters
        ----------
        model : ModelArtifact
            The fitted model (any nautilus-ai model class: it has ``to_bytes``,
            ``feature_names_`` and ``spec_hash_``).
        name : str
            Model family name: letters, digits, ``_``, ``.`` and ``-``.
        train_start, train_end : str
            The training data window (ISO-8601 times).
        seed : int
            The training seed.
        params : Mapping[str, Any]
            The training parameters (JSON-serializable).
        metrics : Mapping[str, Any], optional
            Validation metrics (JSON-serializable).
        parent : str, optional
            Version id this model derives from; must be registered.
        code_version : str, optional
            Defaults to :func:`default_code_version`.
        created_at : datetime or str, optional
            Registration time; defaults to now (UTC). Kept out of the artifact bytes.

        Returns
        -------
        str
            The version id. Registering identical bytes under the same name again returns the
            same id and keeps the first registration's metadata.

        Raises
        ------
        ConfigError
            If ``name`` is invalid or ``parent`` is not registered.
        ModelError
            If the model is not fitted or an existing artifact with the same hash is corrupted.

        """
        if not _NAME_PATTERN.match(name):
            raise ConfigError(
                f"model name {name!r} is invalid: use letters, digits, '_', '.' and '-', starting with a "
                "letter or digit"
            )
        if parent is not None and self._fetch(parent) is None:
            raise ConfigError(f"parent version {parent!r} is not registered in {self.index_location}")
        data = model.to_bytes()
        sha256 = hashlib.sha256(data).hexdigest()
        version_id = f"{name}-{sha256[:12]}"
        record = ModelRecord(
            version_id=version_id,
            name=name,
            created_at=_iso_utc(created_at),
            sha256=sha256,
            spec_hash=model.spec_hash_,
            feature_names=tuple(model.feature_names_),
            train_start=str(train_start),
            train_end=str(train_end),
            seed=int(seed),
            params=_json_roundtrip(params, "params"),
            metrics=_json_roundtrip(metrics or {}, "metrics"),
            status="candidate",
            parent=parent,
            code_version=code_version if code_version is not None else default_code_version(),
        )

        artifact_dir = self.artifacts_dir / sha256
        artifact_dir.mkdir(parents=True, exist_ok=True)
        model_path = artifact_dir / "model.bin"
        if not _write_once(model_path, data):
            self._verify(model_path, sha256, version_id)
        meta = json.dumps(record.to_dict(), sort_keys=True, indent=2).encode("utf-8")
        _write_once(artifact_dir / "meta.json", meta)

        placeholders = ", ".join("?" * len(MODEL_COLUMNS))
        with self.index.transaction(write=True) as cursor:
            cursor.execute(
                f"INSERT INTO {{models}} ({', '.join(MODEL_COLUMNS)}) VALUES ({placeholders}) "
                "ON CONFLICT (version_id) DO NOTHING",
                _record_to_row(record),
            )
        return version_id

    def record_metrics(
        self, version_id: str, metrics: Mapping[str, Any], kind: MetricsKind = "out_of_sample"
    ) -> ModelRecord:
        """Add metrics to a registered version (for example the fold's out-of-sample backtest).

        Metrics are merged into the version's existing ones. Recording a key again with the same
        value is a no-op; recording a different value for an existing key raises (nothing is
        overwritten).

        Parameters
        ----------
        version_id : str
            The version.
        metrics : Mapping[str, Any]
            Metric name to value (JSON-serializable; numpy scalars are accepted).
        kind : {"out_of_sample", "validation"}
            ``"out_of_sample"`` adds to ``oos_metrics``, ``"validation"`` to ``metrics``.

        Returns
        -------
        ModelRecord
            The updated record.

        Raises
        ------
        MetricsConflict
            If a key already holds a different value (a :class:`ConfigError`).
        ConfigError
            If ``kind`` is unknown or a value is not JSON-serializable.
        ModelError
            If ``version_id`` is not registered.

        """
        if kind not in _METRICS_KINDS:
            raise ConfigError(f"metrics kind {kind!r} is invalid: use one of {list(_METRICS_KINDS)}")
        new = _json_roundtrip(metrics, "metrics")
        column = "oos_metrics" if kind == "out_of_sample" else "metrics"
        with self.index.transaction(write=True) as cursor:
            rows = cursor.execute(f"SELECT {column} FROM {{models}} WHERE version_id = ?", (version_id,))
            if not rows:
                raise ModelError(self._unknown_message(version_id, cursor))
            current = json.loads(rows[0][0])
            conflicts = [
                f"{key}: recorded {current[key]!r}, new {value!r}"
                for key, value in new.items()
                if key in current and not _same_value(current[key], value)
            ]
            if conflicts:
                raise MetricsConflict(
                    f"{kind} metrics of model version {version_id!r} already hold different values "
                    f"({'; '.join(conflicts)}); recorded metrics are never overwritten"
                )
            merged = {**current, **new}
            cursor.execute(
                f"UPDATE {{models}} SET {column} = ? WHERE version_id = ?",
                (json.dumps(merged, sort_keys=True), version_id),
            )
        return self.get(version_id)

    def set_status(
        self,
        version_id: str,
        status: ModelStatus,
        *,
        actor: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Change a version's status, ungated, and log it.

        Making a version ``champion`` archives the previous champion of the same name in the same
        transaction, so a name has at most one champion. Use :meth:`promote` for a gated promotion.

        Parameters
        ----------
        version_id : str
            The version to change.
        status : {"candidate", "champion", "archived"}
            The new status.
        actor : str, optional
            Who changes it; defaults to :func:`default_actor`.
        reason : str, optional
            Why, for the event log.

        Raises
        ------
        ConfigError
            If ``status`` is not one of the allowed values.
        ModelError
            If ``version_id`` is not registered.

        """
        if status not in _STATUSES:
            raise ConfigError(f"model status {status!r} is invalid: use one of {list(_STATUSES)}")
        with self.index.transaction(write=True) as cursor:
            record = self._fetch_in(cursor, version_id)
            previous = None
            if status == "champion":
                champion = self._champion_in(cursor, record.name)
                if champion is not None and champion.version_id != version_id:
                    previous = champion.version_id
                    self._update_status(cursor, previous, "archived")
            if record.status == status and previous is None:
                return
            self._update_status(cursor, version_id, status)
            self._log_event(
                cursor, record, "set_status", status, previous, actor=actor, reason=reason, forced=False
            )

    def promote(
        self,
        version_id: str,
        gate: PromotionGate | None = None,
        *,
        force: bool = False,
        reason: str | None = None,
        actor: str | None = None,
    ) -> GateResult:
        """Make a version champion if it passes the promotion gate, in one transaction.

        The gate (:func:`~nautilus_ai.learning.promotion.check_promotion`) reads the candidate's
        :meth:`ModelRecord.evaluation_metrics` and the current champion's. On pass the current
        champion is archived and the version becomes champion; both changes and the event are
        written in one transaction, under the index's writer lock, so the champion cannot change
        between the check and the update.

        Parameters
        ----------
        version_id : str
            The version to promote (a candidate or an archived version).
        gate : PromotionGate, optional
            The thresholds; defaults to ``PromotionGate()`` (beat the champion's Sharpe).
        force : bool
            Promote even when the gate fails; requires ``reason``. Logged as forced (event log
            and a warning) with the failed checks appended to the reason.
        reason : str, optional
            Why, for the event log.
        actor : str, optional
            Who promotes; defaults to :func:`default_actor`.

        Returns
        -------
        GateResult
            The gate's verdict (``passed`` is False for a forced promotion past a failing gate).

        Raises
        ------
        PromotionRefused
            If the gate fails and ``force`` is False.
        ConfigError
            If ``force`` is set without a reason, or the version is already champion.
        ModelError
            If ``version_id`` is not registered.

        """
        gate = gate if gate is not None else PromotionGate()
        if force and not (reason and reason.strip()):
            raise ConfigError("a forced promotion needs a reason: pass reason=... (CLI: --reason)")
        with self.index.transaction(write=True) as cursor:
            record = self._fetch_in(cursor, version_id)
            if record.status == "champion":
                raise ConfigError(f"model version {version_id!r} is already the champion of {record.name!r}")
            champion = self._champion_in(cursor, record.name)
            result = check_promotion(
                record.evaluation_metrics(),
                None if champion is None else champion.evaluation_metrics(),
                gate,
            )
            forced = not result.passed
            if forced and not force:
                raise PromotionRefused(version_id, result)
            event_reason = reason
            if forced:
                event_reason = f"{reason} [forced past: {'; '.join(result.reasons)}]"
                _log.warning(
                    "forced promotion of %s by %s: %s", version_id, actor or default_actor(), event_reason
                )
            previous = None if champion is None else champion.version_id
            if previous is not None:
                self._update_status(cursor, previous, "archived")
            self._update_status(cursor, version_id, "champion")
            self._log_event(
                cursor,
                record,
                "force_promote" if forced else "promote",
                "champion",
                previous,
                actor=actor,
                reason=event_reason,
                forced=forced,
            )
        return result

    def rollback(
        self,
        name: str,
        to: str | None = None,
        *,
        reason: str | None = None,
        actor: str | None = None,
    ) -> str:
        """Make the previous champion (or ``to``) champion again and archive the current one.

        The previous champion comes from the event log: champions form a stack (each promotion
        pushes, each rollback pops), so rolling back twice goes two champions back, not forth
        and back. Ungated (a rollback restores a version that served before) and logged.

        Parameters
        ----------
        name : str
            Model family name.
        to : str, optional
            The version to restore; defaults to the champion before the current one.
        reason : str, optional
            Why, for the event log.
        actor : str, optional
            Who rolls back; defaults to :func:`default_actor`.

        Returns
        -------
        str
            The version that is champion now.

        Raises
        ------
        ConfigError
            If there is no previous champion in the log (and no ``to``), or ``to`` belongs to
            another name or is already champion.
        ModelError
            If ``to`` is not registered.

        """
        with self.index.transaction(write=True) as cursor:
            current = self._champion_in(cursor, name)
            if to is None:
                stack = champion_stack(self._events_in(cursor, name))
                if current is not None and stack and stack[-1] == current.version_id:
                    stack.pop()
                if not stack:
                    raise ConfigError(
                        f"model {name!r} has no previous champion in the event log of "
                        f"{self.index_location}: pass the version to restore (CLI: --to)"
                    )
                to = stack[-1]
            target = self._fetch_in(cursor, to)
            if target.name != name:
                raise ConfigError(f"model version {to!r} belongs to {target.name!r}, not {name!r}")
            if target.status == "champion":
                raise ConfigError(f"model version {to!r} is already the champion of {name!r}")
            previous = None if current is None else current.version_id
            if previous is not None:
                self._update_status(cursor, previous, "archived")
            self._update_status(cursor, to, "champion")
            self._log_event(
                cursor, target, "rollback", "champion", previous, actor=actor, reason=reason, forced=False
            )
        return to

    # -- reading ----------------------------------------------------------------------------------

    def get(self, version_id: str) -> ModelRecord:
        """Return the record of one version.

        Raises
        ------
        ModelError
            If ``version_id`` is not registered.

        """
        with self.index.transaction() as cursor:
            return self._fetch_in(cursor, version_id)

    def list(self, name: str | None = None) -> list[ModelRecord]:
        """Return every version (of one name when given), oldest first."""
        query = _SELECT_MODELS
        args: tuple[str, ...] = ()
        if name is not None:
            query += " WHERE name = ?"
            args = (name,)
        query += " ORDER BY created_at, version_id"
        with self.index.transaction() as cursor:
            return [_row_to_record(row) for row in cursor.execute(query, args)]

    def champion(self, name: str) -> ModelRecord | None:
        """Return the champion version of ``name``, or None when there is none."""
        with self.index.transaction() as cursor:
            return self._champion_in(cursor, name)

    def history(self, name: str | None = None) -> builtins.list[RegistryEvent]:
        """Return the event log (of one name when given), oldest first."""
        with self.index.transaction() as cursor:
            return self._events_in(cursor, name)

    def diff(self, a: str, b: str) -> RegistryDiff:
        """Compare two versions: parameters, metrics with deltas, features, window, code, lineage.

        Raises
        ------
        ModelError
            If either version is not registered.

        """
        with self.index.transaction() as cursor:
            rec_a = self._fetch_in(cursor, a)
            rec_b = self._fetch_in(cursor, b)
            lineage = _lineage(rec_a.version_id, rec_b.version_id, lambda v: self._parent_in(cursor, v))
        keys = sorted(set(rec_a.params) | set(rec_b.params))
        params = {
            k: (rec_a.params.get(k), rec_b.params.get(k))
            for k in keys
            if not _same_value(rec_a.params.get(k), rec_b.params.get(k))
            or (k in rec_a.params) != (k in rec_b.params)
        }
        metrics = metric_deltas("validation", rec_a.metrics, rec_b.metrics) + metric_deltas(
            "out_of_sample", rec_a.oos_metrics, rec_b.oos_metrics
        )
        return RegistryDiff(
            a=rec_a,
            b=rec_b,
            params=params,
            metrics=metrics,
            same_features=rec_a.spec_hash == rec_b.spec_hash and rec_a.feature_names == rec_b.feature_names,
            features_added=tuple(f for f in rec_b.feature_names if f not in rec_a.feature_names),
            features_removed=tuple(f for f in rec_a.feature_names if f not in rec_b.feature_names),
            lineage=lineage,
        )

    def artifact_path(self, version_id: str) -> Path:
        """Return the path of a version's ``model.bin``."""
        return self.artifacts_dir / self.get(version_id).sha256 / "model.bin"

    def load(self, version_id: str) -> Any:
        """Load a version after checking its artifact's SHA-256.

        Raises
        ------
        ModelError
            If the version is unknown, or its artifact is missing, corrupted or unreadable; the
            message names the version and the artifact path.

        """
        record = self.get(version_id)
        path = self.artifacts_dir / record.sha256 / "model.bin"
        data = self._verify(path, record.sha256, version_id)
        try:
            return load_model(data)
        except ModelError as exc:
            raise ModelError(f"model version {version_id!r} at {path} cannot be loaded: {exc}") from exc

    def load_champion(self, name: str) -> tuple[ModelRecord, Any]:
        """Load the champion of ``name`` after checking its artifact's SHA-256.

        A corrupted or missing champion artifact raises and changes no status: the champion stays
        champion, and a server that already holds a loaded model should keep serving it (and
        alert) rather than fall back to another version on its own.

        Returns
        -------
        tuple[ModelRecord, Any]
            The champion's record and the loaded model.

        Raises
        ------
        ModelError
            If ``name`` has no champion, or its artifact is missing, corrupted or unreadable.

        """
        record = self.champion(name)
        if record is None:
            raise ModelError(f"model {name!r} has no champion in {self.index_location}")
        return record, self.load(record.version_id)

    # -- internals --------------------------------------------------------------------------------

    def _fetch(self, version_id: str) -> ModelRecord | None:
        with self.index.transaction() as cursor:
            rows = cursor.execute(f"{_SELECT_MODELS} WHERE version_id = ?", (version_id,))
        return _row_to_record(rows[0]) if rows else None

    def _fetch_in(self, cursor: IndexCursor, version_id: str) -> ModelRecord:
        rows = cursor.execute(f"{_SELECT_MODELS} WHERE version_id = ?", (version_id,))
        if not rows:
            raise ModelError(self._unknown_message(version_id, cursor))
        return _row_to_record(rows[0])

    @staticmethod
    def _parent_in(cursor: IndexCursor, version_id: str) -> str | None:
        rows = cursor.execute("SELECT parent FROM {models} WHERE version_id = ?", (version_id,))
        return rows[0][0] if rows else None

    @staticmethod
    def _champion_in(cursor: IndexCursor, name: str) -> ModelRecord | None:
        rows = cursor.execute(
            f"{_SELECT_MODELS} WHERE name = ? AND status = 'champion' ORDER BY created_at, version_id",
            (name,),
        )
        return _row_to_record(rows[0]) if rows else None

    @staticmethod
    def _events_in(cursor: IndexCursor, name: str | None) -> builtins.list[RegistryEvent]:
        query = _SELECT_EVENTS
        args: tuple[str, ...] = ()
        if name is not None:
            query, args = query + " WHERE name = ?", (name,)
        return [_row_to_event(row) for row in cursor.execute(query + " ORDER BY event_id", args)]

    @staticmethod
    def _update_status(cursor: IndexCursor, version_id: str, status: str) -> None:
        cursor.execute("UPDATE {models} SET status = ? WHERE version_id = ?", (status, version_id))

    @staticmethod
    def _log_event(
        cursor: IndexCursor,
        record: ModelRecord,
        action: str,
        to_status: str,
        previous_version: str | None,
        *,
        actor: str | None,
        reason: str | None,
        forced: bool,
    ) -> None:
        cursor.execute(
            "INSERT INTO {events} (name, version_id, action, from_status, to_status, previous_version, "
            "actor, at, reason, forced) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.name,
                record.version_id,
                action,
                record.status,
                to_status,
                previous_version,
                actor if actor else default_actor(),
                datetime.now(UTC).isoformat(),
                reason,
                int(forced),
            ),
        )

    def _unknown_message(self, version_id: str, cursor: IndexCursor) -> str:
        rows = cursor.execute("SELECT version_id FROM {models} ORDER BY created_at DESC LIMIT 5")
        known = [r[0] for r in rows]
        hint = f"latest versions: {known}" if known else "the registry is empty"
        return f"model version {version_id!r} is not registered in {self.index_location} ({hint})"

    @staticmethod
    def _verify(path: Path, sha256: str, version_id: str) -> bytes:
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise ModelError(f"artifact of model version {version_id!r} is missing: {path}") from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise ModelError(
                f"artifact of model version {version_id!r} is corrupted: {path} has sha256 {actual}, "
                f"the registry recorded {sha256}. Restore the file from a backup or re-register the model."
            )
        return data


def record_walkforward_metrics(
    registry: ModelRegistry,
    folds: Sequence[Mapping[str, Any]],
    overfitting: Mapping[str, Any] | None = None,
    *,
    run_id: str | None = None,
) -> dict[str, bool]:
    """Record each walk-forward fold's out-of-sample backtest metrics on the fold's model version.

    Each fold's ``metrics`` (Sharpe, PSR, drawdown, ... of its out-of-sample test window; scalars
    only) go to its ``model_version`` as ``out_of_sample`` metrics, with the run's deflated Sharpe
    ratio as ``dsr`` (``overfitting["dsr"]``: the DSR of the stitched strategy over all folds, the
    only DSR a walk-forward has) and ``oos_run_id``. A version that already holds different
    out-of-sample metrics (the same model bytes backtested by an earlier run with other settings)
    keeps them: the conflict is logged and the version is reported as not recorded.

    Parameters
    ----------
    registry : ModelRegistry
        The registry the walk-forward registered its models in.
    folds : Sequence[Mapping[str, Any]]
        ``WalkForwardResult.folds`` (each with ``model_version`` and ``metrics``).
    overfitting : Mapping[str, Any], optional
        ``WalkForwardResult.metrics["overfitting"]`` (for ``dsr``).
    run_id : str, optional
        The walk-forward run id, recorded as ``oos_run_id``.

    Returns
    -------
    dict[str, bool]
        Version id to True when its metrics were recorded, False when earlier ones were kept.

    """
    dsr = None if overfitting is None else overfitting.get("dsr")
    out: dict[str, bool] = {}
    for fold in folds:
        version = fold["model_version"]
        metrics = {
            key: value
            for key, value in dict(fold.get("metrics") or {}).items()
            if value is None or isinstance(value, str | int | float) or hasattr(value, "item")
        }
        if dsr is not None:
            metrics["dsr"] = dsr
        if run_id is not None:
            metrics["oos_run_id"] = run_id
        try:
            registry.record_metrics(version, metrics)
        except MetricsConflict as conflict:
            _log.warning("keeping the earlier out-of-sample metrics of %s: %s", version, conflict)
            out[version] = False
        else:
            out[version] = True
    return out


def champion_stack(events: list[RegistryEvent]) -> list[str]:
    """Return the champions of one name, oldest first, as the event log leaves them.

    Promotions (gated, forced, or ``set_status`` to champion) push; a rollback pops the version it
    replaced and pushes its target unless that is already on top; demoting the champion through
    ``set_status`` pops it. The last element is the current champion (if there is one).

    Parameters
    ----------
    events : list[RegistryEvent]
        The event log of one name, in order.

    """
    stack: list[str] = []
    for event in events:
        if event.action == "rollback":
            if event.previous_version is not None and stack and stack[-1] == event.previous_version:
                stack.pop()
            if not stack or stack[-1] != event.version_id:
                stack.append(event.version_id)
        elif event.to_status == "champion":
            if event.from_status != "champion":
                stack.append(event.version_id)
        elif event.from_status == "champion" and stack and stack[-1] == event.version_id:
            stack.pop()
    return stack


def metric_deltas(kind: str, a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[MetricDelta, ...]:
    """Return every metric of ``a`` or ``b`` (nested dicts flattened with ``.``) with ``b - a``."""
    flat_a, flat_b = _flatten(a), _flatten(b)
    out = []
    for key in sorted(set(flat_a) | set(flat_b)):
        va, vb = flat_a.get(key), flat_b.get(key)
        delta = float(vb) - float(va) if _is_number(va) and _is_number(vb) else None  # type: ignore[arg-type]
        out.append(MetricDelta(kind=kind, key=key, a=va, b=vb, delta=delta))
    return tuple(out)


def default_actor() -> str:
    """Return who acts on the registry: ``$USER``, else the login name, else ``"unknown"``."""
    user = os.environ.get("USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


@functools.cache
def default_code_version() -> str:
    """Return ``nautilus_ai.__version__``, plus ``+g<commit>`` when the package is in a git checkout."""
    version = nautilus_ai.__version__
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(nautilus_ai.__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return version
    commit = result.stdout.strip()
    return f"{version}+g{commit}" if commit else version


def _lineage(a: str, b: str, parent_of: Any) -> str:
    if a == b:
        return "same version"
    ancestors_a = _ancestors(a, parent_of)
    ancestors_b = _ancestors(b, parent_of)
    if a in ancestors_b:
        n = ancestors_b.index(a) + 1
        return f"b is a descendant of a ({n} generation{'s' if n > 1 else ''})"
    if b in ancestors_a:
        n = ancestors_a.index(b) + 1
        return f"a is a descendant of b ({n} generation{'s' if n > 1 else ''})"
    common = next((v for v in ancestors_a if v in ancestors_b), None)
    if common is not None:
        return f"share the ancestor {common}"
    return "unrelated"


def _ancestors(version_id: str, parent_of: Any) -> list[str]:
    out: list[str] = []
    current = parent_of(version_id)
    while current is not None and current not in out:
        out.append(current)
        current = parent_of(current)
    return out


def _flatten(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(float(value))


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b, strict=True))
    if _is_number(a) and _is_number(b):
        return float(a) == float(b)
    return type(a) is type(b) and bool(a == b)


def _write_once(path: Path, data: bytes) -> bool:
    """Atomically create ``path`` with ``data``; return False (writing nothing) if it already exists."""
    if path.exists():
        return False
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp_name, path)  # atomic and never replaces an existing file
        except FileExistsError:
            return False
        except OSError:  # no hard links on this file system: the last-moment check is all we have
            if path.exists():
                return False
            os.replace(tmp_name, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
    _fsync_dir(path.parent)
    return True


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not supported on every platform / file system
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _iso_utc(value: datetime | str | None) -> str:
    if value is None:
        return datetime.now(UTC).isoformat()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ConfigError(f"created_at {value!r} is naive: pass a timezone-aware datetime (UTC)")
        return value.astimezone(UTC).isoformat()
    return str(value)


def _json_roundtrip(value: Mapping[str, Any], what: str) -> dict[str, Any]:
    try:
        return json.loads(json.dumps(dict(value), sort_keys=True, default=_json_scalar))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model {what} must be JSON-serializable: {exc}") from exc


def _json_scalar(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"{value!r} of type {type(value).__name__} is not JSON-serializable")


def _record_to_row(record: ModelRecord) -> tuple[Any, ...]:
    data = record.to_dict()
    for key in ("feature_names", "params", "metrics", "oos_metrics"):
        data[key] = json.dumps(data[key], sort_keys=True)
    return tuple(data[column] for column in MODEL_COLUMNS)


def _row_to_record(row: tuple[Any, ...]) -> ModelRecord:
    data = dict(zip(MODEL_COLUMNS, row, strict=True))
    data["feature_names"] = tuple(json.loads(data["feature_names"]))
    for key in ("params", "metrics", "oos_metrics"):
        data[key] = json.loads(data[key])
    return ModelRecord(**data)


def _row_to_event(row: tuple[Any, ...]) -> RegistryEvent:
    data = dict(zip(EVENT_COLUMNS, row, strict=True))
    data["event_id"] = int(data["event_id"])
    data["forced"] = bool(data["forced"])
    return RegistryEvent(**data)
