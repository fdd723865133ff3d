"""Walk-forward folds: rolling or anchored train/test windows over time (pure, no I/O)."""

from dataclasses import asdict, dataclass

import pandas as pd

from nautilus_ai.errors import ConfigError


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: train on [train_start, train_end), test on [test_start, test_end)."""

    index: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp

    def as_dict(self) -> dict[str, object]:
        """Return the fold with ISO timestamps."""
        return {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in asdict(self).items()}


def make_folds(
    data_start: pd.Timestamp,
    data_end: pd.Timestamp,
    train: pd.Timedelta,
    test: pd.Timedelta,
    step: pd.Timedelta | None = None,
    scheme: str = "rolling",
) -> list[Fold]:
    """Return the folds that fit in ``[data_start, data_end]``.

    The first training window starts at ``data_start``. Each next fold moves by ``step`` (default:
    ``test``); a rolling scheme moves the training start too, an anchored one keeps it. The last
    test window is cut at ``data_end``. Test windows never overlap (``step >= test``), so the
    out-of-sample results can be stitched into one series.
    """
    step = test if step is None else step
    if step < test:
        raise ConfigError(
            f"walk-forward step {step} is shorter than the test window {test}: tests would overlap"
        )
    if scheme not in ("rolling", "anchored"):
        raise ConfigError(f"walk-forward scheme must be 'rolling' or 'anchored', was {scheme!r}")
    folds: list[Fold] = []
    k = 0
    while True:
        train_start = data_start + k * step if scheme == "rolling" else data_start
        train_end = data_start + train + k * step
        if train_end >= data_end:
            break
        test_end = min(train_end + test, data_end)
        folds.append(Fold(k, train_start, train_end, train_end, test_end))
        k += 1
    if not folds:
        raise ConfigError(
            f"no walk-forward fold fits: data spans {data_start} to {data_end} "
            f"but the training window is {train}"
        )
    return folds
