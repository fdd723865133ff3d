"""Mirror a node's model signals, regimes, risk decisions and trading state into Redis for the API sidecar.

The API sidecar (:mod:`nautilus_ai.api`) is a separate process: it cannot read the node's message bus,
so :class:`RedisPublisherActor` copies what it needs into Redis. Keys, for a prefix ``p`` (default
``nautilus_ai``), a trader id ``T`` and an instrument ``i`` (:class:`PublisherKeys`):

* ``p:T:signals:latest:i`` -- a hash with the latest :class:`~nautilus_ai.catalog.types.ModelSignal`;
* ``p:T:signals:stream:i`` -- a stream of every signal, capped at about ``stream_maxlen`` entries;
* ``p:T:regimes:latest:i`` / ``p:T:regimes:stream:i`` -- the same for
  :class:`~nautilus_ai.catalog.types.RegimeLabel`;
* ``p:T:risk:decisions`` -- a capped stream of every
  :class:`~nautilus_ai.catalog.types.RiskDecisionEvent` (all instruments);
* ``p:T:risk:state`` -- a hash with the trading state, its reason and when it changed (first written
  when the actor starts, from the RiskEngine);
* ``p:T:risk:snapshot`` -- a hash with equity, peak equity, drawdown, CVaR and exposures (JSON);
* ``p:T:instruments`` -- a set of the instruments seen.

Every hash and stream entry holds strings: the fields of the object, with ``ts_event``/``ts_init`` as
UNIX nanoseconds and mappings as JSON. The ``*_fields`` functions are pure; :class:`RedisStatePublisher`
writes them and is what the actor, the tests and any other producer call.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import redis
from nautilus_trader.common.actor import Actor
from nautilus_trader.common.messages import TradingStateChanged
from nautilus_trader.config import ActorConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.catalog.redis_features import redact_url
from nautilus_ai.catalog.types import ModelSignal, RegimeLabel, RiskDecisionEvent, topic_data_type
from nautilus_ai.errors import ConfigError, RetryableError
from nautilus_ai.risk.cvar import portfolio_cvar
from nautilus_ai.risk.guard import find_risk_engine
from nautilus_ai.risk.state import RISK_STATE_TOPIC, drawdown

DEFAULT_PREFIX = "nautilus_ai"
"""The default key prefix of the mirrored state."""


@dataclass(frozen=True)
class PublisherKeys:
    """The Redis keys of one trader's mirrored state.

    Parameters
    ----------
    prefix : str
        The key prefix.
    trader_id : str
        The node's trader id.

    """

    prefix: str
    trader_id: str

    @property
    def base(self) -> str:
        """Return ``<prefix>:<trader_id>``."""
        return f"{self.prefix}:{self.trader_id}"

    def signal_latest(self, instrument_id: str) -> str:
        """Return the latest-signal hash key of ``instrument_id``."""
        return f"{self.base}:signals:latest:{instrument_id}"

    def signal_stream(self, instrument_id: str) -> str:
        """Return the signal history stream key of ``instrument_id``."""
        return f"{self.base}:signals:stream:{instrument_id}"

    def regime_latest(self, instrument_id: str) -> str:
        """Return the latest-regime hash key of ``instrument_id``."""
        return f"{self.base}:regimes:latest:{instrument_id}"

    def regime_stream(self, instrument_id: str) -> str:
        """Return the regime history stream key of ``instrument_id``."""
        return f"{self.base}:regimes:stream:{instrument_id}"

    @property
    def risk_decisions(self) -> str:
        """Return the risk decision stream key."""
        return f"{self.base}:risk:decisions"

    @property
    def risk_state(self) -> str:
        """Return the trading state hash key."""
        return f"{self.base}:risk:state"

    @property
    def risk_snapshot(self) -> str:
        """Return the risk snapshot hash key."""
        return f"{self.base}:risk:snapshot"

    @property
    def instruments(self) -> str:
        """Return the key of the set of instruments seen."""
        return f"{self.base}:instruments"

    def pattern(self) -> str:
        """Return a ``SCAN`` pattern matching every key of this trader."""
        return f"{self.base}:*"


def publisher_keys(prefix: str, trader_id: str) -> PublisherKeys:
    """Return the keys for ``prefix`` and ``trader_id``.

    Raises
    ------
    ConfigError
        If either is empty or contains a ``*`` (a pattern character).

    """
    for name, value in (("prefix", prefix), ("trader_id", trader_id)):
        if not str(value).strip() or "*" in str(value):
            raise ConfigError(f"redis publisher: {name} must be a non-empty name without '*', got {value!r}")
    return PublisherKeys(prefix=prefix, trader_id=str(trader_id))


# -- pure encoders ----------------------------------------------------------------------------------


def signal_fields(signal: ModelSignal) -> dict[str, str]:
    """Return the Redis fields of a ModelSignal (strings; timestamps as UNIX nanoseconds)."""
    return {
        "instrument_id": str(signal.instrument_id),
        "direction": str(int(signal.direction)),
        "probability": repr(float(signal.probability)),
        "confidence": repr(float(signal.confidence)),
        "horizon_bars": str(int(signal.horizon_bars)),
        "model_version": signal.model_version,
        "regime": signal.regime,
        "top_attributions": signal.top_attributions,
        "ts_event": str(signal.ts_event),
        "ts_init": str(signal.ts_init),
    }


def regime_fields(label: RegimeLabel) -> dict[str, str]:
    """Return the Redis fields of a RegimeLabel (probabilities as a JSON object)."""
    return {
        "instrument_id": str(label.instrument_id),
        "regime": label.regime,
        "probabilities": json.dumps({str(k): float(v) for k, v in (label.probabilities or {}).items()}),
        "model_version": label.model_version,
        "ts_event": str(label.ts_event),
        "ts_init": str(label.ts_init),
    }


def risk_decision_fields(event: RiskDecisionEvent) -> dict[str, str]:
    """Return the Redis fields of a RiskDecisionEvent."""
    return {
        "instrument_id": str(event.instrument_id),
        "action": event.action,
        "reason": event.reason,
        "requested_qty": repr(float(event.requested_qty)),
        "approved_qty": repr(float(event.approved_qty)),
        "trading_state": event.trading_state,
        "ts_event": str(event.ts_event),
        "ts_init": str(event.ts_init),
    }


def historical_cvar(returns: np.ndarray, alpha: float = 0.95) -> float:
    """Return the historical CVaR of a return series (the mean loss beyond the ``alpha`` quantile).

    Parameters
    ----------
    returns : ndarray
        ``(n,)`` simple returns.
    alpha : float, default 0.95
        The confidence level.

    Returns
    -------
    float
        CVaR as a positive fraction of equity (0.0 for fewer than two returns).

    """
    array = np.asarray(returns, dtype=np.float64)
    array = array[np.isfinite(array)]
    if array.size < 2:
        return 0.0
    return float(portfolio_cvar(np.ones(1), array[:, None], alpha))


@dataclass(frozen=True)
class RiskSnapshot:
    """The risk numbers the sidecar serves: equity, drawdown, CVaR, exposures and limits.

    Attributes
    ----------
    equity, peak_equity : float
        Current and highest account equity (account currency).
    drawdown : float
        ``1 - equity / peak_equity`` (fraction).
    cvar : float
        Historical CVaR of the equity returns seen (fraction of equity, losses positive).
    cvar_alpha : float
        Its confidence level.
    net_exposure, gross_exposure : float
        Sum of signed and of absolute instrument exposures (account currency).
    exposures : dict[str, float]
        Signed net exposure per instrument.
    limits : dict[str, float]
        The configured limits (fractions of equity).
    currency : str
        The account currency.
    ts : int
        When it was taken (UNIX nanoseconds).

    """

    equity: float
    peak_equity: float
    drawdown: float
    cvar: float
    cvar_alpha: float
    net_exposure: float
    gross_exposure: float
    exposures: dict[str, float]
    limits: dict[str, float]
    currency: str
    ts: int

    def fields(self) -> dict[str, str]:
        """Return the Redis fields (mappings as JSON)."""
        return {
            "equity": repr(self.equity),
            "peak_equity": repr(self.peak_equity),
            "drawdown": repr(self.drawdown),
            "cvar": repr(self.cvar),
            "cvar_alpha": repr(self.cvar_alpha),
            "net_exposure": repr(self.net_exposure),
            "gross_exposure": repr(self.gross_exposure),
            "exposures": json.dumps(self.exposures),
            "limits": json.dumps(self.limits),
            "currency": self.currency,
            "ts": str(self.ts),
        }


def risk_snapshot(
    equity_history: list[float],
    exposures: dict[str, float],
    limits: dict[str, float],
    currency: str,
    ts: int,
    cvar_alpha: float = 0.95,
) -> RiskSnapshot:
    """Return the snapshot of an equity history (oldest first) and the current exposures (pure).

    Raises
    ------
    ValueError
        If ``equity_history`` is empty.

    """
    if not equity_history:
        raise ValueError("risk_snapshot needs at least one equity value")
    equity = np.asarray(equity_history, dtype=np.float64)
    peak = float(np.max(equity))
    returns = equity[1:] / equity[:-1] - 1.0 if equity.size > 1 else np.empty(0)
    return RiskSnapshot(
        equity=float(equity[-1]),
        peak_equity=peak,
        drawdown=drawdown(float(equity[-1]), peak),
        cvar=historical_cvar(returns, cvar_alpha),
        cvar_alpha=cvar_alpha,
        net_exposure=float(sum(exposures.values())),
        gross_exposure=float(sum(abs(v) for v in exposures.values())),
        exposures=dict(exposures),
        limits=dict(limits),
        currency=currency,
        ts=ts,
    )


# -- the writer -------------------------------------------------------------------------------------


class RedisStatePublisher:
    """Write signals, regimes, risk decisions, trading state and risk snapshots to Redis.

    Parameters
    ----------
    trader_id : str
        The node's trader id (part of every key).
    url : str, default "redis://127.0.0.1:6379/0"
        The Redis URL.
    prefix : str, default "nautilus_ai"
        The key prefix.
    stream_maxlen : int, default 10_000
        The approximate length of each history stream (``MAXLEN ~``).

    Raises
    ------
    ConfigError
        If the URL, prefix, trader id or ``stream_maxlen`` is invalid.

    """

    def __init__(
        self,
        trader_id: str,
        url: str = "redis://127.0.0.1:6379/0",
        prefix: str = DEFAULT_PREFIX,
        stream_maxlen: int = 10_000,
    ) -> None:
        if stream_maxlen < 1:
            raise ConfigError(f"redis publisher: stream_maxlen must be >= 1, got {stream_maxlen}")
        self.keys = publisher_keys(prefix, trader_id)
        self.stream_maxlen = stream_maxlen
        self.url = url
        try:
            self.redis = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=5)
        except ValueError as error:
            raise ConfigError(f"redis publisher: bad Redis URL {redact_url(url)!r}: {error}") from error

    def _write(self, latest: str | None, stream: str, fields: dict[str, str], instrument: str | None) -> None:
        try:
            pipe = self.redis.pipeline(transaction=True)
            if latest is not None:
                pipe.hset(latest, mapping=fields)  # type: ignore[arg-type]
            pipe.xadd(stream, fields, maxlen=self.stream_maxlen, approximate=True)  # type: ignore[arg-type]
            if instrument:
                pipe.sadd(self.keys.instruments, instrument)
            pipe.execute()
        except redis.RedisError as error:
            raise RetryableError(f"redis publisher: could not write {stream}: {error}") from error

    def publish_signal(self, signal: ModelSignal) -> None:
        """Store ``signal`` as the latest of its instrument and append it to the history."""
        instrument = str(signal.instrument_id)
        self._write(
            self.keys.signal_latest(instrument),
            self.keys.signal_stream(instrument),
            signal_fields(signal),
            instrument,
        )

    def publish_regime(self, label: RegimeLabel) -> None:
        """Store ``label`` as the latest regime of its instrument and append it to the history."""
        instrument = str(label.instrument_id)
        self._write(
            self.keys.regime_latest(instrument),
            self.keys.regime_stream(instrument),
            regime_fields(label),
            instrument,
        )

    def publish_risk_decision(self, event: RiskDecisionEvent) -> None:
        """Append ``event`` to the risk decision stream (and record a state change)."""
        self._write(None, self.keys.risk_decisions, risk_decision_fields(event), str(event.instrument_id))
        if event.action == "state_change" and event.trading_state:
            self.publish_trading_state(event.trading_state, event.reason, event.ts_event)

    def publish_trading_state(self, state: str, reason: str, ts: int) -> None:
        """Store the trading state (``ACTIVE``, ``REDUCING`` or ``HALTED``), its reason and time."""
        try:
            self.redis.hset(self.keys.risk_state, mapping={"state": state, "reason": reason, "ts": str(ts)})
        except redis.RedisError as error:
            raise RetryableError(
                f"redis publisher: could not write {self.keys.risk_state}: {error}"
            ) from error

    def publish_risk_snapshot(self, snapshot: RiskSnapshot) -> None:
        """Replace the risk snapshot."""
        try:
            pipe = self.redis.pipeline(transaction=True)
            pipe.delete(self.keys.risk_snapshot)
            pipe.hset(self.keys.risk_snapshot, mapping=snapshot.fields())  # type: ignore[arg-type]
            pipe.execute()
        except redis.RedisError as error:
            raise RetryableError(
                f"redis publisher: could not write {self.keys.risk_snapshot}: {error}"
            ) from error

    def clear(self) -> int:
        """Delete every key of this trader's mirrored state; return how many were deleted."""
        keys = list(self.redis.scan_iter(match=self.keys.pattern(), count=500))
        return int(self.redis.delete(*keys)) if keys else 0

    def close(self) -> None:
        """Close the connection."""
        self.redis.close()


# -- the actor --------------------------------------------------------------------------------------


class RedisPublisherActorConfig(ActorConfig, frozen=True):
    """Configuration of :class:`RedisPublisherActor`.

    Parameters
    ----------
    instrument_ids : list[str]
        The instruments whose signals, regimes and risk decisions are mirrored.
    redis_url : str, default "redis://127.0.0.1:6379/0"
        The Redis URL.
    prefix : str, default "nautilus_ai"
        The key prefix.
    trader_id : str, optional
        The trader id in the keys (default: the node's).
    stream_maxlen : int, default 10_000
        The approximate length of each history stream.
    snapshot_interval_s : float, default 5.0
        How often the risk snapshot is taken (0: never).
    cvar_alpha : float, default 0.95
        The CVaR confidence level.
    equity_window : int, default 500
        How many equity samples the drawdown peak and the CVaR look back over.
    limits : dict[str, float]
        Risk limits served by ``/risk/limits`` (for example ``{"halt_drawdown": 0.2}``).

    """

    instrument_ids: list[str]
    redis_url: str = "redis://127.0.0.1:6379/0"
    prefix: str = DEFAULT_PREFIX
    trader_id: str | None = None
    stream_maxlen: int = 10_000
    snapshot_interval_s: float = 5.0
    cvar_alpha: float = 0.95
    equity_window: int = 500
    limits: dict[str, float] = {}


class RedisPublisherActor(Actor):
    """Mirror ModelSignal, RegimeLabel, RiskDecisionEvent and trading-state changes into Redis.

    Parameters
    ----------
    config : RedisPublisherActorConfig
        The configuration.

    Raises
    ------
    ConfigError
        If no instrument is given or a numeric setting is out of range.

    """

    def __init__(self, config: RedisPublisherActorConfig) -> None:
        super().__init__(config)
        if not config.instrument_ids:
            raise ConfigError(
                "RedisPublisherActorConfig.instrument_ids is empty: list the instruments to mirror"
            )
        if config.snapshot_interval_s < 0 or not math.isfinite(config.snapshot_interval_s):
            raise ConfigError(
                "RedisPublisherActorConfig.snapshot_interval_s must be >= 0, "
                f"got {config.snapshot_interval_s}"
            )
        if not 0.0 < config.cvar_alpha < 1.0:
            raise ConfigError(
                f"RedisPublisherActorConfig.cvar_alpha must be in (0, 1), got {config.cvar_alpha}"
            )
        if config.equity_window < 2:
            raise ConfigError(
                f"RedisPublisherActorConfig.equity_window must be >= 2, got {config.equity_window}"
            )
        self._instrument_ids = [InstrumentId.from_str(i) for i in config.instrument_ids]
        self._cfg = config
        self._publisher: RedisStatePublisher | None = None
        self._equity: deque[float] = deque(maxlen=config.equity_window)

    @property
    def publisher(self) -> RedisStatePublisher:
        """Return the writer (available once the actor started)."""
        if self._publisher is None:
            raise RuntimeError("RedisPublisherActor has not started")
        return self._publisher

    def on_start(self) -> None:
        """Connect to Redis, store the RiskEngine's current trading state, and subscribe to the rest.

        The state is written at start (reason ``node started``) so ``/risk/state`` and the dashboard show
        it before the first change, and a restarted node replaces what a previous run left there.
        """
        trader_id = self._cfg.trader_id or self.trader_id.value
        self._publisher = RedisStatePublisher(
            trader_id, self._cfg.redis_url, self._cfg.prefix, self._cfg.stream_maxlen
        )
        for instrument_id in self._instrument_ids:
            for cls in (ModelSignal, RegimeLabel, RiskDecisionEvent):
                self.subscribe_data(topic_data_type(cls, instrument_id), instrument_id=instrument_id)
        self.msgbus.subscribe("events.risk", self._on_risk_event)
        self.msgbus.subscribe(RISK_STATE_TOPIC, self._on_gate_state)
        if self._cfg.snapshot_interval_s > 0:
            self.clock.set_timer(
                "redis_publisher_snapshot",
                timedelta(seconds=self._cfg.snapshot_interval_s),
                callback=lambda _event: self.publish_snapshot(),
            )
        engine = find_risk_engine(self.msgbus)
        if engine is not None:
            self._write_state(engine.trading_state.name, "node started", self.clock.timestamp_ns())

    def on_stop(self) -> None:
        """Unsubscribe, take a last snapshot and close the connection."""
        for instrument_id in self._instrument_ids:
            for cls in (ModelSignal, RegimeLabel, RiskDecisionEvent):
                self.unsubscribe_data(topic_data_type(cls, instrument_id), instrument_id=instrument_id)
        self.msgbus.unsubscribe("events.risk", self._on_risk_event)
        self.msgbus.unsubscribe(RISK_STATE_TOPIC, self._on_gate_state)
        if "redis_publisher_snapshot" in self.clock.timer_names:
            self.clock.cancel_timer("redis_publisher_snapshot")
        self.publish_snapshot()
        if self._publisher is not None:
            self._publisher.close()

    def on_data(self, data: Data) -> None:
        """Mirror one signal, regime label or risk decision (a Redis failure is logged, not raised)."""
        try:
            if isinstance(data, ModelSignal):
                self.publisher.publish_signal(data)
            elif isinstance(data, RegimeLabel):
                self.publisher.publish_regime(data)
            elif isinstance(data, RiskDecisionEvent):
                self.publisher.publish_risk_decision(data)
        except RetryableError as error:
            self.log.warning(str(error))

    def _on_risk_event(self, event: Any) -> None:
        if isinstance(event, TradingStateChanged):
            self._write_state(event.state.name, "risk engine", event.ts_event)

    def _on_gate_state(self, state: Any) -> None:
        self._write_state(str(getattr(state, "value", state)), "risk guard", self.clock.timestamp_ns())

    def _write_state(self, state: str, reason: str, ts: int) -> None:
        try:
            self.publisher.publish_trading_state(state, reason, ts)
        except RetryableError as error:
            self.log.warning(str(error))

    def publish_snapshot(self) -> None:
        """Take a risk snapshot from the portfolio and the first account and store it."""
        accounts = self.cache.accounts()
        if not accounts or self._publisher is None:
            return
        account = accounts[0]
        currency = account.base_currency or next(iter(account.balances_total()), None)
        if currency is None:
            return
        total = account.balance_total(currency)
        equity = float(total.as_double()) if total is not None else 0.0
        exposures: dict[str, float] = {}
        for instrument_id in self._instrument_ids:
            unrealized = self.portfolio.unrealized_pnl(instrument_id)
            if unrealized is not None:
                equity += float(unrealized.as_double())
            exposure = self.portfolio.net_exposure(instrument_id)
            net = float(exposure.as_double()) if exposure is not None else 0.0
            side = 1.0 if self.portfolio.is_net_long(instrument_id) else -1.0
            exposures[str(instrument_id)] = side * abs(net)
        self._equity.append(equity)
        snapshot = risk_snapshot(
            list(self._equity),
            exposures,
            dict(self._cfg.limits),
            str(currency),
            self.clock.timestamp_ns(),
            self._cfg.cvar_alpha,
        )
        try:
            self._publisher.publish_risk_snapshot(snapshot)
        except RetryableError as error:
            self.log.warning(str(error))
