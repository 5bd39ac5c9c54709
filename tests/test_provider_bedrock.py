"""The Bedrock Converse adapter: real boto3 against a local Converse/ConverseStream server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from activities.providers.bedrock import PROVIDER_STATE_KEY, BedrockProvider
from activities.providers.errors import (
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
from contracts.chat import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    ResponseFormat,
    SamplingParams,
    StreamChunk,
    ToolCall,
    ToolSpec,
    Usage,
)
from contracts.routing import RouteTarget
from tests.bedrock_converse_server import (
    RETRY_AFTER_SECONDS,
    SLOW_SECONDS,
    TOOL_INPUT,
    BedrockConverseServer,
    event_frame,
    exception_frame,
)

HAIKU = "anthropic.claude-3-5-haiku-20241022-v1:0"
SONNET = "anthropic.claude-3-7-sonnet-20250219-v1:0"
LLAMA = "meta.llama3-1-8b-instruct-v1:0"
ACCESS_KEY = "AKIDLOCALTEST"
# Sent as the prompt wherever a call fails: no error message may repeat it.
SECRET = "zebra-secret-prompt-7731"
THINKING = {
    "additional_model_request_fields": {"thinking": {"type": "enabled", "budget_tokens": 1024}}
}
WEATHER = ToolSpec(
    name="get_weather",
    description="The current weather in a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)
LOCAL_TIME = ToolSpec(
    name="get_time", parameters={"type": "object", "properties": {"city": {"type": "string"}}}
)


@pytest.fixture(scope="module")
def aws_environment() -> Iterator[None]:
    # boto3's standard chain reads these; nothing from the machine's own AWS setup may leak in
    # (a profile, a Bedrock API key, which would replace SigV4, or a proxy for 127.0.0.1).
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        patch.setenv("AWS_SECRET_ACCESS_KEY", "local-test-secret")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        patch.setenv("NO_PROXY", "127.0.0.1")
        patch.setenv("no_proxy", "127.0.0.1")
        for name in (
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_BEARER_TOKEN_BEDROCK",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
        ):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="module")
def server() -> Iterator[BedrockConverseServer]:
    with BedrockConverseServer() as running:
        yield running


@pytest.fixture(scope="module")
def provider(aws_environment: None, server: BedrockConverseServer) -> Iterator[BedrockProvider]:
    bedrock = BedrockProvider(region="us-east-1", endpoint_url=server.url)
    yield bedrock
    bedrock.close()


@pytest.fixture(autouse=True)
def fresh_request_log(server: BedrockConverseServer) -> None:
    server.requests.clear()


def target(model: str, options: dict[str, Any] | None = None) -> RouteTarget:
    return RouteTarget(variant="baseline", provider="bedrock", model=model, options=options or {})


def ask(text: str, **fields: Any) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage(role="user", content=text)], **fields)


async def collect(chunks: AsyncIterator[StreamChunk], into: list[StreamChunk]) -> None:
    async for chunk in chunks:
        into.append(chunk)


async def call(provider: BedrockProvider, mode: str, model: str, chat: ChatRequest) -> None:
    if mode == "complete":
        await provider.complete("req-call", target(model), chat, 1)
    else:
        await collect(provider.stream("req-call", target(model), chat, 1), [])


def body_of_last_call(server: BedrockConverseServer, model: str) -> dict[str, Any]:
    return server.requests_for(model)[-1]["body"]


# --- the event-stream encoder the server uses ---


def test_event_stream_frames_parse_with_botocores_parser() -> None:
    frames = [
        event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
        exception_frame("throttlingException", "slow down"),
    ]
    wire = b"".join(frames)
    buffer = EventStreamBuffer()
    messages = []
    # Fed in uneven pieces, as a network delivers them.
    for start in range(0, len(wire), 7):
        buffer.add_data(wire[start : start + 7])
        messages.extend(buffer)

    assert len(messages) == 2
    event, exception = messages
    assert event.prelude.total_length == len(frames[0])
    assert event.headers == {
        ":event-type": "contentBlockDelta",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert json.loads(event.payload)["delta"] == {"text": "Hi"}
    assert event.to_response_dict()["status_code"] == 200
    assert exception.headers[":exception-type"] == "throttlingException"
    assert json.loads(exception.payload) == {"message": "slow down"}
    assert exception.to_response_dict()["status_code"] == 400


@pytest.mark.parametrize("position", ["prelude crc", "payload"])
def test_botocore_rejects_a_frame_whose_crc_does_not_match(position: str) -> None:
    frame = bytearray(event_frame("messageStop", {"stopReason": "end_turn"}))
    frame[8 if position == "prelude crc" else len(frame) - 6] ^= 0x01
    buffer = EventStreamBuffer()
    buffer.add_data(bytes(frame))
    with pytest.raises(ChecksumMismatch):
        next(buffer)


# --- completions ---


async def test_completion_maps_the_request_and_the_answer(
    provider: BedrockProvider, server: BedrockConverseServer
) -> None:
    chat = ChatRequest(
        messages=[
            ChatMessage(role="system", content="Be brief."),
            ChatMessage(role="developer", content="Answer in English."),
            ChatMessage(role="user", content="What is the weather like?"),
        ],
        params=SamplingParams(max_tokens=64, temperature=0.2, top_p=0.9, stop=["STOP"], seed=7),
    )

    response = await provider.complete("req-1", target(HAIKU), chat, 1)

    assert response.provider == "bedrock" and response.model == HAIKU
    assert response.text == f"Hello from {HAIKU}. You said: What is the weather like?"
    assert response.finish_reason == "stop" and response.tool_calls == []
    assert response.latency_ms > 0
    assert response.provider_state == {PROVIDER_STATE_KEY: [{"text": response.text}]}
    received = server.requests_for(HAIKU)[-1]
    assert received["operation"] == "converse"
    assert received["path"] == f"/model/{HAIKU}/converse"
    assert received["body"] == {
        "messages": [{"role": "user", "content": [{"text": "What is the weather like?"}]}],
        "system": [{"text": "Be brief."}, {"text": "Answer in English."}],
        "inferenceConfig": {
            "maxTokens": 64,
            "temperature": 0.2,
            "topP": 0.9,
            "stopSequences": ["STOP"],
        },
    }


@pytest.mark.parametrize(
    ("model", "price_per_mtok"),
    [
        (HAIKU, (0.8, 4.0)),
        (f"us.{HAIKU}", (0.8, 4.0)),  # a cross-region inference profile
        (LLAMA, (0.22, 0.22)),
        ("mistral.mistral-large-2402-v1:0", (0.0, 0.0)),  # unpriced: free, never an error
    ],
)
async def test_usage_and_cost(
    provider: BedrockProvider, model: str, price_per_mtok: tuple[float, float]
) -> None:
    response = await provider.complete("req-cost", target(model), ask("one two three"), 1)

    # The server counts words: 3 in; "Hello from <model>. You said: one two three" out.
    assert response.usage == Usage(input_tokens=3, output_tokens=8)
    per_input, per_output = price_per_mtok
    assert response.cost_usd == pytest.approx((3 * per_input + 8 * per_output) / 1_000_000)


@pytest.mark.parametrize(
    ("model", "params", "finish_reason", "text"),
    [
        (HAIKU, SamplingParams(max_tokens=2), "length", "Hello from"),
        (HAIKU, SamplingParams(stop=["said"]), "stop", f"Hello from {HAIKU}. You "),
        ("filtered", SamplingParams(), "content_filter", "Sorry, I cannot help with that."),
    ],
)
async def test_stop_reasons(
    provider: BedrockProvider, model: str, params: SamplingParams, finish_reason: str, text: str
) -> None:
    response = await provider.complete("req-stop", target(model), ask("hi", params=params), 1)

    assert (response.finish_reason, response.text) == (finish_reason, text)


# --- tools ---


async def test_tool_calls_round_trip_with_the_original_blocks(
    provider: BedrockProvider, server: BedrockConverseServer
) -> None:
    # Extended thinking: the server, like Claude, refuses the continuation unless the assistant
    # turn comes back exactly as sent, reasoning signature and redacted blob included.
    first_chat = ask("Weather and time in Paris?", tools=[WEATHER, LOCAL_TIME])
    first = await provider.complete("req-tools", target(SONNET, THINKING), first_chat, 1)

    sent_blocks = server.requests_for(SONNET)[-1]["reply"]
    assert [block.keys() for block in sent_blocks][:2] == [{"reasoningContent"}] * 2
    assert first.finish_reason == "tool_calls"
    assert first.text == "Let me look that up."
    assert [(call.id, call.name) for call in first.tool_calls] == [
        (block["toolUse"]["toolUseId"], block["toolUse"]["name"])
        for block in sent_blocks
        if "toolUse" in block
    ]
    assert [call.name for call in first.tool_calls] == ["get_weather", "get_time"]
    assert all(json.loads(call.arguments) == TOOL_INPUT for call in first.tool_calls)

    # What a workflow keeps between the calls is JSON (Temporal payloads), so round-trip it.
    kept = ChatResponse.model_validate_json(first.model_dump_json())
    weather_call, time_call = kept.tool_calls
    second_chat = ChatRequest(
        messages=[
            *first_chat.messages,
            ChatMessage(
                role="assistant",
                content=kept.text,
                tool_calls=kept.tool_calls,
                provider_state=kept.provider_state,
            ),
            ChatMessage(role="tool", tool_call_id=weather_call.id, content="18C and sunny"),
            ChatMessage(role="tool", tool_call_id=time_call.id, content="14:05"),
        ],
        tools=[WEATHER, LOCAL_TIME],
    )
    second = await provider.complete("req-tools", target(SONNET, THINKING), second_chat, 2)

    assert second.finish_reason == "stop"
    assert second.text == "Answer from tools: 18C and sunny; 14:05"
    received = body_of_last_call(server, SONNET)
    assert received["messages"][1] == {"role": "assistant", "content": sent_blocks}
    assert received["messages"][2] == {
        "role": "user",
        "content": [
            {"toolResult": {"toolUseId": weather_call.id, "content": [{"text": "18C and sunny"}]}},
            {"toolResult": {"toolUseId": time_call.id, "content": [{"text": "14:05"}]}},
        ],
    }
    assert len(received["messages"]) == 3
    assert received["toolConfig"]["tools"][0] == {
        "toolSpec": {
            "name": "get_weather",
            "description": "The current weather in a city.",
            "inputSchema": {"json": WEATHER.parameters},
        }
    }
    assert received["additionalModelRequestFields"] == THINKING["additional_model_request_fields"]


async def test_an_assistant_turn_without_matching_provider_state_is_rebuilt(
    provider: BedrockProvider, server: BedrockConverseServer
) -> None:
    # History from elsewhere (an OpenAI-style client), carrying state for other tool calls.
    stale = {PROVIDER_STATE_KEY: [{"toolUse": {"toolUseId": "other", "name": "x", "input": {}}}]}
    history = [
        ChatMessage(role="user", content="Weather in Paris?"),
        ChatMessage(
            role="assistant",
            content="Checking.",
            tool_calls=[ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}')],
            provider_state=stale,
        ),
        ChatMessage(role="tool", tool_call_id="call_1", content="rainy"),
        ChatMessage(role="user", content="Thanks."),
    ]
    chat = ChatRequest(messages=history, tools=[WEATHER], tool_choice="none")

    response = await provider.complete("req-rebuilt", target(LLAMA), chat, 1)

    assert response.text == "Answer from tools: rainy"
    received = body_of_last_call(server, LLAMA)
    assert received["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"text": "Checking."},
                {"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": TOOL_INPUT}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "call_1", "content": [{"text": "rainy"}]}},
                {"text": "Thanks."},
            ],
        },
    ]
    # "none" cannot be said in Converse, and tool blocks need the tools declared.
    assert "toolChoice" not in received["toolConfig"]


@pytest.mark.parametrize(
    ("choice", "tool_choice", "called"),
    [
        (None, None, ["get_weather", "get_time"]),
        ("auto", {"auto": {}}, ["get_weather", "get_time"]),
        ("required", {"any": {}}, ["get_weather", "get_time"]),
        ("get_time", {"tool": {"name": "get_time"}}, ["get_time"]),
    ],
)
async def test_tool_choice(
    provider: BedrockProvider,
    server: BedrockConverseServer,
    choice: str | None,
    tool_choice: dict[str, Any] | None,
    called: list[str],
) -> None:
    chat = ask("Weather?", tools=[WEATHER, LOCAL_TIME], tool_choice=choice)

    response = await provider.complete("req-choice", target(HAIKU), chat, 1)

    assert body_of_last_call(server, HAIKU)["toolConfig"].get("toolChoice") == tool_choice
    assert [call.name for call in response.tool_calls] == called


async def test_tool_choice_none_sends_no_tools(
    provider: BedrockProvider, server: BedrockConverseServer
) -> None:
    chat = ask("Weather?", tools=[WEATHER], tool_choice="none")

    response = await provider.complete("req-none", target(HAIKU), chat, 1)

    assert "toolConfig" not in body_of_last_call(server, HAIKU)
    assert response.finish_reason == "stop" and response.tool_calls == []


@pytest.mark.parametrize(
    "chat",
    [
        ask("Weather?", tools=[WEATHER], tool_choice="get_stock_price"),
        ChatRequest(
            messages=[
                ChatMessage(role="user", content=SECRET),
                ChatMessage(
                    role="assistant",
                    tool_calls=[ToolCall(id="call_1", name="get_weather", arguments="{not json")],
                ),
                ChatMessage(role="tool", tool_call_id="call_1", content="rainy"),
            ],
            tools=[WEATHER],
        ),
        ChatRequest(
            messages=[
                ChatMessage(role="user", content=SECRET),
                ChatMessage(role="tool", content="an answer to no call"),
            ]
        ),
    ],
    ids=["unknown tool_choice", "arguments not JSON", "tool message without a call id"],
)
async def test_requests_the_adapter_cannot_express_are_refused_before_sending(
    provider: BedrockProvider, server: BedrockConverseServer, chat: ChatRequest
) -> None:
    with pytest.raises(ProviderBadRequest) as caught:
        await provider.complete("req-bad", target(HAIKU), chat, 1)

    assert caught.value.to_application_error().non_retryable
    assert SECRET not in str(caught.value)
    assert server.requests == []


# --- streaming ---


async def test_streamed_text_matches_the_completion(
    provider: BedrockProvider, server: BedrockConverseServer
) -> None:
    chunks: list[StreamChunk] = []
    await collect(provider.stream("req-s", target(HAIKU), ask("Tell me something"), 1), chunks)
    completed = await provider.complete("req-c", target(HAIKU), ask("Tell me something"), 1)

    *pieces, last = chunks
    assert len(pieces) > 3
    assert all(chunk.finish_reason is None and chunk.usage is None for chunk in pieces)
    assert "".join(chunk.text for chunk in pieces) == completed.text
    assert last == StreamChunk(finish_reason="stop", usage=completed.usage)
    assert [request["operation"] for request in server.requests] == ["converse-stream", "converse"]
    assert server.requests[0]["body"] == server.requests[1]["body"]


async def test_streamed_tool_use_is_reassembled(
    provider: BedrockProvider, server: BedrockConverseServer
) -> None:
    chat = ask("Weather and time?", tools=[WEATHER, LOCAL_TIME])
    chunks: list[StreamChunk] = []
    await collect(provider.stream("req-st", target(SONNET, THINKING), chat, 1), chunks)

    calls: dict[int, dict[str, Any]] = {}
    fragments = 0
    for chunk in chunks:
        for delta in chunk.tool_calls:
            call = calls.setdefault(delta.index, {"id": None, "name": None, "arguments": ""})
            call["id"] = delta.id or call["id"]
            call["name"] = delta.name or call["name"]
            call["arguments"] += delta.arguments
            fragments += bool(delta.arguments)
    sent_blocks = server.requests_for(SONNET)[-1]["reply"]
    assert [(call["id"], call["name"]) for _, call in sorted(calls.items())] == [
        (block["toolUse"]["toolUseId"], block["toolUse"]["name"])
        for block in sent_blocks
        if "toolUse" in block
    ]
    assert all(json.loads(call["arguments"]) == TOOL_INPUT for call in calls.values())
    assert fragments > len(calls)  # the arguments arrived in pieces
    # Reasoning is not answer text.
    assert "".join(chunk.text for chunk in chunks) == "Let me look that up."
    assert chunks[-1].finish_reason == "tool_calls" and chunks[-1].usage is not None


@pytest.mark.parametrize("model", ["cut-stream", "dropped-stream"])
async def test_a_stream_that_stops_early_is_interrupted(
    provider: BedrockProvider, model: str
) -> None:
    chunks: list[StreamChunk] = []
    with pytest.raises(ProviderStreamInterrupted) as caught:
        await collect(provider.stream("req-cut", target(model), ask(SECRET), 1), chunks)

    assert chunks and all(chunk.text and chunk.finish_reason is None for chunk in chunks)
    assert caught.value.retryable
    assert not caught.value.to_application_error().non_retryable
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("exception_type", "error_type", "retryable"),
    [
        ("throttlingException", ProviderRateLimited, True),
        ("modelStreamErrorException", ProviderStreamInterrupted, True),
        ("serviceUnavailableException", ProviderUnavailable, True),
        ("internalServerException", ProviderUnavailable, True),
        ("validationException", ContextWindowExceeded, False),
    ],
)
async def test_exceptions_inside_a_stream(
    provider: BedrockProvider,
    exception_type: str,
    error_type: type[ProviderError],
    retryable: bool,
) -> None:
    chunks: list[StreamChunk] = []
    with pytest.raises(ProviderError) as caught:
        stream = provider.stream("req-x", target(f"stream-{exception_type}"), ask(SECRET), 1)
        await collect(stream, chunks)

    assert chunks == [StreamChunk(text="Hello")]  # what came before the exception was passed on
    assert type(caught.value) is error_type
    assert caught.value.retryable is retryable
    assert caught.value.to_application_error().non_retryable is not retryable
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("how", ["closed between events", "cancelled while waiting"])
async def test_a_stream_abandoned_early_hangs_up(
    provider: BedrockProvider, server: BedrockConverseServer, how: str
) -> None:
    stream = provider.stream("req-early", target("slow"), ask("hi"), 1)
    if how == "closed between events":
        assert (await anext(stream)).text == "Hello"
        await stream.aclose()
    else:
        chunks: list[StreamChunk] = []
        consumer = asyncio.create_task(collect(stream, chunks))
        while not chunks:
            await asyncio.sleep(0.005)
        # The consumer is now waiting for the next event, its read pending on a worker thread.
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer

    # The connection is closed, so upstream stops generating, well before the answer ends.
    for _ in range(100):
        if server.requests[-1].get("hung_up"):
            break
        await asyncio.sleep(0.01)
    assert server.requests[-1].get("hung_up")
    response = await provider.complete("req-after", target(HAIKU), ask("one two three"), 1)
    assert response.text.startswith("Hello")


# --- errors ---


@pytest.mark.parametrize("mode", ["complete", "stream"])
@pytest.mark.parametrize(
    ("model", "error_type", "retryable"),
    [
        ("throttled", ProviderRateLimited, True),
        ("not-ready", ProviderUnavailable, True),
        ("broken", ProviderUnavailable, True),
        ("unavailable", ProviderUnavailable, True),
        ("model-timeout", ProviderUnavailable, True),
        ("gateway-error", ProviderUnavailable, True),
        ("malformed", ProviderMalformedResponse, True),
        ("malformed-shape", ProviderMalformedResponse, True),
        ("malformed-output", ProviderMalformedResponse, True),
        ("denied", ProviderAuthError, False),
        ("bad-key", ProviderAuthError, False),
        ("too-long", ContextWindowExceeded, False),
        ("too-long-llama", ContextWindowExceeded, False),
        ("invalid", ProviderBadRequest, False),
        ("bad-model-id", UnknownModel, False),
        ("missing", UnknownModel, False),
    ],
)
async def test_errors_map_to_the_taxonomy(
    provider: BedrockProvider,
    server: BedrockConverseServer,
    mode: str,
    model: str,
    error_type: type[ProviderError],
    retryable: bool,
) -> None:
    with pytest.raises(ProviderError) as caught:
        await call(provider, mode, model, ask(SECRET))

    error = caught.value
    assert type(error) is error_type
    assert error.retryable is retryable
    application_error = error.to_application_error()
    assert application_error.type == error_type.error_type
    assert application_error.non_retryable is not retryable
    assert SECRET not in str(error)
    assert len(server.requests_for(model)) == 1  # SDK retries are off: Temporal owns them


@pytest.mark.parametrize("mode", ["complete", "stream"])
async def test_throttling_passes_on_retry_after(provider: BedrockProvider, mode: str) -> None:
    with pytest.raises(ProviderRateLimited) as caught:
        await call(provider, mode, "throttled", ask("hi"))

    assert caught.value.retry_after_seconds == RETRY_AFTER_SECONDS
    delay = caught.value.to_application_error().next_retry_delay
    assert delay == timedelta(seconds=RETRY_AFTER_SECONDS)


async def test_a_read_timeout_is_unavailable(
    aws_environment: None, server: BedrockConverseServer
) -> None:
    impatient = BedrockProvider(region="us-east-1", endpoint_url=server.url, read_timeout=0.1)
    try:
        with pytest.raises(ProviderUnavailable) as caught:
            await impatient.complete("req-slow", target("slow"), ask(SECRET), 1)
    finally:
        impatient.close()

    assert caught.value.retryable and SECRET not in str(caught.value)
    assert len(server.requests_for("slow")) == 1


async def test_an_unreachable_endpoint_is_unavailable(aws_environment: None) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    nowhere = BedrockProvider(region="us-east-1", endpoint_url=f"http://127.0.0.1:{closed_port}")
    try:
        with pytest.raises(ProviderUnavailable):
            await nowhere.complete("req-nowhere", target(HAIKU), ask("hi"), 1)
    finally:
        nowhere.close()


async def test_missing_credentials_are_an_auth_error(
    aws_environment: None, server: BedrockConverseServer
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("AWS_ACCESS_KEY_ID")
        patch.delenv("AWS_SECRET_ACCESS_KEY")
        anonymous = BedrockProvider(region="us-east-1", endpoint_url=server.url)
    try:
        with pytest.raises(ProviderAuthError) as caught:
            await anonymous.complete("req-anon", target(HAIKU), ask("hi"), 1)
    finally:
        anonymous.close()

    assert caught.value.to_application_error().non_retryable
    assert server.requests == []


# --- the transport ---


async def test_requests_are_signed_with_sigv4_and_sent_once(
    provider: BedrockProvider, server: BedrockConverseServer
) -> None:
    await provider.complete("req-signed", target(HAIKU), ask("hi"), 1)
    await collect(provider.stream("req-signed", target(HAIKU), ask("hi"), 1), [])

    for request in server.requests:
        headers = request["headers"]
        signature = re.fullmatch(
            rf"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/\d{{8}}/us-east-1/bedrock/aws4_request, "
            r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=[0-9a-f]{64}",
            headers["Authorization"],
        )
        assert signature is not None, headers["Authorization"]
        assert {"host", "x-amz-date"} <= set(signature["signed"].split(";"))
        assert re.fullmatch(r"\d{8}T\d{6}Z", headers["X-Amz-Date"])
        assert headers["amz-sdk-request"] == "attempt=1; max=1"


@pytest.mark.parametrize("mode", ["complete", "stream"])
async def test_calls_do_not_block_the_event_loop(provider: BedrockProvider, mode: str) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        await call(provider, mode, "slow", ask("hi"))
    finally:
        ticker.cancel()

    # The server holds the answer back SLOW_SECONDS; a blocked loop would not tick meanwhile.
    assert ticks >= SLOW_SECONDS / 0.01 / 3


async def test_concurrent_calls_run_in_parallel(provider: BedrockProvider) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(call(provider, "complete", "slow", ask("hi")) for _ in range(4)))

    assert loop.time() - started < SLOW_SECONDS * 2


# --- configuration ---


async def test_target_problem_and_the_model_allowlist(
    aws_environment: None, server: BedrockConverseServer
) -> None:
    limited = BedrockProvider(
        "bedrock-eu", region="eu-west-1", endpoint_url=server.url, models=[HAIKU]
    )
    try:
        assert limited.name == "bedrock-eu"
        assert limited.target_problem(HAIKU, {}) is None
        assert limited.target_problem(HAIKU, THINKING) is None
        assert "not configured to serve model" in (limited.target_problem(LLAMA, {}) or "")
        assert "temprature" in (limited.target_problem(HAIKU, {"temprature": 0.3}) or "")
        with pytest.raises(UnknownModel):
            await limited.complete("req-limited", target(LLAMA), ask("hi"), 1)
        with pytest.raises(ProviderBadRequest):
            await limited.complete("req-limited", target(HAIKU, {"temprature": 0.3}), ask("hi"), 1)
        assert server.requests == []
        await limited.complete("req-limited", target(HAIKU), ask("hi"), 1)
        assert "/eu-west-1/bedrock/" in server.requests[-1]["headers"]["Authorization"]
    finally:
        limited.close()


# --- structured output ---

SONNET_45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"


async def test_response_format_becomes_converse_output_config(
    provider: BedrockProvider, server: BedrockConverseServer
) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    wanted = ResponseFormat(
        type="json_schema", name="place", description="A city.", json_schema=schema
    )
    await provider.complete("req-1", target(SONNET_45), ask("Where?", response_format=wanted), 1)
    assert body_of_last_call(server, SONNET_45)["outputConfig"] == {
        "textFormat": {
            "type": "json_schema",
            "structure": {
                "jsonSchema": {
                    "name": "place",
                    "schema": json.dumps(schema, separators=(",", ":")),
                    "description": "A city.",
                }
            },
        }
    }
    chunks: list[StreamChunk] = []
    any_object = ask("Where?", response_format=ResponseFormat(type="json_object"))
    await collect(provider.stream("req-2", target(f"eu.{SONNET_45}"), any_object, 1), chunks)
    sent = server.requests[-1]["body"]["outputConfig"]["textFormat"]["structure"]["jsonSchema"]
    assert sent == {"name": "answer", "schema": '{"type":"object"}'}


async def test_a_model_known_to_lack_structured_output_is_refused_before_sending(
    provider: BedrockProvider, server: BedrockConverseServer
) -> None:
    wanted = ask("Where?", response_format=ResponseFormat(type="json_object"))
    with pytest.raises(ProviderBadRequest, match="has no structured output"):
        await provider.complete("req-1", target(HAIKU), wanted, 1)
    assert server.requests == []
    assert provider.capabilities(HAIKU, {}).structured_output is False
    assert provider.capabilities(f"us.{SONNET_45}", {}).structured_output is True
    assert provider.region(f"us.{SONNET_45}", {}) == "us"
    assert provider.region(SONNET_45, {}) == "us-east-1"
