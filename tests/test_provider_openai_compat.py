"""The OpenAI-compatible adapter against a real local server speaking OpenAI's wire format.

The official openai SDK is run against the same server, so the server is known to speak the real
format, and the adapter's requests are compared with the SDK's for the same conversation.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import openai
import pytest

from activities.providers.errors import (
    ContentPolicyRefusal,
    ContextWindowExceeded,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderMalformedResponse,
    ProviderRateLimited,
    ProviderStreamInterrupted,
    ProviderUnavailable,
    UnknownModel,
)
from activities.providers.openai_compat import OpenAICompatProvider, retry_after_seconds
from activities.providers.pricing import cost_usd
from contracts.chat import (
    ChatMessage,
    ChatRequest,
    ResponseFormat,
    SamplingParams,
    StreamChunk,
    ToolCall,
    ToolSpec,
)
from contracts.routing import RouteTarget
from tests.openai_server import OpenAICompatServer

API_KEY = "sk-test"
# A prompt no error message may repeat: they end up in logs.
SECRET_PROMPT = "Summarise the confidential Zanzibar merger"
SECRET_WORD = "Zanzibar"

WEATHER_TOOL = ToolSpec(
    name="get_weather",
    description="Current weather for a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)
TIME_TOOL = ToolSpec(
    name="get_time", parameters={"type": "object", "properties": {"zone": {"type": "string"}}}
)
WEATHER_TOOL_WIRE = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAICompatServer]:
    with OpenAICompatServer(api_key=API_KEY) as running:
        yield running


@pytest.fixture
async def provider(server: OpenAICompatServer) -> AsyncIterator[OpenAICompatProvider]:
    adapter = OpenAICompatProvider("openai-local", server.url, API_KEY, timeout=5)
    yield adapter
    await adapter.aclose()


def target(model: str = "gpt-4o-mini") -> RouteTarget:
    return RouteTarget(variant="v", provider="openai-local", model=model)


def user_chat(text: str = "Say hello to Ada", **fields: Any) -> ChatRequest:
    return ChatRequest(
        messages=[
            ChatMessage(role="system", content="You are terse."),
            ChatMessage(role="user", content=text),
        ],
        **fields,
    )


async def collect(stream: AsyncIterator[StreamChunk], into: list[StreamChunk]) -> None:
    async for chunk in stream:
        into.append(chunk)


def reassemble(chunks: list[StreamChunk]) -> list[ToolCall]:
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in chunk.tool_calls:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] = delta.id or call["id"]
            call["name"] = delta.name or call["name"]
            call["arguments"] += delta.arguments
    return [ToolCall(**calls[index]) for index in sorted(calls)]


def assert_no_prompt_leak(exc: BaseException) -> None:
    seen: BaseException | None = exc
    while seen is not None:
        assert SECRET_WORD not in str(seen)
        seen = seen.__cause__ or seen.__context__


# --- completions ---


async def test_plain_completion_with_usage_cost_and_sampling_params(
    server: OpenAICompatServer, provider: OpenAICompatProvider
) -> None:
    params = SamplingParams(temperature=0.2, top_p=0.9, max_tokens=50, stop=["\n\n"], seed=7)
    response = await provider.complete("r1", target(), user_chat(params=params), 1)

    assert response.provider == "openai-local"
    assert response.model == "gpt-4o-mini"
    assert response.text == "You said: Say hello to Ada"
    assert response.finish_reason == "stop"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (7, 6)
    assert response.cost_usd == cost_usd("openai", "gpt-4o-mini", response.usage)
    assert response.cost_usd == pytest.approx((7 * 0.15 + 6 * 0.6) / 1_000_000)
    assert response.latency_ms > 0
    assert response.tool_calls == []

    sent = server.requests[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert sent["body"] == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hello to Ada"},
        ],
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 50,
        "stop": ["\n\n"],
        "seed": 7,
    }


async def test_finish_reasons_length_and_content_filter(provider: OpenAICompatProvider) -> None:
    cut = await provider.complete("r1", target(), user_chat(params=SamplingParams(max_tokens=2)), 1)
    assert (cut.text, cut.finish_reason) == ("You said:", "length")

    filtered = await provider.complete("r2", target("filtered"), user_chat(), 1)
    assert (filtered.text, filtered.finish_reason) == ("", "content_filter")


async def test_one_connection_is_reused_across_calls(
    server: OpenAICompatServer, provider: OpenAICompatProvider
) -> None:
    before = len(server.requests)
    for attempt in range(3):
        await provider.complete(f"r{attempt}", target(), user_chat(), 1)
    ports = {r["client_port"] for r in server.requests[before:]}
    assert len(ports) == 1


async def test_tool_call_round_trip_serializes_back_exactly(
    server: OpenAICompatServer, provider: OpenAICompatProvider
) -> None:
    chat = ChatRequest(
        messages=[
            ChatMessage(role="system", content="You are terse."),
            ChatMessage(role="user", content="What is the weather in Paris?"),
        ],
        tools=[WEATHER_TOOL],
        tool_choice="auto",
    )
    first = await provider.complete("r1", target(), chat, 1)

    assert first.finish_reason == "tool_calls"
    assert first.text == ""
    assert first.tool_calls == [
        ToolCall(id="call_0", name="get_weather", arguments='{"city": "Paris"}')
    ]
    assert server.requests[-1]["body"]["tools"] == [WEATHER_TOOL_WIRE]
    assert server.requests[-1]["body"]["tool_choice"] == "auto"

    continued = chat.model_copy(
        update={
            "messages": [
                *chat.messages,
                ChatMessage(
                    role="assistant",
                    content=first.text,
                    tool_calls=first.tool_calls,
                    provider_state=first.provider_state,
                ),
                ChatMessage(role="tool", tool_call_id="call_0", content="18C and sunny"),
            ]
        }
    )
    final = await provider.complete("r1", target(), continued, 1)

    assert final.text == "Tool results: 18C and sunny"
    assert final.finish_reason == "stop"
    assert server.requests[-1]["body"]["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is the weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_0",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_0", "content": "18C and sunny"},
    ]


async def test_parallel_tool_calls_and_a_named_tool_choice(
    server: OpenAICompatServer, provider: OpenAICompatProvider
) -> None:
    question = "What time is it in Tokyo?"
    both = await provider.complete(
        "r1", target(), user_chat(question, tools=[WEATHER_TOOL, TIME_TOOL]), 1
    )
    assert [(c.id, c.name, json.loads(c.arguments)) for c in both.tool_calls] == [
        ("call_0", "get_weather", {"city": "Tokyo"}),
        ("call_1", "get_time", {"zone": "Tokyo"}),
    ]

    named = await provider.complete(
        "r2",
        target(),
        user_chat(question, tools=[WEATHER_TOOL, TIME_TOOL], tool_choice="get_time"),
        1,
    )
    assert server.requests[-1]["body"]["tool_choice"] == {
        "type": "function",
        "function": {"name": "get_time"},
    }
    assert [c.name for c in named.tool_calls] == ["get_time"]


async def test_tool_choice_is_not_sent_without_tools(
    server: OpenAICompatServer, provider: OpenAICompatProvider
) -> None:
    await provider.complete("r1", target(), user_chat(tool_choice="none"), 1)
    assert "tool_choice" not in server.requests[-1]["body"]
    assert "tools" not in server.requests[-1]["body"]


async def test_a_tool_message_without_its_call_id_is_refused_before_sending(
    server: OpenAICompatServer, provider: OpenAICompatProvider
) -> None:
    before = len(server.requests)
    chat = ChatRequest(messages=[ChatMessage(role="tool", content="18C")])
    with pytest.raises(ProviderBadRequest):
        await provider.complete("r1", target(), chat, 1)
    assert len(server.requests) == before


# --- the official SDK against the same server ---


async def test_official_sdk_speaks_with_the_server_and_sends_what_the_adapter_sends(
    server: OpenAICompatServer, provider: OpenAICompatProvider
) -> None:
    client = openai.AsyncOpenAI(base_url=server.url, api_key=API_KEY, max_retries=0)
    try:
        messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
        first = await client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL_WIRE]
        )
        assistant = first.choices[0].message
        assert first.choices[0].finish_reason == "tool_calls"
        assert assistant.tool_calls is not None
        call = assistant.tool_calls[0]
        assert (call.id, call.function.name, call.function.arguments) == (
            "call_0",
            "get_weather",
            '{"city": "Paris"}',
        )
        assert first.usage is not None and first.usage.prompt_tokens == 6

        # The documented way to continue: append the SDK's message object, then the result.
        messages += [assistant, {"role": "tool", "tool_call_id": call.id, "content": "18C"}]
        final = await client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL_WIRE]
        )
        assert final.choices[0].message.content == "Tool results: 18C"
        sdk_messages = server.requests[-1]["body"]["messages"]

        streamed = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Say hello to Ada"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        text, usage = "", None
        async for chunk in streamed:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
            usage = chunk.usage or usage
        assert text == "You said: Say hello to Ada"
        assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (4, 6)

        with pytest.raises(openai.RateLimitError) as limited:
            await client.chat.completions.create(model="rate-limited", messages=messages[:1])
        assert limited.value.response.headers["retry-after"] == "7"
        assert limited.value.code == "rate_limit_exceeded"
    finally:
        await client.close()

    adapter_chat = ChatRequest(
        messages=[
            ChatMessage(role="user", content="What is the weather in Paris?"),
            ChatMessage(
                role="assistant",
                tool_calls=[
                    ToolCall(id="call_0", name="get_weather", arguments='{"city": "Paris"}')
                ],
            ),
            ChatMessage(role="tool", tool_call_id="call_0", content="18C"),
        ],
        tools=[WEATHER_TOOL],
    )
    await provider.complete("r1", target(), adapter_chat, 1)
    # The SDK echoes back every field the server sent, including the optional refusal: null.
    for message in sdk_messages:
        if message.get("refusal", "absent") is None:
            del message["refusal"]
    assert server.requests[-1]["body"]["messages"] == sdk_messages


# --- streaming ---


async def test_stream_text_then_a_final_chunk_with_finish_reason_and_usage(
    server: OpenAICompatServer, provider: OpenAICompatProvider
) -> None:
    chunks: list[StreamChunk] = []
    await collect(provider.stream("r1", target(), user_chat(), 1), chunks)

    *body, last = chunks
    assert "".join(c.text for c in body) == "You said: Say hello to Ada"
    assert len(body) > 1
    assert all(c.finish_reason is None and c.usage is None for c in body)
    assert last.text == ""
    assert last.finish_reason == "stop"
    assert last.usage is not None
    assert (last.usage.input_tokens, last.usage.output_tokens) == (7, 6)

    sent = server.requests[-1]["body"]
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}


async def test_streamed_tool_call_deltas_reassemble_to_the_completed_calls(
    provider: OpenAICompatProvider,
) -> None:
    chat = user_chat("What time is it in Tokyo?", tools=[WEATHER_TOOL, TIME_TOOL])
    chunks: list[StreamChunk] = []
    await collect(provider.stream("r1", target(), chat, 1), chunks)

    fragments = [d for c in chunks for d in c.tool_calls if d.id is None]
    assert len(fragments) > 2  # the arguments really did arrive in pieces
    assert chunks[-1].finish_reason == "tool_calls"
    completed = await provider.complete("r1", target(), chat, 1)
    assert reassemble(chunks) == completed.tool_calls


@pytest.mark.parametrize(
    "model",
    ["cut-stream", "stream-no-done", "stream-done-no-finish", "stream-error-event", "aborted"],
)
async def test_a_stream_without_its_final_event_is_interrupted_never_truncated(
    provider: OpenAICompatProvider, model: str
) -> None:
    chunks: list[StreamChunk] = []
    with pytest.raises(ProviderStreamInterrupted) as interrupted:
        await collect(provider.stream("r1", target(model), user_chat(SECRET_PROMPT), 1), chunks)
    assert all(c.finish_reason is None for c in chunks)
    assert not interrupted.value.to_application_error().non_retryable
    assert_no_prompt_leak(interrupted.value)


async def test_stream_failures_before_the_body(provider: OpenAICompatProvider) -> None:
    with pytest.raises(ProviderRateLimited) as limited:
        await collect(provider.stream("r1", target("rate-limited"), user_chat(), 1), [])
    assert limited.value.retry_after_seconds == 7

    with pytest.raises(ProviderMalformedResponse):  # a 200 with JSON, not an event stream
        await collect(provider.stream("r1", target("malformed"), user_chat(), 1), [])


# --- failures ---


@pytest.mark.parametrize(
    ("model", "expected"),
    [("rate-limited", 7.0), ("rate-limited-reset", 90.0), ("rate-limited-date", 30.0)],
)
async def test_rate_limits_carry_the_providers_delay_into_temporal(
    server: OpenAICompatServer, provider: OpenAICompatProvider, model: str, expected: float
) -> None:
    before = len(server.requests)
    with pytest.raises(ProviderRateLimited) as limited:
        await provider.complete("r1", target(model), user_chat(), 1)
    assert len(server.requests) == before + 1  # no retry behind Temporal's back

    delay = limited.value.retry_after_seconds
    assert delay is not None
    if model == "rate-limited-date":  # an HTTP date has whole seconds and the clock moves on
        assert expected - 2 <= delay <= expected
    else:
        assert delay == expected
    application_error = limited.value.to_application_error()
    assert application_error.type == "ProviderRateLimited"
    assert not application_error.non_retryable
    if model == "rate-limited":
        assert application_error.next_retry_delay == timedelta(seconds=7)


@pytest.mark.parametrize(
    ("model", "error_type", "retry_after"),
    [
        ("server-error", ProviderUnavailable, None),
        ("aborted", ProviderUnavailable, None),
        ("overloaded", ProviderUnavailable, 2.0),
        ("malformed", ProviderMalformedResponse, None),
        ("malformed-shape", ProviderMalformedResponse, None),
        ("not-json", ProviderMalformedResponse, None),
    ],
)
async def test_retryable_failures(
    server: OpenAICompatServer,
    provider: OpenAICompatProvider,
    model: str,
    error_type: type[ProviderError],
    retry_after: float | None,
) -> None:
    before = len(server.requests)
    with pytest.raises(error_type) as failed:
        await provider.complete("r1", target(model), user_chat(SECRET_PROMPT), 1)
    assert len(server.requests) == before + 1
    assert failed.value.retry_after_seconds == retry_after
    assert not failed.value.to_application_error().non_retryable
    assert_no_prompt_leak(failed.value)


@pytest.mark.parametrize(
    ("model", "error_type", "code"),
    [
        ("context", ContextWindowExceeded, "context_length_exceeded"),
        ("policy", ContentPolicyRefusal, "content_policy_violation"),
        ("missing-model", UnknownModel, "model_not_found"),
        ("quota", ProviderAuthError, "insufficient_quota"),
    ],
)
async def test_non_retryable_failures(
    provider: OpenAICompatProvider, model: str, error_type: type[ProviderError], code: str
) -> None:
    with pytest.raises(error_type) as failed:
        await provider.complete("r1", target(model), user_chat(SECRET_PROMPT), 1)
    assert type(failed.value) is error_type
    assert f"({code})" in str(failed.value)
    application_error = failed.value.to_application_error()
    assert application_error.non_retryable
    assert application_error.type == error_type.error_type
    assert_no_prompt_leak(failed.value)


async def test_wrong_or_missing_key_is_an_auth_error(server: OpenAICompatServer) -> None:
    for key in ("sk-wrong", None):
        adapter = OpenAICompatProvider("openai-local", server.url, key)
        try:
            with pytest.raises(ProviderAuthError) as failed:
                await adapter.complete("r1", target(), user_chat(), 1)
        finally:
            await adapter.aclose()
        assert "HTTP 401" in str(failed.value)
        assert failed.value.to_application_error().non_retryable
        if key is None:
            assert "authorization" not in server.requests[-1]["headers"]


async def test_a_wrong_path_is_a_bad_request_not_an_unknown_model(
    server: OpenAICompatServer,
) -> None:
    adapter = OpenAICompatProvider("openai-local", server.url.removesuffix("/v1"), API_KEY)
    try:
        with pytest.raises(ProviderBadRequest) as failed:
            await adapter.complete("r1", target(), user_chat(), 1)
    finally:
        await adapter.aclose()
    assert type(failed.value) is ProviderBadRequest
    assert "HTTP 404" in str(failed.value)


async def test_timeouts_and_refused_connections_are_unavailable(
    server: OpenAICompatServer,
) -> None:
    impatient = OpenAICompatProvider("openai-local", server.url, API_KEY, timeout=0.3)
    try:
        with pytest.raises(ProviderUnavailable, match="timed out"):
            await impatient.complete("r1", target("slow"), user_chat(), 1)
    finally:
        await impatient.aclose()

    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    nowhere = OpenAICompatProvider("nowhere", f"http://127.0.0.1:{closed_port}/v1", API_KEY)
    try:
        with pytest.raises(ProviderUnavailable) as refused:
            await nowhere.complete("r1", target(), user_chat(), 1)
    finally:
        await nowhere.aclose()
    assert not refused.value.to_application_error().non_retryable


# --- configuration ---


def test_target_problem() -> None:
    open_ended = OpenAICompatProvider("vllm", "http://127.0.0.1:1/v1", None, pricing_kind="local")
    assert open_ended.target_problem("anything/at-all", {}) is None
    assert "takes no options" in (open_ended.target_problem("m", {"temprature": 1}) or "")

    listed = OpenAICompatProvider("openai", "https://api.openai.com/v1", "k", models=["gpt-4o"])
    assert listed.target_problem("gpt-4o", {}) is None
    assert "does not serve model 'gpt-4o-mini'" in (listed.target_problem("gpt-4o-mini", {}) or "")
    assert "'k'" not in repr(listed)


@pytest.mark.parametrize("base_url", ["127.0.0.1:8000/v1", "ftp://example.com/v1", ""])
def test_a_base_url_that_is_not_http_is_refused_at_construction(base_url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        OpenAICompatProvider("bad", base_url, None)


@pytest.mark.parametrize(
    ("headers", "rate_limited", "expected"),
    [
        ({"retry-after": "7"}, True, 7.0),
        ({"retry-after-ms": "1500", "retry-after": "7"}, True, 1.5),
        ({"retry-after": "inf"}, True, None),
        ({"retry-after": "soon"}, True, None),
        ({"x-ratelimit-reset-tokens": "6m0s", "x-ratelimit-remaining-tokens": "0"}, True, 360.0),
        ({"x-ratelimit-reset-requests": "20ms", "x-ratelimit-reset-tokens": "1.5s"}, True, 1.5),
        ({"x-ratelimit-reset-requests": "1h2m3.5s"}, True, 3723.5),
        ({"x-ratelimit-reset-requests": "later"}, True, None),
        ({"x-ratelimit-reset-requests": "1s"}, False, None),  # not a 429: not a wait request
    ],
)
def test_retry_after_header_forms(
    headers: dict[str, str], rate_limited: bool, expected: float | None
) -> None:
    assert retry_after_seconds(headers, rate_limited=rate_limited) == expected


# --- structured output ---

ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "celsius": {"type": "number"}},
    "required": ["city", "celsius"],
    "additionalProperties": False,
}


async def test_response_format_is_sent_as_openai_defines_it(
    server: OpenAICompatServer, provider: OpenAICompatProvider
) -> None:
    schema = ResponseFormat(
        type="json_schema", name="weather", json_schema=ANSWER_SCHEMA, strict=True
    )
    await provider.complete("r1", target(), user_chat(response_format=schema), 1)
    assert server.requests[-1]["body"]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "weather", "schema": ANSWER_SCHEMA, "strict": True},
    }
    chunks: list[StreamChunk] = []
    any_object = ResponseFormat(type="json_object")
    await collect(provider.stream("r2", target(), user_chat(response_format=any_object), 1), chunks)
    assert server.requests[-1]["body"]["response_format"] == {"type": "json_object"}
    await provider.complete("r3", target(), user_chat(), 1)
    assert "response_format" not in server.requests[-1]["body"]
