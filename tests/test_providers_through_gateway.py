"""The same requests through all four providers, end to end: openai SDK -> gateway ->
RequestWorkflow -> each adapter's real SDK -> a local server speaking that provider's format."""

from __future__ import annotations

import asyncio
import contextlib
import json

import openai
import pytest
import uvicorn

from configuration.settings import ProviderConfig
from contracts.routing import RouteTarget
from gateway.app import create_app
from store.outcomes import outcomes_for_request
from store.routes import publish_route
from tests.bedrock_converse_server import BedrockConverseServer
from tests.conftest import free_port
from tests.gemini_server import GeminiServer
from tests.openai_server import OpenAICompatServer

OPENAI_KEY = "sk-gateway-test"
GEMINI_KEY = "gemini-gateway-test"
MODELS = [
    "simulated/sim-fast",
    "openai-local/gpt-4o-mini",
    "gemini-local/gemini-2.5-flash",
    "bedrock-local/anthropic.claude-3-5-haiku-20241022-v1:0",
]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture(scope="module")
def openai_server():
    with OpenAICompatServer(api_key=OPENAI_KEY) as server:
        yield server


@pytest.fixture(scope="module")
async def gateway(stack, openai_server):
    with contextlib.ExitStack() as servers:
        gemini_server = servers.enter_context(GeminiServer(GEMINI_KEY))
        bedrock_server = servers.enter_context(BedrockConverseServer())
        patch = pytest.MonkeyPatch()
        for name, value in {
            "OPENAI_LOCAL_KEY": OPENAI_KEY,
            "GEMINI_LOCAL_KEY": GEMINI_KEY,
            "AWS_ACCESS_KEY_ID": "AKIDLOCALTEST",
            "AWS_SECRET_ACCESS_KEY": "local-test-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            patch.setenv(name, value)
        for name in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "HTTPS_PROXY", "HTTP_PROXY"):
            patch.delenv(name, raising=False)
        settings = stack.settings.model_copy(
            update={
                # Its own task queue: the shared gateway's worker knows none of these providers.
                "request_task_queue": "interlock-requests-providers",
                "providers": [
                    ProviderConfig(
                        name="openai-local",
                        kind="openai",
                        base_url=openai_server.url,
                        api_key_env="OPENAI_LOCAL_KEY",
                    ),
                    ProviderConfig(
                        name="gemini-local",
                        kind="gemini",
                        base_url=gemini_server.url,
                        api_key_env="GEMINI_LOCAL_KEY",
                    ),
                    ProviderConfig(
                        name="bedrock-local",
                        kind="bedrock",
                        region="us-east-1",
                        endpoint_url=bedrock_server.url,
                    ),
                ],
            }
        )
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings, client=stack.client),
                host="127.0.0.1",
                port=port,
                log_level="warning",
            )
        )
        task = asyncio.create_task(server.serve())
        for _ in range(200):
            if server.started or task.done():
                break
            await asyncio.sleep(0.05)
        assert server.started
        try:
            async with openai.AsyncOpenAI(
                base_url=f"http://127.0.0.1:{port}/v1",
                api_key=stack.api_key,
                max_retries=0,
                timeout=60,  # the SDK's default is ten minutes
            ) as client:
                yield client
        finally:
            server.should_exit = True
            await task
            patch.undo()


@pytest.mark.parametrize("model", MODELS)
async def test_same_request_same_normalized_answer(stack, gateway, model) -> None:
    completion = await gateway.chat.completions.create(
        model=model,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello to the railway signal box."},
        ],
    )
    choice = completion.choices[0]
    assert completion.model == model
    assert choice.finish_reason == "stop"
    assert isinstance(choice.message.content, str) and choice.message.content.strip()
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    [row] = outcomes_for_request(stack.engine, completion.id)
    provider, _, name = model.partition("/")
    assert (row.status, row.provider, row.model) == ("ok", provider, name)
    assert row.tokens_in == completion.usage.prompt_tokens
    assert row.cost_usd > 0  # every model here has a price


@pytest.mark.parametrize("model", MODELS)
async def test_tool_calls_round_trip_through_the_gateway(gateway, model) -> None:
    messages: list[dict] = [{"role": "user", "content": "What is the weather in Oslo?"}]
    first = await gateway.chat.completions.create(model=model, messages=messages, tools=[WEATHER])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments), dict)
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 4, "sky": "clear"}'},
    ]
    final = await gateway.chat.completions.create(model=model, messages=messages, tools=[WEATHER])
    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.content and not final.choices[0].message.tool_calls


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_a_variants_system_prompt_goes_first_to_the_provider(
    stack, gateway, openai_server, stream: bool
) -> None:
    route = f"prompted-{'streamed' if stream else 'whole'}"
    prompt = "You answer as the railway's help desk, in one sentence."
    publish_route(
        stack.engine,
        route,
        [
            RouteTarget(
                variant="help-desk",
                provider="openai-local",
                model="gpt-4o-mini",
                system_prompt=prompt,
            )
        ],
    )
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "When is the next train?"},
    ]
    if stream:
        chunks = await gateway.chat.completions.create(model=route, messages=messages, stream=True)
        answer = "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
    else:
        completion = await gateway.chat.completions.create(model=route, messages=messages)
        answer = completion.choices[0].message.content or ""
    assert answer.strip()
    sent = openai_server.requests[-1]["body"]["messages"]
    # The variant's prompt first, then the client's messages as the client sent them.
    assert sent == [{"role": "system", "content": prompt}, *messages]
