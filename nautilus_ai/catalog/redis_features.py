"""The online feature store: the latest FeatureVector and a bounded history per instrument in Redis.

Keys, for a prefix ``p`` and an instrument ``i``:

* ``p:features:latest:i`` -- a hash with the latest vector: ``names`` (comma-separated),
  ``values`` (a JSON list of floats; NaN is written as ``NaN``), ``spec_hash``, ``ts_event`` and
  ``ts_init`` (UNIX nanoseconds as decimal strings).
* ``p:features:stream:i`` -- a stream of every vector with the same fields, trimmed to about
  ``stream_maxlen`` entries. An entry's id encodes its ``ts_init`` exactly
  (``<milliseconds>-<remaining nanoseconds>``), so :meth:`RedisFeatureStore.history` reads a time
  range with one ``XRANGE``.

A vector whose ``ts_init`` is not newer than the newest one stored for its instrument (a replay of
old data) is refused by the stream, and then the latest hash is left alone as well: both writes
happen in one server-side script, sent in one pipeline per :meth:`RedisFeatureStore.put`.
"""

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.catalog.types import FeatureVector
from nautilus_ai.errors import ConfigError, RetryableError

# KEYS[1] latest hash, KEYS[2] stream; ARGV[1] entry id, ARGV[2] maxlen, ARGV[3] ttl (0: none),
# ARGV[4..] field/value pairs. Returns 1 when stored, 0 when the vector is not newer.
_PUT_SCRIPT = """
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
local added = redis.pcall('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], ARGV[1], unpack(fields))
if type(added) == 'table' and added.err then
  if string.find(added.err, 'equal or smaller') then return 0 end
  return redis.error_reply(added.err)
end
redis.call('HSET', KEYS[1], unpack(fields))
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
return 1
"""

_NANOS_PER_MILLI = 1_000_000


def stream_id(ts_ns: int) -> str:
    """Return the stream entry id that encodes ``ts_ns`` exactly (``<ms>-<ns remainder>``)."""
    return f"{ts_ns // _NANOS_PER_MILLI}-{ts_ns % _NANOS_PER_MILLI}"


def redact_url(url: str) -> str:
    """Return ``url`` with its password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _encode(vector: FeatureVector) -> dict[str, str]:
    return {
        "names": vector.names,
        "values": json.dumps(vector.as_array().tolist()),
        "spec_hash": vector.spec_hash,
        "ts_event": str(vector.ts_event),
        "ts_init": str(vector.ts_init),
    }


def _decode(instrument_id: InstrumentId, fields: dict[bytes, bytes]) -> FeatureVector:
    text = {key.decode(): value.decode() for key, value in fields.items()}
    names = text["names"].split(",") if text["names"] else []
    return FeatureVector.create(
        instrument_id,
        text["spec_hash"],
        names,
        json.loads(text["values"]),
        int(text["ts_event"]),
        int(text["ts_init"]),
    )


class RedisFeatureStore:
    """Store FeatureVectors in Redis for online serving: the latest per instrument and a history.

    Parameters
    ----------
    url : str, default "redis://127.0.0.1:6379/0"
        The Redis URL.
    prefix : str, default "nautilus_ai"
        The key prefix (keys are ``<prefix>:features:...``).
    stream_maxlen : int, default 10_000
        The approximate number of vectors kept per instrument stream (``MAXLEN ~``).
    ttl_s : int, optional
        When set, both keys of an instrument expire this many seconds after its last put.

    Raises
    ------
    ConfigError
        If ``prefix`` is empty, ``stream_maxlen`` < 1 or ``ttl_s`` < 1.

    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        prefix: str = "nautilus_ai",
        stream_maxlen: int = 10_000,
        ttl_s: int | None = None,
    ) -> None:
        if not prefix:
            raise ConfigError("RedisFeatureStore: prefix is empty: give a key prefix such as 'nautilus_ai'")
        if stream_maxlen < 1:
            raise ConfigError(f"RedisFeatureStore: stream_maxlen must be >= 1, got {stream_maxlen}")
        if ttl_s is not None and ttl_s < 1:
            raise ConfigError(f"RedisFeatureStore: ttl_s must be >= 1 second or None, got {ttl_s}")
        self.url = url
        self.prefix = prefix
        self.stream_maxlen = stream_maxlen
        self.ttl_s = ttl_s
        try:
            self._client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)
        except ValueError as error:
            raise ConfigError(f"RedisFeatureStore: bad Redis URL {redact_url(url)!r}: {error}") from error
        self._put_script = self._client.register_script(_PUT_SCRIPT)

    def latest_key(self, instrument_id: InstrumentId | str) -> str:
        """Return the key of the latest-vector hash of an instrument."""
        return f"{self.prefix}:features:latest:{instrument_id}"

    def stream_key(self, instrument_id: InstrumentId | str) -> str:
        """Return the key of the vector stream of an instrument."""
        return f"{self.prefix}:features:stream:{instrument_id}"

    def ping(self) -> None:
        """Check that Redis answers.

        Raises
        ------
        RetryableError
            If Redis cannot be reached (the message names the URL).

        """
        self._call(self._client.ping)

    def put(self, vector: FeatureVector) -> bool:
        """Store ``vector`` as the latest of its instrument and append it to the stream.

        Returns
        -------
        bool
            True when stored; False when the vector is not newer than the newest stored one
            for its instrument (nothing is changed then).

        Raises
        ------
        RetryableError
            If Redis cannot be reached.

        """
        return self.put_many([vector]) == 1

    def put_many(self, vectors: Iterable[FeatureVector]) -> int:
        """Store several vectors (in ``ts_init`` order per instrument) in one pipeline.

        Returns
        -------
        int
            The number of vectors stored (stale ones are skipped, see :meth:`put`).

        """
        vectors = list(vectors)
        if not vectors:
            return 0
        pipe = self._client.pipeline(transaction=False)
        for vector in vectors:
            fields = [item for pair in _encode(vector).items() for item in pair]
            iid = vector.instrument_id.value
            self._put_script(
                keys=[self.latest_key(iid), self.stream_key(iid)],
                args=[stream_id(vector.ts_init), self.stream_maxlen, self.ttl_s or 0, *fields],
                client=pipe,
            )
        results = self._call(pipe.execute)
        return sum(int(r) for r in results)

    def latest(self, instrument_id: InstrumentId | str) -> FeatureVector | None:
        """Return the latest vector of an instrument, or None when there is none."""
        iid = _instrument(instrument_id)
        fields = self._call(self._client.hgetall, self.latest_key(iid))
        return _decode(iid, fields) if fields else None

    def history(
        self,
        instrument_id: InstrumentId | str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        count: int | None = None,
    ) -> list[FeatureVector]:
        """Return the stored vectors of an instrument with ``start_ns <= ts_init <= end_ns``.

        Parameters
        ----------
        instrument_id : InstrumentId or str
            The instrument.
        start_ns, end_ns : int, optional
            The inclusive ``ts_init`` range in UNIX nanoseconds (unbounded when ``None``).
        count : int, optional
            Return at most this many vectors (the oldest ones of the range).

        Returns
        -------
        list[FeatureVector]
            In ``ts_init`` order; only what the trimmed stream still holds.

        """
        iid = _instrument(instrument_id)
        entries = self._call(
            self._client.xrange,
            self.stream_key(iid),
            min=stream_id(start_ns) if start_ns is not None else "-",
            max=stream_id(end_ns) if end_ns is not None else "+",
            count=count,
        )
        return [_decode(iid, fields) for _, fields in entries]

    def delete(self, instrument_id: InstrumentId | str) -> None:
        """Delete the latest vector and the stream of an instrument."""
        self._call(self._client.delete, self.latest_key(instrument_id), self.stream_key(instrument_id))

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as error:
            raise RetryableError(f"Redis at {redact_url(self.url)} is unreachable: {error}") from error


def _instrument(instrument_id: InstrumentId | str) -> InstrumentId:
    if isinstance(instrument_id, InstrumentId):
        return instrument_id
    return InstrumentId.from_str(instrument_id)
