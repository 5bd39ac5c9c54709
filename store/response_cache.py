"""Where cached answers live: Redis when INTERLOCK_REDIS_URL is set, the store's database
otherwise. Both take a tenant with every key and answer nothing across tenants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from store.engine import insert_for
from store.installation import redis_namespace
from store.tables import CachedResponse

_cache = CachedResponse.__table__  # type: ignore[attr-defined]


class ResponseStore(Protocol):
    def get(self, tenant_id: str, key: str) -> str | None: ...

    def put(self, tenant_id: str, key: str, response: str, ttl_seconds: float) -> None: ...


class DatabaseResponses:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, tenant_id: str, key: str) -> str | None:
        with self._engine.connect() as connection:
            return connection.execute(
                select(_cache.c.response).where(
                    _cache.c.key == key,
                    _cache.c.tenant_id == tenant_id,
                    _cache.c.expires_at > datetime.now(UTC),
                )
            ).scalar()

    def put(self, tenant_id: str, key: str, response: str, ttl_seconds: float) -> None:
        now = datetime.now(UTC)
        values = {"tenant_id": tenant_id, "response": response}
        values["expires_at"] = now + timedelta(seconds=ttl_seconds)  # type: ignore[assignment]
        with self._engine.begin() as connection:
            insert = insert_for(connection.dialect.name)
            connection.execute(
                insert(_cache)
                .values(key=key, **values)
                .on_conflict_do_update(index_elements=["key"], set_=values)
            )
            # Expired answers go as new ones come: the table holds about one TTL's worth.
            connection.execute(delete(_cache).where(_cache.c.expires_at <= now))


class RedisResponses:
    def __init__(self, url: str, namespace: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = f"{namespace}:cache"

    def _name(self, tenant_id: str, key: str) -> str:
        return f"{self._prefix}:{tenant_id}:{key}"

    def get(self, tenant_id: str, key: str) -> str | None:
        found = self._redis.get(self._name(tenant_id, key))
        return None if found is None else bytes(found).decode("utf-8")  # type: ignore[arg-type]

    def put(self, tenant_id: str, key: str, response: str, ttl_seconds: float) -> None:
        self._redis.set(self._name(tenant_id, key), response, px=max(1, int(ttl_seconds * 1000)))


def open_response_store(redis_url: str | None, engine: Engine) -> ResponseStore:
    if redis_url:
        return RedisResponses(redis_url, redis_namespace(engine))
    return DatabaseResponses(engine)
