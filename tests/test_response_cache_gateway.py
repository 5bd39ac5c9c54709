"""The response cache through the gateway, with the cache in the database and in Redis: the
official openai client -> gateway -> the OpenAI adapter -> a local server that counts its calls.
A repeated request is answered without a call; anything that shapes the answer differently, or
another tenant, or the client's no-cache, misses; redacted input is never cached; and a hit is
still checked by the output guardrails and recorded, at no cost."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import openai
import pytest

from configuration.settings import ProviderConfig
from contracts.guardrails import DirectionPolicy, GuardrailPolicy
from contracts.routing import CachePolicy, RouteTarget
from gateway.app import create_app
from store.outcomes import outcomes_for_request
from store.routes import RouteConfig, publish_routes
from store.tenants import add_api_key, ensure_tenant
from tests.conftest import serving
from tests.openai_server import OpenAICompatServer

KEY = "sk-cache-test"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture
def server():
    with OpenAICompatServer(api_key=KEY) as running:
        yield running


@pytest.fixture(params=["database", "redis"])
async def base_url(request, stack, server, monkeypatch) -> AsyncIterator[str]:
    monkeypatch.setenv("CACHE_OPENAI_KEY", KEY)
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    settings = stack.settings.model_copy(
        update={
            "request_task_queue": f"cache-{uuid.uuid4().hex[:8]}",
            "providers": [
                ProviderConfig(
                    name="cache-openai",
                    kind="openai",
                    base_url=server.url,
                    api_key_env="CACHE_OPENAI_KEY",
                )
            ],
            "redis_url": redis_url,
        }
    )
    async with serving(create_app(settings, client=stack.client)) as url:
        yield url


def client_for(base_url: str, api_key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key=api_key, max_retries=0)


def publish(stack, route: str, guardrails: GuardrailPolicy | None = None) -> None:
    publish_routes(
        stack.engine,
        [
            RouteConfig(
                name=route,
                targets=[RouteTarget(variant="main", provider="cache-openai", model="gpt-4o-mini")],
                guardrails=guardrails or GuardrailPolicy(),
                cache=CachePolicy(ttl_seconds=300),
            )
        ],
    )


def new_tenant(stack) -> str:
    tenant = f"cache-{uuid.uuid4().hex[:8]}"
    ensure_tenant(stack.engine, tenant)
    return add_api_key(stack.engine, tenant)


async def ask(client: openai.AsyncOpenAI, route: str, text: str = "hello", **extra):
    raw = await client.chat.completions.with_raw_response.create(
        model=route, messages=[{"role": "user", "content": text}], **extra
    )
    return raw.headers, raw.parse()


async def test_a_repeated_request_is_answered_from_the_cache(stack, server, base_url) -> None:
    route = f"cached-{uuid.uuid4().hex[:6]}"
    publish(stack, route)
    client = client_for(base_url, new_tenant(stack))
    first_headers, first = await ask(client, route)
    calls = len(server.requests)
    headers, again = await ask(client, route)
    assert (first_headers["x-interlock-cache"], headers["x-interlock-cache"]) == ("miss", "hit")
    assert len(server.requests) == calls  # no call for the hit
    assert again.choices[0].message.content == first.choices[0].message.content
    assert again.usage.total_tokens == 0
    [row] = outcomes_for_request(stack.engine, again.id)
    assert (row.status, row.cache_hit, row.cost_usd, row.tokens_in) == ("ok", True, 0.0, 0)
    [first_row] = outcomes_for_request(stack.engine, first.id)
    assert first_row.cache_hit is False and first_row.tokens_in > 0


async def test_what_shapes_the_answer_another_tenant_or_no_cache_misses(
    stack, server, base_url
) -> None:
    route = f"cached-{uuid.uuid4().hex[:6]}"
    publish(stack, route)
    client = client_for(base_url, new_tenant(stack))
    await ask(client, route)
    misses = {
        "another tenant": ask(client_for(base_url, new_tenant(stack)), route),
        "tools offered": ask(client, route, tools=[WEATHER], tool_choice="none"),
        "a temperature": ask(client, route, temperature=0.3),
        "a seed": ask(client, route, seed=7),
        "JSON asked for": ask(client, route, response_format={"type": "json_object"}),
        "other words": ask(client, route, "hello there"),
        "no-cache": ask(client, route, extra_headers={"Cache-Control": "no-cache"}),
    }
    for why, asking in misses.items():
        calls = len(server.requests)
        headers, _answer = await asking
        assert headers["x-interlock-cache"] == "miss", why
        assert len(server.requests) == calls + 1, why
    # The no-cache request's fresh answer was kept: the next plain request still hits.
    assert (await ask(client, route))[0]["x-interlock-cache"] == "hit"


async def test_redacted_input_is_never_cached(stack, server, base_url) -> None:
    route = f"cached-{uuid.uuid4().hex[:6]}"
    redacting = GuardrailPolicy(input=DirectionPolicy(actions={"EMAIL_ADDRESS": "redact"}))
    publish(stack, route, redacting)
    client = client_for(base_url, new_tenant(stack))
    text = "write to ann.lee@example.com"
    for _ in range(2):
        calls = len(server.requests)
        headers, _answer = await ask(client, route, text)
        assert "x-interlock-cache" in headers and headers["x-interlock-cache"] == "miss"
        assert len(server.requests) == calls + 1


async def test_a_hit_is_still_checked_by_the_output_guardrails(stack, server, base_url) -> None:
    route = f"cached-{uuid.uuid4().hex[:6]}"
    # The email is allowed in, and logged on the way out: only the output check can say "log".
    logging_out = GuardrailPolicy(
        input=DirectionPolicy(default_action="allow"),
        output=DirectionPolicy(default_action="log"),
    )
    publish(stack, route, logging_out)
    client = client_for(base_url, new_tenant(stack))
    text = "write to ann.lee@example.com"
    await ask(client, route, text)
    headers, answer = await ask(client, route, text)
    assert headers["x-interlock-cache"] == "hit"
    assert headers["x-interlock-guardrails"] == "log"
    [row] = outcomes_for_request(stack.engine, answer.id)
    assert (row.cache_hit, row.guardrail_action) == (True, "log")
