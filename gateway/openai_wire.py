"""The OpenAI chat-completions wire format, and its translation to and from Interlock's contract."""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from contracts.chat import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
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
    # Unknown OpenAI parameters are tolerated (clients send many); ones that would change the
    # answer and that Interlock cannot honour yet are refused below rather than ignored.
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    messages: list[WireMessage] = Field(min_length=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    n: int = Field(1, ge=1)
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


def parse_chat_request(raw: Any) -> ChatCompletionRequest:
    if not isinstance(raw, dict):
        raise ApiError(400, "the request body must be a JSON object", code="invalid_request")
    try:
        parsed = ChatCompletionRequest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise ApiError(
            400, f"invalid value for '{param}': {first['msg']}", param=param, code="invalid_value"
        ) from None
    if parsed.n != 1:
        raise ApiError(400, "only n=1 is supported", param="n", code="unsupported_parameter")
    for field, feature in UNSUPPORTED.items():
        if raw.get(field) not in (None, False):
            raise ApiError(
                400,
                f"{feature} ('{field}') is not supported yet",
                param=field,
                code="unsupported_parameter",
            )
    return parsed


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


def to_chat_completion(result: RequestResult) -> dict[str, Any]:
    response = result.response
    assert response is not None
    return {
        "id": result.request_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": f"{response.provider}/{response.model}",
        "choices": [
            {
                "index": 0,
                "message": _assistant_message(response),
                "logprobs": None,
                "finish_reason": response.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": response.usage.input_tokens,
            "completion_tokens": response.usage.output_tokens,
            "total_tokens": response.usage.total_tokens,
        },
        "system_fingerprint": None,
    }


def _assistant_message(response: ChatResponse) -> dict[str, Any]:
    # A filtered answer, or one that only calls tools, has no content, as OpenAI reports it.
    no_text = response.finish_reason == "content_filter" or (
        response.tool_calls and not response.text
    )
    message: dict[str, Any] = {"role": "assistant", "content": None if no_text else response.text}
    if response.tool_calls:
        message["tool_calls"] = [
            {
                "id": pack_tool_call_id(call.id, call.provider_state),
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in response.tool_calls
        ]
    return message


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
