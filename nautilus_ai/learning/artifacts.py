"""Model artifacts: what the registry stores, and how bytes are turned back into a model.

Every model class of nautilus-ai serializes itself with ``to_bytes()`` to bytes whose first line
is a format header such as ``nautilus-ai/direction-classifier/1``, and rebuilds itself with
the classmethod ``from_bytes``. :func:`load_model` reads the header and dispatches to the class
that owns it, so the registry can hold any of them (a single stage-1 model, a regime model, a
whole staged signal model) without pickle.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from nautilus_ai.errors import ModelError

_LOADERS: dict[bytes, str] = {
    b"nautilus-ai/direction-classifier/": "nautilus_ai.learning.model:DirectionClassifier",
    b"nautilus-ai/staged-model/": "nautilus_ai.learning.staged:StagedModel",
    b"nautilus-ai/sequence-classifier/": "nautilus_ai.learning.sequence:SequenceClassifier",
    b"nautilus-ai/xgboost-classifier/": "nautilus_ai.learning.estimators:XGBoostDirectionClassifier",
    b"nautilus-ai/random-forest-classifier/": "nautilus_ai.learning.forest:RandomForestDirectionClassifier",
    b"nautilus-ai/meta-model/": "nautilus_ai.learning.meta:MetaModel",
    b"nautilus-ai/regime-model/": "nautilus_ai.learning.regime_models:RegimeModel",
}
"""Header prefix (the header line without its version number) → ``module:Class`` that loads it."""


@runtime_checkable
class ModelArtifact(Protocol):
    """What the registry needs of a fitted model."""

    @property
    def feature_names_(self) -> Sequence[str]:
        """The feature columns the model reads, in order."""
        ...

    @property
    def spec_hash_(self) -> str:
        """The FeatureSpec fingerprint of the training features."""
        ...

    def to_bytes(self) -> bytes:
        """Return the model's serialized bytes, starting with its format header line."""
        ...


def register_loader(header_prefix: bytes, target: str) -> None:
    """Make :func:`load_model` load bytes starting with ``header_prefix`` with ``target``.

    Parameters
    ----------
    header_prefix : bytes
        The start of the format header, e.g. ``b"nautilus-ai/xgboost-classifier/"``.
    target : str
        ``"module:Class"`` whose ``from_bytes`` classmethod rebuilds the model.

    """
    _LOADERS[bytes(header_prefix)] = target


def header_of(data: bytes) -> bytes:
    """Return the first line of ``data`` (at most 128 bytes), without the newline."""
    return bytes(data[:128]).split(b"\n", 1)[0]


def load_model(data: bytes) -> Any:
    """Rebuild a model from its serialized bytes, dispatching on the format header.

    Raises
    ------
    ModelError
        If no known model class owns the header, or the class refuses the bytes.

    """
    for prefix in sorted(_LOADERS, key=len, reverse=True):
        if data.startswith(prefix):
            module_name, _, class_name = _LOADERS[prefix].partition(":")
            cls = getattr(importlib.import_module(module_name), class_name)
            return cls.from_bytes(data)
    known = ", ".join(sorted(p.decode() for p in _LOADERS))
    raise ModelError(f"unknown model format {header_of(data)!r}: expected bytes starting with one of {known}")
