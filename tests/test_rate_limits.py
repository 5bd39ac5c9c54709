"""Per-key rate limits: the token bucket on SQLite, PostgreSQL and Redis (with the time given, so
the arithmetic is exact), draws from many threads at once, and two `interlock gateway`
processes drawing from one bucket, answering 429 with a Retry-After a client can trust."""

from __future__ import annotations

import asyncio
import math
import secrets
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

from store.rate_limits import Buckets, DatabaseBuckets, Draw, RateLimit, RedisBuckets
from store.tenants import add_api_key, ensure_tenant, hash_api_key
from tests.conftest import (
    SHARED_STATE_STORES,
    database_engine,
    free_port,
    publish_echo_route,
    redis_namespace_for_test,
)
from tests.interlock_process import start_interlock
from tests.test_gateway_crash import wait_healthy

T0 = 1_800_000_000.0  # any moment: the buckets are given the time in these tests


@dataclass
class Backend:
    buckets: Buckets
    new_key: Callable[[RateLimit], str]
    """A fresh key's digest (its bucket untouched), registered with the limit where needed."""


def _database_backend(engine: Engine) -> Backend:
    ensure_tenant(engine, "acme")

    def new_key(limit: RateLimit) -> str:
        return hash_api_key(add_api_key(engine, "acme", rate_limit=limit))

    return Backend(DatabaseBuckets(engine), new_key)


@pytest.fixture(params=SHARED_STATE_STORES)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "redis":
        buckets = RedisBuckets(request.getfixturevalue("redis_url"), redis_namespace_for_test())
        yield Backend(buckets, lambda _limit: hash_api_key(secrets.token_urlsafe(32)))
        return
    with database_engine(request.param, tmp_path) as engine:
        yield _database_backend(engine)


def test_a_full_bucket_lets_a_burst_through_then_paces(backend: Backend) -> None:
    limit = RateLimit(per_second=2, burst=3)
    key = backend.new_key(limit)

    def draw(at: float) -> Draw:
        return backend.buckets.draw(key, limit, now=T0 + at)

    assert [draw(0).allowed for _ in range(3)] == [True, True, True]
    refused = draw(0)
    assert refused == Draw(False, 0.5) and refused.retry_after == 1
    assert draw(0.25) == Draw(False, 0.25)  # a refusal takes nothing
    assert draw(0.5).allowed
    assert not draw(0.5).allowed
    # A long pause refills the bucket to its burst, no further.
    assert [draw(60).allowed for _ in range(4)] == [True, True, True, False]


def test_a_clock_behind_the_last_draw_neither_adds_nor_takes(backend: Backend) -> None:
    """Gateways share one clock (Redis's or the database's); given times may still go back."""
    limit = RateLimit(per_second=1, burst=1)
    key = backend.new_key(limit)
    assert backend.buckets.draw(key, limit, now=T0 + 10).allowed
    assert backend.buckets.draw(key, limit, now=T0 + 5) == Draw(False, 1.0)
    assert backend.buckets.draw(key, limit, now=T0 + 10.5) == Draw(False, 0.5)
    assert backend.buckets.draw(key, limit, now=T0 + 11).allowed


def test_concurrent_draws_take_exactly_the_burst(backend: Backend) -> None:
    limit = RateLimit(per_second=0.001, burst=10)
    key = backend.new_key(limit)
    with ThreadPoolExecutor(max_workers=8) as pool:
        draws = list(pool.map(lambda _: backend.buckets.draw(key, limit, now=T0), range(40)))
    assert sum(d.allowed for d in draws) == 10


def test_each_key_has_its_own_bucket(backend: Backend) -> None:
    limit = RateLimit(per_second=1, burst=2)
    drained, untouched = backend.new_key(limit), backend.new_key(limit)
    assert [backend.buckets.draw(drained, limit, now=T0).allowed for _ in range(3)] == [
        True,
        True,
        False,
    ]
    assert backend.buckets.draw(untouched, limit, now=T0).allowed


def test_the_shared_clock_is_used_when_no_time_is_given(backend: Backend) -> None:
    limit = RateLimit(per_second=4, burst=1)
    key = backend.new_key(limit)
    assert backend.buckets.draw(key, limit).allowed
    refused = backend.buckets.draw(key, limit)
    assert not refused.allowed and 0 < refused.wait_seconds <= 0.25
    time.sleep(0.3)
    assert backend.buckets.draw(key, limit).allowed


@pytest.mark.parametrize(
    ("wait", "header"), [(0.0, 1), (0.2, 1), (1.0, 1), (1.01, 2), (2.999, 3), (30.0, 30)]
)
def test_retry_after_is_whole_seconds_rounded_up(wait: float, header: int) -> None:
    assert Draw(False, wait).retry_after == header


def test_a_limit_is_positive() -> None:
    assert RateLimit.of(2.5) == RateLimit(2.5, 3) and RateLimit.of(0.1) == RateLimit(0.1, 1)
    for bad in (lambda: RateLimit(0, 1), lambda: RateLimit(1, 0), lambda: RateLimit(-1, 5)):
        with pytest.raises(ValueError):
            bad()


# --- through two gateway processes ---

PER_SECOND = 0.5
BURST = 6
REQUESTS = 24  # twelve a gateway: separate buckets would let twelve through, one lets six


async def two_gateways_one_bucket(
    stack, engine: Engine, store_url: str, redis_url: str | None
) -> None:
    tenant = f"paced-{uuid.uuid4().hex[:8]}"
    ensure_tenant(engine, tenant)
    key = add_api_key(engine, tenant, rate_limit=RateLimit(PER_SECOND, BURST))
    route = publish_echo_route(engine, f"paced-{uuid.uuid4().hex[:6]}")
    queue = f"paced-{uuid.uuid4().hex[:8]}"
    ports = [free_port(), free_port()]
    extra = {"INTERLOCK_REDIS_URL": redis_url} if redis_url else {}
    gateways = [
        start_interlock(
            stack,
            "gateway",
            INTERLOCK_DATABASE_URL=store_url,
            INTERLOCK_REQUEST_TASK_QUEUE=queue,
            INTERLOCK_GATEWAY_PORT=str(port),
            INTERLOCK_GATEWAY_HOST="127.0.0.1",
            INTERLOCK_SIMULATOR_LATENCY_SCALE="0",
            **extra,
        )
        for port in ports
    ]
    body = {"model": route, "messages": [{"role": "user", "content": "hello"}]}
    headers = {"Authorization": f"Bearer {key}"}
    try:
        for port, process in zip(ports, gateways, strict=True):
            await wait_healthy(f"http://127.0.0.1:{port}", process)
        async with httpx.AsyncClient(timeout=60, headers=headers) as http:
            urls = [f"http://127.0.0.1:{port}/v1/chat/completions" for port in ports]
            began = time.monotonic()
            answers = await asyncio.gather(
                *(http.post(urls[n % 2], json=body) for n in range(REQUESTS))
            )
            elapsed = time.monotonic() - began
            refused = [a for a in answers if a.status_code == 429]
            assert refused, "the burst was not limited"
            # A client that waits as long as it was told finds a token there.
            await asyncio.sleep(int(refused[-1].headers["retry-after"]))
            after_waiting = await http.post(urls[0], json=body)
    finally:
        for process in gateways:
            process.terminate()
        for process in gateways:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    assert {a.status_code for a in answers} == {200, 429}, [a.text for a in answers]
    allowed = sum(a.status_code == 200 for a in answers)
    # The burst, and what the bucket refilled while the requests were being drawn: not the two
    # bursts that a bucket per gateway would have let through.
    assert BURST <= allowed <= BURST + math.floor(PER_SECOND * elapsed) + 1 < 2 * BURST
    for answer in refused:
        assert 1 <= int(answer.headers["retry-after"]) <= math.ceil(1 / PER_SECOND)
        error = answer.json()["error"]
        assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
        assert f"{PER_SECOND:g}/s, burst {BURST}" in error["message"]
    assert after_waiting.status_code == 200, after_waiting.text


async def test_two_gateway_processes_draw_from_one_bucket_in_the_store(
    stack, engine: Engine, store_url: str
) -> None:
    await two_gateways_one_bucket(stack, engine, store_url, None)


async def test_two_gateway_processes_draw_from_one_bucket_in_redis(stack, redis_url: str) -> None:
    await two_gateways_one_bucket(
        stack, stack.engine, stack.settings.resolved_database_url, redis_url
    )
