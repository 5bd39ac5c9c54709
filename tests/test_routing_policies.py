"""Routing policies choosing among real simulated variants (their prices and context windows are
the simulator's own), with recent figures given: constraints first, then the policy's order,
and a reason a person can read."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from activities.providers import ProviderRegistry
from activities.providers.bedrock import BedrockProvider
from activities.providers.simulated import SimulatedProvider
from activities.routing_policies import NoVariantEligible, PolicyChooser, Recent
from activities.variant_stats import VariantStats
from contracts.chat import ChatMessage, ChatRequest, ResponseFormat, SamplingParams, ToolSpec
from contracts.routing import ResolvedRoute, RouteTarget, RoutingPolicy
from store.outcomes import record_outcomes
from tests.test_circuit_breakers import T0
from tests.test_flags import Clock
from tests.test_rollout_stats import outcome

REGISTRY_PROVIDERS = [SimulatedProvider(seed=0, latency_scale=0.0)]
REGISTRY = ProviderRegistry(REGISTRY_PROVIDERS)
SMART = RouteTarget(variant="smart", provider="simulated", model="sim-smart", weight=1)
FAST = RouteTarget(
    variant="fast",
    provider="simulated",
    model="sim-fast",
    weight=1,
    options={"context_window": 8000},
)
FLAKY = RouteTarget(variant="flaky", provider="simulated", model="sim-flaky", weight=0)
CHAT = ChatRequest(messages=[ChatMessage(role="user", content="hello")])
FIGURES = {
    "sim-smart": Recent(latency_ms=650, quality=0.86),
    "sim-fast": Recent(latency_ms=120, quality=0.70),
}


def choose(policy: RoutingPolicy, chat: ChatRequest = CHAT, figures=FIGURES) -> ResolvedRoute:
    chooser = PolicyChooser(REGISTRY, lambda _provider, model: figures.get(model, Recent()))
    route = ResolvedRoute(route="chat", version=1, targets=[SMART, FAST, FLAKY], routing=policy)
    return chooser.choose(route, chat)


def order(route: ResolvedRoute) -> list[tuple[str, float]]:
    return [(t.variant, t.weight) for t in route.targets]


def test_cheapest_takes_the_lowest_expected_cost_and_keeps_the_rest_as_fallbacks() -> None:
    chosen = choose(RoutingPolicy(kind="cheapest"))
    # sim-fast costs 0.15/0.6 per million tokens, sim-flaky 0.5/1.5, sim-smart 3/15.
    assert order(chosen) == [("fast", 1.0), ("flaky", 0.0), ("smart", 0.0)]
    assert chosen.reason is not None and chosen.reason.startswith("cheapest of 3: fast at $0.0001")


def test_fastest_goes_by_recent_latency_and_measures_the_unknown_last() -> None:
    chosen = choose(RoutingPolicy(kind="fastest"))
    assert order(chosen) == [("fast", 1.0), ("smart", 0.0), ("flaky", 0.0)]
    assert chosen.reason == "fastest of 3: fast at 120 ms"


def test_score_weighs_quality_against_cost_and_latency() -> None:
    # Quality alone: the smart model; with latency weighing 0.5 per second, the fast one.
    assert choose(RoutingPolicy(kind="score")).targets[0].variant == "smart"
    weighed = choose(RoutingPolicy(kind="score", latency_weight=0.5))
    assert weighed.targets[0].variant == "fast"
    assert weighed.reason == "score of 3: fast scoring 0.640"


def test_constraints_leave_variants_out_and_say_why() -> None:
    long_answer = CHAT.model_copy(update={"params": SamplingParams(max_tokens=9000)})
    chosen = choose(RoutingPolicy(kind="cheapest"), long_answer)
    # The fast variant's 8,000-token window cannot hold a 9,000-token answer.
    assert [t.variant for t in chosen.targets] == ["flaky", "smart"]
    within = choose(RoutingPolicy(kind="cheapest", min_context_tokens=32_000, max_cost_usd=0.001))
    assert [t.variant for t in within.targets] == ["flaky"]
    assert within.reason is not None
    assert within.reason.startswith("cheapest of 1 meeting 32k context, <= $0.001: flaky")
    slow = choose(RoutingPolicy(kind="weighted", max_latency_ms=500, providers=["simulated"]))
    assert order(slow) == [("fast", 1.0), ("flaky", 0.0)]
    with pytest.raises(NoVariantEligible) as none:
        choose(RoutingPolicy(providers=["openai"]))
    assert "smart: provider simulated is not allowed" in str(none.value)


def test_recent_figures_come_from_the_outcome_rows_smoothed(engine: Engine) -> None:
    clock = Clock()
    stats = VariantStats(engine, clock)
    record_outcomes(
        engine,
        [outcome(f"a{i}", "v", latency_ms=100.0, finished_at=T0) for i in range(4)]
        + [outcome("err", "v", status="error", latency_ms=9000.0, finished_at=T0)],
    )
    stats.refresh(T0)
    # Nobody has asked yet: nothing is read.
    assert stats.recent("simulated", "sim-fast") == Recent()
    stats.refresh(T0)
    assert stats.recent("simulated", "sim-fast").latency_ms == pytest.approx(100.0)
    record_outcomes(
        engine, [outcome(f"b{i}", "v", latency_ms=300.0, finished_at=T0) for i in range(4)]
    )
    stats.refresh(T0)
    # The window's mean is now 200 ms; smoothed, the reading moves 30% of the way.
    assert stats.recent("simulated", "sim-fast").latency_ms == pytest.approx(130.0)
    assert stats.recent("simulated", "sim-smart") == Recent()


def test_figures_are_read_only_while_a_route_asks_for_them(engine: Engine) -> None:
    clock = Clock()
    stats = VariantStats(engine, clock)
    stats.recent("simulated", "sim-fast")
    record_outcomes(engine, [outcome("a", "v", latency_ms=100.0, finished_at=T0)])
    stats.refresh(T0)
    assert stats.recent("simulated", "sim-fast").latency_ms == pytest.approx(100.0)
    record_outcomes(engine, [outcome("b", "v", latency_ms=700.0, finished_at=T0)])
    clock.now += 61
    stats.refresh(T0)  # a minute without asking: no reading, the last figures stay
    assert stats.recent("simulated", "sim-fast").latency_ms == pytest.approx(100.0)


JSON_WANTED = CHAT.model_copy(update={"response_format": ResponseFormat(type="json_object")})
WITH_TOOLS = CHAT.model_copy(update={"tools": [ToolSpec(name="lookup")]})


def plain_route(*targets: RouteTarget, routing: RoutingPolicy | None = None) -> ResolvedRoute:
    return ResolvedRoute(route="chat", version=1, targets=list(targets), routing=routing)


def test_a_request_needing_structured_output_skips_variants_known_to_lack_it() -> None:
    chooser = PolicyChooser(REGISTRY, lambda _provider, _model: Recent())
    no_json = SMART.model_copy(update={"options": {"structured_output": False}})
    # No routing block: the route's weights stand, less the variant that cannot answer in JSON.
    chosen = chooser.choose(plain_route(no_json, FLAKY), JSON_WANTED)
    assert order(chosen) == [("flaky", 1.0)]
    assert chosen.reason == "weighted among 1 meeting structured_output"
    # A plain request is not touched, nor is one whose needs every variant meets.
    assert chooser.choose(plain_route(no_json, FLAKY), CHAT).reason is None
    assert chooser.choose(plain_route(SMART, FLAKY), JSON_WANTED).reason is None
    no_tools = FAST.model_copy(update={"options": {"tools": False}})
    with pytest.raises(NoVariantEligible) as none:
        chooser.choose(plain_route(no_tools), WITH_TOOLS)
    assert "fast: no tools, which the request needs" in str(none.value)


def test_a_route_requirement_is_met_only_by_what_is_known() -> None:
    catalogued = RouteTarget(
        variant="claude", provider="bedrock", model="anthropic.claude-sonnet-4-5-20250929-v1:0"
    )
    older = catalogued.model_copy(
        update={"variant": "older", "model": "anthropic.claude-sonnet-4-20250514-v1:0"}
    )
    unlisted = catalogued.model_copy(update={"variant": "custom", "model": "acme.custom-v1"})
    bedrock = BedrockProvider("bedrock", region="eu-central-1")
    try:
        chooser = PolicyChooser(ProviderRegistry([bedrock]), lambda _p, _m: Recent())
        policy = RoutingPolicy(kind="cheapest", requires=["tools", "structured_output"])
        chosen = chooser.choose(plain_route(older, unlisted, catalogued, routing=policy), CHAT)
        assert [t.variant for t in chosen.targets] == ["claude"]
        assert chosen.reason is not None
        assert chosen.reason.startswith("cheapest of 1 meeting structured_output+tools: claude")
        with pytest.raises(NoVariantEligible) as none:
            chooser.choose(plain_route(older, unlisted, routing=policy), CHAT)
        assert "older: structured_output missing" in str(none.value)
        assert "custom: tools unknown" in str(none.value)
        # The request's own need lets the unlisted model try, but not the one known to lack it.
        needs_only = chooser.choose(plain_route(older, unlisted), JSON_WANTED)
        assert [t.variant for t in needs_only.targets] == ["custom"]
    finally:
        bedrock.close()


def test_regions_allow_a_region_or_the_regions_under_a_prefix() -> None:
    bedrock = BedrockProvider("bedrock", region="eu-central-1")
    try:
        chooser = PolicyChooser(
            ProviderRegistry([bedrock, *REGISTRY_PROVIDERS]), lambda _p, _m: Recent()
        )
        regional = RouteTarget(
            variant="regional",
            provider="bedrock",
            model="anthropic.claude-sonnet-4-5-20250929-v1:0",
        )
        profile = regional.model_copy(
            update={"variant": "profile", "model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0"}
        )
        sim_eu = SMART.model_copy(update={"variant": "sim-eu", "options": {"region": "eu-west-1"}})
        anywhere = FLAKY.model_copy(update={"variant": "anywhere", "weight": 1})
        route = plain_route(
            profile, regional, sim_eu, anywhere, routing=RoutingPolicy(regions=["eu"])
        )
        chosen = chooser.choose(route, CHAT)
        assert [t.variant for t in chosen.targets] == ["regional", "sim-eu"]
        assert chosen.reason == "weighted among 2 meeting in eu"
        exact = route.model_copy(update={"routing": RoutingPolicy(regions=["eu-west-1", "us"])})
        assert [t.variant for t in chooser.choose(exact, CHAT).targets] == ["profile", "sim-eu"]
        with pytest.raises(NoVariantEligible) as none:
            chooser.choose(route.model_copy(update={"targets": [profile, anywhere]}), CHAT)
        assert "profile: region us is not allowed" in str(none.value)
        assert "anywhere: region unknown" in str(none.value)
    finally:
        bedrock.close()
