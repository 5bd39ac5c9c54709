"""Holding a request's worst case at admission, on both databases: the bound it holds, the cap it
gives a request without max_tokens, and the cheaper variant a route may fall back to."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from activities.budget_holds import DEFAULT_OUTPUT_CAP, BudgetHolds, worst_case_usd
from activities.providers import ProviderRegistry
from activities.providers.simulated import SimulatedProvider
from contracts.chat import ChatMessage, ChatRequest, SamplingParams
from contracts.guardrails import InputCheckResult, Verdict
from contracts.routing import ResolvedRoute, RouteTarget, RoutingPolicy
from contracts.steps import AdmitInput, AdmitResult
from store.budgets import OverBudget, budget_states, set_budget, to_nano
from store.tenants import ensure_tenant

REGISTRY = ProviderRegistry([SimulatedProvider(seed=0, latency_scale=0.0)])
SMART = RouteTarget(variant="smart", provider="simulated", model="sim-smart", weight=1)
FAST = RouteTarget(variant="fast", provider="simulated", model="sim-fast", weight=0)


def admitted(route: ResolvedRoute, max_tokens: int | None = 1000) -> tuple[AdmitInput, AdmitResult]:
    chat = ChatRequest(
        messages=[ChatMessage(role="user", content="hello")],
        params=SamplingParams(max_tokens=max_tokens),
    )
    request = AdmitInput(request_id="req-1", tenant_id="acme", model=route.route, chat=chat)
    return request, AdmitResult(route=route, checked=InputCheckResult(verdict=Verdict(), chat=chat))


def holds(engine: Engine) -> BudgetHolds:
    ensure_tenant(engine, "acme")
    return BudgetHolds(engine, REGISTRY, timedelta(seconds=120))


def test_the_worst_case_of_the_dearest_variant_is_held(engine: Engine) -> None:
    set_budget(engine, "acme", 1.0, "day")
    route = ResolvedRoute(route="chat", version=1, targets=[FAST, SMART])
    request, before = admitted(route)
    after = holds(engine).hold(request, before)
    assert after.budgeted
    # sim-smart's output price (15 per million) at 1,000 tokens bounds it, whichever answers.
    worst = worst_case_usd([FAST, SMART], before.checked.chat, REGISTRY)  # type: ignore[union-attr]
    assert worst >= 1000 * 15 / 1_000_000
    [state] = budget_states(engine, "acme")
    assert state.reserved_nusd == to_nano(worst)


def test_a_request_without_max_tokens_is_capped_when_budgeted(engine: Engine) -> None:
    set_budget(engine, "acme", 10.0, "day")
    request, before = admitted(ResolvedRoute(route="chat", version=1, targets=[FAST]), None)
    after = holds(engine).hold(request, before)
    assert after.checked is not None
    assert after.checked.chat.params.max_tokens == DEFAULT_OUTPUT_CAP


def test_unbudgeted_tenants_are_left_as_they_are(engine: Engine) -> None:
    request, before = admitted(ResolvedRoute(route="chat", version=1, targets=[FAST]), None)
    assert holds(engine).hold(request, before) == before


def test_a_route_may_send_an_over_budget_request_to_its_cheapest_variant(engine: Engine) -> None:
    # Enough for sim-fast's worst case (about $0.0007), not for sim-smart's (about $0.016).
    set_budget(engine, "acme", 0.005, "day")
    refusing = ResolvedRoute(route="chat", version=1, targets=[SMART, FAST])
    request, before = admitted(refusing)
    with pytest.raises(OverBudget):
        holds(engine).hold(request, before)
    allowing = refusing.model_copy(update={"routing": RoutingPolicy(over_budget="cheapest")})
    request, before = admitted(allowing)
    after = holds(engine).hold(request, before.model_copy(update={"cache_key": "k"}))
    assert [(t.variant, t.weight) for t in after.route.targets] == [("fast", 1.0)]
    assert after.route.reason == "over budget for its usual variants: fast, the cheapest that fits"
    assert after.cache_key is None  # the answer comes from another variant than the key's
    [state] = budget_states(engine, "acme")
    assert 0 < state.reserved_nusd <= state.rule.limit_nusd
