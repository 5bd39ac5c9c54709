"""Where cached answers are kept, on SQLite, PostgreSQL and Redis: per tenant, until they
expire, the newest answer for a key winning."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from store.engine import create_store_engine
from store.response_cache import DatabaseResponses, RedisResponses, ResponseStore
from store.schema import init_schema
from tests.conftest import _postgres_schema_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "redis"])
def responses(request: pytest.FixtureRequest, tmp_path) -> Iterator[ResponseStore]:
    if request.param == "redis":
        namespace = f"interlock-test:{uuid.uuid4().hex[:12]}"
        yield RedisResponses(request.getfixturevalue("redis_url"), namespace)
        return
    urls = (
        iter([f"sqlite:///{tmp_path / 'store.db'}"])
        if request.param == "sqlite"
        else _postgres_schema_url()
    )
    engine = create_store_engine(next(urls))
    init_schema(engine)
    yield DatabaseResponses(engine)
    engine.dispose()
    for _ in urls:  # lets a PostgreSQL schema be dropped
        pass


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
