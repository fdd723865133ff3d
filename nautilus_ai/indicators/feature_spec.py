"""The FeatureSpec: which features a FeatureActor computes, their names and fingerprint."""

import hashlib
import json

import msgspec
from nautilus_trader.config import NautilusConfig

# Bump when the computation of an existing feature changes: the fingerprint changes with it, so a
# model trained on the old features refuses to serve the new ones.
FEATURE_CODE_VERSION = "1"


class FeatureSpec(NautilusConfig, frozen=True):
    """The first feature set, computed per bar from NautilusTrader and nautilus-ai indicators.

    Parameters
    ----------
    return_horizons : tuple[int, ...]
        Log-return lookbacks in bars (``ret_<h>`` = log(close_t / close_{t-h})).
    rsi_period : int
        Period of the relative strength index (``rsi``, in [0, 1]).
    ema_periods : tuple[int, ...]
        EMA periods; ``ema_ratio_<n>`` = close / EMA(n) - 1.
    atr_period : int
        Period of the average true range; ``atr_ratio`` = ATR / close.
    volatility_window : int
        Window in returns of the realized volatility ``rvol`` (per-bar standard deviation of log returns).
    volume_window : int
        Window of the volume z-score ``volume_z``.

    """

    return_horizons: tuple[int, ...] = (1, 5, 20)
    rsi_period: int = 14
    ema_periods: tuple[int, ...] = (10, 30)
    atr_period: int = 14
    volatility_window: int = 20
    volume_window: int = 20

    def __post_init__(self) -> None:
        for name in ("rsi_period", "atr_period", "volatility_window", "volume_window"):
            if getattr(self, name) < 2:
                raise ValueError(f"FeatureSpec.{name} must be >= 2, was {getattr(self, name)}")
        if not self.return_horizons or min(self.return_horizons) < 1:
            raise ValueError(
                f"FeatureSpec.return_horizons must be positive integers, was {self.return_horizons}"
            )
        if not self.ema_periods or min(self.ema_periods) < 2:
            raise ValueError(f"FeatureSpec.ema_periods must be integers >= 2, was {self.ema_periods}")
        for name in ("return_horizons", "ema_periods"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(
                    f"FeatureSpec.{name} has repeated values {values}: each gives one feature name"
                )

    def feature_names(self) -> list[str]:
        """Return the feature names in the order of a FeatureVector's values."""
        return [
            *(f"ret_{h}" for h in self.return_horizons),
            "rsi",
            *(f"ema_ratio_{n}" for n in self.ema_periods),
            "atr_ratio",
            "rvol",
            "volume_z",
        ]

    def warmup_bars(self) -> int:
        """Return the number of bars before every feature is defined."""
        return max(
            max(self.return_horizons) + 1,
            self.rsi_period,
            max(self.ema_periods),
            self.atr_period,
            self.volatility_window + 1,
            self.volume_window,
        )

    def fingerprint(self) -> str:
        """Return a hash of the feature names, parameters and feature code version."""
        payload = {
            "spec": msgspec.to_builtins(self),
            "names": self.feature_names(),
            "code_version": FEATURE_CODE_VERSION,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
