"""Sequence models: P(forward return > 0) from the last N feature vectors (and the regime).

Two pieces:

* :func:`make_sequences` is a pure kernel that turns time-ordered feature rows into one window per
  row, made of the ``window`` rows that end at that row (the row itself and the ones before it,
  never later ones), without crossing instrument groups.
* :class:`SequenceClassifier` is a torch LSTM or Transformer-encoder classifier over those windows,
  with the same contract as :class:`~nautilus_ai.learning.model.DirectionClassifier`: ``__init__``
  only stores (and checks) parameters, :meth:`~SequenceClassifier.fit` returns ``self``, learned
  state ends in ``_``, the feature fingerprint (names and ``FeatureSpec`` hash) travels with the
  model and :meth:`~SequenceClassifier.check_features` refuses live features that differ.

The regime enters as ordinary input columns: the caller appends the regime probabilities (one
column per regime, e.g. from the ``RegimeLabel`` of each bar) to every feature row *before*
calling :func:`make_sequences`, and includes their names in ``feature_names``. Passing
``regime_names`` to :meth:`~SequenceClassifier.fit` records which of the columns are regime
columns (``regime_names_``); the model treats them like any other feature.

Training is deterministic on CPU: the same data, parameters and seed give identical predictions
and byte-identical :meth:`~SequenceClassifier.to_bytes` output (within one torch version; training
and inference run on one torch thread whatever the machine). On CUDA, determinism is best effort
(deterministic algorithms are requested with ``warn_only=True``). The serialized form is pickle-free: a header
line, one line of JSON metadata and the raw little-endian float32 bytes of every tensor.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, get_args

import numpy as np
import torch
from torch import nn

from nautilus_ai.errors import ConfigError, ModelError
from nautilus_ai.learning.model_checks import check_binary_labels, check_feature_match, check_unique_names
from nautilus_ai.serialization import check_header, pack, pack_tensors, unpack, unpack_tensors

FORMAT_HEADER = b"nautilus-ai/sequence-classifier/1\n"
"""First line of every serialized model; bump the trailing number when the layout changes."""

SequenceKind = Literal["lstm", "transformer"]
"""The network that reads a window."""

Pooling = Literal["last", "mean"]
"""How the Transformer turns the encoded window into one vector: last token or mean of tokens."""

VALIDATION_FRACTION = 0.2
"""Share of the training rows, taken from the end in time order, used for early stopping when no
validation window is given."""

_KINDS: tuple[str, ...] = get_args(SequenceKind)
_POOLINGS: tuple[str, ...] = get_args(Pooling)
_PREDICT_CHUNK = 4096
_GRADIENT_CLIP_NORM = 1.0


# -- kernel -----------------------------------------------------------------------------------------


def make_sequences(
    X: np.ndarray,  # noqa: N803 (scikit-learn convention)
    window: int,
    group: np.ndarray | None = None,
    *,
    dtype: type[np.floating[Any]] = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Build, for every row, the window of the last ``window`` rows of its group ending at that row.

    Window ``t`` holds rows ``t - window + 1, ..., t`` of the same group, oldest first, so it uses
    only past and present rows: changing a row after ``t`` never changes window ``t``. Rows are
    assumed to be in time order within each group; groups may be interleaved (e.g. several
    instruments sorted by time), and a window never crosses from one group into another.

    Rows that have fewer than ``window - 1`` earlier rows in their group are left-padded with NaN
    and flagged invalid in the mask. :class:`SequenceClassifier` maps NaN to 0 (the training mean)
    after standardization, so padded windows can be scored, but they are usually dropped from
    training with ``X_seq[valid]``.

    Parameters
    ----------
    X : np.ndarray
        Float matrix of shape (n_rows, n_features), rows in time order (within each group).
    window : int
        Number of rows per window, at least 1.
    group : np.ndarray, optional
        Group key of every row, shape (n_rows,) (e.g. the instrument id). One group when omitted.
    dtype : numpy float type, default np.float32
        Dtype of the returned windows (float32 halves the memory of the ``window``-fold copy).

    Returns
    -------
    tuple[np.ndarray, np.ndarray]
        The windows, shape (n_rows, window, n_features), and the boolean mask of rows with a full
        history, shape (n_rows,).

    Raises
    ------
    ModelError
        If ``X`` is not 2-dimensional, ``window`` is not a positive integer or ``group`` has the
        wrong length.

    """
    matrix = np.asarray(X, dtype=dtype)
    if matrix.ndim != 2:
        raise ModelError(f"make_sequences: X must be 2-dimensional (n_rows, n_features), got {matrix.shape}")
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
        raise ModelError(f"make_sequences: window must be a positive integer, got {window!r}")
    n_rows, n_features = matrix.shape
    window = int(window)
    if group is None:
        codes = np.zeros(n_rows, dtype=np.int64)
    else:
        keys = np.asarray(group)
        if keys.shape != (n_rows,):
            raise ModelError(f"make_sequences: group has shape {keys.shape}, expected ({n_rows},) to match X")
        _, codes = np.unique(keys, return_inverse=True)
    windows = np.full((n_rows, window, n_features), np.nan, dtype=dtype)
    valid = np.zeros(n_rows, dtype=bool)
    pad = np.full((window - 1, n_features), np.nan, dtype=dtype)
    for code in np.unique(codes):
        rows = np.flatnonzero(codes == code)
        padded = np.concatenate([pad, matrix[rows]], axis=0)
        # sliding_window_view gives (n_group, n_features, window); window axis last, oldest first.
        view = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)
        windows[rows] = np.swapaxes(view, 1, 2)
        valid[rows] = np.arange(rows.size) >= window - 1
    return windows, valid


# -- networks ---------------------------------------------------------------------------------------


class _LSTMNet(nn.Module):
    """LSTM over the window; the last layer's final hidden state feeds a linear head."""

    def __init__(self, n_features: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            n_features,
            hidden,
            num_layers=layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return one logit per window of ``x`` (batch, window, features)."""
        _, (hidden_state, _) = self.lstm(x)
        return self.head(self.dropout(hidden_state[-1])).squeeze(-1)


class _TransformerNet(nn.Module):
    """Linear embedding + learned positions, a pre-norm Transformer encoder, pooling, linear head."""

    def __init__(
        self,
        n_features: int,
        window: int,
        hidden: int,
        layers: int,
        heads: int,
        dropout: float,
        pooling: str,
    ) -> None:
        super().__init__()
        self.pooling = pooling
        self.embed = nn.Linear(n_features, hidden)
        self.position = nn.Parameter(torch.empty(1, window, hidden))
        nn.init.normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(
            hidden,
            heads,
            dim_feedforward=2 * hidden,
            dropout=dropout,
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            layer, layers, norm=nn.LayerNorm(hidden), enable_nested_tensor=False
        )
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return one logit per window of ``x`` (batch, window, features)."""
        encoded = self.encoder(self.embed(x) + self.position)
        pooled = encoded[:, -1] if self.pooling == "last" else encoded.mean(dim=1)
        return self.head(pooled).squeeze(-1)


# -- the estimator ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TrainingHistory:
    """Losses of every training epoch and the epoch whose weights the model kept.

    Parameters
    ----------
    train_loss : tuple[float, ...]
        Mean (sample-weighted) training BCE of every epoch, in training mode (with dropout).
    val_loss : tuple[float, ...]
        Mean (unweighted) validation BCE after every epoch, in evaluation mode.
    best_epoch : int
        0-based index of the epoch with the lowest validation loss; its weights are restored.
    stopped_early : bool
        True when training stopped because the validation loss did not improve for ``patience``
        epochs, False when it ran ``max_epochs``.

    """

    train_loss: tuple[float, ...]
    val_loss: tuple[float, ...]
    best_epoch: int
    stopped_early: bool

    @property
    def best_val_loss(self) -> float:
        """The validation loss of the restored epoch."""
        return self.val_loss[self.best_epoch]


@dataclasses.dataclass(frozen=True)
class EpochReport:
    """What a progress callback receives after every epoch.

    Parameters
    ----------
    epoch : int
        0-based epoch index.
    max_epochs : int
        The epoch budget.
    train_loss : float
        Mean training loss of the epoch.
    val_loss : float
        Validation loss after the epoch.
    best_epoch : int
        The best epoch so far.

    """

    epoch: int
    max_epochs: int
    train_loss: float
    val_loss: float
    best_epoch: int


ProgressCallback = Callable[[EpochReport], None]
"""Called after every training epoch."""


class SequenceClassifier:
    """LSTM or Transformer-encoder classifier of the forward-return direction over feature windows.

    Parameters
    ----------
    kind : {"lstm", "transformer"}, default "lstm"
        ``"lstm"``: the last hidden state of an LSTM feeds a linear head. ``"transformer"``: a
        linear embedding plus learned positional encodings, a pre-norm ``nn.TransformerEncoder``
        (``batch_first``), then ``pooling`` and a linear head.
    window : int, default 20
        Number of feature rows per input window (see :func:`make_sequences`).
    hidden : int, default 32
        LSTM hidden size / Transformer model width.
    layers : int, default 1
        Number of LSTM or encoder layers.
    heads : int, default 2
        Attention heads (Transformer only); must divide ``hidden``.
    dropout : float, default 0.1
        Dropout probability in [0, 1).
    lr : float, default 1e-3
        AdamW learning rate.
    weight_decay : float, default 0.0
        AdamW weight decay.
    batch_size : int, default 128
        Training mini-batch size.
    max_epochs : int, default 30
        Epoch budget.
    patience : int, default 5
        Stop after this many epochs without a lower validation loss.
    seed : int, default 0
        Seed of weight initialization, dropout and batch shuffling.
    device : str, default "cpu"
        ``"cpu"`` (reproducible bit for bit), ``"cuda"``/``"cuda:N"`` (raises
        :class:`~nautilus_ai.errors.ConfigError` at fit time when CUDA is not available) or
        ``"auto"`` (CUDA when available, else CPU).
    pooling : {"last", "mean"}, default "last"
        Transformer pooling: the encoding of the newest row, or the mean over the window.

    Attributes
    ----------
    net_ : torch.nn.Module
        The trained network (on ``device_``), in evaluation mode.
    device_ : torch.device
        The device the network lives on.
    feature_names_ : tuple[str, ...]
        Feature names, in column order, including the regime columns.
    regime_names_ : tuple[str, ...]
        The names among ``feature_names_`` that are regime-probability columns.
    spec_hash_ : str
        Hash of the ``FeatureSpec`` that produced the training features.
    mean_, scale_ : np.ndarray
        Per-feature standardization fitted on the training rows only (NaN ignored).
    history_ : TrainingHistory
        Per-epoch losses and the restored best epoch.
    n_train_, n_val_ : int
        Number of training and validation windows.

    Raises
    ------
    ConfigError
        If a parameter is out of range (the message names it and the allowed values).

    """

    def __init__(
        self,
        kind: SequenceKind = "lstm",
        window: int = 20,
        hidden: int = 32,
        layers: int = 1,
        heads: int = 2,
        dropout: float = 0.1,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        batch_size: int = 128,
        max_epochs: int = 30,
        patience: int = 5,
        seed: int = 0,
        device: str = "cpu",
        pooling: Pooling = "last",
    ) -> None:
        self.kind = kind
        self.window = window
        self.hidden = hidden
        self.layers = layers
        self.heads = heads
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.seed = seed
        self.device = device
        self.pooling = pooling
        self._check_params()

    # -- parameters -------------------------------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        """Return the model parameters (everything but ``device``), as stored in the artifact."""
        return {
            "batch_size": int(self.batch_size),
            "dropout": float(self.dropout),
            "heads": int(self.heads),
            "hidden": int(self.hidden),
            "kind": str(self.kind),
            "layers": int(self.layers),
            "lr": float(self.lr),
            "max_epochs": int(self.max_epochs),
            "patience": int(self.patience),
            "pooling": str(self.pooling),
            "seed": int(self.seed),
            "weight_decay": float(self.weight_decay),
            "window": int(self.window),
        }

    def resolve_device(self) -> torch.device:
        """Return the torch device ``device`` names.

        Raises
        ------
        ConfigError
            If ``device`` asks for CUDA and CUDA is not available, or is not a known device.

        """
        return _resolve_device(self.device)

    # -- training ---------------------------------------------------------------------------------

    def fit(
        self,
        X_seq: np.ndarray,  # noqa: N803 (scikit-learn convention)
        y: np.ndarray,
        feature_names: Sequence[str],
        spec_hash: str,
        *,
        X_val: np.ndarray | None = None,  # noqa: N803 (scikit-learn convention)
        y_val: np.ndarray | None = None,
        sample_weight: np.ndarray | None = None,
        regime_names: Sequence[str] = (),
        progress: bool | ProgressCallback = False,
    ) -> SequenceClassifier:
        """Train on windows ``X_seq`` and direction labels ``y``, early-stopping on validation loss.

        The standardization (per-feature mean and standard deviation, NaN ignored) is fitted on
        the training windows only; after scaling, NaN and infinite values become 0. The loss is
        binary cross-entropy (weighted by ``sample_weight`` for training). After every epoch the
        validation loss is computed; training stops after ``patience`` epochs without
        improvement and the weights of the best epoch are restored.

        When no validation window is given, the last :data:`VALIDATION_FRACTION` (20 %) of the
        rows, in time order, are held out for early stopping and the rest is trained on. No
        purge gap is left between the two: with overlapping labels (horizon > 1 bar), pass an
        explicit purged ``X_val``/``y_val`` instead.

        Parameters
        ----------
        X_seq : np.ndarray
            Windows of shape (n, window, n_features), rows in time order (see
            :func:`make_sequences`); NaN marks a missing value.
        y : np.ndarray
            Labels in {0, 1} of shape (n,); both classes must be present in the training rows.
        feature_names : Sequence[str]
            Names of the feature columns, in order, including any regime-probability columns.
        spec_hash : str
            Hash of the ``FeatureSpec`` that produced the features.
        X_val : np.ndarray, optional
            Validation windows of shape (n_val, window, n_features); must come with ``y_val``.
        y_val : np.ndarray, optional
            Validation labels in {0, 1}.
        sample_weight : np.ndarray, optional
            Non-negative training weights of shape (n,), not all zero; they do not weight the
            validation loss.
        regime_names : Sequence[str], default ()
            Which of ``feature_names`` are regime-probability columns (recorded only).
        progress : bool or callable, default False
            True shows a transient rich progress bar; a callable receives an :class:`EpochReport`
            after every epoch.

        Returns
        -------
        SequenceClassifier
            ``self``, fitted.

        Raises
        ------
        ModelError
            If shapes, names or labels are invalid, or training diverges.
        ConfigError
            If ``device`` asks for CUDA and CUDA is not available.

        """
        self._check_params()
        device = self.resolve_device()
        names = _check_names(feature_names, regime_names)
        windows = self._as_windows(X_seq, len(names), "X_seq")
        labels = _as_labels(y, windows.shape[0], "y")
        weights = _as_weights(sample_weight, windows.shape[0])

        if (X_val is None) != (y_val is None):
            raise ModelError("fit: X_val and y_val must be given together (or neither)")
        if X_val is not None and y_val is not None:
            val_windows = self._as_windows(X_val, len(names), "X_val")
            val_labels = _as_labels(y_val, val_windows.shape[0], "y_val")
            if val_windows.shape[0] == 0:
                raise ModelError("fit: X_val is empty; pass at least one validation window or none")
        else:
            n_val = max(1, math.floor(VALIDATION_FRACTION * windows.shape[0]))
            if windows.shape[0] - n_val < 1:
                raise ModelError(
                    f"fit: {windows.shape[0]} window(s) are too few to carve a validation window; "
                    "pass more rows or an explicit X_val/y_val"
                )
            cut = windows.shape[0] - n_val
            windows, val_windows = windows[:cut], windows[cut:]
            labels, val_labels = labels[:cut], labels[cut:]
            weights = weights[:cut]
        if np.unique(labels).size < 2:
            raise ModelError(
                "fit: the training labels hold a single class; the training window needs both up and "
                "down labels"
            )
        if not weights.sum() > 0:
            raise ModelError("fit: sample_weight of the training rows sums to 0; give some rows weight")

        mean, scale = _fit_scaler(windows)
        x_train = torch.from_numpy(_scale(windows, mean, scale)).to(device)
        x_val = torch.from_numpy(_scale(val_windows, mean, scale)).to(device)
        y_train = torch.from_numpy(labels.astype(np.float32)).to(device)
        y_val_t = torch.from_numpy(val_labels.astype(np.float32)).to(device)
        w_train = torch.from_numpy((weights / weights.mean()).astype(np.float32)).to(device)

        with _seeded(int(self.seed), device):
            net = self._build_net(len(names)).to(device)
            history = self._train(net, x_train, y_train, w_train, x_val, y_val_t, progress)
        net.eval()

        self.net_ = net
        self.device_ = device
        self.feature_names_ = names
        self.regime_names_ = tuple(str(name) for name in regime_names)
        self.spec_hash_ = str(spec_hash)
        self.mean_ = mean
        self.scale_ = scale
        self.history_ = history
        self.n_train_ = int(windows.shape[0])
        self.n_val_ = int(val_windows.shape[0])
        return self

    def fine_tune(
        self,
        X_seq: np.ndarray,  # noqa: N803 (scikit-learn convention)
        y: np.ndarray,
        *,
        epochs: int = 5,
        lr: float | None = None,
        sample_weight: np.ndarray | None = None,
    ) -> SequenceClassifier:
        """Return a copy trained further from the current weights on new windows.

        The copy keeps the architecture and the standardization of the original training (so a
        window means the same to both models) and continues with AdamW at ``lr`` (default a tenth
        of the model's ``lr``) for at most ``epochs`` epochs, early-stopping on the last 20 % of
        the windows (in time order) and restoring the best epoch. ``self`` is not changed. The
        seed is the model's, so the same inputs give the same weights.

        Parameters
        ----------
        X_seq : np.ndarray
            Windows of shape (n, window, n_features), in time order.
        y : np.ndarray
            Labels in {0, 1}; both classes must be present in the training part.
        epochs : int, default 5
            Epoch budget of the fine-tuning.
        lr : float, optional
            Learning rate of the fine-tuning.
        sample_weight : np.ndarray, optional
            Non-negative training weights.

        Returns
        -------
        SequenceClassifier
            The fine-tuned copy (``history_`` holds the fine-tuning epochs).

        Raises
        ------
        ModelError
            If the model is not fitted, the windows are too few (fewer than 5) or hold one class.

        """
        self._fitted_net()
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ModelError(f"fine_tune: epochs={epochs!r} must be a positive integer")
        windows = self._as_windows(X_seq, len(self.feature_names_), "X_seq")
        labels = _as_labels(y, windows.shape[0], "y")
        weights = _as_weights(sample_weight, windows.shape[0])
        n_val = max(1, math.floor(VALIDATION_FRACTION * windows.shape[0]))
        cut = windows.shape[0] - n_val
        if cut < 4 or np.unique(labels[:cut]).size < 2:
            raise ModelError(
                f"fine_tune: {windows.shape[0]} window(s) with labels {np.unique(labels[:cut]).tolist()} "
                "in the training part: need at least 5 windows and both classes"
            )
        clone = SequenceClassifier.from_bytes(self.to_bytes(), device=str(self.device_))
        clone.lr = float(lr) if lr is not None else float(self.lr) / 10.0
        clone.max_epochs = int(epochs)
        device = clone.device_
        x_train = torch.from_numpy(_scale(windows[:cut], clone.mean_, clone.scale_)).to(device)
        x_val = torch.from_numpy(_scale(windows[cut:], clone.mean_, clone.scale_)).to(device)
        w = weights[:cut]
        with _seeded(int(clone.seed), device):
            clone.history_ = clone._train(
                clone.net_,
                x_train,
                torch.from_numpy(labels[:cut].astype(np.float32)).to(device),
                torch.from_numpy((w / w.mean()).astype(np.float32)).to(device),
                x_val,
                torch.from_numpy(labels[cut:].astype(np.float32)).to(device),
                False,
            )
        clone.net_.eval()
        clone.__dict__.pop("_net64", None)  # the float64 inference copy is rebuilt from the new weights
        clone.lr, clone.max_epochs = self.lr, self.max_epochs
        clone.n_train_, clone.n_val_ = int(cut), int(n_val)
        return clone

    def _train(
        self,
        net: nn.Module,
        x_train: torch.Tensor,
        y_train: torch.Tensor,
        w_train: torch.Tensor,
        x_val: torch.Tensor,
        y_val: torch.Tensor,
        progress: bool | ProgressCallback,
    ) -> TrainingHistory:
        optimizer = torch.optim.AdamW(
            net.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay)
        )
        loss_fn = nn.BCEWithLogitsLoss(reduction="none")
        shuffle = torch.Generator(device="cpu").manual_seed(int(self.seed))
        n_train = x_train.shape[0]
        train_losses: list[float] = []
        val_losses: list[float] = []
        best_loss = math.inf
        best_epoch = -1
        best_state: dict[str, torch.Tensor] | None = None
        stopped_early = False
        with _progress_reporter(progress, int(self.max_epochs)) as report:
            for epoch in range(int(self.max_epochs)):
                net.train()
                order = torch.randperm(n_train, generator=shuffle).to(x_train.device)
                total = 0.0
                for start in range(0, n_train, int(self.batch_size)):
                    batch = order[start : start + int(self.batch_size)]
                    losses = loss_fn(net(x_train[batch]), y_train[batch]) * w_train[batch]
                    optimizer.zero_grad(set_to_none=True)
                    losses.mean().backward()
                    nn.utils.clip_grad_norm_(net.parameters(), _GRADIENT_CLIP_NORM)
                    optimizer.step()
                    total += float(losses.detach().sum())
                train_losses.append(total / float(w_train.sum()))
                val_loss = _mean_loss(net, x_val, y_val)
                val_losses.append(val_loss)
                if val_loss < best_loss:
                    best_loss, best_epoch = val_loss, epoch
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                report(EpochReport(epoch, int(self.max_epochs), train_losses[-1], val_loss, best_epoch))
                if epoch - best_epoch >= int(self.patience):
                    stopped_early = True
                    break
        if best_state is None:
            raise ModelError(
                f"fit: training diverged (validation loss {val_losses}); lower lr (now {self.lr}) or "
                "check the features for extreme values"
            )
        net.load_state_dict(best_state)
        return TrainingHistory(tuple(train_losses), tuple(val_losses), best_epoch, stopped_early)

    # -- inference --------------------------------------------------------------------------------

    def predict_proba(self, X_seq: np.ndarray) -> np.ndarray:  # noqa: N803 (scikit-learn convention)
        """Return P(up) for every window of ``X_seq``.

        Parameters
        ----------
        X_seq : np.ndarray
            Windows of shape (n, window, n_features) in the order of ``feature_names_``.

        Returns
        -------
        np.ndarray
            Float64 probabilities of shape (n,).

        Raises
        ------
        ModelError
            If the model is not fitted or ``X_seq`` has the wrong shape.

        """
        net = self._inference_net()
        windows = self._as_windows(X_seq, len(self.feature_names_), "X_seq")
        scaled = _scale(windows, self.mean_, self.scale_, np.float64)
        out = np.empty(scaled.shape[0], dtype=np.float64)
        with torch.inference_mode(), _one_thread():
            for start in range(0, scaled.shape[0], _PREDICT_CHUNK):
                chunk = torch.from_numpy(scaled[start : start + _PREDICT_CHUNK]).to(self.device_)
                out[start : start + chunk.shape[0]] = torch.sigmoid(net(chunk)).cpu().numpy()
        return out

    def _inference_net(self) -> nn.Module:
        """Return a float64 copy of the trained network (cached), used for every prediction.

        Inference in double precision makes a window's probability independent of the batch it
        is computed in (float32 kernels round differently by batch size), so the batch path and
        the one-window live path agree to the last bits.
        """
        net = self._fitted_net()
        cached = getattr(self, "_net64", None)
        if cached is None or cached[0] is not net:
            double = copy.deepcopy(net).double().eval()
            cached = (net, double)
            self._net64 = cached
        return cached[1]

    def predict_proba_one(self, window_array: np.ndarray) -> float:
        """Return P(up) for one window (the live path: the last ``window`` feature vectors).

        Parameters
        ----------
        window_array : np.ndarray
            Float matrix of shape (window, n_features), oldest row first.

        Returns
        -------
        float
            The probability, equal to ``predict_proba(window_array[None])[0]``.

        Raises
        ------
        ModelError
            If the model is not fitted or ``window_array`` has the wrong shape.

        """
        matrix = np.asarray(window_array, dtype=np.float64)
        if matrix.ndim != 2:
            raise ModelError(
                f"predict_proba_one: expected one window of shape ({self.window}, n_features), "
                f"got shape {matrix.shape}"
            )
        return float(self.predict_proba(matrix[None])[0])

    def input_gradient(self, X_seq: np.ndarray, y: np.ndarray) -> np.ndarray:  # noqa: N803
        """Return the gradient of each window's loss with respect to its standardized inputs.

        The loss is the binary cross-entropy of window ``i`` against ``y[i]``, computed by the
        evaluation-mode float64 network (no dropout) on the standardized window
        ``z = (x - mean_) / scale_`` (NaN as 0, as in :meth:`predict_proba`). Adversarial examples
        step along its sign (:func:`nautilus_ai.learning.adversarial.perturb_sequences`).

        Parameters
        ----------
        X_seq : np.ndarray
            Windows of shape (n, window, n_features).
        y : np.ndarray
            Labels in {0, 1} of shape (n,).

        Returns
        -------
        np.ndarray
            ``d loss_i / d z_i``, float64 of shape (n, window, n_features).

        Raises
        ------
        ModelError
            If the model is not fitted, or the windows or labels have the wrong shape or values.

        """
        net = self._inference_net()
        windows = self._as_windows(X_seq, len(self.feature_names_), "X_seq")
        labels = _as_labels(y, windows.shape[0], "y")
        out = np.empty(windows.shape, dtype=np.float64)
        with _one_thread():
            for start in range(0, windows.shape[0], _PREDICT_CHUNK):
                scaled = _scale(windows[start : start + _PREDICT_CHUNK], self.mean_, self.scale_, np.float64)
                z = torch.from_numpy(scaled).to(self.device_).requires_grad_(True)
                target = torch.from_numpy(labels[start : start + _PREDICT_CHUNK]).to(self.device_)
                loss = nn.functional.binary_cross_entropy_with_logits(net(z), target, reduction="sum")
                (gradient,) = torch.autograd.grad(loss, z)
                out[start : start + scaled.shape[0]] = gradient.detach().cpu().numpy()
        return out

    def check_features(self, names: Sequence[str], spec_hash: str) -> None:
        """Check that live features match the ones the model was trained on.

        Parameters
        ----------
        names : Sequence[str]
            The live feature names (regime columns included), in value order.
        spec_hash : str
            The live ``FeatureSpec`` hash.

        Raises
        ------
        ModelError
            If the names (or their order) or the spec hash differ; the message shows both sides.

        """
        self._fitted_net()
        check_feature_match(
            self.feature_names_, self.spec_hash_, names, spec_hash, owner="the SequenceClassifier's"
        )

    # -- serialization ----------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Serialize the fitted model: a header line, one line of JSON metadata, raw tensor bytes.

        The metadata holds the parameters, fingerprint, standardization, training history and a
        table of the tensors (name, shape, byte offset); the tensors follow as little-endian
        float32. No pickle is involved.

        Returns
        -------
        bytes
            Deterministic bytes: the same fitted model always gives the same output.

        """
        net = self._fitted_net()
        tensors, blob = pack_tensors(net.state_dict())
        history = self.history_
        meta = {
            "feature_names": list(self.feature_names_),
            "history": {
                "best_epoch": history.best_epoch,
                "stopped_early": history.stopped_early,
                "train_loss": list(history.train_loss),
                "val_loss": list(history.val_loss),
            },
            "mean": [float(v) for v in self.mean_],
            "n_train": self.n_train_,
            "n_val": self.n_val_,
            "params": self.get_params(),
            "regime_names": list(self.regime_names_),
            "scale": [float(v) for v in self.scale_],
            "spec_hash": self.spec_hash_,
            "tensors": tensors,
            "torch_version": torch.__version__,
        }
        return pack(FORMAT_HEADER, meta, blob)

    @classmethod
    def from_bytes(cls, data: bytes, *, device: str = "cpu") -> SequenceClassifier:
        """Rebuild a fitted model from :meth:`to_bytes` output.

        Parameters
        ----------
        data : bytes
            Serialized model.
        device : str, default "cpu"
            Where to put the network (``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``); a model
            trained on CUDA loads on a CPU-only machine.

        Returns
        -------
        SequenceClassifier
            The fitted model, in evaluation mode.

        Raises
        ------
        ModelError
            If ``data`` is not a serialized ``SequenceClassifier`` or is corrupted.
        ConfigError
            If ``device`` asks for CUDA and CUDA is not available.

        """
        check_header(data, FORMAT_HEADER, "SequenceClassifier")  # a wrong header wins over a bad device
        target = _resolve_device(device)
        meta, blob = unpack(data, FORMAT_HEADER, "SequenceClassifier")
        try:
            model = cls(**meta["params"], device=device)
            names = tuple(str(n) for n in meta["feature_names"])
            net = model._build_net(len(names))
            arrays = unpack_tensors(meta["tensors"], blob)
            net.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()}, strict=True)
            history = meta["history"]
            model.history_ = TrainingHistory(
                train_loss=tuple(float(v) for v in history["train_loss"]),
                val_loss=tuple(float(v) for v in history["val_loss"]),
                best_epoch=int(history["best_epoch"]),
                stopped_early=bool(history["stopped_early"]),
            )
            model.mean_ = np.asarray(meta["mean"], dtype=np.float64)
            model.scale_ = np.asarray(meta["scale"], dtype=np.float64)
            if model.mean_.shape != (len(names),) or model.scale_.shape != (len(names),):
                raise ValueError("standardization does not match the number of features")
            model.feature_names_ = names
            model.regime_names_ = tuple(str(n) for n in meta["regime_names"])
            model.spec_hash_ = str(meta["spec_hash"])
            model.n_train_ = int(meta["n_train"])
            model.n_val_ = int(meta["n_val"])
        except (ValueError, KeyError, TypeError, RuntimeError, UnicodeDecodeError, ConfigError) as exc:
            raise ModelError(f"serialized SequenceClassifier is corrupted: {exc}") from exc
        model.net_ = net.to(target).eval()
        model.device_ = target
        return model

    # -- internals --------------------------------------------------------------------------------

    def _check_params(self) -> None:
        if self.kind not in _KINDS:
            raise ConfigError(f"SequenceClassifier kind {self.kind!r} is invalid: use one of {list(_KINDS)}")
        if self.pooling not in _POOLINGS:
            raise ConfigError(
                f"SequenceClassifier pooling {self.pooling!r} is invalid: use one of {list(_POOLINGS)}"
            )
        for name in ("window", "hidden", "layers", "heads", "batch_size", "max_epochs", "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ConfigError(f"SequenceClassifier {name} must be a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer) or self.seed < 0:
            raise ConfigError(f"SequenceClassifier seed must be a non-negative integer, got {self.seed!r}")
        if self.kind == "transformer" and self.hidden % self.heads != 0:
            raise ConfigError(
                f"SequenceClassifier hidden ({self.hidden}) must be divisible by heads ({self.heads}) "
                "for the transformer"
            )
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ConfigError(f"SequenceClassifier dropout must be in [0, 1), got {self.dropout!r}")
        if not (math.isfinite(float(self.lr)) and float(self.lr) > 0.0):
            raise ConfigError(f"SequenceClassifier lr must be a positive number, got {self.lr!r}")
        if not (math.isfinite(float(self.weight_decay)) and float(self.weight_decay) >= 0.0):
            raise ConfigError(
                f"SequenceClassifier weight_decay must be a non-negative number, got {self.weight_decay!r}"
            )
        if not isinstance(self.device, str) or not _is_device_name(self.device):
            raise ConfigError(
                f"SequenceClassifier device {self.device!r} is invalid: use 'cpu', 'cuda', 'cuda:N' or 'auto'"
            )

    def _build_net(self, n_features: int) -> nn.Module:
        if self.kind == "lstm":
            return _LSTMNet(n_features, int(self.hidden), int(self.layers), float(self.dropout))
        return _TransformerNet(
            n_features,
            int(self.window),
            int(self.hidden),
            int(self.layers),
            int(self.heads),
            float(self.dropout),
            str(self.pooling),
        )

    def _as_windows(self, X_seq: np.ndarray, n_features: int, what: str) -> np.ndarray:  # noqa: N803
        windows = np.asarray(X_seq)
        if windows.dtype.kind != "f":
            windows = windows.astype(np.float64)
        expected = (int(self.window), n_features)
        if windows.ndim != 3 or windows.shape[1:] != expected:
            raise ModelError(
                f"{what} has shape {windows.shape}, expected (n, {expected[0]}, {expected[1]}) = "
                f"(windows, window={expected[0]}, features={n_features}); build it with make_sequences"
            )
        return windows

    def _fitted_net(self) -> nn.Module:
        net = getattr(self, "net_", None)
        if net is None:
            raise ModelError("SequenceClassifier is not fitted: call fit() or load it from the registry")
        return net

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"SequenceClassifier({params}, device={self.device!r})"


# -- private helpers --------------------------------------------------------------------------------


def _is_device_name(name: str) -> bool:
    if name in ("cpu", "cuda", "auto"):
        return True
    prefix, _, index = name.partition(":")
    return prefix == "cuda" and index.isdigit()


def _resolve_device(name: str) -> torch.device:
    if not isinstance(name, str) or not _is_device_name(name):
        raise ConfigError(f"device {name!r} is invalid: use 'cpu', 'cuda', 'cuda:N' or 'auto'")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(
            f"device {name!r} was requested but CUDA is not available (torch {torch.__version__}); "
            "use device='cpu', or 'auto' to take CUDA only when present"
        )
    device = torch.device(name)
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(
            f"device {name!r} was requested but only {torch.cuda.device_count()} CUDA device(s) exist"
        )
    return device


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread, restoring the setting afterwards.

    CPU reductions split over several threads sum in an order that depends on the thread count, so
    training would differ between machines (and runs); one thread makes it bit-for-bit repeatable.
    For these small networks it is also faster: the thread pool's overhead dominates the work.
    """
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch on one thread and request deterministic kernels, restoring the global state afterwards."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn_deterministic = torch.backends.cudnn.deterministic
    cudnn_benchmark = torch.backends.cudnn.benchmark
    cuda_devices = list(range(torch.cuda.device_count())) if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices), _one_thread():
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
            torch.backends.cudnn.deterministic = cudnn_deterministic
            torch.backends.cudnn.benchmark = cudnn_benchmark


@contextlib.contextmanager
def _progress_reporter(progress: bool | ProgressCallback, max_epochs: int) -> Iterator[ProgressCallback]:
    if callable(progress):
        yield progress
        return
    if not progress:
        yield lambda report: None
        return
    from rich.progress import Progress  # only imported when a progress bar is asked for

    with Progress(transient=True) as bar:
        task = bar.add_task("training", total=max_epochs)

        def update(report: EpochReport) -> None:
            bar.update(
                task,
                completed=report.epoch + 1,
                description=(
                    f"epoch {report.epoch + 1}: train {report.train_loss:.4f} "
                    f"val {report.val_loss:.4f} (best epoch {report.best_epoch + 1})"
                ),
            )

        yield update


def _mean_loss(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net.eval()
    total = 0.0
    with torch.inference_mode():
        for start in range(0, x.shape[0], _PREDICT_CHUNK):
            logits = net(x[start : start + _PREDICT_CHUNK])
            losses = nn.functional.binary_cross_entropy_with_logits(
                logits, y[start : start + _PREDICT_CHUNK], reduction="sum"
            )
            total += float(losses)
    return total / x.shape[0]


def _fit_scaler(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = windows.reshape(-1, windows.shape[-1])
    finite = np.where(np.isfinite(rows), rows, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column has no mean
        mean = np.nanmean(finite, axis=0, dtype=np.float64)
        scale = np.nanstd(finite, axis=0, dtype=np.float64)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    scale = np.where(np.isfinite(scale) & (scale > 0.0), scale, 1.0)
    return mean.astype(np.float64), scale.astype(np.float64)


def _scale(
    windows: np.ndarray, mean: np.ndarray, scale: np.ndarray, dtype: type[np.floating[Any]] = np.float32
) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = (np.asarray(windows, dtype=np.float64) - mean) / scale
    return np.where(np.isfinite(scaled), scaled, 0.0).astype(dtype)


def _check_names(feature_names: Sequence[str], regime_names: Sequence[str]) -> tuple[str, ...]:
    if isinstance(feature_names, str):
        raise ModelError("fit: feature_names must be a sequence of names, not one string")
    names = tuple(str(name) for name in feature_names)
    if not names:
        raise ModelError("fit: feature_names is empty; the model needs at least one feature")
    check_unique_names(names)
    unknown = [str(name) for name in regime_names if str(name) not in names]
    if unknown:
        raise ModelError(
            f"fit: regime names {unknown} are not among the feature names {list(names)}; append the "
            "regime-probability columns to the features and name them in feature_names"
        )
    return names


def _as_labels(y: np.ndarray, n_rows: int, what: str) -> np.ndarray:
    labels = np.asarray(y, dtype=np.float64)
    if labels.shape != (n_rows,):
        raise ModelError(f"fit: {what} has shape {labels.shape}, expected ({n_rows},) to match the windows")
    check_binary_labels(labels, what)
    return labels


def _as_weights(sample_weight: np.ndarray | None, n_rows: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n_rows, dtype=np.float64)
    weights = np.asarray(sample_weight, dtype=np.float64)
    if weights.shape != (n_rows,):
        raise ModelError(f"fit: sample_weight has shape {weights.shape}, expected ({n_rows},)")
    if not (np.isfinite(weights).all() and (weights >= 0.0).all()):
        raise ModelError("fit: sample_weight must hold finite, non-negative numbers")
    return weights
