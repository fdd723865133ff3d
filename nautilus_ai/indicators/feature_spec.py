"""The FeatureSpec: which features a FeatureActor computes, their names and fingerprint."""

import hashlib
import json

import msgspec
from nautilus_trader.config import NautilusConfig

import nautilus_ai

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
    range_volatility_window : int, optional
        Window of the Parkinson and Garman-Klass volatilities ``parkinson_vol`` and ``garman_klass_vol``
        (per bar, from each bar's open/high/low/close).
    vpin_bucket_volume : float, optional
        Bucket volume of ``vpin`` (bulk volume classification over equal-volume buckets).
    vpin_buckets : int
        Number of buckets averaged by ``vpin``.
    vpin_source : {"bars", "trades"}
        Classify bar volumes by close-to-close changes, or trade ticks by trade-to-trade changes.
    order_flow_window : int, optional
        Trades in the window of ``order_flow_imbalance`` (aggressor-side volume imbalance, trade ticks).
    microprice : bool
        Publish ``microprice_drift_bps`` and ``spread_bps`` from the latest quote tick.
    book_levels : int, optional
        Levels of ``book_imbalance`` from the order book (L2 deltas).
    sentiment_half_life_s : float, optional
        Half-life in seconds of the time-decayed mean ``sentiment_mean`` of the instrument's
        ``SentimentScore`` objects; also turns on ``sentiment_count`` and ``sentiment_dispersion``.
    sentiment_window_s : float
        Trailing window in seconds of ``sentiment_count`` (scores in the window) and
        ``sentiment_dispersion`` (their sample standard deviation); only used with sentiment on.
    sentiment_scorer : str, optional
        Label of the stored ``SentimentScore`` set to use (``nautilus-ai catalog score``); part of
        the fingerprint, so a model trained on one scorer's features refuses another's.
    onchain_metrics : tuple[str, ...]
        On-chain metric names (``OnChainMetric.metric``); each gives ``onchain_<metric>_logdiff`` and
        ``onchain_<metric>_z`` (see :class:`~nautilus_ai.indicators.onchain.OnChainFeature`).
    onchain_instrument : str, optional
        The instrument id the ``OnChainMetric`` objects carry (for example ``"BTCUSD.ONCHAIN"``);
        the actor's own instrument when omitted.
    onchain_diff : int
        The log-difference lag of the on-chain features, in observations.
    onchain_window : int
        The z-score window of the on-chain features, in observations.

    Notes
    -----
    The bar features (returns, RSI, EMA ratios, ATR, ``rvol``, ``volume_z``, range volatilities) are
    complete from :meth:`warmup_bars` on, and no vector is published before. The event-driven
    features (``vpin``, ``order_flow_imbalance``, ``microprice_drift_bps``, ``spread_bps``,
    ``book_imbalance``) depend on how much volume or how many ticks arrived: they are NaN in a vector
    until their indicator is initialized (the models handle NaN). The alternative-data features are
    event-driven too and take the value as of ``bar.ts_init - 1`` ns (only objects with ``ts_init``
    strictly before the bar's count; one stamped exactly at the bar counts from the next bar, whatever
    the delivery order of the tie): ``sentiment_mean`` and ``sentiment_dispersion`` are NaN before the
    first score (dispersion also with fewer than two scores in the window) while ``sentiment_count``
    is 0; the on-chain features are NaN until ``max(onchain_diff + 1, onchain_window)`` observations.

    """

    return_horizons: tuple[int, ...] = (1, 5, 20)
    rsi_period: int = 14
    ema_periods: tuple[int, ...] = (10, 30)
    atr_period: int = 14
    volatility_window: int = 20
    volume_window: int = 20
    range_volatility_window: int | None = None
    vpin_bucket_volume: float | None = None
    vpin_buckets: int = 50
    vpin_source: str = "bars"
    order_flow_window: int | None = None
    microprice: bool = False
    book_levels: int | None = None
    sentiment_half_life_s: float | None = None
    sentiment_window_s: float = 86400.0
    sentiment_scorer: str | None = None
    onchain_metrics: tuple[str, ...] = ()
    onchain_instrument: str | None = None
    onchain_diff: int = 1
    onchain_window: int = 30

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
        if self.range_volatility_window is not None and self.range_volatility_window < 1:
            raise ValueError(
                f"FeatureSpec.range_volatility_window must be >= 1, was {self.range_volatility_window}"
            )
        if self.vpin_bucket_volume is not None and self.vpin_bucket_volume <= 0:
            raise ValueError(
                f"FeatureSpec.vpin_bucket_volume must be positive, was {self.vpin_bucket_volume}"
            )
        if self.vpin_buckets < 1:
            raise ValueError(f"FeatureSpec.vpin_buckets must be >= 1, was {self.vpin_buckets}")
        if self.vpin_source not in ("bars", "trades"):
            raise ValueError(f"FeatureSpec.vpin_source must be 'bars' or 'trades', was {self.vpin_source!r}")
        if self.order_flow_window is not None and self.order_flow_window < 1:
            raise ValueError(f"FeatureSpec.order_flow_window must be >= 1, was {self.order_flow_window}")
        if self.book_levels is not None and not 1 <= self.book_levels <= 10:
            raise ValueError(f"FeatureSpec.book_levels must be in [1, 10], was {self.book_levels}")
        if self.sentiment_half_life_s is not None and not self.sentiment_half_life_s > 0:
            raise ValueError(
                f"FeatureSpec.sentiment_half_life_s must be positive, was {self.sentiment_half_life_s}"
            )
        if not self.sentiment_window_s > 0:
            raise ValueError(
                f"FeatureSpec.sentiment_window_s must be positive, was {self.sentiment_window_s}"
            )
        if any(not isinstance(m, str) or not m.strip() for m in self.onchain_metrics):
            raise ValueError(
                f"FeatureSpec.onchain_metrics must be non-empty metric names, was {self.onchain_metrics}"
            )
        if self.onchain_instrument is not None and "." not in self.onchain_instrument:
            raise ValueError(
                "FeatureSpec.onchain_instrument must be an instrument id like 'BTCUSD.ONCHAIN', "
                f"was {self.onchain_instrument!r}"
            )
        if self.onchain_diff < 1:
            raise ValueError(f"FeatureSpec.onchain_diff must be >= 1, was {self.onchain_diff}")
        if self.onchain_window < 2:
            raise ValueError(f"FeatureSpec.onchain_window must be >= 2, was {self.onchain_window}")
        for name in ("return_horizons", "ema_periods", "onchain_metrics"):
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
            *(["parkinson_vol", "garman_klass_vol"] if self.range_volatility_window is not None else []),
            *self.event_feature_names(),
        ]

    def event_feature_names(self) -> list[str]:
        """Return the event-driven feature names (NaN until their indicator is initialized)."""
        return [
            *(["vpin"] if self.vpin_bucket_volume is not None else []),
            *(["order_flow_imbalance"] if self.order_flow_window is not None else []),
            *(["microprice_drift_bps", "spread_bps"] if self.microprice else []),
            *(["book_imbalance"] if self.book_levels is not None else []),
            *(
                ["sentiment_mean", "sentiment_count", "sentiment_dispersion"]
                if self.sentiment_half_life_s is not None
                else []
            ),
            *(
                name
                for metric in self.onchain_metrics
                for name in (f"onchain_{metric}_logdiff", f"onchain_{metric}_z")
            ),
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
            self.range_volatility_window or 0,
        )

    def fingerprint(self) -> str:
        """Return a hash of the feature names, parameters, feature code version and package version.

        A model stores the fingerprint it was trained with and refuses to serve vectors of another
        one, so upgrading nautilus-ai (or bumping ``FEATURE_CODE_VERSION``) asks for retraining.
        """
        # Optional features that are off (None/False) are left out, so adding an optional feature
        # to the spec class does not change the fingerprint of specs that do not use it.
        optional = (
            "range_volatility_window",
            "vpin_bucket_volume",
            "order_flow_window",
            "microprice",
            "book_levels",
            "sentiment_scorer",
        )
        spec = {
            k: v
            for k, v in msgspec.to_builtins(self).items()
            if not (k in optional and v in (None, False))
            and not (k.startswith("vpin_") and self.vpin_bucket_volume is None)
            and not (k.startswith("sentiment_") and self.sentiment_half_life_s is None)
            and not (k.startswith("onchain_") and not self.onchain_metrics)
        }
        payload = {
            "spec": spec,
            "names": self.feature_names(),
            "code_version": FEATURE_CODE_VERSION,
            "package_version": nautilus_ai.__version__,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
