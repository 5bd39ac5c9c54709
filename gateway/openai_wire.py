"""The OpenAI chat-completions request, and its translation into Interlock's contract.

The answers going back out are in gateway/openai_answers.py."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import to_json

from configuration import Settings
from contracts.chat import (
    ChatMessage,
    ChatRequest,
    ResponseFormat,
    SamplingParams,
    ToolCall,
    ToolSpec,
)
from gateway.body_limit import json_problem
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


class WireJsonSchema(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    description: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class WireResponseFormat(BaseModel):
    """`text` (the default), `json_object` (any JSON object), or `json_schema`."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: WireJsonSchema | None = None


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
    seed: int | None = Field(None, ge=-(2**63), le=2**63 - 1, description="A 64-bit integer.")
    stream: bool = Field(False, description="Answer as server-sent events (text/event-stream).")
    stream_options: dict[str, Any] | None = Field(
        None, description="{'include_usage': true} adds a last chunk with the token usage."
    )
    n: int = Field(1, ge=1, description="Only 1 is supported.")
    user: str | None = Field(
        None,
        max_length=512,
        description="Your end user's id: kept on the outcome only as a keyed hash, per tenant.",
    )
    tools: list[WireTool] | None = None
    tool_choice: Literal["auto", "none", "required"] | WireNamedToolChoice | None = None
    response_format: WireResponseFormat | None = Field(
        None,
        description="Structured output: {'type': 'json_object'}, or {'type': 'json_schema', "
        "'json_schema': {'name': ..., 'schema': {...}}}. Routes send such requests only to "
        "variants able to honour it.",
    )

    @field_validator("stop")
    @classmethod
    def _at_most_four_stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences are allowed")
        return value


UNSUPPORTED = {
    "functions": "the legacy 'functions' parameter (use 'tools')",
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


def refuse_beyond_limits(wire: ChatCompletionRequest, settings: Settings) -> None:
    """A 400 for more messages or tools, or more output tokens, than the operator allows."""
    for param, items, limit in (
        ("messages", wire.messages, settings.max_messages),
        ("tools", wire.tools or [], settings.max_tools),
    ):
        if len(items) > limit:
            raise ApiError(
                400,
                f"'{param}' has {len(items):,} items; at most {limit:,} are accepted",
                param=param,
                code="array_above_max_length",
            )
    for param in ("max_tokens", "max_completion_tokens"):
        asked = getattr(wire, param)
        if asked is not None and asked > settings.max_output_tokens:
            raise ApiError(
                400,
                f"{param} is {asked:,}; at most {settings.max_output_tokens:,} may be asked for",
                param=param,
                code="invalid_value",
            )


def document_limits(document: dict[str, Any], settings: Settings) -> None:
    """Show the operator's limits in the OpenAPI document, where clients and fuzzers read them."""
    fields = document["components"]["schemas"]["ChatCompletionRequest"]["properties"]
    fields["messages"]["maxItems"] = settings.max_messages
    _not_null(fields["tools"])["maxItems"] = settings.max_tools
    for param in ("max_tokens", "max_completion_tokens"):
        _not_null(fields[param])["maximum"] = settings.max_output_tokens


def _not_null(field: dict[str, Any]) -> dict[str, Any]:
    """The schema of an optional field's value (pydantic documents `X | None` as anyOf)."""
    return next(option for option in field["anyOf"] if option.get("type") != "null")


# The workflow input carries the messages and tools twice (as sent, and as the input guardrails
# passed them on), with the resolved route and the request's ids beside them.
WORKFLOW_INPUT_ROOM = 65_536


def refuse_too_large_to_run(chat: ChatRequest, settings: Settings) -> None:
    """A 413 for a request whose workflow input would not fit in one Temporal payload, before
    admission holds any budget for it; the server would refuse to start its workflow."""
    size = len(to_json(chat))
    fits = (settings.temporal_payload_limit_bytes - WORKFLOW_INPUT_ROOM) // 2
    if size > fits:
        raise ApiError(
            413,
            f"the request is too large to run: its messages and tools take {size:,} bytes, "
            f"and at most {fits:,} fit in a workflow payload",
            code="request_too_large",
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
        response_format=_response_format(wire.response_format),
    )


def _response_format(wire: WireResponseFormat | None) -> ResponseFormat | None:
    if wire is None or wire.type == "text":
        return None
    if wire.type == "json_object":
        return ResponseFormat(type="json_object")
    if wire.json_schema is None:
        raise ApiError(
            400,
            "response_format of type json_schema needs a json_schema with a name",
            param="response_format.json_schema",
            code="invalid_value",
        )
    spec = wire.json_schema
    return ResponseFormat(
        type="json_schema",
        name=spec.name,
        description=spec.description,
        json_schema=spec.schema_,
        strict=spec.strict,
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


# Some providers need state of their own back with a tool call when the conversation continues
# (Gemini's thought signatures). The OpenAI wire format has no field for it, but clients echo a
# tool call's id verbatim, so the state rides along inside the id.
_STATE_MARK = ".ilps."


def pack_tool_call_id(call_id: str, provider_state: dict[str, Any]) -> str:
    if not provider_state:
        return call_id
    packed = base64.urlsafe_b64encode(json.dumps(provider_state, separators=(",", ":")).encode())
    return f"{call_id}{_STATE_MARK}{packed.decode().rstrip('=')}"


# What a provider packs is a small object: Gemini's thought signature and native id.
STATE_MAX_DEPTH = 8


def unpack_tool_call_id(wire_id: str) -> tuple[str, dict[str, Any]]:
    call_id, mark, packed = wire_id.partition(_STATE_MARK)
    if not mark:
        return wire_id, {}
    unreadable = ApiError(
        400, "a tool call id carries state that cannot be read", code="invalid_value"
    )
    try:
        raw = base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4))
    except (ValueError, binascii.Error):
        raise unreadable from None
    # The state is JSON inside the body's JSON, out of the body checks' sight: check it the same.
    if json_problem(raw, STATE_MAX_DEPTH) is not None:
        raise unreadable
    try:
        state = json.loads(raw)
    except ValueError:
        raise unreadable from None
    if not isinstance(state, dict):
        raise unreadable
    return call_id, state
