"""The Gemini adapter: the real google-genai SDK against a local Gemini REST server."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

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
from activities.providers.gemini import GeminiProvider
from activities.providers.pricing import cost_usd
from contracts.chat import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    ResponseFormat,
    SamplingParams,
    StreamChunk,
    ToolSpec,
    Usage,
)
from contracts.routing import RouteTarget
from tests.gemini_server import (
    FUNCTION_ARGS,
    SIGNATURE_BYTES,
    THOUGHT_SIGNATURE,
    GeminiServer,
    decode_proto_bytes,
)

API_KEY = "local-gemini-test-key"
PROMPT = "What is the weather in Paris? (private note 4471)"
WEATHER_TOOL = ToolSpec(
    name="get_weather",
    description="Current weather for a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
        "required": ["city"],
    },
)
TIME_TOOL = ToolSpec(name="get_time", description="Local time in a city.")
HARASSMENT_ONLY_HIGH = {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}


@pytest.fixture(scope="module")
def gemini() -> Iterator[GeminiServer]:
    with GeminiServer(API_KEY) as server:
        yield server


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, gemini: GeminiServer) -> None:
    # Only the key passed in may authenticate, only the local server may be reached, and no
    # proxy may sit in between.
    for variable in (
        "GOOGLE_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_GENAI_USE_VERTEXAI",
        "GOOGLE_GENAI_USE_ENTERPRISE",
        "GOOGLE_GENAI_API_VERSION",
        "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_CLOUD_LOCATION",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    gemini.requests.clear()


@pytest.fixture
async def provider(gemini: GeminiServer) -> AsyncIterator[GeminiProvider]:
    adapter = GeminiProvider(api_key=API_KEY, base_url=gemini.url, timeout_ms=5000)
    yield adapter
    await adapter.aclose()


def target(model: str = "gemini-2.5-flash", **options: object) -> RouteTarget:
    return RouteTarget(variant="baseline", provider="gemini", model=model, options=options)


def ask(*messages: ChatMessage, **fields: object) -> ChatRequest:
    return ChatRequest(
        messages=list(messages) or [ChatMessage(role="user", content=PROMPT)], **fields
    )


async def collect(stream: AsyncIterator[StreamChunk]) -> list[StreamChunk]:
    return [chunk async for chunk in stream]


async def call(provider: GeminiProvider, how: str, model: str) -> ChatResponse | list[StreamChunk]:
    if how == "complete":
        return await provider.complete("req-1", target(model), ask(), attempt=1)
    return await collect(provider.stream("req-1", target(model), ask(), attempt=1))


# --- plain completion ---


async def test_completion_maps_text_usage_cost_and_request(
    provider: GeminiProvider, gemini: GeminiServer
) -> None:
    chat = ask(
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="developer", content="Answer in English."),
        ChatMessage(role="user", content=PROMPT),
        params=SamplingParams(temperature=0.2, top_p=0.9, max_tokens=64, stop=["END"], seed=7),
    )
    response = await provider.complete("req-1", target(), chat, attempt=1)

    assert response.provider == "gemini"
    assert response.model == "gemini-2.5-flash"
    assert response.text == "Hello from Gemini."
    assert response.finish_reason == "stop"
    assert response.tool_calls == []
    # Thinking tokens are output tokens.
    assert response.usage == Usage(input_tokens=1000, output_tokens=250)
    assert response.cost_usd == pytest.approx((1000 * 0.3 + 250 * 2.5) / 1_000_000)
    assert response.cost_usd == cost_usd("gemini", "gemini-2.5-flash", response.usage)
    assert response.latency_ms > 0
    assert response.provider_state == {"gemini": {"parts": [{"text": "Hello from Gemini."}]}}

    [request] = gemini.requests
    assert request["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert request["headers"]["x-goog-api-key"] == API_KEY
    body = request["body"]
    assert body["systemInstruction"]["parts"] == [{"text": "Be brief.\n\nAnswer in English."}]
    assert body["contents"] == [{"role": "user", "parts": [{"text": PROMPT}]}]
    assert body["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "maxOutputTokens": 64,
        "stopSequences": ["END"],
        "seed": 7,
    }
    assert "tools" not in body and "safetySettings" not in body


@pytest.mark.parametrize(
    ("model", "finish_reason"),
    [("finish-max-tokens", "length"), ("finish-safety", "content_filter")],
)
async def test_finish_reasons_are_mapped(
    provider: GeminiProvider, model: str, finish_reason: str
) -> None:
    response = await provider.complete("req-1", target(model), ask(), attempt=1)
    assert response.finish_reason == finish_reason
    chunks = await collect(provider.stream("req-1", target(model), ask(), attempt=1))
    assert chunks[-1].finish_reason == finish_reason


# --- tools ---


async def test_tool_declarations_and_call_carry_the_thought_signature(
    provider: GeminiProvider, gemini: GeminiServer
) -> None:
    response = await provider.complete(
        "req-1", target(), ask(tools=[WEATHER_TOOL], tool_choice="auto"), attempt=1
    )

    assert response.finish_reason == "tool_calls"
    assert response.text == "Let me check the weather."
    [tool_call] = response.tool_calls
    assert tool_call.name == "get_weather"
    assert json.loads(tool_call.arguments) == FUNCTION_ARGS
    assert tool_call.id.startswith("call_")
    assert tool_call.provider_state == {"gemini": {"thought_signature": THOUGHT_SIGNATURE}}

    body = gemini.requests[-1]["body"]
    [tool] = body["tools"]
    [declaration] = tool["functionDeclarations"]
    # The API reads proto JSON, which takes a field by its camelCase or its original name, and
    # this SDK version sends this one by its original name.
    schema_key = "parametersJsonSchema" if "parametersJsonSchema" in declaration else None
    schema_key = schema_key or "parameters_json_schema"
    assert declaration == {
        "name": "get_weather",
        "description": "Current weather for a city.",
        schema_key: WEATHER_TOOL.parameters,
    }
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


@pytest.mark.parametrize("carried", ["whole turn", "tool call state only", "edited text"])
async def test_tool_round_trip_sends_the_signature_back_unchanged(
    provider: GeminiProvider, gemini: GeminiServer, carried: str
) -> None:
    first = await provider.complete("req-1", target(), ask(tools=[WEATHER_TOOL]), attempt=1)
    [tool_call] = first.tool_calls
    # However much of the model turn the caller kept, the signature must reach Gemini intact.
    assistant = ChatMessage(
        role="assistant",
        content="Checking." if carried == "edited text" else first.text,
        tool_calls=first.tool_calls,
        provider_state=first.provider_state if carried != "tool call state only" else {},
    )
    history = [
        ChatMessage(role="user", content=PROMPT),
        assistant,
        ChatMessage(role="tool", tool_call_id=tool_call.id, content='{"temp_c": 18}'),
    ]

    second = await provider.complete("req-1", target(), ask(*history, tools=[WEATHER_TOOL]), 1)

    assert second.text == "It is 18 degrees in Paris."
    assert second.finish_reason == "stop"
    contents = gemini.requests[-1]["body"]["contents"]
    assert contents[0] == {"role": "user", "parts": [{"text": PROMPT}]}
    assert contents[1]["role"] == "model"
    text_part, call_part = contents[1]["parts"]
    assert text_part == {"text": assistant.content}
    assert call_part["functionCall"] == {"name": "get_weather", "args": FUNCTION_ARGS}
    # The SDK writes bytes in URL-safe base64 where the API wrote standard base64; proto JSON
    # takes either, so what must hold is that the bytes are the ones Gemini issued.
    assert decode_proto_bytes(call_part["thoughtSignature"]) == SIGNATURE_BYTES
    assert contents[2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"result": {"temp_c": 18}}}}
        ],
    }


async def test_parallel_tool_results_share_one_turn_and_text_results_stay_text(
    provider: GeminiProvider, gemini: GeminiServer
) -> None:
    first = await provider.complete("req-1", target(), ask(tools=[WEATHER_TOOL]), attempt=1)
    [weather] = first.tool_calls
    second_call = weather.model_copy(update={"id": "call_local_time", "name": "get_time"})
    history = [
        ChatMessage(role="user", content=PROMPT),
        ChatMessage(role="assistant", tool_calls=[weather, second_call]),
        ChatMessage(role="tool", tool_call_id=weather.id, content='{"temp_c": 18}'),
        ChatMessage(role="tool", tool_call_id="call_local_time", content="14:05"),
    ]
    await provider.complete("req-1", target(), ask(*history, tools=[WEATHER_TOOL, TIME_TOOL]), 1)

    contents = gemini.requests[-1]["body"]["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[2]["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"result": {"temp_c": 18}}}},
        {"functionResponse": {"name": "get_time", "response": {"result": "14:05"}}},
    ]


@pytest.mark.parametrize(
    ("tool_choice", "config", "answer"),
    [
        (
            "get_time",
            {"mode": "ANY", "allowedFunctionNames": ["get_time"]},
            "get_time",
        ),
        ("required", {"mode": "ANY"}, "get_weather"),
        ("none", {"mode": "NONE"}, None),
    ],
)
async def test_tool_choice_becomes_function_calling_config(
    provider: GeminiProvider,
    gemini: GeminiServer,
    tool_choice: str,
    config: dict,
    answer: str | None,
) -> None:
    chat = ask(tools=[WEATHER_TOOL, TIME_TOOL], tool_choice=tool_choice)
    response = await provider.complete("req-1", target(), chat, attempt=1)
    assert gemini.requests[-1]["body"]["toolConfig"] == {"functionCallingConfig": config}
    assert [c.name for c in response.tool_calls] == ([answer] if answer else [])


async def test_requests_gemini_cannot_take_are_refused_before_sending(
    provider: GeminiProvider, gemini: GeminiServer
) -> None:
    with pytest.raises(ProviderBadRequest, match="not among the tools"):
        await provider.complete("req-1", target(), ask(tools=[WEATHER_TOOL], tool_choice="x"), 1)
    orphan = ChatMessage(role="tool", tool_call_id="call_unknown", content="{}")
    with pytest.raises(ProviderBadRequest, match="unknown tool call"):
        await provider.complete("req-1", target(), ask(ChatMessage(role="user"), orphan), 1)
    assert gemini.requests == []


# --- streaming ---


async def test_stream_yields_text_deltas_then_finish_and_usage(
    provider: GeminiProvider, gemini: GeminiServer
) -> None:
    chunks = await collect(provider.stream("req-1", target(), ask(), attempt=1))

    assert [c.text for c in chunks] == ["Hello ", "from ", "Gemini.", ""]
    assert all(c.finish_reason is None and c.usage is None for c in chunks[:-1])
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].usage == Usage(input_tokens=1000, output_tokens=250)
    assert gemini.requests[-1]["path"] == (
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    )


async def test_stream_yields_function_calls_whole_with_their_signature(
    provider: GeminiProvider,
) -> None:
    chat = ask(tools=[WEATHER_TOOL])
    chunks = await collect(provider.stream("req-1", target(), chat, attempt=1))

    assert "".join(c.text for c in chunks) == "Let me check the weather."
    [delta] = [d for c in chunks for d in c.tool_calls]
    assert delta.index == 0
    assert delta.name == "get_weather"
    assert json.loads(delta.arguments) == FUNCTION_ARGS
    assert delta.provider_state == {"gemini": {"thought_signature": THOUGHT_SIGNATURE}}
    assert chunks[-1].finish_reason == "tool_calls"
    assert chunks[-1].usage == Usage(input_tokens=1000, output_tokens=250)
    # Ids are derived from the call, so the streamed and the complete answer agree.
    completed = await provider.complete("req-1", target(), chat, attempt=1)
    assert delta.id == completed.tool_calls[0].id


@pytest.mark.parametrize("model", ["cut-stream", "broken-stream"])
async def test_a_stream_that_ends_early_is_interrupted_not_truncated(
    provider: GeminiProvider, model: str
) -> None:
    received: list[StreamChunk] = []
    with pytest.raises(ProviderStreamInterrupted) as caught:
        async for chunk in provider.stream("req-1", target(model), ask(), attempt=1):
            received.append(chunk)
    assert received and received[0].text == "Hello "
    assert all(c.finish_reason is None for c in received)
    assert caught.value.retryable


# --- errors ---


@pytest.mark.parametrize("how", ["complete", "stream"])
@pytest.mark.parametrize(
    ("model", "error_type", "retry_after"),
    [
        ("rate-limited", ProviderRateLimited, 7.0),
        ("rate-limited-header", ProviderRateLimited, 3.0),
        ("server-error", ProviderUnavailable, None),
        ("unauthorized", ProviderAuthError, None),
        ("bad-key", ProviderAuthError, None),
        ("too-long", ContextWindowExceeded, None),
        ("bad-request", ProviderBadRequest, None),
        ("missing-model", UnknownModel, None),
        ("malformed", ProviderMalformedResponse, None),
        ("not-json", ProviderMalformedResponse, None),
        ("blocked", ContentPolicyRefusal, None),
    ],
)
async def test_failures_map_to_their_error_types(
    provider: GeminiProvider,
    gemini: GeminiServer,
    how: str,
    model: str,
    error_type: type[ProviderError],
    retry_after: float | None,
) -> None:
    with pytest.raises(ProviderError) as caught:
        await call(provider, how, model)

    error = caught.value
    assert type(error) is error_type
    assert error.retry_after_seconds == retry_after
    application_error = error.to_application_error()
    assert application_error.type == error_type.error_type
    assert application_error.non_retryable is not error_type.retryable
    if retry_after is not None:
        assert application_error.next_retry_delay == timedelta(seconds=retry_after)
    assert "4471" not in str(error), "an error message must not carry prompt text"
    # Temporal owns retries: the SDK sent exactly one request.
    assert len(gemini.requests) == 1


@pytest.mark.parametrize(
    ("error_type", "retryable"),
    [
        (ProviderRateLimited, True),
        (ProviderUnavailable, True),
        (ProviderMalformedResponse, True),
        (ProviderStreamInterrupted, True),
        (ProviderAuthError, False),
        (ProviderBadRequest, False),
        (ContextWindowExceeded, False),
        (ContentPolicyRefusal, False),
        (UnknownModel, False),
    ],
)
def test_retryability_of_each_error_type(error_type: type[ProviderError], retryable: bool) -> None:
    assert error_type.retryable is retryable


async def test_a_wrong_api_key_is_an_auth_error(gemini: GeminiServer) -> None:
    adapter = GeminiProvider(api_key="wrong-key", base_url=gemini.url)
    try:
        with pytest.raises(ProviderAuthError, match="401"):
            await adapter.complete("req-1", target(), ask(), attempt=1)
    finally:
        await adapter.aclose()


async def test_a_missing_api_key_is_an_auth_error(gemini: GeminiServer) -> None:
    adapter = GeminiProvider(base_url=gemini.url)
    with pytest.raises(ProviderAuthError, match="not configured"):
        await adapter.complete("req-1", target(), ask(), attempt=1)
    assert gemini.requests == []


@pytest.mark.parametrize("how", ["complete", "stream"])
async def test_a_timeout_is_unavailable(gemini: GeminiServer, how: str) -> None:
    adapter = GeminiProvider(api_key=API_KEY, base_url=gemini.url, timeout_ms=200)
    try:
        with pytest.raises(ProviderUnavailable, match="Timeout"):
            await call(adapter, how, "slow")
    finally:
        await adapter.aclose()


async def test_an_unreachable_server_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    adapter = GeminiProvider(api_key=API_KEY, base_url=f"http://127.0.0.1:{closed_port}")
    try:
        with pytest.raises(ProviderUnavailable):
            await adapter.complete("req-1", target(), ask(), attempt=1)
    finally:
        await adapter.aclose()


# --- configuration ---


async def test_safety_settings_default_and_per_route(gemini: GeminiServer) -> None:
    block_none = {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}
    adapter = GeminiProvider(
        api_key=API_KEY, base_url=gemini.url, safety_settings=[HARASSMENT_ONLY_HIGH]
    )
    try:
        await adapter.complete("req-1", target(), ask(), attempt=1)
        await adapter.complete("req-1", target(safety_settings=[block_none]), ask(), 1)
    finally:
        await adapter.aclose()
    assert [r["body"]["safetySettings"] for r in gemini.requests] == [
        [HARASSMENT_ONLY_HIGH],
        [block_none],
    ]


def test_target_problem_checks_models_and_options() -> None:
    adapter = GeminiProvider(api_key=API_KEY, models=["gemini-2.5-flash"])
    assert adapter.target_problem("gemini-2.5-flash", {}) is None
    assert adapter.target_problem("gemini-2.5-flash", {"safety_settings": []}) is None
    assert "does not serve" in (adapter.target_problem("gemini-9", {}) or "")
    misspelt = adapter.target_problem("gemini-2.5-flash", {"temprature": 0.1})
    assert misspelt == "unknown gemini options: temprature"
    bad_category = {"safety_settings": [{"category": "HARM_NOPE", "threshold": "BLOCK_NONE"}]}
    assert "category" in (adapter.target_problem("gemini-2.5-flash", bad_category) or "")
    assert "list" in (adapter.target_problem("gemini-2.5-flash", {"safety_settings": {}}) or "")


async def test_misconfigured_targets_fail_before_any_request(gemini: GeminiServer) -> None:
    adapter = GeminiProvider(api_key=API_KEY, base_url=gemini.url, models=["gemini-2.5-flash"])
    with pytest.raises(UnknownModel):
        await adapter.complete("req-1", target("gemini-9"), ask(), attempt=1)
    with pytest.raises(ProviderBadRequest, match="threshold"):
        bad = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "SOMETIMES"}]
        await adapter.complete("req-1", target(safety_settings=bad), ask(), attempt=1)
    assert gemini.requests == []


def test_a_bad_default_safety_setting_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="unknown field"):
        GeminiProvider(api_key=API_KEY, safety_settings=[{**HARASSMENT_ONLY_HIGH, "x": "y"}])


async def test_response_format_asks_gemini_for_json_held_to_the_schema(
    provider: GeminiProvider, gemini: GeminiServer
) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    wanted = ResponseFormat(type="json_schema", name="place", json_schema=schema)
    await provider.complete("req-1", target(), ask(response_format=wanted), attempt=1)
    config = gemini.requests[-1]["body"]["generationConfig"]
    assert config == {"responseMimeType": "application/json", "responseJsonSchema": schema}
    await collect(
        provider.stream(
            "req-2", target(), ask(response_format=ResponseFormat(type="json_object")), 1
        )
    )
    assert gemini.requests[-1]["body"]["generationConfig"] == {
        "responseMimeType": "application/json"
    }
