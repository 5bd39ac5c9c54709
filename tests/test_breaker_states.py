"""Where breakers' states live, on SQLite, PostgreSQL and Redis: one contract for all three (a
change applies only from the version read, and only once however many gateways race for it;
probes run out at zero), then a board judging outcome rows in the database with its states in
Redis."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
import redis
from sqlalchemy.engine import Engine

from activities.circuit_breakers import BreakerBoard
from store.breaker_states import (
    BreakerStates,
    DatabaseBreakerStates,
    RedisBreakerStates,
    open_breaker_states,
)
from store.breakers import breakers
from store.engine import create_store_engine
from store.installation import redis_namespace
from store.schema import init_schema
from tests.conftest import SHARED_STATE_STORES, database_engine, redis_namespace_for_test
from tests.test_circuit_breakers import BACKUP, FLAKY, POLICY, ROUTE, T0, Transitions, calls

KEY = ("openai-local", "llama3:8b")  # a ':' in the model, as Ollama names them
OTHER = ("openai-local", "meta-llama/Llama-3-8B")
Result = TypeVar("Result")


def _redis_states(url: str) -> Iterator[RedisBreakerStates]:
    """States under a hash of this test's own in the shared Redis, deleted afterwards."""
    namespace = redis_namespace_for_test()
    yield RedisBreakerStates(url, namespace)
    client = redis.Redis.from_url(url)
    client.delete(f"{namespace}:breakers")
    client.close()


@pytest.fixture(params=SHARED_STATE_STORES)
def states(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BreakerStates]:
    if request.param == "redis":
        yield from _redis_states(request.getfixturevalue("redis_url"))
        return
    with database_engine(request.param, tmp_path) as engine:
        yield DatabaseBreakerStates(engine)


def _at_once(count: int, attempt: Callable[[], Result]) -> list[Result]:
    """`attempt` from `count` threads released together, as gateways judging the same second."""
    start = threading.Barrier(count)

    def contend() -> Result:
        start.wait()
        return attempt()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: contend(), range(count)))


def test_the_first_change_creates_the_state_from_none(states: BreakerStates) -> None:
    assert states.read() == {}
    at = datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert states.change(KEY, None, "open", 0, "12 of 12 calls failed", at)
    [breaker] = states.read().values()
    assert (breaker.key, breaker.state, breaker.probes_left, breaker.reason, breaker.version) == (
        KEY,
        "open",
        0,
        "12 of 12 calls failed",
        1,
    )
    assert breaker.changed_at == at and breaker.changed_at.tzinfo is not None
    # Another gateway that read no state either comes second: the state is there now.
    assert not states.change(KEY, None, "open", 0, "late", at)
    assert states.read()[KEY].reason == "12 of 12 calls failed"


def test_a_change_from_a_stale_version_is_not_applied(states: BreakerStates) -> None:
    assert states.change(KEY, None, "open", at=T0)
    assert states.change(KEY, 1, "half_open", 2, "probing", T0 + timedelta(seconds=20))
    assert not states.change(KEY, 1, "closed", 0, "stale", T0 + timedelta(seconds=21))
    # Nor from a version of a breaker that has no state, which is not made by it.
    assert not states.change(OTHER, 3, "open", at=T0)
    read = states.read()
    assert set(read) == {KEY}
    assert (read[KEY].state, read[KEY].version, read[KEY].probes_left) == ("half_open", 2, 2)


@pytest.mark.parametrize("opened_before", [False, True])
def test_gateways_racing_for_one_change_make_it_once(
    states: BreakerStates, opened_before: bool
) -> None:
    read_version = None
    if opened_before:
        assert states.change(KEY, None, "open", at=T0)
        read_version = 1
    made = _at_once(8, lambda: states.change(KEY, read_version, "half_open", 2, "probing", T0))
    assert made.count(True) == 1
    assert states.read()[KEY].version == (read_version or 0) + 1


def test_probe_claims_stop_at_zero(states: BreakerStates) -> None:
    assert not states.claim_probe(KEY)  # no state: closed, nothing to claim
    assert states.change(KEY, None, "open", at=T0)
    assert not states.claim_probe(KEY)  # open: no probes
    assert states.change(KEY, 1, "half_open", 3, "probing", T0)
    taken = _at_once(10, lambda: states.claim_probe(KEY))
    assert taken.count(True) == 3
    assert not states.claim_probe(KEY)
    breaker = states.read()[KEY]
    # A claim does not change the version: the judging gateway's change still applies.
    assert (breaker.probes_left, breaker.version) == (0, 2)


@pytest.fixture
def redis_states(redis_url: str) -> Iterator[RedisBreakerStates]:
    yield from _redis_states(redis_url)


def test_boards_judge_outcome_rows_with_their_states_in_redis(
    engine: Engine, redis_states: RedisBreakerStates
) -> None:
    # Two gateways: one store for the outcomes, one Redis for the states.
    first_seen, second_seen = Transitions(), Transitions()
    first = BreakerBoard(engine, POLICY, first_seen, redis_states)
    second = BreakerBoard(engine, POLICY, second_seen, redis_states)

    def judge(at: datetime) -> list[str]:
        first.refresh(at)
        second.refresh(at)
        return [state for _key, state, _reason in first_seen + second_seen]

    calls(engine, T0, failed=12)
    assert judge(T0 + timedelta(seconds=1)) == ["open"]
    assert [t.variant for t in second.admit(ROUTE).targets] == [BACKUP.variant]
    half_open_at = T0 + timedelta(seconds=22)
    assert judge(half_open_at) == ["open", "half_open"]
    # Two probes between both gateways, taken from Redis.
    admitted = [board.admit(ROUTE).targets[0].variant for board in (first, second, first)]
    assert admitted == [FLAKY.variant, FLAKY.variant, BACKUP.variant]
    calls(engine, half_open_at + timedelta(seconds=1), ok=2)
    assert judge(half_open_at + timedelta(seconds=2)) == ["open", "half_open", "closed"]
    assert first.admit(ROUTE) == ROUTE and second.admit(ROUTE) == ROUTE
    shared = redis_states.read()[(FLAKY.provider, FLAKY.model)]
    assert (shared.state, shared.version) == ("closed", 3)
    assert breakers(engine) == {}  # no state went to the database


def test_installations_sharing_one_redis_keep_their_own_breakers(
    redis_url: str, tmp_path: Path
) -> None:
    # Staging and production (or two test stacks) pointed at one Redis database: each store
    # names its own namespace, and every process of one installation finds the same one.
    production = create_store_engine(f"sqlite:///{tmp_path / 'production.db'}")
    staging = create_store_engine(f"sqlite:///{tmp_path / 'staging.db'}")
    for engine in (production, staging):
        init_schema(engine)
    gateway, other_gateway = (open_breaker_states(redis_url, production) for _ in range(2))
    elsewhere = open_breaker_states(redis_url, staging)
    try:
        assert gateway.change(KEY, None, "open", reason="outage")
        assert other_gateway.read()[KEY].state == "open"
        assert elsewhere.read() == {}
        assert elsewhere.change(KEY, None, "open", reason="its own outage")
    finally:
        client = redis.Redis.from_url(redis_url)
        client.delete(
            f"{redis_namespace(production)}:breakers", f"{redis_namespace(staging)}:breakers"
        )
        client.close()


def test_a_probe_that_cannot_be_claimed_sends_the_request_to_the_fallback(
    engine: Engine, redis_states: RedisBreakerStates
) -> None:
    # Redis goes away while a breaker is half-open: the request is neither failed nor sent to
    # the variant that was failing, but to the route's next variant.
    board = BreakerBoard(engine, POLICY, Transitions(), redis_states)
    calls(engine, T0, failed=12)
    board.refresh(T0 + timedelta(seconds=1))
    board.refresh(T0 + timedelta(seconds=22))
    assert board.state_of(FLAKY.provider, FLAKY.model) == "half_open"
    board.states = RedisBreakerStates("redis://127.0.0.1:1/0", redis_namespace_for_test())
    assert [t.variant for t in board.admit(ROUTE).targets] == [BACKUP.variant]
