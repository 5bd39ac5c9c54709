"""Where cached answers are kept, on SQLite, PostgreSQL and Redis: per tenant, until they
expire, the newest answer for a key winning."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from store.response_cache import DatabaseResponses, RedisResponses, ResponseStore
from tests.conftest import SHARED_STATE_STORES, database_engine, redis_namespace_for_test


@pytest.fixture(params=SHARED_STATE_STORES)
def responses(request: pytest.FixtureRequest, tmp_path) -> Iterator[ResponseStore]:
    if request.param == "redis":
        yield RedisResponses(request.getfixturevalue("redis_url"), redis_namespace_for_test())
        return
    with database_engine(request.param, tmp_path) as engine:
        yield DatabaseResponses(engine)


def test_an_answer_is_kept_for_its_tenant_only(responses: ResponseStore) -> None:
    key, acme, globex = uuid.uuid4().hex, f"acme-{uuid.uuid4().hex[:6]}", "globex"
    assert responses.get(acme, key) is None
    responses.put(acme, key, '{"text": "first"}', ttl_seconds=60)
    assert responses.get(acme, key) == '{"text": "first"}'
    # The same key asked by another tenant finds nothing.
    assert responses.get(globex, key) is None
    responses.put(acme, key, '{"text": "second"}', ttl_seconds=60)
    assert responses.get(acme, key) == '{"text": "second"}'


def test_an_answer_expires_with_its_ttl(responses: ResponseStore) -> None:
    key, tenant = uuid.uuid4().hex, f"acme-{uuid.uuid4().hex[:6]}"
    responses.put(tenant, key, "{}", ttl_seconds=0.3)
    assert responses.get(tenant, key) == "{}"
    time.sleep(0.5)
    assert responses.get(tenant, key) is None
