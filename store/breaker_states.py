"""Where the circuit breakers' states live: Redis when INTERLOCK_REDIS_URL is set, the store's
database otherwise. Either way a breaker changes only from the version a gateway read, so when
several gateways see the same evidence one of them makes the change, and a half-open breaker's
probes are taken one at a time until none is left.

The evidence itself, the calls a breaker is judged on, is always the outcome rows in the
database (store/breakers.py, `recent_calls`): only the small, hot state moves to Redis.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.engine import Engine

from store.breakers import Breaker, Key, breakers, change_breaker, claim_probe
from store.installation import redis_namespace


class BreakerStates(Protocol):
    def read(self) -> dict[Key, Breaker]:
        """Every breaker that has left closed at least once (one without a state is closed)."""
        ...

    def change(
        self,
        key: Key,
        read_version: int | None,
        state: str,
        probes: int = 0,
        reason: str = "",
        at: datetime | None = None,
    ) -> bool:
        """Move the breaker to `state` if it is still at `read_version` (None: it had no state).
        Whether this call made the change."""
        ...

    def claim_probe(self, key: Key) -> bool:
        """Take one of a half-open breaker's probes; False when none is left."""
        ...


class DatabaseBreakerStates:
    """The `circuit_breakers` rows of the store."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def read(self) -> dict[Key, Breaker]:
        return breakers(self._engine)

    def change(
        self,
        key: Key,
        read_version: int | None,
        state: str,
        probes: int = 0,
        reason: str = "",
        at: datetime | None = None,
    ) -> bool:
        return change_breaker(self._engine, key, read_version, state, probes, reason, at)

    def claim_probe(self, key: Key) -> bool:
        return claim_probe(self._engine, key)


# KEYS[1]: the breakers' hash; ARGV: the breaker's field, the version read (0: no state yet, as
# versions start at 1), then the new state, changed_at, probes and reason. 1 if it changed.
_CHANGE_SCRIPT = """
local found = redis.call('HGET', KEYS[1], ARGV[1])
local version = 0
if found then version = cjson.decode(found).version end
if version ~= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({
  state = ARGV[3], changed_at = ARGV[4], probes_left = tonumber(ARGV[5]), reason = ARGV[6],
  version = version + 1
}))
return 1
"""

# KEYS[1]: the breakers' hash; ARGV[1]: the breaker's field. 1 if a probe was taken.
_CLAIM_SCRIPT = """
local found = redis.call('HGET', KEYS[1], ARGV[1])
if not found then return 0 end
local breaker = cjson.decode(found)
if breaker.state ~= 'half_open' or breaker.probes_left < 1 then return 0 end
breaker.probes_left = breaker.probes_left - 1
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(breaker))
return 1
"""


class RedisBreakerStates:
    """One Redis hash for every breaker, read whole in one round trip. A field is the JSON of
    [provider, model] (either may hold ':' or '/'), its value the JSON of the breaker's state.
    Nothing expires: like the rows, a breaker's state stays until it changes. Changes and probe
    claims are Lua scripts, which Redis runs atomically."""

    def __init__(self, url: str, namespace: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._hash_name = f"{namespace}:breakers"
        self._change = self._redis.register_script(_CHANGE_SCRIPT)
        self._claim = self._redis.register_script(_CLAIM_SCRIPT)

    def read(self) -> dict[Key, Breaker]:
        found = self._redis.hgetall(self._hash_name)
        read = {}
        for field, value in found.items():  # type: ignore[union-attr]
            provider, model = json.loads(field)
            stored = json.loads(value)
            read[(provider, model)] = Breaker(
                provider,
                model,
                stored["state"],
                datetime.fromisoformat(stored["changed_at"]),
                int(stored["probes_left"]),
                stored["reason"],
                int(stored["version"]),
            )
        return read

    def change(
        self,
        key: Key,
        read_version: int | None,
        state: str,
        probes: int = 0,
        reason: str = "",
        at: datetime | None = None,
    ) -> bool:
        changed_at = _utc(at or datetime.now(UTC)).isoformat()
        arguments = [_field(key), read_version or 0, state, changed_at, probes, reason]
        return bool(self._change(keys=[self._hash_name], args=arguments))

    def claim_probe(self, key: Key) -> bool:
        return bool(self._claim(keys=[self._hash_name], args=[_field(key)]))


def open_breaker_states(redis_url: str | None, engine: Engine) -> BreakerStates:
    if redis_url:
        return RedisBreakerStates(redis_url, redis_namespace(engine))
    return DatabaseBreakerStates(engine)


def _field(key: Key) -> str:
    return json.dumps(list(key))


def _utc(at: datetime) -> datetime:
    # A naive time is taken as UTC, as the database's rows take it.
    return at.astimezone(UTC) if at.tzinfo is not None else at.replace(tzinfo=UTC)
