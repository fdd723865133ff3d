"""The model registry: content-addressed, immutable model artifacts with a SQLite index.

Layout under ``root``::

    artifacts/<sha256>/model.bin    the model's to_bytes() (see nautilus_ai.learning.artifacts)
    artifacts/<sha256>/meta.json    the record of the first registration of these bytes
    index.sqlite                    one row per version (authoritative for status and metadata)

A version id is ``f"{name}-{sha256[:12]}"`` of the artifact bytes, so registering the same model
under the same name twice is idempotent. Files are written to a temporary file in the same
directory, fsynced and linked into place (never replacing an existing file); the index row is
inserted only after the artifact is in place. Nothing is ever deleted or overwritten; only a
version's ``status`` changes. Several processes may register into one root at the same time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

import nautilus_ai
from nautilus_ai.errors import ConfigError, ModelError
from nautilus_ai.learning.artifacts import ModelArtifact, load_model

ModelStatus = Literal["candidate", "champion", "archived"]
"""Life-cycle state of a registered version."""

_STATUSES: tuple[str, ...] = get_args(ModelStatus)
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SQLITE_TIMEOUT_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    version_id    TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    spec_hash     TEXT NOT NULL,
    feature_names TEXT NOT NULL,
    train_start   TEXT NOT NULL,
    train_end     TEXT NOT NULL,
    seed          INTEGER NOT NULL,
    params        TEXT NOT NULL,
    metrics       TEXT NOT NULL,
    status        TEXT NOT NULL,
    parent        TEXT,
    code_version  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS models_name ON models (name, created_at);
"""

_COLUMNS: tuple[str, ...] = (
    "version_id",
    "name",
    "created_at",
    "sha256",
    "spec_hash",
    "feature_names",
    "train_start",
    "train_end",
    "seed",
    "params",
    "metrics",
    "status",
    "parent",
    "code_version",
)


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
        Hash of the ``FeatureSpec`` the model was trained on.
    feature_names : tuple[str, ...]
        Training feature names, in column order.
    train_start, train_end : str
        The training data window.
    seed : int
        The training seed.
    params : dict
        The training parameters.
    metrics : dict
        Validation metrics (out-of-sample).
    status : str
        ``"candidate"``, ``"champion"`` or ``"archived"``.
    parent : str or None
        Version id this model was derived from (retraining, fine-tuning).
    code_version : str
        nautilus-ai version (and git commit) that trained the model.

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

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-ready dict."""
        data = dataclasses.asdict(self)
        data["feature_names"] = list(self.feature_names)
        return data


class ModelRegistry:
    """Versioned model artifacts under one root directory.

    Parameters
    ----------
    root : Path
        Registry directory; created when missing.

    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.artifacts_dir = self.root / "artifacts"
        self.index_path = self.root / "index.sqlite"
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.executescript(_SCHEMA)

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
            raise ConfigError(f"parent version {parent!r} is not registered in {self.root}")
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

        placeholders = ", ".join("?" * len(_COLUMNS))
        with self._connect() as conn:
            conn.execute(
                f"INSERT OR IGNORE INTO models ({', '.join(_COLUMNS)}) VALUES ({placeholders})",
                _record_to_row(record),
            )
        return version_id

    def set_status(self, version_id: str, status: ModelStatus) -> None:
        """Change a version's status.

        Promoting a version to ``champion`` archives the previous champion of the same name in the
        same transaction, so a name has at most one champion.

        Parameters
        ----------
        version_id : str
            The version to change.
        status : {"candidate", "champion", "archived"}
            The new status.

        Raises
        ------
        ConfigError
            If ``status`` is not one of the allowed values.
        ModelError
            If ``version_id`` is not registered.

        """
        if status not in _STATUSES:
            raise ConfigError(f"model status {status!r} is invalid: use one of {list(_STATUSES)}")
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT name FROM models WHERE version_id = ?", (version_id,)).fetchone()
            if row is None:
                raise ModelError(self._unknown_message(version_id, conn))
            if status == "champion":
                conn.execute(
                    "UPDATE models SET status = 'archived' "
                    "WHERE name = ? AND status = 'champion' AND version_id != ?",
                    (row[0], version_id),
                )
            conn.execute("UPDATE models SET status = ? WHERE version_id = ?", (status, version_id))

    # -- reading ----------------------------------------------------------------------------------

    def get(self, version_id: str) -> ModelRecord:
        """Return the record of one version.

        Raises
        ------
        ModelError
            If ``version_id`` is not registered.

        """
        record = self._fetch(version_id)
        if record is None:
            with self._connect() as conn:
                raise ModelError(self._unknown_message(version_id, conn))
        return record

    def list(self, name: str | None = None) -> list[ModelRecord]:
        """Return every version (of one name when given), oldest first."""
        query = f"SELECT {', '.join(_COLUMNS)} FROM models"
        args: tuple[str, ...] = ()
        if name is not None:
            query += " WHERE name = ?"
            args = (name,)
        query += " ORDER BY created_at, version_id"
        with self._connect() as conn:
            return [_row_to_record(row) for row in conn.execute(query, args).fetchall()]

    def champion(self, name: str) -> ModelRecord | None:
        """Return the champion version of ``name``, or None when there is none."""
        for record in self.list(name):
            if record.status == "champion":
                return record
        return None

    def artifact_path(self, version_id: str) -> Path:
        """Return the path of a version's ``model.bin``."""
        return self.artifacts_dir / self.get(version_id).sha256 / "model.bin"

    def load(self, version_id: str) -> Any:
        """Load a version after checking its artifact's SHA-256.

        Raises
        ------
        ModelError
            If the version is unknown, or its artifact is missing, corrupted or unreadable.

        """
        record = self.get(version_id)
        path = self.artifacts_dir / record.sha256 / "model.bin"
        data = self._verify(path, record.sha256, version_id)
        try:
            return load_model(data)
        except ModelError as exc:
            raise ModelError(f"model version {version_id!r} at {path} cannot be loaded: {exc}") from exc

    # -- internals --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.index_path, timeout=_SQLITE_TIMEOUT_S, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(_SQLITE_TIMEOUT_S * 1000)}")
            yield conn
            if conn.in_transaction:
                conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    def _fetch(self, version_id: str) -> ModelRecord | None:
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM models WHERE version_id = ?", (version_id,)
            ).fetchone()
        return None if row is None else _row_to_record(row)

    def _unknown_message(self, version_id: str, conn: sqlite3.Connection) -> str:
        known = [r[0] for r in conn.execute("SELECT version_id FROM models ORDER BY created_at DESC LIMIT 5")]
        hint = f"latest versions: {known}" if known else "the registry is empty"
        return f"model version {version_id!r} is not registered in {self.root} ({hint})"

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
    for key in ("feature_names", "params", "metrics"):
        data[key] = json.dumps(data[key], sort_keys=True)
    return tuple(data[column] for column in _COLUMNS)


def _row_to_record(row: tuple[Any, ...]) -> ModelRecord:
    data = dict(zip(_COLUMNS, row, strict=True))
    data["feature_names"] = tuple(json.loads(data["feature_names"]))
    data["params"] = json.loads(data["params"])
    data["metrics"] = json.loads(data["metrics"])
    return ModelRecord(**data)
