"""Tenant isolation through the running gateway: one test per thing a tenant owns, each showing
that tenant B, with its own valid key, can neither read nor change tenant A's.

Where a property is also tested elsewhere, more broadly, that test is named in the docstring;
this file holds one clearly named test per property so the list can be read in one place.
"""

from __future__ import annotations

import uuid

import httpx
import openai
import pytest

from contracts.routing import CachePolicy, RouteTarget
from store.budgets import budget_states, set_budget
from store.feedback import rating_of
from store.outcomes import outcomes_for_request
from store.rate_limits import RateLimit
from store.routes import RouteConfig, publish_route, publish_routes
from store.tenants import add_api_key, ensure_tenant
from tests.conftest import publish_echo_route
from tests.experiment_helpers import new_experiment


def new_tenant(stack, prefix: str, rate_limit: RateLimit | None = None) -> tuple[str, str]:
    """A fresh tenant and a key of it."""
    tenant = f"{prefix}-{uuid.uuid4().hex[:8]}"
    ensure_tenant(stack.engine, tenant)
    return tenant, add_api_key(stack.engine, tenant, rate_limit=rate_limit)


def sdk_for(stack, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{stack.base_url}/v1", api_key=key, max_retries=0)


async def ask(
    http: httpx.AsyncClient, key: str, route: str, headers: dict[str, str] | None = None, **body
) -> httpx.Response:
    return await http.post(
        "/v1/chat/completions",
        json={"model": route, "messages": [{"role": "user", "content": "hello"}], **body},
        headers={"Authorization": f"Bearer {key}", **(headers or {})},
    )


async def served_paths(http: httpx.AsyncClient) -> list[str]:
    """The paths the gateway documents: what a tenant's key could reach."""
    return list((await http.get("/openapi.json")).json()["paths"])


@pytest.fixture
async def http(stack):
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as client:
        yield client


async def test_a_cached_answer_of_one_tenant_is_never_served_to_another(stack, http) -> None:
    """Also with the cache in Redis, and for everything else that shapes an answer:
    tests/test_response_cache_gateway.py and tests/test_response_cache_store.py."""
    route = f"iso-cache-{uuid.uuid4().hex[:6]}"
    publish_routes(
        stack.engine,
        [
            RouteConfig(
                name=route,
                targets=[
                    RouteTarget(
                        variant="main",
                        provider="simulated",
                        model="sim-fast",
                        options={"error_rate": 0.0},
                    )
                ],
                cache=CachePolicy(ttl_seconds=300),
            )
        ],
    )
    _, key_a = new_tenant(stack, "iso-a")
    tenant_b, key_b = new_tenant(stack, "iso-b")
    first, again = await ask(http, key_a, route), await ask(http, key_a, route)
    assert (first.headers["x-interlock-cache"], again.headers["x-interlock-cache"]) == (
        "miss",
        "hit",
    )
    stranger = await ask(http, key_b, route)
    assert stranger.status_code == 200
    assert stranger.headers["x-interlock-cache"] == "miss"
    [row] = outcomes_for_request(stack.engine, stranger.json()["id"])
    assert (row.tenant_id, row.cache_hit) == (tenant_b, False)


async def test_one_tenant_cannot_reach_another_tenants_outcomes(stack, http) -> None:
    """Request ids are made by the gateway, so B cannot write under A's id; no HTTP path reads
    outcomes (reports and the CLI read the store)."""
    route = publish_echo_route(stack.engine, f"iso-outcomes-{uuid.uuid4().hex[:6]}")
    tenant_a, key_a = new_tenant(stack, "iso-a")
    _, key_b = new_tenant(stack, "iso-b")
    answered = (await ask(http, key_a, route)).json()["id"]
    before = [r.model_dump() for r in outcomes_for_request(stack.engine, answered)]
    reused = await ask(http, key_b, route, headers={"x-request-id": answered})
    assert reused.status_code == 200 and reused.json()["id"] != answered
    assert [r.model_dump() for r in outcomes_for_request(stack.engine, answered)] == before
    assert [r["tenant_id"] for r in before] == [tenant_a]
    paths = await served_paths(http)
    assert not [p for p in paths if "outcome" in p], "an outcomes endpoint needs a tenant test"


async def test_feedback_on_another_tenants_request_is_refused(stack, http) -> None:
    """Also: test_feedback_is_kept_for_the_tenants_own_requests_only in
    tests/test_quality_signals.py."""
    route = publish_echo_route(stack.engine, f"iso-feedback-{uuid.uuid4().hex[:6]}")
    _, key_a = new_tenant(stack, "iso-a")
    _, key_b = new_tenant(stack, "iso-b")
    answered = (await ask(http, key_a, route)).json()["id"]

    async def rate(key: str, thumbs: str) -> httpx.Response:
        return await http.post(
            "/v1/feedback",
            json={"request_id": answered, "thumbs": thumbs},
            headers={"Authorization": f"Bearer {key}"},
        )

    assert (await rate(key_a, "up")).status_code == 200
    refused = await rate(key_b, "down")
    assert refused.status_code == 404
    # Answered exactly as an id that never existed: B learns nothing about A's requests.
    assert refused.json()["error"] == {
        "message": f"no request {answered!r} of yours to rate",
        "type": "invalid_request_error",
        "param": "request_id",
        "code": "request_not_found",
    }
    rating = rating_of(stack.engine, answered)
    assert rating is not None and rating.value == 1.0


async def test_one_tenants_spending_never_reduces_another_tenants_budget(stack, http) -> None:
    """Also: tests/test_budgets_store.py::test_windows_reset_and_other_tenants_are_untouched.
    No HTTP path reads or sets budgets (the CLI works on the store), so B's key cannot read A's
    budget; the last assertion fails the day one appears without a test like this one."""
    route = f"iso-budget-{uuid.uuid4().hex[:6]}"
    prices = {"input_price_per_mtok": 100.0, "output_price_per_mtok": 1000.0, "error_rate": 0.0}
    publish_route(
        stack.engine,
        route,
        [RouteTarget(variant="base", provider="simulated", model="sim-fast", options=prices)],
    )
    tenant_a, _ = new_tenant(stack, "iso-a")
    tenant_b, key_b = new_tenant(stack, "iso-b")
    set_budget(stack.engine, tenant_a, 1.0, "day")
    set_budget(stack.engine, tenant_b, 1.0, "day")
    for _ in range(3):
        spent = await ask(http, key_b, route, max_tokens=20)
        assert spent.status_code == 200, spent.text
    [a_state] = budget_states(stack.engine, tenant_a)
    [b_state] = budget_states(stack.engine, tenant_b)
    assert (a_state.spent_nusd, a_state.reserved_nusd) == (0, 0)
    assert b_state.spent_nusd > 0
    paths = await served_paths(http)
    assert not [p for p in paths if "budget" in p], "a budgets endpoint needs a tenant test"


async def test_experiment_units_are_per_tenant(stack) -> None:
    """Experiments belong to a route, not a tenant: every tenant's traffic on the route takes
    part, which is what an experiment on a shared route is for. What a tenant owns is its
    units: the same user id sent by B is another user (its hash is keyed by tenant) and is put
    in an arm independently of A's, so B can neither join A's users' units nor steer or learn
    their arms. Also: tests/test_experiment_assignment.py (the split), tests/test_end_users.py
    (the hash)."""
    route = f"iso-exp-{uuid.uuid4().hex[:6]}"
    await new_experiment(stack, route)
    _, key_a = new_tenant(stack, "iso-a")
    _, key_b = new_tenant(stack, "iso-b")
    users = [f"user-{i}@example.com" for i in range(20)]
    arms: dict[str, list[str]] = {}
    hashes: dict[str, list[str | None]] = {}
    for name, key in (("a", key_a), ("b", key_b), ("a again", key_a)):
        async with sdk_for(stack, key) as sdk:
            for user in users:
                raw = await sdk.chat.completions.with_raw_response.create(
                    model=route, messages=[{"role": "user", "content": "hello"}], user=user
                )
                arms.setdefault(name, []).append(raw.headers["x-interlock-variant"])
                [row] = outcomes_for_request(stack.engine, raw.parse().id)
                assert row.experiment == route
                hashes.setdefault(name, []).append(row.user_hash)
    assert hashes["a"] == hashes["a again"] and None not in hashes["a"]
    assert not set(hashes["a"]) & set(hashes["b"])
    # A's users keep their arms whatever B sent; B's same-named users fall independently
    # (all twenty agreeing by chance: one in a million).
    assert arms["a"] == arms["a again"]
    assert arms["a"] != arms["b"]


async def test_one_tenants_requests_do_not_drain_another_tenants_bucket(stack, http) -> None:
    """Buckets are per key (tests/test_rate_limits.py, on every backend); here through the
    gateway, with two tenants of the same limit."""
    route = publish_echo_route(stack.engine, f"iso-rate-{uuid.uuid4().hex[:6]}")
    almost_no_refill = RateLimit(per_second=0.01, burst=2)
    _, key_a = new_tenant(stack, "iso-a", almost_no_refill)
    _, key_b = new_tenant(stack, "iso-b", almost_no_refill)
    b_statuses = [(await ask(http, key_b, route)).status_code for _ in range(4)]
    assert b_statuses == [200, 200, 429, 429]
    a_statuses = [(await ask(http, key_a, route)).status_code for _ in range(3)]
    assert a_statuses == [200, 200, 429]
