"""AWS Bedrock Runtime's Converse and ConverseStream APIs through boto3 (Claude, Llama, any model
that Converse serves).

boto3 is synchronous, so every SDK call runs on this provider's own thread pool: a slow model
never blocks the event loop, and long streams cannot starve the loop's default executor, which
other code (DNS lookups among it) shares. SDK retries are off because Temporal owns retries; a
failure surfaces once, as a typed ProviderError.

Assistant turns are answered with their raw Converse content blocks in `provider_state`
(`bedrock_content`), so a continued conversation sends the model back exactly what it produced:
reasoning blocks and their signatures, which Claude requires with extended thinking, survive.
Error messages carry the error code, model and AWS request id, never the provider's message
text or the prompt: both can echo what the user sent.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import boto3
import urllib3.exceptions
from botocore.config import Config
from botocore.eventstream import ParserError as EventStreamParserError
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)
from botocore.parsers import ResponseParserError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
    parse_retry_after,
)
from activities.providers.model_catalog import (
    REGION_PREFIXES,
    ModelCapabilities,
    capabilities_of,
)
from activities.providers.pricing import cost_usd, price_of, price_table
from contracts.chat import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    FinishReason,
    ResponseFormat,
    SamplingParams,
    StreamChunk,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from contracts.routing import RouteTarget

__all__ = ["PROVIDER_STATE_KEY", "BedrockOptions", "BedrockProvider"]

PROVIDER_STATE_KEY = "bedrock_content"
# Threads and pooled connections per provider: one of each for every call in flight, so that a
# call never waits for a connection another call holds.
_MAX_CONCURRENT_CALLS = 64
_CONNECT_TIMEOUT_SECONDS = 10.0

_FINISH_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
# The model produced output Converse could not make sense of: returning it would be a silent,
# broken success, and a retry may well come out well-formed.
_MALFORMED_STOP_REASONS = frozenset({"malformed_model_output", "malformed_tool_use"})

# Error codes, normalised to the HTTP spelling: in-stream exception events spell them with a
# lower-case first letter (throttlingException).
_RATE_LIMITED_CODES = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        # Bedrock's advice for this one is to resubmit later: a quota, not a broken request.
        "ServiceQuotaExceededException",
    }
)
_UNAVAILABLE_CODES = frozenset(
    {
        "ServiceUnavailableException",
        "InternalServerException",
        "ModelNotReadyException",
        "ModelTimeoutException",
        "ModelErrorException",
    }
)
_AUTH_CODES = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "ExpiredTokenException",
    }
)
_STREAM_BROKEN_CODES = frozenset({"ModelStreamErrorException"})
_CONTEXT_WINDOW_MESSAGE = re.compile(
    r"too long|context (window|length)|too many (input )?tokens|input tokens? exceed"
    r"|exceeds? (the )?(max\w*|limit)\w* (input|context|prompt|token)",
    re.IGNORECASE,
)
_INVALID_MODEL_MESSAGE = re.compile(r"model identifier is invalid", re.IGNORECASE)

# Blobs (redacted reasoning, image bytes) are bytes in boto3 and must become JSON to travel in
# provider_state; they are tagged so they can be turned back into bytes when sent again.
_BYTES_TAG = "$bytes"
# JSON documents inside content blocks (toolUse input, toolResult json) are the caller's data:
# never rewritten in either direction.
_DOCUMENT_KEYS = frozenset({"input", "json"})

# botocore's JSON parser raises these bare when a 200 body has the wrong shape (an object where
# a list belongs, a string for a number). Request-side mistakes surface earlier, as
# ParamValidationError, so from an SDK call these mean an answer that is not Converse's.
_UNPARSEABLE_ANSWER = (ResponseParserError, AttributeError, TypeError, ValueError, KeyError)

_T = TypeVar("_T")


class BedrockOptions(BaseModel):
    """What a route variant's `options` may set for a Bedrock target."""

    # A misspelt option must be an error, not a route quietly running without it.
    model_config = ConfigDict(extra="forbid")

    additional_model_request_fields: dict[str, Any] = Field(
        default_factory=dict,
        description="Sent as additionalModelRequestFields: model-native settings that Converse "
        "has no field for, such as Claude's `thinking` or `top_k`.",
    )


class BedrockProvider:
    def __init__(
        self,
        name: str = "bedrock",
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        models: list[str] | None = None,
        read_timeout: float = 120,
    ) -> None:
        """`models` limits the model ids routes may use (None: any id Bedrock accepts).

        Credentials come from the standard AWS chain. The client is made here, so a missing
        region fails when the worker starts rather than on the first request.
        """
        self.name = name
        self.models = None if models is None else frozenset(models)
        self._client = boto3.session.Session(region_name=region).client(
            "bedrock-runtime",
            endpoint_url=endpoint_url,
            config=Config(
                retries={"total_max_attempts": 1, "mode": "standard"},
                connect_timeout=_CONNECT_TIMEOUT_SECONDS,
                read_timeout=read_timeout,
                max_pool_connections=_MAX_CONCURRENT_CALLS,
            ),
        )
        self._executor = ThreadPoolExecutor(
            max_workers=_MAX_CONCURRENT_CALLS, thread_name_prefix=f"{name}-calls"
        )

    def close(self) -> None:
        """Release the connection pool and threads; calls still in flight may fail."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def prices(self, model: str, options: dict) -> tuple[float, float] | None:
        return price_of("bedrock", model)

    def known_models(self) -> list[str]:
        return sorted(price_table().get("bedrock", {}))

    def capabilities(self, model: str, options: dict) -> ModelCapabilities:
        return capabilities_of("bedrock", model)

    def region(self, model: str, options: dict) -> str | None:
        # A cross-region inference profile (us., eu., ...) may run in any region of its
        # geography, so it is placed no closer than that.
        for prefix in REGION_PREFIXES:
            if model.startswith(prefix):
                return prefix.rstrip(".")
        return self._client.meta.region_name

    def target_problem(self, model: str, options: dict) -> str | None:
        if not model:
            return f"the {self.name} provider needs a model id"
        if self.models is not None and model not in self.models:
            return f"the {self.name} provider is not configured to serve model {model!r}"
        try:
            BedrockOptions.model_validate(options)
        except ValidationError as exc:
            return f"invalid {self.name} options: {_first_error(exc)}"
        return None

    async def complete(
        self, request_id: str, target: RouteTarget, chat: ChatRequest, attempt: int
    ) -> ChatResponse:
        request = self._converse_input(target, chat)
        started = time.perf_counter()
        try:
            response = await self._in_thread(functools.partial(self._client.converse, **request))
        except (ClientError, BotoCoreError) as exc:
            raise _provider_error(exc, target.model) from None
        except _UNPARSEABLE_ANSWER as exc:
            raise _unparseable(exc, target.model) from None
        latency_ms = (time.perf_counter() - started) * 1000.0
        return _chat_response(self.name, target.model, response, latency_ms)

    async def stream(
        self, request_id: str, target: RouteTarget, chat: ChatRequest, attempt: int
    ) -> AsyncIterator[StreamChunk]:
        request = self._converse_input(target, chat)
        try:
            response = await self._in_thread(
                functools.partial(self._client.converse_stream, **request)
            )
        except (ClientError, BotoCoreError) as exc:
            raise _provider_error(exc, target.model) from None
        except _UNPARSEABLE_ANSWER as exc:
            raise _unparseable(exc, target.model) from None
        events = response.get("stream")
        if events is None:
            raise ProviderMalformedResponse(f"Bedrock sent no event stream for {target.model!r}")
        pending: Future[dict[str, Any] | None] | None = None
        try:
            # One thread hop per event: the blocking read happens off the loop, and the stream
            # is read no faster than it is consumed.
            event_iterator = iter(events)
            assembler = _StreamAssembler(target.model)
            while True:
                pending = self._executor.submit(_next_event, event_iterator, target.model)
                event = await asyncio.wrap_future(pending)
                if event is None:
                    break
                chunk = assembler.feed(event)
                if chunk is not None:
                    yield chunk
            yield assembler.final_chunk()
        finally:
            # Frees the connection, also when the consumer stops early. A read may then still be
            # running on a worker thread: the stream is closed once it returns, never under it,
            # as urllib3's response is not thread-safe.
            if pending is not None and not pending.done():
                pending.add_done_callback(lambda _: events.close())
            else:
                events.close()

    async def _in_thread(self, call: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _converse_input(self, target: RouteTarget, chat: ChatRequest) -> dict[str, Any]:
        if self.models is not None and target.model not in self.models:
            raise UnknownModel(f"the {self.name} provider does not serve model {target.model!r}")
        try:
            options = BedrockOptions.model_validate(target.options)
        except ValidationError as exc:
            raise ProviderBadRequest(
                f"invalid {self.name} options for {target.model!r}: {_first_error(exc)}"
            ) from None
        system, messages = _converse_messages(chat.messages)
        request: dict[str, Any] = {"modelId": target.model, "messages": messages}
        if system:
            request["system"] = system
        inference = _inference_config(chat.params)
        if inference:
            request["inferenceConfig"] = inference
        tool_config = _tool_config(chat, messages)
        if tool_config is not None:
            request["toolConfig"] = tool_config
        if chat.response_format is not None:
            request["outputConfig"] = self._output_config(target.model, chat.response_format)
        if options.additional_model_request_fields:
            request["additionalModelRequestFields"] = options.additional_model_request_fields
        return request

    def _output_config(self, model: str, wanted: ResponseFormat) -> dict[str, Any]:
        # Only some models take a schema; one known not to is refused here, without a call.
        if self.capabilities(model, {}).structured_output is False:
            raise ProviderBadRequest(
                f"model {model!r} on {self.name} has no structured output (response_format)"
            )
        schema: dict[str, Any] = {
            "name": wanted.name or "answer",
            # Converse takes the schema as JSON text, not as a document.
            "schema": json.dumps(wanted.schema_or_object(), separators=(",", ":")),
        }
        if wanted.description:
            schema["description"] = wanted.description
        return {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": schema}}}


# --- the request ---


def _converse_messages(
    messages: list[ChatMessage],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The normalized messages as Converse's (system blocks, messages).

    Converse wants user and assistant turns to alternate, and tool results to come as a user
    turn, so consecutive messages that land on the same role are merged into one turn.
    """
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role in ("system", "developer"):
            if message.content:
                system.append({"text": message.content})
            continue
        role, blocks = _turn_blocks(message)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def _turn_blocks(message: ChatMessage) -> tuple[str, list[dict[str, Any]]]:
    if message.role == "user":
        return "user", [{"text": message.content}]
    if message.role == "tool":
        if not message.tool_call_id:
            raise ProviderBadRequest("a tool message has no tool_call_id")
        result = {"toolUseId": message.tool_call_id, "content": [{"text": message.content}]}
        return "user", [{"toolResult": result}]
    stored = _stored_assistant_blocks(message)
    if stored is not None:
        return "assistant", stored
    blocks: list[dict[str, Any]] = []
    if message.content:
        blocks.append({"text": message.content})
    for call in message.tool_calls:
        tool_use = {"toolUseId": call.id, "name": call.name, "input": _tool_input(call)}
        blocks.append({"toolUse": tool_use})
    return "assistant", blocks


def _stored_assistant_blocks(message: ChatMessage) -> list[dict[str, Any]] | None:
    """The blocks this provider produced for `message`, while they still describe it.

    If the caller changed the tool calls since, the stored blocks would contradict them, so the
    turn is rebuilt from the message instead.
    """
    stored = message.provider_state.get(PROVIDER_STATE_KEY)
    if not isinstance(stored, list) or not all(isinstance(block, dict) for block in stored):
        return None
    stored_ids = [
        block["toolUse"].get("toolUseId")
        for block in stored
        if isinstance(block.get("toolUse"), dict)
    ]
    if stored_ids != [call.id for call in message.tool_calls]:
        return None
    return _restore_blobs(stored)


def _tool_input(call: ToolCall) -> Any:
    try:
        return json.loads(call.arguments or "{}")
    except ValueError:
        raise ProviderBadRequest(
            f"the arguments of tool call {call.id!r} ({call.name}) are not JSON"
        ) from None


def _inference_config(params: SamplingParams) -> dict[str, Any]:
    # Converse has no seed; it is dropped rather than refused, as most providers ignore it.
    config: dict[str, Any] = {}
    if params.max_tokens is not None:
        config["maxTokens"] = params.max_tokens
    if params.temperature is not None:
        config["temperature"] = params.temperature
    if params.top_p is not None:
        config["topP"] = params.top_p
    if params.stop:
        config["stopSequences"] = list(params.stop)
    return config


def _tool_config(chat: ChatRequest, messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not chat.tools:
        return None
    # Converse has no "none" choice. Leaving the tools out does it, except that Converse refuses
    # toolUse and toolResult blocks without a toolConfig: then the tools are declared and the
    # model is left to choose.
    if chat.tool_choice == "none" and not _has_tool_blocks(messages):
        return None
    tools = []
    for tool in chat.tools:
        spec: dict[str, Any] = {"name": tool.name, "inputSchema": {"json": tool.parameters}}
        if tool.description:
            spec["description"] = tool.description
        tools.append({"toolSpec": spec})
    config: dict[str, Any] = {"tools": tools}
    choice = chat.tool_choice
    if choice == "auto":
        config["toolChoice"] = {"auto": {}}
    elif choice == "required":
        config["toolChoice"] = {"any": {}}
    elif choice not in (None, "none"):
        if choice not in {tool.name for tool in chat.tools}:
            raise ProviderBadRequest(f"tool_choice names {choice!r}, which is not among the tools")
        config["toolChoice"] = {"tool": {"name": choice}}
    return config


def _has_tool_blocks(messages: list[dict[str, Any]]) -> bool:
    return any(
        "toolUse" in block or "toolResult" in block
        for message in messages
        for block in message["content"]
    )


# --- the response ---


def _chat_response(
    provider: str, model: str, response: Mapping[str, Any], latency_ms: float
) -> ChatResponse:
    try:
        content = response["output"]["message"]["content"]
        stop_reason = response["stopReason"]
        usage = Usage(
            input_tokens=response["usage"]["inputTokens"],
            output_tokens=response["usage"]["outputTokens"],
        )
        if not isinstance(content, list):
            raise TypeError("content is not a list")
        texts: list[str] = []
        tool_calls: list[ToolCall] = []
        for block in content:
            if "text" in block:
                texts.append(block["text"])
            elif "toolUse" in block:
                tool_use = block["toolUse"]
                tool_calls.append(
                    ToolCall(
                        id=tool_use["toolUseId"],
                        name=tool_use["name"],
                        arguments=json.dumps(tool_use.get("input", {}), ensure_ascii=False),
                    )
                )
    except (KeyError, TypeError, ValidationError):
        raise ProviderMalformedResponse(
            f"Bedrock's Converse answer for {model!r} lacks the expected fields"
        ) from None
    return ChatResponse(
        provider=provider,
        model=model,
        text="".join(texts),
        finish_reason=_finish_reason(stop_reason, model),
        usage=usage,
        cost_usd=cost_usd("bedrock", model, usage),
        latency_ms=latency_ms,
        tool_calls=tool_calls,
        provider_state={PROVIDER_STATE_KEY: _jsonable_blobs(content)},
    )


def _finish_reason(stop_reason: str, model: str) -> FinishReason:
    if stop_reason in _MALFORMED_STOP_REASONS:
        raise ProviderMalformedResponse(f"Bedrock stopped {model!r} with {stop_reason}")
    # A stop reason newer than this adapter still ended an answer: keep the answer.
    return _FINISH_REASONS.get(stop_reason, "stop")


def _next_event(events: Any, model: str) -> dict[str, Any] | None:
    """The next event of a ConverseStream, or None at its end. Runs on a worker thread."""
    try:
        # A sentinel, not StopIteration: that cannot cross from an executor into a coroutine.
        return next(events, None)
    except ClientError as exc:
        # An exception event in the stream (botocore's EventStreamError).
        raise _provider_error(exc, model) from None
    except EventStreamParserError:
        raise ProviderMalformedResponse(
            f"Bedrock's stream for {model!r} is not valid event-stream framing"
        ) from None
    except (BotoCoreError, urllib3.exceptions.HTTPError, OSError) as exc:
        raise ProviderStreamInterrupted(
            f"Bedrock's stream for {model!r} broke off: {type(exc).__name__}"
        ) from None
    except _UNPARSEABLE_ANSWER as exc:
        raise _unparseable(exc, model) from None


class _StreamAssembler:
    """Turns ConverseStream events into StreamChunks and checks that the stream finished."""

    def __init__(self, model: str) -> None:
        self.model = model
        # Converse numbers all content blocks; OpenAI-style tool call deltas number tool calls.
        self._tool_index_by_block: dict[int, int] = {}
        self._stop_reason: str | None = None
        self._usage: Usage | None = None

    def feed(self, event: dict[str, Any]) -> StreamChunk | None:
        try:
            return self._chunk_for(event)
        except (KeyError, TypeError, ValidationError):
            raise ProviderMalformedResponse(
                f"a ConverseStream event for {self.model!r} lacks the expected fields"
            ) from None

    def _chunk_for(self, event: dict[str, Any]) -> StreamChunk | None:
        if "contentBlockStart" in event:
            body = event["contentBlockStart"]
            tool_use = body["start"].get("toolUse")
            if tool_use is None:
                return None
            index = len(self._tool_index_by_block)
            self._tool_index_by_block[body["contentBlockIndex"]] = index
            delta = ToolCallDelta(index=index, id=tool_use["toolUseId"], name=tool_use["name"])
            return StreamChunk(tool_calls=[delta])
        if "contentBlockDelta" in event:
            body = event["contentBlockDelta"]
            delta = body["delta"]
            if delta.get("text"):
                return StreamChunk(text=delta["text"])
            if "toolUse" in delta:
                index = self._tool_index_by_block.get(body["contentBlockIndex"])
                if index is None:
                    raise ProviderMalformedResponse(
                        f"Bedrock streamed tool input for {self.model!r} before the tool's start"
                    )
                fragment = ToolCallDelta(index=index, arguments=delta["toolUse"]["input"])
                return StreamChunk(tool_calls=[fragment])
            # Reasoning deltas are not answer text, and StreamChunk has no field for them.
            return None
        if "messageStop" in event:
            self._stop_reason = event["messageStop"]["stopReason"]
        elif "metadata" in event:
            usage = event["metadata"]["usage"]
            self._usage = Usage(
                input_tokens=usage["inputTokens"], output_tokens=usage["outputTokens"]
            )
        return None

    def final_chunk(self) -> StreamChunk:
        if self._stop_reason is None or self._usage is None:
            missing = [
                name
                for name, seen in (("messageStop", self._stop_reason), ("metadata", self._usage))
                if seen is None
            ]
            raise ProviderStreamInterrupted(
                f"Bedrock's stream for {self.model!r} ended without {' and '.join(missing)}"
            )
        return StreamChunk(
            finish_reason=_finish_reason(self._stop_reason, self.model), usage=self._usage
        )


# --- provider_state blobs ---


def _jsonable_blobs(value: Any) -> Any:
    if isinstance(value, bytes):
        return {_BYTES_TAG: base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {
            key: item if key in _DOCUMENT_KEYS else _jsonable_blobs(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_jsonable_blobs(item) for item in value]
    return value


def _restore_blobs(value: Any) -> Any:
    if isinstance(value, dict):
        if value.keys() == {_BYTES_TAG} and isinstance(value[_BYTES_TAG], str):
            return base64.b64decode(value[_BYTES_TAG])
        return {
            key: item if key in _DOCUMENT_KEYS else _restore_blobs(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_restore_blobs(item) for item in value]
    return value


# --- errors ---


def _provider_error(exc: Exception, model: str) -> ProviderError:
    if isinstance(exc, ClientError):
        return _client_error(exc, model)
    kind = type(exc).__name__
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ProviderAuthError(f"no usable AWS credentials for Bedrock ({kind})")
    if isinstance(exc, ParamValidationError):
        # Its text lists the offending values, which may be prompt text: only the type is kept.
        return ProviderBadRequest(f"boto3 refused the Converse request for {model!r} ({kind})")
    # Connection failures and timeouts, and anything else the SDK raises on the way.
    return ProviderUnavailable(f"Bedrock unreachable for {model!r}: {kind}")


def _unparseable(exc: Exception, model: str) -> ProviderMalformedResponse:
    return ProviderMalformedResponse(
        f"Bedrock's answer for {model!r} could not be parsed ({type(exc).__name__})"
    )


def _client_error(exc: ClientError, model: str) -> ProviderError:
    error = exc.response.get("Error", {})
    raw_code = str(error.get("Code", ""))
    code = raw_code[:1].upper() + raw_code[1:]
    provider_message = str(error.get("Message", ""))
    metadata = exc.response.get("ResponseMetadata", {})
    status = metadata.get("HTTPStatusCode")
    headers = metadata.get("HTTPHeaders", {})
    details = ", ".join(
        part
        for part in (
            code or None,
            f"HTTP {status}" if status else None,
            f"request id {metadata['RequestId']}" if metadata.get("RequestId") else None,
        )
        if part
    )
    where = f"for model {model!r} ({details})"

    if code in _RATE_LIMITED_CODES:
        return _rate_limited(where, headers)
    if code in _UNAVAILABLE_CODES:
        return ProviderUnavailable(f"Bedrock could not answer {where}")
    if code in _STREAM_BROKEN_CODES:
        return ProviderStreamInterrupted(f"Bedrock's model stream failed {where}")
    if code in _AUTH_CODES:
        return ProviderAuthError(f"Bedrock refused the credentials {where}")
    if code == "ResourceNotFoundException":
        return UnknownModel(f"Bedrock does not know the model {where}")
    if code == "ValidationException":
        return _rejected(where, provider_message)
    # A code this adapter does not know: judged by the HTTP status.
    if status == 429:
        return _rate_limited(where, headers)
    if status in (401, 403):
        return ProviderAuthError(f"Bedrock refused the credentials {where}")
    if status == 404:
        return UnknownModel(f"Bedrock does not know the model {where}")
    if status is not None and 400 <= status < 500:
        return _rejected(where, provider_message)
    return ProviderUnavailable(f"Bedrock failed {where}")


def _rate_limited(where: str, headers: Mapping[str, str]) -> ProviderRateLimited:
    return ProviderRateLimited(
        f"Bedrock rate limited the call {where}", retry_after_seconds=_retry_after_seconds(headers)
    )


def _rejected(where: str, provider_message: str) -> ProviderBadRequest | UnknownModel:
    # The provider's message is read to classify, never repeated: it may quote the input.
    if _CONTEXT_WINDOW_MESSAGE.search(provider_message):
        return ContextWindowExceeded(f"the input exceeds the model's context window {where}")
    if _INVALID_MODEL_MESSAGE.search(provider_message):
        return UnknownModel(f"Bedrock does not know the model {where}")
    return ProviderBadRequest(f"Bedrock rejected the request {where}")


def _retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    return parse_retry_after(headers.get("retry-after"))


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
