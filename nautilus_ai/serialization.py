"""Pickle-free artifact framing shared by every serialized model and policy (a pure module).

Every artifact starts with a format header line unique to its class (``nautilus-ai/<name>/<n>``, a
newline) followed by one line of canonical JSON (sorted keys, no spaces, no NaN):

* :func:`pack_document` / :func:`unpack_document` -- the JSON line is the whole artifact (after the
  header);
* :func:`pack` / :func:`unpack` -- the JSON metadata line is followed by a binary or text payload
  (a LightGBM model, an XGBoost JSON model, a tensor table's bytes);
* :func:`pack_tensors` / :func:`unpack_tensors` -- named float arrays as one payload of raw
  little-endian float32 bytes plus a table ``[name, shape, byte offset, byte size]`` per array,
  stored in the metadata (the layout of the torch models' ``state_dict``).

The module imports nothing of ours but :mod:`nautilus_ai.errors`, so every layer may use it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from nautilus_ai.errors import ModelError

TensorTable = list[list[Any]]
"""One ``[name, shape, byte offset, byte size]`` row per tensor, in payload order."""

_TENSOR_DTYPE = "<f4"


def json_line(document: Mapping[str, Any], *, default: Callable[[Any], Any] | None = None) -> bytes:
    """Return ``document`` as one line of canonical JSON (sorted keys, compact, no NaN) and a newline.

    Parameters
    ----------
    document : Mapping[str, Any]
        JSON values.
    default : callable, optional
        ``json.dumps``'s ``default`` hook for values JSON does not know.

    Returns
    -------
    bytes
        UTF-8 bytes ending in one newline; the same document always gives the same bytes.

    """
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False, default=default)
    return text.encode("utf-8") + b"\n"


def check_header(data: bytes, header: bytes, what: str) -> None:
    """Check that ``data`` starts with the format ``header`` of a ``what``.

    Raises
    ------
    ModelError
        If it does not; the message shows the expected and the actual first bytes.

    """
    if not data.startswith(header):
        raise ModelError(
            f"not a serialized {what} (expected header {header!r}, got {bytes(data[: len(header)])!r})"
        )


def pack(
    header: bytes,
    meta: Mapping[str, Any],
    payload: bytes = b"",
    *,
    default: Callable[[Any], Any] | None = None,
) -> bytes:
    """Return ``header``, ``meta`` as one line of canonical JSON, then ``payload``.

    Parameters
    ----------
    header : bytes
        The format header line, newline included.
    meta : Mapping[str, Any]
        The metadata (JSON values).
    payload : bytes, default b""
        What follows the metadata line.
    default : callable, optional
        ``json.dumps``'s ``default`` hook.

    Returns
    -------
    bytes
        The artifact.

    """
    return header + json_line(meta, default=default) + payload


def unpack(data: bytes, header: bytes, what: str) -> tuple[dict[str, Any], bytes]:
    """Split :func:`pack` output into the metadata and the payload.

    Parameters
    ----------
    data : bytes
        The artifact.
    header : bytes
        The expected format header line.
    what : str
        The class name used in error messages.

    Returns
    -------
    tuple[dict[str, Any], bytes]
        The metadata and the (unchecked) payload.

    Raises
    ------
    ModelError
        If the header is wrong (``not a serialized <what> ...``) or the metadata line is not
        terminated or not a JSON object (``serialized <what> is corrupted: ...``).

    """
    check_header(data, header, what)
    meta_line, sep, payload = bytes(data[len(header) :]).partition(b"\n")
    try:
        if not sep:
            raise ValueError("metadata line is not terminated")
        meta = _json_object(meta_line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"serialized {what} is corrupted: {exc}") from exc
    return meta, payload


def pack_document(header: bytes, document: Mapping[str, Any]) -> bytes:
    """Return ``header`` and ``document`` as one line of canonical JSON (the whole artifact)."""
    return header + json_line(document)


def unpack_document(data: bytes, header: bytes, what: str) -> dict[str, Any]:
    """Read :func:`pack_document` output.

    Everything after the header must be one JSON object (surrounding white space allowed).

    Raises
    ------
    ModelError
        If the header is wrong (``not a serialized <what> ...``) or the rest is not a JSON object
        (``serialized <what> is corrupted: ...``).

    """
    check_header(data, header, what)
    try:
        return _json_object(data[len(header) :])
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"serialized {what} is corrupted: {exc}") from exc


def pack_tensors(state: Mapping[str, Any]) -> tuple[TensorTable, bytes]:
    """Return the tensor table and the raw little-endian float32 bytes of named arrays.

    Parameters
    ----------
    state : Mapping[str, np.ndarray or torch.Tensor]
        Arrays by name, in payload order: NumPy arrays, or torch tensors (a ``state_dict``), which
        are detached and copied to the CPU first (torch itself is not imported here).

    Returns
    -------
    tuple[TensorTable, bytes]
        ``[name, shape, byte offset, byte size]`` per array, and the concatenated bytes.

    """
    table: TensorTable = []
    blobs: list[bytes] = []
    offset = 0
    for name, values in state.items():
        if hasattr(values, "detach"):  # a torch tensor
            values = values.detach().cpu().contiguous().numpy()
        array = np.asarray(values).astype(_TENSOR_DTYPE, copy=False)
        blob = array.tobytes()
        table.append([name, list(array.shape), offset, len(blob)])
        blobs.append(blob)
        offset += len(blob)
    return table, b"".join(blobs)


def unpack_tensors(table: TensorTable, payload: bytes) -> dict[str, np.ndarray]:
    """Rebuild the named float32 arrays of :func:`pack_tensors` output.

    Parameters
    ----------
    table : TensorTable
        The tensor table.
    payload : bytes
        The raw bytes.

    Returns
    -------
    dict[str, np.ndarray]
        Native-endian float32 arrays (writable copies) by name, in table order; wrap them with
        ``torch.from_numpy`` to load a ``state_dict``.

    Raises
    ------
    ValueError
        If a tensor runs past the payload or the table does not account for every byte (callers
        turn it into their ``corrupted`` :class:`~nautilus_ai.errors.ModelError`).

    """
    state: dict[str, np.ndarray] = {}
    for name, shape, offset, size in table:
        if offset + size > len(payload):
            raise ValueError(f"tensor {name!r} runs past the end of the data")
        array = np.frombuffer(payload, dtype=_TENSOR_DTYPE, count=size // 4, offset=offset)
        state[name] = array.reshape(shape).astype(np.float32)
    if sum(int(size) for *_, size in table) != len(payload):
        raise ValueError("tensor data length does not match the tensor table")
    return state


def _json_object(text: bytes) -> dict[str, Any]:
    document = json.loads(text.decode("utf-8"))
    if not isinstance(document, dict):
        raise ValueError("expected a JSON object")
    return document
