"""A token bucket per API key, kept in Redis so that every worker process shares the same budget.

The refill arithmetic is the pure :func:`refill`; :class:`RateLimiter` runs the same rule atomically in
a Lua script with the server's clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import redis

from nautilus_ai.errors import ConfigError, RetryableError

# KEYS[1] bucket; ARGV[1] capacity, ARGV[2] refill per second. Returns {allowed, tokens, retry_after}.
_BUCKET_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local retry = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 1)
return {allowed, tostring(tokens), tostring(retry)}
"""


def refill(tokens: float, elapsed_s: float, rate: float, capacity: float) -> float:
    """Return the tokens of a bucket after ``elapsed_s`` seconds of refilling at ``rate`` (pure)."""
    return min(capacity, tokens + max(0.0, elapsed_s) * rate)


@dataclass(frozen=True)
class Decision:
    """The outcome of one request against a bucket."""

    allowed: bool
    """Whether the request may proceed."""
    remaining: int
    """Whole tokens left."""
    retry_after_s: int
    """Seconds to wait before a token is available (0 when allowed)."""


class RateLimiter:
    """Token buckets in Redis.

    Parameters
    ----------
    client : redis.Redis
        The connection.
    capacity : int
        The bucket size (burst).
    refill_per_s : float
        Tokens added per second.
    prefix : str
        The key prefix of the buckets.

    Raises
    ------
    ConfigError
        If ``capacity`` < 1 or ``refill_per_s`` <= 0.

    """

    def __init__(self, client: redis.Redis, capacity: int, refill_per_s: float, prefix: str) -> None:
        if capacity < 1:
            raise ConfigError(f"rate limit capacity must be >= 1, got {capacity}")
        if not refill_per_s > 0 or not math.isfinite(refill_per_s):
            raise ConfigError(f"rate limit refill_per_s must be > 0, got {refill_per_s}")
        self.capacity = capacity
        self.refill_per_s = refill_per_s
        self.prefix = prefix
        self._script = client.register_script(_BUCKET_SCRIPT)

    def hit(self, identity: str) -> Decision:
        """Take one token from the bucket of ``identity`` (a key id or a client address).

        Raises
        ------
        RetryableError
            If Redis cannot be reached.

        """
        try:
            allowed, tokens, retry = self._script(
                keys=[f"{self.prefix}:{identity}"], args=[self.capacity, self.refill_per_s]
            )
        except redis.RedisError as error:
            raise RetryableError(f"rate limiter: Redis unavailable: {error}") from error
        return Decision(
            allowed=bool(int(allowed)),
            remaining=int(float(tokens)),
            retry_after_s=math.ceil(float(retry)) if not int(allowed) else 0,
        )
