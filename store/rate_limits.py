"""Request rate limits per API key: one token bucket per key, shared by every gateway.

A key with a limit holds up to `burst` tokens and gains `per_second` of them each second; a
request takes one, and a request that finds less than one is refused with the time until one
is there. The bucket lives in Redis when INTERLOCK_REDIS_URL is set (a Lua script, which Redis
runs atomically), and on the key's row in the store otherwise (one conditional UPDATE: on
PostgreSQL concurrent updates of the row queue on its lock and re-check the condition on the
row they find, on SQLite the database's write lock serializes them). Either way a burst spread
over many gateways draws from one bucket, and time is read from one clock (Redis's or the
database's), so gateways whose clocks differ still agree on how much has been refilled.

Keys without a limit never reach this module: their requests cost nothing here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Float, case, cast, func, literal, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from store.installation import redis_namespace
from store.tables import ApiKey

_keys = ApiKey.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RateLimit:
    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if not (self.per_second > 0 and math.isfinite(self.per_second)):
            raise ValueError(f"a rate limit is a positive number per second, not {self.per_second}")
        if self.burst < 1:
            raise ValueError(f"a burst is at least 1 request, not {self.burst}")

    @classmethod
    def of(cls, per_second: float, burst: int | None = None) -> RateLimit:
        """`per_second`, with a burst of one second's worth (at least 1) unless given."""
        return cls(per_second, burst if burst is not None else max(1, math.ceil(per_second)))

    def describe(self) -> str:
        return f"{self.per_second:g}/s, burst {self.burst}"


@dataclass(frozen=True)
class Draw:
    """Whether a request may go, and if not, how long until a token is there."""

    allowed: bool
    wait_seconds: float = 0.0

    @property
    def retry_after(self) -> int:
        """Retry-After in whole seconds, rounded up: a client that waits that long finds a token
        (unless another request took it first)."""
        return max(1, math.ceil(self.wait_seconds - 1e-9))


class Buckets(Protocol):
    def draw(self, key_digest: str, limit: RateLimit, now: float | None = None) -> Draw:
        """Take a token from the bucket of the key with this digest, if it has one. `now`
        (seconds since the epoch) replaces the shared clock, for tests."""
        ...


class DatabaseBuckets:
    """Buckets on the keys' rows in the store."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def draw(self, key_digest: str, limit: RateLimit, now: float | None = None) -> Draw:
        with self._engine.begin() as connection:
            clock = _database_clock(connection.dialect.name) if now is None else literal(now, Float)
            tokens = _refilled(clock, limit)
            taken = connection.execute(
                update(_keys)
                .where(_keys.c.key_hash == key_digest, tokens >= 1)
                .values(
                    bucket_tokens=tokens - 1,
                    # Never backwards: a draw timed before the last one refills nothing and
                    # leaves the last time where it was.
                    bucket_counted_at=_greatest(
                        func.coalesce(_keys.c.bucket_counted_at, clock), clock
                    ),
                )
                .returning(_keys.c.id)
            ).first()
            if taken is not None:
                return Draw(True)
            left = connection.execute(select(tokens).where(_keys.c.key_hash == key_digest)).scalar()
        if left is None:  # no such key: nothing to limit
            return Draw(True)
        return Draw(False, (1 - float(left)) / limit.per_second)


def _refilled(clock: ColumnElement, limit: RateLimit) -> ColumnElement:
    """The key's tokens at `clock`: what was left plus the refill since, at most `burst`. A
    bucket never drawn from is full."""
    burst = literal(float(limit.burst), Float)
    counted_at = func.coalesce(_keys.c.bucket_counted_at, clock)
    elapsed = case((clock > counted_at, clock - counted_at), else_=literal(0.0, Float))
    grown = func.coalesce(_keys.c.bucket_tokens, burst) + elapsed * literal(limit.per_second, Float)
    return case((grown < burst, grown), else_=burst)


def _greatest(a: ColumnElement, b: ColumnElement) -> ColumnElement:
    return case((a > b, a), else_=b)


def _database_clock(dialect: str) -> ColumnElement:
    """Seconds since the epoch by the database's clock, fixed for the statement."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", func.statement_timestamp()), Float)
    # SQLite before 3.42 has no unixepoch('subsec'); julianday('now') is to the millisecond.
    return (func.julianday("now") - 2440587.5) * 86400.0


# KEYS[1]: the bucket; ARGV: per second, burst, and optionally the time (tests). Returns
# {1, "0"} when a token was taken, {0, seconds to wait} when not (the wait as a string: Redis
# turns a Lua number into an integer).
_DRAW_SCRIPT = """
local per_second = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if now == nil then
  local time = redis.call('TIME')
  now = tonumber(time[1]) + tonumber(time[2]) / 1000000
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
if now > at then
  tokens = math.min(burst, tokens + (now - at) * per_second)
  at = now
end
local ttl = math.ceil(burst / per_second * 1000) + 1000
if tokens >= 1 then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'at', tostring(at))
  redis.call('PEXPIRE', KEYS[1], ttl)
  return {1, '0'}
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], ttl)
return {0, tostring((1 - tokens) / per_second)}
"""


class RedisBuckets:
    """Buckets in Redis, as hashes that expire once they would be full again (a full bucket
    and a missing one are the same). Named by the key's digest, which is unique whichever
    store the key is in and is no credential (store/tenants.py)."""

    def __init__(self, url: str, namespace: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._draw = self._redis.register_script(_DRAW_SCRIPT)
        self._prefix = f"{namespace}:rate"

    def draw(self, key_digest: str, limit: RateLimit, now: float | None = None) -> Draw:
        arguments: list[float | int] = [limit.per_second, limit.burst]
        if now is not None:
            arguments.append(now)
        allowed, wait = self._draw(keys=[f"{self._prefix}:{key_digest}"], args=arguments)
        return Draw(bool(allowed), float(wait))


def open_buckets(redis_url: str | None, engine: Engine) -> Buckets:
    if redis_url:
        return RedisBuckets(redis_url, redis_namespace(engine))
    return DatabaseBuckets(engine)
