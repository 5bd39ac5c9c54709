"""Circuit breakers on a real store (SQLite and PostgreSQL), with the clock passed in: closed ->
open on failures, half-open after the pause, probes rationed, closed or open again on their
results; one transition per change however many gateways see it."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from activities.circuit_breakers import AllVariantsOpen, BreakerBoard, BreakerPolicy
from contracts.outcome import OutcomeRecord
from contracts.routing import ResolvedRoute, RouteTarget
from store.breakers import breakers
from store.outcomes import record_outcomes

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POLICY = BreakerPolicy(
    window=timedelta(seconds=30),
    min_calls=10,
    failure_rate=0.5,
    open_for=timedelta(seconds=20),
    probes=2,
)
FLAKY = RouteTarget(variant="main", provider="openai-local", model="gpt-4o-mini", weight=1.0)
BACKUP = RouteTarget(variant="backup", provider="simulated", model="sim-fast", weight=0.0)
ROUTE = ResolvedRoute(route="chat", version=1, targets=[FLAKY, BACKUP])
_ids = itertools.count()


def calls(engine: Engine, at: datetime, ok: int = 0, failed: int = 0, error="ProviderUnavailable"):
    rows = [
        OutcomeRecord(
            request_id=f"req-{next(_ids)}",
            tenant_id="acme",
            route="chat",
            variant="main",
            provider=FLAKY.provider,
            model=FLAKY.model,
            status="ok" if n < ok else "error",
            error_class=None if n < ok else error,
            latency_ms=10.0,
            started_at=at,
            finished_at=at,
        )
        for n in range(ok + failed)
    ]
    record_outcomes(engine, rows)


class Transitions(list):
    def __call__(self, key, state, reason) -> None:
        self.append((key, state, reason))


def board(engine: Engine) -> tuple[BreakerBoard, Transitions]:
    seen = Transitions()
    return BreakerBoard(engine, POLICY, seen), seen


def test_failures_open_the_breaker_and_the_variant_is_skipped(engine: Engine) -> None:
    gateway, seen = board(engine)
    calls(engine, T0, ok=4, failed=8)
    gateway.refresh(T0 + timedelta(seconds=1))
    assert [(state, reason) for _key, state, reason in seen] == [
        ("open", "8 of 12 calls failed in the last 30 s")
    ]
    admitted = gateway.admit(ROUTE)
    # The failing variant is left out; its fallback takes the traffic it had.
    assert [(t.variant, t.weight) for t in admitted.targets] == [("backup", 1.0)]


def test_too_few_calls_or_the_requests_own_errors_never_open_it(engine: Engine) -> None:
    gateway, seen = board(engine)
    calls(engine, T0, failed=9)  # one short of min_calls
    calls(engine, T0, failed=20, error="ProviderBadRequest")  # the requests' fault
    gateway.refresh(T0 + timedelta(seconds=1))
    assert seen == [] and gateway.admit(ROUTE) == ROUTE


def test_old_failures_fall_out_of_the_window(engine: Engine) -> None:
    gateway, seen = board(engine)
    calls(engine, T0 - timedelta(seconds=31), failed=20)
    gateway.refresh(T0)
    assert seen == []


def test_half_open_rations_probes_then_closes_on_their_answers(engine: Engine) -> None:
    gateway, seen = board(engine)
    calls(engine, T0, failed=12)
    gateway.refresh(T0 + timedelta(seconds=1))
    half_open_at = T0 + timedelta(seconds=22)
    gateway.refresh(half_open_at)
    assert seen[-1][1] == "half_open"
    # Two probes: two requests may try the variant, the third goes to the fallback.
    assert [t.variant for t in gateway.admit(ROUTE).targets] == ["main", "backup"]
    assert [t.variant for t in gateway.admit(ROUTE).targets] == ["main", "backup"]
    assert [t.variant for t in gateway.admit(ROUTE).targets] == ["backup"]
    calls(engine, half_open_at + timedelta(seconds=1), ok=2)
    gateway.refresh(half_open_at + timedelta(seconds=2))
    assert seen[-1][1:] == ("closed", "2 probes answered")
    # The failures that opened it are still in the window, but it judges from its change on.
    gateway.refresh(half_open_at + timedelta(seconds=3))
    assert seen[-1][1] == "closed" and gateway.admit(ROUTE) == ROUTE


def test_a_failed_probe_opens_it_again(engine: Engine) -> None:
    gateway, seen = board(engine)
    calls(engine, T0, failed=12)
    gateway.refresh(T0 + timedelta(seconds=1))
    gateway.refresh(T0 + timedelta(seconds=22))
    gateway.admit(ROUTE)
    calls(engine, T0 + timedelta(seconds=23), failed=1)
    gateway.refresh(T0 + timedelta(seconds=24))
    assert [state for _key, state, _reason in seen] == ["open", "half_open", "open"]
    assert seen[-1][2] == "a probe failed"


def test_two_gateways_make_each_change_once(engine: Engine) -> None:
    first, first_seen = board(engine)
    second, second_seen = board(engine)
    calls(engine, T0, failed=12)
    first.refresh(T0 + timedelta(seconds=1))
    second.refresh(T0 + timedelta(seconds=1))
    assert len(first_seen) + len(second_seen) == 1
    # Both skip the variant: the state is shared.
    assert [t.variant for t in second.admit(ROUTE).targets] == ["backup"]
    [shared] = breakers(engine).values()
    assert (shared.state, shared.version) == ("open", 1)


def test_a_route_with_every_variant_open_is_refused_with_when_to_retry(engine: Engine) -> None:
    gateway, _seen = board(engine)
    calls(engine, T0, failed=12)
    gateway.refresh(T0 + timedelta(seconds=1))
    alone = ResolvedRoute(route="solo", version=1, targets=[FLAKY])
    with pytest.raises(AllVariantsOpen) as refused:
        gateway.admit(alone, now=T0 + timedelta(seconds=6))
    assert refused.value.retry_after == timedelta(seconds=15)
    assert "every variant of route 'solo' is failing" in str(refused.value)
    assert "openai-local/gpt-4o-mini: 12 of 12 calls failed" in str(refused.value)
