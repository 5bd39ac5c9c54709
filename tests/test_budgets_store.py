"""Budgets in the store, on SQLite and PostgreSQL: reservations that never let spend pass the
limit, whatever the interleaving of requests, threads and processes."""

from __future__ import annotations

import multiprocessing
import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from store.budgets import (
    NANO,
    OverBudget,
    budget_states,
    charge_expired,
    remove_budget,
    reserve,
    set_budget,
    settle,
    to_nano,
    window_end,
)
from store.budgets import budget_rules as rules_of
from store.engine import create_store_engine
from store.schema import init_schema

NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def state(engine: Engine, tenant: str, route: str = "*", at: datetime = NOON):
    return next(s for s in budget_states(engine, tenant, at) if s.rule.route == route)


def test_reservations_hold_the_worst_case_and_settling_swaps_in_the_cost(engine: Engine) -> None:
    set_budget(engine, "acme", 1.0, "day")
    rules = rules_of(engine, "acme")
    assert reserve(engine, "r1", rules, "chat", 0.4, NOON) == to_nano(0.4)
    reserve(engine, "r2", rules, "chat", 0.4, NOON)
    with pytest.raises(OverBudget) as refused:
        reserve(engine, "r3", rules, "chat", 0.4, NOON)
    message = str(refused.value)
    assert "tenant 'acme''s daily budget of $1" in message
    assert "$0.8 held by requests in flight" in message and "up to $0.4" in message
    assert "resets at 2026-12-02T00:00Z" in message
    assert settle(engine, "r1", 0.1, NOON)
    now = state(engine, "acme")
    assert (now.spent_nusd, now.reserved_nusd) == (to_nano(0.1), to_nano(0.4))
    # What the settled request did not use is free again.
    reserve(engine, "r3", rules, "chat", 0.4, NOON)


def test_a_request_is_held_once_and_charged_once(engine: Engine) -> None:
    set_budget(engine, "acme", 1.0, "day")
    rules = rules_of(engine, "acme")
    reserve(engine, "r1", rules, "chat", 0.5, NOON)
    reserve(engine, "r1", rules, "chat", 0.5, NOON)  # a retried admission
    assert state(engine, "acme").reserved_nusd == to_nano(0.5)
    assert settle(engine, "r1", 0.2, NOON)
    assert not settle(engine, "r1", 0.2, NOON)  # a retried settle step
    assert not settle(engine, "never-reserved", 0.2, NOON)
    assert (state(engine, "acme").spent_nusd, state(engine, "acme").reserved_nusd) == (
        to_nano(0.2),
        0,
    )


def test_a_route_budget_and_the_tenant_budget_both_hold(engine: Engine) -> None:
    set_budget(engine, "acme", 10.0, "month")
    set_budget(engine, "acme", 0.3, "day", route="summarizer")
    rules = rules_of(engine, "acme")
    reserve(engine, "s1", rules, "summarizer", 0.25, NOON)
    with pytest.raises(OverBudget, match="on route 'summarizer'"):
        reserve(engine, "s2", rules, "summarizer", 0.1, NOON)
    # The refused request held nothing on the tenant's budget either.
    assert state(engine, "acme").reserved_nusd == to_nano(0.25)
    reserve(engine, "c1", rules, "chat", 5.0, NOON)  # other routes only meet the tenant's
    assert state(engine, "acme").reserved_nusd == to_nano(5.25)


def test_windows_reset_and_other_tenants_are_untouched(engine: Engine) -> None:
    set_budget(engine, "acme", 1.0, "day")
    set_budget(engine, "globex", 1.0, "day")
    rules = rules_of(engine, "acme")
    reserve(engine, "r1", rules, "chat", 1.0, NOON)
    settle(engine, "r1", 1.0, NOON)
    with pytest.raises(OverBudget):
        reserve(engine, "r2", rules, "chat", 0.01, NOON)
    tomorrow = NOON + timedelta(days=1)
    reserve(engine, "r2", rules, "chat", 0.01, tomorrow)
    reserve(engine, "g1", rules_of(engine, "globex"), "chat", 1.0, NOON)
    assert window_end("month", NOON) == datetime(2027, 1, 1, tzinfo=UTC)


def test_reservations_never_settled_are_charged_their_worst_case(engine: Engine) -> None:
    set_budget(engine, "acme", 1.0, "day")
    rules = rules_of(engine, "acme")
    reserve(engine, "lost", rules, "chat", 0.3, NOON)
    reserve(engine, "recent", rules, "chat", 0.3, NOON + timedelta(minutes=10))
    assert charge_expired(engine, "acme", older_than=NOON + timedelta(minutes=5)) == 1
    now = state(engine, "acme")
    assert (now.spent_nusd, now.reserved_nusd) == (to_nano(0.3), to_nano(0.3))
    assert not settle(engine, "lost", 0.0)  # its late settle changes nothing


def test_a_removed_budget_no_longer_applies(engine: Engine) -> None:
    set_budget(engine, "acme", 0.0, "day")
    with pytest.raises(OverBudget):
        reserve(engine, "r1", rules_of(engine, "acme"), "chat", 0.001, NOON)
    assert remove_budget(engine, "acme") and not remove_budget(engine, "acme")
    assert reserve(engine, "r1", rules_of(engine, "acme"), "chat", 0.001, NOON) == 0


@settings(max_examples=25, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["reserve", "settle", "retry-settle"]),
            st.integers(0, 5),
            st.floats(0.0, 0.4),
        ),
        max_size=40,
    )
)
def test_any_sequence_of_steps_keeps_spent_plus_reserved_within_the_limit(steps) -> None:
    """Reserve, settle (at most the worst case) and retried settles, in any order."""
    engine = create_store_engine("sqlite://")
    init_schema(engine)
    set_budget(engine, "acme", 1.0, "day")
    rules = rules_of(engine, "acme")
    held: dict[str, float] = {}
    for action, request, fraction in steps:
        request_id = f"r{request}"
        if action == "reserve":
            try:
                reserve(engine, request_id, rules, "chat", 0.35, NOON)
                held.setdefault(request_id, 0.35)
            except OverBudget:
                pass
        elif request_id in held:
            settle(engine, request_id, held[request_id] * fraction / 0.4, NOON)
        now = state(engine, "acme")
        assert now.spent_nusd + now.reserved_nusd <= now.rule.limit_nusd
        assert now.reserved_nusd >= 0


# --- concurrency: threads in two processes against one budget --------------------------------

WORKERS_PER_PROCESS = 6
REQUESTS_PER_WORKER = 25
LIMIT_USD = 0.5
WORST_USD = 0.02


def hammer(url: str, process: int, seed: int) -> None:
    """One process's share of the load: threads reserving, then settling at a random cost up to
    the worst case (or not at all, as a lost request would)."""
    engine = create_store_engine(url)
    rules = rules_of(engine, "acme")

    def worker(thread: int) -> None:
        rng = random.Random(seed * 1000 + process * 100 + thread)
        for n in range(REQUESTS_PER_WORKER):
            request_id = f"p{process}-t{thread}-{n}"
            try:
                reserve(engine, request_id, rules, "chat", WORST_USD)
            except OverBudget:
                continue
            if rng.random() < 0.9:
                settle(engine, request_id, WORST_USD * rng.random())
                if rng.random() < 0.2:
                    settle(engine, request_id, WORST_USD)  # a retried step: must not count

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(WORKERS_PER_PROCESS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    engine.dispose()


def test_concurrent_requests_from_two_processes_never_overshoot(
    engine: Engine, store_url: str
) -> None:
    set_budget(engine, "acme", LIMIT_USD, "day")
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=hammer, args=(store_url, p, 7)) for p in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=180)
        assert process.exitcode == 0
    # Lost requests (never settled) are charged their worst case once they are stale.
    charge_expired(engine, "acme", older_than=datetime.now(UTC) + timedelta(seconds=1))
    final = state(engine, "acme", at=datetime.now(UTC))
    assert final.reserved_nusd == 0
    assert final.spent_nusd <= final.rule.limit_nusd
    # The load was more than the budget could take: it was the limit that stopped it.
    offered = 2 * WORKERS_PER_PROCESS * REQUESTS_PER_WORKER * WORST_USD
    assert offered > 4 * LIMIT_USD
    assert final.spent_nusd + to_nano(WORST_USD) > final.rule.limit_nusd / 2
    assert final.rule.limit_nusd == LIMIT_USD * NANO
