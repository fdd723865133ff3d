"""Read a node's state from Redis: mirrored signals, regimes and risk, the node's cache, the feature store.

Nothing here writes: the sidecar changes the node only through control commands
(:class:`~nautilus_ai.live.control_client.ControlClient`).

The node's cache (``trader-<TRADER_ID>:orders:*``, ``positions:*``, ``accounts:*``) holds, per object,
the list of its events, each encoded as JSON or MessagePack (``CacheConfig.encoding``) from the event's
``to_dict``; :func:`decode_cache_value` reads both, and :func:`order_summary` folds an order's events
into its current status.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import redis

from nautilus_ai.api.settings import ApiSettings
from nautilus_ai.errors import DataError, RetryableError
from nautilus_ai.live.persistence import trader_prefix
from nautilus_ai.live.redis_publisher import PublisherKeys, publisher_keys

_INT_FIELDS = frozenset({"direction", "horizon_bars", "ts_event", "ts_init", "ts"})
_FLOAT_FIELDS = frozenset(
    {
        "probability",
        "confidence",
        "requested_qty",
        "approved_qty",
        "equity",
        "peak_equity",
        "drawdown",
        "cvar",
        "cvar_alpha",
        "net_exposure",
        "gross_exposure",
    }
)
_JSON_FIELDS = frozenset({"probabilities", "exposures", "limits"})

ORDER_STATUS_OF_EVENT = {
    "OrderInitialized": "INITIALIZED",
    "OrderDenied": "DENIED",
    "OrderEmulated": "EMULATED",
    "OrderReleased": "RELEASED",
    "OrderSubmitted": "SUBMITTED",
    "OrderAccepted": "ACCEPTED",
    "OrderRejected": "REJECTED",
    "OrderCanceled": "CANCELED",
    "OrderExpired": "EXPIRED",
    "OrderTriggered": "TRIGGERED",
    "OrderPendingUpdate": "PENDING_UPDATE",
    "OrderPendingCancel": "PENDING_CANCEL",
    "OrderModifyRejected": None,
    "OrderCancelRejected": None,
    "OrderUpdated": None,
}
"""The order status after each event type (None: unchanged)."""


def typed_fields(fields: dict[str, str]) -> dict[str, Any]:
    """Return mirrored Redis fields with numbers and JSON mappings parsed (pure)."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name in _INT_FIELDS:
            out[name] = int(value)
        elif name in _FLOAT_FIELDS:
            out[name] = float(value)
        elif name in _JSON_FIELDS:
            out[name] = json.loads(value)
        else:
            out[name] = value
    return out


def parse_attributions(text: str) -> list[tuple[str, float]]:
    """Return the ``(feature, attribution)`` pairs of ``"name:+0.123;other:-0.045"`` (pure).

    Raises
    ------
    DataError
        If an item is not ``name:number``.

    """
    pairs: list[tuple[str, float]] = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        name, sep, value = item.rpartition(":")
        try:
            if not sep or not name:
                raise ValueError
            pairs.append((name, float(value)))
        except ValueError:
            raise DataError(
                f"bad attribution {item!r}; expected 'name:+0.123'", field="top_attributions"
            ) from None
    return pairs


def decode_cache_value(raw: bytes | str, encoding: str) -> Any:
    """Return one cache entry decoded from JSON or MessagePack.

    Raises
    ------
    DataError
        If it cannot be decoded with ``encoding``.

    """
    try:
        if encoding == "msgpack":
            return msgspec.msgpack.decode(raw if isinstance(raw, bytes) else raw.encode())
        return json.loads(raw)
    except (msgspec.DecodeError, ValueError) as error:
        raise DataError(
            f"cannot decode a cache entry as {encoding}: {error}", field="cache_encoding"
        ) from None


def order_summary(client_order_id: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold an order's events (oldest first) into its summary and current status (pure)."""
    first = events[0] if events else {}
    status = "UNKNOWN"
    filled = 0.0
    quantity = float(first.get("quantity", 0) or 0)
    value = 0.0
    for event in events:
        kind = str(event.get("type", ""))
        if kind == "OrderFilled":
            last_qty = float(event.get("last_qty", 0) or 0)
            filled += last_qty
            value += last_qty * float(event.get("last_px", 0) or 0)
            status = "FILLED" if quantity and filled >= quantity - 1e-12 else "PARTIALLY_FILLED"
        elif kind == "OrderUpdated":
            quantity = float(event.get("quantity", quantity) or quantity)
        else:
            new = ORDER_STATUS_OF_EVENT.get(kind, status)
            status = new if new is not None else status
    options = first.get("options") or {}
    price = options.get("price") if isinstance(options, dict) else None
    return {
        "client_order_id": client_order_id,
        "strategy_id": first.get("strategy_id"),
        "instrument_id": first.get("instrument_id"),
        "side": first.get("order_side"),
        "order_type": first.get("order_type"),
        "quantity": quantity,
        "price": float(price) if price is not None else None,
        "status": status,
        "filled_qty": filled,
        "avg_px": value / filled if filled else None,
        "ts_init": int(first.get("ts_init", 0) or 0),
        "ts_last": int(events[-1].get("ts_event", 0) or 0) if events else 0,
        "events": len(events),
    }


def position_summary(position_id: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold a position's fill events (oldest first) into its signed quantity and average entry (pure)."""
    quantity = 0.0
    cost = 0.0
    instrument_id = None
    for event in events:
        if not isinstance(event, dict) or event.get("type") != "OrderFilled":
            continue
        instrument_id = event.get("instrument_id", instrument_id)
        qty = float(event.get("last_qty", 0) or 0) * (1.0 if event.get("order_side") == "BUY" else -1.0)
        price = float(event.get("last_px", 0) or 0)
        if quantity == 0.0 or (quantity > 0) == (qty > 0):
            cost += qty * price
            quantity += qty
        else:  # reducing (or flipping): the remaining part keeps its average entry
            average = cost / quantity
            quantity += qty
            cost = quantity * (average if (quantity > 0) == (quantity - qty > 0) else price)
        if abs(quantity) < 1e-12:
            quantity, cost = 0.0, 0.0
    return {
        "position_id": position_id,
        "instrument_id": instrument_id,
        "quantity": quantity,
        "side": "FLAT" if quantity == 0 else ("LONG" if quantity > 0 else "SHORT"),
        "avg_px_open": cost / quantity if quantity else None,
        "fills": sum(1 for e in events if isinstance(e, dict) and e.get("type") == "OrderFilled"),
        "ts_last": int(events[-1].get("ts_event", 0) or 0) if events and isinstance(events[-1], dict) else 0,
    }


class StateReader:
    """Read everything the sidecar serves from Redis.

    Parameters
    ----------
    settings : ApiSettings
        Where the state is (Redis URL, trader id, prefixes, cache encoding).
    client : redis.Redis, optional
        A connection (``decode_responses=False``); one is opened from the settings when None.

    """

    def __init__(self, settings: ApiSettings, client: redis.Redis | None = None) -> None:
        self.settings = settings
        self.redis = client or redis.Redis.from_url(
            settings.redis_url, socket_connect_timeout=2, socket_timeout=5
        )
        self.keys: PublisherKeys = publisher_keys(settings.state_prefix, settings.trader_id)
        self.cache_prefix = trader_prefix(settings.trader_id).rstrip(":")

    def _call(self, what: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except redis.RedisError as error:
            raise RetryableError(f"could not read {what} from Redis: {error}") from error

    @staticmethod
    def _text(fields: dict[Any, Any]) -> dict[str, str]:
        return {
            (k.decode() if isinstance(k, bytes) else str(k)): (v.decode() if isinstance(v, bytes) else str(v))
            for k, v in fields.items()
        }

    def ping(self) -> bool:
        """Return whether Redis answers."""
        try:
            return bool(self.redis.ping())
        except redis.RedisError:
            return False

    # -- mirrored state ---------------------------------------------------------------------------

    def instruments(self) -> list[str]:
        """Return the instruments with mirrored state, sorted."""
        members = self._call(self.keys.instruments, self.redis.smembers, self.keys.instruments)
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)

    def _latest(self, key: str) -> dict[str, Any] | None:
        fields = self._call(key, self.redis.hgetall, key)
        return typed_fields(self._text(fields)) if fields else None

    def _history(self, key: str, limit: int) -> list[dict[str, Any]]:
        entries = self._call(key, self.redis.xrevrange, key, count=limit)
        return [typed_fields(self._text(fields)) for _, fields in reversed(entries or [])]

    def latest_signal(self, instrument_id: str) -> dict[str, Any] | None:
        """Return the latest signal of ``instrument_id`` or None."""
        return self._latest(self.keys.signal_latest(instrument_id))

    def signal_history(self, instrument_id: str, limit: int) -> list[dict[str, Any]]:
        """Return the last ``limit`` signals of ``instrument_id``, oldest first."""
        return self._history(self.keys.signal_stream(instrument_id), limit)

    def latest_regime(self, instrument_id: str) -> dict[str, Any] | None:
        """Return the latest regime label of ``instrument_id`` or None."""
        return self._latest(self.keys.regime_latest(instrument_id))

    def risk_decisions(self, limit: int) -> list[dict[str, Any]]:
        """Return the last ``limit`` risk decisions, oldest first."""
        return self._history(self.keys.risk_decisions, limit)

    def trading_state(self) -> dict[str, Any] | None:
        """Return ``{"state", "reason", "ts"}`` or None when no state was mirrored."""
        return self._latest(self.keys.risk_state)

    def risk_snapshot(self) -> dict[str, Any] | None:
        """Return the latest risk snapshot or None."""
        return self._latest(self.keys.risk_snapshot)

    def latest_features(self, instrument_id: str) -> dict[str, float | None] | None:
        """Return the latest feature values of ``instrument_id`` from the online feature store, or None."""
        key = f"{self.settings.feature_prefix}:features:latest:{instrument_id}"
        fields = self._text(self._call(key, self.redis.hgetall, key))
        if not fields:
            return None
        names = fields.get("names", "").split(",") if fields.get("names") else []
        values = json.loads(fields.get("values", "[]"))
        return {n: (float(v) if v == v else None) for n, v in zip(names, values, strict=False)}

    # -- the node's cache ---------------------------------------------------------------------------

    def _cache_objects(self, collection: str) -> dict[str, list[Any]]:
        pattern = f"{self.cache_prefix}:{collection}:*"
        out: dict[str, list[Any]] = {}
        for raw_key in self._call(pattern, lambda: list(self.redis.scan_iter(match=pattern, count=500))):
            key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
            kind = self._call(key, self.redis.type, key)
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            if kind == "list":
                raw_items = self._call(key, self.redis.lrange, key, 0, -1)
            elif kind == "string":
                raw_items = [self._call(key, self.redis.get, key)]
            else:
                continue
            items = [decode_cache_value(item, self.settings.cache_encoding) for item in raw_items if item]
            out[key.split(f":{collection}:", 1)[1]] = items
        return out

    def orders(self) -> list[dict[str, Any]]:
        """Return the summary of every order in the node's cache, oldest first."""
        summaries = [order_summary(cid, events) for cid, events in self._cache_objects("orders").items()]
        return sorted(summaries, key=lambda o: (o["ts_init"], o["client_order_id"]))

    def order_events(self, client_order_id: str) -> list[dict[str, Any]] | None:
        """Return the events of one order, or None when it is not in the cache."""
        return self._cache_objects("orders").get(client_order_id)

    def fills(self) -> list[dict[str, Any]]:
        """Return every OrderFilled event in the node's cache, oldest first."""
        fills = [
            event
            for events in self._cache_objects("orders").values()
            for event in events
            if isinstance(event, dict) and event.get("type") == "OrderFilled"
        ]
        return sorted(fills, key=lambda e: (int(e.get("ts_event", 0) or 0), str(e.get("trade_id", ""))))

    def positions(self) -> dict[str, list[Any]]:
        """Return the events of every position in the node's cache."""
        return self._cache_objects("positions")

    def accounts(self) -> dict[str, list[Any]]:
        """Return the events (AccountState) of every account in the node's cache."""
        return self._cache_objects("accounts")
