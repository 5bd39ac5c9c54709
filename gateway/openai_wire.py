"""The OpenAI chat-completions wire format, and its translation to and from Interlock's contract."""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer
from pydantic.json_schema import models_json_schema

from contracts.chat import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    FinishReason,
    SamplingParams,
    ToolCall,
    ToolSpec,
)
from contracts.request import RequestResult
from gateway.errors import ApiError


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class WireFunctionCall(BaseModel):
    name: str = Field(min_length=1)
    arguments: str = "{}"


class WireToolCall(BaseModel):
    id: str = Field(min_length=1)
    type: Literal["function"] = "function"
    function: WireFunctionCall


class WireFunction(BaseModel):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class WireTool(BaseModel):
    type: Literal["function"]
    function: WireFunction


class WireNamedToolChoice(BaseModel):
    type: Literal["function"]
    function: dict[str, str]


class WireMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None
    tool_calls: list[WireToolCall] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    """The body of POST /v1/chat/completions, as OpenAI defines it."""

    # Unknown OpenAI parameters are tolerated (clients send many); ones that would change the
    # answer and that Interlock cannot honour yet are refused (refuse_unsupported) rather than
    # ignored.
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [{"model": "chat", "messages": [{"role": "user", "content": "Hello"}]}]
        },
    )

    model: str = Field(
        min_length=1,
        max_length=256,
        description="A route name, or 'provider/model' to address a model directly.",
    )
    messages: list[WireMessage] = Field(min_length=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = Field(None, description="Up to 4 stop sequences.")
    seed: int | None = None
    stream: bool = Field(False, description="Answer as server-sent events (text/event-stream).")
    stream_options: dict[str, Any] | None = Field(
        None, description="{'include_usage': true} adds a last chunk with the token usage."
    )
    n: int = Field(1, ge=1, description="Only 1 is supported.")
    user: str | None = None
    tools: list[WireTool] | None = None
    tool_choice: Literal["auto", "none", "required"] | WireNamedToolChoice | None = None

    @field_validator("stop")
    @classmethod
    def _at_most_four_stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences are allowed")
        return value


UNSUPPORTED = {
    "functions": "the legacy 'functions' parameter (use 'tools')",
    "response_format": "structured output",
    "logprobs": "log probabilities",
}


def refuse_unsupported(wire: ChatCompletionRequest) -> None:
    """A 400 for parameters that would change the answer and that Interlock cannot honour yet."""
    if wire.n != 1:
        raise ApiError(400, "only n=1 is supported", param="n", code="unsupported_parameter")
    extra = wire.model_extra or {}
    for field, feature in UNSUPPORTED.items():
        if extra.get(field) not in (None, False):
            raise ApiError(
                400,
                f"{feature} ('{field}') is not supported yet",
                param=field,
                code="unsupported_parameter",
            )


def to_chat_request(wire: ChatCompletionRequest) -> ChatRequest:
    stop = [wire.stop] if isinstance(wire.stop, str) else (wire.stop or [])
    offered = {tool.function.name for tool in wire.tools or []}
    choice = wire.tool_choice
    if isinstance(choice, WireNamedToolChoice):
        name = choice.function.get("name", "")
        if name not in offered:
            raise ApiError(
                400,
                f"tool_choice names '{name}', which is not among the tools",
                param="tool_choice",
                code="invalid_value",
            )
        choice = name
    _check_tool_messages(wire.messages)
    return ChatRequest(
        messages=[
            ChatMessage(
                role=m.role,
                content=m.text(),
                name=m.name,
                tool_calls=[
                    ToolCall(
                        id=call_id,
                        name=c.function.name,
                        arguments=c.function.arguments,
                        provider_state=state,
                    )
                    for c in m.tool_calls or []
                    for call_id, state in [unpack_tool_call_id(c.id)]
                ],
                tool_call_id=unpack_tool_call_id(m.tool_call_id)[0] if m.tool_call_id else None,
            )
            for m in wire.messages
        ],
        params=SamplingParams(
            temperature=wire.temperature,
            top_p=wire.top_p,
            max_tokens=wire.max_completion_tokens or wire.max_tokens,
            stop=stop,
            seed=wire.seed,
        ),
        tools=[
            ToolSpec(
                name=t.function.name,
                description=t.function.description,
                parameters=t.function.parameters,
            )
            for t in wire.tools or []
        ],
        tool_choice=choice,
    )


def _check_tool_messages(messages: list[WireMessage]) -> None:
    """Tool results must answer a call made earlier in the conversation, as OpenAI requires."""
    called: set[str] = set()
    for index, message in enumerate(messages):
        if message.role == "assistant":
            called.update(call.id for call in message.tool_calls or [])
        elif message.role == "tool":
            if not message.tool_call_id:
                raise ApiError(
                    400,
                    "a tool message needs tool_call_id",
                    param=f"messages.{index}.tool_call_id",
                    code="invalid_value",
                )
            if message.tool_call_id not in called:
                raise ApiError(
                    400,
                    f"tool message answers unknown call '{message.tool_call_id}'",
                    param=f"messages.{index}.tool_call_id",
                    code="invalid_value",
                )
        if message.tool_calls and message.role != "assistant":
            raise ApiError(
                400,
                "only assistant messages carry tool_calls",
                param=f"messages.{index}.tool_calls",
                code="invalid_value",
            )


class CompletionMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None = Field(
        description="The answer; null when the answer only calls tools or was filtered."
    )
    tool_calls: list[WireToolCall] | None = Field(
        None, description="Present only when the answer calls tools."
    )

    # No return annotation on purpose: with one, pydantic documents the serializer's return type
    # instead of this model's fields.
    @model_serializer(mode="wrap")
    def _without_absent_tool_calls(self, handler: Any):  # type: ignore[no-untyped-def]
        # OpenAI leaves tool_calls out of a plain answer, while content stays, as null if need be.
        data = handler(self)
        if data.get("tool_calls") is None:
            data.pop("tool_calls", None)
        return data


class CompletionChoice(BaseModel):
    index: int
    message: CompletionMessage
    logprobs: None = None
    finish_reason: FinishReason


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    """A whole answer: the 200 response of POST /v1/chat/completions without `stream`."""

    id: str = Field(description="The request id; also the id of its Temporal workflow.")
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str = Field(description="The model that answered, as 'provider/model'.")
    choices: list[CompletionChoice]
    usage: CompletionUsage
    system_fingerprint: str | None = None


class ChunkFunction(BaseModel):
    name: str | None = None
    arguments: str | None = None


class ChunkToolCall(BaseModel):
    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: ChunkFunction


class ChunkDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[ChunkToolCall] | None = None


class ChunkChoice(BaseModel):
    index: int
    delta: ChunkDelta
    logprobs: None = None
    finish_reason: FinishReason | None = None


class ChatCompletionChunk(BaseModel):
    """One server-sent event of a streamed answer (`data: {chunk}`); the stream ends with
    `data: [DONE]`. A failure after the first chunk arrives as `data: {"error": {...}}`."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: CompletionUsage | None = None


class ModelCard(BaseModel):
    id: str = Field(description="A route name to send as `model`.")
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "interlock"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# The 200 response of POST /v1/chat/completions in both of its forms, for the OpenAPI document.
# The stream's events follow OpenAPI 3.2's `itemSchema`, the form FastAPI itself uses for SSE.
CHAT_COMPLETION_200: dict[str, Any] = {
    "model": ChatCompletion,
    "description": "The answer: JSON, or with `stream: true` a text/event-stream of chunks.",
    "content": {
        "text/event-stream": {
            "schema": {"type": "string"},
            "itemSchema": {
                "type": "object",
                "required": ["data"],
                "properties": {
                    "data": {
                        "type": "string",
                        "description": "A chat.completion.chunk as JSON, an error object, "
                        "or [DONE] at the end.",
                        "contentMediaType": "application/json",
                        "contentSchema": {
                            "anyOf": [
                                {"$ref": "#/components/schemas/ChatCompletionChunk"},
                                {"$ref": "#/components/schemas/ErrorResponse"},
                            ]
                        },
                    }
                },
            },
        }
    },
}


def add_stream_chunk_schemas(document: dict[str, Any]) -> None:
    """Puts ChatCompletionChunk, which the stream's itemSchema names, into an OpenAPI document:
    FastAPI adds only the models its routes declare."""
    _, definitions = models_json_schema(
        [(ChatCompletionChunk, "serialization")], ref_template="#/components/schemas/{model}"
    )
    document.setdefault("components", {}).setdefault("schemas", {}).update(definitions["$defs"])


def to_chat_completion(result: RequestResult) -> ChatCompletion:
    response = result.response
    assert response is not None
    return ChatCompletion(
        id=result.request_id,
        created=int(time.time()),
        model=f"{response.provider}/{response.model}",
        choices=[
            CompletionChoice(
                index=0,
                message=_assistant_message(response),
                finish_reason=response.finish_reason,
            )
        ],
        usage=CompletionUsage(
            prompt_tokens=response.usage.input_tokens,
            completion_tokens=response.usage.output_tokens,
            total_tokens=response.usage.total_tokens,
        ),
    )


def _assistant_message(response: ChatResponse) -> CompletionMessage:
    # A filtered answer, or one that only calls tools, has no content, as OpenAI reports it.
    no_text = response.finish_reason == "content_filter" or (
        response.tool_calls and not response.text
    )
    return CompletionMessage(
        content=None if no_text else response.text,
        tool_calls=[
            WireToolCall(
                id=pack_tool_call_id(call.id, call.provider_state),
                function=WireFunctionCall(name=call.name, arguments=call.arguments),
            )
            for call in response.tool_calls
        ]
        or None,
    )


# Some providers need state of their own back with a tool call when the conversation continues
# (Gemini's thought signatures). The OpenAI wire format has no field for it, but clients echo a
# tool call's id verbatim, so the state rides along inside the id.
_STATE_MARK = ".ilps."


def pack_tool_call_id(call_id: str, provider_state: dict[str, Any]) -> str:
    if not provider_state:
        return call_id
    packed = base64.urlsafe_b64encode(json.dumps(provider_state, separators=(",", ":")).encode())
    return f"{call_id}{_STATE_MARK}{packed.decode().rstrip('=')}"


def unpack_tool_call_id(wire_id: str) -> tuple[str, dict[str, Any]]:
    call_id, mark, packed = wire_id.partition(_STATE_MARK)
    if not mark:
        return wire_id, {}
    try:
        state = json.loads(base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4)))
    except (ValueError, binascii.Error):
        raise ApiError(
            400, "a tool call id carries state that cannot be read", code="invalid_value"
        ) from None
    if not isinstance(state, dict):
        raise ApiError(
            400, "a tool call id carries state that cannot be read", code="invalid_value"
        )
    return call_id, state
