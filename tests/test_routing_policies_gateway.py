"""Routing policies through the running stack: the official openai client -> gateway -> the
variant the policy chose, with the reason on the outcome row."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest

from contracts.routing import RouteTarget, RoutingPolicy
from store.outcomes import outcomes_for_request
from store.routes import RouteConfig, publish_routes

STEADY = {"error_rate": 0.0}


def publish(stack, name: str, targets: list[RouteTarget], routing: RoutingPolicy | None) -> None:
    publish_routes(stack.engine, [RouteConfig(name=name, targets=targets, routing=routing)])


async def ask(sdk, route: str):
    raw = await sdk.chat.completions.with_raw_response.create(
        model=route, messages=[{"role": "user", "content": "which one?"}]
    )
    return raw.headers["x-interlock-variant"], raw.parse()


async def test_cheapest_sends_the_request_to_the_cheaper_variant(stack, sdk) -> None:
    publish(
        stack,
        "policy-cheapest",
        [
            RouteTarget(variant="smart", provider="simulated", model="sim-smart", options=STEADY),
            RouteTarget(variant="fast", provider="simulated", model="sim-fast", options=STEADY),
        ],
        RoutingPolicy(kind="cheapest"),
    )
    variant, completion = await ask(sdk, "policy-cheapest")
    assert variant == "fast"
    [row] = outcomes_for_request(stack.engine, completion.id)
    assert row.variant == "fast"
    assert row.routing_reason is not None and row.routing_reason.startswith("cheapest of 2: fast")


async def test_fastest_follows_the_latency_the_outcomes_show(stack, sdk) -> None:
    # One variant stalls 150 ms before answering (a stall the simulator never scales).
    slow = RouteTarget(
        variant="slow",
        provider="simulated",
        model="sim-flaky",
        options={**STEADY, "stall_ms": 150},
    )
    quick = RouteTarget(variant="quick", provider="simulated", model="sim-smart", options=STEADY)
    # Each measured on its own first: the figures are per provider and model, from any route.
    publish(stack, "policy-measure-slow", [slow], None)
    publish(stack, "policy-measure-quick", [quick], None)
    for _ in range(5):
        await ask(sdk, "policy-measure-slow")
        await ask(sdk, "policy-measure-quick")
    publish(stack, "policy-fastest", [slow, quick], RoutingPolicy(kind="fastest"))
    await asyncio.sleep(1.5)  # gateways read the figures once a second
    variant, completion = await ask(sdk, "policy-fastest")
    assert variant == "quick"
    [row] = outcomes_for_request(stack.engine, completion.id)
    assert row.routing_reason is not None and row.routing_reason.startswith(
        "fastest of 2: quick at"
    )


async def test_a_request_no_variant_can_serve_is_a_clear_400(stack, sdk) -> None:
    publish(
        stack,
        "policy-nothing-fits",
        [RouteTarget(variant="fast", provider="simulated", model="sim-fast", options=STEADY)],
        RoutingPolicy(providers=["openai"]),
    )
    with pytest.raises(openai.BadRequestError) as refused:
        await ask(sdk, "policy-nothing-fits")
    error = refused.value.body
    assert error["code"] == "no_eligible_variant"
    assert "fast: provider simulated is not allowed" in error["message"]


PLACE = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "population"],
}


async def test_structured_output_goes_to_a_variant_that_can_answer_in_json(stack, sdk) -> None:
    # The route's traffic is all on a variant that has no structured output; the JSON request
    # goes to its fallback, which has, and the plain request stays where the weights say.
    no_json = {**STEADY, "structured_output": False}
    publish(
        stack,
        "json-capable",
        [
            RouteTarget(variant="prose", provider="simulated", model="sim-smart", options=no_json),
            RouteTarget(
                variant="json", provider="simulated", model="sim-fast", weight=0, options=STEADY
            ),
        ],
        None,
    )
    raw = await sdk.chat.completions.with_raw_response.create(
        model="json-capable",
        messages=[{"role": "user", "content": "Name a city."}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "place", "schema": PLACE, "strict": True},
        },
    )
    completion = raw.parse()
    assert raw.headers["x-interlock-variant"] == "json"
    answer = json.loads(completion.choices[0].message.content)
    assert set(answer) == {"city", "population"} and isinstance(answer["population"], int)
    [row] = outcomes_for_request(stack.engine, completion.id)
    assert row.routing_reason == "weighted among 1 meeting structured_output"
    variant, _ = await ask(sdk, "json-capable")
    assert variant == "prose"


async def test_structured_output_from_a_model_addressed_directly(stack, sdk) -> None:
    completion = await sdk.chat.completions.create(
        model="simulated/sim-fast",
        messages=[{"role": "user", "content": "Anything, as JSON."}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(completion.choices[0].message.content), dict)
    with pytest.raises(openai.BadRequestError) as refused:
        await sdk.chat.completions.create(
            model="simulated/sim-fast",
            messages=[{"role": "user", "content": "x"}],
            response_format={"type": "json_schema"},
        )
    assert refused.value.body["param"] == "response_format.json_schema"


async def test_a_route_that_requires_tools_leaves_out_a_variant_without_them(stack, sdk) -> None:
    publish(
        stack,
        "tools-required",
        [
            RouteTarget(
                variant="toolless",
                provider="simulated",
                model="sim-fast",
                options={**STEADY, "tools": False},
            ),
            RouteTarget(variant="agent", provider="simulated", model="sim-smart", options=STEADY),
        ],
        RoutingPolicy(kind="cheapest", requires=["tools"]),
    )
    variant, completion = await ask(sdk, "tools-required")
    assert variant == "agent"
    [row] = outcomes_for_request(stack.engine, completion.id)
    assert row.routing_reason is not None
    assert row.routing_reason.startswith("cheapest of 1 meeting tools: agent")
